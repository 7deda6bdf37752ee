"""Uncorrelated subqueries as values (issue 18, item 2): the pure half.

``x IN (SELECT ...)``, ``x NOT IN (SELECT ...)``, ``EXISTS (SELECT ...)`` and scalar
subqueries over sharded tables have no merge primitive of their own. When a subquery
does not refer to the query around it, MySQL's answer is the answer of the statement
with the subquery replaced by its result (that is how MariaDB materialises such a
subquery): the session runs the inner SELECT first — as a statement of its own, with
every plan shardgate has, in the same transaction — and this module writes its
result back into the tree:

* ``x IN (subquery)`` → ``x IN (v1, v2, ...)`` with the distinct values (a NULL among
  them kept once: ``x IN (1, NULL)`` is NULL, not FALSE, for a missing ``x``, as for the
  subquery); an empty result → ``FALSE`` (``NULL IN (empty)`` is FALSE in MySQL, and
  ``NOT IN (empty)`` TRUE). The outer query then routes by the values like any IN list.
* ``EXISTS (subquery)`` → ``TRUE`` / ``FALSE``.
* a scalar subquery → its one value (``NULL`` for no row; more than one row is 1242,
  more than one column 1241, as in MySQL).

Values become literals of their own type: integers and decimals as exact numbers,
floats as DOUBLE (``1.5e0``), text as a string (hex with an introducer when it is not
plain, so the reading never depends on ``sql_mode``), bytes as a binary string,
temporal values as ``CAST('...' AS DATETIME(6))``-style typed expressions, so a
comparison with them is the comparison MySQL made with the subquery's column.

The node that replaces a subquery carries the definition MariaDB gives the subquery
(``meta[CARRIED]``, :mod:`sharding.sql.describe`): a select item that is one is sent with
it, not with the shard's typing of the literals (``INT(1)`` NOT NULL for a count of 7,
where MariaDB sends ``BIGINT(21)``, nullable). A scalar's and a lookup's come from the
inner result's own column definitions (``columns``: MariaDB's, as the coordinator sent
them) by :func:`sharding.sql.describe.subquery_definition`; without them only a
``COUNT``'s is known. ``IN`` and ``EXISTS`` have fixed ones.

Whether a subquery is uncorrelated is decided by running it alone: MySQL resolves a
name in the innermost block that has it, so a subquery that runs alone names nothing
outside itself; one that does not (1054) refers to the outer query and is left to the
refusal. A row ``(a, b) IN (SELECT x, y ...)`` becomes ``(a, b) IN ((v1, w1), ...)``; a
grouped lookup (``SG_LOOKUP``, :mod:`sharding.sql.decorrelate`) a ``CASE`` over its
groups (:func:`lookup_node`). Not done here: ``ANY``/``ALL``, an ``IN`` subquery with
LIMIT (MariaDB refuses it: 1235).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

from sharding.backend.base import Column, ColumnType
from sharding.errors import NotSupported, ShardgateError
from sharding.sql.decorrelate import LOOKUP
from sharding.sql.derived_columns import cte_map, needed_ctes
from sharding.sql.describe import (
    CARRIED,
    COUNT_SUBQUERY,
    EXISTS_SUBQUERY,
    IN_SUBQUERY,
    subquery_definition,
)
from sharding.sql.inlist import FOLD_MIN
from sharding.sql.literals import mysql_text

__all__ = [
    "SubqueryUse",
    "drop_materialized_ctes",
    "folded_values",
    "literal_node",
    "lookup_node",
    "lookup_probe",
    "replace_with_values",
    "runnable_select",
    "subquery_uses",
]


@dataclass(eq=False)
class SubqueryUse:
    """One subquery used as a value: how (``in``/``exists``/``scalar``), the SELECT to
    run, and the node its values replace."""

    kind: str
    select: exp.Expr
    target: exp.Expr


def single_column_in(tree: exp.Expr) -> SubqueryUse | None:
    """The statement's only subquery when it is ``column IN (SELECT …)``; None
    otherwise (what paging and the semi-join both start from)."""
    uses = subquery_uses(tree)
    if len(uses) != 1 or uses[0].kind != "in":
        return None
    target = uses[0].target
    if not isinstance(target, exp.In) or not isinstance(target.this, exp.Column):
        return None
    return uses[0]


def subquery_uses(tree: exp.Expr) -> list[SubqueryUse]:
    """The outermost subqueries of ``tree`` used as values (module docstring).

    Derived tables, CTE bodies and UNION branches are walked into (their own
    conditions may hold such subqueries); a subquery's inside is not (it is planned on
    its own when it runs, where its nested subqueries are found in turn)."""
    out: list[SubqueryUse] = []
    for node in _walk(tree):
        if isinstance(node, exp.In):
            query = node.args.get("query")
            if query is None:
                continue
            inner = query.this if isinstance(query, exp.Subquery) else query
            if isinstance(inner, exp.Select | exp.Union) and inner.args.get("limit") is None:
                out.append(SubqueryUse("in", inner, node))
        elif isinstance(node, exp.Exists):
            inner = node.this.this if isinstance(node.this, exp.Subquery) else node.this
            if isinstance(inner, exp.Select | exp.Union):
                out.append(SubqueryUse("exists", inner, node))
        elif isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select | exp.Union):
            host = node.parent
            if isinstance(host, exp.Anonymous) and host.name.upper() == LOOKUP:
                if node is host.expressions[1]:  # not the probe: lookup_probe
                    out.append(SubqueryUse("lookup", node.this, host))
            else:
                out.append(SubqueryUse("scalar", node.this, node))
    return out


def runnable_select(use: SubqueryUse) -> exp.Expr:
    """A copy of the subquery's SELECT that runs alone: the CTEs of the statement
    around it that it names (directly or through another CTE) attached to its own
    ``WITH`` — ``WITH t AS (…) SELECT … WHERE id IN (SELECT k FROM t)`` runs
    ``WITH t AS (…) SELECT k FROM t``. A CTE of the subquery's own shadows an outer one."""
    inner = use.select.copy()
    chain: list[exp.Expr] = []
    node: exp.Expr | None = use.target
    while node is not None:
        chain.append(node)
        node = node.parent
    visible: dict[str, exp.CTE] = {}
    recursive = False
    for ancestor in reversed(chain):
        with_ = ancestor.args.get("with_") or ancestor.args.get("with")
        if isinstance(with_, exp.With):
            recursive = recursive or bool(with_.args.get("recursive"))
            visible = cte_map(ancestor, visible)
    own = cte_map(inner)
    needed = [c.copy() for c in needed_ctes(inner, visible) if c.alias_or_name.lower() not in own]
    if not needed:
        return inner
    with_ = inner.args.get("with_") or inner.args.get("with")
    if isinstance(with_, exp.With):
        with_.set("expressions", needed + list(with_.expressions))
        with_.set("recursive", bool(with_.args.get("recursive")) or recursive)
    else:
        inner.set("with_", exp.With(expressions=needed, recursive=recursive))
    return inner


