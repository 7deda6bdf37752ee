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

Invariant: the rewrite is exact when the stored values are canonical text (the form
the INSERT path is meant to store). TIME operands are not handled here (left as
SQLite compares them).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from sharding.backend import sqlite_arithmetic as arith
from sharding.errors import NotSupported

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
#: ``DATE_ADD``/``DATE_SUB`` units that keep a DATE a DATE (MySQL and ``_date_add``).
_DATE_UNITS = frozenset({"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"})
_DATETIME_DECL = re.compile(r"^\s*(?:DATETIME|TIMESTAMP)\b", re.IGNORECASE)
_DATE_DECL = re.compile(r"^\s*DATE\b(?!TIME)", re.IGNORECASE)
_TIME_DECL = re.compile(r"^\s*TIME\b(?!STAMP)", re.IGNORECASE)

#: SQLite's parse spells ``<=>`` as ``IS`` (``IS NOT`` for its negation).
_BINARY = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.NullSafeEQ, exp.NullSafeNEQ)
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
            return DATE if unit in _DATE_UNITS else DATETIME
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


# ---------------------------------------------------------------------- constants
_DELIM = r"[^\w\s]"
_TEMPORAL_TEXT = re.compile(
    r"\s*(\d{2}|\d{4})" + _DELIM + r"(\d{1,2})" + _DELIM + r"(\d{1,2})"
    r"(?:(?:\s+|T)(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?)?\s*\Z"
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
    if isinstance(node, _BINARY) and id(node) not in assignments:
        return [node.this, node.expression]
    if isinstance(node, _IS) and not isinstance(node.expression, exp.Null | exp.Boolean):
        return [node.this, node.expression]
    if isinstance(node, exp.In) and not node.args.get("query") and node.expressions:
        return [node.this, *node.expressions]
    if isinstance(node, exp.Between):
        return [node.this, node.args["low"], node.args["high"]]
    return None


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


def _unrewritable(shown: str) -> NotSupported:
    return NotSupported(
        f"the comparison {shown} on the SQLite default (a date compared in a form the "
        "shard cannot rewrite)"
    )
