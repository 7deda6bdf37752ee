"""Issue 18.5: window functions over several shards against one unsharded MariaDB.

* **shard-local** — every PARTITION BY includes the shard key (``order_items`` by
  ``order_id``, ``orders`` joined to its co-located ``order_items``, ``tags`` by its
  binary-collated text key): the shards compute the windows, the coordinator merges
  rows, with the outer ORDER BY/LIMIT and tiny chunks (the derived-table keyset read);
* **coordinator** — the partition is not on the shard key, or there is none: the shards
  send rows sorted by (partition, order) and the coordinator computes the functions
  (:mod:`sharding.merge.window`);
* **refused** — forms with no exact plan: a clear 1235, never a wrong answer.

Every statement must give MariaDB's answer or a documented refusal (1235,
docs/refusals.md); a wrong answer fails, and each answered class has a floor.
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment, Report

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

LOCAL = "shard-local partitions"
COORD = "coordinator windows"
REFUSED = "refused forms"

LOCAL_CASES = [
    "SELECT order_id, line, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY line DESC) rn "
    "FROM order_items",
    "SELECT order_id, line, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY line DESC) rn "
    "FROM order_items ORDER BY order_id, rn",
    "SELECT order_id, line, price, SUM(price) OVER (PARTITION BY order_id ORDER BY line) s, "
    "AVG(price) OVER (PARTITION BY order_id) a, COUNT(*) OVER (PARTITION BY order_id) n "
    "FROM order_items ORDER BY order_id DESC, line LIMIT 17",
    "SELECT order_id, line, sku, RANK() OVER (PARTITION BY order_id ORDER BY sku) r, "
    "DENSE_RANK() OVER (PARTITION BY order_id ORDER BY sku) d, "
    "LAG(sku, 1, 'none') OVER (PARTITION BY order_id ORDER BY line) prev, "
    "LEAD(price) OVER (PARTITION BY order_id ORDER BY line) nxt "
    "FROM order_items WHERE order_id < 120 ORDER BY order_id, line",
    "SELECT order_id, line, FIRST_VALUE(sku) OVER w f, LAST_VALUE(sku) OVER w l, "
    "NTILE(2) OVER w t FROM order_items WINDOW w AS (PARTITION BY order_id ORDER BY line) "
    "ORDER BY order_id, line LIMIT 5, 20",
    "SELECT i.order_id, i.line, o.status, "
    "ROW_NUMBER() OVER (PARTITION BY o.id ORDER BY i.price DESC, i.line) rn "
    "FROM orders o JOIN order_items i ON i.order_id = o.id ORDER BY rn, i.order_id LIMIT 30",
    "SELECT order_id, line, MAX(price) OVER (PARTITION BY order_id, sku) m FROM order_items "
    "ORDER BY m DESC, order_id, line LIMIT 10",
    "SELECT order_id, line, FIRST_VALUE(sku) OVER (PARTITION BY order_id ORDER BY line) f "
    "FROM order_items ORDER BY f, order_id, line",
    "SELECT c.id, ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY c.name) FROM customers c "
    "LEFT JOIN regions r ON r.code = c.region",
    "SELECT name, n, ROW_NUMBER() OVER (PARTITION BY name ORDER BY n) rn, "
    "COUNT(*) OVER (PARTITION BY name) c FROM tags ORDER BY name",
    "SELECT id, amount, SUM(amount) OVER (PARTITION BY id) s FROM orders WHERE id > 200 "
    "ORDER BY s DESC, id LIMIT 7",
    "SELECT order_id, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY line) rn "
    "FROM order_items ORDER BY ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY line) DESC, "
    "order_id LIMIT 12",
]

COORD_CASES = [
    # No PARTITION BY: the whole result is one partition.
    "SELECT id, ROW_NUMBER() OVER (ORDER BY id) rn FROM orders",
    "SELECT id, qty, ROW_NUMBER() OVER (ORDER BY qty DESC, id) rn, "
    "RANK() OVER (ORDER BY qty DESC) r, DENSE_RANK() OVER (ORDER BY qty DESC) d "
    "FROM orders ORDER BY rn",
    "SELECT id, COUNT(*) OVER () n, SUM(amount) OVER () s, AVG(qty) OVER () a FROM orders "
    "WHERE id < 50",
    # PARTITION BY a column that is not the shard key; ties (peers) and NULLs.
    "SELECT id, customer_id, amount, SUM(amount) OVER (PARTITION BY customer_id ORDER BY qty) s, "
    "COUNT(qty) OVER (PARTITION BY customer_id ORDER BY qty) c "
    "FROM orders ORDER BY customer_id, id",
    "SELECT id, customer_id, AVG(amount) OVER (PARTITION BY customer_id) a, "
    "AVG(qty) OVER (PARTITION BY customer_id) aq, MIN(note) OVER (PARTITION BY customer_id) mi, "
    "MAX(created) OVER (PARTITION BY customer_id) ma FROM orders",
    "SELECT id, qty, PERCENT_RANK() OVER (PARTITION BY customer_id ORDER BY qty) p, "
    "CUME_DIST() OVER (PARTITION BY customer_id ORDER BY qty) c, "
    "NTILE(3) OVER (PARTITION BY customer_id ORDER BY qty, id) t FROM orders",
    "SELECT id, LAG(amount) OVER (PARTITION BY customer_id ORDER BY id) p, "
    "LEAD(amount, 2) OVER (PARTITION BY customer_id ORDER BY id) n, "
    "LAG(status, 3) OVER (PARTITION BY customer_id ORDER BY id) q FROM orders",
    # (FIRST_VALUE/LAST_VALUE orders are total: a tie's pick is the backend's choice.)
    "SELECT id, FIRST_VALUE(amount) OVER (PARTITION BY customer_id ORDER BY qty, id) f, "
    "LAST_VALUE(amount) OVER (PARTITION BY customer_id ORDER BY qty, id) l FROM orders "
    "ORDER BY id",
    "SELECT id, LAST_VALUE(id) OVER (PARTITION BY customer_id ORDER BY id RANGE BETWEEN "
    "UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) lp, FIRST_VALUE(status) OVER "
    "(PARTITION BY customer_id ORDER BY id) fs FROM orders",
    # ROWS frames.
    "SELECT id, SUM(amount) OVER (PARTITION BY customer_id ORDER BY id ROWS 2 PRECEDING) s, "
    "AVG(amount) OVER (PARTITION BY customer_id ORDER BY id "
    "ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) a, "
    "COUNT(*) OVER (PARTITION BY customer_id ORDER BY id "
    "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) c, "
    "MAX(qty) OVER (PARTITION BY customer_id ORDER BY id "
    "ROWS BETWEEN 2 FOLLOWING AND 3 FOLLOWING) m FROM orders",
    "SELECT id, FIRST_VALUE(id) OVER (ORDER BY id ROWS BETWEEN 1 FOLLOWING AND 2 FOLLOWING) f, "
    "LAST_VALUE(id) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND 1 PRECEDING) l "
    "FROM orders WHERE id < 30",
    "SELECT id, SUM(qty) OVER (ORDER BY id RANGE BETWEEN UNBOUNDED PRECEDING AND "
    "UNBOUNDED FOLLOWING) s FROM orders WHERE id > 200",
    # Text under utf8mb4_general_ci: 'paid', 'Paid' and 'paid ' are one partition/peer.
    "SELECT id, status, ROW_NUMBER() OVER (PARTITION BY status ORDER BY id) rn, "
    "COUNT(*) OVER (PARTITION BY status) n FROM orders",
    "SELECT id, status, RANK() OVER (ORDER BY status) r, DENSE_RANK() OVER (ORDER BY status) d "
    "FROM orders",
    "SELECT id, region, ROW_NUMBER() OVER (PARTITION BY region ORDER BY tier, id) rn, "
    "SUM(tier) OVER (PARTITION BY region ORDER BY tier) s FROM customers",
    # ENUM: partitions and order by the index.
    "SELECT id, size, RANK() OVER (ORDER BY size) r, "
    "ROW_NUMBER() OVER (PARTITION BY size ORDER BY id DESC) rn FROM orders",
    "SELECT id, size, DENSE_RANK() OVER (ORDER BY size DESC) d FROM orders ORDER BY d, id",
    # DOUBLE values.
    "SELECT id, kind, score, SUM(score) OVER (PARTITION BY kind ORDER BY id) s, "
    "MIN(score) OVER (PARTITION BY kind) m FROM events",
    # Outer ORDER BY / LIMIT on top of coordinator windows.
    "SELECT id, customer_id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY id) rn "
    "FROM orders ORDER BY rn DESC, id LIMIT 10",
    "SELECT id, customer_id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY id) rn "
    "FROM orders ORDER BY customer_id, id LIMIT 5, 10",
    "SELECT id, SUM(amount) OVER (ORDER BY id) s FROM orders ORDER BY id DESC LIMIT 4",
    # Named windows.
    "SELECT id, ROW_NUMBER() OVER w rn, SUM(qty) OVER w s, "
    "AVG(qty) OVER (w ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) a FROM orders "
    "WINDOW w AS (PARTITION BY customer_id ORDER BY id)",
    "SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY id) rn FROM orders "
    "ORDER BY id LIMIT 20",
    "SELECT id, DENSE_RANK() OVER (ORDER BY amount DESC) d, LAG(id, 0) OVER (ORDER BY amount "
    "DESC) same FROM orders WHERE amount IS NULL OR amount > 900",
    # The statement's ORDER BY over text window values (collation-aware TopN).
    "SELECT id, FIRST_VALUE(status) OVER (PARTITION BY customer_id ORDER BY id) fs FROM orders "
    "ORDER BY fs, id LIMIT 30",
    "SELECT id, customer_id, MAX(note) OVER (PARTITION BY customer_id ORDER BY id) m "
    "FROM orders ORDER BY m DESC, id LIMIT 30",
    # A binary-collated text key, no partition: 'abc' and 'ABC' are not peers.
    "SELECT name, n, SUM(n) OVER (ORDER BY name) s, RANK() OVER (ORDER BY name) r FROM tags",
    # A join of co-located tables partitioned by a non-key column.
    "SELECT i.order_id, i.line, o.status, RANK() OVER (PARTITION BY o.status ORDER BY i.price) r "
    "FROM orders o JOIN order_items i ON i.order_id = o.id",
]

REFUSED_CASES = [
    "SELECT customer_id, COUNT(*), ROW_NUMBER() OVER (ORDER BY customer_id) FROM orders "
    "GROUP BY customer_id",
    "SELECT id, ROW_NUMBER() OVER (ORDER BY id) + 1 FROM orders",
    "SELECT id, ROW_NUMBER() OVER (ORDER BY id), RANK() OVER (ORDER BY qty) FROM orders",
    "SELECT id, SUM(qty) OVER (ORDER BY id RANGE BETWEEN 2 PRECEDING AND CURRENT ROW) FROM orders",
    "SELECT id, COUNT(DISTINCT qty) OVER (PARTITION BY customer_id) FROM orders",
    "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM orders WHERE id < 9 FOR UPDATE",
    # MariaDB has no third LAG/LEAD argument: its 1064, whatever the route.
    "SELECT id, LAG(qty, 1, -1) OVER (PARTITION BY customer_id ORDER BY id) q FROM orders",
]

#: Statements of each class that must be answered (not refused) on every variant.
FLOORS = {LOCAL: len(LOCAL_CASES), COORD: len(COORD_CASES)}


def cases() -> list[Case]:
    return (
        [Case(LOCAL, sql) for sql in LOCAL_CASES]
        + [Case(COORD, sql) for sql in COORD_CASES]
        + [Case(REFUSED, sql) for sql in REFUSED_CASES]
    )


def test_window_classes(env: Environment) -> None:
    report = env.run(cases())
    print(report.table(f"window functions on {env.shards} shards, chunk {env.chunk}"))
    print("\n".join(report.clear))
    assert not report.wrong, "\n".join(report.wrong)
    for cls, floor in FLOORS.items():
        assert report.counts[cls]["same"] >= floor, (cls, report.counts[cls])


def test_window_prepared(env: Environment) -> None:
    """The prepared-statement path: parameters in WHERE, the window and LIMIT."""
    report = env.run_params(
        "prepared windows",
        [
            (
                "SELECT order_id, line, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY line) "
                "rn FROM order_items WHERE order_id > ? ORDER BY order_id, line LIMIT ?",
                [40, 9],
            ),
            (
                "SELECT order_id, line, LEAD(line, 1) OVER (PARTITION BY order_id "
                "ORDER BY line) p FROM order_items WHERE order_id BETWEEN ? AND ? "
                "ORDER BY order_id, line",
                [11, 61],
            ),
            (
                "SELECT id, customer_id, SUM(amount) OVER (PARTITION BY customer_id ORDER BY id) "
                "s, NTILE(2) OVER (PARTITION BY customer_id ORDER BY id) t FROM orders "
                "WHERE qty > ? ORDER BY customer_id, id LIMIT ?",
                [3, 25],
            ),
        ],
        Report(),
    )
    env.check(report, "prepared windows", answered=True)


DEFINITION_STATEMENTS = [
    # Computed by the coordinator: the types come from MariaDB's rules (sql/describe).
    "SELECT id, ROW_NUMBER() OVER w rn, RANK() OVER w r, DENSE_RANK() OVER w d, "
    "PERCENT_RANK() OVER w p, CUME_DIST() OVER w c, NTILE(2) OVER w t, LAG(amount) OVER w l, "
    "LEAD(status) OVER w s, FIRST_VALUE(size) OVER w f, LAST_VALUE(created) OVER w lc, "
    "SUM(amount) OVER w su, AVG(qty) OVER w a, COUNT(*) OVER w n, MIN(size) OVER w mi, "
    "MAX(note) OVER w ma FROM orders WINDOW w AS (ORDER BY id)",
    "SELECT id, MIN(score) OVER (ORDER BY id) m, LAG(score) OVER (ORDER BY id) l, "
    "SUM(score) OVER (ORDER BY id) s FROM events",
    # Computed by the shards: their own definitions.
    "SELECT order_id, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY line) rn, "
    "SUM(price) OVER (PARTITION BY order_id) s FROM order_items",
]


@pytest.mark.parametrize("sql", DEFINITION_STATEMENTS)
def test_window_column_definitions(env: Environment, sql: str) -> None:
    """Type, length and decimals of every column as MariaDB announces them (the
    NULL flag of a plain column differs: MariaDB marks every column of a windowed
    result nullable, the shards' plain reads keep NOT NULL)."""
    with env.connect_oracle() as o, env.connect_sharded() as s:
        co, cs = o.cursor(), s.cursor()
        co.execute(sql)
        cs.execute(sql)
        assert [d[:6] for d in cs.description] == [d[:6] for d in co.description]
