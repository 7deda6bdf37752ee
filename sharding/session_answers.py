"""Statements a session answers from its own state, without entering a bucket.

Connectors send a burst of these on connect (``SELECT @@version_comment``, ``SHOW
VARIABLES LIKE ...``, ``SHOW COLLATION``). Answering them from
:class:`~sharding.session_state.SessionState` keeps them out of the executor (a
saturated pool must not make new connections time out, seed 002), and — because the
same state answers ``SELECT @@sql_mode FROM t`` through the planner — both forms agree.

Recognition is narrow: a SELECT is answered here only when it has no FROM and every
item, once variables and session functions are substituted, is a literal. Anything
else returns None ("not mine") and runs through the coordinator.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.tokenizer_core import TokenType

from sharding.api import Column, Result
from sharding.backend.base import EXPRESSION_ORIGIN
from sharding.charsets_data import CHARSETS, COLLATIONS
from sharding.errors import IllegalDouble, ShardgateError
from sharding.local_columns import (
    CONSERVATIVE,
    SESSION_FUNCTIONS,
    bigint,
    show_columns,
    typed,
    user_variable_type,
    variable_type,
    version_type,
)
from sharding.session_state import SessionState, lookup, split_top_level, substitute
from sharding.sql.describe import ColumnType, constant_type
from sharding.sql.lexer import STRING, unescape_mysql_string
from sharding.sql.like import like_source
from sharding.sql.names import SELECT_OPTIONS
from sharding.sql.parse import parse_one

__all__ = ["answer_select", "answer_show", "like_to_regex", "select_item_texts"]

_FROM = re.compile(r"\bFROM\b", re.I)
_DIALECT = MySQL()
_ITEM_END = frozenset(
    {
        TokenType.FROM,
        TokenType.WHERE,
        TokenType.GROUP_BY,
        TokenType.HAVING,
        TokenType.ORDER_BY,
        TokenType.LIMIT,
        TokenType.UNION,
        TokenType.INTO,
        TokenType.FOR,
        TokenType.WINDOW,
        TokenType.SEMICOLON,
        TokenType.LOCK,
        TokenType.EXCEPT,
        TokenType.INTERSECT,
    }
)
#: SELECT modifiers before the select list (MySQL's select options).
_MODIFIERS = frozenset(SELECT_OPTIONS)


def select_item_texts(sql: str) -> list[str] | None:
    """The source text of each item of the first (outer) SELECT list, or None."""
    try:
        tokens = _DIALECT.tokenize(sql)
    except Exception:
        return None
    i = 0
    while i < len(tokens) and tokens[i].token_type == TokenType.L_PAREN:
        i += 1
    if i >= len(tokens) or tokens[i].token_type != TokenType.SELECT:
        return None
    i += 1
    while i < len(tokens) and tokens[i].text.upper() in _MODIFIERS:
        i += 1
    items: list[str] = []
    depth = 0
    start: int | None = None
    end = 0
    for tok in tokens[i:]:
        tt = tok.token_type
        if depth == 0 and (tt in _ITEM_END or tt == TokenType.R_PAREN):
            break
        if tt == TokenType.L_PAREN:
            depth += 1
        elif tt == TokenType.R_PAREN:
            depth -= 1
        if depth == 0 and tt == TokenType.COMMA:
            if start is None:
                return None
            items.append(sql[start : end + 1])
            start = None
            continue
        if start is None:
            start = tok.start
        end = tok.end
        # A quoted token's end excludes its closing quote.
        if tt in (TokenType.STRING, TokenType.IDENTIFIER, TokenType.NATIONAL_STRING):
            end = _closing_quote(sql, end)
    if start is None:
        return None
    items.append(sql[start : end + 1])
    return items


def _closing_quote(sql: str, end: int) -> int:
    if end + 1 < len(sql) and sql[end + 1] in "'\"`":
        return end + 1
    return end


def _literal_value(node: exp.Expr) -> tuple[bool, Any]:
    if isinstance(node, exp.Alias):
        return _literal_value(node.this)
    if isinstance(node, exp.Null):
        return True, None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return True, str(node.this)
        text = str(node.this)
        if re.fullmatch(r"[-+]?\d+", text):
            return True, int(text)
        if "e" in text.lower() or "inf" in text.lower() or "nan" in text.lower():
            value = float(text)
            if math.isinf(value):
                raise IllegalDouble(f"Illegal double '{text}' value found during parsing")
            return True, value
        return True, Decimal(text)
    if isinstance(node, exp.Neg):
        ok, v = _literal_value(node.this)
        if ok and isinstance(v, int | Decimal | float):
            return True, -v
    return False, None


def answer_select(state: SessionState, sql: str) -> Result | None:
    """A FROM-less SELECT of variables, session functions and literals; else None."""
    if len(sql) > 4096 or _FROM.search(sql):
        return None
    try:
        tree = parse_one(sql)
    except ShardgateError:
        return None
    if not isinstance(tree, exp.Select) or tree.args.get("from_") or tree.args.get("from"):
        return None
    for key in (
        "where",
        "group",
        "having",
        "order",
        "offset",
        "operation_modifiers",
        "into",
        "locks",
    ):
        if tree.args.get(key):
            return None
    limit = tree.args.get("limit")
    if limit is not None:
        ok, n = _literal_value(limit.expression) if isinstance(limit, exp.Limit) else (False, None)
        if not ok or not isinstance(n, int):
            return None
        if n == 0:
            return None  # an empty result: typed by the planner's path
    if any(
        isinstance(n, exp.Anonymous) and n.name.upper() == "LAST_INSERT_ID" and n.expressions
        for n in tree.walk()
    ):
        return None
    # Only literals, variables and session functions: anything else is not ours.
    for node in tree.walk():
        if isinstance(
            node,
            exp.Select
            | exp.Alias
            | exp.Identifier
            | exp.Literal
            | exp.Null
            | exp.Neg
            | exp.SessionParameter
            | exp.Parameter
            | exp.Var
            | exp.Limit,
        ):
            continue
        if (
            isinstance(node, exp.Func)
            and not node.expressions
            and (isinstance(node, exp.Anonymous) or node.this is None)
        ):
            continue  # a session function (substituted below) or not ours (no literal)
        return None
    sub = substitute(tree, state)
    texts = select_item_texts(sql)
    items = sub.tree.expressions
    if texts is None or len(texts) != len(items):
        return None
    columns: list[Column] = []
    row: list[Any] = []
    for item, original, text in zip(items, tree.expressions, texts, strict=True):
        ok, value = _literal_value(item)
        if not ok:
            return None
        if isinstance(original, exp.Alias):
            name = original.alias
        elif isinstance(original, exp.Literal) and original.is_string:
            name = str(original.this)  # MySQL names a string literal's column by its value
        else:
            name = text.strip()
        # An expression of no table: MariaDB names no origin (org_name empty too).
        item_type = dataclasses.replace(_item_type(original, value), origin=EXPRESSION_ORIGIN)
        columns.append(typed(name, item_type))
        row.append(value)
    return Result(columns=columns, rows=[tuple(row)])


def _item_type(node: exp.Expr, value: Any) -> ColumnType:
    """MariaDB's definition of one item of a locally answered SELECT: a system variable
    by its declared kind, a user variable by what was assigned to it, a session
    function by its own rule, a literal by MariaDB's literal rules. ``value`` (the
    variable's or function's current value, not a row's) sizes strings as MariaDB does
    when it prepares the statement."""
    if isinstance(node, exp.Alias):
        node = node.this
    if isinstance(node, exp.SessionParameter):
        try:
            kind = lookup(node.name).kind
        except ShardgateError:
            return CONSERVATIVE
        return variable_type(kind, value)
    if isinstance(node, exp.Parameter):
        return user_variable_type(value)
    if isinstance(node, exp.Func) and not isinstance(node, exp.Literal):
        if isinstance(node, exp.CurrentUser | exp.SessionUser):
            name = "USER"
        elif isinstance(node, exp.CurrentSchema):
            name = "DATABASE"
        elif isinstance(node, exp.CurrentVersion):
            name = "VERSION"
        else:
            name = node.name.upper() if isinstance(node, exp.Anonymous) else node.sql_name().upper()
        if name == "VERSION":
            return version_type("" if value is None else str(value))
        return SESSION_FUNCTIONS.get(name, CONSERVATIVE)
    return constant_type(node)


# -- SHOW ------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def like_to_regex(pattern: str, escape: str = "\\") -> re.Pattern[str]:
    """MySQL's ``LIKE`` pattern → a case-insensitive regex (``rx.match``; anchored at
    the end): ``%`` any run, ``_`` any one character, the escape character (backslash
    unless an ``ESCAPE`` clause names another) makes the next one literal (``\\_``,
    ``\\%``, ``\\\\``); an escape character at the end is itself (MariaDB:
    ``'a\\' LIKE 'a\\'`` is 1).

    ``pattern`` is the string's value (:func:`unquote` of the literal: ``'a\\_b'`` is
    ``a\\_b``, whose ``\\_`` is then a literal ``_``). The one LIKE of the
    coordinator's local answers (SHOW … LIKE, the server's SHOW answers); the pattern
    language is :func:`sharding.sql.like.like_source`'s, shared with the SQLite shards."""
    return re.compile(like_source(pattern, escape), re.I | re.S)


