"""SAVEPOINT / ROLLBACK TO / RELEASE across shards (issue 14.7), against MariaDB.

Every case runs inside BEGIN … ROLLBACK on both sides (the harness's write mode), so
the savepoints are set inside a transaction that spans many shards — and, for the
savepoint set *before* a shard was first written, the coordinator must still undo that
shard's later work on ``ROLLBACK TO``. Tables are compared after each case.
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment

pytestmark = pytest.mark.mysql


def tx(*statements: str, tables: tuple[str, ...] = ("orders", "customers")) -> Case:
    return Case("14.7 savepoints", statements, write=True, tables=tables)


CASES = [
    tx(
        "UPDATE orders SET qty = 100 WHERE id = 1",
        "SAVEPOINT a",
        "UPDATE orders SET qty = 200 WHERE id IN (1, 2, 3)",
        "ROLLBACK TO SAVEPOINT a",
        "SELECT id, qty FROM orders WHERE id IN (1, 2, 3) ORDER BY id",
    ),
    # The savepoint comes before any shard was touched: ROLLBACK TO undoes everything.
    tx(
        "SAVEPOINT first",
        "UPDATE orders SET qty = 5",
        "DELETE FROM customers WHERE id < 10",
        "ROLLBACK TO first",
        "SELECT COUNT(*), SUM(qty) FROM orders",
        "SELECT COUNT(*) FROM customers",
    ),
    # Nested savepoints: rolling back to the outer one drops the inner one.
    tx(
        "SAVEPOINT s1",
        "UPDATE orders SET note = 'one' WHERE id = 4",
        "SAVEPOINT s2",
        "UPDATE orders SET note = 'two' WHERE id = 5",
        "ROLLBACK TO SAVEPOINT s1",
        "ROLLBACK TO SAVEPOINT s2",
        "SELECT id, note FROM orders WHERE id IN (4, 5) ORDER BY id",
    ),
    tx(
        "SAVEPOINT s1",
        "INSERT INTO customers (id, name) VALUES (900, 'n')",
        "RELEASE SAVEPOINT s1",
        "ROLLBACK TO s1",
        "SELECT id FROM customers WHERE id = 900",
    ),
    # The same name set twice moves the savepoint.
    tx(
        "SAVEPOINT p",
        "INSERT INTO customers (id, name) VALUES (901, 'a')",
        "SAVEPOINT p",
        "INSERT INTO customers (id, name) VALUES (902, 'b')",
        "ROLLBACK TO p",
        "SELECT id FROM customers WHERE id > 900 ORDER BY id",
    ),
    tx("ROLLBACK TO SAVEPOINT never_set", "RELEASE SAVEPOINT never_set"),
    # Savepoints and a broadcast table, which lives on every data source.
    tx(
        "SAVEPOINT b",
        "UPDATE regions SET weight = 0",
        "ROLLBACK TO b",
        "SELECT code, weight FROM regions ORDER BY code",
        tables=("regions",),
    ),
]


def test_savepoints_match_mariadb(env: Environment) -> None:
    report = env.run(CASES)
    print(report.table(f"savepoints on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    assert not report.clear, "\n".join(report.clear)


#: A statement that fails on one shard inside a transaction is undone on every shard
#: (MySQL's statement rollback), the transaction's earlier work kept: a multi-row
#: INSERT whose second row is out of range left its first row on another shard.
FAILED_STATEMENTS = [
    tx(
        "UPDATE orders SET qty = 7 WHERE id = 1",
        "INSERT INTO orders (id, customer_id, amount) VALUES (5000, 1, 1.5), (5001, 2, 99999999.999)",
        "SELECT id FROM orders WHERE id >= 5000 ORDER BY id",
        "INSERT INTO orders (id, customer_id, amount) VALUES (5002, 1, 1.5), (5003, 2, 2)",
        "SELECT id, qty FROM orders WHERE id = 1 OR id >= 5000 ORDER BY id",
    ),
    tx(
        "UPDATE orders SET amount = amount * 1000000 WHERE id IN (1, 2, 3, 4, 5)",
        "SELECT id, amount FROM orders WHERE id <= 5 ORDER BY id",
        "INSERT INTO customers (id, name) VALUES (950, 'a'), (951, NULL)",
        "SELECT id FROM customers WHERE id >= 950",
    ),
]


def test_a_failed_statement_is_undone_on_every_shard(env: Environment) -> None:
    report = env.run(FAILED_STATEMENTS)
    print(report.table(f"failed statements on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
