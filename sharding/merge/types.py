"""Types shared by the merge primitives.

Every primitive is an *operator*: an async iterable of row batches (``list[Row]``),
built over other operators or over *chunk sources*. Batches, not rows, cross ``await``
points, so a Python-level async step is paid per batch, not per row.

Invariants shared by all operators:

* An operator never yields an empty batch.
* An operator pulls from its input only when it needs more rows to make progress
  (``Limit`` that is satisfied stops pulling; ``MergeSort`` asks a source for its next
  chunk only when that source's buffer is empty). Memory is therefore bounded by what
  each operator must hold by its nature (a sort, a hash table), never by read-ahead.
* Operators hold no cancel scopes or nurseries, so abandoning one mid-way (a
  satisfied ``Limit``) needs no cleanup beyond closing the generator.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any, Protocol

Row = tuple[Any, ...]
Batch = list[Row]
Operator = AsyncIterable[Batch]
RowFn = Callable[[Row], Any]

#: Rows per batch that operators produce.
BATCH_ROWS = 1024


class ChunkSource(Protocol):
    """One ordered input of a k-way merge: a shard stream, or a list in tests."""

    async def next_chunk(self) -> Batch | None:
        """The next non-empty chunk, or None when the source is exhausted."""
        ...


class ListSource:
    """A chunk source over an in-memory list (tests, single-chunk results)."""

    def __init__(self, rows: Iterable[Row], chunk: int = BATCH_ROWS) -> None:
        self._rows = list(rows)
        self._chunk = max(1, chunk)
        self._pos = 0
        self.fetches = 0

    async def next_chunk(self) -> Batch | None:
        if self._pos >= len(self._rows):
            return None
        self.fetches += 1
        chunk = self._rows[self._pos : self._pos + self._chunk]
        self._pos += self._chunk
        return chunk


async def from_rows(rows: Iterable[Row], batch: int = BATCH_ROWS) -> AsyncIterator[Batch]:
    """An operator yielding ``rows`` in batches (tests, constant results)."""
    out: Batch = []
    for row in rows:
        out.append(row)
        if len(out) >= batch:
            yield out
            out = []
    if out:
        yield out


async def collect(op: Operator) -> list[Row]:
    """All rows of an operator (tests and small results)."""
    rows: list[Row] = []
    async for batch in op:
        rows.extend(batch)
    return rows
