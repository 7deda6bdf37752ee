"""A batched read's column definitions: its first shard's own, remembered per read
(:mod:`sharding.exec.shard_columns`).

Units drive :class:`OwnColumns` with a fake alone read: a known report costs no read,
concurrent parts of one call share one alone read, another report reads again, the
first shard's plain result needs no read, and the memo lets its reads go. On MariaDB
(16 shards of one data source, batched and merged reads): the definitions are the
first shard's own on the first run and on later runs, later runs read no shard alone
(one executor child fewer), and a table changed behind the catalog's back is read
again. ``tests/server/test_column_definitions.py`` compares every definition with
MariaDB's, each statement run twice.
"""

from __future__ import annotations

import gc
from typing import Any, ClassVar

import pytest
import trio

from sharding import Coordinator, Topology
from sharding import session as session_module
from sharding.backend.base import Column, ColumnType, ResultSet
from sharding.exec import shard_columns
from sharding.exec.run import ExecStats, Runner
from sharding.exec.shard_columns import OwnColumns, ShardColumnsMemo
from sharding.exec.targets import Target
from tests.conftest import MYSQL_URL

UNION = [Column("c", 254, ColumnType(254, 480, 0, 39, 45))]
OWN = [Column("c", 254, ColumnType(254, 480, 1, 0, 45))]
OTHER_SHARD = [Column("c", 254, ColumnType(254, 480, 1 | 128, 0, 45))]
FIRST = Target("ds0", 0, (), ("db_0",))
SECOND = Target("ds0", 1, (), ("db_1",))


class _Read:
    """Stands for a plan's ShardRead (a key held weakly)."""


class _Alone:
    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns
        self.calls: list[tuple[int, str]] = []

    async def __call__(self, target: Target, sql: str) -> ResultSet:
        self.calls.append((target.shard, sql))
        await trio.sleep(0.01)
        return ResultSet(self.columns, [("ignored",)])


def _own(read: object, alone: Any, memo: ShardColumnsMemo) -> OwnColumns:
    return OwnColumns(read, FIRST, "first chunk of shard 0", alone, memo)


def _part(columns: list[Column], rows: list[tuple[Any, ...]]) -> ResultSet:
    return ResultSet(columns, rows, warnings=2)


async def test_a_known_report_takes_the_remembered_definitions_without_a_read() -> None:
    memo, read = ShardColumnsMemo(), _Read()
    alone = _Alone(OWN)
    rs = await _own(read, alone, memo).apply(_part(UNION, [("a",)]), SECOND, plain=False)
    # Rows and warnings are the batch's; only the definitions are the first shard's,
    # read by its own first chunk's statement.
    assert rs.columns == OWN and rs.rows == [("a",)] and rs.warnings == 2
    assert alone.calls == [(0, "first chunk of shard 0")]
    later = await _own(read, alone, memo).apply(_part(UNION, [("b",)]), FIRST, plain=False)
    assert later.columns == OWN and later.rows == [("b",)]
    assert len(alone.calls) == 1 and memo.hits == 1


async def test_another_shards_plain_result_takes_the_first_shards_definitions() -> None:
    # Shards may describe one statement differently (a flag that depends on their
    # plan): every result goes out with the first shard's, whichever arrives first.
    memo, read = ShardColumnsMemo(), _Read()
    alone = _Alone(OWN)
    other = await _own(read, alone, memo).apply(_part(OTHER_SHARD, []), SECOND, plain=True)
    assert other.columns == OWN and len(alone.calls) == 1
    # The first shard's own plain result needs no read, and is its own definitions.
    first = await _own(read, alone, memo).apply(_part(OWN, []), FIRST, plain=True)
    assert first.columns == OWN and len(alone.calls) == 1
    # Both reports are remembered for the read.
    assert memo.own(read, OTHER_SHARD) == tuple(OWN) and memo.own(read, OWN) == tuple(OWN)


