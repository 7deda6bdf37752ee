"""Warnings of reads, against one unsharded MariaDB.

A SELECT's warnings (1292 "Truncated incorrect ... value", 1365 "Division by 0", ...)
are raised per evaluated row, on the shard holding the row: shardgate reads each
shard result's warning count and, when it is not zero, the shard's ``SHOW WARNINGS``
(``sharding/exec/shard_warnings.py``), so the result's final packet, ``SHOW
WARNINGS``, ``SHOW COUNT(*) WARNINGS`` and ``@@warning_count`` answer as MariaDB's —
on one shard (the point-query fast path), over 16 shards (batched, keyset-chunked, a
data source merging its shards, unbatched), for aggregates, within
``max_error_count`` (SHOW WARNINGS lists at most that many, the count counts all),
and with the coordinator's own warnings — GROUP_CONCAT's cuts (1260), and its
evaluation over merged rows: a division by zero (1365), a string read as a number
(1292; ``sharding/merge/conversion_notes.py``) — on the aiomysql and the native
driver.

Listings are compared in order where MariaDB's order is the only one possible (one
shard, or identical messages); as multisets where rows of several shards warn with
different texts (MariaDB lists a table's warnings in its scan order, shardgate by
shard: docs/refusals.md); by length only where ``max_error_count`` cuts a listing
of different texts (which ones MariaDB keeps depends on its scan order).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest

from sharding.backend.mysql import MySQLConfig, MySQLDataSource
from sharding.coordinator import Coordinator
from tests.conftest import MYSQL_URL, require_mysql_or_skip
from tests.fidelity.harness import PREFIX, Environment, environment

pytestmark = pytest.mark.mysql

#: How a case's SHOW WARNINGS listings are compared (module docstring).
EXACT, MULTISET, LENGTH = "exact", "multiset", "length"


@dataclass(frozen=True)
class Case:
    """``setup`` statements, then the read whose warnings are compared."""

    read: str
    listing: str = EXACT
    setup: tuple[str, ...] = ()
    #: Chunks of a few rows re-run the shard statement over rows a previous chunk
    #: evaluated (a grouped read, a data source's merged statement): there the count
    #: is at least MariaDB's (docs/refusals.md); equal when one chunk holds the result.
    rechunked: bool = False


CASES = [
    # One shard: the point-query fast path (and a routed IN list of two shards).
    Case("SELECT CAST('12abc' AS SIGNED) FROM orders WHERE id = 1"),
    Case("SELECT id, CAST(status AS SIGNED) FROM orders WHERE id = 3"),
    Case("SELECT id, CAST(status AS SIGNED), 1/qty FROM orders WHERE id IN (3, 4)", MULTISET),
    Case("SELECT id FROM orders WHERE id = 5 AND status = 5"),
    # No warning: nothing more to read, count 0 (and the previous statement's cleared).
    Case("SELECT id, status FROM orders WHERE id = 5", setup=("SELECT 1/0 FROM orders",)),
    # A constant SELECT sent to a shard.
    Case("SELECT 1/0"),
    # Scatter over every shard: every row evaluated, so the total is MariaDB's.
    Case("SELECT 1/0 FROM orders"),
    Case("SELECT 1/0 FROM orders LIMIT 1000"),
    Case("SELECT id, 1/0 FROM orders ORDER BY id"),
    Case("SELECT id FROM orders WHERE status = 5", LENGTH),
    Case(
        "SELECT id FROM orders WHERE status = 5",
        MULTISET,
        setup=("SET max_error_count = 1000",),
    ),
    Case(
        "SELECT id, CAST(status AS SIGNED) FROM orders ORDER BY id",
        MULTISET,
        setup=("SET max_error_count = 300",),
    ),
    # max_error_count: SHOW WARNINGS lists at most that many; the count counts all.
    Case("SELECT 1/0 FROM orders", setup=("SET max_error_count = 5",)),
    Case("SELECT 1/0 FROM orders", setup=("SET max_error_count = 0",)),
    Case("SELECT CAST(status AS SIGNED) FROM orders", LENGTH, setup=("SET max_error_count = 7",)),
    # Aggregates (merged by the coordinator, or by a data source's merged statement).
    Case("SELECT COUNT(*) FROM orders WHERE CAST(status AS SIGNED) = 0", LENGTH),
    Case("SELECT SUM(CAST(status AS SIGNED)) FROM orders", LENGTH),
    Case(
        "SELECT SUM(CAST(status AS SIGNED)), MAX(id) FROM orders",
        MULTISET,
        setup=("SET max_error_count = 1000",),
    ),
    Case("SELECT MAX(1/qty), MIN(1/qty) FROM orders"),
    Case(
        "SELECT status, COUNT(*), SUM(CAST(status AS SIGNED)) FROM orders GROUP BY status",
        MULTISET,
        setup=("SET max_error_count = 1000",),
    ),
    Case(
        "SELECT customer_id, MAX(1/qty) FROM orders GROUP BY customer_id ORDER BY customer_id",
        rechunked=True,
    ),
    # The coordinator's own evaluation over merged aggregates: a division by zero per
    # group (1365), a string read as a number (1292) — raised where it computes.
    Case("SELECT customer_id % 3 g, SUM(qty) / 0 FROM orders GROUP BY g ORDER BY g"),
    Case("SELECT SUM(qty) DIV 0, MAX(qty) % 0, SUM(amount) / 0 FROM orders"),
    Case(
        "SELECT customer_id % 4 g, MAX(status) + 0, -MIN(status) FROM orders GROUP BY g ORDER BY g",
        MULTISET,
    ),
    # The coordinator's own GROUP_CONCAT cut (1260) together with the shards' 1292s
    # (raised by the WHERE: evaluated once per row on both sides).
    Case(
        "SELECT GROUP_CONCAT(status ORDER BY id) FROM orders "
        "WHERE id <= 60 AND CAST(status AS SIGNED) = 0",
        MULTISET,
        setup=("SET group_concat_max_len = 8",),
        rechunked=True,
    ),
]


@dataclass(frozen=True)
class Seen:
    """What a client sees of a read's warnings (and the read's rows, sorted)."""

    rows: tuple[Any, ...]
    packet: int
    listed: tuple[tuple[str, int, str], ...]
    warning_count: int
    show_count: int


def _observe(conn: pymysql.connections.Connection, case: Case) -> Seen:
    with conn.cursor() as cur:
        for sql in case.setup:
            cur.execute(sql)
            cur.fetchall()
        cur.execute(case.read)
        rows = tuple(sorted((tuple(r) for r in cur.fetchall()), key=repr))
        packet = cur._result.warning_count if cur._result is not None else -1
        cur.execute("SHOW WARNINGS")
        listed = tuple((str(a), int(b), str(c)) for a, b, c in cur.fetchall())
        cur.execute("SELECT @@warning_count")
        (warning_count,) = cur.fetchone()
        cur.execute("SHOW COUNT(*) WARNINGS")
        (show_count,) = cur.fetchone()
    return Seen(rows, packet, listed, int(warning_count), int(show_count))


def _differences(case: Case, oracle: Seen, sharded: Seen, chunk: int) -> list[str]:
    out = []
    if oracle.rows != sharded.rows:
        out.append(f"rows: oracle {oracle.rows[:4]}..., shardgate {sharded.rows[:4]}...")
    if case.rechunked and chunk < 100:
        counts = {sharded.packet, sharded.warning_count, sharded.show_count}
        if len(counts) != 1 or sharded.packet < oracle.packet:
            out.append(f"counts: oracle {oracle.packet}, shardgate {counts}")
        return out
    for name in ("packet", "warning_count", "show_count"):
        a, b = getattr(oracle, name), getattr(sharded, name)
        if a != b:
            out.append(f"{name}: oracle {a}, shardgate {b}")
    a_list, b_list = list(oracle.listed), list(sharded.listed)
    if case.listing == MULTISET:
        a_list.sort()
        b_list.sort()
    if case.listing == LENGTH:
        if len(a_list) != len(b_list) or {n[1] for n in a_list} != {n[1] for n in b_list}:
            out.append(f"listing: oracle {a_list[:3]}... ({len(a_list)}), shardgate {b_list[:3]}")
    elif a_list != b_list:
        out.append(f"listing: oracle {a_list[:3]}... ({len(a_list)}), shardgate {b_list[:3]}")
    return out


class NativeEnvironment(Environment):
    """The harness's environment with the shards reached through the native driver."""

    def __init__(self, shards: int, chunk: int) -> None:
        super().__init__(shards, chunk)
        # Names no other environment's clean-up pattern (``<logical>%``) matches.
        tag = f"{PREFIX}_{os.getpid()}_nat{shards}_{chunk}"
        self.oracle_db, self.logical_db, self.physical_db = f"{tag}_o", f"{tag}_l", f"{tag}_p"

    async def _serve_async(self) -> None:
        topology = self.topology()
        # Few connections: the MariaDB server is shared (max_connections 151).
        config = {"url": MYSQL_URL, "max_connections": 6, "driver": "native"}
        ds = MySQLDataSource("m0", MySQLConfig.from_mapping("m0", config))
        async with Coordinator(topology, datasources={"m0": ds}) as coord:
            await self._serve_coordinator(coord)


