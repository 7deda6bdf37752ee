"""ENUM columns in numeric context on SQLite shards (issue 15).

MySQL gives an ENUM value's *index* wherever a number is wanted: ``size + 0``,
``size * 1``, ``-size``, ``SUM(size)``, ``AVG(size)``, ``size / 2``, ``size DIV 1``,
``ABS(size)``, ``ROUND(size)``, ``CAST(size AS SIGNED)`` (measured on MariaDB 10.11).
A SQLite shard stores the label (:mod:`sharding.backend.sqlite_mysql`, ENUM), and
SQLite's arithmetic on text is 0 — a silent wrong answer.

Its own module because it is the one piece of the emulation that needs the *shard
file's schema* at execution time: the static translation
(:func:`sharding.backend.sqlite_mysql.translate_for_sqlite`) sees no column types, and
the planner tags only the ENUM columns it orders by. So before a statement runs, the
backend asks :func:`rewrite`:

* a cheap filter first — no ENUM column name (any seen in a schema this process
  attached or created, :func:`learn`) in the statement text: nothing to do;
* else the statement is parsed, its tables' ENUM columns read from the schema (the
  labels are in the column's collation name), and every ENUM column that is an
  operand of arithmetic, of a numeric function or aggregate, or of a numeric CAST
  becomes ``(CASE col WHEN 'label' THEN index … END)`` (the stored label is
  canonical) — edited in the statement's text at the parser's offsets, so nothing
  else of the statement is re-rendered.
  Comparisons, ``MIN``/``MAX``, ORDER BY, GROUP BY and string functions keep the label,
  as in MySQL;
* a write statement (INSERT/UPDATE/DELETE text carries markers the backend reads) is
  not rewritten: it is refused with 1235 naming the column — never SQLite's 0.

Results are cached per statement text (shard statements repeat).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict

import sqlglot
from sqlglot import exp

from sharding.errors import NotSupported

_MARK = "sg_enumc$"
#: ``"col" SG_ENUM_TEXT … COLLATE "sg_enumc$<base>$<hex labels>"`` in a table's SQL.
_COLUMN = re.compile(
    r'"((?:[^"]|"")+)"\s+SG_ENUM_TEXT\b.*?COLLATE\s+"(sg_enumc\$\w+\$[0-9a-f]*)"', re.DOTALL
)
_LABELS = re.compile(r"sg_enumc\$\w+\$([0-9a-f]*)")

#: Lower-case names of every ENUM column seen: the filter of :func:`rewrite`.
_names: set[str] = set()
_lock = threading.Lock()
_cache: OrderedDict[str, str | None] = OrderedDict()
_CACHE_SIZE = 512


def _labels(collation: str) -> tuple[str, ...] | None:
    m = _LABELS.match(collation)
    if m is None:
        return None
    try:
        return tuple(bytes.fromhex(m.group(1)).decode().split("\x00"))
    except ValueError:
        return None


def enum_columns(table_sql: str) -> dict[str, tuple[str, ...]]:
    """Lower-case column name → labels, for the ENUM columns of one CREATE TABLE text."""
    out: dict[str, tuple[str, ...]] = {}
    for m in _COLUMN.finditer(table_sql):
        labels = _labels(m.group(2))
        if labels is not None:
            out[m.group(1).replace('""', '"').lower()] = labels
    return out


def learn(text: str) -> None:
    """Remember the ENUM column names in ``text`` (a schema or a DDL statement)."""
    if _MARK not in text:
        return
    names = set(enum_columns(text))
    if names - _names:
        with _lock:
            _names.update(names)
            _cache.clear()


_NUMERIC_PARENTS: tuple[type[exp.Expr], ...] = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.IntDiv,
    exp.Neg,
    exp.BitwiseAnd,
    exp.BitwiseOr,
    exp.BitwiseXor,
    exp.BitwiseNot,
    exp.BitwiseLeftShift,
    exp.BitwiseRightShift,
    exp.Sum,
    exp.Avg,
    exp.Abs,
    exp.Round,
    exp.Trunc,
    exp.Floor,
    exp.Ceil,
    exp.Sign,
    exp.Sqrt,
    exp.Pow,
    exp.Exp,
    exp.Ln,
    exp.Log,
    exp.Stddev,
    exp.StddevPop,
    exp.StddevSamp,
    exp.Variance,
    exp.VariancePop,
)
#: Registered functions (sqlite_mysql) whose arguments are numbers.
_NUMERIC_FUNCTIONS = frozenset(
    {
        "sg_signed",
        "sg_unsigned",
        "sg_intdiv",
        "sg_div",
        "sg_cast_decimal",
        # MySQL's bit operators (sqlite_mysql._BIT_OPERATORS): ``size | 0`` is the index's
        "sg_bitnot",
        "sg_bitxor",
        "sg_bitand",
        "sg_bitor",
        "sg_shl",
        "sg_shr",
        "mod",
        "truncate",
        "round",
        "abs",
        "floor",
        "ceil",
        "ceiling",
        "sign",
        "sqrt",
        "power",
        "pow",
        "exp",
        "ln",
        "log",
        "log2",
        "log10",
    }
)
_NUMERIC_TYPES = frozenset(exp.DataType.NUMERIC_TYPES)


def _numeric_context(node: exp.Column) -> bool:
    parent = node.parent
    while isinstance(parent, exp.Paren):
        parent = parent.parent
    if isinstance(parent, _NUMERIC_PARENTS):
        return True
    if isinstance(parent, exp.Anonymous):
        return parent.name.lower() in _NUMERIC_FUNCTIONS
    if isinstance(parent, exp.Cast | exp.TryCast):
        to = parent.args.get("to")
        return isinstance(to, exp.DataType) and to.this in _NUMERIC_TYPES
    return False


def _index(text: str, labels: tuple[str, ...]) -> str:
    whens = " ".join(
        f"WHEN '{label.replace(chr(39), chr(39) * 2)}' THEN {i}"
        for i, label in enumerate(labels, 1)
    )
    return f"(CASE {text} {whens} END)"


def _span(column: exp.Column) -> tuple[int, int] | None:
    """Where the column's text is in the statement (the parser's identifier offsets)."""
    starts, ends = [], []
    for ident in column.find_all(exp.Identifier):
        if "start" not in ident.meta or "end" not in ident.meta:
            return None
        starts.append(int(ident.meta["start"]))
        ends.append(int(ident.meta["end"]))
    return (min(starts), max(ends) + 1) if starts else None


def _table_enums(raw: sqlite3.Connection, table: exp.Table) -> dict[str, tuple[str, ...]]:
    schema = table.text("db")
    where = f'"{schema}".sqlite_master' if schema else "sqlite_master"
    row = raw.execute(
        f"SELECT sql FROM {where} WHERE type = 'table' AND name = ?", (table.name,)
    ).fetchone()
    return enum_columns(row[0]) if row and row[0] else {}


def _table_columns(raw: sqlite3.Connection, table: exp.Table) -> set[str]:
    schema = table.text("db")
    prefix = f'"{schema}".' if schema else ""
    name = table.name.replace('"', '""')
    return {str(r[1]).lower() for r in raw.execute(f'PRAGMA {prefix}table_info("{name}")')}


def rewrite(raw: sqlite3.Connection, sql: str, *, write: bool) -> str:
    """``sql`` with ENUM columns in numeric context replaced by their index (module
    doc); 1235 for such a write statement."""
    if not _names:
        return sql
    lowered = sql.lower()
    if not any(n in lowered for n in _names):
        return sql
    cached = _cache.get(sql, "")
    if cached != "":
        return sql if cached is None else cached
    result = _rewrite(raw, sql, write=write)
    with _lock:
        _cache[sql] = None if result == sql else result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _rewrite(raw: sqlite3.Connection, sql: str, *, write: bool) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return sql  # SQLite reports its own error, or it is no SELECT we can read
    candidates = [
        c for c in tree.find_all(exp.Column) if c.name.lower() in _names and _numeric_context(c)
    ]
    if not candidates:
        return sql
    tables: dict[str, exp.Table] = {}
    for t in tree.find_all(exp.Table):
        tables[(t.alias_or_name).lower()] = t
    enums: dict[str, dict[str, tuple[str, ...]]] = {}
    columns: dict[str, set[str]] = {}

    def enums_of(key: str) -> dict[str, tuple[str, ...]]:
        if key not in enums:
            enums[key] = _table_enums(raw, tables[key])
        return enums[key]

    edits: list[tuple[int, int, tuple[str, ...]]] = []
    for column in candidates:
        name = column.name.lower()
        qualifier = column.table.lower()
        if qualifier:
            owners = [qualifier] if qualifier in tables else []
        else:
            owners = []
            for key, table in tables.items():
                if key not in columns:
                    columns[key] = _table_columns(raw, table)
                if name in columns[key]:
                    owners.append(key)
        if len(owners) != 1:
            continue  # a derived table's column, or ambiguous: SQLite decides
        labels = enums_of(owners[0]).get(name)
        if labels is None:
            continue
        if write:
            raise NotSupported(
                f"ENUM column '{column.name}' in arithmetic in a write statement on the "
                "embedded SQLite default"
            )
        span = _span(column)
        if span is None:
            raise NotSupported(
                f"ENUM column '{column.name}' in arithmetic on the embedded SQLite default"
            )
        edits.append((*span, labels))
    # Edit the text, not the tree: re-rendering would be sqlglot's SQLite, whose
    # translation of the registered MySQL functions is lossy (sqlite_mysql).
    for start, end, labels in sorted(edits, reverse=True):
        sql = sql[:start] + _index(sql[start:end], labels) + sql[end:]
    return sql
