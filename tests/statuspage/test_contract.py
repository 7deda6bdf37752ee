"""The page's contract without a browser: assets and their headers, the /status fields
the script reads, and who may ``POST /kill`` (issue 7)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pymysql
import pytest
import trio

from executor import BucketedExecutor, ExecutorConfig, QueryCancelled
from sharding.server import CoordinatorAdmin
from sharding.server.admin import ConnectionInfo
from sharding.server.auth import Authenticator, User
from sharding.server.statuspage import (
    KillRefused,
    KillRequest,
    check_kill_permission,
    parse_kill,
    perform_kill,
)
from tests.server.conftest import Served, in_thread, start_server, wait_until
from tests.statuspage.fakes import FanoutSession, FanoutSessionFactory
from tests.statuspage.scenario import busy_server, wait_for_history

STATIC = Path(__file__).resolve().parents[2] / "sharding" / "server" / "static"
JS = (STATIC / "status.js").read_text()
HTML = (STATIC / "status.html").read_text()
KILL_HEADERS = {"Content-Type": "application/json", "X-Requested-With": "shardgate"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


async def request(port: int, method: str, path: str, **kw: Any) -> Reply:
    reply: Reply = await in_thread(lambda: _request(port, method, path, **kw))
    return reply


async def kill(port: int, payload: Any, **headers: str) -> Reply:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await request(port, "POST", "/kill", body=body, headers={**KILL_HEADERS, **headers})


def contract() -> dict[str, list[str]]:
    """STATUS_CONTRACT, parsed from the script itself (it is JSON by construction)."""
    m = re.search(r"const STATUS_CONTRACT = (\{.*?\n\});", JS, re.S)
    assert m, "status.js must declare STATUS_CONTRACT"
    return dict(json.loads(m.group(1)))


# -- assets ---------------------------------------------------------------------------


async def test_page_and_assets_are_served_with_the_right_types(nursery: trio.Nursery) -> None:
    s = await start_server(nursery)
    port = s.server.http_port
    assert port is not None
    page = await request(port, "GET", "/")
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert b'<script src="/static/status.js" defer></script>' in page.body
    assert b'<link rel="stylesheet" href="/static/status.css">' in page.body
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    js = await request(port, "GET", "/static/status.js")
    assert js.status == 200 and js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert js.body.decode() == JS
    css = await request(port, "GET", "/static/status.css")
    assert css.status == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    head = await request(port, "HEAD", "/")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(page.body))
    assert (await request(port, "GET", "/static/nope.js")).status == 404
    assert (await request(port, "GET", "/static/../http.py")).status == 404
    post = await request(port, "POST", "/status", body=b"{}")
    assert post.status == 405 and post.headers["allow"] == "GET, HEAD"
    s.server.shutdown()


def test_page_markup_matches_the_script() -> None:
    # Every element the script looks up by id exists in the page.
    ids = set(re.findall(r'getElementById\("([\w-]+)"\)', JS))
    ids |= set(re.findall(r'querySelector(?:All)?\("#([\w-]+)', JS))
    ids |= set(re.findall(r'setText\("([\w-]+)"', JS))
    assert ids, "no ids found: the patterns above are stale"
    missing = {i for i in ids if f'id="{i}"' not in HTML}
    assert not missing, missing
    # CSP forbids inline script, and values from the server must never become markup.
    assert not re.search(r"<script(?![^>]*\bsrc=)", HTML)
    assert not re.search(r"\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write", JS)


# -- /status --------------------------------------------------------------------------


async def test_status_has_every_field_the_page_reads(nursery: trio.Nursery) -> None:
    async with busy_server(nursery) as busy:
        await wait_for_history(busy, 1)
        outcome: list[Any] = []

        def slow() -> None:
            with busy.client.cursor() as cur:
                try:
                    cur.execute("SELECT FANOUT(200, 0.2)")
                except pymysql.MySQLError as exc:
                    outcome.append(exc.args[0])

        nursery.start_soon(in_thread, slow)
        await wait_until(lambda: any(q.session == busy.session.id for q in busy.executor.queries()))
        port = busy.served.server.http_port
        assert port is not None
        reply = await request(port, "GET", "/status?history=30")
        assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
        data = reply.json()
        # The keys the trace sampler and older tests read are still there.
        for key in ("server", "buckets", "queries", "datasources", "connections", "metrics"):
            assert key in data
        checked = 0
        for path, fields in contract().items():
            is_list = path.endswith("[]")
            node: Any = data
            for part in filter(None, (path[:-2] if is_list else path).split(".")):
                node = node[part]
            items = node if is_list else [node]
            assert items, f"{path}: empty, so the contract is not exercised"
            for item in items:
                for name in fields:
                    assert name in item, f"/status {path} lacks {name!r}"
                    checked += 1
        assert checked > 100
        q = next(q for q in data["queries"] if q["session"] == str(busy.session.id))
        conn = next(c for c in data["connections"] if c["Query_id"] == q["id"])
        assert conn["Info"] == "SELECT FANOUT(?, ?)"  # literals never leave through HTTP
        assert data["http"] == {"kill": "loopback"}
        assert 1 <= len(data["history"]["samples"]) <= 30
        assert data["history"]["window"]["rate"] > 0
        # Without ?history only the summary is sent (the sampler stores every /status).
        plain = (await request(port, "GET", "/status")).json()
        assert plain["history"]["samples"] == [] and plain["history"]["window"]["statements"]
        big = (await request(port, "GET", "/status?history=999999")).json()
        assert len(big["history"]["samples"]) <= big["history"]["capacity"]
        for bad in ("abc", "-1", "1.5"):
            assert (await request(port, "GET", f"/status?history={bad}")).status == 400
        busy.executor.cancel_query(q["id"])
        await wait_until(lambda: bool(outcome))


# -- /kill ----------------------------------------------------------------------------


@dataclass
class Killable:
    served: Served
    executor: BucketedExecutor
    factory: FanoutSessionFactory

    @property
    def port(self) -> int:
        assert self.served.server.http_port is not None
        return self.served.server.http_port


@pytest.fixture
async def killable(
    nursery: trio.Nursery, request: pytest.FixtureRequest
) -> AsyncIterator[Killable]:
    config: dict[str, Any] = getattr(request, "param", {})
    cfg = ExecutorConfig(buckets=2, slots_per_bucket=2, window=2, deadlock_timeout=600.0)
    async with BucketedExecutor(cfg) as ex:
        factory = FanoutSessionFactory(executor=ex)
        admin = CoordinatorAdmin(SimpleNamespace(executor=ex, datasources={}))
        served = await start_server(nursery, factory=factory, admin=admin, **config)
        yield Killable(served, ex, factory)
        served.server.shutdown()


async def start_slow(
    k: Killable, nursery: trio.Nursery, outcome: list[Any], **login: str
) -> tuple[FanoutSession, int, int]:
    """A client running a long fan-out: (session, executor query id, connection id)."""
    ids: list[int] = []

    def run() -> None:
        with k.served.pymysql(**login) as c, c.cursor() as cur:
            ids.append(c.thread_id())
            try:
                cur.execute("SELECT FANOUT(1000, 0.5)")
                outcome.append("finished")
            except pymysql.MySQLError as exc:
                outcome.append(exc.args[0])

    nursery.start_soon(in_thread, run)
    before = len(k.factory.sessions)
    await wait_until(lambda: len(k.factory.sessions) > before)
    session = k.factory.sessions[before]
    await wait_until(lambda: any(q.session == session.id for q in k.executor.queries()))
    qid = next(q.id for q in k.executor.queries() if q.session == session.id)
    assert isinstance(session, FanoutSession)
    return session, qid, ids[0]


def running(k: Killable, qid: int) -> bool:
    return qid in {q.id for q in k.executor.queries()}


async def test_kill_query_from_the_page_cancels_the_session(
    killable: Killable, nursery: trio.Nursery
) -> None:
    outcome: list[Any] = []
    session, qid, cid = await start_slow(killable, nursery, outcome)
    reply = await kill(killable.port, {"query_id": qid})
    assert reply.status == 200, reply.body
    assert reply.json() == {
        "killed": "query",
        "query_id": qid,
        "connection_id": cid,
        "via": "connection",
    }
    await wait_until(lambda: bool(outcome))
    assert outcome == [1317]  # ER_QUERY_INTERRUPTED, as for KILL QUERY on the MySQL port
    assert session.cancel_calls >= 1 and session.interrupted == 1
    assert not running(killable, qid)
    assert (await kill(killable.port, {"query_id": qid})).status == 404


async def test_kill_query_without_a_connection_goes_to_the_executor(
    killable: Killable,
) -> None:
    ex = killable.executor
    caught: list[BaseException] = []
    started = trio.Event()

    async def embedded() -> None:
        try:
            async with ex.query(name="embedded") as q:
                started.set()
                await q.map(trio.sleep, [60.0] * 4)
        except QueryCancelled as exc:
            caught.append(exc)

    async with trio.open_nursery() as n:
        n.start_soon(embedded)
        await started.wait()
        qid = ex.queries()[0].id
        reply = await kill(killable.port, {"query_id": qid})
        assert reply.json() == {
            "killed": "query",
            "query_id": qid,
            "connection_id": None,
            "via": "executor",
        }
    assert len(caught) == 1 and not ex.queries()


async def test_kill_connection_from_the_page(killable: Killable, nursery: trio.Nursery) -> None:
    outcome: list[Any] = []
    session, qid, cid = await start_slow(killable, nursery, outcome)
    reply = await kill(killable.port, {"connection_id": cid, "query_only": False})
    assert reply.json() == {"killed": "connection", "connection_id": cid, "via": "connection"}
    await wait_until(lambda: bool(outcome))
    assert outcome[0] in (1317, 1927, 2013)
    await wait_until(lambda: session.closed)
    assert not running(killable, qid)
    assert (await kill(killable.port, {"connection_id": cid})).status == 404


async def test_refused_kills_change_nothing(killable: Killable, nursery: trio.Nursery) -> None:
    outcome: list[Any] = []
    session, qid, _ = await start_slow(killable, nursery, outcome)
    port = killable.port
    good = json.dumps({"query_id": qid}).encode()
    cases: list[tuple[int, Any, dict[str, str]]] = [
        (403, good, {"X-Requested-With": ""}),  # no CSRF header
        (415, good, {"Content-Type": "text/plain"}),  # what a cross-site form can send
        (415, good, {"Content-Type": "application/x-www-form-urlencoded"}),
        (403, good, {"Origin": "http://evil.example"}),
        (403, good, {"Origin": "null"}),
        (403, good, {"Sec-Fetch-Site": "cross-site"}),
        (403, good, {"Host": "evil.example"}),  # DNS rebinding onto 127.0.0.1
        (400, b"{not json", {}),
        (400, b"\xff\xfe", {}),
        (400, [qid], {}),
        (400, {}, {}),
        (400, {"query_id": qid, "connection_id": 1}, {}),
        (400, {"query_id": True}, {}),
        (400, {"query_id": "7"}, {}),
        (400, {"query_id": -3}, {}),
        (400, {"query_id": 2**64}, {}),
        (400, {"query_id": qid, "query_only": False}, {}),
        (400, {"connection_id": 1, "query_only": "yes"}, {}),
        (400, {"query_id": qid, "drop": "table"}, {}),
        (404, {"query_id": 987654}, {}),
        (404, {"connection_id": 987654}, {}),
    ]
    for status, payload, headers in cases:
        reply = await kill(port, payload, **headers)
        assert reply.status == status, (payload, headers, reply.body)
        assert "error" in reply.json()
    assert (await request(port, "GET", "/kill")).status == 405
    # A body over the limit is answered 413 and the connection closed.

    def oversized() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            body = b"x" * 40_000
            sock.sendall(
                b"POST /kill HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"X-Requested-With: shardgate\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            return data

    assert (await in_thread(oversized)).startswith(b"HTTP/1.1 413")
    # The same origin (what the page sends) is accepted, and only now is it killed.
    assert running(killable, qid) and session.cancel_calls == 0 and not outcome
    reply = await kill(
        port, good, Origin=f"http://127.0.0.1:{port}", **{"Sec-Fetch-Site": "same-origin"}
    )
    assert reply.status == 200
    await wait_until(lambda: outcome == [1317])


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


_HASHED = "*" + hashlib.sha1(hashlib.sha1(b"hashed pw").digest()).hexdigest().upper()


@pytest.mark.parametrize(
    "killable",
    [
        {
            "users": [
                {"name": "ops", "password": "s3cret"},
                # killing another user's query needs connection_admin (issue 12 item 6)
                {"name": "dba", "password_hash": _HASHED, "privileges": ["connection_admin"]},
            ]
        }
    ],
    indirect=True,
)
async def test_with_users_kill_needs_basic_auth(killable: Killable, nursery: trio.Nursery) -> None:
    outcome: list[Any] = []
    session, qid, _ = await start_slow(killable, nursery, outcome, user="ops", password="s3cret")
    port = killable.port
    status = (await request(port, "GET", "/status")).json()
    assert status["http"] == {"kill": "basic"}
    for auth in (
        None,
        _basic("ops", "wrong"),
        _basic("nobody", "s3cret"),
        _basic("ops", ""),
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer s3cret",
    ):
        headers = {} if auth is None else {"Authorization": auth}
        reply = await kill(port, {"query_id": qid}, **headers)
        assert reply.status == 401, auth
        assert reply.headers["www-authenticate"].startswith('Basic realm="shardgate"')
    assert running(killable, qid) and session.cancel_calls == 0
    # With users, a loopback Host is not required (the password is the guard).
    reply = await kill(
        port, {"query_id": qid}, Authorization=_basic("dba", "hashed pw"), Host="db.internal"
    )
    assert reply.status == 200, reply.body
    await wait_until(lambda: outcome == [1317])
    outcome.clear()
    session, qid, _ = await start_slow(killable, nursery, outcome, user="ops", password="s3cret")
    reply = await kill(port, {"query_id": qid}, Authorization=_basic("ops", "s3cret"))
    assert reply.status == 200
    await wait_until(lambda: outcome == [1317])


def test_permission_without_users_is_for_this_host_only() -> None:
    auth = Authenticator()
    ok = {"x-requested-with": "shardgate", "host": "127.0.0.1:8080"}
    assert check_kill_permission(ok, "127.0.0.1", auth) == "root"
    assert check_kill_permission({**ok, "host": "localhost:8080"}, "::1", auth) == "root"
    assert check_kill_permission({**ok, "host": "[::1]:8080"}, "::1", auth) == "root"
    for headers, peer in (
        (ok, "10.1.2.3"),  # the HTTP port may listen beyond loopback without users
        (ok, None),
        ({**ok, "host": "attacker.example:8080"}, "127.0.0.1"),
        ({**ok, "host": ""}, "127.0.0.1"),
    ):
        with pytest.raises(KillRefused) as info:
            check_kill_permission(headers, peer, auth)
        assert info.value.status == 403
    users = Authenticator([User("ops", "pw")])
    with pytest.raises(KillRefused) as info:
        check_kill_permission(ok, "10.1.2.3", users)
    assert info.value.status == 401
    creds = {**ok, "authorization": _basic("ops", "pw")}
    assert check_kill_permission(creds, "10.1.2.3", users) == "ops"


def test_parse_kill_bounds() -> None:
    assert parse_kill(b'{"query_id": 5}', "application/json; charset=utf-8").query_id == 5
    req = parse_kill(b'{"connection_id": 9, "query_only": false}', "application/json")
    assert (req.connection_id, req.query_only) == (9, False)
    with pytest.raises(KillRefused) as info:
        parse_kill(b'{"query_id": 1' + b" " * 5000 + b"}", "application/json")
    assert info.value.status == 413


def test_kill_uses_the_connection_only_while_it_runs_a_statement() -> None:
    cancelled: list[int] = []
    killed: list[int] = []
    query = SimpleNamespace(id=7, session=SimpleNamespace(id=1001), parent_id=None)
    conns = [
        ConnectionInfo(
            id=3,
            user="root",
            host="h",
            db=None,
            command="Sleep",
            time=0.0,
            state="",
            info=None,
            session_id=1001,
        )
    ]

    def cancel(qid: int) -> bool:
        cancelled.append(qid)
        return True

    def kill_conn(cid: int, *, query_only: bool) -> bool:
        killed.append(cid)
        return True

    target = SimpleNamespace(
        admin=SimpleNamespace(queries=lambda: [query], cancel_query=cancel),
        authenticator=Authenticator(),
        connection_infos=lambda: conns,
        kill=kill_conn,
    )
    assert perform_kill(target, KillRequest(query_id=7))["via"] == "executor"
    assert (killed, cancelled) == ([], [7])
    conns[0] = dataclasses.replace(conns[0], command="Query")
    assert perform_kill(target, KillRequest(query_id=7))["via"] == "connection"
    assert (killed, cancelled) == ([3], [7])
