"""The trio-native MySQL connection (:mod:`sharding.backend.native`, issue 16).

Against the shared MariaDB: ``mysql_native_password`` users of our own
(``sgnative_*``), errors (also mid-result), KILL, cancellation mid-result, the
one-runtime refusal, and the differential suite: every value and column definition of
a corpus of types equal to what the aiomysql backend returns.

Against a private mariadbd with TLS and a 64 MiB ``max_allowed_packet`` (the shared one
has TLS off and 16 MiB): TLS, rows and statements over 16 MiB.

``caching_sha2_password`` against a scripted server (MariaDB 10.11 has no such
plugin): fast path, full authentication with the RSA key (decrypted by the ``openssl``
CLI, an independent implementation of OAEP) and over TLS, auth switch, wrong password.
The scripted server speaks through the project's own codec.
"""

from __future__ import annotations

import hashlib
import secrets
import select
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pymysql
import pymysql.err as pe
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import sharding.backend.native as native_module
from sharding.backend.mysql import (
    HEARTBEAT_AFTER,
    MySQLDataSource,
    map_error,
    session_init_sql,
)
from sharding.backend.native import (
    NativeConnection,
    NativeConnector,
    WrongRuntime,
    parse_payloads,
    parse_rsa_public_key,
    rsa_oaep_encrypt,
    scramble_caching_sha2,
    scramble_native_password,
)
from sharding.errors import BackendError, DataSourceUnavailable, QueryTimeout
from sharding.server.codec import (
    PacketCodec,
    auth_more_data,
    auth_switch_request,
    err_packet,
    handshake_v10,
    ok_packet,
    parse_handshake_response,
)
from sharding.server.constants import SERVER_CAPABILITIES, Capability
from tests.backend_mysql.conftest import make_ds
from tests.conftest import MYSQL_HOST, MYSQL_PORT, mysql_required
from tests.mysqld import PrivateMariaDB, available

pytestmark = pytest.mark.mysql

INIT = (session_init_sql(None),)
DB = "sgnative_diff"
PASSWORD = "pw-Ä1;'x"


def shared(**kw: Any) -> NativeConnector:
    return NativeConnector(host=MYSQL_HOST, port=MYSQL_PORT, init=INIT, **kw)


def _root() -> Any:
    return pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)


def _need_openssl() -> None:
    if shutil.which("openssl") is None:
        if mysql_required():
            pytest.fail("the openssl CLI is needed (test certificates and keys)")
        pytest.skip("needs the openssl CLI")


# -- fixtures ------------------------------------------------------------------------------


@dataclass
class Keys:
    cert: Path  # self-signed, CN=localhost, SAN IP:127.0.0.1
    cert_key: Path
    rsa_key: Path  # caching_sha2_password's RSA key pair
    rsa_pub: bytes


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    _need_openssl()
    d = tmp_path_factory.mktemp("sgnative-keys")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
    )  # fmt: skip
    run(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        str(d / "rsa.pem"),
    )
    run("pkey", "-in", str(d / "rsa.pem"), "-pubout", "-out", str(d / "rsa_pub.pem"))
    return Keys(d / "cert.pem", d / "key.pem", d / "rsa.pem", (d / "rsa_pub.pem").read_bytes())


def client_tls(keys: Keys) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(keys.cert))  # verifies IP:127.0.0.1


@pytest.fixture(scope="module")
def users() -> Iterator[None]:
    with _root() as c, c.cursor() as cur:
        for user, pw in (("sgnative_pw", PASSWORD), ("sgnative_nopw", "")):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
            cur.execute(
                f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED VIA mysql_native_password "
                "USING PASSWORD(%s)",
                (pw,),
            )
        try:
            yield
        finally:
            for user in ("sgnative_pw", "sgnative_nopw"):
                cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")


@pytest.fixture(scope="module")
def tls_server(keys: Keys) -> Iterator[PrivateMariaDB]:
    if not available():
        if mysql_required():
            pytest.fail("mariadbd / mariadb-install-db are missing")
        pytest.skip("mariadbd / mariadb-install-db not installed")
    server = PrivateMariaDB(
        extra_args=[
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            f"--ssl-cert={keys.cert}",
            f"--ssl-key={keys.cert_key}",
            f"--ssl-ca={keys.cert}",
            "--max-allowed-packet=64M",
        ]
    ).start()
    try:
        server.sql(
            "CREATE USER 'sgnative_tls'@'127.0.0.1' IDENTIFIED BY 'tls-pw' REQUIRE SSL; "
            "GRANT ALL ON *.* TO 'sgnative_tls'@'127.0.0.1'"
        )
        yield server
    finally:
        server.stop()


# -- authentication ------------------------------------------------------------------------


async def test_native_password_users(users: None) -> None:
    for user, pw in (("sgnative_pw", PASSWORD), ("sgnative_nopw", "")):
        conn = await shared(user=user, password=pw).connect()
        assert conn.auth_plugin == "mysql_native_password"
        assert (await conn.query("SELECT CURRENT_USER()")).rows == [(f"{user}@127.0.0.1",)]
        await conn.aclose()


