"""The trio transport: listeners, connection limits, registry, graceful shutdown.

    server = MySQLServer(config, session_factory, admin=CoordinatorAdmin(coord))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)        # bound; server.port is the real port
        ...
        server.shutdown()                        # SIGTERM: drain, then cancel

Three kinds of listener: the main MySQL port; the optional admin port (``admin_listen``,
like MariaDB's ``extra_port``), whose connections get no coordinator session at all and
answer only admin and session-state statements, so it works while every bucket is
saturated and even when ``max_connections`` is reached (it has its own limit); and the
optional HTTP port (:mod:`sharding.server.http`).

Shutdown (``shutdown()``, SIGTERM in the CLI): stop accepting; idle connections get
ER_SERVER_SHUTDOWN and close at once; running statements may finish for
``shutdown_timeout`` seconds; then they are cancelled (``Session.cancel()``) and, after
a short grace period, their tasks are cancelled outright.

Invariant: the registry holds exactly the connections whose handler is running
(registered before ``run``, removed in ``finally``), so the connection gauge, SHOW
PROCESSLIST and ``max_connections`` never drift.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Container
from typing import Any

import structlog
import trio

from sharding.api import SessionFactory
from sharding.server.admin import (
    AdminSource,
    ConnectionInfo,
    NullAdmin,
    processlist,
    snapshot_dict,
)
from sharding.server.auth import Authenticator
from sharding.server.codec import PacketCodec, err_packet
from sharding.server.config import ServerConfig, parse_hostport
from sharding.server.connection import WATCH_CLIENT_AFTER, ClientConnection, ClientWatch
from sharding.server.constants import ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN
from sharding.server.metrics import ServerMetrics

__all__ = ["MySQLServer"]

log = structlog.get_logger("shardgate.server")

_KILL_GRACE = 2.0


def _peer_of(stream: trio.abc.Stream) -> str:
    sock = getattr(stream, "socket", None)
    try:
        addr = sock.getpeername() if sock is not None else None
    except OSError:
        addr = None
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return "unknown"


async def _listen(address: str, what: str, reuse_port: bool = False) -> list[trio.SocketListener]:
    """Listeners on ``address``; a failure (port in use, ...) says which address and
    which setting, so start-up can report it in one line. ``reuse_port``: this worker's
    own SO_REUSEPORT socket on a port its peers share (sharding.server.workers)."""
    host, port = parse_hostport(address, what=what)
    try:
        if reuse_port:
            from sharding.server.workers import reuseport_listeners

            return reuseport_listeners(host, port)
        return await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        exc.shardgate_address = f"{host}:{port} ([server] {what})"  # type: ignore[attr-defined]
        raise


class MySQLServer:
    """Serves MySQL clients for a :class:`~sharding.api.SessionFactory`."""

    def __init__(
        self,
        config: ServerConfig,
        session_factory: SessionFactory | None,
        *,
        admin: AdminSource | None = None,
        status_extra: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        config.validate()
        self.config = config
        self.session_factory = session_factory
        self.admin: AdminSource = admin if admin is not None else NullAdmin()
        self.authenticator = Authenticator(config.users)
        self.metrics = ServerMetrics(self.admin)
        self.ssl_context = self._ssl_context(config)
        self.status_extra = status_extra
        self.draining = False
        #: Bound ports (0 until ``serve`` has started).
        self.port = 0
        self.admin_port: int | None = None
        self.http_port: int | None = None
        self._connections: dict[int, ClientConnection] = {}
        self._admin_connections = 0
        self._main_connections = 0
        self._next_id = 1
        self._started = time.monotonic()
        self._accepted = 0
        self._max_used = 0
        self._shutdown = trio.Event()
        self._all_closed = trio.Event()
        #: ``serve --workers N`` (sharding.server.workers) sets these three: listen with
        #: SO_REUSEPORT, allocate global connection ids, and the peer workers' view; a
        #: coordinator registered in its catalog (sharding.server.instances) sets the
        #: last two, ``cluster`` then also reaching the other coordinators.
        self.reuse_port = False
        self.allocate_id: Callable[[Container[int]], int] | None = None
        self.cluster: Any = None

    @staticmethod
    def _ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
        if config.tls_cert is None or config.tls_key is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(config.tls_cert, config.tls_key)
        return ctx

    # -- registry (ServerServices / ConnectionRegistry) -------------------------------

    def connection_infos(self) -> list[ConnectionInfo]:
        return [c.info_row() for c in list(self._connections.values())]

    def kill(self, connection_id: int, *, query_only: bool) -> bool:
        conn = self._connections.get(connection_id)
        if conn is None:
            return False
        conn.kill(query_only=query_only)
        return True

    def status_variables(self) -> dict[str, Any]:
        running = sum(1 for c in self._connections.values() if c.command != "Sleep")
        out: dict[str, Any] = {
            "Uptime": int(time.monotonic() - self._started),
            "Threads_connected": len(self._connections),
            "Threads_running": running,
            "Connections": self._accepted,
            "Max_used_connections": self._max_used,
            "Questions": self.metrics.questions,
            "Queries": self.metrics.questions,
        }
        if self.status_extra is not None:
            out.update(self.status_extra())
        return out

    def status(self) -> dict[str, Any]:
        """Everything /status shows (JSON-ready)."""
        pl = processlist(self.admin, self, full=False)
        names = [c.name for c in pl.columns or []]
        return {
            "server": {
                "version": self.config.server_version,
                "port": self.port,
                "admin_port": self.admin_port,
                "draining": self.draining,
                **self.status_variables(),
            },
            "buckets": [snapshot_dict(r) for r in self.admin.thread_pool_status()],
            "queries": [snapshot_dict(q) for q in self.admin.queries()],
            "datasources": [snapshot_dict(d) for d in self.admin.datasource_statistics()],
            "connections": [dict(zip(names, row, strict=True)) for row in pl.rows],
            "metrics": self.metrics.snapshot(),
        }

    # -- serving ----------------------------------------------------------------------

    def shutdown(self) -> None:
        """Begin graceful shutdown (idempotent; safe from any trio task)."""
        self._shutdown.set()

    async def serve(
        self, *, task_status: trio.TaskStatus[MySQLServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        main = await _listen(self.config.listen, "listen", self.reuse_port)
        self.port = main[0].socket.getsockname()[1]
        admin: list[trio.SocketListener] = []
        if self.config.admin_listen:
            admin = await _listen(self.config.admin_listen, "admin_listen", self.reuse_port)
            self.admin_port = admin[0].socket.getsockname()[1]
        http: list[trio.SocketListener] = []
        if self.config.http:
            http = await _listen(self.config.http, "http", self.reuse_port)
            self.http_port = http[0].socket.getsockname()[1]
        log.info("listening", port=self.port, admin_port=self.admin_port, http_port=self.http_port)
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as acceptors:
                acceptors.start_soon(self._accept, main, self._handle_main, connections)
                acceptors.start_soon(self._reap_idle)
                if admin:
                    acceptors.start_soon(self._accept, admin, self._handle_admin, connections)
                if http:
                    from sharding.server.http import HttpApp

                    app = HttpApp(self)
                    acceptors.start_soon(self._accept, http, self._guarded(app.handle), connections)
                task_status.started(self)
                await self._shutdown.wait()
                acceptors.cancel_scope.cancel()
            for listener in (*main, *admin, *http):
                await listener.aclose()
            await self._drain(connections)

    async def _reap_idle(self) -> None:
        """``wait_timeout``: ends the idle wait of every connection that has waited that
        long for its next command (:meth:`ClientConnection.idle_deadline`); and arms
        the reader of a connection whose statement runs long and whose client socket
        is readable (:class:`ClientWatch`). One task for
        the server instead of a deadline scope per connection and command. It sleeps
        until the earliest deadline it saw: a wait that begins later ends later (the
        timeout is the server's, the same for every connection), so none is missed."""
        watch = ClientWatch()
        try:
            while True:
                now = trio.current_time()
                # Also every WATCH_CLIENT_AFTER seconds: a statement running that long
                # gets its client watched (ClientWatch).
                wake = now + min(self.config.wait_timeout, WATCH_CLIENT_AFTER)
                clock = time.monotonic()
                due: list[ClientConnection] = []
                for conn in list(self._connections.values()):
                    if conn.watch_due(clock):
                        due.append(conn)
                    deadline = conn.idle_deadline()
                    if deadline is None:
                        continue
                    if deadline <= now:
                        conn.idle_expired()
                    elif deadline < wake:
                        wake = deadline
                watch.update(due)
                await trio.sleep_until(wake)
        finally:
            watch.close()

    async def _accept(
        self,
        listeners: list[trio.SocketListener],
        handler: Callable[[trio.SocketStream], Awaitable[None]],
        nursery: trio.Nursery,
    ) -> None:
        await trio.serve_listeners(handler, listeners, handler_nursery=nursery)

    @staticmethod
    def _guarded(
        handler: Callable[[trio.SocketStream], Awaitable[None]],
    ) -> Callable[[trio.SocketStream], Awaitable[None]]:
        async def run(stream: trio.SocketStream) -> None:
            try:
                await handler(stream)
            except Exception:
                log.exception("http connection crashed")

        return run

    async def _drain(self, connections: trio.Nursery) -> None:
        self.draining = True
        log.info("shutting down", connections=len(self._connections))
        if not self._connections:
            connections.cancel_scope.cancel()
            return
        for conn in list(self._connections.values()):
            conn.drain()
        with trio.move_on_after(self.config.shutdown_timeout):
            await self._all_closed.wait()
        if self._connections:
            log.warning(
                "shutdown deadline: cancelling running statements",
                connections=len(self._connections),
            )
            for conn in list(self._connections.values()):
                conn.cancel_running()
            with trio.move_on_after(_KILL_GRACE):
                await self._all_closed.wait()
        connections.cancel_scope.cancel()

    async def _refuse(self, stream: trio.SocketStream, code: int, sqlstate: str, msg: str) -> None:
        with trio.move_on_after(1):
            try:
                await stream.send_all(PacketCodec().frame(err_packet(code, sqlstate, msg)))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        with trio.CancelScope(shield=True):
            await stream.aclose()

    async def _handle_main(self, stream: trio.SocketStream) -> None:
        if self.draining:
            self.metrics.connections_refused.labels("shutdown").inc()
            await self._refuse(stream, ER_SERVER_SHUTDOWN, "08S01", "Server shutdown in progress")
            return
        if self._main_connections >= self.config.max_connections:
            self.metrics.connections_refused.labels("max_connections").inc()
            await self._refuse(stream, ER_CON_COUNT_ERROR, "08004", "Too many connections")
            return
        self._main_connections += 1
        try:
            await self._serve_connection(stream, self.session_factory, "main")
        finally:
            self._main_connections -= 1

    async def _handle_admin(self, stream: trio.SocketStream) -> None:
        if self._admin_connections >= self.config.admin_max_connections:
            self.metrics.connections_refused.labels("admin_max_connections").inc()
            await self._refuse(stream, ER_CON_COUNT_ERROR, "08004", "Too many connections")
            return
        self._admin_connections += 1
        try:
            await self._serve_connection(stream, None, "admin")
        finally:
            self._admin_connections -= 1

    async def _serve_connection(
        self, stream: trio.SocketStream, factory: SessionFactory | None, port_kind: str
    ) -> None:
        if self.allocate_id is not None:
            cid = self.allocate_id(self._connections)
        else:
            cid = self._next_id
            self._next_id = (self._next_id % 0xFFFFFFFF) + 1
        conn = ClientConnection(
            self, stream, connection_id=cid, peer=_peer_of(stream), session_factory=factory
        )
        self._connections[cid] = conn
        self._accepted += 1
        self._max_used = max(self._max_used, len(self._connections))
        self._all_closed = trio.Event() if self._all_closed.is_set() else self._all_closed
        self.metrics.connections_accepted.labels(port_kind).inc()
        gauge = self.metrics.connections.labels(port_kind)
        gauge.inc()
        try:
            await conn.run()
        except Exception:
            # A bug in one connection must never take the listener (and every other
            # client) down with it: log it and drop only this connection.
            log.exception("connection crashed", conn=cid, peer=conn.peer)
        finally:
            gauge.dec()
            del self._connections[cid]
            if not self._connections:
                self._all_closed.set()
