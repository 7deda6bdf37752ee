"""Issue 18.4: UNION / UNION ALL / INTERSECT / EXCEPT over sharded tables.

A set operation that reaches several shards is merged per query block
(:mod:`sharding.sql.union_plan`, :mod:`sharding.merge.union`): UNION ALL streams the
blocks one after the other; ORDER BY over the union and DISTINCT unions merge blocks
sorted by the shards; LIMIT / OFFSET on top. Against one unsharded MariaDB, on 16 and
1024 shards and with tiny chunks:

* ``ANSWERED`` — must be answered (*same*), never refused. Rows a DISTINCT keeps out of
  several equal under the collation (``'eu'`` / ``'EU'``) are whichever MariaDB saw
  first; the cases put case variants in *different* blocks (MariaDB keeps the first
  block's, so does the merge) and never two variants inside one block, whose order
  is the storage's (as for ``SELECT DISTINCT``);
* ``TYPES`` — blocks whose column types differ, collations that mix, ORDER BY forms
  the merge does not do: the same answer or a clear refusal (1235), never wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from sharding.errors import NotSupported
from tests.fidelity.harness import Case, Environment, Report

pytestmark = pytest.mark.mysql

ANSWERED = [
    Case(cls, sql)
    for cls, sql in [
        # UNION ALL: concatenated, or merged under an ORDER BY.
        ("union all", "SELECT id FROM customers UNION ALL SELECT customer_id FROM orders"),
        (
            "union all",
            "SELECT id, status FROM orders UNION ALL SELECT id, name FROM customers "
            "ORDER BY 1 DESC, 2 LIMIT 10",
        ),
        (
            "union all",
            "SELECT id FROM orders UNION ALL SELECT id FROM customers "
            "ORDER BY id DESC LIMIT 7 OFFSET 3",
        ),
        (
            "union all",
            "SELECT id, kind FROM events UNION ALL SELECT id, status FROM orders "
            "ORDER BY 1, 2 LIMIT 20",
        ),
        (
            "union all",
            "SELECT code, name FROM regions UNION ALL "
            "SELECT region, name FROM customers WHERE id < 10",
        ),
        ("union all", "SELECT name FROM tags UNION ALL SELECT name FROM tags ORDER BY name DESC"),
        (
            "union all",
            "SELECT size, n FROM sizes UNION ALL SELECT size, qty FROM orders WHERE id < 20",
        ),
        ("union all", "SELECT id FROM customers UNION ALL SELECT id FROM customers LIMIT 0"),
        (
            "union all",
            "SELECT id, qty FROM orders WHERE id = 3 UNION ALL "
            "SELECT id, qty FROM orders WHERE id = 4 ORDER BY 1",
        ),
        ("union all", "SELECT COUNT(*) FROM orders UNION ALL SELECT COUNT(*) FROM customers"),
        (
            "union all",
            "SELECT DISTINCT status FROM orders WHERE status IN ('new', 'shipped') "
            "UNION ALL SELECT DISTINCT code FROM regions",
        ),
        # UNION (DISTINCT): sorted blocks merged, equal neighbours dropped.
        ("union", "SELECT id FROM customers UNION SELECT customer_id FROM orders"),
        (
            "union",
            "SELECT customer_id FROM orders UNION SELECT customer_id FROM events "
            "ORDER BY 1 DESC LIMIT 5",
        ),
        ("union", "SELECT size FROM sizes UNION SELECT size FROM orders"),
        ("union", "SELECT name FROM tags UNION SELECT name FROM tags ORDER BY 1"),
        ("union", "SELECT tier FROM customers UNION SELECT qty FROM orders ORDER BY 1"),
        ("union", "SELECT email FROM customers UNION SELECT note FROM orders ORDER BY 1 LIMIT 5"),
        ("union", "SELECT email FROM customers UNION SELECT note FROM orders"),
        (
            "union",
            "SELECT amount FROM orders WHERE id < 100 UNION "
            "SELECT amount FROM orders WHERE id > 50 ORDER BY 1 LIMIT 10",
        ),
        ("union", "SELECT score FROM events UNION SELECT score FROM events WHERE id < 10"),
        (
            "union",
            "SELECT created FROM orders UNION SELECT created FROM orders ORDER BY 1 DESC LIMIT 3",
        ),
        (
            "union",
            "SELECT id, 1 FROM orders WHERE id < 30 UNION SELECT id, 2 FROM customers "
            "ORDER BY 2, 1 LIMIT 40",
        ),
        (
            "union",
            "SELECT 'c' AS src, id FROM customers UNION SELECT 'o', customer_id FROM orders "
            "ORDER BY src DESC, id LIMIT 5",
        ),
        (
            "union",
            "SELECT status, COUNT(*) FROM orders WHERE status IN ('new', 'shipped') "
            "GROUP BY status UNION SELECT kind, COUNT(*) FROM events WHERE kind = 'buy' "
            "GROUP BY kind ORDER BY 1",
        ),
        (
            "union",
            "SELECT o.id, i.line FROM orders o JOIN order_items i ON i.order_id = o.id "
            "WHERE o.id < 20 UNION SELECT id, qty FROM orders WHERE id < 5 ORDER BY 1, 2",
        ),
        (
            "union",
            "SELECT id FROM orders WHERE id = 3 AND id IN "
            "(SELECT order_id FROM order_items WHERE order_id = 3) "
            "UNION SELECT id FROM orders WHERE id = 4",
        ),
        # Case variants in different blocks: the first block's spelling is kept.
        (
            "case variants",
            "SELECT LOWER(TRIM(status)) s FROM orders UNION "
            "SELECT UPPER(TRIM(status)) FROM orders ORDER BY s",
        ),
        (
            "case variants",
            "SELECT UPPER(TRIM(status)) FROM orders UNION SELECT LOWER(TRIM(status)) FROM orders",
        ),
        (
            "case variants",
            "SELECT region FROM customers WHERE region = 'eu' COLLATE utf8mb4_bin "
            "UNION SELECT UPPER(region) FROM customers",
        ),
        (
            "case variants",
            "SELECT LOWER(sku) FROM order_items WHERE order_id < 100 UNION ALL "
            "SELECT UPPER(sku) FROM order_items UNION SELECT 'z-9' ORDER BY 1",
        ),
        # Three blocks; UNION mixed with UNION ALL (MySQL's left-to-right rule).
        (
            "three blocks",
            "SELECT id FROM orders UNION SELECT id FROM customers "
            "UNION SELECT order_id FROM order_items ORDER BY 1 DESC LIMIT 4",
        ),
        (
            "mixed",
            "SELECT customer_id FROM orders UNION ALL SELECT customer_id FROM events "
            "UNION SELECT id FROM customers",
        ),
        (
            "mixed",
            "SELECT id FROM customers WHERE id < 5 UNION SELECT id FROM customers WHERE id < 3 "
            "UNION ALL SELECT id FROM customers WHERE id < 3 ORDER BY id",
        ),
        (
            "mixed",
            "SELECT id, name FROM customers WHERE id < 5 UNION ALL "
            "SELECT id, name FROM customers WHERE id > 55 UNION "
            "SELECT id, name FROM customers WHERE id < 5 ORDER BY id",
        ),
        (
            "mixed",
            "SELECT customer_id FROM orders WHERE id < 40 UNION SELECT id FROM customers "
            "WHERE id < 20 UNION ALL SELECT customer_id FROM orders WHERE id < 10",
        ),
        # Parenthesised blocks and unions with their own ORDER BY ... LIMIT.
        (
            "parenthesised",
            "(SELECT id, status FROM orders ORDER BY id DESC LIMIT 3) UNION ALL "
            "(SELECT id, name FROM customers ORDER BY name DESC, id LIMIT 3) ORDER BY 1",
        ),
        (
            "parenthesised",
            "(SELECT id FROM orders ORDER BY id DESC LIMIT 3) UNION SELECT id FROM customers "
            "ORDER BY 1 DESC LIMIT 5",
        ),
        (
            "parenthesised",
            "SELECT id FROM customers UNION ALL (SELECT id FROM customers WHERE id < 10 "
            "UNION SELECT id FROM customers WHERE id < 5) ORDER BY id",
        ),
        (
            "parenthesised",
            "(SELECT id FROM customers UNION SELECT customer_id FROM orders ORDER BY 1 DESC "
            "LIMIT 3) UNION ALL SELECT id FROM customers WHERE id < 4 ORDER BY 1",
        ),
        # INTERSECT / EXCEPT (DISTINCT and ALL) as merge joins on the whole row.
        ("intersect except", "SELECT id FROM customers INTERSECT SELECT customer_id FROM orders"),
        (
            "intersect except",
            "SELECT customer_id FROM orders EXCEPT SELECT id FROM customers WHERE id < 40",
        ),
        (
            "intersect except",
            "SELECT customer_id FROM orders INTERSECT ALL "
            "SELECT customer_id FROM orders WHERE id < 120",
        ),
        (
            "intersect except",
            "SELECT customer_id FROM orders EXCEPT ALL "
            "SELECT customer_id FROM orders WHERE id < 120",
        ),
        (
            "intersect except",
            "SELECT id FROM customers UNION SELECT customer_id FROM orders INTERSECT "
            "SELECT id FROM customers WHERE id > 30 ORDER BY 1 LIMIT 5",
        ),
    ]
]

# FOUND_ROWS() after SQL_CALC_FOUND_ROWS: the union's rows without its LIMIT.
ANSWERED += [
    Case("found rows", (sql, "SELECT FOUND_ROWS()"))
    for sql in [
        "SELECT SQL_CALC_FOUND_ROWS id FROM customers UNION SELECT customer_id FROM orders "
        "ORDER BY 1 LIMIT 3",
        "SELECT SQL_CALC_FOUND_ROWS id FROM orders WHERE id < 50 UNION ALL "
        "SELECT id FROM customers ORDER BY 1 DESC LIMIT 2 OFFSET 1",
        "SELECT SQL_CALC_FOUND_ROWS id FROM customers WHERE id = 3 UNION ALL "
        "SELECT id FROM customers WHERE id = 3 LIMIT 1",
    ]
]

TYPES = [
    Case("types and refusals", sql)
    for sql in [
        # Text expressions keep their columns' collation (utf8mb4_bin for tags.name).
        "SELECT UPPER(name) FROM tags UNION SELECT UPPER(name) FROM tags ORDER BY 1",
        "SELECT LOWER(name) FROM tags UNION ALL SELECT name FROM tags ORDER BY 1",
        "SELECT CONCAT(status, '-') FROM orders UNION SELECT CONCAT(name, '-') FROM customers "
        "ORDER BY 1 LIMIT 7",
        "SELECT UPPER(name) FROM tags UNION SELECT status FROM orders ORDER BY 1",
        "SELECT amount FROM orders UNION ALL SELECT price FROM order_items",
        "SELECT amount FROM orders UNION SELECT qty FROM orders",
        "SELECT id FROM customers UNION SELECT id FROM orders",
        "SELECT name FROM customers UNION SELECT name FROM tags",
        "SELECT status FROM orders UNION SELECT size FROM orders",
        "SELECT size FROM orders UNION SELECT size FROM sizes ORDER BY 1",
        "SELECT id, NULL FROM customers UNION SELECT customer_id, note FROM orders",
        "SELECT qty FROM orders UNION SELECT score FROM events",
        "SELECT id FROM customers UNION SELECT 'x'",
        "SELECT 1.5 UNION SELECT amount FROM orders",
        "SELECT created FROM orders UNION SELECT DATE(created) FROM orders",
        "SELECT UPPER(name) FROM tags UNION SELECT name FROM tags ORDER BY 1",
        "SELECT id FROM customers UNION SELECT id FROM customers ORDER BY id + 1",
        "SELECT tier FROM customers UNION SELECT tier + 0.5 FROM customers",
        "SELECT qty FROM orders UNION SELECT qty FROM orders ORDER BY orders.qty",
        "SELECT id, name FROM customers UNION SELECT id FROM customers",
        "WITH c AS (SELECT id FROM customers) SELECT id FROM c UNION SELECT customer_id FROM orders",
        "SELECT * FROM (SELECT id FROM customers UNION SELECT customer_id FROM orders) d",
        # One normalised text, literals of other types: the plan is kept per literal type.
        "SELECT id, 1 FROM orders WHERE id < 9 UNION SELECT id, 2 FROM customers WHERE id < 5",
        "SELECT id, 'x' FROM orders WHERE id < 9 UNION SELECT id, 2 FROM customers WHERE id < 5",
        "SELECT id, 1.5 FROM orders WHERE id < 9 UNION SELECT id, 2.25 FROM customers WHERE id < 5",
        "SELECT id, 1.5 FROM orders WHERE id < 9 UNION SELECT id, 2.5 FROM customers WHERE id < 5",
    ]
]

PREPARED = [
    ("SELECT id FROM customers WHERE id = ? UNION SELECT id FROM customers WHERE id = ?", (3, 4)),
    (
        "SELECT id, status FROM orders WHERE id < ? UNION ALL "
        "SELECT id, name FROM customers WHERE id < ? ORDER BY 1, 2 LIMIT ?",
        (4, 6, 5),
    ),
]


def test_unions_over_several_shards_are_answered(env: Environment) -> None:
    report = env.run(ANSWERED)
    env.check(report, "issue 18.4: set operations over several shards")
    assert not report.clear, "refused although supported"
    statements = sum(len(c.statements) for c in ANSWERED)
    assert sum(c["same"] for c in report.counts.values()) == statements


def test_other_types_are_answered_or_refused_never_wrong(env: Environment) -> None:
    report = env.run(TYPES)
    env.check(report, "issue 18.4: types, collations, ORDER BY forms")
    refused = "\n".join(report.clear)
    # Blocks of different types are refused naming the column, never converted wrongly.
    assert "different types" in refused
    assert "mixes collations" in refused


def test_prepared_unions_route_per_call(env: Environment) -> None:
    report = env.run_params("prepared", PREPARED, Report())
    env.check(report, "issue 18.4: prepared")
    assert report.counts["prepared"]["same"] == len(PREPARED)


def test_a_branch_limit_over_the_bound_is_a_clear_error(env: Environment) -> None:
    """A block with its own LIMIT is re-sorted in memory: bounded by a setting, whose
    name the error gives; under the bound the statement runs."""
    coord = env.coordinator
    assert coord is not None
    cluster = coord.topology.cluster
    saved = cluster.union_rows
    sql = "(SELECT id FROM orders ORDER BY id LIMIT {n}) UNION SELECT id FROM customers ORDER BY 1"

    async def run() -> str:
        session = coord.open_session(database=env.logical_db)
        try:
            object.__setattr__(cluster, "union_rows", 3)
            with pytest.raises(NotSupported) as caught:
                await session.execute(sql.format(n=5))
            small = await session.execute(sql.format(n=2))
            assert small.rows is not None and [r[0] for r in small.rows[:3]] == [1, 2, 3]
            return str(caught.value)
        finally:
            object.__setattr__(cluster, "union_rows", saved)
            await session.close()

    message = trio.from_thread.run(run, trio_token=env._token)
    assert "cluster.union_rows" in message


#: Set operations whose blocks give one type per column (or integers, or VARCHARs of
#: several lengths): MariaDB's definitions are a temporary table's columns, which
#: depend on the operation (UNION ALL streamed, or DISTINCT/INTERSECT/EXCEPT/ORDER BY).
DEFINITIONS = [
    "SELECT id FROM orders UNION ALL SELECT customer_id FROM orders",
    "SELECT id, qty, status, size, created, amount, note FROM orders "
    "UNION ALL SELECT id, qty, status, size, created, amount, note FROM orders",
    "SELECT id, qty, status, size, created, amount, note FROM orders "
    "UNION SELECT id, qty, status, size, created, amount, note FROM orders",
    "SELECT id, name FROM customers UNION ALL SELECT id, name FROM customers ORDER BY id LIMIT 3",
    "SELECT id, name FROM customers UNION ALL SELECT id, name FROM customers LIMIT 3",
    "SELECT score, kind FROM events UNION ALL SELECT score, kind FROM events",
    "SELECT score, kind FROM events UNION SELECT score, kind FROM events",
    "SELECT name FROM tags UNION ALL SELECT name FROM tags",
    "SELECT name, region FROM customers INTERSECT SELECT name, region FROM customers",
    "SELECT name, region, tier FROM customers EXCEPT "
    "SELECT name, region, tier FROM customers WHERE id < 5",
    "SELECT size FROM sizes UNION ALL SELECT size FROM orders",
    "SELECT code, weight FROM regions UNION ALL SELECT status, qty FROM orders",
    "SELECT status FROM orders UNION SELECT code FROM regions",
]


@pytest.mark.parametrize("sql", DEFINITIONS)
def test_set_operation_column_definitions(env: Environment, sql: str) -> None:
    """Type, length, decimals, flags and character set of every column as MariaDB
    announces them (issue 18: the first block's key flags were sent before)."""

    def definitions(conn: Any) -> list[tuple[Any, ...]]:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            cur.fetchall()
            return [
                (f.name, f.type_code, f.length, f.scale, f.flags, f.charsetnr)
                for f in cur._result.fields
            ]

    assert definitions(env.connect_sharded()) == definitions(env.connect_oracle())
