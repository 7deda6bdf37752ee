"""Error texts on the SQLite default are MariaDB's, word for word.

A client (or a test suite run against both) compares them with the unsharded server's.
Found 2026-12-06: the SQLite layer's own 1690 named the shard's physical database
(``'`shop_0011`.`t`.`id`'``: only data sources' errors were given logical names,
``sharding/session.py``), and MariaDB's data errors (1406, 1264, 1265, 1048) ended in
`` (data source 'ds0')`` (``sharding/backend/sqlite.py`` ``translate_error``); strict
mode's refusal of a string written to a numeric column was ``1366 Incorrect value for
column 'c' (not a number)`` where MariaDB names the value, the table and the row (or
says 1265 for ``'12abc'``: ``sharding/backend/sqlite_store_notes.py`` ``strict_error``).
Compared with a MariaDB database of the same name.
"""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest
import trio

from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import reference_database, sqlite_twin

pytestmark = pytest.mark.mysql

DDL = (
    "CREATE TABLE te (id INT PRIMARY KEY, s VARCHAR(5), amt DECIMAL(5,2), "
    "u INT UNSIGNED, e ENUM('a','b'), f DOUBLE, nn INT NOT NULL)",
    "INSERT INTO te VALUES (1, 'a', 1.00, 5, 'a', 1e300, 1), (2, 'b', 2.00, 0, 'b', 2, 2)",
)
FAILING = [
    "SELECT 9223372036854775807 + id FROM te WHERE id = 1",
    "SELECT 9223372036854775807 + id FROM te",
    "SELECT u - 10 FROM te WHERE id = 2",
    "SELECT f * 1e300 * 10 FROM te WHERE id = 1",
    "INSERT INTO te (id, s, nn) VALUES (3, 'toolong', 1)",
    "INSERT INTO te (id, amt, nn) VALUES (4, 12345.6, 1)",
    "INSERT INTO te (id, u, nn) VALUES (5, -1, 1)",
    "INSERT INTO te (id, e, nn) VALUES (6, 'zz', 1)",
    "INSERT INTO te (id, nn) VALUES (7, NULL)",
    "UPDATE te SET s = 'toolong' WHERE id = 1",
    # Strict mode's refusals of a string written to a number: 1366 naming the value,
    # 1265 for a number followed by more.
    "INSERT INTO te (id, f, nn) VALUES (10, 'abc', 1)",
    "INSERT INTO te (id, u, nn) VALUES (10, 'abc', 1)",
    "INSERT INTO te (id, amt, nn) VALUES (10, ' ', 1)",
    "INSERT INTO te (id, nn) VALUES (10, '12abc')",
    "INSERT INTO te (id, nn) VALUES (10, 1), (11, 'x')",
    "INSERT INTO te (id, amt, nn) VALUES (12, '1.5x', 1)",
    "UPDATE te SET nn = 'abc' WHERE id = 1",
    "UPDATE te SET nn = '5x' WHERE id = 2",
]


def test_error_texts_are_mariadbs(tmp_path: Path) -> None:
    with reference_database("sgerrtext", *DDL) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, *DDL) as session:
                for sql in FAILING:
                    with pytest.raises(pymysql.MySQLError) as mine:
                        cur.execute(sql)
                    with pytest.raises(ShardgateError) as ours:
                        await session.execute(sql)
                    want = (mine.value.args[0], mine.value.args[1])
                    assert (ours.value.code, ours.value.message) == want, sql

        trio.run(main)
