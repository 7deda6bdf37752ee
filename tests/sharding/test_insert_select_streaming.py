"""``INSERT/REPLACE … SELECT`` streamed (issue 18, "writes with SELECT"): a SELECT that
does not read the target is written batch by batch while it runs, far past
``cluster.subquery_rows``; one that reads the target is still held (read whole first,
bounded, as MySQL's temporary table). Measured against an unsharded MariaDB: affected
rows, the OK info, warnings, LAST_INSERT_ID and the rows stored; on the SQLite embedded
default and on MariaDB shards. A failure or a cancellation in the middle leaves no row
of the statement (autocommit, and inside BEGIN with the earlier statement kept), no
borrowed connection and no executor query behind.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio

import sharding.session_writes as session_writes
import sharding.sql.insert_select as insert_select
from sharding.coordinator import Coordinator
from sharding.errors import ShardgateError
from sharding.sql.insert_select import reads_table
from sharding.sql.parse import parse_one
from sharding.topology import Topology
from tests.conftest import MYSQL_URL
from tests.sharding.mariadb_reference import mysql_connect, reference_database

pytestmark = pytest.mark.mysql

BOUND = 50
ROWS = 500
DDL = [
    "CREATE TABLE src (id INT PRIMARY KEY, k INT, v VARCHAR(20))",
    "CREATE TABLE dst (id INT PRIMARY KEY, k INT, v VARCHAR(8))",
    "CREATE TABLE adst (id INT AUTO_INCREMENT PRIMARY KEY, k INT, v VARCHAR(20))",
]
FILL = "INSERT INTO src VALUES " + ", ".join(
    f"({i}, {i % 7}, 'v{i}{'x' * (i % 11)}')" for i in range(1, ROWS + 1)
)
CHECK = {
    "dst": "SELECT id, k, v FROM dst ORDER BY id",
    "adst": "SELECT id, k, v FROM adst ORDER BY id",
}


# ----------------------------------------------------------------- the pure half


@pytest.mark.parametrize(
    ("select", "reads"),
    [
        ("SELECT id, k, v FROM src", False),
        ("SELECT s.id, s.k, s.v FROM src s JOIN other o ON o.id = s.id", False),
        ("SELECT id, k, v FROM dst", True),
        ("SELECT id, k, v FROM DST", True),  # names compared without case
        ("SELECT id, k, v FROM db.dst", True),
        ("SELECT id, k, v FROM `db`.`dst`", True),
        ("SELECT id, k, v FROM other_db.dst", False),  # another database's table
        ("SELECT s.id, s.k, s.v FROM src s JOIN dst d ON d.id = s.id", True),
        ("SELECT id, k, v FROM src WHERE id NOT IN (SELECT id FROM dst)", True),
        ("SELECT id, (SELECT MAX(k) FROM dst), v FROM src", True),
        ("SELECT * FROM (SELECT id, k, v FROM dst) AS d", True),
        ("SELECT id, k, v FROM src WHERE EXISTS (SELECT 1 FROM db.dst d WHERE d.id = 1)", True),
        ("SELECT id, k, v FROM src UNION ALL SELECT id, k, v FROM dst", True),
        ("WITH c AS (SELECT id, k, v FROM dst) SELECT * FROM c", True),
        ("WITH c AS (SELECT id, k, v FROM src) SELECT * FROM c", False),
        # A CTE named as the target: held (conservative, docstring).
        ("WITH dst AS (SELECT id, k, v FROM src) SELECT * FROM dst", True),
        ("(SELECT id, k, v FROM src WHERE id < ?) ORDER BY id", False),
        ("SELECT 1, 2, 'a'", False),
    ],
)
def test_reads_table(select: str, reads: bool) -> None:
    assert reads_table(parse_one(select), "db", "dst", "db") is reads


def test_reads_table_without_a_default_database() -> None:
    """An unqualified reference with no database in use counts as a read."""
    assert reads_table(parse_one("SELECT * FROM dst"), "db", "dst", None)
    assert not reads_table(parse_one("SELECT * FROM src"), "db", "dst", None)
    assert not reads_table(parse_one("SELECT * FROM other.dst"), "db", "dst", None)


# ----------------------------------------------------------------- the clusters


def _drop_sharded(logical: str) -> None:
    conn = mysql_connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (logical.replace("_", "\\_") + "%",))
            for (name,) in cur.fetchall():
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
            if cur.fetchone():
                cur.execute("DELETE FROM shardgate_catalog.tables WHERE db = %s", (logical,))
                cur.execute("DELETE FROM shardgate_catalog.databases WHERE name = %s", (logical,))
    finally:
        conn.close()


def _topology(backend: str, tmp_path: Path, logical: str) -> Topology:
    cluster = {"database": logical, "default_shards": 4, "subquery_rows": BOUND, "chunk_rows": 64}
    if backend == "sqlite":
        source: dict[str, Any] = {"name": "ds0", "path": str(tmp_path / "ds0")}
    else:
        source = {"name": "ds0", "kind": "mysql", "url": MYSQL_URL, "max_connections": 8}
    return Topology.from_dict({"cluster": cluster, "datasources": [source]})


class Pair:
    """The sharded coordinator (a session on it) and the MariaDB reference (a cursor)."""

    def __init__(self, coord: Coordinator, cur: Any, backend: str) -> None:
        self.backend = backend
        self.coord = coord
        self.cur = cur
        self.session = coord.open_session()

    async def both(self, *statements: str) -> None:
        for sql in statements:
            self.cur.execute(sql)
            await self.session.execute(sql)

    async def same_write(self, sql: str) -> Any:
        """``sql`` on both: the same affected rows, OK info, warning count and
        warnings; returns shardgate's result."""
        want = self.cur.execute(sql)
        raw = self.cur._result.message or b""
        if raw and raw[0] == len(raw) - 1:  # PyMySQL keeps the info's length byte
            raw = raw[1:]
        info = raw.decode()
        self.cur.execute("SHOW WARNINGS")
        want_warnings = [tuple(r) for r in self.cur.fetchall()]
        got = await self.session.execute(sql)
        mine = got.info or ""
        if self.backend == "sqlite" and "IGNORE" in sql:
            # The SQLite default's INSERT IGNORE skips a duplicate without its 1062
            # warning (as for INSERT … VALUES): the counts, not the warnings.
            assert (got.affected, mine.split("  Warnings")[0]) == (
                want,
                info.split("  Warnings")[0],
            ), sql
            return got
        assert (got.affected, mine) == (want, info), sql
        warnings = await self.session.execute("SHOW WARNINGS")
        listed = [tuple(r) for r in warnings.rows]
        if any(" at row " not in w[2] for w in want_warnings):
            # A 1062 of INSERT IGNORE names no row: listed by shard, not in MariaDB's
            # order, so the first max_error_count differ (docs/refusals.md: what stays
            # approximate across shards): their levels and codes.
            listed = sorted(w[:2] for w in listed)
            want_warnings = sorted(w[:2] for w in want_warnings)
        assert listed == want_warnings, sql
        assert got.warnings == (int(info.rsplit(" ", 1)[1]) if info else 0), sql
        return got

    async def same_error(self, sql: str) -> ShardgateError:
        with pytest.raises(pymysql.MySQLError) as mine:
            self.cur.execute(sql)
        with pytest.raises(ShardgateError) as ours:
            await self.session.execute(sql)
        assert ours.value.code == mine.value.args[0], (sql, ours.value)
        return ours.value

    async def same_rows(self, *queries: str) -> None:
        for q in queries:
            self.cur.execute(q)
            want = [tuple(r) for r in self.cur.fetchall()]
            got = [tuple(r) for r in (await self.session.execute(q)).rows]
            assert got == want, q


