"""``UPDATE/DELETE … [ORDER BY …] LIMIT n`` over several shards (issue 18, item 8): the
pure half.

MySQL writes the first ``n`` rows that match, in the ORDER BY's order. Each shard can
only know its own first ``n``; which of them are the statement's first ``n`` is a merge
question. So the session (:func:`sharding.session_writes._limited_write`) runs it in
two steps inside one transaction for the statement:

1. :func:`selection` — ``SELECT <primary key> FROM t WHERE … ORDER BY … LIMIT n FOR
   UPDATE``: an ordinary SELECT over shards (merge-sorted, limited), which also locks
   the chosen rows on MariaDB, so they still match when they are written;
2. :func:`restricted` — the write itself without its LIMIT, its WHERE narrowed to
   ``AND (pk) IN (<those keys>)``; it keeps its ORDER BY, so each shard applies its
   part in MySQL's order (what a unique key conflict depends on). It then routes by the
   keys like any write.

Rows matched, changed and affected are those of step 2, which touches exactly the
chosen rows. A table without a primary key has no way to name its rows: refused.
Without an ORDER BY, MySQL writes "some" ``n`` matching rows; so does this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported
from sharding.sql.materialize import literal_node

__all__ = ["restricted", "rows_written", "selection"]


def selection(tree: exp.Update | exp.Delete, info: TableInfo, *, lock: bool) -> exp.Select:
    """The SELECT of the rows ``tree`` writes: its table, WHERE, ORDER BY and LIMIT."""
    if not info.primary_key:
        raise NotSupported(
            f"{type(tree).__name__.upper()} … LIMIT on several shards of {info.qualified}, "
            "which has no primary key"
        )
    items: list[exp.Expr] = [exp.column(k, quoted=True) for k in info.primary_key]
    return rows_written(tree, items, lock=lock)


def rows_written(tree: exp.Update | exp.Delete, items: list[exp.Expr], *, lock: bool) -> exp.Select:
    """``SELECT items`` over the rows ``tree`` writes (its table, WHERE, ORDER BY and
    LIMIT), ``FOR UPDATE`` when ``lock``."""
    table = tree.this if isinstance(tree.this, exp.Table) else None
    if table is None:
        raise NotSupported(f"this {type(tree).__name__.upper()} form on several shards")
    select = exp.Select(expressions=items)
    select.set("from_", exp.From(this=table.copy()))
    for key in ("where", "order", "limit"):
        part = tree.args.get(key)
        if part is not None:
            select.set(key, part.copy())
    if lock:
        select.set("locks", [exp.Lock(update=True)])
    return select


def restricted(
    tree: exp.Update | exp.Delete, info: TableInfo, rows: Sequence[Sequence[Any]], dialect: str
) -> exp.Update | exp.Delete:
    """``tree`` without its LIMIT, restricted to the rows whose keys are ``rows``."""
    out = tree.copy()
    out.set("limit", None)
    keys: list[exp.Expr] = [exp.column(k, quoted=True) for k in info.primary_key]
    if len(keys) == 1:
        chosen: exp.Expr = exp.In(
            this=keys[0], expressions=[literal_node(row[0], dialect) for row in rows]
        )
    else:
        chosen = exp.In(
            this=exp.Tuple(expressions=keys),
            expressions=[
                exp.Tuple(expressions=[literal_node(v, dialect) for v in row]) for row in rows
            ],
        )
    where = out.args.get("where")
    condition = chosen if where is None else exp.and_(exp.Paren(this=where.this), chosen)
    out.set("where", exp.Where(this=condition))
    return out
