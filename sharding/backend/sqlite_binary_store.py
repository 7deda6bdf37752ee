"""MySQL's binary strings (VARBINARY, TINYBLOB, BLOB, MEDIUMBLOB, LONGBLOB) on SQLite
shards (issue 15).

What was wrong: a binary column was declared on the shard with its MySQL type text, so
SQLite stored what a client wrote as TEXT — and ``VARBINARY(n)``, a type name with
NUMERIC affinity, even made ``'0123'`` the integer 123 (read back ``123``, ``HEX`` 7B).
A stored TEXT is no binary string: ``UPPER(b)``/``LOWER(b)`` changed it (MariaDB keeps
a binary string as it is), ``b LIKE 'a%'`` and ``LOCATE`` ignored case, ``CHAR_LENGTH``
counted characters, ``CONCAT(b, 'x')`` was text, ``ORDER BY`` ranked ``''`` after the
numbers, and values came back as ``str`` where MariaDB gives bytes.

The rule: a binary column holds SQLite BLOBs only, the bytes MySQL stores — a string's
UTF-8 bytes (the connection's character set), a number's text.

* The column is declared ``SG_BLOB_<type>`` (:func:`physical_type`: BLOB affinity,
  no conversion of what is written) and its DEFAULT is a blob literal.
* Each statement that writes one (``INSERT … VALUES``, ``UPDATE … SET``, the upsert's
  clause) has each value written to it made a BLOB in its own text
  (:func:`rewrite`): a literal becomes ``X'<its bytes>'``, any other expression
  ``sg_binary(<expr>)``. So a UNIQUE key or an upsert's conflict sees the bytes, and
  an UPDATE writing the stored value again changes nothing (MySQL's affected rows).
* Two triggers per table (``<table>$bin_insert`` / ``$bin_update``, plain SQL the
  shard file carries) make any other TEXT or number a BLOB after the write (an
  ``INSERT … SELECT``), so no writer leaves text in the column.
* A comparison of a binary column (``=``, ``<>``, ``<``…, ``<=>``, ``IN``,
  ``BETWEEN``) with a string literal has the literal made ``X'…'`` (SQLite orders a
  TEXT before every BLOB: they never compare equal) — MySQL compares bytes, as SQLite
  compares two BLOBs, and an index still serves; with a text column that column's
  ``CAST(… AS BLOB)``; with a number the column's ``CAST(… AS REAL)`` (MySQL compares
  a binary string with a number as DOUBLEs).

``ORDER BY``, ``GROUP BY``, ``DISTINCT``, ``MIN``/``MAX`` of BLOBs are SQLite's
bytewise ones, MySQL's for binary strings (case- and trailing-space-sensitive). The
registered string functions (:mod:`sharding.backend.sqlite_mysql`) take ``bytes`` as
MySQL takes a binary string (bytes, not characters; a result with a binary operand
is binary).

Written by hand: SQL and text edits specific to the shard statements this coordinator
renders (the same offsets-based editing as :mod:`sharding.backend.sqlite_arithmetic`);
no library maps MySQL's binary strings onto SQLite.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite

from sharding.backend import sqlite_arithmetic as arith
from sharding.backend import sqlite_compare
from sharding.backend.sqlite_text_cache import TextCache

__all__ = [
    "MARK",
    "binary_value",
    "default_sql",
    "is_binary",
    "learn",
    "physical_type",
    "rewrite",
    "store_triggers",
]

_T = exp.DataType.Type
#: The MySQL binary string types stored as BLOBs (``BINARY(n)`` stays refused:
#: :mod:`sharding.backend.sqlite_length_store`).
_BINARY_TYPES = frozenset({_T.VARBINARY, _T.TINYBLOB, _T.BLOB, _T.MEDIUMBLOB, _T.LONGBLOB})
#: The physical type name's prefix: it contains ``BLOB`` (SQLite's BLOB affinity) and
#: tells a binary column in the shard file's schema.
MARK = "SG_BLOB_"
_DECL = re.compile(r"^\s*" + MARK, re.IGNORECASE)
#: A binary column's definition in a CREATE TABLE / ALTER TABLE text.
_COLUMN = re.compile(r'"((?:[^"]|"")+)"\s+' + MARK, re.IGNORECASE)
_DIALECT = SQLite()


def is_binary(kind: exp.Expr | None) -> bool:
    """Whether a column of MySQL type ``kind`` is stored as BLOBs (module doc)."""
    return isinstance(kind, exp.DataType) and kind.this in _BINARY_TYPES


def physical_type(type_text: str) -> str:
    """The SQLite type a binary column is declared with: ``SG_BLOB_VARBINARY(20)``."""
    return MARK + type_text.replace(" ", "")


def binary_value(value: Any) -> bytes | None:
    """``sg_binary(x)``: the bytes MySQL stores for ``x`` in a binary column."""
    if value is None or isinstance(value, bytes):
        return value
    from sharding.backend.sqlite_mysql import _text

    return _text(value).encode("utf-8")


def _blob_literal(data: bytes) -> str:
    return "X'" + data.hex().upper() + "'"


def default_sql(node: exp.Expr) -> str | None:
    """A binary column's DEFAULT as a blob literal (None: not a plain literal)."""
    if isinstance(node, exp.Literal):
        return _blob_literal(node.name.encode("utf-8"))
    return None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def store_triggers(
    columns: Sequence[str], *, db_mark: str, table_mark: str, name_mark: str
) -> list[str]:
    """The two triggers making a TEXT or a number written to a binary column a BLOB
    (module doc); the marks are :mod:`sharding.sql.ddl`'s placeholders. A REAL that is
    a whole number is its integer's text, as MySQL writes a DOUBLE (``1e3`` → ``1000``)."""
    if not columns:
        return []

    def blob(c: str) -> str:
        return (
            f"CAST(CASE WHEN typeof({c}) = 'real' AND {c} = CAST({c} AS INTEGER) "
            f"AND abs({c}) < 1e15 THEN CAST({c} AS INTEGER) ELSE {c} END AS BLOB)"
        )

    when = " OR ".join(f"typeof(NEW.{_ident(c)}) NOT IN ('blob', 'null')" for c in columns)
    sets = ", ".join(
        f"{_ident(c)} = CASE WHEN typeof({_ident(c)}) IN ('blob', 'null') THEN {_ident(c)} "
        f"ELSE {blob(_ident(c))} END"
        for c in columns
    )
    body = f"FOR EACH ROW WHEN {when} BEGIN UPDATE {table_mark} SET {sets} WHERE rowid = NEW.rowid; END"
    names = ", ".join(_ident(c) for c in columns)
    return [
        f"CREATE TRIGGER {db_mark}.{_ident(name_mark + '$bin_insert')} AFTER INSERT ON "
        f"{table_mark} {body}",
        f"CREATE TRIGGER {db_mark}.{_ident(name_mark + '$bin_update')} AFTER UPDATE OF "
        f"{names} ON {table_mark} {body}",
    ]


