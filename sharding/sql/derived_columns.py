"""The columns of a derived table or CTE (issue 18.3): names, MySQL types, merge facts.

A FROM source ``(SELECT ...) AS d`` or a reference to a CTE ``WITH d [(a, b)] AS
(SELECT ...)`` has no catalog entry. This module describes it as a stand-in
:class:`~sharding.catalog.TableInfo` (in the database :data:`SYNTHETIC_DB`), so name
resolution (:class:`~sharding.sql.scope.Scope`), the merge's comparisons (type
affinity, collation, ENUM labels) and result typing (:mod:`sharding.sql.describe`)
treat it as one more table:

* **names** — MySQL's: the derived column list of a CTE when it has one (a count that
  differs is MariaDB's error 4002), else each select item's name in the body's first
  query block (an alias, a column's name as written, an expression's text; a ``*``
  stands for its tables' columns). Two equal names (case-insensitive) are error 1060.
* **types** — what :func:`sharding.sql.describe.describe_plan` derives for the body
  (a :class:`~sharding.sql.describe.SlotTyped` where a literal of the call decides).
* **per column** — a select item that is a column keeps that column's catalog entry
  (declared type, collation, ENUM labels); any other item gets a declared type
  written from its MySQL type and the collation of the text columns it is computed
  from (:attr:`DerivedTable.mixed` lists items over several collations). A column of
  a set operation (UNION ...) is text, not ENUM/SET (MySQL compares the union's value
  as a string).
* **expressions** — the body's first-block select item behind each column (a ``*``
  expanded to qualified columns), which a condition on the derived table can be
  rewritten to (:mod:`sharding.sql.derived_plan`).

Nothing here plans or runs anything; a body whose columns cannot be told (``*`` over a
table without catalog columns) gives None.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from sqlglot import exp

from sharding.backend.base import ColumnType
from sharding.catalog import ColumnInfo, TableInfo
from sharding.errors import ShardgateError
from sharding.topology import ShardRule

if TYPE_CHECKING:
    from sharding.sql.describe import SlotTyped


class _Columns(Protocol):
    def column(self, col: exp.Column) -> tuple[ColumnInfo, TableInfo] | None: ...


__all__ = [
    "SYNTHETIC_DB",
    "DerivedTable",
    "cte_map",
    "cte_scope",
    "declared_type",
    "derived_body",
    "derived_table",
    "needed_ctes",
]

#: The database of a derived table's stand-in TableInfo (no real database has it).
SYNTHETIC_DB = "<derived>"

_TEXT_TYPE = re.compile(
    r"\s*(?:national\s+)?(?:var)?char|\s*n?(?:tiny|medium|long)?text|\s*enum|\s*set", re.I
)
_SET_OPS = (exp.Union, exp.Intersect, exp.Except)


@dataclass(frozen=True)
class DerivedTable:
    """A derived table or CTE reference described as a table (module docstring)."""

    alias: str
    #: The query (the Subquery's or CTE's own node, not a copy).
    body: exp.Expr
    info: TableInfo
    #: One per column: its MySQL type, or a SlotTyped typed per call.
    types: tuple[ColumnType | SlotTyped, ...]
    #: Per column: the body's first-block select expression behind it.
    exprs: tuple[exp.Expr, ...]
    #: Columns computed from text columns of several collations.
    mixed: tuple[str, ...] = ()
    #: The CTE referenced (None: a derived table).
    cte: exp.CTE | None = None


def cte_map(tree: exp.Expr, inherited: Mapping[str, exp.CTE] | None = None) -> dict[str, exp.CTE]:
    """The CTEs a query's FROM clause can name: ``inherited`` ones, then those of the
    query's own ``WITH`` (which shadow them)."""
    out = dict(inherited or {})
    with_ = tree.args.get("with_") or tree.args.get("with")
    if isinstance(with_, exp.With):
        for cte in with_.expressions:
            if isinstance(cte, exp.CTE) and cte.alias_or_name:
                out[cte.alias_or_name.lower()] = cte
    return out


def cte_scope(cte: exp.CTE, ctes: Mapping[str, exp.CTE]) -> dict[str, exp.CTE]:
    """The CTEs a non-recursive CTE's body can name: those written before it."""
    out: dict[str, exp.CTE] = {}
    for name, other in ctes.items():
        if other is cte:
            break
        out[name] = other
    return out


def needed_ctes(query: exp.Expr, visible: Mapping[str, exp.CTE]) -> list[exp.CTE]:
    """The CTEs of ``visible`` that ``query`` names, directly or through another one,
    in their written order."""
    wanted: set[str] = set()
    stack = [query]
    while stack:
        q = stack.pop()
        for t in q.find_all(exp.Table):
            name = t.name.lower()
            if t.db or name not in visible or name in wanted:
                continue
            wanted.add(name)
            stack.append(visible[name].this)
    return [cte for name, cte in visible.items() if name in wanted]


