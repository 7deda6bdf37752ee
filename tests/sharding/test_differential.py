"""Differential tests (issue 3, acceptance 1): the same data in one plain SQLite
database and in a 16- and a 1024-shard SQLite topology; every query of the corpus —
hand-written (:mod:`corpus`) plus hypothesis-generated — must return identical rows
(in order when its ORDER BY is total, as a multiset otherwise) and the same column
count, with the backend's own value types (AVG of integers a scale-4 Decimal, NULL order...).

The reference is one *unsharded* SQLite database carrying the same MySQL layer as the
shards (issue 15, :mod:`sharding.backend.sqlite_mysql`): text columns declared with
``utf8mb4_general_ci``, MySQL's functions registered, and each statement translated for
SQLite the way the coordinator translates shard statements (``7 / 2`` is 3.5, not 3),
and its computed numbers typed as the shards type them (``a / 3``, ``SUM(a)``, ``AVG(a)``
of INT columns are MySQL's ``Decimal``, :mod:`sharding.backend.sqlite_decimal_results`).
What this file checks is that sharding changes nothing; whether the embedded default
answers like MySQL is checked against MariaDB in ``test_sqlite_mysql_semantics.py``.
"""

from __future__ import annotations

import math
import re
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings

from sharding import Coordinator
from sharding.backend import sqlite_decimal_results, sqlite_mysql
from sharding.sql.rewrite import keep_backend_semantics
from tests.sharding import dataset
from tests.sharding.conftest import Dataset
from tests.sharding.corpus import CORPUS

HYPOTHESIS_EXAMPLES = 100


