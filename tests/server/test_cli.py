"""The `shardgate` command: --version, serve (embedded default, SIGTERM), explain,
configuration errors."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

SHARDGATE = [sys.executable, "-m", "sharding.cli"]
MARIADB = shutil.which("mariadb") or shutil.which("mysql")


async def test_version() -> None:
    out = await trio.run_process([*SHARDGATE, "--version"], capture_stdout=True)
    assert re.fullmatch(r"shardgate \S+\n", out.stdout.decode())


async def test_non_loopback_without_password_is_refused(tmp_path: Path) -> None:
    out = await trio.run_process(
        [*SHARDGATE, "serve", "--listen", "0.0.0.0:0", "--data-dir", str(tmp_path)],
        capture_stderr=True,
        check=False,
    )
    assert out.returncode == 2
    assert b"not a loopback address" in out.stderr


async def test_bad_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[server]\nlisten = '127.0.0.1:0'\nmax_conections = 5\n")
    out = await trio.run_process(
        [*SHARDGATE, "serve", "--config", str(cfg)], capture_stderr=True, check=False
    )
    assert out.returncode == 2 and b"unknown keys" in out.stderr


@pytest.mark.skipif(MARIADB is None, reason="the mariadb client is not installed")
async def test_serve_embedded_default_then_sigterm(tmp_path: Path) -> None:
    assert MARIADB is not None
    cfg = tmp_path / "service.toml"
    cfg.write_text(
        "[executor]\nbuckets = 2\n\n[server]\nshutdown_timeout = 5\n"
        "[[server.users]]\nname = 'root'\npassword = ''\n"
    )
    # Popen + a thread for readline: the ready line must be read as it comes.
    log_file = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220
        [
            *SHARDGATE,
            "serve",
            "--config",
            str(cfg),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path / "data"),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        # a file, not a pipe nobody reads: a full pipe would block the server's log
        stderr=log_file,
    )
    log_file.close()  # the server holds its own copy
    try:
        assert proc.stdout is not None
        line = await trio.to_thread.run_sync(proc.stdout.readline)
        m = re.search(rb"on 127\.0\.0\.1:(\d+), admin port (\d+)", line)
        assert m, line
        port, admin_port = m.group(1).decode(), m.group(2).decode()
        script = (
            b"CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(10));\n"
            b"INSERT INTO kv VALUES (1, 'a'), (2, 'b'), (3, 'c');\n"
            b"SELECT k, v FROM kv ORDER BY k;\n"
        )
        with trio.fail_after(60):
            out = await trio.run_process(
                [MARIADB, "-h127.0.0.1", f"-P{port}", "-uroot", "--skip-ssl", "--batch"],
                stdin=script,
                capture_stdout=True,
            )
            assert out.stdout.decode().splitlines() == ["k\tv", "1\ta", "2\tb", "3\tc"]
            out = await trio.run_process(
                [
                    MARIADB,
                    "-h127.0.0.1",
                    f"-P{admin_port}",
                    "-uroot",
                    "--skip-ssl",
                    "--batch",
                    "-e",
                    "SHOW THREAD_POOL_STATUS",
                ],
                capture_stdout=True,
            )
            assert len(out.stdout.decode().splitlines()) == 3  # header + 2 buckets
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            code = await trio.to_thread.run_sync(proc.wait)
        assert code == 0
        assert (tmp_path / "data" / "ds0").is_dir()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_explain(tmp_path: Path) -> None:
    with trio.fail_after(60):
        out = await trio.run_process(
            [*SHARDGATE, "explain", "SELECT 1", "--data-dir", str(tmp_path)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout.strip()


def test_tune_gc_freezes_start_up_objects_and_raises_thresholds() -> None:
    import gc

    from sharding.cli import tune_gc

    before = gc.get_threshold()
    try:
        tune_gc(0)
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0
        tune_gc(100_000)
        assert gc.get_threshold() == (100_000, 50, 1000)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_bench_subcommand_runs_the_checkout_suite(tmp_path: Path) -> None:
    out = await trio.run_process([*SHARDGATE, "bench", "--help"], capture_stdout=True, check=False)
    assert (
        out.returncode == 0 and b"usage: shardgate bench" in out.stdout and b"quick" in out.stdout
    )
    bad = await trio.run_process(
        [*SHARDGATE, "bench", "quick", "nosuch"],
        capture_stderr=True,
        check=False,
        cwd=str(tmp_path),
    )
    assert bad.returncode == 2 and b"unknown benchmark(s) nosuch" in bad.stderr
