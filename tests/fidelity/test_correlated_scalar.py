"""Correlated scalar aggregates with one equality correlation (issue 18, item 7:
``sharding/sql/decorrelate.py``), against one unsharded MariaDB: ``(SELECT COUNT(*) |
SUM | MIN | MAX | AVG … FROM u WHERE u.k = t.x AND q(u))`` becomes the grouped query
``SELECT u.k, AGG … GROUP BY u.k`` run first and a ``CASE`` over its groups
(``sharding/sql/materialize.py``: ``lookup_node``) — COUNT 0 and the others NULL where
no group matches, a NULL ``t.x`` included. Keys must be integers or decimals, or text
of the outer column's collation (read by a probe query); other text keys, like other
correlations, keep the clear refusal."""

from __future__ import annotations

import pytest

from tests.fidelity.harness import TABLES, Case, Environment, Report

pytestmark = pytest.mark.mysql

ALL = tuple(t.name for t in TABLES)

ANSWERED = [
    Case("scalar", sql)
    for sql in [
        # Select items: matches (many rows per key), no match (COUNT 0, others NULL).
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) n "
        "FROM customers c ORDER BY id",
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id AND o.qty > 7) "
        "FROM customers c ORDER BY id",
        "SELECT id, (SELECT SUM(amount) FROM orders o WHERE o.customer_id = c.id "
        "AND o.qty > 3) s, (SELECT AVG(qty) FROM orders o WHERE o.customer_id = c.id) a "
        "FROM customers c ORDER BY id",
        "SELECT id, (SELECT MAX(o.created) FROM orders o WHERE o.customer_id = c.id), "
        "(SELECT MIN(status) FROM orders o WHERE o.customer_id = c.id AND o.size = 'small') "
        "FROM customers c ORDER BY id",
        "SELECT id, (SELECT SUM(qty) FROM orders o WHERE o.customer_id = c.id) s, "
        "(SELECT AVG(amount) FROM orders o WHERE o.customer_id = c.id) a "
        "FROM customers c WHERE id > 40 ORDER BY id",
        "SELECT id, (SELECT COUNT(note) FROM orders o WHERE o.customer_id = c.id), "
        "(SELECT COUNT(DISTINCT status) FROM orders o WHERE o.customer_id = c.id) "
        "FROM customers c ORDER BY id",
        # NULL outer values (tier) and NULL inner keys (qty): they match nothing.
        "SELECT id, tier, (SELECT COUNT(*) FROM orders o WHERE o.qty = c.tier) n, "
        "(SELECT MAX(o.id) FROM orders o WHERE o.qty = c.tier) m FROM customers c ORDER BY id",
        # The other way round; an outer table with another shard count; a DECIMAL key.
        "SELECT e.id, (SELECT MAX(c.tier) FROM customers c WHERE e.customer_id = c.id) "
        "FROM events e ORDER BY e.id",
        "SELECT i.order_id, i.line, (SELECT COUNT(*) FROM order_items j "
        "WHERE j.price = i.price AND j.line <> 1) FROM order_items i ORDER BY 1, 2",
        # Text keys of one collation: 'eu' = 'EU', 'paid' = 'Paid' = 'paid ' (one group).
        "SELECT id, region, (SELECT COUNT(*) FROM customers c2 WHERE c2.region = c.region) "
        "FROM customers c ORDER BY id",
        "SELECT id, (SELECT MAX(weight) FROM regions r WHERE r.code = c.region AND "
        "r.weight > 1) FROM customers c ORDER BY id",
        "SELECT id, status, (SELECT COUNT(*) FROM orders o2 WHERE o2.status = o.status "
        "AND o2.qty > 4), (SELECT MIN(o2.id) FROM orders o2 WHERE o2.status = o.status) "
        "FROM orders o ORDER BY id",
        "SELECT r.code FROM regions r WHERE (SELECT COUNT(*) FROM customers c "
        "WHERE c.region = r.code) > 9 ORDER BY r.code",
        # In the WHERE of the outer query, also of a grouped one.
        "SELECT id FROM customers c WHERE (SELECT COUNT(*) FROM orders o "
        "WHERE o.customer_id = c.id) > 3 ORDER BY id",
        "SELECT id FROM customers c WHERE c.tier < (SELECT MAX(qty) FROM orders o "
        "WHERE o.customer_id = c.id AND o.status = 'paid') ORDER BY id",
        "SELECT region, COUNT(*) FROM customers c WHERE (SELECT SUM(qty) FROM orders o "
        "WHERE o.customer_id = c.id) > 15 GROUP BY region ORDER BY 2, 1",
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) + 1 "
        "FROM customers c WHERE id < 10 ORDER BY id",
        # An empty inner table part: no group at all.
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id "
        "AND o.qty > 100), (SELECT SUM(qty) FROM orders o WHERE o.customer_id = c.id "
        "AND o.qty > 100) FROM customers c ORDER BY id",
    ]
] + [
    Case("writes", sql, write=True, tables=ALL)
    for sql in [
        "DELETE FROM customers WHERE (SELECT COUNT(*) FROM orders o "
        "WHERE o.customer_id = customers.id AND o.qty > 5) > 1",
        "UPDATE customers c SET tier = 7 WHERE c.tier < (SELECT MAX(qty) FROM orders o "
        "WHERE o.customer_id = c.id) OR (SELECT COUNT(*) FROM orders o "
        "WHERE o.customer_id = c.id AND o.qty = 0) = 0",
    ]
]

REFUSED = [
    Case("refused", sql)
    for sql in [
        # Two correlations.
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id "
        "AND o.id > c.id) FROM customers c ORDER BY id",
        # The correlation under a join.
        "SELECT id, (SELECT COUNT(*) FROM orders o JOIN order_items i ON i.order_id = o.id "
        "WHERE o.customer_id = c.id) FROM customers c ORDER BY id",
        # Not an equality.
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id < c.id) "
        "FROM customers c ORDER BY id",
        # Not an aggregate of the list.
        "SELECT id, (SELECT GROUP_CONCAT(qty) FROM orders o WHERE o.customer_id = c.id) "
        "FROM customers c ORDER BY id",
        # Text keys with another collation (1267 in MariaDB) or a number outside.
        "SELECT id, (SELECT SUM(n) FROM tags t WHERE t.name = c.name) FROM customers c ORDER BY id",
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.status = c.tier) "
        "FROM customers c ORDER BY id",
        # A grouped outer query reading it in a select item.
        "SELECT region, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) "
        "FROM customers c GROUP BY region ORDER BY region",
    ]
]


def test_correlated_scalar_is_answered(env: Environment) -> None:
    report = env.run(ANSWERED)
    print(report.table(f"correlated scalar aggregates on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    if env.answers_all:
        assert not report.clear, "\n".join(report.clear)
        reads = len([c for c in ANSWERED if not c.write])
        assert report.counts["scalar"]["same"] == reads


def test_other_correlated_scalars_stay_refused(env: Environment) -> None:
    report = env.run(REFUSED)
    assert not report.wrong, "\n".join(report.wrong)
    assert report.counts["refused"]["clear"] == len(REFUSED)


PREPARED = [
    (
        "SELECT id, (SELECT SUM(amount) FROM orders o WHERE o.customer_id = c.id "
        "AND o.qty > ?) s FROM customers c WHERE id > ? ORDER BY id",
        (2, 50),
    ),
]


def test_prepared_correlated_scalar(env: Environment) -> None:
    report = env.run_params("prepared", PREPARED, Report())
    assert not report.wrong, "\n".join(report.wrong)
    if env.answers_all:
        assert report.counts["prepared"]["same"] == len(PREPARED)
