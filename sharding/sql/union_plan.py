"""UNION / UNION ALL / INTERSECT / EXCEPT over sharded tables (issue 18.4).

The statement's plan has the usual two forms (:class:`~sharding.sql.nodes.SelectPlan`):

* ``single`` — when every query block routes by its shard key to one shard, the whole
  statement runs there (:mod:`sharding.sql.one_shard`): MariaDB's own answer;
* ``scatter`` — a :class:`~sharding.sql.nodes.UnionNode` over the query blocks, each
  planned by the ordinary planner (itself a ``SelectPlan``: one shard or scatter per
  call), merged by :mod:`sharding.merge.union`:

  - ``UNION ALL`` without ORDER BY: the blocks' rows one block after the other;
  - with ORDER BY over the union, or with a DISTINCT union (and INTERSECT / EXCEPT):
    every block is planned with an ``ORDER BY`` on the union's sort key pushed into it
    (a DISTINCT union's key is extended to every column, so equal rows meet), and the
    sorted blocks are merged: duplicates are neighbours, dropped with one row of
    state. Nothing is held but a chunk per read — except a block with its own
    ``LIMIT`` (its own ORDER BY decides its rows), whose at most LIMIT rows are sorted
    here (``cluster.union_rows`` bounds them);
  - the union's LIMIT / OFFSET on top.

MySQL's left-to-right rule for mixed unions (``a UNION ALL b UNION c`` removes
duplicates from everything up to the last DISTINCT union) is what the left-deep tree
the parser builds means when each DISTINCT union removes duplicates from all of its
inputs: a DISTINCT union flattens every union below it, an ALL union only ALL ones.

Types: MySQL unifies each column's type across the blocks and converts the values
(an INT block under a DECIMAL(10,2) column prints ``5.00``). The coordinator does not
convert, so a multi-shard union needs, per column, the same type in every block (type
code; scale, unsigned and zerofill for numbers; character set and collation for
text; the same labels for ENUM), as :mod:`sharding.sql.describe` derives them; a NULL
literal fits any column but the first block's. Exact numbers of different types with a
DECIMAL among them (a ``COUNT(*)`` block with a ``DECIMAL(10,2)`` column) are the one
conversion done: MariaDB's DECIMAL type of the union
(:func:`~sharding.sql.describe.union_decimal`), each block of another scale read as
``CAST(item AS DECIMAL(p, s))`` (only zero digits added: exact). Other unions are
refused (1235) naming the column, unless they route to one shard. The result's names
are the first block's.

Refused (1235) over several shards: a union with WITH, ORDER BY over the union by an
expression or by an ENUM/SET column (MySQL sorts the union's ENUM as text), SET
columns, blocks whose columns are not known before running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from sharding.backend.base import ColumnType
from sharding.errors import NotSupported, ShardgateError
from sharding.merge.semantics import SortItem
from sharding.sql.clauses import expand_items, limit_ref
from sharding.sql.context import PlanContext
from sharding.sql.describe import (
    ENUM_FLAG,
    INT24,
    LONG,
    LONGLONG,
    NULL,
    SET_FLAG,
    SHORT,
    STRING,
    TINY,
    UNKNOWN,
    UNSIGNED,
    VAR_STRING,
    ZEROFILL,
    SlotTyped,
    describe_plan,
    unifiable_item,
    union_decimal,
)
from sharding.sql.enums import column_enum
from sharding.sql.lexer import Slot
from sharding.sql.nodes import LimitNode, OutputColumn, SelectPlan, UnionNode
from sharding.sql.one_shard import plan_one_shard
from sharding.sql.rewrite import slot_of
from sharding.sql.scope import Scope, top_level_nodes, unparen

__all__ = ["plan_union"]

SetOp = exp.Union | exp.Intersect | exp.Except
PlanBranch = Callable[[exp.Expr, PlanContext], SelectPlan]
Names = Callable[[exp.Expr, PlanContext], tuple[OutputColumn, ...] | None]
AllBroadcast = Callable[[exp.Expr, PlanContext, str], SelectPlan]

#: Marks a text value with no collation of its own (a literal: the other side's wins).
_COERCIBLE = "<coercible>"


def plan_union(
    tree: exp.Expr,
    ctx: PlanContext,
    *,
    plan_branch: PlanBranch,
    names: Names,
    all_broadcast: AllBroadcast,
) -> SelectPlan:
    """The plan of a UNION / INTERSECT / EXCEPT statement (module docstring)."""
    kind = type(tree).__name__.upper()
    sharded = [info for _, info in ctx.catalog_tables(tree) if not info.broadcast]
    if not sharded:
        return all_broadcast(tree, ctx, kind)
    columns = names(tree, ctx)
    refusal = NotSupported(f"{kind} over the sharded table {sharded[0].qualified}")
    single = None
    try:
        single = plan_one_shard(tree.copy(), ctx, refusal, columns).single
    except NotSupported:
        pass
    try:
        planner = _Planner(ctx, plan_branch)
        scatter = planner.query(tree, top=True)
    except NotSupported as exc:
        if single is None:
            raise
        error = NotSupported(
            f"{exc} (it runs when every query block routes by its shard key to one shard)"
        )
        return SelectPlan(single, None, error, columns)
    if columns is None:
        columns = planner.names
    return SelectPlan(single, scatter, None, columns)


@dataclass
class _Column:
    """What one result column of the union is, agreed by every block."""

    type: ColumnType
    #: Collation name for text (None: the default), None for other types.
    collation: str | None
    #: ENUM labels when the column is an ENUM in every block.
    enum: tuple[str, ...] | None
    name: str
    output: OutputColumn


class _Planner:
    def __init__(self, ctx: PlanContext, plan_branch: PlanBranch) -> None:
        self.ctx = ctx
        self.plan_branch = plan_branch
        self.columns: list[_Column] = []
        self.names: tuple[OutputColumn, ...] | None = None
        self._slots = _call_slots(ctx)

    # ------------------------------------------------------------------ structure
    def query(self, q: exp.Expr, *, top: bool = False) -> Any:
        """A set operation with its own ORDER BY / LIMIT (the statement, or a
        parenthesised union inside it)."""
        if not isinstance(q, SetOp):
            raise NotSupported(f"{type(q).__name__} in a UNION")
        if q.args.get("with_") or q.args.get("with"):
            raise NotSupported("WITH (common table expressions) with a UNION over several shards")
        if top:
            self._analyse(list(_leaves(q)))
        order = q.args.get("order")
        key = self._order_key(order) if order is not None else None
        limit = limit_ref(q)  # type: ignore[arg-type]
        push = _pushable_limit(q) if key is not None else None
        for arg in ("order", "limit", "offset"):
            q.set(arg, None)
        node = self._build(q, key, push)
        return LimitNode(node, limit) if limit is not None else node

    def _build(
        self, q: exp.Expr, key: tuple[SortItem, ...] | None, push: exp.Limit | None = None
    ) -> Any:
        """``q`` (no ORDER BY / LIMIT of its own) with its rows in ``key`` order;
        ``push``: a LIMIT every block may apply to itself (see :func:`_pushable_limit`)."""
        if isinstance(q, exp.Union):
            distinct = bool(q.args.get("distinct"))
            inputs = _flatten(q, distinct)
            sort = self._full(key) if distinct else (key or ())
            push = None if distinct else push
            built = [self._input(x, sort or None, push) for x in inputs]
            return UnionNode(
                "union",
                tuple(n for n, _ in built),
                distinct,
                sort,
                tuple(r for _, r in built),
                self._collations(),
            )
        if isinstance(q, exp.Intersect | exp.Except):
            sort = self._full(key)
            left = self._input(q.this, sort)
            right = self._input(q.expression, sort)
            return UnionNode(
                "intersect" if isinstance(q, exp.Intersect) else "except",
                (left[0], right[0]),
                bool(q.args.get("distinct", True)),
                sort,
                (left[1], right[1]),
                self._collations(),
            )
        raise NotSupported(f"{type(q).__name__} in a UNION")

    def _input(
        self, x: exp.Expr, key: tuple[SortItem, ...] | None, push: exp.Limit | None = None
    ) -> tuple[Any, bool]:
        """One input of a set operation, sorted by ``key`` when given; the flag says the
        merge must sort it (its own LIMIT decides its rows)."""
        while isinstance(x, exp.Subquery):
            extra = [k for k, v in x.args.items() if k != "this" and v]
            if extra:
                raise NotSupported(f"a parenthesised UNION branch with {', '.join(extra)}")
            x = x.this
        limited = x.args.get("limit") is not None or x.args.get("offset") is not None
        if isinstance(x, SetOp):
            if limited:
                return self.query(x), key is not None
            x.set("order", None)  # without LIMIT a nested ORDER BY means nothing (MySQL)
            return self._build(x, key, push), False
        if not isinstance(x, exp.Select):
            raise NotSupported(f"{type(x).__name__} in a UNION")
        if key is not None and not limited:
            x.set(
                "order",
                exp.Order(
                    expressions=[
                        exp.Ordered(
                            this=exp.Literal.number(s.index + 1),
                            desc=s.desc,
                            nulls_first=not s.desc,
                        )
                        for s in key
                    ]
                ),
            )
            if push is not None:
                # UNION ALL ... ORDER BY ... LIMIT n: the first n rows of the union are
                # among the first n of each block (each shard then reads at most n).
                x.set("limit", push.copy())
        return self.plan_branch(x, self.ctx), key is not None and limited

    # ------------------------------------------------------------------ order
    def _order_key(self, order: exp.Order) -> tuple[SortItem, ...]:
        """The union's ORDER BY: result column positions or names only."""
        out: list[SortItem] = []
        for o in order.expressions:
            index = self._order_index(o.this)
            column = self.columns[index]
            if column.type.flags & (ENUM_FLAG | SET_FLAG):
                raise NotSupported(
                    f"ORDER BY the ENUM/SET column {column.name} of a UNION over several shards"
                )
            desc = bool(o.args.get("desc"))
            out.append(SortItem(index, desc, not desc, column.collation))
        return tuple(out)

    def _order_index(self, node: exp.Expr) -> int:
        node = unparen(node)
        width = len(self.columns)
        if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
            pos = int(node.this)
        elif (
            isinstance(node, exp.Placeholder)
            and self.ctx.slot_literal
            and self.ctx.slot_literal[slot_of(node)]
        ):
            value = self.ctx.structural(slot_of(node))
            if not isinstance(value, int) or isinstance(value, bool):
                raise NotSupported("ORDER BY a constant over a UNION")
            pos = value
        elif isinstance(node, exp.Column) and not node.table:
            hits = [i for i, c in enumerate(self.columns) if c.name.lower() == node.name.lower()]
            if len(hits) != 1:
                raise NotSupported(
                    f"ORDER BY {node.name} over a UNION: not one result column of that name"
                )
            return hits[0]
        else:
            raise NotSupported(
                "ORDER BY over a UNION of several shards: only result column positions "
                "and names are supported"
            )
        if not 1 <= pos <= width:
            raise ShardgateError(
                f"Unknown column '{pos}' in 'order clause'", code=1054, sqlstate="42S22"
            )
        return pos - 1

    def _full(self, key: tuple[SortItem, ...] | None) -> tuple[SortItem, ...]:
        """``key`` extended by every other column (so equal rows are neighbours)."""
        items = list(key or ())
        used = {s.index for s in items}
        for i, c in enumerate(self.columns):
            if i in used:
                continue
            if c.type.flags & SET_FLAG:
                raise NotSupported(f"the SET column {c.name} in a DISTINCT UNION over shards")
            items.append(SortItem(i, False, True, c.collation, c.enum))
        return tuple(items)

    def _collations(self) -> tuple[str | None, ...]:
        return tuple(c.collation for c in self.columns)

    # ------------------------------------------------------------------ types
    def _analyse(self, leaves: list[exp.Select]) -> None:
        """Per result column: the type every block agrees on (module docstring)."""
        described = [self._describe(leaf) for leaf in leaves]
        width = len(described[0])
        if any(len(d) != width for d in described):
            raise ShardgateError(
                "The used SELECT statements have a different number of columns",
                code=1222,
                sqlstate="21000",
            )
        for pos in range(width):
            first_type, _, _, output = described[0][pos]
            name = output.name
            if first_type.type == NULL:
                raise NotSupported(
                    f"a UNION over several shards whose first block gives NULL as column {name}"
                )
            unified = self._unified(leaves, [d[pos][0] for d in described], pos)
            if unified is not None:
                self.columns.append(_Column(unified, None, None, name, output))
                continue
            collations: set[str] = set()
            enums: set[tuple[str, ...] | None] = set()
            for leaf in described:
                t, coll, labels, _ = leaf[pos]
                if t.type == NULL:
                    continue
                if not _fits(first_type, t):
                    raise NotSupported(
                        f"a UNION over several shards whose blocks give column {name} "
                        "different types (MySQL converts them to a common type)"
                    )
                if first_type.is_string and coll != _COERCIBLE:
                    collations.add(coll)
                if first_type.flags & (ENUM_FLAG | SET_FLAG):
                    enums.add(labels)
            if len(collations) > 1:
                raise NotSupported(
                    f"a UNION over several shards whose column {name} mixes collations "
                    f"({', '.join(sorted(collations))})"
                )
            if len(enums) > 1 or None in enums:
                raise NotSupported(
                    f"a UNION over several shards whose ENUM/SET column {name} differs "
                    "between blocks"
                )
            collation = next(iter(collations)) if collations else None
            if collation == self.ctx.sem.default_collation:
                collation = None
            enum = next(iter(enums)) if enums else None
            self.columns.append(_Column(first_type, collation, enum, name, output))
        self.names = tuple(c.output for c in self.columns)

    def _unified(
        self, leaves: list[exp.Select], types: list[ColumnType], pos: int
    ) -> ColumnType | None:
        """The DECIMAL type MariaDB gives column ``pos`` when its blocks give exact
        numbers of different types (:func:`~sharding.sql.describe.union_decimal`), None
        otherwise. Each block whose scale differs has its select item rewritten to
        ``CAST(item AS DECIMAL(precision, scale))`` (keeping its name), so every block
        yields the union's values: MariaDB converts them so, and the conversion only
        adds zero digits (the union's scale and integer part are the largest), exact
        on the shards and over merged aggregates alike."""
        if not all(unifiable_item(leaf, pos) for leaf in leaves):
            return None
        unified = union_decimal(types)
        if unified is None:
            return None
        precision = unified.length - (1 if unified.decimals else 0) - (0 if unified.unsigned else 1)
        for leaf, t in zip(leaves, types, strict=True):
            if t.is_decimal and t.decimals == unified.decimals:
                continue  # the same values at any precision
            item = leaf.expressions[pos]
            inner = item.unalias()
            cast = exp.Cast(
                this=inner.copy(),
                to=exp.DataType.build(f"DECIMAL({precision}, {unified.decimals})"),
            )
            name = item.alias if isinstance(item, exp.Alias) else inner.sql(dialect="mysql")
            named = exp.alias_(cast, exp.to_identifier(name, quoted=True))
            leaf.expressions[pos].replace(named)
        return unified

    def _describe(
        self, leaf: exp.Select
    ) -> list[tuple[ColumnType, str, tuple[str, ...] | None, OutputColumn]]:
        """Per select item of one block: type, collation, ENUM labels, name."""
        ctx = self.ctx
        copy = leaf.copy()
        types = describe_plan(copy, ctx.tables, ctx.database)
        if types is None:
            raise NotSupported("a UNION block whose columns the catalog does not know")
        scope = Scope(copy, ctx.tables, ctx.database)
        aliases = {e.alias for e in copy.expressions if isinstance(e, exp.Alias)}
        scope.qualify(copy, aliases)
        items = expand_items(copy, scope, ctx)
        if len(items) != len(types):
            raise NotSupported("a UNION block whose columns the catalog does not know")
        out: list[tuple[ColumnType, str, tuple[str, ...] | None, OutputColumn]] = []
        for item, typed in zip(items, types, strict=True):
            name = item.name.name
            t = self._resolve(typed)
            if t is UNKNOWN:
                raise NotSupported(
                    f"a UNION over several shards with column {name}, whose type is not "
                    "known before running"
                )
            coll = _collation(item.expr, scope, ctx) if t.is_string else _COERCIBLE
            labels = column_enum(item.expr, scope) if t.flags & (ENUM_FLAG | SET_FLAG) else None
            out.append((t, coll, labels, item.name))
        return out

    def _resolve(self, typed: ColumnType | SlotTyped) -> ColumnType:
        if not isinstance(typed, SlotTyped):
            return typed
        # The type depends on literals of this call: the plan is kept for these values.
        for p in typed.node.find_all(exp.Placeholder):
            self.ctx.structural(slot_of(p))
        return typed.resolve(self._slots, self.ctx.slot_values)


