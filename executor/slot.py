"""Managed blocking: a child lends its slot back while it waits on something else.

This is ForkJoinPool's ``managedBlock`` and MariaDB's ``wait_begin``/``wait_end``: a
child about to wait on anything that is not its own work — a nested query's children, a
connection pool, a lock — gives its slot to the bucket, and takes one back (at high
priority) when the wait is over. A child that waits while *holding* its slot is exactly
how seed 002's management pool deadlocked: parents held every thread while their
children queued for one.

Lending nests: a child may open several nested queries at once (in tasks it spawned);
the slot goes back on the first and is taken again after the last.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from executor.child import Child, ChildState, current_child


def lend(child: Child, reason: str, *, admit_new: bool = True) -> None:
    """Start a wait; the first of nested waits gives the slot back."""
    if child.lends == 0 and child.state is ChildState.RUNNING:
        child.query._bucket.lend(child, reason, admit_new=admit_new)
    child.lends += 1


async def take_back(child: Child) -> None:
    """End a wait; the last of nested waits queues (high priority) for a slot.

    Cancellable: if cancelled while queued, the child stays WAITING and its final
    ``finish`` accounts for it, so nothing leaks.
    """
    child.lends -= 1
    if child.lends == 0 and child.state is ChildState.WAITING:
        await child.query._bucket.reacquire(child)


@asynccontextmanager
async def slot_released(
    reason: str = "blocking call", *, admit_new: bool = True
) -> AsyncIterator[None]:
    """Inside a child: give the slot back for the duration of the block.

    Outside a child (parent code, plain trio code) it does nothing, so libraries can
    wrap their waits in it unconditionally::

        async with slot_released("waiting for a connection of ds0", admit_new=False):
            conn = await pool.acquire()

    ``admit_new=False`` is for waits on a resource that new work would need too (a
    connection pool): the lent slot serves only the high queue — nested work, children
    back from a wait, kicked-up work — and stays owed to this child otherwise. Lending
    it to new top-level children would start one after another that each wait on the
    same pool and lend again, until the whole low queue sat in the pool's queue instead
    of the bucket's (measured by ``bench.concurrency``). Work that does not need the
    pool still gets the slot through kick-up, so no wait can deadlock on it.
    """
    child = current_child.get()
    if child is None or child.state is ChildState.DONE:
        yield
        return
    lend(child, reason, admit_new=admit_new)
    try:
        yield
    finally:
        await take_back(child)
