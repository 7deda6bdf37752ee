"""STD/STDDEV/VARIANCE/VAR_POP/VAR_SAMP of an INT or DECIMAL column over several SQLite
shards: each shard sends COUNT, SUM and the exact sum of squares, the coordinator
computes MariaDB's DOUBLE and shows it with the column's scale + 4 — compared with
unsharded MariaDB, grouped and not, with NULLs, one row and none, and values whose
result has more digits than a DOUBLE holds (MariaDB writes the shortest digits that
read back, then zeros). A DOUBLE column's is a clear 1235 (its shards would send
VAR_POP, which SQLite has not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql
import pytest
from pymysql.converters import conversions

from sharding.errors import ShardgateError
from sharding.server.types import text_value
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.sharding.mariadb_reference import run_twin

SETUP = [
    "CREATE TABLE t (id INT PRIMARY KEY, g INT, n INT, v BIGINT, d DECIMAL(10,2), f DOUBLE)",
    "INSERT INTO t VALUES (1, 1, 3, 3000000000, 2.50, 1.5), (2, 1, 7, 4000000001, 1.25, 2.5),"
    " (3, 2, NULL, 9000000000000000000, NULL, NULL), (4, 2, -4, -5, 99.99, 0.5),"
    " (5, 3, 10, 12, 0.01, 7), (6, 1, 2, 7, 3.75, 1), (7, 4, NULL, NULL, NULL, NULL)",
]
SAME = [
    "SELECT STD(n), STDDEV(n), STDDEV_POP(n), STDDEV_SAMP(n), VARIANCE(n), VAR_POP(n),"
    " VAR_SAMP(n) FROM t",
    "SELECT STD(d), VAR_SAMP(d), VARIANCE(d) FROM t",
    "SELECT STD(v), VAR_SAMP(v) FROM t",
    "SELECT g, STD(n), VAR_SAMP(d), COUNT(*) FROM t GROUP BY g ORDER BY g",
    "SELECT STD(n), VAR_SAMP(n), VAR_POP(d), STDDEV_SAMP(v) FROM t WHERE id = 5",
    "SELECT g, VAR_POP(n), STDDEV(d) FROM t WHERE g = 1 GROUP BY g",
    "SELECT STD(n), VAR_SAMP(n) FROM t WHERE id > 100",
]


@pytest.mark.mysql
def test_variance_over_sqlite_shards_as_mariadb(tmp_path: Path) -> None:
    async def check(session: Any, cur: Any, name: str) -> None:
        cur.connection.commit()  # the rows, for a second connection
        # MariaDB's text of each value, as its clients read it (no conversions).
        raw = pymysql.connect(
            host=MYSQL_HOST,
            port=MYSQL_PORT,
            user="root",
            database=name,
            conv={k: v for k, v in conversions.items() if not isinstance(k, int)},
        )
        try:
            for sql in SAME:
                with raw.cursor() as text_cur:
                    text_cur.execute(sql)
                    want = [
                        tuple(None if v is None else str(v).encode() for v in r)
                        for r in text_cur.fetchall()
                    ]
                rows = (await session.execute(sql)).rows
                got = [tuple(None if v is None else text_value(v) for v in r) for r in rows]
                assert got == want, (sql, got, want)
            with pytest.raises(ShardgateError) as refused:
                await session.execute("SELECT STD(f) FROM t")
            assert refused.value.code == 1235 and "DOUBLE" in str(refused.value)
        finally:
            raw.close()

    run_twin(tmp_path, "sgvariance", SETUP, check)
