"""Coordinators as separate processes for the XA fleet tests: ``shardgate serve`` on a
port of its own (a peer of the test's coordinators, sharing their catalog), stopped
by the pid the test started, within a bound.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

ROOT = Path(__file__).resolve().parents[2]
SERVER_TOML = (
    "[server]\nshutdown_timeout = 2.0\n"
    "[[server.users]]\nname = 'root'\npassword = ''\nprivileges = ['all']\n"
)


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def connect(self, **kw: Any) -> Any:
        kw.setdefault("connect_timeout", 5)
        kw.setdefault("read_timeout", 60)
        kw.setdefault("autocommit", True)
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", **kw)

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines of event ``name`` written so far."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == name:
                    out.append(record)
        return out


@contextlib.contextmanager
def serve_process(
    workdir: Path, name: str, topology: str, env: Mapping[str, str] | None = None
) -> Iterator[Served]:
    """``shardgate serve`` (one process) on ``topology`` (TOML sections) on a free port;
    JSON logs at info level in ``<workdir>/<name>.log``."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / f"{name}.toml"
    cfg.write_text(topology + "\n" + SERVER_TOML)
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sharding.cli",
                "serve",
                "--config",
                str(cfg),
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                str(workdir / f"{name}-data"),
                "--log-format",
                "json",
                "--log-level",
                "info",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=err,
        )
    try:
        line = _readline(proc, 90)
        m = re.search(rb"MySQL protocol on 127\.0\.0\.1:(\d+)", line)
        assert m, (line, log_path.read_text(errors="replace")[-3000:])
        yield Served(proc, int(m[1]), log_path)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process we started, SIGKILL it past ``timeout``; reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def _readline(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    out: list[bytes] = []
    stdout = proc.stdout
    assert stdout is not None
    t = threading.Thread(target=lambda: out.append(stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not out or not out[0]:
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"serve printed no ready line in time (exit {proc.poll()})")
    return out[0]


def wait_until(predicate: Any, timeout: float, what: str, step: float = 0.1) -> float:
    """Poll ``predicate()`` until true; return the seconds it took (fail past timeout)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(step)
    return time.monotonic() - started
