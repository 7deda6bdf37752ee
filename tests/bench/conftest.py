"""Fixtures for the benchmark smoke tests: a private results folder and private
MariaDB databases per test, dropped afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class BenchRun:
    """Runs ``python -m bench…`` with its own results folder and database suffix."""

    results: Path
    suffix: str

    @property
    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            SHARDGATE_BENCH_RESULTS=str(self.results),
            SHARDGATE_BENCH_DB_SUFFIX=self.suffix,
        )

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *args],
            cwd=str(ROOT),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 240) -> None:
        proc = self.run(*args, timeout=timeout)
        assert proc.returncode == 0, (
            f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )

    def result(self, name: str) -> dict[str, Any]:
        path = self.results / f"{name}.json"
        assert path.is_file(), f"{path} was not written"
        data: dict[str, Any] = json.loads(path.read_text())
        assert data["benchmark"] == name
        assert data["machine"]["cpus"] >= 1 and data["command"]
        return data


def _drop_suffixed(suffix: str) -> None:
    conn = pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            for (name,) in cur.fetchall():
                if name.startswith("sgb_") and suffix in name:
                    cur.execute(f"DROP DATABASE `{name}`")
            cur.execute("SHOW DATABASES")
            existing = {r[0] for r in cur.fetchall()}
            if "shardgate_catalog" in existing:
                for table, col in (("tables", "db"), ("databases", "name")):
                    cur.execute(f"SELECT {col} FROM shardgate_catalog.{table}")
                    for (db,) in cur.fetchall():
                        if db.endswith(suffix):
                            cur.execute(
                                f"DELETE FROM shardgate_catalog.{table} WHERE {col} = %s", (db,)
                            )
            if "sgb_bench_meta" in existing:
                cur.execute("SELECT name FROM sgb_bench_meta.loaded")
                for (name,) in cur.fetchall():
                    if name.endswith(suffix):
                        cur.execute("DELETE FROM sgb_bench_meta.loaded WHERE name = %s", (name,))
    finally:
        conn.close()


@pytest.fixture
def bench_run(tmp_path: Path) -> Iterator[BenchRun]:
    suffix = f"_t{uuid.uuid4().hex[:6]}"
    run = BenchRun(tmp_path / "results", suffix)
    try:
        yield run
    finally:
        try:
            _drop_suffixed(suffix)
        except pymysql.err.OperationalError:
            pass  # no MariaDB: nothing was created