async def test_concurrent_parts_of_one_call_share_one_alone_read() -> None:
    memo, read = ShardColumnsMemo(), _Read()
    alone = _Alone(OWN)
    own = _own(read, alone, memo)
    got: list[ResultSet] = []

    async def part(i: int) -> None:
        got.append(await own.apply(_part(UNION, [(i,)]), SECOND, plain=False))

    async with trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(part, i)
    assert len(alone.calls) == 1
    assert all(rs.columns == OWN for rs in got) and len(got) == 5


async def test_one_call_reads_the_first_shard_alone_at_most_once() -> None:
    # A call whose parts report two unknown shapes (a union's, and another shard's
    # plain result from a batch of one) reads the first shard once.
    memo, read = ShardColumnsMemo(), _Read()
    alone = _Alone(OWN)
    own = _own(read, alone, memo)
    assert (await own.apply(_part(UNION, []), SECOND, plain=False)).columns == OWN
    assert (await own.apply(_part(OTHER_SHARD, []), SECOND, plain=True)).columns == OWN
    assert len(alone.calls) == 1
    assert memo.own(read, OTHER_SHARD) == tuple(OWN)


async def test_another_report_reads_alone_again_and_is_remembered() -> None:
    memo, read = ShardColumnsMemo(), _Read()
    await _own(read, _Alone(OWN), memo).apply(_part(UNION, []), SECOND, plain=False)
    # The table changed (say VARCHAR(10) where CHAR(120) was): the batch reports
    # other definitions, so the first shard's are read again, not taken from the memo.
    changed_union = [Column("c", 253, ColumnType(253, 40, 0, 39, 45))]
    changed_own = [Column("c", 253, ColumnType(253, 40, 1, 0, 45))]
    alone = _Alone(changed_own)
    rs = await _own(read, alone, memo).apply(_part(changed_union, []), SECOND, plain=False)
    assert rs.columns == changed_own and len(alone.calls) == 1
    assert memo.own(read, changed_union) == tuple(changed_own)


async def test_the_memo_lets_its_reads_go_and_stays_bounded() -> None:
    memo = ShardColumnsMemo(size=3, pairs=2)
    read = _Read()
    await _own(read, _Alone(OWN), memo).apply(_part(UNION, []), SECOND, plain=False)
    assert len(memo) == 1
    del read
    gc.collect()
    assert len(memo) == 0
    reads = [_Read() for _ in range(7)]
    for r in reads:
        memo.remember(r, UNION, OWN)
        assert len(memo) <= 3
    kept = reads[-1]
    for width in range(1, 6):  # many reports of one read: at most ``pairs`` kept
        memo.remember(kept, UNION * width, OWN * width)
    assert memo.own(kept, UNION * 5) == tuple(OWN * 5)
    assert sum(memo.own(kept, UNION * w) is not None for w in range(1, 6)) <= 2


async def test_a_failed_alone_read_fails_the_part_and_remembers_nothing() -> None:
    memo, read = ShardColumnsMemo(), _Read()

    async def broken(target: Target, sql: str) -> ResultSet:
        raise RuntimeError("shard gone")

    with pytest.raises(RuntimeError, match="shard gone"):
        await _own(read, broken, memo).apply(_part(UNION, []), SECOND, plain=False)
    assert len(memo) == 0


# ---------------------------------------------------------------------- on MariaDB

DB = "sgshardcols"
SHARDS = 16

TOPOLOGY = f"""
[cluster]
database = "{DB}"
default_shards = {SHARDS}

[executor]
buckets = 1
slots_per_bucket = 8
window = 8

[[datasources]]
name = "ds0"
kind = "mysql"
url = "{MYSQL_URL}"
"""

#: A plain batched read (UNION ALL), a merged top-N and a merged aggregate (the
#: data-source stage), and an unordered read whose rows arrive in any order.
QUERIES = [
    "SELECT id, c, pad FROM t WHERE id BETWEEN 1 AND 100 ORDER BY id",
    "SELECT id, c FROM t ORDER BY c DESC, id LIMIT 5",
    "SELECT SUM(k), MAX(c), COUNT(*) FROM t WHERE id < 90",
    "SELECT c FROM t WHERE id BETWEEN 10 AND 60",
]


