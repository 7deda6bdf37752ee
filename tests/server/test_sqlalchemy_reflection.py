"""SQLAlchemy reflection against the served coordinator answers as against MariaDB.

SQLAlchemy's MySQL dialect reflects with ``SHOW FULL TABLES``, ``SHOW CREATE TABLE``
(parsed line by line), ``DESCRIBE`` (has_table) and ``information_schema``; Alembic
autogenerate is built on the same inspector. The coordinator in front of MariaDB shards
and one plain MariaDB database hold the same DDL; every inspector answer must be equal.
The one intended difference: the table options carry the sharding rule as MariaDB's
partitioning options (``mysql_partition_by``/``mysql_partitions``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.backend_mysql.metadata_env import MetadataEnvironment, start_environment
from tests.conftest import MYSQL_HOST, MYSQL_PORT

TABLES = ("items", "order_lines", "regions", "shops")
RULE_OPTIONS = {"mysql_partition_by", "mysql_partitions"}


@pytest.fixture(scope="module")
def env() -> Iterator[MetadataEnvironment]:
    e = start_environment(4)
    try:
        yield e
    finally:
        e.stop()


def _engines(env: MetadataEnvironment) -> tuple[sa.Engine, sa.Engine]:
    oracle = sa.create_engine(f"mysql+pymysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{env.oracle_db}")
    sharded = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{env.port}/{env.logical_db}")
    return oracle, sharded


def _reflect(engine: sa.Engine) -> dict[str, Any]:
    insp = sa.inspect(engine)
    out: dict[str, Any] = {
        "tables": insp.get_table_names(),
        "has": (insp.has_table("items"), insp.has_table("nope")),
    }
    for t in TABLES:
        out[t] = {
            "columns": [
                {k: (repr(v) if k == "type" else v) for k, v in c.items()}
                for c in insp.get_columns(t)
            ],
            "pk": insp.get_pk_constraint(t),
            "indexes": insp.get_indexes(t),
            "unique": insp.get_unique_constraints(t),
            "fks": insp.get_foreign_keys(t),
            "comment": insp.get_table_comment(t),
            "options": {
                k: v for k, v in insp.get_table_options(t).items() if k not in RULE_OPTIONS
            },
        }
    return out


def _metadata(engine: sa.Engine) -> dict[str, Any]:
    md = sa.MetaData()
    md.reflect(engine)
    return {
        name: [
            (
                c.name,
                repr(c.type),
                c.nullable,
                c.primary_key,
                c.autoincrement,
                None if c.server_default is None else str(getattr(c.server_default, "arg", None)),
                c.comment,
            )
            for c in table.columns
        ]
        + sorted(
            (i.name or "", tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes
        )
        for name, table in md.tables.items()
    }


def test_inspector_matches_mariadb(env: MetadataEnvironment) -> None:
    oracle, sharded = _engines(env)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "Unknown schema content" would be a warning
            expected, got = _reflect(oracle), _reflect(sharded)
        print("reflected items columns:", [c["name"] for c in got["items"]["columns"]])
        assert got == expected
        assert got["items"]["pk"]["constrained_columns"] == ["id"]
        opts = sa.inspect(sharded).get_table_options("items")
        assert (opts["mysql_partition_by"], opts["mysql_partitions"]) == ("HASH (`id`)", "4")
    finally:
        oracle.dispose()
        sharded.dispose()


def test_metadata_reflect_matches_mariadb(env: MetadataEnvironment) -> None:
    oracle, sharded = _engines(env)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            expected, got = _metadata(oracle), _metadata(sharded)
        assert sorted(got) == list(TABLES)
        assert got == expected
    finally:
        oracle.dispose()
        sharded.dispose()


def test_reflected_table_round_trips(env: MetadataEnvironment) -> None:
    """A reflected Table is usable: select through it, and create a copy from it."""
    _, sharded = _engines(env)
    try:
        md = sa.MetaData()
        items = sa.Table("items", md, autoload_with=sharded)
        with sharded.connect() as conn:
            rows = conn.execute(
                sa.select(items.c.id, items.c.sku).where(items.c.id <= 3).order_by(items.c.id)
            ).all()
        assert [tuple(r) for r in rows] == [(1, "S1"), (2, "S2"), (3, "S3")]
        copy_md = sa.MetaData()
        copy = items.to_metadata(copy_md, name="items_reflected_copy")
        copy.create(sharded)
        try:
            again = sa.Table("items_reflected_copy", sa.MetaData(), autoload_with=sharded)
            assert [c.name for c in again.columns] == [c.name for c in items.columns]
            assert [repr(c.type) for c in again.columns] == [repr(c.type) for c in items.columns]
        finally:
            copy.drop(sharded)
    finally:
        sharded.dispose()
