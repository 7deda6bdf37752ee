"""Run ``shardgate serve`` as a subprocess for a benchmark, and talk to MariaDB directly.

Benchmarks drive the coordinator the way users do: a ``shardgate serve`` process with
a TOML config, reached over the MySQL protocol. :func:`served` writes the config,
starts the server on an ephemeral port (``listen = "127.0.0.1:0"``; the port is read
from the server's start-up line), and stops it with SIGTERM (then SIGKILL) when the
block ends, whatever happened inside it.

Invariants: the server only listens on loopback; the process never outlives the
``with`` block; its stdout/stderr go to a log file kept next to the config, so a
failing start is reported with the log's tail instead of a hang.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

ROOT = Path(__file__).resolve().parent.parent
MARIADB_HOST = os.environ.get("SHARDGATE_BENCH_MYSQL_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("SHARDGATE_BENCH_MYSQL_PORT", "3306"))
MARIADB_URL = f"mysql://root:@{MARIADB_HOST}:{MARIADB_PORT}"
_STARTED = re.compile(r"MySQL protocol on ([0-9.]+):(\d+)(?:.*http port (\d+))?")


def db_name(base: str) -> str:
    """``base`` plus ``$SHARDGATE_BENCH_DB_SUFFIX``: tests give each run its own
    databases, so two runs on one MariaDB never share (or drop) each other's data."""
    suffix = os.environ.get("SHARDGATE_BENCH_DB_SUFFIX", "")
    if not re.fullmatch(r"[A-Za-z0-9_]*", suffix):
        raise ValueError(f"SHARDGATE_BENCH_DB_SUFFIX must be letters, digits or _, not {suffix!r}")
    return base + suffix


class BenchSetupError(RuntimeError):
    """A benchmark cannot run here (no MariaDB, no Java, server failed to start)."""


def die_with_parent() -> None:
    """``preexec_fn`` for benchmark subprocesses: the kernel sends them SIGTERM when the
    benchmark process dies, even by a signal that skips its cleanup (Linux prctl)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the `with` blocks' cleanup still applies


def raise_nofile(wanted: int) -> int:
    """Raise this process's RLIMIT_NOFILE soft limit towards ``wanted`` (children
    inherit it); returns the limit in effect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def mariadb(database: str | None = None, **kw: Any) -> pymysql.connections.Connection:
    """An autocommit PyMySQL connection to the benchmark MariaDB (root, no password)."""
    try:
        return pymysql.connect(
            host=MARIADB_HOST,
            port=MARIADB_PORT,
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=5,
            **kw,
        )
    except pymysql.err.OperationalError as e:
        raise BenchSetupError(
            f"MariaDB at {MARIADB_HOST}:{MARIADB_PORT} unreachable: {e}"
        ) from None


def mariadb_available() -> bool:
    try:
        mariadb().close()
    except BenchSetupError:
        return False
    return True


