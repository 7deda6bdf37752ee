"""Result column definitions through the coordinator equal MariaDB's (issue 14 item 6,
issue 13 item 2): no type is guessed from the values any more.

The fidelity harness's data (:mod:`tests.fidelity.harness`) is served over 16 MariaDB
shards and held unsharded in the oracle database. Each statement of the corpus runs on
both, and every result column's definition is compared — type code, display length,
decimals, the NOT_NULL / UNSIGNED / BINARY flags and the character set (and the name):

* over the text protocol (COM_QUERY, PyMySQL's view of the column definition packets)
  and the binary protocol (COM_STMT_EXECUTE of a server-side prepared statement, read
  from the raw packets);
* routed to one shard (the statement runs there as written: the shard's own
  definitions are sent) and scattered over all 16 (rows merged, aggregates merged by
  the coordinator: table columns from the catalog, expressions the shards computed
  from their metadata, what the coordinator computes by MariaDB's rules).

Where the coordinator cannot send what MariaDB sends, the difference is listed in
:data:`EXPECTED` with the reason, and the test checks that exactly these differ —
a listed difference that disappears fails too, so the list stays true.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.fidelity.harness import Environment
from tests.server.conftest import JAR, JAVA, JAVA_MISSING, JAVA_READY, JAVAC
from tests.server.stmtclient import connect, execute

pytestmark = pytest.mark.mysql

NOT_NULL, UNSIGNED, BINARY = 1, 32, 128
COMPARED_FLAGS = NOT_NULL | UNSIGNED | BINARY

#: Select items over ``orders`` (id BIGINT PK, customer_id INT NOT NULL, amount
#: DECIMAL(10,2), qty INT, status VARCHAR(16), size ENUM, created DATETIME, note
#: VARCHAR(64)): table columns and expressions the shards compute.
ITEMS = [
    "id",
    "customer_id",
    "amount",
    "qty",
    "status",
    "size",
    "created",
    "note",
    "id AS renamed",
    "id + 1",
    "qty * 2",
    "amount * 2",
    "amount / 3",
    "-qty",
    "CONCAT(status, 'x')",
    "UPPER(note)",
    "LENGTH(status)",
    "IF(qty > 1, 'a', 'b')",
    "CASE WHEN qty > 1 THEN 1 ELSE 2 END",
    "COALESCE(note, 'z')",
    "IFNULL(qty, 0)",
    "CAST(id AS CHAR)",
    "CAST(status AS SIGNED)",
    "CAST(amount AS DECIMAL(8,3))",
    "ABS(qty)",
    "ROUND(amount, 1)",
    "DATE(created)",
    "YEAR(created)",
    "created + INTERVAL 1 DAY",
    "size + 0",
    "'lit'",
    "5",
    "1.5",
    "NULL",
    "qty IS NULL",
    "id > 3",
]

#: Aggregates, merged by the coordinator when the statement is scattered.
AGGREGATES = [
    "COUNT(*)",
    "COUNT(note)",
    "SUM(qty)",
    "SUM(amount)",
    "AVG(qty)",
    "AVG(amount)",
    "MIN(status)",
    "MAX(created)",
    "MIN(size)",
    "MAX(id)",
    "COUNT(DISTINCT status)",
    "SUM(qty) * 2",
    "MAX(id) + 1",
    "SUM(amount * 2)",
    "MAX(DATE(created))",
]

COLOCATED = (
    "SELECT o.id, i.line, i.price, i.price * o.qty FROM orders o JOIN order_items i"
    " ON i.order_id = o.id WHERE o.id < 20 ORDER BY o.id, i.line"
)
#: Other shapes: joins, broadcast tables, derived tables and CTEs (one shard).
OTHER = [
    (
        "join",
        "SELECT o.id, c.name, o.amount FROM orders o JOIN customers c ON c.id = o.customer_id"
        " WHERE o.id < 20 ORDER BY o.id",
    ),
    (
        "join",
        "SELECT o.id, o.qty + c.tier FROM orders o JOIN customers c ON c.id = o.customer_id"
        " WHERE o.id < 20 ORDER BY o.id",
    ),
    (
        "join",
        "SELECT o.amount * c.tier, o.id - c.id, -o.qty, o.amount / c.tier, o.qty * 3,"
        " o.amount + 1.5 FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id < 20"
        " ORDER BY o.id",
    ),
    ("colocated", COLOCATED),
    ("broadcast", "SELECT code, name, weight, weight * 2 FROM regions ORDER BY code"),
    (
        "derived",
        "SELECT x, y FROM (SELECT id * 2 AS x, CONCAT(status, '!') AS y FROM orders"
        " WHERE id = 7) d",
    ),
    ("cte", "WITH c AS (SELECT id, amount * 2 AS a FROM orders WHERE id = 7) SELECT id, a FROM c"),
]


def corpus() -> list[tuple[str, str]]:
    """(form, statement) pairs."""
    out: list[tuple[str, str]] = []
    for item in ITEMS:
        out.append(("single", f"SELECT {item} FROM orders WHERE id = 7"))
        out.append(("scatter", f"SELECT {item} FROM orders WHERE id < 40 ORDER BY id"))
    for agg in AGGREGATES:
        out.append(("aggregate", f"SELECT {agg} FROM orders"))
        out.append(("grouped", f"SELECT customer_id, {agg} FROM orders GROUP BY customer_id"))
        out.append(("single-aggregate", f"SELECT {agg} FROM orders WHERE id = 7"))
    out.append(("grouped", "SELECT DATE(created), COUNT(*) FROM orders GROUP BY DATE(created)"))
    out.append(("single", "SELECT * FROM kinds WHERE id = 1"))
    out.append(("scatter", "SELECT * FROM kinds WHERE id < 40 ORDER BY id"))
    out.append(
        (
            "scatter",
            "SELECT bt + 0, CONCAT(st, '!'), tm + 0, yr + 1 FROM kinds WHERE id < 40 ORDER BY id",
        )
    )
    out.extend(OTHER)
    return out


@dataclass(frozen=True)
class Definition:
    name: str
    type: int
    length: int
    decimals: int
    flags: int
    charset: int


FIELDS = ("type", "length", "decimals", "flags", "charset")


def _definition(
    name: str, type_: int, length: int, decimals: int, flags: int, charset: int
) -> Definition:
    return Definition(name, type_, length, decimals, flags & COMPARED_FLAGS, charset)


def _differences(want: Definition, got: Definition) -> tuple[str, ...]:
    return tuple(f for f in ("name", *FIELDS) if getattr(want, f) != getattr(got, f))


_SCATTER = "SELECT {} FROM orders WHERE id < 40 ORDER BY id"
_GROUPED = "SELECT customer_id, {} FROM orders GROUP BY customer_id"

#: (form, statement, column) → the fields that differ from MariaDB's, by reason.
#: Over several shards of one data source the reads are merged by the data source
#: (issue 17, sharding/exec/source.py) or batched in a UNION ALL; the first shard's own
#: definitions are the ones sent (read alone once per plan and remembered:
#: sharding/exec/shard_columns.py), so expressions keep MariaDB's own (a UNION of the
#: shards would type them anew).
EXPECTED: dict[tuple[str, str, str], tuple[str, ...]] = {
    # The oracle sorts the joined rows through a temporary table (BINARY dropped); a
    # co-located shard's own statement keeps it.
    ("colocated", COLOCATED, "i.price * o.qty"): ("flags",),
}


#: A table of the column types the harness's tables lack (created on both sides,
#: sharded by the coordinator's default rule), zero dates included (what a driver
#: returns as text, and the binary protocol must still send as dates).
KINDS_DDL = (
    "CREATE TABLE kinds (id INT PRIMARY KEY, bt BIT(3), st SET('a','b','c'), tm TIME(3),"
    " ts TIMESTAMP(6) NULL, yr YEAR, flag BOOLEAN, mu MEDIUMINT UNSIGNED, fl FLOAT, bl BLOB,"
    " tx TEXT, bn BINARY(4), js JSON, zd DATE, zdt DATETIME)"
)
KINDS_ROWS = (
    "INSERT INTO kinds VALUES (1, b'101', 'a,c', '12:34:56.789', '2024-01-02 03:04:05.123456',"
    " 2024, 1, 42, 1.5, x'00ff', 'text', x'01020304', '{\"a\": 1}', '0000-00-00',"
    " '0000-00-00 00:00:00'), (2, NULL, '', '-838:59:59', NULL, 1999, 0, 7, -2.25, NULL, NULL,"
    " NULL, NULL, '2024-02-29', '2024-02-29 10:00:00'), (3, b'1', 'b', '00:00:00', NULL, 2000,"
    " NULL, 0, 0, '', '', x'00000000', '[]', '1000-01-01', '9999-12-31 23:59:59')"
)


@pytest.fixture(scope="module")
def env() -> Iterator[Environment]:
    environment = Environment(16, 1000)
    tag = f"sgcoldef_{os.getpid()}"
    environment.oracle_db, environment.logical_db, environment.physical_db = (
        f"{tag}_o",
        f"{tag}_l",
        f"{tag}_p",
    )
    environment.start()
    for conn in (environment.connect_oracle(), environment.connect_sharded()):
        with conn, conn.cursor() as cur:
            cur.execute(KINDS_DDL)
            cur.execute(KINDS_ROWS)
    try:
        yield environment
    finally:
        try:
            with environment.connect_sharded() as conn, conn.cursor() as cur:
                cur.execute("DROP TABLE IF EXISTS kinds")
        finally:
            environment.stop()
            # The logical database and the ones the default rule placed kinds' shards in.
            admin = pymysql.connect(
                host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
            )
            with admin, admin.cursor() as cur:
                cur.execute("SHOW DATABASES LIKE %s", (f"{tag}\\_l%",))
                for (name,) in cur.fetchall():
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _text_definitions(host: str, port: int, database: str, sql: str) -> list[Definition]:
    conn = pymysql.connect(host=host, port=port, user="root", password="", database=database)
    with conn, conn.cursor() as cur:
        cur.execute(sql)
        cur.fetchall()
        return [
            _definition(f.name, f.type_code, f.length, f.scale, f.flags, f.charsetnr)
            for f in cur._result.fields
        ]


def _binary_definitions(
    port: int, database: str, sql: str, params: tuple[int | str, ...]
) -> list[Definition]:
    client = connect(port, database)
    try:
        _, sent, _ = execute(client, sql, params)
    finally:
        client.close()
    return [_definition(c.name, c.type, c.length, c.decimals, c.flags, c.charset) for c in sent]


def _as_prepared(form: str, sql: str) -> tuple[str, tuple[int, ...]]:
    """The statement with its routing constant as a parameter (what an application
    prepares): ``WHERE id = ?`` / ``WHERE id < ?``."""
    for const, param in ((" = 7", " = ?"), (" < 40", " < ?"), (" < 20", " < ?")):
        if const in sql:
            return sql.replace(const, param, 1), (int(const.split()[-1]),)
    return sql, ()


def _compare(env: Environment, protocol: str) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """Every column whose definition differs: (form, statement, column) → fields."""
    found: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for form, sql in corpus():
        if protocol == "text":
            want = _text_definitions(MYSQL_HOST, MYSQL_PORT, env.oracle_db, sql)
            got = _text_definitions("127.0.0.1", env.port, env.logical_db, sql)
            # Again: a batched read now takes the shard's definitions remembered from
            # the first run (sharding.exec.shard_columns), not a shard read alone.
            again = _text_definitions("127.0.0.1", env.port, env.logical_db, sql)
        else:
            text, params = _as_prepared(form, sql)
            want = _binary_definitions(MYSQL_PORT, env.oracle_db, text, params)
            got = _binary_definitions(env.port, env.logical_db, text, params)
            again = _binary_definitions(env.port, env.logical_db, text, params)
        assert again == got, f"{sql}: the definitions changed on a second run"
        assert len(got) == len(want), f"{sql}: {len(got)} columns, MariaDB {len(want)}"
        for w, g in zip(want, got, strict=True):
            diff = _differences(w, g)
            if diff:
                found[(form, sql, w.name)] = diff
                print(f"{protocol} {form}: {sql}\n  MariaDB   {w}\n  shardgate {g}")
    return found


@pytest.mark.parametrize("protocol", ["text", "binary"])
def test_column_definitions_equal_mariadbs(env: Environment, protocol: str) -> None:
    found = _compare(env, protocol)
    statements = corpus()
    print(
        f"{protocol} protocol: {len(statements)} statements over 16 shards, every column's"
        f" definition equal to MariaDB's but {len(found)} listed differences"
    )
    unexpected = {k: v for k, v in found.items() if EXPECTED.get(k) != v}
    assert not unexpected, f"differences not listed in EXPECTED: {unexpected}"
    gone = {k: v for k, v in EXPECTED.items() if k not in found}
    assert not gone, f"listed differences that no longer occur (update EXPECTED): {gone}"


def _session_definitions(
    host: str, port: int, database: str, steps: list[str]
) -> list[list[Definition]]:
    """The result definitions of each SELECT of ``steps``, run in order on one connection
    (the ``SET`` steps change the session)."""
    conn = pymysql.connect(host=host, port=port, user="root", password="", database=database)
    out: list[list[Definition]] = []
    with conn, conn.cursor() as cur:
        for step in steps:
            cur.execute(step)
            if step.startswith("SET"):
                continue
            cur.fetchall()
            out.append(
                [
                    _definition(f.name, f.type_code, f.length, f.scale, f.flags, f.charsetnr)
                    for f in cur._result.fields
                ]
            )
    return out


def test_remembered_definitions_follow_the_sessions_collation(env: Environment) -> None:
    """A scatter read's definitions are remembered per plan (sharding/exec/shard_columns):
    a session that changes ``collation_connection`` changes a literal's (``BINARY`` under
    ``utf8mb4_bin``), and the same statement's next runs must show it, and show it no
    more once changed back — as MariaDB does."""
    sql = "SELECT 'x' AS lit, CONCAT(status, 'y') AS c2, id FROM orders WHERE id < 40 ORDER BY id"
    steps = [
        sql,
        sql,
        "SET collation_connection = utf8mb4_bin",
        sql,
        sql,
        "SET collation_connection = utf8mb4_general_ci",
        sql,
    ]
    want = _session_definitions(MYSQL_HOST, MYSQL_PORT, env.oracle_db, steps)
    got = _session_definitions("127.0.0.1", env.port, env.logical_db, steps)
    assert got == want
    assert want[2][0].flags & BINARY and not want[0][0].flags & BINARY


#: Statements Connector/J runs as server-side prepared statements: (param, statement).
JDBC_STATEMENTS = [
    (7, "SELECT * FROM orders WHERE id = ?"),
    (30, "SELECT * FROM orders WHERE id < ? ORDER BY id"),
    (30, "SELECT * FROM customers WHERE id < ? ORDER BY id"),
    (1, "SELECT * FROM kinds WHERE id = ?"),
    (9, "SELECT * FROM kinds WHERE id < ? ORDER BY id"),
    (7, f"SELECT {', '.join(ITEMS)} FROM orders WHERE id = ?"),
    (30, f"SELECT {', '.join(ITEMS)} FROM orders WHERE id < ? ORDER BY id"),
    (1000, f"SELECT {', '.join(AGGREGATES)} FROM orders WHERE id < ?"),
    (
        1000,
        f"SELECT customer_id, {', '.join(a for a in AGGREGATES if 'DISTINCT' not in a)}"
        " FROM orders WHERE id < ? GROUP BY customer_id ORDER BY customer_id",
    ),
    (20, OTHER[1][1].replace("< 20", "< ?")),
    (20, OTHER[2][1].replace("< 20", "< ?")),
    (20, COLOCATED.replace("< 20", "< ?")),
]


def test_connector_j_get_object_values(env: Environment, tmp_path: Path) -> None:
    """The binary protocol encodes every value by the type announced for its column:
    Connector/J's getObject returns the same class and value for every column of every
    row as from MariaDB itself (Integer for INT, Long for BIGINT, BigDecimal for
    DECIMAL and SUM, String for ENUM, Timestamp, Date, ...)."""
    assert JAVA_READY, JAVA_MISSING
    source = Path(__file__).parent / "java" / "ColumnValues.java"
    subprocess.run(
        [str(JAVAC), "-cp", str(JAR), "-d", str(tmp_path), str(source)], check=True, timeout=120
    )

    def run(port: int, database: str) -> list[str]:
        proc = subprocess.run(
            [str(JAVA), "-cp", f"{JAR}:{tmp_path}", "ColumnValues", str(port), database],
            input="".join(f"{p}\t{sql}\n" for p, sql in JDBC_STATEMENTS),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
        return proc.stdout.splitlines()

    want = run(MYSQL_PORT, env.oracle_db)
    got = run(env.port, env.logical_db)
    assert sum(1 for line in want if line.startswith("END ")) == len(JDBC_STATEMENTS)
    rows = sum(1 for line in want if line.startswith("ROW "))
    assert rows > 100
    for w, g in zip(want, got, strict=True):
        assert g == w
    print(f"Connector/J: {len(JDBC_STATEMENTS)} prepared statements, {rows} rows, same getObject")


@pytest.mark.parametrize("charset", ["latin1", "utf8mb3"])
def test_text_columns_in_the_results_charset(env: Environment, charset: str) -> None:
    """A client reading results in another character set (``SET NAMES latin1``) gets
    text columns announced in it — its collation id, the length counted in it — as
    MariaDB announces them."""
    statements = [
        "SELECT * FROM orders WHERE id = 7",
        "SELECT * FROM orders WHERE id < 40 ORDER BY id",
        "SELECT CONCAT(status, 'x'), UPPER(note) FROM orders WHERE id < 40 ORDER BY id",
        "SELECT status, MIN(note), COUNT(*) FROM orders GROUP BY status ORDER BY status",
    ]

    def definitions(host: str, port: int, database: str, sql: str) -> list[tuple[object, ...]]:
        conn = pymysql.connect(
            host=host, port=port, user="root", password="", database=database, charset=charset
        )
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            cur.fetchall()
            return [(f.name, f.type_code, f.length, f.charsetnr) for f in cur._result.fields]

    for sql in statements:
        want = definitions(MYSQL_HOST, MYSQL_PORT, env.oracle_db, sql)
        got = definitions("127.0.0.1", env.port, env.logical_db, sql)
        assert got == want, sql
    print(f"{charset} results: {len(statements)} statements announced in {charset} as by MariaDB")


#: Statements whose column origins MariaDB decides by their shape (beyond
#: :func:`corpus`): aliases, stars, joins, derived tables and CTEs merged or
#: materialised, set operations, answers the coordinator gives itself.
ORIGIN_STATEMENTS = [
    (
        "single",
        "SELECT A.status AS s, b.id FROM orders AS A JOIN orders AS b ON b.id = A.id WHERE A.id = 7 AND b.id = 7",
    ),
    ("single", "SELECT x.Status, (x.qty) FROM orders x WHERE x.id = 7"),
    (
        "scatter",
        "SELECT o.*, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id < 20 ORDER BY o.id",
    ),
    (
        "derived",
        "SELECT d.s, d.q FROM (SELECT status AS s, qty + 1 AS q FROM orders WHERE id = 7) AS d",
    ),
    ("derived", "SELECT * FROM (SELECT id, status FROM orders WHERE id < 20) d ORDER BY id"),
    ("derived", "SELECT d.status FROM (SELECT status FROM orders GROUP BY status) d ORDER BY 1"),
    ("derived", "SELECT d.id FROM (SELECT id FROM orders ORDER BY id LIMIT 3) d ORDER BY 1"),
    (
        "derived",
        "SELECT s FROM (SELECT status AS s FROM orders UNION SELECT name FROM customers) d ORDER BY 1",
    ),
    ("cte", "WITH w AS (SELECT id, note FROM orders WHERE id = 7) SELECT note, id FROM w"),
    ("union", "SELECT status FROM orders WHERE id < 5 UNION SELECT name FROM customers ORDER BY 1"),
    (
        "union",
        "SELECT id, status FROM orders WHERE id < 5 UNION ALL SELECT id, name FROM customers",
    ),
    ("union", "SELECT id FROM orders WHERE id < 5 UNION ALL SELECT id FROM customers ORDER BY 1"),
    ("union", "SELECT id FROM orders WHERE id < 5 INTERSECT SELECT id FROM customers"),
    ("local", "SELECT 1, 'a' AS b, @@autocommit, DATABASE()"),
    ("window", "SELECT id, qty + 1, 5, ROW_NUMBER() OVER (ORDER BY id) FROM orders WHERE id = 7"),
    ("window", "SELECT id, qty * 2, SUM(qty) OVER () FROM orders WHERE id < 20 ORDER BY id"),
    ("window", "SELECT qty + 1, COUNT(*), ROW_NUMBER() OVER () FROM orders WHERE id = 7"),
]


#: Prepared statements with a parameter as a select item, and their parameters.
PARAMETER_ITEMS: list[tuple[str, tuple[int | str, ...]]] = [
    ("SELECT ? AS x, id FROM orders WHERE id = ?", (5, 7)),
    ("SELECT ? AS x, id FROM orders WHERE id = ?", ("s", 7)),
    ("SELECT ? + 1", (2,)),
    ("SELECT ?, ?", ("a", 1)),
    ("SELECT status, ? FROM orders WHERE id < ? ORDER BY id", ("z", 20)),
]

#: Statements whose origins differ from MariaDB's, with the reason (checked exact).
EXPECTED_ORIGINS = {
    # As in EXPECTED: the oracle sorts the joined rows through a temporary table, whose
    # field names the expression (org_name); a co-located shard's statement does not.
    COLOCATED,
}


def _origins(want_db: str, got_db: str, columns: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """(name, schema, table, org_table, org_name) with the database named the same way
    on both sides (the oracle's and the logical one's names differ)."""
    return [
        (name, "<db>" if schema in (want_db, got_db) else schema, table, org_table, org_name)
        for name, schema, table, org_table, org_name in columns
    ]


def _text_origins(port: int, database: str, sql: str) -> list[tuple[str, ...]]:
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="", database=database)
    with conn, conn.cursor() as cur:
        cur.execute(sql)
        cur.fetchall()
        return [
            (
                f.name,
                f.db.decode() if isinstance(f.db, bytes) else f.db,
                f.table_name,
                f.org_table,
                f.org_name,
            )
            for f in cur._result.fields
        ]


def _binary_origins(
    port: int, database: str, sql: str, params: tuple[int | str, ...]
) -> list[tuple[str, ...]]:
    client = connect(port, database)
    try:
        announced, sent, _ = execute(client, sql, params)
    finally:
        client.close()
    # The prepare's answer (announced) and the execution's; MariaDB's agree for these.
    return [(c.name, *c.origin) for c in sent] + [(c.name, *c.origin) for c in announced]


@pytest.mark.parametrize("protocol", ["text", "binary"])
def test_column_origins_equal_mariadbs(env: Environment, protocol: str) -> None:
    """Every result column names its origin as MariaDB does — ``org_name`` (the column
    under an alias), ``table`` (the alias), ``org_table``, ``db`` (the logical database,
    never a shard's): Connector/J's ``getColumnName()``/``getTableName()`` and
    ``findColumn`` by a column's own name read them. Expressions, aggregates and
    literals name none; a set operation's column only its own name, or nothing after
    a streamed UNION ALL; derived tables as MariaDB merges or materialises them."""
    statements = corpus() + ORIGIN_STATEMENTS
    differences = []
    named = 0
    for form, sql in statements:
        if protocol == "text":
            want = _text_origins(MYSQL_PORT, env.oracle_db, sql)
            got = _text_origins(env.port, env.logical_db, sql)
        else:
            text, params = _as_prepared(form, sql)
            want = _binary_origins(MYSQL_PORT, env.oracle_db, text, params)
            got = _binary_origins(env.port, env.logical_db, text, params)
        want = _origins(env.oracle_db, env.logical_db, want)
        got = _origins(env.oracle_db, env.logical_db, got)
        named += sum(1 for w in want if w[2])
        if want != got:
            differences.append((sql, want, got))
    if protocol == "binary":
        # A parameter as a select item names nothing (its type comes from the value).
        for sql, params in PARAMETER_ITEMS:
            want = _binary_origins(MYSQL_PORT, env.oracle_db, sql, params)
            got = _binary_origins(env.port, env.logical_db, sql, params)
            if _origins(env.oracle_db, env.logical_db, want) != _origins(
                env.oracle_db, env.logical_db, got
            ):
                differences.append((sql, want, got))
    for sql, want, got in differences:
        print(f"{sql}\n  MariaDB   {want}\n  shardgate {got}")
    assert {sql for sql, _, _ in differences} == EXPECTED_ORIGINS
    assert named > 50, "the corpus names tables: the comparison would be empty otherwise"
    print(
        f"{protocol}: {len(statements)} statements, {named} columns naming a table, same origins but the listed ones"
    )


#: Prepared statements whose select items are client parameters, and their values.
BARE_PARAMETERS: list[tuple[str, tuple[int | str, ...]]] = [
    ("SELECT ?", (5,)),
    ("SELECT ?", (-9223372036854775808,)),
    ("SELECT (?) AS q, ?", (0, "text")),
    ("SELECT ? AS x, id FROM orders WHERE id = ?", (7, 7)),
    ("SELECT status, ? FROM orders WHERE id < ? ORDER BY id", (3, 20)),
]


def test_parameter_items_are_typed_by_their_values(env: Environment) -> None:
    """A parameter as a select item is defined by the value bound — BIGINT(21) NOT NULL
    for an integer, as MariaDB — not by the shard's typing of the literal that stood in
    its place (INT(1) for 5: Connector/J's getObject gave an Integer, not a Long)."""
    for sql, params in BARE_PARAMETERS:
        want = _binary_definitions(MYSQL_PORT, env.oracle_db, sql, params)
        got = _binary_definitions(env.port, env.logical_db, sql, params)
        assert got == want, sql
        assert any(d.type == 8 and d.length == 21 for d in want), sql
