"""Planner micro-benchmarks (issue 3, acceptance 3), each against a baseline measured
in the same run:

* plan a point SELECT: cold (lexer + sqlglot parse + plan) vs cached (lexer + lookup
  + bind);
* per-shard SQL: template fill vs re-rendering the sqlglot AST for every shard (the
  "AST route");
* INSERT split of 1000 rows × 20 columns on 1024 shards (goal ≤ 15 ms) vs sqlglot
  parsing the same INSERT;
* k-way merge throughput of :class:`~sharding.merge.merge_sort.MergeSort` (SQLite
  ordering keys, async batches) vs ``heapq.merge`` and ``sorted()`` on the same rows.

    python bench/planner.py            # prints a table, writes bench/results/planner.json
    python -m bench.planner --against d995bd1 --rounds 5
        # "no regression" (issue 13): this file's measurements of this tree's code and
        # of an older commit's code (extracted with git archive into a temporary
        # directory, put first on sys.path of the child: same measuring code, other
        # code measured), run as alternating subprocesses so machine load hits both
        # alike; prints medians and ratios, writes bench/results/planner_ab.json

Times are CPU seconds of this process (``time.process_time``), not wall time: on a
shared 2-core machine wall time swings by 2× with other load, CPU time by ~5%.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.args import positive_int  # noqa: E402  (this tree's, before CODE may move sys.path)

#: A/B runs (``--against``): the tree whose ``sharding``/``executor`` code is measured,
#: first on sys.path of the child process; unset: this tree.
CODE = os.environ.get("SHARDGATE_PLANNER_CODE")
if CODE:
    sys.path.insert(0, CODE)

import sqlglot  # noqa: E402
import structlog  # noqa: E402
import trio  # noqa: E402

from sharding import Coordinator, Topology  # noqa: E402
from sharding.merge.merge_sort import MergeSort  # noqa: E402
from sharding.merge.semantics import SQLITE, SortItem  # noqa: E402
from sharding.merge.types import ListSource, collect  # noqa: E402
from sharding.sql.insert import scan_insert  # noqa: E402
from sharding.sql.insert_plan import prepare_insert  # noqa: E402
from sharding.sql.rewrite import render_template  # noqa: E402

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def timeit(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> float:
    """Median CPU seconds per call."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        samples.append(time.process_time() - t)
    return statistics.median(samples)


