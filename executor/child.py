"""The record of one child: a unit of work that needs a slot of its query's bucket.

A child moves through these states, and only the owning :class:`~executor.bucket.Bucket`
changes them (all on the trio thread, so no locking)::

    NEW ──► QUEUED_LOW / QUEUED_HIGH ──► RUNNING ◄──► WAITING
     │                 │                    │            │
     └─────────────────┴────────────────────┴────────────┴──► DONE

``RUNNING`` holds a slot; ``WAITING`` has lent its slot back (nested query, pool
acquire, …) and will queue at high priority to get one again. The bucket's counters
(``active``, ``waiting``) mirror the sets of children in those states; the watchdog
compares the two and repairs the counters if they ever drift (seed 002's leaked
active-thread counter).
"""

from __future__ import annotations

import enum
from contextvars import ContextVar
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from executor.query import Query


class ChildState(enum.Enum):
    NEW = "new"
    QUEUED_LOW = "queued_low"
    QUEUED_HIGH = "queued_high"
    RUNNING = "running"
    WAITING = "waiting"
    DONE = "done"


class Child:
    """One child of a query. Identity is the object itself (``eq=False`` semantics)."""

    __slots__ = (
        "high",
        "id",
        "kicked",
        "label",
        "lends",
        "query",
        "reserved",
        "stalled",
        "state",
        "state_since",
        "submitted_at",
        "task",
        "waiting_on",
    )

    def __init__(self, child_id: int, query: Query, label: str, high: bool, now: float) -> None:
        self.id = child_id
        self.query = query
        self.label = label
        #: Queue at high priority (nested work, resumes, kicked-up work).
        self.high = high
        #: Kicked up from the low queue: ahead of new top-level work, but like it never
        #: given a slot another child reserved (see :mod:`executor.bucket`).
        self.kicked = False
        self.state = ChildState.NEW
        self.submitted_at = now
        self.state_since = now
        self.stalled = False
        #: Nesting depth of slot lending (a child may open several nested queries).
        self.lends = 0
        #: Lent its slot for a wait that must not admit new top-level work (a pool
        #: wait, see :func:`executor.slot_released`); the bucket keeps a slot owed to it
        #: until it runs again or finishes.
        self.reserved = False
        self.waiting_on: str | None = None
        #: The trio task parked waiting for a slot (set only while queued).
        self.task: trio.lowlevel.Task | None = None

    @property
    def owner(self) -> int:
        """Queue fairness key: children of one query share a turn."""
        return self.query.id

    def __repr__(self) -> str:
        return f"<Child #{self.id} {self.label!r} of query {self.query.id} {self.state.value}>"


#: The child whose code is running in this context (task or worker thread), if any.
current_child: ContextVar[Child | None] = ContextVar("shardgate_current_child", default=None)
