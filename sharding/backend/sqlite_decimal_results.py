"""MySQL's DECIMAL results of computed numbers on SQLite shards (issue 15).

A DECIMAL column read as it is comes back as ``Decimal`` with its scale (the read
converter of its physical type, :mod:`sharding.backend.sqlite_mysql`). A *computed*
value has no declared type in SQLite: ``price * 2``, ``price / 3``, ``SUM(price)``,
``MIN(price)``, ``ROUND(price, 1)`` came back as SQLite REALs — ``3.4166666666666665``
where MariaDB answers ``3.416667``, ``0.15000000000000002`` for ``0.150``.

Its own module because, like :mod:`sharding.backend.sqlite_enum_numbers`, it needs the
shard file's schema at execution time: the result type of each select item is inferred
with MySQL's rules from the column types of the statement's tables, and the values of
the items that MySQL types DECIMAL are converted after the fetch —
``Decimal(repr(x))`` (the shortest decimal of the REAL, which recovers the exact
result of the ≤ 15-digit operands a DECIMAL column holds) rounded half up to the
scale MySQL gives:

* ``+``/``-``/``MOD``: the larger scale; ``*``: the sum of the scales; ``/``: the
  dividend's scale + 4 (``div_precision_increment``; ``7 / 2`` is ``3.5000``) — ``/``
  reaches the shard as ``sg_div(a, b)`` (:func:`sharding.backend.sqlite_mysql.
  translate_for_sqlite`), so an explicit ``CAST(x AS DOUBLE)`` stays a DOUBLE;
* ``SUM``: the argument's scale (an integer argument too: MySQL's SUM is DECIMAL);
  ``AVG``: its scale + 4; ``MIN``/``MAX``/``ABS``/``-x``: the argument's type;
  ``ROUND``/``TRUNCATE(x, d)`` and ``CAST(x AS DECIMAL(p, d))`` of a DECIMAL: scale
  ``d``; ``FLOOR``/``CEIL`` of a DECIMAL: an integer;
* integer operands follow the same rules (MySQL types them DECIMAL as well): ``n / 3``
  is ``3.3333``, ``SUM(n)`` a scale-0 ``Decimal``, ``AVG(n)`` scale 4, ``SELECT 7 / 2``
  ``3.5000``; ``+``/``-``/``*`` of integers stay integers; a ``SUM`` of anything else
  that SQLite sums to an integer (``SUM(a > 0)``) is a scale-0 ``Decimal`` too. The
  values are exact: ``SUM`` of integers is an exact integer, and an integer quotient
  (``sg_div`` computes MySQL's inner value, 9 fraction digits truncated) or an AVG of
  integers hands SQLite the nearest REAL while
  :func:`sharding.backend.sqlite_mysql.record_exact` keeps the exact value behind it,
  which the conversion uses for such an item (:attr:`Plan.exact`); ``SUM``/``AVG``
  (also as windows) record theirs always. Further arithmetic on such a REAL
  (``n / 3 * 3``) is SQLite's, read back by its shortest decimal: exact to 15
  significant digits — a result with more at its scale is a 1235 at run time
  (:data:`REAL_DIGITS`), never a rounded value;
* a quotient with a DECIMAL operand summed or computed on (``SUM(price / 7)``,
  ``price / 7 * 7000``) is refused (:attr:`Plan.refuse`): MySQL's hidden digits of it
  depend on the operands' declared scales;
* ``COALESCE``/``IFNULL``/``IF``/``CASE``/``GREATEST``/``LEAST`` of numbers: an integer
  if every branch is one, else DECIMAL with the largest scale; ``NULLIF`` its first
  argument's type; window aggregates and ``FIRST_VALUE``/``LAG``/… their argument's;
  ``SG_DECIMAL(n)`` (a subquery's scale-0 DECIMAL, :mod:`sharding.sql.materialize`)
  a scale-0 DECIMAL;
* ``CAST(x AS DECIMAL(p, s))`` (``sg_cast_decimal``) has scale s, of any argument;
  a ``COALESCE``/``IF``/``CASE``/… with a DOUBLE branch is a DOUBLE (an integer
  branch's value becomes a float); an integer result SQLite computed past BIGINT (it
  goes REAL) is MySQL's error 1690;
* arithmetic with a string operand (``s + 0``) is MySQL's DOUBLE (an integer result
  becomes a float); ``LAST_DAY(x)``, ``DATE(x)`` and ``DATE_ADD``/``DATE_SUB`` of a
  DATE/DATETIME column are dates (:data:`TEMPORAL`); a DOUBLE computed from ``PI()``
  shows MySQL's decimals (``PI() * 2`` is 6.283185, :func:`_pi_shown`), other uses of
  it in a select item are refused; an infinity in a computed select list is MySQL's
  error 1690 (:func:`check_double_range`);
* anything with a DOUBLE, a string, a function the rules do not know, a subquery or a
  ``*`` in the select list is left as SQLite computed it (MySQL has DOUBLE there, or the
  rules cannot tell) — except the chunked read of windows each shard computes,
  ``SELECT * FROM (<windowed select>) AS sgw …`` (:mod:`sharding.sql.window_plan`),
  whose rows are its inner select's: that select list is planned
  (``SUM(amount) OVER (PARTITION BY id)`` is ``984.90``, not the REAL ``984.9``).

Before a read runs, :func:`prepare` makes the statement's DOUBLE rounding and its
numbers written as text MySQL's (both need the schema too).

Cheap when there is nothing to do: only a select list with an operator, a parenthesis
or a decimal literal is parsed, and the plan (which item gets which scale) is cached per
statement prefix up to its WHERE.
"""

from __future__ import annotations

import datetime
import re
import sqlite3
import threading
from collections import OrderedDict
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, NamedTuple

import sqlglot
from sqlglot import exp

from sharding.backend import (
    sqlite_arithmetic,
    sqlite_compare,
    sqlite_enum_numbers,
    sqlite_mysql,
    sqlite_numeric_store,
    sqlite_reparse,
    sqlite_scan,
    sqlite_table_identity,
)
from sharding.backend.sqlite_scan import shrink_lists
from sharding.backend.sqlite_table_identity import NEUTRAL_KEY_CHARS, neutral_key
from sharding.errors import NotSupported, ShardgateError

#: A type as the rules see it: ("int", 0), ("dec", scale), or None (left as it is).
Kind = tuple[str, int] | None


class Plan(NamedTuple):
    """How to convert a statement's rows."""

    #: Per select item: the scale to convert to, -1 for an integer,
    #: :data:`INTEGER_SUM`, or None to leave it.
    scales: tuple[int | None, ...]
    #: Per select item: it is an integer quotient or an AVG or SUM of integers, whose REAL
    #: stands for the exact value :func:`sharding.backend.sqlite_mysql.exact_value`
    #: recorded while the statement ran.
    exact: tuple[bool, ...]
    #: Per select item: ``CAST(x AS UNSIGNED)`` itself, whose value beyond BIGINT comes
    #: as its digits (:func:`sharding.backend.sqlite_mysql.unsigned_text_seen`).
    unsigned: tuple[bool, ...] = ()
    #: Why the statement cannot be answered exactly here (a 1235 when it runs), or None.
    refuse: str | None = None
    #: Every ``sg_unsigned`` of the statement is a select item (none inside an expression).
    unsigned_top: bool = True
    #: Per select item: the decimals MySQL shows of a DOUBLE computed from ``PI()``
    #: (``PI() * 2`` is ``6.283185``), or None.
    shown: tuple[int | None, ...] = ()


#: A ``SUM`` of an argument the rules cannot type: an integer result (SQLite's sum of
#: integers only: ``SUM(a > 0)``, ``SUM(LENGTH(s))``) is MySQL's scale-0 DECIMAL, a REAL
#: stays as it is (a sum of DOUBLEs).
INTEGER_SUM = -2

#: A ``COALESCE``/``IF``/``CASE``/``GREATEST``/``LEAST`` with a DOUBLE branch: MySQL's
#: DOUBLE, so an integer branch's value is a float too.
DOUBLE = -4
_BRANCHING = (exp.Coalesce, exp.If, exp.Case, exp.Greatest, exp.Least)

#: ``LAST_DAY(x)``, ``DATE(x)``, or ``DATE_ADD``/``DATE_SUB`` of a DATE/DATETIME column: MySQL's DATE
#: or DATETIME, which the registered functions hand over as text (a string argument's
#: ``DATE_ADD`` stays text, as in MySQL).
TEMPORAL = -5
#: ``TIME(x)`` / ``CAST(x AS TIME)`` (SQLite's ``TIME()``): MySQL's TIME, a ``timedelta``.
TIME_OF_DAY = -9
#: ``COALESCE``/``IF``/``CASE``/``GREATEST``/``LEAST`` of DATE and DATETIME columns:
#: MySQL's DATETIME, a DATE branch's value at midnight (``COALESCE(d, dt)`` is
#: ``2024-01-15 00:00:00`` where SQLite hands over the DATE's text).
WIDE_DATETIME = -10
#: ``GREATEST``/``LEAST`` of DATE columns and date literals: MySQL's DATE, a literal
#: with a time read as its date (``GREATEST(d, '2024-01-02 10:00:00')`` is 2024-01-02).
NARROW_DATE = -11
#: Arithmetic with a string operand (``s + 0``, ``'3' * 2``): MySQL's DOUBLE.
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.Neg)
_TEXT_DECL = re.compile(
    r"^\s*(?:VARCHAR|CHAR|TEXT|TINYTEXT|MEDIUMTEXT|LONGTEXT|NVARCHAR|NCHAR)\b", re.IGNORECASE
)
_TEMPORAL_DECL = re.compile(r"^\s*(?:DATE|DATETIME|TIMESTAMP)\b", re.IGNORECASE)
_TIME_DECL = re.compile(r"^\s*TIME\b", re.IGNORECASE)
#: What :func:`_pi_shown` cannot tell: a 1235 rather than a guess at MySQL's digits.
_UNKNOWN = -1

