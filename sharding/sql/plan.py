"""The SELECT planner: from a parsed statement to a tree of merge primitives.

Shapes (decided here, once per normalised statement; the plan cache keeps them):

* **Broadcast / no table** — the whole statement runs on one data source.
* **One table group** (a sharded table, or co-located tables joined on their shard
  keys, plus broadcast tables). A call whose route gives one shard runs the whole
  statement there (``Passthrough``: anything the backend supports works). Several
  shards get the *scatter* form (:mod:`sharding.sql.scatter`): rows merged by
  ``MergeSort``/``Concat`` with ORDER BY and ``LIMIT off+n`` pushed down, or
  aggregates merged from per-shard partials (:mod:`sharding.sql.aggregate_plan`).
* **Two sharded tables not co-located, joined on an equality** — ``SortMergeJoin`` of
  two sorted, chunked reads (:mod:`sharding.sql.join_plan`).

Everything else raises :class:`~sharding.errors.NotSupported` naming the construct
(correlated subqueries over several shards, non-equi cross-shard joins, ...; window
functions across shards: :mod:`sharding.sql.window_plan`).

Keyset tiebreaker: the table's primary key, else the dialect's implicit row id
(SQLite ``rowid``). With neither (a MySQL table without a primary key), an ordered or
large read cannot be continued exactly, so each shard is read in one piece capped at
``cluster.unchunked_limit`` rows — exceeding it is an error, never a silent cut — and
EXPLAIN says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported, ShardgateError
from sharding.sql.clauses import passthrough_columns
from sharding.sql.context import PlanContext
from sharding.sql.derived import merge_broadcast_derived
from sharding.sql.exprs import conjuncts
from sharding.sql.join_plan import broadcast_outer_sides, outer_join_hazard, plan_join
from sharding.sql.names import STAR, apply_names, source_names
from sharding.sql.nodes import OutputColumn, Passthrough, PlanNode, SelectPlan, ShardRead
from sharding.sql.one_shard import plan_one_shard
from sharding.sql.reads import key_lookup, shard_key_ref
from sharding.sql.rewrite import HOLE, render_template, slot_of
from sharding.sql.route import ALL, build_route
from sharding.sql.scatter import plan_scatter
from sharding.sql.scope import Scope, TableRef


def plan_select(tree: exp.Expr, ctx: PlanContext) -> SelectPlan:
    """Plan a SELECT (see module docstring). ``tree`` is consumed (mutated).

    A statement with no multi-shard plan (subqueries, CTEs, UNION over sharded tables,
    joins of tables that are not co-located) still runs when every query block routes
    to one and the same shard (:mod:`sharding.sql.one_shard`)."""
    pristine = tree.copy() if _has_blocks(tree) else None
    try:
        if any(j.args.get("method") == "NATURAL" for j in tree.find_all(exp.Join)):
            # Its columns are the common ones once, coalesced: the coordinator's scopes
            # would read them twice (1052 for ``ORDER BY id``, a wrong ``SELECT *``).
            raise NotSupported("NATURAL JOIN (write JOIN ... ON a.k = b.k)")
        return _plan_select(tree, ctx)
    except NotSupported as exc:
        if pristine is None:
            raise
        return plan_one_shard(pristine, ctx, exc, _first_select_names(pristine, ctx))


def _has_blocks(tree: exp.Expr) -> bool:
    """True when ``tree`` has more than one query block or more than one table."""
    if not isinstance(tree, exp.Select):
        return True
    if tree.args.get("with_") or tree.args.get("with"):
        return True
    tables = 0
    for node in tree.find_all(exp.Select, exp.Table):
        if isinstance(node, exp.Select) and node is not tree:
            return True
        if isinstance(node, exp.Table):
            tables += 1
    return tables > 1


def _may_read_derived(tree: exp.Select) -> bool:
    """Whether :mod:`sharding.sql.derived_plan` may plan ``tree``: it reads a derived
    table or a CTE only through a ``WITH`` or a subquery as a FROM/JOIN source
    (``derived_columns.derived_body``); anything else it returns None for."""
    if tree.args.get("with_") or tree.args.get("with"):
        return True
    from_ = tree.args.get("from_") or tree.args.get("from")
    if from_ is None:
        return False
    joins = tree.args.get("joins") or []
    return isinstance(from_.this, exp.Subquery) or any(
        isinstance(j.this, exp.Subquery) for j in joins
    )


def _plan_select(tree: exp.Expr, ctx: PlanContext) -> SelectPlan:
    if isinstance(tree, exp.Union | exp.Intersect | exp.Except):
        # Imported here: most sessions never plan a UNION (start-up loads less).
        from sharding.sql.union_plan import plan_union

        # Issue 18.4: one shard when every block routes there, else merged per block.
        return plan_union(
            tree,
            ctx,
            plan_branch=plan_select,
            names=_first_select_names,
            all_broadcast=_plan_all_broadcast,
        )
    if not isinstance(tree, exp.Select):
        raise NotSupported(f"{type(tree).__name__} statements are not supported here")
    if _may_read_derived(tree):
        # Imported here: only a statement with a derived table or a CTE needs it.
        from sharding.sql.derived_plan import plan_derived, plan_derived_join

        # Issue 18.3: a derived table or CTE over a sharded table as the only FROM source.
        derived = plan_derived(tree, ctx, plan_select)
        if derived is not None:
            return derived
        # Issue 18.3: one such derived table or CTE joined with one table: a SortMergeJoin.
        joined = plan_derived_join(tree, ctx, plan_select)
        if joined is not None:
            return joined
    if tree.args.get("with_") or tree.args.get("with"):
        return _plan_all_broadcast(tree, ctx, "WITH (common table expressions)")
    if tree.args.get("into"):
        raise NotSupported("SELECT ... INTO is not supported")
    merge_broadcast_derived(tree, ctx.tables, ctx.database)
    scope = Scope(tree, ctx.tables, ctx.database)
    item_names = source_names(tree, ctx.source)
    widths = _star_widths(tree, scope, item_names)
    top = {id(r.node) for r in scope.refs}
    for _node, info in ctx.catalog_tables(tree, skip=top):
        if not info.broadcast:
            raise NotSupported(
                f"a subquery or derived table over the sharded table {info.qualified}"
            )
    sharded = [r for r in scope.refs if not r.info.broadcast]
    # Every catalog table (top level and inside subqueries over broadcast tables) gets
    # a hole so it is renamed to its physical name.
    holes: list[TableInfo] = [r.info for r in scope.refs]
    for ref in scope.refs:
        ref.node.meta[HOLE] = ref.index
    for node, info in ctx.catalog_tables(tree, skip=top):
        node.meta[HOLE] = len(holes)
        holes.append(info)
    if not sharded:
        read = ShardRead(render_template(tree, ctx.dialect), tuple(holes), ALL, None)
        plan = SelectPlan(Passthrough(read), None, None, passthrough_columns(tree, scope, ctx))
        return _named(plan, item_names, widths)
    groups = _colocated_groups(tree, scope, sharded)
    if len(groups) == 1:
        hazard = outer_join_hazard(tree, scope)
        if hazard is None:
            return _named(_plan_group(tree, scope, ctx, sharded, holes), item_names, widths)
        sides = broadcast_outer_sides(scope)
        if sides is not None:
            return _named(plan_join(tree, scope, ctx, holes, sides), item_names, widths)
        group = _plan_group(tree, scope, ctx, sharded, holes)
        # Only a route to one shard (which sees every row) may run it as written.
        group = SelectPlan(group.single, None, NotSupported(hazard), group.columns)
        return _named(group, item_names, widths)
    if len(groups) == 2 and len(sharded) == 2 and len(scope.refs) == 2 and not scope.derived:
        return _named(plan_join(tree, scope, ctx, holes), item_names, widths)
    names = ", ".join(r.info.qualified for r in sharded)
    raise NotSupported(
        f"join of sharded tables that are not co-located ({names}): only two tables joined "
        "on an equality, or tables sharing a rule joined on their shard keys, are supported"
    )


def _star_widths(tree: exp.Select, scope: Scope, names: list[Any] | None) -> list[int] | None:
    """How many columns each ``*`` item stands for (None: unknown to the catalog)."""
    if names is None:
        return None
    try:
        return [
            len(scope.star_columns(e))
            for e, n in zip(tree.expressions, names, strict=True)
            if n is STAR
        ]
    except ShardgateError:
        return None


def _named(plan: SelectPlan, names: list[Any] | None, widths: list[int] | None) -> SelectPlan:
    """``plan`` with its result columns named from the statement text, as MySQL names them."""
    columns = apply_names(plan.columns, names, widths)
    return plan if columns is plan.columns else replace(plan, columns=columns)


def _plan_all_broadcast(tree: exp.Expr, ctx: PlanContext, what: str) -> SelectPlan:
    """Statements only supported when every table involved is broadcast."""
    infos: list[TableInfo] = []
    for node, info in ctx.catalog_tables(tree):
        if not info.broadcast:
            raise NotSupported(f"{what} over the sharded table {info.qualified}")
        node.meta[HOLE] = len(infos)
        infos.append(info)
    read = ShardRead(render_template(tree, ctx.dialect), tuple(infos), ALL, None)
    return SelectPlan(Passthrough(read), None, None, _first_select_names(tree, ctx))


def _first_select_names(tree: exp.Expr, ctx: PlanContext) -> tuple[OutputColumn, ...] | None:
    """Names of a UNION's / WITH query's result: its first SELECT's items as typed
    (None — the backend's names — when a ``*`` or an unreadable text is involved)."""
    first = tree
    while isinstance(first, exp.Union | exp.Intersect | exp.Except):
        first = first.this
    if not isinstance(first, exp.Select):
        return None
    names = source_names(first, ctx.source)
    if names is None or any(not isinstance(n, OutputColumn) for n in names):
        return None
    return tuple(n for n in names if isinstance(n, OutputColumn))


def _colocated_groups(
    tree: exp.Select, scope: Scope, sharded: list[TableRef]
) -> list[list[TableRef]]:
    """Union-find of sharded tables joined on their shard keys with the same placement."""
    root: dict[int, int] = {id(r): id(r) for r in sharded}

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    candidates: list[exp.Expr] = []
    for join in tree.args.get("joins") or []:
        candidates.extend(conjuncts(join.args.get("on")))
    where_pairs = conjuncts(tree.args.get("where"))
    for cond in candidates + where_pairs:
        if not isinstance(cond, exp.EQ):
            continue
        a, b = shard_key_ref(scope, cond.this), shard_key_ref(scope, cond.expression)
        if a is None or b is None or a is b:
            continue
        if cond in where_pairs and (a.outer or b.outer):
            continue  # an outer join is co-located only through its ON clause
        if not a.info.rule.same_placement(b.info.rule):
            continue
        root[find(id(a))] = find(id(b))
    groups: dict[int, list[TableRef]] = {}
    for r in sharded:
        groups.setdefault(find(id(r)), []).append(r)
    return list(groups.values())


def _plan_group(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    sharded: list[TableRef],
    holes: list[TableInfo],
) -> SelectPlan:
    aliases = {e.alias for e in tree.expressions if isinstance(e, exp.Alias)}
    scope.qualify(tree, aliases)
    route = build_route(tree.args.get("where"), key_lookup(scope, sharded), slot_of)
    route_tables = tuple(r.info for r in sharded)
    single: Passthrough | None = None
    try:
        single = Passthrough(
            ShardRead(
                render_template(tree, ctx.dialect),
                tuple(holes),
                route,
                sharded[0].index,
                route_tables=route_tables,
            )
        )
    except NotSupported:
        # The backend cannot run the whole statement (an ordered GROUP_CONCAT on a
        # SQLite shard): a call routed to one shard runs the scatter form there too.
        single_error = True
    else:
        single_error = False
    columns = passthrough_columns(tree, scope, ctx)
    scatter: PlanNode | None = None
    error: Exception | None = None
    try:
        scatter, columns = plan_scatter(tree, scope, ctx, sharded, holes, route, route_tables)
    except NotSupported as exc:
        if single_error:
            raise
        error = exc
    return SelectPlan(single, scatter, error, columns)
