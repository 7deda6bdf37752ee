"""A statement cancelled mid-shard-statement inside BEGIN … never leads to a half commit.

Cancelling a shard statement closes its backend connection (it cannot be reused
dirty), and the server rolls back the transaction that connection held. Was: the
other shards' connections kept their part; COMMIT then committed it (MariaDB shards:
the source that joined first committed, 1180 "after committing on ds0"; SQLite: the
shard files before the lost one), and a statement made atomic by a savepoint
(``INSERT … SELECT``) reported the failed ``ROLLBACK TO SAVEPOINT`` (1429 / 1105)
instead of its cancellation. Now the transaction is rolled back on every data source:
the cancelled statement keeps its own error (1317 for KILL QUERY, 1969 for the
backend's statement timeout: MariaDB's codes, checked below against MariaDB), every
later statement fails with 1402 (XA_RBROLLBACK) until ROLLBACK, COMMIT commits
nothing, ROLLBACK succeeds and the session is clean.

MariaDB keeps a transaction alive through KILL QUERY (only the statement is undone);
the coordinator cannot yet (it would interrupt the shard statement with KILL QUERY and
drain the connection instead of closing it), so it rolls the transaction back — a
refusal, never lost data.

Writes go to two shards on two data sources (MariaDB: ``ds0`` and ``ds1``, two pools
on the shared server) or two shard files (SQLite default); the slow statement is
``SLEEP`` on one MariaDB shard, or an endless recursive CTE on one SQLite shard file
(the backend's read is swapped for it by the marker value), interrupted when cancelled.
"""

from __future__ import annotations

import glob
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio

from sharding import Coordinator, Topology
from sharding.backend import sqlite as sqlite_backend
from sharding.errors import ShardgateError
from tests.conftest import MYSQL_URL
from tests.executor.helpers import all_tasks
from tests.sharding.mariadb_reference import mysql_connect

DB = f"sgwe_cancel{os.getpid()}"
ROWS = [(1, 0), (2, 0)]
#: The rows the transaction writes: ids 10 and 11 are on different shards.
WRITES = ["INSERT INTO t VALUES (10, 1)", "INSERT INTO t VALUES (11, 1)"]
#: A SQLite shard read carrying this value runs until interrupted.
MARK = 987654
STATEMENTS = {
    "read": "SELECT v FROM t WHERE id = {id} AND {slow}",
    "insert_select": "INSERT INTO t (id, v) SELECT id + 100, v FROM t WHERE id = {id} AND {slow}",
}


# -- helpers ---------------------------------------------------------------------------


async def _error(session: Any, sql: str) -> ShardgateError:
    with pytest.raises(ShardgateError) as info:
        await session.execute(sql)
    return info.value


def _shard_statement_running(coord: Coordinator) -> bool:
    """A shard statement is on the wire (MariaDB) or running (SQLite)."""
    return any(
        s.extra.get("inflight") or s.extra.get("reads_open")
        for s in (ds.statistics() for ds in coord.datasources.values())
    )


async def _cancelled(coord: Coordinator, session: Any, sql: str, how: str) -> ShardgateError | None:
    """Run ``sql`` and cancel it once it runs on its shard: ``kill`` (KILL QUERY
    through the coordinator: ``session.cancel()``), ``caller`` (the caller's own
    timeout: trio cancels the statement's task); ``query_timeout``: the data source's
    statement timeout ends it. The statement's error (None: the caller's cancel)."""
    error: ShardgateError | None = None
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            with trio.CancelScope() as caller:

                async def cancel_when_running() -> None:
                    for _ in range(3000):
                        if _shard_statement_running(coord):
                            break
                        await trio.sleep(0.01)
                    await trio.sleep(0.1)
                    if how == "kill":
                        session.cancel()
                    else:
                        caller.cancel()

                if how != "query_timeout":
                    nursery.start_soon(cancel_when_running)
                try:
                    await session.execute(sql)
                except ShardgateError as exc:
                    error = exc
                else:
                    raise AssertionError(f"{sql} was not cancelled")
            assert caller.cancelled_caught == (how == "caller")
    return error


