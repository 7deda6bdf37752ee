"""Cluster topology: data sources, sharding rules, executor shape (TOML).

The TOML keys are a contract (issue 3)::

    [cluster]
    database = "db"              # default logical database
    default_shards = 16          # tables created without a rule
    default_algorithm = "hash"
    physical = "{database}_{shard:04d}.{table}"   # default physical name template
    chunk_rows = 1000            # rows per chunk of an ordered/streamed shard read
    catalog = "shardgate_catalog"  # physical database of the catalog and XA log

    [executor]                   # any ExecutorConfig field
    buckets = 4

    [[datasources]]
    name = "ds0"
    kind = "sqlite"
    path = ".shardgate/ds0"      # relative paths are relative to the TOML file

    [[tables]]
    name = "db.t"
    shard_key = "id"
    algorithm = "mod"            # mod | hash | range (range: bounds = [...])
    shards = 1024
    datasources = ["ds0"]        # shard i lives on datasources[i % n]
    physical = "shard_{shard:04d}.t"
    primary_key = ["id"]

    [[tables]]
    name = "db.dim"
    broadcast = true

    [[bindings]]                 # co-located table groups (same rule, joined on key)
    tables = ["db.t", "db.t_item"]

Shard functions (``ShardRule.shard_of``), applied to the key value *after* the column's
type affinity is applied (so ``'5'`` and ``5`` route alike in an INTEGER column):

* ``mod``: integer keys only; ``key mod shards`` (non-negative).
* ``hash``: a stable 64-bit hash — splitmix64 of integers (integral floats count as
  integers, as SQL compares ``1 = 1.0``), BLAKE2b of text/blobs/other floats — mod
  shards. Stable across processes and Python versions (``hash()`` is not).
* ``range``: ``bounds = [b1, …, bn]`` ascending gives ``n + 1`` shards; shard ``i``
  holds ``b_i <= key < b_{i+1}`` (open at both ends).

A NULL shard key lives on shard 0. A key the rule cannot place (text under ``mod``, a
string against numeric bounds) is refused with MySQL's error 1526.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import struct
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from executor import ExecutorConfig
from sharding.errors import NoShardForValue

if TYPE_CHECKING:
    from sharding.backend.base import DataSource

Algorithm = Literal["mod", "hash", "range"]
ALGORITHMS: tuple[str, ...] = ("mod", "hash", "range")
DEFAULT_PHYSICAL = "{database}_{shard:04d}.{table}"
_MASK64 = (1 << 64) - 1


class TopologyError(ValueError):
    """The topology (TOML or arguments) is invalid; the message says where."""


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def stable_hash(value: Any) -> int:
    """64-bit hash of a (canonical) shard key; see the module docstring."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        value = int(value)
    if isinstance(value, int):
        return splitmix64(value & _MASK64)
    if isinstance(value, str):
        data = b"s" + value.encode("utf-8")
    elif isinstance(value, bytes | bytearray | memoryview):
        data = b"b" + bytes(value)
    elif isinstance(value, float):
        data = b"f" + struct.pack("<d", value)
    else:
        data = b"o" + str(value).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