async def test_wrong_password_is_the_aiomysql_error(users: None) -> None:
    with pytest.raises(pe.OperationalError) as native:
        await shared(user="sgnative_pw", password="nope").connect()
    ds = make_ds("sgnative_auth", f"mysql://sgnative_pw:nope@{MYSQL_HOST}:{MYSQL_PORT}")
    try:
        with pytest.raises(BackendError) as aio:
            await ds.fetch("SELECT 1")
    finally:
        await ds.aclose()
    mapped = map_error("sgnative_auth", native.value)
    assert isinstance(mapped, BackendError)
    assert (mapped.code, mapped.sqlstate) == (aio.value.code, aio.value.sqlstate) == (1045, "28000")
    # The message names the client host, which is the same for both.
    assert mapped.message == aio.value.message


def test_scrambles_known_answers() -> None:
    nonce = bytes(range(1, 21))
    stage1 = hashlib.sha1(b"secret").digest()
    expect = bytes(
        a ^ b
        for a, b in zip(
            stage1, hashlib.sha1(nonce + hashlib.sha1(stage1).digest()).digest(), strict=True
        )
    )
    assert scramble_native_password(b"secret", nonce) == expect
    # The server's check for caching_sha2: SHA256(SHA256(x XOR SHA256(SHA256(p)+n))) == SHA256(SHA256(p))
    s = scramble_caching_sha2(b"secret", nonce)
    p2 = hashlib.sha256(hashlib.sha256(b"secret").digest()).digest()
    mask = hashlib.sha256(p2 + nonce).digest()
    assert hashlib.sha256(bytes(a ^ b for a, b in zip(s, mask, strict=True))).digest() == p2
    assert scramble_native_password(b"", nonce) == scramble_caching_sha2(b"", nonce) == b""


def test_rsa_oaep_against_openssl(keys: Keys, tmp_path: Path) -> None:
    pkcs1 = subprocess.run(
        ["openssl", "rsa", "-pubin", "-RSAPublicKey_out"],
        input=keys.rsa_pub,
        capture_output=True,
        check=True,
    ).stdout
    assert b"BEGIN RSA PUBLIC KEY" in pkcs1
    assert parse_rsa_public_key(pkcs1) == parse_rsa_public_key(keys.rsa_pub)
    message = b"password\0"
    out = subprocess.run(
        ["openssl", "pkeyutl", "-decrypt", "-inkey", str(keys.rsa_key),
         "-pkeyopt", "rsa_padding_mode:oaep"],
        input=rsa_oaep_encrypt(keys.rsa_pub, message),
        capture_output=True,
        check=True,
    )  # fmt: skip
    assert out.stdout == message
    with pytest.raises(ValueError):
        parse_rsa_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


# -- caching_sha2_password against a scripted server -----------------------------------


