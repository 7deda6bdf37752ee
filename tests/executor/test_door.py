"""The bucket's door (``ExecutorConfig.door_limit``): fan-out queries beyond the limit
wait before they open, first come first served; the wait is cancellable, never blocks
for good, and one-child and nested queries pass it by."""

from __future__ import annotations

import trio
import trio.testing

from executor import BucketedExecutor, ExecutorConfig
from tests.executor.helpers import all_tasks, assert_idle, leftover_tasks


def _config(**kw: object) -> ExecutorConfig:
    values: dict[str, object] = {
        "buckets": 1,
        "slots_per_bucket": 4,
        "window": 4,
        "door_limit": 2,
        "stall_limit": 1000.0,
        "deadlock_timeout": 1000.0,
    }
    values.update(kw)
    return ExecutorConfig(**values)  # type: ignore[arg-type]


async def test_queries_beyond_the_limit_wait_and_enter_in_arrival_order() -> None:
    opened: list[int] = []
    release = trio.Event()

    async with BucketedExecutor(_config()) as ex:

        async def work(_: int) -> None:
            await release.wait()

        async def query(n: int) -> None:
            async with ex.query(name=f"q{n}") as q:
                opened.append(n)
                await q.map(work, range(2))

        async with trio.open_nursery() as nursery:
            for n in range(5):
                nursery.start_soon(query, n)
                await trio.testing.wait_all_tasks_blocked()
            (row,) = ex.status()
            assert (row.queries, row.at_door, row.door_waits) == (2, 3, 3)
            assert opened == [0, 1]
            release.set()
        # 0 and 1 close together and let 2 and 3 in (trio runs those two in either
        # order); 4 waits for the next place.
        assert opened[:2] == [0, 1] and sorted(opened[2:4]) == [2, 3] and opened[4] == 4
        assert_idle(ex)


async def test_a_query_that_closes_lets_exactly_the_next_one_in() -> None:
    gates = [trio.Event() for _ in range(4)]
    opened: list[int] = []

    async with BucketedExecutor(_config(door_limit=1)) as ex:

        async def query(n: int) -> None:
            async with ex.query(name=f"q{n}") as q:
                opened.append(n)
                await q.run(gates[n].wait)

        async with trio.open_nursery() as nursery:
            for n in range(4):
                nursery.start_soon(query, n)
                await trio.testing.wait_all_tasks_blocked()
            for n in range(4):
                assert opened == list(range(n + 1))
                assert ex.status()[0].at_door == 3 - n
                gates[n].set()
                await trio.testing.wait_all_tasks_blocked()
        assert_idle(ex)


async def test_a_wait_at_the_door_is_cancellable_and_leaves_nothing() -> None:
    before = all_tasks()
    release = trio.Event()
    async with BucketedExecutor(_config(door_limit=1)) as ex:

        async def holder() -> None:
            async with ex.query(name="holder") as q:
                await q.run(release.wait)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(holder)
            await trio.testing.wait_all_tasks_blocked()
            with trio.move_on_after(0.05) as scope:
                async with ex.query(name="waiter"):
                    raise AssertionError("let in while the door was full")
            assert scope.cancelled_caught
            (row,) = ex.status()
            assert (row.at_door, row.queries, row.door_waits) == (0, 1, 1)
            assert ex.buckets[0].open_top_level == 1
            release.set()
        # The cancelled waiter took no place: the next query goes straight in.
        async with ex.query(name="after") as q:
            assert await q.run(trio.sleep, 0) is None
        assert ex.status()[0].door_waits == 1
        assert_idle(ex)
    assert leftover_tasks(before) == []


async def test_a_query_cancelled_inside_frees_its_place() -> None:
    async with BucketedExecutor(_config(door_limit=1)) as ex:
        opened: list[str] = []
        started = trio.Event()

        async def first() -> None:
            async with ex.query(name="first") as q:
                opened.append("first")
                started.set()
                await q.run(trio.sleep_forever)

        async def second() -> None:
            async with ex.query(name="second") as q:
                opened.append("second")
                await q.run(trio.sleep, 0)

        async with trio.open_nursery() as nursery, trio.open_nursery() as doomed:
            doomed.start_soon(first)
            await started.wait()
            nursery.start_soon(second)
            await trio.testing.wait_all_tasks_blocked()
            assert opened == ["first"] and ex.status()[0].at_door == 1
            doomed.cancel_scope.cancel()
        assert opened == ["first", "second"]
        assert_idle(ex)


