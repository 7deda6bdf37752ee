"""Values remembered per object of a cached plan (a read, a plan), held weakly.

A plan is cached, so its reads come back call after call and whatever was derived from
one of them (its targets, its one-shard statements, its shards' column definitions) can
be kept with it. :class:`WeakMemo` keeps, per object, a small dict of such values: it
holds the object only by a weak reference (the entry goes when the plan is evicted), is
keyed by ``id`` (plans and reads are unhashable dataclasses) and checks the reference
on each lookup (an id may be reused after its object has gone). Both levels are
bounded: ``size`` objects (all forgotten at once when full) and ``per_object`` keys each.
"""

from __future__ import annotations

import weakref
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class WeakMemo(Generic[V]):
    """``memo.get(obj, key)`` / ``memo.put(obj, key, value)``; see the module docstring."""

    __slots__ = ("_entries", "evict", "per_object", "size")

    def __init__(self, size: int, per_object: int, *, evict: bool = False) -> None:
        self.size = size
        self.per_object = per_object
        #: A full object's table is emptied for a new key (True) or keeps its keys (False).
        self.evict = evict
        self._entries: dict[int, tuple[weakref.ref[Any], dict[Any, V]]] = {}

    def get(self, obj: object, key: Any) -> V | None:
        entry = self._entries.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[1].get(key)

    def put(self, obj: object, key: Any, value: V) -> None:
        ident = id(obj)
        entries = self._entries
        entry = entries.get(ident)
        if entry is None or entry[0]() is not obj:
            if len(entries) >= self.size:
                entries.clear()

            def forget(ref: weakref.ref[Any]) -> None:
                found = entries.get(ident)
                if found is not None and found[0] is ref:
                    del entries[ident]

            entry = entries[ident] = (weakref.ref(obj, forget), {})
        table = entry[1]
        if len(table) >= self.per_object and key not in table:
            if not self.evict:
                return
            table.clear()
        table[key] = value

    def holds(self, obj: object) -> bool:
        entry = self._entries.get(id(obj))
        return entry is not None and entry[0]() is obj

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
