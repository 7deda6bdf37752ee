"""Throughput and latency from 1 to 4096 client connections: shardgate vs thread-per-connection.

Seed 004's curves: how throughput and p99 latency hold up as concurrent clients grow.
The workload is the trace kind ``scatter-topk`` — ``SELECT id, score FROM customer
WHERE region = ? ORDER BY score DESC, id DESC LIMIT 10`` over ``--shards`` (16) shards:
every query reads every shard (an index range scan, ten rows each) and merges the
top ten. Each level runs closed loop (every client sends its next query when the
previous one answered) for ``--duration`` seconds, or longer at high levels: at least
four turns of every client, estimated from the previous level's throughput (at 4096
clients a turn takes tens of seconds), at most two minutes.

* **shardgate**: ``shardgate serve`` in front of MariaDB, driven by ``shardgate replay``
  (a separate process: one asyncio loop, one aiomysql connection per client) on a trace
  from ``shardgate trace gen --kind scatter-topk --rate 0 --clients N``; the data is
  loaded once with ``shardgate trace load`` and reused (a marker row records it).
* **thread-per-connection** (the baseline, the naive middleware): N OS threads, one per
  client, each doing the fan-out itself with PyMySQL, a blocking driver — borrow a
  connection from a shared pool of the same size as shardgate's data source pool,
  send the 16 per-shard statements (the ones shardgate sends, to the same physical
  tables), merge, repeat. The same trace gives each thread its statements.

Both run on this machine with MariaDB; the shardgate side also pays for the MySQL
protocol hop and its client process, the baseline does not. Latency is the service
time of one query (send → merged result). Goal (issue 6): shardgate's throughput at the
highest level ≥ 90 % of its peak. Throughput is read two ways: over the level's whole
window, and *steady* — once every client has had an answer (a closed loop of N clients
answers nothing for about one turn, N / rate, at its start: at 4096 clients seconds of
a window of ~15; ``sharding.trace.report.steady_qps``). The goal reads the steady rate.
RLIMIT_NOFILE is raised to fit the clients.

    python -m bench.concurrency [--quick] [--levels 1,4,16,64,256,1024,4096] [--duration 6]
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.args import command_line, int_list, positive_float, positive_int
from bench.common import RESULTS, console, print_table, publish, run_json_child
from bench.profile import Profiler, summarize
from bench.serve import (
    ROOT,
    config_text,
    db_name,
    die_with_parent,
    mariadbd_pid,
    marker_get,
    marker_set,
    process_cpu_seconds,
    raise_nofile,
    served,
)
from sharding.trace.replay import COMPLETION_BUCKET
from sharding.trace.report import steady_qps

DATABASE = db_name("sgb_conc")
GOAL = 0.90
FULL_LEVELS = (1, 4, 16, 64, 256, 1024, 4096)
QUICK_LEVELS = (1, 16, 256)
SIDES = ("shardgate", "thread-per-connection")
POOL = 32  # shardgate's data source max_connections, and the baseline's pool


def shardgate_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sharding.cli", *args]


def run_cli(*args: str, timeout: float = 3600) -> str:
    proc = subprocess.run(
        shardgate_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"shardgate {' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def gen_trace(
    workdir: Path, *, clients: int, queries: int, shards: int, rows: int, seed: int
) -> Path:
    """``shardgate trace gen --kind scatter-topk --rate 0 ...`` (the same code, called
    in-process: a CLI start per level would only add seconds)."""
    from sharding.trace.generate import GenOptions, write_trace

    out = workdir / f"scatter_c{clients}.jsonl"
    opts = GenOptions(
        kind="scatter-topk",
        shards=shards,
        queries=queries,
        clients=clients,
        rate=0.0,
        rows=rows,
        seed=seed,
        database=DATABASE,
    )
    write_trace(opts, out)
    return out


def ensure_data(target: str, workdir: Path, shards: int, rows: int) -> bool:
    """Load the scatter-topk spec through shardgate unless the marker says it is there;
    returns True when it loaded."""
    fingerprint = json.dumps({"kind": "scatter-topk", "shards": shards, "rows": rows, "seed": 1})
    if marker_get(DATABASE) == fingerprint:
        return False
    marker_set(DATABASE, None)
    trace = gen_trace(workdir, clients=1, queries=1, shards=shards, rows=rows, seed=1)
    spec = trace.with_name(trace.name.replace(".jsonl", ".spec.json"))
    run_cli("trace", "load", str(spec), "--target", target, "--drop", "--connections", "4")
    marker_set(DATABASE, fingerprint)
    return True


def replay_level(target: str, trace: Path, duration: float, out: Path) -> dict[str, Any]:
    """``shardgate replay`` in its own process; returns its JSON report (+ its CPU)."""
    cmd = shardgate_cmd(
        "replay",
        str(trace),
        "--target",
        target,
        "--duration-limit",
        str(duration),
        "--query-timeout",
        "120",
        "--sample-interval",
        "0.5",
        "--json",
        str(out),
    )
    children0 = _children_cpu()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        preexec_fn=die_with_parent,
    )
    stdout, stderr = proc.communicate(timeout=duration + 900)
    # The replay client's own CPU (it shares the two cores with the server and MariaDB).
    client_cpu = _children_cpu() - children0
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"shardgate replay failed ({proc.returncode}):\n{stdout[-2000:]}\n{stderr[-3000:]}"
        )
    report: dict[str, Any] = json.loads(out.read_text())
    report["cpu_client_s"] = round(client_cpu, 2)
    return report


def _children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    t = os.times()
    return t.children_user + t.children_system


class CpuTrace:
    """CPU seconds of some processes sampled every ``interval`` s with the wall clock,
    in a thread, while the block runs; :meth:`between` reads a span of it."""

    def __init__(self, pids: dict[str, int], interval: float = 0.1) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.samples.append(
            (time.time(), {k: process_cpu_seconds(pid) for k, pid in self.pids.items()})
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuTrace:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def between(self, name: str, start: float, end: float) -> float | None:
        """CPU seconds of ``name`` from ``start`` to ``end`` (wall clock), read off the
        samples around them (linear in between); None outside the samples."""

        def at(t: float) -> float | None:
            for (t0, c0), (t1, c1) in itertools.pairwise(self.samples):
                if t0 <= t <= t1:
                    f = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
                    return c0[name] + f * (c1[name] - c0[name])
            return None

        a, b = at(start), at(end)
        return None if a is None or b is None else b - a


def play_cpu_per_query(report: dict[str, Any], trace: CpuTrace) -> dict[str, float | None]:
    """ms of CPU per answered query over the replay's play, per process."""
    play = report.get("play") or {}
    start = play.get("started_unix") or 0.0
    end = start + report["elapsed_s"]
    ok = report["statements"]["ok"]
    out: dict[str, float | None] = {"client": None}
    if not ok or not start:
        return out
    out["client"] = round(play.get("client_cpu_s", 0.0) / ok * 1e3, 3)
    for name in trace.pids:
        cpu = trace.between(name, start, end)
        out[name] = round(cpu / ok * 1e3, 3) if cpu is not None else None
    return out


