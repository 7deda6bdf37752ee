"""Savepoints and statement atomicity inside a transaction on SQLite shards, against
MariaDB.

A transaction on SQLite shards holds one connection per shard file; a savepoint is
set on each of them (and on each opened later, right after its BEGIN), so ROLLBACK TO
undoes every file's work since. Was: ``SAVEPOINT`` was refused (1235), and a statement
of several writes inside a transaction was not atomic — ``UPDATE o SET id = 4 WHERE
id = 3`` (a move to another shard: delete, then insert) failed on the duplicate key
after its delete, and the row was gone at COMMIT (found by the fidelity classes run
on SQLite shards)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio

from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import reference_database, sqlite_twin

DDL = "CREATE TABLE o (id BIGINT PRIMARY KEY, qty INT, note VARCHAR(10))"
ROWS = "INSERT INTO o VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c'), (4, 4, 'd'), (5, 5, 'e')"
CHECK = "SELECT id, qty, note FROM o ORDER BY id"
#: Each script runs in one session on both; every statement's outcome (rows, or the
#: error code) and the table after COMMIT are compared.
SCRIPTS = [
    [
        "BEGIN",
        "UPDATE o SET qty = 100 WHERE id = 1",
        "UPDATE o SET id = 4 WHERE id = 3",  # 1062 after the move's delete
        CHECK,
        "UPDATE o SET id = 30 WHERE id = 3",  # a move that succeeds
        CHECK,
        "COMMIT",
    ],
    [
        "BEGIN",
        "UPDATE o SET qty = 100 WHERE id = 1",
        "SAVEPOINT a",
        "UPDATE o SET qty = 200",
        "INSERT INTO o VALUES (9, 9, 'i')",
        CHECK,
        "ROLLBACK TO SAVEPOINT a",
        CHECK,
        "SAVEPOINT b",
        "DELETE FROM o WHERE id IN (2, 4)",
        "SAVEPOINT c",
        "INSERT INTO o VALUES (7, 7, 'g')",
        "ROLLBACK TO b",
        CHECK,
        "RELEASE SAVEPOINT b",
        "ROLLBACK TO c",  # 1305: released with b
        "INSERT INTO o VALUES (8, 8, 'h')",
        "COMMIT",
    ],
    [
        "BEGIN",
        "SAVEPOINT a",
        "INSERT INTO o VALUES (10, 10, 'j'), (11, 11, 'k'), (12, 12, 'l')",
        "SAVEPOINT a",  # set again: moves
        "UPDATE o SET note = 'z' WHERE id >= 10",
        "ROLLBACK TO SAVEPOINT a",
        CHECK,
        "ROLLBACK",
    ],
]


async def _outcome(session: Any, sql: str) -> Any:
    try:
        result = await session.execute(sql)
    except ShardgateError as exc:
        return ("error", exc.code)
    return [tuple(r) for r in result.rows] if result.columns else ("ok", result.affected)


def _oracle(cur: Any, sql: str) -> Any:
    try:
        affected = cur.execute(sql)
    except pymysql.MySQLError as exc:
        return ("error", exc.args[0])
    return [tuple(r) for r in cur.fetchall()] if cur.description else ("ok", affected)


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
@pytest.mark.parametrize("script", range(len(SCRIPTS)))
def test_savepoints_as_mariadb(tmp_path: Path, shards: int, script: int) -> None:
    with reference_database("sgsavept", DDL, ROWS) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, shards=shards) as s:
                for sql in SCRIPTS[script]:
                    want = _oracle(cur, sql)
                    got = await _outcome(s, sql)
                    assert got == want, (sql, got, want)
                assert await _outcome(s, CHECK) == _oracle(cur, CHECK)

        trio.run(main)
