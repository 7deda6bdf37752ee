"""End-to-end behaviour of the Coordinator on a small SQLite topology."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from sharding import (
    Coordinator,
    DuplicateKey,
    NotSupported,
    QueryInterrupted,
    TableExists,
    Topology,
    UnknownTable,
)
from sharding.errors import ShardgateError, UnknownDatabase
from tests.sharding.test_backend_sqlite import eventually


def shard_counts(topology: Topology, table: str, shards: int, db: str = "db") -> list[int]:
    """Rows per physical shard, read straight from the SQLite files."""
    path = topology.datasources[0].path
    assert path is not None
    out = []
    for s in range(shards):
        conn = sqlite3.connect(path / f"{db}_{s:04d}.sqlite")
        out.append(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        conn.close()
    return out


async def test_create_insert_select_route(coord: Coordinator, small_topology: Topology) -> None:
    await coord.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)) PARTITION BY HASH(id) PARTITIONS 4"
    )
    r = await coord.execute(
        "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (5, 'c'), (6, 'It''s'), (9, 'e')"
    )
    assert r.affected == 5
    # HASH(id) is MOD: 1,5,9 → shard 1; 2,6 → shard 2.
    assert shard_counts(small_topology, "t", 4) == [0, 3, 2, 0]
    r = await coord.execute("SELECT v FROM t WHERE id = 6")
    assert r.rows == [("It's",)] and r.columns is not None and r.columns[0].name == "v"
    plan = await coord.explain("SELECT * FROM t WHERE id IN (1, 5)")
    assert "1 shard(s)" in plan and "pushed down to one shard" in plan
    plan = await coord.explain("SELECT * FROM t WHERE id IN (1, 2)")
    assert "2 shard(s)" in plan


async def test_auto_increment_ids_are_unique_and_last_insert_id(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE a (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
    r1 = await coord.execute("INSERT INTO a (v) VALUES (10), (11), (12)")
    assert r1.last_insert_id == 1 and r1.affected == 3
    r2 = await coord.execute("INSERT INTO a (id, v) VALUES (NULL, 13), (500, 14), (0, 15)")
    assert r2.last_insert_id == 4
    r3 = await coord.execute("INSERT INTO a SET v = 16")
    assert r3.last_insert_id is not None and r3.last_insert_id > 500  # moved past the explicit id
    rows = (await coord.execute("SELECT id, v FROM a ORDER BY id")).rows
    ids = [r[0] for r in rows]
    assert ids == sorted(set(ids)) and len(ids) == 7 and 500 in ids
    # A second coordinator over the same data gets fresh, non-overlapping ids.
    async with Coordinator(coord.topology, catalog_refresh=None) as other:
        r4 = await other.execute("INSERT INTO a (v) VALUES (17)")
    assert r4.last_insert_id not in ids


async def test_params_strings_and_escapes(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE p (id INT PRIMARY KEY, s TEXT, f DOUBLE)")
    await coord.execute(
        "INSERT INTO p VALUES (?, ?, ?), (?, ?, ?)", [1, "x'y\\z", 0.1, 2, None, -2.5]
    )
    await coord.execute("INSERT INTO p VALUES (3, 'a\\nb', 1e3), (4, \"dq\", 7)")
    rows = (await coord.execute("SELECT id, s, f FROM p ORDER BY id")).rows
    assert rows == [(1, "x'y\\z", 0.1), (2, None, -2.5), (3, "a\nb", 1000.0), (4, "dq", 7.0)]
    assert (await coord.execute("SELECT id FROM p WHERE s = ?", ["x'y\\z"])).rows == [(1,)]
    with pytest.raises(ShardgateError) as err:
        await coord.execute("SELECT * FROM p WHERE id = ?", [])
    assert err.value.code == 1210


async def test_update_delete_routed_and_shard_key_refused(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO t VALUES " + ", ".join(f"({i}, {i})" for i in range(1, 21)))
    assert (await coord.execute("UPDATE t SET v = v * 10 WHERE id = 3")).affected == 1
    assert (await coord.execute("UPDATE t SET v = -v WHERE v > 15")).affected == 6
    assert (await coord.execute("DELETE FROM t WHERE id IN (1, 2)")).affected == 2
    rows = (await coord.execute("SELECT id, v FROM t ORDER BY id LIMIT 3")).rows
    assert rows == [(3, -30), (4, 4), (5, 5)]
    # The row moves to the shard of its new key (delete and insert, one statement).
    assert (await coord.execute("UPDATE t SET id = 100 WHERE id = 3")).affected == 1
    assert (await coord.execute("SELECT id, v FROM t WHERE id IN (3, 100)")).rows == [(100, -30)]
    assert (await coord.execute("UPDATE t SET id = 3 WHERE id = 100")).affected == 1
    # Over several shards: the first row in MySQL's order, chosen by a merged read.
    assert (await coord.execute("DELETE FROM t ORDER BY id LIMIT 1")).affected == 1
    assert (await coord.execute("SELECT MIN(id) FROM t")).rows == [(4,)]
    assert (await coord.execute("DELETE FROM t")).affected == 17


async def test_multi_shard_write_is_atomic_per_data_source(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
    with pytest.raises(DuplicateKey):
        await coord.execute("INSERT INTO t VALUES (3, 3), (4, 4), (5, 5), (6, 6), (2, 99)")
    assert (await coord.execute("SELECT COUNT(*) FROM t")).rows == [(2,)]


async def test_broadcast_table_written_everywhere_read_once(tmp_path: Path) -> None:
    topo = Topology.loads(
        f"""
