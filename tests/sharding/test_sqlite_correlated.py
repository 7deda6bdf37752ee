"""Correlated subqueries on SQLite shards, against MariaDB (issue 15; the survey of
``tests/fidelity/test_correlated_in.py`` and ``test_correlated_scalar.py`` on SQLite).

Were:

* ``'PAID' IN (SELECT o.status FROM orders o WHERE o.customer_id = c.id)`` found no
  row: the subquery's values became literals (``(c.id, 'PAID') IN ((1, 'Paid'), …)``,
  :mod:`sharding.sql.materialize`) and SQLite compares two literals bytewise, where
  MySQL compared in ``status``'s collation (a column's wins over a literal's). The
  values now carry their column's collation (``'Paid' COLLATE utf8mb4_general_ci``).
* ``(SELECT MAX(weight) FROM regions r WHERE r.code = c.region)`` over a broadcast
  table came back as the text ``'5'`` (announced LONGTEXT): a scalar subquery had no
  type rule (:func:`sharding.sql.describe._subquery_type`); MariaDB sends ``INT``.
* correlated scalar aggregates over sharded tables (the grouped lookups of
  :mod:`sharding.sql.decorrelate`) were refused on SQLite: they asked MySQL's
  ``COLLATION()``, now read from the catalog there
  (:func:`sharding.session_reads.backend_collations`). A DECIMAL aggregate's lookup
  stays refused there (1235): its values would be SQLite's REALs, floats to a client
  that embeds the coordinator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.sharding.mariadb_reference import (
    reference_database,
    same_typed_results,
    sqlite_twin,
    typed_rows,
)

DDL = [
    "CREATE TABLE customers (id INT PRIMARY KEY, region VARCHAR(8), tier INT)",
    "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, "
    "status VARCHAR(16), qty INT, amount DECIMAL(10,2))",
    "CREATE TABLE tags (name VARCHAR(16) COLLATE utf8mb4_bin PRIMARY KEY, n INT)",
    "CREATE TABLE regions (code VARCHAR(8) PRIMARY KEY, weight INT, price DECIMAL(8,2)) "
    "COMMENT 'shardgate:broadcast'",
]
_STATUSES = ["paid", "Paid", "new", "paid ", "PAID", "shipped", None]
ROWS = [
    "INSERT INTO customers VALUES "
    + ", ".join(
        f"({i}, {['NULL', repr('eu'), repr('EU'), repr('us'), repr('xx')][i % 5]}, "
        f"{'NULL' if i % 7 == 0 else i % 4})"
        for i in range(1, 31)
    ),
    "INSERT INTO orders VALUES "
    + ", ".join(
        f"({i}, {1 + (i * 7) % 33}, "
        f"{'NULL' if _STATUSES[i % 7] is None else repr(_STATUSES[i % 7])}, "
        f"{'NULL' if i % 11 == 0 else i % 5}, {'NULL' if i % 13 == 0 else f'{i * 3.25:.2f}'})"
        for i in range(1, 91)
    ),
    "INSERT INTO tags VALUES ('abc', 1), ('ABC', 2), ('Abc', 3), ('x', 0)",
    "INSERT INTO regions VALUES ('eu', 3, 1.50), ('us', 5, 2.25), ('as', 1, NULL)",
]
SETUP = [*DDL, *ROWS]

IN_QUERIES = [
    # The literal on the left, a text column of the subquery: the column's collation.
    "SELECT id FROM customers c WHERE 'PAID' IN "
    "(SELECT o.status FROM orders o WHERE o.customer_id = c.id) ORDER BY id",
    "SELECT id FROM customers c WHERE 'paid' NOT IN "
    "(SELECT o.status FROM orders o WHERE o.customer_id = c.id) ORDER BY id",
    "SELECT id, 'Paid' IN (SELECT o.status FROM orders o WHERE o.customer_id = c.id) x, "
    "'PAID' NOT IN (SELECT o.status FROM orders o WHERE o.customer_id = c.id) y "
    "FROM customers c ORDER BY id",
    "SELECT id FROM customers c WHERE c.id < 5 OR 'PAID' IN "
    "(SELECT o.status FROM orders o WHERE o.customer_id = c.id) ORDER BY id",
    # Uncorrelated: the same values as literals.
    "SELECT id FROM customers WHERE 'PAID' IN (SELECT status FROM orders) ORDER BY id",
    "SELECT id FROM orders WHERE status IN (SELECT UPPER(status) FROM orders WHERE id < 9) "
    "ORDER BY id",
    # The mirrored forms, inside the correlated subquery (a column and a literal there).
    "SELECT id FROM customers c WHERE c.tier IN (SELECT o.qty FROM orders o "
    "WHERE o.customer_id = c.id AND o.status IN ('PAID')) ORDER BY id",
    "SELECT id FROM customers c WHERE c.tier IN (SELECT o.qty FROM orders o "
    "WHERE o.customer_id = c.id AND 'PAID' = o.status) ORDER BY id",
    "SELECT id FROM customers c WHERE c.tier NOT IN (SELECT o.qty FROM orders o "
    "WHERE o.customer_id = c.id AND 'PAID' = o.status) ORDER BY id",
    "SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM orders o "
    "WHERE o.customer_id = c.id AND 'PAID' = o.status) ORDER BY id",
    "SELECT id FROM customers c WHERE c.id IN (SELECT o.customer_id FROM orders o "
    "WHERE o.status IN ('PAID')) ORDER BY id",
    # A binary collation keeps its case: 'ABC' is only 'ABC'.
    "SELECT id FROM customers c WHERE 'ABC' IN "
    "(SELECT t.name FROM tags t WHERE t.n = c.tier) ORDER BY id",
    "SELECT id, 'abc' IN (SELECT t.name FROM tags t WHERE t.n = c.tier) "
    "FROM customers c ORDER BY id",
    "SELECT id FROM customers c WHERE 'ABC' NOT IN (SELECT t.name FROM tags t "
    "WHERE t.n = c.tier) ORDER BY id",
]

SCALAR_QUERIES = [
    # A broadcast table: the subquery runs on the shard; its value typed as MariaDB's.
    "SELECT id, (SELECT MAX(weight) FROM regions r WHERE r.code = c.region "
    "AND r.weight > 1) FROM customers c ORDER BY id",
    "SELECT id, (SELECT MAX(weight) + 1 FROM regions r WHERE r.code = c.region) w, "
    "(SELECT COUNT(*) FROM regions r WHERE r.code = c.region) n, "
    "(SELECT r.code FROM regions r WHERE r.code = c.region) k FROM customers c ORDER BY id",
    # Sharded inner tables: the grouped lookups.
    "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) n, "
    "(SELECT MAX(qty) FROM orders o WHERE o.customer_id = c.id AND o.qty > 1) m "
    "FROM customers c ORDER BY id",
    "SELECT id, region, (SELECT COUNT(*) FROM customers c2 WHERE c2.region = c.region) "
    "FROM customers c ORDER BY id",
    "SELECT id, (SELECT MIN(o2.id) FROM orders o2 WHERE o2.status = o.status) "
    "FROM orders o ORDER BY id",
    "SELECT id FROM customers c WHERE (SELECT COUNT(*) FROM orders o "
    "WHERE o.customer_id = c.id) > 2 ORDER BY id",
]

#: DECIMAL aggregates of a grouped lookup: refused on SQLite shards (module docstring).
DECIMAL_LOOKUPS = [
    (
        "SELECT id FROM customers c WHERE (SELECT SUM(amount) FROM orders o "
        "WHERE o.customer_id = c.id) > 100.5 ORDER BY id",
        (),
    ),
    (
        "SELECT id, (SELECT SUM(amount) FROM orders o WHERE o.customer_id = c.id "
        "AND o.qty > ?) s FROM customers c WHERE id > ? ORDER BY id",
        (2, 10),
    ),
]

PREPARED = [
    (
        "SELECT id, (SELECT MAX(weight) FROM regions r WHERE r.code = c.region "
        "AND r.weight > ?) FROM customers c ORDER BY id",
        (1,),
    ),
    (
        "SELECT id FROM customers c WHERE ? IN "
        "(SELECT o.status FROM orders o WHERE o.customer_id = c.id) ORDER BY id",
        ("PAID",),
    ),
]

WRITES = [
    "UPDATE customers c SET tier = 9 WHERE 'PAID' IN "
    "(SELECT o.status FROM orders o WHERE o.customer_id = c.id)",
    "DELETE FROM customers WHERE (SELECT COUNT(*) FROM orders o "
    "WHERE o.customer_id = customers.id AND o.qty > 2) > 1",
]


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_correlated_in_with_the_column_collation(tmp_path: Path, shards: int) -> None:
    same_typed_results(tmp_path, "sgsqlcorrin", SETUP, IN_QUERIES, shards=shards, lengths=False)


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_correlated_scalars_typed_as_mariadb(tmp_path: Path, shards: int) -> None:
    same_typed_results(tmp_path, "sgsqlcorrsc", SETUP, SCALAR_QUERIES, shards=shards)


@pytest.mark.mysql
def test_prepared_correlated(tmp_path: Path) -> None:
    same_typed_results(tmp_path, "sgsqlcorrpr", SETUP, PREPARED, lengths=False)


@pytest.mark.mysql
def test_correlated_writes(tmp_path: Path) -> None:
    with reference_database("sgsqlcorrwr", *SETUP) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, *SETUP, shards=4) as s:
                for sql in WRITES:
                    want = cur.execute(sql)
                    got = await s.execute(sql)
                    assert got.affected == want, (sql, got.affected, want)
                    check = "SELECT id, region, tier FROM customers ORDER BY id"
                    cur.execute(check)
                    assert typed_rows((await s.execute(check)).rows) == typed_rows(cur.fetchall())

        trio.run(main)


@pytest.mark.mysql
def test_decimal_lookups_on_one_shard_as_mariadb(tmp_path: Path) -> None:
    """One shard runs the whole statement: the REAL SQLite computed for the DECIMAL
    aggregate comes back at its column's scale (was the float ``188.5``)."""
    same_typed_results(tmp_path, "sgsqlcorrdec", SETUP, DECIMAL_LOOKUPS, shards=1)


def test_decimal_lookups_over_shards_are_refused(tmp_path: Path) -> None:
    from sharding.errors import ShardgateError

    async def main() -> None:
        async with sqlite_twin(tmp_path, "sgsqlcorrdec", *SETUP, shards=4) as s:
            for sql, params in DECIMAL_LOOKUPS:
                with pytest.raises(ShardgateError) as caught:
                    await s.execute(sql, list(params) if params else None)
                assert caught.value.code == 1235, (sql, caught.value)

    trio.run(main)
