"""``bench.spider`` writes its table into bench/README.md between its markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.spider import readme_table, update_readme


def _row(key: str, sg: float, spider: float, goal: bool) -> dict[str, Any]:
    cell = {"median_ms": 1.0, "rows_from_shards": 3}
    cells = {
        "flat": dict(cell),
        "spider": {"median_ms": spider, "rows_from_shards": 100},
        "shardgate": {"median_ms": sg, "rows_from_shards": 5},
        "hand": dict(cell),
    }
    row: dict[str, Any] = {
        "key": key,
        "label": f"query {key}",
        "cells": cells,
        "same_rows": True,
        "ratio_vs_spider": {"shardgate": round(sg / spider, 3), "hand": 0.1},
    }
    if goal:
        row["goal"] = {"met": sg / spider <= 0.3}
    return row


def _data(sources: int) -> dict[str, Any]:
    return {
        "when": "2026-01-01T00:00:00Z",
        "machine": {"git": "abc1234"},
        "shards": 1024,
        "rows_per_shard": 200,
        "sources": sources,
        "rounds": 9,
        "load_average_before": [0.5, 0.6, 0.7],
        "command": "python -m bench.spider",
        "goal_ratio_vs_spider": 0.3,
    }


def test_the_table_marks_the_goal_per_query() -> None:
    rows = [_row("topn", 20, 100, True), _row("offset", 40, 100, True), _row("p", 9, 10, False)]
    one = readme_table(rows, _data(1))
    assert "| `query topn` | 1.00 ms | 100 ms | 20 ms (0.2× ✓) |" in one
    assert "40 ms (0.4× ✗)" in one and "9.00 ms (0.9×)" in one
    assert "on `abc1234`, 1024 shards × 200 rows, 1 data source(s)" in one
    four = readme_table(rows, _data(4))
    assert "40 ms (0.4× ✓)" in four and "ahead of Spider" in four


def test_update_replaces_only_its_own_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- bench.spider:spider -->\nold\n<!-- /bench.spider:spider -->\n"
        "<!-- bench.spider:spider_sources4 -->\nkeep\n<!-- /bench.spider:spider_sources4 -->\n"
    )
    update_readme(readme, "spider", "NEW TABLE\n")
    text = readme.read_text()
    assert "old" not in text and "NEW TABLE" in text and "keep" in text
    assert text.startswith("intro\n<!-- bench.spider:spider -->\nNEW TABLE\n<!-- /bench")
    update_readme(readme, "missing", "X\n")  # no markers: nothing written
    assert readme.read_text() == text
