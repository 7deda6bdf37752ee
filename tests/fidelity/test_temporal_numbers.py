"""DATE, DATETIME and TIME values read as numbers, against one unsharded MariaDB.

MariaDB computes with a temporal value's number in arithmetic, ``DIV``/``MOD`` and
``SUM``/``AVG``: ``d + 0`` is 20240115 (BIGINT(10)), ``dt + 0`` 20240115102030, ``tm + 0``
102030 (INT(9)), ``-d`` DECIMAL(11,0), ``dt / 2`` DECIMAL(20,4). What went wrong before:

* on the SQLite default a temporal *expression* (``DATE(dt) + 0``, ``SUM(DATE(dt))``,
  ``COALESCE(d, dt) + 0``) was the text's numeric prefix, the year (2024); only temporal
  columns were converted (``sharding/backend/sqlite_arithmetic.py``
  ``_temporal_operands``, ``sharding/backend/sqlite_temporal.py`` ``number_kind``);
* over merged rows, on MariaDB shards too, the coordinator computed ``MAX(d) + 0`` with
  the year, ``MIN(enum) + 0`` and ``a.e + 0`` above a join as 0.0 (the label's numeric
  prefix), ``MAX(uint_col) - 10`` as -3 where MariaDB errs 1690, and ``MAX(dt3) + 0``
  with six decimals (``sharding/merge/evaluate.py`` ``_operand``/``_binary``,
  ``mysql_semantics.to_number``);
* such results were typed DOUBLE (``sharding/sql/describe.py`` ``_temporal_as_number``),
  ``DIV`` always BIGINT(21), ``MOD`` of a short integer BIGINT;
* on the SQLite default ``COALESCE(d, dt)`` (and ``IF``, ``CASE``, ``GREATEST``) sent the
  DATE's text typed VARCHAR where MariaDB sends a DATETIME at midnight
  (``sharding/backend/sqlite_decimal_results.py`` ``WIDE_DATETIME``).

Rows are compared on every variant of the environment (16 and 1024 MariaDB shards, tiny
chunks, no pushdown, the SQLite default); the result column definitions too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fidelity.harness import Case, Environment, run_statement, tables_on_both_sides

pytestmark = pytest.mark.mysql

DDL = [
    "CREATE TABLE tnum (id INT PRIMARY KEY, d DATE, dt DATETIME, tm TIME, n INT, "
    "u INT UNSIGNED, e ENUM('x','y','z'), dt3 DATETIME(3))",
    "CREATE TABLE tnum2 (id INT PRIMARY KEY, tid INT, e DATE)",
]
ROWS = [
    "INSERT INTO tnum VALUES "
    + ", ".join(
        f"({i}, {'NULL' if i % 9 == 0 else repr(f'2024-{1 + i % 12:02d}-{1 + i % 28:02d}')}, "
        f"{'NULL' if i % 11 == 0 else repr(f'202{i % 4}-0{1 + i % 9}-1{i % 10} {i % 24:02d}:{i % 60:02d}:{(7 * i) % 60:02d}')}, "
        f"{'NULL' if i % 13 == 0 else repr(f'{(5 * i) % 99:02d}:{i % 60:02d}:{(3 * i) % 60:02d}')}, "
        f"{i % 4}, {i % 5}, {'NULL' if i % 6 == 0 else repr('xyz'[i % 3])}, "
        f"'2024-0{1 + i % 9}-1{i % 10} 10:00:0{i % 10}.{(37 * i) % 1000:03d}')"
        for i in range(1, 41)
    ),
    "INSERT INTO tnum2 VALUES "
    + ", ".join(
        f"({i}, {1 + (i * 7) % 40}, {'NULL' if i % 5 == 0 else repr(f'2023-0{1 + i % 9}-2{i % 8}')})"
        for i in range(1, 31)
    ),
]
DROP = ["DROP TABLE IF EXISTS tnum", "DROP TABLE IF EXISTS tnum2"]

ROW_STATEMENTS = [
    "SELECT id, d + 0, dt + 0, tm + 0, d - 1, dt * 1, -d, -tm FROM tnum ORDER BY id",
    "SELECT id, DATE(dt) + 0, TIME(dt) + 0, DATE(dt) / 2, DATE(dt) * 1.5, "
    "DATE(dt) DIV 100, DATE(dt) % 100, -DATE(dt) FROM tnum ORDER BY id",
    "SELECT id, (DATE(dt)) + 0, LAST_DAY(d) + 0, DATE_ADD(d, INTERVAL 1 DAY) + 0, "
    "DATE_SUB(dt, INTERVAL 1 SECOND) + 0, CAST(dt AS DATE) + 0 FROM tnum ORDER BY id",
    "SELECT id, COALESCE(d, dt) + 0, IF(n > 1, d, dt) + 0, GREATEST(d, dt) + 0, "
    "CASE WHEN n > 1 THEN d END + 0, IFNULL(d, d) + 0 FROM tnum ORDER BY id",
    "SELECT id, COALESCE(d, dt), GREATEST(d, dt), LEAST(dt, d), IF(n > 1, d, dt), "
    "CASE WHEN n > 1 THEN d ELSE dt END FROM tnum ORDER BY id",
    "SELECT id FROM tnum WHERE DATE(dt) + 0 > 20220505 ORDER BY id",
    "SELECT id, d DIV 7, dt DIV 7, tm DIV 7, d % 7, dt % 7, tm % 7, MOD(d, 7), n DIV 2 "
    "FROM tnum ORDER BY id",
]
AGGREGATE_STATEMENTS = [
    "SELECT SUM(DATE(dt)), AVG(DATE(dt)), SUM(TIME(dt)), SUM(DATE(dt) + 0), SUM(d), AVG(tm) "
    "FROM tnum",
    "SELECT MAX(d) + 0, MIN(dt) * 1, MAX(tm) - 1, -MAX(d), MAX(dt) / 2, MAX(d) DIV 100, "
    "MAX(d) % 100 FROM tnum",
    "SELECT n, MAX(d) + 0, MIN(DATE(dt)) + 0, SUM(DATE(dt)) FROM tnum GROUP BY n ORDER BY n",
    "SELECT d, d + 0, COUNT(*) FROM tnum GROUP BY d ORDER BY d",
    "SELECT DATE(dt) + 0 k, COUNT(*) FROM tnum GROUP BY k ORDER BY k",
    "SELECT x.m + 0 FROM (SELECT MAX(d) AS m FROM tnum) x",
    # Over merged rows an ENUM is its index, an UNSIGNED stays unsigned (1690 below
    # zero), a DATETIME(3) has three decimals.
    "SELECT n, MIN(e) + 0, MAX(e) * 2, MAX(u) - 1, MAX(u) + n, MAX(dt3) + 0, MIN(dt3) - 1 "
    "FROM tnum GROUP BY n ORDER BY n",
    "SELECT MAX(u) - 10 FROM tnum",
    "SELECT e, e + 0, COUNT(*) FROM tnum GROUP BY e ORDER BY e",
]
JOIN_STATEMENTS = [
    "SELECT a.id, b.id, a.d + 0, b.e + 1, a.dt - b.e FROM tnum a JOIN tnum2 b ON b.tid = a.id "
    "ORDER BY a.id, b.id",
    "SELECT a.n, SUM(b.e + 0), MAX(b.e) + 0, MIN(a.tm) + 0 FROM tnum a "
    "JOIN tnum2 b ON b.tid = a.id GROUP BY a.n ORDER BY a.n",
    "SELECT a.id, b.id, a.e + 0, a.u - 1 FROM tnum a JOIN tnum2 b ON b.tid = a.id "
    "WHERE a.u > 0 ORDER BY a.id, b.id",
    "SELECT a.id, a.u - 3 FROM tnum a JOIN tnum2 b ON b.tid = a.id ORDER BY a.id, b.id",
]
STATEMENTS = ROW_STATEMENTS + AGGREGATE_STATEMENTS + JOIN_STATEMENTS
#: Those whose answer is MariaDB's error 1690 (an UNSIGNED below zero): no columns.
OUT_OF_RANGE = [
    "SELECT MAX(u) - 10 FROM tnum",
    "SELECT a.id, a.u - 3 FROM tnum a JOIN tnum2 b ON b.tid = a.id ORDER BY a.id, b.id",
]

#: MariaDB's DATETIME of today's date at the TIME: the SQLite default refuses (1235).
TIME_WITH_DATE = "SELECT id, COALESCE(d, tm) FROM tnum ORDER BY id"


@pytest.fixture
def numbered(env: Environment) -> Iterator[Environment]:
    """``env`` with the two tables on both sides, dropped afterwards."""
    with tables_on_both_sides(env, DDL + ROWS, DROP) as ready:
        yield ready


def test_temporal_values_as_numbers(numbered: Environment) -> None:
    cases = [Case("temporal number", sql) for sql in STATEMENTS]
    report = numbered.run(cases)
    numbered.check(report, "temporal values as numbers", answered=True)
    assert sum(c["same"] for c in report.counts.values()) == len(cases)
    with numbered.connect_sharded() as s:
        for sql in OUT_OF_RANGE:
            assert run_statement(s, sql).error == 1690, sql


def test_a_time_with_a_date_in_one_result(numbered: Environment) -> None:
    report = numbered.run([Case("temporal number", TIME_WITH_DATE)])
    numbered.check(report, "a TIME with a DATE")
    if numbered.backend == "sqlite":
        assert len(report.clear) == 1 and "TIME and a DATE" in report.clear[0], report.clear
    else:
        assert report.counts["temporal number"]["same"] == 1


@pytest.mark.parametrize("sql", [sql for sql in STATEMENTS if sql not in OUT_OF_RANGE])
def test_temporal_number_column_definitions(numbered: Environment, sql: str) -> None:
    with numbered.connect_oracle() as o, numbered.connect_sharded() as s:
        co, cs = o.cursor(), s.cursor()
        co.execute(sql)
        cs.execute(sql)
        assert [d[:6] for d in cs.description] == [d[:6] for d in co.description]
