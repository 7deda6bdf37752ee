"""Issue 18.3: a derived table or CTE over a sharded table joined with one table.

``t [LEFT|RIGHT] JOIN (SELECT … FROM sharded …) d ON t.a = d.x [AND …]`` (either
order, also ``WITH d AS (…)``) reaching several shards: the body is planned as any
SELECT, its rows are sorted by the join key in the coordinator (bounded by
``cluster.union_rows``), the table is read ordered by its key as a side of a
cross-shard join, and :class:`~sharding.merge.sort_merge_join.SortMergeJoin` pairs
them (:func:`sharding.sql.derived_plan.plan_derived_join`). Against one unsharded
MariaDB, on 16 and 1024 shards and with tiny chunks:

* ``ANSWERED`` — must be answered (*same*), never refused: inner / LEFT / RIGHT joins
  with grouped and plain bodies, CTEs, NULL keys, text keys with case and trailing-space
  variants (``utf8mb4_general_ci``, PAD SPACE), several key equalities, conditions
  moved into the body, GROUP BY / ORDER BY / LIMIT above the join, a body or the whole
  statement routed to one shard;
* ``OTHERS`` — forms that stay refused (three sources, no equality, a CTE named twice,
  keys of different types, ENUM keys, a quotient key): the same answer or a clear 1235;
* the derived side's held rows past ``cluster.union_rows``: a 1235 naming the setting;
* result column definitions as MariaDB announces them.
"""

from __future__ import annotations

import pytest
import trio

from sharding.errors import NotSupported
from tests.fidelity.harness import Case, Environment, Report

pytestmark = pytest.mark.mysql

_COUNTS = "(SELECT customer_id, COUNT(*) n FROM orders GROUP BY customer_id)"

