"""Logging like a server (issue 14, newcomer path): the slow-query log, no per-statement
lines below DEBUG, errors with their text, normalised statement text; start-up errors in
one line with a non-zero exit status; SIGTERM says that it waits and that a second
signal forces."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
import pytest
import structlog
import trio
from structlog.testing import capture_logs

import sharding.logging_setup as logging_setup
from sharding import Coordinator, Topology
from sharding.errors import DataSourceUnavailable, ShardgateError, UnknownTable
from sharding.exec.run import ExecStats
from sharding.logging_setup import StatementLog
from sharding.session import CoordinatorSession
from tests.conftest import MYSQL_HOST, MYSQL_PORT, MYSQL_URL

ROOT = Path(__file__).resolve().parents[2]
SHARDGATE = [sys.executable, "-m", "sharding.cli"]
FANOUT = ("shards", "children", "chunks", "shard_rows", "queued_s", "running_s", "elapsed_s")


@contextmanager
def log_level(level: int) -> Iterator[None]:
    """structlog filtering at ``level`` for the block; the previous configuration after."""
    before = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))
    try:
        yield
    finally:
        structlog.configure(wrapper_class=before)


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    async with Coordinator(Topology.default(tmp_path), catalog_refresh=None) as c:
        await c.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        await c.execute(
            "INSERT INTO t VALUES " + ", ".join(f"({i}, 'secret{i}')" for i in range(40))
        )
        yield c


async def _workload(coord: Coordinator) -> None:
    await coord.execute("SELECT id, v FROM t WHERE v = 'secret7'")
    await coord.execute("SELECT v, COUNT(*) FROM t GROUP BY v ORDER BY v LIMIT 3")
    await coord.execute("UPDATE t SET v = 'secret99' WHERE id = 3")
    with pytest.raises(UnknownTable):
        await coord.execute("SELECT * FROM nope")
    with pytest.raises(ShardgateError) as err:
        await coord.execute("SELEKT 1")
    assert err.value.code == 1064


# -- the statement log, in process -----------------------------------------------------


async def test_default_level_logs_no_statement_and_no_client_error(coord: Coordinator) -> None:
    with log_level(logging.INFO), capture_logs() as logs:
        await _workload(coord)
    assert logs == [], logs  # no per-statement line; 1146/1064 are the client's business


async def test_slow_query_log_has_fan_out_and_normalised_text(coord: Coordinator) -> None:
    coord.statement_log = StatementLog(long_query_time=0.0)  # every statement is slow
    with log_level(logging.INFO), capture_logs() as logs:
        await coord.execute("SELECT id, v FROM t WHERE v = 'secret7' ORDER BY id")
    (slow,) = logs
    assert slow["event"] == "slow query" and slow["log_level"] == "warning"
    assert all(k in slow for k in FANOUT), slow
    assert slow["shards"] == 16 and slow["children"] >= 1 and slow["rows"] == 1
    assert slow["sql"] == "SELECT id, v FROM t WHERE v = ? ORDER BY id"
    assert "secret" not in json.dumps(slow)

    coord.statement_log = StatementLog(long_query_time=0.0, full_text=True)
    with log_level(logging.INFO), capture_logs() as logs:
        await coord.execute("SELECT id FROM t WHERE v = 'secret7'")
    assert logs[0]["sql"] == "SELECT id FROM t WHERE v = 'secret7'"


def test_slow_query_threshold_is_exact() -> None:
    """Below ``long_query_time``: nothing; at or above: one WARNING line."""
    slog = StatementLog(long_query_time=1.0)
    with log_level(logging.INFO), capture_logs() as logs:
        for elapsed in (0.0, 0.5, 0.999, 1.0, 2.5):
            slog.finished(1, "SELECT", "SELECT 1", elapsed, None, 0, ExecStats(), None)
    assert [e["elapsed_s"] for e in logs] == [1.0, 2.5]
    assert {e["event"] for e in logs} == {"slow query"}


async def test_statement_lines_at_debug_carry_the_error(coord: Coordinator) -> None:
    with log_level(logging.DEBUG), capture_logs() as logs:
        await _workload(coord)
    lines = [e for e in logs if e["event"] == "statement"]
    assert [e["kind"] for e in lines] == ["SELECT", "SELECT", "UPDATE", "SELECT", "SELEKT"]
    assert [e.get("error_code") for e in lines[-2:]] == [1146, 1064]
    assert "doesn't exist" in lines[-2]["error"]
    assert all(e["log_level"] == "debug" for e in lines)


async def test_internal_error_logs_its_text_traceback_only_at_debug(
    coord: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: CoordinatorSession, *args: Any) -> Any:
        raise RuntimeError("the planner tripped over 42")

    monkeypatch.setattr(CoordinatorSession, "_dispatch", broken)
    for level, traceback_expected in ((logging.INFO, False), (logging.DEBUG, True)):
        with log_level(level), capture_logs() as logs, pytest.raises(ShardgateError) as err:
            await coord.execute("SELECT id FROM t WHERE id = 5")
        assert err.value.code == 1105
        if level == logging.INFO:
            assert len(logs) == 1, logs  # one line, not one per layer
        (internal,) = [e for e in logs if e["event"] == "internal error"]
        assert internal["log_level"] == "error"
        assert internal["error"] == "RuntimeError: the planner tripped over 42"
        assert internal["sql"] == "SELECT id FROM t WHERE id = ?"
        assert ("exc_info" in internal) is traceback_expected


async def test_server_side_failure_is_a_warning_with_its_text(
    coord: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data source that cannot be reached is the operator's business: one WARNING
    line with the error text even at the default level (not the client's 1146s)."""

    async def unreachable(self: CoordinatorSession, *args: Any) -> Any:
        raise DataSourceUnavailable(
            "ds0: Can't connect to MySQL server on '10.0.0.9' (client error 2003)"
        )

    monkeypatch.setattr(CoordinatorSession, "_dispatch", unreachable)
    with log_level(logging.INFO), capture_logs() as logs, pytest.raises(DataSourceUnavailable):
        await coord.execute("SELECT id FROM t WHERE id = 5")
    (failed,) = logs
    assert failed["event"] == "statement failed" and failed["log_level"] == "warning"
    assert failed["error_code"] == 1429 and "Can't connect" in failed["error"]
    assert failed["sql"] == "SELECT id FROM t WHERE id = ?"


