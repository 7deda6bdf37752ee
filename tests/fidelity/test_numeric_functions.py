"""Numeric functions and literals that sqlglot reads as something MariaDB computes
differently, against one unsharded MariaDB.

* ``LOG10(x)`` parses to ``LOG(10, x)``; MariaDB computes ``LOG10`` with C's ``log10``
  and ``LOG(10, x)`` as ``ln(x) / ln(10)`` (``LOG10(1000)`` is 3, ``LOG(10, 1000)``
  2.9999999999999996): shard statements keep the function the client wrote
  (``sharding/sql/shard_dialect.py``), on one shard, over many, in WHERE and ORDER BY.
* A number literal past the DOUBLE range (``1e309``) is MariaDB's parse error 1367,
  also where the coordinator answers a constant SELECT itself.
* ``INTERVAL(N, N1, N2, …)``, MariaDB's function, was read as an interval literal whose
  value is the list (an alias after it taken for its unit) and written back as
  ``INTERVAL ((qty, 3, 6)) BAND``: every shard answered 1064 with its physical text. It
  is a call now (``sharding/sql/parse.py``), and ``INTERVAL (1) DAY`` stays an interval;
  the embedded SQLite default computes it as MariaDB (``sqlite_mysql._interval_index``).
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment

pytestmark = pytest.mark.mysql

CASES = [
    Case("log", "SELECT LOG10(1000), LOG2(8), LOG(10, 1000), LOG(2, 8), LN(10), LOG(1000)"),
    Case("log", "SELECT LOG10(qty * 10), LOG2(qty + 1) FROM orders WHERE id = 5"),
    Case("log", "SELECT id, LOG10(ABS(qty) * 10 + 1) FROM orders ORDER BY id LIMIT 12"),
    Case("log", "SELECT id FROM orders WHERE LOG10(ABS(qty) * 100 + 100) = 3 ORDER BY id"),
    Case(
        "log",
        "SELECT id, LOG(10, ABS(qty) + 1) FROM orders ORDER BY LOG10(ABS(qty) + 2), id LIMIT 8",
    ),
    Case(
        "log", "SELECT customer_id, MAX(LOG10(ABS(qty) * 10 + 1)) FROM orders GROUP BY customer_id"
    ),
    Case("literal", "SELECT 1e309"),
    Case("literal", "SELECT -1e309 AS x"),
    Case("literal", "SELECT id FROM orders WHERE amount < 1e309"),
    Case("literal", "SELECT 1.7976931348623157e308, 2.2250738585072014e-308"),
    Case("interval", "SELECT INTERVAL(5, 1, 10), INTERVAL(10, 1, 10, 100), INTERVAL(NULL, 1, 10)"),
    Case("interval", "SELECT id, INTERVAL(qty, 2, 5, 8) AS band FROM orders ORDER BY id LIMIT 12"),
    Case("interval", "SELECT INTERVAL(qty, 3, 6) band, COUNT(*) FROM orders GROUP BY band"),
    Case("interval", "SELECT id FROM orders WHERE INTERVAL(qty, 3, 6) = 1 ORDER BY id"),
    Case("interval", "SELECT id, INTERVAL(qty, 3) + 1 x FROM orders WHERE id = 5"),
    Case("interval", "SELECT id FROM orders ORDER BY INTERVAL(qty, 2, 7), id LIMIT 8"),
    Case("interval", "SELECT INTERVAL(MAX(qty), 1, 5, 10) FROM orders"),
    Case("interval", "SELECT id, INTERVAL (qty, 4) day FROM orders WHERE id < 4 ORDER BY id"),
    Case("interval", "SELECT id, created + INTERVAL (1) DAY FROM orders WHERE id = 3"),
    Case(
        "interval",
        "SELECT INTERVAL(3, NULL, 1), INTERVAL(3, 1, NULL, 5), INTERVAL(5, 10, 1, 2), "
        "INTERVAL(1.5, 1, 1.5, 2), INTERVAL(-1, -5, 0), INTERVAL(7, 1, 2, 3, 4, 5, 6, 7, 8)",
    ),
    Case(
        "interval", "SELECT id, INTERVAL(amount, 10, 100.5, qty) FROM orders ORDER BY id LIMIT 12"
    ),
]


def test_numeric_functions_and_literals(env: Environment) -> None:
    report = env.run(CASES)
    print(report.table(f"numeric functions on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    assert sum(c["same"] for c in report.counts.values()) == len(CASES)
