"""Backend failures must not look like a broken client connection (issue 12, item 7).

``shardgate serve`` runs in-process over a coordinator with two MySQL data sources on
the shared MariaDB: ``ds0`` directly, ``ds1`` through a TCP proxy the test can take
down (every relayed connection closed, the port refusing new ones) — a data source
that dies. Two faults:

* the data source is down → 1429 ER_CONNECT_TO_FOREIGN_DATA_SOURCE / HY000;
* its pool is exhausted (``max_connections = 1`` held by an open transaction) →
  1205 / HY000 after ``acquire_timeout``.

Each error packet is read raw off the wire, turned into the exception PyMySQL raises
for it, and given to SQLAlchemy's own classifier (``MySQLDialect_pymysql.is_disconnect``,
what decides whether SQLAlchemy invalidates its pool), with a 2013 packet as the
control that the classifier does say "disconnect". MariaDB Connector/J sees the same
errors through ``java/ErrorClasses.java``: its SQLSTATE must not be class 08 (what JDBC
pools evict on) and the same connection must stay valid and usable.
"""

from __future__ import annotations

import secrets
import struct
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio

from sharding.coordinator import Coordinator
from sharding.server import CoordinatorAdmin, MySQLServer, ServerConfig
from sharding.topology import Topology
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import JAR, JAVA, JAVA_MISSING, JAVA_READY, JAVAC, in_thread
from tests.server.rawclient import RawClient

pytestmark = pytest.mark.mysql

JAVA_SOURCE = Path(__file__).parent / "java" / "ErrorClasses.java"


class Proxy:
    """TCP relay to the shared MariaDB that can be taken down like a dead server."""

    def __init__(self) -> None:
        self.port = 0
        self._listeners: list[trio.SocketListener] = []
        self._scope = trio.CancelScope()
        self.relayed = 0

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with self._scope:
            self._listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            self.port = self._listeners[0].socket.getsockname()[1]
            task_status.started()
            await trio.serve_listeners(self._relay, self._listeners)

    async def _relay(self, client: trio.SocketStream) -> None:
        self.relayed += 1
        async with client, await trio.open_tcp_stream(MYSQL_HOST, MYSQL_PORT) as server:

            async def pump(src: trio.SocketStream, dst: trio.SocketStream) -> None:
                while data := await src.receive_some(65536):
                    await dst.send_all(data)
                raise trio.BrokenResourceError  # one side closed: end both

            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(pump, client, server)
                    nursery.start_soon(pump, server, client)
            except* (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    def down(self) -> None:
        """Close the listener and every relayed connection (connections now refused)."""
        self._scope.cancel()


@dataclass
class Setup:
    port: int
    db: str
    proxy: Proxy
    coord: Coordinator


def _direct() -> Any:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )


def _cleanup(db: str) -> None:
    with _direct() as c, c.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE %s", (db.replace("_", "\\_") + "%",))
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
        if cur.fetchone():
            cur.execute("DELETE FROM shardgate_catalog.tables WHERE db = %s", (db,))
            cur.execute("DELETE FROM shardgate_catalog.databases WHERE name = %s", (db,))


