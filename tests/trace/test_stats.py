"""Latency histograms: bounded relative error, exact max, merge and JSON round trip."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from sharding.trace.stats import LatencyHistogram

_latencies = st.lists(st.floats(1e-7, 100.0, allow_nan=False), min_size=1, max_size=300)


def _exact(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)]


@settings(max_examples=150, deadline=None)
@given(values=_latencies, p=st.sampled_from([1.0, 50.0, 90.0, 95.0, 99.0, 99.9]))
def test_percentiles_within_precision(values: list[float], p: float) -> None:
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    exact = _exact(values, p)
    got = h.percentile(p)
    assert h.min <= got <= h.max
    if exact >= h.lowest:
        assert abs(got - exact) <= exact * h.precision  # half a bucket, with slack
    assert h.percentile(100) == max(values)
    assert h.count == len(values)
    assert h.mean == pytest.approx(sum(values) / len(values))


@settings(max_examples=60, deadline=None)
@given(a=_latencies, b=_latencies)
def test_merge_equals_recording_everything(a: list[float], b: list[float]) -> None:
    ha, hb, hall = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for v in a:
        ha.record(v)
        hall.record(v)
    for v in b:
        hb.record(v)
        hall.record(v)
    ha.merge(hb)
    assert ha.summary() == pytest.approx(hall.summary())
    back = LatencyHistogram.from_dict(ha.to_dict())
    assert back.summary() == pytest.approx(ha.summary())


def test_percentiles_are_monotonic_and_empty_is_zero() -> None:
    h = LatencyHistogram()
    assert h.percentile(99) == 0.0 and h.summary()["max"] == 0.0 and h.summary()["min"] == 0.0
    for i in range(1, 1001):
        h.record(i / 1000)
    ps = [h.percentile(p) for p in (10, 50, 90, 99, 99.9, 100)]
    assert ps == sorted(ps)
    assert h.percentile(50) == pytest.approx(0.5, rel=0.01)


def test_bad_input_is_refused() -> None:
    h = LatencyHistogram()
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            h.record(bad)
    with pytest.raises(ValueError):
        h.percentile(0)
    with pytest.raises(ValueError):
        LatencyHistogram(precision=0)
    with pytest.raises(ValueError, match="different precision"):
        h.merge(LatencyHistogram(precision=0.02))
    d = h.to_dict()
    d["count"] = 5
    with pytest.raises(ValueError, match="do not add up"):
        LatencyHistogram.from_dict(d)
