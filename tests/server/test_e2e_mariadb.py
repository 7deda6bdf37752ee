"""End to end against MariaDB: clients → MySQLServer → Coordinator → MariaDB shards.

Seed 000's workload through MariaDB Connector/J (issue 5 acceptance 3): 10 threads ×
1000-row batches, 60,000 rows with rewriteBatchedStatements=true, then server-side
prepared statements (10,000 rows by default: each row is one COM_STMT_EXECUTE and one
coordinator statement, ~1 ms each; SHARDGATE_SEED000_FULL=1 runs the full 60,000).
Every shard must hold its share. Uses a fresh logical database, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pymysql
import pytest
import trio

from sharding.backend.mysql import MySQLConfig, MySQLDataSource
from sharding.coordinator import Coordinator
from sharding.server import CoordinatorAdmin, MySQLServer, ServerConfig
from sharding.topology import Topology
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import CREATE, JAR, JAVA, JAVA_MISSING, JAVA_READY, Served, in_thread

pytestmark = pytest.mark.mysql
SHARDS = 16


def _cleanup(db: str) -> None:
    with (
        pymysql.connect(
            host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
        ) as c,
        c.cursor() as cur,
    ):
        for i in range(SHARDS):
            cur.execute(f"DROP DATABASE IF EXISTS `{db}_{i:04d}`")
        cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
        if cur.fetchone():
            cur.execute("DELETE FROM shardgate_catalog.tables WHERE db = %s", (db,))
            cur.execute("DELETE FROM shardgate_catalog.databases WHERE name = %s", (db,))


@pytest.fixture
async def mariadb_served(
    nursery: trio.Nursery, mysql_url: str
) -> AsyncIterator[tuple[Served, str]]:
    db = f"sgsrv_{secrets.token_hex(3)}"
    topology = Topology.from_dict(
        {
            "cluster": {"database": db},
            "datasources": [{"name": "m0", "kind": "mysql", "url": mysql_url}],
            "tables": [
                {
                    "name": f"{db}.t",
                    "shard_key": "id1",
                    "algorithm": "mod",
                    "shards": SHARDS,
                    "datasources": ["m0"],
                }
            ],
        }
    )
    ds = MySQLDataSource(
        "m0", MySQLConfig.from_mapping("m0", {"url": mysql_url, "max_connections": 32})
    )
    try:
        async with Coordinator(topology, datasources={"m0": ds}) as coord:
            cfg = ServerConfig(listen="127.0.0.1:0", default_database=db, shutdown_timeout=2.0)
            server = MySQLServer(cfg, coord, admin=CoordinatorAdmin(coord))
            await nursery.start(server.serve)
            yield Served(server, coord), db  # type: ignore[arg-type]
            server.shutdown()
    finally:
        await in_thread(_cleanup, db)


def _counts(db: str) -> list[int]:
    with (
        pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="") as c,
        c.cursor() as cur,
    ):
        out = []
        for i in range(SHARDS):
            cur.execute(f"SELECT COUNT(*) FROM `{db}_{i:04d}`.t")
            out.append(cur.fetchone()[0])
        return out


@pytest.mark.skipif(
    not JAVA_READY,
    reason=JAVA_MISSING,
)
async def test_seed000_through_coordinator_on_mariadb(
    mariadb_served: tuple[Served, str],
    compiled: Path,
) -> None:
    served, db = mariadb_served

    def setup() -> int:
        with served.pymysql(autocommit=True) as c, c.cursor() as cur:
            cur.execute(
                CREATE.replace("db.t", f"{db}.t")
                .replace("String", "VARCHAR(64)")
                .replace("dt timestamp", "dt timestamp NULL")
            )
            return cur.execute(f"INSERT INTO {db}.t (id1, str1) VALUES (-1, 'probe'), (-2, 'p2')")

    assert await in_thread(setup) == 2

    async def run(mode: str, batches: int) -> str:
        with trio.fail_after(240):
            out = await trio.run_process(
                [
                    str(JAVA),
                    "-cp",
                    f"{JAR}:{compiled}",
                    "Seed000",
                    str(served.port),
                    mode,
                    "10",
                    str(batches),
                    "1000",
                    "root",
                    "",
                    db,
                ],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()[-2000:]
        return out.stdout.decode()

    text = await run("rewrite", 6)
    assert "COUNT 60002" in text and "ROW7 7 s1-7" in text
    counts = _counts(db)
    assert sum(counts) == 60002 and min(counts) >= 60000 // SHARDS
    prepared_batches = 6 if os.environ.get("SHARDGATE_SEED000_FULL") == "1" else 1
    text = await run("serverprep", prepared_batches)
    assert f"COUNT {60002 + prepared_batches * 10000}" in text
    assert sum(_counts(db)) == 60002 + prepared_batches * 10000