_STR = STRING  # the lexer's string literal
_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"


def unquote(lit: str) -> str:
    """The value of a quoted string literal (MySQL's escapes: ``\\_`` and ``\\%`` keep
    their backslash, for LIKE)."""
    return unescape_mysql_string(lit)


_SHOW_FILTER = re.compile(
    rf"(?:\s+LIKE\s+(?P<like>{_STR})|\s+WHERE\s+(?P<where>.+?))?\s*;?\s*\Z", re.I | re.S
)
_CONDITION = re.compile(
    rf"\s*`?(?P<col>{_IDENT})`?\s*(?:(?P<op>=|LIKE)\s*(?P<lit>{_STR})|IN\s*\((?P<list>[^)]*)\))\s*",
    re.I | re.S,
)


def _where(where: str, names: Sequence[str]) -> Callable[[Sequence[Any]], bool] | None:
    """A predicate for ``col = 'x'`` / ``col LIKE 'p'`` / ``col IN (...)`` joined by
    one kind of AND/OR; None for anything else (the statement is then not local)."""
    parts = re.split(r"\s+(AND|OR)\s+", where.strip(), flags=re.I)
    conds = parts[::2]
    joins = {j.upper() for j in parts[1::2]}
    if len(joins) > 1:
        return None
    index = {n.lower(): i for i, n in enumerate(names)}
    tests: list[Callable[[Sequence[Any]], bool]] = []
    for cond in conds:
        m = _CONDITION.fullmatch(cond)
        if not m or m.group("col").lower() not in index:
            return None
        i = index[m.group("col").lower()]
        if m.group("list") is not None:
            items = split_top_level(m.group("list"))
            if not all(re.fullmatch(_STR, it, re.S) for it in items):
                return None
            tests.append(_in_test(i, {unquote(it).lower() for it in items}))
        elif m.group("op").upper() == "LIKE":
            tests.append(_like_test(i, like_to_regex(unquote(m.group("lit")))))
        else:
            tests.append(_in_test(i, {unquote(m.group("lit")).lower()}))
    if joins == {"AND"}:
        return lambda r: all(t(r) for t in tests)
    return lambda r: any(t(r) for t in tests)


