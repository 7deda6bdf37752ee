"""The MySQL data source against the shared MariaDB (127.0.0.1:3306)."""

from __future__ import annotations

import random
import time
from decimal import Decimal

import pytest
import trio
from pymysql.constants import FIELD_TYPE

from sharding.backend.mysql import MySQLDataSource
from sharding.errors import BackendError, DataSourceUnavailable, PoolTimeout, QueryTimeout
from tests.backend_mysql.conftest import make_ds
from tests.conftest import MYSQL_URL
from tests.mysqld import free_port

pytestmark = pytest.mark.mysql

DB = "sgtest_backend"


async def processlist_count(observer: MySQLDataSource, pattern: str) -> int:
    rs = await observer.fetch(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        f"WHERE INFO LIKE '{pattern}' AND ID <> CONNECTION_ID()"
    )
    return int(rs.rows[0][0])


async def wait_running(
    observer: MySQLDataSource, pattern: str, at_least: int = 1, within: float = 20.0
) -> None:
    """Until ``at_least`` statements matching ``pattern`` run on the server (a fixed
    delay is too short on a loaded machine); fails after ``within`` seconds."""
    with trio.fail_after(within):
        while True:  # polling the server: there is no event to wait on
            if await processlist_count(observer, pattern) >= at_least:
                return
            await trio.sleep(0.02)


async def wait_gone(observer: MySQLDataSource, pattern: str, within: float) -> float:
    """Seconds until no statement matching ``pattern`` runs; fails after ``within``."""
    start = trio.current_time()
    while trio.current_time() - start < within:
        if not await processlist_count(observer, pattern):
            return trio.current_time() - start
        await trio.sleep(0.02)
    raise AssertionError(f"{pattern!r} still in PROCESSLIST after {within}s")


async def test_fetch_columns_types_and_values() -> None:
    ds = make_ds("main")
    await ds.open()
    try:
        await ds.ensure_database(DB)
        await ds.execute(f"DROP TABLE IF EXISTS {DB}.typed")
        await ds.execute(
            f"CREATE TABLE {DB}.typed (id INT PRIMARY KEY, price DECIMAL(10,2), at DATETIME(3), "
            "raw VARBINARY(8), name VARCHAR(20), n BIGINT NULL)"
        )
        res = await ds.execute(
            f"INSERT INTO {DB}.typed VALUES (1, 12.50, '2024-01-02 03:04:05.678', x'00ff', 'ä', NULL), "
            "(2, 0.01, '1999-12-31 23:59:59', '', 'b', 9007199254740993)"
        )
        assert res.affected == 2
        rs = await ds.fetch(f"SELECT id, price, at, raw, name, n FROM {DB}.typed ORDER BY id")
        assert [c.name for c in rs.columns] == ["id", "price", "at", "raw", "name", "n"]
        assert [c.type_code for c in rs.columns] == [
            FIELD_TYPE.LONG,
            FIELD_TYPE.NEWDECIMAL,
            FIELD_TYPE.DATETIME,
            FIELD_TYPE.VAR_STRING,
            FIELD_TYPE.VAR_STRING,
            FIELD_TYPE.LONGLONG,
        ]
        first, second = rs.rows
        assert first[1] == Decimal("12.50") and first[2].microsecond == 678000
        assert first[3] == b"\x00\xff" and first[4] == "ä" and first[5] is None
        assert second[5] == 9007199254740993
        empty = await ds.fetch(f"SELECT id FROM {DB}.typed WHERE id < 0")
        assert empty.rows == [] and [c.name for c in empty.columns] == ["id"]
    finally:
        await ds.aclose()


async def test_server_error_keeps_connection_and_names_datasource() -> None:
    ds = make_ds("main_err")
    await ds.open()
    try:
        with pytest.raises(BackendError) as info:
            await ds.fetch("SELEC 1")
        assert info.value.code == 1064 and info.value.sqlstate == "42000"
        assert str(info.value).startswith("You have an error in your SQL syntax")
        assert getattr(info.value, "datasource", None) == "main_err"
        with pytest.raises(
            BackendError, match=r"^Table 'sgtest_backend\.nope' doesn't exist"
        ) as missing:
            await ds.fetch(f"SELECT * FROM {DB}.nope")
        assert getattr(missing.value, "datasource", None) == "main_err"
        assert (await ds.fetch("SELECT 7")).rows == [(7,)]
        st = ds.statistics()
        assert st.created == 1 and st.closed == 0 and st.errors == 2
    finally:
        await ds.aclose()