@dataclass
class Sha2Server:
    """Speaks just enough server protocol for authentication, COM_PING and COM_QUIT."""

    keys: Keys
    password: bytes
    greeting_plugin: str = "caching_sha2_password"
    cached: bool = False  # the server's cache of the user's hash (fast path possible)
    tls: bool = False
    seen: list[str] = field(default_factory=list)
    port: int = 0

    async def serve(self, stream: trio.SocketStream) -> None:
        codec = PacketCodec()
        io: Any = stream

        async def read() -> bytes:
            while True:
                p = codec.next_packet()
                if p is not None:
                    return p
                data = await io.receive_some(65536)
                if not data:
                    raise EOFError
                codec.receive_data(data)

        async def send(payload: bytes) -> None:
            await io.send_all(codec.frame(payload))

        try:
            nonce = bytes(secrets.choice(range(33, 127)) for _ in range(20))
            caps = SERVER_CAPABILITIES | (Capability.SSL if self.tls else 0)
            await send(
                handshake_v10(
                    server_version="8.0.36-fake",
                    connection_id=7,
                    nonce=nonce,
                    capabilities=caps,
                    auth_plugin=self.greeting_plugin,
                )
            )
            resp = parse_handshake_response(await read())
            if resp.ssl_request:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(str(self.keys.cert), str(self.keys.cert_key))
                io = trio.SSLStream(stream, ctx, server_side=True)
                await io.do_handshake()
                resp = parse_handshake_response(await read())
                self.seen.append("tls")
            assert resp.user == "sha2user" and resp.database == "db1"
            assert resp.attributes.get("_client_name") == "shardgate-native"
            auth = resp.auth_response
            if self.greeting_plugin != "caching_sha2_password":
                nonce = bytes(secrets.choice(range(33, 127)) for _ in range(20))
                await send(auth_switch_request("caching_sha2_password", nonce))
                auth = await read()
                self.seen.append("switch")
            if self.cached:
                good = auth == scramble_caching_sha2(self.password, nonce)
                self.seen.append("fast")
                if good:
                    await send(auth_more_data(b"\x03"))
            else:
                await send(auth_more_data(b"\x04"))
                packet = await read()
                if self.tls:
                    clear = packet
                    self.seen.append("clear")
                else:
                    assert packet == b"\x02"
                    await send(auth_more_data(self.keys.rsa_pub))
                    decrypted = await trio.run_process(
                        ["openssl", "pkeyutl", "-decrypt", "-inkey", str(self.keys.rsa_key),
                         "-pkeyopt", "rsa_padding_mode:oaep"],
                        stdin=await read(),
                        capture_stdout=True,
                    )  # fmt: skip
                    pad = nonce * (len(decrypted.stdout) // 20 + 1)
                    clear = bytes(a ^ b for a, b in zip(decrypted.stdout, pad, strict=False))
                    self.seen.append("rsa")
                good = clear == self.password + b"\0"
            if not good:
                await send(
                    err_packet(1045, "28000", "Access denied for user 'sha2user'@'localhost'")
                )
                return
            self.cached = True
            await send(ok_packet())
            while True:
                codec.reset_sequence()
                cmd = await read()
                if cmd[:1] == b"\x0e":
                    self.seen.append("ping")
                    await send(ok_packet())
                elif cmd[:1] == b"\x01":
                    self.seen.append("quit")
                    return
                else:
                    await send(err_packet(1047, "08S01", "Unknown command"))
        except (EOFError, trio.BrokenResourceError):
            pass
        finally:
            await trio.aclose_forcefully(io)


async def _sha2_round(
    server: Sha2Server, password: str, *, tls: ssl.SSLContext | None = None
) -> Any:
    """Serve one scripted server, connect, ping, quit: the connection, or the
    driver's error (returned: raised here it would come out in an exception group)."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, server.serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        connector = NativeConnector(
            host="127.0.0.1", port=port, user="sha2user", password=password, database="db1", ssl=tls
        )
        try:
            try:
                conn = await connector.connect()
            except pe.MySQLError as exc:
                return exc
            await conn.ping()
            await conn.aclose()
            await trio.sleep(0.01)  # let the server read COM_QUIT
            return conn
        finally:
            nursery.cancel_scope.cancel()


async def test_caching_sha2_full_auth_with_rsa_then_fast_path(keys: Keys) -> None:
    server = Sha2Server(keys, b"s3cret-\xc3\xa9")
    conn = await _sha2_round(server, "s3cret-é")
    assert conn.auth_plugin == "caching_sha2_password"
    assert server.seen[:2] == ["rsa", "ping"]
    server.seen.clear()
    await _sha2_round(server, "s3cret-é")  # now the server has the hash cached
    assert server.seen[:2] == ["fast", "ping"]


async def test_caching_sha2_full_auth_over_tls(keys: Keys) -> None:
    server = Sha2Server(keys, b"tls-secret", tls=True)
    conn = await _sha2_round(server, "tls-secret", tls=client_tls(keys))
    assert conn.tls
    assert server.seen[:3] == ["tls", "clear", "ping"]


async def test_auth_switch_to_caching_sha2(keys: Keys) -> None:
    server = Sha2Server(keys, b"pw", greeting_plugin="mysql_native_password", cached=True)
    conn = await _sha2_round(server, "pw")
    assert conn.auth_plugin == "caching_sha2_password"
    assert server.seen[:3] == ["switch", "fast", "ping"]


async def test_caching_sha2_wrong_password(keys: Keys) -> None:
    for cached in (True, False):
        server = Sha2Server(keys, b"right", cached=cached)
        error = await _sha2_round(server, "wrong")
        assert isinstance(error, pe.OperationalError) and error.args[0] == 1045


# -- TLS and large packets (private server) ----------------------------------------------


async def test_tls_to_mariadb(tls_server: PrivateMariaDB, keys: Keys) -> None:
    connector = NativeConnector(
        port=tls_server.port,
        user="sgnative_tls",
        password="tls-pw",
        ssl=client_tls(keys),
        init=INIT,
    )
    conn = await connector.connect()
    assert conn.tls
    version = (await conn.query("SHOW SESSION STATUS LIKE 'Ssl_version'")).rows
    assert version and version[0][1].startswith("TLS")
    assert (await conn.query("SELECT CURRENT_USER()")).rows == [("sgnative_tls@127.0.0.1",)]
    await conn.aclose()
    # The user requires TLS: without it the server refuses (a server error, mapped).
    with pytest.raises(pe.OperationalError) as info:
        await NativeConnector(
            port=tls_server.port, user="sgnative_tls", password="tls-pw"
        ).connect()
    assert info.value.args[0] == 1045


@pytest.mark.parametrize("tls", [False, True])
async def test_values_over_16_mib(tls_server: PrivateMariaDB, keys: Keys, tls: bool) -> None:
    connector = NativeConnector(
        port=tls_server.port,
        user="sgnative_tls" if tls else "root",
        password="tls-pw" if tls else "",
        ssl=client_tls(keys) if tls else None,
        init=INIT,
    )
    conn = await connector.connect()
    big = 17 << 20
    # Row payload of exactly 0xFFFFFF bytes: one full packet and an empty one.
    exact = 0xFFFFFF - 4
    for n in (big, exact, 3 * (1 << 24) + 5):
        res = await conn.query(f"SELECT REPEAT('ab', {n // 2}), {n}")
        value, echoed = res.rows[0]
        assert (len(value), echoed) == (n // 2 * 2, n)
        assert value[:4] == "abab" and value[-2:] == "ab"
    # A statement over 16 MiB is split on send.
    literal = "x" * big
    res = await conn.query(f"SELECT LENGTH('{literal}'), 'after'")
    assert res.rows == [(big, "after")]
    assert (await conn.query("SELECT 1")).rows == [(1,)]
    await conn.aclose()


async def test_usable_polls_once_per_check_pair_and_still_finds_a_killed_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``usable()`` asked twice with no command between (the pool's checkout, then the
    statement's own check) polls the socket once; any command, or ``POLL_REUSE``
    seconds, makes the next one poll again — so a session the server ended while the
    connection was idle is still found before anything is sent on it."""
    conn = await shared().connect()
    polls = 0
    real = select.poll

    class CountingPoll:
        def __init__(self) -> None:
            self._inner = real()

        def register(self, *args: Any) -> None:
            self._inner.register(*args)

        def poll(self, *args: Any) -> Any:
            nonlocal polls
            polls += 1
            return self._inner.poll(*args)

    monkeypatch.setattr(select, "poll", CountingPoll)
    conn._poller = None
    assert conn.usable() and conn.usable()
    assert polls == 1
    await conn.query("SELECT 1")
    assert conn.usable() and conn.usable()
    assert polls == 2
    await trio.sleep(native_module.POLL_REUSE * 2)
    assert conn.usable()
    assert polls == 3
    with _root() as root, root.cursor() as cur:
        cur.execute(f"KILL CONNECTION {conn.thread_id}")
    with trio.fail_after(5):
        while conn.usable():  # noqa: ASYNC110 - polling a socket the server closes
            await trio.sleep(native_module.POLL_REUSE * 2)
    assert not conn.usable()
    conn.close()


# -- errors, KILL, cancellation -----------------------------------------------------------


async def test_error_mid_result_leaves_the_connection_clean() -> None:
    conn = await shared().connect()
    sql = (
        "SELECT seq, IF(seq < 50000, seq, (SELECT seq FROM mysql.seq_1_to_2)) "
        "FROM mysql.seq_1_to_100000"
    )
    with pytest.raises(pe.MySQLError) as native:
        await conn.query(sql)
    assert native.value.args[0] == 1242
    assert conn.usable()
    assert (await conn.query("SELECT 'still fine'")).rows == [("still fine",)]
    ds = make_ds("sgnative_err")
    try:
        with pytest.raises(BackendError) as aio:
            await ds.fetch(sql)
    finally:
        await ds.aclose()
    mapped = map_error("sgnative_err", native.value)
    assert isinstance(mapped, BackendError)
    assert (mapped.code, mapped.sqlstate, mapped.message) == (
        aio.value.code,
        aio.value.sqlstate,
        aio.value.message,
    )
    await conn.aclose()


async def test_kill_query_from_a_second_connection() -> None:
    connector = shared()
    conn = await connector.connect()
    outcome: list[BaseException] = []

    async def long_query() -> None:
        try:
            await conn.query("SELECT SUM(seq * 2) FROM mysql.seq_1_to_1000000000000")
        except pe.MySQLError as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(long_query)
        watcher = await connector.connect()
        with trio.fail_after(10):
            while not (  # noqa: ASYNC110 - polling the server, not this process
                await watcher.query(
                    "SELECT 1 FROM information_schema.PROCESSLIST "
                    f"WHERE ID = {conn.thread_id} AND INFO LIKE 'SELECT SUM(seq%'"
                )
            ).rows:
                await trio.sleep(0.02)
        await watcher.aclose()
        await connector.kill_query(conn.thread_id)
    assert [type(e) for e in outcome] and outcome[0].args[0] == 1317
    assert conn.usable()
    assert (await conn.query("SELECT 2")).rows == [(2,)]
    await connector.kill_query(2**31)  # unknown thread: nothing to stop, no error
    await conn.aclose()


async def test_cancel_mid_result_discards_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    connector = shared()
    conn = await connector.connect()
    tid = conn.thread_id
    reads = 0
    original = conn._read
    with trio.CancelScope() as scope:

        async def counting() -> bytes:
            nonlocal reads
            reads += 1
            if reads == 100:  # well inside the rows of a 200 MB result
                scope.cancel()
            return await original()

        monkeypatch.setattr(conn, "_read", counting)
        await conn.query("SELECT seq, REPEAT('x', 200) FROM mysql.seq_1_to_1000000")
    assert scope.cancelled_caught and reads >= 100
    assert conn.broken and conn.closed and not conn.usable()
    with pytest.raises(pe.OperationalError) as info:
        await conn.query("SELECT 1")
    assert info.value.args[0] == 2006
    assert isinstance(map_error("ds", info.value), DataSourceUnavailable)
    # The server may still be writing the result: stop it, then it goes away.
    await connector.kill_query(tid)
    watcher = await connector.connect()
    with trio.fail_after(10):
        while (  # noqa: ASYNC110 - polling the server, not this process
            await watcher.query(f"SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = {tid}")
        ).rows:
            await trio.sleep(0.05)
    await watcher.aclose()


async def test_one_command_at_a_time() -> None:
    conn = await shared().connect()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.query, "SELECT SLEEP(0.2)")
        await trio.sleep(0.05)
        with pytest.raises(pe.InterfaceError):
            await conn.query("SELECT 1")
    assert conn.usable()  # the refused call did not disturb the running one
    await conn.aclose()


