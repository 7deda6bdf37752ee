"""The embedded SQLite default answers like MySQL (issue 15): ENUM columns, INSERT …
ON DUPLICATE KEY UPDATE, and multi-shard writes reading a broadcast table inside a
transaction — each measured against MariaDB (the reference), on 16 shards with a
two-row chunk size (every ordered merge crosses keyset continuations).

Every statement runs on both sides in order; a write must give MariaDB's affected rows
or its error code, a read MariaDB's rows with MariaDB's Python types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sharding import Coordinator
from sharding.errors import NotSupported, ShardgateError
from tests.conftest import mariadb_reference
from tests.sharding.test_sqlite_mysql_semantics import _typed, topology

pytestmark = pytest.mark.mysql

PREFIX = "sglite2_"

R, W = "read", "write"
#: Refused on SQLite shards (1235) where MariaDB answers: run on the shards only, so
#: both sides keep the same rows.
REFUSED = "refused"

#: (kind, sql) run in order on MariaDB and on 16 SQLite shards.
ENUM_SCRIPT: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE e (id INT PRIMARY KEY, size ENUM('small','medium','large'), note VARCHAR(10))",
    ),
    (
        W,
        "INSERT INTO e VALUES (1,'large','a'),(2,'SMALL','b'),(3,2,'c'),(4,NULL,'d'),"
        "(5,'medium','e'),(6,'large ','f'),(7,'small','g'),(8,3,'h'),(9,'Medium','i')",
    ),
    # Strict mode: what is no label (nor an index 1..n) is 1265, nothing stored.
    (W, "INSERT INTO e VALUES (20,'huge','x')"),
    (W, "INSERT INTO e VALUES (21,'','x')"),
    (W, "INSERT INTO e VALUES (22,4,'x')"),
    (W, "INSERT INTO e VALUES (23,0,'x')"),
    (W, "UPDATE e SET size = 'x' WHERE id = 1"),
    (W, "UPDATE e SET size = 'LARGE' WHERE id = 7"),
    (W, "UPDATE e SET size = 1 WHERE id = 8"),
    (W, "UPDATE e SET size = 'small' WHERE id = 8"),
    (R, "SELECT id, size FROM e ORDER BY id"),
    (R, "SELECT id, size FROM e ORDER BY size, id"),
    (R, "SELECT id, size FROM e ORDER BY size DESC, id LIMIT 5"),
    (R, "SELECT size, COUNT(*) FROM e GROUP BY size"),
    (R, "SELECT size, COUNT(*) FROM e GROUP BY size ORDER BY size DESC"),
    (R, "SELECT DISTINCT size FROM e ORDER BY size"),
    (R, "SELECT MIN(size), MAX(size), COUNT(size), COUNT(DISTINCT size) FROM e"),
    (R, "SELECT id FROM e WHERE size = 'Small' ORDER BY id"),
    (R, "SELECT id FROM e WHERE size < 'medium' ORDER BY id"),
    (R, "SELECT id FROM e WHERE size IN ('small', 'LARGE') ORDER BY id"),
    (R, "SELECT id FROM e WHERE size IS NULL"),
    # with a number, an ENUM compares by index
    (R, "SELECT id FROM e WHERE size = 2 ORDER BY id"),
    (R, "SELECT id FROM e WHERE size > 1 ORDER BY id"),
    (R, "SELECT id FROM e WHERE size IN (1, 3) ORDER BY id"),
    (R, "SELECT id FROM e WHERE size BETWEEN 2 AND 3 ORDER BY id"),
    (R, "SELECT id FROM e WHERE size <> 'small' AND size <= 'medium' ORDER BY id"),
    (W, "UPDATE e SET note = 'big' WHERE size = 3"),
    (W, "DELETE FROM e WHERE size = 1 AND id > 7"),
    (R, "SELECT id, size, note FROM e ORDER BY size DESC, id"),
    (R, "SELECT size FROM e WHERE id = 3 ORDER BY size"),
    (R, "SELECT note, size FROM e ORDER BY size, note"),
    # ALTER TABLE keeps the ENUM machinery (triggers, collations) and adds to it
    (W, "ALTER TABLE e ADD COLUMN t ENUM('a','b') NOT NULL"),
    (W, "UPDATE e SET t = 2 WHERE size = 'large'"),
    (W, "UPDATE e SET t = 'c' WHERE id = 1"),
    (W, "INSERT INTO e (id, size, t) VALUES (30, 'SMALL', 'B')"),
    (R, "SELECT id, size, t FROM e ORDER BY t DESC, size, id"),
    (R, "SELECT id FROM e WHERE t = 2 AND size > 2 ORDER BY id"),
    # quotes and backslashes in labels; NOT NULL's implicit default is the first label
    (
        W,
        "CREATE TABLE e2 (id INT PRIMARY KEY, size ENUM('x','y''s','z\\\\w') NOT NULL, "
        "c ENUM('p','q') DEFAULT 'q', UNIQUE KEY us (id, size))",
    ),
    (W, "INSERT INTO e2 (id) VALUES (1)"),
    (W, "INSERT INTO e2 (id, size) VALUES (2, 'Y''S')"),
    (W, "INSERT INTO e2 VALUES (3, 'z\\\\w', NULL)"),
    (W, "INSERT INTO e2 (id, size) VALUES (4, NULL)"),
    (W, "INSERT INTO e2 VALUES (5, 'x', 'P')"),
    (R, "SELECT id, size, c FROM e2 ORDER BY id"),
    (R, "SELECT id FROM e2 WHERE size IN ('x', 3) ORDER BY id"),
    (R, "SELECT c, COUNT(*) FROM e2 GROUP BY c ORDER BY c DESC"),
    (R, "SELECT id, FIELD(size, 'x', 'y''s') FROM e2 ORDER BY id"),
    (R, "SELECT id, size FROM e2 WHERE size LIKE 'Y%'"),
]

UPSERT_SCRIPT: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE u (id INT PRIMARY KEY, code VARCHAR(10), n INT, s VARCHAR(20), UNIQUE KEY uc (id, code))",
    ),
    (W, "INSERT INTO u VALUES (1,'a',1,'x'),(2,'b',2,'y') ON DUPLICATE KEY UPDATE n = n + 1"),
    # one update that changes (2) + one insert (1)
    (
        W,
        "INSERT INTO u VALUES (1,'a',5,'x'),(3,'c',2,'y') ON DUPLICATE KEY UPDATE n = VALUES(n), s = CONCAT(s, 'it\\'s')",
    ),
    # an update that changes nothing: 0
    (W, "INSERT INTO u VALUES (1,'a',5,'x') ON DUPLICATE KEY UPDATE n = VALUES(n)"),
    (
        W,
        "INSERT INTO u (id, code, n) VALUES (2,'b',7) ON DUPLICATE KEY UPDATE u.n = VALUES(`n`) + 10",
    ),
    # a case-variant key is the same key under the column collation
    (W, "INSERT INTO u VALUES (4,'d',1,'q'),(2,'B',1,'z') ON DUPLICATE KEY UPDATE s = VALUES(s)"),
    (W, "INSERT INTO u VALUES (5,'e',1,'q') ON DUPLICATE KEY UPDATE n = 'many'"),
    (W, "INSERT INTO u VALUES (1,'a',1,'q') ON DUPLICATE KEY UPDATE n = 'many'"),
    (R, "SELECT id, code, n, s FROM u ORDER BY id"),
    (W, "INSERT INTO u SET id = 6, code = 'f', n = 1 ON DUPLICATE KEY UPDATE n = n + 1"),
    (W, "INSERT INTO u SET id = 6, code = 'f', n = 1 ON DUPLICATE KEY UPDATE n = n + 1"),
    (R, "SELECT id, code, n, s FROM u WHERE id = 6"),
    # CHAR and ENUM values are stored canonical: setting an equal one changes nothing
    (
        W,
        "CREATE TABLE m (id INT PRIMARY KEY, email VARCHAR(20), ch CHAR(4), size ENUM('a','b'), "
        "hits INT, UNIQUE KEY ue (id, email))",
    ),
    (W, "INSERT INTO m VALUES (1,'x@y','ab','a',0),(2,'p@q','cd','b',0)"),
    (
        W,
        "INSERT INTO m VALUES (1,'X@Y','ab  ','A',0) ON DUPLICATE KEY UPDATE ch = VALUES(ch), size = VALUES(size)",
    ),
    (W, "INSERT INTO m VALUES (2,'z','x','a',0) ON DUPLICATE KEY UPDATE size = 2, ch = 'cd '"),
    (W, "INSERT INTO m VALUES (2,'z','x','a',0) ON DUPLICATE KEY UPDATE size = 1, hits = hits + 1"),
    (W, "INSERT INTO m VALUES (3,'z','x','c',0) ON DUPLICATE KEY UPDATE hits = 9"),
    (W, "INSERT INTO m VALUES (1,'z','x','a',0) ON DUPLICATE KEY UPDATE size = 'c'"),
    (W, "UPDATE m SET ch = 'ab ', size = 'A' WHERE id = 1"),
    (W, "UPDATE m SET ch = CONCAT(ch, ' '), size = size WHERE id IN (1, 2)"),
    (W, "UPDATE m SET ch = 'q', size = 'b' WHERE id IN (1, 2)"),
    (R, "SELECT id, email, ch, CHAR_LENGTH(ch), size, hits FROM m ORDER BY id"),
    # MySQL counts every update of a statement: a row updated twice counts 2 + 2
    (W, "CREATE TABLE d (id INT PRIMARY KEY, n INT, ch CHAR(3) NOT NULL)"),
    (W, "INSERT INTO d VALUES (7,1,'a'),(7,2,'a') ON DUPLICATE KEY UPDATE n = VALUES(n)"),
    (W, "INSERT INTO d VALUES (8,1,'a'),(8,1,'a') ON DUPLICATE KEY UPDATE n = VALUES(n)"),
    (W, "INSERT INTO d VALUES (9,1,'a '),(9,1,'a') ON DUPLICATE KEY UPDATE ch = VALUES(ch)"),
    (
        W,
        "INSERT INTO d VALUES (7,5,'a'),(7,6,'a'),(10,1,'b') ON DUPLICATE KEY UPDATE n = VALUES(n)",
    ),
    # IGNORE skips duplicate keys only (ODKU handles them first); a value MySQL would
    # store adjusted is refused (1235), never skipped
    (W, "INSERT IGNORE INTO d VALUES (7,5,'a'),(11,1,'b') ON DUPLICATE KEY UPDATE n = VALUES(n)"),
    (W, "INSERT IGNORE INTO d VALUES (7,9,'a'),(12,1,'b'),(13,1,'c')"),
    (REFUSED, "INSERT IGNORE INTO d VALUES (14,'zz','a')"),
    (REFUSED, "INSERT IGNORE INTO d VALUES (7,'zz','a') ON DUPLICATE KEY UPDATE n = VALUES(n)"),
    (REFUSED, "INSERT IGNORE INTO d (id, n, ch) VALUES (15, 1, NULL)"),
    (R, "SELECT id, n, ch FROM d ORDER BY id"),
    # a broadcast table: every copy upserts, one copy's count is reported
    (W, "CREATE TABLE bc (code VARCHAR(8) PRIMARY KEY, n INT) COMMENT 'shardgate:broadcast'"),
    (W, "INSERT INTO bc VALUES ('a', 1), ('b', 2) ON DUPLICATE KEY UPDATE n = n + VALUES(n)"),
    (W, "INSERT INTO bc VALUES ('A', 5), ('c', 2) ON DUPLICATE KEY UPDATE n = n + VALUES(n)"),
    (R, "SELECT code, n FROM bc ORDER BY code"),
]

TXN_SCRIPT: list[tuple[str, str]] = [
    (W, "CREATE TABLE t (id INT PRIMARY KEY, k INT, a INT)"),
    (W, "CREATE TABLE dim (k INT PRIMARY KEY) COMMENT 'shardgate:broadcast'"),
    (W, "INSERT INTO t VALUES " + ", ".join(f"({i}, {i % 5}, 0)" for i in range(1, 41))),
    (W, "INSERT INTO dim VALUES (1), (3)"),
    (W, "UPDATE t SET a = 1 WHERE k IN (SELECT k FROM dim)"),
    (W, "DELETE FROM t WHERE k IN (SELECT k FROM dim) AND id > 30"),
    (W, "BEGIN"),
    (W, "UPDATE t SET a = a + 10 WHERE k IN (SELECT k FROM dim)"),
    (R, "SELECT COUNT(*), MIN(a), MAX(a), COUNT(DISTINCT a) FROM t"),
    (R, "SELECT id, a FROM t WHERE a > 0 ORDER BY id"),
    (W, "INSERT INTO t VALUES (50, 1, 7)"),
    (W, "DELETE FROM t WHERE k IN (SELECT k FROM dim WHERE k > 2)"),
    (R, "SELECT COUNT(*), MIN(a), MAX(a), COUNT(DISTINCT a) FROM t"),
    (R, "SELECT id, a FROM t WHERE a > 0 ORDER BY id"),
    (W, "COMMIT"),
    (R, "SELECT id, k, a FROM t ORDER BY id"),
    (W, "BEGIN"),
    (W, "UPDATE t SET a = 0 WHERE k IN (SELECT k FROM dim)"),
    (W, "ROLLBACK"),
    # written first, then read with the broadcast table: the file joins the open
    # transaction read-only
    (W, "BEGIN"),
    (W, "INSERT INTO t VALUES (60, 3, 5), (61, 1, 6), (62, 2, 7)"),
    (R, "SELECT t.id, t.a FROM t JOIN dim ON dim.k = t.k WHERE t.id = 60"),
    (W, "UPDATE t SET a = a * 2 WHERE k IN (SELECT k FROM dim) AND id >= 60"),
    (R, "SELECT t.id, t.a FROM t JOIN dim ON dim.k = t.k WHERE t.id >= 60 ORDER BY t.id"),
    (W, "DELETE FROM t WHERE id = 62 AND k NOT IN (SELECT k FROM dim)"),
    (W, "COMMIT"),
    (R, "SELECT COUNT(*), MIN(a), MAX(a), COUNT(DISTINCT a) FROM t"),
    (R, "SELECT id, a FROM t WHERE a > 0 ORDER BY id"),
]


@pytest.fixture
def reference() -> Iterator[Any]:
    with mariadb_reference(PREFIX) as conn:
        yield conn


async def _run(script: list[tuple[str, str]], reference: Any, root: Path) -> None:
    async with Coordinator(topology(root, 2), catalog_refresh=None) as coord:
        session = coord.open_session(database="db")
        try:
            with reference.cursor() as cur:
                for kind, sql in script:
                    if kind == REFUSED:
                        with pytest.raises(ShardgateError) as refused:
                            await session.execute(sql)
                        assert refused.value.code == 1235, (sql, refused.value)
                        continue
                    try:
                        cur.execute(sql)
                        theirs: Any = ("ok", cur.rowcount, [tuple(r) for r in cur.fetchall()])
                    except pymysql.MySQLError as exc:
                        theirs = ("error", exc.args[0])
                    try:
                        result = await session.execute(sql)
                        mine: Any = ("ok", result.affected, [tuple(r) for r in result.rows])
                    except ShardgateError as exc:
                        mine = ("error", exc.code)
                    if sql.startswith("CREATE"):
                        assert mine[0] == theirs[0] == "ok", (sql, mine, theirs)
                    elif kind == R:
                        assert mine[0] == theirs[0] == "ok", (sql, mine, theirs)
                        assert _typed(mine[2]) == _typed(theirs[2]), (sql, mine[2], theirs[2])
                    elif theirs[0] == "ok":
                        assert mine[:2] == theirs[:2], (sql, mine, theirs)
                    else:
                        assert mine == theirs, (sql, mine, theirs)
        finally:
            await session.close()


async def test_enum_matches_mariadb(reference: Any, tmp_path: Path) -> None:
    await _run(ENUM_SCRIPT, reference, tmp_path)


async def test_on_duplicate_key_update_matches_mariadb(reference: Any, tmp_path: Path) -> None:
    await _run(UPSERT_SCRIPT, reference, tmp_path)


async def test_broadcast_subquery_writes_in_a_transaction(reference: Any, tmp_path: Path) -> None:
    await _run(TXN_SCRIPT, reference, tmp_path)


async def test_upsert_with_parameters_matches_mariadb(reference: Any, tmp_path: Path) -> None:
    """``?`` in the rows and in the clause (the clause's come last), as a client's
    prepared statement sends them; the same values through pymysql on MariaDB."""
    create = "CREATE TABLE p (id INT PRIMARY KEY, n INT, s VARCHAR(10))"
    sql = (
        "INSERT INTO p VALUES (?, ?, ?), (?, ?, ?) ON DUPLICATE KEY UPDATE n = n + ?, s = VALUES(s)"
    )
    calls = [
        [1, 1, "a", 2, 2, "b", 10],
        [1, 5, "it's", 3, 3, "c", 10],
        [1, 5, "it's", 2, 2, "b", 0],
    ]
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        with reference.cursor() as cur:
            cur.execute(create)
            await coord.execute(create)
            for params in calls:
                theirs = cur.execute(sql.replace("?", "%s"), params)
                mine = (await coord.execute(sql, params)).affected
                assert mine == theirs, (params, mine, theirs)
            cur.execute("SELECT id, n, s FROM p ORDER BY id")
            expected = [tuple(r) for r in cur.fetchall()]
            got = [
                tuple(r) for r in (await coord.execute("SELECT id, n, s FROM p ORDER BY id")).rows
            ]
            assert _typed(got) == _typed(expected)


async def test_enum_collations_survive_a_restart(tmp_path: Path) -> None:
    """A new process knows an ENUM column's collation from the shard files' schema."""
    from sharding.backend import sqlite_mysql

    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        await coord.execute(
            "CREATE TABLE e (id INT PRIMARY KEY, size ENUM('s','m','l') COLLATE utf8mb4_bin)"
        )
        await coord.execute("INSERT INTO e VALUES (1, 'l'), (2, 2), (3, 's')")
        name = next(n for n in sqlite_mysql._ENUM_COMPARATORS if "utf8mb4_bin" in n)
    del sqlite_mysql._ENUM_COMPARATORS[name]  # as if in a fresh process
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        rows = (await coord.execute("SELECT id FROM e WHERE size >= 2 ORDER BY size, id")).rows
        assert rows == [(2,), (1,)]
        with pytest.raises(ShardgateError) as err:
            await coord.execute("INSERT INTO e VALUES (4, 'S')")  # utf8mb4_bin: no label
        assert err.value.code == 1265


async def test_written_broadcast_table_is_never_read_stale(tmp_path: Path) -> None:
    """Once a transaction wrote the broadcast table, a shard's connection that reads it
    read-only would see the old rows: such a statement is refused (1235), and what the
    transaction did is kept whole (committed or rolled back)."""
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, k INT, a INT)")
        await coord.execute("CREATE TABLE dim (k INT PRIMARY KEY) COMMENT 'shardgate:broadcast'")
        await coord.execute(
            "INSERT INTO t VALUES " + ", ".join(f"({i}, {i % 5}, 0)" for i in range(1, 41))
        )
        await coord.execute("INSERT INTO dim VALUES (1), (3)")
        session = coord.open_session(database="db")
        try:
            await session.execute("BEGIN")
            assert (
                await session.execute("UPDATE t SET a = 1 WHERE k IN (SELECT k FROM dim)")
            ).affected == 16
            await session.execute("INSERT INTO dim VALUES (2)")
            with pytest.raises(ShardgateError) as err:
                await session.execute("UPDATE t SET a = 2 WHERE k IN (SELECT k FROM dim)")
            assert err.value.code == 1235
            await session.execute("ROLLBACK")
        finally:
            await session.close()
        rows = (await coord.execute("SELECT COUNT(*), MAX(a) FROM t")).rows
        assert rows == [(40, 0)]
        assert (await coord.execute("SELECT k FROM dim ORDER BY k")).rows == [(1,), (3,)]
        # Every connection went back (read-only attachments detached) or was closed.
        stats = coord.datasources["ds0"].statistics()
        assert stats.in_use == 0 and stats.size == stats.idle
        assert stats.created - stats.closed == stats.size


async def test_set_columns_are_refused_clearly(tmp_path: Path) -> None:
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        with pytest.raises(NotSupported, match="SET column 'tags'"):
            await coord.execute("CREATE TABLE s (id INT PRIMARY KEY, tags SET('a','b'))")
