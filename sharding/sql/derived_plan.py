"""Derived tables and CTEs over sharded tables (issue 18.3).

``SELECT … FROM (SELECT … FROM sharded …) AS d [WHERE …] [GROUP BY …] [HAVING …]
[ORDER BY …] [LIMIT …]`` and ``WITH d [(a, b)] AS (SELECT …) SELECT … FROM d [AS x] …``
— one derived table or CTE as the only FROM source — are planned in two levels:

* **the body** is planned as any SELECT (:func:`sharding.sql.plan.plan_select`: a
  scatter, merged aggregates, a cross-shard join, a UNION, another derived table …),
  with the CTEs it names attached. Its ``ORDER BY`` without ``LIMIT`` is dropped
  (MariaDB ignores it: a derived table's rows have no order); an inner ``LIMIT`` is
  the body's own and applies. Its :class:`~sharding.sql.nodes.SelectPlan` (one shard
  or scatter per call) is the leaf of the outer plan.
* **the outer query** reads the body's rows as a table: the derived table stands in
  the FROM clause as a :class:`~sharding.catalog.TableInfo` of its columns
  (:mod:`sharding.sql.derived_columns`: MySQL's names — aliases, a CTE column list —
  declared types, collations, ENUM labels), so names resolve as MySQL resolves them
  over one table, and the coordinator computes every clause with the merge's
  primitives over those rows: ``WHERE`` → Filter, ``GROUP BY``/aggregates → a raw
  HashAggregate (:func:`sharding.sql.aggregate_plan.plan_raw`), ``HAVING``,
  ``DISTINCT``, ``ORDER BY`` → Sort/TopN, ``LIMIT``/``OFFSET``, the select list →
  Project (:func:`sharding.sql.finish.finish_select`; MySQL functions the Python
  rules do not compute are computed by the default data source, as above merged
  aggregates).

**Moved into the body.** A ``WHERE`` conjunct over the derived table's columns goes
into the body — each column replaced by the body's select expression behind it, when
those are deterministic — as MariaDB's ``derived_merge`` / condition pushdown does:

* a plain block (no GROUP BY, HAVING, aggregates, DISTINCT, LIMIT, window functions)
  takes it in its ``WHERE``: the shards filter with MariaDB's own semantics (LIKE and
  every function included) and a key condition routes the body;
* a grouped block (GROUP BY or aggregates; no DISTINCT, LIMIT, WITH ROLLUP or window
  functions) takes a conjunct over its group expressions in its ``WHERE`` and one
  that reads an aggregate in its ``HAVING`` (a filter on the group's values, which
  are the derived row's).

Other conjuncts are evaluated by the coordinator. When the outer query only filters
(everything moved) and projects, its ``ORDER BY`` / ``LIMIT`` move into a plain body
too: the body's merge sorts and limits, and nothing is held above it.

A quotient in a plain body (``qty / 3``) is computed by MariaDB with more digits than
it shows; the shards send the shown value, so such a column may only be selected as
it is (or filtered in the body): used in an expression, a sort or an aggregate above
the body it is refused.

**One shard.** When every query block routes to one shard as written
(:mod:`sharding.sql.one_shard`), the whole statement runs there unchanged; the
two-level plan is the multi-shard form.

**Bounds.** The body streams (its own plan's bounds: chunked keyset reads, merged
partials). Holding state above it is bounded by ``cluster.union_rows``: the rows of a
full ``ORDER BY`` sort (a TopN holds ``2 × (offset + count)``), the keys of ``SELECT
DISTINCT``, the groups of ``GROUP BY`` (:class:`~sharding.sql.nodes.HeldNode`,
:mod:`sharding.merge.held`); more is a 1235 naming the setting, never an unbounded
buffer or a silent cut.

**Types.** The result's column types are MariaDB's rules over the derived columns'
types (:mod:`sharding.sql.describe` types a derived table's columns by its body); a
result column whose type is not known before running is refused (1235) rather than
sent with a guessed type.

**Joined with a table** (:func:`plan_derived_join`). ``t [LEFT|RIGHT] JOIN (SELECT …) d
ON t.a = d.x [AND …]`` — either order, also ``WITH d AS (…)`` — with one sharded or
broadcast table, on equalities between a column of each: a
:class:`~sharding.sql.nodes.SortMergeJoinNode` (:mod:`sharding.sql.join_plan`). The
derived side is its body's plan (conditions on the derived table alone moved into the
body as above, the others filtered over its rows) sorted by the join key in the
coordinator — a Sort holding at most ``cluster.union_rows`` rows (a
:class:`~sharding.sql.nodes.HeldNode`) —; the table side is read as any cross-shard
join side (ordered by the key, keyset-chunked); everything above the join is computed
as over a cross-shard join. Keys must compare alike (same type affinity and
collation); an ENUM/SET key is refused (the shards sort it by its index).

Refused (1235, naming the form) over several shards: a derived table joined with more
than one table, with another derived table, or without an equality (``derived.py``
still merges a simple broadcast one), a derived column list
``AS d(a, b)`` (MariaDB 10.11 rejects the syntax itself), ``WITH RECURSIVE``, a CTE
named again elsewhere in the statement, window functions or a locking clause in the
outer query, ``GROUP_CONCAT``/``BIT_*``/``WITH ROLLUP`` over a derived table's rows,
an ENUM/SET value or a text value of several collations computed in the body, a CTE
named like a table it reads, and whatever the body's own plan or the merge's
expression rules refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp

from sharding.backend.base import ColumnType
from sharding.catalog import TableInfo
from sharding.errors import NotSupported, ShardgateError, UnknownColumn
from sharding.merge.evaluate import Compiler, Ref
from sharding.merge.semantics import SortItem
from sharding.sql.aggregate_plan import plan_raw
from sharding.sql.backend_eval import _VOLATILE
from sharding.sql.clauses import (
    expand_items,
    having_condition,
    is_aggregate_query,
    limit_ref,
    order_terms,
    output_name,
)
from sharding.sql.context import PlanContext, canon, deps_of
from sharding.sql.derived_columns import (
    SYNTHETIC_DB,
    DerivedTable,
    cte_map,
    cte_scope,
    derived_body,
    derived_table,
    needed_ctes,
)
from sharding.sql.describe import UNKNOWN, SlotTyped, describe_plan
from sharding.sql.enums import enum_labels
from sharding.sql.exprs import (
    and_all,
    conjuncts,
    contains_aggregate,
    contains_window,
    temporal_declared,
    unsigned_declared,
)
from sharding.sql.finish import finish_select
from sharding.sql.join_plan import Position, plan_join
from sharding.sql.lexer import Slot
from sharding.sql.names import STAR, apply_names, finish_name, source_names
from sharding.sql.nodes import (
    AggregateNode,
    DistinctNode,
    FilterNode,
    HeldNode,
    OutputColumn,
    ProjectNode,
    SelectPlan,
    SortNode,
)
from sharding.sql.one_shard import plan_one_shard
from sharding.sql.rewrite import HOLE, SLOT, slot_of
from sharding.sql.scope import Scope, TableRef, top_level_nodes

__all__ = ["plan_derived", "plan_derived_join"]

PlanSelect = Callable[[exp.Expr, PlanContext], SelectPlan]

_ENUM_FLAG, _SET_FLAG = 256, 2048


@dataclass
class _Shape:
    """The statement's one FROM source, a derived table or a CTE reference."""

    source: exp.Expr
    alias: str
    body: exp.Expr
    columns: list[str] | None
    cte: exp.CTE | None
    ctes: dict[str, exp.CTE]


