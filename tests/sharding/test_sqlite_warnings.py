"""Reads on the SQLite default report MariaDB's warnings, measured against MariaDB.

The same rows live in one plain MariaDB database (the reference) and in a 4-shard SQLite
topology behind a Coordinator. Each statement runs on both; the result's warning count,
``@@warning_count`` and ``SHOW WARNINGS`` (level, code, message) must be MariaDB's:

* a scatter over every shard counts the total of its shards' warnings; its listing is
  compared as a multiset — the shards list their own in shard order, MariaDB in its scan
  order (docs/refusals.md);
* a point query (``WHERE id = k``, one shard) lists them in MariaDB's order;
* more warnings than ``max_error_count`` (64): the count is the total, 64 are listed.

Chosen so that MariaDB's count does not depend on its evaluation order or plan: no
``LIMIT`` (every row is evaluated), no two warning operands joined by ``AND``/``OR``
(short-circuiting would depend on which MariaDB evaluates first), no constant-only
expression (``1 / 0``: MariaDB evaluates it per row, SQLite once per shard statement),
no string literal compared with a numeric column (``n = '5x'``: MariaDB converts the
constant once per statement, each shard once — those stay silent), no ``GROUP BY`` of
a converted expression (MariaDB converts a grouped select item once per row, SQLite's
sorter twice).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sharding import Coordinator, Topology
from sharding.session import CoordinatorSession
from tests.conftest import MYSQL_HOST, MYSQL_PORT

pytestmark = pytest.mark.mysql

DDL = "CREATE TABLE w (id INT PRIMARY KEY, s VARCHAR(400), n INT, f DOUBLE)"
#: Strings MySQL converts cleanly, with a Note (trailing spaces) or a Warning.
TEXTS = [
    "12abc",
    "x",
    "5",
    None,
    " 7 ",
    "1e2x",
    "",
    "1e2",
    "1.5",
    " 8",
    "5\t",
    "-3",
    ".5",
    "1e",
    "a" * 200,
    "é" * 70,
    "it's",
    "5\u00a0",
    "0x10",
    "+4",
]


def rows() -> list[tuple[Any, ...]]:
    return [(i, s, i % 3, (i % 4) / 2) for i, s in enumerate(TEXTS, start=1)]


def _literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "''") + "'"
    return repr(v)


def insert_sql(data: list[tuple[Any, ...]]) -> str:
    return "INSERT INTO w VALUES " + ", ".join(
        "(" + ", ".join(_literal(v) for v in r) + ")" for r in data
    )


#: Reads over every shard (select items and WHERE).
SCATTER = [
    "SELECT id, n / 0 FROM w",
    "SELECT id, n DIV 0, n % 0, MOD(n, 0) FROM w",
    "SELECT id, LOG(n), LN(n - 1), LOG10(n), LOG2(n) FROM w",
    "SELECT COUNT(*) FROM w WHERE n / 0 IS NULL",
    "SELECT id, CAST(s AS SIGNED) FROM w",
    "SELECT id, CAST(s AS UNSIGNED) FROM w WHERE s NOT LIKE '-%'",
    "SELECT id, CAST(s AS DECIMAL(10,2)) FROM w",
    "SELECT id FROM w WHERE s = 5",
    "SELECT id FROM w WHERE s > 3",
    "SELECT id FROM w WHERE s = 5.5",
    "SELECT id, s = 5 FROM w",
    "SELECT id FROM w WHERE s IN (5, 7)",
    "SELECT id FROM w WHERE s BETWEEN 1 AND 10",
    "SELECT id, s / 2, s % 2, MOD(s, 2) FROM w",
    "SELECT id, s DIV 1 FROM w",
    "SELECT id, CONCAT(s, '') / 2 FROM w",
    "SELECT id, f / n FROM w",
    "SELECT id, CAST(n AS SIGNED), CAST(f AS DECIMAL(10,1)) FROM w",
    # Text in arithmetic and numeric functions SQLite computes itself: MySQL's DOUBLE
    # conversion (sg_double), one 1292 per converted value (at most 64 in all here:
    # a cut listing differs by shard order).
    "SELECT id, s + 1, s * 2, s - n, -s FROM w",
    "SELECT id, ABS(s), FLOOR(s), CEIL(s), SIGN(s) FROM w",
    "SELECT id, ROUND(s), ROUND(s, 1), TRUNCATE(s, 0) FROM w",
    "SELECT id, POW(s, 2), LN(s), LOG10(s), SIN(s) FROM w",
    "SELECT id FROM w WHERE s + 0 > 3",
    "SELECT id, CAST(s AS DOUBLE) FROM w",
    "SELECT SUM(s), COUNT(s), MIN(s + 0), MAX(s * 1) FROM w",
    "SELECT id, n + 'abc', ABS('5x') FROM w",
    "SELECT id FROM w WHERE n * '2x' > 1",
    # Comparisons decided at run time (sg_compare, sg_in, sg_between): the string side
    # converted once per row and comparison type, as MariaDB converts it.
    "SELECT id FROM w WHERE CONCAT(s, '') = 5",
    "SELECT id, TRIM(s) = 5 FROM w",
    "SELECT id FROM w WHERE CONCAT(s, '') = f",
    "SELECT id FROM w WHERE CONCAT(s, '') > 5.5",
    "SELECT id FROM w WHERE CONCAT(s, '') IN (5, 7)",
    "SELECT id FROM w WHERE CONCAT(s, '') IN (5, 2.5)",
    "SELECT id FROM w WHERE TRIM(s) BETWEEN 1 AND 10",
    "SELECT id FROM w WHERE COALESCE(s, 'q') = 5",
    "SELECT id FROM w WHERE CONCAT(s, '') <> (SELECT 0)",
]
#: Reads of one shard: the listing in MariaDB's order.
POINT = [
    "SELECT id, CAST(s AS SIGNED), s / 0 FROM w WHERE id = 1",
    "SELECT id, n / 0 FROM w WHERE id = 3",
    "SELECT id, CAST(s AS DECIMAL(10,2)), s DIV 2 FROM w WHERE id = 5",
    "SELECT id FROM w WHERE id = 6 AND s = 100",
    "SELECT id, CAST(s AS SIGNED), s / 2 FROM w WHERE id = 15",
    "SELECT id, CAST(s AS SIGNED) FROM w WHERE id = 16",
    "SELECT id, MOD(s, 2), CAST(s AS SIGNED) FROM w WHERE id = 18",
    "SELECT id, s + 1, ABS(s), s * 2, -s FROM w WHERE id = 1",
    "SELECT SUM(s), ROUND(s), CAST(s AS DOUBLE) FROM w WHERE id = 6",
    "SELECT id, 'x' + n, s + s FROM w WHERE id = 14",
    "SELECT id, CONCAT(s, '') IN (5, 2.5), TRIM(s) BETWEEN 1 AND 2 FROM w WHERE id = 2",
    "SELECT id FROM w WHERE id = 5 AND CONCAT(s, '') = 7",
]


def _mysql(database: str | None = None) -> Any:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", database=database
    )


@pytest.fixture(scope="module")
def reference() -> Iterator[Any]:
    name = f"sgwarn_{os.getpid()}"
    conn = _mysql()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"USE `{name}`")
            cur.execute(DDL)
            cur.execute(insert_sql(rows()))
            cur.execute(
                "CREATE TABLE big (id INT PRIMARY KEY, n INT)",
            )
            cur.execute("INSERT INTO big VALUES " + ", ".join(f"({i}, 0)" for i in range(1, 101)))
        conn.commit()
        yield conn
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def topology(path: Path) -> Topology:
    return Topology.loads(f"""
