"""INSERT … SELECT, multi-shard UPDATE/DELETE … ORDER BY … LIMIT and parenthesised
queries on the embedded SQLite default (issue 18, item 8), measured against MariaDB on
16 shards with a two-row chunk size (every merge crosses keyset continuations).

The same statements against MariaDB shards: ``tests/fidelity/test_write_classes.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import mariadb_reference
from tests.sharding.test_sqlite_mysql_writes2 import R, W, _run

pytestmark = pytest.mark.mysql

PREFIX = "sgderived_"

SCRIPT: list[tuple[str, str]] = [
    (W, "CREATE TABLE o (id INT PRIMARY KEY, c INT NOT NULL, amount DECIMAL(8,2), s VARCHAR(8))"),
    (W, "CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, c INT, total DECIMAL(10,2))"),
    (W, "CREATE TABLE k (name VARCHAR(8) PRIMARY KEY, n INT)"),
    (
        W,
        "INSERT INTO o VALUES "
        + ", ".join(
            f"({i}, {i % 7}, {i * 3 % 17}.{i % 10}5, '{'abc'[i % 3]}{i % 4}')" for i in range(1, 61)
        ),
    ),
    # INSERT … SELECT: across shards, into another table, with generated ids
    (W, "INSERT INTO a (c, total) SELECT c, SUM(amount) FROM o GROUP BY c ORDER BY c"),
    (R, "SELECT id, c, total FROM a ORDER BY id"),
    (R, "SELECT LAST_INSERT_ID()"),
    (W, "INSERT INTO o SELECT id + 100, c, amount * 2, s FROM o WHERE id <= 20"),
    (W, "INSERT INTO o SELECT id, c, amount, s FROM o WHERE id < 5"),  # 1062, nothing kept
    (R, "SELECT COUNT(*), SUM(amount) FROM o"),
    (W, "INSERT IGNORE INTO o SELECT id + 15, c, amount, 'ig' FROM o WHERE id <= 10"),
    (W, "REPLACE INTO o SELECT id, c, amount + 1, 'rp' FROM o WHERE id % 9 = 0"),
    (W, "INSERT INTO k SELECT s, COUNT(*) FROM o GROUP BY s"),
    (W, "INSERT INTO k (name) SELECT 'x', 1"),  # 1136
    (W, "INSERT INTO k SELECT s, c FROM o WHERE 1 = 0"),
    (R, "SELECT name, n FROM k ORDER BY name"),
    (R, "SELECT id, c, amount, s FROM o ORDER BY id"),
    # UPDATE / DELETE … ORDER BY … LIMIT over several shards
    (W, "UPDATE o SET s = 'lim' WHERE c = 3 ORDER BY amount DESC, id LIMIT 4"),
    (W, "UPDATE o SET amount = amount ORDER BY id LIMIT 3"),
    (W, "DELETE FROM o WHERE s LIKE 'a%' ORDER BY id DESC LIMIT 5"),
    (W, "DELETE FROM o ORDER BY amount, id LIMIT 2"),
    (W, "DELETE FROM o WHERE id < 0 ORDER BY id LIMIT 2"),
    (W, "UPDATE o SET c = c + 1 ORDER BY id"),
    (R, "SELECT id, c, amount, s FROM o ORDER BY id"),
    # UPDATE of the shard key: rows move between shards (c is not the shard key here;
    # the table m below is sharded by k, its primary key (k, id))
    (W, "CREATE TABLE m (k INT, id INT, v INT, note VARCHAR(8), PRIMARY KEY (k, id))"),
    (W, "INSERT INTO m VALUES " + ", ".join(f"({i % 5}, {i}, {i * 2}, 'n')" for i in range(1, 31))),
    (W, "UPDATE m SET k = k + 100, note = CONCAT('was', k) WHERE id < 12"),
    (W, "UPDATE m SET k = k, v = v + 1 WHERE id > 20"),
    (W, "UPDATE m SET k = 7 WHERE id = 29"),
    (W, "UPDATE m SET k = k - 100 WHERE k >= 100 ORDER BY id LIMIT 3"),
    (R, "SELECT k, id, v, note FROM m ORDER BY id"),
    (R, "SELECT k, COUNT(*) FROM m GROUP BY k ORDER BY k"),
    # a parenthesised query is the query
    (R, "(SELECT id FROM o WHERE id < 9 ORDER BY id)"),
    (R, "((SELECT id, amount FROM o WHERE id < 30) ORDER BY amount DESC, id LIMIT 3)"),
]


@pytest.fixture
def reference() -> Iterator[Any]:
    with mariadb_reference(PREFIX) as conn:
        yield conn


async def test_derived_writes_match_mariadb(reference: Any, tmp_path: Path) -> None:
    await _run(SCRIPT, reference, tmp_path)
