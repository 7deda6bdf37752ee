"""One client connection: handshake, authentication and the command loop over the codec.

Each connection is two trio tasks and a few buffers (no thread), so thousands of idle
clients cost little:

* the **command task** handshakes, then reads one command at a time, answers it (local
  session state, admin SQL, or ``Session.execute``) and flushes the response;
* the **reader task** (started after authentication) moves socket bytes into the codec
  while a statement runs, so a client that disconnects mid-query is noticed and its
  statement cancelled (``Session.cancel()``); to bound memory it pauses when more than
  ``_READ_HIGH_WATER`` bytes of pipelined commands wait while the command task is busy.
  On a plain TCP socket it is *armed lazily*: the command task reads its next command
  itself (one scheduler pass per command fewer than a hand-over from the reader: ~5 %
  of a point query's instructions), and the server's reaper arms the reader for a
  statement that has run ``WATCH_CLIENT_AFTER`` seconds when its client's socket is
  readable (:class:`ClientWatch`: one ``epoll`` set for all such connections) — a client
  gone during a long statement is noticed within about a second, a short one ends
  before it would matter, and a client that just waits costs nothing. TLS streams
  (and tests' memory streams) keep the reader armed throughout.

Invariants:

* Only the command task writes to the stream. At most one task reads from it after
  authentication (trio forbids concurrent waits on one socket): the command task while
  the reader is not armed (``_reading`` while it waits), the reader task while armed
  (``_reader_armed``); the reader is armed only while the command task is not reading,
  and the command task reads only while the reader is not armed.
* Every statement handed to the session is either answered (result, OK or error
  packet) or the connection is closed; a ``ShardgateError`` becomes an error packet with
  its code and SQLSTATE, any other exception becomes 1105 and is logged.
* On exit (QUIT, EOF, kill, idle timeout, shutdown, protocol error) the session is
  cancelled and closed, shielded and bounded in time, and the stream closed.
* A client that stops reading cannot pin the connection: a response write that would
  block runs in a cancel scope that ``KILL`` cancels and ``net_write_timeout`` bounds
  (per 64 KB piece, so a slow but steady reader is served); the write is then abandoned
  and the connection closed (:class:`WriteAborted`). (What the socket takes at once is
  written directly, with no scope: nothing there can block.) A command packet that
  stops arriving half-way is bounded by ``net_read_timeout`` (idle time between
  commands is ``wait_timeout``'s).
* A streamed result holds at most one batch and one ``_FLUSH_AT`` write buffer (its
  column definitions need no rows); the next batch is
  pulled only after the previous one was written, so a slow client slows the shard
  reads instead of growing buffers here.
* A SELECT runs in the command task (``Session.stream_into`` with a
  :class:`_ResultWriter` as its sink): no producer task, no channel. The writer's
  flushes happen inside the statement and are shielded from its cancellation, so
  ``KILL QUERY`` (or the watchdog) never cuts a packet in half: the bytes already
  encoded go out, then the result ends with 1317, as MySQL does. What may end such a
  write is what ends any write: ``KILL CONNECTION``, ``net_write_timeout``, and
  :meth:`ClientConnection.cancel_running` (the client gone, the shutdown deadline).

Cost of a cached single-shard point query (issue 16; ``SELECT c FROM sbtest1 WHERE
id = ?`` through ``shardgate serve``, one data source, 16 shards). User-space
instructions per query counted by valgrind (``python -m bench.point_instructions``,
PyMySQL text queries; exact, unlike CPU time on this shared machine), against the bare
trio relay of ``bench/relay.py`` (276 k):

=====================  ==================  ==================  =========
driver                 before (3747d76)    after               change
=====================  ==================  ==================  =========
``native``             2,508 k (9.1×)      878 k (3.2×)        −65 %
``aiomysql``           2,755 k (10.0×)     1,219 k (4.4×)      −56 %
=====================  ==================  ==================  =========

Under sysbench (``python -m bench.oltp``, same run as the relay, 1/8/32 threads,
prepared and text): 238–398 µs of coordinator CPU per point select with ``native``
(2.8–3.9× the relay's), 321–555 µs with aiomysql (3.8–5.8×); the tree before, measured
right after in the same way, spent 632–1,330 µs and 674–1,666 µs (4.7–11.5×); the
tables are in ``bench/README.md``. Issue 16's goal, 1.6× the relay, is not met. Since
then the metrics of each statement are plain numbers (``sharding/server/metrics.py``):
815 k instructions per point select with ``native`` (2.95× the relay). Later the idle
wait lost its cancel scope (``wait_timeout`` is the server's idle reaper's), result
headers are kept framed, and the one-shard SELECT passes two coroutine layers fewer:
~750 k against ~830 k for the tree before in the same runs (``--queries 1000``; relay
259 k: 2.9×). Then the command task began reading its commands itself, the reader
armed only for long statements (one scheduler pass and one task switch per command
fewer), with a cheaper read of the client's character set and of an integer shard
key: 671 k against 774 k just before (relay 253–259 k: 2.6×).

Where the remaining ~880 k go, measured layer by layer in process: the protocol loop of
this module with a session that answers at once, ~245 k (the relay's two directions:
276 k), the statement's processing here ~75 k, the Prometheus metrics of each
statement ~70 k (``ServerMetrics.observe``: two ``labels()`` lookups, a histogram and
the per-second history, each under a lock; since replaced by plain counters), the
session's statement ~150 k, the
one-child executor query ~90 k, and the data source's borrow and round trip ~225 k.
What this module does per statement to stay near the relay:

* on plain TCP no hand-over at all: the command task reads its next command from the
  socket itself (:meth:`ClientConnection._read_directly`); with the reader armed
  (TLS, a long statement) one wake-up per command (a reusable :class:`_Signal`, not a
  ``trio.Event`` per wait); no cancel scope for the idle wait (a scope with a deadline
  is ~55 k instructions: ``wait_timeout`` is the server's idle reaper's,
  ``MySQLServer._reap_idle``, and ``KILL``/``drain()`` end the wait with a wake-up,
  :meth:`ClientConnection._end_idle_wait`), the first word read with one regular
  expression, a statement without ``;`` not scanned for more;
* socket reads and writes that do not block are plain ``read``/``write`` calls
  (:func:`_receive`, :func:`_write_now`), not a trip through trio's scheduler each;
* result headers described and encoded once per set of columns (:func:`_header_of`),
  and kept framed (column count, definitions, EOF) per first sequence id and status;
  status flags and capabilities as plain ints (``IntFlag`` arithmetic builds objects);
* rows relayed, not re-encoded: a statement that runs whole on one MariaDB shard
  through ``driver = "native"``, for a client reading text results in UTF-8 (or
  unconverted), gets the shard's row packets as the shard wrote them, framed with this
  result's sequence ids (:meth:`_ResultWriter.relayed`; the header is still the
  coordinator's, with the logical names). No value is parsed or written again, so the
  text is MariaDB's own byte for byte (``tests/fidelity/test_relay.py`` compares with a
  raw client on both sides); the server's ``shardgate_rows_relayed`` counts them. A
  prepared statement's binary rows and other ``character_set_results`` are encoded
  from the parsed values as before.
"""

from __future__ import annotations

import math
import os
import re
import select
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
import trio

from executor import unwrap_group
from sharding.api import (
    ClientInfo,
    Column,
    Result,
    ResultStream,
    Row,
    Session,
    SessionFactory,
    charset_of_collation_id,
    debug_enabled,
    decode_statement,
    result_encoder,
)
from sharding.errors import NotSupported, QueryInterrupted, ShardgateError
from sharding.server import admin as admin_sql
from sharding.server.auth import CACHING_SHA2, Authenticator, make_nonce
from sharding.server.codec import (
    ColumnDef,
    MalformedPacket,
    PacketCodec,
    PayloadReader,
    ProtocolError,
    auth_more_data,
    auth_switch_request,
    column_count,
    column_definition,
    eof_packet,
    err_packet,
    handshake_v10,
    ok_packet,
    parse_change_user,
    parse_handshake_response,
)
from sharding.server.config import ServerConfig
from sharding.server.constants import (
    ER_ACCESS_DENIED_ERROR,
    ER_CLIENT_INTERACTION_TIMEOUT,
    ER_CONNECTION_KILLED,
    ER_NET_READ_INTERRUPTED,
    ER_SERVER_SHUTDOWN,
    ER_UNKNOWN_COM_ERROR,
    ER_UNKNOWN_ERROR,
    ER_UNKNOWN_STMT_HANDLER,
    SERVER_CAPABILITIES,
    Capability,
    Command,
    FieldType,
    ServerStatus,
)
from sharding.server.infile import load_data_local
from sharding.server.localsql import (
    SessionVariables,
    default_variables,
    local_select,
    local_set,
    local_show,
)
from sharding.server.metrics import ServerMetrics
from sharding.server.sqlscan import (
    EmptyStatement,
    count_placeholders,
    expand_executable_comments,
    leading_words,
    script,
    split_statements,
    strip_comments_and_space,
    unwrap_executable_comment,
)
from sharding.server.types import (
    WireColumn,
    announced_definition,
    decode_binary_params,
    describe_columns,
    encode_binary_row,
    in_results_charset,
    text_row_encoder,
)

__all__ = ["ClientConnection", "ClientWatch", "ServerServices"]

log = structlog.get_logger("shardgate.server")

