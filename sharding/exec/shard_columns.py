"""A batched read's column definitions: its first shard's own, remembered per read.

A batched shard read comes back inside a ``UNION ALL`` (:mod:`sharding.exec.batch`)
or a data source's merge over one (:mod:`sharding.exec.source`), and MariaDB describes
such a result's columns as the union's or the outer query's: flags dropped (``NOT
NULL``, ``PRI_KEY``), a string's decimals 39, a SUM of SUMs wider, names ``c1``….
The client must get what one shard — like the unsharded table — would describe; the
read's *first* shard's, always the same one, since shards may differ in a flag that
depends on their plan (MariaDB drops ``BINARY`` from an expression sorted through a
temporary table). Until now every batched read therefore read its first shard alone:
one more statement, connection borrow and executor child per scatter query, and for
16 shards one of three round trips.

This memo keeps, per :class:`~sharding.sql.nodes.ShardRead` (a node of a cached plan:
a catalog change makes new plans, hence new keys), pairs *(definitions a result
reported, the first shard's own)*. A call whose result reports definitions seen before
takes the first shard's at once; any other report — the first call of a plan, a
table changed behind the catalog, session settings that change a literal's collation
— reads the first shard alone (its first chunk's statement, as before), once for the
call, and remembers the new pair (:class:`OwnColumns`). A definition is never guessed:
it is the first shard's own, for a result described exactly as the one it was paired
with. A plain result of the first shard itself needs no read.

Every stream of the read hands its rows on with those definitions, not only the first:
an unordered merge may deliver any stream's rows first, and the header goes out with
the first rows.

Invariants: at most one alone read per read and call (the others wait for it); the
memo holds no read alive (weak references) and stays bounded (``pairs`` per read,
``size`` reads).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import trio

from sharding.backend.base import Column, ResultSet
from sharding.exec.targets import Target
from sharding.weak_memo import WeakMemo

__all__ = ["MEMO", "OwnColumns", "ShardColumnsMemo"]

#: ``read_alone(target, sql)``: the statement run alone on its shard (its rows unused).
ReadAlone = Callable[[Target, str], Awaitable[ResultSet]]


class ShardColumnsMemo:
    """Per read: (definitions a result reported → the first shard's own). See module
    docstring."""

    def __init__(self, size: int = 4096, pairs: int = 4) -> None:
        self._memo: WeakMemo[tuple[Column, ...]] = WeakMemo(size, pairs, evict=True)
        self.hits = 0
        self.misses = 0

    def own(self, read: object, reported: Sequence[Column]) -> tuple[Column, ...] | None:
        """The first shard's definitions for a result of ``read`` that reported
        ``reported``; None when not known for that report."""
        own = self._memo.get(read, tuple(reported))
        if own is not None:
            self.hits += 1
            return own
        self.misses += 1
        return None

    def remember(self, read: object, reported: Sequence[Column], own: Sequence[Column]) -> None:
        self._memo.put(read, tuple(reported), tuple(own))

    def forget_all(self) -> None:
        self._memo.clear()

    def __len__(self) -> int:
        return len(self._memo)


#: The process's memo (plans are shared by the sessions of a coordinator).
MEMO = ShardColumnsMemo()


class OwnColumns:
    """One read of one call: gives each result the read's first shard's definitions."""

    __slots__ = (
        "_first",
        "_first_own",
        "_first_sql",
        "_known",
        "_lock",
        "_memo",
        "_read",
        "_read_alone",
    )

    def __init__(
        self,
        read: object,
        first: Target,
        first_sql: str,
        read_alone: ReadAlone,
        memo: ShardColumnsMemo = MEMO,
    ) -> None:
        self._read = read
        self._first = first
        self._first_sql = first_sql
        self._read_alone = read_alone
        self._memo = memo
        self._known: tuple[tuple[Column, ...], tuple[Column, ...]] | None = None
        self._lock: trio.Lock | None = None
        #: The first shard's definitions, once read alone in this call.
        self._first_own: tuple[Column, ...] | None = None

    async def apply(self, rs: ResultSet, target: Target, *, plain: bool) -> ResultSet:
        """``rs`` (``target``'s rows; ``plain``: its own statement's result, not a
        union's or a merge's) with the first shard's definitions."""
        reported = tuple(rs.columns)
        known = self._known
        if known is not None and known[0] == reported:
            own = known[1]
        elif plain and target == self._first:
            own = self._first_own = reported
            self._memo.remember(self._read, reported, own)
        else:
            found = self._memo.own(self._read, reported)
            if found is None:
                if self._lock is None:
                    self._lock = trio.Lock()
                async with self._lock:  # one alone read per call; the others wait
                    found = self._memo.own(self._read, reported)
                    if found is None:
                        if self._first_own is None:
                            alone = await self._read_alone(self._first, self._first_sql)
                            self._first_own = tuple(alone.columns)
                        found = self._first_own
                        self._memo.remember(self._read, reported, found)
            own = found
        self._known = (reported, own)
        if own == reported:
            return rs
        return ResultSet(list(own), rs.rows, rs.warnings, rs.notes, rs.payloads)
