"""``x [NOT] IN (SELECT k …)`` past ``cluster.subquery_rows``: a semi/anti join (issue 18).

An uncorrelated ``IN`` subquery runs first and its values go into the outer statement
(:mod:`sharding.sql.materialize`), at most ``cluster.subquery_rows`` of them. Past that
bound a plain row filter of integer keys is read in pages (:mod:`sharding.sql.paged_in`);
the other shapes — ``NOT IN``, aggregates / ``GROUP BY`` / ``ORDER BY`` / ``LIMIT`` /
``DISTINCT`` over the filtered rows, text keys — are rewritten here into a join of the
outer table with the subquery as a derived table, which the merge engine runs as a
:class:`~sharding.sql.nodes.SortMergeJoinNode` (:func:`sharding.sql.derived_plan.plan_derived_join`):
the table read in key order from its shards, the subquery's distinct values sorted by the
coordinator (held: at most ``cluster.union_rows``, a 1235 naming it past that).

Recognised: a ``SELECT`` from one table (no join, no ``WITH``), whose only subquery used
as a value is the ``IN`` — its left side a column of that table, its subquery one item
(a ``SELECT`` or a ``UNION``) — standing as one of the ``AND``-ed conditions of the
``WHERE``:

* **semi-join** ``x IN (S)``: ``t JOIN (SELECT DISTINCT k AS _sg_semi_k …) AS _sg_semi
  ON t.x = _sg_semi._sg_semi_k``, the condition dropped. A ``WHERE`` keeps a row where
  the ``IN`` is TRUE, i.e. some value of ``S`` equals ``x`` (MySQL compares an ``IN``
  like ``=``); the values are distinct, so each row joins at most once — the rows of the
  join are the rows the filter keeps, each once, and everything above (aggregates,
  grouping, ``DISTINCT``, ``ORDER BY``, ``LIMIT``, the select list) is computed over them
  as over any cross-shard join. The join needs keys that compare alike (same type
  affinity and collation, not ENUM/SET: the join planner refuses the others, 1235), so
  its equality, and the ``DISTINCT`` under it, are the ``IN``'s. Temporal keys have no
  affinity there; here they must be of one kind (DATETIME/TIMESTAMP, DATE, TIME, YEAR:
  :func:`key_refusal`) — MySQL compares a DATETIME with a DATE as datetimes, Python's
  values not at all; a FLOAT key is refused (MySQL compares it in single precision, its
  value arrives as its shortest decimal text).
* **anti-join** ``x NOT IN (S)`` (MySQL's NULL rules): TRUE for every row when ``S`` is
  empty, never TRUE when ``S`` has a NULL, else TRUE exactly for a non-NULL ``x`` equal
  to no value. Two bounded questions first (:func:`null_probe`, :func:`empty_probe`:
  ``LIMIT 1`` each); then the condition is ``TRUE``, ``FALSE``, or the ``LEFT JOIN`` with
  ``_sg_semi._sg_semi_k IS NULL AND x IS NOT NULL``.
* **not exists** — what :mod:`sharding.sql.decorrelate` makes of a correlated
  ``NOT EXISTS`` of one equality: ``NOT (x IS NOT NULL AND x IN (S))``: TRUE exactly
  when no value equals ``x`` (a NULL ``x`` included); the ``LEFT JOIN`` with
  ``_sg_semi._sg_semi_k IS NULL`` (a NULL value never joins).

A ``SELECT *`` keeps the table's columns (``t.*``); the select list is otherwise left as
written, so the result's names and types are the statement's own. Anything else past
the bound keeps the refusal naming ``cluster.subquery_rows``.

This module is the pure half; the session runs it
(``sharding.session_reads._select_semi_join``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from sharding.backend.base import ColumnType
from sharding.sql.exprs import and_all, conjuncts
from sharding.sql.materialize import SubqueryUse, single_column_in

__all__ = [
    "ALIAS",
    "KEY",
    "SemiJoin",
    "empty_probe",
    "join_statement",
    "key_probe",
    "key_refusal",
    "null_probe",
    "semi_join",
    "with_condition",
]

#: The derived table of the subquery's values, and its one column.
ALIAS = "_sg_semi"
KEY = "_sg_semi_k"


@dataclass(eq=False)
class SemiJoin:
    """The statement's ``IN`` subquery that may run as a join (module docstring)."""

    #: ``semi`` (``x IN``), ``anti`` (``x NOT IN``) or ``not_exists``.
    kind: str
    use: SubqueryUse
    #: The ``WHERE`` conjunct holding the ``IN`` (the ``IN`` itself or its ``NOT``).
    conjunct: exp.Expr


