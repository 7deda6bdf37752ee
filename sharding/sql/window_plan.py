"""Window functions over several shards (issue 18.5): which statements, and how chunked.

**Shard-local partitions.** When every window of a statement has a ``PARTITION BY``
that includes the shard key of one of the statement's sharded tables (a bare column of
a table on the inner side of the joins: co-located tables joined on their keys all
qualify), every partition lives on exactly one shard — the router places rows by the
key's collation-aware canonical value (:func:`sharding.sql.route.canonical_key`), and
``PARTITION BY`` groups by that same collation — so each shard computes its windows
over complete partitions and the coordinator only merges rows, as for any scatter
(``MergeSort``/``Concat`` → ``Limit`` → ``Project``).

*LIMIT.* MySQL computes windows before ORDER BY/LIMIT, and so does each shard: its
pushed-down ``LIMIT off+n`` cuts rows whose window values are already final (the
partitions are shard-local), so pushing it down is exact.

*Chunking.* A keyset continuation cannot narrow the windowed query's WHERE: the shard
would re-run its windows over the narrowed input (``ROW_NUMBER`` restarting at 1,
running sums missing rows). The windowed query is therefore the derived table of the
chunked read::

    SELECT * FROM (SELECT <items> AS sgw_0, ... FROM ... WHERE ... WINDOW ...) AS sgw
    WHERE <keyset on sgw.sgw_k> ORDER BY ... LIMIT <chunk>

so every chunk sees window values computed over the whole shard input. The price is
on the shard: each chunk re-computes the windows of the shard's rows (the derived
table is materialised per statement), i.e. work O(rows × chunks) per shard, with the
coordinator's memory still one chunk per shard. Reading unchunked under
``cluster.unchunked_limit`` would compute once but make any shard with more rows an
error; exactness and bounded memory win, and EXPLAIN says which form a read uses.

**Computed by the coordinator** (a partition not on the shard key, or none): the shards
select the plain columns the statement needs (items, function arguments, partition and
order keys, ENUMs as their index) sorted by one order that serves every window — some
window's PARTITION BY then its ORDER BY, every other window's partition a (set) prefix
of it and its ORDER BY the keys right after (:func:`_common_order`) — chunked by the
ordinary keyset (the shards compute nothing order-dependent, so narrowing their WHERE
is exact). ``MergeSort`` → ``Window`` (:mod:`sharding.merge.window`: streamed, or one
partition held under ``cluster.union_rows``) → the statement's ORDER BY (a TopN/Sort
when it is not the merged order) → ``Limit`` → ``Project``. LIMIT is never pushed to
the shards here: a partition's later rows decide its earlier rows' values.

**Refused** (1235 naming the form): windows with GROUP BY/HAVING/aggregates/DISTINCT
or a locking clause, a window inside an expression or only in ORDER BY, windows that
cannot share one sort, RANGE frames with offsets, LAG/LEAD defaults (MariaDB has no
such argument), DISTINCT aggregates with OVER, functions not listed in
:mod:`sharding.merge.window`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported
from sharding.merge.aggregates import AggFunc
from sharding.merge.semantics import SortItem
from sharding.merge.window import DEFAULT_FRAME, Frame, WindowFunc
from sharding.sql.clauses import Item, limit_ref, order_terms
from sharding.sql.context import PlanContext, canon
from sharding.sql.enums import column_enum, enum_index
from sharding.sql.exprs import ancestors, column_collation, contains_window, is_aggregate
from sharding.sql.nodes import (
    ConcatNode,
    LimitNode,
    MergeSortNode,
    ProjectNode,
    SortNode,
    WindowNode,
)
from sharding.sql.reads import (
    KeysetKey,
    ShardOrder,
    select_for_shard,
    shard_key_ref,
    shard_read,
    tiebreak,
)
from sharding.sql.rewrite import SLOT, slot_of
from sharding.sql.route import Route
from sharding.sql.scope import Scope, top_level_nodes

#: The derived table's alias and its column name prefix in a chunked windowed read.
DERIVED = "sgw"

NOTE = (
    "window functions computed by each shard: every PARTITION BY has the shard key, so "
    "each partition is on one shard"
)
CHUNK_NOTE = (
    "chunks read the windowed statement as a derived table (windows over the whole "
    "shard input, recomputed per chunk by the shard)"
)


def windows_of(tree: exp.Select) -> list[exp.Window]:
    """The window function calls of ``tree``'s own query block (not the WINDOW clause's
    definitions, not nested query blocks)."""
    definitions = {id(w) for w in tree.args.get("windows") or []}
    out: list[exp.Window] = []
    for node in top_level_nodes(tree):
        if (
            isinstance(node, exp.Window)
            and id(node) not in definitions
            and not any(id(a) in definitions for a in ancestors(node, tree))
        ):
            out.append(node)
    return out


def partition_of(window: exp.Window, tree: exp.Select) -> list[exp.Expr]:
    """The PARTITION BY expressions of ``window``, following named window references
    (``OVER w``, ``OVER (w ORDER BY ...)``, ``WINDOW w2 AS (w1 ...)``)."""
    return effective(window, tree).partition


def shard_local(tree: exp.Select, scope: Scope) -> bool:
    """True when every window of ``tree`` is computed exactly by the shards, False when
    the coordinator must compute them; NotSupported for forms with neither plan."""
    if tree.args.get("group") or tree.args.get("having") is not None:
        raise NotSupported("window functions with GROUP BY/HAVING over several shards")
    if tree.args.get("distinct") is not None:
        raise NotSupported("window functions with SELECT DISTINCT over several shards")
    if tree.args.get("locks"):
        raise NotSupported(
            "SELECT ... FOR UPDATE / LOCK IN SHARE MODE with window functions over several shards"
        )
    for node in top_level_nodes(tree):
        if is_aggregate(node) and not isinstance(node.parent, exp.Window):
            raise NotSupported("window functions with aggregates over several shards")
    return all(
        any(_is_local_key(p, scope) for p in partition_of(window, tree))
        for window in windows_of(tree)
    )


def _is_local_key(expr: exp.Expr, scope: Scope) -> bool:
    ref = shard_key_ref(scope, expr)
    return ref is not None and not ref.outer


def wrap_for_chunks(
    tree: exp.Select, shard_sel: exp.Select, keys: Sequence[KeysetKey]
) -> tuple[exp.Select, list[KeysetKey]]:
    """``shard_sel`` (the windowed shard statement with its ORDER BY) as the derived
    table of a chunked read, and the keyset keys over the derived table's columns."""
    inner = shard_sel.copy()
    order = inner.args.get("order")
    inner.set("order", None)
    inner.set(
        "expressions",
        [
            exp.alias_(e.this if isinstance(e, exp.Alias) else e, f"{DERIVED}_{i}")
            for i, e in enumerate(inner.expressions)
        ],
    )
    windows = tree.args.get("windows")
    if windows:
        inner.set("windows", [w.copy() for w in windows])
    outer = exp.Select(expressions=[exp.Star()])
    outer.set(
        "from_",
        exp.From(
            this=exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(DERIVED)))
        ),
    )
    if order is not None:
        outer.set("order", order)
    wrapped: list[KeysetKey] = [
        (exp.column(f"{DERIVED}_{k[1]}", table=DERIVED), k[1], k[2], k[3]) for k in keys
    ]
    return outer, wrapped


