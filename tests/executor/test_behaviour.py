"""The executor's contract, one behaviour per test (happy paths and faults)."""

from __future__ import annotations

import functools
import threading
import time

import pytest
import structlog
import trio
import trio.testing

from executor import (
    BucketedExecutor,
    ChildFailed,
    ExecutorClosed,
    ExecutorConfig,
    QueryCancelled,
    slot_released,
)
from tests.executor.helpers import all_tasks, assert_idle, leftover_tasks


class Concurrency:
    """Counts how many calls are inside at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def __exit__(self, *_: object) -> None:
        self.now -= 1


# --------------------------------------------------------------------- config
def test_config_validation() -> None:
    with pytest.raises(ValueError, match="buckets"):
        ExecutorConfig(buckets=0)
    with pytest.raises(ValueError, match="stall_limit"):
        ExecutorConfig(stall_limit=0)
    with pytest.raises(ValueError, match="assign"):
        ExecutorConfig(assign="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown \[executor\] key.*bucket_count"):
        ExecutorConfig.from_mapping({"bucket_count": 3})
    cfg = ExecutorConfig.from_mapping({"buckets": 3, "window": 2})
    assert (cfg.buckets, cfg.window, cfg.total_slots) == (3, 2, 48)


async def test_query_outside_open_executor_is_a_clear_error() -> None:
    ex = BucketedExecutor(ExecutorConfig(buckets=1))
    with pytest.raises(ExecutorClosed, match="not open"):
        async with ex.query():
            pass  # pragma: no cover


async def test_query_handle_unusable_after_close() -> None:
    async with BucketedExecutor(ExecutorConfig(buckets=1)) as ex:
        async with ex.query(name="q") as q:
            pass
        with pytest.raises(ExecutorClosed, match="closed"):
            await q.run(trio.sleep, 0)


# ----------------------------------------------------------- results / window
async def test_map_keeps_input_order_and_as_completed_yields_in_finish_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def delayed(i: int) -> int:
        await trio.sleep(10 - i)
        return i

    async with BucketedExecutor(ExecutorConfig(buckets=1, slots_per_bucket=10, window=10)) as ex:
        async with ex.query() as q:
            assert await q.map(delayed, range(10)) == list(range(10))
            finished = [r async for r in q.as_completed(delayed, range(10))]
        assert finished == list(reversed(range(10)))
        assert_idle(ex)


async def test_window_bounds_children_in_flight_per_query() -> None:
    inside = Concurrency()

    async def child(_: int) -> None:
        with inside:
            await trio.sleep(0.001)

    async with BucketedExecutor(ExecutorConfig(buckets=1, slots_per_bucket=32, window=3)) as ex:
        async with ex.query() as q, trio.open_nursery() as nursery:
            # map, as_completed and run from several tasks share one window
            nursery.start_soon(q.map, child, range(40))
            for i in range(10):
                nursery.start_soon(functools.partial(q.run, child, i))

            async def drain() -> None:
                async for _ in q.as_completed(child, range(20)):
                    pass

            nursery.start_soon(drain)
        assert_idle(ex)
    assert inside.peak == 3


async def test_children_total_counts_items_unless_given_at_open() -> None:
    async def child(_: int) -> None:
        await trio.lowlevel.checkpoint()

    async with BucketedExecutor(ExecutorConfig(buckets=1)) as ex:
        async with ex.query() as q:
            await q.map(child, range(3))
            await q.map(child, range(4))
            assert q.info(trio.current_time()).children_total == 7
        async with ex.query(total=16) as q:  # e.g. 16 shards, fetched in several maps
            await q.map(child, range(10))
            info = q.info(trio.current_time())
            assert (info.children_total, info.children_done) == (16, 10)


async def test_query_accounts_time_queued_and_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def second(_: int) -> None:
        await trio.sleep(1)

    # No stall allowance and no watchdog growth: exactly two children run at once.
    config = ExecutorConfig(
        buckets=1, slots_per_bucket=2, stall_limit=100, deadlock_check_period=100
    )
    async with BucketedExecutor(config) as ex, ex.query() as q:
        await q.map(second, range(4))  # two children wait 1 s each
        info = q.info(trio.current_time())
    assert (q.queued_seconds, q.running_seconds) == (2.0, 4.0)
    assert (info.queued_seconds, info.running_seconds) == (2.0, 4.0)


async def test_slots_bound_children_across_queries_of_a_bucket() -> None:
    inside = Concurrency()

    async def child(_: int) -> None:
        with inside:
            await trio.sleep(0.001)

    config = ExecutorConfig(buckets=1, slots_per_bucket=4, window=16, stall_limit=10)
    async with BucketedExecutor(config) as ex:
        async with trio.open_nursery() as nursery:
            for n in range(6):

                async def one(n: int = n) -> None:
                    async with ex.query(name=f"q{n}") as q:
                        await q.map(child, range(50))

                nursery.start_soon(one)
        assert_idle(ex)
    assert inside.peak == 4


async def test_round_robin_fairness_small_query_not_stuck_behind_big(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 1024-child query and a 10-child query share one bucket: the small one takes
    turns with the big one instead of waiting for all 1024 (10 s of work)."""

    async def child(_: int) -> None:
        await trio.sleep(0.01)

    config = ExecutorConfig(buckets=1, slots_per_bucket=2, window=16, stall_limit=100)
    small_took: list[float] = []
    async with BucketedExecutor(config) as ex:
        async with trio.open_nursery() as nursery:

            async def big() -> None:
                async with ex.query(name="big") as q:
                    await q.map(child, range(1024))

            nursery.start_soon(big)
            await trio.sleep(0.5)
            start = trio.current_time()
            async with ex.query(name="small") as q:
                assert q.bucket == 0
                await q.map(child, range(10))
            small_took.append(trio.current_time() - start)
        assert_idle(ex)
    # Alone it needs 5 rounds of 10 ms; sharing 2 slots round-robin, about twice that.
    assert small_took[0] < 0.2, small_took


