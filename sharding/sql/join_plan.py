"""Two sharded tables that are not co-located, joined on an equality: SortMergeJoin.

Each side is read from all its shards (or those its own WHERE conjuncts route to)
``ORDER BY join key, tiebreaker`` in keyset chunks and k-way merged, so both arrive in
key order; :class:`~sharding.merge.sort_merge_join.SortMergeJoin` pairs them. The
conditions are split:

* equalities between a column of each side → the join keys;
* conditions on one side only → pushed into that side's shard statement (for LEFT
  JOIN: WHERE on the left side, ON on the right side; an ON condition on the left side
  of a LEFT JOIN must keep unmatched rows, so it stays a residual);
* the rest → a residual of the join (LEFT JOIN ON) or a Filter above it.

Everything above the join (select list, aggregates, HAVING, DISTINCT, ORDER BY, LIMIT)
is evaluated in the coordinator over the joined rows, whose columns are the left side's
columns then the right side's.

**Outer joins whose preserved side has no sharded table** (``broadcast LEFT JOIN
sharded``, ``sharded RIGHT JOIN broadcast``, also with a derived table or in a chain)
cannot run per shard: each shard NULL-extends the preserved rows it has no match for, so
every shard emits them (issue 11: 72 rows instead of 41). :func:`outer_join_hazard`
finds them (a WHERE condition that rejects NULLs of the NULL-extended side makes the
join an inner one, as MySQL's optimizer does, so those are safe). A two-table one
joined on an equality is planned here as a SortMergeJoin with the broadcast table as
the preserved side, read once; any other form is refused (1235).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported
from sharding.merge.evaluate import Compiler, Ref
from sharding.merge.semantics import SortItem
from sharding.merge.sort_merge_join import TemporalKind, compared_temporal
from sharding.sql.aggregate_plan import plan_raw
from sharding.sql.clauses import (
    Item,
    expand_items,
    having_condition,
    is_aggregate_query,
    limit_ref,
    order_terms,
)
from sharding.sql.context import PlanContext, canon
from sharding.sql.enums import enum_labels
from sharding.sql.exprs import (
    and_all,
    column_affinity,
    column_collation,
    conjuncts,
    contains_window,
    temporal_declared,
    unsigned_declared,
)
from sharding.sql.finish import finish_select
from sharding.sql.nodes import (
    FilterNode,
    MergeSortNode,
    PlanNode,
    ProjectNode,
    RowFn,
    SelectPlan,
    SortMergeJoinNode,
)
from sharding.sql.reads import (
    KeysetKey,
    ShardOrder,
    key_lookup,
    order_by_positions,
    shard_read,
    tiebreak,
)
from sharding.sql.rewrite import slot_of
from sharding.sql.route import ALL, build_route
from sharding.sql.scope import Scope, TableRef, join_kind, top_level_nodes, unparen
from sharding.sql.source_stage import UNBOUNDED, SourceStage

#: Where a column of one side lives in the joined row: (index in the joined row,
#: affinity, collation, ENUM labels, fractional digits of a DATE/DATETIME/TIME or
#: None, whether it is an UNSIGNED integer).
Position = tuple[int, str | None, str | None, tuple[str, ...] | None, int | None, bool]
KeyPair = tuple[exp.Column, exp.Column]
#: The input of a side that is not a catalog table read (a derived table, issue 18.3:
#: :func:`sharding.sql.derived_plan.plan_derived_join`), built from (its used column
#: names, its key columns, the conditions pushed to it, ``positions`` to fill, its
#: offset in the joined row) → (its rows in key order, the key positions, its width).
SideInput = Callable[
    [list[str], list[exp.Column], list[exp.Expr], dict[str, "Position"], int],
    tuple[PlanNode, tuple[int, ...], int],
]


class _JoinResolver:
    """Columns of the joined row: left side's columns, then right side's."""

    def __init__(self, positions: dict[str, Position]) -> None:
        self.positions = positions

    def lookup(self, node: exp.Expr) -> Ref | None:
        if isinstance(node, exp.Column) and node.table:
            hit = self.positions.get(f"{node.table.lower()}.{node.name.lower()}")
            if hit is not None:
                return Ref(hit[0], hit[1], hit[2], hit[3], hit[4], hit[5])
        return None

    def missing(self, node: exp.Expr) -> Exception:
        return NotSupported(
            f"column {node.sql(dialect='mysql')} is not available above a cross-shard join"
        )

    def slot(self, node: exp.Placeholder) -> int:
        return slot_of(node)


def _sides_of(node: exp.Expr, scope: Scope) -> set[int]:
    """Table indexes whose columns ``node`` uses (correlated subqueries refused)."""
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


class _Conditions:
    """The ON and WHERE conjuncts of the join, split (see module docstring)."""

    def __init__(
        self, tree: exp.Select, scope: Scope, left: TableRef, right: TableRef, kind: str
    ) -> None:
        self.keys: list[KeyPair] = []
        self.pushed: list[list[exp.Expr]] = [[], []]
        self.residual: list[exp.Expr] = []
        self.post: list[exp.Expr] = []
        self._scope, self._left = scope, left
        side_of = {left.index: 0, right.index: 1}
        join = (tree.args.get("joins") or [None])[0]
        on_conds = conjuncts(join.args.get("on")) if join is not None else []
        inner = kind == "inner"
        for cond in on_conds:
            sides = {side_of[s] for s in _sides_of(cond, scope)}
            pair = self._equi(cond)
            if pair is not None:
                self.keys.append(pair)
            elif sides == {1} or (inner and sides == {0}):
                self.pushed[sides.pop()].append(cond)
            elif inner and not sides:
                self.pushed[0].append(cond)
                self.pushed[1].append(cond)
            elif inner:
                self.post.append(cond)
            else:
                self.residual.append(cond)
        for cond in conjuncts(tree.args.get("where")):
            sides = {side_of[s] for s in _sides_of(cond, scope)}
            pair = self._equi(cond) if inner else None
            if pair is not None:
                self.keys.append(pair)
            elif sides == {0} or (inner and sides == {1}):
                self.pushed[sides.pop()].append(cond)
            elif not sides and inner:
                self.pushed[0].append(cond)
                self.pushed[1].append(cond)
            else:
                self.post.append(cond)

    def _equi(self, cond: exp.Expr) -> KeyPair | None:
        """``a.x = b.y`` with one column of each side, as (left column, right column)."""
        if (
            isinstance(cond, exp.EQ)
            and isinstance(cond.this, exp.Column)
            and isinstance(cond.expression, exp.Column)
        ):
            a, b = self._scope.column_ref(cond.this), self._scope.column_ref(cond.expression)
            if a is not None and b is not None and a[0] is not b[0]:
                return (
                    (cond.this, cond.expression)
                    if a[0] is self._left
                    else (cond.expression, cond.this)
                )
        return None


_TEMPORAL_DECL = re.compile(
    r"\s*(datetime|timestamp|date|time|year)\b\s*(?:\(\s*(\d+)\s*\))?", re.IGNORECASE
)

#: How a join key is compared: None as read, else the temporal kind whose compared form
#: (:func:`sharding.merge.sort_merge_join.compared_temporal`) is joined on.
KeyForm = TemporalKind | None


def _temporal(col: exp.Column, scope: Scope) -> tuple[str, int] | None:
    """(kind, fraction digits) of a DATE/DATETIME/TIMESTAMP/TIME/YEAR column (a
    TIMESTAMP is of kind ``datetime``); None for any other or an unknown type."""
    found = scope.column_ref(col)
    declared = (found[1].type or "") if found is not None and found[1] is not None else ""
    m = _TEMPORAL_DECL.match(declared)
    if m is None:
        return None
    kind = m.group(1).lower()
    return ("datetime" if kind == "timestamp" else kind), int(m.group(2) or 0)


def _declared(col: exp.Column, scope: Scope) -> str:
    found = scope.column_ref(col)
    declared = (found[1].type or "") if found is not None and found[1] is not None else ""
    return declared.split()[0].upper() if declared.strip() else "of an unknown type"


def _check_keys(
    keys: list[KeyPair], scope: Scope, ctx: PlanContext
) -> list[tuple[KeyForm, KeyForm]]:
    """Both sides must compare keys alike: same type affinity and collation. Returns,
    per key, each side's :data:`KeyForm`.

    Temporal keys: MySQL compares a DATE with a DATETIME/TIMESTAMP as the DATE at
    00:00:00, and fractions of different digits as numbers; both sides are then joined
    on their compared form (a DATE on the SQLite store is 'YYYY-MM-DD' text, which the
    other side's text would never equal). A temporal key with a key of another kind
    (a string, a number, TIME with a date, YEAR with a date) is compared by MySQL after
    a conversion of one side whose order differs from the shards' order: 1235."""
    sem = ctx.sem
    forms: list[tuple[KeyForm, KeyForm]] = []
    for a, b in keys:
        ta, tb = _temporal(a, scope), _temporal(b, scope)
        form: tuple[KeyForm, KeyForm] = (None, None)
        if ta is not None or tb is not None:
            kinds = {ta[0] if ta else None, tb[0] if tb else None}
            if ta is None or tb is None or (len(kinds) > 1 and kinds != {"date", "datetime"}):
                raise NotSupported(
                    f"cross-shard join on columns of different types ({a.sql()} "
                    f"{_declared(a, scope)}, {b.sql()} {_declared(b, scope)}; of temporal "
                    "keys only DATE with DATETIME/TIMESTAMP)"
                )
            if ta != tb:
                # A DATE with a DATETIME, or fraction digits that differ (never YEAR).
                form = (_kind(ta[0]), _kind(tb[0]))
        elif (aff_a := column_affinity(a, scope, sem)) != (aff_b := column_affinity(b, scope, sem)):
            raise NotSupported(
                f"cross-shard join on columns of different types ({a.sql()} {aff_a}, {b.sql()} {aff_b})"
            )
        if (column_collation(a, scope) or "") != (column_collation(b, scope) or ""):
            raise NotSupported(
                f"cross-shard join on columns with different collations ({a.sql()}, {b.sql()})"
            )
        forms.append(form)
    return forms


def _kind(kind: str) -> TemporalKind:
    assert kind in ("date", "datetime", "time")
    return cast(TemporalKind, kind)


def _compared_keys(
    side: PlanNode, kpos: tuple[int, ...], width: int, forms: list[KeyForm]
) -> tuple[PlanNode, tuple[int, ...], int]:
    """``side`` with the compared form of each key that needs one appended to its rows
    (the key positions then name the appended columns; the joined row keeps every
    original column where :data:`Position` says, so nothing above the join sees them).
    Unchanged when no key needs one."""
    if not any(forms):
        return side, kpos, width

    def column(i: int) -> RowFn:
        return lambda row, params: row[i]

    def compared(i: int, kind: TemporalKind) -> RowFn:
        form = compared_temporal(kind)
        return lambda row, params: form(row[i])

    exprs = [column(i) for i in range(width)]
    out: list[int] = []
    for p, kind in zip(kpos, forms, strict=True):
        if kind is None:
            out.append(p)
        else:
            out.append(len(exprs))
            exprs.append(compared(p, kind))
    node = ProjectNode(side, exprs=tuple(exprs), text="temporal join keys as MySQL compares them")
    return node, tuple(out), len(exprs)


def _check_sortable_keys(keys: list[KeyPair], scope: Scope) -> None:
    """A side sorted by the coordinator must meet the other side's shard order: an
    ENUM/SET key sorts by its index on the shards, so it is refused there."""
    for pair in keys:
        for col in pair:
            found = scope.column_ref(col)
            declared = (found[1].type or "") if found is not None and found[1] else ""
            if declared.strip().lower().startswith(("enum", "set")):
                raise NotSupported(
                    f"a join with a derived table on the ENUM/SET column {col.sql()} "
                    "(CAST it to CHAR in the derived table)"
                )


def _columns_used(nodes: list[exp.Expr], scope: Scope, side_of: dict[int, int]) -> list[list[str]]:
    """Per side, the column names the statement uses, in first-use order."""
    used: list[list[str]] = [[], []]
    for n in nodes:
        for col in ([n] if isinstance(n, exp.Column) else []) + list(n.find_all(exp.Column)):
            found = scope.column_ref(col)
            if found is None:
                continue
            s = side_of[found[0].index]
            if col.name.lower() not in [u.lower() for u in used[s]]:
                used[s].append(col.name)
    return used


_NULL_REJECTING = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.In,
    exp.Between,
    exp.Like,
    exp.RegexpLike,
)


