"""Acceptance 5: one bucket saturated by slow queries.

With ``least_loaded`` the fast queries opened meanwhile land in other buckets and finish
fast; with ``hash`` (MySQL's static ``thread_id % groups``) those whose session hashes to
the saturated bucket wait behind the slow work — seed 002's "slow connections are always
slow, fast ones always fast".
"""

from __future__ import annotations

import trio
import trio.testing

from executor import BucketedExecutor, ExecutorConfig
from tests.executor.helpers import assert_idle

SLOW = 10.0
FAST = 0.001


def _config(assign: str) -> ExecutorConfig:
    return ExecutorConfig.from_mapping(
        dict(
            buckets=4,
            slots_per_bucket=2,
            window=8,
            stall_limit=1000.0,  # no oversubscription: isolate placement
            deadlock_check_period=1000.0,
            assign=assign,
        )
    )


async def _scenario(assign: str) -> tuple[int, list[tuple[int, float]]]:
    """Returns the saturated bucket and (bucket, latency) of each fast query."""

    async def slow(_: int) -> None:
        await trio.sleep(SLOW)

    async def fast(_: int) -> None:
        await trio.sleep(FAST)

    fast_results: list[tuple[int, float]] = []
    async with BucketedExecutor(_config(assign)) as ex:
        saturated: list[int] = []
        async with trio.open_nursery() as nursery:

            async def slow_query() -> None:
                async with ex.query(name="slow", session=0) as q:
                    saturated.append(q.bucket)
                    await q.map(slow, range(8))  # 2 running, 6 queued

            async def fast_query(session: int) -> None:
                start = trio.current_time()
                async with ex.query(name=f"fast{session}", session=session) as q:
                    await q.map(fast, range(2))
                    fast_results.append((q.bucket, trio.current_time() - start))

            nursery.start_soon(slow_query)
            await trio.sleep(0.1)
            row = ex.status()[saturated[0]]
            assert row.active == 2 and row.queued_low == 6, row
            for session in range(1, 21):
                nursery.start_soon(fast_query, session)
                await trio.sleep(0.01)
        assert_idle(ex)
    return saturated[0], fast_results


async def test_least_loaded_keeps_fast_queries_away_from_the_hot_bucket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hot, results = await _scenario("least_loaded")
    assert len(results) == 20
    assert all(bucket != hot for bucket, _ in results)
    assert max(latency for _, latency in results) < 10 * FAST


async def test_hash_assignment_suffers_head_of_line_blocking(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hot, results = await _scenario("hash")
    assert hot == 0
    stuck = [latency for bucket, latency in results if bucket == hot]
    free = [latency for bucket, latency in results if bucket != hot]
    assert len(stuck) == 5  # sessions 4, 8, 12, 16, 20
    assert min(stuck) > SLOW / 2  # they waited for the slow children to finish
    assert max(free) < 10 * FAST
