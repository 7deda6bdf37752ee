"""Small things tools read, compared with MariaDB itself (issue 14, item 10): the UPDATE
OK packet's info text, ``SHOW WARNINGS`` after ``DROP TABLE IF EXISTS`` of a missing
table (Note 1051), and ``@@max_allowed_packet`` no larger than the data source's.

One ``shardgate serve`` in front of the local MariaDB; every statement runs through it
and directly on MariaDB, and the answers must be equal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.conftest import MYSQL_PORT
from tests.server.served import direct, serve_mariadb

pytestmark = pytest.mark.mysql

PID = os.getpid()
PREFIX = f"sgux_ok{PID}_"
DB = f"{PREFIX}db"
REF = f"{PREFIX}ref"


@pytest.fixture(scope="module")
def shardgate_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One ``serve`` in front of MariaDB (databases ``sgux_ok<pid>_*``, dropped after),
    and the reference database beside it."""
    with serve_mariadb(PREFIX, tmp_path_factory.mktemp("okinfo"), shards=4) as port:
        direct(f"CREATE DATABASE {REF}")
        yield port


def _info(message: bytes) -> str:
    """The OK packet's info text as PyMySQL hands it over: MariaDB sends it
    length-prefixed when the client has CLIENT_SESSION_TRACK, as a plain string
    otherwise; the text is what must agree."""
    if message and message[0] == len(message) - 1:
        message = message[1:]
    return message.decode()


def _run(port: int, database: str, statements: list[str], flags: int = 0) -> list[tuple[Any, ...]]:
    """(statement, affected, warning count, info text, rows) per statement."""
    conn = pymysql.connect(
        host="127.0.0.1", port=port, user="root", database=database, autocommit=True,
        client_flag=flags,
    )  # fmt: skip
    out = []
    try:
        with conn.cursor() as cur:
            for sql in statements:
                affected = cur.execute(sql)
                res = conn._result
                assert res is not None
                rows = cur.fetchall() if cur.description else ()
                out.append(
                    (sql, affected, res.warning_count, _info(res.message or b""), tuple(rows))
                )
    finally:
        conn.close()
    return out


def _both(port: int, statements: list[str]) -> tuple[list[Any], list[Any]]:
    got = _run(port, DB, statements)
    want = _run(MYSQL_PORT, REF, statements)
    for g, w in zip(got, want, strict=True):
        print(
            f"{g[0]!r}: affected={g[1]} warnings={g[2]} info={g[3]!r} rows={g[4]} (MariaDB info={w[3]!r})"
        )
    return got, want


def test_update_ok_info_matches_mariadb(shardgate_port: int) -> None:
    got, want = _both(
        shardgate_port,
        [
            "CREATE TABLE u (id INT PRIMARY KEY, v INT)",
            "INSERT INTO u VALUES (1, 1), (2, 1), (3, 5), (4, 7)",
            "UPDATE u SET v = 1 WHERE id IN (1, 2)",  # matched 2, changed 0
            "UPDATE u SET v = 1",  # matched 4 on several shards, changed 2
            "UPDATE u SET v = 9 WHERE id = 42",  # matched 0
            "DROP TABLE u",
        ],
    )
    updates = [(g[1], g[3]) for g in got if g[0].startswith("UPDATE")]
    assert updates == [
        (0, "Rows matched: 2  Changed: 0  Warnings: 0"),
        (2, "Rows matched: 4  Changed: 2  Warnings: 0"),
        (0, "Rows matched: 0  Changed: 0  Warnings: 0"),
    ]
    assert [(g[0], g[1], g[3]) for g in got if g[0].startswith("UPDATE")] == [
        (w[0], w[1], w[3]) for w in want if w[0].startswith("UPDATE")
    ]


def test_show_warnings_after_drop_if_exists_matches_mariadb(shardgate_port: int) -> None:
    statements = [
        "DROP TABLE IF EXISTS nope",
        "SHOW WARNINGS",
        "DROP TABLE IF EXISTS nope, nope2",
        "SHOW WARNINGS",
        "SELECT @@warning_count",
    ]
    got, want = _both(shardgate_port, statements)

    def norm(rows: list[Any], db: str) -> list[Any]:
        return [
            (r[0], r[1], r[2], tuple(tuple(str(c).replace(db, "DB") for c in row) for row in r[4]))
            for r in rows
        ]

    assert norm(got, DB) == norm(want, REF)
    assert got[1][4] == (("Note", 1051, f"Unknown table '{DB}.nope'"),)