async def test_transaction_commit_and_rollback() -> None:
    ds = make_ds("main_tx")
    await ds.open()
    try:
        await ds.ensure_database(DB)
        await ds.execute(f"CREATE TABLE IF NOT EXISTS {DB}.tx (id INT PRIMARY KEY) ENGINE=InnoDB")
        await ds.execute(f"DELETE FROM {DB}.tx")
        async with ds.transaction() as conn:
            await conn.execute(f"INSERT INTO {DB}.tx VALUES (1), (2)")
        with pytest.raises(RuntimeError):
            async with ds.transaction() as conn:
                await conn.execute(f"INSERT INTO {DB}.tx VALUES (3)")
                raise RuntimeError("abort")
        with pytest.raises(BackendError) as info:
            async with ds.transaction() as conn:
                await conn.execute(f"INSERT INTO {DB}.tx VALUES (4)")
                await conn.execute(f"INSERT INTO {DB}.tx VALUES (1)")
        assert info.value.code == 1062
        rs = await ds.fetch(f"SELECT id FROM {DB}.tx ORDER BY id")
        assert rs.rows == [(1,), (2,)]
        assert ds.statistics().in_use == 0
    finally:
        await ds.aclose()


def test_multi_statement_packets_keep_order_and_size() -> None:
    from sharding.backend.mysql import _packets

    sqls = [f"INSERT INTO t VALUES ({i})" for i in range(30)] + ["X" * 500, "SELECT 1"]
    groups = _packets(sqls, 100)
    assert [s for g in groups for s in g] == sqls
    assert all(sum(len(s) + 2 for s in g) <= 100 + 2 or len(g) == 1 for g in groups)
    assert ["X" * 500] in groups and len(groups) > 5
    assert _packets([], 100) == []


async def test_execute_many_one_hop_same_results_and_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small packets, so the batch spans several multi-statement round trips.
    monkeypatch.setattr("sharding.backend.mysql_drivers.MULTI_STATEMENT_BYTES", 300)
    ds = make_ds("main_many")
    await ds.open()
    try:
        await ds.ensure_database(DB)
        await ds.execute(f"CREATE TABLE IF NOT EXISTS {DB}.many (id INT PRIMARY KEY) ENGINE=InnoDB")
        await ds.execute(f"DELETE FROM {DB}.many")
        hops = 0  # bridge crossings
        real_run = ds._bridge.run

        async def counting_run(*args: object) -> object:
            nonlocal hops
            hops += 1
            return await real_run(*args)  # type: ignore[arg-type]

        ds._bridge.run = counting_run  # type: ignore[method-assign]
        sqls = [f"INSERT INTO {DB}.many VALUES ({i}), ({i + 1000})" for i in range(49)]
        sqls.append(f"INSERT INTO {DB}.many SELECT 2000 FROM DUAL WHERE ';' = ';' ;  ")
        async with ds.transaction() as conn:
            hops = 0
            results = await conn.execute_many(sqls)
            assert hops == 1
        assert [r.affected for r in results] == [2] * 49 + [1]
        assert (await ds.fetch(f"SELECT COUNT(*) FROM {DB}.many")).rows == [(99,)]
        # The first failing statement ends the batch with the server's own error; the
        # transaction rolls back what ran before it; the connection stays usable.
        bad = [f"INSERT INTO {DB}.many VALUES (5000)", f"INSERT INTO {DB}.many VALUES (1)"]
        bad += [f"INSERT INTO {DB}.many VALUES ({5001 + i})" for i in range(20)]
        with pytest.raises(BackendError) as info:
            async with ds.transaction() as conn:
                await conn.execute_many(bad)
        assert info.value.code == 1062 and str(info.value).startswith("Duplicate entry")
        assert getattr(info.value, "datasource", None) == "main_many"
        assert (await ds.fetch(f"SELECT COUNT(*) FROM {DB}.many WHERE id >= 5000")).rows == [(0,)]
        assert ds.statistics().in_use == 0 and ds.statistics().closed == 0
        assert (await ds.fetch("SELECT 5")).rows == [(5,)]  # nothing left unread on it
        # Cancelled mid-batch: the connection is closed (state unknown), nothing leaks.
        slow = [f"INSERT INTO {DB}.many VALUES (6000)", "SELECT SLEEP(5) /* many-probe */"]

        async def run_slow() -> None:
            async with ds.transaction() as conn:
                await conn.execute_many(slow)

        observer = make_ds("observer_many", max_connections=1)
        await observer.open()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_slow)
                await wait_running(observer, "%many-probe%")  # cancelled mid-batch
                nursery.cancel_scope.cancel()
        finally:
            await observer.aclose()
        st = ds.statistics()
        assert st.in_use == 0 and st.closed == 1
        assert (await ds.fetch(f"SELECT COUNT(*) FROM {DB}.many WHERE id = 6000")).rows == [(0,)]
    finally:
        await ds.aclose()


