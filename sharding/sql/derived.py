"""Merging a simple derived table over a broadcast table into the outer query.

``customers c JOIN (SELECT code, name AS nm FROM regions WHERE weight > 1) r ON ...``
names a derived table the planner cannot see into: it has no catalog entry, so no
primary key (an ordered read over several shards could not continue by keyset), no
column types or collations (the merge could not compare its values as MariaDB does),
and the outer-join rules cannot tell what it is. MySQL's optimizer merges such a
derived table into the outer query (``derived_merge``); so does this module, before
planning, for the forms where the merge is exactly equivalent:

* the derived table is ``(SELECT <columns or expressions, or *> FROM <one broadcast
  table> [WHERE cond]) AS d`` — no joins, grouping, DISTINCT, ORDER BY/LIMIT, window
  functions, aggregates or subqueries;
* it becomes ``<table> AS d``; every outer reference to a column of ``d`` becomes the
  inner expression (its columns qualified by ``d``); a select item that was such a
  reference keeps its name through an alias;
* the inner WHERE goes where it filters the same rows: into the ON of the derived
  table's own join (inner or LEFT, ``d`` the joined table), or into the outer WHERE
  when ``d`` is the first table and no RIGHT JOIN follows (``d`` is never NULL-extended
  then). Any other position, an outer ``*`` unless the derived table is ``SELECT *``,
  a bare outer name the merge would resolve differently (a column of the inner table
  the derived table hides, or a name of the derived table that another table or a
  select alias has too), or a derived
  column list ``AS d(a, b)`` leaves the statement as written.

Afterwards ``d`` is an ordinary broadcast table reference and every plan shape (and
the outer-join rule of :mod:`sharding.sql.join_plan`) applies to it.
"""

from __future__ import annotations

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.sql.scope import join_kind

_FORBIDDEN = (
    "joins",
    "group",
    "having",
    "order",
    "limit",
    "offset",
    "distinct",
    "with_",
    "with",
    "qualify",
    "windows",
    "into",
    "locks",
    "laterals",
    "pivots",
)


def _inner_columns(select: exp.Select, info: TableInfo) -> dict[str, exp.Expr] | None:
    """Derived column name (lower case) → inner expression, or None if not mergeable."""
    out: dict[str, exp.Expr] = {}
    for e in select.expressions:
        if isinstance(e, exp.Star):
            if not info.columns:
                return None
            for col in info.columns:
                out.setdefault(col.name.lower(), exp.column(col.name))
            continue
        inner = e.this if isinstance(e, exp.Alias) else e
        if isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star):
            return None
        name = e.alias_or_name
        if not name or name.lower() in out:
            return None
        if any(
            isinstance(n, exp.AggFunc | exp.Window | exp.Select | exp.Subquery)
            for n in inner.walk()
        ):
            return None
        out[name.lower()] = inner
    return out


def _requalify(node: exp.Expr, alias: str) -> exp.Expr:
    """A copy of an inner expression with its columns qualified by the derived alias."""
    copied = node.copy()
    for col in [copied] if isinstance(copied, exp.Column) else list(copied.find_all(exp.Column)):
        col.set("table", exp.to_identifier(alias))
        col.set("db", None)
        col.set("catalog", None)
    return copied


def merge_broadcast_derived(
    tree: exp.Select, tables: dict[tuple[str, str], TableInfo], database: str | None
) -> None:
    """Merge every mergeable derived table of ``tree``'s FROM clause (module docstring),
    in place."""
    from_ = tree.args.get("from_") or tree.args.get("from")
    if from_ is None:
        return
    joins = list(tree.args.get("joins") or [])
    tops = [from_.this, *(j.this for j in joins)]
    if not any(
        isinstance(t, exp.Table)
        and (info := tables.get((t.db or database or "", t.name))) is not None
        and not info.broadcast
        for t in tops
    ):
        return  # no sharded table: the statement runs whole on one data source
    sources: list[tuple[exp.Expr, exp.Join | None]] = [(from_.this, None)] + [
        (j.this, j) for j in joins
    ]
    for position, (node, join) in enumerate(sources):
        if isinstance(node, exp.Subquery):
            _merge_one(tree, node, join, position, joins, tables, database)


