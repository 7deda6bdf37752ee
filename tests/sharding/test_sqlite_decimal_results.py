"""Computed numbers over DECIMAL columns on the embedded SQLite default (issue 15):
``Decimal`` with MySQL's scale, as MariaDB answers — values *and* Python types (PyMySQL
gives ``Decimal`` for NEWDECIMAL), statement by statement on 16 shards."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sharding.backend import sqlite_decimal_results, sqlite_mysql
from tests.sharding.test_sqlite_mysql_writes2 import R, W, _run, reference

__all__ = ["reference"]

pytestmark = pytest.mark.mysql

SCRIPT: list[tuple[str, str]] = [
    (W, "CREATE TABLE p (id INT PRIMARY KEY, price DECIMAL(8,2), q INT, d DOUBLE, r DECIMAL(5,3))"),
    (
        W,
        "INSERT INTO p VALUES (1, 10.25, 3, 1.5, 0.125), (2, 0.10, 1, 2.5, 1), "
        "(3, 99.99, 7, 0.1, 2.5), (4, NULL, 2, NULL, NULL), (5, 1.05, 5, 3, 0.001)",
    ),
    # one row per shard statement: every item computed on the shard
    (
        R,
        "SELECT id, price * 2, price + 1, price - 0.5, price * q, price / 3, "
        "ROUND(price * 1.1, 2), ROUND(price), price * 1.5, -price, ABS(price), price * d, "
        "CAST(price AS DOUBLE) / 3, FLOOR(price), ROUND(price, 4), "
        "CAST(price AS DECIMAL(10,4)), price % 1, price * r, price / r, r + price, "
        "TRUNCATE(price, 1), (price + 1) * 2 FROM p ORDER BY id",
    ),
    (R, "SELECT id, price / 3 AS third, price * q AS total FROM p WHERE id IN (1, 2) ORDER BY id"),
    (R, "SELECT SUM(price), AVG(price), MIN(price), MAX(r), SUM(price) / 3 FROM p WHERE id = 1"),
    (R, "SELECT SUM(price * q), COUNT(price), SUM(r) FROM p WHERE id = 3"),
    # merged over the shards: the partials are Decimal, so the sums stay exact
    (R, "SELECT SUM(price), SUM(price * q), MIN(price), MAX(price), SUM(r) FROM p"),
    (R, "SELECT q, SUM(price), MIN(price * 2) FROM p GROUP BY q ORDER BY q"),
    (R, "SELECT id, price FROM p WHERE price * 2 > 20 ORDER BY price * 3 DESC"),
    (R, "SELECT id, price * 2 FROM p ORDER BY price * 2 DESC, id LIMIT 3"),
]


async def test_computed_decimals_match_mariadb(reference: Any, tmp_path: Path) -> None:
    await _run(SCRIPT, reference, tmp_path)


def test_plan_follows_mysql_rules() -> None:
    """Which items convert, to which scale, straight from a shard statement."""
    raw = sqlite3.connect(":memory:")
    sqlite_mysql.install(raw)
    raw.execute(f"CREATE TABLE t (a {sqlite_mysql.decimal_type(8, 2)}, n INT, f DOUBLE, s TEXT)")
    sql = (
        "SELECT t.a, t.a * 2, sg_div(t.a, 3), SUM(t.n), AVG(t.a), t.a + t.f, "
        "CAST(t.a AS REAL) / 3, t.s || 'x', ROUND(t.a, 1), FLOOR(t.a), t.n + 1 FROM t"
    )
    # SUM(t.n) and t.n + 1 read no DECIMAL column: left as SQLite computes them
    assert sqlite_decimal_results.plan(raw, sql) == (
        None,
        2,
        6,
        None,
        6,
        None,
        None,
        None,
        1,
        -1,
        None,
    )
    assert sqlite_decimal_results.plan(raw, "SELECT t.a, t.n FROM t") is None
    assert sqlite_decimal_results.plan(raw, "SELECT * FROM t WHERE n = 1 + 1") is None
    rows = sqlite_decimal_results.convert([(0.15000000000000002, 3.0, 5e-07)], (3, -1, 6))
    assert rows == [(Decimal("0.150"), 3, Decimal("0.000001"))]