def copy_windows(tree: exp.Select, shard_sel: exp.Select) -> None:
    """Give an unchunked windowed shard statement the statement's WINDOW clause."""
    windows = tree.args.get("windows")
    if windows:
        shard_sel.set("windows", [w.copy() for w in windows])


# --------------------------------------------------------------------------- coordinator
# The general case: the shards sort by (partition, order); the coordinator computes the
# functions over the merged stream (sharding.merge.window), one partition at a time.

_RANKING: dict[type[exp.Expr], str] = {
    exp.RowNumber: "row_number",
    exp.Rank: "rank",
    exp.DenseRank: "dense_rank",
    exp.PercentRank: "percent_rank",
    exp.CumeDist: "cume_dist",
}
_AGGREGATES: dict[type[exp.Expr], AggFunc] = {
    exp.Sum: "sum",
    exp.Avg: "avg",
    exp.Min: "min",
    exp.Max: "max",
}


@dataclass
class _Spec:
    """A window's effective definition after following named windows."""

    partition: list[exp.Expr]
    order: list[exp.Ordered]
    frame: exp.WindowSpec | None


def effective(window: exp.Window, tree: exp.Select) -> _Spec:
    named = {
        w.this.name.lower(): w
        for w in tree.args.get("windows") or []
        if isinstance(w.this, exp.Identifier)
    }
    partition: list[exp.Expr] = []
    order: list[exp.Ordered] = []
    frame: exp.WindowSpec | None = None
    seen: set[str] = set()
    current: exp.Window | None = window
    while current is not None:
        partition = partition or list(current.args.get("partition_by") or [])
        ordering = current.args.get("order")
        if not order and ordering is not None:
            order = list(ordering.expressions)
        frame = frame or current.args.get("spec")
        ref = current.args.get("alias")
        name = ref.name.lower() if isinstance(ref, exp.Identifier) else None
        if name is None or name in seen:
            break
        seen.add(name)
        current = named.get(name)
        if current is None:
            raise NotSupported(f"window {name} is not defined")
    return _Spec(partition, order, frame)