_NATIVE: dict[int, NativeEnvironment] = {}
_NATIVE_LOCK = threading.Lock()


@pytest.fixture(scope="module", autouse=True)
def _stop_native() -> Iterator[None]:
    yield
    with _NATIVE_LOCK:
        for env in _NATIVE.values():
            with contextlib.suppress(Exception):
                env.stop()
        _NATIVE.clear()


def _native(chunk: int) -> Environment:
    with _NATIVE_LOCK:
        env = _NATIVE.get(chunk)
        if env is None:
            env = _NATIVE[chunk] = NativeEnvironment(16, chunk)
            env.start()
        return env


#: (driver, chunk rows, data sources merging their shards): the batched reads and a
#: data source's merged statement (chunk 1000), keyset chunks of 2 rows with and
#: without the merged statements (the harness's environments), and the native driver.
VARIANTS = [
    ("aiomysql", 1000, True),
    ("aiomysql", 2, True),
    ("aiomysql", 2, False),
    ("native", 1000, True),
]


@pytest.fixture(params=VARIANTS, ids=lambda v: f"{v[0]}-chunk{v[1]}{'' if v[2] else '-nopush'}")
def wenv(request: pytest.FixtureRequest) -> Environment:
    require_mysql_or_skip()
    driver, chunk, pushdown = request.param
    if driver == "native":
        return _native(chunk)
    return environment(16, chunk, pushdown)


