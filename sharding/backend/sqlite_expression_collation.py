"""MySQL's collation of a string expression that is no column, on SQLite shards (issue 15).

A shard table's text columns are declared with MySQL's collations, so SQLite compares
``status = 'paid'`` as MySQL does. But SQLite applies a collation only where an operand
*is* a column (or carries ``COLLATE``); anything else is BINARY, without PAD SPACE.
MySQL derives a collation for every string expression: a function of one text column
keeps that column's (``UPPER(s)``, ``CONCAT(s, '')``, ``TRIM(s)``, ``COALESCE(s, 'x')``,
``IF``/``CASE`` results, …: derivation *implicit*), and a literal has the connection's
(``utf8mb4_general_ci``: *coercible*). So on the embedded default ``'PAID' = 'paid'``
was false (every row filtered out), ``MAX(UPPER(s))`` was ``'É'`` rather than
``'ZEBRA'``, ``COUNT(DISTINCT LOWER(s))`` counted ``'paid'`` and ``'paid  '`` twice,
``CASE LOWER(s) WHEN 'PAID'`` never matched, and the registered ``GREATEST``/``LEAST``/
``FIELD``/``LOCATE`` (which fold as the default collation) folded a ``utf8mb4_bin``
column's strings. Comparisons with a function operand are MySQL's already
(:mod:`sharding.backend.sqlite_compare`), and so are ``GROUP BY``/``ORDER BY`` terms
(:func:`sharding.backend.sqlite_decimal_results._grouped_collations`). Here, for the
rest, the shard statement's text is edited (never re-rendered: sqlglot's SQLite output
rewrites ``GREATEST``/``LOCATE``) with the collation MySQL derives:

* a comparison (``=``, ``<>``, ``<``, …, ``<=>``, ``IN``, ``BETWEEN``) whose operands are
  all string literals: ``('PAID') COLLATE utf8mb4_general_ci = 'paid'``;
* a comparison of two text columns of different collations (``a = b``, ``a < b``,
  ``a IN (b)``, ``a LIKE b``): MySQL's coercion — the binary collation of the two, on
  the left operand (SQLite compares with the left column's); any other pair is MySQL's
  error 1267 (``Illegal mix of collations``). Such a statement is parsed when its
  tables declare two collations and it compares something;
* a simple ``CASE x WHEN …`` whose operand is no column: ``CASE (x) COLLATE c WHEN``;
* ``MIN``/``MAX`` of an expression, ``COUNT(DISTINCT …)`` and ``SELECT DISTINCT`` items:
  the expression gets ``COLLATE c`` (SQLite's aggregates and DISTINCT use it);
* ``LIKE`` whose matched side is a function of a binary-collation column: its exact
  characters, ``CAST((x) AS BLOB)`` (:mod:`sharding.backend.sqlite_like_collation` does
  the bare column);
* ``GREATEST``/``LEAST``/``FIELD``/``LOCATE``/``INSTR``/``STRCMP`` whose strings have
  another collation than the default: ``sg_collated_<name>('c', …)`` (:func:`functions`).

The collation is the one MySQL derives statically: a text column's, through the
functions that keep it (:data:`sharding.backend.sqlite_compare._KEEPS_COLLATION`), over a
literal's; an expression whose type the shard does not know (a subquery, a function not
listed, an ENUM) is left as it is. Two column collations in one of these places are
MySQL's coercion: the binary one of the two; any other pair is a 1235 (MySQL's 1267),
and so is ``LOCATE``/``INSTR`` under a collation other than the default's and the
binary ones (not measured). An
``INSERT … VALUES`` (no ``SELECT``) is not looked at: its text may be megabytes, and a
comparison of literals in a written row is no query's filter.

Written by hand: a rewrite specific to the statements this coordinator renders. Cheap
when there is nothing to do: a text without one of the words above or a string literal
before a comparison operator is not parsed; rewritten texts are cached.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import sqlglot
from sqlglot import exp

from sharding.backend import sqlite_arithmetic as arith
from sharding.backend import sqlite_compare, sqlite_mysql
from sharding.backend.sqlite_scan import SMALL, shrink_lists
from sharding.backend.sqlite_text_cache import TextCache
from sharding.errors import NotSupported
from sharding.merge import mysql_collations

__all__ = ["forget", "functions", "rewrite"]

DEFAULT_COLLATION = sqlite_compare.DEFAULT_COLLATION

#: A statement that may have something to rewrite (the words, or a string literal
#: followed by a comparison operator).
_MAY = re.compile(
    r"\b(?:MIN|MAX|DISTINCT|CASE|LIKE|GREATEST|LEAST|FIELD|LOCATE|INSTR|STRCMP)\b"
    r"|'\s*(?:=|<|>|!=|IN\b|IS\b|NOT\b|BETWEEN\b)",
    re.IGNORECASE,
)
_INSERT_VALUES = re.compile(r"\s*(?:INSERT|REPLACE)\b", re.IGNORECASE)
_SELECT = re.compile(r"\bSELECT\b", re.IGNORECASE)
_CALL_HEAD = re.compile(r"(\w+)\s*\(")
_COLLATE = re.compile(r"\bCOLLATE\s+\"?(\w+)\"?", re.IGNORECASE)

#: Registered calls taking their strings' collation first (:func:`functions`).
_COLLATED_CALLS = {
    "greatest": "sg_collated_greatest",
    "least": "sg_collated_least",
    "field": "sg_collated_field",
    "locate": "sg_collated_locate",
    "instr": "sg_collated_instr",
    "position": "sg_collated_locate",
    "strcmp": "sg_collated_strcmp",
}

_cache = TextCache()

#: One text edit: (position, order at that position, text inserted, characters replaced).
Edit = tuple[int, int, str, int]


def forget() -> None:
    """Drop the rewritten statements (a table's definition may have changed)."""
    _cache.clear()


def rewrite(raw: sqlite3.Connection, sql: str) -> str:
    """``sql`` with MySQL's collation given to the string expressions SQLite would
    compare BINARY (module doc); unchanged when there is none."""
    if _INSERT_VALUES.match(sql) is not None and _SELECT.search(sql) is None:
        return sql
    if _MAY.search(sql) is None and not _mixed_collations(raw, sql):
        return sql
    return _cache.get_or_make(sql, lambda: _rewrite(sql, arith.declared_columns(raw, sql)))


def _mixed_collations(raw: sqlite3.Connection, sql: str) -> bool:
    """Whether the statement's tables declare text columns of two collations (and the
    statement compares something): two of its columns may be compared with each other."""
    if not any(op in sql for op in "=<>") and " IN " not in sql.upper():
        return False
    # A long IN list of plain values names no table: cut to one value first (a table
    # scan of a 100,000-value list held the GIL ~50 ms per shard statement).
    text = shrink_lists(sql) if len(sql) > SMALL else sql
    found: set[str] = set()
    for columns in arith.declared_columns(raw, text).values():
        for decl in columns.values():
            if arith._TEXT_DECL.match(decl) is not None:
                m = _COLLATE.search(decl)
                found.add(m.group(1).lower() if m else DEFAULT_COLLATION)
    return len(found) > 1


def _rewrite(sql: str, decls: arith.Decls) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
        tokens = arith._DIALECT.tokenize(sql)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return sql
    if isinstance(tree, exp.Command):
        return sql
    cols = arith._Columns(tree, decls)
    edits: list[Edit] = []
    depth = _depths(tree)
    for node, collation in _collated(tree, cols):
        edits += _wrap(sql, tokens, node, depth(node), f") COLLATE {collation}", "(")
    for node in _binary_likes(tree, cols):
        edits += _wrap(sql, tokens, node, depth(node), ") AS BLOB)", "CAST((")
    for node, collation in _collated_calls(tree, cols):
        edits.append(_rename(sql, tokens, node, collation))
    return _apply(sql, edits) if edits else sql


# ---------------------------------------------------------------------- derivation
def _bare(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _column_collation(node: exp.Column, cols: arith._Columns) -> str | None:
    """A text column's declared collation (None: no text column the shard knows)."""
    decl = cols.decl(node)
    if decl is None or arith._TEXT_DECL.match(decl) is None:
        return None
    m = _COLLATE.search(decl)
    return m.group(1).lower() if m else DEFAULT_COLLATION


def _neutral(node: exp.Expr, cols: arith._Columns) -> bool:
    """A function argument with no say in its result's collation: NULL or a number."""
    node = _bare(node)
    if isinstance(node, exp.Null):
        return True
    if isinstance(node, exp.Literal):
        return not node.is_string
    return arith._number_kind(node, cols) is not None


def _string_collations(node: exp.Expr, cols: arith._Columns, out: set[str]) -> bool:
    """Whether ``node`` is a string expression whose collation MySQL derives
    statically (a literal, a text column, a function that keeps its strings'
    collation); the collations of the columns it keeps are added to ``out``."""
    node = _bare(node)
    if isinstance(node, exp.Literal):
        return bool(node.is_string)
    if isinstance(node, exp.Column):
        name = _column_collation(node, cols)
        if name is not None:
            out.add(name)
        return name is not None
    if isinstance(node, exp.Subquery | exp.Collate) or arith._number_kind(node, cols):
        return False
    if sqlite_compare._name(node) not in sqlite_compare._KEEPS_COLLATION and not isinstance(
        node, exp.Concat | exp.DPipe
    ):
        return False
    if isinstance(node, exp.Case | exp.If | exp.Nullif):
        args = sqlite_compare._branches(node)
    else:
        args = list(node.iter_expressions())
    strings = 0
    for arg in args:
        if _neutral(arg, cols):
            continue
        if not _string_collations(arg, cols, out):
            return False
        strings += 1
    return strings > 0


def _collation(nodes: list[exp.Expr], cols: arith._Columns) -> str | None:
    """The collation MySQL compares the strings ``nodes`` with (None: one is no string
    whose collation is known statically); two column collations: 1235."""
    found: set[str] = set()
    for node in nodes:
        if not _string_collations(node, cols, found):
            return None
    if len(found) > 1:
        coerced = mysql_collations.implicit_coercion(found)  # the binary one of two
        if coerced is not None:
            return coerced
        raise NotSupported(
            f"strings of the collations {', '.join(sorted(found))} compared on the SQLite "
            "default (MySQL's coercion of two column collations); COLLATE one side"
        )
    return next(iter(found), DEFAULT_COLLATION)


# ---------------------------------------------------------------------- what to edit
def _literal_comparison(node: exp.Expr, assignments: set[int]) -> list[exp.Expr] | None:
    """The operands of a comparison of string literals only (None: another node)."""
    operands = sqlite_compare.compared_operands(node, assignments)
    if operands is None:
        return None
    for operand in operands:
        bare = _bare(operand)
        if not (isinstance(bare, exp.Literal) and bare.is_string):
            return None
    return operands


def _distinct_items(node: exp.Expr) -> list[exp.Expr]:
    """The expressions a ``DISTINCT`` compares: an aggregate's, a select's items."""
    if isinstance(node, exp.Distinct) and isinstance(node.parent, exp.AggFunc):
        return list(node.expressions)
    if isinstance(node, exp.Select) and node.args.get("distinct") is not None:
        return [item.unalias() for item in node.expressions]
    return []


def _column_comparison(
    node: exp.Expr, cols: arith._Columns, assignments: set[int]
) -> tuple[exp.Expr, str] | None:
    """A comparison of text columns of two collations: the operand to give ``COLLATE``
    and MySQL's collation for it — the binary one of the two (MySQL's coercion of two
    implicit collations of one character set: ``general_ci_col = bin_col`` compares
    binary, measured on MariaDB 10.11); any other pair is MySQL's error 1267. SQLite
    compares with the left column's collation."""
    operands = sqlite_compare.compared_operands(node, assignments)
    if operands is None or len(operands) < 2:
        return None
    found: dict[str, None] = {}
    for operand in operands:
        bare = _bare(operand)
        if not isinstance(bare, exp.Column):
            return None
        collation = _column_collation(bare, cols)
        if collation is None:
            return None
        found[collation] = None
    if len(found) < 2:
        return None
    names = list(found)
    coerced = mysql_collations.implicit_coercion(names)
    if coerced is not None and all(c.startswith("utf8mb4") for c in names):
        return operands[0], coerced
    raise mysql_collations.illegal_mix(names[0], names[1], _operation(node))


def _operation(node: exp.Expr) -> str:
    """MySQL's name of a comparison in its error 1267."""
    if isinstance(node, exp.Is):
        return "<=>"  # SQLite's parse of ``<=>``
    if isinstance(node, exp.In | exp.Between):
        return type(node).__name__.lower()
    return sqlite_compare._BINARY.get(type(node), "=")


def _collated(tree: exp.Expr, cols: arith._Columns) -> Iterator[tuple[exp.Expr, str]]:
    """Each expression to give ``COLLATE`` and the collation (module doc)."""
    assignments = arith._assignment_ids(tree)
    for node in tree.walk(bfs=False):
        operands = _literal_comparison(node, assignments)
        if operands is not None:
            yield operands[0], DEFAULT_COLLATION
            continue
        mixed = _column_comparison(node, cols, assignments)
        if mixed is not None:
            yield mixed
            continue
        if isinstance(node, exp.Case) and node.this is not None:
            operand = _bare(node.this)
            if isinstance(operand, exp.Column | exp.Collate):
                continue
            whens = [i.this for i in node.args.get("ifs") or []]
            collation = _collation([node.this, *whens], cols)
            if collation is not None:
                yield node.this, collation
            continue
        if isinstance(node, exp.Min | exp.Max) and not node.expressions:
            targets = [node.this]
        else:
            targets = _distinct_items(node)
        for target in targets:
            if isinstance(_bare(target), exp.Column | exp.Collate | exp.Literal):
                continue
            collation = _collation([target], cols)
            if collation is not None:
                yield target, collation


def _binary_likes(tree: exp.Expr, cols: arith._Columns) -> Iterator[exp.Expr]:
    """The matched side of each ``LIKE`` that is a function of binary-collation
    strings: MySQL matches its exact characters."""
    for like in tree.find_all(exp.Like):
        side = _bare(like.this)
        if isinstance(side, exp.Column | exp.Collate | exp.Literal):
            continue
        collation = _collation([side], cols)
        if collation is not None and collation.endswith("_bin"):
            yield like.this


def _call_strings(node: exp.Expr) -> list[exp.Expr] | None:
    """The string operands of a registered call that folds as the default collation
    (``GREATEST``, ``LEAST``, ``FIELD``, ``LOCATE``/``INSTR``); None for another node."""
    if isinstance(node, exp.Greatest | exp.Least):
        return [node.this, *node.expressions]
    if isinstance(node, exp.StrPosition):
        return [node.this, node.args["substr"]]
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("field", "strcmp"):
        return list(node.expressions)
    return None


def _collated_calls(tree: exp.Expr, cols: arith._Columns) -> Iterator[tuple[exp.Expr, str]]:
    """Each registered call whose strings have another collation than the default."""
    for node in tree.walk(bfs=False):
        strings = _call_strings(node)
        if strings is None:
            continue
        found: set[str] = set()
        considered = [s for s in strings if not _neutral(s, cols)]
        if not all(_string_collations(s, cols, found) for s in considered):
            continue
        collation = _collation(considered, cols) if considered else None
        if collation is None or collation == DEFAULT_COLLATION:
            continue
        if isinstance(node, exp.StrPosition) and not collation.endswith("_bin"):
            raise NotSupported(
                f"LOCATE/INSTR under the collation {collation} on the SQLite default "
                "(its matching is not modelled); COLLATE utf8mb4_general_ci or _bin"
            )
        yield node, collation


# ---------------------------------------------------------------------- text edits
def _depths(tree: exp.Expr) -> Callable[[exp.Expr], int]:
    levels: dict[int, int] = {}
    for node in tree.walk(bfs=False):  # pre-order: a parent before its children
        levels[id(node)] = 0 if node.parent is None else levels.get(id(node.parent), 0) + 1
    return lambda node: levels.get(id(node), 0)


def _span(text: str, tokens: list[Any], node: exp.Expr) -> tuple[int, int]:
    span = arith._span(text, tokens, node)
    if span is None:
        raise NotSupported(
            f"the expression {node.sql(dialect='mysql')[:200]} on the SQLite default (its "
            "collation is MySQL's only once rewritten, in a form the shard cannot rewrite)"
        )
    return span


def _wrap(
    text: str, tokens: list[Any], node: exp.Expr, depth: int, close: str, head: str
) -> list[Edit]:
    """``head`` before ``node``'s text and ``close`` after it: an outer wrap's head
    comes first and its close last where two share a position."""
    start, end = _span(text, tokens, node)
    return [(start, 1000 + depth, head, 0), (end + 1, -1000 - depth, close, 0)]


def _rename(text: str, tokens: list[Any], node: exp.Expr, collation: str) -> Edit:
    """The call's name and ``(`` become its collated function's, collation first."""
    start, _ = _span(text, tokens, node)
    m = _CALL_HEAD.match(text, start)
    name = m.group(1).lower() if m else ""
    if m is None or name not in _COLLATED_CALLS:
        raise NotSupported(
            f"the call {node.sql(dialect='mysql')[:200]} on the SQLite default (its strings' "
            "collation is MySQL's only once rewritten, in a form the shard cannot rewrite)"
        )
    return (start, 5000, f"{_COLLATED_CALLS[name]}('{collation}', ", m.end() - start)


def _apply(text: str, edits: list[Edit]) -> str:
    """``text`` with the edits made, last position first (at one position: renames,
    then heads inner to outer, then closes outer to inner)."""
    for pos, _, piece, replaced in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:pos] + piece + text[pos + replaced :]
    return text


# ---------------------------------------------------------------------- run time
def _key(collation: Any) -> Callable[[str], Any]:
    key = sqlite_mysql.COLLATION_KEYS.get(str(collation))
    if key is None:
        raise NotSupported(f"collation '{collation}' on the embedded SQLite default")
    return key


def _texts(*values: Any) -> bool:
    return all(isinstance(v, str) for v in values)


def _extreme(pick_max: bool) -> Callable[..., Any]:
    fallback = sqlite_mysql._extreme(pick_max)

    def extreme(collation: Any, *args: Any) -> Any:
        if any(a is None for a in args) or not _texts(*args):
            return fallback(*args)
        return (max if pick_max else min)(args, key=_key(collation))

    return extreme


def _field(collation: Any, x: Any, *items: Any) -> int:
    if not (isinstance(x, str) and all(isinstance(i, str) or i is None for i in items)):
        return sqlite_mysql._field(x, *items)
    key = _key(collation)
    kx = key(x)
    for i, item in enumerate(items, 1):
        if item is not None and key(item) == kx:
            return i
    return 0


def _locate(collation: Any, sub: Any, s: Any, pos: Any = 1) -> int | None:
    """``LOCATE`` under a binary collation: the exact characters."""
    if sub is None or s is None or pos is None or not _texts(sub, s):
        return sqlite_mysql._locate(sub, s, pos)
    p = sqlite_mysql._int(pos) or 0
    if p < 1 or p > len(s) + 1:
        return 0
    text, needle = str(s), str(sub)
    if not needle:
        return p if p <= len(text) else 0
    return text.find(needle, p - 1) + 1


def _instr(collation: Any, s: Any, sub: Any) -> int | None:
    return _locate(collation, sub, s)


def _strcmp(collation: Any, a: Any, b: Any) -> int | None:
    """``STRCMP`` under the strings' collation (``STRCMP(bin_col, 'apple')`` of
    ``'Apple'`` is -1: exact characters)."""
    if not _texts(a, b):
        return sqlite_mysql._strcmp(a, b)
    key = _key(collation)
    ka, kb = key(a), key(b)
    return 0 if ka == kb else (-1 if ka < kb else 1)


def functions() -> list[tuple[str, int, Callable[..., Any]]]:
    """The collated calls (name, number of arguments, function) to register."""
    return [
        ("sg_collated_greatest", -1, _extreme(True)),
        ("sg_collated_least", -1, _extreme(False)),
        ("sg_collated_field", -1, _field),
        ("sg_collated_locate", 3, _locate),
        ("sg_collated_locate", 4, _locate),
        ("sg_collated_instr", 3, _instr),
        ("sg_collated_strcmp", 3, _strcmp),
    ]