def plan_derived(tree: exp.Select, ctx: PlanContext, plan_select: PlanSelect) -> SelectPlan | None:
    """The plan of ``tree`` when its only FROM source is a derived table or CTE over a
    sharded table (module docstring); None when it is not that form (the caller plans
    it as before). ``tree`` is consumed; ``plan_select`` plans the body."""
    shape = _shape(tree, ctx)
    if shape is None:
        return None
    pristine, table, inner, scope = _stand_in(tree, shape, ctx)
    aliases = {e.alias for e in tree.expressions if isinstance(e, exp.Alias)}
    scope.qualify(tree, aliases)
    items = expand_items(tree, scope, ctx)
    names = _names(tree, scope, ctx, tuple(it.name for it in items))
    refusal = NotSupported(f"a derived table or CTE ({shape.alias}) over a sharded table")
    single = None
    try:
        single = plan_one_shard(pristine.copy(), ctx, refusal, names).single
    except NotSupported:
        pass
    try:
        scatter = _plan_outer(tree, scope, ctx, items, table, inner, plan_select)
        _check_types(pristine, ctx, names)
    except NotSupported as exc:
        if single is None:
            raise
        why = str(exc)
        if "(it runs when" not in why:
            why += " (it runs when every query block routes by its shard key to one shard)"
        return SelectPlan(single, None, NotSupported(why), names)
    return SelectPlan(single, scatter, None, names)


# ---------------------------------------------------------------------------- joined


def plan_derived_join(
    tree: exp.Select, ctx: PlanContext, plan_select: PlanSelect
) -> SelectPlan | None:
    """The plan of ``tree`` when it joins one table (sharded or broadcast) with one
    derived table or CTE over a sharded table — ``INNER``/``LEFT``/``RIGHT``, either
    order, on equalities between a column of each — as a SortMergeJoin (module
    docstring, *Joined with a table*); None when it is not that form (the caller plans
    it as before). ``tree`` is consumed."""
    found = _join_shape(tree, ctx)
    if found is None:
        return None
    shape, other = found
    pristine, table, inner, scope = _stand_in(tree, shape, ctx)
    refusal = NotSupported(
        f"a derived table or CTE ({shape.alias}) over a sharded table joined with {other}"
    )
    single = None
    try:
        single = plan_one_shard(pristine.copy(), ctx, refusal, None).single
    except NotSupported:
        pass
    names: tuple[OutputColumn, ...] | None
    try:
        scatter, names = _plan_joined(tree, scope, ctx, table, shape.alias, inner, plan_select)
        _check_types(pristine, ctx, names)
    except NotSupported as exc:
        if single is None:
            raise
        why = str(exc)
        if "(it runs when" not in why:
            why += " (it runs when every query block routes by its shard key to one shard)"
        names = _fallback_names(pristine, ctx)
        return SelectPlan(single, None, NotSupported(why), names)
    return SelectPlan(single, scatter, None, names)


