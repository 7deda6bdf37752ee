"""Deadlock-safe bucketed executor for fan-out work on trio.

The pool is ``buckets × slots_per_bucket`` slots. A logical query is pinned to one
bucket; its children (async functions as trio tasks, plain functions in worker threads)
each hold one slot while they run, at most ``window`` of them submitted at once. Parents
hold no slot; a child that opens a nested query lends its slot while it waits. High and
low priority queues with kick-up, stall-based oversubscription and a deadlock watchdog
follow MariaDB's thread pool (seed 004) and the bucketed pool of seed 002.

    async with BucketedExecutor(ExecutorConfig(buckets=8, slots_per_bucket=16)) as ex:
        async with ex.query(name="q1") as q:
            rows = await q.map(fetch_shard, shards)

This package knows nothing of SQL or drivers.
"""

import executor._structlog_import  # noqa: F401  # first: the first import of structlog (see there)
from executor.config import ExecutorConfig
from executor.errors import (
    ChildFailed,
    ChildIdentity,
    DeadlockSuspected,
    ExecutorClosed,
    ExecutorError,
    QueryCancelled,
)
from executor.executor import BucketedExecutor, ExecutorStatistics
from executor.log import configure_logging
from executor.query import AsCompleted, Query, unwrap_group
from executor.slot import slot_released
from executor.status import BucketStatus, ChildInfo, QueryInfo

__all__ = [
    "AsCompleted",
    "BucketStatus",
    "BucketedExecutor",
    "ChildFailed",
    "ChildIdentity",
    "ChildInfo",
    "DeadlockSuspected",
    "ExecutorClosed",
    "ExecutorConfig",
    "ExecutorError",
    "ExecutorStatistics",
    "Query",
    "QueryCancelled",
    "QueryInfo",
    "configure_logging",
    "slot_released",
    "unwrap_group",
]
