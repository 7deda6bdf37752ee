"""Shard reads sent as one ``UNION ALL`` must hand every value on unchanged.

The batch layer sends a data source's shard reads as one ``UNION ALL`` statement and
the data-source stage merges that union on the server. MariaDB stores a UNION's rows
in columns of the parts' types, and ``ROUND``/``TRUNCATE``/``FLOOR``/``CEIL`` of a
DOUBLE is typed DOUBLE(17, d): there a value past 17 digits was cut —
``ROUND(f, 1)`` of 1e20 came back as 100000000000000000.0 over several shards, 1e20
from one (found 2026-12-06). Such reads now send each shard's statement alone
(``sharding/sql/union_values.py``, ``ShardRead.no_union``). Compared with one unsharded
MariaDB on every variant: row reads (ordered, with a LIMIT) and partial aggregates.

On the SQLite default a statement that held such a ``ROUND`` of a DOUBLE was rendered
again by sqlglot, which wrote ``TRUNCATE(x, 1)`` as ``TRUNC(x)``, ``MOD`` as ``%``
(``sharding/backend/sqlite_reparse.py``), and ``TRUNCATE`` of a DOUBLE is MariaDB's
floating-point cut (``sg_truncate_double``): the last case.
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment

pytestmark = pytest.mark.mysql

CASES = [
    Case(
        "union cut",
        "SELECT id, ROUND(amount * 1e18, 1), FLOOR(amount * 1e18), CEIL(amount * 1e16), "
        "TRUNCATE(amount * 1e18, 2) FROM orders ORDER BY id",
    ),
    Case(
        "union cut",
        "SELECT id, ROUND(amount * 1e18, 1) r FROM orders ORDER BY r DESC, id LIMIT 5",
    ),
    Case("union cut", "SELECT MAX(CEIL(amount * 1e18)) FROM orders"),
    Case(
        "union cut",
        "SELECT id, TRUNCATE(amount * 1e18, 2), TRUNCATE(amount, 1), MOD(amount, 7), "
        "ROUND(amount * 1e-3, 4) FROM orders ORDER BY id",
    ),
]

#: MariaDB's own GROUP BY stores such a value in its temporary table and cuts it too
#: (``MAX(FLOOR(amount * 1e18))`` is 1e17 for every group, measured): MariaDB shards give
#: the same cut value; the SQLite default the uncut one (docs/refusals.md).
MARIADB_CASES = [
    Case(
        "union cut",
        "SELECT customer_id, MAX(FLOOR(amount * 1e18)), MIN(ROUND(amount * 1e19)) FROM orders "
        "GROUP BY customer_id ORDER BY customer_id",
    ),
]


def test_values_past_17_digits_of_rounded_doubles(env: Environment) -> None:
    cases = CASES + (MARIADB_CASES if env.backend == "mysql" else [])
    report = env.run(cases)
    env.check(report, "rounded DOUBLEs over several shards", answered=True)
    assert report.counts["union cut"]["same"] == len(cases)
