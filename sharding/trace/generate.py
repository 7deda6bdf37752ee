"""Workload kinds: deterministic traces plus the spec of the data they query.

Kinds (all tables are ``PARTITION BY HASH(<shard key>) PARTITIONS <shards>``):

* ``point`` — ``SELECT … FROM db.customer WHERE id = ?``: shard-key equality, one shard.
* ``scatter-topk`` — ``SELECT id, score FROM db.customer WHERE region = ?
  ORDER BY score DESC, id DESC LIMIT 10``: every shard, top-N merge.
* ``aggregate`` — ``SELECT region, COUNT(*), SUM(balance), AVG(score) … WHERE score
  BETWEEN ? AND ? GROUP BY region ORDER BY region``: every shard, AVG split into SUM/COUNT.
* ``sort-merge-join`` — ``db.customer`` (sharded on ``id``) joined with ``db.orders``
  (sharded on its own ``id``) on ``orders.customer_id = customer.id``: the join key is
  the shard key of one side only, so the join cannot be pushed down; ``ORDER BY c.id,
  o.id LIMIT 100`` over a key range (``--join-span`` ids; 0 = no range) makes it a
  cross-shard sort-merge join. The range is written on both sides so either planner
  (the coordinator, or a direct client) can push it to each side's scan.
* ``insert-batch`` — the seed 000 shape: ``db.t`` with 16 INT, 3 VARCHAR and one
  TIMESTAMP column, 1000-row multi-row INSERTs (``--batch-rows``), sharded on ``id1``.
* ``mixed`` — a weighted mix of the above (``--mix point=70,scatter-topk=10,…``).

Arrivals: ``--rate R`` statements per second in total, Poisson (exponential gaps) or
``uniform``; ``--rate 0`` puts every arrival at t = 0, so each session runs its
statements back to back (the seed's JDBC threads). Statement ``k`` belongs to session
``1 + k mod clients``.

Invariant: the output is a pure function of the options (same options, same bytes).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sharding.trace.format import TraceRecord, TraceWriter
from sharding.trace.spec import ColumnSpec, SpecError, TableSpec, WorkloadSpec, spec_path_for

__all__ = [
    "ARRIVALS",
    "DEFAULT_MIX",
    "KINDS",
    "GenOptions",
    "build_spec",
    "generate",
    "parse_mix",
    "write_trace",
]

KINDS: tuple[str, ...] = (
    "point",
    "scatter-topk",
    "aggregate",
    "insert-batch",
    "sort-merge-join",
    "mixed",
)
ARRIVALS: tuple[str, ...] = ("poisson", "uniform")
DEFAULT_MIX: Mapping[str, float] = {
    "point": 70.0,
    "scatter-topk": 10.0,
    "aggregate": 5.0,
    "sort-merge-join": 10.0,
    "insert-batch": 5.0,
}
#: Regions in db.customer (the GROUP BY key of `aggregate`).
REGIONS = 16
SCORE_MAX = 999_999
#: Tables each kind needs.
_TABLES: Mapping[str, tuple[str, ...]] = {
    "point": ("customer",),
    "scatter-topk": ("customer",),
    "aggregate": ("customer",),
    "sort-merge-join": ("customer", "orders"),
    "insert-batch": ("t",),
}


@dataclass(frozen=True)
class GenOptions:
    """What ``trace gen`` was asked for; validated on construction."""

    kind: str
    shards: int = 1024
    queries: int = 1000
    clients: int = 10
    rate: float = 100.0
    rows: int = 100_000
    seed: int = 1
    database: str = "db"
    batch_rows: int = 1000
    join_span: int = 1000
    join_limit: int = 100
    topk: int = 10
    arrival: str = "poisson"
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpecError(f"unknown kind {self.kind!r} (choose from {', '.join(KINDS)})")
        checks: list[tuple[str, float, float]] = [
            ("shards", self.shards, 1),
            ("queries", self.queries, 1),
            ("clients", self.clients, 1),
            ("rows", self.rows, 1),
            ("batch_rows", self.batch_rows, 1),
            ("join_limit", self.join_limit, 1),
            ("topk", self.topk, 1),
            ("join_span", self.join_span, 0),
            ("rate", self.rate, 0),
        ]
        for name, value, lowest in checks:
            if not value >= lowest:
                raise SpecError(f"--{name.replace('_', '-')} must be >= {lowest:g}, not {value}")
        if self.shards > 8192:
            raise SpecError("--shards must be <= 8192 (MariaDB's partition limit)")
        if self.arrival not in ARRIVALS:
            raise SpecError(f"unknown arrival {self.arrival!r} (choose from {', '.join(ARRIVALS)})")
        if self.kind == "mixed":
            bad = [k for k in self.mix if k not in _TABLES]
            if bad:
                raise SpecError(f"--mix: unknown kind(s) {', '.join(bad)}")
            if any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
                raise SpecError("--mix weights must be >= 0 with a positive total")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The concrete kinds this trace contains."""
        if self.kind == "mixed":
            return tuple(k for k in _TABLES if self.mix.get(k, 0) > 0)
        return (self.kind,)


