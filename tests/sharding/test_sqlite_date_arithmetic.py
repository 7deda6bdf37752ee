"""Date arithmetic on SQLite shards answers as MariaDB: ``x + INTERVAL n unit``,
``DATE_ADD``/``DATE_SUB``/``ADDDATE``/``SUBDATE``/``TIMESTAMPADD``, with simple and
compound units — values and column definitions (a DATE stays a DATE for units of days
or more, a DATETIME keeps its fractional digits, a string gives a string, a TIME column
a signed TIME), and the 1441 warnings of a TIME's overflow. Each case
runs on a SQLite twin and on unsharded MariaDB (:func:`same_typed_results`)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import (
    run_twin,
    same_errors,
    same_typed_results,
    same_writes,
    sqlite_twin,
)

SETUP = [
    "CREATE TABLE t (id INT PRIMARY KEY, d DATE, dt DATETIME, dt3 DATETIME(3), s VARCHAR(20),"
    " tm TIME, tm3 TIME(3), ts VARCHAR(20))",
    "INSERT INTO t VALUES (1, '2024-01-31', '2024-01-31 23:59:59', '2024-02-29 10:00:00.125',"
    " '2024-03-01', '10:00:00', '10:00:00.125', '10:00:00'), (2, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL), (3, '2023-12-31', '2023-06-15 12:30:00', '2023-06-15 12:30:00.000',"
    " 'not a date', '00:30:00', '99:59:59.999', '00:30:00')",
]
#: Date arithmetic on a TIME: a signed duration up to ±838:59:59.999999 (module doc of
#: sharding.backend.sqlite_time_arithmetic); units of weeks or more are NULL (1441).
TIME_CASES = [
    "SELECT id, tm + INTERVAL 1 DAY, tm - INTERVAL 11 HOUR, tm + INTERVAL '1:30' HOUR_MINUTE,"
    " tm + INTERVAL 1 MICROSECOND FROM t ORDER BY id",
    "SELECT id, tm - INTERVAL 11 HOUR + INTERVAL 30 MINUTE, tm - INTERVAL 1 HOUR + INTERVAL"
    " 1 HOUR, tm - INTERVAL 34 DAY, tm + INTERVAL 35 DAY FROM t ORDER BY id",
    "SELECT id, tm3 + INTERVAL 1 SECOND, tm3 - INTERVAL 1 HOUR, tm3 + INTERVAL 1 MICROSECOND,"
    " tm3 - INTERVAL '838:59:59' HOUR_SECOND FROM t ORDER BY id",
    "SELECT id, DATE_ADD(tm, INTERVAL 1 HOUR), DATE_SUB(tm3, INTERVAL '1:30' HOUR_MINUTE),"
    " DATE_SUB(tm, INTERVAL -1 HOUR), DATE_ADD(tm, INTERVAL '1 2' DAY_HOUR) FROM t ORDER BY id",
    "SELECT id, ADDDATE(tm, 1), SUBDATE(tm3, INTERVAL 1 MINUTE), TIMESTAMPADD(HOUR, 1, tm),"
    " TIMESTAMPADD(DAY, 1, tm3), TIMESTAMPADD(MICROSECOND, 1, tm) FROM t ORDER BY id",
    "SELECT id, tm + INTERVAL 1 MONTH, tm3 - INTERVAL 1 YEAR, tm + INTERVAL 1 WEEK,"
    " tm3 + INTERVAL '1-1' YEAR_MONTH, TIMESTAMPADD(QUARTER, 1, tm) FROM t ORDER BY id",
    "SELECT id, tm + INTERVAL '1.5' SECOND_MICROSECOND, tm3 - INTERVAL '1:2:3.5'"
    " HOUR_MICROSECOND, CONCAT(tm - INTERVAL 11 HOUR, ''), CONCAT(tm3 + INTERVAL 1 HOUR, '')"
    " FROM t ORDER BY id",
    # A string holding a time is read as a DATETIME: NULL, as MariaDB.
    "SELECT id, ts + INTERVAL 1 HOUR, DATE_ADD(ts, INTERVAL 1 DAY) FROM t WHERE id <> 3"
    " ORDER BY id",
    "SELECT id, dt + INTERVAL 1.5 SECOND, d + INTERVAL 1.25 SECOND, dt - INTERVAL 1.5 SECOND,"
    " dt + INTERVAL 1.5 MINUTE, dt3 + INTERVAL 0.5 SECOND FROM t ORDER BY id",
]
CASES = [
    "SELECT id, d + INTERVAL 1 DAY, d + INTERVAL 1 MONTH, d - INTERVAL 1 YEAR FROM t ORDER BY id",
    "SELECT id, d + INTERVAL 1 HOUR, INTERVAL 2 WEEK + d, d - INTERVAL 1 QUARTER FROM t ORDER BY id",
    "SELECT id, dt + INTERVAL 1 SECOND, dt - INTERVAL 90 MINUTE, dt + INTERVAL 1 MONTH FROM t"
    " ORDER BY id",
    "SELECT id, dt3 + INTERVAL 1 DAY, dt3 - INTERVAL 1 HOUR FROM t ORDER BY id",
    "SELECT id, DATE_ADD(d, INTERVAL 2 HOUR), DATE_SUB(dt, INTERVAL 1 QUARTER) FROM t ORDER BY id",
    "SELECT id, ADDDATE(d, 5), SUBDATE(dt, INTERVAL 1 WEEK), ADDDATE(d, INTERVAL 1 MONTH) FROM t"
    " ORDER BY id",
    "SELECT id, TIMESTAMPADD(HOUR, 1, d), TIMESTAMPADD(DAY, 1, dt) FROM t ORDER BY id",
    "SELECT id, d + INTERVAL '1 2' DAY_HOUR, dt + INTERVAL '1:30' HOUR_MINUTE,"
    " dt - INTERVAL '1-2' YEAR_MONTH, d + INTERVAL '1-1' YEAR_MONTH FROM t ORDER BY id",
    "SELECT id, dt + INTERVAL '1 1:1:1' DAY_SECOND, dt + INTERVAL '2:3' MINUTE_SECOND,"
    " dt - INTERVAL '1:2:3' HOUR_SECOND, dt + INTERVAL '-1 2' DAY_HOUR FROM t ORDER BY id",
    "SELECT id, dt + INTERVAL '1.5' SECOND_MICROSECOND, dt3 - INTERVAL '1:2.000005'"
    " MINUTE_MICROSECOND, dt + INTERVAL 1.7 DAY, dt + INTERVAL '1' DAY_SECOND FROM t ORDER BY id",
    "SELECT id, dt - INTERVAL '-1 2' DAY_HOUR, DATE_SUB(d, INTERVAL '1-1' YEAR_MONTH),"
    " s + INTERVAL 1 DAY FROM t ORDER BY id",
    "SELECT id FROM t WHERE d + INTERVAL 1 DAY = '2024-02-01' ORDER BY id",
    # A DATE plus a YEAR_MONTH interval is a DATE, compared as one.
    "SELECT id FROM t WHERE d + INTERVAL '0-1' YEAR_MONTH = '2024-02-29' ORDER BY id",
    "SELECT id FROM t WHERE dt > CAST('2024-01-01' AS DATE) - INTERVAL 1 YEAR ORDER BY id",
]


@pytest.mark.mysql
def test_date_arithmetic_as_mariadb(tmp_path: Path) -> None:
    same_typed_results(tmp_path, "sgdatearith", SETUP, CASES)


@pytest.mark.mysql
def test_time_arithmetic_as_mariadb(tmp_path: Path) -> None:
    same_typed_results(tmp_path, "sgtime_arith", SETUP, TIME_CASES)


#: Statements whose warnings (1441 "Datetime function: time field overflow") MariaDB
#: gives per row, a NULL row included for a unit of weeks or more.
WARNING_CASES = [
    "SELECT id, tm + INTERVAL 1 MONTH FROM t ORDER BY id",
    "SELECT id, tm + INTERVAL 35 DAY, tm3 + INTERVAL 740 HOUR FROM t ORDER BY id",
    "SELECT id, TIMESTAMPADD(WEEK, 1, tm3), tm - INTERVAL 1 HOUR FROM t ORDER BY id",
    "SELECT id, tm + INTERVAL 1 HOUR FROM t ORDER BY id",
]


@pytest.mark.mysql
def test_time_arithmetic_warnings_as_mariadb(tmp_path: Path) -> None:
    async def check(session: Any, cur: Any, _name: str) -> None:
        for sql in WARNING_CASES:
            cur.execute(sql)
            want_rows = [tuple(r) for r in cur.fetchall()]
            cur.execute("SHOW WARNINGS")
            want = sorted(tuple(r) for r in cur.fetchall())
            got = await session.execute(sql)
            assert [tuple(r) for r in got.rows] == want_rows, sql
            assert got.warnings == len(want), (sql, got.warnings, want)
            shown = (await session.execute("SHOW WARNINGS")).rows
            assert sorted(tuple(r) for r in shown) == want, (sql, shown)

    run_twin(tmp_path, "sgtime_warn", SETUP, check)


TIME_WRITES = [
    "UPDATE t SET tm = tm + INTERVAL 1 HOUR, tm3 = tm3 - INTERVAL '0:30' HOUR_MINUTE WHERE id = 1",
    "UPDATE t SET tm = ADDDATE(tm, 1), tm3 = TIMESTAMPADD(MICROSECOND, 1, tm3) WHERE id = 3",
]
#: A TIME's overflow in a write is MariaDB's error 1441 (strict mode), never a NULL stored.
TIME_WRITE_ERRORS = [
    "UPDATE t SET tm = tm + INTERVAL 1 MONTH WHERE id = 1",
    "UPDATE t SET tm3 = tm3 + INTERVAL 35 DAY WHERE id = 3",
    "UPDATE t SET tm = tm + INTERVAL 1 WEEK WHERE id = 2",
]


@pytest.mark.mysql
def test_time_arithmetic_writes_as_mariadb(tmp_path: Path) -> None:
    async def check(session: Any, cur: Any, _name: str) -> None:
        queries = ["SELECT id, tm, tm3 FROM t ORDER BY id"]
        await same_writes(session, cur, TIME_WRITES, queries)
        await same_errors(session, cur, TIME_WRITE_ERRORS, 1441)
        await same_writes(session, cur, [], queries)  # nothing stored

    run_twin(tmp_path, "sgtime_write", SETUP, check)


#: SQLite would order a TIME's text, MySQL's order only from 00:00:00 to 99:59:59:
#: a TIME's date arithmetic compared, ordered or in MIN/MAX is a 1235.
TIME_UNORDERED = [
    "SELECT id FROM t WHERE tm + INTERVAL 1 HOUR > '10:00:00'",
    "SELECT MAX(tm3 + INTERVAL 1 HOUR) FROM t",
    "SELECT id, tm - INTERVAL 11 HOUR AS x FROM t ORDER BY x",
    "SELECT id, tm - INTERVAL 11 HOUR FROM t ORDER BY 2",
]


def test_time_arithmetic_unordered_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with sqlite_twin(tmp_path, "sgtime_order", *SETUP) as session:
            for sql in TIME_UNORDERED:
                with pytest.raises(ShardgateError) as info:
                    await session.execute(sql)
                assert info.value.code == 1235, (sql, info.value)
            # ordered by another column: answered
            got = await session.execute("SELECT id, tm - INTERVAL 11 HOUR FROM t ORDER BY id")
            assert [r[1] for r in got.rows] == [
                -datetime.timedelta(hours=1),
                None,
                -datetime.timedelta(hours=10, minutes=30),
            ]

    trio.run(main)
