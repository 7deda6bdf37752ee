"""Prepared statements announce their result columns as MariaDB does (issue 14, items 2
and 6).

A C API client learns a prepared SELECT's shape from the COM_STMT_PREPARE answer
(``mysql_stmt_field_count``, ``mysql_stmt_result_metadata``); sysbench reads rows only
when columns were announced. Each statement here is prepared through ``shardgate
serve`` (tables sharded over 4 MariaDB shards) and directly on MariaDB holding the same
tables, over the raw protocol (PyMySQL has no server-side prepare), and the announced
column definitions are compared:

* ``exact``: every field — name, type, length, flags, decimals, character set (table
  columns, aggregates, literals);
* ``typed``: name, type, character set, and decimals of numbers (expressions whose
  display length MariaDB derives from details the coordinator does not model).

Execution must then send what prepare announced (same count and types), and a plain
query's result header carries the table columns' own types (no guessing from values).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import JAR, JAVA, JAVA_MISSING, JAVA_READY, JAVAC
from tests.server.rawclient import RawClient
from tests.server.served import direct, serve_mariadb
from tests.server.stmtclient import Announced, PrepareError, connect, execute, prepare

pytestmark = pytest.mark.mysql

PREFIX = f"sgps_md{os.getpid()}_"
REF = f"{PREFIX}ref"
LOGICAL = f"{PREFIX}db"

DDL = [
    "CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k INT UNSIGNED NOT NULL DEFAULT 0,"
    " c CHAR(120) NOT NULL DEFAULT '', pad VARCHAR(60), ti TINYINT, b BOOLEAN, y YEAR,"
    " e ENUM('a','bb'), d DECIMAL(10,2), dbl DOUBLE, f FLOAT, dt DATETIME, dt3 DATETIME(3),"
    " ts TIMESTAMP NULL, da DATE, tm TIME, tx TEXT, bl BLOB, vb VARBINARY(10), bi BIGINT,"
    " si SMALLINT, mi MEDIUMINT, bu BIGINT UNSIGNED, dn DECIMAL(5,0), KEY k_1 (k))",
    "CREATE TABLE u (id INT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL, t_id INT)",
]
ROWS = [
    "INSERT INTO t (id, k, c, pad, ti, b, y, e, d, dbl, f, dt, dt3, ts, da, tm, tx, bl, vb, bi, si,"
    " mi, bu, dn) VALUES (1, 5, 'one', 'p', -3, 1, 2024, 'bb', 12.50, 1.5, 2.5,"
    " '2024-01-02 03:04:05', '2024-01-02 03:04:05.123', '2024-01-02 03:04:05', '2024-01-02',"
    " '10:11:12', 'text', 'blob', 'vb', 9000000000, 7, 8, 18446744073709551615, 99),"
    " (2, 6, 'two', NULL, 4, 0, 1999, 'a', -1.25, -2.5, 0.5, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, -1, -7, -8, 0, -5), (3, 7, 'three', 'q', NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "INSERT INTO u VALUES (1, 'ann', 1), (2, 'bob', 2), (3, 'cy', 1)",
]

#: (statement, comparison level).
STATEMENTS: list[tuple[str, str]] = [
    ("SELECT * FROM t", "exact"),
    ("SELECT * FROM u", "exact"),
    ("SELECT u.* FROM u", "exact"),
    ("SELECT c FROM t WHERE id=?", "exact"),
    ("SELECT id, k, c, pad FROM t WHERE id BETWEEN ? AND ?", "exact"),
    ("SELECT DISTINCT c FROM t WHERE id BETWEEN ? AND ? ORDER BY c", "exact"),
    ("SELECT c FROM t WHERE id BETWEEN ? AND ? ORDER BY c LIMIT 3", "exact"),
    ("SELECT SUM(k) FROM t WHERE id BETWEEN ? AND ?", "exact"),
    ("SELECT id AS x, t.c AS y, `pad` FROM t", "exact"),
    (
        "SELECT COUNT(*), SUM(k), SUM(id), SUM(d), AVG(k), AVG(d), AVG(dbl), MIN(c), MAX(d),"
        " MIN(dt), SUM(dbl), AVG(ti), SUM(ti), SUM(bi), SUM(dn), AVG(bu), SUM(bu),"
        " COUNT(DISTINCT c) FROM t",
        "exact",
    ),
    ("SELECT id, COUNT(*) FROM t GROUP BY id", "exact"),
    ("SELECT COUNT(*) AS n, MAX(name) FROM u GROUP BY t_id HAVING n > ?", "exact"),
    ("SELECT t1.id, t2.c FROM t t1 JOIN t t2 ON t1.id = t2.id", "exact"),
    ("SELECT t.id, u.name FROM t JOIN u ON u.t_id = t.id WHERE t.id = ?", "exact"),
    ("SELECT ?, 1, 1.5, 'abc', NULL, 1e3, -1, 12345678901, 123456789012345678901 FROM t", "exact"),
    ("SELECT c FROM t WHERE id = ? FOR UPDATE", "exact"),
    ("SELECT id, c FROM t WHERE id IN (?, ?) ORDER BY id LIMIT ?", "exact"),
    ("SELECT SQL_CALC_FOUND_ROWS id FROM t LIMIT 1", "exact"),
    (
        "SELECT id+1, k*2, d*2, id/2, CONCAT(c,'x'), UPPER(c), LENGTH(c), NOW(), CURDATE() FROM t",
        "typed",
    ),
    (
        "SELECT IF(id>1,'a','b'), CASE WHEN id>1 THEN 1 ELSE 2 END, COALESCE(pad,'z'),"
        " IFNULL(ti,0), CAST(id AS CHAR), CAST(c AS SIGNED), CAST(d AS DECIMAL(8,3)), ABS(k),"
        " ROUND(d,1), FLOOR(dbl), GROUP_CONCAT(c), MAX(id)+1, SUBSTRING(c,1,3) FROM t",
        "typed",
    ),
    ("SELECT id > ?, id = 1 FROM t", "typed"),
]

#: Statements MariaDB refuses at prepare: the same error code through the coordinator.
ERRORS = ["SELECT * FROM nope", "SELEC 1", "SELECT nope FROM t"]

_NUMERIC = {0, 1, 2, 3, 4, 5, 8, 9, 13, 246}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serve_mariadb(PREFIX, tmp_path_factory.mktemp("prepmeta")) as port:
        direct(f"CREATE DATABASE `{REF}`")
        for database, p in ((REF, MYSQL_PORT), (LOGICAL, port)):
            conn = pymysql.connect(
                host=MYSQL_HOST if p == MYSQL_PORT else "127.0.0.1",
                port=p,
                user="root",
                password="",
                database=database,
                autocommit=True,
            )
            with conn, conn.cursor() as cur:
                for sql in DDL + ROWS:
                    cur.execute(sql)
        yield port


def _key(col: Announced, level: str) -> tuple[object, ...]:
    if level == "exact":
        return (col.name, col.type, col.length, col.flags, col.decimals, col.charset)
    decimals = col.decimals if col.type in _NUMERIC else None
    return (col.name, col.type, col.charset, decimals)


def _clients(port: int) -> tuple[RawClient, RawClient]:
    return connect(MYSQL_PORT, REF), connect(port, LOGICAL)


def test_prepare_announces_mariadbs_columns(served: int) -> None:
    ref, sg = _clients(served)
    checked = 0
    try:
        for sql, level in STATEMENTS:
            want_params, want = prepare(ref, sql)
            got_params, got = prepare(sg, sql)
            assert got_params == want_params, sql
            assert len(got) == len(want), (
                f"{sql}: {len(got)} columns announced, MariaDB {len(want)}"
            )
            for w, g in zip(want, got, strict=True):
                assert _key(g, level) == _key(w, level), f"{sql}\n  MariaDB: {w}\n  shardgate: {g}"
            checked += len(want)
    finally:
        ref.close()
        sg.close()
    print(f"prepared metadata: {len(STATEMENTS)} statements, {checked} columns equal to MariaDB's")


def test_prepare_errors_match_mariadb(served: int) -> None:
    ref, sg = _clients(served)
    try:
        for sql in ERRORS:
            with pytest.raises(PrepareError) as want:
                prepare(ref, sql)
            with pytest.raises(PrepareError) as got:
                prepare(sg, sql)
            assert got.value.code == want.value.code, sql
            # The connection stays usable after a failed prepare.
            assert prepare(sg, "SELECT id FROM u WHERE id = ?")[1][0].name == "id"
    finally:
        ref.close()
        sg.close()
    print(f"prepare errors: {len(ERRORS)} statements refused with MariaDB's codes")


def test_execute_sends_what_prepare_announced(served: int) -> None:
    """The execution's column definitions agree with the announcement (count, names,
    types) and with MariaDB's own execution of the same statement."""
    cases: list[tuple[str, tuple[int, ...]]] = [
        ("SELECT * FROM t WHERE id = ?", (1,)),
        ("SELECT * FROM t ORDER BY id", ()),
        ("SELECT c FROM t WHERE id BETWEEN ? AND ? ORDER BY c", (1, 3)),
        ("SELECT SUM(k), COUNT(*), AVG(d), MIN(dt) FROM t WHERE id BETWEEN ? AND ?", (1, 3)),
        ("SELECT DISTINCT c FROM t WHERE id BETWEEN ? AND ? ORDER BY c", (1, 3)),
        ("SELECT t.id, u.name FROM t JOIN u ON u.t_id = t.id WHERE t.id = ?", (1,)),
    ]
    ref, sg = _clients(served)
    try:
        for sql, params in cases:
            _, want_sent, want_rows = execute(ref, sql, params)
            announced, sent, rows = execute(sg, sql, params)
            assert rows == want_rows, sql
            assert [(c.name, c.type) for c in sent] == [(c.name, c.type) for c in announced], sql
            assert [_key(c, "exact") for c in sent] == [_key(c, "exact") for c in want_sent], sql
    finally:
        ref.close()
        sg.close()
    print(f"execute: {len(cases)} statements sent the announced columns, as MariaDB does")


