"""MySQL's comparison of a DATE/DATETIME operand on SQLite shards (issue 15).

MySQL compares a temporal operand (a DATE/DATETIME/TIMESTAMP column, ``DATE()``,
``NOW()``, ``CURDATE()``, ``DATE_ADD``…, ``CAST … AS DATE``, a subquery or ``MIN``/
``MAX`` of one) with a number or a string as dates: ``20240101`` is 2024-01-01,
``'2024-1-2'``/``'2024/01/02'``/``'20240102'`` are 2024-01-02; a DATE with a DATETIME
compares as DATETIME (``d = '2024-01-05 00:00:00'`` is TRUE). SQLite stores these
values as text (``'YYYY-MM-DD'``, ``'YYYY-MM-DD HH:MM:SS[.ffffff]'``) and compares
them as text with a number's or a string's text. :func:`edits` rewrites, in the shard
statement, each comparison (``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``, ``<=>``,
``[NOT] IN``, ``[NOT] BETWEEN``) with a temporal operand:

* a constant other side (a number or string literal) becomes the canonical text of
  the comparison's type at translation time (a DATE side: ``'YYYY-MM-DD'``, or the
  literal's full DATETIME text when its time is not midnight, which text-compares with
  a DATE's text as MySQL compares the two; a DATETIME side: ``'YYYY-MM-DD HH:MM:SS'``),
  so SQLite's text comparison is MySQL's and an index on the column still serves;
* a DATE side compared with a DATETIME side that is no constant becomes
  ``(x || ' 00:00:00')`` (MySQL's DATETIME of it);
* a constant MySQL does not read as a valid date (``5``, ``'abc'``, ``'2024-02-30'``,
  ``'2024-01-05x'``, a fraction: MariaDB 10.11 compares a zero date or a truncation
  then, with a 1292 warning), a fraction of a second against a DATETIME side, an
  other side that is no constant, no NULL and not temporal (a number or string
  column, ``YEAR(d)``, a subquery of another type), and a side whose DATE or
  DATETIME type only its value tells (``DATE_ADD`` of a string, ``COALESCE`` of
  both) are a 1235 naming the form — never SQLite's text comparison.

A comparison with a TIME operand and no date (section "TIME") has each constant
made the canonical TIME text, so SQLite's text comparison is MySQL's.

Invariant: the rewrite is exact when the stored values are canonical text (the form
the store path below writes).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from sharding.backend import sqlite_arithmetic as arith
from sharding.backend import sqlite_compare
from sharding.errors import NotSupported, ShardgateError
from sharding.sql.function_types import DATE_UNITS

DATE = "date"
DATETIME = "datetime"
#: A temporal value whose DATE or DATETIME type only its value tells.
VARIES = "varies"
TIME = "time"

_DATE_CALLS = frozenset(
    {"date", "curdate", "currentdate", "current_date", "lastday", "last_day", "makedate"}
    | {"utc_date"}
)
_DATETIME_CALLS = frozenset(
    {"now", "sysdate", "currenttimestamp", "current_timestamp", "utc_timestamp"}
    | {"from_unixtime", "datetime", "timestamp"}
)
_VARYING_CALLS = frozenset(
    {"strtodate", "str_to_date", "timestampadd", "addtime", "subtime", "convert_tz"}
)
_TIME_CALLS = frozenset(
    {"time", "curtime", "currenttime", "current_time", "maketime", "sec_to_time", "timediff"}
    | {"utc_time"}
)
#: A temporal function's call, and a call whose result is its argument's type (a
#: temporal one when a temporal column is its argument): the cheap text tests before a
#: parse for temporal operands of arithmetic (:func:`sharding.backend.
#: sqlite_arithmetic._worth_parsing`).
TEMPORAL_CALL = re.compile(
    r"\b(?:"
    + "|".join(
        sorted(
            _DATE_CALLS
            | _DATETIME_CALLS
            | _VARYING_CALLS
            | _TIME_CALLS
            | {"date_add", "date_sub", "adddate", "subdate"}
        )
    )
    + r")\s*\(",
    re.IGNORECASE,
)
ARGUMENT_TYPED_CALL = re.compile(
    r"\b(?:max|min|cast|coalesce|ifnull|nullif|if|iif|greatest|least|case)\b", re.IGNORECASE
)
_DATETIME_DECL = re.compile(r"^\s*(?:DATETIME|TIMESTAMP)\b", re.IGNORECASE)
_DATE_DECL = re.compile(r"^\s*DATE\b(?!TIME)", re.IGNORECASE)
_TIME_DECL = re.compile(r"^\s*TIME\b(?!STAMP)", re.IGNORECASE)

#: SQLite's parse spells ``<=>`` as ``IS`` (``IS NOT`` for its negation).
_IS = exp.Is


def _name(node: exp.Expr) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else type(node).__name__.lower()


def _bare(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def kind(node: exp.Expr, cols: arith._Columns) -> str | None:
    """``DATE``/``DATETIME``/``TIME``/``VARIES`` for an operand whose result MySQL
    types as a temporal value, None for any other (a number of a date, ``YEAR(d)``,
    is None)."""
    node = _bare(node)
    if isinstance(node, exp.Column):
        decl = cols.decl(node)
        if decl is None:
            return None
        if _DATETIME_DECL.match(decl):
            return DATETIME
        if _DATE_DECL.match(decl):
            return DATE
        return TIME if _TIME_DECL.match(decl) else None
    if isinstance(node, exp.Cast):
        to = node.args.get("to")
        if isinstance(to, exp.DataType):
            if to.is_type(exp.DataType.Type.DATE):
                return DATE
            if to.is_type(*exp.DataType.TEMPORAL_TYPES):
                return TIME if to.is_type(exp.DataType.Type.TIME) else DATETIME
        return None
    if isinstance(node, exp.Subquery):
        select = node.this
        if isinstance(select, exp.Select) and len(select.expressions) == 1:
            return kind(select.expressions[0], cols)
        return None
    if isinstance(node, exp.Alias):
        return kind(node.this, cols)
    if isinstance(node, exp.Min | exp.Max) and not node.expressions:
        return kind(node.this, cols)
    if isinstance(node, exp.DateAdd | exp.DateSub) or _name(node) in ("date_add", "date_sub"):
        args = [node.this, *node.expressions] if isinstance(node, exp.Anonymous) else None
        this = args[0] if args else node.this
        unit_node = args[2] if args and len(args) > 2 else node.args.get("unit")
        unit = unit_node.name.upper() if isinstance(unit_node, exp.Expr) else ""
        base = kind(this, cols)
        if base == DATETIME:
            return DATETIME
        if base == DATE:
            return DATE if unit in DATE_UNITS else DATETIME
        return VARIES
    name = _name(node)
    if name in _DATE_CALLS:
        return DATE
    if name in _DATETIME_CALLS:
        return DATETIME
    if name in _TIME_CALLS:
        return TIME
    if name in _VARYING_CALLS:
        return VARIES
    if isinstance(node, exp.Coalesce | exp.If | exp.Case | exp.Nullif):
        from sharding.backend.sqlite_compare import _branches

        kinds = {kind(b, cols) for b in _branches(node) if not isinstance(_bare(b), exp.Null)}
        if kinds == {DATE} or kinds == {DATETIME}:
            return kinds.pop()
        return VARIES if kinds - {None} else None
    return None


def number_kind(node: exp.Expr, cols: arith._Columns) -> str | None:
    """The MySQL type of a temporal operand of arithmetic (``DATE(dt) + 0``,
    ``SUM(MAX(d))``), whose number MySQL computes with (:func:`sharding.backend.
    sqlite_mysql._temporal_number`); None for an operand that is no temporal value.
    ``COALESCE``/``IF``/``CASE``/``GREATEST``/``LEAST`` of DATE and DATETIME results is
    MySQL's DATETIME (measured on MariaDB 10.11: ``GREATEST(DATE'2024-01-01',
    TIMESTAMP'2024-01-01 10:00:00') + 0`` is 20240101100000); one mixing a temporal
    result with a TIME, a string or a number is refused (1235): MySQL's type is then a
    DATETIME of today's date, or a string whose number is its prefix with a 1292."""
    bare = _bare(node)
    if isinstance(bare, exp.Greatest | exp.Least):
        branches = [bare.this, *bare.expressions]
    elif isinstance(bare, exp.Coalesce | exp.If | exp.Case | exp.Nullif):
        from sharding.backend.sqlite_compare import _branches

        branches = _branches(bare)
    else:
        return kind(node, cols)
    kinds = {number_kind(b, cols) for b in branches if not isinstance(_bare(b), exp.Null)}
    if kinds <= {None}:
        return None
    if len(kinds) == 1:
        return kinds.pop()
    if kinds == {DATE, DATETIME}:
        return DATETIME
    raise NotSupported(
        f"{type(bare).__name__.upper()} mixing a temporal value with another type in "
        "arithmetic on the SQLite default (MySQL's result type is a DATETIME of today "
        "or a string); CAST each branch to one type"
    )


