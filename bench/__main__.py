"""``python -m bench quick|full [NAME ...]``: run the issue-6 benchmarks one after another.

``quick`` runs each benchmark's ``--quick`` variant (reduced sizes; all six together
take a few minutes — ``make bench-quick``); ``full`` runs the full variants (the join
loads 10M rows the first time: allow an hour). Names select a subset; the default is
all six: scatter, insert, concurrency, hol, starvation, join (``scatter`` is skipped,
with a note, while ``bench/scatter.py`` does not exist).

Each benchmark runs in its own interpreter (``python -m bench.<name>``) so one's
threads, event loops or memory cannot tax the next; its output streams through. The
summary table gives each one's status and wall time, and is written to
``bench/results/quick.json`` (or ``full.json``). Exit status 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, console, machine, print_table

ROOT = Path(__file__).resolve().parent.parent
SIX = ("scatter", "insert", "concurrency", "hol", "starvation", "join")
#: What ``quick`` promises (issue 6): all six in under five minutes.
QUICK_BUDGET_S = 300.0


def available(name: str) -> bool:
    return (ROOT / "bench" / f"{name}.py").exists()


def run_one(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    if not available(name):
        return {
            "name": name,
            "status": "missing",
            "seconds": 0.0,
            "note": f"bench/{name}.py does not exist yet",
        }
    cmd = [sys.executable, "-m", f"bench.{name}"] + (["--quick"] if quick else [])
    console.rule(f"[bold]{' '.join(cmd[1:])}")
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=str(ROOT), timeout=timeout, check=False)
        status = "ok" if proc.returncode == 0 else f"failed ({proc.returncode})"
    except subprocess.TimeoutExpired:
        status = f"timed out after {timeout:g}s"
    return {"name": name, "status": status, "seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None, prog: str = "python -m bench") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("mode", choices=("quick", "full"))
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"subset of: {', '.join(SIX)}")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per benchmark")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SIX]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(SIX)}")
    quick = args.mode == "quick"
    names = args.names or list(SIX)
    timeout = args.timeout or (600.0 if quick else 4 * 3600.0)
    # bench.common.save_plot does not create the folder (and starvation plots before
    # it writes its JSON): make it exist for every child.
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs = [run_one(n, quick, timeout) for n in names]
    total = round(time.perf_counter() - started, 1)
    print_table(
        f"python -m bench {args.mode}: {total:g}s in total",
        ["benchmark", "status", "seconds"],
        [
            (r["name"], r["status"] + (f" — {r['note']}" if r.get("note") else ""), r["seconds"])
            for r in runs
        ],
    )
    within = None
    if quick and not args.names:
        within = total <= QUICK_BUDGET_S
        console.print(
            f"quick budget {QUICK_BUDGET_S:g}s: {'met' if within else 'NOT met'} ({total:g}s)"
        )
    out = RESULTS / f"{args.mode}.json"
    payload = {
        "benchmark": args.mode,
        "command": " ".join(
            ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])]
        ),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "total_seconds": total,
        "budget_seconds": QUICK_BUDGET_S if quick else None,
        "within_budget": within,
        "runs": runs,
        "load_average": os.getloadavg(),
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    console.print(f"[dim]wrote {out}[/dim]")
    failed = [r for r in runs if r["status"] not in ("ok", "missing")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
