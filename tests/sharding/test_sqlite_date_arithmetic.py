"""Date arithmetic on SQLite shards answers as MariaDB: ``x + INTERVAL n unit``,
``DATE_ADD``/``DATE_SUB``/``ADDDATE``/``SUBDATE``/``TIMESTAMPADD``, with simple and
compound units — values and column definitions (a DATE stays a DATE for units of days
or more, a DATETIME keeps its fractional digits, a string gives a string). Each case
runs on a SQLite twin and on unsharded MariaDB (:func:`same_typed_results`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sharding.mariadb_reference import same_typed_results

SETUP = [
    "CREATE TABLE t (id INT PRIMARY KEY, d DATE, dt DATETIME, dt3 DATETIME(3), s VARCHAR(20))",
    "INSERT INTO t VALUES (1, '2024-01-31', '2024-01-31 23:59:59', '2024-02-29 10:00:00.125',"
    " '2024-03-01'), (2, NULL, NULL, NULL, NULL), (3, '2023-12-31', '2023-06-15 12:30:00',"
    " '2023-06-15 12:30:00.000', 'not a date')",
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
    "SELECT id FROM t WHERE dt > CAST('2024-01-01' AS DATE) - INTERVAL 1 YEAR ORDER BY id",
]


@pytest.mark.mysql
def test_date_arithmetic_as_mariadb(tmp_path: Path) -> None:
    same_typed_results(tmp_path, "sgdatearith", SETUP, CASES)
