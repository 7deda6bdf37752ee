"""Date arithmetic on a TIME operand on SQLite shards.

MySQL adds an interval to a TIME as a signed duration (measured on MariaDB 10.11,
``t`` a TIME of ``'10:00:00'``): ``t + INTERVAL 1 DAY`` is ``34:00:00``, ``t -
INTERVAL 11 HOUR`` is ``-01:00:00``, ``TIME'-01:00:00' + INTERVAL 30 MINUTE`` is
``-00:30:00`` (and ``+ INTERVAL 1 HOUR`` ``-00:00:00``: the operand's sign is kept when
the magnitude reaches zero), a result past ±838:59:59.999999 is NULL with warning
1441 "Datetime function: time field overflow", and a unit of weeks or more (``WEEK``,
``MONTH``, ``QUARTER``, ``YEAR``, ``YEAR_MONTH``) is NULL with the same 1441 on every
row, even a NULL one. ``DATE_ADD``/``DATE_SUB``/``ADDDATE``/``SUBDATE``/
``TIMESTAMPADD`` do the same. The static translation
(:func:`sharding.backend.sqlite_mysql.translate_for_sqlite`) makes all of them calls
of the registered ``DATE_ADD(x, n, 'UNIT')``/``DATE_SUB``, which read their operand
as a DATE or DATETIME only — a TIME gave NULL. They cannot tell by the value: MySQL
reads a VARCHAR holding ``'10:00:00'`` as a (bad) DATETIME and gives NULL, so only the
operand's *declared type* decides, and the translation sees no column types.

So, with the shard file's declared types (the approach of
:mod:`sharding.backend.sqlite_enum_numbers`), :func:`rewrite` renames each
``DATE_ADD``/``DATE_SUB`` call whose first argument is a TIME — a TIME column,
``CAST(… AS TIME)`` (SQLite's ``TIME(…)``), ``MIN``/``MAX`` of a TIME column, or such
a call of a TIME itself — to ``sg_time_add``/``sg_time_sub`` with the operand's
fractional digits as a fourth argument (:func:`functions`, MySQL's TIME arithmetic).
No library does MySQL's TIME arithmetic (its sign rule, its range, its warnings):
written here after ``date_add_interval`` of MariaDB's ``sql_time.cc``.

Invariants: only the call's name and its closing parenthesis are edited in the text
(re-rendering the statement would be sqlglot's SQLite, lossy for the registered
functions); a text with no ``DATE_ADD``/``DATE_SUB`` call, or naming no table with a
TIME column and no ``TIME(…)`` call, is not parsed; a first argument whose type is not
known to be TIME keeps ``DATE_ADD`` (as before). Rewrites are cached per text and the
declared TIME columns it saw (a DDL changing them is another key). A select item that
is such a call is read back as MySQL's TIME, a ``timedelta`` (:func:`convert`: the
result plan of :mod:`sharding.backend.sqlite_decimal_results` reads only DATE/DATETIME
arithmetic as temporal).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

from sharding.backend import sqlite_arithmetic as arith
from sharding.backend import sqlite_mysql
from sharding.errors import NotSupported, ShardgateError

__all__ = ["convert", "functions", "rewrite"]

_CALL = re.compile(r"\bdate_(?:add|sub)\s*\(", re.IGNORECASE)
_TIME_CALL = re.compile(r"\btime\s*\(", re.IGNORECASE)
_TIME_DECL = re.compile(r"^\s*TIME\b(?!STAMP)", re.IGNORECASE)
_FSP = re.compile(r"\(\s*(\d)\s*\)")
_NAMES = {"date_add": "sg_time_add", "date_sub": "sg_time_sub"}

#: (text, declared TIME columns) → (rewritten text, select items that are TIME results).
_cache: OrderedDict[str, tuple[str, tuple[int, ...]]] = OrderedDict()
_lock = threading.Lock()
_CACHE_SIZE = 512


def _time_columns(decls: arith.Decls) -> tuple[tuple[str, str, str, str], ...]:
    return tuple(
        sorted(
            (schema, table, name, decl)
            for (schema, table), cols in decls.items()
            for name, decl in cols.items()
            if _TIME_DECL.match(decl)
        )
    )


def rewrite(raw: sqlite3.Connection, sql: str) -> tuple[str, tuple[int, ...]]:
    """``sql`` with each ``DATE_ADD``/``DATE_SUB`` of a TIME operand made MySQL's TIME
    arithmetic (module doc; unchanged when there is none), and the select items that
    are such a call (their text is to be read as a TIME: :func:`convert`)."""
    if _CALL.search(sql) is None:
        return sql, ()
    decls = arith.declared_columns(raw, sql)
    times = _time_columns(decls)
    if not times and _TIME_CALL.search(sql) is None:
        return sql, ()
    key = sql + "\x00" + repr(times)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    made = _rewrite(sql, decls)
    with _lock:
        _cache[key] = made
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return made


def convert(rows: list[Any], items: tuple[int, ...]) -> list[Any]:
    """The rows with each select item ``items`` names (:func:`rewrite`: a TIME's date
    arithmetic) as MySQL's TIME, a ``timedelta``, not its text."""
    if not items:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i in items:
            if i < len(values) and isinstance(values[i], str):
                values[i] = sqlite_mysql.time_value(values[i])
        out.append(tuple(values))
    return out


