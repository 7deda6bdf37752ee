"""The first round of an unbounded row read merged by each data source (issue 16).

A row read without a LIMIT (``SELECT c FROM t WHERE id BETWEEN …``, with or without
``ORDER BY``) used to read every shard on its own: per shard a stream, a part of a
batch, its rows parsed, split back out of the union and merged here. Most such reads in
OLTP are small — sysbench's ranges return 100 rows from 16 shards — and for them the
data source can do the merge: its first chunk is one statement per data source (the
rows stage of :mod:`sharding.sql.source_stage`: ``ORDER BY`` the shard order, none for an
unordered read; ``LIMIT chunk``), read like one shard.

* Fewer than ``chunk`` rows: every shard of that statement is exhausted (each part is
  ``LIMIT chunk`` itself), so the statement's rows are the read's rows of that data
  source, in the shard order if it has one, and its warnings are what the shard statements would
  have raised: the read is done in one round.
* A full chunk: the data source's shards hold more. The chunk is dropped — its rows
  *and its warnings*: the server evaluated up to ``chunk`` rows of every part to return
  ``chunk`` of them, so continuing after the chunk's last row would evaluate some rows
  twice and repeat their warnings (``1/0`` per row: 448 where MariaDB gives 240,
  ``tests/fidelity/test_read_warnings.py`` with 2-row chunks). Each shard is then read
  from its start by plain (batched) streams, exactly as without a first round, merged
  here: a k-way merge for an ordered read, arrival order for an unordered one. A big
  scan pays one dropped round of at most ``chunk`` rows per statement.

Why not a merged statement for every chunk: each continuation would make the data
source read ``chunk`` rows from each of its shards again to return ``chunk``
(``bench.memory`` measured a 1024-shard ordered scan 5× slower).

Measured (``python -m bench.point_instructions --workload ranges``): see
``bench/README.md``.

Invariants: the rows of one data source are handed on in the shard order (the merge
above needs each input sorted); every row is handed on once, and its warnings counted
once; a source that stops early closes the continuation it started; memory is O(chunk)
per data source for the first round, then what plain streams hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sharding.exec.stream import ShardStream, unordered_feed
from sharding.merge.merge_sort import MergeSort
from sharding.merge.types import Batch, Row, close_source

#: A stream not yet made: :func:`~sharding.exec.stream.unordered_feed` makes it when
#: it has room.
Maker = Callable[[], ShardStream]
#: ``continuation()``: the data source's shard streams, each reading its shard from the
#: start.
Continuation = Callable[[], list[Maker]]


class FirstRound:
    """One data source's statement: its merged first chunk (a started stream of one
    read), or its shards' own streams when that chunk was full (module docstring)."""

    __slots__ = ("_chunk", "_continuation", "_first", "_whole")

    def __init__(
        self,
        first: ShardStream,
        chunk: int,
        continuation: Continuation,
        whole: Callable[[], None],
    ) -> None:
        self._first = first
        self._chunk = chunk
        self._continuation = continuation
        #: Called when the first chunk is the whole read: its warnings count.
        self._whole = whole

    async def take(self) -> tuple[Batch | None, list[Maker]]:
        """The data source's rows when the first chunk held them all (None: no rows), or
        no rows and the streams that read its shards instead."""
        rows = await self._first.next_chunk()
        if rows is None or len(rows) < self._chunk:
            self._whole()
            return rows, []
        return None, self._continuation()


class FirstRoundSource:
    """A :class:`FirstRound` as one sorted input of a k-way merge: the first chunk, or a
    merge of the data source's shard streams by ``key``."""

    __slots__ = ("_key", "_rest", "_round", "_started")

    def __init__(self, first_round: FirstRound, key: Callable[[Row], Any]) -> None:
        self._round = first_round
        self._key = key
        self._started = False
        self._rest: AsyncIterator[Batch] | None = None

    async def next_chunk(self) -> Batch | None:
        if not self._started:
            self._started = True
            rows, makers = await self._round.take()
            if makers:
                # Started now (each stream fetches when made), merged when asked.
                self._rest = MergeSort([m() for m in makers], self._key).__aiter__()
            if rows:
                return rows
        rest = self._rest
        if rest is None:
            return None
        batch = await anext(rest, None)
        if batch is None:
            self._rest = None
        return batch

    async def aclose(self) -> None:
        rest, self._rest = self._rest, None
        if rest is not None:
            await close_source(rest)


def first_round_feed(
    rounds: Sequence[FirstRound], plain: Sequence[Maker], window: int
) -> AsyncIterator[Batch]:
    """Chunks of an unordered read: each data source's first chunk that was its whole
    read (in turn: they were all started at once), then the shard streams of the others
    and ``plain`` (data sources holding one shard of the read) in arrival order,
    ``window`` open at most."""
    return _feed(rounds, plain, window)


async def _feed(
    rounds: Sequence[FirstRound], plain: Sequence[Maker], window: int
) -> AsyncIterator[Batch]:
    later: list[Maker] = list(plain)
    for first_round in rounds:
        rows, makers = await first_round.take()
        later.extend(makers)
        if rows:
            yield rows
    if later:
        rest = unordered_feed(later, window)
        try:
            async for chunk in rest:
                yield chunk
        finally:
            await close_source(rest)
