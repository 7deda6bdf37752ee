"""Fixtures: a MySQLServer on ephemeral ports over the fake SQLite session factory."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from sharding.server import MySQLServer, ServerConfig
from tests.server.fakes import FakeSessionFactory


@dataclass
class Served:
    server: MySQLServer
    factory: FakeSessionFactory

    @property
    def port(self) -> int:
        return self.server.port

    def pymysql(self, **kw: Any) -> Any:
        import pymysql

        kw.setdefault("host", "127.0.0.1")
        kw.setdefault("port", self.port)
        kw.setdefault("user", "root")
        kw.setdefault("password", "")
        kw.setdefault("connect_timeout", 5)
        kw.setdefault("read_timeout", 30)
        return pymysql.connect(**kw)


async def start_server(
    nursery: trio.Nursery, factory: Any = None, admin: Any = None, **config: Any
) -> Served:
    config.setdefault("listen", "127.0.0.1:0")
    config.setdefault("admin_listen", "127.0.0.1:0")
    config.setdefault("http", "127.0.0.1:0")
    config.setdefault("shutdown_timeout", 2.0)
    factory = factory if factory is not None else FakeSessionFactory()
    server = MySQLServer(ServerConfig.from_mapping(config), factory, admin=admin)
    await nursery.start(server.serve)
    return Served(server, factory)


@pytest.fixture
async def served(nursery: trio.Nursery) -> AsyncIterator[Served]:
    s = await start_server(nursery)
    yield s
    s.server.shutdown()


async def wait_until(predicate: Any, limit: float = 10.0) -> None:
    """Poll a condition on server/fake state that has no event of its own."""
    with trio.fail_after(limit):
        while not predicate():  # noqa: ASYNC110 (plain state, no event to wait on)
            await trio.sleep(0.01)


async def in_thread(fn: Any, *args: Any) -> Any:
    """Run a blocking client in a worker thread (the server runs on this trio loop)."""
    return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)


# -- MariaDB Connector/J (Debian libmariadb-java) for prepared-statement tests -----------

JAR = next((p for p in [Path("/usr/share/java/mariadb-java-client.jar")] if p.exists()), None)
JAVA, JAVAC = shutil.which("java"), shutil.which("javac")
JAVA_READY = JAR is not None and JAVA is not None and JAVAC is not None
JAVA_MISSING = (
    "needs java + javac (Java 17) and MariaDB Connector/J (apt-get install libmariadb-java)"
)
SEED000_SOURCE = Path(__file__).parent / "java" / "Seed000.java"
#: Seed 000's table: 16 int, 3 string, 1 timestamp columns.
CREATE = (
    "CREATE TABLE db.t ("
    + ", ".join(f"id{i} int" for i in range(1, 17))
    + ", str1 String, str2 String, str3 String, dt timestamp)"
)


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed000.java compiled against the Connector/J jar."""
    if not JAVA_READY:
        pytest.skip(JAVA_MISSING)
    out = tmp_path_factory.mktemp("java")
    subprocess.run(
        [str(JAVAC), "-cp", str(JAR), "-d", str(out), str(SEED000_SOURCE)],
        check=True,
        timeout=120,
    )
    return out
