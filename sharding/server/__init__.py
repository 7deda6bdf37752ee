"""The MySQL wire-protocol front end of shardgate (``shardgate serve``).

Layers, each testable alone: :mod:`.codec` (sans-IO packets), :mod:`.types` (value
encodings), :mod:`.auth`, :mod:`.sqlscan` (lexical scanning, no parsing),
:mod:`.localsql` (session statements answered locally), :mod:`.admin` (admin SQL),
:mod:`.connection` (one client's state machine), :mod:`.server` (trio transport,
limits, shutdown), :mod:`.http` (/metrics, /status, /healthz), :mod:`.metrics`.
"""

from sharding.api import CoordinatorAdmin
from sharding.server.admin import AdminSource, NullAdmin
from sharding.server.config import ConfigError, ServerConfig
from sharding.server.server import MySQLServer

__all__ = [
    "AdminSource",
    "ConfigError",
    "CoordinatorAdmin",
    "MySQLServer",
    "NullAdmin",
    "ServerConfig",
]
