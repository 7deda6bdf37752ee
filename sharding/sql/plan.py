"""The SELECT planner: from a parsed statement to a tree of merge primitives.

Shapes (decided here, once per normalised statement; the plan cache keeps them):

* **Broadcast / no table** — the whole statement runs on one data source.
* **One table group** (a sharded table, or co-located tables joined on their shard
  keys, plus broadcast tables). A call whose route gives one shard runs the whole
  statement there (``Passthrough``: anything the backend supports works). Several
  shards get the *scatter* form:

  - rows: ``ShardRead`` (ORDER BY pushed down, ``LIMIT off+n`` pushed down, ORDER BY
    items missing from the select list added as hidden columns, a unique tiebreaker
    added for keyset chunking) → ``MergeSort`` (or ``Concat`` without ORDER BY) →
    ``Limit`` → ``Project`` (drop hidden columns);
  - aggregates: the shards compute partials grouped (and ordered) by the group key —
    ``AVG(x)`` becomes ``SUM(x), COUNT(x)``, a ``DISTINCT`` argument becomes an extra
    group column — then ``MergeSort`` → ``OrderedAggregate`` (streaming, one group in
    memory) or ``Concat`` → ``HashAggregate`` for scalar aggregates → ``Filter``
    (HAVING on aggregates) → ``Project`` (expressions over merged values) →
    ``Distinct`` → ``Sort``/TopN (unless the group order already is the ORDER BY) →
    ``Limit``.
* **Two sharded tables not co-located, joined on an equality** — ``SortMergeJoin`` of
  two ``MergeSort`` streams, each side read ``ORDER BY key, pk`` with its own WHERE
  conjuncts pushed down; residual conditions, aggregates, ORDER BY and LIMIT run on
  top with the evaluator.

Everything else raises :class:`~sharding.errors.NotSupported` naming the construct
(window functions or subqueries over several shards, non-equi cross-shard joins, ...).

Keyset tiebreaker: the table's primary key, else the dialect's implicit row id
(SQLite ``rowid``). With neither (a MySQL table without a primary key), an ordered or
large read cannot be continued exactly, so each shard is read in one piece capped at
``cluster.unchunked_limit`` rows — exceeding it is an error, never a silent cut — and
EXPLAIN says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported, ShardgateError
from sharding.merge.aggregates import AggFunc, AggSpec
from sharding.merge.evaluate import Compiler, Ref
from sharding.merge.semantics import Semantics, SortItem
from sharding.sql.nodes import (
    AggregateNode,
    ConcatNode,
    DistinctNode,
    FilterNode,
    LimitNode,
    LimitRef,
    MergeSortNode,
    OutputColumn,
    Passthrough,
    ProjectNode,
    SelectPlan,
    ShardRead,
    SortMergeJoinNode,
    SortNode,
)
from sharding.sql.rewrite import HOLE, SLOT, render_expression, render_template, slot_of
from sharding.sql.route import ALL, AndRoute, Route, ValueRef, build_route, constant_ref
from sharding.sql.scope import Scope, TableRef, referenced_tables, top_level_nodes
from sharding.topology import ClusterConfig

SUPPORTED_AGGREGATES: dict[type[exp.Expr], AggFunc] = {
    exp.Count: "count",
    exp.Sum: "sum",
    exp.Min: "min",
    exp.Max: "max",
    exp.Avg: "avg",
}


@dataclass
class PlanContext:
    """Inputs of one planning run."""

    tables: dict[tuple[str, str], TableInfo]
    database: str | None
    sem: Semantics
    cluster: ClusterConfig
    #: Text the statement was parsed from (normalised), for result column names.
    source: str = ""
    #: Value of every slot for *this* call; reads through :meth:`structural` make the
    #: plan valid only for the same values (recorded in ``deps``).
    slot_values: Sequence[Any] = ()
    slot_raw: Sequence[str] = ()
    slot_literal: Sequence[bool] = ()
    deps: dict[int, Any] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.sem.dialect

    def structural(self, slot: int) -> Any:
        value = self.slot_values[slot]
        self.deps[slot] = value
        return value


# ---------------------------------------------------------------------- helpers
def is_aggregate(node: exp.Expr) -> bool:
    return isinstance(node, exp.AggFunc) or (
        isinstance(node, exp.Anonymous) and node.name.upper() == "TOTAL"
    )


def contains_aggregate(node: exp.Expr) -> bool:
    return any(is_aggregate(n) for n in top_level_nodes(node))


def contains_window(node: exp.Expr) -> bool:
    return any(isinstance(n, exp.Window) for n in top_level_nodes(node))


def conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    if isinstance(node, exp.Where | exp.Having):
        node = node.this
    while isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        node = node.this
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


def and_all(parts: Sequence[exp.Expr]) -> exp.Expr | None:
    if not parts:
        return None
    out = parts[0].copy()
    for p in parts[1:]:
        out = exp.and_(out, p.copy())
    return out


def canon(node: exp.Expr, ctx: PlanContext | None = None, by_value: bool = False) -> str:
    """Identity text of an expression: placeholders by slot (or by literal value)."""
    copied = node.copy()
    if isinstance(copied, exp.Alias):
        copied = copied.this
    for p in list(copied.find_all(exp.Placeholder)):
        slot = slot_of(p)
        if by_value and ctx is not None and ctx.slot_literal and ctx.slot_literal[slot]:
            text = f"?={ctx.slot_raw[slot]}"
        else:
            text = f"?{slot}"
        if p is copied:
            return text
        p.replace(exp.Var(this=text))
    return copied.sql(dialect="mysql")


def deps_of(node: exp.Expr, ctx: PlanContext) -> None:
    for p in node.find_all(exp.Placeholder):
        ctx.structural(slot_of(p))


def output_name(node: exp.Expr, ctx: PlanContext) -> OutputColumn:
    """Result column name the way MySQL/SQLite derive it (alias, column, source text)."""
    if isinstance(node, exp.Alias):
        return OutputColumn(node.alias)
    if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
        return OutputColumn(node.name)
    src = ctx.source
    starts: list[int] = []
    ends: list[int] = []
    slots: list[tuple[int, int]] = []
    for n in node.walk():
        meta = n.meta if n.meta else None
        if not meta:
            continue
        if "start" in meta and "end" in meta:
            starts.append(int(meta["start"]))
            ends.append(int(meta["end"]))
        if "sg_start" in meta:
            starts.append(int(meta["sg_start"]))
            ends.append(int(meta["sg_start"]))
            if SLOT in meta:
                slots.append((int(meta["sg_start"]), int(meta[SLOT])))
    if not src or not starts:
        return OutputColumn(_render_name(node))
    start, end = min(starts), max(ends) + 1
    # Unary operators and opening parentheses carry no position; take them in.
    while start > 0:
        back = start - 1
        while back > 0 and src[back] in " \t\r\n":
            back -= 1
        if src[back] in "-+~!(":
            start = back
        else:
            break
    depth = src.count("(", start, end) - src.count(")", start, end)
    while depth > 0 and end < len(src):
        ch = src[end]
        end += 1
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
    text = src[start:end]
    positions = tuple(sorted((pos - start, slot) for pos, slot in slots if start <= pos < end))
    return OutputColumn(text, positions)


def _render_name(node: exp.Expr) -> str:
    copied = node.copy()
    for p in list(copied.find_all(exp.Placeholder)):
        if p is copied:
            return "?"
        p.replace(exp.Var(this="?"))
    return copied.sql(dialect="mysql")


def column_collation(node: exp.Expr, scope: Scope) -> str | None:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Collate):
        target = node.expression
        return (target.name if isinstance(target, exp.Expr) else str(target)).lower()
    if isinstance(node, exp.Column):
        found = scope.column_ref(node)
        if found is not None and found[1] is not None:
            return found[1].collation.lower() if found[1].collation else None
    return None


def column_affinity(node: exp.Expr, scope: Scope, sem: Semantics) -> str | None:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        found = scope.column_ref(node)
        if found is not None and found[1] is not None:
            return sem.affinity(found[1].type)
    if isinstance(node, exp.Cast):
        to = node.args.get("to")
        return sem.affinity(to.sql(dialect=sem.dialect)) if to is not None else None
    return None


@dataclass
class Item:
    expr: exp.Expr  # without alias
    alias: str | None
    name: OutputColumn


def expand_items(select: exp.Select, scope: Scope, ctx: PlanContext) -> list[Item]:
    items: list[Item] = []
    for e in select.expressions:
        if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
            for ref, col in scope.star_columns(e):
                items.append(
                    Item(exp.column(col.name, table=ref.alias), None, OutputColumn(col.name))
                )
            continue
        alias = e.alias if isinstance(e, exp.Alias) else None
        inner = e.this if isinstance(e, exp.Alias) else e
        items.append(Item(inner, alias or None, output_name(e, ctx)))
    return items


def _position(node: exp.Expr, ctx: PlanContext) -> int | None:
    """A positional ``ORDER BY 2`` / ``GROUP BY 1`` reference (1-based), or None."""
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        return int(node.this)
    if isinstance(node, exp.Placeholder):
        slot = slot_of(node)
        if ctx.slot_literal and ctx.slot_literal[slot]:
            value = ctx.structural(slot)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def resolve_item_ref(
    node: exp.Expr, items: list[Item], ctx: PlanContext, scope: Scope, *, alias_first: bool
) -> int | None:
    """Index of the select item an ORDER BY / GROUP BY term refers to, if any."""
    pos = _position(node, ctx)
    if pos is not None:
        if not 1 <= pos <= len(items):
            raise ShardgateError(
                f"Unknown column '{pos}' in 'order clause'", code=1054, sqlstate="42S22"
            )
        return pos - 1
    if isinstance(node, exp.Column) and not node.table:
        name = node.name.lower()
        is_column = scope.resolve(node) is not None
        if alias_first or not is_column:
            for i, it in enumerate(items):
                if it.alias is not None and it.alias.lower() == name:
                    return i
    key = canon(node, ctx)
    for i, it in enumerate(items):
        if canon(it.expr, ctx) == key:
            return i
    return None


def substitute_aliases(node: exp.Expr, items: list[Item], scope: Scope) -> exp.Expr:
    """Replace bare references to select aliases by the aliased expressions."""
    aliases = {it.alias.lower(): it.expr for it in items if it.alias}
    if not aliases:
        return node

    def repl(n: exp.Expr) -> exp.Expr:
        if (
            isinstance(n, exp.Column)
            and not n.table
            and n.name.lower() in aliases
            and scope.resolve(n) is None
        ):
            return aliases[n.name.lower()].copy()
        return n

    return node.copy().transform(repl)


# ---------------------------------------------------------------------- entry point
def plan_select(tree: exp.Expr, ctx: PlanContext) -> SelectPlan:
    """Plan a SELECT (see module docstring). ``tree`` is consumed (mutated)."""
    if isinstance(tree, exp.Union | exp.Intersect | exp.Except):
        return _plan_set_operation(tree, ctx)
    if not isinstance(tree, exp.Select):
        raise NotSupported(f"{type(tree).__name__} statements are not supported here")
    if tree.args.get("with_") or tree.args.get("with"):
        return _plan_all_broadcast(tree, ctx, "WITH (common table expressions)")
    if tree.args.get("into"):
        raise NotSupported("SELECT ... INTO is not supported")
    scope = Scope(tree, ctx.tables, ctx.database)
    top = {id(r.node) for r in scope.refs}
    others = [
        n for n in tree.find_all(exp.Table) if n.name and id(n) not in top
    ]
    for node in others:
        info = ctx.tables.get((node.db or ctx.database or "", node.name))
        if info is not None and not info.broadcast:
            raise NotSupported(
                f"a subquery or derived table over the sharded table {info.qualified}"
            )
    sharded = [r for r in scope.refs if not r.info.broadcast]
    # Every catalog table (top level and inside subqueries over broadcast tables) gets
    # a hole so it is renamed to its physical name.
    holes = _tag_all_tables(tree, scope, ctx)
    if not sharded:
        return _plan_broadcast_read(tree, scope, ctx, holes)
    groups = _colocated_groups(tree, scope, sharded)
    if len(groups) == 1:
        return _plan_group(tree, scope, ctx, sharded, holes)
    if len(groups) == 2 and len(sharded) == 2 and len(scope.refs) == 2 and not scope.derived:
        return _plan_join(tree, scope, ctx, holes)
    names = ", ".join(r.info.qualified for r in sharded)
    raise NotSupported(
        f"join of sharded tables that are not co-located ({names}): only two tables joined "
        "on an equality, or tables sharing a rule joined on their shard keys, are supported"
    )


def _tag_all_tables(tree: exp.Expr, scope: Scope, ctx: PlanContext) -> list[TableInfo]:
    infos: list[TableInfo] = [r.info for r in scope.refs]
    for ref in scope.refs:
        ref.node.meta[HOLE] = ref.index
    top = {id(r.node) for r in scope.refs}
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for node in tree.find_all(exp.Table):
        if id(node) in top or not node.name:
            continue
        if not node.db and node.name.lower() in ctes:
            continue
        info = ctx.tables.get((node.db or ctx.database or "", node.name))
        if info is None:
            continue
        node.meta[HOLE] = len(infos)
        infos.append(info)
    return infos


def _plan_set_operation(tree: exp.Expr, ctx: PlanContext) -> SelectPlan:
    return _plan_all_broadcast(tree, ctx, type(tree).__name__.upper())


def _plan_all_broadcast(tree: exp.Expr, ctx: PlanContext, what: str) -> SelectPlan:
    """Statements only supported when every table involved is broadcast."""
    infos: list[TableInfo] = []
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for node in tree.find_all(exp.Table):
        if not node.name or (not node.db and node.name.lower() in ctes):
            continue
        info = ctx.tables.get((node.db or ctx.database or "", node.name))
        if info is None:
            continue
        if not info.broadcast:
            raise NotSupported(f"{what} over the sharded table {info.qualified}")
        node.meta[HOLE] = len(infos)
        infos.append(info)
    read = ShardRead(render_template(tree, ctx.dialect), tuple(infos), ALL, None)
    return SelectPlan(Passthrough(read), None, None, ALL, (), None, ctx.sem.name)


def _plan_broadcast_read(
    tree: exp.Select, scope: Scope, ctx: PlanContext, holes: list[TableInfo]
) -> SelectPlan:
    columns = _passthrough_columns(tree, scope, ctx)
    read = ShardRead(render_template(tree, ctx.dialect), tuple(holes), ALL, None)
    return SelectPlan(Passthrough(read), None, None, ALL, (), columns, ctx.sem.name)


def _passthrough_columns(
    tree: exp.Select, scope: Scope, ctx: PlanContext
) -> tuple[OutputColumn, ...] | None:
    try:
        return tuple(it.name for it in expand_items(tree, scope, ctx))
    except ShardgateError:
        return None


def _colocated_groups(tree: exp.Select, scope: Scope, sharded: list[TableRef]) -> list[list[TableRef]]:
    """Union-find of sharded tables joined on their shard keys with the same placement."""
    parent = {id(r): r for r in sharded}
    root: dict[int, int] = {id(r): id(r) for r in sharded}

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    def key_ref(col: exp.Expr) -> TableRef | None:
        if not isinstance(col, exp.Column):
            return None
        found = scope.resolve(col)
        if found is None:
            return None
        ref = found[0]
        if ref.info.broadcast or ref.info.rule.shard_key is None:
            return None
        if ref.info.rule.shard_key.lower() != col.name.lower():
            return None
        return ref

    candidates: list[exp.Expr] = []
    for join in tree.args.get("joins") or []:
        candidates.extend(conjuncts(join.args.get("on")))
    where_pairs = conjuncts(tree.args.get("where"))
    for cond in candidates + where_pairs:
        if not isinstance(cond, exp.EQ):
            continue
        a, b = key_ref(cond.this), key_ref(cond.expression)
        if a is None or b is None or a is b:
            continue
        if cond in where_pairs and (a.outer or b.outer):
            continue  # an outer join is co-located only through its ON clause
        if not a.info.rule.same_placement(b.info.rule):
            continue
        root[find(id(a))] = find(id(b))
    groups: dict[int, list[TableRef]] = {}
    for r in sharded:
        groups.setdefault(find(id(r)), []).append(parent[id(r)])
    return list(groups.values())


def _key_lookup(scope: Scope, route_refs: list[TableRef]) -> Callable[[exp.Column], tuple[int, bool] | None]:
    positions = {id(r): i for i, r in enumerate(route_refs)}

    def key_of(col: exp.Column) -> tuple[int, bool] | None:
        found = scope.resolve(col)
        if found is None:
            return None
        ref = found[0]
        i = positions.get(id(ref))
        if i is None or ref.info.rule.shard_key is None:
            return None
        if ref.info.rule.shard_key.lower() != col.name.lower():
            return None
        return i, ref.outer

    return key_of


def _plan_group(
    tree: exp.Select, scope: Scope, ctx: PlanContext, sharded: list[TableRef], holes: list[TableInfo]
) -> SelectPlan:
    aliases = {e.alias for e in tree.expressions if isinstance(e, exp.Alias)}
    scope.qualify(tree, aliases)
    route = build_route(tree.args.get("where"), _key_lookup(scope, sharded), slot_of)
    route_tables = tuple(r.info for r in sharded)
    leader = sharded[0].index
    single_read = ShardRead(
        render_template(tree, ctx.dialect), tuple(holes), route, leader, route_tables=route_tables
    )
    columns = _passthrough_columns(tree, scope, ctx)
    scatter: Any = None
    error: Exception | None = None
    try:
        scatter, columns = _plan_scatter(tree, scope, ctx, sharded, holes, route, route_tables)
    except NotSupported as exc:
        error = exc
    return SelectPlan(
        Passthrough(single_read), scatter, error, route, route_tables, columns, ctx.sem.name
    )


# ---------------------------------------------------------------------- scatter
def _tiebreak(refs: Sequence[TableRef], ctx: PlanContext) -> list[exp.Expr] | None:
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


def _select_for_shard(
    tree: exp.Select,
    exprs: Sequence[exp.Expr],
    *,
    group: Sequence[exp.Expr] = (),
    having: exp.Expr | None = None,
    order: Sequence[tuple[int, bool, bool]] = (),
    where: exp.Expr | bool | None = True,
) -> exp.Select:
    """A shard statement over ``tree``'s FROM/JOIN (and WHERE unless replaced)."""
    sel = exp.Select(expressions=[e.copy() for e in exprs])
    from_ = tree.args.get("from_")
    if from_ is not None:
        sel.set("from_", from_.copy())
    joins = tree.args.get("joins")
    if joins:
        sel.set("joins", [j.copy() for j in joins])
    if where is True:
        w = tree.args.get("where")
        if w is not None:
            sel.set("where", w.copy())
    elif where is not None and where is not False:
        sel.set("where", exp.Where(this=where.copy()))  # type: ignore[union-attr]
    if group:
        sel.set("group", exp.Group(expressions=[g.copy() for g in group]))
    if having is not None:
        sel.set("having", exp.Having(this=having.copy()))
    if order:
        sel.set(
            "order",
            exp.Order(
                expressions=[
                    exp.Ordered(
                        this=exp.Literal.number(pos + 1), desc=desc, nulls_first=nulls_first
                    )
                    for pos, desc, nulls_first in order
                ]
            ),
        )
    return sel


