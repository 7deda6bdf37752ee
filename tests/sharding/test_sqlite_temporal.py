"""MySQL's comparison of a DATE/DATETIME operand on SQLite shards
(:mod:`sharding.backend.sqlite_temporal`).

The corpus answers are measured against MariaDB in ``test_sqlite_mysql_semantics.py``
(class ``temporal``); here: MySQL's reading of constants as dates, edge forms
(``<=>``, a DATE against a DATETIME at midnight, two-digit years, punctuation) against
MariaDB, and the 1235 for what is refused.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio
from sqlglot import exp

from sharding import Coordinator, Topology
from sharding.backend import sqlite_temporal
from sharding.errors import NotSupported, ShardgateError
from tests.conftest import MYSQL_HOST, MYSQL_PORT


def _literal(sql: str, string: bool) -> exp.Literal:
    return exp.Literal.string(sql) if string else exp.Literal.number(sql)


@pytest.mark.parametrize(
    ("text", "string", "want", "timed"),
    [
        ("20240101", False, datetime.datetime(2024, 1, 1), False),
        ("240101", False, datetime.datetime(2024, 1, 1), False),
        ("20240105103000", False, datetime.datetime(2024, 1, 5, 10, 30), True),
        ("2024-1-2", True, datetime.datetime(2024, 1, 2), False),
        ("2024/01/02", True, datetime.datetime(2024, 1, 2), False),
        ("20240102", True, datetime.datetime(2024, 1, 2), False),
        ("2024-01-02 3:4:5", True, datetime.datetime(2024, 1, 2, 3, 4, 5), True),
        ("99-12-31", True, datetime.datetime(1999, 12, 31), False),
        (" 2024-01-05", True, datetime.datetime(2024, 1, 5), False),
    ],
)
def test_canonical(text: str, string: bool, want: datetime.datetime, timed: bool) -> None:
    found = sqlite_temporal.canonical(_literal(text, string))
    assert found is not None and found[:2] == (want, timed)


@pytest.mark.parametrize(
    ("text", "string"),
    [
        *[("5", False), ("2024", False), ("20241301", False), ("20240101.5", False)],
        *[("abc", True), ("2024-02-30", True), ("2024-01-05x", True), ("", True)],
    ],
)
def test_invalid_constants_are_1235(text: str, string: bool) -> None:
    with pytest.raises(NotSupported):
        sqlite_temporal.canonical(_literal(text, string))


ROWS = (
    "(1, '2024-01-05', '2024-01-05 10:00:00', 20240105, 'x'), "
    "(2, '2024-01-01', '2024-01-01 00:00:00', 5, '2024-01-01'), "
    "(3, NULL, NULL, NULL, NULL), (4, '2023-12-31', '2024-01-01 00:00:01', 7, 'y')"
)
DDL = "CREATE TABLE t (id INT PRIMARY KEY, d DATE, dt DATETIME, n BIGINT, s VARCHAR(20))"
QUERIES = [
    "SELECT id FROM t WHERE d <=> 20240105 ORDER BY id",
    "SELECT id FROM t WHERE NOT (d <=> '2024-1-5') ORDER BY id",
    "SELECT id FROM t WHERE d = dt ORDER BY id",
    "SELECT id FROM t WHERE d < dt ORDER BY id",
    "SELECT id FROM t WHERE dt >= d ORDER BY id",
    "SELECT id FROM t WHERE d = '24-1-5' OR d = '2024.01.01' ORDER BY id",
    "SELECT id FROM t WHERE d = 20240105000000 ORDER BY id",
    "SELECT id FROM t WHERE d < '2024-01-01 00:00:01' ORDER BY id",
    "SELECT id FROM t WHERE d > '2024-01-01 10:00:00' ORDER BY id",
    "SELECT id FROM t WHERE dt = '2024-01-05 10:0:0' ORDER BY id",
    "SELECT id FROM t WHERE dt IN ('2024-01-01', 20240105100000) ORDER BY id",
    "SELECT id FROM t WHERE CAST(d AS DATETIME) = '2024-01-05' ORDER BY id",
    "SELECT id FROM t WHERE DATE(dt) NOT IN (20240101, '2024-1-5') ORDER BY id",
    "SELECT id FROM t WHERE d BETWEEN '2024-1-1' AND 20240104 ORDER BY id",
    "SELECT id FROM t WHERE d = (SELECT MIN(y.dt) FROM t y WHERE y.id = 2) ORDER BY id",
    "SELECT id, d = '2024-01-01 00:00:00', dt <=> 20240101, d IN (20240105, NULL) "
    "FROM t ORDER BY id",
    "SELECT id FROM t WHERE YEAR(dt) = '2024' AND MONTH(d) IN ('1', ' 12 ') ORDER BY id",
]
REFUSED = [
    "SELECT id FROM t WHERE d > 5",
    "SELECT id FROM t WHERE d = 'abc'",
    "SELECT id FROM t WHERE d = n",
    "SELECT id FROM t WHERE d = s",
    "SELECT id FROM t WHERE dt = '2024-01-05 10:00:00.5'",
    "SELECT id FROM t WHERE d = -20240101",
]


def _mysql(database: str | None = None) -> Any:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", database=database
    )


@pytest.mark.mysql
def test_against_mariadb(tmp_path: Path) -> None:
    name = f"sgtemporal_{os.getpid()}"
    conn = _mysql()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"USE `{name}`")
            cur.execute(DDL)
            cur.execute("INSERT INTO t VALUES " + ROWS)

            async def main() -> None:
                topo = Topology.default(tmp_path, default_shards=4)
                async with Coordinator(topo, catalog_refresh=None) as coord:
                    s = coord.open_session(database="db")
                    await s.execute(DDL)
                    await s.execute("INSERT INTO t VALUES " + ROWS)
                    for q in QUERIES:
                        cur.execute(q)
                        want = [tuple(r) for r in cur.fetchall()]
                        got = [tuple(r) for r in (await s.execute(q)).rows]
                        assert got == want, (q, got, want)
                    for q in REFUSED:
                        with pytest.raises(ShardgateError) as info:
                            await s.execute(q)
                        assert info.value.code == 1235, (q, info.value)

            trio.run(main)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
