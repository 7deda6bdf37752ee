"""MariaDB's JSON columns on SQLite shards (:mod:`sharding.backend.sqlite_json_store`).

Each write runs on the SQLite default (4 shards) and on unsharded MariaDB: a value
MariaDB's ``json_valid`` refuses is 4025 ``CONSTRAINT `t.j` failed for `db`.`t``` on
both (by INSERT, UPDATE, upsert and REPLACE; after RENAME and ALTER TABLE … ADD too,
with the table's new name), what it accepts is stored as written. (Was: any text was
stored, and ``' 1 '``, ``'1e2'`` came back as the numbers 1 and 100.) The validator
itself is compared with MariaDB's ``JSON_VALID`` on its edge cases and on generated
texts.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio

from sharding.backend.sqlite_json_store import mariadb_json_valid
from tests.sharding.mariadb_reference import (
    mysql_connect,
    reference_database,
    same_errors,
    same_rows,
    same_writes,
    sqlite_twin,
    value_writes,
)

pytestmark = pytest.mark.mysql

DDL = "CREATE TABLE t (id INT PRIMARY KEY, j JSON, s VARCHAR(3), n INT)"


def _deep(depth: int) -> str:
    return f"CONCAT(REPEAT('[', {depth}), REPEAT(']', {depth}))"


WRITES = [
    "INSERT INTO t (id, j) VALUES (1, 'null'), (2, ' 1 '), (3, '{\"a\":1,\"a\":2}'), "
    "(4, '1.'), (5, '\"\\\\x\"'), (6, '1e2'), (7, NULL), (8, '[-]')",
    f"INSERT INTO t (id, j) VALUES (9, {_deep(31)}), (10, 7), (11, '\\n[1, {{\"k\" : true}}]\\r')",
    "UPDATE t SET j = '\"\\\\ud83d\\\\ude00\"' WHERE id = 1",
    "UPDATE t SET j = NULL WHERE id = 2",
    "INSERT INTO t (id, j) VALUES (3, '[]') ON DUPLICATE KEY UPDATE j = '{\"b\": [1.5e+3, -0]}'",
    "REPLACE INTO t (id, j) VALUES (4, '-0')",
]
QUERIES = ["SELECT id, j, HEX(j), j IS NULL FROM t ORDER BY id"]
INVALID = [
    ("j", "''"),
    ("j", "'[1,]'"),
    ("j", "'NaN'"),
    ("j", "'TRUE'"),
    ("j", "'01'"),
    ("j", "'.5'"),
    ("j", "'-'"),
    ("j", "'\"\\\\ud800\"'"),
    ("j", "'\"a\\tb\"'"),
    ("j", "'[1] x'"),
    ("j", _deep(32)),
    ("j", _deep(1000)),
]


def test_json_columns_as_mariadb(tmp_path: Path) -> None:
    with reference_database("sgjsonstore", DDL) as (name, cur):

        async def main() -> None:
            async with sqlite_twin(tmp_path, name, DDL) as s:
                await same_writes(s, cur, WRITES, QUERIES)
                await same_errors(s, cur, value_writes(INVALID), code=4025)
                await same_errors(
                    s,
                    cur,
                    [
                        "INSERT INTO t (id, j) VALUES (20, '[1]'), (21, '['), (22, '[2]')",
                        "REPLACE INTO t (id, j) VALUES (1, '{')",
                        "UPDATE t SET j = CONCAT(j, ',') WHERE id < 5",
                    ],
                    code=4025,
                )
                # A value too long for another column of the row: MariaDB's 1406 first.
                await same_errors(
                    s, cur, ["INSERT INTO t (id, j, s) VALUES (30, '[', 'abcd')"], code=1406
                )
                await same_rows(s, cur, QUERIES, after="the refused writes")
                # The message names the table as it is now; an added column is checked.
                for sql in ("RENAME TABLE t TO t2", "ALTER TABLE t2 ADD COLUMN k JSON"):
                    cur.execute(sql)
                    await s.execute(sql)
                await same_errors(
                    s,
                    cur,
                    [
                        "INSERT INTO t2 (id, j) VALUES (50, '[')",
                        "UPDATE t2 SET k = '{' WHERE id = 1",
                        "INSERT INTO t2 (id, k) VALUES (1, NULL) ON DUPLICATE KEY UPDATE k = 'x'",
                    ],
                    code=4025,
                )
                await same_writes(
                    s,
                    cur,
                    ["INSERT INTO t2 (id, k) VALUES (40, '{\"x\": null}')"],
                    ["SELECT id, j, k FROM t2 ORDER BY id"],
                )

        trio.run(main)


#: MariaDB's quirks and the RFC's rules, one text each (module doc of the store).
EDGE_CASES = [
    "",
    " ",
    "null",
    " 1 ",
    "[1,]",
    '{"a":1,"a":2}',
    "NaN",
    "Infinity",
    "-Infinity",
    "true",
    "TRUE",
    "1.",
    "1.e5",
    "1.e",
    "1e",
    "1e ",
    "[1e]",
    "1e+-1",
    "0e ",
    "-",
    "- ",
    "[-]",
    "-.5",
    ".5",
    "01",
    "-0",
    "+1",
    "1 2",
    '"\\x"',
    '"\\U0041"',
    '"\\u12"',
    '"\\ud800"',
    '"\\udc00"',
    '"\\ud83d\\ude00"',
    '"\\ud83d\\u0041"',
    '"a\tb"',
    '"\x7f"',
    '{"\t":1}',
    '{"a\t":1}',
    '{" a" : 1}',
    "\x0c1",
    "\r\n[1]\t",
    "[1] x",
    "[" * 31 + "]" * 31,
    "[" * 32 + "]" * 32,
    '{"a":' * 31 + "1" + "}" * 31,
    '{"a":' * 32 + "1" + "}" * 32,
    "é",
    '"é"',
    "[1é]",
]
_PIECES = [
    "[", "]", "{", "}", ",", ":", '"', "\\", "u", "d8", "dc", "00", "1", "0", "-", "+",
    ".", "e", " ", "\t", "\n", "\x01", "a", "true", "null", '"k"', "\\ud83d", "\\ude00",
]  # fmt: skip


def _generated(count: int) -> list[str]:
    rng = random.Random(15)
    out = []
    for _ in range(count):
        out.append("".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 9))))
    return out


def test_validator_is_mariadbs_json_valid() -> None:
    texts = list(dict.fromkeys(EDGE_CASES + _generated(4000)))
    conn = mysql_connect()
    try:
        with conn.cursor() as cur:
            for start in range(0, len(texts), 500):
                chunk = texts[start : start + 500]
                cur.execute("SELECT " + ", ".join(["JSON_VALID(%s)"] * len(chunk)), chunk)
                want = cur.fetchone()
                got = tuple(mariadb_json_valid(t) for t in chunk)
                wrong = [(t, w) for t, w, g in zip(chunk, want, got, strict=True) if w != g]
                assert not wrong, wrong[:10]
    finally:
        conn.close()
    assert mariadb_json_valid(None) is None
    assert mariadb_json_valid(12) == mariadb_json_valid(1.5) == 1
