"""Name resolution: which catalog table each table reference is, which table each
column belongs to.

The planner must know, for every column, its table (to route on shard keys, split a
join into sides, and find collations and type affinities), so :class:`Scope` qualifies
every column reference of the top-level query with its table alias (SQLite/MySQL
resolution: a qualified name by alias; an unqualified name must exist in exactly one
table of the FROM clause, else error 1052 "ambiguous").

A bare name in ORDER BY or HAVING that is also a select alias is *not* qualified here:
MySQL looks such a name up in the select list first (ORDER BY ``DATE(created) AS
created ... ORDER BY created`` sorts by the date; HAVING prefers the alias unless a
GROUP BY column has the name). :func:`mark_alias_candidates` tags those nodes
(``meta[ALIAS_CANDIDATE]``) and :mod:`sharding.sql.clauses` decides what each means;
left unqualified, the statement a single shard runs means what the client wrote.

Table lookups are async (the catalog may reload), so :func:`referenced_tables` lists
the names first and the caller resolves them before planning synchronously.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from sharding.catalog import ColumnInfo, TableInfo
from sharding.errors import (
    AmbiguousColumn,
    NoDatabaseSelected,
    NotSupported,
    ShardgateError,
    UnknownColumn,
)

#: Meta key of an ORDER BY / HAVING column that may name a select alias (see above).
ALIAS_CANDIDATE = "sg_alias_candidate"
#: Meta key of a column :meth:`Scope.qualify` qualified (the client wrote a bare name).
WRITTEN_BARE = "sg_written_bare"


def unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _is_aggregate_call(node: exp.Expr) -> bool:
    return isinstance(node, exp.AggFunc) or (
        isinstance(node, exp.Anonymous) and node.name.upper() == "TOTAL"
    )


def mark_alias_candidates(select: exp.Select) -> set[int]:
    """Tag the bare ORDER BY / HAVING names that match an explicit select alias.

    ORDER BY: a term that is just a name (parentheses allowed) — inside a larger
    expression MySQL resolves a name to the table column first. HAVING: any name
    outside an aggregate's argument (an aggregate's argument is always columns).
    Returns the ids of the tagged nodes."""
    aliases = {e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias) and e.alias}
    marked: set[int] = set()
    if not aliases:
        return marked

    def mark(node: exp.Expr) -> None:
        if (
            isinstance(node, exp.Column)
            and not node.table
            and not isinstance(node.this, exp.Star)
            and node.name.lower() in aliases
        ):
            node.meta[ALIAS_CANDIDATE] = True
            marked.add(id(node))

    order = select.args.get("order")
    for o in order.expressions if order is not None else []:
        mark(unparen(o.this))
    for node in _having_names(select):
        mark(node)
    return marked


def _having_names(select: exp.Select) -> Iterator[exp.Expr]:
    """The nodes of ``select``'s HAVING outside an aggregate's argument and outside
    subqueries (where a name can be a select item's)."""
    having = select.args.get("having")
    if having is None:
        return
    stack: list[exp.Expr] = [having.this]
    while stack:
        node = stack.pop()
        if _is_aggregate_call(node) or isinstance(node, exp.Select | exp.Subquery | exp.Union):
            continue
        yield node
        stack.extend(node.iter_expressions())


def bind_names_to_select_items(select: exp.Select) -> None:
    """Give a bare name of ORDER BY or GROUP BY (a whole term) or of HAVING (outside an
    aggregate) the qualifier of the one unaliased select item that is that column:
    ``SELECT t.id FROM t JOIN u … ORDER BY id`` sorts by ``t.id`` in MariaDB, which
    looks a name up in the select list — it is not ambiguous between ``t.id`` and
    ``u.id`` there. In place; a name that is an alias, or matches no item or several,
    is left as written."""
    items: dict[str, list[exp.Column]] = {}
    aliases: set[str] = set()
    for item in select.expressions:
        if isinstance(item, exp.Alias):
            aliases.add(item.alias.lower())
            continue
        bare = unparen(item)
        if isinstance(bare, exp.Column) and bare.table and not isinstance(bare.this, exp.Star):
            items.setdefault(bare.name.lower(), []).append(bare)
    if not items:
        return

    def bind(node: exp.Expr) -> None:
        if (
            isinstance(node, exp.Column)
            and not node.table
            and not isinstance(node.this, exp.Star)
            and node.name.lower() not in aliases
        ):
            found = items.get(node.name.lower())
            if found is not None and len(found) == 1:
                node.set("table", found[0].args["table"].copy())
                db = found[0].args.get("db")
                if db is not None:
                    node.set("db", db.copy())

    for clause in ("order", "group"):
        holder = select.args.get(clause)
        for term in holder.expressions if holder is not None else []:
            bind(unparen(term.this if isinstance(term, exp.Ordered) else term))
    for node in list(_having_names(select)):
        bind(node)


@dataclass(eq=False)
class TableRef:
    """One table reference of the top-level FROM clause."""

    index: int  # template hole number
    alias: str
    info: TableInfo
    node: exp.Table
    outer: bool = False  # on the NULL-extended side of a LEFT JOIN
    join_kind: str = ""  # "" for the first table, else "inner"/"left"/"cross"/...


def table_name(node: exp.Table, database: str | None) -> tuple[str, str]:
    db = node.db or database
    if not db:
        raise NoDatabaseSelected("No database selected")
    return db, node.name


def referenced_tables(tree: exp.Expr, database: str | None) -> list[tuple[str, str]]:
    """(database, table) of every table reference in the statement, CTE names excluded."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    written = delete_list_ids(tree)
    out: list[tuple[str, str]] = []
    for node in tree.find_all(exp.Table):
        if not node.name or id(node) in written:
            continue
        if not node.db and node.name.lower() in ctes:
            continue
        key = table_name(node, database)
        if key not in out:
            out.append(key)
    return out


def delete_list_ids(tree: exp.Expr) -> set[int]:
    """Node ids of a multi-table DELETE's target list (``DELETE a, b FROM …``): names
    of table references of the FROM clause (aliases), not table references themselves."""
    if not isinstance(tree, exp.Delete):
        return set()
    ids = {id(node) for node in tree.args.get("tables") or []}
    if tree.args.get("using") and tree.this is not None:
        ids.add(id(tree.this))  # ``DELETE FROM a USING t AS a JOIN …``: ``a`` is a name
    return ids


def join_kind(join: exp.Join) -> str:
    side = (join.side or "").lower()
    kind = (join.kind or "").lower()
    if side:
        return side
    if kind in ("cross", "inner", "straight_join"):
        return "inner" if kind != "cross" else "cross"
    if kind:
        return kind
    return "inner"


class Scope:
    """The top-level FROM clause of one SELECT/UPDATE/DELETE and its columns."""

    def __init__(
        self,
        query: exp.Expr,
        tables: dict[tuple[str, str], TableInfo],
        database: str | None,
    ) -> None:
        self.query = query
        self.database = database
        self.refs: list[TableRef] = []
        self._by_alias: dict[str, TableRef] = {}
        sources: list[tuple[exp.Expr, str, exp.Join | None]] = []
        if isinstance(query, exp.Select):
            from_ = query.args.get("from_") or query.args.get("from")
            if from_ is not None:
                sources.append((from_.this, "", None))
            for join in query.args.get("joins") or []:
                sources.append((join.this, join_kind(join), join))
        elif isinstance(query, exp.Update | exp.Delete):
            target = query.this
            if target is not None:
                sources.append((target, "", None))
                # sqlglot hangs the JOINs of a multi-table UPDATE/DELETE on the target.
                if isinstance(target, exp.Table):
                    for join in target.args.get("joins") or []:
                        sources.append((join.this, join_kind(join), join))
            from_ = query.args.get("from_") or query.args.get("from")
            if from_ is not None:
                sources.append((from_.this, "inner", None))
            for join in query.args.get("joins") or []:
                sources.append((join.this, join_kind(join), join))
        self.derived = False
        #: Derived tables of the FROM clause: alias → their column names (None: unknown,
        #: e.g. ``SELECT *`` inside). Their columns are left to the backend to resolve.
        self.derived_columns: dict[str, set[str] | None] = {}
        for i, (node, kind, _join) in enumerate(sources):
            if not isinstance(node, exp.Table):
                self.derived = True
                self._add_derived(node)
                continue
            info = tables[table_name(node, database)]
            alias = node.alias or node.name
            ref = TableRef(len(self.refs), alias, info, node, join_kind=kind)
            if kind in ("left",):
                ref.outer = True
            if kind in ("right", "full"):
                ref.outer = True
                for earlier in self.refs:
                    earlier.outer = True
            if alias.lower() in self._by_alias:
                raise ShardgateError(
                    f"Not unique table/alias: '{alias}'", code=1066, sqlstate="42000"
                )
            self._by_alias[alias.lower()] = ref
            self.refs.append(ref)
            del i

    def _add_derived(self, node: exp.Expr) -> None:
        alias = node.alias if isinstance(node, exp.Subquery) else ""
        if not alias:
            return
        inner = node.this if isinstance(node, exp.Subquery) else None
        names: set[str] | None = None
        if isinstance(inner, exp.Select) and not any(
            isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
            for e in inner.expressions
        ):
            names = {e.alias_or_name.lower() for e in inner.expressions}
        self.derived_columns[alias.lower()] = names

    def _derived_of(self, column: exp.Column) -> str | None:
        """The derived table an unqualified column can belong to (one at most)."""
        hits = [
            a
            for a, names in self.derived_columns.items()
            if names is None or column.name.lower() in names
        ]
        if len(hits) > 1:
            raise AmbiguousColumn(f"Column '{column.name}' in {clause_of(column)} is ambiguous")
        return hits[0] if hits else None

    # ------------------------------------------------------------------ columns
    def ref_of_alias(self, alias: str) -> TableRef | None:
        return self._by_alias.get(alias.lower())

    def resolve(self, column: exp.Column) -> tuple[TableRef, ColumnInfo | None] | None:
        """The table of a column reference (None when it is not a table column, e.g. an
        alias of a select item)."""
        name = column.name
        if column.table:
            ref = self.ref_of_alias(column.table)
            if ref is None:
                if column.args.get("db") is not None or len(self.refs) == 0:
                    return None
                if column.table.lower() in self.derived_columns:
                    return None  # a derived table's column
                # An unknown qualifier — also a table's own name when it has an alias
                # (``SELECT orders.id FROM orders o2``: MySQL knows it only as ``o2``).
                raise UnknownColumn(
                    f"Unknown column '{column.table}.{name}' in '{clause_of(column)}'"
                )
            col = ref.info.column(name)
            if col is None and ref.info.columns:
                raise UnknownColumn(
                    f"Unknown column '{column.table}.{name}' in '{clause_of(column)}'"
                )
            return ref, col
        matches = [r for r in self.refs if r.info.has_column(name)]
        if len(matches) > 1:
            raise AmbiguousColumn(f"Column '{name}' in {clause_of(column)} is ambiguous")
        if matches:
            return matches[0], matches[0].info.column(name)
        unknown = [r for r in self.refs if not r.info.columns]
        if len(unknown) == 1 and len(self.refs) == 1:
            return unknown[0], None
        return None

    def qualify(self, root: exp.Expr, select_aliases: set[str] | None = None) -> None:
        """Qualify every column of the top-level query with its table alias, in place.

        Columns inside subqueries are left alone (they belong to their own scope).
        Unresolvable names that are select-list aliases stay unqualified; others raise
        UnknownColumn.
        """
        aliases = {a.lower() for a in (select_aliases or set())}
        if isinstance(root, exp.Select):
            bind_names_to_select_items(root)
        candidates = mark_alias_candidates(root) if isinstance(root, exp.Select) else set()
        for column in list(_top_level_columns(root)):
            if isinstance(column.this, exp.Star) or id(column) in candidates:
                continue
            if column.table and column.table.lower() in self.derived_columns:
                continue  # a derived table's column: the backend resolves it
            if _is_default_keyword(column):
                # SET n = DEFAULT: the keyword (reserved: never a column name), rendered
                # as a word, not as a quoted identifier
                column.replace(exp.var("DEFAULT"))
                continue
            found = self.resolve(column)
            if not column.table and self.derived_columns and column.name.lower() not in aliases:
                derived = self._derived_of(column)
                if derived is not None and found is not None:
                    raise AmbiguousColumn(
                        f"Column '{column.name}' in {clause_of(column)} is ambiguous"
                    )
                if derived is not None:
                    column.set("table", exp.to_identifier(derived))
                    continue
            if found is None:
                if column.name.lower() in aliases and not column.table:
                    continue
                if not self.refs:
                    raise UnknownColumn(f"Unknown column '{column.name}' in '{clause_of(column)}'")
                raise UnknownColumn(
                    f"Unknown column '{column.sql(dialect='mysql')}' in '{clause_of(column)}'"
                )
            ref, _ = found
            if not column.table:
                column.meta[WRITTEN_BARE] = True  # GROUP BY: a bare name may also be an alias
            column.set("table", exp.to_identifier(ref.alias))
            column.set("db", None)
            column.set("catalog", None)

    def column_ref(self, column: exp.Column) -> tuple[TableRef, ColumnInfo | None] | None:
        if not column.table:
            return None
        ref = self.ref_of_alias(column.table)
        if ref is None:
            return None
        return ref, ref.info.column(column.name)

    def star_columns(self, star: exp.Expr) -> list[tuple[TableRef, ColumnInfo]]:
        """Columns a ``*`` or ``t.*`` select item stands for, in SQL order."""
        if isinstance(star, exp.Column) and isinstance(star.this, exp.Star):
            ref = self.ref_of_alias(star.table)
            if ref is None and star.table.lower() in self.derived_columns:
                # ``d.*`` of a derived table: as ``*`` with one, only the backend knows
                # its columns (it is not an unknown table: MariaDB answers).
                raise NotSupported("SELECT d.* of a derived table where its plan needs the columns")
            if ref is None:
                # MariaDB's ER_BAD_TABLE_ERROR names the table with its database.
                db = star.text("db") or self.database
                if not db:
                    raise NoDatabaseSelected("No database selected")
                raise ShardgateError(
                    f"Unknown table '{db}.{star.table}'", code=1051, sqlstate="42S02"
                )
            refs = [ref]
        else:
            if self.derived:
                # A derived table's columns are not in the catalog: the backend knows
                # what ``*`` stands for (and a multi-shard plan cannot be built).
                raise NotSupported("SELECT * together with a derived table in FROM")
            refs = self.refs
        out: list[tuple[TableRef, ColumnInfo]] = []
        for ref in refs:
            if not ref.info.columns:
                raise NotSupported(
                    f"SELECT * over {ref.info.qualified} needs its columns in the catalog"
                )
            out.extend((ref, c) for c in ref.info.columns)
        return out


def _top_level_columns(root: exp.Expr) -> list[exp.Column]:
    """Column nodes of ``root`` not inside a nested SELECT."""
    out: list[exp.Column] = []
    stack: list[exp.Expr] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Column):
            out.append(node)
            continue
        for child in node.iter_expressions():
            if isinstance(child, exp.Select | exp.Subquery | exp.Union) and child is not root:
                continue
            stack.append(child)
    return out


def top_level_nodes(root: exp.Expr) -> list[exp.Expr]:
    """All nodes of ``root`` outside nested SELECTs (DFS)."""
    out: list[exp.Expr] = []
    stack: list[exp.Expr] = [root]
    while stack:
        node = stack.pop()
        out.append(node)
        for child in node.iter_expressions():
            if isinstance(child, exp.Select | exp.Subquery | exp.Union) and child is not root:
                continue
            stack.append(child)
    return out


def _is_default_keyword(column: exp.Column) -> bool:
    """An unquoted, unqualified ``DEFAULT`` (sqlglot reads the keyword as a column)."""
    ident = column.this
    return (
        not column.table
        and isinstance(ident, exp.Identifier)
        and not ident.quoted
        and ident.name.upper() == "DEFAULT"
    )


#: The clause MariaDB 10.11 names in an unknown or ambiguous column's error, by the
#: argument of the statement that holds the column.
_SELECT_CLAUSES = {
    "expressions": "SELECT",
    "where": "WHERE",
    "group": "GROUP BY",
    "having": "HAVING",
    "order": "ORDER BY",
}
_UPDATE_CLAUSES = {"expressions": "SET", "where": "WHERE", "order": "ORDER BY"}
_DELETE_CLAUSES = {"where": "WHERE", "order": "ORDER BY"}


def clause_of(node: exp.Expr) -> str:
    """The clause of its statement ``node`` stands in, as MariaDB 10.11 names it in
    1054/1052 (``Unknown column 'x' in 'WHERE'``; earlier servers said 'field list',
    'where clause'); 'field list' where none is known."""
    child: exp.Expr = node
    parent = node.parent
    while parent is not None:
        key = child.arg_key or ""
        if isinstance(parent, exp.Join) and key == "on":
            return "ON"
        if isinstance(parent, exp.Select):
            return _SELECT_CLAUSES.get(key, "field list")
        if isinstance(parent, exp.Update):
            return _UPDATE_CLAUSES.get(key, "field list")
        if isinstance(parent, exp.Delete):
            return _DELETE_CLAUSES.get(key, "field list")
        if isinstance(parent, exp.Values):
            return "VALUES"
        child, parent = parent, parent.parent
    return "field list"
