"""Coordinators sharing one catalog: instance registry, KILL and PROCESSLIST across them
(issue 19, item 2; sharding.server.instances).

Each coordinator is a real ``shardgate serve`` process on a port of its own, in front
of the shared MariaDB, with a catalog private to this test module (``sginst_<pid>…``).
A statement on coordinator A is listed, cancelled (``KILL QUERY``: 1317 for its client,
its shard statement gone from MariaDB) and its connection closed (``KILL``,
``COM_PROCESS_KILL``) through coordinator B; ownership is enforced by the owner; a
control request without the instance's secret is refused; a dead coordinator is
skipped and its instance id is reclaimed only once its heartbeat is stale. Every
process is stopped by the pid this test started, within a bound.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio

from sharding.backend.mysql import MySQLDataSource
from sharding.server.instances import InstanceRegistry, control_call, mac
from sharding.server.workers import instance_of
from tests.backend_mysql.xa_served import ROOT, _readline, stop, wait_until
from tests.conftest import MYSQL_HOST, MYSQL_PORT, MYSQL_URL

pytestmark = pytest.mark.mysql

PREFIX = f"sginst_{os.getpid()}_"
CATALOG = f"{PREFIX}cat"
USERS = (
    "[[server.users]]\nname = 'root'\npassword = ''\nprivileges = ['all']\n"
    "[[server.users]]\nname = 'app'\npassword = 'app-pw'\nprivileges = []\n"
)


def _direct() -> Any:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )


def _q(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _drop_ours() -> None:
    conn = _direct()
    try:
        like = PREFIX.replace("_", "\\_")
        for (name,) in _q(conn, f"SHOW DATABASES LIKE '{like}%'"):
            _q(conn, f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@dataclass
class Coord:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def connect(self, user: str = "root", password: str = "", **kw: Any) -> Any:
        kw.setdefault("connect_timeout", 5)
        kw.setdefault("read_timeout", 30)
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user=user, password=password, autocommit=True, **kw
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == name:
                    out.append(record)
        return out

    def instance(self) -> int:
        conn = self.connect()
        try:
            ((cid,),) = _q(conn, "SELECT CONNECTION_ID()")
        finally:
            conn.close()
        return instance_of(int(cid))


@contextlib.contextmanager
def coordinator(
    workdir: Path, name: str, env: Mapping[str, str] | None = None, workers: int = 1
) -> Iterator[Coord]:
    """``shardgate serve`` on a free port, sharing the module's catalog."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / f"{name}.toml"
    cfg.write_text(
        f"[cluster]\ndatabase = '{PREFIX}db'\ncatalog = '{CATALOG}'\ndefault_shards = 2\n\n"
        f"[[datasources]]\nname = 'm0'\nkind = 'mysql'\nurl = '{MYSQL_URL}'\n\n"
        "[server]\nshutdown_timeout = 2.0\n" + USERS
    )
    log_path = workdir / f"{name}.log"
    argv = [sys.executable, "-m", "sharding.cli", "serve", "--config", str(cfg)]
    argv += ["--listen", "127.0.0.1:0", "--data-dir", str(workdir / f"{name}-data")]
    argv += ["--log-format", "json", "--log-level", "info"]
    if workers > 1:
        argv += ["--workers", str(workers)]
    with log_path.open("wb") as err:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=err,
        )
    try:
        line = _readline(proc, 90)
        m = re.search(rb"MySQL protocol on 127\.0\.0\.1:(\d+)", line)
        assert m, (line, log_path.read_text(errors="replace")[-3000:])
        yield Coord(proc, int(m[1]), log_path)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Coord, Coord]]:
    _drop_ours()
    work = tmp_path_factory.mktemp("instances")
    try:
        with coordinator(work, "a") as a, coordinator(work, "b") as b:
            yield a, b
    finally:
        _drop_ours()


def _registry() -> dict[int, tuple[str, str, str, float]]:
    """instance -> (holder, address, secret, age in seconds) as the catalog says."""
    conn = _direct()
    try:
        rows = _q(
            conn,
            "SELECT instance, holder, address, secret, "
            f"TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) / 1e6 FROM {CATALOG}.instances",
        )
    finally:
        conn.close()
    return {int(r[0]): (_s(r[1]), _s(r[2]), _s(r[3]), float(r[4])) for r in rows}


