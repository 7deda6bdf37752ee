"""The bucketed executor: buckets of slots, queries pinned to one bucket, a watchdog.

Why not ``trio.CapacityLimiter`` or a thread pool: a shared limiter lets parents that
wait for their children hold the very tokens the children need (seed 002: eight
``show stats`` parents held all eight manager threads while their children queued), and
it lets one 1024-shard query take every token from everyone else. Here a query is
pinned to one bucket, parents hold nothing, nested children lend their slot while they
wait, and a window bounds each query's share — so fan-out at any depth completes, and a
slow query can only slow its own bucket.

Invariants:

* All executor state lives on the trio thread of the ``trio.run`` that opened the
  executor; worker threads running sync children never touch it.
* When no query is open, every gauge of every bucket is zero (``status()``), whatever
  was cancelled or raised on the way — the tests inject faults and check this.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import structlog
import trio

from executor.assign import BucketAssigner
from executor.bucket import Bucket
from executor.child import current_child
from executor.config import ExecutorConfig
from executor.errors import ChildFailed, ExecutorClosed, QueryCancelled
from executor.log import get_logger
from executor.query import Query, unwrap_group
from executor.slot import lend, take_back
from executor.status import BucketStatus, QueryInfo
from executor.watchdog import Watchdog

log = get_logger("executor")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ExecutorStatistics:
    """Totals over all buckets (trio ``statistics()`` style)."""

    buckets: int
    slots: int
    active: int
    waiting: int
    queued: int
    stalled: int
    oversubscribed: int
    completed: int
    queries: int
    deadlocks_suspected: int


class BucketedExecutor:
    """See the module docstring. Use as ``async with BucketedExecutor(cfg) as ex:``."""

    def __init__(self, config: ExecutorConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = ExecutorConfig(**overrides)
        elif overrides:
            config = ExecutorConfig.from_mapping(
                {**{f: getattr(config, f) for f in config.__dataclass_fields__}, **overrides}
            )
        self.config = config
        self._buckets = [
            Bucket(
                i,
                config.slots_per_bucket,
                config.oversubscribe,
                config.door_limit,
            )
            for i in range(config.buckets)
        ]
        self._assigner = BucketAssigner(config.assign, config.seed)
        self._queries: dict[int, Query] = {}
        self._query_ids = itertools.count(1)
        self._child_ids = itertools.count(1)
        # Slots bound the threads; trio's default limiter (40) must not add a second,
        # smaller bound that would stall a bucket with free slots.
        self._thread_limiter = trio.CapacityLimiter(math.inf)
        self.watchdog = Watchdog(self)
        self._open = False
        self._stack: AsyncExitStack | None = None

    # --------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> BucketedExecutor:
        if self._open:
            raise RuntimeError("BucketedExecutor is already open")
        stack = AsyncExitStack()
        await stack.enter_async_context(self._lifetime())
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        assert stack is not None
        return await stack.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def _lifetime(self) -> AsyncIterator[None]:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._timer)
                nursery.start_soon(self.watchdog.run)
                self._open = True
                try:
                    yield
                finally:
                    self._open = False
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            exc = unwrap_group(group)
            raise exc from exc.__cause__

    async def _timer(self) -> None:
        """Stall detection and kick-up (MariaDB's timer thread)."""
        config = self.config
        period = max(min(config.stall_limit, config.kickup_after) / 4, 0.001)
        while True:
            await trio.sleep(period)
            now = trio.current_time()
            for bucket in self._buckets:
                bucket.tick(now, config.stall_limit, config.kickup_after)

    # ------------------------------------------------------------------ queries
    @asynccontextmanager
    async def query(
        self, name: str = "query", session: object = None, total: int | None = None
    ) -> AsyncIterator[Query]:
        """Open a logical query pinned to one bucket.

        Inside a child of this executor the query is *nested*: it stays in the child's
        bucket, and the child lends its slot for as long as the nested query is open.
        """
        if not self._open:
            raise ExecutorClosed("BucketedExecutor is not open (use `async with`)")
        parent = current_child.get()
        if parent is not None and parent.query._executor is not self:
            parent = None
        query_id = next(self._query_ids)
        if parent is not None:
            bucket = parent.query._bucket
        else:
            bucket = self._assigner.pick(self._buckets, session, query_id)
            # Perhaps a wait at the bucket's door, holding nothing yet: no slot, no
            # child, no registered query.
            await bucket.enter()
        query = Query(self, query_id, name, session, bucket, parent, total, trio.current_time())
        bucket.queries.add(query)
        self._queries[query_id] = query
        if parent is not None:
            lend(parent, f"nested query {query_id} {name!r}")
        # What bound_contextvars does (log lines carry the query), on structlog's own
        # context variables, without its generator and context scan (as run_one).
        v_id, v_name, v_bucket = _log_vars()
        t_id, t_name, t_bucket = v_id.set(query_id), v_name.set(name), v_bucket.set(bucket.index)
        try:
            try:
                async with trio.open_nursery() as nursery:
                    # The nursery's own scope is the query's: cancel() stops the body
                    # and the children, and the nursery absorbs that cancellation
                    # (one cancel scope fewer than a scope around the nursery).
                    query._scope = nursery.cancel_scope
                    query._nursery = nursery
                    try:
                        yield query
                    finally:
                        query._closing = True
                        nursery.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                exc = unwrap_group(group, query._failure)
                raise exc from exc.__cause__
            if query._failure is not None:
                raise query._failure
        except BaseException as exc:
            failure = query._failure
            if failure is not None and exc is not failure and _is_consequence(exc):
                # Keep the failure's own cause (the child's error); drop the fallout.
                raise failure from failure.__cause__
            raise
        finally:
            query._closing = True
            v_bucket.reset(t_bucket)
            v_name.reset(t_name)
            v_id.reset(t_id)
            bucket.queries.discard(query)
            del self._queries[query_id]
            if parent is None:
                bucket.leave(trio.current_time())
            else:
                await take_back(parent)

    async def run_one(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        name: str = "query",
        session: object = None,
        label: str | None = None,
        opened: Callable[[Query], None] | None = None,
        scope: trio.CancelScope | None = None,
    ) -> T:
        """A query of exactly one child: ``async with self.query(name, session) as q:
        return await q.run(fn, *args, label=label)``, at a fraction of the cost.

        The child is admitted exactly like any other — pinned to one bucket, holding
        one of its slots (queued for it when none is free, lending it back in a pool
        wait), seen by the watchdog and ``status()``, cancelled by :meth:`cancel_query`,
        its failure surfacing as the query's :class:`ChildFailed` — but it runs in the
        calling task: a query with one child has nothing for a nursery to supervise
        and no window to fill (``window >= 1``). ``opened`` gets the query once it is
        registered, before the child is admitted (``KILL QUERY`` needs its id). Inside
        a child of this executor (a nested query) this is the general path, which
        lends the parent's slot.

        ``scope``: an open cancel scope of the caller around this call that
        :meth:`cancel_query` may cancel instead of one of the query's own (a scope
        costs more than the rest of a one-child query): the caller's whole block is
        then cancelled, and this call raises the query's failure (never
        ``Cancelled``). Only for a caller whose scope cancels nothing that must
        outlive the query (a statement whose one query this is).
        """
        if not self._open:
            raise ExecutorClosed("BucketedExecutor is not open (use `async with`)")
        parent = current_child.get()
        if parent is not None and parent.query._executor is self:
            async with self.query(name, session, total=1) as q:
                if opened is not None:
                    opened(q)
                return await q.run(fn, *args, label=label)
        query_id = next(self._query_ids)
        buckets = self._buckets
        bucket = (
            buckets[0] if len(buckets) == 1 else self._assigner.pick(buckets, session, query_id)
        )
        now = trio.current_time()
        query = Query(self, query_id, name, session, bucket, None, 1, now)
        bucket.queries.add(query)
        self._queries[query_id] = query
        # What bound_contextvars does (log lines of the child carry the query), on
        # structlog's own context variables, without its generator and context scan.
        v_id, v_name, v_bucket = _log_vars()
        t_id, t_name, t_bucket = v_id.set(query_id), v_name.set(name), v_bucket.set(bucket.index)
        child_label: str = label or getattr(fn, "__name__", None) or "child"
        try:
            if scope is not None:
                query._scope = scope
                if opened is not None:
                    opened(query)
                # A Cancelled from cancel() leaves as the failure (below).
                return await query._run_child(fn, args, child_label, now)
            with trio.CancelScope() as own:
                query._scope = own
                if opened is not None:
                    opened(query)
                return await query._run_child(fn, args, child_label, now)
            # Only cancel() cancels this scope, and it records why first.
            failure = query._failure
            assert failure is not None
            raise failure
        except BaseException as exc:
            failure = query._failure
            if failure is not None and exc is not failure and _is_consequence(exc):
                raise failure from failure.__cause__
            raise
        finally:
            query._closing = True
            v_bucket.reset(t_bucket)
            v_name.reset(t_name)
            v_id.reset(t_id)
            bucket.queries.discard(query)
            del self._queries[query_id]

    def cancel_query(self, query_id: int, reason: BaseException | None = None) -> bool:
        """Cancel an open query (``KILL QUERY``); its ``async with`` raises ``reason``."""
        query = self._queries.get(query_id)
        if query is None:
            return False
        query.cancel(reason or QueryCancelled(f"query {query_id} {query.name!r} was cancelled"))
        return True

    # ------------------------------------------------------------------ status
    def status(self) -> list[BucketStatus]:
        """One row per bucket, like MariaDB's ``THREAD_POOL_STATS``."""
        return [bucket.status() for bucket in self._buckets]

    def queries(self) -> list[QueryInfo]:
        now = trio.current_time()
        return [q.info(now) for q in self._queries.values()]

    def statistics(self) -> ExecutorStatistics:
        rows = self.status()
        return ExecutorStatistics(
            buckets=len(rows),
            slots=sum(r.slots for r in rows),
            active=sum(r.active for r in rows),
            waiting=sum(r.waiting for r in rows),
            queued=sum(r.queued_high + r.queued_low for r in rows),
            stalled=sum(r.stalled for r in rows),
            oversubscribed=sum(r.oversubscribed for r in rows),
            completed=sum(r.completed for r in rows),
            queries=len(self._queries),
            deadlocks_suspected=sum(r.deadlocks_suspected for r in rows),
        )

    def dump(self, bucket: int | None = None) -> list[dict[str, Any]]:
        """Everything the deadlock event shows: per bucket, its queries and children."""
        now = trio.current_time()
        out: list[dict[str, Any]] = []
        for b in self._buckets:
            if bucket is not None and b.index != bucket:
                continue
            children = b.children()
            queries = []
            for q in sorted(b.queries, key=lambda q: q.opened_at):
                info = q.info(now).as_dict()
                info["children"] = [
                    Bucket.child_info(c, now).as_dict() for c in children if c.query is q
                ]
                queries.append(info)
            out.append({"status": b.status().as_dict(), "queries": queries})
        return out

    # ---------------------------------------------------------------- internals
    def _new_child_id(self) -> int:
        return next(self._child_ids)

    @property
    def buckets(self) -> tuple[Bucket, ...]:
        """The buckets themselves (for tests and admin tooling; treat as read-only)."""
        return tuple(self._buckets)


_LOG_VARS: tuple[ContextVar[Any], ContextVar[Any], ContextVar[Any]] | None = None


def _log_vars() -> tuple[ContextVar[Any], ContextVar[Any], ContextVar[Any]]:
    """The context variables behind structlog's ``query_id``, ``query`` and ``bucket``
    keys (what ``bind_contextvars`` sets), found once through the tokens it returns."""
    global _LOG_VARS
    if _LOG_VARS is None:
        tokens = structlog.contextvars.bind_contextvars(query_id=None, query=None, bucket=None)
        structlog.contextvars.reset_contextvars(**tokens)
        _LOG_VARS = (tokens["query_id"].var, tokens["query"].var, tokens["bucket"].var)
    return _LOG_VARS


def _is_consequence(exc: BaseException) -> bool:
    """True if ``exc`` is only the fallout of a query failure (cancellation, or the
    failure itself wrapped in groups), so the recorded failure should surface instead."""
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_consequence(e) for e in exc.exceptions)
    return isinstance(exc, ChildFailed)
