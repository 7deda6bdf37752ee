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

Correlated ``IN`` / ``NOT IN`` (:func:`decorrelate_in`): ``t.a IN (SELECT u.b FROM u
WHERE u.k = t.x AND q(u))``, the same inner query with one item. Let ``M`` be the ``b``
of the rows of ``u`` with ``q`` and ``k = t.x``: the ``IN`` is FALSE for an empty ``M``,
TRUE when ``t.a`` equals one of them, else NULL when ``t.a`` or one of them is NULL,
else FALSE. So:

* as one of the ``AND``-ed conditions of the outer ``WHERE`` (only TRUE matters) it is
  ``(t.x, t.a) IN (SELECT u.k, u.b FROM u WHERE q(u))``: TRUE exactly when one row has
  ``k = t.x`` and ``b = t.a`` both TRUE;
* elsewhere (``NOT IN``, ``OR``, a select item) it is the three-valued ``CASE`` of
  :func:`_in_case`, over three uncorrelated subqueries with no NULL where it matters.

Correlated scalar aggregates (:func:`decorrelate_scalar`): ``(SELECT AGG(…) FROM u
WHERE u.k = t.x AND q(u))`` with ``AGG`` one of ``COUNT SUM MIN MAX AVG``. Its value for
a row of ``t`` is the aggregate over the group of ``u`` (with ``q``) whose ``k`` equals
``t.x``, or the aggregate of no rows (``COUNT`` 0, the others NULL) when none does — a
NULL ``t.x`` or ``k`` matches nothing. It becomes ``SG_LOOKUP(t.x, (SELECT u.k, AGG(…)
FROM u WHERE q(u) AND u.k IS NOT NULL GROUP BY u.k), <empty value>, (SELECT
COLLATION(t.x) FROM t LIMIT 1))``, a marker that :mod:`sharding.sql.materialize`
replaces by ``CASE WHEN t.x = k1 THEN r1 … ELSE <empty value> END`` once the grouped
query ran (only for keys whose comparisons with ``t.x`` pick at most one group, the one
MySQL aggregates: :func:`sharding.sql.materialize.lookup_node`; the last argument, run
only for text keys, tells ``t.x``'s collation). Only in the ``WHERE``, or in a SELECT
that neither groups nor aggregates.

A rewritten select item keeps the column definition of what it replaced: the ``CASE``
of an ``IN`` and the condition of an ``EXISTS`` carry MariaDB's (``meta``,
:data:`sharding.sql.describe.CARRIED`); a lookup gets its aggregate's when it is
materialised.
"""

from __future__ import annotations

from sqlglot import exp

from sharding.sql.describe import CARRIED, EXISTS_SUBQUERY, IN_SUBQUERY
from sharding.sql.exprs import ancestors, conjuncts, contains_aggregate

__all__ = [
    "LOOKUP",
    "decorrelate",
    "decorrelate_exists",
    "decorrelate_in",
    "decorrelate_scalar",
]

#: The marker function of a grouped lookup (module docstring); never sent to a shard.
LOOKUP = "SG_LOOKUP"


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


def _outer_table(tree: exp.Expr, name: str) -> exp.Table | None:
    """The table of the outer statement's FROM/JOIN that ``name`` (alias, else table
    name) denotes."""
    for key in ("from_", "from", "joins", "this"):
        value = tree.args.get(key)
        for item in value if isinstance(value, list) else [value]:
            table = item.this if isinstance(item, exp.From | exp.Join) else item
            if isinstance(table, exp.Table) and (table.alias or table.name).lower() == name.lower():
                return table
    return None


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
            value = exp.Paren(this=exp.And(this=known, expression=found_in))
            value.meta[CARRIED] = EXISTS_SUBQUERY  # sent as EXISTS is (sql/describe)
            node.replace(value)
        changed = True
    return changed


def decorrelate(tree: exp.Expr, *, lookups: bool = True) -> bool:
    """Every rewrite of this module over ``tree`` (``lookups``: also the grouped
    lookups, which ask MySQL's ``COLLATION()`` — on SQLite shards the session reads
    it from the catalog, :func:`sharding.session_reads.backend_collations`); whether
    any applied."""
    changed = decorrelate_exists(tree)
    changed = decorrelate_in(tree) or changed
    return (lookups and decorrelate_scalar(tree)) or changed


def _correlation(
    select: exp.Expr, outer: set[str]
) -> tuple[exp.Select, exp.Column, exp.Column, list[exp.Expr]] | None:
    """``(inner SELECT, inner column, outer column, the other conditions)`` of a plain
    one-table subquery whose ``WHERE`` holds exactly one correlation equality."""
    table = _plain_inner(select)
    if table is None or not isinstance(select, exp.Select):
        return None
    inner_name = (table.alias or table.name).lower()
    where = select.args.get("where")
    if where is None:
        return None
    parts = conjuncts(where.this)
    found = [(i, s) for i, p in enumerate(parts) if (s := _sides(p, inner_name, outer))]
    if len(found) != 1:
        return None
    index, (inner_col, outer_col) = found[0]
    return select, inner_col, outer_col, [p for i, p in enumerate(parts) if i != index]


def _not_null(node: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Is(this=node.copy(), expression=exp.Null()))


def _is_null(node: exp.Expr) -> exp.Expr:
    return exp.Is(this=node.copy(), expression=exp.Null())


def _inner_query(
    select: exp.Select, items: list[exp.Expr], conditions: list[exp.Expr]
) -> exp.Subquery:
    """A copy of ``select`` selecting ``items`` under ``conditions`` (AND-ed)."""
    inner = select.copy()
    inner.set("expressions", [i.copy() for i in items])
    inner.set("where", exp.Where(this=exp.and_(*conditions)) if conditions else None)
    return exp.Subquery(this=inner)


def _in_case(
    left: exp.Expr, outer_col: exp.Column, inner_col: exp.Column, item: exp.Expr,
    select: exp.Select, rest: list[exp.Expr],
) -> exp.Expr:  # fmt: skip
    """The three-valued ``left IN (SELECT item FROM u WHERE inner_col = outer_col AND
    rest)`` without the correlation:

    ``CASE WHEN NOT (x IS NOT NULL AND x IN (K)) THEN 0 WHEN (x, a) IN (P) THEN 1 WHEN a
    IS NULL OR x IN (KN) THEN NULL ELSE 0 END`` — ``K`` the keys with ``rest`` (the set
    ``M`` is empty exactly when ``x`` is NULL or not among them; no NULL in ``K``, so
    that test is TRUE or FALSE), ``P`` the pairs with neither part NULL (TRUE when ``a``
    is in ``M``; NULL or FALSE falls through), ``KN`` the keys whose ``b`` is NULL (a
    NULL in ``M``). The branches are MySQL's ``IN`` case by case, 1/0/NULL as it gives."""
    known = [*rest, _not_null(inner_col)]
    keys = exp.In(this=outer_col.copy(), query=_inner_query(select, [inner_col], known))
    empty = exp.Not(this=exp.Paren(this=exp.And(this=_not_null(outer_col), expression=keys)))
    pairs = exp.In(
        this=exp.Tuple(expressions=[outer_col.copy(), left.copy()]),
        query=_inner_query(select, [inner_col, item], [*known, _not_null(item)]),
    )
    null_keys = exp.In(
        this=outer_col.copy(), query=_inner_query(select, [inner_col], [*known, _is_null(item)])
    )
    unknown = exp.Or(this=_is_null(left), expression=null_keys)
    return exp.Case(
        ifs=[
            exp.If(this=empty, true=exp.Literal.number(0)),
            exp.If(this=pairs, true=exp.Literal.number(1)),
            exp.If(this=unknown, true=exp.Null()),
        ],
        default=exp.Literal.number(0),
    )


