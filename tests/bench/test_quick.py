"""The quick variants of the issue-6 benchmarks run end to end and write well-formed
results (JSON with the machine and command, a PNG). Speed is never asserted here —
speed targets live in the benchmarks' own reports — only that every measured query
ran, results agree with their baselines where they must (the join), and the recorded
verdicts are consistent with the recorded numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bench.conftest import BenchRun

pytestmark = pytest.mark.mysql

JAVA_READY = (
    Path("/usr/share/java/mariadb-java-client.jar").exists()
    and shutil.which("java") is not None
    and shutil.which("javac") is not None
)


def _png(run: BenchRun, name: str) -> None:
    path = run.results / f"{name}.png"
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(
    not JAVA_READY,
    reason="needs java + javac and MariaDB Connector/J (apt-get install libmariadb-java)",
)
def test_insert_quick(bench_run: BenchRun) -> None:
    bench_run.ok("bench.insert", "--quick")
    d = bench_run.result("insert_quick")
    expected_rows = d["threads"] * d["batches"] * d["rows_per_batch"]
    assert {r["case"] for r in d["runs"]} == set(d["summary"]) and "shardgate" in d["summary"]
    assert all(r["count"] == expected_rows == r["rows"] for r in d["runs"])
    assert d["summary"]["direct"]["ratio_vs_direct"] == 1.0
    for s in d["summary"].values():
        assert s["rows_per_s"] > 0 and s["seconds"] > 0
    assert d["ratio"] == d["summary"]["shardgate"]["ratio_vs_direct"]
    assert d["goal_met"] == (d["ratio"] >= d["goal_ratio"])
    _png(bench_run, "insert_quick")


@pytest.mark.slow  # a benchmark's quick run: 20-50 s
def test_concurrency_quick(bench_run: BenchRun) -> None:
    bench_run.ok("bench.concurrency", "--quick")
    d = bench_run.result("concurrency_quick")
    levels = d["levels"]
    assert levels == sorted(levels) and len(levels) >= 2
    for side in ("shardgate", "thread-per-connection"):
        rows = d["results"][side]
        assert [r["clients"] for r in rows] == levels
        for r in rows:
            assert r["ok"] > 0 and r["throughput_qps"] > 0
            assert 0 < r["p50"] <= r["p99"] <= r["max"]
            assert r["steady_qps"] is None or r["steady_qps"] > 0
        # The goal reads the steady rate (the whole window's where a level is too short).
        qps = [r["steady_qps"] or r["throughput_qps"] for r in rows]
        assert d["summary"][side]["peak_qps"] == max(qps)
        assert d["summary"][side]["ratio_max_to_peak"] == round(qps[-1] / max(qps), 3)
    for r in d["results"]["shardgate"]:
        # CPU per query over the play alone, for the server and the replay client.
        play = r["play_cpu_ms_per_query"]
        assert play["server"] is not None and play["server"] > 0
        assert play["client"] is not None and play["client"] > 0
    assert all(not r["errors"] and r["failed"] == 0 for r in d["results"]["shardgate"])
    assert all(r["errors"] == 0 for r in d["results"]["thread-per-connection"])
    assert d["goal_met"] == (d["summary"]["shardgate"]["ratio_max_to_peak"] >= d["goal_ratio"])
    _png(bench_run, "concurrency_quick")


@pytest.mark.slow  # a benchmark's quick run: 20-50 s
def test_hol_quick(bench_run: BenchRun) -> None:
    bench_run.ok("bench.hol", "--quick")
    d = bench_run.result("hol_quick")
    counts = d["trace_counts"]
    assert counts["fast"] > 0 and counts["slow"] > 0
    assert set(d["shapes"]) == {"least_loaded", "hash", "global pool"}
    for shape in d["shapes"].values():
        # every fast query ran in both runs, every slow one in the loaded run
        assert shape["unloaded"]["fast_ok"] == shape["loaded"]["fast_ok"] == counts["fast"]
        assert shape["loaded"]["slow_ok"] == counts["slow"] and shape["unloaded"]["slow_ok"] == 0
        assert not shape["loaded"]["errors"] and not shape["unloaded"]["errors"]
        un, lo = shape["unloaded"]["fast_latency"]["p99"], shape["loaded"]["fast_latency"]["p99"]
        assert shape["p99_ratio"] == round(lo / un, 2)
        # a slow query sleeps one second on MariaDB: its latency says it really ran there
        assert shape["loaded"]["slow_latency"]["min"] >= 1.0
    assert d["shapes"]["global pool"]["executor"]["buckets"] == 1
    assert d["goal_met"] == (d["ratio"] <= d["goal_ratio"])
    _png(bench_run, "hol_quick")


@pytest.mark.slow  # a benchmark's quick run: 20-50 s
def test_join_quick(bench_run: BenchRun) -> None:
    bench_run.ok("bench.join", "--quick")
    d = bench_run.result("join_quick")
    sharded, flat = d["sharded"], d["unsharded"]
    assert d["correct"] is True
    assert sharded["rows"] == flat["rows"] == d["rows_per_table"]
    assert sharded["checksum"] == flat["checksum"]
    assert "SortMergeJoin" in sharded["plan"]
    # The window bounds the query's children, and each holds at most one connection.
    assert 1 <= sharded["peak_connections_in_use"] <= min(sharded["pool_peak_size"], d["window"])
    assert sharded["peak_rss_mb"] >= sharded["baseline_peak_rss_mb"] > 0
    assert d["rss_goal_met"] == (sharded["peak_rss_mb"] <= d["rss_goal_mb"])
    assert d["window_goal_met"] == (sharded["peak_connections_in_use"] <= d["window"])
    _png(bench_run, "join_quick")
    # the second run reuses the loaded data (the marker row), and agrees
    bench_run.ok("bench.join", "--quick")
    again = bench_run.result("join_quick")
    assert again["load_seconds"] is None and again["sharded"]["checksum"] == sharded["checksum"]


def test_bench_main_runs_a_subset_and_writes_a_summary(bench_run: BenchRun) -> None:
    bench_run.ok("bench", "quick", "starvation")
    d = bench_run.result("quick")
    assert [r["name"] for r in d["runs"]] == ["starvation"] and d["runs"][0]["status"] == "ok"
    assert d["within_budget"] is None  # a subset is not held to the five-minute budget
    assert (bench_run.results / "starvation_quick.json").is_file()


def test_serve_startup_quick(bench_run: BenchRun) -> None:
    """The embedded default's start-up / point-query benchmark runs and writes its
    results (baseline: this tree itself when no --base is given)."""
    bench_run.ok("bench.serve_startup", "--quick", "--repeat", "1", "--queries", "20")
    d = bench_run.result("serve_startup_quick")
    assert d["baseline_is_current"] and d["repeat"] == 1 and d["queries"] == 20
    for tree in ("baseline", "current"):
        assert len(d["runs"][tree]) == 1
        assert all(d["summary"][tree][m] > 0 for m in ("startup_ms", "point_p50_us"))
    # A ratio is None when the baseline measured 0 (CPU is read in 10 ms ticks: 20
    # quick queries may take less than one); the goal is then not shown to be met.
    ratios = d["ratios"].values()
    assert d["goal_met"] == all(r is not None and r <= d["goal_ratio"] for r in ratios)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bench", "quick", "nosuch"), "unknown benchmark"),
        (("bench", "sometimes"), "invalid choice"),
        (("bench.hol", "--rate", "0"), "must be a finite number > 0"),
        (("bench.hol", "--slow-shards", "9"), "--slow-shards must be <= 8"),
        (("bench.concurrency", "--levels", "16,4"), "strictly ascending"),
        (("bench.insert", "--threads", "many"), "expected a whole number"),
    ],
)
def test_bad_arguments_get_one_clear_line(
    bench_run: BenchRun, args: tuple[str, ...], message: str
) -> None:
    proc = bench_run.run(*args, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
