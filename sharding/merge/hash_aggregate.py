"""HashAggregate: GROUP BY over unordered input, one hash entry per group.

Every group is held until the input ends (memory: one entry per group), then emitted;
for input sorted by the group key, :mod:`~sharding.merge.ordered_aggregate` streams
instead. Shared behaviour (keys, modes, the scalar case): :mod:`sharding.merge.grouping`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sharding.merge.aggregates import AnyAccumulator
from sharding.merge.grouping import GroupedAggregate, GroupFn, columns_group
from sharding.merge.types import Batch, child_batches

__all__ = ["GroupFn", "HashAggregate", "columns_group"]


class HashAggregate(GroupedAggregate):
    #: At most this many groups (None: no bound); over it, the error names
    #: :attr:`what` and :attr:`setting` (:class:`~sharding.merge.held.HeldHashAggregate`).
    bound: int | None = None
    what: str = "GROUP BY"
    setting: str = "cluster.union_rows"

    async def _run(self) -> AsyncIterator[Batch]:
        key_of, feed, new_group = self._keyer(), self._feeder(), self._new_group
        groups: dict[tuple[Any, ...], tuple[tuple[Any, ...], list[AnyAccumulator]]] = {}
        bound = self.bound
        async with child_batches(self._child) as batches:
            async for batch in batches:
                for row in batch:
                    values, key = key_of(row)
                    entry = groups.get(key)
                    if entry is None:
                        if bound is not None and len(groups) >= bound:
                            from sharding.merge.held import over_bound

                            raise over_bound(self.what, bound, self.setting)
                        entry = groups[key] = (values, new_group())
                    if feed is not None:
                        feed(entry[1], row)
        if not groups and self._scalar:
            groups[()] = ((), new_group())
        out: Batch = []
        for values, accs in groups.values():
            out.append(self._output(values, accs))
            if len(out) >= self._batch_rows:
                yield out
                out = []
        if out:
            yield out
