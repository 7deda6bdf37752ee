"""The Window operator alone (issue 18.5), no shard database.

Integer results are checked against SQLite's own window functions (in-process, the
same definitions as MySQL's for these forms: ROW_NUMBER, RANK, DENSE_RANK, NTILE,
LAG/LEAD, FIRST/LAST_VALUE, COUNT/SUM/MIN/MAX with the default and ROWS frames);
MySQL-only value rules (DECIMAL sums and averages, collations, PERCENT_RANK's shown
scale) and the partition bound are asserted directly.
"""

from __future__ import annotations

import random
import sqlite3
from decimal import Decimal
from typing import Any

import pytest
import trio

from sharding.errors import NotSupported
from sharding.merge.semantics import MYSQL
from sharding.merge.types import collect, from_rows
from sharding.merge.window import Frame, Window, WindowFunc, streamable

# (SQL text of the function over columns p, o, v of table w, the operator's function)
FUNCTIONS: list[tuple[str, WindowFunc]] = [
    (
        "ROW_NUMBER() OVER (PARTITION BY p ORDER BY o, id)",
        WindowFunc("row_number", partition=1, order=2),
    ),
    ("RANK() OVER (PARTITION BY p ORDER BY o)", WindowFunc("rank", partition=1, order=1)),
    (
        "DENSE_RANK() OVER (PARTITION BY p ORDER BY o)",
        WindowFunc("dense_rank", partition=1, order=1),
    ),
    (
        "NTILE(3) OVER (PARTITION BY p ORDER BY o, id)",
        WindowFunc("ntile", offset=3, partition=1, order=2),
    ),
    (
        "LAG(v, 2) OVER (PARTITION BY p ORDER BY o, id)",
        WindowFunc("lag", arg=3, offset=2, partition=1, order=2),
    ),
    (
        "LEAD(v) OVER (PARTITION BY p ORDER BY o, id)",
        WindowFunc("lead", arg=3, partition=1, order=2),
    ),
    (
        "FIRST_VALUE(v) OVER (PARTITION BY p ORDER BY o, id)",
        WindowFunc("first_value", arg=3, partition=1, order=2),
    ),
    (
        "LAST_VALUE(v) OVER (PARTITION BY p ORDER BY o, id)",
        WindowFunc("last_value", arg=3, partition=1, order=2),
    ),
    (
        "SUM(v) OVER (PARTITION BY p ORDER BY o)",
        WindowFunc("agg", arg=3, agg="sum", partition=1, order=1),
    ),
    ("COUNT(v) OVER (PARTITION BY p)", WindowFunc("agg", arg=3, agg="count", partition=1)),
    ("COUNT(*) OVER ()", WindowFunc("agg", agg="count_star")),
    ("MAX(v) OVER (ORDER BY p)", WindowFunc("agg", arg=3, agg="max", order=1)),
    (
        "MIN(v) OVER (PARTITION BY p ORDER BY o, id ROWS BETWEEN 1 PRECEDING AND 2 FOLLOWING)",
        WindowFunc("agg", arg=3, agg="min", partition=1, order=2, frame=Frame(True, -1, 2)),
    ),
    (
        "SUM(v) OVER (PARTITION BY p ORDER BY o, id ROWS BETWEEN 2 FOLLOWING AND 3 FOLLOWING)",
        WindowFunc("agg", arg=3, agg="sum", partition=1, order=2, frame=Frame(True, 2, 3)),
    ),
    (
        "LAST_VALUE(v) OVER (PARTITION BY p ORDER BY o, id ROWS BETWEEN UNBOUNDED PRECEDING "
        "AND UNBOUNDED FOLLOWING)",
        WindowFunc("last_value", arg=3, partition=1, order=2, frame=Frame(True, None, None)),
    ),
    (
        "COUNT(*) OVER (PARTITION BY p ORDER BY o RANGE BETWEEN CURRENT ROW AND UNBOUNDED "
        "FOLLOWING)",
        WindowFunc("agg", agg="count_star", partition=1, order=1, frame=Frame(False, 0, None)),
    ),
]


