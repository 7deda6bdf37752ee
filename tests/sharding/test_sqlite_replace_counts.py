"""REPLACE's affected rows on the SQLite default, as MariaDB counts them.

MariaDB replaces a row in place when the table's only unique key is its primary key:
a row replaced by the very same values counts 1, by other values 2; with a second
unique key every replaced row is deleted and inserted (2) (measured on 10.11). The
SQLite default counted every replaced row 2 (``sharding/backend/sqlite.py``
``_exec_replace``, found 2026-12-06). Compared statement by statement with MariaDB.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.sharding.mariadb_reference import reference_database, same_writes, sqlite_twin

pytestmark = pytest.mark.mysql

DDL = (
    "CREATE TABLE rp (id INT PRIMARY KEY, n INT, s VARCHAR(5))",
    "CREATE TABLE ru (id INT PRIMARY KEY, k VARCHAR(5), n INT, UNIQUE KEY uk (id, k))",
)
ROWS = (
    "INSERT INTO rp VALUES (1, 1, 'a'), (2, 2, 'b')",
    "INSERT INTO ru VALUES (1, 'a', 1), (2, 'b', 2)",
)
WRITES = [
    "REPLACE INTO rp VALUES (1, 1, 'a')",
    "REPLACE INTO rp VALUES (1, 1, 'A')",
    "REPLACE INTO rp VALUES (1, 5, 'A'), (2, 2, 'b'), (3, 3, 'c')",
    "REPLACE INTO rp (id, n) VALUES (2, 2)",
    "REPLACE INTO rp (id, n, s) VALUES (2, 2, NULL), (2, 2, NULL)",
    "REPLACE INTO ru VALUES (1, 'a', 1)",
    "REPLACE INTO ru VALUES (2, 'b', 3), (4, 'd', 4)",
]
QUERIES = ["SELECT * FROM rp ORDER BY id", "SELECT * FROM ru ORDER BY id"]


def test_replace_counts_are_mariadbs(tmp_path: Path) -> None:
    with reference_database("sgreplace", *DDL, *ROWS) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, *DDL, *ROWS) as session:
                await same_writes(session, cur, WRITES, QUERIES)

        trio.run(main)
