"""A served coordinator over MariaDB shards next to a plain MariaDB database (the
reference), for tests that drive both with real clients and compare what each stores.

The coordinator runs in its own thread (its own ``trio.run``) so blocking clients —
PyMySQL, the ``mariadb`` CLI in a subprocess — talk to it as to a server. Databases
start with ``sgcs_`` and are dropped on exit.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql
import trio

from sharding.backend.mysql import MySQLConfig, MySQLDataSource
from sharding.coordinator import Coordinator
from sharding.server import MySQLServer, ServerConfig
from sharding.topology import Topology
from tests.conftest import MYSQL_HOST, MYSQL_PORT, MYSQL_URL
from tests.fidelity.harness import connect


@dataclass
class Cluster:
    tag: str
    logical_db: str
    oracle_db: str
    physical_db: str
    port: int = 0

    def oracle(self, **kw: Any) -> pymysql.connections.Connection:
        return connect(MYSQL_HOST, MYSQL_PORT, self.oracle_db, **kw)

    def sharded(self, **kw: Any) -> pymysql.connections.Connection:
        return connect("127.0.0.1", self.port, self.logical_db, **kw)

    def physical(self) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=MYSQL_HOST,
            port=MYSQL_PORT,
            user="root",
            password="",
            database=self.physical_db,
            autocommit=True,
            charset="utf8mb4",
        )

    def shard_rows(self, table: str, shards: int, query: str) -> list[tuple[Any, ...]]:
        """``query`` (with ``{t}`` for the physical table) run on every shard."""
        out: list[tuple[Any, ...]] = []
        with self.physical() as conn, conn.cursor() as cur:
            for i in range(shards):
                cur.execute(query.format(t=f"`{table}_{i:04d}`"))
                out.extend(cur.fetchall())
        return out


def _admin() -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )


def _drop(c: Cluster) -> None:
    with _admin() as conn, conn.cursor() as cur:
        for db in (c.oracle_db, c.physical_db):
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
        if cur.fetchone():
            cur.execute("DELETE FROM shardgate_catalog.tables WHERE db = %s", (c.logical_db,))
            cur.execute("DELETE FROM shardgate_catalog.databases WHERE name = %s", (c.logical_db,))


@contextlib.contextmanager
def served_cluster(
    name: str, tables: Sequence[tuple[str, str, int]], *, hashed: Sequence[str] = ()
) -> Iterator[Cluster]:
    """``tables``: (name, shard key, shard count), sharded by ``mod`` (``hash`` for the
    tables named in ``hashed``); the DDL is the test's to run (on both sides). Yields
    once the coordinator listens; stops it and drops everything after."""
    tag = f"sgcs_{name}_{os.getpid()}"
    c = Cluster(tag, f"{tag}_l", f"{tag}_o", f"{tag}_p")
    _drop(c)
    with _admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{c.oracle_db}`")
        cur.execute(f"CREATE DATABASE `{c.physical_db}`")
    topology = Topology.from_dict(
        {
            "cluster": {"database": c.logical_db},
            "datasources": [{"name": "m0", "kind": "mysql", "url": MYSQL_URL}],
            "tables": [
                {
                    "name": f"{c.logical_db}.{t}",
                    "shard_key": key,
                    "algorithm": "hash" if t in hashed else "mod",
                    "shards": n,
                    "physical": f"{c.physical_db}.{t}_{{shard:04d}}",
                }
                for t, key, n in tables
            ],
        }
    )
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        ds = MySQLDataSource(
            "m0", MySQLConfig.from_mapping("m0", {"url": MYSQL_URL, "max_connections": 8})
        )
        async with (
            Coordinator(topology, datasources={"m0": ds}) as coord,
            trio.open_nursery() as nursery,
        ):
            cfg = ServerConfig(
                listen="127.0.0.1:0", default_database=c.logical_db, shutdown_timeout=2.0
            )
            server = MySQLServer(cfg, coord)
            await nursery.start(server.serve)
            state["server"] = server
            state["token"] = trio.lowlevel.current_trio_token()
            c.port = server.port
            ready.set()

    def run() -> None:
        try:
            trio.run(serve)
        except BaseException as exc:  # reported to the test; the thread must not die silently
            state["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name=f"{tag}-serve", daemon=True)
    thread.start()
    try:
        if not ready.wait(60) or "error" in state:
            raise RuntimeError(f"coordinator did not start: {state.get('error')!r}")
        yield c
    finally:
        if "server" in state:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(state["server"].shutdown, trio_token=state["token"])
        thread.join(30)
        _drop(c)
