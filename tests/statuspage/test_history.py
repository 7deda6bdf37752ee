"""StatementHistory: the per-second ring behind the page's sparklines (a fake clock)."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharding.server.admin import NullAdmin
from sharding.server.metrics import ServerMetrics, StatementHistory

BIN_ERROR = 2.0**0.125  # a quantile is at most one log bin (about 9 %) above the truth


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_seconds_are_consecutive_and_idle_seconds_are_zero() -> None:
    clock = Clock(100.2)
    h = StatementHistory(10, clock)
    h.observe(0.010)
    h.observe(0.020, error=True)
    clock.t = 101.5
    h.observe(0.030)
    clock.t = 104.0  # 102 and 103 pass with nothing
    h.error()
    clock.t = 105.0
    got = [(s.t, s.statements, s.errors) for s in h.samples()]
    assert got == [(100, 2, 1), (101, 1, 0), (102, 0, 0), (103, 0, 0), (104, 0, 1)]
    # the current second (105) is not reported until it is complete
    assert h.samples(last=2) == h.samples()[-2:]
    assert h.samples(last=0) == []


def test_ring_keeps_only_capacity_and_survives_clock_jumps() -> None:
    clock = Clock(0.0)
    h = StatementHistory(5, clock)
    for t in range(20):
        clock.t = t + 0.5
        h.observe(0.001 * (t + 1))
    clock.t = 20.0
    assert [s.t for s in h.samples()] == [15, 16, 17, 18, 19]
    clock.t = 1e9  # a huge forward step: bounded work, only zero seconds remain
    assert [s.statements for s in h.samples()] == [0] * 5
    assert h.samples()[-1].t == int(1e9) - 1
    clock.t = 50.0  # a step back: counted in the current second, never reordered
    h.observe(0.5)
    clock.t = 1e9 + 1
    ts = [s.t for s in h.samples()]
    assert ts == sorted(ts) and h.samples()[-1].statements == 1


def test_snapshot_window_and_json_shape() -> None:
    clock = Clock(10.0)
    h = StatementHistory(300, clock)
    latencies = [0.001 * (i + 1) for i in range(100)]  # 1 ms .. 100 ms
    for i, v in enumerate(latencies):
        clock.t = 10.0 + i / 50  # two seconds of them
        h.observe(v, error=i % 10 == 0)
    clock.t = 13.0
    snap = h.snapshot(last=5)
    assert snap["capacity"] == 300 and snap["interval"] == 1
    assert [s["t"] for s in snap["samples"]] == [10, 11, 12]
    assert [s["statements"] for s in snap["samples"]] == [50, 50, 0]
    assert snap["samples"][2]["p99"] is None and snap["samples"][2]["max"] is None
    w = snap["window"]
    assert w["statements"] == 100 and w["errors"] == 10 and w["seconds"] == 3
    assert w["rate"] == pytest.approx(100 / 3, abs=1e-3)
    true_p99 = exact_quantile(latencies, 0.99)
    assert true_p99 <= w["p99"] <= true_p99 * BIN_ERROR
    assert w["max"] == pytest.approx(0.1)
    assert h.snapshot()["samples"] == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1000.0, allow_nan=False), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.9, 0.99, 1.0]),
)
def test_quantile_is_within_one_bin_of_the_truth(values: list[float], q: float) -> None:
    clock = Clock(5.0)
    h = StatementHistory(3, clock)
    for v in values:
        h.observe(v)
    clock.t = 6.0
    (sample,) = h.samples()
    got = sample.quantile(q)
    truth = exact_quantile(values, q)
    assert got is not None
    # Bins report their upper edge, capped by the largest observation: never below the
    # truth, at most one bin above it (or the 10 µs floor), never above the maximum.
    slack = 1e-9
    assert got <= max(values) * (1 + slack)
    assert got >= truth * (1 - slack)
    assert got <= max(truth * BIN_ERROR, 1e-5) * (1 + slack)


def test_bad_capacity_and_odd_latencies() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            StatementHistory(bad)  # type: ignore[arg-type]
    clock = Clock(1.0)
    h = StatementHistory(2, clock)
    for v in (-0.5, float("nan"), 0.0, 1e9):  # a stepped clock, garbage: no crash
        h.observe(v)
    clock.t = 2.0
    (s,) = h.samples()
    assert s.statements == 4 and s.as_dict()["p99"] == pytest.approx(1e9)


def test_concurrent_observers_lose_nothing() -> None:
    h = StatementHistory(60)

    def work() -> None:
        for _ in range(5000):
            h.observe(0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(s.statements for s in h.samples()) + h._current.statements
    assert total == 20_000


def test_server_metrics_feed_the_history() -> None:
    clock = Clock(50.0)
    m = ServerMetrics(NullAdmin(), history_seconds=30, clock=clock)
    m.observe("session", 0.004)
    m.observe("local", 0.0001, error_code=1064)
    m.error(1045)  # e.g. a refused login: an error, not a statement
    clock.t = 51.0
    (s,) = m.history.samples()
    assert (s.statements, s.errors) == (2, 2)
    assert m.questions == 2
    assert b'shardgate_errors_total{code="1064"} 1.0' in m.render()
