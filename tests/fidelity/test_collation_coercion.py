"""Two text columns of different collations compared, against one unsharded MariaDB.

MySQL compares strings of two implicit collations of one character set with the
binary one of the two (``general_ci_col = bin_col`` is exact), and errs 1267 for any
other pair (``general_ci`` with ``unicode_ci``). What went wrong before (found
2026-12-06):

* on the SQLite default SQLite compared with the *left* column's collation:
  ``WHERE g = b`` matched 'apple' with 'Apple' (7 rows where MariaDB has 1),
  ``g LIKE b`` folded case, ``STRCMP(b, 'apple')`` ignored the column's binary
  collation (``sharding/backend/sqlite_expression_collation.py``
  ``_column_comparison``, ``sg_collated_strcmp``; ``sqlite_like_collation``);
* above a cross-shard join the coordinator compared with the left side's collation
  (``sharding/merge/evaluate.py`` ``coerced_collation``).

Rows (and MariaDB's error 1267 by code) are compared on every variant.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fidelity.harness import Case, Environment, run_statement, tables_on_both_sides

pytestmark = pytest.mark.mysql

DDL = [
    "CREATE TABLE tcoll (id INT PRIMARY KEY, g VARCHAR(16), "
    "b VARCHAR(16) COLLATE utf8mb4_bin, u VARCHAR(16) COLLATE utf8mb4_unicode_ci, n INT)"
]
_WORDS = ["apple", "Apple", "APPLE", "apple ", "banana", "Banana", "éclair", "Éclair", "b", "B"]
ROWS = [
    "INSERT INTO tcoll VALUES "
    + ", ".join(
        f"({i}, {'NULL' if i % 11 == 0 else repr(_WORDS[i % 10])}, "
        f"{_WORDS[(i * 3) % 10]!r}, {_WORDS[(i * 7) % 10]!r}, {1 + (i * 5) % 30})"
        for i in range(1, 31)
    )
]
DROP = ["DROP TABLE IF EXISTS tcoll"]

STATEMENTS = [
    "SELECT id, g = b, b = g, g < b, g IN (b), g LIKE b, b LIKE g, g BETWEEN b AND b "
    "FROM tcoll ORDER BY id",
    "SELECT id FROM tcoll WHERE g = b ORDER BY id",
    "SELECT id FROM tcoll WHERE b = g OR g > b ORDER BY id",
    "SELECT id, STRCMP(g, b), STRCMP(b, 'apple'), STRCMP(g, 'APPLE'), GREATEST(g, b), "
    "LEAST(b, g) FROM tcoll ORDER BY id",
    # Above a cross-shard join (not on the shard keys): the coordinator compares.
    "SELECT x.id, y.id, x.g = y.b, y.b = x.g, x.g < y.b FROM tcoll x JOIN tcoll y "
    "ON x.n = y.id ORDER BY x.id",
]
#: MariaDB's 1267 (Illegal mix of collations): the same error code is the same answer.
MIXES = ["SELECT id, g = u FROM tcoll ORDER BY id"]
#: The same above a cross-shard join: on the SQLite default the catalog knows every text
#: column's collation (1267); in front of MariaDB a column of the default collation is
#: recorded without one, so the coordinator compares with the other column's
#: (docs/refusals.md).
SQLITE_MIXES = ["SELECT x.id, x.g = y.u FROM tcoll x JOIN tcoll y ON x.n = y.id ORDER BY x.id"]


@pytest.fixture
def collated(env: Environment) -> Iterator[Environment]:
    """``env`` with ``tcoll`` on both sides, dropped afterwards."""
    with tables_on_both_sides(env, DDL + ROWS, DROP) as ready:
        yield ready


def test_column_collations_are_coerced_as_mysql(collated: Environment) -> None:
    mixes = MIXES + (SQLITE_MIXES if collated.backend == "sqlite" else [])
    cases = [Case("collation coercion", sql) for sql in STATEMENTS + mixes]
    report = collated.run(cases)
    collated.check(report, "two column collations compared", answered=True)
    assert report.counts["collation coercion"]["same"] == len(cases)
    with collated.connect_oracle() as o:
        assert all(run_statement(o, sql).error == 1267 for sql in mixes)