@pytest.fixture
async def setup(nursery: trio.Nursery, mysql_url: str) -> AsyncIterator[Setup]:
    db = f"sgesc_err_{secrets.token_hex(3)}"
    proxy = Proxy()
    await nursery.start(proxy.run)
    topology = Topology.from_dict(
        {
            "cluster": {"database": db},
            "datasources": [
                {"name": "ds0", "kind": "mysql", "url": mysql_url},
                {
                    "name": "ds1",
                    "kind": "mysql",
                    "url": f"mysql://root:@127.0.0.1:{proxy.port}",
                    "max_connections": 1,
                    "acquire_timeout": 0.5,
                    "connect_timeout": 1.0,
                },
            ],
            # id % 2 picks the shard; shard i lives on datasources[i % 2]: odd ids on ds1.
            "tables": [
                {
                    "name": f"{db}.t",
                    "shard_key": "id",
                    "algorithm": "mod",
                    "shards": 2,
                    "datasources": ["ds0", "ds1"],
                }
            ],
        }
    )
    try:
        async with Coordinator(topology, xa_recovery=None) as coord:
            cfg = ServerConfig(listen="127.0.0.1:0", default_database=db, shutdown_timeout=2.0)
            server = MySQLServer(cfg, coord, admin=CoordinatorAdmin(coord))
            await nursery.start(server.serve)

            def create() -> None:
                with (
                    pymysql.connect(
                        host="127.0.0.1",
                        port=server.port,
                        user="root",
                        password="",
                        database=db,
                        autocommit=True,
                    ) as c,
                    c.cursor() as cur,
                ):
                    cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
                    cur.execute(
                        "INSERT INTO t VALUES " + ", ".join(f"({i}, {i * 10})" for i in range(1, 9))
                    )

            await in_thread(create)
            yield Setup(server.port, db, proxy, coord)
            server.shutdown()
    finally:
        proxy.down()
        await in_thread(_cleanup, db)


async def assert_quiet(coord: Coordinator) -> None:
    """After the fault: no borrowed, waiting or opening connection, nothing on the wire,
    no executor query or busy slot left behind."""

    def quiet() -> bool:
        for ds in coord.datasources.values():
            st = ds.statistics()
            if (st.in_use, st.waiting, st.extra["opening"], st.extra["inflight"]) != (0, 0, 0, 0):
                return False
        ex = coord.executor.statistics()
        return not coord.executor.queries() and (ex.active, ex.waiting, ex.queued) == (0, 0, 0)

    with trio.move_on_after(5):
        while not quiet():  # noqa: ASYNC110 (counters, no event to wait on)
            await trio.sleep(0.02)
    assert quiet(), [ds.statistics() for ds in coord.datasources.values()]


def _raw(port: int, db: str) -> RawClient:
    rc = RawClient(port, timeout=20)
    assert rc.login(database=db)[-1][0] == 0x00
    return rc


def _error(packets: list[bytes]) -> tuple[int, str, bytes]:
    """(code, SQLSTATE, packet) of the error packet that ended a response."""
    pkt = packets[-1]
    assert pkt[0] == 0xFF, packets
    code = struct.unpack_from("<H", pkt, 1)[0]
    assert pkt[3:4] == b"#"
    return code, pkt[4:9].decode(), pkt


def _pymysql_exception(pkt: bytes) -> pymysql.MySQLError:
    """The exception PyMySQL raises for this error packet."""
    try:
        pymysql.err.raise_mysql_exception(pkt)
    except pymysql.MySQLError as exc:
        return exc
    raise AssertionError("not an error packet")


def _is_disconnect(exc: pymysql.MySQLError) -> bool:
    """SQLAlchemy's decision for PyMySQL: True would invalidate the connection pool."""
    from sqlalchemy import create_engine

    engine = create_engine("mysql+pymysql://root@127.0.0.1/x")  # never connects
    try:
        return bool(engine.dialect.is_disconnect(exc, None, None))
    finally:
        engine.dispose()


def _check_classified(code: int, sqlstate: str, pkt: bytes, expected: int) -> None:
    assert (code, sqlstate) == (expected, "HY000"), pkt
    exc = _pymysql_exception(pkt)
    assert exc.args[0] == expected
    assert not _is_disconnect(exc), exc
    # Control: the same packet with the old code is what SQLAlchemy calls a disconnect.
    lost = _pymysql_exception(pkt[:1] + struct.pack("<H", 2013) + pkt[3:])
    assert _is_disconnect(lost)


