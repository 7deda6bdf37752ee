"""sysbench OLTP direct, through a bare trio relay and through ``shardgate serve`` (issue 16).

    python -m bench.oltp [--quick] [--seconds 5] [--threads 1,8,32] [--table-size 10000]
                         [--tables 1] [--shards 16] [--algorithm mod] [--warmup 1]
                         [--tests oltp_point_select,...] [--ps-modes auto,disable]
                         [--targets direct,relay,serve,serve_native]

sysbench ``oltp_point_select``, ``oltp_read_only`` and ``oltp_read_write``, each in
its default prepared-statement mode (``--db-ps-mode=auto``: server-side prepared
statements) and with ``--db-ps-mode=disable`` (text queries), at each thread count,
against four targets in one run:

* ``direct``: MariaDB itself (the baseline of every ratio), on a plain database;
* ``relay``: :mod:`bench.relay` in front of the same database — a trio process that
  copies bytes both ways and parses nothing: the floor of any proxy written in trio;
* ``serve``: ``shardgate serve`` in front of the same MariaDB (one data source, the
  default ``driver = "aiomysql"``), the sysbench tables declared in the topology TOML
  and sharded on ``id`` (``--algorithm``, default ``mod``) over ``--shards`` shard
  databases, created and filled by ``sysbench prepare`` through the coordinator;
* ``serve_native``: the same with ``driver = "native"`` (the trio-native backend
  connection, :mod:`sharding.backend.native`), so the service's default driver can be
  chosen by measurement.

Both data sets are prepared once with ``--auto-inc=off`` (sysbench writes the ids, so
both hold the same rows ``1..table_size``). Cells run group by group — a group is one
test in one mode — and within a group target by target (each warmed by one unmeasured
run of the group's test), then thread count by thread count. A ``shardgate serve``
process is started for each group and stopped after it, so at most one coordinator's
pool (``max_connections = 32``) holds connections to the shared MariaDB at a time; the
relay runs for the whole benchmark.

Per cell: transactions and queries per second and the 95th-percentile latency as
sysbench reports them; the ratio of queries per second to ``direct`` in the same
group; and the CPU split read from ``/proc/PID/stat`` (10 ms ticks) around the
sysbench process — the middle process (relay or coordinator), MariaDB (``mariadbd``)
and the sysbench client — as CPU µs per query and as cores busy (CPU seconds / wall).
The window includes sysbench's connect and prepare phase, a few ms per thread.
MariaDB may be shared: its CPU rate with none of our load is sampled for
``--idle-sample`` seconds before each cell (``mariadb_background_cores``) and
``mariadb_net`` subtracts it — an estimate, since other tenants vary; behind a slow
middle process the same background spreads over fewer queries, so read the raw
``mariadb`` µs per query with care. Through ``serve`` a point select reaches MariaDB as
one ``SELECT`` (``Com_select`` rises by 1.0 per query with either driver).

On the 2-core machine of ``bench/README.md`` MariaDB, sysbench and the middle process
share the two cores, so the middle process's CPU per query is what decides the
ratios. MariaDB's CPU counts whatever else uses the shared server at the same time.
Results: ``bench/results/oltp.json`` and ``oltp.png`` (``oltp_quick.*`` for
``--quick``, which the tests run: 1 and 8 threads, runs bounded by a few events).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bench.args import int_list, positive_float, positive_int
from bench.common import RESULTS, print_table, write_results
from bench.serve import (
    MARIADB_HOST,
    MARIADB_PORT,
    BenchSetupError,
    config_text,
    db_name,
    die_with_parent,
    drop_sharded,
    mariadb,
    mariadb_available,
    mariadbd_pid,
    process_cpu_seconds,
    served,
    stop_process,
)

TESTS = ("oltp_point_select", "oltp_read_only", "oltp_read_write")
PS_MODES = ("auto", "disable")
PS_LABEL = {"auto": "prepared", "disable": "text"}
TARGETS = ("direct", "relay", "serve", "serve_native")
MIDDLE = {"relay": "relay", "serve": "coordinator", "serve_native": "coordinator"}
DRIVER = {"serve": "aiomysql", "serve_native": "native"}
DIRECT_DB = db_name("sgoltp_direct")
SHARDED_DB = db_name("sgoltp_sharded")
#: Quick variant: each run ends after this many events (or 1 s, whichever comes first).
QUICK_EVENTS = {"oltp_point_select": 300, "oltp_read_only": 15, "oltp_read_write": 10}
#: Issue 16's goals, checked against the 1-thread cells of each mode.
GOALS = {
    "oltp_point_select_ratio": 0.3,  # serve ≥ 0.3 × direct, 1 thread
    "oltp_read_only_ratio": 0.25,  # serve ≥ 0.25 × direct, 1 thread
    "cpu_vs_relay": 1.6,  # coordinator CPU per point query ≤ 1.6 × the relay's
}


def _loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# -- sysbench ----------------------------------------------------------------------------


def sysbench(
    test: str, port: int, database: str, command: str, *extra: str, timeout: float = 600
) -> str:
    """Run one sysbench command; its output, or BenchSetupError with its tail."""
    args = [
        "sysbench",
        test,
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        f"--mysql-port={port}",
        "--mysql-user=root",
        f"--mysql-db={database}",
        *extra,
        command,
    ]
    try:
        out = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=die_with_parent,
        )
    except subprocess.TimeoutExpired:
        raise BenchSetupError(f"{' '.join(args)}: no answer within {timeout:g}s") from None
    text = out.stdout + out.stderr
    if out.returncode != 0 or "FATAL" in text:
        raise BenchSetupError(f"{' '.join(args)} failed:\n{text[-3000:]}")
    return text


def parse_sysbench(out: str) -> dict[str, float]:
    """The numbers of a ``sysbench … run`` report."""
    patterns = {
        "transactions": r"transactions:\s+(\d+)\s+\(([0-9.]+) per sec",
        "queries": r"queries:\s+(\d+)\s+\(([0-9.]+) per sec",
        "ignored_errors": r"ignored errors:\s+(\d+)",
        "reconnects": r"reconnects:\s+(\d+)",
        "seconds": r"total time:\s+([0-9.]+)s",
        "avg_ms": r"avg:\s+([0-9.]+)",
        "p95_ms": r"95th percentile:\s+([0-9.]+)",
    }
    found: dict[str, float] = {}
    for key, pattern in patterns.items():
        m = re.search(pattern, out)
        if m is None:
            raise BenchSetupError(f"sysbench report without {key!r}:\n{out[-2000:]}")
        found[key] = float(m.group(1))
        if key in ("transactions", "queries"):
            found[f"{key[0]}ps"] = float(m.group(2))  # tps, qps
    return found


def run_args(test: str, mode: str, threads: int, args: Any, *, warmup: bool = False) -> list[str]:
    """sysbench options of one run: the data set, the mode, and its length."""
    out = [
        f"--tables={args.tables}",
        f"--table-size={args.table_size}",
        f"--db-ps-mode={mode}",
        f"--threads={threads}",
        "--percentile=95",
    ]
    if args.quick:
        return [*out, "--time=1", f"--events={max(1, QUICK_EVENTS[test] // (2 if warmup else 1))}"]
    return [*out, f"--time={args.warmup if warmup else args.seconds}", "--events=0"]


# -- processes in the middle -------------------------------------------------------------


@contextlib.contextmanager
def relay_process(start_timeout: float = 30.0) -> Iterator[tuple[int, int]]:
    """``python -m bench.relay`` in front of MariaDB: yields (port, pid); stopped on exit."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.relay",
            "--upstream",
            f"{MARIADB_HOST}:{MARIADB_PORT}",
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=str(Path(__file__).resolve().parent.parent),
        preexec_fn=die_with_parent,
    )
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        deadline = time.monotonic() + start_timeout
        buf = b""
        while True:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise BenchSetupError(f"bench.relay did not start (exit {proc.poll()})")
            buf += proc.stdout.read() or b""
            m = re.search(rb"relay listening on [0-9.]+:(\d+)", buf)
            if m:
                break
            time.sleep(0.02)
        yield int(m.group(1)), proc.pid
    finally:
        stop_process(proc)


