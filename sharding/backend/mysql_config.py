"""``[[datasources]]`` keys for ``kind = "mysql"``, validated: unknown keys and bad
values are rejected with the data source's name (:mod:`.mysql`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from sharding.backend.mysql_drivers import _DRIVERS, NATIVE_DRIVER
from sharding.backend.url import parse_mysql_url

# -- configuration ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MySQLConfig:
    """``[[datasources]]`` keys for ``kind = "mysql"`` (times in seconds)."""

    url: str
    max_connections: int = 32
    min_idle: int = 0
    acquire_timeout: float = 2.0
    validate_after: float = 0.5
    validation_timeout: float = 1.0
    connect_timeout: float = 2.0
    max_lifetime: float = 1800.0
    idle_timeout: float = 600.0
    query_timeout: float | None = None
    driver: str = "aiomysql"
    bridge: str = "thread"
    breaker_threshold: int = 3
    breaker_probe_interval: float = 1.0
    #: Optional server-side limit (MariaDB ``max_statement_time``) set on each connection.
    max_statement_time: float | None = None

    # Keys a [[datasources]] table may carry that belong to the topology, not the pool.
    TOPOLOGY_KEYS: ClassVar[frozenset[str]] = frozenset({"name", "kind"})

    @classmethod
    def from_mapping(cls, name: str, mapping: Mapping[str, Any]) -> MySQLConfig:
        """Build from a TOML table; reject unknown keys and bad values, naming ``name``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known - cls.TOPOLOGY_KEYS)
        if unknown:
            raise ValueError(
                f"data source {name!r}: unknown key(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        if mapping.get("kind", "mysql") != "mysql":
            raise ValueError(f"data source {name!r}: kind must be 'mysql'")
        if "url" not in mapping:
            raise ValueError(f"data source {name!r}: 'url' is required")
        values = {k: v for k, v in mapping.items() if k in known}
        cfg = cls(**values)
        cfg.validate(name)
        return cfg

    def validate(self, name: str) -> None:
        def bad(msg: str) -> ValueError:
            return ValueError(f"data source {name!r}: {msg}")

        try:
            parse_mysql_url(self.url)
        except ValueError as exc:
            raise bad(str(exc)) from None
        for key in ("max_connections", "min_idle", "breaker_threshold"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad(f"{key} must be an integer, got {value!r}")
        if self.max_connections < 1:
            raise bad("max_connections must be >= 1")
        if not 0 <= self.min_idle <= self.max_connections:
            raise bad("min_idle must be between 0 and max_connections")
        if self.breaker_threshold < 1:
            raise bad("breaker_threshold must be >= 1")
        for key in (
            "acquire_timeout",
            "validate_after",
            "validation_timeout",
            "connect_timeout",
            "max_lifetime",
            "idle_timeout",
            "breaker_probe_interval",
            "query_timeout",
            "max_statement_time",
        ):
            value = getattr(self, key)
            if value is None and key in ("query_timeout", "max_statement_time"):
                continue
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
            ):
                raise bad(f"{key} must be a number of seconds, got {value!r}")
            if value < 0 or (value == 0 and key != "validate_after"):
                raise bad(
                    f"{key} must be > 0"
                    if key != "validate_after"
                    else "validate_after must be >= 0"
                )
        if self.driver not in _DRIVERS and self.driver != NATIVE_DRIVER:
            names = ", ".join(sorted([*_DRIVERS, NATIVE_DRIVER]))
            raise bad(f"driver must be one of {names}, got {self.driver!r}")
        if self.bridge not in ("thread", "trio_asyncio"):
            raise bad(f"bridge must be 'thread' or 'trio_asyncio', got {self.bridge!r}")
