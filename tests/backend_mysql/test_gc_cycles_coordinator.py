"""Statements through the coordinator leave no reference cycles (issue 12, item 5).

``shardgate serve`` raises the cyclic collector's first threshold, so garbage that only
dies in a cycle piles up between the rare full collections; the issue measured ~6.5 KB
per connection. The protocol layer is checked in ``tests/server/test_gc_cycles.py``;
this checks the coordinator below it, on MariaDB shards: multi-shard reads (batched
into UNION ALL statements, ordered and chunked), point reads and writes must leave
nothing of ``sharding.*``, ``executor.*`` or ``trio.*`` for the collector — the Runner
and its Batcher once formed a cycle that kept each query's nursery and tasks alive.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import trio

from sharding import Coordinator, Topology
from sharding.backend.mysql import MySQLDataSource
from tests.backend_mysql.conftest import make_ds
from tests.server.served import drop_prefixed

pytestmark = pytest.mark.mysql

DB = "sggc_cycles"
STATEMENTS = [
    "SELECT id, v FROM t ORDER BY v, id LIMIT 5",  # merge sort over 8 shards, batched
    "SELECT k, COUNT(*), SUM(v) FROM t GROUP BY k ORDER BY k",
    "SELECT * FROM t WHERE id = 7",  # one shard
    "SELECT COUNT(*) FROM t",
    "UPDATE t SET v = v + 1 WHERE id IN (1, 2, 3)",
    "INSERT INTO t VALUES (1000, 1, 1), (1001, 2, 2)",
    "DELETE FROM t WHERE id >= 1000",
    "SELECT * FROM nosuch",  # an error
]


@pytest.fixture
async def coord(mysql_url: str) -> AsyncIterator[Coordinator]:
    topology = Topology.from_dict(
        {
            "cluster": {"database": DB, "default_shards": 8, "chunk_rows": 3},
            "datasources": [{"name": "m0", "kind": "mysql", "url": mysql_url}],
        }
    )
    ds: MySQLDataSource = make_ds("m0", mysql_url)
    async with Coordinator(topology, datasources={"m0": ds}, xa_recovery=None) as c:
        await c.execute("DROP DATABASE IF EXISTS " + DB)
        await c.execute("CREATE DATABASE " + DB)
        await c.execute("CREATE TABLE t (id INT PRIMARY KEY, k INT, v INT)")
        await c.execute(
            "INSERT INTO t VALUES "
            + ", ".join(f"({i}, {i % 5}, {i * 7 % 11})" for i in range(1, 60))
        )
        try:
            yield c
        finally:
            await c.execute("DROP DATABASE " + DB)
            # The per-shard physical databases stay (sharding/schema_changes.py);
            # this test's are its own: drop them.
            await trio.to_thread.run_sync(drop_prefixed, f"{DB}_")


def _ours(objects: list[object]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for obj in objects:
        module = type(obj).__module__ or ""
        if module.split(".")[0] in ("sharding", "executor", "trio"):
            kinds[f"{module}.{type(obj).__qualname__}"] += 1
    return kinds


async def test_statements_leave_no_cycles(coord: Coordinator) -> None:
    async def workload() -> None:
        session = coord.open_session(database=DB)
        try:
            for sql in STATEMENTS:
                try:
                    await session.execute(sql)
                except Exception:
                    pass  # the error path is part of the workload
        finally:
            await session.close()

    await workload()  # warm caches (plans, pools) first
    gc.collect()
    flags = gc.get_debug()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            await workload()
        gc.collect()
        leftovers = _ours(list(gc.garbage))
    finally:
        gc.garbage.clear()
        gc.set_debug(flags)
        gc.enable()
    assert not leftovers, f"objects freed only by the cyclic collector: {leftovers.most_common(12)}"