_EXACT = Context(prec=100)
DIV_PRECISION_INCREMENT = 4
MAX_SCALE = 38
_DECIMAL_DECL = re.compile(r"DECIMAL_S(\d+)", re.IGNORECASE)
_INT_DECL = re.compile(r"^\s*(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?\b", re.IGNORECASE)
_SELECT_LIST = re.compile(r"\s*SELECT\s+(.*?)(?:\s+FROM\s|\Z)", re.IGNORECASE | re.DOTALL)
#: An operator, a call, or a decimal literal (``SELECT 1.50`` is a DECIMAL in MySQL).
_COMPUTED = re.compile(r"[-+*/%(]|\d\.|\bCASE\b", re.IGNORECASE)
_WHERE = re.compile(r"\sWHERE\s", re.IGNORECASE)
_MAY_RECORD = re.compile(r"\b(?:sg_div|avg|sum)\s*\(", re.IGNORECASE)

_lock = threading.Lock()
_plans: OrderedDict[str, Plan | None] = OrderedDict()
_PLANS = 2048


def forget() -> None:
    """Drop the cached plans (a table was created, altered or dropped)."""
    with _lock:
        _plans.clear()
        _doubles.clear()
    sqlite_table_identity.forget()


def records_exact(sql: str) -> bool:
    """Whether ``sql`` may compute values whose exact form the conversion wants
    (:attr:`Plan.exact`): then :func:`sharding.backend.sqlite_mysql.record_exact` is on
    while it runs. A text test: the plan is made after the statement ran."""
    return _MAY_RECORD.search(sql) is not None


#: The chunked read of windows computed by each shard (:mod:`sharding.sql.window_plan`):
#: ``SELECT * FROM (<the windowed select>) AS sgw WHERE <keyset> ORDER BY … LIMIT n``.
_WINDOWED = re.compile(r"\s*SELECT\s+\*\s+FROM\s*\(", re.IGNORECASE)
_WINDOWED_TAIL = re.compile(
    r'\)\s*AS\s+(?:sgw|"sgw")(?:\s+(?:WHERE|ORDER|LIMIT)\b|\s*\Z)', re.IGNORECASE
)


def _windowed_body(sql: str) -> str | None:
    """The inner select of a chunked windowed read (:data:`_WINDOWED`), whose rows the
    read passes on unchanged (``*``; its WHERE/ORDER BY/LIMIT only pick rows), or None."""
    m = _WINDOWED.match(sql)
    if m is None:
        return None
    depth, i, n = 1, m.end(), len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            close = sql.find(c, i + 1)
            while close != -1 and sql[close + 1 : close + 2] == c:  # a doubled quote
                close = sql.find(c, close + 2)
            if close == -1:
                return None
            i = close + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                if _WINDOWED_TAIL.match(sql, i) is None:
                    return None
                return sql[m.end() : i]
        i += 1
    return None


def plan(raw: sqlite3.Connection, sql: str) -> Plan | None:
    """How to convert the rows of ``sql`` (None: nothing to convert). A chunked
    windowed read is planned by its inner select (:func:`_windowed_body`): its window
    values are the shard's ``SUM(price) OVER (…)``, MySQL's DECIMAL as anywhere else."""
    inner = _windowed_body(sql)
    if inner is not None:
        return plan(raw, inner)
    m = _SELECT_LIST.match(sql)
    if m is None or not _COMPUTED.search(m.group(1)):
        return None
    w = _WHERE.search(sql)
    head = sql[: w.start()] if w else sql
    # One plan for every shard of a logical statement: the plan depends on the tables'
    # definitions, not on the schema naming each shard's file (sqlite_table_identity).
    key = neutral_key(raw, head) if len(head) <= NEUTRAL_KEY_CHARS else head
    with _lock:
        if key in _plans:
            _plans.move_to_end(key)
            return _plans[key]
    # The plan is of the select list: a long IN list after WHERE is cut to its first
    # value before the parse (parsing 25,000 values per shard took seconds of CPU).
    made = _make_plan(raw, head + shrink_lists(sql[len(head) :]))
    with _lock:
        _plans[key] = made
        while len(_plans) > _PLANS:
            _plans.popitem(last=False)
    return made


#: A REAL carries 15 significant decimal digits: a value computed by SQLite from REALs
#: is MySQL's DECIMAL only while it has no more at its scale.
REAL_DIGITS = 15


_UNSIGNED_CALL = re.compile(r"\bsg_unsigned\s*\(", re.IGNORECASE)


def check(how: Plan | None, sql: str) -> None:
    """Raise the 1235 a statement cannot avoid: a refused form (:attr:`Plan.refuse`), or a
    ``CAST(… AS UNSIGNED)`` beyond BIGINT that was not a select item (its digits would
    have been computed with as a string or a REAL)."""
    if how is not None and how.refuse is not None:
        raise NotSupported(how.refuse)
    # Counted in the text, not from the plan: the plan is cached per select list, and
    # the same list may come with a WHERE that casts (``… WHERE CAST(-q AS UNSIGNED) = …``).
    inside = len(_UNSIGNED_CALL.findall(sql)) > (sum(how.unsigned) if how is not None else 0)
    if sqlite_mysql.unsigned_text_seen() and (how is None or not how.unsigned_top or inside):
        raise NotSupported(
            "CAST(… AS UNSIGNED) beyond 9223372036854775807 inside an expression on the "
            "SQLite default"
        )


#: A non-integer number, a REAL cast or a division: how a write's value may be a DECIMAL
#: or DOUBLE (also the coordinator's rendering of a DOUBLE: ``CAST(3 AS REAL) / 2``).
_FRACTIONAL = re.compile(r"\d\.|\.\d|\d[eE][+-]?\d|\bAS\s+REAL\b|/|\bsg_div\s*\(", re.IGNORECASE)
_WRITE = re.compile(r"\s*(?:INSERT|REPLACE|UPDATE)\b", re.IGNORECASE)
_NAME = r'(?:"(?:[^"]|"")+"|\w+)'
#: The table of a shard's write (``INSERT INTO "db_0001"."t"``, ``UPDATE "db_0001"."t"``).
_TARGET = re.compile(
    rf"\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE)\s+({_NAME})\s*\.\s*({_NAME})",
    re.IGNORECASE,
)


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def number_as_text(raw: sqlite3.Connection, sql: str) -> str | None:
    """The text column an INSERT … VALUES row, an UPDATE ``SET`` or an upsert's ``ON
    DUPLICATE KEY UPDATE`` (SQLite's ``ON CONFLICT DO UPDATE SET``) gives a DECIMAL or
    DOUBLE value (``1.50``, ``0.10 + 1``, ``1e0``, ``CONCAT(1.50, 'x')``, a DECIMAL or
    DOUBLE column, ``VALUES(price)``), or None. MySQL stores such a number's own text
    (``'1.50'``, ``'1'``); SQLite its REAL's (``'1.5'``, ``'1.0'``), and a write's text
    is not re-rendered. Cheap text tests first: only a write with such a number outside
    quotes (or a DECIMAL/DOUBLE column of the written table named in it) is parsed."""
    if not _WRITE.match(sql):
        return None
    target = _TARGET.match(sql)
    masked = sqlite_scan.mask_strings(sql)  # a shard write's strings are SQLite's
    fractional = _fractional_text(masked)
    declared: dict[str, str] = {}
    if target is not None:
        schema, name = (_unquote(target.group(i)) for i in (1, 2))
        declared = _declared(raw, exp.Table(this=exp.to_identifier(name), db=schema))
        if not any(_TEXT_DECL.match(d) for d in declared.values()):
            return None  # no text column: nothing to parse the statement for
        if not fractional and not _names_inexact_column(masked, declared):
            return None
        simple = _simple_insert(sql, target.end(), declared)
        if simple is not None:
            return simple or None
    elif not fractional:
        return None
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return None
    pairs: list[tuple[str, exp.Expr]] = []
    table: exp.Table | None = None
    if isinstance(tree, exp.Insert) and isinstance(tree.this, exp.Schema):
        table = tree.this.this if isinstance(tree.this.this, exp.Table) else None
        names = [c.name for c in tree.this.expressions]
        values = tree.expression
        if isinstance(values, exp.Values):
            for row in values.expressions:
                pairs.extend(zip(names, row.expressions, strict=False))
        conflict = tree.args.get("conflict")
        if isinstance(conflict, exp.OnConflict):
            pairs.extend(_assignments(conflict.expressions))
    elif isinstance(tree, exp.Update) and isinstance(tree.this, exp.Table):
        table = tree.this
        pairs.extend(_assignments(tree.expressions))
    if table is None or not pairs:
        return None
    declared = _declared(raw, table)
    # The written table's columns (the upsert's ``excluded.c`` is its row's ``c``).
    alias = table.alias_or_name.lower()
    types = {alias: _column_types(raw, table)}
    doubles = {alias: _double_columns(raw, table)}
    for name, value in pairs:
        if not _TEXT_DECL.match(declared.get(name.lower(), "")):
            continue
        if _fractional(value):
            return name
        value = value.copy()
        for column in value.find_all(exp.Column):
            if column.table.lower() in ("excluded", table.name.lower()):
                column.set("table", exp.to_identifier(alias))
        if _inexact_text(value, types, doubles):
            return name
    return None