def _null_rejected(tree: exp.Select, scope: Scope) -> set[str]:
    """Aliases (lower case) of tables a WHERE conjunct rejects NULL rows of: a
    comparison with a column of the table as a direct operand is never true when the
    column is NULL (so neither when the row is NULL-extended)."""
    out: set[str] = set()
    for cond in conjuncts(tree.args.get("where")):
        cond = unparen(cond)
        operands: list[exp.Expr] = []
        if isinstance(cond, exp.Not) and isinstance(unparen(cond.this), exp.Is):
            is_ = unparen(cond.this)
            if isinstance(is_.expression, exp.Null):
                operands = [is_.this]
        elif isinstance(cond, _NULL_REJECTING) and not (
            isinstance(cond, exp.In) and cond.args.get("query")
        ):
            operands = [v for v in cond.args.values() if isinstance(v, exp.Expr)]
        for op in operands:
            op = unparen(op)
            if isinstance(op, exp.Column) and op.table:
                out.add(op.table.lower())
            elif isinstance(op, exp.Column):
                found = scope.resolve(op)
                if found is not None:
                    out.add(found[0].alias.lower())
    return out


def _sharded_aliases(node: exp.Expr, scope: Scope) -> set[str]:
    """Aliases of the sharded tables a FROM source is. A derived table or nested join
    holds broadcast tables only (the planner refuses a sharded table inside one)."""
    if not isinstance(node, exp.Table):
        return set()
    ref = scope.ref_of_alias(node.alias_or_name)
    if ref is not None and ref.node is node and not ref.info.broadcast:
        return {ref.alias.lower()}
    return set()


