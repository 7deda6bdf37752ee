"""The executor's example and quick benchmarks keep working (their numbers are not
asserted here: speed targets live in the benchmarks, not in timed tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHARDGATE_BENCH_RESULTS", str(tmp_path))
    return tmp_path


def test_fanout_example_runs_and_ends_idle() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "fanout.py"), "--requests", "6", "--shards", "6"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "executor status" in proc.stdout
    assert "all gauges back to zero: True" in " ".join(proc.stdout.split())


def test_executor_overhead_quick(results_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.executor_overhead", "--quick", "--children", "256"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "SHARDGATE_BENCH_RESULTS": str(results_dir)},
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((results_dir / "executor_overhead_quick.json").read_text())
    cases = {row["case"] for row in data["rows"]}
    assert {"async, window=16", "async, window=256", "sync (threads), 16 slots"} == cases
    assert all(
        row["baseline_us_per_child"] > 0 and row["ours_us_per_child"] > 0 for row in data["rows"]
    )


def test_starvation_quick_shows_naive_pools_hang_and_ours_completes(results_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.starvation", "--quick", "--timeout", "0.5"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "SHARDGATE_BENCH_RESULTS": str(results_dir)},
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((results_dir / "starvation_quick.json").read_text())
    summary = data["summary"]
    assert (
        summary["BucketedExecutor"]["completed_cells"] == summary["BucketedExecutor"]["cells"] == 3
    )
    assert summary["trio.CapacityLimiter"]["completed_cells"] == 0
    # Whether all parents hold a thread before any child is queued is a race in a
    # lazily-started thread pool, so a cell can occasionally get through; never all.
    assert summary["ThreadPoolExecutor"]["completed_cells"] < summary["ThreadPoolExecutor"]["cells"]
