"""User-level locks (``GET_LOCK`` …) through ``shardgate serve`` keep MariaDB's mutual
exclusion (sharding/user_locks.py): two clients never both hold a lock, a lock is the
server's (a client of MariaDB itself sees it), and a client that leaves releases its
locks — no pooled shard connection is left holding one.

Before, GET_LOCK ran on a pooled connection given back after the statement: a second
client's GET_LOCK on that connection answered 1 while the first still held the lock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.conftest import MYSQL_PORT
from tests.server.served import direct, serve_mariadb

pytestmark = pytest.mark.mysql

PREFIX = f"sglock{os.getpid()}_"
DB = f"{PREFIX}db"
LOCK = f"sglock_{os.getpid()}"  # lock names are server-wide: this run's own


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serve_mariadb(PREFIX, tmp_path_factory.mktemp("locks")) as serving:
        conn = _connect(serving)
        conn.cursor().execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        conn.cursor().execute("INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)")
        conn.close()
        yield serving


def _connect(port: int) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user="root", database=DB, autocommit=True)


def _one(conn: pymysql.connections.Connection, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
        return row[0] if row is not None and len(row) == 1 else row


def _free_on_mariadb(name: str) -> int:
    return int(direct(f"SELECT IS_FREE_LOCK('{name}')")[0][0])


def test_two_clients_never_both_hold_a_lock(port: int) -> None:
    a, b = _connect(port), _connect(port)
    try:
        assert _one(a, f"SELECT GET_LOCK('{LOCK}', 0)") == 1
        # Statements in between borrow pooled shard connections: none gets the lock.
        for _ in range(20):
            assert _one(b, "SELECT COUNT(*) FROM t") == 3
        assert _one(b, f"SELECT GET_LOCK('{LOCK}', 0)") == 0
        assert _one(b, f"SELECT IS_FREE_LOCK('{LOCK}')") == 0
        assert _one(b, f"SELECT IS_USED_LOCK('{LOCK}') IS NOT NULL") == 1
        assert _free_on_mariadb(LOCK) == 0  # the server's lock, as MariaDB's own
        assert _one(a, f"SELECT GET_LOCK('{LOCK}', 0)") == 1  # nested, as MariaDB
        assert _one(a, f"SELECT RELEASE_LOCK('{LOCK}')") == 1
        assert _one(b, f"SELECT GET_LOCK('{LOCK}', 0)") == 0  # still held once
        assert _one(a, f"SELECT RELEASE_LOCK('{LOCK}')") == 1
        assert _one(b, f"SELECT GET_LOCK('{LOCK}', 0)") == 1
        assert _one(a, f"SELECT RELEASE_LOCK('{LOCK}')") == 0  # not a's any more
        assert _one(b, "SELECT RELEASE_ALL_LOCKS()") == 1
        assert _free_on_mariadb(LOCK) == 1
        assert _one(a, f"SELECT RELEASE_LOCK('{LOCK}x')") is None  # no such lock
    finally:
        a.close()
        b.close()


def test_a_client_that_leaves_releases_its_locks(port: int) -> None:
    a = _connect(port)
    assert _one(a, f"SET @name = '{LOCK}l'") is None
    assert _one(a, "SELECT GET_LOCK(@name, 0)") == 1
    a.close()
    b = _connect(port)
    try:
        deadline = time.monotonic() + 10
        while _one(b, f"SELECT GET_LOCK('{LOCK}l', 0)") != 1:
            assert time.monotonic() < deadline, "the lock outlived its client"
            time.sleep(0.05)
        assert _one(b, f"SELECT RELEASE_LOCK('{LOCK}l')") == 1
    finally:
        b.close()
    assert _free_on_mariadb(f"{LOCK}l") == 1


def test_lock_forms_answer_as_mariadb_or_1235(port: int) -> None:
    statements = [
        f"SELECT GET_LOCK('{LOCK}f', 0) AS got, 5, GET_LOCK('{LOCK}g', 0)",
        f"DO RELEASE_LOCK('{LOCK}f')",
        f"SELECT IS_FREE_LOCK('{LOCK}f'), IS_FREE_LOCK('{LOCK}g')",
        "SELECT RELEASE_ALL_LOCKS()",
    ]

    def run(conn: pymysql.connections.Connection) -> list[Any]:
        out = []
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
                names = [d[0] for d in cur.description] if cur.description else None
                out.append((names, cur.fetchall()))
        return out

    ours, mine = _connect(port), pymysql.connect(host="127.0.0.1", port=MYSQL_PORT, user="root")
    try:
        assert run(ours) == run(mine)
        for sql in (
            f"SELECT IF(GET_LOCK('{LOCK}h', 0), 1, 2)",
            f"SELECT GET_LOCK('{LOCK}h', 0) FROM t WHERE id = 1",
        ):
            with pytest.raises(pymysql.err.MySQLError) as refused:
                _one(ours, sql)
            assert refused.value.args[0] == 1235, sql
        # Anywhere else a lock would be taken on a pooled connection: refused.
        for sql in (
            f"SET @got = GET_LOCK('{LOCK}h', 0)",
            f"UPDATE t SET v = RELEASE_LOCK('{LOCK}h') WHERE id = 1",
            f"INSERT INTO t VALUES (9, GET_LOCK('{LOCK}h', 0))",
        ):
            with pytest.raises(pymysql.err.MySQLError) as refused:
                _one(ours, sql)
            assert refused.value.args[0] == 1235, sql
        assert _free_on_mariadb(f"{LOCK}h") == 1
    finally:
        ours.close()
        mine.close()


def test_a_killed_lock_wait_leaves_nothing_held(port: int) -> None:
    """KILL QUERY of a ``GET_LOCK`` waiting for another holder: the waiter gets 1317, its
    lock connection is discarded (it held nothing), the session goes on, and once the
    holder releases every pooled connection is back and the lock is free."""
    import threading

    name = f"{LOCK}k"
    holder, waiter, admin = _connect(port), _connect(port), _connect(port)
    try:
        assert _one(holder, f"SELECT GET_LOCK('{name}', 0)") == 1
        waiter_id = _one(waiter, "SELECT CONNECTION_ID()")
        outcome: list[Any] = []

        def wait() -> None:
            try:
                outcome.append(_one(waiter, f"SELECT GET_LOCK('{name}', 30)"))
            except pymysql.err.MySQLError as exc:
                outcome.append(exc.args[0])

        thread = threading.Thread(target=wait)
        thread.start()
        deadline = time.monotonic() + 10
        while not direct(  # the waiter is inside GET_LOCK on the server
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            f"WHERE INFO LIKE 'SELECT GET_LOCK(%{name}%, 30)%'"
        )[0][0]:
            assert time.monotonic() < deadline, "GET_LOCK never reached the server"
            time.sleep(0.02)
        _one(admin, f"KILL QUERY {waiter_id}")
        thread.join(10)
        assert not thread.is_alive() and outcome == [1317]
        assert _one(waiter, "SELECT COUNT(*) FROM t") == 3  # the session goes on
        assert _one(waiter, f"SELECT GET_LOCK('{name}', 0)") == 0  # still the holder's
        assert _one(holder, f"SELECT RELEASE_LOCK('{name}')") == 1
        assert _one(waiter, f"SELECT GET_LOCK('{name}', 0)") == 1
        assert _one(waiter, f"SELECT RELEASE_LOCK('{name}')") == 1
        assert _free_on_mariadb(name) == 1
        with admin.cursor() as cur:
            cur.execute("SHOW DATASOURCES")
            names = [d[0].lower() for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        assert rows and all(int(r["in_use"]) == 0 for r in rows), rows
    finally:
        holder.close()
        waiter.close()
        admin.close()