def _fallback_names(pristine: exp.Select, ctx: PlanContext) -> tuple[OutputColumn, ...] | None:
    """The result's names when only the one-shard form runs (the shard's own names
    where the statement's text cannot be read)."""
    written = source_names(pristine, ctx.source)
    if written is None or any(not isinstance(n, OutputColumn) for n in written):
        return None
    return tuple(n for n in written if isinstance(n, OutputColumn))


def _join_shape(tree: exp.Select, ctx: PlanContext) -> tuple[_Shape, str] | None:
    """(the derived table / CTE, the other table's name) of a two-source join of a
    catalog table with a derived table or CTE over a sharded table; None otherwise."""
    from_ = tree.args.get("from_") or tree.args.get("from")
    joins = tree.args.get("joins") or []
    if from_ is None or len(joins) != 1 or tree.args.get("laterals"):
        return None
    with_ = tree.args.get("with_") or tree.args.get("with")
    if isinstance(with_, exp.With) and with_.args.get("recursive"):
        return None
    ctes = cte_map(tree)
    sources = [from_.this, joins[0].this]
    bodies = [derived_body(src, ctes) for src in sources]
    derived = [i for i, b in enumerate(bodies) if b is not None]
    if len(derived) != 1:
        return None
    index = derived[0]
    other = sources[1 - index]
    if not isinstance(other, exp.Table) or not other.name or other.args.get("joins"):
        return None
    if (other.db or ctx.database or "", other.name) not in ctx.tables:
        return None
    found = bodies[index]
    assert found is not None
    alias, body, columns, cte = found
    if not alias:
        return None
    _check_cte_name(cte, body)
    shape = _Shape(sources[index], alias, body, columns, cte, ctes)
    if ctes and _cte_named_elsewhere(tree, shape):
        return None
    if not any(not info.broadcast for _, info in ctx.catalog_tables(_inner_statement(shape))):
        return None  # a derived table over broadcast tables: planned as before
    return shape, other.sql(dialect="mysql")


def _plan_joined(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    table: DerivedTable,
    alias: str,
    inner: exp.Expr,
    plan_select: PlanSelect,
) -> tuple[Any, tuple[OutputColumn, ...]]:
    """The multi-shard form of a join with a derived table, and the result's names."""
    _check_outer(tree, table, ctx)
    _check_hidden_digits(tree, table, inner, [], ctx)
    derived_ref = scope.ref_of_alias(alias)
    if derived_ref is None or len(scope.refs) != 2:
        raise NotSupported(f"a join with the derived table {alias} over several shards")
    first, second = scope.refs
    kind = second.join_kind
    if kind == "cross":
        kind = "inner"
    if kind not in ("inner", "left", "right"):
        raise NotSupported(f"{kind.upper()} JOIN with a derived table over several shards")
    sides = (second, first) if kind == "right" else None
    other = first if derived_ref is second else second

    def build(
        _used: list[str],
        keys: list[exp.Column],
        pushed: list[exp.Expr],
        positions: dict[str, Position],
        offset: int,
    ) -> tuple[Any, tuple[int, ...], int]:
        return _derived_side(
            table, alias, inner, ctx, plan_select, keys, pushed, positions, offset, other
        )

    holes: list[TableInfo] = [r.info for r in scope.refs]
    for ref in scope.refs:
        ref.node.meta[HOLE] = ref.index
    plan = plan_join(tree, scope, ctx, holes, sides, inputs={derived_ref.index: build})
    columns = plan.columns or ()
    return plan.scatter, _names(tree, scope, ctx, columns)


def _derived_side(
    table: DerivedTable,
    alias: str,
    inner: exp.Expr,
    ctx: PlanContext,
    plan_select: PlanSelect,
    keys: list[exp.Column],
    pushed: list[exp.Expr],
    positions: dict[str, Position],
    offset: int,
    other: TableRef,
) -> tuple[Any, tuple[int, ...], int]:
    """The derived table's side of the join: its body's rows (conditions on it moved
    into the body where they can, else filtered here), sorted by the join key in the
    coordinator, holding at most ``cluster.union_rows`` rows."""
    kept = _push_conditions(pushed, table, alias, inner, ctx)
    body = plan_select(inner, ctx)
    if body.scatter is None and body.scatter_error is not None:
        raise body.scatter_error
    width = len(table.info.columns)
    if body.columns is not None and len(body.columns) != width:
        raise NotSupported(f"the derived table {alias}: its body's columns do not line up")
    body = replace(body, columns=tuple(OutputColumn(c.name) for c in table.info.columns))
    node: Any = body
    if kept:
        resolver = _Resolver(alias, table.info, ctx)
        compiler = Compiler(resolver, ctx.sem)
        whole = and_all(kept)
        assert whole is not None
        node = FilterNode(node, compiler.predicate(whole), whole.sql(dialect="mysql"))
    names = [c.name.lower() for c in table.info.columns]
    for i, c in enumerate(table.info.columns):
        positions[f"{alias.lower()}.{c.name.lower()}"] = (
            offset + i,
            ctx.sem.affinity(c.type) if c.type else None,
            c.collation.lower() if c.collation else None,
            enum_labels(c.type),
            temporal_declared(c.type),
            unsigned_declared(c.type),
        )
    kpos = tuple(names.index(k.name.lower()) for k in keys)
    collations = [table.info.columns[p].collation for p in kpos]
    sort = tuple(
        SortItem(p, False, True, c.lower() if c else None)
        for p, c in zip(kpos, collations, strict=True)
    )
    what = (
        f"the rows of the derived table {alias} sorted by the key of its join with "
        f"{other.info.qualified}"
    )
    return HeldNode(SortNode(node, sort), what), kpos, width


