"""``Session.stream``: columns before the first batch, bounded read-ahead, early exit,
errors before and after the first row, cancellation (sharding.api invariants)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from sharding import (
    Coordinator,
    NotSupported,
    QueryInterrupted,
    ShardgateError,
    Topology,
    UnknownTable,
)
from sharding.backend.base import Connection, ResultSet
from sharding.backend.sqlite import SQLiteDataSource
from sharding.merge.types import BATCH_ROWS
from tests.sharding.test_backend_sqlite import eventually

ROWS = 5 * BATCH_ROWS


class CountingSQLite(SQLiteDataSource):
    """Counts the rows shard reads have returned so far."""

    fetched = 0

    @asynccontextmanager
    async def connection(self, databases: Sequence[str] = ()) -> AsyncIterator[Connection]:
        async with super().connection(databases) as conn:
            yield _Counting(conn, self)


class _Counting:
    def __init__(self, inner: Connection, owner: CountingSQLite) -> None:
        self._inner, self._owner = inner, owner

    async def fetch(self, sql: str) -> ResultSet:
        rs = await self._inner.fetch(sql)
        self._owner.fetched += len(rs.rows)
        return rs

    async def execute(self, sql: str) -> Any:
        return await self._inner.execute(sql)


@pytest.fixture
async def counted(small_topology: Topology) -> AsyncIterator[tuple[Coordinator, CountingSQLite]]:
    path = small_topology.datasources[0].path
    assert path is not None
    ds = CountingSQLite("ds0", path)
    topology = small_topology.with_cluster(chunk_rows=64)
    async with Coordinator(topology, datasources={"ds0": ds}, catalog_refresh=None) as coord:
        await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT, s VARCHAR(10))")
        for start in range(0, ROWS, 1000):
            values = ", ".join(
                f"({i}, {i % 7}, 's{i}')" for i in range(start, min(ROWS, start + 1000))
            )
            await coord.execute(f"INSERT INTO t VALUES {values}")
        yield coord, ds


async def test_columns_before_the_first_batch_and_rows_as_execute(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO t VALUES " + ", ".join(f"({i}, {i % 3})" for i in range(50)))
    session = coord.open_session()
    sql = "SELECT v, COUNT(*) AS n, SUM(id) FROM t GROUP BY v ORDER BY v"
    expected = await session.execute(sql)
    batches = []
    async with session.stream(sql) as rs:
        assert [c.name for c in rs.columns] == ["v", "n", "SUM(id)"]
        async for batch in rs:
            assert batch  # never an empty batch
            batches.extend(batch)
    assert batches == expected.rows == [(0, 17, 408), (1, 17, 425), (2, 16, 392)]
    # The session is free at once for its next statement.
    assert (await session.execute("SELECT COUNT(*) FROM t")).rows == [(50,)]


async def test_empty_result_still_has_columns(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    async with coord.open_session().stream("SELECT id, v FROM t WHERE v > 10 ORDER BY id") as rs:
        assert [c.name for c in rs.columns] == ["id", "v"]
        assert [b async for b in rs] == []


async def test_errors_before_any_row_come_from_entering(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    session = coord.open_session()
    with pytest.raises(UnknownTable):
        async with session.stream("SELECT * FROM missing"):
            raise AssertionError("entered a failed stream")
    with pytest.raises(NotSupported, match="SELECT statements only"):
        async with session.stream("INSERT INTO t VALUES (1, 1)"):
            raise AssertionError("entered a failed stream")
    assert (await session.execute("SELECT COUNT(*) FROM t")).rows == [(0,)]


async def test_reads_ahead_only_boundedly(counted: tuple[Coordinator, CountingSQLite]) -> None:
    """A slow consumer slows the shard reads: rows fetched from the shards never run
    far ahead of the rows consumed (a buffered result would fetch all of them)."""
    coord, ds = counted
    session = coord.open_session()
    ds.fetched = 0
    consumed = 0
    ahead: list[int] = []
    async with session.stream("SELECT id, s FROM t ORDER BY v, id") as rs:
        async for batch in rs:
            consumed += len(batch)
            await trio.sleep(0.02)  # let the statement run ahead as far as it would
            ahead.append(ds.fetched - consumed)
    assert consumed == ROWS
    shards, chunk = 4, 64
    # One batch handed over plus, per shard, the chunk being merged and one prefetched.
    bound = 2 * BATCH_ROWS + 2 * shards * chunk
    assert max(ahead) <= bound < ROWS, ahead


async def test_leaving_early_stops_the_statement(
    counted: tuple[Coordinator, CountingSQLite],
) -> None:
    coord, ds = counted
    session = coord.open_session()
    ds.fetched = 0
    async with session.stream("SELECT id FROM t ORDER BY id") as rs:
        async for _batch in rs:
            break
    # Leaving returns only once the statement has finished: no query left, and the
    # session takes its next statement at once.
    assert not coord.executor.queries() and coord.executor.statistics().active == 0
    assert ds.fetched < ROWS
    assert (await session.execute("SELECT COUNT(*) FROM t")).rows == [(ROWS,)]


async def test_cancel_mid_stream_is_an_error_not_a_short_result(
    counted: tuple[Coordinator, CountingSQLite],
) -> None:
    coord, _ = counted
    session = coord.open_session()
    got = 0
    with pytest.raises(QueryInterrupted):
        async with session.stream("SELECT id FROM t ORDER BY id") as rs:
            async for batch in rs:
                got += len(batch)
                session.cancel()  # KILL QUERY while the client reads
    assert 0 < got < ROWS
    assert (await session.execute("SELECT COUNT(*) FROM t")).rows == [(ROWS,)]


async def test_a_closing_coordinator_ends_a_stream_with_an_error(small_topology: Topology) -> None:
    coord = Coordinator(small_topology, catalog_refresh=None)
    await coord.__aenter__()
    try:
        await coord.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        await coord.execute(
            "INSERT INTO t VALUES " + ", ".join(f"({i})" for i in range(3 * BATCH_ROWS))
        )
        rs = coord.open_session().stream("SELECT id FROM t ORDER BY id")
        await rs.__aenter__()
        first = await rs.__aiter__().__anext__()
        assert first
    finally:
        await coord.__aexit__(None, None, None)
    with pytest.raises(QueryInterrupted):
        async for _ in rs:
            pass
    await rs.__aexit__(None, None, None)


async def test_plain_iteration_still_works(coord: Coordinator) -> None:
    """``async for batch in coord.stream(sql)`` (issue 3's API) without ``async with``."""
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    await coord.execute("INSERT INTO t VALUES (3), (1), (2)")
    rows = [r async for batch in coord.stream("SELECT id FROM t ORDER BY id") for r in batch]
    assert rows == [(1,), (2,), (3,)]
    await eventually(lambda: not coord.executor.queries())


async def test_a_stream_of_a_closed_coordinator_fails_at_once(small_topology: Topology) -> None:
    async with Coordinator(small_topology, catalog_refresh=None) as coord:
        session = coord.open_session()
    with trio.fail_after(2):  # not after the close timeout
        with pytest.raises(ShardgateError, match="not open"):
            async with session.stream("SELECT 1"):
                raise AssertionError("entered")
    closed = session.stream("SELECT 1")
    await closed.aclose()  # closing an unstarted stream is immediate
    assert [b async for b in closed] == []