def _assignments(expressions: list[exp.Expr]) -> list[tuple[str, exp.Expr]]:
    """``(column, value)`` of ``SET a = x, t.b = y``."""
    return [
        (a.this.name, a.expression)
        for a in expressions
        if isinstance(a, exp.EQ) and isinstance(a.this, exp.Column)
    ]


_DIGIT_DOT = re.compile(r"[0-9]\.|\.[0-9]")
_EXPONENT_NUMBER = re.compile(r"[0-9][eE][-+]?[0-9]")


def _fractional_text(masked: str) -> bool:
    """:data:`_FRACTIONAL` in ``masked``; over megabytes as substring tests and plain
    searches first (the alternation held the GIL for ~0.1 s on a 2.5 MB INSERT)."""
    if len(masked) < sqlite_scan.SMALL:
        return _FRACTIONAL.search(masked) is not None
    if "/" in masked or _DIGIT_DOT.search(masked) or _EXPONENT_NUMBER.search(masked):
        return True
    low = masked.lower()
    return ("real" in low or "sg_div" in low) and _FRACTIONAL.search(masked) is not None


def _names_inexact_column(masked: str, declared: dict[str, str]) -> bool:
    """A DECIMAL column with a scale or a DOUBLE column of the written table named in
    the statement (``masked``: its strings masked): its value written as text is not
    MySQL's."""
    for name, decl in declared.items():
        m = _DECIMAL_DECL.match(decl)
        inexact = (m is not None and int(m.group(1)) > 0) or _DOUBLE_DECL.match(decl)
        pattern = r'(?<![\w$"])"?' + re.escape(name) + r'"?(?![\w$"])'
        if inexact and re.search(pattern, masked, re.IGNORECASE):
            return True
    return False


def _inexact_text(
    value: exp.Expr, types: dict[str, dict[str, Kind]], doubles: dict[str, set[str]]
) -> bool:
    """A DECIMAL with a scale (``price``, ``VALUES(price)``, ``price * 2``) or a DOUBLE
    (``d``, ``d * 2``) value: written to a text column SQLite writes its REAL's digits
    (``'0.1'``, ``'-2.0'``), MySQL ``'0.10'``, ``'-2'``."""
    kind = _kind(value, types)
    if kind is not None and kind[0] == "dec" and kind[1] > 0:
        return True
    return _is_double(value, doubles)


_COLUMN_LIST = re.compile(rf"\s*\(\s*({_NAME}(?:\s*,\s*{_NAME})*)\s*\)\s*VALUES\s*", re.I)
#: A row without nested parentheses, and one value of it (SQLite quoting: '' inside).
_SIMPLE_ROW = re.compile(r"\(((?:'(?:[^']|'')*'|[^'()])*)\)\s*(,\s*|$)")
_VALUE = re.compile(r"\s*('(?:[^']|'')*'|[^,']+)\s*(?:,|$)")


def _simple_insert(sql: str, at: int, declared: dict[str, str]) -> str | None:
    """The fast path of :func:`number_as_text` for ``INSERT … (cols) VALUES (…), …``
    whose rows hold plain values (the common bulk insert, which sqlglot would take
    milliseconds to parse): the text column given a fractional number, ``""`` for
    none, or None when the statement is not of that shape (then it is parsed)."""
    head = _COLUMN_LIST.match(sql, at)
    if head is None:
        return None
    names = [_unquote(n.strip()) for n in re.findall(_NAME, head.group(1))]
    text = [_TEXT_DECL.match(declared.get(n.lower(), "")) is not None for n in names]
    pos = head.end()
    while pos < len(sql.rstrip()):
        row = _SIMPLE_ROW.match(sql, pos)
        if row is None:
            return None
        values = [m.group(1) for m in _VALUE.finditer(row.group(1)) if m.group(1)]
        if len(values) != len(names):
            return None
        for name, is_text, value in zip(names, text, values, strict=True):
            if is_text and not value.startswith("'") and _FRACTIONAL.search(value):
                return name
        pos = row.end()
    return ""


def _fractional(node: exp.Expr) -> bool:
    """A non-integer number literal, a REAL cast or a division inside ``node``."""
    for sub in node.walk():
        if isinstance(sub, exp.Literal) and not sub.is_string and not sub.name.isdigit():
            return True
        if isinstance(sub, exp.Div) or _call_name(sub) == "sg_div":
            return True
        if isinstance(sub, exp.Cast) and sub.to.is_type(*exp.DataType.REAL_TYPES):
            return True
    return False


def check_double_range(rows: list[Any], sql: str) -> None:
    """MySQL's error 1690 for a DOUBLE that overflowed (``1e308 * 10``): SQLite's
    arithmetic gives an infinity, which no MySQL value is. Only a computed select list
    is scanned (a text test, as :func:`plan`)."""
    m = _SELECT_LIST.match(_windowed_body(sql) or sql)
    if m is None or not _COMPUTED.search(m.group(1)):
        return
    for row in rows:
        for v in row:
            if type(v) is float and (v - v) != 0.0:  # inf or nan
                raise ShardgateError(
                    "DOUBLE value is out of range (SQLite computed an infinity)",
                    code=1690,
                    sqlstate="22003",
                )


def convert(rows: list[Any], how: Plan) -> list[Any]:
    """The rows with MySQL's DECIMAL (and integer) results (module doc)."""
    scales = how.scales
    unsigned = how.unsigned or (False,) * len(scales)
    shown = how.shown or (None,) * len(scales)
    quanta = [None if s is None or s < 0 else Decimal(1).scaleb(-s) for s in scales]
    out = []
    for row in rows:
        if len(row) != len(scales):
            return rows  # not the statement the plan was made for: leave it
        values = list(row)
        for i, scale in enumerate(scales):
            v = values[i]
            if shown[i] == FLOAT_SHOWN:
                values[i] = sqlite_numeric_store.float_shown(v)  # MySQL's FLOAT digits
                continue
            if shown[i] is not None and isinstance(v, int | float) and not isinstance(v, bool):
                values[i] = float(f"{v:.{shown[i]}f}")  # MySQL's digits of a DOUBLE
                continue
            if scale == TEMPORAL:
                if isinstance(v, str):
                    values[i] = sqlite_mysql.temporal_value(v)
                continue
            if scale == TIME_OF_DAY:
                if isinstance(v, str):
                    values[i] = sqlite_mysql.time_value(v)
                continue
            if scale == NARROW_DATE:
                t = sqlite_mysql.temporal_value(v) if isinstance(v, str) else v
                values[i] = t.date() if isinstance(t, datetime.datetime) else t
                continue
            if scale == WIDE_DATETIME:
                t = sqlite_mysql.temporal_value(v) if isinstance(v, str) else v
                if isinstance(t, datetime.date) and not isinstance(t, datetime.datetime):
                    t = datetime.datetime(t.year, t.month, t.day)
                values[i] = t
                continue
            if unsigned[i] and isinstance(v, str) and v.isdigit():
                values[i] = int(v)  # beyond BIGINT: its digits (sqlite_mysql._unsigned)
                continue
            if scale is None or v is None or isinstance(v, bool | str | bytes):
                continue
            if scale == INTEGER_SUM:
                if isinstance(v, int):
                    values[i] = Decimal(v)
                elif isinstance(v, float) and how.exact[i] and sqlite_mysql.integer_sum(v):
                    values[i] = sqlite_mysql.exact_value(v) or v  # beyond BIGINT
                continue
            if scale == DOUBLE:
                if isinstance(v, int):
                    values[i] = float(v)
                continue
            if scale < 0:
                if isinstance(v, float) and not -(2.0**63) < v < 2.0**63:
                    # SQLite's integer arithmetic went REAL past BIGINT; MySQL's errs.
                    raise ShardgateError(
                        "BIGINT value is out of range", code=1690, sqlstate="22003"
                    )
                if isinstance(v, float) and v.is_integer():
                    values[i] = int(v)
                continue
            quantum = quanta[i]
            if quantum is not None and isinstance(v, int | float | Decimal):
                recorded = (
                    sqlite_mysql.exact_value(v) if how.exact[i] and isinstance(v, float) else None
                )
                try:
                    d = recorded or Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
                    values[i] = d.quantize(quantum, rounding=ROUND_HALF_UP, context=_EXACT)
                except (InvalidOperation, ValueError):
                    continue  # inf / nan: SQLite's own value
                if recorded is None and isinstance(v, float) and _beyond_real(values[i]):
                    raise NotSupported(
                        "a DECIMAL result beyond 15 significant digits computed from "
                        f"REALs on the SQLite default ({d.normalize():f} would lose digits)"
                    )
        out.append(tuple(values))
    return out


