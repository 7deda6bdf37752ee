"""A private, throw-away ``mariadbd`` for tests: own datadir, own free port, own process.

Used by fault tests (SIGSTOP/SIGCONT, server-side KILL) and 2-server topologies, so the
shared server on 3306 is never disturbed. Everything binds to 127.0.0.1.

    with PrivateMariaDB() as server:      # or server.start() / server.stop()
        server.url                         # "mysql://root:@127.0.0.1:<port>"
        server.pause(); server.resume()    # SIGSTOP / SIGCONT
        server.sql("SELECT 1")             # via the mariadb CLI (blocking)

Invariants: ``stop()`` always leaves no process behind (SIGCONT first, then SIGTERM,
then SIGKILL after a bound) and removes the datadir; ``start()`` fails with a clear
error, including the server's log tail, within ``start_timeout`` seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
CLIENT = shutil.which("mariadb") or "/usr/bin/mariadb"


def available() -> bool:
    return all(os.path.exists(p) for p in (MARIADBD, INSTALL_DB, CLIENT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateMariaDB:
    def __init__(self, *, start_timeout: float = 60.0, extra_args: list[str] | None = None) -> None:
        self.start_timeout = start_timeout
        self.extra_args = extra_args or []
        self.port = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"mysql://root:@127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _log_tail(self) -> str:
        if self.dir is None:
            return ""
        path = self.dir / "error.log"
        try:
            return path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def start(self) -> PrivateMariaDB:
        if not available():
            raise RuntimeError("mariadbd / mariadb-install-db / mariadb not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="shardgate-mariadb-"))
        datadir = self.dir / "data"
        user = ["--user=root"] if os.geteuid() == 0 else []
        install = subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                *user,
            ],
            capture_output=True,
            timeout=self.start_timeout,
        )
        if install.returncode != 0:
            out = (install.stdout + install.stderr).decode(errors="replace")[-3000:]
            self._cleanup()
            raise RuntimeError(f"mariadb-install-db failed:\n{out}")
        self.port = free_port()
        args = [
            MARIADBD,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.dir / 'mysqld.sock'}",
            f"--pid-file={self.dir / 'mysqld.pid'}",
            f"--log-error={self.dir / 'error.log'}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=16M",
            "--max-connections=300",
            "--skip-log-bin",
            *user,
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self._log_tail()
                self._cleanup()
                raise RuntimeError(f"mariadbd exited at start:\n{tail}")
            try:
                self.sql("SELECT 1", timeout=5)
                return self
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                time.sleep(0.2)
        tail = self._log_tail()
        self.stop()
        raise RuntimeError(f"mariadbd did not answer within {self.start_timeout}s:\n{tail}")

    def sql(self, statement: str, *, timeout: float = 10.0) -> str:
        """Run SQL through the CLI (batch mode, no headers); return its stdout."""
        out = subprocess.run(
            [
                CLIENT,
                "--no-defaults",
                "-uroot",
                "-h127.0.0.1",
                f"-P{self.port}",
                "-N",
                "-B",
                f"--connect-timeout={max(1, int(timeout))}",
                "-e",
                statement,
            ],
            capture_output=True,
            timeout=timeout,
            check=True,
        )
        return out.stdout.decode()

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.proc = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PrivateMariaDB:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
