"""``driver = "native"``: the MySQL data source on trio-native connections (issue 16).

:class:`~sharding.backend.mysql.MySQLDataSource` reaches its driver through three
parts — a driver adapter, a bridge to the driver's runtime, and the per-source "loop
side" (statements on the wire, the admin link: KILLs, health checks, breaker probes).
With the native driver (:mod:`sharding.backend.native`) the runtime *is* the caller's
trio run, so:

* :class:`NativeBridge` runs the call in the calling task (no thread, no loop, no
  hop) and binds itself to the first ``trio.run`` that uses it: any other run is
  refused at once with :class:`~sharding.backend.native.WrongRuntime` (a
  ``BridgeError``, reported as the data source being unavailable). Background jobs are
  trio system tasks of that run; when the run ends, the data source's connections are
  dropped (``on_loop_exit``), as with the trio-asyncio bridge.
* :class:`NativeSide` keeps the loop side's policy (KILL rate limit and queue, breaker
  decisions, counters — inherited) and replaces its asyncio mechanics: a statement is
  aborted by closing its socket (a connect by cancelling it), the admin link is a system task bounded with
  ``trio.fail_after``, and it looks at statements on the wire every
  ``HEARTBEAT_AFTER`` instead of arming a loop timer per statement.
* :class:`NativeDriver` adapts :class:`~sharding.backend.native.NativeConnection` to
  the backend's driver interface (same replies as the aiomysql adapter; ``execute_many``
  switches multi-statements on per batch with ``COM_SET_OPTION``, as aiomysql does).

Choice of default: aiomysql stays the default (works across ``trio.run`` calls, the
embedding contract); ``native`` is for the service, which runs in one ``trio.run``.
Numbers: ``bench.driver_overhead`` (module docstring of :mod:`sharding.backend.native`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
import trio

from sharding.backend.base import Column
from sharding.backend.bridge import AsyncFn, BridgeError, T
from sharding.backend.mysql import (
    HEARTBEAT_AFTER,
    PROBE_POLL,
    _Aborted,
    _Driver,
    _LoopSide,
    _Reply,
    _Stale,
    map_error,
)
from sharding.backend.mysql_drivers import warning_notes
from sharding.backend.native import (
    NativeConnection,
    NativeConnector,
    NativeResult,
    NativeStream,
    WrongRuntime,
)
from sharding.backend.url import MySQLURL

log = structlog.get_logger("shardgate.backend.native")

__all__ = ["NativeBridge", "NativeDriver", "NativeSide"]


class NativeBridge:
    """The :class:`~sharding.backend.bridge.Bridge` of native data sources: calls run in
    the caller's trio task; bound to the first ``trio.run`` that uses it."""

    name = "native"

    def __init__(self) -> None:
        self._token: trio.lowlevel.TrioToken | None = None
        self._exit_callbacks: list[Callable[[], Any]] = []
        self._watching = False

    def check(self) -> None:
        try:
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:
            raise BridgeError("native MySQL data source used outside trio.run") from None
        if self._token is None:
            self._token = token
        elif token is not self._token:
            raise WrongRuntime(
                "native MySQL data source used from another trio.run than the one that "
                "opened it (its connections belong to that run; create a new data source)"
            )

    async def run(self, fn: AsyncFn[T], *args: Any) -> T:
        self.check()
        return await fn(*args)

    def spawn(self, fn: AsyncFn[Any], *args: Any) -> None:
        self.check()

        async def guarded() -> None:
            # A system task that raises would crash the whole run: log instead.
            try:
                await fn(*args)
            except Exception as exc:
                log.warning("native_background_failed", job=repr(fn), error=repr(exc))

        trio.lowlevel.spawn_system_task(guarded)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        # Every function passed here is quick and synchronous (wake, queue a KILL,
        # close a socket); running it now is "soon" and needs no runtime.
        fn(*args)

    def on_loop_exit(self, fn: Callable[[], Any]) -> None:
        self._exit_callbacks.append(fn)
        if not self._watching:
            self._watching = True
            self.check()
            trio.lowlevel.spawn_system_task(self._watch_run_exit)

    def forget_loop_exit(self, fn: Callable[[], Any]) -> None:
        with contextlib.suppress(ValueError):
            self._exit_callbacks.remove(fn)

    async def _watch_run_exit(self) -> None:
        try:
            await trio.sleep_forever()
        finally:  # system tasks are cancelled when the run's main task ends
            for fn in list(self._exit_callbacks):
                with contextlib.suppress(Exception):
                    fn()


