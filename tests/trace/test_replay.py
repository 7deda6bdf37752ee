"""Open-loop scheduling, bounds, errors and cleanup of the replayer, with fake runners.

The fakes sleep instead of talking to a server, so timings are the replayer's own.
Tolerances are generous (CI machines are busy); each assertion compares quantities
that differ by far more than the tolerance between open- and closed-loop behaviour.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pymysql
import pytest

from sharding.trace.format import TraceRecord
from sharding.trace.replay import (
    COMPLETION_BUCKET,
    NotRenderable,
    ReplayError,
    ReplayOptions,
    ReplayResult,
    replay,
)
from sharding.trace.report import steady_qps


@dataclass
class World:
    """Shared state of the fake runners of one replay."""

    service: float = 0.0
    starts: list[tuple[str, float]] = field(default_factory=list)  # (sql, loop time)
    order: dict[int, list[str]] = field(default_factory=dict)  # lane → sql in run order
    running: int = 0
    peak_running: int = 0
    closed: int = 0
    prepared: int = 0
    fail_prepare: bool = False
    #: set once `running` reaches `wait_for_running` (created inside the test's loop)
    reached: asyncio.Event | None = None
    wait_for_running: int = 0


class FakeRunner:
    def __init__(self, world: World, lane: int) -> None:
        self.world = world
        self.lane = lane

    async def prepare(self) -> None:
        if self.world.fail_prepare:
            raise pymysql.err.OperationalError(1045, "Access denied")
        self.world.prepared += 1

    async def run(self, rec: TraceRecord) -> None:
        w = self.world
        w.starts.append((rec.sql, asyncio.get_running_loop().time()))
        w.order.setdefault(self.lane, []).append(rec.sql)
        w.running += 1
        w.peak_running = max(w.peak_running, w.running)
        if w.reached is not None and w.running >= w.wait_for_running:
            w.reached.set()
        try:
            if rec.sql.startswith("error"):
                raise pymysql.err.ProgrammingError(1064, "You have an error")
            if rec.sql.startswith("skip"):
                raise NotRenderable("no params")
            delay = float(rec.sql.split()[1]) if rec.sql.startswith("sleep") else w.service
            await asyncio.sleep(delay)
        finally:
            w.running -= 1

    def close(self) -> None:
        self.world.closed += 1


def run_replay(
    records: list[TraceRecord], world: World, **opts: object
) -> tuple[ReplayResult, float]:
    """Replay and also return the loop time at which the call started."""

    async def main() -> tuple[ReplayResult, float]:
        t_call = asyncio.get_running_loop().time()

        def recs() -> Iterator[TraceRecord]:
            return iter(records)

        options = ReplayOptions(lead_time=0.02, **opts)  # type: ignore[arg-type]
        r = await replay(recs, lambda lane: FakeRunner(world, lane), options)
        return r, t_call

    return asyncio.run(main())


def test_slow_target_does_not_slow_arrivals() -> None:
    # 40 sessions, one arrival every 10 ms, each statement takes 300 ms: a closed-loop
    # client with one connection per session would still start each on time, so also
    # check the single-session case below; here: starts follow the schedule.
    world = World(service=0.3)
    recs = [TraceRecord(k * 0.01, k, f"q{k}") for k in range(40)]
    r, _ = run_replay(recs, world)
    assert r.ok == 40 and r.failed == 0
    starts = dict(world.starts)
    first = min(starts.values())
    lateness = [starts[f"q{k}"] - (first + k * 0.01) for k in range(40)]
    assert max(abs(x) for x in lateness) < 0.1
    # the whole run takes ~0.39 + 0.3 s, not 40 × 0.3 s
    assert r.elapsed < 2.0
    assert world.prepared == 40 and world.closed == 40


def test_one_busy_session_queues_and_latency_counts_from_due_time() -> None:
    # One session: 10 arrivals 20 ms apart, each takes 100 ms. Open loop: statement k
    # is due at 20k ms but can only finish at 100(k+1) ms, so its latency grows to
    # ~1.0 - 0.18 s, while its service time stays ~100 ms.
    world = World(service=0.1)
    recs = [TraceRecord(k * 0.02, 1, f"q{k}", kind=f"k{k}") for k in range(10)]
    r, _ = run_replay(recs, world)
    lat = [r.kinds[f"k{k}"].latency.max for k in range(10)]
    svc = [r.kinds[f"k{k}"].service.max for k in range(10)]
    assert lat[-1] > 0.7 and lat == sorted(lat)
    assert all(0.09 < s < 0.3 for s in svc)
    assert r.kinds["k9"].queue.max > 0.6
    assert world.order[0] == [f"q{k}" for k in range(10)]


def test_speed_scales_the_schedule() -> None:
    world = World()
    recs = [TraceRecord(k * 0.1, k, f"q{k}") for k in range(5)]
    run_replay(recs, world, speed=4.0)
    starts = dict(world.starts)
    span = starts["q4"] - starts["q0"]
    assert span == pytest.approx(0.1, abs=0.05)  # 0.4 s of trace at 4× speed


def test_sessions_keep_order_when_folded_onto_fewer_connections() -> None:
    world = World(service=0.001)
    recs = [TraceRecord(0.0, s, f"s{s}-{i}") for i in range(5) for s in ("a", "b", "c")]
    r, _ = run_replay(recs, world, clients=2)
    assert r.lanes == 2 and r.sessions == 3 and r.ok == 15
    lane0 = world.order[0]
    # a and c share lane 0; each keeps its own order, interleaved by arrival
    assert [x for x in lane0 if x.startswith("sa")] == [f"sa-{i}" for i in range(5)]
    assert [x for x in lane0 if x.startswith("sc")] == [f"sc-{i}" for i in range(5)]
    assert world.order[1] == [f"sb-{i}" for i in range(5)]


def test_outstanding_cap_bounds_work_and_is_reported() -> None:
    world = World(service=0.05)
    recs = [TraceRecord(0.0, k, f"q{k}") for k in range(20)]
    r, _ = run_replay(recs, world, max_outstanding=3)
    assert r.ok == 20
    assert world.peak_running <= 3
    assert r.capped > 0 and r.max_dispatch_lag > 0.05
    # the capped statements still count from their due time: the last waited ~6 rounds
    assert max(ks.latency.max for ks in r.kinds.values()) > 0.25


def test_errors_timeouts_and_skips_are_counted_by_code() -> None:
    world = World()
    recs = [
        TraceRecord(0.0, 1, "error 1"),
        TraceRecord(0.0, 1, "sleep 5", kind="slow"),
        TraceRecord(0.0, 1, "skip this", kind="x"),
        TraceRecord(0.0, 1, "ok", kind="x"),
    ]
    r, _ = run_replay(recs, world, query_timeout=0.1)
    assert r.kinds["error"].errors == {"1064": 1}
    assert r.kinds["slow"].errors == {"client-timeout": 1}
    assert (r.kinds["x"].skipped, r.kinds["x"].ok) == (1, 1)
    assert r.error_messages["1064"] == "You have an error"
    assert (r.ok, r.failed, r.skipped, r.unfinished) == (1, 2, 1, 0)


def test_duration_limit_stops_arrivals_and_cancels_running_work() -> None:
    world = World()
    recs = [TraceRecord(0.0, 1, "sleep 10")] + [TraceRecord(0.05 * k, 2, "q") for k in range(1, 40)]
    r, _ = run_replay(recs, world, duration_limit=0.5)
    assert r.stopped_by_limit
    assert r.unfinished == 1  # the 10 s sleep was cancelled
    assert 0 < r.not_dispatched < 39
    assert r.dispatched + r.not_dispatched == r.total == 40
    assert r.elapsed == pytest.approx(0.5)
    assert world.closed == 2 and world.running == 0


def test_cancelling_the_replay_closes_every_runner() -> None:
    world = World()
    recs = [TraceRecord(0.0, k, "sleep 10") for k in range(5)]

    async def main() -> None:
        world.reached, world.wait_for_running = asyncio.Event(), 5
        options = ReplayOptions(lead_time=0.0)
        task = asyncio.create_task(
            replay(lambda: iter(recs), lambda lane: FakeRunner(world, lane), options)
        )
        await world.reached.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert world.closed == 5 and world.running == 0
        assert asyncio.all_tasks() == {asyncio.current_task()}  # nothing left behind

    asyncio.run(main())


def test_connection_failure_before_start_is_a_clear_error() -> None:
    world = World(fail_prepare=True)
    with pytest.raises(
        ReplayError, match=r"3 of 3 connections could not be opened.*\[1045\] Access denied"
    ):
        run_replay([TraceRecord(0.0, k, "q") for k in range(3)], world)
    assert world.closed == 3


def test_empty_trace() -> None:
    r, _ = run_replay([], World())
    assert (r.total, r.ok, r.lanes) == (0, 0, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"speed": 0},
        {"clients": 0},
        {"duration_limit": -1},
        {"query_timeout": 0},
        {"max_outstanding": 0},
    ],
)
def test_bad_options(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ReplayOptions(**kwargs)  # type: ignore[arg-type]


def test_completions_are_counted_per_bucket_from_the_start_of_play() -> None:
    """Answers are counted per COMPLETION_BUCKET from the start (ok ones only): a
    session of statements of 0.3 s answers nothing in the first buckets."""
    world = World(service=0.3)
    recs = [TraceRecord(0.0, 1, f"q{k}") for k in range(3)] + [TraceRecord(0.0, 2, "error x")]
    r, _ = run_replay(recs, world)
    assert sum(r.completions) == r.ok == 3
    first = next(i for i, n in enumerate(r.completions) if n)
    assert first * COMPLETION_BUCKET >= 0.25  # the first answer came after ~0.3 s
    assert r.elapsed >= (len(r.completions) - 1) * COMPLETION_BUCKET
    # Where the play sits on the wall clock, and the replay's own CPU over it.
    assert abs(r.play_started_unix - time.time()) < 60 and r.play_cpu_s >= 0


def test_steady_rate_leaves_out_the_closed_loops_first_turn() -> None:
    """1000 clients over a server answering 100/s: nothing for the first 10 s, then
    100/s. The whole window (40 s) reads 75/s; the steady rate is the server's."""
    counts = [0] * 40 + [25] * 120  # 0.25-s buckets: 10 s of nothing, 30 s of 100/s
    assert sum(counts) / 40.0 == 75.0
    assert steady_qps(counts, 0.25, 40.0, 1000) == pytest.approx(100.0, rel=0.02)
    # A first turn longer than half the window: too short to tell.
    assert steady_qps([0] * 100 + [25] * 60, 0.25, 40.0, 1000) is None
    # Few clients: their first turn is a bucket or two, the rate is the whole one's.
    assert steady_qps([25] * 160, 0.25, 40.0, 4) == pytest.approx(100.0, rel=0.01)
    assert steady_qps([], 0.25, 0.0, 4) is None
