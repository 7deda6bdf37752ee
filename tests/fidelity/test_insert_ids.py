"""AUTO_INCREMENT ids of INSERT, REPLACE and upserts, against one unsharded MariaDB.

What MariaDB 10.11 answers (measured) and the coordinator got wrong before:

* a statement with explicit ids only reports, in its OK packet, the *last* row's id
  when it inserted or changed a row (``VALUES (5, …), (2, …)``: 2; an upsert whose
  last row updated row 2: 2; ``INSERT IGNORE … (61, …), (2, dup)``: 2), and 0 when it
  changed nothing (an upsert that found its row unchanged). The coordinator reported
  the first row's id, or the largest, and on the SQLite default the shard's rowid
  (``INSERT … VALUES (7, …)`` said 1): ``sharding/session_writes.py``,
  ``InsertRows.last_explicit_id``;
* an explicit id moves the counter before the rows after it: ``VALUES (20, …),
  (NULL, …), (30, …)`` gives the NULL row 21 — the coordinator gave it the next id of
  its block (10), a different row than MariaDB's (``PreparedInsert.id_runs``).

Every statement's outcome is compared (affected rows, the OK packet's id, rows), on
every variant of the environment. InnoDB's "mixed-mode" inserts reserve ids they do
not use (an upsert ``VALUES (NULL, …), (2, …)`` takes two): such a statement comes
last, so no later id depends on the gap.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fidelity.harness import Case, Environment, tables_on_both_sides

pytestmark = pytest.mark.mysql

DDL = ["CREATE TABLE tids (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(10), n INT)"]
DROP = ["DROP TABLE IF EXISTS tids"]

STATEMENTS = (
    "INSERT INTO tids (id, k) VALUES (5, 'a'), (2, 'b')",
    "INSERT INTO tids (id, k) VALUES (7, 'a')",
    "INSERT INTO tids (k) VALUES ('g1'), ('g2')",
    "SELECT LAST_INSERT_ID()",
    "INSERT INTO tids (id, k) VALUES (20, 'a'), (NULL, 'b'), (30, 'c')",
    "SELECT LAST_INSERT_ID()",
    "INSERT INTO tids (id, k, n) VALUES (5, 'd', 4), (2, 'b', 20) "
    "ON DUPLICATE KEY UPDATE n = VALUES(n)",
    "INSERT INTO tids (id, k, n) VALUES (2, 'b', 21), (40, 'd', 4) "
    "ON DUPLICATE KEY UPDATE n = VALUES(n)",
    "INSERT INTO tids (id, k, n) VALUES (2, 'b', 22) ON DUPLICATE KEY UPDATE n = VALUES(n)",
    "INSERT INTO tids (id, k, n) VALUES (2, 'b', 22) ON DUPLICATE KEY UPDATE n = VALUES(n)",
    "INSERT INTO tids (id, k, n) VALUES (3, 'c', 31), (2, 'b', 24) "
    "ON DUPLICATE KEY UPDATE n = VALUES(n)",
    "REPLACE INTO tids (id, k, n) VALUES (3, 'c', 30)",
    "REPLACE INTO tids (id, k, n) VALUES (3, 'c', 31), (50, 'x', 1)",
    "INSERT INTO tids (k, n) VALUES ('z', 1) ON DUPLICATE KEY UPDATE n = n + 1",
    "INSERT IGNORE INTO tids (id, k) VALUES (2, 'dup'), (60, 'new')",
    "INSERT IGNORE INTO tids (id, k) VALUES (61, 'new'), (2, 'dup')",
    "INSERT IGNORE INTO tids (id, k) VALUES (2, 'dup'), (3, 'dup')",
    "INSERT INTO tids (id, k) SELECT id + 100, k FROM tids WHERE id < 4 ORDER BY id",
    "INSERT INTO tids (id, k) VALUES (NULL, 'm1'), (200, 'm2'), (NULL, 'm3'), (150, 'm4'), "
    "(NULL, 'm5'), (300, 'm6')",
    "SELECT LAST_INSERT_ID()",
    "INSERT INTO tids (k) VALUES ('after')",
    "SELECT id, k, n FROM tids ORDER BY id",
    # Last: InnoDB reserves an id for each of its rows (see the module doc).
    "INSERT INTO tids (id, k, n) VALUES (NULL, 'q', 1), (2, 'b', 25) "
    "ON DUPLICATE KEY UPDATE n = VALUES(n)",
    "SELECT LAST_INSERT_ID()",
)


@pytest.fixture
def fresh_table(env: Environment) -> Iterator[Environment]:
    """``env`` with an empty ``tids`` on both sides (its counter at 1), dropped after."""
    with tables_on_both_sides(env, DDL, DROP) as ready:
        yield ready


def test_insert_ids_are_mariadbs(fresh_table: Environment) -> None:
    report = fresh_table.run([Case("insert ids", STATEMENTS)])
    fresh_table.check(report, "AUTO_INCREMENT ids", answered=True)
    assert report.counts["insert ids"]["same"] == len(STATEMENTS)
