"""What a client-facing front end (the MySQL wire-protocol server, an embedding program)
needs from the coordinator: sessions that execute statements and return results.

This module only fixes the shapes, so the protocol server and the coordinator can be
built and tested independently (the server's tests use a fake session; the coordinator
implements the real one).

Invariants:

* ``Session.execute`` either returns a :class:`Result` or raises a
  :class:`sharding.errors.ShardgateError` (MySQL code + SQLSTATE + message). Any other
  exception escaping it is a bug; front ends report it as error 1105.
* ``Session.cancel()`` may be called from any trio task (``KILL QUERY``, client gone):
  the running statement, and every shard subquery it started, is cancelled, and its
  ``execute`` raises ``QueryInterrupted``. With no statement running it does nothing.
* A ``Result`` with ``columns`` is a result set (possibly with zero rows); without
  columns it is an OK packet (``affected``, ``last_insert_id``, ``warnings``).
* ``Session.stream`` runs a SELECT with bounded memory, for results too large to hold
  (a front end sending a million rows to a client)::

      async with session.stream(sql, params) as rs:   # errors before any row: here
          send_header(rs.columns)                      # known before the first batch
          async for batch in rs:                       # non-empty lists of rows
              send_rows(batch)                         # later errors: from the loop

  The statement produces a batch only when the consumer asks for it, so a slow
  consumer slows the shard reads instead of buffering rows. Leaving the ``async
  with`` early (``break``, an error, cancellation) stops the statement and its shard
  reads; it returns once the session is free for its next statement. A result that
  ends early for any reason but its own end (cancelled, the coordinator closing) is an
  error, never a silently short result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from sharding.backend.base import Column, Row

__all__ = ["ClientInfo", "Column", "Result", "ResultStream", "Row", "Session", "SessionFactory"]


@dataclass(slots=True)
class Result:
    columns: list[Column] | None = None
    rows: list[Row] = field(default_factory=list)
    affected: int = 0
    last_insert_id: int | None = None
    warnings: int = 0
    info: str = ""

    @property
    def is_result_set(self) -> bool:
        return self.columns is not None


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is on the other end of a protocol connection, handed to a session that owns
    its state (optional ``Session.attach_client``): ``USER()``/``CONNECTION_ID()``,
    the server's identity variables (``@@version``, ``@@max_allowed_packet``, ...),
    and whether the client asked for CLIENT_FOUND_ROWS (affected rows = matched rows).

    Sessions may also offer ``answer_locally(sql, status) -> Result | None``: answers
    from session state that never enter a bucket (``SELECT @@version_comment``, ``SHOW
    VARIABLES``); None means "run it with ``execute``". And ``async describe(sql) ->
    list[Column] | None``: the result columns of a statement without running it, for
    ``COM_STMT_PREPARE`` (None: no result set, or known only when it runs; columns may
    carry a derived wire definition, ``Column.wire``). Front ends use these when
    present (``getattr``) and keep their own minimal state otherwise.

    Result columns: a column with ``wire`` (every SELECT over MariaDB shards: the
    shard's own definition, the catalog's, or MariaDB's rule for what the coordinator
    computes) is sent with exactly that definition; its values are never inspected
    for a type."""

    connection_id: int
    host: str
    found_rows: bool = False
    identity: Mapping[str, Any] = field(default_factory=dict)
    #: The character set of the handshake (character_set_client/connection/results).
    charset: str = "utf8mb4"


class ResultStream(Protocol):
    """The rows of one streamed SELECT (see module invariants)."""

    @property
    def columns(self) -> list[Column]:
        """The result columns; known once the ``async with`` is entered."""
        ...

    def __aiter__(self) -> AsyncIterator[list[Row]]: ...

    async def __aenter__(self) -> ResultStream: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


class Session(Protocol):
    """One client's session: current database, autocommit, open transaction."""

    @property
    def id(self) -> int: ...

    @property
    def query_id(self) -> int | None:
        """Executor query id of the running statement (``KILL QUERY``, PROCESSLIST)."""
        ...

    @property
    def database(self) -> str | None: ...

    @property
    def in_transaction(self) -> bool: ...

    @property
    def autocommit(self) -> bool: ...

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """Run one statement. ``params`` fill ``?`` placeholders (prepared statements)."""
        ...

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> ResultStream:
        """Run a SELECT with bounded memory: ``async with session.stream(sql) as rs``."""
        ...

    async def use(self, database: str) -> None:
        """``USE db`` / COM_INIT_DB; raises UnknownDatabase."""
        ...

    def cancel(self) -> None:
        """Cancel the running statement (if any); see module invariants."""
        ...

    async def close(self) -> None:
        """Roll back an open transaction and release everything the session holds."""
        ...


class SessionFactory(Protocol):
    def open_session(self, *, user: str = "root", database: str | None = None) -> Session: ...
