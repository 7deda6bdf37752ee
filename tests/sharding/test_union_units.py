"""Issue 18.4: the set-operation primitives (sharding/merge/union.py) and the union
plan on SQLite shards, checked against the same rows read block by block."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from sharding import Coordinator
from sharding.errors import NotSupported
from sharding.merge.semantics import MYSQL, SortItem
from sharding.merge.types import collect, from_rows
from sharding.merge.union import BoundedSort, Chain, SortedDistinct, SortedSetOp, row_key

KEY = MYSQL.sort_key([SortItem(0)])
SAME = row_key(MYSQL, [None], 1)


def _rows(values: list[Any]) -> list[tuple[Any, ...]]:
    return [(v,) for v in values]


async def _set_op(kind: str, left: list[Any], right: list[Any], *, all_rows: bool) -> list[Any]:
    op = SortedSetOp(
        from_rows(_rows(sorted(left)), batch=2),
        from_rows(_rows(sorted(right)), batch=3),
        KEY,
        SAME,
        kind,
        all_rows=all_rows,
        bound=100,
        batch_rows=2,
    )
    return [r[0] for r in await collect(op)]


@pytest.mark.parametrize("all_rows", [False, True])
async def test_intersect_and_except_count_duplicates(all_rows: bool) -> None:
    left = [1, 1, 1, 2, 3, 3, 5, 8, 8]
    right = [1, 3, 3, 3, 4, 8, 8, 8, 9]
    lc, rc = Counter(left), Counter(right)
    if all_rows:
        inter = sorted((lc & rc).elements())
        exc = sorted((lc - rc).elements())
    else:
        inter = sorted(set(left) & set(right))
        exc = sorted(set(left) - set(right))
    assert await _set_op("intersect", left, right, all_rows=all_rows) == inter
    assert await _set_op("except", left, right, all_rows=all_rows) == exc
    assert await _set_op("intersect", left, [], all_rows=all_rows) == []
    assert await _set_op("except", [], right, all_rows=all_rows) == []


async def test_sorted_distinct_keeps_the_first_of_equal_neighbours() -> None:
    rows = [("a",), ("A",), ("a ",), ("b",), (None,), (None,)]
    ci = row_key(MYSQL, ["utf8mb4_general_ci"], 1)
    out = await collect(SortedDistinct(from_rows(rows, batch=2), ci))
    assert out == [("a",), ("b",), (None,)]
    binary = row_key(MYSQL, ["utf8mb4_bin"], 1)
    rows = [("A",), ("a",), ("a ",), ("b",), (None,), (None,)]  # sorted by the binary one
    out = await collect(SortedDistinct(from_rows(rows, batch=2), binary))
    assert out == [("A",), ("a",), ("b",), (None,)]  # PAD SPACE: 'a ' = 'a'


async def test_chain_builds_an_input_only_when_its_turn_comes() -> None:
    built: list[int] = []

    def maker(i: int) -> Any:
        def make() -> Any:
            built.append(i)
            return from_rows(_rows([i, i]))

        return make

    it = Chain([maker(0), maker(1)]).__aiter__()
    assert await it.__anext__() == [(0,), (0,)]
    assert built == [0]
    assert await it.__anext__() == [(1,), (1,)]
    assert built == [0, 1]


async def test_bounded_sort_names_its_setting() -> None:
    assert await collect(BoundedSort(from_rows(_rows([3, 1, 2])), KEY, 3)) == _rows([1, 2, 3])
    with pytest.raises(NotSupported, match=r"cluster\.union_rows"):
        await collect(BoundedSort(from_rows(_rows([3, 1, 2, 4])), KEY, 3))


async def test_union_on_sqlite_shards_matches_the_blocks(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, k INT, name VARCHAR(8))")
    await coord.execute("CREATE TABLE u (uid INT PRIMARY KEY, k INT, name VARCHAR(8))")
    await coord.execute(
        "INSERT INTO t VALUES (1, 1, 'a'), (2, 2, 'B'), (3, NULL, 'c'), (4, 2, 'd'), (5, 7, 'a')"
    )
    await coord.execute(
        "INSERT INTO u VALUES (1, 2, 'b'), (2, 9, 'A'), (3, NULL, 'x'), (6, 1, 'c')"
    )
    tk = [r[0] for r in (await coord.execute("SELECT k FROM t")).rows]
    uk = [r[0] for r in (await coord.execute("SELECT k FROM u")).rows]

    def order(values: list[Any]) -> list[Any]:
        return sorted(values, key=lambda v: (v is not None, v))

    rows = (await coord.execute("SELECT k FROM t UNION ALL SELECT k FROM u ORDER BY 1")).rows
    assert [r[0] for r in rows] == order(tk + uk)
    rows = (await coord.execute("SELECT k FROM t UNION SELECT k FROM u ORDER BY k DESC")).rows
    assert [r[0] for r in rows] == order(list(set(tk + uk)))[::-1]
    rows = (await coord.execute("SELECT k FROM t INTERSECT SELECT k FROM u")).rows
    assert sorted(r[0] for r in rows if r[0] is not None) == sorted(set(tk) & set(uk) - {None})
    rows = (await coord.execute("SELECT k FROM t EXCEPT SELECT k FROM u")).rows
    assert Counter(r[0] for r in rows) == Counter(set(tk) - set(uk))
    # Text under the default collation: the first block's spelling of 'a' / 'A' is kept.
    rows = (await coord.execute("SELECT name FROM u WHERE uid = 2 UNION SELECT name FROM t")).rows
    names = [r[0] for r in rows]
    assert "A" in names and "a" not in names and len(names) == len(set(n.lower() for n in names))
    plan = await coord.explain("SELECT k FROM t UNION SELECT k FROM u")
    assert plan.splitlines()[0].startswith("Union") and "distinct" in plan.splitlines()[0]
