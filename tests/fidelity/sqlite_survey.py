"""The fidelity classes against the embedded SQLite default (issue 15): a survey.

    python -m tests.fidelity.sqlite_survey [test_select_classes ...]   (default: all)

The fidelity suite runs the coordinator in front of MariaDB shards; issue 15 wants the
same classes answered on SQLite shards (the embedded default) with no wrong answer.
This runs every ``test_*(env)`` function of the named ``tests/fidelity`` modules with
an environment whose coordinator stores the same tables and rows in SQLite shard files
(16 shards, chunk 1000), against the same unsharded MariaDB oracle, and prints each
function's verdict (``ok``, ``WRONG`` with the harness's report, ``CRASH``, or
``SKIP`` for functions that take other fixtures) and a summary. A tool, not a test:
the classes that pass on SQLite shards move into tests as they are fixed.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

from sharding.coordinator import Coordinator
from sharding.server import CoordinatorAdmin, MySQLServer, ServerConfig
from sharding.topology import Topology
from tests.fidelity.harness import BINDINGS, TABLES, Environment


class SQLiteEnvironment(Environment):
    """The fidelity environment with the coordinator's shards in SQLite files."""

    def __init__(self, shards: int, chunk: int) -> None:
        super().__init__(shards, chunk, True)
        self.oracle_db += "q"
        self.logical_db += "q"
        self.physical_db += "q"
        self.directory = tempfile.mkdtemp(prefix="sgfid-sqlite-")

    def topology(self) -> Topology:
        tables = []
        for t in TABLES:
            entry: dict[str, Any] = {"name": f"{self.logical_db}.{t.name}", **t.rule}
            if not t.rule.get("broadcast") and entry.get("shards") == 0:
                entry["shards"] = self.shards
            tables.append(entry)
        return Topology.from_dict(
            {
                "cluster": {"database": self.logical_db, "chunk_rows": self.chunk},
                "datasources": [{"name": "s0", "kind": "sqlite", "path": self.directory}],
                "tables": tables,
                "bindings": [
                    {"tables": [f"{self.logical_db}.{n}" for n in group]} for group in BINDINGS
                ],
            }
        )

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    async def _serve_async(self) -> None:
        async with Coordinator(self.topology()) as coord, trio.open_nursery() as nursery:
            cfg = ServerConfig(
                listen="127.0.0.1:0", default_database=self.logical_db, shutdown_timeout=2.0
            )
            server = MySQLServer(cfg, coord, admin=CoordinatorAdmin(coord))
            await nursery.start(server.serve)
            self.coordinator = coord
            self._server = server
            self._token = trio.lowlevel.current_trio_token()
            self.port = server.port
            self._ready.set()


def survey(modules: list[str]) -> list[tuple[str, str, str]]:
    """(module, function, verdict) of every ``test_*(env)`` of ``modules``."""
    env = SQLiteEnvironment(16, 1000).start()
    verdicts: list[tuple[str, str, str]] = []
    try:
        for name in modules:
            module = importlib.import_module(f"tests.fidelity.{name}")
            for fname, fn in inspect.getmembers(module, inspect.isfunction):
                if not fname.startswith("test_") or fn.__module__ != module.__name__:
                    continue
                if list(inspect.signature(fn).parameters) != ["env"]:
                    verdicts.append((name, fname, "SKIP (other fixtures)"))
                    continue
                out = io.StringIO()
                try:
                    with contextlib.redirect_stdout(out):
                        fn(env)
                    verdicts.append((name, fname, "ok"))
                except AssertionError as exc:
                    verdicts.append((name, fname, "WRONG"))
                    print(f"=== {name}.{fname}\n{str(exc)[:4000]}\n")
                except Exception as exc:
                    verdicts.append((name, fname, f"CRASH {type(exc).__name__}: {exc}"[:300]))
    finally:
        env.stop()
    return verdicts


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    modules = argv or sorted(
        p.stem for p in here.glob("test_*.py") if p.stem not in ("test_smoke",)
    )
    verdicts = survey(modules)
    for module, fname, verdict in verdicts:
        print(f"{verdict:<8.60} {module}.{fname}")
    wrong = sum(1 for v in verdicts if v[2] != "ok" and not v[2].startswith("SKIP"))
    print(f"{len(verdicts)} functions, {wrong} not ok")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
