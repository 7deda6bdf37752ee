"""``bench/scatter.py`` keeps working: every method finds the same top ten rows.

Timings are not asserted (they belong to the benchmark, run on a quiet machine); this
runs the quick variant on a small layout, in its own databases, and drops them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.mysql

ROOT = Path(__file__).resolve().parents[2]


def test_scatter_quick_every_method_agrees(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SHARDGATE_BENCH_RESULTS": str(tmp_path),
        "SHARDGATE_BENCH_DB_SUFFIX": f"_t{os.getpid()}",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scatter",
            "--quick",
            "--shards",
            "48",
            "--rows",
            "8",
            "--repeat",
            "2",
            "--drop",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((tmp_path / "scatter_quick.json").read_text())
    cells = {c["method"]: c for c in data["cells"]}
    assert data["shards"] == 48 and data["query"].endswith("LIMIT 10")
    measured = [c for c in cells.values() if "median_ms" in c]
    assert {
        "mariadb CLI, one batch",
        "shardgate embedded (batched, default)",
        "shardgate embedded, no batching",
        "shardgate serve + PyMySQL (batched)",
    } <= {c["method"] for c in measured}
    assert all(c["same_rows_as_cli"] for c in measured), [
        c["method"] for c in measured if not c["same_rows_as_cli"]
    ]
    # A method that cannot run here says why (SQLAlchemy needs a connection per shard).
    assert all(c["not_applicable"] for c in cells.values() if "median_ms" not in c)
    names = subprocess.run(
        [
            "mariadb",
            "--no-defaults",
            "-uroot",
            "-h127.0.0.1",
            "-N",
            "-B",
            "-e",
            f"SHOW DATABASES LIKE 'sgscatterq\\_t{os.getpid()}%'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert names == []  # --drop removed the shard databases
