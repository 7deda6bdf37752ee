"""Keyset continuation: "rows after the last one seen" as a WHERE predicate.

A chunked ordered read asks each shard for ``ORDER BY k1, …, kn LIMIT chunk`` and
continues with the rows strictly after the last row it got. With a unique tiebreaker
among the keys (the primary key, or SQLite's rowid), "after" is exact: no row is lost
or repeated even when many rows share the leading keys.

``(k1, k2) > (v1, v2)`` cannot be used as written: directions may differ per key and
SQL row-value comparison is unknown when a value is NULL. The predicate is therefore
expanded lexicographically::

    after_1  OR  (k1 IS v1 AND after_2)  OR  (k1 IS v1 AND k2 IS v2 AND after_3) …

where ``IS`` is the dialect's null-safe equality and ``after_i`` depends on the
direction and on where NULLs sort (ASC NULLS FIRST is the SQLite/MySQL default):

==================  ==================  =============================
order of k          v is NULL           v is not NULL
==================  ==================  =============================
ASC, NULLs first    ``k IS NOT NULL``   ``k > v``
ASC, NULLs last     (nothing after)     ``(k > v OR k IS NULL)``
DESC, NULLs last    (nothing after)     ``(k < v OR k IS NULL)``
DESC, NULLs first   ``k IS NOT NULL``   ``k < v``
==================  ==================  =============================

Values are written with :func:`sharding.sql.literals.render_literal` (exact floats).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sharding.sql.literals import render_literal


@dataclass(frozen=True, slots=True)
class KeysetSpec:
    """The continuation keys of a chunked read, as SQL of the shard's dialect."""

    exprs: tuple[str, ...]
    desc: tuple[bool, ...]
    nulls_first: tuple[bool, ...]
    #: Positions of the key values in the shard query's output row.
    columns: tuple[int, ...]
    null_safe_eq: str = "IS"
    dialect: str = "sqlite"

    def after(self, row: Sequence[Any]) -> str:
        """Predicate selecting the rows strictly after ``row`` in this order."""
        terms: list[str] = []
        prefix: list[str] = []
        lit = self.dialect
        for expr, desc, nulls_first, col in zip(
            self.exprs, self.desc, self.nulls_first, self.columns, strict=True
        ):
            value = row[col]
            if value is None:
                step = f"{expr} IS NOT NULL" if nulls_first else None
                equal = f"{expr} IS NULL"
            else:
                v = render_literal(value, lit)
                op = "<" if desc else ">"
                step = f"{expr} {op} {v}" if nulls_first else f"({expr} {op} {v} OR {expr} IS NULL)"
                equal = f"{expr} {self.null_safe_eq} {v}"
            if step is not None:
                terms.append(" AND ".join([*prefix, step]) if prefix else step)
            prefix.append(equal)
        if not terms:
            return "0"
        if len(terms) == 1:
            return f"({terms[0]})"
        return "(" + " OR ".join(f"({t})" for t in terms) + ")"
