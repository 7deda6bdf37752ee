"""sharding/server/generated.py: generated functions kept per shape, bounded."""

from __future__ import annotations

from sharding.server.generated import GeneratedFunctions, compile_function


def test_functions_are_kept_per_shape_and_forgotten_together_when_full() -> None:
    cache: GeneratedFunctions[int, object] = GeneratedFunctions(2)
    first, second = object(), object()
    assert cache.get(1) is None
    assert cache.put(1, first) is first and cache.put(2, second) is second
    assert cache.get(1) is first and cache.get(2) is second and len(cache) == 2
    third = cache.put(3, object())
    assert len(cache) == 1 and cache.get(3) is third
    assert cache.get(1) is None and cache.get(2) is None


def test_compile_function_uses_the_namespace_as_globals() -> None:
    namespace = {"offset": 10}
    add = compile_function(["def add(x):", "    return x + offset"], namespace, "add")
    assert add(5) == 15
    namespace["offset"] = 1
    assert add(5) == 6