def _limit_ref(tree: exp.Select, ctx: PlanContext) -> LimitRef | None:
    limit = tree.args.get("limit")
    offset = tree.args.get("offset")
    if limit is None and offset is None:
        return None

    def ref(node: exp.Expr | None) -> ValueRef | None:
        if node is None:
            return None
        value = node.args.get("expression") if isinstance(node, exp.Limit | exp.Offset) else node
        if value is None:
            return None
        r = constant_ref(value, slot_of)
        if r is None:
            raise NotSupported("LIMIT/OFFSET must be constants or parameters")
        return r

    return LimitRef(ref(limit), ref(offset))


def _read(
    ctx: PlanContext,
    shard_sel: exp.Select,
    holes: list[TableInfo],
    route: Route,
    route_tables: tuple[TableInfo, ...],
    leader: int,
    width: int,
    keys: Sequence[tuple[exp.Expr, int, bool, bool]] | None,
    limit: LimitRef | None,
    notes: Sequence[str] = (),
) -> ShardRead:
    """A ShardRead; ``keys`` = keyset (expr, output position, desc, nulls_first) or None."""
    chunked = bool(keys)
    template = render_template(shard_sel, ctx.dialect, keyset=chunked)
    if not chunked:
        return ShardRead(
            template, tuple(holes), route, leader, width=width,
            guard=ctx.cluster.unchunked_limit, limit=limit, notes=tuple(notes),
            route_tables=route_tables,
        )
    assert keys is not None
    return ShardRead(
        template,
        tuple(holes),
        route,
        leader,
        width=width,
        keyset_exprs=tuple(render_expression(k[0], ctx.dialect) for k in keys),
        keyset_columns=tuple(k[1] for k in keys),
        keyset_desc=tuple(k[2] for k in keys),
        keyset_nulls_first=tuple(k[3] for k in keys),
        limit=limit,
        notes=tuple(notes),
        route_tables=route_tables,
    )