async def test_stream_batches_and_early_exit() -> None:
    ds = make_ds("main_stream", max_connections=1)
    await ds.open()
    try:
        await ds.ensure_database(DB)
        sql = f"SELECT seq FROM {DB}.seq_1_to_2500"
        async with ds.connection() as conn:
            sizes = []
            total = 0
            async with conn.stream(sql, batch_rows=1000) as batches:
                assert [c.name for c in batches.columns] == ["seq"]
                async for rows in batches:
                    sizes.append(len(rows))
                    total += sum(r[0] for r in rows)
            assert sizes == [1000, 1000, 500] and total == 2500 * 2501 // 2
            async with conn.stream(sql, batch_rows=10) as batches:
                async for rows in batches:
                    assert rows[0] == (1,)
                    break  # leave early: the rest is discarded, the connection stays usable
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]
        assert ds.statistics().closed == 0
    finally:
        await ds.aclose()


async def test_query_timeout_closes_and_kills_server_side() -> None:
    ds = make_ds("main_qt", query_timeout=0.5)
    observer = make_ds("observer")
    await ds.open()
    await observer.open()
    try:
        start = trio.current_time()
        with pytest.raises(QueryTimeout, match=r"main_qt: statement exceeded query_timeout=0\.5s"):
            await ds.fetch("SELECT SLEEP(20) /* qt-probe */")
        assert trio.current_time() - start < 1.0
        await wait_gone(observer, "%qt-probe%", within=1.0)
        st = ds.statistics()
        assert st.in_use == 0 and st.size == st.idle and st.extra["query_timeouts"] == 1
        assert (await ds.fetch("SELECT 2")).rows == [(2,)]
    finally:
        await ds.aclose()
        await observer.aclose()


async def test_acquire_timeout_names_datasource() -> None:
    ds = make_ds("main_small", max_connections=1, acquire_timeout=0.3)
    await ds.open()
    try:
        async with ds.connection():
            start = trio.current_time()
            with pytest.raises(PoolTimeout, match=r"main_small: no connection free within 0.3s"):
                await ds.fetch("SELECT 1")
            assert 0.25 < trio.current_time() - start < 1.0
        assert (await ds.fetch("SELECT 1")).rows == [(1,)]
    finally:
        await ds.aclose()


async def test_unreachable_server_fails_fast_and_trips_breaker() -> None:
    ds = make_ds(
        "nowhere",
        url=f"mysql://root:@127.0.0.1:{free_port()}",
        breaker_threshold=2,
        breaker_probe_interval=30,
    )
    for _ in range(2):
        with pytest.raises(DataSourceUnavailable, match=r"nowhere: .*connect"):
            await ds.fetch("SELECT 1")
    assert ds.statistics().breaker == "open"
    with pytest.raises(DataSourceUnavailable, match="nowhere: data source marked down"):
        await ds.fetch("SELECT 1")
    await ds.aclose()
    with pytest.raises(DataSourceUnavailable, match="nowhere: data source is closed"):
        await ds.fetch("SELECT 1")


async def test_concurrent_fetches_share_a_bounded_pool() -> None:
    ds = make_ds("main_conc", max_connections=4)
    await ds.open()
    try:
        results: dict[int, int] = {}

        async def one(i: int) -> None:
            rs = await ds.fetch(f"SELECT {i} + 0 * SLEEP(0.01)")
            results[i] = rs.rows[0][0]

        async with trio.open_nursery() as nursery:
            for i in range(40):
                nursery.start_soon(one, i)
        assert results == {i: i for i in range(40)}
        st = ds.statistics()
        assert st.extra["peak_size"] <= 4 and st.in_use == 0 and st.waiting == 0
    finally:
        await ds.aclose()


def test_pool_random_operations_against_real_server() -> None:
    """A few seeded random runs of borrow / cancel / error / broken against MariaDB."""

    async def main(seed: int) -> None:
        rnd = random.Random(seed)
        ds = make_ds(
            f"main_rand{seed}", max_connections=3, acquire_timeout=2.0, validate_after=0.05
        )
        await ds.open()
        holders: set[int] = set()

        async def client() -> None:
            for _ in range(12):
                kind = rnd.choice(["fetch", "fetch", "cancel", "error", "hold"])
                with trio.move_on_after(0.03 if kind == "cancel" else 10):
                    try:
                        async with ds.connection() as conn:
                            tid = conn.thread_id
                            assert tid not in holders, "one connection in two hands"
                            holders.add(tid)
                            try:
                                if kind == "error":
                                    await conn.fetch("SELECT * FROM no_such_db.t")
                                elif kind == "cancel":
                                    await conn.fetch("SELECT SLEEP(0.5)")
                                elif kind == "hold":
                                    await trio.sleep(rnd.random() / 20)
                                assert (await conn.fetch("SELECT 1")).rows == [(1,)]
                            finally:
                                holders.discard(tid)
                    except BackendError as exc:
                        assert exc.code == 1146
                assert ds.statistics().size <= 3

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(client)
        st = ds.statistics()
        assert (st.in_use, st.waiting, st.extra["opening"]) == (0, 0, 0)
        assert st.size == st.idle <= 3 and st.extra["peak_size"] <= 3
        await ds.aclose()

    for seed in range(3):
        trio.run(main, seed)


