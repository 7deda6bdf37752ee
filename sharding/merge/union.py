"""Set operations over query results: UNION [ALL], INTERSECT, EXCEPT (issue 18.4).

Every input is an operator (the rows of one query block, or of a nested set
operation). Two shapes, neither holding more than a chunk per input:

* :class:`Chain` — ``UNION ALL`` without ORDER BY: the inputs one after the other,
  each built only when the previous one is exhausted (at most one input reads).
* :class:`MergeSort` over :class:`OperatorSource` inputs, each already sorted by the
  same key (the planner pushes ``ORDER BY`` into every input), then for ``UNION``
  (DISTINCT) :class:`SortedDistinct`: the key covers every column, so equal rows are
  adjacent and one row of state is enough.  Ties between inputs keep input order, so
  of rows equal under the collation the first input's is kept, as in MariaDB (which
  keeps the first row it inserted into the union's temporary table).

:class:`SortedSetOp` is INTERSECT / EXCEPT (DISTINCT or ALL) of two such sorted
inputs: a merge join on the whole row.

Equality is :meth:`Semantics.group_key` (collations, ``1 = 1.0``, NULL equals NULL),
consistent with :meth:`Semantics.sort_key` (its invariant), which orders the merge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sharding.errors import NotSupported
from sharding.merge.semantics import Semantics
from sharding.merge.types import BATCH_ROWS, Batch, Operator, Row, child_batches


class Chain:
    """The rows of each input in turn; an input is built when the previous one ends."""

    def __init__(self, makers: Sequence[Callable[[], Operator]]) -> None:
        self._makers = list(makers)

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        for make in self._makers:
            async with child_batches(make()) as batches:
                async for batch in batches:
                    if batch:
                        yield batch


class OperatorSource:
    """An operator as a :class:`~sharding.merge.types.ChunkSource` of a k-way merge:
    each batch is one chunk, pulled only when the merge needs it."""

    def __init__(self, op: Operator) -> None:
        self._it = op.__aiter__()
        self._done = False

    async def next_chunk(self) -> Batch | None:
        while not self._done:
            try:
                batch = await self._it.__anext__()
            except StopAsyncIteration:
                self._done = True
                return None
            if batch:
                return batch
        return None

    async def aclose(self) -> None:
        """Close the operator's iterator (a merge that stopped early)."""
        self._done = True
        aclose = getattr(self._it, "aclose", None)
        if aclose is not None:
            await aclose()


def row_key(
    sem: Semantics, collations: Sequence[str | None], width: int
) -> Callable[[Row], tuple[Any, ...]]:
    """The grouping identity of a whole row (:meth:`Semantics.group_key` per column)."""
    names = list(collations) + [None] * (width - len(collations))
    collates = [sem.collation(n) for n in names[:width]]
    gk = sem.group_key

    def key(row: Row) -> tuple[Any, ...]:
        return tuple([gk(v, c) for v, c in zip(row, collates, strict=False)])

    return key


class BoundedSort:
    """All rows of an input sorted (stable): a branch whose own ``ORDER BY ... LIMIT``
    decides its rows, re-sorted into the merge's order. More than ``bound`` rows is an
    error naming the setting, never an unbounded buffer."""

    def __init__(
        self, child: Operator, key: Callable[[Row], Any], bound: int, batch_rows: int = BATCH_ROWS
    ) -> None:
        self._child = child
        self._key = key
        self._bound = bound
        self._batch_rows = batch_rows

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        rows: list[Row] = []
        async with child_batches(self._child) as batches:
            async for batch in batches:
                rows.extend(batch)
                if len(rows) > self._bound:
                    raise NotSupported(
                        f"a UNION branch with its own LIMIT returned more than {self._bound} "
                        "rows to re-sort (cluster.union_rows); raise the setting"
                    )
        rows.sort(key=self._key)
        step = self._batch_rows
        for i in range(0, len(rows), step):
            yield rows[i : i + step]


