"""The unsharded MariaDB reference of the SQLite differential tests: a fresh database
of the test's own name (with the pid, so parallel runs never share one), dropped
afterwards whatever happened."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pymysql

from tests.conftest import MYSQL_HOST, MYSQL_PORT


def mysql_connect(database: str | None = None, *, autocommit: bool = False) -> Any:
    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user="root",
        password="",
        database=database,
        autocommit=autocommit,
    )


@contextlib.contextmanager
def reference_database(prefix: str, *statements: str) -> Iterator[tuple[str, Any]]:
    """``(name, cursor)`` of a new database ``<prefix>_<pid>`` in use, after running
    ``statements`` in it; dropped on exit."""
    name = f"{prefix}_{os.getpid()}"
    conn = mysql_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"USE `{name}`")
            for sql in statements:
                cur.execute(sql)
            yield name, cur
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