def _push_conditions(
    parts: list[exp.Expr], table: DerivedTable, alias: str, inner: exp.Expr, ctx: PlanContext
) -> list[exp.Expr]:
    """Move the conditions on the derived table alone into its body, as
    :func:`_push_down` does for the outer WHERE; returns those that stay."""
    if not parts:
        return []
    holder = exp.Select()
    holder.set("where", exp.Where(this=and_all([p.copy() for p in parts])))
    return _push_down(holder, table, alias, inner, ctx)


# ---------------------------------------------------------------------------- shape


def _shape(tree: exp.Select, ctx: PlanContext) -> _Shape | None:
    """The derived table / CTE the statement reads alone, when it reads a sharded
    table; None for any other statement."""
    from_ = tree.args.get("from_") or tree.args.get("from")
    if from_ is None or tree.args.get("joins") or tree.args.get("laterals"):
        return None
    with_ = tree.args.get("with_") or tree.args.get("with")
    if isinstance(with_, exp.With) and with_.args.get("recursive"):
        return None  # planned as before: whole on one source, or refused there
    ctes = cte_map(tree)
    found = derived_body(from_.this, ctes)
    if found is None:
        return None
    alias, body, columns, cte = found
    if not alias:
        return None
    _check_cte_name(cte, body)
    shape = _Shape(from_.this, alias, body, columns, cte, ctes)
    if ctes and _cte_named_elsewhere(tree, shape):
        return None
    statement = _inner_statement(shape)
    if not any(not info.broadcast for _, info in ctx.catalog_tables(statement)):
        return None  # broadcast tables only: the statement runs whole on one data source
    return shape


def _cte_named_elsewhere(tree: exp.Select, shape: _Shape) -> bool:
    """Whether a CTE of the statement is named outside the FROM source and the CTE
    bodies (a subquery of the outer query reading it)."""
    names = set(shape.ctes)
    with_ = tree.args.get("with_") or tree.args.get("with")
    for node in tree.find_all(exp.Table):
        if node is shape.source or node.db or node.name.lower() not in names:
            continue
        parent: exp.Expr | None = node.parent
        while parent is not None and parent is not with_ and parent is not shape.source:
            parent = parent.parent
        if parent is None:
            return True
    return False


def _check_cte_name(cte: exp.CTE | None, body: exp.Expr) -> None:
    """1235 for a CTE whose body reads a table of the CTE's own name (which one MariaDB
    reads there is not what a stand-in table would give)."""
    if cte is not None and any(
        not t.db and t.name.lower() == cte.alias_or_name.lower() for t in body.find_all(exp.Table)
    ):
        raise NotSupported(
            f"the CTE {cte.alias_or_name} reads a table of its own name (name the CTE differently)"
        )


def _stand_in(
    tree: exp.Select, shape: _Shape, ctx: PlanContext
) -> tuple[exp.Select, DerivedTable, exp.Expr, Scope]:
    """Replace ``shape``'s source in ``tree`` by a stand-in table of the derived
    table's columns (the outer query reads that): the statement as it was, the derived
    table, its body runnable alone, and the outer query's scope."""
    if shape.cte is None and shape.columns is not None:
        raise NotSupported(
            "a derived column list `(SELECT ...) AS d(a, b)` (MariaDB 10.11 does not accept "
            "it; name the columns in the derived table's select list)"
        )
    if tree.args.get("into"):
        raise NotSupported("SELECT ... INTO is not supported")
    pristine = tree.copy()
    table = derived_table(
        shape.source,
        ctx.tables,
        ctx.database,
        shape.ctes,
        name_of=lambda item: _item_name(item, ctx),
        resolve=lambda typed: _resolve(typed, ctx),
    )
    if table is None:
        raise NotSupported(
            f"the derived table {shape.alias}: its columns are not known before running "
            "(a * over a table without catalog columns)"
        )
    inner = _inner_statement(shape)
    stand_in = exp.Table(
        this=exp.to_identifier(table.info.name),
        db=exp.to_identifier(SYNTHETIC_DB),
        alias=exp.TableAlias(this=exp.to_identifier(shape.alias)),
    )
    shape.source.replace(stand_in)
    tree.set("with_", None)
    tree.set("with", None)
    tables = {**ctx.tables, (SYNTHETIC_DB, table.info.name): table.info}
    return pristine, table, inner, Scope(tree, tables, ctx.database)


