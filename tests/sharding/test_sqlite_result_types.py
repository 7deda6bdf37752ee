"""Result types on SQLite shards, against MariaDB (issue 15; the survey of
``tests/fidelity/test_select_classes.py`` and ``test_derived_classes.py`` on SQLite).

Were:

* ``SELECT * FROM customers c JOIN (SELECT code FROM regions) r ON … WHERE c.id = 3``
  sent its INT columns as LONGTEXT (``3`` arrived as ``'3'``): a ``*`` over a derived
  table leaves the result's names to the shard (``SelectPlan.columns`` None), and a
  SQLite shard sends no definitions. The statement's types (the catalog's for a
  table's columns, the derived table's body's for its own) now define them
  (:func:`sharding.session_reads._shard_named_columns`).
* ``WITH RECURSIVE`` results: the same for a ``*``, and a named column was typed as
  the anchor's item (``SELECT 1 AS n``: INT(1) NOT NULL) where MariaDB sends its
  temporary table's field (INT(2), nullable:
  :func:`sharding.sql.describe.recursive_field`).
* ``SELECT 0x41`` was LONGTEXT: a hexadecimal literal had no type rule (VARBINARY,
  and the unsigned number of its bytes in arithmetic).

Each is compared with MariaDB: the typed rows and the column definitions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sharding.mariadb_reference import same_typed_results

DDL = [
    "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(32), region VARCHAR(8), "
    "tier INT, score INT UNSIGNED NOT NULL DEFAULT 0, amount DECIMAL(8,2))",
    "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, "
    "status VARCHAR(16), qty INT)",
    "CREATE TABLE regions (code VARCHAR(8) PRIMARY KEY, weight INT, price DECIMAL(8,2)) "
    "COMMENT 'shardgate:broadcast'",
]
ROWS = [
    "INSERT INTO customers VALUES "
    + ", ".join(
        f"({i}, 'c{i}', {['NULL', repr('eu'), repr('us')][i % 3]}, "
        f"{'NULL' if i % 7 == 0 else i % 4}, {i * 3}, {i * 1.25:.2f})"
        for i in range(1, 31)
    ),
    "INSERT INTO orders VALUES "
    + ", ".join(f"({i}, {1 + i % 30}, 'paid', {i % 5})" for i in range(1, 61)),
    "INSERT INTO regions VALUES ('eu', 3, 1.50), ('us', 5, 2.25), ('as', 1, NULL)",
]
SETUP = [*DDL, *ROWS]

#: ``*`` over a derived table (with a table, a broadcast table, alone), routed to one
#: shard: the definitions from the catalog and the derived table's body.
STARS = [
    "SELECT * FROM customers c JOIN (SELECT code FROM regions) r ON r.code = c.region "
    "WHERE c.id = 4",
    "SELECT * FROM customers c JOIN (SELECT code, weight, price FROM regions) r "
    "ON r.code = c.region WHERE c.id = 5",
    "SELECT * FROM (SELECT code, weight FROM regions) r JOIN customers c "
    "ON r.code = c.region WHERE c.id = 4",
    "SELECT c.*, r.* FROM customers c JOIN (SELECT code, weight * 2 w FROM regions) r "
    "ON r.code = c.region WHERE c.id = 5",
    "SELECT * FROM customers c JOIN (SELECT id, qty FROM orders) o ON o.id = c.id WHERE c.id = 3",
    "SELECT * FROM (SELECT id, name, score FROM customers WHERE id = 3) d",
    "WITH d AS (SELECT id, qty FROM orders WHERE id = 5) SELECT * FROM d",
]

#: Recursive CTEs: the anchor's items as a temporary table's fields.
RECURSIVE = [
    "WITH RECURSIVE r AS (SELECT id FROM customers WHERE id = 1 "
    "UNION ALL SELECT id + 1 FROM r WHERE id < 3) SELECT * FROM r",
    "WITH RECURSIVE r AS (SELECT id, name, tier, score, amount FROM customers WHERE id = 1 "
    "UNION ALL SELECT id + 1, name, tier, score, amount FROM r WHERE id < 4) "
    "SELECT * FROM r ORDER BY id",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r",
    "WITH RECURSIVE r AS (SELECT 100 AS n, 'a' AS s, -1 AS m, 2.50 AS q "
    "UNION ALL SELECT n + 1, s, m, q FROM r WHERE n < 103) SELECT * FROM r",
    "WITH RECURSIVE r(a, b) AS (SELECT 1, 2 UNION ALL SELECT a + 1, b FROM r WHERE a < 3) "
    "SELECT * FROM r",
]

#: Hexadecimal literals: binary strings, numbers in arithmetic.
LITERALS = [
    "SELECT 0x41",
    "SELECT 0x41, X'42', 0x414243",
    "SELECT 0x4142 + 0, 0x41 + 1",
    "SELECT id, 0x41 FROM customers WHERE id = 3",
]

#: A scalar subquery of one shard (typed since the scalar subquery rules).
SCALARS = [
    "SELECT id, (SELECT COUNT(*) FROM orders WHERE id = 3) FROM customers WHERE id = 3",
    "SELECT (SELECT COUNT(*) FROM orders WHERE id = 3)",
]


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_result_types_as_mariadb(tmp_path: Path, shards: int) -> None:
    same_typed_results(
        tmp_path, "sgsqlrestypes", SETUP, [*STARS, *RECURSIVE, *LITERALS, *SCALARS], shards=shards
    )


#: The same shapes with a client's parameter (one plan, typed per call).
PREPARED = [
    (
        "SELECT * FROM customers c JOIN (SELECT code, weight FROM regions) r "
        "ON r.code = c.region WHERE c.id = ?",
        (5,),
    ),
    (
        "WITH RECURSIVE r AS (SELECT id, name FROM customers WHERE id = ? "
        "UNION ALL SELECT id + 1, name FROM r WHERE id < 3) SELECT * FROM r",
        (1,),
    ),
]


@pytest.mark.mysql
def test_prepared_result_types_as_mariadb(tmp_path: Path) -> None:
    """The same shapes with a client's parameter (one plan, typed per call)."""
    same_typed_results(tmp_path, "sgsqlrestypespr", SETUP, PREPARED)
