"""The MySQL/MariaDB data source: aiomysql (or asyncmy) on one asyncio loop, used from trio.

(``driver = "native"``: trio-native connections instead, no loop and no bridge; the
parts that differ live in :mod:`.native_backend`.)

Layers, each one concept:

* :class:`MySQLConfig` (:mod:`.mysql_config`) — the ``[[datasources]]`` keys for
  ``kind = "mysql"``, validated (unknown keys and bad values are rejected with the data
  source's name).
* ``_Driver`` adapters (:mod:`.mysql_drivers`) — the only code that touches
  aiomysql/asyncmy objects. Every one of their coroutines runs on the bridge's asyncio
  loop (:mod:`.bridge`). Error mapping: :mod:`.mysql_errors`; the session pin below:
  :mod:`.mysql_session`. This module re-exports their names.
* ``_LoopSide`` — per data source, on the driver loop: the registry of statements on the
  wire, and one *admin link* (a single extra connection) that
  - sends ``KILL QUERY <thread id>`` for statements whose trio caller was cancelled or
    timed out, rate-limited (token bucket, bounded queue, duplicates merged): closing a
    socket does not stop the server's work, but a KILL per socket would be a storm;
  - health-checks the server while a statement has been on the wire longer than
    ``HEARTBEAT_AFTER`` (a statement arms one loop timer if none is armed, rather than
    waking the admin task per statement): if a COM_PING gets no answer within
    ``validation_timeout`` the server is hung (SIGSTOP, dead host), so the breaker
    opens and every statement on the wire to it fails now with
    :class:`DataSourceUnavailable` — instead of hanging until the kernel gives up (a
    healthy server running a long query answers the ping);
  - probes the server in the background while the breaker is open, closing it again
    when the server answers (recovery without restart).
* :class:`MySQLConnection` — a borrowed connection on the trio side: one bridge hop per
  statement, error mapping, ``query_timeout``, cancellation → socket closed + KILL.
* :class:`MySQLDataSource` — the :class:`~sharding.backend.base.DataSource`: a
  :class:`~sharding.backend.pool.Pool` shared by every shard database on the server.

Session pin (issue 12): every backend connection starts with one statement,
:func:`session_init_sql`, that sets ``NAMES utf8mb4`` with :data:`DEFAULT_COLLATION` and
``sql_mode`` = :data:`BACKEND_SQL_MODE`, whatever the server's own defaults. Why: SQL the
coordinator sends is text it built itself or re-rendered with sqlglot, and how text is
*read* depends on the session's mode — under ``NO_BACKSLASH_ESCAPES`` a backslash-escaped
quote ends a string (values injected rows and stacked statements), under
``ANSI_QUOTES`` ``"x"`` is a column, ``PIPES_AS_CONCAT`` turns ``||`` into CONCAT. The
coordinator's own lexer and parser read client text in MySQL's default way, so the
backend must read what the coordinator sends the same way: the pinned mode never
contains :data:`PARSE_MODES`. Literals the coordinator renders
(:mod:`sharding.sql.literals`) are correct under every mode anyway (hex for anything
that is not plain ASCII); the pin covers sqlglot's rendering (backslash escapes) and
client text passed through verbatim (INSERT rows). The strictness part of the pin is
MariaDB's default (``STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO``, also valid on
MySQL 8), identical on every data source so shards of one table behave alike. A
session that changes ``sql_mode`` (session-variable propagation) must go through
:func:`backend_sql_mode`, which drops the parse-changing flags, and restore
:data:`BACKEND_SQL_MODE` before the connection goes back to the pool.

Multi-statements: the drivers always ask for ``CLIENT_MULTI_STATEMENTS``; the backend
clears that flag before the handshake, so a statement can never carry a second one
(``;`` inside a value cannot stack anything even if some text were misread).
``execute_many`` alone needs several statements per packet: with aiomysql it switches
the option on for that batch (``COM_SET_OPTION``) and off again before the connection
is used for anything else.

Reads: ``fetch`` uses the driver's buffered result (the whole chunk is returned anyway,
so an unbuffered cursor would save nothing and cost an await per row);
:meth:`MySQLConnection.stream` uses an unbuffered cursor for results that should not be
held in memory at once, one bridge hop per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
import trio

from sharding.backend.base import (
    Column,
    DataSource,
    DataSourceStatistics,
    ExecResult,
    ResultSet,
)
from sharding.backend.bridge import Bridge, BridgeError, make_bridge
from sharding.backend.mysql_config import MySQLConfig
from sharding.backend.mysql_drivers import (
    _DRIVERS,
    MULTI_STATEMENT_BYTES,
    NATIVE_DRIVER,
    _Aborted,
    _Driver,
    _driver_error_code,
    _fields_of,
    _packets,
    _Reply,
    _Stale,
    is_server_error,
    result_columns,
)
from sharding.backend.mysql_errors import map_error
from sharding.backend.mysql_session import (
    BACKEND_SQL_MODE,
    DEFAULT_COLLATION,
    PARSE_MODES,
    backend_sql_mode,
    session_init_sql,
)
from sharding.backend.pool import Breaker, Lease, Pool
from sharding.backend.url import parse_mysql_url
from sharding.errors import (
    DataSourceUnavailable,
    QueryTimeout,
)

__all__ = [
    "BACKEND_SQL_MODE",
    "DEFAULT_COLLATION",
    "HEARTBEAT_AFTER",
    "KILL_BURST",
    "KILL_QUEUE_MAX",
    "KILL_RATE",
    "MULTI_STATEMENT_BYTES",
    "NATIVE_DRIVER",
    "PARSE_MODES",
    "PROBE_POLL",
    "STALE_RETRIES",
    "MySQLConfig",
    "MySQLConnection",
    "MySQLDataSource",
    "MySQLExecResult",
    "RowStream",
    "_Aborted",
    "_Driver",
    "_LoopSide",
    "_Reply",
    "_Stale",
    "_packets",
    "backend_sql_mode",
    "from_config",
    "is_server_error",
    "map_error",
    "quote_ident",
    "result_columns",
    "session_init_sql",
]

log = structlog.get_logger("shardgate.backend.mysql")

#: A statement on the wire longer than this makes the admin link health-check the server.
HEARTBEAT_AFTER = 0.2
#: A borrow that finds its connection dead before sending anything swaps it at most
#: this many times (more means the server closes every new connection: report it).
STALE_RETRIES = 3
#: How often the admin link looks at an open breaker (the probe itself is rate-limited
#: by ``breaker_probe_interval``).
PROBE_POLL = 0.02
#: KILL QUERY rate limit per data source: bucket size and refill per second.
KILL_BURST = 32
KILL_RATE = 50.0
#: Pending KILLs beyond this are dropped (and counted): the sockets are closed anyway.
KILL_QUEUE_MAX = 256

# -- loop side -------------------------------------------------------------------------


class _Op:
    __slots__ = ("abort_reason", "started", "task")

    def __init__(self, task: asyncio.Task[Any] | None, started: float):
        self.task = task
        self.started = started
        self.abort_reason: str | None = None


class _LoopSide:
    """Per data source state on the driver loop. Every method runs on that loop."""

    def __init__(self, ds: MySQLDataSource) -> None:
        self.ds = ds
        self.name = ds.name
        self.driver = ds._driver
        self.inflight: dict[_Op, None] = {}
        self.kill_queue: deque[int] = deque()
        self.kill_pending: set[int] = set()
        self.kill_tokens = float(KILL_BURST)
        self.kill_refill_at = time.monotonic()
        self.admin: Any = None
        self.last_ok = 0.0
        self.stopping = False
        self.running = False
        self.wake_event: asyncio.Event | None = None
        self.heartbeat_timer: asyncio.TimerHandle | None = None
        # Counters (read from trio as plain ints).
        self.kills_sent = 0
        self.kills_dropped = 0
        self.heartbeats = 0
        self.aborted = 0
        self.probes = 0

    # statements on the wire

    async def run_op(self, conn: Any, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` as a tracked statement on ``conn`` (abortable by the admin link).

        Cancelled (by trio, or aborted by the health check) → ``conn`` is closed at once:
        its protocol state is unknown.
        """
        op = _Op(asyncio.current_task(), time.monotonic())
        self.inflight[op] = None
        if self.heartbeat_timer is None and self.running:
            # Waking the admin task at every statement costs a task step per query;
            # one timer per HEARTBEAT_AFTER is enough to notice a long statement.
            self.heartbeat_timer = asyncio.get_running_loop().call_later(
                HEARTBEAT_AFTER, self._heartbeat_due
            )
        try:
            return await fn(*args)
        except asyncio.CancelledError:
            if conn is not None:
                with contextlib.suppress(Exception):
                    self.driver.close_hard(conn)
            if op.abort_reason is not None:
                raise _Aborted(op.abort_reason) from None
            raise
        finally:
            self.inflight.pop(op, None)

    async def op_query(self, conn: Any, sql: str) -> _Reply:
        if not self.driver.usable(conn):
            raise _Stale()
        # A write (or any statement run for its count): its warnings' texts are read
        # right after it when its OK packet counted some (``_Driver.execute``).
        reply: _Reply = await self.run_op(conn, self.driver.execute, conn, sql)
        return reply

    async def op_fetch(self, conn: Any, sql: str) -> _Reply:
        """A read and, when it counted warnings, their texts (``_Driver.fetch``)."""
        if not self.driver.usable(conn):
            raise _Stale()
        reply: _Reply = await self.run_op(conn, self.driver.fetch, conn, sql)
        return reply

    async def op_fetch_raw(self, conn: Any, sql: str) -> _Reply:
        """:meth:`op_fetch` with each row as its packet's payload (``_Driver.relays``)."""
        if not self.driver.usable(conn):
            raise _Stale()
        reply: _Reply = await self.run_op(conn, self.driver.fetch, conn, sql, True)
        return reply

    async def op_query_many(self, conn: Any, sqls: Sequence[str]) -> list[_Reply]:
        if not self.driver.usable(conn):
            raise _Stale()
        replies: list[_Reply] = await self.run_op(conn, self.driver.query_many, conn, sqls)
        return replies

    async def op_ping(self, conn: Any) -> None:
        if not self.driver.usable(conn):
            raise ConnectionResetError("connection closed by the server")
        await self.run_op(conn, self.driver.ping, conn)

    async def op_connect(self) -> Any:
        # Tracked like a statement, so a hung server (TCP accepted, no greeting) is
        # detected by the health check instead of waiting out connect_timeout.
        cfg = self.ds.config
        return await self.run_op(
            None, self.driver.connect, self.ds.url, cfg.connect_timeout, self.ds._init_sql
        )

    async def op_stream_open(self, conn: Any, sql: str) -> tuple[Any, list[Column]]:
        if not self.driver.usable(conn):
            raise _Stale()
        cur = await self.run_op(conn, self.driver.stream_open, conn, sql)
        return cur, result_columns(_fields_of(cur), cur.description)

    async def op_stream_next(self, conn: Any, cur: Any, n: int) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = await self.run_op(conn, self.driver.stream_next, cur, n)
        return rows

    async def op_stream_close(self, conn: Any, cur: Any) -> None:
        await self.run_op(conn, self.driver.stream_close, cur)

    async def close_graceful(self, conn: Any) -> None:
        with contextlib.suppress(BaseException):
            await self.driver.close_graceful(conn)

    # admin link

    def wake(self) -> None:
        if self.wake_event is not None:
            self.wake_event.set()

    def _heartbeat_due(self) -> None:
        """A statement may have been on the wire for HEARTBEAT_AFTER: let the admin look."""
        self.heartbeat_timer = None
        if self.inflight:
            self.wake()

    def request_kill(self, thread_id: int) -> None:
        if thread_id in self.kill_pending:
            return
        if len(self.kill_queue) >= KILL_QUEUE_MAX:
            self.kill_pending.discard(self.kill_queue.popleft())
            self.kills_dropped += 1
        self.kill_queue.append(thread_id)
        self.kill_pending.add(thread_id)
        self.wake()

    def stop(self) -> None:
        self.stopping = True
        self.wake()

    async def run(self) -> None:
        """The admin link: KILLs, health checks, breaker probes. One task per data source."""
        if self.running:
            return
        self.running = True
        self.wake_event = asyncio.Event()
        try:
            while not self.stopping:
                delay = self._next_delay()
                if delay is None or delay > 0:
                    self.wake_event.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake_event.wait(), delay)
                    continue
                if not await self._step():
                    # Nothing was due after all: never spin without yielding the loop.
                    await asyncio.sleep(PROBE_POLL)
        finally:
            self.running = False
            if self.heartbeat_timer is not None:
                self.heartbeat_timer.cancel()
                self.heartbeat_timer = None
            if self.admin is not None:
                self.driver.close_hard(self.admin)
                self.admin = None

    def _next_delay(self) -> float | None:
        now = time.monotonic()
        delays: list[float] = []
        if self.kill_queue:
            self._refill(now)
            delays.append(0.0 if self.kill_tokens >= 1 else (1 - self.kill_tokens) / KILL_RATE)
        if self.ds._breaker.state != "closed":
            delays.append(PROBE_POLL)  # the breaker says when a probe is due
        elif self.inflight:
            oldest = min(op.started for op in self.inflight)
            due = max(oldest, self.last_ok) + HEARTBEAT_AFTER
            delays.append(max(0.0, due - now))
        return min(delays) if delays else None

    def _refill(self, now: float) -> None:
        self.kill_tokens = min(
            KILL_BURST, self.kill_tokens + (now - self.kill_refill_at) * KILL_RATE
        )
        self.kill_refill_at = now

    async def _step(self) -> bool:
        """Do the one most urgent admin job; False if none was due."""
        now = time.monotonic()
        if self.kill_queue and self.kill_tokens >= 1:
            self.kill_tokens -= 1
            tid = self.kill_queue.popleft()
            self.kill_pending.discard(tid)
            await self._kill(tid)
            return True
        if self.ds._breaker.state != "closed":
            if self.ds._breaker.allow():
                await self._probe()
                return True
            return False
        if self.inflight:
            oldest = min(op.started for op in self.inflight)
            if now - max(oldest, self.last_ok) >= HEARTBEAT_AFTER:
                await self._heartbeat()
                return True
        return False

    async def _admin_conn(self, limit: float) -> Any:
        if self.admin is not None and not self.driver.usable(self.admin):
            self.driver.close_hard(self.admin)
            self.admin = None
        if self.admin is None:
            self.admin = await asyncio.wait_for(self.driver.connect(self.ds.url, limit, []), limit)
        return self.admin

    def _drop_admin(self) -> None:
        if self.admin is not None:
            with contextlib.suppress(Exception):
                self.driver.close_hard(self.admin)
            self.admin = None

    async def _kill(self, thread_id: int) -> None:
        timeout = self.ds.config.validation_timeout
        try:
            conn = await self._admin_conn(timeout)
            await asyncio.wait_for(self.driver.query(conn, f"KILL QUERY {int(thread_id)}"), timeout)
            self.kills_sent += 1
        except Exception as exc:
            coded = _driver_error_code(exc)
            if coded is not None and coded[0] == 1094:  # unknown thread: already gone
                self.kills_sent += 1
                return
            self._drop_admin()
            log.warning(
                "kill_query_failed", datasource=self.name, thread_id=thread_id, error=repr(exc)
            )

    async def _heartbeat(self) -> None:
        timeout = self.ds.config.validation_timeout
        self.heartbeats += 1
        try:
            conn = await self._admin_conn(timeout)
            await asyncio.wait_for(self.driver.ping(conn), timeout)
        except Exception as exc:
            self._drop_admin()
            self._unhealthy(exc, isinstance(exc, TimeoutError), timeout)
            return
        self.last_ok = time.monotonic()

    def _unhealthy(self, exc: BaseException, hung: bool, timeout: float) -> None:
        """A failed health check: a hung server trips the breaker at once, an error
        counts as one failure; every statement in flight is aborted."""
        reason = (
            f"server did not answer a ping within {timeout:g}s"
            if hung
            else f"health check failed: {map_error(self.name, exc).message}"
        )
        if hung:
            self.ds._breaker.trip(reason)
        else:
            self.ds._breaker.failure(reason)
        self._abort_all(reason)
        log.warning("datasource_unhealthy", datasource=self.name, reason=reason)

    def _abort_all(self, reason: str) -> None:
        for op in list(self.inflight):
            if op.task is not None and not op.task.done():
                op.abort_reason = reason
                op.task.cancel()
                self.aborted += 1

    async def _probe(self) -> None:
        timeout = self.ds.config.validation_timeout
        self.probes += 1
        try:
            conn = await self._admin_conn(timeout)
            await asyncio.wait_for(self.driver.ping(conn), timeout)
        except Exception as exc:
            self._drop_admin()
            self.ds._breaker.failure(f"probe failed: {map_error(self.name, exc).message}")
            return
        self.last_ok = time.monotonic()
        self.ds._breaker.success()
        log.info("datasource_recovered", datasource=self.name)


