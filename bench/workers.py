"""Point selects through ``shardgate serve --workers 1`` vs ``--workers 2`` (issue 19).

    python -m bench.workers [--quick] [--clients 16] [--queries 20000] [--rows 10000]

One MariaDB data source, one table ``t`` hash-sharded over 4 shards, ``rows`` rows.
The load is ``mariadb-slap`` (C, so the client costs little CPU) with ``clients``
connections sending ``queries`` point selects ``SELECT v FROM t WHERE id = ?`` with
ids spread over the table, through the same config served by 1 and then by 2 worker
processes (one port, SO_REUSEPORT). Reported: queries per second of each, the ratio
(2 workers / 1 worker), and the CPU split of the run (coordinator processes, MariaDB,
client) read from /proc.

On the 2-core machine of ``bench/README.md`` the gain is bounded: MariaDB and the
client share the same two cores with the coordinator, so a second worker can only use
what MariaDB leaves; the CPU split shows how much that was. Results go to
``bench/results/workers.json`` (``workers_quick.json`` for ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.args import positive_int
from bench.common import print_table, publish
from bench.serve import (
    BenchSetupError,
    config_text,
    db_name,
    drop_sharded,
    mariadb_available,
    process_cpu_seconds,
    served,
)

SHARDS = 4


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the worker processes of a supervisor)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _mariadbd_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                    return int(entry.name)
            except OSError:
                continue
    return None


def _slap(port: int, database: str, query_file: Path, clients: int, queries: int) -> float:
    """Seconds ``mariadb-slap`` took to send ``queries`` statements over ``clients``."""
    cmd = [
        "mariadb-slap",
        "-h127.0.0.1",
        f"-P{port}",
        "-uroot",
        f"--create-schema={database}",
        "--no-drop",
        f"--concurrency={clients}",
        "--iterations=1",
        f"--number-of-queries={queries}",
        f"--query={query_file}",
        "--delimiter=;",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    m = re.search(r"Average number of seconds to run all queries: ([0-9.]+)", out.stdout)
    if out.returncode != 0 or m is None:
        raise BenchSetupError(f"mariadb-slap failed: {out.stderr[-2000:]}{out.stdout[-1000:]}")
    return float(m.group(1))


def _run(workers: int, config: str, database: str, query_file: Path, args: Any) -> dict[str, Any]:
    with served(config, serve_args=["--workers", str(workers)]) as srv:
        pids = _children(srv.proc.pid) if workers > 1 else [srv.proc.pid]
        _slap(srv.port, database, query_file, args.clients, min(2000, args.queries))  # warm-up
        db_pid = _mariadbd_pid()
        cpu0 = {p: process_cpu_seconds(p) for p in pids}
        db0 = process_cpu_seconds(db_pid) if db_pid else 0.0
        self0 = os.times()
        t0 = time.perf_counter()
        seconds = _slap(srv.port, database, query_file, args.clients, args.queries)
        wall = time.perf_counter() - t0
        self1 = os.times()
        coord = sum(process_cpu_seconds(p) - cpu0[p] for p in pids)
        db = (process_cpu_seconds(db_pid) - db0) if db_pid else 0.0
        client = (self1.children_user + self1.children_system) - (
            self0.children_user + self0.children_system
        )
    return {
        "workers": workers,
        "seconds": round(seconds, 3),
        "qps": round(args.queries / seconds, 1),
        "cpu_seconds": {
            "coordinator": round(coord, 2),
            "mariadb": round(db, 2),
            "client": round(client, 2),
            "wall": round(wall, 2),
            "cores_busy": round((coord + db + client) / wall, 2) if wall else None,
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--clients", type=positive_int, default=16)
    p.add_argument("--queries", type=positive_int, default=20_000)
    p.add_argument("--rows", type=positive_int, default=10_000)
    args = p.parse_args(argv)
    if args.quick:
        args.queries, args.rows, args.clients = min(args.queries, 3000), min(args.rows, 1000), 8
    if not mariadb_available():
        raise BenchSetupError("bench.workers needs MariaDB (SHARDGATE_BENCH_MYSQL_HOST/PORT)")
    database = db_name("sgwrk_wbench")
    config = config_text(
        database=database,
        executor={"buckets": 4},
        datasource={"max_connections": 32},
        tables=[{"name": "t", "shard_key": "id", "shards": SHARDS}],
    )
    workdir = Path(tempfile.mkdtemp(prefix="shardgate-bench-workers-"))
    query_file = workdir / "queries.sql"
    step = max(1, args.rows // 997)
    query_file.write_text(
        "".join(f"SELECT v FROM t WHERE id = {(i * step) % args.rows};" for i in range(997))
    )
    drop_sharded(database, SHARDS)
    try:
        with served(config) as srv, srv.connect(database) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
            for lo in range(0, args.rows, 1000):
                values = ",".join(f"({i},{i * 7})" for i in range(lo, min(args.rows, lo + 1000)))
                cur.execute(f"INSERT INTO t VALUES {values}")
        runs = [_run(n, config, database, query_file, args) for n in (1, 2)]
    finally:
        drop_sharded(database, SHARDS)
    ratio = round(runs[1]["qps"] / runs[0]["qps"], 2)
    print_table(
        "point selects: 1 vs 2 workers",
        ["workers", "qps", "coordinator cpu s", "mariadb cpu s", "client cpu s", "cores busy"],
        [
            [
                r["workers"],
                r["qps"],
                r["cpu_seconds"]["coordinator"],
                r["cpu_seconds"]["mariadb"],
                r["cpu_seconds"]["client"],
                r["cpu_seconds"]["cores_busy"],
            ]
            for r in runs
        ],
    )
    data = {
        "quick": args.quick,
        "clients": args.clients,
        "queries": args.queries,
        "rows": args.rows,
        "shards": SHARDS,
        "cpus": os.cpu_count(),
        "runs": runs,
        "ratio_2_over_1": ratio,
        "note": "MariaDB and the load client share the machine's cores with the "
        "coordinator workers: the gain of a second worker is bounded by what they leave "
        "(see cpu_seconds).",
    }
    print(f"2 workers / 1 worker: {ratio} x")
    return publish("workers_quick" if args.quick else "workers", data, _draw(runs))


def _draw(runs: list[dict[str, Any]]) -> Any:
    def draw(ax: Any) -> None:
        labels = [f"{r['workers']} worker{'s' if r['workers'] > 1 else ''}" for r in runs]
        ax.bar(labels, [r["qps"] for r in runs])
        ax.set_ylabel("point selects / s")
        ax.set_title("shardgate serve --workers (MariaDB on the same cores)")

    return draw


if __name__ == "__main__":
    main()
