"""``ON UPDATE CURRENT_TIMESTAMP`` on the embedded SQLite default (issue 15), measured
against MariaDB: the same statements on both sides, in order, on 16 SQLite shards.

Wall-clock values cannot be compared, behaviour can: after every statement each stamped
column of each row is classified — NULL, unchanged since the previous statement, "now"
(at or after the second the statement was sent, with the precision the attribute
gives), or the value itself (what the statement assigned) — and the classes must be
MariaDB's, as must the affected rows and the error codes.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sharding import Coordinator
from sharding.backend import sqlite_on_update
from sharding.errors import ShardgateError
from tests.conftest import mariadb_reference
from tests.sharding.test_sqlite_mysql_semantics import topology

PREFIX = "sgonupd_"

#: Stamped columns of the tables below and the fractional digits the stamp keeps (the
#: column's: MariaDB ignores the attribute's own, ``z`` keeps microseconds).
STAMPED = {"ts": 6, "d": 0, "d3": 3, "z": 6, "u": 0, "w2": 0}

CREATE = (
    "CREATE TABLE t (id INT PRIMARY KEY, v INT, s VARCHAR(10), c CHAR(4), e ENUM('a','b'), "
    "p DECIMAL(6,2), "
    "ts TIMESTAMP(6) NULL DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP(6), "
    "d DATETIME ON UPDATE CURRENT_TIMESTAMP, "
    "d3 DATETIME(3) NULL ON UPDATE NOW(3), "
    "z TIMESTAMP(6) NULL ON UPDATE CURRENT_TIMESTAMP)"
)

SCRIPT: list[str] = [
    CREATE,
    "INSERT INTO t (id, v, s, c, e, p) VALUES (1,1,'a','ab','a',1.5),(2,2,'b','cd','b',2),"
    "(3,3,'c','ef','a',3),(4,4,'d','gh','b',4),(5,5,'e','ij','a',5),(6,6,'f','kl','b',6)",
    "UPDATE t SET v = v WHERE id = 1",  # nothing changes: no stamp
    "UPDATE t SET s = 'A' WHERE id = 1",  # a case change is a change
    "UPDATE t SET s = 'b' WHERE id = 2",  # the same value: no stamp
    "UPDATE t SET ts = ts, v = 10 WHERE id = 2",  # assigned, even to itself: kept
    "UPDATE t SET d = '2000-01-01', v = 11 WHERE id = 3",
    "UPDATE t SET d = d WHERE id = 3",
    "UPDATE t SET c = 'gh  ' WHERE id = 4",  # CHAR: trailing spaces are no change
    "UPDATE t SET e = 'B' WHERE id = 4",  # ENUM: the same label
    "UPDATE t SET p = 4.00 WHERE id = 4",  # DECIMAL: the same number
    "UPDATE t SET e = 1 WHERE id = 4",  # ENUM by index: a change
    "UPDATE t SET ts = NULL, v = v + 1 WHERE id = 6",
    "UPDATE t SET d3 = '2001-02-03 04:05:06.789', ts = '2002-01-01 00:00:00' WHERE id = 5",
    "UPDATE t SET v = v + 1",  # every shard
    "UPDATE t SET v = v WHERE id > 2",
    # INSERT … ON DUPLICATE KEY UPDATE: the update part stamps a changed row
    "INSERT INTO t (id, v) VALUES (1, 0) ON DUPLICATE KEY UPDATE v = v",
    "INSERT INTO t (id, v) VALUES (1, 0) ON DUPLICATE KEY UPDATE v = VALUES(v)",
    "INSERT INTO t (id, v) VALUES (2, 0), (7, 7) ON DUPLICATE KEY UPDATE v = 50, z = z",
    # REPLACE is a new row: the defaults, no stamp
    "REPLACE INTO t (id, v) VALUES (3, 30)",
    "BEGIN",
    "UPDATE t SET v = 99 WHERE id IN (4, 5)",
    "UPDATE t SET s = 'x' WHERE id = 4",
    "COMMIT",
    "BEGIN",
    "UPDATE t SET v = -1 WHERE id = 6",
    "ROLLBACK",
    "UPDATE t SET v = 1 WHERE id = 999",
    # ALTER TABLE rebuilds the triggers: a new column counts, a dropped one is gone, a
    # renamed one and a renamed table keep the attribute, a new stamped column works
    "ALTER TABLE t ADD COLUMN w INT",
    "UPDATE t SET w = 1 WHERE id = 2",
    "ALTER TABLE t DROP COLUMN s",
    "UPDATE t SET v = 5 WHERE id = 5",
    "ALTER TABLE t RENAME COLUMN d TO u",
    "UPDATE t SET u = u, v = 6 WHERE id = 5",
    "UPDATE t SET v = 7 WHERE id = 5",
    "ALTER TABLE t ADD COLUMN w2 DATETIME NULL ON UPDATE CURRENT_TIMESTAMP",
    "UPDATE t SET w = 2 WHERE id IN (1, 2)",
    "ALTER TABLE t DROP COLUMN ts",
    "UPDATE t SET v = 8 WHERE id = 1",
    "ALTER TABLE t RENAME TO t2",
    "UPDATE t2 SET v = 9 WHERE id = 6",
    "UPDATE t2 SET w2 = NULL, v = 10 WHERE id = 6",
]


@pytest.fixture
def reference() -> Iterator[Any]:
    with mariadb_reference(PREFIX) as conn:
        yield conn


OLD = datetime.datetime(2000, 1, 1)


def _classes(
    rows: list[tuple[Any, ...]], names: list[str], before: datetime.datetime
) -> list[tuple[Any, ...]]:
    """Each stamped value as what it means (module doc); ``OLD`` is what
    :func:`_reset` left."""
    out = []
    for row in rows:
        classes: list[Any] = []
        for name, value in zip(names, row, strict=True):
            if name not in STAMPED or value is None or value == OLD:
                classes.append(value)
            elif value >= before:
                unit = 10 ** (6 - STAMPED[name])
                classes.append(("now", value.microsecond % unit == 0))
            else:
                classes.append(value)
        out.append(tuple(classes))
    return out


def _reset(table: str, names: list[str]) -> str:
    """Every stamped value that is not NULL becomes ``OLD`` (assigned: no stamp), so the
    next statement's stamps are told apart from earlier ones within one second."""
    sets = ", ".join(
        f"{n} = CASE WHEN {n} IS NULL THEN NULL ELSE '2000-01-01' END"
        for n in names
        if n in STAMPED
    )
    return f"UPDATE {table} SET {sets}"


