"""``JSON_OBJECT``/``JSON_ARRAY`` on SQLite shards write MariaDB's JSON text: a space
after each ``,`` and ``:`` (SQLite's is compact), ``TRUE``/``FALSE`` as ``true``/
``false`` (SQLite's 1/0), nested constructors as JSON values; a DECIMAL or DOUBLE
value among them is a 1235 (MariaDB writes its scale: ``2.50``, ``1.0000``; the shard
holds a REAL). Compared with unsharded MariaDB on the same rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import reference_database, same_rows, sqlite_twin

SETUP = [
    "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20), n INT, amount DECIMAL(8,2))",
    "INSERT INTO t VALUES (1, 'a,b:c', 3, 2.50), (2, 'x\"y', NULL, 1.00), (3, NULL, -4, NULL)",
]
SAME = [
    "SELECT id, JSON_OBJECT('name', name, 'n', n) FROM t ORDER BY id",
    "SELECT id, JSON_ARRAY(id, name, n, TRUE, FALSE, NULL) FROM t ORDER BY id",
    "SELECT id, JSON_OBJECT('k', JSON_ARRAY(n, JSON_OBJECT('s', name)), 'e', JSON_ARRAY())"
    " FROM t ORDER BY id",
    "SELECT JSON_OBJECT(), JSON_ARRAY()",
    "SELECT id FROM t WHERE JSON_ARRAY(id, n) = '[1, 3]'",
]
REFUSED = [
    "SELECT id, JSON_OBJECT('a', amount) FROM t ORDER BY id",
    "SELECT JSON_ARRAY(1, 2.50)",
    "SELECT id, JSON_ARRAY(n / 2) FROM t ORDER BY id",
]


@pytest.mark.mysql
def test_json_constructors_as_mariadb(tmp_path: Path) -> None:
    with reference_database("sgjsonc", *SETUP) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, *SETUP) as session:
                await same_rows(session, cur, SAME)
                for sql in REFUSED:
                    with pytest.raises(ShardgateError) as refused:
                        await session.execute(sql)
                    assert refused.value.code == 1235, (sql, refused.value)
                    assert "JSON_OBJECT/JSON_ARRAY" in str(refused.value)

        trio.run(main)
