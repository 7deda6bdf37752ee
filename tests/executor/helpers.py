"""Assertions shared by the executor tests: the executor is idle and nothing is left."""

from __future__ import annotations

import trio

from executor import BucketedExecutor

GAUGES = (
    "active",
    "waiting",
    "queued_high",
    "queued_low",
    "stalled",
    "oversubscribed",
    "queries",
    "at_door",
)


def assert_idle(ex: BucketedExecutor) -> None:
    """Every gauge of every bucket is back to zero and no query is registered."""
    for row in ex.status():
        nonzero = {g: getattr(row, g) for g in GAUGES if getattr(row, g) != 0}
        assert not nonzero, f"bucket {row.bucket} not idle: {nonzero}"
    for bucket in ex.buckets:
        assert not bucket.running and not bucket.waiting_set
        assert bucket.reserved == 0, f"bucket {bucket.index} still owes {bucket.reserved} slot(s)"
        assert len(bucket.high) == 0 and len(bucket.low) == 0
        assert bucket.open_top_level == 0, f"bucket {bucket.index} door count leaked"
    assert ex.queries() == []


def all_tasks() -> set[trio.lowlevel.Task]:
    tasks: set[trio.lowlevel.Task] = set()

    def walk(task: trio.lowlevel.Task) -> None:
        tasks.add(task)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child)

    walk(trio.lowlevel.current_root_task())
    return tasks


def leftover_tasks(before: set[trio.lowlevel.Task]) -> list[str]:
    return sorted(t.name for t in all_tasks() - before)
