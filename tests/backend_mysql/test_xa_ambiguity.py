"""XA faults at the worst moment (issue 12, item 1): the decision write's reply is lost.

Two servers: the shared MariaDB (3306) reached through :class:`DropProxy`, which holds
the decision log, and a private mariadbd. The proxy forwards everything but loses the
reply to exactly the ``INSERT`` of the ``'commit'`` decision (after the server ran it),
so the coordinator cannot know whether its decision is stored:

* the re-read on another connection finds ``'commit'`` → the write succeeds everywhere;
* the log stays unreachable → 1180 "outcome unknown" naming the XID, nothing rolled
  back, every branch still prepared; recovery commits them exactly once when it heals.

Then: a decision write lost *before* the server saw it (the re-read finds no row, our
own 'abort' wins, then everything rolls back) and one that definitely failed (rolled
back, saying exactly where); recovery's owner rules (own leftovers, live / dead /
unknown owners); a coordinator killed after PREPARE has its branches resolved by
another coordinator within seconds through its stale heartbeat (not the old 10 s + 30 s
wait); and a coordinator finishes its own unknown outcome once the log heals.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

import sharding.backend.xa as xa
import sharding.exec.xa as xa_exec
from sharding import Coordinator, Topology
from sharding.backend.mysql import MySQLDataSource
from sharding.backend.xa import (
    CATALOG_DB,
    FAULT_ENV,
    FORMAT_ID,
    LOG_TABLE,
    OWNERS_TABLE,
    catalog_tag,
    ensure_xa_log,
    gtrid_owner,
    heartbeat,
    local_owner,
    new_gtrid,
    recover,
    retire_owner,
    run_xa,
    xid_sql,
)
from sharding.errors import (
    DataSourceUnavailable,
    ShardgateError,
    TransactionError,
    XAOutcomeUnknown,
)
from tests.backend_mysql.conftest import make_ds
from tests.backend_mysql.xa_drop_proxy import DropProxy
from tests.conftest import MYSQL_HOST, MYSQL_PORT, MYSQL_URL
from tests.mysqld import PrivateMariaDB, free_port

pytestmark = pytest.mark.mysql

ROOT = Path(__file__).resolve().parents[2]
DB = f"sgxa_amb{os.getpid()}"
#: Recovery passes in these tests never touch other people's young undecided xids on
#: the shared server (ours are resolved by the owner rules whatever min_age says).
NEIGHBOURLY_MIN_AGE = 3600.0


@dataclass
class Env:
    proxy: DropProxy
    a: MySQLDataSource  # shared server through the proxy; holds the decision log
    b: MySQLDataSource  # private server
    direct_a: MySQLDataSource  # shared server, not through the proxy (for checks)


@pytest.fixture
async def env(private: PrivateMariaDB) -> AsyncIterator[Env]:
    proxy = DropProxy(MYSQL_PORT, upstream_host=MYSQL_HOST)
    fast = {"breaker_probe_interval": 0.2, "acquire_timeout": 2.0, "connect_timeout": 1.0}
    e = Env(
        proxy,
        make_ds("sgxa_a", proxy.url, **fast),
        make_ds("sgxa_b", private.url),
        make_ds("sgxa_direct", MYSQL_URL),
    )
    try:
        for ds in (e.direct_a, e.b):
            await ds.open()
            await ds.ensure_database(DB)
            await ds.execute(
                f"CREATE TABLE IF NOT EXISTS {DB}.t (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB"
            )
            await ds.execute(f"DELETE FROM {DB}.t")
        await ensure_xa_log(e.direct_a)
        await e.a.open()
        yield e
    finally:
        proxy.close()
        with trio.move_on_after(20), contextlib.suppress(ShardgateError):
            # A failed test may leave this process's branches prepared (their row locks
            # would stall the next test): resolve them by the log, as recovery would.
            await recover([e.direct_a, e.b], log_ds=e.direct_a, min_age=NEIGHBOURLY_MIN_AGE)
        for ds in (e.direct_a, e.b):
            with trio.move_on_after(10):
                await ds.execute(f"DROP DATABASE IF EXISTS {DB}")
        for ds in (e.a, e.b, e.direct_a):
            await ds.aclose()


async def prepared_gtrids(ds: MySQLDataSource) -> set[str]:
    rs = await ds.fetch("XA RECOVER")
    out = set()
    for row in rs.rows:
        if int(row[0]) == FORMAT_ID:
            data = row[3] if isinstance(row[3], bytes) else str(row[3]).encode()
            out.add(data[: int(row[1])].decode())
    return out


async def count(ds: MySQLDataSource, row_id: int) -> int:
    rs = await ds.fetch(f"SELECT COUNT(*) FROM {DB}.t WHERE id = {row_id}")
    return int(rs.rows[0][0])


async def decision(ds: MySQLDataSource, gtrid: str) -> str | None:
    rs = await ds.fetch(f"SELECT decision FROM {LOG_TABLE} WHERE gtrid = '{gtrid}'")
    return None if not rs.rows else str(rs.rows[0][0])


async def com_xa(ds: MySQLDataSource, what: str) -> int:
    rs = await ds.fetch(f"SHOW GLOBAL STATUS LIKE 'Com_xa_{what}'")
    return int(rs.rows[0][1])


def assert_quiet(*sources: MySQLDataSource) -> None:
    """No borrowed, waiting, opening connection and no statement on the wire; no XA
    write of this process still marked in flight."""
    for ds in sources:
        st = ds.statistics()
        assert (st.in_use, st.waiting, st.extra["opening"], st.extra["inflight"]) == (0, 0, 0, 0), (
            ds.name,
            st,
        )
    assert local_owner().inflight == set()


def insert(row_id: int, v: str) -> str:
    return f"INSERT INTO {DB}.t VALUES ({row_id}, '{v}')"


async def test_lost_reply_to_a_stored_commit_is_read_back_and_commits(env: Env) -> None:
    env.proxy.arm("keep")
    with trio.fail_after(30):
        res = await run_xa({env.a: [insert(1, "a")], env.b: [insert(1, "b")]}, log_ds=env.a)
    assert env.proxy.dropped == 1  # the decision's reply really was lost
    after = env.proxy.queries_after_drop()
    # The decision was read back on another connection, found, and never overruled.
    assert any(q.startswith(f"SELECT decision FROM {LOG_TABLE}".encode()) for q in after), after
    assert not any(b"'abort'" in q or q.startswith(b"XA ROLLBACK") for q in after), after
    assert any(q.startswith(b"XA COMMIT") for q in after), after
    assert (await count(env.direct_a, 1), await count(env.b, 1)) == (1, 1)
    assert res.gtrid not in await prepared_gtrids(env.direct_a) | await prepared_gtrids(env.b)
    assert await decision(env.direct_a, res.gtrid) is None  # resolved everywhere: row removed
    assert env.a.statistics().closed >= 1  # the connection that lost the reply was discarded
    assert_quiet(env.a, env.b)


async def test_decision_lost_before_the_server_aborts_by_the_log_and_rolls_back(env: Env) -> None:
    # Same symptom for the client (the connection drops after the INSERT was sent), but
    # the server never got it: the re-read finds no row, our 'abort' wins the primary
    # key, and only then is everything rolled back.
    env.proxy.arm("keep", forward=False)
    with trio.fail_after(30), pytest.raises(TransactionError) as info:
        await run_xa({env.a: [insert(4, "a")], env.b: [insert(4, "b")]}, log_ds=env.a)
    msg = str(info.value)
    assert not isinstance(info.value, XAOutcomeUnknown)
    assert info.value.code == 1180
    found = re.search(
        r"XA (sg-[0-9a-f-]+): not committed \(the commit decision was not stored", msg
    )
    assert found, msg
    assert msg.endswith("rolled back on sgxa_a, sgxa_b"), msg
    after = env.proxy.queries_after_drop()
    assert any(b"'abort'" in q for q in after), after  # the abort decision was recorded first
    assert await decision(env.direct_a, found.group(1)) == "abort"
    assert (await count(env.direct_a, 4), await count(env.b, 4)) == (0, 0)
    assert found.group(1) not in await prepared_gtrids(env.direct_a) | await prepared_gtrids(env.b)
    assert_quiet(env.a, env.b)
    await env.direct_a.execute(f"DELETE FROM {LOG_TABLE} WHERE gtrid = '{found.group(1)}'")


async def test_unreachable_log_after_a_lost_reply_leaves_everything_prepared(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xa, "DECISION_RESOLVE_TIMEOUT", 1.5)
    rollbacks_before = await com_xa(env.b, "rollback")
    env.proxy.arm("refuse")
    started = time.monotonic()
    with trio.fail_after(30), pytest.raises(XAOutcomeUnknown) as info:
        await run_xa({env.a: [insert(2, "a")], env.b: [insert(2, "b")]}, log_ds=env.a)
    assert time.monotonic() - started < 10  # bounded re-reads, then an answer
    err = info.value
    assert isinstance(err, TransactionError)
    assert (err.code, err.sqlstate) == (1180, "HY000")
    found = re.search(r"XA (sg-[0-9a-f-]+)", str(err))
    assert found, str(err)
    gtrid = found.group(1)
    assert gtrid_owner(gtrid) == local_owner().id
    assert "outcome unknown" in str(err) and "recovery will finish it" in str(err)
    assert "nothing was rolled back" in str(err)
    assert "Lost connection" not in str(err)  # client libraries would drop *their* connection
    assert env.proxy.dropped == 1 and env.proxy.refused >= 1  # re-reads were attempted
    # Nothing was rolled back: the private branch is still prepared, the decision
    # stored. (The shared server's branch is prepared too — unless a coordinator of
    # someone else's test on the shared server already ran recovery, which commits it
    # by the shared log: committed, never rolled back.)
    assert gtrid in await prepared_gtrids(env.b)
    assert await com_xa(env.b, "rollback") == rollbacks_before
    assert await decision(env.direct_a, gtrid) == "commit"
    shared_prepared = gtrid in await prepared_gtrids(env.direct_a)
    assert await count(env.b, 2) == 0
    assert shared_prepared or await count(env.direct_a, 2) == 1
    assert_quiet(env.a, env.b)

    env.proxy.heal()
    report = None
    with trio.fail_after(20):
        while report is None:
            try:
                report = await recover([env.a, env.b], log_ds=env.a, min_age=NEIGHBOURLY_MIN_AGE)
            except DataSourceUnavailable:  # the breaker reopens after its probe interval
                await trio.sleep(0.2)
    assert ("sgxa_b", gtrid) in report.committed  # (and sgxa_a's, unless done already)
    assert not [g for _, g in report.rolled_back if g == gtrid]
    assert (await count(env.direct_a, 2), await count(env.b, 2)) == (1, 1)
    again = await recover([env.a, env.b], log_ds=env.a, min_age=NEIGHBOURLY_MIN_AGE)
    assert gtrid not in {g for _, g in again.committed + again.rolled_back}
    assert gtrid not in await prepared_gtrids(env.direct_a) | await prepared_gtrids(env.b)
    assert (await count(env.direct_a, 2), await count(env.b, 2)) == (1, 1)  # exactly once
    assert_quiet(env.a, env.b)


async def test_decision_definitely_not_recorded_rolls_back_and_says_where(env: Env) -> None:
    # The private server has no decision log: the INSERT fails with 1146, a definite
    # server error, so the decision is certainly not stored and rolling back is right.
    with trio.fail_after(30), pytest.raises(TransactionError) as info:
        await run_xa({env.direct_a: [insert(3, "a")], env.b: [insert(3, "b")]}, log_ds=env.b)
    msg = str(info.value)
    assert not isinstance(info.value, XAOutcomeUnknown)
    assert "could not be recorded" in msg and "doesn't exist" in msg, msg
    assert "rolled back on sgxa_b, sgxa_direct" in msg and "not confirmed" not in msg, msg
    assert (await count(env.direct_a, 3), await count(env.b, 3)) == (0, 0)
    assert not {g for g in await prepared_gtrids(env.b) if gtrid_owner(g) == local_owner().id}
    assert_quiet(env.direct_a, env.b)


async def _prepare_detached(ds: MySQLDataSource, gtrid: str) -> None:
    """A prepared branch whose session is gone (as a crashed coordinator leaves it)."""
    async with ds.connection() as conn:
        xid = xid_sql(gtrid, ds.name)
        for sql in (
            f"XA START {xid}",
            f"INSERT INTO {DB}.t VALUES ({secrets.randbelow(10**9) + 1000}, 'p')",
            f"XA END {xid}",
            f"XA PREPARE {xid}",
        ):
            await conn.execute(sql)
        thread_id = conn.thread_id
        pc = conn._lease.pc
        assert pc is not None
        pc.broken = True  # closed on release: the server detaches the prepared branch
    with trio.fail_after(10):
        while (  # noqa: ASYNC110 (server state, no event)
            await ds.fetch(
                f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {thread_id}"
            )
        ).rows[0][0]:
            await trio.sleep(0.02)


async def test_recovery_owner_rules(env: Env) -> None:
    me = local_owner()
    live, dead, unknown, long_dead = (secrets.token_hex(6) for _ in range(4))
    g = {
        "mine_inflight": new_gtrid(me.id),
        "mine_left": new_gtrid(me.id),
        "live": new_gtrid(live),
        "dead": new_gtrid(dead),
        "unknown": new_gtrid(unknown),
        "old_format": f"sg-{int(time.time() * 1000):x}-{secrets.token_hex(8)}",
    }
    log_ds = env.direct_a
    await log_ds.execute(
        f"INSERT INTO {OWNERS_TABLE} (owner, heartbeat_at) VALUES "
        f"('{live}', NOW(6)), ('{dead}', NOW(6) - INTERVAL 30 SECOND), "
        f"('{long_dead}', NOW(6) - INTERVAL {xa.OWNER_FORGET_AFTER + 60} SECOND)"
    )
    try:
        for gtrid in g.values():
            await _prepare_detached(env.b, gtrid)
        me.inflight.add(g["mine_inflight"])
        stale = await heartbeat(log_ds)
        assert dead in stale and live not in stale and me.id not in stale
        report = await recover([env.b], log_ds=log_ds, min_age=NEIGHBOURLY_MIN_AGE)
        resolved = {gt for _, gt in report.rolled_back}
        # Resolved now: our own leftover, and the dead owner's (stale heartbeat).
        assert {g["mine_left"], g["dead"]} <= resolved
        # Left alone: in flight here, a live owner's, and owners that never registered.
        kept = {g["mine_inflight"], g["live"], g["unknown"], g["old_format"]}
        assert not kept & resolved and kept <= {gt for _, gt in report.skipped}
        assert kept <= await prepared_gtrids(env.b)
        # A long-dead owner with nothing left is forgotten (another coordinator on the
        # shared catalog may have done it first); a recently dead one's row stays a while
        # (evidence for coordinators that know other data sources), the live one too.
        rows = await log_ds.fetch(
            f"SELECT owner FROM {OWNERS_TABLE} WHERE owner IN ('{live}', '{long_dead}')"
        )
        assert [r[0] if isinstance(r[0], str) else r[0].decode() for r in rows.rows] == [live]
        assert await decision(log_ds, g["dead"]) == "abort"  # a late owner could not commit it
        # Once not in flight, our own is resolved whatever min_age says.
        me.inflight.discard(g["mine_inflight"])
        report = await recover([env.b], log_ds=log_ds, min_age=NEIGHBOURLY_MIN_AGE)
        assert g["mine_inflight"] in {gt for _, gt in report.rolled_back}
    finally:
        me.inflight.discard(g["mine_inflight"])
        left = await prepared_gtrids(env.b)
        for gtrid in g.values():
            if gtrid in left:
                await env.b.execute(f"XA ROLLBACK {xid_sql(gtrid, env.b.name)}")
        hexes = ", ".join(f"'{x}'" for x in g.values())
        await log_ds.execute(f"DELETE FROM {LOG_TABLE} WHERE gtrid IN ({hexes})")
        await log_ds.execute(
            f"DELETE FROM {OWNERS_TABLE} WHERE owner IN ('{live}', '{dead}', '{long_dead}')"
        )
        await retire_owner(log_ds)  # heartbeat() registered this process: leave no stale row
    assert_quiet(env.b, log_ds)


async def test_recovery_leaves_another_clusters_xids_alone(env: Env) -> None:
    """Two clusters (catalogs) using one server: a branch of the other cluster has no
    decision in this cluster's log, however old it is and however dead its owner; this
    cluster's recovery must not abort it (the other's log may say 'commit'). Its own
    branches, and untagged ones of the older format, are resolved as before."""
    dead = secrets.token_hex(6)
    log_ds = env.direct_a  # the default catalog
    old_ms = int((time.time() - 3600) * 1000)  # an hour old: past any min_age

    def gtrid(suffix: str) -> str:
        return f"sg-{old_ms:x}-{dead}-{secrets.token_hex(8)}{suffix}"

    g = {
        "other": gtrid("-" + catalog_tag("sgxa19_other_catalog")),
        "ours": gtrid("-" + catalog_tag(CATALOG_DB)),
        "untagged": gtrid(""),
    }
    assert all(len(x) <= 64 and gtrid_owner(x) == dead for x in g.values())
    assert new_gtrid(catalog=CATALOG_DB).endswith("-" + catalog_tag(CATALOG_DB))
    await log_ds.execute(
        f"INSERT INTO {OWNERS_TABLE} (owner, heartbeat_at) VALUES ('{dead}', NOW(6) - INTERVAL 30 SECOND)"
    )
    try:
        for x in g.values():
            await _prepare_detached(env.b, x)
        # The private server holds only this test's branches: any min_age is safe here.
        report = await recover([env.b], log_ds=log_ds, min_age=0.0)
        assert {g["ours"], g["untagged"]} <= {x for _, x in report.rolled_back}
        touched = report.committed + report.rolled_back + report.skipped
        assert g["other"] not in {x for _, x in touched}
        assert g["other"] in await prepared_gtrids(env.b)
        assert await decision(log_ds, g["other"]) is None  # not even an 'abort' row
    finally:
        left = await prepared_gtrids(env.b)
        for x in g.values():
            if x in left:
                await env.b.execute(f"XA ROLLBACK {xid_sql(x, env.b.name)}")
        hexes = ", ".join(f"'{x}'" for x in g.values())
        await log_ds.execute(f"DELETE FROM {LOG_TABLE} WHERE gtrid IN ({hexes})")
        await log_ds.execute(f"DELETE FROM {OWNERS_TABLE} WHERE owner = '{dead}'")
    assert_quiet(env.b, log_ds)


async def test_a_failing_server_does_not_hold_up_recovery_of_the_others(env: Env) -> None:
    """A recovery holder whose one server is down still frees the prepared branches
    (and row locks) on its other servers in the same pass; the failure is raised after."""
    dead = secrets.token_hex(6)
    log_ds = env.direct_a
    gtrid = new_gtrid(dead, CATALOG_DB)
    down = make_ds("sgxa_down", f"mysql://root:@127.0.0.1:{free_port()}", connect_timeout=1.0)
    await log_ds.execute(
        f"INSERT INTO {OWNERS_TABLE} (owner, heartbeat_at) VALUES ('{dead}', NOW(6) - INTERVAL 30 SECOND)"
    )
    try:
        await _prepare_detached(env.b, gtrid)
        with trio.fail_after(20), pytest.raises(ShardgateError):
            # The server that fails comes first: it used to end the pass right there.
            await recover([down, env.b], log_ds=log_ds, min_age=NEIGHBOURLY_MIN_AGE)
        assert gtrid not in await prepared_gtrids(env.b)
        assert await decision(log_ds, gtrid) == "abort"
    finally:
        if gtrid in await prepared_gtrids(env.b):
            await env.b.execute(f"XA ROLLBACK {xid_sql(gtrid, env.b.name)}")
        await log_ds.execute(f"DELETE FROM {LOG_TABLE} WHERE gtrid = '{gtrid}'")
        await log_ds.execute(f"DELETE FROM {OWNERS_TABLE} WHERE owner = '{dead}'")
        await down.aclose()
    assert_quiet(env.b, log_ds)


# -- a killed coordinator, resolved by a live one through its stale heartbeat -------------

CRASH_DB = f"sgxa_crash{os.getpid()}"
#: Its own catalog (decision log, owners, recovery leases): what resolves the dead
#: coordinator's branches is this test's coordinator, never a coordinator of another
#: test process on the shared server that happens to hold a lease (and may stall).
CRASH_CATALOG = f"sgxa_crashcat{os.getpid()}"


@pytest.fixture
def crash_topology(private: PrivateMariaDB, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "xa.toml"
    path.write_text(f"""