@pytest.fixture(params=["sqlite", "mariadb"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pair]:
    backend = request.param
    logical = f"sgwa_{os.getpid()}_{backend}"
    with reference_database("sgwa_ref", *DDL, FILL) as (_name, cur):
        cur.connection.autocommit(True)
        if backend == "mariadb":
            _drop_sharded(logical)
        try:
            topology = _topology(backend, tmp_path, logical)
            async with Coordinator(topology, catalog_refresh=None) as coord:
                p = Pair(coord, cur, backend)
                await p.session.execute(f"CREATE DATABASE IF NOT EXISTS `{logical}`")
                await p.session.execute(f"USE `{logical}`")
                for sql in [*DDL, FILL]:
                    await p.session.execute(sql)
                yield p
                await p.session.close()
        finally:
            if backend == "mariadb":
                _drop_sharded(logical)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """10 rows of 3 values per batch; yields the row counts of the batches written."""
    monkeypatch.setattr(insert_select, "BATCH_VALUES", 30)
    written: list[int] = []
    real = session_writes.insert_statement

    async def counting(session: Any, sql: str, params: Any, *rest: Any) -> Any:
        result = await real(session, sql, params, *rest)
        written.append(len(params) // 3 if params else 0)
        return result

    monkeypatch.setattr(session_writes, "insert_statement", counting)
    yield written


async def quiet(coord: Coordinator) -> None:
    """No borrowed or awaited connection, no executor query or busy slot left."""

    def still() -> list[Any]:
        left: list[Any] = []
        for ds in coord.datasources.values():
            st = ds.statistics()
            if (st.in_use, st.waiting) != (0, 0):
                left.append(st)
        ex = coord.executor.statistics()
        if coord.executor.queries() or (ex.active, ex.waiting, ex.queued) != (0, 0, 0):
            left.append(ex)
        return left

    with trio.move_on_after(5):
        while still():  # noqa: ASYNC110 (counters, no event to wait on)
            await trio.sleep(0.02)
    assert not still(), still()


# ----------------------------------------------------------------- (1) streamed


async def test_streamed_past_the_bound_as_mariadb(pair: Pair) -> None:
    """500 rows with subquery_rows = 50: written in batches, as MariaDB stores them
    (INSERT IGNORE's duplicates warn)."""
    await pair.same_write("INSERT INTO dst SELECT id, k, LEFT(v, 8) FROM src WHERE id <= 300")
    await pair.same_rows(CHECK["dst"])
    await pair.same_write("INSERT IGNORE INTO dst SELECT id, k, LEFT(v, 8) FROM src ORDER BY id")
    await pair.same_rows(CHECK["dst"])
    await pair.same_write("REPLACE INTO dst (id, v, k) SELECT id, 'r', k + 1 FROM src WHERE k = 3")
    await pair.same_rows(CHECK["dst"])
    await pair.same_write("INSERT INTO adst (k, v) SELECT k, v FROM src WHERE id > 17 ORDER BY id")
    await pair.same_rows(CHECK["adst"], "SELECT LAST_INSERT_ID()")
    # The target's name in the text, as no table of it (parsed: reads_table): streamed.
    await pair.same_write("INSERT INTO dst SELECT id + 5000, k AS dst, 'dst' FROM src s")
    await pair.same_rows(CHECK["dst"])


async def test_streamed_in_small_batches(pair: Pair, small_batches: list[int]) -> None:
    """Many batches of 10 rows: the same counts, warnings ("at row n" numbered across
    batches: MariaDB shards; the SQLite default refuses such an INSERT IGNORE),
    LAST_INSERT_ID of the first generated id; a join and a subquery of other tables
    stream too."""
    await pair.both("INSERT INTO dst SELECT id, k, LEFT(v, 8) FROM src WHERE id % 3 = 0")
    del small_batches[:]
    await pair.same_write("INSERT IGNORE INTO dst SELECT id, k, LEFT(v, 8) FROM src ORDER BY id")
    assert len(small_batches) == ROWS // 10 and set(small_batches) == {10}
    await pair.same_rows(CHECK["dst"])
    if pair.backend == "mariadb":
        del small_batches[:]
        await pair.same_write("INSERT IGNORE INTO dst SELECT id + 1000, k, v FROM src ORDER BY id")
        assert len(small_batches) == ROWS // 10
        await pair.same_rows(CHECK["dst"])
    # Generated ids: the first one is LAST_INSERT_ID(); a later batch's may start a
    # new block of the catalog's (ids "consecutive when possible"), so the rows are
    # compared in their ids' order.
    in_order = "SELECT k, v FROM adst ORDER BY id"
    await pair.same_write("INSERT INTO adst (k, v) SELECT k, v FROM src WHERE id > 123 ORDER BY id")
    await pair.same_rows(in_order, "SELECT LAST_INSERT_ID()")
    await pair.same_write(
        "INSERT INTO adst (id, k, v) SELECT s.id + 1000, t.k, s.v FROM src s "
        "JOIN src t ON t.id = s.id WHERE s.id IN (SELECT id FROM src WHERE k = 2 AND id < 300) ORDER BY s.id"
    )
    await pair.same_rows(in_order, "SELECT id, k, v FROM adst WHERE id > 1000 ORDER BY id")
    await pair.same_rows("SELECT LAST_INSERT_ID()")


async def test_column_count_checked_before_any_write(pair: Pair, small_batches: list[int]) -> None:
    for sql in [
        "INSERT INTO dst SELECT id, k FROM src",
        "INSERT INTO dst (id, k) SELECT id, k, v FROM src",
        "INSERT INTO dst SELECT id, k FROM src WHERE 1 = 0",
    ]:
        err = await pair.same_error(sql)
        assert err.code == 1136
    assert small_batches == []
    await pair.same_rows(CHECK["dst"])


# ----------------------------------------------------------------- (2) held


async def test_reading_the_target_is_held_and_bounded(pair: Pair) -> None:
    """The target read by the SELECT: read whole first, bounded by subquery_rows — a
    1235 naming the setting past it, MariaDB's answer within it."""
    await pair.both("INSERT INTO dst SELECT id, k, LEFT(v, 8) FROM src")
    for sql in [
        "INSERT INTO dst SELECT id + 1000, k, v FROM dst",
        "INSERT INTO dst SELECT id + 1000, k, LEFT(v, 8) FROM src WHERE id NOT IN "
        "(SELECT id + 1000 FROM dst WHERE id < 10)",
    ]:
        with pytest.raises(ShardgateError) as err:
            await pair.session.execute(sql)
        assert err.value.code == 1235 and "cluster.subquery_rows" in err.value.message
    await pair.same_rows(CHECK["dst"])
    # Within the bound: MariaDB's answer (the SELECT does not see the rows it adds).
    await pair.same_write("INSERT INTO dst SELECT id + 1000, k, v FROM dst WHERE id <= 40")
    await pair.same_write("INSERT INTO dst SELECT id + 2000, k, v FROM dst WHERE id > 1000")
    await pair.same_rows(CHECK["dst"])
    await pair.same_error("INSERT INTO dst SELECT id + 1, k, v FROM dst WHERE id <= 20")
    await pair.same_rows(CHECK["dst"])


# ----------------------------------------------------------------- (3) atomic


async def test_failure_on_a_later_batch_writes_nothing(
    pair: Pair, small_batches: list[int]
) -> None:
    """A duplicate key on a later batch (1062, no IGNORE): after several batches were
    written, none of them stays — in autocommit, and inside BEGIN (the statement
    rolled back, the transaction's earlier statement kept)."""
    await pair.both("INSERT INTO dst VALUES (450, 0, 'here')")
    sql = "INSERT INTO dst SELECT id, k, LEFT(v, 8) FROM src ORDER BY id"
    await pair.same_error(sql)
    assert len(small_batches) >= 10  # batches were written before the failure
    await pair.same_rows(CHECK["dst"])
    del small_batches[:]
    await pair.both("BEGIN", "INSERT INTO dst VALUES (9999, 9, 'kept')")
    await pair.same_error(sql)
    assert len(small_batches) >= 10
    await pair.same_rows(CHECK["dst"])
    await pair.both("COMMIT")
    await pair.same_rows(CHECK["dst"])
    await quiet(pair.coord)


# ----------------------------------------------------------------- (4) cancelled


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_cancelled_in_the_middle(
    pair: Pair, small_batches: list[int], in_transaction: bool
) -> None:
    """A cancellation while batches are being written: nothing of the statement is
    kept, and no connection, executor query or task is left behind.

    Inside a transaction, a cancellation that lands while a shard statement runs
    closes that connection (sharding/backend/base.py: never returned dirty), and with
    it the transaction's work there: the session rolls the whole transaction back
    (sharding.session_txn.doom_transaction), so COMMIT fails with 1402 and commits
    nothing, and ROLLBACK ends it (not MariaDB's KILL QUERY, which keeps the
    transaction; was: the savepoint's 1429 / 1105 replaced the cancellation)."""
    if in_transaction:
        await pair.both("BEGIN", "INSERT INTO dst VALUES (9999, 9, 'kept')")
    with trio.move_on_after(30) as scope:
        async with trio.open_nursery() as nursery:

            async def cancel_after_batches() -> None:
                while len(small_batches) < 5:
                    await trio.lowlevel.checkpoint()
                scope.cancel()

            nursery.start_soon(cancel_after_batches)
            await pair.session.execute(
                "INSERT INTO dst SELECT id, k, LEFT(v, 8) FROM src ORDER BY id"
            )
    assert scope.cancelled_caught
    assert 5 <= len(small_batches) < ROWS // 10
    lost = False
    if in_transaction:
        try:
            await pair.session.execute("COMMIT")
        except ShardgateError as error:
            assert (error.code, error.sqlstate) == (1402, "XA100"), error
            lost = True
            await pair.session.execute("ROLLBACK")
        assert not pair.session.in_transaction
    await quiet(pair.coord)
    fresh = pair.coord.open_session()
    await fresh.execute(f"USE `{pair.session._database}`")
    rows = (await fresh.execute(CHECK["dst"])).rows
    kept = [(9999, 9, "kept")] if in_transaction and not lost else []
    assert [tuple(r) for r in rows] == kept
    await fresh.close()
