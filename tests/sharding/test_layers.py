"""Layering by imports (issue 13): the planner (``sharding/sql``) does not import the
executor layer (``sharding/exec``). A plan is data the executor layer runs; EXPLAIN,
which binds a plan to this call's shards and chunk sizes, lives in ``sharding/exec``."""

from __future__ import annotations

import ast
from pathlib import Path

SQL = Path(__file__).resolve().parents[2] / "sharding" / "sql"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


def test_sql_does_not_import_exec() -> None:
    offenders = {
        p.name: sorted(m for m in _imports(p) if m.startswith("sharding.exec"))
        for p in sorted(SQL.glob("*.py"))
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert len(list(SQL.glob("*.py"))) > 20  # the directory really was scanned
    assert not offenders, offenders