_RECV_SIZE = 256 * 1024
#: Seconds a statement runs before the reader task watches its client (plain TCP).
WATCH_CLIENT_AFTER = 0.5
_READ_HIGH_WATER = 4 << 20
_FLUSH_AT = 256 * 1024
#: A response is written in pieces of at most this size, each under its own
#: net_write_timeout: a client that reads slowly but steadily is served (as MySQL's
#: per-write timeout), one that reads nothing for net_write_timeout is dropped.
_WRITE_PIECE = 64 * 1024
#: How long the last packet to a killed connection (its error) may take to write.
_KILLED_WRITE_GRACE = 1.0
_MAX_PREPARED = 16382
_INFO_CHARS = 1024


class ServerServices(Protocol):
    """What a connection needs from its server."""

    config: ServerConfig
    authenticator: Authenticator
    admin: admin_sql.AdminSource
    metrics: ServerMetrics
    ssl_context: ssl.SSLContext | None
    draining: bool
    port: int

    def connection_infos(self) -> list[admin_sql.ConnectionInfo]: ...

    def kill(self, connection_id: int, *, query_only: bool) -> bool: ...

    def status_variables(self) -> dict[str, Any]: ...


class ClientGone(Exception):
    """The client closed the connection (EOF) during the handshake."""


class WriteAborted(trio.BrokenResourceError):
    """A response write was abandoned (``KILL``, ``net_write_timeout``). The stream may
    stop in the middle of a packet, so the connection can only be closed."""


class NetReadTimeout(ProtocolError):
    """A command packet stopped arriving half-way (``net_read_timeout``)."""

    code = ER_NET_READ_INTERRUPTED


class _ReplayStream(trio.abc.Stream):
    """A stream that first returns bytes already read (TLS ClientHello after SSLRequest)."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
        self.inner = inner
        self.prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self.prefix:
            n = len(self.prefix) if max_bytes is None else max_bytes
            out, self.prefix = self.prefix[:n], self.prefix[n:]
            await trio.lowlevel.checkpoint()
            return out
        return await self.inner.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(slots=True)
class PreparedStatement:
    id: int
    sql: str
    num_params: int
    types: list[tuple[int, bool]] | None = None
    long_data: dict[int, bytearray] = field(default_factory=dict)


#: Errors MySQL already gives at COM_STMT_PREPARE: syntax, no database, unknown
#: database/table/column, ambiguous column; and a SELECT the coordinator cannot run
#: whatever the values (1235): refused at prepare rather than at every execution.
_PREPARE_ERRORS = frozenset({1046, 1049, 1052, 1054, 1064, 1146, 1235})
#: Statements whose result sets are streamed from the session (bounded memory).
_STREAMED_FIRST_WORDS = frozenset({"SELECT", "WITH"})

_USE = re.compile(r"\s*USE\s+(?:`((?:[^`]|``)+)`|([A-Za-z0-9_$]+))\s*;?\s*\Z", re.I | re.S)
_LOCAL_FIRST_WORDS = frozenset({"SELECT", "SET", "SHOW", "USE", "KILL"})


class ClientWatch:
    """Which clients of long statements have something to say (the server's reaper).

    A statement that has run ``WATCH_CLIENT_AFTER`` with nothing reading its client
    (:meth:`ClientConnection.watch_due`) gets the client's socket registered in one
    level-triggered ``epoll`` set, once; each reaper turn asks the set with one
    ``poll(0)`` and arms the reader of each readable client — it closed the socket
    (EOF, reset) or sent more (pipelined commands). A client that just waits for its
    answer — every client of a busy server, where statements queue for seconds —
    costs no reader wake-up, no hand-over of its next command, and no syscall per
    turn (building a ``poll`` set of 4096 sockets twice a second was ~2 % of the CPU at
    4096 clients, and arming every reader about as much: ``bench.concurrency``). A
    client gone is still noticed within a reaper period."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._fds: dict[ClientConnection, int] = {}
        self._by_fd: dict[int, ClientConnection] = {}

    def update(self, due: Sequence[ClientConnection]) -> int:
        """Watch exactly ``due`` (forget the others), then arm the readers of those
        whose client is readable. Returns how many readers were armed."""
        armed = 0
        watched = self._fds
        if watched:
            keep = set(due)
            for conn in [c for c in watched if c not in keep]:
                self._forget(conn)
        for conn in due:
            if conn in watched:
                continue
            fd = conn.client_fd()
            try:
                if fd < 0:
                    raise OSError("not a plain socket")
                self._epoll.register(fd, select.EPOLLIN | select.EPOLLRDHUP)
            except OSError:
                conn.arm_reader()  # nothing to watch it with: let the reader read
                armed += 1
                continue
            watched[conn] = fd
            self._by_fd[fd] = conn
        if watched:
            for fd, _events in self._epoll.poll(0):
                ready = self._by_fd.get(fd)
                if ready is not None:
                    self._forget(ready)
                    ready.arm_reader()
                    armed += 1
        return armed

    def _forget(self, conn: ClientConnection) -> None:
        fd = self._fds.pop(conn)
        # A closed client's descriptor may already serve a newer connection (its
        # registration went with the socket): that one's entry stays.
        if self._by_fd.get(fd) is conn:
            del self._by_fd[fd]
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):
            pass  # closed since (the kernel dropped it with the socket)

    def close(self) -> None:
        self._fds.clear()
        self._by_fd.clear()
        self._epoll.close()


