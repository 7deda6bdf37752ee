"""``INSERT … ON DUPLICATE KEY UPDATE`` rendered as SQLite's upsert (issue 15), and the
ENUM collation's two meanings, without a server (the MariaDB comparisons are in
``test_sqlite_mysql_writes2.py``)."""

from __future__ import annotations

import sqlite3

from sharding.backend import sqlite_mysql
from sharding.sql.upsert import SQLITE_INSERT_IGNORE, UpsertClause


def test_clause_becomes_sqlite_upsert() -> None:
    clause = UpsertClause(
        (
            "ON  DUPLICATE KEY UPDATE n = VALUES(`n`) + ",
            ", s = CONCAT(s, 'it\\'s'), m = values ( m )",
        ),
        ("n", "s", "m"),
    )
    rendered = clause.for_sqlite().render("sqlite", [1, 2, 7])
    assert rendered == (
        "ON CONFLICT DO UPDATE SET n = excluded.\"n\" + 7, s = CONCAT(s, 'it''s'), m = excluded.\"m\""
    )
    marked = clause.for_sqlite(ignore=True).render("sqlite", [7])
    assert marked.startswith(sqlite_mysql.SQLITE_IGNORE_MARK + " ON CONFLICT DO UPDATE SET ")
    assert SQLITE_INSERT_IGNORE.render("sqlite", None).endswith("ON CONFLICT DO NOTHING")


def test_rendered_upsert_runs_on_sqlite() -> None:
    """The rendered clause is valid SQLite and means MySQL's upsert: any unique key."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    sqlite_mysql.install(conn)
    conn.execute("CREATE TABLE t (id INT PRIMARY KEY, code TEXT UNIQUE, n INT)")
    conn.execute("INSERT INTO t VALUES (1, 'a', 1)")
    clause = UpsertClause(("ON DUPLICATE KEY UPDATE n = n + VALUES(n)",), ("n",)).for_sqlite()
    tail = clause.render("sqlite", None)
    conn.execute(f"INSERT INTO t VALUES (2, 'a', 5) {tail}")  # the UNIQUE key conflicts
    conn.execute(f"INSERT INTO t VALUES (1, 'z', 5) {tail}")  # the primary key conflicts
    assert conn.execute("SELECT id, code, n FROM t").fetchall() == [(1, "a", 11)]


def test_enum_collation_compares_labels_and_indexes() -> None:
    conn = sqlite3.connect(":memory:")
    name = sqlite_mysql.enum_collation(("small", "medium", "large"), "utf8mb4_general_ci")
    sqlite_mysql.sync_collations(conn, set())
    conn.execute(f'CREATE TABLE e (size TEXT COLLATE "{name}")')
    conn.executemany("INSERT INTO e VALUES (?)", [("small",), ("medium",), ("large",)])

    def ids(where: str) -> list[str]:
        return [r[0] for r in conn.execute(f"SELECT size FROM e WHERE {where} ORDER BY rowid")]

    assert ids("size = 'SMALL'") == ["small"]
    assert ids("size < 'medium'") == ["large"]  # labels compare as strings
    assert ids("size > 1") == ["medium", "large"]  # numbers by index
    assert ids("size IN (1, 3)") == ["small", "large"]
    assert ids("size = 'large   '") == ["large"]  # PAD SPACE, as utf8mb4_general_ci
    # the labels travel in the name: a fresh registry rebuilds the same collation
    again = sqlite3.connect(":memory:")
    sqlite_mysql.register_collations_in(f'CREATE TABLE x (s TEXT COLLATE "{name}")')
    sqlite_mysql.sync_collations(again, set())
    again.execute(f'CREATE TABLE e (size TEXT COLLATE "{name}")')
    again.execute("INSERT INTO e VALUES ('medium')")
    assert again.execute("SELECT COUNT(*) FROM e WHERE size = 2").fetchone() == (1,)
