"""Three loads through ``shardgate serve --workers 1`` vs ``--workers 2`` (issue 19).

    python -m bench.workers [--quick] [--clients 16] [--queries 20000] [--rows 10000]
                            [--seconds 10] [--loads slap,sysbench,scatter]

Each load runs against the same config served by 1 and then by 2 worker processes (one
port, SO_REUSEPORT), one run each, MariaDB on this machine as the only data source:

* ``slap``: ``mariadb-slap`` (C, so the client costs little CPU), ``clients``
  connections sending ``queries`` point selects ``SELECT v FROM t WHERE id = ?`` on a
  table of ``rows`` rows hash-sharded over 4 shards;
* ``sysbench``: sysbench ``oltp_point_select`` (its default prepared-statement mode),
  ``clients`` threads for ``seconds``, one table of ``rows`` rows created by sysbench
  through the coordinator (so on the default 16 shards);
* ``scatter``: the ``scatter-topk`` trace (``shardgate trace gen``; ``SELECT id,
  score FROM customer WHERE region = ? ORDER BY score DESC, id DESC LIMIT 10`` on all
  16 shards, merged) replayed closed-loop by ``shardgate replay`` with ``clients``
  sessions for ``seconds``.

Reported per load: operations per second with 1 and 2 workers, the ratio (2 / 1), and
the CPU split of each run (coordinator processes, MariaDB, load client) read from /proc.

On the 2-core machine of ``bench/README.md`` the gain is bounded: MariaDB and the
client share the same two cores with the coordinator, so a second worker can only use
what MariaDB and the client leave; the CPU split (``cores_busy`` near 2) shows it.
Results go to ``bench/results/workers.json`` (``workers_quick.json`` for ``--quick``).
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
from bench.concurrency import run_cli
from bench.serve import (
    BenchSetupError,
    config_text,
    db_name,
    drop_sharded,
    mariadb_available,
    mariadbd_pid,
    process_cpu_seconds,
    served,
)

SHARDS = 4
SCATTER_SHARDS = 16
SYSBENCH_SHARDS = 16  # [cluster] default_shards: sysbench's CREATE TABLE has no rule
SYSBENCH_DB = db_name("sgwb_sysbench")
SCATTER_DB = db_name("sgwb_scatter")
LOADS = {
    "slap": "point selects by mariadb-slap",
    "sysbench": "sysbench oltp_point_select",
    "scatter": "scatter-topk trace (16 shards) by shardgate replay",
}


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


def _run(workers: int, config: str, load: Any, args: Any) -> dict[str, Any]:
    """One load through ``serve --workers workers``: ``load(srv, warmup)`` returns
    (operations, seconds) and is called once to warm up, then measured."""
    with served(config, serve_args=["--workers", str(workers)]) as srv:
        pids = _children(srv.proc.pid) if workers > 1 else [srv.proc.pid]
        load(srv, True)
        db_pid = mariadbd_pid()
        cpu0 = {p: process_cpu_seconds(p) for p in pids}
        db0 = process_cpu_seconds(db_pid) if db_pid else 0.0
        self0 = os.times()
        t0 = time.perf_counter()
        ops, seconds = load(srv, False)
        wall = time.perf_counter() - t0
        self1 = os.times()
        coord = sum(process_cpu_seconds(p) - cpu0[p] for p in pids)
        db = (process_cpu_seconds(db_pid) - db0) if db_pid else 0.0
        client = (self1.children_user + self1.children_system) - (
            self0.children_user + self0.children_system
        )
    return {
        "workers": workers,
        "operations": ops,
        "seconds": round(seconds, 3),
        "ops_per_s": round(ops / seconds, 1) if seconds else 0.0,
        "cpu_seconds": {
            "coordinator": round(coord, 2),
            "mariadb": round(db, 2),
            "client": round(client, 2),
            "wall": round(wall, 2),
            "cores_busy": round((coord + db + client) / wall, 2) if wall else None,
        },
    }


def _sysbench(port: int, command: str, rows: int, *extra: str) -> str:
    args = [
        "sysbench",
        "oltp_point_select",
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        f"--mysql-port={port}",
        "--mysql-user=root",
        f"--mysql-db={SYSBENCH_DB}",
        "--tables=1",
        f"--table-size={rows}",
        *extra,
        command,
    ]
    out = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    text = out.stdout + out.stderr
    if out.returncode != 0 or "FATAL" in text:
        raise BenchSetupError(f"{' '.join(args)} failed:\n{text[-3000:]}")
    return text


def _scatter_trace(workdir: Path, *, clients: int, queries: int, rows: int, seed: int) -> Path:
    from sharding.trace.generate import GenOptions, write_trace

    out = workdir / f"scatter_c{clients}_s{seed}.jsonl"
    opts = GenOptions(
        kind="scatter-topk",
        shards=SCATTER_SHARDS,
        queries=queries,
        clients=clients,
        rate=0.0,
        rows=rows,
        seed=seed,
        database=SCATTER_DB,
    )
    write_trace(opts, out)
    return out


def _slap_load(database: str, query_file: Path, args: Any) -> Any:
    def load(srv: Any, warmup: bool) -> tuple[int, float]:
        n = min(2000, args.queries) if warmup else args.queries
        return n, _slap(srv.port, database, query_file, args.clients, n)

    return load


def _sysbench_load(args: Any) -> Any:
    def load(srv: Any, warmup: bool) -> tuple[int, float]:
        seconds = 2 if warmup else args.seconds
        out = _sysbench(
            srv.port, "run", args.rows, f"--threads={args.clients}", f"--time={seconds}"
        )
        m = re.search(r"queries:\s+(\d+)", out)
        t = re.search(r"total time:\s+([0-9.]+)s", out)
        errors = re.search(r"ignored errors:\s+(\d+)", out)
        if m is None or t is None or errors is None or int(errors.group(1)):
            raise BenchSetupError(f"sysbench run: no clean result:\n{out[-2000:]}")
        return int(m.group(1)), float(t.group(1))

    return load


def _scatter_load(workdir: Path, args: Any) -> Any:
    from bench.concurrency import replay_level

    def load(srv: Any, warmup: bool) -> tuple[int, float]:
        seconds = 2.0 if warmup else float(args.seconds)
        trace = _scatter_trace(
            workdir,
            clients=args.clients,
            queries=max(6 * args.clients, int(2000 * seconds)),
            rows=args.scatter_rows,
            seed=7 if warmup else 8,
        )
        rep = replay_level(srv.target, trace, seconds, workdir / "replay.json")
        if rep["statements"]["failed"]:
            raise BenchSetupError(f"scatter replay had failures: {rep['errors']}")
        return int(rep["statements"]["ok"]), float(rep["elapsed_s"])

    return load


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--clients", type=positive_int, default=16)
    p.add_argument("--queries", type=positive_int, default=20_000, help="slap: statements")
    p.add_argument("--rows", type=positive_int, default=10_000, help="slap/sysbench table rows")
    p.add_argument("--scatter-rows", type=positive_int, default=20_000)
    p.add_argument("--seconds", type=positive_int, default=10, help="sysbench/scatter run time")
    p.add_argument("--loads", default=",".join(LOADS))
    args = p.parse_args(argv)
    loads = [x for x in args.loads.split(",") if x]
    if not set(loads) <= set(LOADS):
        p.error(f"--loads: choose among {', '.join(LOADS)}")
    if args.quick:
        args.queries, args.rows, args.clients = min(args.queries, 3000), min(args.rows, 1000), 8
        args.seconds, args.scatter_rows = min(args.seconds, 4), min(args.scatter_rows, 4000)
    if not mariadb_available():
        raise BenchSetupError("bench.workers needs MariaDB (SHARDGATE_BENCH_MYSQL_HOST/PORT)")
    workdir = Path(tempfile.mkdtemp(prefix="shardgate-bench-workers-"))
    results: dict[str, dict[str, Any]] = {}
    for name in loads:
        runs = _load_runs(name, workdir, args)
        ratio = round(runs[1]["ops_per_s"] / runs[0]["ops_per_s"], 2)
        results[name] = {"what": LOADS[name], "runs": runs, "ratio_2_over_1": ratio}
    print_table(
        "1 vs 2 workers",
        [
            "load",
            "workers",
            "ops/s",
            "coordinator cpu s",
            "mariadb cpu s",
            "client cpu s",
            "cores busy",
        ],
        [
            [
                name,
                r["workers"],
                r["ops_per_s"],
                r["cpu_seconds"]["coordinator"],
                r["cpu_seconds"]["mariadb"],
                r["cpu_seconds"]["client"],
                r["cpu_seconds"]["cores_busy"],
            ]
            for name, res in results.items()
            for r in res["runs"]
        ],
    )
    for name, res in results.items():
        print(f"{name}: 2 workers / 1 worker = {res['ratio_2_over_1']} x")
    data = {
        "quick": args.quick,
        "clients": args.clients,
        "queries": args.queries,
        "rows": args.rows,
        "scatter_rows": args.scatter_rows,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "loads": results,
        "note": "MariaDB and the load client share the machine's cores with the "
        "coordinator workers: the gain of a second worker is bounded by what they leave "
        "(see cpu_seconds: cores_busy near the core count means nothing was left).",
    }
    return publish("workers_quick" if args.quick else "workers", data, _draw(results))


def _load_runs(name: str, workdir: Path, args: Any) -> list[dict[str, Any]]:
    """Set up load ``name``'s data once, then run it through 1 and 2 workers."""
    if name == "slap":
        database = db_name("sgwb_point")
        config = config_text(
            database=database,
            executor={"buckets": 4},
            datasource={"max_connections": 32},
            tables=[{"name": "t", "shard_key": "id", "shards": SHARDS}],
        )
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
                    values = ",".join(
                        f"({i},{i * 7})" for i in range(lo, min(args.rows, lo + 1000))
                    )
                    cur.execute(f"INSERT INTO t VALUES {values}")
            return [_run(n, config, _slap_load(database, query_file, args), args) for n in (1, 2)]
        finally:
            drop_sharded(database, SHARDS)
    if name == "sysbench":
        config = config_text(
            database=SYSBENCH_DB,
            executor={"buckets": 4},
            datasource={"max_connections": 32},
            server={"max_connections": args.clients + 64},
        )
        drop_sharded(SYSBENCH_DB, SYSBENCH_SHARDS)
        try:
            with served(config) as srv:
                _sysbench(srv.port, "prepare", args.rows)
            return [_run(n, config, _sysbench_load(args), args) for n in (1, 2)]
        finally:
            drop_sharded(SYSBENCH_DB, SYSBENCH_SHARDS)
    config = config_text(
        database=SCATTER_DB,
        executor={"buckets": 4},
        datasource={"max_connections": 32},
        server={"max_connections": args.clients + 64},
    )
    with served(config) as srv:
        trace = _scatter_trace(workdir, clients=1, queries=1, rows=args.scatter_rows, seed=1)
        spec = trace.with_name(trace.name.replace(".jsonl", ".spec.json"))
        run_cli("trace", "load", str(spec), "--target", srv.target, "--drop", "--connections", "4")
    try:
        return [_run(n, config, _scatter_load(workdir, args), args) for n in (1, 2)]
    finally:
        drop_sharded(SCATTER_DB, SCATTER_SHARDS)


def _draw(results: dict[str, dict[str, Any]]) -> Any:
    def draw(ax: Any) -> None:
        names = list(results)
        width = 0.38
        for k, workers in enumerate((1, 2)):
            values = [
                next(r["ops_per_s"] for r in results[n]["runs"] if r["workers"] == workers)
                / max(1e-9, results[n]["runs"][0]["ops_per_s"])
                for n in names
            ]
            xs = [i + (k - 0.5) * width for i in range(len(names))]
            ax.bar(xs, values, width, label=f"{workers} worker{'s' if workers > 1 else ''}")
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel("throughput, relative to 1 worker")
        ax.set_title("shardgate serve --workers (MariaDB on the same cores)")
        ax.legend()

    return draw


if __name__ == "__main__":
    main()
