"""Planning GROUP BY, aggregates, HAVING and DISTINCT across shards.

Two ways to aggregate:

* **from partials** (:func:`plan_partials`) — over one table group, the shards compute
  partial aggregates grouped and ordered by the group key: ``AVG(x)`` becomes
  ``SUM(x), COUNT(x)``; the argument of a ``DISTINCT`` aggregate becomes an extra group
  column (each distinct value then arrives at least once); HAVING conjuncts on plain
  group columns run on the shards. A MergeSort interleaves the shards' groups and an
  OrderedAggregate combines them streaming (scalar aggregates: Concat → HashAggregate).
  ``SELECT DISTINCT`` without aggregates is the same plan with the select list as the
  group key. LIMIT is pushed down when the group order is the ORDER BY.
* **from raw rows** (:func:`plan_raw`) — above a cross-shard join, a HashAggregate
  evaluates group keys and arguments on the joined rows.

Above either: HAVING on aggregates (Filter), then :func:`sharding.sql.finish.finish_select`.
Expressions there are compiled against ``(group values…, aggregate results…)`` rows
(:class:`_PostResolver`); a column that is neither grouped nor aggregated is refused
(MySQL's ONLY_FULL_GROUP_BY would too; SQLite would pick an arbitrary row, which
cannot be reproduced across shards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported, ShardgateError
from sharding.merge.aggregates import AggFunc, AggSpec
from sharding.merge.evaluate import Compiler, Ref
from sharding.merge.semantics import SortItem
from sharding.sql.clauses import Item, OrderTerm, limit_ref, order_terms, resolve_item_ref
from sharding.sql.context import PlanContext, canon, deps_of
from sharding.sql.enums import column_enum, enum_index
from sharding.sql.exprs import (
    and_all,
    column_affinity,
    column_collation,
    conjuncts,
    contains_aggregate,
    contains_window,
    is_aggregate,
)
from sharding.sql.finish import finish_select
from sharding.sql.nodes import AggregateNode, ConcatNode, FilterNode, MergeSortNode
from sharding.sql.reads import ShardOrder, select_for_shard, shard_read
from sharding.sql.rewrite import slot_of
from sharding.sql.route import Route
from sharding.sql.scope import Scope, top_level_nodes

SUPPORTED_AGGREGATES: dict[type[exp.Expr], AggFunc] = {
    exp.Count: "count",
    exp.Sum: "sum",
    exp.Min: "min",
    exp.Max: "max",
    exp.Avg: "avg",
    exp.BitwiseAndAgg: "bit_and",
    exp.BitwiseOrAgg: "bit_or",
    exp.BitwiseXorAgg: "bit_xor",
}


@dataclass
class _Agg:
    """One distinct aggregate call of the statement."""

    node: exp.Expr
    func: AggFunc
    distinct: bool
    arg: exp.Expr | None
    key: str  # canon() of the call


def _collect_aggregates(nodes: Sequence[exp.Expr], ctx: PlanContext) -> list[_Agg]:
    found: list[_Agg] = []
    seen: set[str] = set()
    for root in nodes:
        for n in top_level_nodes(root):
            if not is_aggregate(n):
                continue
            key = canon(n, ctx)
            if key in seen:
                continue
            seen.add(key)
            found.append(_classify_aggregate(n, key))
    return found


def _aggregates_of(
    items: Sequence[Item], terms: Sequence[OrderTerm], having: exp.Expr | None, ctx: PlanContext
) -> list[_Agg]:
    """Every aggregate the select list, ORDER BY and HAVING use."""
    sources = [it.expr for it in items] + [t.expr for t in terms]
    if having is not None:
        sources.append(having)
    return _collect_aggregates(sources, ctx)


def _classify_aggregate(node: exp.Expr, key: str) -> _Agg:
    if isinstance(node, exp.Anonymous):  # TOTAL(x)
        if len(node.expressions) != 1:
            raise NotSupported("TOTAL() takes one argument")
        arg = node.expressions[0]
        _check_arg(arg, "TOTAL")
        return _Agg(node, "total", False, arg, key)
    name = node.sql_name() if isinstance(node, exp.Func) else type(node).__name__.upper()
    func = SUPPORTED_AGGREGATES.get(type(node))
    if func is not None and func.startswith("bit_"):
        name = func.upper()  # sqlglot's name is BITWISE_..._AGG
    if func is None:
        raise NotSupported(f"aggregate function {name}() over several shards")
    arg = node.this
    distinct = False
    if isinstance(arg, exp.Distinct):
        if func.startswith("bit_"):
            raise NotSupported(f"{name}(DISTINCT ...) over several shards")
        distinct = True
        if len(arg.expressions) != 1:
            if func != "count":
                raise NotSupported(f"{name}(DISTINCT with several columns) over several shards")
            # COUNT(DISTINCT a, b): distinct rows of (a, b) with no NULL in them.
            for e in arg.expressions:
                _check_arg(e, name)
            return _Agg(node, func, True, exp.Tuple(expressions=list(arg.expressions)), key)
        arg = arg.expressions[0]
    if node.expressions and func != "count":
        raise NotSupported(f"{name}() with several arguments")
    if func == "count" and (arg is None or isinstance(arg, exp.Star)):
        if distinct:
            raise NotSupported("COUNT(DISTINCT *)")
        return _Agg(node, "count_star", False, None, key)
    if arg is None:
        raise NotSupported(f"{name}() without an argument")
    _check_arg(arg, name)
    return _Agg(node, func, distinct, arg, key)


def _check_arg(arg: exp.Expr, name: str) -> None:
    if contains_aggregate(arg):
        raise ShardgateError(
            f"Invalid use of group function in {name}()", code=1111, sqlstate="HY000"
        )
    if contains_window(arg):
        raise NotSupported(f"window function inside {name}()")


def _hidden_digits(agg: _Agg, ctx: PlanContext) -> bool:
    """Whether a SUM/AVG partial can hold more digits than its shard sends.

    MySQL keeps a quotient with whole 9-digit words of fraction (``qty / 3`` is
    0.333333333 inside) and SUMs those inner values, but sends the partial rounded to
    its declared scale (0.3333): partials rounded per shard do not add up to the
    whole table's sum. Only a division makes inner digits the declared scale does not
    show (``+ - *`` and columns are exact at their scale).
    """
    if ctx.dialect != "mysql" or agg.func not in ("sum", "avg") or agg.arg is None:
        return False
    return any(isinstance(n, exp.Div) for n in top_level_nodes(agg.arg))


def _exact_sum(arg: exp.Expr) -> exp.Expr:
    """``SUM(arg) + CAST(0 AS DECIMAL(65,38))``: a DECIMAL sum sent with every inner
    digit (scale 38; a DOUBLE sum stays a DOUBLE, unchanged)."""
    zero = exp.Cast(
        this=exp.Literal.number(0),
        to=exp.DataType.build("DECIMAL(65, 38)", dialect="mysql"),
    )
    return exp.Add(this=exp.Sum(this=arg.copy()), expression=zero)


def _partials(agg: _Agg, ctx: PlanContext) -> list[exp.Expr]:
    """What each shard computes for one aggregate (AVG: sum and count; a SUM/AVG that
    may hide digits: also the exact sum, see :func:`_hidden_digits`)."""
    if _hidden_digits(agg, ctx):
        assert agg.arg is not None
        first: list[exp.Expr] = [exp.Sum(this=agg.arg.copy())]
        if agg.func == "avg":
            first.append(exp.Count(this=agg.arg.copy()))
        return [*first, _exact_sum(agg.arg)]
    if agg.func == "count_star":
        return [exp.Count(this=exp.Star())]
    assert agg.arg is not None
    if agg.func == "count":
        return [exp.Count(this=agg.arg.copy())]
    if agg.func == "sum":
        return [exp.Sum(this=agg.arg.copy())]
    if agg.func == "total":
        return [exp.Anonymous(this="TOTAL", expressions=[agg.arg.copy()])]
    if agg.func == "min":
        return [exp.Min(this=agg.arg.copy())]
    if agg.func == "max":
        return [exp.Max(this=agg.arg.copy())]
    if agg.func.startswith("bit_"):
        # A shard's BIT_x of its rows; the same operation combines them (each shard
        # with no rows sends the operation's identity, as MySQL answers no rows).
        return [type(agg.node)(this=agg.arg.copy())]
    return [exp.Sum(this=agg.arg.copy()), exp.Count(this=agg.arg.copy())]  # avg


class _PostResolver:
    """Resolves expressions over ``(group values..., aggregate results...)`` rows."""

    def __init__(
        self,
        ctx: PlanContext,
        scope: Scope,
        groups: Sequence[exp.Expr],
        aggs: Sequence[_Agg],
        what: str,
    ) -> None:
        self.ctx = ctx
        self.what = what
        self.entries: dict[str, Ref] = {}
        self.by_value: dict[str, tuple[Ref, exp.Expr]] = {}
        for i, g in enumerate(groups):
            ref = Ref(
                i,
                column_affinity(g, scope, ctx.sem),
                column_collation(g, scope),
                column_enum(g, scope),
            )
            self.entries.setdefault(canon(g, ctx), ref)
            self.by_value.setdefault(canon(g, ctx, by_value=True), (ref, g))
        for j, a in enumerate(aggs):
            self.entries.setdefault(a.key, Ref(len(groups) + j))

    def lookup(self, node: exp.Expr) -> Ref | None:
        if isinstance(node, exp.Literal | exp.Placeholder | exp.Null | exp.Boolean):
            return None
        key = canon(node, self.ctx)
        ref = self.entries.get(key)
        if ref is not None:
            return ref
        if node.find(exp.Placeholder) is not None:
            hit = self.by_value.get(canon(node, self.ctx, by_value=True))
            if hit is not None:
                deps_of(node, self.ctx)
                deps_of(hit[1], self.ctx)
                return hit[0]
        return None

    def missing(self, node: exp.Expr) -> Exception:
        return NotSupported(
            f"column '{node.sql(dialect='mysql')}' in {self.what} is neither grouped nor "
            "aggregated (not supported over several shards)"
        )

    def slot(self, node: exp.Placeholder) -> int:
        return slot_of(node)


def _elements(arg: exp.Expr) -> list[exp.Expr]:
    """The arguments a DISTINCT aggregate groups by (several for COUNT(DISTINCT a, b))."""
    return list(arg.expressions) if isinstance(arg, exp.Tuple) else [arg]


def _unique(exprs: Sequence[exp.Expr], ctx: PlanContext) -> list[exp.Expr]:
    """``exprs`` without repeats (by :func:`canon`), first occurrence kept."""
    out: list[exp.Expr] = []
    keys: set[str] = set()
    for e in exprs:
        key = canon(e, ctx)
        if key not in keys:
            keys.add(key)
            out.append(e)
    return out


def _group_exprs(
    tree: exp.Select, items: list[Item], scope: Scope, ctx: PlanContext
) -> list[exp.Expr]:
    """The GROUP BY expressions (positions and aliases resolved), without repeats."""
    group = tree.args.get("group")
    if group is None:
        return []
    if group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets"):
        raise NotSupported("GROUP BY ... WITH ROLLUP/CUBE/GROUPING SETS over several shards")
    exprs: list[exp.Expr] = []
    for g in group.expressions:
        idx = resolve_item_ref(g, items, ctx, scope, alias_first=False)
        expr = items[idx].expr if idx is not None else g
        if contains_aggregate(expr):
            raise ShardgateError(
                f"Can't group on '{expr.sql(dialect='mysql')}'", code=1056, sqlstate="42000"
            )
        exprs.append(expr)
    return _unique(exprs, ctx)


def _pushable_having(cond: exp.Expr, groups: Sequence[exp.Expr], ctx: PlanContext) -> bool:
    """A HAVING conjunct that only looks at plain group columns can run on the shards."""
    if contains_aggregate(cond) or any(
        isinstance(n, exp.Select | exp.Subquery) for n in cond.walk()
    ):
        return False
    group_cols = {canon(g, ctx) for g in groups if isinstance(g, exp.Column)}
    columns = list(cond.find_all(exp.Column))
    return bool(columns) and all(canon(c, ctx) in group_cols for c in columns)


def _group_order(
    groups: Sequence[exp.Expr], terms: Sequence[OrderTerm], ctx: PlanContext
) -> tuple[list[ShardOrder], bool]:
    """The order to read groups in, and whether a Sort is still needed above.

    When ORDER BY names only group columns the groups are read in that order (no Sort);
    otherwise in group-key order and sorted after aggregation.
    """
    group_keys = [canon(g, ctx) for g in groups]
    on_groups: list[ShardOrder] = []
    for term in terms:
        key = canon(term.expr, ctx)
        if key not in group_keys or any(key == group_keys[i] for i, _, _ in on_groups):
            on_groups = []
            break
        on_groups.append((group_keys.index(key), term.desc, term.nulls_first))
    needs_sort = bool(terms) and len(on_groups) != len(terms)
    if needs_sort:
        return [(i, False, True) for i in range(len(groups))], True
    used = {i for i, _, _ in on_groups}
    return on_groups + [(i, False, True) for i in range(len(groups)) if i not in used], False


def plan_partials(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    having: exp.Expr | None,
    holes: Sequence[TableInfo],
    route: Route,
    route_tables: tuple[TableInfo, ...],
    leader: int,
    *,
    distinct_only: bool,
) -> Any:
    """Aggregation from shard partials (module docstring); ``distinct_only``: a SELECT
    DISTINCT without aggregates, grouped by its select list."""
    if distinct_only:
        groups = _unique([it.expr for it in items], ctx)
    else:
        groups = _group_exprs(tree, items, scope, ctx)
    terms = order_terms(tree, items, ctx, scope)
    aggs = _aggregates_of(items, terms, having, ctx)
    # HAVING: conjuncts on plain group columns run on the shards (with the backend's
    # own comparison rules); the rest is evaluated on merged groups.
    pushed_having: list[exp.Expr] = []
    residual_having: list[exp.Expr] = []
    for c in conjuncts(having):
        (pushed_having if _pushable_having(c, groups, ctx) else residual_having).append(c)
    distinct_args = _unique(
        [e for a in aggs if a.distinct and a.arg is not None for e in _elements(a.arg)], ctx
    )
    group_order, needs_sort = _group_order(groups, terms, ctx)
    n_g, n_d = len(groups), len(distinct_args)
    shard_exprs: list[exp.Expr] = [*groups, *distinct_args]
    distinct_keys = [canon(d, ctx) for d in distinct_args]
    specs: list[AggSpec] = []
    for a in aggs:
        if a.distinct and isinstance(a.arg, exp.Tuple):
            elements = _elements(a.arg)
            specs.append(
                AggSpec(
                    a.func,
                    True,
                    tuple(n_g + distinct_keys.index(canon(e, ctx)) for e in elements),
                    collations=tuple(column_collation(e, scope) for e in elements),
                )
            )
            continue
        coll = column_collation(a.arg, scope) if a.arg is not None else None
        if a.distinct:
            assert a.arg is not None
            pos = n_g + distinct_keys.index(canon(a.arg, ctx))
            specs.append(AggSpec(a.func, True, (pos,), collation=coll))
            continue
        cols = []
        for p in _partials(a, ctx):
            shard_exprs.append(p)
            cols.append(len(shard_exprs) - 1)
        specs.append(
            AggSpec(a.func, False, tuple(cols), collation=coll, exact=_hidden_digits(a, ctx))
        )
    shard_order = group_order + [(n_g + k, False, True) for k in range(n_d)]
    # An ENUM key is ordered, merged and continued on its index (sharding.sql.enums):
    # a hidden ``col + 0`` column, grouped on too (the same groups).
    hidden: list[exp.Expr] = []
    for k, (i, d, nf) in enumerate(shard_order):
        if column_enum(shard_exprs[i], scope) is not None:
            hidden.append(enum_index(shard_exprs[i]))
            shard_exprs.append(hidden[-1])
            shard_order[k] = (len(shard_exprs) - 1, d, nf)
    grouped = bool(shard_order)
    limit = limit_ref(tree)
    # Pushing LIMIT down is exact when the shards' group order is the final order and
    # nothing above drops groups (HAVING) or merges several shard rows per group
    # (a DISTINCT argument is an extra group column).
    push_limit = limit if grouped and not needs_sort and not residual_having and not n_d else None
    shard_sel = select_for_shard(
        tree,
        shard_exprs,
        group=[*groups, *distinct_args, *hidden],
        having=and_all(pushed_having),
        order=shard_order if grouped else (),
    )
    keys = [(shard_exprs[i], i, d, nf) for i, d, nf in shard_order] if grouped else None
    read = shard_read(ctx, shard_sel, holes, route, route_tables, leader, keys, push_limit)
    child: Any
    if grouped:
        sort = tuple(
            SortItem(i, d, nf, column_collation(shard_exprs[i], scope)) for i, d, nf in shard_order
        )
        child = MergeSortNode(read, sort)
    else:
        child = ConcatNode(read)
    node = AggregateNode(
        child,
        group_columns=tuple(range(n_g)),
        group_collations=tuple(column_collation(g, scope) for g in groups),
        specs=tuple(specs),
        ordered=grouped,
        mode="merge",
    )
    return _finish(
        node,
        tree,
        scope,
        ctx,
        items,
        groups,
        aggs,
        residual_having,
        terms,
        needs_sort,
        limit,
        dedupe=not distinct_only,
    )


def plan_raw(
    node: Any,
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    compiler: Compiler,
    having: exp.Expr | None,
) -> Any:
    """Aggregation over the rows of ``node`` (a join), each value computed by ``compiler``."""
    groups = _group_exprs(tree, items, scope, ctx)
    terms = order_terms(tree, items, ctx, scope)
    aggs = _aggregates_of(items, terms, having, ctx)
    for a in aggs:
        if a.func.startswith("bit_"):
            # Raw values would need MySQL's conversion of every type to an unsigned
            # 64-bit integer; only shard partials (already converted) are merged.
            raise NotSupported(f"{a.func.upper()}() above a join of several shards")
    specs = []
    for a in aggs:
        arg_fn = compiler.compile(a.arg).fn if a.arg is not None else None
        coll = column_collation(a.arg, scope) if a.arg is not None else None
        specs.append(AggSpec(a.func, a.distinct, (), arg_fn, coll))
    node = AggregateNode(
        node,
        group_fns=tuple(compiler.compile(g).fn for g in groups),
        group_collations=tuple(column_collation(g, scope) for g in groups),
        specs=tuple(specs),
        ordered=False,
        mode="raw",
    )
    return _finish(
        node,
        tree,
        scope,
        ctx,
        items,
        groups,
        aggs,
        conjuncts(having),
        terms,
        bool(terms),
        limit_ref(tree),
    )


def _finish(
    node: Any,
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    groups: Sequence[exp.Expr],
    aggs: Sequence[_Agg],
    residual_having: Sequence[exp.Expr],
    terms: Sequence[OrderTerm],
    needs_sort: bool,
    limit: Any,
    *,
    dedupe: bool = True,
) -> Any:
    """Above the aggregate: HAVING, then select list, DISTINCT, ORDER BY, LIMIT."""
    if residual_having:
        cond = and_all(residual_having)
        assert cond is not None
        having = Compiler(_PostResolver(ctx, scope, groups, aggs, "HAVING"), ctx.sem)
        node = FilterNode(node, having.predicate(cond), cond.sql(dialect="mysql"))
    select = Compiler(_PostResolver(ctx, scope, groups, aggs, "the select list"), ctx.sem)
    order = Compiler(_PostResolver(ctx, scope, groups, aggs, "ORDER BY"), ctx.sem)
    return finish_select(
        node, tree, items, terms, select, order, sort=needs_sort, limit=limit, dedupe=dedupe
    )
