"""SortMergeJoin: equi-join of two inputs each sorted by its join key (INNER, LEFT).

Each side is a MergeSort over that side's shards, every shard read ``ORDER BY key,
pk`` in keyset chunks, so both inputs arrive in the backend's key order. The join walks
both once: for a key present on both sides it buffers the right side's rows with that
key (memory: the largest run of equal right keys) and pairs them with each left row of
the key. A NULL key matches nothing. LEFT JOIN emits a left row with NULLs when no
right row of its key passes the residual ``ON`` condition.

Keys are :meth:`Semantics.sort_key` values of the key columns (ascending, each side
with its column's collation), so "equal" means equal in the backend's comparison.
``residual(left, right, params)`` holds the non-equality parts of ``ON``.

Temporal keys of two kinds (a DATE with a DATETIME/TIMESTAMP, or fractions of
different digits) are first made one comparable form by :func:`compared_temporal`,
as MySQL compares them; the planner appends that form as a column of each side
(:func:`sharding.sql.join_plan.plan_join`).
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

from sharding.merge.semantics import Semantics, SortItem
from sharding.merge.types import BATCH_ROWS, Batch, Operator, Row

JoinKind = Literal["inner", "left"]

#: The temporal kinds :func:`compared_temporal` reads (a TIMESTAMP is a ``datetime``).
TemporalKind = Literal["date", "datetime", "time"]


def _date_at_midnight(value: Any) -> Any:
    # MariaDB's driver: a DATE is a ``date``; the SQLite store: 'YYYY-MM-DD' text.
    if type(value) is datetime.date:
        return datetime.datetime(value.year, value.month, value.day)
    if type(value) is str:
        return value + " 00:00:00"
    return value


def _no_trailing_fraction_zeros(value: Any) -> Any:
    # The SQLite store writes a DATETIME(fsp)/TIME(fsp) with exactly fsp fraction
    # digits ('10:00:00.500'); the driver's datetime/timedelta objects need nothing.
    if type(value) is str and "." in value:
        return value.rstrip("0").rstrip(".")
    return value


def compared_temporal(kind: TemporalKind) -> Callable[[Any], Any]:
    """The form a join key of temporal ``kind`` is compared in, as MySQL compares a
    DATE with a DATETIME (the DATE at 00:00:00) and fractions of different digits
    (``10:00:00.5`` equals ``10:00:00.500000``): a DATE becomes the DATETIME at
    midnight, a DATETIME/TIMESTAMP/TIME text loses its fraction's trailing zeros.

    Invariant: each form is strictly increasing over the values of its kind (text in
    the store's canonical form, or the driver's objects), so a side read in its own
    key order is also in the order of the compared form, and two values compare
    equal exactly when MySQL's comparison of them does. NULL stays NULL."""
    if kind == "date":
        return _date_at_midnight
    return _no_trailing_fraction_zeros


class _Cursor:
    """Row-at-a-time view of a batch operator (advances batches lazily)."""

    def __init__(self, op: Operator) -> None:
        self._it = op.__aiter__()
        self._batch: Batch = []
        self._pos = 0
        self.done = False

    async def fill(self) -> bool:
        while self._pos >= len(self._batch):
            if self.done:
                return False
            try:
                self._batch = await self._it.__anext__()
            except StopAsyncIteration:
                self.done = True
                self._batch = []
                return False
            self._pos = 0
        return True

    def peek(self) -> Row:
        return self._batch[self._pos]

    def advance(self) -> None:
        self._pos += 1


class SortMergeJoin:
    def __init__(
        self,
        left: Operator,
        right: Operator,
        left_keys: Sequence[int],
        right_keys: Sequence[int],
        semantics: Semantics,
        *,
        kind: JoinKind = "inner",
        right_width: int,
        left_collations: Sequence[str | None] | None = None,
        right_collations: Sequence[str | None] | None = None,
        residual: Callable[[Row, Sequence[Any]], bool] | None = None,
        params: Sequence[Any] = (),
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        if len(left_keys) != len(right_keys) or not left_keys:
            raise ValueError("SortMergeJoin needs the same positive number of keys per side")
        self._left, self._right = left, right
        self._lkey = self._key_fn(semantics, left_keys, left_collations)
        self._rkey = self._key_fn(semantics, right_keys, right_collations)
        self._kind = kind
        self._nulls = (None,) * right_width
        self._residual = residual
        self._params = params
        self._batch_rows = batch_rows

    @staticmethod
    def _key_fn(
        sem: Semantics, keys: Sequence[int], collations: Sequence[str | None] | None
    ) -> Callable[[Row], Any]:
        colls = list(collations) if collations is not None else [None] * len(keys)
        sort_key = sem.sort_key(
            [SortItem(k, False, None, c) for k, c in zip(keys, colls, strict=True)]
        )
        cols = list(keys)

        def key(row: Row) -> Any:
            for c in cols:
                if row[c] is None:
                    return None
            return sort_key(row)

        return key

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        L, R = _Cursor(self._left), _Cursor(self._right)
        lkey, rkey = self._lkey, self._rkey
        left_outer = self._kind == "left"
        nulls, residual, params = self._nulls, self._residual, self._params
        out: Batch = []
        limit = self._batch_rows
        has_r = await R.fill()
        while await L.fill():
            lrow = L.peek()
            k = lkey(lrow)
            if k is None:
                if left_outer:
                    out.append(lrow + nulls)
                L.advance()
            else:
                # Skip right rows with smaller (or NULL) keys.
                while has_r:
                    rk = rkey(R.peek())
                    if rk is not None and rk >= k:
                        break
                    R.advance()
                    has_r = await R.fill()
                group: list[Row] = []
                while has_r and rkey(R.peek()) == k:
                    group.append(R.peek())
                    R.advance()
                    has_r = await R.fill()
                while True:
                    matched = False
                    for rrow in group:
                        joined = lrow + rrow
                        if residual is None or residual(joined, params):
                            out.append(joined)
                            matched = True
                    if not matched and left_outer:
                        out.append(lrow + nulls)
                    L.advance()
                    if len(out) >= limit:
                        yield out
                        out = []
                    if not await L.fill():
                        break
                    lrow = L.peek()
                    if lkey(lrow) != k:
                        break
                if not group and not left_outer and not has_r:
                    # Nothing left on the right: no further inner matches possible.
                    break
            if len(out) >= limit:
                yield out
                out = []
        if out:
            yield out