def _nulls_first(ordered: exp.Ordered, desc: bool) -> bool:
    value = ordered.args.get("nulls_first")
    return bool(value) if value is not None else not desc


def _plan_scatter(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    sharded: list[TableRef],
    holes: list[TableInfo],
    route: Route,
    route_tables: tuple[TableInfo, ...],
) -> tuple[Any, tuple[OutputColumn, ...]]:
    if scope.derived:
        raise NotSupported("a derived table in FROM together with sharded tables")
    if contains_window(tree):
        raise NotSupported("window functions over several shards")
    distinct = tree.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        raise NotSupported("DISTINCT ON over several shards")
    if tree.args.get("locks"):
        raise NotSupported("SELECT ... FOR UPDATE over several shards")
    items = expand_items(tree, scope, ctx)
    names = tuple(it.name for it in items)
    having = tree.args.get("having")
    order = tree.args.get("order")
    aggregate = bool(tree.args.get("group")) or having is not None or any(
        contains_aggregate(it.expr) for it in items
    ) or (order is not None and any(contains_aggregate(o) for o in order.expressions))
    leader = sharded[0].index
    if aggregate or distinct is not None:
        node = _plan_aggregate(
            tree, scope, ctx, items, holes, route, route_tables, leader, distinct_only=not aggregate
        )
    else:
        node = _plan_rows(tree, scope, ctx, items, holes, route, route_tables, leader)
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
) -> Any:
    exprs: list[exp.Expr] = [exp.alias_(it.expr.copy(), it.alias) if it.alias else it.expr for it in items]
    plain: list[exp.Expr] = [it.expr for it in items]
    visible = len(items)
    sort: list[SortItem] = []
    shard_order: list[tuple[int, bool, bool]] = []
    keys: list[tuple[exp.Expr, int, bool, bool]] = []
    order = tree.args.get("order")
    for o in order.expressions if order is not None else []:
        idx = resolve_item_ref(o.this, items, ctx, scope, alias_first=True)
        if idx is None:
            exprs.append(o.this)
            plain.append(o.this)
            idx = len(exprs) - 1
        desc = bool(o.args.get("desc"))
        nf = _nulls_first(o, desc)
        sort.append(SortItem(idx, desc, nf, column_collation(plain[idx], scope)))
        shard_order.append((idx, desc, nf))
        keys.append((plain[idx], idx, desc, nf))
    refs = scope.refs
    tiebreak = _tiebreak(refs, ctx)
    notes: list[str] = []
    if tiebreak is None:
        notes.append(
            "no unique tiebreaker (no primary key): each shard read unchunked, capped at "
            f"{ctx.cluster.unchunked_limit} rows (more is an error)"
        )
        chunk_keys = None
    else:
        for t in tiebreak:
            exprs.append(t)
            plain.append(t)
            idx = len(exprs) - 1
            shard_order.append((idx, False, True))
            keys.append((t, idx, False, True))
        chunk_keys = keys
    limit = _limit_ref(tree, ctx)
    shard_sel = _select_for_shard(tree, exprs, order=shard_order)
    read = _read(ctx, shard_sel, holes, route, route_tables, leader, len(exprs), chunk_keys, limit, notes)
    node: Any = MergeSortNode(read, tuple(sort)) if sort else ConcatNode(read)
    if limit is not None:
        node = LimitNode(node, limit)
    if len(exprs) > visible:
        node = ProjectNode(node, columns=tuple(range(visible)), text="drop hidden columns")
    return node


