"""MySQL's comparison of a DATE/DATETIME operand on SQLite shards
(:mod:`sharding.backend.sqlite_temporal`).

The corpus answers are measured against MariaDB in ``test_sqlite_mysql_semantics.py``
(class ``temporal``); here: MySQL's reading of constants as dates, edge forms
(``<=>``, a DATE against a DATETIME at midnight, two-digit years, punctuation) against
MariaDB, and the 1235 for what is refused.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import trio
from sqlglot import exp

from sharding import Coordinator, Topology
from sharding.backend import sqlite_temporal
from sharding.errors import NotSupported, ShardgateError
from tests.sharding.mariadb_reference import reference_database


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


def _differential(
    tmp_path: Path, prefix: str, setup: list[str], queries: list[str], refused: list[str]
) -> None:
    """``queries`` answer as MariaDB's on 4 SQLite shards; ``refused`` are 1235."""
    with reference_database(prefix, *setup) as (_, cur):

        async def main() -> None:
            topo = Topology.default(tmp_path, default_shards=4)
            async with Coordinator(topo, catalog_refresh=None) as coord:
                s = coord.open_session(database="db")
                for sql in setup:
                    await s.execute(sql)
                for q in queries:
                    cur.execute(q)
                    want = [tuple(r) for r in cur.fetchall()]
                    got = [tuple(r) for r in (await s.execute(q)).rows]
                    assert got == want, (q, got, want)
                for q in refused:
                    with pytest.raises(ShardgateError) as info:
                        await s.execute(q)
                    assert info.value.code == 1235, (q, info.value)

        trio.run(main)


@pytest.mark.mysql
def test_against_mariadb(tmp_path: Path) -> None:
    _differential(tmp_path, "sgtemporal", [DDL, "INSERT INTO t VALUES " + ROWS], QUERIES, REFUSED)


@pytest.mark.parametrize(
    ("text", "string", "fsp", "want"),
    [
        ("10:00:00", True, 0, "10:00:00"),
        ("100000", False, 0, "10:00:00"),
        ("1:2:3", True, 0, "01:02:03"),
        ("10:00", True, 0, "10:00:00"),
        ("1000", False, 0, "00:10:00"),
        ("1 10:00:00", True, 0, "34:00:00"),
        ("10:00:00.5", True, 3, "10:00:00.500"),
        ("10:00:00.5000", True, 0, "10:00:00.5"),
        ("10:00:00.1234", True, 2, "10:00:00.1234"),
    ],
)
def test_time_constant(text: str, string: bool, fsp: int, want: str) -> None:
    found = sqlite_temporal.time_constant(_literal(text, string))
    assert found is not None and sqlite_temporal.time_compared(found, fsp) == want


@pytest.mark.parametrize("text", ["abc", "100:00:00", "-1:00:00", "10:60:00", "20240105101112"])
def test_time_constant_refused(text: str) -> None:
    with pytest.raises(NotSupported):
        sqlite_temporal.time_constant(_literal(text, True))


TIME_DDL = "CREATE TABLE tm (id INT PRIMARY KEY, a TIME, b TIME(2), s VARCHAR(10))"
TIME_ROWS = (
    "(1, '10:00:00', '10:00:00.5', 'x'), (2, '09:59:59', '10:00:00', 'y'), (3, NULL, NULL, NULL)"
)
TIME_QUERIES = [
    "SELECT id FROM tm WHERE a >= '10:00' ORDER BY id",
    "SELECT id FROM tm WHERE a < 100000 ORDER BY id",
    "SELECT id FROM tm WHERE b = '10:00:00.50' ORDER BY id",
    "SELECT id FROM tm WHERE b > '10:00:00.4999' ORDER BY id",
    "SELECT id FROM tm WHERE a <=> '9:59:59' ORDER BY id",
    "SELECT id FROM tm WHERE a NOT IN ('10:00:00', 95959) ORDER BY id",
    "SELECT id FROM tm WHERE b BETWEEN 95959 AND '10:00:00.1' ORDER BY id",
    "SELECT id, a, b FROM tm ORDER BY id",
]
TIME_REFUSED = [
    "SELECT id FROM tm WHERE a = s",
    "SELECT id FROM tm WHERE a = b",
    "SELECT id FROM tm WHERE a > '100:00:00'",
    "SELECT id FROM tm WHERE '10:00:00' IN (a, b)",
]


@pytest.mark.mysql
def test_time_against_mariadb(tmp_path: Path) -> None:
    setup = [TIME_DDL, "INSERT INTO tm VALUES " + TIME_ROWS]
    _differential(tmp_path, "sgtemporaltime", setup, TIME_QUERIES, TIME_REFUSED)
