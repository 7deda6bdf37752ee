"""String literal forms and REGEXP_LIKE on SQLite shards, against MariaDB.

Was (the fidelity classes run on SQLite shards): ``_utf8mb4'z'`` was error 1054
(``_utf8mb4`` read as a column) and ``N'n'`` SQLite's syntax error; ``REGEXP_LIKE(s,
'c')`` written as a call answered, where MariaDB has no such function (1305)."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest
import trio

from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import (
    reference_database,
    same_rows,
    same_writes,
    sqlite_twin,
)

DDL = "CREATE TABLE c (id INT PRIMARY KEY, name VARCHAR(10), b VARBINARY(5))"
ROWS = "INSERT INTO c VALUES (1, 'abc', 'Ab'), (2, 'Z', 'x')"
QUERIES = [
    "SELECT _utf8mb4'z', N'n', _latin1 'q' AS k, _binary'x' FROM c WHERE id = 1",
    "SELECT id FROM c WHERE name = _utf8mb4'z' ORDER BY id",
    "SELECT id FROM c WHERE b = _binary'Ab' ORDER BY id",
    "SELECT id FROM c WHERE name = N'ABC' ORDER BY id",
    "SELECT name REGEXP 'c', name RLIKE 'x', name NOT REGEXP 'b' FROM c ORDER BY id",
]
WRITES = ["INSERT INTO c VALUES (3, _utf8mb4'y', _binary'Yy'), (4, N'w', _binary 'w')"]


@pytest.mark.mysql
def test_literal_forms_as_mariadb(tmp_path: Path) -> None:
    with reference_database("sglitforms", DDL, ROWS) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS) as s:
                await same_rows(s, cur, QUERIES)
                await same_writes(s, cur, WRITES, ["SELECT id, name, b FROM c ORDER BY id"])
                sql = "SELECT REGEXP_LIKE(name, 'c') FROM c WHERE id = 1"
                with pytest.raises(pymysql.MySQLError) as mine:
                    cur.execute(sql)
                with pytest.raises(ShardgateError) as ours:
                    await s.execute(sql)
                assert ours.value.code == mine.value.args[0] == 1305

        trio.run(main)