async def _settled(coord: Coordinator) -> None:
    """Pools, the executor and the MySQL admin link (the KILL of the closed
    connection's statement) back at rest."""
    with trio.fail_after(10):
        while True:
            busy = [
                s.name
                for s in (ds.statistics() for ds in coord.datasources.values())
                if s.in_use or s.waiting or s.extra.get("kills_pending") or s.extra.get("inflight")
            ]
            stats = coord.executor.statistics()
            if not busy and not (stats.active or stats.queued or stats.queries):
                return
            await trio.sleep(0.05)


async def _scenario(
    coord: Coordinator,
    session: Any,
    statement: str,
    how: str,
    want_code: int | None,
    physical: Callable[[], list[list[tuple[int, int]]]],
    slow: str,
    slow_id: int,
) -> None:
    """BEGIN, a write on each of two shards, the slow statement on the shard of
    ``slow_id`` cancelled (``how``); then nothing of the transaction is ever committed,
    ROLLBACK ends it and the session works again."""
    before_tasks = all_tasks()
    await session.execute("BEGIN")
    for sql in WRITES:
        await session.execute(sql)
    cancelled = await _cancelled(
        coord, session, STATEMENTS[statement].format(id=slow_id, slow=slow), how
    )
    assert (cancelled is None) == (want_code is None), cancelled
    if want_code is not None:
        assert cancelled is not None
        assert cancelled.code == want_code, cancelled  # not 1429 / 1105 (the savepoint's)
        assert "transaction was rolled back on every data source" in cancelled.message
    # Until ROLLBACK every statement fails; COMMIT commits nothing.
    assert session.in_transaction
    for sql in ("SELECT id FROM t ORDER BY id", "INSERT INTO t VALUES (20, 2)", "COMMIT"):
        error = await _error(session, sql)
        assert (error.code, error.sqlstate) == (1402, "XA100"), (sql, error)
    assert session.in_transaction
    shards = physical()
    assert sorted(r for rows in shards for r in rows) == ROWS, shards
    assert all(rows for rows in shards), shards  # the rows of both shards are there
    await session.execute("ROLLBACK")
    assert not session.in_transaction
    await _settled(coord)
    assert not all_tasks() - before_tasks
    # The session is clean: a transaction on both shards commits.
    await session.execute("BEGIN")
    await session.execute("INSERT INTO t VALUES (30, 3), (31, 3)")
    await session.execute("COMMIT")
    got = (await session.execute("SELECT id, v FROM t ORDER BY id")).rows
    assert [tuple(r) for r in got] == [*ROWS, (30, 3), (31, 3)]
    shards = physical()
    assert all(any(r[0] >= 30 for r in rows) for rows in shards), shards  # both shards
    await _settled(coord)


# -- MariaDB shards --------------------------------------------------------------------


def _mysql_topology(**options: Any) -> Topology:
    extra = "".join(f"{k} = {v!r}\n" for k, v in options.items())
    sources = "".join(
        f'\n[[datasources]]\nname = "{name}"\nkind = "mysql"\nurl = "{MYSQL_URL}"\n{extra}'
        for name in ("ds0", "ds1")
    )
    return Topology.loads(f'[cluster]\ndatabase = "{DB}"\ndefault_shards = 2\n{sources}')


def _mysql_physical() -> list[list[tuple[int, int]]]:
    conn = mysql_connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            out = []
            for shard in (0, 1):
                cur.execute(f"SELECT id, v FROM `{DB}_{shard:04d}`.t ORDER BY id")
                out.append([(int(r[0]), int(r[1])) for r in cur.fetchall()])
            return out
    finally:
        conn.close()


