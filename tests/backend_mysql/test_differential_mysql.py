"""The coordinator's differential corpus on MariaDB (issue 4, acceptance 1).

The same data lives in one plain MariaDB database — the *oracle*: MySQL semantics are
whatever MariaDB itself answers — and in two sharded topologies:

* 1024 shards, each a database on the shared server (127.0.0.1:3306);
* 16 shards over two servers: the shared one and a private ``mariadbd`` started and
  stopped by the tests (``tests/mysqld.py``).

Every query of the corpus — the hand-written one of the SQLite differential tests
(:mod:`tests.sharding.corpus`), the hypothesis-generated one, and :data:`MYSQL_CORPUS`
(DECIMAL scales, ``DIV``, string/number comparison, case- and accent-insensitive
collations with PAD SPACE, three collations side by side) — must give the oracle's rows
with the oracle's Python types (``Decimal`` vs ``float`` vs ``int``), in order when the
ORDER BY is total. Where MariaDB answers differently from SQLite (``7 / 2`` is 3.5000,
``AVG`` is a DECIMAL, ``'apple' = 'Apple'``), MariaDB is the reference; where MariaDB
rejects a query (``TOTAL()`` is SQLite's), the coordinator must reject it too, with the
same error code. Nothing is skipped.

One legitimate freedom is allowed for and nothing else: under a case-insensitive
collation a GROUP BY / DISTINCT / MIN / MAX value is *some* member of its group
(``'apple'`` or ``'Apple'``), whichever the server met first. Rows that differ only
there compare equal under the collation's key; everything else is compared exactly.

Data is loaded with the coordinator's own DDL and multi-row INSERTs; every database this
module creates is dropped at the end (and leftovers of a killed run, recognised by a
dead pid in their name, at the start).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pymysql
import pytest
import structlog
import trio

from sharding import Coordinator, Topology
from sharding.backend.mysql import MySQLDataSource
from sharding.errors import ShardgateError
from sharding.merge.semantics import MYSQL
from sharding.sql.literals import render_literal
from tests.backend_mysql.conftest import make_ds
from tests.conftest import MYSQL_URL
from tests.mysqld import PrivateMariaDB
from tests.sharding import dataset
from tests.sharding.corpus import BAG, CORPUS, ORD
from tests.sharding.test_differential import generated_queries

pytestmark = pytest.mark.mysql

PREFIX = "sgdm"
PID = os.getpid()

# A table of text and numbers that SQLite and MariaDB treat differently.
W_DDL = (
    "CREATE TABLE w (id INT PRIMARY KEY, s VARCHAR(20), us VARCHAR(20) COLLATE utf8mb4_unicode_ci, "
    "bs VARCHAR(20) COLLATE utf8mb4_bin, p DECIMAL(10,2), f DOUBLE)"
)
W_TEXT = [
    "a",
    "A",
    "a ",
    "a\t",
    "á",
    "Ä",
    "ä",
    "b",
    "B ",
    "ß",
    "s",
    "ss",
    "SS",
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
    "e",
    "E",
    "z",
    "Zed",
    "zed",
    "cherry",
    "cherry ",
    "x\x01",
    "x",
    "x ",
    "0",
    "10",
    "9",
]


def w_rows() -> list[tuple[Any, ...]]:
    rows = []
    for i in range(1, 241):
        text = W_TEXT[(i * 7) % len(W_TEXT)]
        p = None if i % 11 == 0 else Decimal(f"{(i * 37) % 2000 - 1000}.{(i * 13) % 100:02d}")
        f = None if i % 13 == 0 else ((i * 29) % 400 - 200) / 8
        rows.append((i, text, W_TEXT[(i * 5) % len(W_TEXT)], W_TEXT[(i * 3) % len(W_TEXT)], p, f))
    return rows


#: Queries about MySQL's own semantics (types, scales, DIV, collations); mode as CORPUS.
MYSQL_CORPUS: list[tuple[str, tuple[Any, ...], str]] = [
    (
        "SELECT k, SUM(a) DIV COUNT(*), SUM(a) / COUNT(*), AVG(a) * 2, AVG(a) + 0.5 FROM t GROUP BY k ORDER BY k",
        (),
        ORD,
    ),
    ("SELECT d, AVG(c), AVG(a), SUM(c) / 3, SUM(a) / 7 / 3 FROM t GROUP BY d ORDER BY d", (), ORD),
    ("SELECT k, AVG(a) FROM t GROUP BY k ORDER BY AVG(a), k", (), ORD),
    ("SELECT k, AVG(a) FROM t GROUP BY k HAVING AVG(a) > 2.5 ORDER BY k", (), ORD),
    (
        "SELECT k, SUM(a) % 7, SUM(c) % 7, -SUM(a), MAX(a) DIV 4 FROM t GROUP BY k ORDER BY k",
        (),
        ORD,
    ),
    ("SELECT id, a DIV 3, a / 3, a % 3, c DIV 2, c / 2 FROM t ORDER BY id", (), ORD),
    ("SELECT id FROM t WHERE b = 'APPLE' ORDER BY id", (), ORD),
    ("SELECT id FROM t WHERE b = 'cherry' ORDER BY id", (), ORD),
    ("SELECT id FROM t WHERE id = '7abc'", (), ORD),
    ("SELECT COUNT(*), SUM(a), AVG(a), AVG(c), SUM(DISTINCT d), AVG(DISTINCT d) FROM t", (), ORD),
    (
        "SELECT t.d, SUM(u.x), AVG(u.x), SUM(t.c) FROM t JOIN u ON t.k = u.k GROUP BY t.d ORDER BY t.d",
        (),
        ORD,
    ),
    (
        "SELECT t.id, u.uid, t.a / u.x, t.a DIV u.x FROM t JOIN u ON t.k = u.k WHERE t.id < 40 ORDER BY 1, 2",
        (),
        ORD,
    ),
    ("SELECT s, COUNT(*) FROM w GROUP BY s ORDER BY s", (), ORD),
    ("SELECT id, s FROM w ORDER BY s, id", (), ORD),
    ("SELECT id, s FROM w ORDER BY s DESC, id", (), ORD),
    ("SELECT DISTINCT s FROM w ORDER BY s", (), ORD),
    (
        "SELECT COUNT(DISTINCT s), COUNT(DISTINCT bs), MIN(s), MAX(s), MIN(bs), MAX(bs) FROM w",
        (),
        ORD,
    ),
    ("SELECT COUNT(DISTINCT us), MIN(us), MAX(us) FROM w", (), ORD),
    ("SELECT us, COUNT(*), MIN(id) FROM w GROUP BY us ORDER BY us", (), ORD),
    ("SELECT id, us FROM w ORDER BY us, id", (), ORD),
    ("SELECT bs, COUNT(*) FROM w GROUP BY bs ORDER BY bs", (), ORD),
    ("SELECT id, bs FROM w ORDER BY bs DESC, id", (), ORD),
    ("SELECT id, s, us FROM w WHERE s = 'A' AND us = 'a' ORDER BY id", (), ORD),
    ("SELECT s, SUM(p), AVG(p), AVG(f), MIN(p), MAX(f) FROM w GROUP BY s ORDER BY s", (), ORD),
    ("SELECT SUM(p), AVG(p), SUM(f), AVG(f), SUM(p) / 3, AVG(p) * 3 FROM w", (), ORD),
    ("SELECT id, p, f FROM w ORDER BY p, id LIMIT 20", (), ORD),
    ("SELECT id, p FROM w ORDER BY p DESC, id LIMIT 15 OFFSET 100", (), ORD),
    ("SELECT s, COUNT(*) FROM w GROUP BY s HAVING s > 'b' ORDER BY s", (), ORD),
    ("SELECT s FROM w WHERE s < 'a' GROUP BY s", (), BAG),
]


@pytest.fixture(autouse=True, scope="module")
def _quiet_statement_logs() -> Iterator[None]:
    """One event per statement: useful in production, thousands of lines here."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**saved)


