"""The driver adapters of the asyncio MySQL data source (:mod:`.mysql`): the only code
that touches aiomysql/asyncmy objects. Every coroutine here runs on the bridge's asyncio
loop (:mod:`.bridge`), never in trio."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sharding.backend.base import Column, ColumnType
from sharding.backend.url import MySQLURL
from sharding.errors import BackendError

# -- drivers (loop thread only) --------------------------------------------------------


#: Capability flag and command byte (MySQL protocol constants; same in every driver).
_CLIENT_MULTI_STATEMENTS = 1 << 16
_COM_SET_OPTION = 0x1B

#: Statements of one ``execute_many`` go in COM_QUERY packets of about this size (far
#: below the server's ``max_allowed_packet``, 16 MiB by default).
MULTI_STATEMENT_BYTES = 1 << 20
#: Follows each statement of a packet of several (``_batched``): a statement's warnings
#: can be listed only until the next statement runs.
_SHOW_WARNINGS = "SHOW WARNINGS"


def _packets(sqls: Sequence[str], limit: int) -> list[list[str]]:
    """Group statements, in order, into lists of at most ``limit`` characters (a
    statement longer than that goes alone)."""
    groups: list[list[str]] = []
    size = limit
    for sql in sqls:
        if size + len(sql) > limit or not groups:
            groups.append([])
            size = 0
        groups[-1].append(sql)
        size += len(sql) + 2
    return groups


class _Stale(Exception):
    """The connection was found dead before anything was sent: safe to retry elsewhere."""


class _Aborted(Exception):
    """The admin link aborted a statement because the server stopped answering."""


@dataclass(slots=True)
class _Reply:
    description: Sequence[Sequence[Any]] | None
    #: Tuples of values; each row's payload (bytes) from :meth:`_Driver.query_raw`.
    rows: list[Any]
    affected: int
    insert_id: int | None
    warnings: int
    #: The OK packet's info text ("Rows matched: 3  Changed: 1  Warnings: 0").
    info: str = ""
    #: The result's column definition packets (the driver's field descriptors).
    fields: Sequence[Any] | None = None
    #: SHOW WARNINGS of a result set with warnings (:meth:`_Driver.fetch`), else None.
    notes: list[tuple[str, int, str]] | None = None


def _text(value: Any) -> str:
    """A SHOW WARNINGS text column's value (a driver may hand bytes)."""
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return str(value)


def warning_notes(rows: Sequence[Sequence[Any]]) -> list[tuple[str, int, str]]:
    """``SHOW WARNINGS`` rows as ``_Reply.notes``: (level, code, message)."""
    return [(_text(r[0]), int(r[1]), _text(r[2])) for r in rows]


def result_columns(
    fields: Sequence[Any] | None, description: Sequence[Sequence[Any]] | None
) -> list[Column]:
    """A result's columns with the server's own definitions (type, length, flags,
    decimals, character set — what the driver read from the column definition
    packets); from the DB-API description (type code only) if the driver kept none.
    The native driver passes its finished columns as ``fields``."""
    if fields and isinstance(fields[0], Column):
        return list(fields)
    if fields and description is not None and len(fields) == len(description):
        return [
            Column(
                d[0],
                f.type_code,
                ColumnType(f.type_code, f.length, f.flags, f.scale, f.charsetnr),
            )
            for f, d in zip(fields, description, strict=True)
        ]
    return [Column(d[0], d[1]) for d in description or ()]


def _fields_of(cursor_or_conn: Any) -> Sequence[Any] | None:
    result = getattr(cursor_or_conn, "_result", None)
    fields = getattr(result, "fields", None)
    return list(fields) if fields else None