def decorrelate_in(tree: exp.Expr) -> bool:
    """Rewrite ``tree``'s correlated ``[NOT] IN`` subqueries of one equality correlation
    in place (module docstring); whether any was rewritten. The left operand is kept
    as written (twice in the ``CASE``): one without subqueries, aggregates or random
    values only."""
    if not isinstance(tree, exp.Select | exp.Update | exp.Delete):
        return False
    outer = _outer_names(tree)
    changed = False
    for node in list(tree.find_all(exp.In)):
        query = node.args.get("query")
        if query is None or not _in_block(node, tree):
            continue
        left = node.this
        if isinstance(left, exp.Tuple) or left.find(exp.Subquery, exp.Rand, exp.AggFunc):
            continue
        select = query.this if isinstance(query, exp.Subquery) else query
        found = _correlation(select, outer)
        if found is None or len(found[0].expressions) != 1:
            continue
        inner, inner_col, outer_col, rest = found
        item = inner.expressions[0]
        item = item.this if isinstance(item, exp.Alias) else item
        if isinstance(item, exp.Star) or item.find(exp.AggFunc):
            continue
        if _where_conjunct(node, tree):  # only TRUE matters: the pairs themselves
            pairs = exp.Tuple(expressions=[outer_col.copy(), left.copy()])
            node.replace(exp.In(this=pairs, query=_inner_query(inner, [inner_col, item], rest)))
        else:
            case = exp.Paren(this=_in_case(left, outer_col, inner_col, item, inner, rest))
            case.meta[CARRIED] = IN_SUBQUERY  # sent as the IN is (sql/describe)
            node.replace(case)
        changed = True
    return changed


