"""A queue that is FIFO within an owner and round-robin across owners.

Used for each priority level of a bucket, with the query as owner: when a slot frees,
the next query in the rotation gets it, so a query with 1024 queued children and a
query with one take turns instead of the small one waiting behind all 1024.
``collections.deque`` and ``dict`` do the work; nothing in the standard library or
trio offers per-owner round-robin, hence this small class.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from executor.child import Child


class FairQueue:
    __slots__ = ("_by_owner", "_len", "_rotation")

    def __init__(self) -> None:
        self._by_owner: dict[int, deque[Child]] = {}
        self._rotation: deque[int] = deque()
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[Child]:
        for owner in self._rotation:
            yield from self._by_owner[owner]

    def push(self, child: Child) -> None:
        owner = child.owner
        queue = self._by_owner.get(owner)
        if queue is None:
            queue = self._by_owner[owner] = deque()
            self._rotation.append(owner)
        queue.append(child)
        self._len += 1

    def pop(self) -> Child:
        """Take the first child of the owner whose turn it is; that owner goes last."""
        owner = self._rotation[0]
        queue = self._by_owner[owner]
        child = queue.popleft()
        self._len -= 1
        if queue:
            self._rotation.rotate(-1)
        else:
            del self._by_owner[owner]
            self._rotation.popleft()
        return child

    def remove(self, child: Child) -> None:
        """Remove a child (cancelled while queued). ValueError if it is not here."""
        owner = child.owner
        queue = self._by_owner.get(owner)
        if queue is None:
            raise ValueError(f"{child!r} is not queued")
        queue.remove(child)
        self._len -= 1
        if not queue:
            del self._by_owner[owner]
            self._rotation.remove(owner)

    def pop_older_than(self, deadline: float) -> list[Child]:
        """Remove and return every child submitted before ``deadline`` (for kick-up)."""
        aged: list[Child] = []
        for owner in list(self._rotation):
            queue = self._by_owner[owner]
            while queue and queue[0].submitted_at < deadline:
                aged.append(queue.popleft())
                self._len -= 1
            if not queue:
                del self._by_owner[owner]
                self._rotation.remove(owner)
        return aged
