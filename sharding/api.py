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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sharding.backend.base import Column, Row

__all__ = ["Column", "Result", "Row", "Session", "SessionFactory"]


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


class Session(Protocol):
    """One client's session: current database, autocommit, open transaction."""

    @property
    def id(self) -> int: ...

    @property
    def database(self) -> str | None: ...

    @property
    def in_transaction(self) -> bool: ...

    @property
    def autocommit(self) -> bool: ...

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """Run one statement. ``params`` fill ``?`` placeholders (prepared statements)."""
        ...

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> AsyncIterator[list[Row]]:
        """Run a SELECT and yield batches of rows with bounded memory."""
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
