"""1024 shard databases on one server are served by one bounded pool.

Shard SQL uses fully qualified names (``sgtest_s0000.t``), so any pooled connection
serves any shard database; the pool never grows past ``max_connections``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio

from tests.backend_mysql.conftest import make_ds

pytestmark = pytest.mark.mysql

SHARDS = 1024
MAX = 8


def db(i: int) -> str:
    return f"sgtest_s{i:04d}"


async def test_1024_databases_one_pool_of_max_connections() -> None:
    # The acquire timeout only turns a leak into a failure instead of a hang: a loaded
    # CI disk once took >10 s for eight concurrent DROP DATABASEs, so it is generous.
    ds = make_ds("main_1024", max_connections=MAX, acquire_timeout=60.0)
    await ds.open()
    try:
        with trio.fail_after(120):

            async def setup(i: int) -> None:
                async with ds.connection() as conn:
                    await conn.execute(f"CREATE DATABASE IF NOT EXISTS {db(i)}")
                    await conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {db(i)}.t (id INT PRIMARY KEY, v INT) ENGINE=Aria"
                    )
                    await conn.execute(f"REPLACE INTO {db(i)}.t VALUES ({i}, {i * 3})")

            await fan_out(setup, 64)
            peak_during_queries: list[int] = []
            got: dict[int, tuple[int, int]] = {}

            async def query(i: int) -> None:
                rs = await ds.fetch(f"SELECT id, v FROM {db(i)}.t")
                got[i] = rs.rows[0]
                peak_during_queries.append(ds.statistics().size)

            await fan_out(query, 128)
            assert got == {i: (i, i * 3) for i in range(SHARDS)}
            st = ds.statistics()
            assert st.extra["peak_size"] <= MAX and max(peak_during_queries) <= MAX
            assert st.created <= MAX and st.in_use == 0 and st.waiting == 0
            assert st.acquired >= 2 * SHARDS
    finally:
        with trio.fail_after(120):

            async def drop(i: int) -> None:
                await ds.execute(f"DROP DATABASE IF EXISTS {db(i)}")

            # No more drops in flight than connections: the cleanup waits on the
            # server, never on the pool.
            await fan_out(drop, MAX)
        await ds.aclose()


async def fan_out(fn: Callable[[int], Awaitable[None]], concurrency: int) -> None:
    """Run fn(i) for every shard with at most ``concurrency`` tasks in flight."""
    limiter = trio.CapacityLimiter(concurrency)

    async def one(i: int) -> None:
        async with limiter:
            await fn(i)

    async with trio.open_nursery() as nursery:
        for i in range(SHARDS):
            nursery.start_soon(one, i)
