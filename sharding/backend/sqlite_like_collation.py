"""``LIKE`` on a column of a binary collation (``utf8mb4_bin``) on SQLite shards.

MySQL matches ``name LIKE 'a%'`` with the column's collation: under ``utf8mb4_bin``
exactly (``'ABC'`` does not match), under the default ``utf8mb4_general_ci`` folding
case and accents. SQLite calls the registered ``like`` for the operator, which folds
as the default collation unless a side is binary
(:func:`sharding.backend.sqlite_mysql._like`) — it cannot see the column's collation,
so on the embedded default ``name LIKE 'a%'`` of a ``utf8mb4_bin`` column matched
``'ABC'`` too (a read showed, a ``DELETE`` removed, rows MySQL does not match). Here,
with the shard file's declared types, such a column's side of ``LIKE`` is read as
``CAST(col AS BLOB)``: its exact characters. So is a binary-collation column that is
the pattern (``ci_col LIKE bin_col``: MySQL's coercion picks the binary collation),
and a value written with a binary collation (``'abc' COLLATE utf8mb4_bin``: how the
coordinator's evaluation over merged rows, ``sharding/sql/backend_eval.py``, hands a
binary-collation column's value to a shard).

Written by hand: a rewrite specific to the statements this coordinator renders. Cheap
when there is nothing to do: a text without ``LIKE`` or whose tables have no such
column is not parsed; rewritten texts are cached.
"""

from __future__ import annotations

import re
import sqlite3

import sqlglot
from sqlglot import exp

from sharding.backend import sqlite_arithmetic as arith
from sharding.backend import sqlite_reparse
from sharding.backend.sqlite_text_cache import TextCache

__all__ = ["forget", "rewrite"]

_LIKE = re.compile(r"\bLIKE\b", re.IGNORECASE)
#: A declared text column of a binary collation (``utf8mb4_bin``, ``latin1_bin``, …).
_BINARY_COLLATION = re.compile(r"\bCOLLATE\s+\"?\w*_bin\b", re.IGNORECASE)

_cache = TextCache()


def forget() -> None:
    """Drop the rewritten statements (a table's definition may have changed)."""
    _cache.clear()


def rewrite(raw: sqlite3.Connection, sql: str) -> str:
    """``sql`` with the binary-collation column of each ``LIKE`` read as its exact
    characters (module doc); unchanged when there is none."""
    if _LIKE.search(sql) is None:
        return sql
    decls = arith.declared_columns(raw, sql)
    if _BINARY_COLLATION.search(sql) is None and not any(
        _BINARY_COLLATION.search(d) for cols in decls.values() for d in cols.values()
    ):
        return sql
    return _cache.get_or_make(sql, lambda: _rewrite(sql, decls))


def _rewrite(sql: str, decls: arith.Decls) -> str:
    try:
        tree = sqlite_reparse.parse(sql)
    except sqlglot.errors.ParseError:
        return sql
    columns = arith._Columns(tree, decls)
    changed = False
    for like in list(tree.find_all(exp.Like)):
        # Either side a binary-collation column: MySQL's coercion matches exactly (an
        # implicit collation beats a literal's, a binary one another column's).
        for arg in ("this", "expression"):
            side = like.args.get(arg)
            while isinstance(side, exp.Paren):
                side = side.this
            if isinstance(side, exp.Collate):
                # A value written with its column's collation (the coordinator's
                # BackendEval over merged rows: ``'abc' COLLATE utf8mb4_bin``).
                if not side.expression.name.lower().endswith("_bin"):
                    continue
            elif (
                not isinstance(side, exp.Column)
                or _BINARY_COLLATION.search(columns.decl(side) or "") is None
            ):
                continue
            like.set(arg, exp.Cast(this=side.copy(), to=exp.DataType.build("BLOB")))
            changed = True
            break
    return tree.sql(dialect="sqlite") if changed else sql
