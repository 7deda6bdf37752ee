"""Statements with comments (what ORMs and sqlcommenter add) on SQLite shards, against
MariaDB. Was: an INSERT ending in a comment (``… VALUES (1, 'a') /* from app */``) was
1105 ``incomplete input`` on the embedded default — the comment was taken for the
statement's ON DUPLICATE KEY UPDATE clause (``sharding/sql/insert.py``)."""

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

DDL = "CREATE TABLE c (id INT PRIMARY KEY, name VARCHAR(10), n INT)"
ROWS = "INSERT INTO c VALUES (1, 'a', 1), (2, 'b', 2)"
WRITES = [
    "INSERT INTO c (id, name, n) VALUES (801, 'c', 3) /* from app */",
    "INSERT INTO c (id, name, n) VALUES (802, 'd', 4), (803, 'e', 5) -- trailing",
    "INSERT INTO c (id, name, n) VALUES (804, 'f', 6) # hash comment",
    "/* leading */ INSERT INTO c (id, name, n) VALUES (805, 'g', 7)",
    "INSERT INTO c (id, name, n) VALUES (/* inside */ 806, 'h', 8)",
    "INSERT INTO c (id, name, n) VALUES (801, 'z', 9) /* a */ ON DUPLICATE KEY UPDATE "
    "name = 'q' /* b */",
    "INSERT IGNORE INTO c (id, name, n) VALUES (802, 'x', 1) /* ignore */",
    "REPLACE INTO c (id, name, n) VALUES (803, 'r', 10) /* replace */",
    "UPDATE c SET n = n + 1 WHERE id = 801 /* update */",
    "DELETE FROM c WHERE id = 804 -- delete",
]
QUERIES = [
    "SELECT id, name, n FROM c ORDER BY id",
    "SELECT id FROM c WHERE id = 801 /* point */",
    "SELECT COUNT(*) FROM c -- count",
]


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_comments_as_mariadb(tmp_path: Path, shards: int) -> None:
    with reference_database("sgcomments", DDL, ROWS) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, shards=shards) as s:
                await same_writes(s, cur, WRITES, QUERIES[:1])
                await same_rows(s, cur, QUERIES)

        trio.run(main)
