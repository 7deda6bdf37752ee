"""A bounded, thread-safe cache of rewritten statement texts, for the SQLite shards'
statement rewrites (binary strings, hex literals, LIKE collations).

Each rewrite parses a statement only when a cheap text filter says it may have to
change it, and keeps the result under the statement's text: shard workers run in
threads, so the cache takes a lock; the oldest texts go first past ``size``, and a
DDL empties it (:meth:`clear`), since a rewrite depends on the tables' declared types.
Written by hand: ``functools.lru_cache`` cannot be emptied per rewrite nor keyed on
the text alone when the rewrite also needs the connection.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["TextCache"]


class TextCache:
    """text → rewritten text, at most ``size`` entries, least recently used first out."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._texts: OrderedDict[str, str] = OrderedDict()

    def get_or_make(self, text: str, make: Callable[[], str]) -> str:
        """The cached rewrite of ``text``, or ``make()`` (run outside the lock) kept."""
        with self._lock:
            found = self._texts.get(text)
            if found is not None:
                self._texts.move_to_end(text)
                return found
        out = make()
        with self._lock:
            self._texts[text] = out
            while len(self._texts) > self._size:
                self._texts.popitem(last=False)
        return out

    def clear(self) -> None:
        with self._lock:
            self._texts.clear()

    def __len__(self) -> int:
        return len(self._texts)