def _sortable(row: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for v in row:
        if v is None:
            out.append((0,))
        elif isinstance(v, int | float | Decimal):
            out.append((1, v))
        elif isinstance(v, str):
            out.append((2, v))
        else:
            out.append((3, repr(v)))
    return out


def _typed(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with each value tagged by type, so 1 and 1.0 count as different (a DECIMAL
    the coordinator computed may be a ``Decimal`` subclass carrying inner digits)."""
    return [
        tuple(("Decimal" if isinstance(v, Decimal) else type(v).__name__, v) for v in r)
        for r in rows
    ]


def _nan_free(rows: list[tuple[Any, ...]]) -> None:
    for r in rows:
        for v in r:
            assert not (isinstance(v, float) and math.isnan(v))


def oracle_connection(ds: Dataset) -> sqlite3.Connection:
    """The unsharded reference with the shards' MySQL layer (module doc), built once
    per dataset next to it."""
    path = ds.root / "oracle_mysql_layer.sqlite"
    if not path.exists():
        _build_layered_oracle(path, ds.data)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, detect_types=sqlite_mysql.DETECT_TYPES)
    sqlite_mysql.install(conn)
    return conn


def _build_layered_oracle(path: Path, data: dict[str, list[tuple[Any, ...]]]) -> None:
    tmp = path.with_suffix(".tmp")
    conn = sqlite3.connect(tmp)
    sqlite_mysql.install(conn)
    for name, ddl in dataset.TABLES_DDL.items():
        conn.execute(re.sub(r"(VARCHAR\(\d+\))", r"\1 COLLATE utf8mb4_general_ci", ddl))
        rows = data[name]
        if rows:
            conn.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    conn.commit()
    conn.close()
    tmp.rename(path)


def for_oracle(sql: str) -> str:
    """``sql`` translated for SQLite as the coordinator translates shard statements."""
    tree = sqlglot.parse_one(sql, read="mysql")
    keep_backend_semantics(tree, "sqlite")
    return tree.sql(dialect="sqlite")


async def check(
    coord: Coordinator, ds: Dataset, sql: str, params: tuple[Any, ...], mode: str
) -> None:
    oracle = oracle_connection(ds)
    try:
        translated = for_oracle(sql)
        cur = oracle.execute(translated, params)
        expected = cur.fetchall()
        expected_width = len(cur.description or ())
        # The shards' result typing too: MySQL's DECIMAL of ``a / 3``, ``SUM(a)``, ``AVG(a)``.
        how = sqlite_decimal_results.plan(oracle, translated)
        if how is not None:
            expected = sqlite_decimal_results.convert(expected, how)
    finally:
        oracle.close()
    result = await coord.execute(sql, list(params) if params else None)
    got = [tuple(r) for r in result.rows]
    assert result.columns is not None, sql
    assert len(result.columns) == expected_width, (sql, result.columns)
    _nan_free(got)
    if mode == "bag":
        got = sorted(got, key=_sortable)
        expected = sorted(expected, key=_sortable)
    if _typed(got) == _typed(expected):
        return
    # Under a case-insensitive collation a GROUP BY / DISTINCT / MIN / MAX value is *some*
    # member of its group (whichever row the engine met first): rows that differ only
    # there are equal under the collation's key; nothing else is allowed to differ.
    got_c, expected_c = _collated(got), _collated(expected)
    if mode == "bag":
        got_c.sort(key=repr)
        expected_c.sort(key=repr)
    assert _typed(got_c) == _typed(expected_c), (
        f"{sql} {params}\n got={got[:8]}\nwant={expected[:8]}"
    )


_GENERAL_CI = sqlite_mysql.COLLATION_KEYS["utf8mb4_general_ci"]


def _collated(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(("ci", _GENERAL_CI(v)) if isinstance(v, str) else v for v in r) for r in rows]


@pytest.mark.parametrize("sql, params, mode", CORPUS, ids=[c[0][:70] for c in CORPUS])
async def test_corpus_16(
    coord16: Coordinator, dataset16: Dataset, sql: str, params: tuple[Any, ...], mode: str
) -> None:
    await check(coord16, dataset16, sql, params, mode)


@pytest.mark.slow  # 1024 shards: ~4 min alone (run by .ci/run after make test)
@pytest.mark.timeout(900)  # hit the 300 s default under load (it measured 246 s alone)
async def test_corpus_1024(dataset1024: Dataset) -> None:
    """The whole hand-written corpus on 1024 shards (one coordinator, one test: the
    per-test setup of 1024 connections would dominate otherwise)."""
    failures = []
    async with Coordinator(dataset1024.topology(), catalog_refresh=None) as coord:
        for sql, params, mode in CORPUS:
            try:
                await check(coord, dataset1024, sql, params, mode)
            except AssertionError as exc:
                failures.append(str(exc)[:500])
    assert not failures, "\n\n".join(failures)


# ---------------------------------------------------------------------- hypothesis
NUMERIC = {"id": (0, 402), "k": (-1, 42), "a": (-55, 55), "c": (-101, 101), "d": (-1, 6)}
TEXT = ["apple", "Apple", "banana", "cherry", "cherry ", "", "x", "Zed", "zz"]


@st.composite
def predicate(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(
        st.sampled_from(
            ["cmp", "cmp", "null", "in", "between", "text"]
            + (["and", "or", "not"] if depth < 2 else [])
        )
    )
    if kind in ("and", "or"):
        return f"({draw(predicate(depth + 1))} {kind.upper()} {draw(predicate(depth + 1))})"
    if kind == "not":
        return f"NOT ({draw(predicate(depth + 1))})"
    col = draw(st.sampled_from(sorted(NUMERIC)))
    lo, hi = NUMERIC[col]
    if kind == "cmp":
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        value: Any = (
            draw(st.integers(lo, hi)) if col != "c" else draw(st.integers(lo * 4, hi * 4)) / 4
        )
        return f"{col} {op} {value}"
    if kind == "null":
        return f"{draw(st.sampled_from(['k', 'a', 'b', 'c']))} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if kind == "in":
        values = draw(st.lists(st.integers(lo, hi), min_size=1, max_size=4))
        return f"{col} IN ({', '.join(map(str, values))})"
    if kind == "between":
        a, b = sorted(draw(st.lists(st.integers(lo, hi), min_size=2, max_size=2)))
        return f"{col} BETWEEN {a} AND {b}"
    op = draw(st.sampled_from(["=", "<", ">", "<>"]))
    return f"b {op} '{draw(st.sampled_from(TEXT))}'"


@st.composite
def query(draw: st.DrawFn) -> tuple[str, str]:
    shape = draw(st.sampled_from(["rows", "rows", "group", "scalar", "join", "distinct"]))
    where = f" WHERE {draw(predicate())}" if draw(st.booleans()) else ""
    if shape == "rows":
        cols = draw(
            st.lists(
                st.sampled_from(["id", "k", "a", "b", "c", "d", "a * 2", "a / 3", "d - k"]),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        order = draw(
            st.lists(st.sampled_from(["k", "a", "b", "c", "d", "a + d"]), max_size=3, unique=True)
        )
        dirs = [f"{o}{draw(st.sampled_from(['', ' DESC']))}" for o in order]
        limit = ""
        if draw(st.booleans()):
            limit = f" LIMIT {draw(st.integers(0, 30))}"
            if draw(st.booleans()):
                limit += f" OFFSET {draw(st.integers(0, 380))}"
        tie = draw(st.sampled_from(["id", "id DESC"]))
        return (
            f"SELECT {', '.join(cols)} FROM t{where} ORDER BY {', '.join([*dirs, tie])}{limit}",
            "ordered",
        )
    aggs = draw(
        st.lists(
            st.sampled_from(
                [
                    "COUNT(*)",
                    "COUNT(a)",
                    "SUM(a)",
                    "MIN(b)",
                    "MAX(c)",
                    "AVG(a)",
                    "AVG(c)",
                    "COUNT(DISTINCT d)",
                    "SUM(c)",
                    "MIN(a)",
                    "TOTAL(a)",
                ]
            ),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    if shape == "scalar":
        return f"SELECT {', '.join(aggs)} FROM t{where}", "ordered"
    if shape == "group":
        groups = draw(
            st.lists(st.sampled_from(["k", "b", "d", "a % 4"]), min_size=1, max_size=2, unique=True)
        )
        having = ""
        if draw(st.booleans()):
            having = f" HAVING COUNT(*) {draw(st.sampled_from(['>', '<', '>=']))} {draw(st.integers(0, 12))}"
        desc = draw(st.sampled_from(["", " DESC"]))
        order = ", ".join(f"{g}{desc}" for g in groups)
        limit = f" LIMIT {draw(st.integers(1, 10))}" if draw(st.booleans()) else ""
        return (
            f"SELECT {', '.join(groups)}, {', '.join(aggs)} FROM t{where} GROUP BY {', '.join(groups)}{having} ORDER BY {order}{limit}",
            "ordered",
        )
    if shape == "distinct":
        col = draw(st.sampled_from(["k", "b", "d", "a % 3"]))
        return f"SELECT DISTINCT {col} FROM t{where} ORDER BY 1", "ordered"
    side = draw(st.sampled_from(["", "LEFT "]))
    tw = where.replace(" k ", " t.k ").replace("(k ", "(t.k ")
    qualified = tw
    for col in ("id", "k", "a", "b", "c", "d"):
        qualified = _qualify(qualified, col)
    limit = f" LIMIT {draw(st.integers(1, 25))}" if draw(st.booleans()) else ""
    return (
        f"SELECT t.id, u.uid, u.x FROM t {side}JOIN u ON t.k = u.k{qualified} ORDER BY t.id, u.uid{limit}",
        "ordered",
    )


def _qualify(text: str, col: str) -> str:
    import re

    return re.sub(rf"(?<![\w.']){col}(?![\w'])", f"t.{col}", text)


def generated_queries() -> list[tuple[str, str]]:
    """The hypothesis-generated part of the corpus (deterministic: derandomized).

    Hypothesis draws the queries; they run in one trio test per topology (pytest-trio
    would otherwise re-enter the coordinator fixture for every example)."""
    queries: list[tuple[str, str]] = []

    @settings(
        max_examples=HYPOTHESIS_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(q=query())
    def collect(q: tuple[str, str]) -> None:
        queries.append(q)

    collect()
    return queries


async def _run_generated(coord: Coordinator, ds: Dataset) -> None:
    queries = generated_queries()
    assert len(queries) >= HYPOTHESIS_EXAMPLES - 5
    failures = []
    for sql, mode in queries:
        try:
            await check(coord, ds, sql, (), mode)
        except AssertionError as exc:
            failures.append(str(exc)[:500])
    assert not failures, f"{len(failures)} of {len(queries)} failed:\n\n" + "\n\n".join(
        failures[:10]
    )


async def test_generated_16(coord16: Coordinator, dataset16: Dataset) -> None:
    await _run_generated(coord16, dataset16)


@pytest.mark.slow  # 1024 shards: ~2 min each (run by .ci/run after make test)
@pytest.mark.timeout(900)  # 300 s default hit under make test-slow's two workers (268 s alone)
async def test_generated_1024(dataset1024: Dataset) -> None:
    async with Coordinator(dataset1024.topology(), catalog_refresh=None) as coord:
        await _run_generated(coord, dataset1024)


def test_corpus_size() -> None:
    """Acceptance 1 asks for at least 200 queries per topology."""
    assert len(CORPUS) + len(generated_queries()) >= 200
