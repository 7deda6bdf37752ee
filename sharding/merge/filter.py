"""Filter: keep rows for which a predicate is true (HAVING, join residuals).

The predicate is a compiled expression already reduced to SQL truth (NULL and false
both drop the row), see :meth:`sharding.merge.evaluate.Compiler.predicate`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sharding.merge.types import Batch, Operator, Row, child_batches


class Filter:
    def __init__(
        self,
        child: Operator,
        predicate: Callable[[Row, Sequence[Any]], bool],
        params: Sequence[Any] = (),
    ) -> None:
        self._child = child
        self._predicate = predicate
        self._params = params

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        test, params = self._predicate, self._params
        async with child_batches(self._child) as batches:
            async for batch in batches:
                kept = [r for r in batch if test(r, params)]
                if kept:
                    yield kept