class _Driver:
    name: ClassVar[str]
    #: :meth:`fetch` can hand a result's rows over as the server sent them (``raw``):
    #: the payload of each row packet, for a caller that relays them unchanged.
    relays: ClassVar[bool] = False

    async def connect(self, url: MySQLURL, limit: float, init: list[str]) -> Any:
        raise NotImplementedError

    def usable(self, conn: Any) -> bool:
        raise NotImplementedError

    def thread_id(self, conn: Any) -> int:
        return int(conn.thread_id())

    async def ping(self, conn: Any) -> None:
        await conn.ping(reconnect=False)

    async def query(self, conn: Any, sql: str) -> _Reply:
        raise NotImplementedError

    async def query_raw(self, conn: Any, sql: str) -> _Reply:
        """:meth:`query` with the rows of its result as their payloads (``relays``)."""
        raise NotImplementedError

    async def query_many(self, conn: Any, sqls: Sequence[str]) -> list[_Reply]:
        """``sqls`` in order, stopping at the first error; one round trip each (and
        ``SHOW WARNINGS`` after one with warnings, :meth:`execute`)."""
        return [await self.execute(conn, sql) for sql in sqls]

    async def execute(self, conn: Any, sql: str) -> _Reply:
        """A write: :meth:`query`, then — only when its OK packet counted warnings —
        their texts (:meth:`_list_notes`). A write without warnings costs nothing more."""
        reply = await self.query(conn, sql)
        if reply.warnings:
            await self._list_notes(conn, reply)
        return reply

    async def _list_notes(self, conn: Any, reply: _Reply) -> None:
        """``SHOW WARNINGS`` on ``conn`` right after ``reply``'s statement (the next
        statement clears them) as ``reply.notes``."""
        shown = await self.query(conn, "SHOW WARNINGS")
        reply.notes = warning_notes(shown.rows)

    # Batches of several statements per COM_QUERY (drivers that override _query_group).

    async def _query_group(self, conn: Any, group: Sequence[str]) -> list[_Reply]:
        """``group`` as one multi-statement COM_QUERY: one reply per statement."""
        raise NotImplementedError

    async def _set_multi_statements(self, conn: Any, on: bool) -> None:
        raise NotImplementedError

    def _forget_failed(self, conn: Any) -> None:
        """After an error packet ended a batch: what the driver must drop."""

    async def _multi_off_or_close(self, conn: Any) -> None:
        """Switch multi-statements off; a connection where that fails is not reused."""
        try:
            await self._set_multi_statements(conn, False)
        except Exception:
            self.close_hard(conn)

    async def _batched(self, conn: Any, sqls: Sequence[str]) -> list[_Reply]:
        """``sqls`` as few COM_QUERY packets (one round trip per packet, not per
        statement), one reply per statement; the server stops at the first error,
        which reading its result raises, and nothing is left unread after it.
        Multi-statements are on only for this batch (two extra round trips, for
        batches of hundreds of statements), off again before anything else is sent.

        Warnings: a statement's texts are listed by ``SHOW WARNINGS`` only until the
        next statement runs, so in a packet of several statements each is followed by a
        ``SHOW WARNINGS`` (same packet, no round trip; an empty result when the
        statement did not warn), whose rows become that statement's ``notes`` when its
        OK packet counted warnings. Nothing is run twice.
        """
        groups = _packets(sqls, MULTI_STATEMENT_BYTES)
        multi = any(len(group) > 1 for group in groups)
        if multi:
            await self._set_multi_statements(conn, True)
        replies: list[_Reply] = []
        try:
            for group in groups:
                if len(group) == 1:
                    try:
                        replies.append(await self.execute(conn, group[0]))
                    except Exception as exc:
                        exc.sg_statement_index = len(replies)  # type: ignore[attr-defined]
                        raise
                    continue
                interleaved = [part for sql in group for part in (sql, _SHOW_WARNINGS)]
                try:
                    got = await self._query_group(conn, interleaved)
                except Exception as exc:
                    # Results before the failed one: each statement and its SHOW WARNINGS.
                    before = getattr(exc, "sg_results_before", 0)
                    exc.sg_statement_index = len(replies) + before // 2  # type: ignore[attr-defined]
                    raise
                for reply, shown in zip(got[0::2], got[1::2], strict=True):
                    if reply.warnings:
                        reply.notes = warning_notes(shown.rows)
                    replies.append(reply)
        except Exception as exc:
            if multi and is_server_error(exc):
                self._forget_failed(conn)
                await self._multi_off_or_close(conn)
            raise
        if multi:
            await self._multi_off_or_close(conn)
        return replies

    async def fetch(self, conn: Any, sql: str, raw: bool = False) -> _Reply:
        """A read: :meth:`query` (:meth:`query_raw` when ``raw``), then — only when its
        final packet counted warnings — ``SHOW WARNINGS`` on the same connection, right
        after, for their texts (the next statement would clear them). A read without
        warnings costs nothing more."""
        reply = await (self.query_raw(conn, sql) if raw else self.query(conn, sql))
        if reply.warnings and (reply.description is not None or reply.fields):
            shown = await self.query(conn, "SHOW WARNINGS")
            reply.notes = warning_notes(shown.rows)
        return reply

    def close_hard(self, conn: Any) -> None:
        conn.close()

    async def close_graceful(self, conn: Any) -> None:
        try:
            await asyncio.wait_for(conn.ensure_closed(), 1.0)
        except BaseException:
            conn.close()
            raise

    async def stream_open(self, conn: Any, sql: str) -> Any:
        raise NotImplementedError

    async def stream_next(self, cursor: Any, n: int) -> list[tuple[Any, ...]]:
        return list(await cursor.fetchmany(n))

    async def stream_close(self, cursor: Any) -> None:
        await cursor.close()


