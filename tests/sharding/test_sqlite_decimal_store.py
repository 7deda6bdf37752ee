"""MySQL's store of a value into a DECIMAL(p,s) column on SQLite shards
(:mod:`sharding.backend.sqlite_numeric_store`, DECIMAL section).

A value with more decimals than the column's scale is stored rounded half away from
zero (an exact value's and a DOUBLE's alike), so arithmetic, comparisons, GROUP BY and
SUM see the stored value; a value whose rounding has too many integer digits is 1264.
Each write form runs on the SQLite default (4 shards) and on unsharded MariaDB; stored
rows, computed values, affected rows and errors must agree. (Was: ``1.25`` into
DECIMAL(10,1) read as 1.3 but ``a * 2`` gave 2.5.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from sharding import Coordinator, Topology
from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import (
    reference_database,
    same_errors,
    same_rows,
    same_writes,
    sqlite_twin,
    value_writes,
)

DDL = (
    "CREATE TABLE t (id INT PRIMARY KEY, a DECIMAL(10,1), b DECIMAL(6,2), "
    "z DECIMAL(5,0), u DECIMAL(6,3) UNSIGNED, d DOUBLE, n INT)"
)
WRITES = [
    "INSERT INTO t VALUES (1, 1.25, 2.675, 2.5, 0.0005, 2.675, 7),"
    "(2, -1.25, -0.005, -2.5, 1.2345, 0.125, 8), (3, 1.35, '1.255', 3.49, 0.12345, -1.005, 9)",
    "INSERT INTO t VALUES (4, 2.675e0, 8.345e0, 2.5e0, 1.0005e0, 1.45, 10), "
    "(5, 7 / 3, 10 / 6, 7 / 2, 1 / 3, 1e0 / 3, 11)",
    "UPDATE t SET a = d, b = d, z = d WHERE id IN (1, 2, 3)",
    "UPDATE t SET b = b + 0.004 WHERE id = 4",  # rounds back to the value stored: no change
    "UPDATE t SET b = b + 0.006 WHERE id = 4",
    "UPDATE t SET a = n / 4, u = n / 7 WHERE id > 3",
    "REPLACE INTO t (id, a, b) VALUES (3, 0.05, 0.005)",
    "INSERT INTO t (id, a) VALUES (1, 9) ON DUPLICATE KEY UPDATE a = 1.15, b = VALUES(a) / 8",
    "INSERT INTO t (id, a, b, z) SELECT id + 10, d, d * 2, d * 3 FROM t WHERE id < 3",
]
QUERIES = [
    "SELECT * FROM t ORDER BY id",
    "SELECT id, a * 2, b * 3, z + 0.5, u * 1000 FROM t ORDER BY id",
    "SELECT SUM(a), SUM(b), SUM(z), SUM(u) FROM t",
    "SELECT id FROM t WHERE a = 1.3 OR b = 2.68 OR z = 3 ORDER BY id",
    "SELECT b, COUNT(*) FROM t GROUP BY b ORDER BY b",
]
OUT_OF_RANGE = [
    ("b", "9999.995"),
    ("b", "-10000"),
    ("z", "99999.5"),
    ("u", "-0.0001"),
    ("u", "1000"),
    ("a", "1e9"),
]


@pytest.mark.mysql
def test_decimal_stores_as_mariadb(tmp_path: Path) -> None:
    with reference_database("sgdecstore", DDL) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL) as s:
                await same_writes(s, cur, WRITES, QUERIES)
                await same_errors(
                    s,
                    cur,
                    value_writes(OUT_OF_RANGE, upsert=False),
                    code=1264,
                )
                await same_rows(s, cur, QUERIES[:1], after="the refused writes")

        trio.run(main)


def test_a_key_column_refuses_a_value_it_would_round(tmp_path: Path) -> None:
    """The row is placed and checked by the value before MySQL would round it."""

    async def main() -> None:
        topo = Topology.default(tmp_path, default_shards=4)
        async with Coordinator(topo, catalog_refresh=None) as coord:
            await coord.execute("CREATE TABLE k (id DECIMAL(6,2) PRIMARY KEY, v INT)")
            await coord.execute("INSERT INTO k VALUES (1.25, 1)")
            with pytest.raises(ShardgateError) as refused:
                await coord.execute("INSERT INTO k VALUES (1.251, 2)")
            assert refused.value.code == 1235
            rows = (await coord.execute("SELECT id, v FROM k")).rows
            assert [tuple(r) for r in rows] == [(1.25, 1)]

    trio.run(main)