# ---------------------------------------------------------------------- constants
_DELIM = r"[^\w\s]"
#: MySQL's date text, with a time of hours, hours and minutes, or all three (MariaDB
#: reads '2024-03-01 12' and '2024-03-01 12:30' as 12:00:00 and 12:30:00, silently).
_TEMPORAL_TEXT = re.compile(
    r"\s*(\d{2}|\d{4})" + _DELIM + r"(\d{1,2})" + _DELIM + r"(\d{1,2})"
    r"(?:(?:\s+|T)(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?)?\s*\Z"
)


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 2:
        y += 2000 if y < 70 else 1900
    return y


def _digits(text: str) -> tuple[int, ...] | None:
    """The parts of MySQL's digits-only date: ``YYMMDD``, ``YYYYMMDD``,
    ``YYMMDDHHMMSS``, ``YYYYMMDDHHMMSS``."""
    n = len(text)
    if n == 6 or n == 12:
        y, rest = _year(text[:2]), text[2:]
    elif n == 8 or n == 14:
        y, rest = int(text[:4]), text[4:]
    else:
        return None
    parts = [int(rest[i : i + 2]) for i in range(0, len(rest), 2)]
    return (y, *parts)


def canonical(node: exp.Expr) -> tuple[datetime.datetime, bool, str] | None:
    """A constant operand as (its DATETIME, whether it has a time part, its MySQL
    text); None when ``node`` is no constant. A constant MySQL does not read as a
    valid date is a 1235."""
    node = _bare(node)
    if not isinstance(node, exp.Literal | exp.Neg):
        return None
    shown = node.sql(dialect="mysql")
    if isinstance(node, exp.Neg):
        raise _invalid(shown)
    text = node.name
    parts: tuple[int, ...] | None
    micro = 0
    if node.is_string:
        m = _TEMPORAL_TEXT.match(text)
        if m is not None:
            parts = (_year(m.group(1)), *(int(g) for g in m.groups()[1:6] if g is not None))
            micro = int((m.group(7) or "0").ljust(6, "0"))
        else:
            stripped = text.strip()
            parts = _digits(stripped) if stripped.isdigit() else None
    else:
        parts = _digits(text) if text.isdigit() else None
    if parts is None:
        raise _invalid(shown)
    try:
        h, mi, sec = (*parts[3:], 0, 0, 0)[:3]
        value = datetime.datetime(parts[0], parts[1], parts[2], h, mi, sec, micro)
    except ValueError:
        raise _invalid(shown) from None
    return value, len(parts) > 3, shown


