"""The coordinator's side of admin SQL: :class:`CoordinatorAdmin`, the snapshots that
``SHOW THREAD_POOL_STATUS``, ``SHOW PROCESSLIST``, ``KILL QUERY``, ``SHOW DATASOURCES``
and ``SHOW SHARDS`` read (the server's ``AdminSource`` protocol,
:mod:`sharding.server.admin`).

It lives on the coordinator side (issue 13.5): it reads the coordinator's executor,
data sources and catalog by their real types, and the server reaches it only through
:mod:`sharding.api`. Built on an entered :class:`~sharding.coordinator.Coordinator`
(the server is started inside ``async with Coordinator(...)``); there are no
``getattr`` fallbacks that would turn a missing part into an empty answer.

Invariant: every method reads a snapshot or calls ``cancel_query``; none opens an
executor query, blocks or awaits, so admin answers while every bucket is saturated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from executor.status import BucketStatus, QueryInfo
from sharding.backend.base import DataSourceStatistics

if TYPE_CHECKING:
    from sharding.coordinator import Coordinator

#: Columns of ``SHOW SHARDS``, one row per shard (or broadcast copy) of every table.
SHARD_COLUMNS = [
    "logical_table",
    "shard",
    "datasource",
    "physical_database",
    "physical_table",
    "algorithm",
    "shard_key",
]


class CoordinatorAdmin:
    """Admin snapshots of one coordinator (implements the server's ``AdminSource``)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    def thread_pool_status(self) -> Sequence[BucketStatus]:
        return self.coordinator.executor.status()

    def queries(self) -> Sequence[QueryInfo]:
        return self.coordinator.executor.queries()

    def cancel_query(self, query_id: int) -> bool:
        return self.coordinator.executor.cancel_query(query_id)

    def datasource_statistics(self) -> Sequence[DataSourceStatistics]:
        return [ds.statistics() for ds in self.coordinator.datasources.values()]

    def shards(self) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Every shard (or broadcast copy) of every table the catalog knows."""
        rows: list[tuple[Any, ...]] = []
        for table in self.coordinator.catalog.tables():
            rule = table.rule
            algorithm = "broadcast" if rule.broadcast else rule.algorithm
            for shard, ds, pdb, ptable in table.placements():
                rows.append((table.qualified, shard, ds, pdb, ptable, algorithm, rule.shard_key))
        return list(SHARD_COLUMNS), rows
