"""A connection pool for one data source, generic over a "raw connection".

Why by hand: aiomysql's own pool lives on asyncio (its conditions and timers belong to
one loop, the bug of seed 000 waiting to happen) and has no validation timeout, no
breaker and no LIFO; trio has no connection pool. This one is plain trio plus
``time.monotonic`` bookkeeping, and knows nothing about MySQL: it talks to
:class:`RawConnection` / :class:`Connector`, so tests drive it with fakes.

Invariants (checked by the property tests in ``tests/backend_mysql``):

* ``size = idle + in_use + opening <= max_size`` at every instant. Holding one token of
  the semaphore (``max_size`` tokens) is the right to hold one connection out of the
  pool; an idle connection is only ever taken by a token holder, and a new one is only
  opened by a token holder that found no idle connection.
* A connection is in at most one of: the idle stack, the in-use set. Handing one out
  twice raises (it would be a pool bug, never silently tolerated).
* Every token and every connection is given back in ``finally`` blocks: cancellation,
  timeouts and failures never leak a slot. A connection leaving the ``acquire`` block
  by an exception that is not an ``Exception`` (``trio.Cancelled``, ``KeyboardInterrupt``)
  or marked ``broken`` is *closed*, never returned: its protocol state is unknown.
* LIFO reuse (the most recently returned connection first, so the rest age out and are
  evicted after ``idle_timeout``); connections older than ``max_lifetime`` are retired.
* A connection idle longer than ``validate_after`` (or created before the breaker last
  opened, or borrowed while the breaker is not closed) is pinged, bounded by
  ``validation_timeout`` — seed 002: a validation ping without a timeout stalled a whole
  management pool.
* Waiting is bounded: no token within ``acquire_timeout`` → :class:`PoolTimeout`;
  connect bounded by ``connect_timeout``; every error names the data source.
* Waiting holds no executor slot: a borrower that must wait for a token (all
  ``max_size`` connections out) does so inside :func:`executor.slot_released` — the
  wait is not its own work, and a slot held idle here is how pools of slots starve
  (seed 002). The slot goes to nested or returning work only (``admit_new=False``):
  new top-level children would just queue here as well. A borrow that finds a token
  free never gives its slot up.

The :class:`Breaker` is the only object touched from another thread (the backend's
background prober on its asyncio loop), so it alone carries a lock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import trio

from executor import slot_released
from sharding.errors import DataSourceUnavailable, PoolTimeout, ShardgateError

Clock = Callable[[], float]


class RawConnection(Protocol):
    """What the pool needs from a driver connection."""

    def is_usable(self) -> bool:
        """Cheap local check (no round trip): False once the peer closed the socket."""
        ...

    async def ping(self) -> None:
        """One round trip (COM_PING). Raises if the connection is dead; the pool bounds it."""
        ...

    def close(self, *, graceful: bool) -> None:
        """Close without blocking; idempotent; safe to call from the pool's thread.

        ``graceful`` connections are clean (say goodbye to the server); others are in an
        unknown protocol state and must just drop the socket.
        """
        ...


C = TypeVar("C", bound=RawConnection)

C_co = TypeVar("C_co", bound=RawConnection, covariant=True)

#: Seconds after the server last answered during which a connect that timed out is
#: tried once more (:meth:`Pool._connect`).
ALIVE_WINDOW = 10.0


class Connector(Protocol[C_co]):
    async def connect(self) -> C_co:
        """Open one connection. Errors may be ShardgateErrors or anything else."""
        ...


class Breaker:
    """Circuit breaker: ``threshold`` consecutive failures → open (fail fast).

    After ``probe_interval`` one caller (or the background prober) is allowed a trial
    (half-open); its success closes the breaker, its failure reopens it. A trial that
    never reports (its task was cancelled) stops blocking others after another
    ``probe_interval``. ``generation`` grows each time the breaker opens, so the pool can
    re-validate connections created before the outage. Thread-safe.
    """

    def __init__(
        self, threshold: int = 3, probe_interval: float = 1.0, clock: Clock = time.monotonic
    ):
        if threshold < 1:
            raise ValueError("breaker threshold must be >= 1")
        if probe_interval <= 0:
            raise ValueError("breaker probe_interval must be > 0")
        self.threshold = threshold
        self.probe_interval = probe_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._state = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_at = 0.0
        self.generation = 0
        self.reason = ""
        self.opened_count = 0

    @property
    def state(self) -> str:
        return self._state

    @property
    def failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May a caller use the data source now? In half-open, only the trial may."""
        with self._lock:
            if self._state == "closed":
                return True
            now = self._clock()
            if self._state == "open":
                if now - self._opened_at >= self.probe_interval:
                    self._state = "half_open"
                    self._trial_at = now
                    return True
                return False
            # half_open: a trial is in flight; a stale one gives way to a new trial.
            if now - self._trial_at >= self.probe_interval:
                self._trial_at = now
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            if self._state != "closed":
                self._state = "closed"
                self.reason = ""

    def failure(self, reason: str) -> None:
        with self._lock:
            self._failures += 1
            if self._state == "half_open" or self._failures >= self.threshold:
                self._open(reason)

    def trip(self, reason: str) -> None:
        """Open at once (a decisive observation, e.g. a health ping timed out)."""
        with self._lock:
            self._failures = max(self._failures, self.threshold)
            self._open(reason)

    def _open(self, reason: str) -> None:
        if self._state != "open":
            self.generation += 1
            self.opened_count += 1
        self._state = "open"
        self._opened_at = self._clock()
        self.reason = reason


