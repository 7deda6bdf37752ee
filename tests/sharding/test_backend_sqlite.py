"""The embedded SQLite backend: attach pool, transactions across shard files,
cancellation, errors, statistics, reuse across trio.run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from sharding.backend.sqlite import SQLiteDataSource
from sharding.errors import (
    BackendError,
    DataSourceUnavailable,
    DuplicateKey,
    QueryInterrupted,
    TransactionError,
    UnknownDatabase,
    UnknownTable,
)


async def eventually(condition: Callable[[], bool], limit_s: float = 5.0) -> None:
    """Poll ``condition`` (state owned by worker threads has no event to wait on)."""
    with trio.fail_after(limit_s):
        for _ in range(int(limit_s / 0.01) + 1):
            if condition():
                return
            await trio.sleep(0.01)


async def _setup(path: Path, dbs: list[str]) -> SQLiteDataSource:
    ds = SQLiteDataSource("ds0", path, max_idle=4)
    await ds.open()
    for db in dbs:
        await ds.ensure_database(db)
        await ds.execute(f'CREATE TABLE "{db}".t (id INTEGER PRIMARY KEY, v TEXT)', [db])
    return ds


async def test_attach_names_and_pool_reuse(tmp_path: Path) -> None:
    ds = await _setup(tmp_path, ["s0", "s1"])
    await ds.execute("INSERT INTO s0.t VALUES (1, 'a')", ["s0"])
    await ds.execute("INSERT INTO s1.t VALUES (2, 'b')", ["s1"])
    rs = await ds.fetch("SELECT a.id, b.id FROM s0.t a, s1.t b", ["s0", "s1"])
    assert rs.rows == [(1, 2)] and [c.name for c in rs.columns] == ["id", "id"]
    assert (tmp_path / "s0.sqlite").exists()
    before = ds.statistics().created
    for _ in range(5):
        await ds.fetch("SELECT * FROM s0.t", ["s0"])
    assert ds.statistics().created == before  # the idle connection was reused
    # LRU eviction keeps at most max_idle idle connections.
    for i in range(6):
        await ds.ensure_database(f"x{i}")
        await ds.fetch("SELECT 1", [f"x{i}"])
    stats = ds.statistics()
    assert stats.idle <= 4 and stats.in_use == 0
    await ds.aclose()


async def test_unknown_database_and_table(tmp_path: Path) -> None:
    ds = await _setup(tmp_path, ["s0"])
    with pytest.raises(UnknownDatabase, match="nope"):
        await ds.fetch("SELECT 1", ["nope"])
    assert not (tmp_path / "nope.sqlite").exists()  # ATTACH did not create it
    with pytest.raises(UnknownTable, match="ds0"):
        await ds.fetch("SELECT * FROM s0.missing", ["s0"])
    with pytest.raises(BackendError, match="at most"):
        await ds.fetch("SELECT 1", [f"d{i}" for i in range(11)])
    await ds.aclose()
    with pytest.raises(DataSourceUnavailable, match="closed"):
        await ds.fetch("SELECT 1", ["s0"])


async def test_transaction_spans_files_and_rolls_back_all(tmp_path: Path) -> None:
    ds = await _setup(tmp_path, ["s0", "s1"])
    with pytest.raises(DuplicateKey):
        async with ds.transaction(["s0", "s1"]) as conn:
            await conn.execute("INSERT INTO s0.t VALUES (1, 'a')")
            await conn.execute("INSERT INTO s1.t VALUES (1, 'a')")
            await conn.execute("INSERT INTO s1.t VALUES (1, 'dup')")
    for db in ("s0", "s1"):
        assert (await ds.fetch(f"SELECT COUNT(*) FROM {db}.t", [db])).rows == [(0,)]
    async with ds.transaction(["s0", "s1"]) as conn:
        await conn.execute("INSERT INTO s0.t VALUES (1, 'a')")
        await conn.execute("INSERT INTO \"s1\".t VALUES (2, 'b')")
        # Reads inside the transaction see its own writes.
        assert (await conn.fetch("SELECT COUNT(*) FROM s0.t")).rows == [(1,)]
    assert (await ds.fetch("SELECT COUNT(*) FROM s1.t", ["s1"])).rows == [(1,)]
    assert ds.statistics().in_use == 0
    await ds.aclose()


async def test_commit_failure_after_first_commit_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = await _setup(tmp_path, ["s0", "s1"])
    original = ds.run
    calls = {"commit": 0}

    async def run(conn, fn):  # type: ignore[no-untyped-def]
        name = getattr(fn, "__name__", "")
        if name == "<lambda>" and conn.databases == ("s1",) and calls["commit"] >= 1:
            import sqlite3

            raise BackendError("disk full (injected)") from sqlite3.OperationalError("x")
        return await original(conn, fn)

    async with ds.transaction(["s0", "s1"]) as conn:
        await conn.execute("INSERT INTO s0.t VALUES (1, 'a')")
        await conn.execute("INSERT INTO s1.t VALUES (1, 'a')")
        calls["commit"] = 1
        monkeypatch.setattr(ds, "run", run)
        with pytest.raises(TransactionError, match="after committing s0; rolled back s1"):
            await conn.commit()  # type: ignore[attr-defined]
        monkeypatch.setattr(ds, "run", original)
    assert (await ds.fetch("SELECT COUNT(*) FROM s0.t", ["s0"])).rows == [(1,)]
    assert (await ds.fetch("SELECT COUNT(*) FROM s1.t", ["s1"])).rows == [(0,)]
    await ds.aclose()


async def test_cancelled_statement_is_interrupted_and_connection_retired(tmp_path: Path) -> None:
    ds = await _setup(tmp_path, ["s0"])
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000) "
        "SELECT COUNT(*) FROM c"
    )
    with trio.move_on_after(0.2) as scope:
        await ds.fetch(slow, ["s0"])
    assert scope.cancelled_caught
    await eventually(lambda: ds.statistics().size == ds.statistics().idle)
    assert ds.statistics().in_use == 0
    assert (await ds.fetch("SELECT 1", ["s0"])).rows == [(1,)]
    await ds.aclose()


async def test_interrupt_surfaces_as_query_interrupted(tmp_path: Path) -> None:
    ds = await _setup(tmp_path, ["s0"])
    async with ds.connection(["s0"]) as conn:
        slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000) SELECT COUNT(*) FROM c"

        async def interrupt_soon() -> None:
            await trio.sleep(0.1)
            for c in list(_borrowed(ds)):
                c.raw.interrupt()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(interrupt_soon)
            with pytest.raises(QueryInterrupted):
                await conn.fetch(slow)
    await ds.aclose()


def _borrowed(ds: SQLiteDataSource):  # type: ignore[no-untyped-def]
    import gc

    from sharding.backend.sqlite import _RawConnection

    return [o for o in gc.get_objects() if isinstance(o, _RawConnection) and o.busy]


def test_usable_across_trio_runs(tmp_path: Path) -> None:
    """Seed 000: a pooled connection must not depend on the runtime that made it."""
    ds = SQLiteDataSource("ds0", tmp_path)

    async def first() -> None:
        await ds.open()
        await ds.ensure_database("s0")
        await ds.execute("CREATE TABLE s0.t (id INT)", ["s0"])
        await ds.execute("INSERT INTO s0.t VALUES (1)", ["s0"])

    async def second() -> list[tuple[int, ...]]:
        return (await ds.fetch("SELECT id FROM s0.t", ["s0"])).rows

    trio.run(first)
    assert trio.run(second) == [(1,)]


async def test_peak_reads_counts_concurrent_fetches(tmp_path: Path) -> None:
    ds = await _setup(tmp_path, ["s0"])
    ds.reset_peaks()
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(
                ds.fetch,
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT COUNT(*) FROM c",
                ["s0"],
            )
    extra = ds.statistics().extra
    assert 2 <= extra["peak_reads_open"] <= 5
    assert extra["reads_open"] == 0
    await ds.aclose()


async def test_session_lock_wait_applies_to_its_borrows_only(tmp_path: Path) -> None:
    """``innodb_lock_wait_timeout`` in a borrow's settings is that borrow's busy
    timeout: a write waiting for a file another transaction holds gives up after it
    (1205), and the pooled connection goes back to the data source's own wait."""
    ds = await _setup(tmp_path, ["s0"])
    short = {"innodb_lock_wait_timeout": "1"}

    async def busy_ms(settings: dict[str, str] | None) -> int:
        async with ds.connection(["s0"], settings=settings) as conn:  # type: ignore[call-arg]
            rs = await conn.fetch("PRAGMA busy_timeout")
            return int(rs.rows[0][0])

    assert await busy_ms(short) == 1000
    assert await busy_ms(None) == 50000  # not carried to the next borrower
    async with ds.transaction(["s0"]) as holder:
        await holder.execute("INSERT INTO s0.t VALUES (1, 'a')")
        async with ds.transaction(["s0"], settings=short) as waiter:  # type: ignore[call-arg]
            started = trio.current_time()
            with pytest.raises(BackendError) as waited:
                await waiter.execute("INSERT INTO s0.t VALUES (2, 'b')")
            assert getattr(waited.value, "code", None) == 1205
            assert 0.9 <= trio.current_time() - started < 10
            await waiter.rollback()
    await ds.aclose()


def test_shard_syntax_error_is_a_clear_refusal() -> None:
    """The coordinator has parsed the statement as MySQL: a SQLite syntax error on the
    shard is a form its translation does not cover — 1235 naming where it stops, not
    1105 with SQLite's words only."""
    import sqlite3

    from sharding.backend.sqlite import translate_error

    err = translate_error("ds0", sqlite3.OperationalError('near "WEEK": syntax error'))
    assert err.code == 1235 and "'WEEK'" in str(err) and "SQLite default" in str(err)
    other = translate_error("ds0", sqlite3.OperationalError("disk I/O error"))
    assert other.code != 1235
