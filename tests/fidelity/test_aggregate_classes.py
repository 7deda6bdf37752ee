"""Issue 18, item 6: aggregates merged across shards beyond COUNT/SUM/MIN/MAX/AVG.

``BIT_AND`` / ``BIT_OR`` / ``BIT_XOR``: each shard sends its partial (an unsigned
64-bit integer, the operation's identity when it has no rows) and the same operation
combines them — grouped, with HAVING and ORDER BY on them, over no rows, on DOUBLE and
DECIMAL arguments (the shards convert those to integers as MariaDB does). Against one
unsharded MariaDB on 16 and 1024 shards with tiny chunks: values and column types.
Forms without an exact merge (``DISTINCT``, above a cross-shard join) are 1235.

Scalar functions over merged values (``CONCAT(MAX(a), '-')``, ``UPPER(MIN(s))``,
``IF``/``CASE``/``COALESCE`` with MySQL's unified branch type, ``DATE_FORMAT``,
``LPAD`` ...): the default data source computes them from typed literals of the merged
values (``sharding/sql/backend_eval.py``) — grouped, above a cross-shard join, with
NULLs and with text compared under its column's collation; also sorted (HAVING and
ORDER BY: test_aggregate_classes2.py). Volatile functions stay refusals.
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment

pytestmark = pytest.mark.mysql

BITS = [
    "SELECT BIT_OR(qty), BIT_AND(qty), BIT_XOR(qty) FROM orders",
    "SELECT customer_id % 5 g, BIT_XOR(id), BIT_AND(id), BIT_OR(qty) FROM orders "
    "GROUP BY g ORDER BY g",
    "SELECT BIT_AND(qty), BIT_OR(qty), BIT_XOR(qty) FROM orders WHERE id < 0",
    "SELECT BIT_AND(id) FROM orders WHERE id IN (3, 5, 7)",
    "SELECT size, BIT_OR(qty) b FROM orders GROUP BY size HAVING b > 3 ORDER BY b DESC, size",
    "SELECT BIT_XOR(score), BIT_OR(score) FROM events",
    "SELECT BIT_XOR(amount), BIT_AND(amount) FROM orders",
    "SELECT status, BIT_XOR(qty) x, COUNT(*) FROM orders GROUP BY status ORDER BY x, status "
    "LIMIT 3",
    "SELECT BIT_OR(n) FROM sizes",
]

COUNT_DISTINCT = [
    # COUNT(DISTINCT a, b): distinct (a, b) rows without a NULL, text keys by collation.
    "SELECT COUNT(DISTINCT qty, size) FROM orders",
    "SELECT customer_id % 4 g, COUNT(DISTINCT qty, status), COUNT(DISTINCT status) "
    "FROM orders GROUP BY g ORDER BY g",
    "SELECT COUNT(DISTINCT status, note) FROM orders",
    "SELECT COUNT(DISTINCT qty, size) FROM orders WHERE id < 0",
    "SELECT size, COUNT(DISTINCT customer_id, qty) c FROM orders GROUP BY size "
    "HAVING c > 2 ORDER BY size",
]

EXPRESSIONS = [
    # An ENUM compared with a number is its index, with text its label.
    "SELECT size, IF(size = 1, 'first', 'other'), size > 1, size = 'SMALL' FROM orders "
    "GROUP BY size ORDER BY size",
    "SELECT size, COUNT(*) FROM orders GROUP BY size HAVING size >= 2 ORDER BY size",
    "SELECT CONCAT(MAX(status), '-') FROM orders",
    "SELECT MAX(qty) - MIN(qty), UPPER(MIN(status)), COALESCE(MAX(note), 'x'), "
    "IF(COUNT(*) > 5, 'many', 'few') FROM orders",
    "SELECT status, CONCAT(status, ':', COUNT(*)), LPAD(SUM(qty), 8, '*') FROM orders "
    "GROUP BY status ORDER BY status",
    "SELECT status, IF(MAX(status) = 'PAID', 1, 2.5), DATE_FORMAT(MAX(created), '%Y/%m') "
    "FROM orders GROUP BY status ORDER BY status",
    "SELECT GREATEST(MAX(qty), 5), ABS(MIN(qty) - 100), CAST(SUM(amount) AS CHAR), "
    "FORMAT(SUM(amount), 2) FROM orders",
    "SELECT CASE WHEN COUNT(*) > 100 THEN 1 ELSE 0.5 END, COALESCE(MAX(note), 7) FROM orders",
    "SELECT COALESCE(MAX(note), MIN(status)), CONCAT_WS('/', MIN(id), MAX(id)) FROM orders "
    "WHERE id < 0",
    "SELECT customer_id % 3 g, REPEAT('x', COUNT(*) % 4), LEFT(MAX(status), 2) FROM orders "
    "GROUP BY g ORDER BY g",
    "SELECT o.size, CONCAT(MIN(e.kind), '|', MAX(o.status)) FROM orders o JOIN events e "
    "ON e.id = o.id GROUP BY o.size ORDER BY o.size",
    "SELECT HEX(MAX(id)), LENGTH(MIN(note)), DATEDIFF(MAX(created), MIN(created)) FROM orders",
    "SELECT size, IF(SUM(qty) > 100, SUM(amount), NULL) FROM orders GROUP BY size "
    "ORDER BY size LIMIT 2",
    # Sorted by its value, with its text input's collation (test_aggregate_classes2.py).
    "SELECT UPPER(MIN(status)) u FROM orders GROUP BY size ORDER BY u",
]

EXPRESSIONS_REFUSED = [
    # Inner digits of a sum of quotients: a literal of the shown value has fewer.
    "SELECT CONCAT(SUM(qty / 3)) FROM orders",
    "SELECT FORMAT(AVG(amount), 2) FROM orders",
    # An ENUM is a label and an index: one literal cannot be both.
    "SELECT size, CONCAT(size, ':', COUNT(*)) FROM orders GROUP BY size ORDER BY size",
    "SELECT NOW() > MAX(created) FROM orders",
]

REFUSED = [
    "SELECT BIT_OR(DISTINCT qty) FROM orders",
    "SELECT BIT_XOR(o.qty) FROM orders o JOIN events e ON e.id = o.id",
]


def test_bit_aggregates_merge_exactly(env: Environment) -> None:
    report = env.run([Case("bit aggregates", sql) for sql in BITS])
    env.check(report, "issue 18.6: BIT_*", answered=True)


def test_bit_aggregates_without_exact_merge_are_refused(env: Environment) -> None:
    report = env.run([Case("bit refused", sql) for sql in REFUSED])
    env.check(report, "issue 18.6: refused forms")
    assert report.counts["bit refused"]["clear"] == len(REFUSED)


def test_functions_over_merged_values(env: Environment) -> None:
    report = env.run([Case("functions over merged values", sql) for sql in EXPRESSIONS])
    env.check(report, "issue 18.6: functions", answered=True)


def test_volatile_or_ordered_functions_are_refused(env: Environment) -> None:
    report = env.run([Case("functions refused", sql) for sql in EXPRESSIONS_REFUSED])
    env.check(report, "issue 18.6: refused forms")
    assert report.counts["functions refused"]["clear"] == len(EXPRESSIONS_REFUSED)


def test_count_distinct_of_several_columns(env: Environment) -> None:
    report = env.run([Case("count distinct a, b", sql) for sql in COUNT_DISTINCT])
    env.check(report, "issue 18.6: COUNT(DISTINCT a, b)", answered=True)


#: IF/CASE/COALESCE over merged aggregates whose branches are an integer and a DECIMAL
#: or DOUBLE literal: MySQL types the result by all branches (``1`` is ``1.0`` next to
#: ``0.5``, so ``… / 3`` is ``0.33333``, not ``0.3333``), ordered (computed by the
#: coordinator) and not.
UNIFIED_BRANCHES = [
    "SELECT CASE WHEN COUNT(*) > 100 THEN 1 ELSE 0.5 END / 3 FROM orders",
    "SELECT IF(COUNT(*) > 100, 2, 0.25) / 3, IF(COUNT(*) > 1, 2, 1e0) FROM orders",
    "SELECT status, CASE WHEN COUNT(*) > 20 THEN 1 ELSE 0.50 END * 1 / 3 c FROM orders "
    "GROUP BY status ORDER BY c, status",
    "SELECT CASE WHEN COUNT(*) > 1 THEN -1 ELSE NULL END / 3, "
    "CASE WHEN COUNT(*) > 1 THEN 1 ELSE 1e0 END / 3 FROM orders",
    "SELECT CASE COUNT(*) WHEN 1 THEN 2 WHEN 2 THEN 3.5 ELSE 1 END c FROM orders "
    "GROUP BY customer_id ORDER BY c LIMIT 3",
    "SELECT COALESCE(MAX(qty), 2.5) / 3 c FROM orders GROUP BY size ORDER BY c",
]


def test_case_branches_unify_their_types(env: Environment) -> None:
    report = env.run([Case("unified branches", sql) for sql in UNIFIED_BRANCHES])
    env.check(report, "IF/CASE/COALESCE branch types over merged aggregates", answered=True)


#: JSON_ARRAYAGG, which sqlglot reads as a plain function: on one shard it runs there;
#: over several it is refused (each shard's array is no part of MariaDB's one array in
#: its order). It was sent to every shard as a plain function: one row per shard.
JSON_ARRAYAGG_ONE_SHARD = [
    "SELECT JSON_ARRAYAGG(qty) FROM orders WHERE id = 17",
    "SELECT customer_id, JSON_ARRAYAGG(DISTINCT status ORDER BY status) FROM orders "
    "WHERE id = 33 GROUP BY customer_id",
]
JSON_ARRAYAGG_SEVERAL_SHARDS = [
    "SELECT JSON_ARRAYAGG(id) FROM orders WHERE id < 4",
    "SELECT customer_id, JSON_ARRAYAGG(id ORDER BY id) FROM orders GROUP BY customer_id",
    "SELECT id, (SELECT JSON_ARRAYAGG(qty) FROM orders) FROM customers WHERE id = 1",
]


def test_json_arrayagg_is_an_aggregate(env: Environment) -> None:
    cases = [Case("JSON_ARRAYAGG one shard", sql) for sql in JSON_ARRAYAGG_ONE_SHARD]
    cases += [Case("JSON_ARRAYAGG shards", sql) for sql in JSON_ARRAYAGG_SEVERAL_SHARDS]
    report = env.run(cases)
    env.check(report, "JSON_ARRAYAGG")
    if env.answers_all:
        assert report.counts["JSON_ARRAYAGG one shard"]["same"] == len(JSON_ARRAYAGG_ONE_SHARD)
    assert report.counts["JSON_ARRAYAGG shards"]["clear"] == len(JSON_ARRAYAGG_SEVERAL_SHARDS)
