"""Open-loop trace replay through the MySQL protocol.

Timing is **open loop**: statement ``k`` is *due* at ``start + t_k / speed`` whatever
happened to earlier statements; a slow target makes statements late, never makes
arrivals sparser. The statements of one session stay in trace order on one connection
(a *lane*; ``--clients C`` folds sessions onto ``C`` lanes by first appearance, session
``i`` → lane ``i mod C``). When a lane is still busy with an earlier statement, a due
statement waits in that lane's queue, and its **latency counts from its due time**, not
from when it was sent: queueing caused by a slow target is part of the measured
latency (no coordinated omission). The report also gives the queue wait and the
service time (send → last row) separately.

Bounded: at most ``max_outstanding`` statements are queued or running at once. When the
cap is reached the dispatcher waits for a slot; those arrivals are sent late, still
measured from their due time, and counted as ``capped`` with the dispatcher's worst lag,
so an overload shows as latency and as lag in the report instead of unbounded memory.
The trace is streamed (a first pass only collects the sessions, to open every lane's
connection before the clock starts).

``--duration-limit S`` stops arrivals at ``S`` seconds and cancels what is still running
then; those statements are reported as ``unfinished`` and the ones never sent as
``not_dispatched``. ``--query-timeout`` bounds each statement (the connection is then
closed and reopened for the lane's next statement, whose latency includes the reconnect).

Driver choice (measured on this 2-core machine against MariaDB 10.11, 3 s closed loop of
a trivial SELECT; client CPU in cores):

=====================  ============  ============  =====================================
driver                 10 sessions   100 sessions  notes
=====================  ============  ============  =====================================
aiomysql + asyncio     11–12k q/s    10–13k q/s    0.6–0.8 cores; already a dependency
PyMySQL + threads      18.6k q/s     11.4k q/s     1.06 cores at 100; GIL switching
                                                   delays the dispatcher's timers
asyncmy + asyncio      23k q/s       21k q/s       compiled extra dependency; fails
                                                   under uvloop
=====================  ============  ============  =====================================

We use **asyncio + aiomysql on one loop in the replay process**: it keeps hundreds of
sessions at a flat ~10k statements/s per core, its timers stay accurate while all
lanes are busy (one thread, no GIL hand-offs), it needs no new dependency, and its
errors are PyMySQL's (same codes). The one-runtime rule of DESIGN.md is about the
coordinator's own pools; this client owns its loop from start to end
(the CLI runs it with ``asyncio.run``) and every connection dies with it. asyncmy
would be a drop-in doubling of client headroom if a trace ever needs it.

End to end (``trace gen --kind point --clients 140``, replayed against MariaDB on the
same 2 cores): 4,000 statements/s offered and met with the client using 0.6 cores
(p50 1.6 ms); at 8,000/s offered the machine (client plus server) tops out near
4,700/s, and the report shows it as growing queue wait, not as fewer arrivals.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from sharding.trace.format import TraceRecord
from sharding.trace.stats import LatencyHistogram
from sharding.trace.target import (
    Endpoint,
    connect,
    connection_is_broken,
    error_key,
    error_message,
)

__all__ = [
    "NotRenderable",
    "ReplayError",
    "ReplayOptions",
    "ReplayResult",
    "Runner",
    "TargetRunner",
    "replay",
]


class ReplayError(RuntimeError):
    """The replay could not run (e.g. the target refused every connection)."""


class NotRenderable(Exception):
    """A runner cannot play this record (e.g. ``--compare-direct`` of a bare SQL line)."""


class Runner(Protocol):
    """Plays the statements of one lane, one at a time, in order."""

    async def prepare(self) -> None:
        """Open what the lane needs before the clock starts."""
        ...

    async def run(self, rec: TraceRecord) -> None:
        """Play one statement; raise on failure (the error is counted by code)."""
        ...

    def close(self) -> None: ...


class TargetRunner:
    """One connection to the target; reopened after a connection-level failure."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._conn: Any = None

    async def prepare(self) -> None:
        if self._conn is None:
            self._conn = await connect(self.endpoint)

    async def run(self, rec: TraceRecord) -> None:
        if self._conn is None:
            self._conn = await connect(self.endpoint)
        conn = self._conn
        try:
            async with conn.cursor() as cur:
                await cur.execute(rec.sql)
                await cur.fetchall()
        except BaseException as e:
            # a cancelled or failed exchange leaves unread packets: never reuse it
            if not isinstance(e, Exception) or connection_is_broken(e):
                self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


