"""Issue 18: ``x [NOT] IN (SELECT k …)`` past ``cluster.subquery_rows`` as a semi/anti join.

With the bound lowered (``SUBQUERY_ROWS`` values), every subquery below has more values
than it: a plain row filter of integer keys still runs in pages
(``sharding/sql/paged_in.py``); the other shapes — aggregates, ``GROUP BY``, ``ORDER BY
… LIMIT``, ``DISTINCT`` over the filtered rows, text keys, ``NOT IN`` (MySQL's NULL
rules: a NULL among the values, a NULL ``x``), ``NOT EXISTS`` — run as a join of the
table with the subquery's distinct values (``sharding/sql/semi_join.py``). Against one
unsharded MariaDB on 16 and 1024 shards with tiny chunks: rows, column names and
types. What has no exact join (keys of different types, the ``IN`` under ``OR``) is a
1235 naming ``cluster.subquery_rows``; the derived side past ``cluster.union_rows`` a
1235 naming that.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
import pytest

from tests.fidelity.harness import Case, Environment, Report

pytestmark = pytest.mark.mysql

#: The lowered bound: every subquery of the cases has more distinct values.
SUBQUERY_ROWS = 2

SEMI = [
    # Aggregates, GROUP BY, ORDER BY … LIMIT, DISTINCT over the filtered rows.
    "SELECT COUNT(*), SUM(amount), MAX(created) FROM orders WHERE id IN "
    "(SELECT order_id FROM order_items)",
    "SELECT customer_id, COUNT(*), SUM(qty) FROM orders WHERE customer_id IN "
    "(SELECT id FROM customers WHERE tier = 2) GROUP BY customer_id ORDER BY customer_id",
    "SELECT size, COUNT(*), AVG(amount) FROM orders WHERE qty > 2 AND id IN "
    "(SELECT order_id FROM order_items WHERE line > 1) GROUP BY size ORDER BY size",
    "SELECT id, qty FROM orders WHERE qty > 2 AND id IN (SELECT order_id FROM order_items) "
    "ORDER BY qty DESC, id LIMIT 7",
    "SELECT id FROM orders WHERE id IN (SELECT order_id FROM order_items) "
    "ORDER BY id LIMIT 5 OFFSET 10",
    "SELECT DISTINCT qty FROM orders WHERE id IN (SELECT order_id FROM order_items) ORDER BY qty",
    "SELECT COUNT(DISTINCT customer_id) FROM orders WHERE id IN (SELECT order_id FROM order_items)",
    "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE qty > 3) "
    "ORDER BY id",
    "SELECT customer_id, COUNT(*) n FROM orders WHERE id IN (SELECT order_id FROM order_items) "
    "GROUP BY customer_id HAVING n > 1 ORDER BY n DESC, customer_id LIMIT 5",
    # The subquery grouped, or a UNION ALL (its values distinct all the same).
    "SELECT COUNT(*) FROM orders WHERE amount IN (SELECT MAX(amount) FROM orders GROUP BY qty)",
    "SELECT COUNT(*), SUM(qty) FROM orders WHERE id IN "
    "(SELECT order_id FROM order_items UNION ALL SELECT order_id + 1 FROM order_items)",
    # Text keys under their collation (general_ci with PAD SPACE; utf8mb4_bin).
    "SELECT id, name FROM customers WHERE region IN (SELECT code FROM regions) ORDER BY id",
    "SELECT status, COUNT(*) FROM orders WHERE status IN "
    "(SELECT status FROM orders WHERE id < 30) GROUP BY status ORDER BY status",
    "SELECT COUNT(*) FROM orders WHERE status IN (SELECT status FROM orders WHERE id < 30)",
    "SELECT name, n FROM tags WHERE name IN (SELECT name FROM tags WHERE n > 1) ORDER BY n",
    "SELECT kind, COUNT(*) FROM events WHERE kind IN (SELECT kind FROM events WHERE id < 100) "
    "GROUP BY kind ORDER BY kind",
    # A broadcast table filtered by a sharded subquery.
    "SELECT code, weight FROM regions WHERE code IN (SELECT region FROM customers) ORDER BY code",
    # Keys of other types: DECIMAL, DOUBLE, DATETIME, BIGINT with INT.
    "SELECT COUNT(*), SUM(qty) FROM orders WHERE amount IN (SELECT amount FROM orders WHERE qty > 4)",
    "SELECT COUNT(*), SUM(id) FROM events WHERE score IN (SELECT score FROM events WHERE id < 100)",
    "SELECT COUNT(*) FROM orders WHERE created IN (SELECT created FROM orders WHERE qty > 4)",
    "SELECT COUNT(*), MIN(status) FROM orders WHERE id IN (SELECT customer_id FROM orders)",
    # Aliases; the same column name inside and outside; the select list computed.
    "SELECT o.id, o.qty * 2 AS q2, UPPER(o.status) FROM orders o WHERE o.qty > 1 AND o.id IN "
    "(SELECT id FROM customers WHERE tier = 1) ORDER BY o.id",
    "SELECT * FROM regions r WHERE r.code IN (SELECT region FROM customers) ORDER BY 1",
    "SELECT id, status FROM orders WHERE id = 5 AND id IN (SELECT order_id FROM order_items)",
    "SELECT COUNT(*) FROM orders WHERE id IN "
    "(SELECT order_id FROM order_items UNION ALL SELECT id FROM orders WHERE qty = 1)",
    # EXISTS of one equality (decorrelated into an IN).
    "SELECT COUNT(*) FROM customers c WHERE EXISTS "
    "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.qty > 4)",
]

ANTI = [
    # No NULL among the values: an anti join; a NULL x never qualifies.
    "SELECT COUNT(*) FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)",
    "SELECT id FROM customers WHERE id NOT IN (SELECT customer_id FROM orders WHERE qty > 2) "
    "ORDER BY id",
    "SELECT COUNT(*), SUM(amount) FROM orders WHERE qty NOT IN "
    "(SELECT tier FROM customers WHERE tier IS NOT NULL)",
    "SELECT id, tier FROM customers WHERE tier NOT IN "
    "(SELECT qty FROM orders WHERE qty > 1) ORDER BY id",
    "SELECT region, COUNT(*) FROM customers WHERE id NOT IN "
    "(SELECT customer_id FROM orders WHERE qty > 4) GROUP BY region ORDER BY region",
    "SELECT id FROM customers WHERE NOT (id IN (SELECT customer_id FROM events)) ORDER BY id",
    "SELECT id, region FROM customers WHERE region NOT IN (SELECT code FROM regions) ORDER BY id",
    "SELECT DISTINCT region FROM customers WHERE id NOT IN "
    "(SELECT customer_id FROM orders WHERE qty > 5) ORDER BY region LIMIT 3",
    # A NULL among the values: no row qualifies.
    "SELECT COUNT(*) FROM orders WHERE qty NOT IN (SELECT tier FROM customers)",
    "SELECT id FROM orders WHERE qty > 3 AND qty NOT IN (SELECT tier FROM customers) ORDER BY id",
    "SELECT COUNT(*) FROM customers WHERE region NOT IN (SELECT region FROM customers)",
    # The subquery empty (under the bound: a value list, TRUE for every row, NULLs too).
    "SELECT COUNT(*) FROM customers WHERE tier NOT IN (SELECT qty FROM orders WHERE qty > 100)",
    # NOT EXISTS of one equality: TRUE for a NULL x too.
    "SELECT COUNT(*) FROM customers c WHERE NOT EXISTS "
    "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.qty > 4)",
    "SELECT id FROM customers c WHERE NOT EXISTS "
    "(SELECT 1 FROM customers d WHERE d.tier = c.tier AND d.id < 20) ORDER BY id",
]

#: Forms the join may refuse (1235); never a wrong answer.
EDGE = [
    "SELECT COUNT(*) FROM orders WHERE status IN (SELECT CONCAT(status, ' ') FROM orders)",
    "SELECT COUNT(*) FROM tags WHERE name IN (SELECT CONCAT(name, '  ') FROM tags)",
    "SELECT COUNT(*) FROM orders WHERE size IN (SELECT size FROM orders)",
    "SELECT COUNT(*) FROM customers WHERE tier NOT IN "
    "(SELECT qty FROM orders WHERE qty > 1 UNION ALL SELECT 9)",
    "SELECT COUNT(*) FROM customers WHERE tier NOT IN (SELECT qty FROM orders UNION SELECT 9)",
    "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM orders WHERE id IN "
    "(SELECT order_id FROM order_items) ORDER BY id LIMIT 3",
    "SELECT qty, GROUP_CONCAT(id ORDER BY id) FROM orders WHERE id IN "
    "(SELECT order_id FROM order_items) GROUP BY qty",
    "SELECT qty, COUNT(*) FROM orders WHERE id IN (SELECT order_id FROM order_items) "
    "GROUP BY qty WITH ROLLUP",
    # Temporal keys of other types (a DATETIME equals a DATE at midnight in MySQL).
    "SELECT COUNT(*) FROM orders WHERE created IN (SELECT DATE(created) FROM orders)",
    "SELECT COUNT(*) FROM orders WHERE created IN "
    "(SELECT DATE(created) FROM orders UNION ALL SELECT created FROM orders WHERE qty = 1)",
    "SELECT COUNT(*) FROM orders WHERE created NOT IN (SELECT DATE(created) FROM orders)",
    "SELECT COUNT(*) FROM orders WHERE created IN (SELECT CAST(created AS DATE) FROM orders)",
    "SELECT COUNT(*) FROM orders WHERE created IN (SELECT TIMESTAMP(DATE(created)) FROM orders)",
    "SELECT COUNT(*) FROM orders WHERE id IN (SELECT YEAR(created) - 2000 FROM orders)",
    "SELECT COUNT(*) FROM orders WHERE id + 0 IN (SELECT order_id FROM order_items)",
    "SELECT COUNT(*) FROM orders WHERE qty IN (SELECT qty + 0.5 FROM orders)",
    "SELECT COUNT(*) FROM orders WHERE id IN (SELECT order_id FROM order_items "
    "WHERE sku IN (SELECT sku FROM order_items WHERE line = 1))",
    "SELECT SQL_CALC_FOUND_ROWS id FROM orders WHERE id IN (SELECT order_id FROM order_items) "
    "ORDER BY id LIMIT 2",
    "SELECT id FROM orders WHERE id IN (SELECT order_id FROM order_items) ORDER BY id "
    "LIMIT 3 FOR UPDATE",
]

REFUSED = [
    # Keys that do not compare alike (a string with an integer compares as a double).
    "SELECT COUNT(*) FROM orders WHERE note IN (SELECT id FROM customers)",
    # Not one of the AND-ed conditions of the WHERE.
    "SELECT COUNT(*) FROM orders WHERE id IN (SELECT order_id FROM order_items) OR qty = 3",
]

PREPARED = [
    (
        "SELECT status, COUNT(*) FROM orders WHERE qty > ? AND id IN "
        "(SELECT order_id FROM order_items WHERE line >= ?) GROUP BY status ORDER BY status",
        (1, 2),
    ),
    (
        "SELECT COUNT(*) FROM customers WHERE id NOT IN "
        "(SELECT customer_id FROM orders WHERE qty > ?) AND tier <> ?",
        (3, 1),
    ),
]


@contextmanager
def _bounds(env: Environment, *, union_rows: int | None = None) -> Iterator[None]:
    """The environment's coordinator with ``subquery_rows`` (and ``union_rows``) lowered."""
    coord = env.coordinator
    assert coord is not None
    cluster = coord.topology.cluster
    saved = (cluster.subquery_rows, cluster.union_rows)
    try:
        object.__setattr__(cluster, "subquery_rows", SUBQUERY_ROWS)
        if union_rows is not None:
            object.__setattr__(cluster, "union_rows", union_rows)
        yield
    finally:
        object.__setattr__(cluster, "subquery_rows", saved[0])
        object.__setattr__(cluster, "union_rows", saved[1])


