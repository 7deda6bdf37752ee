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


SERVER = SQL.parent / "server"
#: What the wire-protocol server may import from the coordinator side (issue 13).
SERVER_MAY_IMPORT = ("sharding.api", "sharding.errors", "sharding.server")
#: Imports of the server that still reach past the contract: issue 13's remaining debt,
#: paid off (charsets, LOAD DATA, the admin's and the workers' wiring now come through
#: sharding.api). The list may only shrink: a new import past the contract fails here.
SERVER_DEBT: dict[str, set[str]] = {}


def test_server_imports_only_the_api_and_errors_of_the_coordinator() -> None:
    past = {
        p.name: {
            m
            for m in _imports(p)
            if m.startswith("sharding") and not m.startswith(SERVER_MAY_IMPORT)
        }
        for p in sorted(SERVER.glob("*.py"))
    }
    past = {k: v for k, v in past.items() if v}
    assert len(list(SERVER.glob("*.py"))) > 10
    new = {k: sorted(v - SERVER_DEBT.get(k, set())) for k, v in past.items()}
    assert not {k: v for k, v in new.items() if v}, new
    paid = {k: sorted(v - past.get(k, set())) for k, v in SERVER_DEBT.items()}
    assert not {k: v for k, v in paid.items() if v}, f"paid off, remove from SERVER_DEBT: {paid}"