def drop_sharded(prefix: str, shards: int) -> None:
    """Drop the physical databases ``prefix_0000…`` and the catalog rows of ``prefix``
    (what the coordinator created for logical database ``prefix``)."""
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        existing = {r[0] for r in cur.fetchall()}
        for s in range(shards):
            name = f"{prefix}_{s:04d}"
            if name in existing:
                cur.execute(f"DROP DATABASE `{name}`")
        if "shardgate_catalog" in existing:
            cur.execute("DELETE FROM shardgate_catalog.tables WHERE db = %s", (prefix,))
            cur.execute("DELETE FROM shardgate_catalog.databases WHERE name = %s", (prefix,))


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def config_text(
    *,
    database: str,
    executor: Mapping[str, Any],
    datasource: Mapping[str, Any],
    tables: list[Mapping[str, Any]] = (),  # type: ignore[assignment]
    server: Mapping[str, Any] | None = None,
) -> str:
    """A ``shardgate serve`` TOML: one MySQL data source, the given tables."""
    lines = ["[cluster]", f"database = {toml_value(database)}", "", "[executor]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in executor.items()]
    lines += [
        "",
        "[[datasources]]",
        'name = "m0"',
        'kind = "mysql"',
        f"url = {toml_value(MARIADB_URL)}",
    ]
    lines += [f"{k} = {toml_value(v)}" for k, v in datasource.items()]
    for t in tables:
        lines += ["", "[[tables]]"] + [f"{k} = {toml_value(v)}" for k, v in t.items()]
    srv = {
        "listen": "127.0.0.1:0",
        "http": "127.0.0.1:0",
        "shutdown_timeout": 2.0,
        **(server or {}),
    }
    lines += ["", "[server]"] + [f"{k} = {toml_value(v)}" for k, v in srv.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Served:
    """A running ``shardgate serve``: its ports, process and log."""

    port: int
    http_port: int | None
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def connect(self, database: str | None = None, **kw: Any) -> pymysql.connections.Connection:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=10,
            **kw,
        )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextlib.contextmanager
def served(
    config: str,
    *,
    start_timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    serve_args: Sequence[str] = (),
) -> Iterator[Served]:
    """Start ``shardgate serve --config`` with ``config`` (TOML text) and any further
    ``serve_args`` (say ``--gc-threshold 0``); stop it on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="shardgate-bench-serve-"))
    cfg = workdir / "serve.toml"
    cfg.write_text(config)
    log = workdir / "serve.log"
    penv = dict(os.environ, **(env or {}))
    penv.setdefault("MALLOC_ARENA_MAX", "2")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sharding.cli",
                "serve",
                "--config",
                str(cfg),
                "--log-format",
                "json",
                "--log-level",
                "warning",
                *serve_args,
            ],
            stdout=subprocess.PIPE,
            stderr=out,
            cwd=str(ROOT),
            env=penv,
            preexec_fn=die_with_parent,
        )
    srv: Served | None = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + start_timeout
        os.set_blocking(proc.stdout.fileno(), False)
        buf = b""
        while srv is None:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise BenchSetupError(
                    f"shardgate serve did not start (exit {proc.poll()}):\n{log.read_text(errors='replace')[-3000:]}"
                )
            chunk = proc.stdout.read()
            if chunk:
                buf += chunk
                m = _STARTED.search(buf.decode(errors="replace"))
                if m:
                    srv = Served(
                        int(m.group(2)), int(m.group(3)) if m.group(3) else None, proc, log
                    )
                    break
            time.sleep(0.05)
        yield srv
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM (the server's own orderly stop), SIGKILL after 15 s; pipes closed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def process_rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc (0 when unreadable)."""
    cur = peak = 0.0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return cur, peak


def mariadbd_pid() -> int | None:
    """The local MariaDB server's pid (None when it runs elsewhere: no CPU split then)."""
    if MARIADB_HOST not in ("127.0.0.1", "localhost"):
        return None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                    return int(entry.name)
            except OSError:
                continue
    return None


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tick
    except (OSError, IndexError, ValueError):
        return 0.0


# -- load once, reuse: a marker row per loaded data set ------------------------------------

MARKER_DB = "sgb_bench_meta"


def marker_get(name: str) -> str | None:
    """The fingerprint recorded when data set ``name`` finished loading, or None."""
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {MARKER_DB}")
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_DB}.loaded "
            "(name VARCHAR(64) PRIMARY KEY, fingerprint TEXT NOT NULL, loaded_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
        )
        cur.execute(f"SELECT fingerprint FROM {MARKER_DB}.loaded WHERE name = %s", (name,))
        row = cur.fetchone()
        return None if row is None else str(row[0])


def marker_set(name: str, fingerprint: str | None) -> None:
    """Record (or, with None, forget) that data set ``name`` is fully loaded.

    Written only after a load completed, and cleared before one starts, so a crashed
    load is never mistaken for a finished one."""
    marker_get(name)  # creates the table
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {MARKER_DB}.loaded WHERE name = %s", (name,))
        if fingerprint is not None:
            cur.execute(
                f"INSERT INTO {MARKER_DB}.loaded (name, fingerprint) VALUES (%s, %s)",
                (name, fingerprint),
            )