def _drop_mysql() -> None:
    conn = mysql_connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            for name in (DB, f"{DB}_0000", f"{DB}_0001"):
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@pytest.fixture
async def mysql_coord(request: pytest.FixtureRequest) -> AsyncIterator[Coordinator]:
    options = getattr(request, "param", {})
    async with Coordinator(_mysql_topology(**options), catalog_refresh=None) as coord:
        await coord.execute(f"DROP DATABASE IF EXISTS {DB}")
        await coord.execute(f"CREATE DATABASE {DB}")
        await coord.execute(
            f"CREATE TABLE {DB}.t (id INT PRIMARY KEY, v INT) PARTITION BY HASH (id) PARTITIONS 2"
        )
        await coord.execute(f"INSERT INTO {DB}.t VALUES (1, 0), (2, 0)")
        try:
            yield coord
        finally:
            with trio.CancelScope(shield=True):
                await coord.execute(f"DROP DATABASE IF EXISTS {DB}")
    _drop_mysql()


def _mariadb_code(how: str) -> int:
    """MariaDB's own error for a statement inside BEGIN ended by KILL QUERY, or by its
    statement timeout (``max_statement_time``): the code the coordinator must give."""
    a = mysql_connect(autocommit=True)
    b = mysql_connect(autocommit=True)
    try:
        with a.cursor() as cur, b.cursor() as killer:
            cur.execute("BEGIN")
            sql = "SELECT SLEEP(5)"
            timer = None
            if how == "kill":
                timer = threading.Timer(0.5, killer.execute, (f"KILL QUERY {a.thread_id()}",))
                timer.start()
            else:
                sql = f"SET STATEMENT max_statement_time = 0.5 FOR {sql}"
            try:
                cur.execute(sql)
            except pymysql.MySQLError as exc:
                return int(exc.args[0])
            finally:
                if timer is not None:
                    timer.join()
                cur.execute("ROLLBACK")
            raise AssertionError("MariaDB did not interrupt the statement")
    finally:
        a.close()
        b.close()


@pytest.mark.mysql
@pytest.mark.parametrize("slow_id", [1, 2])  # the shard that joined the transaction last / first
@pytest.mark.parametrize("statement", sorted(STATEMENTS))
@pytest.mark.parametrize("how", ["kill", "caller"])
async def test_mariadb_shards_cancelled_statement_never_commits_part(
    mysql_coord: Coordinator, how: str, statement: str, slow_id: int
) -> None:
    want = _mariadb_code("kill") if how == "kill" else None
    session = mysql_coord.open_session(database=DB)
    try:
        await _scenario(
            mysql_coord,
            session,
            statement,
            how,
            want,
            _mysql_physical,
            "SLEEP(5) = 0",
            slow_id,
        )
    finally:
        await session.close()


@pytest.mark.mysql
@pytest.mark.parametrize("mysql_coord", [{"query_timeout": 2.0}], indirect=True)
@pytest.mark.parametrize("statement", sorted(STATEMENTS))
async def test_mariadb_shards_statement_timeout_never_commits_part(
    mysql_coord: Coordinator, statement: str
) -> None:
    session = mysql_coord.open_session(database=DB)
    try:
        await _scenario(
            mysql_coord,
            session,
            statement,
            "query_timeout",
            _mariadb_code("timeout"),
            _mysql_physical,
            "SLEEP(5) = 0",
            1,
        )
    finally:
        await session.close()


@pytest.mark.mysql
async def test_mariadb_shards_savepoints_still_undo_a_failed_statement(
    mysql_coord: Coordinator,
) -> None:
    """A statement that fails without losing a connection is undone alone (its
    savepoint), and the transaction goes on and commits, as on MariaDB."""
    session = mysql_coord.open_session(database=DB)
    try:
        await session.execute("BEGIN")
        for sql in WRITES:
            await session.execute(sql)
        # Reads the shard of id 1, writes (10, 0) to the shard of id 10: a duplicate.
        error = await _error(session, "INSERT INTO t (id, v) SELECT id + 9, v FROM t WHERE id = 1")
        assert error.code == 1062, error
        assert session.in_transaction
        await session.execute("COMMIT")
        rows = sorted(r for shard in _mysql_physical() for r in shard)
        assert rows == [*ROWS, (10, 1), (11, 1)]
        await _settled(mysql_coord)
    finally:
        await session.close()


