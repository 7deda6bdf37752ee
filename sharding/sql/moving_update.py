"""``UPDATE … SET shard_key = …``: rows that move between shards (issue 18, item 8) —
the pure half.

A row whose new shard key belongs to another shard must leave its shard and arrive on
the new one in one step, so the session (:func:`sharding.session_writes.
_moving_update`) runs the statement inside one transaction for it (XA across data
sources, like any multi-source write):

1. :func:`new_rows` — ``SELECT <every column's new value>, <old primary key>, <old
   shard key> FROM t WHERE … [ORDER BY … LIMIT n] FOR UPDATE``: MariaDB computes the new
   values (its own conversions and functions), the chosen rows are locked. MySQL applies
   the assignments left to right, a later one seeing the new value of an earlier one
   (``SET k = k + 1, note = k``): each assignment's expression has the earlier ones'
   expressions substituted for their columns.
2. Rows whose new key equals the old one exactly are updated in place by
   :func:`in_place` — the statement without its key assignment, restricted to their
   primary keys — so matched and changed counts are MariaDB's own.
3. The others are deleted by primary key and inserted with their new values (prepared
   INSERTs): a moved row always changed (its key did).

Refused (1235), because delete-and-insert would not be MySQL's answer: a table without
a primary key (rows cannot be named); several rows written where a new value of a
unique key (the primary key included) is one a row holds already (MySQL checks
uniqueness row by row in its scan order, so ``SET id = id + 1`` fails there on the
first collision while delete-then-insert would succeed; :func:`collision_probe` asks
first); a table with ``ON UPDATE`` columns or foreign keys, to or from it (a delete
would fire ``ON DELETE`` actions, an insert would not set the timestamp).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported
from sharding.sql.limited_write import restricted, rows_written
from sharding.sql.materialize import literal_node

__all__ = ["assignments", "collision_probe", "in_place", "new_rows", "unique_keys"]


def assignments(tree: exp.Update, info: TableInfo) -> list[tuple[str, exp.Expr]]:
    """``(column, expression)`` per SET item, in order, with each expression seeing the
    earlier assignments' new values (module docstring); column names as the catalog
    spells them."""
    alias = (tree.this.alias_or_name if isinstance(tree.this, exp.Table) else "").lower()
    out: list[tuple[str, exp.Expr]] = []
    new: dict[str, exp.Expr] = {}
    for item in tree.expressions:
        target = item.this if isinstance(item, exp.EQ) else None
        if not isinstance(target, exp.Column) or (
            target.table and target.table.lower() not in (alias, info.name.lower())
        ):
            raise NotSupported("this UPDATE form when it moves rows between shards")
        column = info.column(target.name)
        if column is None:
            raise NotSupported(f"UPDATE of unknown column {target.name!r} moving rows")

        def substitute(node: exp.Expr) -> exp.Expr:
            if (
                isinstance(node, exp.Column)
                and node.name.lower() in new
                and (not node.table or node.table.lower() in (alias, info.name.lower()))
            ):
                return exp.Paren(this=new[node.name.lower()].copy())
            return node

        value = item.expression.copy().transform(substitute)
        new[column.name.lower()] = value
        out.append((column.name, value))
    return out


def unique_keys(info: TableInfo, assigned: Sequence[tuple[str, exp.Expr]]) -> list[tuple[str, ...]]:
    """The primary key and unique indexes that an assigned column is part of."""
    names = {name.lower() for name, _ in assigned}
    keys = [tuple(info.primary_key)] + [tuple(i.columns) for i in info.indexes if i.unique]
    return [k for k in keys if k and any(c.lower() in names for c in k)]


def collision_probe(
    tree: exp.Update, columns: Sequence[str], values: Sequence[Sequence[Any]], dialect: str
) -> exp.Select:
    """``SELECT 1 FROM t WHERE (columns) IN (values) LIMIT 1``: does a row hold one of
    the new unique values already? (With several rows written, MySQL's answer would then
    depend on the order it visits them in.)"""
    table = tree.this.copy()
    cols: list[exp.Expr] = [exp.column(c, quoted=True) for c in columns]
    tuples = [exp.Tuple(expressions=[literal_node(v, dialect) for v in row]) for row in values]
    select = exp.Select(expressions=[exp.Literal.number(1)])
    select.set("from_", exp.From(this=table))
    select.set(
        "where", exp.Where(this=exp.In(this=exp.Tuple(expressions=cols), expressions=tuples))
    )
    select.set("limit", exp.Limit(expression=exp.Literal.number(1)))
    return select


def new_rows(
    tree: exp.Update, info: TableInfo, assigned: Sequence[tuple[str, exp.Expr]], *, lock: bool
) -> exp.Select:
    """The SELECT of every matched row's new values, then its old primary key, the old
    values of the assigned columns and its old shard key (module docstring, step 1)."""
    if not info.primary_key:
        raise NotSupported(f"UPDATE of the shard key of {info.qualified}, which has no primary key")
    by_name = {name.lower(): value for name, value in assigned}
    items: list[exp.Expr] = [
        by_name[c.name.lower()].copy()
        if c.name.lower() in by_name
        else exp.column(c.name, quoted=True)
        for c in info.columns
    ]
    key = info.rule.shard_key
    assert key is not None
    items += [exp.column(k, quoted=True) for k in info.primary_key]
    items += [exp.column(name, quoted=True) for name, _ in assigned]
    items.append(exp.column(key, quoted=True))
    return rows_written(tree, items, lock=lock)


def in_place(
    tree: exp.Update, info: TableInfo, keys: Sequence[Sequence[Any]], dialect: str
) -> exp.Update | None:
    """The statement for rows whose key does not change: without the key assignment,
    restricted to ``keys`` (their primary keys); None when nothing else is assigned."""
    key = (info.rule.shard_key or "").lower()
    out = tree.copy()
    kept = [
        item
        for item in out.expressions
        if not (isinstance(item.this, exp.Column) and item.this.name.lower() == key)
    ]
    if not kept:
        return None
    out.set("expressions", kept)
    done = restricted(out, info, keys, dialect)
    assert isinstance(done, exp.Update)
    return done
