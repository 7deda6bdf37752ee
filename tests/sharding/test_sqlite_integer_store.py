"""MySQL's stored numbers and strict-mode errors on SQLite shards (issue 15), measured
against MariaDB on 127.0.0.1:3306 statement by statement, on 16 SQLite shards with
two-row chunks:

1. a non-integer value stored into an integer column is rounded as MySQL rounds it
   (``3.5`` is 4, ``n / 2``), one past the column's range (TINYINT … BIGINT, UNSIGNED)
   is MariaDB's 1264 with its message; what the shard cannot tell (a tie whose roundings
   differ, 2.5: 3 as a DECIMAL, 2 as a DOUBLE; a non-integer into a key column; a REAL past
   BIGINT's integers) is a clear 1235 — also across ALTER TABLE, which keeps the triggers;
2. a FLOAT column stores its single-precision value: arithmetic, comparisons, ``SUM``
   compute with it, and a read shows MariaDB's 6 significant digits (also ``MIN``,
   ``CASE``, ``CONCAT``);
3. in a write, a string that is no number in arithmetic or ``CAST(… AS SIGNED)`` is
   MariaDB's 1292, and BIGINT arithmetic past its range (also UNSIGNED's, also in a
   read) MariaDB's 1690.

Each statement runs on both; results, affected rows and error codes (messages, after
the schema in a column name, for the codes in ``_MESSAGES``) must agree.
"""

from __future__ import annotations

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

PREFIX = "sgintstore_"

R, W = "read", "write"
#: Refused on SQLite shards (1235): run on the shards only (MariaDB answers).
REFUSED = "refused"
#: Errors compared by code only (a multi-row statement: MySQL names the client's row).
CODE = "code"

#: Errors whose message is compared too (after the schema in a column name).
_MESSAGES = {1264, 1292, 1690}
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
                    if sql.startswith(("CREATE", "ALTER")):
                        assert mine[0] == theirs[0] == "ok", (sql, mine, theirs)
                    elif theirs[0] == "error" or mine[0] == "error":
                        assert mine[:2] == theirs[:2], (sql, mine, theirs)
                        if theirs[1] in _MESSAGES and kind != CODE:
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


SELECT_I = "SELECT * FROM i ORDER BY id"

