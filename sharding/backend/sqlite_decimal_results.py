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
* anything with a DOUBLE, a string, a function the rules do not know, a subquery or a
  ``*`` in the select list is left as SQLite computed it, and so is an item that
  reads no DECIMAL column (``SUM(n)``, ``n / 2`` over integers: MySQL's DECIMAL there
  is a type the coordinator's merge and the differential oracle do not model yet).

Cheap when there is nothing to do: only a select list with an operator or a
parenthesis is parsed, and the plan (which item gets which scale) is cached per
statement prefix up to its WHERE.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

import sqlglot
from sqlglot import exp

#: A type as the rules see it: ("int", 0), ("dec", scale), or None (left as it is).
Kind = tuple[str, int] | None
#: Per select item: the scale to convert to, -1 for an integer, None to leave it.
Plan = tuple[int | None, ...]

_EXACT = Context(prec=100)
DIV_PRECISION_INCREMENT = 4
MAX_SCALE = 38
_DECIMAL_DECL = re.compile(r"DECIMAL_S(\d+)", re.IGNORECASE)
_INT_DECL = re.compile(r"^\s*(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?\b", re.IGNORECASE)
_SELECT_LIST = re.compile(r"\s*SELECT\s+(.*?)\s+FROM\s", re.IGNORECASE | re.DOTALL)
_COMPUTED = re.compile(r"[-+*/%(]")
_WHERE = re.compile(r"\sWHERE\s", re.IGNORECASE)

_lock = threading.Lock()
_plans: OrderedDict[str, Plan | None] = OrderedDict()
_PLANS = 2048


def forget() -> None:
    """Drop the cached plans (a table was created, altered or dropped)."""
    with _lock:
        _plans.clear()


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
    quanta = [None if s is None or s < 0 else Decimal(1).scaleb(-s) for s in how]
    out = []
    for row in rows:
        if len(row) != len(how):
            return rows  # not the statement the plan was made for: leave it
        values = list(row)
        for i, scale in enumerate(how):
            v = values[i]
            if scale is None or v is None or isinstance(v, bool | str | bytes):
                continue
            if scale < 0:
                if isinstance(v, float) and v.is_integer():
                    values[i] = int(v)
                continue
            quantum = quanta[i]
            if quantum is not None and isinstance(v, int | float | Decimal):
                try:
                    d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
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
    if any(isinstance(i, exp.Star) or i.find(exp.Star, exp.Subquery) for i in items):
        return None
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
    if not tables:
        return None
    types: dict[str, dict[str, Kind]] = {
        key: _column_types(raw, table) for key, table in tables.items()
    }
    how: list[int | None] = []
    for item in items:
        node = item.this if isinstance(item, exp.Alias) else item
        if isinstance(node, exp.Column):
            how.append(None)  # read as it is: the column's own converter
            continue
        if not any(_dec(_kind(c, types)) for c in node.find_all(exp.Column)):
            # Over integers only (``SUM(n)``, ``n / 2``) MySQL answers DECIMAL too; left
            # as SQLite computes it for now (docs/refusals.md).
            how.append(None)
            continue
        kind = _kind(node, types)
        how.append(None if kind is None else (kind[1] if kind[0] == "dec" else -1))
    return tuple(how) if any(s is not None for s in how) else None


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