def test_backend_survives_across_trio_runs() -> None:
    """Seed 000 regression: open in one trio.run, query in later runs — works, no hang."""
    ds = make_ds("main_runs", max_connections=2)

    async def first() -> int:
        await ds.open()
        rs = await ds.fetch("SELECT CONNECTION_ID()")
        return int(rs.rows[0][0])

    async def later() -> tuple[int, int]:
        with trio.fail_after(5):  # never hang
            rs = await ds.fetch("SELECT CONNECTION_ID()")
            with trio.move_on_after(0.05):
                await ds.fetch("SELECT SLEEP(1)")  # a cancelled statement in this run too
            return int(rs.rows[0][0]), ds.statistics().in_use

    first_id = trio.run(first)
    for _ in range(3):
        conn_id, in_use = trio.run(later)
        assert in_use == 0
    # The very first pooled connection was reused by the second run (same server thread).
    assert first_id > 0 and conn_id > 0

    async def close() -> None:
        await ds.aclose()

    trio.run(close)


def test_trio_asyncio_bridge_refuses_a_later_run_at_once() -> None:
    trio_asyncio = pytest.importorskip("trio_asyncio")
    ds = MySQLDataSource.from_config("main_ta", {"url": MYSQL_URL, "bridge": "trio_asyncio"})

    async def first() -> list[tuple[int]]:
        async with trio_asyncio.open_loop():
            await ds.open()
            return (await ds.fetch("SELECT 5")).rows

    assert trio.run(first) == [(5,)]

    async def second() -> None:
        async with trio_asyncio.open_loop():
            with pytest.raises(DataSourceUnavailable, match=r"main_ta: .*trio\.run that has ended"):
                await ds.fetch("SELECT 5")

    start = time.monotonic()
    trio.run(second)
    assert time.monotonic() - start < 1.0


async def test_asyncmy_driver_basics() -> None:
    pytest.importorskip("asyncmy")
    ds = make_ds("main_asyncmy", driver="asyncmy", max_connections=2)
    observer = make_ds("observer_asyncmy", max_connections=1)
    await ds.open()
    await observer.open()
    try:
        rs = await ds.fetch("SELECT 1 AS a, 2.50 AS b, 'x' AS c")
        assert [c.name for c in rs.columns] == ["a", "b", "c"]
        assert rs.columns[1].type_code == FIELD_TYPE.NEWDECIMAL
        assert rs.rows == [(1, Decimal("2.50"), "x")]
        with pytest.raises(BackendError) as info:
            await ds.fetch("SELECT * FROM no_such_db.t")
        assert info.value.code == 1146 and getattr(info.value, "datasource", None) == "main_asyncmy"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ds.fetch, "SELECT SLEEP(20) /* asyncmy-probe */")
            await wait_running(observer, "%asyncmy-probe%")  # then it needs a KILL
            nursery.cancel_scope.cancel()
        await wait_gone(observer, "%asyncmy-probe%", within=1.0)
        # The KILL is counted when its reply reaches the driver's thread, which may be
        # after the server already dropped the query: wait for the count, bounded.
        for _ in range(200):  # at most 2 s
            if ds.statistics().extra["kills_sent"] >= 1:
                break
            await trio.sleep(0.01)
        st = ds.statistics()
        assert st.in_use == 0 and st.extra["kills_sent"] == 1
        async with (
            ds.connection() as conn,
            conn.stream("SELECT 1 UNION ALL SELECT 2", batch_rows=1) as batches,
        ):
            assert [rows async for rows in batches] == [[(1,)], [(2,)]]
    finally:
        await ds.aclose()
        await observer.aclose()


def test_thread_bridge_works_when_trio_asyncio_is_imported() -> None:
    """trio-asyncio replaces asyncio's loop policy; the backend's own loop must not care."""
    pytest.importorskip("trio_asyncio")
    import subprocess
    import sys

    code = (
        "import trio_asyncio, trio\n"
        "from sharding.backend.mysql import MySQLDataSource\n"
        f"ds = MySQLDataSource.from_config('x', {{'url': {MYSQL_URL!r}}})\n"
        "async def main():\n"
        "    await ds.open()\n"
        "    print((await ds.fetch('SELECT 41 + 1')).rows)\n"
        "trio.run(main)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[(42,)]"