INTEGERS: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE i (id INT PRIMARY KEY, n INT, u INT UNSIGNED, ti TINYINT, "
        "tu TINYINT UNSIGNED, sm SMALLINT, su SMALLINT UNSIGNED, md MEDIUMINT, "
        "mu MEDIUMINT UNSIGNED, b BIGINT, bu BIGINT UNSIGNED, bo BOOLEAN, "
        "p DECIMAL(8,2), d DOUBLE, s VARCHAR(20), k INT, UNIQUE KEY uk (id, k))",
    ),
    # non-integers: MySQL's rounding (exact values half away from zero)
    (W, "INSERT INTO i (id, n) VALUES (1, 3.5)"),
    (W, "INSERT INTO i (id, n) VALUES (2, 3.4)"),
    (W, "INSERT INTO i (id, n) VALUES (3, -3.5)"),
    (W, "INSERT INTO i (id, n) VALUES (4, 0.49999999999999994)"),
    (W, "INSERT INTO i (id, n, ti, sm) VALUES (13, -1.5, -0.6, 0.5000001)"),
    (W, "INSERT INTO i (id, n, ti, sm, md, b) VALUES (5, 7.5, -1.5, 2.7, -2.2, 5.5)"),
    (W, "INSERT INTO i (id, n) VALUES (6, 3.5e0)"),  # a DOUBLE, no tie ambiguity: 4
    (W, "INSERT INTO i (id, n) VALUES (7, '4.6')"),
    (W, "INSERT INTO i (id, n, p, d) VALUES (8, 5, 3.50, 3.7)"),
    (W, "INSERT INTO i (id, n, u, bo) VALUES (9, 11, 4294967295.4, 1.5)"),
    (W, "INSERT INTO i (id, n) VALUES (10, 2147483647.4), (11, -2147483648.4)"),
    (R, SELECT_I),
    # n / 2 of n = 4k + 1 is a tie (2.5) refused below: the others are MySQL's
    (W, "UPDATE i SET n = n / 2 WHERE n % 4 NOT IN (1, -1)"),
    (R, SELECT_I),
    (W, "UPDATE i SET n = p WHERE id = 8"),  # a DECIMAL 3.50: 4
    (W, "UPDATE i SET b = d WHERE id = 8"),  # a DOUBLE 3.7: 4
    (W, "UPDATE i SET n = n * 1.5 WHERE id < 4"),
    (W, "UPDATE i SET n = 2.4 WHERE id = 2"),  # no change: 0 rows affected
    (W, "UPDATE i SET n = 2.6 WHERE id = 2"),
    (W, "UPDATE i SET sm = sm + 0.5, md = md - 0.6 WHERE id = 5"),
    (W, "INSERT INTO i (id, n) VALUES (8, 1) ON DUPLICATE KEY UPDATE n = n + 0.6"),
    (W, "INSERT INTO i (id, n) VALUES (8, 1) ON DUPLICATE KEY UPDATE n = 4.4"),
    (W, "REPLACE INTO i (id, n, ti) VALUES (12, 9.5, 125.5)"),
    (W, "INSERT INTO i (id, n) SELECT id + 100, n / 4 FROM i WHERE id < 4"),
    (R, SELECT_I),
    (R, "SELECT id, n + 0, n * 2, n = 4, CONCAT(n) FROM i WHERE n IS NOT NULL ORDER BY id"),
    (R, "SELECT SUM(n), MIN(n), MAX(n), COUNT(*) FROM i"),
    (R, "SELECT id FROM i WHERE n = 4 ORDER BY id"),
    # out of range: MariaDB's 1264 (message and all), nothing stored
    (W, "INSERT INTO i (id, n) VALUES (20, 3000000000)"),
    (W, "INSERT INTO i (id, n) VALUES (20, -2147483649)"),
    (W, "INSERT INTO i (id, n) VALUES (20, 2147483647.5)"),
    (W, "INSERT INTO i (id, n) VALUES (20, '3000000000')"),
    (W, "INSERT INTO i (id, n) VALUES (20, 1e10)"),
    (W, "INSERT INTO i (id, u) VALUES (20, -1)"),
    (W, "INSERT INTO i (id, u) VALUES (20, -0.4)"),
    (W, "INSERT INTO i (id, u) VALUES (20, 4294967296)"),
    (W, "INSERT INTO i (id, ti) VALUES (20, 127.5)"),
    (W, "INSERT INTO i (id, ti) VALUES (20, -129)"),
    (W, "INSERT INTO i (id, tu) VALUES (20, 256)"),
    (W, "INSERT INTO i (id, tu) VALUES (20, -1)"),
    (W, "INSERT INTO i (id, sm) VALUES (20, 32768)"),
    (W, "INSERT INTO i (id, su) VALUES (20, 65536)"),
    (W, "INSERT INTO i (id, md) VALUES (20, -8388609)"),
    (W, "INSERT INTO i (id, mu) VALUES (20, 16777216)"),
    (W, "INSERT INTO i (id, b) VALUES (20, 9223372036854775808)"),
    (W, "INSERT INTO i (id, bu) VALUES (20, -1)"),
    (REFUSED, "INSERT INTO i (id, bu) VALUES (20, 18446744073709551616)"),  # a REAL 2**64
    (W, "INSERT INTO i (id, bo) VALUES (20, 128)"),
    (CODE, "INSERT INTO i (id, n) VALUES (20, 1), (21, 3000000000)"),
    (W, "UPDATE i SET n = n * 1000000000 WHERE id = 1"),
    (W, "UPDATE i SET ti = ti + 200 WHERE id = 5"),
    (W, "UPDATE i SET u = n WHERE id = 3"),
    (W, "INSERT INTO i (id, n) VALUES (1, 1) ON DUPLICATE KEY UPDATE n = 3000000000"),
    (W, "REPLACE INTO i (id, sm) VALUES (1, 40000)"),
    # at the edges: stored
    (
        W,
        "INSERT INTO i (id, n, u, ti, tu, sm, su, md, mu, b, bu) VALUES (30, -2147483648, "
        "4294967295, -128, 255, -32768, 65535, -8388608, 16777215, -9223372036854775808, "
        "9223372036854775807)",
    ),
    (R, SELECT_I),
    # what the shard cannot tell: refused, never stored differently
    (REFUSED, "UPDATE i SET n = n / 2 WHERE id = 7"),  # 2.5, a DECIMAL: 3 in MySQL
    (REFUSED, "INSERT INTO i (id, n) VALUES (40, 2.5)"),  # a DECIMAL tie: 3 in MySQL
    (REFUSED, "INSERT INTO i (id, n, ti) VALUES (40, 1, -0.5)"),  # -1 in MySQL
    (REFUSED, "INSERT INTO i (id, n) VALUES (40, 2.5e0)"),  # a DOUBLE tie: 2 in MySQL
    (REFUSED, "INSERT INTO i (id, n) VALUES (40, '2.5')"),  # a string tie: 3 in MySQL
    (REFUSED, "INSERT INTO i (id, n) VALUES (40, -2.5e0)"),  # -2 in MySQL
    (REFUSED, "UPDATE i SET n = d - 1.2 WHERE id = 8"),  # 2.5, a DOUBLE: 2 in MySQL
    (REFUSED, "INSERT INTO i (id, k, n) VALUES (40, 2.5, 1)"),  # a key column
    (REFUSED, "INSERT INTO i (id, n) VALUES (40.5, 1)"),  # the shard key
    (REFUSED, "INSERT INTO i (id, bu) VALUES (40, 18446744073709551615)"),
    (R, SELECT_I),
    # ALTER TABLE rebuilds the triggers around its actions
    (W, "ALTER TABLE i ADD COLUMN z SMALLINT"),
    (W, "INSERT INTO i (id, z, n) VALUES (50, 1.5, 3.5)"),
    (W, "INSERT INTO i (id, z) VALUES (51, 40000)"),
    (W, "ALTER TABLE i DROP COLUMN md"),
    (W, "INSERT INTO i (id, n) VALUES (52, 3000000000)"),
    (W, "UPDATE i SET z = z * 2.3 WHERE id = 50"),
    (R, SELECT_I),
]