ANSWERED = [
    Case(cls, sql)
    for cls, sql in [
        # INNER: a grouped body, either order.
        (
            "inner",
            f"SELECT c.id, c.name, d.n FROM customers c JOIN {_COUNTS} d "
            "ON d.customer_id = c.id ORDER BY c.id",
        ),
        (
            "inner",
            f"SELECT d.customer_id, d.n, c.region FROM {_COUNTS} d JOIN customers c "
            "ON c.id = d.customer_id ORDER BY d.n DESC, d.customer_id",
        ),
        ("inner", f"SELECT * FROM customers c JOIN {_COUNTS} d ON d.customer_id = c.id"),
        (
            "inner",
            f"SELECT c.id, d.n FROM customers c, {_COUNTS} d WHERE d.customer_id = c.id "
            "AND c.tier = 1 ORDER BY c.id",
        ),
        (
            "inner",
            "SELECT d.id FROM (SELECT id FROM customers) d JOIN orders o ON o.customer_id = d.id",
        ),
        (
            "inner",
            "SELECT c.id, d.amount FROM customers c JOIN (SELECT customer_id, amount FROM orders "
            "WHERE qty > 5) d ON d.customer_id = c.id ORDER BY c.id, d.amount",
        ),
        (
            "inner",
            "SELECT o.id, d.s FROM orders o JOIN (SELECT customer_id, qty, SUM(amount) s "
            "FROM orders GROUP BY customer_id, qty) d ON d.customer_id = o.customer_id "
            "AND d.qty = o.qty WHERE o.id < 60 ORDER BY o.id",
        ),
        # LEFT / RIGHT: the derived table preserved or NULL-extended.
        (
            "left",
            "SELECT c.id, d.n FROM customers c LEFT JOIN (SELECT customer_id, COUNT(*) n "
            "FROM orders WHERE qty > 4 GROUP BY customer_id) d ON d.customer_id = c.id ORDER BY c.id",
        ),
        (
            "left",
            f"SELECT d.customer_id, d.n, c.name FROM {_COUNTS} d LEFT JOIN customers c "
            "ON c.id = d.customer_id ORDER BY d.customer_id",
        ),
        (
            "left",
            f"SELECT c.id FROM customers c LEFT JOIN {_COUNTS} d ON d.customer_id = c.id "
            "WHERE d.n IS NULL ORDER BY c.id",
        ),
        (
            "left",
            f"SELECT c.id, d.n FROM customers c LEFT JOIN {_COUNTS} d "
            "ON d.customer_id = c.id AND d.n > 3 ORDER BY c.id",
        ),
        (
            "left",
            f"SELECT c.id, d.n FROM customers c LEFT JOIN {_COUNTS} d "
            "ON d.customer_id = c.id AND c.tier = 2 ORDER BY c.id",
        ),
        (
            "right",
            f"SELECT * FROM customers c RIGHT JOIN {_COUNTS} d ON d.customer_id = c.id "
            "ORDER BY d.customer_id",
        ),
        # CTEs.
        (
            "cte",
            "WITH d AS (SELECT customer_id, SUM(amount) s FROM orders GROUP BY customer_id) "
            "SELECT c.region, SUM(d.s) FROM customers c JOIN d ON d.customer_id = c.id "
            "GROUP BY c.region ORDER BY c.region",
        ),
        (
            "cte",
            "WITH t AS (SELECT customer_id c, COUNT(*) n FROM orders GROUP BY customer_id) "
            "SELECT x.c, x.n, cu.name FROM t x LEFT JOIN customers cu ON cu.id = x.c "
            "WHERE x.n > 3 ORDER BY x.c",
        ),
        (
            "cte",
            "WITH d (cid, total) AS (SELECT customer_id, SUM(qty) FROM orders GROUP BY customer_id) "
            "SELECT e.id, d.total FROM events e JOIN d ON d.cid = e.customer_id ORDER BY e.id",
        ),
        # NULL keys never match.
        (
            "nulls",
            "SELECT c.id, d.n FROM customers c LEFT JOIN (SELECT region, COUNT(*) n FROM customers "
            "GROUP BY region) d ON d.region = c.region ORDER BY c.id",
        ),
        (
            "nulls",
            "SELECT d.tier, d.n, o.id FROM (SELECT tier, COUNT(*) n FROM customers GROUP BY tier) d "
            "LEFT JOIN orders o ON o.qty = d.tier ORDER BY d.tier, o.id",
        ),
        (
            "nulls",
            "SELECT COUNT(*) FROM orders o JOIN (SELECT qty, COUNT(*) n FROM orders GROUP BY qty) d "
            "ON d.qty = o.qty",
        ),
        # Text keys: case and trailing-space variants are equal (utf8mb4_general_ci).
        (
            "text keys",
            "SELECT o.id, d.c FROM orders o JOIN (SELECT status, COUNT(*) c FROM orders "
            "GROUP BY status) d ON o.status = d.status ORDER BY o.id",
        ),
        (
            "text keys",
            "SELECT r.name, d.n FROM regions r JOIN (SELECT region, COUNT(*) n FROM customers "
            "GROUP BY region) d ON d.region = r.code ORDER BY r.name",
        ),
        (
            "text keys",
            "SELECT c.id, r.name FROM (SELECT id, region FROM customers WHERE tier > 1) c "
            "LEFT JOIN regions r ON r.code = c.region ORDER BY c.id",
        ),
        (
            "text keys",
            "SELECT e.id, d.n FROM events e JOIN (SELECT kind, COUNT(*) n FROM events "
            "GROUP BY kind) d ON d.kind = e.kind WHERE e.id < 30 ORDER BY e.id",
        ),
        # GROUP BY / aggregates / DISTINCT / ORDER BY / LIMIT above the join.
        (
            "above",
            f"SELECT d.n, COUNT(*) FROM customers c JOIN {_COUNTS} d ON d.customer_id = c.id "
            "GROUP BY d.n ORDER BY d.n",
        ),
        (
            "above",
            f"SELECT c.region, MAX(d.n), MIN(d.n) FROM customers c JOIN {_COUNTS} d "
            "ON d.customer_id = c.id GROUP BY c.region HAVING MAX(d.n) > 4 ORDER BY c.region",
        ),
        (
            "above",
            f"SELECT c.id, d.n FROM customers c JOIN {_COUNTS} d ON d.customer_id = c.id "
            "ORDER BY d.n DESC, c.id LIMIT 5",
        ),
        (
            "above",
            f"SELECT c.id, d.n FROM customers c JOIN {_COUNTS} d ON d.customer_id = c.id "
            "ORDER BY c.id LIMIT 4 OFFSET 3",
        ),
        (
            "above",
            f"SELECT DISTINCT d.n FROM customers c JOIN {_COUNTS} d ON d.customer_id = c.id "
            "ORDER BY d.n",
        ),
        (
            "above",
            f"SELECT COUNT(*), SUM(d.n) FROM customers c JOIN {_COUNTS} d ON d.customer_id = c.id "
            "WHERE d.n > 2 AND c.id < 50",
        ),
        (
            "above",
            f"SELECT c.id, d.n * 2 + c.tier AS v FROM customers c JOIN {_COUNTS} d "
            "ON d.customer_id = c.id WHERE d.n + c.tier > 5 ORDER BY v DESC, c.id LIMIT 6",
        ),
        # Other bodies: a UNION, an inner LIMIT, a cross-shard join.
        (
            "bodies",
            "SELECT c.id FROM customers c JOIN (SELECT customer_id FROM orders UNION "
            "SELECT customer_id FROM events) d ON d.customer_id = c.id ORDER BY c.id",
        ),
        (
            "bodies",
            "SELECT c.id, d.amount FROM customers c JOIN (SELECT customer_id, amount FROM orders "
            "WHERE amount IS NOT NULL ORDER BY amount DESC, id LIMIT 10) d "
            "ON d.customer_id = c.id ORDER BY d.amount",
        ),
        (
            "bodies",
            "SELECT c.id, d.k FROM customers c JOIN (SELECT o.customer_id, e.kind k FROM orders o "
            "JOIN events e ON e.id = o.id WHERE o.id < 40) d ON d.customer_id = c.id "
            "ORDER BY c.id, d.k",
        ),
        # Routed: the body to one shard, or the whole statement.
        (
            "routing",
            "SELECT o.id, d.n FROM orders o JOIN (SELECT customer_id, COUNT(*) n FROM orders "
            "WHERE id = 5 GROUP BY customer_id) d ON d.customer_id = o.customer_id ORDER BY o.id",
        ),
        (
            "routing",
            f"SELECT c.id, d.n FROM customers c JOIN {_COUNTS} d ON d.customer_id = c.id "
            "WHERE d.customer_id = 7",
        ),
        (
            "routing",
            "SELECT c.name, d.name FROM customers c JOIN (SELECT id, name FROM customers "
            "WHERE id = 3) d ON d.id = c.id WHERE c.id = 3",
        ),
        # Empty sides.
        (
            "empty",
            "SELECT c.id, d.n FROM customers c JOIN (SELECT customer_id, COUNT(*) n FROM orders "
            "WHERE qty > 100 GROUP BY customer_id) d ON d.customer_id = c.id",
        ),
        (
            "empty",
            f"SELECT d.customer_id, c.id FROM {_COUNTS} d LEFT JOIN customers c "
            "ON c.id = d.customer_id AND c.id < 0 ORDER BY d.customer_id LIMIT 5",
        ),
    ]
]

