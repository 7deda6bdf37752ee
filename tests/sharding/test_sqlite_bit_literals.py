"""``b'..'``, ``B'..'`` and ``0b..`` literals on SQLite shards, against MariaDB
(:func:`sharding.backend.sqlite_hex_literals.bit_literal`).

MySQL reads a bit literal as the binary string of its bits (``b'1000001'`` is ``'A'``,
``b''`` the empty string) that is a number in numeric context, as a ``0x..`` literal.
Was: sqlglot's SQLite rendering made it an integer everywhere (``SELECT b'1000001'``
gave 65, ``CONCAT(b'1000001', 'x')`` ``'65x'``, ``s = b'1000001'`` found nothing) and
``b''`` an internal error (1105).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.sharding.mariadb_reference import (
    reference_database,
    same_rows,
    same_typed_results,
    same_writes,
    sqlite_twin,
)

DDL = (
    "CREATE TABLE t (id INT PRIMARY KEY, n INT, u BIGINT UNSIGNED, d DECIMAL(8,2), "
    "s VARCHAR(10), vb VARBINARY(10))"
)
ROWS = (
    "INSERT INTO t VALUES (1, 5, 65, 5, 'A', 'A'), (2, 65, 5, 65, 'Ax', 'Ax'), "
    "(3, 0, 0, 0, '', ''), (4, 1, 1, 1, 'a', 'a'), (5, 7, 7, 7, '5', X'05')"
)
#: Select items: values and column definitions.
TYPED = [
    "SELECT b'1000001'",
    "SELECT B'101', 0b101, b'', b'0', b'000000000', b'1000001' AS a",
    "SELECT b'1000001' + 0, b'' + 0, b'101' - 1, b'101' * 2, b'111111111' + 0, b'101' * 1.5",
    "SELECT id, b'1000001', 0b1000010 AS b, n + b'1' FROM t ORDER BY id",
]
QUERIES = [
    "SELECT b'1000001' = 65, b'' = 0, b'' = '', b'1' = 1",
    "SELECT CONCAT(b'1000001', 'x'), LENGTH(b''), LENGTH(b'000000000'), HEX(b'')",
    "SELECT id FROM t WHERE n = b'101' ORDER BY id",
    "SELECT id FROM t WHERE b'101' = n ORDER BY id",
    "SELECT id FROM t WHERE n = 0b1000001 ORDER BY id",
    "SELECT id FROM t WHERE u = b'1000001' ORDER BY id",
    "SELECT id FROM t WHERE d = b'101' ORDER BY id",
    "SELECT id FROM t WHERE n > b'110' ORDER BY id",
    "SELECT id FROM t WHERE n IN (b'101', 0b1) ORDER BY id",
    "SELECT id FROM t WHERE n BETWEEN b'1' AND b'111' ORDER BY id",
    "SELECT id FROM t WHERE s = b'1000001' ORDER BY id",
    "SELECT id FROM t WHERE s = b'' ORDER BY id",
    "SELECT id FROM t WHERE s IN (b'1000001', B'0100000101111000') ORDER BY id",
    "SELECT id FROM t WHERE vb = b'1000001' ORDER BY id",
    "SELECT id FROM t WHERE vb = 0b101 ORDER BY id",
    "SELECT id FROM t WHERE vb = b'' ORDER BY id",
    "SELECT id FROM t WHERE CONCAT(b'1000001', 'x') = s ORDER BY id",
]
WRITES = [
    "INSERT INTO t (id, n, u, d, s, vb) VALUES "
    "(10, b'1000001', b'1000001', 0b101, b'1000001', b'1000001')",
    "INSERT INTO t VALUES (11, b'101', 0b1, b'', b'', b'')",
    "INSERT INTO t (id, s, vb) VALUES (12, b'0100000101111000', 0b01000010)",
    "UPDATE t SET n = b'1000010', s = b'1000010', vb = b'1000010', d = b'1000010', "
    "u = 0b11 WHERE id = 10",
    "UPDATE t SET n = n + b'1' WHERE id = b'1010'",
    "UPDATE t SET s = b'', vb = b'' WHERE id = 12",
    "DELETE FROM t WHERE s = b'1000001'",
    "DELETE FROM t WHERE n = 0b101",
]


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_bit_literal_values_and_definitions(tmp_path: Path, shards: int) -> None:
    same_typed_results(tmp_path, "sgbitlit_t", [DDL, ROWS], TYPED, shards=shards)


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_bit_literals_as_mariadb(tmp_path: Path, shards: int) -> None:
    with reference_database("sgbitlit", DDL, ROWS) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, shards=shards) as s:
                await same_rows(s, cur, QUERIES)
                await same_writes(s, cur, WRITES, ["SELECT * FROM t ORDER BY id"])

        trio.run(main)