class Running:
    """A statement running in a thread on its own connection (its error recorded)."""

    def __init__(self, conn: Any, sql: str) -> None:
        self.conn = conn
        with conn.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            self.cid = int(cur.fetchone()[0])
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.finished: float | None = None
        self.thread = threading.Thread(target=self._run, args=(sql,), daemon=True)
        self.thread.start()

    def _run(self, sql: str) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                cur.fetchall()
        except BaseException as exc:
            self.error = exc
        self.finished = time.monotonic()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "statement still running"


def _shard_statement_running(marker: str) -> bool:
    conn = _direct()
    try:
        rows = _q(
            conn,
            "SELECT ID FROM information_schema.PROCESSLIST "
            f"WHERE INFO LIKE '%{marker}%' AND INFO NOT LIKE '%PROCESSLIST%'",
        )
    finally:
        conn.close()
    return bool(rows)


def _processlist(conn: Any, sql: str = "SHOW FULL PROCESSLIST") -> dict[int, tuple[Any, ...]]:
    return {int(r[0]): r for r in _q(conn, sql)}


def _error(fn: Any) -> int:
    try:
        fn()
    except pymysql.err.MySQLError as exc:
        return int(exc.args[0])
    raise AssertionError("no error")


# -- the registry itself ------------------------------------------------------------------


def test_registry_claims_distinct_ids_and_reclaims_only_stale_rows() -> None:
    catalog = f"{PREFIX}unit"

    async def main() -> None:
        ds = MySQLDataSource.from_config("m0", {"url": MYSQL_URL, "max_connections": 2})
        await ds.open()
        try:
            x = InstanceRegistry(ds, catalog, stale_after=1.0)
            y = InstanceRegistry(ds, catalog, stale_after=1.0)
            assert await x.claim("127.0.0.1:1", "sx") == 0
            assert await y.claim("127.0.0.1:2", "sy") == 1  # 0 is live: the next one
            assert await y.beat() and await x.beat()
            z = InstanceRegistry(ds, catalog, stale_after=1.0)
            assert await z.claim("127.0.0.1:3", "sz", preferred=0) == 2
            # x stops beating: its id is not taken while fresh ...
            w = InstanceRegistry(ds, catalog, stale_after=1.0)
            await y.beat()
            await z.beat()
            assert [m.instance for m in await w.members()] == [0, 1, 2]
            # ... and is, once stale (the catalog server's clock), by a new holder.
            while True:
                ages = {m.instance: m.age for m in await w.members(live_only=False)}
                if ages[0] >= 1.0:
                    break
                await y.beat()
                await z.beat()
                await trio.sleep(0.1)
            await y.beat()
            await z.beat()
            assert await w.claim("127.0.0.1:4", "sw") == 0
            assert not await x.beat()  # x learns it lost the row
            assert {m.instance: m.secret for m in await w.members()}[0] == "sw"
            await y.retire()  # a clean shutdown frees the id at once
            v = InstanceRegistry(ds, catalog, stale_after=60.0)
            assert await v.claim("127.0.0.1:5", "sv", preferred=1) == 1
        finally:
            await ds.aclose()

    _drop_ours()
    try:
        trio.run(main)
    finally:
        _drop_ours()


# -- two coordinators ---------------------------------------------------------------------


def test_two_coordinators_get_distinct_registered_ids(pair: tuple[Coord, Coord]) -> None:
    a, b = pair
    ia, ib = a.instance(), b.instance()
    assert ia != ib
    reg = _registry()
    assert {ia, ib} <= set(reg)
    assert reg[ia][0] != reg[ib][0] and reg[ia][2] != reg[ib][2]  # holders, secrets
    for i in (ia, ib):
        host, _, port = reg[i][1].rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0  # default control_listen: loopback
        assert reg[i][3] < 5.0  # heartbeating


def test_kill_query_through_the_other_coordinator(pair: tuple[Coord, Coord]) -> None:
    a, b = pair
    marker = f"{PREFIX}kq"
    victim = a.connect()
    run = Running(victim, f"SELECT SLEEP(20) AS {marker}")
    wait_until(lambda: _shard_statement_running(marker), 10, "the shard statement started")
    killer = b.connect()
    try:
        # B lists A's session with its global id and statement ...
        for sql in ("SHOW FULL PROCESSLIST", "SELECT * FROM information_schema.PROCESSLIST"):
            rows = _processlist(killer, sql)
            assert run.cid in rows and marker in _s(rows[run.cid][7]), rows
        assert instance_of(run.cid) == a.instance() != b.instance()
        # ... and cancels it: 1317 for A's client, the shard statement gone.
        _q(killer, f"KILL QUERY {run.cid}")
        run.join(10)
        assert isinstance(run.error, pymysql.err.OperationalError), run.error
        assert run.error.args[0] == 1317
        assert run.finished is not None and run.finished - run.started < 10
        wait_until(lambda: not _shard_statement_running(marker), 5, "shard statement gone")
        assert _q(victim, "SELECT 1") == [(1,)]  # KILL QUERY leaves the connection
    finally:
        killer.close()
        victim.close()


