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
"""

from __future__ import annotations

import heapq
import json
import logging
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
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


async def atimeit(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - t)
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


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    results: dict[str, Any] = {}
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
    out = ROOT / "bench" / "results" / "planner.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
