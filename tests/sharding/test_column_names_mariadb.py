"""Unknown and ambiguous column names answer as MariaDB 10.11 does: the error names the
clause (``Unknown column 'x' in 'WHERE'``, ``Column 'id' in ORDER BY is ambiguous``),
and a bare name of ORDER BY, GROUP BY or HAVING that an unaliased select item is
(``SELECT t.id FROM t JOIN u … ORDER BY id``) is that item — not ambiguous between
the tables, as it was here.

Each statement runs on a 4-shard coordinator (SQLite shards, tiny chunks) and on one
MariaDB database holding the same rows; errors (code and message) or rows compare.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pymysql
import pytest

from sharding import Coordinator, Topology
from sharding.errors import ShardgateError
from tests.conftest import mariadb_reference

pytestmark = pytest.mark.mysql

SETUP = [
    "CREATE TABLE t (id INT PRIMARY KEY, c VARCHAR(10), n INT)",
    "CREATE TABLE u (id INT PRIMARY KEY, tid INT, s VARCHAR(10))",
    "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 2), (4, 'd', NULL)",
    "INSERT INTO u VALUES (10, 1, 'x'), (11, 2, 'y'), (12, 2, 'z'), (13, 9, 'w')",
]

STATEMENTS = [
    "SELECT nope FROM t",
    "SELECT SUM(nope) FROM t",
    "SELECT id FROM t WHERE nope = 1",
    "SELECT id FROM t WHERE id = 1 AND nope = 2",
    "SELECT id FROM t ORDER BY nope",
    "SELECT id FROM t GROUP BY nope",
    "SELECT id FROM t HAVING nope > 1",
    "SELECT t.id FROM t JOIN u ON nope = 1",
    "SELECT t.nope FROM t WHERE id = 1",
    "SELECT id FROM t WHERE t.nope = 1",
    "SELECT x.id FROM t",
    "INSERT INTO t (id, nope) VALUES (1, 2)",
    "UPDATE t SET nope = 1",
    "UPDATE t SET n = nope",
    "UPDATE t SET n = 1 WHERE nope = 2",
    "DELETE FROM t WHERE nope = 1",
    "SELECT id FROM t JOIN u ON u.tid = t.id",
    "SELECT t.id FROM t JOIN u ON u.tid = t.id WHERE id = 1",
    "SELECT t.id, u.id FROM t JOIN u ON u.tid = t.id ORDER BY id",
    "SELECT t.id FROM t JOIN u ON u.tid = t.id ORDER BY id + 1",
    "SELECT t.id AS k FROM t JOIN u ON u.tid = t.id ORDER BY id",
    # A select item's name: not ambiguous.
    "SELECT t.id FROM t JOIN u ON u.tid = t.id ORDER BY id",
    "SELECT t.id FROM t JOIN u ON u.tid = t.id ORDER BY id DESC LIMIT 2",
    "SELECT (t.id) FROM t JOIN u ON u.tid = t.id ORDER BY id DESC",
    "SELECT t.id FROM t JOIN u ON u.tid = t.id GROUP BY id ORDER BY 1",
    "SELECT u.id, COUNT(*) FROM t JOIN u ON u.tid = t.id GROUP BY id ORDER BY id",
    "SELECT t.id, COUNT(*) FROM t JOIN u ON u.tid = t.id GROUP BY id HAVING id > 1 ORDER BY 1",
    "SELECT t.id FROM t JOIN u ON u.tid = t.id WHERE t.id = 2 ORDER BY id",
]


@pytest.fixture
async def c(small_topology: Topology) -> AsyncIterator[Coordinator]:
    async with Coordinator(small_topology, catalog_refresh=None) as coord:
        for sql in SETUP:
            await coord.execute(sql)
        yield coord


def _sorted(rows: Any, sql: str) -> Any:
    rows = [tuple(r) for r in rows]
    return rows if "ORDER BY" in sql else sorted(rows, key=repr)


async def test_column_names_answer_as_mariadb(c: Coordinator) -> None:
    got: list[Any] = []
    for sql in STATEMENTS:
        s = c.open_session(database="db")
        try:
            result = await s.execute(sql)
            got.append(("rows", _sorted(result.rows or [], sql)))
        except ShardgateError as exc:
            got.append(("error", exc.code, str(exc)))
        finally:
            await s.close()
    with mariadb_reference("sgcolnames") as ref:
        with ref.cursor() as cur:
            for sql in SETUP:
                cur.execute(sql)
        want: list[Any] = []
        for sql in STATEMENTS:
            ref.begin()
            try:
                with ref.cursor() as cur:
                    cur.execute(sql)
                    want.append(("rows", _sorted(cur.fetchall(), sql)))
            except pymysql.err.MySQLError as exc:
                want.append(("error", exc.args[0], exc.args[1]))
            finally:
                ref.rollback()
    differences = [(sql, w, g) for sql, w, g in zip(STATEMENTS, want, got, strict=True) if w != g]
    for sql, w, g in differences:
        print(f"{sql}\n  MariaDB   {w}\n  shardgate {g}")
    assert not differences
    assert sum(1 for w in want if w[0] == "error") >= 18