# ---------------------------------------------------------------------- statements
_lock = threading.Lock()
#: Lower-case names of the binary columns seen (a schema scanned, a DDL run): a
#: statement naming none of them is left as it is without a parse.
_names: set[str] = set()
_cache = TextCache()


def learn(text: str) -> None:
    """Remember the binary column names a schema or DDL text declares; forget the
    rewritten statements (a table's definition may have changed)."""
    found = {m.group(1).replace('""', '"').lower() for m in _COLUMN.finditer(text)}
    with _lock:
        _names.update(found)
        _cache.clear()


def schema_sql(raw: sqlite3.Connection, schema: str) -> None:
    """Learn the binary columns of an attached shard file (``schema``: its quoted name,
    as the ATTACH statement gives it)."""
    row = raw.execute(
        f"SELECT group_concat(sql, ' ') FROM {schema}.sqlite_master WHERE instr(upper(sql), ?) > 0",
        (MARK,),
    ).fetchone()
    if row and row[0]:
        learn(str(row[0]))


#: A string literal (skipped whole), or MySQL's ``_binary`` introducer and its literal.
_INTRODUCER = re.compile(
    r"'(?:[^']|'')*'|\b_binary\s*(?:([xX]'[0-9A-Fa-f]*')|'((?:[^']|'')*)')", re.IGNORECASE
)
_WRITE = re.compile(r"\s*(?:INSERT|REPLACE|UPDATE)\b", re.IGNORECASE)
_DDL = re.compile(r"\s*(?:CREATE|ALTER|DROP)\s", re.IGNORECASE)
_REPLACE_HEAD = re.compile(r"\s*REPLACE\b", re.IGNORECASE)


def _introducers(sql: str) -> str:
    """``_binary'…'`` (MySQL's introducer, which a VALUES row passes through as the
    client wrote it) as the literal's blob: ``X'<its UTF-8 bytes>'``."""
    if "_binary" not in sql and "_BINARY" not in sql:
        return sql

    def blob(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1)
        if m.group(2) is not None:
            return _blob_literal(m.group(2).replace("''", "'").encode("utf-8"))
        return m.group()

    return _INTRODUCER.sub(blob, sql)


def rewrite(raw: sqlite3.Connection, sql: str) -> str:
    """``sql`` with binary columns' written values and compared literals as BLOBs
    (module doc); unchanged when it names no binary column."""
    if _DDL.match(sql):
        return sql
    sql = _introducers(sql)
    if not _names:
        return sql
    low = sql.lower()
    if not any(name in low for name in _names):
        return sql
    return _cache.get_or_make(sql, lambda: _edited(raw, sql))


def _edited(raw: sqlite3.Connection, sql: str) -> str:
    decls = arith.declared_columns(raw, sql)
    if any(_DECL.match(d) for cols in decls.values() for d in cols.values()):
        return _edit(sql, decls)
    return sql


#: The comparisons of two operands, ``IS`` with them.
_COMPARISONS = (*sqlite_compare.COMPARISONS, exp.Is)


