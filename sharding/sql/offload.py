"""Keep CPU-heavy statement work off the trio event loop.

Lexing, parsing and planning a statement cost time linear in its text: microseconds
for ordinary statements, but seconds for a 100,000-value ``IN (...)`` list or a 10 MB
multi-row INSERT. Done on the event loop, that time freezes every other client of the
process (issue 12, item 4). So a statement at least :data:`OFFLOAD_CHARS` long has its
CPU work run in a worker thread (:func:`cpu_bound`), and the loop keeps serving.

Small statements stay on the loop: a thread hop costs ~50-100 µs, far more than their
planning. The functions run this way are pure computations on objects the calling task
owns (text, a fresh tree, a plan context), so running them in a thread is safe, and
abandoning one on cancellation (``KILL QUERY``) loses nothing but its result. Threads
of one trio run are bounded by :data:`MAX_THREADS` (more would only contend for the
GIL, and a flood of huge statements must not take every worker thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

import trio

__all__ = ["MAX_THREADS", "OFFLOAD_CHARS", "cpu_bound", "is_big"]

#: Statements at least this long (characters) are lexed/parsed/planned in a thread.
OFFLOAD_CHARS = 64 * 1024
#: Worker threads one trio run uses for such work at once.
MAX_THREADS = 2

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_LIMITER: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("sg_cpu_limiter")


def is_big(size: int) -> bool:
    return size >= OFFLOAD_CHARS


def _limiter() -> trio.CapacityLimiter:
    try:
        return _LIMITER.get()
    except LookupError:
        limiter = trio.CapacityLimiter(MAX_THREADS)
        _LIMITER.set(limiter)
        return limiter


async def cpu_bound(size: int, fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """``fn(*args)``: inline when ``size`` (the statement's length) is small, else in a
    worker thread; a cancelled caller abandons the thread (its result is dropped)."""
    if not is_big(size):
        return fn(*args)
    return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True, limiter=_limiter())
