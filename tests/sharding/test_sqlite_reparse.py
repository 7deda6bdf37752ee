"""Re-rendered SQLite shard statements keep the registered MySQL calls as written.

``sharding/backend/sqlite_reparse.py``: sqlglot's SQLite round trip wrote
``TRUNCATE(m, 1)`` as ``TRUNC(m)``, ``MOD(x, 2)`` as ``x % 2``, ``RAND()`` as
``RANDOM()``; the rewrites that render a statement again parse it so that every
registered function stays the call it was.
"""

from __future__ import annotations

import sqlite3

import pytest

from sharding.backend import sqlite_decimal_results, sqlite_reparse
from sharding.backend.sqlite_mysql import _FUNCTIONS

CALLS = sorted({(n, a) for n, a, *_ in _FUNCTIONS})


def _call(name: str, nargs: int) -> str:
    count = 2 if nargs < 0 else nargs
    return f"{name}({', '.join(['x', '2', chr(39) + 'a' + chr(39), '3'][:count])})"


@pytest.mark.parametrize(("name", "nargs"), CALLS)
def test_every_registered_call_survives_a_round_trip(name: str, nargs: int) -> None:
    sql = f"SELECT {_call(name, nargs)} FROM t"
    back = sqlite_reparse.parse(sql).sql(dialect="sqlite")
    assert back.replace(" ", "").lower() == sql.replace(" ", "").lower()


def test_the_names_sqlglot_rewrites_are_found() -> None:
    names = sqlite_reparse.rewritten_names()
    # Each of these was written back as another function (or operator) by sqlglot.
    assert {"TRUNCATE", "MOD", "RAND", "DATEDIFF", "GREATEST", "DATE_ADD"} <= names
    assert "ROUND" not in names and "CONCAT" not in names


def test_a_rewritten_statement_keeps_truncate_digits() -> None:
    raw = sqlite3.connect(":memory:")
    raw.execute("CREATE TABLE s1 (id INTEGER PRIMARY KEY, f DOUBLE, m DECIMAL_S2)")
    sql = "SELECT s1.id, ROUND(s1.f, 1), TRUNCATE(s1.m, 1), MOD(s1.m, 2) FROM s1 AS s1"
    out = sqlite_decimal_results.prepare(raw, sql)
    assert "SG_ROUND_DOUBLE(s1.f, 1)" in out  # the statement was rendered again
    assert "TRUNCATE(s1.m, 1)" in out and "MOD(s1.m, 2)" in out
