"""Project: compute the output columns of each row.

Two forms: a column selection (``columns``: input positions — cheap, used to drop
hidden sort/tiebreak columns) or computed expressions (``exprs``: compiled
:class:`~sharding.merge.evaluate.Compiled` functions of ``(row, params)``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from operator import itemgetter
from typing import Any

from sharding.merge.types import Batch, Operator, Row, child_batches


class Project:
    def __init__(
        self,
        child: Operator,
        *,
        columns: Sequence[int] | None = None,
        exprs: Sequence[Callable[[Row, Sequence[Any]], Any]] | None = None,
        params: Sequence[Any] = (),
    ) -> None:
        if (columns is None) == (exprs is None):
            raise ValueError("Project needs exactly one of columns= or exprs=")
        self._child = child
        self._columns = list(columns) if columns is not None else None
        self._exprs = list(exprs) if exprs is not None else None
        self._params = params

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        if self._columns is not None:
            cols = self._columns
            if cols and cols == list(range(len(cols))):
                # Leading columns kept, hidden ones after them dropped (the usual
                # case): a slice per row, no call per row.
                width = len(cols)
                async with child_batches(self._child) as batches:
                    async for batch in batches:
                        yield [r[:width] for r in batch]
                return
            if len(cols) == 1:
                only = cols[0]
                pick: Callable[[Row], Row] = lambda row: (row[only],)  # noqa: E731
            elif not cols:
                pick = lambda row: ()  # noqa: E731
            else:
                pick = itemgetter(*cols)
            async with child_batches(self._child) as batches:
                async for batch in batches:
                    yield [pick(r) for r in batch]
            return
        exprs = self._exprs or []
        params = self._params
        async with child_batches(self._child) as batches:
            async for batch in batches:
                yield [tuple([e(r, params) for e in exprs]) for r in batch]
