"""Which statements the SQLite shard rewrites for MySQL's DOUBLE conversion of string
operands (``sg_double``), the run-time functions' warnings, and ``DEFAULT(col)`` in an
UPDATE's SET values (:mod:`sharding.backend.sqlite_arithmetic`,
:mod:`sharding.backend.sqlite_compare`, :mod:`sharding.backend.sqlite_passthrough`).

The answers and warnings themselves are measured against MariaDB in
``test_sqlite_warnings.py``; no MariaDB here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from sharding.backend import sqlite_arithmetic, sqlite_compare, sqlite_mysql, sqlite_passthrough
from sharding.errors import ShardgateError

GENERAL = "utf8mb4_general_ci"
T = '"db_0001"."t" AS t'


@pytest.fixture
def raw() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    sqlite_mysql.install(conn)
    conn.execute("ATTACH DATABASE ':memory:' AS db_0001")
    conn.execute(
        "CREATE TABLE db_0001.t (id INT PRIMARY KEY, s VARCHAR(10), n INT DEFAULT 7, "
        "m INT NOT NULL, f DOUBLE)"
    )
    conn.executemany(
        "INSERT INTO db_0001.t VALUES (?, ?, 1, 1, 1.5)",
        [(1, "5x"), (2, "abc"), (3, "7"), (4, None), (5, " 8 ")],
    )
    sqlite_arithmetic.forget()
    yield conn
    conn.close()


def _read(raw: sqlite3.Connection, sql: str) -> tuple[list[tuple[object, ...]], list[object]]:
    text = sqlite_arithmetic.guard(raw, sql)
    sqlite_arithmetic.warnings_start()
    try:
        rows = raw.execute(text).fetchall()
    finally:
        _, notes = sqlite_arithmetic.warnings_taken()
    return rows, list(notes)


def test_double_operand_values_and_warnings() -> None:
    sqlite_arithmetic.warnings_start()
    f = sqlite_arithmetic.double_operand
    assert [f("5x"), f("abc"), f(" 8 "), f("1e2x"), f("7"), f(".5"), f(3), f(None)] == [
        5.0,
        0.0,
        8.0,
        100.0,
        7.0,
        0.5,
        3,
        None,
    ]
    assert f("1e400") == 1.7976931348623157e308
    count, notes = sqlite_arithmetic.warnings_taken()
    assert count == 5
    assert notes == [
        ("Warning", 1292, "Truncated incorrect DOUBLE value: '5x'"),
        ("Warning", 1292, "Truncated incorrect DOUBLE value: 'abc'"),
        ("Note", 1292, "Truncated incorrect DOUBLE value: ' 8 '"),
        ("Warning", 1292, "Truncated incorrect DOUBLE value: '1e2x'"),
        ("Warning", 1292, "Truncated incorrect DOUBLE value: '1e400'"),
    ]


def test_reads_are_rewritten(raw: sqlite3.Connection) -> None:
    guard = sqlite_arithmetic.guard
    assert "ABS(sg_double(t.s))" in guard(raw, f"SELECT ABS(t.s) FROM {T}")
    assert "SUM(sg_double(t.s))" in guard(raw, f"SELECT SUM(t.s) FROM {T}")
    assert "-sg_double(t.s)" in guard(raw, f"SELECT -t.s FROM {T}")
    assert "sg_double(t.s) + 1" in guard(raw, f"SELECT t.s + 1 FROM {T}")
    # ROUND of a string rounds MySQL's DOUBLE (ties to even).
    assert "sg_round_double(sg_double(t.s))" in guard(raw, f"SELECT ROUND(t.s) FROM {T}")
    # A literal MySQL converts per row: not deterministic, so SQLite converts it per row.
    assert "sg_double_row('abc')" in guard(raw, f"SELECT 'abc' + t.n FROM {T}")
    # A constant term of a WHERE: MySQL converts it once per statement (left silent).
    assert "sg_double" not in guard(raw, f"SELECT t.id FROM {T} WHERE 'abc' + 0 = t.n")
    # A write: strict mode's own rules (sg_strict_number), no read warnings.
    assert "sg_double" not in guard(raw, 'UPDATE "db_0001"."t" SET n = ABS(s)')


def test_point_queries_are_not_parsed(
    raw: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parsed(sql: str, decls: object) -> str:
        raise AssertionError(f"parsed: {sql}")

    monkeypatch.setattr(sqlite_arithmetic, "_guard", parsed)
    for sql in (
        f"SELECT t.id, t.s, t.n FROM {T} WHERE t.id = 5",
        f"SELECT t.id, t.s FROM {T} WHERE t.id IN (5, 6, 7)",
        f"SELECT COUNT(*) FROM {T} WHERE t.n = 5",
        f"SELECT ABS(t.n), t.s FROM {T} WHERE t.id = 5",  # no text inside the call
    ):
        assert sqlite_arithmetic.guard(raw, sql) == sql


def test_read_values_and_warnings(raw: sqlite3.Connection) -> None:
    rows, notes = _read(raw, f"SELECT ROUND(t.s), FLOOR(t.s) FROM {T} ORDER BY t.id")
    assert rows == [(5.0, 5), (0.0, 0), (7.0, 7), (None, None), (8.0, 8)]
    assert len(notes) == 6
    rows, notes = _read(raw, f"SELECT 'abc' + t.n FROM {T}")
    assert len(notes) == 5  # per row, as MariaDB


def test_runtime_comparisons_warn_once_per_type() -> None:
    compare, in_list, between = (
        sqlite_compare.compare,
        sqlite_compare.in_list,
        sqlite_compare.between,
    )
    sqlite_arithmetic.warnings_start()
    assert compare("=", GENERAL, 1 | 2, "5x", 5) == 1  # left per row: DECIMAL
    assert compare("=", GENERAL, 1, "5x", 5) == 1  # a constant: no warning
    assert compare("=", GENERAL, 1 | 4, 5.5, "5.5y") == 1  # right per row: DOUBLE
    assert in_list(GENERAL, 1, 1, "abc", 5, 7) == 0  # one DECIMAL conversion
    assert in_list(GENERAL, 1, 1, "abc", 5, 2.5) == 0  # DECIMAL, then DOUBLE
    assert in_list(GENERAL, 1, 1, "5x", 5, 2.5) == 1  # stops at the equal element
    assert between(GENERAL, 1, "3x", 1, 10) == 1
    _, notes = sqlite_arithmetic.warnings_taken()
    assert notes == [
        ("Warning", 1292, "Truncated incorrect DECIMAL value: '5x'"),
        ("Warning", 1292, "Truncated incorrect DOUBLE value: '5.5y'"),
        ("Warning", 1292, "Truncated incorrect DECIMAL value: 'abc'"),
        ("Warning", 1292, "Truncated incorrect DECIMAL value: 'abc'"),
        ("Warning", 1292, "Truncated incorrect DOUBLE value: 'abc'"),
        ("Warning", 1292, "Truncated incorrect DECIMAL value: '5x'"),
        ("Warning", 1292, "Truncated incorrect DECIMAL value: '3x'"),
    ]


def test_runtime_comparison_marks_per_row_operands(raw: sqlite3.Connection) -> None:
    guard = sqlite_arithmetic.guard
    out = guard(raw, f"SELECT t.id FROM {T} WHERE UPPER(t.s) = 5")
    assert "sg_compare('=', 'utf8mb4_general_ci', 3, UPPER(t.s), 5)" in out
    out = guard(raw, f"SELECT t.id FROM {T} WHERE (t.n = (SELECT '5x')) AND 1")
    assert "sg_compare('=', 'utf8mb4_general_ci', 1, t.n, (SELECT '5x'))" in out


def test_default_of_a_column_in_an_update(raw: sqlite3.Connection) -> None:
    defaults = sqlite_passthrough.defaults
    out = defaults(raw, 'UPDATE "db_0001"."t" SET "n" = DEFAULT("n") + 1 WHERE "id" = 1')
    assert out == 'UPDATE "db_0001"."t" SET "n" = (7) + 1 WHERE "id" = 1'
    out = defaults(raw, 'UPDATE "db_0001"."t" AS t SET n = DEFAULT(t.n) * 2, s = \'DEFAULT(n)\'')
    assert out == 'UPDATE "db_0001"."t" AS t SET n = (7) * 2, s = \'DEFAULT(n)\''
    assert defaults(raw, 'UPDATE "db_0001"."t" SET n = DEFAULT(s)') == (
        'UPDATE "db_0001"."t" SET n = NULL'
    )
    with pytest.raises(ShardgateError) as err:
        defaults(raw, 'UPDATE "db_0001"."t" SET n = DEFAULT(m) + 1')
    assert err.value.code == 1364
    raw.execute(defaults(raw, 'UPDATE "db_0001"."t" SET n = DEFAULT(n) + 1 WHERE id = 1'))
    assert raw.execute("SELECT n FROM db_0001.t WHERE id = 1").fetchone() == (8,)
