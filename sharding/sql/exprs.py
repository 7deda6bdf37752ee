"""Small questions the planner asks about expressions of the top-level query.

"Top level" means outside nested SELECTs (:func:`sharding.sql.scope.top_level_nodes`):
an aggregate inside a subquery belongs to that subquery, not to the statement being
split across shards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlglot import exp

from sharding.errors import NotSupported
from sharding.merge.semantics import Semantics
from sharding.sql.scope import Scope, top_level_nodes


def is_aggregate(node: exp.Expr) -> bool:
    return isinstance(node, exp.AggFunc) or (
        isinstance(node, exp.Anonymous) and node.name.upper() == "TOTAL"
    )


def contains_aggregate(node: exp.Expr) -> bool:
    return any(is_aggregate(n) for n in top_level_nodes(node))


def contains_window(node: exp.Expr) -> bool:
    return any(isinstance(n, exp.Window) for n in top_level_nodes(node))


def conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    """The AND-ed parts of a condition (a WHERE/HAVING/ON clause or an expression)."""
    if node is None:
        return []
    if isinstance(node, exp.Where | exp.Having):
        node = node.this
    while isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        node = node.this
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


def and_all(parts: Sequence[exp.Expr]) -> exp.Expr | None:
    """The conjunction of ``parts`` (copies), or None for no parts."""
    if not parts:
        return None
    out = parts[0].copy()
    for p in parts[1:]:
        out = exp.and_(out, p.copy())
    return out


def ancestors(node: exp.Expr, root: exp.Expr) -> list[exp.Expr]:
    """The nodes between ``node`` and ``root`` (both excluded), nearest first."""
    out: list[exp.Expr] = []
    parent = node.parent
    while parent is not None and parent is not root:
        out.append(parent)
        parent = parent.parent
    return out


def column_collation(node: exp.Expr, scope: Scope) -> str | None:
    """The collation comparisons of ``node`` use: an explicit COLLATE, else its column's."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Collate):
        target = node.expression
        return (target.name if isinstance(target, exp.Expr) else str(target)).lower()
    if isinstance(node, exp.Column):
        found = scope.column_ref(node)
        if found is not None and found[1] is not None:
            return found[1].collation.lower() if found[1].collation else None
        return None
    if isinstance(node, exp.Cast | exp.Subquery | exp.Select | exp.Literal | exp.Placeholder):
        return None  # CAST(... AS CHAR): the connection's collation
    return _derived_collation(node, scope)


_TEXT_TYPE = re.compile(
    r"\s*(?:national\s+)?(?:var)?char|\s*n?(?:tiny|medium|long)?text|\s*enum|\s*set", re.I
)


def _derived_collation(node: exp.Expr, scope: Scope) -> str | None:
    """The collation of a string expression over columns (``UPPER(name)``,
    ``CONCAT(name, '-')``): MySQL derives it from its text columns' (implicit)
    collation — the shards sort and group with it, so the merge must too. A number
    result ignores it. Columns of different collations: MySQL's coercion rules (or
    error 1267) are not modelled, so the statement is refused across shards."""
    found: set[str | None] = set()
    for col in node.find_all(exp.Column):
        if _inside_query(col, node):
            continue
        ref = scope.column_ref(col)
        if ref is None or ref[1] is None or not _TEXT_TYPE.match(ref[1].type or ""):
            continue
        found.add(ref[1].collation.lower() if ref[1].collation else None)
    if len(found) > 1:
        raise NotSupported(
            f"an expression over text columns of different collations ({node.sql(dialect='mysql')}) "
            "across shards"
        )
    return next(iter(found)) if found else None


def _inside_query(col: exp.Expr, root: exp.Expr) -> bool:
    """True when ``col`` is in a nested query of ``root`` (another scope)."""
    parent = col.parent
    while parent is not None and parent is not root:
        if isinstance(parent, exp.Subquery | exp.Select):
            return True
        parent = parent.parent
    return False


_TEMPORAL_DECLARED = re.compile(
    r"\s*(?:date|datetime|timestamp|time)\b(?:\s*\(\s*(\d)\s*\))?", re.IGNORECASE
)
_UNSIGNED_DECLARED = re.compile(
    r"\s*(?:tinyint|smallint|mediumint|int|integer|bigint)\b[^,]*\bunsigned\b", re.IGNORECASE
)


def temporal_declared(declared: str | None) -> int | None:
    """The fractional digits of a column declared ``declared`` when it holds
    DATE/DATETIME/TIMESTAMP/TIME values (``datetime(3)``: 3, ``date``: 0); None for a
    column of another type."""
    m = _TEMPORAL_DECLARED.match(declared or "")
    if m is None:
        return None
    return int(m.group(1) or 0)


def unsigned_declared(declared: str | None) -> bool:
    """Whether a column declared ``declared`` is an UNSIGNED integer."""
    return _UNSIGNED_DECLARED.match(declared or "") is not None


def column_affinity(node: exp.Expr, scope: Scope, sem: Semantics) -> str | None:
    """The type affinity of a column (or CAST) expression; None for anything else."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        found = scope.column_ref(node)
        if found is not None and found[1] is not None:
            return sem.affinity(found[1].type)
    if isinstance(node, exp.Cast):
        to = node.args.get("to")
        return sem.affinity(to.sql(dialect=sem.dialect)) if to is not None else None
    return None
