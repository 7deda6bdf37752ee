"""``shardgate serve`` as a subprocess in front of the shared MariaDB, for tests that
drive it with real clients (sysbench, raw prepared statements).

Every database it creates — the logical one's shards, the catalog — starts with the
caller's prefix, and :func:`serve_mariadb` drops them all on the way out.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql

from tests.conftest import MYSQL_HOST, MYSQL_PORT, MYSQL_URL


def direct(sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
    """One statement straight on MariaDB (the reference)."""
    conn = pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user="root",
        password="",
        database=database,
        autocommit=True,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def drop_prefixed(prefix: str) -> None:
    like = prefix.replace("_", "\\_")
    for (name,) in direct(f"SHOW DATABASES LIKE '{like}%'"):
        direct(f"DROP DATABASE IF EXISTS `{name}`")


@contextmanager
def serve_mariadb(prefix: str, workdir: Path, *, shards: int = 4) -> Iterator[int]:
    """A coordinator whose logical database is ``<prefix>db`` (shards ``<prefix>db_NNNN``,
    catalog ``<prefix>cat``); yields its MySQL port."""
    drop_prefixed(prefix)
    (workdir / "c.toml").write_text(
        f"[cluster]\ndatabase = '{prefix}db'\ncatalog = '{prefix}cat'\ndefault_shards = {shards}\n\n"
        f"[[datasources]]\nname = 'm0'\nkind = 'mysql'\nurl = '{MYSQL_URL}'\nmax_connections = 32\n\n"
        "[server]\nlisten = '127.0.0.1:0'\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sharding.cli",
            "serve",
            "--config",
            "c.toml",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=workdir,
    )
    try:
        assert proc.stdout is not None
        m = re.search(r"on 127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert m, "shardgate serve did not start"
        yield int(m.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        drop_prefixed(prefix)