FUNCTIONS += [
    (
        "LAG(v, 0) OVER (PARTITION BY p ORDER BY o, id)",
        WindowFunc("lag", arg=3, offset=0, partition=1, order=2),
    ),
    ("SUM(v) OVER (ORDER BY p, o)", WindowFunc("agg", arg=3, agg="sum", order=2)),
    ("LAST_VALUE(v) OVER (ORDER BY p)", WindowFunc("last_value", arg=3, order=1)),
    (
        "FIRST_VALUE(v) OVER (PARTITION BY p ORDER BY o)",
        WindowFunc("first_value", arg=3, partition=1, order=1),
    ),
    ("AVG(v) OVER (PARTITION BY p)", WindowFunc("agg", arg=3, agg="avg", partition=1)),
]


def run(op: Window) -> list[tuple[Any, ...]]:
    async def main() -> list[tuple[Any, ...]]:
        return await collect(op)

    return trio.run(main)


def window(rows: list[tuple[Any, ...]], funcs: list[WindowFunc], **kw: Any) -> Window:
    """Rows sorted by (p, o, id) = columns (1, 2, 0), in batches of 3."""
    return Window(
        from_rows(rows, batch=3),
        kw.pop("keys", (1, 2, 0)),
        kw.pop("collations", (None, None, None)),
        funcs,
        MYSQL,
        kw.pop("max_rows", 1000),
    )


@pytest.mark.parametrize("seed", range(5))
def test_functions_match_sqlite(seed: int) -> None:
    rng = random.Random(seed)
    rows = [
        (i, rng.randrange(4), rng.choice([None, 1, 2, 2, 3]), rng.choice([None, *range(-5, 9)]))
        for i in range(1, 60)
    ]
    rows.sort(key=lambda r: (r[1], (r[2] is not None, r[2] or 0), r[0]))
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE w (id INT PRIMARY KEY, p INT, o INT, v INT)")
    conn.executemany("INSERT INTO w VALUES (?, ?, ?, ?)", rows)
    for sql, func in FUNCTIONS:
        expected = dict(conn.execute(f"SELECT id, {sql} FROM w").fetchall())
        got = {r[0]: r[4] for r in run(window(rows, [func]))}
        if sql.startswith("AVG"):
            # MySQL's AVG of INT: a DECIMAL with scale 4; SQLite's: a REAL.
            assert got.keys() == expected.keys(), sql
            for k, v in got.items():
                assert (v is None) == (expected[k] is None), sql
                if v is not None:
                    assert abs(float(v) - expected[k]) < 1e-4, sql
            continue
        # SUM of integers is MySQL's DECIMAL; SQLite's INTEGER.
        got = {k: int(v) if isinstance(v, Decimal) else v for k, v in got.items()}
        assert got == expected, sql


@pytest.mark.parametrize("seed", range(3))
def test_streaming_and_holding_agree(seed: int) -> None:
    """Streamable functions computed alone (streamed: no partition held) and next to
    NTILE (the partition held) give the same values."""
    rng = random.Random(seed)
    rows = [(i, rng.randrange(3), rng.choice([None, 1, 2, 2]), rng.randrange(9)) for i in range(40)]
    rows.sort(key=lambda r: (r[1], (r[2] is not None, r[2] or 0), r[0]))
    streamed = [f for _, f in FUNCTIONS if streamable(f)]
    assert len(streamed) >= 10
    alone = run(window(rows, streamed))
    held = run(window(rows, [*streamed, WindowFunc("ntile", offset=2, partition=1, order=2)]))
    assert [r[:-1] for r in held] == alone


def test_several_functions_share_one_sort() -> None:
    rows = [(1, "a", 1, 10), (2, "a", 1, 20), (3, "a", 2, 30), (4, "b", 1, 40)]
    out = run(
        window(
            rows,
            [
                WindowFunc("rank", order=1),  # ORDER BY p over the whole input
                WindowFunc("row_number", partition=1, order=2),
                WindowFunc("dense_rank", partition=1, order=1),
            ],
        )
    )
    assert [r[4:] for r in out] == [(1, 1, 1), (1, 2, 1), (1, 3, 2), (4, 1, 1)]


def test_decimal_sum_and_average_are_exact_with_mysql_scale() -> None:
    rows = [(i, 1, i, Decimal(v)) for i, v in enumerate(["0.10", "0.20", "0.05"], 1)]
    out = run(
        window(
            rows,
            [
                WindowFunc("agg", arg=3, agg="sum", partition=1, order=1),
                WindowFunc("agg", arg=3, agg="avg", partition=1),
                WindowFunc("agg", arg=0, agg="avg", partition=1),
            ],
            keys=(1, 2),
            collations=(None, None),
        )
    )
    assert [str(r[4]) for r in out] == ["0.10", "0.30", "0.35"]
    assert {str(r[5]) for r in out} == {"0.116667"}  # scale 2 + 4
    assert {str(r[6]) for r in out} == {"2.0000"}  # AVG of INT: DECIMAL, scale 4


