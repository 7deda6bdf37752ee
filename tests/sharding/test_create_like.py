"""``CREATE TABLE b LIKE a`` on the embedded SQLite default: the definition SHOW CREATE
TABLE gives for ``a`` (columns, keys, rule), empty, AUTO_INCREMENT from 1 again. The
MariaDB comparison is ``tests/backend_mysql/test_alter_table.py``."""

from __future__ import annotations

import pytest

from sharding import Coordinator, Topology
from sharding.errors import ShardgateError


async def test_create_table_like_copies_the_definition(small_topology: Topology) -> None:
    async with Coordinator(small_topology, catalog_refresh=None) as c:
        s = c.open_session()
        await s.execute(
            "CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(5) NOT NULL "
            "DEFAULT 'z', KEY kv (v))"
        )
        await s.execute("INSERT INTO a (v) VALUES ('x'), ('y')")
        await s.execute("CREATE TABLE b LIKE a")
        shown_a = (await s.execute("SHOW CREATE TABLE a")).rows[0][1]
        shown_b = (await s.execute("SHOW CREATE TABLE b")).rows[0][1]
        # The same text but the name and the counter (a has used ids, b has not).
        assert shown_b == shown_a.replace("`a`", "`b`", 1).replace(" AUTO_INCREMENT=3", "")
        assert (await s.execute("SELECT COUNT(*) FROM b")).rows == [(0,)]
        await s.execute("INSERT INTO b (v) VALUES ('q')")
        assert (await s.execute("SELECT id, v FROM b")).rows == [(1, "q")]
        with pytest.raises(ShardgateError) as taken:
            await s.execute("CREATE TABLE b LIKE a")
        assert taken.value.code == 1050
        with pytest.raises(ShardgateError) as missing:
            await s.execute("CREATE TABLE c LIKE nope")
        assert missing.value.code == 1146
        await s.close()
