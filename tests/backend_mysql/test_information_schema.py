"""information_schema and the table SHOW statements through the coordinator vs MariaDB.

The coordinator (MariaDB shards) and one plain MariaDB database hold the same DDL
(tests/backend_mysql/metadata_env.py). Every query below is what a tool sends — JDBC
DatabaseMetaData, SQLAlchemy, GUIs, mysqldump — and the answers must be the same rows,
column names, values and Python types, with the database names as the only difference.
Statistics MariaDB itself only estimates (row counts, sizes, index cardinality,
timestamps) are masked: the coordinator's are estimates over the shards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.backend_mysql.metadata_env import MetadataEnvironment, normalise, start_environment
from tests.conftest import MYSQL_HOST, MYSQL_PORT

#: Estimates and times: compared by presence (NULL or not), not by value.
VOLATILE = {
    "TABLE_ROWS",
    "AVG_ROW_LENGTH",
    "DATA_LENGTH",
    "INDEX_LENGTH",
    "DATA_FREE",
    "CREATE_TIME",
    "UPDATE_TIME",
    "CARDINALITY",
    "Rows",
    "Avg_row_length",
    "Data_length",
    "Index_length",
    "Data_free",
    "Create_time",
    "Update_time",
    "Cardinality",
    "MAX_DATA_LENGTH",
    "Max_data_length",
}


#: InnoDB keeps UPDATE_TIME in memory only: NULL or not depending on the table cache.
TIMES = {"UPDATE_TIME", "Update_time", "CHECK_TIME", "Check_time"}


@pytest.fixture(scope="module")
def env() -> Iterator[MetadataEnvironment]:
    e = start_environment(4)
    try:
        yield e
    finally:
        e.stop()


def _connect(database: str) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user="root",
        password="",
        database=database,
        autocommit=True,
        read_timeout=60,
    )


def _row_diff(got: Any, expected: Any) -> Any:
    """The first differing (got, expected) rows, cell by cell, for the failure message."""
    if not (
        isinstance(got, tuple) and isinstance(expected, tuple) and len(got) == 2 == len(expected)
    ):
        return got, expected
    if got[0] != expected[0]:
        return got[0], expected[0]
    for g, e in zip(got[1], expected[1], strict=False):
        if g != e:
            return [(n, a, b) for n, a, b in zip(got[0], g, e, strict=True) if a != b]
    return len(got[1]), len(expected[1])


def _answer(conn: pymysql.connections.Connection, sql: str) -> Any:
    with conn.cursor() as cur:
        try:
            cur.execute(sql)
        except pymysql.MySQLError as exc:
            return ("error", exc.args[0])
        names = [d[0] for d in cur.description or ()]
        rows = []
        for row in cur.fetchall():
            rows.append(tuple(_mask(n, v) for n, v in zip(names, row, strict=True)))
        return names, rows


def _mask(name: str, value: Any) -> Any:
    if name in TIMES:
        return "<time>"
    if name in VOLATILE:
        return "<set>" if value is not None else None
    return (type(value).__name__, value)


def _both(env: MetadataEnvironment, sql: str) -> tuple[Any, Any]:
    with env.connect_oracle() as o, env.connect_sharded() as s:
        oracle = _answer(o, sql.replace("{db}", env.oracle_db))
        sharded = _answer(s, sql.replace("{db}", env.logical_db))
    return normalise(oracle, env), normalise(sharded, env)


QUERIES = [
    # The views, as JDBC/SQLAlchemy/GUIs read them.
    "SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' ORDER BY TABLE_NAME",
    "SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' "
    "ORDER BY TABLE_NAME, ORDINAL_POSITION",
    "SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{db}' "
    "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    "SELECT * FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '{db}' "
    "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    "SELECT * FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = '{db}' "
    "ORDER BY TABLE_NAME, CONSTRAINT_NAME",
    "SELECT * FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{db}'",
    "SELECT * FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.FILES WHERE TABLE_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '{db}'",
    # Filters, current database, case, LIKE escapes, expressions, joins, grouping.
    "select table_name, table_type, engine, table_comment from information_schema.tables "
    "where table_schema = database() order by table_name",
    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' "
    "AND TABLE_NAME LIKE 'ORDER\\_%'",
    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' "
    "AND TABLE_NAME LIKE 'order_lines' AND TABLE_TYPE IN ('BASE TABLE', 'VIEW')",
    "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_KEY, EXTRA, "
    "COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' "
    "AND TABLE_NAME = 'items' AND COLUMN_NAME LIKE '%e%' ORDER BY ORDINAL_POSITION DESC",
    "SELECT c.TABLE_NAME, c.COLUMN_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION "
    "FROM information_schema.COLUMNS c JOIN information_schema.KEY_COLUMN_USAGE k "
    "ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME "
    "AND k.COLUMN_NAME = c.COLUMN_NAME WHERE c.TABLE_SCHEMA = '{db}' ORDER BY 1, 3, 4",
    "SELECT tc.TABLE_NAME, tc.CONSTRAINT_TYPE, COUNT(*) AS n "
    "FROM information_schema.TABLE_CONSTRAINTS tc "
    "JOIN information_schema.KEY_COLUMN_USAGE kcu USING (CONSTRAINT_SCHEMA, CONSTRAINT_NAME, "
    "TABLE_NAME) WHERE tc.TABLE_SCHEMA = '{db}' GROUP BY tc.TABLE_NAME, tc.CONSTRAINT_TYPE "
    "ORDER BY 1, 2",
    "SELECT count(*), upper(table_name) FROM information_schema.columns "
    "WHERE table_schema = '{db}' GROUP BY table_name ORDER BY 2",
    "SELECT TABLE_NAME, CASE WHEN COLUMN_TYPE LIKE '%unsigned%' THEN 'U' ELSE 'S' END AS sign, "
    "IF(IS_NULLABLE = 'YES', 1, 0) AS nullable, CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS qname "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' AND DATA_TYPE IN "
    "('smallint', 'int', 'bigint') ORDER BY qname",
    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND "
    "TABLE_NAME IN (SELECT TABLE_NAME FROM information_schema.STATISTICS WHERE "
    "TABLE_SCHEMA = '{db}' AND NON_UNIQUE = 1) ORDER BY 1",
    "SELECT TABLE_NAME AS t, 1 + 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' "
    "UNION SELECT 'zz', 3 ORDER BY 1",
    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' "
    "ORDER BY TABLE_NAME DESC LIMIT 1, 1",
    "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = '{db}' "
    "AND TABLE_TYPE = 'SEQUENCE'",
    # SHOW, with their LIKE / WHERE filters.
    "SHOW DATABASES LIKE '{db}'",
    "SHOW SCHEMAS WHERE `Database` = '{db}'",
    "SHOW DATABASES LIKE 'information\\_schema'",
    "SHOW TABLES",
    "SHOW FULL TABLES",
    "SHOW TABLES FROM `{db}`",
    "SHOW TABLES LIKE 'o%'",
    "SHOW FULL TABLES FROM `{db}` LIKE '%s'",
    "SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'",
    "SHOW COLUMNS FROM items",
    "SHOW FULL COLUMNS FROM items",
    "SHOW FULL COLUMNS FROM order_lines FROM `{db}`",
    "SHOW COLUMNS FROM `{db}`.items LIKE 'p%'",
    "SHOW FIELDS IN items WHERE `Null` = 'NO'",
    "DESCRIBE items",
    "DESC order_lines",
    "DESCRIBE items 'n%'",
    "EXPLAIN order_lines",
    "DESC `{db}`.regions code",
    "SHOW INDEX FROM items",
    "SHOW INDEXES FROM order_lines",
    "SHOW KEYS IN regions",
    "SHOW INDEX FROM items WHERE Key_name = 'ix_name'",
    "SHOW TABLE STATUS",
    "SHOW TABLE STATUS LIKE 'it%'",
    "SHOW TABLE STATUS FROM `{db}` WHERE Name = 'regions'",
    # What mycli / mariadb-dump read besides (empty here: no routines, triggers, events).
    "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.columns "
    "WHERE table_schema = '{db}' ORDER BY table_name, ordinal_position",
    "SHOW FUNCTION STATUS WHERE Db = '{db}'",
    "SHOW PROCEDURE STATUS WHERE Db = '{db}'",
    "SHOW TRIGGERS",
    "SHOW TRIGGERS LIKE 'items'",
    "SHOW EVENTS",
    "SHOW CREATE DATABASE `{db}`",
    "SHOW CREATE SCHEMA IF NOT EXISTS `{db}`",
    # Errors: the same codes.
    "SELECT * FROM information_schema.nosuch",
    "SHOW COLUMNS FROM nosuch",
    "SHOW INDEX FROM nosuch",
    "DESCRIBE nosuch",
    "SHOW TABLES FROM sgmeta_nosuch_db",
    "SHOW CREATE DATABASE sgmeta_nosuch_db",
]


#: Server-wide views: forwarded from MariaDB, or the embedded data with SQLite shards.
SERVER_VIEW_QUERIES = [
    "SELECT * FROM information_schema.COLLATIONS "
    "WHERE COLLATION_NAME IN ('utf8mb4_general_ci', 'utf8mb4_bin', 'latin1_swedish_ci') ORDER BY 1",
    "SELECT * FROM information_schema.CHARACTER_SETS WHERE CHARACTER_SET_NAME LIKE 'utf8%' "
    "ORDER BY 1",
    "SELECT * FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB'",
]


@pytest.mark.parametrize("sql", QUERIES + SERVER_VIEW_QUERIES)
def test_same_answer_as_mariadb(env: MetadataEnvironment, sql: str) -> None:
    oracle, sharded = _both(env, sql)
    assert sharded == oracle, sql


def test_physical_names_never_shown(env: MetadataEnvironment) -> None:
    with env.connect_sharded() as s, s.cursor() as cur:
        for view in ("TABLES", "COLUMNS", "STATISTICS", "KEY_COLUMN_USAGE", "TABLE_CONSTRAINTS"):
            cur.execute(f"SELECT * FROM information_schema.{view}")
            text = repr(cur.fetchall())
            assert env.physical_db not in text and "_0000" not in text, view


def _without_rule(text: str) -> tuple[str, str]:
    cut = text.find("\n PARTITION BY ")
    return (text, "") if cut < 0 else (text[:cut], text[cut:])


def test_show_create_table_canonical(env: MetadataEnvironment) -> None:
    expected_rules = {
        "items": "\n PARTITION BY HASH (`id`)\nPARTITIONS 4",
        "order_lines": "\n PARTITION BY KEY (`order_id`)\nPARTITIONS 4",
        "regions": "",  # broadcast: one whole copy per data source
        "shops": "\n PARTITION BY HASH (`id`)\nPARTITIONS 4",  # with its foreign keys
    }
    with env.connect_oracle() as o, env.connect_sharded() as s:
        for table, rule in expected_rules.items():
            with o.cursor() as oc, s.cursor() as sc:
                oc.execute(f"SHOW CREATE TABLE {table}")
                sc.execute(f"SHOW CREATE TABLE {table}")
                assert [d[0] for d in sc.description] == ["Table", "Create Table"]
                (oname, otext), (sname, stext) = oc.fetchone(), sc.fetchone()
                body, trailer = _without_rule(stext)
                print(f"SHOW CREATE TABLE {table}:\n{stext}")
                assert (sname, body) == (oname, otext)
                assert trailer == rule


def test_show_create_table_round_trips_the_rule(env: MetadataEnvironment) -> None:
    """The printed text, run through the coordinator, makes a table with the same rule
    (what a dump restore does)."""
    with env.connect_sharded() as s, s.cursor() as cur:
        cur.execute("SHOW CREATE TABLE order_lines")
        text = cur.fetchone()[1]
        cur.execute(
            text.replace("CREATE TABLE `order_lines`", "CREATE TABLE `order_lines_copy`", 1)
        )
        try:
            cur.execute("SHOW CREATE TABLE order_lines_copy")
            copy = cur.fetchone()[1]
            assert copy == text.replace("`order_lines`", "`order_lines_copy`", 1)
            assert env.coordinator is not None
            info = env.coordinator.catalog.get(env.logical_db, "order_lines_copy")
            assert info is not None and (
                info.rule.algorithm,
                info.rule.shard_key,
                info.rule.shards,
            ) == (
                "hash",
                "order_id",
                4,
            )
        finally:
            cur.execute("DROP TABLE order_lines_copy")


def test_auto_increment_follows_the_coordinator(env: MetadataEnvironment) -> None:
    """AUTO_INCREMENT is the coordinator's next id (the shards have none). A rolled-back
    insert consumes its id on both sides (InnoDB does not give ids back either), so the
    other tests' comparisons hold in any order."""
    with env.connect_oracle() as o, o.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO items (sku) VALUES ('new')")
        cur.execute("ROLLBACK")
    with env.connect_sharded() as s, s.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO items (sku) VALUES ('new')")
        new_id = cur.lastrowid
        cur.execute("ROLLBACK")
        cur.execute(
            "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'items'"
        )
        (value,) = cur.fetchone()
        assert value == new_id + 1
        cur.execute("SHOW CREATE TABLE items")
        assert re.search(rf"\) ENGINE=InnoDB AUTO_INCREMENT={new_id + 1} ", cur.fetchone()[1])