# ---------------------------------------------------------------------- aggregates
@dataclass
class _Agg:
    node: exp.Expr
    func: AggFunc
    distinct: bool
    arg: exp.Expr | None
    key: str


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


def _classify_aggregate(node: exp.Expr, key: str) -> _Agg:
    if isinstance(node, exp.Anonymous):  # TOTAL(x)
        if len(node.expressions) != 1:
            raise NotSupported("TOTAL() takes one argument")
        arg = node.expressions[0]
        _check_arg(arg, "TOTAL")
        return _Agg(node, "total", False, arg, key)
    func = SUPPORTED_AGGREGATES.get(type(node))
    if func is None:
        raise NotSupported(f"aggregate function {node.sql_name()}() over several shards")
    arg = node.this
    distinct = False
    if isinstance(arg, exp.Distinct):
        distinct = True
        if len(arg.expressions) != 1:
            raise NotSupported(f"{node.sql_name()}(DISTINCT with several columns) over several shards")
        arg = arg.expressions[0]
    if node.expressions and func != "count":
        raise NotSupported(f"{node.sql_name()}() with several arguments")
    if func == "count" and (arg is None or isinstance(arg, exp.Star)):
        if distinct:
            raise NotSupported("COUNT(DISTINCT *)")
        return _Agg(node, "count_star", False, None, key)
    if arg is None:
        raise NotSupported(f"{node.sql_name()}() without an argument")
    _check_arg(arg, node.sql_name())
    return _Agg(node, func, distinct, arg, key)


