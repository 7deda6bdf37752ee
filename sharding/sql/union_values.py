"""Whether the shards' statements of a read may travel as one ``UNION ALL``.

The batch layer sends a data source's shard reads as one ``UNION ALL`` statement
(:mod:`sharding.exec.batch`) and the data-source stage wraps that union in a merge
(:mod:`sharding.sql.source_stage`); both rely on a UNION handing each part's values on
unchanged, "every part is the same statement, so the union's column types are each
part's own types". That holds for the types, not always for the values: MariaDB
stores a UNION's rows in columns of those types, and a DOUBLE of fixed scale is cut to
its declared digits there, a ``CAST(… AS BINARY(n))`` of a multi-byte text to n
bytes. This module says which select lists may not be unioned;
such a read sends each shard's statement alone (:attr:`sharding.sql.nodes.ShardRead.
no_union`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

__all__ = ["union_changes"]

#: Functions whose DOUBLE result MariaDB types with its argument's length and a fixed
#: scale (``ROUND(f, 1)``: DOUBLE(17,1), ``FLOOR(f)``: DOUBLE(17,0)).
_FIXED_SCALE = (exp.Round, exp.Trunc, exp.Floor, exp.Ceil)
_FIXED_SCALE_NAMES = frozenset({"ROUND", "TRUNCATE", "FLOOR", "CEIL", "CEILING"})


def union_changes(exprs: Sequence[exp.Expr]) -> str:
    """Why a ``UNION ALL`` of the shards' statements with these select items would not
    hand on their values unchanged, or ``""``. A UNION stores its rows in columns of the
    parts' types, and a DOUBLE of fixed scale — ``ROUND``/``TRUNCATE``/``FLOOR``/``CEIL``
    of a DOUBLE, typed DOUBLE(17, d) — is cut there to 17 digits:
    ``SELECT ROUND(1e20, 1) UNION ALL SELECT 1`` answers 100000000000000000.0 (MariaDB
    10.11, measured), where the statement alone answers 1e20. Such items (also of
    exact arguments, whose type the shard text does not tell) keep each shard's
    statement alone."""
    for item in exprs:
        for node in item.walk():
            name = node.name.upper() if isinstance(node, exp.Anonymous) else ""
            if isinstance(node, _FIXED_SCALE) or name in _FIXED_SCALE_NAMES:
                return (
                    "ROUND/TRUNCATE/FLOOR/CEIL in the select list: a UNION of the shards' "
                    "rows would cut a DOUBLE of fixed scale to 17 digits"
                )
            if _sized_binary(node):
                return (
                    "CAST(… AS BINARY(n)) in the select list: a UNION of the shards' rows "
                    "would cut its value to n bytes"
                )
    return ""


def _sized_binary(node: exp.Expr) -> bool:
    """``CAST(x AS BINARY(n))``: MariaDB keeps n *characters* of a text (``'é€xyz'`` as
    BINARY(3) is the 6 bytes of ``'é€x'``) but types the result n bytes long, so a
    UNION's column of that type cuts it to n bytes (10.11, measured)."""
    if not isinstance(node, exp.Cast):
        return False
    to = node.args.get("to")
    return (
        isinstance(to, exp.DataType)
        and to.this in (exp.DataType.Type.BINARY, exp.DataType.Type.VARBINARY)
        and bool(to.expressions)
    )
