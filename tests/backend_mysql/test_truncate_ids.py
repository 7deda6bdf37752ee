"""TRUNCATE starts AUTO_INCREMENT ids at 1 again, as in MariaDB, also when another
coordinator sharing the catalog holds a reserved block of ids for the table.

Each coordinator reserves ids in blocks from the shared counter in the catalog
(``Catalog.next_ids``). TRUNCATE removes the counter and drops the truncating
coordinator's block; any other coordinator drops its block at its next catalog reload
(``serve --workers`` peers reload before the TRUNCATE's OK), because its block ends
above the counter — so no coordinator goes on handing out ids from before the TRUNCATE,
and none hands out an id twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pymysql
import pytest

from sharding.coordinator import Coordinator
from sharding.topology import Topology
from tests.conftest import MYSQL_HOST, MYSQL_PORT, MYSQL_URL

pytestmark = pytest.mark.mysql

TAG = f"sgtrunc_{os.getpid()}"


def _drop() -> None:
    with pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True) as c:
        cur = c.cursor()
        cur.execute(f"SHOW DATABASES LIKE '{TAG}%'")
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def topology() -> Iterator[Topology]:
    _drop()
    yield Topology.from_dict(
        {
            "cluster": {
                "database": TAG,
                "catalog": f"{TAG}_catalog",
                "default_shards": 4,
                "autoinc_block": 10,
            },
            "datasources": [{"name": "m0", "kind": "mysql", "url": MYSQL_URL}],
        }
    )
    _drop()


async def _ids(session: object, sql: str) -> list[int]:
    result = await session.execute(sql)  # type: ignore[attr-defined]
    return [int(row[0]) for row in result.rows]


async def test_truncate_restarts_ids_on_every_coordinator(topology: Topology) -> None:
    async with Coordinator(topology) as first, Coordinator(topology) as second:
        a, b = first.open_session(), second.open_session()
        await a.execute("CREATE TABLE ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        await second.catalog.reload()
        await a.execute("INSERT INTO ai (v) VALUES (1), (2)")  # a's block: 1..10
        await b.execute("INSERT INTO ai (v) VALUES (3)")  # b's block: 11..20
        assert await _ids(a, "SELECT id FROM ai ORDER BY id") == [1, 2, 11]

        await a.execute("TRUNCATE TABLE ai")
        await second.catalog.reload()  # its periodic refresh, or a worker's reload
        await b.execute("INSERT INTO ai (v) VALUES (4)")
        # As MariaDB: from 1 again, not from b's block of before the TRUNCATE (12).
        assert await _ids(b, "SELECT id FROM ai") == [1]
        assert (await b.execute("SELECT LAST_INSERT_ID()")).rows == [(1,)]
        await a.execute("INSERT INTO ai (v) VALUES (5), (6)")
        await b.execute("INSERT INTO ai (v) VALUES (7)")
        ids = await _ids(a, "SELECT id FROM ai ORDER BY id")
        assert len(ids) == len(set(ids)) == 4, ids  # never an id twice

        await a.execute("TRUNCATE TABLE ai")  # the truncating coordinator itself
        await a.execute("INSERT INTO ai (v) VALUES (8)")
        assert await _ids(a, "SELECT id FROM ai") == [1]
        await a.close()
        await b.close()