class _Recorded(ExecStats):
    seen: ClassVar[list[ExecStats]] = []

    def __init__(self) -> None:
        super().__init__()
        _Recorded.seen.append(self)


def _wire(columns: list[Column]) -> list[tuple[str, ColumnType | None]]:
    return [(c.name, c.wire) for c in columns]


async def _fetch(ds: Any, sql: str) -> ResultSet:
    async with ds.connection() as conn:
        rs: ResultSet = await conn.fetch(sql)
        return rs


@pytest.mark.mysql
async def test_batched_reads_send_the_shards_definitions_and_read_no_shard_alone_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_module, "ExecStats", _Recorded)
    alone_reads: list[str] = []
    read_alone = Runner._read_alone

    async def counted(self: Runner, target: Target, sql: str) -> ResultSet:
        alone_reads.append(sql)
        return await read_alone(self, target, sql)

    monkeypatch.setattr(Runner, "_read_alone", counted)
    async with Coordinator(Topology.loads(TOPOLOGY), catalog_refresh=None) as coord:
        ds = coord.datasources["ds0"]
        try:
            await coord.execute(f"DROP DATABASE IF EXISTS {DB}")
            await coord.execute(f"CREATE DATABASE {DB}")
            await coord.execute(
                "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(20) NOT NULL, "
                "pad VARCHAR(30))"
            )
            rows = ", ".join(f"({i}, {i * 7 % 13}, 'c{i % 17}', 'p{i}')" for i in range(1, 200))
            await coord.execute(f"INSERT INTO t VALUES {rows}")
            primary = await _fetch(ds, f"SELECT id FROM {DB}_0000.t LIMIT 1")
            assert primary.columns[0].wire is not None
            assert primary.columns[0].wire.flags & 2  # PRI_KEY: lost in a UNION's definitions
            for sql in QUERIES:
                runs = []
                for _ in range(3):
                    _Recorded.seen.clear()
                    alone_reads.clear()
                    rs = await coord.execute(sql)
                    children = sum(s.children for s in _Recorded.seen)
                    runs.append((_wire(rs.columns), children, len(alone_reads)))
                (first, first_children, first_alone), (second, children, alone), (third, _, _) = (
                    runs
                )
                assert first == second == third, sql
                # What one shard describes for the statement: what the client must get.
                one = await _fetch(ds, sql.replace("FROM t", f"FROM {DB}_0000.t"))
                assert first == _wire(one.columns), sql
                # The first run read one shard alone for its definitions; later runs not.
                assert (first_alone, alone) == (1, 0), (sql, runs)
                assert children < first_children, (sql, runs)
            # Changed behind the catalog's back, on every shard: a CHAR(20) becomes a
            # VARCHAR(25). The batch reports other definitions, so the memo's pair is not
            # used: one shard is read alone again, and the client gets what a run that
            # never saw the old pair sends.
            for i in range(SHARDS):
                await ds.execute(f"ALTER TABLE {DB}_{i:04d}.t MODIFY c VARCHAR(25) NOT NULL")
            sql = "SELECT CONCAT(c, '') AS c2, c FROM t WHERE id BETWEEN 10 AND 60"
            await coord.execute(sql)
            for i in range(SHARDS):
                await ds.execute(f"ALTER TABLE {DB}_{i:04d}.t MODIFY c VARCHAR(40) NOT NULL")
            alone_reads.clear()
            changed = await coord.execute(sql)
            assert len(alone_reads) == 1
            shard_columns.MEMO.forget_all()
            fresh = await coord.execute(sql)
            assert _wire(changed.columns) == _wire(fresh.columns)
            one = await _fetch(ds, sql.replace("FROM t", f"FROM {DB}_0000.t"))
            assert _wire(changed.columns)[0] == _wire(one.columns)[0]  # the shard's CONCAT
        finally:
            await coord.execute(f"DROP DATABASE IF EXISTS {DB}")
            for i in range(SHARDS):
                await ds.execute(f"DROP DATABASE IF EXISTS {DB}_{i:04d}")
    assert shard_columns.MEMO.hits > 0
