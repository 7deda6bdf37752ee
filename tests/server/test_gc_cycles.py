"""The protocol server leaves no reference cycles behind (issue 12, item 5).

``shardgate serve`` raises the cyclic collector's first threshold (``--gc-threshold``),
so full collections are rare and anything that only dies in a cycle accumulates: the
issue measured ~6.5 KB per connection. Whatever the server layer allocates for a
connection or a statement (the connection, its codec, reader task, nursery, cancel
scopes, events, prepared statements, error paths, KILL and protocol errors) must die by
reference counting.

Measured with the collector disabled and ``DEBUG_SAVEALL``: after a workload over the
fake session, a collection may find cycles only in objects the server layer does not
own (sqlglot trees link children to parents by design); none of type ``trio.*`` or
``sharding.server.*``.
"""

from __future__ import annotations

import gc
import struct
from collections import Counter

import trio

from tests.server.conftest import Served, in_thread, wait_until
from tests.server.rawclient import RawClient
from tests.server.test_stalled_clients import BIG, stalled_reader

STATEMENTS = [
    "SELECT 1",
    "SELECT @@version",
    "CREATE TABLE IF NOT EXISTS t (a INT)",
    "INSERT INTO t VALUES (1)",
    "SELECT a FROM t",  # streamed
    "SELECT * FROM nosuch",  # error from the session
    "SELECT BOOM",  # internal error (1105)
    "SET @x = 1",
    "BEGIN",
    "COMMIT",
    "SELECT 1; SELECT 2",  # 1064 without CLIENT_MULTI_STATEMENTS
    "USE nosuchdb",
]


def _round(port: int) -> None:
    c = RawClient(port)
    c.login(database="test")
    for sql in STATEMENTS:
        c.query(sql)
    c.command(b"\x04t\xff\x00")  # COM_FIELD_LIST, invalid UTF-8
    c.read_packet()
    c.command(b"\x16SELECT ?")  # prepare, execute with one BIGINT, close
    ok = c.read_packet()[1]
    c.read_packet()
    c.read_packet()
    c.command(b"\x17" + ok[1:5] + b"\x00\x01\x00\x00\x00\x00\x01\x08\x00" + struct.pack("<q", 5))
    c.read_response()
    c.command(b"\x19" + ok[1:5])
    c.command(b"")  # malformed (not fatal)
    c.read_packet()
    c.command(b"\x01")
    c.close()
    bad = RawClient(port)
    bad.login()
    bad.sock.sendall(b"\x03\x00\x00\x05abc")  # wrong sequence id: fatal
    bad.read_packet()
    bad.close()


async def _killed_idle(served: Served) -> None:
    def run() -> None:
        victim = RawClient(served.port)
        victim.login()
        killer = RawClient(served.port)
        killer.login()
        victim_id = max(served.server._connections) - 1
        killer.query(f"KILL {victim_id}")
        victim.read_packet()  # ER_CONNECTION_KILLED
        victim.close()
        killer.close()

    await in_thread(run)


async def _killed_writer(served: Served) -> None:
    before = set(served.server._connections)
    client = await in_thread(stalled_reader, served.port, BIG)
    (cid,) = set(served.server._connections) - before
    await wait_until(lambda: served.server._connections[cid]._write_scope is not None)
    served.server.kill(cid, query_only=False)
    await wait_until(lambda: cid not in served.server._connections)
    client.close()


async def _workload(served: Served, rounds: int) -> None:
    for _ in range(rounds):
        await in_thread(_round, served.port)
        await _killed_idle(served)
    await _killed_writer(served)
    await wait_until(lambda: not served.server._connections)
    await trio.sleep(0.05)


async def test_no_cycles_in_the_server_layer(served: Served) -> None:
    await _workload(served, 2)  # warm-up: caches, lazily created module state
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await _workload(served, 5)
        gc.collect()
        kinds = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    ours = {
        k: n for k, n in kinds.items() if k.startswith(("trio.", "sharding.server", "outcome."))
    }
    assert ours == {}