def test_in_past_the_bound_as_a_semi_join(env: Environment) -> None:
    with _bounds(env):
        report = env.run([Case("semi-join", sql) for sql in SEMI])
    env.check(report, "issue 18: IN past cluster.subquery_rows", answered=True)


def test_not_in_past_the_bound_as_an_anti_join(env: Environment) -> None:
    with _bounds(env):
        report = env.run([Case("anti-join", sql) for sql in ANTI])
    env.check(report, "issue 18: NOT IN past cluster.subquery_rows", answered=True)


def test_edges_past_the_bound_are_exact_or_refused(env: Environment) -> None:
    with _bounds(env):
        report = env.run([Case("edges", sql) for sql in EDGE])
    env.check(report, "issue 18: edges past cluster.subquery_rows")


def test_prepared_past_the_bound(env: Environment) -> None:
    with _bounds(env):
        report = env.run_params("prepared", PREPARED, Report())
    env.check(report, "issue 18: prepared, past cluster.subquery_rows", answered=True)


def test_no_exact_join_is_a_clear_refusal(env: Environment) -> None:
    with _bounds(env), env.connect_sharded() as conn, conn.cursor() as cur:
        for sql in REFUSED:
            with pytest.raises(pymysql.MySQLError) as caught:
                cur.execute(sql)
            code, message = caught.value.args[0], str(caught.value.args[1])
            assert code == 1235 and "cluster.subquery_rows" in message, (sql, message)


