"""GROUP_CONCAT's accumulator (sharding/merge/group_concat.py) on hand-made shard rows:
the cut and its warning numbering as MariaDB 10.11 gives them (measured: separators
between empty elements, "Row N" counting every appended element of the evaluated
groups), and the bounded memory of a long group (pruned elements change nothing).
The differential cases against MariaDB are tests/fidelity/test_group_concat.py."""

from __future__ import annotations

import pytest

from sharding.errors import NotSupported
from sharding.merge.group_concat import ConcatAccumulator, ConcatRuntime, ConcatSpec
from sharding.merge.semantics import MYSQL

# Rows: (text, count, order key)
ORDERED = ConcatSpec(value=0, count=1, order=((2, False, None, None),))
UNORDERED = ConcatSpec(value=0, count=1)


def _group(spec: ConcatSpec, rows: list[tuple[object, ...]], runtime: ConcatRuntime) -> object:
    acc = ConcatAccumulator(spec, MYSQL, runtime, 0)
    for r in rows:
        acc.add(r)
    return acc.result()


def test_empty_elements_are_separated_and_the_cut_is_numbered() -> None:
    rt = ConcatRuntime(max_len=4)
    spec = ConcatSpec(value=0, count=1, order=((2, False, None, None),), separator="--")
    assert _group(spec, [("", 1, 1), ("", 1, 2), ("a", 1, 3)], rt) == "----"
    assert rt.warnings == [("Warning", 1260, "Row 3 was cut by GROUP_CONCAT()")]


def test_numbering_counts_appended_elements_of_every_group() -> None:
    rt = ConcatRuntime(max_len=4)
    groups = [
        [("xx", 3, 1)],  # cut at its 2nd element: Row 2
        [("xx", 1, 1), ("x", 1, 2), ("xx", 1, 3)],  # "xx,x", cut at the 3rd: 2 + 3 = Row 5
        [("y", 1, 1)],  # not cut: 6
        [("zz", 1, 1), ("zz", 1, 2)],  # Row 8
    ]
    out = [_group(ORDERED, g, rt) for g in groups]
    assert out == ["xx,x", "xx,x", "y", "zz,z"]
    assert [w[2] for w in rt.warnings] == [
        "Row 2 was cut by GROUP_CONCAT()",
        "Row 5 was cut by GROUP_CONCAT()",
        "Row 8 was cut by GROUP_CONCAT()",
    ]


def test_cut_on_a_character_boundary_and_nulls_skipped() -> None:
    rt = ConcatRuntime(max_len=5)
    assert _group(ORDERED, [("ééé", 1, 1), (None, 4, 0)], rt) == "éé"
    assert _group(ORDERED, [(None, 2, 1)], rt) is None


def test_a_long_group_is_pruned_without_changing_the_result() -> None:
    rows = [(f"v{i:05d}", 1, 100000 - i) for i in range(20000)]
    small, big = ConcatRuntime(max_len=40), ConcatRuntime(max_len=40)
    acc = ConcatAccumulator(ORDERED, MYSQL, small, 0)
    for r in rows:
        acc.add(r)
        assert len(acc.rows) < 300  # about 2 * max_len bytes of elements are held
    expected = ",".join(t for t, _, _ in sorted(rows, key=lambda r: r[2]))[:40]
    assert acc.result() == expected
    assert _group(ORDERED, rows, big) == expected
    assert small.warnings == big.warnings


def test_unordered_group_stops_collecting_after_the_cut() -> None:
    rt = ConcatRuntime(max_len=10)
    acc = ConcatAccumulator(UNORDERED, MYSQL, rt, 0)
    for i in range(10000):
        acc.add((f"{i:04d}", 1))
    assert len(acc.rows) < 2000
    assert acc.result() == "0000,0001,"
    assert rt.warnings == [("Warning", 1260, "Row 3 was cut by GROUP_CONCAT()")]


def test_distinct_under_the_argument_collation() -> None:
    spec = ConcatSpec(
        value=0,
        count=None,
        order=((1, False, "utf8mb4_general_ci", None),),
        distinct=((1, "utf8mb4_general_ci"),),
    )
    rt = ConcatRuntime()
    assert _group(spec, [("b", "b"), ("a", "a"), ("A", "A"), ("a ", "a ")], rt) == "a,b"


def test_a_cut_that_cannot_be_numbered_is_refused() -> None:
    spec = ConcatSpec(value=0, count=1, refuse_cut="with LIMIT")
    with pytest.raises(NotSupported):
        _group(spec, [("abcdef", 1)], ConcatRuntime(max_len=4))
    assert _group(spec, [("abc", 1)], ConcatRuntime(max_len=4)) == "abc"