async def test_the_door_never_blocks_for_good(autojump_clock: trio.testing.MockClock) -> None:
    # The open queries wait on something that never comes (slow clients, locks):
    # after kickup_after with no query closing, the waiter goes in anyway.
    release = trio.Event()
    async with BucketedExecutor(_config(door_limit=1, kickup_after=1.0)) as ex:

        async def holder() -> None:
            async with ex.query(name="holder") as q:
                await q.run(release.wait)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(holder)
            await trio.sleep(0.01)
            start = trio.current_time()
            async with ex.query(name="late") as q:
                await q.run(trio.sleep, 0)
            waited = trio.current_time() - start
            assert 1.0 <= waited < 1.5, waited
            release.set()
        assert ex.status()[0].door_waits == 1
        assert_idle(ex)


async def test_one_child_and_nested_queries_pass_the_door() -> None:
    async with BucketedExecutor(_config(door_limit=1)) as ex:
        inner_ran = trio.Event()

        async def nested(_: int) -> str:
            async with ex.query(name="nested") as q:
                return str(await q.run(trio.sleep, 0))

        release = trio.Event()

        async def holder() -> None:
            async with ex.query(name="holder") as q:
                assert await q.map(nested, range(2)) == ["None", "None"]
                inner_ran.set()
                await q.run(release.wait)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(holder)
            await inner_ran.wait()
            # The door is full (one top-level query open): a one-child query runs anyway.
            with trio.fail_after(5):
                assert await ex.run_one(trio.sleep, 0, name="point") is None
            assert ex.status()[0].door_waits == 0
            release.set()
        assert_idle(ex)


async def test_no_door_when_the_limit_is_zero() -> None:
    release = trio.Event()
    async with BucketedExecutor(_config(door_limit=0)) as ex:

        async def query() -> None:
            async with ex.query() as q:
                await q.run(release.wait)

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(query)
            await trio.testing.wait_all_tasks_blocked()
            assert (ex.status()[0].queries, ex.status()[0].at_door) == (10, 0)
            release.set()
        assert_idle(ex)


async def test_a_suspected_deadlock_opens_the_door(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The one open query's first child holds the only slot until a query still at the
    # door does its work; its second child queues behind it (work queued, slot busy,
    # nothing finishing: the watchdog suspects a deadlock, grows the bucket and lets
    # everyone in at the door). kickup_after is far away: aging is not what helps.
    config = _config(
        slots_per_bucket=1,
        window=2,
        door_limit=1,
        kickup_after=1000.0,
        deadlock_check_period=0.5,
    )
    done = trio.Event()
    async with BucketedExecutor(config) as ex:

        async def blocked(n: int) -> None:
            if n == 0:
                await done.wait()

        async def stuck() -> None:
            async with ex.query(name="stuck") as q:
                await q.map(blocked, range(2))

        async def rescue() -> None:
            done.set()

        async def rescuer() -> None:
            async with ex.query(name="rescuer") as q:
                await q.run(rescue)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stuck)
            await trio.sleep(0.01)
            nursery.start_soon(rescuer)
            await trio.sleep(0.01)
            assert ex.status()[0].at_door == 1
            with trio.fail_after(5):
                await done.wait()
        (row,) = ex.status()
        assert row.deadlocks_suspected >= 1 and row.door_waits == 1
        assert_idle(ex)


async def test_least_loaded_sends_new_queries_to_the_shorter_door() -> None:
    release = trio.Event()
    async with BucketedExecutor(_config(buckets=2, slots_per_bucket=1, door_limit=1)) as ex:

        async def wait(_: int) -> None:
            await release.wait()

        async def query(children: int) -> None:
            async with ex.query() as q:
                await q.map(wait, range(children))

        async with trio.open_nursery() as nursery:
            # One bucket holds a query with 4 children (load 4), the other one with 1.
            nursery.start_soon(query, 4)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(query, 1)
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(b.load for b in ex.buckets) == [1, 4]
            # Both doors are full. The first newcomer waits at the less loaded bucket's
            # door; the second at the other one's, whose load is higher but whose door
            # is empty.
            for _ in range(2):
                nursery.start_soon(query, 1)
                await trio.testing.wait_all_tasks_blocked()
            assert [b.at_door for b in ex.buckets] == [1, 1]
            release.set()
        assert_idle(ex)
