"""Middleware-style fan-out through the bucketed executor.

A "search" request fans out to every region, and each region fans out to its shards —
nested fan-out, as a sharding proxy does for a scatter query over several clusters. The
backends are simulated with random latency; a few shards are pathologically slow (they
stall), which shows oversubscription in the status table. Many requests run at once,
more than there are slots, and none of them can starve another's children.

    python examples/fanout.py [--requests 40] [--regions 4] [--shards 16]

Prints the executor's ``status()`` (one row per bucket, like MariaDB's
``THREAD_POOL_STATUS``) twice a second while it runs, then a summary.
"""

from __future__ import annotations

import argparse
import functools
import random
import time

import trio
from rich.console import Console
from rich.table import Table

from executor import BucketedExecutor, ExecutorConfig, configure_logging

console = Console(width=120)


async def query_shard(shard: int, rng: random.Random) -> int:
    """One backend call: usually a few ms, sometimes (1 in 50) half a second."""
    await trio.sleep(0.5 if rng.random() < 0.02 else rng.uniform(0.002, 0.02))
    return shard % 7  # "rows found"


async def query_region(region: int, ex: BucketedExecutor, shards: int, rng: random.Random) -> int:
    # A child that fans out again: it lends its slot while its own children run.
    async with ex.query(name=f"region-{region}") as q:
        hits = await q.map(functools.partial(query_shard, rng=rng), range(shards))
    return sum(hits)


async def search(
    request: int, ex: BucketedExecutor, regions: int, shards: int, rng: random.Random
) -> tuple[int, float]:
    start = trio.current_time()
    async with ex.query(name=f"search-{request}", session=request) as q:
        per_region = await q.map(
            functools.partial(query_region, ex=ex, shards=shards, rng=rng), range(regions)
        )
    return sum(per_region), trio.current_time() - start


def status_table(ex: BucketedExecutor, elapsed: float) -> Table:
    table = Table(title=f"executor status at {elapsed:5.2f}s")
    columns = [
        "bucket",
        "active",
        "waiting",
        "queued_high",
        "queued_low",
        "stalled",
        "oversubscribed",
        "completed",
        "queries",
    ]
    for column in columns:
        table.add_column(column, justify="right")
    for row in ex.status():
        table.add_row(*(str(getattr(row, c)) for c in columns))
    return table


async def main(requests: int, regions: int, shards: int, seed: int) -> None:
    rng = random.Random(seed)
    config = ExecutorConfig(
        buckets=4, slots_per_bucket=8, window=8, stall_limit=0.1, oversubscribe=2
    )
    latencies: list[float] = []
    started = time.perf_counter()
    async with BucketedExecutor(config) as ex:
        async with trio.open_nursery() as monitor:

            async def show() -> None:
                while True:
                    console.print(status_table(ex, time.perf_counter() - started))
                    await trio.sleep(0.5)

            monitor.start_soon(show)
            async with trio.open_nursery() as nursery:
                for request in range(requests):

                    async def one(request: int = request) -> None:
                        _, latency = await search(request, ex, regions, shards, rng)
                        latencies.append(latency)

                    nursery.start_soon(one)
            monitor.cancel_scope.cancel()
        console.print(status_table(ex, time.perf_counter() - started))
        stats = ex.statistics()
    latencies.sort()
    console.print(
        f"{requests} requests × {regions} regions × {shards} shards = "
        f"{requests * regions * shards} backend calls on {config.total_slots} slots in "
        f"{time.perf_counter() - started:.2f}s; request latency p50 "
        f"{latencies[len(latencies) // 2] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; "
        f"children completed {stats.completed}, all gauges back to zero: "
        f"{stats.active == stats.waiting == stats.queued == stats.queries == 0}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    configure_logging()
    trio.run(main, args.requests, args.regions, args.shards, args.seed)
