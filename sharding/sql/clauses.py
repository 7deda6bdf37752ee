"""The clauses of a SELECT resolved against its select list.

Every plan shape needs the same readings of the statement: the select items (``*``
expanded, result column names derived the way MySQL/SQLite name them), what each ORDER
BY / GROUP BY term refers to (a position, an alias, or an expression equal to a select
item), the HAVING condition with select aliases substituted, the LIMIT/OFFSET values
(constants or parameters, bound per call) and whether the query aggregates at all.
They are computed here, once per plan, so the shapes agree on them.

Name resolution follows MySQL: in ORDER BY a bare name is looked up as a select alias
first; in GROUP BY a table column wins over an alias of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from sharding.errors import NotSupported, ShardgateError, UnknownColumn
from sharding.sql.context import PlanContext, canon
from sharding.sql.exprs import contains_aggregate
from sharding.sql.nodes import LimitRef, OutputColumn
from sharding.sql.rewrite import SLOT, slot_of
from sharding.sql.route import ValueRef, constant_ref
from sharding.sql.scope import Scope


@dataclass
class Item:
    """One select item: the expression (without alias), the alias, the result name."""

    expr: exp.Expr
    alias: str | None
    name: OutputColumn


@dataclass(frozen=True)
class OrderTerm:
    """One ORDER BY term: the expression (a select item's, when it refers to one)."""

    expr: exp.Expr
    desc: bool
    nulls_first: bool
    #: Index of the select item the term refers to, None for another expression.
    index: int | None


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


def expand_items(select: exp.Select, scope: Scope, ctx: PlanContext) -> list[Item]:
    """The select items, each ``*`` / ``t.*`` expanded to the columns it stands for."""
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


def passthrough_columns(
    tree: exp.Select, scope: Scope, ctx: PlanContext
) -> tuple[OutputColumn, ...] | None:
    """Result column names of the statement, or None when only the backend knows them
    (a ``*`` over a table whose columns the catalog does not have)."""
    try:
        return tuple(it.name for it in expand_items(tree, scope, ctx))
    except ShardgateError:
        return None


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
            raise UnknownColumn(f"Unknown column '{pos}' in 'order clause'")
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


def order_terms(
    tree: exp.Select, items: list[Item], ctx: PlanContext, scope: Scope
) -> list[OrderTerm]:
    """The ORDER BY terms, each resolved to a select item where it names one."""
    order = tree.args.get("order")
    out: list[OrderTerm] = []
    for o in order.expressions if order is not None else []:
        desc = bool(o.args.get("desc"))
        nulls_first = o.args.get("nulls_first")
        idx = resolve_item_ref(o.this, items, ctx, scope, alias_first=True)
        expr = items[idx].expr if idx is not None else o.this
        # Default NULL placement (MySQL, SQLite): first ascending, last descending.
        out.append(
            OrderTerm(expr, desc, bool(nulls_first) if nulls_first is not None else not desc, idx)
        )
    return out


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


def having_condition(tree: exp.Select, items: list[Item], scope: Scope) -> exp.Expr | None:
    """The HAVING condition with select aliases replaced by their expressions."""
    having = tree.args.get("having")
    return substitute_aliases(having.this, items, scope) if having is not None else None


def is_aggregate_query(tree: exp.Select, items: list[Item]) -> bool:
    """GROUP BY, HAVING, or an aggregate in the select list or ORDER BY."""
    order = tree.args.get("order")
    return (
        bool(tree.args.get("group"))
        or tree.args.get("having") is not None
        or any(contains_aggregate(it.expr) for it in items)
        or (order is not None and any(contains_aggregate(o) for o in order.expressions))
    )


def limit_ref(tree: exp.Select) -> LimitRef | None:
    """LIMIT/OFFSET as values known now or bound per call; None without a LIMIT."""
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
