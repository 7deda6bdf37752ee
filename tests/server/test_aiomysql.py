"""aiomysql (asyncio) against the server, which runs on trio: asyncio.run in a thread."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql
import pymysql
import pytest

from tests.server.conftest import Served, in_thread


def _run(coro_fn: Any, *args: Any) -> Any:
    return asyncio.run(coro_fn(*args))


async def test_aiomysql_queries_errors_transactions(served: Served) -> None:
    async def client(port: int) -> None:
        conn = await aiomysql.connect(
            host="127.0.0.1",
            port=port,
            user="root",
            password="",
            db="test",
            autocommit=True,
            client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, s TEXT)")
                assert await cur.execute("INSERT INTO a (s) VALUES ('x'), ('y')") == 2
                assert cur.lastrowid == 2
                await cur.execute("SELECT id, s FROM a ORDER BY id")
                assert await cur.fetchall() == ((1, "x"), (2, "y"))
                with pytest.raises(pymysql.MySQLError) as info:
                    await cur.execute("SELECT * FROM nope")
                assert info.value.args[0] == 1146
                await cur.execute("SELECT 1; SELECT s FROM a WHERE id = 2")
                assert await cur.fetchall() == ((1,),)
                assert await cur.nextset()
                assert await cur.fetchall() == (("y",),)
                await conn.begin()
                await cur.execute("DELETE FROM a")
                await conn.rollback()
                await cur.execute("SELECT COUNT(*) FROM a")
                assert await cur.fetchone() == (2,)
                big = "b" * (17 << 20)
                await cur.execute("INSERT INTO a (s) VALUES (%s)", (big,))
                await cur.execute("SELECT LENGTH(s), s FROM a WHERE id = 3")
                n, s = await cur.fetchone()
                assert n == len(big) and s == big
            await conn.ping()
        finally:
            conn.close()

    await in_thread(_run, client, served.port)


async def test_aiomysql_pool_many_connections(served: Served) -> None:
    async def client(port: int) -> list[int]:
        pool = await aiomysql.create_pool(
            host="127.0.0.1",
            port=port,
            user="root",
            password="",
            minsize=1,
            maxsize=20,
            autocommit=True,
        )

        async def one(i: int) -> int:
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute("SELECT %s + 1", (i,))
                (v,) = await cur.fetchone()
                return int(v)

        try:
            return await asyncio.gather(*(one(i) for i in range(200)))
        finally:
            pool.close()
            await pool.wait_closed()

    assert await in_thread(_run, client, served.port) == [i + 1 for i in range(200)]