def drop_materialized_ctes(tree: exp.Expr, ran: set[str]) -> None:
    """Remove from ``tree``'s own ``WITH`` the CTEs named in ``ran`` (each ran inside a
    materialised subquery, so it resolved) that nothing in the statement names any
    longer; the ``WITH`` goes when it is empty. A CTE nothing ever named stays: MariaDB
    still resolves its tables (1146 for a missing one)."""
    with_ = tree.args.get("with_") or tree.args.get("with")
    if not isinstance(with_, exp.With) or not ran:
        return
    while True:
        named = {
            t.name.lower()
            for cte in with_.expressions
            for t in cte.this.find_all(exp.Table)
            if not t.db
        }
        body = tree.copy()
        body.set("with_", None)
        body.set("with", None)
        named |= {t.name.lower() for t in body.find_all(exp.Table) if not t.db}
        unused = [
            c
            for c in with_.expressions
            if c.alias_or_name.lower() in ran and c.alias_or_name.lower() not in named
        ]
        if not unused:
            break
        with_.set("expressions", [c for c in with_.expressions if c not in unused])
    if not with_.expressions:
        tree.set("with_", None)
        tree.set("with", None)


def _walk(tree: exp.Expr) -> Iterator[exp.Expr]:
    """Nodes of ``tree``, not descending into a subquery used as a value; a derived
    table (a FROM/JOIN source) and a CTE are descended into."""
    stack: list[exp.Expr] = [tree]
    while stack:
        node = stack.pop()
        if node is not tree:
            if isinstance(node, exp.In) and node.args.get("query") is not None:
                yield node
                stack.append(node.this)
                continue
            if isinstance(node, exp.Exists | exp.Any | exp.All):
                yield node
                continue
            if isinstance(node, exp.Subquery) and not _is_source(node):
                yield node
                continue
        stack.extend(reversed(list(node.iter_expressions())))


