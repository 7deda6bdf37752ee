"""CASTs with a length or a precision, dates beside literals, against one unsharded MariaDB.

Found on the SQLite default (2026-12-06), each a wrong answer or a client's crash:

* ``CAST(s AS CHAR(3))`` (and ``VARCHAR(n)``, ``CONVERT(s, CHAR(n))``) kept the whole
  text, ``CAST(s AS BINARY(2))`` every byte — SQLite's CAST ignores the length; MariaDB
  cuts with warning 1292 and pads a BINARY(n) with zero bytes
  (``sharding/backend/sqlite_mysql.py`` ``_char_lengths``);
* ``CAST(f AS DECIMAL(4,1))`` of 1e10 came back as 10000000000.0: MariaDB gives the
  largest value of four digits, 999.9, with warning 1264 (``_cast_decimal``);
* ``CONVERT(s USING utf8mb4)`` and ``CAST(s AS CHAR(2) CHARACTER SET …)`` were announced
  as BIGINT columns holding text: PyMySQL failed to read the row
  (``sharding/sql/describe.py`` ``_cast_type``); on every backend, ``CAST(s AS CHAR(3))``
  is announced 12 bytes wide as MariaDB does;
* ``GREATEST(dt, '2024-02-01')`` sent the literal's text typed VARCHAR, where MariaDB
  sends the DATETIME ``2024-02-01 00:00:00`` (``GREATEST(d, '…')`` a DATE)
  (``sqlite_decimal_results._temporal_branches``; ``function_types._extremum``);
* ``dt < '2024-03-01 12:00'`` was refused (1235): MariaDB reads a time of hours and
  minutes, or of hours alone (``sqlite_temporal._TEMPORAL_TEXT``).

Rows, warning counts and the column definitions (type, length, decimals) are compared on
every variant of the environment (16 and 1024 MariaDB shards, tiny chunks, no pushdown,
the SQLite default).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fidelity.harness import Case, Environment, run_statement, tables_on_both_sides

pytestmark = pytest.mark.mysql

DDL = [
    "CREATE TABLE tcast (id INT PRIMARY KEY, s VARCHAR(20), f DOUBLE, amt DECIMAL(10,2), "
    "d DATE, dt DATETIME)",
]
ROWS = [
    "INSERT INTO tcast VALUES "
    + ", ".join(
        f"({i}, {'NULL' if i % 7 == 0 else repr(['ab', 'apple', 'Banana', 'é€xyz', ''][i % 5] + str(i))}, "
        f"{['1.5', '1e10', '-2.25', '123.456', '-1e12'][i % 5]}, "
        f"{['10.50', '99999999.99', '-5.25', '0.01', '1234.56'][i % 5]}, "
        f"{'NULL' if i % 6 == 0 else repr(f'2024-0{1 + i % 9}-1{i % 10}')}, "
        f"{'NULL' if i % 8 == 0 else repr(f'2024-0{1 + i % 9}-1{(i + 3) % 10} {i % 24:02d}:30:00')})"
        for i in range(1, 31)
    ),
]
DROP = ["DROP TABLE IF EXISTS tcast"]

STATEMENTS = [
    "SELECT id, CAST(s AS CHAR(3)), CAST(s AS VARCHAR(2)), CONVERT(s, CHAR(1)), "
    "CAST(s AS NCHAR(4)) FROM tcast ORDER BY id",
    "SELECT id, CAST(f AS CHAR(4)), CAST(amt AS CHAR(3)), CAST(d AS CHAR(4)), "
    "CAST(dt AS CHAR(13)), CAST(id AS CHAR(1)) FROM tcast ORDER BY id",
    "SELECT id, CAST(s AS BINARY(3)), HEX(CAST(s AS BINARY(8))), CAST(id AS BINARY(1)) "
    "FROM tcast ORDER BY id",
    "SELECT MAX(CAST(s AS CHAR(2))), MIN(CAST(s AS CHAR(1))) FROM tcast",
    "SELECT id, CAST(f AS DECIMAL(4,1)), CAST(amt AS DECIMAL(5,2)), CAST(f AS DECIMAL(6)), "
    "CAST(f AS DECIMAL) FROM tcast ORDER BY id",
    "SELECT id, CAST(f AS DECIMAL(4,1)) AS x, 1 + CAST(amt AS DECIMAL(3,1)) FROM tcast ORDER BY id",
    "SELECT id FROM tcast WHERE CAST(f AS DECIMAL(3,1)) > 50 ORDER BY id",
    "SELECT id, CONVERT(s USING utf8mb4), CONVERT(s USING binary), "
    "CAST(s AS CHAR(2) CHARACTER SET utf8mb4) FROM tcast ORDER BY id",
    "SELECT id, GREATEST(dt, '2024-05-01'), LEAST(d, '2024-05-01'), "
    "GREATEST(d, '2024-05-01 10:00:00'), LEAST(dt, d, '2024-04-15 12:00:00') "
    "FROM tcast ORDER BY id",
    "SELECT MAX(GREATEST(d, '2024-05-01')) FROM tcast",
    "SELECT id FROM tcast WHERE dt < '2024-05-13 12:00' ORDER BY id",
    "SELECT id FROM tcast WHERE dt >= '2024-5-13 7' ORDER BY id",
    "SELECT id FROM tcast WHERE dt BETWEEN '2024-03-01 00:00' AND '2024-06-01 10' ORDER BY id",
]

#: Of a row's values MariaDB reads from the rows' scan: a 1264 names the select item
#: (``x`` above; an unnamed item's text is not known on SQLite shards, docs/refusals.md).
NAMED = "SELECT CAST(f AS DECIMAL(4,1)) AS x FROM tcast WHERE id = 1"


#: Column definitions compared where they are MariaDB's on every backend. Left out,
#: known (docs/refusals.md): ``HEX(CAST(… AS BINARY(n)))``'s length and a grouped
#: string's decimals (39, MariaDB 0) on the SQLite default; ``CONVERT(… USING c)``,
#: which MariaDB shards receive written as ``CAST(… AS CHAR CHARACTER SET c)`` (0
#: decimals, MariaDB 39 for CONVERT) and the SQLite default announces 1020 wide.
DEFINED = [
    sql for sql in STATEMENTS if "HEX(" not in sql and "MAX(CAST" not in sql and "USING" not in sql
]


@pytest.fixture
def casts(env: Environment) -> Iterator[Environment]:
    with tables_on_both_sides(env, DDL + ROWS, DROP) as ready:
        yield ready


def test_casts_with_a_length_and_dates_beside_literals(casts: Environment) -> None:
    cases = [Case("cast length", sql) for sql in STATEMENTS]
    report = casts.run(cases)
    casts.check(report, "CASTs with a length, dates and literals", answered=True)
    assert report.counts["cast length"]["same"] == len(cases)


def test_a_cut_decimal_warns_naming_its_item(casts: Environment) -> None:
    with casts.connect_oracle() as o, casts.connect_sharded() as s:
        listings = []
        for conn in (o, s):
            assert run_statement(conn, NAMED).error is None
            with conn.cursor() as cur:
                cur.execute("SHOW WARNINGS")
                listings.append(list(cur.fetchall()))
        assert listings[1] == listings[0]
        assert listings[0] == [("Warning", 1264, "Out of range value for column 'x' at row 1")]


@pytest.mark.parametrize("sql", DEFINED)
def test_cast_column_definitions(casts: Environment, sql: str) -> None:
    with casts.connect_oracle() as o, casts.connect_sharded() as s:
        co, cs = o.cursor(), s.cursor()
        co.execute(sql)
        cs.execute(sql)
        assert [d[:6] for d in cs.description] == [d[:6] for d in co.description]