def derived_body(
    src: exp.Expr, ctes: Mapping[str, exp.CTE]
) -> tuple[str, exp.Expr, list[str] | None, exp.CTE | None] | None:
    """``(alias, body, column list, CTE)`` of a FROM source that is a derived table or
    names a CTE; None for anything else."""
    if isinstance(src, exp.Subquery):
        alias = src.args.get("alias")
        if not isinstance(alias, exp.TableAlias) or not src.alias:
            return None
        columns = [c.name for c in alias.columns] if alias.columns else None
        return src.alias, src.this, columns, None
    if isinstance(src, exp.Table) and not src.db and src.name:
        cte = ctes.get(src.name.lower())
        if cte is None:
            return None
        cte_alias = cte.args.get("alias")
        columns = None
        if isinstance(cte_alias, exp.TableAlias) and cte_alias.columns:
            columns = [c.name for c in cte_alias.columns]
        return src.alias_or_name, cte.this, columns, cte
    return None


def _default_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Alias):
        return node.alias
    inner = node
    while isinstance(inner, exp.Paren):
        inner = inner.this
    if isinstance(inner, exp.Column):
        return inner.name
    return node.sql(dialect="mysql")


def derived_table(
    src: exp.Expr,
    tables: Mapping[tuple[str, str], TableInfo],
    database: str | None,
    ctes: Mapping[str, exp.CTE],
    *,
    name_of: Callable[[exp.Expr], str] | None = None,
    resolve: Callable[[SlotTyped], ColumnType] | None = None,
) -> DerivedTable | None:
    """The derived table or CTE reference ``src`` as a table (module docstring); None
    when ``src`` is neither, or its columns cannot be told before running.

    ``name_of``: the name of a select item that is neither aliased nor a column
    (default: its SQL text); ``resolve``: the type of a
    :class:`~sharding.sql.describe.SlotTyped` column for this call (default: left
    unresolved, its declared type empty). Raises MariaDB's errors for duplicate names
    (1060) and a CTE column list of another length (4002)."""
    from sharding.sql.describe import SlotTyped, _Scope, describe_block, recursive_field

    found = derived_body(src, ctes)
    if found is None:
        return None
    alias, body, column_list, cte = found
    inner_ctes = cte_scope(cte, ctes) if cte is not None else dict(ctes)
    block: exp.Expr = body
    inner_ctes = cte_map(block, inner_ctes)
    while isinstance(block, (exp.Subquery, *_SET_OPS)):
        block = block.this
        inner_ctes = cte_map(block, inner_ctes)
    if not isinstance(block, exp.Select):
        return None
    # The body's types are its first block's (sharding.sql.describe.describe_plan).
    scope = _Scope(block, tables, database, ctes=inner_ctes)
    types = describe_block(block, scope)
    if types is None:
        return None
    written = {n.lower(): n for n in _source_aliases(block)}
    # A nested derived table's names as this call names them (``name_of``).
    nested: dict[str, TableInfo] = {}
    if name_of is not None:
        for src_node in _sources(block):
            sub = derived_table(
                src_node, tables, database, inner_ctes, name_of=name_of, resolve=resolve
            )
            if sub is not None:
                nested[sub.alias.lower()] = sub.info
    names: list[str] = []
    exprs: list[exp.Expr] = []
    infos: list[ColumnInfo | None] = []
    for item in block.expressions:
        if isinstance(item, exp.Star) or (
            isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
        ):
            qualifier = item.table.lower() if isinstance(item, exp.Column) else ""
            chosen = [(a, t) for a, t in scope.by_alias.items() if qualifier in ("", a)]
            if not chosen or any(not t.columns for _, t in chosen):
                return None
            for a, t in chosen:
                for c in nested.get(a, t).columns:
                    names.append(c.name)
                    exprs.append(exp.column(c.name, table=written.get(a, a)))
                    infos.append(c)
            continue
        inner = item.this if isinstance(item, exp.Alias) else item
        bare = inner
        while isinstance(bare, exp.Paren):
            bare = bare.this
        if isinstance(item, exp.Alias) or isinstance(bare, exp.Column):
            names.append(_default_name(item))
        else:
            names.append(name_of(item) if name_of is not None else _default_name(item))
        exprs.append(inner)
        hit = scope.column(bare) if isinstance(bare, exp.Column) else None
        infos.append(hit[0] if hit is not None else None)
    if len(names) != len(types):
        return None
    recursive = cte is not None and _recursive(cte)
    if recursive:
        # Its columns: the anchor's items as a temporary table's fields.
        types = [recursive_field(t, e) for t, e in zip(types, exprs, strict=True)]
    if column_list is not None:
        if len(column_list) != len(names):
            raise ShardgateError(
                "WITH column list and SELECT field list have different column counts",
                code=4002,
                sqlstate="HY000",
            )
        names = list(column_list)
    seen: set[str] = set()
    for n in names:
        if n.lower() in seen:
            raise ShardgateError(f"Duplicate column name '{n}'", code=1060, sqlstate="42S21")
        seen.add(n.lower())
    top = body
    while isinstance(top, exp.Subquery):
        top = top.this
    set_op = isinstance(top, _SET_OPS)
    columns: list[ColumnInfo] = []
    mixed: list[str] = []
    for name, typed, expr, known in zip(names, types, exprs, infos, strict=True):
        if known is not None:
            column = replace(known, name=name, auto_increment=False, default=None)
            if recursive:
                column = replace(column, nullable=True)
        else:
            ct: ColumnType | None = typed if isinstance(typed, ColumnType) else None
            if isinstance(typed, SlotTyped) and resolve is not None:
                ct = resolve(typed)
            collation, several = _text_collation(expr, scope)
            if several:
                mixed.append(name)
            column = ColumnInfo(
                name,
                declared_type(ct) if ct is not None else "",
                nullable=ct is None or not ct.flags & 1,
                collation=collation if ct is not None and ct.is_string else None,
            )
        if set_op and column.type.lower().startswith(("enum", "set")):
            column = replace(column, type="varchar(255)")  # the union's value is text
        columns.append(column)
    table = TableInfo(SYNTHETIC_DB, alias, ShardRule(broadcast=True), tuple(columns))
    return DerivedTable(alias, body, table, tuple(types), tuple(exprs), tuple(mixed), cte)