# -- trio side -------------------------------------------------------------------------


class _RawMySQL:
    """A driver connection as the pool sees it (see pool.RawConnection)."""

    __slots__ = ("conn", "side", "thread_id")

    def __init__(self, side: _LoopSide, conn: Any) -> None:
        self.side = side
        self.conn = conn
        self.thread_id = side.driver.thread_id(conn)

    def is_usable(self) -> bool:
        # Reads two attributes of loop-owned objects: atomic under the GIL, and a stale
        # "True" is caught again on the loop before anything is sent (op_query).
        try:
            return self.side.driver.usable(self.conn)
        except Exception:
            return False

    async def ping(self) -> None:
        await self.side.ds._bridge.run(self.side.op_ping, self.conn)

    def close(self, *, graceful: bool) -> None:
        bridge = self.side.ds._bridge
        if graceful:
            try:
                bridge.spawn(self.side.close_graceful, self.conn)
                return
            except Exception:
                pass
        bridge.call_soon(self.side.driver.close_hard, self.conn)


class _Connector:
    def __init__(self, ds: MySQLDataSource) -> None:
        self.ds = ds

    async def connect(self) -> _RawMySQL:
        side = self.ds._side
        try:
            conn = await self.ds._bridge.run(side.op_connect)
        except trio.Cancelled:
            raise
        except Exception as exc:
            raise map_error(self.ds.name, exc) from exc
        return _RawMySQL(side, conn)