def _merge_one(
    tree: exp.Select,
    node: exp.Subquery,
    join: exp.Join | None,
    position: int,
    joins: list[exp.Join],
    tables: dict[tuple[str, str], TableInfo],
    database: str | None,
) -> None:
    alias_node = node.args.get("alias")
    inner = node.this
    if not isinstance(inner, exp.Select) or alias_node is None or alias_node.columns:
        return
    alias = node.alias
    if not alias or any(inner.args.get(k) for k in _FORBIDDEN):
        return
    inner_from = inner.args.get("from_") or inner.args.get("from")
    table = inner_from.this if inner_from is not None else None
    if not isinstance(table, exp.Table) or table.args.get("joins"):
        return
    info = tables.get((table.db or database or "", table.name))
    if info is None or not info.broadcast:
        return
    where = inner.args.get("where")
    if where is not None and any(isinstance(n, exp.Select | exp.Subquery) for n in where.walk()):
        return
    columns = _inner_columns(inner, info)
    if columns is None:
        return
    whole = len(inner.expressions) == 1 and isinstance(inner.expressions[0], exp.Star)
    if not whole and _outer_star(tree, alias):
        return  # ``*`` would stand for the table's columns, not the derived table's
    # Where the inner WHERE can go (module docstring).
    kind = join_kind(join) if join is not None else ""
    later = [join_kind(j) for j in joins[position:]]
    if where is not None:
        if join is not None and kind not in ("inner", "left", "cross"):
            return
        if join is None and any(k in ("right", "full") for k in later):
            return
    # Outer references: qualified by the alias, or bare names of derived columns that
    # no other table of the FROM clause has (else MySQL's resolution would differ).
    others = _other_tables(tree, node, tables, database)
    if others is None:
        return
    if _nested_reference(tree, node, alias):
        return  # a correlated reference inside a nested query: left as written
    select_aliases = {e.alias.lower() for e in tree.expressions if isinstance(e, exp.Alias)}
    pairs: list[tuple[exp.Column, exp.Expr]] = []
    for col in _outer_columns(tree, node):
        if isinstance(col.this, exp.Star):
            continue
        name = col.name.lower()
        if col.table:
            if col.table.lower() != alias.lower():
                continue
            if name not in columns:
                return  # an unknown column: leave the error to the backend
        elif name not in columns:
            if info.has_column(name):
                return  # hidden by the derived table now, visible after a merge
            continue
        elif any(t.has_column(name) for t in others) or name in select_aliases:
            return  # ambiguous, or maybe a select alias: MySQL's rules decide as written
        pairs.append((col, _requalify(columns[name], alias)))
    items = {id(e) for e in tree.expressions}
    for col, replacement in pairs:
        if id(col) in items and not _same_column(col, replacement):
            col.replace(exp.alias_(replacement, col.name))  # the item keeps its name
        else:
            col.replace(replacement)
    new_table = table.copy()
    new_table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    node.replace(new_table)
    if where is not None:
        cond = _requalify(where.this, alias)
        if join is not None and kind in ("inner", "left") and join.args.get("on") is not None:
            join.set("on", exp.and_(exp.Paren(this=join.args["on"]), exp.Paren(this=cond)))
        elif join is not None:
            join.set("on", cond)  # a CROSS JOIN becomes an inner join on the filter
            join.set("kind", None)
        else:
            outer = tree.args.get("where")
            merged = (
                exp.Paren(this=cond)
                if outer is None
                else exp.and_(exp.Paren(this=outer.this), exp.Paren(this=cond))
            )
            tree.set("where", exp.Where(this=merged))


def _same_column(col: exp.Column, replacement: exp.Expr) -> bool:
    return isinstance(replacement, exp.Column) and replacement.name.lower() == col.name.lower()


def _outer_star(tree: exp.Select, alias: str) -> bool:
    for e in tree.expressions:
        if isinstance(e, exp.Star):
            return True
        if (
            isinstance(e, exp.Column)
            and isinstance(e.this, exp.Star)
            and e.table.lower() == alias.lower()
        ):
            return True
    return False


def _other_tables(
    tree: exp.Select,
    derived: exp.Expr,
    tables: dict[tuple[str, str], TableInfo],
    database: str | None,
) -> list[TableInfo] | None:
    from_ = tree.args.get("from_") or tree.args.get("from")
    if from_ is None:
        return None
    sources = [from_.this] + [j.this for j in tree.args.get("joins") or []]
    out: list[TableInfo] = []
    for s in sources:
        if s is derived:
            continue
        if not isinstance(s, exp.Table):
            return None  # another derived table: names could be ambiguous
        info = tables.get((s.db or database or "", s.name))
        if info is None or not info.columns:
            return None
        out.append(info)
    return out


def _outer_columns(tree: exp.Select, derived: exp.Expr) -> list[exp.Column]:
    """Column nodes of the outer query, outside the derived table and nested queries."""
    out: list[exp.Column] = []
    stack: list[exp.Expr] = [tree]
    while stack:
        n = stack.pop()
        if isinstance(n, exp.Column):
            out.append(n)
            continue
        for child in n.iter_expressions():
            if child is derived or isinstance(child, exp.Select | exp.Subquery | exp.Union):
                continue
            stack.append(child)
    return out


def _nested_reference(tree: exp.Select, derived: exp.Expr, alias: str) -> bool:
    """Whether a query nested in ``tree`` (other than the derived table) names ``alias``."""
    lowered = alias.lower()
    for nested in tree.find_all(exp.Select, exp.Subquery):
        if nested is tree or nested is derived or nested is derived.this:
            continue
        if any(c.table.lower() == lowered for c in nested.find_all(exp.Column)):
            return True
    return False