def test_join_with_a_logical_table_is_refused(env: MetadataEnvironment) -> None:
    with env.connect_sharded() as s, s.cursor() as cur:
        with pytest.raises(pymysql.MySQLError) as info:
            cur.execute(
                "SELECT * FROM information_schema.TABLES t JOIN items i ON i.sku = t.TABLE_NAME"
            )
        assert info.value.args[0] == 1235


# -- SQLite shards: the same answers rendered from the catalog ---------------------------

SQLITE_QUERIES = [
    *SERVER_VIEW_QUERIES,
    "SHOW FULL COLUMNS FROM items",
    "SHOW FULL COLUMNS FROM order_lines",
    "DESCRIBE regions",
    "SHOW INDEX FROM items",
    "SHOW INDEX FROM order_lines",
    "SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' "
    "ORDER BY TABLE_NAME, ORDINAL_POSITION",
    "SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{db}' "
    "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    "SELECT * FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '{db}' "
    "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    "SELECT * FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = '{db}' "
    "ORDER BY TABLE_NAME, CONSTRAINT_NAME",
    "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, AUTO_INCREMENT, TABLE_COLLATION, TABLE_COMMENT "
    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' ORDER BY 1",
]


async def test_sqlite_shards_render_mariadb_metadata(
    env: MetadataEnvironment, tmp_path: Any
) -> None:
    """With SQLite shards nothing physical speaks MySQL: the catalog renders the same
    canonical CREATE TABLE and the same view rows MariaDB shows for the same DDL."""
    from sharding.coordinator import Coordinator
    from sharding.topology import Topology
    from tests.backend_mysql.metadata_env import ROWS, TABLES
    from tests.fidelity.harness import _insert_sql

    topology = Topology.loads(
        f'[cluster]\ndatabase = "lite"\ndefault_shards = 3\n\n[[datasources]]\nname = "ds0"\n'
        f'kind = "sqlite"\npath = "{tmp_path}"\n'
    )
    # The SQLite backend has no latin1: the same tables without it, on both sides
    # (ENUM columns are kept: their COLUMN_TYPE is MariaDB's spelling, labels unspaced).
    ddl = {
        t.name: t.ddl.replace("CHARACTER SET latin1 COLLATE latin1_bin", "COLLATE utf8mb4_bin")
        for t in TABLES
    }
    oracle_db = f"{env.oracle_db}_lite"
    with env.connect_oracle() as o, o.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{oracle_db}`")
        cur.execute(f"CREATE DATABASE `{oracle_db}`")
        cur.execute(f"USE `{oracle_db}`")
        for t in TABLES:
            cur.execute(ddl[t.name])
            cur.execute(_insert_sql(t.name, ROWS[t.name]))
    async with Coordinator(topology, catalog_refresh=None) as coord:
        session = coord.open_session(database="lite")
        try:
            for t in TABLES:
                await session.execute(ddl[t.name])
                await session.execute(_insert_sql(t.name, ROWS[t.name]))

            def masked(names: list[str], rows: list[Any]) -> Any:
                return names, [
                    tuple(_mask(n, v) for n, v in zip(names, row, strict=True)) for row in rows
                ]

            with _connect(oracle_db) as o:
                for sql in SQLITE_QUERIES:
                    expected = _answer(o, sql.replace("{db}", oracle_db))
                    expected = (
                        (
                            expected[0],
                            [
                                tuple(v if v != ("str", oracle_db) else ("str", "DB") for v in r)
                                for r in expected[1]
                            ],
                        )
                        if isinstance(expected[0], list)
                        else expected
                    )
                    result = await session.execute(sql.replace("{db}", "lite"))
                    got = masked([c.name for c in result.columns or []], list(result.rows))
                    got = (
                        got[0],
                        [
                            tuple(v if v != ("str", "lite") else ("str", "DB") for v in r)
                            for r in got[1]
                        ],
                    )
                    assert got == expected, (sql, _row_diff(got, expected))
                # Bound parameters (binary protocol / server-side prepare).
                bound = await session.execute(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? "
                    "AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                    ["lite", "order_lines"],
                )
                assert [r[0] for r in bound.rows] == ["order_id", "line", "code", "amount"]
                for t in TABLES:
                    with o.cursor() as cur:
                        cur.execute(f"SHOW CREATE TABLE {t.name}")
                        expected_text = cur.fetchone()[1]
                    text = (await session.execute(f"SHOW CREATE TABLE {t.name}")).rows[0][1]
                    assert _without_rule(text)[0] == expected_text, (t.name, text, expected_text)
        finally:
            await session.close()
            with env.connect_oracle() as o, o.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{oracle_db}`")


def test_use_information_schema(env: MetadataEnvironment) -> None:
    """GUIs open information_schema like any database listed by SHOW DATABASES."""
    with env.connect_sharded() as s, s.cursor() as cur:
        cur.execute("USE information_schema")
        cur.execute(
            f"SELECT TABLE_NAME FROM TABLES WHERE TABLE_SCHEMA = '{env.logical_db}' ORDER BY 1"
        )
        assert [r[0] for r in cur.fetchall()] == ["items", "order_lines", "regions", "shops"]
        cur.execute("SHOW TABLES LIKE 'KEY\\_%'")
        assert [d[0] for d in cur.description] == ["Tables_in_information_schema (KEY\\_%)"]
        assert cur.fetchall() == (("KEY_COLUMN_USAGE",),)
        cur.execute(f"USE `{env.logical_db}`")
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchone() == (20,)
