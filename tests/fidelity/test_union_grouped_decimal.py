"""Issue 18: a UNION of a grouped block and a block with a DECIMAL column over shards.

MariaDB types such a union's column as the DECIMAL of the largest scale and integer
part of its blocks (``COUNT(*)`` BIGINT with ``amount`` DECIMAL(10,2) is DECIMAL(22,2)
and prints ``5.00``); the coordinator refused it (1235, "different types"). Now each
block whose scale differs is read as ``CAST(item AS DECIMAL(p, s))``
(:mod:`sharding.sql.union_plan`) and the union's definition is MariaDB's
(:func:`sharding.sql.describe.union_decimal`). Against one unsharded MariaDB, on 16
and 1024 shards and with tiny chunks:

* ``ANSWERED`` — must be answered (*same*): rows, values with their scale, names;
* ``NARROWED`` — forms that stay refused: an AVG block widened to a larger scale
  (docs/refusals.md), literal numbers — the same answer or a clear 1235;
* result column definitions (type, length, decimals, flags) as MariaDB announces them.
"""

from __future__ import annotations

import pymysql
import pytest

from tests.fidelity.harness import NOT_SUPPORTED, Case, Environment, Report

pytestmark = pytest.mark.mysql

ANSWERED = [
    Case(cls, sql)
    for cls, sql in [
        # A COUNT block (BIGINT) with a DECIMAL(10,2) column: DECIMAL(22,2).
        (
            "count",
            "SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id "
            "UNION SELECT customer_id, amount FROM orders",
        ),
        ("count", "SELECT COUNT(*) FROM orders UNION SELECT amount FROM orders"),
        ("count", "SELECT amount FROM orders UNION SELECT COUNT(*) FROM orders GROUP BY qty"),
        (
            "count",
            "SELECT status, COUNT(*) FROM orders GROUP BY status UNION "
            "SELECT status, amount FROM orders ORDER BY 2 DESC, 1 LIMIT 10",
        ),
        (
            "count",
            "SELECT qty, COUNT(*) c FROM orders GROUP BY qty UNION "
            "SELECT qty, amount FROM orders WHERE id < 30 ORDER BY c, qty",
        ),
        # SUM / MAX / AVG blocks of other scales.
        (
            "sum",
            "SELECT SUM(price) FROM order_items GROUP BY order_id UNION SELECT amount FROM orders",
        ),
        (
            "sum",
            "SELECT amount FROM orders WHERE id < 20 UNION "
            "SELECT SUM(price) FROM order_items GROUP BY order_id ORDER BY 1",
        ),
        ("sum", "SELECT SUM(qty) FROM orders GROUP BY status UNION SELECT amount FROM orders"),
        (
            "sum",
            "SELECT MAX(amount) FROM orders GROUP BY customer_id UNION ALL "
            "SELECT price FROM order_items WHERE order_id < 40 ORDER BY 1 DESC LIMIT 12",
        ),
        ("avg", "SELECT AVG(amount) FROM orders GROUP BY status UNION SELECT amount FROM orders"),
        (
            "avg",
            "SELECT status, AVG(qty) FROM orders GROUP BY status UNION ALL "
            "SELECT status, amount FROM orders WHERE id < 12 ORDER BY 1, 2",
        ),
        # Plain DECIMAL columns of different scales, integer columns with them.
        ("columns", "SELECT amount FROM orders UNION ALL SELECT price FROM order_items"),
        ("columns", "SELECT amount FROM orders UNION SELECT qty FROM orders ORDER BY 1 LIMIT 9"),
        (
            "columns",
            "SELECT id, amount FROM orders WHERE id < 50 UNION "
            "SELECT order_id, price FROM order_items WHERE order_id < 50 ORDER BY 1, 2",
        ),
        # Three blocks, INTERSECT / EXCEPT.
        (
            "three blocks",
            "SELECT COUNT(*) FROM orders GROUP BY customer_id UNION SELECT amount FROM orders "
            "UNION ALL SELECT price FROM order_items WHERE order_id < 30 ORDER BY 1",
        ),
        (
            "intersect except",
            "SELECT COUNT(*) FROM orders GROUP BY customer_id INTERSECT SELECT qty FROM orders",
        ),
        (
            "intersect except",
            "SELECT qty FROM orders EXCEPT SELECT SUM(amount) FROM orders GROUP BY customer_id",
        ),
    ]
]

