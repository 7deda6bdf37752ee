"""The warnings the shards raised while running one statement's reads.

MariaDB reports the warnings a SELECT raised (a truncated conversion, a division by
zero, per evaluated row) in the count of the result's final EOF/OK packet and lists
them in ``SHOW WARNINGS``. A sharded read evaluates every row on the shard holding
it, so the statement's warnings are its shards' warnings together: the backends read
a result's warning count from its final packet and, only when it is not zero, the
texts with ``SHOW WARNINGS`` on the same connection (:attr:`ResultSet.warnings`,
:attr:`ResultSet.notes`). Every place that runs a shard read records its result here
(:meth:`ShardWarnings.add`); a result without warnings costs one integer test.

Order: the texts are concatenated by shard number (a batched statement or a data
source's merged statement counts as its first shard), and in fetch order within a
shard (a shard's chunks are read one after the other), so the listing does not
depend on which shard answered first. MariaDB lists a table's warnings in its own
evaluation order, which no sharded read reproduces across shards: the same warnings,
in another order (docs/refusals.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from sharding.backend.base import ResultSet

#: (level, code, message), as SHOW WARNINGS lists them.
Note = tuple[str, int, str]


class ShardWarnings:
    """Warning counts and texts of one statement's shard results (module docstring)."""

    __slots__ = ("_parts", "count")

    def __init__(self) -> None:
        #: Warnings the shards counted (all of them, listed or not).
        self.count = 0
        self._parts: list[tuple[int, int, Sequence[Note]]] = []

    def add(self, shard: int, rs: ResultSet) -> None:
        """Record ``rs``'s warnings as raised by shard number ``shard``."""
        if not rs.warnings:
            return
        self.count += rs.warnings
        self._parts.append((shard, len(self._parts), rs.notes or ()))

    def notes(self) -> list[Note]:
        """The recorded texts, by shard number, then in the order they were recorded."""
        out: list[Note] = []
        for _, _, notes in sorted(self._parts, key=lambda p: (p[0], p[1])):
            out.extend(notes)
        return out
