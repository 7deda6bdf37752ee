"""DECIMAL values the coordinator computes over SQLite shards (issue 15): MariaDB's scale.

Over merged aggregates the coordinator evaluates ``CASE``/``IF``/``COALESCE``/``IFNULL``
itself (:mod:`sharding.merge.evaluate`) and hands on the branch it takes as it is —
``1`` where MariaDB converts it to the expression's type, ``DECIMAL(2,1)``, and sends
``1.0``; the rows are shown at their column definition's scale
(:func:`sharding.merge.mysql_decimal.shown_at_scale`). Windows computed by each shard are
read through a derived table (``SELECT * FROM (…) AS sgw``, :mod:`sharding.sql.
window_plan`), whose values the shard's DECIMAL conversion
(:mod:`sharding.backend.sqlite_decimal_results`) now plans through: ``SUM(amount) OVER
(PARTITION BY id)`` is ``984.90``, not the REAL ``984.9``.

Each statement runs on a coordinator over 16 SQLite shard files (two-row chunks) and on
MariaDB; the values are compared with their Python type *and* their digits (``Decimal``
equality ignores the scale: ``Decimal('1') == Decimal('1.0')``), and each column's
``decimals`` with MariaDB's — in process, with ``?`` parameters, and over the wire: the
text protocol (PyMySQL) and the binary protocol of a server-prepared statement.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import AsyncIterator, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio

from sharding import Coordinator
from sharding.merge.mysql_decimal import shown_at_scale
from sharding.server import CoordinatorAdmin, MySQLServer, ServerConfig
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import in_thread
from tests.server.rawclient import RawClient, err_code
from tests.server.stmtclient import _lenenc, connect, parse_column
from tests.sharding.test_sqlite_mysql_semantics import topology
from tests.sharding.test_sqlite_mysql_writes2 import PREFIX, reference

__all__ = ["reference"]

SETUP = [
    "CREATE TABLE o (id INT PRIMARY KEY, g INT, amount DECIMAL(10,2), q INT, "
    "price DECIMAL(8,3), f DOUBLE)",
    "INSERT INTO o VALUES (1, 1, 10.50, 3, 1.100, 1.5), (2, 1, 20.20, 4, 2.000, 2), "
    "(3, 2, 5.00, 1, 0.5, NULL), (4, 2, 1.10, 2, 7.25, 0.25), (5, 3, NULL, NULL, NULL, NULL), "
    "(6, 1, 3.30, 5, 4.000, 1), (7, 4, 984.90, 1, 0.010, 3), (8, 4, 0.10, 2, 9.990, NULL)",
]

#: CASE/IF/COALESCE/IFNULL/NULLIF over merged aggregates: the branch taken converted to
#: the expression's type (an integer branch of a DECIMAL, a smaller scale, no rows).
BRANCHES = [
    "SELECT CASE WHEN COUNT(*) > 1 THEN 1 ELSE 0.5 END FROM o",
    "SELECT CASE WHEN COUNT(*) > 100 THEN 1 ELSE 0.5 END FROM o",
    "SELECT CASE WHEN COUNT(*) > 1 THEN 1 ELSE 0.5 END, COALESCE(MAX(amount), 7) FROM o",
    "SELECT IF(COUNT(*) > 1, SUM(amount), 0.125), IF(COUNT(*) > 1, 2, SUM(amount)) FROM o",
    "SELECT IF(COUNT(*) > 100, SUM(amount), 0.125) FROM o",
    "SELECT COALESCE(MAX(amount), 7.125), COALESCE(MIN(q), 0.5) FROM o",
    "SELECT IFNULL(SUM(amount), 0), COALESCE(SUM(amount), 0.5), IFNULL(AVG(q), 1) "
    "FROM o WHERE id < 0",
    "SELECT NULLIF(SUM(amount), 0), IFNULL(SUM(price), 0) FROM o",
    "SELECT g, CASE WHEN SUM(q) > 5 THEN SUM(amount) ELSE 0 END FROM o GROUP BY g ORDER BY g",
    "SELECT g, CASE g WHEN 1 THEN AVG(amount) ELSE 1 END FROM o GROUP BY g ORDER BY g",
    "SELECT g, IF(SUM(q) > 5, 1, 0.25) x FROM o GROUP BY g HAVING x > 0.5 ORDER BY g",
    "SELECT g, IF(SUM(q) > 5, 1, 0.25) x FROM o GROUP BY g ORDER BY x, g",
    "SELECT g, IF(COUNT(*) > 2, 1, 0.5) FROM o GROUP BY g WITH ROLLUP",
    "SELECT CASE WHEN COUNT(*) > 1 THEN 1 ELSE 0.5 END + 1, "
    "CASE WHEN COUNT(*) > 1 THEN 1 ELSE 0.5 END * 1.5 FROM o",
    # routed to one shard / a few: the shard computes the item itself
    "SELECT CASE WHEN COUNT(*) > 0 THEN 1 ELSE 0.5 END FROM o WHERE id = 1",
    "SELECT CASE WHEN COUNT(*) > 0 THEN 1 ELSE 0.5 END FROM o WHERE id IN (1, 2, 3)",
]

#: Arithmetic over merged SUM/AVG (exact already; kept so).
ARITHMETIC = [
    "SELECT SUM(amount) * 2, SUM(amount) + 1, SUM(amount) - 0.125, SUM(price) * SUM(amount) FROM o",
    "SELECT AVG(amount) + 1, AVG(amount) * 2, AVG(q) + 0.5, SUM(q) / 3, AVG(amount) / 2 FROM o",
    "SELECT SUM(amount) / COUNT(*), SUM(q) * 1.5, MAX(amount) - MIN(amount) FROM o",
    "SELECT g, SUM(amount) + SUM(price), AVG(price) - 1 FROM o GROUP BY g ORDER BY g",
    "SELECT -SUM(amount), ABS(SUM(amount) - 100), IFNULL(SUM(amount), 0) / 3 FROM o",
    "SELECT g, SUM(q), SUM(amount), AVG(q), MIN(price), MAX(amount) FROM o GROUP BY g ORDER BY g",
]

#: Windows over DECIMAL columns: computed by each shard (PARTITION BY the key) or by
#: the coordinator.
WINDOWS = [
    "SELECT id, SUM(amount) OVER (PARTITION BY id) s FROM o ORDER BY id",
    "SELECT id, amount, SUM(amount) OVER (PARTITION BY id) s FROM o WHERE id > 1 "
    "ORDER BY s DESC, id LIMIT 4",
    "SELECT id, AVG(price) OVER (PARTITION BY id) a, MAX(price) OVER (PARTITION BY id, g) m "
    "FROM o ORDER BY id",
    "SELECT id, SUM(q) OVER (PARTITION BY id) s, AVG(q) OVER (PARTITION BY id) a FROM o "
    "ORDER BY id",
    "SELECT id, SUM(amount) OVER (ORDER BY id) s, AVG(amount) OVER (ORDER BY id) a FROM o "
    "ORDER BY id",
    "SELECT id, SUM(amount) OVER (PARTITION BY g ORDER BY id) s, "
    "AVG(price) OVER (PARTITION BY g) a FROM o ORDER BY id",
]

SCRIPT = BRANCHES + ARITHMETIC + WINDOWS

#: With ``?``: a prepared statement's parameters (PyMySQL renders them on MariaDB).
PARAMETERIZED: list[tuple[str, list[Any]]] = [
    ("SELECT CASE WHEN COUNT(*) > ? THEN 1 ELSE 0.5 END FROM o", [1]),
    ("SELECT IF(COUNT(*) > ?, SUM(amount), 0.125) FROM o WHERE id > ?", [1, 2]),
    ("SELECT IFNULL(SUM(amount), 0) FROM o WHERE id < ?", [0]),
    ("SELECT id, SUM(amount) OVER (PARTITION BY id) s FROM o WHERE id > ? ORDER BY id", [3]),
]


def _shown(rows: Sequence[Sequence[Any]]) -> list[tuple[tuple[str, str], ...]]:
    """Each value's type and its digits (``str`` keeps a Decimal's scale)."""
    return [tuple((_kind(v), str(v)) for v in r) for r in rows]


def _kind(v: Any) -> str:
    return "Decimal" if isinstance(v, Decimal) else type(v).__name__


async def _compare(session: Any, cur: Any, sql: str, params: list[Any] | None = None) -> None:
    cur.execute(sql.replace("?", "%s") if params else sql, params)
    theirs = _shown(cur.fetchall())
    their_decimals = [d[5] for d in cur.description]
    result = await session.execute(sql, params)
    mine = _shown(result.rows)
    assert result.columns is not None
    my_decimals = [c.wire.decimals if c.wire is not None else None for c in result.columns]
    assert mine == theirs, (sql, params, mine, theirs)
    assert my_decimals == their_decimals, (sql, params, my_decimals, their_decimals)


@pytest.mark.mysql
async def test_merged_decimals_have_mariadbs_scale(reference: Any, tmp_path: Path) -> None:
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        session = coord.open_session(database="db")
        try:
            with reference.cursor() as cur:
                for sql in SETUP:
                    cur.execute(sql)
                    await session.execute(sql)
                for sql in SCRIPT:
                    await _compare(session, cur, sql)
                for sql, params in PARAMETERIZED:
                    await _compare(session, cur, sql, params)
        finally:
            await session.close()


def test_shown_at_scale_adds_digits_and_rounds_reals() -> None:
    """Exact values only gain digits; a REAL (SQLite's for an exact MySQL value) is its
    shortest text rounded half up at the scale."""
    rows = [(1, Decimal("1.5"), Decimal("2.125"), 3, 2.5, "x", None, True, 116902.24999999996)]
    got = shown_at_scale(rows, [1, 2, 2, None, 1, 1, 2, 1, 2])
    want = [
        (
            Decimal("1.0"),
            Decimal("1.50"),
            Decimal("2.125"),
            3,
            Decimal("2.5"),
            "x",
            None,
            True,
            Decimal("116902.25"),
        )
    ]
    assert got == want
    # Equal is not enough (2.5 == Decimal("2.5")): the types and digits are MySQL's.
    assert [(type(v), str(v)) for v in got[0]] == [(type(v), str(v)) for v in want[0]]
    assert shown_at_scale([(6.25e-05,)], [6]) == [(Decimal("0.000063"),)]
    assert shown_at_scale(rows, [None] * 9) is rows


# ---------------------------------------------------------------------- the wire
#: Statements whose every column is a DECIMAL: read back by both protocols.
WIRE = [
    "SELECT CASE WHEN COUNT(*) > 1 THEN 1 ELSE 0.5 END, IF(COUNT(*) > 1, 2, SUM(amount)) FROM o",
    "SELECT IFNULL(SUM(amount), 0), COALESCE(SUM(price), 0.5) FROM o WHERE id < 0",
    "SELECT SUM(amount) OVER (PARTITION BY id), AVG(price) OVER (PARTITION BY id) FROM o "
    "ORDER BY id",
    "SELECT AVG(amount) + 1, SUM(q) / 3 FROM o",
]


def _text(port: int, database: str, sql: str) -> tuple[list[tuple[str, ...]], list[int]]:
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="", database=database)
    with conn, conn.cursor() as cur:
        cur.execute(sql)
        rows = [tuple(str(v) for v in r) for r in cur.fetchall()]
        return rows, [d[5] for d in cur.description]


def _binary(port: int, database: str, sql: str) -> tuple[list[tuple[str, ...]], list[int]]:
    """Prepare and execute ``sql`` (binary protocol): each row's DECIMAL texts and the
    execution's column ``decimals``."""
    client: RawClient = connect(port, database)
    try:
        client.command(b"\x16" + sql.encode())
        _, first = client.read_packet()
        assert first[0] != 0xFF, (sql, err_code(first))
        stmt_id, ncols, _ = struct.unpack_from("<IHH", first, 1)
        for _ in range(ncols):
            client.read_packet()
        client.read_packet()  # EOF
        client.command(b"\x17" + struct.pack("<IBI", stmt_id, 0, 1))
        _, head = client.read_packet()
        assert head[0] != 0xFF, (sql, err_code(head))
        columns = [parse_column(client.read_packet()[1]) for _ in range(head[0])]
        client.read_packet()  # EOF
        assert all(c.type == 246 for c in columns), (sql, columns)
        rows: list[tuple[str, ...]] = []
        while True:
            _, pkt = client.read_packet()
            if pkt[0] == 0xFE and len(pkt) < 9:
                break
            assert pkt[0] == 0x00, (sql, pkt)
            nulls = pkt[1 : 1 + (len(columns) + 9) // 8]
            pos = 1 + len(nulls)
            row: list[str] = []
            for i in range(len(columns)):
                if nulls[(i + 2) // 8] & (1 << ((i + 2) % 8)):
                    row.append("None")
                    continue
                value, pos = _lenenc(pkt, pos)
                row.append(value.decode())
            rows.append(tuple(row))
        return rows, [c.decimals for c in columns]
    finally:
        client.close()


@pytest.fixture
async def served(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[tuple[int, str]]:
    """A server over SQLite shards and a MariaDB database, both holding :data:`SETUP`."""
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        cfg = ServerConfig(listen="127.0.0.1:0", default_database="db", shutdown_timeout=2.0)
        server = MySQLServer(cfg, coord, admin=CoordinatorAdmin(coord))
        await nursery.start(server.serve)
        for sql in SETUP:
            await coord.execute(sql)
        with reference_database() as name:
            try:
                yield server.port, name
            finally:
                server.shutdown()


@contextlib.contextmanager
def reference_database() -> Iterator[str]:
    """The MariaDB side of :func:`served`: ``<PREFIX>wire<pid>`` holding :data:`SETUP`."""
    name = f"{PREFIX}wire{os.getpid()}"

    def run(*statements: str) -> None:
        conn = pymysql.connect(
            host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
        )
        with conn, conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    run(f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`")
    try:
        run(f"USE `{name}`", *SETUP)
        yield name
    finally:
        run(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.mark.mysql
async def test_wire_values_and_decimals_match_mariadb(served: tuple[int, str]) -> None:
    """The text protocol and the binary protocol of a prepared statement: the same
    digits and column ``decimals`` as MariaDB's."""
    port, name = served

    def compare() -> None:
        for sql in WIRE:
            for read in (_text, _binary):
                mine = read(port, "db", sql)
                theirs = read(MYSQL_PORT, name, sql)
                assert mine == theirs, (read.__name__, sql, mine, theirs)

    await in_thread(compare)
