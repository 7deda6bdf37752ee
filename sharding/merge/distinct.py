"""Distinct: drop rows equal to an earlier one (``SELECT DISTINCT`` after merging).

Equality is the backend's grouping equality (``1 = 1.0``, NULL equals NULL, text by
collation), computed with :meth:`Semantics.group_key`; the first row of each class is
kept. Memory: one key per distinct row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from sharding.merge.semantics import Semantics
from sharding.merge.types import Batch, Operator, child_batches


class Distinct:
    def __init__(
        self,
        child: Operator,
        semantics: Semantics,
        collations: Sequence[str | None] | None = None,
        width: int | None = None,
    ) -> None:
        self._child = child
        self._sem = semantics
        self._collations = list(collations) if collations is not None else None
        self._width = width

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._run()

    async def _run(self) -> AsyncIterator[Batch]:
        sem = self._sem
        seen: set[tuple[object, ...]] = set()
        collates = None
        async with child_batches(self._child) as batches:
            async for batch in batches:
                if collates is None:
                    width = self._width if self._width is not None else len(batch[0])
                    names = self._collations or [None] * width
                    collates = [sem.collation(n) for n in names]
                out = []
                gk = sem.group_key
                for row in batch:
                    key = tuple([gk(v, c) for v, c in zip(row, collates, strict=False)])
                    if key not in seen:
                        seen.add(key)
                        out.append(row)
                if out:
                    yield out
