"""The README's "Run in front of MariaDB" path works as written, end to end.

``shardgate serve --config examples/service.toml`` against the local MariaDB — a copy
of the example with ephemeral ports and this test's own database names, nothing else
changed — then the README's own commands, read from README.md: the ``mariadb -e`` SQL
(run twice: a newcomer runs it again), the admin-port command and ``/metrics``. The SQL
answers are compared with the same SQL run directly on MariaDB.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT

pytestmark = pytest.mark.mysql

ROOT = Path(__file__).resolve().parents[2]
PID = os.getpid()
DB = f"sgux_rd{PID}"
CATALOG = f"sgux_rdcat{PID}"
REF = f"sgux_rdref{PID}"
MARIADB = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"


def _readme_commands() -> list[str]:
    """The shell lines of the README's first code block under "Run in front of MariaDB"
    (continuation lines of a quoted ``-e "..."`` joined to their command)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Run in front of MariaDB", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands: list[str] = []
    for line in block.splitlines():
        if commands and commands[-1].count('"') % 2 == 1:
            commands[-1] += "\n" + line
        else:
            commands.append(line)
    return [c for c in commands if c.strip()]


def _service_copy(tmp_path: Path) -> Path:
    text = (ROOT / "examples" / "service.toml").read_text(encoding="utf-8")
    subs = [
        ('database = "db"', f'database = "{DB}"'),
        ('name = "db.orders"', f'name = "{DB}.orders"'),
        ('catalog = "shardgate_catalog"', f'catalog = "{CATALOG}"'),
        ('"127.0.0.1:3307"', '"127.0.0.1:0"'),
        ('"127.0.0.1:3308"', '"127.0.0.1:0"'),
        ('"127.0.0.1:8080"', '"127.0.0.1:0"'),
        ("mysql://root:@127.0.0.1:3306", f"mysql://root:@{MYSQL_HOST}:{MYSQL_PORT}"),
    ]
    for old, new in subs:
        assert old in text, f"examples/service.toml no longer has {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "service.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _direct(sql: str) -> list[tuple[object, ...]]:
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
    for pattern in (f"sgux\\_rd{PID}%", f"sgux\\_rdcat{PID}", f"sgux\\_rdref{PID}"):
        for (name,) in _direct(f"SHOW DATABASES LIKE '{pattern}'"):
            _direct(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def clean() -> Iterator[None]:
    _drop_ours()
    yield
    _drop_ours()


def _mariadb(
    port: int, args: list[str], sql: str | None = None, database: str | None = None
) -> str:
    cmd = [MARIADB, "-h127.0.0.1", f"-P{port}", *args, "--skip-ssl", "--batch"]
    if database:
        cmd.append(f"-D{database}")
    if sql is not None:
        cmd += ["-e", sql]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (cmd, out.stderr)
    return out.stdout


def test_readme_mariadb_example_works_as_written(tmp_path: Path, clean: None) -> None:
    commands = _readme_commands()
    serve, sql_cmd = commands[0], commands[1]
    assert serve.split("#")[0].split() == [
        ".venv/bin/shardgate",
        "serve",
        "--config",
        "examples/service.toml",
    ]
    m = re.fullmatch(r'mariadb -h127\.0\.0\.1 -P3307 -uapp -papp-secret -e "(.*)"', sql_cmd, re.S)
    assert m, sql_cmd
    sql = m.group(1)
    admin_cmd = next(c for c in commands if "-P3308" in c)
    admin = re.fullmatch(r'mariadb -h127\.0\.0\.1 -P3308 (-u\S+) (-p\S+) -e "([^"]*)".*', admin_cmd)
    assert admin, admin_cmd
    assert any("curl -s http://127.0.0.1:8080/metrics" in c for c in commands)

    log_file = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sharding.cli", "serve", "--config", str(_service_copy(tmp_path))],
        stdout=subprocess.PIPE,
        # a file, not a pipe nobody reads: a full pipe would block the server's log
        stderr=log_file,
        text=True,
        cwd=ROOT,
    )
    log_file.close()  # the server holds its own copy
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        ports = re.search(r"on 127\.0\.0\.1:(\d+), admin port (\d+), http port (\d+)", ready)
        assert ports, (ready, (tmp_path / "serve.log").read_text(errors="replace")[-2000:])
        port, admin_port, http_port = (int(p) for p in ports.groups())

        # The README's statements, twice (a newcomer runs them again), and on MariaDB.
        first = _mariadb(port, ["-uapp", "-papp-secret"], sql)
        again = _mariadb(port, ["-uapp", "-papp-secret"], sql)
        _direct(f"CREATE DATABASE {REF}")
        reference = _mariadb(MYSQL_PORT, ["-uroot"], sql, database=REF)
        assert first == again == reference
        assert "17\t12\t99.99" in first
        print("README SQL through shardgate == MariaDB:\n" + first)

        # The declared rule was used: 16 shards of orders.
        shards = _direct(f"SHOW DATABASES LIKE 'sgux\\_rd{PID}\\_%'")
        assert len(shards) == 16, shards

        status = _mariadb(admin_port, [admin.group(1), admin.group(2)], admin.group(3))
        assert status.splitlines()[0].split("\t")[0].lower().startswith(("bucket", "id", "group"))
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as resp:
            assert resp.status == 200 and b"shardgate" in resp.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = (tmp_path / "serve.log").read_text(errors="replace")
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