#: The functions whose MySQL rounding differs for a DOUBLE argument (ties to even).
_ROUNDING = re.compile(r"\b(?:round|truncate|sg_signed|sg_unsigned|format)\s*\(", re.IGNORECASE)
_DOUBLE_DECL = re.compile(r"^\s*(?:DOUBLE|FLOAT|REAL)\b", re.IGNORECASE)
#: Functions MySQL computes as DOUBLE.
_DOUBLE_FUNCTIONS = frozenset(
    {
        "sqrt",
        "pow",
        "power",
        "exp",
        "ln",
        "log",
        "log2",
        "log10",
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "atan2",
        "cot",
        "pi",
        "rand",
        "radians",
        "degrees",
    }
)
_DOUBLE_NAMES = {
    "round": "sg_round_double",
    "truncate": "sg_truncate_double",
    "sg_signed": "sg_signed_double",
    "sg_unsigned": "sg_unsigned_double",
    "format": "sg_format_double",
}
_doubles: OrderedDict[str, str] = OrderedDict()


def prepare(raw: sqlite3.Connection, sql: str) -> str:
    """``sql`` as the shard runs it, where MySQL's meaning depends on column types:

    * ``ROUND``, ``CAST(… AS SIGNED/UNSIGNED)`` and ``FORMAT`` of a DOUBLE argument call
      the registered DOUBLE forms: MariaDB rounds a DOUBLE with ``rint`` (ties to even:
      ``ROUND(2.5e0)`` is 2, ``CAST(2.5e0 AS SIGNED)`` 2), a DECIMAL half away from zero
      (``ROUND(2.5)`` is 3) — a SQLite REAL is either, so the schema tells;
    * a DECIMAL or DOUBLE operand of a string function, ``LIKE`` or ``CAST(… AS CHAR)``
      is written as MySQL writes it (:func:`_as_text`).

    Cheap when there is nothing to do (a text filter); the result is cached per text."""
    if not _may_prepare(sql):
        return sql
    # "Nothing to rewrite" is decided once for every shard of a logical statement (it
    # depends on the tables' definitions only); a rewritten text names its shard's
    # schema, so it is kept under its own text.
    neutral = neutral_key(raw, sql) if len(sql) <= NEUTRAL_KEY_CHARS else sql
    with _lock:
        for key in (neutral, sql):
            if key in _doubles:
                _doubles.move_to_end(key)
                found = _doubles[key]
                return sql if found is _UNCHANGED else found
    out = _prepare(raw, sql)
    with _lock:
        if out == sql:
            _doubles[neutral] = _UNCHANGED
        else:
            _doubles[sql] = out
        while len(_doubles) > _PLANS:
            _doubles.popitem(last=False)
    return out


#: A :data:`_doubles` entry: the statement runs as it is written (:func:`prepare`).
_UNCHANGED = "\x00unchanged"


_CALL_NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")


def _may_prepare(sql: str) -> bool:
    """The text filter of :func:`prepare`: a call it may rewrite, ``||`` or ``LIKE``.
    Over megabytes the names of the calls are collected (one cheap scan) rather than
    searched for one by one (an alternation at every position held the GIL for 0.3 s)."""
    if len(sql) < sqlite_scan.SMALL:
        return (
            _ROUNDING.search(sql) is not None
            or _TEXT_FILTER.search(sql) is not None
            or _GROUP_BY.search(sql) is not None
        )
    masked = sqlite_scan.mask_strings(sql)  # a call or LIKE inside a string is none
    if "||" in masked or ("like" in masked.lower() and _LIKE.search(masked) is not None):
        return True
    if _GROUP_BY.search(masked) is not None:
        return True
    names = {m.group(1).lower() for m in _CALL_NAME.finditer(masked)}
    return not names.isdisjoint(_PREPARED_CALLS)


def _prepare(raw: sqlite3.Connection, sql: str) -> str:
    try:
        tree = sqlite_reparse.parse(sql)
    except sqlglot.errors.ParseError:
        return sql
    changed = False
    scopes: list[exp.Expr] = list(tree.find_all(exp.Select))
    if isinstance(tree, exp.Update | exp.Delete):
        scopes.append(tree)  # its own table (and joins): what a write's refusal checks
    for select in scopes:
        doubles: dict[str, set[str]] = {}
        floats: dict[str, set[str]] = {}
        types: dict[str, dict[str, Kind]] = {}
        for source in [
            select.this if isinstance(select, exp.Update) else None,
            select.args.get("from_") or select.args.get("from"),
            *(select.args.get("joins") or []),
        ]:
            t = source if isinstance(source, exp.Table) else getattr(source, "this", None)
            if isinstance(t, exp.Table):
                doubles[t.alias_or_name.lower()] = _double_columns(raw, t)
                floats[t.alias_or_name.lower()] = _float_columns(raw, t)
                types[t.alias_or_name.lower()] = _column_types(raw, t)
        changed = _as_text(select, types, doubles, floats) or changed
        if isinstance(select, exp.Select):
            changed = _grouped_collations(raw, select) or changed
            changed = _first_row_by_key(raw, select) or changed
        for node in list(select.find_all(exp.Round, exp.Format, exp.Anonymous)):
            if isinstance(node, exp.Round):
                name, args = "round", [node.this, node.args.get("decimals")]
            elif isinstance(node, exp.Format):
                name, args = "format", [node.this, *node.expressions]
            else:
                name, args = node.name.lower(), list(node.expressions)
            if name not in _DOUBLE_NAMES or not args or not _is_double(args[0], doubles):
                continue
            node.replace(
                exp.Anonymous(
                    this=_DOUBLE_NAMES[name], expressions=[a for a in args if a is not None]
                )
            )
            changed = True
    return tree.sql(dialect="sqlite") if changed else sql


_COLLATE_CLAUSE = re.compile(r"\bCOLLATE\s+\"?(\w+)", re.IGNORECASE)
_GROUP_BY = re.compile(r"\bGROUP\s+BY\b", re.IGNORECASE)


def _single_key(raw: sqlite3.Connection, schema: str, table: str) -> str | None:
    """The one primary-key column of ``schema.table`` (None: none, or several)."""
    try:
        info = raw.execute(
            f'PRAGMA "{schema.replace(chr(34), chr(34) * 2)}".table_info'
            f'("{table.replace(chr(34), chr(34) * 2)}")'
        ).fetchall()
    except sqlite3.Error:
        return None
    keys = [row[1] for row in info if row[5]]
    return str(keys[0]) if len(keys) == 1 else None


def _first_row_by_key(raw: sqlite3.Connection, select: exp.Select) -> bool:
    """A group of equal texts shows its first row's value, as MariaDB does.

    ``'paid'``, ``'Paid'`` and ``'paid '`` are one group under ``utf8mb4_general_ci``
    (and any PAD SPACE collation); MariaDB shows the value of the group's first row in
    its scan order — primary-key order for one table — where SQLite shows the last
    row it met. SQLite's own rule gives the first row's: in a query with exactly one
    ``min()`` aggregate, bare columns come from the row holding the minimum. So a
    grouped query over one table with a one-column primary key and a text group term
    gets ``MIN(pk) IS NOT NULL`` in its HAVING (true for every group: a key is never
    NULL) when it has no ``min()``/``max()`` of its own; when its one such aggregate is
    already ``MIN(pk)`` (the coordinator's partials carry it:
    :mod:`sharding.sql.aggregate_plan`) nothing is needed. A query with other
    ``min()``/``max()`` aggregates keeps SQLite's choice (docs/refusals.md)."""
    groups = select.args.get("group")
    if groups is None or select.args.get("joins"):
        return False
    source = select.args.get("from_") or select.args.get("from")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or not table.db:
        return False
    schema, name = table.db, table.name
    decls = sqlite_arithmetic.declared_columns(
        raw, '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'
    ).get((schema.lower(), name.lower()), {})
    items = select.expressions
    aliases = {e.alias.lower(): e.this for e in items if isinstance(e, exp.Alias)}

    def text_term(term: exp.Expr) -> bool:
        target: exp.Expr | None = term
        if isinstance(term, exp.Literal) and term.is_int:
            index = int(term.name) - 1
            target = items[index].unalias() if 0 <= index < len(items) else None
        elif isinstance(term, exp.Column) and not term.table:
            target = aliases.get(term.name.lower(), term)
        if target is None:
            return False
        for col in target.find_all(exp.Column):
            decl = decls.get(col.name.lower())
            if decl is not None and _TEXT_DECL.match(decl):
                return True
        return False

    if not any(text_term(t) for t in groups.expressions):
        return False
    key = _single_key(raw, schema, name)
    if key is None:
        return False
    extremes = [
        node
        for node in select.find_all(exp.Min, exp.Max)
        if node.find_ancestor(exp.Select) is select
    ]
    if extremes:
        # one MIN(pk) already picks the first row; any other min/max: SQLite's choice
        return False
    first = exp.Min(this=exp.column(key, table=table.alias_or_name))
    condition = exp.Not(this=exp.Is(this=first, expression=exp.Null()))
    having = select.args.get("having")
    select.set(
        "having",
        exp.Having(
            this=condition if having is None else exp.and_(having.this, condition, copy=False)
        ),
    )
    return True


