"""Limit/Offset: skip ``offset`` rows, pass at most ``count`` (None: no limit).

Stops pulling from its input as soon as ``count`` rows have passed, so a satisfied
``LIMIT`` stops every shard read under it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sharding.merge.types import Batch, Operator, child_batches


class Limit:
    def __init__(self, child: Operator, offset: int = 0, count: int | None = None) -> None:
        if offset < 0 or (count is not None and count < 0):
            raise ValueError("LIMIT and OFFSET must be non-negative")
        self._child = child
        self._offset = offset
        self._count = count

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        skip = self._offset
        left = self._count
        if left == 0:
            return
        async with child_batches(self._child) as batches:
            async for batch in batches:
                if skip:
                    if len(batch) <= skip:
                        skip -= len(batch)
                        continue
                    batch = batch[skip:]
                    skip = 0
                if left is not None:
                    if len(batch) >= left:
                        yield batch[:left]
                        return
                    left -= len(batch)
                yield batch
