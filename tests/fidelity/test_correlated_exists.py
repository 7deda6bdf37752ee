"""Correlated ``EXISTS`` / ``NOT EXISTS`` with one equality correlation (issue 18,
item 7: ``sharding/sql/decorrelate.py``), against one unsharded MariaDB: rewritten to an
uncorrelated ``IN`` (an anti-join for ``NOT EXISTS``) and answered; other correlations
keep the clear refusal."""

from __future__ import annotations

import pytest

from tests.fidelity.harness import TABLES, Case, Environment

pytestmark = pytest.mark.mysql

ALL = tuple(t.name for t in TABLES)

ANSWERED = [
    Case("exists", sql)
    for sql in [
        "SELECT id FROM customers c WHERE EXISTS "
        "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.qty > 8) ORDER BY id",
        "SELECT COUNT(*) FROM orders o WHERE EXISTS "
        "(SELECT 1 FROM order_items i WHERE i.order_id = o.id)",
        "SELECT id FROM orders o WHERE id = 3 AND EXISTS "
        "(SELECT 1 FROM order_items i WHERE i.order_id = o.id)",
        "SELECT c.id, c.name FROM customers c WHERE c.region = 'eu' AND EXISTS "
        "(SELECT * FROM orders WHERE customer_id = c.id AND status = 'new') ORDER BY c.id",
        "SELECT id FROM orders o WHERE EXISTS (SELECT 1 FROM orders o2 "
        "WHERE o2.customer_id = o.customer_id AND o2.qty > 9) ORDER BY id LIMIT 10",
        # The other way round, and a correlation column that can be NULL (events).
        "SELECT e.id FROM events e WHERE EXISTS "
        "(SELECT 1 FROM customers c WHERE e.customer_id = c.id AND c.tier = 2) ORDER BY e.id",
        # Not a plain conjunct: the exact two-valued form (NOT EXISTS is the anti-join).
        "SELECT id FROM customers c WHERE NOT EXISTS "
        "(SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY id",
        "SELECT COUNT(*) FROM events e WHERE NOT EXISTS "
        "(SELECT 1 FROM customers c WHERE c.id = e.customer_id)",
        "SELECT e.id FROM events e WHERE NOT EXISTS "
        "(SELECT 1 FROM orders o WHERE o.qty = e.customer_id) ORDER BY e.id",
        "SELECT id, EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.qty > 8) e "
        "FROM customers c ORDER BY id",
        "SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM events e "
        "WHERE e.customer_id = c.id AND e.kind = 'buy') OR c.id = 1 ORDER BY id",
        # Inside an uncorrelated subquery: decorrelated when that one runs.
        "SELECT id FROM customers c WHERE id IN (SELECT customer_id FROM orders w WHERE EXISTS "
        "(SELECT 1 FROM order_items i WHERE i.order_id = w.id AND i.line > 1)) ORDER BY id",
        "SELECT qty, COUNT(*) FROM orders o WHERE EXISTS (SELECT 1 FROM customers c "
        "WHERE c.id = o.customer_id AND c.tier > 1) GROUP BY qty ORDER BY qty",
    ]
] + [
    Case("writes", sql, write=True, tables=ALL)
    for sql in [
        "DELETE FROM customers WHERE EXISTS "
        "(SELECT 1 FROM orders o WHERE o.customer_id = customers.id AND o.qty > 9)",
        "UPDATE orders o SET qty = qty + 1 WHERE EXISTS "
        "(SELECT 1 FROM customers c WHERE c.id = o.customer_id AND c.region = 'us')",
    ]
]

REFUSED = [
    Case("refused", sql)
    for sql in [
        # Two correlations: the inner query still names the outer one when run alone.
        "SELECT id FROM customers c WHERE EXISTS "
        "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.id > c.id) ORDER BY id",
        "SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM orders o "
        "WHERE o.customer_id = c.id GROUP BY o.customer_id HAVING COUNT(*) > 3) ORDER BY id",
    ]
]


def test_correlated_exists_is_answered(env: Environment) -> None:
    report = env.run(ANSWERED)
    print(report.table(f"correlated EXISTS on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    assert not report.clear, "\n".join(report.clear)
    reads = len([c for c in ANSWERED if not c.write])
    assert report.counts["exists"]["same"] == reads


def test_other_correlations_stay_refused(env: Environment) -> None:
    report = env.run(REFUSED)
    assert not report.wrong, "\n".join(report.wrong)
    assert report.counts["refused"]["clear"] == len(REFUSED)