def parse_mix(text: str) -> dict[str, float]:
    """``"point=70,scatter-topk=30"`` → ``{"point": 70.0, "scatter-topk": 30.0}``."""
    out: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, weight = part.partition("=")
        if not sep:
            raise SpecError(f"--mix: expected kind=weight, got {part!r}")
        try:
            out[name.strip()] = float(weight)
        except ValueError:
            raise SpecError(f"--mix: weight of {name.strip()!r} is not a number") from None
    if not out:
        raise SpecError("--mix is empty")
    return out


def _customer(rows: int) -> TableSpec:
    return TableSpec(
        name="customer",
        shard_key="id",
        columns=(
            ColumnSpec("id", "BIGINT NOT NULL", {"kind": "seq", "start": 1}),
            ColumnSpec("region", "INT NOT NULL", {"kind": "int", "lo": 0, "hi": REGIONS - 1}),
            ColumnSpec("score", "INT NOT NULL", {"kind": "int", "lo": 0, "hi": SCORE_MAX}),
            ColumnSpec(
                "balance",
                "DECIMAL(12,2) NOT NULL",
                {"kind": "decimal", "lo": 0, "hi": 100_000, "scale": 2},
            ),
            ColumnSpec("name", "VARCHAR(24) NOT NULL", {"kind": "str", "len": 12}),
        ),
        rows=rows,
        primary_key=("id",),
        indexes=(("ix_customer_region_score", ("region", "score")),),
    )


def _orders(rows: int, customers: int) -> TableSpec:
    return TableSpec(
        name="orders",
        shard_key="id",
        columns=(
            ColumnSpec("id", "BIGINT NOT NULL", {"kind": "seq", "start": 1}),
            ColumnSpec("customer_id", "BIGINT NOT NULL", {"kind": "int", "lo": 1, "hi": customers}),
            ColumnSpec(
                "amount",
                "DECIMAL(10,2) NOT NULL",
                {"kind": "decimal", "lo": 0, "hi": 10_000, "scale": 2},
            ),
            ColumnSpec("status", "INT NOT NULL", {"kind": "int", "lo": 0, "hi": 4}),
            ColumnSpec(
                "created",
                "TIMESTAMP NULL",
                {"kind": "timestamp", "start": "2020-01-01 00:00:00", "span": 3 * 365 * 86400},
            ),
        ),
        rows=rows,
        primary_key=("id",),
        indexes=(("ix_orders_customer", ("customer_id", "id")),),
    )


def _seed_t() -> TableSpec:
    """Seed 000's ``db.t``: id1..id16 INT, str1..str3 VARCHAR, dt TIMESTAMP; no key."""
    cols = [ColumnSpec("id1", "INT", {"kind": "seq", "start": 1})]
    cols += [
        ColumnSpec(f"id{k}", "INT", {"kind": "int", "lo": 0, "hi": 1_000_000}) for k in range(2, 17)
    ]
    cols += [ColumnSpec(f"str{k}", "VARCHAR(64)", {"kind": "str", "len": 20}) for k in range(1, 4)]
    cols.append(
        ColumnSpec(
            "dt",
            "TIMESTAMP NULL",
            {"kind": "timestamp", "start": "2020-01-01 00:00:00", "span": 3 * 365 * 86400},
        )
    )
    return TableSpec(name="t", shard_key="id1", columns=tuple(cols), rows=0)


def build_spec(opts: GenOptions) -> WorkloadSpec:
    """The tables (and their initial rows) the trace of ``opts`` needs."""
    needed: list[str] = []
    for k in opts.kinds:
        for name in _TABLES[k]:
            if name not in needed:
                needed.append(name)
    makers = {
        "customer": lambda: _customer(opts.rows),
        "orders": lambda: _orders(opts.rows, opts.rows),
        "t": _seed_t,
    }
    tables = tuple(makers[name]() for name in ("customer", "orders", "t") if name in needed)
    options: dict[str, Any] = {
        "queries": opts.queries,
        "clients": opts.clients,
        "rate": opts.rate,
        "arrival": opts.arrival,
        "rows": opts.rows,
        "batch_rows": opts.batch_rows,
        "join_span": opts.join_span,
        "join_limit": opts.join_limit,
        "topk": opts.topk,
    }
    if opts.kind == "mixed":
        options["mix"] = dict(opts.mix)
    return WorkloadSpec(
        kind=opts.kind,
        database=opts.database,
        shards=opts.shards,
        seed=opts.seed,
        tables=tables,
        options=options,
    )


