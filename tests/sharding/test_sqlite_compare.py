"""MySQL's comparison of an operand whose type only its value tells, on SQLite shards
(:mod:`sharding.backend.sqlite_compare`).

The answers themselves are measured against MariaDB in
``test_sqlite_mysql_semantics.py`` (class ``compare``); here: the run-time functions'
NULL logic and type rules, which statements are rewritten (and which keep their SQL),
and the write statements' 1235 where MySQL's strict mode errs or warns by the form.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from sharding import Coordinator, Topology
from sharding.backend import sqlite_arithmetic, sqlite_compare, sqlite_mysql
from sharding.errors import NotSupported, ShardgateError

GENERAL = "utf8mb4_general_ci"


def test_compare_types() -> None:
    compare = sqlite_compare.compare
    assert compare("=", GENERAL, 1, 5, "5x") == 1  # a string with a number: its prefix
    assert compare("=", GENERAL, 1, 0, "abc") == 1
    assert compare(">", GENERAL, 1, 4.5, "4.25abc") == 1
    assert compare("=", GENERAL, 1, "5", "5x") == 0  # two strings: as strings
    assert compare("=", GENERAL, 1, "APPLE", "apple ") == 1  # general_ci, PAD SPACE
    assert compare("=", "utf8mb4_bin", 1, "APPLE", "apple") == 0
    assert compare("<", GENERAL, 1, "a", "B") == 1
    assert compare("<>", GENERAL, 1, 7, 7.0) == 0


def test_compare_nulls() -> None:
    compare = sqlite_compare.compare
    assert compare("=", GENERAL, 1, None, "5x") is None
    assert compare("<", GENERAL, 1, 3, None) is None
    assert compare("<=>", GENERAL, 1, None, None) == 1
    assert compare("<=>", GENERAL, 1, None, "a") == 0
    assert compare("<=>", GENERAL, 1, "A", "a") == 1
    assert compare("IS NOT", GENERAL, 1, None, "a") == 1
    assert compare("IS NOT", GENERAL, 1, None, None) == 0


def test_in_and_between() -> None:
    in_list, between = sqlite_compare.in_list, sqlite_compare.between
    assert in_list(GENERAL, 1, 1, 5, "5x", "7") == 1
    assert in_list(GENERAL, 1, 1, 6, "5x", "7") == 0
    assert in_list(GENERAL, 1, 1, 6, "5x", None) is None
    assert in_list(GENERAL, 1, 1, None, "5x") is None
    # Constant elements of strings and numbers: everything compares as numbers.
    assert in_list(GENERAL, 1, 1, "abc", 5, "x") == 1
    assert in_list(GENERAL, 1, 0, "abc", 5, "x") == 0  # pair by pair
    assert between(GENERAL, 1, 4, "2x", 7) == 1
    assert between(GENERAL, 1, 1, "2x", 7) == 0
    assert between(GENERAL, 1, 4, None, 7) is None
    assert between(GENERAL, 1, 9, None, 7) == 0
    assert between(GENERAL, 1, "b", "A", "C") == 1


@pytest.fixture
def raw() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    sqlite_mysql.install(conn)
    conn.execute("ATTACH DATABASE ':memory:' AS db_0001")
    conn.execute(
        'CREATE TABLE db_0001.t (id INT PRIMARY KEY, s VARCHAR(10) COLLATE "utf8mb4_general_ci", '
        "b VARCHAR(10) COLLATE utf8mb4_bin, n INT, d DATE)"
    )
    sqlite_arithmetic.forget()
    yield conn
    conn.close()


def test_rewritten(raw: sqlite3.Connection) -> None:
    guard = sqlite_arithmetic.guard
    out = guard(raw, 'SELECT id FROM "db_0001"."t" AS t WHERE (t.n = (SELECT \'5x\')) AND 1')
    assert "sg_compare('=', 'utf8mb4_general_ci', 1, t.n, (SELECT '5x'))" in out
    out = guard(raw, "SELECT id FROM \"db_0001\".\"t\" AS t WHERE UPPER(t.b) NOT IN ('A', 'B')")
    assert "NOT sg_in('utf8mb4_bin', 1, 1, UPPER(t.b), 'A', 'B')" in out
    out = guard(raw, "SELECT id, TRIM(t.s) BETWEEN 'a' AND 'b' FROM \"db_0001\".\"t\" AS t")
    assert "sg_between('utf8mb4_general_ci', 0, TRIM(t.s), 'a', 'b')" in out
    # A function typed as a number: the string's number, as for a numeric column.
    out = guard(raw, 'SELECT id FROM "db_0001"."t" AS t WHERE ABS(t.n) = \'5x\'')
    assert "ABS(t.n) = sg_string_number('5x', 'DECIMAL')" in out
    for sql in (
        # Two column collations MySQL coerces (or refuses): 1235.
        'SELECT id FROM "db_0001"."t" AS t WHERE UPPER(t.s) = UPPER(t.b)',
        # COALESCE of a string and a number is a string in MySQL: 1235.
        'SELECT id FROM "db_0001"."t" AS t WHERE COALESCE(t.s, t.n) = \'5x\'',
    ):
        with pytest.raises(NotSupported):
            guard(raw, sql)


def test_typed_comparisons_keep_their_sql(raw: sqlite3.Connection) -> None:
    guard = sqlite_arithmetic.guard
    for sql in (
        'SELECT id FROM "db_0001"."t" AS t WHERE YEAR(t.d) = 2024',
        'SELECT id FROM "db_0001"."t" AS t WHERE LENGTH(t.s) > t.n',
        'SELECT COUNT(*) FROM "db_0001"."t" AS t HAVING COUNT(*) > 2',
        'SELECT id FROM "db_0001"."t" AS t WHERE t.s = \'a\' AND t.n = 5',
        # A date compared with a date function: left as it was (temporal).
        'SELECT id FROM "db_0001"."t" AS t WHERE t.d = DATE(\'2024-01-01\')',
    ):
        assert guard(raw, sql) == sql


def test_row_values_are_not_parsed(
    raw: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyset continuation's row value is no call: no parse."""

    def parsed(sql: str, decls: object) -> str:
        raise AssertionError(f"parsed: {sql}")

    monkeypatch.setattr(sqlite_arithmetic, "_guard", parsed)
    for sql in (
        'SELECT id FROM "db_0001"."t" WHERE ("id", "n") > (5, 7) ORDER BY 1',
        'SELECT id FROM "db_0001"."t" WHERE ("id" = 5) AND 1',
        'SELECT id FROM "db_0001"."t" WHERE (("id", "n") > (5, 7)) AND ("n" = 3)',
    ):
        assert sqlite_arithmetic.guard(raw, sql) == sql


