"""HashAggregate: GROUP BY over unordered input, one hash entry per group.

Input rows carry group values and either per-shard partials (merge mode) or raw
argument values (raw mode, above a join); see :mod:`sharding.merge.aggregates`.
Output rows are ``(group values..., aggregate results...)``, emitted once the input
ends. With no group columns the output is exactly one row, even for empty input
(``SELECT COUNT(*)`` over nothing is ``0``), as SQL requires.

Groups are keyed by the backend's grouping equality (:meth:`Semantics.group_key`),
with each group column's collation; the first row's values represent the group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sharding.merge.aggregates import (
    Accumulator,
    AggSpec,
    Mode,
    feed_merge,
    feed_raw,
    new_accumulators,
)
from sharding.merge.semantics import Semantics
from sharding.merge.types import BATCH_ROWS, Batch, Operator, Row

GroupFn = Callable[[Row, Sequence[Any]], tuple[Any, ...]]


def columns_group(columns: Sequence[int]) -> GroupFn:
    cols = list(columns)
    return lambda row, params: tuple([row[i] for i in cols])


class HashAggregate:
    def __init__(
        self,
        child: Operator,
        group: GroupFn,
        group_collations: Sequence[str | None],
        specs: Sequence[AggSpec],
        semantics: Semantics,
        mode: Mode = "merge",
        params: Sequence[Any] = (),
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._child = child
        self._group = group
        self._collates = [semantics.collation(c) for c in group_collations]
        self._specs = tuple(specs)
        self._sem = semantics
        self._mode = mode
        self._params = params
        self._batch_rows = batch_rows

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        sem, specs, params = self._sem, self._specs, self._params
        group, collates = self._group, self._collates
        gk = sem.group_key
        groups: dict[tuple[Any, ...], tuple[tuple[Any, ...], list[Accumulator]]] = {}
        merge = self._mode == "merge"
        async for batch in self._child:
            for row in batch:
                values = group(row, params)
                key = tuple([gk(v, c) for v, c in zip(values, collates, strict=True)])
                entry = groups.get(key)
                if entry is None:
                    entry = (values, new_accumulators(specs, sem))
                    groups[key] = entry
                if merge:
                    feed_merge(entry[1], specs, row)
                else:
                    feed_raw(entry[1], specs, row, params)
        if not groups and not collates:
            groups[()] = ((), new_accumulators(specs, sem))
        out: Batch = []
        for values, accs in groups.values():
            out.append(values + tuple([a.result() for a in accs]))
            if len(out) >= self._batch_rows:
                yield out
                out = []
        if out:
            yield out