def _in_test(i: int, wanted: set[str]) -> Callable[[Sequence[Any]], bool]:
    return lambda r: str(r[i]).lower() in wanted


def _like_test(i: int, rx: re.Pattern[str]) -> Callable[[Sequence[Any]], bool]:
    return lambda r: rx.match(str(r[i])) is not None


def _filter(
    rows: Iterable[Sequence[Any]], tail: str, names: Sequence[str]
) -> list[tuple[Any, ...]] | None:
    """Apply ``LIKE 'p'`` (to the first column) or a simple WHERE to rows."""
    m = _SHOW_FILTER.match(tail)
    if not m:
        return None
    if m.group("like"):
        rx = like_to_regex(unquote(m.group("like")))
        return [tuple(r) for r in rows if rx.match(str(r[0]))]
    if m.group("where"):
        pred = _where(m.group("where"), names)
        if pred is None:
            return None
        return [tuple(r) for r in rows if pred(r)]
    return [tuple(r) for r in rows]


_SHOW = re.compile(
    r"\s*SHOW\s+(?:(?P<scope>GLOBAL|SESSION|LOCAL)\s+)?(?P<what>VARIABLES|STATUS|WARNINGS|ERRORS|"
    r"COLLATION|CHARACTER\s+SET|CHARSET|ENGINES|COUNT\s*\(\s*\*\s*\)\s+(?:WARNINGS|ERRORS))"
    r"(?P<tail>.*)\Z",
    re.I | re.S,
)


