"""Window: window functions computed over a merged stream sorted by (partition, order).

Issue 18.5, the general case: the shards send their rows sorted by the window's
``PARTITION BY`` then ``ORDER BY`` keys (the same collations, ENUMs by index), a
``MergeSort`` interleaves them, and this operator holds **one partition at a time** —
a partition ends when a row with another partition key arrives (keys compared as the
backend groups them: :meth:`Semantics.group_key` with each column's collation) — then
appends each function's value to every row of the partition and passes them on.

When every function needs only the rows before the current one (ROW_NUMBER, RANK,
DENSE_RANK, LAG, and FIRST_VALUE/LAST_VALUE/aggregates whose frame runs from the
partition's start to the current row or its last peer: :func:`streamable`), nothing
is held but the current peer group: each function carries its state (counters, the
last LAG offset values, a running accumulator) from row to row of its partition, so
``ROW_NUMBER() OVER (ORDER BY x)`` over millions of rows streams. Otherwise (LEAD,
NTILE, PERCENT_RANK, CUME_DIST, frames reaching following rows, whole-partition
aggregates) the partition is held.

Invariants:

* memory is one held unit (a partition, or a peer group when streamed): more than
  ``max_rows`` rows in one is NotSupported (1235) naming the setting, never an
  unbounded buffer;
* peers (rows equal on every ORDER BY key under its collation) share RANK,
  DENSE_RANK, PERCENT_RANK, CUME_DIST and the default frame's end;
* frames as MySQL defines them: with ORDER BY the default is ``RANGE BETWEEN
  UNBOUNDED PRECEDING AND CURRENT ROW`` (through the current row's last peer),
  without it the whole partition; ``ROWS`` frames by offsets; ranking functions and
  LAG/LEAD ignore frames;
* aggregate values are MySQL's: :class:`sharding.merge.aggregates.Accumulator` in raw
  mode (SUM of INT/DECIMAL exact as DECIMAL, AVG as MySQL's DECIMAL quotient with scale
  + 4, MIN/MAX collation-aware).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sharding.errors import NotSupported
from sharding.merge.aggregates import Accumulator, AggFunc, AggSpec, ShownFloat
from sharding.merge.semantics import Semantics
from sharding.merge.types import Batch, Operator, Row, child_batches

#: Function kinds computed here (``agg``: an aggregate function used with OVER).
KINDS = (
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "agg",
)


@dataclass(frozen=True)
class Frame:
    """A window frame as row offsets from the current row (``start``/``end``: negative
    preceding, 0 the current row, positive following, None unbounded), or for RANGE
    (``rows`` False) only the current row's peers as the bound (0) or unbounded."""

    rows: bool
    start: int | None
    end: int | None


#: MySQL's default frame with ORDER BY (without it every row is a peer: the partition).
DEFAULT_FRAME = Frame(rows=False, start=None, end=0)


@dataclass(frozen=True)
class WindowFunc:
    """One window function call: its kind, input positions and constants."""

    kind: str
    #: Input position of the argument (None: none, or COUNT(*)).
    arg: int | None = None
    #: LAG/LEAD: input position of the default value (None: NULL).
    default: int | None = None
    #: LAG/LEAD offset; NTILE bucket count.
    offset: int = 1
    #: ``agg`` kind: the aggregate (sum, avg, count, count_star, min, max).
    agg: AggFunc | None = None
    collation: str | None = None
    frame: Frame = DEFAULT_FRAME
    #: How many of the operator's leading sort keys are the PARTITION BY, and how many
    #: after them the ORDER BY (peers).
    partition: int = 0
    order: int = 0

    def describe(self) -> str:
        name = (self.agg or self.kind).upper()
        shape = f"[{self.partition}p+{self.order}o]"
        if self.kind in ("agg", "first_value", "last_value") and self.frame != DEFAULT_FRAME:
            f = self.frame
            return f"{name}{shape}({'ROWS' if f.rows else 'RANGE'} {f.start}..{f.end})"
        return name + shape


