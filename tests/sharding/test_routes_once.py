"""A statement's reads are routed once per call (``Prepared.routes``).

The lean-path check (``one_shard``), the refusal check (``check_prepared``) and the run
(``Runner.targets``) each asked the route again: five evaluations of the same route
for a scatter SELECT. Now each read of the plan is routed once per call — the
one-shard form's read and the scatter form's read are different reads."""

from __future__ import annotations

from typing import Any

import pytest

from sharding import Coordinator
from sharding.sql import route as route_module


def _count_route_evaluations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for cls in list(vars(route_module).values()):
        if isinstance(cls, type) and "shards" in vars(cls):
            original = vars(cls)["shards"]

            def counted(self: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
                calls.append(type(self).__name__)
                return _original(self, *args, **kw)

            monkeypatch.setattr(cls, "shards", counted)
    return calls


async def test_each_read_is_routed_once_per_call(
    coord: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, k INT)")
    await coord.execute(
        "INSERT INTO t VALUES " + ", ".join(f"({i}, {i * 3})" for i in range(1, 41))
    )
    calls = _count_route_evaluations(monkeypatch)
    scatter = await coord.execute("SELECT SUM(k) FROM t WHERE id BETWEEN 5 AND 24")
    assert [tuple(r) for r in scatter.rows] == [(sum(i * 3 for i in range(5, 25)),)]
    assert 1 <= len(calls) <= 2, calls  # the one-shard form's read, the scatter form's
    calls.clear()
    point = await coord.execute("SELECT k FROM t WHERE id = 7")
    assert [tuple(r) for r in point.rows] == [(21,)]
    assert len(calls) == 1, calls
    # The next call routes for its own values.
    calls.clear()
    other = await coord.execute("SELECT SUM(k) FROM t WHERE id BETWEEN 30 AND 31")
    assert [tuple(r) for r in other.rows] == [(30 * 3 + 31 * 3,)]
    assert 1 <= len(calls) <= 2, calls
