"""The workload spec written next to a trace: tables, DDL, row counts, data generator.

``trace.spec.json`` says everything ``trace load`` needs to recreate the data a trace
expects, and what ``replay --compare-direct`` needs to render per-shard statements::

    {"version": 1, "kind": "point", "database": "db", "shards": 1024, "seed": 1,
     "generator": "splitmix64-v1",
     "tables": [{"name": "customer", "shard_key": "id", "rows": 100000,
                 "ddl": "CREATE TABLE db.customer (...) PARTITION BY HASH(id) PARTITIONS 1024",
                 "indexes": ["CREATE INDEX ix_customer_score ON db.customer (score)"],
                 "columns": [{"name": "id", "type": "BIGINT NOT NULL",
                              "gen": {"kind": "seq", "start": 1}}, ...]}],
     "options": {...}}

Data generator ``splitmix64-v1`` (deterministic, any language can reproduce it): for
row ``i`` (0-based) of table ``T``, column ``c``::

    u = splitmix64((splitmix64(seed XOR fnv1a64("T.c")) + i) mod 2^64)

and the column's ``gen`` maps ``u`` to a value:

* ``seq {start}`` → ``start + i`` (ignores ``u``)
* ``int {lo, hi}`` → ``lo + u mod (hi - lo + 1)``
* ``decimal {lo, hi, scale}`` → ``(lo·10^scale + u mod ((hi - lo)·10^scale + 1)) / 10^scale``
* ``str {len}`` → the first ``len`` characters of the 16-digit lower-case hex forms of
  ``splitmix64(u + j)`` for ``j = 0, 1, …``, concatenated
* ``timestamp {start, span}`` → ``start`` (``YYYY-MM-DD HH:MM:SS``) plus ``u mod span``
  seconds, printed the same way.

Sharding is declared the MySQL way, ``PARTITION BY HASH(shard_key) PARTITIONS n``: the
shardgate coordinator turns it into its shard rule, and a plain MariaDB makes a real
partitioned table (the unsharded baseline). On MariaDB, ``HASH`` of a non-negative
integer ``v`` puts the row in partition ``p{v mod n}`` (:func:`mariadb_partition`);
the generated keys are all positive.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "GENERATOR",
    "ColumnSpec",
    "SpecError",
    "TableSpec",
    "WorkloadSpec",
    "fnv1a64",
    "mariadb_partition",
    "spec_path_for",
    "splitmix64",
    "sql_literal",
]

GENERATOR = "splitmix64-v1"
_MASK64 = (1 << 64) - 1
_TS_FORMAT = "%Y-%m-%d %H:%M:%S"
_GEN_KINDS = ("seq", "int", "decimal", "str", "timestamp")


class SpecError(ValueError):
    """A spec file or spec value is invalid; the message says which part."""


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & _MASK64
    return h


def mariadb_partition(value: int, partitions: int) -> int:
    """The partition MariaDB's ``PARTITION BY HASH(col) PARTITIONS n`` gives ``value``."""
    return abs(int(value)) % partitions


def sql_literal(value: Any) -> str:
    """A MySQL literal for a generated value (ints, Decimals, [0-9a-f :-] strings, None)."""
    if type(value) is int:  # the common case first: most generated cells are ints
        return str(value)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    raise SpecError(f"no SQL literal for {type(value).__name__}")


@dataclass(frozen=True)
class ColumnSpec:
    """One column: SQL type text and the generator mapping ``u`` to a value."""

    name: str
    type: str
    gen: Mapping[str, Any]

    def __post_init__(self) -> None:
        kind = self.gen.get("kind")
        where = f"column {self.name!r}"
        if kind not in _GEN_KINDS:
            raise SpecError(f"{where}: gen kind must be one of {_GEN_KINDS}, not {kind!r}")
        need = {
            "seq": ("start",),
            "int": ("lo", "hi"),
            "decimal": ("lo", "hi", "scale"),
            "str": ("len",),
            "timestamp": ("start", "span"),
        }[kind]
        for key in need:
            if key not in self.gen:
                raise SpecError(f"{where}: gen {kind!r} needs {key!r}")
        if kind in ("int", "decimal") and int(self.gen["hi"]) < int(self.gen["lo"]):
            raise SpecError(f"{where}: hi < lo")
        if kind == "str" and int(self.gen["len"]) < 1:
            raise SpecError(f"{where}: len must be >= 1")
        if kind == "timestamp":
            try:
                dt.datetime.strptime(str(self.gen["start"]), _TS_FORMAT)
            except ValueError:
                raise SpecError(f"{where}: start must look like 2020-01-01 00:00:00") from None
            if int(self.gen["span"]) < 1:
                raise SpecError(f"{where}: span must be >= 1")
        object.__setattr__(self, "value", _compile(self.gen))

    #: ``value(i, u)`` → the column's value for row ``i`` with hash ``u`` (compiled
    #: once per column: loading millions of rows calls it for every cell).
    value: Callable[[int, int], Any] = field(init=False, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "gen": dict(self.gen)}


