"""Computed numbers on the embedded SQLite default (issue 15): ``Decimal`` with MySQL's
scale, as MariaDB answers — values *and* Python types (PyMySQL gives ``Decimal`` for
NEWDECIMAL), statement by statement on 16 shards with two-row chunks; over DECIMAL
columns and over integers (``q / 3``, ``SUM(q)``, ``AVG(q)``, BIGINT quotients beyond
a REAL's 15 digits). The integer rules are also checked with hypothesis against an
exact reference of MySQL's rules (always) and against MariaDB (``mysql`` mark)."""

from __future__ import annotations

import sqlite3
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings

from sharding.backend import sqlite as sqlite_backend
from sharding.backend import sqlite_decimal_results, sqlite_mysql
from sharding.sql.rewrite import keep_backend_semantics
from tests.sharding.test_sqlite_mysql_semantics import _typed
from tests.sharding.test_sqlite_mysql_writes2 import R, W, _run, reference

__all__ = ["reference"]

EXACT = Context(prec=100)

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
    # integer operands: MySQL's DECIMAL too (``q / 3``, ``SUM(q)``, ``AVG(q)``)
    (W, "CREATE TABLE b (id INT PRIMARY KEY, big BIGINT, q INT, d DOUBLE)"),
    (
        W,
        "INSERT INTO b VALUES (1, 9007199254740993, 7, 0.5), (2, -4611686018427387903, -3, 1.25), "
        "(3, 1234567890123456789, 2, NULL), (4, NULL, 0, 2), (5, 999999999999999999, 5, -1.5), "
        "(6, 20000, 160000, 3), (7, 3, 32, 0.25)",
    ),
    (R, "SELECT id, big / 3, big / 7, q / 3, big / q, 7 / q, q / 32, q * 1.5 FROM b ORDER BY id"),
    (
        R,
        "SELECT id, q / 3 * 3, q / 3 + d, q / 3 * 0.5, -q / 7, ABS(q / 9), -big / 9 FROM b ORDER BY id",
    ),
    (R, "SELECT SUM(big), AVG(big), SUM(q), AVG(q), SUM(q) / COUNT(*), AVG(q) * 2 FROM b"),
    (R, "SELECT SUM(big), AVG(big), AVG(q), SUM(q) / 7 FROM b WHERE id = 5"),
    (R, "SELECT q % 2 AS g, SUM(big), AVG(big), AVG(q), MAX(big) / 3 FROM b GROUP BY g ORDER BY g"),
    (R, "SELECT AVG(q), SUM(d), AVG(d), SUM(q) * d FROM b GROUP BY d ORDER BY d"),
    (R, "SELECT 7 / 2, -7 / 2, 1 / 3, 2 / 3, 9223372036854775807 / 2, 1 / 3 * 3, 5 / 0"),
]


@pytest.mark.mysql
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
    # over integers as well: SUM(t.n) is a scale-0 DECIMAL, t.n + 1 an integer
    how = sqlite_decimal_results.plan(raw, sql)
    assert how is not None
    assert how.scales == (None, 2, 6, 0, 6, None, None, None, 1, -1, -1)
    assert how.exact == (False, False, False, True, False, False, False, False, False, False, False)
    how = sqlite_decimal_results.plan(
        raw,
        "SELECT sg_div(t.n, 3), AVG(t.n), sg_div(t.n, 3) + 1, COUNT(*), SUM(LENGTH(t.s)) FROM t",
    )
    assert how == (
        (4, 4, 4, -1, sqlite_decimal_results.INTEGER_SUM),
        (True, True, False, False, True),
    )
    assert sqlite_decimal_results.plan(raw, "SELECT sg_div(7, 2), 1.50") == ((4, 2), (True, False))
    assert sqlite_decimal_results.plan(raw, "SELECT t.a, t.n FROM t") is None
    assert sqlite_decimal_results.plan(raw, "SELECT * FROM t WHERE n = 1 + 1") is None
    how = sqlite_decimal_results.Plan((3, -1, 6, sqlite_decimal_results.INTEGER_SUM), (False,) * 4)
    rows = sqlite_decimal_results.convert([(0.15000000000000002, 3.0, 5e-07, 12)], how)
    assert rows == [(Decimal("0.150"), 3, Decimal("0.000001"), Decimal("12"))]


# ---------------------------------------------------------------------- integers
#: BIGINT values: quotients far beyond the 15 digits a REAL carries.
BIGINTS = st.integers(-(10**15), 10**15)
DIVISORS = st.integers(-1000, 1000).filter(bool)


