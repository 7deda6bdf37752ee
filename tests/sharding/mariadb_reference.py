"""The unsharded MariaDB reference of the SQLite differential tests: a fresh database
of the test's own name (with the pid, so parallel runs never share one), dropped
afterwards whatever happened."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio

from tests.conftest import MYSQL_HOST, MYSQL_PORT


def mysql_connect(database: str | None = None, *, autocommit: bool = False) -> Any:
    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user="root",
        password="",
        database=database,
        autocommit=autocommit,
    )


@contextlib.contextmanager
def reference_database(prefix: str, *statements: str) -> Iterator[tuple[str, Any]]:
    """``(name, cursor)`` of a new database ``<prefix>_<pid>`` in use, after running
    ``statements`` in it; dropped on exit."""
    name = f"{prefix}_{os.getpid()}"
    conn = mysql_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"USE `{name}`")
            for sql in statements:
                cur.execute(sql)
            yield name, cur
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


async def same_rows(session: Any, cur: Any, queries: Sequence[str], after: str = "") -> None:
    """Every query gives the same rows on ``session`` (shardgate) and ``cur`` (MariaDB)."""
    for q in queries:
        cur.execute(q)
        want = [tuple(r) for r in cur.fetchall()]
        rows = [tuple(r) for r in (await session.execute(q)).rows]
        assert rows == want, (after, q, rows, want)


async def same_writes(
    session: Any, cur: Any, writes: Sequence[str], queries: Sequence[str]
) -> None:
    """Each write on both: the same affected rows, then the same rows of every query."""
    for w in writes:
        want_affected = cur.execute(w)
        got = await session.execute(w)
        assert got.affected == want_affected, (w, got, want_affected)
        await same_rows(session, cur, queries, after=w)


async def same_errors(
    session: Any, cur: Any, statements: Sequence[str], code: int | None = None
) -> None:
    """Each statement fails on both with MariaDB's code (``code`` when given) and a
    message containing MariaDB's."""
    from sharding.errors import ShardgateError

    for w in statements:
        with pytest.raises(pymysql.MySQLError) as mine:
            cur.execute(w)
        with pytest.raises(ShardgateError) as ours:
            await session.execute(w)
        assert ours.value.code == mine.value.args[0], (w, ours.value)
        assert code is None or ours.value.code == code, (w, ours.value)
        assert mine.value.args[1] in ours.value.message, (w, ours.value.message)


@contextlib.asynccontextmanager
async def sqlite_twin(
    tmp_path: Path, name: str, *statements: str, shards: int = 4
) -> AsyncIterator[Any]:
    """A session on the SQLite default (``shards`` shards) using a database ``name``
    (the reference's own name) after running ``statements`` in it."""
    from sharding import Coordinator, Topology

    topo = Topology.default(tmp_path, default_shards=shards)
    async with Coordinator(topo, catalog_refresh=None) as coord:
        session = coord.open_session()
        await session.execute(f"CREATE DATABASE `{name}`")
        await session.execute(f"USE `{name}`")
        for sql in statements:
            await session.execute(sql)
        yield session


def run_twin(
    tmp_path: Path,
    prefix: str,
    setup: Sequence[str],
    check: Callable[[Any, Any, str], Awaitable[None]],
    *,
    shards: int = 4,
) -> None:
    """``check(session, cur, name)`` with a SQLite twin (``shards`` shards) and a
    MariaDB reference database ``<prefix>_<pid>`` (its ``name``), both after ``setup``."""
    with reference_database(prefix, *setup) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, *setup, shards=shards) as session:
                await check(session, cur, name)

        trio.run(main)


def typed_rows(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Rows with each value's Python type (``5`` is not ``'5'`` nor ``Decimal(5)``);
    a Decimal's text keeps its scale."""
    return [
        tuple((type(v).__name__, str(v) if isinstance(v, Decimal) else v) for v in row)
        for row in rows
    ]


def column_definitions(fields: Sequence[Any], lengths: bool) -> list[tuple[int, int, int, int]]:
    """(type code, length, decimals, NOT NULL) of MariaDB's column definitions; the
    length 0 unless ``lengths`` (an ``IN``'s: MariaDB sends 21 for one, 1 for another)."""
    return [(f.type_code, f.length if lengths else 0, f.scale, f.flags & 1) for f in fields]


async def same_typed(
    session: Any, cur: Any, sql: str, params: Sequence[Any] = (), *, lengths: bool = True
) -> None:
    """``sql`` (``?`` for each of ``params``) gives the same typed rows
    (:func:`typed_rows`) and column definitions (:func:`column_definitions`) on
    ``session`` (shardgate) and ``cur`` (MariaDB)."""
    cur.execute(sql.replace("?", "%s"), tuple(params) if params else None)
    want = typed_rows(cur.fetchall())
    fields = cur._result.fields  # MariaDB's column definitions, as PyMySQL read them
    got = await session.execute(sql, list(params) if params else None)
    assert typed_rows(got.rows) == want, (sql, params, got.rows[:5])
    assert got.columns is not None
    mine = [
        (c.wire.type, c.wire.length if lengths else 0, c.wire.decimals, c.wire.flags & 1)
        for c in got.columns
        if c.wire is not None
    ]
    want_definitions = column_definitions(fields, lengths)
    assert mine == want_definitions, (sql, mine, want_definitions)


def same_typed_results(
    tmp_path: Path,
    prefix: str,
    setup: Sequence[str],
    cases: Sequence[str | tuple[str, Sequence[Any]]],
    *,
    shards: int = 4,
    lengths: bool = True,
) -> None:
    """Each case (a statement, or one with its parameters) gives the same typed rows
    and column definitions (:func:`same_typed`) on a SQLite twin of ``shards`` shards
    as on MariaDB, both after ``setup``, in a reference database ``<prefix>_<pid>``
    (``SET NAMES utf8mb4``)."""
    with reference_database(prefix, *setup) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, *setup, shards=shards) as session:
                for case in cases:
                    sql, params = (case, ()) if isinstance(case, str) else case
                    await same_typed(session, cur, sql, params, lengths=lengths)

        trio.run(main)


def value_writes(pairs: Sequence[tuple[str, str]], *, upsert: bool = True) -> list[str]:
    """For each (column, value) of table ``t``: an INSERT of a new row (id 50), an
    UPDATE of row 1 and (``upsert``) an upsert of row 1 writing the value."""
    out: list[str] = []
    for column, value in pairs:
        out.append(f"INSERT INTO t (id, {column}) VALUES (50, {value})")
        out.append(f"UPDATE t SET {column} = {value} WHERE id = 1")
        if upsert:
            out.append(
                f"INSERT INTO t (id, {column}) VALUES (1, NULL) "
                f"ON DUPLICATE KEY UPDATE {column} = {value}"
            )
    return out
