"""Fixtures for the MySQL backend tests: the shared server, a private one, helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sharding.backend.mysql import MySQLDataSource
from tests.conftest import MYSQL_URL, mysql_required, require_mysql_or_skip
from tests.mysqld import PrivateMariaDB, available


@pytest.fixture(scope="session")
def private_server() -> Iterator[PrivateMariaDB]:
    """A private mariadbd (own datadir, free port) for fault tests; stopped at the end."""
    require_mysql_or_skip()
    if not available():
        if mysql_required():
            pytest.fail("SHARDGATE_REQUIRE_MYSQL=1 but mariadbd/mariadb-install-db are missing")
        pytest.skip("mariadbd / mariadb-install-db not installed")
    # The shared server's charset (Debian configures utf8mb4; a bare mariadbd is latin1).
    server = PrivateMariaDB(
        extra_args=["--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"]
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private(private_server: PrivateMariaDB) -> Iterator[PrivateMariaDB]:
    """The private server, guaranteed running (not paused) before and after the test."""
    private_server.resume()
    yield private_server
    private_server.resume()


def make_ds(name: str, url: str = MYSQL_URL, **kw: Any) -> MySQLDataSource:
    return MySQLDataSource.from_config(name, {"url": url, **kw})