def _inner_statement(shape: _Shape) -> exp.Expr:
    """A copy of the body, runnable alone: the CTEs it names attached, an ORDER BY
    without LIMIT dropped (MariaDB ignores it in a derived table)."""
    inner = shape.body.copy()
    while isinstance(inner, exp.Subquery) and not any(
        v for k, v in inner.args.items() if k != "this"
    ):
        inner = inner.this
    visible = cte_scope(shape.cte, shape.ctes) if shape.cte is not None else shape.ctes
    needed = needed_ctes(inner, visible)
    if needed:
        if inner.args.get("with_") or inner.args.get("with"):
            raise NotSupported("a WITH inside a CTE or derived table that names outer CTEs")
        inner.set("with_", exp.With(expressions=[c.copy() for c in needed]))
    ordered = inner.args.get("order") is not None
    if ordered and not (inner.args.get("limit") or inner.args.get("offset")):
        inner.set("order", None)
    return inner


# ---------------------------------------------------------------------------- names


def _item_name(item: exp.Expr, ctx: PlanContext) -> str:
    """MySQL's name of a derived table's select item that is neither an alias nor a
    column: a literal by its value (a string) or text, else the item's source text."""
    node = item
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, exp.Boolean):
        return "TRUE" if node.this else "FALSE"
    if isinstance(node, exp.Placeholder) and node.meta.get(SLOT) is not None:
        slot = slot_of(node)
        literal = slot < len(ctx.slot_literal) and ctx.slot_literal[slot]
        if not literal:
            return "?"
        value = ctx.structural(slot)
        return finish_name(value if isinstance(value, str) else ctx.slot_raw[slot])
    name = output_name(item, ctx)
    out = name.name
    for offset, slot in sorted(name.slot_positions, reverse=True):
        literal = slot < len(ctx.slot_literal) and ctx.slot_literal[slot]
        text = ctx.slot_raw[slot] if literal else "?"
        ctx.structural(slot)  # the name is this literal's text: the plan is kept for it
        out = out[:offset] + text + out[offset + 1 :]
    return finish_name(out)


def _names(
    tree: exp.Select, scope: Scope, ctx: PlanContext, columns: tuple[OutputColumn, ...]
) -> tuple[OutputColumn, ...]:
    """The result's column names as MySQL gives them (the statement's own text)."""
    written = source_names(tree, ctx.source)
    widths: list[int] | None = None
    if written is not None:
        try:
            widths = [
                len(scope.star_columns(e))
                for e, n in zip(tree.expressions, written, strict=True)
                if n is STAR
            ]
        except ShardgateError:
            widths = None
    named = apply_names(columns, written, widths)
    return named if named is not None else columns


# ---------------------------------------------------------------------------- types


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


def _resolve(typed: SlotTyped, ctx: PlanContext) -> ColumnType:
    """A column typed by this call's literals; the plan is kept for their values."""
    for p in typed.node.find_all(exp.Placeholder):
        if p.meta.get(SLOT) is not None:
            ctx.structural(slot_of(p))
    return typed.resolve(_call_slots(ctx), ctx.slot_values)


def _check_types(pristine: exp.Select, ctx: PlanContext, names: Sequence[OutputColumn]) -> None:
    """Every result column's type must be known before running (module docstring)."""
    types = describe_plan(pristine.copy(), ctx.tables, ctx.database)
    if types is None or len(types) != len(names):
        raise NotSupported("a query over a derived table whose result columns are not known")
    for name, typed in zip(names, types, strict=True):
        t = _resolve(typed, ctx) if isinstance(typed, SlotTyped) else typed
        if t is UNKNOWN:
            raise NotSupported(
                f"column {name.name} of a query over a derived table of several shards: its "
                "MySQL type is not known before running (CAST it to a type)"
            )


# ---------------------------------------------------------------------------- outer


class _Resolver:
    """The derived table's columns in the body's rows: position ``i`` is column ``i``."""

    def __init__(self, alias: str, info: TableInfo, ctx: PlanContext) -> None:
        self.alias = alias.lower()
        self.refs: dict[str, Ref] = {}
        for i, c in enumerate(info.columns):
            self.refs[c.name.lower()] = Ref(
                i,
                ctx.sem.affinity(c.type) if c.type else None,
                c.collation.lower() if c.collation else None,
                enum_labels(c.type),
                temporal_declared(c.type),
                unsigned_declared(c.type),
            )

    def lookup(self, node: exp.Expr) -> Ref | None:
        if isinstance(node, exp.Column) and node.table and node.table.lower() == self.alias:
            return self.refs.get(node.name.lower())
        return None

    def missing(self, node: exp.Expr) -> Exception:
        return NotSupported(
            f"column {node.sql(dialect='mysql')} is not available above a derived table"
        )

    def slot(self, node: exp.Placeholder) -> int:
        return slot_of(node)