def _grouped_collations(raw: sqlite3.Connection, select: exp.Select) -> bool:
    """``GROUP BY`` / ``ORDER BY`` terms that are expressions over text columns (also by
    ordinal or select alias: ``GROUP BY TRIM(s)``, ``ORDER BY 1`` of ``CONCAT(s, '')``)
    get their columns' collation: SQLite groups and sorts a function's result BINARY,
    so ``'éa'``, ``'Éa'`` and ``'ÉA'`` were three groups where MySQL's
    ``utf8mb4_general_ci`` makes one, and a shard's order was not the merge's. A bare
    column keeps its own (declared) collation; terms over columns of several collations
    are left as they are (the coordinator refuses those). Numbers ignore a collation."""
    groups = select.args.get("group")
    order = select.args.get("order")
    terms: list[exp.Expr] = list(groups.expressions) if groups is not None else []
    if order is not None:
        terms += [o.this if isinstance(o, exp.Ordered) else o for o in order.expressions]
    if not terms:
        return False
    sources: dict[str, tuple[str, str]] = {}
    for source in [
        select.args.get("from_") or select.args.get("from"),
        *(select.args.get("joins") or []),
    ]:
        t = source.this if source is not None else None
        if isinstance(t, exp.Table) and t.db:
            sources[t.alias_or_name.lower()] = (t.db.lower(), t.name.lower())
    if not sources:
        return False
    text = " ".join(
        '"' + s.replace('"', '""') + '"."' + t.replace('"', '""') + '"' for s, t in sources.values()
    )
    decls = sqlite_arithmetic.declared_columns(raw, text)

    def collation_of(node: exp.Expr) -> str | None:
        found: set[str] = set()
        for col in node.find_all(exp.Column):
            keys = (
                [sources[col.table.lower()]]
                if col.table.lower() in sources
                else list(sources.values())
            )
            for key in keys:
                decl = decls.get(key, {}).get(col.name.lower())
                if decl is None:
                    continue
                m = _COLLATE_CLAUSE.search(decl)
                if m is not None and _TEXT_DECL.match(decl):
                    found.add(m.group(1))
                break
        return found.pop() if len(found) == 1 else None

    items = select.expressions
    aliases = {e.alias.lower(): e.this for e in items if isinstance(e, exp.Alias)}
    changed = False
    for term in terms:
        target: exp.Expr | None = term
        if isinstance(term, exp.Literal) and term.is_int:
            index = int(term.name) - 1
            target = items[index].unalias() if 0 <= index < len(items) else None
        elif isinstance(term, exp.Column) and not term.table:
            target = aliases.get(term.name.lower(), term)
        if target is None or isinstance(target, exp.Column | exp.Collate | exp.Literal):
            continue
        collation = collation_of(target)
        if collation is None:
            continue
        term.replace(exp.Collate(this=term.copy(), expression=exp.Var(this=collation)))
        changed = True
    return changed


#: SQLite-side string functions and operators (built-in or registered) whose numeric
#: arguments MySQL converts to text first.
_STRING_NODES = (
    exp.Concat,
    exp.ConcatWs,
    exp.DPipe,
    exp.Pad,
    exp.GroupConcat,
    exp.Upper,
    exp.Lower,
    exp.Trim,
    exp.Substring,
    exp.Replace,
    exp.Like,
    exp.ILike,
    exp.Length,
    exp.Left,
    exp.Right,
    exp.StrPosition,
    exp.MD5,
    exp.SHA,
    exp.SHA2,
)
_STRING_FUNCTIONS = frozenset(
    {
        "concat",
        "concat_ws",
        "octet_length",
        "char_length",
        "character_length",
        "lpad",
        "rpad",
        "substring",
        "substr",
        "mid",
        "sg_left",
        "sg_right",
        "locate",
        "instr",
        "reverse",
        "repeat",
        "md5",
        "sha1",
        "sha",
        "sha2",
        "like",
        "insert",
        "replace",
        "upper",
        "lower",
        "trim",
        "ltrim",
        "rtrim",
        "crc32",
        "to_base64",
        "ascii",
        "ord",
        "ucase",
        "lcase",
        "quote",
        "soundex",
    }
)
_TEXT_FILTER = re.compile(
    r"\b(?:"
    + "|".join(sorted(_STRING_FUNCTIONS | {"group_concat", "cast"}))
    + r")\s*\(|\|\||\bLIKE\b",
    re.IGNORECASE,
)
_LIKE = re.compile(r"\bLIKE\b", re.IGNORECASE)
#: The calls :data:`_ROUNDING` and :data:`_TEXT_FILTER` look for.
_PREPARED_CALLS = frozenset(
    {"round", "truncate", "sg_signed", "sg_unsigned", "format", "group_concat", "cast"}
    | {name.lower() for name in _STRING_FUNCTIONS}
)


def _string_context(node: exp.Expr) -> bool:
    if isinstance(node, _STRING_NODES):
        return True
    if isinstance(node, exp.Anonymous):
        return node.name.lower() in _STRING_FUNCTIONS
    return False


def _as_text(
    select: exp.Expr,
    types: dict[str, dict[str, Kind]],
    doubles: dict[str, set[str]],
    floats: dict[str, set[str]],
) -> bool:
    """A DECIMAL (or DOUBLE) operand of a string function or ``CAST(… AS CHAR)`` as MySQL
    writes it: ``CONCAT(price)`` of 0.10 is ``'0.10'`` (SQLite's REAL says ``0.1``),
    ``CAST(3e0 AS CHAR)`` is ``'3'`` (SQLite's ``3.0``). The operand becomes
    ``sg_dectext(x, scale)`` (or ``concat(x)``, MySQL's number-to-text)."""
    changed = False
    for node in list(select.find_all(exp.Expr)):
        parent = node.parent
        if parent is None or isinstance(node, exp.Paren):
            continue
        is_cast = isinstance(parent, exp.Cast) and parent.to.is_type(*exp.DataType.TEXT_TYPES)
        if not (is_cast or _string_context(parent)):
            continue
        if node.arg_key not in ("this", "expression", "expressions"):
            continue
        kind = _kind(node, types)
        if kind is not None and kind[0] == "dec" and not isinstance(node, exp.Null):
            text: exp.Expr = exp.Anonymous(
                this="sg_dectext", expressions=[node.copy(), exp.Literal.number(kind[1])]
            )
        elif _is_float(node, floats):
            # A FLOAT's text is its 6 significant digits, written as MySQL writes a number.
            text = exp.Anonymous(this="sg_float_text", expressions=[node.copy()])
        elif _is_double(node, doubles):
            text = exp.Anonymous(this="concat", expressions=[node.copy()])
        else:
            continue
        (parent if is_cast else node).replace(text)
        changed = True
    return changed


def _double_columns(raw: sqlite3.Connection, table: exp.Table) -> set[str]:
    schema = table.text("db")
    prefix = '"' + schema.replace('"', '""') + '".' if schema else ""
    name = table.name.replace('"', '""')
    return {
        str(row[1]).lower()
        for row in raw.execute(f'PRAGMA {prefix}table_info("{name}")')
        if _DOUBLE_DECL.match(str(row[2] or ""))
    }


def _is_double(node: exp.Expr, doubles: dict[str, set[str]]) -> bool:
    """MySQL computes ``node`` as a DOUBLE: a DOUBLE/FLOAT column, a literal with an
    exponent, a DOUBLE function, or arithmetic/aggregates with such an operand."""
    if isinstance(node, exp.Paren | exp.Neg | exp.Abs):
        return _is_double(node.this, doubles)
    if isinstance(node, exp.Column):
        q, name = node.table.lower(), node.name.lower()
        if q:
            return name in doubles.get(q, set())
        owners = [cols for cols in doubles.values() if name in cols]
        return len(owners) == 1
    if isinstance(node, exp.Literal):
        return not node.is_string and "e" in node.name.lower()
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod):
        return _is_double(node.this, doubles) or _is_double(node.expression, doubles)
    if isinstance(node, exp.Sum | exp.Avg | exp.Min | exp.Max) and not node.expressions:
        return _is_double(node.this, doubles)
    if isinstance(node, exp.Sqrt | exp.Pow | exp.Exp | exp.Ln | exp.Log):
        return True
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name in _DOUBLE_FUNCTIONS:
            return True
        if name in ("sg_div", "mod"):
            return any(_is_double(a, doubles) for a in node.expressions)
    return isinstance(node, exp.Func) and node.sql_name().lower() in _DOUBLE_FUNCTIONS


