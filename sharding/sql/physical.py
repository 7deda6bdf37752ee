"""Physical names of a table's shards (or broadcast copies), per SQL dialect.

Computed once per table and dialect and cached: a 1024-shard table would otherwise
format 1024 names on every call. The planner (INSERT routing) and the executor layer
(binding reads to targets) both use them; this module sits in ``sql/`` so the planner
does not import the executor layer.
"""

from __future__ import annotations

from sharding.catalog import TableInfo
from sharding.sql.literals import quote_identifier

__all__ = ["physical_names"]

_NAMES: dict[tuple[int, str], tuple[TableInfo, list[tuple[str, str, str]]]] = {}


def physical_names(info: TableInfo, dialect: str) -> list[tuple[str, str, str]]:
    """Per shard (or per broadcast copy): (data source, physical db, quoted db.table)."""
    key = (id(info), dialect)
    hit = _NAMES.get(key)
    if hit is not None and hit[0] is info:
        return hit[1]
    out = []
    for _shard, ds, db, table in info.placements():
        out.append((ds, db, f"{quote_identifier(db, dialect)}.{quote_identifier(table, dialect)}"))
    if len(_NAMES) > 4096:
        _NAMES.clear()
    _NAMES[key] = (info, out)
    return out
