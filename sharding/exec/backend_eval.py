"""The operator of :class:`sharding.sql.backend_eval.BackendEvalNode`.

Per batch of merged rows, one ``SELECT`` with a column per (row, item) runs on the
default data source as a child of the query (admission, accounting and cancellation
as for any shard read); each row comes out with its items' values appended. The
values are rendered as literals of their own type (never text that depends on
``sql_mode``); at most :data:`COLUMNS_PER_STATEMENT` columns per statement.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from sharding.backend.base import Column, ResultSet
from sharding.errors import NotSupported
from sharding.exec.targets import Target
from sharding.merge.types import child_batches
from sharding.sql.backend_eval import BackendExpr
from sharding.sql.materialize import literal_node

__all__ = ["COLUMNS_PER_STATEMENT", "backend_eval"]

COLUMNS_PER_STATEMENT = 512
_COLLATION_NAME = re.compile(r"[A-Za-z0-9_]+\Z")

Batch = list[tuple[Any, ...]]


def _literal(value: Any, collation: str | None, dialect: str = "mysql") -> str:
    exact = getattr(value, "exact", None)
    if isinstance(exact, Decimal) and exact != value:
        # A sum of quotients keeps inner digits its shown scale hides (merge/aggregates):
        # a literal of the shown value would compute with fewer digits than MySQL.
        raise NotSupported(
            "a MySQL function over a merged SUM/AVG of a division (its inner digits); "
            "CAST the aggregate to a DECIMAL first"
        )
    text = literal_node(value, dialect).sql(dialect=dialect)
    if isinstance(value, str) and collation and _COLLATION_NAME.match(collation):
        return f"{text} COLLATE {collation}"
    return text


async def backend_eval(
    child: AsyncIterable[Batch],
    exprs: Sequence[BackendExpr],
    texts: Sequence[str],
    target: Target,
    fetch: Callable[[Target, str], Awaitable[ResultSet]],
    on_columns: Callable[[list[Column]], None],
) -> AsyncIterator[Batch]:
    """``child``'s rows with each expression's value appended (module docstring)."""
    bound = [e.template.bind(texts) for e in exprs]
    per_row = len(exprs)
    rows_per_statement = max(1, COLUMNS_PER_STATEMENT // per_row)
    first = True
    async with child_batches(child) as batches:
        async for batch in batches:
            out: Batch = []
            for start in range(0, len(batch), rows_per_statement):
                chunk = batch[start : start + rows_per_statement]
                items: list[str] = []
                for row in chunk:
                    for e, template in zip(exprs, bound, strict=True):
                        names = [
                            _literal(row[i], coll, e.dialect)
                            for i, coll in zip(e.inputs, e.collations, strict=True)
                        ]
                        items.append(template.fill(names))
                rs = await fetch(target, "SELECT " + ", ".join(items))
                if first:
                    first = False
                    on_columns(list(rs.columns[:per_row]))
                values = rs.rows[0]
                for k, row in enumerate(chunk):
                    out.append(tuple(row) + tuple(values[k * per_row : (k + 1) * per_row]))
            yield out
