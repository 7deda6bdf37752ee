"""Session state through the wire protocol, in front of MariaDB shards (issue 11).

PyMySQL → in-process ``MySQLServer`` → ``Coordinator`` → MariaDB shards, compared with
PyMySQL → the same MariaDB directly, statement by statement, with and without
CLIENT_FOUND_ROWS. The server is configured with MariaDB's ``max_allowed_packet`` (the
protocol server reports its own limit, the one it enforces). Also: a pooled shard
connection handed to another session after ``SET sql_mode = ''`` (a pool of one
connection forces the reuse) does not carry the setting over.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest
import trio
from pymysql.constants import CLIENT

from sharding.backend.mysql import MySQLConfig, MySQLDataSource
from sharding.coordinator import Coordinator
from sharding.server import CoordinatorAdmin, MySQLServer, ServerConfig
from sharding.topology import Topology
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import in_thread
from tests.sharding.test_session_state import SCRIPTS, VARIABLES, kind

pytestmark = pytest.mark.mysql
SHARDS = 4
MAX_PACKET = 16777216  # MariaDB's max_allowed_packet on the reference server

#: Scripts that need MariaDB shards (SQLite counts matched rows for UPDATE).
MYSQL_SCRIPTS: dict[str, list[str]] = {
    "changed rows": [
        "INSERT INTO t (id, v) VALUES (1, 10), (2, 20), (3, 30), (4, 40)",
        "UPDATE t SET v = v WHERE id = 3",
        "SELECT ROW_COUNT()",
        "UPDATE t SET v = 20 WHERE id IN (1, 2, 3, 4)",
        "SELECT ROW_COUNT()",
        "INSERT INTO t (id, v) VALUES (1, 20) ON DUPLICATE KEY UPDATE v = VALUES(v)",
        "INSERT INTO t (id, v) VALUES (1, 21) ON DUPLICATE KEY UPDATE v = VALUES(v)",
        "INSERT INTO t (id, v) VALUES (9, 1) ON DUPLICATE KEY UPDATE v = VALUES(v)",
        "INSERT INTO t (id, v) VALUES (1, 21), (2, 22), (3, 20), (10, 5) "
        "ON DUPLICATE KEY UPDATE v = VALUES(v)",
        "SELECT ROW_COUNT()",
        # The clause spelled in a literal is text: a plain INSERT IGNORE's counts.
        "INSERT IGNORE INTO t (id, v) VALUES (1, LENGTH('ON DUPLICATE KEY UPDATE'))",
        "INSERT IGNORE INTO t (id, v) VALUES (2, 1), (11, LENGTH('on duplicate key update'))",
        "SELECT ROW_COUNT()",
        "INSERT INTO t (id, v) VALUES (2, 1) ON /* c */ DUPLICATE KEY UPDATE v = v",
    ],
    "sequence": [
        "INSERT INTO seq (k, id) VALUES (1, 10)",
        "UPDATE seq SET id = LAST_INSERT_ID(id + 1) WHERE k = 1",
        "SELECT LAST_INSERT_ID()",
        "UPDATE seq SET id = LAST_INSERT_ID(id + 1) WHERE k = 1",
        "SELECT LAST_INSERT_ID(), ROW_COUNT()",
        "SELECT id FROM seq WHERE k = 1",
    ],
    "explicit ids": [
        "INSERT INTO ai (id, v) VALUES (100, 1)",
        "SELECT LAST_INSERT_ID()",
        "INSERT INTO ai (v) VALUES (2)",
        "SELECT LAST_INSERT_ID() > 100",
        "INSERT INTO ai (id, v) VALUES (300, 1)",
        "SELECT LAST_INSERT_ID() < 300",
    ],
    "identity": [
        "SELECT USER(), CURRENT_USER(), SESSION_USER(), SYSTEM_USER()",
        "SELECT USER() FROM t WHERE id = 1",
        "SELECT @@max_allowed_packet, @@wait_timeout, @@interactive_timeout",
    ],
    "shard settings": [
        "INSERT INTO t (id, v) VALUES (1, 10)",
        "SET sql_mode = ''",
        "INSERT INTO s (id, c) VALUES (1, 'abc')",
        "SELECT c FROM s WHERE id = 1",
        "SET sql_mode = DEFAULT",
        "INSERT INTO s (id, c) VALUES (2, 'abc')",
        "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
        "SELECT 'a' = 'A'",
        "SET NAMES utf8mb4",
        "SELECT 'a' = 'A'",
        "SET time_zone = '+05:00'",
        "SELECT FROM_UNIXTIME(0) FROM t WHERE id = 1",
        "SET time_zone = '-03:00'",
        "SELECT FROM_UNIXTIME(0)",
        "SET group_concat_max_len = 5",
        "SELECT GROUP_CONCAT('abcdefgh')",
    ],
}

#: Beyond SQLite's integers (the embedded default refuses it: 1235).
MYSQL_SCRIPTS["last insert id beyond bigint"] = [
    "SELECT LAST_INSERT_ID(-1)",
    "SELECT LAST_INSERT_ID()",
    "SELECT LAST_INSERT_ID(18446744073709551615), LAST_INSERT_ID()",
]

#: Time zones as MariaDB reads and shows them (on MariaDB shards: the embedded SQLite
#: default refuses a zone other than the system's, tests/sharding/test_session_state.py).
MYSQL_SCRIPTS["time zones"] = [
    "SET time_zone = '-12:59'",
    "SELECT @@time_zone",
    "SET time_zone = '+1:00'",
    "SELECT @@time_zone",
    "SET time_zone = 'system'",
    "SELECT @@time_zone",
    "SET time_zone = '-00:00'",
    "SELECT @@time_zone",
    "SET time_zone = '+13:01'",
]

#: Rows without values: every column its default, the AUTO_INCREMENT id generated
#: (the sequence-table idiom); a row with values after them is 1136 at its own row,
#: counted before any id is taken.
MYSQL_SCRIPTS["empty values rows"] = [
    "INSERT INTO ai () VALUES ()",
    "SELECT LAST_INSERT_ID(), ROW_COUNT()",
    "INSERT INTO ai VALUES (), ( ), ()",
    "SELECT LAST_INSERT_ID(), ROW_COUNT()",
    "INSERT INTO ai VALUES (), (50, 1)",
    "INSERT INTO ai () VALUES (7)",
    "INSERT IGNORE INTO ai () VALUES ()",
    "REPLACE INTO ai () VALUES ()",
    "INSERT INTO ai () VALUES () ON DUPLICATE KEY UPDATE v = 9",
    "SELECT LAST_INSERT_ID()",
    "SELECT id, v FROM ai ORDER BY id",
    "INSERT INTO t () VALUES ()",
]

MYSQL_SCRIPTS["settings in a transaction"] = [
    "BEGIN",
    "INSERT INTO s (id, c) VALUES (1, 'ab')",
    "SET sql_mode = ''",
    "INSERT INTO s (id, c) VALUES (2, 'abc')",
    "COMMIT",
    "SELECT c FROM s WHERE id = 2",
    "SET sql_mode = DEFAULT",
    "INSERT INTO s (id, c) VALUES (3, 'abc')",
    "SET autocommit = 0",
    "INSERT INTO s (id, c) VALUES (4, 'ab')",
    "ROLLBACK",
    "SELECT COUNT(*) FROM s WHERE id = 4",
    "SET @x := 5, autocommit = 1",
    "SELECT @x, @@autocommit",
]

DDL = (
    "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
    "CREATE TABLE ai (id INT PRIMARY KEY AUTO_INCREMENT, v INT)",
    "CREATE TABLE seq (k INT PRIMARY KEY, id INT NOT NULL)",
    "CREATE TABLE s (id INT PRIMARY KEY, c VARCHAR(2))",
)


def _admin() -> Any:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )


def _cleanup(db: str) -> None:
    with _admin() as c, c.cursor() as cur:
        for i in range(SHARDS):
            cur.execute(f"DROP DATABASE IF EXISTS `{db}_{i:04d}`")
        cur.execute(f"DROP DATABASE IF EXISTS `{db}_ref`")
        cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
        if cur.fetchone():
            cur.execute("DELETE FROM shardgate_catalog.tables WHERE db = %s", (db,))
            cur.execute("DELETE FROM shardgate_catalog.databases WHERE name = %s", (db,))
            cur.execute("DELETE FROM shardgate_catalog.autoinc WHERE db = %s", (db,))


@dataclass
class Wire:
    db: str
    port: int
    coord: Coordinator

    def ours(self, **kw: Any) -> Any:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            password="",
            database=self.db,
            autocommit=True,
            charset="utf8mb4",
            **kw,
        )

    def reference(self, **kw: Any) -> Any:
        return pymysql.connect(
            host=MYSQL_HOST,
            port=MYSQL_PORT,
            user="root",
            password="",
            database=f"{self.db}_ref",
            autocommit=True,
            charset="utf8mb4",
            **kw,
        )


async def _serve(
    nursery: trio.Nursery, mysql_url: str, max_connections: int, driver: str = "aiomysql"
) -> AsyncIterator[Wire]:
    db = f"sgsess_{secrets.token_hex(3)}"
    topology = Topology.from_dict(
        {
            "cluster": {"database": db, "default_shards": SHARDS},
            "datasources": [{"name": "m0", "kind": "mysql", "url": mysql_url}],
        }
    )
    ds = MySQLDataSource(
        "m0",
        MySQLConfig.from_mapping(
            "m0", {"url": mysql_url, "max_connections": max_connections, "driver": driver}
        ),
    )
    await in_thread(_cleanup, db)
    await in_thread(_create_reference, db)
    try:
        async with Coordinator(topology, datasources={"m0": ds}, catalog_refresh=None) as coord:
            cfg = ServerConfig(
                listen="127.0.0.1:0",
                default_database=db,
                shutdown_timeout=2.0,
                max_packet_size=MAX_PACKET,
            )
            server = MySQLServer(cfg, coord, admin=CoordinatorAdmin(coord))
            await nursery.start(server.serve)
            yield Wire(db, server.port, coord)
            server.shutdown()
    finally:
        await in_thread(_cleanup, db)


@pytest.fixture
async def wire(nursery: trio.Nursery, mysql_url: str) -> AsyncIterator[Wire]:
    async for w in _serve(nursery, mysql_url, max_connections=8):
        yield w


@pytest.fixture
async def wire_pool1(nursery: trio.Nursery, mysql_url: str) -> AsyncIterator[Wire]:
    async for w in _serve(nursery, mysql_url, max_connections=1):
        yield w


def run(conn: Any, sql: str, database: str, *, messages: bool = False) -> tuple[Any, ...]:
    """One statement's outcome as a client sees it (the database name normalised);
    ``messages``: an error's text too."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            if cur.description is None:
                return ("ok", cur.rowcount, cur.lastrowid)
            rows = cur.fetchall()
            return (
                "rows",
                tuple(tuple(kind("db" if v == database else v) for v in r) for r in rows),
            )
    except pymysql.MySQLError as exc:
        if messages:
            return ("error", exc.args[0], str(exc.args[1]).replace(f"`{database}`", "`db`"))
        return ("error", exc.args[0])