[cluster]
database = "{CRASH_DB}"
catalog = "{CRASH_CATALOG}"
default_shards = 2

[[datasources]]
name = "ds0"
kind = "mysql"
url = "{MYSQL_URL}"

[[datasources]]
name = "ds1"
kind = "mysql"
url = "{private.url}"
""")
    yield path


@pytest.mark.parametrize("fault", ["after_prepare", "after_decision"])
async def test_killed_coordinator_is_recovered_within_seconds_by_its_stale_heartbeat(
    crash_topology: Path, private: PrivateMariaDB, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    # Neither the minimum age nor the full-pass period can resolve anything during this
    # test: only the dead owner's stale heartbeat can.
    monkeypatch.setattr(xa_exec, "UNDECIDED_MIN_AGE", NEIGHBOURLY_MIN_AGE)
    a, b = make_ds("sgxa_check0", MYSQL_URL), make_ds("sgxa_check1", private.url)
    await a.open()
    await b.open()
    try:
        async with Coordinator(
            Topology.load(crash_topology), catalog_refresh=None, xa_recovery=3600
        ) as coord:
            await coord.execute(f"DROP DATABASE IF EXISTS {CRASH_DB}")
            await coord.execute(f"CREATE DATABASE {CRASH_DB}")
            await coord.execute(
                "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) PARTITION BY HASH (id) PARTITIONS 2"
            )
            env = {**os.environ, FAULT_ENV: fault, "PYTHONPATH": str(ROOT)}
            with trio.fail_after(60):
                proc = await trio.run_process(
                    [
                        sys.executable,
                        "-m",
                        "tests.backend_mysql.xa_coordinator_crash_script",
                        str(crash_topology),
                        "INSERT INTO t VALUES (10, 'x'), (11, 'y')",
                    ],
                    cwd=ROOT,
                    env=env,
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                )
            died = time.monotonic()
            assert proc.returncode == 77, proc.stderr.decode()[-2000:]
            theirs = {
                gt
                for gt in await prepared_gtrids(a) | await prepared_gtrids(b)
                if gtrid_owner(gt) not in (None, local_owner().id)
            }
            assert theirs, "the crash left no prepared branch"
            dead_owner = {gtrid_owner(gt) for gt in theirs}
            assert len(dead_owner) == 1
            with trio.fail_after(20):
                while theirs & (await prepared_gtrids(a) | await prepared_gtrids(b)):  # noqa: ASYNC110
                    await trio.sleep(0.1)
            took = time.monotonic() - died
            print(f"dead coordinator's branches resolved after {took:.2f}s")
            # Heartbeat every 1 s, stale after 3 s: ~4 s; the margin is for a loaded CI box.
            assert took < 7.0, f"branches of the dead coordinator resolved after {took:.1f}s"
            rows = (
                await a.fetch(f"SELECT id FROM {CRASH_DB}_0000.t ORDER BY id"),
                await b.fetch(f"SELECT id FROM {CRASH_DB}_0001.t ORDER BY id"),
            )
            got = ([int(r[0]) for r in rows[0].rows], [int(r[0]) for r in rows[1].rows])
            assert got == (([], []) if fault == "after_prepare" else ([10], [11]))
            await coord.execute(f"DROP DATABASE IF EXISTS {CRASH_DB}")
            assert_quiet(
                *[ds for ds in coord.datasources.values() if isinstance(ds, MySQLDataSource)]
            )
        # Closed: this coordinator's own heartbeat row was removed.
        rs = await a.fetch(
            f"SELECT COUNT(*) FROM {CRASH_CATALOG}.xa_owners WHERE owner = '{local_owner().id}'"
        )
        assert rs.rows[0][0] == 0
    finally:
        for ds in (a, b):
            for shard in (0, 1):
                await ds.execute(f"DROP DATABASE IF EXISTS {CRASH_DB}_{shard:04d}")
        await a.execute(f"DROP DATABASE IF EXISTS {CRASH_CATALOG}")
        await a.aclose()
        await b.aclose()


async def test_coordinator_finishes_its_own_unknown_outcome_once_the_log_is_back(
    private: PrivateMariaDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a Coordinator: the client gets 1180 naming the XID; nobody calls
    recover(): the coordinator's own loop commits both branches once the log heals."""
    monkeypatch.setattr(xa, "DECISION_RESOLVE_TIMEOUT", 1.5)
    monkeypatch.setattr(xa_exec, "UNDECIDED_MIN_AGE", NEIGHBOURLY_MIN_AGE)
    db = f"sgxa_co{os.getpid()}"
    path = tmp_path / "xa.toml"
    with DropProxy(MYSQL_PORT, upstream_host=MYSQL_HOST) as proxy:
        path.write_text(f"""
[cluster]
database = "{db}"
default_shards = 2

[[datasources]]
name = "ds0"
kind = "mysql"
url = "{proxy.url}"
breaker_probe_interval = 0.2

[[datasources]]
name = "ds1"
kind = "mysql"
url = "{private.url}"
""")
        a, b = make_ds("sgxa_check0", MYSQL_URL), make_ds("sgxa_check1", private.url)
        await a.open()
        await b.open()
        try:
            async with Coordinator(
                Topology.load(path), catalog_refresh=None, xa_recovery=3600
            ) as coord:
                await coord.execute(f"DROP DATABASE IF EXISTS {db}")
                await coord.execute(f"CREATE DATABASE {db}")
                await coord.execute(
                    "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) PARTITION BY HASH (id) PARTITIONS 2"
                )
                proxy.arm("refuse")
                with trio.fail_after(30), pytest.raises(XAOutcomeUnknown) as info:
                    await coord.execute("INSERT INTO t VALUES (20, 'x'), (21, 'y')")
                assert info.value.code == 1180 and re.search(
                    r"XA sg-[0-9a-f-]+: outcome unknown", str(info.value)
                )
                assert (await b.fetch(f"SELECT COUNT(*) FROM {db}_0001.t")).rows[0][
                    0
                ] == 0  # still prepared
                proxy.heal()
                started = time.monotonic()
                with trio.fail_after(15):
                    while (await b.fetch(f"SELECT COUNT(*) FROM {db}_0001.t")).rows[0][0] == 0:  # noqa: ASYNC110
                        await trio.sleep(0.1)
                print(
                    f"own unknown outcome finished {time.monotonic() - started:.2f}s after the log healed"
                )
                with trio.fail_after(10):
                    while (await a.fetch(f"SELECT COUNT(*) FROM {db}_0000.t")).rows[0][0] == 0:  # noqa: ASYNC110
                        await trio.sleep(0.1)
                assert (await coord.execute("SELECT id, v FROM t ORDER BY id")).rows == [
                    (20, "x"),
                    (21, "y"),
                ]
                await coord.execute(f"DROP DATABASE IF EXISTS {db}")
                assert_quiet(
                    *[ds for ds in coord.datasources.values() if isinstance(ds, MySQLDataSource)]
                )
        finally:
            for ds in (a, b):
                for shard in (0, 1):
                    await ds.execute(f"DROP DATABASE IF EXISTS {db}_{shard:04d}")
            await a.aclose()
            await b.aclose()