class Window:
    """``keys``: input positions of the merged sort (the widest window's partition then
    order columns); function ``f`` partitions by ``keys[:f.partition]`` and orders by
    the next ``f.order`` keys. The partition held is the coarsest one any function uses."""

    def __init__(
        self,
        child: Operator,
        keys: Sequence[int],
        collations: Sequence[str | None],
        funcs: Sequence[WindowFunc],
        sem: Semantics,
        max_rows: int,
        setting: str = "cluster.union_rows",
    ) -> None:
        self._child = child
        self._sem = sem
        self._keys = [(i, sem.collation(c)) for i, c in zip(keys, collations, strict=True)]
        self._funcs = list(funcs)
        self._streaming = all(streamable(f) for f in funcs)
        if self._streaming:
            # Rows held together: one peer group of the coarsest function that needs its
            # peers' values (RANGE frames), else rows equal on every key.
            self._hold = min(
                (f.partition + f.order for f in funcs if _needs_peers(f)), default=len(keys)
            )
            self._states = [_State() for _ in funcs]
        else:
            self._hold = min((f.partition for f in funcs), default=0)
        self._max_rows = max_rows
        self._setting = setting

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        group_key = self._sem.group_key
        keys = self._keys[: self._hold]
        part: list[Row] = []
        current: tuple[Any, ...] | None = None
        async with child_batches(self._child) as batches:
            async for batch in batches:
                out: Batch = []
                for row in batch:
                    key = tuple(group_key(row[i], c) for i, c in keys)
                    if part and key != current:
                        out.extend(self._stream(part) if self._streaming else self.compute(part))
                        part = []
                    current = key
                    part.append(row)
                    if len(part) > self._max_rows:
                        raise NotSupported(
                            f"a window partition of more than {self._max_rows} rows over several "
                            f"shards ({self._setting}); raise the setting"
                        )
                if out:
                    yield out
        if part:
            yield self._stream(part) if self._streaming else self.compute(part)

    # ---------------------------------------------------------------- streaming
    def _stream(self, unit: Sequence[Row]) -> list[Row]:
        """``unit`` (rows no function's peer group crosses) with the functions' values,
        each function's state carried over from the previous units of its partition."""
        group_key = self._sem.group_key
        keyed = [tuple(group_key(row[i], c) for i, c in self._keys) for row in unit]
        columns = [
            self._stream_one(f, st, unit, keyed)
            for f, st in zip(self._funcs, self._states, strict=True)
        ]
        return [(*row, *(col[i] for col in columns)) for i, row in enumerate(unit)]

    def _stream_one(
        self, f: WindowFunc, st: _State, unit: Sequence[Row], keyed: list[tuple[Any, ...]]
    ) -> list[Any]:
        p, o, arg, kind = f.partition, f.order, f.arg, f.kind
        out: list[Any] = [None] * len(unit)
        group: list[int] = []  # RANGE frames: rows of the current peer group, unassigned
        held: Callable[[], Any] | None = None

        def flush() -> None:
            value = held() if held is not None else None
            for j in group:
                out[j] = value
            group.clear()

        for i, row in enumerate(unit):
            k = keyed[i]
            part, peer = k[:p], k[p : p + o]
            if st.seen == 0 or part != st.part:
                flush()
                st.reset(part, f, self._sem, row)
            if st.groups == 0 or peer != st.peer:
                flush()
                st.group_start, st.groups, st.peer = st.seen, st.groups + 1, peer
            if kind == "row_number":
                out[i] = st.seen + 1
            elif kind == "rank":
                out[i] = st.group_start + 1
            elif kind == "dense_rank":
                out[i] = st.groups
            elif kind == "lag":
                value = row[arg] if arg is not None else None
                if f.offset == 0:
                    out[i] = value
                else:
                    out[i] = st.history[0] if len(st.history) == f.offset else None
                    st.history.append(value)
            elif kind == "first_value":
                out[i] = st.first
            elif kind == "last_value":
                if f.frame.rows:
                    out[i] = row[arg] if arg is not None else None
                else:
                    group.append(i)
                    held = _constant(row[arg] if arg is not None else None)
            else:
                assert st.acc is not None
                st.acc.step(1 if arg is None else row[arg])
                if f.frame.rows:
                    out[i] = st.acc.result()
                else:
                    group.append(i)
                    held = st.acc.result
            st.seen += 1
        flush()
        return out

    # ---------------------------------------------------------------- one partition
    def compute(self, part: Sequence[Row]) -> list[Row]:
        """``part`` (the rows of one held partition, in window order) with every
        function's value appended."""
        group_key = self._sem.group_key
        keyed = [tuple(group_key(row[i], c) for i, c in self._keys) for row in part]
        columns: list[list[Any]] = []
        for f in self._funcs:
            col: list[Any] = []
            start = 0
            n = len(part)
            while start < n:
                end = start + 1
                head = keyed[start][: f.partition]
                while end < n and keyed[end][: f.partition] == head:
                    end += 1
                sub = part[start:end]
                peers = _peers([k[f.partition : f.partition + f.order] for k in keyed[start:end]])
                col.extend(self._values(f, sub, *peers))
                start = end
            columns.append(col)
        return [(*row, *(col[i] for col in columns)) for i, row in enumerate(part)]

    def _values(
        self,
        f: WindowFunc,
        part: Sequence[Row],
        peer_start: list[int],
        peer_end: list[int],
        peer_index: list[int],
    ) -> list[Any]:
        n = len(part)
        kind = f.kind
        if kind == "row_number":
            return list(range(1, n + 1))
        if kind == "rank":
            return [s + 1 for s in peer_start]
        if kind == "dense_rank":
            return [g + 1 for g in peer_index]
        # MariaDB shows PERCENT_RANK and CUME_DIST with 10 decimals.
        if kind == "percent_rank":
            return [ShownFloat(s / (n - 1) if n > 1 else 0.0, 10) for s in peer_start]
        if kind == "cume_dist":
            return [ShownFloat(e / n, 10) for e in peer_end]
        if kind == "ntile":
            return [_ntile(i, n, f.offset) for i in range(n)]
        if kind in ("lag", "lead"):
            step = -f.offset if kind == "lag" else f.offset
            out: list[Any] = []
            for i in range(n):
                j = i + step
                if 0 <= j < n:
                    out.append(part[j][f.arg] if f.arg is not None else None)
                else:
                    out.append(part[i][f.default] if f.default is not None else None)
            return out
        bounds = [_frame(f, i, n, peer_start, peer_end) for i in range(n)]
        if kind == "first_value":
            return [part[lo][f.arg] if lo < hi and f.arg is not None else None for lo, hi in bounds]
        if kind == "last_value":
            return [
                part[hi - 1][f.arg] if lo < hi and f.arg is not None else None for lo, hi in bounds
            ]
        return self._aggregate(f, part, bounds)

    def _aggregate(
        self, f: WindowFunc, part: Sequence[Row], bounds: list[tuple[int, int]]
    ) -> list[Any]:
        assert f.agg is not None
        spec = AggSpec(func=f.agg, collation=f.collation)
        sem = self._sem
        arg = f.arg

        def value(row: Row) -> Any:
            return 1 if arg is None else row[arg]

        out: list[Any] = []
        if all(lo == 0 for lo, _ in bounds):
            # A growing frame (running totals, the whole partition): one pass, the
            # accumulator fed in window order as MySQL feeds it.
            acc = Accumulator(spec, sem)
            fed = 0
            for _, hi in bounds:
                while fed < hi:
                    acc.step(value(part[fed]))
                    fed += 1
                out.append(acc.result())
            return out
        for lo, hi in bounds:
            acc = Accumulator(spec, sem)
            for j in range(lo, hi):
                acc.step(value(part[j]))
            out.append(acc.result())
        return out


