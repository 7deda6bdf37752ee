"""2,000 client connections open at once, each running a query (issue 5 acceptance 5).

One asyncio loop (aiomysql) in a worker thread opens every connection, waits until all
are open, then runs a query on each concurrently; the server (trio, no thread per
connection) must see all 2,000 at the same time and answer every one.
"""

from __future__ import annotations

import asyncio
import resource

import aiomysql
import pytest

from tests.server.conftest import Served, in_thread

N = 2000


@pytest.fixture
def enough_fds() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * N + 500  # both ends of every connection live in this process
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


async def test_two_thousand_concurrent_connections(served: Served, enough_fds: None) -> None:
    async def clients(port: int) -> list[int]:
        sem = asyncio.Semaphore(200)  # pace the connect burst (listen backlog)

        async def connect() -> aiomysql.Connection:
            async with sem:
                return await aiomysql.connect(
                    host="127.0.0.1",
                    port=port,
                    user="root",
                    password="",
                    autocommit=True,
                    connect_timeout=60,
                )

        conns = await asyncio.gather(*(connect() for _ in range(N)))

        async def query(i: int, conn: aiomysql.Connection) -> int:
            async with conn.cursor() as cur:
                await cur.execute("SELECT %s * 2", (i,))  # goes to the (fake) session
                (doubled,) = await cur.fetchone()
                assert doubled == 2 * i
                return int(conn.server_thread_id[0])

        try:
            return await asyncio.gather(*(query(i, c) for i, c in enumerate(conns)))
        finally:
            for c in conns:
                c.close()

    ids = await in_thread(lambda: asyncio.run(clients(served.port)))
    assert len(set(ids)) == N
    assert served.server.status_variables()["Max_used_connections"] >= N
    assert served.factory.executed == N
