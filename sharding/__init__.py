"""Shard-aware coordinator built on :mod:`executor`.

::

    from sharding import Coordinator, Topology
    async with Coordinator(Topology.load("cluster.toml")) as coord:
        res = await coord.execute("SELECT COUNT(*) FROM t")

See :mod:`sharding.coordinator` for the API and DESIGN.md for the architecture.
"""

from sharding.api import Result, Session
from sharding.coordinator import Coordinator
from sharding.errors import (
    AccessDenied,
    BackendError,
    DataSourceUnavailable,
    DuplicateKey,
    NoDatabaseSelected,
    NotSupported,
    ParseError,
    PoolTimeout,
    QueryInterrupted,
    QueryTimeout,
    ShardgateError,
    ShardKeyUpdate,
    TableExists,
    TransactionError,
    UnknownColumn,
    UnknownDatabase,
    UnknownTable,
)
from sharding.session import CoordinatorSession
from sharding.topology import ShardRule, Topology, TopologyError

__all__ = [
    "AccessDenied",
    "BackendError",
    "Coordinator",
    "CoordinatorSession",
    "DataSourceUnavailable",
    "DuplicateKey",
    "NoDatabaseSelected",
    "NotSupported",
    "ParseError",
    "PoolTimeout",
    "QueryInterrupted",
    "QueryTimeout",
    "Result",
    "Session",
    "ShardKeyUpdate",
    "ShardRule",
    "ShardgateError",
    "TableExists",
    "Topology",
    "TopologyError",
    "TransactionError",
    "UnknownColumn",
    "UnknownDatabase",
    "UnknownTable",
]
