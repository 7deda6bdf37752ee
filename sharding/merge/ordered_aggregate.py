"""OrderedAggregate: GROUP BY over input sorted by the group columns (streaming).

The shards return their groups ordered by the group key and a MergeSort interleaves
them, so all partials of one group arrive consecutively; a group is finished — and
emitted — as soon as a row with a different key arrives. Memory is one group at a
time (plus the distinct values of a ``COUNT(DISTINCT …)`` inside it), whatever the
number of groups. Output rows are ``(group values..., aggregate results...)``.

Invariant: the input's order must make equal group keys adjacent (the planner sorts
shards by exactly the group columns, with the same collations).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sharding.merge.aggregates import AggSpec, Mode, feed_merge, feed_raw, new_accumulators
from sharding.merge.hash_aggregate import GroupFn
from sharding.merge.semantics import Semantics
from sharding.merge.types import BATCH_ROWS, Batch, Operator


class OrderedAggregate:
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
        merge = self._mode == "merge"
        current_key: tuple[Any, ...] | None = None
        current_values: tuple[Any, ...] = ()
        accs = new_accumulators(specs, sem)
        seen_any = False
        out: Batch = []
        async for batch in self._child:
            for row in batch:
                values = group(row, params)
                key = tuple([gk(v, c) for v, c in zip(values, collates, strict=True)])
                if key != current_key:
                    if seen_any:
                        out.append(current_values + tuple([a.result() for a in accs]))
                        accs = new_accumulators(specs, sem)
                    current_key, current_values, seen_any = key, values, True
                if merge:
                    feed_merge(accs, specs, row)
                else:
                    feed_raw(accs, specs, row, params)
            if len(out) >= self._batch_rows:
                yield out
                out = []
        if seen_any:
            out.append(current_values + tuple([a.result() for a in accs]))
        elif not collates:
            out.append(tuple([a.result() for a in accs]))
        if out:
            yield out