def _collation_rows() -> list[tuple[Any, ...]]:
    defaults = {v[0] for v in CHARSETS.values()}
    return [
        (name, cs, cid, "Yes" if name in defaults else "", "Yes", 1)
        for name, (cs, cid) in sorted(COLLATIONS.items(), key=lambda kv: kv[0])
    ]


def _charset_rows() -> list[tuple[Any, ...]]:
    return [(cs, desc, coll, maxlen) for cs, (coll, maxlen, desc) in sorted(CHARSETS.items())]


def answer_show(
    state: SessionState, sql: str, status: dict[str, Any] | None = None
) -> Result | None:
    """SHOW VARIABLES/STATUS/WARNINGS/ERRORS/COLLATION/CHARSET/ENGINES; None otherwise."""
    m = _SHOW.match(sql)
    if not m:
        return None
    what = " ".join(m.group("what").upper().split())
    tail = m.group("tail")
    scope = (m.group("scope") or "").upper()
    if what == "VARIABLES":
        names = ["Variable_name", "Value"]
        rows = _filter(state.show_rows(scope), tail, names)
        return None if rows is None else _table("VARIABLES", rows)
    if what == "STATUS":
        names = ["Variable_name", "Value"]
        rows = _filter(
            ((k, "" if v is None else str(v)) for k, v in sorted((status or {}).items())),
            tail,
            names,
        )
        return None if rows is None else _table("VARIABLES", rows)
    if what in ("WARNINGS", "ERRORS"):
        diags = (
            state.diagnostics
            if what == "WARNINGS"
            else [d for d in state.diagnostics if d[0] == "Error"]
        )
        limit = re.fullmatch(r"(?:\s+LIMIT\s+(\d+)(?:\s*,\s*(\d+))?)?\s*;?\s*", tail, re.I)
        if not limit:
            return None
        if limit.group(1) is not None:  # LIMIT [offset,] count, as MariaDB applies it
            first, second = limit.group(1), limit.group(2)
            offset, count = (int(first), int(second)) if second is not None else (0, int(first))
            diags = diags[offset : offset + count]
        return _table("WARNINGS", diags)
    if what.startswith("COUNT"):
        kind = what.split()[-1]
        n = (
            len(state.diagnostics) + state.unlisted
            if kind == "WARNINGS"
            else sum(1 for d in state.diagnostics if d[0] == "Error")
        )
        name = f"@@session.{kind.lower()[:-1]}_count"
        return Result(columns=[bigint(name, unsigned=True)], rows=[(n,)])
    if what == "COLLATION":
        names = ["Collation", "Charset", "Id", "Default", "Compiled", "Sortlen"]
        rows = _filter(_collation_rows(), tail, names)
        return None if rows is None else _table("COLLATION", rows)
    if what in ("CHARACTER SET", "CHARSET"):
        names = ["Charset", "Description", "Default collation", "Maxlen"]
        rows = _filter(_charset_rows(), tail, names)
        return None if rows is None else _table("CHARACTER SET", rows)
    if what == "ENGINES":
        return _table(
            "ENGINES",
            [
                (
                    "InnoDB",
                    "DEFAULT",
                    "shardgate: tables live on the shards' servers",
                    "YES",
                    "YES",
                    "YES",
                )
            ],
        )
    return None


def _table(kind: str, rows: Iterable[Sequence[Any]]) -> Result:
    """SHOW ``kind``'s rows with MariaDB's column definitions."""
    return Result(columns=show_columns(kind), rows=[tuple(r) for r in rows])
