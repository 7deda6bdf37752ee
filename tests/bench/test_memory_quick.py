"""``bench.memory --quick`` (issue 18's memory benchmark) runs end to end: every workload
— idle coordinator, ordered scan, window function at the coordinator, ``IN (SELECT …)``
at and over ``cluster.subquery_rows`` — is in the JSON with sane numbers; the window and
scan answers agree with MariaDB computing the same on a flat copy of the rows; the
over-the-bound subquery is reported as what it was (refused with a 1235 naming the
setting, or answered and checked); the PNG is written. Speed is never asserted, and the
RSS bound is reported by the benchmark, not asserted here (RSS depends on the machine).
"""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest

from tests.bench.conftest import BenchRun
from tests.conftest import MYSQL_HOST, MYSQL_PORT

pytestmark = pytest.mark.mysql


@pytest.fixture
def memory_run(bench_run: BenchRun) -> Iterator[BenchRun]:
    """The bench drops its databases itself; this catches a run that died half-way."""
    yield bench_run
    try:
        conn = pymysql.connect(
            host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
        )
    except pymysql.err.OperationalError:
        return
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            for (name,) in cur.fetchall():
                if name.startswith("sgmem_") and bench_run.suffix in name:
                    cur.execute(f"DROP DATABASE `{name}`")
            cur.execute("SHOW DATABASES LIKE 'shardgate_catalog'")
            if cur.fetchone():
                for table, col in (("tables", "db"), ("databases", "name")):
                    cur.execute(
                        f"DELETE FROM shardgate_catalog.{table} WHERE {col} LIKE %s",
                        (f"sgmem\\_%{bench_run.suffix}",),
                    )
    finally:
        conn.close()


@pytest.mark.slow  # a benchmark's quick run: ~20 s
def test_memory_quick_has_every_cell(memory_run: BenchRun) -> None:
    memory_run.ok("bench.memory", "--quick", timeout=180)
    d = memory_run.result("memory_quick")
    assert d["quick"] is True and d["shards"] == 64 and d["rows"] == 100_000
    assert d["workloads"] == ["idle", "scan", "window", "in_at_bound", "in_over"]
    s = d["settings"]
    bound = s["cluster.subquery_rows"]
    assert bound == 5000 and d["inner_rows"] == 2 * bound
    for key in ("cluster.union_rows", "cluster.chunk_rows", "cluster.merge_budget_rows"):
        assert s[key] >= 1, key
    assert s["executor.window"] >= 1 and s["chunk_per_shard"] >= 16
    cells = d["cells"]
    assert set(cells) == set(d["workloads"])
    for name, c in cells.items():
        assert c["peak_reset"] is True, name  # VmHWM reset after the warm-up
        assert 10 < c["idle_rss_mb"] <= c["peak_rss_mb"] + 1, name
        assert c["sampled_max_rss_mb"] <= c["peak_rss_mb"] + 1, name
        assert c["growth_mb"] == round(c["peak_rss_mb"] - c["idle_rss_mb"], 1), name
        assert c["budget_mb"] > 0 and c["bound_mb"] == round(c["idle_rss_mb"] + c["budget_mb"], 1)
        assert c["within_bound"] == (c["peak_rss_mb"] <= c["bound_mb"]), name
        assert c["seconds"] > 0 and c["cpu_seconds"] >= 0 and c["samples"] >= 2, name
        assert c["server_alive_after"] is True, name
        series = d["rss_series"][name]
        assert series and all(t >= 0 and rss > 0 for t, rss in series), name
    # streamed answers agree with MariaDB on the flat copy (count and checksums)
    for name in ("scan", "window", "in_at_bound"):
        c = cells[name]
        assert c["outcome"] == "answered", f"{name}: {c.get('error')}"
        assert c["correct"] is True, f"{name}: got {c} want {c['expected']}"
        assert c["rows"] == c["expected"]["rows"] > 0, name
    assert cells["scan"]["rows"] == d["rows"] and cells["scan"]["ordered"] is True
    w = cells["window"]
    assert w["rows"] == d["rows"]
    assert w["expected"]["sum_rn"] > w["rows"]  # partitions of more than one row
    assert w["window_at_coordinator"] is True, w["explain"]
    assert cells["in_at_bound"]["rows"] == bound
    # over the bound: refused naming the setting, or (should the coordinator learn to
    # answer it) answered right — never a silent cut
    over = cells["in_over"]
    if over["outcome"] == "refused":
        assert over["error_code"] == 1235 and "cluster.subquery_rows" in over["error"]
        assert over["correct"] is None
    else:
        assert over["outcome"] == "answered" and over["correct"] is True
        assert over["rows"] == d["inner_rows"]
    png = memory_run.results / "memory_quick.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_memory_bad_arguments_get_one_clear_line(memory_run: BenchRun) -> None:
    proc = memory_run.run("bench.memory", "--rows", "10", "--inner-rows", "20", timeout=60)
    assert proc.returncode == 2
    assert "--inner-rows must be <= --rows" in proc.stderr and "Traceback" not in proc.stderr
