"""The harness itself: plain statements agree, and a wrong answer is detected."""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment, Outcome, Report, compare

pytestmark = pytest.mark.mysql

BASIC = [
    Case("basic", "SELECT id, amount, status FROM orders WHERE id = 7"),
    Case("basic", "SELECT COUNT(*), SUM(qty) FROM orders"),
    Case(
        "basic",
        "SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id ORDER BY customer_id",
    ),
    Case("basic", "SELECT id FROM orders ORDER BY created DESC, id LIMIT 5"),
    Case("basic", "SELECT * FROM regions ORDER BY code"),
    Case(
        "basic",
        "UPDATE orders SET qty = 3 WHERE id IN (1, 2, 3)",
        write=True,
        tables=("orders",),
    ),
]


def test_basic_statements_agree(env: Environment) -> None:
    report = env.run(BASIC)
    print(report.table(f"basic on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    assert sum(c["same"] for c in report.counts.values()) >= len(BASIC)


def test_compare_detects_differences() -> None:
    rows = Outcome(columns=("a",), rows=((1,), (2,)))
    assert compare(rows, rows, ordered=True)[0] == "same"
    assert compare(rows, Outcome(columns=("a",), rows=((2,), (1,))), ordered=False)[0] == "same"
    assert compare(rows, Outcome(columns=("a",), rows=((2,), (1,))), ordered=True)[0] == "wrong"
    assert compare(rows, Outcome(columns=("b",), rows=((1,), (2,))), ordered=False)[0] == "wrong"
    from decimal import Decimal

    a = Outcome(columns=("a",), rows=((Decimal("1.50"),),))
    b = Outcome(columns=("a",), rows=((Decimal("1.5"),),))
    assert compare(a, b, ordered=False)[0] == "wrong"
    assert compare(Outcome(error=1054), Outcome(error=1105), ordered=False)[0] == "wrong"
    assert compare(Outcome(error=1054), Outcome(error=1235), ordered=False)[0] == "clear"
    assert compare(Outcome(error=1054), rows, ordered=False)[0] == "wrong"
    assert compare(rows, Outcome(error=1235, message="no"), ordered=False)[0] == "clear"
    assert compare(rows, Outcome(error=1105), ordered=False)[0] == "wrong"
    report = Report()
    report.add("x", "wrong", "detail")
    assert "x" in report.table("t") and report.wrong