async def test_integer_columns_store_mysqls_value(reference: Any, tmp_path: Path) -> None:
    await _run(INTEGERS, reference, tmp_path)


SELECT_F = "SELECT id, f, g FROM f ORDER BY id"

FLOATS: list[tuple[str, str]] = [
    (W, "CREATE TABLE f (id INT PRIMARY KEY, f FLOAT, g INT, r REAL, d DOUBLE, h FLOAT(30))"),
    (
        W,
        "INSERT INTO f (id, f, g, r, d, h) VALUES (1, 0.1, 1, 0.1, 0.1, 0.1), "
        "(2, 1.1, 1, 1.1, 1.1, 1.1), (3, 123456789, 2, 3, 3, 3), "
        "(4, 3.14159265, 2, 4, 4, 4), (5, 1e30, 3, 5, 5, 5), (6, 16777217, 3, 6, 6, 6), "
        "(7, 0.000001234567, 3, 7, 7, 7), (8, NULL, 3, NULL, NULL, NULL), (9, -2.5, 1, 2, 2, 2), "
        "(10, 1e-20, 4, 1, 1, 1), (11, 3.4e38, 4, 1, 1, 1), (12, 0, 4, 0, 0, 0)",
    ),
    (R, SELECT_F),
    (R, "SELECT id, r, d, h FROM f ORDER BY id"),
    (R, "SELECT id, f * 2, f + 0, -f, ABS(f), f / 3 FROM f ORDER BY id"),
    (R, "SELECT id FROM f WHERE f = 0.1"),
    (R, "SELECT id FROM f WHERE f > 1.1 ORDER BY id"),
    (R, "SELECT id FROM f WHERE f = 16777216 ORDER BY id"),
    (R, "SELECT SUM(f), MIN(f), MAX(f), COUNT(f) FROM f"),
    (R, "SELECT SUM(f) FROM f WHERE id < 5"),
    (R, "SELECT g, SUM(f), MIN(f), MAX(f), AVG(f) FROM f GROUP BY g ORDER BY g"),
    (R, "SELECT id, CONCAT(f), CAST(f AS CHAR), LENGTH(f) FROM f ORDER BY id"),
    (R, "SELECT id, CASE WHEN g > 1 THEN f END, IF(g > 2, f, NULL) FROM f ORDER BY id"),
    (R, "SELECT id, IFNULL(f, 0), COALESCE(f, 1), ROUND(f, 2) FROM f ORDER BY id"),
    (R, "SELECT DISTINCT f FROM f"),
    (R, "SELECT f, COUNT(*) FROM f GROUP BY f"),
    (R, "SELECT id, f FROM f ORDER BY f, id"),
    (R, "SELECT f FROM f WHERE id = 4"),
    # writes: the stored FLOAT, the affected rows (0.1 again is no change), 1264
    (W, "UPDATE f SET f = f * 2 WHERE id < 3"),
    (W, "UPDATE f SET f = 0.2 WHERE id = 1"),
    (W, "UPDATE f SET f = 0.3 WHERE id = 1"),
    (W, "UPDATE f SET d = f WHERE id < 5"),
    (W, "INSERT INTO f (id, f) VALUES (2, 0) ON DUPLICATE KEY UPDATE f = f + 0.1"),
    (W, "INSERT INTO f (id, f) VALUES (20, 1e39)"),
    (W, "UPDATE f SET f = f * 1e10 WHERE id = 11"),
    (R, SELECT_F),
    (R, "SELECT id, d FROM f ORDER BY id"),
    # ALTER TABLE keeps a REAL a DOUBLE and a FLOAT a FLOAT
    (W, "ALTER TABLE f ADD COLUMN z FLOAT"),
    (W, "UPDATE f SET r = 0.1, z = 0.1, h = 0.1 WHERE id = 1"),
    (R, "SELECT id, r, r * 2, z, z * 2, h * 2 FROM f ORDER BY id"),
]


