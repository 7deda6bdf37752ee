"""Top-10 over 1024 shards: shardgate vs the ways people do it by hand (issue 4, acc. 5).

    python -m bench.scatter [--quick] [--shards 1024] [--rows 100] [--repeat 10] [--rounds 3]

One logical table ``t (id INT PRIMARY KEY, x INT, pad VARCHAR(24), KEY (x))`` split
``mod`` on ``id`` over ``--shards`` databases on the local MariaDB (``--rows`` rows per
shard, loaded once and reused: a marker row records what is loaded). The query is
``SELECT id, x FROM t ORDER BY x LIMIT 10``; every method sends each shard
``SELECT id, x FROM <shard>.t ORDER BY x, id LIMIT 10`` and must find the same ten rows.

Methods, all measured in the same run:

* **mariadb CLI** (the baseline): one ``mariadb`` process running the 1024 statements
  as one batch (``-B`` from a file), process start included — no merge;
* **PyMySQL + ThreadPoolExecutor** (16 threads, 16 connections opened beforehand),
  merge with ``heapq``;
* **asyncio.gather + aiomysql** (16 connections), merge with ``heapq``;
* **SQLAlchemy horizontal_shard** (``ShardedSession``, one engine whose
  ``schema_translate_map`` names each shard): it runs the shards one after another;
* **shardgate embedded** (``Coordinator.execute``), with the default batching and
  with variants: no batching (one statement per shard), and 1 / 2 / 8 UNION ALL
  statements per data source instead of the default 4;
* **shardgate serve + PyMySQL**: the same query through the MySQL protocol.

Each method runs in its own interpreter (no method's threads or loops tax another),
``--rounds`` times in rotation, ``--repeat`` timed queries each after warm-up; the
table reports the median and p90 over all samples and the ratio of the medians to the
CLI's. Goal (issue 4): shardgate ≤ 1.5 × the CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.args import positive_int
from bench.common import print_table, save_plot, write_results
from bench.serve import (
    MARIADB_HOST,
    MARIADB_PORT,
    MARIADB_URL,
    BenchSetupError,
    db_name,
    drop_sharded,
    mariadb,
    marker_get,
    marker_set,
    served,
)

LIMIT = 10
THREADS = 16
QUERY = f"SELECT id, x FROM t ORDER BY x LIMIT {LIMIT}"
GOAL = 1.5
CLI = "mariadb CLI, one batch"


def shard_sql(db: str, shard: int) -> str:
    return f"SELECT id, x FROM `{db}_{shard:04d}`.t ORDER BY x, id LIMIT {LIMIT}"


def topology_text(db: str, *, window: int = 16) -> str:
    return f"""
[cluster]
database = "{db}"

[executor]
buckets = 4
slots_per_bucket = 16
window = {window}

