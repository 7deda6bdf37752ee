"""Acceptance 2, reduced: a 1024-shard sort-merge join (tables sharded on different
keys) measured in a fresh subprocess.

The full-size run (1M rows per side, peak RSS < 256 MB) is ``bench/join_memory.py``
(results in ``bench/results/join_memory.json``). Here: 20k rows per side on the same
1024 shards — the join's memory is O(shards × chunk), not O(rows), so the same RSS
bound applies unscaled, and the shard-read fan-out (1024 shards per side) is the same
as in the full run. Asserted: the result equals SQLite's own join over all shards,
no more than ``window`` shard reads were ever open at once, peak RSS < 256 MB, and
what the join added over the process's start-up footprint stays within the memory
model of the design — attached shard files (``max_idle`` connections × 10 × ~136 KB)
plus two buffered chunks per shard and side — with 16 MB of slack. Rows never count.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import join_memory  # noqa: E402

WINDOW = 8


@pytest.mark.slow
def test_1024_shard_sort_merge_join_is_bounded(tmp_path: Path) -> None:
    join_memory.build(tmp_path, shards=1024, rows=20_000, window=WINDOW)
    report = join_memory.measure(tmp_path)
    count, checksum = join_memory.expected_rows(tmp_path, 1024)
    assert report["rows"] == count and report["checksum"] == checksum
    assert report["window"] == WINDOW
    assert 1 <= report["peak_reads_open"] <= WINDOW
    assert report["peak_connections_in_use"] <= WINDOW
    assert report["peak_rss_mb"] < 256
    topo = (tmp_path / "cluster.toml").read_text()
    max_idle = int(topo.split("max_idle =")[1].split()[0])
    chunk = 64  # min(chunk_rows, merge_budget_rows / 2 sides / 1024 shards)
    model_mb = max_idle * 10 * 0.136 + 1024 * 2 * 2 * chunk * 300 / 2**20
    assert report["peak_rss_mb"] - report["baseline_peak_rss_mb"] < model_mb + 16
