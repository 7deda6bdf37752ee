"""Start-up and point-query cost of ``shardgate serve`` on the embedded default (issue 15).

    python -m bench.serve_startup [--quick] [--base DIR] [--current DIR] [--repeat 5]
                                  [--queries 2000] [--no-bytecode-cache]

What ``make serve`` gives a newcomer: ``shardgate serve`` on SQLite shards in a fresh
data directory. Measured for each tree, in fresh processes:

* *start-up*: from starting the process until a MySQL connection (PyMySQL) is
  accepted — the port is read from the server's start-up line, then connects are
  tried until one succeeds — as wall time and as the server process's CPU time
  (user + system, from /proc: what a busy neighbour on a shared machine disturbs
  least);
* *point queries*: one table (``id`` primary key, 1,000 rows), then ``--queries``
  primary-key lookups ``SELECT id, v, name FROM t WHERE id = %s`` through one
  PyMySQL connection: wall time per query (median and mean) and the coordinator
  process's CPU time (user + system, from /proc) per query.

Baseline: the same measurements of another checkout (``--base DIR``, e.g. the commit
before the issue-15 work: ``mkdir /tmp/base && git archive f155516 | tar -x -C
/tmp/base``), run with the same interpreter and ``PYTHONPATH=DIR`` so only the code
differs (``--current DIR`` measures another checkout instead of this tree). Without
``--base`` the baseline is this tree itself (what the quick variant does: it checks
the benchmark runs, not the goal). Repeats interleave the two trees, so a busy neighbour taxes both
alike; the reported value of each metric is the median over repeats. Goal (issue 15):
every ratio current / baseline ≤ 1.10.

Bytecode: by default each tree's modules are compiled once, by an unmeasured warm-up
start, into a bytecode cache of this run (``PYTHONPYCACHEPREFIX`` in a temporary
directory, so nothing is written into the trees) — what a second ``make serve`` finds.
``--no-bytecode-cache`` sets ``PYTHONDONTWRITEBYTECODE=1`` instead, so every start
compiles every module from source (what an environment with that variable set pays:
start-up then grows with the amount of source, not only with what it runs).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymysql

from bench.args import positive_int
from bench.common import print_table, write_results
from bench.serve import _STARTED, die_with_parent, process_cpu_seconds, stop_process

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO = 1.10
ROWS = 1000
METRICS = ("startup_ms", "startup_cpu_ms", "point_p50_us", "point_mean_us", "cpu_per_query_us")


def _connect(port: int) -> pymysql.connections.Connection:
    return pymysql.connect(
        host="127.0.0.1", port=port, user="root", password="", autocommit=True, connect_timeout=5
    )


def measure(
    tree: Path, queries: int, start_timeout: float = 60.0, pycache: Path | None = None
) -> dict[str, float]:
    """One fresh ``shardgate serve`` of ``tree``: start-up, then point queries
    (``pycache``: the tree's bytecode cache; None: compile every module, module doc)."""
    data = Path(tempfile.mkdtemp(prefix="sg-serve-startup-"))
    env = dict(os.environ, PYTHONPATH=str(tree), MALLOC_ARENA_MAX="2")
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    log = open(data / "serve.log", "wb")  # noqa: SIM115 - closed in finally
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sharding.cli",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--data-dir",
            str(data / "shardgate"),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=str(tree),
        env=env,
        preexec_fn=die_with_parent,
    )
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        buf, port = b"", 0
        deadline = time.monotonic() + start_timeout
        while not port:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(
                    f"{tree}: shardgate serve did not start (exit {proc.poll()}):\n"
                    + (data / "serve.log").read_text(errors="replace")[-2000:]
                )
            chunk = proc.stdout.read()
            if chunk:
                buf += chunk
                m = _STARTED.search(buf.decode(errors="replace"))
                if m:
                    port = int(m.group(2))
                    break
            time.sleep(0.002)
        while True:
            try:
                conn = _connect(port)
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.002)
        startup = time.perf_counter() - started
        startup_cpu = process_cpu_seconds(proc.pid)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT, name VARCHAR(20))")
            for lo in range(0, ROWS, 250):
                cur.execute(
                    "INSERT INTO t VALUES "
                    + ", ".join(f"({i}, {i * 7}, 'name {i}')" for i in range(lo, lo + 250))
                )
            rng = random.Random(15)
            keys = [rng.randrange(ROWS) for _ in range(queries)]
            for k in keys[:50]:  # warm: plan cache, pooled shard connections
                cur.execute("SELECT id, v, name FROM t WHERE id = %s", (k,))
                cur.fetchall()
            times = []
            cpu0 = process_cpu_seconds(proc.pid)
            for k in keys:
                t0 = time.perf_counter()
                cur.execute("SELECT id, v, name FROM t WHERE id = %s", (k,))
                rows = cur.fetchall()
                times.append(time.perf_counter() - t0)
                if len(rows) != 1 or rows[0][0] != k:
                    raise RuntimeError(f"{tree}: id {k} answered {rows!r}")
            cpu = process_cpu_seconds(proc.pid) - cpu0
        conn.close()
        return {
            "startup_ms": startup * 1e3,
            "startup_cpu_ms": startup_cpu * 1e3,
            "point_p50_us": statistics.median(times) * 1e6,
            "point_mean_us": statistics.fmean(times) * 1e6,
            "cpu_per_query_us": cpu / queries * 1e6,
        }
    finally:
        stop_process(proc)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.serve_startup", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2 repeats of 200 queries")
    parser.add_argument("--base", type=Path, help="baseline checkout (default: this tree)")
    parser.add_argument(
        "--current", type=Path, help="checkout measured against it (default: this tree)"
    )
    parser.add_argument("--repeat", type=positive_int, help="repeats per tree (default 5)")
    parser.add_argument("--queries", type=positive_int, help="point queries (default 2000)")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile every module at every start (PYTHONDONTWRITEBYTECODE=1; module doc)",
    )
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 5)
    queries = args.queries or (200 if args.quick else 2000)
    base = (args.base or ROOT).resolve()
    current = (args.current or ROOT).resolve()
    for option, tree in (("--base", base), ("--current", current)):
        if not (tree / "sharding" / "cli.py").is_file():
            parser.error(f"{option} {tree}: not a shardgate checkout")
    trees = {"baseline": base, "current": current}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    caches = Path(tempfile.mkdtemp(prefix="sg-serve-startup-pycache-"))
    pycache = {name: None if args.no_bytecode_cache else caches / name for name in trees}
    try:
        if not args.no_bytecode_cache:
            for name in trees:  # unmeasured: fills the tree's bytecode cache
                measure(trees[name], 10, pycache=pycache[name])
        for i in range(repeat):
            order = list(trees) if i % 2 == 0 else list(reversed(trees))
            for name in order:
                runs[name].append(measure(trees[name], queries, pycache=pycache[name]))
    finally:
        shutil.rmtree(caches, ignore_errors=True)
    summary: dict[str, dict[str, float]] = {
        name: {m: round(statistics.median(r[m] for r in rs), 1) for m in METRICS}
        for name, rs in runs.items()
    }
    ratios = {
        m: round(summary["current"][m] / summary["baseline"][m], 3)
        if summary["baseline"][m]
        else None
        for m in METRICS
    }
    goal_met = all(r is not None and r <= GOAL_RATIO for r in ratios.values())
    print_table(
        f"shardgate serve on the embedded default ({repeat} repeats, {queries} point queries; "
        f"{'no bytecode cache' if args.no_bytecode_cache else 'bytecode cached'}; medians)",
        ["tree", *METRICS],
        [[name, *(summary[name][m] for m in METRICS)] for name in trees]
        + [["current / baseline", *(ratios[m] for m in METRICS)]],
    )
    print(f"goal: every ratio <= {GOAL_RATIO}: {'met' if goal_met else 'NOT met'}")
    write_results(
        ("serve_startup_quick" if args.quick else "serve_startup")
        + ("_no_bytecode_cache" if args.no_bytecode_cache else ""),
        {
            "trees": {name: str(path) for name, path in trees.items()},
            "baseline_is_current": base == current,
            "repeat": repeat,
            "bytecode_cache": not args.no_bytecode_cache,
            "queries": queries,
            "rows": ROWS,
            "runs": runs,
            "summary": summary,
            "ratios": ratios,
            "goal_ratio": GOAL_RATIO,
            "goal_met": goal_met,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
