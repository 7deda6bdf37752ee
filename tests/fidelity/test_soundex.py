"""``SOUNDEX`` and ``QUOTE`` against one unsharded MariaDB.

``QUOTE`` on the SQLite default was SQLite's ``quote``: ``'O''Brien'`` where MySQL
writes ``'O\\'Brien'`` (a backslash escapes ``\\``, ``'``, NUL and Control-Z), and SQL
NULL where MySQL gives the word ``NULL`` (``_quote``).

SQLite's built-in ``soundex`` is the classic algorithm: vowels separate equal codes
and the code is four characters. MySQL's skips vowels without separating (``'Banana'``
is ``B500``, SQLite's ``B550``), never cuts (``'Quadratically'``: ``Q36324``) and gives
'' for a text without letters — the SQLite default answered SQLite's (found
2026-12-06; ``sharding/backend/sqlite_mysql.py`` ``_soundex``). Both were announced as
BLOBs of unknown length there (``sharding/sql/function_types.py``). Rows and column
definitions are compared on every variant of the environment.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fidelity.harness import Case, Environment, tables_on_both_sides

pytestmark = pytest.mark.mysql

WORDS = [
    "Banana", "Quadratically", "  hello world", "", "123", "Ashcraft", "Tymczak",
    "Pfister", "Müller", "éclair", "a1b2", "x", "Hhh", "Straße", "Ωmega", None, "O'Brien", "back\\slash",
]  # fmt: skip
DDL = ["CREATE TABLE tsnd (id INT PRIMARY KEY, w VARCHAR(20))"]
ROWS = [
    "INSERT INTO tsnd VALUES "
    + ", ".join(
        f"({i}, {'NULL' if w is None else repr(w).replace(chr(92), chr(92) * 2)})"
        for i, w in enumerate(WORDS, 1)
    )
]
DROP = ["DROP TABLE IF EXISTS tsnd"]

STATEMENTS = [
    "SELECT id, SOUNDEX(w), QUOTE(w) FROM tsnd ORDER BY id",
    "SELECT SOUNDEX(w) k, COUNT(*) FROM tsnd GROUP BY k ORDER BY k",
    "SELECT id FROM tsnd WHERE SOUNDEX(w) = SOUNDEX('Bnn') ORDER BY id",
    "SELECT MAX(SOUNDEX(w)), MIN(QUOTE(w)) FROM tsnd",
    "SELECT id, QUOTE(id * 1.50), QUOTE(NULL), QUOTE(id) FROM tsnd ORDER BY id",
]


@pytest.fixture
def words(env: Environment) -> Iterator[Environment]:
    with tables_on_both_sides(env, DDL + ROWS, DROP) as ready:
        yield ready


def test_soundex_and_quote_are_mysqls(words: Environment) -> None:
    cases = [Case("soundex", sql) for sql in STATEMENTS]
    report = words.run(cases)
    words.check(report, "SOUNDEX and QUOTE", answered=True)
    assert report.counts["soundex"]["same"] == len(cases)


@pytest.mark.parametrize("sql", [STATEMENTS[0], STATEMENTS[-1]])
def test_soundex_column_definitions(words: Environment, sql: str) -> None:
    with words.connect_oracle() as o, words.connect_sharded() as s:
        co, cs = o.cursor(), s.cursor()
        co.execute(sql)
        cs.execute(sql)
        assert [d[:6] for d in cs.description] == [d[:6] for d in co.description]
