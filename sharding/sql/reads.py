"""Shard reads: the statement each shard runs, its route, its keyset continuation.

A :class:`~sharding.sql.nodes.ShardRead` is the leaf of every multi-shard plan. Built
here from a planned select list over the original FROM/JOIN/WHERE:

* :func:`select_for_shard` — the shard statement (``ORDER BY`` by output position, so
  hidden sort and tiebreak columns need no aliases);
* :func:`key_lookup` — which column references are shard keys, for
  :func:`sharding.sql.route.build_route`;
* :func:`tiebreak` — columns that make rows unique (primary key, else the backend's
  implicit row id), so an ordered read can continue by keyset exactly;
* :func:`shard_read` — the template, rendered once, with the keyset hole when the read
  is chunked, or the ``unchunked_limit`` guard when it cannot be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.sql.context import PlanContext
from sharding.sql.nodes import LimitRef, ShardRead
from sharding.sql.rewrite import render_expression, render_template
from sharding.sql.route import Route
from sharding.sql.scope import Scope, TableRef
from sharding.sql.union_values import union_changes

#: A keyset key: (expression, output position, descending, NULLs first).
KeysetKey = tuple[exp.Expr, int, bool, bool]
#: An ORDER BY of a shard statement: (output position, descending, NULLs first).
ShardOrder = tuple[int, bool, bool]


def shard_key_ref(scope: Scope, col: exp.Expr) -> TableRef | None:
    """The table reference whose shard key ``col`` is, if it is one."""
    if not isinstance(col, exp.Column):
        return None
    found = scope.resolve(col)
    if found is None:
        return None
    ref = found[0]
    key = ref.info.rule.shard_key
    if ref.info.broadcast or key is None or key.lower() != col.name.lower():
        return None
    return ref


def key_lookup(
    scope: Scope, route_refs: Sequence[TableRef]
) -> Callable[[exp.Column], tuple[int, bool] | None]:
    """For route building: a column → (index in ``route_refs``, on an outer side)."""
    positions = {id(r): i for i, r in enumerate(route_refs)}

    def key_of(col: exp.Column) -> tuple[int, bool] | None:
        ref = shard_key_ref(scope, col)
        if ref is None:
            return None
        i = positions.get(id(ref))
        return None if i is None else (i, ref.outer)

    return key_of


def tiebreak(refs: Sequence[TableRef], ctx: PlanContext) -> list[exp.Expr] | None:
    """Expressions that make rows of the FROM clause unique, or None if unknown."""
    out: list[exp.Expr] = []
    for ref in refs:
        if ref.info.primary_key:
            out.extend(exp.column(c, table=ref.alias) for c in ref.info.primary_key)
        elif ctx.sem.implicit_row_id:
            out.append(exp.column(ctx.sem.implicit_row_id, table=ref.alias))
        else:
            return None
    return out


def select_for_shard(
    tree: exp.Select,
    exprs: Sequence[exp.Expr],
    *,
    group: Sequence[exp.Expr] = (),
    having: exp.Expr | None = None,
    order: Sequence[ShardOrder] = (),
) -> exp.Select:
    """A shard statement selecting ``exprs`` over ``tree``'s FROM/JOIN/WHERE."""
    sel = exp.Select(expressions=[e.copy() for e in exprs])
    from_ = tree.args.get("from_")
    if from_ is not None:
        sel.set("from_", from_.copy())
    joins = tree.args.get("joins")
    if joins:
        sel.set("joins", [j.copy() for j in joins])
    where = tree.args.get("where")
    if where is not None:
        sel.set("where", where.copy())
    if group:
        sel.set("group", exp.Group(expressions=[g.copy() for g in group]))
    if having is not None:
        sel.set("having", exp.Having(this=having.copy()))
    if order:
        sel.set("order", order_by_positions(order))
    return sel


def order_by_positions(order: Sequence[ShardOrder]) -> exp.Order:
    """``ORDER BY 1, 3 DESC, …`` (1-based output positions)."""
    return exp.Order(
        expressions=[
            exp.Ordered(this=exp.Literal.number(pos + 1), desc=desc, nulls_first=nulls_first)
            for pos, desc, nulls_first in order
        ]
    )


def shard_read(
    ctx: PlanContext,
    shard_sel: exp.Select,
    holes: Sequence[TableInfo],
    route: Route,
    route_tables: tuple[TableInfo, ...],
    leader: int,
    keys: Sequence[KeysetKey] | None,
    limit: LimitRef | None,
    notes: Sequence[str] = (),
    lock: str = "",
) -> ShardRead:
    """A ShardRead of ``shard_sel``: chunked by keyset on ``keys``, or unchunked (and
    guarded by ``cluster.unchunked_limit``) when ``keys`` is empty or None."""
    ks = keys or ()
    return ShardRead(
        render_template(shard_sel, ctx.dialect, keyset=bool(ks)),
        tuple(holes),
        route,
        leader,
        keyset_exprs=tuple(render_expression(k[0], ctx.dialect) for k in ks),
        keyset_desc=tuple(k[2] for k in ks),
        keyset_nulls_first=tuple(k[3] for k in ks),
        keyset_columns=tuple(k[1] for k in ks),
        guard=None if ks else ctx.cluster.unchunked_limit,
        limit=limit,
        notes=tuple(notes),
        route_tables=route_tables,
        lock=lock,
        no_union=union_changes(shard_sel.expressions),
    )