def _fsp(decl: str) -> int:
    m = _FSP.search(decl)
    return int(m.group(1)) if m else 0


def _time_operand(node: exp.Expr, cols: arith._Columns) -> int | None:
    """The fractional digits of a TIME operand, None when ``node`` is not known to be one."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        decl = cols.decl(node)
        return _fsp(decl) if decl is not None and _TIME_DECL.match(decl) else None
    if isinstance(node, exp.Cast):
        to = node.args.get("to")
        if isinstance(to, exp.DataType) and to.is_type(exp.DataType.Type.TIME):
            size = to.find(exp.DataTypeParam)
            return int(size.name) if size is not None and size.name.isdigit() else 0
        return None
    if isinstance(node, exp.Min | exp.Max) and not node.expressions:
        return _time_operand(node.this, cols)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "time":
        return 0 if len(node.expressions) == 1 else None  # SQLite's TIME(): whole seconds
    if isinstance(node, exp.DateAdd | exp.DateSub):
        # A call of a TIME itself (``t + INTERVAL 1 HOUR + INTERVAL 1 MINUTE``).
        unit = node.args.get("unit")
        name = unit.name.upper() if isinstance(unit, exp.Expr) else ""
        inner = _time_operand(node.this, cols)
        if inner is None or not name or name in _OVERFLOW_UNITS:
            return None
        return max(inner, _unit_digits(name, None))
    return None


def _calls(tokens: list[Any]) -> list[tuple[int, int, int]]:
    """(name token, first comma token, closing parenthesis token) of each
    ``DATE_ADD``/``DATE_SUB`` call in ``tokens``."""
    out = []
    for i, tok in enumerate(tokens[:-1]):
        if tok.text.lower() not in _NAMES or tokens[i + 1].token_type != TokenType.L_PAREN:
            continue
        depth, comma = 0, -1
        for j in range(i + 1, len(tokens)):
            kind = tokens[j].token_type
            if kind == TokenType.L_PAREN:
                depth += 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    if comma > 0:
                        out.append((i, comma, j))
                    break
            elif kind == TokenType.COMMA and depth == 1 and comma < 0:
                comma = j
    return out


def _rewrite(sql: str, decls: arith.Decls) -> tuple[str, tuple[int, ...]]:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
        tokens = list(sqlglot.Dialect.get_or_raise("sqlite").tokenize(sql))
    except sqlglot.errors.SqlglotError:
        return sql, ()  # SQLite reports its own error
    cols = arith._Columns(tree, decls)
    items: list[int] = []
    if isinstance(tree, exp.Select):
        for i, item in enumerate(tree.expressions):
            node = item.this if isinstance(item, exp.Alias) else item
            while isinstance(node, exp.Paren):
                node = node.this
            if (
                isinstance(node, exp.DateAdd | exp.DateSub)
                and _time_operand(node, cols) is not None
            ):
                items.append(i)
    _refuse_ordering(tree, cols, items)
    edits: list[tuple[int, int, str]] = []
    for name, comma, close in _calls(tokens):
        first = sql[tokens[name + 1].end + 1 : tokens[comma].start]
        try:
            operand = sqlglot.parse_one(first, read="sqlite")
        except sqlglot.errors.SqlglotError:
            continue
        fsp = _time_operand(operand, cols)
        if fsp is None:
            continue
        tok = tokens[name]
        edits.append((tok.start, tok.end + 1, _NAMES[tok.text.lower()]))
        edits.append((tokens[close].start, tokens[close].start, f", {fsp}"))
    for start, end, text in sorted(edits, reverse=True):
        sql = sql[:start] + text + sql[end:]
    return sql, tuple(items)


#: Where a value is ordered or compared: SQLite orders the TIME text, which is
#: MySQL's order only from 00:00:00 to 99:59:59.
_ORDERING: tuple[type[exp.Expr], ...] = (
    *arith._COMPARISONS,  # = <> < <= > >= <=> IS
    exp.NullSafeNEQ,
    exp.Between,
    exp.In,
    exp.Min,
    exp.Max,
    exp.Ordered,
    exp.Greatest,
    exp.Least,
)


def _refuse_ordering(tree: exp.Expr, cols: arith._Columns, items: list[int]) -> None:
    """1235 for a TIME's date arithmetic that is compared, ordered or a MIN/MAX
    argument (directly, or as a select item ORDER BY names by position or alias): its
    result may be negative or past 99:59:59, where its text orders otherwise than
    MySQL's TIME — never SQLite's order."""
    for node in tree.find_all(exp.DateAdd, exp.DateSub):
        if _time_operand(node, cols) is None:
            continue
        parent = node.parent
        while parent is not None:
            if isinstance(parent, _ORDERING) and not _assignment(parent):
                raise _unordered(node)
            parent = parent.parent
    if not items or not isinstance(tree, exp.Select):
        return
    selected = tree.expressions
    aliases = {selected[i].alias.lower(): i for i in items if isinstance(selected[i], exp.Alias)}
    for ordered in tree.find_all(exp.Ordered):
        key = ordered.this
        if isinstance(key, exp.Literal) and not key.is_string and key.name.isdigit():
            if int(key.name) - 1 in items:
                raise _unordered(selected[int(key.name) - 1])
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in aliases:
            raise _unordered(selected[aliases[key.name.lower()]])


def _assignment(node: exp.Expr) -> bool:
    """An UPDATE's (or an upsert's) ``SET col = …``: sqlglot's EQ, no comparison."""
    return (
        isinstance(node, exp.EQ)
        and isinstance(node.parent, exp.Update | exp.OnConflict)
        and node.arg_key == "expressions"
    )


