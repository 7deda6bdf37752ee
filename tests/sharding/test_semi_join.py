"""The pure half of a semi/anti join past ``cluster.subquery_rows`` (sql/semi_join.py):
which statements qualify, and the statements it writes."""

from __future__ import annotations

import pytest
from sqlglot import exp

from sharding.backend.base import ColumnType
from sharding.sql.parse import parse_one
from sharding.sql.semi_join import (
    empty_probe,
    join_statement,
    key_refusal,
    null_probe,
    semi_join,
    with_condition,
)


def _select(sql: str) -> exp.Select:
    tree = parse_one(sql)
    assert isinstance(tree, exp.Select)
    return tree


def _joined(sql: str) -> str:
    tree = _select(sql)
    found = semi_join(tree)
    assert found is not None, sql
    join_statement(tree, found)
    return tree.sql(dialect="mysql")


def test_semi_join_form() -> None:
    assert _joined(
        "SELECT g, COUNT(*) FROM t WHERE a > 1 AND id IN (SELECT k FROM u WHERE v = 2) GROUP BY g"
    ) == (
        "SELECT g, COUNT(*) FROM t JOIN (SELECT DISTINCT k AS _sg_semi_k FROM u WHERE v = 2) "
        "AS _sg_semi ON t.id = _sg_semi._sg_semi_k WHERE a > 1 GROUP BY g"
    )
    # SELECT * keeps the table's columns; an alias qualifies the key.
    assert _joined("SELECT * FROM t AS x WHERE (x.id IN (SELECT k AS id FROM u))") == (
        "SELECT x.* FROM t AS x JOIN (SELECT DISTINCT k AS _sg_semi_k FROM u) AS _sg_semi "
        "ON x.id = _sg_semi._sg_semi_k"
    )
    # A UNION ALL of values becomes a UNION (DISTINCT): only the set matters.
    assert "UNION SELECT" in _joined(
        "SELECT id FROM t WHERE id IN (SELECT k FROM u UNION ALL SELECT k FROM w)"
    )


def test_anti_join_forms() -> None:
    assert _joined("SELECT id FROM t WHERE id NOT IN (SELECT k FROM u)") == (
        "SELECT id FROM t LEFT JOIN (SELECT DISTINCT k AS _sg_semi_k FROM u) AS _sg_semi "
        "ON t.id = _sg_semi._sg_semi_k WHERE _sg_semi._sg_semi_k IS NULL AND NOT t.id IS NULL"
    )
    # NOT EXISTS, as decorrelated: a NULL x qualifies (no IS NOT NULL condition).
    sql = "SELECT id FROM t WHERE NOT (t.x IS NOT NULL AND t.x IN (SELECT k FROM u))"
    found = semi_join(parse_one(sql))
    assert found is not None and found.kind == "not_exists"
    assert _joined(sql).endswith("WHERE _sg_semi._sg_semi_k IS NULL")
    tree = _select("SELECT id FROM t WHERE a = 1 AND id NOT IN (SELECT k FROM u)")
    found = semi_join(tree)
    assert found is not None
    with_condition(tree, found, False)
    assert tree.sql(dialect="mysql") == "SELECT id FROM t WHERE a = 1 AND FALSE"
    tree = _select("SELECT id FROM t WHERE id NOT IN (SELECT k FROM u)")
    found = semi_join(tree)
    assert found is not None
    with_condition(tree, found, True)
    assert tree.sql(dialect="mysql") == "SELECT id FROM t"


def test_probes() -> None:
    found = semi_join(
        parse_one("SELECT id FROM t WHERE id NOT IN (SELECT MAX(k) FROM u GROUP BY g)")
    )
    assert found is not None
    assert null_probe(found).sql(dialect="mysql") == (
        "SELECT 1 FROM (SELECT MAX(k) AS _sg_semi_k FROM u GROUP BY g) AS _sg_semi "
        "WHERE _sg_semi._sg_semi_k IS NULL LIMIT 1"
    )
    assert empty_probe(found).sql(dialect="mysql") == (
        "SELECT 1 FROM (SELECT MAX(k) AS _sg_semi_k FROM u GROUP BY g) AS _sg_semi LIMIT 1"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM t WHERE id IN (SELECT k FROM u) OR a = 1",
        "SELECT id FROM t JOIN w ON w.id = t.id WHERE t.id IN (SELECT k FROM u)",
        "SELECT id FROM t WHERE id + 1 IN (SELECT k FROM u)",
        "SELECT id FROM t WHERE (id, a) IN (SELECT k, v FROM u)",
        "SELECT id FROM t WHERE id IN (SELECT k FROM u) AND a IN (SELECT v FROM w)",
        "SELECT id, (SELECT 1 FROM w) FROM t WHERE id IN (SELECT k FROM u)",
        "SELECT id FROM t WHERE id IN (SELECT * FROM u)",
        "SELECT id FROM t WHERE id IN (SELECT MAX(a) AS m FROM u GROUP BY k HAVING m > 5)",
        "WITH w AS (SELECT k FROM u) SELECT id FROM t WHERE id IN (SELECT k FROM w)",
        "SELECT id FROM (SELECT id FROM t) d WHERE id IN (SELECT k FROM u)",
        "SELECT id FROM t WHERE id IN (SELECT k FROM u) FOR UPDATE",
        "SELECT id FROM t HAVING id IN (SELECT k FROM u)",
        "SELECT id FROM t WHERE NOT (a = 1 AND id IN (SELECT k FROM u))",
    ],
)
def test_other_statements_do_not_qualify(sql: str) -> None:
    assert semi_join(parse_one(sql)) is None


def test_key_types() -> None:
    datetime, date, timestamp, integer, double, floating = (
        ColumnType(t) for t in (12, 10, 7, 3, 5, 4)
    )
    assert key_refusal(integer, integer) is None
    assert key_refusal(double, double) is None
    assert key_refusal(datetime, timestamp) is None
    assert key_refusal(date, date) is None
    assert key_refusal(datetime, date) is not None
    assert key_refusal(datetime, integer) is not None
    assert key_refusal(floating, floating) is not None
    assert key_refusal(None, None) is not None