@dataclass(frozen=True)
class TableSpec:
    """One logical table, sharded by ``shard_key`` (``PARTITION BY HASH``)."""

    name: str
    shard_key: str
    columns: tuple[ColumnSpec, ...]
    rows: int
    primary_key: tuple[str, ...] = ()
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    _seeds: dict[int, tuple[int, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise SpecError(f"table {self.name!r}: duplicate column names")
        if self.shard_key not in names:
            raise SpecError(f"table {self.name!r}: shard key {self.shard_key!r} is not a column")
        for col in (*self.primary_key, *(c for _, cols in self.indexes for c in cols)):
            if col not in names:
                raise SpecError(f"table {self.name!r}: unknown column {col!r} in a key")
        if self.rows < 0:
            raise SpecError(f"table {self.name!r}: rows must be >= 0")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def qualified(self, database: str) -> str:
        return f"{database}.{self.name}"

    def ddl(self, database: str, shards: int) -> str:
        parts = [f"{c.name} {c.type}" for c in self.columns]
        if self.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        return (
            f"CREATE TABLE {self.qualified(database)} ({', '.join(parts)}) "
            f"PARTITION BY HASH({self.shard_key}) PARTITIONS {shards}"
        )

    def index_ddl(self, database: str) -> list[str]:
        return [
            f"CREATE INDEX {name} ON {self.qualified(database)} ({', '.join(cols)})"
            for name, cols in self.indexes
        ]

    def row(self, seed: int, i: int) -> tuple[Any, ...]:
        """The values of row ``i`` (0-based) under the ``splitmix64-v1`` generator."""
        seeds = self._seeds.get(seed)
        if seeds is None:
            seeds = self._seeds[seed] = tuple(
                splitmix64(seed ^ fnv1a64(f"{self.name}.{c.name}")) for c in self.columns
            )
        return tuple(
            c.value(i, splitmix64((s + i) & _MASK64))
            for c, s in zip(self.columns, seeds, strict=True)
        )

    def values_sql(self, seed: int, first: int, count: int) -> str:
        """``(…),(…)`` for rows ``first … first+count-1`` (the VALUES list of an INSERT)."""
        return ",".join(
            "(" + ",".join(sql_literal(v) for v in self.row(seed, i)) + ")"
            for i in range(first, first + count)
        )

    def insert_sql(self, database: str, seed: int, first: int, count: int) -> str:
        return (
            f"INSERT INTO {self.qualified(database)} ({', '.join(self.column_names)}) "
            f"VALUES {self.values_sql(seed, first, count)}"
        )

    def as_dict(self, database: str, shards: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "shard_key": self.shard_key,
            "rows": self.rows,
            "primary_key": list(self.primary_key),
            "ddl": self.ddl(database, shards),
            "indexes": [
                {"name": n, "columns": list(cols), "ddl": d}
                for (n, cols), d in zip(self.indexes, self.index_ddl(database), strict=True)
            ],
            "columns": [c.as_dict() for c in self.columns],
        }


@dataclass(frozen=True)
class WorkloadSpec:
    """Everything a trace needs from the database (see the module docstring)."""

    kind: str
    database: str
    shards: int
    seed: int
    tables: tuple[TableSpec, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    #: DDL as written in the file; normally derived, kept when a user edited it.
    ddl_override: Mapping[str, str] = field(default_factory=dict)
    index_override: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.database.isidentifier():
            raise SpecError(f"database name {self.database!r} must be a plain identifier")
        if not 1 <= self.shards <= 8192:
            raise SpecError(
                f"shards must be in 1..8192 (MariaDB's partition limit), not {self.shards}"
            )
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise SpecError("duplicate table names in spec")

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name == name:
                return t
        raise SpecError(f"spec has no table {name!r}")

    def ddl(self, table: TableSpec) -> str:
        return self.ddl_override.get(table.name) or table.ddl(self.database, self.shards)

    def index_ddl(self, table: TableSpec) -> list[str]:
        if table.name in self.index_override:
            return list(self.index_override[table.name])
        return table.index_ddl(self.database)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "kind": self.kind,
            "database": self.database,
            "shards": self.shards,
            "seed": self.seed,
            "generator": GENERATOR,
            "tables": [t.as_dict(self.database, self.shards) for t in self.tables],
            "options": dict(self.options),
        }

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Any) -> WorkloadSpec:
        if not isinstance(data, dict):
            raise SpecError("spec must be a JSON object")
        if data.get("version") != 1:
            raise SpecError(f"unsupported spec version {data.get('version')!r} (expected 1)")
        if data.get("generator") != GENERATOR:
            raise SpecError(
                f"unknown data generator {data.get('generator')!r} (expected {GENERATOR})"
            )
        try:
            tables = []
            ddl: dict[str, str] = {}
            idx: dict[str, tuple[str, ...]] = {}
            for t in data["tables"]:
                cols = tuple(
                    ColumnSpec(str(c["name"]), str(c["type"]), dict(c["gen"])) for c in t["columns"]
                )
                indexes = tuple(
                    (str(i["name"]), tuple(str(c) for c in i["columns"]))
                    for i in t.get("indexes", [])
                )
                table = TableSpec(
                    name=str(t["name"]),
                    shard_key=str(t["shard_key"]),
                    columns=cols,
                    rows=int(t["rows"]),
                    primary_key=tuple(str(c) for c in t.get("primary_key", [])),
                    indexes=indexes,
                )
                tables.append(table)
                if "ddl" in t:
                    ddl[table.name] = str(t["ddl"])
                if any("ddl" in i for i in t.get("indexes", [])):
                    idx[table.name] = tuple(str(i["ddl"]) for i in t["indexes"] if "ddl" in i)
            return cls(
                kind=str(data["kind"]),
                database=str(data["database"]),
                shards=int(data["shards"]),
                seed=int(data["seed"]),
                tables=tuple(tables),
                options=dict(data.get("options", {})),
                ddl_override=ddl,
                index_override=idx,
            )
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, SpecError):
                raise
            raise SpecError(f"malformed spec: {type(e).__name__}: {e}") from None

    @classmethod
    def load(cls, path: str | Path) -> WorkloadSpec:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError(f"{path}: cannot read spec ({e.strerror})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
        try:
            return cls.from_dict(data)
        except SpecError as e:
            raise SpecError(f"{path}: {e}") from None


def spec_path_for(trace_path: str | Path) -> Path:
    """``trace.jsonl`` → ``trace.spec.json`` (same folder)."""
    p = Path(trace_path)
    stem = p.name[: -len(".jsonl")] if p.name.endswith(".jsonl") else p.name
    return p.with_name(stem + ".spec.json")


def _compile(g: Mapping[str, Any]) -> Callable[[int, int], Any]:
    kind = g["kind"]
    if kind == "seq":
        start = int(g["start"])
        return lambda i, u: start + i
    if kind == "int":
        lo, width = int(g["lo"]), int(g["hi"]) - int(g["lo"]) + 1
        return lambda i, u: lo + u % width
    if kind == "decimal":
        scale = int(g["scale"])
        unit = 10**scale
        base, width = int(g["lo"]) * unit, (int(g["hi"]) - int(g["lo"])) * unit + 1
        return lambda i, u: Decimal(base + u % width).scaleb(-scale)
    if kind == "str":
        n = int(g["len"])
        words = range(-(-n // 16))
        return lambda i, u: "".join([format(splitmix64((u + j) & _MASK64), "016x") for j in words])[
            :n
        ]
    start_ts = dt.datetime.strptime(str(g["start"]), _TS_FORMAT)
    span = int(g["span"])
    return lambda i, u: (start_ts + dt.timedelta(seconds=u % span)).strftime(_TS_FORMAT)


def tables_by_name(tables: Sequence[TableSpec]) -> dict[str, TableSpec]:
    return {t.name: t for t in tables}
