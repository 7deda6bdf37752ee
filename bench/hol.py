"""Head-of-line isolation: fast-query p99 next to 5 % one-second queries, three pool shapes.

An open-loop trace (Poisson arrivals, ``--rate`` per second) mixes **fast** queries —
``SELECT COUNT(*), SUM(v) FROM fast WHERE k = ?`` scattered over ``--fast-shards`` (8)
shards, a few ms — with **5 %** **slow** ones that take one second on MariaDB:
``SELECT id, SLEEP(1) FROM slow WHERE id = ?`` (``--slow-shards 1``: a slow statement
holds one slot, like seed 002's slow SQL holding a pool thread; with ``--slow-shards
4`` it is a scatter whose four children each sleep). Every query runs through
``shardgate serve`` (MariaDB behind it), replayed with ``shardgate replay``; the same
trace is played against three executor shapes with the same total slots:

* **least_loaded** (ours, the default): ``buckets × slots_per_bucket`` (8 × 4), a query
  goes to the less loaded of two random buckets;
* **hash**: the same buckets, a query goes to ``hash(session) mod buckets`` — MySQL's
  static thread groups;
* **global pool**: one bucket of 32 slots.

Each shape is measured unloaded (the fast queries alone, same arrival times) and
loaded. Goal (issue 6): ours keeps the fast-query p99 ≤ 3 × its unloaded p99.

Latency counts from each query's due time. A session (connection) is never asked for
a statement while its previous one is still expected to run, so the client's own
per-connection queueing adds (almost) no head-of-line blocking of its own; the report
keeps the queue wait and the service time apart.

Each shape runs ``--rounds`` times (3; shapes interleaved), and the table shows the
median over rounds of each percentile: this machine's own hiccups (other processes on
the two cores) move single-round p99s by tens of ms.

    python -m bench.hol [--quick] [--rate 100] [--duration 20] [--rounds 3] [--slow-shards 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.args import command_line, positive_float, positive_int
from bench.common import console, print_table, publish
from bench.concurrency import replay_level
from bench.serve import config_text, db_name, drop_sharded, marker_get, marker_set, served
from sharding.trace.format import TraceRecord, TraceWriter

DATABASE = db_name("sgb_hol")
GOAL = 3.0
SLOW_SHARE = 0.05
SLOW_SECONDS = 1.0
FAST_ROWS = 8000
SLOW_ROWS = 800
KEYS = 100


def shapes(buckets: int, slots: int, window: int) -> dict[str, dict[str, Any]]:
    return {
        "least_loaded": {
            "buckets": buckets,
            "slots_per_bucket": slots,
            "window": window,
            "assign": "least_loaded",
        },
        "hash": {"buckets": buckets, "slots_per_bucket": slots, "window": window, "assign": "hash"},
        "global pool": {
            "buckets": 1,
            "slots_per_bucket": buckets * slots,
            "window": window,
            "assign": "least_loaded",
        },
    }


def make_trace(
    path: Path, *, rate: float, duration: float, slow_shards: int, with_slow: bool, seed: int
) -> dict[str, int]:
    """Write the trace; returns counts per kind.

    Sessions are like an application's connection pool: any query takes the first
    session whose previous statement is expected to be over (fast: 0.5 s; slow:
    ``slow_shards`` s + 1 s — batched shard reads may run one after another), else a
    new one, so the client's own per-connection queueing adds (almost) no head-of-line
    blocking of its own; the report's queue wait shows what remains. Fast and slow
    queries share sessions, as they do in an application — which matters for
    ``hash``, where the session decides the bucket."""
    rng = random.Random(seed)
    t = 0.0
    free_at: list[float] = []
    counts = {"fast": 0, "slow": 0}
    with TraceWriter(path) as w:
        while True:
            t += rng.expovariate(rate)
            if t >= duration:
                break
            slow = rng.random() < SLOW_SHARE
            key = rng.randrange(KEYS)
            first = rng.randrange(SLOW_ROWS // 8) * 8  # mod rule: id first + i is on shard i
            if slow and not with_slow:
                continue  # the unloaded trace: same fast arrivals, slow ones left out
            session = next((i for i, f in enumerate(free_at) if f <= t), len(free_at))
            if session == len(free_at):
                free_at.append(0.0)
            if slow:
                ids = ", ".join(str(first + i) for i in range(slow_shards))
                sql = f"SELECT id, SLEEP({SLOW_SECONDS:g}) FROM {DATABASE}.slow WHERE id IN ({ids})"
                free_at[session] = t + SLOW_SECONDS * slow_shards + 1.0
            else:
                sql = f"SELECT COUNT(*), SUM(v) FROM {DATABASE}.fast WHERE k = {key}"
                free_at[session] = t + 0.5
            kind = "slow" if slow else "fast"
            counts[kind] += 1
            w.write(TraceRecord(round(t, 6), session + 1, sql, kind))
    counts["sessions"] = len(free_at)
    return counts


def ensure_data(target_conn: Any, fast_shards: int, slow_shards: int) -> None:
    """Create and fill both tables through shardgate unless the marker says they exist."""
    fingerprint = json.dumps(
        {"fast_shards": fast_shards, "slow_shards": slow_shards, "rows": FAST_ROWS, "v": 1}
    )
    if marker_get(DATABASE) == fingerprint:
        return
    marker_set(DATABASE, None)
    with target_conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {DATABASE}.fast")
        cur.execute(f"DROP TABLE IF EXISTS {DATABASE}.slow")
        # shard rules come from the [[tables]] of the config (mod on id)
        cur.execute(
            f"CREATE TABLE {DATABASE}.fast (id INT PRIMARY KEY, k INT NOT NULL, v INT NOT NULL, KEY ik (k))"
        )
        cur.execute(f"CREATE TABLE {DATABASE}.slow (id INT PRIMARY KEY)")
        for first in range(0, FAST_ROWS, 1000):
            cur.execute(
                f"INSERT INTO {DATABASE}.fast VALUES "
                + ",".join(f"({i}, {i % KEYS}, {i * 7 % 1000})" for i in range(first, first + 1000))
            )
        cur.execute(
            f"INSERT INTO {DATABASE}.slow VALUES " + ",".join(f"({i})" for i in range(SLOW_ROWS))
        )
    marker_set(DATABASE, fingerprint)


def run_shape(
    name: str,
    executor: dict[str, Any],
    traces: dict[str, Path],
    duration: float,
    workdir: Path,
    fast_shards: int,
    slow_shards: int,
    round_no: int,
) -> dict[str, Any]:
    """One round of one shape: a fresh server, a warm-up, the unloaded then the loaded run."""
    config = config_text(
        database=DATABASE,
        executor=executor,
        datasource={"max_connections": 96, "acquire_timeout": 30.0},
        tables=[
            {
                "name": f"{DATABASE}.fast",
                "shard_key": "id",
                "algorithm": "mod",
                "shards": fast_shards,
                "datasources": ["m0"],
            },
            {
                "name": f"{DATABASE}.slow",
                "shard_key": "id",
                "algorithm": "mod",
                "shards": max(slow_shards, 8),
                "datasources": ["m0"],
            },
        ],
    )
    out: dict[str, Any] = {"executor": executor}
    with served(config) as srv:
        with srv.connect() as conn:
            ensure_data(conn, fast_shards, slow_shards)
        # warm the plan cache and the pool on the fast query
        replay_level(srv.target, traces["warm"], 1.0, workdir / f"warm_{name}_{round_no}.json")
        for load, trace in (("unloaded", traces["unloaded"]), ("loaded", traces["loaded"])):
            rep = replay_level(
                srv.target, trace, duration + 30, workdir / f"{name}_{load}_{round_no}.json"
            )
            kinds = rep["kinds"]
            fast = kinds.get("fast", {})
            out[load] = {
                "fast_ok": fast.get("ok", 0),
                "fast_failed": fast.get("failed", 0),
                "fast_latency": fast.get("latency", {}),
                "fast_service": fast.get("service", {}),
                "fast_queue": fast.get("queue", {}),
                "slow_ok": kinds.get("slow", {}).get("ok", 0),
                "slow_latency": kinds.get("slow", {}).get("latency", {}),
                "errors": rep["errors"],
                "throughput_qps": rep["throughput_qps"],
                "max_dispatch_lag_s": rep["dispatch"]["max_lag_s"],
                "pool_peaks": {
                    c: v["peak"]
                    for c, v in rep.get("coordinator", {})
                    .get("thread_pool_status", {})
                    .get("columns", {})
                    .items()
                    if c in ("active", "queued_low", "queued_high", "oversubscribed", "stalled")
                },
            }
            console.print(
                f"[dim]#{round_no} {name:12} {load:8}: fast p50 {fast.get('latency', {}).get('p50', 0) * 1e3:7.1f} ms "
                f"p99 {fast.get('latency', {}).get('p99', 0) * 1e3:7.1f} ms ({fast.get('ok', 0)} ok)[/dim]"
            )
    return out


def aggregate(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One shape over its rounds: medians of the per-round percentiles (the machine's
    own hiccups hit one round's p99, not the median), worst max, every round kept."""

    def med(load: str, group: str, key: str) -> float:
        return float(statistics.median(r[load][group].get(key, 0.0) for r in rounds))

    out: dict[str, Any] = {"executor": rounds[0]["executor"], "rounds": rounds}
    for load in ("unloaded", "loaded"):
        errors: dict[str, Any] = {}
        for r in rounds:
            errors.update(r[load]["errors"])
        out[load] = {
            "fast_ok": min(r[load]["fast_ok"] for r in rounds),
            "fast_failed": sum(r[load]["fast_failed"] for r in rounds),
            "slow_ok": min(r[load]["slow_ok"] for r in rounds),
            "errors": errors,
            "fast_p99_rounds": [r[load]["fast_latency"].get("p99", 0.0) for r in rounds],
            "fast_latency": {
                "p50": med(load, "fast_latency", "p50"),
                "p99": med(load, "fast_latency", "p99"),
                "max": max(r[load]["fast_latency"].get("max", 0.0) for r in rounds),
            },
            "fast_service": {"p99": med(load, "fast_service", "p99")},
            "fast_queue": {"p99": med(load, "fast_queue", "p99")},
            "slow_latency": {
                "min": min((r[load]["slow_latency"].get("min", 0.0) for r in rounds), default=0.0),
                "p50": med(load, "slow_latency", "p50"),
            },
        }
    un = out["unloaded"]["fast_latency"]["p99"]
    lo = out["loaded"]["fast_latency"]["p99"]
    out["p99_ratio"] = round(lo / un, 2) if un else None
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--rate", type=positive_float, default=100.0, help="queries per second (fast + slow)"
    )
    parser.add_argument(
        "--duration", type=positive_float, default=None, help="seconds of trace per run"
    )
    parser.add_argument("--buckets", type=positive_int, default=8)
    parser.add_argument("--slots", type=positive_int, default=4, help="slots per bucket")
    parser.add_argument("--window", type=positive_int, default=4)
    parser.add_argument("--fast-shards", type=positive_int, default=8)
    parser.add_argument("--slow-shards", type=positive_int, default=1)
    parser.add_argument(
        "--rounds", type=positive_int, default=None, help="rounds over all shapes (median kept)"
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--reset", action="store_true", help="drop and reload the tables")
    args = parser.parse_args(argv)
    if args.slow_shards > 8:
        parser.error("--slow-shards must be <= 8 (the slow table has 8 shards)")
    duration = args.duration or (3.0 if args.quick else 20.0)
    workdir = Path(tempfile.mkdtemp(prefix="shardgate-bench-hol-"))
    if args.reset:
        marker_set(DATABASE, None)
        drop_sharded(DATABASE, 64)
    traces = {
        "loaded": workdir / "loaded.jsonl",
        "unloaded": workdir / "unloaded.jsonl",
        "warm": workdir / "warm.jsonl",
    }
    counts = make_trace(
        traces["loaded"],
        rate=args.rate,
        duration=duration,
        slow_shards=args.slow_shards,
        with_slow=True,
        seed=args.seed,
    )
    make_trace(
        traces["unloaded"],
        rate=args.rate,
        duration=duration,
        slow_shards=args.slow_shards,
        with_slow=False,
        seed=args.seed,
    )
    make_trace(
        traces["warm"],
        rate=50,
        duration=1.0,
        slow_shards=args.slow_shards,
        with_slow=False,
        seed=args.seed + 1,
    )
    rounds = args.rounds or (1 if args.quick else 3)
    started = time.perf_counter()
    per_shape: dict[str, list[dict[str, Any]]] = {}
    for round_no in range(rounds):  # shapes interleaved: a slow minute hits all alike
        for name, executor in shapes(args.buckets, args.slots, args.window).items():
            per_shape.setdefault(name, []).append(
                run_shape(
                    name,
                    executor,
                    traces,
                    duration,
                    workdir,
                    args.fast_shards,
                    args.slow_shards,
                    round_no,
                )
            )
    results = {name: aggregate(rs) for name, rs in per_shape.items()}
    rows = []
    for name, r in results.items():
        rows.append(
            (
                name,
                r["unloaded"]["fast_latency"].get("p50", 0) * 1e3,
                r["unloaded"]["fast_latency"].get("p99", 0) * 1e3,
                r["loaded"]["fast_latency"].get("p50", 0) * 1e3,
                r["loaded"]["fast_latency"].get("p99", 0) * 1e3,
                r["loaded"]["fast_latency"].get("max", 0) * 1e3,
                r["loaded"]["fast_service"].get("p99", 0) * 1e3,
                r["p99_ratio"],
                r["loaded"]["slow_ok"],
            )
        )
    print_table(
        f"fast-query latency with {SLOW_SHARE:.0%} {SLOW_SECONDS:g}s queries, {args.rate:g} q/s, {duration:g}s × {rounds} rounds (medians) "
        f"({args.buckets}×{args.slots} slots, window {args.window}, slow on {args.slow_shards} shard(s))",
        [
            "shape",
            "unloaded p50 ms",
            "unloaded p99 ms",
            "loaded p50 ms",
            "loaded p99 ms",
            "loaded max ms",
            "loaded service p99 ms",
            "p99 ratio",
            "slow done",
        ],
        rows,
    )
    ours = results["least_loaded"]["p99_ratio"]
    met = ours is not None and ours <= GOAL
    console.print(
        f"least_loaded fast p99 loaded/unloaded = {ours}; goal ≤ {GOAL:g}×: {'[green]met' if met else '[red]not met'}[/]"
    )
    data: dict[str, Any] = {
        "command": command_line("bench.hol", argv),
        "rate": args.rate,
        "duration_s": duration,
        "rounds": rounds,
        "slow_share": SLOW_SHARE,
        "slow_seconds": SLOW_SECONDS,
        "buckets": args.buckets,
        "slots_per_bucket": args.slots,
        "window": args.window,
        "fast_shards": args.fast_shards,
        "slow_shards": args.slow_shards,
        "trace_counts": counts,
        "load_average": os.getloadavg(),
        "wall_s": round(time.perf_counter() - started, 1),
        "goal_ratio": GOAL,
        "goal_met": met,
        "ratio": ours,
        "shapes": results,
    }

    def draw(ax: Any) -> None:
        names = list(results)
        x = range(len(names))
        un = [results[n]["unloaded"]["fast_latency"].get("p99", 0) * 1e3 for n in names]
        lo = [results[n]["loaded"]["fast_latency"].get("p99", 0) * 1e3 for n in names]
        ax.bar([i - 0.2 for i in x], un, 0.4, label="fast p99, unloaded", color="#9ecae1")
        ax.bar(
            [i + 0.2 for i in x],
            lo,
            0.4,
            label=f"fast p99, with {SLOW_SHARE:.0%} slow (1 s)",
            color="#1f77b4",
        )
        ax.axhline(
            GOAL * un[0],
            color="red",
            linestyle="--",
            linewidth=1,
            label=f"goal: {GOAL:g}× unloaded (least_loaded)",
        )
        ax.set_xticks(list(x), names)
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title("head-of-line isolation: fast-query p99")
        ax.legend(fontsize=8)

    name = (
        "hol"
        + (f"_slow{args.slow_shards}" if args.slow_shards != 1 else "")
        + ("_quick" if args.quick else "")
    )
    return publish(name, data, draw)


if __name__ == "__main__":
    main()