def test_a_connection_refuses_another_trio_run() -> None:
    async def open_one() -> NativeConnection:
        return await shared().connect()

    conn = trio.run(open_one)

    async def use() -> None:
        with pytest.raises(WrongRuntime, match=r"another trio\.run"):
            await conn.query("SELECT 1")
        with pytest.raises(WrongRuntime):
            await conn.ping()
        assert isinstance(map_error("ds", WrongRuntime("x")), DataSourceUnavailable)

    trio.run(use)
    conn.close()  # closing is allowed from anywhere
    assert conn.closed


async def test_multi_statements_via_set_option() -> None:
    conn = await shared().connect()
    with pytest.raises(pe.ProgrammingError):  # off by default: a second statement is an error
        await conn.query_all("SELECT 1; SELECT 2")
    await conn.set_multi_statements(True)
    results = await conn.query_all("SELECT 1; DO 0; SELECT 'b' AS x")
    assert [r.rows for r in results] == [[(1,)], [], [("b",)]]
    with pytest.raises(pe.MySQLError) as info:
        await conn.query_all("SELECT 1; SELECT * FROM sgnative_nowhere.t; SELECT 3")
    assert info.value.args[0] in (1146, 1049)
    await conn.set_multi_statements(False)
    assert conn.usable()
    assert (await conn.query("SELECT 4")).rows == [(4,)]
    await conn.aclose()


