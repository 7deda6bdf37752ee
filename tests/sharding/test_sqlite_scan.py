"""The SQLite rewrites' text filters decide alike on a statement of megabytes.

:mod:`sharding.backend.sqlite_scan` gives the filters of
:mod:`sharding.backend.sqlite_arithmetic` and :mod:`sharding.backend.sqlite_decimal_results`
cheaper views of a long statement (strings masked, long IN lists of plain values cut),
and their searches take other forms past a few kilobytes (issue 12, item 4: a search
held the GIL, and so froze the event loop, for 0.1-0.6 s). Each statement below runs
twice on identical data: with a short IN list, and with the same list padded by 2,200
values no row has (each shard statement then is kilobytes long: the long-text paths).
The answers, or the errors, must be the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sharding import Coordinator, Topology
from sharding.backend import sqlite_decimal_results, sqlite_scan
from sharding.backend.sqlite_scan import mask_strings, shrink_lists

PADDING = list(range(1_000_000, 1_002_200))

SETUP = [
    "CREATE TABLE p (id INT PRIMARY KEY, price DECIMAL(8,2), q INT, d DOUBLE, "
    "s VARCHAR(40), big BIGINT)",
    "INSERT INTO p VALUES (1, 10.25, 3, 1.5, 'apple', 9223372036854775000), "
    "(2, 0.10, 1, 2.5, 'banana', 5), (3, 99.99, 7, 1e300, 'cherry', -9223372036854775000), "
    "(4, NULL, 2, NULL, NULL, NULL), (5, 1.05, 5, 3, 'a''b', 0)",
]

#: ``{ids}`` is the IN list. Reads and writes whose filters matter: DOUBLE rounding,
#: DECIMAL scales, text of numbers, LIKE, ``||``, overflow (1690), a DECIMAL into a
#: text column (1235), arithmetic guarded or not.
STATEMENTS = [
    "SELECT id, ROUND(d), ROUND(price, 1), price * 2, price / 3 FROM p WHERE id IN ({ids}) "
    "ORDER BY id",
    "SELECT id, CONCAT(price, '|'), CONCAT(d, '') FROM p WHERE id IN ({ids}) ORDER BY id",
    "SELECT id FROM p WHERE s LIKE 'a%' AND id IN ({ids}) ORDER BY id",
    "SELECT id, CAST(d AS SIGNED), FORMAT(price, 1) FROM p WHERE id IN ({ids}) ORDER BY id",
    "SELECT id, d * 1e10 FROM p WHERE id IN ({ids}) ORDER BY id",
    "SELECT id, d * d FROM p WHERE id IN ({ids}) ORDER BY id",
    "SELECT id, big + big FROM p WHERE id IN ({ids}) ORDER BY id",
    "SELECT id, q * 2 + 1, q % 2 FROM p WHERE id IN ({ids}) ORDER BY id",
    "SELECT q % 2, SUM(price), AVG(q), COUNT(*) FROM p WHERE id IN ({ids}) GROUP BY q % 2 "
    "ORDER BY 1",
    "UPDATE p SET s = 1.50 WHERE id IN ({ids})",
    "UPDATE p SET q = q * 2 WHERE id IN ({ids})",
    "UPDATE p SET big = big * 2 WHERE id IN ({ids})",
    "UPDATE p SET d = d / 4 WHERE id IN ({ids})",
    "SELECT id, q, d, s FROM p WHERE id IN ({ids}) ORDER BY id",
]


def _topology(root: Path) -> Topology:
    return Topology.loads(
        f"""
[cluster]
database = "db"
default_shards = 4

[[datasources]]
name = "ds0"
path = "{root / "ds0"}"
"""
    )


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Coordinator, Coordinator]]:
    async with (
        Coordinator(_topology(tmp_path / "short"), catalog_refresh=None) as short,
        Coordinator(_topology(tmp_path / "long"), catalog_refresh=None) as long,
    ):
        for c in (short, long):
            s = c.open_session(database="db")
            for sql in SETUP:
                await s.execute(sql)
            await s.close()
        yield short, long


async def _outcome(c: Coordinator, sql: str) -> tuple[Any, ...]:
    s = c.open_session(database="db")
    try:
        r = await s.execute(sql)
        return ("ok", r.rows, r.affected)
    except Exception as e:  # the error is the outcome compared
        return ("error", type(e).__name__, getattr(e, "code", None))
    finally:
        await s.close()


async def test_long_statements_get_the_answers_of_short_ones(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    short, long = pair
    ids = [1, 2, 3, 4, 5]
    padded = ", ".join(map(str, ids + PADDING))
    assert len(padded) // 4 > sqlite_scan.SMALL  # each shard's list is a long text
    seen = set()
    for template in STATEMENTS:
        want = await _outcome(short, template.format(ids=", ".join(map(str, ids))))
        got = await _outcome(long, template.format(ids=padded))
        assert got == want, template
        seen.add(want[0])
    assert seen == {"ok", "error"}  # both kinds of outcome are compared


async def test_a_long_insert_is_refused_or_stored_alike(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    """A DECIMAL written to a text column is 1235 in a short INSERT and in one of
    megabytes; plain rows are stored."""
    short, long = pair
    rows = ", ".join(f"({i}, 1.00, 1, 0.5, 'row-{i}', {i})" for i in range(100, 2100))
    for c in (short, long):
        pad = rows if c is long else "(100, 1.00, 1, 0.5, 'row-100', 100)"
        bad = await _outcome(c, f"INSERT INTO p VALUES {pad}, (99, 1, 1, 1, 2.50, 1)")
        assert bad[0] == "error" and bad[2] == 1235, bad
        good = await _outcome(c, f"INSERT INTO p VALUES {pad}")
        assert good[0] == "ok"
        check = await _outcome(c, "SELECT SUM(price), SUM(d), MIN(s) FROM p WHERE id >= 100")
        assert check[0] == "ok"
        n = 2000 if c is long else 1
        assert check[1] == [(sqlite_decimal_results.Decimal(n), n * 0.5, "row-100")]


def test_shrink_lists_cuts_only_plain_values() -> None:
    ints = ", ".join(map(str, range(2000)))
    text = f"SELECT a FROM t WHERE id IN ({ints}) AND s IN ('a', 'b''c', 'd', 'e', 'f', " + (
        "'g', 'h', 'i', 'j') AND q IN (1e309, 1, 2, 3, 4, 5, 6, 7, 8, 9) AND r NOT IN "
        "(1, 2, 3, 4, 5, 6, 7, 8, 9, 12345678901234567890) AND f IN (1.5, 1, 2, 3, 4, 5, "
        "6, 7, 8, 9)"
    )
    assert shrink_lists(text) == (
        "SELECT a FROM t WHERE id IN (0) AND s IN ('a') AND q IN (1e309, 1, 2, 3, 4, 5, 6, "
        "7, 8, 9) AND r NOT IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 12345678901234567890) AND f IN "
        "(1.5, 1, 2, 3, 4, 5, 6, 7, 8, 9)"
    )
    short = "SELECT a FROM t WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)"
    assert shrink_lists(short) == short  # below SMALL: the text itself


def test_mask_strings() -> None:
    assert mask_strings("a 'x''y' b 'z' c") == "a '''' b '' c"
    assert mask_strings("no strings") == "no strings"
