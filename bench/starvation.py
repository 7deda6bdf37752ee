"""Nested fan-out on naive pools vs the bucketed executor: who completes, how fast.

The workload is seed 002's: a request handler running *in the pool* fans out to
children that need the same pool, nested ``depth`` levels deep, ``concurrency``
requests at once, on a pool of ``slots`` workers. Three pools run it:

* ``trio.CapacityLimiter(slots)`` shared by parents and children (a parent holds its
  token while it waits — the common mistake);
* ``concurrent.futures.ThreadPoolExecutor(slots)`` (parents block a thread in
  ``wait()``);
* ``BucketedExecutor(buckets=1, slots_per_bucket=slots)`` (parents lend their slot).

Each cell runs until every leaf finished or ``--timeout`` passed, and records the share
of leaves completed and the time. A naive pool that deadlocks shows a completion rate
below 100 % at the timeout; it is then unwound (leaves check a "give up" flag), so the
run never hangs.

    python -m bench.starvation [--quick] [--timeout 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import threading
import time

import trio

from bench.common import print_table, publish
from executor import BucketedExecutor, ExecutorConfig

FANOUT = 4


def leaves_of(depth: int, concurrency: int) -> int:
    return concurrency * FANOUT**depth


# --------------------------------------------------------------- naive trio limiter
async def run_limiter(depth: int, concurrency: int, slots: int, give_up_after: float) -> int:
    limiter = trio.CapacityLimiter(slots)
    done = 0

    async def node(level: int) -> None:
        nonlocal done
        async with limiter:  # held while waiting for the children below
            if level == depth:
                await trio.lowlevel.checkpoint()
                done += 1
                return
            async with trio.open_nursery() as nursery:
                for _ in range(FANOUT):
                    nursery.start_soon(node, level + 1)

    with trio.move_on_after(give_up_after):
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(node, 0)
    return done


# ------------------------------------------------------------ naive thread pool
def run_thread_pool(depth: int, concurrency: int, slots: int, timeout: float) -> int:
    pool = concurrent.futures.ThreadPoolExecutor(slots)
    # Parents wait a little past the deadline, so the count taken at the deadline is
    # not inflated by children that run only because their parents gave up.
    parents_give_up_at = time.monotonic() + timeout + 0.5
    give_up = threading.Event()
    done = 0
    lock = threading.Lock()

    def node(level: int) -> None:
        nonlocal done
        if give_up.is_set():
            return
        if level == depth:
            with lock:
                done += 1
            return
        futures = [pool.submit(node, level + 1) for _ in range(FANOUT)]
        concurrent.futures.wait(futures, timeout=max(0.0, parents_give_up_at - time.monotonic()))

    try:
        roots = [pool.submit(node, 0) for _ in range(concurrency)]
        concurrent.futures.wait(roots, timeout=timeout)
        with lock:
            finished = done
    finally:
        give_up.set()
        pool.shutdown(wait=True, cancel_futures=True)
    return finished


# -------------------------------------------------------------------------- ours
async def run_ours(depth: int, concurrency: int, slots: int, give_up_after: float) -> int:
    done = 0

    async def node(level: int, ex: BucketedExecutor) -> None:
        nonlocal done
        if level == depth:
            await trio.lowlevel.checkpoint()
            done += 1
            return
        async with ex.query(name=f"level{level}") as q:
            await q.map(functools.partial(node, ex=ex), [level + 1] * FANOUT)

    config = ExecutorConfig(buckets=1, slots_per_bucket=slots, window=FANOUT)
    async with BucketedExecutor(config) as ex:
        with trio.move_on_after(give_up_after):

            async def request() -> None:
                async with ex.query(name="request") as q:
                    await q.run(node, 0, ex)  # the handler itself runs in the pool

            async with trio.open_nursery() as nursery:
                for _ in range(concurrency):
                    nursery.start_soon(request)
    return done


def cell(pool: str, depth: int, concurrency: int, slots: int, timeout: float) -> dict[str, object]:
    start = time.perf_counter()
    done: int
    if pool == "trio.CapacityLimiter":
        done = trio.run(run_limiter, depth, concurrency, slots, timeout)
    elif pool == "ThreadPoolExecutor":
        done = run_thread_pool(depth, concurrency, slots, timeout)
    else:
        done = trio.run(run_ours, depth, concurrency, slots, timeout)
    total = leaves_of(depth, concurrency)
    elapsed = time.perf_counter() - start if done == total else timeout
    return {
        "pool": pool,
        "depth": depth,
        "concurrency": concurrency,
        "slots": slots,
        "leaves": total,
        "completed": done,
        "completion": round(done / total, 4),
        "seconds": round(elapsed, 4),
        "hung": done < total,
    }


POOLS = ("trio.CapacityLimiter", "ThreadPoolExecutor", "BucketedExecutor")


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--timeout", type=float, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        matrix = [(1, 8, 8), (2, 8, 4), (3, 16, 2)]
        timeout = args.timeout or 1.0
    else:
        matrix = [
            (depth, concurrency, slots)
            for depth in (1, 2, 3)
            for concurrency in (2, 8, 32)
            for slots in (2, 8)
        ]
        timeout = args.timeout or 3.0
    rows = [cell(pool, *shape, timeout) for shape in matrix for pool in POOLS]
    print_table(
        f"nested fan-out ({FANOUT} children per node), timeout {timeout}s",
        ["pool", "depth", "concurrency", "slots", "leaves", "completion", "seconds"],
        [
            (
                r["pool"],
                r["depth"],
                r["concurrency"],
                r["slots"],
                r["leaves"],
                f"{r['completion']:.0%}",
                r["seconds"],
            )
            for r in rows
        ],
    )
    summary = {
        pool: {
            "cells": sum(1 for r in rows if r["pool"] == pool),
            "completed_cells": sum(1 for r in rows if r["pool"] == pool and not r["hung"]),
        }
        for pool in POOLS
    }
    for pool, s in summary.items():
        print(f"{pool:22} completed {s['completed_cells']}/{s['cells']} cells")
    name = "starvation" + ("_quick" if args.quick else "")
    data: dict[str, object] = {
        "timeout": timeout,
        "fanout": FANOUT,
        "rows": rows,
        "summary": summary,
    }

    def draw(ax: object) -> None:
        labels = [f"d{d} c{c} s{s}" for d, c, s in matrix]
        width = 0.27
        for k, pool in enumerate(POOLS):
            values = [r["completion"] for r in rows if r["pool"] == pool]
            ax.bar([i + (k - 1) * width for i in range(len(matrix))], values, width, label=pool)  # type: ignore[attr-defined]
        ax.set_xticks(range(len(matrix)), labels, rotation=60, fontsize=7)  # type: ignore[attr-defined]
        ax.set_ylabel(f"leaves completed within {timeout}s")  # type: ignore[attr-defined]
        ax.set_title("nested fan-out: depth (d) × concurrent requests (c) × slots (s)")  # type: ignore[attr-defined]
        ax.set_ylim(0, 1.25)  # type: ignore[attr-defined]
        ax.legend(fontsize=8, loc="upper center", ncol=3)  # type: ignore[attr-defined]

    return publish(name, data, draw)


if __name__ == "__main__":
    main()