OTHERS = [
    Case("refused or same", sql)
    for sql in [
        # Three sources.
        f"SELECT c.id, d.n, r.name FROM customers c JOIN {_COUNTS} d ON d.customer_id = c.id "
        "JOIN regions r ON r.code = c.region",
        # No equality between the sides.
        f"SELECT COUNT(*) FROM customers c JOIN {_COUNTS} d ON d.n > c.tier",
        # A CTE named twice.
        "WITH d AS (SELECT customer_id, COUNT(*) n FROM orders GROUP BY customer_id) "
        "SELECT a.customer_id FROM d a JOIN d b ON b.n = a.n",
        # Keys of different types (DECIMAL and INT), ENUM keys, a quotient key.
        "SELECT c.id FROM customers c JOIN (SELECT customer_id, SUM(amount) s FROM orders "
        "GROUP BY customer_id) d ON d.s = c.id",
        "SELECT s.n, d.n FROM sizes s JOIN (SELECT size, COUNT(*) n FROM orders GROUP BY size) d "
        "ON d.size = s.size",
        "SELECT c.id FROM customers c JOIN (SELECT id, qty / 3 q FROM orders) d ON d.q = c.tier",
        # Window functions above the join.
        f"SELECT c.id, ROW_NUMBER() OVER (ORDER BY d.n, c.id) FROM customers c JOIN {_COUNTS} d "
        "ON d.customer_id = c.id",
    ]
]

