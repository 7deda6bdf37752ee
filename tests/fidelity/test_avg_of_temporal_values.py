"""``AVG``/``SUM`` of DATETIME, DATE, TIME and ENUM values merged from several shards,
against one unsharded MariaDB.

MariaDB reads such a value as its number (``20240101100000``, an ENUM its index) and
sums or averages it as a DECIMAL: ``AVG(created)`` is DECIMAL(18,4). The coordinator
typed these averages DOUBLE and sent 20238954935594.57 where MariaDB sends
20238954935594.5714 (``sharding/sql/describe.py``, ``_summed_as_decimal``). Values and
column types are compared.
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment

pytestmark = pytest.mark.mysql

CASES = [
    Case("avg temporal", "SELECT AVG(created), SUM(created), COUNT(created) FROM orders"),
    Case("avg temporal", "SELECT AVG(size), SUM(size) FROM orders"),
    Case(
        "avg temporal",
        "SELECT customer_id % 4 g, AVG(created), AVG(size) FROM orders GROUP BY g ORDER BY g",
    ),
    Case(
        "avg temporal",
        "SELECT status, AVG(created) a FROM orders GROUP BY status HAVING a > 0 ORDER BY status",
    ),
    Case("avg temporal", "SELECT AVG(created) FROM orders WHERE id = 7"),
    # A temporal *expression* summed (the SQLite default read it as the year until
    # 2026-12-06: tests/fidelity/test_temporal_numbers.py).
    Case("avg temporal", "SELECT AVG(DATE(created)), SUM(DATE(created)) FROM orders"),
]


def test_avg_and_sum_of_temporal_and_enum_values(env: Environment) -> None:
    cases = CASES
    report = env.run(cases)
    print(report.table(f"AVG of temporal values on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    assert sum(c["same"] for c in report.counts.values()) == len(cases)
