"""The EXISTS → IN rewrite (:mod:`sharding.sql.decorrelate`) on parsed statements."""

from __future__ import annotations

import pytest

from sharding.sql.decorrelate import decorrelate_exists
from sharding.sql.parse import parse_one


def _rewrite(sql: str) -> str | None:
    tree = parse_one(sql)
    return tree.sql(dialect="mysql") if decorrelate_exists(tree) else None


def test_a_where_conjunct_becomes_a_plain_in() -> None:
    assert (
        _rewrite(
            "SELECT id FROM t WHERE a = 1 AND EXISTS (SELECT 1 FROM u WHERE u.k = t.x AND u.q > 2)"
        )
        == "SELECT id FROM t WHERE a = 1 AND t.x IN (SELECT u.k FROM u WHERE u.q > 2)"
    )
    # Either order of the equality, an alias, an unqualified inner column.
    assert _rewrite("SELECT id FROM t AS o WHERE EXISTS (SELECT * FROM u WHERE o.x = k)") == (
        "SELECT id FROM t AS o WHERE o.x IN (SELECT k FROM u)"
    )


def test_elsewhere_the_exact_two_valued_form() -> None:
    assert _rewrite("SELECT id FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.k = t.x)") == (
        "SELECT id FROM t WHERE NOT (NOT t.x IS NULL AND t.x IN "
        "(SELECT u.k FROM u WHERE NOT u.k IS NULL))"
    )
    assert _rewrite("SELECT EXISTS (SELECT 1 FROM u WHERE u.k = t.x) FROM t") == (
        "SELECT (NOT t.x IS NULL AND t.x IN (SELECT u.k FROM u WHERE NOT u.k IS NULL)) FROM t"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k = 3)",  # not correlated
        "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k = t.x AND u.j = t.y)",
        "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k = t.x OR u.q = 1)",
        "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k > t.x)",
        "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u JOIN w ON w.a = u.a WHERE u.k = t.x)",
        "SELECT id FROM t WHERE EXISTS (SELECT k FROM u WHERE u.k = t.x GROUP BY k)",
        "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k = t.x LIMIT 1)",
        "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM t WHERE t.k = t.x)",  # same name inside
        "SELECT id FROM t WHERE x IN (SELECT a FROM w WHERE EXISTS "
        "(SELECT 1 FROM u WHERE u.k = w.a))",  # another block's EXISTS
    ],
)
def test_other_shapes_are_left_alone(sql: str) -> None:
    assert _rewrite(sql) is None
