"""Prometheus metrics of the server: statements, errors, connections, buckets and pools.

Each :class:`ServerMetrics` owns its own ``CollectorRegistry`` (no process-global state,
so several servers — and tests — can coexist). Bucket and pool gauges are not stored:
a collector reads the executor's ``status()`` and every data source's ``statistics()``
at scrape time, through the same :class:`~sharding.server.admin.AdminSource` as admin
SQL, so /metrics costs nothing between scrapes and never queues behind work.

:class:`StatementHistory` keeps what Prometheus cannot give the status page: the last
few minutes *per second* (statements, errors, p50/p99/max latency), so a page opened
just now already draws its sparklines. Quantiles come from the server's own
observations, binned on a log scale; see that class for why it is hand-written.

The per-statement counters and the latency histogram are plain Python numbers
(:class:`LabeledCounter`, :class:`LabeledGauge`, :class:`LatencyHistogram`), turned
into Prometheus families only when /metrics is scraped. prometheus_client's own
``Counter``/``Histogram`` take a lock and build label tuples on every observation —
~70 k instructions per point query through ``serve`` (issue 16's measurement) — and
importing the library costs ~100 ms of start-up; here an observation is a few dict
and list updates, and the library is imported at the first scrape. Every update comes
from the server's one trio thread (connections, listener, HTTP handler), so no lock
is needed; a scrape reads the values in that thread too. The exposition is
prometheus_client's (``generate_latest``), so the text format is the library's.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sharding.server.admin import AdminSource, snapshot_dict

if TYPE_CHECKING:
    from prometheus_client.core import Metric

__all__ = [
    "LabeledCounter",
    "LabeledGauge",
    "LatencyHistogram",
    "SecondSample",
    "ServerMetrics",
    "StatementHistory",
]

_BUCKET_COUNTERS = frozenset(
    {"completed", "stalls", "kickups", "deadlocks_suspected", "drift_repairs", "door_waits"}
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


def _snapshot_families(admin: AdminSource) -> Iterator[Metric]:
    """Bucket, pool and open-query families, read from ``admin`` at scrape time."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    families: dict[str, Metric] = {}

    def family(name: str, doc: str, counter: bool, labels: list[str]) -> Metric:
        if name not in families:
            cls = CounterMetricFamily if counter else GaugeMetricFamily
            families[name] = cls(name, doc, labels=labels)
        return families[name]

    for row in admin.thread_pool_status():
        d = snapshot_dict(row)
        bucket = str(d.get("bucket", "?"))
        for key, value in d.items():
            if key == "bucket" or not isinstance(value, int | float):
                continue
            counter = key in _BUCKET_COUNTERS
            fam = family(f"shardgate_bucket_{key}", f"executor bucket {key}", counter, ["bucket"])
            fam.add_metric([bucket], float(value))  # type: ignore[attr-defined]
    for stats in admin.datasource_statistics():
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
    queries.add_metric([], float(len(admin.queries())))  # type: ignore[attr-defined]
    yield from families.values()


# -- the server's own counters ---------------------------------------------------------