def test_max_allowed_packet_not_above_the_data_source(shardgate_port: int) -> None:
    (server_value,) = direct("SELECT @@GLOBAL.max_allowed_packet")[0]
    conn = pymysql.connect(host="127.0.0.1", port=shardgate_port, user="root", database=DB)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@max_allowed_packet")
            (advertised,) = cur.fetchone()
            cur.execute("SHOW VARIABLES LIKE 'max_allowed_packet'")
            shown = cur.fetchone()
    finally:
        conn.close()
    print(f"MariaDB max_allowed_packet={server_value}, shardgate advertises {advertised}")
    assert int(advertised) <= int(server_value)
    assert int(advertised) == int(server_value)  # the default config (64 MiB) was capped
    assert shown == ("max_allowed_packet", str(server_value))


def test_show_warnings_after_create_if_not_exists_matches_mariadb(shardgate_port: int) -> None:
    """``CREATE TABLE IF NOT EXISTS`` of a table that exists: MariaDB's Note 1050, counted
    in the OK packet and @@warning_count (the coordinator sent none)."""
    statements = [
        "CREATE TABLE IF NOT EXISTS ne (id INT PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS ne (id INT PRIMARY KEY)",
        "SHOW WARNINGS",
        "SELECT @@warning_count",
        "DROP TABLE ne",
    ]
    got, want = _both(shardgate_port, statements)
    assert [(r[0], r[1], r[2], r[4]) for r in got] == [(r[0], r[1], r[2], r[4]) for r in want]
    assert got[2][4] == (("Note", 1050, "Table 'ne' already exists"),)


def test_row_count_and_found_rows_after_a_show_match_mariadb(shardgate_port: int) -> None:
    """A SHOW answered from session state is a result set: ROW_COUNT() -1 and
    FOUND_ROWS() its rows after it; SHOW WARNINGS/ERRORS leave FOUND_ROWS() as it was."""
    statements = [
        "CREATE TABLE rc (id INT PRIMARY KEY, v INT)",
        "INSERT INTO rc VALUES (1, 1), (2, 2), (3, 3)",
        "UPDATE rc SET v = v + 1 WHERE id < 3",
        "SHOW VARIABLES LIKE 'autocommit'",
        "SELECT ROW_COUNT(), FOUND_ROWS()",
        "UPDATE rc SET v = v + 1 WHERE id < 3",
        "SHOW SESSION STATUS LIKE 'Threads_connected'",
        "SELECT ROW_COUNT(), FOUND_ROWS()",
        "SELECT id FROM rc",
        "SHOW WARNINGS",
        "SELECT ROW_COUNT(), FOUND_ROWS()",
        "SELECT id FROM rc",
        "SHOW COUNT(*) WARNINGS",
        "SELECT ROW_COUNT(), FOUND_ROWS()",
        "DROP TABLE rc",
    ]
    got, want = _both(shardgate_port, statements)
    counts = [(g[0], g[4]) for g in got if g[0].startswith("SELECT ROW_COUNT")]
    assert [c[1] for c in counts] == [((-1, 1),), ((-1, 1),), ((-1, 3),), ((-1, 1),)]
    assert counts == [(w[0], w[4]) for w in want if w[0].startswith("SELECT ROW_COUNT")]


def test_a_show_clears_warnings_as_mariadb(shardgate_port: int) -> None:
    """Over the wire, where SHOW VARIABLES/STATUS are answered from session state: a
    SHOW that reads information_schema clears the warnings; SHOW WARNINGS does not."""
    statements = []
    for show in (
        "SHOW VARIABLES LIKE 'autocommit'",
        "SHOW SESSION STATUS LIKE 'Threads_connected'",
        "SHOW TABLES",
        "SHOW COLLATION LIKE 'utf8mb4_bin'",
        "SHOW COUNT(*) WARNINGS",
    ):
        statements += ["SELECT 1 / 0", show, "SELECT @@warning_count"]
    got, want = _both(shardgate_port, statements)
    counts = [g[4] for g in got if g[0] == "SELECT @@warning_count"]
    assert counts == [((0,),), ((0,),), ((0,),), ((0,),), ((1,),)]
    assert counts == [w[4] for w in want if w[0] == "SELECT @@warning_count"]