def outer_join_hazard(tree: exp.Select, scope: Scope) -> str | None:
    """Why the statement's outer joins cannot run shard by shard (module docstring),
    or None when they can."""
    from_ = tree.args.get("from_") or tree.args.get("from")
    if from_ is None:
        return None
    sources = [from_.this] + [j.this for j in tree.args.get("joins") or []]
    kinds = [""] + [join_kind(j) for j in tree.args.get("joins") or []]
    sharded = [_sharded_aliases(src, scope) for src in sources]
    rejected = _null_rejected(tree, scope)
    for i, kind in enumerate(kinds):
        if kind not in ("left", "right", "full"):
            continue
        if kind == "left":
            kept, extended = sharded[:i], sharded[i : i + 1]
        else:
            kept, extended = sharded[i : i + 1], sharded[:i]
            if kind == "full":
                kept = extended = sharded[: i + 1]
        if any(kept):
            continue
        null_side = set().union(*extended)
        if null_side and not (null_side & rejected):
            return (
                f"{kind.upper()} JOIN that NULL-extends a sharded table for rows of a "
                "broadcast table or derived table (every shard would emit them)"
            )
    return None


def broadcast_outer_sides(scope: Scope) -> tuple[TableRef, TableRef] | None:
    """(preserved broadcast table, sharded table) of a two-table outer join that
    :func:`plan_join` can run with the broadcast table as its preserved side."""
    if len(scope.refs) != 2 or scope.derived:
        return None
    first, second = scope.refs
    if second.join_kind == "left" and first.info.broadcast and not second.info.broadcast:
        return first, second
    if second.join_kind == "right" and second.info.broadcast and not first.info.broadcast:
        return second, first
    return None