PREPARED = [
    (
        "SELECT c.id, d.n FROM customers c JOIN (SELECT customer_id, COUNT(*) n FROM orders "
        "WHERE qty > ? GROUP BY customer_id) d ON d.customer_id = c.id ORDER BY c.id",
        (3,),
    ),
    (
        f"SELECT c.id, d.n FROM customers c LEFT JOIN {_COUNTS} d ON d.customer_id = c.id "
        "WHERE c.id < ? ORDER BY c.id LIMIT ?",
        (30, 7),
    ),
]

#: Result column definitions (type, length, decimals) as MariaDB announces them.
DEFINITION_STATEMENTS = [
    f"SELECT c.id, c.name, d.n, d.customer_id FROM customers c JOIN {_COUNTS} d "
    "ON d.customer_id = c.id",
    "SELECT c.region, d.s, d.a FROM customers c LEFT JOIN (SELECT customer_id, SUM(amount) s, "
    "AVG(qty) a FROM orders GROUP BY customer_id) d ON d.customer_id = c.id",
    f"SELECT d.n, COUNT(*), MAX(c.id) FROM customers c JOIN {_COUNTS} d "
    "ON d.customer_id = c.id GROUP BY d.n",
    "WITH d AS (SELECT customer_id, SUM(amount) s FROM orders GROUP BY customer_id) "
    "SELECT c.region, SUM(d.s) FROM customers c JOIN d ON d.customer_id = c.id GROUP BY c.region",
]


def test_derived_joins_are_answered(env: Environment) -> None:
    report = env.run(ANSWERED)
    env.check(report, "issue 18.3: derived tables joined", answered=True)
    assert sum(c["same"] for c in report.counts.values()) == len(ANSWERED)


def test_other_forms_are_answered_or_refused_never_wrong(env: Environment) -> None:
    report = env.run(OTHERS)
    env.check(report, "issue 18.3: derived joins refused")
    refused = "\n".join(report.clear)
    for needle in ("different types", "ENUM/SET", "a quotient", "without an equality between"):
        assert needle in refused, needle


def test_prepared_derived_joins(env: Environment) -> None:
    report = env.run_params("prepared", PREPARED, Report())
    env.check(report, "issue 18.3: prepared derived joins", answered=True)
    assert report.counts["prepared"]["same"] == len(PREPARED)


@pytest.mark.parametrize("sql", DEFINITION_STATEMENTS)
def test_derived_join_column_definitions(env: Environment, sql: str) -> None:
    """Type, length and decimals of every column as MariaDB announces them."""
    with env.connect_oracle() as o, env.connect_sharded() as s:
        co, cs = o.cursor(), s.cursor()
        co.execute(sql)
        cs.execute(sql)
        assert [d[:6] for d in cs.description] == [d[:6] for d in co.description]


def test_derived_side_is_bounded_by_a_setting(env: Environment) -> None:
    """The derived table's rows are sorted by the join key in the coordinator: past
    ``cluster.union_rows`` the statement fails with a 1235 naming the setting; under
    it the join runs with MariaDB's answer."""
    coord = env.coordinator
    assert coord is not None
    cluster = coord.topology.cluster
    saved = cluster.union_rows
    over = f"SELECT c.id, d.n FROM customers c JOIN {_COUNTS} d ON d.customer_id = c.id"
    under = (
        "SELECT c.id, d.n FROM customers c JOIN (SELECT customer_id, COUNT(*) n FROM orders "
        "WHERE customer_id < 10 GROUP BY customer_id) d ON d.customer_id = c.id ORDER BY c.id"
    )

    async def run() -> tuple[str, list[tuple[object, ...]]]:
        session = coord.open_session(database=env.logical_db)
        try:
            object.__setattr__(cluster, "union_rows", 20)
            with pytest.raises(NotSupported) as caught:
                await session.execute(over)
            result = await session.execute(under)
            return str(caught.value), [tuple(r) for r in result.rows or []]
        finally:
            object.__setattr__(cluster, "union_rows", saved)
            await session.close()

    message, got = trio.from_thread.run(run, trio_token=env._token)
    assert "cluster.union_rows" in message, message
    assert "derived table d" in message, message
    with env.connect_oracle() as oracle, oracle.cursor() as cur:
        cur.execute(under)
        assert got == [tuple(r) for r in cur.fetchall()]
