"""MySQL's binary strings on SQLite shards (:mod:`sharding.backend.sqlite_binary_store`).

VARBINARY and the BLOB types hold SQLite BLOBs, the bytes MySQL stores. Each statement
runs on the SQLite default and on unsharded MariaDB: the same rows (``bytes``), the
same affected rows. (Was: values stored as TEXT — ``UPPER(vb)`` changed a binary
string, ``vb LIKE 'a%'`` ignored case, ``VARBINARY`` read ``'0123'`` back as 123,
``ORDER BY`` put ``''`` after the numbers, ``CHAR_LENGTH`` counted characters.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from sharding import Coordinator, Topology
from tests.sharding.mariadb_reference import (
    reference_database,
    same_rows,
    same_writes,
    sqlite_twin,
)

DDL = (
    "CREATE TABLE t (id INT PRIMARY KEY, vb VARBINARY(20), b BLOB, tb TINYBLOB, "
    "mb MEDIUMBLOB, lb LONGBLOB, s VARCHAR(20), n INT, d VARBINARY(8) DEFAULT 'dé')"
)
ROWS = (
    "INSERT INTO t (id, vb, b, tb, mb, lb, s, n) VALUES "
    "(1, 'abc', 'abc', 'abc', 'abc', 'abc', 'abc', 1), (2, 'ABC', 'ABC', 'ABC', 'ABC', 'ABC', 'ABC', 2),"
    " (3, 'abc ', 'abc ', 'abc ', 'abc ', 'abc ', 'abc ', 3),"
    " (4, '0123', '0123', '0123', '0123', '0123', '0123', 123),"
    " (5, 'é', 'é', 'é', 'é', 'é', 'é', 5), (6, X'FF00', X'FF00', X'FF00', X'FF00', X'FF00', 'x', 6),"
    " (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL), (8, '1e3', '1e3', '1e3', '1e3', '1e3', '1e3', 8),"
    " (9, '', ' ', '', '', '', '', 9), (10, _binary'Ab', _binary 'aB', 'b', 'B', 'a', 'A', 10)"
)
QUERIES = [
    "SELECT id, vb, b, tb, mb, lb, d FROM t ORDER BY id",
    "SELECT id, UPPER(vb), LOWER(b), UCASE(tb), LCASE(mb) FROM t ORDER BY id",
    "SELECT id, LENGTH(vb), CHAR_LENGTH(vb), LENGTH(b), CHAR_LENGTH(b) FROM t ORDER BY id",
    "SELECT id, HEX(vb), HEX(b), HEX(lb) FROM t ORDER BY id",
    "SELECT id FROM t WHERE vb = 'abc' ORDER BY id",
    "SELECT id FROM t WHERE b = 'abc ' ORDER BY id",
    "SELECT id FROM t WHERE vb IN ('abc', 'AB', '') ORDER BY id",
    # a binary subquery value written into the outer statement (sql/materialize.py)
    "SELECT id FROM t WHERE vb IN (SELECT vb FROM t WHERE n < 5) ORDER BY id",
    "SELECT id FROM t WHERE b = (SELECT vb FROM t WHERE id = 6) ORDER BY id",
    "SELECT id FROM t WHERE vb BETWEEN 'A' AND 'b' ORDER BY id",
    "SELECT id FROM t WHERE vb > 'a' ORDER BY id",
    "SELECT id FROM t WHERE vb <=> 'ABC'",
    "SELECT id FROM t WHERE vb = X'FF00'",
    "SELECT id FROM t WHERE vb = 123 ORDER BY id",
    "SELECT id FROM t WHERE vb LIKE 'a%' ORDER BY id",
    "SELECT id FROM t WHERE b LIKE 'A%' ORDER BY id",
    "SELECT id FROM t WHERE UPPER(vb) = 'ABC' ORDER BY id",
    "SELECT id, vb = b, vb = s, vb = 'ABC' FROM t ORDER BY id",
    "SELECT id FROM t ORDER BY vb, id",
    "SELECT id FROM t ORDER BY b DESC, id",
    "SELECT id, vb FROM t ORDER BY vb DESC LIMIT 3",
    "SELECT vb, COUNT(*) FROM t GROUP BY vb ORDER BY vb",
    "SELECT DISTINCT tb FROM t ORDER BY tb",
    "SELECT COUNT(DISTINCT b) FROM t",
    "SELECT MIN(vb), MAX(vb), MIN(b), MAX(b) FROM t",
    "SELECT id, CONCAT(vb, 'x'), CONCAT(s, b) FROM t ORDER BY id",
    # (all operands NULL: MariaDB's '' is binary by the operands' types, not known here)
    "SELECT id, CONCAT_WS('-', s, vb) FROM t WHERE vb IS NOT NULL ORDER BY id",
    "SELECT id, UPPER(CONCAT(s, vb)), CHAR_LENGTH(CONCAT(vb, 'é')) FROM t ORDER BY id",
    "SELECT id, REVERSE(vb), SUBSTRING(b, 2), LEFT(vb, 1), RIGHT(b, 1) FROM t ORDER BY id",
    "SELECT id, LOCATE('b', vb), INSTR(b, 'B') FROM t ORDER BY id",
    "SELECT id, TRIM(vb), RTRIM(b), REPLACE(vb, 'b', 'z'), LPAD(vb, 5, '-') FROM t ORDER BY id",
    "SELECT id, REPEAT(vb, 2), MD5(vb), vb REGEXP 'A' FROM t ORDER BY id",
    "SELECT id, CAST(vb AS CHAR), CONVERT(b USING utf8mb4) FROM t WHERE id <> 6 ORDER BY id",
    "SELECT id, vb + 0, b + 1 FROM t WHERE id IN (1, 4, 8) ORDER BY id",
    "SELECT HEX(_binary'ab'), _binary'x' = 'X', X'41' = 'A', UPPER(CAST('ab' AS BINARY))",
]
WRITE_DDL = "CREATE TABLE w (id INT PRIMARY KEY, vb VARBINARY(8), b BLOB, s VARCHAR(8), n INT)"
WRITES = [
    "INSERT INTO w (id, vb, b, s, n) VALUES (1, 'abc', 'abc', 'abc', 5), (2, 'ABC', 'x', 'ABC', 6),"
    " (3, 123, 1.5, '7', 7), (4, 1e3, -2, 'é', 8)",
    "UPDATE w SET vb = 'abc' WHERE id = 1",  # the stored bytes: no change
    "UPDATE w SET vb = 'ABC' WHERE id = 1",
    "UPDATE w SET b = CONCAT(b, 'y') WHERE id IN (1, 2)",
    "UPDATE w SET vb = s WHERE id > 1",
    "UPDATE w SET vb = n WHERE id = 4",
    "INSERT INTO w (id, vb) VALUES (1, 'zz') ON DUPLICATE KEY UPDATE vb = 'ABC'",
    "INSERT INTO w (id, vb) VALUES (1, 'zz') ON DUPLICATE KEY UPDATE vb = 'abc'",
    "INSERT INTO w (id, vb) VALUES (5, X'00FF') ON DUPLICATE KEY UPDATE vb = VALUES(vb)",
    "REPLACE INTO w (id, vb, b) VALUES (2, 'r', _binary'q')",
    "INSERT INTO w (id, vb, b) SELECT id + 10, s, UPPER(s) FROM w WHERE id < 3",
    "UPDATE w SET b = 'x' WHERE vb = 'ABC'",
    "DELETE FROM w WHERE vb = 'abc'",
    "DELETE FROM w WHERE b LIKE 'X%'",
]
WRITE_QUERIES = ["SELECT id, vb, b, HEX(vb), HEX(b) FROM w ORDER BY id"]


@pytest.mark.mysql
def test_binary_strings_as_mariadb(tmp_path: Path) -> None:
    with reference_database("sgbinstore", DDL, ROWS, WRITE_DDL) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, WRITE_DDL) as s:
                await same_rows(s, cur, QUERIES)
                await same_writes(s, cur, WRITES, WRITE_QUERIES)
                # Bytes that are no UTF-8, as a prepared statement's parameters.
                sql = "INSERT INTO w (id, vb, b) VALUES ({}, {}, {})"
                cur.execute(sql.format("%s", "%s", "%s"), (90, b"\xff\x01a", b"\x00\xfe"))
                await s.execute(sql.format("?", "?", "?"), (90, b"\xff\x01a", b"\x00\xfe"))
                await same_rows(
                    s,
                    cur,
                    [
                        *WRITE_QUERIES,
                        "SELECT id FROM w WHERE vb = X'FF0161'",
                        "SELECT id, LENGTH(b), UPPER(vb) FROM w WHERE id = 90",
                    ],
                )

        trio.run(main)


@pytest.mark.mysql
@pytest.mark.slow  # 1024 shard files: ~75 s
def test_binary_strings_on_many_shards(tmp_path: Path) -> None:
    """1024 shards: the merge of every shard's BLOBs (ORDER BY, GROUP BY, MIN/MAX)
    orders bytes as MariaDB."""
    with reference_database("sgbinmany", DDL, ROWS) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            topo = Topology.default(tmp_path, default_shards=1024)
            async with Coordinator(topo, catalog_refresh=None) as coord:
                s = coord.open_session()
                await s.execute(f"CREATE DATABASE `{name}`")
                await s.execute(f"USE `{name}`")
                for sql in (DDL, ROWS):
                    await s.execute(sql)
                await same_rows(
                    s,
                    cur,
                    [
                        "SELECT id FROM t ORDER BY vb, id",
                        "SELECT vb, COUNT(*) FROM t GROUP BY vb ORDER BY vb",
                        "SELECT DISTINCT b FROM t ORDER BY b DESC",
                        "SELECT MIN(vb), MAX(b) FROM t",
                        "SELECT id FROM t WHERE vb = 'abc' OR b LIKE 'A%' ORDER BY id",
                    ],
                )

        trio.run(main)