def _invalid(shown: str) -> NotSupported:
    return NotSupported(
        f"a date compared with {shown[:80]} on the SQLite default (MySQL reads no valid "
        "date of it: a zero date or a truncation with warning 1292); a date literal "
        "'YYYY-MM-DD [HH:MM:SS]'"
    )


def _text(value: datetime.datetime, side: str, shown: str) -> str:
    """The canonical stored text compared with a ``side`` operand (module doc)."""
    midnight = value.time() == datetime.time()
    if side == DATE and midnight:
        return value.date().isoformat()
    if value.microsecond:
        if side != DATE:
            raise NotSupported(
                f"a DATETIME compared with {shown[:80]} (fractional seconds) on the "
                "SQLite default; a value in whole seconds"
            )
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond:06d}"
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: A text edit: (position, kind, depth, piece, characters replaced) — the form of
#: :func:`sharding.backend.sqlite_arithmetic._guard`'s edits.
Edit = tuple[int, int, int, str, int]


def _operands(node: exp.Expr, assignments: set[int]) -> list[exp.Expr] | None:
    """A comparison's operands (:func:`sqlite_compare.compared_operands`), ``IS`` of a
    value (SQLite's ``<=>``) too."""
    if isinstance(node, _IS) and not isinstance(node.expression, exp.Null | exp.Boolean):
        return [node.this, node.expression]
    return sqlite_compare.compared_operands(node, assignments)


def edits(
    tree: exp.Expr,
    cols: arith._Columns,
    text: str,
    tokens: list[Any],
    level: Callable[[exp.Expr], int],
) -> list[Edit]:
    """The text edits turning each comparison with a temporal operand into MySQL's
    (module doc)."""
    out: list[Edit] = []
    assignments = arith._assignment_ids(tree)
    for node in tree.walk(bfs=False):
        operands = _operands(node, assignments)
        if operands is None:
            continue
        kinds = [kind(o, cols) for o in operands]
        if not any(k in (DATE, DATETIME, VARIES) for k in kinds):
            if TIME in kinds:
                out += _time_edits(node, operands, kinds, cols, text, tokens)
            continue
        shown = node.sql(dialect="mysql")[:200]
        if TIME in kinds:
            raise NotSupported(
                f"the comparison {shown} of a TIME with a date on the SQLite default"
            )
        # The comparison's type: DATETIME when a DATE meets a DATETIME, else the
        # temporal operands' own. A constant subject (``20240101 BETWEEN d AND dt``)
        # or a type only the value tells: 1235.
        subject = kinds[0] if isinstance(node, exp.In | exp.Between) else "binary"
        if VARIES in kinds or subject is None:
            raise NotSupported(
                f"the comparison {shown} on the SQLite default (a date whose DATE or "
                "DATETIME type only its value tells, or a constant compared with "
                "dates); CAST it AS DATE or AS DATETIME"
            )
        side = DATETIME if DATETIME in kinds else DATE
        for operand, k in zip(operands, kinds, strict=True):
            bare = _bare(operand)
            if k in (DATE, DATETIME):
                if k == DATE and side == DATETIME:
                    span = arith._span(text, tokens, operand)
                    if span is None:
                        raise _unrewritable(shown)
                    depth = level(operand) + 7
                    out.append((span[0], 1, depth, "(", 0))
                    out.append((span[1] + 1, 0, -depth, " || ' 00:00:00')", 0))
                continue
            if isinstance(bare, exp.Null | exp.Placeholder | exp.Parameter):
                continue  # a bound parameter: its value is not known here (as before)
            found = canonical(bare)
            if found is None:
                raise NotSupported(
                    f"the comparison {shown} on the SQLite default (a date compared with "
                    "a value that is no date and no constant: MySQL converts it to a "
                    "date row by row); compare with a date literal or CAST it AS DATE"
                )
            value, _timed, literal = found
            span = arith._span(text, tokens, bare)
            if span is None:
                raise _unrewritable(shown)
            piece = _quote(_text(value, side, literal))
            out.append((span[0], 2, 0, piece, span[1] - span[0] + 1))
    return out


