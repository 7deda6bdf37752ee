"""A logical query: a group of children pinned to one bucket, submitted through a window.

Invariants:

* Every child of the query runs in ``query.bucket`` — including children of nested
  queries opened inside a child.
* At most ``window`` children of the query are submitted (queued or running) at once,
  whatever mix of :meth:`Query.run`, :meth:`Query.map` and :meth:`Query.as_completed`
  the caller uses; the next one is submitted when one finishes (sliding window).
* The code of the query body — the parent — never holds a slot.
* The first child to raise an ``Exception`` fails the query: its siblings and the body
  are cancelled, and leaving ``async with ex.query(...)`` raises that child's
  :class:`~executor.errors.ChildFailed`. ``cancel()`` (``KILL QUERY``, the deadlock
  watchdog) works the same way with its own exception.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sized
from inspect import CO_COROUTINE
from types import FunctionType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import trio

from executor.child import Child, ChildState, current_child
from executor.errors import ChildFailed, ChildIdentity, ExecutorClosed
from executor.status import QueryInfo

if TYPE_CHECKING:
    from executor.bucket import Bucket
    from executor.executor import BucketedExecutor

T = TypeVar("T")
ChildFn = Callable[..., Awaitable[T]] | Callable[..., T]


def is_async_callable(fn: object) -> bool:
    """True for ``async def`` functions, also behind ``functools.partial``."""
    if type(fn) is FunctionType:  # the common case: its code's flag says it
        return bool(fn.__code__.co_flags & CO_COROUTINE)
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async __call__ objects
    )


def unwrap_group(
    group: BaseExceptionGroup[BaseException], preferred: BaseException | None = None
) -> BaseException:
    """What a nursery's exception group should surface as, in this order:

    1. only ``Cancelled`` inside → one bare ``Cancelled`` (the cancel scope that caused
       them absorbs it either way, and callers can ``except trio.Cancelled``);
    2. otherwise ``Cancelled`` parts are dropped (consequences), and a
       ``KeyboardInterrupt``/``SystemExit`` wins over everything else: it means stop;
    3. a single remaining exception surfaces bare;
    4. several ``ChildFailed`` (children failing at the same moment) surface as
       ``preferred``, the query's first recorded failure;
    5. anything else stays a group.
    """
    cancelled, rest = group.split(trio.Cancelled)
    if rest is None:
        assert cancelled is not None
        return _leaves(cancelled)[0]
    leaves = _leaves(rest)
    for leaf in leaves:
        if not isinstance(leaf, Exception):
            return leaf
    if len(leaves) == 1:
        return leaves[0]
    if preferred is not None and all(isinstance(leaf, ChildFailed) for leaf in leaves):
        return preferred
    return rest


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


class Query:
    """Handle of an open query; created by :meth:`BucketedExecutor.query`."""

    def __init__(
        self,
        executor: BucketedExecutor,
        query_id: int,
        name: str,
        session: object,
        bucket: Bucket,
        parent_child: Child | None,
        total: int | None,
        now: float,
    ) -> None:
        self._executor = executor
        self.id = query_id
        self.name = name
        self.session = session
        self._bucket = bucket
        self.parent_child = parent_child
        self.opened_at = now
        self.total = total
        #: A total given when the query opened is the caller's own count; don't add to it.
        self._total_given = total is not None
        self.children_done = 0
        #: Seconds children of this query spent queued for a slot / holding one (summed).
        self.queued_seconds = 0.0
        self.running_seconds = 0.0
        self._window = executor.config.window
        self._in_flight = 0
        #: Children waiting for the window; made when the first one has to wait.
        self._window_lot: trio.lowlevel.ParkingLot | None = None
        self._scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._failure: BaseException | None = None
        self._closing = False

    # ---------------------------------------------------------------- properties
    @property
    def bucket(self) -> int:
        """Index of the bucket this query is pinned to."""
        return self._bucket.index

    @property
    def nested(self) -> bool:
        return self.parent_child is not None

    @property
    def parent_id(self) -> int | None:
        return None if self.parent_child is None else self.parent_child.query.id

    @property
    def cancelling(self) -> bool:
        return self._failure is not None

    # ------------------------------------------------------------------ running
    @overload
    async def run(
        self, fn: Callable[..., Awaitable[T]], *args: Any, label: str | None = None
    ) -> T: ...

    @overload
    async def run(self, fn: Callable[..., T], *args: Any, label: str | None = None) -> T: ...

    async def run(self, fn: ChildFn[T], *args: Any, label: str | None = None) -> T:
        """Run one child ``fn(*args)`` holding a slot; return its result.

        Safe to call from many tasks at once; they share the query's window.
        """
        self._check_usable()
        await self._enter_window()
        try:
            name: str = label or getattr(fn, "__name__", None) or "child"
            return await self._run_child(fn, args, name)
        finally:
            self._leave_window()

    @overload
    async def map(self, fn: Callable[..., Awaitable[T]], items: Iterable[Any]) -> list[T]: ...

    @overload
    async def map(self, fn: Callable[..., T], items: Iterable[Any]) -> list[T]: ...

    async def map(self, fn: ChildFn[T], items: Iterable[Any]) -> list[T]:
        """Run ``fn(item)`` for every item as children; results in input order."""
        self._check_usable()
        items = list(items)
        self._add_total(len(items))
        results: list[Any] = [None] * len(items)

        async def store(index: int, value: T) -> None:
            results[index] = value

        await self._drive(fn, enumerate(items), store, len(items))
        return results

    @overload
    def as_completed(
        self, fn: Callable[..., Awaitable[T]], items: Iterable[Any]
    ) -> AsCompleted[T]: ...

    @overload
    def as_completed(self, fn: Callable[..., T], items: Iterable[Any]) -> AsCompleted[T]: ...

    def as_completed(self, fn: ChildFn[T], items: Iterable[Any]) -> AsCompleted[T]:
        """Run ``fn(item)`` for every item as children; yield results as they finish.

        Results are buffered at most ``window`` deep: a slow consumer slows submission
        (the window), it does not make memory grow. Leaving the loop early cancels the
        remaining children (at the latest when the query closes).
        """
        self._check_usable()
        assert self._nursery is not None
        if isinstance(items, Sized):
            self._add_total(len(items))
        send, receive = trio.open_memory_channel[T](self._window)
        scope = trio.CancelScope()

        async def store(_: int, value: T) -> None:
            try:
                await send.send(value)
            except trio.BrokenResourceError:
                # The consumer closed the iterator: stop producing, quietly.
                scope.cancel()

        async def produce() -> None:
            with scope:
                async with send:
                    await self._drive(fn, enumerate(items), store, None)

        self._nursery.start_soon(produce)
        return AsCompleted(receive, scope)

    def cancel(self, reason: BaseException) -> None:
        """Cancel the body and all children; leaving the query raises ``reason``."""
        if self._failure is None:
            self._failure = reason
        if self._scope is not None:
            self._scope.cancel()

    def info(self, now: float) -> QueryInfo:
        running = queued = waiting = 0
        for child in self._bucket.children():
            if child.query is not self:
                continue
            if child.state is ChildState.RUNNING:
                running += 1
            elif child.state is ChildState.WAITING:
                waiting += 1
            else:
                queued += 1
        return QueryInfo(
            id=self.id,
            name=self.name,
            session=self.session,
            bucket=self.bucket,
            parent_id=self.parent_id,
            age=round(now - self.opened_at, 6),
            state="cancelling" if self.cancelling else "running",
            children_done=self.children_done,
            children_total=self.total,
            children_running=running,
            children_queued=queued,
            children_waiting=waiting,
            queued_seconds=round(self.queued_seconds, 6),
            running_seconds=round(self.running_seconds, 6),
        )

    def __repr__(self) -> str:
        return f"<Query {self.id} {self.name!r} bucket={self.bucket}>"

    # ---------------------------------------------------------------- internals
    def _check_usable(self) -> None:
        if self._closing or self._nursery is None:
            raise ExecutorClosed(f"query {self.id} {self.name!r} is closed")

    def _add_total(self, n: int) -> None:
        if not self._total_given:
            self.total = n if self.total is None else self.total + n

    async def _drive(
        self,
        fn: ChildFn[T],
        items: Iterable[tuple[int, Any]],
        store: Callable[[int, T], Awaitable[None]],
        count: int | None,
    ) -> None:
        """Run children over ``items`` with at most ``window`` in flight."""
        iterator = iter(items)
        workers = self._window if count is None else min(self._window, count)
        if workers == 0:
            await trio.lowlevel.checkpoint()
            return

        async def worker() -> None:
            # The shared iterator hands each item to exactly one worker.
            for index, item in iterator:
                await self._enter_window()
                try:
                    value = await self._run_child(fn, (item,), str(index))
                finally:
                    self._leave_window()
                await store(index, value)

        try:
            async with trio.open_nursery() as nursery:
                for _ in range(workers):
                    nursery.start_soon(worker)
        except BaseExceptionGroup as group:
            exc = unwrap_group(group, self._failure)
            raise exc from exc.__cause__

    async def _run_child(
        self, fn: ChildFn[T], args: tuple[Any, ...], label: str, now: float | None = None
    ) -> T:
        executor = self._executor
        bucket = self._bucket
        submitted = trio.current_time() if now is None else now
        child = Child(
            next(executor._child_ids), self, label, self.parent_child is not None, submitted
        )
        started: float | None = None
        try:
            if await bucket.acquire(child, submitted):
                started = submitted  # a free slot at once: no time passed queued
            else:
                started = trio.current_time()
                self.queued_seconds += started - submitted
            token = current_child.set(child)
            try:
                if is_async_callable(fn):
                    return await fn(*args)  # type: ignore[no-any-return,misc]
                call: Callable[[], T] = functools.partial(fn, *args)  # type: ignore[assignment]
                return await trio.to_thread.run_sync(call, limiter=executor._thread_limiter)
            finally:
                current_child.reset(token)
        except Exception as exc:
            failure = ChildFailed(
                ChildIdentity(self.id, self.name, bucket.index, child.id, label), exc
            )
            self._fail(failure)
            raise failure from exc
        finally:
            bucket.finish(child)
            self.children_done += 1
            if started is not None:
                self.running_seconds += trio.current_time() - started

    def _fail(self, failure: BaseException) -> None:
        self.cancel(failure)

    async def _enter_window(self) -> None:
        lot = self._window_lot
        if self._in_flight < self._window and not lot:
            self._in_flight += 1
            return
        if lot is None:
            lot = self._window_lot = trio.lowlevel.ParkingLot()
        # The releasing child hands its window token straight to us (no barging).
        await lot.park()

    def _leave_window(self) -> None:
        lot = self._window_lot
        if lot:
            lot.unpark()
        else:
            self._in_flight -= 1


class AsCompleted(Generic[T]):
    """Async iterator over results of :meth:`Query.as_completed`."""

    def __init__(self, receive: trio.MemoryReceiveChannel[T], scope: trio.CancelScope) -> None:
        self._receive = receive
        self._scope = scope

    def __aiter__(self) -> AsCompleted[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Stop early: cancel the children not yet finished."""
        self._scope.cancel()
        await self._receive.aclose()
