"""The reader task is armed lazily on plain TCP (``sharding/server/connection.py``):
the command task reads its next command itself; a statement that runs longer than
``WATCH_CLIENT_AFTER`` gets its client watched by the reader once the client's socket
is readable (EOF, a pipelined command), and the command task reads again once it is
over. What the reader did before still holds: pipelined commands, a client gone
mid-statement, KILL / drain / wait_timeout of an idle connection."""

from __future__ import annotations

import struct
import time
from typing import Any

import pymysql
import trio

from sharding.server.connection import WATCH_CLIENT_AFTER, ClientConnection
from tests.server.conftest import Served, in_thread, start_server, wait_until


def _only_connection(served: Served) -> ClientConnection:
    (conn,) = served.server._connections.values()
    return conn


def _read_results(conn: pymysql.connections.Connection, n: int) -> list[Any]:
    """The rows of the next ``n`` results on ``conn`` (commands sent raw, unanswered)."""
    out = []
    for _ in range(n):
        conn._next_seq_id = 1
        r = pymysql.connections.MySQLResult(conn)
        r.read()
        out.append(r.rows)
    return out


def _query_packet(sql: str) -> bytes:
    payload = b"\x03" + sql.encode()
    return struct.pack("<I", len(payload))[:3] + b"\x00" + payload


async def test_short_statements_never_arm_the_reader(served: Served) -> None:
    client = await in_thread(lambda: served.pymysql(autocommit=True))
    conn = _only_connection(served)
    assert conn._direct_reads
    for _ in range(20):
        await in_thread(lambda: client.cursor().execute("SELECT 1"))
        assert not conn._reader_armed
    assert conn._arm._task is not None  # the reader is parked on its arming signal
    await in_thread(client.close)


async def test_a_long_statement_whose_client_waits_leaves_the_reader_parked(
    served: Served,
) -> None:
    """The reaper polls the client of a long statement: a client that just waits for
    its answer is not watched by a reader (no wake-up, no hand-over of its next
    command); the statement and the next ones are answered as before."""
    client = await in_thread(lambda: served.pymysql(autocommit=True, read_timeout=30))
    conn = _only_connection(served)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(in_thread, lambda: client.cursor().execute("SELECT SLEEP(2)"))
        await wait_until(lambda: served.factory.sleeping == 1)
        # Three reaper periods into the statement, the client silent all along.
        await trio.sleep(3 * WATCH_CLIENT_AFTER + 0.1)
        assert served.factory.sleeping == 1
        assert not conn._reader_armed
    with client.cursor() as cur:
        await in_thread(cur.execute, "SELECT 2")
        assert await in_thread(cur.fetchall) == ((2,),)
    assert not conn._reader_armed
    await in_thread(client.close)


async def test_a_client_that_sends_during_a_long_statement_arms_the_reader(
    served: Served,
) -> None:
    """A command pipelined while a long statement runs makes the client's socket
    readable: the reaper arms the reader, which takes it; both are answered in order,
    and once the next command is read the command task reads again."""
    sock_holder: list[pymysql.connections.Connection] = []

    def start() -> None:
        c = pymysql.connect(host="127.0.0.1", port=served.port, user="root", password="")
        sock_holder.append(c)
        c._sock.sendall(_query_packet("SELECT SLEEP(2)"))

    await in_thread(start)
    (client,) = sock_holder
    conn = _only_connection(served)
    await wait_until(lambda: served.factory.sleeping == 1)
    started = trio.current_time()
    await in_thread(client._sock.sendall, _query_packet("SELECT 42"))
    await wait_until(lambda: conn._reader_armed, limit=5)
    assert trio.current_time() - started < 2 * WATCH_CLIENT_AFTER + 0.5
    assert served.factory.sleeping == 1  # still inside the statement

    rows = await in_thread(_read_results, client, 2)
    assert rows[1] == ((42,),)
    # The reader reads the command after those (the statements are over): from then
    # on the command task reads again.
    for n in (2, 3):
        with client.cursor() as cur:
            await in_thread(cur.execute, f"SELECT {n}")
            assert await in_thread(cur.fetchall) == ((n,),)
    await wait_until(lambda: not conn._reader_armed)
    await in_thread(client.close)


async def test_pipelined_commands_are_answered_in_order(served: Served) -> None:
    def run() -> list[Any]:
        c = pymysql.connect(host="127.0.0.1", port=served.port, user="root", password="")
        try:
            # Two queries in one write, before reading anything: the second one's
            # bytes arrive with the first (the command task's own read takes both).
            c._sock.sendall(_query_packet("SELECT 41") + _query_packet("SELECT 42"))
            return _read_results(c, 2)
        finally:
            c.close()

    assert await in_thread(run) == [((41,),), ((42,),)]


async def test_a_client_gone_during_a_long_statement_cancels_it(served: Served) -> None:
    def run_and_vanish() -> None:
        c = pymysql.connect(host="127.0.0.1", port=served.port, user="root", password="")
        c._execute_command(pymysql.constants.COMMAND.COM_QUERY, "SELECT SLEEP(60)")
        time.sleep(0.1)
        c._sock.close()

    started = trio.current_time()
    await in_thread(run_and_vanish)
    await wait_until(lambda: any(s.interrupted for s in served.factory.sessions), limit=10)
    # Noticed once the reaper armed the reader: within about a second, not 60.
    assert trio.current_time() - started < 3 * WATCH_CLIENT_AFTER + 1
    # ... and the connection is gone with both its tasks (the nursery closed).
    await wait_until(lambda: len(served.server._connections) == 0)
    assert served.factory.sleeping == 0


async def test_idle_ends_wake_the_command_tasks_own_read(nursery: trio.Nursery) -> None:
    """KILL, wait_timeout and drain() end an idle wait that is the command task's own
    socket read (``notify_closing``): each answers as before and closes."""
    served = await start_server(nursery, wait_timeout=1)
    try:
        victim = await in_thread(lambda: served.pymysql(autocommit=True))
        sleeper = await in_thread(lambda: served.pymysql(autocommit=True))
        conns = list(served.server._connections.values())
        await wait_until(lambda: all(c._reading for c in conns))
        assert not any(c._reader_armed for c in conns)

        def kill() -> None:
            with served.pymysql() as c, c.cursor() as cur:
                cur.execute(f"KILL CONNECTION {victim.thread_id()}")

        await in_thread(kill)

        def first_error(c: pymysql.connections.Connection) -> int:
            try:
                with c.cursor() as cur:
                    cur.execute("SELECT 1")
            except pymysql.MySQLError as exc:
                return int(exc.args[0])
            return 0

        assert await in_thread(first_error, victim) in (1927, 2013)
        # wait_timeout (1 s): the server says why (4031) and closes.
        await trio.sleep(1.5)
        assert await in_thread(first_error, sleeper) in (4031, 2013)
        await wait_until(lambda: len(served.server._connections) == 0)
    finally:
        served.server.shutdown()


async def test_drain_closes_an_idle_connection_at_once(nursery: trio.Nursery) -> None:
    served = await start_server(nursery)
    client = await in_thread(lambda: served.pymysql(autocommit=True))
    conn = _only_connection(served)
    await wait_until(lambda: conn._reading)
    started = trio.current_time()
    served.server.shutdown()
    await wait_until(lambda: len(served.server._connections) == 0, limit=5)
    assert trio.current_time() - started < 1.5
    client.close()
