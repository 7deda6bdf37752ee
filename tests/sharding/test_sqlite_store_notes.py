"""MariaDB's note 1265 for values an INSERT stores rounded or cut, on SQLite shards
(:mod:`sharding.backend.sqlite_store_notes`), against MariaDB: the write's warning
count, ``SHOW WARNINGS`` and ``@@warning_count``. Was: the values were stored as
MariaDB stores them, silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from tests.sharding.mariadb_reference import reference_database, sqlite_twin

DDL = (
    "CREATE TABLE t (id INT PRIMARY KEY, d DECIMAL(10,1), s VARCHAR(3), c CHAR(3), e DECIMAL(8,3))"
)
WRITES = [
    "INSERT INTO t VALUES (1, 1.50, 'ab', 'ab', 1)",
    "INSERT INTO t VALUES (2, 1.25, 'ab ', 'ab  ', 2.5)",
    "INSERT INTO t VALUES (3, '1.25', 'abc ', 'abc ', 1.0005), (4, 1.25e0, 'a', 'a', 2),"
    " (5, -2.25, 'a  ', 'a', -0.0001)",
    "INSERT INTO t (id, s, d) VALUES (6, 'xy   ', 7), (7, 'q', 7.77), (8, 'r', 8)",
    "INSERT INTO t VALUES (9, 1.5e0, 'a', 'a', 1e-4)",
    "REPLACE INTO t VALUES (1, 9.99, 'z  ', 'z', 3.14159)",
    "INSERT INTO t VALUES (10, 3, 'ok', 'ok', 3)",
    "INSERT INTO t VALUES (11, 2, 'a', 'a', 1), (12, 3.14, 'b', 'b', 2), (13, 4, 'c', 'c', 3),"
    " (14, 5.55, 'd   ', 'd', 4), (15, 6, 'e', 'e', 5)",
]


DATE_DDL = "CREATE TABLE td (id INT PRIMARY KEY, d DATE, dt DATETIME)"
#: A DATE given a time of day other than midnight, by an INSERT or an UPDATE:
#: MariaDB's Note 1265 per row (found 2026-12-06: the SQLite default stored the date
#: silently).
DATE_WRITES = [
    "INSERT INTO td VALUES (1, '2024-01-02 00:00:00', NULL)",
    "INSERT INTO td VALUES (2, '2024-01-02 10:00:00', NULL), (3, '2024-01-03', NULL)",
    "INSERT INTO td VALUES (4, 20240105103000, NULL), (5, 20240105, '2024-01-02 10:00:00')",
    "INSERT INTO td VALUES (6, '2024-01-02T10:00', '2024-01-02'), (7, '2024-1-4 23:59:59', NULL)",
    "INSERT INTO td (id, d) VALUES (8, '2024-01-02 00:00:00.000'), (9, '2024-01-02 ')",
    "UPDATE td SET d = '2024-02-02 01:00:00' WHERE id = 1",
    "UPDATE td SET d = '2024-02-03 00:00:00' WHERE id = 2",
    "UPDATE td SET dt = '2024-02-03 10:00:00', d = 20240105103000 WHERE id >= 5",
    "UPDATE td SET d = d WHERE id < 3",
]


async def _same_notes(s: Any, cur: Any, writes: list[str], table: str) -> None:
    for w in writes:
        cur.execute(w)
        cur.execute("SHOW WARNINGS")
        want = [tuple(r) for r in cur.fetchall()]
        cur.execute("SELECT @@warning_count")
        (want_count,) = cur.fetchone()
        got = await s.execute(w)
        shown = await s.execute("SHOW WARNINGS")
        rows = [tuple(r) for r in shown.rows]
        assert rows == want, (w, rows, want)
        assert got.warnings == want_count == len(want), (w, got.warnings, want)
        count = await s.execute("SELECT @@warning_count")
        assert list(count.rows[0]) == [want_count], (w, count.rows)
    cur.execute(f"SELECT * FROM {table} ORDER BY id")
    want_rows = [tuple(r) for r in cur.fetchall()]
    got_rows = [tuple(r) for r in (await s.execute(f"SELECT * FROM {table} ORDER BY id")).rows]
    assert got_rows == want_rows


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_store_notes_as_mariadb(tmp_path: Path, shards: int) -> None:
    with reference_database("sgnotes", DDL) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, shards=shards) as s:
                await _same_notes(s, cur, WRITES, "t")

        trio.run(main)


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_a_date_given_a_time_of_day_notes_as_mariadb(tmp_path: Path, shards: int) -> None:
    with reference_database("sgnotesd", DATE_DDL) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DATE_DDL, shards=shards) as s:
                await _same_notes(s, cur, DATE_WRITES, "td")

        trio.run(main)
