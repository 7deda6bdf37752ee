"""Shard-neutral cache keys of the SQLite shards (``sharding/backend/sqlite_table_identity``).

The per-statement caches of the SQLite backend (the decimal-results plan, "nothing to
rewrite" decisions) are shared by the shards of one logical table. A shared key must
never give one table another's answer: tables whose definitions differ keep different
keys, a DDL drops what was derived, and an alias or a temporary table keeps its text.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from sharding import Coordinator, Topology
from sharding.backend import sqlite_table_identity as identity


def _connect(tmp_path: Path, **tables: str) -> sqlite3.Connection:
    """A connection with one attached file per keyword (schema name → its DDL)."""
    raw = sqlite3.connect(":memory:")
    for schema, ddl in tables.items():
        raw.execute("ATTACH DATABASE ? AS " + schema, (str(tmp_path / f"{schema}.sqlite"),))
        raw.execute(ddl.replace("CREATE TABLE ", f"CREATE TABLE {schema}."))
    return raw


def test_same_definitions_share_a_key_others_do_not(tmp_path: Path) -> None:
    identity.forget()
    raw = _connect(
        tmp_path,
        db_0001="CREATE TABLE t (id INT, a DECIMAL(10,2))",
        db_0002="CREATE TABLE t (id INT, a DECIMAL(10,2))",
        other_0001="CREATE TABLE t (id INT, a INT)",
    )
    one = identity.neutral_key(raw, 'SELECT a * 2 FROM "db_0001"."t" AS t')
    two = identity.neutral_key(raw, 'SELECT a * 2 FROM "db_0002"."t" AS t')
    other = identity.neutral_key(raw, 'SELECT a * 2 FROM "other_0001"."t" AS t')
    assert one == two
    assert one != other
    assert "db_0001" not in one


def test_aliases_temp_tables_and_unknown_tables_keep_their_text(tmp_path: Path) -> None:
    identity.forget()
    raw = _connect(tmp_path, db_0001="CREATE TABLE t (id INT)")
    raw.execute("CREATE TEMP TABLE tt (id INT)")
    for text in (
        "SELECT t.id FROM t",  # alias.column
        'SELECT * FROM "temp"."tt"',  # a connection's own table
        'SELECT * FROM "db_0001"."missing"',
    ):
        assert identity.neutral_key(raw, text) == text


def test_a_changed_definition_gets_a_new_key_after_forget(tmp_path: Path) -> None:
    identity.forget()
    raw = _connect(tmp_path, db_0001="CREATE TABLE t (id INT, a INT)")
    before = identity.neutral_key(raw, 'SELECT a FROM "db_0001"."t"')
    raw.execute("ALTER TABLE db_0001.t ADD COLUMN b TEXT")
    identity.forget()  # what the backend does after a DDL
    assert identity.neutral_key(raw, 'SELECT a FROM "db_0001"."t"') != before


def test_schemas_changed_reads_the_attached_files_again(tmp_path: Path) -> None:
    identity.forget()
    raw = _connect(tmp_path, db_0001="CREATE TABLE t (id INT)")
    assert "db_0002" not in identity.attached(raw)
    raw.execute("ATTACH DATABASE ? AS db_0002", (str(tmp_path / "x.sqlite"),))
    identity.schemas_changed(raw)
    assert "db_0002" in identity.attached(raw)


def _topology(tmp_path: Path) -> Topology:
    return Topology.loads(
        f"""
[cluster]
database = "app"
default_shards = 4

[[datasources]]
name = "ds0"
path = "{tmp_path / "ds0"}"
"""
    )


async def test_same_table_name_other_types_keep_their_own_answers(tmp_path: Path) -> None:
    """Two databases with a table ``t`` of other column types, the same statement text:
    each answers with its own types (a shared plan would convert one by the other's)."""
    async with Coordinator(_topology(tmp_path), catalog_refresh=None) as coord:
        await coord.execute("CREATE DATABASE dec_db")
        await coord.execute("CREATE DATABASE int_db")
        await coord.execute("CREATE TABLE dec_db.t (id INT PRIMARY KEY, a DECIMAL(10,2))")
        await coord.execute("CREATE TABLE int_db.t (id INT PRIMARY KEY, a DOUBLE)")
        for db in ("dec_db", "int_db"):
            await coord.execute(f"INSERT INTO {db}.t VALUES (1, 1.25), (2, 2.5), (3, 3), (4, 4)")
        session = coord.open_session()
        await session.execute("USE dec_db")
        dec = await session.execute("SELECT id, a * 2 FROM t ORDER BY id")
        await session.execute("USE int_db")
        dbl = await session.execute("SELECT id, a * 2 FROM t ORDER BY id")
        assert [r[1] for r in dec.rows] == [
            Decimal("2.50"),
            Decimal("5.00"),
            Decimal("6.00"),
            Decimal("8.00"),
        ]
        assert [r[1] for r in dbl.rows] == [2.5, 5.0, 6.0, 8.0]
        assert all(isinstance(r[1], float) for r in dbl.rows)
        # The table made again with another type: what was cached is not used.
        await coord.execute("DROP TABLE int_db.t")
        await coord.execute("CREATE TABLE int_db.t (id INT PRIMARY KEY, a DECIMAL(10,1))")
        await coord.execute("INSERT INTO int_db.t VALUES (1, 1.25), (2, 2.5), (3, 3), (4, 4)")
        again = await session.execute("SELECT id, a * 2 FROM t ORDER BY id")
        assert [r[1] for r in again.rows] == [
            Decimal("2.6"),  # 1.25 stored as 1.3 (DECIMAL(10,1) rounds half up)
            Decimal("5.0"),
            Decimal("6.0"),
            Decimal("8.0"),
        ]
