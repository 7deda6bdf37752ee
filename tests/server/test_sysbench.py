"""sysbench's OLTP tests run unchanged through the coordinator (issue 14, item 2).

sysbench's default ``--db-ps-mode=auto`` uses server-side prepared statements; it
reads a statement's rows only when COM_STMT_PREPARE announced result columns, so a
server announcing none dies at the first read with 2014 "Commands out of sync". Each
OLTP test runs its real life cycle against ``shardgate serve`` in front of MariaDB
shards — ``prepare`` (CREATE TABLE with PRIMARY KEY and a secondary index, bulk
INSERTs), ``run`` (BEGIN/COMMIT, point selects, ranges with ORDER BY / DISTINCT /
SUM, UPDATE/DELETE/INSERT by id) and ``cleanup`` — in the default mode, and must end
with 0 errors and 0 reconnects, having done work.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.server.served import direct, serve_mariadb

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

PREFIX = f"sgps_sb{os.getpid()}_"
DATABASE = f"{PREFIX}db"
TESTS = ("oltp_read_write", "oltp_read_only", "oltp_point_select")


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    assert shutil.which("sysbench"), "sysbench is installed by .ci/run (apt-get install sysbench)"
    with serve_mariadb(PREFIX, tmp_path_factory.mktemp("sysbench"), shards=4) as p:
        yield p


def _sysbench(test: str, port: int, command: str, *extra: str) -> str:
    args = [
        "sysbench",
        test,
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        f"--mysql-port={port}",
        "--mysql-user=root",
        f"--mysql-db={DATABASE}",
        "--tables=2",
        "--table-size=1000",
        *extra,
        command,
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{out[-3000:]}"
    assert "FATAL" not in out, out[-3000:]
    return out


def _counter(out: str, name: str) -> int:
    m = re.search(rf"{name}:\s+(\d+)", out)
    assert m, f"no '{name}' in sysbench output:\n{out[-2000:]}"
    return int(m.group(1))


@pytest.mark.parametrize("test", TESTS)
def test_oltp_default_mode(port: int, test: str) -> None:
    _sysbench(test, port, "prepare")
    try:
        tables = {r[0] for r in direct(f"SHOW TABLES FROM `{DATABASE}_0000`")}
        assert {"sbtest1", "sbtest2"} <= tables, "sysbench's tables are sharded"
        out = _sysbench(test, port, "run", "--time=5")
        transactions = _counter(out, "transactions")
        queries = _counter(out, "queries")
        errors = _counter(out, "ignored errors")
        reconnects = _counter(out, "reconnects")
        assert transactions > 0 and queries > 0, out[-2000:]
        assert errors == 0 and reconnects == 0, out[-2000:]
    finally:
        _sysbench(test, port, "cleanup")
    print(
        f"sysbench {test} (prepared statements, 2 tables x 1000 rows, 4 shards): "
        f"{transactions} transactions, {queries} queries, 0 errors, 0 reconnects"
    )
