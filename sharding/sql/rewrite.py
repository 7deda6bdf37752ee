"""Rewrite a logical statement into a per-shard template for a backend dialect.

Before planning, every ``?`` node is tagged with its slot (``meta["sg_slot"]``) and
every catalog table reference with its template hole (``meta["sg_hole"]``); sqlglot
copies ``meta`` with nodes, so the planner can build shard statements from copies of
any part of the tree. The passes, small pure functions over a copy:

* :func:`mark_tables` — a tagged table becomes its hole (``shard_0007.t`` is filled in
  per shard), keeping its alias — or its logical name as alias — so every column
  qualifier stays valid.
* :func:`mark_placeholders` — a slot becomes a parameter hole, filled per call with a
  literal rendered for the dialect.
* :func:`keep_backend_semantics` — sqlglot transpiles *meaning* between dialects
  (MySQL's ``/`` becomes ``CAST(a AS REAL) / b`` for SQLite). A sharding layer must
  not: the statement must mean on each shard what it means on a backend holding the
  whole table, so division keeps the target dialect's own semantics. The exception is
  the embedded SQLite default, whose meaning *is* MySQL's (issue 15): there MySQL
  functions are mapped to the MySQL-semantics functions registered on every shard
  connection (:mod:`sharding.backend.sqlite_mysql`).
* :func:`add_keyset_hole` — a chunked read gets ``AND <keyset>`` in its WHERE.

:func:`render_template` renders once and splits into a
:class:`~sharding.sql.template.Template`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from sharding.sql.shard_dialect import shard_dialect
from sharding.sql.template import (
    KEYSET_MARK,
    Template,
    compile_template,
    param_marker,
    table_marker,
)

SLOT = "sg_slot"
HOLE = "sg_hole"


def slot_of(node: exp.Placeholder) -> int:
    slot = node.meta.get(SLOT) if node.meta else None
    if not isinstance(slot, int):
        raise AssertionError("placeholder without a slot (tag_slots was not run)")
    return slot


def hole_of(node: exp.Table) -> int | None:
    hole = node.meta.get(HOLE) if node.meta else None
    return hole if isinstance(hole, int) else None


def replace_nodes(pairs: Iterable[tuple[exp.Expr, exp.Expr]]) -> None:
    """Replace each ``old`` node by ``new`` in its parent, in time linear in the tree.

    ``Expr.replace`` re-parents every sibling of a node that sits in a list argument,
    so replacing the k values of an ``IN (...)`` one at a time costs O(k²): seconds on
    the event loop for 10,000 values (issue 12, item 4). Here every list argument that
    holds replaced nodes is rebuilt once; a single-node argument is set directly.
    """
    lists: dict[tuple[int, str], tuple[exp.Expr, str, dict[int, exp.Expr]]] = {}
    for old, new in pairs:
        parent, key = old.parent, old.arg_key
        if parent is None or key is None:
            raise AssertionError("cannot replace a root node in place")
        if isinstance(parent.args.get(key), list):
            lists.setdefault((id(parent), key), (parent, key, {}))[2][id(old)] = new
        else:
            parent.set(key, new)
        old.parent = None
    for parent, key, by_id in lists.values():
        # By identity, not ``index``: indexes are bookkeeping that copies may not keep.
        parent.set(key, [by_id.get(id(v), v) for v in parent.args[key]])


def mark_tables(tree: exp.Expr) -> None:
    pairs: list[tuple[exp.Expr, exp.Expr]] = []
    for node in list(tree.find_all(exp.Table)):
        hole = hole_of(node)
        if hole is None:
            continue
        alias = node.alias or node.name
        replacement = exp.Table(this=exp.Identifier(this=table_marker(hole), quoted=False))
        replacement.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        # Everything else hanging on the table node stays: the JOINs of a multi-table
        # UPDATE/DELETE live here, and dropping them would write rows the join excludes.
        for arg, value in node.args.items():
            if arg not in ("this", "db", "catalog", "alias") and value:
                replacement.set(arg, value)
        if node is tree:
            raise AssertionError("cannot render a bare table")
        pairs.append((node, replacement))
    replace_nodes(pairs)


def mark_placeholders(tree: exp.Expr) -> exp.Expr:
    if isinstance(tree, exp.Placeholder):
        return exp.Var(this=param_marker(slot_of(tree)))
    replace_nodes(
        [
            (node, exp.Var(this=param_marker(slot_of(node))))
            for node in tree.find_all(exp.Placeholder)
        ]
    )
    return tree


def keep_backend_semantics(tree: exp.Expr, dialect: str) -> None:
    if dialect == "sqlite":
        # The embedded SQLite default answers with MySQL's meaning (issue 15): MySQL
        # functions become the ones registered on every shard connection, and ``/``
        # keeps sqlglot's MySQL→SQLite rendering (never integer division).
        from sharding.backend.sqlite_mysql import translate_for_sqlite

        translate_for_sqlite(tree)
        return
    target = Dialect.get_or_raise(dialect)
    for node in tree.find_all(exp.Div):
        node.set("typed", target.TYPED_DIVISION)
        node.set("safe", target.SAFE_DIVISION)


def add_keyset_hole(select: exp.Select) -> None:
    hole = exp.Var(this=KEYSET_MARK)
    where = select.args.get("where")
    if where is None:
        select.set("where", exp.Where(this=hole))
    else:
        select.set("where", exp.Where(this=exp.and_(exp.Paren(this=where.this), hole)))


def render_template(tree: exp.Expr, dialect: str, *, keyset: bool = False) -> Template:
    """Render ``tree`` (left untouched) as a template for ``dialect``."""
    copied = tree.copy()
    mark_tables(copied)
    copied = mark_placeholders(copied)
    keep_backend_semantics(copied, dialect)
    if keyset:
        if not isinstance(copied, exp.Select):
            raise AssertionError("keyset continuation needs a SELECT")
        add_keyset_hole(copied)
    return compile_template(copied.sql(dialect=shard_dialect(dialect)))


def render_expression(node: exp.Expr, dialect: str) -> Template:
    """One expression as a template (parameter holes only), parenthesised unless
    atomic, so it can be embedded in a larger predicate."""
    copied = mark_placeholders(node.copy())
    keep_backend_semantics(copied, dialect)
    text = copied.sql(dialect=shard_dialect(dialect))
    if not isinstance(node, exp.Column | exp.Literal | exp.Paren | exp.Placeholder):
        text = f"({text})"
    return compile_template(text)