class MySQLConnection:
    """A borrowed connection (trio side). Not for concurrent use by several tasks."""

    def __init__(self, ds: MySQLDataSource, lease: Lease[_RawMySQL], *, in_transaction: bool):
        self._ds = ds
        self._lease = lease
        self._in_transaction = in_transaction
        self._sent = False  # a statement went out on this borrow: no silent retry

    @property
    def thread_id(self) -> int:
        pc = self._lease.pc
        assert pc is not None
        return pc.raw.thread_id

    @property
    def datasource(self) -> MySQLDataSource:
        return self._ds

    @property
    def lost(self) -> bool:
        """The connection is gone (closed after a cancelled or failed statement, or
        swapped out by a failed reconnect): inside a transaction, so is its work
        (:func:`sharding.backend.base.connection_lost`)."""
        pc = self._lease.pc
        return pc is None or pc.broken

    def _read(self, op: Any, sql: str) -> Awaitable[_Reply]:
        # Without a query_timeout, _statement is _call (one coroutine layer less).
        if self._ds.config.query_timeout is None:
            return self._call(op, sql)
        return self._statement(op, sql)

    async def fetch(self, sql: str) -> ResultSet:
        reply = await self._read(self._ds._side.op_fetch, sql)
        columns = result_columns(reply.fields, reply.description)
        return ResultSet(columns, reply.rows, reply.warnings, reply.notes)

    @property
    def relays(self) -> bool:
        """:meth:`fetch_relayed` hands the rows over unparsed (``driver = "native"``)."""
        return self._ds._driver.relays

    async def fetch_relayed(self, sql: str) -> ResultSet:
        """:meth:`fetch` with the rows as the shard sent them: ``payloads`` holds each
        row packet's payload, ``rows`` is empty. Only where :attr:`relays`."""
        reply = await self._read(self._ds._side.op_fetch_raw, sql)
        columns = result_columns(reply.fields, reply.description)
        return ResultSet(columns, [], reply.warnings, reply.notes, payloads=reply.rows)

    async def execute(self, sql: str) -> ExecResult:
        reply: _Reply = await self._statement(self._ds._side.op_query, sql)
        return _exec_result(reply)

    async def execute_many(self, sqls: Sequence[str]) -> list[ExecResult]:
        """Run ``sqls`` in order: one bridge hop for all of them and, with aiomysql,
        one round trip per ~1 MiB of statements (a multi-shard INSERT is hundreds of
        small statements on one connection; a hop and a round trip each were most of
        its cost). The first error ends the batch and is raised; the statements before
        it have run, so use it inside a transaction. ``query_timeout`` bounds the whole
        batch."""
        if not sqls:
            return []
        replies: list[_Reply] = await self._statement(self._ds._side.op_query_many, list(sqls))
        return [_exec_result(r) for r in replies]

    async def apply_settings(self, settings: Mapping[str, str] | None) -> None:
        """Make the connection's session variables ``settings`` (name → SQL literal),
        every variable not named back at its connect-time value; one ``SET``, sent only
        when the connection's applied state differs (ProxySQL-style tracking; see
        :mod:`sharding.exec.shard_settings`)."""
        pc = self._lease.pc
        assert pc is not None
        applied: Mapping[str, str] = pc.extra.get(_APPLIED, _NONE)
        want = settings or _NONE
        if applied == want:
            return
        parts = [f"{name} = {value}" for name, value in want.items() if applied.get(name) != value]
        baseline = self._ds.settings_baseline
        for name in applied:
            if name not in want:
                parts.append(f"{name} = {baseline.get(name, 'DEFAULT')}")
        if parts:
            await self.execute("SET SESSION " + ", ".join(parts))
        pc = self._lease.pc  # a stale connection may have been swapped by execute()
        if pc is not None:
            if want:
                pc.extra[_APPLIED] = dict(want)
            else:
                pc.extra.pop(_APPLIED, None)

    async def _statement(self, op: Any, payload: Any) -> Any:
        timeout = self._ds.config.query_timeout
        if timeout is None:
            return await self._call(op, payload)
        with trio.move_on_after(timeout):
            return await self._call(op, payload)
        self._ds._timeouts += 1
        raise QueryTimeout(
            f"{self._ds.name}: statement exceeded query_timeout={timeout:g}s "
            "(connection closed, KILL QUERY sent)"
        )

    async def _call(self, op: Any, payload: Any) -> Any:
        ds = self._ds
        for _attempt in range(STALE_RETRIES + 1):
            pc = self._lease.pc
            assert pc is not None, "connection used after a failed reconnect"
            try:
                reply = await (
                    op(pc.raw.conn, payload)
                    if ds._runs_in_caller
                    else ds._bridge.run(op, pc.raw.conn, payload)
                )
            except _Stale:
                if self._sent or self._in_transaction or _attempt == STALE_RETRIES:
                    pc.broken = True
                    ds._errors += 1
                    raise DataSourceUnavailable(
                        f"{ds.name}: connection was closed by the server"
                    ) from None
                await self._lease.replace()
                continue
            except BaseException as exc:
                self._sent = True
                self._fail(pc, exc)
                if isinstance(exc, Exception):
                    raise map_error(ds.name, exc) from exc
                raise
            self._sent = True
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def _fail(self, pc: Any, exc: BaseException) -> None:
        """Account for a failed statement: broken connections are closed, never reused."""
        ds = self._ds
        if isinstance(exc, Exception) and is_server_error(exc):
            ds._errors += 1
            return
        pc.broken = True
        if not isinstance(exc, Exception):
            # Cancelled mid-statement: the loop side closed the socket; stop the server.
            ds._request_kill(pc.raw.thread_id)
        else:
            ds._errors += 1

    def stream(self, sql: str, batch_rows: int = 1000) -> RowStream:
        """Read a result in batches with an unbuffered cursor (bounded memory).

            async with conn.stream(sql, batch_rows=1000) as batches:
                async for rows in batches: ...      # batches.columns is known after enter

        One bridge hop per batch. Leaving early discards the rest (the cursor is closed,
        bounded by ``validation_timeout``; if that fails the connection is dropped);
        cancellation closes the connection.
        """
        if batch_rows < 1:
            raise ValueError("batch_rows must be >= 1")
        return RowStream(self, sql, batch_rows)