def _errors(port: int, database: str, statements: list[str]) -> list[Any]:
    """Per statement: its error (code, text) or its warnings, as a client sees them."""
    conn = pymysql.connect(
        host="127.0.0.1", port=port, user="root", database=database, autocommit=True
    )
    out: list[Any] = []
    try:
        with conn.cursor() as cur:
            for sql in statements:
                try:
                    cur.execute(sql)
                except pymysql.MySQLError as exc:
                    out.append(tuple(exc.args))
                    continue
                cur.execute("SHOW WARNINGS")
                out.append(cur.fetchall())
    finally:
        conn.close()
    return out


def test_shard_errors_and_warnings_read_as_mariadbs(shardgate_port: int) -> None:
    """A shard's error reaches the client with MariaDB's text — no data source in front,
    the logical database and table where the shard named its physical ones."""
    statements = [
        "CREATE TABLE ew (id INT PRIMARY KEY, n INT NOT NULL, c VARCHAR(3))",
        "INSERT INTO ew VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c')",
        "INSERT INTO ew VALUES (2, 5, 'x')",
        "INSERT INTO ew (id, n) VALUES (7, NULL)",
        "INSERT INTO ew (id, n) VALUES (8, 'zz')",
        "UPDATE ew SET n = 'q' WHERE id = 3",
        "INSERT INTO ew (id, n, c) VALUES (9, 1, 'toolong')",
        "INSERT IGNORE INTO ew (id, n) VALUES (10, 'zz'), (11, 'yy'), (1, 4)",
        "DROP TABLE ew",
    ]
    got = _errors(shardgate_port, DB, statements)
    want = _errors(MYSQL_PORT, REF, statements)
    assert str(got).replace(DB, "X") == str(want).replace(REF, "X")
    assert got[2] == (1062, "Duplicate entry '2' for key 'PRIMARY'")
    assert got[4] == (1366, f"Incorrect integer value: 'zz' for column `{DB}`.`ew`.`n` at row 1")


INSERTS = [
    "CREATE TABLE mi (id INT PRIMARY KEY, k INT, s VARCHAR(4))",
    "INSERT INTO mi VALUES (1, 1, 'a')",
    "INSERT INTO mi VALUES (2, 1, 'a'), (3, 1, 'b')",
    "INSERT IGNORE INTO mi VALUES (1, 1, 'a'), (2, 1, 'b'), (5, 1, 'c'), (6, 1, 'd')",
    "INSERT IGNORE INTO mi VALUES (5, 1, 'a')",
    "REPLACE INTO mi VALUES (1, 2, 'a'), (2, 1, 'b'), (3, 1, 'z'), (40, 1, 'b')",
    "INSERT INTO mi VALUES (8, 1, 'a'), (9, 1, 'a') ON DUPLICATE KEY UPDATE k = 5",
    "INSERT INTO mi VALUES (8, 1, 'a'), (9, 1, 'a') ON DUPLICATE KEY UPDATE k = 5",
    "INSERT INTO mi VALUES (1, 1, 'a'), (2, 1, 'a'), (3, 9, 'a'), (50, 1, 'a') "
    "ON DUPLICATE KEY UPDATE k = k + (id % 2)",
    "INSERT INTO mi (id, k) VALUES (60, 'x'), (61, 2)",
    "INSERT INTO mi (id, k) SELECT id + 100, k FROM mi WHERE id < 10",
    # INSERT … SELECT … ON DUPLICATE KEY UPDATE: the clause after every batch.
    "INSERT INTO mi (id, k) SELECT x.id, x.k + 5 FROM mi x WHERE x.id < 10 "
    "ON DUPLICATE KEY UPDATE k = VALUES(k)",
    "INSERT INTO mi (id, k) SELECT x.id, x.k FROM mi x WHERE x.id < 200 "
    "ON DUPLICATE KEY UPDATE k = mi.k + (mi.id % 2)",
    "INSERT INTO mi (id, k) SELECT x.id + 300, 1 FROM mi x WHERE x.id = 1 "
    "ON DUPLICATE KEY UPDATE k = 1",
    "INSERT INTO mi (id, k) SELECT x.id, 1 FROM mi x WHERE x.id = 301 "
    "ON DUPLICATE KEY UPDATE k = 1",
    "DROP TABLE mi",
]