def _is_source(node: exp.Subquery) -> bool:
    """True for a derived table (``FROM (SELECT ...) d``, a JOIN source, a CTE body)
    or a parenthesised UNION branch."""
    parent = node.parent
    return (
        isinstance(parent, exp.From | exp.Join | exp.CTE | exp.Union | exp.Lateral)
        or node.args.get("alias") is not None
    )


def _carry(node: exp.Expr, definition: ColumnType | None) -> exp.Expr:
    """``node`` marked with the definition of the subquery it replaced (if known)."""
    if definition is not None:
        node.meta[CARRIED] = definition
    return node


def _scalar_definition(
    select: exp.Expr, columns: Sequence[Column] | None, index: int
) -> ColumnType | None:
    """MariaDB's definition of a scalar subquery: from the inner result's column
    ``index`` when its definition is known, else only a plain ``COUNT``'s."""
    wire = columns[index].wire if columns is not None and index < len(columns) else None
    if wire is not None:
        return subquery_definition(wire, select, index)
    items = select.expressions if isinstance(select, exp.Select) else []
    item = items[index] if index < len(items) else None
    if isinstance(item, exp.Alias):
        item = item.this
    return COUNT_SUBQUERY if isinstance(item, exp.Count) else None


def replace_with_values(
    use: SubqueryUse,
    width: int,
    rows: Sequence[Sequence[Any]],
    dialect: str,
    collation: str | None = None,
    columns: Sequence[Column] | None = None,
    collations: Sequence[str | None] | None = None,
) -> None:
    """Write the result ``rows`` (``width`` columns) of ``use``'s SELECT into the tree
    (module docstring); ``collation``: a lookup's, :func:`lookup_probe`; ``columns``:
    the result's column definitions (a scalar's or lookup's own, module docstring);
    ``collations``: an ``IN``'s, per column of the result, on a backend where a text
    literal compares bytewise (SQLite): each text value carries its column's
    (:func:`_collated`)."""
    if use.kind == "exists":
        use.target.replace(_carry(exp.true() if rows else exp.false(), EXISTS_SUBQUERY))
        return
    if use.kind == "lookup":
        # The grouped query's second column is the aggregate (decorrelate_scalar).
        node = lookup_node(use.target, rows, dialect, collation)
        use.target.replace(_carry(node, _scalar_definition(use.select, columns, 1)))
        return
    left = use.target.this if use.kind == "in" else None
    if isinstance(left, exp.Tuple):
        _replace_with_rows(use, left, width, rows, dialect, collations)
        return
    if width != 1:
        if use.kind == "in" or isinstance(use.target.parent, exp.Select):
            raise ShardgateError("Operand should contain 1 column(s)", code=1241, sqlstate="21000")
        # MariaDB types the comparison with a row first (4078 naming both types).
        raise NotSupported("a subquery of several columns compared as one value")
    if use.kind == "scalar":
        if len(rows) > 1:
            raise ShardgateError("Subquery returns more than 1 row", code=1242, sqlstate="21000")
        node = literal_node(rows[0][0] if rows else None, dialect)
        use.target.replace(_carry(node, _scalar_definition(use.select, columns, 0)))
        return
    values = _distinct(row[0] for row in rows)
    if not values:
        use.target.replace(_carry(exp.false(), IN_SUBQUERY))
        return
    host = _carry(use.target, IN_SUBQUERY)
    host.set("query", None)
    own = collations[0] if collations else None
    host.set("expressions", [_collated(literal_node(v, dialect), v, own) for v in values])
    left = host.this
    if isinstance(left, exp.Literal) and left.is_string:
        # SQLite's IN compares with its left operand's collation only.
        host.set("this", _collated(left, left.name, own))


