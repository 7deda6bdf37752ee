"""Prometheus metrics of the server: statements, errors, connections, buckets and pools.

Each :class:`ServerMetrics` owns its own ``CollectorRegistry`` (no process-global state,
so several servers — and tests — can coexist). Bucket and pool gauges are not stored:
a collector reads the executor's ``status()`` and every data source's ``statistics()``
at scrape time, through the same :class:`~sharding.server.admin.AdminSource` as admin
SQL, so /metrics costs nothing between scrapes and never queues behind work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sharding.server.admin import AdminSource, snapshot_dict

__all__ = ["ServerMetrics"]

_BUCKET_COUNTERS = frozenset(
    {"completed", "stalls", "kickups", "deadlocks_suspected", "drift_repairs"}
)
_POOL_COUNTERS = frozenset(
    {
        "acquired",
        "created",
        "closed",
        "validations",
        "validation_failures",
        "acquire_timeouts",
        "errors",
    }
)
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class _SnapshotCollector(Collector):
    def __init__(self, admin: AdminSource) -> None:
        self.admin = admin

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}

        def family(name: str, doc: str, counter: bool, labels: list[str]) -> Metric:
            if name not in families:
                cls = CounterMetricFamily if counter else GaugeMetricFamily
                families[name] = cls(name, doc, labels=labels)
            return families[name]

        for row in self.admin.thread_pool_status():
            d = snapshot_dict(row)
            bucket = str(d.get("bucket", "?"))
            for key, value in d.items():
                if key == "bucket" or not isinstance(value, int | float):
                    continue
                counter = key in _BUCKET_COUNTERS
                fam = family(
                    f"shardgate_bucket_{key}", f"executor bucket {key}", counter, ["bucket"]
                )
                fam.add_metric([bucket], float(value))  # type: ignore[attr-defined]
        for stats in self.admin.datasource_statistics():
            d = snapshot_dict(stats)
            name = str(d.get("name", "?"))
            for key, value in d.items():
                if key in ("name", "kind") or not isinstance(value, int | float):
                    continue
                counter = key in _POOL_COUNTERS
                fam = family(
                    f"shardgate_pool_{key}", f"data source pool {key}", counter, ["datasource"]
                )
                fam.add_metric([name], float(value))  # type: ignore[attr-defined]
            breaker = family(
                "shardgate_pool_breaker_open",
                "1 while the breaker is not closed",
                False,
                ["datasource"],
            )
            breaker.add_metric([name], 0.0 if d.get("breaker", "closed") == "closed" else 1.0)  # type: ignore[attr-defined]
        queries = family("shardgate_queries_open", "open logical queries", False, [])
        queries.add_metric([], float(len(self.admin.queries())))  # type: ignore[attr-defined]
        yield from families.values()


class ServerMetrics:
    def __init__(self, admin: AdminSource) -> None:
        #: Statements answered (``Questions`` of SHOW STATUS); a plain int, cheap to read.
        self.questions = 0
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.statements = Counter(
            "shardgate_statements", "statements answered", ["kind"], registry=r
        )
        self.latency = Histogram(
            "shardgate_statement_seconds",
            "statement latency, request to last byte queued",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "shardgate_errors", "error packets sent, by MySQL error code", ["code"], registry=r
        )
        self.connections = Gauge(
            "shardgate_connections", "open client connections", ["port"], registry=r
        )
        self.connections_accepted = Counter(
            "shardgate_connections_accepted",
            "client connections accepted",
            ["port"],
            registry=r,
        )
        self.connections_refused = Counter(
            "shardgate_connections_refused", "connections refused", ["reason"], registry=r
        )
        r.register(_SnapshotCollector(admin))

    def observe(self, kind: str, seconds: float, error_code: int | None = None) -> None:
        self.questions += 1
        self.statements.labels(kind).inc()
        self.latency.labels(kind).observe(seconds)
        if error_code is not None:
            self.errors.labels(str(error_code)).inc()

    def error(self, code: int) -> None:
        self.errors.labels(str(code)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(self) -> dict[str, Any]:
        """Counters for /status (JSON)."""
        out: dict[str, Any] = {}
        for metric in self.registry.collect():
            if metric.name.startswith(("shardgate_bucket_", "shardgate_pool_")):
                continue
            for sample in metric.samples:
                if sample.name.endswith(("_bucket", "_created")):
                    continue
                label = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{label}}}" if label else sample.name] = sample.value
        return out
