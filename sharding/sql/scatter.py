"""The multi-shard form of a statement over one table group.

Rows (:func:`_plan_rows`): every shard runs the statement's select list with ORDER BY
pushed down (ORDER BY terms missing from the select list added as hidden columns, the
table's unique tiebreaker appended so reads continue by keyset) and ``LIMIT off+n``
pushed down; then ``MergeSort`` (``Concat`` without ORDER BY) → ``Limit`` → ``Project``
(drop the hidden columns). Aggregates and DISTINCT: :mod:`sharding.sql.aggregate_plan`.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported
from sharding.merge.semantics import SortItem
from sharding.sql.aggregate_plan import plan_partials
from sharding.sql.clauses import (
    Item,
    expand_items,
    having_condition,
    is_aggregate_query,
    limit_ref,
    order_terms,
)
from sharding.sql.context import PlanContext, canon
from sharding.sql.enums import column_enum, enum_index
from sharding.sql.exprs import column_collation, contains_window
from sharding.sql.nodes import (
    ConcatNode,
    LimitNode,
    MergeSortNode,
    OutputColumn,
    ProjectNode,
    ShardRead,
)
from sharding.sql.reads import KeysetKey, ShardOrder, select_for_shard, shard_read, tiebreak
from sharding.sql.route import Route
from sharding.sql.scope import Scope, TableRef
from sharding.sql.shard_dialect import shard_dialect
from sharding.sql.source_stage import SourceStage, order_kept, rows_stage
from sharding.sql.window_plan import (
    CHUNK_NOTE,
    copy_windows,
    plan_coordinator,
    shard_local,
    wrap_for_chunks,
)
from sharding.sql.window_plan import NOTE as WINDOW_NOTE


def plan_scatter(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    sharded: list[TableRef],
    holes: list[TableInfo],
    route: Route,
    route_tables: tuple[TableInfo, ...],
) -> tuple[Any, tuple[OutputColumn, ...]]:
    """The scatter plan and its result column names (NotSupported when there is none)."""
    if scope.derived:
        raise NotSupported("a derived table in FROM together with sharded tables")
    windowed = contains_window(tree)
    # Issue 18.5 (sharding.sql.window_plan): shard-local partitions run on the shards,
    # other windows are computed by the coordinator.
    local = shard_local(tree, scope) if windowed else True
    distinct = tree.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        raise NotSupported("DISTINCT ON over several shards")
    items = expand_items(tree, scope, ctx)
    names = tuple(it.name for it in items)
    # Aggregates under OVER are window functions (check_shard_local refused the rest).
    aggregate = not windowed and is_aggregate_query(tree, items)
    if tree.args.get("locks") and (aggregate or distinct is not None or len(sharded) > 1):
        # Only the plain row read carries the clause to its shard statements.
        raise NotSupported(
            "SELECT ... FOR UPDATE / LOCK IN SHARE MODE with GROUP BY, DISTINCT, an "
            "aggregate or a join over several shards"
        )
    leader = sharded[0].index
    node: Any
    if not local:
        node = plan_coordinator(tree, scope, ctx, items, holes, route, route_tables, leader)
    elif aggregate or distinct is not None:
        node = plan_partials(
            tree,
            scope,
            ctx,
            items,
            having_condition(tree, items, scope, ctx),
            holes,
            route,
            route_tables,
            leader,
            distinct_only=not aggregate,
        )
    else:
        node = _plan_rows(
            tree, scope, ctx, items, holes, route, route_tables, leader, windowed=windowed
        )
    return node, names


def _plan_rows(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    holes: list[TableInfo],
    route: Route,
    route_tables: tuple[TableInfo, ...],
    leader: int,
    *,
    windowed: bool = False,
) -> Any:
    # ``exprs`` is what the shards select (aliases kept for the backend's ORDER BY
    # semantics), ``plain`` the same expressions without aliases (keyset keys).
    exprs: list[exp.Expr] = [
        exp.alias_(it.expr.copy(), it.alias) if it.alias else it.expr for it in items
    ]
    plain: list[exp.Expr] = [it.expr for it in items]
    visible = len(items)
    sort: list[SortItem] = []
    shard_order: list[ShardOrder] = []
    keys: list[KeysetKey] = []
    for term in order_terms(tree, items, ctx, scope):
        idx = term.index
        if idx is None:
            exprs.append(term.expr)
            plain.append(term.expr)
            idx = len(exprs) - 1
        if column_enum(plain[idx], scope) is not None:  # sorts by index: sharding.sql.enums
            exprs.append(enum_index(plain[idx]))
            plain.append(exprs[-1])
            idx = len(exprs) - 1
        sort.append(SortItem(idx, term.desc, term.nulls_first, column_collation(plain[idx], scope)))
        shard_order.append((idx, term.desc, term.nulls_first))
        keys.append((plain[idx], idx, term.desc, term.nulls_first))
    notes: list[str] = []
    unique = tiebreak(scope.refs, ctx)
    if unique is None:
        notes.append(
            "no unique tiebreaker (no primary key): each shard read unchunked, capped at "
            f"{ctx.cluster.unchunked_limit} rows (more is an error)"
        )
    else:
        # A tiebreak column the order already has adds nothing; one the select list
        # has is ordered by its position instead of being selected twice.
        ordered = {canon(k[0], ctx) for k in keys}
        for t in unique:
            key = canon(t, ctx)
            if key in ordered:
                continue
            idx = next((i for i, e in enumerate(plain) if canon(e, ctx) == key), -1)
            if idx < 0:
                exprs.append(t)
                plain.append(t)
                idx = len(exprs) - 1
            shard_order.append((idx, False, True))
            keys.append((plain[idx], idx, False, True))
    limit = limit_ref(tree)
    shard_sel = select_for_shard(tree, exprs, order=shard_order)
    if windowed:
        notes.append(WINDOW_NOTE)
        if unique is None:
            copy_windows(tree, shard_sel)
        else:
            shard_sel, keys = wrap_for_chunks(tree, shard_sel, keys)
            notes.append(CHUNK_NOTE)
    read = shard_read(
        ctx,
        shard_sel,
        holes,
        route,
        route_tables,
        leader,
        keys if unique is not None else None,
        limit,
        notes,
        lock_clause(tree, ctx.dialect),
    )
    # Unordered and without a LIMIT: a first round needs no order (a full one is dropped).
    unordered = _rows_source(ctx, read, windowed, plain, [], scope, False)
    node: Any = ConcatNode(read, unordered if limit is None else None)
    if sort:
        source = _rows_source(ctx, read, windowed, plain, shard_order, scope, limit is not None)
        node = MergeSortNode(read, tuple(sort), source)
    if limit is not None:
        node = LimitNode(node, limit)
    if len(exprs) > visible:
        node = ProjectNode(node, columns=tuple(range(visible)), text="drop hidden columns")
    return node


def _rows_source(
    ctx: PlanContext,
    read: ShardRead,
    windowed: bool,
    exprs: list[exp.Expr],
    order: list[ShardOrder],
    scope: Scope,
    bounded: bool,
) -> SourceStage | str | None:
    """The data-source stage of a row read (:mod:`sharding.sql.source_stage`): of its
    first chunk only when it has no LIMIT (``bounded`` False)."""
    if ctx.dialect != "mysql":
        return None
    if windowed:
        return "window functions are computed above the shard rows"
    if read.lock:
        return "a locking read locks each shard's rows itself"
    if read.no_union:
        return read.no_union
    if not read.chunked:
        return "no unique tiebreaker: each shard's read is guarded on its own"
    return order_kept(exprs, order, scope) or rows_stage(len(exprs), order, first_round=not bounded)


def lock_clause(tree: exp.Select, dialect: str) -> str:
    """The statement's locking clause as each shard chunk ends with it (`` FOR UPDATE``),
    or ``""``. SQLite has none: its write lock covers the whole shard file anyway."""
    locks = tree.args.get("locks") or []
    if not locks or dialect != "mysql":
        return ""
    return "".join(" " + lock.sql(dialect=shard_dialect(dialect)) for lock in locks)