def _time_fsp(node: exp.Expr, cols: arith._Columns) -> int | None:
    """The fraction digits of a TIME column's stored text; None for another TIME
    operand (a function's result: SQLite's ``TIME()`` text, whole seconds)."""
    node = _bare(node)
    decl = cols.decl(node) if isinstance(node, exp.Column) else None
    if decl is None:
        return None
    m = _FSP.search(decl)
    return int(m.group(1)) if m else 0


def _time_edits(
    node: exp.Expr,
    operands: list[exp.Expr],
    kinds: list[str | None],
    cols: arith._Columns,
    text: str,
    tokens: list[Any],
) -> list[Edit]:
    """A comparison with a TIME operand (and no date): each constant becomes the text
    comparing with the stored TIME text as MySQL compares TIMEs (section "TIME").
    Two TIME columns of different precisions (``'10:00:00'`` against
    ``'10:00:00.000'``), a constant subject of ``IN``/``BETWEEN``, and an operand
    that is no TIME and no constant are a 1235."""
    shown = node.sql(dialect="mysql")[:200]
    timed = [_time_fsp(o, cols) for o, k in zip(operands, kinds, strict=True) if k == TIME]
    if len({0 if f is None else f for f in timed}) > 1:
        raise NotSupported(
            f"the comparison {shown} of TIME values of different precisions on the SQLite default"
        )
    if isinstance(node, exp.In | exp.Between) and kinds[0] != TIME:
        raise NotSupported(
            f"the comparison {shown} on the SQLite default (a constant compared with "
            "TIME values); compare the TIME with the constant"
        )
    fsp = timed[0] or 0
    out: list[Edit] = []
    for operand, k in zip(operands, kinds, strict=True):
        bare = _bare(operand)
        if k == TIME or isinstance(bare, exp.Null | exp.Placeholder | exp.Parameter):
            continue
        constant = time_constant(bare)
        if constant is None:
            raise NotSupported(
                f"the comparison {shown} on the SQLite default (a TIME compared with a "
                "value that is no TIME and no constant); compare with a time literal"
            )
        span = arith._span(text, tokens, bare)
        if span is None:
            raise _unrewritable(shown)
        piece = _quote(time_compared(constant, fsp))
        out.append((span[0], 2, 0, piece, span[1] - span[0] + 1))
    return out


def _unrewritable(shown: str) -> NotSupported:
    return NotSupported(
        f"the comparison {shown} on the SQLite default (a date compared in a form the "
        "shard cannot rewrite)"
    )


# -------------------------------------------------------------------------- store
# MySQL stores a value written to a DATE/DATETIME/TIMESTAMP column converted to the
# column's type; SQLite keeps what the statement gave. Measured on MariaDB 10.11
# (default strict sql_mode): a DATE keeps the date of a DATETIME value, a DATETIME(fsp)
# keeps ``fsp`` fraction digits, TRUNCATED (``10:00:00.5`` is ``10:00:00``; no
# TIME_ROUND_FRACTIONAL), ``'2024-01-05 10'``/``'… 10:11'`` are 10:00:00/10:11:00,
# numbers and digit strings are ``YYMMDD``/``YYYYMMDD``/``…HHMMSS`` (3 to 5 digits are
# ``YYMMDD`` padded: 101 is 2000-01-01), and ``'abc'``, ``''``, ``5``, ``19``,
# ``'2024-02-30'``, ``'2024-01-05x'``, ``'2024-01-05 25:00:00'`` are error 1292
# ``Incorrect date value: 'abc' for column `db`.`t`.`d` at row 1`` (``datetime`` for
# DATETIME/TIMESTAMP). The row number is always 1 (the shard does not know the
# client's row). Forms not measured (a fraction of a number, the zero date, a
# TIMESTAMP outside 1970-01-02 … 2038-01-18, other punctuation) are 1235, never
# stored raw. TIME columns: section "TIME" below.