[cluster]
default_shards = 4
[[datasources]]
name = "a"
path = "{tmp_path / "a"}"
[[datasources]]
name = "b"
path = "{tmp_path / "b"}"
"""
    )
    async with Coordinator(topo, catalog_refresh=None) as coord:
        await coord.execute(
            "CREATE TABLE dim (k INT PRIMARY KEY, name TEXT) COMMENT 'shardgate:broadcast'"
        )
        await coord.execute("CREATE TABLE f (id INT PRIMARY KEY, k INT)")
        r = await coord.execute("INSERT INTO dim VALUES (1, 'one'), (2, 'two')")
        assert r.affected == 2
        for ds in ("a", "b"):
            conn = sqlite3.connect(tmp_path / ds / "db.sqlite")
            assert conn.execute("SELECT COUNT(*) FROM dim").fetchone() == (2,)
            conn.close()
        await coord.execute(
            "INSERT INTO f VALUES " + ", ".join(f"({i}, {i % 3})" for i in range(12))
        )
        rows = (
            await coord.execute(
                "SELECT dim.name, COUNT(*) FROM f JOIN dim ON f.k = dim.k GROUP BY dim.name ORDER BY 1"
            )
        ).rows
        assert rows == [("one", 4), ("two", 4)]
        assert (await coord.execute("UPDATE dim SET name = 'uno' WHERE k = 1")).affected == 1
        assert (await coord.execute("SELECT name FROM dim WHERE k = 1")).rows == [("uno",)]
        assert "1 shard(s)" in await coord.explain("SELECT * FROM dim")


async def test_transactions_commit_rollback_and_autocommit_off(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    s = coord.open_session()
    await s.execute("BEGIN")
    assert s.in_transaction
    await s.execute("INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)")
    assert (await s.execute("SELECT COUNT(*) FROM t")).rows == [(3,)]  # own writes
    await s.execute("ROLLBACK")
    assert (await coord.execute("SELECT COUNT(*) FROM t")).rows == [(0,)]
    await s.execute("START TRANSACTION")
    await s.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
    await s.execute("UPDATE t SET v = 5 WHERE id = 2")
    await s.execute("COMMIT")
    assert (await coord.execute("SELECT id, v FROM t ORDER BY id")).rows == [(1, 1), (2, 5)]
    await s.execute("SET autocommit = 0")
    assert not s.autocommit
    await s.execute("DELETE FROM t WHERE id = 1")
    assert s.in_transaction
    await s.close()  # rolls back
    assert (await coord.execute("SELECT COUNT(*) FROM t")).rows == [(2,)]
    with pytest.raises(NotSupported, match="open a session"):
        await coord.execute("BEGIN")


async def test_use_show_describe(coord: Coordinator) -> None:
    s = coord.open_session(database="db")
    await s.execute("CREATE DATABASE other")
    await s.execute("USE other")
    assert s.database == "other"
    await s.execute(
        "CREATE TABLE x (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(20) NOT NULL, KEY by_name (name))"
    )
    assert (await s.execute("SHOW TABLES")).rows == [("x",)]
    res = await s.execute("SHOW DATABASES")
    assert ("db",) in res.rows and ("other",) in res.rows
    desc = await s.execute("DESCRIBE x")
    # MariaDB's own rendering of the types (as for an unsharded table).
    assert desc.rows[0][:4] == ("id", "int(11)", "NO", "PRI")
    assert desc.rows[1][:4] == ("name", "varchar(20)", "NO", "MUL")
    assert desc.rows[0][5] == "auto_increment"
    create = (await s.execute("SHOW CREATE TABLE x")).rows[0][1]
    assert create.startswith("CREATE TABLE `x` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n")
    assert "\n PARTITION BY KEY (`id`)\nPARTITIONS " in create
    with pytest.raises(UnknownDatabase):
        await s.execute("USE nowhere")
    await s.execute("DROP DATABASE other")
    assert s.database is None
    await s.close()


async def test_ddl_create_index_truncate_drop(coord: Coordinator, small_topology: Topology) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    with pytest.raises(TableExists):
        await coord.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    r = await coord.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY)")
    assert r.warnings == 1
    await coord.execute("CREATE INDEX iv ON t (v)")
    with pytest.raises(ShardgateError) as err:
        await coord.execute("CREATE UNIQUE INDEX uv ON t (v)")
    assert err.value.code == 1503
    conn = sqlite3.connect(small_topology.datasources[0].path / "db_0003.sqlite")  # type: ignore[operator]
    assert conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 't__iv'"
    ).fetchone()
    conn.close()
    await coord.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
    await coord.execute("TRUNCATE TABLE t")
    assert (await coord.execute("SELECT COUNT(*) FROM t")).rows == [(0,)]
    await coord.execute("DROP INDEX iv ON t")
    await coord.execute("DROP TABLE t")
    with pytest.raises(UnknownTable):
        await coord.execute("SELECT * FROM t")
    assert (await coord.execute("DROP TABLE IF EXISTS t")).warnings == 1
    with pytest.raises(ShardgateError) as err:
        await coord.execute(
            "CREATE TABLE bad (a INT, b INT, PRIMARY KEY (b)) PARTITION BY HASH(a) PARTITIONS 4"
        )
    assert err.value.code == 1503


async def test_range_partitioning_from_ddl(coord: Coordinator, small_topology: Topology) -> None:
    await coord.execute(
        "CREATE TABLE r (id INT PRIMARY KEY, v INT) PARTITION BY RANGE (id) "
        "(PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN (20), PARTITION p2 VALUES LESS THAN MAXVALUE)"
    )
    await coord.execute("INSERT INTO r VALUES (1, 0), (9, 0), (10, 0), (25, 0), (1000, 0)")
    path = small_topology.datasources[0].path
    assert path is not None
    counts = []
    for s in range(3):
        conn = sqlite3.connect(path / f"db_{s:04d}.sqlite")
        counts.append(conn.execute("SELECT COUNT(*) FROM r").fetchone()[0])
        conn.close()
    assert counts == [2, 1, 2]
    assert "1 shard(s)" in await coord.explain("SELECT * FROM r WHERE id BETWEEN 11 AND 19")
    assert "2 shard(s)" in await coord.explain("SELECT * FROM r WHERE id BETWEEN 5 AND 15")


async def test_stream_is_bounded_and_can_stop_early(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO t VALUES " + ", ".join(f"({i}, {i % 7})" for i in range(200)))
    seen = []
    async for batch in coord.stream("SELECT id FROM t ORDER BY v, id"):
        seen.extend(batch)
    assert len(seen) == 200 and seen == sorted(seen, key=lambda r: (r[0] % 7, r[0]))
    stream = coord.stream("SELECT id FROM t ORDER BY id")
    first = await stream.__anext__()
    assert first[0] == (0,)
    await stream.aclose()  # type: ignore[attr-defined]
    # The abandoned statement stops: no query stays open in the executor.
    await eventually(lambda: not coord.executor.queries())
    assert coord.executor.statistics().active == 0


async def test_cancel_interrupts_a_running_statement(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO t VALUES (1, 1), (2, 2), (3, 3), (4, 4)")
    s = coord.open_session()
    slow = (
        "SELECT t.id, (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) "
        "SELECT COUNT(*) FROM c) FROM t ORDER BY id"
    )
    outcome: list[BaseException] = []

    async def run() -> None:
        try:
            await s.execute(slow)
        except BaseException as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await eventually(lambda: s.query_id is not None)
        assert any(q.id == s.query_id for q in coord.executor.queries())
        s.cancel()
    assert len(outcome) == 1 and isinstance(outcome[0], QueryInterrupted)
    assert coord.executor.statistics().active == 0 and not coord.executor.queries()
    assert (await s.execute("SELECT COUNT(*) FROM t")).rows == [(4,)]  # session still usable


async def test_two_coordinators_share_the_catalog(coord: Coordinator) -> None:
    async with Coordinator(coord.topology, catalog_refresh=None) as other:
        await other.execute(
            "CREATE TABLE shared (id INT PRIMARY KEY, v INT) PARTITION BY KEY(id) PARTITIONS 3"
        )
        await other.execute("INSERT INTO shared VALUES (1, 10), (2, 20)")
    # The first coordinator never saw the DDL; it finds the table in the backend.
    assert (await coord.execute("SELECT SUM(v) FROM shared")).rows == [(30,)]
    info = coord.catalog.get("db", "shared")
    assert info is not None and info.rule.shards == 3 and info.rule.algorithm == "hash"


async def test_plan_cache_reuses_plans_across_literals(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO t VALUES (1, 10), (2, 20), (3, 30)")
    cache = coord.plan_cache
    cache.clear()
    hits = cache.hits
    assert (await coord.execute("SELECT v FROM t WHERE id = 1")).rows == [(10,)]
    assert (await coord.execute("SELECT v FROM t WHERE id = 3")).rows == [(30,)]
    assert (await coord.execute("SELECT v FROM t WHERE id = ?", [2])).rows == [(20,)]
    assert cache.hits == hits + 2  # literals and `?` parameters share one plan
    # A literal that changes the plan (ORDER BY position) is a separate variant.
    assert (await coord.execute("SELECT id, v FROM t ORDER BY 1 DESC")).rows[0] == (3, 30)
    assert (await coord.execute("SELECT v, id FROM t ORDER BY 2 DESC")).rows[0] == (30, 3)
    assert (await coord.execute("SELECT id, v FROM t ORDER BY 2")).rows[0] == (1, 10)
    # Literal text in column names follows the call, not the cached plan.
    r1 = await coord.execute("SELECT id + 1 FROM t WHERE id = 1")
    r2 = await coord.execute("SELECT id + 7 FROM t WHERE id = 1")
    assert [c.name for c in r1.columns or []] == ["id + 1"]
    assert [c.name for c in r2.columns or []] == ["id + 7"] and r2.rows == [(8,)]


async def test_system_variables_and_session_functions(coord: Coordinator) -> None:
    s = coord.open_session(database="db")
    assert (await s.execute("SELECT DATABASE()")).rows == [("db",)]
    r = await s.execute("SELECT @@version_comment LIMIT 1")
    assert "shardgate" in r.rows[0][0]
    await s.execute("SET NAMES utf8mb4")
    assert (await s.execute("SELECT @@autocommit")).rows == [(1,)]
    await s.close()


async def test_unordered_scatter_goes_through_window(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO t VALUES " + ", ".join(f"({i}, {i})" for i in range(100)))
    r = await coord.execute("SELECT id, v FROM t")
    assert sorted(r.rows) == [(i, i) for i in range(100)]
    r = await coord.execute("SELECT id FROM t LIMIT 7")
    assert len(r.rows) == 7


async def test_nocase_collation_matches_sqlite(coord: Coordinator, tmp_path: Path) -> None:
    """A case-insensitive shard key routes, groups and orders like one SQLite table."""
    ddl = "CREATE TABLE n (name VARCHAR(10) COLLATE NOCASE PRIMARY KEY, v INT)"
    rows = [
        ("apple", 1),
        ("Banana", 2),
        ("cherry", 3),
        ("APRICOT", 4),
        ("b", 5),
        ("Zed", 6),
        ("zeta", 7),
    ]
    await coord.execute(ddl)
    await coord.execute("INSERT INTO n VALUES " + ", ".join(f"('{a}', {b})" for a, b in rows))
    oracle = sqlite3.connect(":memory:")
    oracle.execute(ddl)
    oracle.executemany("INSERT INTO n VALUES (?, ?)", rows)
    for sql in (
        "SELECT name FROM n WHERE name = 'APPLE'",
        "SELECT name FROM n WHERE name IN ('BANANA', 'zED')  ORDER BY name",
        "SELECT name, v FROM n ORDER BY name",
        "SELECT name FROM n ORDER BY name DESC",
        "SELECT MIN(name), MAX(name) FROM n",
        "SELECT name > 'b', COUNT(*) FROM n GROUP BY name > 'b' ORDER BY 1",
    ):
        expected = oracle.execute(sql).fetchall()
        assert (await coord.execute(sql)).rows == expected, sql
    with pytest.raises(DuplicateKey):
        await coord.execute("INSERT INTO n VALUES ('APPLE', 9)")  # same shard as 'apple'


async def test_concurrent_multi_shard_inserts_do_not_deadlock(coord: Coordinator) -> None:
    """Seed 000's stress shape: many concurrent batch INSERTs, each touching every
    shard. Shard files are locked in one global order, so writers queue, never
    deadlock (SQLite would report 'database is locked' after its busy timeout)."""
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    errors: list[BaseException] = []

    async def writer(w: int) -> None:
        for batch in range(3):
            base = (w * 3 + batch) * 100
            rows = [f"({base + i}, {w})" for i in range(100)]
            if w % 2:
                rows.reverse()  # different statement order, same lock order
            try:
                await coord.execute("INSERT INTO t VALUES " + ", ".join(rows))
            except BaseException as exc:  # recorded for the assertion
                errors.append(exc)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for w in range(8):
                nursery.start_soon(writer, w)
    assert not errors, errors[:3]
    assert (await coord.execute("SELECT COUNT(*) FROM t")).rows == [(2400,)]


async def test_primary_key_columns_are_not_null(coord: Coordinator) -> None:
    """MySQL: PRIMARY KEY columns are NOT NULL even when not declared so. DESCRIBE
    says so, and the shards enforce it (SQLite alone would accept NULL keys)."""
    await coord.execute("CREATE TABLE p (a INT, b VARCHAR(5), v INT, PRIMARY KEY (a, b))")
    desc = await coord.execute("DESCRIBE p")
    assert [(r[0], r[2], r[3]) for r in desc.rows] == [
        ("a", "NO", "PRI"),
        ("b", "NO", "PRI"),
        ("v", "YES", ""),
    ]
    with pytest.raises(ShardgateError) as err:
        await coord.execute("INSERT INTO p VALUES (1, NULL, 1)")
    assert err.value.code == 1048
    assert str(err.value) == "Column 'b' cannot be null"  # MariaDB's text
    await coord.execute("INSERT INTO p VALUES (1, 'x', NULL)")
    assert (await coord.execute("SELECT a, b, v FROM p")).rows == [(1, "x", None)]


async def test_statement_log_event_counts_the_rows_returned(coord: Coordinator) -> None:
    import logging

    import structlog
    from structlog.testing import capture_logs

    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO t VALUES " + ", ".join(f"({i}, {i % 3})" for i in range(30)))
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    with capture_logs() as logs:
        await coord.execute("SELECT id FROM t WHERE v = 1 ORDER BY id")
        await coord.execute("SELECT v, COUNT(*) FROM t GROUP BY v")
        async with coord.open_session().stream("SELECT id FROM t") as rs:
            assert sum([len(b) async for b in rs]) == 30
        await coord.execute("SHOW TABLES")
        await coord.execute("UPDATE t SET v = 9 WHERE v = 2")
    events = [e for e in logs if e["event"] == "statement"]
    assert [(e["kind"], e["rows"], e["affected"]) for e in events] == [
        ("SELECT", 10, 0),
        ("SELECT", 3, 0),
        ("SELECT", 30, 0),
        ("SHOW", 1, 0),
        ("UPDATE", None, 10),
    ]


async def test_explain_states_shards_sql_merge_tree_and_chunking(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, k INT, v INT)")
    await coord.execute("CREATE TABLE u (uid INT PRIMARY KEY, k INT, x INT)")
    sql = "SELECT id, v FROM t WHERE v > 3 ORDER BY v DESC, id LIMIT 5, 10"
    text = await coord.explain(sql)
    lines = text.splitlines()
    # The merge tree, top-down, with the shard read under it.
    assert [line.split()[0] for line in lines[:3]] == ["Limit", "MergeSort", "ShardRead"]
    assert "offset 5, count 10" in lines[0] and "4 shard(s) on ds0; route: all shards" in lines[2]
    # Chunking: the keyset keys (the primary key is the tiebreaker), chunk size (the
    # runner's: at least 16 rows), and the pushed-down LIMIT offset + count.
    assert "keyset continuation on (t.v DESC, t.id); 16 rows per chunk and shard" in text
    assert "pushed limit      LIMIT 15" in text
    # Per-shard SQL with physical names: the first chunk of each of the first shards.
    for s in range(3):
        assert (
            f'sql[ds0/shard {s}]  SELECT t.id, t.v FROM "db_{s:04d}"."t" AS t WHERE (t.v > 3) AND 1 ORDER BY 2 DESC, 1 ASC LIMIT 15'
            in text
        )
    assert "1 more shard(s), same template" in text
    # EXPLAIN through execute returns the same plan as rows.
    res = await coord.execute("EXPLAIN " + sql)
    assert [c.name for c in res.columns or []] == ["id", "operator", "detail"]
    assert [r[1] for r in res.rows] == [
        line[: len(r[1])] for line, r in zip(lines, res.rows, strict=True)
    ]
    # A cross-shard join: both sides, each sorted by its key and tiebreaker.
    join = await coord.explain("SELECT t.id, u.x FROM t JOIN u ON t.k = u.k ORDER BY t.id")
    assert "SortMergeJoin           INNER on t.k = u.k" in join
    assert "(t.k, t.id)" in join and "(u.k, u.uid)" in join
    # Writes: the statements and how they commit.
    update = await coord.explain("UPDATE t SET v = 1 WHERE id = 3")
    assert (
        update.startswith("Update")
        and "1 shard statement(s)" in update
        and "one statement, autocommit" in update
    )
    insert = await coord.explain("INSERT INTO t VALUES (1, 1, 1), (2, 2, 2), (3, 3, 3)")
    assert "3 row(s) split by the scanner" in insert and "one transaction per data source" in insert
    # A long IN list is folded into one slot: EXPLAIN still counts its values.
    many = ", ".join(str(i) for i in range(300))
    folded = await coord.explain(f"SELECT id FROM t WHERE id IN ({many})")
    assert "route: key of table#0 IN 300 value(s)" in folded
    deleted = await coord.explain(f"DELETE FROM t WHERE id IN ({many})")
    assert "route: key of table#0 IN 300 value(s)" in deleted


async def test_a_table_dropped_by_another_coordinator(
    coord: Coordinator, small_topology: Topology
) -> None:
    """The catalog lives in the backend: when another coordinator drops a table, this
    one's cached entry is stale. A shard saying the table is missing invalidates the
    cache, and CREATE TABLE of the same name works (no stale "already exists")."""
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)")
    async with Coordinator(small_topology, catalog_refresh=None) as other:
        assert (await other.execute("SELECT COUNT(*) FROM t")).rows == [(3,)]
        await coord.execute("DROP TABLE t")
        assert other.catalog.get("db", "t") is not None  # stale
        with pytest.raises(UnknownTable):
            await other.execute("SELECT * FROM t ORDER BY id")
        assert other.catalog.get("db", "t") is None  # the shard's error invalidated it
        with pytest.raises(UnknownTable):
            await other.execute("SELECT * FROM t ORDER BY id")  # now from the catalog
        await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        await other.execute("DROP TABLE t")
        await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, w VARCHAR(5))")  # stale cache
        await coord.execute("INSERT INTO t VALUES (9, 'x')")
        assert (await other.execute("SELECT id, w FROM t")).rows == [(9, "x")]
