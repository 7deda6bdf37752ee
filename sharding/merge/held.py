"""Operators that hold rows, with a bound on what they hold (issue 18.3).

Above rows the coordinator computes itself — a derived table's rows — ORDER BY,
SELECT DISTINCT and GROUP BY cannot be pushed to the shards: a full sort holds every
row, a DISTINCT one key per distinct row, a hash aggregate one entry per group. These
are :class:`~sharding.merge.sort.Sort`, :class:`~sharding.merge.distinct.Distinct`
and :class:`~sharding.merge.hash_aggregate.HashAggregate` with a cap: holding more
than ``bound`` rows (keys, groups) raises a 1235 that names the setting (``setting``,
``cluster.union_rows`` by default), never an unbounded buffer or a silent cut. A TopN
(``ORDER BY … LIMIT n``) holds at most ``2 × n`` rows and fails only when ``n`` itself
exceeds the bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sharding.errors import NotSupported
from sharding.merge.hash_aggregate import HashAggregate
from sharding.merge.semantics import Semantics
from sharding.merge.types import BATCH_ROWS, Batch, Operator, Row, child_batches

__all__ = ["HeldDistinct", "HeldHashAggregate", "HeldSort", "over_bound"]


def over_bound(what: str, bound: int, setting: str) -> NotSupported:
    """The error of an operator that would hold more than ``bound`` rows."""
    return NotSupported(
        f"{what} would hold more than {bound} rows in the coordinator ({setting}); "
        "add a LIMIT, narrow the rows, or raise the setting"
    )


class HeldSort:
    """Sort (TopN with ``limit``) holding at most ``bound`` rows."""

    def __init__(
        self,
        child: Operator,
        key: Callable[[Row], Any],
        limit: int | None,
        bound: int,
        what: str,
        setting: str = "cluster.union_rows",
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._child = child
        self._key = key
        self._limit = limit
        self._bound = bound
        self._what = what
        self._setting = setting
        self._batch_rows = batch_rows

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        key, limit, bound = self._key, self._limit, self._bound
        if limit == 0:
            return
        rows: list[Row] = []
        async with child_batches(self._child) as batches:
            async for batch in batches:
                rows.extend(batch)
                over = len(rows) > 2 * limit + self._batch_rows if limit is not None else False
                if limit is not None and len(rows) > limit and (over or len(rows) > bound):
                    rows.sort(key=key)
                    del rows[limit:]
                if len(rows) > bound:
                    raise over_bound(self._what, bound, self._setting)
        rows.sort(key=key)
        if limit is not None:
            del rows[limit:]
        step = self._batch_rows
        for i in range(0, len(rows), step):
            yield rows[i : i + step]


class HeldDistinct:
    """Distinct (first row of each class kept) holding at most ``bound`` keys."""

    def __init__(
        self,
        child: Operator,
        semantics: Semantics,
        collations: Sequence[str | None],
        bound: int,
        what: str,
        setting: str = "cluster.union_rows",
    ) -> None:
        self._child = child
        self._sem = semantics
        self._collations = list(collations)
        self._bound = bound
        self._what = what
        self._setting = setting

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        sem = self._sem
        collates = [sem.collation(n) for n in self._collations]
        gk = sem.group_key
        seen: set[tuple[object, ...]] = set()
        async with child_batches(self._child) as batches:
            async for batch in batches:
                out = []
                for row in batch:
                    key = tuple([gk(v, c) for v, c in zip(row, collates, strict=False)])
                    if key not in seen:
                        seen.add(key)
                        out.append(row)
                if len(seen) > self._bound:
                    raise over_bound(self._what, self._bound, self._setting)
                if out:
                    yield out


class HeldHashAggregate(HashAggregate):
    """HashAggregate holding at most ``bound`` groups (set :attr:`bound` and
    :attr:`what` after construction; the base takes the aggregate's arguments)."""

    bound: int | None = 100_000
