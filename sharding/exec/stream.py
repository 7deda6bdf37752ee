"""Chunked reads of one shard, and the unordered feed of many shards.

:class:`ShardStream` reads one shard in chunks: ``<template> LIMIT n``, then the
keyset continuation of the last row. Each chunk is one executor child: it takes a
slot of the query's bucket and a place in the query's window, borrows a connection,
runs one statement, returns the connection and the slot. Between chunks the stream
holds nothing but its buffered rows — no connection, no slot (no hold-and-wait).

Prefetch: when the merge takes a full chunk, the stream starts fetching the next one
in the background (one ahead, never more), so the merge rarely waits for the network;
memory stays O(2 × chunk) per shard.

A chunk is fetched by a task of the stream's own, or — where the reads are batched
(:mod:`sharding.exec.batch`) — *submitted*: queued with the batch of its scheduling
round and answered by the batch's task, so a scatter over 16 shards does not spawn 16
tasks that only wait (measured: ~10 % of the instructions of a 16-shard range read,
``python -m bench.point_instructions --workload ranges``). The consumer finishes a
submitted chunk when it takes it (warnings noted, column definitions set).

:func:`unordered_feed` reads many shards for ``Concat``: at most ``window`` shards are
open at once, each with one chunk fetched or on its way, and their chunks are handed on
in the order they arrive; a finished shard's place goes to the next one. Memory is
O(window × chunk) however many shards there are. It runs no task of its own: every
chunk is already fetched by its stream's task or its batch's, and its :class:`Done`
tells the feed when it has come (a worker task per open shard that only waited cost
~17 tasks per 16-shard read).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from sharding import errors
from sharding.backend.base import ResultSet
from sharding.exec.targets import Target
from sharding.sql.keyset import KeysetSpec
from sharding.sql.template import ShardTemplate

Fetch = Callable[[Target, str], Awaitable[ResultSet]]


class Done:
    """When a chunk's result (or error) has come: a :class:`trio.Event` that also tells
    one listener (the unordered feed, waiting for whichever open shard answers first)."""

    __slots__ = ("_event", "listener")

    def __init__(self) -> None:
        self._event = trio.Event()
        self.listener: Callable[[], None] | None = None

    def set(self) -> None:
        self._event.set()
        listener, self.listener = self.listener, None
        if listener is not None:
            listener()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


class Submitted(Protocol):
    """A chunk's read submitted without a task of the stream's own (a batch part,
    :meth:`sharding.exec.batch.Batcher.submit`): ``done`` is set once ``result`` or
    ``error`` is."""

    done: Done
    result: ResultSet | None
    error: BaseException | None


#: ``submit(target, sql)``: queue a chunk's read (answered by another task).
Submit = Callable[[Target, str], Submitted]
#: ``finish(target, submitted)``: the submitted read's result as the stream hands it on.
Finish = Callable[[Target, Any], Awaitable[ResultSet]]


class TooManyRows(errors.TooManyRows):
    """An unchunkable shard read exceeded its guard (code: :mod:`sharding.errors`)."""


@dataclass
class StreamStats:
    chunks: int = 0
    rows: int = 0


class _Pending:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = Done()
        self.result: ResultSet | None = None
        self.error: BaseException | None = None


class ShardStream:
    """Chunked keyset read of one shard (see module docstring)."""

    def __init__(
        self,
        nursery: trio.Nursery,
        fetch: Fetch,
        target: Target,
        template: ShardTemplate,
        *,
        keyset: KeysetSpec | None,
        chunk: int,
        need: int | None = None,
        guard: int | None = None,
        stats: StreamStats | None = None,
        on_columns: Callable[[ResultSet], None] | None = None,
        lock: str = "",
        render: Callable[[str, int], str] | None = None,
        submit: tuple[Submit, Finish] | None = None,
    ) -> None:
        self._nursery = nursery
        #: Chunks submitted to a batch (no task per chunk) and finished on arrival;
        #: None: each chunk is fetched by a task of its own.
        self._submit = submit
        #: How a chunk's statement is written from (keyset predicate, LIMIT): a data
        #: source's wrapped statement (:mod:`sharding.exec.source`); None: the template.
        self._render = render
        self._lock = lock  # `` FOR UPDATE``: after each chunk's LIMIT
        self._fetch = fetch
        self.target = target
        self._template = template
        self._keyset = keyset
        self._chunk = max(1, chunk)
        self._need = need  # rows this shard must return at most (pushed-down LIMIT)
        self._guard = guard
        self._stats = stats or StreamStats()
        self._on_columns = on_columns
        self._pending: _Pending | Submitted | None = None
        self._finished = False
        self._fetched = 0
        self._predicate = "1"
        self._requested = 0
        #: Told (with this stream) each time a chunk has come: :func:`unordered_feed`.
        self._on_arrival: Callable[[ShardStream], None] | None = None

    @property
    def finished(self) -> bool:
        """Nothing more to read and nothing on its way."""
        return self._finished and self._pending is None

    def on_arrival(self, listener: Callable[[ShardStream], None]) -> None:
        """Call ``listener(self)`` when the chunk on its way has come (at once if it has
        already) and so for every later chunk."""
        self._on_arrival = listener
        if self._pending is not None:
            self._listen(self._pending)

    def _listen(self, pending: _Pending | Submitted) -> None:
        listener = self._on_arrival
        if listener is None:
            return
        if pending.done.is_set():
            listener(self)
        else:
            pending.done.listener = lambda: listener(self)

    def start(self) -> None:
        """Begin fetching the first chunk (idempotent)."""
        if self._pending is None and not self._finished:
            self._launch()

    def _launch(self) -> None:
        n = chunk_limit(
            self._keyset is not None, self._chunk, self._need, self._fetched, self._guard
        )
        if n <= 0:
            self._finished = True
            return
        self._requested = n
        if self._render is not None:
            sql = self._render(self._predicate, n)
        else:
            sql = f"{self._template.fill(self.target.names, self._predicate)} LIMIT {n}{self._lock}"
        if self._submit is not None:
            submitted = self._pending = self._submit[0](self.target, sql)
            self._listen(submitted)
            return
        pending = _Pending()
        self._pending = pending
        self._nursery.start_soon(self._run, sql, pending)
        self._listen(pending)

    async def _run(self, sql: str, pending: _Pending) -> None:
        try:
            pending.result = await self._fetch(self.target, sql)
        except Exception as exc:  # delivered to the consumer (the query also fails)
            pending.error = exc
        finally:
            pending.done.set()

    async def next_chunk(self) -> list[tuple[Any, ...]] | None:
        if self._pending is None:
            self.start()
            if self._pending is None:
                return None
        pending = self._pending
        if not pending.done.is_set():
            await pending.done.wait()
        # A chunk that has come is taken without a checkpoint: each would cost a pass
        # of the scheduler (with an epoll call), 16 of them for the first chunks of a
        # 16-shard merge. The consumer checkpoints whenever it waits for a shard or
        # for the client, so cancellation still reaches it.
        self._pending = None
        error = pending.error
        rs = pending.result
        if error is not None and isinstance(error, Exception):
            raise error
        if rs is None:
            # The task reading this chunk was cancelled (the stream's own task: no error
            # kept; a batch's: its Cancelled kept): so is this statement, whose nursery
            # it is. Raise our own Cancelled at this checkpoint, never the other task's
            # — and, since an arrived chunk is taken without waiting, never get past it.
            await trio.lowlevel.checkpoint()
            raise RuntimeError(f"shard {self.target.label}: its read was abandoned")
        if self._submit is not None:
            rs = await self._submit[1](self.target, pending)
        if self._on_columns is not None:
            self._on_columns(rs)
            self._on_columns = None
        rows = rs.rows
        self._stats.chunks += 1
        self._stats.rows += len(rows)
        self._fetched += len(rows)
        if self._keyset is None:
            if (
                self._guard is not None
                and len(rows) > self._guard
                and (self._need is None or self._need > self._guard)
            ):
                raise TooManyRows(
                    f"shard {self.target.label} returned more than {self._guard} rows for a "
                    "read that cannot be chunked (no unique key to continue from); add a "
                    "primary key or a LIMIT"
                )
            self._finished = True
        elif len(rows) < self._requested or (
            self._need is not None and self._fetched >= self._need
        ):
            self._finished = True
        else:
            self._predicate = self._keyset.after(rows[-1])
            self._launch()  # prefetch the next chunk while the merge consumes this one
        if not rows:
            return None if self._finished else await self.next_chunk()
        return rows


def chunk_rows(configured: int, budget: int, shards: int, need: int | None = None) -> int:
    """Rows per chunk of a read of ``shards`` streams: the configured size, shrunk so
    ``shards × chunk`` fits the budget. ``need`` (a pushed-down LIMIT) is given for
    the few streams of data sources merging their shards (:mod:`sharding.exec.source`):
    they read the whole LIMIT in one round when it fits the budget (a continuation would
    scan every merged shard again). EXPLAIN calls this too."""
    chunk = max(16, min(configured, budget // max(1, shards)))
    if need is not None and chunk < need and need * shards <= budget:
        chunk = need
    return chunk


def chunk_limit(
    chunked: bool, chunk: int, need: int | None, fetched: int, guard: int | None
) -> int:
    """The LIMIT of a stream's next statement (0: nothing left to read). A chunked read
    asks for a chunk, no more than the pushed-down LIMIT still needs; an unchunked one
    reads once, ``guard + 1`` rows to detect a read over its cap. EXPLAIN calls this
    for the first chunk."""
    if chunked:
        return chunk if need is None else min(chunk, need - fetched)
    # No continuation possible: one read, guarded (guard + 1 detects overflow).
    cap = guard if guard is not None else math.inf
    return need if need is not None and need <= cap else int(cap) + 1


def unordered_feed(
    streams: Sequence[Callable[[], ShardStream]], window: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Chunks of many shards in arrival order, at most ``window`` shards open (module
    docstring). Each chunk is fetched by its stream's task or its batch's, in the
    runner's nursery (which the runner cancels when the consumer stops early); the
    iterator itself holds no task and no nursery, so leaving it half-consumed needs
    no cleanup."""
    return _arrivals(iter(streams), max(1, window))


async def _arrivals(
    makers: Iterator[Callable[[], ShardStream]], window: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    arrived: deque[ShardStream] = deque()
    wake = trio.Event()

    def arrival(stream: ShardStream) -> None:
        arrived.append(stream)
        wake.set()

    open_streams: set[ShardStream] = set()
    while True:
        # Fill the window: a stream starts its first chunk when made.
        while len(open_streams) < window:
            make = next(makers, None)
            if make is None:
                break
            stream = make()
            if stream.finished:
                continue  # nothing to read (a pushed-down LIMIT 0)
            open_streams.add(stream)
            stream.on_arrival(arrival)
        if not arrived:
            if not open_streams:
                return
            wake = trio.Event()
            await wake.wait()
            continue
        stream = arrived.popleft()
        # The chunk has come: this takes it without waiting and sends for the next
        # (the stream's prefetch, whose arrival is told again).
        chunk = await stream.next_chunk()
        if stream.finished:
            open_streams.discard(stream)
        if chunk is not None:
            yield chunk