# ---------------------------------------------------------------------- naming
def _pid_alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _run_sql(url: str, statements: Sequence[str], *, workers: int = 8) -> None:
    """Run independent statements over ``workers`` connections (blocking)."""
    if not statements:
        return
    from sharding.backend.url import parse_mysql_url

    u = parse_mysql_url(url)

    def run(part: Sequence[str]) -> None:
        conn = pymysql.connect(
            host=u.host, port=u.port, user=u.user, password=u.password, autocommit=True
        )
        try:
            with conn.cursor() as cur:
                for stmt in part:
                    cur.execute(stmt)
        finally:
            conn.close()

    n = max(1, min(workers, len(statements)))
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(run, [statements[i::n] for i in range(n)]))


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    from sharding.backend.url import parse_mysql_url

    u = parse_mysql_url(url)
    conn = pymysql.connect(
        host=u.host, port=u.port, user=u.user, password=u.password, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def _drop_stale(url: str) -> None:
    """Drop databases (and catalog rows) a killed run of this module left behind."""
    names = [r[0] for r in _query(url, f"SHOW DATABASES LIKE '{PREFIX}%'")]
    stale = [
        n
        for n in names
        if (m := re.match(rf"{PREFIX}(\d+)_", n)) and not _pid_alive(int(m.group(1)))
    ]
    _run_sql(url, [f"DROP DATABASE IF EXISTS `{n}`" for n in stale])
    try:
        rows = _query(
            url, f"SELECT name FROM shardgate_catalog.`databases` WHERE name LIKE '{PREFIX}%'"
        )
    except pymysql.MySQLError:
        return
    dead = [
        r[0]
        for r in rows
        if (m := re.match(rf"{PREFIX}(\d+)_", r[0])) and not _pid_alive(int(m.group(1)))
    ]
    for name in dead:
        for table, col in (("databases", "name"), ("tables", "db"), ("autoinc", "db")):
            try:
                _run_sql(
                    url,
                    [f"DELETE FROM shardgate_catalog.`{table}` WHERE {col} = '{name}'"],
                    workers=1,
                )
            except pymysql.MySQLError:
                pass  # the catalog's layout changed: the leftover rows are harmless


# ---------------------------------------------------------------------- datasets
@dataclass
class MySQLDataset:
    database: str  # logical database of the sharded copy
    text: str  # topology TOML
    oracle_url: str  # the unsharded copy (URL with its database)

    def topology(self) -> Topology:
        return Topology.loads(self.text)


def topology_text(database: str, shards: int, servers: Sequence[tuple[str, str]]) -> str:
    sources = "".join(
        f'\n[[datasources]]\nname = "{name}"\nkind = "mysql"\nurl = "{url}"\nmax_connections = 16\n'
        for name, url in servers
    )
    return f"""
[cluster]
database = "{database}"
default_shards = {shards}
chunk_rows = 64
merge_budget_rows = 16384

[executor]
buckets = 2
slots_per_bucket = 8
window = 16
{sources}"""


def all_data() -> dict[str, list[tuple[Any, ...]]]:
    data = dataset.generate()
    data["w"] = w_rows()
    return data


def build_oracle(name: str, data: dict[str, list[tuple[Any, ...]]]) -> None:
    statements = [f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`"]
    _run_sql(MYSQL_URL, statements, workers=1)
    ddl = {**dataset.TABLES_DDL, "w": W_DDL}
    inserts = []
    for table, create in ddl.items():
        inserts.append(
            create.replace(f"CREATE TABLE {table} ", f"CREATE TABLE `{name}`.{table} ", 1)
        )
        rows = data[table]
        values = ", ".join(
            "(" + ", ".join(render_literal(v, "mysql") for v in row) + ")" for row in rows
        )
        inserts.append(f"INSERT INTO `{name}`.{table} VALUES {values}")
    _run_sql(MYSQL_URL, inserts, workers=1)


async def build_sharded(ds: MySQLDataset, data: dict[str, list[tuple[Any, ...]]]) -> None:
    async with Coordinator(ds.topology(), catalog_refresh=None) as coord:
        await coord.execute(f"DROP DATABASE IF EXISTS {ds.database}")
        await coord.execute(f"CREATE DATABASE {ds.database}")
        await dataset.load(coord, {k: v for k, v in data.items() if k != "w"})
        await coord.execute(W_DDL)
        values = ", ".join(
            "(" + ", ".join(render_literal(v, "mysql") for v in row) + ")" for row in data["w"]
        )
        await coord.execute(f"INSERT INTO w VALUES {values}")


async def drop_sharded(ds: MySQLDataset) -> dict[str, set[str]]:
    """Drop the logical database; returns the physical databases per server URL."""
    physical: dict[str, set[str]] = {}
    async with Coordinator(ds.topology(), catalog_refresh=None) as coord:
        urls = {c.name: c.url for c in ds.topology().datasources}
        for info in coord.catalog.tables(ds.database):
            for _, source, db, _table in info.placements():
                physical.setdefault(urls[source] or "", set()).add(db)
        await coord.execute(f"DROP DATABASE IF EXISTS {ds.database}")
    return physical


def make_dataset(
    tag: str,
    shards: int,
    servers: Sequence[tuple[str, str]],
    oracle: str,
    data: dict[str, list[tuple[Any, ...]]],
) -> Iterator[MySQLDataset]:
    database = f"{PREFIX}{PID}_{tag}"
    ds = MySQLDataset(database, topology_text(database, shards, servers), f"{MYSQL_URL}/{oracle}")
    started = time.monotonic()
    trio.run(build_sharded, ds, data)
    print(f"\n{tag}: built in {time.monotonic() - started:.1f}s")
    try:
        yield ds
    finally:
        physical = trio.run(drop_sharded, ds)
        for url, names in physical.items():
            _run_sql(
                url,
                [f"DROP DATABASE IF EXISTS `{n}`" for n in sorted(names) if n.startswith(PREFIX)],
            )


@pytest.fixture(scope="module")
def data(_quiet_statement_logs: None) -> dict[str, list[tuple[Any, ...]]]:
    return all_data()


@pytest.fixture(scope="module")
def oracle_db(data: dict[str, list[tuple[Any, ...]]]) -> Iterator[str]:
    _drop_stale(MYSQL_URL)
    name = f"{PREFIX}{PID}_oracle"
    build_oracle(name, data)
    try:
        yield name
    finally:
        _run_sql(MYSQL_URL, [f"DROP DATABASE IF EXISTS `{name}`"], workers=1)


@pytest.fixture(scope="module")
def sharded_1024(oracle_db: str, data: dict[str, list[tuple[Any, ...]]]) -> Iterator[MySQLDataset]:
    yield from make_dataset("s1024", 1024, [("ds0", MYSQL_URL)], oracle_db, data)


@pytest.fixture(scope="module")
def sharded_two_servers(
    oracle_db: str, data: dict[str, list[tuple[Any, ...]]], private_server: PrivateMariaDB
) -> Iterator[MySQLDataset]:
    servers = [("ds0", MYSQL_URL), ("ds1", private_server.url)]
    yield from make_dataset("two", 16, servers, oracle_db, data)


# ---------------------------------------------------------------------- comparison
def bind(sql: str, params: Sequence[Any]) -> str:
    """``?`` placeholders replaced by MySQL literals (the corpus has no ``?`` in strings)."""
    pieces = sql.split("?")
    assert len(pieces) == len(params) + 1, sql
    out = [pieces[0]]
    for value, piece in zip(params, pieces[1:], strict=True):
        out += [render_literal(value, "mysql"), piece]
    return "".join(out)


def _typed(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Each value tagged with its type, so 1, 1.0 and Decimal('1') all differ."""

    def tag(v: Any) -> tuple[str, Any]:
        return ("Decimal" if isinstance(v, Decimal) else type(v).__name__, v)

    return [tuple(tag(v) for v in r) for r in rows]


def _collated(rows: list[tuple[Any, ...]], sql: str) -> list[tuple[Any, ...]]:
    """Text replaced by its collation key: the group-representative freedom. The key is
    utf8mb4_general_ci's (the default), or utf8mb4_unicode_ci's for queries on ``w.us``."""
    key = MYSQL.collation("utf8mb4_unicode_ci" if re.search(r"\bus\b", sql) else None)
    return [tuple(("ci", key(v)) if isinstance(v, str) else v for v in r) for r in rows]


def _sortable(row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple((0, "") if v is None else (1, repr(v)) for v in row)


@dataclass
class Outcome:
    checked: int = 0
    errors_matched: int = 0
    representative: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)


async def check(
    coord: Coordinator,
    oracle: MySQLDataSource,
    sql: str,
    params: Sequence[Any],
    mode: str,
    outcome: Outcome,
) -> None:
    outcome.checked += 1
    expected_error: ShardgateError | None = None
    try:
        rs = await oracle.fetch(bind(sql, params))
        expected, width = [tuple(r) for r in rs.rows], len(rs.columns)
    except ShardgateError as exc:
        expected_error = exc
    if expected_error is not None:
        with pytest.raises(ShardgateError) as info:
            await coord.execute(sql, list(params) if params else None)
        assert info.value.code == expected_error.code, (
            f"{sql}: MariaDB fails with {expected_error.code} ({expected_error}), "
            f"the coordinator with {info.value.code} ({info.value})"
        )
        outcome.errors_matched += 1
        return
    result = await coord.execute(sql, list(params) if params else None)
    got = [tuple(r) for r in result.rows]
    assert result.columns is not None and len(result.columns) == width, (sql, result.columns, width)
    if mode == BAG:
        got.sort(key=_sortable)
        expected.sort(key=_sortable)
    if _typed(got) == _typed(expected):
        return
    got_c, expected_c = _collated(got, sql), _collated(expected, sql)
    if mode == BAG:
        got_c.sort(key=_sortable)
        expected_c.sort(key=_sortable)
    if _typed(got_c) == _typed(expected_c):
        outcome.representative += 1
        return
    diff = next(
        (
            i
            for i, (a, b) in enumerate(zip(got, expected, strict=False))
            if _typed([a]) != _typed([b])
        ),
        None,
    )
    raise AssertionError(
        f"{sql} {params}\n rows: got {len(got)}, want {len(expected)}; first difference at {diff}"
        f"\n got={got[diff or 0 : (diff or 0) + 4]}\nwant={expected[diff or 0 : (diff or 0) + 4]}"
    )


def everything() -> list[tuple[str, tuple[Any, ...], str]]:
    return [*CORPUS, *MYSQL_CORPUS, *((sql, (), mode) for sql, mode in generated_queries())]


async def run_corpus(ds: MySQLDataset) -> Outcome:
    outcome = Outcome()
    failures: list[str] = []
    oracle = make_ds("oracle", ds.oracle_url)
    await oracle.open()
    try:
        async with Coordinator(ds.topology(), catalog_refresh=None) as coord:
            for sql, params, mode in everything():
                started = time.monotonic()
                try:
                    await check(coord, oracle, sql, params, mode, outcome)
                except AssertionError as exc:
                    failures.append(str(exc)[:700])
                except ShardgateError as exc:  # the oracle answered, the coordinator failed
                    failures.append(f"{sql} {params}\n coordinator error {exc.code}: {exc}"[:700])
                outcome.slowest = sorted(
                    [*outcome.slowest, (time.monotonic() - started, sql[:90])]
                )[-5:]
    finally:
        await oracle.aclose()
    assert not failures, f"{len(failures)} of {outcome.checked} differ:\n\n" + "\n\n".join(
        failures[:15]
    )
    return outcome


@pytest.mark.slow  # 1024 databases: ~40 s
async def test_corpus_1024_databases(sharded_1024: MySQLDataset) -> None:
    started = time.monotonic()
    outcome = await run_corpus(sharded_1024)
    print(f"1024 shards: {outcome} in {time.monotonic() - started:.1f}s")
    assert outcome.checked >= 250 and outcome.errors_matched >= 1


async def test_corpus_two_servers(sharded_two_servers: MySQLDataset) -> None:
    started = time.monotonic()
    outcome = await run_corpus(sharded_two_servers)
    print(f"two servers: {outcome} in {time.monotonic() - started:.1f}s")
    assert outcome.checked >= 250 and outcome.errors_matched >= 1
