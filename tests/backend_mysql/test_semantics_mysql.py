"""The MySQL semantics table (sharding.merge.semantics.MYSQL) measured against MariaDB.

What the coordinator computes itself — merge order, grouping, arithmetic over merged
aggregates, AVG from SUM and COUNT — is compared here with what the server computes
for the same values, case by case:

* the shipped collation weight tables are re-measured on the live server;
* sorting and grouping tricky strings (case, accents, ß, PAD SPACE, control and
  supplementary characters) under three collations gives the server's order and groups;
* ``+ - * / DIV %`` and unary minus over integers, DECIMALs of several scales, DOUBLEs
  and strings, alone and chained (``(a / b) * c``: the hidden digits of a quotient),
  give the server's value *and* type; AVG of integer/decimal/double columns too.
"""

from __future__ import annotations

import base64
import lzma
import random
from decimal import Decimal
from typing import Any

import pymysql
import pytest

from sharding.errors import BackendError
from sharding.merge import mysql_collation_data
from sharding.merge.semantics import MYSQL, SortItem
from sharding.sql.literals import render_literal
from tests.backend_mysql.collations import MEASURED, connect, measure

pytestmark = pytest.mark.mysql


@pytest.fixture(scope="module")
def conn() -> Any:
    c = connect()
    yield c
    c.close()


