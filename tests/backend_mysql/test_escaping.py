"""Hostile values through the coordinator under every server sql_mode (issue 12, item 2).

With ``NO_BACKSLASH_ESCAPES`` set on the server, values that the coordinator used to
re-render with backslash escapes ended their string early: rows went to other shards,
stacked statements ran, values were stored corrupted. Now the backend pins its
session's sql_mode and character set at connect, renders every literal in a form no
mode reads differently, and sends one statement per COM_QUERY.

The corpus (quotes, backslashes, ``\\'``, NUL, ``\\x1a``, CR/LF, 4-byte UTF-8, format
and placeholder look-alikes, comments, ``;``, injection attempts, invalid UTF-8 bytes)
goes into a 4-shard table on a private MariaDB whose *global* sql_mode is, in turn, the
default, ``+NO_BACKSLASH_ESCAPES``, and ``ANSI,NO_BACKSLASH_ESCAPES``, through the
embedded Coordinator API: as statement text (the client escapes in MySQL's default
way, as the coordinator tells clients it reads) and as ``?`` parameters, one row per
statement and many rows per statement (split by shard and batched). Checked against
MariaDB itself: the same statements on an unsharded table of the same server give the
same stored bytes; each row is on its own shard only; the server ran no UPDATE/DELETE/
DDL; keyset-chunked ordered reads (2 rows per chunk) with these values as the sort key
return every row exactly once, in MariaDB's order.
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pymysql
import pytest
import trio
from pymysql.converters import escape_string

from sharding import Coordinator, Topology
from sharding.backend.mysql import BACKEND_SQL_MODE, MySQLDataSource, backend_sql_mode
from sharding.errors import BackendError, ShardgateError
from sharding.sql.literals import mysql_literal
from tests.backend_mysql.conftest import make_ds
from tests.mysqld import PrivateMariaDB

# Autouse: one log event per statement would flood the captured output.
from tests.sharding.conftest import _quiet_statement_logs  # noqa: F401

pytestmark = pytest.mark.mysql

SHARDS = 4
DEFAULT_MODE = (
    "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"
)
MODES = {
    "default": DEFAULT_MODE,
    "nbe": DEFAULT_MODE + ",NO_BACKSLASH_ESCAPES",
    "ansi_nbe": "ANSI,NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES",
}

TEXT = [
    "plain",
    "",
    " ",
    "a ",
    "'",
    "''",
    "\\",
    "\\\\",
    "\\'",
    "'\\",
    "a\\'b",
    "\\\\'",
    "it's",
    '"',
    '\\"',
    "`",
    "\x00",
    "a\x00b",
    "\x1a",
    "\r\n",
    "\n",
    "\r",
    "\t",
    "\b",
    "\x7f",
    "\U0001f600",
    "a\U0001f600b",
    "é",
    "ß",
    "Straße",
    "中文",
    "\u2028",
    "\ufeff",
    "\ufffd",
    "{shard}",
    "{0}",
    "{}",
    "?",
    "??",
    "%s",
    "%",
    "%%",
    "_",
    "\\%",
    "\\_",
    "-- x",
    "--",
    "#x",
    "/* c */",
    "/*",
    "*/",
    "/*!50000 x*/",
    ";",
    "a;b",
    "\\0",
    "\\Z",
    "\\n",
    "\\b",
    "${x}",
    "x' OR '1'='1",
    "'); DROP TABLE e; -- ",
    "\\'); DELETE FROM e; -- ",
    "\\', 1); UPDATE e SET s = 'pwned'; -- ",
    "x\\', 0x41), (99999, \\'injected\\', 0x42) -- ",
    "\\'), (99998, 'other shard', X'00') #",
    "a" * 250,
    ("\\'" * 40) + "'",
]
#: Bytes for the BLOB column: not valid UTF-8, or quote/backslash/NUL bytes.
BLOBS = [
    b"\xff",
    b"\xfe\xff",
    b"\x80",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x00'\\",
    b"\\'",
    b"",
    b"\x00" * 5,
    bytes(range(256)),
]
#: Literal *texts* a client may write (MySQL's default mode reads them).
RAW_LITERALS = [
    r"'it''s'",
    r"'a\'b'",
    r"'\\'",
    r"'\0'",
    r"'\Z'",
    r"'\%'",
    r"'\_'",
    r"'\x'",
    '"dq\'s"',
    '"a""b"',
    r"'\"'",
    r"'tab\there'",
    "_utf8mb4'x\\'y'",
    "X'41'",
    "_binary'b\\0'",
    "'x' 'y'",
]


def _connect(url: str, **kw: Any) -> Any:
    """A reference client whose session reads text as the coordinator's session does
    (MySQL's default way), whatever the server's global sql_mode."""
    from sharding.backend.url import parse_mysql_url

    u = parse_mysql_url(url)
    return pymysql.connect(
        host=u.host,
        port=u.port,
        user=u.user,
        password=u.password,
        charset="utf8mb4",
        autocommit=True,
        init_command=f"SET SESSION sql_mode = '{BACKEND_SQL_MODE}'",
        **kw,
    )


@pytest.fixture(params=list(MODES), ids=list(MODES))
def server_mode(request: pytest.FixtureRequest, private: PrivateMariaDB) -> Iterator[str]:
    """The private server with a global sql_mode (restored afterwards)."""
    with _connect(private.url) as c, c.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.sql_mode")
        saved = str(cur.fetchone()[0])
        cur.execute(f"SET GLOBAL sql_mode = '{MODES[request.param]}'")
    try:
        yield request.param
    finally:
        with _connect(private.url) as c, c.cursor() as cur:
            cur.execute("SET GLOBAL sql_mode = %s", (saved,))


def _com_counters(url: str) -> dict[str, int]:
    with _connect(url) as c, c.cursor() as cur:
        cur.execute(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_update', 'Com_delete', "
            "'Com_drop_table', 'Com_drop_db', 'Com_alter_table', 'Com_truncate', "
            "'Com_update_multi', 'Com_delete_multi', 'Com_select', 'Com_insert')"
        )
        return {name: int(v) for name, v in cur.fetchall()}


def _text_rows() -> list[tuple[int, str]]:
    """(id, INSERT values text) of rows written as statement text."""
    rows = []
    for i, s in enumerate(TEXT):
        # The client's own escaping: MySQL's default way (backslash escapes), which is
        # what the coordinator says it reads (it never reports NO_BACKSLASH_ESCAPES).
        rows.append((1 + i, f"{1 + i}, '{escape_string(s)}', X'{s.encode().hex()}'"))
    for i, lit in enumerate(RAW_LITERALS):
        rows.append((1001 + i, f"{1001 + i}, {lit}, {lit}"))
    return rows


def _param_rows() -> list[tuple[int, str, bytes]]:
    rows = [(2001 + i, s, s.encode()) for i, s in enumerate(TEXT)]
    rows += [(3001 + i, s, s.encode()) for i, s in enumerate(TEXT)]
    rows += [(4001 + i, f"blob{i}", b) for i, b in enumerate(BLOBS)]
    return rows


#: The DEFAULT is re-rendered by sqlglot (backslash escapes): read right only because
#: the backend session never has NO_BACKSLASH_ESCAPES.
DDL = (
    "CREATE TABLE e (id INT PRIMARY KEY, s VARCHAR(300), b BLOB, "
    "d VARCHAR(40) DEFAULT 'q''s \\\\ \\' \\0 -- ; x')"
)


async def _load_sharded(coord: Coordinator) -> None:
    text_rows = _text_rows()
    for _, values in text_rows[:10]:  # one row per statement
        await coord.execute(f"INSERT INTO e (id, s, b) VALUES ({values})")
    # the rest as multi-row statements spanning the shards (split, then batched)
    rest = text_rows[10:]
    for start in range(0, len(rest), 16):
        chunk = rest[start : start + 16]
        await coord.execute(
            "INSERT INTO e (id, s, b) VALUES " + ", ".join(f"({v})" for _, v in chunk)
        )
    params = _param_rows()
    singles = [r for r in params if r[0] < 3000 or r[0] > 4000]
    for row in singles:
        await coord.execute("INSERT INTO e (id, s, b) VALUES (?, ?, ?)", list(row))
    multi = [r for r in params if 3000 < r[0] < 4000]
    for start in range(0, len(multi), 12):
        batch = multi[start : start + 12]
        await coord.execute(
            "INSERT INTO e (id, s, b) VALUES " + ", ".join(["(?, ?, ?)"] * len(batch)),
            [v for row in batch for v in row],
        )


def _load_reference(url: str, db: str) -> None:
    """The same statements on one unsharded table of the same server, in a session
    with the coordinator's (client-visible) sql_mode."""
    with _connect(url) as c, c.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        cur.execute(f"USE `{db}`")
        cur.execute(DDL)
        for _, values in _text_rows():
            cur.execute(f"INSERT INTO e (id, s, b) VALUES ({values})")
        for row in _param_rows():
            cur.execute("INSERT INTO e (id, s, b) VALUES (%s, %s, %s)", row)


def _shard_contents(url: str, db: str) -> dict[int, list[tuple[int, str, str, str]]]:
    out: dict[int, list[tuple[int, str, str, str]]] = {}
    with _connect(url) as c, c.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE %s", (db.replace("_", "\\_") + "\\_%",))
        names = [r[0] for r in cur.fetchall()]
        assert len(names) == SHARDS, names
        for name in names:
            shard = int(name.rsplit("_", 1)[1])
            cur.execute(f"SELECT id, HEX(s), HEX(b), HEX(d) FROM `{name}`.e ORDER BY id")
            out[shard] = list(cur.fetchall())
    return out


def _has_catalog(url: str) -> bool:
    with _connect(url) as c, c.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
        return cur.fetchone() is not None


def _cleanup(url: str, db: str, *, drop_catalog: bool = False) -> None:
    """Drop this test's databases and catalog rows; the catalog database itself too if
    the test created it (the private server is shared by the session's modules, and
    some check that no catalog lives there)."""
    with _connect(url) as c, c.cursor() as cur:
        if drop_catalog:
            cur.execute("DROP DATABASE IF EXISTS shardgate_catalog")
        cur.execute("SHOW DATABASES LIKE %s", (db.replace("_", "\\_") + "%",))
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
        if cur.fetchone():
            for table, col in (("databases", "name"), ("tables", "db"), ("autoinc", "db")):
                try:
                    cur.execute(f"DELETE FROM shardgate_catalog.`{table}` WHERE {col} = %s", (db,))
                except pymysql.MySQLError:
                    pass


def _topology(db: str, url: str) -> Topology:
    return Topology.from_dict(
        {
            "cluster": {"database": db, "chunk_rows": 2},
            "datasources": [{"name": "p", "kind": "mysql", "url": url}],
            "tables": [
                {
                    "name": f"{db}.e",
                    "shard_key": "id",
                    "algorithm": "mod",
                    "shards": SHARDS,
                    "datasources": ["p"],
                }
            ],
        }
    )


async def test_corpus_under_server_sql_mode(server_mode: str, private: PrivateMariaDB) -> None:
    db = f"sgesc_{server_mode}_{os.getpid()}"
    ref = f"{db}ref"
    url = private.url
    await trio.to_thread.run_sync(_cleanup, url, db)
    had_catalog = await trio.to_thread.run_sync(_has_catalog, url)
    try:
        async with Coordinator(_topology(db, url), catalog_refresh=None, xa_recovery=None) as coord:
            await coord.execute(DDL)
            before = await trio.to_thread.run_sync(_com_counters, url)
            await _load_sharded(coord)
            after = await trio.to_thread.run_sync(_com_counters, url)
            # Nothing but INSERTs (and the catalog's SELECTs) ran: no stacked statement.
            for name in (
                "Com_update",
                "Com_delete",
                "Com_drop_table",
                "Com_drop_db",
                "Com_alter_table",
                "Com_truncate",
                "Com_update_multi",
                "Com_delete_multi",
            ):
                assert after[name] == before[name], (name, before, after)
            await trio.to_thread.run_sync(_load_reference, url, ref)

            shards = await trio.to_thread.run_sync(_shard_contents, url, db)
            with _connect(url) as c, c.cursor() as cur:
                cur.execute(f"SELECT id, HEX(s), HEX(b), HEX(d) FROM `{ref}`.e ORDER BY id")
                reference = list(cur.fetchall())
            # Each row on its own shard only, and nothing else anywhere.
            for shard, rows in shards.items():
                assert all(r[0] % SHARDS == shard for r in rows), (shard, [r[0] for r in rows])
            stored = sorted(r for rows in shards.values() for r in rows)
            assert [r[0] for r in stored] == [r[0] for r in reference]
            # The bytes MariaDB itself stores for the same statements.
            diff = [(got, want) for got, want in zip(stored, reference, strict=True) if got != want]
            assert not diff, diff[:5]
            # Parameters are stored as given (the reference could share a mistake).
            expected = {i: (s.encode().hex().upper(), b.hex().upper()) for i, s, b in _param_rows()}
            assert {r[0]: (r[1], r[2]) for r in stored if r[0] in expected} == expected
            assert {r[3] for r in stored} == {b"q's \\ ' \x00 -- ; x".hex().upper()}

            # Point reads with the values as literals in the statement text, planned
            # from the normalised text and (a type length that cannot be a placeholder)
            # from the original text, whose literals sqlglot re-renders.
            with _connect(url, database=ref) as c, c.cursor() as cur:
                for s_value in TEXT:
                    for query in (
                        "SELECT id FROM e WHERE s = '{v}' ORDER BY id",
                        "SELECT id FROM e WHERE CAST(s AS CHAR(300)) = '{v}' ORDER BY id",
                    ):
                        sql = query.format(v=escape_string(s_value))
                        cur.execute(sql)
                        want_ids = [r[0] for r in cur.fetchall()]
                        got_ids = [r[0] for r in (await coord.execute(sql)).rows]
                        assert got_ids == want_ids and want_ids, (sql, got_ids, want_ids)

            # Reads through the coordinator give MariaDB's values back.
            res = await coord.execute("SELECT id, s, b FROM e ORDER BY id")
            with _connect(url, database=ref) as c, c.cursor() as cur:
                cur.execute("SELECT id, s, b FROM e ORDER BY id")
                assert [tuple(r) for r in res.rows] == list(cur.fetchall())

            # Keyset-chunked ordered reads (2 rows a chunk) keyed on these values.
            for order in ("s, id", "s DESC, id DESC", "b, id", "b DESC, id", "s, b, id DESC"):
                selects = (await trio.to_thread.run_sync(_com_counters, url))["Com_select"]
                got = [
                    r[0] for r in (await coord.execute(f"SELECT id FROM e ORDER BY {order}")).rows
                ]
                chunks = (await trio.to_thread.run_sync(_com_counters, url))["Com_select"] - selects
                with _connect(url, database=ref) as c, c.cursor() as cur:
                    cur.execute(f"SELECT id FROM e ORDER BY {order}")
                    want = [r[0] for r in cur.fetchall()]
                assert len(got) == len(set(got)) == len(want), order
                assert got == want, order
                # 16 rows a chunk (the minimum): ~57 rows a shard need continuations,
                # batched several shards to a statement
                assert chunks >= 3, (order, chunks)
    finally:
        await trio.to_thread.run_sync(
            functools.partial(_cleanup, url, db, drop_catalog=not had_catalog)
        )


async def test_backend_session_is_pinned(server_mode: str, private: PrivateMariaDB) -> None:
    ds = make_ds("pin", private.url)
    await ds.open()
    try:
        rs = await ds.fetch(
            "SELECT @@SESSION.sql_mode, @@collation_connection, @@character_set_client, "
            "@@character_set_results"
        )
        assert rs.rows == [(BACKEND_SQL_MODE, "utf8mb4_general_ci", "utf8mb4", "utf8mb4")]
        # A literal the coordinator renders reads back as itself in this session.
        for value in TEXT:
            assert (await ds.fetch(f"SELECT {mysql_literal(value)}")).rows == [(value,)]
    finally:
        await ds.aclose()


def test_literal_forms() -> None:
    assert mysql_literal("plain; -- ?") == "'plain; -- ?'"
    assert mysql_literal("") == "_utf8mb4 X''"  # '' is NULL under EMPTY_STRING_IS_NULL
    assert mysql_literal("a'b") == "_utf8mb4 X'612762'"
    assert mysql_literal(b"\xff") == "_binary X'ff'"
    # undecodable client bytes carried as surrogate escapes are those bytes
    assert mysql_literal(b"a\xffb".decode("utf-8", "surrogateescape")) == "_binary X'61ff62'"
    with pytest.raises(ShardgateError) as info:
        mysql_literal("\ud800")
    assert info.value.code == 1300
    assert mysql_literal(datetime.timedelta(hours=-1, seconds=1)) == "'-00:59:59'"
    assert mysql_literal(Decimal("-1.50")) == "(-1.50)"


def test_backend_sql_mode_drops_parse_changing_flags() -> None:
    assert backend_sql_mode("ansi,no_backslash_escapes,STRICT_ALL_TABLES") == "STRICT_ALL_TABLES"
    assert backend_sql_mode("ORACLE,PIPES_AS_CONCAT,ANSI_QUOTES,NO_ZERO_DATE") == "NO_ZERO_DATE"
    assert backend_sql_mode(BACKEND_SQL_MODE) == BACKEND_SQL_MODE


async def test_one_statement_per_query_except_batches(mysql_url: str) -> None:
    """No multi-statements on backend connections; execute_many switches them on for
    its batch only, including when the batch fails part-way."""
    ds: MySQLDataSource = make_ds("multi", mysql_url, max_connections=1)
    db = f"sgesc_multi_{os.getpid()}"
    await ds.open()
    try:
        await ds.execute(f"DROP DATABASE IF EXISTS {db}")
        await ds.ensure_database(db)
        await ds.execute(f"CREATE TABLE {db}.m (id INT PRIMARY KEY)")
        async with ds.connection() as conn:
            with pytest.raises(BackendError) as info:
                await conn.fetch("SELECT 1; SELECT 2")
            assert info.value.code == 1064
            results = await conn.execute_many(
                [f"INSERT INTO {db}.m VALUES ({i})" for i in range(5)]
            )
            assert [r.affected for r in results] == [1] * 5
            with pytest.raises(BackendError) as info:
                await conn.execute(
                    f"INSERT INTO {db}.m VALUES (10); INSERT INTO {db}.m VALUES (11)"
                )
            assert info.value.code == 1064
            with pytest.raises(BackendError) as info:  # fails at the third statement
                await conn.execute_many(
                    [f"INSERT INTO {db}.m VALUES ({i})" for i in (20, 21, 1, 22)]
                )
            assert info.value.code == 1062
            with pytest.raises(BackendError) as info:
                await conn.fetch("SELECT 1; SELECT 2")
            assert info.value.code == 1064
            rows = (await conn.fetch(f"SELECT id FROM {db}.m ORDER BY id")).rows
            assert rows == [(0,), (1,), (2,), (3,), (4,), (20,), (21,)]
        assert ds.pool.size == 1 and ds.statistics().errors == 4  # kept, never replaced
    finally:
        await ds.execute(f"DROP DATABASE IF EXISTS {db}")
        await ds.aclose()


COLLATION_COLUMNS = {
    "l1": "VARCHAR(20) CHARACTER SET latin1",
    "gen": "VARCHAR(20) COLLATE utf8mb4_general_ci",
    "bin": "VARCHAR(20) COLLATE utf8mb4_bin",
    "uni": "VARCHAR(20) COLLATE utf8mb4_unicode_ci",
    "u3": "VARCHAR(20) CHARACTER SET utf8mb3",
    "vb": "VARBINARY(20)",
    "num": "INT",
    "dt": "DATETIME",
}


async def test_hex_literal_compares_like_a_quoted_one(mysql_url: str) -> None:
    """``_utf8mb4 X'..'`` behaves as the quoted literal it replaces: same rows, warnings
    and errors for equality, ordering, LIKE and collation derivation against columns of
    several character sets and collations (a pinned backend session)."""
    ds = make_ds("coll", mysql_url, max_connections=1)
    db = f"sgesc_coll_{os.getpid()}"
    values = ["a", "A", "a ", "ä", "Ä", "ss", "ß", "é", "\U0001f600", "x'y", "b\\c", "10", "9"]
    probes = [*values, "", "5", "2020-01-01", "ǅ", "\U0001f601", "a\x00"]
    await ds.open()
    try:
        await ds.execute(f"DROP DATABASE IF EXISTS {db}")
        await ds.ensure_database(db)
        cols = ", ".join(f"{k} {v}" for k, v in COLLATION_COLUMNS.items())
        await ds.execute(f"CREATE TABLE {db}.c (id INT PRIMARY KEY, {cols})")
        for i, v in enumerate(values):
            latin = v if all(ord(ch) < 256 for ch in v) else "q"
            row = [
                i,
                latin,
                v,
                v,
                v,
                v if len(v.encode()) < 4 else "q",
                v.encode(),
                i,
                "2020-01-01",
            ]
            await ds.execute(
                f"INSERT IGNORE INTO {db}.c VALUES ({', '.join(mysql_literal(x) for x in row)})"
            )

        async def outcome(sql: str) -> Any:
            try:
                async with ds.connection() as conn:
                    rows = (await conn.fetch(sql)).rows
                    warnings = (await conn.fetch("SHOW WARNINGS")).rows
                    return rows, warnings
            except BackendError as exc:
                return exc.code

        def quoted(v: str) -> str:  # the backslash-escaped form (the session allows it)
            return "'" + str(escape_string(v)) + "'"

        compared = 0
        for col in COLLATION_COLUMNS:
            for v in probes:
                # the form mysql_literal uses for any text that is not plain ASCII
                hexed = "_utf8mb4 X'" + v.encode().hex() + "'"
                assert mysql_literal(v) in (hexed, quoted(v))
                for template in (
                    "SELECT GROUP_CONCAT(id ORDER BY id) FROM {db}.c WHERE {col} = {lit}",
                    "SELECT GROUP_CONCAT(id ORDER BY id) FROM {db}.c WHERE {col} < {lit}",
                    "SELECT GROUP_CONCAT(id ORDER BY id) FROM {db}.c WHERE {col} LIKE {lit}",
                    "SELECT id, COLLATION(CONCAT({col}, {lit})), COERCIBILITY(CONCAT({col}, {lit})) "
                    "FROM {db}.c ORDER BY GREATEST({col}, {lit}), id",
                ):
                    plain = await outcome(template.format(db=db, col=col, lit=quoted(v)))
                    hexy = await outcome(template.format(db=db, col=col, lit=hexed))
                    assert plain == hexy, (template, col, v)
                    compared += 1
        assert compared == len(COLLATION_COLUMNS) * len(probes) * 4
    finally:
        await ds.execute(f"DROP DATABASE IF EXISTS {db}")
        await ds.aclose()


#: Session modes that change how text is read (the literal must not care).
READING_MODES = [
    "NO_BACKSLASH_ESCAPES",
    "ANSI,NO_BACKSLASH_ESCAPES",
    "ORACLE",
    "MSSQL",
    "POSTGRESQL",
    "MAXDB",
    "PIPES_AS_CONCAT,HIGH_NOT_PRECEDENCE,IGNORE_SPACE",
    "REAL_AS_FLOAT,NO_UNSIGNED_SUBTRACTION",
    "EMPTY_STRING_IS_NULL",
]


def test_literals_read_the_same_under_every_sql_mode(mysql_url: str) -> None:
    """Each rendered literal (text, bytes, numbers, dates, times) gives the same value,
    NULL-ness and bytes in sessions with modes that change how SQL text is read, as in
    a default session (session variables only; the shared server's global mode is
    untouched)."""
    values: list[Any] = [
        *TEXT,
        *BLOBS,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        1.5,
        -0.1,
        1e300,
        5e-324,
        Decimal("-12.340"),
        Decimal("1E+5"),
        datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
        datetime.date(1999, 12, 31),
        datetime.time(23, 59, 59, 1),
        datetime.timedelta(hours=-30, seconds=1),
        None,
        True,
    ]
    with _connect(mysql_url) as c, c.cursor() as cur:
        cur.execute("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci")

        def read_all() -> list[Any]:
            out = []
            for v in values:
                lit = mysql_literal(v)
                cur.execute(f"SELECT HEX({lit}), {lit} IS NULL, {lit}")
                out.append(cur.fetchone())
            return out

        reference = read_all()
        assert reference[TEXT.index("\\'")] == ("5C27", 0, "\\'")
        assert reference[len(TEXT)] == ("FF", 0, b"\xff")
        for mode in READING_MODES:
            cur.execute(f"SET SESSION sql_mode = '{mode}'")
            got = read_all()
            diff = [
                (values[i], reference[i], got[i])
                for i in range(len(values))
                if got[i] != reference[i]
            ]
            assert not diff, (mode, diff[:3])