def _unordered(node: exp.Expr) -> NotSupported:
    shown = node.sql(dialect="mysql")[:200]
    return NotSupported(
        f"{shown} compared, ordered or in MIN/MAX on the SQLite default (date arithmetic "
        "on a TIME: its result may be negative or past 99:59:59, where the shard orders "
        "it otherwise than MySQL)"
    )


# ------------------------------------------------------------------------ functions
#: Units MySQL cannot add to a TIME: NULL and 1441 on every row.
_OVERFLOW_UNITS = frozenset({"WEEK", "MONTH", "QUARTER", "YEAR", "YEAR_MONTH"})
_UNIT_MICROS = {
    "MICROSECOND": 1,
    "SECOND": 1_000_000,
    "MINUTE": 60_000_000,
    "HOUR": 3_600_000_000,
    "DAY": 86_400_000_000,
}
#: The largest TIME's magnitude, microseconds (838:59:59.999999).
_MAX_TIME = (838 * 3600 + 59 * 60 + 59) * 1_000_000 + 999_999
#: MySQL's ``MAX_DAY_NUMBER``: an interval of more days is no date arithmetic.
_MAX_DAYS = 3652424
_TIME_TEXT = re.compile(r"\s*(-)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?\s*\Z")
_OVERFLOW = "Datetime function: time field overflow"


