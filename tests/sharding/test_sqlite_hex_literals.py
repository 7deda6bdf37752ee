"""``0x..`` and ``X'..'`` literals on SQLite shards, against MariaDB
(:mod:`sharding.backend.sqlite_hex_literals`).

MySQL reads ``0x10`` as the number 16 in numeric context and as a string against a
text column; ``X'..'`` is a string everywhere, compared with a text column under the
column's collation. Was: every such literal a SQLite blob, so ``id = 0x10`` found
nothing, ``0x10 + 0`` was 0 and ``name = X'414C504841'`` ignored the collation (the
fidelity suite's hex/bit class run on the embedded default).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.sharding.mariadb_reference import (
    reference_database,
    same_rows,
    same_writes,
    sqlite_twin,
)

DDL = (
    "CREATE TABLE t (id INT PRIMARY KEY, v INT, big BIGINT UNSIGNED, name VARCHAR(10), "
    "d DECIMAL(6,2), f DOUBLE, b VARBINARY(5))"
)
ROWS = (
    "INSERT INTO t VALUES (16, 1, 255, 'beta', 16, 16, 'a'), (17, 2, 4096, 'alpha', 2.5, 2.5, 'b'),"
    " (18, 3, 1, 'ALPHA', 3, 3, 'c'), (14, 14, 0, 'x', 14, 14, 'A'), (233, 0, 7, 'é', 0, 0, '')"
)
QUERIES = [
    "SELECT id FROM t WHERE id = 0x10",
    "SELECT id FROM t WHERE 0x10 = id",
    "SELECT id FROM t WHERE id IN (0x10, 17, b'10010') ORDER BY id",
    "SELECT id FROM t WHERE id = 0b10100 OR id = 0x11 ORDER BY id",
    "SELECT id FROM t WHERE id BETWEEN 0x0e AND b'10010' ORDER BY id",
    "SELECT id FROM t WHERE id > 0xe ORDER BY id",
    "SELECT id FROM t WHERE id >= 0xe9 ORDER BY id",
    "SELECT id FROM t WHERE v = 0x01 OR big = 0xff ORDER BY id",
    "SELECT id FROM t WHERE big < 0x1000 ORDER BY id",
    "SELECT id FROM t WHERE d = 0x10 ORDER BY id",
    "SELECT id FROM t WHERE f = 0x10 ORDER BY id",
    "SELECT id FROM t WHERE name IN (X'414c504841', 0x62657461) ORDER BY id",
    "SELECT id FROM t WHERE name = X'616C706861' ORDER BY id",
    "SELECT id FROM t WHERE name = 0x62657461 ORDER BY id",
    "SELECT id FROM t WHERE b = X'62' ORDER BY id",
    "SELECT id FROM t WHERE b = 0x41 ORDER BY id",
    "SELECT id, v + 0x10, id * 0x2, 0x10 + 0, 0x0f - 1 FROM t ORDER BY id",
    "SELECT 0x41, X'41', 0xe, HEX(0x0e), 0x10 + 0",
]
WRITES = [
    "UPDATE t SET v = 9 WHERE id IN (0x11, 0x12)",
    "UPDATE t SET v = v + 0x10 WHERE id = 0x10",
    "DELETE FROM t WHERE id = 0x0e",
    "DELETE FROM t WHERE name = X'414C504841'",
]


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_hex_literals_as_mariadb(tmp_path: Path, shards: int) -> None:
    with reference_database("sghexlit", DDL, ROWS) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, shards=shards) as s:
                await same_rows(s, cur, QUERIES)
                await same_writes(s, cur, WRITES, ["SELECT id, v, name FROM t ORDER BY id"])

        trio.run(main)
