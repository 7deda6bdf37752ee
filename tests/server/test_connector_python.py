"""MySQL Connector/Python (Oracle's own driver) through ``shardgate serve``, as an
application uses it: its defaults at connect time (the coordinator says MySQL 8.0, so
the driver sets ``utf8mb4_0900_ai_ci``), server-side prepared statements (binary
protocol), and the text protocol — every answer compared with MariaDB's own.
"""

from __future__ import annotations

import datetime
import decimal
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import MYSQL_PORT
from tests.server.served import direct, serve_mariadb

mysql_connector = pytest.importorskip("mysql.connector")

pytestmark = pytest.mark.mysql

PREFIX = f"sgcpy{os.getpid()}_"
DB = f"{PREFIX}db"
REF = f"{PREFIX}ref"

SETUP = [
    "CREATE TABLE t (id INT PRIMARY KEY, c VARCHAR(20), n INT, d DECIMAL(8,2), dt DATETIME)",
    "INSERT INTO t VALUES (1, 'a', 10, 1.50, '2024-01-01 10:00:00'), "
    "(2, 'b', 20, 2.25, '2024-02-01 00:00:00'), (3, 'c', NULL, NULL, NULL), "
    "(4, 'A', 10, 0.10, '2023-12-31 23:59:59')",
]

CASES: list[tuple[str, tuple[Any, ...]]] = [
    ("SELECT id, c, n, d, dt FROM t WHERE id = %s", (1,)),
    ("SELECT id, c FROM t WHERE id IN (%s, %s) ORDER BY id", (1, 2)),
    ("SELECT COUNT(*), SUM(d), AVG(n), MAX(dt) FROM t WHERE n > %s", (5,)),
    ("SELECT n, COUNT(*) FROM t GROUP BY n ORDER BY n", ()),
    ("SELECT CONCAT(c, %s) FROM t WHERE id = %s", ("!", 3)),
    ("SELECT id FROM t WHERE dt > %s ORDER BY id", (datetime.datetime(2024, 1, 15),)),
    ("SELECT id FROM t WHERE d = %s", (decimal.Decimal("2.25"),)),
    ("SELECT id FROM t WHERE c = %s ORDER BY id", ("a",)),
    ("SELECT id FROM t WHERE n IS NULL OR n = %s ORDER BY id", (None,)),
    ("SELECT id, c FROM t ORDER BY id LIMIT %s, %s", (1, 2)),
    ("SELECT dt, DATE(dt), TIME(dt) FROM t WHERE id = %s", (1,)),
    ("SELECT CAST(%s AS DECIMAL(10,3)), CAST(%s AS DATE)", ("1.23456", "2024-02-03")),
    ("UPDATE t SET n = n + %s WHERE id = %s", (1, 2)),
    ("INSERT INTO t (id, c) VALUES (%s, %s), (%s, %s)", (10, "x", 11, "y")),
    ("DELETE FROM t WHERE id >= %s", (10,)),
    ("SELECT @@collation_connection, @@character_set_client", ()),
]


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serve_mariadb(PREFIX, tmp_path_factory.mktemp("cpy")) as serving:
        direct(f"CREATE DATABASE {REF}")
        for sql in SETUP:
            direct(sql, REF)
        conn = mysql_connector.connect(host="127.0.0.1", port=serving, user="root", database=DB)
        cur = conn.cursor()
        for sql in SETUP:
            cur.execute(sql)
        conn.commit()
        conn.close()
        yield serving


def _run(port: int, database: str, prepared: bool) -> list[Any]:
    conn = mysql_connector.connect(
        host="127.0.0.1", port=port, user="root", database=database, autocommit=True
    )
    out: list[Any] = []
    try:
        for sql, params in CASES:
            cur = conn.cursor(prepared=prepared)
            try:
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else None
                types = [(d[0], d[1]) for d in cur.description] if cur.description else None
                out.append((sql, rows, types, cur.rowcount))
            except mysql_connector.Error as exc:
                out.append((sql, "error", exc.errno))
            finally:
                cur.close()
    finally:
        conn.close()
    return out


