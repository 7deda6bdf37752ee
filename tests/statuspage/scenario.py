"""A busy server for the status-page tests: real executor, fake sessions and data sources.

:func:`busy_server` starts a :class:`~sharding.server.MySQLServer` (ephemeral ports) over
a real :class:`~executor.BucketedExecutor` and :class:`FanoutSessionFactory`, and puts
each interesting state in its own bucket (the ``hash`` policy maps an integer session
to ``session % buckets``):

* a *hot* bucket: two stuck embedded queries whose children sleep far longer than the
  test, more of them than the bucket has slots: it stalls, oversubscribes, queues, and
  the watchdog suspects a deadlock;
* a *busy* bucket: one embedded query with three stuck children on four slots;
* a background client issuing short fan-outs and local statements, so the throughput
  and p99 sparklines have history before the page is opened.

Everything stops when the context exits (the background client by a flag, bounded in
count and time; the stuck queries by cancellation).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import trio

from executor import BucketedExecutor, ExecutorConfig
from sharding.backend.base import DataSourceStatistics
from sharding.server import CoordinatorAdmin
from tests.server.conftest import Served, in_thread, start_server, wait_until
from tests.statuspage.fakes import FanoutSession, FanoutSessionFactory

BUCKETS = 6
SLOTS = 4
CONFIG = ExecutorConfig(
    buckets=BUCKETS,
    slots_per_bucket=SLOTS,
    window=SLOTS,
    stall_limit=0.4,
    oversubscribe=1,
    kickup_after=0.5,
    deadlock_check_period=0.5,
    # Far above the test: the watchdog must flag the hot bucket, never break it.
    deadlock_timeout=600.0,
    assign="hash",
)
STUCK_SECONDS = 600.0
#: The background client stops by itself after this many statements or seconds.
BACKGROUND_MAX_STATEMENTS = 20_000
BACKGROUND_MAX_SECONDS = 90.0


class FakeDataSource:
    def __init__(self, stats: DataSourceStatistics) -> None:
        self.stats = stats

    def statistics(self) -> DataSourceStatistics:
        return self.stats


DATASOURCES = {
    "orders_a": FakeDataSource(
        DataSourceStatistics(
            name="orders_a",
            kind="mysql",
            max_size=32,
            size=12,
            idle=7,
            in_use=5,
            waiting=0,
            acquired=18_342,
            created=12,
            validations=410,
            breaker="closed",
        )
    ),
    "orders_b": FakeDataSource(
        DataSourceStatistics(
            name="orders_b",
            kind="mysql",
            max_size=32,
            size=3,
            idle=0,
            in_use=3,
            waiting=4,
            acquired=9_127,
            validations=388,
            validation_failures=17,
            acquire_timeouts=5,
            errors=23,
            breaker="open",
        )
    ),
    "archive": FakeDataSource(
        DataSourceStatistics(
            name="archive",
            kind="sqlite",
            max_size=8,
            size=2,
            idle=2,
            in_use=0,
            waiting=0,
            acquired=311,
            breaker="half_open",
        )
    ),
}


@dataclass
class Busy:
    served: Served
    executor: BucketedExecutor
    factory: FanoutSessionFactory
    #: The idle client connection reserved for the test's slow query, and its session.
    client: Any
    session: FanoutSession
    hot_bucket: int
    busy_bucket: int
    background_bucket: int
    stuck_query_ids: list[int] = field(default_factory=list)
    background_statements: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.served.server.http_port}"

    @property
    def session_bucket(self) -> int:
        return self.session.id % BUCKETS


async def _hold(
    ex: BucketedExecutor,
    name: str,
    bucket: int,
    children: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with ex.query(name=name, session=bucket) as q:
        task_status.started(q.id)
        await q.map(trio.sleep, [STUCK_SECONDS] * children)


def _background(busy: Busy, client: Any, stop: threading.Event) -> None:
    """Short fan-outs of varied length plus local statements, until told to stop."""
    durations = (0.002, 0.004, 0.008, 0.015, 0.03, 0.06)
    deadline = time.monotonic() + BACKGROUND_MAX_SECONDS
    with client.cursor() as cur:
        for i in range(BACKGROUND_MAX_STATEMENTS):
            if stop.is_set() or time.monotonic() > deadline:
                return
            cur.execute(f"SELECT FANOUT(3, {durations[i % len(durations)]})")
            cur.fetchall()
            cur.execute("SELECT 1")
            cur.fetchall()
            busy.background_statements += 2
            # Throughput that changes every few seconds, so the sparkline has a shape.
            time.sleep((0.004, 0.012, 0.025, 0.012)[(i // 60) % 4])


@asynccontextmanager
async def busy_server(nursery: trio.Nursery, **server_config: Any) -> AsyncIterator[Busy]:
    async with BucketedExecutor(CONFIG) as ex:
        factory = FanoutSessionFactory(executor=ex)
        admin = CoordinatorAdmin(SimpleNamespace(executor=ex, datasources=DATASOURCES))
        served = await start_server(nursery, factory=factory, admin=admin, **server_config)
        user = server_config.get("users", [{}])[0].get("name", "root")
        password = server_config.get("users", [{}])[0].get("password", "")
        client = await in_thread(lambda: served.pymysql(user=user, password=password))
        session = factory.sessions[-1]
        background = await in_thread(lambda: served.pymysql(user=user, password=password))
        bg_bucket = factory.sessions[-1].id % BUCKETS
        free = [b for b in range(BUCKETS) if b not in (session.id % BUCKETS, bg_bucket)]
        busy = Busy(
            served=served,
            executor=ex,
            factory=factory,
            client=client,
            session=session,  # type: ignore[arg-type]
            hot_bucket=free[0],
            busy_bucket=free[1],
            background_bucket=bg_bucket,
        )
        stop = threading.Event()
        holds = trio.CancelScope()

        async def run_holds(
            *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
        ) -> None:
            with holds:
                async with trio.open_nursery() as hn:
                    for name in ("nightly report: orders ⋈ lineitem", "rebalance scan shard_0042"):
                        qid = await hn.start(_hold, ex, name, busy.hot_bucket, 2 * SLOTS)
                        busy.stuck_query_ids.append(qid)
                    qid = await hn.start(
                        _hold, ex, "export: customers", busy.busy_bucket, SLOTS - 1
                    )
                    busy.stuck_query_ids.append(qid)
                    task_status.started()

        try:
            async with trio.open_nursery() as work:
                await work.start(run_holds)
                # Not abandoned on cancel: the client is closed only after its thread ends
                # (within one short statement of ``stop``).
                work.start_soon(trio.to_thread.run_sync, _background, busy, background, stop)
                try:
                    yield busy
                finally:
                    stop.set()
                    holds.cancel()
        finally:
            stop.set()
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(client.close)
                await trio.to_thread.run_sync(background.close)
            served.server.shutdown()


async def wait_for_history(busy: Busy, seconds: int, limit: float = 15.0) -> None:
    """Until the server's ring holds ``seconds`` complete seconds with statements."""
    history = busy.served.server.metrics.history
    await wait_until(
        lambda: sum(1 for s in history.samples() if s.statements) >= seconds, limit=limit
    )