[[datasources]]
name = "m0"
kind = "mysql"
url = "{MARIADB_URL}"
max_connections = 32
"""


def top(rows: list[tuple[Any, ...]]) -> list[int]:
    return [int(r[0]) for r in heapq.nsmallest(LIMIT, rows, key=lambda r: (r[1], r[0]))]


# ---------------------------------------------------------------------- data


def ensure_data(db: str, shards: int, rows: int) -> None:
    """Create and load the sharded table unless the marker says it is there."""
    fingerprint = f"v1:{shards}:{rows}"
    if marker_get(f"scatter:{db}") == fingerprint:
        return
    marker_set(f"scatter:{db}", None)
    import trio

    from sharding import Coordinator, Topology

    async def create() -> None:
        async with Coordinator(Topology.loads(topology_text(db)), catalog_refresh=None) as coord:
            await coord.execute(f"DROP DATABASE IF EXISTS {db}")
            await coord.execute(f"CREATE DATABASE {db}")
            await coord.execute(
                "CREATE TABLE t (id INT PRIMARY KEY, x INT NOT NULL, pad VARCHAR(24), KEY (x)) "
                f"PARTITION BY HASH (id) PARTITIONS {shards}"
            )

    trio.run(create)
    rng = random.Random(4)

    def load(part: range) -> None:
        with mariadb() as conn, conn.cursor() as cur:
            for s in part:
                values = ", ".join(
                    f"({i * shards + s}, {rng.randrange(10**9)}, 'pad-{i:06d}')"
                    for i in range(rows)
                )
                cur.execute(f"INSERT INTO `{db}_{s:04d}`.t VALUES {values}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(load, [range(k, shards, 8) for k in range(8)]))
    marker_set(f"scatter:{db}", fingerprint)


# ---------------------------------------------------------------------- methods
# Each returns (seconds per timed query, the ten ids found).

Timed = tuple[list[float], list[int]]


def _time(fn: Callable[[], list[int]], repeat: int, warmup: int = 3) -> Timed:
    found: list[int] = []
    for _ in range(warmup):
        found = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        found = fn()
        times.append(time.perf_counter() - started)
    return times, found


def m_cli(db: str, shards: int, repeat: int) -> Timed:
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise BenchSetupError("no mariadb/mysql client on PATH")
    script = Path(tempfile.mkdtemp(prefix="sg-scatter-")) / "top.sql"
    script.write_text("".join(shard_sql(db, s) + ";\n" for s in range(shards)))
    cmd = [client, "--no-defaults", "-uroot", f"-h{MARIADB_HOST}", f"-P{MARIADB_PORT}", "-N", "-B"]

    def once() -> list[int]:
        with open(script, "rb") as stdin:
            out = subprocess.run(cmd, stdin=stdin, capture_output=True, check=True).stdout
        rows = [tuple(int(v) for v in line.split(b"\t")) for line in out.splitlines() if line]
        return top(rows)

    return _time(once, repeat)


def m_pymysql_threads(db: str, shards: int, repeat: int) -> Timed:
    conns = [mariadb() for _ in range(THREADS)]

    def part(k: int) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        with conns[k].cursor() as cur:
            for s in range(k, shards, THREADS):
                cur.execute(shard_sql(db, s))
                out.extend(cur.fetchall())
        return out

    with ThreadPoolExecutor(THREADS) as pool:

        def once() -> list[int]:
            rows = [r for chunk in pool.map(part, range(THREADS)) for r in chunk]
            return top(rows)

        result = _time(once, repeat)
    for c in conns:
        c.close()
    return result


def m_aiomysql_gather(db: str, shards: int, repeat: int) -> Timed:
    import aiomysql  # type: ignore[import-untyped]

    async def main() -> Timed:
        pool = await aiomysql.create_pool(
            host=MARIADB_HOST,
            port=MARIADB_PORT,
            user="root",
            password="",
            autocommit=True,
            minsize=THREADS,
            maxsize=THREADS,
        )

        async def one(s: int) -> list[tuple[Any, ...]]:
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute(shard_sql(db, s))
                return list(await cur.fetchall())

        async def once() -> list[int]:
            chunks = await asyncio.gather(*(one(s) for s in range(shards)))
            return top([r for c in chunks for r in c])

        found: list[int] = []
        for _ in range(3):
            found = await once()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            found = await once()
            times.append(time.perf_counter() - started)
        pool.close()
        await pool.wait_closed()
        return times, found

    return asyncio.run(main())


def m_sqlalchemy(db: str, shards: int, repeat: int) -> Timed:
    try:
        from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select
        from sqlalchemy.ext.horizontal_shard import ShardedSession
    except ImportError as exc:
        raise NotApplicable(f"SQLAlchemy is not installed (the bench extra): {exc}") from None

    # A ShardedSession keeps one connection per shard for its transaction, and one
    # execute() visits every shard: it needs `shards` connections at once.
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT @@max_connections, (SELECT COUNT(*) FROM information_schema.PROCESSLIST)"
        )
        limit, used = cur.fetchone()
    if shards > int(limit) - int(used) - 8:
        raise NotApplicable(
            f"ShardedSession holds one connection per shard during a query: {shards} shards need "
            f"{shards} connections, the server allows {limit} ({used} in use)"
        )
    table = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("x", Integer),
        schema="shard",
    )
    engine = create_engine(
        f"mysql+pymysql://root:@{MARIADB_HOST}:{MARIADB_PORT}", pool_size=shards, max_overflow=0
    )
    engines = {
        f"s{s}": engine.execution_options(schema_translate_map={"shard": f"{db}_{s:04d}"})
        for s in range(shards)
    }
    ids = list(engines)
    session = ShardedSession(
        shards=engines,
        shard_chooser=lambda *a, **k: ids[0],
        identity_chooser=lambda *a, **k: ids,
        execute_chooser=lambda ctx: ids,
    )
    stmt = select(table.c.id, table.c.x).order_by(table.c.x, table.c.id).limit(LIMIT)

    def once() -> list[int]:
        return top([tuple(r) for r in session.execute(stmt).all()])

    try:
        return _time(once, repeat)
    finally:
        session.close()
        engine.dispose()


def m_embedded(db: str, shards: int, repeat: int, policy: dict[str, Any] | None) -> Timed:
    import trio

    from sharding import Coordinator, Topology
    from sharding.exec import batch

    if policy is not None:
        batch.set_policy("mysql", batch.BatchPolicy(**policy))

    async def main() -> Timed:
        async with Coordinator(Topology.loads(topology_text(db)), catalog_refresh=None) as coord:
            found: list[int] = []
            for _ in range(3):
                found = [int(r[0]) for r in (await coord.execute(QUERY)).rows]
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                res = await coord.execute(QUERY)
                times.append(time.perf_counter() - started)
                found = [int(r[0]) for r in res.rows]
            return times, found

    _quiet()
    return trio.run(main)


def m_serve(db: str, shards: int, repeat: int) -> Timed:
    config = (
        topology_text(db)
        + '\n[server]\nlisten = "127.0.0.1:0"\nhttp = "127.0.0.1:0"\nshutdown_timeout = 2.0\n'
    )
    with served(config) as srv:
        conn = srv.connect(database=db)
        try:
            with conn.cursor() as cur:

                def once() -> list[int]:
                    cur.execute(QUERY)
                    return [int(r[0]) for r in cur.fetchall()]

                return _time(once, repeat)
        finally:
            conn.close()


def _quiet() -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


#: name → (function, extra argument); the first is the baseline.
METHODS: dict[str, tuple[Callable[..., Timed], Any]] = {
    CLI: (m_cli, None),
    "PyMySQL + ThreadPoolExecutor(16)": (m_pymysql_threads, None),
    "asyncio.gather + aiomysql (16 conns)": (m_aiomysql_gather, None),
    "SQLAlchemy horizontal_shard": (m_sqlalchemy, None),
    "shardgate embedded (batched, default)": (m_embedded, None),
    "shardgate embedded, no batching": (m_embedded, {"enabled": False}),
    "shardgate embedded, 1 UNION statement": (m_embedded, {"parallel": 1, "max_parts": 4096}),
    "shardgate embedded, 2 UNION statements": (m_embedded, {"parallel": 2, "max_parts": 4096}),
    "shardgate embedded, 8 UNION statements": (m_embedded, {"parallel": 8}),
    "shardgate serve + PyMySQL (batched)": (m_serve, None),
}
QUICK_METHODS = [
    CLI,
    "PyMySQL + ThreadPoolExecutor(16)",
    "asyncio.gather + aiomysql (16 conns)",
    "SQLAlchemy horizontal_shard",
    "shardgate embedded (batched, default)",
    "shardgate embedded, no batching",
    "shardgate serve + PyMySQL (batched)",
]


def run_method(name: str, db: str, shards: int, repeat: int) -> Timed:
    fn, extra = METHODS[name]
    if fn is m_embedded:
        return m_embedded(db, shards, repeat, extra)
    return fn(db, shards, repeat)


class NotApplicable(Exception):
    """The method cannot run this configuration (the reason is reported, not hidden)."""


def _child(spec: str) -> None:
    cell = json.loads(spec)
    try:
        times, found = run_method(cell["method"], cell["db"], cell["shards"], cell["repeat"])
    except NotApplicable as exc:
        print(json.dumps({"not_applicable": str(exc)}))
        return
    print(json.dumps({"times": times, "found": found}))


def _spawn(name: str, db: str, shards: int, repeat: int) -> Timed | str:
    spec = json.dumps({"method": name, "db": db, "shards": shards, "repeat": repeat})
    out = subprocess.run(
        [sys.executable, "-m", "bench.scatter", "--cell", spec],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-3000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    if "not_applicable" in data:
        return str(data["not_applicable"])
    return data["times"], data["found"]


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="256 shards, fewer methods and samples"
    )
    parser.add_argument("--shards", type=positive_int, default=None)
    parser.add_argument("--rows", type=positive_int, default=None, help="rows per shard")
    parser.add_argument(
        "--repeat", type=positive_int, default=None, help="timed queries per method and round"
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=None, help="rotations over the methods"
    )
    parser.add_argument("--methods", nargs="*", help="subset of method names (default: all)")
    parser.add_argument(
        "--drop", action="store_true", help="drop the data set afterwards (default: keep for reuse)"
    )
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        _child(args.cell)
        return {}
    shards = args.shards or (256 if args.quick else 1024)
    rows = args.rows or (20 if args.quick else 100)
    repeat = args.repeat or (4 if args.quick else 10)
    rounds = args.rounds or (1 if args.quick else 3)
    names = args.methods or (QUICK_METHODS if args.quick else list(METHODS))
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        parser.error(f"unknown method(s): {unknown}; choose from {list(METHODS)}")
    if CLI not in names:
        names = [CLI, *names]
    db = db_name("sgscatter" if not args.quick else "sgscatterq")
    _quiet()
    ensure_data(db, shards, rows)
    try:
        return _measure(args, db, shards, rows, repeat, rounds, names)
    finally:
        if args.drop:
            drop_sharded(db, shards)
            marker_set(f"scatter:{db}", None)


def _measure(
    args: argparse.Namespace,
    db: str,
    shards: int,
    rows: int,
    repeat: int,
    rounds: int,
    names: list[str],
) -> dict[str, Any]:
    samples: dict[str, list[float]] = {n: [] for n in names}
    found: dict[str, list[int]] = {}
    skipped: dict[str, str] = {}
    for _ in range(rounds):
        for name in names:
            if name in skipped:
                continue
            outcome = _spawn(name, db, shards, repeat)
            if isinstance(outcome, str):
                skipped[name] = outcome
                continue
            samples[name] += outcome[0]
            found[name] = outcome[1]
    reference = found[CLI]
    base = statistics.median(samples[CLI])
    cells: list[dict[str, Any]] = []
    table: list[tuple[Any, ...]] = []
    for name in names:
        if name in skipped:
            cells.append({"method": name, "not_applicable": skipped[name]})
            table.append((name, "n/a", "n/a", "n/a", skipped[name]))
            continue
        med = statistics.median(samples[name])
        cells.append(
            {
                "method": name,
                "median_ms": med * 1e3,
                "p90_ms": _p90(samples[name]) * 1e3,
                "ratio_vs_cli": med / base,
                "samples_ms": [t * 1e3 for t in samples[name]],
                "same_rows_as_cli": found[name] == reference,
            }
        )
        table.append(
            (
                name,
                med * 1e3,
                _p90(samples[name]) * 1e3,
                med / base,
                "yes" if found[name] == reference else "NO",
            )
        )
    measured = [c for c in cells if "median_ms" in c]
    best = min(
        (c for c in measured if c["method"].startswith("shardgate embedded")),
        key=lambda c: c["median_ms"],
    )
    default = next(c for c in cells if c["method"] == "shardgate embedded (batched, default)")
    print_table(
        f"Top-{LIMIT} over {shards} shards ({rows} rows each), {rounds}×{repeat} samples per method",
        ["method", "median ms", "p90 ms", "× CLI", "same rows"],
        table,
    )
    results = {
        "shards": shards,
        "rows_per_shard": rows,
        "repeat": repeat,
        "rounds": rounds,
        "query": QUERY,
        "goal_ratio_vs_cli": GOAL,
        "default_ratio_vs_cli": default["ratio_vs_cli"],
        "goal_met": default["ratio_vs_cli"] <= GOAL,
        "best_embedded": best["method"],
        "load_average": os.getloadavg(),
        "cells": cells,
    }
    write_results("scatter_quick" if args.quick else "scatter", results)

    def draw(ax: Any) -> None:
        ax.barh(
            [c["method"] for c in measured][::-1],
            [c["median_ms"] for c in measured][::-1],
            color="#4a7",
        )
        ax.axvline(base * 1e3 * GOAL, color="#c33", linestyle="--", label=f"goal: {GOAL}× CLI")
        ax.set_xlabel("median latency of one top-10 query (ms)")
        ax.set_title(f"Top-{LIMIT} over {shards} shards on one MariaDB")
        ax.legend()

    save_plot("scatter_quick" if args.quick else "scatter", draw)
    return results


if __name__ == "__main__":
    main()
