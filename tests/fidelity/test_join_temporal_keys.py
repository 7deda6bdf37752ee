"""Issue 18: a cross-shard join on a DATE key with a DATETIME/TIMESTAMP key.

MariaDB compares a DATE with a DATETIME as the DATE at 00:00:00; the sort-merge join
compared the driver's ``date`` with ``datetime`` (error 1105) and, on the SQLite
store, ``'2024-01-05'`` text with ``'2024-01-05 00:00:00'`` (no match: a wrong
answer). Both sides are now joined on the compared form
(:func:`sharding.merge.sort_merge_join.compared_temporal`, appended by
:func:`sharding.sql.join_plan.plan_join`). Against one unsharded MariaDB, on 16 and
1024 shards and with tiny chunks (the two tables below are created with the
cluster's default rule, 16 shards; ``orders`` has the environment's count):

* ``ANSWERED`` — table with table, table with a derived table or CTE, INNER / LEFT /
  RIGHT, DATE with DATETIME, DATETIME(3) and TIMESTAMP, TIMESTAMP with DATETIME,
  another key beside: must be answered (*same*: rows, order, values);
* ``REFUSED`` — a temporal key with a string, a number, a TIME: a clear 1235 naming
  the types (MySQL converts one side), never 1105 or a wrong answer;
* result column definitions as MariaDB announces them;
* the same joins on the SQLite default (4 shards) against MariaDB.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from tests.fidelity.harness import Case, Environment, tables_on_both_sides
from tests.sharding.mariadb_reference import reference_database, same_rows, sqlite_twin

pytestmark = pytest.mark.mysql

DDL = [
    "CREATE TABLE jdays (id INT PRIMARY KEY, d DATE, ts TIMESTAMP NULL DEFAULT NULL, n INT)",
    "CREATE TABLE jmoments (id INT PRIMARY KEY, dt DATETIME, d3 DATETIME(3), "
    "s VARCHAR(20), tm TIME, k INT)",
]
ROWS = [
    "INSERT INTO jdays VALUES "
    + ", ".join(
        f"({i}, {'NULL' if i % 11 == 0 else repr(f'2024-01-{1 + i % 9:02d}')}, "
        f"{'NULL' if i % 7 == 0 else repr(f'2024-01-{1 + i % 5:02d} {0 if i % 3 else 10}:00:00')}, "
        f"{i % 4})"
        for i in range(1, 41)
    ),
    "INSERT INTO jmoments VALUES "
    + ", ".join(
        f"({i}, {'NULL' if i % 13 == 0 else repr(f'2024-01-{1 + i % 8:02d} {0 if i % 2 else 9}:00:00')}, "
        f"{f'2024-01-{1 + i % 6:02d} 00:00:00.{0 if i % 4 else 500:03d}'!r}, "
        f"'2024-01-0{1 + i % 9}', '{i % 3}:00:00', {i % 4})"
        for i in range(1, 51)
    ),
]
DROP = ["DROP TABLE IF EXISTS jdays", "DROP TABLE IF EXISTS jmoments"]

ANSWERED = [
    Case(cls, sql)
    for cls, sql in [
        # Two sharded tables (not co-located on these keys).
        ("date-datetime", "SELECT a.id, b.id FROM jdays a JOIN jmoments b ON a.d = b.dt"),
        (
            "date-datetime",
            "SELECT a.id, a.d, b.id, b.dt FROM jdays a JOIN jmoments b ON b.dt = a.d "
            "ORDER BY a.d, b.dt, a.id, b.id",
        ),
        (
            "date-datetime",
            "SELECT a.id, b.id FROM jdays a LEFT JOIN jmoments b ON a.d = b.dt ORDER BY a.id, b.id",
        ),
        (
            "date-datetime",
            "SELECT b.id, a.id FROM jmoments b LEFT JOIN jdays a ON a.d = b.dt ORDER BY b.id, a.id",
        ),
        (
            "date-datetime",
            "SELECT a.id, b.id FROM jdays a JOIN jmoments b ON a.d = b.dt AND a.n = b.k "
            "ORDER BY a.id, b.id",
        ),
        ("date-datetime", "SELECT * FROM jdays a JOIN jmoments b ON a.d = b.dt"),
        (
            "date-datetime",
            "SELECT a.d, COUNT(*) FROM jdays a JOIN jmoments b ON a.d = b.dt GROUP BY a.d "
            "ORDER BY a.d",
        ),
        # Fractions: DATETIME(3) with DATE and with TIMESTAMP.
        (
            "fractions",
            "SELECT a.id, b.id FROM jdays a JOIN jmoments b ON a.d = b.d3 ORDER BY a.id, b.id",
        ),
        (
            "fractions",
            "SELECT a.id, b.id FROM jdays a JOIN jmoments b ON a.ts = b.d3 ORDER BY a.id, b.id",
        ),
        # TIMESTAMP with DATETIME.
        (
            "timestamp",
            "SELECT a.id, b.id FROM jdays a JOIN jmoments b ON a.ts = b.dt ORDER BY a.id, b.id",
        ),
        (
            "timestamp",
            "SELECT a.id, a.ts, b.dt FROM jdays a LEFT JOIN jmoments b ON b.dt = a.ts "
            "ORDER BY a.id, b.id",
        ),
        # A derived table or CTE over a sharded table.
        (
            "derived",
            "SELECT b.id, d.d, d.c FROM jmoments b JOIN (SELECT d, COUNT(*) c FROM jdays "
            "GROUP BY d) d ON d.d = b.dt ORDER BY b.id",
        ),
        (
            "derived",
            "SELECT d.d, d.c, b.id FROM (SELECT d, COUNT(*) c FROM jdays GROUP BY d) d "
            "LEFT JOIN jmoments b ON b.dt = d.d ORDER BY d.d, b.id",
        ),
        (
            "derived",
            "SELECT a.id, x.m, x.c FROM jdays a LEFT JOIN (SELECT dt m, COUNT(*) c FROM jmoments "
            "GROUP BY dt) x ON x.m = a.d ORDER BY a.id",
        ),
        (
            "derived",
            "SELECT a.id, x.day FROM (SELECT DATE(dt) day FROM jmoments) x RIGHT JOIN jdays a "
            "ON x.day = a.ts ORDER BY a.id, x.day",
        ),
        (
            "derived",
            "WITH x AS (SELECT DATE(created) day, COUNT(*) c FROM orders GROUP BY DATE(created)) "
            "SELECT b.id, x.day, x.c FROM jmoments b JOIN x ON x.day = b.dt ORDER BY b.id",
        ),
        (
            "derived",
            "SELECT o.id, x.day FROM orders o JOIN (SELECT DATE(created) day FROM orders) x "
            "ON x.day = o.created ORDER BY o.id",
        ),
    ]
]

REFUSED = [
    Case("refused", sql)
    for sql in [
        "SELECT a.id, b.id FROM jdays a JOIN jmoments b ON a.d = b.s",
        "SELECT a.id, b.id FROM jdays a JOIN jmoments b ON a.d = b.tm",
        "SELECT a.id, b.id FROM jdays a JOIN jmoments b ON a.n = b.dt",
        "SELECT a.id, x.s FROM jdays a JOIN (SELECT s, COUNT(*) c FROM jmoments GROUP BY s) x "
        "ON x.s = a.d",
    ]
]

DEFINITION_STATEMENTS = [
    "SELECT a.id, a.d, b.dt, b.d3 FROM jdays a JOIN jmoments b ON a.d = b.dt",
    "SELECT b.id, d.d, d.c FROM jmoments b JOIN (SELECT d, COUNT(*) c FROM jdays GROUP BY d) d "
    "ON d.d = b.dt",
]


@pytest.fixture
def dated(env: Environment) -> Iterator[Environment]:
    """``env`` with the two tables on both sides, dropped afterwards."""
    with tables_on_both_sides(env, DDL + ROWS, DROP) as ready:
        yield ready


def test_temporal_keys_are_answered(dated: Environment) -> None:
    report = dated.run(ANSWERED)
    dated.check(report, "issue 18: cross-shard joins on DATE/DATETIME keys", answered=True)
    assert sum(c["same"] for c in report.counts.values()) == len(ANSWERED)


def test_other_key_types_are_a_clear_refusal(dated: Environment) -> None:
    report = dated.run(REFUSED)
    dated.check(report, "issue 18: temporal keys with other types")
    assert len(report.clear) == len(REFUSED), report.clear
    assert all("different types" in line for line in report.clear), report.clear


@pytest.mark.parametrize("sql", DEFINITION_STATEMENTS)
def test_temporal_join_column_definitions(dated: Environment, sql: str) -> None:
    with dated.connect_oracle() as o, dated.connect_sharded() as s:
        co, cs = o.cursor(), s.cursor()
        co.execute(sql)
        cs.execute(sql)
        assert [d[:6] for d in cs.description] == [d[:6] for d in co.description]


SQLITE_QUERIES = [
    sql
    for case in ANSWERED
    for sql in case.statements
    if "orders" not in sql and "ORDER BY" in sql and "a.ts" not in sql
]


def test_temporal_keys_on_the_sqlite_store(tmp_path: Path) -> None:
    """The SQLite default stores DATE/DATETIME as text: the joins must match MariaDB
    (TIMESTAMP columns left out: their store is tested elsewhere)."""
    assert len(SQLITE_QUERIES) >= 8
    with reference_database("sgjtemporal", *DDL, *ROWS) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, *DDL, *ROWS) as session:
                await same_rows(session, cur, SQLITE_QUERIES)
                for sql in (case.sql for case in REFUSED):
                    with pytest.raises(Exception) as caught:
                        await session.execute(sql)
                    assert getattr(caught.value, "code", None) == 1235, sql

        trio.run(main)