class RowStream:
    """See :meth:`MySQLConnection.stream`. An async context manager and iterator."""

    def __init__(self, conn: MySQLConnection, sql: str, batch_rows: int) -> None:
        self._conn = conn
        self._sql = sql
        self._batch_rows = batch_rows
        self._cursor: Any = None
        self._done = False
        self.columns: list[Column] = []

    async def __aenter__(self) -> RowStream:
        conn, ds = self._conn, self._conn._ds
        pc = conn._lease.pc
        assert pc is not None
        try:
            self._cursor, columns = await ds._bridge.run(
                ds._side.op_stream_open, pc.raw.conn, self._sql
            )
        except _Stale:
            pc.broken = True
            raise DataSourceUnavailable(f"{ds.name}: connection was closed by the server") from None
        except BaseException as exc:
            conn._sent = True
            conn._fail(pc, exc)
            if isinstance(exc, Exception):
                raise map_error(ds.name, exc) from exc
            raise
        conn._sent = True
        self.columns = columns
        return self

    def __aiter__(self) -> RowStream:
        return self

    async def __anext__(self) -> list[tuple[Any, ...]]:
        if self._done or self._cursor is None:
            raise StopAsyncIteration
        conn, ds = self._conn, self._conn._ds
        pc = conn._lease.pc
        assert pc is not None
        try:
            rows: list[tuple[Any, ...]] = await ds._bridge.run(
                ds._side.op_stream_next, pc.raw.conn, self._cursor, self._batch_rows
            )
        except BaseException as exc:
            self._done = True
            conn._fail(pc, exc)
            if isinstance(exc, Exception):
                raise map_error(ds.name, exc) from exc
            raise
        if not rows:
            self._done = True
            raise StopAsyncIteration
        return rows

    async def __aexit__(self, *exc_info: object) -> None:
        if self._done or self._cursor is None:
            return
        self._done = True
        conn, ds = self._conn, self._conn._ds
        pc = conn._lease.pc
        if pc is None or pc.broken:
            return
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(ds.config.validation_timeout) as scope,
        ):
            try:
                await ds._bridge.run(ds._side.op_stream_close, pc.raw.conn, self._cursor)
            except BaseException:
                pc.broken = True
        if scope.cancelled_caught:
            pc.broken = True