async def test_on_update_current_timestamp_matches_mariadb(reference: Any, tmp_path: Path) -> None:
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        session = coord.open_session(database="db")
        try:
            with reference.cursor() as cur:
                table = "t"
                for sql in SCRIPT:
                    before = datetime.datetime.now().replace(microsecond=0)
                    try:
                        theirs: Any = ("ok", cur.execute(sql))
                    except pymysql.MySQLError as exc:
                        theirs = ("error", exc.args[0])
                    try:
                        mine: Any = ("ok", (await session.execute(sql)).affected)
                    except ShardgateError as exc:
                        mine = ("error", exc.code)
                    assert mine == theirs, (sql, mine, theirs)
                    if sql.startswith("ALTER TABLE t RENAME TO "):
                        table = sql.rsplit(" ", 1)[1]
                    if sql == "BEGIN" or sql.startswith("CREATE"):
                        continue
                    read = f"SELECT * FROM {table} ORDER BY id"
                    cur.execute(read)
                    names = [d[0] for d in cur.description]
                    expected = _classes([tuple(r) for r in cur.fetchall()], names, before)
                    result = await session.execute(read)
                    got = _classes([tuple(r) for r in result.rows], names, before)
                    assert got == expected, (sql, got, expected)
                    reset = _reset(table, names)
                    theirs = cur.execute(reset)
                    assert (await session.execute(reset)).affected == theirs, sql
        finally:
            await session.close()


async def test_bad_on_update_columns_are_mariadbs_errors(reference: Any, tmp_path: Path) -> None:
    cases = [
        "CREATE TABLE b1 (id INT PRIMARY KEY, i INT ON UPDATE CURRENT_TIMESTAMP)",
        "CREATE TABLE b2 (id INT PRIMARY KEY, dd DATE ON UPDATE CURRENT_TIMESTAMP)",
    ]
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        with reference.cursor() as cur:
            for sql in cases:
                with pytest.raises(pymysql.MySQLError) as theirs:
                    cur.execute(sql)
                with pytest.raises(ShardgateError) as mine:
                    await coord.execute(sql)
                assert mine.value.code == theirs.value.args[0], sql


async def test_survives_a_restart(tmp_path: Path) -> None:
    """The triggers live in the shard files: a new coordinator (new connections,
    functions registered again) keeps the attribute."""
    create = (
        "CREATE TABLE r (id INT PRIMARY KEY, v INT, "
        "at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)"
    )
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        await coord.execute(create)
        await coord.execute(
            "INSERT INTO r (id, v, at) VALUES (1, 1, '2000-01-01'), (2, 2, '2000-01-01')"
        )
    before = datetime.datetime.now().replace(microsecond=0)
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        assert (await coord.execute("UPDATE r SET v = v + 1 WHERE id = 1")).affected == 1
        rows = (await coord.execute("SELECT id, at FROM r ORDER BY id")).rows
        assert rows[0][1] >= before
        assert rows[1][1] == datetime.datetime(2000, 1, 1)


def test_one_statement_one_time() -> None:
    """Every row a statement stamps gets the same time (MySQL's NOW is the statement's
    start), truncated to the column's digits."""
    sqlite_on_update.begin_statement()
    first = sqlite_on_update._now(6)
    assert sqlite_on_update._now(6) == first
    assert len(first) == len("2000-01-01 00:00:00.000000")
    assert sqlite_on_update._now(3) == first[:23]
    assert sqlite_on_update._now(0) == first[:19]
