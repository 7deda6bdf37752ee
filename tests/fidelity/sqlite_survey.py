"""The fidelity classes against the embedded SQLite default (issue 15): a survey.

    python -m tests.fidelity.sqlite_survey [test_select_classes ...]   (default: all)

The fidelity suite runs every ``test_*(env)`` on SQLite shards too (the ``sqlite-16``
variant of ``tests/fidelity/conftest.py``). This tool runs the named modules' functions
on that environment in one process and prints each function's verdict (``ok``,
``WRONG`` with the harness's report, ``CRASH``, or ``SKIP`` for functions that take
other fixtures) and a summary: a quicker way to see what the embedded default still
answers differently (issue 15).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import sys
from pathlib import Path

from tests.fidelity.harness import SQLiteEnvironment


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