def _collated(node: exp.Expr, value: Any, collation: str | None) -> exp.Expr:
    """``node`` (the literal of ``value``) as ``node COLLATE collation`` when ``value``
    is text read from a column of ``collation``. MySQL compares ``'PAID' IN (SELECT
    status …)`` in ``status``'s collation (a column's wins over a literal's); once the
    values are literals, SQLite would compare two literals bytewise (``'PAID'`` is not
    ``'paid'``), so each value carries its column's collation (SQLite's registered
    ones have MySQL's names: :mod:`sharding.backend.sqlite_mysql`). Explicit there, it
    wins over a column on the other side too, whose collation MySQL's 1267 required
    to be the same."""
    if collation is None or collation == "binary" or not isinstance(value, str):
        return node
    return exp.Collate(this=node, expression=exp.Var(this=collation))


def _replace_with_rows(
    use: SubqueryUse,
    left: exp.Tuple,
    width: int,
    rows: Sequence[Sequence[Any]],
    dialect: str,
    collations: Sequence[str | None] | None = None,
) -> None:
    """``(a, b) IN (subquery)`` → ``(a, b) IN ((v1, w1), …)``: a row ``IN`` compares
    row by row as the list of row constructors does (a NULL part makes that comparison
    NULL, in both); an empty result → ``FALSE``. Another width is MySQL's 1241."""
    if width != len(left.expressions):
        raise ShardgateError(
            f"Operand should contain {len(left.expressions)} column(s)",
            code=1241,
            sqlstate="21000",
        )
    _carry(use.target, IN_SUBQUERY)
    seen: set[tuple[Any, ...]] = set()
    values: list[exp.Expr] = []
    for row in rows:
        key = tuple((type(v), v) for v in row)
        if key in seen:
            continue
        seen.add(key)
        own = collations if collations is not None and len(collations) == width else ()
        values.append(
            exp.Tuple(
                expressions=[
                    _collated(literal_node(v, dialect), v, own[i] if own else None)
                    for i, v in enumerate(row)
                ]
            )
        )
    if not values:
        use.target.replace(_carry(exp.false(), IN_SUBQUERY))
        return
    use.target.set("query", None)
    use.target.set("expressions", values)


#: Integers and decimals of at most this many digits are distinct as DOUBLEs too.
_EXACT_DIGITS = 15


