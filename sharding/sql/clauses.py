"""The clauses of a SELECT resolved against its select list.

Every plan shape needs the same readings of the statement: the select items (``*``
expanded, result column names derived the way MySQL/SQLite name them), what each ORDER
BY / GROUP BY term refers to (a position, an alias, or an expression equal to a select
item), the HAVING condition with select aliases substituted, the LIMIT/OFFSET values
(constants or parameters, bound per call) and whether the query aggregates at all.
They are computed here, once per plan, so the shapes agree on them.

Name resolution follows MySQL (measured on MariaDB 10.11, issue 11):

* ORDER BY: a term that is just a name is looked up in the select list first (an alias
  of an expression wins over a column item of the same name; two column items of that
  name are ambiguous, 1052); a name inside a larger expression is a table column first,
  then an alias — and an alias of an aggregate there is error 1247.
* HAVING: a name outside aggregate arguments is the select item of that name, unless a
  GROUP BY column has the name too and is another expression: MariaDB then takes the
  GROUP BY column with warning 1052, a warning count this coordinator does not
  reproduce, so that form is refused (1235).
* GROUP BY: a table column wins over an alias of the same name; MariaDB warns (1052)
  when the alias is another expression, so that form is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from sharding.errors import AmbiguousColumn, NotSupported, ShardgateError, UnknownColumn
from sharding.sql.context import PlanContext, canon
from sharding.sql.exprs import contains_aggregate
from sharding.sql.nodes import LimitRef, OutputColumn
from sharding.sql.rewrite import SLOT, slot_of
from sharding.sql.route import ValueRef, constant_ref
from sharding.sql.scope import ALIAS_CANDIDATE, WRITTEN_BARE, Scope, unparen


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


def _item_name(it: Item) -> str | None:
    if it.alias:
        return it.alias
    return it.expr.name if isinstance(it.expr, exp.Column) else None


def select_item_index(name: str, items: list[Item], clause: str) -> int | None:
    """The select item a bare ``name`` denotes, MySQL's select-list lookup: an item
    named so that is an expression wins at once; two column items of that name (not
    the same column) are ambiguous."""
    found: int | None = None
    lowered = name.lower()
    for i, it in enumerate(items):
        item_name = _item_name(it)
        if item_name is None or item_name.lower() != lowered:
            continue
        if not isinstance(unparen(it.expr), exp.Column):
            return i
        if found is not None:
            if items[found].expr.sql(dialect="mysql") == it.expr.sql(dialect="mysql"):
                continue
            raise AmbiguousColumn(f"Column '{name}' in {clause} is ambiguous")
        found = i
    return found


def _alias_item(items: list[Item], name: str) -> Item | None:
    lowered = name.lower()
    return next((it for it in items if it.alias and it.alias.lower() == lowered), None)


def resolve_item_ref(
    node: exp.Expr, items: list[Item], ctx: PlanContext, scope: Scope, *, alias_first: bool
) -> int | None:
    """Index of the select item an ORDER BY / GROUP BY term refers to, if any."""
    pos = _position(node, ctx)
    if pos is not None:
        if not 1 <= pos <= len(items):
            raise UnknownColumn(f"Unknown column '{pos}' in 'order clause'")
        return pos - 1
    bare = unparen(node)
    if isinstance(bare, exp.Column) and bare.meta.get(ALIAS_CANDIDATE):
        idx = select_item_index(bare.name, items, "order clause")
        if idx is not None:
            return idx
    if not alias_first and isinstance(bare, exp.Column) and bare.meta.get(WRITTEN_BARE):
        shadow = _alias_item(items, bare.name)
        if shadow is not None and canon(shadow.expr, ctx) != canon(bare, ctx):
            raise NotSupported(
                f"GROUP BY {bare.name}: both a column and the alias of another select "
                "item (MySQL groups by the column with warning 1052); rename the alias"
            )
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
        expr = items[idx].expr if idx is not None else _order_expression(o.this, items, scope)
        # Default NULL placement (MySQL, SQLite): first ascending, last descending.
        out.append(
            OrderTerm(expr, desc, bool(nulls_first) if nulls_first is not None else not desc, idx)
        )
    return out


def _order_expression(node: exp.Expr, items: list[Item], scope: Scope) -> exp.Expr:
    """An ORDER BY expression that is not a select item, aliases inside replaced by
    their expressions (names that are not table columns); an alias of an aggregate
    there is MySQL's error 1247."""
    aliases = {it.alias.lower(): it.expr for it in items if it.alias}
    for n in node.find_all(exp.Column):
        target = aliases.get(n.name.lower()) if not n.table else None
        if target is not None and scope.resolve(n) is None and contains_aggregate(target):
            raise ShardgateError(
                f"Reference '{n.name}' not supported (reference to group function)",
                code=1247,
                sqlstate="42S22",
            )
    return substitute_aliases(node, items, scope)


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