async def test_a_statement_not_logged_builds_no_text(
    coord: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(sql: str, *, full: bool = False) -> str:
        raise AssertionError("statement text built for a statement nobody logs")

    monkeypatch.setattr(logging_setup, "statement_text", refuse)
    with log_level(logging.INFO):
        await _workload(coord)  # would raise if any text were built


# -- start-up errors -------------------------------------------------------------------


def _serve(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SHARDGATE, "serve", "--data-dir", str(cwd / "data"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def _one_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    print(f"exit {out.returncode}: {lines[0]}")
    return lines[0]


def test_port_in_use_names_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _serve(["--listen", f"127.0.0.1:{port}"], tmp_path)
        line = _one_line(out)
        assert out.returncode == 1
        assert f"127.0.0.1:{port}" in line and "in use" in line
        # --log-level debug: the traceback too, and still the one-line cause at the end.
        debug = _serve(["--listen", f"127.0.0.1:{port}", "--log-level", "debug"], tmp_path)
        assert debug.returncode == 1 and "Traceback" in debug.stderr
        assert debug.stderr.strip().splitlines()[-1] == line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[server]\nlisten = '127.0.0.1:0'\n\nmax_conections = 5\n",
            r"line 4: \[server\]: unknown keys \['max_conections'\]",
        ),
        ("[cluster]\ndatabase = 'db'\nshard = 4\n", r"line 3: \[cluster\]: unknown keys shard"),
        ("[executor]\nbuckts = 2\n", r"line 2: unknown \[executor\] key\(s\): buckts"),
        ("[server]\nlisten = 127.0.0.1:0\n", r"invalid TOML: .*\(at line 2, column \d+\)"),
    ],
    ids=["server-key", "cluster-key", "executor-key", "toml-syntax"],
)
def test_config_errors_name_the_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "c.toml").write_text(text)
    out = _serve(["--config", "c.toml"], tmp_path)
    assert out.returncode == 2
    assert re.search(rf"^shardgate: c\.toml:? {expected}", _one_line(out)) or re.search(
        expected, _one_line(out)
    ), out.stderr


async def test_catalog_conflict_names_table_and_difference(tmp_path: Path) -> None:
    source = {"name": "ds0", "kind": "sqlite", "path": str(tmp_path / "ds0")}
    async with Coordinator(
        Topology.from_dict({"datasources": [source]}), catalog_refresh=None
    ) as c:
        await c.execute("CREATE TABLE t (id INT PRIMARY KEY) PARTITION BY HASH(id) PARTITIONS 4")
    (tmp_path / "c.toml").write_text(
        f"[[datasources]]\nname = 'ds0'\nkind = 'sqlite'\npath = '{tmp_path / 'ds0'}'\n\n"
        "[[tables]]\nname = 'db.t'\nshard_key = 'id'\nalgorithm = 'mod'\nshards = 8\n\n"
        "[server]\nlisten = '127.0.0.1:0'\n"
    )
    out = await trio.to_thread.run_sync(_serve, ["--config", "c.toml"], tmp_path)
    line = _one_line(out)
    assert out.returncode == 2
    assert "table db.t" in line and "shards: catalog 4, topology 8" in line
    assert "algorithm" not in line  # only what differs