class SortedDistinct:
    """Drop a row equal to the row before it: DISTINCT of an input sorted by a key that
    covers every column (equal rows are then adjacent). State: one row's key."""

    def __init__(self, child: Operator, key: Callable[[Row], tuple[Any, ...]]) -> None:
        self._child = child
        self._key = key

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        key = self._key
        last: tuple[Any, ...] | None = None
        async with child_batches(self._child) as batches:
            async for batch in batches:
                out: Batch = []
                for row in batch:
                    k = key(row)
                    if k != last:
                        out.append(row)
                        last = k
                if out:
                    yield out


class SortedSetOp:
    """INTERSECT / EXCEPT of two inputs sorted by the same whole-row order.

    DISTINCT: each row of the result once (left's representative). ALL: a row that
    appears ``m`` times on the left and ``n`` on the right appears ``min(m, n)`` times
    (INTERSECT ALL) or ``max(m - n, 0)`` times (EXCEPT ALL). State: the current run of
    equal rows of each side (a run of duplicates is held — at most ``bound`` rows,
    more is an error naming the setting).
    """

    def __init__(
        self,
        left: Operator,
        right: Operator,
        sort_key: Callable[[Row], Any],
        key: Callable[[Row], tuple[Any, ...]],
        kind: str,
        *,
        all_rows: bool,
        bound: int,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        if kind not in ("intersect", "except"):
            raise ValueError(f"unknown set operation {kind!r}")
        self._left = OperatorSource(left)
        self._right = OperatorSource(right)
        self._sort_key = sort_key
        self._key = key
        self._kind = kind
        self._all = all_rows
        self._bound = bound
        self._batch_rows = batch_rows

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        try:
            left = _Runs(self._left, self._sort_key, self._key, self._bound if self._all else 0)
            right = _Runs(self._right, self._sort_key, self._key, 0)
            intersect = self._kind == "intersect"
            out: Batch = []
            lrun = await left.next_run()
            rrun = await right.next_run()
            while lrun is not None:
                if intersect and rrun is None:
                    break
                if rrun is None or lrun[0] < rrun[0]:
                    if not intersect:
                        out.extend(lrun[2])
                    lrun = await left.next_run()
                elif rrun[0] < lrun[0]:
                    rrun = await right.next_run()
                else:
                    m, n = lrun[3], rrun[3]
                    if intersect:
                        out.extend(lrun[2][: min(m, n)])
                    elif self._all and m > n:
                        out.extend(lrun[2][: m - n])
                    lrun = await left.next_run()
                    rrun = await right.next_run()
                if len(out) >= self._batch_rows:
                    yield out
                    out = []
            if out:
                yield out
        finally:
            await self._left.aclose()
            await self._right.aclose()


class _Runs:
    """Runs of equal rows of a sorted source: ``(sort key, group key, rows, count)``;
    ``rows`` holds the whole run when ``keep`` (at most that many rows, else an error
    naming the setting), else only its first row."""

    def __init__(
        self,
        source: OperatorSource,
        sort_key: Callable[[Row], Any],
        key: Callable[[Row], tuple[Any, ...]],
        keep: int,
    ) -> None:
        self._source = source
        self._sort_key = sort_key
        self._key = key
        self._keep = keep
        self._chunk: Batch = []
        self._pos = 0

    async def _peek(self) -> Row | None:
        if self._pos >= len(self._chunk):
            chunk = await self._source.next_chunk()
            if chunk is None:
                return None
            self._chunk, self._pos = chunk, 0
        return self._chunk[self._pos]

    async def next_run(self) -> tuple[Any, tuple[Any, ...], list[Row], int] | None:
        first = await self._peek()
        if first is None:
            return None
        self._pos += 1
        gk = self._key(first)
        rows = [first]
        count = 1
        while True:
            nxt = await self._peek()
            if nxt is None or self._key(nxt) != gk:
                break
            self._pos += 1
            count += 1
            if self._keep:
                if count > self._keep:
                    raise NotSupported(
                        f"INTERSECT ALL / EXCEPT ALL met more than {self._keep} equal rows "
                        "(cluster.union_rows); raise the setting"
                    )
                rows.append(nxt)
        return self._sort_key(first), gk, rows, count
