"""A long shard-key IN list is cut per shard (:mod:`sharding.exec.key_lists`): each
shard statement carries only the values whose rows can live on that shard, and the
answers are those of the whole list (IN, NOT IN, OR, NULL in the list, text keys
compared under their collation)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sharding.catalog import TableInfo
from sharding.coordinator import Coordinator
from sharding.exec.key_lists import plan_reads, shard_lists
from sharding.exec.targets import route_shards, shard_targets
from sharding.sql.inlist import FOLD_MIN
from sharding.sql.nodes import ShardRead
from sharding.sql.route import value_shard
from sharding.topology import Topology

ROWS = 3000


def _topology(root: Path) -> Topology:
    return Topology.loads(
        f"""
[cluster]
database = "db"
default_shards = 16

[[datasources]]
name = "ds0"
path = "{root / "ds0"}"
"""
    )


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    async with Coordinator(_topology(tmp_path), catalog_refresh=None) as c:
        s = c.open_session(database="db")
        await s.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        await s.execute("CREATE TABLE n (name VARCHAR(20) PRIMARY KEY, k INT)")
        await s.execute("INSERT INTO t VALUES " + ",".join(f"({i}, 'v{i}')" for i in range(ROWS)))
        await s.execute("INSERT INTO n VALUES " + ",".join(f"('n{i}', {i})" for i in range(ROWS)))
        await s.close()
        yield c


def _ints(values: range | list[int]) -> str:
    return ", ".join(map(str, values))


async def _shard_sql(c: Coordinator, sql: str) -> tuple[TableInfo, dict[int, str]]:
    """What each shard of the statement's (one) multi-shard read is sent."""
    s = c.open_session(database="db")
    prepared = await s._prepare(sql, None, kind="select")
    await s.close()
    (read,) = [r for r in plan_reads(prepared.plan.scatter) if r.leader is not None]
    sem = c.semantics
    lists = shard_lists(read, prepared.values, sem)
    assert lists is not None, "the list was not cut"
    template = lists.bind(read, prepared.texts)
    targets = lists.targets(shard_targets(read, route_shards(read, prepared.values, sem), "sqlite"))
    assert read.leader is not None
    return read.tables[read.leader], {t.shard: template.fill(t.names) for t in targets}


async def test_each_shard_gets_only_its_own_values(coord: Coordinator) -> None:
    wanted = list(range(0, ROWS, 3))
    info, sent = await _shard_sql(
        coord, f"SELECT id FROM t WHERE id IN ({_ints(wanted)}) ORDER BY id"
    )
    total = 0
    for shard, sql in sent.items():
        listed = [int(x) for x in sql.split(" IN (", 1)[1].split(")", 1)[0].split(", ")]
        assert all(value_shard(info, v, coord.semantics) == shard for v in listed), shard
        total += len(listed)
    assert total == len(wanted)  # every value once, on its own shard
    assert len(sent) == 16