@pytest.mark.parametrize("found_rows", [False, True], ids=["changed", "found"])
def test_multi_row_insert_ok_info_matches_mariadb(shardgate_port: int, found_rows: bool) -> None:
    """An INSERT/REPLACE of several rows over several shards: MariaDB's OK info text
    (``Records: 4  Duplicates: 2  Warnings: 0``), the duplicates counted per shard
    statement — skipped by IGNORE, replaced, changed (or, with CLIENT_FOUND_ROWS, met)
    by an upsert — and affected rows alike; a one-row INSERT has no info."""
    flags = pymysql.constants.CLIENT.FOUND_ROWS if found_rows else 0
    # The 'x' into an INT column warns in non-strict mode.
    statements = ["SET sql_mode = ''", *INSERTS]

    def run(port: int, database: str) -> list[tuple[Any, ...]]:
        return [r[:4] for r in _run(port, database, statements, flags)][1:]

    got, want = run(shardgate_port, DB), run(MYSQL_PORT, REF)
    assert got == want
    infos = [g[3] for g in got]
    assert infos[1] == "" and infos[2] == "Records: 2  Duplicates: 0  Warnings: 0"
    assert infos[5].startswith("Records: 4  Duplicates: 3")  # REPLACE of three


async def test_multi_row_insert_info_on_sqlite_shards_matches_mariadb(
    tmp_path: Any, shardgate_port: int
) -> None:
    """The same info texts from the embedded SQLite default (4 shards), whose shard
    statements carry no info of their own: every count comes from affected rows."""
    import trio

    from sharding.coordinator import Coordinator
    from sharding.topology import Topology

    statements = [s for s in INSERTS if "'x'" not in s]  # non-strict conversion: MariaDB only
    topology = Topology.from_dict(
        {
            "cluster": {"database": "db", "default_shards": 4},
            "datasources": [{"name": "s0", "kind": "sqlite", "path": str(tmp_path)}],
        }
    )
    got = []
    async with Coordinator(topology, catalog_refresh=None) as coord:
        session = coord.open_session()
        for sql in statements:
            r = await session.execute(sql)
            got.append((sql, r.affected, r.warnings, r.info))
        await session.close()

    def reference() -> list[tuple[Any, ...]]:
        return [r[:4] for r in _run(MYSQL_PORT, REF, statements)]

    want = await trio.to_thread.run_sync(reference)
    assert got == want


def test_alter_table_ok_matches_mariadb(shardgate_port: int) -> None:
    """An ALTER TABLE's OK: the rows a copying ALTER copied as affected rows (summed over
    the shards), 0 for one done in place, and ``Records: n  Duplicates: 0  Warnings: w``
    — as MariaDB's own (it was 0 rows and no info)."""
    statements = [
        "CREATE TABLE al (id INT PRIMARY KEY, v INT, d DECIMAL(6,2))",
        "INSERT INTO al VALUES (1, 1, 1.5), (2, 2, 2.5), (3, 3, 3.5), (4, 4, 4.5), (5, 5, 5.5)",
        "ALTER TABLE al ADD INDEX ix_v (v)",  # in place
        "ALTER TABLE al MODIFY d DECIMAL(8,2)",  # copies every row
        "ALTER TABLE al ADD COLUMN e INT",  # instant
        "ALTER TABLE al MODIFY v BIGINT, DROP COLUMN e",
        "DROP TABLE al",
    ]
    got, want = _both(shardgate_port, statements)
    alters = [(g[1], g[2], g[3]) for g in got if g[0].startswith("ALTER")]
    assert alters == [(w[1], w[2], w[3]) for w in want if w[0].startswith("ALTER")]
    assert [a[0] for a in alters] == [0, 5, 0, 5]
