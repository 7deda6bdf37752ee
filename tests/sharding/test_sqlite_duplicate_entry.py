"""Error 1062's text on the SQLite default is MariaDB's: the value and the key.

SQLite names the constraint's columns (``UNIQUE constraint failed: t.id``); MariaDB
says ``Duplicate entry '1' for key 'PRIMARY'`` (a composite key's values joined with
``-``, a DECIMAL with its scale, text as written by the failing row), which
applications parse to tell the user which value is taken. The failing INSERT or
UPDATE is run again in a savepoint with a trigger that sees each row before SQLite
checks it
(``sharding/backend/sqlite_write_warnings.py`` ``duplicate_entry``; found
2026-12-06). Compared with a MariaDB database of the same name, on one and four
shards; the rows afterwards too (the second run leaves nothing behind), also inside a
transaction that goes on after the error.
"""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest
import trio

from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import reference_database, same_rows, sqlite_twin

pytestmark = pytest.mark.mysql

DDL = (
    "CREATE TABLE tp (id INT PRIMARY KEY, n INT)",
    "CREATE TABLE tk (a INT, b VARCHAR(5), d DECIMAL(6,2), PRIMARY KEY (a, b))",
    "INSERT INTO tp VALUES (1, 1), (2, 2)",
    "INSERT INTO tk VALUES (1, 'x', 1.5), (2, 'y', NULL)",
)
FAILING = [
    "INSERT INTO tp VALUES (1, 9)",
    "INSERT INTO tp VALUES (50, 1), (2, 2)",
    "INSERT INTO tp VALUES (60, 1), (60, 2)",
    "INSERT INTO tp (n, id) VALUES (7, 2)",
    "INSERT INTO tk VALUES (1, 'X', 3)",
    "INSERT INTO tk VALUES (3, 'z', 1), (2, 'y ', 2)",
    "REPLACE INTO tk VALUES (9, 'q', 1), (9, 'q', 2)",
    "UPDATE tp SET id = 2 WHERE id = 1",
    "UPDATE tk SET b = 'Y', d = d + 1 WHERE a = 2",
    "UPDATE tk SET a = 1, b = 'X ' WHERE a = 2",
    "UPDATE tp SET n = n + 1 WHERE id = 1",
]
QUERIES = ["SELECT * FROM tp ORDER BY id", "SELECT * FROM tk ORDER BY a, b"]


@pytest.mark.parametrize("shards", [1, 4])
def test_duplicate_entry_texts_are_mariadbs(tmp_path: Path, shards: int) -> None:
    with reference_database("sgdupentry", *DDL) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, *DDL, shards=shards) as session:
                await session.execute("BEGIN")
                cur.execute("BEGIN")
                for sql in FAILING:
                    try:
                        cur.execute(sql)
                        want: tuple[int, str] | None = None
                    except pymysql.MySQLError as exc:
                        want = (exc.args[0], exc.args[1])
                    try:
                        await session.execute(sql)
                        got: tuple[int, str] | None = None
                    except ShardgateError as exc:
                        got = (exc.code, exc.message)
                    assert got == want, sql
                await same_rows(session, cur, QUERIES)
                await session.execute("INSERT INTO tp VALUES (3, 3)")
                cur.execute("INSERT INTO tp VALUES (3, 3)")
                await session.execute("COMMIT")
                cur.execute("COMMIT")
                await same_rows(session, cur, QUERIES)

        trio.run(main)
