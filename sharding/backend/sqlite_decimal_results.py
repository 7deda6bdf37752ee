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
  which the conversion uses for such an item (:attr:`Plan.exact`). Further arithmetic
  on such a REAL (``n / 3 * 3``) is SQLite's, read back by its shortest decimal: exact
  to 15 significant digits;
* anything with a DOUBLE, a string, a function the rules do not know, a subquery or a
  ``*`` in the select list is left as SQLite computed it (MySQL has DOUBLE there, or the
  rules cannot tell).

Cheap when there is nothing to do: only a select list with an operator, a parenthesis
or a decimal literal is parsed, and the plan (which item gets which scale) is cached per
statement prefix up to its WHERE.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, NamedTuple

import sqlglot
from sqlglot import exp

from sharding.backend import sqlite_mysql

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


#: A ``SUM`` of an argument the rules cannot type: an integer result (SQLite's sum of
#: integers only: ``SUM(a > 0)``, ``SUM(LENGTH(s))``) is MySQL's scale-0 DECIMAL, a REAL
#: stays as it is (a sum of DOUBLEs).
INTEGER_SUM = -2

_EXACT = Context(prec=100)
DIV_PRECISION_INCREMENT = 4
MAX_SCALE = 38
_DECIMAL_DECL = re.compile(r"DECIMAL_S(\d+)", re.IGNORECASE)
_INT_DECL = re.compile(r"^\s*(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?\b", re.IGNORECASE)
_SELECT_LIST = re.compile(r"\s*SELECT\s+(.*?)(?:\s+FROM\s|\Z)", re.IGNORECASE | re.DOTALL)
#: An operator, a call, or a decimal literal (``SELECT 1.50`` is a DECIMAL in MySQL).
_COMPUTED = re.compile(r"[-+*/%(]|\d\.")
_WHERE = re.compile(r"\sWHERE\s", re.IGNORECASE)
_MAY_RECORD = re.compile(r"\b(?:sg_div|avg|sum)\s*\(", re.IGNORECASE)

_lock = threading.Lock()
_plans: OrderedDict[str, Plan | None] = OrderedDict()
_PLANS = 2048


def forget() -> None:
    """Drop the cached plans (a table was created, altered or dropped)."""
    with _lock:
        _plans.clear()


def records_exact(sql: str) -> bool:
    """Whether ``sql`` may compute values whose exact form the conversion wants
    (:attr:`Plan.exact`): then :func:`sharding.backend.sqlite_mysql.record_exact` is on
    while it runs. A text test: the plan is made after the statement ran."""
    return _MAY_RECORD.search(sql) is not None


def plan(raw: sqlite3.Connection, sql: str) -> Plan | None:
    """How to convert the rows of ``sql`` (None: nothing to convert)."""
    m = _SELECT_LIST.match(sql)
    if m is None or not _COMPUTED.search(m.group(1)):
        return None
    w = _WHERE.search(sql)
    key = sql[: w.start()] if w else sql
    with _lock:
        if key in _plans:
            _plans.move_to_end(key)
            return _plans[key]
    made = _make_plan(raw, sql)
    with _lock:
        _plans[key] = made
        while len(_plans) > _PLANS:
            _plans.popitem(last=False)
    return made


def convert(rows: list[Any], how: Plan) -> list[Any]:
    """The rows with MySQL's DECIMAL (and integer) results (module doc)."""
    scales = how.scales
    quanta = [None if s is None or s < 0 else Decimal(1).scaleb(-s) for s in scales]
    out = []
    for row in rows:
        if len(row) != len(scales):
            return rows  # not the statement the plan was made for: leave it
        values = list(row)
        for i, scale in enumerate(scales):
            v = values[i]
            if scale is None or v is None or isinstance(v, bool | str | bytes):
                continue
            if scale == INTEGER_SUM:
                if isinstance(v, int):
                    values[i] = Decimal(v)
                elif isinstance(v, float) and how.exact[i]:
                    values[i] = sqlite_mysql.exact_value(v) or v  # beyond BIGINT
                continue
            if scale < 0:
                if isinstance(v, float) and v.is_integer():
                    values[i] = int(v)
                continue
            quantum = quanta[i]
            if quantum is not None and isinstance(v, int | float | Decimal):
                try:
                    d = (
                        (how.exact[i] and sqlite_mysql.exact_value(v)) or Decimal(repr(v))
                        if isinstance(v, float)
                        else Decimal(v)
                    )
                    values[i] = d.quantize(quantum, rounding=ROUND_HALF_UP, context=_EXACT)
                except (InvalidOperation, ValueError):
                    pass  # inf / nan: SQLite's own value
        out.append(tuple(values))
    return out


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
    for item in items:
        node = item.this if isinstance(item, exp.Alias) else item
        exact.append(_of_integers(node, types))
        if isinstance(node, exp.Column):
            how.append(None)  # read as it is: the column's own converter
            continue
        kind = _kind(node, types)
        if kind is None and isinstance(node, exp.Sum):
            how.append(INTEGER_SUM)  # an integer result came from integers: DECIMAL
            continue
        how.append(None if kind is None else (kind[1] if kind[0] == "dec" else -1))
    return Plan(tuple(how), tuple(exact)) if any(s is not None for s in how) else None


def _of_integers(node: exp.Expr, types: dict[str, dict[str, Kind]]) -> bool:
    """An integer quotient (``sg_div``), an AVG or SUM of integers: a REAL whose exact value
    :mod:`sharding.backend.sqlite_mysql` records (:attr:`Plan.exact`). Only the item
    itself: arithmetic on such a REAL (``n / 3 * 3``) is SQLite's, exact to 15
    significant digits."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "sg_div":
        operands = node.expressions
    elif isinstance(node, exp.Avg):
        operands = [node.this]
    elif isinstance(node, exp.Sum):
        # A REAL from a SUM of integers is one beyond BIGINT (recorded).
        kind = _kind(node.this, types)
        return kind is None or _scale(kind) == 0
    else:
        return False
    kinds = [_kind(o, types) for o in operands]
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
        return _kind(node.this, types)
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
    if isinstance(node, exp.Floor | exp.Ceil):
        a = _kind(node.this, types)
        return ("int", 0) if a is not None and node.args.get("decimals") is None else None
    return None