async def test_float_columns_store_single_precision(reference: Any, tmp_path: Path) -> None:
    await _run(FLOATS, reference, tmp_path)


SELECT_S = "SELECT * FROM s ORDER BY id"

STRICT: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE s (id INT PRIMARY KEY, n INT, s VARCHAR(10), u INT UNSIGNED, "
        "b BIGINT, bu BIGINT UNSIGNED)",
    ),
    (
        W,
        "INSERT INTO s VALUES (1, 1, 'a', 3, 9223372036854775807, 5), "
        "(2, 2, '12abc', 4, 1, 6), (3, 3, ' 12 ', 5, 2, 7), (4, 4, '', 6, 3, 8), "
        "(5, 5, '1e2', 7, 4, 9), (6, 6, '0x10', 8, 5, 10), (7, 7, '12.5', 9, 6, 11), "
        "(8, 8, '.5', 10, -9223372036854775807, 12)",
    ),
    # a string that is no number in a write's arithmetic: 1292 (SET, WHERE, VALUES, upsert)
    (W, "UPDATE s SET n = s + 1 WHERE id = 1"),
    (W, "UPDATE s SET n = s + 1 WHERE id = 2"),
    (W, "UPDATE s SET n = s + 1 WHERE id = 3"),
    (W, "UPDATE s SET n = s + 1 WHERE id = 4"),
    (W, "UPDATE s SET n = s * 2 WHERE id = 5"),
    (W, "UPDATE s SET n = s - 1 WHERE id = 6"),
    (W, "UPDATE s SET n = s + 1 WHERE id = 8"),
    (W, "UPDATE s SET n = -s WHERE id = 1"),
    (W, "UPDATE s SET n = s / 2 WHERE id = 1"),
    (W, "UPDATE s SET n = s DIV 2 WHERE id = 1"),
    (W, "UPDATE s SET n = s MOD 2 WHERE id = 1"),
    (CODE, "UPDATE s SET n = 1 WHERE s + 1 > 0"),  # which row fails first: the shard's
    (W, "UPDATE s SET n = 1 WHERE id = 3 AND s + 1 > 0"),
    (W, "UPDATE s SET n = s + 1 WHERE s = 'zz'"),
    (W, "INSERT INTO s (id, n) VALUES (20, 'a' + 1)"),
    (W, "INSERT INTO s (id, n) VALUES (20, '12abc' + 1)"),
    (W, "INSERT INTO s (id, n) VALUES (1, 1) ON DUPLICATE KEY UPDATE n = s + 1"),
    (W, "INSERT INTO s (id, n) VALUES (21, 1) ON DUPLICATE KEY UPDATE n = s + 1"),
    (W, "DELETE FROM s WHERE s + 1 > 100"),  # a DELETE's condition only warns
    (W, "INSERT INTO s (id, n) SELECT id + 100, s + 1 FROM s WHERE id = 1"),  # warns too
    (R, "SELECT id, s + 1 FROM s ORDER BY id"),  # a read warns and uses the prefix
    # CAST(… AS SIGNED/UNSIGNED) of a string in a write: 1292
    (W, "UPDATE s SET n = CAST(s AS SIGNED) WHERE id = 2"),
    (W, "UPDATE s SET n = CAST(s AS SIGNED) WHERE id = 3"),
    (W, "UPDATE s SET n = CAST(s AS SIGNED) WHERE id = 4"),
    (W, "UPDATE s SET n = CAST(s AS SIGNED) WHERE id = 7"),
    (W, "UPDATE s SET n = CAST(s AS UNSIGNED) WHERE id = 2"),
    (CODE, "UPDATE s SET n = 1 WHERE CAST(s AS SIGNED) = 12"),
    (W, "INSERT INTO s (id, n) VALUES (22, CAST('12abc' AS SIGNED))"),
    (W, "INSERT INTO s (id, n) VALUES (23, CAST(' 42 ' AS SIGNED))"),
    (W, "DELETE FROM s WHERE CAST(s AS SIGNED) = 99"),
    (R, "SELECT id, CAST(s AS SIGNED) FROM s ORDER BY id"),
    # BIGINT (and BIGINT UNSIGNED) arithmetic past its range: 1690, reads too
    (W, "UPDATE s SET n = 5 WHERE 9223372036854775807 + n > 0"),
    (W, "UPDATE s SET n = 7 WHERE b + 1 > 0"),
    (W, "UPDATE s SET n = 7 WHERE b * 2 > 0"),
    (W, "UPDATE s SET n = 7 WHERE b - 9223372036854775807 < 0"),
    (W, "UPDATE s SET b = b + 1 WHERE id = 1"),
    (W, "UPDATE s SET u = u - 10 WHERE id = 1"),
    (W, "UPDATE s SET n = 1 WHERE u - 10 < 0"),
    (W, "UPDATE s SET bu = bu - 100 WHERE id = 1"),
    (W, "DELETE FROM s WHERE b + 1 > 0"),
    (W, "INSERT INTO s (id, b) VALUES (30, 9223372036854775807 + 1)"),
    (R, "SELECT id FROM s WHERE 9223372036854775807 + n > 0"),
    (R, "SELECT id FROM s WHERE b + 1 > 0"),
    (R, "SELECT b + 1 FROM s"),
    (R, "SELECT u - 10 FROM s WHERE id = 1"),
    (R, "SELECT id FROM s WHERE u - 10 < 0"),
    (R, "SELECT id, u * -1 FROM s WHERE id = 2"),
    (R, "SELECT 9223372036854775807 + 1"),
    # within range: answered as MariaDB answers
    (R, "SELECT id, u - 1, b - 1, n + 1, -u, bu + 1 FROM s ORDER BY id"),
    (R, "SELECT id FROM s WHERE b - 1 > 0 AND u - 3 >= 0 ORDER BY id"),
    (W, "UPDATE s SET b = b - 1, u = u + 1 WHERE id > 1"),
    (R, SELECT_S),
]


