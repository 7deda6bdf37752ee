"""Importing the package keeps the caller's garbage-collector setting.

``sharding/__init__.py`` turns the cyclic collector off while its modules are imported
(start-up CPU, bench ``serve_startup``); it must be back as the importer had it, also
when an import fails part-way. And structlog is imported without rich (start-up).
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


@pytest.mark.parametrize("before", [True, False])
def test_import_restores_the_collector(before: bool) -> None:
    setting = "gc.enable()" if before else "gc.disable()"
    out = _run(f"import gc; {setting}; import sharding; print(gc.isenabled())")
    assert out == str(before)


def test_failed_import_restores_the_collector() -> None:
    # An import of the package that fails inside its try block (a broken submodule).
    code = (
        "import gc, sys\n"
        "sys.modules['sharding.coordinator'] = None  # makes 'from sharding.coordinator' fail\n"
        "try:\n"
        "    import sharding\n"
        "except ImportError:\n"
        "    print('failed', gc.isenabled())\n"
    )
    assert _run(code) == "failed True"


@pytest.mark.parametrize("package", ["sharding", "executor"])
def test_structlog_is_imported_without_rich(package: str) -> None:
    # executor/_structlog_import.py: rich cost ~90 ms of serve start-up; it must not be
    # loaded by importing the package, and must stay importable afterwards.
    code = (
        f"import sys, {package}, structlog.dev\n"
        "print('rich' in sys.modules, structlog.dev.default_exception_formatter.__name__)\n"
        "import rich.console\n"
        "print(rich.console.Console.__name__)\n"
    )
    assert _run(code).split() == ["False", "plain_traceback", "Console"]


def test_structlog_imported_first_keeps_rich() -> None:
    # An application that imported structlog (and so rich) first is left as it was.
    code = "import structlog.dev, sharding\nprint(type(structlog.dev.default_exception_formatter).__name__)"
    assert _run(code) == "RichTracebackFormatter"
