"""Concat: rows of several inputs in arrival order (unordered scatter reads).

The input is one feed of chunks in the order they arrive from any shard (the executor
layer reads shards through the query's window and hands chunks over as they land); this
operator re-batches them. Order between and within shards is unspecified, as for a
``SELECT`` without ``ORDER BY``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from sharding.merge.types import BATCH_ROWS, Batch, child_batches


class Concat:
    def __init__(self, feed: AsyncIterable[Batch], batch_rows: int = BATCH_ROWS) -> None:
        self._feed = feed
        self._batch_rows = batch_rows

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        out: Batch = []
        async with child_batches(self._feed) as batches:
            async for chunk in batches:
                if not chunk:
                    continue
                if not out and len(chunk) >= self._batch_rows:
                    yield chunk
                    continue
                out.extend(chunk)
                if len(out) >= self._batch_rows:
                    yield out
                    out = []
        if out:
            yield out