async def test_strict_conversions_and_bigint_range(reference: Any, tmp_path: Path) -> None:
    await _run(STRICT, reference, tmp_path)


IGNORED: list[tuple[str, str]] = [
    (W, "CREATE TABLE g (id INT PRIMARY KEY, n INT, f FLOAT)"),
    (W, "INSERT IGNORE INTO g (id, n) VALUES (1, 3.5), (2, 7)"),
    (W, "INSERT IGNORE INTO g (id, n) VALUES (1, 9)"),  # a duplicate: ignored
    # MySQL stores the range's end with a warning: refused, never an error or a skip
    (REFUSED, "INSERT IGNORE INTO g (id, n) VALUES (3, 3000000000)"),
    (REFUSED, "INSERT IGNORE INTO g (id, f) VALUES (3, 1e39)"),
    (R, "SELECT * FROM g ORDER BY id"),
]


async def test_insert_ignore_past_the_range_is_refused(reference: Any, tmp_path: Path) -> None:
    await _run(IGNORED, reference, tmp_path)


BIG = 2**53 + 1
WIDE: list[tuple[str, str]] = [
    (W, "CREATE TABLE w (id BIGINT PRIMARY KEY, b BIGINT, p DECIMAL(6,2), n INT)"),
    # integers beyond 2**53 written and computed with as integers: stored exactly
    (W, f"INSERT INTO w VALUES ({BIG}, {BIG}, 1.50, 1), (1, -{BIG}, 2.25, 2)"),
    (W, "UPDATE w SET b = b + 2, n = n + 1"),
    # a fraction elsewhere in the statement: a column it does not assign is untouched
    (W, f"UPDATE w SET p = p * 1.5, n = 3.5 WHERE id = {BIG}"),
    (W, "INSERT INTO w (id, b, p) VALUES (2, 7, 0.5)"),
    (R, "SELECT * FROM w ORDER BY id"),
]


