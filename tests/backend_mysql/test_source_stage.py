"""The data-source stage (issue 17): each data source merges its own shards' rows.

Units check what the stage renders and when it refuses (pure, no server); on MariaDB,
a coordinator over 64 shards answers the same rows with the stage on and off for
top-N, OFFSET, grouped and scalar aggregates, DISTINCT and collation-sensitive groups
and reads without a LIMIT (first round merged, then each shard on its own), while far
fewer rows cross the wire; a failing shard's own error comes back, and a
cancelled query leaves nothing running or borrowed. The whole differential corpus runs
with the stage on and off against one unsharded MariaDB (tests/fidelity, VARIANTS).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import trio
from sqlglot import exp

from sharding import Coordinator, Topology
from sharding import session as session_module
from sharding.errors import BackendError
from sharding.exec.batch import BatchPolicy
from sharding.exec.run import ExecStats
from sharding.exec.source import source_groups
from sharding.exec.targets import Target
from sharding.sql.source_stage import aggregate_stage, rows_stage
from tests.conftest import MYSQL_URL


def _col(name: str) -> exp.Column:
    return exp.column(name, table="t")


def test_rows_stage_orders_by_the_shard_order_and_limits() -> None:
    stage = rows_stage(3, [(1, True, False), (0, False, True)])
    sql = stage.render(["SELECT a LIMIT 5", "SELECT b LIMIT 5"], 5)
    assert sql == (
        "WITH _sg_parts (c1, c2, c3) AS ((SELECT a LIMIT 5) UNION ALL (SELECT b LIMIT 5)) "
        "SELECT * FROM _sg_parts ORDER BY 2 DESC, 1 ASC LIMIT 5"
    )


def test_aggregate_stage_recombines_each_partial_with_its_own_merge() -> None:
    g = _col("g")
    exprs: list[exp.Expr] = [
        g,
        exp.Count(this=exp.Star()),
        exp.Sum(this=_col("k")),
        exp.Min(this=_col("s")),
        exp.Max(this=_col("s")),
        exp.BitwiseXorAgg(this=_col("k")),
    ]
    stage = aggregate_stage(exprs, [g], [(0, False, True)], lambda arg: True)
    assert not isinstance(stage, str)
    assert stage.select == (
        "c1",
        "CAST(SUM(c2) AS SIGNED)",
        "SUM(c3)",
        "MIN(c4)",
        "MAX(c5)",
        "BIT_XOR(c6)",
    )
    assert stage.group == " GROUP BY c1" and stage.order == " ORDER BY 1 ASC"
    scalar = aggregate_stage(exprs[1:3], [], [], lambda arg: True)
    assert not isinstance(scalar, str) and scalar.group == "" and scalar.order == ""


def test_aggregate_stage_refuses_inexact_and_unknown_partials() -> None:
    g = _col("g")
    inexact = aggregate_stage([g, exp.Sum(this=_col("d"))], [g], [], lambda arg: False)
    assert isinstance(inexact, str) and "floating-point" in inexact
    variance = aggregate_stage([exp.VariancePop(this=_col("d"))], [], [], lambda arg: True)
    assert isinstance(variance, str) and "no per-data-source merge" in variance
    # A quotient's exact-digits sum (DECIMAL(65, 38)) would clip when re-added.
    exact = exp.Add(
        this=exp.Sum(this=_col("k")),
        expression=exp.Cast(this=exp.Literal.number(0), to=exp.DataType.build("DECIMAL")),
    )
    refused = aggregate_stage([exact], [], [], lambda arg: True)
    assert isinstance(refused, str) and "no per-data-source merge" in refused


def test_a_text_groups_first_row_stage_numbers_each_groups_parts() -> None:
    """Equal texts make one group whose shown value is its part of least ``MIN(pk)``:
    a window keeps that part and combines the other partials over the group."""
    g, first = _col("g"), exp.Min(this=_col("id"))
    exprs: list[exp.Expr] = [
        g,
        exp.Count(this=exp.Star()),
        exp.Sum(this=_col("k")),
        exp.Max(this=_col("s")),
        first,
    ]
    stage = aggregate_stage(exprs, [g], [(0, False, True)], lambda arg: True, first=4)
    assert not isinstance(stage, str)
    sql = stage.render(["SELECT a LIMIT 5", "SELECT b LIMIT 5"], 5)
    over = "OVER (PARTITION BY c1)"
    assert sql == (
        "WITH _sg_parts (c1, c2, c3, c4, c5) AS ((SELECT a LIMIT 5) UNION ALL "
        "(SELECT b LIMIT 5)) SELECT c1, c2, c3, c4, c5 FROM (SELECT c1, "
        f"CAST(SUM(c2) {over} AS SIGNED) AS c2, SUM(c3) {over} AS c3, MAX(c4) {over} AS c4, "
        "c5, ROW_NUMBER() OVER (PARTITION BY c1 ORDER BY c5) AS _sg_first FROM _sg_parts) "
        "AS _sg_groups WHERE _sg_first = 1 ORDER BY 1 ASC LIMIT 5"
    )
    assert "least primary key" in stage.describe()
    # DISTINCT: the group columns and MIN(pk) only.
    distinct = aggregate_stage([g, first], [g], [(0, False, True)], lambda arg: True, first=1)
    assert not isinstance(distinct, str) and distinct.select == ("c1", "c2")
    # Only partials with a window form that is the aggregate's own.
    xor = aggregate_stage(
        [g, exp.BitwiseXorAgg(this=_col("k")), first], [g], [], lambda arg: True, first=2
    )
    assert isinstance(xor, str) and "no per-data-source merge" in xor
    inexact = aggregate_stage(
        [g, exp.Sum(this=_col("d")), first], [g], [], lambda arg: False, first=2
    )
    assert isinstance(inexact, str) and "floating-point" in inexact
    # MIN of a text: which of equal texts it shows is the order the parts meet in.
    text_min = aggregate_stage(
        [g, exp.Min(this=_col("s")), first],
        [g],
        [],
        lambda arg: arg != _col("s"),
        first=2,
    )
    assert isinstance(text_min, str) and "not a number" in text_min


def _targets(spec: list[tuple[str, int]]) -> list[Target]:
    return [Target(ds, shard, (), (f"db_{shard}",)) for ds, shard in spec]


def test_source_groups_cut_per_data_source() -> None:
    policy = BatchPolicy(parallel=2, min_parts=2, max_parts=4)
    targets = _targets([("a", i) for i in range(9)] + [("b", 100 + i) for i in range(3)])
    groups = source_groups(targets, policy)
    # No shard read alone for its column definitions (sharding.exec.shard_columns).
    assert [[t.shard for t in g] for g in groups] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8],
        [100, 101],
        [102],
    ]
    assert source_groups(targets, None) == []
    assert source_groups(targets[:1], policy) == []  # nothing worth wrapping
    one_each = _targets([("a", 0), ("b", 1), ("c", 2)])
    assert source_groups(one_each, policy) == []
    # Long parts (a big IN list in every shard's text): a statement stays under
    # max_bytes, as the batch layer's do.
    wide = BatchPolicy(parallel=1, min_parts=2, max_parts=256, max_bytes=1000)
    cut = source_groups(targets[:9], wide, part_bytes=300)
    assert [len(g) for g in cut] == [3, 3, 3]


# ---------------------------------------------------------------------- on MariaDB

DB = "sgsource"
SHARDS = 64


def topology(pushdown: bool, chunk: int = 16, shards_per_statement: int = 16) -> Topology:
    return Topology.loads(f"""
