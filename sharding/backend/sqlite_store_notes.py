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
  MariaDB's 1406). A CHAR(n) drops trailing spaces without a note;
* for a DATE column, a date written with a time of day other than midnight
  (``'2024-01-02 10:00:00'``, ``20240105103000``).

A string literal written to a numeric column (an integer type, DECIMAL, DOUBLE,
FLOAT) is read as MariaDB reads it: its number after any leading spaces. Only spaces
after the number are ``Note 1265`` (``' 8 '``; no second note for a DECIMAL it rounds:
``'1.234 '`` is one note); anything else after a number is strict mode's error, and in
an ``INSERT IGNORE`` ``Warning 1265`` with the number stored (``'12x'`` is 12,
``'7.5x'`` into an INT 8, ``'1.234x'`` into a DECIMAL(6,2) 1.23 with its Note 1265
after the Warning): :func:`ignore_adjusted` writes the number in the literal's place
for the shard. A string with no number at all (``'abc'``, ``''``) stays the backend's
1235 under IGNORE (MariaDB's 1366 names the client's database and table, which a shard
statement does not know).

``N`` is the row of the statement's VALUES list (the coordinator makes it the client's
row when it split an INSERT over shards: :mod:`sharding.session_writes`). Values that are
expressions and shard statements longer than :data:`MAX_CHARS` give no note
(docs/refusals.md); an UPDATE's notes, and those of an upsert's update, come from its
rows (:mod:`sharding.backend.sqlite_write_warnings`; the coordinator writes an
``INSERT … SELECT``'s rows as VALUES). Cheap when there is nothing to note: a table
without such columns, or a text without a long fraction, a space before a closing
quote or (under IGNORE) a string that starts with a number, is not parsed.

Written by hand: a check of SQL literals against the shard file's declared types.
"""

from __future__ import annotations

import datetime
import re
import sqlite3
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlglot
from sqlglot import exp

from sharding.backend import sqlite_arithmetic as arith
from sharding.backend.sqlite_table_identity import unquote
from sharding.merge import conversion_notes

__all__ = ["DATE_ONLY", "TIME_WRITTEN", "ignore_adjusted", "insert_notes", "strict_error"]

Note = tuple[str, int, str]

_INSERT = re.compile(r"\s*(?:INSERT|REPLACE)\b", re.IGNORECASE)
_REPLACE_HEAD = re.compile(r"\s*REPLACE\b", re.IGNORECASE)
_DECIMAL = re.compile(r"\s*DECIMAL_S(\d+)\b", re.IGNORECASE)
#: The declared types of the numeric columns (:mod:`sharding.sql.ddl`'s: DECIMAL is
#: ``DECIMAL_S<scale>``, DOUBLE, FLOAT).
_NUMERIC = re.compile(
    r"\s*(?:(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?|DOUBLE|FLOAT|REAL)\b", re.IGNORECASE
)
#: MySQL's number at the start of a string (after its spaces: ASCII only).
_NUMBER_PREFIX = re.compile(
    r"[ \t\n\v\f\r]*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)
_MYSQL_SPACES = " \t\n\v\f\r"
#: A string literal that starts with a number and has more after it than a number's
#: characters (a cheap over-approximation: ``'12x'``, ``'2024-01-01 10:00'``).
_NUMBER_AND_MORE = re.compile(r"'\s*[+-]?\.?\d[\d.eE+-]*[^\d.eE+\-'][^']*'")
_IGNORE = "/* INSERT IGNORE */"
_VARCHAR = re.compile(r"\s*(?:NATIONAL\s+)?N?VARCHAR\s*\(\s*(\d+)\s*\)", re.IGNORECASE)
#: A space right before a closing quote (one followed by ``,`` or ``)``): a string
#: literal that ends with a space. (``, 'abc'`` has a space before an opening one.)
_SPACE_BEFORE_QUOTE = re.compile(r" '(?!')(?=\s*[,)])")
#: Statements longer than this give no notes: parsing a multi-megabyte INSERT to find
#: them would cost seconds (docs/refusals.md).
MAX_CHARS = 100_000
_EXPONENT = re.compile(r"\d[eE][-+]?\d")
_NAME = r'(?:"(?:[^"]|"")+"|\w+)'
#: The table an INSERT/REPLACE or UPDATE writes (``schema.table`` of a shard statement).
_TARGET = re.compile(
    rf"\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?)\s+"
    rf"({_NAME})\s*\.\s*({_NAME})",
    re.IGNORECASE,
)
#: The declared types MariaDB's 1366 calls ``double`` (integers: ``integer``).
_FLOATING = re.compile(r"\s*(?:DOUBLE|FLOAT|REAL)\b", re.IGNORECASE)
#: A DATE column (not DATETIME) as the shard file declares it.
DATE_ONLY = re.compile(r"\s*DATE\b", re.IGNORECASE)
#: A date written with a time of day: ``'2024-01-02 10:…'``, ``…T10``, 14 digits.
TIME_WRITTEN = re.compile(r"\d[ T]\d|\d{14}")


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
                continue
            if _NUMERIC.match(decl):
                limits[name] = ("number", 0)
                continue
            if DATE_ONLY.match(decl):
                limits[name] = ("date", 0)
        if limits:
            return f"{key[0]}.{key[1]}", limits
    return None


def _may_note(sql: str, limits: dict[str, tuple[str, int]]) -> bool:
    kinds = {kind for kind, _ in limits.values()}
    if _SPACE_BEFORE_QUOTE.search(sql):
        return True  # a VARCHAR cut, a number followed by spaces
    if "date" in kinds and TIME_WRITTEN.search(sql):
        return True  # a DATE given a time of day
    if kinds - {"varchar"} and _IGNORE in sql and _NUMBER_AND_MORE.search(sql):
        return True  # INSERT IGNORE's '12x'

    scales = [n for kind, n in limits.values() if kind == "decimal"]
    if not scales:
        return False
    if _EXPONENT.search(sql):
        return True
    # a literal (or a quoted number) with more decimals than the smallest scale
    return re.search(rf"\d\.\d{{{min(scales) + 1},}}", sql) is not None


def _time_cut(node: exp.Expr) -> bool:
    """Whether a literal stored in a DATE column loses a time of day other than
    midnight (``'2024-01-02 10:00:00'``, ``20240105103000``: MariaDB's Note 1265;
    ``'2024-01-02 00:00:00'`` none, measured on 10.11)."""
    from sharding.backend.sqlite_temporal import canonical
    from sharding.errors import NotSupported

    try:
        read = canonical(node)
    except NotSupported:
        return False  # no valid date: the store's own error or zero date
    if read is None:
        return False
    value, has_time, _shown = read
    return has_time and value.time() != datetime.time()


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


def _string_number(text: str) -> tuple[str, str]:
    """How MySQL reads the string ``text`` as a number: ("clean", number), ("spaces",
    number) when only spaces follow it, ("more", number) when anything else does,
    ("none", "") without a number."""
    m = _NUMBER_PREFIX.match(text)
    if m is None:
        return "none", ""
    rest = text[m.end() :]
    if not rest:
        return "clean", m.group(1)
    return ("spaces" if not rest.strip(_MYSQL_SPACES) else "more"), m.group(1)


def _rows(raw: sqlite3.Connection, sql: str) -> tuple[list[str], list[list[exp.Expr]]] | None:
    """The column names and the VALUES rows of the INSERT/REPLACE ``sql``, or None."""
    head = _REPLACE_HEAD.match(sql)  # sqlglot's SQLite reader knows INSERT OR REPLACE
    text = sql if head is None else "INSERT OR REPLACE" + sql[head.end() :]
    try:
        tree = sqlglot.parse_one(text, read="sqlite")
    except sqlglot.errors.ParseError:
        return None
    values = tree.expression if isinstance(tree, exp.Insert) else None
    if not isinstance(values, exp.Values):
        return None
    target = tree.this
    if isinstance(target, exp.Schema):
        names = [c.name for c in target.expressions]
    else:
        names = list(arith.declared_columns(raw, sql).get(_key(target), {}))
    rows = [
        list(row.expressions) if isinstance(row, exp.Tuple) else [row] for row in values.expressions
    ]
    return names, rows


def insert_notes(raw: sqlite3.Connection, sql: str) -> list[Note]:
    """The 1265 notes MariaDB gives for ``sql`` (module doc); [] for any other."""
    if len(sql) > MAX_CHARS or not _INSERT.match(sql) or "VALUES" not in sql.upper():
        return []
    found = _limits(raw, sql)
    if found is None or not _may_note(sql, found[1]):
        return []
    limits = found[1]
    parsed = _rows(raw, sql)
    if parsed is None:
        return []
    names, rows = parsed
    ignore = _IGNORE in sql
    notes: list[Note] = []
    for number, items in enumerate(rows, start=1):
        for name, value in zip(names, items, strict=False):
            limit = limits.get(name.lower())
            if limit is None:
                continue
            kind, n = limit
            if kind == "date":
                if _time_cut(value):
                    notes.append(
                        ("Note", 1265, f"Data truncated for column '{name}' at row {number}")
                    )
                continue
            if kind != "varchar" and isinstance(value, exp.Literal) and value.is_string:
                state, prefix = _string_number(value.name)
                where = f"for column '{name}' at row {number}"
                if state == "spaces":
                    notes.append(("Note", 1265, f"Data truncated {where}"))
                elif state == "more" and ignore:
                    notes.append(("Warning", 1265, f"Data truncated {where}"))
                    if kind == "decimal" and _rounded(exp.Literal.number(prefix), n):
                        notes.append(("Note", 1265, f"Data truncated {where}"))
                if state != "clean":
                    continue
            if kind == "number":
                continue
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


def strict_error(raw: sqlite3.Connection, sql: str, column: str) -> tuple[int, str] | None:
    """MariaDB's strict-mode error for the string literal the INSERT … VALUES or
    UPDATE ``sql`` writes to the numeric ``column`` (which SQLite's check refused):
    ``1366 Incorrect integer value: 'abc' for column `db`.`t`.`c` at row N`` for a
    string with no number, ``1265 Data truncated for column 'c' at row N`` for one
    with more than a number (``'12abc'``); None when the literal is not found. The
    shard's names are given; the coordinator writes the logical ones."""
    target = _TARGET.match(sql)
    if target is None:
        return None
    schema, table = (unquote(n) for n in target.groups()[1:])
    decl = arith.declared_columns(raw, sql).get((schema, table), {}).get(column.lower())
    if decl is None:
        return None
    if _DECIMAL.match(decl):
        word = "decimal"
    elif _FLOATING.match(decl):
        word = "double"
    elif _NUMERIC.match(decl):
        word = "integer"
    else:
        return None
    for number, value in _written(raw, sql, column):
        if not (isinstance(value, exp.Literal) and value.is_string):
            continue
        state, _prefix = _string_number(value.name)
        if state == "none":
            shown = conversion_notes.printable(value.name)
            return 1366, (
                f"Incorrect {word} value: '{shown}' for column "
                f"`{schema}`.`{table}`.`{column}` at row {number}"
            )
        if state == "more":
            return 1265, f"Data truncated for column '{column}' at row {number}"
    return None


def _written(raw: sqlite3.Connection, sql: str, column: str) -> list[tuple[int, exp.Expr]]:
    """(row number, value) of each value ``sql`` writes to ``column``: an INSERT's
    VALUES rows, an UPDATE's one assignment (row 1: the shard's first row)."""
    if _INSERT.match(sql):
        parsed = _rows(raw, sql)
        if parsed is None:
            return []
        names, rows = parsed
        lowered = [n.lower() for n in names]
        if column.lower() not in lowered:
            return []
        at = lowered.index(column.lower())
        return [(i, row[at]) for i, row in enumerate(rows, start=1) if at < len(row)]
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return []
    if not isinstance(tree, exp.Update):
        return []
    return [
        (1, a.expression)
        for a in tree.expressions
        if isinstance(a, exp.EQ)
        and isinstance(a.this, exp.Column)
        and a.this.name.lower() == column.lower()
    ]


def ignore_adjusted(raw: sqlite3.Connection, sql: str) -> str:
    """``sql``, an INSERT IGNORE, with each string literal of its VALUES that MariaDB
    stores as the number it starts with (``'12x'`` into a numeric column: module doc)
    written as that number."""
    if (
        _IGNORE not in sql
        or len(sql) > MAX_CHARS
        or not _INSERT.match(sql)
        or not _NUMBER_AND_MORE.search(sql)
    ):
        return sql
    found = _limits(raw, sql)
    if found is None or not _may_note(sql, found[1]):
        return sql
    limits = found[1]
    parsed = _rows(raw, sql)
    if parsed is None:
        return sql
    names, rows = parsed
    wanted: dict[tuple[int, int], str] = {}
    for r, items in enumerate(rows):
        for c, (name, value) in enumerate(zip(names, items, strict=False)):
            limit = limits.get(name.lower())
            if limit is None or limit[0] == "varchar":
                continue
            if isinstance(value, exp.Literal) and value.is_string:
                state, prefix = _string_number(value.name)
                if state == "more":
                    wanted[(r, c)] = prefix
    if not wanted:
        return sql
    edits: list[tuple[int, int, str]] = []
    for (r, c), start, end in _value_spans(sql):
        number = wanted.get((r, c))
        if number is not None:
            edits.append((start, end, _number_literal(number)))
    if len(edits) != len(wanted):
        return sql  # not found as written: SQLite's own answer (a 1235)
    out = sql
    for start, end, text in sorted(edits, reverse=True):
        out = out[:start] + text + out[end:]
    return out


def _number_literal(prefix: str) -> str:
    """MySQL's number text as a SQLite literal (``5.`` and ``.5`` spelled out)."""
    mantissa, _, exponent = prefix.lower().partition("e")
    if mantissa.lstrip("+-").startswith("."):
        sign = mantissa[0] if mantissa[0] in "+-" else ""
        mantissa = f"{sign}0{mantissa.lstrip('+-')}"
    if mantissa.endswith("."):
        mantissa += "0"
    return mantissa + (f"e{exponent}" if exponent else "")


def _value_spans(sql: str) -> list[tuple[tuple[int, int], int, int]]:
    """((row, column), start, end) of each VALUES value of ``sql`` that is one string
    literal, by sqlglot's tokens."""
    tokens = sqlglot.Dialect.get_or_raise("sqlite").tokenize(sql)
    kind = sqlglot.TokenType
    at = next((i for i, t in enumerate(tokens) if t.token_type == kind.VALUES), None)
    if at is None:
        return []
    spans: list[tuple[tuple[int, int], int, int]] = []
    row, column, depth = -1, 0, 0
    value: list[Any] = []

    def done() -> None:
        if len(value) == 1 and value[0].token_type == kind.STRING:
            tok = value[0]
            if sql[tok.start] == "'" and sql[tok.end] == "'":
                spans.append(((row, column), tok.start, tok.end + 1))

    for tok in tokens[at + 1 :]:
        t = tok.token_type
        if depth == 0:
            if t == kind.L_PAREN:
                depth, row, column, value = 1, row + 1, 0, []
                continue
            if t == kind.COMMA:
                continue
            break
        if t == kind.L_PAREN:
            depth += 1
        elif t == kind.R_PAREN:
            depth -= 1
            if depth == 0:
                done()
                continue
        elif t == kind.COMMA and depth == 1:
            done()
            column, value = column + 1, []
            continue
        value.append(tok)
    return spans


def _key(table: exp.Expr) -> tuple[str, str]:
    if isinstance(table, exp.Table):
        return (table.text("db").lower(), table.name.lower())
    return ("", "")