def test_kill_connection_through_the_other_coordinator(pair: tuple[Coord, Coord]) -> None:
    a, b = pair
    killer = b.connect()
    try:
        for how in ("sql", "com_process_kill"):
            victim = a.connect()
            ((cid,),) = _q(victim, "SELECT CONNECTION_ID()")
            if how == "sql":
                _q(killer, f"KILL CONNECTION {cid}")
            else:
                killer.kill(cid)  # COM_PROCESS_KILL, as old clients send it
            with pytest.raises(pymysql.err.OperationalError):
                _q(victim, "SELECT 1")
            victim.close()
            wait_until(lambda cid=cid: cid not in _processlist(killer), 5, "the connection is gone")
        # Unknown ids stay MySQL's 1094: A's instance with no such connection, an
        # instance no coordinator holds.
        gone = (a.instance() << 26) | 0xFFFFE
        assert _error(lambda: _q(killer, f"KILL {gone}")) == 1094
        assert _error(lambda: _q(killer, f"KILL QUERY {(31 << 26) | 5}")) == 1094
    finally:
        killer.close()


def test_the_owner_applies_the_kill_permission_rule(pair: tuple[Coord, Coord]) -> None:
    a, b = pair
    victim = a.connect()  # root's connection on A
    ((cid,),) = _q(victim, "SELECT CONNECTION_ID()")
    app = b.connect("app", "app-pw")
    try:
        # Without PROCESS, app sees only its own sessions, wherever they are.
        assert cid not in _processlist(app)
        assert _error(lambda: _q(app, f"KILL QUERY {cid}")) == 1095
        assert _error(lambda: _q(app, f"KILL {cid}")) == 1095
        assert _q(victim, "SELECT 1") == [(1,)]
        own = a.connect("app", "app-pw")
        ((own_id,),) = _q(own, "SELECT CONNECTION_ID()")
        assert own_id in _processlist(app)
        _q(app, f"KILL {own_id}")  # a user may kill its own connections anywhere
        with pytest.raises(pymysql.err.OperationalError):
            _q(own, "SELECT 1")
        own.close()
    finally:
        app.close()
        victim.close()


def _raw_control(address: str, payload: bytes, secret: str) -> dict[str, Any]:
    """Send ``payload`` (``NONCE`` replaced by the greeting's nonce) and return the
    answer, after checking that the instance signed it."""
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        f = s.makefile("rb")
        nonce = json.loads(f.readline())["nonce"]
        s.sendall(payload.replace(b"NONCE", nonce.encode()))
        s.shutdown(socket.SHUT_WR)
        envelope = json.loads(f.read())
    assert envelope["mac"] == mac(secret, nonce + "/answer", envelope["answer"])
    return dict(json.loads(envelope["answer"]))


def _signed_call(address: str, secret: str, request: str) -> dict[str, Any]:
    """The client side as sharding.server.instances.control_call does it."""
    return trio.run(control_call, address, secret, json.loads(request))


def test_unauthenticated_control_requests_are_refused(pair: tuple[Coord, Coord]) -> None:
    a, _ = pair
    ia = a.instance()
    _, address, secret, _ = _registry()[ia]
    victim = a.connect()
    ((cid,),) = _q(victim, "SELECT CONNECTION_ID()")
    request = json.dumps(
        {"op": "admin", "sql": f"KILL {cid}", "user": "root", "privileges": ["connection_admin"]}
    )
    refused_before = len(a.events("control request refused"))

    def signed(key: str, nonce: str = "NONCE") -> bytes:
        # The MAC over the placeholder is wrong on purpose unless computed per nonce.
        return json.dumps({"request": request, "mac": mac(key, nonce, request)}).encode()

    try:
        forged = [
            json.dumps({"request": request}).encode(),  # no MAC at all
            json.dumps({"request": request, "mac": "0" * 64}).encode(),
            signed("not-the-secret"),
            signed(secret, nonce="a-replayed-nonce"),  # right key, another nonce
            b"KILL 1",
        ]
        for payload in forged:
            answer = _raw_control(address, payload, secret)
            assert answer.get("error", [None])[0] == 1045, answer
        # control_call with a wrong key: refused there, and the refusal (signed with
        # the real secret) is not taken for the instance's answer here either.
        with pytest.raises(ValueError, match="not authenticated"):
            _signed_call(address, "not-the-secret", request)
        assert _q(victim, "SELECT 1") == [(1,)]  # nothing was killed
        wait_until(
            lambda: len(a.events("control request refused")) >= refused_before + len(forged) + 1,
            5,
            "each refusal logged",
        )
        # The same request with the instance's secret over the greeting's nonce acts.
        answer = _signed_call(address, secret, request)
        assert "result" in answer, answer
        with pytest.raises(pymysql.err.OperationalError):
            _q(victim, "SELECT 1")
    finally:
        victim.close()