class ClientConnection:
    """Serves one client until it quits, disconnects, is killed or the server stops."""

    def __init__(
        self,
        server: ServerServices,
        stream: trio.abc.Stream,
        *,
        connection_id: int,
        peer: str,
        session_factory: SessionFactory | None,
    ) -> None:
        self.server = server
        self.stream: trio.abc.Stream = stream
        self.connection_id = connection_id
        self.peer = peer
        self.host = peer.rsplit(":", 1)[0] if ":" in peer else peer
        #: None on the admin port: only admin and session-state statements are served.
        self.session_factory = session_factory
        cfg = server.config
        self.codec = PacketCodec(max_packet_size=cfg.max_packet_size)
        self.capabilities = 0
        #: The character set the client named in its handshake response.
        self.handshake_charset = "utf8mb4"
        self.user = ""
        #: The logged-in user's privileges (sharding.server.auth) and transport.
        self.privileges: frozenset[str] = frozenset()
        self.tls = False
        self.session: Session | None = None
        self._admin_database: str | None = None
        self.variables = SessionVariables(
            default_variables(
                server_version=cfg.server_version,
                max_allowed_packet=cfg.max_packet_size,
                wait_timeout=int(cfg.wait_timeout),
                port=server.port,
            )
        )
        self._show_net_timeouts()
        self.last_insert_id = 0
        self.diagnostics: list[tuple[str, int, str]] = []
        self.command = "Connect"
        self.state = "login"
        self.info: str | None = None
        self.command_started = time.monotonic()
        self.multi_statements = False
        self._statements: dict[int, PreparedStatement] = {}
        self._next_stmt_id = 1
        self._out = bytearray()
        self._eof = False
        self._waiting = False  # command task is waiting for the next packet
        self._wakeup = _Signal()
        self._reader_resume = trio.Event()
        #: Plain TCP after authentication: the command task reads commands itself and
        #: the reader is armed only for long statements (module docstring).
        self._direct_reads = False
        #: The reader task reads the socket (or is about to); else it is parked.
        self._reader_armed = True
        self._arm = _Signal()
        #: The command task waits in its own read of the socket.
        self._reading = False
        self._running = False  # a statement is inside Session.execute
        self._killed = False
        #: The handshake's nonce: COM_CHANGE_USER answers it again (no auth switch).
        self._nonce = b""
        #: When the idle wait for the next command began (trio time), None outside it.
        #: Its wait_timeout is enforced by the server's idle reaper
        #: (:meth:`idle_deadline`, :meth:`idle_expired`), not by a cancel scope here.
        self._idle_since: float | None = None
        #: Why the idle wait was ended from outside (``"killed"``, ``"drain"``,
        #: ``"timeout"``), or None.
        self._idle_end: str | None = None
        #: drain() ended the idle wait (not its wait_timeout deadline).
        self._idle_interrupted = False
        #: Scope of the response write in progress: KILL cancels it (a client that
        #: stopped reading would otherwise hold the connection until it dies).
        self._write_scope: trio.CancelScope | None = None
        self._write_killed = False
        #: Why cancel_running() abandoned a write inside a statement (see _ResultWriter).
        self._write_abandoned: str | None = None
        #: KILL QUERY hit the running statement: stop sending its rows.
        self._query_killed = False
        #: The result writer of the running statement while it flushes rows.
        self._writer: _ResultWriter | None = None

    # -- LocalContext / registry view -------------------------------------------------

    @property
    def database(self) -> str | None:
        return self.session.database if self.session is not None else self._admin_database

    @property
    def autocommit(self) -> bool:
        return self.session.autocommit if self.session is not None else True

    @property
    def killed(self) -> bool:
        return self._killed

    @property
    def deprecate_eof(self) -> bool:
        return bool(self.capabilities & _DEPRECATE_EOF)

    def info_row(self) -> admin_sql.ConnectionInfo:
        return admin_sql.ConnectionInfo(
            id=self.connection_id,
            user=self.user,
            host=self.peer,
            db=self.database,
            command="Killed" if self._killed else self.command,
            time=time.monotonic() - self.command_started,
            state=self.state,
            info=self.info,
            session_id=self.session.id if self.session is not None else None,
        )

    def kill(self, *, query_only: bool) -> None:
        """``KILL QUERY`` (cancel the running statement) or ``KILL CONNECTION``.

        A connection blocked writing to a client that stopped reading is closed at once
        by ``KILL CONNECTION`` (its write is abandoned). ``KILL QUERY`` cancels the
        statement and its shard reads; the rows already encoded still wait for the
        client (or ``net_write_timeout``), then the result ends with 1317.
        """
        if self.session is not None and self._running:
            self._query_killed = True
            self.session.cancel()
        if not query_only:
            self._killed = True
            self._end_idle_wait("killed")
            if self._write_scope is not None:
                self._write_killed = True
                self._write_scope.cancel()

    def drain(self) -> None:
        """Graceful shutdown: close now if idle, else after the running command."""
        if self._idle_since is not None:
            self._idle_interrupted = True
            self._end_idle_wait("drain")

    def idle_deadline(self) -> float | None:
        """When this connection's idle wait reaches ``wait_timeout`` (trio time), or
        None when it is not waiting for a command."""
        since = self._idle_since
        if since is None or self._idle_end is not None:
            return None
        return since + self.server.config.wait_timeout

    def idle_expired(self) -> None:
        """The server's idle reaper: ``wait_timeout`` passed in the idle wait."""
        self._end_idle_wait("timeout")

    def _end_idle_wait(self, why: str) -> None:
        """End the idle wait for the next command (if the command task is in it): it
        returns at once and the command loop answers why. One wake-up instead of a
        cancel scope per command (a scope costs ~50 k instructions)."""
        if self._idle_since is not None and self._idle_end is None:
            self._idle_end = why
            self._wakeup.set()
            if self._reading:
                # The command task waits in its own socket read: wake it (it returns
                # at once; the connection closes after this idle wait's answer).
                assert isinstance(self.stream, trio.SocketStream)
                trio.lowlevel.notify_closing(self.stream.socket)

    def cancel_running(self) -> None:
        """The client is gone (EOF) or the server's shutdown deadline passed: cancel the
        running statement, and abandon a result write the statement is blocked in
        (shielded from the statement's cancellation, see :class:`_ResultWriter`)."""
        if self.session is not None and self._running:
            self.session.cancel()
            if self._writer is not None and self._write_scope is not None:
                self._write_abandoned = "client gone" if self._eof else "cancelled"
                self._write_scope.cancel()

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            with trio.fail_after(self.server.config.connect_timeout):
                if not await self._handshake():
                    return
            try:
                if type(self.stream) is trio.SocketStream:
                    self._direct_reads = True
                    self._reader_armed = False
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader)
                    try:
                        await self._command_loop()
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                        pass  # the client went away mid-response (e.g. a streamed result)
                    finally:
                        nursery.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                # The nursery wraps what the command loop raises; surface it bare so the
                # handlers below answer a ProtocolError instead of logging a crash.
                exc = unwrap_group(group)
                raise exc from exc.__cause__
        except trio.TooSlowError:
            log.debug("handshake timeout", conn=self.connection_id, peer=self.peer)
        except ProtocolError as exc:
            await self._send_error_quietly(exc.code, exc.sqlstate, exc.message)
        except (ClientGone, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            await self._cleanup()

    async def _cleanup(self) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            session, self.session = self.session, None
            if session is not None:
                try:
                    session.cancel()
                    await session.close()
                except Exception:
                    log.exception("session close failed", conn=self.connection_id)
            try:
                await self.stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass

    async def _send_error_quietly(self, code: int, sqlstate: str, message: str) -> None:
        self.server.metrics.error(code)
        with trio.move_on_after(1):
            try:
                self._queue(err_packet(code, sqlstate, message))
                await self._flush()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass

    # -- reading ------------------------------------------------------------------------

    async def _read_packet_direct(self) -> bytes:
        """Handshake phase only (the reader task is not running yet)."""
        while True:
            pkt = self.codec.next_packet()
            if pkt is not None:
                return pkt
            data = await self.stream.receive_some(_RECV_SIZE)
            if not data:
                raise ClientGone
            self.codec.receive_data(data)

    async def _reader(self) -> None:
        try:
            while True:
                while not self._reader_armed:
                    # Parked: the command task reads (ClientWatch arms this).
                    self._arm.clear()
                    await self._arm.wait()
                while not self._waiting and self.codec.buffered > _READ_HIGH_WATER:
                    self._reader_resume = trio.Event()
                    await self._reader_resume.wait()
                data = await _receive(self.stream)
                if not data:
                    break
                self.codec.receive_data(data)
                self._wakeup.set()
                if self._direct_reads and not self._running:
                    # The long statement is over: the command task reads again.
                    self._reader_armed = False
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        self._eof = True
        self._wakeup.set()
        # The client is gone: whatever it was waiting for is not worth finishing.
        self.cancel_running()

    async def _next_packet(self, *, idle: bool = False) -> bytes | None:
        """The next command packet. Waiting for one to start is idle time (``idle``:
        the command loop's wait, which ``wait_timeout``, ``KILL`` and ``drain()`` end
        from outside — then None, with the reason in ``_idle_end``); once part of it
        has arrived, the rest must keep arriving: no byte for ``net_read_timeout``
        raises :class:`NetReadTimeout`."""
        seen = 0
        deadline = math.inf
        while True:
            pkt = self.codec.next_packet()
            if pkt is not None:
                return pkt
            if self._eof:
                return None
            buffered = self.codec.buffered
            if buffered != seen:  # progress (or a new partial packet): restart the clock
                seen = buffered
                deadline = (
                    trio.current_time() + self._net_timeout("net_read_timeout")
                    if buffered
                    else math.inf
                )
            if not self._reader_armed:
                ended = await self._read_directly(deadline, idle)
                if ended:
                    return None
                continue
            self._waiting = True
            self._reader_resume.set()
            self._wakeup.clear()
            try:
                if deadline == math.inf:  # nothing of a packet yet: no scope to pay for
                    await self._wakeup.wait()
                    if idle and self._idle_end is not None:
                        return None
                    continue
                with trio.CancelScope(deadline=deadline) as scope:
                    await self._wakeup.wait()
            finally:
                self._waiting = False
            if idle and self._idle_end is not None:
                return None
            if scope.cancelled_caught:
                raise NetReadTimeout("Got timeout reading communication packets")

    async def _read_directly(self, deadline: float, idle: bool) -> bool:
        """One read of the socket by the command task (the reader is parked): bytes go
        to the codec. True when there is nothing more to read: the client is gone
        (``_eof``) or, in the idle wait, ``KILL``/``drain()``/``wait_timeout`` ended it
        (:meth:`_end_idle_wait` wakes this wait with ``notify_closing``: the connection
        closes after it anyway)."""
        assert isinstance(self.stream, trio.SocketStream)
        fd = self.stream.socket.fileno()
        while True:
            if idle and self._idle_end is not None:
                return True
            if fd < 0:
                raise trio.ClosedResourceError("the connection was closed")
            try:
                data = _read_now(fd)
            except OSError:
                data = b""  # reset by the peer: the client is gone
            if data is not None:
                if not data:
                    self._eof = True
                    return True
                self.codec.receive_data(data)
                return False
            self._reading = True
            try:
                if deadline == math.inf:  # nothing of a packet yet: no scope to pay for
                    await trio.lowlevel.wait_readable(fd)
                    continue
                with trio.CancelScope(deadline=deadline) as scope:
                    await trio.lowlevel.wait_readable(fd)
                if scope.cancelled_caught:
                    raise NetReadTimeout("Got timeout reading communication packets")
            except trio.ClosedResourceError:
                if idle and self._idle_end is not None:
                    return True
                raise
            finally:
                self._reading = False

    def watch_due(self, now: float) -> bool:
        """The server's reaper (every ``WATCH_CLIENT_AFTER`` seconds): a statement has
        run that long and nothing reads its client's socket (the reader is parked,
        the command task busy). :class:`ClientWatch` then arms the reader of those
        whose client has something to say."""
        return (
            self._running
            and not self._reader_armed
            and not self._reading
            and now - self.command_started >= WATCH_CLIENT_AFTER
        )

    def client_fd(self) -> int:
        """The client socket's descriptor (-1: not a plain socket, or closed)."""
        stream = self.stream
        if type(stream) is trio.SocketStream:
            return stream.socket.fileno()
        return -1

    def arm_reader(self) -> None:
        """Let the reader task read the client (see :meth:`watch_due`)."""
        if not self._reader_armed:
            self._reader_armed = True
            self._arm.set()

    # -- writing ------------------------------------------------------------------------

    def _queue(self, payload: bytes) -> None:
        self._out += self.codec.frame(payload)

    async def _flush(self) -> None:
        if self._out:
            data = bytes(self._out)
            self._out.clear()
            await self._send(data)

    async def _send(self, data: bytes) -> None:
        """Write ``data``; a client that reads none of a piece for ``net_write_timeout``
        (or a KILL while blocked here) raises :class:`WriteAborted`.

        The end of a response (less than ``_FLUSH_AT``: a point query's whole answer)
        is written directly as far as the socket takes it (:func:`_write_now`): one
        ``write``, no timeout scope, no trip through trio's scheduler. Only what would
        block waits, bounded as above. The flushes in the middle of a big result
        (``_FLUSH_AT`` and more) keep ``send_all``'s checkpoint, so a long result
        neither starves other connections nor ignores a cancellation."""
        view = memoryview(data)
        if len(view) < _FLUSH_AT:
            sent = _write_now(self.stream, view)
            if sent == len(view):
                return
            if sent:
                view = view[sent:]
        limit = self._net_timeout("net_write_timeout")
        if self._killed:
            limit = min(limit, _KILLED_WRITE_GRACE)  # only the final error packet is left
        with trio.CancelScope() as scope:
            self._write_scope = scope
            try:
                for start in range(0, len(view), _WRITE_PIECE):
                    scope.deadline = trio.current_time() + limit
                    await self.stream.send_all(view[start : start + _WRITE_PIECE])
            finally:
                self._write_scope = None
        if scope.cancelled_caught:
            reason = self._write_abandoned or (
                "killed" if self._write_killed else "net_write_timeout"
            )
            log.info("response write abandoned", conn=self.connection_id, reason=reason)
            raise WriteAborted(f"response write abandoned ({reason})")

    def _net_timeout(self, name: str) -> float:
        """``net_read_timeout`` / ``net_write_timeout`` of this session (``SET SESSION``
        may change them, as in MySQL), else the configured value."""
        configured = float(getattr(self.server.config, name))
        # A session that owns its variables (``attach_client``) holds the value; else
        # the connection's own variables do.
        state = getattr(self.session, "state", None)
        try:
            if state is not None and callable(getattr(state, "get", None)):
                value = float(state.get(name))
            else:
                value = float(self.variables.system.get(name, configured))
        except (ShardgateError, TypeError, ValueError):
            return configured
        return value if value > 0 else configured

    def _configured_net_timeouts(self) -> dict[str, int | float]:
        cfg = self.server.config
        out: dict[str, int | float] = {}
        for name in ("net_read_timeout", "net_write_timeout"):
            value = float(getattr(cfg, name))
            out[name] = int(value) if value.is_integer() else value
        return out

    def _show_net_timeouts(self) -> None:
        """``@@net_read_timeout`` / ``@@net_write_timeout`` start at the configured values."""
        self.variables.system.update(self._configured_net_timeouts())

    def _status(self, more: bool = False) -> int:
        # Plain ints: IntFlag arithmetic builds enum members (µs per statement).
        status = 0
        session = self.session
        if session is None:
            status = _AUTOCOMMIT
        else:
            if session.autocommit:
                status = _AUTOCOMMIT
            if session.in_transaction:
                status |= _IN_TRANS
        if more:
            status |= _MORE_RESULTS
        return status

    def _queue_ok(self, result: Result | None = None, *, more: bool = False) -> None:
        r = result or Result()
        self._queue(
            ok_packet(
                affected=r.affected,
                last_insert_id=r.last_insert_id or 0,
                status=self._status(more),
                warnings=r.warnings,
                info=r.info,
            )
        )

    def _queue_end_of_rows(self, *, more: bool = False, warnings: int = 0) -> None:
        if self.deprecate_eof:
            self._queue(ok_packet(status=self._status(more), header=0xFE, warnings=warnings))
        else:
            self._queue(eof_packet(status=self._status(more), warnings=warnings))

    def _queue_error(self, code: int, sqlstate: str, message: str) -> None:
        self.diagnostics = [("Error", code, message)]
        self.server.metrics.error(code)
        self._queue(err_packet(code, sqlstate, message))

    async def _send_result(self, result: Result, *, binary: bool, more: bool = False) -> None:
        if not result.columns:
            self._queue_ok(result, more=more)
            return
        cols = describe_columns(result.columns)
        self._queue_result_header(cols, more)
        await self._queue_rows(cols, result.rows, binary)
        self._queue_end_of_rows(more=more)

    def _queue_result_header(
        self,
        cols: Sequence[WireColumn],
        more: bool,
        payloads: Sequence[bytes] | None = None,
        framed: _Framed | None = None,
    ) -> None:
        """Column count, definitions (``payloads``: already encoded, from
        :func:`_header_of`), and the EOF packet clients without DEPRECATE_EOF expect.
        ``framed``: the header's framed forms (from :func:`_header_of`), reused when one
        starts at the same sequence id with the same status flags and EOF."""
        if framed is not None and payloads is not None:
            eof = not self.deprecate_eof
            codec = self.codec
            key = (codec.seq, self._status(more) if eof else 0, eof)
            hit = framed.get(key)
            if hit is None:
                start = len(self._out)
                self._queue_result_header(cols, more, payloads)
                if len(framed) >= _FRAMED_SIZE:
                    framed.clear()
                framed[key] = (bytes(self._out[start:]), codec.seq)
                return
            self._out += hit[0]
            codec.seq = hit[1]
            self.state = "Sending data"
            return
        self._queue(column_count(len(cols)))
        if payloads is None:
            results = self._charset_variable("character_set_results")
            payloads = [column_definition(in_results_charset(c.definition, results)) for c in cols]
        for payload in payloads:
            self._queue(payload)
        if not self.deprecate_eof:
            self._queue(eof_packet(status=self._status(more)))
        self.state = "Sending data"

    async def _queue_rows(
        self,
        cols: Sequence[WireColumn],
        rows: Sequence[Row],
        binary: bool,
        *,
        shielded: bool = False,
        results: str | bool | None = False,
    ) -> None:
        """Encode ``rows`` into the write buffer, flushing every ``_FLUSH_AT`` bytes.
        ``shielded``: called from inside the running statement (:class:`_ResultWriter`),
        whose cancellation (``KILL QUERY``, the watchdog) must not cut a packet in
        half; the write keeps its own bounds (``net_write_timeout``, ``KILL
        CONNECTION``, shutdown: :meth:`_send`, :meth:`cancel_running`). ``results``:
        ``character_set_results`` when the caller has read it already."""
        if results is False:
            results = self._charset_variable("character_set_results")
        encode = result_encoder(results) if isinstance(results, str) else None
        if encode is not None:
            # character_set_results other than UTF-8: text goes out in it, as MySQL's.
            rows = [tuple(encode(v) if isinstance(v, str) else v for v in row) for row in rows]
        out = self._out
        if not binary:
            # Encoded and framed in one call per buffer-full, not two calls per row.
            frame_rows_into = self.codec.frame_rows_into
            encode_row = text_row_encoder(cols)
            i, end = 0, len(rows)
            while i < end:
                i = frame_rows_into(out, rows, i, encode_row, _FLUSH_AT)
                if len(out) >= _FLUSH_AT:
                    await self._flush_rows(shielded)
            return
        frame_into = self.codec.frame_into
        for row in rows:
            frame_into(out, encode_binary_row(cols, row))
            if len(out) >= _FLUSH_AT:
                await self._flush_rows(shielded)

    async def _queue_payloads(self, payloads: list[bytes]) -> None:
        """Row packets relayed from a shard (:meth:`_ResultWriter.relayed`) into the
        write buffer, flushed as :meth:`_queue_rows` flushes (shielded: they are
        written from inside the running statement)."""
        out = self._out
        frame_into = self.codec.frame_into
        for payload in payloads:
            frame_into(out, payload)
            if len(out) >= _FLUSH_AT:
                await self._flush_rows(True)

    async def _flush_rows(self, shielded: bool) -> None:
        """Flush a full write buffer in the middle of a result's rows."""
        if shielded:
            with trio.CancelScope(shield=True):
                await self._flush()
        else:
            await self._flush()
        if self._query_killed or self._killed:
            # KILL [QUERY] while these rows were being sent (a buffered result or a
            # stream's batch, which the cancelled statement no longer controls): the
            # result ends here with 1317, as in MySQL.
            raise QueryInterrupted("Query execution was interrupted")

    async def _send_stream(self, rs: ResultStream, *, binary: bool, more: bool) -> None:
        """A streamed result set, in bounded memory: every column's definition is known
        from the columns alone (``describe_columns`` never looks at values), so the
        header goes out before the first row and each batch is sent as it comes."""
        batches = rs.__aiter__()
        if not rs.columns:
            # No result set after all (the session answered with none): an OK packet.
            async for _ in batches:
                pass
            self._queue_ok(Result(), more=more)
            return
        cols = describe_columns(rs.columns)
        self._queue_result_header(cols, more)
        async for batch in batches:
            await self._queue_rows(cols, batch, binary)
        self._queue_end_of_rows(more=more, warnings=getattr(rs, "warnings", 0))

    # -- handshake ------------------------------------------------------------------------

    async def _handshake(self) -> bool:
        cfg = self.server.config
        nonce = make_nonce()
        # LOCAL_FILES: LOAD DATA LOCAL INFILE (sharding.server.infile) where a session runs.
        caps = SERVER_CAPABILITIES | (
            Capability.LOCAL_FILES if self.session_factory is not None else 0
        )
        if self.server.ssl_context is not None:
            caps |= Capability.SSL
        self._queue(
            handshake_v10(
                server_version=cfg.server_version,
                connection_id=self.connection_id,
                nonce=nonce,
                capabilities=caps,
            )
        )
        await self._flush()
        resp = parse_handshake_response(await self._read_packet_direct())
        if resp.ssl_request:
            if self.server.ssl_context is None:
                raise ProtocolError("SSL was not offered")
            leftover = self.codec.take_unread()
            tls = trio.SSLStream(
                _ReplayStream(self.stream, leftover), self.server.ssl_context, server_side=True
            )
            await tls.do_handshake()
            self.stream = tls
            self.tls = True
            resp = parse_handshake_response(await self._read_packet_direct())
            if resp.ssl_request:
                raise ProtocolError("second SSLRequest")
        self.capabilities = int(resp.capabilities & caps)  # a plain int: tested per result
        self.handshake_charset = charset_of_collation_id(resp.charset)
        self.multi_statements = bool(self.capabilities & Capability.MULTI_STATEMENTS)
        self.user = resp.user
        auth = self.server.authenticator
        if cfg.require_tls and not self.tls:
            # As MySQL's require_secure_transport: refused before any password check.
            self._queue_error(
                3159,  # ER_SECURE_TRANSPORT_REQUIRED
                "HY000",
                "Connections using insecure transport are prohibited while "
                "--require_secure_transport=ON.",
            )
            await self._flush()
            self.server.metrics.connections_refused.labels("auth").inc()
            return False
        self._nonce = nonce
        plugin = auth.plugin_for(resp.user, resp.auth_plugin)
        response = resp.auth_response
        client_plugin = resp.auth_plugin or "mysql_native_password"
        if client_plugin != plugin:
            if not resp.capabilities & Capability.PLUGIN_AUTH:
                raise ProtocolError(f"client cannot switch to {plugin}")
            self._queue(auth_switch_request(plugin, nonce))
            await self._flush()
            response = await self._read_packet_direct()
        if not self._credentials_ok(plugin, resp.user, nonce, response):
            await self._flush()
            return False
        self.privileges = auth.privileges_of(resp.user)
        if plugin == CACHING_SHA2 and response not in (b"", b"\0"):
            self._queue(auth_more_data(b"\x03"))  # fast_auth_success
        if self.session_factory is not None:
            try:
                self.session = self.session_factory.open_session(
                    user=resp.user, database=resp.database or cfg.default_database
                )
                self._attach_client()
                if resp.database:
                    # MySQL refuses a login naming a database that does not exist
                    # (1049 at the handshake), rather than failing every statement.
                    await self.session.use(resp.database)
            except ShardgateError as exc:
                self._queue_error(exc.code, exc.sqlstate, str(exc))
                await self._flush()
                return False
        else:
            self._admin_database = resp.database
        self._queue_ok()
        await self._flush()
        self.command, self.state = "Sleep", ""
        if debug_enabled():  # a disabled level still assembles a logger per call
            log.debug("connected", conn=self.connection_id, peer=self.peer, user=self.user)
        return True

    def _credentials_ok(self, plugin: str, user: str, nonce: bytes, response: bytes) -> bool:
        """Whether ``user`` proved its password (``response`` to ``nonce`` by ``plugin``)
        and may connect from here; if not, the 1045 is queued (and counted)."""
        auth = self.server.authenticator
        if auth.open_root and not _is_loopback_peer(self.host):
            ok = False  # no users configured: root only from this machine
        else:
            ok = auth.verify(plugin, user, nonce, response)
            # A user with require_tls = true (MySQL's REQUIRE SSL) over plain TCP: the
            # same 1045 as a wrong password, so the answer reveals nothing more.
            ok = ok and (self.tls or not auth.requires_tls(user))
        if not ok:
            using = "YES" if response not in (b"", b"\0") else "NO"
            self._queue_error(
                ER_ACCESS_DENIED_ERROR,
                "28000",
                f"Access denied for user '{user}'@'{self.host}' (using password: {using})",
            )
            self.server.metrics.connections_refused.labels("auth").inc()
        return ok

    async def _com_change_user(self, payload: bytes) -> None:
        """COM_CHANGE_USER (``mysql_change_user``; mysql2's ``changeUser``, connection
        pools resetting a connection): authenticate again — against the handshake's
        nonce, or a new one after an auth switch — and start a fresh session as the
        user, in the database named (when empty, the one a login without a database
        gets: ``default_database``), as a new connection would be.
        A refused change ends the connection (MariaDB's answer: the old user is not
        kept)."""
        resp = parse_change_user(payload, self.capabilities)
        auth = self.server.authenticator
        plugin = auth.plugin_for(resp.user, resp.auth_plugin)
        nonce = self._nonce
        response = resp.auth_response
        if (resp.auth_plugin or "mysql_native_password") != plugin:
            if not self.capabilities & Capability.PLUGIN_AUTH:
                raise ProtocolError(f"client cannot switch to {plugin}")
            nonce = make_nonce()
            self._queue(auth_switch_request(plugin, nonce))
            await self._flush()
            response = await self._command_packet("COM_CHANGE_USER")
        if not self._credentials_ok(plugin, resp.user, nonce, response):
            self._killed = True
            return
        self.user = resp.user
        self.privileges = auth.privileges_of(resp.user)
        if resp.charset:
            self.handshake_charset = charset_of_collation_id(resp.charset)
        if plugin == CACHING_SHA2 and response not in (b"", b"\0"):
            self._queue(auth_more_data(b"\x03"))  # fast_auth_success
        if self.session_factory is None:
            self._admin_database = resp.database
        elif not await self._fresh_session(
            resp.database or self.server.config.default_database, check_database=True
        ):
            return
        self._reset_connection_state()
        self._queue_ok()

    def _attach_client(self) -> None:
        """Tell a session that owns its state who the client is (``USER()``,
        ``CONNECTION_ID()``, ``@@version``, CLIENT_FOUND_ROWS)."""
        attach = getattr(self.session, "attach_client", None)
        if attach is None:
            return
        cfg = self.server.config
        attach(
            ClientInfo(
                connection_id=self.connection_id,
                host=self.host,
                found_rows=bool(self.capabilities & Capability.FOUND_ROWS),
                charset=self.handshake_charset,
                identity={
                    **default_variables(
                        server_version=cfg.server_version,
                        max_allowed_packet=cfg.max_packet_size,
                        wait_timeout=int(cfg.wait_timeout),
                        port=self.server.port,
                    ),
                    **self._configured_net_timeouts(),
                },
            )
        )

    # -- command loop ---------------------------------------------------------------------

    async def _command_loop(self) -> None:
        while True:
            if self._killed or self.server.draining:
                return
            self.command, self.state, self.info = "Sleep", "", None
            self.command_started = time.monotonic()
            self.codec.reset_sequence()
            # The idle wait: the server's reaper ends it at wait_timeout, KILL and drain()
            # at once (idle_expired, kill, drain: _idle_end says which; no cancel scope).
            self._idle_end = None
            self._idle_since = trio.current_time()
            try:
                payload = await self._next_packet(idle=True)
            except ProtocolError as exc:
                self._idle_since = None
                # Bounded: a client stuck half-way through a packet (net_read_timeout)
                # may not read this either.
                await self._send_error_quietly(exc.code, exc.sqlstate, exc.message)
                return
            finally:
                self._idle_since = None
            ended = self._idle_end is not None
            if ended and (self._killed or self._idle_interrupted):
                self.codec.reset_sequence()
                if self.killed:
                    self._queue_error(ER_CONNECTION_KILLED, "70100", "Connection was killed")
                else:
                    self._queue_error(ER_SERVER_SHUTDOWN, "08S01", "Server shutdown in progress")
                await self._flush()
                return
            if ended:
                self.codec.reset_sequence()
                self._queue_error(
                    ER_CLIENT_INTERACTION_TIMEOUT,
                    "HY000",
                    "The client was disconnected by the server because of inactivity; "
                    "see wait_timeout",
                )
                await self._flush()
                return
            if payload is None:
                return
            try:
                keep_going = await self._dispatch(payload)
            except MalformedPacket as exc:
                self._queue_error(exc.code, exc.sqlstate, exc.message)
                keep_going = True
            await self._flush()
            if not keep_going:
                return

    async def _dispatch(self, payload: bytes) -> bool:
        if not payload:
            raise MalformedPacket("malformed packet: empty command")
        cmd = payload[0]
        self.command_started = time.monotonic()
        if cmd == Command.QUERY:
            await self._com_query(payload)
        elif cmd == Command.STMT_EXECUTE:
            await self._com_stmt_execute(payload)
        elif cmd == Command.PING:
            self._queue_ok()
        elif cmd == Command.QUIT:
            return False
        elif cmd == Command.INIT_DB:
            await self._com_init_db(payload)
        elif cmd == Command.STMT_PREPARE:
            await self._com_stmt_prepare(payload)
        elif cmd == Command.STMT_SEND_LONG_DATA:
            self._com_stmt_send_long_data(payload)
        elif cmd == Command.STMT_CLOSE:
            r = PayloadReader(payload, 1)
            self._statements.pop(r.int4(), None)  # no response, by protocol
        elif cmd == Command.STMT_RESET:
            r = PayloadReader(payload, 1)
            stmt = self._statements.get(r.int4())
            if stmt is None:
                self._queue_error(
                    ER_UNKNOWN_STMT_HANDLER,
                    "HY000",
                    "Unknown prepared statement handler given to mysqld_stmt_reset",
                )
            else:
                stmt.long_data.clear()
                self._queue_ok()
        elif cmd == Command.FIELD_LIST:
            await self._com_field_list(payload)
        elif cmd == Command.RESET_CONNECTION:
            await self._com_reset_connection()
        elif cmd == Command.CHANGE_USER:
            await self._com_change_user(payload)
        elif cmd == Command.STATISTICS:
            self._queue(self._statistics_line().encode())
        elif cmd == Command.PROCESS_KILL:
            r = PayloadReader(payload, 1)
            target = r.int4()
            cluster = getattr(self.server, "cluster", None)
            try:
                viewer = admin_sql.Viewer(self.user, self.privileges, self.connection_id)
                # serve --workers: a connection of another worker is killed there.
                forwarded = (
                    await cluster.answer_admin(f"KILL {target}", viewer)
                    if cluster is not None
                    else None
                )
                if forwarded is None:
                    admin_sql.check_kill(self.server, viewer, target)  # 1094 / 1095
            except ShardgateError as exc:
                self._queue_error(exc.code, exc.sqlstate, str(exc))
            else:
                if forwarded is not None:
                    self._queue_ok()
                    return True
                if self.server.kill(target, query_only=False):
                    self._queue_ok()
                else:
                    self._queue_error(1094, "HY000", f"Unknown thread id: {target}")
        elif cmd == Command.SET_OPTION:
            r = PayloadReader(payload, 1)
            option = r.int2()
            if option not in (0, 1):
                self._queue_error(ER_UNKNOWN_COM_ERROR, "08S01", "Unknown SET_OPTION value")
            else:
                self.multi_statements = option == 0
                self._queue_end_of_rows()
        elif cmd == Command.STMT_FETCH:
            self._queue_error(
                NotSupported.code,
                NotSupported.sqlstate,
                "server-side cursors (COM_STMT_FETCH) are not supported",
            )
        else:
            self._queue_error(ER_UNKNOWN_COM_ERROR, "08S01", "Unknown command")
        return True

    # -- statements -----------------------------------------------------------------------

    async def _request_infile(self, filename: bytes) -> None:
        """LOCAL INFILE request: 0xFB + the file name; the client answers with the file."""
        self._queue(b"\xfb" + filename)
        await self._flush()
        self.state = "Reading file"

    async def _infile_packet(self) -> bytes:
        """The client's next file packet (b"" ends the file)."""
        return await self._command_packet("LOAD DATA LOCAL INFILE")

    async def _command_packet(self, during: str) -> bytes:
        """The client's next packet within a command (a file, an auth switch answer).
        Waiting for it is not idle time: net_read_timeout bounds it."""
        with trio.move_on_after(self._net_timeout("net_read_timeout")) as scope:
            pkt = await self._next_packet()
        if scope.cancelled_caught:
            raise NetReadTimeout("Got timeout reading communication packets")
        if pkt is None:
            raise trio.BrokenResourceError(f"client closed during {during}")
        return pkt

    def _charset_variable(self, name: str) -> str | None:
        """``character_set_client``/``_results`` of this session (the session's own
        state when it owns it, else the connection's variables)."""
        state = getattr(self.session, "state", None)
        try:
            read = getattr(state, "session_value", None)  # the coordinator's SessionState
            if read is not None:
                value = read(name)
            elif state is not None and callable(getattr(state, "get", None)):
                value = state.get(name)
            else:
                value = self.variables.system.get(name, self.handshake_charset)
        except ShardgateError:
            return self.handshake_charset
        return None if value is None else str(value)

    def _decode_sql(self, raw: bytes) -> str:
        # In the client's character set; bytes invalid in it travel as surrogate
        # escapes and literals holding them become hex literals (client_charset).
        return decode_statement(raw, self._charset_variable("character_set_client") or "utf8mb4")

    async def _com_query(self, payload: bytes) -> None:
        try:
            sql = self._decode_sql(payload[1:])
        except ShardgateError as exc:
            self._queue_error(exc.code, exc.sqlstate, str(exc))
            return
        # A cached one-shard SELECT goes straight to the session's lean path
        # (sharding.session_lean): one statement (no ';'), not an admin statement;
        # the session checks the rest (no comment, first word SELECT, ...).
        lean_select = getattr(self.session, "lean_select", None)
        if lean_select is not None and ";" not in sql and not admin_sql.is_admin_statement(sql):
            lean = lean_select(sql)
            if lean is not None:
                self.command = "Query"
                await self._run_and_send(sql, None, binary=False, more=False, lean=lean)
                return
        # MariaDB's statements of the text: its trimming, its empty statements (a
        # comment after the last ';' answers OK) and its 1064s (sharding.server.sqlscan).
        # Without CLIENT_MULTI_STATEMENTS a second statement is a 1064, never silently
        # dropped (local answers such as SET or BEGIN read only their start).
        statements = script(sql, multi_statements=self.multi_statements)
        if not statements:
            self._queue_error(1065, "42000", "Query was empty")
            return
        self.command = "Query"
        last = len(statements) - 1
        for i, stmt in enumerate(statements):
            if isinstance(stmt, str):
                if not await self._run_and_send(stmt, None, binary=False, more=i < last):
                    break
            elif isinstance(stmt, EmptyStatement):
                self._queue_ok(more=i < last)
            else:
                self._queue_error(1064, "42000", stmt.message())

    async def _run_and_send(
        self,
        sql: str,
        params: Sequence[Any] | None,
        *,
        binary: bool,
        more: bool,
        lean: object | None = None,
    ) -> bool:
        """Run one statement and queue its response. False when it failed. ``lean``:
        what the session's ``lean_select`` returned for ``sql`` (a text SELECT that
        skips the local and admin answers: it is none of them)."""
        self.info = sql[:_INFO_CHARS]
        self.state = "executing"
        self._query_killed = False
        self.command_started = time.monotonic()
        t0 = time.perf_counter()
        kind = "session"
        try:
            if lean is None:
                result, kind = await self._execute(sql, params, binary=binary, more=more)
            else:
                await self._session_stream(sql, None, binary=False, more=more, lean=lean)
                result = None
        except ShardgateError as exc:
            self._queue_error(exc.code, exc.sqlstate, str(exc))
            self.server.metrics.observe(kind, time.perf_counter() - t0)
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            raise  # the client went away while a streamed result was being sent
        except Exception as exc:
            log.exception("statement failed with an internal error", conn=self.connection_id)
            # A console renderer that shows locals snapshots this frame's locals (exc
            # included) onto the frame, closing a cycle exc → traceback → frame → exc
            # that would keep the whole connection alive until a full collection.
            exc.__traceback__ = None
            self._queue_error(
                ER_UNKNOWN_ERROR, "HY000", f"internal error: {type(exc).__name__}: {exc}"
            )
            self.server.metrics.observe(kind, time.perf_counter() - t0)
            return False
        if kind == "diagnostics":
            kind = "local"
        else:
            self.diagnostics = []
        if result is not None:
            if result.last_insert_id:
                self.last_insert_id = result.last_insert_id
            await self._send_result(result, binary=binary, more=more)
        self.server.metrics.observe(kind, time.perf_counter() - t0)
        return True

    async def _execute(
        self, sql: str, params: Sequence[Any] | None, *, binary: bool, more: bool
    ) -> tuple[Result | None, str]:
        """Local answer, admin answer or the session's. Returns (result, metrics kind);
        the result is None when it was streamed (already queued)."""
        if "/*!" in sql or "/*M!" in sql:
            # Versioned comments anywhere in the text, as dump files have them.
            sql = expand_executable_comments(sql).strip().rstrip(";").rstrip()
            if not strip_comments_and_space(sql):
                return Result(), "local"  # only skipped versions: MariaDB answers OK
        if sql.lstrip().startswith("/*"):
            sql = unwrap_executable_comment(sql)
        m = _FIRST_WORD.match(sql)
        if m is not None:  # a word first (no comment): what leading_words gives first
            first = m.group(1).upper()
            words: list[str] | None = None
        else:
            words = leading_words(sql, 2)
            first = words[0] if words else ""
        if first == "LOAD" and not binary and self.session is not None:
            # LOAD DATA LOCAL INFILE: the file exchange happens here (sharding.server.infile).
            loaded = await load_data_local(
                sql,
                self.session,
                allowed=bool(self.capabilities & Capability.LOCAL_FILES),
                request_file=self._request_infile,
                next_packet=self._infile_packet,
            )
            return loaded, "session"
        if not params and first in _LOCAL_FIRST_WORDS:
            viewer = admin_sql.Viewer(self.user, self.privileges, self.connection_id)
            # serve --workers: PROCESSLIST gathers from, and KILL reaches, every worker.
            cluster = getattr(self.server, "cluster", None)
            answer = await cluster.answer_admin(sql, viewer) if cluster is not None else None
            if answer is None:
                answer = admin_sql.answer_admin(sql, self.server.admin, self.server, viewer=viewer)
            if answer is not None:
                return answer, "admin"
            # A session that owns its state answers SELECT @@…/SHOW VARIABLES itself
            # (and SET runs in it); the connection-held state below is only for a
            # session without one (admin port, fakes): see sharding.server.localsql.
            owned = getattr(self.session, "answer_locally", None)
            if owned is not None and first in ("SELECT", "SHOW"):
                status = self.server.status_variables() if first == "SHOW" else None
                result = owned(sql, status)
                if result is not None:
                    kind = (
                        "diagnostics"
                        if _second_word(sql, words) in ("WARNINGS", "ERRORS", "COUNT")
                        else "local"
                    )
                    return result, kind
            elif owned is not None and first == "SET":
                pass  # the session's own SET
            elif first == "SELECT":
                result = local_select(self, sql)
                if result is not None:
                    return result, "local"
            elif first == "SHOW":
                result = local_show(self, sql, self.server.status_variables())
                if result is not None:
                    kind = (
                        "diagnostics"
                        if _second_word(sql, words) in ("WARNINGS", "ERRORS", "COUNT")
                        else "local"
                    )
                    return result, kind
            elif first == "SET":
                outcome = local_set(self, sql)
                if outcome is not None:
                    result = Result()
                    for stmt in outcome.forward:
                        if self.session is not None:
                            result = await self._session_execute(stmt, None)
                    return result, "local"
            elif first == "USE":
                m = _USE.match(sql)
                if m:
                    name = m.group(1).replace("``", "`") if m.group(1) else m.group(2)
                    await self._use(name)
                    return Result(), "local"
        if self.session is None:
            raise NotSupported("only admin and session statements are served on the admin port")
        if first in _STREAMED_FIRST_WORDS or (first == "SET" and self._session_streams(sql)):
            await self._session_stream(sql, params, binary=binary, more=more)
            return None, "session"
        result = await self._session_execute(sql, params)
        cluster = getattr(self.server, "cluster", None)
        if cluster is not None:  # serve --workers: peers see a DDL before its OK
            await cluster.after_statement(first)
        return result, "session"

    def _session_streams(self, sql: str) -> bool:
        """Whether the session streams ``sql``'s result set (``SET STATEMENT … FOR
        SELECT``: the session says; a plain SET has none)."""
        streams = getattr(self.session, "streams", None)
        return streams is not None and bool(streams(sql))

    async def _session_stream(
        self,
        sql: str,
        params: Sequence[Any] | None,
        *,
        binary: bool,
        more: bool,
        lean: object | None = None,
    ) -> None:
        """Run a SELECT and queue its result set as it comes: in this task through
        ``Session.stream_into`` (:class:`_ResultWriter`) where the session has it, else
        through ``Session.stream``; ``lean``: through ``Session.run_lean``."""
        assert self.session is not None
        into = getattr(self.session, "stream_into", None)
        if into is None:
            rs = self.session.stream(sql, params)
            self._running = True
            try:
                if self._eof:
                    raise QueryInterrupted("Query execution was interrupted (client disconnected)")
                async with rs:
                    await self._send_stream(rs, binary=binary, more=more)
            finally:
                self._running = False
            return
        writer = _ResultWriter(self, binary, more)
        self._running = True
        try:
            if self._eof:
                raise QueryInterrupted("Query execution was interrupted (client disconnected)")
            try:
                result: Result = await (
                    into(sql, params, writer)
                    if lean is None
                    else self.session.run_lean(sql, lean, writer)  # type: ignore[attr-defined]
                )
            except ShardgateError:
                if writer.write_failed is not None:
                    # The client is gone or the write was abandoned: close, send nothing.
                    raise writer.write_failed from None
                raise
        finally:
            self._running = False
            self._writer = None
        if writer.cols is None and not writer.no_result:
            raise QueryInterrupted("Query execution was interrupted (no result set)")
        if writer.no_result:
            # No result set after all (SELECT ... INTO @v): its OK counts the row.
            self._queue_ok(Result(affected=result.affected, warnings=result.warnings), more=more)
        else:
            self._queue_end_of_rows(more=more, warnings=result.warnings)

    async def _session_execute(self, sql: str, params: Sequence[Any] | None) -> Result:
        assert self.session is not None
        self._running = True
        try:
            if self._eof:
                raise QueryInterrupted("Query execution was interrupted (client disconnected)")
            return await self.session.execute(sql, params)
        finally:
            self._running = False

    async def _use(self, name: str) -> None:
        if self.session is None:
            self._admin_database = name
        else:
            await self.session.use(name)

    async def _com_init_db(self, payload: bytes) -> None:
        try:
            name = self._decode_sql(payload[1:]).strip()
            await self._use(name)
        except ShardgateError as exc:
            self._queue_error(exc.code, exc.sqlstate, str(exc))
            return
        self._queue_ok()

    async def _com_field_list(self, payload: bytes) -> None:
        r = PayloadReader(payload, 1)
        raw = r.nul_bytes_or_rest()
        if self.session is None:
            self._queue_error(
                NotSupported.code,
                NotSupported.sqlstate,
                "COM_FIELD_LIST is not served on the admin port",
            )
            return
        try:
            table = raw.decode("utf-8")
        except UnicodeDecodeError:
            # No table has a name that is not UTF-8: MySQL's answers, with the bad
            # bytes shown as '?' as MySQL shows them.
            if self.database is None:
                self._queue_error(1046, "3D000", "No database selected")
            else:
                shown = raw.decode("utf-8", "replace").replace("\ufffd", "?")
                self._queue_error(1146, "42S02", f"Table '{self.database}.{shown}' doesn't exist")
            return
        quoted = "`" + table.replace("`", "``") + "`"
        try:
            result = await self._session_execute(f"SELECT * FROM {quoted} LIMIT 0", None)
        except ShardgateError as exc:
            self._queue_error(exc.code, exc.sqlstate, str(exc))
            return
        for col in describe_columns(result.columns or []):
            d = col.definition
            named = ColumnDef(
                name=d.name,
                type=d.type,
                charset=d.charset,
                length=d.length,
                flags=d.flags,
                decimals=d.decimals,
                schema=self.database or "",
                table=table,
                org_table=table,
            )
            self._queue(column_definition(named) + b"\xfb")
        self._queue_end_of_rows()

    async def _com_reset_connection(self) -> None:
        if (
            self.session is not None
            and self.session_factory is not None
            and not await self._fresh_session(self.session.database, check_database=False)
        ):
            return
        self._reset_connection_state()
        self._queue_ok()

    async def _fresh_session(self, database: str | None, *, check_database: bool) -> bool:
        """Replace the session by a new one of ``self.user`` in ``database`` (the old one
        closed: its transaction rolled back, its locks and temporary tables gone).
        ``check_database``: a database that does not exist is 1049, as at login. On
        failure the error is queued and the connection ends (no session to go on with)."""
        assert self.session_factory is not None
        old, self.session = self.session, None
        if old is not None:
            await old.close()
        try:
            self.session = self.session_factory.open_session(user=self.user, database=database)
            self._attach_client()
            if check_database and database:
                await self.session.use(database)
        except ShardgateError as exc:
            self._queue_error(exc.code, exc.sqlstate, str(exc))
            self._killed = True
            return False
        return True

    def _reset_connection_state(self) -> None:
        """The protocol-side state of a fresh connection (variables, statements, ids)."""
        cfg = self.server.config
        self.variables = SessionVariables(
            default_variables(
                server_version=cfg.server_version,
                max_allowed_packet=cfg.max_packet_size,
                wait_timeout=int(cfg.wait_timeout),
                port=self.server.port,
            )
        )
        self._show_net_timeouts()
        self._statements.clear()
        self.last_insert_id = 0
        self.diagnostics = []

    def _statistics_line(self) -> str:
        s = self.server.status_variables()
        uptime = max(int(s.get("Uptime", 0)), 1)
        return (
            f"Uptime: {uptime}  Threads: {s.get('Threads_connected', 0)}  "
            f"Questions: {s.get('Questions', 0)}  Slow queries: 0  Opens: 0  "
            f"Open tables: 0  Queries per second avg: {s.get('Questions', 0) / uptime:.3f}"
        )

    # -- prepared statements --------------------------------------------------------------

    async def _com_stmt_prepare(self, payload: bytes) -> None:
        try:
            sql = self._decode_sql(payload[1:])
        except ShardgateError as exc:
            self._queue_error(exc.code, exc.sqlstate, str(exc))
            return
        if len(split_statements(sql)) > 1:
            self._queue_error(
                1295,
                "HY000",
                "This command is not supported in the prepared "
                "statement protocol yet (multiple statements)",
            )
            return
        if len(self._statements) >= _MAX_PREPARED:
            self._queue_error(
                1461,
                "42000",
                "Can't create more than max_prepared_stmt_count "
                f"statements (current value: {_MAX_PREPARED})",
            )
            return
        # The result columns, planned now (a C API client binds its buffers from them,
        # sysbench reads the rows only when there are some); None: known at execution.
        try:
            columns = await self._describe(sql)
        except ShardgateError as exc:
            self._queue_error(exc.code, exc.sqlstate, str(exc))
            return
        stmt = PreparedStatement(self._next_stmt_id, sql, count_placeholders(sql))
        self._next_stmt_id = (self._next_stmt_id % 0xFFFFFFFF) + 1
        self._statements[stmt.id] = stmt
        self._queue(
            b"\x00"
            + stmt.id.to_bytes(4, "little")
            + len(columns or ()).to_bytes(2, "little")
            + stmt.num_params.to_bytes(2, "little")
            + b"\x00\x00\x00"
        )
        if stmt.num_params:
            param = column_definition(ColumnDef(name="?", type=FieldType.VAR_STRING))
            for _ in range(stmt.num_params):
                self._queue(param)
            if not self.deprecate_eof:
                self._queue(eof_packet(status=self._status()))
        if columns:
            results = self._charset_variable("character_set_results")
            for col in columns:
                self._queue(
                    column_definition(in_results_charset(announced_definition(col), results))
                )
            if not self.deprecate_eof:
                self._queue(eof_packet(status=self._status()))

    async def _describe(self, sql: str) -> list[Column] | None:
        """The session's answer to "which columns would this return" (optional API:
        ``describe``). MySQL's prepare-time errors (syntax, unknown table/column, no
        database) are raised; any other failure to plan now leaves it to execution."""
        describe = getattr(self.session, "describe", None)
        if describe is None:
            return None
        try:
            columns: list[Column] | None = await describe(sql)
        except ShardgateError as exc:
            if exc.code in _PREPARE_ERRORS:
                raise
            return None
        except Exception:
            log.debug("prepare-time planning failed", conn=self.connection_id, exc_info=True)
            return None
        return columns

    def _com_stmt_send_long_data(self, payload: bytes) -> None:
        r = PayloadReader(payload, 1)
        stmt = self._statements.get(r.int4())
        param = r.int2()
        if stmt is None or param >= stmt.num_params:
            return  # no response by protocol; the error surfaces at execute
        buf = stmt.long_data.setdefault(param, bytearray())
        data = r.rest()
        if len(buf) + len(data) > self.server.config.max_packet_size:
            raise ProtocolError("long data exceeds max_allowed_packet")
        buf += data

    async def _com_stmt_execute(self, payload: bytes) -> None:
        r = PayloadReader(payload, 1)
        stmt_id = r.int4()
        r.int1()  # flags: cursor types are ignored, results are always sent whole
        r.int4()  # iteration count, always 1
        stmt = self._statements.get(stmt_id)
        if stmt is None:
            self._queue_error(
                ER_UNKNOWN_STMT_HANDLER,
                "HY000",
                f"Unknown prepared statement handler ({stmt_id}) given to mysqld_stmt_execute",
            )
            return
        values, types = decode_binary_params(r, stmt.num_params, stmt.types, stmt.long_data)
        stmt.types = types
        stmt.long_data.clear()
        self.command = "Execute"
        await self._run_and_send(stmt.sql, values, binary=True, more=False)


#: The statement's first word when it starts with one (after white space): exactly
#: what ``leading_words`` finds first there, without its comment handling.
_FIRST_WORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")


def _second_word(sql: str, words: list[str] | None) -> str | None:
    if words is None:
        words = leading_words(sql, 2)
    return words[1] if len(words) > 1 else None


_DEPRECATE_EOF = int(Capability.DEPRECATE_EOF)
_AUTOCOMMIT = int(ServerStatus.AUTOCOMMIT)
_IN_TRANS = int(ServerStatus.IN_TRANS)
_MORE_RESULTS = int(ServerStatus.MORE_RESULTS_EXISTS)

#: Result headers already described and encoded, by their columns and
#: character_set_results: a point query sends the same few headers again and again,
#: and a header is a function of the columns alone (never of the rows). Bounded.
#: Each entry also keeps the header as framed on the wire (column count, definitions
#: and the EOF clients without DEPRECATE_EOF expect) by the first sequence id, status
#: flags and EOF-or-not it was framed with, and the sequence id after it: the same
#: bytes for the same three (see :meth:`ClientConnection._queue_result_header`).
_Framed = dict[tuple[int, int, bool], tuple[bytes, int]]
_HEADERS: dict[
    tuple[tuple[Column, ...], str | None, tuple[Any, ...]],
    tuple[list[WireColumn], tuple[bytes, ...], _Framed],
]
_HEADERS = {}
_HEADERS_SIZE = 512
_FRAMED_SIZE = 16


def _header_of(
    columns: Sequence[Column], results: str | None
) -> tuple[list[WireColumn], tuple[bytes, ...], _Framed | None]:
    """The wire columns of a result, their encoded definitions and the header's framed
    forms (cached; None when the columns cannot be a key)."""
    try:
        # A definition's origin (table and column names) is not part of its equality
        # (ColumnType.origin), but it is sent: part of the key.
        key = (
            tuple(columns),
            results,
            tuple([None if c.wire is None else c.wire.origin for c in columns]),
        )
        hit = _HEADERS.get(key)
    except TypeError:  # a column that cannot be hashed: described every time
        key, hit = None, None
    if hit is not None:
        return hit
    cols = describe_columns(columns)
    payloads = tuple(column_definition(in_results_charset(c.definition, results)) for c in cols)
    if key is None:
        return cols, payloads, None
    if len(_HEADERS) >= _HEADERS_SIZE:
        _HEADERS.clear()
    entry = _HEADERS[key] = (cols, payloads, {})
    return entry


class _Signal:
    """The command task's wake-up: set by the reader task when bytes (or the end)
    arrived. What a new ``trio.Event`` per wait would do, without making one per
    command: ``clear()`` before checking for a packet, then ``wait()``. One waiter."""

    __slots__ = ("_is_set", "_task")

    def __init__(self) -> None:
        self._is_set = False
        self._task: trio.lowlevel.Task | None = None

    def set(self) -> None:
        self._is_set = True
        task, self._task = self._task, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> None:
        if self._is_set:
            await trio.lowlevel.checkpoint()
            return
        self._task = trio.lowlevel.current_task()

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            self._task = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)


