"""ALTER TABLE and FOREIGN KEY on the embedded SQLite default.

The reference for an ALTER is CREATE: after ``ALTER TABLE t ...`` the table must
describe, select and insert exactly like a table created with the altered definition
(same coordinator, same rule), with its rows kept. SQLite shards offer ADD COLUMN (at
the end), DROP COLUMN, RENAME COLUMN, RENAME TO and ADD/DROP INDEX; the other forms are
refused with 1235 before anything runs. A shard made to differ makes the ALTER fail
half-way with an exact report and a pending mark; running it again finishes it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sharding import Coordinator, Topology
from sharding.errors import ShardgateError


@pytest.fixture
def topology(tmp_path: Path) -> Topology:
    return Topology.loads(
        f"""
[cluster]
database = "db"
default_shards = 4

[[datasources]]
name = "ds0"
path = "{tmp_path / "ds0"}"
"""
    )


@pytest.fixture
async def coord(topology: Topology) -> AsyncIterator[Coordinator]:
    async with Coordinator(topology, catalog_refresh=None) as c:
        yield c


async def _rows(coord: Coordinator, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in (await coord.execute(sql)).rows]


async def _error(coord: Coordinator, sql: str) -> ShardgateError:
    with pytest.raises(ShardgateError) as info:
        await coord.execute(sql)
    return info.value


async def _same_as_created(coord: Coordinator, altered: str, created: str) -> None:
    assert await _rows(coord, f"DESCRIBE {altered}") == await _rows(coord, f"DESCRIBE {created}")


BASE = "(id INT PRIMARY KEY, a INT, b VARCHAR(10))"
ROWS = "VALUES (1, 10, 'one'), (2, 20, 'two'), (3, NULL, NULL)"

FORMS = [
    (
        "ALTER TABLE {t} ADD COLUMN c INT NOT NULL DEFAULT 5",
        "(id INT PRIMARY KEY, a INT, b VARCHAR(10), c INT NOT NULL DEFAULT 5)",
        [(1, 10, "one", 5), (2, 20, "two", 5), (3, None, None, 5)],
    ),
    (
        "ALTER TABLE {t} ADD c INT, ADD d VARCHAR(3) DEFAULT 'x'",
        "(id INT PRIMARY KEY, a INT, b VARCHAR(10), c INT, d VARCHAR(3) DEFAULT 'x')",
        [(1, 10, "one", None, "x"), (2, 20, "two", None, "x"), (3, None, None, None, "x")],
    ),
    ("ALTER TABLE {t} DROP COLUMN b", "(id INT PRIMARY KEY, a INT)", [(1, 10), (2, 20), (3, None)]),
    (
        "ALTER TABLE {t} RENAME COLUMN a TO alpha",
        "(id INT PRIMARY KEY, alpha INT, b VARCHAR(10))",
        [(1, 10, "one"), (2, 20, "two"), (3, None, None)],
    ),
    (
        "ALTER TABLE {t} ADD INDEX ia (a)",
        "(id INT PRIMARY KEY, a INT, b VARCHAR(10), KEY ia (a))",
        [(1, 10, "one"), (2, 20, "two"), (3, None, None)],
    ),
    (
        "ALTER TABLE {t} ADD UNIQUE KEY u (b, id)",
        "(id INT PRIMARY KEY, a INT, b VARCHAR(10), UNIQUE KEY u (b, id))",
        [(1, 10, "one"), (2, 20, "two"), (3, None, None)],
    ),
    (
        "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS a INT",
        BASE,
        [(1, 10, "one"), (2, 20, "two"), (3, None, None)],
    ),
]


@pytest.mark.parametrize("alter, target, rows", FORMS)
async def test_alter_equals_create(
    coord: Coordinator, alter: str, target: str, rows: list[tuple[Any, ...]]
) -> None:
    await coord.execute(f"CREATE TABLE t {BASE}")
    await coord.execute(f"INSERT INTO t {ROWS}")
    await coord.execute(alter.format(t="t"))
    await coord.execute(f"CREATE TABLE ref {target}")
    await _same_as_created(coord, "t", "ref")
    assert await _rows(coord, "SELECT * FROM t ORDER BY id") == rows
    # Defaults of the altered table are those of the created one.
    await coord.execute("INSERT INTO t (id) VALUES (100)")
    await coord.execute("INSERT INTO ref (id) VALUES (100)")
    assert await _rows(coord, "SELECT * FROM t WHERE id = 100") == await _rows(
        coord, "SELECT * FROM ref WHERE id = 100"
    )


async def test_drop_index_and_unique_violation(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, b INT)")
    await coord.execute("ALTER TABLE t ADD UNIQUE KEY ub (id, b)")
    await coord.execute("ALTER TABLE t DROP INDEX ub")
    await coord.execute("ALTER TABLE t ADD INDEX ib (b)")
    assert (await _error(coord, "ALTER TABLE t ADD INDEX ib (b)")).code == 1061
    await coord.execute("ALTER TABLE t DROP KEY ib")
    assert (await _error(coord, "ALTER TABLE t DROP KEY ib")).code == 1091


async def test_char_column_added_keeps_mysql_trailing_space_rule(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, a CHAR(4))")
    await coord.execute("ALTER TABLE t ADD COLUMN w CHAR(3)")
    await coord.execute("INSERT INTO t VALUES (1, 'x  ', 'q  ')")
    assert await _rows(coord, "SELECT a, w, LENGTH(a), LENGTH(w) FROM t") == [("x", "q", 1, 1)]
    await coord.execute("ALTER TABLE t DROP COLUMN a")
    await coord.execute("UPDATE t SET w = 'z ' WHERE id = 1")
    assert await _rows(coord, "SELECT w, LENGTH(w) FROM t") == [("z", 1)]


async def test_rename_to_and_rename_table(coord: Coordinator) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT, KEY iv (v))")
    await coord.execute("INSERT INTO t (v) VALUES (1), (2)")
    await coord.execute("ALTER TABLE t RENAME TO t2")
    assert await _rows(coord, "SELECT id, v FROM t2 ORDER BY id") == [(1, 1), (2, 2)]
    assert (await _error(coord, "SELECT * FROM t")).code == 1146
    # The allocator moved with the table; the old name (and its index names) are free.
    result = await coord.execute("INSERT INTO t2 (v) VALUES (3)")
    assert result.last_insert_id == 3
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT, KEY iv (v))")
    await coord.execute("ALTER TABLE t2 RENAME AS t4")
    await coord.execute("RENAME TABLE t4 TO t3")
    assert await _rows(coord, "SELECT v FROM t3 WHERE v = 3") == [(3,)]
    assert (await _error(coord, "RENAME TABLE t3 TO t")).code == 1050
    assert [r[0] for r in await _rows(coord, "SHOW TABLES")] == ["t", "t3"]


@pytest.mark.parametrize(
    "alter, code",
    [
        ("ALTER TABLE t MODIFY COLUMN a BIGINT", 1235),
        ("ALTER TABLE t CHANGE a a2 INT", 1235),
        ("ALTER TABLE t ALTER COLUMN a SET DEFAULT 3", 1235),
        ("ALTER TABLE t ADD COLUMN c INT FIRST", 1235),
        ("ALTER TABLE t ADD COLUMN c INT AFTER id", 1235),
        ("ALTER TABLE t DROP PRIMARY KEY", 1235),
        ("ALTER TABLE t DROP COLUMN a", 1235),  # an index uses it
        ("ALTER TABLE t DROP COLUMN id", 1235),  # the shard key
        ("ALTER TABLE t ADD UNIQUE KEY ua (a)", 1503),
        ("ALTER TABLE t COMMENT = 'shardgate:broadcast'", 1235),
        ("ALTER TABLE t ADD COLUMN a INT", 1060),
        ("ALTER TABLE t DROP COLUMN nope", 1091),
        ("ALTER TABLE t RENAME COLUMN nope TO x", 1054),
        ("ALTER TABLE t RENAME INDEX ia TO ib", 1235),
        ("ALTER TABLE nope ADD COLUMN x INT", 1146),
    ],
)
async def test_refused_forms_change_nothing(coord: Coordinator, alter: str, code: int) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT, KEY ia (a))")
    before = await _rows(coord, "DESCRIBE t")
    assert (await _error(coord, alter)).code == code
    assert await _rows(coord, "DESCRIBE t") == before
    info = coord.catalog.get("db", "t")
    assert info is not None and info.pending is None


def _shard_file(topology: Topology, tmp_path: Path, shard: int) -> Path:
    return tmp_path / "ds0" / f"db_{shard:04d}.sqlite"


def _physical_columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


async def test_failure_half_way_then_finish(
    coord: Coordinator, topology: Topology, tmp_path: Path
) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    await coord.execute("INSERT INTO t VALUES (1, 1), (2, 2), (3, 3), (4, 4)")
    shard2 = _shard_file(topology, tmp_path, 2)
    assert _physical_columns(shard2, "t") == ["id", "a"]
    with sqlite3.connect(shard2) as conn:  # shard 2 differs beforehand
        conn.execute("ALTER TABLE t ADD COLUMN c TEXT")
    error = await _error(coord, "ALTER TABLE t ADD COLUMN c INT")
    assert "failed on shard 2" in str(error)
    assert "Shards with the change: 0-1; without it: 2-3" in str(error)
    info = coord.catalog.get("db", "t")
    assert info is not None and info.column_names() == ["id", "a"]
    assert info.pending is not None and info.pending.done == (0, 1)
    # The pending mark is in the stored catalog: another coordinator sees it.
    async with Coordinator(topology, catalog_refresh=None) as other:
        seen = other.catalog.get("db", "t")
        assert seen is not None and seen.pending == info.pending
    assert await _rows(coord, "SELECT * FROM t ORDER BY id") == [(1, 1), (2, 2), (3, 3), (4, 4)]
    with sqlite3.connect(shard2) as conn:  # the cause goes away
        conn.execute("ALTER TABLE t DROP COLUMN c")
    await coord.execute("ALTER TABLE t ADD COLUMN c INT")
    info = coord.catalog.get("db", "t")
    assert info is not None and info.pending is None and info.column_names() == ["id", "a", "c"]
    for shard in range(4):
        assert _physical_columns(_shard_file(topology, tmp_path, shard), "t") == ["id", "a", "c"]
    await coord.execute("INSERT INTO t (id, a, c) VALUES (5, 5, 50)")
    assert await _rows(coord, "SELECT id, c FROM t WHERE id IN (1, 5) ORDER BY id") == [
        (1, None),
        (5, 50),
    ]
    _executor_clean(coord)


def _executor_clean(coord: Coordinator) -> None:
    stats = coord.executor.statistics()
    assert stats.active == 0 and stats.queued == 0 and stats.queries == 0


async def test_failure_half_way_then_roll_back(
    coord: Coordinator, topology: Topology, tmp_path: Path
) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    with sqlite3.connect(_shard_file(topology, tmp_path, 1)) as conn:
        conn.execute("DROP TABLE t")
    error = await _error(coord, "ALTER TABLE t RENAME COLUMN a TO b")
    assert "failed on shard 1" in str(error) and "RENAME COLUMN b TO a" in str(error)
    assert (await _error(coord, "ALTER TABLE t ADD COLUMN z INT")).code == 1235  # not the inverse
    await coord.execute("ALTER TABLE t RENAME COLUMN b TO a")  # the inverse: shard 0 only
    info = coord.catalog.get("db", "t")
    assert info is not None and info.pending is None and info.column_names() == ["id", "a"]
    assert _physical_columns(_shard_file(topology, tmp_path, 0), "t") == ["id", "a"]


async def test_other_coordinator_sees_the_change(coord: Coordinator, topology: Topology) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    async with Coordinator(topology, catalog_refresh=None) as other:
        assert await _rows(other, "DESCRIBE t") == await _rows(coord, "DESCRIBE t")
        generation = other.catalog.generation
        await coord.execute("ALTER TABLE t ADD COLUMN v INT")
        await other.catalog.reload()
        assert other.catalog.generation > generation
        await other.execute("INSERT INTO t (id, v) VALUES (1, 2)")
        assert await _rows(other, "SELECT * FROM t") == [(1, 2)]


async def test_foreign_keys_are_metadata_with_a_warning(coord: Coordinator) -> None:
    session = coord.open_session()
    await session.execute("CREATE TABLE p (id INT PRIMARY KEY)")
    result = await session.execute(
        "CREATE TABLE c (id INT PRIMARY KEY, pid INT REFERENCES p (id), "
        "CONSTRAINT c_p FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE)"
    )
    assert result.warnings == 2
    warnings = (await session.execute("SHOW WARNINGS")).rows
    assert [(w[0], w[1]) for w in warnings] == [("Warning", 1235), ("Warning", 1235)]
    assert "c_ibfk_1" in warnings[0][2] and "c_p" in warnings[1][2]
    assert all("not enforced" in w[2] for w in warnings)
    info = coord.catalog.get("db", "c")
    assert info is not None
    assert [
        (f.name, f.columns, f.ref_table, f.on_delete, f.enforced) for f in info.foreign_keys
    ] == [
        ("c_ibfk_1", ("pid",), "p", "", False),
        ("c_p", ("pid",), "p", "CASCADE", False),
    ]
    # The next statement that uses a table clears them, as in MySQL.
    await session.execute("SELECT * FROM c")
    assert (await session.execute("SHOW WARNINGS")).rows == []
    await session.execute("ALTER TABLE c DROP FOREIGN KEY c_p")
    info = coord.catalog.get("db", "c")
    assert info is not None and [f.name for f in info.foreign_keys] == ["c_ibfk_1"]
    await session.execute("ALTER TABLE c ADD FOREIGN KEY (pid) REFERENCES p (id)")
    info = coord.catalog.get("db", "c")
    assert info is not None and [f.name for f in info.foreign_keys] == ["c_ibfk_1", "c_ibfk_2"]
    assert (
        await _error(
            coord,
            "CREATE TABLE d (id INT PRIMARY KEY, x INT, FOREIGN KEY (x) REFERENCES nope (id))",
        )
    ).code == 1005
    assert (
        await _error(
            coord, "CREATE TABLE d (id INT PRIMARY KEY, x INT, FOREIGN KEY (y) REFERENCES p (id))"
        )
    ).code == 1072


async def test_refused_by_the_first_shard_leaves_nothing_pending(coord: Coordinator) -> None:
    """Each shard's ALTER is atomic: when the first one refuses, no shard has it and
    the table is simply unchanged (no pending change to finish or undo)."""
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    # SQLite refuses a non-constant default for a column added to a table with rows.
    await coord.execute("INSERT INTO t VALUES " + ", ".join(f"({i})" for i in range(1, 41)))
    error = await _error(coord, "ALTER TABLE t ADD COLUMN ts DATETIME DEFAULT CURRENT_TIMESTAMP")
    assert "failed on shard 0" in str(error) and "No shard has the change" in str(error)
    info = coord.catalog.get("db", "t")
    assert info is not None and info.pending is None and info.column_names() == ["id"]
    await coord.execute("ALTER TABLE t ADD COLUMN v INT")
    assert [r[0] for r in await _rows(coord, "DESCRIBE t")] == ["id", "v"]


async def test_roll_back_that_fails_half_way_is_reported(
    coord: Coordinator, topology: Topology, tmp_path: Path
) -> None:
    await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    with sqlite3.connect(_shard_file(topology, tmp_path, 3)) as conn:
        conn.execute("ALTER TABLE t ADD COLUMN c INT")
    await _error(coord, "ALTER TABLE t ADD COLUMN c INT")  # shards 0-2 have it
    with sqlite3.connect(_shard_file(topology, tmp_path, 1)) as conn:
        conn.execute("ALTER TABLE t RENAME COLUMN c TO c_moved")
    error = await _error(coord, "ALTER TABLE t DROP COLUMN c")
    assert "Rolling back" in str(error) and "failed on shard 1" in str(error)
    assert "Shards rolled back: 0; still with the change: 1-2" in str(error)
    info = coord.catalog.get("db", "t")
    assert info is not None and info.column_names() == ["id", "a"]
    assert info.pending is not None and info.pending.done == (1, 2)
    with sqlite3.connect(_shard_file(topology, tmp_path, 1)) as conn:
        conn.execute("ALTER TABLE t RENAME COLUMN c_moved TO c")
    await coord.execute("ALTER TABLE t DROP COLUMN c")
    info = coord.catalog.get("db", "t")
    assert info is not None and info.pending is None
    assert [_physical_columns(_shard_file(topology, tmp_path, k), "t") for k in range(4)] == [
        ["id", "a"],
        ["id", "a"],
        ["id", "a"],
        ["id", "a", "c"],
    ]
    _executor_clean(coord)
