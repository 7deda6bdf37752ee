"""The differential-test dataset: the same rows in a sharded topology and in one
plain SQLite database (the oracle).

Values are chosen to exercise the merge rules: NULLs in every nullable column,
duplicates in grouping and join keys, negative numbers (integer division and modulo
truncate toward zero), text that differs only in case or trailing spaces (BINARY
collation), the empty string. Floats are multiples of 1/4 with small magnitude, so
every partial sum is exact and results can be compared with ``==``.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import trio

from sharding import Coordinator, Topology

TABLES_DDL = {
    "t": "CREATE TABLE t (id INT PRIMARY KEY, k INT, a INT, b VARCHAR(20), c DOUBLE, d INT)",
    "t2": "CREATE TABLE t2 (id INT NOT NULL, seq INT NOT NULL, v INT, w VARCHAR(10), PRIMARY KEY (id, seq))",
    "u": "CREATE TABLE u (uid INT PRIMARY KEY, k INT, x INT, s VARCHAR(20))",
    "dim": "CREATE TABLE dim (k INT PRIMARY KEY, name VARCHAR(20))",
    "r": "CREATE TABLE r (id INT PRIMARY KEY, v INT)",
    "m": "CREATE TABLE m (id INT PRIMARY KEY, g INT, v INT)",
}
# Extra clauses only the coordinator sees (sharding rules).
SHARDING_SUFFIX = {
    "dim": " COMMENT='shardgate:broadcast'",
    "r": " PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (50), PARTITION p1 VALUES LESS THAN (100), "
    "PARTITION p2 VALUES LESS THAN (150), PARTITION p3 VALUES LESS THAN (250), PARTITION p4 VALUES LESS THAN MAXVALUE)",
    "m": " PARTITION BY HASH (id) PARTITIONS 7",
}
WORDS = ["apple", "Apple", "banana", "cherry", "cherry ", "", "x", "Zed", "zed", None]


def generate(seed: int = 20240531) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(seed)

    def maybe(value: Any, p: float = 0.1) -> Any:
        return None if rng.random() < p else value

    def quarter(lo: int, hi: int) -> float:
        return rng.randint(lo * 4, hi * 4) / 4

    data: dict[str, list[tuple[Any, ...]]] = {}
    data["t"] = [
        (
            i,
            maybe(rng.randint(0, 40)),
            maybe(rng.randint(-50, 50)),
            rng.choice(WORDS),
            maybe(quarter(-100, 100)),
            rng.randint(0, 5),
        )
        for i in range(1, 401)
    ]
    data["t2"] = []
    for i in range(1, 401, 2):
        for seq in range(rng.randint(0, 3)):
            data["t2"].append((i, seq, maybe(rng.randint(0, 100)), rng.choice(["p", "q", None])))
    data["u"] = [
        (uid, maybe(rng.randint(0, 45)), maybe(rng.randint(-20, 100)), rng.choice(WORDS))
        for uid in range(1, 301)
    ]
    data["dim"] = [(k, f"n{k % 7}" if k % 5 else f"m{k}") for k in range(0, 45, 2)]
    data["r"] = [(i, rng.randint(-1000, 1000)) for i in range(0, 400, 2)]
    data["m"] = [(i, rng.randint(0, 9), maybe(rng.randint(-5, 5))) for i in range(1, 201)]
    return data


def build_oracle(path: Path, data: dict[str, list[tuple[Any, ...]]]) -> None:
    conn = sqlite3.connect(path)
    for name, ddl in TABLES_DDL.items():
        conn.execute(ddl)
        rows = data[name]
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
    conn.commit()
    conn.close()


def topology_text(data_dir: Path, shards: int, *, window: int = 8) -> str:
    return f"""
[cluster]
database = "db"
default_shards = {shards}
chunk_rows = 64
merge_budget_rows = 16384

[executor]
buckets = 2
slots_per_bucket = 8
window = {window}

[[datasources]]
name = "ds0"
kind = "sqlite"
path = "{data_dir / "ds0"}"
max_idle = 256
"""


def topology(data_dir: Path, shards: int, **kw: Any) -> Topology:
    return Topology.loads(topology_text(data_dir, shards, **kw))


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


async def load(coord: Coordinator, data: dict[str, list[tuple[Any, ...]]]) -> None:
    for name, ddl in TABLES_DDL.items():
        await coord.execute(ddl + SHARDING_SUFFIX.get(name, ""))
        rows = data[name]
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            values = ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in chunk)
            await coord.execute(f"INSERT INTO {name} VALUES {values}")


def build_sharded(data_dir: Path, shards: int, data: dict[str, list[tuple[Any, ...]]]) -> None:
    async def main() -> None:
        async with Coordinator(topology(data_dir, shards), catalog_refresh=None) as coord:
            await load(coord, data)

    trio.run(main)
