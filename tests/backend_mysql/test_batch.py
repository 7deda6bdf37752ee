"""Batching one data source's shard reads into UNION ALL statements (sharding.exec.batch).

Unit tests drive :class:`Batcher` with a fake connector (every statement it receives is
recorded and answered from a table of fake shards); the MariaDB tests check that a
coordinator gives the same rows batched and unbatched while sending far fewer
statements, and that a failing or cancelled batch leaves nothing behind.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from executor import BucketedExecutor, ExecutorConfig
from sharding import Coordinator, Topology
from sharding.backend.base import Column, ResultSet
from sharding.errors import BackendError
from sharding.exec import batch
from sharding.exec.batch import Batcher, BatchPolicy, select_list_end
from sharding.exec.targets import Target
from tests.conftest import MYSQL_URL

PART = re.compile(r"\(SELECT v, (\d+) FROM shard_(\d+) LIMIT (\d+)\)")
ALONE = re.compile(r"^SELECT v FROM shard_(\d+) LIMIT (\d+)$")


def rows_of(shard: int, limit: int) -> list[tuple[Any, ...]]:
    return [(shard * 100 + j,) for j in range(min(limit, shard % 5))]


class FakeConn:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def fetch(self, sql: str) -> ResultSet:
        self.world.statements.append(sql)
        await trio.sleep(self.world.delay)
        if self.world.fail_batches and " UNION ALL " in sql:
            raise BackendError("ds0: batch rejected", code=1064, sqlstate="42000")
        m = ALONE.match(sql)
        if m:
            shard = int(m.group(1))
            if shard in self.world.broken_shards:
                raise BackendError(f"ds0: shard {shard} is broken", code=1146, sqlstate="42S02")
            return ResultSet([Column("v")], rows_of(shard, int(m.group(2))))
        out: list[tuple[Any, ...]] = []
        for tag, shard, limit in PART.findall(sql):
            out += [(*r, int(tag)) for r in rows_of(int(shard), int(limit))]
        return ResultSet([Column("v"), Column("tag")], out)

    async def execute(self, sql: str) -> Any:
        raise AssertionError("reads only")


class FakeWorld:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.delay = 0.01
        self.fail_batches = False
        self.broken_shards: set[int] = set()
        self.borrowed = 0
        self.peak = 0

    @asynccontextmanager
    async def connection(self, datasource: str, databases: Any) -> AsyncIterator[FakeConn]:
        self.borrowed += 1
        self.peak = max(self.peak, self.borrowed)
        try:
            yield FakeConn(self)
        finally:
            self.borrowed -= 1


def target(shard: int) -> Target:
    return Target("ds0", shard, (f"shard_{shard}",), (f"db{shard}",))


SPLIT = len("SELECT v ")


async def fan_out(
    world: FakeWorld, shards: list[int], policy: BatchPolicy, *, read: object = "r1", limit: int = 3
) -> dict[int, list[tuple[Any, ...]]]:
    cfg = ExecutorConfig(buckets=1, slots_per_bucket=4, window=8, stall_limit=100.0)
    got: dict[int, list[tuple[Any, ...]]] = {}
    async with BucketedExecutor(cfg) as ex, ex.query(name="q") as q, trio.open_nursery() as nursery:

        async def run_child(fn: Any, *args: Any, label: str) -> Any:
            return await q.run(fn, *args, label=label)

        batcher = Batcher(nursery, run_child, world, policy)  # type: ignore[arg-type]

        async def one(shard: int) -> None:
            rs = await batcher.fetch(
                target(shard), f"SELECT v FROM shard_{shard} LIMIT {limit}", SPLIT, read
            )
            got[shard] = rs.rows

        async with trio.open_nursery() as inner:
            for s in shards:
                inner.start_soon(one, s)
    return got


def test_select_list_end() -> None:
    assert select_list_end("SELECT t.id, t.a FROM ") == len("SELECT t.id, t.a ")
    assert select_list_end("SELECT DISTINCT t.d FROM ") == len("SELECT DISTINCT t.d ")
    assert select_list_end("SELECT 'FROM', `from` FROM ") == len("SELECT 'FROM', `from` ")
    assert select_list_end("SELECT (SELECT MAX(x) FROM ") is None  # a subquery: cannot split
    assert select_list_end("SELECT a FROM b UNION SELECT c FROM ") is None
    assert select_list_end("SELECT a FROM t WHERE x = ") is None  # the hole is not the table
    assert select_list_end("UPDATE t SET a = ") is None


def test_policy_sizes() -> None:
    policy = BatchPolicy(parallel=4, min_parts=8, max_parts=256)
    assert policy.sizes(1024) == 256
    assert policy.sizes(100) == 25
    assert policy.sizes(16) == 8
    assert policy.sizes(3) == 8
    assert BatchPolicy(parallel=1, max_parts=100).sizes(1024) == 100


def test_batches_give_every_shard_its_own_rows_in_few_statements() -> None:
    async def main() -> None:
        world = FakeWorld()
        shards = list(range(40))
        got = await fan_out(world, shards, BatchPolicy(parallel=4, min_parts=8))
        assert got == {s: rows_of(s, 3) for s in shards}
        assert len(world.statements) == 4 and all(" UNION ALL " in s for s in world.statements)
        assert world.peak <= 4 and world.borrowed == 0
        # Reads of different templates are never mixed in one statement.
        world2 = FakeWorld()
        cfg = ExecutorConfig(buckets=1, slots_per_bucket=4, window=8)
        async with (
            BucketedExecutor(cfg) as ex,
            ex.query(name="q") as q,
            trio.open_nursery() as nursery,
        ):

            async def run_child(fn: Any, *args: Any, label: str) -> Any:
                return await q.run(fn, *args, label=label)

            batcher = Batcher(nursery, run_child, world2, BatchPolicy(min_parts=1))  # type: ignore[arg-type]
            async with trio.open_nursery() as inner:
                for s in range(6):
                    inner.start_soon(
                        batcher.fetch, target(s), f"SELECT v FROM shard_{s} LIMIT 2", SPLIT, "a"
                    )
                    inner.start_soon(
                        batcher.fetch, target(s), f"SELECT v FROM shard_{s} LIMIT 2", SPLIT, "b"
                    )
        assert all(st.count("LIMIT 2") <= 6 for st in world2.statements)
        assert sum(st.count("LIMIT 2") for st in world2.statements) == 12

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_rejected_batch_runs_its_parts_alone_and_reports_the_failing_shard() -> None:
    async def main() -> None:
        world = FakeWorld()
        world.fail_batches = True
        got = await fan_out(world, list(range(10)), BatchPolicy(parallel=1, min_parts=1))
        assert got == {s: rows_of(s, 3) for s in range(10)}  # retried one by one
        world = FakeWorld()
        world.fail_batches = True
        world.broken_shards = {7}
        with pytest.raises(Exception) as info:
            await fan_out(world, list(range(10)), BatchPolicy(parallel=1, min_parts=1))
        assert "shard 7 is broken" in repr(info.value) or "shard 7 is broken" in str(
            info.value.__cause__
        )
        assert world.borrowed == 0

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_cancelling_the_query_mid_batch_leaves_nothing_behind() -> None:
    async def main() -> None:
        world = FakeWorld()
        world.delay = 10.0
        cfg = ExecutorConfig(buckets=1, slots_per_bucket=4, window=8)
        async with BucketedExecutor(cfg) as ex:
            with trio.move_on_after(1.0) as scope:
                async with ex.query(name="q") as q, trio.open_nursery() as nursery:

                    async def run_child(fn: Any, *args: Any, label: str) -> Any:
                        return await q.run(fn, *args, label=label)

                    batcher = Batcher(nursery, run_child, world, BatchPolicy())  # type: ignore[arg-type]
                    async with trio.open_nursery() as inner:
                        for s in range(32):
                            inner.start_soon(
                                batcher.fetch,
                                target(s),
                                f"SELECT v FROM shard_{s} LIMIT 1",
                                SPLIT,
                                "r",
                            )
            assert scope.cancelled_caught
            status = ex.status()[0]
            assert (status.active, status.waiting, status.queued_high, status.queued_low) == (
                0,
                0,
                0,
                0,
            )
        assert world.borrowed == 0 and 0 < len(world.statements) <= 4

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# ---------------------------------------------------------------------- on MariaDB

DB = "sgbatch"


def topology() -> Topology:
    return Topology.loads(f"""