def _plan_outer(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Any],
    table: DerivedTable,
    inner: exp.Expr,
    plan_select: PlanSelect,
) -> Any:
    """The multi-shard form: the body's plan under the outer query's primitives."""
    _check_outer(tree, table, ctx)
    alias = scope.refs[0].alias
    residual = _push_down(tree, table, alias, inner, ctx)
    aggregate = is_aggregate_query(tree, items)
    ordered = (
        not aggregate and not residual and _push_order(tree, items, table, alias, inner, ctx, scope)
    )
    _check_hidden_digits(tree, table, inner, residual, ctx)
    body = plan_select(inner, ctx)  # (its result names are this module's, below)
    if body.scatter is None and body.scatter_error is not None:
        # The body runs only where it routes to one shard: refused now, so the caller
        # can still plan the statement otherwise (its subqueries as values, one shard).
        raise body.scatter_error
    width = len(table.info.columns)
    if body.columns is not None and len(body.columns) != width:
        raise NotSupported(f"the derived table {alias}: its body's columns do not line up")
    body = replace(body, columns=tuple(OutputColumn(c.name) for c in table.info.columns))
    compiler = Compiler(_Resolver(alias, table.info, ctx), ctx.sem)
    node: Any = body
    if residual:
        for cond in residual:
            for col in top_level_nodes(cond):
                if isinstance(col, exp.Column) and not col.table:
                    raise UnknownColumn(f"Unknown column '{col.name}' in 'where clause'")
        whole = and_all(residual)
        assert whole is not None
        node = FilterNode(node, compiler.predicate(whole), whole.sql(dialect="mysql"))
    having = having_condition(tree, items, scope, ctx)
    if aggregate:
        _check_aggregates(tree, items, having)
        node = plan_raw(node, tree, scope, ctx, items, compiler, having)
    else:
        terms = [] if ordered else order_terms(tree, items, ctx, scope)
        below = node
        limit = None if ordered else limit_ref(tree)
        node = finish_select(
            node, tree, items, terms, compiler, compiler, sort=bool(terms), limit=limit
        )
        if _identity(items, alias, table):
            node = _without_projection(node, below)
    return _bounded(node)


def _push_order(
    tree: exp.Select,
    items: list[Any],
    table: DerivedTable,
    alias: str,
    inner: exp.Expr,
    ctx: PlanContext,
    scope: Scope,
) -> bool:
    """The outer ORDER BY / LIMIT run by a plain body instead (its rows then stream in
    that order, no sort held above): when the outer query only filters (pushed into the
    body) and projects, and every ORDER BY term is an expression over the derived
    table's columns. True when moved (the outer query has neither any more)."""
    if not isinstance(inner, exp.Select) or not _simple(inner):
        return False
    if tree.args.get("distinct") is not None:
        return False
    limit, offset = tree.args.get("limit"), tree.args.get("offset")
    terms = order_terms(tree, items, ctx, scope)
    if not terms and limit is None and offset is None:
        return False
    exprs = {c.name.lower(): e for c, e in zip(table.info.columns, table.exprs, strict=True)}
    order: list[exp.Ordered] = []
    for term in terms:
        if not any(isinstance(n, exp.Column) for n in top_level_nodes(term.expr)):
            return False  # a constant: the body would read a number as a position
        moved = _substituted(term.expr, exprs, alias, None, ctx)
        if moved is None or not any(isinstance(n, exp.Column) for n in top_level_nodes(moved)):
            return False  # (a constant the body would read as a position, too)
        if term.nulls_first != (not term.desc):
            return False  # NULLS FIRST/LAST written out: MySQL has no such syntax
        order.append(exp.Ordered(this=moved, desc=term.desc, nulls_first=not term.desc))
    if order:
        inner.set("order", exp.Order(expressions=order))
    for key, value in (("limit", limit), ("offset", offset)):
        inner.set(key, value.copy() if value is not None else None)
        tree.set(key, None)
    tree.set("order", None)
    return True


def _identity(items: Sequence[Any], alias: str, table: DerivedTable) -> bool:
    """The select list is the derived table's columns in order (``SELECT *``)."""
    names = [c.name.lower() for c in table.info.columns]
    if len(items) != len(names):
        return False
    for it, name in zip(items, names, strict=True):
        e = it.expr
        if not isinstance(e, exp.Column) or e.name.lower() != name:
            return False
        if e.table.lower() != alias.lower():
            return False
    return True


def _without_projection(node: Any, below: Any) -> Any:
    """``node`` without the select-list projection right above ``below`` when it
    computes nothing (each item its own input column, no hidden ORDER BY values)."""
    if isinstance(node, ProjectNode) and node.child is below:
        return below if node.exprs is not None and len(node.exprs) == _width(below) else node
    child = getattr(node, "child", None)
    if child is None or isinstance(node, SelectPlan):
        return node
    return replace(node, child=_without_projection(child, below))


def _width(node: Any) -> int:
    while not isinstance(node, SelectPlan):
        node = node.child
    return len(node.columns or ())