def test_read_warnings_match_mariadb(wenv: Environment) -> None:
    wrong = []
    for case in CASES:
        with wenv.connect_oracle() as o, wenv.connect_sharded() as s:
            oracle, sharded = _observe(o, case), _observe(s, case)
        assert oracle.packet > 0 or "WHERE id = 5" in case.read, case.read  # cases warn
        for why in _differences(case, oracle, sharded, wenv.chunk):
            wrong.append(f"{case.read} {case.setup}: {why}")
    assert not wrong, "\n".join(wrong)


def test_warnings_of_a_read_replace_the_last_ones(wenv: Environment) -> None:
    """A read without warnings clears the previous statement's; an error replaces
    them; a statement without tables keeps them (MariaDB's rules, both sides)."""
    script = [
        "SELECT 1/0 FROM orders WHERE id < 20",
        "SELECT @@warning_count",
        "SHOW WARNINGS LIMIT 2",
        "SHOW WARNINGS LIMIT 1, 3",
        "SELECT id FROM orders WHERE id = 2",
        "SELECT @@warning_count",
        "SELECT CAST(status AS SIGNED) FROM orders WHERE id = 6",
        "SELECT 1",
        "SHOW WARNINGS",
        "SELECT nope FROM orders",
        "SHOW COUNT(*) ERRORS",
        "SELECT @@warning_count, @@error_count",
    ]
    seen: list[list[Any]] = []
    with wenv.connect_oracle() as o, wenv.connect_sharded() as s:
        for conn in (o, s):
            out: list[Any] = []
            with conn.cursor() as cur:
                for sql in script:
                    try:
                        cur.execute(sql)
                    except pymysql.err.MySQLError as exc:
                        out.append(("error", exc.args[0]))
                        continue
                    warned = cur._result.warning_count if cur._result is not None else -1
                    out.append((sorted(map(tuple, cur.fetchall())), warned))
            seen.append(out)
    assert seen[0] == seen[1]
