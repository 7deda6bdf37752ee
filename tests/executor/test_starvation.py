"""Acceptance 1 and 2: parents never starve their children.

Seed 002: eight ``show stats`` parents ran on an eight-thread pool, each fanned out to
children that needed a thread of the same pool; the parents held every thread and the
pool hung. The same shape is run here on a shared ``trio.CapacityLimiter(8)`` and a
``ThreadPoolExecutor(8)`` — both hang (shown with a timeout) — and on the bucketed
executor with ``buckets=1, slots_per_bucket=8``, which completes.
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
import time

import trio
import trio.lowlevel

from executor import BucketedExecutor, ExecutorConfig
from tests.executor.helpers import all_tasks, assert_idle, leftover_tasks

PARENTS = 8
CHILDREN = 1024


async def test_shared_capacity_limiter_starves() -> None:
    limiter = trio.CapacityLimiter(8)
    done = 0

    async def child() -> None:
        nonlocal done
        async with limiter:
            await trio.lowlevel.checkpoint()
            done += 1

    async def parent() -> None:
        # The parent runs "in the pool", as in the seed: it holds a token while it waits.
        async with limiter, trio.open_nursery() as nursery:
            for _ in range(CHILDREN):
                nursery.start_soon(child)

    with trio.move_on_after(1.0) as scope:
        async with trio.open_nursery() as nursery:
            for _ in range(PARENTS):
                nursery.start_soon(parent)
    assert scope.cancelled_caught, "the naive shared limiter was expected to deadlock"
    assert done == 0


def test_thread_pool_executor_starves() -> None:
    pool = concurrent.futures.ThreadPoolExecutor(8)
    done = 0
    lock = threading.Lock()
    # The seed's situation: the eight parents occupy the pool before they fan out.
    all_parents_running = threading.Barrier(PARENTS + 1)

    def child() -> None:
        nonlocal done
        with lock:
            done += 1

    def parent() -> None:
        all_parents_running.wait(timeout=10)
        futures = [pool.submit(child) for _ in range(CHILDREN)]
        concurrent.futures.wait(futures, timeout=2.0)  # gives up; a real one hangs

    try:
        parents = [pool.submit(parent) for _ in range(PARENTS)]
        all_parents_running.wait(timeout=10)
        time.sleep(1.0)
        with lock:
            done_after_one_second = done
        for f in parents:
            f.result(timeout=10)
    finally:
        # Once the parents give up, their threads drain the queued children.
        pool.shutdown(wait=True, cancel_futures=True)
    assert done_after_one_second == 0, "the parents held every thread: no child could run"


async def test_bucketed_executor_completes_parents_in_the_pool() -> None:
    """Parents are themselves children (they hold a slot) and fan out 1024 each."""
    before = all_tasks()
    leaves = 0

    async def leaf(_: int) -> int:
        nonlocal leaves
        await trio.lowlevel.checkpoint()
        leaves += 1
        return 1

    async def parent(_: int, ex: BucketedExecutor) -> int:
        async with ex.query(name="children") as q:
            return sum(await q.map(leaf, range(CHILDREN)))

    config = ExecutorConfig(buckets=1, slots_per_bucket=8, window=16)
    with trio.fail_after(30):
        async with BucketedExecutor(config) as ex:
            async with ex.query(name="parents") as top:
                totals = await top.map(functools.partial(parent, ex=ex), range(PARENTS))
            assert_idle(ex)
    assert totals == [CHILDREN] * PARENTS
    assert leaves == PARENTS * CHILDREN
    assert leftover_tasks(before) == []


async def test_bucketed_executor_completes_concurrent_top_level_parents() -> None:
    """8 concurrent logical queries × 1024 children, parents outside the pool."""

    async def leaf(i: int) -> int:
        await trio.lowlevel.checkpoint()
        return i

    results: dict[int, list[int]] = {}

    async def parent(p: int, ex: BucketedExecutor) -> None:
        async with ex.query(name=f"p{p}") as q:
            results[p] = await q.map(leaf, range(CHILDREN))

    config = ExecutorConfig(buckets=1, slots_per_bucket=8, window=16)
    with trio.fail_after(30):
        async with BucketedExecutor(config) as ex:
            async with trio.open_nursery() as nursery:
                for p in range(PARENTS):
                    nursery.start_soon(parent, p, ex)
            assert_idle(ex)
    assert results == {p: list(range(CHILDREN)) for p in range(PARENTS)}


FANOUT = 4  # 3 levels: 4 × 4 × 4 = 64 leaves per top-level query
TOP_LEVEL = 64


def _expected_tree_sum(top: int) -> int:
    return sum(
        top * 100 + a * 16 + b * 4 + c
        for a in range(FANOUT)
        for b in range(FANOUT)
        for c in range(FANOUT)
    )


async def test_nested_fanout_three_levels_async() -> None:
    before = all_tasks()

    async def level(path: tuple[int, ...], ex: BucketedExecutor) -> int:
        if len(path) == 4:
            await trio.sleep(0.001)
            top, a, b, c = path
            return top * 100 + a * 16 + b * 4 + c
        async with ex.query(name=f"level{len(path)}") as q:
            return sum(
                await q.map(functools.partial(level, ex=ex), [(*path, i) for i in range(FANOUT)])
            )

    config = ExecutorConfig(buckets=2, slots_per_bucket=2, window=4)
    sums: dict[int, int] = {}

    async def top_level(t: int, ex: BucketedExecutor) -> None:
        async with ex.query(name=f"top{t}") as q:
            sums[t] = sum(
                await q.map(functools.partial(level, ex=ex), [(t, i) for i in range(FANOUT)])
            )

    with trio.fail_after(60):
        async with BucketedExecutor(config) as ex:
            async with trio.open_nursery() as nursery:
                for t in range(TOP_LEVEL):
                    nursery.start_soon(top_level, t, ex)
            assert_idle(ex)
            assert sum(r.completed for r in ex.status()) == TOP_LEVEL * (4 + 16 + 64)
    assert sums == {t: _expected_tree_sum(t) for t in range(TOP_LEVEL)}
    assert leftover_tasks(before) == []


async def test_nested_fanout_three_levels_sync_children_in_threads() -> None:
    """Every level is a plain function in a worker thread; inner levels reach back into
    trio with ``trio.from_thread.run`` to open their nested query."""
    in_threads = 0
    lock = threading.Lock()

    def level(path: tuple[int, ...], ex: BucketedExecutor) -> int:
        nonlocal in_threads
        with lock:
            in_threads += 1
        try:
            if len(path) == 4:
                time.sleep(0.0005)
                top, a, b, c = path
                return top * 100 + a * 16 + b * 4 + c

            async def nested() -> int:
                async with ex.query(name=f"level{len(path)}") as q:
                    items = [(*path, i) for i in range(FANOUT)]
                    return sum(await q.map(functools.partial(level, ex=ex), items))

            return trio.from_thread.run(nested)
        finally:
            with lock:
                in_threads -= 1

    config = ExecutorConfig(buckets=2, slots_per_bucket=2, window=4)
    sums: dict[int, int] = {}

    async def top_level(t: int, ex: BucketedExecutor) -> None:
        async with ex.query(name=f"top{t}") as q:
            sums[t] = sum(
                await q.map(functools.partial(level, ex=ex), [(t, i) for i in range(FANOUT)])
            )

    with trio.fail_after(120):
        async with BucketedExecutor(config) as ex:
            async with trio.open_nursery() as nursery:
                for t in range(TOP_LEVEL):
                    nursery.start_soon(top_level, t, ex)
            assert_idle(ex)
    assert sums == {t: _expected_tree_sum(t) for t in range(TOP_LEVEL)}
    assert in_threads == 0
