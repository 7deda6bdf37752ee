"""The server's hand-kept counters export exactly what prometheus_client's would.

``sharding/server/metrics.py`` keeps statement counts, errors, connections and the
latency histogram as plain numbers and builds the Prometheus families at scrape time
(issue 16: the library's per-observation locks and label lookups were ~70 k
instructions per point query; its import ~100 ms of start-up). These tests feed the
same observations to prometheus_client's own ``Counter``/``Gauge``/``Histogram`` and
compare the text exposition sample by sample, and check that building the server's
metrics does not import the library.
"""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sharding.server.metrics import _LATENCY_BUCKETS, ServerMetrics


class _NoAdmin:
    def thread_pool_status(self) -> list[Any]:
        return []

    def datasource_statistics(self) -> list[Any]:
        return []

    def queries(self) -> list[Any]:
        return []


def _samples(text: bytes) -> list[str]:
    """Sample lines (and HELP/TYPE lines), without the ``_created`` series, sorted."""
    keep = []
    for line in text.decode().splitlines():
        if "_created" in line:
            continue
        keep.append(line)
    return sorted(keep)


def test_exposition_matches_prometheus_client() -> None:
    ours = ServerMetrics(_NoAdmin())  # type: ignore[arg-type]
    reg = CollectorRegistry(auto_describe=True)
    statements = Counter("shardgate_statements", "statements answered", ["kind"], registry=reg)
    latency = Histogram(
        "shardgate_statement_seconds",
        "statement latency, request to last byte queued",
        ["kind"],
        buckets=_LATENCY_BUCKETS,
        registry=reg,
    )
    errors = Counter(
        "shardgate_errors", "error packets sent, by MySQL error code", ["code"], registry=reg
    )
    connections = Gauge("shardgate_connections", "open client connections", ["port"], registry=reg)
    accepted = Counter(
        "shardgate_connections_accepted", "client connections accepted", ["port"], registry=reg
    )
    refused = Counter(
        "shardgate_connections_refused", "connections refused", ["reason"], registry=reg
    )
    relayed = Counter(
        "shardgate_rows_relayed",
        "result rows relayed from a shard unparsed (one-shard text results)",
        ["protocol"],
        registry=reg,
    )
    Gauge("shardgate_queries_open", "open logical queries", registry=reg).set(0)

    rng = random.Random(7)
    for _ in range(2000):
        kind = rng.choice(["select", "insert", "update", "other"])
        # bucket bounds exactly, just around them, and past the last one
        seconds = rng.choice([*_LATENCY_BUCKETS, 0.0, 1e-7, 75.0, rng.uniform(0, 2)])
        if rng.random() < 0.2:
            seconds = rng.choice(_LATENCY_BUCKETS) * (1 + rng.choice([-1e-12, 1e-12]))
        code = rng.choice([None, None, None, 1064, 1146])
        ours.observe(kind, seconds, code)
        statements.labels(kind).inc()
        latency.labels(kind).observe(seconds)
        if code is not None:
            errors.labels(str(code)).inc()
    ours.error(1317)
    errors.labels("1317").inc()
    for port in ("main", "admin", "main"):
        ours.connections_accepted.labels(port).inc()
        accepted.labels(port).inc()
        ours.connections.labels(port).inc()
        connections.labels(port).inc()
    ours.connections.labels("main").dec()
    connections.labels("main").dec()
    ours.connections_refused.labels("max_connections").inc()
    refused.labels("max_connections").inc()
    ours.rows_relayed.labels("text").value += 3
    relayed.labels("text").inc(3)

    assert _samples(ours.render()) == _samples(generate_latest(reg))
    assert ours.questions == 2000
    assert ours.connections_refused.value("max_connections") == 1
    assert ours.connections_refused.value("auth") == 0
    snap = ours.snapshot()
    assert (
        snap["shardgate_statements_total{kind=select}"] == statements.labels("select")._value.get()
    )
    assert snap["shardgate_errors_total{code=1317}"] == 1.0
    assert snap["shardgate_connections{port=main}"] == 1.0


def test_metrics_do_not_import_prometheus_client_until_rendered() -> None:
    code = (
        "import sys\n"
        "from sharding.server.metrics import ServerMetrics\n"
        "import sharding.server, sharding.server.http, sharding.cli\n"
        "class A:\n"
        "    def thread_pool_status(self): return []\n"
        "    def datasource_statistics(self): return []\n"
        "    def queries(self): return []\n"
        "m = ServerMetrics(A())\n"
        "m.observe('select', 0.001)\n"
        "print('prometheus_client' in sys.modules)\n"
        "m.render()\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert out == ["False", "True"]
