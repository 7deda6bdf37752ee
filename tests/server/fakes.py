"""A fake coordinator for protocol tests: sessions backed by one in-memory SQLite database.

Good enough to give real clients real results (rows, affected rows, insert ids, errors
with MySQL codes) without the coordinator. Deliberate simplifications:

* all sessions share one sqlite3 connection, run synchronously on the trio thread (each
  statement is atomic with respect to other trio tasks); a session that opens a
  transaction owns it until COMMIT/ROLLBACK, so tests use one transaction at a time;
* ``CREATE DATABASE x`` attaches an in-memory database ``x``; unqualified names resolve
  as SQLite does (main first);
* ``SELECT SLEEP(n)`` sleeps on trio and is what tests use for stuck statements: it
  honours ``Session.cancel()`` (raising ``QueryInterrupted``) and counts cancellations.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import trio

from sharding.api import Column, Result, Row
from sharding.backend.base import ColumnType
from sharding.errors import (
    BackendError,
    DuplicateKey,
    NotSupported,
    ParseError,
    QueryInterrupted,
    TableExists,
    UnknownDatabase,
    UnknownTable,
)

_SLEEP = re.compile(r"\s*(?:SELECT|DO)\s+SLEEP\s*\(\s*([\d.]+)\s*\)\s*;?\s*\Z", re.I)
_CREATE_DB = re.compile(
    r"\s*CREATE\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?\s*;?\s*\Z", re.I
)
_AUTOCOMMIT = re.compile(r"\s*SET\s+autocommit\s*=\s*([01])\s*\Z", re.I)
_BEGIN = re.compile(r"\s*(?:BEGIN(?:\s+WORK)?|START\s+TRANSACTION)\s*;?\s*\Z", re.I)
_COMMIT = re.compile(r"\s*COMMIT(?:\s+WORK)?\s*;?\s*\Z", re.I)
_ROLLBACK = re.compile(r"\s*ROLLBACK(?:\s+WORK)?\s*;?\s*\Z", re.I)
_FAIL = re.compile(r"\s*SELECT\s+FAIL\s*\(\s*(\d+)\s*\)", re.I)
_DML = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)


_MYSQL_STRING = re.compile(r"'((?:[^'\\]+|\\.|'')*)'", re.S)
_ESC = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a"}


def _sqlite_literals(sql: str) -> str:
    """MySQL string literals use backslash escapes; SQLite's do not."""
    if "\\" not in sql:
        return sql

    def fix(m: re.Match[str]) -> str:
        body = re.sub(r"\\(.)", lambda e: _ESC.get(e.group(1), e.group(1)), m.group(1), flags=re.S)
        return "'" + body.replace("''", "'").replace("'", "''") + "'"

    return _MYSQL_STRING.sub(fix, sql)


def _param(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.timedelta):
        return str(v)
    return v


class FakeSession:
    def __init__(self, factory: FakeSessionFactory, sid: int, user: str, database: str | None):
        self.factory = factory
        self._id = sid
        self.user = user
        self._database = database
        self._autocommit = True
        self._owns_tx = False
        self._sleep_scope: trio.CancelScope | None = None
        self.cancel_calls = 0
        self.interrupted = 0
        self.closed = False
        self.executed: list[tuple[str, Sequence[Any] | None]] = []

    @property
    def id(self) -> int:
        return self._id

    @property
    def database(self) -> str | None:
        return self._database

    @property
    def in_transaction(self) -> bool:
        return self._owns_tx

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        if self.closed:
            raise BackendError("session is closed")
        self.executed.append((sql, params))
        self.factory.executed += 1
        m = _SLEEP.match(sql)
        if m:
            return await self._sleep(float(m.group(1)))
        m = _FAIL.match(sql)
        if m:
            raise BackendError(f"requested failure {m.group(1)}", code=int(m.group(1)))
        if sql.strip().upper().startswith("SELECT BOOM"):
            raise RuntimeError("boom")  # a bug in the coordinator: must become 1105
        m = _CREATE_DB.match(sql)
        if m:
            name = m.group(1).lower()
            if name not in self.factory.databases:
                self.factory.db.execute(f"ATTACH DATABASE ':memory:' AS {name}")
                self.factory.databases.add(name)
            return Result(affected=1)
        m = _AUTOCOMMIT.match(sql)
        if m:
            self._autocommit = m.group(1) == "1"
            if self._autocommit and self._owns_tx:
                self._end("COMMIT")
            return Result()
        if _BEGIN.match(sql):
            if self._owns_tx:
                self._end("COMMIT")
            self._begin()
            return Result()
        if _COMMIT.match(sql):
            if self._owns_tx:
                self._end("COMMIT")
            return Result()
        if _ROLLBACK.match(sql):
            if self._owns_tx:
                self._end("ROLLBACK")
            return Result()
        if not self._autocommit and not self._owns_tx and _DML.match(sql):
            self._begin()
        return self._run(sql, params)

    def _begin(self) -> None:
        if self.factory.tx_owner is not None and self.factory.tx_owner is not self:
            raise NotSupported("fake: only one transaction at a time")
        self.factory.db.execute("BEGIN")
        self.factory.tx_owner = self
        self._owns_tx = True

    def _end(self, how: str) -> None:
        self.factory.db.execute(how)
        self.factory.tx_owner = None
        self._owns_tx = False

    def _run(self, sql: str, params: Sequence[Any] | None) -> Result:
        db = self.factory.db
        try:
            cur = db.execute(_sqlite_literals(sql), [_param(p) for p in params] if params else ())
            if cur.description is not None:
                rows = [tuple(r) for r in cur.fetchall()]
                return Result(columns=_declared(cur.description, rows), rows=rows)
            affected = max(cur.rowcount, 0)
            last = cur.lastrowid if _DML.match(sql) and affected else None
            return Result(affected=affected, last_insert_id=last)
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(f"Duplicate entry: {exc}") from exc
        except sqlite3.OperationalError as exc:
            msg = str(exc)
            if "no such table" in msg:
                raise UnknownTable(f"Table '{msg.split(':', 1)[1].strip()}' doesn't exist") from exc
            if "already exists" in msg:
                raise TableExists(msg) from exc
            if "syntax error" in msg or "incomplete input" in msg:
                raise ParseError(f"You have an error in your SQL syntax: {msg}") from exc
            raise BackendError(msg) from exc
        except sqlite3.Error as exc:
            raise BackendError(str(exc)) from exc

    async def _sleep(self, seconds: float) -> Result:
        with trio.CancelScope() as scope:
            self._sleep_scope = scope
            self.factory.sleeping += 1
            try:
                ex = self.factory.executor
                if ex is None:
                    await trio.sleep(seconds)
                else:
                    # Like a coordinator: one logical query, a child per "shard".
                    shards = self.factory.sleep_shards
                    async with ex.query(name=f"sleep-{self.id}", session=self.id) as q:
                        await q.map(trio.sleep, [seconds] * shards)
            finally:
                self.factory.sleeping -= 1
                self._sleep_scope = None
        if scope.cancelled_caught:
            self.interrupted += 1
            raise QueryInterrupted("Query execution was interrupted")
        return Result(columns=[Column("SLEEP", _LONGLONG, _BIGINT)], rows=[(0,)])

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> FakeResultStream:
        return FakeResultStream(self, sql, params)

    async def use(self, database: str) -> None:
        if database.lower() not in self.factory.databases:
            raise UnknownDatabase(f"Unknown database '{database}'")
        self._database = database
        await trio.lowlevel.checkpoint()

    def cancel(self) -> None:
        self.cancel_calls += 1
        if self._sleep_scope is not None:
            self._sleep_scope.cancel()

    async def close(self) -> None:
        if self._owns_tx:
            self._end("ROLLBACK")
        self.closed = True
        await trio.lowlevel.checkpoint()


