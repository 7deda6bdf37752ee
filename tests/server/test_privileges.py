"""Per-user privileges, the HTTP port's access rule and ``require_tls`` (issue 12, item 6).

Before: any authenticated user could ``KILL`` other users' queries and read their SQL in
``SHOW FULL PROCESSLIST``; the HTTP port could listen on 0.0.0.0 with no users and show
every statement in ``/status``. These tests pin the MySQL rules the server now follows:

* without ``process`` a user sees only its own connections (MySQL without PROCESS);
* ``KILL`` of another user's thread without ``connection_admin`` is 1095
  ER_KILL_DENIED_ERROR "You are not owner of thread N" (COM_PROCESS_KILL too), an
  unknown thread still 1094;
* admin SQL without ``admin`` is 1227 ER_SPECIFIC_ACCESS_DENIED_ERROR;
* ``root`` has every privilege; other users none unless granted;
* the HTTP port refuses a non-loopback listen address without users, asks off-host
  readers of ``/`` and ``/status`` for Basic credentials of a ``process`` user, and
  shows statements with literals replaced by ``?``;
* ``require_tls`` refuses plain-TCP logins: 3159 server-wide, 1045 per user.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pymysql
import pytest
import trio

from sharding.errors import KillDenied, NoSuchQuery, SpecificAccessDenied
from sharding.server import ServerConfig
from sharding.server.admin import ConnectionInfo, Viewer, answer_admin, redact_sql
from sharding.server.auth import ALL_PRIVILEGES, Authenticator, User
from sharding.server.config import ConfigError
from sharding.server.statuspage import Refused, check_view_permission
from tests.server.conftest import Served, in_thread, start_server, wait_until
from tests.server.test_pymysql import _self_signed

USERS: list[dict[str, Any]] = [
    {"name": "alice", "password": "a-pw"},
    {"name": "bob", "password": "b-pw"},
    {"name": "ops", "password": "o-pw", "privileges": ["process"]},
    {"name": "dba", "password": "d-pw", "privileges": ["connection_admin", "admin"]},
    {"name": "root", "password": "r-pw"},
]
PASSWORDS: dict[str, str] = {u["name"]: u["password"] for u in USERS}


def _connect(s: Served, user: str, **kw: Any) -> Any:
    return s.pymysql(user=user, password=PASSWORDS[user], **kw)


def _error(fn: Any) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as info:
        fn()
    return info.value.args[0], info.value.args[1]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _http(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def _post_kill(port: int, payload: dict[str, Any], auth: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/kill",
            body=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                "X-Requested-With": "shardgate",
                "Authorization": auth,
            },
        )
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


# -- configuration ------------------------------------------------------------------------


def test_privileges_config_and_defaults() -> None:
    cfg = ServerConfig.from_mapping({"users": USERS})
    by_name = {u.name: u for u in cfg.users}
    assert by_name["alice"].privileges == frozenset()  # least privilege by default
    assert by_name["ops"].privileges == {"process"}
    assert by_name["root"].privileges == ALL_PRIVILEGES  # root: everything by default
    for alias in ("super", "ALL"):
        u = ServerConfig.from_mapping(
            {"users": [{"name": "x", "password": "p", "privileges": [alias]}]}
        ).users[0]
        assert u.privileges == ALL_PRIVILEGES
    limited_root = ServerConfig.from_mapping(
        {"users": [{"name": "root", "password": "p", "privileges": []}]}
    ).users[0]
    assert limited_root.privileges == frozenset()
    assert Authenticator().privileges_of("root") == ALL_PRIVILEGES  # user-less server
    for bad in (["grant_everything"], "process", [1]):
        with pytest.raises(ConfigError, match="privilege"):
            ServerConfig.from_mapping(
                {"users": [{"name": "x", "password": "p", "privileges": bad}]}
            )
    with pytest.raises(ConfigError, match="require_tls"):
        ServerConfig.from_mapping({"users": [{"name": "x", "password": "p", "require_tls": 1}]})


def test_tls_options_need_a_certificate() -> None:
    with pytest.raises(ConfigError, match="TLS"):
        ServerConfig.from_mapping({"require_tls": True})
    with pytest.raises(ConfigError, match="TLS"):
        ServerConfig.from_mapping({"users": [{"name": "x", "password": "p", "require_tls": True}]})


def test_http_refuses_a_non_loopback_listen_without_users() -> None:
    for addr in ("0.0.0.0:8080", "[::]:8080"):
        with pytest.raises(ConfigError, match="http"):
            ServerConfig.from_mapping({"http": addr})
        with pytest.raises(ConfigError, match="http"):  # a user without a password: same
            ServerConfig.from_mapping({"http": addr, "users": [{"name": "u", "password": ""}]})
    ok = ServerConfig.from_mapping(
        {"http": "0.0.0.0:8080", "users": [{"name": "u", "password": "p"}]}
    )
    assert ok.http == "0.0.0.0:8080"
    assert ServerConfig.from_mapping({"http": "127.0.0.1:8080"}).http == "127.0.0.1:8080"


# -- MySQL port ---------------------------------------------------------------------------


async def _sleeper(s: Served, user: str, seconds: float, errors: list[int], ids: list[int]) -> None:
    def run() -> None:
        with _connect(s, user) as c, c.cursor() as cur:
            ids.append(c.thread_id())
            try:
                cur.execute(f"SELECT SLEEP({seconds})")
            except pymysql.MySQLError as exc:
                errors.append(exc.args[0])

    await in_thread(run)


async def test_processlist_shows_others_only_with_process(nursery: trio.Nursery) -> None:
    s = await start_server(nursery, users=USERS)
    errors: list[int] = []
    ids: list[int] = []
    nursery.start_soon(_sleeper, s, "alice", 30, errors, ids)
    await wait_until(lambda: s.factory.sleeping == 1)
    victim = ids[0]

    def look(user: str, sql: str) -> list[dict[str, Any]]:
        with _connect(s, user) as c, c.cursor() as cur:
            cur.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for user in ("alice", "bob", "ops", "root"):
            out[user] = look(user, "SHOW FULL PROCESSLIST")
        out["bob_is"] = look("bob", "SELECT * FROM information_schema.PROCESSLIST")
        out["ops_is"] = look("ops", "SELECT * FROM information_schema.PROCESSLIST")
        return out

    seen = await in_thread(run)
    # alice (a second connection of hers) sees both of her connections, with the SQL.
    assert {r["User"] for r in seen["alice"]} == {"alice"}
    alice_sleep = next(r for r in seen["alice"] if r["Id"] == victim)
    assert alice_sleep["Info"] == "SELECT SLEEP(30)"
    # bob sees only himself: not alice's thread, not its statement.
    for rows in (seen["bob"], seen["bob_is"]):
        assert {r["User"] for r in rows} == {"bob"}
        assert victim not in {r["Id"] for r in rows}
    # ops (process) and root see everyone, with full statements, as MySQL's PROCESS.
    for rows in (seen["ops"], seen["ops_is"], seen["root"]):
        row = next(r for r in rows if r["Id"] == victim)
        assert row["User"] == "alice" and row["Info"] == "SELECT SLEEP(30)"
    s.server.kill(victim, query_only=False)
    await wait_until(lambda: errors == [1317])


async def test_kill_needs_ownership_or_connection_admin(nursery: trio.Nursery) -> None:
    s = await start_server(nursery, users=USERS)
    errors: list[int] = []
    ids: list[int] = []
    nursery.start_soon(_sleeper, s, "alice", 30, errors, ids)
    await wait_until(lambda: s.factory.sleeping == 1)
    victim = ids[0]

    def denied() -> list[tuple[int, str]]:
        out = []
        with _connect(s, "bob") as c, c.cursor() as cur:
            for sql in (f"KILL QUERY {victim}", f"KILL {victim}", f"KILL CONNECTION {victim}"):
                out.append(_error(lambda sql=sql: cur.execute(sql)))
            out.append(_error(lambda: c.kill(victim)))  # COM_PROCESS_KILL
            out.append(_error(lambda: cur.execute("KILL 987654")))  # unknown: still 1094
        with _connect(s, "ops") as c, c.cursor() as cur:  # process alone does not allow it
            out.append(_error(lambda: cur.execute(f"KILL QUERY {victim}")))
        return out

    out = await in_thread(denied)
    assert out[:4] == [(1095, f"You are not owner of thread {victim}")] * 4
    assert out[4][0] == 1094
    assert out[5][0] == 1095
    assert s.factory.sleeping == 1 and errors == []  # alice's query still runs

    # The owner kills her own query from another connection.
    def own() -> None:
        with _connect(s, "alice") as c, c.cursor() as cur:
            cur.execute(f"KILL QUERY {victim}")

    await in_thread(own)
    await wait_until(lambda: errors == [1317])

    # connection_admin kills anyone's (and root, with every privilege).
    for killer in ("dba", "root"):
        errors.clear()
        ids.clear()
        nursery.start_soon(_sleeper, s, "alice", 30, errors, ids)
        await wait_until(lambda: s.factory.sleeping == 1 and len(ids) == 1)

        def admin_kill(killer: str = killer) -> None:
            with _connect(s, killer) as c, c.cursor() as cur:
                cur.execute(f"KILL QUERY {ids[0]}")

        await in_thread(admin_kill)
        await wait_until(lambda: errors == [1317])


async def test_admin_sql_needs_the_admin_privilege(nursery: trio.Nursery) -> None:
    s = await start_server(nursery, users=USERS)
    statements = (
        "SHOW THREAD_POOL_STATUS",
        "SELECT * FROM information_schema.THREAD_POOL_STATUS",
        "SHOW DATASOURCES",
        "SHOW SHARDS",
    )

    def run() -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for user in ("alice", "ops", "dba", "root"):
            results: list[Any] = []
            with _connect(s, user) as c, c.cursor() as cur:
                for sql in statements:
                    try:
                        cur.execute(sql)
                        results.append("ok")
                    except pymysql.MySQLError as exc:
                        results.append(tuple(exc.args))
            out[user] = results
        # The admin port applies the same rule.
        with _connect(s, "alice", port=s.server.admin_port) as c, c.cursor() as cur:
            out["alice_admin_port"] = [_error(lambda: cur.execute("SHOW DATASOURCES"))]
        return out

    out = await in_thread(run)
    for user in ("alice", "ops"):
        assert all(r[0] == 1227 for r in out[user]), out[user]
        assert "ADMIN privilege" in out[user][0][1]
    assert out["dba"] == ["ok"] * len(statements)
    assert out["root"] == ["ok"] * len(statements)
    assert out["alice_admin_port"][0][0] == 1227


async def test_open_server_root_keeps_every_privilege(
    served: Served, nursery: trio.Nursery
) -> None:
    """No users configured (loopback only): root may do everything, as before."""
    errors: list[int] = []
    ids: list[int] = []
    nursery.start_soon(_sleeper_root, served, errors, ids)
    await wait_until(lambda: served.factory.sleeping == 1)

    def run() -> None:
        with served.pymysql() as c, c.cursor() as cur:
            cur.execute("SHOW THREAD_POOL_STATUS")
            cur.execute("SHOW FULL PROCESSLIST")
            assert ids[0] in {r[0] for r in cur.fetchall()}
            cur.execute(f"KILL QUERY {ids[0]}")

    await in_thread(run)
    await wait_until(lambda: errors == [1317])


async def _sleeper_root(s: Served, errors: list[int], ids: list[int]) -> None:
    def run() -> None:
        with s.pymysql() as c, c.cursor() as cur:
            ids.append(c.thread_id())
            try:
                cur.execute("SELECT SLEEP(30)")
            except pymysql.MySQLError as exc:
                errors.append(exc.args[0])

    await in_thread(run)


class _Queries:
    """An AdminSource with executor queries owned by sessions (for KILL QUERY ID)."""

    def __init__(self) -> None:
        self.cancelled: list[int] = []

    def queries(self) -> list[Any]:
        return [
            SimpleNamespace(id=7, session=70, parent_id=None),  # alice's connection
            SimpleNamespace(id=8, session=None, parent_id=None),  # embedded, no connection
        ]

    def cancel_query(self, query_id: int) -> bool:
        self.cancelled.append(query_id)
        return True


class _Registry:
    def connection_infos(self) -> list[ConnectionInfo]:
        return [ConnectionInfo(1, "alice", "h", None, "Query", 1.0, "", "SELECT 1", 70)]

    def kill(self, connection_id: int, *, query_only: bool) -> bool:
        return True


def test_kill_query_id_follows_the_owner_of_its_connection() -> None:
    source, registry = _Queries(), _Registry()
    alice, bob = Viewer("alice", frozenset()), Viewer("bob", frozenset())
    dba = Viewer("dba", frozenset({"connection_admin"}))
    with pytest.raises(KillDenied):
        answer_admin("KILL QUERY ID 7", source, registry, viewer=bob)  # type: ignore[arg-type]
    with pytest.raises(KillDenied):  # no owning connection: needs connection_admin
        answer_admin("KILL QUERY ID 8", source, registry, viewer=alice)  # type: ignore[arg-type]
    with pytest.raises(NoSuchQuery):
        answer_admin("KILL QUERY ID 99", source, registry, viewer=alice)  # type: ignore[arg-type]
    assert source.cancelled == []
    answer_admin("KILL QUERY ID 7", source, registry, viewer=alice)  # type: ignore[arg-type]
    answer_admin("KILL QUERY ID 8", source, registry, viewer=dba)  # type: ignore[arg-type]
    assert source.cancelled == [7, 8]
    with pytest.raises(SpecificAccessDenied) as info:
        answer_admin("SHOW SHARDS", source, registry, viewer=bob)  # type: ignore[arg-type]
    assert info.value.code == 1227 and info.value.sqlstate == "42000"


# -- require_tls ----------------------------------------------------------------------------


async def test_require_tls_server_wide_and_per_user(nursery: trio.Nursery, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    users = [
        {"name": "app", "password": "pw"},
        {"name": "secure", "password": "pw", "require_tls": True},
    ]
    per_user = await start_server(nursery, tls_cert=cert, tls_key=key, users=users)
    everyone = await start_server(
        nursery, tls_cert=cert, tls_key=key, users=users[:1], require_tls=True
    )

    # PyMySQL prefers TLS when the server offers it: plain logins disable it explicitly.
    def tls() -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        return ctx

    def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["secure_plain"] = _error(
            lambda: per_user.pymysql(user="secure", password="pw", ssl_disabled=True)
        )
        out["secure_wrong_pw"] = _error(
            lambda: per_user.pymysql(user="secure", password="no", ssl_disabled=True)
        )
        with per_user.pymysql(user="secure", password="pw", ssl=tls()) as c, c.cursor() as cur:
            cur.execute("SELECT 1")
            out["secure_tls"] = cur.fetchone()
        with per_user.pymysql(user="app", password="pw", ssl_disabled=True) as c, c.cursor() as cur:
            cur.execute("SELECT 1")
            out["app_plain"] = cur.fetchone()
        out["all_plain"] = _error(
            lambda: everyone.pymysql(user="app", password="pw", ssl_disabled=True)
        )
        with everyone.pymysql(user="app", password="pw", ssl=tls()) as c, c.cursor() as cur:
            cur.execute("SELECT 1")
            out["all_tls"] = cur.fetchone()
        return out

    out = await in_thread(run)
    assert out["secure_plain"][0] == 1045 and out["secure_wrong_pw"][0] == 1045
    assert "Access denied for user 'secure'" in out["secure_plain"][1]
    assert out["secure_tls"] == (1,) and out["app_plain"] == (1,)
    assert out["all_plain"][0] == 3159
    assert "insecure transport" in out["all_plain"][1]
    assert out["all_tls"] == (1,)


# -- HTTP port ----------------------------------------------------------------------------


def test_view_permission_rules() -> None:
    users = Authenticator(
        [User("ops", "pw", privileges=frozenset({"process"})), User("alice", "pw")]
    )
    local = {"host": "127.0.0.1:8080"}
    assert check_view_permission(local, "127.0.0.1", users) is None
    assert check_view_permission({"host": "localhost"}, "::1", Authenticator()) is None
    cases = [
        ({"host": "db.internal"}, "10.1.2.3", users, 401),
        ({"host": "db.internal", "authorization": _basic("ops", "bad")}, "10.1.2.3", users, 401),
        ({"host": "db.internal", "authorization": _basic("alice", "pw")}, "10.1.2.3", users, 403),
        # a local client naming the server by another name (DNS rebinding) needs a login
        ({"host": "attacker.example"}, "127.0.0.1", users, 401),
        # no users at all: nobody off this host
        (local, "10.1.2.3", Authenticator(), 403),
        ({"host": "attacker.example"}, "127.0.0.1", Authenticator(), 403),
    ]
    for headers, peer, auth, status in cases:
        with pytest.raises(Refused) as info:
            check_view_permission(headers, peer, auth)
        assert info.value.status == status, (headers, peer)
        if status == 401:
            assert dict(info.value.headers)["www-authenticate"].startswith("Basic")
    creds = {"host": "db.internal", "authorization": _basic("ops", "pw")}
    assert check_view_permission(creds, "10.1.2.3", users) == "ops"


def test_redact_sql_hides_every_literal() -> None:
    sql = (
        "SELECT * FROM t1 WHERE a = 'x''s3cret' AND b = \"dq\" AND c IN (1, 2.5, -3e4) "
        "AND d = X'CAFE' AND e = 0x1F AND f = _utf8mb4'intro' AND g = b'101' "
        "/* comment 42 */ AND h = ? /*! AND i = 'inner' */"
    )
    out = redact_sql(sql)
    for secret in ("s3cret", "dq", "2.5", "3e4", "CAFE", "0x1F", "intro", "101", "42", "inner"):
        assert secret not in out, (secret, out)
    assert out.startswith("SELECT * FROM t1 WHERE a = ? AND b = ? AND c IN (?, ?, -?)")
    assert "h = ?" in out and "/*! AND i = ? */" in out
    # a statement cut short inside a string (Info is truncated) hides the rest
    assert redact_sql("INSERT INTO t VALUES ('half a secr") == "INSERT INTO t VALUES (?"


async def test_status_over_http_needs_process_off_host_and_is_redacted(
    nursery: trio.Nursery,
) -> None:
    s = await start_server(nursery, users=USERS)
    port = s.server.http_port
    assert port is not None
    errors: list[int] = []
    ids: list[int] = []
    nursery.start_soon(_sleeper, s, "alice", 30, errors, ids)
    await wait_until(lambda: s.factory.sleeping == 1)
    off_host = {"Host": "db.internal:8080"}  # a client reaching the server by a real name

    def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["local"] = _http(port, "/status")
        for path in ("/status", "/"):
            out[f"anon{path}"] = _http(port, path, off_host)
            out[f"alice{path}"] = _http(
                port, path, {**off_host, "Authorization": _basic("alice", "a-pw")}
            )
            out[f"ops{path}"] = _http(
                port, path, {**off_host, "Authorization": _basic("ops", "o-pw")}
            )
        out["metrics"] = _http(port, "/metrics", off_host)
        out["healthz"] = _http(port, "/healthz", off_host)
        return out

    out = await in_thread(run)
    for path in ("/status", "/"):
        status, headers, _ = out[f"anon{path}"]
        assert status == 401 and headers["www-authenticate"].startswith('Basic realm="shardgate"')
        assert out[f"alice{path}"][0] == 403  # a valid login without PROCESS
        assert out[f"ops{path}"][0] == 200
    assert out["metrics"][0] == 200 and out["healthz"][0] == 200
    for key in ("local", "ops/status"):
        status, _, body = out[key]
        assert status == 200
        conns = json.loads(body)["connections"]
        row = next(c for c in conns if c["Id"] == ids[0])
        assert row["Info"] == "SELECT SLEEP(?)"  # literals never leave through HTTP
        assert b"SLEEP(30)" not in body
    s.server.kill(ids[0], query_only=False)
    await wait_until(lambda: errors == [1317])


async def test_http_kill_of_another_users_query_needs_connection_admin(
    nursery: trio.Nursery,
) -> None:
    s = await start_server(nursery, users=USERS)
    port = s.server.http_port
    assert port is not None
    errors: list[int] = []
    ids: list[int] = []
    nursery.start_soon(_sleeper, s, "alice", 30, errors, ids)
    await wait_until(lambda: s.factory.sleeping == 1)
    target = {"connection_id": ids[0], "query_only": True}
    assert await in_thread(_post_kill, port, target, _basic("bob", "b-pw")) == 403
    assert await in_thread(_post_kill, port, target, _basic("ops", "o-pw")) == 403
    assert s.factory.sleeping == 1 and errors == []
    assert await in_thread(_post_kill, port, target, _basic("alice", "a-pw")) == 200  # owner
    await wait_until(lambda: errors == [1317])
    errors.clear()
    ids.clear()
    nursery.start_soon(_sleeper, s, "alice", 30, errors, ids)
    await wait_until(lambda: s.factory.sleeping == 1 and len(ids) == 1)
    target = {"connection_id": ids[0], "query_only": True}
    assert await in_thread(_post_kill, port, target, _basic("dba", "d-pw")) == 200
    await wait_until(lambda: errors == [1317])
