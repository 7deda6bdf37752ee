"""``UPDATE``/``DELETE`` modifiers the planner does not take (``IGNORE``,
``LOW_PRIORITY``, ``QUICK``) are a clear 1235 naming the modifier — they were a 1064
whose message named a parser token — and nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sharding import Coordinator, Topology
from sharding.errors import NotSupported


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    topology = Topology.loads(
        f"""
[cluster]
database = "db"
default_shards = 4

[[datasources]]
name = "ds0"
path = "{tmp_path / "ds0"}"
"""
    )
    async with Coordinator(topology, catalog_refresh=None) as c:
        s = c.open_session(database="db")
        await s.execute("CREATE TABLE t (id INT PRIMARY KEY, n INT)")
        await s.execute("INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)")
        await s.close()
        yield c


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("UPDATE IGNORE t SET n = n + 1", "IGNORE"),
        ("update low_priority t SET n = 0", "LOW_PRIORITY"),
        ("DELETE IGNORE FROM t WHERE id = 1", "IGNORE"),
        ("DELETE QUICK FROM t", "QUICK"),
        ("DELETE LOW_PRIORITY QUICK IGNORE FROM t", "LOW_PRIORITY QUICK IGNORE"),
    ],
)
async def test_modifiers_are_a_clear_1235(coord: Coordinator, sql: str, word: str) -> None:
    s = coord.open_session(database="db")
    with pytest.raises(NotSupported) as raised:
        await s.execute(sql)
    assert raised.value.code == 1235 and word in str(raised.value)
    r = await s.execute("SELECT id, n FROM t ORDER BY id")
    assert r.rows == [(1, 1), (2, 2), (3, 3)]
    await s.close()


async def test_plain_writes_still_run(coord: Coordinator) -> None:
    """A column or table named like a modifier is no modifier."""
    s = coord.open_session(database="db")
    await s.execute("CREATE TABLE quick (id INT PRIMARY KEY)")
    await s.execute("INSERT INTO quick VALUES (1)")
    assert (await s.execute("UPDATE quick SET id = 2")).affected == 1  # QUICK: DELETE's only
    assert (await s.execute("DELETE FROM quick WHERE id = 2")).affected == 1
    assert (await s.execute("UPDATE t SET n = 5 WHERE id = 1")).affected == 1
    await s.close()
