"""JSON on SQLite shards writes MariaDB's JSON text: ``JSON_OBJECT``/``JSON_ARRAY`` and the
documents ``JSON_EXTRACT``/``JSON_SET``/``JSON_INSERT``/``JSON_REPLACE``/``JSON_REMOVE``
return have a space after each ``,`` and ``:`` (SQLite's are compact), ``TRUE``/
``FALSE`` are ``true``/``false`` (SQLite's 1/0), nested constructors JSON values,
``JSON_TYPE`` MySQL's names (``ARRAY``, ``DOUBLE``, ``STRING``, ``BOOLEAN``); a
DECIMAL or DOUBLE value in a constructed document is a 1235 (MariaDB writes its scale:
``2.50``, ``1.0000``; the shard holds a REAL), and so is a ``JSON_SET``/``JSON_INSERT``
path indexing an array (MariaDB appends past its end, SQLite does nothing). Compared
with unsharded MariaDB on the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import run_twin, same_rows

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
    # Documents read or changed: MariaDB's spacing, its JSON_TYPE names.
    "SELECT id, JSON_EXTRACT(JSON_OBJECT('a', JSON_ARRAY(id, n), 's', name), '$.a'),"
    " JSON_EXTRACT(JSON_OBJECT('s', name), '$.s') FROM t ORDER BY id",
    "SELECT JSON_EXTRACT('{\"a\":{\"b\":[1,2]}}', '$.a') AS j",
    "SELECT JSON_TYPE('[1]'), JSON_TYPE('1.5'), JSON_TYPE('\"s\"'), JSON_TYPE('true'),"
    " JSON_TYPE('null'), JSON_TYPE('{}'), JSON_TYPE('3')",
    "SELECT id, JSON_SET(JSON_OBJECT('n', n), '$.s', name, '$.i', id) FROM t ORDER BY id",
    "SELECT JSON_REMOVE('[1, 2, 3]', '$[0]'), JSON_REPLACE('{\"a\": 1}', '$.a', 'z'),"
    " JSON_INSERT('{\"a\": 1}', '$.c', 'q')",
]
REFUSED = [
    "SELECT id, JSON_OBJECT('a', amount) FROM t ORDER BY id",
    "SELECT JSON_ARRAY(1, 2.50)",
    "SELECT id, JSON_ARRAY(n / 2) FROM t ORDER BY id",
    # Past an array's end MySQL appends; SQLite's json_insert/json_set do nothing.
    "SELECT JSON_INSERT('[1,2]', '$[5]', 3)",
    "SELECT id, JSON_SET(JSON_ARRAY(id), '$[1]', n) FROM t ORDER BY id",
]


@pytest.mark.mysql
def test_json_constructors_as_mariadb(tmp_path: Path) -> None:
    async def check(session: Any, cur: Any, _name: str) -> None:
        await same_rows(session, cur, SAME)
        for sql in REFUSED:
            with pytest.raises(ShardgateError) as refused:
                await session.execute(sql)
            assert refused.value.code == 1235, (sql, refused.value)
            assert "JSON_" in str(refused.value), (sql, refused.value)

    run_twin(tmp_path, "sgjsonc", SETUP, check)