async def atimeit(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(repeat):
        t = time.process_time()
        await fn()
        samples.append(time.process_time() - t)
    return statistics.median(samples)


def insert_sql(rows: int = 1000, cols: int = 20, seed: int = 1) -> str:
    rng = random.Random(seed)
    names = ", ".join(f"c{i}" for i in range(cols))
    values = []
    for r in range(rows):
        row = [str(r)]
        for i in range(1, cols):
            row.append(f"'v{r}_{i}'" if i % 2 else f"{rng.random():.6f}")
        values.append("(" + ", ".join(row) + ")")
    return f"INSERT INTO wide ({names}) VALUES {', '.join(values)}"


async def bench(results: dict[str, Any]) -> None:
    data = Path(tempfile.mkdtemp(prefix="shardgate-planner-"))
    topo = Topology.default(data, default_shards=1024).with_executor(
        buckets=2, slots_per_bucket=8, window=8
    )
    async with Coordinator(topo, catalog_refresh=None) as coord:
        await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, k INT, v VARCHAR(20), c DOUBLE)")
        cols = ", ".join(
            f"c{i} {'INT' if i == 0 else 'TEXT' if i % 2 else 'DOUBLE'}" for i in range(20)
        )
        await coord.execute(f"CREATE TABLE wide ({cols}, PRIMARY KEY (c0))")
        session = coord.open_session()
        point = "SELECT id, k, v FROM t WHERE id = 42"

        async def cold() -> None:
            coord.plan_cache.clear()
            await session._prepare(point, None, kind="select")

        async def cached() -> None:
            await session._prepare(point, None, kind="select")

        results["plan_point_cold_us"] = round(await atimeit(cold, 300) * 1e6, 1)
        results["plan_point_cached_us"] = round(await atimeit(cached, 3000) * 1e6, 1)
        results["plan_cache_speedup"] = round(
            results["plan_point_cold_us"] / results["plan_point_cached_us"], 1
        )

        # Per-shard SQL: template fill vs rendering the AST once per shard.
        prepared = await session._prepare(
            "SELECT id, v FROM t WHERE k > 5 ORDER BY v, id", None, kind="select"
        )
        plan = prepared.plan
        read = plan.scatter.child.read if hasattr(plan.scatter, "child") else plan.scatter.read
        bound = read.template.bind(prepared.texts)
        from sharding.exec.targets import physical_names

        names = [(n[2],) for n in physical_names(read.tables[0], "sqlite")]
        fill = timeit(lambda: [bound.fill(n, "1") for n in names], 50) / len(names)
        tree = sqlglot.parse_one("SELECT id, v FROM t WHERE k > 5 ORDER BY v, id", read="mysql")
        from sqlglot import exp

        tree.find(exp.Table).meta["sg_hole"] = 0
        ast = timeit(lambda: render_template(tree, "sqlite"), 200)
        results["template_fill_per_shard_us"] = round(fill * 1e6, 2)
        results["ast_render_per_shard_us"] = round(ast * 1e6, 1)
        results["template_speedup"] = round(ast / fill, 1)
        results["ast_route_1024_shards_ms"] = round(ast * 1024 * 1e3, 1)
        results["template_1024_shards_ms"] = round(fill * 1024 * 1e3, 3)

        # INSERT split, 1000 × 20 on 1024 shards (no execution).
        sql = insert_sql()
        info = coord.catalog.get("db", "wide")
        assert info is not None

        def split() -> None:
            parsed = scan_insert(sql)
            prepared_insert = prepare_insert(sql, parsed, info, coord.semantics, None)
            rows = prepared_insert.finish([])
            assert rows.rows == 1000

        results["insert_split_ms"] = round(timeit(split, 30) * 1e3, 2)
        results["insert_sqlglot_parse_ms"] = round(
            timeit(lambda: sqlglot.parse_one(sql, read="mysql"), 3, warmup=1) * 1e3, 1
        )
        results["insert_speedup"] = round(
            results["insert_sqlglot_parse_ms"] / results["insert_split_ms"], 1
        )
        results["insert_goal_ms"] = 15.0
        results["insert_within_goal"] = results["insert_split_ms"] <= 15.0

    # Merge throughput: 64 sorted sources × 4096 rows.
    rng = random.Random(3)
    k, per = 64, 4096
    key = SQLITE.sort_key([SortItem(0), SortItem(1, True)])
    sources = [
        sorted([(rng.randint(0, 10_000), rng.choice("abcdefgh"), i) for i in range(per)], key=key)
        for _ in range(k)
    ]
    total = k * per

    async def ours() -> None:
        out = await collect(MergeSort([ListSource(s, chunk=256) for s in sources], key))
        assert len(out) == total

    def hq() -> None:
        out = list(heapq.merge(*sources, key=key))
        assert len(out) == total

    def srt() -> None:
        out = sorted([r for s in sources for r in s], key=key)
        assert len(out) == total

    t_ours = await atimeit(ours, 5, warmup=1)
    t_heapq = timeit(hq, 5, warmup=1)
    t_sorted = timeit(srt, 5, warmup=1)
    results["merge_rows"] = total
    results["merge_sources"] = k
    results["merge_sort_rows_per_s"] = round(total / t_ours)
    results["heapq_merge_rows_per_s"] = round(total / t_heapq)
    results["sorted_rows_per_s"] = round(total / t_sorted)
    results["merge_vs_heapq"] = round(t_heapq / t_ours, 2)
    results["merge_vs_sorted"] = round(t_sorted / t_ours, 2)


# What the A/B run compares: result key, label, whether a larger value is better.
AB_MEASURES: list[tuple[str, str, bool]] = [
    ("plan_point_cold_us", "plan point SELECT, cold (µs)", False),
    ("plan_point_cached_us", "plan point SELECT, cached (µs)", False),
    ("template_fill_per_shard_us", "per-shard SQL, template fill (µs)", False),
    ("insert_split_ms", "INSERT split 1000×20 → 1024 shards (ms)", False),
    ("merge_sort_rows_per_s", "MergeSort 64-way (rows/s)", True),
    ("merge_vs_heapq", "MergeSort / heapq.merge in its own run", True),
]
# A measure regresses when this tree's median is worse than the old one's by more than
# this fraction (the run-to-run spread of one tree on a 2-core machine is ~10%).
AB_TOLERANCE = 0.15