@dataclass(frozen=True)
class ReplayOptions:
    """How to replay; see the module docstring for the semantics."""

    speed: float = 1.0
    clients: int | None = None
    duration_limit: float | None = None
    query_timeout: float | None = 60.0
    max_outstanding: int = 10_000
    connect_concurrency: int = 32
    #: seconds between opening the lanes and the first due time
    lead_time: float = 0.05

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"--speed must be > 0, not {self.speed}")
        if self.clients is not None and self.clients < 1:
            raise ValueError(f"--clients must be >= 1, not {self.clients}")
        if self.duration_limit is not None and not self.duration_limit > 0:
            raise ValueError(f"--duration-limit must be > 0, not {self.duration_limit}")
        if self.query_timeout is not None and not self.query_timeout > 0:
            raise ValueError(f"--query-timeout must be > 0, not {self.query_timeout}")
        if self.max_outstanding < 1:
            raise ValueError(f"--max-outstanding must be >= 1, not {self.max_outstanding}")


@dataclass
class KindStats:
    """Outcomes of the statements of one report group."""

    ok: int = 0
    skipped: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    service: LatencyHistogram = field(default_factory=LatencyHistogram)
    queue: LatencyHistogram = field(default_factory=LatencyHistogram)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


#: Width in seconds of the buckets of :attr:`ReplayResult.completions`.
COMPLETION_BUCKET = 0.25


@dataclass
class ReplayResult:
    """What happened; :mod:`sharding.trace.report` turns it into tables and JSON."""

    target: str
    options: ReplayOptions
    total: int = 0
    lanes: int = 0
    sessions: int = 0
    trace_span: float = 0.0
    dispatched: int = 0
    capped: int = 0
    max_dispatch_lag: float = 0.0
    stopped_by_limit: bool = False
    elapsed: float = 0.0
    kinds: dict[str, KindStats] = field(default_factory=dict)
    error_messages: dict[str, str] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)
    #: Statements answered ok per COMPLETION_BUCKET seconds from the start of play:
    #: a closed loop of N clients answers nothing for about one turn (N / rate) at its
    #: start, so the whole window's rate understates the sustained one
    #: (:func:`sharding.trace.report.steady_qps` reads the later part).
    completions: list[int] = field(default_factory=list)
    #: The play's start on the wall clock (``time.time()``; it ends ``elapsed`` later)
    #: and this process's CPU seconds over the play.
    play_started_unix: float = 0.0
    play_cpu_s: float = 0.0

    def completed(self, since_start: float) -> None:
        """Count one statement answered ok ``since_start`` seconds into the play."""
        i = max(0, int(since_start / COMPLETION_BUCKET))
        counts = self.completions
        if i >= len(counts):
            counts.extend([0] * (i + 1 - len(counts)))
        counts[i] += 1

    def kind(self, label: str) -> KindStats:
        ks = self.kinds.get(label)
        if ks is None:
            ks = self.kinds[label] = KindStats()
        return ks

    @property
    def ok(self) -> int:
        return sum(k.ok for k in self.kinds.values())

    @property
    def failed(self) -> int:
        return sum(k.failed for k in self.kinds.values())

    @property
    def skipped(self) -> int:
        return sum(k.skipped for k in self.kinds.values())

    @property
    def finished(self) -> int:
        return self.ok + self.failed + self.skipped

    @property
    def unfinished(self) -> int:
        return self.dispatched - self.finished

    @property
    def not_dispatched(self) -> int:
        return self.total - self.dispatched


def _scan(records: Iterable[TraceRecord]) -> tuple[dict[Any, int], int, float]:
    """Sessions in order of first appearance → index; record count; last t."""
    sessions: dict[Any, int] = {}
    n = 0
    last = 0.0
    for rec in records:
        if rec.session not in sessions:
            sessions[rec.session] = len(sessions)
        n += 1
        last = rec.t
    return sessions, n, last


class _Sampler(Protocol):
    async def run(self, t0: float) -> None: ...

    def summary(self) -> dict[str, Any]: ...