def _lookup_key(value: Any, collation: str, outer: str | None) -> bool:
    """Whether ``value`` (of a column of ``collation``) may be a key of a grouped
    lookup whose outer column has the collation ``outer``: compared with any outer
    value it may equal that value only when no other key does, and then exactly when
    MySQL's comparison of the two columns does.

    * Integers below 2**53 and decimals of at most 15 digits: MySQL compares them with
      an integer or DECIMAL column exactly, with a DOUBLE or a string both as DOUBLE,
      and distinct ones stay distinct as DOUBLEs.
    * Text: only with an outer text column of the same collation (``''``: the outer
      table has no row, so no value is ever compared). The groups are then distinct
      under that collation ('a' and 'A' one group under ``utf8mb4_general_ci``), and
      ``x = 'v'`` compares in ``x``'s collation (a literal yields to a column). Another
      collation or a number would compare otherwise (or fail: 1267)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**53
    if isinstance(value, Decimal):
        return value.is_finite() and len(value.as_tuple().digits) <= _EXACT_DIGITS
    if isinstance(value, str):
        return collation != "binary" and outer in (collation, "")
    return False


def lookup_probe(use: SubqueryUse, rows: Sequence[Sequence[Any]]) -> SubqueryUse | None:
    """The query telling the collation of a lookup's outer column (``SELECT
    COLLATION(x) FROM t LIMIT 1``), when ``rows`` of the grouped query have text keys;
    None when no such question is needed."""
    if use.kind != "lookup" or not rows or not all(isinstance(r[0], str) for r in rows):
        return None
    probe = use.target.expressions[3]
    return SubqueryUse("scalar", probe.this, probe)


def lookup_node(
    marker: exp.Expr, rows: Sequence[Sequence[Any]], dialect: str, outer: str | None = None
) -> exp.Expr:
    """The value of a ``SG_LOOKUP(x, (grouped query), empty, probe)`` marker
    (:mod:`sharding.sql.decorrelate`) once the grouped query gave ``rows`` of ``(key,
    aggregate, COLLATION(key))`` (``outer``: the collation of ``x``, :func:`lookup_probe`):
    ``CASE WHEN x = k1 THEN r1 … ELSE empty END``. Every key is a :func:`_lookup_key`,
    so at most one branch holds for a row and it is the group MySQL aggregates for it;
    a NULL ``x`` takes no branch. DECIMAL aggregates (``SUM``, ``AVG``) keep their type
    and scale: the ``CASE`` is cast to ``DECIMAL(65, s)``."""
    x: exp.Expr = marker.expressions[0]
    empty: exp.Expr = marker.expressions[2]
    if not rows:
        return empty.copy()
    if any(len(row) != 3 for row in rows):
        raise ShardgateError("internal error: a lookup of another width", code=1105)
    if not all(_lookup_key(row[0], str(row[2]), outer) for row in rows):
        raise NotSupported(
            "a correlated aggregate subquery whose correlation columns are not integers "
            "or DECIMALs, or text of one collation"
        )
    results = [row[1] for row in rows if row[1] is not None]
    ifs = [
        exp.If(
            this=exp.EQ(this=x.copy(), expression=literal_node(key, dialect)),
            true=literal_node(value, dialect),
        )
        for key, value, _ in rows
    ]
    case: exp.Expr = exp.Case(ifs=ifs, default=empty.copy())
    if results and all(isinstance(v, Decimal) for v in results):
        scale = max(max(0, -int(v.as_tuple().exponent)) for v in results)
        if dialect != "mysql":
            # SQLite: its literals are REALs, which a client embedding the coordinator
            # would get as floats where MySQL gives a DECIMAL.
            raise NotSupported("a correlated DECIMAL aggregate on SQLite shards")
        if scale > 38:
            raise NotSupported("a correlated DECIMAL aggregate of this scale")
        case = exp.Cast(this=case, to=exp.DataType.build(f"DECIMAL(65, {scale})"))
    return case


def folded_values(use: SubqueryUse, width: int, rows: Sequence[Sequence[Any]]) -> list[Any] | None:
    """The distinct values of an ``IN`` subquery's result when they may go to the shards
    as one folded list slot (:mod:`sharding.sql.inlist`) instead of literal nodes: at
    least ``FOLD_MIN`` of them, all integers or all strings (no NULL: the list means
    what the subquery meant for IN and NOT IN alike, and its text is the value's own).
    A 100,000-value result is then neither rendered by sqlglot nor, on the shard key,
    sent whole to every shard (:mod:`sharding.exec.key_lists`). None otherwise. The
    ``IN`` keeps its node: it is marked with its definition here (module docstring)."""
    if use.kind != "in" or width != 1 or len(rows) < FOLD_MIN:
        return None
    values = _distinct(row[0] for row in rows)
    if len(values) < FOLD_MIN:
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values) or all(
        isinstance(v, str) for v in values
    ):
        _carry(use.target, IN_SUBQUERY)
        return values
    return None


def _distinct(values: Iterator[Any]) -> list[Any]:
    seen: set[Any] = set()
    out: list[Any] = []
    for v in values:
        key = (type(v), v)
        if key in seen:
            continue
        seen.add(key)
        out.append(v)
    return out


def literal_node(value: Any, dialect: str) -> exp.Expr:
    """``value`` as an expression node of its own MySQL type (module docstring)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, int):
        return _signed(exp.Literal.number(abs(value)), value < 0)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ShardgateError(f"cannot use the decimal {value} as a value", code=1105)
        text = format(abs(value), "f")
        node = _signed(exp.Literal.number(text), value < 0)
        if dialect == "sqlite" and value.as_tuple().exponent == 0:
            # ``12`` would be an integer there: SG_DECIMAL(12) is 12, typed DECIMAL
            # (sharding.backend.sqlite_decimal_results).
            return exp.Anonymous(this="SG_DECIMAL", expressions=[node])
        if dialect == "mysql" and "." not in text:
            # ``849`` would be an integer (a BIGINT column): the DECIMAL a SUM of
            # integers is (``SELECT (SELECT SUM(qty) …)`` gives Decimal('849')).
            digits = min(max(len(text), 1), 65)
            return exp.Cast(this=node, to=exp.DataType.build(f"DECIMAL({digits}, 0)"))
        return node
    if isinstance(value, float):
        text = repr(abs(value))
        if "e" not in text and "E" not in text:
            text += "e0"
        return _signed(exp.Literal.number(text), value < 0)
    if isinstance(value, str):
        if dialect != "mysql" or mysql_text(value).startswith("'"):
            return exp.Literal.string(value)
        return _parsed(mysql_text(value))
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if dialect == "sqlite":
            # A blob literal: binary columns hold BLOBs there (sqlite_binary_store),
            # and SQLite compares a BLOB with a BLOB bytewise, as MySQL binary strings.
            return exp.HexString(this=data.hex())
        if dialect != "mysql":
            raise ShardgateError("a binary subquery value on this backend", code=1235)
        return _parsed("_binary X'" + data.hex() + "'")
    if isinstance(value, datetime.datetime | datetime.date | datetime.time | datetime.timedelta):
        return _temporal(value, dialect)
    raise ShardgateError(f"a subquery value of type {type(value).__name__}", code=1235)