_STORE_TEXT = re.compile(
    r"(\d{2}|\d{4})" + _DELIM + r"(\d{1,2})" + _DELIM + r"(\d{1,2})"
    r"(?:(?:\s+|T)(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?)?)?\Z"
)
_DATE_PREFIX = re.compile(r"(\d{2}|\d{4})" + _DELIM + r"\d{1,2}" + _DELIM + r"\d{1,2}")
_FSP = re.compile(r"\(\s*(\d)\s*\)")
_TIMESTAMP_DECL = re.compile(r"^\s*TIMESTAMP\b", re.IGNORECASE)


def store_kind(decl: str) -> tuple[str, int, bool] | None:
    """(``DATE``/``DATETIME``/``TIME``, fraction digits, whether TIMESTAMP) of a
    declared column type MySQL converts on store, None for any other."""
    if _DATE_DECL.match(decl):
        return DATE, 0, False
    if _TIME_DECL.match(decl):
        m = _FSP.search(decl)
        return TIME, int(m.group(1)) if m else 0, False
    if _DATETIME_DECL.match(decl):
        m = _FSP.search(decl)
        return DATETIME, int(m.group(1)) if m else 0, _TIMESTAMP_DECL.match(decl) is not None
    return None


def _incorrect(shown: str, target: str, label: str) -> ShardgateError:
    return ShardgateError(
        f"Incorrect {target} value: '{shown}' for column {label} at row 1",
        code=1292,
        sqlstate="22007",
    )


def _unmeasured(shown: str, label: str, why: str) -> NotSupported:
    return NotSupported(
        f"the value '{shown[:80]}' written to the date column {label} on the SQLite "
        f"default ({why}); a date literal 'YYYY-MM-DD[ HH:MM:SS]'"
    )