def plan_join(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    holes: list[TableInfo],
    sides: tuple[TableRef, TableRef] | None = None,
    inputs: Mapping[int, SideInput] | None = None,
) -> SelectPlan:
    """``sides``: (preserved, NULL-extended) of a LEFT/RIGHT join to run as a LEFT
    join in that order; default: the FROM order and the written join kind.
    ``inputs``: by table index, the builder of a side that is not read from the
    shards as a table (a derived table's rows, :data:`SideInput`)."""
    if sides is not None:
        left, right = sides
        kind = "left"
    else:
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
    conds = _Conditions(tree, scope, left, right, kind)
    if not conds.keys and inputs:
        raise NotSupported(
            "a join with a derived table over several shards without an equality between "
            "a column of each side"
        )
    if not conds.keys:
        raise NotSupported(
            f"join of {left.info.qualified} and {right.info.qualified} (sharded differently) "
            "without an equality between their columns"
        )
    forms = _check_keys(conds.keys, scope, ctx)
    if inputs:
        _check_sortable_keys(conds.keys, scope)
    items = expand_items(tree, scope, ctx)
    having = having_condition(tree, items, scope, ctx)
    order = tree.args.get("order")
    group = tree.args.get("group")
    needed: list[exp.Expr] = [it.expr for it in items] + conds.post + conds.residual
    if having is not None:
        needed.append(having)
    if order is not None:
        needed.extend(o.this for o in order.expressions)
    if group is not None:
        needed.extend(group.expressions)
    needed.extend(c for pair in conds.keys for c in pair)
    used = _columns_used(needed, scope, {left.index: 0, right.index: 1})
    positions: dict[str, Position] = {}
    reads: list[PlanNode] = []
    key_positions: list[tuple[int, ...]] = []
    widths: list[int] = []
    for s, ref in enumerate((left, right)):
        build = (inputs or {}).get(ref.index)
        if build is not None:
            side, kpos, width = build(
                used[s], [pair[s] for pair in conds.keys], conds.pushed[s], positions, sum(widths)
            )
            side, kpos, width = _compared_keys(side, kpos, width, [f[s] for f in forms])
            reads.append(side)
            key_positions.append(kpos)
            widths.append(width)
            continue
        table_read, kpos, width = _side_read(
            ctx,
            scope,
            ref,
            used[s],
            [pair[s] for pair in conds.keys],
            conds.pushed[s],
            holes,
            positions,
            sum(widths),
        )
        read, kpos, width = _compared_keys(table_read, kpos, width, [f[s] for f in forms])
        reads.append(read)
        key_positions.append(kpos)
        widths.append(width)
    compiler = Compiler(_JoinResolver(positions), ctx.sem)
    residual_fn = None
    if conds.residual:
        cond = and_all(conds.residual)
        assert cond is not None
        residual_fn = compiler.predicate(cond)
    node: Any = SortMergeJoinNode(
        reads[0],
        reads[1],
        key_positions[0],
        key_positions[1],
        kind,
        widths[1],
        tuple(column_collation(p[0], scope) for p in conds.keys),
        tuple(column_collation(p[1], scope) for p in conds.keys),
        residual_fn,
        " AND ".join(f"{a.sql()} = {b.sql()}" for a, b in conds.keys),
    )
    if conds.post:
        cond = and_all(conds.post)
        assert cond is not None
        node = FilterNode(node, compiler.predicate(cond), cond.sql(dialect="mysql"))
    node = _plan_above(node, tree, scope, ctx, items, compiler, having)
    names = tuple(it.name for it in items)
    return SelectPlan(None, node, None, names, join=True)


