"""ALTER TABLE and FOREIGN KEY through a served coordinator over MariaDB shards.

Each ALTER form runs on a sharded table (4 shards, the cluster's default rule) and on a
plain MariaDB table created from the same DDL; DESCRIBE, SELECT * and an INSERT naming
the changed columns must then agree. A shard made to differ beforehand makes the ALTER
fail half-way: the error names the shard and the shards that have the change, the
catalog keeps the old definition, and running the ALTER again after the cause is gone
finishes it (or the inverse ALTER rolls it back). Foreign keys are accepted: enforced
by the shards where the tables are co-located or the parent is broadcast, otherwise
kept as metadata with a warning. SQLAlchemy ``create_all`` with foreign keys works.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
import trio

from sharding.backend.mysql import MySQLConfig, MySQLDataSource
from sharding.coordinator import Coordinator
from sharding.topology import Topology
from tests.conftest import MYSQL_URL, require_mysql_or_skip
from tests.fidelity.harness import Environment, _admin

PREFIX = "sgddl"
SHARDS = 4


class AlterEnvironment(Environment):
    """A served coordinator whose tables are made by CREATE TABLE (default rule: 4
    shards, one physical database per shard) and a plain MariaDB database beside it."""

    def __init__(self) -> None:
        super().__init__(SHARDS, 1000)
        tag = f"{PREFIX}_{os.getpid()}"
        self.oracle_db = f"{tag}_o"
        self.logical_db = f"{tag}_l"
        self.physical_db = f"{tag}_p"

    def topology(self) -> Topology:
        return Topology.from_dict(
            {
                "cluster": {"database": self.logical_db, "default_shards": SHARDS},
                "datasources": [{"name": "m0", "kind": "mysql", "url": MYSQL_URL}],
            }
        )

    def physical(self, shard: int) -> str:
        return f"{self.logical_db}_{shard:04d}"

    def _drop(self) -> None:
        with _admin() as conn, conn.cursor() as cur:
            cur.execute("SET foreign_key_checks = 0")  # shards reference the broadcast copies
            cur.execute(f"SHOW DATABASES LIKE '{PREFIX}\\_{os.getpid()}\\_%'")
            for (name,) in cur.fetchall():
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
            if cur.fetchone():
                for table, column in (("tables", "db"), ("autoinc", "db"), ("databases", "name")):
                    cur.execute(
                        f"DELETE FROM shardgate_catalog.{table} WHERE {column} = %s",
                        (self.logical_db,),
                    )

    def start(self) -> AlterEnvironment:
        import threading

        self._drop()
        with _admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{self.oracle_db}`")
        self._thread = threading.Thread(target=self._serve, name="alter-serve", daemon=True)
        self._thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise RuntimeError(f"coordinator did not start: {self._error!r}")
        return self


@pytest.fixture(scope="module")
def env() -> Iterator[AlterEnvironment]:
    require_mysql_or_skip()
    environment = AlterEnvironment().start()
    try:
        yield environment
    finally:
        environment.stop()


def _run(conn: pymysql.connections.Connection, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []


def _both(env: AlterEnvironment, sql: str) -> None:
    """Run ``sql`` on the plain MariaDB database and through the coordinator."""
    with env.connect_oracle() as o, env.connect_sharded() as s:
        _run(o, sql)
        _run(s, sql)


def _error(conn: pymysql.connections.Connection, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as info:
        _run(conn, sql)
    code, message = info.value.args[0], info.value.args[1]
    return int(code), str(message)


def _agree(env: AlterEnvironment, table: str, insert: str | None = None) -> None:
    """DESCRIBE, SELECT * (and an INSERT then SELECT *) answer alike on both."""
    with env.connect_oracle() as o, env.connect_sharded() as s:
        assert _run(s, f"DESCRIBE {table}") == _run(o, f"DESCRIBE {table}")
        assert _rows(s, table) == _rows(o, table)
        if insert is not None:
            _run(o, insert)
            _run(s, insert)
            assert _rows(s, table) == _rows(o, table)


def _rows(conn: pymysql.connections.Connection, table: str) -> list[tuple[Any, ...]]:
    return sorted(_run(conn, f"SELECT * FROM {table}"), key=repr)


def _shard_columns(env: AlterEnvironment, shard: int, table: str) -> list[str]:
    with _admin() as conn:
        rows = _run(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
            f"'{env.physical(shard)}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION",
        )
    return [r[0] for r in rows]


FORMS: list[tuple[str, list[str], str]] = [
    (
        "add_column",
        ["ALTER TABLE {t} ADD COLUMN c INT NOT NULL DEFAULT 5"],
        "INSERT INTO {t} (id, a, c) VALUES (100, 1, 9)",
    ),
    (
        "add_column_after_algorithm",
        ["ALTER TABLE {t} ADD COLUMN c VARCHAR(5) DEFAULT 'x' AFTER id, ALGORITHM=INSTANT"],
        "INSERT INTO {t} (id, c) VALUES (100, 'y')",
    ),
    (
        "add_two_columns_inplace_lock",
        ["ALTER TABLE {t} ADD c INT, ADD d DATE, ALGORITHM=INPLACE, LOCK=NONE"],
        "INSERT INTO {t} (id, d) VALUES (100, '2024-02-03')",
    ),
    (
        "add_column_first",
        ["ALTER TABLE {t} ADD COLUMN c INT FIRST"],
        "INSERT INTO {t} (id, c) VALUES (100, 3)",
    ),
    ("drop_column", ["ALTER TABLE {t} DROP COLUMN b"], "INSERT INTO {t} (id, a) VALUES (100, 2)"),
    (
        "drop_column_in_index",
        ["ALTER TABLE {t} ADD INDEX ab (a, b)", "ALTER TABLE {t} DROP b"],
        "INSERT INTO {t} VALUES (100, 2)",
    ),
    (
        "modify_column",
        ["ALTER TABLE {t} MODIFY COLUMN b VARCHAR(40) DEFAULT 'm'"],
        "INSERT INTO {t} (id) VALUES (100)",
    ),
    (
        "modify_shard_key_same_class",
        ["ALTER TABLE {t} MODIFY id BIGINT NOT NULL"],
        "INSERT INTO {t} (id) VALUES (100)",
    ),
    (
        "change_column",
        ["ALTER TABLE {t} CHANGE COLUMN a a2 BIGINT"],
        "INSERT INTO {t} (id, a2) VALUES (100, 7)",
    ),
    (
        "change_column_first",
        ["ALTER TABLE {t} CHANGE b b2 VARCHAR(10) FIRST"],
        "INSERT INTO {t} (id, b2) VALUES (100, 'q')",
    ),
    (
        "rename_column",
        ["ALTER TABLE {t} RENAME COLUMN b TO bee"],
        "INSERT INTO {t} (id, bee) VALUES (100, 'r')",
    ),
    (
        "rename_shard_key",
        ["ALTER TABLE {t} RENAME COLUMN id TO ident"],
        "INSERT INTO {t} (ident, a) VALUES (100, 1)",
    ),
    ("add_index", ["ALTER TABLE {t} ADD INDEX ia (a)"], None),
    ("add_key_unnamed", ["ALTER TABLE {t} ADD KEY (b)", "ALTER TABLE {t} ADD KEY (b)"], None),
    (
        "add_unique_with_shard_key",
        ["ALTER TABLE {t} ADD UNIQUE KEY ub (b, id)"],
        "INSERT INTO {t} (id, b) VALUES (100, 'u')",
    ),
    ("drop_index", ["ALTER TABLE {t} ADD INDEX ia (a)", "ALTER TABLE {t} DROP INDEX ia"], None),
    ("drop_key", ["ALTER TABLE {t} ADD KEY ka (a)", "ALTER TABLE {t} DROP KEY ka"], None),
    (
        "set_default",
        ["ALTER TABLE {t} ALTER COLUMN a SET DEFAULT 42"],
        "INSERT INTO {t} (id) VALUES (100)",
    ),
    (
        "drop_default",
        ["ALTER TABLE {t} ALTER COLUMN b SET DEFAULT 'z'", "ALTER TABLE {t} ALTER b DROP DEFAULT"],
        "INSERT INTO {t} (id, b) VALUES (100, 'k')",
    ),
    ("add_if_not_exists", ["ALTER TABLE {t} ADD COLUMN IF NOT EXISTS a INT"], None),
    ("drop_if_exists", ["ALTER TABLE {t} DROP COLUMN IF EXISTS nope"], None),
    ("engine_rebuild", ["ALTER TABLE {t} ENGINE=InnoDB"], None),
]


@pytest.mark.parametrize("name, alters, insert", FORMS, ids=[f[0] for f in FORMS])
def test_alter_form_agrees_with_mariadb(
    env: AlterEnvironment, name: str, alters: list[str], insert: str | None
) -> None:
    t = f"f_{name}"
    _both(env, f"CREATE TABLE {t} (id INT NOT NULL PRIMARY KEY, a INT, b VARCHAR(10))")
    _both(
        env,
        f"INSERT INTO {t} VALUES (1, 10, 'one'), (2, 20, 'two'), (3, NULL, NULL), (4, 40, 'four')",
    )
    for alter in alters:
        _both(env, alter.format(t=t))
    _agree(env, t, insert.format(t=t) if insert else None)
    with env.connect_oracle() as o, env.connect_sharded() as s:
        # Keys as MariaDB shows them (names, columns, uniqueness).
        def keys(conn: pymysql.connections.Connection) -> set[tuple[Any, ...]]:
            return {(r[2], r[4], r[1], r[3]) for r in _run(conn, f"SHOW INDEX FROM {t}")}

        assert keys(s) == keys(o)
        # Every shard has the same columns as the catalog.
        names = [r[0] for r in _run(s, f"DESCRIBE {t}")]
    for shard in range(SHARDS):
        assert _shard_columns(env, shard, t) == names


def test_rename_table_and_rename_to(env: AlterEnvironment) -> None:
    _both(env, "CREATE TABLE r1 (id INT PRIMARY KEY, v INT)")
    _both(env, "INSERT INTO r1 VALUES (1, 1), (2, 2), (3, 3)")
    _both(env, "ALTER TABLE r1 RENAME TO r2")
    _agree(env, "r2", "INSERT INTO r2 VALUES (9, 9)")
    _both(env, "RENAME TABLE r2 TO r3")
    _agree(env, "r3")
    with env.connect_sharded() as s:
        assert _error(s, "SELECT * FROM r1")[0] == 1146
        assert ("r3",) in _run(s, "SHOW TABLES")
        assert ("r2",) not in _run(s, "SHOW TABLES")
        # The AUTO_INCREMENT allocator and a new table of the old name are independent.
        _run(s, "CREATE TABLE r1 (id INT PRIMARY KEY)")
        _run(s, "INSERT INTO r1 VALUES (5)")
        assert _run(s, "SELECT * FROM r1") == [(5,)]
    for shard in range(SHARDS):
        assert _shard_columns(env, shard, "r3") == ["id", "v"]
        assert _shard_columns(env, shard, "r2") == []


def test_create_table_like_copies_the_definition(env: AlterEnvironment) -> None:
    """``CREATE TABLE b LIKE a`` as MariaDB: the same columns, keys and options, empty,
    ids from 1 again; the rule of ``a`` (its shards) — and the errors of a name taken
    or a source missing."""
    _both(
        env,
        "CREATE TABLE l1 (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(8) NOT NULL "
        "DEFAULT 'z', amt DECIMAL(9,2), KEY k_v (v)) COMMENT 'liked'",
    )
    _both(env, "INSERT INTO l1 (v, amt) VALUES ('a', 1.5), ('b', 2.5)")
    _both(env, "CREATE TABLE l2 LIKE l1")
    _agree(env, "l2", "INSERT INTO l2 (v) VALUES ('c'), ('d')")
    with env.connect_oracle() as o, env.connect_sharded() as s:
        for sql in ("SHOW INDEX FROM l2", "SELECT LAST_INSERT_ID()"):
            assert [r[:5] for r in _run(s, sql)] == [r[:5] for r in _run(o, sql)], sql
        assert _run(s, "SELECT id FROM l2 ORDER BY id") == [(1,), (2,)]
        for sql in ("CREATE TABLE l2 LIKE l1", "CREATE TABLE l3 LIKE nope"):
            assert _error(s, sql)[0] == _error(o, sql)[0], sql
        _run(s, "CREATE TABLE IF NOT EXISTS l2 LIKE l1")
        created = _run(s, "SHOW CREATE TABLE l2")[0][1]
        assert f"PARTITIONS {SHARDS}" in created
    for shard in range(SHARDS):
        assert _shard_columns(env, shard, "l2") == ["id", "v", "amt"]


@pytest.mark.parametrize(
    "alter, code",
    [
        ("ALTER TABLE {t} DROP COLUMN id", 1235),
        ("ALTER TABLE {t} MODIFY COLUMN id VARCHAR(10)", 1235),
        ("ALTER TABLE {t} ADD UNIQUE KEY ua (a)", 1503),
        ("ALTER TABLE {t} DROP PRIMARY KEY, ADD PRIMARY KEY (a)", 1503),
        ("ALTER TABLE {t} COMMENT='shardgate:broadcast'", 1235),
        ("ALTER TABLE {t} ADD COLUMN a INT", 1060),
        ("ALTER TABLE {t} DROP COLUMN nope", 1091),
        ("ALTER TABLE {t} DROP INDEX nope", 1091),
        ("ALTER TABLE {t} MODIFY nope INT", 1054),
        ("ALTER TABLE {t} PARTITION BY HASH(id) PARTITIONS 2", 1235),
    ],
)
def test_changes_that_break_sharding_are_refused(
    env: AlterEnvironment, alter: str, code: int
) -> None:
    t = "refused"
    with env.connect_sharded() as s:
        _run(s, f"CREATE TABLE IF NOT EXISTS {t} (id INT PRIMARY KEY, a INT)")
        before = _run(s, f"DESCRIBE {t}")
        assert _error(s, alter.format(t=t))[0] == code
        assert _run(s, f"DESCRIBE {t}") == before
    for shard in range(SHARDS):
        assert _shard_columns(env, shard, t) == ["id", "a"]


def test_shard_failing_mid_alter_then_finish(env: AlterEnvironment) -> None:
    with env.connect_sharded() as s:
        _run(s, "CREATE TABLE half (id INT PRIMARY KEY, a INT)")
        _run(s, "INSERT INTO half VALUES (1, 1), (2, 2), (3, 3), (4, 4)")
    with _admin() as admin:  # shard 2 differs: it already has a column named c
        _run(admin, f"ALTER TABLE `{env.physical(2)}`.half ADD COLUMN c VARCHAR(3)")
    with env.connect_sharded() as s:
        code, message = _error(s, "ALTER TABLE half ADD COLUMN c INT")
        assert code == 1060
        assert "failed on shard 2" in message
        assert "Shards with the change: 0-1; without it: 2-3" in message
        assert "run the same ALTER TABLE again" in message
        # The catalog keeps the old definition, the change marked pending with the
        # shards done; the table keeps working.
        assert env.coordinator is not None
        half = env.coordinator.catalog.get(env.logical_db, "half")
        assert half is not None and half.column_names() == ["id", "a"]
        assert half.pending is not None and half.pending.done == (0, 1)
        assert _run(s, "SELECT * FROM half ORDER BY id") == [(1, 1), (2, 2), (3, 3), (4, 4)]
        _run(s, "INSERT INTO half (id, a) VALUES (5, 5)")
        # Another ALTER that is not the inverse is refused while this one is pending.
        assert _error(s, "ALTER TABLE half ADD COLUMN z INT")[0] == 1235
    assert [_shard_columns(env, k, "half") for k in range(SHARDS)] == [
        ["id", "a", "c"],
        ["id", "a", "c"],
        ["id", "a", "c"],
        ["id", "a"],
    ]
    with _admin() as admin:  # the cause goes away
        _run(admin, f"ALTER TABLE `{env.physical(2)}`.half DROP COLUMN c")
    with env.connect_sharded() as s:
        _run(s, "ALTER TABLE half ADD COLUMN c INT")  # the same statement finishes it
        assert [r[0] for r in _run(s, "DESCRIBE half")] == ["id", "a", "c"]
        _run(s, "INSERT INTO half (id, a, c) VALUES (6, 6, 60)")
        assert _run(s, "SELECT id, c FROM half WHERE id IN (1, 6) ORDER BY id") == [
            (1, None),
            (6, 60),
        ]
    for shard in range(SHARDS):
        assert _shard_columns(env, shard, "half") == ["id", "a", "c"]
    stats = env.coordinator.executor.statistics()  # quiescent: nothing left running
    assert stats.active == 0 and stats.queued == 0 and stats.queries == 0


def test_finish_after_a_shard_was_altered_but_not_recorded(env: AlterEnvironment) -> None:
    """A re-run meets a shard that has the change without the catalog knowing (a crash
    between its ALTER and the record): "duplicate column" there counts as done."""
    with env.connect_sharded() as s:
        _run(s, "CREATE TABLE crash (id INT PRIMARY KEY, a INT)")
    with _admin() as admin:
        _run(admin, f"DROP TABLE `{env.physical(1)}`.crash")
    with env.connect_sharded() as s:
        code, message = _error(s, "ALTER TABLE crash ADD COLUMN c INT")
        assert code == 1146 and "failed on shard 1" in message
        assert "Shards with the change: 0; without it: 1-3" in message
    with _admin() as admin:  # restore shard 1, and shard 2 got it "before the crash"
        _run(admin, f"CREATE TABLE `{env.physical(1)}`.crash (id INT PRIMARY KEY, a INT)")
        _run(admin, f"ALTER TABLE `{env.physical(2)}`.crash ADD COLUMN c INT")
    with env.connect_sharded() as s:
        _run(s, "ALTER TABLE crash ADD COLUMN c INT")
        assert [r[0] for r in _run(s, "DESCRIBE crash")] == ["id", "a", "c"]
    for shard in range(SHARDS):
        assert _shard_columns(env, shard, "crash") == ["id", "a", "c"]


def test_shard_failing_mid_alter_then_roll_back(env: AlterEnvironment) -> None:
    with env.connect_sharded() as s:
        _run(s, "CREATE TABLE back (id INT PRIMARY KEY, a INT)")
    with _admin() as admin:
        _run(admin, f"ALTER TABLE `{env.physical(3)}`.back ADD COLUMN c INT")
    with env.connect_sharded() as s:
        code, message = _error(s, "ALTER TABLE back ADD COLUMN c INT")
        assert code == 1060 and "Shards with the change: 0-2; without it: 3" in message
        assert "DROP COLUMN c" in message  # the inverse, named in the report
        _run(s, "ALTER TABLE back DROP COLUMN c")  # the inverse: on shards 0-2 only
        assert _run(s, "SHOW WARNINGS")[0][1] == 1235
        assert [r[0] for r in _run(s, "DESCRIBE back")] == ["id", "a"]
        assert env.coordinator is not None
        back = env.coordinator.catalog.get(env.logical_db, "back")
        assert back is not None and back.pending is None and back.column_names() == ["id", "a"]
    assert [_shard_columns(env, k, "back") for k in range(SHARDS)] == [
        ["id", "a"],
        ["id", "a"],
        ["id", "a"],
        ["id", "a", "c"],
    ]
    with _admin() as admin:
        _run(admin, f"ALTER TABLE `{env.physical(3)}`.back DROP COLUMN c")
    with env.connect_sharded() as s:  # nothing pending any more: a new ALTER runs
        _run(s, "ALTER TABLE back ADD COLUMN d INT")
        assert [r[0] for r in _run(s, "DESCRIBE back")] == ["id", "a", "d"]


def test_rename_failing_half_way_then_finish(env: AlterEnvironment) -> None:
    with env.connect_sharded() as s:
        _run(s, "CREATE TABLE mv (id INT PRIMARY KEY, a INT)")
        _run(s, "INSERT INTO mv VALUES (1, 1), (2, 2), (3, 3), (4, 4)")
    with _admin() as admin:  # shard 2's new name is taken
        _run(admin, f"CREATE TABLE `{env.physical(2)}`.mv2 (x INT)")
    with env.connect_sharded() as s:
        code, message = _error(s, "ALTER TABLE mv RENAME TO mv2")
        assert code == 1050 and "failed on shard 2" in message
        assert "Shards with the change: 0-1; without it: 2-3" in message
        # Still the old name in the catalog (reads of the renamed shards fail until the
        # rename is finished or rolled back); the new name is not there yet.
        assert env.coordinator is not None
        mv = env.coordinator.catalog.get(env.logical_db, "mv")
        assert mv is not None and mv.pending is not None and mv.pending.done == (0, 1)
        assert _error(s, "SELECT * FROM mv2")[0] == 1146
    with _admin() as admin:
        _run(admin, f"DROP TABLE `{env.physical(2)}`.mv2")
    with env.connect_sharded() as s:
        _run(s, "ALTER TABLE mv RENAME TO mv2")
        assert _run(s, "SELECT * FROM mv2 ORDER BY id") == [(1, 1), (2, 2), (3, 3), (4, 4)]
        assert _error(s, "SELECT * FROM mv")[0] == 1146
    for shard in range(SHARDS):
        assert _shard_columns(env, shard, "mv2") == ["id", "a"]
        assert _shard_columns(env, shard, "mv") == []


def test_rename_to_another_database(env: AlterEnvironment) -> None:
    other = f"{env.logical_db}_x"
    with env.connect_sharded() as s:
        _run(s, f"CREATE DATABASE {other}")
        try:
            _run(s, "CREATE TABLE away (id INT PRIMARY KEY, a INT)")
            _run(s, "INSERT INTO away VALUES (1, 1), (2, 2), (3, 3)")
            _run(s, f"ALTER TABLE away RENAME TO {other}.away2")
            assert _run(s, f"SELECT * FROM {other}.away2 ORDER BY id") == [(1, 1), (2, 2), (3, 3)]
            assert _error(s, "SELECT * FROM away")[0] == 1146
            _run(s, f"RENAME TABLE {other}.away2 TO away")
            assert _run(s, "SELECT * FROM away ORDER BY id") == [(1, 1), (2, 2), (3, 3)]
        finally:
            _run(s, f"DROP DATABASE {other}")


def test_other_coordinator_sees_the_alter(env: AlterEnvironment) -> None:
    with env.connect_sharded() as s:
        _run(s, "CREATE TABLE seen (id INT PRIMARY KEY, a INT)")
        _run(s, "INSERT INTO seen VALUES (1, 1)")

    async def second() -> list[Any]:
        ds = MySQLDataSource("m0", MySQLConfig.from_mapping("m0", {"url": MYSQL_URL}))
        async with Coordinator(
            env.topology(), datasources={"m0": ds}, catalog_refresh=None
        ) as coord:
            before = (await coord.execute("SELECT * FROM seen")).rows
            with env.connect_sharded() as s:
                await trio.to_thread.run_sync(
                    _run, s, "ALTER TABLE seen ADD COLUMN c INT DEFAULT 3"
                )
            await coord.catalog.reload()
            after = (await coord.execute("SELECT * FROM seen")).rows
            await coord.execute("INSERT INTO seen (id, a, c) VALUES (2, 2, 4)")
            return [before, after]

    before, after = trio.run(second)
    assert [tuple(r) for r in before] == [(1, 1)]
    assert [tuple(r) for r in after] == [(1, 1, 3)]


# ---------------------------------------------------------------------- foreign keys


def _warnings(conn: pymysql.connections.Connection) -> list[tuple[Any, ...]]:
    return _run(conn, "SHOW WARNINGS")


def test_foreign_key_co_located_is_enforced(env: AlterEnvironment) -> None:
    with env.connect_sharded() as s:
        _run(
            s,
            "CREATE TABLE fp (id INT PRIMARY KEY, name VARCHAR(10)) PARTITION BY KEY(id) PARTITIONS 4",
        )
        _run(
            s,
            "CREATE TABLE fc (pid INT NOT NULL, n INT NOT NULL, PRIMARY KEY (pid, n), "
            "CONSTRAINT fc_parent FOREIGN KEY (pid) REFERENCES fp (id) ON DELETE CASCADE) "
            "PARTITION BY KEY(pid) PARTITIONS 4",
        )
        assert _warnings(s) == []
        _run(s, "INSERT INTO fp VALUES (1, 'a'), (2, 'b')")
        _run(s, "INSERT INTO fc VALUES (1, 1), (1, 2), (2, 1)")
        assert _error(s, "INSERT INTO fc VALUES (7, 1)")[0] == 1452  # no parent 7
        _run(s, "DELETE FROM fp WHERE id = 1")
        assert _run(s, "SELECT * FROM fc ORDER BY pid, n") == [(2, 1)]  # cascaded
        create = _run(s, "SHOW CREATE TABLE fc")[0][1]
        assert "fc_parent" in create
        # Dropping it through ALTER removes it from every shard.
        _run(s, "ALTER TABLE fc DROP FOREIGN KEY fc_parent")
        _run(s, "INSERT INTO fc VALUES (7, 1)")
    with _admin() as admin:
        for shard in range(SHARDS):
            rows = _run(
                admin,
                "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE "
                f"CONSTRAINT_SCHEMA = '{env.physical(shard)}' AND TABLE_NAME = 'fc'",
            )
            assert rows == [(0,)]


def test_foreign_key_to_broadcast_parent_is_enforced(env: AlterEnvironment) -> None:
    with env.connect_sharded() as s:
        _run(s, "CREATE TABLE region (code VARCHAR(4) PRIMARY KEY) COMMENT='shardgate:broadcast'")
        _run(s, "INSERT INTO region VALUES ('eu'), ('us')")
        _run(
            s,
            "CREATE TABLE shop (id INT PRIMARY KEY, region VARCHAR(4), FOREIGN KEY (region) REFERENCES region (code))",
        )
        assert _warnings(s) == []
        _run(s, "INSERT INTO shop VALUES (1, 'eu'), (2, 'us'), (3, NULL)")
        assert _error(s, "INSERT INTO shop VALUES (4, 'xx')")[0] == 1452
        # Added later by ALTER: enforced too.
        _run(
            s,
            "ALTER TABLE shop ADD COLUMN home VARCHAR(4), ADD CONSTRAINT shop_home FOREIGN KEY (home) REFERENCES region (code)",
        )
        assert _error(s, "INSERT INTO shop VALUES (5, 'eu', 'zz')")[0] == 1452
        _run(s, "INSERT INTO shop VALUES (5, 'eu', 'us')")
        # The parent of an enforced key cannot go first (as MariaDB), and nothing is
        # dropped on any shard; child first works.
        assert _error(s, "DROP TABLE region, shop")[0] == 1451
        assert _run(s, "SELECT COUNT(*) FROM region") == [(2,)]
        assert _run(s, "SELECT COUNT(*) FROM shop") == [(4,)]
        _run(s, "DROP TABLE shop, region")


def test_foreign_key_not_co_located_is_metadata_with_a_warning(env: AlterEnvironment) -> None:
    with env.connect_sharded() as s:
        _run(s, "CREATE TABLE author (id INT PRIMARY KEY, name VARCHAR(10))")
        _run(
            s,
            "CREATE TABLE book (id INT PRIMARY KEY, author_id INT, FOREIGN KEY (author_id) REFERENCES author (id))",
        )
        warnings = _warnings(s)
        assert len(warnings) == 1
        level, code, message = warnings[0]
        assert (level, code) == ("Warning", 1235)
        assert "book_ibfk_1" in message and "not enforced" in message and "shard" in message
        _run(s, "INSERT INTO book VALUES (1, 99)")  # not checked: documented
        # Kept in the catalog (for SHOW CREATE TABLE / information_schema), not enforced.
        assert env.coordinator is not None
        book = env.coordinator.catalog.get(env.logical_db, "book")
        assert book is not None
        assert [
            (f.name, f.columns, f.ref_table, f.ref_columns, f.enforced) for f in book.foreign_keys
        ] == [("book_ibfk_1", ("author_id",), "author", ("id",), False)]
        _run(
            s,
            "ALTER TABLE book ADD CONSTRAINT book_self FOREIGN KEY (author_id) REFERENCES author (id)",
        )
        assert "book_self" in _warnings(s)[0][2]
        _run(s, "ALTER TABLE book DROP FOREIGN KEY book_self")
        assert _error(s, "ALTER TABLE book DROP FOREIGN KEY book_self")[0] == 1091
        assert (
            _error(
                s,
                "CREATE TABLE orphan (id INT PRIMARY KEY, x INT, FOREIGN KEY (x) REFERENCES nowhere (id))",
            )[0]
            == 1005
        )
        _run(s, "SET foreign_key_checks = 0")
        _run(
            s,
            "CREATE TABLE orphan (id INT PRIMARY KEY, x INT, FOREIGN KEY (x) REFERENCES nowhere (id))",
        )
        assert "nowhere" in _warnings(s)[0][2]


def test_sqlalchemy_create_all_with_foreign_keys(env: AlterEnvironment) -> None:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{env.port}/{env.logical_db}")
    metadata = sa.MetaData()
    users = sa.Table(
        "sa_users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(30)),
    )
    sa.Table(
        "sa_addresses",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("sa_users.id"), nullable=False),
        sa.Column("email", sa.String(50)),
    )
    sa.Table(
        "sa_orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("sa_users.id", ondelete="CASCADE")),
        sa.Column("address_id", sa.Integer, sa.ForeignKey("sa_addresses.id")),
    )
    try:
        metadata.create_all(engine)
        with Session(engine) as session:
            session.execute(users.insert().values(id=1, name="ann"))
            session.execute(sa.text("INSERT INTO sa_addresses VALUES (1, 1, 'a@x')"))
            session.commit()
            rows = session.execute(
                sa.text(
                    "SELECT u.name, a.email FROM sa_addresses a JOIN sa_users u ON u.id = a.user_id"
                )
            ).all()
        assert [tuple(r) for r in rows] == [("ann", "a@x")]
        names = sa.inspect(engine).get_table_names()
        assert {"sa_users", "sa_addresses", "sa_orders"} <= set(names)
        metadata.drop_all(engine)
        assert not {"sa_users", "sa_addresses", "sa_orders"} & set(
            sa.inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()