def _overflow() -> None:
    """MySQL's 1441: an error in a strict write (an INSERT/REPLACE/UPDATE, not IGNORE,
    and an INSERT … SELECT's SELECT: the flag of ``sqlite_mysql.division_strict``),
    else a warning of the read (measured: ``UPDATE t SET tm = tm + INTERVAL 35 DAY`` is
    error 1441, ``UPDATE IGNORE`` stores NULL)."""
    if getattr(sqlite_mysql._division, "strict", False):
        raise ShardgateError(_OVERFLOW, code=1441, sqlstate="22008")
    arith.warn("Warning", 1441, _OVERFLOW)


def _unit_digits(unit: str, amount: Any) -> int:
    """The fractional digits the unit (or a SECOND's fraction) adds to the result."""
    if "MICROSECOND" in unit:
        return 6
    if unit == "SECOND" and isinstance(amount, float | str):
        text = repr(amount) if isinstance(amount, float) else amount.strip()
        _, dot, fraction = text.partition(".")
        if dot and fraction.isdigit():
            return min(len(fraction), 6)
    return 0


def _interval(amount: Any, unit: str) -> int | None:
    """The interval in signed microseconds, None for MySQL's NULL."""
    if unit in sqlite_mysql._COMPOUND_UNITS:
        compound = sqlite_mysql._compound_amount(amount, unit)
        if compound is None:
            return None
        delta = compound[1]
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if unit not in _UNIT_MICROS:
        return None
    if unit == "SECOND" and _unit_digits(unit, amount):
        try:
            seconds = Decimal(repr(amount) if isinstance(amount, float) else str(amount).strip())
        except InvalidOperation:
            return None
        whole = int(seconds)
        micro = int((abs(seconds) - abs(whole)) * 1_000_000)
        return whole * 1_000_000 + (-micro if seconds < 0 else micro)
    n = sqlite_mysql._int(amount)
    return None if n is None else n * _UNIT_MICROS[unit]


def _parse(value: Any) -> tuple[bool, int] | None:
    """(negative, magnitude in microseconds) of a TIME's text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    m = _TIME_TEXT.match(str(value))
    if m is None:
        return None
    seconds = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4))
    return m.group(1) is not None, seconds * 1_000_000 + int((m.group(5) or "0").ljust(6, "0"))


def _text(negative: bool, micros: int, digits: int) -> str:
    seconds, fraction = divmod(micros, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    out = f"{'-' if negative else ''}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return out + "." + f"{fraction:06d}"[:digits] if digits else out


def time_add(value: Any, amount: Any, unit: Any, fsp: Any, subtract: bool = False) -> str | None:
    """MySQL's ``value ± INTERVAL amount unit`` of a TIME ``value`` (module doc), as
    MySQL's TIME text with the operand's ``fsp`` fractional digits (more for a
    MICROSECOND unit or a SECOND's fraction)."""
    u = str(unit).upper() if unit is not None else ""
    if u in _OVERFLOW_UNITS:
        _overflow()
        return None
    if value is None or amount is None or unit is None:
        return None
    parsed = _parse(value)
    interval = _interval(amount, u)
    if parsed is None or interval is None:
        return None
    if subtract:
        interval = -interval
    negative, magnitude = parsed
    if abs(interval) // 86_400_000_000 > _MAX_DAYS:
        _overflow()
        return None
    # date_add_interval: the magnitudes add when the signs agree, else subtract; the
    # operand's sign flips when the difference is below zero (so -01:00:00 + 1 HOUR
    # is -00:00:00).
    same = (interval < 0) == negative
    total = magnitude + abs(interval) if same else magnitude - abs(interval)
    if total < 0:
        negative, total = not negative, -total
    if total > _MAX_TIME:
        _overflow()
        return None
    digits = max(int(fsp or 0), _unit_digits(u, amount))
    return _text(negative, total, min(digits, 6))


def _time_sub(value: Any, amount: Any, unit: Any, fsp: Any) -> str | None:
    return time_add(value, amount, unit, fsp, subtract=True)


def functions() -> list[tuple[str, int, Callable[..., Any]]]:
    """(name, number of arguments, function) to register on a shard connection."""
    return [("sg_time_add", 4, time_add), ("sg_time_sub", 4, _time_sub)]