def _call_slots(ctx: PlanContext) -> list[Slot]:
    """The slots of this call as :mod:`sharding.sql.describe` reads them."""
    out: list[Slot] = []
    for i, value in enumerate(ctx.slot_values):
        literal = ctx.slot_literal[i] if i < len(ctx.slot_literal) else False
        raw = ctx.slot_raw[i] if i < len(ctx.slot_raw) else ""
        out.append(
            Slot(
                position=0,
                param=None if literal else i,
                raw=raw,
                value=value,
                is_string=literal and isinstance(value, str),
            )
        )
    return out


#: Signed integer types by width: a narrower one under a wider first block's column
#: keeps its values and MariaDB's union type is the first block's.
_INT_RANK = {TINY: 1, SHORT: 2, INT24: 3, LONG: 4, LONGLONG: 5}


def _fits(a: ColumnType, b: ColumnType) -> bool:
    """Whether a block's column of type ``b`` under the first block's type ``a`` keeps
    its values and leaves the union's type ``a`` (measured on MariaDB 10.11): the same
    type, a narrower signed integer, or CHAR under VARCHAR."""
    special = ENUM_FLAG | SET_FLAG
    if a.charset != b.charset:
        return False
    if a.type != b.type:
        if a.type in _INT_RANK and b.type in _INT_RANK:
            signed = not (a.flags | b.flags) & (UNSIGNED | ZEROFILL)
            return signed and _INT_RANK[b.type] <= _INT_RANK[a.type]
        return a.type == VAR_STRING and b.type == STRING and a.is_string and not b.flags & special
    if a.is_string:
        return (a.flags & special) == (b.flags & special)
    same = UNSIGNED | ZEROFILL
    return a.decimals == b.decimals and (a.flags & same) == (b.flags & same)