def _frame(spec: exp.WindowSpec | None, ctx: PlanContext) -> Frame:
    if spec is None:
        return DEFAULT_FRAME
    rows = str(spec.args.get("kind") or "").upper() == "ROWS"

    def bound(value: Any, side: Any, default: int | None) -> int | None:
        if value is None:
            return default
        text = value.upper() if isinstance(value, str) else None
        if text == "CURRENT ROW":
            return 0
        side_text = str(side or "").upper()
        if text == "UNBOUNDED":
            return None
        if not rows:
            raise NotSupported("RANGE frames with an offset over several shards")
        n = _constant_int(value, ctx, "a window frame offset")
        return -n if side_text == "PRECEDING" else n

    start = bound(spec.args.get("start"), spec.args.get("start_side"), None)
    end = bound(spec.args.get("end"), spec.args.get("end_side"), 0)
    if start is None and str(spec.args.get("start_side") or "").upper() == "FOLLOWING":
        raise NotSupported("a window frame starting at UNBOUNDED FOLLOWING")
    return Frame(rows=rows, start=start, end=end)


def _constant_int(node: Any, ctx: PlanContext, what: str) -> int:
    value: Any = None
    if isinstance(node, exp.Literal) and not node.is_string:
        value = node.this
    elif isinstance(node, exp.Placeholder) and node.meta.get(SLOT) is not None:
        value = ctx.structural(slot_of(node))
    try:
        n = int(str(value))
    except ValueError:
        raise NotSupported(f"{what} that is not an integer constant over several shards") from None
    if n < 0:
        raise NotSupported(f"a negative {what}")
    return n


