"""``[cluster] catalog``: two clusters share one MariaDB server without seeing each other.

Each cluster keeps its catalog and its XA decision log / owner heartbeats in its own
catalog database; the default ``shardgate_catalog`` is not touched by either.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pymysql
import pytest
import trio

from sharding import Coordinator, Topology
from sharding.errors import UnknownTable
from sharding.topology import TopologyError
from tests.conftest import MYSQL_HOST, MYSQL_PORT, MYSQL_URL

pytestmark = pytest.mark.mysql

PID = os.getpid()
APP = f"sgux_app{PID}"  # the logical database, the same name in both clusters


def _topology(tag: str) -> Topology:
    # Two data sources on the one server: a write spanning both runs as XA, so its
    # decision is logged in this cluster's catalog database.
    return Topology.from_dict(
        {
            "cluster": {
                "database": APP,
                "default_shards": 2,
                "catalog": f"sgux_cat{tag}{PID}",
                "physical": f"sgux_{tag}{PID}_{{shard:02d}}.{{table}}",
            },
            "datasources": [
                {"name": f"sgux{tag}0", "kind": "mysql", "url": MYSQL_URL},
                {"name": f"sgux{tag}1", "kind": "mysql", "url": MYSQL_URL},
            ],
        }
    )


def _direct(sql: str) -> list[tuple[object, ...]]:
    conn = pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def _drop_ours() -> None:
    for (name,) in _direct(f"SHOW DATABASES LIKE 'sgux\\_%{PID}%'"):
        _direct(f"DROP DATABASE IF EXISTS `{name}`")
    if _direct("SHOW DATABASES LIKE 'shardgate\\_catalog'"):
        _direct(f"DELETE FROM shardgate_catalog.`databases` WHERE name = '{APP}'")


@pytest.fixture
async def clusters() -> AsyncIterator[tuple[Coordinator, Coordinator]]:
    await trio.to_thread.run_sync(_drop_ours)
    try:
        async with (
            Coordinator(_topology("a"), catalog_refresh=None) as a,
            Coordinator(_topology("b"), catalog_refresh=None) as b,
        ):
            yield a, b
    finally:
        await trio.to_thread.run_sync(_drop_ours)


async def test_two_catalogs_on_one_server_do_not_see_each_other(
    clusters: tuple[Coordinator, Coordinator],
) -> None:
    a, b = clusters
    await a.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    await a.execute("INSERT INTO t VALUES (1, 'a1'), (2, 'a2'), (3, 'a3')")  # both sources: XA
    assert (await b.execute("SHOW TABLES")).rows == []
    with pytest.raises(UnknownTable):
        await b.execute("SELECT * FROM t")
    # The same logical name in the other cluster is another table altogether.
    await b.execute("CREATE TABLE t (id INT PRIMARY KEY, w INT)")
    await b.execute("INSERT INTO t VALUES (7, 70)")
    assert (await a.execute("SELECT id, v FROM t ORDER BY id")).rows == [
        (1, "a1"),
        (2, "a2"),
        (3, "a3"),
    ]
    assert (await b.execute("SELECT id, w FROM t")).rows == [(7, 70)]
    # A reload from the stored catalog still shows each cluster only its own table.
    await a.catalog.reload()
    await b.catalog.reload()
    ta, tb = a.catalog.get(APP, "t"), b.catalog.get(APP, "t")
    assert ta is not None and tb is not None
    assert [c.name for c in ta.columns] == ["id", "v"]
    assert [c.name for c in tb.columns] == ["id", "w"]

    def stored() -> tuple[list[tuple[object, ...]], ...]:
        return (
            _direct(f"SELECT db, name FROM sgux_cata{PID}.`tables`"),
            _direct(f"SELECT db, name FROM sgux_catb{PID}.`tables`"),
            # The XA log of a's cross-source INSERT (its row is deleted once committed
            # everywhere) and a's live heartbeat, in a's catalog.
            _direct(f"SHOW TABLES FROM sgux_cata{PID} LIKE 'xa\\_%'"),
            _direct(f"SELECT COUNT(*) FROM sgux_cata{PID}.xa_owners"),
            _direct(f"SHOW TABLES FROM sgux_catb{PID} LIKE 'xa_owners'"),
            _direct(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'shardgate_catalog' "
                "AND table_name = 'tables'"
            ),
        )

    a_tables, b_tables, a_xa, a_beats, b_owners, default_exists = await trio.to_thread.run_sync(
        stored
    )
    assert a_tables == [(APP, "t")] and b_tables == [(APP, "t")]
    assert sorted(a_xa) == [("xa_log",), ("xa_owners",)]
    assert int(str(a_beats[0][0])) >= 1
    assert b_owners == [("xa_owners",)]  # b's heartbeats live in b's catalog
    if default_exists[0][0]:
        rows = await trio.to_thread.run_sync(
            _direct, f"SELECT COUNT(*) FROM shardgate_catalog.`tables` WHERE db = '{APP}'"
        )
        assert rows == [(0,)]  # the default catalog never saw either cluster


def test_catalog_name_is_validated() -> None:
    with pytest.raises(TopologyError, match="catalog"):
        Topology.from_dict(
            {
                "cluster": {"catalog": "x; DROP"},
                "datasources": [{"name": "d", "kind": "sqlite", "path": "/tmp/x"}],
            }
        )