async def _receive(stream: trio.abc.Stream) -> bytes | bytearray:
    """``stream.receive_some``; on a plain TCP stream a non-blocking ``read``, after a
    wait for the socket to become readable when nothing is there — the same, with
    fewer layers. A read that found bytes at once still passes a checkpoint."""
    if type(stream) is not trio.SocketStream:
        return await stream.receive_some(_RECV_SIZE)
    fd = stream.socket.fileno()
    if fd < 0:
        raise trio.ClosedResourceError("the connection was closed")
    data = _read_now(fd)
    if data is not None:
        await trio.lowlevel.checkpoint()
        return data
    while True:
        # aclose() notifies this wait (ClosedResourceError) before the fd goes away.
        await trio.lowlevel.wait_readable(fd)
        data = _read_now(fd)
        if data is not None:
            return data


def _read_now(fd: int) -> bytes | None:
    """What a non-blocking read of ``fd`` gets at once (b"" at the end), None when
    nothing is there yet."""
    try:
        return os.read(fd, _RECV_SIZE)
    except BlockingIOError:
        return None


def _write_now(stream: trio.abc.Stream, view: memoryview) -> int:
    """Bytes of ``view`` a plain TCP stream's socket took at once (non-blocking
    ``write``); 0 for any other stream (TLS, tests' memory streams) or a full buffer.
    A broken socket raises ``trio.BrokenResourceError`` as ``send_all`` would."""
    if type(stream) is not trio.SocketStream:
        return 0
    fd = stream.socket.fileno()
    if fd < 0:
        return 0  # closed: send_all raises ClosedResourceError
    try:
        return os.write(fd, view)
    except BlockingIOError:
        return 0
    except OSError as exc:
        raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc


