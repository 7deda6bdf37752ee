"""Per-query cost of the MySQL backend vs raw drivers, for both bridge options.

    python -m bench.driver_overhead [--quick] [--url mysql://root:@127.0.0.1:3306]

Same queries, same server, same run. Baseline: raw aiomysql on ``asyncio.run`` with one
connection. Compared:

* raw asyncmy (asyncio), raw aiomysql under trio-asyncio (``aio_as_trio`` per query)
  — what the drivers cost before any pool or bridge;
* the backend (``MySQLDataSource.fetch``: pool borrow + one statement + release) with
  the default thread-loop bridge, with the trio-asyncio bridge, and with asyncmy.

Two shapes: *sequential* (one task, latency per query: the worst case for a thread
hop, which wakes two sleeping threads per query) and *concurrent* (16 tasks / 16
connections, time per query at saturation: what a shard fan-out with window 16 sees).
Goal (issue 4): backend ≤ 1.10 × raw aiomysql.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import trio

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
    return await aiomysql.connect(host=u.host, port=u.port, user=u.user, password=u.password, autocommit=True)


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


def _per_query(elapsed: float, n: int) -> float:
    return elapsed / n * 1e6


# -- raw drivers on asyncio --------------------------------------------------------------


def raw_asyncio(url: str, driver: str, sql: str, n: int, conc: int) -> float:
    connect = _aiomysql_conn if driver == "aiomysql" else _asyncmy_conn
    query = _aiomysql_query if driver == "aiomysql" else _asyncmy_query

    async def main() -> float:
        conns = [await connect(url) for _ in range(conc)]
        for c in conns:
            for _ in range(20):
                await query(c, sql)

        async def worker(c: Any, k: int) -> None:
            for _ in range(k):
                await query(c, sql)

        start = time.perf_counter()
        await asyncio.gather(*(worker(c, n // conc) for c in conns))
        elapsed = time.perf_counter() - start
        for c in conns:
            c.close()
        return _per_query(elapsed, n // conc * conc)

    return asyncio.run(main())


def raw_trio_asyncio(url: str, sql: str, n: int, conc: int) -> float:
    import trio_asyncio

    async def main() -> float:
        async with trio_asyncio.open_loop():
            conns = [await trio_asyncio.aio_as_trio(_aiomysql_conn)(url) for _ in range(conc)]
            q = trio_asyncio.aio_as_trio(_aiomysql_query)
            for c in conns:
                for _ in range(20):
                    await q(c, sql)

            async def worker(c: Any, k: int) -> None:
                for _ in range(k):
                    await q(c, sql)

            start = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for c in conns:
                    nursery.start_soon(worker, c, n // conc)
            elapsed = time.perf_counter() - start
            for c in conns:
                c.close()
            return _per_query(elapsed, n // conc * conc)

    return trio.run(main)


# -- the backend ----------------------------------------------------------------------------


def backend(url: str, sql: str, n: int, conc: int, *, bridge: str, driver: str = "aiomysql") -> float:
    async def body() -> float:
        ds = MySQLDataSource.from_config(
            f"bench_{bridge}_{driver}", {"url": url, "bridge": bridge, "driver": driver, "max_connections": conc}
        )
        await ds.open()

        async def worker(k: int) -> None:
            for _ in range(k):
                await ds.fetch(sql)

        async with trio.open_nursery() as nursery:  # warm every pooled connection
            for _ in range(conc):
                nursery.start_soon(worker, 20)
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(conc):
                nursery.start_soon(worker, n // conc)
        elapsed = time.perf_counter() - start
        await ds.aclose()
        return _per_query(elapsed, n // conc * conc)

    async def main() -> float:
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


CASES: list[tuple[str, Callable[[str, str, int, int], float]]] = [
    ("raw aiomysql (asyncio)", lambda u, s, n, c: raw_asyncio(u, "aiomysql", s, n, c)),
    ("raw asyncmy (asyncio)", lambda u, s, n, c: raw_asyncio(u, "asyncmy", s, n, c)),
    ("raw aiomysql (trio-asyncio)", raw_trio_asyncio),
    ("backend, thread bridge", lambda u, s, n, c: backend(u, s, n, c, bridge="thread")),
    ("backend, trio-asyncio bridge", lambda u, s, n, c: backend(u, s, n, c, bridge="trio_asyncio")),
    ("backend, thread bridge, asyncmy", lambda u, s, n, c: backend(u, s, n, c, bridge="thread", driver="asyncmy")),
]


def _cell(spec: str) -> None:
    """Child process: run one cell, print its µs/query as JSON."""
    cell = json.loads(spec)
    fn = dict(CASES)[cell["case"]]
    print(json.dumps(fn(cell["url"], QUERIES[cell["query"]], cell["n"], cell["conc"])))


def _run_cell(url: str, case: str, query: str, n: int, conc: int) -> float:
    # Each cell in a fresh interpreter: trio-asyncio patches asyncio process-wide, and
    # one case's loop/threads must not tax the next case's numbers.
    spec = json.dumps({"url": url, "case": case, "query": query, "n": n, "conc": conc})
    out = subprocess.run(
        [sys.executable, "-m", "bench.driver_overhead", "--cell", spec],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cell {case}/{query} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries (smoke run)")
    parser.add_argument("--url", default="mysql://root:@127.0.0.1:3306")
    parser.add_argument("--repeat", type=int, default=None, help="repeats per cell (median kept)")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        _cell(args.cell)
        return {}
    _setup(args.url)
    repeat = args.repeat or (1 if args.quick else 3)
    sizes = {"point": 4000, "row": 4000, "chunk1000": 300}
    if args.quick:
        sizes = {k: max(CONCURRENCY * 4, v // 10) for k, v in sizes.items()}
    results: dict[str, Any] = {"goal_ratio_vs_raw_aiomysql": 1.10, "repeat": repeat, "cells": []}
    rows = []
    for shape, conc in (("sequential", 1), ("concurrent", CONCURRENCY)):
        for qname in QUERIES:
            n = sizes[qname]
            base: float | None = None
            for label, _fn in CASES:
                samples = [_run_cell(args.url, label, qname, n, conc) for _ in range(repeat)]
                us = statistics.median(samples)
                if base is None:
                    base = us
                ratio = us / base
                results["cells"].append(
                    {"shape": shape, "query": qname, "case": label, "us_per_query": us,
                     "samples": samples, "ratio": ratio, "overhead_us": us - base, "queries": n,
                     "concurrency": conc}
                )
                rows.append((shape, qname, label, us, us - base, ratio))
    print_table(
        "Per-query time vs raw aiomysql (same run, same server)",
        ["shape", "query", "case", "µs/query", "overhead µs", "ratio"],
        rows,
    )
    write_results("driver_overhead", results)
    return results


if __name__ == "__main__":
    main()