def _topology(path: Path) -> Topology:
    return Topology.loads(f"""
[cluster]
database = "db"
default_shards = 4

[[datasources]]
name = "ds0"
path = "{path}"
""")


def test_writes_refuse_a_string_that_is_no_number(tmp_path: Path) -> None:
    """In an UPDATE or an INSERT … SELECT's condition MySQL's strict mode errs or only
    warns by the form: a 1235; a DELETE (the prefix) and a clean number are answered."""

    async def main() -> None:
        async with Coordinator(_topology(tmp_path), catalog_refresh=None) as coord:
            await coord.execute("CREATE TABLE w (id INT PRIMARY KEY, n INT, s VARCHAR(10))")
            await coord.execute("INSERT INTO w VALUES (1, 5, 'a'), (2, 7, 'b'), (3, NULL, 'c')")
            for sql in (
                "UPDATE w SET s = 'q' WHERE n = (SELECT '5x')",
                "UPDATE w SET s = 'q' WHERE COALESCE(n, 0) IN ('5x', '7')",
                "INSERT INTO w SELECT id + 10, n, s FROM w WHERE COALESCE(n, 0) = '5x'",
            ):
                with pytest.raises(ShardgateError) as info:
                    await coord.execute(sql)
                assert info.value.code == 1235, sql
            # Answered (the values: test_sqlite_mysql_semantics' WRITES, against MariaDB).
            await coord.execute("UPDATE w SET s = 'q' WHERE COALESCE(n, 0) = '7'")
            await coord.execute("DELETE FROM w WHERE COALESCE(n, 0) = '5x'")

    trio.run(main)