class _Aiomysql(_Driver):
    name = "aiomysql"

    async def connect(self, url: MySQLURL, limit: float, init: list[str]) -> Any:
        from aiomysql.connection import Connection  # type: ignore[import-untyped]

        conn = Connection(
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            db=url.database,
            unix_socket=url.unix_socket,
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=limit,
            init_command="; ".join(init) if init else None,
        )
        # aiomysql always asks for multi-statements; one statement per COM_QUERY unless
        # query_many switches it on (module docstring).
        conn.client_flag &= ~_CLIENT_MULTI_STATEMENTS
        try:
            # Connection._connect is what aiomysql.connect() awaits; called directly so a
            # cancelled connect closes its half-open socket (aiomysql only cleans up on
            # Exception, and CancelledError is not one).
            await conn._connect()
        except BaseException:
            conn.close()
            raise
        return conn

    def usable(self, conn: Any) -> bool:
        writer, reader = conn._writer, conn._reader
        if writer is None or reader is None or writer.transport.is_closing():
            return False
        # Anything readable on an idle connection (EOF, an error packet sent by a
        # server-side KILL or wait_timeout) means the server ended it.
        return not reader.eof_received and not reader._buffer

    async def query(self, conn: Any, sql: str) -> _Reply:
        await conn.query(sql)
        return self._reply(conn)

    async def query_many(self, conn: Any, sqls: Sequence[str]) -> list[_Reply]:
        return await self._batched(conn, sqls)

    async def _query_group(self, conn: Any, group: Sequence[str]) -> list[_Reply]:
        replies = [await self.query(conn, ";\n".join(sql.rstrip().rstrip(";") for sql in group))]
        for _ in range(len(group) - 1):
            try:
                await conn.next_result()
            except Exception as exc:
                exc.sg_results_before = len(replies)  # type: ignore[attr-defined]
                raise
            replies.append(self._reply(conn))
        return replies

    def _forget_failed(self, conn: Any) -> None:
        # The failed result was never stored: forget the previous one before the next
        # command (aiomysql would otherwise wait for its announced successor).
        conn._result = None

    async def _set_multi_statements(self, conn: Any, on: bool) -> None:
        """COM_SET_OPTION (MYSQL_OPTION_MULTI_STATEMENTS_ON = 0, _OFF = 1)."""
        await conn._execute_command(_COM_SET_OPTION, (0 if on else 1).to_bytes(2, "little"))
        await conn._read_packet()  # EOF/OK; an error packet raises

    @staticmethod
    def _reply(conn: Any) -> _Reply:
        res = conn._result
        rows = res.rows
        message = getattr(res, "message", None)
        return _Reply(
            res.description,
            list(rows) if rows else [],
            res.affected_rows,
            res.insert_id or None,
            res.warning_count,
            message.decode("utf-8", "replace") if isinstance(message, bytes | bytearray) else "",
            getattr(res, "fields", None) or None,
        )

    async def stream_open(self, conn: Any, sql: str) -> Any:
        from aiomysql.cursors import SSCursor  # type: ignore[import-untyped]

        cur = SSCursor(conn)
        await cur.execute(sql)
        return cur


class _Asyncmy(_Driver):
    name = "asyncmy"

    async def connect(self, url: MySQLURL, limit: float, init: list[str]) -> Any:
        from asyncmy.connection import Connection

        conn = Connection(  # type: ignore[no-untyped-call]
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            database=url.database,
            unix_socket=url.unix_socket,
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=max(1, math.ceil(limit)),
            init_command="; ".join(init) if init else None,
        )
        # One statement per COM_QUERY (asyncmy's query_many sends them one by one).
        conn._client_flag &= ~_CLIENT_MULTI_STATEMENTS  # type: ignore[attr-defined]
        try:
            await conn.connect()
        except BaseException:
            conn.close()
            raise
        return conn

    def usable(self, conn: Any) -> bool:
        try:
            return bool(conn.connected) and not conn._stream_broken  # a property
        except Exception:
            return False

    async def query(self, conn: Any, sql: str) -> _Reply:
        async with conn.cursor() as cur:
            affected = await cur.execute(sql)
            desc = cur.description
            rows = await cur.fetchall() if desc else []
            # The final packet's warning count, where the driver kept it.
            warned = getattr(getattr(cur, "_result", None), "warning_count", 0) or 0
            return _Reply(
                desc,
                list(rows),
                affected or 0,
                cur.lastrowid or None,
                int(warned),
                "",
                _fields_of(cur),
            )

    async def stream_open(self, conn: Any, sql: str) -> Any:
        from asyncmy.cursors import SSCursor

        cur = SSCursor(conn)
        await cur.execute(sql)
        return cur


_DRIVERS: dict[str, type[_Driver]] = {"aiomysql": _Aiomysql, "asyncmy": _Asyncmy}
#: The trio-native driver: no asyncio loop, no bridge (:mod:`.native_backend`).
NATIVE_DRIVER = "native"


# -- errors of the drivers ----------------------------------------------------------


def _driver_error_code(exc: BaseException) -> tuple[int, str] | None:
    module = type(exc).__module__ or ""
    if not module.startswith(("pymysql", "aiomysql", "asyncmy")):
        return None
    args: tuple[Any, ...] = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], str(args[1])
    return 0, str(exc)


def is_server_error(exc: BaseException) -> bool:
    """True when the server answered with an error packet (the connection is still clean)."""
    if isinstance(exc, BackendError):
        return exc.code < 2000 and exc.code not in (1927,)
    coded = _driver_error_code(exc)
    return coded is not None and 0 < coded[0] < 2000 and coded[0] != 1927
