"""KILL / client disconnect cancel the session's statement; health checks (COM_PING,
admin SQL, the admin port) answer within 100 ms while every bucket is saturated by
stuck statements (seed 002). The fake session runs SLEEP as a real executor query."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pymysql
import pytest
import trio

from executor import BucketedExecutor, ExecutorConfig
from sharding.server import CoordinatorAdmin
from tests.server.conftest import Served, in_thread, start_server, wait_until
from tests.server.fakes import FakeSessionFactory

HEALTH_BUDGET = 0.1  # seconds: the bound for ping / admin SQL under saturation


@pytest.fixture
async def saturated(nursery: trio.Nursery) -> AsyncIterator[tuple[Served, BucketedExecutor]]:
    cfg = ExecutorConfig(
        buckets=2,
        slots_per_bucket=2,
        window=2,
        stall_limit=60.0,
        oversubscribe=0,
        deadlock_timeout=600.0,
    )
    async with BucketedExecutor(cfg) as ex:
        factory = FakeSessionFactory(executor=ex, sleep_shards=4)
        admin = CoordinatorAdmin(SimpleNamespace(executor=ex, datasources={}, catalog=None))
        served = await start_server(nursery, factory=factory, admin=admin)
        yield served, ex
        served.server.shutdown()


def _stuck_client(served: Served, errors: list[int], ids: list[int]) -> None:
    with served.pymysql(read_timeout=60) as c, c.cursor() as cur:
        ids.append(c.thread_id())
        try:
            cur.execute("SELECT SLEEP(60)")
        except pymysql.MySQLError as exc:
            errors.append(exc.args[0])


async def test_health_checks_answer_while_buckets_are_saturated(
    saturated: tuple[Served, BucketedExecutor], nursery: trio.Nursery
) -> None:
    served, ex = saturated
    errors: list[int] = []
    ids: list[int] = []
    # Before saturating: one connection on each port, so the measurements below do
    # not include connection setup.
    main = await in_thread(lambda: served.pymysql(autocommit=True))
    adm = await in_thread(lambda: served.pymysql(port=served.server.admin_port))
    for _ in range(6):  # 6 queries x 4 children, 4 slots in all: everything is stuck
        nursery.start_soon(in_thread, _stuck_client, served, errors, ids)
    await wait_until(
        lambda: (
            len(ex.queries()) == 6
            and all(b.active == b.slots for b in ex.status())
            and sum(b.queued_low + b.queued_high for b in ex.status()) > 0
        )
    )

    def measure() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, conn in (("main", main), ("admin", adm)):
            t0 = time.perf_counter()
            conn.ping(reconnect=False)
            out[f"{name}_ping"] = time.perf_counter() - t0
            with conn.cursor() as cur:
                t0 = time.perf_counter()
                cur.execute("SHOW THREAD_POOL_STATUS")
                out[f"{name}_status"] = time.perf_counter() - t0
                out[f"{name}_status_rows"] = cur.fetchall()
                out["columns"] = [d[0] for d in cur.description]
                t0 = time.perf_counter()
                cur.execute("SHOW PROCESSLIST")
                out[f"{name}_processlist"] = time.perf_counter() - t0
                out[f"{name}_pl_rows"] = cur.fetchall()
                out["pl_columns"] = [d[0] for d in cur.description]
        with adm.cursor() as cur:
            t0 = time.perf_counter()
            cur.execute(f"KILL QUERY {ids[0]}")
            out["kill"] = time.perf_counter() - t0
        return out

    m = await in_thread(measure)
    for key in (
        "main_ping",
        "admin_ping",
        "main_status",
        "admin_status",
        "main_processlist",
        "admin_processlist",
        "kill",
    ):
        assert m[key] < HEALTH_BUDGET, (key, m[key])
    cols = m["columns"]
    rows = [dict(zip(cols, r, strict=True)) for r in m["admin_status_rows"]]
    assert len(rows) == 2 and all(r["active"] == r["slots"] == 2 for r in rows)
    assert sum(r["queued_low"] + r["queued_high"] for r in rows) > 0
    pl = [dict(zip(m["pl_columns"], r, strict=True)) for r in m["admin_pl_rows"]]
    stuck = [r for r in pl if r["Info"] == "SELECT SLEEP(60)"]
    assert len(stuck) == 6
    assert all(r["Shards_total"] == 4 and r["Bucket"] in (0, 1) and r["Query_id"] for r in stuck), [
        (r["Shards_total"], r["Bucket"], r["Query_id"], r["State"]) for r in stuck
    ]
    # The killed one ends with ER_QUERY_INTERRUPTED; kill the rest from the main port.
    await wait_until(lambda: errors == [1317])

    def kill_rest() -> None:
        with main.cursor() as cur:
            for cid in ids[1:]:
                cur.execute(f"KILL QUERY {cid}")

    await in_thread(kill_rest)
    await wait_until(lambda: len(errors) == 6)
    assert errors == [1317] * 6
    await wait_until(lambda: not ex.queries())
    assert all(b.active == 0 and b.queued_low == 0 and b.queued_high == 0 for b in ex.status())
    main.close()
    adm.close()


async def test_kill_query_by_executor_query_id(
    saturated: tuple[Served, BucketedExecutor], nursery: trio.Nursery
) -> None:
    served, ex = saturated
    errors: list[int] = []
    nursery.start_soon(in_thread, _stuck_client, served, errors, [])
    await wait_until(lambda: len(ex.queries()) == 1)
    qid = ex.queries()[0].id

    def kill() -> int:
        with served.pymysql(port=served.server.admin_port) as c, c.cursor() as cur:
            cur.execute(f"KILL QUERY ID {qid}")
            with pytest.raises(pymysql.MySQLError) as info:
                cur.execute("KILL QUERY ID 999999")
            return info.value.args[0]

    assert await in_thread(kill) == 1957
    await wait_until(lambda: len(errors) == 1)
    assert errors[0] in (1317, 1105)  # interrupted (QueryCancelled from the executor)


async def test_client_disconnect_cancels_the_statement(served: Served) -> None:
    sock = socket.create_connection(("127.0.0.1", served.port))

    def run_and_vanish() -> None:
        c = pymysql.connect(host="127.0.0.1", port=served.port, user="root", password="")
        c._sock.sendall(b"")  # connected; now send a query and disappear without reading
        c._execute_command(pymysql.constants.COMMAND.COM_QUERY, "SELECT SLEEP(60)")
        time.sleep(0.2)
        c._sock.close()

    await in_thread(run_and_vanish)
    sock.close()
    await wait_until(lambda: any(s.interrupted for s in served.factory.sessions))
    session = next(s for s in served.factory.sessions if s.interrupted)
    assert session.cancel_calls >= 1
    await wait_until(lambda: session.closed)


async def test_kill_connection_closes_it(served: Served, nursery: trio.Nursery) -> None:
    errors: list[int] = []
    ids: list[int] = []
    nursery.start_soon(in_thread, _stuck_client, served, errors, ids)
    await wait_until(lambda: served.factory.sleeping == 1)

    def kill() -> None:
        with served.pymysql() as c, c.cursor() as cur:
            cur.execute(f"KILL {ids[0]}")
            with pytest.raises(pymysql.MySQLError) as info:
                cur.execute("KILL 424242")
            assert info.value.args[0] == 1094

    await in_thread(kill)
    await wait_until(lambda: len(errors) == 1)
    assert errors == [1317]
    await wait_until(lambda: len(served.server._connections) == 0)


async def test_kill_idle_connection(served: Served) -> None:
    def run() -> int:
        victim = served.pymysql()
        with served.pymysql() as c, c.cursor() as cur:
            cur.execute(f"KILL CONNECTION {victim.thread_id()}")
        with pytest.raises(pymysql.MySQLError) as info, victim.cursor() as vcur:
            vcur.execute("SELECT 1")
        return info.value.args[0]

    # the victim reads the ER_CONNECTION_KILLED packet sent when it was killed, or EOF
    assert await in_thread(run) in (1927, 2013, 2006)
