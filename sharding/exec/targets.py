"""Binding a shard read to concrete targets: data source, physical names, databases.

Physical names come from :func:`sharding.sql.physical.physical_names` (computed
once per table and dialect).

Only the tables a read's template names are bound: a read may carry the holes of the
whole statement (one side of a cross-shard join carries both tables), and a table it
does not name may have another shard count, so shard ``s`` of the leader says nothing
about it (issue 11: ``IndexError`` on a join of tables with different shard counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sharding.catalog import TableInfo
from sharding.errors import NotSupported
from sharding.merge.semantics import Semantics
from sharding.sql.literals import quote_identifier
from sharding.sql.nodes import ShardRead
from sharding.sql.physical import physical_names
from sharding.sql.template import TABLE
from sharding.weak_memo import WeakMemo

__all__ = [
    "Target",
    "broadcast_target",
    "physical_names",
    "route_shards",
    "shard_targets",
]


@dataclass(frozen=True, slots=True)
class Target:
    """One shard of a read/write: where it runs and the names filling its template."""

    datasource: str
    shard: int
    names: tuple[str, ...]
    databases: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.datasource}/shard {self.shard}" if self.shard >= 0 else self.datasource


def broadcast_target(tables: Sequence[TableInfo], dialect: str, default_ds: str) -> Target:
    """Where a read of only broadcast tables (or no table) runs: one data source."""
    ds = default_ds
    if tables:
        common = set(tables[0].rule.datasources)
        for t in tables[1:]:
            common &= set(t.rule.datasources)
        if not common:
            raise NotSupported("broadcast tables without a common data source")
        ds = next(d for d in tables[0].rule.datasources if d in common)
    names = []
    dbs = set()
    for info in tables:
        names.append(
            f"{quote_identifier(info.database, dialect)}.{quote_identifier(info.name, dialect)}"
        )
        dbs.add(info.database)
    return Target(ds, -1, tuple(names), tuple(sorted(dbs)))


#: A call's routes by ``id(read)`` (``Prepared.routes``): what :func:`route_shards`
#: consults and fills.
Routes = dict[int, list[int]]


def route_shards(
    read: ShardRead,
    values: Sequence[Any],
    sem: Semantics,
    memo: Routes | None = None,
) -> list[int]:
    """Shard numbers a read visits for these parameter values (never empty).
    ``memo``: the call's routes by ``id(read)`` (``Prepared.routes``: the same values,
    plans that outlive the call), consulted and filled."""
    if memo is not None:
        hit = memo.get(id(read))
        if hit is None:
            hit = memo[id(read)] = route_shards(read, values, sem)
        return list(hit)
    assert read.leader is not None
    rule = read.tables[read.leader].rule
    shards = read.route.shards(read.route_tables, values, sem)
    if shards is None:
        return list(range(rule.shards))
    if not shards:
        return [0]  # contradictory predicates: one shard still gives the right shape
    return sorted(shards)


#: :func:`shard_targets` by read, then by dialect and shards. A cached plan's reads
#: come back call after call, a scatter with the same shards each time; a target depends
#: on nothing else (the read's tables carry their rules) and is immutable, so one tuple
#: of them serves every call.
_TARGETS: WeakMemo[tuple[Target, ...]] = WeakMemo(size=1024, per_object=16)


def shard_targets(read: ShardRead, shards: Sequence[int], dialect: str) -> list[Target]:
    """The targets of ``read`` on ``shards`` (in that order); see :data:`_TARGETS`."""
    which = (dialect, tuple(shards))
    hit = _TARGETS.get(read, which)
    if hit is None:
        hit = tuple(_shard_targets(read, which[1], dialect))
        _TARGETS.put(read, which, hit)
    return list(hit)


def _shard_targets(read: ShardRead, shards: Sequence[int], dialect: str) -> list[Target]:
    assert read.leader is not None
    leader = read.tables[read.leader]
    named = {index for kind, index in read.template.holes if kind == TABLE}
    named.add(read.leader)
    per_table = [
        physical_names(t, dialect) if k in named else None for k, t in enumerate(read.tables)
    ]
    out: list[Target] = []
    for s in shards:
        ds = leader.rule.datasource_of(s)
        names: list[str] = []
        dbs: set[str] = set()
        for info, table_names in zip(read.tables, per_table, strict=True):
            if table_names is None:
                names.append("")  # a hole this read's template does not have
                continue
            if info.broadcast:
                try:
                    index = info.rule.datasources.index(ds)
                except ValueError:
                    raise NotSupported(
                        f"broadcast table {info.qualified} has no copy on data source {ds!r}"
                    ) from None
                _, db, name = table_names[index]
            else:
                if info.rule.shards != leader.rule.shards or info.rule.datasource_of(s) != ds:
                    raise NotSupported(
                        f"{info.qualified} and {leader.qualified} place shard {s} on different data sources"
                    )
                _, db, name = table_names[s]
            names.append(name)
            dbs.add(db)
        out.append(Target(ds, s, tuple(names), tuple(sorted(dbs))))
    return out
