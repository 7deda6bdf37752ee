"""Cross-server writes through the Coordinator use XA (issue 4); the catalog is shared.

Topology: ``ds0`` = the shared server, ``ds1`` = a private mariadbd; table ``t`` is
``PARTITION BY HASH(id) PARTITIONS 2``, so even ids live on ds0 and odd ids on ds1 —
every multi-row write below spans both servers. Whether XA really ran is read from the
private server's own counters (``Com_xa_*``: nothing else talks to it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

import sharding.exec.xa as xa_exec
from sharding import Coordinator, Topology
from sharding.backend.mysql import MySQLDataSource
from sharding.backend.xa import FAULT_ENV, FAULT_POINTS, LOG_TABLE
from sharding.errors import BackendError
from tests.backend_mysql.conftest import make_ds
from tests.conftest import MYSQL_URL
from tests.mysqld import PrivateMariaDB

pytestmark = pytest.mark.mysql

ROOT = Path(__file__).resolve().parents[2]
DB = f"sgxa{os.getpid()}"


def topology_text(private_url: str) -> str:
    return f"""
[cluster]
database = "{DB}"
default_shards = 2

[[datasources]]
name = "ds0"
kind = "mysql"
url = "{MYSQL_URL}"

[[datasources]]
name = "ds1"
kind = "mysql"
url = "{private_url}"
"""


@pytest.fixture
def topology_file(private: PrivateMariaDB, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "xa.toml"
    path.write_text(topology_text(private.url))
    yield path


@pytest.fixture
async def servers(
    private: PrivateMariaDB,
) -> AsyncIterator[tuple[MySQLDataSource, MySQLDataSource]]:
    a, b = make_ds("ds0_check", MYSQL_URL), make_ds("ds1_check", private.url)
    await a.open()
    await b.open()
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


@pytest.fixture
async def coord(
    topology_file: Path, servers: tuple[MySQLDataSource, MySQLDataSource]
) -> AsyncIterator[Coordinator]:
    async with Coordinator(Topology.load(topology_file), catalog_refresh=None) as c:
        await c.execute(f"DROP DATABASE IF EXISTS {DB}")
        await c.execute(f"CREATE DATABASE {DB}")
        await c.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) PARTITION BY HASH (id) PARTITIONS 2"
        )
        try:
            yield c
        finally:
            await c.execute(f"DROP DATABASE IF EXISTS {DB}")
    for ds in servers:
        for shard in (0, 1):
            await ds.execute(f"DROP DATABASE IF EXISTS {DB}_{shard:04d}")


async def physical(ds: MySQLDataSource, shard: int) -> list[tuple[int, str]]:
    rs = await ds.fetch(f"SELECT id, v FROM {DB}_{shard:04d}.t ORDER BY id")
    return [(int(r[0]), str(r[1])) for r in rs.rows]


async def xa_counters(ds: MySQLDataSource) -> dict[str, int]:
    rs = await ds.fetch("SHOW GLOBAL STATUS LIKE 'Com_xa_%'")
    return {str(r[0]).lower(): int(r[1]) for r in rs.rows}


async def prepared(ds: MySQLDataSource) -> int:
    return len((await ds.fetch("XA RECOVER")).rows)


async def test_multi_row_insert_update_delete_commit_atomically_with_xa(
    coord: Coordinator, servers: tuple[MySQLDataSource, MySQLDataSource]
) -> None:
    a, b = servers
    before = await xa_counters(b)
    log_rows = f"SELECT COUNT(*) FROM {LOG_TABLE} WHERE participants = 'ds0,ds1'"
    log_before = (await a.fetch(log_rows)).rows
    res = await coord.execute(
        "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four')"
    )
    assert res.affected == 4
    assert await physical(a, 0) == [(2, "two"), (4, "four")]
    assert await physical(b, 1) == [(1, "one"), (3, "three")]
    res = await coord.execute("UPDATE t SET v = CONCAT(v, '!') WHERE id > 1")
    assert res.affected == 3
    res = await coord.execute("DELETE FROM t WHERE id IN (1, 4)")
    assert res.affected == 2
    assert (await coord.execute("SELECT id, v FROM t ORDER BY id")).rows == [
        (2, "two!"),
        (3, "three!"),
    ]
    after = await xa_counters(b)
    # Three writes, each one XA branch on the private server, prepared then committed.
    assert after["com_xa_prepare"] - before["com_xa_prepare"] == 3
    assert after["com_xa_commit"] - before["com_xa_commit"] == 3
    assert await prepared(a) == 0 and await prepared(b) == 0
    # Decision rows are removed once every branch committed.
    assert (await a.fetch(log_rows)).rows == log_before
    # A single-server write stays a plain local transaction.
    await coord.execute("INSERT INTO t VALUES (6, 'six'), (8, 'eight')")
    assert (await xa_counters(b))["com_xa_start"] == after["com_xa_start"]


async def test_failing_branch_leaves_nothing_on_either_server(
    coord: Coordinator, servers: tuple[MySQLDataSource, MySQLDataSource]
) -> None:
    a, b = servers
    await b.execute(
        f"INSERT INTO {DB}_0001.t VALUES (3, 'already')"
    )  # behind the coordinator's back
    before = await xa_counters(b)
    with pytest.raises(BackendError) as info:
        await coord.execute("INSERT INTO t VALUES (2, 'a'), (3, 'b'), (4, 'c'), (5, 'd')")
    assert info.value.code == 1062 and getattr(info.value, "datasource", None) == "ds1"
    assert await physical(a, 0) == []
    assert await physical(b, 1) == [(3, "already")]
    assert await prepared(a) == 0 and await prepared(b) == 0
    assert (await xa_counters(b))["com_xa_rollback"] > before["com_xa_rollback"]
    # Connections went back clean: the same write without the conflict succeeds.
    await coord.execute("INSERT INTO t VALUES (2, 'a'), (4, 'c'), (5, 'd')")
    assert await physical(b, 1) == [(3, "already"), (5, "d")]


@pytest.mark.parametrize("fault", FAULT_POINTS)
async def test_coordinator_killed_mid_xa_is_recovered_when_a_coordinator_opens(
    coord: Coordinator,
    servers: tuple[MySQLDataSource, MySQLDataSource],
    topology_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    a, b = servers
    env = {**os.environ, FAULT_ENV: fault, "PYTHONPATH": str(ROOT)}
    sql = "INSERT INTO t VALUES (10, 'x'), (11, 'y')"
    with trio.fail_after(60):
        proc = await trio.run_process(
            [
                sys.executable,
                "-m",
                "tests.backend_mysql.xa_coordinator_crash_script",
                str(topology_file),
                sql,
            ],
            cwd=ROOT,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert proc.returncode == 77, proc.stderr.decode()[-2000:]
    assert await prepared(a) + await prepared(b) >= 1  # the crash left prepared branches
    # The crashed coordinator is gone: its undecided transaction may be aborted now.
    monkeypatch.setattr(xa_exec, "UNDECIDED_MIN_AGE", 0.0)
    async with Coordinator(Topology.load(topology_file), catalog_refresh=None):
        pass
    assert await prepared(a) == 0 and await prepared(b) == 0
    rows = (await physical(a, 0), await physical(b, 1))
    if fault == "after_prepare":
        assert rows == ([], [])  # no decision logged: presumed abort
    else:
        assert rows == ([(10, "x")], [(11, "y")])  # decided: committed exactly once


async def test_catalog_lives_in_shardgate_catalog_and_is_shared(
    coord: Coordinator, servers: tuple[MySQLDataSource, MySQLDataSource], topology_file: Path
) -> None:
    a, b = servers
    async with Coordinator(Topology.load(topology_file), catalog_refresh=None) as other:
        await coord.execute("CREATE TABLE shared (id INT PRIMARY KEY, v INT)")
        await coord.execute("INSERT INTO shared VALUES (1, 10), (2, 20)")
        # The second coordinator learns the table from the stored catalog.
        assert (await other.execute("SELECT SUM(v) FROM shared")).rows[0][0] == 30
        await other.execute("DROP TABLE shared")
        with pytest.raises(Exception, match="doesn't exist"):
            await coord.execute("SELECT * FROM shared")
    rs = await a.fetch(
        f"SELECT name FROM shardgate_catalog.`tables` WHERE db = '{DB}' ORDER BY name"
    )
    assert [r[0] for r in rs.rows] == ["t"]
    on_private = await b.fetch("SHOW DATABASES LIKE 'shardgate_catalog'")
    assert on_private.rows == []  # the catalog and the XA log live on the first data source only
