"""A fake session factory whose ``SELECT FANOUT(n, s)`` is a real executor fan-out.

``FANOUT(n, s)`` opens one executor query for the session (``session=`` the session
id, as the coordinator does) with ``n`` children that each sleep ``s`` seconds, so its
progress (children done / total) moves at a rate the test controls. It honours
``Session.cancel()`` (KILL QUERY) exactly like the server fakes' ``SLEEP``: the session
counts ``cancel_calls`` and ``interrupted`` and the client gets ER_QUERY_INTERRUPTED.
Everything else is the SQLite-backed :class:`tests.server.fakes.FakeSession`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import trio

from sharding.api import Column, Result
from sharding.errors import QueryInterrupted
from tests.server.fakes import FakeSession, FakeSessionFactory

_FANOUT = re.compile(r"\s*SELECT\s+FANOUT\s*\(\s*(\d+)\s*,\s*([\d.]+)\s*\)\s*;?\s*\Z", re.I)


class FanoutSession(FakeSession):
    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        m = _FANOUT.match(sql)
        if m is None:
            return await super().execute(sql, params)
        self.executed.append((sql, params))
        return await self._fanout(int(m.group(1)), float(m.group(2)))

    async def _fanout(self, shards: int, seconds: float) -> Result:
        ex = self.factory.executor
        assert ex is not None, "FANOUT needs an executor"
        with trio.CancelScope() as scope:
            self._sleep_scope = scope  # what FakeSession.cancel() cancels
            try:
                async with ex.query(name=f"fanout-{self.id}", session=self.id) as q:
                    await q.map(trio.sleep, [seconds] * shards)
            finally:
                self._sleep_scope = None
        if scope.cancelled_caught:
            self.interrupted += 1
            raise QueryInterrupted("Query execution was interrupted")
        return Result(columns=[Column("FANOUT")], rows=[(shards,)])


class FanoutSessionFactory(FakeSessionFactory):
    def open_session(self, *, user: str = "root", database: str | None = None) -> FakeSession:
        session = super().open_session(user=user, database=database)
        fanout = FanoutSession(self, session.id, user, session.database)
        self.sessions[-1] = fanout
        return fanout
