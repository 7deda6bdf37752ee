"""``shardgate serve --workers N``: one port, N processes, global connection ids.

The integration tests run the real command as a subprocess (embedded SQLite default in
a temporary data dir, 127.0.0.1 only) and talk to it with PyMySQL and HTTP: connections
land on both workers, PROCESSLIST and KILL work whichever worker a connection lands on,
/metrics and /status cover every worker, a SIGKILLed worker is replaced, and SIGTERM
stops everything within the drain bound. Every test stops what it started and checks
that no worker process is left behind.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sharding.server import workers
from sharding.server.workers import (
    ConnectionIds,
    budget_topology,
    encode_id,
    instance_of,
    merge_metrics,
    split_budget,
    worker_of,
)
from sharding.topology import DataSourceConfig, Topology

SHARDGATE = [sys.executable, "-m", "sharding.cli"]
#: A tableless statement that runs for minutes in SQLite unless it is interrupted.
LONG_SQL = (
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 4000000000) "
    "SELECT COUNT(*) FROM r"
)
SHUTDOWN_TIMEOUT = 3.0


# -- units --------------------------------------------------------------------------------


def test_connection_id_layout() -> None:
    cid = encode_id(3, 5, 7)
    assert cid < 2**31  # bit 31 clear: fits a signed 32-bit thread id
    assert (instance_of(cid), worker_of(cid), cid & 0xFFFFF) == (3, 5, 7)
    assert encode_id(0, 0, 1) == 1  # one worker, instance 0: the plain ids
    with pytest.raises(ValueError):
        encode_id(32, 0, 1)
    with pytest.raises(ValueError):
        encode_id(0, 64, 1)


def test_connection_ids_skip_live_ids_after_wrapping() -> None:
    ids = ConnectionIds(1, 2)
    first = ids.allocate(set())
    assert worker_of(first) == 2 and instance_of(first) == 1
    ids._next = 0xFFFFF  # the last local id: the next allocation wraps
    live = {encode_id(1, 2, 1), encode_id(1, 2, 2)}
    assert ids.allocate(live) == encode_id(1, 2, 0xFFFFF)
    assert ids.allocate(live) == encode_id(1, 2, 3)


def test_budget_split_sums_to_the_configured_total() -> None:
    for total in (1, 5, 32, 33):
        for n in (1, 2, 3, 8):
            shares = [split_budget(total, k, n) for k in range(n)]
            assert sum(shares) == max(total, n)  # below N, each worker still gets 1
            assert max(shares) - min(shares) <= 1
    topo = Topology.default("/nonexistent")
    mysql = DataSourceConfig(
        "m",
        "mysql",
        url="mysql://root@127.0.0.1:3306/x",
        options={"max_connections": 5, "min_idle": 3},
    )
    topo = topo.__class__(cluster=topo.cluster, datasources=(*topo.datasources, mysql))
    cut, totals = budget_topology(topo, 1, 2)
    assert totals == {"m": 5}
    m = next(d for d in cut.datasources if d.name == "m")
    assert m.options["max_connections"] == 2 and m.options["min_idle"] == 2
    assert next(d for d in cut.datasources if d.name == "ds0") == topo.datasources[0]


def test_merge_metrics_labels_every_sample_with_its_worker() -> None:
    text0 = (
        "# HELP shardgate_statements_total statements\n# TYPE shardgate_statements_total counter\n"
        'shardgate_statements_total{kind="select"} 3.0\n'
    )
    text1 = text0.replace("3.0", "4.0")
    out = merge_metrics({0: text0, 1: text1}, 3).decode()
    assert 'shardgate_statements_total{kind="select",worker="0"} 3.0' in out
    assert 'shardgate_statements_total{kind="select",worker="1"} 4.0' in out
    assert out.count("# TYPE shardgate_statements_total counter") == 1
    assert 'shardgate_worker_up{worker="2"} 0.0' in out


def test_parse_workers() -> None:
    assert workers.parse_workers("auto") == max(1, min(os.cpu_count() or 1, 64))
    assert workers.parse_workers("3") == 3
    for bad in ("0", "65", "x"):
        with pytest.raises(Exception, match="workers"):
            workers.parse_workers(bad)


# -- the real command ---------------------------------------------------------------------


@dataclass
class Cluster:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int
    http_port: int
    stderr: Path

    def connect(self, **kw: Any) -> Any:
        kw.setdefault("connect_timeout", 5)
        kw.setdefault("read_timeout", 30)
        kw.setdefault("autocommit", True)
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", **kw)

    def http(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as r:
            body = r.read()
        return json.loads(body) if path.startswith("/status") else body.decode()

    def worker_pids(self) -> dict[int, int]:
        return {w["worker"]: w["pid"] for w in self.http("/status")["workers"] if w["up"]}

    def children(self) -> set[int]:
        """Live processes whose parent is the supervisor (from /proc)."""
        out = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                        out.add(int(entry.name))
        return out

    def connection_on(self, worker: int, tries: int = 64) -> tuple[Any, int]:
        """A connection that landed on ``worker`` (and its id)."""
        extra = []
        try:
            for _ in range(tries):
                conn = self.connect()
                cid = conn.thread_id()
                if worker_of(cid) == worker:
                    return conn, cid
                extra.append(conn)
        finally:
            for c in extra:
                c.close()
        raise AssertionError(f"no connection landed on worker {worker} in {tries} tries")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped) counts as gone.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def _prepare(data_dir: Path) -> None:
    """One table in the data dir before the workers start (each worker loads the
    catalog at start-up; a fresh embedded default with no table at all refuses even
    tableless statements with "transaction() needs the physical databases")."""
    import trio

    from sharding.coordinator import Coordinator

    async def create() -> None:
        async with Coordinator(Topology.default(data_dir)) as coord:
            await coord.execute("CREATE TABLE t (id INT PRIMARY KEY)")

    data_dir.mkdir(parents=True, exist_ok=True)
    trio.run(create)


_SERVER_TOML = (
    f"[server]\nshutdown_timeout = {SHUTDOWN_TIMEOUT}\n"
    "[[server.users]]\nname = 'root'\npassword = ''\nprivileges = ['all']\n"
)


@contextlib.contextmanager
def serve(tmp_path: Path, n: int = 2, topology: str | None = None) -> Iterator[Cluster]:
    """``serve --workers n`` on the embedded default (or ``topology`` TOML sections)."""
    if topology is None:
        _prepare(tmp_path / "data")
        topology = "[executor]\nbuckets = 2\n"
    cfg = tmp_path / "service.toml"
    cfg.write_text(topology + "\n" + _SERVER_TOML)
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [
                *SHARDGATE,
                "serve",
                "--workers",
                str(n),
                "--config",
                str(cfg),
                "--listen",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--data-dir",
                str(tmp_path / "data"),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=err,
        )
    pids: set[int] = set()
    try:
        assert proc.stdout is not None
        line = _readline(proc, timeout=90)
        m = re.search(
            rb"on 127\.0\.0\.1:(\d+), admin port (\d+), http port (\d+) \((\d+) workers\)", line
        )
        assert m, (line, stderr.read_text()[-3000:])
        cluster = Cluster(proc, int(m[1]), int(m[2]), int(m[3]), stderr)
        pids = cluster.children()
        assert len(pids) == n
        yield cluster
        pids |= cluster.children()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(SHUTDOWN_TIMEOUT + 15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        leaked = [p for p in pids if _alive(p)]
        for p in leaked:
            os.kill(p, signal.SIGKILL)
        assert not leaked, f"worker processes left behind: {leaked}"


def _readline(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The supervisor's ready line (a thread, so a hung start fails the test in time)."""
    out: list[bytes] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    t = threading.Thread(target=lambda: out.append(stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not out:
        proc.kill()
        raise AssertionError("serve --workers printed no ready line in time")
    return out[0]


def _query(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def test_two_workers_share_the_port_processlist_kill_metrics(tmp_path: Path) -> None:
    with serve(tmp_path) as cluster:
        # Connections land on both workers; each id carries its worker.
        conns = [cluster.connect() for _ in range(24)]
        try:
            ids = [_query(c, "SELECT CONNECTION_ID()")[0][0] for c in conns]
            assert ids == [c.thread_id() for c in conns]
            assert {worker_of(i) for i in ids} == {0, 1}
            assert len(set(ids)) == len(ids)
            # PROCESSLIST from any connection shows both workers' sessions.
            for c in (
                conns[0],
                next(
                    c for c, i in zip(conns, ids, strict=True) if worker_of(i) != worker_of(ids[0])
                ),
            ):
                listed = {r[0] for r in _query(c, "SHOW PROCESSLIST")}
                assert set(ids) <= listed
                full = {r[0] for r in _query(c, "SELECT * FROM information_schema.PROCESSLIST")}
                assert set(ids) <= full
        finally:
            for c in conns:
                c.close()

        # KILL QUERY from a connection on the other worker cancels a long statement.
        victim, vid = cluster.connection_on(0)
        killer, _ = cluster.connection_on(1)
        errors: list[BaseException] = []

        def run_long() -> None:
            try:
                _query(victim, LONG_SQL)
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=run_long, daemon=True)
        started = time.monotonic()
        t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the victim runs its statement
            rows = {r[0]: r for r in _query(killer, "SHOW FULL PROCESSLIST")}
            if rows.get(vid) is not None and rows[vid][4] == "Query":
                break
            time.sleep(0.05)
        assert rows[vid][7] == LONG_SQL
        _query(killer, f"KILL QUERY {vid}")
        t.join(15)
        assert not t.is_alive(), "KILL QUERY from the other worker did not stop the statement"
        assert time.monotonic() - started < 15
        assert isinstance(errors[0], pymysql.err.OperationalError), errors
        assert errors[0].args[0] == 1317, errors  # ER_QUERY_INTERRUPTED
        assert _query(victim, "SELECT 1") == [(1,)]  # the connection survives

        # Unknown ids: 1094 whichever worker they name.
        for bogus in (encode_id(0, 0, 99999), encode_id(0, 1, 99999), encode_id(0, 7, 1)):
            with pytest.raises(pymysql.err.OperationalError) as info:
                _query(killer, f"KILL {bogus}")
            assert info.value.args[0] == 1094
        # KILL (connection) across workers, by statement and by COM_PROCESS_KILL.
        _query(killer, f"KILL {vid}")
        with pytest.raises(pymysql.err.OperationalError) as info:
            _query(victim, "SELECT 1")
        assert info.value.args[0] in (2006, 2013)
        victim2, vid2 = cluster.connection_on(0)
        killer.kill(vid2)
        with pytest.raises(pymysql.err.OperationalError):
            _query(victim2, "SELECT 1")
        deadline = time.monotonic() + 5  # the owner unregisters it once its task ends
        while vid2 in {r[0] for r in _query(killer, "SHOW PROCESSLIST")}:
            assert time.monotonic() < deadline, "killed connection still listed"
            time.sleep(0.05)
        with pytest.raises(pymysql.err.OperationalError) as info:
            killer.kill(vid2)  # gone now
        assert info.value.args[0] == 1094
        killer.close()

        # DDL through one worker is seen by the other before it returns OK.
        on0, _ = cluster.connection_on(0)
        on1, _ = cluster.connection_on(1)
        _query(on0, "CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(10))")
        _query(on0, "INSERT INTO kv VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        assert _query(on1, "SELECT k, v FROM kv ORDER BY k") == [(1, "a"), (2, "b"), (3, "c")]
        _query(on1, "DROP TABLE kv")
        with pytest.raises(pymysql.err.ProgrammingError) as perr:
            _query(on0, "SELECT k FROM kv")
        assert perr.value.args[0] == 1146  # ER_NO_SUCH_TABLE
        on0.close()
        on1.close()

        # /metrics covers both workers; /status lists both.
        metrics = cluster.http("/metrics")
        for k in (0, 1):
            assert f'shardgate_worker_up{{worker="{k}"}} 1.0' in metrics
            assert re.search(
                rf'shardgate_connections_accepted_total\{{port="main",worker="{k}"\}} [1-9]',
                metrics,
            )
        status = cluster.http("/status")
        assert [w["worker"] for w in status["workers"]] == [0, 1]
        assert all(w["up"] and w["pid"] > 0 for w in status["workers"])
        assert set(cluster.worker_pids().values()) == cluster.children()

        # The status page's kill (POST /kill) reaches the owning worker too, whichever
        # worker answers the HTTP request (kills until both ways were seen).
        ways: set[str] = set()
        for attempt in range(24):
            conn, cid = cluster.connection_on(attempt % 2)
            req = urllib.request.Request(
                f"http://127.0.0.1:{cluster.http_port}/kill",
                data=json.dumps({"connection_id": cid, "query_only": False}).encode(),
                headers={
                    "content-type": "application/json",
                    "x-requested-with": "shardgate",
                    "authorization": "Basic " + base64.b64encode(b"root:").decode(),
                },
                method="POST",
            )
            with urllib.request.urlopen(req, timeout=10) as r:
                answer = json.load(r)
            assert answer["connection_id"] == cid
            ways.add("forwarded" if "worker" in answer else "local")
            with pytest.raises(pymysql.err.OperationalError):
                _query(conn, "SELECT 1")
            if len(ways) == 2:
                break
        assert ways == {"forwarded", "local"}

        # SHOW DATASOURCES says which worker's share it shows.
        with cluster.connect() as c, c.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute("SHOW DATASOURCES")
            rows = cur.fetchall()
        assert rows and all(r["workers"] == 2 and r["worker"] in (0, 1) for r in rows)


def test_killed_worker_is_replaced_and_sigterm_stops_all(tmp_path: Path) -> None:
    with serve(tmp_path) as cluster:
        before = cluster.worker_pids()
        conn, cid = cluster.connection_on(1)
        other, _ = cluster.connection_on(0)
        os.kill(before[1], signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as info:
            _query(conn, "SELECT 1")
        assert info.value.args[0] in (2006, 2013)  # a clean "lost connection", no hang
        assert time.monotonic() - started < 5
        assert _query(other, "SELECT 1") == [(1,)]  # the other worker's clients are untouched
        # The supervisor starts a new worker 1 (new pid) and connections reach it again.
        deadline = time.monotonic() + 60
        pids: dict[int, int] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                pids = cluster.worker_pids()
                if pids.get(1) not in (None, before[1]):
                    break
            time.sleep(0.2)
        assert pids.get(1) not in (None, before[1]) and pids[0] == before[0]
        status = cluster.http("/status")
        assert next(w for w in status["workers"] if w["worker"] == 1)["start"] == 2
        fresh, fid = cluster.connection_on(1)
        assert _query(fresh, "SELECT 1") == [(1,)]
        # The dead worker's connection is not listed anywhere (its id may be reused
        # by the new worker 1, which starts counting again).
        listed = {r[0] for r in _query(fresh, "SHOW PROCESSLIST")}
        assert fid in listed and (cid not in listed or cid == fid)

        # SIGTERM: idle clients are told, every worker drains, the supervisor exits 0.
        children = cluster.children()
        cluster.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        code = cluster.proc.wait(SHUTDOWN_TIMEOUT + 15)
        assert code == 0
        assert time.monotonic() - t0 < SHUTDOWN_TIMEOUT + 5
        for c in (other, fresh):
            with pytest.raises(pymysql.err.OperationalError):
                _query(c, "SELECT 1")
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in children if _alive(p)]


def test_sigterm_drains_then_cancels_a_running_statement(tmp_path: Path) -> None:
    """Drain semantics through the supervisor: a statement running at SIGTERM is
    cancelled at the drain bound, and the whole tree is gone shortly after."""
    with serve(tmp_path) as cluster:
        conn, _ = cluster.connection_on(0)
        errors: list[BaseException] = []

        def run_long() -> None:
            try:
                _query(conn, LONG_SQL)
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=run_long, daemon=True)
        t.start()
        time.sleep(0.5)
        cluster.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        # New connections are refused while draining (or the port is already closed).
        time.sleep(0.3)
        with pytest.raises(pymysql.err.OperationalError):
            _query(cluster.connect(), "SELECT 1")
        code = cluster.proc.wait(SHUTDOWN_TIMEOUT + 15)
        elapsed = time.monotonic() - t0
        assert code == 0
        assert SHUTDOWN_TIMEOUT - 0.5 <= elapsed < SHUTDOWN_TIMEOUT + 6
        t.join(5)
        assert errors and isinstance(errors[0], pymysql.err.OperationalError)


@pytest.mark.mysql
def test_mariadb_budget_split_and_ddl_across_workers(tmp_path: Path) -> None:
    """In front of MariaDB: each worker's pool is its share of ``max_connections``
    (SHOW DATASOURCES says so) and a table created through one worker is usable at once
    through the other."""
    from tests.conftest import MYSQL_HOST, MYSQL_PORT

    catalog, database = "sgwrk_wcatalog", "sgwrk_wdb"
    topology = (
        f"[cluster]\ndatabase = '{database}'\ncatalog = '{catalog}'\ndefault_shards = 4\n\n"
        "[executor]\nbuckets = 2\n\n"
        "[[datasources]]\nname = 'm0'\nkind = 'mysql'\n"
        f"url = 'mysql://root:@{MYSQL_HOST}:{MYSQL_PORT}'\nmax_connections = 5\n"
    )

    def drop_all() -> None:
        with (
            pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="") as c,
            c.cursor() as cur,
        ):
            cur.execute("SHOW DATABASES LIKE 'sgwrk\\_w%'")
            for (name,) in cur.fetchall():
                cur.execute(f"DROP DATABASE `{name}`")

    drop_all()
    try:
        with serve(tmp_path, topology=topology) as cluster:
            shares = {}
            for k in (0, 1):
                conn, _ = cluster.connection_on(k)
                with conn.cursor(pymysql.cursors.DictCursor) as cur:
                    cur.execute("SHOW DATASOURCES")
                    (row,) = cur.fetchall()
                assert (row["name"], row["worker"], row["workers"]) == ("m0", k, 2)
                assert row["budget_total"] == 5
                shares[k] = row["max_size"]
                conn.close()
            assert shares == {0: 3, 1: 2}  # 5 split: never more than 5 in all

            # Periodic XA recovery: one lease per server (the only one here is m0's),
            # held by one of the two workers (an XA owner with a live heartbeat).
            def lease_rows() -> list[tuple[Any, ...]]:
                with (
                    pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root") as c,
                    c.cursor() as cur,
                ):
                    cur.execute("SELECT @@hostname, @@port, @@server_id")
                    ((host, port, server_id),) = cur.fetchall()
                    cur.execute(
                        f"SELECT CAST(name AS CHAR), l.expires > NOW(6), o.info "
                        f"FROM {catalog}.leases l JOIN {catalog}.xa_owners o ON o.owner = l.holder "
                        "WHERE name LIKE 'xa\\_recovery%'"
                    )
                    rows = list(cur.fetchall())
                    assert not rows or rows[0][0] == f"xa_recovery/{host}:{port}/{server_id}"
                    return rows

            deadline = time.monotonic() + 10
            rows: list[tuple[Any, ...]] = []
            while time.monotonic() < deadline:
                with contextlib.suppress(pymysql.err.ProgrammingError):  # not created yet
                    rows = lease_rows()
                if rows:
                    break
                time.sleep(0.2)
            assert len(rows) == 1 and rows[0][1] == 1, rows
            holder_pid = int(rows[0][2].rsplit(":", 1)[1])
            assert holder_pid in set(cluster.worker_pids().values()), rows

            on0, _ = cluster.connection_on(0)
            on1, _ = cluster.connection_on(1)
            _query(on1, "CREATE TABLE kv (k INT PRIMARY KEY, v INT)")
            _query(on1, "INSERT INTO kv VALUES (1, 10), (2, 20), (3, 30), (4, 40)")
            assert _query(on0, "SELECT SUM(v), COUNT(*) FROM kv") == [(100, 4)]
            _query(on0, "DROP TABLE kv")
            with pytest.raises(pymysql.err.ProgrammingError) as info:
                _query(on1, "SELECT * FROM kv")
            assert info.value.args[0] == 1146
            on0.close()
            on1.close()
    finally:
        drop_all()


@pytest.mark.mysql
def test_mariadb_kill_query_from_the_other_worker_cancels_the_shard_reads(tmp_path: Path) -> None:
    """In front of MariaDB: a scatter read running on worker 0 is stopped by ``KILL
    QUERY`` sent through a connection on worker 1 — the client gets 1317 at once, and
    every shard query it had running on MariaDB is gone too (not left to finish)."""
    from tests.conftest import MYSQL_HOST, MYSQL_PORT

    catalog, database = "sgwrk_kcatalog", "sgwrk_kdb"
    topology = (
        f"[cluster]\ndatabase = '{database}'\ncatalog = '{catalog}'\ndefault_shards = 4\n\n"
        "[executor]\nbuckets = 2\n\n"
        "[[datasources]]\nname = 'm0'\nkind = 'mysql'\n"
        f"url = 'mysql://root:@{MYSQL_HOST}:{MYSQL_PORT}'\n"
    )

    def direct(sql: str) -> list[tuple[Any, ...]]:
        with (
            pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="") as c,
            c.cursor() as cur,
        ):
            cur.execute(sql)
            return list(cur.fetchall())

    def drop_all() -> None:
        for (name,) in direct("SHOW DATABASES LIKE 'sgwrk\\_k%'"):
            direct(f"DROP DATABASE `{name}`")

    # Each shard query sleeps 30 s per row: only a cancel ends it in time. The marker
    # is split in the watcher's own text, so that it never counts itself.
    marker = "sgwrk_kill_marker"
    running = (
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE INFO LIKE CONCAT('%', 'sgwrk_kill', '_marker%')"
    )
    drop_all()
    try:
        with serve(tmp_path, topology=topology) as cluster:
            victim, vid = cluster.connection_on(0)
            killer, _ = cluster.connection_on(1)
            _query(victim, "CREATE TABLE kv (k INT PRIMARY KEY, v INT)")
            _query(victim, "INSERT INTO kv VALUES (1, 1), (2, 2), (3, 3), (4, 4)")
            errors: list[BaseException] = []

            def run_long() -> None:
                try:
                    _query(victim, f"SELECT k, SLEEP(30) AS {marker} FROM kv")
                except BaseException as exc:
                    errors.append(exc)

            t = threading.Thread(target=run_long, daemon=True)
            t.start()
            deadline = time.monotonic() + 15
            while not direct(running)[0][0]:  # the scatter reached the shards
                assert time.monotonic() < deadline, "the shard reads never started"
                time.sleep(0.05)
            started = time.monotonic()
            _query(killer, f"KILL QUERY {vid}")
            t.join(10)
            assert not t.is_alive(), "KILL QUERY from the other worker did not stop the read"
            assert errors and isinstance(errors[0], pymysql.err.OperationalError), errors
            assert errors[0].args[0] == 1317, errors  # ER_QUERY_INTERRUPTED
            deadline = time.monotonic() + 5
            while direct(running)[0][0]:
                assert time.monotonic() < deadline, "shard reads left running on MariaDB"
                time.sleep(0.05)
            print(
                f"statement and shard reads cancelled {time.monotonic() - started:.2f}s after KILL QUERY"
            )
            assert _query(victim, "SELECT COUNT(*) FROM kv") == [(4,)]  # the session lives on
            victim.close()
            killer.close()
    finally:
        drop_all()