def _create_reference(db: str) -> None:
    with _admin() as c, c.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}_ref`")


def compare(
    w: Wire, statements: Sequence[str], *, client_flag: int = 0, messages: bool = False
) -> None:
    """Run ``statements`` in a fresh session on both sides; every outcome must match."""
    ours, ref = w.ours(client_flag=client_flag), w.reference(client_flag=client_flag)
    try:
        for ddl in DDL:
            name = ddl.split()[2]
            for conn in (ours, ref):
                with conn.cursor() as cur:
                    cur.execute(f"DROP TABLE IF EXISTS {name}")
                    cur.execute(ddl)
        mismatches = []
        for sql in statements:
            expected = run(ref, sql, f"{w.db}_ref", messages=messages)
            got = run(ours, sql, w.db, messages=messages)
            if got != expected:
                mismatches.append(f"{sql}: shardgate {got} != MariaDB {expected}")
        assert not mismatches, "\n".join(mismatches)
    finally:
        ours.close()
        ref.close()


#: Multi-row INSERTs whose rows land on several shards, one failing in strict mode: a
#: shard's "at row n" counts the rows of its own statement; MariaDB names the client's
#: row. Rows on four shards of one data source: several statements in one batch.
ROW_ERRORS = [
    "INSERT INTO t (id, v) VALUES (1, 1), (2, 'x')",
    "INSERT INTO t (id, v) VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 'bad'), (6, 6)",
    "INSERT INTO s (id, c) VALUES (2, 'a'), (1, 'b'), (5, 'ccc'), (3, 'd')",
    "INSERT INTO ai (v) VALUES (1), (2), (3), (4), (5), ('x')",
    "INSERT INTO t (id, v) VALUES (1, 1), (2)",
    "BEGIN",
    "INSERT INTO t (id, v) VALUES (7, 1), (8, 2), (11, 'y')",
    "ROLLBACK",
    "INSERT INTO t (id, v) VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)",
    "INSERT INTO t (id, v) SELECT id + 100, IF(id = 3, 'z', 1) FROM t ORDER BY id",
    "SELECT COUNT(*) FROM t",
]


@pytest.fixture(params=["aiomysql", "native"])
async def wire_driver(
    request: pytest.FixtureRequest, nursery: trio.Nursery, mysql_url: str
) -> AsyncIterator[Wire]:
    async for w in _serve(nursery, mysql_url, max_connections=8, driver=request.param):
        yield w


async def test_insert_errors_name_the_clients_row(wire_driver: Wire) -> None:
    await in_thread(lambda: compare(wire_driver, ROW_ERRORS, messages=True))


async def test_variables_match_mariadb(wire: Wire) -> None:
    await in_thread(compare, wire, [f"SELECT @@{v}" for v in VARIABLES])


@pytest.mark.parametrize("name", sorted(SCRIPTS) + sorted(MYSQL_SCRIPTS))
async def test_scripts_match_mariadb(wire: Wire, name: str) -> None:
    await in_thread(compare, wire, {**SCRIPTS, **MYSQL_SCRIPTS}[name])


@pytest.mark.parametrize("found_rows", [False, True], ids=["changed-rows", "found-rows"])
async def test_found_rows_capability(wire: Wire, found_rows: bool) -> None:
    flag = CLIENT.FOUND_ROWS if found_rows else 0
    await in_thread(lambda: compare(wire, MYSQL_SCRIPTS["changed rows"], client_flag=flag))


async def test_connection_id_is_the_handshake_thread_id(wire: Wire) -> None:
    def check() -> None:
        with wire.ours() as c, c.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID(), @@pseudo_thread_id")
            assert cur.fetchone() == (c.thread_id(), c.thread_id())

    await in_thread(check)


async def test_pooled_connection_does_not_carry_session_settings(wire_pool1: Wire) -> None:
    """Pool of one shard connection: every session's statements use the same one."""
    w = wire_pool1

    def check() -> None:
        with w.ours() as a, a.cursor() as ca:
            ca.execute("CREATE TABLE IF NOT EXISTS s (id INT PRIMARY KEY, c VARCHAR(2))")
            ca.execute("DELETE FROM s")
            ca.execute("SET sql_mode = '', time_zone = '+05:00'")
            ca.execute("INSERT INTO s (id, c) VALUES (1, 'abc')")  # truncated, not strict
            ca.execute("SELECT c, FROM_UNIXTIME(0) FROM s WHERE id = 1")
            assert ca.fetchone()[0] == "ab"
            with w.ours() as b, b.cursor() as cb:  # same shard connection, other session
                with pytest.raises(pymysql.MySQLError) as info:
                    cb.execute("INSERT INTO s (id, c) VALUES (2, 'abc')")
                assert info.value.args[0] == 1406  # strict again: Data too long
                cb.execute("SELECT FROM_UNIXTIME(0) FROM s WHERE id = 1")
                with w.reference() as r, r.cursor() as cr:
                    cr.execute("SELECT FROM_UNIXTIME(0)")
                    assert cb.fetchone() == cr.fetchone()
            # and the first session still has its own settings on the shared connection
            ca.execute("INSERT INTO s (id, c) VALUES (3, 'xyz')")
            ca.execute("SELECT c FROM s WHERE id = 3")
            assert ca.fetchone() == ("xy",)

    await in_thread(check)
    pool = w.coord.datasources["m0"].pool  # type: ignore[attr-defined]
    assert pool.size <= 1 and pool.in_use == 0


async def test_set_user_variable_from_a_sharded_select(wire: Wire) -> None:
    def check() -> None:
        with wire.ours() as c, c.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS u (id INT PRIMARY KEY, v INT)")
            cur.execute("DELETE FROM u")
            cur.execute(
                "INSERT INTO u VALUES " + ", ".join(f"({i}, {i * 3})" for i in range(1, 41))
            )
            cur.execute("SET @m := (SELECT MAX(v) FROM u), @n = (SELECT COUNT(*) FROM u)")
            cur.execute("SELECT @m, @n, @m + 1")
            assert cur.fetchone() == (120, 40, 121)
            cur.execute("SET @k = 17")
            cur.execute("SELECT v FROM u WHERE id = @k")
            assert cur.fetchall() == ((51,),)
            cur.execute("UPDATE u SET v = @k WHERE id = @k")
            assert cur.rowcount == 1
            cur.execute("INSERT INTO u (id, v) VALUES (@k + 100, @m)")
            cur.execute("SELECT v FROM u WHERE id = 117")
            assert cur.fetchall() == ((120,),)

    await in_thread(check)
