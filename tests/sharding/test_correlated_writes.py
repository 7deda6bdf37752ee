"""UPDATE/DELETE with a subquery over a co-located sharded table, correlated on both
shard keys, on the embedded SQLite default: every shard computes it for its own rows
(sharding.sql.dml._correlated_on_the_shard_key). The MariaDB comparison is the
"correlated write" class of tests/fidelity/test_write_classes.py."""

from __future__ import annotations

import pytest

from sharding import Coordinator, Topology
from sharding.errors import ShardgateError


async def test_co_located_correlated_subqueries_in_writes(small_topology: Topology) -> None:
    async with Coordinator(small_topology, catalog_refresh=None) as c:
        s = c.open_session()
        await s.execute("CREATE TABLE p (id INT PRIMARY KEY, total INT DEFAULT 0)")
        await s.execute("CREATE TABLE ch (cid INT, pid INT, amt INT, PRIMARY KEY (pid, cid))")
        await s.execute("CREATE TABLE other (oid INT PRIMARY KEY, pid INT)")
        await s.execute("INSERT INTO p (id) VALUES (1), (2), (3), (4), (5)")
        await s.execute("INSERT INTO ch VALUES (1, 1, 10), (2, 1, 20), (3, 2, 5), (4, 5, 7)")
        # The default rule keys ch by its first primary-key column, pid: placed as p.
        r = await s.execute(
            "UPDATE p SET total = (SELECT COALESCE(SUM(amt), -1) FROM ch WHERE ch.pid = p.id)"
        )
        assert r.affected == 5
        rows = (await s.execute("SELECT id, total FROM p ORDER BY id")).rows
        assert rows == [(1, 30), (2, 5), (3, -1), (4, -1), (5, 7)]
        r = await s.execute("DELETE FROM p WHERE (SELECT COUNT(*) FROM ch WHERE ch.pid = p.id) = 0")
        assert r.affected == 2
        await s.execute(
            "UPDATE p SET total = (SELECT MAX(amt) FROM ch c WHERE c.pid = p.id) WHERE p.id = 1"
        )
        rows = (await s.execute("SELECT id, total FROM p ORDER BY id")).rows
        assert rows == [(1, 20), (2, 5), (5, 7)]
        # Not correlated on the shard keys: another shard's rows would be needed.
        for sql in (
            "UPDATE p SET total = (SELECT COUNT(*) FROM ch WHERE ch.amt = p.id)",
            "UPDATE p SET total = (SELECT COUNT(*) FROM other WHERE other.pid = p.id)",
        ):
            with pytest.raises(ShardgateError) as refused:
                await s.execute(sql)
            assert refused.value.code == 1235, sql
        await s.close()