def _check_arg(arg: exp.Expr, name: str) -> None:
    if contains_aggregate(arg):
        raise ShardgateError(f"Invalid use of group function in {name}()", code=1111, sqlstate="HY000")
    if contains_window(arg):
        raise NotSupported(f"window function inside {name}()")


def _partials(agg: _Agg) -> list[exp.Expr]:
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
        self.scope = scope
        self.what = what
        self.entries: dict[str, Ref] = {}
        self.by_value: dict[str, tuple[Ref, exp.Expr]] = {}
        for i, g in enumerate(groups):
            ref = Ref(i, column_affinity(g, scope, ctx.sem), column_collation(g, scope))
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


def _group_exprs(tree: exp.Select, items: list[Item], scope: Scope, ctx: PlanContext) -> list[exp.Expr]:
    group = tree.args.get("group")
    out: list[exp.Expr] = []
    if group is None:
        return out
    if group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets"):
        raise NotSupported("GROUP BY ... WITH ROLLUP/CUBE/GROUPING SETS over several shards")
    for g in group.expressions:
        idx = resolve_item_ref(g, items, ctx, scope, alias_first=False)
        expr = items[idx].expr if idx is not None else g
        if contains_aggregate(expr):
            raise ShardgateError(f"Can't group on '{expr.sql(dialect='mysql')}'", code=1056, sqlstate="42000")
        if all(canon(expr, ctx) != canon(o, ctx) for o in out):
            out.append(expr)
    return out


def _pushable_having(cond: exp.Expr, groups: Sequence[exp.Expr], ctx: PlanContext) -> bool:
    """A HAVING conjunct that only looks at plain group columns can run on the shards."""
    if contains_aggregate(cond) or any(
        isinstance(n, exp.Select | exp.Subquery) for n in cond.walk()
    ):
        return False
    group_cols = {canon(g, ctx) for g in groups if isinstance(g, exp.Column)}
    columns = list(cond.find_all(exp.Column))
    return bool(columns) and all(canon(c, ctx) in group_cols for c in columns)