[cluster]
database = "{DB}"
default_shards = 64
chunk_rows = 16

[executor]
buckets = 1
slots_per_bucket = 8
window = 8

[[datasources]]
name = "ds0"
kind = "mysql"
url = "{MYSQL_URL}"
""")


QUERIES = [
    "SELECT id, x FROM t ORDER BY x, id LIMIT 25",
    "SELECT id, x, s FROM t ORDER BY s, id",
    "SELECT x % 7, COUNT(*), SUM(x), AVG(x) FROM t GROUP BY x % 7 ORDER BY 1",
    "SELECT DISTINCT s FROM t ORDER BY s",
    "SELECT COUNT(DISTINCT x), MIN(s), MAX(id) FROM t",
    "SELECT * FROM t WHERE id IN (3, 77, 150)",
]


@pytest.mark.mysql
async def test_batched_and_unbatched_agree_with_far_fewer_children() -> None:
    async with Coordinator(topology(), catalog_refresh=None) as coord:
        await coord.execute(f"DROP DATABASE IF EXISTS {DB}")
        await coord.execute(f"CREATE DATABASE {DB}")
        try:
            await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, x INT, s VARCHAR(10))")
            values = ", ".join(
                f"({i}, {(i * 37) % 101}, '{'abcAB'[i % 5]}{i % 3}')" for i in range(300)
            )
            await coord.execute(f"INSERT INTO t VALUES {values}")
            results: dict[bool, list[list[tuple[Any, ...]]]] = {}
            children: dict[bool, int] = {}
            for batched in (True, False):
                old = batch.set_policy("mysql", BatchPolicy(enabled=batched))
                try:
                    before = sum(b.completed for b in coord.executor.status())
                    results[batched] = [
                        # The last query has no ORDER BY: its rows are a multiset.
                        sorted(tuple(r) for r in rows)
                        if "ORDER BY" not in q
                        else [tuple(r) for r in rows]
                        for q in QUERIES
                        for rows in [(await coord.execute(q)).rows]
                    ]
                    children[batched] = sum(b.completed for b in coord.executor.status()) - before
                finally:
                    batch.set_policy("mysql", old or BatchPolicy())
            assert results[True] == results[False]
            assert children[False] >= 5 * 64  # one child per shard read
            # Batched: about 4 statements per read, plus the first shard read on its own
            # where a data source merges its shards (sharding/exec/source.py).
            assert children[True] * 5 < children[False], children
        finally:
            await coord.execute(f"DROP DATABASE IF EXISTS {DB}")
            for shard in range(64):
                await coord.datasources["ds0"].execute(f"DROP DATABASE IF EXISTS {DB}_{shard:04d}")