def _signed(node: exp.Expr, negative: bool) -> exp.Expr:
    return exp.Paren(this=exp.Neg(this=node)) if negative else node


def _parsed(text: str) -> exp.Expr:
    node = sqlglot.parse_one(f"SELECT {text}", read="mysql")
    assert isinstance(node, exp.Select)
    item: exp.Expr = node.expressions[0]
    return item


def _temporal(value: Any, dialect: str) -> exp.Expr:
    if isinstance(value, datetime.datetime):
        text = value.isoformat(sep=" ")
        kind = "DATETIME(6)" if value.microsecond else "DATETIME"
    elif isinstance(value, datetime.date):
        text, kind = value.isoformat(), "DATE"
    elif isinstance(value, datetime.time):
        text = value.isoformat()
        kind = "TIME(6)" if value.microsecond else "TIME"
    else:
        micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
        sign = "-" if micros < 0 else ""
        secs, us = divmod(abs(micros), 1_000_000)
        hours, rem = divmod(secs, 3600)
        text = f"{sign}{hours:02d}:{rem // 60:02d}:{rem % 60:02d}.{us:06d}"
        kind = "TIME(6)" if us else "TIME"
    if dialect != "mysql":
        return exp.Literal.string(text)
    return _parsed(f"CAST('{text}' AS {kind})")
