"""``DEFAULT(col)`` inside an UPDATE's expression on the SQLite default (the coordinator's
parser read it as a 1064 before): the column's default, MariaDB's 1364 without one, and
a clear 1235 where the shard statement is not rewritten (a SELECT's items)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from sharding import Coordinator, Topology
from sharding.errors import ShardgateError


def test_default_function_in_update(tmp_path: Path) -> None:
    async def main() -> None:
        topo = Topology.default(tmp_path, default_shards=4)
        async with Coordinator(topo, catalog_refresh=None) as coord:
            await coord.execute(
                "CREATE TABLE t (id INT PRIMARY KEY, n INT DEFAULT 7, m INT NOT NULL)"
            )
            await coord.execute("INSERT INTO t VALUES (1, 1, 1), (2, 2, 2), (3, NULL, 3)")
            assert (
                await coord.execute("UPDATE t SET n = DEFAULT(n) + 1 WHERE id = 1")
            ).affected == 1
            assert (
                await coord.execute("UPDATE t SET n = DEFAULT(n) * id WHERE id > 1")
            ).affected == 2
            rows = (await coord.execute("SELECT id, n FROM t ORDER BY id")).rows
            assert [tuple(r) for r in rows] == [(1, 8), (2, 14), (3, 21)]
            with pytest.raises(ShardgateError) as no_default:
                await coord.execute("UPDATE t SET m = DEFAULT(m) + 1")
            assert no_default.value.code == 1364
            with pytest.raises(ShardgateError) as refused:
                await coord.execute("SELECT id, DEFAULT(n) FROM t")
            assert refused.value.code == 1235

    trio.run(main)
