"""A string compared with a number on SQLite shards, against MariaDB: the value and
MariaDB's 1292 (:mod:`sharding.backend.sqlite_arithmetic`, ``_compared_strings`` and
``_clean_strings``; :mod:`sharding.backend.sqlite_compare` for ``X'41' = 65``).

Was: ``'65' = 65``, ``1 IN ('1', 2)``, ``'1e1' = 10``, ``'3' BETWEEN 1 AND 5`` and
``tier + 0 = '2'`` false (SQLite compares a number with TEXT where no column affinity
converts the string), and no ``Truncated incorrect DECIMAL/DOUBLE value`` for a string
that is no clean number (``'abc' = 0``, ``tier = '2x'``, ``tier IN ('2x', 3)``,
``tier BETWEEN '1x' AND 2``, ``X'41' = 65``).

MariaDB converts a constant string once per statement (one shard here: the counts are
MariaDB's; on several shards each shard reaching it warns once, as MariaDB shards do),
a string of an ``IN`` list mixing numbers and strings or a ``BETWEEN`` bound per row
(summed over the shards: the counts are MariaDB's on four shards too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from tests.sharding.mariadb_reference import reference_database, sqlite_twin

pytestmark = pytest.mark.mysql

DDL = "CREATE TABLE c (id INT PRIMARY KEY, tier INT, d DECIMAL(6,2), f DOUBLE, s VARCHAR(10))"
ROWS = (
    "INSERT INTO c VALUES (1, 1, 1.5, 1.5, '1'), (2, 2, 2, 2, '2x'), (3, 3, 3, 3, 'abc'), "
    "(4, 2, 4, 4, ' 2 '), (5, NULL, 5, 5, NULL), (6, 0, 0, 0, ''), (7, 3, 2, 2, '3'), "
    "(8, NULL, NULL, NULL, 'x')"
)

#: Constants (no table): MariaDB converts the string once.
CONSTANTS = [
    "SELECT '65' = 65 AS e",
    "SELECT 65 = '65' AS e",
    "SELECT 1 IN ('1', 2) AS e",
    "SELECT '1e1' = 10 AS e",
    "SELECT '1.0' = 1 AS e",
    "SELECT ' 1' = 1 AS e",
    "SELECT ' 1 ' = 1 AS e",
    "SELECT '1 ' = 1.0 AS e",
    "SELECT 'abc' = 0 AS e",
    "SELECT 'abc' = 0.0 AS e",
    "SELECT 'abc' = 0e0 AS e",
    "SELECT 'a' < 1 AS e",
    "SELECT 1 > 'a' AS e",
    "SELECT 1.5 = '1.5x' AS e",
    "SELECT 1e0 = '1x' AS e",
    "SELECT X'41' = 65 AS e",
    "SELECT X'3541' = 5 AS e",
    "SELECT X'41' = 'A' AS e",
    "SELECT ABS(X'41') AS e",
    "SELECT 1 IN ('1x', '2') AS e",
    "SELECT 'abc' IN (1, 2) AS e",
    "SELECT '1' IN (1, 2) AS e",
    "SELECT '3' BETWEEN 1 AND 5 AS e",
    "SELECT 'abc' BETWEEN 0 AND 5 AS e",
    "SELECT 3 BETWEEN '1' AND '5' AS e",
    "SELECT 3 BETWEEN '1' AND '5x' AS e",
    "SELECT 5 BETWEEN '1x' AND 6 AS e",
    "SELECT ABS(-2) = '2' AS e",
    "SELECT 1.5 IN ('1.5x', 2) AS e",
    "SELECT 'abc' + 0 AS e",
    "SELECT 5 <=> '5' AS e",
    "SELECT '5' <=> 5 AS e",
    "SELECT '5x' <=> 5 AS e",
    "SELECT NOT ('5' <=> 6) AS e",
    "SELECT '2' IN (SELECT tier FROM c) AS e",
]
#: A constant compared with a column or a numeric expression of one: once per
#: statement, when a row reaches it.
CONSTANT_CONDITIONS = [
    "SELECT id FROM c WHERE tier = 'abc' ORDER BY id",
    "SELECT id FROM c WHERE tier = '2x' ORDER BY id",
    "SELECT id FROM c WHERE '2x' = tier ORDER BY id",
    "SELECT id FROM c WHERE tier + 0 = '2x' ORDER BY id",
    "SELECT id FROM c WHERE tier + 0 = 'abc' ORDER BY id",
    "SELECT id FROM c WHERE ABS(tier) = '2x' ORDER BY id",
    "SELECT id FROM c WHERE tier = '2 ' ORDER BY id",
    "SELECT id FROM c WHERE d = '2x' ORDER BY id",
    "SELECT id FROM c WHERE f = '2x' ORDER BY id",
    "SELECT id FROM c WHERE d = 'abc' ORDER BY id",
    "SELECT id FROM c WHERE id = 99 AND tier = 'abc'",
    "SELECT id, tier = 'abc' AS e FROM c ORDER BY id",
    "SELECT id, tier + 0 = '2x' AS e FROM c ORDER BY id",
    "SELECT id, '2x' = tier AS e FROM c ORDER BY id",
    "SELECT id FROM c WHERE tier IN ('2x') ORDER BY id",
    "SELECT id FROM c WHERE tier IN ('2x', '3y') ORDER BY id",
    "SELECT id FROM c WHERE d IN ('2x', '3y') ORDER BY id",
    "SELECT id FROM c WHERE tier IN ('2x', 3.0) ORDER BY id",
    "SELECT id FROM c WHERE f IN ('2x', 3, 4) ORDER BY id",
    "SELECT id FROM c WHERE tier + X'41' > 1 ORDER BY id",
]
#: Run on one shard only (several shards: the coordinator computes HAVING over the
#: merged groups, which is no shard's rewrite).
ONE_SHARD = [
    "SELECT tier, COUNT(*) AS n FROM c GROUP BY tier HAVING COUNT(*) = '2x' ORDER BY tier",
    "SELECT tier, COUNT(*) AS n FROM c GROUP BY tier HAVING COUNT(*) > '1' ORDER BY tier",
    "SELECT COUNT(*) = '8' AS e FROM c",
    "SELECT COUNT(*) = '8x' AS e FROM c",
]
#: Clean number strings compared with a number that is no column: no warning.
CLEAN = [
    "SELECT id FROM c WHERE tier + 0 = '2' ORDER BY id",
    "SELECT id FROM c WHERE '2' = tier + 0 ORDER BY id",
    "SELECT id FROM c WHERE 0 + tier = '2' ORDER BY id",
    "SELECT id FROM c WHERE ABS(tier) = '2' ORDER BY id",
    "SELECT id FROM c WHERE tier + 0 IN ('2', 3) ORDER BY id",
    "SELECT id FROM c WHERE tier + 0 BETWEEN '2' AND 3 ORDER BY id",
    "SELECT id FROM c WHERE tier IN ('2', 3) ORDER BY id",
    "SELECT id, tier + 0 = '2' AS e FROM c ORDER BY id",
    "SELECT id FROM c WHERE tier + 0 <=> '2' ORDER BY id",
    "SELECT id FROM c WHERE ABS(tier) <=> '2' ORDER BY id",
]
#: Per row: a string of an IN list mixing numbers and strings, a BETWEEN bound.
PER_ROW = [
    "SELECT id FROM c WHERE tier IN ('2x', 3) ORDER BY id",
    "SELECT id FROM c WHERE tier IN (2, '3y') ORDER BY id",
    "SELECT id FROM c WHERE tier IN ('abc', 2) ORDER BY id",
    "SELECT id FROM c WHERE tier + 0 IN ('2x', 3) ORDER BY id",
    "SELECT id FROM c WHERE d IN ('2x', 3) ORDER BY id",
    "SELECT id FROM c WHERE tier BETWEEN '1x' AND 2 ORDER BY id",
    "SELECT id FROM c WHERE tier BETWEEN 1 AND '2x' ORDER BY id",
    "SELECT id FROM c WHERE tier BETWEEN '1' AND '2x' ORDER BY id",
    "SELECT id FROM c WHERE tier NOT BETWEEN 1 AND '2x' ORDER BY id",
    "SELECT id FROM c WHERE tier + 0 BETWEEN '2x' AND 3 ORDER BY id",
    "SELECT id FROM c WHERE d BETWEEN '1x' AND 3 ORDER BY id",
    "SELECT id FROM c WHERE d BETWEEN 1 AND '3x' ORDER BY id",
    "SELECT id FROM c WHERE f BETWEEN '1x' AND 3 ORDER BY id",
    "SELECT id FROM c WHERE d + 0 IN ('2x', 3) ORDER BY id",
    "SELECT id, tier BETWEEN '1x' AND 2 AS e FROM c ORDER BY id",
    "SELECT id FROM c WHERE tier IN (NULL, '2x', 3) ORDER BY id",
    "SELECT id FROM c WHERE ABS(tier) IN ('2x', 3) ORDER BY id",
    "SELECT id FROM c WHERE tier NOT IN ('2x', 3) ORDER BY id",
]
#: Prepared (``?`` parameters, a string value): the same answers.
PREPARED: list[tuple[str, tuple[Any, ...]]] = [
    ("SELECT id FROM c WHERE tier + 0 = ? ORDER BY id", ("2",)),
    ("SELECT id FROM c WHERE tier = ? ORDER BY id", ("2x",)),
    ("SELECT id FROM c WHERE tier IN (?, 3) ORDER BY id", ("2",)),
]


def _reset(cur: Any) -> None:
    """MariaDB keeps the last warnings over a statement that reads no table."""
    cur.execute("SELECT * FROM c LIMIT 0")
    cur.fetchall()


async def _same(s: Any, cur: Any, sql: str, params: tuple[Any, ...], warnings: bool) -> None:
    _reset(cur)
    await s.execute("SELECT * FROM c LIMIT 0")
    cur.execute(sql.replace("?", "%s"), params or None)
    want = [tuple(r) for r in cur.fetchall()]
    want_count = cur._result.warning_count
    cur.execute("SHOW WARNINGS")
    want_notes = [tuple(r) for r in cur.fetchall()]
    got = await s.execute(sql, list(params) if params else None)
    assert [tuple(r) for r in got.rows] == want, (sql, got.rows, want)
    if not warnings:
        return
    assert got.warnings == want_count, (sql, got.warnings, want_count, want_notes)
    if want_count:
        shown = await s.execute("SHOW WARNINGS")
        assert [tuple(r) for r in shown.rows] == want_notes, (sql, shown.rows, want_notes)


def _run(tmp_path: Path, shards: int, cases: list[str], warnings: bool) -> None:
    with reference_database("sgcmp_strnum", DDL, ROWS) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, shards=shards) as s:
                for sql in cases:
                    await _same(s, cur, sql, (), warnings)

        trio.run(main)


def test_constants_as_mariadb(tmp_path: Path) -> None:
    _run(tmp_path, 1, CONSTANTS, warnings=True)


def test_constant_conditions_on_one_shard_as_mariadb(tmp_path: Path) -> None:
    _run(tmp_path, 1, CONSTANT_CONDITIONS + ONE_SHARD + CLEAN, warnings=True)


def test_constant_conditions_on_four_shards_answer_as_mariadb(tmp_path: Path) -> None:
    # Values only: each of the four shards converting the constant warns once.
    _run(tmp_path, 4, CONSTANTS + CONSTANT_CONDITIONS, warnings=False)


@pytest.mark.parametrize("shards", [1, 4])
def test_per_row_conversions_as_mariadb(tmp_path: Path, shards: int) -> None:
    _run(tmp_path, shards, PER_ROW + CLEAN, warnings=True)


def test_prepared_as_mariadb(tmp_path: Path) -> None:
    with reference_database("sgcmp_strnum", DDL, ROWS) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, shards=1) as s:
                for sql, params in PREPARED:
                    await _same(s, cur, sql, params, True)

        trio.run(main)


#: A DELETE's condition converts as a read's: per row for a mixed IN list or a BETWEEN
#: bound (was: none of these 1292s), a clean string compared with an expression as its
#: number (was: no row deleted).
DELETES = [
    "DELETE FROM c WHERE tier IN ('2x', 7)",
    "DELETE FROM c WHERE tier BETWEEN '3x' AND 3",
    "DELETE FROM c WHERE tier + 0 = '0'",
    "DELETE FROM c WHERE '1' = tier + 0",
]


@pytest.mark.parametrize("shards", [1, 4])
def test_deletes_as_mariadb(tmp_path: Path, shards: int) -> None:
    with reference_database("sgcmp_strnum", DDL, ROWS) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, shards=shards) as s:
                for sql in DELETES:
                    affected = cur.execute(sql)
                    cur.execute("SELECT @@warning_count")
                    want_count = cur.fetchone()[0]
                    cur.execute("SHOW WARNINGS")
                    want_notes = [tuple(r) for r in cur.fetchall()]
                    got = await s.execute(sql)
                    assert got.affected == affected, (sql, got.affected, affected)
                    assert got.warnings == want_count, (sql, got.warnings, want_notes)
                    shown = await s.execute("SHOW WARNINGS")
                    assert [tuple(r) for r in shown.rows] == want_notes, (sql, shown.rows)
                    cur.execute("SELECT * FROM c ORDER BY id")
                    want = [tuple(r) for r in cur.fetchall()]
                    rows = (await s.execute("SELECT * FROM c ORDER BY id")).rows
                    assert [tuple(r) for r in rows] == want, (sql, rows, want)

        trio.run(main)


#: Merged values (aggregates over several shards) compared with a string by the
#: coordinator: MySQL's number of the string, as on the shards.
MERGED = [
    "SELECT COUNT(*) = '8' FROM c",
    "SELECT COUNT(*) IN ('8', 2), SUM(tier) > '3', MAX(d) = '5.00' FROM c",
    "SELECT tier, COUNT(*) FROM c GROUP BY tier HAVING COUNT(*) >= '1' ORDER BY tier",
    "SELECT tier, SUM(d) s FROM c GROUP BY tier HAVING s > '1' ORDER BY tier",
]


def test_merged_values_compare_as_mariadb(tmp_path: Path) -> None:
    _run(tmp_path, 4, MERGED, warnings=False)
