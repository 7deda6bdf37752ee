"""How shard statements borrow connections: autocommit pool, or a session transaction.

Children never hold a connection while waiting for anything but their own statement:
a read child borrows, runs one chunk, returns the connection. Inside an explicit
transaction every statement of a data source must use that transaction's connection;
a per-data-source lock makes the children of one statement take turns on it. Waits
for a connection — the pool's (:mod:`sharding.backend.pool`) or this lock — give the
child's executor slot back while they last (``executor.slot_released``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Protocol

import trio

from executor import slot_released
from sharding.backend.base import Connection, DataSource
from sharding.errors import ShardgateError
from sharding.sql.literals import quote_identifier


def _savepoint_name(name: str) -> str:
    # Both backends quote identifiers with backquotes or double quotes; MySQL's form
    # is understood by SQLite too.
    return quote_identifier(name, "mysql")


class Connector(Protocol):
    def connection(
        self, datasource: str, databases: Sequence[str]
    ) -> AbstractAsyncContextManager[Connection]: ...


class AutocommitConnector:
    """Borrow from each data source's pool per statement."""

    def __init__(self, datasources: Mapping[str, DataSource]) -> None:
        self.datasources = datasources

    def connection(
        self, datasource: str, databases: Sequence[str]
    ) -> AbstractAsyncContextManager[Connection]:
        return self.datasources[datasource].connection(databases)


class SessionTransaction:
    """An explicit transaction (BEGIN … COMMIT) spanning data sources.

    One backend transaction per data source, opened on first use with every physical
    database of that source (SQLite dispatches statements by the database they name).
    COMMIT commits the sources one after the other: a failure after the first commit
    is reported as exactly that (see :mod:`sharding.exec.writes`).
    """

    def __init__(
        self, datasources: Mapping[str, DataSource], databases: Mapping[str, Sequence[str]]
    ) -> None:
        self.datasources = datasources
        self.databases = databases
        self._stacks: dict[str, AsyncExitStack] = {}
        self._conns: dict[str, Connection] = {}
        self._locks: dict[str, trio.Lock] = {}
        self.order: list[str] = []
        #: Savepoint names in the order they were set (a name set again moves last).
        self.savepoints: list[str] = []

    @property
    def active(self) -> bool:
        return bool(self._conns)

    async def _open(self, name: str) -> Connection:
        conn = self._conns.get(name)
        if conn is not None:
            return conn
        stack = AsyncExitStack()
        conn = await stack.enter_async_context(
            self.datasources[name].transaction(self.databases.get(name, ()))
        )
        self._stacks[name] = stack
        self._conns[name] = conn
        self.order.append(name)
        # Savepoints set before this source joined: at each of them this source had
        # done nothing, which is exactly its state now, so set them all here too —
        # a later ROLLBACK TO any of them then undoes this source's work as well.
        for point in self.savepoints:
            await conn.execute(f"SAVEPOINT {_savepoint_name(point)}")
        return conn

    # ------------------------------------------------------------------ savepoints
    async def savepoint(self, name: str) -> None:
        """``SAVEPOINT name`` on every data source the transaction holds (and, through
        :meth:`_open`, on every one it opens later)."""
        await self._on_every_source(f"SAVEPOINT {_savepoint_name(name)}")
        self.savepoints = [p for p in self.savepoints if p.lower() != name.lower()] + [name]

    async def rollback_to(self, name: str) -> None:
        """``ROLLBACK TO SAVEPOINT name`` everywhere; later savepoints are gone."""
        index = self._index(name)
        await self._on_every_source(f"ROLLBACK TO SAVEPOINT {_savepoint_name(name)}")
        del self.savepoints[index + 1 :]

    async def release(self, name: str) -> None:
        """``RELEASE SAVEPOINT name`` everywhere; it and later savepoints are gone."""
        index = self._index(name)
        await self._on_every_source(f"RELEASE SAVEPOINT {_savepoint_name(name)}")
        del self.savepoints[index:]

    def _index(self, name: str) -> int:
        for i, point in enumerate(self.savepoints):
            if point.lower() == name.lower():
                return i
        raise ShardgateError(f"SAVEPOINT {name} does not exist", code=1305, sqlstate="42000")

    async def _on_every_source(self, sql: str) -> None:
        for name in list(self.order):
            async with self.connection(name, ()) as conn:
                await conn.execute(sql)

    @asynccontextmanager
    async def connection(
        self, datasource: str, databases: Sequence[str]
    ) -> AsyncIterator[Connection]:
        lock = self._locks.setdefault(datasource, trio.Lock())
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            # A sibling child is using the transaction's connection: wait without
            # holding an executor slot (the wait is not this child's own work).
            got = False
            try:
                async with slot_released(f"waiting for the transaction connection of {datasource}"):
                    await lock.acquire()
                    got = True
            except BaseException:
                # Cancelled while taking the slot back, after the lock was ours.
                if got:
                    lock.release()
                raise
        try:
            conn = await self._open(datasource)
            # A SET inside the transaction reaches its held connection too (the
            # session's view of the sources says what it should have applied).
            settings_for = getattr(self.datasources, "settings_for", None)
            apply = getattr(conn, "apply_settings", None)
            if settings_for is not None and apply is not None:
                await apply(settings_for(datasource))
            yield conn
        finally:
            lock.release()

    async def finish(self, commit: bool) -> list[tuple[str, BaseException | None]]:
        """Commit (or roll back) every data source; returns (source, error) per source."""
        from sharding.exec.writes import finish_stacks

        stacks = [(name, self._stacks[name]) for name in self.order]
        self._stacks.clear()
        self._conns.clear()
        self.order = []
        self.savepoints = []
        return await finish_stacks(stacks, commit)
