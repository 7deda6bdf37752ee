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
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

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
            Bucket(i, config.slots_per_bucket, config.oversubscribe) for i in range(config.buckets)
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
        query = Query(self, query_id, name, session, bucket, parent, total, trio.current_time())
        bucket.queries.add(query)
        self._queries[query_id] = query
        if parent is not None:
            lend(parent, f"nested query {query_id} {name!r}")
        try:
            with structlog.contextvars.bound_contextvars(
                query_id=query_id, query=name, bucket=bucket.index
            ):
                with trio.CancelScope() as scope:
                    query._scope = scope
                    try:
                        async with trio.open_nursery() as nursery:
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
            bucket.queries.discard(query)
            del self._queries[query_id]
            if parent is not None:
                await take_back(parent)

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


def _is_consequence(exc: BaseException) -> bool:
    """True if ``exc`` is only the fallout of a query failure (cancellation, or the
    failure itself wrapped in groups), so the recorded failure should surface instead."""
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_consequence(e) for e in exc.exceptions)
    return isinstance(exc, ChildFailed)