@dataclass(eq=False)
class PooledConnection(Generic[C]):
    """A raw connection plus the pool's bookkeeping. ``broken`` → closed on release."""

    raw: C
    created_at: float
    idle_since: float
    generation: int
    uses: int = 0
    broken: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Lease(Generic[C]):
    """One borrow: the pool's token plus the connection currently serving it."""

    __slots__ = ("_pool", "pc")

    def __init__(self, pool: Pool[C], pc: PooledConnection[C]) -> None:
        self._pool = pool
        self.pc: PooledConnection[C] | None = pc

    async def replace(self) -> PooledConnection[C]:
        """Swap a connection found dead *before use* for another, keeping the token.

        Only for a borrow that has sent nothing yet (nothing is lost by switching).
        """
        pool, old = self._pool, self.pc
        if old is None:
            raise RuntimeError(f"{pool.name}: lease has no connection")
        self.pc = None
        pool._in_use.discard(old)
        pool.stale_discards += 1
        pool._retire(old, graceful=False)
        new = await pool._take_or_open()
        pool._in_use.add(new)
        new.uses += 1
        pool._note_size()
        self.pc = new
        return new


class _Acquire(Generic[C]):
    """The context manager of :meth:`Pool.acquire`, written out (it is on every
    statement's path; ``@asynccontextmanager`` would add a generator per borrow).

    Leaving the block by an ``Exception`` (say, the server rejected a statement) keeps
    the connection unless its user marked it ``broken``; leaving it by any other
    ``BaseException`` (cancellation) closes it: its protocol state is unknown.
    """

    __slots__ = ("_lease", "_pool")

    def __init__(self, pool: Pool[C]) -> None:
        self._pool = pool
        self._lease: Lease[C] | None = None

    async def __aenter__(self) -> Lease[C]:
        self._lease = Lease(self._pool, await self._pool._checkout())
        return self._lease

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        lease, self._lease = self._lease, None
        assert lease is not None
        discard = exc_type is not None and not issubclass(exc_type, Exception)
        pc, lease.pc = lease.pc, None
        if pc is None:  # a failed replace() already gave the connection up
            self._pool._tokens.release()
        else:
            self._pool._checkin(pc, discard=discard or pc.broken)
        return False