# --------------------------------------------------------------------- failure
async def test_failing_child_cancels_siblings_and_names_itself() -> None:
    before = all_tasks()
    cancelled = 0

    async def child(i: int) -> int:
        nonlocal cancelled
        if i == 7:
            await trio.sleep(0.01)
            raise ValueError("shard 7 is broken")
        try:
            await trio.sleep(10)
        except trio.Cancelled:
            cancelled += 1
            raise
        return i  # pragma: no cover

    async with BucketedExecutor(ExecutorConfig(buckets=2, slots_per_bucket=8, window=8)) as ex:
        with pytest.raises(ChildFailed) as info:
            async with ex.query(name="broken") as q:
                await q.map(child, range(100))
        err = info.value
        assert isinstance(err.error, ValueError) and err.__cause__ is err.error
        assert err.root is err.error
        assert (
            err.child.label == "7" and err.query_name == "broken" and err.child.bucket == q.bucket
        )
        assert "child '7'" in str(err) and "shard 7 is broken" in str(err)
        assert cancelled == 7  # the other children in flight (window 8)
        assert_idle(ex)
    assert leftover_tasks(before) == []


async def test_failure_in_run_fails_the_whole_query() -> None:
    async def fine() -> None:
        await trio.sleep(10)

    async def broken() -> None:
        raise KeyError("x")

    async with BucketedExecutor(ExecutorConfig(buckets=1)) as ex:
        with pytest.raises(ChildFailed) as info:
            async with ex.query(name="q") as q, trio.open_nursery() as nursery:
                nursery.start_soon(q.run, fine)
                nursery.start_soon(q.run, fine)
                await trio.sleep(0.01)
                await q.run(broken, label="the-broken-one")
        assert info.value.child.label == "the-broken-one"
        assert isinstance(info.value.root, KeyError)
        assert_idle(ex)