def _plan_aggregate(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    holes: list[TableInfo],
    route: Route,
    route_tables: tuple[TableInfo, ...],
    leader: int,
    *,
    distinct_only: bool,
) -> Any:
    if distinct_only:
        groups: list[exp.Expr] = []
        for it in items:
            if all(canon(it.expr, ctx) != canon(o, ctx) for o in groups):
                groups.append(it.expr)
    else:
        groups = _group_exprs(tree, items, scope, ctx)
    having = tree.args.get("having")
    having_expr = substitute_aliases(having.this, items, scope) if having is not None else None
    order = tree.args.get("order")
    order_terms: list[tuple[exp.Expr, bool, bool, int | None]] = []
    for o in order.expressions if order is not None else []:
        desc = bool(o.args.get("desc"))
        idx = resolve_item_ref(o.this, items, ctx, scope, alias_first=True)
        expr = items[idx].expr if idx is not None else o.this
        order_terms.append((expr, desc, _nulls_first(o, desc), idx))
    agg_sources = [it.expr for it in items] + [t[0] for t in order_terms]
    if having_expr is not None:
        agg_sources.append(having_expr)
    aggs = _collect_aggregates(agg_sources, ctx)
    # HAVING: conjuncts on plain group columns run on the shards (with the backend's
    # own comparison rules); the rest is evaluated on merged groups.
    pushed_having: list[exp.Expr] = []
    residual_having: list[exp.Expr] = []
    for c in conjuncts(having_expr):
        (pushed_having if _pushable_having(c, groups, ctx) else residual_having).append(c)
    distinct_args: list[exp.Expr] = []
    for a in aggs:
        if a.distinct and a.arg is not None and all(canon(a.arg, ctx) != canon(d, ctx) for d in distinct_args):
            distinct_args.append(a.arg)
    # Group order: follow ORDER BY when it only names group columns (no Sort needed).
    group_keys = [canon(g, ctx) for g in groups]
    order_on_groups: list[tuple[int, bool, bool]] = []
    for expr, desc, nf, _ in order_terms:
        key = canon(expr, ctx)
        if key in group_keys and all(key != group_keys[i] for i, _, _ in order_on_groups):
            order_on_groups.append((group_keys.index(key), desc, nf))
        else:
            order_on_groups = []
            break
    needs_sort = bool(order_terms) and (not order_on_groups or len(order_on_groups) != len(order_terms))
    if needs_sort:
        group_order = [(i, False, True) for i in range(len(groups))]
    else:
        used = {i for i, _, _ in order_on_groups}
        group_order = order_on_groups + [(i, False, True) for i in range(len(groups)) if i not in used]
    n_g, n_d = len(groups), len(distinct_args)
    shard_exprs: list[exp.Expr] = [g for g in groups] + list(distinct_args)
    specs: list[AggSpec] = []
    for a in aggs:
        coll = column_collation(a.arg, scope) if a.arg is not None else None
        if a.distinct:
            assert a.arg is not None
            pos = n_g + [canon(d, ctx) for d in distinct_args].index(canon(a.arg, ctx))
            specs.append(AggSpec(a.func, True, (pos,), collation=coll))
            continue
        cols = []
        for p in _partials(a):
            shard_exprs.append(p)
            cols.append(len(shard_exprs) - 1)
        specs.append(AggSpec(a.func, False, tuple(cols), collation=coll))
    shard_group = list(groups) + list(distinct_args)
    shard_order = [(i, d, nf) for i, d, nf in group_order] + [(n_g + k, False, True) for k in range(n_d)]
    grouped = bool(shard_group)
    keys = (
        [(shard_exprs[i], i, d, nf) for i, d, nf in shard_order] if grouped else None
    )
    limit = _limit_ref(tree, ctx)
    push_limit = limit if (limit is not None and not needs_sort and not residual_having and not n_d and not distinct_only and grouped) else None
    if distinct_only and limit is not None and not needs_sort and grouped:
        push_limit = limit
    shard_sel = _select_for_shard(
        tree,
        shard_exprs,
        group=shard_group,
        having=and_all(pushed_having),
        order=shard_order if grouped else (),
    )
    read = _read(ctx, shard_sel, holes, route, route_tables, leader, len(shard_exprs), keys, push_limit)
    collations = tuple(column_collation(g, scope) for g in groups)
    if grouped:
        sort = tuple(
            SortItem(i, d, nf, column_collation(shard_exprs[i], scope)) for i, d, nf in shard_order
        )
        child: Any = MergeSortNode(read, sort)
    else:
        child = ConcatNode(read)
    node: Any = AggregateNode(
        child,
        group_columns=tuple(range(n_g)),
        group_collations=collations,
        specs=tuple(specs),
        ordered=grouped,
        mode="merge",
    )
    return _finish_aggregate(
        node, tree, scope, ctx, items, groups, aggs, residual_having, order_terms, needs_sort, limit,
        dedupe=not distinct_only,
    )


def _finish_aggregate(
    node: Any,
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    groups: Sequence[exp.Expr],
    aggs: Sequence[_Agg],
    residual_having: Sequence[exp.Expr],
    order_terms: Sequence[tuple[exp.Expr, bool, bool, int | None]],
    needs_sort: bool,
    limit: LimitRef | None,
    *,
    dedupe: bool = True,
) -> Any:
    """Above the aggregate: HAVING, select expressions, DISTINCT, ORDER BY, LIMIT.

    ``dedupe``: apply SELECT DISTINCT here (False when the grouping already was the
    DISTINCT)."""
    if residual_having:
        resolver = _PostResolver(ctx, scope, groups, aggs, "HAVING")
        cond = and_all(residual_having)
        assert cond is not None
        node = FilterNode(node, Compiler(resolver, ctx.sem).predicate(cond), cond.sql(dialect="mysql"))
    resolver = _PostResolver(ctx, scope, groups, aggs, "the select list")
    compiler = Compiler(resolver, ctx.sem)
    compiled = [compiler.compile(it.expr) for it in items]
    visible = len(items)
    hidden: list[Any] = []
    sort: list[SortItem] = []
    order_resolver = _PostResolver(ctx, scope, groups, aggs, "ORDER BY")
    order_compiler = Compiler(order_resolver, ctx.sem)
    distinct = tree.args.get("distinct") is not None
    for expr, desc, nf, idx in order_terms:
        if idx is None:
            if distinct:
                raise NotSupported("ORDER BY an expression not in the SELECT DISTINCT list")
            c = order_compiler.compile(expr)
            hidden.append(c)
            idx = visible + len(hidden) - 1
            coll = c.collation
        else:
            coll = compiled[idx].collation
        sort.append(SortItem(idx, desc, nf, coll))
    exprs = [c.fn for c in compiled] + [c.fn for c in hidden]
    node = ProjectNode(node, exprs=tuple(exprs), text="compute select list")
    if distinct and dedupe:
        node = DistinctNode(node, tuple(c.collation for c in compiled))
    if needs_sort:
        node = SortNode(node, tuple(sort), limit)
    if limit is not None:
        node = LimitNode(node, limit)
    if hidden:
        node = ProjectNode(node, columns=tuple(range(visible)), text="drop hidden columns")
    return node


# ---------------------------------------------------------------------- joins
def _sides_of(node: exp.Expr, scope: Scope) -> set[int]:
    sides: set[int] = set()
    for n in top_level_nodes(node):
        if isinstance(n, exp.Column):
            found = scope.column_ref(n)
            if found is not None:
                sides.add(found[0].index)
        if isinstance(n, exp.Select | exp.Subquery):
            for col in n.find_all(exp.Column):
                if col.table and scope.ref_of_alias(col.table) is not None:
                    inner_tables = {t.alias_or_name.lower() for t in n.find_all(exp.Table)}
                    if col.table.lower() not in inner_tables:
                        raise NotSupported("a correlated subquery across a cross-shard join")
    return sides