def _recursive(cte: exp.CTE) -> bool:
    """Whether ``cte`` of a ``WITH RECURSIVE`` names itself in its body."""
    with_ = cte.parent
    if not isinstance(with_, exp.With) or not with_.args.get("recursive"):
        return False
    name = cte.alias_or_name.lower()
    return any(not t.db and t.name.lower() == name for t in cte.this.find_all(exp.Table))


def _sources(block: exp.Select) -> list[exp.Expr]:
    from_ = block.args.get("from_") or block.args.get("from")
    sources = [from_.this] if from_ is not None else []
    return sources + [j.this for j in block.args.get("joins") or []]


def _source_aliases(block: exp.Select) -> list[str]:
    """The names a block's FROM sources are known by, as written."""
    return [s.alias_or_name for s in _sources(block) if s.alias_or_name]


def _text_collation(node: exp.Expr, scope: _Columns) -> tuple[str | None, bool]:
    """The collation of a text value computed by ``node`` (an explicit COLLATE, else
    its text columns' own; None: the default) and whether columns of several
    collations are involved."""
    while isinstance(node, exp.Paren | exp.Alias):
        node = node.this
    if isinstance(node, exp.Collate):
        target = node.expression
        return (target.name if isinstance(target, exp.Expr) else str(target)).lower(), False
    if isinstance(node, exp.Cast | exp.Literal | exp.Placeholder):
        return None, False
    found: set[str | None] = set()
    column_of = scope.column
    for col in [node] if isinstance(node, exp.Column) else list(node.find_all(exp.Column)):
        if _inside_query(col, node):
            continue
        hit = column_of(col)
        if hit is None or not _TEXT_TYPE.match(hit[0].type or ""):
            continue
        found.add(hit[0].collation.lower() if hit[0].collation else None)
    if len(found) > 1:
        return None, True
    return (next(iter(found)) if found else None), False


def _inside_query(col: exp.Expr, root: exp.Expr) -> bool:
    parent = col.parent
    while parent is not None and parent is not root:
        if isinstance(parent, exp.Subquery | exp.Select):
            return True
        parent = parent.parent
    return False


# MySQL type codes (include/mysql_com.h), as sharding.sql.describe numbers them.
_INTS = {1: "tinyint", 2: "smallint", 9: "mediumint", 3: "int", 8: "bigint"}
_TEMPORAL = {10: "date", 11: "time", 12: "datetime", 7: "timestamp", 13: "year"}
_UNSIGNED, _ENUM_FLAG, _SET_FLAG, _BINARY_CHARSET = 32, 256, 2048, 63


def declared_type(t: ColumnType) -> str:
    """A declared column type for a computed value of MySQL type ``t``: what the merge
    reads from it (type affinity); "" when the type is not known (ENUM/SET values
    computed by an expression, whose labels are not known, included)."""
    unsigned = " unsigned" if t.flags & _UNSIGNED else ""
    if t.type in _INTS:
        return _INTS[t.type] + unsigned
    if t.type in (0, 246):
        return f"decimal({t.precision},{t.decimals}){unsigned}"
    if t.type == 4:
        return "float"
    if t.type == 5:
        return "double"
    if t.type in _TEMPORAL:
        return _TEMPORAL[t.type]
    if t.type == 16:
        return f"bit({max(t.length, 1)})"
    if t.flags & (_ENUM_FLAG | _SET_FLAG):
        return ""
    if t.type in (15, 253, 254, 252, 249, 250, 251):
        if t.charset == _BINARY_CHARSET:
            return "longblob"
        return "longtext" if t.type == 252 else "varchar(255)"
    return ""
