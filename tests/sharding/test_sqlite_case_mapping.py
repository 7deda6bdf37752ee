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
