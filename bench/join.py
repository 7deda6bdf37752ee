"""1024-shard sort-merge join of 2 × 5M rows on MariaDB vs the same join on unsharded tables.

The data is the trace kind ``sort-merge-join`` (``shardgate trace gen``'s spec and its
deterministic generator): ``customer`` (``--rows``, sharded on ``id``) and ``orders``
(``--rows``, sharded on its own ``id``, each order pointing at one customer), both
``PARTITION BY HASH(id) PARTITIONS --shards`` through shardgate, so the join key
``orders.customer_id`` is not the orders' shard key and the join cannot be pushed
down. The coordinator runs it as a cross-shard sort-merge join: both sides scattered
sorted by the key in keyset chunks (``WHERE (key, pk) > last ORDER BY key, pk LIMIT
chunk``), k-way merged, merge-joined, streamed::

    SELECT c.id, c.name, o.id, o.amount FROM customer c JOIN orders o ON o.customer_id = c.id

Measured in a fresh process with an embedded coordinator (a MySQL data source of 32
connections, executor window ``--window``): time, peak RSS (``VmHWM``; goal ≤ 256 MB),
and the peak number of connections in use (sampled every 2 ms, and the pool's peak
size; goal ≤ window). Baseline in the same run: the same query on two plain
(unsharded) MariaDB tables holding the same rows, streamed to a PyMySQL client with
an unbuffered cursor, also in a fresh process. Both results are checked against each
other (row count and a checksum of the ids).

Loading 10M rows takes minutes: the tables are created through ``shardgate serve``,
the rows written straight into the shard databases (placed by the tables' own ``mod``
rule) and into the flat tables, indexes built afterwards, then a marker row records
the load; later runs reuse it (``--reload`` forces a new load). ``--quick`` uses a
small data set of its own.

    python -m bench.join [--quick] [--rows 5000000] [--shards 1024] [--window 16] [--reload]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import threading
import time
from typing import Any

from bench.args import command_line, positive_int
from bench.common import console, print_table, publish, run_json_child
from bench.serve import (
    MARIADB_URL,
    ROOT,
    config_text,
    db_name,
    die_with_parent,
    drop_sharded,
    mariadb,
    marker_get,
    marker_set,
    served,
)

GOAL_RSS_MB = 256.0
SEED = 1
QUERY = "SELECT c.id, c.name, o.id, o.amount FROM {db}.customer c JOIN {db}.orders o ON o.customer_id = c.id"
FLAT_QUERY = "SELECT c.id, c.name, o.id, o.amount FROM {db}.customer c JOIN {db}.orders o ON o.customer_id = c.id"


def names(quick: bool) -> tuple[str, str]:
    return (
        (db_name("sgb_join_q"), db_name("sgb_join_flat_q"))
        if quick
        else (db_name("sgb_join"), db_name("sgb_join_flat"))
    )


def spec_for(db: str, shards: int, rows: int) -> Any:
    from sharding.trace.generate import GenOptions, build_spec

    return build_spec(
        GenOptions(kind="sort-merge-join", shards=shards, rows=rows, database=db, seed=SEED)
    )


# -- load once ------------------------------------------------------------------------------


def _values(rows: list[tuple[Any, ...]]) -> str:
    from sharding.trace.spec import sql_literal

    return ",".join("(" + ",".join(sql_literal(v) for v in r) + ")" for r in rows)


def load(
    db: str, flat: str, shards: int, rows: int, *, block: int = 200_000, workers: int = 4
) -> float:
    """Create both copies of the data; returns seconds. Clears the marker first and sets
    it only when everything (indexes included) is in place."""
    started = time.perf_counter()
    marker_set(db, None)
    drop_sharded(db, shards)
    spec = spec_for(db, shards, rows)
    flat_spec = spec_for(flat, shards, rows)
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {flat}")
        cur.execute(f"CREATE DATABASE {flat}")
        for t in flat_spec.tables:
            ddl = flat_spec.ddl(t)
            cur.execute(ddl[: ddl.index(" PARTITION BY")] + " ENGINE=InnoDB")
    config = config_text(
        database=db,
        executor={"buckets": 2, "slots_per_bucket": 16, "window": 16},
        datasource={"max_connections": 16},
    )
    with served(config, start_timeout=120) as srv, srv.connect() as conn, conn.cursor() as cur:
        for t in spec.tables:
            cur.execute(spec.ddl(t))
    # Rows: generated here (one thread: it is CPU work), written by `workers` threads
    # (I/O), each statement group committed as one transaction.
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    local = threading.local()

    def run(stmts: list[str]) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = mariadb()
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            for s in stmts:
                cur.execute(s)
            cur.execute("COMMIT")

    pending: list[concurrent.futures.Future[None]] = []
    for t in spec.tables:
        key = t.column_names.index(t.shard_key)
        cols = ", ".join(t.column_names)
        for first in range(0, t.rows, block):
            batch = [t.row(SEED, i) for i in range(first, min(t.rows, first + block))]
            per: dict[int, list[tuple[Any, ...]]] = {}
            for r in batch:
                per.setdefault(r[key] % shards, []).append(r)  # the mod rule of HASH(id)
            stmts = [
                f"INSERT INTO `{db}_{s:04d}`.`{t.name}` ({cols}) VALUES {_values(rs)}"
                for s, rs in sorted(per.items())
            ]
            flat_stmts = [
                f"INSERT INTO {flat}.{t.name} ({cols}) VALUES {_values(batch[k : k + 5000])}"
                for k in range(0, len(batch), 5000)
            ]
            step = max(1, len(stmts) // workers)
            for k in range(0, len(stmts), step):
                pending.append(pool.submit(run, stmts[k : k + step]))
            pending.append(pool.submit(run, flat_stmts))
            while len(pending) > 4 * workers:  # bound memory: wait for the oldest
                pending.pop(0).result()
            console.print(
                f"[dim]{t.name}: {min(t.rows, first + block):,}/{t.rows:,} rows ({time.perf_counter() - started:.0f}s)[/dim]"
            )
    for f in pending:
        f.result()
    pool.shutdown()
    with served(config, start_timeout=120) as srv, srv.connect() as conn, conn.cursor() as cur:
        for t in spec.tables:
            for ddl in spec.index_ddl(t):
                cur.execute(ddl)
    with mariadb() as conn, conn.cursor() as cur:
        for t in flat_spec.tables:
            for ddl in flat_spec.index_ddl(t):
                cur.execute(ddl)
    marker_set(db, fingerprint(shards, rows))
    return time.perf_counter() - started


def fingerprint(shards: int, rows: int) -> str:
    return json.dumps(
        {"kind": "sort-merge-join", "shards": shards, "rows": rows, "seed": SEED, "v": 1}
    )


# -- the measuring children -------------------------------------------------------------------


def _vm(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def child_sharded(db: str, window: int) -> dict[str, Any]:
    """The sharded join with an embedded coordinator (runs in a fresh process)."""
    import logging

    import structlog
    import trio

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from sharding import Coordinator, Topology

    topo = Topology.from_dict(
        {
            "cluster": {"database": db},
            "executor": {"buckets": 2, "slots_per_bucket": window, "window": window},
            "datasources": [
                {
                    "name": "m0",
                    "kind": "mysql",
                    "url": MARIADB_URL,
                    "max_connections": 32,
                    "acquire_timeout": 30.0,
                }
            ],
        }
    )
    out: dict[str, Any] = {"window": window}

    async def main() -> None:
        # No periodic catalog refresh (a pool connection every 2 s) and no periodic XA
        # recovery pass (one every 30 s): both borrow from the same pool, and the
        # sampler would count them against the join's window (measured with them on:
        # 17 in use with window 16). The join's own connections are what is measured.
        async with Coordinator(topo, catalog_refresh=None, xa_recovery=None) as coord:
            await coord.execute(f"SELECT COUNT(*) FROM {db}.customer WHERE id = 1")
            ds = coord.datasources["m0"]
            out["plan"] = await coord.explain(QUERY.format(db=db))
            out["baseline_rss_mb"] = round(_vm("VmRSS"), 1)
            out["baseline_peak_rss_mb"] = round(_vm("VmHWM"), 1)
            peak_in_use = 0
            done = trio.Event()

            async def sample() -> None:
                nonlocal peak_in_use
                while not done.is_set():
                    peak_in_use = max(peak_in_use, ds.statistics().in_use)
                    await trio.sleep(0.002)

            count = checksum = 0
            started = time.perf_counter()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sample)
                async for batch in coord.stream(QUERY.format(db=db)):
                    count += len(batch)
                    for row in batch:
                        checksum += row[0] + row[2]
                done.set()
            out["seconds"] = round(time.perf_counter() - started, 2)
            out["rows"] = count
            out["checksum"] = checksum
            stats = ds.statistics()
            out["peak_connections_in_use"] = peak_in_use
            out["pool_peak_size"] = stats.extra.get("peak_size")
            out["pool_acquired"] = stats.acquired

    trio.run(main)
    out["peak_rss_mb"] = round(_vm("VmHWM"), 1)
    out["malloc_arena_max"] = os.environ.get("MALLOC_ARENA_MAX")
    return out


def child_flat(flat: str) -> dict[str, Any]:
    """The same join on the unsharded tables, streamed with an unbuffered cursor."""
    import pymysql.cursors

    out: dict[str, Any] = {"baseline_peak_rss_mb": round(_vm("VmHWM"), 1)}
    conn = mariadb(cursorclass=pymysql.cursors.SSCursor)
    count = checksum = 0
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(FLAT_QUERY.format(db=flat))
        while True:
            batch = cur.fetchmany(10_000)
            if not batch:
                break
            count += len(batch)
            for row in batch:
                checksum += row[0] + row[2]
    out["seconds"] = round(time.perf_counter() - started, 2)
    out["rows"] = count
    out["checksum"] = checksum
    with mariadb() as c2, c2.cursor() as cur:
        cur.execute("EXPLAIN " + FLAT_QUERY.format(db=flat))
        out["plan"] = [list(map(str, r)) for r in cur.fetchall()]
    conn.close()
    out["peak_rss_mb"] = round(_vm("VmHWM"), 1)
    return out


def run_child(kind: str, arg: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ, MALLOC_ARENA_MAX=os.environ.get("MALLOC_ARENA_MAX", "2"))
    return run_json_child(
        [sys.executable, "-m", "bench.join", f"--{kind}-child", json.dumps(arg)],
        what=f"{kind} join",
        timeout=7200,
        cwd=str(ROOT),
        env=env,
        preexec_fn=die_with_parent,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a small data set (64 shards × 20,000 rows)"
    )
    parser.add_argument("--rows", type=positive_int, default=None, help="rows per table")
    parser.add_argument("--shards", type=positive_int, default=None)
    parser.add_argument("--window", type=positive_int, default=16)
    parser.add_argument(
        "--reload", action="store_true", help="reload even if the marker says loaded"
    )
    parser.add_argument("--sharded-child", help=argparse.SUPPRESS)
    parser.add_argument("--flat-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sharded_child:
        a = json.loads(args.sharded_child)
        print(json.dumps(child_sharded(a["db"], a["window"])))
        return {}
    if args.flat_child:
        print(json.dumps(child_flat(json.loads(args.flat_child)["flat"])))
        return {}
    rows = args.rows or (20_000 if args.quick else 5_000_000)
    shards = args.shards or (64 if args.quick else 1024)
    db, flat = names(args.quick)
    load_s = None
    if args.reload or marker_get(db) != fingerprint(shards, rows):
        console.print(
            f"loading {rows:,} rows × 2 tables on {shards} shards and unsharded (once; a marker records it)"
        )
        load_s = round(load(db, flat, shards, rows), 1)
        console.print(f"loaded in {load_s}s")
    flat_r = run_child("flat", {"flat": flat})
    sharded = run_child("sharded", {"db": db, "window": args.window})
    correct = (
        sharded["rows"] == flat_r["rows"] == rows and sharded["checksum"] == flat_r["checksum"]
    )
    within = sharded["peak_rss_mb"] <= GOAL_RSS_MB
    window_ok = sharded["peak_connections_in_use"] <= args.window
    ratio = round(sharded["seconds"] / flat_r["seconds"], 2) if flat_r["seconds"] else None
    print_table(
        f"sort-merge join, 2 × {rows:,} rows, {shards} shards vs unsharded",
        ["case", "seconds", "rows/s", "peak RSS MB", "RSS before MB", "peak connections"],
        [
            (
                "unsharded MariaDB (PyMySQL, unbuffered)",
                flat_r["seconds"],
                flat_r["rows"] / flat_r["seconds"] if flat_r["seconds"] else 0,
                flat_r["peak_rss_mb"],
                flat_r["baseline_peak_rss_mb"],
                1,
            ),
            (
                f"shardgate, {shards} shards, window {args.window}",
                sharded["seconds"],
                sharded["rows"] / sharded["seconds"] if sharded["seconds"] else 0,
                sharded["peak_rss_mb"],
                sharded["baseline_peak_rss_mb"],
                sharded["peak_connections_in_use"],
            ),
        ],
    )
    console.print(
        f"time ratio {ratio}×; correct {correct}; peak RSS {sharded['peak_rss_mb']} MB (goal ≤ {GOAL_RSS_MB:g}: "
        f"{'met' if within else 'NOT met'}); peak connections {sharded['peak_connections_in_use']} (≤ window {args.window}: "
        f"{'met' if window_ok else 'NOT met'}; pool peak size {sharded['pool_peak_size']})"
    )
    data: dict[str, Any] = {
        "command": command_line("bench.join", argv),
        "rows_per_table": rows,
        "shards": shards,
        "window": args.window,
        "load_seconds": load_s,
        "query": QUERY.format(db=db),
        "correct": correct,
        "time_ratio_vs_unsharded": ratio,
        "rss_goal_mb": GOAL_RSS_MB,
        "rss_goal_met": within,
        "window_goal_met": window_ok,
        "load_average": os.getloadavg(),
        "sharded": sharded,
        "unsharded": flat_r,
    }

    def draw(ax: Any) -> None:
        labels = ["unsharded\n(MariaDB join)", f"shardgate\n{shards} shards"]
        ax.bar(
            [0, 1], [flat_r["seconds"], sharded["seconds"]], color=["#888", "#1f77b4"], width=0.5
        )
        ax.set_xticks([0, 1], labels)
        ax.set_ylabel("seconds")
        ax2 = ax.twinx()
        ax2.plot(
            [0, 1],
            [flat_r["peak_rss_mb"], sharded["peak_rss_mb"]],
            "o",
            color="#d62728",
            label="peak RSS MB",
        )
        ax2.axhline(GOAL_RSS_MB, color="#d62728", linestyle="--", linewidth=1, label="RSS goal")
        ax2.set_ylabel("peak RSS MB")
        ax2.set_ylim(0, max(GOAL_RSS_MB, sharded["peak_rss_mb"]) * 1.2)
        ax2.legend(fontsize=8, loc="upper left")
        ax.set_title(f"sort-merge join of 2 × {rows:,} rows")

    name = "join" + ("_quick" if args.quick else "")
    return publish(name, data, draw)


if __name__ == "__main__":
    main()