[cluster]
database = "{DB}"
default_shards = {SHARDS}
chunk_rows = {chunk}
pushdown = {"true" if pushdown else "false"}
shards_per_statement = {shards_per_statement}

[executor]
buckets = 1
slots_per_bucket = 8
window = 8

[[datasources]]
name = "ds0"
kind = "mysql"
url = "{MYSQL_URL}"
""")


QUERIES = [
    "SELECT id, x FROM t ORDER BY x DESC, id LIMIT 10",
    "SELECT id, x FROM t ORDER BY x, id LIMIT 5 OFFSET 100",
    "SELECT id, s FROM t ORDER BY s, id LIMIT 40",
    "SELECT id, n FROM t ORDER BY n, id LIMIT 30",
    "SELECT id, n FROM t ORDER BY n DESC, id DESC LIMIT 30",
    "SELECT x % 7, COUNT(*), SUM(x), AVG(x), MIN(s), MAX(s) FROM t GROUP BY x % 7 ORDER BY 1",
    "SELECT s, COUNT(*), SUM(amount), AVG(amount) FROM t GROUP BY s",
    "SELECT size, COUNT(*), MIN(size), MAX(id) FROM t GROUP BY size",
    "SELECT COUNT(*), SUM(x), AVG(amount), MIN(s), MAX(n), BIT_OR(x) FROM t",
    "SELECT COUNT(*), SUM(x) FROM t WHERE id < 0",
    "SELECT DISTINCT s FROM t ORDER BY s",
    "SELECT COUNT(DISTINCT s), COUNT(DISTINCT x) FROM t",
    "SELECT x % 3, GROUP_CONCAT(s ORDER BY id SEPARATOR ',') FROM t WHERE id < 40 GROUP BY x % 3",
    "SELECT n, COUNT(*) FROM t GROUP BY n ORDER BY n LIMIT 3",
    "SELECT s, SUM(d) FROM t GROUP BY s",
    # No LIMIT: only the first chunk is merged per data source (sharding.exec.first_round).
    "SELECT id, x FROM t WHERE id < 40 AND id % 4 = 0",  # fewer rows than a chunk
    "SELECT id, x, s FROM t",  # full first chunks: each shard continues on its own
    "SELECT id, x FROM t ORDER BY x, id",
    "SELECT id, n FROM t WHERE id >= 100 ORDER BY n DESC, id",
    "SELECT id, s FROM t WHERE id < 12 ORDER BY s, id",
]


async def _load(coord: Coordinator) -> None:
    await coord.execute(f"DROP DATABASE IF EXISTS {DB}")
    await coord.execute(f"CREATE DATABASE {DB}")
    await coord.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, x INT, n INT NULL, s VARCHAR(10), "
        "amount DECIMAL(10,2), d DOUBLE, size ENUM('small','medium','large'))"
    )
    rows = []
    for i in range(640):
        n = "NULL" if i % 9 == 0 else str((i * 13) % 50)
        s = "abcAB"[i % 5] + ("" if i % 4 else " ")  # case and trailing spaces: one group
        rows.append(
            f"({i}, {(i * 37) % 101}, {n}, '{s}', {i % 17}.{i % 100:02d}, {i / 7}, "
            f"'{('small', 'medium', 'large')[i % 3]}')"
        )
    await coord.execute(f"INSERT INTO t VALUES {', '.join(rows)}")


async def _drop(coord: Coordinator) -> None:
    await coord.execute(f"DROP DATABASE IF EXISTS {DB}")
    for shard in range(SHARDS):
        await coord.datasources["ds0"].execute(f"DROP DATABASE IF EXISTS {DB}_{shard:04d}")


def _fold(v: Any) -> Any:
    return v.rstrip().lower() if isinstance(v, str) else v


class _Recorded(ExecStats):
    seen: ClassVar[list[ExecStats]] = []

    def __init__(self) -> None:
        super().__init__()
        _Recorded.seen.append(self)


async def _run_all(pushdown: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[int]]:
    monkeypatch.setattr(session_module, "ExecStats", _Recorded)
    out: list[Any] = []
    shard_rows: list[int] = []
    async with Coordinator(topology(pushdown), catalog_refresh=None) as coord:
        if pushdown:
            await _load(coord)
        for q in QUERIES:
            _Recorded.seen.clear()
            rs = await coord.execute(q)
            # Which of several collation-equal texts ('a', 'A', 'a ') a group or MIN shows
            # is the server's scan order (MariaDB's too): compare them folded.
            rows = [tuple(_fold(v) for v in r) for r in rs.rows]
            # Without ORDER BY the rows are a multiset (GROUP BY s: groups in any order).
            out.append((q, rows if "ORDER BY" in q.split("FROM")[-1] else sorted(map(repr, rows))))
            # Column definitions: tests/server/test_column_definitions.py compares them
            # with MariaDB's (the stage sends the first shard's own; a UNION's differ).
            out.append((q, [c.name for c in rs.columns]))
            shard_rows.append(sum(s.streams.rows for s in _Recorded.seen))
        if not pushdown:
            await _drop(coord)
    return out, shard_rows


@pytest.mark.mysql
async def test_pushdown_on_and_off_give_the_same_rows_with_far_fewer_crossing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        on, rows_on = await _run_all(True, monkeypatch)
        off, rows_off = await _run_all(False, monkeypatch)
    except BaseException:
        async with Coordinator(topology(False), catalog_refresh=None) as coord:
            await _drop(coord)
        raise
    assert on == off
    # Top-10 over 64 shards: 4 merged statements (≤ 10 rows each) instead of up to 10 rows from every shard.
    assert rows_on[0] <= 5 * 10 < rows_off[0], (rows_on[0], rows_off[0])
    # OFFSET 100: the merged statements return at most 105 rows each.
    assert rows_on[1] <= 5 * 105 < rows_off[1]
    # GROUP BY x % 7: 7 groups per merged statement instead of 7 per shard.
    assert rows_on[5] <= 5 * 7 < rows_off[5]
    # The DOUBLE sum is not pushed down (the additions' order decides its digits).
    assert rows_on[14] == rows_off[14]
    # Text groups ('a', 'A', 'a ' are one): each data source's statement numbers a
    # group's parts by MIN(id) and keeps the first — 3 groups per merged statement.
    for q in ("SELECT s, COUNT(*), SUM(amount), AVG(amount) FROM t GROUP BY s",
              "SELECT DISTINCT s FROM t ORDER BY s"):  # fmt: skip
        i = QUERIES.index(q)
        assert rows_on[i] <= 5 * 3 < rows_off[i], (q, rows_on[i], rows_off[i])
    # First rounds: a chunk that is the whole read of its data source is all that
    # crosses; a full one is dropped (one statement of 64 parts, a 16-row chunk) and its
    # shards are read as without it.
    first = QUERIES.index("SELECT id, x FROM t WHERE id < 40 AND id % 4 = 0")
    assert rows_off[first : first + 5] == [10, 640, 640, 540, 12]
    assert rows_on[first : first + 5] == [10, 640 + 16, 640 + 16, 540 + 16, 12]


@pytest.mark.mysql
async def test_failing_shard_gives_its_own_error_and_cancel_leaves_nothing() -> None:
    async with Coordinator(topology(True, chunk=4), catalog_refresh=None) as coord:
        await _load(coord)
        try:
            ds = coord.datasources["ds0"]
            # A shard's table gone: the error names that shard's table, as unmerged.
            await ds.execute(f"RENAME TABLE {DB}_0037.t TO {DB}_0037.t_moved")
            with pytest.raises(BackendError) as caught:
                await coord.execute("SELECT id, x FROM t ORDER BY x, id LIMIT 10")
            assert caught.value.code == 1146 and f"{DB}_0037" in str(caught.value)
            await ds.execute(f"RENAME TABLE {DB}_0037.t_moved TO {DB}_0037.t")
            # Cancelled mid-read (every part sleeps): nothing left running or borrowed.
            with trio.move_on_after(0.3) as scope:
                await coord.execute("SELECT id, x FROM t WHERE SLEEP(0.002) = 0 ORDER BY x, id")
            assert scope.cancelled_caught
            for bucket in coord.executor.status():
                assert (bucket.active, bucket.waiting, bucket.queries) == (0, 0, 0)
            stats = ds.statistics()
            assert stats.in_use == 0 and stats.waiting == 0
            rs = await coord.execute("SELECT COUNT(*), SUM(x) FROM t")
            assert rs.rows[0][0] == 640
        finally:
            await _drop(coord)


@pytest.mark.mysql
async def test_shards_per_statement_sets_the_statements_that_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``cluster.shards_per_statement``: the top-10 over 64 shards runs as 4 statements
    of 16 (10 rows each cross) or as one of 64 (10 rows cross), same answer."""
    monkeypatch.setattr(session_module, "ExecStats", _Recorded)
    answers = []
    crossing = []
    try:
        for per in (16, 64):
            async with Coordinator(
                topology(True, shards_per_statement=per), catalog_refresh=None
            ) as coord:
                if per == 16:
                    await _load(coord)
                _Recorded.seen.clear()
                answers.append((await coord.execute(QUERIES[0])).rows)
                crossing.append(sum(s.streams.rows for s in _Recorded.seen))
    finally:
        async with Coordinator(topology(False), catalog_refresh=None) as coord:
            await _drop(coord)
    assert answers[0] == answers[1] and len(answers[0]) == 10
    assert crossing == [4 * 10, 10]