@pytest.mark.mysql
async def test_recovery_lease_has_one_holder_and_moves_when_not_renewed(mysql_url: str) -> None:
    """The XA recovery leases (sharding.backend.lease): one holder at a time per name,
    renewed by its holder, taken over once it expires, given up at once by release."""
    import trio

    from sharding.backend.lease import hold_lease, hold_leases, release_lease, release_leases
    from sharding.backend.mysql import MySQLDataSource

    catalog = "sgwrk_lease"
    ds = MySQLDataSource.from_config("m", {"url": mysql_url})
    try:
        await ds.execute(f"DROP DATABASE IF EXISTS {catalog}")
        assert await hold_lease(ds, catalog, "xa_recovery", "a", 1.0)  # creates the table
        assert not await hold_lease(ds, catalog, "xa_recovery", "b", 1.0)
        assert await hold_lease(ds, catalog, "other", "b", 1.0)  # a lease per name
        await trio.sleep(0.6)
        assert await hold_lease(ds, catalog, "xa_recovery", "a", 1.0)  # renewed
        await trio.sleep(0.6)
        assert not await hold_lease(ds, catalog, "xa_recovery", "b", 1.0)  # still a's
        await trio.sleep(0.6)  # a stopped renewing 1.2 s ago: expired
        assert await hold_lease(ds, catalog, "xa_recovery", "b", 1.0)
        assert not await hold_lease(ds, catalog, "xa_recovery", "a", 1.0)
        await release_lease(ds, catalog, "xa_recovery", "a")  # not a's: no effect
        assert not await hold_lease(ds, catalog, "xa_recovery", "a", 1.0)
        await release_lease(ds, catalog, "xa_recovery", "b")
        assert await hold_lease(ds, catalog, "xa_recovery", "a", 1.0)
        # A set in one round trip (XA recovery: one lease per server): each name is
        # taken where free and kept where another holds it.
        assert await hold_leases(ds, catalog, ["s/1", "s/2"], "a", 5.0) == {"s/1", "s/2"}
        assert await hold_leases(ds, catalog, ["s/3", "s/2"], "b", 5.0) == {"s/3"}
        await release_leases(ds, catalog, ["s/1", "s/2", "s/3"], "a")  # only a's go
        assert await hold_leases(ds, catalog, ["s/1", "s/2", "s/3"], "b", 5.0) == {
            "s/1",
            "s/2",
            "s/3",
        }
        assert await hold_leases(ds, catalog, [], "b", 5.0) == set()
    finally:
        await ds.execute(f"DROP DATABASE IF EXISTS {catalog}")
        await ds.aclose()