class FakeResultStream:
    """The ResultStream contract over ``FakeSession.execute``: the statement runs on
    entering (errors surface there), then its rows come as one batch."""

    def __init__(self, session: FakeSession, sql: str, params: Sequence[Any] | None) -> None:
        self._session = session
        self._sql = sql
        self._params = params
        self._result: Result | None = None

    @property
    def columns(self) -> list[Column]:
        assert self._result is not None and self._result.columns is not None
        return self._result.columns

    async def __aenter__(self) -> FakeResultStream:
        self._result = await self._session.execute(self._sql, self._params)
        if self._result.columns is None:
            raise NotSupported("not a result set")  # the server streams only SELECT/WITH
        return self

    async def __aexit__(self, *_: object) -> None:
        await trio.lowlevel.checkpoint()

    async def __aiter__(self) -> AsyncIterator[list[Row]]:
        assert self._result is not None
        if self._result.rows:
            yield self._result.rows


class FakeSessionFactory:
    def __init__(self, executor: Any = None, sleep_shards: int = 4) -> None:
        #: Optional executor.BucketedExecutor: SLEEP then runs as an executor query.
        self.executor = executor
        self.sleep_shards = sleep_shards
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.databases = {"test", "main"}
        self.sessions: list[FakeSession] = []
        self.tx_owner: FakeSession | None = None
        self.executed = 0
        self.sleeping = 0
        self._next = 1000

    def open_session(self, *, user: str = "root", database: str | None = None) -> FakeSession:
        if database is not None and database.lower() not in self.databases:
            raise UnknownDatabase(f"Unknown database '{database}'")
        self._next += 1
        s = FakeSession(self, self._next, user, database)
        self.sessions.append(s)
        return s


_LONGLONG, _DOUBLE, _NULL, _VAR_STRING, _BLOB = 8, 5, 6, 253, 252
_BIGINT = ColumnType(_LONGLONG, 20, 128, 0, 63)
_KINDS = {
    int: _BIGINT,
    float: ColumnType(_DOUBLE, 22, 128, 31, 63),
    str: ColumnType(_VAR_STRING, 1020, 0, 0, 45),
    bytes: ColumnType(_BLOB, 0xFFFFFFFF, 144, 0, 63),
}


def _declared(description: Sequence[Any], rows: Sequence[Row]) -> list[Column]:
    """The fake's own column metadata, as a shard would send it (the protocol server
    never types a column from its values; this stand-in for a backend does, from the
    SQLite values it holds: integers BIGINT, reals DOUBLE, text VARCHAR, blobs BLOB,
    mixed or all-NULL columns text)."""
    out: list[Column] = []
    for i, d in enumerate(description):
        kinds = {type(r[i]) for r in rows if r[i] is not None}
        if kinds == {int, float}:
            kinds = {float}
        t = _KINDS.get(kinds.pop()) if len(kinds) == 1 else None
        if t is None:
            t = _KINDS[str] if kinds or rows else ColumnType(_NULL, 0, 128, 0, 63)
        out.append(Column(d[0], t.type, t))
    return out