class _WriteFailed(QueryInterrupted):
    """Ends the statement whose result could not be written (the connection closes)."""


class _ResultWriter:
    """The row sink of a SELECT run in the command task (``Session.stream_into``):
    the header is queued when the columns are known (never looked at rows: see
    :func:`describe_columns`), each batch is encoded as it comes and flushed every
    ``_FLUSH_AT`` bytes (so a result holds at most one batch and one write buffer),
    the end of rows after the statement has returned.

    Its flushes run inside the statement, so they are shielded from the statement's
    cancellation (``KILL QUERY`` lets the bytes already encoded go out, then the result
    ends with 1317, as when the result was handed over by a producer task); a failed or
    abandoned write ends the statement with :class:`_WriteFailed` and is re-raised by
    the connection, which then closes (nothing more may be written)."""

    __slots__ = ("binary", "cols", "conn", "more", "no_result", "results", "write_failed")

    def __init__(self, conn: ClientConnection, binary: bool, more: bool) -> None:
        self.conn = conn
        self.binary = binary
        self.more = more
        self.cols: list[WireColumn] | None = None
        self.results: str | None = None  # character_set_results, read with the header
        #: The statement answered with no columns after all: an OK packet, as MySQL.
        self.no_result = False
        self.write_failed: BaseException | None = None

    def relays(self) -> bool:
        """Rows may come as a MariaDB shard sent them (:meth:`relayed`): the client reads
        text results (not a prepared statement's binary rows) in UTF-8 or unconverted
        (``character_set_results`` NULL or binary), which is what the shard wrote."""
        if self.binary:
            return False
        if self.results is None:
            self.results = self.conn._charset_variable("character_set_results")
        return result_encoder(self.results) is None

    async def header(self, columns: list[Column]) -> None:
        if self.cols is not None or self.no_result:
            return
        if not columns:
            self.no_result = True
            return
        conn = self.conn
        if self.results is None:
            self.results = conn._charset_variable("character_set_results")
        self.cols, payloads, framed = _header_of(columns, self.results)
        conn._queue_result_header(self.cols, self.more, payloads, framed)

    async def rows(self, batch: list[Row]) -> bool:
        return await self._write(batch, None)

    async def relayed(self, payloads: list[bytes]) -> bool:
        """Rows as the shard sent them (only where :meth:`relays`): each payload framed
        with this result's sequence ids, bytes unchanged."""
        return await self._write(None, payloads)

    async def _write(self, batch: list[Row] | None, payloads: list[bytes] | None) -> bool:
        """Queue (and flush as it fills) a batch of rows, or of relayed payloads."""
        if self.cols is None or not (batch or payloads):
            return not self.no_result
        conn = self.conn
        conn._writer = self
        try:
            if payloads is not None:
                conn.server.metrics.rows_relayed.labels("text").value += len(payloads)
                await conn._queue_payloads(payloads)
            else:
                assert batch is not None
                await conn._queue_rows(
                    self.cols, batch, self.binary, shielded=True, results=self.results
                )
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.write_failed = exc
            raise _WriteFailed("Query execution was interrupted (client connection lost)") from exc
        finally:
            conn._writer = None
        return True


def _is_loopback_peer(host: str) -> bool:
    return (
        host in ("127.0.0.1", "::1", "localhost")
        or host.startswith("127.")
        or host.startswith("::ffff:127.")
    )