def _collation(node: exp.Expr, scope: Scope, ctx: PlanContext) -> str:
    """The collation a text select item compares with: an explicit COLLATE, a column's,
    :data:`_COERCIBLE` for literals. An expression over columns derives their
    collation — the one each block's own merge uses for it
    (:func:`sharding.sql.exprs.column_collation`); columns of several are refused."""
    node = unparen(node)
    default = ctx.sem.default_collation.lower()
    if isinstance(node, exp.Collate):
        target = node.expression
        return (target.name if isinstance(target, exp.Expr) else str(target)).lower()
    found: set[str] = set()
    for n in top_level_nodes(node):
        if isinstance(n, exp.Collate):
            raise NotSupported("COLLATE inside a text column of a UNION over several shards")
        if isinstance(n, exp.Column):
            ref = scope.column_ref(n)
            if ref is None or ref[1] is None:
                raise NotSupported(
                    f"a UNION over several shards with a text column of unknown collation "
                    f"({n.sql(dialect='mysql')})"
                )
            if ref[1].type.lower().startswith("json"):
                # MariaDB's JSON is LONGTEXT in utf8mb4_bin, not the catalog's default.
                raise NotSupported("a JSON column in a UNION over several shards")
            found.add((ref[1].collation or default).lower())
    if isinstance(node, exp.Subquery) or any(isinstance(n, exp.Select) for n in node.walk()):
        raise NotSupported("a subquery as a text column of a UNION over several shards")
    if isinstance(node, exp.Column) or not found:
        return next(iter(found)) if found else _COERCIBLE
    if len(found) > 1:
        raise NotSupported(
            "a UNION over several shards with a text expression over columns of "
            f"collations {', '.join(sorted(found))}"
        )
    # One collation: the blocks' own merges order the expression with it too
    # (sharding.sql.exprs.column_collation derives it from the columns).
    return next(iter(found))