# -- differential: the same values as the aiomysql backend ----------------------------------

CORPUS_TABLE = f"""
CREATE TABLE {DB}.t (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT,
  bi BIGINT, bu BIGINT UNSIGNED, y YEAR, fl FLOAT, db DOUBLE,
  d65 DECIMAL(65,30), d2 DECIMAL(10,2) UNSIGNED,
  dt DATETIME, dt6 DATETIME(6), ts TIMESTAMP NULL, da DATE, tm TIME, tm6 TIME(6),
  b1 BIT(1), b64 BIT(64), j JSON, e ENUM('a','é','zz'), st SET('x','y','ü'),
  vc VARCHAR(50) CHARACTER SET utf8mb4, l1 VARCHAR(50) CHARACTER SET latin1,
  ch CHAR(5), tx TEXT, bl BLOB, vb VARBINARY(300), bn BINARY(4), g GEOMETRY NULL
) CHARACTER SET utf8mb4
"""
CORPUS_ROWS = [
    "(1, -128, 255, -32768, -8388608, -2147483648, -9223372036854775808, "
    "18446744073709551615, 1901, 3.5, -1.7976931348623157e308, "
    "'-12345678901234567890123456789012345.123456789012345678901234567890', 99999999.99, "
    "'1000-01-01 00:00:00', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01', "
    "'1000-01-01', '-838:59:59', '12:34:56.789012', b'1', b'1111111111111111111111111111111111111111111111111111111111111111', "
    "'{\"k\": [1, 2.5, \"é😀\", null, true]}', 'é', 'x,ü', "
    "'😀 utf8mb4 ñ', 'café Ø', 'ab', REPEAT('t', 1000), X'00FF7F80', "
    "X'000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20FEFF', "
    "X'0001', ST_GeomFromText('POINT(1 2)'))",
    "(2, 127, 0, 32767, 8388607, 2147483647, 9223372036854775807, 0, 2155, -0.0, 5e-324, "
    "0, 0, '0000-00-00 00:00:00', '0000-00-00 00:00:00', NULL, '0000-00-00', '00:00:00', "
    "'-00:00:01.5', b'0', b'0', '[]', 'a', '', '', '', '', '', '', '', '', NULL)",
    "(3" + ", NULL" * 31 + ")",
    "(4, 0, 1, 0, 0, 0, 1, 9223372036854775808, 2000, 1e30, 0.1, "
    "0.000000000000000000000000000001, 0.01, '2024-02-29 12:00:00', '2024-02-29 12:00:00.5', "
    "'2038-01-19 03:14:07', '2024-02-29', '838:59:59', '-838:59:59.000000', b'1', "
    "b'1000000000000000000000000000000000000000000000000000000000000000', "
    "'\"str\"', 'zz', 'x,y,ü', 'line\\nbreak\\ttab\\\\', 'Ünïcödé', 'abcde', 'x', '', "
    "'', X'FFFFFFFF', NULL)",
]
EXPRESSIONS = [
    "SELECT * FROM {db}.t ORDER BY id",
    "SELECT 1, -1, 18446744073709551615, -9223372036854775808, 1e308, 0.1 + 0.2, 1/3, "
    "NULL, 'x' COLLATE utf8mb4_bin, _latin1'abc', X'00FF', CAST(X'C3A9' AS CHAR), "
    "CAST('2020-01-01' AS DATE), CAST('10:00' AS TIME), CAST('2020-01-01 10:00' AS DATETIME(3)), "
    "CAST(1 AS DECIMAL(65,30)), b'1010', JSON_OBJECT('a', 1), JSON_EXTRACT('[1]', '$[0]'), "
    "CAST(-1 AS UNSIGNED), 2.5e0, CAST(1.5 AS FLOAT), CONVERT('é' USING latin1), "
    "YEAR('2024-05-05'), TIMEDIFF('00:00:00', '100:00:00'), SEC_TO_TIME(-1.25)",
    "SELECT COUNT(*), SUM(bu), AVG(i), MAX(dt6), MIN(tm), GROUP_CONCAT(e ORDER BY id), "
    "BIT_OR(b64), SUM(d65), MAX(l1), MAX(bl), MAX(j) FROM {db}.t",
    "SELECT id, CONCAT(vc, l1), HEX(bl), bl = vb, LENGTH(tx), e + 0, st + 0, b1 + 0, "
    "ST_AsText(g), JSON_TYPE(j) FROM {db}.t ORDER BY id",
    "SELECT * FROM {db}.t WHERE 1 = 0",
]