async def test_down_source_is_reported_as_1429_not_a_disconnect(setup: Setup) -> None:
    def before() -> RawClient:
        rc = _raw(setup.port, setup.db)
        assert rc.query("SELECT COUNT(*) FROM t")[0][0] != 0xFF
        return rc

    rc = await in_thread(before)
    setup.proxy.down()

    def after() -> tuple[int, str, bytes, float]:
        start = time.monotonic()
        code, state, pkt = _error(rc.query("SELECT id, v FROM t ORDER BY id"))
        took = time.monotonic() - start
        # The same connection goes on working for the shards that are up.
        rows = rc.query("SELECT v FROM t WHERE id = 2")
        assert rows[0][0] not in (0x00, 0xFF), rows
        assert any(p.endswith(b"20") for p in rows), rows
        rc.close()
        return code, state, pkt, took

    code, state, pkt, took = await in_thread(after)
    assert took < 5.0
    assert b"ds1" in pkt  # the message names the data source
    _check_classified(code, state, pkt, 1429)

    def with_pymysql() -> None:
        with (
            pymysql.connect(
                host="127.0.0.1",
                port=setup.port,
                user="root",
                password="",
                database=setup.db,
                autocommit=True,
            ) as c,
            c.cursor() as cur,
        ):
            with pytest.raises(pymysql.OperationalError) as info:
                cur.execute("SELECT v FROM t WHERE id = 3")
            assert info.value.args[0] == 1429 and not _is_disconnect(info.value)
            c.ping(reconnect=False)
            cur.execute("SELECT v FROM t WHERE id = 4")
            assert cur.fetchall() == ((40,),)

    await in_thread(with_pymysql)
    await assert_quiet(setup.coord)


async def test_pool_timeout_is_reported_as_1205_not_a_disconnect(setup: Setup) -> None:
    def run() -> tuple[int, str, bytes]:
        holder = pymysql.connect(
            host="127.0.0.1", port=setup.port, user="root", password="", database=setup.db
        )
        try:
            with holder.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute("UPDATE t SET v = v + 1 WHERE id = 1")  # holds ds1's only connection
            rc = _raw(setup.port, setup.db)
            code, state, pkt = _error(rc.query("SELECT v FROM t WHERE id = 3"))
            holder.rollback()
            rows = rc.query("SELECT v FROM t WHERE id = 3")  # same connection, pool free again
            assert rows[0][0] not in (0x00, 0xFF) and any(p.endswith(b"30") for p in rows), rows
            rc.close()
            return code, state, pkt
        finally:
            holder.close()

    code, state, pkt = await in_thread(run)
    assert b"ds1" in pkt
    _check_classified(code, state, pkt, 1205)
    await assert_quiet(setup.coord)


# -- MariaDB Connector/J -----------------------------------------------------------------


@pytest.fixture(scope="module")
def error_classes_java(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not JAVA_READY:
        pytest.skip(JAVA_MISSING)
    out = tmp_path_factory.mktemp("java_errors")
    subprocess.run(
        [str(JAVAC), "-cp", str(JAR), "-d", str(out), str(JAVA_SOURCE)], check=True, timeout=120
    )
    return out


async def _java(compiled: Path, setup: Setup, *args: str) -> dict[str, str]:
    with trio.fail_after(120):
        out = await trio.run_process(
            [
                str(JAVA),
                "-cp",
                f"{JAR}:{compiled}",
                "ErrorClasses",
                str(setup.port),
                setup.db,
                *args,
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    text = out.stdout.decode()
    assert out.returncode == 0, text + out.stderr.decode()[-3000:]
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)


@pytest.mark.skipif(not JAVA_READY, reason=JAVA_MISSING)
async def test_connector_j_keeps_the_connection(setup: Setup, error_classes_java: Path) -> None:
    probe = "SELECT v FROM t WHERE id = 2"
    pool = await _java(
        error_classes_java,
        setup,
        "hold",
        "SELECT v FROM t WHERE id = 3",
        probe,
        "UPDATE t SET v = v + 1 WHERE id = 1",
    )
    setup.proxy.down()
    down = await _java(error_classes_java, setup, "plain", "SELECT id FROM t ORDER BY id", probe)
    for seen, code in ((pool, "1205"), (down, "1429")):
        state, got_code, cls = seen["ERROR"].split(" ")
        assert not state.startswith("08") and state == "HY000", seen
        assert got_code == code, seen
        assert cls != "java.sql.SQLNonTransientConnectionException", seen
        assert seen["VALID"] == "true" and seen["AFTER"] == "20", seen
    await assert_quiet(setup.coord)
