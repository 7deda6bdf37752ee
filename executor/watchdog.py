"""The periodic deadlock checker (seed 002's ``deadLockCheckPeriod`` task, made useful).

Every ``deadlock_check_period`` the watchdog looks at each bucket:

1. **Counter cross-check.** ``active``/``waiting``/``stalled`` are compared with the
   children really in those states; any drift is logged (``executor.counter_drift``)
   and repaired, and the bucket admits what now fits. This is the failure seed 002 spent
   days on: an active-thread counter that leaked on an error path made a thread group
   refuse work forever while no thread ran.
2. **Deadlock suspicion.** Queued work + every slot busy + no child completed since the
   last tick ⇒ suspected deadlock. The first tick of an episode logs one
   ``executor.deadlock_suspected`` event with a dump (queries, children, ages, states,
   what each waits on) and counts it; each suspect tick grows the bucket by one slot
   (up to ``slots_per_bucket`` extra) so queued work can run; once the episode has
   lasted ``deadlock_timeout`` the youngest query of the bucket is cancelled with
   :class:`~executor.errors.DeadlockSuspected`, and the clock restarts. A completion
   ends the episode and removes the growth.

Children that only *wait* (lent slots) never count as busy, so a correct nested fan-out
is never suspected; what the watchdog catches is work that holds slots without making
progress (a blocking call without timeout, an event never set, a lost wake-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from executor.errors import DeadlockSuspected
from executor.log import get_logger

if TYPE_CHECKING:
    from executor.bucket import Bucket
    from executor.executor import BucketedExecutor

log = get_logger("executor.watchdog")


class Watchdog:
    def __init__(self, executor: BucketedExecutor) -> None:
        self._executor = executor
        self.ticks = 0

    async def run(self) -> None:
        period = self._executor.config.deadlock_check_period
        while True:
            await trio.sleep(period)
            self.check(trio.current_time())

    def check(self, now: float) -> None:
        self.ticks += 1
        for bucket in self._executor._buckets:
            self._check_counters(bucket)
            self._check_deadlock(bucket, now)

    def _check_counters(self, bucket: Bucket) -> None:
        drift = bucket.repair_counters()
        if drift:
            log.warning(
                "executor.counter_drift",
                bucket=bucket.index,
                repaired={name: {"was": was, "now": now} for name, (was, now) in drift.items()},
            )

    def _check_deadlock(self, bucket: Bucket, now: float) -> None:
        config = self._executor.config
        progressed = bucket.completed != bucket.last_completed
        bucket.last_completed = bucket.completed
        if progressed:
            if bucket.suspect_since is not None:
                log.info(
                    "executor.deadlock_cleared",
                    bucket=bucket.index,
                    lasted=round(now - bucket.suspect_since, 3),
                )
                bucket.suspect_since = None
                bucket.growth = 0
            return
        starving = bucket.starving
        if bucket.suspect_since is None:
            if not starving:
                return
            bucket.suspect_since = now
            bucket.deadlocks_suspected += 1
            # The door must not keep out a query whose work would free a slot.
            bucket.open_door(now)
            log.warning(
                "executor.deadlock_suspected",
                bucket=bucket.index,
                dump=self._executor.dump(bucket.index),
            )
        if starving and bucket.growth < bucket.slots:
            bucket.growth += 1
            bucket.dispatch()
        if now - bucket.suspect_since >= config.deadlock_timeout:
            self._break(bucket, now)

    def _break(self, bucket: Bucket, now: float) -> None:
        candidates = [q for q in bucket.queries if not q.cancelling]
        # The clock restarts either way: the next victim gets a full timeout.
        assert bucket.suspect_since is not None
        lasted = now - bucket.suspect_since
        bucket.suspect_since = now
        if not candidates:
            return
        victim = max(candidates, key=lambda q: (q.opened_at, q.id))
        error = DeadlockSuspected(
            f"query {victim.id} {victim.name!r} cancelled: bucket {bucket.index} made no "
            f"progress for {lasted:.1f}s with work queued and every slot busy "
            "(suspected deadlock; see the executor.deadlock_suspected log event)",
            bucket=bucket.index,
            query_id=victim.id,
        )
        log.error(
            "executor.deadlock_broken",
            bucket=bucket.index,
            cancelled_query=victim.id,
            cancelled_name=victim.name,
        )
        victim.cancel(error)
