"""``GROUP BY a DESC, b ASC``: MariaDB's grouping with a direction per column, against one
unsharded MariaDB.

MariaDB sorts a GROUP BY's groups when the statement has no ORDER BY, descending where
the GROUP BY says so; sqlglot has no such grammar and the coordinator answered 1064
(legacy applications written for MySQL 5.7 still send it). The dialect's parser takes
the direction (``sharding/sql/parse.py``): the statement's SELECT without an ORDER BY
sorts its groups as written, an ORDER BY decides otherwise, and in a subquery the
direction changes nothing. ``WITH ROLLUP`` together with a direction stays a 1235.
Rows are compared in order.
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment

pytestmark = pytest.mark.mysql

CASES = [
    Case(
        "group desc",
        "SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id DESC",
        ordered=True,
    ),
    Case("group desc", "SELECT status, SUM(qty) FROM orders GROUP BY status DESC", ordered=True),
    Case(
        "group desc",
        "SELECT customer_id % 3 g, status, COUNT(*) FROM orders GROUP BY g DESC, status ASC",
        ordered=True,
    ),
    Case(
        "group desc",
        "SELECT customer_id, MAX(amount) m FROM orders GROUP BY 1 DESC LIMIT 3 OFFSET 1",
        ordered=True,
    ),
    Case(
        "group desc",
        "SELECT customer_id FROM orders GROUP BY customer_id DESC HAVING COUNT(*) > 1 LIMIT 5",
        ordered=True,
    ),
    Case(
        "group desc",
        "SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id DESC ORDER BY customer_id",
    ),
    Case(
        "group desc",
        "SELECT x.c FROM (SELECT customer_id c FROM orders GROUP BY customer_id DESC) x "
        "ORDER BY x.c",
    ),
    Case("group desc", "SELECT qty, COUNT(*) FROM orders GROUP BY qty ASC", ordered=True),
    Case(
        "group desc",
        "SELECT o.customer_id, COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "GROUP BY o.customer_id DESC",
        ordered=True,
    ),
]

REFUSED = [Case("group desc rollup", "SELECT qty FROM orders GROUP BY qty DESC WITH ROLLUP")]


def test_group_by_with_directions(env: Environment) -> None:
    report = env.run(CASES)
    print(report.table(f"GROUP BY ... DESC on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    assert sum(c["same"] for c in report.counts.values()) == len(CASES)


def test_group_by_direction_with_rollup_is_refused(env: Environment) -> None:
    report = env.run(REFUSED)
    assert not report.wrong, "\n".join(report.wrong)
    assert sum(c["clear"] for c in report.counts.values()) == len(REFUSED)