def test_dead_instance_is_skipped_and_reclaimed_only_when_stale(tmp_path: Path) -> None:
    _drop_ours()
    try:
        # B and C count a row live for 600 s: however slow this machine, A is still
        # "live" for them after its death (asked, and skipped, by B; not taken by C).
        fresh = {"SHARDGATE_INSTANCE_STALE_AFTER": "600"}
        with coordinator(tmp_path, "b", env=fresh) as b:
            ib = b.instance()
            with coordinator(tmp_path, "a") as a:
                ia = a.instance()
                victim = a.connect()
                ((cid,),) = _q(victim, "SELECT CONNECTION_ID()")
                holder = _registry()[ia][0]
                a.proc.kill()  # SIGKILL the process this test started: no retire
                a.proc.wait(10)
                victim.close()
            assert ia != ib and _registry()[ia][0] == holder  # the row stays behind
            conn = b.connect()
            try:
                # Still "live": asked, skipped (said so in B's log), its ids unknown.
                assert cid not in _processlist(conn)
                assert _error(lambda: _q(conn, f"KILL QUERY {cid}")) == 1094
            finally:
                conn.close()
            assert any(
                e.get("instance") == ia
                for e in b.events("coordinator instance did not answer: its sessions are left out")
            )
            # A claimer for whom the row is still fresh does not take the id ...
            with coordinator(tmp_path, "c", env=fresh) as c:
                assert c.instance() not in (ia, ib)
            # ... one for whom it is stale does (the lowest free id).
            wait_until(lambda: _registry()[ia][3] > 5.0, 15, "A's heartbeat went stale")
            with coordinator(tmp_path, "d", env={"SHARDGATE_INSTANCE_STALE_AFTER": "5"}) as d:
                assert d.instance() == ia
                assert _registry()[ia][0] != holder
            assert ia not in _registry()  # a clean shutdown deletes the row
    finally:
        _drop_ours()


def test_workers_and_plain_coordinator_share_the_fleet(tmp_path: Path) -> None:
    """``serve --workers 2`` registers one instance for both workers; a plain coordinator
    lists and kills a session of either worker through it, and the reverse."""
    _drop_ours()
    try:
        with coordinator(tmp_path, "w", workers=2) as w, coordinator(tmp_path, "p") as p:
            reg = _registry()
            assert len(reg) == 2
            marker = f"{PREFIX}wk"
            conns = [w.connect() for _ in range(4)]
            runs = [Running(c, f"SELECT SLEEP(20) AS {marker}") for c in conns]
            assert len({instance_of(r.cid) for r in runs}) == 1
            assert instance_of(runs[0].cid) != p.instance()
            killer = p.connect()
            try:
                wait_until(
                    lambda: all(r.cid in _processlist(killer) for r in runs), 10, "all listed"
                )
                for r in runs:
                    _q(killer, f"KILL QUERY {r.cid}")
                for r in runs:
                    r.join(10)
                    assert isinstance(r.error, pymysql.err.OperationalError)
                    assert r.error.args[0] == 1317
                wait_until(lambda: not _shard_statement_running(marker), 5, "shard stmts gone")
            finally:
                killer.close()
                for c in conns:
                    c.close()
            victim = p.connect()
            ((cid,),) = _q(victim, "SELECT CONNECTION_ID()")
            back = w.connect()
            try:
                assert cid in _processlist(back)
                _q(back, f"KILL {cid}")
                with pytest.raises(pymysql.err.OperationalError):
                    _q(victim, "SELECT 1")
            finally:
                back.close()
                victim.close()
    finally:
        _drop_ours()