def plan_coordinator(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    holes: list[TableInfo],
    route: Route,
    route_tables: tuple[TableInfo, ...],
    leader: int,
) -> Any:
    """MergeSort on (partition, order) → Window → Sort/Limit → Project (module docstring)."""
    exprs: list[exp.Expr] = []  # what the shards select
    keys_of: dict[str, int] = {}

    def column(e: exp.Expr) -> int:
        if contains_window(e):
            raise NotSupported("a window function inside another expression over several shards")
        key = canon(e, ctx)
        if key not in keys_of:
            exprs.append(e.copy())
            keys_of[key] = len(exprs) - 1
        return keys_of[key]

    windows = [(i, it.expr) for i, it in enumerate(items) if contains_window(it.expr)]
    for _, w in windows:
        if not isinstance(w, exp.Window):
            raise NotSupported(
                "a window function inside an expression over several shards (select it "
                "as an item of its own)"
            )
    specs = [effective(w, tree) for _, w in windows if isinstance(w, exp.Window)]
    merged = _common_order(specs, ctx)
    # Output positions of the select items: a shard column or an appended window value.
    placed: list[tuple[bool, int]] = []
    for it in items:
        if isinstance(it.expr, exp.Window):
            placed.append((True, len([p for p in placed if p[0]])))
        else:
            placed.append((False, column(it.expr)))
    # The merged order: the widest window's partition (ascending), then its ORDER BY.
    sort: list[SortItem] = []
    shard_order: list[ShardOrder] = []
    keys: list[KeysetKey] = []
    window_keys: list[int] = []
    window_colls: list[str | None] = []
    for e, desc, nulls_first in merged:
        if e.find(exp.Rand) is not None:
            raise NotSupported("a non-deterministic window key over several shards")
        idx = column(e)
        coll = column_collation(e, scope)
        if column_enum(e, scope) is not None:  # ENUMs sort by index
            idx = column(enum_index(e))
            coll = None
        sort.append(SortItem(idx, desc, nulls_first, coll))
        shard_order.append((idx, desc, nulls_first))
        keys.append((exprs[idx], idx, desc, nulls_first))
        window_keys.append(idx)
        window_colls.append(coll)
    funcs = tuple(
        _function(w, s, column, ctx, scope)
        for (_, w), s in zip(windows, specs, strict=True)
        if isinstance(w, exp.Window)
    )
    # The statement's ORDER BY over the windowed rows.
    outer: list[SortItem] = []
    terms = order_terms(tree, items, ctx, scope)
    for term in terms:
        if term.index is not None and placed[term.index][0]:
            j = placed[term.index][1]
            outer.append(SortItem(-1 - j, term.desc, term.nulls_first, funcs[j].collation))
            continue
        e = items[term.index].expr if term.index is not None else term.expr
        idx = column(e)
        coll = column_collation(e, scope)
        if column_enum(e, scope) is not None:
            idx = column(enum_index(e))
            coll = None
        outer.append(SortItem(idx, term.desc, term.nulls_first, coll))
    notes: list[str] = [
        "window functions computed by the coordinator over the rows merged in "
        "(PARTITION BY, ORDER BY) order"
    ]
    unique = tiebreak(scope.refs, ctx)
    if unique is None:
        notes.append(
            "no unique tiebreaker (no primary key): each shard read unchunked, capped at "
            f"{ctx.cluster.unchunked_limit} rows (more is an error)"
        )
    else:
        ordered = {canon(k[0], ctx) for k in keys}
        for t in unique:
            if canon(t, ctx) in ordered:
                continue
            idx = column(t)
            shard_order.append((idx, False, True))
            keys.append((exprs[idx], idx, False, True))
    width = len(exprs)
    # Appended window values sit after the shard columns.
    outer = [
        SortItem(width + (-1 - s.index), s.desc, s.nulls_first, s.collation) if s.index < 0 else s
        for s in outer
    ]
    shard_sel = select_for_shard(tree, exprs, order=shard_order)
    read = shard_read(
        ctx,
        shard_sel,
        holes,
        route,
        route_tables,
        leader,
        keys if unique is not None else None,
        None,
        notes,
    )
    node: Any = WindowNode(
        MergeSortNode(read, tuple(sort)) if sort else ConcatNode(read),
        width,
        tuple(window_keys),
        tuple(window_colls),
        funcs,
    )
    limit = limit_ref(tree)
    if outer and not _prefix(outer, sort):
        node = SortNode(node, tuple(outer), limit)
    if limit is not None:
        node = LimitNode(node, limit)
    columns = tuple(width + j if win else j for win, j in placed)
    return ProjectNode(node, columns=columns, text="the select list")


def _prefix(outer: list[SortItem], sort: list[SortItem]) -> bool:
    """True when the merged order already is the statement's ORDER BY."""
    return len(outer) <= len(sort) and all(
        (a.index, a.desc, a.nulls_first, a.collation)
        == (b.index, b.desc, b.nulls_first, b.collation)
        for a, b in zip(outer, sort, strict=False)
    )


