"""The top of a plan computed in the coordinator: select list, DISTINCT, ORDER BY, LIMIT.

Used above merged aggregates and above a cross-shard join, where the select list is an
expression over merged values (compiled with :mod:`sharding.merge.evaluate`)::

    Project(select list + hidden ORDER BY values) → Distinct → Sort/TopN → Limit
        → Project(drop the hidden values)

An ORDER BY term that is not a select item is computed as a hidden column; with
``SELECT DISTINCT`` that is refused, as in MySQL (the order would depend on which of
the equal rows was kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from sharding.errors import NotSupported
from sharding.merge.evaluate import Compiled, Compiler
from sharding.merge.semantics import SortItem
from sharding.sql.backend_eval import BackendEvalNode, BackendExpr, appended_value, backend_expr
from sharding.sql.clauses import Item, OrderTerm
from sharding.sql.nodes import DistinctNode, LimitNode, LimitRef, ProjectNode, SortNode


def finish_select(
    node: Any,
    tree: exp.Select,
    items: Sequence[Item],
    terms: Sequence[OrderTerm],
    select: Compiler,
    order: Compiler,
    *,
    sort: bool,
    limit: LimitRef | None,
    dedupe: bool = True,
) -> Any:
    """Plan nodes above ``node`` (see module docstring).

    ``select``/``order`` compile the select list and the other ORDER BY terms (two
    compilers so an error names the clause); ``sort``: the input is not already in
    ORDER BY order; ``dedupe``: apply SELECT DISTINCT here (False when the grouping
    below already was the DISTINCT).
    """
    compiled, node = _compile_items(node, tree, items, terms, select)
    visible = len(items)
    hidden: list[Compiled] = []
    sort_items: list[SortItem] = []
    distinct = tree.args.get("distinct") is not None
    for term in terms:
        if term.index is None:
            if distinct:
                raise NotSupported("ORDER BY an expression not in the SELECT DISTINCT list")
            c = order.compile(term.expr)
            hidden.append(c)
            index = visible + len(hidden) - 1
        else:
            index, c = term.index, compiled[term.index]
        sort_items.append(SortItem(index, term.desc, term.nulls_first, c.collation, c.enum))
    node = ProjectNode(
        node, exprs=tuple(c.fn for c in compiled + hidden), text="compute select list"
    )
    if distinct and dedupe:
        node = DistinctNode(node, tuple(c.collation for c in compiled))
    if sort:
        node = SortNode(node, tuple(sort_items), limit)
    if limit is not None:
        node = LimitNode(node, limit)
    if hidden:
        node = ProjectNode(node, columns=tuple(range(visible)), text="drop hidden columns")
    return node


def _compile_items(
    node: Any,
    tree: exp.Select,
    items: Sequence[Item],
    terms: Sequence[OrderTerm],
    select: Compiler,
) -> tuple[list[Compiled], Any]:
    """The select items compiled over ``node``'s rows; items only MariaDB can compute
    (:mod:`sharding.sql.backend_eval`) read the values a :class:`BackendEvalNode`
    appends to each row, which is then the returned node."""
    compiled: list[Compiled | None] = []
    deferred: list[tuple[int, BackendExpr]] = []
    mysql = select.sem.dialect == "mysql"
    # The SQLite default computes a function the Python rules do not know the same way
    # (one statement on a shard connection, with the MySQL layer of its functions).
    evaluates = mysql or select.sem.dialect == "sqlite"
    for position, it in enumerate(items):
        ordered = any(t.index == position for t in terms) or tree.args.get("distinct") is not None
        # The Python rules keep each branch's own type where MySQL unifies the branches
        # of IF / CASE / COALESCE (``IF(c, 1, 2.5)`` is 1.0): MariaDB computes those.
        unify = mysql and not ordered and it.expr.find(exp.Case, exp.If, exp.Coalesce) is not None
        be = backend_expr(it.expr, select) if unify else None
        if be is None:
            try:
                compiled.append(select.compile(it.expr))
                continue
            except NotSupported:
                be = backend_expr(it.expr, select) if evaluates and not ordered else None
                if be is None:
                    raise
        compiled.append(None)
        deferred.append((position, be))
    if not deferred:
        return [c for c in compiled if c is not None], node
    width = len(deferred)
    for j, (position, _) in enumerate(deferred):
        offset = j - width  # appended at the end of each row: row[-width + j]
        compiled[position] = Compiled(appended_value(offset))
    out = [c for c in compiled if c is not None]
    return out, BackendEvalNode(node, tuple(be for _, be in deferred))