def serve_config(args: Any, driver: str) -> str:
    tables: list[Mapping[str, Any]] = []
    for i in range(1, args.tables + 1):
        rule: dict[str, Any] = {
            "name": f"{SHARDED_DB}.sbtest{i}",
            "shard_key": "id",
            "algorithm": args.algorithm,
            "shards": args.shards,
        }
        if args.algorithm == "range":  # equal id ranges over 1..table_size
            step = max(1, args.table_size // args.shards)
            rule["bounds"] = [1 + step * k for k in range(1, args.shards)]
        tables.append(rule)
    return config_text(
        database=SHARDED_DB,
        executor={},  # the service's defaults
        datasource={"max_connections": 32, "driver": driver},
        tables=tables,
        server={"max_connections": max(args.threads) + 64},
    )


# -- one cell ----------------------------------------------------------------------------


def measure(
    test: str,
    mode: str,
    threads: int,
    *,
    port: int,
    database: str,
    middle_pid: int | None,
    db_pid: int | None,
    args: Any,
) -> dict[str, Any]:
    """One measured sysbench run, with the CPU of the processes around it."""
    load = _loadavg()
    background = None
    if db_pid:  # MariaDB is shared: what it burns with no load of ours, in cores
        idle0, t_idle = process_cpu_seconds(db_pid), time.perf_counter()
        time.sleep(args.idle_sample)
        background = (process_cpu_seconds(db_pid) - idle0) / (time.perf_counter() - t_idle)
    middle0 = process_cpu_seconds(middle_pid) if middle_pid else 0.0
    db0 = process_cpu_seconds(db_pid) if db_pid else 0.0
    self0 = os.times()
    t0 = time.perf_counter()
    out = sysbench(
        test,
        port,
        database,
        "run",
        *run_args(test, mode, threads, args),
        timeout=args.seconds + 120,
    )
    wall = time.perf_counter() - t0
    self1 = os.times()
    middle = (process_cpu_seconds(middle_pid) - middle0) if middle_pid else None
    db = (process_cpu_seconds(db_pid) - db0) if db_pid else None
    # os.times: only sysbench exited (was reaped) in the window, so this is its CPU.
    client = (self1.children_user + self1.children_system) - (
        self0.children_user + self0.children_system
    )
    r = parse_sysbench(out)
    queries = max(1.0, r["queries"])

    def per_query(cpu: float | None) -> float | None:
        return None if cpu is None else round(cpu / queries * 1e6, 1)

    busy = sum(c for c in (middle, db, client) if c is not None)
    return {
        "tps": round(r["tps"], 1),
        "qps": round(r["qps"], 1),
        "transactions": int(r["transactions"]),
        "queries": int(r["queries"]),
        "seconds": r["seconds"],
        "p95_ms": r["p95_ms"],
        "avg_ms": r["avg_ms"],
        "ignored_errors": int(r["ignored_errors"]),
        "reconnects": int(r["reconnects"]),
        "cpu_seconds": {
            "middle": None if middle is None else round(middle, 2),
            "mariadb": None if db is None else round(db, 2),
            "client": round(client, 2),
            "wall": round(wall, 2),
        },
        "cpu_us_per_query": {
            "middle": per_query(middle),
            "mariadb": per_query(db),
            # less the background rate sampled just before (an estimate: others vary)
            "mariadb_net": None
            if db is None or background is None
            else per_query(max(0.0, db - background * wall)),
            "client": per_query(client),
        },
        "mariadb_background_cores": None if background is None else round(background, 3),
        "cores_busy": round(busy / wall, 2) if wall else None,
        "loadavg_1m_before": load,
    }


# -- the run -----------------------------------------------------------------------------


def _prepare(port: int, database: str, args: Any) -> float:
    t0 = time.perf_counter()
    sysbench(
        "oltp_read_write",
        port,
        database,
        "prepare",
        f"--tables={args.tables}",
        f"--table-size={args.table_size}",
        "--auto-inc=off",
        timeout=900,
    )
    return round(time.perf_counter() - t0, 1)


def _drop_all(args: Any) -> None:
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{DIRECT_DB}`")
    drop_sharded(SHARDED_DB, args.shards)


@contextlib.contextmanager
def _target(target: str, args: Any, relay: tuple[int, int]) -> Iterator[tuple[int, int | None]]:
    """(port, pid of the middle process) of a target, up for the block."""
    if target == "direct":
        yield MARIADB_PORT, None
    elif target == "relay":
        yield relay
    else:
        with served(serve_config(args, DRIVER[target])) as srv:
            yield srv.port, srv.proc.pid


def run_cells(args: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """Every cell: ``cells[test][mode][str(threads)][target]``; and the prepare times."""
    db_pid = mariadbd_pid()
    cells: dict[str, Any] = {}
    prepared: dict[str, float] = {}
    _drop_all(args)
    try:
        with mariadb() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{DIRECT_DB}`")
        prepared["direct"] = _prepare(MARIADB_PORT, DIRECT_DB, args)
        if any(t in DRIVER for t in args.targets):
            with served(serve_config(args, "aiomysql")) as srv:
                prepared["serve"] = _prepare(srv.port, SHARDED_DB, args)
        with relay_process() as relay:
            for test in args.tests:
                for mode in args.ps_modes:
                    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
                    for r in range(args.repeat):  # rounds alternate the order of targets
                        order = args.targets if r % 2 == 0 else args.targets[::-1]
                        for target in order:
                            block = _block(target, test, mode, args, relay, db_pid)
                            for n, cell in block.items():
                                runs.setdefault((n, target), []).append(cell)
                    group = cells.setdefault(test, {}).setdefault(mode, {})
                    for n in args.threads:
                        row = group.setdefault(str(n), {})
                        for target in args.targets:
                            row[target] = _median_cell(runs[n, target])
                        base = row["direct"].get("qps")
                        for cell in row.values():
                            if "qps" in cell:
                                cell["ratio"] = round(cell["qps"] / base, 3) if base else None
    finally:
        _drop_all(args)
    return cells, prepared


def _block(
    target: str, test: str, mode: str, args: Any, relay: tuple[int, int], db_pid: int | None
) -> dict[int, dict[str, Any]]:
    """One target's cells of one group, every thread count, after an unmeasured warm-up."""
    database = SHARDED_DB if target in DRIVER else DIRECT_DB
    out: dict[int, dict[str, Any]] = {}
    with _target(target, args, relay) as (port, pid):
        try:  # unmeasured: plan cache, pools, buffer pool
            sysbench(
                test,
                port,
                database,
                "run",
                *run_args(test, mode, 8, args, warmup=True),
                timeout=args.warmup + 120,
            )
        except BenchSetupError as e:
            return {n: {"error": str(e)} for n in args.threads}
        for n in args.threads:
            try:
                cell = measure(
                    test,
                    mode,
                    n,
                    port=port,
                    database=database,
                    middle_pid=pid,
                    db_pid=db_pid,
                    args=args,
                )
            except BenchSetupError as e:
                cell = {"error": str(e)}
            out[n] = cell
            _progress(test, mode, n, target, cell)
    return out


def _median_cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median queries per second (the lower one of an even count),
    with every run's qps beside it. A failed run (say the shared server refused a
    connection: 1040) is listed under ``failed_runs``; the cell is an error only when
    every run failed."""
    ok = [r for r in runs if "error" not in r]
    failed = [r["error"][-1500:] for r in runs if "error" in r]
    if not ok:
        return {"error": failed[0]}
    ranked = sorted(ok, key=lambda r: r["qps"])
    cell = {**ranked[(len(ranked) - 1) // 2], "qps_runs": [r["qps"] for r in ok]}
    if failed:
        cell["failed_runs"] = failed
    return cell


def _progress(test: str, mode: str, threads: int, target: str, cell: dict[str, Any]) -> None:
    if "error" in cell:
        print(f"{test} {PS_LABEL[mode]} {threads}t {target}: FAILED", flush=True)
    else:
        print(
            f"{test} {PS_LABEL[mode]} {threads}t {target}: {cell['qps']:.0f} q/s, "
            f"p95 {cell['p95_ms']} ms, middle {cell['cpu_us_per_query']['middle']} µs/q",
            flush=True,
        )


def goal_checks(cells: dict[str, Any], args: Any) -> dict[str, Any]:
    """Issue 16's goals against the 1-thread cells (absent when a cell was not run)."""
    out: dict[str, Any] = {}
    if 1 not in args.threads:
        return out
    for mode in args.ps_modes:
        for target in ("serve", "serve_native"):
            for test, key in (
                ("oltp_point_select", "oltp_point_select_ratio"),
                ("oltp_read_only", "oltp_read_only_ratio"),
            ):
                cell = cells.get(test, {}).get(mode, {}).get("1", {}).get(target, {})
                if cell.get("ratio") is not None:
                    out[f"{target} {test} {PS_LABEL[mode]} 1 thread ratio"] = {
                        "measured": cell["ratio"],
                        "goal": f">= {GOALS[key]}",
                        "met": cell["ratio"] >= GOALS[key],
                    }
            row = cells.get("oltp_point_select", {}).get(mode, {}).get("1", {})
            ours = row.get(target, {}).get("cpu_us_per_query", {}).get("middle")
            floor = row.get("relay", {}).get("cpu_us_per_query", {}).get("middle")
            if ours is not None and floor:
                ratio = round(ours / floor, 2)
                out[f"{target} point-select CPU vs relay {PS_LABEL[mode]} 1 thread"] = {
                    "measured": ratio,
                    "goal": f"<= {GOALS['cpu_vs_relay']}",
                    "met": ratio <= GOALS["cpu_vs_relay"],
                }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="python -m bench.oltp", description=(__doc__ or "").split("\n", 1)[0]
    )
    p.add_argument("--quick", action="store_true", help="1 and 8 threads, runs of a few events")
    p.add_argument("--seconds", type=positive_int, default=5, help="length of a measured run")
    p.add_argument("--warmup", type=positive_int, default=1, help="unmeasured run per target")
    p.add_argument("--repeat", type=positive_int, default=1, help="rounds per group (median)")
    p.add_argument(
        "--idle-sample",
        type=positive_float,
        default=None,
        help="seconds MariaDB's background CPU is sampled before each cell (default 0.5)",
    )
    p.add_argument("--threads", type=int_list, default=None, help="default 1,8,32 (max 32)")
    p.add_argument("--table-size", type=positive_int, default=None, help="default 10000")
    p.add_argument("--tables", type=positive_int, default=1)
    p.add_argument("--shards", type=positive_int, default=16)
    p.add_argument("--algorithm", choices=("mod", "hash", "range"), default="mod")
    p.add_argument("--tests", default=",".join(TESTS))
    p.add_argument("--ps-modes", default=",".join(PS_MODES))
    p.add_argument("--targets", default=",".join(TARGETS))
    args = p.parse_args(argv)
    for option, allowed in (("tests", TESTS), ("ps_modes", PS_MODES), ("targets", TARGETS)):
        chosen = [x for x in getattr(args, option).split(",") if x]
        if not chosen or not set(chosen) <= set(allowed):
            p.error(f"--{option.replace('_', '-')}: choose among {', '.join(allowed)}")
        setattr(args, option, [x for x in allowed if x in chosen])
    if "direct" not in args.targets:
        p.error("--targets: direct is the baseline of every ratio and cannot be left out")
    args.threads = args.threads or ([1, 8] if args.quick else [1, 8, 32])
    if max(args.threads) > 32:
        p.error("--threads: at most 32 (the shared MariaDB allows 151 connections)")
    args.table_size = args.table_size or (1000 if args.quick else 10_000)
    args.idle_sample = args.idle_sample or (0.1 if args.quick else 0.5)
    if args.algorithm == "range" and args.table_size < args.shards:
        p.error("--algorithm range needs --table-size >= --shards")
    if shutil.which("sysbench") is None:
        raise BenchSetupError("bench.oltp needs sysbench (apt-get install sysbench)")
    if not mariadb_available():
        raise BenchSetupError("bench.oltp needs MariaDB (SHARDGATE_BENCH_MYSQL_HOST/PORT)")
    started = time.perf_counter()
    cells, prepared = run_cells(args)
    goals = goal_checks(cells, args)
    _print(cells, args)
    for name, g in goals.items():
        print(
            f"goal {name}: {g['measured']} (goal {g['goal']}): {'met' if g['met'] else 'NOT met'}"
        )
    name = "oltp_quick" if args.quick else "oltp"
    data = {
        "quick": args.quick,
        "tests": args.tests,
        "ps_modes": args.ps_modes,
        "targets": args.targets,
        "threads": args.threads,
        "seconds": None if args.quick else args.seconds,
        "quick_events": QUICK_EVENTS if args.quick else None,
        "warmup_seconds": args.warmup,
        "idle_sample_seconds": args.idle_sample,
        "repeat": args.repeat,
        "tables": args.tables,
        "table_size": args.table_size,
        "shards": args.shards,
        "algorithm": args.algorithm,
        "prepare_seconds": prepared,
        "mariadb_cpu_measured": mariadbd_pid() is not None,
        "cells": cells,
        "goals": goals,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "note": "ratio = qps / direct qps in the same group; cpu_us_per_query.middle is "
        "the relay's or the coordinator's CPU (/proc/PID/stat, 10 ms ticks) per query. "
        "MariaDB, sysbench and the middle process share the machine's cores.",
    }
    _plot(name, cells, args)
    write_results(name, data)
    return data