def _one_run(code: Path | None, out: Path) -> dict[str, Any]:
    """One run of this file's measurements in a fresh interpreter, over ``code``'s
    sharding/executor (None: this tree's)."""
    import subprocess

    env = dict(os.environ)
    env.pop("SHARDGATE_PLANNER_CODE", None)
    if code is not None:
        env["SHARDGATE_PLANNER_CODE"] = str(code)
    command = [sys.executable, str(ROOT / "bench" / "planner.py"), "--out", str(out)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def against(revision: str, rounds: int) -> None:
    """Alternate runs of this tree and ``revision``; compare medians (see module doc)."""
    import subprocess

    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory(prefix="planner-ab-") as tmp:
        old_tree = Path(tmp) / "old"
        old_tree.mkdir()
        archive = subprocess.run(
            ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive, check=True)
        ours: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        for round_no in range(rounds):
            # Alternate which tree goes first so a drifting load does not favour one.
            order: list[tuple[str, Path | None]] = [("ours", None), ("old", old_tree)]
            if round_no % 2:
                order.reverse()
            for name, code in order:
                out = Path(tmp) / f"{name}-{round_no}.json"
                (ours if name == "ours" else theirs).append(_one_run(code, out))
    rows = []
    for key, label, higher_better in AB_MEASURES:
        mine = statistics.median(r[key] for r in ours)
        old = statistics.median(r[key] for r in theirs)
        speed = (mine / old) if higher_better else (old / mine)  # > 1: this tree is faster
        rows.append(
            {
                "measure": key,
                "label": label,
                "this_tree": mine,
                "old": old,
                "this_tree_runs": [r[key] for r in ours],
                "old_runs": [r[key] for r in theirs],
                "speed_vs_old": round(speed, 3),
                "regression": speed < 1 - AB_TOLERANCE,
            }
        )
    table = Table(title=f"planner: this tree vs {revision} ({rounds} alternating runs, median)")
    for column in ("measure", "this tree", revision, "speed vs old", "verdict"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for row in rows:
        verdict = "REGRESSION" if row["regression"] else "no regression"
        table.add_row(
            row["label"],
            f"{row['this_tree']:,}",
            f"{row['old']:,}",
            f"{row['speed_vs_old']}x",
            verdict,
        )
    Console().print(table)
    result = {
        "against": revision,
        "rounds": rounds,
        "tolerance": AB_TOLERANCE,
        "measures": rows,
        "regressions": [r["measure"] for r in rows if r["regression"]],
    }
    out = ROOT / "bench" / "results" / "planner_ab.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    import argparse

    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--against", metavar="REV", help="compare with this git revision")
    parser.add_argument("--rounds", type=positive_int, default=5, help="runs per tree (A/B)")
    parser.add_argument("--out", type=Path, help="write the results JSON here instead")
    args = parser.parse_args()
    if args.against:
        against(args.against, args.rounds)
        return
    results: dict[str, Any] = {}
    # Which code was measured (an A/B child must not silently measure this tree).
    import sharding

    results["code"] = str(Path(sharding.__file__).resolve().parent.parent)
    if CODE:
        assert Path(results["code"]) == Path(CODE).resolve(), results["code"]
    trio.run(bench, results)
    table = Table(title="shardgate planner benchmarks (median)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("baseline (same run)", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row("plan point SELECT, cold", f"{results['plan_point_cold_us']} µs", "", "")
    table.add_row(
        "plan point SELECT, cached",
        f"{results['plan_point_cached_us']} µs",
        f"cold {results['plan_point_cold_us']} µs",
        f"{results['plan_cache_speedup']}x",
    )
    table.add_row(
        "per-shard SQL: template fill",
        f"{results['template_fill_per_shard_us']} µs",
        f"AST render {results['ast_render_per_shard_us']} µs",
        f"{results['template_speedup']}x",
    )
    table.add_row(
        "  … for 1024 shards",
        f"{results['template_1024_shards_ms']} ms",
        f"{results['ast_route_1024_shards_ms']} ms",
        "",
    )
    table.add_row(
        "INSERT split 1000×20 → 1024 shards",
        f"{results['insert_split_ms']} ms (goal ≤ 15)",
        f"sqlglot parse {results['insert_sqlglot_parse_ms']} ms",
        f"{results['insert_speedup']}x",
    )
    table.add_row(
        f"MergeSort {results['merge_sources']}-way, {results['merge_rows']} rows",
        f"{results['merge_sort_rows_per_s']:,} rows/s",
        f"heapq.merge {results['heapq_merge_rows_per_s']:,} / sorted() {results['sorted_rows_per_s']:,}",
        f"{results['merge_vs_heapq']}x / {results['merge_vs_sorted']}x",
    )
    Console().print(table)
    out = args.out or ROOT / "bench" / "results" / "planner.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