async def test_bigint_beyond_2_53(reference: Any, tmp_path: Path) -> None:
    await _run(WIDE, reference, tmp_path)


STAMPED: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE st (id INT PRIMARY KEY, n INT, f FLOAT, "
        "ts DATETIME DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP)",
    ),
    (
        W,
        "INSERT INTO st (id, n, f, ts) VALUES (1, 4, 0.1, '2001-01-01 00:00:00'), "
        "(2, 3, 0.5, '2001-01-01 00:00:00')",
    ),
    # the value MySQL stores is no change: no affected row, no new time stamp
    (W, "UPDATE st SET n = 3.6 WHERE id = 1"),
    (W, "UPDATE st SET f = 0.1 WHERE id = 1"),
    (R, "SELECT id, n, f, ts FROM st ORDER BY id"),
    (W, "UPDATE st SET n = 3.6"),
    (R, "SELECT id, n, ts > '2002-01-01' FROM st ORDER BY id"),
    (W, "UPDATE st SET n = 7.5, ts = '2003-01-01' WHERE id = 1"),
    (W, "INSERT INTO st (id, n) VALUES (2, 0) ON DUPLICATE KEY UPDATE n = 3.9"),
    (R, "SELECT id, n, f, ts > '2002-01-01', ts < '2004-01-01' FROM st ORDER BY id"),
]


async def test_stored_value_and_on_update(reference: Any, tmp_path: Path) -> None:
    await _run(STAMPED, reference, tmp_path)
