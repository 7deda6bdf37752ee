"""UPDATE forms ORMs write, on SQLite shards, against MariaDB. Was: ``UPDATE o SET
o.qty = 1 …`` (a qualified SET column) was SQLite's syntax error (1105) on the
embedded default, also with an alias and with ORDER BY … LIMIT over several shards."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.sharding.mariadb_reference import reference_database, same_writes, sqlite_twin

DDL = "CREATE TABLE o (id BIGINT PRIMARY KEY, qty INT, note VARCHAR(10))"
ROWS = "INSERT INTO o VALUES (1, 1, 'a'), (2, 5, 'b'), (3, 6, 'c'), (4, 7, 'd'), (5, 8, 'e')"
WRITES = [
    "UPDATE o SET o.qty = 10 WHERE o.id = 1",
    "UPDATE o AS x SET x.qty = 2, x.note = 'x' WHERE x.id = 2",
    "UPDATE o x SET x.qty = 1 WHERE x.qty > 5 ORDER BY x.id LIMIT 2",
    "UPDATE o SET o.qty = o.qty + 1, note = CONCAT(o.note, '!') WHERE o.id > 3",
    "UPDATE o SET `o`.`note` = 'q' WHERE id IN (1, 5)",
]


@pytest.mark.mysql
@pytest.mark.parametrize("shards", [1, 4])
def test_update_forms_as_mariadb(tmp_path: Path, shards: int) -> None:
    with reference_database("sgupdforms", DDL, ROWS) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL, ROWS, shards=shards) as s:
                await same_writes(s, cur, WRITES, ["SELECT id, qty, note FROM o ORDER BY id"])

        trio.run(main)
