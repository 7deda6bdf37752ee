"""``LIKE`` with the column's collation on SQLite shards, against MariaDB
(:mod:`sharding.backend.sqlite_like_collation`). Was: ``name LIKE 'a%'`` of a
``utf8mb4_bin`` column matched ``'ABC'`` (found by the fidelity classes run on SQLite
shards: a derived table filtered with LIKE), and a DELETE removed those rows too."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.sharding.mariadb_reference import (
    reference_database,
    same_rows,
    same_writes,
    sqlite_twin,
)

DDL = (
    "CREATE TABLE tg (id INT PRIMARY KEY, name VARCHAR(10) COLLATE utf8mb4_bin, n INT, "
    "ci VARCHAR(10))"
)
ROWS = (
    "INSERT INTO tg VALUES (1, 'abc', 1, 'abc'), (2, 'ABC', 2, 'ABC'), (3, 'Abc', 3, 'é'),"
    " (4, 'ábc', 4, 'Ábc'), (5, 'a_c', 5, 'a%c'), (6, NULL, 6, NULL)"
)
QUERIES = [
    "SELECT id FROM tg WHERE name LIKE 'a%' ORDER BY id",
    "SELECT id FROM tg WHERE name LIKE 'A%' ORDER BY id",
    "SELECT id FROM tg WHERE name NOT LIKE 'a%' ORDER BY id",
    "SELECT id FROM tg WHERE name LIKE 'a\\_c' ORDER BY id",
    "SELECT id FROM tg WHERE (name) LIKE '%bc' ORDER BY id",
    "SELECT id FROM tg WHERE ci LIKE 'a%' ORDER BY id",
    "SELECT id, name LIKE 'a%', ci LIKE 'A%' FROM tg ORDER BY id",
    "SELECT * FROM (SELECT name, SUM(n) s FROM tg GROUP BY name) d WHERE name LIKE 'a%' "
    "ORDER BY name",
]
WRITES = ["UPDATE tg SET n = n + 10 WHERE name LIKE 'A%'", "DELETE FROM tg WHERE name LIKE 'a%'"]


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_like_with_the_column_collation(tmp_path: Path, shards: int) -> None:
    with reference_database("sglikecoll", DDL, ROWS) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, shards=shards) as s:
                await same_rows(s, cur, QUERIES)
                await same_writes(s, cur, WRITES, ["SELECT id, n FROM tg ORDER BY id"])

        trio.run(main)
