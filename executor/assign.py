"""How a new top-level query picks its bucket (nested queries inherit their parent's).

* ``least_loaded`` — the less loaded of two distinct random buckets ("power of two
  choices"): nearly as good as scanning every bucket, O(1), and it keeps a burst of new
  queries from all piling onto the one bucket that looked emptiest a moment ago. The
  bucket with fewer queries waiting at its door wins (see :mod:`executor.bucket`); then
  the one with less load, the work admitted or queued in it; then the one with fewer
  queries.
* ``round_robin`` — buckets in turn.
* ``hash`` — by session, like MySQL's ``thread_id % thread_pool_size``: a session always
  lands in the same bucket (and shares that bucket's fate when it is saturated — the
  head-of-line case seed 002 describes).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

from executor.bucket import Bucket
from executor.config import AssignPolicy


class BucketAssigner:
    def __init__(self, policy: AssignPolicy, seed: int | None = None) -> None:
        self.policy = policy
        self._random = random.Random(seed)
        self._next = 0

    def pick(self, buckets: Sequence[Bucket], session: object, query_id: int) -> Bucket:
        n = len(buckets)
        if n == 1:
            return buckets[0]
        if self.policy == "round_robin":
            bucket = buckets[self._next % n]
            self._next += 1
            return bucket
        if self.policy == "hash":
            return buckets[session_hash(query_id if session is None else session) % n]
        # Two distinct buckets, uniformly (random.sample's own sequence check costs
        # more than the rest of the pick).
        draw = self._random.random
        first = int(draw() * n)
        second = int(draw() * (n - 1))
        if second >= first:
            second += 1
        a, b = buckets[first], buckets[second]
        # Queries waiting at a bucket's door come first: each is a fan-out query's work
        # still to come, which ``load`` (children admitted or queued) does not count yet.
        if (b.at_door, b.load, len(b.queries)) < (a.at_door, a.load, len(a.queries)):
            return b
        return a


def session_hash(session: object) -> int:
    """Stable across processes (unlike ``hash(str)``), so a session keeps its bucket."""
    if isinstance(session, int) and not isinstance(session, bool):
        return session
    return zlib.crc32(str(session).encode())
