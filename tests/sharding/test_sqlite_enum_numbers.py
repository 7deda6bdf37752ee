"""An ENUM column in numeric context is its index on the embedded SQLite default (issue
15), as on MariaDB: arithmetic, numeric functions and aggregates, in reads; a write
statement that would need it is refused (1235), never answered with SQLite's 0.

Values are compared, not Python types: ``SUM``/``AVG``/``/`` are DECIMAL on MariaDB and
an SQLite number on the shards (docs/refusals.md, the embedded SQLite default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sharding import Coordinator
from sharding.errors import ShardgateError
from tests.sharding.test_sqlite_mysql_semantics import topology
from tests.sharding.test_sqlite_mysql_writes2 import REFUSED, R, W, reference

__all__ = ["reference"]

pytestmark = pytest.mark.mysql

SCRIPT: list[tuple[str, str]] = [
    (W, "CREATE TABLE e (id INT PRIMARY KEY, size ENUM('small','medium','large'), n INT)"),
    (W, "INSERT INTO e VALUES (1,'large',1),(2,'small',2),(3,NULL,3),(4,'medium',4),(5,2,5)"),
    (
        R,
        "SELECT id, size + 0, size * 1, -size, ABS(size), ROUND(size), size DIV 1, size % 2, "
        "MOD(size, 2), CAST(size AS SIGNED), TRUNCATE(size, 0), FLOOR(size), size | 0, "
        "(size) - 1 FROM e ORDER BY id",
    ),
    (R, "SELECT SUM(size), AVG(size), MIN(size), MAX(size), COUNT(size) FROM e"),
    (R, "SELECT id, size / 2, size + 0.5 FROM e ORDER BY id"),
    (R, "SELECT n % 2, SUM(size), MAX(size) FROM e GROUP BY n % 2 ORDER BY n % 2"),
    (R, "SELECT e.id, e.size + n FROM e WHERE e.size * 2 > 3 ORDER BY e.id"),
    (R, "SELECT id, size, CONCAT(size, '!'), size = 2, size > 'medium' FROM e ORDER BY size, id"),
    (R, "SELECT id FROM e WHERE size + 0 = 2 ORDER BY id"),
    (R, "SELECT x.id, x.size + 0 FROM e AS x JOIN e AS y ON y.id = x.id ORDER BY x.id"),
    (REFUSED, "UPDATE e SET n = size + 1 WHERE id = 1"),
    (R, "SELECT id, n FROM e ORDER BY id"),
]


async def test_enum_in_numeric_context_matches_mariadb(reference: Any, tmp_path: Path) -> None:
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        with reference.cursor() as cur:
            for kind, sql in SCRIPT:
                if kind == REFUSED:
                    with pytest.raises(ShardgateError) as refused:
                        await coord.execute(sql)
                    assert refused.value.code == 1235, (sql, refused.value)
                    assert "ENUM column 'size'" in str(refused.value)
                    continue
                cur.execute(sql)
                result = await coord.execute(sql)
                if kind == W:
                    assert result.affected == cur.rowcount, sql
                else:
                    theirs = [tuple(r) for r in cur.fetchall()]
                    assert [tuple(r) for r in result.rows] == theirs, sql


async def test_enum_columns_are_known_after_a_restart(tmp_path: Path) -> None:
    """A new process learns the ENUM columns from the shard files' schema."""
    from sharding.backend import sqlite_enum_numbers

    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        await coord.execute(SCRIPT[0][1])
        await coord.execute(SCRIPT[1][1])
    sqlite_enum_numbers._names.clear()  # as if in a fresh process
    sqlite_enum_numbers._cache.clear()
    async with Coordinator(topology(tmp_path, 2), catalog_refresh=None) as coord:
        # 3 + 1 + 2 + 2, as MariaDB answers for these rows (the test above)
        assert (await coord.execute("SELECT SUM(size) FROM e")).rows == [(8,)]