NARROWED = [
    Case("narrowed", sql)
    for sql in [
        # An AVG block read at a larger scale than its own (AVG(qty) is DECIMAL(14,4),
        # AVG(amount) DECIMAL(14,6)): a function over a merged AVG.
        "SELECT AVG(qty) FROM orders GROUP BY status UNION "
        "SELECT AVG(amount) FROM orders GROUP BY customer_id",
        # A literal number's digits, not its type, make MariaDB's integer part; an item
        # with a literal is typed per call.
        "SELECT 1.5 UNION SELECT amount FROM orders",
        "SELECT 12345 UNION SELECT COUNT(*) + 0.5 FROM orders GROUP BY qty",
        "SELECT amount * 2 FROM orders UNION SELECT COUNT(*) FROM orders GROUP BY qty",
    ]
]

PREPARED = [
    (
        "SELECT status, COUNT(*) FROM orders WHERE qty > ? GROUP BY status UNION "
        "SELECT status, amount FROM orders WHERE id < ? ORDER BY 1, 2",
        (3, 20),
    ),
]

#: Result column definitions (type, length, decimals, flags) as MariaDB announces them.
DEFINITION_STATEMENTS = [
    "SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id "
    "UNION SELECT customer_id, amount FROM orders",
    "SELECT SUM(price) FROM order_items GROUP BY order_id UNION SELECT amount FROM orders",
    "SELECT AVG(amount) FROM orders GROUP BY status UNION SELECT amount FROM orders",
    "SELECT amount FROM orders UNION SELECT SUM(amount) FROM orders GROUP BY status",
    "SELECT amount FROM orders UNION ALL SELECT price FROM order_items",
    "SELECT COUNT(*) FROM orders GROUP BY qty UNION ALL SELECT amount FROM orders",
    "SELECT amount FROM orders UNION SELECT price FROM order_items UNION ALL SELECT qty FROM orders",
    "SELECT qty FROM orders UNION SELECT SUM(qty) FROM orders GROUP BY status",
]


def test_grouped_and_decimal_blocks_are_answered(env: Environment) -> None:
    report = env.run(ANSWERED)
    env.check(report, "issue 18: UNION of a grouped block and a DECIMAL column", answered=True)
    if env.answers_all:
        assert sum(c["same"] for c in report.counts.values()) == len(ANSWERED)


def test_narrowed_forms_are_answered_or_refused_never_wrong(env: Environment) -> None:
    report = env.run(NARROWED)
    env.check(report, "issue 18: UNION DECIMAL forms still refused")
    refused = "\n".join(report.clear)
    assert "a merged SUM/AVG" in refused or not env.answers_all, refused


def test_prepared_grouped_decimal_union(env: Environment) -> None:
    report = env.run_params("prepared", PREPARED, Report())
    env.check(report, "issue 18: prepared UNION DECIMAL", answered=True)
    if env.answers_all:
        assert report.counts["prepared"]["same"] == len(PREPARED)


@pytest.mark.parametrize("sql", DEFINITION_STATEMENTS)
def test_union_decimal_column_definitions(env: Environment, sql: str) -> None:
    """Type, length, decimals of every column as MariaDB announces them, and the
    flags of the DECIMAL ones (the unified columns). On the embedded SQLite default a
    refusal (1235) is its documented answer (``Environment.answers_all``)."""
    with env.connect_oracle() as o, env.connect_sharded() as s:
        co, cs = o.cursor(), s.cursor()
        co.execute(sql)
        try:
            cs.execute(sql)
        except pymysql.err.NotSupportedError as exc:
            assert exc.args[0] == NOT_SUPPORTED and not env.answers_all, (sql, exc)
            return
        assert [d[:6] for d in cs.description] == [d[:6] for d in co.description]
        mine = [f.flags for f in cs._result.fields if f.type_code == 246]
        assert mine == [f.flags for f in co._result.fields if f.type_code == 246]
        assert sorted(map(repr, cs.fetchall())) == sorted(map(repr, co.fetchall()))
