"""A bucket: one partition of the pool, with its slots, queues and counters.

Admission works like a MariaDB thread group. A child needs a slot to run; when none is
free it waits in a :class:`~executor.fairqueue.FairQueue`:

* **high**: nested work (children of a query opened inside a child, whose ancestors
  already hold merge state) and children coming back after lending their slot;
* **low**: children of top-level queries, round-robin across those queries.

A low child queued longer than ``kickup_after`` moves up (kick-up) to a third queue,
``kicked``, served alternately with the high queue, so nested work can delay top-level
work but never starve it.

A child that lends its slot with ``admit_new=False`` (a pool wait) keeps the slot
*reserved*: while ``active + reserved >= capacity`` only the high queue is served —
top-level work, kicked up or not, would just queue on the same pool and lend again,
turning the bucket's queue into the pool's. If reservations ever block the work that
would free them (say, a transaction pinning a connection needs a slot for its next
statement), no child finishes, and the watchdog grows the bucket as for any deadlock.

Capacity is ``slots + min(stalled, oversubscribe) + growth``: each child running longer
than ``stall_limit`` lets one more in (up to ``oversubscribe``), and the watchdog may
add temporary ``growth`` while it suspects a deadlock. Capacity shrinks back as stalls
end; children already running are never preempted.

The **door** keeps the bucket's working set bounded. A new top-level query opened with
:meth:`~executor.BucketedExecutor.query` (the kind that fans out) waits before it opens —
holding no slot, no child and no registration — while ``door_limit`` such queries are
open in the bucket, or while earlier ones wait at the door (first come, first served).
Without it, thousands of concurrent fan-out queries would all be open at once, each
with its children, tasks and merge state, served round-robin a child at a time: every
one finishes late, and the memory they hold makes every step slower
(``bench.concurrency`` at 4096 clients). Open queries are counted rather than queued
children because a burst of arrivals passes the door before any of them has queued a
child. Each query that closes lets the next one in. The door delays, it never blocks:
when no query of the bucket has closed for ``kickup_after`` (the open ones wait on
something else — slow clients, locks), the timer lets in everyone who has waited that
long; while a deadlock is suspected everyone goes in at once, so the door is never what
keeps a slot from the work that would free it. One-child queries (``run_one``) and
nested queries neither wait at the door nor count.

Invariants (checked by the tests after every injected fault):

* ``active == len(running)`` and ``waiting == len(waiting_set)``; every state change
  happens in one synchronous method on the trio thread, and callers pair them with
  ``try/finally`` so cancellation cannot leak a slot. The watchdog cross-checks the
  counters against the sets anyway and repairs drift (:meth:`repair_counters`).
* ``reserved`` counts the WAITING or QUEUED_HIGH children with ``reserved`` set.
* Whenever ``active < capacity`` after a public method returns, the high queue is
  empty, and the kicked and low queues are empty too unless
  ``active + reserved >= capacity``.
* ``open_top_level`` and ``at_door`` are zero when the executor is idle; nobody waits
  at the door while fewer than ``door_limit`` top-level queries are open, nor longer
  than ``kickup_after`` plus a timer tick once the open ones stop closing.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import trio

from executor.child import Child, ChildState
from executor.fairqueue import FairQueue
from executor.status import BucketStatus, ChildInfo

if TYPE_CHECKING:
    from executor.query import Query


class _DoorWaiter:
    __slots__ = ("event", "since")

    def __init__(self, since: float) -> None:
        self.since = since
        self.event = trio.Event()


class Bucket:
    def __init__(self, index: int, slots: int, oversubscribe: int, door_limit: int = 0) -> None:
        self.index = index
        self.slots = slots
        self.oversubscribe = oversubscribe
        #: Open top-level queries at which new ones wait at the door (0: no door).
        self.door_limit = door_limit
        self._door: deque[_DoorWaiter] = deque()
        #: Top-level queries open (let in at the door or not) and not closed yet.
        self.open_top_level = 0
        #: When a top-level query of this bucket last closed (the door's aging).
        self.last_close = 0.0
        #: Times a query waited at the door (monotonic).
        self.door_waits = 0
        # Gauges. ``active``/``waiting`` are plain counters on the hot path; the sets
        # are the truth the watchdog checks them against.
        self.active = 0
        self.waiting = 0
        self.reserved = 0
        self.stalled = 0
        self.running: set[Child] = set()
        self.waiting_set: set[Child] = set()
        self.high = FairQueue()
        self.kicked = FairQueue()
        self.low = FairQueue()
        self._kicked_turn = False
        self.queries: set[Query] = set()
        #: Extra capacity granted by the watchdog while a deadlock is suspected.
        self.growth = 0
        # Monotonic counters.
        self.completed = 0
        self.stalls = 0
        self.kickups = 0
        self.deadlocks_suspected = 0
        self.drift_repairs = 0
        # Watchdog bookkeeping.
        self.last_completed = 0
        self.suspect_since: float | None = None

    # ------------------------------------------------------------------ capacity
    @property
    def capacity(self) -> int:
        return self.slots + min(self.stalled, self.oversubscribe) + self.growth

    @property
    def queued(self) -> int:
        # FairQueue's own counters, read directly: this runs for every query (pick).
        return self.high._len + self.kicked._len + self.low._len

    @property
    def load(self) -> int:
        """What least-loaded assignment compares: work admitted or waiting here."""
        return self.active + self.high._len + self.kicked._len + self.low._len

    @property
    def starving(self) -> bool:
        """Work is queued and nothing that may run it is free (the watchdog's test)."""
        if self.high and self.active >= self.capacity:
            return True
        return bool(self.kicked or self.low) and self.active + self.reserved >= self.capacity

    def dispatch(self) -> None:
        """Grant free slots to queued children: the high and kicked queues take turns,
        then low; round-robin across queries inside each. Kicked and low children only
        get slots nobody has reserved."""
        if not (self.high._len or self.kicked._len or self.low._len):
            return  # nobody waits (the common case, checked first)
        while self.active < self.capacity:
            unreserved = self.active + self.reserved < self.capacity
            if unreserved and self.kicked and (self._kicked_turn or not self.high):
                child = self.kicked.pop()
                self._kicked_turn = False
            elif self.high:
                child = self.high.pop()
                self._kicked_turn = True
            elif unreserved and self.low:
                child = self.low.pop()
            else:
                return
            self._grant(child)

    # ------------------------------------------------------------------ door
    @property
    def at_door(self) -> int:
        return len(self._door)

    async def enter(self) -> None:
        """A top-level query opens: at once, or after its turn at the door. Cancellable;
        a cancelled wait leaves nothing behind. Pair with :meth:`leave`."""
        limit = self.door_limit
        if (
            limit > 0
            and (self._door or self.open_top_level >= limit)
            and self.suspect_since is None
        ):
            waiter = _DoorWaiter(trio.current_time())
            self._door.append(waiter)
            self.door_waits += 1
            try:
                await waiter.event.wait()
            except BaseException:
                if waiter.event.is_set():  # let in, then cancelled: its place is free
                    self.leave(trio.current_time())
                else:
                    self._door.remove(waiter)
                raise
            return  # open_door counted it
        self.open_top_level += 1

    def leave(self, now: float) -> None:
        """A top-level query closed: the next one at the door goes in."""
        self.open_top_level -= 1
        self.last_close = now
        if self._door:
            self.open_door(now)

    def open_door(self, now: float, kickup_after: float = math.inf) -> None:
        """Let queries in from the front of the door while fewer than ``door_limit``
        are open; everyone while a deadlock is suspected; with ``kickup_after``, when
        none closed for that long, everyone who waited that long."""
        door = self._door
        stuck = now - self.last_close >= kickup_after
        while door:
            if not (
                self.open_top_level < self.door_limit
                or self.suspect_since is not None
                or (stuck and door[0].since <= now - kickup_after)
            ):
                return
            door.popleft().event.set()
            self.open_top_level += 1

    def _high_may_run_now(self) -> bool:
        """A high child arriving now may take a free slot without queueing."""
        if self.active >= self.capacity or self.high:
            return False
        # Kicked work waiting for an unreserved slot gets this one first.
        return not (self.kicked and self.active + self.reserved < self.capacity)

    # ------------------------------------------------------------ state changes
    async def acquire(self, child: Child, now: float | None = None) -> bool:
        """NEW → RUNNING. Waits in a queue when no slot is free. Cancellable. True when
        a slot was free at once (``now``: the current time, if the caller has it)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if child.high:
            free = self._high_may_run_now()
        else:
            free = (
                self.active + self.reserved < self.capacity
                and not self.high._len
                and not self.kicked._len
                and not self.low._len
            )
        if free:
            self._grant(child, now)
            return True
        await self._wait_in_queue(child, resume_state=ChildState.NEW)
        return False

    async def reacquire(self, child: Child) -> None:
        """WAITING → RUNNING at high priority (the child lent its slot and is back)."""
        assert child.state is ChildState.WAITING, child
        await trio.lowlevel.checkpoint_if_cancelled()
        self.waiting -= 1
        self.waiting_set.discard(child)
        child.waiting_on = None
        child.high = True
        if self._high_may_run_now():
            self._grant(child)
            return
        await self._wait_in_queue(child, resume_state=ChildState.WAITING)

    def lend(self, child: Child, reason: str, *, admit_new: bool = True) -> None:
        """RUNNING → WAITING: give the slot back while the child waits on ``reason``
        (``admit_new=False``: keep it reserved, see module docstring)."""
        assert child.state is ChildState.RUNNING, child
        self._drop_slot(child)
        if not admit_new:
            child.reserved = True
            self.reserved += 1
        child.state = ChildState.WAITING
        child.state_since = trio.current_time()
        child.waiting_on = reason
        self.waiting += 1
        self.waiting_set.add(child)
        self.dispatch()

    def finish(self, child: Child) -> None:
        """Any state → DONE, releasing whatever the child holds. Idempotent."""
        state = child.state
        if state is ChildState.DONE:
            return
        if child.reserved:
            child.reserved = False
            self.reserved -= 1
        if state is ChildState.RUNNING:
            self._drop_slot(child)
            self.completed += 1
        elif state is ChildState.WAITING:
            self.waiting -= 1
            self.waiting_set.discard(child)
            self.completed += 1
        elif state is ChildState.QUEUED_HIGH:
            (self.kicked if child.kicked else self.high).remove(child)
        elif state is ChildState.QUEUED_LOW:
            self.low.remove(child)
        child.state = ChildState.DONE
        child.task = None
        if state in (ChildState.RUNNING, ChildState.WAITING, ChildState.QUEUED_HIGH):
            self.dispatch()

    # ------------------------------------------------------------------ timers
    def tick(self, now: float, stall_limit: float, kickup_after: float) -> None:
        """Mark stalled children, kick up aged low-priority work, admit what fits."""
        threshold = now - stall_limit
        for child in self.running:
            if not child.stalled and child.state_since <= threshold:
                child.stalled = True
                self.stalled += 1
                self.stalls += 1
        if self.low:
            aged = self.low.pop_older_than(now - kickup_after)
            for child in aged:
                child.state = ChildState.QUEUED_HIGH
                child.kicked = True
                self.kicked.push(child)
            self.kickups += len(aged)
        self.dispatch()
        if self._door:
            self.open_door(now, kickup_after)

    def repair_counters(self) -> dict[str, tuple[int, int]]:
        """Set the counters from the sets of children; return what was wrong."""
        drift: dict[str, tuple[int, int]] = {}
        truth_active = len(self.running)
        truth_waiting = len(self.waiting_set)
        truth_stalled = sum(1 for c in self.running if c.stalled)
        truth_reserved = sum(1 for c in (*self.waiting_set, *self.high, *self.kicked) if c.reserved)
        if self.active != truth_active:
            drift["active"] = (self.active, truth_active)
            self.active = truth_active
        if self.waiting != truth_waiting:
            drift["waiting"] = (self.waiting, truth_waiting)
            self.waiting = truth_waiting
        if self.reserved != truth_reserved:
            drift["reserved"] = (self.reserved, truth_reserved)
            self.reserved = truth_reserved
        if self.stalled != truth_stalled:
            drift["stalled"] = (self.stalled, truth_stalled)
            self.stalled = truth_stalled
        if drift:
            self.drift_repairs += 1
            self.dispatch()
        return drift

    # ------------------------------------------------------------------ views
    def status(self) -> BucketStatus:
        return BucketStatus(
            bucket=self.index,
            slots=self.slots,
            active=self.active,
            waiting=self.waiting,
            queued_high=len(self.high) + len(self.kicked),
            queued_low=len(self.low),
            stalled=self.stalled,
            oversubscribed=max(0, self.active - self.slots),
            completed=self.completed,
            stalls=self.stalls,
            kickups=self.kickups,
            deadlocks_suspected=self.deadlocks_suspected,
            queries=len(self.queries),
            at_door=self.at_door,
            door_waits=self.door_waits,
            capacity=self.capacity,
            deadlock_suspect=self.suspect_since is not None,
            drift_repairs=self.drift_repairs,
        )

    def children(self) -> list[Child]:
        return [*self.running, *self.waiting_set, *self.high, *self.kicked, *self.low]

    @staticmethod
    def child_info(child: Child, now: float) -> ChildInfo:
        return ChildInfo(
            child_id=child.id,
            label=child.label,
            state=child.state.value,
            age=round(now - child.submitted_at, 6),
            in_state=round(now - child.state_since, 6),
            stalled=child.stalled,
            waiting_on=child.waiting_on
            if child.state is ChildState.WAITING
            else (
                "slot" if child.state in (ChildState.QUEUED_HIGH, ChildState.QUEUED_LOW) else None
            ),
        )

    # ---------------------------------------------------------------- internals
    def _grant(self, child: Child, now: float | None = None) -> None:
        child.kicked = False
        if child.reserved:
            child.reserved = False
            self.reserved -= 1
        child.state = ChildState.RUNNING
        child.state_since = trio.current_time() if now is None else now
        self.active += 1
        self.running.add(child)
        task = child.task
        if task is not None:
            child.task = None
            trio.lowlevel.reschedule(task)

    def _drop_slot(self, child: Child) -> None:
        self.active -= 1
        self.running.discard(child)
        if child.stalled:
            child.stalled = False
            self.stalled -= 1

    async def _wait_in_queue(self, child: Child, resume_state: ChildState) -> None:
        if child.high:
            child.state = ChildState.QUEUED_HIGH
            self.high.push(child)
        else:  # kicked children are queued only by tick()
            child.state = ChildState.QUEUED_LOW
            self.low.push(child)
        child.state_since = trio.current_time()
        child.task = trio.lowlevel.current_task()

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            # Cancelled while queued: leave the queue, back to where we came from.
            if child.state is ChildState.QUEUED_HIGH:
                (self.kicked if child.kicked else self.high).remove(child)
                child.kicked = False
            elif child.state is ChildState.QUEUED_LOW:
                self.low.remove(child)
            child.task = None
            child.state = resume_state
            if resume_state is ChildState.WAITING:
                self.waiting += 1
                self.waiting_set.add(child)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