def test_text_result_types_are_the_tables(served: int) -> None:
    """COM_QUERY results carry the columns' declared types (INT stays INT, CHAR and
    ENUM stay STRING, YEAR stays YEAR), not types guessed from the values."""
    sql = "SELECT * FROM t ORDER BY id"
    want = _description(MYSQL_HOST, MYSQL_PORT, REF, sql)
    got = _description("127.0.0.1", served, LOGICAL, sql)
    assert got == want
    print(f"text protocol: {len(want)} column types of SELECT * equal to MariaDB's")


def _description(host: str, port: int, database: str, sql: str) -> list[tuple[object, ...]]:
    conn = pymysql.connect(host=host, port=port, user="root", password="", database=database)
    with conn, conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
        assert len(rows) == 3
        # name, type code, scale, nullable (PyMySQL's view of the column definitions)
        return [(d[0], d[1], d[5], d[6]) for d in cur.description]


#: Statements Connector/J prepares on the server (``useServerPrepStmts=true``).
JDBC_STATEMENTS = [
    "SELECT * FROM t WHERE id = ?",
    "SELECT id, k, ti, b, y, c, e, d, dt FROM t ORDER BY id",
    "SELECT COUNT(*), SUM(k), AVG(d), MIN(c), MAX(dt) FROM t WHERE id BETWEEN ? AND 3",
    "SELECT t.id, u.name FROM t JOIN u ON u.t_id = t.id WHERE t.id = ?",
    "SELECT DISTINCT c FROM t WHERE id BETWEEN ? AND 3 ORDER BY c",
]


def test_connector_j_metadata_and_get_object(served: int, tmp_path: Path) -> None:
    """Connector/J's view: ResultSetMetaData of a prepared statement before it runs,
    and the class ``getObject`` returns per column (Integer for INT, Boolean for
    BOOLEAN, Date for YEAR, BigDecimal for SUM...) — all equal to MariaDB's."""
    assert JAVA_READY, JAVA_MISSING
    source = Path(__file__).parent / "java" / "PreparedTypes.java"
    subprocess.run(
        [str(JAVAC), "-cp", str(JAR), "-d", str(tmp_path), str(source)], check=True, timeout=120
    )

    def run(port: int, database: str) -> list[str]:
        proc = subprocess.run(
            [str(JAVA), "-cp", f"{JAR}:{tmp_path}", "PreparedTypes", str(port), database],
            input="\n".join(JDBC_STATEMENTS) + "\n",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
        return proc.stdout.splitlines()

    want = run(MYSQL_PORT, REF)
    got = run(served, LOGICAL)
    assert len(want) == 2 * len(JDBC_STATEMENTS)
    for w, g in zip(want, got, strict=True):
        assert g == w
    print(
        f"Connector/J: {len(JDBC_STATEMENTS)} prepared statements, metadata and getObject classes equal"
    )
