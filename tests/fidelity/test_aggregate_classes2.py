"""Issue 18, item 6 (continued): STD/VARIANCE, WITH ROLLUP, MySQL functions over merged
aggregates in HAVING and ORDER BY — against one unsharded MariaDB on 16 and 1024
shards with tiny chunks (``VARIANTS``).

``STD/STDDEV/STDDEV_POP/STDDEV_SAMP/VARIANCE/VAR_POP/VAR_SAMP`` of a column: the shards
send ``COUNT(x)``, ``SUM(x)`` and an exact ``SUM(x * x)`` (INT/DECIMAL columns) or their
``VAR_POP(x)`` (DOUBLE columns); the moments add up as exact fractions and the result is
rounded once (``sharding/merge/aggregates.py``). MariaDB shows an INT/DECIMAL
argument's variance as a DOUBLE with the argument's scale + 4: those answers are
compared exactly. A DOUBLE argument's variance is all 17 digits of MariaDB's own
running (Welford) computation in its scan order, whose last digits depend on that order
(MariaDB itself gives other last digits for another order): those are compared with a
relative tolerance of 1e-12 (:func:`_check_close`), every other column exactly.

``GROUP BY ... WITH ROLLUP``: super-aggregate rows in MySQL's order, streamed by the
OrderedAggregate (HAVING on merged rows, LIMIT not pushed down; ``ORDER BY`` is
MariaDB's error 1221). MySQL functions over merged aggregates in HAVING and ORDER BY
(and a sorted or DISTINCT select item): computed by the data source from the merged
values, sorted with their text inputs' collation.

Refused (1235): STD/VARIANCE of an expression, ROLLUP above a cross-shard join, and a
sorted computed text of several collations (GROUP_CONCAT: tests/fidelity/
test_group_concat.py). The harness runs MariaDB shards only (the SQLite default
refuses STD/VARIANCE; golden plans pin that).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.fidelity.harness import (
    NOT_SUPPORTED,
    Case,
    Environment,
    run_statement,
    top_level_ordered,
)

pytestmark = pytest.mark.mysql

VARIANCE_EXACT = [
    "SELECT STD(qty), STDDEV(qty), STDDEV_POP(qty), STDDEV_SAMP(qty), VARIANCE(qty), "
    "VAR_POP(qty), VAR_SAMP(qty) FROM orders",
    "SELECT STD(amount), VAR_POP(amount), VAR_SAMP(amount), STDDEV_SAMP(amount) FROM orders",
    "SELECT size, STDDEV(qty), VAR_SAMP(amount) v FROM orders GROUP BY size ORDER BY size",
    "SELECT customer_id % 7 g, STD(id), VARIANCE(qty), COUNT(qty) FROM orders "
    "GROUP BY g ORDER BY g",
    # No rows, one row (a sample variance of one value is NULL), all NULL arguments.
    "SELECT STD(qty), VAR_SAMP(qty), VARIANCE(amount) FROM orders WHERE id < 0",
    "SELECT VAR_SAMP(qty), VAR_POP(qty), STD(amount) FROM orders WHERE id = 5",
    "SELECT id, VAR_SAMP(qty), STD(amount) FROM orders WHERE id IN (13, 17, 26) "
    "GROUP BY id ORDER BY id",
    "SELECT customer_id, VAR_POP(qty) FROM orders GROUP BY customer_id "
    "HAVING VAR_POP(qty) > 8 ORDER BY VAR_POP(qty) DESC, customer_id LIMIT 5",
    # Shown with 4 decimals, compared with all digits (as MariaDB does).
    "SELECT size, VAR_POP(qty) > 7.2, STD(qty) FROM orders GROUP BY size "
    "HAVING STD(qty) < 2.6 ORDER BY STD(qty)",
    "SELECT VARIANCE(price), STD(line) FROM order_items",
    "SELECT size, STD(price) FROM orders o JOIN order_items i ON i.order_id = o.id "
    "GROUP BY size ORDER BY size",
    "SELECT VAR_POP(n), STD(n) FROM tags",
]

VARIANCE_DOUBLE = [
    "SELECT STD(score), VARIANCE(score), VAR_SAMP(score), STDDEV_SAMP(score) FROM events",
    "SELECT kind, STD(score), VAR_POP(score) FROM events GROUP BY kind ORDER BY kind",
    "SELECT customer_id % 4 g, VAR_SAMP(score) FROM events GROUP BY g ORDER BY g",
    "SELECT o.size, STD(e.score), VAR_POP(o.qty) FROM orders o JOIN events e "
    "ON e.id = o.id GROUP BY o.size ORDER BY o.size",
    "SELECT STD(score) FROM events WHERE id < 0",
]

ROLLUP = [
    "SELECT size, COUNT(*), SUM(amount), AVG(qty) FROM orders GROUP BY size WITH ROLLUP",
    "SELECT size, qty, COUNT(*), MAX(created), MIN(note) FROM orders "
    "GROUP BY size, qty WITH ROLLUP",
    "SELECT customer_id % 3 g, size, qty, COUNT(*), STD(qty) FROM orders "
    "GROUP BY g, size, qty WITH ROLLUP",
    "SELECT size, COUNT(*) c FROM orders GROUP BY size WITH ROLLUP HAVING c > 50",
    "SELECT size, qty, COUNT(*) FROM orders GROUP BY size, qty WITH ROLLUP HAVING qty IS NULL",
    "SELECT qty, COUNT(DISTINCT status), COUNT(DISTINCT size, qty) FROM orders "
    "GROUP BY qty WITH ROLLUP",
    "SELECT qty, COUNT(*) FROM orders GROUP BY qty WITH ROLLUP LIMIT 4",
    "SELECT qty, COUNT(*) FROM orders GROUP BY qty WITH ROLLUP LIMIT 3, 20",
    "SELECT qty, COUNT(*) FROM orders WHERE id < 0 GROUP BY qty WITH ROLLUP",
    "SELECT qty + 1, qty IS NULL, COUNT(*), CONCAT(qty, '/', COUNT(*)) FROM orders "
    "GROUP BY qty WITH ROLLUP",
    "SELECT name, SUM(n) FROM tags GROUP BY name WITH ROLLUP",
    "SELECT size, BIT_OR(qty), COUNT(*) FROM orders GROUP BY size WITH ROLLUP",
    # MariaDB refuses ROLLUP with ORDER BY (1221): the same error.
    "SELECT size, COUNT(*) FROM orders GROUP BY size WITH ROLLUP ORDER BY size",
]

FUNCTIONS = [
    "SELECT size, COUNT(*) FROM orders GROUP BY size "
    "HAVING CONCAT(MAX(status), 'x') <> 'shippedx' ORDER BY size",
    "SELECT customer_id % 7 g, COUNT(*) FROM orders GROUP BY g "
    "HAVING CONCAT(MAX(status), 'x') = 'shippedx' ORDER BY g",
    "SELECT status, COUNT(*) FROM orders GROUP BY status "
    "HAVING LEFT(MAX(note), 6) = 'note 2' AND COUNT(*) > 3 ORDER BY COUNT(*), MIN(id)",
    "SELECT size FROM orders GROUP BY size HAVING COALESCE(MAX(note), '') <> '' "
    "AND IF(COUNT(*) > 10, 1, 0) ORDER BY size",
    "SELECT customer_id % 5 g, AVG(qty) FROM orders GROUP BY g ORDER BY ROUND(AVG(qty), 1) DESC, g",
    "SELECT UPPER(MIN(status)) u FROM orders GROUP BY size ORDER BY u",
    "SELECT size, CONCAT(MAX(status), '-') c FROM orders GROUP BY size ORDER BY c DESC, size",
    "SELECT size, COUNT(*) FROM orders GROUP BY size ORDER BY LPAD(MAX(qty), 3, '0'), size",
    "SELECT CONCAT(COUNT(*), 'x') c FROM orders GROUP BY size ORDER BY c",
    "SELECT DISTINCT LEFT(MAX(status), 3) FROM orders GROUP BY customer_id",
    # A utf8mb4_bin column sorts and compares by its own collation.
    "SELECT n % 2 g, MAX(name) FROM tags GROUP BY g ORDER BY CONCAT(MAX(name), '') DESC",
    "SELECT n % 2 g, MAX(name) FROM tags GROUP BY g HAVING CONCAT(MAX(name), '') = 'é'",
    "SELECT DISTINCT LOWER(MIN(name)) FROM tags GROUP BY n",
    # NULL aggregates and empty input.
    "SELECT size, COUNT(*) FROM orders WHERE id < 0 GROUP BY size "
    "HAVING CONCAT(MAX(status), '') IS NULL",
    "SELECT COUNT(*) FROM orders WHERE id < 0 HAVING IFNULL(MAX(note), 'none') = 'none'",
    "SELECT o.size, COUNT(*) FROM orders o JOIN events e ON e.id = o.id GROUP BY o.size "
    "HAVING CONCAT(MIN(e.kind), '') = 'buy' ORDER BY o.size",
]

REFUSED = [
    "SELECT STD(qty + 1) FROM orders",
    # An INT/DECIMAL variance is shown with a fixed scale but computes with every digit.
    "SELECT size, ROUND(STD(qty), 2) FROM orders GROUP BY size ORDER BY size",
    "SELECT STD(qty) * 2, CONCAT(VARIANCE(amount)) FROM orders",
    "SELECT VARIANCE(status) FROM orders",
    "SELECT o.size, COUNT(*) FROM orders o JOIN events e ON e.id = o.id "
    "GROUP BY o.size WITH ROLLUP",
    # MariaDB keeps the super-aggregate row (NULL) next to the NULL group's equal row.
    "SELECT DISTINCT size, COUNT(*) > 0 FROM orders GROUP BY size WITH ROLLUP",
    # Text of two collations: MySQL's coercibility rules pick the result's collation.
    "SELECT n FROM tags t JOIN orders o ON o.id = t.n GROUP BY n "
    "ORDER BY CONCAT(MAX(t.name), MAX(o.status))",
]


def test_variance_of_exact_columns(env: Environment) -> None:
    report = env.run([Case("std/variance exact", sql) for sql in VARIANCE_EXACT])
    env.check(report, "issue 18.6: STD/VARIANCE", answered=True)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)
    return type(a) is type(b) and a == b


def _check_close(env: Environment, sql: str) -> None:
    """One statement on both sides: names, row count, warnings and every value equal,
    floats within a relative 1e-12 (module docstring)."""
    with env.connect_oracle() as o, env.connect_sharded() as s:
        a, b = run_statement(o, sql), run_statement(s, sql)
    if b.error == NOT_SUPPORTED and a.error is None and not env.answers_all:
        return  # the embedded default's documented refusal (Environment.answers_all)
    assert a.error is None and b.error is None, (sql, a, b)
    assert a.columns == b.columns and a.warnings == b.warnings, (sql, a, b)
    rows_a, rows_b = list(a.rows), list(b.rows)
    if not top_level_ordered(sql):
        rows_a.sort(key=repr)
        rows_b.sort(key=repr)
    assert len(rows_a) == len(rows_b), (sql, rows_a, rows_b)
    for ra, rb in zip(rows_a, rows_b, strict=True):
        assert all(_close(x, y) for x, y in zip(ra, rb, strict=True)), (sql, ra, rb)


@pytest.mark.parametrize("sql", VARIANCE_DOUBLE)
def test_variance_of_double_columns(env: Environment, sql: str) -> None:
    _check_close(env, sql)


def test_with_rollup(env: Environment) -> None:
    report = env.run([Case("with rollup", sql) for sql in ROLLUP])
    env.check(report, "issue 18.6: WITH ROLLUP", answered=True)


def test_functions_in_having_and_order_by(env: Environment) -> None:
    report = env.run([Case("functions in having/order", sql) for sql in FUNCTIONS])
    env.check(report, "issue 18.6: HAVING / ORDER BY functions", answered=True)


def test_forms_without_an_exact_merge_are_refused(env: Environment) -> None:
    report = env.run([Case("aggregates refused", sql) for sql in REFUSED])
    env.check(report, "issue 18.6: refused forms")
    assert report.counts["aggregates refused"]["clear"] == len(REFUSED)