_CLAUSES_REFUSED = ("joins", "with", "with_", "laterals", "into", "locks", "connect", "match")


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _under(node: exp.Expr, ancestor: exp.Expr) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _one_item(query: exp.Expr) -> bool:
    """A subquery of one value per row (a UNION: its first block's one item), whose
    item may be renamed :data:`KEY`: an alias of it is named nowhere else in the
    subquery (``HAVING m > 5``, ``ORDER BY m``)."""
    select = query
    while isinstance(select, exp.Union):
        select = select.this
        if isinstance(select, exp.Subquery):
            select = select.this
    if not isinstance(select, exp.Select) or len(select.expressions) != 1:
        return False
    item = select.expressions[0]
    if isinstance(item, exp.Alias):
        alias = item.alias.lower()
        named = (
            c
            for c in query.find_all(exp.Column)
            if not c.table and c.name.lower() == alias and not _under(c, item)
        )
        if any(True for _ in named):
            return False
        item = item.this
    return not isinstance(item, exp.Star) and not (
        isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
    )


def _kind(part: exp.Expr, target: exp.In) -> str | None:
    """How the ``WHERE`` conjunct ``part`` holds the ``IN`` ``target`` (module docstring)."""
    node = _unparen(part)
    if node is target:
        return "semi"
    if not isinstance(node, exp.Not):
        return None
    inner = _unparen(node.this)
    if inner is target:
        return "anti"
    if isinstance(inner, exp.And) and _unparen(inner.expression) is target:
        guard = _unparen(inner.this)
        if (
            isinstance(guard, exp.Not)
            and isinstance(guard.this, exp.Is)
            and isinstance(guard.this.expression, exp.Null)
            and guard.this.this == target.this
        ):
            return "not_exists"
    return None


def semi_join(tree: exp.Expr) -> SemiJoin | None:
    """The ``IN`` subquery of ``tree`` that may run as a join (module docstring), or
    None. ``tree`` is the parsed statement, decorrelated as it runs."""
    if not isinstance(tree, exp.Select) or any(tree.args.get(k) for k in _CLAUSES_REFUSED):
        return None
    source = tree.args.get("from_") or tree.args.get("from")
    if source is None or not isinstance(source.this, exp.Table):
        return None
    use = single_column_in(tree)
    if use is None:
        return None
    target = use.target
    assert isinstance(target, exp.In) and isinstance(target.this, exp.Column)
    if isinstance(target.this.this, exp.Star) or not _one_item(use.select):
        return None
    for part in conjuncts(tree.args.get("where")):
        kind = _kind(part, target)
        if kind is not None:
            return SemiJoin(kind, use, part)
    return None


def _values(sj: SemiJoin, *, distinct: bool) -> exp.Expr:
    """A copy of the subquery, its one item named :data:`KEY` (``distinct``: its
    distinct values — a UNION made a UNION DISTINCT, which in MySQL dedups every
    block to its left as well)."""
    body = sj.use.select.copy()
    first = body
    while isinstance(first, exp.Union):
        if distinct:
            first.set("distinct", True)
            distinct = False  # the outermost one dedups the whole result
        first = first.this
        if isinstance(first, exp.Subquery):
            first = first.this
    assert isinstance(first, exp.Select)
    item = first.expressions[0]
    value = item.this if isinstance(item, exp.Alias) else item
    first.set("expressions", [exp.alias_(value.copy(), KEY)])
    if distinct and isinstance(body, exp.Select):
        body.set("distinct", exp.Distinct())
    return body


def _derived(body: exp.Expr) -> exp.Subquery:
    return exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(ALIAS)))


def _key() -> exp.Column:
    return exp.column(KEY, table=ALIAS)


def _probe(sj: SemiJoin, condition: exp.Expr | None) -> exp.Select:
    select = exp.Select(expressions=[exp.Literal.number(1)])
    select.set("from_", exp.From(this=_derived(_values(sj, distinct=False))))
    if condition is not None:
        select.set("where", exp.Where(this=condition))
    select.set("limit", exp.Limit(expression=exp.Literal.number(1)))
    return select