@pytest.fixture(scope="module")
def corpus() -> Iterator[None]:
    with _root() as c, c.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB} CHARACTER SET utf8mb4")
        cur.execute(f"SET SESSION sql_mode = '{session_init_sql(None).split(chr(39))[1]}'")
        cur.execute(CORPUS_TABLE)
        cur.execute("SET NAMES utf8mb4")
        cur.execute(f"INSERT INTO {DB}.t VALUES " + ", ".join(CORPUS_ROWS))
        try:
            yield
        finally:
            cur.execute(f"DROP DATABASE IF EXISTS {DB}")


def _typed(rows: list[tuple[Any, ...]]) -> list[list[tuple[str, Any]]]:
    return [[(type(v).__name__, v) for v in row] for row in rows]


async def test_differential_values_and_columns(corpus: None) -> None:
    ds = make_ds("sgnative_aio")
    conn = await shared().connect()
    try:
        for template in EXPRESSIONS:
            sql = template.format(db=DB)
            expected = await ds.fetch(sql)
            got = await conn.query(sql)
            assert got.columns == expected.columns, sql
            assert _typed(got.rows) == _typed(expected.rows), sql
        # Sanity: the corpus really has what the test is about.
        rows = (await conn.query(f"SELECT dt, da, b64, bl, bu FROM {DB}.t WHERE id = 2")).rows
        assert rows[0][0] == "0000-00-00 00:00:00" and rows[0][1] == "0000-00-00"
        assert isinstance(rows[0][2], bytes)
        big = (await conn.query(f"SELECT bu FROM {DB}.t WHERE id = 1")).rows
        assert big == [(18446744073709551615,)]
    finally:
        await conn.aclose()
        await ds.aclose()


def test_bad_rows_are_client_errors_not_crashes() -> None:
    from sharding.backend.native import parse_row, value_converter

    convs = [value_converter(3, 63), value_converter(253, 45)]
    assert parse_row(b"\x0242\x03abc", convs) == (42, "abc")
    assert parse_row(b"\xfb\xfb", convs) == (None, None)
    for bad in (b"", b"\x0242", b"\x0242\x09abc", b"\xff", b"\x02ab\x01x", b"\xfc\xff"):
        with pytest.raises(pe.OperationalError) as info:
            parse_row(bad, convs)
        assert info.value.args[0] == 2027


_ROW_TYPES = [(3, 63), (253, 45), (252, 63), (246, 63), (10, 63), (12, 63), (5, 63), (245, 45)]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    types=st.lists(st.sampled_from(_ROW_TYPES), min_size=1, max_size=5),
    data=st.one_of(
        st.binary(max_size=30),
        st.lists(
            st.one_of(
                st.just(b"\xfb"),
                st.sampled_from([b"42", b"-7", b"1.5", b"2024-01-02", b"12:00:01", b"x"]).map(
                    lambda v: bytes([len(v)]) + v
                ),
                st.binary(max_size=300).map(lambda v: b"\xfc" + len(v).to_bytes(2, "little") + v),
                st.sampled_from([b"\xfd\x01\x00\x00a", b"\xfe\x01" + b"\x00" * 7 + b"z"]),
            ),
            max_size=6,
        ).map(b"".join),
    ),
)
def test_generated_row_parsers_answer_as_the_loop(
    types: list[tuple[int, int]], data: bytes
) -> None:
    """row_parser's straight-line code gives exactly what _parse_row's loop gives — the
    same values, or the same error (type and message) — for any payload, well formed
    or not, over every kind of converter; and it is made once per converter list."""
    from sharding.backend.native import _parse_row, row_parser, value_converter

    convs = [value_converter(t, c) for t, c in types]

    def outcome(fn: Any) -> Any:
        try:
            return ("ok", fn(data))
        except Exception as exc:  # the comparison is the point: any error, both sides
            return ("error", type(exc), str(exc))

    assert outcome(row_parser(convs)) == outcome(lambda d: _parse_row(d, convs))
    assert row_parser(list(convs)) is row_parser(convs)


