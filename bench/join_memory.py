"""1024-shard sort-merge join with bounded memory (issue 3, acceptance 2).

Two tables of N rows each on 1024 SQLite shards, sharded on different keys
(``a`` by ``id``, ``b`` by ``k``), joined on ``a.k = b.k`` — not co-located, so the
coordinator runs a SortMergeJoin of two 1024-way MergeSorts, every shard read in
keyset chunks. The join runs in a fresh subprocess that measures its own peak RSS
(``VmHWM``) and the data source's peak number of concurrently open reads, which
must not exceed the executor's ``window``.

Baseline in the same run: the RSS of the same process after start-up (imports, open
coordinator, catalog) and before the query, so the table shows what the join itself
added.

Memory knobs (measured on this workload, 1M rows per side):

* Each SQLite shard file attached to a pooled connection costs ~136 KB (page-cache
  preallocation, WAL index, schema) whatever ``cache_kib`` is, so the data source's
  ``max_idle`` × 10 attachments is the memory/speed trade-off: 40 connections keep
  400 of the 1024 files attached (the rest are re-attached on demand).
* glibc gives every worker thread its own malloc arena; SQLite's attach/detach churn
  in 16+ threads fragments them (~100 MB here). The measuring child runs with
  ``MALLOC_ARENA_MAX=2`` — the usual setting for threaded Python services.

    python bench/join_memory.py                      # 1M rows per side, 1024 shards
    python bench/join_memory.py --rows 20000 --json bench/results/join_memory_small.json

Data loading writes the shard files directly with sqlite3 (bulk load, placed with the
tables' own shard rule); the tables themselves are created through the coordinator.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUERY = "SELECT a.id, b.id, a.v + b.w FROM a JOIN b ON a.k = b.k"


def topology_text(data_dir: Path, shards: int, window: int) -> str:
    return f"""
[cluster]
database = "db"
default_shards = {shards}
chunk_rows = 256
merge_budget_rows = 131072

[executor]
buckets = 2
slots_per_bucket = {window}
window = {window}