def _double_branch(node: exp.Expr, doubles: dict[str, set[str]]) -> bool:
    """A DOUBLE among the result branches of ``node`` (:data:`_BRANCHING`), the others
    numbers or NULL: MySQL's result is a DOUBLE."""
    if isinstance(node, exp.If):
        branches = [node.args.get("true"), node.args.get("false")]
    elif isinstance(node, exp.Case):
        branches = [i.args.get("true") for i in node.args.get("ifs") or []]
        branches.append(node.args.get("default"))
    else:
        branches = [node.this, *node.expressions]
    present = [b for b in branches if b is not None and not isinstance(b, exp.Null)]
    if any(isinstance(b, exp.Literal) and b.is_string for b in present):
        return False  # a string branch: MySQL's result is text
    return any(_is_double(b, doubles) for b in present)


def _beyond_real(d: Decimal) -> bool:
    """More significant digits at its scale than a REAL carries: SQLite's REAL result
    may differ from MySQL's exact DECIMAL in the last ones (``big * 1.25``)."""
    return len(d.as_tuple().digits) > REAL_DIGITS and d != 0


def _make_plan(raw: sqlite3.Connection, sql: str) -> Plan | None:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Select):
        return None
    items = tree.expressions
    if any(isinstance(i, exp.Star) or i.find(exp.Subquery) for i in items) or any(
        not isinstance(star.parent, exp.Count) for i in items for star in i.find_all(exp.Star)
    ):
        return None  # ``COUNT(*)`` is an integer; any other ``*`` has columns of its own
    tables: dict[str, exp.Table] = {}
    for source in [
        tree.args.get("from_") or tree.args.get("from"),
        *(tree.args.get("joins") or []),
    ]:
        if source is None:
            continue
        t = source.this
        if not isinstance(t, exp.Table):
            return None  # a derived table: its columns' types are not in a schema
        tables[t.alias_or_name.lower()] = t
    if not tables and any(True for _ in tree.find_all(exp.Column)):
        return None  # a column without a table (an outer reference): its type is unknown
    types: dict[str, dict[str, Kind]] = {
        key: _column_types(raw, table) for key, table in tables.items()
    }
    how: list[int | None] = []
    exact: list[bool] = []
    unsigned: list[bool] = []
    shown: list[int | None] = []
    refuse: str | None = None
    decls_made: dict[str, dict[str, str]] = {}

    def decls() -> dict[str, dict[str, str]]:
        if not decls_made:
            decls_made.update({key: _declared(raw, t) for key, t in tables.items()})
        return decls_made

    floats_made: dict[str, set[str]] = {}

    def floats() -> dict[str, set[str]]:
        if not floats_made:
            floats_made.update({key: _float_columns(raw, t) for key, t in tables.items()})
        return floats_made

    for item in items:
        node = item.this if isinstance(item, exp.Alias) else item
        exact.append(_of_integers(node, types))
        unsigned.append(_call_name(node) == "sg_unsigned")
        while isinstance(node, exp.Paren):
            node = node.this
        refuse = refuse or _inexact_quotient(node, types)
        shown.append(None)
        if node.find(exp.Pi) is not None:
            digits = _pi_shown(node, types, decls())
            if digits == _UNKNOWN:
                refuse = refuse or (
                    "PI() inside this expression on the SQLite default (MySQL shows such a "
                    "DOUBLE with a number of decimals the shard cannot tell)"
                )
            elif digits is not None and digits < _ALL_DIGITS:
                shown[-1] = digits
        if isinstance(node, exp.Column):
            how.append(None)  # read as it is: the column's own converter
            continue
        if isinstance(node, exp.Min | exp.Max) and not node.expressions:
            # MIN(d)/MAX(tm): SQLite's aggregate has no declared type (no converter)
            declared = _decl(node.this, decls())
            if _TEMPORAL_DECL.match(declared):
                how.append(TEMPORAL)
                continue
            if _TIME_DECL.match(declared):
                how.append(TIME_OF_DAY)  # MIN(tm): MySQL's TIME, a timedelta
                continue
        if not isinstance(node, exp.Column) and _is_float(node, floats()):
            shown[-1] = FLOAT_SHOWN  # MIN(f), CASE … THEN f END: MySQL's FLOAT
            how.append(None)
            continue
        if (
            isinstance(node, exp.LastDay | exp.Date)
            or (isinstance(node, exp.UnixToTime) and node.args.get("format") is None)
            or (
                isinstance(node, exp.Anonymous)
                and str(node.this).lower() in ("from_unixtime", "datetime")
                and len(node.expressions) == 1
            )
            or (
                isinstance(node, exp.DateAdd | exp.DateSub)
                and _TEMPORAL_DECL.match(_decl(node.this, decls()))
            )
        ):
            how.append(TEMPORAL)  # LAST_DAY(dt), DATE_ADD(dt, …), FROM_UNIXTIME(n): dates
            continue
        if (
            isinstance(node, exp.Anonymous)
            and str(node.this).lower() == "time"
            and len(node.expressions) == 1
        ):
            how.append(TIME_OF_DAY)  # TIME(dt), CAST(dt AS TIME)
            continue
        if isinstance(node, _BRANCHING):
            mixed = _temporal_branches(node, decls())
            if mixed == "datetime":
                how.append(WIDE_DATETIME)
                continue
            if mixed == "date":
                how.append(NARROW_DATE)  # GREATEST(d, '2024-02-01'): MySQL's DATE
                continue
            if mixed == "literal":
                refuse = refuse or (
                    f"{type(node).__name__.upper()} of a date and a value not written as "
                    "'YYYY-MM-DD [HH:MM:SS]' on the SQLite default (MySQL compares them as "
                    "dates); write the value so"
                )
            if mixed == "time":
                refuse = refuse or (
                    f"{type(node).__name__.upper()} of a TIME and a DATE/DATETIME on the "
                    "SQLite default (MySQL's DATETIME of today's date at that time); CAST "
                    "each branch to one type"
                )
        kind = _kind(node, types)
        if kind is None and isinstance(node, _ARITHMETIC) and _texty(node, decls()):
            how.append(DOUBLE)  # s + 0: MySQL converts the string to a DOUBLE
            continue
        if kind is None and isinstance(node, exp.Sum) and _texty(node.this, decls()):
            how.append(DOUBLE)  # SUM(s) of strings: MySQL's DOUBLE, also when each is 2
            continue
        if kind is None and isinstance(node, exp.Sum):
            how.append(INTEGER_SUM)  # an integer result came from integers: DECIMAL
            continue
        if kind is None and isinstance(node, _BRANCHING):
            doubles = {key: _double_columns(raw, t) for key, t in tables.items()}
            if _double_branch(node, doubles):
                how.append(DOUBLE)  # IF(q > 5, d, q): MySQL's DOUBLE, 3 is 3.0
                continue
        how.append(None if kind is None else (kind[1] if kind[0] == "dec" else -1))
    unsigned_top = sum(1 for n in tree.find_all(exp.Anonymous) if _call_name(n) == "sg_unsigned")
    unsigned_top = unsigned_top == sum(unsigned)
    if (
        any(s is not None for s in how)
        or any(unsigned)
        or refuse
        or not unsigned_top
        or any(d is not None for d in shown)
    ):
        return Plan(tuple(how), tuple(exact), tuple(unsigned), refuse, unsigned_top, tuple(shown))
    return None


#: MySQL's "all digits" decimals of a DOUBLE (NOT_FIXED_DEC).
_ALL_DIGITS = 31
#: :attr:`Plan.shown` of a select item MySQL types FLOAT (``MIN(f)``, ``CASE … THEN f``):
#: its 6 significant digits (:func:`sharding.backend.sqlite_numeric_store.float_shown`).
FLOAT_SHOWN = -6
_FLOAT_DECL = re.compile(r"^\s*FLOAT\s*$", re.IGNORECASE)


def _float_columns(raw: sqlite3.Connection, table: exp.Table) -> set[str]:
    """The FLOAT columns of a shard table (a FLOAT(p) of more than 24 bits, or MySQL's
    REAL, is declared DOUBLE by :mod:`sharding.sql.ddl`)."""
    schema = table.text("db")
    prefix = '"' + schema.replace('"', '""') + '".' if schema else ""
    name = table.name.replace('"', '""')
    return {
        str(row[1]).lower()
        for row in raw.execute(f'PRAGMA {prefix}table_info("{name}")')
        if _FLOAT_DECL.match(str(row[2] or ""))
    }


def _is_float(node: exp.Expr | None, floats: dict[str, set[str]]) -> bool:
    """MySQL types ``node`` FLOAT (shown with 6 significant digits): a FLOAT column,
    ``MIN``/``MAX`` of one, an ``IF``/``CASE``/``COALESCE``/``IFNULL`` whose every
    non-NULL branch is one."""
    if node is None:
        return False
    if isinstance(node, exp.Paren):
        return _is_float(node.this, floats)
    if isinstance(node, exp.Column):
        q, name = node.table.lower(), node.name.lower()
        if q:
            return name in floats.get(q, set())
        return len([cols for cols in floats.values() if name in cols]) == 1
    if isinstance(node, exp.Min | exp.Max) and not node.expressions:
        return _is_float(node.this, floats)
    if isinstance(node, exp.If | exp.Case | exp.Coalesce):
        if isinstance(node, exp.If):
            branches = [node.args.get("true"), node.args.get("false")]
        elif isinstance(node, exp.Case):
            branches = [i.args.get("true") for i in node.args.get("ifs") or []]
            branches.append(node.args.get("default"))
        else:
            branches = [node.this, *node.expressions]
        present = [b for b in branches if b is not None and not isinstance(b, exp.Null)]
        return bool(present) and all(_is_float(b, floats) for b in present)
    return False