def test_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        out = subprocess.run(
            [
                *SHARDGATE,
                "serve",
                "--workers",
                "2",
                "--listen",
                f"127.0.0.1:{port}",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert out.returncode == 1
    assert f"127.0.0.1:{port} ([server] listen): port already in use".encode() in out.stderr


def test_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    with serve(tmp_path) as cluster:
        conn, _ = cluster.connection_on(1)
        t = threading.Thread(target=lambda: _run_quietly(conn, LONG_SQL), daemon=True)
        t.start()
        time.sleep(0.5)
        cluster.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        t0 = time.monotonic()
        cluster.proc.send_signal(signal.SIGTERM)  # second: no drain
        assert cluster.proc.wait(SHUTDOWN_TIMEOUT + 15) == 0
        assert time.monotonic() - t0 < SHUTDOWN_TIMEOUT - 1
        t.join(5)


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    with serve(tmp_path) as cluster:
        pids = cluster.children()
        args = Path(f"/proc/{min(pids)}/cmdline").read_text().split("\0")
        run_dir = Path(args[args.index("--run-dir") + 1])
        assert run_dir.is_dir()
        cluster.proc.kill()  # SIGKILL: no forwarding; the workers notice by themselves
        cluster.proc.wait(10)
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)]
        assert not run_dir.exists()  # the last worker out removed it


def _run_quietly(conn: Any, sql: str) -> None:
    with contextlib.suppress(pymysql.err.MySQLError):
        _query(conn, sql)