async def test_nested_failure_keeps_the_chain() -> None:
    async def leaf(i: int) -> int:
        if i == 2:
            raise RuntimeError("leaf 2")
        await trio.sleep(1)
        return i

    async def middle(i: int, ex: BucketedExecutor) -> int:
        async with ex.query(name=f"middle{i}") as q:
            return sum(await q.map(leaf, range(4)))

    async with BucketedExecutor(ExecutorConfig(buckets=1, slots_per_bucket=2)) as ex:
        with pytest.raises(ChildFailed) as info:
            async with ex.query(name="top") as q:
                await q.map(functools.partial(middle, ex=ex), range(3))
        outer = info.value
        assert outer.query_name == "top"
        assert isinstance(outer.error, ChildFailed) and outer.error.query_name.startswith("middle")
        assert isinstance(outer.root, RuntimeError) and str(outer.root) == "leaf 2"
        assert_idle(ex)


async def test_body_exception_is_not_wrapped() -> None:
    async with BucketedExecutor(ExecutorConfig(buckets=1)) as ex:
        with pytest.raises(ZeroDivisionError):
            async with ex.query() as q:
                await q.run(trio.sleep, 0)
                _ = 1 / 0
        assert_idle(ex)


# ---------------------------------------------------------------- cancellation
async def test_outer_cancellation_leaves_nothing_behind() -> None:
    before = all_tasks()
    threads_inside = 0
    lock = threading.Lock()

    def sync_child(_: int) -> None:
        nonlocal threads_inside
        with lock:
            threads_inside += 1
        try:
            time.sleep(0.02)
        finally:
            with lock:
                threads_inside -= 1

    async def async_child(_: int, ex: BucketedExecutor) -> None:
        async with ex.query(name="nested") as q:
            await q.map(sync_child, range(8))

    async with BucketedExecutor(ExecutorConfig(buckets=2, slots_per_bucket=2, window=4)) as ex:
        with trio.move_on_after(0.05) as scope:
            async with ex.query(name="q") as q:
                await q.map(functools.partial(async_child, ex=ex), range(50))
        assert scope.cancelled_caught
        assert_idle(ex)
    assert threads_inside == 0  # cancellation waited for threads; none abandoned
    assert leftover_tasks(before) == []


async def test_cancel_query_raises_the_given_reason() -> None:
    started = trio.Event()

    async def child(_: int) -> None:
        started.set()
        await trio.sleep(100)

    class Killed(Exception):
        pass

    async with BucketedExecutor(ExecutorConfig(buckets=1)) as ex:
        async with trio.open_nursery() as nursery:

            async def victim() -> None:
                with pytest.raises(Killed):
                    async with ex.query(name="victim") as q:
                        await q.map(child, range(10))

            nursery.start_soon(victim)
            await started.wait()
            (info,) = ex.queries()
            assert info.name == "victim" and info.children_running > 0
            assert ex.cancel_query(info.id, Killed("KILL QUERY"))
            assert not ex.cancel_query(10_000)
        assert_idle(ex)

        with pytest.raises(QueryCancelled):
            async with ex.query(name="second") as q:
                ex.cancel_query(q.id)
                await trio.sleep(1)


async def test_keyboard_interrupt_in_child_propagates_and_cleans_up() -> None:
    async def child(i: int) -> None:
        if i == 3:
            raise KeyboardInterrupt
        await trio.sleep(1)

    async with BucketedExecutor(ExecutorConfig(buckets=1, slots_per_bucket=4)) as ex:
        with pytest.raises(KeyboardInterrupt):
            async with ex.query() as q:
                await q.map(child, range(10))
        assert_idle(ex)


async def test_as_completed_early_exit_cancels_the_rest() -> None:
    finished = 0

    async def child(i: int) -> int:
        nonlocal finished
        await trio.sleep(0.001 * i)
        finished += 1
        return i

    async with BucketedExecutor(ExecutorConfig(buckets=1, slots_per_bucket=4, window=4)) as ex:
        async with ex.query() as q:
            results = q.as_completed(child, range(1000))
            async for r in results:
                if r == 2:
                    break
            await results.aclose()
            await trio.sleep(0.05)
        assert finished < 20
        assert_idle(ex)


