"""MariaDB's note 1265 for values an INSERT stores rounded or cut, on SQLite shards.

MariaDB keeps a DECIMAL(p,s) value rounded to ``s`` decimals and a VARCHAR(n) value
cut to ``n`` characters when only spaces are cut, each with ``Note 1265 Data truncated
for column 'c' at row N``. The shard files round and cut as MariaDB
(:mod:`sharding.backend.sqlite_numeric_store`, :mod:`sharding.backend.sqlite_length_store`)
with triggers — plain SQL any SQLite client runs, which cannot warn — so the notes are
derived here, from the statement: an ``INSERT``/``REPLACE … VALUES`` whose literal
values (the coordinator renders parameters as literals) have, measured on MariaDB
10.11:

* for a DECIMAL(p,s) column, digits past ``s`` that are not zeros (``1.25`` into
  DECIMAL(10,1) notes, ``1.50`` does not; a DOUBLE literal ``1.25e0`` by its shortest
  decimal form; a string by its number, spaces around it ignored);
* for a VARCHAR(n) column, more than ``n`` characters (only spaces past ``n``: more is
  MariaDB's 1406). A CHAR(n) drops trailing spaces without a note.

``N`` is the row of the statement's VALUES list (the coordinator makes it the client's
row when it split an INSERT over shards: :mod:`sharding.session_writes`). Values that are
expressions, ``INSERT … SELECT``, ``UPDATE`` and shard statements longer than
:data:`MAX_CHARS` give no note (docs/refusals.md). Cheap
when there is nothing to note: a table without such columns, or a text without a long
fraction or a space before a closing quote, is not parsed.

Written by hand: a check of SQL literals against the shard file's declared types.
"""

from __future__ import annotations

import re
import sqlite3
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import sqlglot
from sqlglot import exp

from sharding.backend import sqlite_arithmetic as arith

__all__ = ["insert_notes"]

Note = tuple[str, int, str]

_INSERT = re.compile(r"\s*(?:INSERT|REPLACE)\b", re.IGNORECASE)
_REPLACE_HEAD = re.compile(r"\s*REPLACE\b", re.IGNORECASE)
_DECIMAL = re.compile(r"\s*DECIMAL_S(\d+)\b", re.IGNORECASE)
_VARCHAR = re.compile(r"\s*(?:NATIONAL\s+)?N?VARCHAR\s*\(\s*(\d+)\s*\)", re.IGNORECASE)
#: A space right before a closing quote (one followed by ``,`` or ``)``): a string
#: literal that ends with a space. (``, 'abc'`` has a space before an opening one.)
_SPACE_BEFORE_QUOTE = re.compile(r" '(?!')(?=\s*[,)])")
#: Statements longer than this give no notes: parsing a multi-megabyte INSERT to find
#: them would cost seconds (docs/refusals.md).
MAX_CHARS = 100_000
_EXPONENT = re.compile(r"\d[eE][-+]?\d")


def _limits(raw: sqlite3.Connection, sql: str) -> tuple[str, dict[str, tuple[str, int]]] | None:
    """(schema.table key, column → ("decimal", scale) / ("varchar", length)) of the
    table ``sql`` inserts into, or None when it has no such column."""
    decls = arith.declared_columns(raw, sql)
    for key, cols in decls.items():
        limits: dict[str, tuple[str, int]] = {}
        for name, decl in cols.items():
            m = _DECIMAL.match(decl)
            if m is not None:
                limits[name] = ("decimal", int(m.group(1)))
                continue
            m = _VARCHAR.match(decl)
            if m is not None:
                limits[name] = ("varchar", int(m.group(1)))
        if limits:
            return f"{key[0]}.{key[1]}", limits
    return None


def _may_note(sql: str, limits: dict[str, tuple[str, int]]) -> bool:
    if any(kind == "varchar" for kind, _ in limits.values()) and _SPACE_BEFORE_QUOTE.search(sql):
        return True
    scales = [n for kind, n in limits.values() if kind == "decimal"]
    if not scales:
        return False
    if _EXPONENT.search(sql):
        return True
    # a literal (or a quoted number) with more decimals than the smallest scale
    return re.search(rf"\d\.\d{{{min(scales) + 1},}}", sql) is not None


def _rounded(node: exp.Expr, scale: int) -> bool:
    """Whether a literal value stored in a DECIMAL column of ``scale`` loses digits
    that are not zeros (``1.25`` at scale 1; ``1.50`` keeps its value: no note)."""
    if isinstance(node, exp.Neg):
        node = node.this
    if not isinstance(node, exp.Literal):
        return False
    text = node.name.strip()
    try:
        value = Decimal(repr(float(text)) if _EXPONENT.search(text) else text)
    except (InvalidOperation, ValueError):
        return False
    if not value.is_finite():
        return False
    return value != value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def insert_notes(raw: sqlite3.Connection, sql: str) -> list[Note]:
    """The 1265 notes MariaDB gives for ``sql`` (module doc); [] for any other."""
    if len(sql) > MAX_CHARS or not _INSERT.match(sql) or "VALUES" not in sql.upper():
        return []
    found = _limits(raw, sql)
    if found is None or not _may_note(sql, found[1]):
        return []
    limits = found[1]
    head = _REPLACE_HEAD.match(sql)  # sqlglot's SQLite reader knows INSERT OR REPLACE
    text = sql if head is None else "INSERT OR REPLACE" + sql[head.end() :]
    try:
        tree = sqlglot.parse_one(text, read="sqlite")
    except sqlglot.errors.ParseError:
        return []
    values = tree.expression if isinstance(tree, exp.Insert) else None
    if not isinstance(values, exp.Values):
        return []
    target = tree.this
    if isinstance(target, exp.Schema):
        names = [c.name for c in target.expressions]
    else:
        names = list(arith.declared_columns(raw, sql).get(_key(target), {}))
    notes: list[Note] = []
    for number, row in enumerate(values.expressions, start=1):
        items = row.expressions if isinstance(row, exp.Tuple) else [row]
        for name, value in zip(names, items, strict=False):
            limit = limits.get(name.lower())
            if limit is None:
                continue
            kind, n = limit
            if kind == "decimal":
                cut = _rounded(value, n)
            else:
                cut = (
                    isinstance(value, exp.Literal)
                    and value.is_string
                    and len(value.name) > n
                    and value.name[n:].strip(" ") == ""
                )
            if cut:
                notes.append(("Note", 1265, f"Data truncated for column '{name}' at row {number}"))
    return notes


def _key(table: exp.Expr) -> tuple[str, str]:
    if isinstance(table, exp.Table):
        return (table.text("db").lower(), table.name.lower())
    return ("", "")
