"""What the two GROUP BY operators share: group keys, accumulators, output rows.

Input rows carry group values and either per-shard partials (merge mode) or raw
argument values (raw mode, above a join); see :mod:`sharding.merge.aggregates`. Output
rows are ``(group values..., aggregate results...)``. Groups are keyed by the
backend's grouping equality (:meth:`Semantics.group_key`) with each group column's
collation; the first row's values represent the group. With no group columns the
output is exactly one row, even for empty input (``SELECT COUNT(*)`` over nothing is
``0``), as SQL requires.

:class:`GroupedAggregate` holds the configuration; subclasses only decide *when* a
group is complete: :class:`~sharding.merge.hash_aggregate.HashAggregate` at the end of
its input, :class:`~sharding.merge.ordered_aggregate.OrderedAggregate` when the key
changes.

``WITH ROLLUP`` (:class:`~sharding.merge.ordered_aggregate.OrderedAggregate` only):
after the last group of each prefix of the group key, a super-aggregate row with
the rest of the group values NULL, over all the prefix's rows; a grand total last
(none for empty input) — MySQL's order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sharding.merge.aggregates import (
    AggSpec,
    AnyAccumulator,
    Mode,
    feed_merge,
    feed_raw,
    new_accumulators,
)
from sharding.merge.group_concat import ConcatRuntime
from sharding.merge.semantics import Semantics
from sharding.merge.types import BATCH_ROWS, Batch, Operator, Row

#: Group values of an input row: ``fn(row, params)``.
GroupFn = Callable[[Row, Sequence[Any]], tuple[Any, ...]]


def columns_group(columns: Sequence[int]) -> GroupFn:
    """Group values taken from input positions (merge mode)."""
    cols = list(columns)
    if len(cols) == 1:  # the common case, without a list per row
        (col,) = cols
        return lambda row, params: (row[col],)
    return lambda row, params: tuple([row[i] for i in cols])


class GroupedAggregate:
    """Base of the GROUP BY operators (see module docstring)."""

    def __init__(
        self,
        child: Operator,
        group: GroupFn,
        group_collations: Sequence[str | None],
        specs: Sequence[AggSpec],
        semantics: Semantics,
        mode: Mode = "merge",
        params: Sequence[Any] = (),
        batch_rows: int = BATCH_ROWS,
        rollup: bool = False,
        concat: ConcatRuntime | None = None,
    ) -> None:
        self._child = child
        self._group = group
        self._collates = [semantics.collation(c) for c in group_collations]
        self._specs = tuple(specs)
        self._sem = semantics
        self._mode = mode
        self._params = params
        self._batch_rows = batch_rows
        #: GROUP BY ... WITH ROLLUP (ordered input only): super-aggregate rows too.
        self._rollup = rollup
        #: GROUP_CONCAT: group_concat_max_len and the warnings of cut values.
        self._concat = concat

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    def _run(self) -> AsyncIterator[Batch]:
        raise NotImplementedError

    @property
    def _scalar(self) -> bool:
        """No group columns: one output row, even for no input."""
        return not self._collates

    def _keyer(self) -> Callable[[Row], tuple[tuple[Any, ...], tuple[Any, ...]]]:
        """``row → (group values, group key)``."""
        group, params, collates, gk = self._group, self._params, self._collates, self._sem.group_key
        if len(collates) == 1:  # one group column: no zip and list per row
            (collate,) = collates

            def key_one(row: Row) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
                values = group(row, params)
                return values, (gk(values[0], collate),)

            return key_one

        def key(row: Row) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
            values = group(row, params)
            return values, tuple([gk(v, c) for v, c in zip(values, collates, strict=True)])

        return key

    def _feeder(self) -> Callable[[list[AnyAccumulator], Row], None] | None:
        """``(accumulators, row) → None``: add one input row to a group; None when
        there is nothing to add (no aggregates: ``DISTINCT``, a bare ``GROUP BY``)."""
        specs = self._specs
        if not specs:
            return None
        if self._mode == "merge":
            return lambda accs, row: feed_merge(accs, specs, row)
        params = self._params
        return lambda accs, row: feed_raw(accs, specs, row, params)

    def _new_group(self) -> list[AnyAccumulator]:
        return new_accumulators(self._specs, self._sem, self._concat)

    @staticmethod
    def _output(values: tuple[Any, ...], accs: list[AnyAccumulator]) -> Row:
        return values + tuple([a.result() for a in accs])
