"""The column definitions of expressions over materialised subqueries and of DOUBLE
aggregates merged over several shards (issue 18), against one unsharded MariaDB.

* An uncorrelated scalar subquery inside an expression (``(SELECT COUNT(*) …) + 1``,
  ``COALESCE((SELECT SUM(amount) …), 0)``, ``IF(… , (SELECT …), NULL)``,
  ``SUBSTRING((SELECT MAX(note) …), 2)``): the coordinator runs the subquery first and
  the shard sees its value as a literal, typed by its digits (``240 + 1``: INT(5)).
  MariaDB types the expression from the subquery's definition (``BIGINT(22)``); the
  coordinator does the same from the definition the literal carries
  (``sharding/sql/describe.py``: ``CARRIED``, ``_common``, ``_precision``).
* ``MIN``/``MAX``/``SUM`` of a DOUBLE: MariaDB sends the aggregate's own definition
  (``DOUBLE(23)``, BINARY) when it does not group, or groups WITH ROLLUP, or with a
  DISTINCT aggregate, and its temporary table's field (``DOUBLE(22)`` for ``MAX`` of a
  DOUBLE column, no BINARY flag) when it groups through one. The shards' partials are
  grouped where the statement is not (``COUNT(DISTINCT …)``, ROLLUP) and the
  coordinator groups a join itself (``sharding/sql/describe.py``:
  ``shard_positions``, ``_groups_to_fields``).

Compared as in :mod:`tests.fidelity.test_subquery_wire_types`: type code, display
length, decimals, NOT_NULL / UNSIGNED / BINARY and the character set, over the text and
the binary protocol, on every shard-count variant (16 and 1024 shards).
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Environment
from tests.fidelity.test_subquery_wire_types import _differences

pytestmark = pytest.mark.mysql

#: Uncorrelated scalar subqueries inside expressions (the value becomes a literal).
SUBQUERY_EXPRESSIONS = [
    "SELECT (SELECT COUNT(*) FROM orders) + 1",
    "SELECT id, (SELECT MAX(qty) FROM orders) * 2 FROM orders WHERE id = 3",
    "SELECT COALESCE((SELECT SUM(amount) FROM orders WHERE qty = 99), 0)",
    "SELECT -(SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM orders) * 2, "
    "(SELECT COUNT(*) FROM orders) / 2, (SELECT COUNT(*) FROM orders) + 1.5, "
    "(SELECT COUNT(*) FROM orders) + 1 + 1",
    "SELECT (SELECT MAX(id) FROM orders) + 1, (SELECT MAX(customer_id) FROM orders) + 1, "
    "(SELECT MAX(qty) FROM orders) + (SELECT COUNT(*) FROM orders), "
    "(SELECT BIT_OR(qty) FROM orders) + 1, (SELECT SUM(amount) FROM orders) * 2",
    "SELECT IFNULL((SELECT MAX(amount) FROM orders WHERE qty > 99), -1), "
    "IFNULL((SELECT COUNT(*) FROM orders), 0), "
    "COALESCE((SELECT MIN(status) FROM orders WHERE qty > 99), 'none'), "
    "COALESCE((SELECT SUM(amount) FROM orders), 1.555)",
    "SELECT IF((SELECT COUNT(*) FROM orders) > 5, 1, 0), "
    "CASE WHEN (SELECT COUNT(*) FROM orders) > 5 THEN (SELECT MAX(amount) FROM orders) "
    "ELSE 0 END, (SELECT COUNT(*) FROM orders) > 5",
    "SELECT c.id, c.tier + (SELECT MAX(qty) FROM orders), "
    "IF(c.tier > 1, (SELECT COUNT(*) FROM orders), NULL), "
    "IF(c.tier > 1, (SELECT BIT_OR(qty) FROM orders), 0), "
    "IF(c.tier > 1, 1, (SELECT COUNT(*) FROM orders)), "
    "IF(c.tier > 1, (SELECT COUNT(*) FROM orders), 1.5) FROM customers c ORDER BY c.id",
    "SELECT CONCAT((SELECT MIN(status) FROM orders), 'x'), "
    "SUBSTRING((SELECT MAX(note) FROM orders), 2), "
    "SUBSTRING((SELECT MAX(status) FROM orders), 3, 100), "
    "SUBSTRING((SELECT MAX(status) FROM orders), -3), LENGTH((SELECT MAX(note) FROM orders))",
    "SELECT ABS((SELECT MIN(score) FROM events)), ROUND((SELECT AVG(amount) FROM orders), 1), "
    "(SELECT MIN(score) FROM events) + 1, (SELECT AVG(qty) FROM orders) / 2, "
    "IFNULL((SELECT MAX(score) FROM events), 0)",
    "SELECT region, COUNT(*) * (SELECT MAX(qty) FROM orders) FROM customers "
    "GROUP BY region ORDER BY region",
]

#: MIN/MAX/SUM of a DOUBLE (and their neighbours) grouped, ungrouped and WITH ROLLUP.
DOUBLE_AGGREGATES = [
    "SELECT kind, MAX(score), MIN(score), SUM(score), AVG(score), MAX(score) + 0 "
    "FROM events GROUP BY kind",
    "SELECT customer_id, MAX(score), MIN(score) FROM events GROUP BY customer_id",
    "SELECT MAX(score), MIN(score), SUM(score), AVG(score) FROM events",
    "SELECT kind, MAX(score), MIN(score), SUM(score) FROM events GROUP BY kind WITH ROLLUP",
    "SELECT COUNT(DISTINCT kind), MAX(score), MIN(score), SUM(score), COUNT(*) FROM events",
    "SELECT COUNT(DISTINCT status), MAX(amount), MIN(note), SUM(qty), COUNT(*), "
    "MAX(created) FROM orders",
    "SELECT size, qty, COUNT(*), AVG(amount), MAX(amount), MIN(note), SUM(qty) "
    "FROM orders GROUP BY size, qty WITH ROLLUP",
    "SELECT MAX(m) FROM (SELECT kind, MAX(score) m FROM events GROUP BY kind) d",
    "SELECT m, n, s, x FROM (SELECT kind, MAX(score) m, COUNT(*) n, SUM(e.id) s, "
    "MAX(kind) x FROM events e GROUP BY kind) d",
    # A join the coordinator groups itself (events and customers are not co-located).
    "SELECT c.region, MAX(e.score), MIN(e.score), SUM(e.score), AVG(e.score), COUNT(*), "
    "MAX(c.name), MIN(c.tier), SUM(c.tier) FROM customers c "
    "JOIN events e ON e.customer_id = c.id GROUP BY c.region",
    "SELECT c.region, MAX(e.score), COUNT(DISTINCT e.kind) FROM customers c "
    "JOIN events e ON e.customer_id = c.id GROUP BY c.region",
    "SELECT MAX(e.score), MIN(e.score) FROM customers c JOIN events e ON e.customer_id = c.id",
    "SELECT IFNULL(score, 0), IF(id > 3, score, 1.5) FROM events ORDER BY id",
]

STATEMENTS = SUBQUERY_EXPRESSIONS + DOUBLE_AGGREGATES


@pytest.mark.parametrize("protocol", ["text", "binary"])
def test_expression_definitions_equal_mariadbs(env: Environment, protocol: str) -> None:
    found = _differences(env, protocol, STATEMENTS)
    print(
        f"{protocol} protocol, {env.shards} shards: {len(STATEMENTS)} statements, "
        f"{len(found)} column definitions differ from MariaDB's"
    )
    assert not found, "\n".join(found)