class Pool(Generic[C]):
    """LIFO pool with validation, lifetimes and a breaker. All methods run on trio."""

    def __init__(
        self,
        name: str,
        connector: Connector[C],
        *,
        max_size: int = 32,
        min_idle: int = 0,
        acquire_timeout: float = 2.0,
        validate_after: float = 0.5,
        validation_timeout: float = 1.0,
        connect_timeout: float = 2.0,
        max_lifetime: float = 1800.0,
        idle_timeout: float = 600.0,
        breaker: Breaker | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"{name}: max_connections must be >= 1")
        if not 0 <= min_idle <= max_size:
            raise ValueError(f"{name}: min_idle must be between 0 and max_connections")
        for key, value in (
            ("acquire_timeout", acquire_timeout),
            ("validation_timeout", validation_timeout),
            ("connect_timeout", connect_timeout),
            ("max_lifetime", max_lifetime),
            ("idle_timeout", idle_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name}: {key} must be > 0")
        if validate_after < 0:
            raise ValueError(f"{name}: validate_after must be >= 0")
        self.name = name
        self._connector = connector
        self.max_size = max_size
        self.min_idle = min_idle
        self.acquire_timeout = acquire_timeout
        self.validate_after = validate_after
        self.validation_timeout = validation_timeout
        self.connect_timeout = connect_timeout
        self.max_lifetime = max_lifetime
        self.idle_timeout = idle_timeout
        self.breaker = breaker or Breaker(clock=clock)
        self._clock = clock
        self._tokens = trio.Semaphore(max_size)
        self._idle: deque[PooledConnection[C]] = deque()  # right end = most recent
        self._in_use: set[PooledConnection[C]] = set()
        self._opening = 0
        self._closed = False
        # Monotone counters (statistics()).
        self.acquired = 0
        self.created = 0
        self.closed_count = 0
        self.validations = 0
        self.validation_failures = 0
        self.acquire_timeouts = 0
        self.connect_failures = 0
        self.connect_retries = 0
        self.stale_discards = 0
        #: When a connection last came back unbroken, or was opened or validated: the
        #: server answered then (``_connect``'s retry).
        self._last_alive = -math.inf
        self.peak_size = 0

    # -- observation -------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self._idle) + len(self._in_use) + self._opening

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    @property
    def opening(self) -> int:
        return self._opening

    @property
    def waiting(self) -> int:
        return self._tokens.statistics().tasks_waiting

    @property
    def closed(self) -> bool:
        return self._closed

    def _note_size(self) -> None:
        size = self.size
        if size > self.peak_size:
            self.peak_size = size
        if size > self.max_size:  # pragma: no cover - would be a pool bug
            raise AssertionError(f"{self.name}: pool size {size} > max {self.max_size}")

    # -- borrowing ---------------------------------------------------------------------

    def acquire(self) -> _Acquire[C]:
        """Borrow a connection for an ``async with`` block (``lease.pc``); see the
        module invariants."""
        return _Acquire(self)

    async def _checkout(self) -> PooledConnection[C]:
        self._check_open()
        self._check_breaker()
        try:
            self._tokens.acquire_nowait()
            timed_out = False
        except trio.WouldBlock:
            timed_out = await self._wait_for_token()
        if timed_out:
            self.acquire_timeouts += 1
            raise PoolTimeout(
                f"{self.name}: no connection free within {self.acquire_timeout:g}s "
                f"(max_connections={self.max_size}, in use {self.in_use}, "
                f"waiting {self.waiting})"
            )
        try:
            self._check_open()
            pc = await self._take_or_open()
        except BaseException:
            self._tokens.release()
            raise
        if pc in self._in_use:  # pragma: no cover - would be a pool bug
            raise AssertionError(f"{self.name}: connection handed out twice")
        self._in_use.add(pc)
        pc.uses += 1
        self.acquired += 1
        self._note_size()
        return pc

    async def _wait_for_token(self) -> bool:
        """Wait (slot lent back to the executor) for a token; True if timed out."""
        # admit_new=False: new children would only queue here too (see slot_released).
        got = False
        try:
            async with slot_released(f"waiting for a connection of {self.name}", admit_new=False):
                with trio.move_on_after(self.acquire_timeout):
                    await self._tokens.acquire()
                    got = True
        except BaseException:
            # Cancelled while queued to take the slot back, with the token already
            # ours: give it back, or the pool is one connection smaller for good.
            if got:
                self._tokens.release()
            raise
        return not got

    def _check_open(self) -> None:
        if self._closed:
            raise DataSourceUnavailable(f"{self.name}: data source is closed")

    def _check_breaker(self) -> None:
        if not self.breaker.allow():
            raise DataSourceUnavailable(
                f"{self.name}: data source marked down ({self.breaker.reason}); "
                f"failing fast, probing every {self.breaker.probe_interval:g}s"
            )

    async def _take_or_open(self) -> PooledConnection[C]:
        while True:
            pc = self._idle.pop() if self._idle else None
            if pc is None:
                return await self._open_new()
            now = self._clock()
            if now - pc.created_at >= self.max_lifetime:
                self._retire(pc, graceful=True)
                continue
            if not pc.raw.is_usable():
                self.stale_discards += 1
                self._retire(pc, graceful=False)
                continue
            needs_ping = (
                now - pc.idle_since > self.validate_after
                or pc.generation != self.breaker.generation
                or self.breaker.state != "closed"
            )
            if needs_ping and not await self._validate(pc):
                continue
            return pc

    async def _validate(self, pc: PooledConnection[C]) -> bool:
        """Ping ``pc``; False (and ``pc`` closed) if it is dead; raise if the server hangs."""
        self.validations += 1
        self._opening += 1
        try:
            with trio.fail_after(self.validation_timeout):
                await pc.raw.ping()
        except trio.TooSlowError:
            self.validation_failures += 1
            self._retire(pc, graceful=False)
            self.breaker.failure("validation ping timed out")
            raise DataSourceUnavailable(
                f"{self.name}: validation ping timed out after {self.validation_timeout:g}s"
            ) from None
        except Exception:
            # The connection died (server-side KILL, restart, wait_timeout); the server
            # itself may be fine, so this is not a breaker failure: try the next one.
            self.validation_failures += 1
            self._retire(pc, graceful=False)
            return False
        except BaseException:
            self._retire(pc, graceful=False)
            raise
        finally:
            self._opening -= 1
        self.breaker.success()
        self._last_alive = self._clock()
        pc.generation = self.breaker.generation
        return True

    async def _open_new(self) -> PooledConnection[C]:
        self._opening += 1
        self._note_size()
        try:
            raw = await self._connect()
        except trio.TooSlowError:
            self.connect_failures += 1
            self.breaker.failure("connect timed out")
            raise DataSourceUnavailable(
                f"{self.name}: connect timed out after {self.connect_timeout:g}s"
            ) from None
        except DataSourceUnavailable as exc:
            self.connect_failures += 1
            self.breaker.failure(str(exc))
            raise
        except ShardgateError:
            # e.g. access denied: the server answered, so it is up; not a breaker event.
            self.connect_failures += 1
            raise
        except Exception as exc:
            self.connect_failures += 1
            self.breaker.failure(f"connect failed: {exc}")
            raise DataSourceUnavailable(f"{self.name}: cannot connect: {exc}") from exc
        finally:
            self._opening -= 1
        self.created += 1
        self.breaker.success()
        now = self._last_alive = self._clock()
        return PooledConnection(
            raw, created_at=now, idle_since=now, generation=self.breaker.generation
        )

    async def _connect(self) -> C:
        """A new connection within ``connect_timeout`` — or within two of them when
        the server answered in the last ``ALIVE_WINDOW`` seconds and the breaker is
        closed. A connect is several round trips, each of which waits for a turn of
        this process's scheduler; in a burst (thousands of statements arriving at
        once, ``bench.concurrency`` at 4096 clients) one turn took seconds and a
        healthy MariaDB timed out. A server that was answering a moment ago gets
        one more try; one that has been silent fails at the first timeout, and the
        breaker counts only the final one."""
        with trio.move_on_after(self.connect_timeout):
            return await self._connector.connect()
        if self.breaker.state != "closed" or self._clock() - self._last_alive > ALIVE_WINDOW:
            raise trio.TooSlowError
        self.connect_retries += 1
        with trio.fail_after(self.connect_timeout):
            return await self._connector.connect()

    def _checkin(self, pc: PooledConnection[C], *, discard: bool) -> None:
        try:
            self._in_use.remove(pc)
            now = self._clock()
            # Not checked for staleness here (a poll): the next checkout does that,
            # before anything is sent on it.
            if discard or self._closed or now - pc.created_at >= self.max_lifetime:
                self._retire(pc, graceful=not discard)
            else:
                pc.idle_since = now
                self._idle.append(pc)
                self._last_alive = now
            self._evict_idle(now)
        finally:
            self._tokens.release()

    def _retire(self, pc: PooledConnection[C], *, graceful: bool) -> None:
        self.closed_count += 1
        try:
            pc.raw.close(graceful=graceful)
        except Exception:  # closing must never turn a release into a failure
            pass

    def _evict_idle(self, now: float) -> None:
        """Retire the oldest idle connections past ``idle_timeout`` (keeping ``min_idle``)."""
        while (
            len(self._idle) > self.min_idle and now - self._idle[0].idle_since >= self.idle_timeout
        ):
            self._retire(self._idle.popleft(), graceful=True)

    # -- lifecycle ---------------------------------------------------------------------

    async def fill(self) -> None:
        """Open connections until ``min_idle`` are idle (used by ``open()``)."""
        while len(self._idle) < self.min_idle and self.size < self.max_size:
            self._check_open()
            await self._tokens.acquire()
            try:
                pc = await self._open_new()
                self._idle.append(pc)
                self._note_size()
            finally:
                self._tokens.release()

    def close(self, *, graceful: bool = True) -> int:
        """Mark closed and close idle connections; in-use ones close when returned.

        Returns the number of connections still in use (or opening).
        """
        self._closed = True
        while self._idle:
            self._retire(self._idle.pop(), graceful=graceful)
        return len(self._in_use) + self._opening

    def evict(self) -> None:
        """Apply lifetime/idle eviction now (also done on every release)."""
        now = self._clock()
        kept: deque[PooledConnection[C]] = deque()
        for pc in self._idle:
            if now - pc.created_at >= self.max_lifetime:
                self._retire(pc, graceful=True)
            else:
                kept.append(pc)
        self._idle = kept
        self._evict_idle(now)
