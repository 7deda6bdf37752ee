"""The `mariadb` command-line client: -e, a piped session, `source`, admin SHOW commands."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import trio

from tests.server.conftest import Served

MARIADB = shutil.which("mariadb") or shutil.which("mysql")
pytestmark = pytest.mark.skipif(
    MARIADB is None, reason="the mariadb client is not installed (apt-get install mariadb-client)"
)


async def _cli(
    port: int, *args: str, stdin: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    assert MARIADB is not None
    cmd = [MARIADB, "-h127.0.0.1", f"-P{port}", "-uroot", "--skip-ssl", "--batch", *args]
    with trio.fail_after(30):
        return await trio.run_process(
            cmd, stdin=stdin or b"", capture_stdout=True, capture_stderr=True, check=check
        )


async def test_execute_option(served: Served) -> None:
    out = await _cli(
        served.port,
        "-e",
        "CREATE TABLE e (a INT, b TEXT); "
        "INSERT INTO e VALUES (1, 'one'), (2, NULL); SELECT a, b FROM e ORDER BY a; "
        "SELECT @@version_comment",
    )
    lines = out.stdout.decode().splitlines()
    assert lines == ["a\tb", "1\tone", "2\tNULL", "@@version_comment", "shardgate"]


async def test_piped_session_with_errors_and_force(served: Served) -> None:
    script = (
        b"CREATE TABLE p (a INT);\nINSERT INTO p VALUES (5), (6);\n"
        b"SELECT SUM(a) AS s FROM p;\nSELECT * FROM missing;\nSELECT 'after';\n"
    )
    out = await _cli(served.port, "--force", stdin=script, check=False)
    assert out.stdout.decode().splitlines() == ["s", "11", "after", "after"]
    assert b"ERROR 1146 (42S02) at line 4" in out.stderr
    # without --force the client stops at the error and exits non-zero
    out = await _cli(
        served.port, stdin=b"SELECT 1 AS x;\nSELECT * FROM missing;\nSELECT 2;\n", check=False
    )
    assert out.returncode == 1
    assert out.stdout.decode().splitlines() == ["x", "1"]


async def test_source_file_and_admin_commands(served: Served, tmp_path: Path) -> None:
    sql = tmp_path / "load.sql"
    sql.write_text(
        "/*!40101 SET NAMES utf8mb4 */;\n"
        "CREATE TABLE s (id INT, name TEXT);\n"
        "INSERT INTO s VALUES (1, 'a;b'), (2, 'c -- not a comment');\n"
        "-- a comment line\n"
        "SELECT COUNT(*) AS n FROM s;\n"
    )
    out = await _cli(served.port, "-e", f"source {sql}")
    assert out.stdout.decode().splitlines() == ["n", "2"]
    out = await _cli(served.port, "-e", "SELECT name FROM s ORDER BY id")
    assert out.stdout.decode().splitlines() == ["name", "a;b", "c -- not a comment"]
    out = await _cli(
        served.port,
        "-e",
        "SHOW PROCESSLIST; SHOW THREAD_POOL_STATUS; "
        "SHOW DATASOURCES; SHOW SHARDS; SHOW STATUS LIKE 'Threads_connected'",
    )
    text = out.stdout.decode()
    assert "Id\tUser\tHost\tdb\tCommand" in text
    assert "Threads_connected\t1" in text


async def test_mariadb_admin_ping_and_status(served: Served) -> None:
    admin = shutil.which("mariadb-admin") or shutil.which("mysqladmin")
    if admin is None:
        pytest.skip("mariadb-admin not installed")
    with trio.fail_after(30):
        out = await trio.run_process(
            [admin, "-h127.0.0.1", f"-P{served.port}", "-uroot", "--skip-ssl", "ping", "status"],
            capture_stdout=True,
        )
    text = out.stdout.decode()
    assert "mysqld is alive" in text and "Uptime:" in text