@pytest.mark.mysql
async def test_mariadb_shards_failed_sibling_never_commits_part(mysql_coord: Coordinator) -> None:
    """A write on both shards fails on one (1062): the executor cancels the other
    shard's statement, and when that lands mid-statement its connection is closed —
    the transaction is then lost (not MariaDB's statement rollback). Was: the
    savepoint's 1429 instead of 1062, and COMMIT then committed the other shard's part
    (1180 "after committing on ds0"). Whichever way the race goes, the statement
    reports 1062 and COMMIT commits all of the transaction or none of it."""
    session = mysql_coord.open_session(database=DB)
    try:
        for attempt in range(8):
            ids = (10 + 10 * attempt, 11 + 10 * attempt)
            await session.execute("BEGIN")
            for i in ids:
                await session.execute(f"INSERT INTO t VALUES ({i}, 1)")
            error = await _error(
                session, f"INSERT INTO t (id, v) SELECT id + {ids[0] - 1}, v FROM t"
            )
            assert error.code == 1062, error
            try:
                await session.execute("COMMIT")
                committed = True
            except ShardgateError as exc:
                assert (exc.code, exc.sqlstate) == (1402, "XA100"), exc
                await session.execute("ROLLBACK")
                committed = False
            assert not session.in_transaction
            rows = {r[0] for shard in _mysql_physical() for r in shard}
            assert (set(ids) <= rows) if committed else not (set(ids) & rows), (attempt, rows)
            await _settled(mysql_coord)
    finally:
        await session.close()


# -- SQLite default --------------------------------------------------------------------


@pytest.fixture
def slow_sqlite_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shard read carrying :data:`MARK` runs an endless query instead (a statement
    that runs until the cancellation interrupts it)."""
    real = sqlite_backend._fetch

    def fetch(sql: str) -> Any:
        if str(MARK) not in sql:
            return real(sql)

        def run(raw: sqlite3.Connection) -> Any:
            raw.execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT COUNT(*) FROM c"
            ).fetchall()
            raise AssertionError("the slow shard read was not interrupted")

        return run

    monkeypatch.setattr(sqlite_backend, "_fetch", fetch)


@pytest.mark.usefixtures("slow_sqlite_reads")
@pytest.mark.parametrize("slow_id", [1, 2])
@pytest.mark.parametrize("statement", sorted(STATEMENTS))
@pytest.mark.parametrize("how", ["kill", "caller"])
async def test_sqlite_default_cancelled_statement_never_commits_part(
    tmp_path: Path, how: str, statement: str, slow_id: int
) -> None:
    want = _mariadb_code("kill") if how == "kill" else None

    def physical() -> list[list[tuple[int, int]]]:
        out = []
        for path in sorted(glob.glob(str(tmp_path / "**" / "d_000*.sqlite"), recursive=True)):
            with sqlite3.connect(path) as conn:
                out.append([(int(a), int(b)) for a, b in conn.execute("SELECT id, v FROM t")])
        assert len(out) == 2
        return [sorted(rows) for rows in out]

    async with Coordinator(
        Topology.default(tmp_path, default_shards=2), catalog_refresh=None
    ) as coord:
        session = coord.open_session()
        try:
            await session.execute("CREATE DATABASE d")
            await session.execute("USE d")
            await session.execute(
                "CREATE TABLE t (id INT PRIMARY KEY, v INT) PARTITION BY HASH (id) PARTITIONS 2"
            )
            await session.execute("INSERT INTO t VALUES (1, 0), (2, 0)")
            await _scenario(coord, session, statement, how, want, physical, f"v <> {MARK}", slow_id)
        finally:
            await session.close()