_APPLIED = "session_settings"
_NONE: Mapping[str, str] = {}
_MATCHED = re.compile(r"Rows matched:\s*(\d+)")
_RECORDS = re.compile(r"Records:\s*(\d+)\s+Duplicates:\s*(\d+)")


@dataclass(slots=True)
class MySQLExecResult(ExecResult):
    """An OK packet with what its info text says: matched rows of an UPDATE
    (CLIENT_FOUND_ROWS answers), records and duplicates of a multi-row INSERT."""

    matched: int | None = None
    records: int | None = None
    duplicates: int | None = None


def _exec_result(reply: _Reply) -> ExecResult:
    if not reply.info:
        return ExecResult(reply.affected, reply.insert_id, reply.warnings, reply.notes)
    out = MySQLExecResult(reply.affected, reply.insert_id, reply.warnings, reply.notes)
    m = _MATCHED.search(reply.info)
    if m:
        out.matched = int(m.group(1))
    m = _RECORDS.search(reply.info)
    if m:
        out.records, out.duplicates = int(m.group(1)), int(m.group(2))
    return out


class _Borrow:
    """``MySQLDataSource.connection()``: written out rather than generated by
    ``@asynccontextmanager`` because every shard statement passes through it (a
    generator-based manager costs a generator and two extra frames per use).

    A block left by ``DataSourceUnavailable`` wakes the admin link (it probes the server
    and decides about the breaker at once)."""

    __slots__ = ("_acquire", "_ds", "_settings")

    def __init__(self, ds: MySQLDataSource, settings: Mapping[str, str] | None = None) -> None:
        self._ds = ds
        self._acquire: Any = None
        self._settings = settings

    async def __aenter__(self) -> MySQLConnection:
        ds = self._ds
        ds._ensure_usable()
        if not ds._admin_started:
            ds._start_admin()  # used without open(): KILLs and health checks still work
        self._acquire = ds._pool.acquire()
        try:
            lease = await self._acquire.__aenter__()
        except DataSourceUnavailable:
            ds._bridge.call_soon(ds._side.wake)
            raise
        conn = MySQLConnection(ds, lease, in_transaction=False)
        pc = lease.pc
        if self._settings or (pc is not None and _APPLIED in pc.extra):
            # The borrower's session variables, or the connect-time ones back.
            try:
                await conn.apply_settings(self._settings)
            except BaseException as exc:
                await self.__aexit__(type(exc), exc, exc.__traceback__)
                raise
        return conn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if exc_type is not None and issubclass(exc_type, DataSourceUnavailable):
            self._ds._bridge.call_soon(self._ds._side.wake)
        await self._acquire.__aexit__(exc_type, exc, tb)
        return False


