"""The embedded default's MySQL layer against a reference of MySQL's rules (issue 15).

These run everywhere (no server needed); ``test_sqlite_mysql_semantics.py`` compares
with MariaDB itself. The references:

* collations — the weight tables measured on MariaDB (:mod:`sharding.merge.
  mysql_collations`, the merge layer's keys): a comparison done *inside SQLite* by the
  registered collation must agree with the key order for random strings (hypothesis),
  and with MariaDB when one is reachable;
* DECIMAL — exact ``Decimal`` arithmetic in Python: ``SUM``/``AVG`` of DECIMAL(12,2)
  values must be the exact sum/quotient (as the nearest REAL: module doc of
  :mod:`sharding.backend.sqlite_mysql`), reads must carry the declared scale;
* behaviour through the coordinator — a case- or accent- or trailing-space-variant of a
  VARCHAR primary key is a duplicate (1062); unsupported functions are 1235 naming the
  function; ``7 / 2`` is ``Decimal('3.5000')``. Expected values marked "MariaDB:" were measured on
  MariaDB 10.11 (the same statements run against the server in the other file).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pymysql
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings

from sharding import Coordinator, Topology
from sharding.backend import sqlite_mysql
from sharding.errors import DuplicateKey, NotSupported, ShardgateError
from sharding.sql.rewrite import keep_backend_semantics
from tests.conftest import MYSQL_HOST, MYSQL_PORT

COLLATIONS = ["utf8mb4_general_ci", "utf8mb4_unicode_ci", "utf8mb4_bin", "utf8mb4_general_nopad_ci"]
ALPHABET = [
    "a",
    "A",
    "á",
    "Ä",
    "b",
    "B",
    "s",
    "ß",
    "S",
    "e",
    "é",
    "E",
    " ",
    "\t",
    "z",
    "Z",
    "ı",
    "İ",
    "i",
    "σ",
    "Σ",
    "ς",
    "0",
    "9",
]
TEXTS = st.lists(st.sampled_from(ALPHABET), max_size=5).map("".join)


@pytest.fixture(scope="module")
def layered() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:", detect_types=sqlite_mysql.DETECT_TYPES)
    sqlite_mysql.install(conn)
    yield conn
    conn.close()


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(a=TEXTS, b=TEXTS, collation=st.sampled_from(COLLATIONS))
def test_collation_in_sqlite_matches_reference_keys(
    layered: sqlite3.Connection, a: str, b: str, collation: str
) -> None:
    """A comparison inside SQLite (``=``, ``<``, and ORDER BY's) agrees with the keys the
    merge layer uses for the same collation."""
    key = sqlite_mysql.COLLATION_KEYS[collation]
    ka, kb = key(a), key(b)
    expected = 0 if ka == kb else (-1 if ka < kb else 1)
    eq, lt = layered.execute(
        f"SELECT ? = ? COLLATE {collation}, ? < ? COLLATE {collation}", (a, b, a, b)
    ).fetchone()
    assert (eq, lt) == (int(expected == 0), int(expected < 0)), (a, b, collation)


def _mariadb() -> Any:
    try:
        return pymysql.connect(
            host=MYSQL_HOST,
            port=MYSQL_PORT,
            user="root",
            password="",
            autocommit=True,
            connect_timeout=2,
        )
    except pymysql.MySQLError:
        return None


@pytest.mark.mysql
@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(
    pairs=st.lists(st.tuples(TEXTS, TEXTS), min_size=1, max_size=20),
    collation=st.sampled_from(COLLATIONS),
)
def test_collation_in_sqlite_matches_mariadb(
    layered: sqlite3.Connection, pairs: list[tuple[str, str]], collation: str
) -> None:
    conn = _mariadb()
    assert conn is not None, "MariaDB is not reachable"
    try:
        with conn.cursor() as cur:
            for a, b in pairs:
                cur.execute(
                    f"SELECT _utf8mb4 %s COLLATE {collation} = _utf8mb4 %s, _utf8mb4 %s COLLATE {collation} < _utf8mb4 %s",
                    (a, b, a, b),
                )
                theirs = tuple(int(v) for v in cur.fetchone())
                ours = layered.execute(
                    f"SELECT ? = ? COLLATE {collation}, ? < ? COLLATE {collation}", (a, b, a, b)
                ).fetchone()
                assert ours == theirs, (a, b, collation)
    finally:
        conn.close()


# ---------------------------------------------------------------------- DECIMAL
AMOUNTS = st.decimals(
    min_value=Decimal("-9999999999.99"),
    max_value=Decimal("9999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
#: Computed results travel as REALs (~15.9 significant digits, module doc of
#: sqlite_mysql): AVG/division of DECIMAL(9,2) values (scale 6, <= 14 digits) fit.
SMALL_AMOUNTS = st.decimals(
    min_value=Decimal("-9999999.99"),
    max_value=Decimal("9999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(values=st.lists(AMOUNTS, max_size=60))
def test_decimal_storage_and_sum_are_exact(
    layered: sqlite3.Connection, values: list[Decimal]
) -> None:
    layered.execute(f"CREATE TABLE IF NOT EXISTS dec_t (p {sqlite_mysql.decimal_type(12, 2)})")
    layered.execute("DELETE FROM dec_t")
    layered.executemany("INSERT INTO dec_t VALUES (?)", [(str(v),) for v in values])
    assert [r[0] for r in layered.execute("SELECT p FROM dec_t")] == values
    assert all(r[0].as_tuple().exponent == -2 for r in layered.execute("SELECT p FROM dec_t"))
    total, avg = layered.execute("SELECT SUM(p), AVG(p) FROM dec_t").fetchone()
    if not values:
        assert (total, avg) == (None, None)
        return
    exact = sum(values, Decimal(0))
    assert Decimal(repr(total)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) == exact
    assert total == float(exact)
    assert avg == float(exact / len(values))


#: A database of this test's own (prefix sglite_), dropped by :func:`_drop_scratch`.
SCRATCH = f"sglite_{os.getpid()}_scratch"


@pytest.fixture(scope="module", autouse=True)
def _drop_scratch() -> Iterator[None]:
    yield
    conn = _mariadb()
    if conn is not None:
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{SCRATCH}`")
        finally:
            conn.close()


@pytest.mark.mysql
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(values=st.lists(SMALL_AMOUNTS, min_size=1, max_size=40), divisor=st.integers(1, 9))
def test_decimal_arithmetic_matches_mariadb(
    layered: sqlite3.Connection, values: list[Decimal], divisor: int
) -> None:
    """SUM, MIN, MAX, and a division of DECIMAL(12,2) values: MariaDB's value (at its
    scale) equals ours."""
    conn = _mariadb()
    assert conn is not None, "MariaDB is not reachable"
    rows = ", ".join(f"({v})" for v in values)
    query = f"SELECT SUM(p), MIN(p), MAX(p), SUM(p) / {divisor}, AVG(p) FROM dec_m"
    try:
        with conn.cursor() as cur:
            # A temporary table: nothing to drop, gone with the connection.
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{SCRATCH}`")
            cur.execute(f"CREATE TEMPORARY TABLE `{SCRATCH}`.dec_m (p DECIMAL(12,2))")
            cur.execute(f"INSERT INTO `{SCRATCH}`.dec_m VALUES {rows}")
            cur.execute(query.replace("dec_m", f"`{SCRATCH}`.dec_m"))
            theirs = cur.fetchone()
    finally:
        conn.close()
    layered.execute(f"CREATE TABLE IF NOT EXISTS dec_m (p {sqlite_mysql.decimal_type(12, 2)})")
    layered.execute("DELETE FROM dec_m")
    layered.executemany("INSERT INTO dec_m VALUES (?)", [(str(v),) for v in values])
    tree = sqlglot.parse_one(query, read="mysql")
    keep_backend_semantics(tree, "sqlite")
    ours = layered.execute(tree.sql(dialect="sqlite")).fetchone()
    for mine, ref in zip(ours, theirs, strict=True):
        exponent = ref.as_tuple().exponent
        shown = Decimal(repr(mine) if isinstance(mine, float) else mine).quantize(
            Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP
        )
        assert shown == ref, (values, divisor, ours, theirs)


# ---------------------------------------------------------------------- coordinator
@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    topo = Topology.loads(f"""
[cluster]
database = "db"
default_shards = 16
chunk_rows = 2