async def test_answers_are_those_of_the_whole_list(coord: Coordinator) -> None:
    s = coord.open_session(database="db")
    wanted = list(range(1, ROWS, 7)) + list(range(ROWS + 10, ROWS + 400))  # misses too
    hits = [i for i in wanted if i < ROWS]
    r = await s.execute(f"SELECT id FROM t WHERE id IN ({_ints(wanted)}) ORDER BY id")
    assert [row[0] for row in r.rows] == hits
    r = await s.execute(f"SELECT COUNT(*) FROM t WHERE id NOT IN ({_ints(wanted)})")
    assert r.rows == [(ROWS - len(hits),)]
    # Through OR every shard is read; one without values of its own gets a filler.
    few = list(range(0, 16 * FOLD_MIN, 16))  # all on one shard under mod placement
    r = await s.execute(f"SELECT COUNT(*) FROM t WHERE id IN ({_ints(few)}) OR v = 'v5'")
    assert r.rows == [(len([i for i in few if i < ROWS]) + 1,)]
    r = await s.execute(f"SELECT COUNT(*) FROM t WHERE NOT (id IN ({_ints(few)}))")
    assert r.rows == [(ROWS - len([i for i in few if i < ROWS]),)]
    # A NULL in the list: IN finds the others, NOT IN finds nothing (NULL, not TRUE).
    with_null = _ints(wanted) + ", NULL"
    r = await s.execute(f"SELECT COUNT(*) FROM t WHERE id IN ({with_null})")
    assert r.rows == [(len(hits),)]
    r = await s.execute(f"SELECT COUNT(*) FROM t WHERE id NOT IN ({with_null})")
    assert r.rows == [(0,)]
    # A text key compared under its collation (utf8mb4_general_ci: 'N5' = 'n5').
    names = ", ".join(f"'N{i}'" for i in range(0, ROWS, 5))
    r = await s.execute(f"SELECT COUNT(*), SUM(k) FROM n WHERE name IN ({names})")
    assert r.rows == [(ROWS // 5, sum(range(0, ROWS, 5)))]
    # Parameters, and writes (which keep the whole list).
    params = list(range(100, 700))
    marks = ", ".join("?" for _ in params)
    r = await s.execute(f"SELECT SUM(id) FROM t WHERE id IN ({marks})", params)
    assert r.rows == [(sum(params),)]
    await s.close()


async def test_values_of_another_kind_keep_the_whole_list(coord: Coordinator) -> None:
    """'7' against an integer key converts per comparison: no cut, the same answer."""
    s = coord.open_session(database="db")
    mixed = ", ".join(f"'{i}'" for i in range(0, 600))
    prepared = await s._prepare(f"SELECT id FROM t WHERE id IN ({mixed})", None, kind="select")
    (read,) = [r for r in plan_reads(prepared.plan.scatter) if r.leader is not None]
    assert shard_lists(read, prepared.values, coord.semantics) is None
    r = await s.execute(f"SELECT COUNT(*) FROM t WHERE id IN ({mixed})")
    assert r.rows == [(600,)]
    await s.close()


async def test_explain_shows_each_shard_its_own_values(coord: Coordinator) -> None:
    wanted = list(range(0, ROWS, 3))
    sql = f"SELECT id FROM t WHERE id IN ({_ints(wanted)})"
    text = await coord.explain(sql)
    _, sent = await _shard_sql(coord, sql)
    line = next(x for x in text.splitlines() if "sql[ds0/shard 1]" in x)
    listed = line.split(" IN (", 1)[1].split(")", 1)[0]
    assert listed == sent[1].split(" IN (", 1)[1].split(")", 1)[0]
    assert len(listed.split(", ")) < len(wanted) // 8  # about 1/16 of the list


async def test_a_long_subquery_result_is_folded_and_cut(
    coord: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``id IN (SELECT …)`` of 1000 values: one folded slot, cut per shard — not 1000
    literal nodes sent to every shard — with the subquery's answer."""
    import sharding.exec.key_lists as lists_module
    import sharding.session as session_module

    literal_lists: list[int] = []
    cut: list[int] = []
    real_replace = session_module.replace_with_values
    real_lists = lists_module.shard_lists

    def replace_spy(use: Any, width: int, rows: Any, *rest: Any) -> None:
        literal_lists.append(len(rows))
        real_replace(use, width, rows, *rest)

    def lists_spy(read: ShardRead, values: Any, sem: Any) -> Any:
        lists = real_lists(read, values, sem)
        if lists is not None:
            cut.append(sum(lists.sizes().values()))
        return lists

    monkeypatch.setattr(session_module, "replace_with_values", replace_spy)
    monkeypatch.setattr(lists_module, "shard_lists", lists_spy)  # cut before the run
    s = coord.open_session(database="db")
    r = await s.execute(
        "SELECT COUNT(*), SUM(id) FROM t WHERE id IN (SELECT k FROM n WHERE k < 1000)"
    )
    assert r.rows == [(1000, sum(range(1000)))]
    assert literal_lists == [] and cut == [1000]
    r = await s.execute("SELECT COUNT(*) FROM t WHERE id NOT IN (SELECT k * 2 FROM n)")
    assert r.rows == [(ROWS // 2,)]
    r = await s.execute(
        "SELECT COUNT(*) FROM n WHERE name IN (SELECT CONCAT('N', id) FROM t WHERE id < 600)"
    )
    assert r.rows == [(600,)]
    assert literal_lists == []
    # Short results and other contexts keep literal values.
    r = await s.execute("SELECT COUNT(*) FROM t WHERE id IN (SELECT k FROM n WHERE k < 10)")
    assert r.rows == [(10,)]
    r = await s.execute(
        "SELECT id IN (SELECT k FROM n WHERE k < 1000) AS hit FROM t WHERE id IN (3, 2000) "
        "ORDER BY id"
    )
    assert r.rows == [(1,), (0,)]
    assert literal_lists == [10]  # (a select item's list is written back as literals)
    # Cut: the IN on the integer key and the 600 names; NOT IN does not route, so its
    # folded list goes whole to every shard.
    assert cut == [1000, 600]
    await s.close()