[[datasources]]
name = "ds0"
kind = "sqlite"
path = "{data_dir / "ds0"}"
max_idle = 40                     # × 10 attached files × ~136 KB each: the memory/speed knob
cache_kib = 16
"""


def build(data_dir: Path, shards: int, rows: int, window: int, seed: int = 7) -> None:
    """Create both tables through the coordinator, then bulk-load the shard files."""
    import trio

    from sharding import Coordinator, Topology

    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "cluster.toml").write_text(topology_text(data_dir, shards, window))
    topo = Topology.load(data_dir / "cluster.toml")

    async def create() -> tuple[Any, Any]:
        async with Coordinator(topo, catalog_refresh=None) as coord:
            await coord.execute(
                "CREATE TABLE a (id INT PRIMARY KEY, k INT NOT NULL, v INT, KEY ak (k, id)) "
                f"PARTITION BY KEY(id) PARTITIONS {shards}"
            )
            await coord.execute(
                "CREATE TABLE b (id INT NOT NULL, k INT NOT NULL, w INT, PRIMARY KEY (k, id)) "
                f"PARTITION BY KEY(k) PARTITIONS {shards}"
            )
            return coord.catalog.get("db", "a"), coord.catalog.get("db", "b")

    info_a, info_b = trio.run(create)
    rng = random.Random(seed)
    per_shard: dict[str, list[list[tuple[int, int, int]]]] = {
        "a": [[] for _ in range(shards)],
        "b": [[] for _ in range(shards)],
    }
    for i in range(rows):
        k = rng.randrange(rows)
        per_shard["a"][info_a.rule.shard_of(i)].append((i, k, i % 1000))
    for i in range(rows):
        k = rng.randrange(rows)
        per_shard["b"][info_b.rule.shard_of(k)].append((i, k, i % 777))
    path = data_dir / "ds0"
    for s in range(shards):
        conn = sqlite3.connect(path / f"db_{s:04d}.sqlite")
        with conn:
            conn.executemany("INSERT INTO a VALUES (?, ?, ?)", per_shard["a"][s])
            conn.executemany("INSERT INTO b VALUES (?, ?, ?)", per_shard["b"][s])
        conn.close()


def rss_mb() -> float:
    """Peak RSS of this process (VmHWM; ``ru_maxrss`` would include the parent's peak,
    which Linux carries across fork + exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_join(data_dir: Path) -> dict[str, Any]:
    """Runs in the measuring subprocess."""
    import logging

    import structlog
    import trio

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from sharding import Coordinator, Topology

    topo = Topology.load(data_dir / "cluster.toml")
    out: dict[str, Any] = {}

    async def main() -> None:
        async with Coordinator(topo, catalog_refresh=None) as coord:
            await coord.execute("SELECT 1")
            ds = coord.datasources["ds0"]
            out["baseline_rss_mb"] = round(current_rss_mb(), 1)
            out["baseline_peak_rss_mb"] = round(rss_mb(), 1)
            ds.reset_peaks()  # type: ignore[attr-defined]
            started = time.perf_counter()
            count = 0
            checksum = 0
            async for batch in coord.stream(QUERY):
                count += len(batch)
                for row in batch:
                    checksum += row[2]
            out["seconds"] = round(time.perf_counter() - started, 2)
            out["rows"] = count
            out["checksum"] = checksum
            extra = ds.statistics().extra
            out["peak_reads_open"] = extra["peak_reads_open"]
            out["peak_connections_in_use"] = extra["peak_in_use"]
            out["window"] = topo.executor.window
            out["executor_completed"] = coord.executor.statistics().completed

    trio.run(main)
    out["peak_rss_mb"] = round(rss_mb(), 1)
    out["malloc_arena_max"] = os.environ.get("MALLOC_ARENA_MAX")
    out["max_idle_connections"] = getattr(topo.datasources[0], "options", {}).get("max_idle")
    return out


def expected_rows(data_dir: Path, shards: int) -> tuple[int, int]:
    """The join result count and checksum, computed by SQLite over all shards."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE ka (k INT, v INT)")
    conn.execute("CREATE TABLE kb (k INT, w INT)")
    for s in range(shards):
        f = data_dir / "ds0" / f"db_{s:04d}.sqlite"
        conn.execute(f"ATTACH '{f}' AS s")
        conn.execute("INSERT INTO ka SELECT k, v FROM s.a")
        conn.execute("INSERT INTO kb SELECT k, w FROM s.b")
        conn.commit()
        conn.execute("DETACH s")
    conn.execute("CREATE INDEX ib ON kb (k)")
    count, total = conn.execute(
        "SELECT COUNT(*), TOTAL(ka.v + kb.w) FROM ka JOIN kb ON ka.k = kb.k"
    ).fetchone()
    conn.close()
    return count, int(total)


def measure(data_dir: Path) -> dict[str, Any]:
    """Run the join in a fresh interpreter and return its report."""
    env = dict(os.environ, MALLOC_ARENA_MAX=os.environ.get("MALLOC_ARENA_MAX", "2"))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
        cwd=str(ROOT),
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"join subprocess failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per table")
    parser.add_argument("--shards", type=int, default=1024)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: a temp dir)")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "join_memory.json"
    )
    parser.add_argument("--limit-mb", type=float, default=256.0)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(run_join(args.child)))
        return
    import tempfile

    from rich.console import Console
    from rich.table import Table

    data_dir = args.data or Path(tempfile.mkdtemp(prefix="shardgate-join-"))
    console = Console()
    if not (data_dir / "cluster.toml").exists():
        started = time.perf_counter()
        build(data_dir, args.shards, args.rows, args.window)
        console.print(
            f"built {args.rows} rows x 2 tables on {args.shards} shards in {time.perf_counter() - started:.1f}s ({data_dir})"
        )
    # Settings may have changed since the data was built: rewrite the topology.
    (data_dir / "cluster.toml").write_text(topology_text(data_dir, args.shards, args.window))
    report = measure(data_dir)
    count, checksum = expected_rows(data_dir, args.shards)
    report.update(
        {
            "rows_per_table": args.rows,
            "shards": args.shards,
            "expected_rows": count,
            "expected_checksum": checksum,
            "correct": report["rows"] == count and report["checksum"] == checksum,
            "rss_limit_mb": args.limit_mb,
            "within_limit": report["peak_rss_mb"] < args.limit_mb,
            "join_added_mb": round(report["peak_rss_mb"] - report["baseline_peak_rss_mb"], 1),
            "window_respected": report["peak_reads_open"] <= report["window"],
            "rows_per_second": round(report["rows"] / report["seconds"])
            if report["seconds"]
            else None,
        }
    )
    table = Table(title=f"sort-merge join, {args.shards} shards, {args.rows} rows per side")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "rows",
        "expected_rows",
        "correct",
        "seconds",
        "rows_per_second",
        "baseline_peak_rss_mb",
        "peak_rss_mb",
        "join_added_mb",
        "rss_limit_mb",
        "within_limit",
        "peak_reads_open",
        "window",
        "window_respected",
        "peak_connections_in_use",
        "max_idle_connections",
        "malloc_arena_max",
    ):
        table.add_row(key, str(report[key]))
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not (report["correct"] and report["within_limit"] and report["window_respected"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
