"""Shard-aware coordinator built on :mod:`executor`.

::

    from sharding import Coordinator, Topology
    async with Coordinator(Topology.load("cluster.toml")) as coord:
        res = await coord.execute("SELECT COUNT(*) FROM t")

See :mod:`sharding.coordinator` for the API and DESIGN.md for the architecture.
"""

import gc as _gc

import executor._structlog_import  # noqa: F401  # before structlog is imported (see there)

# Importing the package builds ~60,000 long-lived objects (modules, classes, sqlglot's
# tables, compiled patterns); the cyclic collector's passes over them while they are
# built free nothing and were ~12 % of `shardgate serve`'s start-up CPU (bench
# serve_startup). Collect nothing until the package is imported; the caller's setting is
# restored after, also when an import fails.
_collecting = _gc.isenabled()
_gc.disable()
try:
    from sharding.api import Result, ResultStream, Session
    from sharding.coordinator import Coordinator
    from sharding.errors import (
        AccessDenied,
        AmbiguousColumn,
        BackendError,
        BadArguments,
        ColumnCountMismatch,
        DataSourceUnavailable,
        DuplicateKey,
        EmptyQuery,
        NoDatabaseSelected,
        NoShardForValue,
        NotSupported,
        ParseError,
        PartitionKeyError,
        PoolTimeout,
        QueryInterrupted,
        QueryTimeout,
        ShardgateError,
        ShardKeyUpdate,
        TableExists,
        TooManyRows,
        TransactionError,
        UnknownColumn,
        UnknownDatabase,
        UnknownTable,
    )
    from sharding.session import CoordinatorSession
    from sharding.topology import ShardRule, Topology, TopologyError
finally:
    if _collecting:
        _gc.enable()

__all__ = [
    "AccessDenied",
    "AmbiguousColumn",
    "BackendError",
    "BadArguments",
    "ColumnCountMismatch",
    "Coordinator",
    "CoordinatorSession",
    "DataSourceUnavailable",
    "DuplicateKey",
    "EmptyQuery",
    "NoDatabaseSelected",
    "NoShardForValue",
    "NotSupported",
    "ParseError",
    "PartitionKeyError",
    "PoolTimeout",
    "QueryInterrupted",
    "QueryTimeout",
    "Result",
    "ResultStream",
    "Session",
    "ShardKeyUpdate",
    "ShardRule",
    "ShardgateError",
    "TableExists",
    "TooManyRows",
    "Topology",
    "TopologyError",
    "TransactionError",
    "UnknownColumn",
    "UnknownDatabase",
    "UnknownTable",
]
