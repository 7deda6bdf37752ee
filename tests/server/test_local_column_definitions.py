"""The answers the coordinator makes itself carry MariaDB's column definitions (issue
14 item 6): SHOW statements, ``information_schema`` queries tools run, ``@@variables``,
session functions and constants — type code, display length, decimals, the NOT_NULL /
UNSIGNED / BINARY flags and the character set, compared field by field with MariaDB
10.11 running the same statement (sibling of ``test_column_definitions.py``, which
compares SELECTs over shards).

A coordinator (``shardgate serve`` over MariaDB shards) and a reference database on
the same MariaDB hold the same table. Where a difference is the coordinator's by
design, it is listed in :data:`EXPECTED` with the reason; a listed difference that
disappears fails too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pymysql
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.served import direct, serve_mariadb
from tests.server.stmtclient import connect, execute

pytestmark = pytest.mark.mysql

PID = os.getpid()
PREFIX = f"sglocal{PID}_"
DB = f"{PREFIX}db"
REF = f"{PREFIX}ref"

NOT_NULL, UNSIGNED, BINARY = 1, 32, 128
COMPARED_FLAGS = NOT_NULL | UNSIGNED | BINARY

TABLE = (
    "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL DEFAULT '',"
    " amount DECIMAL(10,2), created DATETIME, KEY k_name (name))"
)

#: Statements answered by the coordinator itself.
STATEMENTS = [
    "SHOW DATABASES",
    f"SHOW DATABASES LIKE '{PREFIX}%'",
    "SHOW TABLES",
    "SHOW FULL TABLES",
    "SHOW TABLES LIKE 't%'",
    "SHOW COLUMNS FROM t",
    "SHOW FULL COLUMNS FROM t",
    "DESCRIBE t",
    "SHOW INDEX FROM t",
    "SHOW TABLE STATUS",
    "SHOW TABLE STATUS LIKE 't'",
    "SHOW VARIABLES LIKE 'version%'",
    "SHOW SESSION VARIABLES LIKE 'autocommit'",
    "SHOW STATUS LIKE 'Uptime'",
    "SHOW WARNINGS",
    "SHOW ERRORS",
    "SHOW COUNT(*) WARNINGS",
    "SHOW CREATE TABLE t",
    "SHOW CREATE DATABASE {db}",
    "SHOW PROCESSLIST",
    "SHOW FULL PROCESSLIST",
    "SHOW TABLES FROM information_schema LIKE 'TABLES'",
    "SHOW FULL TABLES FROM information_schema LIKE 'TABLES'",
    "SHOW EVENTS",
    "SHOW TRIGGERS",
    "SHOW FUNCTION STATUS",
    "SHOW PROCEDURE STATUS",
    "SHOW ENGINES",
    "SHOW CHARACTER SET LIKE 'utf8mb4'",
    "SHOW COLLATION LIKE 'utf8mb4_bin'",
    "SELECT @@version_comment LIMIT 1",
    "SELECT @@autocommit, @@max_allowed_packet, @@sql_mode, @@session.auto_increment_increment",
    "SELECT @@character_set_client, @@collation_connection, @@tx_isolation, @@time_zone",
    "SELECT @@wait_timeout, @@long_query_time, @@lower_case_table_names, @@GLOBAL.sql_mode",
    "SELECT @@autocommit AS ac, @@session.tx_read_only, @@net_write_timeout",
    "SELECT DATABASE(), USER(), CURRENT_USER(), CONNECTION_ID()",
    "SELECT LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS(), SCHEMA()",
    "SELECT 1, 'a', NULL, 1.5, -1, 1e3, 12345678901, TRUE, 'abc' AS x, ''",
    "SELECT 1 AS one",
    "SELECT @unset_user_variable",
    # information_schema as tools query it (JDBC DatabaseMetaData, SQLAlchemy, GUIs).
    "SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}'",
    "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_ROWS, CREATE_TIME FROM"
    " information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' ORDER BY TABLE_NAME",
    "SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' ORDER BY"
    " ORDINAL_POSITION",
    "SELECT COLUMN_NAME AS name, DATA_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH,"
    " NUMERIC_PRECISION, NUMERIC_SCALE, COLUMN_DEFAULT FROM information_schema.COLUMNS"
    " WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION",
    "SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = '{db}'",
    "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA"
    " WHERE SCHEMA_NAME = '{db}'",
    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}'",
    "SELECT * FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db}'",
]

#: Local SELECTs also compared over the binary protocol (COM_STMT_PREPARE/EXECUTE).
PREPARED = [s for s in STATEMENTS if s.startswith("SELECT @@") or "DATABASE()" in s]

#: (statement, column) → the fields that differ from MariaDB's, by reason.
EXPECTED: dict[tuple[str, str], tuple[str, ...]] = {}


@dataclass(frozen=True)
class Definition:
    name: str
    type: int
    length: int
    decimals: int
    flags: int
    charset: int


FIELDS = ("name", "type", "length", "decimals", "flags", "charset")


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serve_mariadb(PREFIX, tmp_path_factory.mktemp("localcols"), shards=4) as p:
        direct(f"CREATE DATABASE {REF}")
        direct(TABLE, REF)
        conn = pymysql.connect(host="127.0.0.1", port=p, user="root", password="", database=DB)
        with conn, conn.cursor() as cur:
            cur.execute(TABLE)
        yield p


def _normal(name: str, db: str) -> str:
    return name.replace(db, "DB")


def _text(host: str, port: int, db: str, sql: str) -> list[Definition]:
    conn = pymysql.connect(host=host, port=port, user="root", password="", database=db)
    with conn, conn.cursor() as cur:
        cur.execute(sql.format(db=db))
        cur.fetchall()
        return [
            Definition(
                _normal(f.name, db),
                f.type_code,
                f.length,
                f.scale,
                f.flags & COMPARED_FLAGS,
                f.charsetnr,
            )
            for f in cur._result.fields
        ]


def _binary(port: int, db: str, sql: str) -> list[Definition]:
    client = connect(port, db)
    try:
        _, sent, _ = execute(client, sql.format(db=db), ())
    finally:
        client.close()
    return [
        Definition(
            _normal(c.name, db), c.type, c.length, c.decimals, c.flags & COMPARED_FLAGS, c.charset
        )
        for c in sent
    ]


def _version_length(port: int) -> tuple[int, int]:
    """(MariaDB's, the coordinator's) length of ``@@version``: a VARCHAR as long as the
    value on both, and the coordinator has its own version string."""
    lengths = []
    for p, db in ((MYSQL_PORT, REF), (port, DB)):
        conn = pymysql.connect(host="127.0.0.1", port=p, user="root", password="", database=db)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT @@version")
            (value,) = cur.fetchone()
            lengths.append(4 * len(value))
    return lengths[0], lengths[1]


def _compare(port: int, protocol: str) -> dict[tuple[str, str], tuple[str, ...]]:
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    statements = STATEMENTS if protocol == "text" else PREPARED
    for sql in statements:
        if protocol == "text":
            want = _text(MYSQL_HOST, MYSQL_PORT, REF, sql)
            got = _text("127.0.0.1", port, DB, sql)
        else:
            want = _binary(MYSQL_PORT, REF, sql)
            got = _binary(port, DB, sql)
        if "PROCESSLIST" in sql:
            # The coordinator's PROCESSLIST adds its own columns after MariaDB's
            # Id .. Info (Time_ms, Query_id, Bucket, shard progress).
            want, got = want[:8], got[:8]
        assert len(got) == len(want), f"{sql}: {len(got)} columns, MariaDB {len(want)}"
        for w, g in zip(want, got, strict=True):
            diff = tuple(f for f in FIELDS if getattr(w, f) != getattr(g, f))
            if diff:
                found[(sql, w.name)] = diff
                print(f"{protocol}: {sql}\n  MariaDB   {w}\n  shardgate {g}")
    return found


@pytest.mark.parametrize("protocol", ["text", "binary"])
def test_local_answers_have_mariadbs_column_definitions(port: int, protocol: str) -> None:
    found = _compare(port, protocol)
    want_len, got_len = _version_length(port)
    # @@version is as long as each server's own version string.
    version = {k: v for k, v in found.items() if k[1] == "VERSION()" and v == ("length",)}
    assert want_len != got_len or not version
    unexpected = {k: v for k, v in found.items() if EXPECTED.get(k) != v and k not in version}
    assert not unexpected, f"differences not listed in EXPECTED: {unexpected}"
    gone = {k: v for k, v in EXPECTED.items() if k not in found}
    assert not gone, f"listed differences that no longer occur (update EXPECTED): {gone}"
    count = len(STATEMENTS if protocol == "text" else PREPARED)
    print(f"{protocol}: {count} local answers with MariaDB's column definitions")
