"""Select items over merged rows that MariaDB computes (issue 18, item 6).

Above merged aggregates (or a cross-shard join) the coordinator computes each select
item from the merged values. Arithmetic, comparisons, ``ROUND`` and a few others have
exact rules in :mod:`sharding.merge.evaluate`; every other MySQL function
(``CONCAT(MAX(a), '-')``, ``UPPER(MIN(s))``, ``COALESCE``, ``IF``, ``DATE_FORMAT``,
``LPAD`` ...) would need a second implementation of MySQL in Python, each a chance of a
wrong answer. Instead, with MariaDB data sources, such an item is a *template*: its
merged inputs become typed literals (:func:`sharding.sql.materialize.literal_node`;
text with its column's collation, so a comparison inside uses it as MySQL would) and
the data source evaluates ``SELECT <item for row 1>, <item for row 2>, ...`` — one
column per (row, item), so every value is typed on its own, exactly as the one-row
evaluation MySQL does (a ``UNION`` of rows would unify their types and change values).
One round trip per batch of merged rows (:class:`BackendEvalNode`).

Above merged aggregates, HAVING conjuncts and ORDER BY terms are computed the same way
(:func:`sharding.sql.aggregate_plan._finish`: one node for all of them; a sorted value
takes its text inputs' collation). Not done: such a value sorted or deduplicated when
its collation is not known (text inputs of several collations, or none), non-deterministic or session functions (``NOW``,
``RAND``, ``UUID``, ``CONNECTION_ID`` ...: MySQL evaluates them in the statement, not
later) and subqueries.

On the SQLite embedded default the same statement runs on a shard connection,
rendered for SQLite: its functions are the MySQL layer registered there (the one every
SQLite shard read uses, :mod:`sharding.backend.sqlite_mysql`) and the merged values
are SQLite literals of their MySQL type (:func:`sharding.sql.materialize.literal_node`),
so a value is computed as a one-shard read of the same expression would compute it.
The fidelity suite's SQLite variants compare them with MariaDB. The IF/CASE/COALESCE
branch typing stays with the Python rules there (:meth:`sharding.merge.evaluate.
Compiler._unified`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from sharding.merge.evaluate import Compiler
from sharding.sql.rewrite import render_expression
from sharding.sql.template import Template, table_marker

if TYPE_CHECKING:
    from sharding.sql.nodes import PlanNode

__all__ = ["BackendEvalNode", "BackendExpr", "appended_offset", "appended_value", "backend_expr"]

#: Functions whose value depends on when or where they run: never evaluated later.
_VOLATILE = frozenset(
    {
        "NOW",
        "SYSDATE",
        "CURDATE",
        "CURTIME",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "CURRENT_TIMESTAMP",
        "CURRENTDATE",
        "CURRENTTIME",
        "CURRENTTIMESTAMP",
        "LOCALTIME",
        "LOCALTIMESTAMP",
        "UTC_DATE",
        "UTC_TIME",
        "UTC_TIMESTAMP",
        "UNIX_TIMESTAMP",
        "RAND",
        "UUID",
        "UUID_SHORT",
        "CONNECTION_ID",
        "LAST_INSERT_ID",
        "ROW_COUNT",
        "FOUND_ROWS",
        "DATABASE",
        "SCHEMA",
        "USER",
        "CURRENT_USER",
        "SESSION_USER",
        "SYSTEM_USER",
        "SLEEP",
        "BENCHMARK",
        "GET_LOCK",
        "RELEASE_LOCK",
        "NEXTVAL",
        "LASTVAL",
        "SETVAL",
    }
)


@dataclass(frozen=True)
class BackendExpr:
    """One select item as SQL: parameter holes bound per call, table holes ``k`` stand
    for the merged input value at ``inputs[k]`` (with ``collations[k]`` for text)."""

    template: Template
    inputs: tuple[int, ...]
    collations: tuple[str | None, ...]
    text: str
    #: The data sources' dialect the template is rendered for (its literals too).
    dialect: str = "mysql"


@dataclass(frozen=True)
class BackendEvalNode:
    """Input rows with each ``exprs`` item's value appended, computed by a data source."""

    child: PlanNode
    exprs: tuple[BackendExpr, ...]


def backend_expr(node: exp.Expr, compiler: Compiler) -> BackendExpr | None:
    """``node`` as a template over the merged row, or None when MariaDB cannot compute
    it later with the same answer (module docstring)."""
    if node.find(exp.Select, exp.Subquery, exp.Window, exp.Parameter, exp.SessionParameter):
        return None
    for f in node.find_all(exp.Func):
        name = f.name.upper() if isinstance(f, exp.Anonymous) else f.sql_name().upper()
        if name in _VOLATILE or type(f).__name__.upper() in _VOLATILE:
            return None
    if compiler.resolver.lookup(node) is not None:
        return None  # a merged (or already computed) value itself: nothing to compute
    copied = node.copy()
    inputs: list[int] = []
    collations: list[str | None] = []
    pairs: list[tuple[exp.Expr, exp.Expr]] = []
    stack: list[exp.Expr] = [copied]
    while stack:
        sub = stack.pop()
        ref = compiler.resolver.lookup(sub)
        if ref is not None and ref.enum is not None:
            return None  # an ENUM is a label and an index: a literal would be only one
        if ref is not None:
            marker = exp.Var(this=table_marker(len(inputs)))
            inputs.append(ref.index)
            collations.append(ref.collation)
            pairs.append((sub, marker))
            continue
        if isinstance(sub, exp.Column | exp.AggFunc):
            return None  # a column or aggregate the merged row does not hold
        stack.extend(sub.iter_expressions())
    if not inputs:
        return None
    for old, new in pairs:
        if old is copied:
            copied = new
        else:
            old.replace(new)
    dialect = compiler.sem.dialect
    # In parentheses: the SQLite translation replaces function nodes below the root
    # only (``LEFT(…)`` alone would stay SQLite's keyword, ``DATEDIFF`` sqlglot's).
    template = render_expression(exp.Paren(this=copied), dialect)
    return BackendExpr(
        template, tuple(inputs), tuple(collations), node.sql(dialect="mysql"), dialect
    )


def appended_value(offset: int) -> Any:
    """A compiled select item reading ``row[offset]``: a negative offset, the value a
    :class:`BackendEvalNode` appended to the row."""
    return lambda row, p: row[offset]


_APPENDED_CODE = appended_value(-1).__code__


def appended_offset(fn: object) -> int | None:
    """The offset an :func:`appended_value` item reads, or None for another function."""
    if getattr(fn, "__code__", None) is not _APPENDED_CODE:
        return None
    cells: tuple[Any, ...] = getattr(fn, "__closure__", None) or ()
    value = cells[0].cell_contents if len(cells) == 1 else None
    return value if isinstance(value, int) else None
