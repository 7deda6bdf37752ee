"""The embedded SQLite default's last "answered, not MySQL's" rows (issue 15), each now
MariaDB's answer or a clear 1235 — measured against MariaDB on 127.0.0.1:3306, statement
by statement, on 16 SQLite shards with two-row chunks:

1. a DOUBLE past its range anywhere — a ``WHERE``, ``ORDER BY``, ``GROUP BY``, a select
   item inside a comparison or ``CONCAT``, ``SET``, ``VALUES``, ``ON DUPLICATE KEY
   UPDATE``, ``REPLACE``, ``DELETE … WHERE`` — is MariaDB's error 1690 with MariaDB's
   message (``DOUBLE value is out of range in '<expression>'``; the schema in it is the
   shard's), never SQLite's infinity; a literal past the range is MariaDB's 1367;
2. ``LOG10(x)`` and ``LOG2(x)`` are MariaDB's values to the last bit (``LOG10`` is C's
   ``log10``, ``LOG2`` is ``ln(x) / ln(2)``), distinct from ``LOG(10, x)``;
3. a DECIMAL or DOUBLE written to a text column by ``ON DUPLICATE KEY UPDATE`` (also
   ``INSERT IGNORE``/``INSERT … SET`` forms), or a DECIMAL/DOUBLE column or expression
   written to one by ``UPDATE … SET``: 1235, never SQLite's ``'1.5'``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sharding import Coordinator
from sharding.errors import ShardgateError
from tests.conftest import mariadb_reference
from tests.sharding.test_sqlite_mysql_semantics import _typed, topology

pytestmark = pytest.mark.mysql

PREFIX = "sgleftover_"

R, W = "read", "write"
#: Refused on SQLite shards (1235) where MariaDB answers: run on the shards only.
REFUSED = "refused"

#: Errors whose message is compared too (after the schema in a column name).
_MESSAGES = {1690, 1367}
_SCHEMA = re.compile(r"`[^`]+`\.(`[^`]+`\.`[^`]+`)")


def _message(text: str) -> str:
    """MariaDB prints ``db.table.column``; the shard's schema is not the client's."""
    return _SCHEMA.sub(r"\1", text.split(" (data source")[0])


async def _run(script: list[tuple[str, str]], reference: Any, root: Path) -> None:
    async with Coordinator(topology(root, 2), catalog_refresh=None) as coord:
        session = coord.open_session(database="db")
        try:
            with reference.cursor() as cur:
                for kind, sql in script:
                    if kind == REFUSED:
                        try:
                            await session.execute(sql)
                        except ShardgateError as exc:
                            assert exc.code == 1235, (sql, exc)
                        else:
                            pytest.fail(f"answered, not refused: {sql}")
                        continue
                    try:
                        cur.execute(sql)
                        theirs: Any = ("ok", cur.rowcount, [tuple(r) for r in cur.fetchall()])
                    except pymysql.MySQLError as exc:
                        theirs = ("error", exc.args[0], _message(str(exc.args[1])))
                    try:
                        result = await session.execute(sql)
                        mine: Any = ("ok", result.affected, [tuple(r) for r in result.rows])
                    except ShardgateError as exc:
                        mine = ("error", exc.code, _message(str(exc)))
                    if sql.startswith("CREATE"):
                        assert mine[0] == theirs[0] == "ok", (sql, mine, theirs)
                    elif theirs[0] == "error" or mine[0] == "error":
                        assert mine[:2] == theirs[:2], (sql, mine, theirs)
                        if theirs[1] in _MESSAGES:
                            assert mine[2] == theirs[2], (sql, mine[2], theirs[2])
                    elif kind == R:
                        want, got = theirs[2], mine[2]
                        if "ORDER BY" not in sql:
                            want, got = sorted(want, key=repr), sorted(got, key=repr)
                        assert _typed(got) == _typed(want), (sql, got, want)
                    else:
                        assert mine[1] == theirs[1], (sql, mine, theirs)
        finally:
            await session.close()


@pytest.fixture
def reference() -> Iterator[Any]:
    with mariadb_reference(PREFIX) as conn:
        yield conn


T_ROWS = (
    "INSERT INTO t VALUES (1, 1.5, 'a', 1.25, 3, 1), (2, -2, '1e308', 0.10, -4, 2), "
    "(3, NULL, NULL, NULL, NULL, 3), (4, 0, 'x', 0, 0, 4), (5, 1e300, '12', 99.5, 7, 5)"
)
SELECT_T = "SELECT id, d, s, p, n, k FROM t ORDER BY id"

OVERFLOW: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE t (id INT PRIMARY KEY, d DOUBLE, s VARCHAR(20), p DECIMAL(8,2), "
        "n INT, k INT)",
    ),
    (W, T_ROWS),
    # reads: WHERE, ORDER BY, GROUP BY, inside a comparison or CONCAT in the select list
    (R, "SELECT id FROM t WHERE d * 1e308 > 0"),
    (R, "SELECT id FROM t WHERE d * 1e308 IS NULL"),
    (R, "SELECT COUNT(*) FROM t WHERE d * 1e308 IS NOT NULL"),
    (R, "SELECT id FROM t ORDER BY d * 1e308"),
    (R, "SELECT id FROM t GROUP BY id, d * 1e308"),
    (R, "SELECT id, d * 1e308 > 0 FROM t ORDER BY id"),
    (R, "SELECT id, CONCAT(d * 1e308) FROM t ORDER BY id"),
    (R, "SELECT id, d * 1e308 FROM t ORDER BY id"),
    (R, "SELECT x.id FROM t AS x WHERE x.d * 1e308 > 0"),
    (R, "SELECT id FROM t WHERE d * d > 0"),
    (R, "SELECT id FROM t WHERE d + d + d > 0"),
    (R, "SELECT id FROM t WHERE -d * 1e308 > 0"),
    (R, "SELECT id FROM t WHERE d * -1e308 < 0"),
    (R, "SELECT id FROM t WHERE (d + 0) * 1e308 > 0"),
    (R, "SELECT id FROM t WHERE d * (n + 1) > 0"),
    (R, "SELECT id FROM t WHERE d / 1e-308 > 0"),
    (R, "SELECT id FROM t WHERE s * 1e308 > 0"),
    (R, "SELECT id FROM t WHERE s * 10 > 0"),
    (R, "SELECT id FROM t WHERE '1e308' * 10 > 0"),
    (R, "SELECT id FROM t WHERE EXP(d * 1000) > 0"),
    (R, "SELECT id FROM t WHERE POW(d, 2) > 0"),
    (R, "SELECT id FROM t WHERE d * CAST(1e10 AS DOUBLE) > 0"),
    (R, "SELECT id FROM t WHERE CASE WHEN n > 0 THEN d * 1e10 ELSE 0 END > 0"),
    (R, "SELECT id FROM t WHERE COALESCE(d * 1e10, 0) > 0"),
    (R, "SELECT id FROM t WHERE d * 1e10 IN (1, 2)"),
    (R, "SELECT SUM(d * 1e308), MAX(d * 1e308) FROM t"),
    # within range: answered as MariaDB answers
    (R, "SELECT id FROM t WHERE d * 1e8 > 0 ORDER BY id"),
    (R, "SELECT id FROM t WHERE id <> 5 AND d * 1e308 > 0 ORDER BY id"),
    (R, "SELECT id, d * 1e8, p * 1e300, n * 1e300 FROM t WHERE id <> 5 ORDER BY id"),
    (R, "SELECT id FROM t WHERE id = 1 AND d * 1e308 > 0"),
    (R, "SELECT id FROM t WHERE id = 2 AND p * 1e308 < 1 ORDER BY id"),
    (R, "SELECT 1e308 * 10"),
    (R, "SELECT -1e308 * 10"),
    (R, "SELECT 1e308 + 1e308"),
    # a literal past the range: MariaDB's parse error (a bare ``SELECT 1e309`` is
    # answered by the coordinator without a shard)
    (R, "SELECT 1e309 + 1"),
    (R, "SELECT 1e309 FROM t WHERE id = 1"),
    (R, "SELECT id FROM t WHERE d < 1e309"),
    # writes: SET, WHERE, VALUES, upserts, REPLACE, DELETE — nothing stored
    (W, "UPDATE t SET d = d * 1e308"),
    (W, "UPDATE t SET d = d * 1e308 WHERE id = 2"),
    (W, "UPDATE t SET n = 1 WHERE d * 1e308 > 0"),
    (W, "UPDATE t SET k = d * 1e308 > 0"),
    (W, "UPDATE t SET s = 'z' WHERE id = 2 AND s * 10 > 0"),
    (W, "DELETE FROM t WHERE d * 1e308 > 0"),
    (W, "INSERT INTO t (id, d) VALUES (9, 1e308 * 10)"),
    (W, "INSERT INTO t (id, d) VALUES (9, -1e308 * 10)"),
    (W, "INSERT INTO t (id, d) VALUES (9, 1), (10, 1e308 * 10)"),
    (W, "INSERT INTO t (id, d) VALUES (9, 1e309)"),
    (W, "INSERT IGNORE INTO t (id, d) VALUES (9, 1e308 * 10)"),
    (W, "REPLACE INTO t (id, d) VALUES (1, 1e308 * 10)"),
    (W, "INSERT INTO t (id, d) VALUES (1, 2) ON DUPLICATE KEY UPDATE d = d * 1e308"),
    (W, "INSERT INTO t (id, d) VALUES (1, 2) ON DUPLICATE KEY UPDATE d = t.d * 1e308"),
    (W, "INSERT INTO t (id, d) VALUES (2, 5) ON DUPLICATE KEY UPDATE d = VALUES(d) * 1e308"),
    (W, "INSERT INTO t (id, n) VALUES (2, 1) ON DUPLICATE KEY UPDATE n = n + 1e308 * 10"),
    (W, "INSERT INTO t (id, d) VALUES (11, 5) ON DUPLICATE KEY UPDATE d = VALUES(d) * 1e308"),
    (W, "INSERT INTO t SET id = 1, d = 2 ON DUPLICATE KEY UPDATE d = d * 1e308"),
    (R, SELECT_T),
    # within range: written as MariaDB writes them
    (W, "UPDATE t SET d = d * 1e8 WHERE id < 5"),
    (W, "UPDATE t SET d = -d * 1e8 WHERE d * 1e-8 > 1"),
    (W, "INSERT INTO t (id, d) VALUES (1, 2) ON DUPLICATE KEY UPDATE d = d * 10"),
    (W, "REPLACE INTO t (id, d, s) VALUES (4, 1e300 * 10, 'r')"),
    (W, "DELETE FROM t WHERE d * 1e-300 > 5"),
    (R, SELECT_T),
]


async def test_double_overflow_is_mariadbs_1690(reference: Any, tmp_path: Path) -> None:
    await _run(OVERFLOW, reference, tmp_path)


#: Values whose LOG10/LOG2 are compared bit for bit (integers, DECIMALs, DOUBLEs,
#: text), beside LOG(10, x) and LOG(2, x) — which MariaDB computes differently.
def _log_rows() -> list[tuple[Any, ...]]:
    rng = random.Random(15)
    out: list[tuple[Any, ...]] = []
    for i in range(1, 121):
        n = (
            [1, 2, 3, 5, 7, 10, 100, 1000, 10**6, 0, -5][i % 11]
            if i < 23
            else rng.randrange(1, 10**9)
        )
        p = f"{rng.randrange(0, 10**7)}.{rng.randrange(0, 100):02d}"
        d = repr(rng.uniform(1e-6, 1e6)) if i % 5 else ("1e300" if i % 2 else "1e-300")
        out.append((i, n, p, d))
    return out


LOG_SELECTS = [
    "SELECT id, LOG10(n), LOG2(n), LOG(10, n), LOG(2, n) FROM l ORDER BY id",
    "SELECT id, LOG10(p), LOG2(p), LOG10(d), LOG2(d), LOG10(s), LOG2(s) FROM l ORDER BY id",
    "SELECT LOG10(1000), LOG(10, 1000), LOG2(3), LOG2(1e300), LOG10(0.001), LOG10(0), "
    "LOG10(-1), LOG2(NULL), LOG10('1000'), LOG2(8)",
    "SELECT id FROM l WHERE LOG10(n) = 3 OR LOG2(n) = LOG(2, n) * 2 ORDER BY id",
    "SELECT id, LOG10(n * 1000 / 3), LOG2(p + 1) FROM l WHERE id < 30 ORDER BY id",
    "SELECT id, LOG10(n) FROM l WHERE id = 7",
    "SELECT id, LOG10(n) AS x FROM l ORDER BY x DESC, id LIMIT 5",
]


async def test_log10_log2_are_mariadbs(reference: Any, tmp_path: Path) -> None:
    rows = _log_rows()
    values = ", ".join(f"({i}, {n}, {p}, {d}, '{d}')" for i, n, p, d in rows)
    script: list[tuple[str, str]] = [
        (
            W,
            "CREATE TABLE l (id INT PRIMARY KEY, n BIGINT, p DECIMAL(12,2), d DOUBLE, "
            "s VARCHAR(40), r DOUBLE)",
        ),
        (W, f"INSERT INTO l (id, n, p, d, s) VALUES {values}"),
        *((R, sql) for sql in LOG_SELECTS),
        # writes: SET, VALUES (passed through as text), upserts
        (W, "UPDATE l SET r = LOG10(n) WHERE n > 0"),
        (W, "UPDATE l SET r = LOG2(d) WHERE id > 100"),
        (W, "INSERT INTO l (id, r) VALUES (200, LOG10(1000)), (201, LOG2(3))"),
        (W, "INSERT INTO l (id, r) VALUES (1, 0) ON DUPLICATE KEY UPDATE r = LOG10(1000)"),
        (W, "INSERT INTO l (id, r) VALUES (2, 0) ON DUPLICATE KEY UPDATE r = LOG2(n * 7)"),
        (R, "SELECT id, r FROM l ORDER BY id"),
    ]
    await _run(script, reference, tmp_path)


def test_log_values_are_c_log10_and_ln_over_ln2() -> None:
    """The registered functions (the reference model of what MariaDB computes)."""
    from sharding.backend import sqlite_mysql

    assert sqlite_mysql._log10(1000) == 3.0 == math.log10(1000)
    assert sqlite_mysql._log2(3) == math.log(3) / math.log(2) != math.log2(3)
    assert sqlite_mysql._log10(0) is None and sqlite_mysql._log2(-1) is None


NUMBER_AS_TEXT: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE w (id INT PRIMARY KEY, s VARCHAR(20), p DECIMAL(8,2), d DOUBLE, "
        "n INT, q DECIMAL(8,0))",
    ),
    (W, "INSERT INTO w VALUES (1, 'a', 0.10, -2, 3, 7), (2, 'b', 1.00, 0.5, 4, 8)"),
    # the upsert's clause gives a text column a DECIMAL or DOUBLE: refused
    (REFUSED, "INSERT INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = 1.50"),
    (REFUSED, "INSERT INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = 1e0"),
    (REFUSED, "INSERT INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = 0.10 + 1"),
    (
        REFUSED,
        "INSERT INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = CONCAT(1.50, 'x')",
    ),
    (REFUSED, "INSERT INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = 7 / 2"),
    (REFUSED, "INSERT INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = p"),
    (REFUSED, "INSERT INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = d * 2"),
    (
        REFUSED,
        "INSERT INTO w (id, s, p) VALUES (1, 'q', 2.50) ON DUPLICATE KEY UPDATE s = VALUES(p)",
    ),
    (
        REFUSED,
        "INSERT IGNORE INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = 1.50",
    ),
    (REFUSED, "INSERT INTO w SET id = 1, s = 'q' ON DUPLICATE KEY UPDATE s = 1.50"),
    (REFUSED, "INSERT IGNORE INTO w (id, s) VALUES (9, 1.50)"),
    (REFUSED, "REPLACE INTO w (id, s) VALUES (1, 1.50)"),
    # UPDATE … SET of a DECIMAL (with a scale) or DOUBLE column or expression: refused
    (REFUSED, "UPDATE w SET s = p WHERE id = 1"),
    (REFUSED, "UPDATE w SET s = d WHERE id = 1"),
    (REFUSED, "UPDATE w SET s = p * 2 WHERE id = 2"),
    (R, "SELECT id, s, p, d, n FROM w ORDER BY id"),
    # integers, DECIMAL(p, 0), quoted text, numbers into numeric columns: MariaDB's
    (W, "INSERT INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = n * 2"),
    (W, "INSERT INTO w (id, s) VALUES (2, 'q') ON DUPLICATE KEY UPDATE s = '1.50', n = 2"),
    (W, "INSERT INTO w (id, s) VALUES (2, 'q') ON DUPLICATE KEY UPDATE p = 1.50, d = 2.5"),
    (W, "INSERT INTO w (id, s) VALUES (1, 'q') ON DUPLICATE KEY UPDATE s = q"),
    (W, "INSERT INTO w (id, s, p) VALUES (3, 'x', 1.50) ON DUPLICATE KEY UPDATE s = 'y'"),
    (W, "INSERT IGNORE INTO w (id, s) VALUES (1, 'q')"),
    (W, "REPLACE INTO w (id, s, p) VALUES (4, 'x', 1.50)"),
    (W, "UPDATE w SET s = n WHERE id = 2"),
    (W, "UPDATE w SET p = p + 1, s = 'z' WHERE id = 2"),
    (R, "SELECT id, s, p, d, n FROM w ORDER BY id"),
]


async def test_numbers_written_as_text_by_upserts_are_refused(
    reference: Any, tmp_path: Path
) -> None:
    await _run(NUMBER_AS_TEXT, reference, tmp_path)


#: VALUES rows and the upsert's clause reach the shard as the client's MySQL text:
#: their expressions must mean what MySQL means (``7 / 2`` never SQLite's integer
#: division; ``DIV``, ``MOD``, ``XOR``, ``INTERVAL``, ``LEFT``, ``IF`` never a syntax
#: error; ``LENGTH`` in bytes; ``LOG10`` MariaDB's).
SELECT_V = "SELECT id, n, p, d, s, dt FROM v ORDER BY id"
PASSTHROUGH: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE v (id INT PRIMARY KEY, n INT, p DECIMAL(10,4), d DOUBLE, "
        "s VARCHAR(30), dt DATE)",
    ),
    (W, "INSERT INTO v VALUES (100, 1, 1, 1, 'q', '2024-01-01')"),
    (
        W,
        "INSERT INTO v VALUES (1, 7 DIV 2, 10 / 4, 1 / 3, LEFT('abcdef', 3), "
        "DATE_ADD('2024-01-31', INTERVAL 1 MONTH)), "
        "(2, 7 MOD 3, 7.5 % 2, LOG10(1000), CONCAT('x', LENGTH('é')), "
        "'2024-02-28' + INTERVAL 1 DAY)",
    ),
    (
        W,
        "INSERT INTO v VALUES (3, 1 XOR 0, TRUNCATE(3.789, 2), LOG2(3), IF(1 > 2, 'a', 'b'), "
        "LAST_DAY('2024-02-10')), (4, -7 DIV 2, -7 / 2, POW(2, 10), "
        "SUBSTRING_INDEX('a,b,c', ',', 2), NULL)",
    ),
    (
        W,
        "INSERT INTO v VALUES (5, 5 ^ 3, 2 * (3 + 4) / 7, EXP(1), REPLACE('a\\\\b', 'a', 'z'), "
        "NULL), (6, ~0 & 255, ROUND(2.345, 2), SQRT(2), "
        "UPPER(CONCAT_WS('-', 'a', NULL, 'b')), DATE('2024-05-06 10:00:00'))",
    ),
    (
        W,
        "INSERT INTO v VALUES (7, CAST('42' AS SIGNED), CAST(7 AS DECIMAL(6,2)) / 3, "
        "1e3 / 7, LPAD('7', 3, '0'), NULL)",
    ),
    (
        W,
        "INSERT INTO v VALUES (100, 5, 3, 2, 'it''s', '2024-01-01') ON DUPLICATE KEY UPDATE "
        "n = n DIV 2, p = VALUES(p) / 4, d = LOG10(100), s = CONCAT(s, LEFT('xyz', 1)), "
        "dt = dt + INTERVAL 1 DAY",
    ),
    (
        W,
        "INSERT INTO v VALUES (100, 5, 3, 2, 'a', NULL) ON DUPLICATE KEY UPDATE "
        "n = VALUES(n) MOD 3, s = IF(VALUES(n) > 3, 'big', 'small'), d = LOG2(VALUES(d) * 4)",
    ),
    (R, SELECT_V),
    (
        W,
        "REPLACE INTO v VALUES (100, 9 DIV 4, 9 / 4, LOG10(10000), LEFT('hello', 2), "
        "'2024-01-31' + INTERVAL 1 MONTH)",
    ),
    (
        W,
        "INSERT IGNORE INTO v VALUES (100, 1, 1, 1, 'x', NULL), "
        "(8, 8 DIV 3, 8 / 3, LOG10(8), RIGHT('hello', 2), NULL)",
    ),
    (W, "INSERT INTO v SET id = 9, n = 9 DIV 2, s = LEFT('abc', 1)"),
    (
        W,
        "INSERT INTO v VALUES (100, 5, 3, 2, 'x', NULL) ON DUPLICATE KEY UPDATE "
        "s = CONCAT('it\\'s', \"q\", 'a\\\\b'), v.n = VALUES(n) * 2",
    ),
    (
        W,
        "INSERT INTO v VALUES (11, 5 - -2, 3 <=> NULL, 2, 'x' 'y', NULL), "
        "(12, CASE WHEN 1 THEN 2 ELSE 3 END, 2 < 3, 1, 'a' LIKE 'A', CURRENT_DATE - INTERVAL 0 DAY)",
    ),
    (W, "INSERT INTO v (id, d) VALUES (10, 1e308 * 10)"),
    (W, "INSERT INTO v (id, p) VALUES (10, 1 DIV 0 + 5)"),
    (R, SELECT_V),
]


async def test_values_and_upsert_expressions_are_mysqls(reference: Any, tmp_path: Path) -> None:
    await _run(PASSTHROUGH, reference, tmp_path)


def test_plain_rows_are_not_parsed() -> None:
    """The common bulk INSERT of plain values is returned as it is, without a parse."""
    from sharding.backend import sqlite_passthrough

    head = 'INSERT INTO "db_0001"."t" ("id", "s", "d") VALUES '
    plain = head + "(1, 'a-b', -2), (2, 'it''s', 1e-5), (3, NULL, .5)"
    assert sqlite_passthrough.translate(plain) == plain
    assert sqlite_passthrough._plain("(1, 'a', -2), (2, NULL, 3.5)")
    assert not sqlite_passthrough._plain("(1, 7 / 2)")
    assert not sqlite_passthrough._plain("(1, 7 - 2)")
    assert not sqlite_passthrough._plain("(1, NOW())")
    assert (
        sqlite_passthrough.translate(head + "(1, 'x', 7 DIV 2)")
        == head + "(1, 'x', SG_INTDIV(7, 2))"
    )


#: MySQL's default sql_mode makes a division by zero (``/``, ``DIV``, ``MOD`` by 0, a
#: logarithm outside its domain) error 1365 in an INSERT, REPLACE or UPDATE; a read, a
#: DELETE's condition and INSERT IGNORE get NULL.
DIVISION: list[tuple[str, str]] = [
    (W, "CREATE TABLE z (id INT PRIMARY KEY, n INT, d DOUBLE, p DECIMAL(8,2))"),
    (W, "INSERT INTO z VALUES (1, 5, 2.5, 1.50), (2, 7, 3.5, 2.50), (3, NULL, NULL, NULL)"),
    (W, "INSERT INTO z VALUES (4, 1 / 0, 1, 1)"),
    (W, "INSERT INTO z VALUES (4, 5 DIV 0, 1, 1)"),
    (W, "INSERT INTO z VALUES (4, 5 MOD 0, 1, 1)"),
    (W, "INSERT INTO z VALUES (4, 1, 0 / 0, 1)"),
    (W, "INSERT INTO z VALUES (4, 1, LOG10(0), 1)"),
    (W, "INSERT INTO z VALUES (4, 1, LN(0), 1)"),
    (W, "INSERT INTO z VALUES (4, 1, LOG(-1), 1)"),
    (W, "INSERT INTO z VALUES (4, 1, LOG2(-1), 1)"),
    (W, "INSERT INTO z VALUES (4, 1, LOG(1, 2), 1)"),
    (W, "REPLACE INTO z VALUES (1, 1 / 0, 1, 1)"),
    (W, "INSERT INTO z VALUES (4, 1, SQRT(-1), NULL / 0)"),
    (W, "INSERT IGNORE INTO z VALUES (5, 1 / 0, LOG10(0), 1)"),
    (W, "UPDATE z SET n = n / 0 WHERE id = 1"),
    (W, "UPDATE z SET d = LOG10(n - 5) WHERE id = 1"),
    (W, "UPDATE z SET n = MOD(n, 0) WHERE id = 2"),
    (W, "UPDATE z SET d = p / 0 WHERE id = 2"),
    (W, "UPDATE z SET n = 1 WHERE n / 0 IS NULL"),
    (W, "UPDATE z SET n = n / 0 WHERE id = 3"),
    (W, "INSERT INTO z (id, n) VALUES (1, 1) ON DUPLICATE KEY UPDATE n = n / 0"),
    (W, "INSERT INTO z (id, n) VALUES (2, 1) ON DUPLICATE KEY UPDATE d = LOG(0)"),
    (R, "SELECT id, n / 0, n DIV 0, MOD(n, 0), LOG10(n - 5), LN(0) FROM z ORDER BY id"),
    (R, "SELECT id, n, d, p FROM z ORDER BY id"),
    (W, "DELETE FROM z WHERE n / 0 IS NULL AND id = 2"),
    (R, "SELECT id, n, d, p FROM z ORDER BY id"),
]


async def test_division_by_zero_in_writes_is_mariadbs_1365(reference: Any, tmp_path: Path) -> None:
    await _run(DIVISION, reference, tmp_path)


#: A DATE/DATETIME in arithmetic is MySQL's number (``dt + 0`` is 20240115, a DATETIME
#: 20240115102030), never SQLite's numeric prefix of the text (2024).
TEMPORAL: list[tuple[str, str]] = [
    (W, "CREATE TABLE e (id INT PRIMARY KEY, dt DATE, ts DATETIME, n INT, s VARCHAR(20))"),
    (
        W,
        "INSERT INTO e VALUES (1, '2024-01-15', '2024-01-15 10:20:30', 3, 'a'), "
        "(2, NULL, NULL, NULL, NULL), (3, '1999-12-31', '1999-12-31 23:59:59', 4, 'b')",
    ),
    (
        R,
        "SELECT id, dt + 0, ts + 0, dt - 1, dt * 2, dt / 2, dt DIV 100, dt % 100, dt + 0.5, "
        "ts - ts, dt - ts FROM e ORDER BY id",
    ),
    (R, "SELECT SUM(dt), AVG(dt), SUM(ts) FROM e WHERE id = 1"),
    (R, "SELECT SUM(dt), AVG(dt), SUM(dt + 0), MAX(ts + 0) FROM e"),
    (R, "SELECT -dt, -ts, dt * 1.5, dt / 7 FROM e WHERE id = 1"),
    (R, "SELECT id FROM e WHERE dt + 0 = 20240115"),
    (R, "SELECT id FROM e WHERE ts + 0 > 20000000000000 ORDER BY id"),
    (R, "SELECT id, dt + INTERVAL 1 DAY, dt, ts FROM e ORDER BY id"),
    (R, "SELECT id FROM e ORDER BY dt + 0 DESC, id"),
    (W, "UPDATE e SET n = dt % 100 WHERE id = 1"),
    (W, "UPDATE e SET s = CONCAT(dt + 0) WHERE id = 3"),
    (W, "INSERT INTO e (id, n) VALUES (1, 0) ON DUPLICATE KEY UPDATE n = dt DIV 10000"),
    (R, "SELECT id, dt, ts, n, s FROM e ORDER BY id"),
]


async def test_dates_in_arithmetic_are_mysqls_numbers(reference: Any, tmp_path: Path) -> None:
    await _run(TEMPORAL, reference, tmp_path)