def _edit(sql: str, decls: arith.Decls) -> str:
    head = _REPLACE_HEAD.match(sql)
    text = sql if head is None else "INSERT OR REPLACE" + sql[head.end() :]
    try:
        tree = sqlglot.parse_one(text, read="sqlite")
        tokens = _DIALECT.tokenize(text)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return sql
    if isinstance(tree, exp.Command):
        return sql
    cols = arith._Columns(tree, decls)
    edits: dict[tuple[int, int], str] = {}

    def binary(node: exp.Expr) -> bool:
        node = _bare(node)
        if not isinstance(node, exp.Column):
            return False
        decl = cols.decl(node)
        return decl is not None and _DECL.match(decl) is not None

    def replace(node: exp.Expr, piece: Any) -> None:
        span = arith._span(text, tokens, node)
        if span is not None:
            edits[span] = piece(text[span[0] : span[1] + 1])

    def written(node: exp.Expr) -> None:
        bare = _bare(node)
        if isinstance(bare, exp.Null | exp.HexString | exp.Placeholder):
            return
        if isinstance(bare, exp.Literal):
            data = _literal_bytes(bare)
            replace(node, lambda _t, d=data: _blob_literal(d))
        elif not isinstance(bare, exp.Column) or not binary(bare):
            replace(node, lambda t: f"sg_binary({t})")

    if _WRITE.match(sql):
        for target, value in _assignments(tree, cols):
            if binary(target):
                written(value)
    assignments = arith._assignment_ids(tree)
    for node in tree.walk(bfs=False):
        operands = sqlite_compare.compared_operands(node, assignments, _COMPARISONS)
        if operands is None:
            continue
        if not any(binary(o) for o in operands):
            continue
        others = [o for o in operands if not binary(o)]
        numeric = [o for o in others if _number(o, cols)]
        if numeric and len(numeric) == len(
            [o for o in others if not isinstance(_bare(o), exp.Null)]
        ):
            for o in operands:
                if binary(o):
                    replace(o, lambda t: f"CAST({t} AS REAL)")
            continue
        for o in others:
            bare = _bare(o)
            if isinstance(bare, exp.Literal) and bare.is_string:
                data = bare.name.encode("utf-8")
                replace(o, lambda _t, d=data: _blob_literal(d))
            elif isinstance(bare, exp.Column):
                decl = cols.decl(bare)
                if decl is not None and arith._TEXT_DECL.match(decl):
                    replace(o, lambda t: f"CAST({t} AS BLOB)")
    if not edits:
        return sql
    out = text
    for (start, end), piece in sorted(edits.items(), reverse=True):
        out = out[:start] + piece + out[end + 1 :]
    if head is not None:
        out = sql[: head.end()] + out[len("INSERT OR REPLACE") :]
    return out


def _literal_bytes(node: exp.Literal) -> bytes:
    """The bytes MySQL stores for a literal: a string's UTF-8, a number's text as
    written — but an exponent literal is a DOUBLE, stored as MySQL prints it (``1e3``
    is ``1000``)."""
    text = node.name
    if not node.is_string and ("e" in text or "E" in text):
        try:
            value = float(text)
        except ValueError:
            return text.encode("utf-8")
        found = binary_value(value)
        assert found is not None
        return found
    return text.encode("utf-8")


def _bare(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _number(node: exp.Expr, cols: arith._Columns) -> bool:
    bare = _bare(node)
    if isinstance(bare, exp.Literal):
        return not bare.is_string
    if isinstance(bare, exp.Neg):
        return _number(bare.this, cols)
    if isinstance(bare, exp.Column):
        decl = cols.decl(bare)
        return decl is not None and arith._NUMBER_DECL.match(decl) is not None
    return False


def _assignments(tree: exp.Expr, cols: arith._Columns) -> list[tuple[exp.Expr, exp.Expr]]:
    """(target column, written value) of an INSERT's VALUES rows, an UPDATE's SET and
    an upsert's clause."""
    out: list[tuple[exp.Expr, exp.Expr]] = []
    if isinstance(tree, exp.Update):
        out += [(a.this, a.expression) for a in tree.expressions if isinstance(a, exp.EQ)]
    if not isinstance(tree, exp.Insert):
        return out
    conflict = tree.args.get("conflict")
    if isinstance(conflict, exp.OnConflict):
        out += [(a.this, a.expression) for a in conflict.expressions if isinstance(a, exp.EQ)]
    values = tree.expression
    if not isinstance(values, exp.Values):
        return out
    schema = tree.this
    if isinstance(schema, exp.Schema):
        names = [c.name for c in schema.expressions]
        table = schema.this
    else:
        table = schema
        names = []
    if not names and isinstance(table, exp.Table):
        found = cols.tables.get(table.alias_or_name.lower())
        names = list(found[2]) if found is not None else []
    targets = [
        exp.column(n, table=table.alias_or_name if isinstance(table, exp.Table) else None)
        for n in names
    ]
    for row in values.expressions:
        if isinstance(row, exp.Tuple):
            for target, value in zip(targets, row.expressions, strict=False):
                out.append((target, value))
    return out