class MySQLDataSource(DataSource):
    """One MySQL/MariaDB server with its pool; see the module docstring."""

    kind = "mysql"
    dialect = "mysql"
    supports_xa = True
    #: Borrows take session settings (``connection(settings=...)``).
    accepts_settings = True

    def __init__(self, name: str, config: MySQLConfig, *, bridge: Bridge | None = None) -> None:
        super().__init__(name)
        config.validate(name)
        self.config = config
        self.url = parse_mysql_url(config.url)
        native = config.driver == NATIVE_DRIVER
        if native:  # trio-native connections: no loop, no bridge (.native_backend)
            from sharding.backend import native_backend

            self._driver: _Driver = native_backend.NativeDriver()
            self._bridge: Bridge = native_backend.NativeBridge()
        else:
            self._driver = _DRIVERS[config.driver]()
            self._bridge = bridge if bridge is not None else make_bridge(config.bridge)
        #: Statements run in the calling task, not through the bridge: the native
        #: bridge's ``run`` only checks the runtime, which the borrow checked
        #: (``_ensure_usable``) and the connection checks at every command.
        self._runs_in_caller = native
        self._breaker = Breaker(config.breaker_threshold, config.breaker_probe_interval)
        self._init_sql: list[str] = [session_init_sql(config.max_statement_time)]
        #: Connect-time values (SQL literals) of the variables sessions may change,
        #: filled by the coordinator; a name missing here is restored with DEFAULT.
        self.settings_baseline: dict[str, str] = {}
        self._side = native_backend.NativeSide(self) if native else _LoopSide(self)
        self._pool: Pool[_RawMySQL] = Pool(
            name,
            _Connector(self),
            max_size=config.max_connections,
            min_idle=config.min_idle,
            acquire_timeout=config.acquire_timeout,
            validate_after=config.validate_after,
            validation_timeout=config.validation_timeout,
            connect_timeout=config.connect_timeout,
            max_lifetime=config.max_lifetime,
            idle_timeout=config.idle_timeout,
            breaker=self._breaker,
        )
        self._opened = False
        self._admin_started = False
        self._closed = False
        self._errors = 0
        self._timeouts = 0

    @classmethod
    def from_config(
        cls, name: str, mapping: Mapping[str, Any], *, bridge: Bridge | None = None
    ) -> MySQLDataSource:
        return cls(name, MySQLConfig.from_mapping(name, mapping), bridge=bridge)

    @property
    def pool(self) -> Pool[_RawMySQL]:
        return self._pool

    @property
    def breaker(self) -> Breaker:
        return self._breaker

    def __repr__(self) -> str:
        return f"<MySQLDataSource {self.name} {self.url.masked()}>"

    # lifecycle

    async def open(self) -> None:
        if self._closed:
            raise DataSourceUnavailable(f"{self.name}: data source is closed")
        try:
            self._bridge.check()
        except BridgeError as exc:
            raise map_error(self.name, exc) from None
        if self._opened:
            return
        self._start_admin()
        await self._pool.fill()
        async with self._pool.acquire():
            pass  # reachability check; leaves one idle connection behind
        self._opened = True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.close()
        self._bridge.call_soon(self._side.stop)
        self._bridge.forget_loop_exit(self._on_loop_exit)

    def _start_admin(self) -> None:
        if not self._admin_started:
            self._admin_started = True
            self._bridge.spawn(self._side.run)
            self._bridge.on_loop_exit(self._on_loop_exit)

    def _on_loop_exit(self) -> None:
        """The driver loop is going away: drop every connection that lives on it."""
        self._pool.close(graceful=False)
        self._side.stop()

    def _ensure_usable(self) -> None:
        if self._closed:
            raise DataSourceUnavailable(f"{self.name}: data source is closed")
        try:
            self._bridge.check()
        except BridgeError as exc:
            raise map_error(self.name, exc) from None

    def _request_kill(self, thread_id: int) -> None:
        self._bridge.call_soon(self._side.request_kill, thread_id)

    # borrowing

    def connection(
        self, databases: Sequence[str] = (), *, settings: Mapping[str, str] | None = None
    ) -> _Borrow:
        """Borrow a connection (autocommit) for an ``async with`` block, with the
        session variables ``settings`` applied (see
        :mod:`sharding.exec.shard_settings`); without, at their connect-time values."""
        return _Borrow(self, settings)

    @asynccontextmanager
    async def transaction(
        self, databases: Sequence[str] = (), *, settings: Mapping[str, str] | None = None
    ) -> AsyncIterator[MySQLConnection]:
        async with self.connection(databases, settings=settings) as conn:
            conn._in_transaction = True
            await conn.execute("BEGIN")
            try:
                yield conn
            except BaseException:
                pc = conn._lease.pc
                if pc is not None and not pc.broken:
                    with (
                        trio.CancelScope(shield=True),
                        trio.move_on_after(self.config.validation_timeout) as scope,
                    ):
                        try:
                            await conn.execute("ROLLBACK")
                        except Exception:
                            pc.broken = True
                    if scope.cancelled_caught:
                        pc.broken = True
                raise
            await conn.execute("COMMIT")

    async def ensure_database(self, database: str) -> None:
        # The charset and collation are explicit: merges compare text by the
        # coordinator's default collation (sharding.merge.semantics.MYSQL), which must
        # not depend on each server's own defaults (a bare mariadbd uses latin1).
        await self.execute(
            f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)} "
            f"CHARACTER SET utf8mb4 COLLATE {DEFAULT_COLLATION}"
        )

    def statistics(self) -> DataSourceStatistics:
        pool, side = self._pool, self._side
        return DataSourceStatistics(
            name=self.name,
            kind=self.kind,
            max_size=pool.max_size,
            size=pool.size,
            idle=pool.idle,
            in_use=pool.in_use,
            waiting=pool.waiting,
            acquired=pool.acquired,
            created=pool.created,
            closed=pool.closed_count,
            validations=pool.validations,
            validation_failures=pool.validation_failures,
            acquire_timeouts=pool.acquire_timeouts,
            errors=self._errors,
            breaker=self._breaker.state,
            extra={
                "opening": pool.opening,
                "peak_size": pool.peak_size,
                "connect_failures": pool.connect_failures,
                "connect_retries": pool.connect_retries,
                "stale_discards": pool.stale_discards,
                "query_timeouts": self._timeouts,
                "inflight": len(side.inflight),
                "kills_sent": side.kills_sent,
                "kills_dropped": side.kills_dropped,
                "kills_pending": len(side.kill_queue),
                "heartbeats": side.heartbeats,
                "aborted_by_health_check": side.aborted,
                "probes": side.probes,
                "breaker_opened": self._breaker.opened_count,
                "breaker_reason": self._breaker.reason,
                "driver": self.config.driver,
                "bridge": self.config.bridge,
            },
        )


def quote_ident(name: str) -> str:
    """Backquote a MySQL identifier (doubling embedded backquotes)."""
    if not name or "\x00" in name:
        raise ValueError(f"bad identifier {name!r}")
    return "`" + name.replace("`", "``") + "`"


def from_config(config: Any) -> MySQLDataSource:
    """Build from :class:`sharding.topology.DataSourceConfig` (``name``, ``url``, ``options``).

    The hook ``sharding.topology`` looks for; the options are the ``[[datasources]]``
    keys other than name/kind/url, validated by :meth:`MySQLConfig.from_mapping`.
    """
    return MySQLDataSource.from_config(config.name, {"url": config.url, **dict(config.options)})
