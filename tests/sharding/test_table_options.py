"""CREATE TABLE options: MariaDB refuses one it does not know with 1911 (``shard_key=id``
is not a way to declare a rule; it was dropped silently), and takes its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pymysql
import pytest

from sharding import Coordinator, Topology
from sharding.errors import ShardgateError
from tests.conftest import mariadb_reference

pytestmark = pytest.mark.mysql

STATEMENTS = [
    "CREATE TABLE o1 (id INT PRIMARY KEY) shard_key=id shards=4",
    "CREATE TABLE o2 (id INT PRIMARY KEY) ENGINE=InnoDB foo=1",
    "CREATE TABLE o3 (id INT PRIMARY KEY) ENGINE=InnoDB STATS_PERSISTENT=1 PACK_KEYS=1"
    " ROW_FORMAT=DYNAMIC MAX_ROWS=100 COMMENT='x'",
    "CREATE TABLE o4 (id INT PRIMARY KEY) DEFAULT CHARSET=utf8mb4 KEY_BLOCK_SIZE=0",
]


def _outcome(run: Any, sql: str) -> tuple[int | None, str]:
    try:
        run(sql)
    except (ShardgateError, pymysql.err.MySQLError) as exc:
        code = exc.code if isinstance(exc, ShardgateError) else exc.args[0]
        message = str(exc) if isinstance(exc, ShardgateError) else exc.args[1]
        return code, message
    return None, ""


@pytest.fixture
async def c(small_topology: Topology) -> AsyncIterator[Coordinator]:
    async with Coordinator(small_topology, catalog_refresh=None) as coord:
        yield coord


async def test_table_options_as_mariadb(c: Coordinator) -> None:
    got = []
    for sql in STATEMENTS:
        try:
            await c.execute(sql)
            got.append((None, ""))
        except ShardgateError as exc:
            got.append((exc.code, str(exc)))
    with mariadb_reference("sgtopt") as ref:

        def run(sql: str) -> None:
            with ref.cursor() as cur:
                cur.execute(sql)

        want = [_outcome(run, sql) for sql in STATEMENTS]
    assert got == want
    assert [code for code, _ in want] == [1911, 1911, None, None]
    # The refused tables do not exist; the others do.
    tables = {r[0] for r in (await c.execute("SHOW TABLES")).rows}
    assert tables == {"o3", "o4"}
