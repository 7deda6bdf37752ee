"""``UPPER``/``LOWER`` on SQLite shards map every letter as MySQL does (SQLite's own
change only ASCII letters: ``UPPER('é')`` stayed ``'é'``). Compared with MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.sharding.mariadb_reference import reference_database, same_rows, sqlite_twin

DDL = "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20), b VARBINARY(20))"
ROWS = (
    "INSERT INTO t VALUES (1, 'éa', 'éa'), (2, 'ÉA', 'x'), (3, 'straße', NULL), (4, NULL, NULL),"
    " (5, 'İxΣ', 'İ'), (6, 'ǆ ÿ œ', 'ab'), (7, 'ascii Mixed', 'Q'), (8, 'Éa', ''), (9, 'ea', ''),"
    " (10, 'EA ', ''), (11, 'zz', '')"
)
QUERIES = [
    "SELECT id, UPPER(s), LOWER(s), UCASE(s), LCASE(s) FROM t ORDER BY id",
    "SELECT id FROM t WHERE UPPER(s) = 'ÉA' ORDER BY id",
    "SELECT id FROM t WHERE LOWER(s) LIKE '%σ' ORDER BY id",
    "SELECT CONCAT(UPPER(s), '-', LOWER(s)) FROM t WHERE id = 6",
    # Groups and order of text expressions under the column's collation (general_ci:
    # 'éa', 'Éa', 'ÉA' and 'ea' are one group; SQLite grouped a function's result BINARY).
    "SELECT COUNT(*), MIN(id) FROM t GROUP BY CONCAT(s, '') ORDER BY MIN(id)",
    "SELECT COUNT(*), MIN(id) FROM t GROUP BY UPPER(s) ORDER BY 2",
    "SELECT MIN(id), COUNT(*) AS n FROM t GROUP BY TRIM(s) ORDER BY 1",
    "SELECT id FROM t ORDER BY LOWER(s), id",
    "SELECT id FROM t ORDER BY CONCAT(s, 'x') DESC, id",
    "SELECT LENGTH(s), COUNT(*) FROM t GROUP BY 1 ORDER BY 1",
]


@pytest.mark.mysql
def test_case_mapping_as_mariadb(tmp_path: Path) -> None:
    with reference_database("sgcasemap", DDL, ROWS) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS) as s:
                await same_rows(s, cur, QUERIES)

        trio.run(main)


# Which of several equal texts a group shows (sqlite_decimal_results._first_row_by_key):
# MariaDB the group's first row in primary-key order; rows inserted out of key order, so
# SQLite's insertion (rowid) order is not the key's.
GROUP_DDL = "CREATE TABLE g (id INT PRIMARY KEY, status VARCHAR(10), qty INT, v VARCHAR(5))"
GROUP_ROWS = (
    "INSERT INTO g VALUES (5, 'paid', 1, 'x'), (1, 'Paid', 5, 'y'), (9, 'paid ', 9, 'z'),"
    " (2, 'new', 1, 'a'), (13, 'PAID', 2, 'b'), (7, 'NEW', 4, 'c'), (3, 'Ünï', 2, 'd'),"
    " (11, 'ÜNÏ', 8, 'e'), (4, 'unï', 3, 'f'), (8, 'new ', 6, 'g'), (6, NULL, 1, NULL)"
)
GROUP_QUERIES = [
    "SELECT status, COUNT(*) FROM g GROUP BY status ORDER BY status",
    "SELECT status, COUNT(*) FROM g WHERE qty > 1 GROUP BY status ORDER BY status",
    "SELECT status, COUNT(*) FROM g WHERE id IN (5, 9, 13, 4, 11) GROUP BY status ORDER BY 1",
    "SELECT status, SUM(qty) s FROM g GROUP BY status HAVING s > 3 ORDER BY s",
    "SELECT status, qty, COUNT(*) FROM g GROUP BY status, qty ORDER BY status, qty",
    "SELECT UPPER(status) u, COUNT(*) FROM g GROUP BY u ORDER BY u",
    "SELECT status, MIN(id) FROM g GROUP BY status ORDER BY 2",
    "SELECT status, COUNT(*) FROM g WHERE id = 9 GROUP BY status",
]


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_a_text_group_shows_its_first_rows_value(tmp_path: Path, shards: int) -> None:
    with reference_database("sggroupv", GROUP_DDL, GROUP_ROWS) as (name, cur):
        cur.execute("SET NAMES utf8mb4")

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, GROUP_DDL, GROUP_ROWS, shards=shards) as s:
                await same_rows(s, cur, GROUP_QUERIES)

        trio.run(main)
