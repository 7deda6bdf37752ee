"""End to end against a ``shardgate serve`` subprocess on the embedded SQLite default.

gen → load → replay (with coordinator sampling over SQL and HTTP) through the real
MySQL-protocol service. Skipped, with that reason, only while the service is not in
the tree yet (``sharding/cli.py`` and ``sharding/coordinator.py`` land in parallel).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sharding.trace.cli import main_replay, main_trace
from sharding.trace.format import read_jsonl
from tests.mysqld import free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait_for_port(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log.read_text(errors="replace")
            raise AssertionError(f"shardgate serve exited with {proc.returncode}: {err[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"shardgate serve did not listen on {port} within {timeout} s")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[int, int]]:
    port, http = free_port(), free_port()
    workdir = tmp_path / "serve"
    workdir.mkdir()
    argv = [sys.executable, "-c", "import sys; from sharding.cli import main; sys.exit(main())"]
    argv += ["serve", "--listen", f"127.0.0.1:{port}", "--http", f"127.0.0.1:{http}"]
    # The server's log goes to a file, not a pipe: nobody reads a pipe while the test
    # runs, and on a busy machine the server logs more (slow statements) — once the
    # pipe's 64 KiB filled, the server blocked writing its log and the replay waited
    # for it until the test's timeout.
    log = workdir / "serve.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        _wait_for_port(port, proc, log)
        yield port, http
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def test_gen_load_replay_through_shardgate_serve(serve: tuple[int, int], tmp_path: Path) -> None:
    port, http = serve
    trace = tmp_path / "mix.jsonl"
    assert main_trace([
        "gen", "--kind", "mixed", "--shards", "4", "--queries", "80", "--clients", "4",
        "--rate", "200", "--rows", "200", "--batch-rows", "20", "--join-span", "30",
        "-o", str(trace),
    ]) == 0  # fmt: skip
    assert (
        main_trace(["load", str(tmp_path / "mix.spec.json"), "--target", f"127.0.0.1:{port}"]) == 0
    )
    out = tmp_path / "report.json"
    rc = main_replay([
        str(trace), "--target", f"127.0.0.1:{port}", "--http", f"127.0.0.1:{http}",
        "--sample-interval", "0.2", "--json", str(out),
    ])  # fmt: skip
    assert rc == 0
    report = json.loads(out.read_text())
    st = report["statements"]
    assert (st["ok"], st["failed"], st["unfinished"]) == (80, 0, 0), report["errors"]
    assert set(report["kinds"]) == {r.kind for r in read_jsonl(trace)}
    coord = report["coordinator"]
    assert "thread_pool_status" not in coord["unsupported"]
    assert coord["thread_pool_status"]["rows"] >= 1  # one row per executor bucket
    assert any("http" in s for s in coord["samples"])