def server(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_weight_tables_match_the_server(conn: Any, name: str) -> None:
    shipped = lzma.decompress(base64.b85decode("".join(getattr(mysql_collation_data, name))))
    assert measure(conn, MEASURED[name]) == shipped, (
        f"{MEASURED[name]} weighs differently on this server: regenerate with "
        "python -m tests.backend_mysql.collations"
    )


TRICKY = [
    "a",
    "A",
    "a ",
    "a  ",
    "a\t",
    "a\x00",
    "á",
    "Ä",
    "ä",
    "æ",
    "b",
    "B ",
    "ß",
    "s",
    "ss",
    "SS",
    "ſ",
    "Straße",
    "STRASSE",
    "\U0001f600",
    "\U00010000",
    "\ufffd",
    "",
    " ",
    "ı",
    "İ",
    "i",
    "I",
    "Σ",
    "σ",
    "ς",
    "é",
    "e\u0301",
    "E",
    "ŉ",
    "ǆ",
    "Ǆ",
    "ǅ",
    "x\x01",
    "x",
    "x ",
    "0",
    "10",
    "9",
    "½",
    "①",
    "Ⅳ",
    "ﬁ",
    "fi",
    "Å",
    "Å",
    "ø",
    "Ø",
    "ü",
    "ue",
    "ÿ",
    "Ÿ",
    "ǘ",
    "Ω",
    "Ω",
    "ω",
    "ж",
    "Ж",
    "中",
    "日本",
]


def random_strings(rng: random.Random, n: int) -> list[str]:
    pool = [c for c in "".join(TRICKY) if c not in "\x00"] + [
        chr(rng.randrange(0x20, 0xFFFF)) for _ in range(300)
    ]
    pool = [c for c in pool if not 0xD800 <= ord(c) <= 0xDFFF]
    return [
        "".join(rng.choice(pool) for _ in range(rng.randrange(0, 4))) + rng.choice(["", " ", "  "])
        for _ in range(n)
    ]


@pytest.mark.parametrize(
    "collation",
    [
        "utf8mb4_general_ci",
        "utf8mb4_unicode_ci",
        "utf8mb4_bin",
        "utf8mb4_general_nopad_ci",
        "utf8mb4_nopad_bin",
    ],
)
def test_sort_and_group_like_the_server(conn: Any, collation: str) -> None:
    rng = random.Random(collation)
    values = TRICKY + random_strings(rng, 400)
    if "nopad" in collation:
        # MariaDB disagrees with itself here: under NO PAD, ORDER BY (filesort pads its
        # keys with zero weights) ties 'a\x00' with 'a' while '=' and GROUP BY's group
        # breaks do not, so its groups depend on the sort's tie order. The coordinator
        # orders like ORDER BY and groups like '=' (mysql_collations.NoPadKey).
        values = [v for v in values if not v.endswith("\x00")]
    server(conn, "CREATE DATABASE IF NOT EXISTS sgtest_semantics CHARACTER SET utf8mb4")
    server(conn, "DROP TABLE IF EXISTS sgtest_semantics.s")
    server(
        conn,
        f"CREATE TABLE sgtest_semantics.s (id INT PRIMARY KEY, v VARCHAR(20) COLLATE {collation})",
    )
    try:
        rows = ", ".join(f"({i}, {render_literal(v, 'mysql')})" for i, v in enumerate(values))
        server(conn, f"INSERT INTO sgtest_semantics.s VALUES {rows}")
        # Read back: the server may normalise nothing, but compare what it stored.
        stored = dict(server(conn, "SELECT id, v FROM sgtest_semantics.s"))
        key = MYSQL.collation(collation)
        want_order = [
            r[0] for r in server(conn, "SELECT id FROM sgtest_semantics.s ORDER BY v, id")
        ]
        got_order = sorted(stored, key=lambda i: (key(stored[i]), i))
        assert got_order == want_order
        want_desc = [
            r[0] for r in server(conn, "SELECT id FROM sgtest_semantics.s ORDER BY v DESC, id")
        ]
        desc_key = MYSQL.sort_key([SortItem(0, desc=True, collation=collation), SortItem(1)])
        assert sorted(((stored[i], i) for i in stored), key=desc_key) == [
            (stored[i], i) for i in want_desc
        ]
        groups = server(
            conn, "SELECT GROUP_CONCAT(id ORDER BY id) FROM sgtest_semantics.s GROUP BY v"
        )
        want_groups = sorted(tuple(int(x) for x in str(g[0]).split(",")) for g in groups)
        by_key: dict[Any, list[int]] = {}
        for i in sorted(stored):
            by_key.setdefault(MYSQL.group_key(stored[i], key), []).append(i)
        assert sorted(tuple(v) for v in by_key.values()) == want_groups
    finally:
        server(conn, "DROP DATABASE IF EXISTS sgtest_semantics")


OPERANDS: list[Any] = [
    0,
    1,
    -1,
    7,
    -7,
    3,
    1000003,
    9223372036854775806,
    Decimal("0.5"),
    Decimal("-2.25"),
    Decimal("12.50"),
    Decimal("3"),
    Decimal("0.001"),
    Decimal("-7.125"),
    2.5,
    -0.75,
    3.0,
    1e-3,
    "3x",
    " 7",
    "abc",
    "-2.5",
    "",
]
OPS = {
    "+": MYSQL.add,
    "-": MYSQL.sub,
    "*": MYSQL.mul,
    "/": MYSQL.div,
    "DIV": MYSQL.intdiv,
    "%": MYSQL.mod,
}


def lit(v: Any) -> str:
    if isinstance(v, float):
        return f"({v!r}e0)" if "e" not in repr(v) else f"({v!r})"
    if isinstance(v, Decimal):
        # A literal without a fraction would be an integer: cast to keep it a DECIMAL.
        return f"({v})" if "." in str(v) else f"CAST({v} AS DECIMAL(30, 0))"
    return f"({render_literal(v, 'mysql')})"


def tagged(v: Any) -> tuple[str, Any]:
    return ("decimal" if isinstance(v, Decimal) else type(v).__name__, v)


def test_arithmetic_like_the_server(conn: Any) -> None:
    rng = random.Random(7)
    cases: list[tuple[str, Any]] = []
    for a in OPERANDS:
        for b in OPERANDS:
            for op, fn in OPS.items():
                cases.append((f"{lit(a)} {op} {lit(b)}", lambda fn=fn, a=a, b=b: fn(a, b)))
        cases.append((f"-{lit(a)}", lambda a=a: MYSQL.neg(a)))
    # Chains: the quotient's hidden digits show in what follows.
    numbers = [v for v in OPERANDS if not isinstance(v, str) and v != 0]
    for _ in range(300):
        a, b, c = (rng.choice(numbers) for _ in range(3))
        op1, op2 = rng.choice(["/", "*", "+", "-"]), rng.choice(["*", "+", "-", "/"])
        cases.append(
            (
                f"({lit(a)} {op1} {lit(b)}) {op2} {lit(c)}",
                lambda a=a, b=b, c=c, op1=op1, op2=op2: OPS[op2](OPS[op1](a, b), c),
            )
        )
    mismatches = []
    computed: list[tuple[str, Any]] = []
    overflows = 0
    for sql, fn in cases:
        try:
            computed.append((sql, fn()))
        except BackendError as exc:
            # Out of BIGINT/DOUBLE range: the server must refuse it too, same code.
            assert exc.code == 1690, (sql, exc)
            with pytest.raises(pymysql.err.OperationalError, match="out of range"):
                server(conn, f"SELECT {sql}")
            overflows += 1
    for start in range(0, len(computed), 200):
        chunk = computed[start : start + 200]
        got_row = server(conn, "SELECT " + ", ".join(sql for sql, _ in chunk))[0]
        for (sql, mine), want in zip(chunk, got_row, strict=True):
            if tagged(mine) != tagged(want):
                mismatches.append(f"{sql}: server {want!r}, coordinator {mine!r}")
    assert not mismatches, f"{len(mismatches)} of {len(cases)}:\n" + "\n".join(mismatches[:20])
    assert overflows >= 3 and len(computed) > 3000


def test_avg_and_sum_like_the_server(conn: Any) -> None:
    rng = random.Random(11)
    server(conn, "CREATE DATABASE IF NOT EXISTS sgtest_semantics CHARACTER SET utf8mb4")
    server(conn, "DROP TABLE IF EXISTS sgtest_semantics.n")
    server(conn, "CREATE TABLE sgtest_semantics.n (g INT, i INT, d DECIMAL(12,3), f DOUBLE)")
    try:
        rows = []
        for _ in range(400):
            rows.append(
                (
                    rng.randrange(40),
                    rng.randrange(-999, 999),
                    Decimal(rng.randrange(-99999, 99999)) / 1000,
                    rng.randrange(-800, 800) / 8,
                )
            )
        server(
            conn,
            "INSERT INTO sgtest_semantics.n VALUES "
            + ", ".join(f"({g}, {i}, {d}, {f!r}e0)" for g, i, d, f in rows),
        )
        want = server(
            conn,
            "SELECT g, AVG(i), AVG(d), AVG(f), SUM(i), SUM(d), SUM(f), AVG(i) * 3, "
            "SUM(i) / COUNT(*), SUM(d) / 7 FROM sgtest_semantics.n GROUP BY g ORDER BY g",
        )
        by_group: dict[int, list[tuple[Any, ...]]] = {}
        for r in rows:
            by_group.setdefault(r[0], []).append(r)
        for w in want:
            members = by_group[w[0]]
            n = len(members)
            si = sum(Decimal(r[1]) for r in members)
            sd = sum(r[2] for r in members)
            sf = sum(r[3] for r in members)
            mine = (
                w[0],
                MYSQL.avg(si, n),
                MYSQL.avg(sd, n),
                MYSQL.avg(sf, n),
                MYSQL.sum_result(si, True),
                MYSQL.sum_result(sd, True),
                MYSQL.sum_result(sf, True),
                MYSQL.mul(MYSQL.avg(si, n), 3),
                MYSQL.div(si, n),
                MYSQL.div(sd, 7),
            )
            assert [tagged(v) for v in mine] == [tagged(v) for v in w], (w, mine)
    finally:
        server(conn, "DROP DATABASE IF EXISTS sgtest_semantics")