# -------------------------------------------------------------- slot lending
async def test_slot_released_lends_the_slot_and_takes_it_back() -> None:
    gate = trio.Event()
    observed: list[tuple[int, int]] = []

    async def waits(ex: BucketedExecutor) -> None:
        async with slot_released("waiting for a connection"):
            (row,) = ex.status()
            observed.append((row.active, row.waiting))
            await gate.wait()
        (row,) = ex.status()
        observed.append((row.active, row.waiting))

    async def other() -> None:
        gate.set()

    async with BucketedExecutor(ExecutorConfig(buckets=1, slots_per_bucket=1)) as ex:
        async with ex.query() as q, trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(q.run, waits, ex))
            await trio.sleep(0.01)
            # The only slot was lent back, so this child can run and open the gate.
            await q.run(other)
        assert_idle(ex)
    assert observed == [(0, 1), (1, 0)]

    async with slot_released("outside any child"):  # no-op, no error
        pass


async def test_slot_lent_without_admitting_new_work(autojump_clock: trio.testing.MockClock) -> None:
    """``admit_new=False``: the lent slot is given neither to a new top-level child nor
    to one kicked up (both would queue on the same resource); if nothing finishes, the
    watchdog grows the bucket and the new work runs; cancelling the waiter gives the
    slot back for good; the counters end at zero."""
    resource = trio.Event()
    started: list[str] = []

    async def waits() -> None:
        started.append("waits")
        async with slot_released("waiting for a connection of ds0", admit_new=False):
            await resource.wait()

    async def new_work() -> None:
        started.append("new")

    cfg = ExecutorConfig(
        buckets=1,
        slots_per_bucket=1,
        kickup_after=1.0,
        stall_limit=100.0,
        deadlock_check_period=5.0,
    )
    async with BucketedExecutor(cfg) as ex:
        bucket = ex.buckets[0]
        async with ex.query() as q, trio.open_nursery() as nursery:
            waiter = trio.CancelScope()

            async def run_waiter() -> None:
                with waiter:
                    await q.run(waits)

            nursery.start_soon(run_waiter)
            await trio.testing.wait_all_tasks_blocked()
            assert (bucket.active, bucket.reserved, bucket.waiting) == (0, 1, 1)
            nursery.start_soon(functools.partial(q.run, new_work))
            await trio.sleep(0.5)
            assert started == ["waits"] and len(bucket.low) == 1  # not on the owed slot
            await trio.sleep(1.0)
            assert bucket.kickups == 1 and len(bucket.kicked) == 1 and started == ["waits"]
            await trio.sleep(5.0)  # a watchdog period: nothing finished, work queued
            assert started == ["waits", "new"]
            assert bucket.deadlocks_suspected == 1 and bucket.growth == 1
            waiter.cancel()
        assert_idle(ex)

    # A waiter back from its wait takes its owed slot before any queued new work.
    order: list[str] = []
    gate = trio.Event()

    async def waits_then_works() -> None:
        async with slot_released("pool", admit_new=False):
            await gate.wait()
        order.append("back")

    async def queued() -> None:
        order.append("queued")

    async with BucketedExecutor(cfg) as ex, ex.query() as q, trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(q.run, waits_then_works))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(functools.partial(q.run, queued))
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert order == ["back", "queued"]
    assert_idle(ex)