async def test_buffered_rows_parse_as_parse_row_and_bad_ones_are_2027() -> None:
    """The result loop parses buffered rows inline (no call per row): the same values as
    parse_row, raw payloads when asked, and a malformed row or a text value that is no
    UTF-8 is OperationalError(2027), as parse_row's."""
    import struct

    from sharding.backend.native import NativeConnection, parse_row, value_converter
    from sharding.server.codec import PacketCodec

    convs = [value_converter(3, 63), value_converter(253, 45), value_converter(252, 63)]
    rows = [b"\x0242\x03abc\x02\x00\xff", b"\xfb\x02\xc3\xa9\xfb", b"\x011\x00\x00"]
    eof = b"\xfe\x00\x00\x02\x00"  # EOF: no warnings, autocommit

    def connection(payloads: list[bytes]) -> NativeConnection:
        conn = NativeConnection.__new__(NativeConnection)
        conn._codec = PacketCodec()
        conn.capabilities = 0
        conn.status = 0
        data = b"".join(struct.pack("<I", len(p) | (i << 24)) + p for i, p in enumerate(payloads))
        conn._codec.receive_data(data)
        return conn

    got, end = await connection([*rows, eof])._read_rows(convs, None)
    assert got == [parse_row(r, convs) for r in rows] and end is not None
    assert got[1] == (None, "é", None)
    raw, _ = await connection([*rows, eof])._read_rows(None, None)
    assert raw == rows
    some, end = await connection([*rows, eof])._read_rows(convs, 2)
    assert len(some) == 2 and end is None
    for bad in (b"\x0242\x02\xff\xfe\x00", b"\x0242", b"\x0242\x09abc\x00"):
        with pytest.raises(pe.OperationalError) as info:
            await connection([bad, eof])._read_rows(convs, None)
        assert info.value.args[0] == 2027


def test_tls_refused_by_a_server_without_it() -> None:
    with _root() as c, c.cursor() as cur:
        cur.execute("SHOW VARIABLES LIKE 'have_ssl'")
        have = cur.fetchone()[1]
    if have == "YES":
        return  # the shared server has TLS on: nothing to refuse (covered above)

    async def main() -> None:
        with pytest.raises(pe.OperationalError) as info:
            await shared(ssl=ssl.create_default_context()).connect()
        assert info.value.args[0] == 2026

    trio.run(main)


# -- driver = "native" in the MySQL data source ------------------------------------------


async def _processlist(ds: Any, pattern: str) -> int:
    rs = await ds.fetch(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        f"WHERE INFO LIKE '{pattern}' AND ID <> CONNECTION_ID()"
    )
    return int(rs.rows[0][0])