class _Statements:
    """Renders one statement of each kind; carries the insert cursor."""

    def __init__(self, opts: GenOptions, spec: WorkloadSpec, rng: random.Random) -> None:
        self.o = opts
        self.spec = spec
        self.rng = rng
        self.db = opts.database
        self.next_insert_row = 0

    def make(self, kind: str) -> tuple[str, dict[str, Any]]:
        rng, db, o = self.rng, self.db, self.o
        if kind == "point":
            key = rng.randint(1, o.rows)
            return (
                f"SELECT id, region, score, balance, name FROM {db}.customer WHERE id = {key}",
                {"id": key},
            )
        if kind == "scatter-topk":
            region = rng.randrange(REGIONS)
            return (
                f"SELECT id, score FROM {db}.customer WHERE region = {region} "
                f"ORDER BY score DESC, id DESC LIMIT {o.topk}",
                {"region": region, "limit": o.topk},
            )
        if kind == "aggregate":
            width = (SCORE_MAX + 1) // 10
            lo = rng.randrange(0, SCORE_MAX + 1 - width + 1)
            hi = lo + width - 1
            return (
                f"SELECT region, COUNT(*), SUM(balance), AVG(score) FROM {db}.customer "
                f"WHERE score BETWEEN {lo} AND {hi} GROUP BY region ORDER BY region",
                {"lo": lo, "hi": hi},
            )
        if kind == "sort-merge-join":
            where = ""
            params: dict[str, Any] = {"limit": o.join_limit, "lo": None, "hi": None}
            if o.join_span > 0:
                span = min(o.join_span, o.rows)
                lo = rng.randint(1, o.rows - span + 1)
                hi = lo + span - 1
                params.update(lo=lo, hi=hi)
                where = f" WHERE c.id BETWEEN {lo} AND {hi} AND o.customer_id BETWEEN {lo} AND {hi}"
            return (
                f"SELECT c.id, c.name, o.id, o.amount FROM {db}.customer c "
                f"JOIN {db}.orders o ON o.customer_id = c.id{where} "
                f"ORDER BY c.id, o.id LIMIT {o.join_limit}",
                params,
            )
        if kind == "insert-batch":
            first = self.next_insert_row
            self.next_insert_row += o.batch_rows
            table = self.spec.table("t")
            return (
                table.insert_sql(db, self.spec.seed, first, o.batch_rows),
                {"table": "t", "first_row": first, "rows": o.batch_rows},
            )
        raise SpecError(f"no statement template for kind {kind!r}")


def generate(opts: GenOptions) -> tuple[WorkloadSpec, Iterator[TraceRecord]]:
    """The spec and (lazily) the records of the trace ``opts`` describes."""
    spec = build_spec(opts)

    def records() -> Iterator[TraceRecord]:
        arrivals = random.Random(opts.seed * 2 + 1)  # independent of the statement stream
        rng = random.Random(opts.seed * 2)
        stmts = _Statements(opts, spec, rng)
        kinds = list(opts.kinds)
        weights = [opts.mix.get(k, 0.0) for k in kinds] if opts.kind == "mixed" else None
        t = 0.0
        for k in range(opts.queries):
            if opts.rate > 0:
                if opts.arrival == "poisson":
                    t += arrivals.expovariate(opts.rate) if k else 0.0
                else:
                    t = k / opts.rate
            kind = rng.choices(kinds, weights)[0] if weights else kinds[0]
            sql, params = stmts.make(kind)
            yield TraceRecord(round(t, 6), 1 + k % opts.clients, sql, kind, params)

    return spec, records()


def write_trace(opts: GenOptions, out: str | Path) -> tuple[Path, Path, int]:
    """Write the trace to ``out`` and its spec next to it; returns paths and count."""
    spec, records = generate(opts)
    trace_path = Path(out)
    spec_path = spec_path_for(trace_path)
    if trace_path.resolve() == spec_path.resolve():
        raise SpecError(f"output {out} would be overwritten by its own spec")
    with TraceWriter(trace_path) as w:
        for rec in records:
            w.write(rec)
    spec.dump(spec_path)
    return trace_path, spec_path, w.count