def coordinator_peaks(samples: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Peaks of the busiest columns of ``SHOW THREAD_POOL_STATUS`` / ``SHOW DATASOURCES``
    sampled by the replay (summed over buckets / data sources)."""
    wanted = {"active", "queued_low", "queued_high", "oversubscribed", "in_use", "waiting", "size"}
    out: dict[str, dict[str, float]] = {}
    for source in ("thread_pool_status", "datasources"):
        cols = (
            samples.get(source, {}).get("columns", {})
            if isinstance(samples.get(source), dict)
            else {}
        )
        out[source] = {c: v["peak"] for c, v in cols.items() if c in wanted}
    return out


# -- the baseline: one OS thread per client, blocking driver, shared pool ----------------


def baseline_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh interpreter (4096 threads must not share the parent's GIL)."""
    import pymysql

    from sharding.trace.format import read_trace

    clients, duration, shards = int(spec["clients"]), float(spec["duration"]), int(spec["shards"])
    per_session: dict[Any, list[tuple[int, int]]] = {}
    for rec in read_trace(spec["trace"], "jsonl"):
        params = rec.params or {}
        per_session.setdefault(rec.session, []).append(
            (int(params["region"]), int(params["limit"]))
        )
    work = list(per_session.values())[:clients]
    pool: queue.LifoQueue[Any] = queue.LifoQueue()
    for _ in range(int(spec["pool"])):
        pool.put(
            pymysql.connect(
                host=spec["host"], port=int(spec["port"]), user="root", password="", autocommit=True
            )
        )
    templates = [
        f"SELECT id, score FROM `{DATABASE}_{s:04d}`.`customer` WHERE region = {{r}} ORDER BY score DESC, id DESC LIMIT {{n}}"
        for s in range(shards)
    ]
    start = threading.Event()
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    finished: list[list[float]] = [[] for _ in range(clients)]  # when each one answered
    errors: list[str] = []
    deadline = [0.0]

    def client(k: int) -> None:
        mine = work[k % len(work)]
        lat = latencies[k]
        ends = finished[k]
        start.wait()
        i = 0
        while not stop.is_set():
            region, limit = mine[i % len(mine)]
            i += 1
            t0 = time.perf_counter()
            conn = None
            while conn is None:
                try:
                    conn = pool.get(timeout=0.05)
                except queue.Empty:
                    if stop.is_set():
                        return
            try:
                rows: list[tuple[Any, ...]] = []
                with conn.cursor() as cur:
                    for t in templates:
                        cur.execute(t.format(r=region, n=limit))
                        rows.extend(cur.fetchall())
            except Exception as e:  # counted, the client goes on
                errors.append(repr(e))
                continue
            finally:
                pool.put(conn)
            heapq.nlargest(limit, rows, key=lambda r: (r[1], r[0]))
            t1 = time.perf_counter()
            if t1 <= deadline[0]:
                lat.append(t1 - t0)
                ends.append(t1)

    threading.stack_size(256 * 1024)
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for th in threads:
        th.start()
    cpu0 = time.process_time()
    t_start = time.perf_counter()
    deadline[0] = t_start + duration
    start.set()
    time.sleep(duration)
    stop.set()
    for th in threads:
        th.join(timeout=120)
    cpu = time.process_time() - cpu0
    done = sorted(x for lat in latencies for x in lat)
    n = len(done)

    def pct(p: float) -> float:
        return done[min(n - 1, max(0, int(n * p / 100 + 0.5) - 1))] if n else 0.0

    counts = [0] * (int(duration / COMPLETION_BUCKET) + 1)
    for ends in finished:
        for t in ends:
            counts[min(len(counts) - 1, int((t - t_start) / COMPLETION_BUCKET))] += 1
    return {
        "ok": n,
        "throughput_qps": n / duration,
        "steady_qps": steady_qps(counts, COMPLETION_BUCKET, duration, clients),
        "p50": pct(50),
        "p99": pct(99),
        "max": done[-1] if n else 0.0,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "cpu_s": round(cpu, 2),
    }


def run_baseline(trace: Path, clients: int, duration: float, shards: int) -> dict[str, Any]:
    from bench.serve import MARIADB_HOST, MARIADB_PORT

    spec = {
        "trace": str(trace),
        "clients": clients,
        "duration": duration,
        "shards": shards,
        "pool": POOL,
        "host": MARIADB_HOST,
        "port": MARIADB_PORT,
    }
    return run_json_child(
        [sys.executable, "-m", "bench.concurrency", "--baseline-cell", json.dumps(spec)],
        what=f"baseline cell ({clients} clients)",
        timeout=duration + 900,
        cwd=str(ROOT),
        preexec_fn=die_with_parent,
    )


# -- driver ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer levels, shorter runs")
    parser.add_argument(
        "--levels", type=int_list, default=None, help="comma-separated client counts, ascending"
    )
    parser.add_argument(
        "--duration", type=positive_float, default=None, help="seconds per level and side"
    )
    parser.add_argument("--shards", type=positive_int, default=16)
    parser.add_argument(
        "--rows", type=positive_int, default=100_000, help="rows of the customer table"
    )
    parser.add_argument("--sides", default="shardgate,thread-per-connection")
    parser.add_argument("--buckets", type=positive_int, default=2)
    parser.add_argument("--slots", type=positive_int, default=16, help="slots per bucket")
    parser.add_argument("--window", type=positive_int, default=16)
    parser.add_argument("--profile", action="store_true", help="py-spy the server at each level")
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=None,
        metavar="N",
        help="pass --gc-threshold N to shardgate serve (0: Python's default GC; "
        "default: serve's own default)",
    )
    parser.add_argument("--baseline-cell", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_cell:
        raise_nofile(65536)
        print(json.dumps(baseline_cell(json.loads(args.baseline_cell))))
        return {}
    levels = args.levels if args.levels else list(QUICK_LEVELS if args.quick else FULL_LEVELS)
    duration = args.duration or (1.0 if args.quick else 6.0)
    rounds = 2.0 if args.quick else 4.0
    max_duration = 10.0 if args.quick else 120.0
    name = (
        "concurrency"
        + (f"_gc{args.gc_threshold}" if args.gc_threshold is not None else "")
        + ("_quick" if args.quick else "")
    )
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if not sides or any(s not in SIDES for s in sides):
        parser.error(f"--sides: choose from {', '.join(SIDES)}")
    nofile = raise_nofile(max(levels) * 2 + 4096)
    workdir = Path(tempfile.mkdtemp(prefix="shardgate-bench-conc-"))
    config = config_text(
        database=DATABASE,
        executor={"buckets": args.buckets, "slots_per_bucket": args.slots, "window": args.window},
        datasource={"max_connections": POOL, "acquire_timeout": 30.0},
        server={"max_connections": max(levels) + 64},
    )
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    serve_args = ["--gc-threshold", str(args.gc_threshold)] if args.gc_threshold is not None else []
    with served(config, serve_args=serve_args) as srv:
        started = time.perf_counter()
        loaded = ensure_data(srv.target, workdir, args.shards, args.rows)
        load_s = time.perf_counter() - started
        if loaded:
            console.print(
                f"[dim]loaded {args.rows} rows on {args.shards} shards in {load_s:.1f}s[/dim]"
            )
        warm = gen_trace(
            workdir, clients=8, queries=400, shards=args.shards, rows=args.rows, seed=99
        )
        replay_level(srv.target, warm, 1.0, workdir / "warm.json")
        last_qps: dict[str, float] = {}
        for n in levels:
            # Closed loop: each client's first answer takes about n / throughput seconds,
            # so a level runs for at least `rounds` such turns (estimated from the
            # previous level) — else a fair scheduler, which finishes the n first
            # queries together, would show zero completions in a short window.
            spans = {
                s: max(duration, min(max_duration, rounds * n / last_qps[s]))
                if last_qps.get(s)
                else duration
                for s in sides
            }
            queries = max(6 * n, int(1500 * max(spans.values())))
            trace = gen_trace(
                workdir, clients=n, queries=queries, shards=args.shards, rows=args.rows, seed=n
            )
            if "shardgate" in sides:
                span = spans["shardgate"]
                cpu0 = process_cpu_seconds(srv.proc.pid)
                db_pid = mariadbd_pid()
                db0 = process_cpu_seconds(db_pid) if db_pid is not None else 0.0
                prof_path = RESULTS / "profiles" / f"{name}_c{n}.txt"
                watched = {"server": srv.proc.pid}
                if db_pid is not None:
                    watched["mariadb"] = db_pid
                with (
                    Profiler(srv.proc.pid, prof_path)
                    if args.profile
                    else contextlib.nullcontext() as prof,
                    CpuTrace(watched) as cpu_trace,
                ):
                    rep = replay_level(srv.target, trace, span, workdir / f"replay_{n}.json")
                kind = rep["kinds"].get("scatter-topk", {})
                row = {
                    "clients": n,
                    "throughput_qps": rep["throughput_qps"],
                    "steady_qps": rep.get("steady_qps"),
                    "ok": rep["statements"]["ok"],
                    "failed": rep["statements"]["failed"],
                    "p50": kind.get("service", {}).get("p50", 0.0),
                    "p99": kind.get("service", {}).get("p99", 0.0),
                    "max": kind.get("service", {}).get("max", 0.0),
                    "errors": rep["errors"],
                    "elapsed_s": rep["elapsed_s"],
                    "duration_s": span,
                    "cpu_server_s": round(process_cpu_seconds(srv.proc.pid) - cpu0, 2),
                    # The other two processes on the cores (MariaDB: shared with any
                    # other work on the server during the level).
                    "cpu_client_s": rep.get("cpu_client_s"),
                    "cpu_mariadb_s": (
                        round(process_cpu_seconds(db_pid) - db0, 2) if db_pid is not None else None
                    ),
                    "coordinator_peaks": coordinator_peaks(rep.get("coordinator", {})),
                    # CPU per answered query over the play alone (the connections'
                    # set-up before it left out), ms.
                    "play_cpu_ms_per_query": play_cpu_per_query(rep, cpu_trace),
                }
                if prof is not None:
                    row["profile"] = (
                        summarize(prof_path) if prof.error is None else {"error": prof.error}
                    )
                results["shardgate"].append(row)
                last_qps["shardgate"] = row["throughput_qps"]
                console.print(
                    f"[dim]shardgate {n:>5} clients: {row['throughput_qps']:8.1f} q/s  p99 {row['p99'] * 1e3:8.1f} ms[/dim]"
                )
            if "thread-per-connection" in sides:
                span = spans["thread-per-connection"]
                row = {
                    "clients": n,
                    "duration_s": span,
                    **run_baseline(trace, n, span, args.shards),
                }
                results["thread-per-connection"].append(row)
                last_qps["thread-per-connection"] = row["throughput_qps"]
                console.print(
                    f"[dim]threads   {n:>5} clients: {row['throughput_qps']:8.1f} q/s  p99 {row['p99'] * 1e3:8.1f} ms[/dim]"
                )
    table = []
    for i, n in enumerate(levels):
        line: list[Any] = [n]
        for s in sides:
            r = results[s][i]
            steady = r.get("steady_qps")
            line += [
                r["throughput_qps"],
                steady if steady is not None else "—",
                r["p50"] * 1e3,
                r["p99"] * 1e3,
            ]
        table.append(line)
    cols = ["clients"]
    for s in sides:
        short = "sg" if s == "shardgate" else "threads"
        cols += [f"{short} q/s", f"{short} steady", f"{short} p50 ms", f"{short} p99 ms"]
    print_table(
        f"scatter top-10 over {args.shards} shards, closed loop, ≥ {duration:g}s per level",
        cols,
        table,
    )
    summary: dict[str, Any] = {}
    for s in sides:
        # The goal reads each level's steady rate (its closed loop's first turn left
        # out, sharding.trace.report.steady_qps); the window's whole rate where the
        # level was too short to tell one.
        qps = [r["steady_qps"] or r["throughput_qps"] for r in results[s]]
        whole = [r["throughput_qps"] for r in results[s]]
        peak = max(qps) if qps else 0.0
        summary[s] = {
            "peak_qps": peak,
            "peak_at_clients": levels[qps.index(peak)] if qps else None,
            "at_max_clients_qps": qps[-1] if qps else 0.0,
            "ratio_max_to_peak": round(qps[-1] / peak, 3) if peak else None,
            "ratio_max_to_peak_whole_window": (
                round(whole[-1] / max(whole), 3) if whole and max(whole) else None
            ),
        }
    ours = summary.get("shardgate", {})
    met = bool(ours) and ours["ratio_max_to_peak"] is not None and ours["ratio_max_to_peak"] >= GOAL
    if ours:
        console.print(
            f"shardgate at {levels[-1]} clients: {ours['at_max_clients_qps']:.0f} q/s = {ours['ratio_max_to_peak']:.0%} of its peak "
            f"({ours['peak_qps']:.0f} q/s at {ours['peak_at_clients']}); goal ≥ {GOAL:.0%}: {'[green]met' if met else '[red]not met'}[/]"
        )
    data: dict[str, Any] = {
        "command": command_line("bench.concurrency", argv),
        "shards": args.shards,
        "rows": args.rows,
        "duration_s": duration,
        "levels": levels,
        "pool": POOL,
        "executor": {
            "buckets": args.buckets,
            "slots_per_bucket": args.slots,
            "window": args.window,
        },
        "server_gc_threshold": args.gc_threshold,
        "rlimit_nofile": nofile,
        "load_average": os.getloadavg(),
        "goal_ratio": GOAL,
        "goal_met": met,
        "summary": summary,
        "results": results,
    }

    def draw(ax: Any) -> None:
        colors = {"shardgate": "#1f77b4", "thread-per-connection": "#d62728"}
        ax2 = ax.twinx()
        for s in sides:
            xs = [r["clients"] for r in results[s]]
            ax.plot(
                xs,
                [r["throughput_qps"] for r in results[s]],
                "o-",
                color=colors.get(s),
                label=f"{s} throughput",
            )
            ax2.plot(
                xs,
                [r["p99"] * 1e3 for r in results[s]],
                "s--",
                color=colors.get(s),
                alpha=0.6,
                label=f"{s} p99",
            )
        ax.set_xscale("log", base=2)
        ax2.set_yscale("log")
        ax.set_xlabel("concurrent client connections")
        ax.set_ylabel("queries/s (solid)")
        ax2.set_ylabel("p99 latency ms (dashed)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"scatter top-10 over {args.shards} shards: throughput and p99 vs clients")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="lower left")

    return publish(name, data, draw)


if __name__ == "__main__":
    main()
