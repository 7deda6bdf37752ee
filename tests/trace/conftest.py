"""Fixtures for trace tests that use the local MariaDB (127.0.0.1:3306)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pymysql
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT, require_mysql_or_skip


def mariadb() -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )


@pytest.fixture
def scratch_db() -> Iterator[str]:
    """A fresh database name on MariaDB, dropped afterwards (with whatever it holds)."""
    require_mysql_or_skip()
    name = f"trace_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    yield name
    conn = mariadb()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        conn.close()