async def test_datasource_native_driver_same_results_as_aiomysql(corpus: None) -> None:
    native = make_ds("sgnative_ds", driver="native", max_connections=2)
    aio = make_ds("sgnative_ds_aio", max_connections=2)
    await native.open()
    await aio.open()
    try:
        assert native.statistics().extra["driver"] == "native"
        for template in EXPRESSIONS:
            sql = template.format(db=DB)
            want, got = await aio.fetch(sql), await native.fetch(sql)
            assert got.columns == want.columns, sql
            assert _typed(got.rows) == _typed(want.rows), sql
        # Streaming (bounded memory) gives the same rows and columns as a fetch.
        sql = f"SELECT * FROM {DB}.t ORDER BY id"
        async with native.connection() as conn:
            async with conn.stream(sql, batch_rows=3) as batches:
                columns, rows = batches.columns, [r async for b in batches for r in b]
            assert (await conn.fetch("SELECT 'clean after a stream'")).rows
        assert columns == (await aio.fetch(sql)).columns
        assert _typed(rows) == _typed((await aio.fetch(sql)).rows)
        async with native.connection() as conn:  # a stream left early is drained
            async with conn.stream("SELECT seq FROM mysql.seq_1_to_5000", batch_rows=10) as b:
                assert len(await b.__anext__()) == 10
            assert (await conn.fetch("SELECT 7")).rows == [(7,)]
        # Writes: OK packets, info text, execute_many in a transaction, rollback.
        results = {}
        for name, ds in (("native", native), ("aio", aio)):
            table = f"{DB}.w_{name}"
            await ds.execute(f"CREATE TABLE {table} (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
            ins = await ds.execute(f"INSERT INTO {table} (v) VALUES (1), (2), (2)")
            upd = await ds.execute(f"UPDATE {table} SET v = 2 WHERE v >= 1")
            async with ds.transaction() as conn:
                many = await conn.execute_many(
                    [f"INSERT INTO {table} (v) VALUES ({i})" for i in range(50)]
                    + [f"DELETE FROM {table} WHERE v = 1"]
                )
            with pytest.raises(BackendError) as dup:
                async with ds.transaction() as conn:
                    await conn.execute_many([f"INSERT INTO {table} (id, v) VALUES (1000, 0)"] * 2)
            count = (await ds.fetch(f"SELECT COUNT(*), SUM(v) FROM {table}")).rows
            results[name] = (ins, upd, many, dup.value.code, count)
        assert results["native"] == results["aio"]
    finally:
        await native.aclose()
        await aio.aclose()


async def test_datasource_native_relayed_read_is_the_fetch(corpus: None) -> None:
    """A relayed read (the one-shard point path's own op) answers as ``fetch``: the same
    columns, the rows in their payloads, the warnings' count and texts."""
    ds = make_ds("sgnative_relay", driver="native", max_connections=2)
    await ds.open()
    try:
        for sql in (
            f"SELECT * FROM {DB}.t ORDER BY id",
            "SELECT CAST('1x' AS SIGNED) AS a, CAST('2y' AS SIGNED) AS b",
            "SELECT 1 FROM DUAL WHERE 0",
        ):
            want = await ds.fetch(sql)
            async with ds.connection() as conn:
                got = await conn.fetch_relayed(sql)
            assert got.columns == want.columns, sql
            assert got.payloads is not None and not got.rows
            assert parse_payloads(got.payloads, got.columns) == want.rows, sql
            assert (got.warnings, got.notes) == (want.warnings, want.notes), sql
        assert want.warnings == 0
        warned = await ds.fetch("SELECT CAST('1x' AS SIGNED)")
        assert warned.warnings == 1 and warned.notes and warned.notes[0][1] == 1292
    finally:
        await ds.aclose()


@pytest.mark.parametrize("relayed", [False, True], ids=["fetch", "fetch_relayed"])
async def test_datasource_native_cancel_closes_and_kills(relayed: bool) -> None:
    ds = make_ds("sgnative_cancel", driver="native", max_connections=2)
    await ds.open()
    try:
        sql = "SELECT SUM(seq * 2) FROM mysql.seq_1_to_1000000000000 /* sgnative-c */"
        with trio.move_on_after(0.3) as scope:
            await (_relayed_rows(ds, sql) if relayed else ds.fetch(sql))
        assert scope.cancelled_caught
        with trio.fail_after(5):
            while await _processlist(ds, "%sgnative-c%"):  # noqa: ASYNC110 - the server's state
                await trio.sleep(0.02)
        stats = ds.statistics()
        assert stats.extra["kills_sent"] >= 1 and stats.closed >= 1
        assert (await ds.fetch("SELECT 1")).rows == [(1,)]
    finally:
        await ds.aclose()


async def test_datasource_native_query_timeout_and_errors() -> None:
    ds = make_ds("sgnative_qt", driver="native", query_timeout=0.2)
    try:
        with pytest.raises(QueryTimeout, match=r"sgnative_qt: .*query_timeout"):
            await ds.fetch("SELECT SLEEP(5)")
        with pytest.raises(BackendError) as info:
            await ds.fetch("SELECT * FROM sgnative_nowhere.t")
        assert (
            info.value.code in (1146, 1049)
            and getattr(info.value, "datasource", None) == "sgnative_qt"
        )
        assert (await ds.fetch("SELECT 1")).rows == [(1,)]
    finally:
        await ds.aclose()


def test_datasource_native_refuses_another_run() -> None:
    ds = make_ds("sgnative_runs", driver="native")

    async def first() -> None:
        await ds.open()
        assert (await ds.fetch("SELECT 1")).rows == [(1,)]

    async def second() -> None:
        with trio.fail_after(1):
            with pytest.raises(DataSourceUnavailable, match=r"sgnative_runs: .*another trio\.run"):
                await ds.fetch("SELECT 1")
        await ds.aclose()

    trio.run(first)
    trio.run(second)


async def _relayed_rows(ds: MySQLDataSource, sql: str) -> list[tuple[Any, ...]]:
    """``sql`` through ``fetch_relayed`` (the one-shard point path), rows parsed."""
    async with ds.connection() as conn:
        rs = await conn.fetch_relayed(sql)
    assert rs.payloads is not None and not rs.rows
    return parse_payloads(rs.payloads, rs.columns)


@pytest.mark.parametrize("relayed", [False, True], ids=["fetch", "fetch_relayed"])
async def test_datasource_native_hung_server_fails_fast_then_recovers(
    private: PrivateMariaDB, relayed: bool
) -> None:
    """SIGSTOP: a statement on the wire is aborted by the health check (its socket is
    closed) within about ``validation_timeout``; the breaker opens, then closes again.
    The same for a relayed read, which takes its own one-frame op."""

    async def rows(sql: str) -> list[tuple[Any, ...]]:
        return await _relayed_rows(ds, sql) if relayed else (await ds.fetch(sql)).rows

    ds = make_ds(
        "sgnative_hung",
        private.url,
        driver="native",
        validation_timeout=0.5,
        breaker_probe_interval=0.3,
    )
    await ds.open()
    try:
        assert await rows("SELECT 1") == [(1,)]
        private.pause()
        start = trio.current_time()
        with pytest.raises(DataSourceUnavailable, match="sgnative_hung"):
            await rows("SELECT 1 + 0 * SLEEP(0.01)")
        assert trio.current_time() - start <= 0.5 + HEARTBEAT_AFTER + 0.5
        assert ds.statistics().extra["aborted_by_health_check"] >= 1
        private.resume()
        with trio.fail_after(10):
            while True:
                try:
                    assert await rows("SELECT 2") == [(2,)]
                    break
                except DataSourceUnavailable:
                    await trio.sleep(0.1)
        assert ds.statistics().extra["breaker_opened"] >= 1
    finally:
        private.resume()
        await ds.aclose()


@settings(max_examples=400, deadline=None)
@given(
    data=st.binary(max_size=64),
    types=st.lists(
        st.sampled_from([1, 3, 4, 5, 7, 8, 10, 11, 12, 16, 245, 246, 252, 253, 254]),
        min_size=1,
        max_size=4,
    ),
    binary=st.booleans(),
)
def test_parse_row_never_crashes(data: bytes, types: list[int], binary: bool) -> None:
    """Any bytes: a row of Python values, or OperationalError(2027) — nothing else."""
    from sharding.backend.native import parse_row, value_converter

    convs = [value_converter(t, 63 if binary else 45) for t in types]
    try:
        row = parse_row(data, convs)
    except pe.OperationalError as exc:
        assert exc.args[0] == 2027
    else:
        assert len(row) == len(types)