def test_unreachable_data_source_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "c.toml").write_text(
        f"[[datasources]]\nname = 'far'\nkind = 'mysql'\nurl = 'mysql://root:@127.0.0.1:{port}'\n"
        "[server]\nlisten = '127.0.0.1:0'\n"
    )
    out = _serve(["--config", "c.toml"], tmp_path)
    line = _one_line(out)
    assert out.returncode == 1
    assert "unreachable" in line and "far" in line and "1429" in line


# -- a served MariaDB fleet: slow-query log and SIGTERM ---------------------------------

PID = os.getpid()
DB = f"sgux_lg{PID}"
CATALOG = f"sgux_lgcat{PID}"


def _direct(sql: str) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def _drop_ours() -> None:
    for (name,) in _direct(f"SHOW DATABASES LIKE 'sgux\\_lg%{PID}%'"):
        _direct(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.mark.mysql
def test_served_slow_query_log_and_sigterm_messages(tmp_path: Path) -> None:
    _drop_ours()
    (tmp_path / "c.toml").write_text(
        f"[cluster]\ndatabase = '{DB}'\ncatalog = '{CATALOG}'\ndefault_shards = 2\n\n"
        f"[[datasources]]\nname = 'm0'\nkind = 'mysql'\nurl = '{MYSQL_URL}'\n\n"
        "[server]\nlisten = '127.0.0.1:0'\nshutdown_timeout = 30\n"
    )
    proc = subprocess.Popen(
        [
            *SHARDGATE,
            "serve",
            "--config",
            "c.toml",
            "--long-query-time",
            "0.4",
            "--log-format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    events: list[dict[str, Any]] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            try:
                events.append(json.loads(line))
            except ValueError:
                events.append({"event": line.rstrip(), "raw": True})

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert proc.stdout is not None
        m = re.search(r"on 127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert m, events
        port = int(m.group(1))
        conn = pymysql.connect(
            host="127.0.0.1", port=port, user="root", database=DB, autocommit=True
        )
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE k (id INT PRIMARY KEY, v INT)")
            cur.execute("INSERT INTO k VALUES (1, 10), (2, 20)")
            cur.execute("SELECT v FROM k WHERE id = 1")
            cur.execute("SELECT SLEEP(0.6)")
        time.sleep(0.3)
        slow = [e for e in events if e.get("event") == "slow query"]
        assert len(slow) == 1, events
        assert slow[0]["sql"] == "SELECT SLEEP(?)" and slow[0]["elapsed_s"] >= 0.4
        assert all(k in slow[0] for k in FANOUT) and slow[0]["long_query_time"] == 0.4
        assert not [e for e in events if e.get("event") == "statement"]
        assert any(e.get("event") == "started" for e in events)

        # A statement running when SIGTERM arrives: one line that says it waits (and
        # how long) and that a second signal forces; the second signal stops at once.
        failure: list[BaseException] = []

        def long_statement() -> None:
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT SLEEP(20)")
            except BaseException as exc:  # the forced stop drops the connection
                failure.append(exc)

        runner = threading.Thread(target=long_statement)
        runner.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=15)
        assert time.monotonic() - started < 10  # forced: not the 20 s statement
        runner.join(timeout=10)
        reader.join(timeout=5)
        waiting = [e for e in events if "waiting up to" in str(e.get("event"))]
        assert len(waiting) == 1, events
        assert waiting[0]["event"] == (
            "shutting down: waiting up to 30 s for 1 running statement(s); send SIGTERM again to stop at once"
        )
        assert any(e.get("event") == "second signal: stopping now" for e in events), events
        assert code == 0 and failure  # the client saw its statement end with an error
        assert not [e for e in events if e.get("raw") and "Traceback" in e["event"]], events
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _drop_ours()


def test_a_huge_statement_is_logged_from_its_head_only() -> None:
    """The log line of a 10 MB statement: its head, normalised, cut at MAX_LOGGED_SQL
    with "..." — built from the head alone (normalising all of it on the event loop
    froze every client for ~0.4 s), and no literal of it shown, also when the cut falls
    inside a long string."""
    rows = ",".join(f"({i}, 'secret-{i:07d}')" for i in range(300_000))
    sql = f"INSERT INTO t VALUES {rows}"
    text = logging_setup.statement_text(sql)
    assert text.startswith("INSERT INTO t VALUES (?, ?),(?, ?)")
    assert text.endswith("...") and len(text) == logging_setup.MAX_LOGGED_SQL
    assert "secret" not in text
    long_string = "INSERT INTO t VALUES (1, '" + "x" * 5000 + "')"
    assert logging_setup.statement_text(long_string) == "INSERT INTO t VALUES (?, ?)"
    full = logging_setup.statement_text(sql, full=True)
    assert full.startswith("INSERT INTO t VALUES (0, 'secret-0000000')")
    assert full.endswith("...") and len(full) == logging_setup.MAX_LOGGED_SQL
