"""Parse a shard statement for an edit that re-renders it, keeping its registered calls.

Three rewrites of SQLite shard statements parse the shard's text, change a few nodes
and render the whole statement again with sqlglot's SQLite generator
(:mod:`sharding.backend.sqlite_decimal_results`, :mod:`sharding.backend.
sqlite_like_collation`, :mod:`sharding.backend.sqlite_hex_literals`). The text calls
MySQL's functions as the backend registers them (:data:`sharding.backend.sqlite_mysql.
_FUNCTIONS`), and sqlglot reads many of those names as its own nodes and writes them
back as *SQLite's* functions: ``TRUNCATE(m, 1)`` came back as ``TRUNC(m)`` (the digits
lost: ``TRUNCATE(1.10, 1)`` answered 1.0 whenever the statement also held a ``ROUND``
of a DOUBLE), ``MOD(x, 2)`` as ``x % 2`` (SQLite's ``%`` truncates REALs), ``RAND()`` as
``RANDOM()`` (a 64-bit integer), ``DATEDIFF`` as a ``JULIANDAY`` difference,
``GREATEST`` as ``MAX(COALESCE(…))``, ``DATE_ADD`` as SQLite's ``DATE(x, '2 A')``
(found 2026-12-06).

:func:`parse` reads such a text with a SQLite dialect that knows none of those names,
so they stay calls (``exp.Anonymous``) and render back exactly as written. Which names
is decided from the registered functions themselves: a name whose call does not come
back unchanged from sqlglot's own SQLite round trip. ``INTERVAL(N, N1, …)`` is read as a
call as the coordinator's own parser reads it (:class:`sharding.sql.parse.IntervalCall`).

Written by hand: sqlglot has no switch to keep a dialect's function names verbatim.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite

from sharding.sql.parse import IntervalCall

__all__ = ["parse", "rewritten_names"]


@lru_cache(maxsize=1)
def rewritten_names() -> frozenset[str]:
    """The registered function names (upper case) that sqlglot's SQLite round trip
    does not write back as the same call."""
    from sharding.backend.sqlite_mysql import _FUNCTIONS

    out: set[str] = set()
    for name, nargs, _fn, _deterministic in _FUNCTIONS:
        count = 2 if nargs < 0 else nargs
        args = ", ".join(["x", "2", "'a'", "3"][:count])
        sql = f"SELECT {name}({args}) FROM t"
        try:
            back = sqlglot.parse_one(sql, read="sqlite").sql(dialect="sqlite")
        except sqlglot.errors.SqlglotError:
            out.add(name.upper())
            continue
        if back.replace(" ", "").lower() != sql.replace(" ", "").lower():
            out.add(name.upper())
    return frozenset(out)


@lru_cache(maxsize=1)
def _dialect() -> type[SQLite]:
    names = rewritten_names()

    class RegisteredCalls(SQLite):
        class Parser(IntervalCall, SQLite.Parser):  # type: ignore[valid-type,misc]
            FUNCTIONS: ClassVar[dict[str, Any]] = {
                k: v for k, v in SQLite.Parser.FUNCTIONS.items() if k not in names
            }
            FUNCTION_PARSERS: ClassVar[dict[str, Any]] = {
                k: v for k, v in SQLite.Parser.FUNCTION_PARSERS.items() if k not in names
            }

    return RegisteredCalls


def parse(sql: str) -> exp.Expr:
    """``sql`` (a shard statement in SQLite's dialect) parsed so that rendering it with
    ``.sql(dialect="sqlite")`` keeps every registered call as written. Raises
    sqlglot's ParseError as ``sqlglot.parse_one`` does."""
    return sqlglot.parse_one(sql, read=_dialect())