def _ordered(o: exp.Ordered) -> tuple[exp.Expr, bool, bool]:
    desc = bool(o.args.get("desc"))
    nulls_first = o.args.get("nulls_first")
    return o.this, desc, bool(nulls_first) if nulls_first is not None else not desc


def _common_order(specs: list[_Spec], ctx: PlanContext) -> list[tuple[exp.Expr, bool, bool]]:
    """One sort that serves every window: some window's PARTITION BY (ascending) then
    its ORDER BY, such that every other window's PARTITION BY is (as a set) a prefix
    of it and its ORDER BY the keys right after. NotSupported when there is none."""

    def key(e: exp.Expr) -> str:
        return canon(e, ctx)

    for base in sorted(specs, key=lambda s: -(len(s.partition) + len(s.order))):
        merged = [(p, False, True) for p in base.partition] + [_ordered(o) for o in base.order]
        canon_keys = [(key(e), d, n) for e, d, n in merged]
        if all(
            {key(p) for p in s.partition} == {k[0] for k in canon_keys[: len(s.partition)]}
            and len(s.partition) + len(s.order) <= len(merged)
            and [(key(e), d, n) for e, d, n in map(_ordered, s.order)]
            == canon_keys[len(s.partition) : len(s.partition) + len(s.order)]
            for s in specs
        ):
            return merged
    raise NotSupported(
        "window functions over several shards whose PARTITION BY / ORDER BY cannot share "
        "one sort (each must be a prefix of the widest: partition columns, then order)"
    )


def _function(
    w: exp.Window, spec: _Spec, column: Any, ctx: PlanContext, scope: Scope
) -> WindowFunc:
    call = _call(w, spec, column, ctx, scope)
    return replace(call, partition=len(spec.partition), order=len(spec.order))


def _call(w: exp.Window, spec: _Spec, column: Any, ctx: PlanContext, scope: Scope) -> WindowFunc:
    f = w.this
    kind = _RANKING.get(type(f))
    if kind is not None:
        return WindowFunc(kind)
    if isinstance(f, exp.Ntile):
        if f.this is None:
            raise NotSupported("NTILE() without a bucket count")
        n = _constant_int(f.this, ctx, "NTILE bucket count")
        if n == 0:
            raise NotSupported("NTILE(0)")
        return WindowFunc("ntile", offset=n)
    if isinstance(f, exp.Lag | exp.Lead):
        offset = f.args.get("offset")
        n = 1 if offset is None else _constant_int(offset, ctx, "LAG/LEAD offset")
        if f.args.get("default") is not None:
            # MariaDB shards reject the third argument (a syntax error); MySQL's would
            # need the default's type merged with the argument's.
            raise NotSupported("LAG/LEAD with a default value over several shards")
        return WindowFunc(
            "lag" if isinstance(f, exp.Lag) else "lead",
            arg=column(f.this),
            offset=n,
            collation=column_collation(f.this, scope),
        )
    frame = _frame(spec.frame, ctx)
    if isinstance(f, exp.FirstValue | exp.LastValue):
        return WindowFunc(
            "first_value" if isinstance(f, exp.FirstValue) else "last_value",
            arg=column(f.this),
            collation=column_collation(f.this, scope),
            frame=frame,
        )
    if isinstance(f, exp.Count):
        arg = f.this
        if isinstance(arg, exp.Distinct):
            raise NotSupported("COUNT(DISTINCT ...) OVER over several shards")
        if arg is None or isinstance(arg, exp.Star):
            return WindowFunc("agg", agg="count_star", frame=frame)
        return WindowFunc("agg", arg=column(arg), agg="count", frame=frame)
    agg = _AGGREGATES.get(type(f))
    if agg is not None:
        arg = f.this
        if isinstance(arg, exp.Distinct):
            raise NotSupported(f"{agg.upper()}(DISTINCT ...) OVER over several shards")
        return WindowFunc(
            "agg", arg=column(arg), agg=agg, collation=column_collation(arg, scope), frame=frame
        )
    raise NotSupported(f"the window function {f.sql(dialect='mysql')} over several shards")