async def replay(
    records: Callable[[], Iterator[TraceRecord]],
    make_runner: Callable[[int], Runner],
    options: ReplayOptions,
    *,
    target: str = "",
    sampler: _Sampler | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Replay the trace ``records()`` (called twice: scan, then play) open loop.

    ``make_runner(lane)`` makes the runner of each lane; every runner is closed before
    this returns, whatever happens. Cancellation propagates after cleanup.
    """
    loop = asyncio.get_running_loop()
    sessions, total, span = _scan(records())
    n_lanes = min(len(sessions), options.clients) if options.clients else len(sessions)
    result = ReplayResult(
        target=target,
        options=options,
        total=total,
        lanes=n_lanes,
        sessions=len(sessions),
        trace_span=span,
    )
    if total == 0:
        return result
    runners = [make_runner(i) for i in range(n_lanes)]
    try:
        await _prepare(runners, options.connect_concurrency)
        await _play(records, sessions, runners, options, result, sampler, on_progress, loop)
    finally:
        for r in runners:
            r.close()
    if sampler is not None:
        result.samples = sampler.summary()
    return result


async def _prepare(runners: list[Runner], concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)
    failures: list[BaseException] = []

    async def one(r: Runner) -> None:
        async with sem:
            try:
                await r.prepare()
            except Exception as e:
                failures.append(e)

    async with asyncio.TaskGroup() as tg:
        for r in runners:
            tg.create_task(one(r))
    if failures:
        e = failures[0]
        raise ReplayError(
            f"{len(failures)} of {len(runners)} connections could not be opened "
            f"before the replay started: [{error_key(e)}] {error_message(e)}"
        )


async def _play(
    records: Callable[[], Iterator[TraceRecord]],
    sessions: dict[Any, int],
    runners: list[Runner],
    options: ReplayOptions,
    result: ReplayResult,
    sampler: _Sampler | None,
    on_progress: Callable[[int, int], None] | None,
    loop: asyncio.AbstractEventLoop,
) -> None:
    n_lanes = len(runners)
    queues: list[asyncio.Queue[tuple[TraceRecord, float] | None]] = [
        asyncio.Queue() for _ in runners
    ]
    slots = asyncio.Semaphore(options.max_outstanding)
    t0 = loop.time() + options.lead_time
    deadline = t0 + options.duration_limit if options.duration_limit else None
    last_done = t0
    # Where the play sits on the wall clock, and this process's CPU over it: a
    # benchmark reads the other processes' CPU over the same span (not the
    # connections' set-up before it).
    result.play_started_unix = time.time() + options.lead_time
    cpu0 = time.process_time()

    async def lane(i: int) -> None:
        nonlocal last_done
        runner, q = runners[i], queues[i]
        while True:
            item = await q.get()
            if item is None:
                return
            rec, due = item
            ks = result.kind(rec.label)
            start = loop.time()
            try:
                if options.query_timeout is not None:
                    async with asyncio.timeout(options.query_timeout):
                        await runner.run(rec)
                else:
                    await runner.run(rec)
            except NotRenderable:
                ks.skipped += 1
            except Exception as e:
                key = error_key(e)
                ks.errors[key] += 1
                result.error_messages.setdefault(key, error_message(e))
            else:
                end = loop.time()
                ks.ok += 1
                result.completed(end - t0)
                ks.latency.record(max(0.0, end - due))
                ks.service.record(end - start)
                ks.queue.record(max(0.0, start - due))
            finally:
                slots.release()
                last_done = loop.time()

    async def dispatch() -> None:
        for n, rec in enumerate(records()):
            due = t0 + rec.t / options.speed
            if deadline is not None and due >= deadline:
                break
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif n % 256 == 0:
                await asyncio.sleep(0)  # a burst of past-due arrivals still lets lanes run
            if slots.locked():
                result.capped += 1
            await slots.acquire()
            lag = loop.time() - due
            if lag > result.max_dispatch_lag:
                result.max_dispatch_lag = lag
            lane_no = sessions[rec.session] % n_lanes
            queues[lane_no].put_nowait((rec, due))
            result.dispatched += 1
        for q in queues:
            q.put_nowait(None)

    async def progress() -> None:
        assert on_progress is not None
        while True:
            on_progress(result.finished, result.total)
            await asyncio.sleep(0.25)

    background: list[asyncio.Task[None]] = []
    if sampler is not None:
        background.append(asyncio.create_task(sampler.run(t0)))
    if on_progress is not None:
        background.append(asyncio.create_task(progress()))
    try:
        try:
            async with asyncio.timeout_at(deadline):
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(dispatch())
                    for i in range(n_lanes):
                        tg.create_task(lane(i))
        except TimeoutError:
            result.stopped_by_limit = True
    finally:
        for task in background:
            task.cancel()
        if background:
            # wait() neither raises the tasks' errors nor swallows our own cancellation
            await asyncio.wait(background)
        if on_progress is not None:
            on_progress(result.finished, result.total)
    result.elapsed = max(
        0.0, (deadline if result.stopped_by_limit and deadline else last_done) - t0
    )
    result.play_cpu_s = time.process_time() - cpu0