class _NativeOp:
    __slots__ = ("abort_reason", "conn", "scope", "started")

    def __init__(self, started: float, conn: Any) -> None:
        self.started = started
        self.conn = conn
        self.scope: trio.CancelScope | None = None
        self.abort_reason: str | None = None


class NativeSide(_LoopSide):
    """The loop side on trio (see the module docstring)."""

    async def run_op(self, conn: Any, fn: Any, *args: Any) -> Any:
        op = _NativeOp(time.monotonic(), conn)
        self.inflight[op] = None  # type: ignore[index]
        try:
            if conn is None:  # a connect: aborted by cancelling it
                op.scope = trio.CancelScope()
                with op.scope:
                    return await fn(*args)
                raise _Aborted(op.abort_reason or "connect aborted by the health check")
            # A statement is aborted by closing its socket (cheaper than a cancel
            # scope per statement): the blocked read fails, the connection is broken.
            return await fn(*args)
        except Exception:
            if op.abort_reason is not None:
                raise _Aborted(op.abort_reason) from None
            raise
        finally:
            self.inflight.pop(op, None)  # type: ignore[call-overload]

    async def op_fetch_raw(self, conn: Any, sql: str) -> _Reply:
        """What the loop side's ``op_fetch_raw`` does through ``run_op`` and the
        driver's ``fetch``, in one frame: a one-shard read relayed to the client (a
        point query) passes here, and each coroutine layer costs every call."""
        if not conn.usable():
            raise _Stale()
        op = _NativeOp(time.monotonic(), conn)
        self.inflight[op] = None  # type: ignore[index]
        try:
            reply = _reply(await conn.query(sql, raw=True))
            if reply.warnings and reply.fields:
                shown = await conn.query("SHOW WARNINGS")
                reply.notes = warning_notes(shown.rows)
            return reply
        except Exception:
            if op.abort_reason is not None:
                raise _Aborted(op.abort_reason) from None
            raise
        finally:
            self.inflight.pop(op, None)  # type: ignore[call-overload]

    async def op_stream_open(self, conn: Any, sql: str) -> tuple[Any, list[Column]]:
        if not self.driver.usable(conn):
            raise _Stale()
        cur: NativeStream = await self.run_op(conn, self.driver.stream_open, conn, sql)
        return cur, list(cur.columns or [])

    def wake(self) -> None:
        if self.wake_event is not None:
            self.wake_event.set()

    async def run(self) -> None:
        if self.running:
            return
        self.running = True
        try:
            while not self.stopping:
                delay = self._next_delay()
                if delay is None or delay > 0:
                    # Never asleep for longer than HEARTBEAT_AFTER: a statement that
                    # starts meanwhile is looked at without waking this task per query.
                    event = trio.Event()
                    self.wake_event = event  # type: ignore[assignment]
                    with trio.move_on_after(HEARTBEAT_AFTER if delay is None else delay):
                        await event.wait()
                    continue
                if not await self._step():
                    await trio.sleep(PROBE_POLL)
        finally:
            self.running = False
            self.wake_event = None
            if self.admin is not None:
                self.driver.close_hard(self.admin)
                self.admin = None

    async def _admin_conn(self, limit: float) -> Any:
        if self.admin is not None and not self.driver.usable(self.admin):
            self.driver.close_hard(self.admin)
            self.admin = None
        if self.admin is None:
            with trio.fail_after(limit):
                self.admin = await self.driver.connect(self.ds.url, limit, [])
        return self.admin

    async def _kill(self, thread_id: int) -> None:
        timeout = self.ds.config.validation_timeout
        try:
            with trio.fail_after(timeout):
                conn = await self._admin_conn(timeout)
                await self.driver.query(conn, f"KILL QUERY {int(thread_id)}")
            self.kills_sent += 1
        except (Exception, trio.TooSlowError) as exc:
            if getattr(exc, "args", (None,))[:1] == (1094,):  # unknown thread: gone already
                self.kills_sent += 1
                return
            self._drop_admin()
            log.warning(
                "kill_query_failed", datasource=self.name, thread_id=thread_id, error=repr(exc)
            )

    async def _ping_admin(self) -> None:
        timeout = self.ds.config.validation_timeout
        with trio.fail_after(timeout):
            conn = await self._admin_conn(timeout)
            await self.driver.ping(conn)

    async def _heartbeat(self) -> None:
        timeout = self.ds.config.validation_timeout
        self.heartbeats += 1
        try:
            await self._ping_admin()
        except Exception as exc:
            self._drop_admin()
            self._unhealthy(exc, isinstance(exc, trio.TooSlowError), timeout)
            return
        self.last_ok = time.monotonic()

    def _abort_all(self, reason: str) -> None:
        for entry in list(self.inflight):
            op: Any = entry  # a _NativeOp (the registry is typed for the loop side's _Op)
            if op.abort_reason is not None:
                continue
            op.abort_reason = reason
            self.aborted += 1
            if op.scope is not None:
                op.scope.cancel()
            else:
                self.driver.close_hard(op.conn)

    async def _probe(self) -> None:
        self.probes += 1
        try:
            await self._ping_admin()
        except Exception as exc:
            self._drop_admin()
            self.ds._breaker.failure(f"probe failed: {map_error(self.name, exc).message}")
            return
        self.last_ok = time.monotonic()
        self.ds._breaker.success()
        log.info("datasource_recovered", datasource=self.name)