# ---------------------------------------------------------- stalls / kick-up
async def test_stalled_children_let_the_bucket_oversubscribe_then_shrink(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The watchdog would also grow a saturated bucket; keep it out of this test.
    config = ExecutorConfig(
        buckets=1,
        slots_per_bucket=2,
        window=32,
        stall_limit=0.5,
        oversubscribe=3,
        deadlock_check_period=1000,
        deadlock_timeout=1000,
    )
    peak = Concurrency()
    samples: list[tuple[int, int, int]] = []

    async def slow(i: int) -> None:
        with peak:
            await trio.sleep(5 if i < 6 else 0.01)

    async with BucketedExecutor(config) as ex:
        async with ex.query() as q, trio.open_nursery() as nursery:
            nursery.start_soon(q.map, slow, range(12))
            for _ in range(12):
                await trio.sleep(0.5)
                (row,) = ex.status()
                samples.append((row.active, row.stalled, row.capacity))
        (row,) = ex.status()
        assert row.stalls >= 5 and row.capacity == 2
        assert_idle(ex)
    assert peak.peak == 2 + 3  # base slots + oversubscribe, never more
    assert max(c for _, _, c in samples) == 5
    assert any(stalled > 0 for _, stalled, _ in samples)


async def test_low_priority_work_is_kicked_up(autojump_clock: trio.testing.MockClock) -> None:
    """Nested (high-priority) work keeps a bucket busy; a top-level query's child waits
    in the low queue and is kicked up after ``kickup_after``."""
    # window > slots keeps nested children queued in the high queue at all times.
    config = ExecutorConfig(
        buckets=1,
        slots_per_bucket=1,
        window=4,
        kickup_after=1.0,
        stall_limit=1000,
        deadlock_timeout=1000,
    )
    ran_at: list[float] = []

    async def nested_work(_: int) -> None:
        await trio.sleep(0.1)

    async def parent(_: int, ex: BucketedExecutor) -> None:
        async with ex.query(name="nested") as q:
            await q.map(nested_work, range(100))  # 10 s of high-priority work

    async def top_level_child() -> None:
        ran_at.append(trio.current_time())

    async with BucketedExecutor(config) as ex:
        async with trio.open_nursery() as nursery:

            async def busy() -> None:
                async with ex.query(name="busy") as q:
                    await q.map(functools.partial(parent, ex=ex), range(1))

            nursery.start_soon(busy)
            await trio.sleep(0.05)
            start = trio.current_time()
            async with ex.query(name="newcomer") as q:
                await q.run(top_level_child)
        (row,) = ex.status()
        assert row.kickups >= 1
        assert_idle(ex)
    waited = ran_at[0] - start
    assert 1.0 <= waited < 1.5, waited


# --------------------------------------------------------------- assignment
async def test_assignment_policies() -> None:
    async with BucketedExecutor(ExecutorConfig(buckets=4, assign="round_robin")) as ex:
        seen = []
        for _ in range(8):
            async with ex.query() as q:
                seen.append(q.bucket)
        assert seen == [0, 1, 2, 3, 0, 1, 2, 3]
    async with BucketedExecutor(ExecutorConfig(buckets=4, assign="hash")) as ex:
        for session in (0, 5, "alice", "bob"):
            buckets = set()
            for _ in range(3):
                async with ex.query(session=session) as q:
                    buckets.add(q.bucket)
            assert len(buckets) == 1
        async with ex.query(session=6) as q:
            assert q.bucket == 2


async def test_nested_query_stays_in_parent_bucket() -> None:
    async def inner(_: int) -> int:
        return 0

    async def child(_: int, ex: BucketedExecutor) -> int:
        async with ex.query(name="nested") as q:
            await q.map(inner, range(3))
            return q.bucket

    async with BucketedExecutor(ExecutorConfig(buckets=8, assign="round_robin")) as ex:
        for _ in range(3):
            async with ex.query() as q:
                assert set(await q.map(functools.partial(child, ex=ex), range(5))) == {q.bucket}


# -------------------------------------------------------------------- logging
@pytest.mark.usefixtures("fresh_structlog")
async def test_log_lines_of_children_carry_the_query_id() -> None:
    log = structlog.get_logger()

    async def child(i: int) -> None:
        log.info("child.async", i=i)

    def sync_child(i: int) -> None:
        log.info("child.sync", i=i)

    async with BucketedExecutor(ExecutorConfig(buckets=2)) as ex:
        with structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars]
        ) as events:
            async with ex.query(name="logged") as q:
                await q.map(child, range(3))
                await q.map(sync_child, range(3))
                qid, bucket = q.id, q.bucket
            log.info("after")
    children = [e for e in events if e["event"].startswith("child.")]
    assert len(children) == 6
    assert all(
        e["query_id"] == qid and e["query"] == "logged" and e["bucket"] == bucket for e in children
    )
    (after,) = [e for e in events if e["event"] == "after"]
    assert "query_id" not in after