class _JoinResolver:
    """Columns of the joined row: left side's columns, then right side's."""

    def __init__(self, positions: dict[str, tuple[int, str | None, str | None]], ctx: PlanContext) -> None:
        self.positions = positions
        self.ctx = ctx

    def lookup(self, node: exp.Expr) -> Ref | None:
        if isinstance(node, exp.Column) and node.table:
            hit = self.positions.get(f"{node.table.lower()}.{node.name.lower()}")
            if hit is not None:
                return Ref(hit[0], hit[1], hit[2])
        return None

    def missing(self, node: exp.Expr) -> Exception:
        return NotSupported(f"column {node.sql(dialect='mysql')} is not available above a cross-shard join")

    def slot(self, node: exp.Placeholder) -> int:
        return slot_of(node)


def _plan_join(
    tree: exp.Select, scope: Scope, ctx: PlanContext, holes: list[TableInfo]
) -> SelectPlan:
    left, right = scope.refs
    kind = right.join_kind
    if kind == "cross":
        kind = "inner"
    if kind not in ("inner", "left"):
        raise NotSupported(f"{kind.upper()} JOIN between tables sharded differently")
    if contains_window(tree):
        raise NotSupported("window functions over several shards")
    aliases = {e.alias for e in tree.expressions if isinstance(e, exp.Alias)}
    scope.qualify(tree, aliases)
    join = (tree.args.get("joins") or [None])[0]
    if join is not None and join.args.get("using"):
        raise NotSupported("JOIN ... USING across shards (write ON a.k = b.k)")
    on_conds = conjuncts(join.args.get("on")) if join is not None else []
    where_conds = conjuncts(tree.args.get("where"))
    side_of = {left.index: 0, right.index: 1}
    pushed: list[list[exp.Expr]] = [[], []]
    residual: list[exp.Expr] = []
    post: list[exp.Expr] = []
    key_pairs: list[tuple[exp.Column, exp.Column]] = []

    def equi(cond: exp.Expr) -> tuple[exp.Column, exp.Column] | None:
        if isinstance(cond, exp.EQ) and isinstance(cond.this, exp.Column) and isinstance(cond.expression, exp.Column):
            a, b = scope.column_ref(cond.this), scope.column_ref(cond.expression)
            if a is not None and b is not None and a[0] is not b[0]:
                return (cond.this, cond.expression) if a[0] is left else (cond.expression, cond.this)
        return None

    for cond in on_conds:
        sides = {side_of[s] for s in _sides_of(cond, scope)}
        pair = equi(cond)
        if pair is not None:
            key_pairs.append(pair)
        elif sides == {1} or (kind == "inner" and sides == {0}):
            pushed[sides.pop()].append(cond)
        elif kind == "inner" and not sides:
            pushed[0].append(cond)
            pushed[1].append(cond)
        elif kind == "inner":
            post.append(cond)
        else:
            residual.append(cond)
    for cond in where_conds:
        sides = {side_of[s] for s in _sides_of(cond, scope)}
        pair = equi(cond) if kind == "inner" else None
        if pair is not None:
            key_pairs.append(pair)
        elif sides == {0} or (kind == "inner" and sides == {1}):
            pushed[sides.pop()].append(cond)
        elif not sides and kind == "inner":
            pushed[0].append(cond)
            pushed[1].append(cond)
        else:
            post.append(cond)
    if not key_pairs:
        raise NotSupported(
            f"join of {left.info.qualified} and {right.info.qualified} (sharded differently) "
            "without an equality between their columns"
        )
    sem = ctx.sem
    for a, b in key_pairs:
        aff_a, aff_b = column_affinity(a, scope, sem), column_affinity(b, scope, sem)
        if aff_a != aff_b:
            raise NotSupported(
                f"cross-shard join on columns of different types ({a.sql()} {aff_a}, {b.sql()} {aff_b})"
            )
        if (column_collation(a, scope) or "") != (column_collation(b, scope) or ""):
            raise NotSupported(f"cross-shard join on columns with different collations ({a.sql()}, {b.sql()})")
    items = expand_items(tree, scope, ctx)
    names = tuple(it.name for it in items)
    having = tree.args.get("having")
    having_expr = substitute_aliases(having.this, items, scope) if having is not None else None
    order = tree.args.get("order")
    group = tree.args.get("group")
    # Columns each side must return.
    used: list[list[str]] = [[], []]
    needed_nodes: list[exp.Expr] = [it.expr for it in items] + post + residual
    if having_expr is not None:
        needed_nodes.append(having_expr)
    if order is not None:
        needed_nodes.extend(o.this for o in order.expressions)
    if group is not None:
        needed_nodes.extend(group.expressions)
    needed_nodes.extend(c for pair in key_pairs for c in pair)
    for n in needed_nodes:
        for col in ([n] if isinstance(n, exp.Column) else []) + list(n.find_all(exp.Column)):
            found = scope.column_ref(col)
            if found is None:
                continue
            s = side_of[found[0].index]
            if col.name.lower() not in [u.lower() for u in used[s]]:
                used[s].append(col.name)
    reads: list[MergeSortNode] = []
    key_positions: list[list[int]] = [[], []]
    positions: dict[str, tuple[int, str | None, str | None]] = {}
    offset = 0
    widths: list[int] = []
    for s, ref in enumerate((left, right)):
        cols = [exp.column(c, table=ref.alias) for c in used[s]]
        names_lower = [c.lower() for c in used[s]]
        tie = _tiebreak([ref], ctx)
        tie_exprs: list[exp.Expr] = []
        if tie is not None:
            for t in tie:
                if isinstance(t, exp.Column) and t.name.lower() in names_lower:
                    tie_exprs.append(t)
                else:
                    cols.append(t)
                    tie_exprs.append(t)
        for i, c in enumerate(used[s]):
            info_col = ref.info.column(c)
            positions[f"{ref.alias.lower()}.{c.lower()}"] = (
                offset + i,
                sem.affinity(info_col.type) if info_col else None,
                (info_col.collation.lower() if info_col and info_col.collation else None),
            )
        key_cols = [pair[s] for pair in key_pairs]
        kpos = [names_lower.index(k.name.lower()) for k in key_cols]
        key_positions[s] = kpos
        order_spec = [(p, False, True) for p in kpos]
        tie_pos = []
        for t in tie_exprs:
            tp = next(i for i, c in enumerate(cols) if canon(c, ctx) == canon(t, ctx))
            tie_pos.append(tp)
            order_spec.append((tp, False, True))
        where = and_all(pushed[s])
        shard_sel = exp.Select(expressions=[c.copy() for c in cols])
        shard_sel.set("from_", exp.From(this=ref.node.copy()))
        if where is not None:
            shard_sel.set("where", exp.Where(this=where))
        shard_sel.set(
            "order",
            exp.Order(expressions=[exp.Ordered(this=exp.Literal.number(p + 1), desc=d, nulls_first=nf) for p, d, nf in order_spec]),
        )
        route_refs = [ref]
        side_scope_route = build_route(where, _key_lookup(scope, route_refs), slot_of) if where is not None else ALL
        keys = None
        notes: list[str] = []
        if tie is not None:
            keys = [(cols[p], p, d, nf) for p, d, nf in order_spec]
        else:
            notes.append("no unique tiebreaker: side read unchunked (capped)")
        hole_list = list(holes)
        read = _read(
            ctx, shard_sel, hole_list, side_scope_route, (ref.info,), ref.index, len(cols), keys, None, notes
        )
        sort = tuple(SortItem(p, False, True, column_collation(cols[p], scope)) for p in kpos)
        reads.append(MergeSortNode(read, sort))
        widths.append(len(cols))
        offset += len(cols)
    join_resolver = _JoinResolver(positions, ctx)
    compiler = Compiler(join_resolver, sem)
    residual_fn = None
    if residual:
        cond = and_all(residual)
        assert cond is not None
        residual_fn = compiler.predicate(cond)
    node: Any = SortMergeJoinNode(
        reads[0],
        reads[1],
        tuple(key_positions[0]),
        tuple(key_positions[1]),
        kind,
        widths[1],
        tuple(column_collation(p[0], scope) for p in key_pairs),
        tuple(column_collation(p[1], scope) for p in key_pairs),
        residual_fn,
        " AND ".join(f"{a.sql()} = {b.sql()}" for a, b in key_pairs),
    )
    if post:
        cond = and_all(post)
        assert cond is not None
        node = FilterNode(node, compiler.predicate(cond), cond.sql(dialect="mysql"))
    node = _plan_local(node, tree, scope, ctx, items, compiler, having_expr)
    route_tables = (left.info, right.info)
    return SelectPlan(None, node, None, ALL, route_tables, names, sem.name, join=True)


