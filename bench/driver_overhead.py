"""Per-query cost of the MySQL backend vs raw drivers, for both bridge options.

    python -m bench.driver_overhead [--quick] [--repeat 5] [--url mysql://root:@127.0.0.1:3306]

Same queries, same server, same run. Baseline: raw aiomysql on ``asyncio.run`` with one
connection. Compared:

* raw asyncmy (asyncio), raw aiomysql under trio-asyncio (``aio_as_trio`` per query)
  — what the drivers cost before any pool or bridge;
* the bare hop, no pool: ``ThreadLoopBridge.run`` around the same aiomysql call
  (two thread wake-ups per query), and trio as a *guest* on an asyncio host loop (the
  call goes to the host loop without a thread hop; the completion comes back through
  trio's I/O thread) — what each way of reaching asyncio from trio costs by itself;
* the backend (``MySQLDataSource.fetch``: pool borrow + one statement + release) with
  the default thread-loop bridge (also with ``sys.setswitchinterval(0.001)``), with the
  trio-asyncio bridge, and with asyncmy;
* the trio-native connection (:mod:`sharding.backend.native`) raw on trio, and the
  backend with ``driver = "native"`` (no bridge at all).

Two shapes: *sequential* (one task, latency per query: the worst case for a thread
hop) and *concurrent* (16 tasks / 16 connections, time per query at saturation: what a
shard fan-out with window 16 sees). Each cell runs in a fresh interpreter and reports
wall time and CPU time (user + system, both threads) per query; cases are interleaved
within each repeat so a busy neighbour on the machine taxes all of them alike. Goal
(issue 4): backend ≤ 1.10 × raw aiomysql.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import trio

from bench.args import positive_int
from bench.common import print_table, write_results
from sharding.backend.mysql import MySQLDataSource
from sharding.backend.url import parse_mysql_url

QUERIES = {
    "point": "SELECT 1",
    "row": "SELECT id, v, name FROM sgbench.t WHERE id = 17",
    "chunk1000": "SELECT id, v, name FROM sgbench.t ORDER BY id LIMIT 1000",
}
CONCURRENCY = 16


async def _aiomysql_conn(url: str) -> Any:
    import aiomysql

    u = parse_mysql_url(url)
    return await aiomysql.connect(
        host=u.host, port=u.port, user=u.user, password=u.password, autocommit=True
    )


async def _asyncmy_conn(url: str) -> Any:
    from asyncmy.connection import Connection

    u = parse_mysql_url(url)
    conn = Connection(host=u.host, port=u.port, user=u.user, password=u.password, autocommit=True)
    await conn.connect()
    return conn


async def _aiomysql_query(conn: Any, sql: str) -> Any:
    async with conn.cursor() as cur:
        await cur.execute(sql)
        return cur.description, cur.fetchall()


async def _asyncmy_query(conn: Any, sql: str) -> Any:
    async with conn.cursor() as cur:
        await cur.execute(sql)
        return cur.description, await cur.fetchall()


Cost = tuple[float, float]  # (wall µs per query, CPU µs per query)


class _Timer:
    """Wall and CPU (user + system, every thread of the process) of a timed section."""

    def __enter__(self) -> _Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def per(self, n: int) -> Cost:
        return self.wall / n * 1e6, self.cpu / n * 1e6


# -- raw drivers on asyncio --------------------------------------------------------------


def raw_asyncio(url: str, driver: str, sql: str, n: int, conc: int) -> Cost:
    connect = _aiomysql_conn if driver == "aiomysql" else _asyncmy_conn
    query = _aiomysql_query if driver == "aiomysql" else _asyncmy_query

    async def main() -> Cost:
        conns = [await connect(url) for _ in range(conc)]
        for c in conns:
            for _ in range(20):
                await query(c, sql)

        async def worker(c: Any, k: int) -> None:
            for _ in range(k):
                await query(c, sql)

        with _Timer() as t:
            await asyncio.gather(*(worker(c, n // conc) for c in conns))
        for c in conns:
            c.close()
        return t.per(n // conc * conc)

    return asyncio.run(main())


def raw_trio_asyncio(url: str, sql: str, n: int, conc: int) -> Cost:
    import trio_asyncio

    async def main() -> Cost:
        async with trio_asyncio.open_loop():
            conns = [await trio_asyncio.aio_as_trio(_aiomysql_conn)(url) for _ in range(conc)]
            q = trio_asyncio.aio_as_trio(_aiomysql_query)
            for c in conns:
                for _ in range(20):
                    await q(c, sql)

            async def worker(c: Any, k: int) -> None:
                for _ in range(k):
                    await q(c, sql)

            with _Timer() as t:
                async with trio.open_nursery() as nursery:
                    for c in conns:
                        nursery.start_soon(worker, c, n // conc)
            for c in conns:
                c.close()
            return t.per(n // conc * conc)

    return trio.run(main)


def raw_native(url: str, sql: str, n: int, conc: int) -> Cost:
    """The trio-native connection (:mod:`sharding.backend.native`) on plain trio."""
    from sharding.backend.native import NativeConnection, NativeConnector

    u = parse_mysql_url(url)

    async def main() -> Cost:
        connector = NativeConnector(host=u.host, port=u.port, user=u.user, password=u.password)
        conns = [await connector.connect() for _ in range(conc)]

        async def worker(c: NativeConnection, k: int) -> None:
            for _ in range(k):
                await c.query(sql)

        async with trio.open_nursery() as nursery:
            for c in conns:
                nursery.start_soon(worker, c, 20)
        with _Timer() as t:
            async with trio.open_nursery() as nursery:
                for c in conns:
                    nursery.start_soon(worker, c, n // conc)
        for c in conns:
            await c.aclose()
        return t.per(n // conc * conc)

    return trio.run(main)


# -- the bare hop (no pool) -----------------------------------------------------------------


def bare_thread_bridge(url: str, sql: str, n: int, conc: int) -> Cost:
    from sharding.backend.bridge import ThreadLoopBridge

    bridge = ThreadLoopBridge("bench-bridge")

    async def main() -> Cost:
        conns = [await bridge.run(_aiomysql_conn, url) for _ in range(conc)]

        async def worker(c: Any, k: int) -> None:
            for _ in range(k):
                await bridge.run(_aiomysql_query, c, sql)

        async with trio.open_nursery() as nursery:
            for c in conns:
                nursery.start_soon(worker, c, 20)
        with _Timer() as t:
            async with trio.open_nursery() as nursery:
                for c in conns:
                    nursery.start_soon(worker, c, n // conc)
        for c in conns:
            bridge.call_soon(c.close)
        return t.per(n // conc * conc)

    try:
        return trio.run(main)
    finally:
        bridge.close()


def bare_guest_mode(url: str, sql: str, n: int, conc: int) -> Cost:
    """trio as a guest of an asyncio host loop; driver calls go to the host loop with a
    plain ``call_soon`` (same thread); completions come back with ``run_sync_soon``."""
    import outcome

    async def host() -> Cost:
        loop = asyncio.get_running_loop()
        conns = [await _aiomysql_conn(url) for _ in range(conc)]

        async def call(fn: Any, *args: Any) -> Any:
            task = trio.lowlevel.current_task()
            token = trio.lowlevel.current_trio_token()

            def start() -> None:
                atask = loop.create_task(fn(*args))
                atask.add_done_callback(
                    lambda a: token.run_sync_soon(
                        trio.lowlevel.reschedule, task, outcome.capture(a.result)
                    )
                )

            loop.call_soon(start)
            return await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)

        async def guest() -> Cost:
            async def worker(c: Any, k: int) -> None:
                for _ in range(k):
                    await call(_aiomysql_query, c, sql)

            async with trio.open_nursery() as nursery:
                for c in conns:
                    nursery.start_soon(worker, c, 20)
            with _Timer() as t:
                async with trio.open_nursery() as nursery:
                    for c in conns:
                        nursery.start_soon(worker, c, n // conc)
            return t.per(n // conc * conc)

        done: asyncio.Future[Any] = loop.create_future()
        trio.lowlevel.start_guest_run(
            guest,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=done.set_result,
            host_uses_signal_set_wakeup_fd=False,
        )
        result: Cost = (await done).unwrap()
        for c in conns:
            c.close()
        return result

    return asyncio.run(host())


# -- the backend ----------------------------------------------------------------------------


def backend(
    url: str,
    sql: str,
    n: int,
    conc: int,
    *,
    bridge: str,
    driver: str = "aiomysql",
    switchinterval: float | None = None,
) -> Cost:
    if switchinterval is not None:
        sys.setswitchinterval(switchinterval)

    async def body() -> Cost:
        ds = MySQLDataSource.from_config(
            f"bench_{bridge}_{driver}",
            {"url": url, "bridge": bridge, "driver": driver, "max_connections": conc},
        )
        await ds.open()

        async def worker(k: int) -> None:
            for _ in range(k):
                await ds.fetch(sql)

        async with trio.open_nursery() as nursery:  # warm every pooled connection
            for _ in range(conc):
                nursery.start_soon(worker, 20)
        with _Timer() as t:
            async with trio.open_nursery() as nursery:
                for _ in range(conc):
                    nursery.start_soon(worker, n // conc)
        await ds.aclose()
        return t.per(n // conc * conc)

    async def main() -> Cost:
        if bridge == "trio_asyncio":
            import trio_asyncio

            async with trio_asyncio.open_loop():
                return await body()
        return await body()

    return trio.run(main)


def _setup(url: str) -> None:
    async def main() -> None:
        ds = MySQLDataSource.from_config("bench_setup", {"url": url})
        await ds.open()
        await ds.ensure_database("sgbench")
        await ds.execute(
            "CREATE TABLE IF NOT EXISTS sgbench.t (id INT PRIMARY KEY, v BIGINT, name VARCHAR(40)) ENGINE=InnoDB"
        )
        if (await ds.fetch("SELECT COUNT(*) FROM sgbench.t")).rows[0][0] < 1000:
            await ds.execute(
                "INSERT IGNORE INTO sgbench.t SELECT seq, seq * 7, CONCAT('name-', seq) FROM sgbench.seq_1_to_1000"
            )
        await ds.aclose()

    trio.run(main)


CASES: list[tuple[str, Callable[[str, str, int, int], Cost]]] = [
    ("raw aiomysql (asyncio)", lambda u, s, n, c: raw_asyncio(u, "aiomysql", s, n, c)),
    ("raw asyncmy (asyncio)", lambda u, s, n, c: raw_asyncio(u, "asyncmy", s, n, c)),
    ("raw aiomysql (trio-asyncio)", raw_trio_asyncio),
    ("raw native (trio)", raw_native),
    ("bare thread-bridge hop (no pool)", bare_thread_bridge),
    ("bare trio guest on asyncio (no pool)", bare_guest_mode),
    ("backend, thread bridge", lambda u, s, n, c: backend(u, s, n, c, bridge="thread")),
    (
        "backend, thread bridge, switchinterval 1ms",
        lambda u, s, n, c: backend(u, s, n, c, bridge="thread", switchinterval=0.001),
    ),
    ("backend, trio-asyncio bridge", lambda u, s, n, c: backend(u, s, n, c, bridge="trio_asyncio")),
    (
        "backend, thread bridge, asyncmy",
        lambda u, s, n, c: backend(u, s, n, c, bridge="thread", driver="asyncmy"),
    ),
    # driver = "native": no bridge at all (the bridge option is ignored).
    ("backend, native", lambda u, s, n, c: backend(u, s, n, c, bridge="thread", driver="native")),
]


def _cell(spec: str) -> None:
    """Child process: run one cell, print its (wall, CPU) µs/query as JSON."""
    cell = json.loads(spec)
    fn = dict(CASES)[cell["case"]]
    print(json.dumps(fn(cell["url"], QUERIES[cell["query"]], cell["n"], cell["conc"])))


def _run_cell(url: str, case: str, query: str, n: int, conc: int) -> Cost:
    # Each cell in a fresh interpreter: trio-asyncio patches asyncio process-wide, and
    # one case's loop/threads must not tax the next case's numbers.
    spec = json.dumps({"url": url, "case": case, "query": query, "n": n, "conc": conc})
    out = subprocess.run(
        [sys.executable, "-m", "bench.driver_overhead", "--cell", spec],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cell {case}/{query} failed:\n{out.stderr[-2000:]}")
    wall, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return float(wall), float(cpu)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries (smoke run)")
    parser.add_argument("--url", default="mysql://root:@127.0.0.1:3306")
    parser.add_argument(
        "--repeat", type=positive_int, default=None, help="repeats per cell (median kept)"
    )
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        _cell(args.cell)
        return {}
    _setup(args.url)
    repeat = args.repeat or (1 if args.quick else 5)
    sizes = {"point": 4000, "row": 4000, "chunk1000": 300}
    if args.quick:
        sizes = {k: max(CONCURRENCY * 4, v // 10) for k, v in sizes.items()}
    results: dict[str, Any] = {
        "goal_ratio_vs_raw_aiomysql": 1.10,
        "repeat": repeat,
        "load_average": os.getloadavg(),
        "cells": [],
    }
    rows = []
    for shape, conc in (("sequential", 1), ("concurrent", CONCURRENCY)):
        for qname in QUERIES:
            n = sizes[qname]
            samples: dict[str, list[Cost]] = {label: [] for label, _ in CASES}
            for _ in range(repeat):  # interleaved: every case once per round
                for label, _fn in CASES:
                    samples[label].append(_run_cell(args.url, label, qname, n, conc))
            base_wall = statistics.median(w for w, _ in samples[CASES[0][0]])
            base_cpu = statistics.median(c for _, c in samples[CASES[0][0]])
            for label, _fn in CASES:
                wall = statistics.median(w for w, _ in samples[label])
                cpu = statistics.median(c for _, c in samples[label])
                results["cells"].append(
                    {
                        "shape": shape,
                        "query": qname,
                        "case": label,
                        "us_per_query": wall,
                        "cpu_us_per_query": cpu,
                        "samples": samples[label],
                        "ratio": wall / base_wall,
                        "cpu_ratio": cpu / base_cpu,
                        "overhead_us": wall - base_wall,
                        "queries": n,
                        "concurrency": conc,
                    }
                )
                rows.append((shape, qname, label, wall, wall / base_wall, cpu, cpu / base_cpu))
    print_table(
        "Per-query time vs raw aiomysql (same run, same server)",
        ["shape", "query", "case", "wall µs", "× raw", "CPU µs", "CPU × raw"],
        rows,
    )
    write_results("driver_overhead_quick" if args.quick else "driver_overhead", results)
    return results


if __name__ == "__main__":
    main()
