"""The embedded SQLite default's last "answered, not MySQL's" forms (issue 15), each
now MariaDB's answer or a clear 1235 — measured against MariaDB on 127.0.0.1:3306
statement by statement, on 16 SQLite shards with two-row chunks (the runner of
:mod:`tests.sharding.test_sqlite_integer_store`: rows, affected rows, error codes and
the messages of 1264/1292/1690 must agree; ``refused`` statements must be 1235):

1. a BIGINT beyond 2**52 written with a fraction (``SET b = b * 1.5``, ``VALUES
   (9007199254740993.4)``) is a 1235; integer arithmetic beyond 2**53 stays exact;
2. a text column compared with a number (``WHERE s = 0``, ``s > 1``, ``s IN (1, 2)``,
   ``s BETWEEN``, ``s = n``) compares the string's number as MySQL does — in a read, a
   DELETE, and an UPDATE, where a string that is no number is MariaDB's 1292
   (``Truncated incorrect DECIMAL value``, ``… DOUBLE value`` against a non-integer);
   numeric strings (``'5' = 5``, ``' 5.0'``) and text compared with text keep working;
3. INT arithmetic past BIGINT (``n * n * n``) is MariaDB's 1690 with its message, in a
   read and a write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sharding.backend import sqlite_arithmetic, sqlite_mysql
from sharding.errors import NotSupported
from sharding.sql.insert_select import strict_select
from tests.conftest import mariadb_reference
from tests.sharding.test_sqlite_integer_store import CODE, REFUSED, R, W, _run

pytestmark = pytest.mark.mysql

PREFIX = "sglastdiff_"


@pytest.fixture
def reference() -> Iterator[Any]:
    with mariadb_reference(PREFIX) as conn:
        yield conn


BIG = 2**53 + 1
WIDE: list[tuple[str, str]] = [
    (W, "CREATE TABLE w (id BIGINT PRIMARY KEY, b BIGINT, n INT, p DECIMAL(8,2))"),
    (W, f"INSERT INTO w VALUES (1, {BIG}, 1, 1.50), (2, -{BIG}, 2, 2.25), (3, 5, 3, 0.5)"),
    # a fraction computed for a BIGINT beyond 2**52: refused, never other last digits
    (REFUSED, "UPDATE w SET b = b * 1.5 WHERE id = 1"),
    (REFUSED, "UPDATE w SET b = b + 0.5 WHERE id = 2"),
    (REFUSED, "UPDATE w SET b = b * 1.5"),
    (REFUSED, "INSERT INTO w (id, b) VALUES (4, 9007199254740993.4)"),
    (REFUSED, "INSERT INTO w (id, b) VALUES (4, -9007199254740993.0)"),
    (REFUSED, "INSERT INTO w (id, b) VALUES (1, 0) ON DUPLICATE KEY UPDATE b = b * 1.5"),
    (R, "SELECT * FROM w ORDER BY id"),  # nothing of it was written
    # within 2**52, or integer arithmetic beyond it: MariaDB's value
    (W, "UPDATE w SET b = b * 1.5 WHERE id = 3"),
    (W, "UPDATE w SET b = b + 2, n = n * 2"),
    (W, "UPDATE w SET b = b * 2 WHERE id = 1"),
    (W, "UPDATE w SET b = b - n WHERE id = 2"),
    (W, "INSERT INTO w (id, b) VALUES (5, 9007199254740993)"),
    (W, "INSERT INTO w (id, b, p) VALUES (6, 1234.6, 1.25)"),
    (W, "INSERT INTO w (id, b) VALUES (7, 9007199254740994.0)"),  # the REAL is exact
    (W, "UPDATE w SET p = p * 1.5 WHERE id = 1"),
    (R, "SELECT * FROM w ORDER BY id"),
]


async def test_bigint_fractions_beyond_2_52(reference: Any, tmp_path: Path) -> None:
    await _run(WIDE, reference, tmp_path)


TEXT: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE c (id INT PRIMARY KEY, s VARCHAR(10), n INT, p DECIMAL(6,2), "
        "d DOUBLE, b BIGINT)",
    ),
    (
        W,
        "INSERT INTO c VALUES (1, 'a', 0, 1.5, 1.5, 5), (2, '5', 5, 5, 5, 5), "
        "(3, ' 5.0', 5, 2, 2, 5), (4, '0.0', 0, 0, 0, 0), (5, '1e0', 1, 1, 1, 1), "
        "(6, '12abc', 12, 12, 12, 12), (7, '', 0, 0, 0, 0), (8, '+5', 5, 5, 5, 5), "
        "(9, NULL, 1, 1, 1, 1)",
    ),
    # reads: the string's number, as MariaDB compares (SQLite compared the texts)
    (R, "SELECT id FROM c WHERE s = 5 ORDER BY id"),
    (R, "SELECT id FROM c WHERE s = 0 ORDER BY id"),
    (R, "SELECT id FROM c WHERE 0 = s ORDER BY id"),
    (R, "SELECT id FROM c WHERE s > 1 ORDER BY id"),
    (R, "SELECT id FROM c WHERE s <> 5 ORDER BY id"),
    (R, "SELECT id FROM c WHERE s = 5e0 ORDER BY id"),
    (R, "SELECT id FROM c WHERE s = 1.0 ORDER BY id"),
    (R, "SELECT id FROM c WHERE s IN (1, 12) ORDER BY id"),
    (R, "SELECT id FROM c WHERE s BETWEEN 1 AND 5 ORDER BY id"),
    (R, "SELECT id FROM c WHERE s = n ORDER BY id"),
    (R, "SELECT id FROM c WHERE s = p ORDER BY id"),
    (R, "SELECT id FROM c WHERE s = d ORDER BY id"),
    (R, "SELECT id FROM c WHERE s = b ORDER BY id"),
    (R, "SELECT id FROM c WHERE s = n + 0 ORDER BY id"),
    (R, "SELECT id, s = 5 FROM c ORDER BY id"),
    (R, "SELECT id FROM c WHERE c.s = 5 ORDER BY id"),
    # text with text: SQLite's comparison was right and stays
    (R, "SELECT id FROM c WHERE s = '5' ORDER BY id"),
    (R, "SELECT id FROM c WHERE s > '1' ORDER BY id"),
    (R, "SELECT id FROM c WHERE s IS NULL ORDER BY id"),
    (R, "SELECT id FROM c WHERE id = 2"),
    # an UPDATE: strict mode's 1292 for a string that is no number (which row fails
    # first is the shard's: messages only where one row is evaluated)
    (CODE, "UPDATE c SET n = 7 WHERE s = 5"),
    (W, "UPDATE c SET n = 7 WHERE id = 1 AND s = 0"),
    (W, "UPDATE c SET n = 7 WHERE id = 6 AND s = 12"),
    (W, "UPDATE c SET n = 7 WHERE id = 7 AND s > 1"),
    (W, "UPDATE c SET n = 7 WHERE id = 6 AND s = 1.5"),
    (W, "UPDATE c SET n = 7 WHERE id = 6 AND s = p"),
    (W, "UPDATE c SET n = 7 WHERE id = 6 AND s IN (5, 6)"),
    (W, "UPDATE c SET n = 7 WHERE id = 6 AND s BETWEEN 1 AND 2"),
    (W, "UPDATE c SET n = (s = 5) WHERE id = 1"),
    # ... and numeric strings work: '5', ' 5.0', '1e0', '+5', '0.0'
    (W, "UPDATE c SET n = 9 WHERE id IN (2, 3, 4, 5, 8) AND s = 5"),
    (W, "UPDATE c SET n = 8 WHERE id IN (2, 3, 4, 5, 8) AND s < 2"),
    (W, "UPDATE c SET n = 6 WHERE id > 1 AND id < 6 AND s = n"),
    (W, "UPDATE c SET n = 4 WHERE s = 'a'"),
    (W, "UPDATE c SET s = 5 WHERE id = 9"),
    (R, "SELECT * FROM c ORDER BY id"),
    # a DELETE only warns (MariaDB): the string's prefix decides
    (W, "DELETE FROM c WHERE s = 0"),
    (W, "DELETE FROM c WHERE s = 12"),
    (R, "SELECT * FROM c ORDER BY id"),
]


async def test_text_compared_with_numbers(reference: Any, tmp_path: Path) -> None:
    await _run(TEXT, reference, tmp_path)


PRODUCTS: list[tuple[str, str]] = [
    (W, "CREATE TABLE m (id INT PRIMARY KEY, n INT, k INT, sm SMALLINT, b BIGINT)"),
    (W, "INSERT INTO m VALUES (1, 3000000, 2, 100, 0), (2, 2, 3000000, 7, 0)"),
    (R, "SELECT n * n * n FROM m WHERE id = 1"),
    (R, "SELECT id FROM m WHERE n * n * n > 0"),
    (R, "SELECT n * k * n * k FROM m WHERE id = 1"),
    (R, "SELECT SUM(n * n * n) FROM m"),
    (W, "UPDATE m SET b = n * n * n WHERE id = 1"),
    (W, "UPDATE m SET b = 1 WHERE n * n * n > 0"),
    (W, "DELETE FROM m WHERE n * n * n > 0"),
    (W, "INSERT INTO m (id, b) VALUES (3, 3000000 * 3000000 * 3000000)"),
    # within range: MariaDB's values
    (R, "SELECT id, n * n, n * k, n * 2 * k, sm * sm * sm FROM m ORDER BY id"),
    (R, "SELECT n * n * n FROM m WHERE id = 2"),
    (W, "UPDATE m SET b = n * n * k WHERE id = 2"),
    (W, "UPDATE m SET b = n * n WHERE id = 1"),
    (R, "SELECT * FROM m ORDER BY id"),
]


async def test_int_products_past_bigint(reference: Any, tmp_path: Path) -> None:
    await _run(PRODUCTS, reference, tmp_path)


CASTS: list[tuple[str, str]] = [
    (W, "CREATE TABLE k (id INT PRIMARY KEY, s VARCHAR(10), n INT)"),
    (W, "INSERT INTO k VALUES (1, '12', 1), (2, ' 7', 2), (3, '-3', 3)"),
    # CAST of integer strings in an INSERT … SELECT: MariaDB's values
    (W, "INSERT INTO k (id, n) SELECT id + 10, CAST(s AS SIGNED) FROM k WHERE id <= 3"),
    (W, "INSERT INTO k (id, n) SELECT id + 20, CAST(s AS UNSIGNED) FROM k WHERE id <= 2"),
    (W, "INSERT INTO k (id, n) SELECT id + 30, 1 FROM k WHERE id <= 3 AND s = 12"),
    (R, "SELECT * FROM k ORDER BY id"),
]


async def test_integer_string_casts_in_insert_select(reference: Any, tmp_path: Path) -> None:
    await _run(CASTS, reference, tmp_path)


STRICT_SELECT: list[tuple[str, str]] = [
    (W, "CREATE TABLE q (id INT PRIMARY KEY, s VARCHAR(10), n INT, d DOUBLE)"),
    (W, "INSERT INTO q VALUES (1, '12', 1, 0), (2, '5.0x', 2, 0), (3, '', 3, 0), (4, '1e0', 4, 0)"),
    # CAST of a string that is no integer, a division by zero, a comparison in the
    # condition: MariaDB's 1292 / 1365 in an INSERT … SELECT
    (W, "INSERT INTO q (id, n) SELECT id + 10, CAST(s AS SIGNED) FROM q WHERE id = 2"),
    (W, "INSERT INTO q (id, n) SELECT id + 10, CAST(s AS SIGNED) FROM q WHERE id = 3"),
    (W, "INSERT INTO q (id, n) SELECT id + 10, CAST(s AS UNSIGNED) FROM q WHERE id = 4"),
    (W, "INSERT INTO q (id, n) SELECT id + 10, 1 / 0 FROM q WHERE id = 1"),
    (W, "INSERT INTO q (id, n) SELECT id + 10, 1 FROM q WHERE id = 2 AND s = 5"),
    (W, "INSERT INTO q (id, n) SELECT id + 10, 1 FROM q WHERE id = 2 AND s = 5.5"),
    (W, "INSERT INTO q (id, n) SELECT id + 10, 1 FROM q WHERE id = 2 AND s = d"),
    (W, "REPLACE INTO q (id, n) SELECT id + 10, 1 FROM q WHERE id = 3 AND s IN (5, 6)"),
    # ... what MariaDB only warns about there: arithmetic, a comparison as a select item
    (W, "INSERT INTO q (id, n) SELECT id + 20, s + 1 FROM q WHERE id = 2"),
    (W, "INSERT INTO q (id, n) SELECT id + 30, s > 1 FROM q WHERE id = 2"),
    (W, "INSERT INTO q (id, n) SELECT id + 40, CAST(s AS SIGNED) FROM q WHERE id = 1"),
    (W, "INSERT INTO q (id, n) SELECT id + 50, 1 FROM q WHERE id = 1 AND s = 12"),
]


async def test_insert_select_strict_reads(reference: Any, tmp_path: Path) -> None:
    """The shards' side of an INSERT … SELECT's strict mode: inside
    :func:`strict_select` (the statement's SELECT read) the conversions MariaDB refuses
    are its errors, what it only warns about is answered."""
    with strict_select("INSERT INTO q"):
        await _run(STRICT_SELECT, reference, tmp_path)


IGNORED_SELECT: list[tuple[str, str]] = [
    *STRICT_SELECT[:2],
    (W, "INSERT IGNORE INTO q (id, n) SELECT id + 10, CAST(s AS SIGNED) FROM q WHERE id = 2"),
    (W, "INSERT IGNORE INTO q (id, n) SELECT id + 20, 1 FROM q WHERE s = 5"),
    (R, "SELECT * FROM q ORDER BY id"),
]


async def test_insert_ignore_select_only_warns(reference: Any, tmp_path: Path) -> None:
    with strict_select("INSERT IGNORE INTO q"):
        await _run(IGNORED_SELECT, reference, tmp_path)


async def test_insert_select_cast_is_strict_end_to_end(reference: Any, tmp_path: Path) -> None:
    await _run(STRICT_SELECT[:3], reference, tmp_path)


STRINGS: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE g (id INT PRIMARY KEY, n INT, b BIGINT, p DECIMAL(8,2), d DOUBLE, s VARCHAR(10))",
    ),
    (
        W,
        "INSERT INTO g VALUES (0, 0, 0, 0, 0, 'a'), (1, 5, 5, 5, 5, 'bob'), "
        "(2, 100, 100, 100, 100, 'x'), (3, 7, 7, 2.5, 2.5, '7'), (4, -1, -1, -1, -1, NULL)",
    ),
    # a numeric column with a string that is no clean number: its numeric prefix
    (R, "SELECT id FROM g WHERE n = '5x' ORDER BY id"),
    (R, "SELECT id FROM g WHERE n > 'abc' ORDER BY id"),
    (R, "SELECT id FROM g WHERE n IN ('5x', '7') ORDER BY id"),
    (R, "SELECT id FROM g WHERE n IN (7, '5x') ORDER BY id"),
    (R, "SELECT id FROM g WHERE '5x' = n ORDER BY id"),
    (R, "SELECT id FROM g WHERE n = '' ORDER BY id"),
    (R, "SELECT id FROM g WHERE n <> '' ORDER BY id"),
    (R, "SELECT id FROM g WHERE n = '0x10' ORDER BY id"),
    (R, "SELECT id FROM g WHERE n <=> '5x' ORDER BY id"),
    (R, "SELECT id FROM g WHERE n NOT BETWEEN '1x' AND 6 ORDER BY id"),
    (R, "SELECT id FROM g WHERE b = '5x' OR p = '2.5x' OR d = '100abc' ORDER BY id"),
    (R, "SELECT id, n = '5x' FROM g ORDER BY id"),
    (W, "DELETE FROM g WHERE n IN ('7x', '100')"),
    # ... also against a number that is no column (an expression, a literal)
    (R, "SELECT id FROM g WHERE n + 0 = '5x' ORDER BY id"),
    (R, "SELECT id FROM g WHERE '5x' = n * 1 ORDER BY id"),
    (R, "SELECT id FROM g WHERE (n - 1) < 'abc' ORDER BY id"),
    (R, "SELECT id, 5 = '5x', 1 + 1 = '2abc', '0' = 'a' FROM g WHERE id = 1"),
    # ... also on the shard key: routed to every shard (the string's hash places nothing)
    (R, "SELECT id, n FROM g WHERE id = '1x' ORDER BY id"),
    (R, "SELECT id FROM g WHERE id IN ('3abc', '0') ORDER BY id"),
    (W, "DELETE FROM g WHERE id = '4 rows'"),
    (REFUSED, "UPDATE g SET s = 'q' WHERE n = '5x'"),
    # the neighbours: clean numbers (SQLite's affinity converts them), text with text
    (R, "SELECT id FROM g WHERE n = ' 5' ORDER BY id"),
    (R, "SELECT id FROM g WHERE n = '5 ' ORDER BY id"),
    (R, "SELECT id FROM g WHERE n = '5.0' OR n = '1e2' ORDER BY id"),
    (R, "SELECT id FROM g WHERE '5' = n ORDER BY id"),
    (R, "SELECT id FROM g WHERE s = 'bob' ORDER BY id"),
    (R, "SELECT id FROM g WHERE n = 5 ORDER BY id"),
    (R, "SELECT id FROM g WHERE id = '1'"),
    (W, "UPDATE g SET s = 'q' WHERE n = ' 5'"),
    (R, "SELECT * FROM g ORDER BY id"),
]


async def test_numeric_columns_compared_with_strings(reference: Any, tmp_path: Path) -> None:
    await _run(STRINGS, reference, tmp_path)


WIDE_READS: list[tuple[str, str]] = [
    (W, "CREATE TABLE v (id INT PRIMARY KEY, b BIGINT)"),
    (W, f"INSERT INTO v VALUES (1, {BIG}), (2, {BIG - 1}), (3, 5)"),
    (REFUSED, "SELECT id FROM v WHERE b = 9007199254740993.0"),
    (REFUSED, "SELECT id FROM v WHERE b > 9007199254740992.5"),
    (REFUSED, "SELECT id FROM v WHERE b IN (1, 9007199254740992.5)"),
    (REFUSED, "DELETE FROM v WHERE b = 9007199254740992.5"),
    (REFUSED, "SELECT id FROM v WHERE b = '9007199254740992.5'"),
    (REFUSED, "UPDATE v SET b = '9007199254740993.4' WHERE id = 3"),
    (REFUSED, "INSERT INTO v VALUES (4, '9007199254740993.4')"),
    # exact values, and a select item's own digits: MariaDB's answers
    (R, "SELECT 9007199254740993.4"),
    (R, "SELECT id FROM v WHERE b = 9007199254740993 ORDER BY id"),
    (R, "SELECT id FROM v WHERE b = '9007199254740993.0' ORDER BY id"),
    (R, "SELECT id FROM v WHERE b = '9007199254740993' ORDER BY id"),
    (W, "INSERT INTO v VALUES (5, '9007199254740993')"),
    (R, "SELECT * FROM v ORDER BY id"),
]


async def test_wide_decimals_compared_and_written_as_strings(
    reference: Any, tmp_path: Path
) -> None:
    await _run(WIDE_READS, reference, tmp_path)


def test_wide_fraction_literals() -> None:
    find = sqlite_arithmetic.wide_fraction_literal
    assert find("INSERT INTO t VALUES (1, 9007199254740993.4)") == "9007199254740993.4"
    assert find("UPDATE t SET b = -9007199254740993.0 WHERE id = 1") == "9007199254740993.0"
    assert find("INSERT INTO t VALUES (1, 9007199254740994.0)") is None  # exact REAL
    assert find("INSERT INTO t VALUES (1, 9007199254740993)") is None  # an integer
    assert find("INSERT INTO t VALUES (1, '9007199254740993.4')") is None  # a string
    assert find("INSERT INTO t VALUES (1, 0.12345678901234567891)") is None  # a fraction
    assert find("INSERT INTO t VALUES (1, 1.5)") is None
    rows = ", ".join(f"({i}, {i}.25, 'x{i}')" for i in range(20000))
    assert find(f"INSERT INTO t VALUES {rows}") is None
    assert find(f"INSERT INTO t VALUES {rows}, (1, 12345678901234567.5)") is not None


def test_exact_integer_and_text_number() -> None:
    with pytest.raises(NotSupported):
        sqlite_arithmetic.exact_integer(float(2**53), "b")
    assert sqlite_arithmetic.exact_integer(2**53 + 1, "b") == 2**53 + 1
    assert sqlite_arithmetic.exact_integer(1.5, "b") == 1.5
    assert sqlite_arithmetic.exact_integer(1e19, "b") == 1e19  # the column's 1264
    number = sqlite_arithmetic.text_number
    assert number(" 5.0", "DECIMAL") == 5 and number("a", "DECIMAL") == 0
    assert number("12abc", "DOUBLE") == 12.0 and number(None, "DECIMAL") is None


def test_point_queries_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A comparison of a non-text column, or of a text column with a string, is no
    reason to parse: ``_guard`` is never called."""
    raw = sqlite3.connect(":memory:")
    sqlite_mysql.install(raw)
    raw.execute("ATTACH DATABASE ':memory:' AS db_0001")
    raw.execute("CREATE TABLE db_0001.t (id INT PRIMARY KEY, s VARCHAR(10), n INT)")

    def parsed(sql: str, decls: Any) -> str:
        raise AssertionError(f"parsed: {sql}")

    monkeypatch.setattr(sqlite_arithmetic, "_guard", parsed)
    for sql in (
        'SELECT * FROM "db_0001"."t" WHERE "id" = 5',
        'SELECT * FROM "db_0001"."t" WHERE "s" = \'5\' AND "n" > 3',
        'SELECT "id" FROM "db_0001"."t" WHERE "s" IN (\'a\', \'b\')',
        'UPDATE "db_0001"."t" SET "n" = 1 WHERE "s" = \'x\'',
        'DELETE FROM "db_0001"."t" WHERE "id" = 7',
        'SELECT * FROM "db_0001"."t" WHERE "id" = \'5\'',
        'SELECT * FROM "db_0001"."t" WHERE "s" = \'bob\'',
        'SELECT * FROM "db_0001"."t" WHERE "id" = 5 AND "s" = \'bob\'',
        'SELECT * FROM "db_0001"."t" WHERE "n" = \' 5\' AND "s" IN (\'a\', \'5x\')',
    ):
        assert sqlite_arithmetic.guard(raw, sql) == sql
    monkeypatch.undo()
    out = sqlite_arithmetic.guard(raw, 'SELECT * FROM "db_0001"."t" WHERE "s" = 0')
    assert "sg_text_number" in out
    out = sqlite_arithmetic.guard(raw, 'SELECT * FROM "db_0001"."t" WHERE "n" = \'5x\'')
    assert "sg_string_number('5x', 'DECIMAL')" in out
    raw.close()
