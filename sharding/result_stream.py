"""Where a SELECT's rows go: collected (``execute``) or streamed (``stream``).

A statement hands its result to a :class:`RowSink`: first the columns (``header``,
called once, just before the first batch, or at the end of an empty result), then
batches (``rows``, which may answer False to stop the statement early).

:class:`ResultStream` implements :class:`sharding.api.ResultStream`. The statement
runs in a producer task in the coordinator's nursery and hands header and batches over
a zero-buffer channel, so it never reads ahead of the consumer by more than what the
merge operators buffer by their nature. The producer records how the statement ended
*before* it closes the channel; the consumer checks that record when the channel ends,
so a statement that ended for any reason but its own end (an error, a cancellation,
the coordinator closing) surfaces as an error, never as a short result.

Why a task and not an async generator: trio forbids yielding from inside a nursery or
cancel scope in a generator, and the statement needs both (its executor query).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

import trio

from sharding.backend.base import Column, Row
from sharding.errors import QueryInterrupted, ShardgateError

if TYPE_CHECKING:
    from sharding.api import Result

#: How long leaving a stream early may wait for the cancelled statement to wind down
#: (its shard reads are cancelled; a blocking SQLite call finishes its one chunk).
CLOSE_TIMEOUT = 10.0


class RowSink(Protocol):
    async def header(self, columns: list[Column]) -> None: ...

    async def rows(self, batch: list[Row]) -> bool: ...


class RelaySink(RowSink, Protocol):
    """A sink that can also take rows as a MariaDB shard sent them (text protocol row
    packets' payloads, unparsed): the protocol server's result writer, which sends
    them on unchanged when its client reads text results in UTF-8."""

    def relays(self) -> bool:
        """Whether :meth:`relayed` may be called for this result (asked before the
        header)."""
        ...

    async def relayed(self, payloads: list[bytes]) -> bool: ...


class Collect:
    """A sink keeping everything (``Session.execute``)."""

    def __init__(self) -> None:
        self.columns: list[Column] | None = None
        self.collected: list[Row] = []

    async def header(self, columns: list[Column]) -> None:
        self.columns = columns

    async def rows(self, batch: list[Row]) -> bool:
        self.collected.extend(batch)
        return True


class Counted:
    """Wraps a sink: sends the header at most once and counts the rows delivered."""

    def __init__(self, sink: RowSink) -> None:
        self.sink = sink
        self.count = 0
        self.header_sent = False

    async def header(self, columns: list[Column]) -> None:
        if not self.header_sent:
            self.header_sent = True
            await self.sink.header(columns)

    async def rows(self, batch: list[Row]) -> bool:
        self.count += len(batch)
        return await self.sink.rows(batch)

    def relays(self) -> bool:
        """The sink takes relayed rows (:class:`RelaySink`) for this result."""
        relays = getattr(self.sink, "relays", None)
        return relays is not None and bool(relays())

    async def relayed(self, payloads: list[bytes]) -> bool:
        """Rows as the shard sent them; only where :meth:`relays` said so."""
        sink = cast(RelaySink, self.sink)
        self.count += len(payloads)
        return await sink.relayed(payloads)


class _Header:
    __slots__ = ("columns",)

    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns


#: Runs one statement into a sink: ``await run(sink)``.
Statement = Callable[[RowSink], Awaitable["Result"]]


class ResultStream:
    """See module docstring; made by ``CoordinatorSession.stream``.

    Also a plain async iterator (``async for batch in coord.stream(sql)``), which
    starts the statement on first use; ``columns`` are then known after the first
    batch. Abandoning such an iterator without closing it stops the statement when the
    iterator is garbage-collected.
    """

    def __init__(
        self, spawn: Callable[[Callable[[], Awaitable[None]]], None], run: Statement
    ) -> None:
        self._spawn = spawn
        self._run = run
        self._send, self._receive = trio.open_memory_channel[Any](0)
        self._columns: list[Column] | None = None
        self._started = False
        self._ended = False  # the consumer saw the end (or an error)
        self._done = trio.Event()  # the producer finished
        self._error: BaseException | None = None
        self._cancel = trio.CancelScope()
        #: The statement's warning count, once it has ended.
        self.warnings = 0

    @property
    def columns(self) -> list[Column]:
        if self._columns is None:
            raise RuntimeError("the columns are known once the stream is entered (async with)")
        return self._columns

    # ------------------------------------------------------------------ consumer
    async def __aenter__(self) -> ResultStream:
        try:
            if not await self._header():
                raise QueryInterrupted("Query execution was interrupted (no result set)")
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> ResultStream:
        return self

    async def __anext__(self) -> list[Row]:
        if self._columns is None and not await self._header():
            raise StopAsyncIteration
        while True:
            item = await self._receive_item()
            if item is None:
                raise StopAsyncIteration
            if not isinstance(item, _Header):
                return item  # type: ignore[no-any-return]

    async def _header(self) -> bool:
        """Start the statement if needed and wait for its columns (False: the stream
        ended without any, i.e. it was closed)."""
        while self._columns is None:
            item = await self._receive_item()
            if item is None:
                return False
            if isinstance(item, _Header):
                self._columns = item.columns
        return True

    async def _receive_item(self) -> Any:
        """The next header/batch; None at the end; the statement's error if it failed."""
        if self._ended:
            return None
        if not self._started:
            try:
                self._spawn(self._produce)
            except BaseException:
                self._ended = True  # nothing runs: aclose() has nothing to wait for
                raise
            self._started = True
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            self._ended = True
            await self._done.wait()
            if self._error is not None:
                raise self._error from None
            return None

    async def aclose(self) -> None:
        """Stop the statement if it still runs; return once it has finished."""
        self._ended = True
        self._receive.close()
        if not self._started:
            self._started = True  # never start it now
            self._done.set()
            return
        self._cancel.cancel()
        with trio.move_on_after(CLOSE_TIMEOUT, shield=True):
            await self._done.wait()

    def __del__(self) -> None:
        # An iterator dropped without aclose(): the producer's next send fails, and it
        # stops its statement.
        self._receive.close()

    # ------------------------------------------------------------------ producer
    async def _produce(self) -> None:
        sink = _ToChannel(self._send)
        try:
            with self._cancel:
                result = await self._run(sink)
                self.warnings = result.warnings  # the end of rows carries the count
                if not sink.gone:
                    return  # complete: the end of the channel is the end of the result
            self._error = QueryInterrupted("Query execution was interrupted (stream closed)")
        except ShardgateError as exc:
            self._error = exc
        except BaseException as exc:
            # The coordinator is closing (trio.Cancelled) or a bug: never a short result.
            self._error = QueryInterrupted(
                f"Query execution was interrupted ({type(exc).__name__})"
            )
            raise
        finally:
            self._done.set()
            self._send.close()


class _ToChannel:
    """The producer's sink: hands header and batches to the consumer, one at a time."""

    def __init__(self, send: trio.MemorySendChannel[Any]) -> None:
        self._send = send
        self.gone = False  # the consumer closed its end

    async def header(self, columns: list[Column]) -> None:
        await self._put(_Header(columns))

    async def rows(self, batch: list[Row]) -> bool:
        return await self._put(batch)

    async def _put(self, item: Any) -> bool:
        if self.gone:
            return False
        try:
            await self._send.send(item)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.gone = True  # the statement stops at its next batch
        return not self.gone