def null_probe(sj: SemiJoin) -> exp.Select:
    """``SELECT 1 FROM (S) AS _sg_semi WHERE _sg_semi_k IS NULL LIMIT 1``: a row when the
    subquery has a NULL value."""
    return _probe(sj, exp.Is(this=_key(), expression=exp.Null()))


def empty_probe(sj: SemiJoin) -> exp.Select:
    """``SELECT 1 FROM (S) AS _sg_semi LIMIT 1``: no row when the subquery is empty."""
    return _probe(sj, None)


def _rebuild_where(tree: exp.Select, drop: exp.Expr, add: list[exp.Expr]) -> None:
    parts = [p for p in conjuncts(tree.args.get("where")) if p is not drop]
    condition = and_all([*parts, *add])
    tree.set("where", None if condition is None else exp.Where(this=condition))


def with_condition(tree: exp.Select, sj: SemiJoin, value: bool) -> None:
    """The ``NOT IN`` conjunct of ``tree`` replaced by its value for every row: TRUE
    (dropped; the subquery is empty) or FALSE (it has a NULL)."""
    _rebuild_where(tree, sj.conjunct, [] if value else [exp.false()])


def join_statement(tree: exp.Select, sj: SemiJoin) -> None:
    """``tree`` (the statement ``sj`` was found in) rewritten in place into its join
    form (module docstring)."""
    source = tree.args.get("from_") or tree.args.get("from")
    assert source is not None and isinstance(source.this, exp.Table)
    name = source.this.alias_or_name
    target = sj.use.target
    assert isinstance(target, exp.In) and isinstance(target.this, exp.Column)
    x = target.this.copy()
    if not x.table:
        x.set("table", exp.to_identifier(name))
    items = [
        exp.Column(this=exp.Star(), table=exp.to_identifier(name))
        if isinstance(item, exp.Star)
        else item
        for item in tree.expressions
    ]
    tree.set("expressions", items)
    join = exp.Join(
        this=_derived(_values(sj, distinct=True)),
        on=exp.EQ(this=x.copy(), expression=_key()),
    )
    add: list[exp.Expr] = []
    if sj.kind != "semi":
        join.set("side", "LEFT")
        add.append(exp.Is(this=_key(), expression=exp.Null()))
        if sj.kind == "anti":
            add.append(exp.Not(this=exp.Is(this=x.copy(), expression=exp.Null())))
    _rebuild_where(tree, sj.conjunct, add)
    tree.set("joins", [join])


#: Temporal MySQL type codes by the kind of value they compare as.
_FLOAT = 4
_TEMPORAL = {7: "DATETIME", 12: "DATETIME", 10: "DATE", 14: "DATE", 11: "TIME", 13: "YEAR"}


def key_probe(joined: exp.Select) -> exp.Select:
    """``SELECT x, _sg_semi._sg_semi_k FROM t JOIN (…) AS _sg_semi …`` of a statement
    :func:`join_statement` made: its result columns are the two keys (their types)."""
    probe = joined.copy()
    join = probe.args["joins"][0]
    on = join.args["on"]
    assert isinstance(on, exp.EQ)
    for key in ("group", "having", "order", "limit", "offset", "distinct", "windows"):
        probe.set(key, None)
    probe.set("expressions", [on.this.copy(), on.expression.copy()])
    return probe


def key_refusal(x: ColumnType | None, k: ColumnType | None) -> str | None:
    """Why the join's equality could compare the keys of types ``x`` and ``k`` other
    than MySQL's ``IN`` does, or None: a FLOAT key, temporal keys of different kinds, or
    a temporal key with one of unknown type (the others the join planner checks)."""
    kinds = [
        (_TEMPORAL.get(t.type), str(t.type)) if t is not None else ("?", "unknown") for t in (x, k)
    ]
    (kx, nx), (kk, nk) = kinds
    if any(t is not None and t.type == _FLOAT for t in (x, k)):
        # Sent as its shortest decimal text: two FLOATs MySQL tells apart may read alike.
        return "a FLOAT key (compared by MySQL in single precision)"
    if kx is None and kk is None:
        return None
    if kx == kk and kx != "?":
        return None
    if "?" in (kx, kk):
        return "a key whose type is not known before running"
    return f"keys of different temporal types (MySQL type codes {nx} and {nk})"