def _side_read(
    ctx: PlanContext,
    scope: Scope,
    ref: TableRef,
    used: list[str],
    key_cols: list[exp.Column],
    pushed: list[exp.Expr],
    holes: list[TableInfo],
    positions: dict[str, Position],
    offset: int,
) -> tuple[MergeSortNode, tuple[int, ...], int]:
    """One side: its sorted, chunked read; the key positions in its rows; its width.

    Records where each used column lands in the joined row (``positions``; this side's
    columns start at ``offset``)."""
    sem = ctx.sem
    cols: list[exp.Expr] = [exp.column(c, table=ref.alias) for c in used]
    names_lower = [c.lower() for c in used]
    unique = tiebreak([ref], ctx)
    tie_exprs: list[exp.Expr] = []
    for t in unique or []:
        if not (isinstance(t, exp.Column) and t.name.lower() in names_lower):
            cols.append(t)
        tie_exprs.append(t)
    for i, c in enumerate(used):
        info_col = ref.info.column(c)
        positions[f"{ref.alias.lower()}.{c.lower()}"] = (
            offset + i,
            sem.affinity(info_col.type) if info_col else None,
            (info_col.collation.lower() if info_col and info_col.collation else None),
            # An ENUM sorts by its index above the join too (MySQL's ORDER BY of ENUMs).
            enum_labels(info_col.type) if info_col else None,
            temporal_declared(info_col.type) if info_col else None,
            unsigned_declared(info_col.type) if info_col else False,
        )
    kpos = [names_lower.index(k.name.lower()) for k in key_cols]
    order: list[ShardOrder] = [(p, False, True) for p in kpos]
    for t in tie_exprs:
        order.append(
            (next(i for i, c in enumerate(cols) if canon(c, ctx) == canon(t, ctx)), False, True)
        )
    where = and_all(pushed)
    shard_sel = exp.Select(expressions=[c.copy() for c in cols])
    shard_sel.set("from_", exp.From(this=ref.node.copy()))
    if where is not None:
        shard_sel.set("where", exp.Where(this=where))
    shard_sel.set("order", order_by_positions(order))
    route = build_route(where, key_lookup(scope, [ref]), slot_of) if where is not None else ALL
    keys: list[KeysetKey] | None = None
    notes: list[str] = []
    if unique is not None:
        keys = [(cols[p], p, d, nf) for p, d, nf in order]
    else:
        notes.append("no unique tiebreaker: side read unchunked (capped)")
    read = shard_read(ctx, shard_sel, holes, route, (ref.info,), ref.index, keys, None, notes)
    sort = tuple(SortItem(p, False, True, column_collation(cols[p], scope)) for p in kpos)
    # Issue 17: a join input is read whole, so a data-source stage would re-read every
    # shard's chunk per continuation (module docstring of sharding.sql.source_stage).
    source: SourceStage | str | None = None
    if ctx.dialect == "mysql":
        source = UNBOUNDED
    return MergeSortNode(read, sort, source), tuple(kpos), len(cols)


def _plan_above(
    node: Any,
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    compiler: Compiler,
    having: exp.Expr | None,
) -> Any:
    """Everything above a cross-shard join, evaluated in the coordinator."""
    if is_aggregate_query(tree, items):
        return plan_raw(node, tree, scope, ctx, items, compiler, having)
    terms = order_terms(tree, items, ctx, scope)
    return finish_select(
        node, tree, items, terms, compiler, compiler, sort=bool(terms), limit=limit_ref(tree)
    )
