"""Which of several equal text values a group shows, against one unsharded MariaDB.

``orders.status`` holds 'paid', 'Paid' and 'paid ' — one group under
``utf8mb4_general_ci`` (and PAD SPACE). MariaDB shows the group's first row in its scan
order, primary-key order for a table or primary-key range scan; shard partials carry
``MIN(pk)`` and the merge meets equal groups in that order
(``sharding/sql/aggregate_plan.py``: ``_first_row``), so the filtered subsets below
(where another shard's row comes first) show MariaDB's value.
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment

pytestmark = pytest.mark.mysql

CASES = [
    Case("group value", sql)
    for sql in [
        "SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status",
        "SELECT status, COUNT(*) FROM orders WHERE qty > 3 GROUP BY status ORDER BY status",
        "SELECT status, COUNT(*) FROM orders WHERE id > 100 GROUP BY status ORDER BY status",
        "SELECT status, SUM(amount) FROM orders WHERE id > 7 GROUP BY status "
        "ORDER BY 2 DESC LIMIT 3",
        "SELECT status, qty, COUNT(*) FROM orders WHERE qty < 3 GROUP BY status, qty "
        "ORDER BY status, qty",
        "SELECT DISTINCT status FROM orders WHERE qty > 2 ORDER BY status",
        "SELECT UPPER(status) u, COUNT(*) FROM orders GROUP BY u ORDER BY u",
        "SELECT status, COUNT(*) FROM orders WHERE customer_id IN "
        "(SELECT id FROM customers WHERE tier > 1) GROUP BY status ORDER BY status",
        "SELECT status, MAX(qty) m FROM orders WHERE id % 3 = 1 GROUP BY status HAVING m > 2",
    ]
]


def test_a_group_shows_mariadbs_value(env: Environment) -> None:
    report = env.run(CASES)
    print(report.table(f"group values on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    assert report.counts["group value"]["same"] == len(CASES)
