"""MariaDB's warnings of writes on SQLite shards, against MariaDB: an UPDATE's 1265 for
a DECIMAL stored rounded, the update of an upsert's, INSERT IGNORE's 1062 per skipped
row (key name and entry) and 1265 for a string that starts with a number, a
DELETE condition's 1292, a number string's trailing spaces (Note 1265)
(:mod:`sharding.backend.sqlite_write_warnings`, :mod:`sharding.backend.sqlite_store_notes`).
Each write's ``SHOW WARNINGS``, warning count and affected rows, then the tables' rows.
Was: none of these warnings on SQLite shards, and ``'12x'`` under IGNORE a 1235.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.sharding.mariadb_reference import reference_database, sqlite_twin

pytestmark = pytest.mark.mysql

DDL = (
    "CREATE TABLE o (id INT PRIMARY KEY, amount DECIMAL(10,2), q INT, f DOUBLE, s VARCHAR(5))",
    "CREATE TABLE r (id INT PRIMARY KEY, i INT, d DECIMAL(6,2), f DOUBLE, b BIGINT)",
)
#: Tables whose unique keys do not hold the shard key: one shard only.
ONE_SHARD_DDL = (
    "CREATE TABLE u (id INT PRIMARY KEY, a INT, b VARCHAR(5), d DECIMAL(6,2), "
    "e DECIMAL(6,2), UNIQUE KEY ab (a, b), UNIQUE KEY dd (d))",
    "CREATE TABLE nn (id INT PRIMARY KEY, a INT, b INT NOT NULL, UNIQUE KEY ka (a), "
    "UNIQUE KEY kb (b))",
    "CREATE TABLE k (code VARCHAR(10) PRIMARY KEY, v INT)",
)
TABLES = ("o", "r")
ONE_SHARD_TABLES = ("u", "nn", "k")

WRITES = [
    "INSERT INTO o VALUES (1, 1, 1, 1, 'a'), (2, 2.5, 2, 2, '2x'), (3, 3, 3, 3, ' 3'), "
    "(4, 4, 4, 4, 'd')",
    # UPDATE of a DECIMAL: a note per row stored rounded; an exact sum none.
    "UPDATE o SET amount = amount + 0.001 WHERE id IN (3, 1)",
    "UPDATE o SET amount = amount + 0.001 WHERE id = 2",
    "UPDATE o SET amount = amount + 0.01",
    "UPDATE o SET amount = amount * 1.1",
    "UPDATE o SET q = q + 1, amount = 7.125 WHERE id = 4",
    # An upsert: the VALUES row's notes, then its update's.
    "INSERT INTO o (id, amount) VALUES (1, 1.234), (9, 1.255) "
    "ON DUPLICATE KEY UPDATE amount = amount + 0.005",
    "INSERT INTO o (id, amount) VALUES (2, 1.2), (10, 1.255), (3, 3) "
    "ON DUPLICATE KEY UPDATE amount = amount + 0.004",
    # A DELETE's condition: 1292 once, when a row reaches the comparison.
    "DELETE FROM o WHERE id = 2 AND amount = 'x'",
    "DELETE FROM o WHERE id = 99 AND amount = 'x'",
    "DELETE FROM o WHERE id = 2 AND q < 'x'",
    "DELETE FROM o WHERE f <> 'zz' AND id = 1",
    "DELETE FROM o WHERE amount = '' AND amount = ''",
    "DELETE FROM o WHERE s = 0",
    # INSERT IGNORE of strings that start with a number; a number string's spaces.
    "INSERT IGNORE INTO r (id, i) VALUES (1, '12x'), (2, '7.5'), (3, '7.5x'), (4, ' 8 '), "
    "(5, '1e2'), (6, '-3x'), (7, '+4'), (9, '5.'), (10, '1e2x'), (11, '8 '), (12, '7.4')",
    "INSERT IGNORE INTO r (id, d) VALUES (21, '12x'), (22, '7.555'), (23, '7.5x'), "
    "(24, ' 8 '), (25, '1e2'), (26, '-3x'), (27, '1.234x')",
    "INSERT IGNORE INTO r (id, f, b) VALUES (31, '12x', '9x'), (32, '7.555', 1), "
    "(33, '7.5x', 2), (34, ' 8 ', 3), (35, '1e2', '4 ')",
    "INSERT INTO r (id, i, d, f) VALUES (41, ' 8 ', ' 8 ', ' 8 ')",
    "INSERT INTO r (id, i, d, f) VALUES (42, '8 ', '1.234 ', '2 ')",
    # INSERT IGNORE's duplicates.
    "INSERT IGNORE INTO r (id, i) VALUES (1, 5), (50, '3x'), (2, 6)",
    "INSERT IGNORE INTO o (id, amount) VALUES (3, 1), (60, 3.333), (60, 4)",
]
ONE_SHARD_WRITES = [
    "INSERT INTO nn VALUES (1, 1, 1)",
    # The first key a row collides with: PRIMARY, NOT NULL unique keys, the others.
    "INSERT IGNORE INTO nn VALUES (2, 1, 1), (1, 1, 1), (3, 3, 3), (4, 3, 4)",
    "INSERT INTO u VALUES (1, 1, 'x', 1.5, 0), (2, 2, 'y', 2, 0)",
    "INSERT IGNORE INTO u VALUES (1, 9, 'q', 9, 1.001), (3, 1, 'x', 3, 1), (4, 4, 'z', 1.5, "
    "2.555), (5, 5, 'w', 1.49, 1), (5, 6, 'k', 7, 2), (6, NULL, 'x', NULL, 1), "
    "(7, NULL, 'x', NULL, 2.221)",
    "INSERT IGNORE INTO u VALUES (1, 1, 'x', 1.5, 1)",
    # A key under a case-insensitive PAD SPACE collation: the row's own text.
    "INSERT INTO k VALUES ('Ab', 1)",
    "INSERT IGNORE INTO k VALUES ('aB', 2), ('ab ', 3), ('c', 4)",
    "UPDATE u SET e = e / 3",
]
#: A DELETE of every shard whose constant MariaDB converts once per statement: on
#: several shards, once per shard that reaches it (the session adds them up).
EVERY_SHARD = ("DELETE FROM o WHERE amount = '' AND amount = ''",)

_AT_ROW = re.compile(r" at row \d+$")


def _unnumbered(listing: list[tuple[Any, ...]]) -> list[tuple[Any, int]]:
    """An UPDATE over several shards: MariaDB numbers its rows in its scan order."""
    return sorted(Counter((lv, code, _AT_ROW.sub("", msg)) for lv, code, msg in listing).items())


def _run(tmp_path: Path, shards: int, ddl: tuple[str, ...], writes: list[str]) -> None:
    tables = [t.split()[2] for t in ddl]
    with reference_database("sgwc", *ddl) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, *ddl, shards=shards) as s:
                for w in writes:
                    want_affected = cur.execute(w)
                    cur.execute("SHOW WARNINGS")
                    want = [tuple(r) for r in cur.fetchall()]
                    cur.execute("SELECT @@warning_count")
                    (want_count,) = cur.fetchone()
                    got = await s.execute(w)
                    shown = await s.execute("SHOW WARNINGS")
                    rows = [tuple(r) for r in shown.rows]
                    if shards > 1 and w in EVERY_SHARD:
                        # Each shard converts the constant once (as a MariaDB shard).
                        assert set(rows) == set(want), (w, rows, want)
                        assert got.affected == want_affected, (w, got.affected, want_affected)
                        continue
                    if shards > 1 and w.startswith("UPDATE"):
                        assert _unnumbered(rows) == _unnumbered(want), (w, rows, want)
                    else:
                        assert rows == want, (w, rows, want)
                    assert got.warnings == want_count, (w, got.warnings, want_count)
                    assert got.affected == want_affected, (w, got.affected, want_affected)
                for table in tables:
                    q = f"SELECT * FROM {table} ORDER BY 1"
                    cur.execute(q)
                    want_rows = [tuple(r) for r in cur.fetchall()]
                    got_rows = [tuple(r) for r in (await s.execute(q)).rows]
                    assert got_rows == want_rows, (table, got_rows, want_rows)

        trio.run(main)


@pytest.mark.parametrize("shards", [1, 4])
def test_write_warnings_as_mariadb(tmp_path: Path, shards: int) -> None:
    _run(tmp_path, shards, DDL, WRITES)


def test_duplicate_keys_as_mariadb(tmp_path: Path) -> None:
    _run(tmp_path, 1, ONE_SHARD_DDL, ONE_SHARD_WRITES)
