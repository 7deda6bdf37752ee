"""MergeSort: k-way merge of sources that are each sorted by the same key.

A binary heap holds one entry per source that still has rows: ``(key, source)``.
Ties between sources are broken by source index, so the merge is stable and never
compares rows themselves. A source is asked for its next chunk only when its current
chunk is used up — never ahead of need — so memory is one chunk per source (plus
whatever the source prefetches).

Keys come from :meth:`Semantics.sort_key`, which orders like the backend's
``ORDER BY`` (storage class, collation, NULL placement, mixed ASC/DESC).
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sharding.merge.types import BATCH_ROWS, Batch, ChunkSource, Row, close_source


class MergeSort:
    def __init__(
        self,
        sources: Sequence[ChunkSource],
        key: Callable[[Row], Any],
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._sources = list(sources)
        self._key = key
        self._batch_rows = batch_rows

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        key = self._key
        sources = self._sources
        # One mutable entry per live source: [key, source, position, rows, keys, length].
        # Entries compare on (key, source) only — the source index is unique — so rows
        # are never compared, ties keep source order, and the hot loop allocates
        # nothing per row (the entry is updated in place and sifted with heapreplace).
        try:
            firsts: list[tuple[int, Batch]] = []
            for i, source in enumerate(sources):
                chunk = await source.next_chunk()
                if chunk:
                    firsts.append((i, chunk))
            if len(firsts) == 1:
                # One source with rows (a data source that merged all its shards): its
                # rows are in order already; no key is computed.
                i, chunk = firsts[0]
                source = sources[i]
                while chunk:
                    yield chunk
                    chunk = await source.next_chunk()
                return
            heap: list[list[Any]] = []
            for i, chunk in firsts:
                keys = [key(r) for r in chunk]
                heap.append([keys[0], i, 0, chunk, keys, len(chunk)])
            heapq.heapify(heap)
            out: Batch = []
            append = out.append
            limit = self._batch_rows
            heapreplace, heappop = heapq.heapreplace, heapq.heappop
            while heap:
                if len(heap) == 1:
                    # One source left: hand over the rest of its rows without the heap.
                    top = heap[0]
                    out.extend(top[3][top[2] :])
                    if out:
                        yield out
                    source = sources[top[1]]
                    while True:
                        chunk = await source.next_chunk()
                        if not chunk:
                            return
                        yield chunk
                top = heap[0]
                p = top[2]
                append(top[3][p])
                p += 1
                if p < top[5]:
                    top[2] = p
                    top[0] = top[4][p]
                    heapreplace(heap, top)
                else:
                    if len(out) >= limit:
                        # Yield before waiting on the network so downstream keeps moving.
                        yield out
                        out = []
                        append = out.append
                    chunk = await sources[top[1]].next_chunk()
                    if chunk:
                        keys = [key(r) for r in chunk]
                        top[0], top[2], top[3], top[4], top[5] = keys[0], 0, chunk, keys, len(chunk)
                        heapreplace(heap, top)
                    else:
                        heappop(heap)
                if len(out) >= limit:
                    yield out
                    out = []
                    append = out.append
            if out:
                yield out
        finally:
            for source in sources:
                await close_source(source)
