"""A served coordinator over MariaDB shards and a plain MariaDB database with the same DDL.

The metadata tests (information_schema, SHOW, SHOW CREATE TABLE, SQLAlchemy reflection,
Connector/J DatabaseMetaData) compare what a client reads from the coordinator with
what it reads from the oracle: one unsharded MariaDB database created from the same
DDL text. Built on the fidelity harness's served coordinator, with tables chosen for
their metadata (auto-increment, defaults, comments, unique and secondary keys, a
composite primary key, a broadcast table) rather than for their rows.
"""

from __future__ import annotations

import os
from typing import Any

from tests.conftest import require_mysql_or_skip
from tests.fidelity.harness import Environment, Table, _admin, _insert_sql

PREFIX = "sgmeta"

TABLES: list[Table] = [
    Table(
        "items",
        "CREATE TABLE items (id INT NOT NULL AUTO_INCREMENT, sku VARCHAR(16) NOT NULL, "
        "name VARCHAR(64) DEFAULT 'none' COMMENT 'display name', "
        "price DECIMAL(10,2) NOT NULL DEFAULT 0.00, qty SMALLINT UNSIGNED, "
        "created DATETIME DEFAULT CURRENT_TIMESTAMP, kind ENUM('a','b') DEFAULT 'a', "
        "flag TINYINT(1) NOT NULL DEFAULT 0, note TEXT, ratio DOUBLE, "
        "PRIMARY KEY (id), UNIQUE KEY uk_sku (id, sku), KEY ix_name (name, price)) "
        "COMMENT='catalogue items'",
        {"shard_key": "id", "algorithm": "mod", "shards": 0},
    ),
    Table(
        "order_lines",
        "CREATE TABLE order_lines (order_id BIGINT NOT NULL, line INT NOT NULL, "
        "code CHAR(4) CHARACTER SET latin1 COLLATE latin1_bin, amount DECIMAL(8,3), "
        "PRIMARY KEY (order_id, line), KEY ix_code (code))",
        {"shard_key": "order_id", "algorithm": "hash", "shards": 0},
    ),
    Table(
        "regions",
        "CREATE TABLE regions (code VARCHAR(8) NOT NULL PRIMARY KEY, name VARCHAR(32))",
        {"broadcast": True},
    ),
    # Foreign keys: to a broadcast parent (enforced on the shards) and to a parent
    # sharded differently (catalog metadata only). Explicit indexes, so MariaDB adds
    # none of its own for them.
    Table(
        "shops",
        "CREATE TABLE shops (id INT NOT NULL PRIMARY KEY, region VARCHAR(8), owner INT, "
        "sku VARCHAR(16), KEY ix_region (region), KEY ix_owner (owner, sku), "
        "CONSTRAINT shop_region FOREIGN KEY (region) REFERENCES regions (code) "
        "ON DELETE SET NULL, CONSTRAINT shop_owner FOREIGN KEY (owner) REFERENCES items (id), "
        "CONSTRAINT shop_item FOREIGN KEY (owner, sku) REFERENCES items (id, sku) "
        "ON UPDATE CASCADE)",
        {"shard_key": "id", "algorithm": "mod", "shards": 0},
    ),
]

ROWS: dict[str, list[tuple[Any, ...]]] = {
    "items": [
        (
            i,
            f"S{i}",
            f"item {i}",
            f"{i}.50",
            i,
            "2024-01-01 00:00:00",
            "ab"[i % 2],
            i % 2,
            None,
            i / 4,
        )
        for i in range(1, 21)
    ],
    "order_lines": [(o, n, f"C{n}", f"{o}.125") for o in range(1, 9) for n in range(1, 3)],
    "regions": [("eu", "Europe"), ("us", "America")],
    "shops": [(1, "eu", 1, "S1"), (2, "us", 2, "S2"), (3, None, None, None)],
}


class MetadataEnvironment(Environment):
    """The fidelity environment with this module's tables and the ``sgmeta`` prefix."""

    def __init__(self, shards: int) -> None:
        super().__init__(shards, 1000)
        tag = f"{PREFIX}_{os.getpid()}_{shards}"
        self.oracle_db = f"{tag}_o"
        self.logical_db = f"{tag}_l"
        self.physical_db = f"{tag}_p"

    def topology(self) -> Any:
        from sharding.topology import Topology
        from tests.conftest import MYSQL_URL

        tables = []
        for t in TABLES:
            entry: dict[str, Any] = {"name": f"{self.logical_db}.{t.name}", **t.rule}
            if t.rule.get("broadcast"):
                entry["physical"] = f"{self.physical_db}.{t.name}"
            else:
                entry["shards"] = entry["shards"] or self.shards
                entry["physical"] = f"{self.physical_db}.{t.name}_{{shard:04d}}"
            tables.append(entry)
        return Topology.from_dict(
            {
                "cluster": {"database": self.logical_db, "chunk_rows": self.chunk},
                "datasources": [{"name": "m0", "kind": "mysql", "url": MYSQL_URL}],
                "tables": tables,
            }
        )

    def _drop(self) -> None:
        super()._drop()
        # Tables created through the coordinator without a TOML rule (copies, restored
        # dumps) live in physical databases named after the logical one (``<db>_0000``),
        # a broadcast table under the logical name itself; restores use ``<db>_r``.
        with _admin() as conn, conn.cursor() as cur:
            pattern = self.logical_db.replace("_", "\\_") + "%"
            cur.execute("SHOW DATABASES LIKE %s", (pattern,))
            for (name,) in cur.fetchall():
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
            if cur.fetchone():
                for table, column in (("tables", "db"), ("autoinc", "db"), ("databases", "name")):
                    cur.execute(
                        f"DELETE FROM shardgate_catalog.{table} WHERE {column} LIKE %s", (pattern,)
                    )

    def start(self) -> MetadataEnvironment:
        import threading

        self._drop()
        with _admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{self.oracle_db}`")
            cur.execute(f"CREATE DATABASE `{self.physical_db}`")
            cur.execute(f"USE `{self.oracle_db}`")
            for t in TABLES:
                cur.execute(t.ddl)
                cur.execute(_insert_sql(t.name, ROWS[t.name]))
        self._thread = threading.Thread(target=self._serve, name="metadata-serve", daemon=True)
        self._thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise RuntimeError(f"coordinator did not start: {self._error!r}")
        with self.connect_sharded() as conn, conn.cursor() as cur:
            for t in TABLES:
                cur.execute(t.ddl)
                cur.execute(_insert_sql(t.name, ROWS[t.name]))
        return self


def start_environment(shards: int = 4) -> MetadataEnvironment:
    """A started environment (skips, or fails under SHARDGATE_REQUIRE_MYSQL=1, without
    MariaDB); the caller stops it."""
    require_mysql_or_skip()
    return MetadataEnvironment(shards).start()


def normalise(value: Any, env: Environment) -> Any:
    """Both databases' names as ``DB`` (the only intended difference)."""
    if isinstance(value, str):
        return value.replace(env.oracle_db, "DB").replace(env.logical_db, "DB")
    if isinstance(value, (list, tuple)):
        return type(value)(normalise(v, env) for v in value)
    return value