[cluster]
database = "db"
default_shards = 4

[[datasources]]
name = "ds0"
path = "{path}"
""")


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[CoordinatorSession]:
    async with Coordinator(topology(tmp_path), catalog_refresh=None) as coord:
        s = coord.open_session(database="db")
        try:
            await s.execute(DDL)
            await s.execute(insert_sql(rows()))
            await s.execute("CREATE TABLE big (id INT PRIMARY KEY, n INT)")
            await s.execute(
                "INSERT INTO big VALUES " + ", ".join(f"({i}, 0)" for i in range(1, 101))
            )
            yield s
        finally:
            await s.close()


Diagnostics = tuple[list[tuple[Any, ...]], int, int, list[tuple[str, int, str]]]


def theirs(conn: Any, sql: str) -> Diagnostics:
    """MariaDB's rows, the result's warning count, @@warning_count and SHOW WARNINGS."""
    with conn.cursor() as cur:
        cur.execute(sql)
        got = [tuple(r) for r in cur.fetchall()]
        count = cur.warning_count
        cur.execute("SHOW WARNINGS")
        notes = [(str(a), int(b), str(c)) for a, b, c in cur.fetchall()]
        cur.execute("SELECT @@warning_count")
        (total,) = cur.fetchone()
    return got, count, int(total), notes


async def ours(session: CoordinatorSession, sql: str) -> Diagnostics:
    result = await session.execute(sql)
    shown = await session.execute("SHOW WARNINGS")
    notes = [(str(a), int(b), str(c)) for a, b, c in shown.rows]
    total = await session.execute("SELECT @@warning_count")
    return [tuple(r) for r in result.rows], result.warnings, int(total.rows[0][0]), notes


@pytest.mark.parametrize("sql", SCATTER)
async def test_scatter_reads_count_every_shards_warnings(
    reference: Any, session: CoordinatorSession, sql: str
) -> None:
    want_rows, want_count, want_total, want_notes = theirs(reference, sql)
    got_rows, got_count, got_total, got_notes = await ours(session, sql)
    assert sorted(got_rows, key=repr) == sorted(want_rows, key=repr), sql
    assert (got_count, got_total) == (want_count, want_total), sql
    assert sorted(got_notes) == sorted(want_notes), sql


@pytest.mark.parametrize("sql", POINT)
async def test_point_reads_list_warnings_in_order(
    reference: Any, session: CoordinatorSession, sql: str
) -> None:
    want = theirs(reference, sql)
    got = await ours(session, sql)
    assert got == want, sql
    assert want[1] > 0, f"{sql}: chosen to warn on MariaDB"


async def test_count_is_the_total_listing_capped(
    reference: Any, session: CoordinatorSession
) -> None:
    """100 divisions by zero over 4 shards: 100 counted, ``max_error_count`` (64) listed
    — each shard's 25 come back, the session lists the first 64 of the statement's."""
    sql = "SELECT id, n / 0 FROM big"
    _, want_count, want_total, want_notes = theirs(reference, sql)
    _, got_count, got_total, got_notes = await ours(session, sql)
    assert (got_count, got_total, len(got_notes)) == (want_count, want_total, len(want_notes))
    assert (want_count, len(want_notes)) == (100, 64)
    assert set(got_notes) == set(want_notes) == {("Warning", 1365, "Division by 0")}


async def test_one_shard_over_the_cap(reference: Any, session: CoordinatorSession) -> None:
    """A lower ``max_error_count`` lists fewer, and the count stays the total."""
    with reference.cursor() as cur:
        cur.execute("SET max_error_count = 5")
    await session.execute("SET max_error_count = 5")
    try:
        for sql in ("SELECT id, n / 0 FROM big", "SELECT id, CAST(s AS SIGNED) FROM w"):
            want = theirs(reference, sql)
            got = await ours(session, sql)
            assert (got[1], got[2], len(got[3])) == (want[1], want[2], len(want[3])), sql
    finally:
        with reference.cursor() as cur:
            cur.execute("SET max_error_count = 64")


async def test_a_clean_read_resets_the_warnings(
    reference: Any, session: CoordinatorSession
) -> None:
    for sql in ("SELECT id, n / 0 FROM w", "SELECT id, s FROM w WHERE id = 3"):
        want = theirs(reference, sql)
        got = await ours(session, sql)
        assert got[1:] == want[1:], sql
