"""MySQL's JSON operators ``->`` and ``->>`` are MariaDB's syntax error (1064).

MariaDB has neither operator: its lexer reads ``-`` then ``>``/``>>`` and the parser
stops there, wherever they stand. sqlglot reads them as ``JSON_EXTRACT`` /
``JSON_UNQUOTE(JSON_EXTRACT(…))``, so the coordinator used to answer such a statement
(a wrong answer: MariaDB gives none). The same characters inside a string, a quoted
name or a comment are nothing special and the statement is answered.
"""

from __future__ import annotations

import pytest

from sharding.errors import ParseError
from sharding.sql.parse import parse_one
from tests.fidelity.harness import Case, Environment

REFUSED = "arrow: MariaDB's 1064"
ANSWERED = "arrow text: answered"

CASES = [
    Case(REFUSED, "SELECT id, note -> '$.a' FROM orders WHERE id = 3"),
    Case(REFUSED, "SELECT id, note->>'$.a' FROM orders ORDER BY id LIMIT 3"),
    Case(REFUSED, "SELECT id FROM orders WHERE note -> '$.a' = 1"),
    Case(REFUSED, "SELECT id -> 1 FROM orders WHERE id = 3"),
    Case(REFUSED, "UPDATE orders SET qty = note -> '$.q' WHERE id = 3"),
    Case(ANSWERED, "SELECT id, 'a->b', CONCAT(status, '->>') FROM orders WHERE id = 3"),
    Case(ANSWERED, "SELECT id /* a -> b */ FROM orders WHERE id = 3 -- x->y"),
    Case(ANSWERED, "SELECT id, qty - -1, qty-1>2 FROM orders WHERE id < 9 ORDER BY id"),
]


def test_json_arrows_are_syntax_errors(env: Environment) -> None:
    report = env.run(CASES)
    print(report.table(f"JSON arrows on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    assert not report.clear, "\n".join(report.clear)  # both classes exactly MariaDB's
    assert report.counts[REFUSED]["same"] == 5
    assert report.counts[ANSWERED]["same"] == 3


@pytest.mark.parametrize(
    ("sql", "near"),
    [
        ("SELECT a->'$.x' FROM t", ">'$.x' FROM t"),
        ("SELECT a ->> '$.x' FROM t", ">> '$.x' FROM t"),
        ("SELECT 1 /*! -> */ FROM t", "> */ FROM t"),  # an executable comment is SQL
    ],
)
def test_the_error_points_where_mariadb_stops(sql: str, near: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_one(sql)
    assert info.value.code == 1064
    assert f"near '{near}' at line 1" in str(info.value)