def store_value(value: Any, target: str, fsp: int, label: str, timestamp: bool = False) -> Any:
    """The canonical text MySQL stores for ``value`` in a ``target`` (``DATE`` or
    ``DATETIME``) column of ``fsp`` fraction digits; None for NULL. 1292 for what
    strict mode refuses, 1235 for a form not measured (section comment)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if target == TIME:
        return time_text(value, fsp, label)
    parts: tuple[int, ...] | None = None
    fraction = ""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise _unmeasured(repr(value), label, "a number with a fraction")
        value = int(value)
    if isinstance(value, int):
        shown = str(value)
        if value == 0:
            raise _unmeasured(shown, label, "the zero date")
        if value < 0 or len(shown) <= 2:
            raise _incorrect(shown, target, label)
        digits = shown.zfill(6) if len(shown) < 6 else shown
        parts = _digits(digits)
        if parts is None:
            raise _unmeasured(shown, label, "a number MySQL may read otherwise")
    else:
        shown = str(value)
        text = shown.strip()
        if not any(c.isdigit() for c in text):
            raise _incorrect(shown, target, label)
        if text.isdigit():
            parts = _digits(text)
            if parts is None:
                raise _unmeasured(shown, label, "a digit string MySQL may read otherwise")
        else:
            m = _STORE_TEXT.match(text)
            if m is None:
                if _DATE_PREFIX.match(text):
                    raise _incorrect(shown, target, label)
                raise _unmeasured(shown, label, "a form MySQL may read otherwise")
            parts = (_year(m.group(1)), *(int(g) for g in m.groups()[1:6] if g is not None))
            fraction = m.group(7) or ""
    if all(p == 0 for p in parts[:3]):
        raise _unmeasured(shown, label, "the zero date")
    try:
        h, mi, sec = (*parts[3:], 0, 0, 0)[:3]
        moment = datetime.datetime(parts[0], parts[1], parts[2], h, mi, sec)
    except ValueError:
        raise _incorrect(shown, target, label) from None
    if target == DATE:
        return moment.date().isoformat()
    if timestamp and not (datetime.datetime(1970, 1, 2) <= moment < datetime.datetime(2038, 1, 19)):
        raise _unmeasured(shown, label, "a TIMESTAMP near or outside its range")
    out = moment.strftime("%Y-%m-%d %H:%M:%S")
    if fsp:
        out += "." + fraction[:fsp].ljust(fsp, "0")
    return out


def _sg_store(value: Any, target: str, fsp: int, label: str, timestamp: int) -> Any:
    return store_value(value, target, fsp, label, bool(timestamp))


#: The registered function wrapping a non-constant value written to a date column.
STORE_FUNCTION = ("sg_date_store", 5, _sg_store)

_NAME = r'(?:"(?:[^"]|"")+"|\w+)'
_STORE_HEAD = re.compile(
    rf"\s*(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO\s+({_NAME})\s*\.\s*({_NAME})\s*"
    rf"(\(\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\))?\s*(VALUES\b|SELECT\b|WITH\b|\()?",
    re.IGNORECASE,
)
_UPDATE_HEAD = re.compile(
    rf"\s*UPDATE\s+(?:OR\s+\w+\s+)?({_NAME})\s*\.\s*({_NAME})\s+(?:AS\s+{_NAME}\s+)?SET\s",
    re.IGNORECASE,
)
_SHARD_SUFFIX = re.compile(r"_\d{4}\Z")
_SET_END = re.compile(r"\b(?:WHERE|FROM|ORDER|LIMIT|RETURNING)\b", re.IGNORECASE)
_PLAIN_STRING = re.compile(r"\s*'((?:[^']|'')*)'\s*\Z")
_PLAIN_NUMBER = re.compile(r"\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*\Z")


def _unq(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


#: A date column of a written table: (name, DATE/DATETIME, fsp, TIMESTAMP, label).
StoreColumn = tuple[str, str, int, bool, str]


def _store_columns(raw: Any, schema: str, table: str) -> list[StoreColumn] | None:
    """The table's columns in order with their store conversion (None: not date),
    or None when it has no date column."""
    decls = arith._declared(raw, f'"{schema}"."{table}"'.replace("\n", ""))
    cols = decls.get((schema.lower(), table.lower()))
    if not cols:
        return None
    out = []
    found = False
    for name, decl in cols.items():
        k = store_kind(decl)
        # the client's database: a shard's schema is ``<database>_<NNNN>``
        label = f"`{_SHARD_SUFFIX.sub('', schema)}`.`{table}`.`{name}`"
        if k is None:
            out.append((name, "", 0, False, label))
        else:
            found = True
            out.append((name, k[0], k[1], k[2], label))
    return out if found else None


def _stored(text: str, col: StoreColumn) -> str:
    """One written value's text: a constant as its canonical literal (or its error),
    NULL/DEFAULT as written, an expression wrapped in the store function."""
    _, target, fsp, ts, label = col
    bare = text.strip()
    if not bare or bare.upper() in ("NULL", "DEFAULT"):
        return text
    value: Any
    m = _PLAIN_STRING.match(text)
    if m is not None:
        value = m.group(1).replace("''", "'")
    else:
        n = _PLAIN_NUMBER.match(text)
        if n is not None:
            num = n.group(1)
            value = int(num) if re.fullmatch(r"[-+]?\d+", num) else float(num)
        else:
            return f"sg_date_store({text}, '{target}', {fsp}, {_quote(label)}, {int(ts)})"
    stored = store_value(value, target, fsp, label, ts)
    return "NULL" if stored is None else _quote(stored)


def store_rewrite(raw: Any, sql: str) -> tuple[str, str | None]:
    """``sql`` with each value written to a DATE/DATETIME/TIMESTAMP column made what
    MySQL stores (section comment), and, when some value is known only as rows are
    written (an INSERT … SELECT, a DEFAULT, an omitted column), the temporary trigger
    (:func:`store_fixup`) the caller runs after the statement."""
    head = _STORE_HEAD.match(sql)
    if head is not None:
        schema, table = _unq(head.group(1)), _unq(head.group(2))
        columns = _store_columns(raw, schema, table)
        if columns is None:
            return sql, None
        by_name = {c[0].lower(): c for c in columns}
        if head.group(3):
            names = [_unq(n.strip()) for n in head.group(3).strip()[1:-1].split(",")]
            targets = [by_name.get(n.lower(), ("", "", 0, False, "")) for n in names]
        else:
            targets = list(columns)
        omitted = any(
            c[1] and _default_unstored(raw, schema, table, c) for c in columns if c not in targets
        )
        if (head.group(4) or "").upper() != "VALUES":
            # INSERT … SELECT: converted as rows are written
            return sql, store_fixup(schema, table, columns)
        from sharding.backend.sqlite_passthrough import _CLAUSE

        clause = sql.find(_CLAUSE, head.end())
        out = [sql[: head.end()]]
        end, defaulted = _store_rows(sql, head.end(), targets, out)
        if clause >= 0 and end <= clause:
            out.append(sql[end : clause + len(_CLAUSE)])
            out.append(_store_assignments(sql[clause + len(_CLAUSE) :], by_name, None))
        else:
            out.append(sql[end:])
        trigger = store_fixup(schema, table, columns) if omitted or defaulted else None
        return "".join(out), trigger
    update = _UPDATE_HEAD.match(sql)
    if update is not None:
        columns = _store_columns(raw, _unq(update.group(1)), _unq(update.group(2)))
        if columns is None:
            return sql, None
        by_name = {c[0].lower(): c for c in columns}
        return sql[: update.end()] + _store_assignments(
            sql[update.end() :], by_name, _SET_END
        ), None
    return sql, None


def _store_rows(
    sql: str, start: int, targets: list[StoreColumn], out: list[str]
) -> tuple[int, bool]:
    """Append the VALUES rows from ``start`` converted; return where they end and
    whether some date column got DEFAULT."""
    from sharding.backend.sqlite_passthrough import _TOKEN

    depth = 0
    index = 0
    value: list[str] = []
    defaulted = False

    def emit() -> None:
        nonlocal defaulted
        text = "".join(value)
        col = targets[index] if index < len(targets) else None
        if col is None or not col[1]:
            out.append(text)
            return
        if text.strip().upper() == "DEFAULT":
            defaulted = True
        out.append(_stored(text, col))

    for m in _TOKEN.finditer(sql, start):
        tok = m.group()
        if depth == 0:
            if tok == "(":
                depth, index, value = 1, 0, []
                out.append(tok)
            elif tok == "," or tok.isspace():
                out.append(tok)
            else:
                return m.start(), defaulted
            continue
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        if depth == 1 and tok == ",":
            emit()
            out.append(",")
            value = []
            index += 1
        elif depth == 0:
            emit()
            out.append(")")
        else:
            value.append(tok)
    return len(sql), defaulted


def _store_assignments(
    text: str, by_name: dict[str, StoreColumn], end: re.Pattern[str] | None
) -> str:
    """``col = expr, …`` (up to ``end``'s keyword at depth 0) with each date column's
    value converted."""
    from sharding.backend.sqlite_passthrough import _split_assignment, split_assignments

    pieces, rest = split_assignments(text, end)
    out = []
    for piece in pieces:
        target, eq, value = _split_assignment(piece)
        col = by_name.get(_unq(target.strip().split(".")[-1].strip()).lower()) if eq else None
        if col is None or not col[1]:
            out.append(piece)
            continue
        lead = value[: len(value) - len(value.lstrip())]
        tail = value[len(value.rstrip()) :]
        out.append(f"{target}{eq}{lead}{_stored(value.strip(), col)}{tail}")
    return ",".join(out) + rest


def _default_unstored(raw: Any, schema: str, table: str, col: StoreColumn) -> bool:
    """Whether an omitted column's DEFAULT may store something MySQL would not: then
    the statement needs :func:`store_fixup` (a scan of the table). A NULL default, or
    one whose value (evaluated once here: a constant, ``CURRENT_TIMESTAMP``) is already
    the stored form, needs none — the common ``created_at DEFAULT CURRENT_TIMESTAMP``
    and nullable date columns cost an INSERT nothing."""
    q = '"' + schema.replace('"', '""') + '"'
    rows = raw.execute(f"PRAGMA {q}.table_info({_quote(table)})").fetchall()
    default = next((r[4] for r in rows if str(r[1]).lower() == col[0].lower()), None)
    if default is None or str(default).strip().upper() == "NULL":
        return False
    try:
        value = raw.execute(f"SELECT {default}").fetchone()[0]
        return bool(
            value is not None and store_value(value, col[1], col[2], col[4], col[3]) != value
        )
    except Exception:  # an expression the check cannot evaluate alone: fix up after
        return True


def store_fixup(schema: str, table: str, columns: list[StoreColumn]) -> str:
    """The UPDATE, run right after the write, making each date value of the table
    that is not yet what MySQL stores canonical (for values known only as rows are
    written: every other stored value is canonical already, so only the statement's
    rows change). A temporary trigger cannot: its UPDATE may not name the schema."""
    dated = [c for c in columns if c[1]]

    def conv(ref: str, c: StoreColumn) -> str:
        return f"sg_date_store({ref}, '{c[1]}', {c[2]}, {_quote(c[4])}, {int(c[3])})"

    def q(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    when = " OR ".join(f"{conv(q(c[0]), c)} IS NOT {q(c[0])}" for c in dated)
    sets = ", ".join(f"{q(c[0])} = {conv(q(c[0]), c)}" for c in dated)
    return f"UPDATE {q(schema)}.{q(table)} SET {sets} WHERE {when}"


# --------------------------------------------------------------------------- TIME
# MySQL reads a TIME from ``'[D ]H[:M[:S[.frac]]]'`` (``'1:2'`` is 01:02:00, ``'1 10'``
# is 34:00:00: D is days, at most 34) and from digits, as a string or a number, read
# from the right as ``[[H]HMM]SS[.frac]`` (``1000`` is 00:10:00, ``'10'`` 00:00:10);
# a fraction beyond the column's precision is TRUNCATED (``'10:00:00.9999'`` in a
# TIME(0) is 10:00:00, in a TIME(3) 10:00:00.999). Minutes or seconds past 59
# (``'10:60:00'``, ``126000``), ``'abc'``, ``''``, ``'10:00:00x'``, ``'1:2:3:4'``, more
# than 34 days are strict mode's error 1292 ``Incorrect time value`` (measured on
# MariaDB 10.11). The stored form is the canonical text ``HH:MM:SS[.f…]`` with exactly
# the column's fraction digits: for 0 ≤ hours < 100 its text order is the TIME order,
# so SQLite's comparison, ORDER BY, MIN and MAX are MySQL's. A negative TIME or one of
# 100 hours or more (MySQL's range is ±838:59:59) would not sort as text: a 1235, as
# are forms not measured (a date-and-time, an exponent, other punctuation).
_TIME_FORM = re.compile(r"(?:(\d+)\s+)?(\d+)(?::(\d+)(?::(\d+)(?:\.(\d*))?)?)?\Z")
_TIME_DIGITS = re.compile(r"(\d+)(?:\.(\d*))?\Z")
_TIME_BROKEN = re.compile(r"\d+:\d+:\d+[^\d.]")
#: Hours of the largest TIME the stored text orders correctly.
_TIME_HOURS = 100


def _time_parts(value: Any) -> tuple[int, int, int, str] | str:
    """(hours, minutes, seconds, fraction digits) MySQL reads ``value`` as, or why it
    is not one: ``"invalid"`` (1292) or a 1235 reason."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "E" in text or "n" in text:
            return "a number in exponent form"
        value = text
    text = str(value).strip()
    if text.startswith("-"):
        return "a negative TIME"
    if not text:
        return "invalid"
    days = 0
    if isinstance(value, int) or _TIME_DIGITS.match(text):
        m = _TIME_DIGITS.match(text)
        if m is None:
            return "invalid"
        digits, fraction = m.group(1), m.group(2) or ""
        if len(digits) > 6:
            return "a date-and-time number"
        digits = digits.zfill(6)
        h, mi, sec = int(digits[:2]), int(digits[2:4]), int(digits[4:])
    else:
        m = _TIME_FORM.match(text)
        if m is None:
            if not any(c.isdigit() for c in text) or _TIME_BROKEN.match(text):
                return "invalid"
            return "a form MySQL may read otherwise"
        days = int(m.group(1) or 0)
        h = int(m.group(2))
        mi = int(m.group(3) or 0)
        sec = int(m.group(4) or 0)
        fraction = m.group(5) or ""
    if days > 34 or mi > 59 or sec > 59:
        return "invalid"
    h += days * 24
    if h >= _TIME_HOURS:
        return "a TIME of 100 hours or more"
    return h, mi, sec, fraction


def time_text(value: Any, fsp: int, label: str) -> str | None:
    """The canonical text MySQL stores for ``value`` in a TIME(``fsp``) column; None
    for NULL. 1292 for what strict mode refuses, 1235 for what the stored text cannot
    order or was not measured (section comment)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    parts = _time_parts(value)
    shown = str(value)
    if parts == "invalid":
        raise _incorrect(shown, TIME, label)
    if isinstance(parts, str):
        raise NotSupported(
            f"the value '{shown[:80]}' written to the TIME column {label} on the SQLite "
            f"default ({parts}); a time 'HH:MM:SS' from 00:00:00 to 99:59:59"
        )
    h, mi, sec, fraction = parts
    out = f"{h:02d}:{mi:02d}:{sec:02d}"
    return out + "." + fraction[:fsp].ljust(fsp, "0") if fsp else out


def time_constant(node: exp.Expr) -> str | None:
    """A constant compared with a TIME operand as the text that compares with stored
    TIME text as MySQL compares the two TIMEs (its fraction without trailing zeros:
    ``'10:00:00.5'`` is below a TIME(3)'s ``'10:00:00.500'`` only as a prefix is, and
    equal after padding — see :func:`time_compared`); None when ``node`` is no constant.
    A constant MySQL does not read as a TIME in the stored range is a 1235."""
    node = _bare(node)
    if not isinstance(node, exp.Literal | exp.Neg):
        return None
    shown = node.sql(dialect="mysql")
    parts = None if isinstance(node, exp.Neg) else _time_parts(node.name)
    if not isinstance(parts, tuple):
        raise NotSupported(
            f"a TIME compared with {shown[:80]} on the SQLite default (not a TIME from "
            "00:00:00 to 99:59:59 as MySQL reads it); a time literal 'HH:MM:SS'"
        )
    h, mi, sec, fraction = parts
    return f"{h:02d}:{mi:02d}:{sec:02d}" + (
        "." + fraction.rstrip("0") if fraction.rstrip("0") else ""
    )


def time_compared(text: str, fsp: int) -> str:
    """``text`` (:func:`time_constant`) made comparable with a TIME(``fsp``) value's
    stored text: its fraction padded to ``fsp`` digits. A longer fraction is kept:
    the stored value, ``fsp`` digits, is then below it exactly when their first
    ``fsp`` digits are not above (as MySQL compares)."""
    base, _, fraction = text.partition(".")
    if len(fraction) >= fsp:
        return text
    return base + "." + fraction.ljust(fsp, "0")