#: The aggregates of a grouped lookup, with their value over no rows.
_AGGREGATES: dict[type[exp.Expr], exp.Expr] = {
    exp.Count: exp.Literal.number(0),
    exp.Sum: exp.Null(),
    exp.Max: exp.Null(),
    exp.Min: exp.Null(),
    exp.Avg: exp.Null(),
}


def _scalar_position(node: exp.Subquery, root: exp.Expr) -> bool:
    """Whether ``node`` is a scalar subquery of ``root``'s block where a per-row value
    is meant: anywhere in its ``WHERE``, or anywhere else in a SELECT that neither
    groups nor aggregates (there an item would be read from some row of a group)."""
    parent = node.parent
    if isinstance(parent, exp.In | exp.Exists | exp.Any | exp.All | exp.From | exp.Join):
        return False
    if isinstance(parent, exp.CTE | exp.Union | exp.Lateral) or node.args.get("alias"):
        return False
    if not _in_block(node, root):
        return False
    where = root.args.get("where")
    if where is not None and any(a is where for a in ancestors(node, root)):
        return True
    if not isinstance(root, exp.Select):
        return False
    grouped = root.args.get("group") or root.args.get("having")
    return not grouped and not any(contains_aggregate(e) for e in root.expressions)


def decorrelate_scalar(tree: exp.Expr) -> bool:
    """Rewrite ``tree``'s correlated scalar aggregates of one equality correlation into
    :data:`LOOKUP` markers (module docstring); whether any was rewritten."""
    if not isinstance(tree, exp.Select | exp.Update | exp.Delete):
        return False
    outer = _outer_names(tree)
    changed = False
    for node in list(tree.find_all(exp.Subquery)):
        if not _scalar_position(node, tree):
            continue
        found = _correlation(node.this, outer)
        if found is None or len(found[0].expressions) != 1:
            continue
        inner, inner_col, outer_col, rest = found
        item = inner.expressions[0]
        aggregate = item.this if isinstance(item, exp.Alias) else item
        empty = _AGGREGATES.get(type(aggregate))
        if empty is None:
            continue
        source = _outer_table(tree, outer_col.table)
        if source is None:
            continue
        collation = exp.Anonymous(this="COLLATION", expressions=[inner_col.copy()])
        items = [inner_col, aggregate, collation]
        grouped = _inner_query(inner, items, [*rest, _not_null(inner_col)])
        grouped.this.set("group", exp.Group(expressions=[inner_col.copy()]))
        probe = exp.Subquery(
            this=exp.select(exp.Anonymous(this="COLLATION", expressions=[outer_col.copy()]))
            .from_(source.copy())
            .limit(1)
        )
        args = [outer_col.copy(), grouped, empty.copy(), probe]
        node.replace(exp.Anonymous(this=LOOKUP, expressions=args))
        changed = True
    return changed