def _reply(result: NativeResult) -> _Reply:
    # ``fields`` carries the finished columns (mysql.result_columns passes them on).
    return _Reply(
        None,
        result.rows,
        result.affected,
        result.insert_id or None,
        result.warnings,
        result.info,
        result.columns,
    )


class NativeDriver(_Driver):
    name = "native"
    relays = True

    async def connect(self, url: MySQLURL, limit: float, init: list[str]) -> NativeConnection:
        connector = NativeConnector(
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            database=url.database,
            unix_socket=url.unix_socket,
            connect_timeout=limit,
            init=tuple(init),
        )
        return await connector.connect()

    def usable(self, conn: Any) -> bool:
        return bool(conn.usable())

    def thread_id(self, conn: Any) -> int:
        return int(conn.thread_id)

    async def ping(self, conn: Any) -> None:
        await conn.ping()

    async def query(self, conn: Any, sql: str) -> _Reply:
        return _reply(await conn.query(sql))

    async def query_raw(self, conn: Any, sql: str) -> _Reply:
        return _reply(await conn.query(sql, raw=True))

    async def query_many(self, conn: Any, sqls: Sequence[str]) -> list[_Reply]:
        # As the aiomysql adapter (``_Driver._batched``): few COM_QUERY packets,
        # multi-statements on only for the batch, warnings listed per statement.
        return await self._batched(conn, sqls)

    async def _query_group(self, conn: Any, group: Sequence[str]) -> list[_Reply]:
        joined = ";\n".join(sql.rstrip().rstrip(";") for sql in group)
        return [_reply(r) for r in await conn.query_all(joined)]

    async def _set_multi_statements(self, conn: Any, on: bool) -> None:
        await conn.set_multi_statements(on)

    def close_hard(self, conn: Any) -> None:
        conn.close()

    async def close_graceful(self, conn: Any) -> None:
        try:
            with trio.move_on_after(1.0):
                await conn.aclose()
        finally:
            conn.close()

    async def stream_open(self, conn: Any, sql: str) -> NativeStream:
        stream: NativeStream = await conn.stream(sql)
        return stream

    async def stream_next(self, cursor: Any, n: int) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = await cursor.fetch(n)
        return rows

    async def stream_close(self, cursor: Any) -> None:
        await cursor.aclose()
