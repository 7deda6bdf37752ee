"""Latency histograms with bounded memory and bounded relative error.

A replay may record millions of latencies; keeping them all would grow without bound,
so each :class:`LatencyHistogram` counts values in logarithmic buckets: bucket ``i``
holds values in ``[lowest·γ^i, lowest·γ^(i+1))`` with ``γ = 1 + precision``. A
percentile is reported as the geometric middle of its bucket, clamped to the exact
minimum and maximum, so its relative error is at most ``precision / 2`` (0.5 % by
default) and ``max`` is exact. Memory is one dict entry per non-empty bucket (≈ 2,100
buckets cover 1 µs … 1,000 s at 1 %).

Written by hand rather than with the ``hdrhistogram`` package: the dozen lines below do
what a replay needs (record, merge, percentiles, JSON) without a dependency whose
per-value ``record`` is slower than this in pure Python.

Invariants: ``count`` equals the number of :meth:`record` calls (merged ones included);
every percentile lies in ``[min, max]``; percentiles are non-decreasing in ``p``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PERCENTILES", "LatencyHistogram"]

#: The percentiles a report shows (besides max and mean).
PERCENTILES: tuple[float, ...] = (50.0, 95.0, 99.0)


@dataclass
class LatencyHistogram:
    """Counts of latencies (seconds) in log buckets; see the module docstring."""

    precision: float = 0.01
    lowest: float = 1e-6
    count: int = 0
    total: float = 0.0
    min: float = math.inf
    max: float = 0.0
    _buckets: dict[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.precision < 1:
            raise ValueError(f"precision must be in (0, 1), not {self.precision!r}")
        if not self.lowest > 0:
            raise ValueError(f"lowest must be > 0, not {self.lowest!r}")
        self._log_gamma = math.log1p(self.precision)

    def _index(self, value: float) -> int:
        if value < self.lowest:
            return -1  # everything below `lowest` shares one bucket
        return int(math.log(value / self.lowest) / self._log_gamma)

    def record(self, value: float) -> None:
        """Count one latency. Negative or non-finite values are a caller bug."""
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"latency must be finite and >= 0, not {value!r}")
        i = self._index(value)
        self._buckets[i] = self._buckets.get(i, 0) + 1
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s counts into this one (same precision and lowest)."""
        if (other.precision, other.lowest) != (self.precision, self.lowest):
            raise ValueError("cannot merge histograms of different precision/lowest")
        for i, n in other._buckets.items():
            self._buckets[i] = self._buckets.get(i, 0) + n
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile (0 < p <= 100); 0.0 when nothing was recorded."""
        if not 0 < p <= 100:
            raise ValueError(f"percentile must be in (0, 100], not {p!r}")
        if self.count == 0:
            return 0.0
        if p == 100:
            return self.max
        rank = math.ceil(self.count * p / 100.0)  # 1-based rank of the wanted value
        seen = 0
        for i in sorted(self._buckets):
            seen += self._buckets[i]
            if seen >= rank:
                return self._representative(i)
        return self.max  # unreachable while counts are consistent

    def _representative(self, i: int) -> float:
        if i < 0:
            value = self.lowest / 2
        else:
            # geometric middle of [lowest·γ^i, lowest·γ^(i+1))
            value = self.lowest * math.exp((i + 0.5) * self._log_gamma)
        return min(max(value, self.min), self.max)

    def summary(self, percentiles: Iterable[float] = PERCENTILES) -> dict[str, float]:
        """``{"count", "mean", "min", "max", "p50", ...}`` in seconds (JSON-ready)."""
        out: dict[str, float] = {
            "count": self.count,
            "mean": self.mean,
            "min": self.min if self.count else 0.0,
            "max": self.max,
        }
        for p in percentiles:
            out[_pname(p)] = self.percentile(p)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Lossless JSON form (buckets included) so runs can be merged later."""
        return {
            "precision": self.precision,
            "lowest": self.lowest,
            "count": self.count,
            "total": self.total,
            "min": self.min if self.count else None,
            "max": self.max,
            "buckets": {str(i): n for i, n in sorted(self._buckets.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyHistogram:
        h = cls(precision=float(data["precision"]), lowest=float(data["lowest"]))
        h._buckets = {int(i): int(n) for i, n in data["buckets"].items()}
        h.count = int(data["count"])
        h.total = float(data["total"])
        h.min = math.inf if data["min"] is None else float(data["min"])
        h.max = float(data["max"])
        if sum(h._buckets.values()) != h.count:
            raise ValueError("histogram buckets do not add up to its count")
        return h


def _pname(p: float) -> str:
    return f"p{p:g}".replace(".", "_")
