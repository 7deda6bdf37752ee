"""A SELECT streamed in the command task (``Session.stream_into``, issue 16): the
connection's result writer runs inside the statement, so its writes must behave as
they did when a producer task handed the batches over a channel.

The session here is the protocol tests' fake with ``stream_into`` added: the statement
runs in the calling task and hands its rows to the sink in batches of 500, each after a
checkpoint, the way a coordinator statement reads its shards. What is checked:

* the rows and column definitions are those of the ``Session.stream`` path;
* ``KILL QUERY`` while the writer is blocked (a client that reads nothing) lets the bytes
  already encoded go out, then the result ends with 1317 and the connection serves on
  (the write is shielded from the statement's cancellation; a packet is never cut);
* ``KILL`` closes such a connection at once; ``net_write_timeout`` drops it;
* a client that disconnects mid-result: the statement is cancelled, the connection
  closed, nothing logged as an internal error;
* shutdown: a connection blocked writing inside a statement is closed by the shutdown
  deadline, not after ``net_write_timeout``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import structlog
import trio

from sharding.api import Result
from sharding.errors import NotSupported, QueryInterrupted
from tests.server.conftest import Served, in_thread, start_server, wait_until
from tests.server.fakes import FakeSession, FakeSessionFactory
from tests.server.test_stalled_clients import BIG, read_until_closed_or_error, stalled_reader

BATCH = 500


class StreamingSession(FakeSession):
    """The fake session with ``stream_into``: rows handed to the sink in this task."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._stream_scope: trio.CancelScope | None = None
        self.streamed = 0
        self.interrupted_streams = 0

    async def stream_into(self, sql: str, params: Sequence[Any] | None, sink: Any) -> Result:
        self.streamed += 1
        with trio.CancelScope() as scope:
            self._stream_scope = scope
            try:
                result = await self.execute(sql, params)
                if result.columns is None:
                    raise NotSupported("not a result set")
                await sink.header(result.columns)
                rows = result.rows
                for start in range(0, len(rows), BATCH):
                    await trio.lowlevel.checkpoint()  # a shard read between batches
                    if not await sink.rows(rows[start : start + BATCH]):
                        break
            finally:
                self._stream_scope = None
        if scope.cancelled_caught:
            self.interrupted_streams += 1
            raise QueryInterrupted("Query execution was interrupted")
        return Result(columns=result.columns)

    def cancel(self) -> None:
        super().cancel()
        if self._stream_scope is not None:
            self._stream_scope.cancel()


class StreamingFactory(FakeSessionFactory):
    def open_session(self, *, user: str = "root", database: str | None = None) -> FakeSession:
        plain = super().open_session(user=user, database=database)
        self.sessions.pop()
        s = StreamingSession(self, plain.id, user, database)
        self.sessions.append(s)
        return s


@pytest.fixture
async def streaming(nursery: trio.Nursery) -> AsyncIterator[Served]:
    s = await start_server(nursery, factory=StreamingFactory())
    yield s
    s.server.shutdown()


def _writing_inside_statement(served: Served, cid: int) -> bool:
    conn = served.server._connections.get(cid)
    return conn is not None and conn._write_scope is not None and conn._writer is not None


async def _stall(served: Served) -> tuple[Any, int]:
    before = set(served.server._connections)
    client = await in_thread(lambda: stalled_reader(served.port, BIG))
    (cid,) = set(served.server._connections) - before
    await wait_until(lambda: _writing_inside_statement(served, cid))
    await trio.sleep(0.2)
    assert _writing_inside_statement(served, cid)  # blocked in the writer's flush
    return client, cid


async def test_streamed_rows_and_columns_match_the_stream_path(
    streaming: Served, nursery: trio.Nursery
) -> None:
    plain = await start_server(nursery)
    sql = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) "
        "SELECT x, x * 0.5 AS half, printf('%05d', x) AS pad, NULL AS n FROM c"
    )

    def fetch(served: Served) -> tuple[Any, Any]:
        with served.pymysql() as c, c.cursor() as cur:
            cur.execute(sql)
            return cur.description, cur.fetchall()

    got = await in_thread(fetch, streaming)
    want = await in_thread(fetch, plain)
    assert got == want and len(got[1]) == 3000
    assert streaming.factory.sessions[-1].streamed == 1
    plain.server.shutdown()


async def test_kill_query_while_writing_ends_with_1317_and_keeps_the_connection(
    streaming: Served,
) -> None:
    victim, cid = await _stall(streaming)
    session = streaming.factory.sessions[-1]

    def kill_query() -> None:
        with streaming.pymysql() as c, c.cursor() as cur:
            cur.execute(f"KILL QUERY {cid}")

    await in_thread(kill_query)
    # The rows already encoded, then 1317 (not the rest of the 50,000 rows, and no
    # packet cut in half: the client parses every packet up to the error).
    assert await in_thread(read_until_closed_or_error, victim) == 1317
    assert session.cancel_calls >= 1
    answer = await in_thread(victim.query, "SELECT 1")
    assert answer[0] == b"\x01"
    victim.close()


async def test_kill_closes_a_connection_blocked_writing_at_once(streaming: Served) -> None:
    victim, cid = await _stall(streaming)
    session = streaming.factory.sessions[-1]

    def kill() -> None:
        with streaming.pymysql() as c, c.cursor() as cur:
            cur.execute(f"KILL {cid}")

    started = time.monotonic()
    await in_thread(kill)
    await wait_until(lambda: cid not in streaming.server._connections, limit=5)
    assert time.monotonic() - started < 1.0
    assert session.closed
    assert await in_thread(read_until_closed_or_error, victim) is None
    victim.close()


async def test_net_write_timeout_drops_a_reader_that_reads_nothing(
    nursery: trio.Nursery,
) -> None:
    served = await start_server(nursery, factory=StreamingFactory(), net_write_timeout=1.0)
    with structlog.testing.capture_logs() as events:
        client, cid = await _stall(served)
        await wait_until(lambda: cid not in served.server._connections, limit=5)
    abandoned = [e for e in events if e["event"] == "response write abandoned"]
    assert [e["reason"] for e in abandoned] == ["net_write_timeout"]
    assert not [e for e in events if e.get("log_level") == "error"]
    client.close()
    served.server.shutdown()


async def test_client_gone_mid_result_cancels_quietly(streaming: Served) -> None:
    with structlog.testing.capture_logs() as events:
        victim, cid = await _stall(streaming)
        session = streaming.factory.sessions[-1]
        victim.sock.close()
        await wait_until(lambda: cid not in streaming.server._connections, limit=5)
    assert session.cancel_calls >= 1 and session.closed
    assert not [e for e in events if e.get("log_level") in ("error", "critical")], events


async def test_shutdown_closes_a_connection_blocked_writing_in_a_statement(
    nursery: trio.Nursery,
) -> None:
    # net_write_timeout 60 s (the default): the shutdown deadline must end the write.
    served = await start_server(nursery, factory=StreamingFactory(), shutdown_timeout=0.5)
    client, cid = await _stall(served)
    started = time.monotonic()
    served.server.shutdown()
    await wait_until(lambda: cid not in served.server._connections, limit=10)
    assert time.monotonic() - started < 5.0
    client.close()
