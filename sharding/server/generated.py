"""Functions generated from source text for one shape of row, kept per shape (bounded).

Per-row code — a row parser per list of column converters
(:func:`sharding.backend.native.row_parser`), a text row encoder per list of wire
columns (:func:`sharding.server.types.text_row_encoder`) — is fastest as straight-line
code made for its shape: the ``namedtuple`` technique. The caller builds the source
from fixed fragments (never from values), it is compiled once per shape and kept. The
cache is a plain dict emptied when full: shapes come from plans and result definitions,
so the working set is small and stable, and a full cache only costs compiling again.
It lives with the server's codec because both of its users may import from there (the
server imports nothing from the coordinator side: ``tests/sharding/test_layers.py``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
F = TypeVar("F")


class GeneratedFunctions(Generic[K, F]):
    """``get(shape)`` / ``put(shape, fn)``: at most ``size`` functions, all forgotten
    at once when full."""

    __slots__ = ("_functions", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._functions: dict[K, F] = {}

    def get(self, key: K) -> F | None:
        return self._functions.get(key)

    def put(self, key: K, fn: F) -> F:
        if len(self._functions) >= self.size:
            self._functions.clear()
        self._functions[key] = fn
        return fn

    def __len__(self) -> int:
        return len(self._functions)


def compile_function(lines: Sequence[str], namespace: dict[str, Any], name: str) -> Any:
    """Compile the function ``name`` from ``lines`` (built by the caller from fixed
    text) with ``namespace`` as its globals."""
    exec("\n".join(lines), namespace)  # the source is fixed fragments, never values
    return namespace[name]
