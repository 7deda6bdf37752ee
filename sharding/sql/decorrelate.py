"""Correlated ``EXISTS`` with one equality correlation becomes an uncorrelated ``IN``
(issue 18, item 7) — a pure rewrite over the statement's tree.

``EXISTS (SELECT … FROM u WHERE u.k = t.x AND q(u))`` is TRUE for a row of ``t``
exactly when some row of ``u`` satisfying ``q`` has ``k = t.x``; ``a IN (b)`` compares as
``a = b`` does. So:

* as one of the ``AND``-ed conditions of the outer ``WHERE`` it becomes
  ``t.x IN (SELECT u.k FROM u WHERE q(u))`` — the two differ only where the ``IN`` is
  NULL (``t.x`` NULL, or a NULL among the ``k``) and ``EXISTS`` FALSE, and a ``WHERE``
  keeps neither;
* anywhere else in the outer query block (under ``NOT``, ``OR``, in a select item) it
  becomes ``(t.x IS NOT NULL AND t.x IN (SELECT u.k FROM u WHERE q(u) AND u.k IS NOT
  NULL))``, which is TRUE or FALSE exactly where ``EXISTS`` is: ``NOT EXISTS`` (the
  anti-join) included.

The uncorrelated ``IN`` then runs as any other (:mod:`sharding.sql.materialize`: the
inner SELECT first, its values into the outer statement; past
``cluster.subquery_rows``, by pages where exact). Whether the rest of the inner query
really names only its own table is decided the same way as there: by running it alone
— a leftover outer reference (``u.id <> t.id``, or an unqualified name the inner table
does not have) is MySQL's 1054 there, and the statement keeps its refusal.

Recognised: the inner query is a plain SELECT over one table (no joins, GROUP BY,
HAVING, DISTINCT, LIMIT, window, UNION), its ``WHERE`` an ``AND`` of conditions of
which exactly one is ``inner_column = outer_column`` (either order): the outer column
qualified with a name of the outer statement's tables that the inner query does not
define, the inner one qualified with the inner table's name or alias, or unqualified.
"""

from __future__ import annotations

from sqlglot import exp

from sharding.sql.exprs import conjuncts

__all__ = ["decorrelate_exists"]


def _outer_names(tree: exp.Expr) -> set[str]:
    """The names (aliases, else table names) the outer statement's FROM/JOIN define."""
    names: set[str] = set()
    for key in ("from_", "from", "joins", "this"):
        value = tree.args.get(key)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None:
                continue
            table = item.this if isinstance(item, exp.From | exp.Join) else item
            if isinstance(table, exp.Table):
                names.add((table.alias or table.name).lower())
    return names


def _plain_inner(select: exp.Expr) -> exp.Table | None:
    if not isinstance(select, exp.Select):
        return None
    if any(
        select.args.get(k)
        for k in ("joins", "group", "having", "distinct", "limit", "offset", "order", "with",
                  "with_", "windows", "laterals", "qualify", "locks")
    ):  # fmt: skip
        return None
    source = select.args.get("from_") or select.args.get("from")
    if source is None or not isinstance(source.this, exp.Table):
        return None
    return source.this


def _sides(eq: exp.Expr, inner_name: str, outer: set[str]) -> tuple[exp.Column, exp.Column] | None:
    """``(inner column, outer column)`` of a correlation equality, or None."""
    if not isinstance(eq, exp.EQ):
        return None
    a, b = eq.this, eq.expression
    for inner, other in ((a, b), (b, a)):
        if not isinstance(inner, exp.Column) or not isinstance(other, exp.Column):
            continue
        outer_table = other.table.lower()
        if not outer_table or outer_table == inner_name or outer_table not in outer:
            continue
        if inner.table and inner.table.lower() != inner_name:
            continue
        return inner, other
    return None


def _where_conjunct(node: exp.Expr, root: exp.Expr) -> bool:
    parent = node.parent
    while isinstance(parent, exp.And | exp.Paren):
        parent = parent.parent
    return isinstance(parent, exp.Where) and parent.parent is root


def _in_block(node: exp.Expr, root: exp.Expr) -> bool:
    """Whether ``node`` belongs to ``root``'s own query block (not to a subquery,
    derived table or CTE inside it)."""
    parent = node.parent
    while parent is not None and parent is not root:
        if isinstance(parent, exp.Subquery | exp.Select | exp.Union | exp.CTE):
            return False
        parent = parent.parent
    return parent is root


def decorrelate_exists(tree: exp.Expr) -> bool:
    """Rewrite ``tree``'s qualifying ``EXISTS`` conditions in place (module docstring);
    whether any was rewritten."""
    if not isinstance(tree, exp.Select | exp.Update | exp.Delete):
        return False
    outer = _outer_names(tree)
    changed = False
    for node in list(tree.find_all(exp.Exists)):
        if not _in_block(node, tree):
            continue
        simple = _where_conjunct(node, tree)
        select = node.this.this if isinstance(node.this, exp.Subquery) else node.this
        table = _plain_inner(select)
        if table is None or not isinstance(select, exp.Select):
            continue
        inner_name = (table.alias or table.name).lower()
        where = select.args.get("where")
        if where is None:
            continue
        parts = conjuncts(where.this)
        found = [(i, s) for i, p in enumerate(parts) if (s := _sides(p, inner_name, outer))]
        if len(found) != 1:
            continue
        index, (inner_col, outer_col) = found[0]
        rest = [p for i, p in enumerate(parts) if i != index]
        if not simple:  # no NULL among the values: the IN is TRUE or FALSE
            rest.append(exp.Not(this=exp.Is(this=inner_col.copy(), expression=exp.Null())))
        inner = select.copy()
        inner.set("expressions", [inner_col.copy()])
        inner.set("where", exp.Where(this=exp.and_(*rest)) if rest else None)
        found_in = exp.In(this=outer_col.copy(), query=exp.Subquery(this=inner))
        if simple:
            node.replace(found_in)
        else:
            known = exp.Not(this=exp.Is(this=outer_col.copy(), expression=exp.Null()))
            node.replace(exp.Paren(this=exp.And(this=known, expression=found_in)))
        changed = True
    return changed