[[datasources]]
name = "ds0"
path = "{tmp_path / "ds0"}"
""")
    async with Coordinator(topo, catalog_refresh=None) as c:
        yield c


@pytest.mark.parametrize("variant", ["ABC", "abc ", "Abc", "äbc", "ÁBC  "])
async def test_case_variant_primary_key_is_a_duplicate(coord: Coordinator, variant: str) -> None:
    # MariaDB: 'abc' = 'ABC' = 'abc ' = 'äbc' under utf8mb4_general_ci (PAD SPACE) → 1062.
    await coord.execute("CREATE TABLE k (code VARCHAR(10) PRIMARY KEY, v INT)")
    await coord.execute("INSERT INTO k VALUES ('abc', 1)")
    with pytest.raises(DuplicateKey) as info:
        await coord.execute(f"INSERT INTO k VALUES ('{variant}', 2)")
    assert info.value.code == 1062
    rows = (await coord.execute("SELECT code, v FROM k WHERE code = 'ABC'")).rows
    assert [tuple(r) for r in rows] == [("abc", 1)]


async def test_binary_collation_keeps_case_variants_apart(coord: Coordinator) -> None:
    # MariaDB: 'abc' <> 'ABC' but 'abc ' = 'abc' under utf8mb4_bin (PAD SPACE).
    await coord.execute(
        "CREATE TABLE kb (id INT PRIMARY KEY, code VARCHAR(10) COLLATE utf8mb4_bin, v INT, "
        "UNIQUE KEY (id, code))"
    )
    await coord.execute("INSERT INTO kb VALUES (1, 'abc', 1)")
    with pytest.raises(DuplicateKey):
        await coord.execute("INSERT INTO kb VALUES (1, 'abc ', 3)")
    await coord.execute(
        "CREATE TABLE kb2 (code VARCHAR(10) COLLATE utf8mb4_bin PRIMARY KEY, v INT)"
    )
    await coord.execute("INSERT INTO kb2 VALUES ('abc', 1), ('ABC', 2)")
    rows = (await coord.execute("SELECT v FROM kb2 WHERE code = 'abc'")).rows
    assert [tuple(r) for r in rows] == [(1,)]


async def test_unique_secondary_key_follows_collation(coord: Coordinator) -> None:
    await coord.execute(
        "CREATE TABLE u1 (id INT PRIMARY KEY, email VARCHAR(40), UNIQUE KEY (id, email))"
    )
    await coord.execute("INSERT INTO u1 VALUES (1, 'Bob@Example.com')")
    with pytest.raises(DuplicateKey):
        await coord.execute("INSERT INTO u1 VALUES (1, 'bob@example.COM')")


async def test_table_default_collation_applies_to_columns(coord: Coordinator) -> None:
    await coord.execute(
        "CREATE TABLE tc (id INT PRIMARY KEY, s VARCHAR(10)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )
    await coord.execute("INSERT INTO tc VALUES (1, 'a'), (2, 'A')")
    rows = (await coord.execute("SELECT id FROM tc WHERE s = 'a' ORDER BY id")).rows
    assert [tuple(r) for r in rows] == [(1,)]


async def test_unknown_collation_is_refused(coord: Coordinator) -> None:
    with pytest.raises(NotSupported, match="latin1_swedish_ci"):
        await coord.execute(
            "CREATE TABLE bad (id INT PRIMARY KEY, s VARCHAR(5) COLLATE latin1_swedish_ci)"
        )


async def test_wide_decimal_is_refused(coord: Coordinator) -> None:
    with pytest.raises(NotSupported, match=r"DECIMAL\(20,4\)"):
        await coord.execute("CREATE TABLE wide (id INT PRIMARY KEY, p DECIMAL(20,4))")


@pytest.mark.parametrize(
    "call, name", [("SOUNDEX_X(s)", "SOUNDEX_X"), ("JSON_NOPE(s, 1)", "JSON_NOPE")]
)
async def test_unknown_function_is_1235_naming_it(coord: Coordinator, call: str, name: str) -> None:
    await coord.execute("CREATE TABLE f (id INT PRIMARY KEY, s VARCHAR(10))")
    await coord.execute("INSERT INTO f VALUES (1, 'a')")
    with pytest.raises(NotSupported, match=name) as info:
        await coord.execute(f"SELECT {call} FROM f WHERE id = 1")
    assert info.value.code == 1235
    assert "no such function" not in str(info.value)


async def test_reads_and_functions(coord: Coordinator) -> None:
    import datetime

    await coord.execute(
        "CREATE TABLE r (id INT PRIMARY KEY, p DECIMAL(10,2), d DATE, dt DATETIME, ch CHAR(5), s VARCHAR(10))"
    )
    await coord.execute(
        "INSERT INTO r VALUES (1, 1.00, '2024-01-31', '2024-01-31 10:00:00', 'ab  ', 'Abc'), "
        "(2, 116902.25, NULL, NULL, NULL, NULL)"
    )
    got = [
        tuple(r) for r in (await coord.execute("SELECT id, p, d, dt, ch FROM r ORDER BY id")).rows
    ]
    assert got == [
        (
            1,
            Decimal("1.00"),
            datetime.date(2024, 1, 31),
            datetime.datetime(2024, 1, 31, 10, 0),
            "ab",
        ),
        (2, Decimal("116902.25"), None, None, None),
    ]
    assert str(got[0][1]) == "1.00"
    row = (
        await coord.execute(
            "SELECT 7 / 2, CONCAT(s, NULL), CONCAT_WS('-', s, NULL, 'x'), LENGTH('é'), CHAR_LENGTH('é'), "
            "LOCATE('B', s), s LIKE 'a%', 'a_b' LIKE 'a\\_b', TRUNCATE(0.63, 1), CAST(4006.66 AS SIGNED), "
            "DATE_FORMAT(dt, '%d/%m/%Y'), YEAR(d), DATE_ADD(d, INTERVAL 1 MONTH) FROM r WHERE id = 1"
        )
    ).rows[0]
    # MariaDB: 3.5000, NULL, 'Abc-x', 2, 1, 2, 1, 1, 0.6, 4007, '31/01/2024', 2024, 2024-02-29
    assert tuple(row) == (
        Decimal("3.5000"),
        None,
        "Abc-x",
        2,
        1,
        2,
        1,
        1,
        Decimal("0.6"),
        4007,
        "31/01/2024",
        2024,
        datetime.date(2024, 2, 29),  # a DATE column's DATE_ADD is a DATE, as in MariaDB
    )


@pytest.mark.parametrize(
    "call, code, words",
    [
        # MariaDB: 1139 for a bad regular expression; 1210 for a two-character ESCAPE.
        ("s REGEXP '('", 1139, "regexp"),
        ("s LIKE 'a' ESCAPE 'xy'", 1210, "ESCAPE"),
        ("WEEK(s, 3)", 1235, "WEEK"),
    ],
)
async def test_function_errors_keep_their_mysql_code(
    coord: Coordinator, call: str, code: int, words: str
) -> None:
    await coord.execute("CREATE TABLE fe (id INT PRIMARY KEY, s VARCHAR(20))")
    await coord.execute("INSERT INTO fe VALUES (1, '2024-01-01')")
    with pytest.raises(ShardgateError) as info:
        await coord.execute(f"SELECT {call} FROM fe WHERE id = 1")
    assert info.value.code == code
    assert words in str(info.value)


async def test_interval_function_searches_like_mariadb_or_refuses(coord: Coordinator) -> None:
    """``INTERVAL(N, …)`` on SQLite: MariaDB's scan (NULL bounds skipped) for any list it
    scans; a list of eight or more bounds is answered only where MariaDB's search by
    halves gives the same (ascending, no NULL), else refused (a function cannot tell
    constants, which MariaDB searches, from columns, which it scans)."""
    await coord.execute("CREATE TABLE iv (id INT PRIMARY KEY, n INT)")
    await coord.execute("INSERT INTO iv VALUES (1, 5), (2, NULL)")
    rows = (
        await coord.execute(
            "SELECT INTERVAL(n, 1, NULL, 7), INTERVAL(n, 10, 1, 2), "
            "INTERVAL(n, 1, 2, 3, 4, 5, 6, 7, 8) FROM iv ORDER BY id"
        )
    ).rows
    # MariaDB 10.11: 2, 0, 5 for n = 5 (a NULL bound keeps its position); -1 for NULL.
    assert rows == [(2, 0, 5), (-1, -1, -1)]
    with pytest.raises(NotSupported, match="INTERVAL"):
        await coord.execute("SELECT INTERVAL(n, 8, 7, 6, 5, 4, 3, 2, 1) FROM iv WHERE id = 1")
    with pytest.raises(NotSupported, match="INTERVAL"):
        await coord.execute("SELECT INTERVAL(n, 1, 2, 3, NULL, 5, 6, 7, 8) FROM iv WHERE id = 1")
