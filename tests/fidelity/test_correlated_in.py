"""Correlated ``IN`` / ``NOT IN`` with one equality correlation (issue 18, item 7:
``sharding/sql/decorrelate.py``), against one unsharded MariaDB: as a ``WHERE``
condition the pairs ``(outer column, left operand) IN (SELECT k, b …)``, elsewhere
(``NOT IN``, ``OR``, select items) the exact three-valued ``CASE`` over uncorrelated
subqueries; other correlations keep the clear refusal. NULLs on both sides: ``tier``
(customers) and ``qty`` (orders) have some."""

from __future__ import annotations

import pytest

from tests.fidelity.harness import TABLES, Case, Environment, Report

pytestmark = pytest.mark.mysql

ALL = tuple(t.name for t in TABLES)

ANSWERED = [
    Case("in", sql)
    for sql in [
        # A WHERE condition: the pairs.
        "SELECT id FROM customers c WHERE tier IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id) ORDER BY id",
        "SELECT id, name FROM customers c WHERE c.region <> 'xx' AND c.tier IN "
        "(SELECT qty FROM orders WHERE customer_id = c.id AND status = 'paid') ORDER BY id",
        "SELECT COUNT(*) FROM orders o WHERE o.qty IN "
        "(SELECT o2.qty FROM orders o2 WHERE o2.customer_id = o.customer_id AND o2.id <> 7)",
        # The correlation the other way round, a NULL-able outer column (events).
        "SELECT e.id FROM events e WHERE 2 IN "
        "(SELECT c.tier FROM customers c WHERE e.customer_id = c.id) ORDER BY e.id",
        # Duplicates and case variants of a string key: the correlation on text.
        "SELECT id FROM customers c WHERE c.tier IN (SELECT c2.tier FROM customers c2 "
        "WHERE c2.region = c.region AND c2.id <> c2.tier * 7) ORDER BY id",
        "SELECT r.code FROM regions r WHERE r.weight IN "
        "(SELECT c.tier + 1 FROM customers c WHERE c.region = r.code) ORDER BY r.code",
        # String values compared: 'paid' = 'Paid' = 'paid ' under utf8mb4_general_ci.
        "SELECT id FROM customers c WHERE 'PAID' IN "
        "(SELECT o.status FROM orders o WHERE o.customer_id = c.id) ORDER BY id",
        # No match anywhere: FALSE.
        "SELECT id FROM customers c WHERE tier IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id AND o.qty > 100) ORDER BY id",
        # NOT IN: NULL on either side keeps MySQL's three-valued answer.
        "SELECT id FROM customers c WHERE tier NOT IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id) ORDER BY id",
        "SELECT id FROM customers c WHERE c.tier NOT IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id AND o.qty IS NOT NULL) "
        "ORDER BY id",
        "SELECT id FROM customers c WHERE tier NOT IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id AND o.qty > 100) ORDER BY id",
        "SELECT e.id FROM events e WHERE 2 NOT IN "
        "(SELECT c.tier FROM customers c WHERE e.customer_id = c.id) ORDER BY e.id",
        # Select items, OR, NOT: the value itself (1, 0 or NULL).
        "SELECT id, tier, tier IN (SELECT o.qty FROM orders o WHERE o.customer_id = c.id) x "
        "FROM customers c ORDER BY id",
        "SELECT id, tier NOT IN (SELECT o.qty FROM orders o WHERE o.customer_id = c.id "
        "AND o.status = 'new') FROM customers c ORDER BY id",
        "SELECT id FROM customers c WHERE c.id < 4 OR c.tier IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id AND o.qty > 2) ORDER BY id",
        "SELECT id FROM customers c WHERE NOT (c.tier IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id)) ORDER BY id",
        "SELECT tier, COUNT(*) FROM customers c WHERE tier IN "
        "(SELECT qty FROM orders o WHERE o.customer_id = c.id) GROUP BY tier ORDER BY tier",
        # The uncorrelated row IN the pairs run as (sql/materialize.py), and its 1241.
        "SELECT id FROM orders WHERE (customer_id, qty) IN (SELECT id, tier FROM customers) "
        "ORDER BY id",
        "SELECT id, (customer_id, qty) IN (SELECT id, tier FROM customers WHERE id < 30) "
        "FROM orders ORDER BY id",
        "SELECT id FROM orders WHERE (customer_id, qty) IN (SELECT id FROM customers)",
    ]
] + [
    Case("writes", sql, write=True, tables=ALL)
    for sql in [
        "DELETE FROM customers WHERE tier IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = customers.id AND o.qty > 1)",
        "UPDATE customers c SET tier = 9 WHERE tier NOT IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id)",
    ]
]

REFUSED = [
    Case("refused", sql)
    for sql in [
        # Two correlations: the inner query still names the outer one when run alone.
        "SELECT id FROM customers c WHERE tier IN "
        "(SELECT qty FROM orders o WHERE o.customer_id = c.id AND o.id > c.id) ORDER BY id",
        # The correlation under a join.
        "SELECT id FROM customers c WHERE tier IN (SELECT o.qty FROM orders o "
        "JOIN order_items i ON i.order_id = o.id WHERE o.customer_id = c.id) ORDER BY id",
        # Not an equality.
        "SELECT id FROM customers c WHERE tier IN "
        "(SELECT qty FROM orders o WHERE o.customer_id > c.id) ORDER BY id",
        "SELECT id, tier NOT IN (SELECT qty FROM orders o WHERE o.customer_id < c.id) "
        "FROM customers c ORDER BY id",
    ]
]


def test_correlated_in_is_answered(env: Environment) -> None:
    report = env.run(ANSWERED)
    print(report.table(f"correlated IN on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    assert not report.clear, "\n".join(report.clear)
    reads = len([c for c in ANSWERED if not c.write])
    assert report.counts["in"]["same"] == reads


def test_other_correlated_in_stay_refused(env: Environment) -> None:
    report = env.run(REFUSED)
    assert not report.wrong, "\n".join(report.wrong)
    assert report.counts["refused"]["clear"] == len(REFUSED)


PREPARED = [
    (
        "SELECT id, ? IN (SELECT o.qty FROM orders o WHERE o.customer_id = c.id "
        "AND o.qty > ?) x FROM customers c ORDER BY id",
        (3, 1),
    ),
    (
        "SELECT id FROM customers c WHERE tier NOT IN (SELECT o.qty FROM orders o "
        "WHERE o.customer_id = c.id AND o.status = ?) AND c.id > ? ORDER BY id",
        ("paid", 5),
    ),
]


def test_prepared_correlated_in(env: Environment) -> None:
    report = env.run_params("prepared", PREPARED, Report())
    assert not report.wrong, "\n".join(report.wrong)
    assert report.counts["prepared"]["same"] == len(PREPARED)
