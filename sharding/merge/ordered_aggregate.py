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
from sharding.merge.types import Batch


class OrderedAggregate(GroupedAggregate):
    async def _run(self) -> AsyncIterator[Batch]:
        key_of, feed, new_group = self._keyer(), self._feeder(), self._new_group
        current_key: tuple[Any, ...] | None = None
        current_values: tuple[Any, ...] = ()
        accs = new_group()
        seen_any = False
        out: Batch = []
        async for batch in self._child:
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
