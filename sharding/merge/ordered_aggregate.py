"""OrderedAggregate: GROUP BY over input sorted by the group columns (streaming).

The shards return their groups ordered by the group key and a MergeSort interleaves
them, so all partials of one group arrive consecutively; a group is finished — and
emitted — as soon as a row with a different key arrives. Memory is one group at a
time (plus the distinct values of a ``COUNT(DISTINCT …)`` inside it), whatever the
number of groups. Shared behaviour: :mod:`sharding.merge.grouping`.

Invariant: the input's order must make equal group keys adjacent (the planner sorts
shards by exactly the group columns, with the same collations).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sharding.merge.grouping import GroupedAggregate
from sharding.merge.types import Batch, child_batches


class OrderedAggregate(GroupedAggregate):
    async def _run(self) -> AsyncIterator[Batch]:
        if self._rollup:
            async for rows in self._run_rollup():
                yield rows
            return
        key_of, feed, new_group = self._keyer(), self._feeder(), self._new_group
        current_key: tuple[Any, ...] | None = None
        current_values: tuple[Any, ...] = ()
        accs = new_group()
        seen_any = False
        out: Batch = []
        async with child_batches(self._child) as batches:
            async for batch in batches:
                if feed is None:
                    # No aggregates (DISTINCT, a bare GROUP BY): a group is its values.
                    for row in batch:
                        values, key = key_of(row)
                        if key != current_key:
                            if seen_any:
                                out.append(current_values)
                            current_key, current_values, seen_any = key, values, True
                else:
                    for row in batch:
                        values, key = key_of(row)
                        if key != current_key:
                            if seen_any:
                                out.append(self._output(current_values, accs))
                                accs = new_group()
                            current_key, current_values, seen_any = key, values, True
                        feed(accs, row)
                if len(out) >= self._batch_rows:
                    yield out
                    out = []
        if seen_any or self._scalar:
            out.append(self._output(current_values, accs))
        if out:
            yield out

    async def _run_rollup(self) -> AsyncIterator[Batch]:
        """GROUP BY ... WITH ROLLUP: one accumulator set per prefix length of the group
        key (``levels[k]``: the rows whose first ``k`` group values are the current
        ones); every row feeds all of them. When the key changes at position ``p``,
        the levels longer than ``p`` are finished, longest first, as MySQL emits them.
        Memory: ``n + 1`` groups at a time."""
        key_of, feed, new_group = self._keyer(), self._feeder(), self._new_group
        n = len(self._collates)
        levels = [new_group() for _ in range(n + 1)]
        current_key: tuple[Any, ...] | None = None
        current_values: tuple[Any, ...] = ()
        out: Batch = []

        def finish(down_to: int) -> None:
            for k in range(n, down_to, -1):
                values = current_values[:k] + (None,) * (n - k)
                out.append(self._output(values, levels[k]))
                levels[k] = new_group()

        async with child_batches(self._child) as batches:
            async for batch in batches:
                for row in batch:
                    values, key = key_of(row)
                    if current_key is None:
                        current_key, current_values = key, values
                    elif key != current_key:
                        p = next(i for i in range(n) if key[i] != current_key[i])
                        finish(p)
                        current_key, current_values = key, values
                    if feed is not None:
                        for accs in levels:
                            feed(accs, row)
                if len(out) >= self._batch_rows:
                    yield out
                    out = []
        if current_key is not None:
            finish(-1)
        if out:
            yield out