def _declared(raw: sqlite3.Connection, table: exp.Table) -> dict[str, str]:
    """Each column's declared type (``ENUM`` for an ENUM column, whose arithmetic is
    its index, :mod:`sharding.backend.sqlite_enum_numbers`)."""
    schema = table.text("db")
    prefix = '"' + schema.replace('"', '""') + '".' if schema else ""
    name = table.name.replace('"', '""')
    out = {
        str(row[1]).lower(): str(row[2] or "")
        for row in raw.execute(f'PRAGMA {prefix}table_info("{name}")')
    }
    where = prefix + "sqlite_master"
    row = raw.execute(
        f"SELECT sql FROM {where} WHERE type = 'table' AND name = ?", (table.name,)
    ).fetchone()
    if row and row[0] and sqlite_mysql.ENUM_COLLATION_MARK in row[0]:
        for column in sqlite_enum_numbers.enum_columns(row[0]):
            out[column.lower()] = "ENUM"
    return out


def _decl(node: exp.Expr | None, decls: dict[str, dict[str, str]]) -> str:
    """The declared type of a column reference, ``""`` for anything else."""
    if not isinstance(node, exp.Column):
        return ""
    q, name = node.table.lower(), node.name.lower()
    if q:
        return decls.get(q, {}).get(name, "")
    owners = [cols[name] for cols in decls.values() if name in cols]
    return owners[0] if len(owners) == 1 else ""


def _temporal_branches(node: exp.Expr, decls: dict[str, dict[str, str]]) -> str | None:
    """``"datetime"`` for a ``COALESCE``/``IF``/``CASE``/``GREATEST``/``LEAST`` whose
    branches are DATE and DATETIME/TIMESTAMP columns (NULLs aside), ``"time"`` for one
    mixing a TIME column with a DATE/DATETIME one; None otherwise.

    ``GREATEST``/``LEAST`` of such columns and string literals is MySQL's DATE (all
    columns DATEs: ``"date"``) or DATETIME, the literals read as that type. A literal
    written as MySQL writes the type (``'2024-02-01'``, ``'2024-02-01 10:00:00'``)
    orders as its value among the columns' texts, and the value picked is read as the
    result's type; any other literal is refused (its text would order as text)."""
    kinds: set[str] = set()
    for branch in sqlite_compare._branches(node):
        while isinstance(branch, exp.Paren):
            branch = branch.this
        if isinstance(branch, exp.Null):
            continue
        if isinstance(node, exp.Greatest | exp.Least) and isinstance(branch, exp.Literal):
            written = branch.is_string and _CANONICAL_TEMPORAL.fullmatch(branch.name)
            kinds.add("literal" if written else "other")
            continue
        declared = _decl(branch, decls)
        if _TIME_DECL.match(declared):
            kinds.add("time")
        elif re.match(r"^\s*DATE\b(?!TIME)", declared, re.IGNORECASE):
            kinds.add("date")
        elif _TEMPORAL_DECL.match(declared):
            kinds.add("datetime")
        else:
            return None
    if "time" in kinds and len(kinds) > 1:
        return "time"
    columns = kinds & {"date", "datetime"}
    if columns and "other" in kinds:
        return "literal"
    if columns and "literal" in kinds:
        return "datetime" if "datetime" in kinds else "date"
    if kinds == {"date", "datetime"}:
        return "datetime"
    return None


#: A DATE or DATETIME literal as MySQL writes the value (:func:`_temporal_branches`).
_CANONICAL_TEMPORAL = re.compile(r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}:\d{2})?")


def _texty(node: exp.Expr, decls: dict[str, dict[str, str]]) -> bool:
    """Arithmetic with a string operand (a text column or a string literal)."""
    if isinstance(node, exp.Literal):
        return node.is_string
    if isinstance(node, exp.Column):
        return _TEXT_DECL.match(_decl(node, decls)) is not None
    if isinstance(node, exp.Paren | exp.Neg):
        return _texty(node.this, decls)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod):
        return _texty(node.this, decls) or _texty(node.expression, decls)
    if _call_name(node) in ("sg_div", "mod"):
        return any(_texty(a, decls) for a in node.expressions)
    return isinstance(node, _STRING_VALUED)


#: Functions whose MySQL result is a string whatever their arguments (``SUM(CONCAT(n))``
#: sums strings: a DOUBLE).
_STRING_VALUED = (
    exp.Concat,
    exp.ConcatWs,
    exp.Upper,
    exp.Lower,
    exp.Substring,
    exp.Trim,
    exp.Pad,
    exp.Left,
    exp.Right,
    exp.Replace,
    exp.Repeat,
    exp.Reverse,
    exp.Hex,
)


def _pi_shown(
    node: exp.Expr, types: dict[str, dict[str, Kind]], decls: dict[str, dict[str, str]]
) -> int | None:
    """The decimals MySQL shows of a DOUBLE select item computed from ``PI()``: 6 of
    ``PI()`` itself, the larger of the operands' for ``+``/``-``/``*`` (``PI() * 2`` is
    ``6.283185``), that + 4 for ``/``, ``d`` for ``ROUND(x, d)``; None for all
    digits (a DOUBLE column, an exponent literal, ``SIN(…)``); :data:`_UNKNOWN` where
    these rules do not say (``CONCAT(PI())``)."""
    if isinstance(node, exp.Pi):
        return 6
    if isinstance(node, exp.Paren | exp.Neg | exp.Abs):
        return _pi_shown(node.this, types, decls)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return _UNKNOWN
        if "e" in node.name.lower():
            return None
        kind = _kind(node, types)
        return _UNKNOWN if kind is None else _scale(kind)
    if isinstance(node, exp.Column):
        kind = _kind(node, types)
        if kind is not None:
            return _scale(kind)
        return None if _DOUBLE_DECL.match(_decl(node, decls)) else _UNKNOWN
    if isinstance(node, exp.Add | exp.Sub | exp.Mul) or _call_name(node) == "sg_div":
        a, b = (
            (node.this, node.expression)
            if not isinstance(node, exp.Anonymous)
            else [*node.expressions, None, None][:2]
        )
        if a is None or b is None:
            return _UNKNOWN
        x, y = _pi_shown(a, types, decls), _pi_shown(b, types, decls)
        if _UNKNOWN in (x, y):
            return _UNKNOWN
        if x is None or y is None:
            return None
        if isinstance(node, exp.Anonymous):
            return min(max(x, y) + DIV_PRECISION_INCREMENT, _ALL_DIGITS)
        return max(x, y)
    if isinstance(node, exp.Round) or _call_name(node) in ("round", "truncate"):
        args = (
            [node.this, node.args.get("decimals")]
            if isinstance(node, exp.Round)
            else list(node.expressions)
        )
        d = 0 if len(args) < 2 or args[1] is None else _digits(args[1])
        return _UNKNOWN if d is None else max(d, 0)
    if isinstance(node, exp.AggFunc | exp.Window):
        return _UNKNOWN  # MAX(PI() * q): not modelled
    if _is_double(node, {}) or (
        isinstance(node, exp.Anonymous) and node.name.lower() in _DOUBLE_FUNCTIONS
    ):
        return None  # SIN(PI() / 2): MySQL shows all digits
    return _UNKNOWN


def _call_name(node: exp.Expr) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else ""


def _inexact_quotient(item: exp.Expr, types: dict[str, dict[str, Kind]]) -> str | None:
    """Why a select item cannot be MySQL's exact DECIMAL here, or None.

    MySQL keeps a quotient with whole 9-digit words of fraction, truncated, whose number
    depends on the operands' declared scales; ``sg_div`` of a DECIMAL operand hands
    SQLite a REAL quotient with other last digits. Shown as the item itself (rounded to
    its scale) or rounded by ROUND/TRUNCATE they agree; summed (``SUM(price / 7)``) or
    computed with further (``price / 7 * 7000``) the hidden digits show."""
    for div in item.find_all(exp.Anonymous):
        if _call_name(div) != "sg_div" or len(div.expressions) != 2:
            continue
        kinds = [_kind(o, types) for o in div.expressions]
        if all(k is not None and _scale(k) == 0 for k in kinds):
            continue  # integers: the exact inner value is recorded (sg_div)
        if not any(k is not None and k[0] == "dec" for k in kinds):
            continue  # a DOUBLE operand: MySQL divides DOUBLEs too
        parent = div.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if div is item:
            continue  # the item itself
        rounded = isinstance(parent, exp.Round | exp.Trunc) or (
            parent is not None and _call_name(parent) in ("round", "truncate", "sg_cast_decimal")
        )
        if rounded and parent is item:
            continue
        if _kind(item, types) is None:
            continue  # a DOUBLE or text result: not a DECIMAL MySQL would show
        return (
            "a quotient of DECIMAL values inside SUM/AVG or further arithmetic on the "
            "SQLite default (MySQL's hidden digits of the quotient are not kept)"
        )
    return None


