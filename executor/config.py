"""Executor configuration.

The names follow MariaDB's thread pool where the idea is the same
(``thread_pool_size`` → ``buckets``, ``thread_pool_stall_limit`` → ``stall_limit``,
``thread_pool_oversubscribe`` → ``oversubscribe``, ``thread_pool_prio_kickup_timer`` →
``kickup_after``), plus the bucket/window/deadlock-check knobs of seed 002's
``ServerThreadPool``. All durations are seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

AssignPolicy = Literal["least_loaded", "round_robin", "hash"]
ASSIGN_POLICIES: tuple[str, ...] = ("least_loaded", "round_robin", "hash")


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """Shape and timing of a :class:`~executor.BucketedExecutor`.

    The pool has ``buckets × slots_per_bucket`` slots. A slot is the right to run one
    child. ``window`` bounds how many children of one query are submitted (queued or
    running) at once.
    """

    buckets: int = 8
    slots_per_bucket: int = 16
    window: int = 16
    #: A child running longer than this is *stalled*; its bucket may admit one more.
    stall_limit: float = 0.5
    #: At most this many extra children per bucket because of stalls.
    oversubscribe: int = 4
    #: A low-priority child queued longer than this moves to the high-priority queue.
    kickup_after: float = 1.0
    #: Watchdog period: deadlock suspicion and counter cross-checks. A saturated bucket
    #: with work queued and no child finishing for a whole period is *suspected* (and
    #: grown by a slot per period), so set this above the longest legitimate child.
    deadlock_check_period: float = 0.5
    #: A bucket suspected this long gets its youngest query cancelled
    #: (``DeadlockSuspected``): keep it well above the longest legitimate child.
    deadlock_timeout: float = 10.0
    #: The bucket's door: a new top-level fan-out query waits before it opens while
    #: this many are open in its bucket (0: no door). See :mod:`executor.bucket`.
    door_limit: int = 32
    #: How a new top-level query picks its bucket.
    assign: AssignPolicy = "least_loaded"
    #: Seed for the least_loaded random choices (None: from the OS).
    seed: int | None = None

    def __post_init__(self) -> None:
        def positive_int(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(
                    f"ExecutorConfig.{name} must be an integer >= {minimum}, got {value!r}"
                )

        def positive_float(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"ExecutorConfig.{name} must be a number > 0, got {value!r}")

        positive_int("buckets")
        positive_int("slots_per_bucket")
        positive_int("window")
        positive_int("oversubscribe", minimum=0)
        positive_int("door_limit", minimum=0)
        for name in ("stall_limit", "kickup_after", "deadlock_check_period", "deadlock_timeout"):
            positive_float(name)
        if self.assign not in ASSIGN_POLICIES:
            raise ValueError(
                f"ExecutorConfig.assign must be one of {', '.join(ASSIGN_POLICIES)}, got {self.assign!r}"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ExecutorConfig:
        """Build from a TOML ``[executor]`` table; unknown keys are an error, not ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown [executor] key(s): {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
            )
        return cls(**dict(values))

    @property
    def total_slots(self) -> int:
        return self.buckets * self.slots_per_bucket
