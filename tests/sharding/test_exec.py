"""The execution layer alone: chunked shard streams (keyset continuation, prefetch
one ahead, guard without a tiebreaker), failure of one shard, and what EXPLAIN says
when no unique tiebreaker exists."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from sharding import Coordinator, Topology
from sharding.backend.base import Column, ResultSet
from sharding.catalog import ColumnInfo, TableInfo
from sharding.errors import UnknownTable
from sharding.exec.explain import explain_rows
from sharding.exec.stream import Done, ShardStream, TooManyRows
from sharding.exec.targets import Target
from sharding.merge.semantics import MYSQL, SQLITE
from sharding.sql.keyset import KeysetSpec
from sharding.sql.parse import parse_one
from sharding.sql.plan import PlanContext, plan_select
from sharding.sql.template import KEYSET_MARK, compile_template
from sharding.topology import ClusterConfig, ShardRule, TopologyError


class FakeShard:
    """A shard backed by an in-memory SQLite table, answering after ``delay`` (or
    failing when ``failed``); counts fetches in flight."""

    def __init__(self, rows: list[tuple[Any, ...]], delay: float = 0.001) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute("CREATE TABLE t (k INT, id INT PRIMARY KEY)")
        self.conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
        self.sql: list[str] = []
        self.open = 0
        self.peak = 0
        self.delay = delay
        self.failed = False

    async def fetch(self, target: Target, sql: str) -> ResultSet:
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            await trio.sleep(self.delay)
            if self.failed:
                raise ValueError(f"shard {target.shard} failed")
            self.sql.append(sql)
            cur = self.conn.execute(sql.replace('"s"."t"', "t"))
            return ResultSet([Column(d[0]) for d in cur.description], cur.fetchall())
        finally:
            self.open -= 1


TEMPLATE = compile_template(
    f'SELECT k, id FROM "s"."t" WHERE {KEYSET_MARK} ORDER BY k DESC, id'
).bind([])
KEYSET = KeysetSpec(("k", "id"), (True, False), (False, True), (0, 1))
TARGET = Target("ds0", 0, (), ())


async def test_stream_continues_by_keyset_and_prefetches_one_chunk() -> None:
    rows = [(i % 4 if i % 5 else None, i) for i in range(23)]
    shard = FakeShard(rows)
    expected = shard.conn.execute("SELECT k, id FROM t ORDER BY k DESC, id").fetchall()
    async with trio.open_nursery() as nursery:
        stream = ShardStream(nursery, shard.fetch, TARGET, TEMPLATE, keyset=KEYSET, chunk=5)
        got: list[tuple[Any, ...]] = []
        while (chunk := await stream.next_chunk()) is not None:
            # Between two takes at most one fetch (the prefetch) is outstanding.
            assert shard.open <= 1
            got += chunk
    assert got == expected
    assert len(shard.sql) == 5 and all(s.endswith("LIMIT 5") for s in shard.sql)
    assert "k IS NULL" in shard.sql[-1] or "k IS" in shard.sql[-1]


class _Submitted:
    def __init__(self) -> None:
        self.done = Done()
        self.result: ResultSet | None = None
        self.error: BaseException | None = None


class FakeBatch:
    """Answers submitted chunks from another task, as the batch layer does."""

    def __init__(self, shard: FakeShard, nursery: trio.Nursery) -> None:
        self.shard = shard
        self.nursery = nursery
        self.finished: list[int] = []
        self.fail: BaseException | None = None

    def submit(self, target: Target, sql: str) -> _Submitted:
        request = _Submitted()

        async def answer() -> None:
            try:
                if self.fail is not None:
                    raise self.fail
                request.result = await self.shard.fetch(target, sql)
            except BaseException as exc:  # as Batcher._send does
                request.error = exc
            request.done.set()

        self.nursery.start_soon(answer)
        return request

    async def finish(self, target: Target, request: _Submitted) -> ResultSet:
        await trio.lowlevel.checkpoint()
        assert request.result is not None
        self.finished.append(len(request.result.rows))
        return ResultSet([Column("renamed_k"), Column("renamed_id")], request.result.rows)


async def test_submitted_chunks_continue_by_keyset_and_are_finished_on_arrival() -> None:
    rows = [(i % 4, i) for i in range(23)]
    shard = FakeShard(rows)
    expected = shard.conn.execute("SELECT k, id FROM t ORDER BY k DESC, id").fetchall()
    seen: list[list[Column]] = []
    async with trio.open_nursery() as nursery:
        batch = FakeBatch(shard, nursery)
        stream = ShardStream(
            nursery,
            shard.fetch,
            TARGET,
            TEMPLATE,
            keyset=KEYSET,
            chunk=5,
            on_columns=lambda rs: seen.append(rs.columns),
            submit=(batch.submit, batch.finish),
        )
        got: list[tuple[Any, ...]] = []
        while (chunk := await stream.next_chunk()) is not None:
            assert shard.open <= 1  # still one prefetch ahead at most
            got += chunk
    assert got == expected
    # Every chunk went through the finish hook; the columns are the finished ones.
    assert batch.finished == [5, 5, 5, 5, 3]
    assert [c.name for c in seen[0]] == ["renamed_k", "renamed_id"]


async def test_a_submitted_chunks_error_is_raised_by_the_consumer() -> None:
    shard = FakeShard([(1, 1)])
    async with trio.open_nursery() as nursery:
        batch = FakeBatch(shard, nursery)
        batch.fail = ValueError("shard 0 failed")
        stream = ShardStream(
            nursery,
            shard.fetch,
            TARGET,
            TEMPLATE,
            keyset=KEYSET,
            chunk=5,
            submit=(batch.submit, batch.finish),
        )
        with pytest.raises(ValueError, match="shard 0 failed"):
            await stream.next_chunk()
    assert batch.finished == []


async def test_an_abandoned_batch_never_raises_another_tasks_cancellation() -> None:
    # The batch's task was cancelled (its Cancelled lands in the request): the stream
    # must not re-raise that foreign Cancelled; it raises a plain error, after a
    # checkpoint that delivers its own cancellation when it has one.
    shard = FakeShard([(1, 1)])
    async with trio.open_nursery() as nursery:
        request = _Submitted()

        async def cancelled_batch() -> None:
            with trio.CancelScope() as scope:
                scope.cancel()
                try:
                    await trio.sleep(1)
                except trio.Cancelled as exc:
                    request.error = exc
                    request.done.set()
                    raise

        nursery.start_soon(cancelled_batch)

        async def finish(target: Target, submitted: _Submitted) -> ResultSet:
            raise AssertionError("not finished")

        stream = ShardStream(
            nursery,
            shard.fetch,
            TARGET,
            TEMPLATE,
            keyset=KEYSET,
            chunk=5,
            submit=(lambda target, sql: request, finish),
        )
        with pytest.raises(RuntimeError, match="read was abandoned"):
            await stream.next_chunk()


async def test_stream_respects_pushed_down_limit() -> None:
    shard = FakeShard([(i, i) for i in range(50)])
    async with trio.open_nursery() as nursery:
        stream = ShardStream(
            nursery, shard.fetch, TARGET, TEMPLATE, keyset=KEYSET, chunk=8, need=11
        )
        got = []
        while (chunk := await stream.next_chunk()) is not None:
            got += chunk
    assert len(got) == 11
    assert [s.rsplit("LIMIT", 1)[1].strip() for s in shard.sql] == ["8", "3"]


async def test_unchunkable_read_is_guarded_not_cut() -> None:
    shard = FakeShard([(i, i) for i in range(30)])
    plain = compile_template('SELECT k, id FROM "s"."t" ORDER BY k').bind([])
    async with trio.open_nursery() as nursery:
        small = ShardStream(nursery, shard.fetch, TARGET, plain, keyset=None, chunk=8, guard=100)
        assert len(await small.next_chunk() or []) == 30
        big = ShardStream(nursery, shard.fetch, TARGET, plain, keyset=None, chunk=8, guard=20)
        with pytest.raises(TooManyRows, match="more than 20 rows"):
            await big.next_chunk()
        limited = ShardStream(
            nursery, shard.fetch, TARGET, plain, keyset=None, chunk=8, guard=20, need=5
        )
        assert len(await limited.next_chunk() or []) == 5


def _ctx(sem: Any, table: TableInfo) -> PlanContext:
    return PlanContext({("db", "t"): table}, "db", sem, ClusterConfig(unchunked_limit=777))


class TimedShards:
    """Shards ``0..n-1`` of one SQLite table ``t``, each answering after its own delay;
    counts the fetches in flight over all of them."""

    def __init__(self, rows: list[list[tuple[Any, ...]]], delays: list[float]) -> None:
        self.shards = [FakeShard(r, delay) for r, delay in zip(rows, delays, strict=True)]
        self.open = 0
        self.peak = 0

    async def fetch(self, target: Target, sql: str) -> ResultSet:
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            return await self.shards[target.shard].fetch(target, sql)
        finally:
            self.open -= 1

    def makers(
        self, nursery: trio.Nursery, *, chunk: int = 5, need: int | None = None, submit: Any = None
    ) -> list[Any]:
        def maker(shard: int) -> Any:
            def make() -> ShardStream:
                stream = ShardStream(
                    nursery,
                    self.fetch,
                    Target("ds0", shard, (), ()),
                    TEMPLATE,
                    keyset=KEYSET,
                    chunk=chunk,
                    need=need,
                    submit=submit,
                )
                stream.start()
                return stream

            return make

        return [maker(i) for i in range(len(self.shards))]


async def test_a_chunk_that_has_come_is_taken_without_a_checkpoint() -> None:
    """Taking an arrived chunk passes no checkpoint (each is a scheduler pass: 16 for the
    first chunks of a 16-shard merge): it is returned even inside a cancelled scope.
    A chunk still on its way is waited for, and that wait is cancellable."""
    shards = TimedShards([[(0, 1)], [(1, 2)]], [0.0, 10.0])
    async with trio.open_nursery() as nursery:
        ready, slow = (make() for make in shards.makers(nursery))
        with trio.fail_after(5):
            await ready._pending.done.wait()  # type: ignore[union-attr]
        got = None
        with trio.CancelScope() as scope:
            scope.cancel()
            got = await ready.next_chunk()
        assert got == [(0, 1)] and not scope.cancelled_caught
        with trio.CancelScope() as scope:
            scope.cancel()
            await slow.next_chunk()
        assert scope.cancelled_caught
        nursery.cancel_scope.cancel()


async def test_a_chunk_whose_task_was_cancelled_raises_the_consumers_cancellation() -> None:
    """A shard failed and the runner's nursery is being cancelled: another stream's
    fetch task ends cancelled, keeping no result and no error. Taking that chunk (it
    has come, so without a wait) raises the consumer's own Cancelled, not an internal
    error (seen as 1105 instead of a shard's 1235 before this was handled)."""
    shards = TimedShards([[(0, 1)]], [10.0])
    with trio.CancelScope() as outer:
        async with trio.open_nursery() as nursery:
            (stream,) = (make() for make in shards.makers(nursery))
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await stream._pending.done.wait()  # type: ignore[union-attr]
            assert stream._pending.result is None and stream._pending.error is None  # type: ignore[union-attr]
            try:
                await stream.next_chunk()
            except trio.Cancelled:
                outer.cancel()  # taken as expected; leave through the outer scope
                raise
            raise AssertionError("next_chunk returned")
    assert outer.cancelled_caught


async def test_unordered_feed_hands_chunks_on_as_they_arrive() -> None:
    """A later shard that answers first is handed on first; no task of the feed's own."""
    from sharding.exec.stream import unordered_feed

    shards = TimedShards([[(0, 1)], [(1, 2)], [(2, 3)]], [0.06, 0.0, 0.02])
    async with trio.open_nursery() as nursery:
        feed = unordered_feed(shards.makers(nursery), window=3)
        got = [chunk async for chunk in feed]
        assert len(nursery.child_tasks) == 0  # the stream tasks are done, none other
    assert got == [[(1, 2)], [(2, 3)], [(0, 1)]]
    assert shards.peak == 3


@pytest.mark.parametrize("batched", [False, True])
async def test_unordered_feed_keeps_window_shards_open_and_reads_them_all(batched: bool) -> None:
    """Five shards of 12 rows in chunks of 5, window 2: every row once, each shard's in
    its own order; never more than two shards with a fetch on its way, and both progress
    (not one shard after the other). Batched: chunks answered by another task."""
    from sharding.exec.stream import unordered_feed

    rows = [[(k, s * 100 + k) for k in range(12)] for s in range(5)]
    shards = TimedShards(rows, [0.002, 0.001, 0.003, 0.0, 0.001])
    got: list[tuple[Any, ...]] = []
    async with trio.open_nursery() as nursery:
        submit = None
        if batched:
            batch = FakeBatch(FakeShard([]), nursery)
            batch.shard = shards  # type: ignore[assignment]
            submit = (batch.submit, batch.finish)
        order: list[int] = []
        async for chunk in unordered_feed(shards.makers(nursery, submit=submit), window=2):
            assert shards.open <= 2
            order.append(chunk[0][1] // 100)
            got += chunk
    assert sorted(got) == sorted(r for part in rows for r in part)
    for s in range(5):
        mine = [r for r in got if r[1] // 100 == s]
        assert mine == sorted(rows[s], key=lambda r: (-r[0], r[1]))
    assert shards.peak == 2
    # The first two shards' chunks interleave: both stay open and fetch side by side.
    first_two = [s for s in order if s in (0, 1)]
    assert first_two != sorted(first_two)


async def test_unordered_feed_skips_empty_shards_and_raises_a_shards_error() -> None:
    from sharding.exec.stream import unordered_feed

    shards = TimedShards([[(0, 1)], [], [(2, 3)]], [0.0, 0.0, 0.0])
    async with trio.open_nursery() as nursery:
        assert [c async for c in unordered_feed(shards.makers(nursery), window=1)] == [
            [(0, 1)],
            [(2, 3)],
        ]
        # A pushed-down LIMIT 0: no stream has anything to read, no fetch is made.
        assert [c async for c in unordered_feed(shards.makers(nursery, need=0), window=2)] == []
    assert shards.peak == 1
    shards.shards[1].failed = True
    async with trio.open_nursery() as nursery:
        with pytest.raises(ValueError, match="shard 1 failed"):
            async for _ in unordered_feed(shards.makers(nursery), window=3):
                pass


async def test_unordered_feed_left_early_leaves_nothing_running() -> None:
    """The consumer stops after one chunk (a LIMIT): cancelling the runner's nursery
    ends the fetches on their way; the feed holds nothing to clean up."""
    from sharding.exec.stream import unordered_feed

    rows = [[(k, s * 100 + k) for k in range(30)] for s in range(4)]
    shards = TimedShards(rows, [0.001, 0.5, 0.5, 0.5])
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            feed = unordered_feed(shards.makers(nursery), window=4)
            async for chunk in feed:
                assert chunk[0][1] // 100 == 0
                break
            # The three slow shards' fetches and shard 0's prefetch, nothing else.
            assert len(nursery.child_tasks) == 4
            nursery.cancel_scope.cancel()
    assert shards.open == 0


def test_explain_reports_missing_tiebreaker_on_mysql_semantics() -> None:
    """MySQL has no implicit row id: a table without a primary key cannot be chunked."""
    rule = ShardRule("hash", 4, "k", ("ds0",))
    table = TableInfo("db", "t", rule, (ColumnInfo("k", "INT"), ColumnInfo("v", "INT")))
    plan = plan_select(parse_one("SELECT k, v FROM t ORDER BY v"), _ctx(MYSQL, table))
    text = "\n".join(
        f"{op} {detail}" for _, op, detail in explain_rows(plan, [], [], MYSQL, "ds0", 100)
    )
    assert "no unique tiebreaker" in text and "777" in text and "chunking" in text
    # With a primary key (or SQLite's rowid) the read is chunked by keyset.
    keyed = TableInfo("db", "t", rule, table.columns, primary_key=("k",))
    plan = plan_select(parse_one("SELECT k, v FROM t ORDER BY v"), _ctx(MYSQL, keyed))
    text = "\n".join(
        f"{op} {detail}" for _, op, detail in explain_rows(plan, [], [], MYSQL, "ds0", 100)
    )
    assert "keyset continuation on (t.v, t.k); 100 rows per chunk" in text
    assert "ORDER BY 2 ASC, 1 ASC LIMIT 100" in text  # the pk is selected already
    plan = plan_select(parse_one("SELECT k, v FROM t ORDER BY v"), _ctx(SQLITE, table))
    text = "\n".join(
        f"{op} {detail}" for _, op, detail in explain_rows(plan, [], [], SQLITE, "ds0", 100)
    )
    assert "keyset continuation on (t.v, t.rowid)" in text


async def test_a_failing_shard_fails_the_query_cleanly(small_topology: Topology) -> None:
    async with Coordinator(small_topology, catalog_refresh=None) as coord:
        await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        await coord.execute("INSERT INTO t VALUES " + ", ".join(f"({i}, {i})" for i in range(40)))
        path = small_topology.datasources[0].path
        assert path is not None
        broken = sqlite3.connect(path / "db_0002.sqlite")
        broken.execute("DROP TABLE t")
        broken.commit()
        broken.close()
        for sql in ("SELECT * FROM t ORDER BY v", "SELECT COUNT(*) FROM t", "SELECT * FROM t"):
            with pytest.raises(UnknownTable, match="ds0"):
                await coord.execute(sql)
        stats = coord.executor.statistics()
        assert stats.active == 0 and stats.queued == 0 and stats.queries == 0
        assert coord.datasources["ds0"].statistics().in_use == 0
        # Other shards still answer.
        assert (await coord.execute("SELECT v FROM t WHERE id = 1")).rows == [(1,)]


async def test_transaction_connection_lock_survives_cancel_while_taking_the_slot_back() -> None:
    """Two children of one explicit transaction share its connection through a lock.
    Y waits for it (slot lent), gets it while its slot is taken, and is cancelled while
    queued for the slot: the lock must be released, or the transaction hangs."""
    # X here is a plain task holding the connection; D takes the slot Y lent.
    from contextlib import asynccontextmanager

    from executor import BucketedExecutor, ExecutorConfig, slot_released
    from sharding.exec.connector import SessionTransaction

    class FakeSource:
        @asynccontextmanager
        async def transaction(self, databases: Any) -> Any:
            yield object()

    txn = SessionTransaction({"ds0": FakeSource()}, {})  # type: ignore[dict-item]
    x_release, d_go, d_back, d_done = trio.Event(), trio.Event(), trio.Event(), trio.Event()
    cfg = ExecutorConfig(buckets=1, slots_per_bucket=1, window=8, stall_limit=100.0)

    async def x() -> None:  # a plain task (no slot) holding the connection
        async with txn.connection("ds0", ()):
            await x_release.wait()

    async def y() -> None:
        async with txn.connection("ds0", ()):
            raise AssertionError("Y was cancelled before it could use the connection")

    async def d() -> None:
        async with slot_released("test"):
            await d_go.wait()
        d_back.set()
        await d_done.wait()  # holds the only slot

    async with (
        BucketedExecutor(cfg) as ex,
        ex.query(name="txn") as q,
        trio.open_nursery() as nursery,
    ):
        y_scope = trio.CancelScope()

        async def run_y() -> None:
            with y_scope:
                await q.run(y)

        nursery.start_soon(x)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(q.run, d)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(run_y)
        await trio.testing.wait_all_tasks_blocked()
        d_go.set()
        await d_back.wait()
        x_release.set()  # the lock goes to Y, who must queue for its slot (D has it)
        await trio.testing.wait_all_tasks_blocked()
        assert ex.status()[0].queued_high == 1
        y_scope.cancel()
        d_done.set()
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(1):
            async with txn.connection("ds0", ()):
                pass
    assert [row.active + row.waiting + row.queued_high + row.queued_low for row in ex.status()] == [
        0
    ]


@pytest.mark.parametrize(
    ("shards_per_statement", "expected"),
    [(None, "1 statement(s), each one data source merging up to 16 shards"),
     (16, "1 statement(s), each one data source merging up to 16 shards"),
     (8, "2 statement(s), each one data source merging up to 8 shards"),
     (4, "4 statement(s), each one data source merging up to 4 shards")],
)  # fmt: skip
def test_shards_per_statement_sets_the_data_source_statements(
    shards_per_statement: int | None, expected: str
) -> None:
    """``cluster.shards_per_statement`` (default 16): a data source's 16 shards of a read
    are one statement, or statements of the set size (EXPLAIN shows what runs)."""
    rule = ShardRule("hash", 16, "k", ("ds0",))
    table = TableInfo(
        "db", "t", rule, (ColumnInfo("k", "INT"), ColumnInfo("v", "INT")), primary_key=("k",)
    )
    plan = plan_select(parse_one("SELECT v, COUNT(*) FROM t GROUP BY v"), _ctx(MYSQL, table))
    text = "\n".join(
        f"{op} {detail}"
        for _, op, detail in explain_rows(
            plan, [], [], MYSQL, "ds0", 100, None, True, shards_per_statement
        )
    )
    assert f"SourceMerge {expected}" in " ".join(text.split()), text


def test_shards_per_statement_is_checked(tmp_path: Path) -> None:
    source = {"name": "ds0", "path": str(tmp_path / "ds0")}
    for bad in (0, -1, "8"):
        with pytest.raises(TopologyError, match="shards_per_statement"):
            Topology.from_dict({"cluster": {"shards_per_statement": bad}, "datasources": [source]})
    four = Topology.from_dict({"cluster": {"shards_per_statement": 4}, "datasources": [source]})
    assert four.cluster.shards_per_statement == 4
