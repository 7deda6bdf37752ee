"""MySQL's store of a value into a DATE/DATETIME/TIMESTAMP column on SQLite shards
(:mod:`sharding.backend.sqlite_temporal`, section "store").

Each write form (INSERT … VALUES with literals and expressions, REPLACE, ON DUPLICATE
KEY UPDATE, UPDATE … SET, INSERT … SELECT, a column's DEFAULT) runs on the SQLite
default (4 shards) and on unsharded MariaDB; the stored rows, comparisons with
constants, ORDER BY, MIN/MAX and the error of a value strict mode refuses must agree.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import (
    reference_database,
    same_errors,
    same_rows,
    same_writes,
    sqlite_twin,
    value_writes,
)

DDL = (
    "CREATE TABLE t (id INT PRIMARY KEY, d DATE, dt DATETIME, d3 DATETIME(3), "
    "ts TIMESTAMP NULL, e DATE DEFAULT '2024-1-1', n INT)"
)
WRITES = [
    "INSERT INTO t (id, d, dt, d3) VALUES (1,'2024-1-5','2024-01-05 10:00','2024-1-5 1:2:3.45678'),"
    "(2,20240105,20240105103000,'2024-01-05T10:11:12.9'),"
    "(3,'2024-01-05','2024-01-05 10:00:00.5',20240105103000),"
    "(4,'2023-12-31','2023-12-31 23:59:59','23-12-31 23:59:59'),(5,'24/1/6','2024-01-06 10',NULL)",
    "INSERT INTO t (id, d, dt, ts, n) VALUES (6, DATE_ADD('2024-1-5', INTERVAL 1 DAY), "
    "CONCAT('2024-1-', 7), '2024-1-8 9:10:11.7', 6), (7, CAST(240109 AS CHAR), 101, 20240110, 7)",
    "REPLACE INTO t (id, d, dt) VALUES (4, '2023-12-30', 20231230123456), (8, '2024-2-1', '2024-2-1')",
    "INSERT INTO t (id, d, dt) VALUES (1, '2024-3-1', '2024-3-1 1:1:1') "
    "ON DUPLICATE KEY UPDATE d = '2024-3-2', dt = VALUES(dt), d3 = '2024-03-02 00:00:00.123456'",
    "UPDATE t SET d = 20240401, e = '24-4-2' WHERE id = 2",
    "UPDATE t SET dt = DATE_ADD(dt, INTERVAL 1 DAY), d = CONCAT('2024-5-', id) WHERE id IN (3, 5)",
    "INSERT INTO t (id, d) VALUES (9, NULL)",
    "INSERT INTO t (id, d, dt, d3) SELECT id + 100, CONCAT(dt, ''), d, d FROM t WHERE id < 3",
    "UPDATE t SET d = d WHERE id = 1",
    "UPDATE t SET d = '2024-3-2' WHERE id = 1",
]
QUERIES = [
    "SELECT * FROM t ORDER BY id",
    "SELECT id FROM t WHERE d = 20240105 ORDER BY id",
    "SELECT id FROM t WHERE dt > '2024-1-5' ORDER BY id",
    "SELECT id FROM t WHERE e = '2024-01-01' ORDER BY id",
    "SELECT id FROM t ORDER BY d, id",
    "SELECT id FROM t ORDER BY dt DESC, id",
    "SELECT id, CAST(d3 AS CHAR) FROM t ORDER BY id",
    "SELECT COUNT(*) FROM t WHERE d = (SELECT MIN(d) FROM t)",
]
INVALID = ["'abc'", "5", "'2024-02-30'", "''", "'2024-01-05x'", "'2024-01-05 25:00:00'"]


@pytest.mark.mysql
def test_stores_as_mariadb(tmp_path: Path) -> None:
    with reference_database("sgdatestore", DDL) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL) as s:
                await same_writes(s, cur, WRITES, QUERIES)
                await same_errors(
                    s,
                    cur,
                    value_writes([(c, v) for v in INVALID for c in ("d", "dt", "d3")]),
                )
                await same_rows(s, cur, QUERIES[:1], after="the refused writes")

        trio.run(main)


def test_fixup_scan_only_when_a_default_is_not_stored_form() -> None:
    """An INSERT that omits a date column rescans the table (store_fixup) only when the
    column's default may store something MySQL would not; a NULL default, a canonical
    constant and CURRENT_TIMESTAMP cost an INSERT no scan."""
    import sqlite3

    from sharding.backend import sqlite_mysql
    from sharding.backend.sqlite_temporal import store_rewrite

    raw = sqlite3.connect(":memory:")
    sqlite_mysql.install(raw)
    raw.execute("ATTACH ':memory:' AS db_0001")
    raw.execute(
        'CREATE TABLE "db_0001"."t" (id INTEGER PRIMARY KEY, d DATE, '
        "c DATETIME DEFAULT CURRENT_TIMESTAMP, k DATE DEFAULT '2024-01-05', "
        "odd DATE DEFAULT '2024-1-5')"
    )
    ok = 'INSERT INTO "db_0001"."t" (id, d, odd) VALUES (1, 20240105, \'2024-02-03\')'
    text, fixup = store_rewrite(raw, ok)
    assert fixup is None, text
    assert "'2024-01-05'" in text and "'2024-02-03'" in text
    odd = 'INSERT INTO "db_0001"."t" (id, d) VALUES (2, NULL)'
    assert store_rewrite(raw, odd)[1] is not None  # the default '2024-1-5' is not stored form


TIME_DDL = (
    "CREATE TABLE tt (id INT PRIMARY KEY, a TIME, b TIME(3), n INT DEFAULT 7, m INT NOT NULL, "
    "k INT, e DATE DEFAULT '2024-1-1', c DATETIME DEFAULT CURRENT_TIMESTAMP)"
)
TIME_WRITES = [
    "INSERT INTO tt (id, a, b, m) VALUES (1, '10:00:00', '10:00:00.123456', 1), "
    "(2, 100000, 100000.5, 1), (3, '1:2:3', '10:00:00.9999', 1), (4, '10:00', 1000, 1), "
    "(5, '1 10:00:00', '10.5', 1), (6, 10, '10', 1), (7, ' 10:00:00 ', '12:5', 1), "
    "(8, '24:00:00', '99:59:59', 1), (9, '10:00:00.', '0', 1), (10, NULL, '1:2', 1)",
    "INSERT INTO tt VALUES (11, '09:00:00', DEFAULT, DEFAULT, 2, DEFAULT, DEFAULT, DEFAULT)",
    "INSERT INTO tt (id, a, n, m, k) VALUES (12, CONCAT('8:', '00'), DEFAULT(n), 3, DEFAULT(k))",
    "INSERT INTO tt (id, a, m) VALUES (1, '11:00', 1) ON DUPLICATE KEY UPDATE a = VALUES(a), "
    "n = DEFAULT, b = '1:2:3.4'",
    "UPDATE tt SET a = 123456, b = '2 1:00:00' WHERE id = 2",
    "UPDATE tt SET n = DEFAULT, k = DEFAULT, e = DEFAULT WHERE id = 2",
    "UPDATE tt SET n = DEFAULT",
    # the coordinator reads the SELECT and writes its TIME values (timedelta) back
    "INSERT INTO tt (id, a, b, m) SELECT id + 100, a, b, m FROM tt WHERE id <= 3",
]
TIME_QUERIES = [
    "SELECT id, a, b, n, m, k, e, c IS NOT NULL FROM tt ORDER BY id",
    "SELECT id FROM tt WHERE a > '09:00:00' ORDER BY id",
    "SELECT id FROM tt WHERE a = 100000 OR b = '10:00:00.5' ORDER BY id",
    "SELECT id FROM tt WHERE a IN ('10:00', 1000, '1:2:3') ORDER BY id",
    "SELECT id FROM tt WHERE b BETWEEN '10:00' AND '10:00:00.999' ORDER BY id",
    "SELECT MIN(e), MAX(e) FROM tt",
    # merged over shards: TIME values order as times, not as str(timedelta)
    "SELECT id, a FROM tt ORDER BY a, id",
    "SELECT MIN(a), MAX(a), MIN(b), MAX(b) FROM tt",
]
TIME_INVALID = ["'abc'", "''", "'10:60:00'", "126000", "'10:00:00x'", "'1:2:3:4'", "'35 00:00:00'"]
TIME_REFUSED = ["'100:00:00'", "'-01:00:00'", "-100", "20240105101112"]


@pytest.mark.mysql
def test_time_and_default_as_mariadb(tmp_path: Path) -> None:
    """TIME values stored as MariaDB stores them (canonical text, read as timedelta),
    compared, ordered, aggregated; DEFAULT and DEFAULT(col) as written values."""
    with reference_database("sgtimestore", TIME_DDL) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, TIME_DDL) as s:
                await same_writes(s, cur, TIME_WRITES, TIME_QUERIES)
                failing = [
                    *(f"INSERT INTO tt (id, a, m) VALUES (50, {v}, 1)" for v in TIME_INVALID),
                    *(f"UPDATE tt SET b = {v} WHERE id = 1" for v in TIME_INVALID),
                    "INSERT INTO tt (id, a, m) VALUES (51, '10:00', DEFAULT)",
                    "UPDATE tt SET m = DEFAULT WHERE id = 1",
                ]
                await same_errors(s, cur, failing)
                for v in TIME_REFUSED:
                    with pytest.raises(ShardgateError) as ours:
                        await s.execute(f"INSERT INTO tt (id, a, m) VALUES (52, {v}, 1)")
                    assert ours.value.code == 1235, (v, ours.value)
                for q in (
                    "SELECT id FROM tt WHERE a > '100:00:00'",
                    "SELECT id FROM tt WHERE a = 'abc'",
                ):
                    with pytest.raises(ShardgateError) as ours:
                        await s.execute(q)
                    assert ours.value.code == 1235, (q, ours.value)

        trio.run(main)
