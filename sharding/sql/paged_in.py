"""``x IN (SELECT k …)`` past ``cluster.subquery_rows``: the subquery's values in pages.

An uncorrelated ``IN`` subquery runs first and its values go into the outer statement
(:mod:`sharding.sql.materialize`), bounded by ``cluster.subquery_rows``. A larger result
(a million ids) used to be refused. For the commonest shape it does not need to be held
at all: when the outer statement only *filters* rows of one table by the ``IN`` (a plain
``SELECT`` of row items, the ``IN`` one of the ``AND``-ed conditions of its ``WHERE``),
its answer is the union of its answers over any partition of the value set — each row
matches at most one part. So the values are read in key order, ``page`` at a time
(``SELECT k … WHERE <its own conditions> AND k > <last> ORDER BY k LIMIT page``), and
the outer statement runs once per page with that page as a folded list (cut per shard
on the shard key, :mod:`sharding.exec.key_lists`); the rows of all runs are the result.
Memory stays ``page`` values; MySQL gives such a result in no particular order, and so
does this.

Only integer values are paged: ``k > last`` and ``ORDER BY k`` then mean the same as
the ``IN``'s equality, whatever the columns' collations (a page boundary between two
strings equal under one collation and not under another could lose a match). The
pages are separate statements: in autocommit, writes committed between them can be
seen by later pages (inside a transaction the snapshot covers them all).

Other statements past the bound (``NOT IN``, aggregates, ``ORDER BY``/``LIMIT``,
``DISTINCT``, text keys) run as a semi/anti join instead (:mod:`sharding.sql.semi_join`).

This module is the pure half (which statements qualify, the page queries); the session
runs them (``sharding.session_reads._select_in_pages``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from sharding.sql.materialize import SubqueryUse, single_column_in

__all__ = ["PagedIn", "page_query", "paged_in"]


@dataclass(eq=False)
class PagedIn:
    """The statement's one ``IN`` subquery that may be read in pages."""

    use: SubqueryUse
    #: The subquery's one select item (the values), without alias.
    key: exp.Expr


def _conjunct_of_where(node: exp.Expr, root: exp.Select) -> bool:
    parent = node.parent
    while isinstance(parent, exp.And | exp.Paren):
        parent = parent.parent
    return isinstance(parent, exp.Where) and parent.parent is root


def _plain_rows(select: exp.Select) -> bool:
    """A SELECT of row items from one table: nothing that looks across rows."""
    if any(
        select.args.get(k)
        for k in (
            "joins",
            "group",
            "having",
            "order",
            "limit",
            "offset",
            "distinct",
            "with",
            "with_",
            "windows",
            "locks",
            "into",
            "laterals",
            "qualify",
        )
    ):
        return False
    source = select.args.get("from_") or select.args.get("from")
    if source is None or not isinstance(source.this, exp.Table):
        return False
    return not any(
        isinstance(n, exp.AggFunc | exp.Window) for e in select.expressions for n in e.walk()
    )


def paged_in(tree: exp.Expr) -> PagedIn | None:
    """The ``IN`` subquery of ``tree`` that may be read in pages (module docstring), or
    None. ``tree`` is the parsed statement (before any value replaced a subquery)."""
    if not isinstance(tree, exp.Select) or not _plain_rows(tree):
        return None
    use = single_column_in(tree)
    if use is None:
        return None
    target = use.target
    assert isinstance(target, exp.In) and isinstance(target.this, exp.Column)
    if not _conjunct_of_where(target, tree):
        return None
    inner = use.select
    if not isinstance(inner, exp.Select) or len(inner.expressions) != 1 or not _plain_rows(inner):
        return None
    if inner.find(exp.Subquery):
        return None  # its own subqueries would need materialising per page
    key = inner.expressions[0]
    if isinstance(key, exp.Alias):
        key = key.this
    if isinstance(key, exp.Star):
        return None
    return PagedIn(use, key)


def page_query(paged: PagedIn, after: int | None, size: int) -> exp.Select:
    """The subquery reading the page of values after ``after`` (None: the first page),
    ``size`` values at most, in order. NULLs are left out: ``x IN (…, NULL)`` selects
    the same rows as without it."""
    inner = paged.use.select.copy()
    assert isinstance(inner, exp.Select)
    key = paged.key.copy()
    bound: exp.Expr = (
        exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null()))
        if after is None
        else exp.GT(this=key.copy(), expression=exp.Literal.number(after))
    )
    where = inner.args.get("where")
    condition = bound if where is None else exp.and_(exp.Paren(this=where.this), bound)
    inner.set("where", exp.Where(this=condition))
    inner.set("order", exp.Order(expressions=[exp.Ordered(this=key.copy(), nulls_first=True)]))
    inner.set("limit", exp.Limit(expression=exp.Literal.number(size)))
    return inner
