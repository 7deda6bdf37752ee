"""``LAG/LEAD(x, n, default)`` is MariaDB's syntax error (1064), on every route.

MariaDB's grammar has no third argument (MySQL 8's has). The SQLite default used to
answer such a statement and a plan over several MariaDB shards refused it with 1235;
the fidelity window classes compare both against MariaDB, this pins the parser's part
(the message points where MariaDB's parser stops) without a server.
"""

from __future__ import annotations

import pytest

from sharding.errors import ParseError
from sharding.sql.parse import parse_one


@pytest.mark.parametrize(
    ("sql", "near"),
    [
        (
            "SELECT LAG(sku, 1, 'none') OVER (ORDER BY line) p FROM t",
            " 'none') OVER (ORDER BY line) p FROM t",
        ),
        ("SELECT lead ( f(a, b), 2, -1 ) OVER () FROM t", " -1 ) OVER () FROM t"),
        ("SELECT 'LAG(a, 1, 2)', LAG(a, 1, 2) OVER () FROM t", " 2) OVER () FROM t"),
    ],
)
def test_third_argument_is_a_syntax_error(sql: str, near: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_one(sql)
    assert info.value.code == 1064
    assert f"near '{near}' at line 1" in str(info.value)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT LAG(a) OVER (ORDER BY b), LEAD(a, 2) OVER (ORDER BY b) FROM t",
        "SELECT 'LAG(a, 1, 2)' FROM t",
        "SELECT lagged, leading(1, 2, 3) FROM t",
    ],
)
def test_one_or_two_arguments_parse(sql: str) -> None:
    assert parse_one(sql) is not None