def _plan_local(
    node: Any,
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    compiler: Compiler,
    having_expr: exp.Expr | None,
) -> Any:
    """Everything above a cross-shard join, evaluated in the coordinator."""
    order = tree.args.get("order")
    distinct = tree.args.get("distinct") is not None
    limit = _limit_ref(tree, ctx)
    aggregate = bool(tree.args.get("group")) or having_expr is not None or any(
        contains_aggregate(it.expr) for it in items
    ) or (order is not None and any(contains_aggregate(o) for o in order.expressions))
    order_terms: list[tuple[exp.Expr, bool, bool, int | None]] = []
    for o in order.expressions if order is not None else []:
        desc = bool(o.args.get("desc"))
        idx = resolve_item_ref(o.this, items, ctx, scope, alias_first=True)
        expr = items[idx].expr if idx is not None else o.this
        order_terms.append((expr, desc, _nulls_first(o, desc), idx))
    if aggregate:
        groups = _group_exprs(tree, items, scope, ctx)
        sources = [it.expr for it in items] + [t[0] for t in order_terms]
        if having_expr is not None:
            sources.append(having_expr)
        aggs = _collect_aggregates(sources, ctx)
        group_fns = tuple(compiler.compile(g).fn for g in groups)
        specs = []
        for a in aggs:
            arg_fn = compiler.compile(a.arg).fn if a.arg is not None else None
            coll = column_collation(a.arg, scope) if a.arg is not None else None
            specs.append(AggSpec(a.func, a.distinct, (), arg_fn, coll))
        node = AggregateNode(
            node,
            group_fns=group_fns,
            group_collations=tuple(column_collation(g, scope) for g in groups),
            specs=tuple(specs),
            ordered=False,
            mode="raw",
        )
        residual = conjuncts(having_expr)
        return _finish_aggregate(
            node, tree, scope, ctx, items, groups, aggs, residual, order_terms, bool(order_terms), limit
        )
    compiled = [compiler.compile(it.expr) for it in items]
    visible = len(items)
    hidden = []
    sort: list[SortItem] = []
    for expr, desc, nf, idx in order_terms:
        if idx is None:
            if distinct:
                raise NotSupported("ORDER BY an expression not in the SELECT DISTINCT list")
            c = compiler.compile(expr)
            hidden.append(c)
            idx = visible + len(hidden) - 1
            coll = c.collation
        else:
            coll = compiled[idx].collation
        sort.append(SortItem(idx, desc, nf, coll))
    node = ProjectNode(node, exprs=tuple(c.fn for c in compiled + hidden), text="select list")
    if distinct:
        node = DistinctNode(node, tuple(c.collation for c in compiled))
    if sort:
        node = SortNode(node, tuple(sort), limit)
    if limit is not None:
        node = LimitNode(node, limit)
    if hidden:
        node = ProjectNode(node, columns=tuple(range(visible)), text="drop hidden columns")
    return node


def merge_route(parts: Sequence[Route]) -> Route:
    real = [p for p in parts if p is not ALL]
    if not real:
        return ALL
    return real[0] if len(real) == 1 else AndRoute(tuple(real))


def tables_needed(tree: exp.Expr, database: str | None) -> list[tuple[str, str]]:
    return referenced_tables(tree, database)
