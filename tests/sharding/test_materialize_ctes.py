"""A subquery used as a value runs alone with the CTEs it names
(:func:`sharding.sql.materialize.runnable_select`), and the CTEs it consumed leave the
outer statement (:func:`sharding.sql.materialize.drop_materialized_ctes`)."""

from __future__ import annotations

from sqlglot import exp

from sharding.sql.derived_columns import cte_map
from sharding.sql.materialize import drop_materialized_ctes, runnable_select, subquery_uses
from sharding.sql.parse import parse_one


def _sql(node: exp.Expr) -> str:
    return node.sql(dialect="mysql")


def test_the_subquery_takes_the_ctes_it_names_through_others() -> None:
    tree = parse_one(
        "WITH a AS (SELECT k FROM t), b AS (SELECT k FROM a), c AS (SELECT 1 AS k) "
        "SELECT id FROM u WHERE id IN (SELECT k FROM b)"
    )
    (use,) = subquery_uses(tree)
    inner = runnable_select(use)
    assert list(cte_map(inner)) == ["a", "b"]  # written order; c is not named
    assert _sql(inner).endswith("SELECT k FROM b")
    assert _sql(use.select) == "SELECT k FROM b"  # the tree itself is untouched


def test_an_own_cte_shadows_the_outer_one() -> None:
    tree = parse_one(
        "WITH a AS (SELECT k FROM t) SELECT id FROM u WHERE id IN "
        "(WITH a AS (SELECT 2 AS k) SELECT k FROM a)"
    )
    (use,) = subquery_uses(tree)
    assert list(cte_map(runnable_select(use))) == ["a"]
    assert "FROM t" not in _sql(runnable_select(use))


def test_a_subquery_without_ctes_is_a_plain_copy() -> None:
    tree = parse_one("SELECT id FROM u WHERE id IN (SELECT k FROM t)")
    (use,) = subquery_uses(tree)
    inner = runnable_select(use)
    assert inner is not use.select and _sql(inner) == "SELECT k FROM t"


def test_consumed_ctes_leave_the_statement_unused_ones_stay() -> None:
    tree = parse_one(
        "WITH a AS (SELECT k FROM t), b AS (SELECT k FROM a), z AS (SELECT * FROM gone) "
        "SELECT id FROM u WHERE id IN (1, 2)"
    )
    drop_materialized_ctes(tree, {"a", "b"})
    # z was never run: MariaDB still resolves its tables, so it stays for the planner.
    assert list(cte_map(tree)) == ["z"]
    drop_materialized_ctes(tree, {"z"})
    assert tree.args.get("with_") is None and tree.args.get("with") is None


def test_a_cte_still_named_by_the_statement_stays() -> None:
    tree = parse_one("WITH a AS (SELECT k FROM t) SELECT COUNT(*) FROM a WHERE k IN (1, 2)")
    drop_materialized_ctes(tree, {"a"})
    assert list(cte_map(tree)) == ["a"]