@dataclass(frozen=True)
class ShardRule:
    """How one logical table is split: algorithm, shard count, placement, names."""

    algorithm: Algorithm = "hash"
    shards: int = 16
    shard_key: str | None = None
    datasources: tuple[str, ...] = ()
    physical: str = DEFAULT_PHYSICAL
    bounds: tuple[Any, ...] = ()
    broadcast: bool = False

    def __post_init__(self) -> None:
        if self.broadcast:
            return
        if self.algorithm not in ALGORITHMS:
            raise TopologyError(
                f"algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}"
            )
        if not isinstance(self.shards, int) or self.shards < 1:
            raise TopologyError(f"shards must be a positive integer, got {self.shards!r}")
        if self.algorithm == "range":
            if len(self.bounds) + 1 != self.shards:
                raise TopologyError(
                    f"range rule: {len(self.bounds)} bounds make {len(self.bounds) + 1} shards, "
                    f"but shards = {self.shards}"
                )
            kinds = {_bound_kind(b) for b in self.bounds}
            if len(kinds) > 1:
                raise TopologyError("range bounds must be all numbers or all strings")
            if list(self.bounds) != sorted(self.bounds) or len(set(self.bounds)) != len(
                self.bounds
            ):
                raise TopologyError("range bounds must be strictly ascending")

    # ------------------------------------------------------------------ placement
    def shard_of(self, value: Any) -> int:
        """The shard holding rows whose (affinity-converted) key is ``value``."""
        if value is None or self.shards == 1:
            return 0
        if self.algorithm == "hash":
            return stable_hash(value) % self.shards
        if self.algorithm == "mod":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise NoShardForValue(
                    f"Table has no partition for value {value!r}: "
                    f"shard key {self.shard_key!r} uses mod and needs an integer"
                )
            return value % self.shards
        kind = _bound_kind(self.bounds[0]) if self.bounds else "number"
        if _bound_kind(value) != kind:
            raise NoShardForValue(
                f"Table has no partition for value {value!r}: range bounds of "
                f"{self.shard_key!r} are {kind}s"
            )
        return bisect.bisect_right(self.bounds, value)

    def shards_between(
        self, low: Any, high: Any, low_inclusive: bool = True, high_inclusive: bool = True
    ) -> set[int] | None:
        """Shards that may hold keys in the interval, or None for "cannot narrow".

        ``low``/``high`` may be None for an open end. Only ``range`` (any interval) and
        ``mod`` (a short integer interval) can narrow.
        """
        if self.algorithm == "range":
            try:
                first = 0 if low is None else self.shard_of(low)
                last = self.shards - 1 if high is None else self.shard_of(high)
            except NoShardForValue:
                return None
            if (
                high is not None
                and not high_inclusive
                and last > 0
                and self.bounds[last - 1] == high
            ):
                last -= 1
            return set(range(first, last + 1))
        if self.algorithm == "mod" and low is not None and high is not None:
            lo, hi = _as_int_bound(low, up=True), _as_int_bound(high, up=False)
            if lo is None or hi is None:
                return None
            if not low_inclusive and lo == low:
                lo += 1
            if not high_inclusive and hi == high:
                hi -= 1
            if hi < lo:
                return set()
            if hi - lo + 1 >= self.shards:
                return None
            return {v % self.shards for v in range(lo, hi + 1)}
        return None

    def datasource_of(self, shard: int) -> str:
        return self.datasources[shard % len(self.datasources)]

    def physical_name(self, shard: int, database: str, table: str) -> tuple[str, str]:
        """(physical database, physical table) of shard ``shard``."""
        if self.broadcast:
            return database, table
        text = self.physical.format(shard=shard, database=database, table=table)
        db, dot, tbl = text.partition(".")
        if not dot:
            raise TopologyError(f"physical template {self.physical!r} must give 'database.table'")
        return db, tbl

    def same_placement(self, other: ShardRule) -> bool:
        """True when both rules put equal keys on the same shard of the same source."""
        if self.broadcast or other.broadcast:
            return False
        return (
            self.algorithm == other.algorithm
            and self.shards == other.shards
            and self.bounds == other.bounds
            and self.datasources == other.datasources
        )

    def as_dict(self) -> dict[str, Any]:
        if self.broadcast:
            return {"broadcast": True, "datasources": list(self.datasources)}
        out: dict[str, Any] = {
            "algorithm": self.algorithm,
            "shards": self.shards,
            "shard_key": self.shard_key,
            "datasources": list(self.datasources),
            "physical": self.physical,
        }
        if self.bounds:
            out["bounds"] = list(self.bounds)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardRule:
        return cls(
            algorithm=data.get("algorithm", "hash"),
            shards=int(data.get("shards", 1)),
            shard_key=data.get("shard_key"),
            datasources=tuple(data.get("datasources", ())),
            physical=data.get("physical", DEFAULT_PHYSICAL),
            bounds=tuple(data.get("bounds", ())),
            broadcast=bool(data.get("broadcast", False)),
        )


