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


class child_batches:
    """``async with child_batches(op) as batches: async for batch in batches: ...``

    Iterates an operator and closes its iterator on the way out, however the loop
    ends. An operator that stops early (``LIMIT`` has its rows, the client went
    away) would otherwise leave its input's async generator suspended; trio then
    finalizes it at garbage collection in a system task of its own — a task spawn per
    query, measured at 3–4 % of a scatter top-10's coordinator CPU
    (``bench.concurrency --profile``), and the input's ``finally`` blocks run late.
    """

    __slots__ = ("_it",)

    def __init__(self, op: Operator) -> None:
        self._it = op.__aiter__()

    async def __aenter__(self) -> AsyncIterator[Batch]:
        return self._it

    async def __aexit__(self, *exc: object) -> None:
        await close_source(self._it)


async def close_source(source: object) -> None:
    """Close what has an ``aclose`` (an async generator, an :class:`OperatorSource`)."""
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        await aclose()


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
    async with child_batches(op) as batches:
        async for batch in batches:
            rows.extend(batch)
    return rows
