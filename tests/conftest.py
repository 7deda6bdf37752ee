"""Shared test configuration.

MariaDB-backed tests carry the ``mysql`` marker (or use the ``mysql_url`` fixture).
They skip when no server answers on 127.0.0.1:3306 — unless SHARDGATE_REQUIRE_MYSQL=1
(set by CI), in which case an unreachable server is a failure, not a skip.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

# Benchmarks and the status-page test write results into $SHARDGATE_BENCH_RESULTS;
# during test runs that is a temporary folder unless the caller chose one, so running
# the tests never rewrites the committed files in bench/results/.
if not os.environ.get("SHARDGATE_BENCH_RESULTS"):
    os.environ["SHARDGATE_BENCH_RESULTS"] = tempfile.mkdtemp(prefix="shardgate-bench-results-")

MYSQL_HOST = os.environ.get("SHARDGATE_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("SHARDGATE_MYSQL_PORT", "3306"))
MYSQL_URL = f"mysql://root:@{MYSQL_HOST}:{MYSQL_PORT}"


def mysql_required() -> bool:
    return os.environ.get("SHARDGATE_REQUIRE_MYSQL") == "1"


def mysql_reachable(host: str = MYSQL_HOST, port: int = MYSQL_PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_mysql_or_skip() -> None:
    if mysql_reachable():
        return
    if mysql_required():
        pytest.fail(f"SHARDGATE_REQUIRE_MYSQL=1 but no MariaDB at {MYSQL_HOST}:{MYSQL_PORT}")
    pytest.skip(
        f"no MariaDB reachable at {MYSQL_HOST}:{MYSQL_PORT} (set SHARDGATE_REQUIRE_MYSQL=1 to fail instead)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With SHARDGATE_NO_SKIPS=1 (CI) a skipped test is a failure: CI installs every
    tool the tests need, so a skip there means an acceptance test did not run."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        report.skipped
        and os.environ.get("SHARDGATE_NO_SKIPS") == "1"
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but SHARDGATE_NO_SKIPS=1 forbids skips: {reason}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("mysql") is not None:
        require_mysql_or_skip()


@pytest.fixture
def fresh_structlog() -> Iterator[None]:
    """structlog's defaults for one test (restoring whatever was configured before), so
    tests that capture log events do not depend on another test's configuration."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.fixture
def mysql_url() -> Iterator[str]:
    require_mysql_or_skip()
    yield MYSQL_URL


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-plans",
        action="store_true",
        default=False,
        help="rewrite the golden plan files in tests/sharding/plans/ instead of comparing",
    )


@contextlib.contextmanager
def mariadb_reference(prefix: str) -> Iterator[Any]:
    """A fresh database ``<prefix><pid>`` on the shared MariaDB, as an autocommit
    PyMySQL connection using it; dropped afterwards (the reference side of tests that
    compare an embedded behaviour with MariaDB's)."""
    import pymysql

    name = f"{prefix}{os.getpid()}"
    conn = pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
    try:
        yield conn
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