def streamable(f: WindowFunc) -> bool:
    """True when ``f``'s value needs only the rows before the current one (and its
    peers): computed without holding the partition."""
    if f.kind in ("row_number", "rank", "dense_rank", "lag"):
        return True
    if f.kind in ("first_value", "last_value", "agg"):
        return f.frame.start is None and f.frame.end == 0
    return False


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _needs_peers(f: WindowFunc) -> bool:
    """A RANGE frame ending at the current row's last peer."""
    return f.kind in ("agg", "last_value") and not f.frame.rows


class _State:
    """A streamed function's state within the current partition."""

    def __init__(self) -> None:
        self.part: tuple[Any, ...] = ()
        self.peer: tuple[Any, ...] = ()
        self.seen = 0
        self.groups = 0
        self.group_start = 0
        self.history: deque[Any] = deque()
        self.first: Any = None
        self.acc: Accumulator | None = None

    def reset(self, part: tuple[Any, ...], f: WindowFunc, sem: Semantics, row: Row) -> None:
        self.part, self.seen, self.groups, self.group_start = part, 0, 0, 0
        self.history = deque(maxlen=max(f.offset, 1))
        self.first = row[f.arg] if f.arg is not None else None
        self.acc = Accumulator(AggSpec(func=f.agg, collation=f.collation), sem) if f.agg else None


def _frame(
    f: WindowFunc, i: int, n: int, peer_start: list[int], peer_end: list[int]
) -> tuple[int, int]:
    """The frame of row ``i`` as a half-open range of partition positions."""
    frame = f.frame
    if frame.rows:
        lo = 0 if frame.start is None else max(0, i + frame.start)
        hi = n if frame.end is None else min(n, i + frame.end + 1)
    else:
        # RANGE: bounds at the current row's peers (no ORDER BY: every row is a peer).
        lo = 0 if frame.start is None else peer_start[i]
        hi = n if frame.end is None else peer_end[i]
    return lo, max(lo, hi)


def _peers(keys: Sequence[tuple[Any, ...]]) -> tuple[list[int], list[int], list[int]]:
    """For each row of a partition: where its peer group starts, where it ends
    (exclusive) and its number (``keys``: the rows' ORDER BY keys; () — every row)."""
    n = len(keys)
    start: list[int] = []
    index: list[int] = []
    s, g = 0, -1
    for i, key in enumerate(keys):
        if i == 0 or key != keys[i - 1]:
            s, g = i, g + 1
        start.append(s)
        index.append(g)
    end = [0] * n
    e = n
    for i in range(n - 1, -1, -1):
        if i + 1 < n and start[i + 1] != start[i]:
            e = i + 1
        end[i] = e
    return start, end, index


def _ntile(i: int, n: int, buckets: int) -> int:
    """NTILE(buckets) of row ``i`` of ``n``: the first ``n % buckets`` buckets hold one
    row more than the others (MySQL)."""
    size, extra = divmod(n, buckets)
    big = extra * (size + 1)
    if i < big:
        return i // (size + 1) + 1
    return (i - big) // size + extra + 1
