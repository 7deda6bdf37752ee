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
        return conn

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
        return await finish_stacks(stacks, commit)