def _check_outer(tree: exp.Select, table: DerivedTable, ctx: PlanContext) -> None:
    if contains_window(tree):
        raise NotSupported("window functions over a derived table of several shards")
    if tree.args.get("locks"):
        raise NotSupported("a locking read (FOR UPDATE) of a derived table")
    distinct = tree.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        raise NotSupported("DISTINCT ON over several shards")
    if table.mixed:
        raise NotSupported(
            f"the derived table column {table.mixed[0]}: text computed from columns of "
            "several collations (MySQL's coercibility rules decide its collation)"
        )
    for column, typed in zip(table.info.columns, table.types, strict=True):
        t = _resolve(typed, ctx) if isinstance(typed, SlotTyped) else typed
        if t.flags & (_ENUM_FLAG | _SET_FLAG) and not column.type:
            raise NotSupported(
                f"the derived table column {column.name}: an ENUM/SET value computed by an "
                "expression (select the column itself, or CAST it to CHAR)"
            )


def _check_hidden_digits(
    tree: exp.Select,
    table: DerivedTable,
    inner: exp.Expr,
    residual: Sequence[exp.Expr],
    ctx: PlanContext,
) -> None:
    """A quotient in a body MariaDB merges into the outer query (one plain block)
    keeps the digits its shown scale hides (``qty / 3`` is 0.333333333 inside, shown
    0.3333): the outer query computes with those, the shards send the shown value. Such
    a column may be selected as it is (or filtered in the body, with every digit);
    anything computed from it over several shards is refused."""
    if not isinstance(inner, exp.Select) or not _simple(inner):
        return
    quotients = {
        c.name.lower()
        for c, e in zip(table.info.columns, table.exprs, strict=True)
        if any(isinstance(n, exp.Div) for n in top_level_nodes(e))
    }
    if not quotients:
        return
    terms: list[exp.Expr] = []
    for key in ("order", "group"):
        clause = tree.args.get(key)
        terms += (
            [t.this if isinstance(t, exp.Ordered) else t for t in clause.expressions]
            if clause
            else []
        )
    # DISTINCT, or ORDER BY / GROUP BY a select item by position: the items are used.
    computed = tree.args.get("distinct") is not None or any(
        isinstance(t, exp.Literal | exp.Placeholder) for t in terms
    )
    bare = {id(e.this if isinstance(e, exp.Alias) else e) for e in tree.expressions}
    # A select alias of such a column, named in ORDER BY / GROUP BY / HAVING.
    quotients |= {
        e.alias.lower()
        for e in tree.expressions
        if isinstance(e, exp.Alias)
        and isinstance(e.this, exp.Column)
        and e.this.name.lower() in quotients
    }
    for node in [*top_level_nodes(tree), *(n for c in residual for n in top_level_nodes(c))]:
        if not isinstance(node, exp.Column) or node.name.lower() not in quotients:
            continue
        if computed or id(node) not in bare:
            raise NotSupported(
                f"the derived table column {node.name}: a quotient MySQL computes with more "
                "digits than it shows, used in an expression, a sort or an aggregate over "
                "several shards (CAST it to a DECIMAL in the derived table)"
            )


def _check_aggregates(tree: exp.Select, items: list[Any], having: exp.Expr | None) -> None:
    """Aggregates the raw aggregation does not compute, named for a derived table."""
    group = tree.args.get("group")
    if group is not None and group.args.get("rollup"):
        raise NotSupported("GROUP BY ... WITH ROLLUP over a derived table of several shards")
    roots: list[exp.Expr] = [it.expr for it in items]
    if having is not None:
        roots.append(having)
    order = tree.args.get("order")
    if order is not None:
        roots.extend(o.this for o in order.expressions)
    for root in roots:
        for n in top_level_nodes(root):
            if isinstance(n, exp.GroupConcat):
                raise NotSupported("GROUP_CONCAT() over a derived table of several shards")
            if isinstance(n, exp.BitwiseAndAgg | exp.BitwiseOrAgg | exp.BitwiseXorAgg):
                raise NotSupported("BIT_AND/OR/XOR() over a derived table of several shards")


def _bounded(node: Any) -> Any:
    """``node`` with every operator that holds rows wrapped in a :class:`HeldNode`
    (down to the body's plan, which keeps its own bounds)."""
    if isinstance(node, SelectPlan):
        return node
    child = getattr(node, "child", None)
    if child is not None:
        node = replace(node, child=_bounded(child))
    if isinstance(node, SortNode):
        return HeldNode(node, "ORDER BY over a derived table")
    if isinstance(node, DistinctNode):
        return HeldNode(node, "SELECT DISTINCT over a derived table")
    if isinstance(node, AggregateNode) and node.group_fns:
        return HeldNode(node, "GROUP BY over a derived table")
    return node


# ---------------------------------------------------------------------------- pushdown