def test_partitions_and_peers_follow_the_collation() -> None:
    rows = [(1, "a", "x", 1), (2, "A", "X", 2), (3, "a ", "y", 3), (4, "b", "x", 4)]
    out = run(
        window(
            rows,
            [
                WindowFunc("row_number", partition=1, order=1),
                WindowFunc("rank", partition=1, order=1),
            ],
            collations=("utf8mb4_general_ci", "utf8mb4_general_ci", None),
        )
    )
    assert [r[4:] for r in out] == [(1, 1), (2, 1), (3, 3), (1, 1)]


def test_percent_rank_and_cume_dist_show_ten_decimals() -> None:
    rows = [(1, 1, 1, 0), (2, 1, 2, 0), (3, 1, 2, 0)]
    out = run(
        window(
            rows,
            [
                WindowFunc("percent_rank", partition=1, order=1),
                WindowFunc("cume_dist", partition=1, order=1),
            ],
        )
    )
    assert [(repr(r[4]), repr(r[5])) for r in out] == [
        ("0.0000000000", "0.3333333333"),
        ("0.5000000000", "1.0000000000"),
        ("0.5000000000", "1.0000000000"),
    ]


def test_a_partition_over_the_bound_is_a_clear_error() -> None:
    rows = [(i, 1, i, i) for i in range(10)]
    with pytest.raises(NotSupported, match=r"cluster\.union_rows"):
        run(window(rows, [WindowFunc("lead", arg=3, partition=1, order=1)], max_rows=5))
    # Streamed functions hold one peer group, not the partition.
    out = run(window(rows, [WindowFunc("row_number", partition=1, order=1)], max_rows=5))
    assert [r[4] for r in out] == list(range(1, 11))
    running = WindowFunc("agg", arg=3, agg="sum", partition=1, order=1)
    assert [r[4] for r in run(window(rows, [running], max_rows=5))][-1] == 45
    peers = [(i, 1, 0, i) for i in range(10)]  # one peer group of 10 rows
    with pytest.raises(NotSupported, match=r"cluster\.union_rows"):
        run(window(peers, [running], max_rows=5))
    # Many small partitions stay under the bound.
    rows = [(i, i // 3, i, i) for i in range(30)]
    out = run(window(rows, [WindowFunc("row_number", partition=1, order=1)], max_rows=5))
    assert [r[4] for r in out] == [1, 2, 3] * 10


# -- end to end over the SQLite default (4 shard files, 3-row chunks) ------------------

SQLITE_STATEMENTS = [
    # PARTITION BY the shard key: computed by the shards, chunks over a derived table.
    "SELECT id, k, ROW_NUMBER() OVER (PARTITION BY id ORDER BY k) FROM w ORDER BY id",
    # Computed by the coordinator.
    "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM w",
    "SELECT id, k, RANK() OVER (PARTITION BY k ORDER BY v), LAG(v, 2) OVER (PARTITION BY k "
    "ORDER BY v) FROM w ORDER BY id",
    "SELECT id, COUNT(*) OVER (PARTITION BY k), MAX(v) OVER (PARTITION BY k ORDER BY v "
    "ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM w ORDER BY id LIMIT 7",
]


async def test_sqlite_shards_answer_as_one_sqlite_database(coord: Any) -> None:
    rows = [(i, i % 3, (i * 7) % 10) for i in range(1, 30)]
    reference = sqlite3.connect(":memory:")
    for target in (reference,):
        target.execute("CREATE TABLE w (id INT PRIMARY KEY, k INT, v INT)")
        target.executemany("INSERT INTO w VALUES (?, ?, ?)", rows)
    await coord.execute("CREATE TABLE w (id INT PRIMARY KEY, k INT, v INT)")
    values = ", ".join(f"({a}, {b}, {c})" for a, b, c in rows)
    await coord.execute(f"INSERT INTO w VALUES {values}")
    for sql in SQLITE_STATEMENTS:
        expected = [tuple(r) for r in reference.execute(sql).fetchall()]
        got = [tuple(r) for r in (await coord.execute(sql)).rows]
        if "ORDER BY id" not in sql.split("FROM w")[-1]:
            expected.sort()
            got.sort()
        assert got == expected, sql
