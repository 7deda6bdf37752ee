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

:func:`unordered_feed` reads many shards for ``Concat``: ``window`` workers each take
the next shard and stream it to the end, handing chunks over as they arrive; at most
``window`` shards are open at once, so memory is O(window × chunk) however many shards
there are.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from sharding import errors
from sharding.backend.base import ResultSet
from sharding.exec.targets import Target
from sharding.sql.keyset import KeysetSpec
from sharding.sql.template import ShardTemplate

Fetch = Callable[[Target, str], Awaitable[ResultSet]]


class Submitted(Protocol):
    """A chunk's read submitted without a task of the stream's own (a batch part,
    :meth:`sharding.exec.batch.Batcher.submit`): ``done`` is set once ``result`` or
    ``error`` is."""

    done: trio.Event
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
        self.done = trio.Event()
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
            self._pending = self._submit[0](self.target, sql)
            return
        pending = _Pending()
        self._pending = pending
        self._nursery.start_soon(self._run, sql, pending)

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
        await pending.done.wait()
        self._pending = None
        error = pending.error
        if error is not None:
            if not isinstance(error, Exception):
                # A submitted read's batch task was cancelled: so is this statement
                # (same nursery); raise our own Cancelled, never the other task's.
                await trio.lowlevel.checkpoint()
                raise RuntimeError(f"shard {self.target.label}: its batch was abandoned")
            raise error
        assert pending.result is not None
        rs = pending.result
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
    nursery: trio.Nursery, streams: Sequence[Callable[[], ShardStream]], window: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Chunks of many shards in arrival order, at most ``window`` shards open.

    The workers run in ``nursery`` (owned by the runner, which cancels it when the
    consumer stops early); the returned iterator holds no nursery itself, so leaving
    it half-consumed needs no cleanup.
    """
    send, receive = trio.open_memory_channel[list[tuple[Any, ...]]](max(1, window))
    iterator = iter(streams)
    errors: list[Exception] = []

    async def worker() -> None:
        for make in iterator:
            stream = make()
            while True:
                chunk = await stream.next_chunk()
                if chunk is None:
                    break
                await send.send(chunk)

    async def run_all() -> None:
        try:
            async with trio.open_nursery() as inner:
                for _ in range(max(1, min(window, len(streams)))):
                    inner.start_soon(worker)
        except Exception as exc:  # re-raised to the consumer below
            errors.append(exc)
        finally:
            send.close()

    nursery.start_soon(run_all)
    return _drain(receive, errors)


async def _drain(
    receive: trio.MemoryReceiveChannel[list[tuple[Any, ...]]], errors: list[Exception]
) -> AsyncIterator[list[tuple[Any, ...]]]:
    async for chunk in receive:
        yield chunk
    if errors:
        raise errors[0]
