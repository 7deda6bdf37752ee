"""Expressions over bound parameters are typed by the value bound, as MariaDB types them.

Connector/Python's prepared statements (binary protocol) bind a ``Decimal`` as
NEWDECIMAL, a ``float`` as DOUBLE, a ``str`` as a string. MariaDB types ``amt + ?``,
``? * 2``, ``? + 1`` by that bound type (DECIMAL, DOUBLE, DOUBLE); the coordinator's
rules knew only integers, so on the SQLite default every such item was sent as a
string (``'12.00'``, ``'5.0'``; ``sharding/sql/describe.py`` ``_slot_type``, found
2026-12-06). Rows and column types are compared with MariaDB's own, through ``serve``
on the SQLite default and in front of MariaDB.
"""

from __future__ import annotations

import decimal
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.served import direct, serve_mariadb

mysql_connector = pytest.importorskip("mysql.connector")

pytestmark = pytest.mark.mysql

PREFIX = f"sgbound{os.getpid()}_"
REF = f"{PREFIX}ref"
DB = f"{PREFIX}db"

SETUP = [
    "CREATE TABLE o (id INT PRIMARY KEY, amt DECIMAL(10,2), f DOUBLE, s VARCHAR(10))",
    "INSERT INTO o VALUES (1, 10.50, 1.5, 'x'), (2, 20.00, -2.25, 'y'), (3, NULL, NULL, NULL)",
]
D = decimal.Decimal
CASES: list[tuple[str, tuple[Any, ...]]] = [
    ("SELECT id, amt + ?, amt * ?, ? - amt FROM o ORDER BY id", (D("1.5"), D("2"), D("100"))),
    ("SELECT ? + 0, ? * 2, ? + 1, -? FROM o WHERE id = 1", (D("1.50"), 2.5, "3", D("-2.25"))),
    ("SELECT id, f * ?, f + ?, amt + ? FROM o ORDER BY id", (2.0, D("0.25"), 1.5)),
    ("SELECT SUM(amt) + ?, MAX(f) * ? FROM o", (D("0.01"), 2.5)),
    ("SELECT id FROM o WHERE amt > ? ORDER BY id", (D("15.5"),)),
]


def _run(port: int, database: str) -> list[Any]:
    conn = mysql_connector.connect(
        host="127.0.0.1", port=port, user="root", database=database, autocommit=True
    )
    out: list[Any] = []
    try:
        for sql, params in CASES:
            cur = conn.cursor(prepared=True)
            try:
                cur.execute(sql, params)
                out.append((sql, [d[:2] for d in cur.description], cur.fetchall()))
            finally:
                cur.close()
    finally:
        conn.close()
    return out


def _load(port: int, database: str) -> None:
    conn = pymysql.connect(
        host=MYSQL_HOST if port == MYSQL_PORT else "127.0.0.1",
        port=port,
        user="root",
        database=database,
        autocommit=True,
    )
    with conn, conn.cursor() as cur:
        for sql in SETUP:
            cur.execute(sql)


@pytest.fixture(scope="module")
def reference() -> Iterator[list[Any]]:
    direct(f"DROP DATABASE IF EXISTS `{REF}`")
    direct(f"CREATE DATABASE `{REF}`")
    try:
        _load(MYSQL_PORT, REF)
        yield _run(MYSQL_PORT, REF)
    finally:
        direct(f"DROP DATABASE IF EXISTS `{REF}`")


@pytest.fixture(scope="module")
def sqlite_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    work = tmp_path_factory.mktemp("bound")
    log = (work / "serve.log").open("wb")
    args = ["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sharding.cli", "serve", *args, "--data-dir", str(work / "data")],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    log.close()
    try:
        assert proc.stdout is not None
        m = re.search(rb"on 127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert m, (work / "serve.log").read_text()
        port = int(m.group(1))
        conn = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB}")
        _load(port, DB)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_bound_values_type_their_expressions_on_the_sqlite_default(
    sqlite_port: int, reference: list[Any]
) -> None:
    assert _run(sqlite_port, DB) == reference


def test_bound_values_type_their_expressions_in_front_of_mariadb(
    tmp_path_factory: pytest.TempPathFactory, reference: list[Any]
) -> None:
    with serve_mariadb(PREFIX, tmp_path_factory.mktemp("boundm")) as port:
        _load(port, DB)
        assert _run(port, DB) == reference
