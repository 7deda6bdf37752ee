"""Sort and TopN: order all input rows (``ORDER BY`` that no shard can do for us).

Used above aggregation and joins, where the order is on computed values. Without a
limit it holds every row (unavoidable for a full sort); with ``limit`` (TopN, for
``ORDER BY … LIMIT n``) it keeps at most ``2 × limit`` rows, trimming as it goes.
Python's sort is stable, so rows with equal keys keep their arrival order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from sharding.merge.types import BATCH_ROWS, Batch, Operator, Row, child_batches


class Sort:
    def __init__(
        self,
        child: Operator,
        key: Callable[[Row], Any],
        limit: int | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._child = child
        self._key = key
        self._limit = limit
        self._batch_rows = batch_rows

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        key, limit = self._key, self._limit
        rows: list[Row] = []
        if limit == 0:
            return
        async with child_batches(self._child) as batches:
            async for batch in batches:
                rows.extend(batch)
                if limit is not None and len(rows) > 2 * limit + self._batch_rows:
                    rows.sort(key=key)
                    del rows[limit:]
        rows.sort(key=key)
        if limit is not None:
            del rows[limit:]
        step = self._batch_rows
        for i in range(0, len(rows), step):
            yield rows[i : i + step]