def _pushable_limit(q: exp.Expr) -> exp.Limit | None:
    """The LIMIT of a sorted union that each block may apply too: ``LIMIT n`` without
    OFFSET over UNION ALL only (a DISTINCT union or INTERSECT/EXCEPT needs more rows of
    a block than it outputs)."""
    limit = q.args.get("limit")
    if not isinstance(limit, exp.Limit) or q.args.get("offset") is not None:
        return None
    if any(v for k, v in limit.args.items() if k != "expression") or not isinstance(
        limit.args.get("expression"), exp.Placeholder | exp.Literal
    ):
        return None
    for node in q.walk():
        if isinstance(node, exp.Intersect | exp.Except):
            return None
        if isinstance(node, exp.Union) and node.args.get("distinct"):
            return None
    return limit


def _leaves(q: exp.Expr) -> list[exp.Select]:
    """Every query block of a set operation, in order."""
    if isinstance(q, exp.Subquery):
        return _leaves(q.this)
    if isinstance(q, SetOp):
        return _leaves(q.this) + _leaves(q.expression)
    if isinstance(q, exp.Select):
        return [q]
    raise NotSupported(f"{type(q).__name__} in a UNION")


def _flatten(q: exp.Union, distinct: bool) -> list[exp.Expr]:
    """The inputs of union ``q``: a DISTINCT union takes in every union below it, an
    ALL union only ALL ones (module docstring); a union with its own LIMIT stays one
    input."""
    out: list[exp.Expr] = []
    for side in (q.this, q.expression):
        inner = side
        while isinstance(inner, exp.Subquery) and not any(
            v for k, v in inner.args.items() if k != "this"
        ):
            inner = inner.this
        if (
            isinstance(inner, exp.Union)
            and inner.args.get("limit") is None
            and inner.args.get("offset") is None
            and not (inner.args.get("with_") or inner.args.get("with"))
            and (distinct or not inner.args.get("distinct"))
        ):
            inner.set("order", None)
            out.extend(_flatten(inner, distinct))
        else:
            out.append(side)
    return out
