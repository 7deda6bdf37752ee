"""Read-only status snapshots, in the style of trio's ``statistics()`` objects.

:class:`BucketStatus` mirrors MariaDB's ``information_schema.THREAD_POOL_GROUPS`` /
``THREAD_POOL_STATS``: gauges (``active``, ``waiting``, ``queued_*``, ``stalled``,
``oversubscribed``, ``queries``, ``at_door``) that return to zero when the executor is
idle, and monotonic counters (``completed``, ``stalls``, ``kickups``,
``deadlocks_suspected``, ``drift_repairs``, ``door_waits``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BucketStatus:
    bucket: int
    #: Base number of slots.
    slots: int
    #: Children holding a slot right now.
    active: int
    #: Children that gave their slot back while they wait (nested query, pool, ...).
    waiting: int
    queued_high: int
    queued_low: int
    #: Active children running longer than ``stall_limit``.
    stalled: int
    #: Active children beyond ``slots`` (admitted because of stalls or deadlock growth).
    oversubscribed: int
    #: Children finished, whatever the outcome.
    completed: int
    #: Times a child became stalled.
    stalls: int
    #: Low-priority children moved to the high queue after ``kickup_after``.
    kickups: int
    #: Episodes of suspected deadlock (queued work, all slots busy, no completion).
    deadlocks_suspected: int
    #: Open queries pinned to this bucket (nested ones included).
    queries: int
    #: Top-level queries waiting at the bucket's door (not yet open).
    at_door: int = 0
    #: Times a query waited at the door.
    door_waits: int = 0
    #: Current admission limit: slots + stall allowance + deadlock growth.
    capacity: int = 0
    #: True while the watchdog suspects this bucket of a deadlock.
    deadlock_suspect: bool = False
    #: Times the watchdog found a counter out of step with the real children and fixed it.
    drift_repairs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child in a dump: what it is doing and for how long."""

    child_id: int
    label: str
    state: str  # queued_low | queued_high | running | waiting
    age: float  # seconds since submitted
    in_state: float  # seconds in the current state
    stalled: bool
    waiting_on: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class QueryInfo:
    """One open query, for ``SHOW PROCESSLIST`` and deadlock dumps."""

    id: int
    name: str
    session: object
    bucket: int
    parent_id: int | None
    age: float
    state: str  # running | cancelling
    children_done: int
    children_total: int | None
    children_running: int
    children_queued: int
    children_waiting: int
    #: Summed over finished children: seconds queued for a slot, seconds holding one.
    queued_seconds: float = 0.0
    running_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["session"] = None if self.session is None else str(self.session)
        return d