@pytest.mark.parametrize("prepared", [True, False], ids=["binary", "text"])
def test_connector_python_answers_as_mariadb(port: int, prepared: bool) -> None:
    ours = _run(port, DB, prepared)
    theirs = _run(MYSQL_PORT, REF, prepared)
    # The collation the driver set: MySQL 8's name is taken (MariaDB 10.11 does not
    # know it, the driver sends it only to a server it takes for MySQL 8).
    assert ours[-1][1] == [("utf8mb4_0900_ai_ci", "utf8mb4")] or ours[-1][1] == [
        ("utf8mb4_unicode_520_ci", "utf8mb4")
    ]
    assert ours[:-1] == theirs[:-1]
    assert ours[0][1] and ours[0][1][0][0] == 1  # rows came back


def test_user_locks_over_prepared_statements(port: int) -> None:
    """``SELECT GET_LOCK(?, ?)`` as a server-side prepared statement (Flyway's way):
    the second client does not get the lock the first holds."""
    name = f"{PREFIX}lock"
    a = mysql_connector.connect(host="127.0.0.1", port=port, user="root", database=DB)
    b = mysql_connector.connect(host="127.0.0.1", port=port, user="root", database=DB)

    def one(conn: Any, sql: str, params: tuple[Any, ...]) -> Any:
        cur = conn.cursor(prepared=True)
        try:
            cur.execute(sql, params)
            return cur.fetchall()[0][0]
        finally:
            cur.close()

    try:
        assert one(a, "SELECT GET_LOCK(?, ?)", (name, 0)) == 1
        assert one(b, "SELECT GET_LOCK(?, ?)", (name, 0)) == 0
        assert one(a, "SELECT RELEASE_LOCK(?)", (name,)) == 1
        assert one(b, "SELECT GET_LOCK(?, ?)", (name, 0)) == 1
        assert one(b, "SELECT RELEASE_LOCK(?)", (name,)) == 1
    finally:
        a.close()
        b.close()


def _change_user_steps(port: int, database: str) -> list[Any]:
    """COM_CHANGE_USER as a pool resets a connection (``cmd_change_user``): the session
    after it is a fresh one — user variables gone, the open transaction rolled back, the
    database the one named — then a database that does not exist (1049, which ends the
    connection) and, on a new connection, a wrong password (1045)."""
    conn = mysql_connector.connect(
        host="127.0.0.1", port=port, user="root", database=database, use_pure=True
    )
    out: list[Any] = []

    def query(sql: str) -> Any:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall() if cur.description else cur.rowcount

    query("SET @v = 5")
    query("START TRANSACTION")
    out.append(query("INSERT INTO t (id, c) VALUES (90, 'cu')"))
    conn.cmd_change_user(username="root", password="", database=database)
    out.append(query(f"SELECT @v, DATABASE() = '{database}', @@in_transaction"))
    out.append(query("SELECT COUNT(*) FROM t WHERE id = 90"))
    conn.cmd_change_user(username="root", password="", database="")
    # No database named: the one a login without a database gets (none on MariaDB,
    # the configured default_database on the coordinator).
    login = mysql_connector.connect(host="127.0.0.1", port=port, user="root", use_pure=True)
    cur = login.cursor()
    cur.execute("SELECT DATABASE()")
    out.append(query("SELECT DATABASE()") == cur.fetchall())
    login.close()
    try:
        conn.cmd_change_user(username="root", password="", database=f"{database}_nope")
        out.append("changed")
    except mysql_connector.Error as exc:
        out.append(("error", exc.errno))
    conn.close()
    other = mysql_connector.connect(host="127.0.0.1", port=port, user="root", use_pure=True)
    try:
        other.cmd_change_user(username="root", password="wrong", database=database)
        out.append("changed")
    except mysql_connector.Error as exc:
        out.append(("error", exc.errno))
    other.close()
    return out


def test_change_user_resets_the_session_as_mariadb(port: int) -> None:
    got = _change_user_steps(port, DB)
    want = _change_user_steps(MYSQL_PORT, REF)
    assert got == want
    assert want[1] == [(None, 1, 0)] and want[2] == [(0,)] and want[3] is True
    assert want[4:] == [("error", 1049), ("error", 1045)]