def test_the_held_values_are_bounded(env: Environment) -> None:
    """The join holds the subquery's distinct values sorted: past cluster.union_rows a
    1235 naming it, never a silent cut."""
    sql = "SELECT COUNT(*) FROM orders WHERE status IN (SELECT status FROM orders)"
    with (
        _bounds(env, union_rows=3),
        env.connect_sharded() as conn,
        conn.cursor() as cur,
        pytest.raises(pymysql.MySQLError) as caught,
    ):
        cur.execute(sql)
    assert caught.value.args[0] == 1235 and "cluster.union_rows" in str(caught.value.args[1])


def test_explain_shows_the_join(env: Environment) -> None:
    with _bounds(env), env.connect_sharded() as conn, conn.cursor() as cur:
        cur.execute(
            "EXPLAIN SELECT status, COUNT(*) FROM orders WHERE id IN "
            "(SELECT order_id FROM order_items) GROUP BY status"
        )
        ops = [(row[1].strip(), row[2]) for row in cur.fetchall()]
        assert (
            "PastBound",
            "more than 2 values (cluster.subquery_rows): a semi-join instead",
        ) in ops
        assert any(op == "SortMergeJoin" and detail.startswith("INNER") for op, detail in ops)
        cur.execute(
            "EXPLAIN SELECT COUNT(*) FROM customers WHERE id NOT IN (SELECT tier FROM customers)"
        )
        ops = [(row[1].strip(), row[2]) for row in cur.fetchall()]
        assert any(op == "PastBound" and "anti-join" in detail for op, detail in ops)
        assert any(op == "SortMergeJoin" and detail.startswith("LEFT") for op, detail in ops)