def _bound_kind(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return type(value).__name__


def _as_int_bound(value: Any, *, up: bool) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return math.ceil(value) if up else math.floor(value)
    return value


@dataclass(frozen=True)
class DataSourceConfig:
    name: str
    kind: str = "sqlite"
    path: Path | None = None
    url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TableConfig:
    """A table declared in the TOML (its rule is fixed; created on CREATE TABLE)."""

    database: str
    name: str
    rule: ShardRule
    primary_key: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"


@dataclass(frozen=True)
class ClusterConfig:
    database: str = "db"
    default_shards: int = 16
    default_algorithm: Algorithm = "hash"
    physical: str = DEFAULT_PHYSICAL
    chunk_rows: int = 1000
    #: Rows allowed from one shard when an ordered read has no unique tiebreaker
    #: (so cannot be chunked by keyset); more is an error, never a silent cut.
    unchunked_limit: int = 100_000
    plan_cache_size: int = 2048
    autoinc_block: int = 100
    #: Memory budget of one ordered merge in rows: chunk = min(chunk_rows, budget/shards).
    merge_budget_rows: int = 65_536
    #: Rows a subquery used as a value (``x IN (SELECT ...)``, scalar) may return: its
    #: result is held while the outer statement runs; more is an error naming this.
    subquery_rows: int = 100_000
    #: Rows a set operation over several shards (UNION / INTERSECT / EXCEPT) may hold:
    #: a parenthesised branch's ``ORDER BY ... LIMIT`` result re-sorted for the merge,
    #: a run of equal rows of INTERSECT/EXCEPT ALL; more is an error naming this.
    union_rows: int = 100_000
    #: Physical database (on the first data source) holding the catalog and the XA
    #: decision log: two clusters with different names can share one server.
    catalog: str = "shardgate_catalog"
    #: Issue 17: each MariaDB data source merges its own shards' rows (top-N, partial
    #: aggregates) in the statement that reads them (:mod:`sharding.sql.source_stage`).
    #: Off: every shard's rows come to the coordinator, as before.
    pushdown: bool = True
    #: A data source's shard reads of one query go out as statements of at least this
    #: many of its shards (``BatchPolicy.min_parts``; from 4 × this many on, spread
    #: over 4 statements). 16: a read over up to 16 shards of a data source is one
    #: statement — cheapest for the small reads most queries are; lower it (8, 4) for
    #: big reads over few shards on an idle many-core server, where MariaDB's one core
    #: per statement is the limit (``sharding/exec/batch.py``).
    shards_per_statement: int = 16


_CLUSTER_KEYS = set(ClusterConfig.__dataclass_fields__)
_TABLE_KEYS = {
    "name",
    "shard_key",
    "algorithm",
    "shards",
    "datasources",
    "physical",
    "primary_key",
    "bounds",
    "broadcast",
}


@dataclass(frozen=True)
class Topology:
    """Everything a :class:`~sharding.Coordinator` needs to start."""

    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    datasources: tuple[DataSourceConfig, ...] = ()
    tables: tuple[TableConfig, ...] = ()
    bindings: tuple[frozenset[str], ...] = ()

    def __post_init__(self) -> None:
        if not self.datasources:
            raise TopologyError("a topology needs at least one [[datasources]] entry")
        catalog = self.cluster.catalog
        # Spliced into SQL unquoted (catalog.py, backend/xa.py): a plain name only.
        if (
            not isinstance(catalog, str)
            or not catalog
            or len(catalog) > 64
            or not all(c.isascii() and (c.isalnum() or c in "_$") for c in catalog)
        ):
            raise TopologyError(
                f"[cluster] catalog must be a database name of letters, digits, '_' or '$', not {catalog!r}"
            )
        names = [d.name for d in self.datasources]
        if len(set(names)) != len(names):
            raise TopologyError(f"duplicate data source names in {names}")
        known = set(names)
        seen: set[str] = set()
        for t in self.tables:
            if t.qualified in seen:
                raise TopologyError(f"table {t.qualified} is declared twice")
            seen.add(t.qualified)
            for ds in t.rule.datasources:
                if ds not in known:
                    raise TopologyError(f"table {t.qualified}: unknown data source {ds!r}")
        for group in self.bindings:
            for name in group:
                if name not in seen:
                    raise TopologyError(f"binding group names undeclared table {name!r}")
            rules = [t.rule for t in self.tables if t.qualified in group]
            if any(not rules[0].same_placement(r) for r in rules[1:]):
                raise TopologyError(
                    f"binding group {sorted(group)} has tables with different shard rules"
                )

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Topology:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise TopologyError(f"cannot read topology {p}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise TopologyError(f"{p}: invalid TOML: {exc}") from exc
        return cls.from_dict(data, base_dir=p.parent)

    @classmethod
    def loads(cls, text: str, base_dir: str | os.PathLike[str] = ".") -> Topology:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise TopologyError(f"invalid TOML: {exc}") from exc
        return cls.from_dict(data, base_dir=Path(base_dir))

    @classmethod
    def default(cls, data_dir: str | os.PathLike[str], **cluster: Any) -> Topology:
        """Embedded default: one SQLite source in ``<data_dir>/ds0``, database ``db``,
        16 hash shards per table."""
        bad = set(cluster) - _CLUSTER_KEYS
        if bad:
            raise TopologyError(f"[cluster]: unknown keys {', '.join(sorted(bad))}")
        return cls(
            cluster=ClusterConfig(**cluster),
            datasources=(DataSourceConfig("ds0", "sqlite", Path(data_dir) / "ds0"),),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: Path = Path(".")) -> Topology:
        unknown = set(data) - {"cluster", "executor", "datasources", "tables", "bindings"}
        if unknown:
            raise TopologyError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
        cluster_data = dict(data.get("cluster", {}))
        bad = set(cluster_data) - _CLUSTER_KEYS
        if bad:
            raise TopologyError(f"[cluster]: unknown keys {', '.join(sorted(bad))}")
        cluster = ClusterConfig(**cluster_data)
        if cluster.default_algorithm not in ("hash", "mod"):
            raise TopologyError("[cluster] default_algorithm must be 'hash' or 'mod'")
        if cluster.chunk_rows < 1 or cluster.default_shards < 1:
            raise TopologyError("[cluster] chunk_rows and default_shards must be >= 1")
        if not isinstance(cluster.shards_per_statement, int) or cluster.shards_per_statement < 1:
            raise TopologyError("[cluster] shards_per_statement must be an integer >= 1")
        if not isinstance(cluster.pushdown, bool):
            raise TopologyError("[cluster] pushdown must be true or false")
        try:
            executor = ExecutorConfig.from_mapping(data.get("executor", {}))
        except (TypeError, ValueError) as exc:
            raise TopologyError(f"[executor]: {exc}") from exc
        datasources = []
        for i, entry in enumerate(data.get("datasources", [])):
            entry = dict(entry)
            try:
                name = entry.pop("name")
            except KeyError:
                raise TopologyError(f"[[datasources]] #{i + 1} has no name") from None
            kind = entry.pop("kind", "sqlite")
            path = entry.pop("path", None)
            url = entry.pop("url", None)
            if kind == "sqlite":
                if path is None:
                    raise TopologyError(f"data source {name!r}: sqlite needs a path")
                resolved = Path(path)
                if not resolved.is_absolute():
                    resolved = base_dir / resolved
                datasources.append(DataSourceConfig(name, kind, resolved, None, entry))
            elif kind == "mysql":
                if url is None:
                    raise TopologyError(f"data source {name!r}: mysql needs a url")
                datasources.append(DataSourceConfig(name, kind, None, url, entry))
            else:
                raise TopologyError(f"data source {name!r}: unknown kind {kind!r}")
        all_ds = tuple(d.name for d in datasources)
        tables = []
        for i, entry in enumerate(data.get("tables", [])):
            bad = set(entry) - _TABLE_KEYS
            if bad:
                raise TopologyError(f"[[tables]] #{i + 1}: unknown keys {', '.join(sorted(bad))}")
            qualified = entry.get("name")
            if not isinstance(qualified, str):
                raise TopologyError(f'[[tables]] #{i + 1} needs name = "database.table"')
            database, dot, table = qualified.partition(".")
            if not dot:
                database, table = cluster.database, qualified
            broadcast = bool(entry.get("broadcast", False))
            try:
                rule = ShardRule(
                    algorithm=entry.get("algorithm", cluster.default_algorithm),
                    shards=entry.get("shards", 1 if broadcast else cluster.default_shards),
                    shard_key=entry.get("shard_key"),
                    datasources=tuple(entry.get("datasources", all_ds)),
                    physical=entry.get("physical", cluster.physical),
                    bounds=tuple(entry.get("bounds", ())),
                    broadcast=broadcast,
                )
            except TopologyError as exc:
                raise TopologyError(f"table {qualified}: {exc}") from None
            if not broadcast and not rule.shard_key:
                raise TopologyError(f"table {qualified}: shard_key is required")
            pk = entry.get("primary_key", ())
            tables.append(
                TableConfig(database, table, rule, tuple([pk] if isinstance(pk, str) else pk))
            )
        bindings = []
        for entry in data.get("bindings", []):
            names = entry.get("tables") if isinstance(entry, Mapping) else entry
            if not isinstance(names, list) or len(names) < 2:
                raise TopologyError("[[bindings]] needs tables = [at least two names]")
            bindings.append(frozenset(n if "." in n else f"{cluster.database}.{n}" for n in names))
        return cls(cluster, executor, tuple(datasources), tuple(tables), tuple(bindings))

    # ------------------------------------------------------------------ helpers
    def datasource_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.datasources)

    def default_rule(self, shard_key: str | None, **overrides: Any) -> ShardRule:
        base = ShardRule(
            algorithm=self.cluster.default_algorithm,
            shards=self.cluster.default_shards,
            shard_key=shard_key,
            datasources=self.datasource_names(),
            physical=self.cluster.physical,
        )
        return replace(base, **overrides) if overrides else base

    def declared(self, database: str, table: str) -> TableConfig | None:
        for t in self.tables:
            if t.database == database and t.name == table:
                return t
        return None

    def with_executor(self, **overrides: Any) -> Topology:
        values = {f: getattr(self.executor, f) for f in self.executor.__dataclass_fields__}
        values.update(overrides)
        return replace(self, executor=ExecutorConfig.from_mapping(values))

    def with_cluster(self, **overrides: Any) -> Topology:
        return replace(self, cluster=replace(self.cluster, **overrides))


def build_datasource(config: DataSourceConfig) -> DataSource:
    """Instantiate the backend of one data source config."""
    if config.kind == "sqlite":
        from sharding.backend.sqlite import SQLiteDataSource

        assert config.path is not None
        opts = {
            k: v
            for k, v in config.options.items()
            if k in ("max_idle", "max_threads", "busy_timeout", "cache_kib")
        }
        return SQLiteDataSource(config.name, config.path, **opts)
    if config.kind == "mysql":
        try:
            from sharding.backend import mysql
        except ImportError as exc:
            raise TopologyError(
                f"data source {config.name!r}: the MySQL backend is not available ({exc})"
            ) from exc
        return mysql.from_config(config)
    raise TopologyError(f"unknown data source kind {config.kind!r}")