def having_condition(
    tree: exp.Select, items: list[Item], scope: Scope, ctx: PlanContext | None = None
) -> exp.Expr | None:
    """The HAVING condition with select aliases replaced by their expressions (MySQL's
    resolution, module docstring)."""
    having = tree.args.get("having")
    if having is None:
        return None

    def repl(n: exp.Expr) -> exp.Expr:
        if not (isinstance(n, exp.Column) and n.meta.get(ALIAS_CANDIDATE)):
            return n
        idx = select_item_index(n.name, items, "HAVING")
        group = _group_column(tree, items, scope, ctx, n.name)
        if idx is not None:
            if group is not None and group != items[idx].expr.sql(dialect="mysql"):
                raise NotSupported(
                    f"HAVING {n.name}: both a GROUP BY column and the alias of another "
                    "select item (MySQL uses the column with warning 1052); rename the alias"
                )
            return items[idx].expr.copy()
        column = n.copy()
        column.meta.pop(ALIAS_CANDIDATE, None)
        scope.qualify(column)
        return column

    _check_having_columns(having.this, tree, items, scope, ctx)
    resolved = having.this.copy().transform(repl)
    return substitute_aliases(resolved, items, scope)


def _check_having_columns(
    cond: exp.Expr, tree: exp.Select, items: list[Item], scope: Scope, ctx: PlanContext | None
) -> None:
    """MySQL's rule: outside aggregate arguments, HAVING sees only the select list and
    the GROUP BY columns; any other column is error 1054."""
    item_columns = {
        unparen(it.expr).sql(dialect="mysql").lower()
        for it in items
        if isinstance(unparen(it.expr), exp.Column)
    }
    group = tree.args.get("group")
    for g in group.expressions if group is not None else []:
        term = unparen(g)
        if isinstance(term, exp.Placeholder | exp.Literal):
            continue  # a position: a select item, already listed
        if isinstance(term, exp.Column):
            item_columns.add(term.sql(dialect="mysql").lower())
    stack: list[exp.Expr] = [cond]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.AggFunc | exp.Select | exp.Subquery | exp.Union):
            continue
        stack.extend(node.iter_expressions())
        if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
            continue
        if node.meta.get(ALIAS_CANDIDATE) or not node.table:
            continue  # a select alias (resolved by the caller)
        if node.sql(dialect="mysql").lower() in item_columns:
            continue
        written = node.name if node.meta.get(WRITTEN_BARE) else f"{node.table}.{node.name}"
        raise UnknownColumn(f"Unknown column '{written}' in 'HAVING'")


def _group_column(
    tree: exp.Select, items: list[Item], scope: Scope, ctx: PlanContext | None, name: str
) -> str | None:
    """The GROUP BY term that is a table column called ``name`` (MySQL rendering)."""
    group = tree.args.get("group")
    lowered = name.lower()
    for g in group.expressions if group is not None else []:
        term = unparen(g)
        if isinstance(term, exp.Placeholder | exp.Literal):
            if ctx is None:
                raise NotSupported("HAVING over a positional GROUP BY here")
            pos = _position(term, ctx)
            if pos is not None and 1 <= pos <= len(items):
                term = unparen(items[pos - 1].expr)
        if isinstance(term, exp.Column) and term.name.lower() == lowered and term.table:
            return term.sql(dialect="mysql")
    return None


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
