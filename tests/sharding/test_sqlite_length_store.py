"""MySQL's length limits of string columns on SQLite shards
(:mod:`sharding.backend.sqlite_length_store`).

Each write runs on the SQLite default (4 shards) and on unsharded MariaDB: the same
1406 for a value past the column's length, trailing spaces cut where MySQL cuts them,
the same affected rows and stored rows. (Was: ``VARCHAR(3)`` stored ``'abcd'``.) The
types SQLite cannot store as MySQL are 1235 at CREATE TABLE.
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
    "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(3), c CHAR(2), vb VARBINARY(4), "
    "tt TINYTEXT, ch CHAR, n INT)"
)
WRITES = [
    "INSERT INTO t (id, s, c) VALUES (1, 'ab  ', 'ab   '), (2, 'éé', 'é'), (3, '', '')",
    "INSERT INTO t (id, s, tt) VALUES (4, 'xyz', REPEAT('é', 127))",
    "UPDATE t SET s = 'xy      ' WHERE id = 2",
    "UPDATE t SET s = 'xy ' WHERE id = 2",  # the value stored already: no change
    "UPDATE t SET s = CONCAT(s, '   ') WHERE id IN (1, 3)",
    "REPLACE INTO t (id, s) VALUES (3, 123)",
    "INSERT INTO t (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = 'q  '",
]
QUERIES = [
    "SELECT id, s, c, LENGTH(s), CHAR_LENGTH(c), LENGTH(tt) FROM t ORDER BY id",
    "SELECT id FROM t WHERE s = 'xy' ORDER BY id",
]
TOO_LONG = [
    ("s", "'abcd'"),
    ("s", "'a  b'"),
    ("s", "12345"),
    ("c", "'abc'"),
    ("ch", "'xy'"),
    ("vb", "'abcde'"),
    ("tt", "REPEAT('e', 256)"),
]


@pytest.mark.mysql
def test_lengths_as_mariadb(tmp_path: Path) -> None:
    with reference_database("sglenstore", DDL) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL) as s:
                await same_writes(s, cur, WRITES, QUERIES)
                await same_errors(
                    s,
                    cur,
                    value_writes(TOO_LONG),
                    code=1406,
                )
                await same_rows(s, cur, QUERIES[:1], after="the refused writes")

        trio.run(main)


@pytest.mark.parametrize("column_type", ["BINARY(3)", "BIT(4)", "YEAR"])
def test_types_sqlite_cannot_store_are_refused(tmp_path: Path, column_type: str) -> None:
    async def main() -> None:
        topo = Topology.default(tmp_path, default_shards=4)
        async with Coordinator(topo, catalog_refresh=None) as coord:
            with pytest.raises(ShardgateError) as refused:
                await coord.execute(f"CREATE TABLE t (id INT PRIMARY KEY, x {column_type})")
            assert refused.value.code == 1235
            assert "'x'" in refused.value.message

    trio.run(main)