def _layered() -> sqlite3.Connection:
    raw = sqlite3.connect(":memory:", detect_types=sqlite_mysql.DETECT_TYPES)
    sqlite_mysql.install(raw)
    raw.execute("CREATE TABLE ints (a BIGINT, b BIGINT)")
    return raw


def _ours(raw: sqlite3.Connection, mysql_sql: str) -> tuple[Any, ...]:
    """One row of ``mysql_sql`` as a SQLite shard answers it: translated as the
    coordinator translates shard statements, run and typed by the backend's fetch."""
    tree = sqlglot.parse_one(mysql_sql, read="mysql")
    keep_backend_semantics(tree, "sqlite")
    result = sqlite_backend._fetch(tree.sql(dialect="sqlite"))(raw)
    return tuple(result.rows[0])


def _half_up(d: Decimal, scale: int) -> Decimal:
    return d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=EXACT)


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(values=st.lists(st.tuples(BIGINTS, DIVISORS), min_size=1, max_size=30))
def test_integer_arithmetic_matches_mysql_rules(values: list[tuple[int, int]]) -> None:
    """The reference: MySQL's rules in exact ``Decimal`` arithmetic — ``a / b`` is the
    quotient rounded half up to scale 4, ``SUM`` the exact sum (scale 0), ``AVG`` the
    exact mean rounded half up to scale 4 — never the nearest REAL's digits."""
    raw = _layered()
    raw.executemany("INSERT INTO ints VALUES (?, ?)", values)
    total = sum(a for a, _ in values)
    assert _ours(raw, "SELECT SUM(a), AVG(a), SUM(b), AVG(b) FROM ints") == (
        Decimal(total),
        _half_up(Decimal(total) / len(values), 4),
        Decimal(sum(b for _, b in values)),
        _half_up(Decimal(sum(b for _, b in values)) / len(values), 4),
    )
    for a, b in values:
        got = _ours(
            raw,
            f"SELECT a / b, a / 7, {a} / {b}, a * 2, -a / b FROM ints WHERE a = {a} AND b = {b}",
        )
        assert got == (
            _half_up(EXACT.divide(Decimal(a), Decimal(b)), 4),
            _half_up(EXACT.divide(Decimal(a), Decimal(7)), 4),
            _half_up(EXACT.divide(Decimal(a), Decimal(b)), 4),
            a * 2,
            _half_up(EXACT.divide(Decimal(-a), Decimal(b)), 4),
        ), (a, b)
        assert all(type(v) is Decimal for v in (got[0], got[1], got[2], got[4]))


@pytest.mark.mysql
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(values=st.lists(st.tuples(BIGINTS, DIVISORS), min_size=1, max_size=20))
def test_integer_arithmetic_matches_mariadb(reference: Any, values: list[tuple[int, int]]) -> None:
    """The same shard-level results against MariaDB itself, types included."""
    raw = _layered()
    raw.executemany("INSERT INTO ints VALUES (?, ?)", values)
    queries = [
        "SELECT SUM(a), AVG(a), SUM(b), AVG(b), SUM(a) / 3, AVG(b) * 2 FROM ints",
        "SELECT a / b, a / 7, -a / b, b / 7 * 3, b / 3 + 0.5, b * 1.5, a DIV b FROM ints "
        "ORDER BY a, b",
    ]
    with reference.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE ints (a BIGINT, b BIGINT)")
        try:
            cur.executemany("INSERT INTO ints VALUES (%s, %s)", values)
            for sql in queries:
                cur.execute(sql)
                theirs = [tuple(r) for r in cur.fetchall()]
                tree = sqlglot.parse_one(sql, read="mysql")
                keep_backend_semantics(tree, "sqlite")
                mine = sqlite_backend._fetch(tree.sql(dialect="sqlite"))(raw).rows
                assert _typed([tuple(r) for r in mine]) == _typed(theirs), (sql, values)
        finally:
            cur.execute("DROP TEMPORARY TABLE ints")


def test_sum_beyond_bigint_is_exact() -> None:
    """MySQL's SUM of BIGINTs is a DECIMAL that does not overflow at 2**63; SQLite's sum
    leaves BIGINT there, so the shard hands the nearest REAL and keeps the exact sum."""
    raw = _layered()
    values = [(2**62 + 1, 3), (2**62 + 1, 3), (2**62 + 1, 3)]
    raw.executemany("INSERT INTO ints VALUES (?, ?)", values)
    total = Decimal(3 * (2**62 + 1))
    assert _ours(raw, "SELECT SUM(a), AVG(a), SUM(b), AVG(b) FROM ints") == (
        total,
        _half_up(total / 3, 4),
        Decimal(9),
        Decimal("3.0000"),
    )
