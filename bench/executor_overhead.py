"""Per-child overhead of the bucketed executor vs a bare trio nursery (same run).

For N no-op children (default 1024) it times:

* **baseline** — a bare ``trio`` nursery that starts one task per item and stores its
  result (the least any fan-out on trio can cost);
* **ours** — ``async with ex.query(): await q.map(fn, items)``, including opening and
  closing the query, with the default window (16) and with ``window=N`` (same
  parallelism as the nursery);
* the same for **sync** children: ``trio.to_thread.run_sync`` under a
  ``CapacityLimiter(16)`` vs ours with 16 slots.

Reports the median per-child time, the overhead per child (ours − baseline) and the
ratio. Goal (executor issue): ≤ 30 µs overhead per async child.

    python -m bench.executor_overhead [--children 1024] [--repeat 30] [--quick]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Awaitable, Callable

import trio

from bench.common import print_table, write_results
from executor import BucketedExecutor, ExecutorConfig

GOAL_US = 30.0


async def noop(i: int) -> int:
    return i


def sync_noop(i: int) -> int:
    return i


async def timed(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    await fn()  # warm-up
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - start)
    return out


async def measure(children: int, repeat: int) -> list[dict[str, object]]:
    items = range(children)
    rows: list[dict[str, object]] = []

    async def bare_nursery() -> None:
        results = [0] * children

        async def one(i: int) -> None:
            results[i] = await noop(i)

        async with trio.open_nursery() as nursery:
            for i in items:
                nursery.start_soon(one, i)

    limiter = trio.CapacityLimiter(16)

    async def bare_threads() -> None:
        results = [0] * children

        async def one(i: int) -> None:
            results[i] = await trio.to_thread.run_sync(sync_noop, i, limiter=limiter)

        async with trio.open_nursery() as nursery:
            for i in items:
                nursery.start_soon(one, i)

    base_async = await timed(bare_nursery, repeat)
    base_sync = await timed(bare_threads, max(3, repeat // 5))

    for window in (16, children):
        config = ExecutorConfig(buckets=8, slots_per_bucket=16, window=window)
        async with BucketedExecutor(config) as ex:

            async def ours(ex: BucketedExecutor = ex) -> None:
                async with ex.query(name="bench") as q:
                    await q.map(noop, items)

            rows.append(
                _row(f"async, window={window}", children, base_async, await timed(ours, repeat))
            )

    async with BucketedExecutor(ExecutorConfig(buckets=8, slots_per_bucket=16, window=16)) as ex:

        async def ours_sync() -> None:
            async with ex.query(name="bench-sync") as q:
                await q.map(sync_noop, items)

        rows.append(
            _row(
                "sync (threads), 16 slots",
                children,
                base_sync,
                await timed(ours_sync, max(3, repeat // 5)),
            )
        )
    return rows


def _row(name: str, children: int, base: list[float], ours: list[float]) -> dict[str, object]:
    b = statistics.median(base) / children * 1e6
    o = statistics.median(ours) / children * 1e6
    return {
        "case": name,
        "children": children,
        "baseline_us_per_child": round(b, 3),
        "ours_us_per_child": round(o, 3),
        "overhead_us_per_child": round(o - b, 3),
        "ratio": round(o / b, 3) if b else math.nan,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--children", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else args.repeat
    rows = trio.run(measure, args.children, repeat)
    print_table(
        f"executor overhead: {args.children} no-op children (median of {repeat})",
        ["case", "baseline µs/child", "ours µs/child", "overhead µs/child", "ratio"],
        [
            (
                r["case"],
                r["baseline_us_per_child"],
                r["ours_us_per_child"],
                r["overhead_us_per_child"],
                r["ratio"],
            )
            for r in rows
        ],
    )
    async_overhead = max(
        float(r["overhead_us_per_child"]) for r in rows if str(r["case"]).startswith("async")
    )  # type: ignore[arg-type]
    verdict = "met" if async_overhead <= GOAL_US else "NOT met"
    print(
        f"goal ≤ {GOAL_US:.0f} µs overhead per async child: {verdict} (worst {async_overhead:.1f} µs)"
    )
    data: dict[str, object] = {
        "goal_us_per_child": GOAL_US,
        "goal_met": async_overhead <= GOAL_US,
        "baseline": "bare trio nursery (async) / trio.to_thread.run_sync + CapacityLimiter(16) (sync)",
        "rows": rows,
    }
    write_results("executor_overhead" + ("_quick" if args.quick else ""), data)
    return data


if __name__ == "__main__":
    main()