def _print(cells: dict[str, Any], args: Any) -> None:
    """One table per test and mode (the JSON has every field)."""
    for test in args.tests:
        for mode in args.ps_modes:
            rows = []
            for n in args.threads:
                for target in args.targets:
                    c = cells[test][mode][str(n)][target]
                    if "error" in c:
                        rows.append([n, target, "FAILED", *[""] * 8])
                        continue
                    cpu = c["cpu_us_per_query"]
                    rows.append(
                        [
                            n,
                            target,
                            c["tps"],
                            c["qps"],
                            c["ratio"],
                            c["p95_ms"],
                            "—" if cpu["middle"] is None else cpu["middle"],
                            "—" if cpu["mariadb"] is None else cpu["mariadb"],
                            "—" if cpu["mariadb_net"] is None else cpu["mariadb_net"],
                            cpu["client"],
                            c["cores_busy"],
                        ]
                    )
            print_table(
                f"{test}, {PS_LABEL[mode]} (--db-ps-mode={mode}); CPU µs per query",
                [
                    "thr",
                    "target",
                    "tps",
                    "qps",
                    "ratio",
                    "p95 ms",
                    "middle",
                    "mariadb",
                    "db net",
                    "sysbench",
                    "busy",
                ],
                rows,
            )


def _plot(name: str, cells: dict[str, Any], args: Any) -> Path | None:
    """Ratio to direct, one panel per test: bars per thread count, per target and mode."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the bench extra is not installed
        return None
    series = [(t, m) for t in args.targets if t != "direct" for m in args.ps_modes]
    fig, axes = plt.subplots(
        1, len(args.tests), figsize=(4.2 * len(args.tests), 4.2), dpi=110, squeeze=False
    )
    width = 0.8 / max(1, len(series))
    colors = {"relay": "tab:gray", "serve": "tab:blue", "serve_native": "tab:orange"}
    for ax, test in zip(axes[0], args.tests, strict=True):
        for k, (target, mode) in enumerate(series):
            xs, ys = [], []
            for i, n in enumerate(args.threads):
                ratio = cells[test][mode][str(n)][target].get("ratio")
                xs.append(i + (k - (len(series) - 1) / 2) * width)
                ys.append(ratio if ratio else float("nan"))  # failed: no bar
            ax.bar(
                xs,
                ys,
                width,
                color=colors[target],
                hatch="//" if mode == "disable" else None,
                edgecolor="white",
                label=f"{target} ({PS_LABEL[mode]})",
            )
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(args.threads)), [f"{n} thr" for n in args.threads])
        ax.set_title(test)
        # log scale: the coordinator's bars are 1/30 of direct, the relay's ~1/3
        heights = [h for b in ax.patches if (h := b.get_height()) == h and h > 0]
        ax.set_yscale("log")
        ax.set_ylim(min(0.01, *heights) / 1.5, max(1.5, *heights) * 1.5)
    axes[0][0].set_ylabel("queries/s relative to direct MariaDB (log)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(series), fontsize=8, frameon=False)
    fig.suptitle("sysbench through a bare trio relay and shardgate serve (2 shared cores)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


if __name__ == "__main__":
    try:
        main()
    except BenchSetupError as e:
        sys.exit(f"bench.oltp: {e}")
