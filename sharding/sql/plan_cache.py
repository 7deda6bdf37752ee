"""Plan cache keyed by the statement with its literals normalised.

The key is the normalised text (:func:`sharding.sql.lexer.normalize`: every literal
is a ``?``) plus the session's current database, so ``WHERE id = 5`` and ``WHERE id =
7`` share one plan and the values are re-bound per call. A plan that *did* depend on a
literal's value (``ORDER BY 2`` is a position, not a value) records those slots; it is
reused only for calls with the same values there, so one key can hold a few variants.

Plans embed catalog entries (rules, columns), so the cache is cleared whenever the
catalog generation changes (DDL here, or a reload that found another coordinator's
DDL). LRU-bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

MAX_VARIANTS = 8


class PlanCache:
    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str | None], list[tuple[dict[int, Any], Any]]] = (
            OrderedDict()
        )
        self.generation = -1
        self.hits = 0
        self.misses = 0

    def _check(self, generation: int) -> None:
        if generation != self.generation:
            self._entries.clear()
            self.generation = generation

    def get(
        self,
        key: tuple[str, str | None],
        values: Sequence[Any],
        generation: int,
        *,
        counted: bool = True,
    ) -> Any | None:
        """The plan cached for ``key`` whose dependencies these ``values`` meet.
        ``counted=False``: a look that counts neither a hit nor a miss, made by a
        caller that either takes the plan (then :meth:`count_hit`) or leaves the
        statement to a lookup of its own (the lean path: sharding/session_lean.py),
        so each statement counts once."""
        self._check(generation)
        variants = self._entries.get(key)
        if variants is not None:
            for deps, plan in variants:
                if all(i < len(values) and _same(values[i], v) for i, v in deps.items()):
                    self._entries.move_to_end(key)
                    self.hits += counted
                    return plan
        self.misses += counted
        return None

    def count_hit(self) -> None:
        """A plan looked up with ``get(counted=False)`` was taken."""
        self.hits += 1

    def put(
        self, key: tuple[str, str | None], deps: dict[int, Any], plan: Any, generation: int
    ) -> None:
        self._check(generation)
        variants = self._entries.setdefault(key, [])
        variants.insert(0, (dict(deps), plan))
        del variants[MAX_VARIANTS:]
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b