class _Child:
    """One label value's number: what ``labels(...)`` returns (inc/dec/set/get)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = value

    def get(self) -> float:
        return self.value


class LabeledCounter:
    """A counter with one label: ``labels(v).inc()``; exported as ``<name>_total``.

    Invariant: a label value, once seen, stays (at 0 until counted), as with
    prometheus_client; values only grow (:meth:`_Child.dec` is for gauges)."""

    kind = "counter"

    def __init__(self, name: str, documentation: str, label: str) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.children: dict[str, _Child] = {}

    def labels(self, value: str) -> _Child:
        child = self.children.get(value)
        if child is None:
            child = self.children[value] = _Child()
        return child

    def value(self, label: str) -> float:
        """The number counted under ``label`` (0 if never seen)."""
        child = self.children.get(label)
        return 0.0 if child is None else child.value

    def family(self) -> Metric:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        cls = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        fam = cls(self.name, self.documentation, labels=[self.label])
        for value, child in self.children.items():
            fam.add_metric([value], child.value)
        return fam


class LabeledGauge(LabeledCounter):
    """A gauge with one label: ``labels(v).inc()/.dec()/.set()``."""

    kind = "gauge"


class LatencyHistogram:
    """A Prometheus histogram of seconds per label value, kept as plain lists.

    ``counts[i]`` counts observations in (buckets[i-1], buckets[i]] (the last slot is
    +Inf), made cumulative only at export."""

    def __init__(
        self, name: str, documentation: str, label: str, buckets: tuple[float, ...]
    ) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.buckets = buckets
        #: label value → [per-bucket counts..., +Inf count]; sum of observations.
        self.counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def observe(self, label: str, seconds: float) -> None:
        counts = self.counts.get(label)
        if counts is None:
            counts = self.counts[label] = [0] * (len(self.buckets) + 1)
            self.sums[label] = 0.0
        counts[bisect_left(self.buckets, seconds)] += 1
        self.sums[label] += seconds

    def family(self) -> Metric:
        from prometheus_client.core import HistogramMetricFamily

        fam = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        for label, counts in self.counts.items():
            running = 0
            cumulative: list[tuple[str, float]] = []
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                cumulative.append(("+Inf" if bound == math.inf else repr(bound), running))
            fam.add_metric([label], cumulative, self.sums[label])
        return fam


# -- per-second history for the status page --------------------------------------------

#: Latency bins grow by 2**(1/8) (about 9 %), so a quantile read from them is at most
#: 9 % above the true value; 256 bins from 10 µs reach about 12 hours.
_BIN_RATIO = 2.0**0.125
_LOG_BIN_RATIO = math.log(_BIN_RATIO)
_BIN_FLOOR = 1e-5
_MAX_BIN = 256
#: Seconds summarised in :meth:`StatementHistory.snapshot`'s ``window``.
WINDOW_SECONDS = 60


def _bin(seconds: float) -> int:
    """Index of the log bin holding ``seconds``: bin i is (FLOOR·R^(i-1), FLOOR·R^i]."""
    if not seconds > _BIN_FLOOR:  # also NaN and negative durations (clock steps)
        return 0
    return min(_MAX_BIN, math.ceil(math.log(seconds / _BIN_FLOOR) / _LOG_BIN_RATIO))


def _quantile(bins: Mapping[int, int], total: int, q: float, ceiling: float) -> float | None:
    """Upper edge of the bin holding the ``q`` quantile, never above ``ceiling`` (the
    largest observation): a conservative estimate within one bin of the truth."""
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index in sorted(bins):
        seen += bins[index]
        if seen >= rank:
            # The last bin is open-ended: only the largest observation bounds it.
            return ceiling if index >= _MAX_BIN else min(_BIN_FLOOR * _BIN_RATIO**index, ceiling)
    return ceiling


@dataclass(slots=True)
class SecondSample:
    """Statements that finished during one wall-clock second ``t`` (Unix time)."""

    t: int
    statements: int = 0
    errors: int = 0
    max: float = 0.0
    #: Latency histogram: bin index → count (sparse; see :func:`_bin`).
    bins: dict[int, int] = field(default_factory=dict)

    def add(self, seconds: float) -> None:
        self.statements += 1
        if seconds > self.max:
            self.max = seconds
        b = _bin(seconds)
        self.bins[b] = self.bins.get(b, 0) + 1

    def quantile(self, q: float) -> float | None:
        """Latency quantile ``q`` of this second (None without statements)."""
        return _quantile(self.bins, self.statements, q, self.max)

    def as_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "statements": self.statements,
            "errors": self.errors,
            "p50": _round(self.quantile(0.50)),
            "p99": _round(self.quantile(0.99)),
            "max": _round(self.max) if self.statements else None,
        }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


class StatementHistory:
    """A ring of the last ``seconds`` per-second samples of statement latency.

    Invariants: samples are consecutive seconds with no gaps (seconds without a
    statement are zero samples, added lazily when time moves on, so an idle server costs
    nothing); at most ``seconds`` complete samples are kept; a clock that steps back
    adds to the current second instead of reordering the ring. Thread-safe.

    Written by hand because what the page needs is a quantile *per second*: Prometheus
    histograms are cumulative with coarse fixed buckets, and the sketch libraries
    (HdrHistogram, DDSketch) would add a dependency to do what a sparse dict of log
    bins does in a few lines.
    """

    def __init__(self, seconds: int = 300, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
            raise ValueError(f"history seconds must be a positive integer, not {seconds!r}")
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._done: deque[SecondSample] = deque(maxlen=seconds)
        self._current = SecondSample(int(clock()))

    def _roll(self) -> SecondSample:
        """The sample of the current second, closing the ones before it (lock held)."""
        now = int(self._clock())
        current = self._current
        if now <= current.t:
            return current
        self._done.append(current)
        # Only the newest ``seconds`` idle seconds can still be in the ring.
        for t in range(max(current.t + 1, now - self.seconds), now):
            self._done.append(SecondSample(t))
        self._current = SecondSample(now)
        return self._current

    def observe(self, seconds: float, *, error: bool = False) -> None:
        """One statement finished after ``seconds`` (an error is counted, too)."""
        with self._lock:
            sample = self._roll()
            sample.add(seconds)
            if error:
                sample.errors += 1

    def error(self) -> None:
        """An error sent to a client (counted in the second it happened)."""
        with self._lock:
            self._roll().errors += 1

    def samples(self, last: int | None = None) -> list[SecondSample]:
        """Complete seconds, oldest first (the newest ``last`` of them)."""
        with self._lock:
            self._roll()
            done = list(self._done)
        if last is not None:
            done = done[-last:] if last > 0 else []
        return done

    def snapshot(self, last: int = 0) -> dict[str, Any]:
        """JSON-ready: the newest ``last`` samples and a summary of the last minute."""
        with self._lock:
            self._roll()
            done = list(self._done)
        window = done[-WINDOW_SECONDS:]
        bins: dict[int, int] = {}
        statements = errors = 0
        ceiling = 0.0
        for s in window:
            statements += s.statements
            errors += s.errors
            ceiling = max(ceiling, s.max)
            for b, n in s.bins.items():
                bins[b] = bins.get(b, 0) + n
        return {
            "interval": 1,
            "capacity": self.seconds,
            "samples": [s.as_dict() for s in (done[-last:] if last > 0 else [])],
            "window": {
                "seconds": len(window),
                "statements": statements,
                "errors": errors,
                "rate": round(statements / len(window), 3) if window else None,
                "p50": _round(_quantile(bins, statements, 0.50, ceiling)),
                "p99": _round(_quantile(bins, statements, 0.99, ceiling)),
                "max": _round(ceiling) if statements else None,
            },
        }


class ServerMetrics:
    """The server's counters, latency histogram and per-second history.

    Observations are plain number updates (module docstring); :meth:`render` builds the
    Prometheus exposition at scrape time, with the executor's buckets and the data
    sources' pools read through ``admin`` then."""

    def __init__(
        self,
        admin: AdminSource,
        *,
        history_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._admin = admin
        #: Statements answered (``Questions`` of SHOW STATUS); a plain int, cheap to read.
        self.questions = 0
        #: Per-second statements and latency quantiles for the status page.
        self.history = StatementHistory(history_seconds, clock)
        self.statements = LabeledCounter("shardgate_statements", "statements answered", "kind")
        self.latency = LatencyHistogram(
            "shardgate_statement_seconds",
            "statement latency, request to last byte queued",
            "kind",
            _LATENCY_BUCKETS,
        )
        self.errors = LabeledCounter(
            "shardgate_errors", "error packets sent, by MySQL error code", "code"
        )
        self.connections = LabeledGauge("shardgate_connections", "open client connections", "port")
        self.connections_accepted = LabeledCounter(
            "shardgate_connections_accepted", "client connections accepted", "port"
        )
        self.connections_refused = LabeledCounter(
            "shardgate_connections_refused", "connections refused", "reason"
        )
        #: Rows of one-shard text results sent as the shard wrote them, never parsed.
        self.rows_relayed = LabeledCounter(
            "shardgate_rows_relayed",
            "result rows relayed from a shard unparsed (one-shard text results)",
            "protocol",
        )

    def observe(self, kind: str, seconds: float, error_code: int | None = None) -> None:
        self.questions += 1
        self.statements.labels(kind).value += 1.0
        self.latency.observe(kind, seconds)
        self.history.observe(seconds, error=error_code is not None)
        if error_code is not None:
            self.errors.labels(str(error_code)).value += 1.0

    def error(self, code: int) -> None:
        self.errors.labels(str(code)).value += 1.0
        self.history.error()

    def _families(self) -> Iterator[Metric]:
        yield self.statements.family()
        yield self.latency.family()
        yield self.errors.family()
        yield self.connections.family()
        yield self.connections_accepted.family()
        yield self.connections_refused.family()
        yield self.rows_relayed.family()
        yield from _snapshot_families(self._admin)

    def render(self) -> bytes:
        """The Prometheus text exposition of every family (prometheus_client's format)."""
        from prometheus_client import CollectorRegistry, generate_latest

        metrics = list(self._families())

        class _Now:
            def collect(self) -> Iterator[Metric]:
                return iter(metrics)

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Now())
        return generate_latest(registry)

    def snapshot(self) -> dict[str, Any]:
        """Counters for /status (JSON): the server's own families, flattened."""
        out: dict[str, Any] = {}
        families = (
            self.statements,
            self.errors,
            self.connections,
            self.connections_accepted,
            self.connections_refused,
            self.rows_relayed,
        )
        for fam in families:
            suffix = "_total" if fam.kind == "counter" else ""
            for value, child in fam.children.items():
                out[f"{fam.name}{suffix}{{{fam.label}={value}}}"] = child.value
        for label, counts in self.latency.counts.items():
            out[f"{self.latency.name}_count{{{self.latency.label}={label}}}"] = float(sum(counts))
            out[f"{self.latency.name}_sum{{{self.latency.label}={label}}}"] = self.latency.sums[
                label
            ]
        out["shardgate_queries_open"] = float(len(self._admin.queries()))
        return out
