"""Golden plans: what the planner decides, pinned statement by statement (issue 13.6).

The differential tests prove rows; they cannot see a plan that silently became a
1024-shard scatter, lost a pushed LIMIT, or changed its aggregate mode, chunking or
tiebreaker — the answer stays right and only the cost changes. Each group of
statements below has a file in ``tests/sharding/plans/`` holding, per statement, its
EXPLAIN text on the 16-shard differential dataset (SQLite shards, chunk 64).

A changed plan fails with a diff. When the change is intended, rewrite the files with

    .venv/bin/python -m pytest tests/sharding/test_golden_plans.py --update-plans

and review the diff in ``git diff tests/sharding/plans`` before committing it.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from sharding import Coordinator
from sharding.errors import ShardgateError

PLANS = Path(__file__).parent / "plans"

# Tables of the dataset (tests/sharding/dataset.py): t, t2, u sharded by hash of their
# first key over 16 shards; dim broadcast; r by range (5 shards); m by hash (7 shards).
GROUPS: dict[str, list[str]] = {
    "routing": [
        "SELECT * FROM t WHERE id = 5",
        "SELECT * FROM t WHERE id IN (1, 2, 3)",
        "SELECT * FROM t WHERE id = 5 OR id = 6",
        "SELECT * FROM t WHERE id = 5 AND k = 3",
        "SELECT * FROM t WHERE id BETWEEN 1 AND 3",
        "SELECT * FROM t WHERE k = 5",
        "SELECT * FROM t WHERE id = 5 OR k = 6",
        "SELECT * FROM t WHERE NOT id = 5",
        "SELECT * FROM t WHERE id IS NULL",
        "SELECT * FROM t WHERE id = 5 AND id = 6",
        "SELECT * FROM r WHERE id BETWEEN 11 AND 19",
        "SELECT * FROM r WHERE id BETWEEN 5 AND 155",
        "SELECT * FROM r WHERE id >= 260",
        "SELECT * FROM r WHERE id < 40",
        "SELECT * FROM m WHERE id = 17",
        "SELECT * FROM dim",
        "SELECT * FROM dim WHERE k = 4",
        "SELECT 1 + 1",
    ],
    "limits_and_order": [
        "SELECT id FROM t ORDER BY id",
        "SELECT id FROM t ORDER BY id LIMIT 5",
        "SELECT id FROM t ORDER BY id LIMIT 5 OFFSET 10",
        "SELECT id, a FROM t ORDER BY a DESC, id LIMIT 3",
        "SELECT id, a FROM t ORDER BY a LIMIT 3",
        "SELECT * FROM t LIMIT 7",
        "SELECT id FROM t WHERE id = 5 ORDER BY a LIMIT 1",
        "SELECT b, id FROM t ORDER BY b, id LIMIT 4",
        "SELECT id FROM t ORDER BY c IS NULL, c, id LIMIT 2",
        "SELECT id, a + 1 AS a1 FROM t ORDER BY a1, id LIMIT 3",
        "SELECT id FROM t2 ORDER BY id, seq LIMIT 3",
    ],
    "aggregates": [
        "SELECT COUNT(*) FROM t",
        "SELECT COUNT(*), SUM(a), MIN(a), MAX(a) FROM t",
        "SELECT AVG(a) FROM t",
        "SELECT k, COUNT(*) FROM t GROUP BY k",
        "SELECT k, COUNT(*) FROM t GROUP BY k ORDER BY k LIMIT 3",
        "SELECT k, SUM(a) FROM t GROUP BY k HAVING SUM(a) > 10",
        "SELECT k, COUNT(*) AS n FROM t GROUP BY k ORDER BY n DESC, k LIMIT 5",
        "SELECT DISTINCT k FROM t",
        "SELECT DISTINCT k FROM t ORDER BY k LIMIT 4",
        "SELECT COUNT(DISTINCT k) FROM t",
        "SELECT COUNT(DISTINCT k, a) FROM t",
        "SELECT d, AVG(c) FROM t GROUP BY d ORDER BY d",
        "SELECT k, COUNT(*) FROM t WHERE id = 3 GROUP BY k",
        "SELECT g, COUNT(*), SUM(v) FROM m GROUP BY g ORDER BY g",
        "SELECT COUNT(*) FROM dim",
        # Issue 18.6: super-aggregate rows from an OrderedAggregate (no LIMIT pushed);
        # STD/VARIANCE are MariaDB-only (refused on SQLite shards).
        "SELECT k, d, COUNT(*) FROM t GROUP BY k, d WITH ROLLUP LIMIT 5",
        "SELECT k, SUM(a) FROM t GROUP BY k WITH ROLLUP HAVING SUM(a) > 10",
        "SELECT k, COUNT(*) FROM t GROUP BY k WITH ROLLUP ORDER BY k",
        "SELECT VARIANCE(a) FROM t",
    ],
    "joins": [
        "SELECT t.id, u.x FROM t JOIN u ON t.k = u.k ORDER BY t.id",
        "SELECT t.id, u.x FROM t JOIN u ON t.k = u.k ORDER BY t.id LIMIT 5",
        "SELECT t.id, t2.seq FROM t JOIN t2 ON t2.id = t.id",
        "SELECT t.id, t2.seq FROM t JOIN t2 ON t2.id = t.id WHERE t.id = 7",
        "SELECT t.id, t2.v FROM t LEFT JOIN t2 ON t2.id = t.id ORDER BY t.id, t2.seq LIMIT 5",
        "SELECT t.id, dim.name FROM t JOIN dim ON dim.k = t.k",
        "SELECT t.id, dim.name FROM t LEFT JOIN dim ON dim.k = t.k WHERE t.id = 3",
        "SELECT t.k, COUNT(*) FROM t JOIN dim ON dim.k = t.k GROUP BY t.k",
        "SELECT COUNT(*) FROM t JOIN u ON t.k = u.k",
        "SELECT t.id, u.uid FROM t LEFT JOIN u ON t.k = u.k ORDER BY t.id, u.uid LIMIT 4",
    ],
    # Issue 18.3: a derived table or CTE read by the coordinator's primitives; WHERE
    # conjuncts pushed into the body; held rows bounded (cluster.union_rows).
    "derived": [
        "SELECT * FROM (SELECT id, k, a FROM t) d WHERE k = 3",
        "SELECT * FROM (SELECT id, k, a FROM t) d WHERE id = 3",
        "SELECT n, COUNT(*) FROM (SELECT k, COUNT(*) n FROM t GROUP BY k) d GROUP BY n ORDER BY n",
        "WITH x AS (SELECT id, a FROM t WHERE a > 10) SELECT COUNT(*), MAX(a) FROM x",
        "SELECT id, a FROM (SELECT id, a FROM t) d ORDER BY a DESC, id LIMIT 7",
        "SELECT * FROM (SELECT t.id, u.x FROM t JOIN u ON t.k = u.k) d WHERE x > 10",
        "SELECT * FROM (SELECT id FROM t WHERE id = 5) d",
        # Joined with one table: the body's rows sorted by the key, a SortMergeJoin.
        "SELECT t.id, d.n FROM t JOIN (SELECT k, COUNT(*) n FROM u GROUP BY k) d ON d.k = t.k",
        "SELECT d.k, d.n, dim.name FROM (SELECT k, COUNT(*) n FROM u GROUP BY k) d "
        "LEFT JOIN dim ON dim.k = d.k WHERE d.n > 2 ORDER BY d.k LIMIT 5",
    ],
    "writes": [
        "INSERT INTO t (id, k) VALUES (1001, 2)",
        "INSERT INTO t (id, k) VALUES (1001, 2), (1002, 3), (1003, 4)",
        "INSERT INTO dim (k, name) VALUES (100, 'x')",
        "INSERT INTO t SET id = 1004, k = 1",
        "REPLACE INTO t (id, k) VALUES (1001, 2)",
        "UPDATE t SET a = 1 WHERE id = 3",
        "UPDATE t SET a = 1 WHERE k = 3",
        "UPDATE t SET a = a + 1 WHERE id IN (3, 4)",
        "UPDATE dim SET name = 'y' WHERE k = 4",
        "DELETE FROM t WHERE id = 3",
        "DELETE FROM t WHERE k IS NULL",
        "DELETE FROM r WHERE id BETWEEN 1 AND 30",
        "UPDATE t JOIN dim ON dim.k = t.k SET t.a = 0 WHERE dim.name = 'n1'",
        "UPDATE t JOIN t2 ON t2.id = t.id SET t.a = t2.v WHERE t.id = 9",
        "DELETE t FROM t JOIN dim ON dim.k = t.k WHERE dim.k = 2",
    ],
}


def render(statements: list[str], plans: list[str]) -> str:
    blocks = [f"==== {sql}\n{plan.rstrip()}\n" for sql, plan in zip(statements, plans, strict=True)]
    return "\n".join(blocks)


async def explain_or_error(coord: Coordinator, sql: str) -> str:
    try:
        return await coord.explain(sql)
    except ShardgateError as exc:  # a refusal is a planner decision too
        return f"ERROR {exc.code}: {exc}"


def test_enough_statements_are_pinned() -> None:
    assert sum(len(v) for v in GROUPS.values()) + sum(len(v) for v in MYSQL_GROUPS.values()) >= 60


@pytest.mark.parametrize("group", sorted(GROUPS))
async def test_golden_plan(
    group: str, coord16: Coordinator, request: pytest.FixtureRequest
) -> None:
    statements = GROUPS[group]
    actual = render(statements, [await explain_or_error(coord16, sql) for sql in statements])
    _compare_or_update(group, actual, request)


# -- the MySQL dialect: plans of the fidelity fixes (issue 11), on 16 MariaDB shards ----

MYSQL_GROUPS: dict[str, list[str]] = {
    "mysql_fidelity": [
        # Multi-table writes keep their join (class 1) or are refused.
        "UPDATE orders o JOIN regions r ON r.code = o.status SET o.qty = 1",
        "UPDATE orders o JOIN order_items i ON i.order_id = o.id SET o.qty = 7 WHERE o.id = 5",
        "DELETE i FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.id = 3",
        "DELETE FROM o USING orders o JOIN regions r ON r.code = o.status WHERE o.id < 50",
        "UPDATE orders o JOIN customers c ON c.id = o.customer_id SET o.qty = 99",
        # Upserts (class 2) and text keys under PAD SPACE (class 5).
        "INSERT INTO customers (id, name) VALUES (1, 'x') ON DUPLICATE KEY UPDATE name = VALUES(name)",
        "INSERT INTO customers (id, name) VALUES (1, 'x') ON DUPLICATE KEY UPDATE id = 2",
        "SELECT * FROM tags WHERE name = 'abc  '",
        # Hex literals on the shard key (class 5).
        "SELECT * FROM orders WHERE id = 0x10",
        "SELECT * FROM orders WHERE id IN (0x10, 17)",
        # Broadcast table on the preserved side of an outer join (class 3).
        "SELECT r.code, c.id FROM regions r LEFT JOIN customers c ON c.region = r.code",
        # Different shard counts (class 8), ENUM order (7), DECIMAL partials (6).
        "SELECT o.id, e.kind FROM orders o JOIN events e ON e.id = o.id ORDER BY o.id LIMIT 3",
        "SELECT size, COUNT(*) FROM orders GROUP BY size ORDER BY size",
        "SELECT SUM(qty / 3), AVG(amount) FROM orders",
        # BIT_* partials combined by the same operation (issue 18.6).
        "SELECT status, BIT_OR(qty), BIT_AND(id) FROM orders GROUP BY status",
        # MySQL functions over merged values computed by the data source (issue 18.6).
        "SELECT size, CONCAT(size, ':', COUNT(*)), IF(SUM(qty) > 9, 1, 2.5) FROM orders "
        "GROUP BY size",
        # Session variables are values: a user variable on the key routes to one shard.
        "SELECT id FROM orders WHERE id = @nosuch",
        # The data-source stage (issue 17): with a LIMIT each data source merges its
        # shards' top rows; without one the rows stream keyset-chunked (no stage).
        "SELECT id, qty FROM orders ORDER BY qty DESC, id LIMIT 5",
        "SELECT id, qty FROM orders ORDER BY qty, id LIMIT 3 OFFSET 20",
        "SELECT id, qty FROM orders ORDER BY qty, id",
    ],
    # Issue 18.6: STD/VARIANCE partials, WITH ROLLUP, MySQL functions over merged
    # aggregates in HAVING and ORDER BY (one BackendEval under the Filter), GROUP_CONCAT
    # (more in mysql_group_concat).
    "mysql_aggregates": [
        "SELECT size, STD(qty), VAR_SAMP(amount) FROM orders GROUP BY size",
        "SELECT VARIANCE(score) FROM events",
        "SELECT STD(qty + 1) FROM orders",
        "SELECT size, qty, COUNT(*), AVG(amount) FROM orders GROUP BY size, qty WITH ROLLUP",
        "SELECT o.size, COUNT(*) FROM orders o JOIN events e ON e.id = o.id "
        "GROUP BY o.size WITH ROLLUP",
        "SELECT size, COUNT(*) FROM orders GROUP BY size "
        "HAVING CONCAT(MAX(status), 'x') <> 'paidx' ORDER BY UPPER(MIN(status)), size",
        "SELECT customer_id % 5 g, AVG(qty) FROM orders GROUP BY g ORDER BY ROUND(AVG(qty), 1), g",
        "SELECT GROUP_CONCAT(status ORDER BY id SEPARATOR '|') FROM orders",
    ],
    # Issue 18.6: GROUP_CONCAT merged from the shards' texts, keys and multiplicities.
    "mysql_group_concat": [
        "SELECT size, GROUP_CONCAT(id, '-', qty ORDER BY id DESC SEPARATOR '; ') FROM orders "
        "GROUP BY size",
        "SELECT GROUP_CONCAT(DISTINCT size ORDER BY size) FROM orders",
        "SELECT qty, COUNT(*), GROUP_CONCAT(DISTINCT status ORDER BY 1), "
        "GROUP_CONCAT(amount ORDER BY amount) FROM orders GROUP BY qty ORDER BY qty LIMIT 3",
        "SELECT size, GROUP_CONCAT(id ORDER BY id) g FROM orders GROUP BY size "
        "HAVING g LIKE '1%' ORDER BY g",
        "SELECT o.size, GROUP_CONCAT(e.kind) FROM orders o JOIN events e ON e.id = o.id "
        "GROUP BY o.size",
        "SELECT size, GROUP_CONCAT(id) FROM orders GROUP BY size WITH ROLLUP",
    ],
    # Issue 18.1: a statement whose every query block routes to one shard runs there.
    "one_shard": [
        "SELECT * FROM (SELECT id, name FROM customers WHERE id = 3) d",
        "SELECT id FROM customers WHERE id = 3 UNION SELECT id FROM customers WHERE id = 1027",
        "WITH d AS (SELECT id FROM orders WHERE id = 5) SELECT * FROM d",
        "SELECT id FROM orders WHERE id = 3 AND id IN "
        "(SELECT order_id FROM order_items WHERE order_id = 3)",
        "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM orders WHERE id = 3",
        "SELECT id FROM customers WHERE id = 3 UNION SELECT id FROM customers WHERE id = 4",
        "SELECT id FROM orders WHERE id = 3 AND id IN (SELECT order_id FROM order_items)",
        "SELECT (SELECT COUNT(*) FROM orders o2 WHERE orders.id = 3) FROM orders WHERE id = 3",
        # Issue 18.2: uncorrelated subqueries run first; their values route the outer.
        "SELECT id FROM orders WHERE id IN (SELECT order_id FROM order_items WHERE sku = 'x')",
        "DELETE FROM orders WHERE qty > (SELECT AVG(qty) FROM orders)",
        # Issue 18.7: correlated IN / scalar aggregates of one equality correlation run
        # decorrelated (sql/decorrelate.py), and EXPLAIN shows them so.
        "SELECT id FROM customers c WHERE tier IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id)",
        "SELECT id FROM customers c WHERE tier NOT IN "
        "(SELECT o.qty FROM orders o WHERE o.customer_id = c.id AND o.status = 'new')",
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) FROM customers c",
        "SELECT id FROM customers c WHERE "
        "(SELECT SUM(qty) FROM orders o WHERE o.customer_id = c.id) > 10",
    ],
    # Issue 18.4: UNION / INTERSECT / EXCEPT over several shards, merged per block.
    "union": [
        "SELECT id FROM customers UNION ALL SELECT customer_id FROM orders",
        "SELECT id FROM customers UNION SELECT customer_id FROM orders",
        "SELECT id, name FROM customers UNION ALL SELECT customer_id, status FROM orders "
        "ORDER BY 2 DESC, 1 LIMIT 5",
        "SELECT customer_id FROM orders UNION ALL SELECT customer_id FROM events "
        "UNION SELECT id FROM customers",
        "(SELECT id FROM orders ORDER BY id DESC LIMIT 3) UNION SELECT id FROM customers "
        "ORDER BY 1",
        "SELECT id FROM customers WHERE id = 3 UNION SELECT id FROM customers WHERE id = 1027",
        "SELECT id FROM customers INTERSECT SELECT customer_id FROM orders",
        "SELECT amount FROM orders UNION SELECT price FROM order_items",
    ],
    # Issue 18.3: derived tables and CTEs over several shards — the body planned as any
    # SELECT, the outer query computed over its rows; WHERE conjuncts pushed into the
    # body (its WHERE, or a grouped body's HAVING); held state bounded; refusals.
    "mysql_derived": [
        "SELECT * FROM (SELECT id, name, region FROM customers) d "
        "WHERE region = 'us' AND name LIKE 'c%'",
        "SELECT * FROM (SELECT id, name FROM customers) d WHERE id = 7",
        "SELECT n, COUNT(*) FROM (SELECT customer_id, COUNT(*) n FROM orders "
        "GROUP BY customer_id) d GROUP BY n ORDER BY n",
        "SELECT * FROM (SELECT status, COUNT(*) c FROM orders GROUP BY status) d "
        "WHERE status LIKE 'p%' AND c > 5",
        "SELECT id, amount FROM (SELECT id, amount FROM orders ORDER BY amount DESC, id "
        "LIMIT 20) d WHERE amount > 100 ORDER BY id LIMIT 5",
        "WITH d (cid, total) AS (SELECT customer_id, SUM(amount) FROM orders "
        "GROUP BY customer_id) SELECT cid, total FROM d WHERE total > 2000 ORDER BY cid",
        "SELECT DISTINCT qty FROM (SELECT qty FROM orders) d",
        "SELECT COUNT(*) FROM (SELECT id FROM customers UNION SELECT customer_id FROM orders) d",
        "SELECT * FROM (SELECT id FROM orders ORDER BY id DESC) d",
        "SELECT * FROM (SELECT id, name FROM customers WHERE id = 3) d",
        "SELECT ROW_NUMBER() OVER (ORDER BY id) FROM (SELECT id FROM orders) d",
        "SELECT d.id FROM (SELECT id FROM customers) d JOIN orders o ON o.customer_id = d.id",
        "SELECT c.id, d.n FROM customers c LEFT JOIN (SELECT customer_id, COUNT(*) n FROM orders "
        "GROUP BY customer_id) d ON d.customer_id = c.id AND d.n > 3 ORDER BY c.id",
        "WITH d AS (SELECT customer_id, SUM(amount) s FROM orders GROUP BY customer_id) "
        "SELECT c.region, SUM(d.s) FROM customers c JOIN d ON d.customer_id = c.id "
        "GROUP BY c.region",
        "SELECT COUNT(*) FROM customers c JOIN (SELECT customer_id, COUNT(*) n FROM orders "
        "GROUP BY customer_id) d ON d.n > c.tier",
    ],
    # Issue 18: an IN / NOT IN subquery past cluster.subquery_rows values that is not a
    # pageable row filter runs as a semi/anti join with its distinct values (sorted and
    # held, cluster.union_rows): EXPLAIN shows that plan after the values plan.
    "mysql_semi_join": [
        "SELECT COUNT(*), SUM(amount) FROM orders WHERE id IN (SELECT order_id FROM order_items)",
        "SELECT status, COUNT(*) FROM orders WHERE qty > 2 AND id IN "
        "(SELECT order_id FROM order_items WHERE line > 1) GROUP BY status ORDER BY status",
        "SELECT id, qty FROM orders WHERE id IN (SELECT order_id FROM order_items) "
        "ORDER BY qty DESC, id LIMIT 7",
        "SELECT DISTINCT qty FROM orders WHERE id IN (SELECT order_id FROM order_items)",
        "SELECT status, COUNT(*) FROM orders WHERE status IN "
        "(SELECT status FROM orders WHERE id < 30) GROUP BY status",
        "SELECT * FROM regions WHERE code IN (SELECT region FROM customers)",
        "SELECT COUNT(*) FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)",
        "SELECT COUNT(*) FROM customers c WHERE NOT EXISTS "
        "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.qty > 4)",
        "SELECT COUNT(*) FROM customers c WHERE EXISTS "
        "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.qty > 4)",
        # Keys that do not compare alike: the values plan, then the join's refusal.
        "SELECT COUNT(*) FROM orders WHERE note IN (SELECT id FROM customers)",
        # A plain row filter of integer keys pages instead: no join shown.
        "SELECT id FROM orders WHERE id IN (SELECT order_id FROM order_items WHERE line > 2)",
    ],
    # Issue 18.5: window functions over several shards — computed by the shards when
    # every PARTITION BY has the shard key (chunks read a derived table), else by the
    # coordinator's Window over rows merged in (partition, order) order; refusals.
    "windows": [
        "SELECT order_id, line, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY line) rn "
        "FROM order_items ORDER BY order_id, rn LIMIT 5",
        "SELECT i.order_id, RANK() OVER (PARTITION BY o.id ORDER BY i.price) r "
        "FROM orders o JOIN order_items i ON i.order_id = o.id",
        "SELECT name, COUNT(*) OVER (PARTITION BY name) FROM tags",
        "SELECT id, ROW_NUMBER() OVER (ORDER BY id) rn FROM orders",
        "SELECT id, SUM(amount) OVER (PARTITION BY customer_id ORDER BY qty) s, "
        "COUNT(*) OVER (PARTITION BY customer_id) n FROM orders ORDER BY customer_id, qty",
        "SELECT id, RANK() OVER (ORDER BY size) r, NTILE(4) OVER w t, "
        "LAG(status, 2) OVER w p, AVG(qty) OVER (w ROWS 1 PRECEDING) a FROM orders "
        "WINDOW w AS (PARTITION BY size ORDER BY id) ORDER BY r DESC, id LIMIT 10",
        "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM orders WHERE id IN (3, 4)",
        "SELECT id, ROW_NUMBER() OVER (ORDER BY id), RANK() OVER (ORDER BY qty) FROM orders",
        "SELECT customer_id, COUNT(*), ROW_NUMBER() OVER (ORDER BY customer_id) FROM orders "
        "GROUP BY customer_id",
    ],
}


@pytest.mark.mysql
@pytest.mark.parametrize("group", sorted(MYSQL_GROUPS))
def test_golden_plan_mysql(group: str, request: pytest.FixtureRequest) -> None:
    import trio

    from tests.fidelity.harness import environment

    env = environment(16, 1000)
    coord = env.coordinator
    assert coord is not None

    async def explain_all() -> list[str]:
        return [await explain_or_error(coord, sql) for sql in MYSQL_GROUPS[group]]

    plans = trio.from_thread.run(explain_all, trio_token=env._token)
    # Names that carry this run's process id become stable placeholders.
    plans = [p.replace(env.physical_db, "phys").replace(env.logical_db, "db") for p in plans]
    assert not any("sgfid_" in p for p in plans), "a plan line was cut inside a database name"
    _compare_or_update(group, render(MYSQL_GROUPS[group], plans), request)


def _compare_or_update(group: str, actual: str, request: pytest.FixtureRequest) -> None:
    path = PLANS / f"{group}.txt"
    if request.config.getoption("--update-plans"):
        PLANS.mkdir(exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing: run with --update-plans to create it"
    expected = path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"{path.name} (golden)",
                f"{path.name} (planner now)",
            )
        )
        pytest.fail(
            f"the plans of {group!r} changed (rerun with --update-plans if intended):\n{diff}"
        )