def _push_down(
    tree: exp.Select, table: DerivedTable, alias: str, inner: exp.Expr, ctx: PlanContext
) -> list[exp.Expr]:
    """Move the outer WHERE conjuncts that can run in the body into it (module
    docstring); returns the others.

    A plain block takes them in its WHERE. A grouped block (GROUP BY or aggregates,
    without DISTINCT, LIMIT, WITH ROLLUP or window functions) takes a conjunct over
    its group expressions in its WHERE — as MariaDB's condition pushdown does — and
    one that reads an aggregate in its HAVING (a filter on the group's values, which
    are the derived row's)."""
    where = tree.args.get("where")
    parts = conjuncts(where)
    tree.set("where", None)
    if not parts or not isinstance(inner, exp.Select):
        return parts
    grouped = not _simple(inner)
    if grouped and not _groupable(inner):
        return parts
    exprs = {c.name.lower(): e for c, e in zip(table.info.columns, table.exprs, strict=True)}
    groups = _group_keys(inner, ctx) if grouped else {}
    kept: list[exp.Expr] = []
    to_where: list[exp.Expr] = []
    to_having: list[exp.Expr] = []
    for cond in parts:
        moved = _substituted(cond, exprs, alias, groups if grouped else None, ctx)
        if moved is None:
            kept.append(cond)
        elif grouped and contains_aggregate(moved):
            to_having.append(moved)
        else:
            to_where.append(moved)
    _add_conditions(inner, "where", exp.Where, to_where)
    _add_conditions(inner, "having", exp.Having, to_having)
    return kept


def _add_conditions(
    block: exp.Select, key: str, kind: type[exp.Where] | type[exp.Having], parts: list[exp.Expr]
) -> None:
    if not parts:
        return
    own = block.args.get(key)
    whole = and_all(
        ([exp.Paren(this=own.this)] if own is not None else []) + [exp.Paren(this=p) for p in parts]
    )
    block.set(key, kind(this=whole))


def _simple(block: exp.Select) -> bool:
    """One plain query block: filtering its rows is filtering its source rows."""
    for key in ("group", "having", "distinct", "limit", "offset", "qualify", "windows", "locks"):
        if block.args.get(key):
            return False
    return not any(contains_aggregate(e) or contains_window(e) for e in block.expressions)


def _groupable(block: exp.Select) -> bool:
    """A grouped block whose rows are its groups, one each (module docstring)."""
    for key in ("distinct", "limit", "offset", "qualify", "windows", "locks"):
        if block.args.get(key):
            return False
    group = block.args.get("group")
    if group is not None and (
        group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets")
    ):
        return False
    return not any(contains_window(e) for e in block.expressions)


def _group_keys(block: exp.Select, ctx: PlanContext) -> dict[str, exp.Expr]:
    """The GROUP BY expressions of ``block`` by their text (literals by value)."""
    group = block.args.get("group")
    items = block.expressions
    out: dict[str, exp.Expr] = {}
    for g in group.expressions if group is not None else []:
        term = g
        while isinstance(term, exp.Paren):
            term = term.this
        if isinstance(term, exp.Literal | exp.Placeholder):
            return {}  # a position (its value may be a slot): not resolved here
        if isinstance(term, exp.Column) and not term.table:
            named = [
                e.this
                for e in items
                if isinstance(e, exp.Alias) and e.alias.lower() == term.name.lower()
            ]
            if named:
                return {}  # an alias or a column of that name: MySQL's rules decide
        out[_text(term, ctx)] = term
    return out


def _text(node: exp.Expr, ctx: PlanContext) -> str:
    """Identity text of an expression, literals by value (:func:`canon`)."""
    while isinstance(node, exp.Paren):
        node = node.this
    return canon(node, ctx, by_value=True).lower()


def _substituted(
    cond: exp.Expr,
    exprs: Mapping[str, exp.Expr],
    alias: str,
    groups: Mapping[str, exp.Expr] | None,
    ctx: PlanContext,
) -> exp.Expr | None:
    """``cond`` over the body's expressions, or None when it cannot move. ``groups``
    (a grouped body): each expression must be a group expression or hold an
    aggregate."""
    if cond.find(exp.Select, exp.Subquery, exp.Window) is not None or contains_aggregate(cond):
        return None
    moved = cond.copy()
    pairs: list[tuple[exp.Expr, exp.Expr]] = []
    for col in [moved] if isinstance(moved, exp.Column) else list(moved.find_all(exp.Column)):
        if not col.table or col.table.lower() != alias.lower():
            return None
        target = exprs.get(col.name.lower())
        if target is None or not _deterministic(target, aggregates=groups is not None):
            return None
        if groups is not None and not contains_aggregate(target):
            group = groups.get(_text(target, ctx))
            if group is None:
                return None
            deps_of(target, ctx)  # equal by their literals' values: kept for them
            deps_of(group, ctx)
        replacement = target.copy()
        if not isinstance(replacement, exp.Column | exp.Literal | exp.Placeholder | exp.Paren):
            replacement = exp.Paren(this=replacement)
        pairs.append((col, replacement))
    for old, new in pairs:
        if old is moved:
            return new
        old.replace(new)
    return moved


def _deterministic(node: exp.Expr, *, aggregates: bool = False) -> bool:
    if node.find(exp.Select, exp.Subquery, exp.Window) is not None:
        return False
    if not aggregates and contains_aggregate(node):
        return False
    for f in [node, *node.find_all(exp.Func)]:
        if not isinstance(f, exp.Func):
            continue
        name = f.name.upper() if isinstance(f, exp.Anonymous) else f.sql_name().upper()
        if name in _VOLATILE or type(f).__name__.upper() in _VOLATILE:
            return False
    return True
