"""The merge operators of issue 18.6's aggregates, without a database: WITH ROLLUP
super-aggregate rows from an OrderedAggregate, and STD/VARIANCE partials merged by
moments. (The differential tests against MariaDB: tests/fidelity/test_aggregate_classes2.py.)
"""

from __future__ import annotations

import itertools
import random
import statistics
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from sharding.merge.aggregates import AggSpec, ShownFloat
from sharding.merge.hash_aggregate import HashAggregate, columns_group
from sharding.merge.ordered_aggregate import OrderedAggregate
from sharding.merge.semantics import MYSQL
from sharding.merge.types import collect, from_rows


def _expected_rollup(rows: list[tuple[Any, ...]], n: int) -> list[tuple[Any, ...]]:
    """GROUP BY the first ``n`` columns WITH ROLLUP, SUM of the last, in MySQL's order."""
    out: list[tuple[Any, ...]] = []

    def level(prefix: tuple[Any, ...], part: list[tuple[Any, ...]]) -> None:
        k = len(prefix)
        if k < n:
            for value, sub in itertools.groupby(part, key=lambda r: r[k]):
                level((*prefix, value), list(sub))
        out.append((*prefix, *([None] * (n - k)), sum(r[-1] for r in part)))

    if rows:
        level((), rows)
    return out


@pytest.mark.parametrize("batch", [1, 2, 1000])
async def test_rollup_rows_follow_each_prefix(batch: int) -> None:
    rng = random.Random(batch)
    rows = sorted((rng.randint(0, 2), rng.randint(0, 3), rng.randint(1, 9)) for _ in range(60))
    op = OrderedAggregate(
        from_rows(rows, batch),
        columns_group([0, 1]),
        [None, None],
        [AggSpec("sum", columns=(2,))],
        MYSQL,
        batch_rows=batch,
        rollup=True,
    )
    got = [(a, b, int(s)) for a, b, s in await collect(op)]
    assert got == _expected_rollup(rows, 2)


async def test_rollup_of_no_rows_is_no_rows() -> None:
    op = OrderedAggregate(
        from_rows([]), columns_group([0]), [None], [AggSpec("count_star")], MYSQL, rollup=True
    )
    assert await collect(op) == []


def _variance_specs(squares: bool, decimals: int | None) -> list[AggSpec]:
    return [
        AggSpec(f, columns=(0, 1, 2), squares=squares, decimals=decimals)
        for f in ("var_pop", "var_samp", "std_pop", "std_samp")
    ]


async def test_variance_partials_of_integers_merge_exactly() -> None:
    rng = random.Random(3)
    values = [rng.randint(-1000, 1000) for _ in range(300)]
    shards = [values[i::7] for i in range(7)] + [[]]
    partials = [
        (len(s), Decimal(sum(s)) if s else None, Decimal(sum(x * x for x in s)) if s else None)
        for s in shards
    ]
    op = HashAggregate(from_rows(partials), columns_group([]), [], _variance_specs(True, 4), MYSQL)
    [row] = await collect(op)
    exact = [
        statistics.pvariance(values),
        statistics.variance(values),
        statistics.pstdev(values),
        statistics.stdev(values),
    ]
    for got, want in zip(row, exact, strict=True):
        assert isinstance(got, ShownFloat)
        assert repr(got) == f"{want:.4f}"  # shown as MariaDB sends it
        assert float(got) == pytest.approx(want, rel=1e-15)  # every digit kept


async def test_variance_partials_of_doubles_merge_by_moments() -> None:
    rng = random.Random(5)
    values = [rng.uniform(-1e6, 1e6) for _ in range(500)]
    shards = [values[i::11] for i in range(11)]
    partials = [(len(s), sum(s), statistics.pvariance(s)) for s in shards]
    op = HashAggregate(
        from_rows(partials), columns_group([]), [], _variance_specs(False, None), MYSQL
    )
    [row] = await collect(op)
    exact = statistics.pvariance([Fraction(v) for v in values])
    assert row[0] == pytest.approx(float(exact), rel=1e-12)
    assert row[1] == pytest.approx(float(exact * 500 / 499), rel=1e-12)


async def test_sample_variance_of_one_value_and_of_none_is_null() -> None:
    one = [(1, Decimal(5), Decimal(25))]
    op = HashAggregate(from_rows(one), columns_group([]), [], _variance_specs(True, 4), MYSQL)
    [row] = await collect(op)
    assert row[0] == 0.0 and row[1] is None and row[2] == 0.0 and row[3] is None
    none = [(0, None, None)]
    op = HashAggregate(from_rows(none), columns_group([]), [], _variance_specs(True, 4), MYSQL)
    assert await collect(op) == [(None, None, None, None)]