def _of_integers(node: exp.Expr, types: dict[str, dict[str, Kind]]) -> bool:
    """An integer quotient (``sg_div``), an AVG or SUM: a REAL whose exact value
    :mod:`sharding.backend.sqlite_mysql` records (:attr:`Plan.exact`). Only the item
    itself: arithmetic on such a REAL (``n / 3 * 3``) is SQLite's, exact to 15
    significant digits (beyond them: :func:`convert` refuses it)."""
    if isinstance(node, exp.Window):
        node = node.this  # SUM(p) OVER (…): the same exact window classes
    if isinstance(node, exp.Sum | exp.Avg):
        # SQLite's SUM/AVG here are sqlite_mysql's exact ones, which record the exact
        # value behind the REAL they hand over (a sum beyond BIGINT, of quotients, …).
        return True
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "sg_div"):
        return False
    kinds = [_kind(o, types) for o in node.expressions]
    # Scale 0 (an integer, a SUM of integers): SQLite hands the function integers.
    return bool(kinds) and all(k is not None and _scale(k) == 0 for k in kinds)


def _column_types(raw: sqlite3.Connection, table: exp.Table) -> dict[str, Kind]:
    schema = table.text("db")
    prefix = '"' + schema.replace('"', '""') + '".' if schema else ""
    name = table.name.replace('"', '""')
    out: dict[str, Kind] = {}
    for row in raw.execute(f'PRAGMA {prefix}table_info("{name}")'):
        decl = str(row[2] or "")
        m = _DECIMAL_DECL.match(decl)
        if m:
            out[str(row[1]).lower()] = ("dec", int(m.group(1)))
        elif _INT_DECL.match(decl):
            out[str(row[1]).lower()] = ("int", 0)
        elif _TEMPORAL_DECL.match(decl) or re.match(r"^\s*TIME\b", decl, re.IGNORECASE):
            # A DATE/DATETIME/TIME in arithmetic is its integer (``dt + 0`` is
            # 20240115: sharding.backend.sqlite_arithmetic); read alone, its converter.
            out[str(row[1]).lower()] = _TEMPORAL_NUMBER
        else:
            out[str(row[1]).lower()] = None
    return out


def _dec(*kinds: Kind) -> bool:
    return any(k is not None and k[0] == "dec" for k in kinds)


def _scale(k: Kind) -> int:
    return k[1] if k is not None and k[0] == "dec" else 0


def _digits(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Neg):
        inner = _digits(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string and node.name.isdigit():
        return int(node.name)
    return None


#: A DATE/DATETIME/TIME column's number in arithmetic: an integer (``dt + 0``), whose
#: negation MySQL types DECIMAL.
_TEMPORAL_NUMBER: Kind = ("tmp", 0)

#: The type of a NULL literal: any other branch decides (``COALESCE(price, NULL)``).
_NULL: Kind = ("null", 0)


def _common(*nodes: exp.Expr | None, types: dict[str, dict[str, Kind]]) -> Kind:
    """MySQL's type of ``COALESCE``/``IFNULL``/``IF``/``CASE``/``GREATEST``/``LEAST``
    over numbers: an integer if every branch is one, else DECIMAL with the largest scale
    (``IFNULL(price, 0)`` is ``0.00``; a missing ELSE is NULL). A DOUBLE, a string or an
    unknown branch: None (left as it is)."""
    kinds = [_NULL if n is None else _kind(n, types) for n in nodes]
    if any(k is None for k in kinds):
        return None
    known = [k for k in kinds if k is not None and k[0] != "null"]
    if not known:
        return None
    return ("dec", max(_scale(k) for k in known)) if _dec(*known) else ("int", 0)


def _kind(node: exp.Expr | None, types: dict[str, dict[str, Kind]]) -> Kind:
    """MySQL's result type of ``node`` (module doc); None: not exact, or unknown."""
    if node is None:
        return None
    if isinstance(node, exp.Paren):
        return _kind(node.this, types)
    if isinstance(node, exp.Column):
        qualifier = node.table.lower()
        name = node.name.lower()
        if qualifier:
            return types.get(qualifier, {}).get(name)
        owners = [t for t in types.values() if name in t]
        return owners[0][name] if len(owners) == 1 else None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return None
        text = node.name
        if re.fullmatch(r"\d+", text):
            return ("int", 0)
        m = re.fullmatch(r"\d*\.(\d*)", text)
        return ("dec", len(m.group(1))) if m else None
    if isinstance(node, exp.Neg | exp.Abs):
        inner = _kind(node.this, types)
        # MySQL's ``-dt`` of a DATE/DATETIME is a DECIMAL (``Decimal('-20240115')``).
        return ("dec", 0) if inner == _TEMPORAL_NUMBER and isinstance(node, exp.Neg) else inner
    if isinstance(node, exp.Count | exp.Predicate | exp.Connector | exp.Not):
        return ("int", 0)  # a count, a comparison, a truth value: integers
    if isinstance(node, exp.Distinct):
        exprs = node.expressions
        return _kind(exprs[0], types) if len(exprs) == 1 else None  # SUM(DISTINCT x)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod):
        a, b = _kind(node.this, types), _kind(node.expression, types)
        if a is None or b is None:
            return None
        if not _dec(a, b):
            return ("int", 0)
        if isinstance(node, exp.Mul):
            return ("dec", min(_scale(a) + _scale(b), MAX_SCALE))
        return ("dec", max(_scale(a), _scale(b)))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "sg_div":
        args = node.expressions
        a, b = (_kind(args[0], types), _kind(args[1], types)) if len(args) == 2 else (None, None)
        if a is None or b is None:
            return None
        return ("dec", min(_scale(a) + DIV_PRECISION_INCREMENT, MAX_SCALE))
    if (
        isinstance(node, exp.Anonymous)
        and node.name.lower() == "mod"
        and len(node.expressions) == 2
    ):
        a, b = _kind(node.expressions[0], types), _kind(node.expressions[1], types)
        if a is None or b is None:
            return None
        return ("dec", max(_scale(a), _scale(b))) if _dec(a, b) else ("int", 0)
    if isinstance(node, exp.Sum):
        a = _kind(node.this, types)
        return None if a is None else ("dec", _scale(a))
    if isinstance(node, exp.Avg):
        a = _kind(node.this, types)
        return None if a is None else ("dec", min(_scale(a) + DIV_PRECISION_INCREMENT, MAX_SCALE))
    if isinstance(node, exp.Min | exp.Max):
        if node.expressions:
            return None  # SQLite's multi-argument min()/max(): a scalar function
        return _kind(node.this, types)
    if isinstance(node, exp.Round | exp.Trunc):
        a = _kind(node.this, types)
        decimals = node.args.get("decimals")
        d = 0 if decimals is None else _digits(decimals)
        if a is None or not _dec(a) or d is None:
            return None  # ROUND(int, d) is an integer, CAST(int AS DECIMAL(p, d)) not
        return ("dec", max(0, min(d, MAX_SCALE)))
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("round", "truncate"):
        args = node.expressions
        a = _kind(args[0], types) if args else None
        d = _digits(args[1]) if len(args) > 1 else 0
        if a is None or not _dec(a) or d is None:
            return None
        return ("dec", max(0, min(d, MAX_SCALE)))
    if isinstance(node, exp.Null):
        return _NULL
    if isinstance(node, exp.Window):
        return _kind(node.this, types)  # SUM(p) OVER (…): the aggregate's own type
    if isinstance(node, exp.FirstValue | exp.LastValue | exp.NthValue):
        return _kind(node.this, types)
    if isinstance(node, exp.Lag | exp.Lead):
        default = node.args.get("default")
        return _common(node.this, *([default] if default is not None else []), types=types)
    if _call_name(node) == "sg_cast_decimal" and len(node.expressions) in (2, 4):
        # CAST(x AS DECIMAL(p, s)) of a number: scale s, an integer argument too
        d = _digits(node.expressions[1])
        return None if d is None else ("dec", max(0, min(d, MAX_SCALE)))
    if _call_name(node) == "sg_decimal" and len(node.expressions) == 1:
        return ("dec", 0)  # a scale-0 DECIMAL value (sharding.sql.materialize)
    if isinstance(node, exp.Coalesce | exp.Greatest | exp.Least):
        return _common(node.this, *node.expressions, types=types)
    if isinstance(node, exp.Nullif):
        return _kind(node.this, types)
    if isinstance(node, exp.If):
        return _common(node.args.get("true"), node.args.get("false"), types=types)
    if isinstance(node, exp.Case):
        ifs = node.args.get("ifs") or []
        return _common(*(i.args.get("true") for i in ifs), node.args.get("default"), types=types)
    if isinstance(node, exp.Floor | exp.Ceil):
        a = _kind(node.this, types)
        return ("int", 0) if a is not None and node.args.get("decimals") is None else None
    return None
