"""Acceptance 4: the watchdog finds stuck buckets and leaked counters.

Run on trio's MockClock (autojump), so "within 2 periods" is measured exactly rather
than against a noisy wall clock.
"""

from __future__ import annotations

import functools

import pytest
import structlog
import trio
import trio.testing

from executor import BucketedExecutor, DeadlockSuspected, ExecutorConfig
from tests.executor.helpers import assert_idle

PERIOD = 0.5
TIMEOUT = 5.0


def _config(**overrides: object) -> ExecutorConfig:
    values: dict[str, object] = dict(
        buckets=2,
        slots_per_bucket=2,
        window=4,
        stall_limit=100.0,  # keep stall oversubscription out of these tests
        oversubscribe=0,
        deadlock_check_period=PERIOD,
        deadlock_timeout=TIMEOUT,
        assign="round_robin",
    )
    values.update(overrides)
    return ExecutorConfig.from_mapping(values)


@pytest.mark.usefixtures("fresh_structlog")
async def test_stuck_children_are_detected_dumped_and_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    never = trio.Event()

    async def stuck(_: int) -> None:
        await never.wait()  # a lost wake-up: holds its slot, never progresses

    with structlog.testing.capture_logs() as events:
        async with BucketedExecutor(_config()) as ex:
            start = trio.current_time()
            with pytest.raises(DeadlockSuspected) as info:
                async with ex.query(name="victim") as q:
                    assert q.bucket == 0
                    await q.map(stuck, range(8))
            ended = trio.current_time()
            (row, other) = ex.status()
            assert row.deadlocks_suspected == 1 and other.deadlocks_suspected == 0
            assert_idle(ex)

    suspected = [e for e in events if e["event"] == "executor.deadlock_suspected"]
    assert len(suspected) == 1, "one event per episode"
    event = suspected[0]
    assert event["bucket"] == 0
    (dump,) = event["dump"]
    assert dump["status"]["queued_low"] + dump["status"]["queued_high"] > 0
    (query,) = dump["queries"]
    assert query["name"] == "victim" and query["children_total"] == 8
    states = sorted(c["state"] for c in query["children"])
    assert states.count("running") == 2 and "queued_low" in states
    running = [c for c in query["children"] if c["state"] == "running"]
    assert all(c["age"] > 0 and c["waiting_on"] is None for c in running)
    queued = [c for c in query["children"] if c["state"].startswith("queued")]
    assert all(c["waiting_on"] == "slot" for c in queued)

    # The query was cancelled only after deadlock_timeout, not before.
    took = ended - start
    assert TIMEOUT <= took <= TIMEOUT + 3 * PERIOD, took
    assert info.value.bucket == 0 and info.value.query_id == q.id
    assert "suspected deadlock" in str(info.value)
    broken = [e for e in events if e["event"] == "executor.deadlock_broken"]
    assert [e["cancelled_query"] for e in broken] == [q.id]


async def test_detection_happens_within_two_periods(autojump_clock: trio.testing.MockClock) -> None:
    never = trio.Event()
    seen_at: list[float] = []

    async def stuck(_: int) -> None:
        await never.wait()

    async with BucketedExecutor(_config(deadlock_timeout=1000)) as ex:
        async with trio.open_nursery() as nursery:

            async def run() -> None:
                async with ex.query(name="stuck") as q:
                    await q.map(stuck, range(8))

            # Start at an arbitrary phase relative to the watchdog's ticks.
            await trio.sleep(0.3)
            start = trio.current_time()
            nursery.start_soon(run)
            while not ex.status()[0].deadlock_suspect:  # noqa: ASYNC110 - polling the status API is the point
                await trio.sleep(0.01)
            seen_at.append(trio.current_time())
            row = ex.status()[0]
            # Growth lets queued work in while the episode lasts.
            assert row.capacity > row.slots
            nursery.cancel_scope.cancel()
        assert_idle(ex)
    assert seen_at[0] - start <= 2 * PERIOD


async def test_slow_but_progressing_bucket_is_not_suspected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slowish(_: int) -> None:
        await trio.sleep(PERIOD / 3)  # completes several times per period

    async with BucketedExecutor(_config()) as ex:
        async with ex.query() as q:
            await q.map(slowish, range(200))
        assert all(r.deadlocks_suspected == 0 for r in ex.status())
        assert_idle(ex)


async def test_correct_nested_fanout_is_never_suspected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Parents lend their slots, so waiting parents are not 'busy'."""

    async def leaf(_: int) -> None:
        await trio.sleep(0.1)

    async def parent(_: int, ex: BucketedExecutor) -> None:
        async with ex.query(name="inner") as q:
            await q.map(leaf, range(20))

    async with BucketedExecutor(_config(buckets=1)) as ex:
        async with ex.query() as q:
            await q.map(functools.partial(parent, ex=ex), range(6))
        assert ex.status()[0].deadlocks_suspected == 0
        assert_idle(ex)


@pytest.mark.usefixtures("fresh_structlog")
async def test_corrupted_counter_is_detected_and_repaired(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Seed 002: an active counter that leaked made a group refuse work forever."""
    ran: list[int] = []

    async def child(i: int) -> None:
        ran.append(i)

    with structlog.testing.capture_logs() as events:
        async with BucketedExecutor(_config(buckets=1)) as ex:
            (bucket,) = ex.buckets
            bucket.active += 2  # leak two "active" slots: the bucket now looks full
            async with ex.query() as q:
                with trio.fail_after(3 * PERIOD):
                    await q.map(child, range(5))
            assert sorted(ran) == list(range(5))
            (row,) = ex.status()
            assert row.drift_repairs == 1
            assert_idle(ex)

            bucket.waiting -= 1  # a negative gauge is drift too
            await trio.sleep(PERIOD * 1.5)
            assert ex.status()[0].drift_repairs == 2
            assert_idle(ex)

            # A leaked reservation would keep new work off a slot nobody is owed.
            bucket.reserved += bucket.slots
            async with ex.query() as q:
                with trio.fail_after(3 * PERIOD):
                    await q.map(child, range(5, 8))
            assert ex.status()[0].drift_repairs == 3
            assert_idle(ex)

    drift = [e for e in events if e["event"] == "executor.counter_drift"]
    assert drift[0]["repaired"] == {"active": {"was": 2, "now": 0}}
    assert drift[1]["repaired"] == {"waiting": {"was": -1, "now": 0}}
    assert list(drift[2]["repaired"]) == ["reserved"]


async def test_watchdog_cancels_youngest_query_only(autojump_clock: trio.testing.MockClock) -> None:
    never = trio.Event()
    outcomes: dict[str, str] = {}

    async def stuck(_: int) -> None:
        await never.wait()

    async with BucketedExecutor(_config(buckets=1, window=2)) as ex:
        async with trio.open_nursery() as nursery:

            async def run(name: str) -> None:
                try:
                    async with ex.query(name=name) as q:
                        await q.map(stuck, range(4))
                    outcomes[name] = "completed"  # pragma: no cover
                except DeadlockSuspected:
                    outcomes[name] = "deadlock"
                except trio.Cancelled:
                    outcomes[name] = "cancelled"
                    raise

            nursery.start_soon(run, "old")
            await trio.sleep(0.1)
            nursery.start_soon(run, "young")
            await trio.sleep(TIMEOUT + 2 * PERIOD)
            assert outcomes == {"young": "deadlock"}
            nursery.cancel_scope.cancel()
        assert outcomes == {"young": "deadlock", "old": "cancelled"}
        assert_idle(ex)
