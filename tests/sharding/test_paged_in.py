"""``x IN (SELECT k …)`` with more values than ``cluster.subquery_rows``: a plain row
filter runs once per page of the values (:mod:`sharding.sql.paged_in`); other shapes
run as a semi/anti join (:mod:`sharding.sql.semi_join`), or keep the clear refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sharding.coordinator import Coordinator
from sharding.errors import ShardgateError
from sharding.sql.paged_in import page_query, paged_in
from sharding.sql.parse import parse_one
from sharding.topology import Topology

ROWS = 3000
BOUND = 100


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    topology = Topology.loads(
        f"""
[cluster]
database = "db"
default_shards = 8
subquery_rows = {BOUND}

[[datasources]]
name = "ds0"
path = "{tmp_path / "ds0"}"
"""
    )
    async with Coordinator(topology, catalog_refresh=None) as c:
        s = c.open_session(database="db")
        await s.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        await s.execute("CREATE TABLE n (id INT PRIMARY KEY, k INT, name VARCHAR(20))")
        await s.execute("INSERT INTO t VALUES " + ",".join(f"({i}, 'v{i}')" for i in range(ROWS)))
        # k: each multiple of 3 below ROWS twice, and some NULLs and misses.
        rows = [f"({i}, {(i // 2) * 3 if i % 7 else 'NULL'}, 'n{i}')" for i in range(2 * ROWS // 3)]
        rows += [f"({10_000 + i}, {ROWS + i}, 'x')" for i in range(50)]
        await s.execute("INSERT INTO n VALUES " + ",".join(rows))
        await s.close()
        yield c


async def test_a_row_filter_past_the_bound_runs_in_pages(coord: Coordinator) -> None:
    s = coord.open_session(database="db")
    ks = {(i // 2) * 3 for i in range(2 * ROWS // 3) if i % 7}
    r = await s.execute("SELECT id, v FROM t WHERE id IN (SELECT k FROM n)")
    assert sorted(r.rows) == [(i, f"v{i}") for i in sorted(ks)]
    assert len(ks) > 5 * BOUND  # many pages
    # Other conditions of the outer and the inner, and a parameter inside.
    r = await s.execute(
        "SELECT id FROM t WHERE id > 100 AND id IN (SELECT k FROM n WHERE k % ? = 0) AND v <> 'v999'",
        (2,),
    )
    assert sorted(row[0] for row in r.rows) == sorted(
        k for k in ks if k > 100 and k % 2 == 0 and k != 999
    )
    await s.close()


def _keys() -> set[int]:
    """The distinct non-NULL ``k`` of ``n`` (the fixture's rows)."""
    ks = {(i // 2) * 3 for i in range(2 * ROWS // 3) if i % 7}
    return ks | {ROWS + i for i in range(50)}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT COUNT(*) FROM t WHERE id IN (SELECT k FROM n)",
            [(len({k for k in _keys() if k < ROWS}),)],
        ),
        (
            "SELECT id FROM t WHERE id IN (SELECT k FROM n) ORDER BY id LIMIT 5",
            [(k,) for k in sorted(_keys())[:5]],
        ),
        ("SELECT id FROM t WHERE id NOT IN (SELECT k FROM n)", []),  # n has a NULL k
        (
            "SELECT COUNT(*) FROM t WHERE id NOT IN (SELECT k FROM n WHERE k IS NOT NULL)",
            [(ROWS - len({k for k in _keys() if k < ROWS}),)],
        ),
        (
            "SELECT COUNT(DISTINCT v) FROM t WHERE id IN (SELECT k FROM n)",
            [(len({k for k in _keys() if k < ROWS}),)],
        ),
        ("SELECT id FROM t WHERE v IN (SELECT name FROM n)", []),
        ("SELECT COUNT(*) FROM n WHERE name IN (SELECT v FROM t WHERE id < 500)", [(0,)]),
    ],
)
async def test_other_shapes_past_the_bound_run_as_a_join(
    coord: Coordinator, sql: str, expected: list[tuple[object, ...]]
) -> None:
    """Not a plain row filter of integer keys: a semi/anti join (sql/semi_join.py)."""
    s = coord.open_session(database="db")
    r = await s.execute(sql)
    assert [tuple(row) for row in r.rows] == expected
    await s.close()


async def test_no_exact_form_past_the_bound_stays_refused(coord: Coordinator) -> None:
    s = coord.open_session(database="db")
    for sql in [
        "SELECT id FROM t WHERE id IN (SELECT k FROM n) OR v = 'v1'",
        # FOUND_ROWS() of a join would need it run again without its LIMIT.
        "SELECT SQL_CALC_FOUND_ROWS id FROM t WHERE id IN (SELECT k FROM n) ORDER BY id LIMIT 3",
    ]:
        with pytest.raises(ShardgateError) as err:
            await s.execute(sql)
        assert err.value.code == 1235 and "cluster.subquery_rows" in str(err.value)
    # A paged filter has no LIMIT: FOUND_ROWS() is its row count.
    r = await s.execute("SELECT SQL_CALC_FOUND_ROWS id FROM t WHERE id IN (SELECT k FROM n)")
    found = await s.execute("SELECT FOUND_ROWS()")
    assert found.rows[0][0] == len(r.rows) == len({k for k in _keys() if k < ROWS})
    await s.close()


def test_which_statements_page_and_the_page_queries() -> None:
    tree = parse_one("SELECT id, v FROM t WHERE v > 'a' AND (id IN (SELECT k + 1 AS kk FROM u))")
    paged = paged_in(tree)
    assert paged is not None
    first = page_query(paged, None, 500).sql(dialect="mysql")
    assert first == "SELECT k + 1 AS kk FROM u WHERE NOT k + 1 IS NULL ORDER BY k + 1 LIMIT 500"
    later = page_query(paged, 41, 500).sql(dialect="mysql")
    assert later == "SELECT k + 1 AS kk FROM u WHERE k + 1 > 41 ORDER BY k + 1 LIMIT 500"
    for sql in [
        "SELECT id FROM t JOIN w ON w.id = t.id WHERE t.id IN (SELECT k FROM u)",
        "SELECT id FROM t WHERE id IN (SELECT k FROM u) LIMIT 5",
        "SELECT id FROM t WHERE id IN (SELECT k FROM u GROUP BY k)",
        "SELECT id FROM t WHERE id IN (SELECT k FROM u WHERE k IN (SELECT 1 FROM w))",
        "SELECT id FROM t WHERE id IN (SELECT k FROM u) AND v IN (SELECT name FROM w)",
        "SELECT id, (SELECT 1) FROM t WHERE id IN (SELECT k FROM u)",
    ]:
        assert paged_in(parse_one(sql)) is None, sql
