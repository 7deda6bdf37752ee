"""End to end: real clients → MySQLServer → Coordinator on the embedded SQLite default
(16 shards of database ``db`` under a temporary directory)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pymysql
import pytest
import trio

from sharding.coordinator import Coordinator
from sharding.server import CoordinatorAdmin, MySQLServer, ServerConfig
from sharding.topology import Topology
from tests.server.conftest import CREATE, JAR, JAVA, JAVA_MISSING, JAVA_READY, Served, in_thread


@pytest.fixture
async def coord_served(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Served]:
    async with Coordinator(Topology.default(tmp_path / "data")) as coord:
        cfg = ServerConfig(
            listen="127.0.0.1:0",
            admin_listen="127.0.0.1:0",
            default_database="db",
            shutdown_timeout=2.0,
        )
        server = MySQLServer(cfg, coord, admin=CoordinatorAdmin(coord))
        await nursery.start(server.serve)
        yield Served(server, coord)  # type: ignore[arg-type]
        server.shutdown()


async def test_pymysql_end_to_end(coord_served: Served) -> None:
    def client() -> dict[str, object]:
        out: dict[str, object] = {}
        with coord_served.pymysql(autocommit=True) as c, c.cursor() as cur:
            cur.execute("SELECT DATABASE()")
            out["db"] = cur.fetchone()
            cur.execute("CREATE TABLE t (id INT PRIMARY KEY, g INT, name VARCHAR(20))")
            values = ", ".join(f"({i}, {i % 5}, 'n{i}')" for i in range(1, 201))
            out["inserted"] = cur.execute(f"INSERT INTO t (id, g, name) VALUES {values}")
            cur.execute("SELECT id, name FROM t ORDER BY id DESC LIMIT 3")
            out["top"] = cur.fetchall()
            cur.execute("SELECT COUNT(*), SUM(id), MIN(id), MAX(id), AVG(id) FROM t")
            out["agg"] = cur.fetchone()
            cur.execute("SELECT g, COUNT(*) FROM t GROUP BY g ORDER BY g")
            out["groups"] = cur.fetchall()
            cur.execute("SELECT DISTINCT g FROM t ORDER BY g")
            out["distinct"] = cur.fetchall()
            cur.execute("SELECT name FROM t WHERE id = %s", (42,))
            out["point"] = cur.fetchall()
            out["updated"] = cur.execute("UPDATE t SET name = 'x' WHERE g = 0")
            c.begin()
            cur.execute("DELETE FROM t WHERE id <= 10")
            c.rollback()
            cur.execute("SELECT COUNT(*) FROM t")
            out["after_rollback"] = cur.fetchone()
            codes = []
            for bad in ("SELECT * FROM missing", "SELECT * FROM t WHERE"):
                try:
                    cur.execute(bad)
                except pymysql.MySQLError as exc:
                    codes.append(exc.args[0])
            out["codes"] = codes
            cur.execute("SHOW SHARDS")
            out["shards"] = cur.fetchall()
            cur.execute("SHOW THREAD_POOL_STATUS")
            out["buckets"] = cur.fetchall()
            cur.execute("SHOW DATASOURCES")
            out["datasources"] = cur.fetchall()
        return out

    out = await in_thread(client)
    assert out["db"] == ("db",)
    assert out["inserted"] == 200
    assert out["top"] == ((200, "n200"), (199, "n199"), (198, "n198"))
    count, total, lo, hi, avg = out["agg"]  # type: ignore[misc]
    assert (count, int(total), lo, hi, float(avg)) == (200, 20100, 1, 200, 100.5)
    assert out["groups"] == tuple((g, 40) for g in range(5))
    assert out["distinct"] == tuple((g,) for g in range(5))
    assert out["point"] == (("n42",),)
    assert out["updated"] == 40
    assert out["after_rollback"] == (200,)
    assert out["codes"] == [1146, 1064]
    shards = out["shards"]
    assert len(shards) == 16 and {r[0] for r in shards} == {"db.t"}  # type: ignore[union-attr]
    assert len(out["buckets"]) == coord_served.factory.executor.config.buckets  # type: ignore[attr-defined,arg-type]
    assert out["datasources"][0][0] == "ds0"  # type: ignore[index]


def _shard_counts(data_dir: Path) -> list[int]:
    counts = []
    for f in sorted((data_dir / "ds0").glob("db_*.sqlite")):
        with sqlite3.connect(f) as db:
            try:
                counts.append(db.execute("SELECT COUNT(*) FROM t").fetchone()[0])
            except sqlite3.OperationalError:
                counts.append(0)
    return counts


async def _seed000(
    served: Served, compiled_dir: Path, mode: str, threads: int, batches: int
) -> str:
    def setup() -> None:
        with served.pymysql(autocommit=True) as c, c.cursor() as cur:
            cur.execute(CREATE.replace("String", "VARCHAR(64)"))

    await in_thread(setup)
    with trio.fail_after(240):
        out = await trio.run_process(
            [
                str(JAVA),
                "-cp",
                f"{JAR}:{compiled_dir}",
                "Seed000",
                str(served.port),
                mode,
                str(threads),
                str(batches),
                "1000",
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()[-2000:]
    return out.stdout.decode()


needs_java = pytest.mark.skipif(
    not JAVA_READY,
    reason=JAVA_MISSING,
)


@needs_java
async def test_seed000_server_prepared_through_coordinator(
    coord_served: Served,
    compiled: Path,
    tmp_path: Path,
) -> None:
    text = await _seed000(coord_served, compiled, "serverprep", 10, 1)
    assert "COUNT 10000" in text
    counts = _shard_counts(tmp_path / "data")
    assert sum(counts) == 10000 and len(counts) == 16 and min(counts) > 0


@needs_java
async def test_seed000_rewrite_batched_through_coordinator(
    coord_served: Served,
    compiled: Path,
    tmp_path: Path,
) -> None:
    text = await _seed000(coord_served, compiled, "rewrite", 10, 6)
    assert "COUNT 60000" in text
    counts = _shard_counts(tmp_path / "data")
    assert sum(counts) == 60000 and min(counts) > 0
