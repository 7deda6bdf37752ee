"""Long IN lists on the shard key, against one unsharded MariaDB.

A list of at least ``FOLD_MIN`` values is folded into one slot and, compared with the
shard key of the table read, cut per shard (``sharding/exec/key_lists.py``): each shard
is sent only its own values. The answers must be the whole list's: IN, NOT IN, OR,
NULL in the list, text keys under their collation (``counters.name`` general_ci,
``tags.name`` utf8mb4_bin with PAD SPACE), an ENUM key, strings against an integer key
(not cut), writes, prepared statements, and a subquery's result of that many values.
"""

from __future__ import annotations

import pytest

from sharding.sql.inlist import FOLD_MIN
from tests.fidelity.harness import TABLES, Case, Environment, Report

pytestmark = pytest.mark.mysql

N = FOLD_MIN + 44


def _ints(start: int, step: int, n: int = N) -> str:
    return ", ".join(str(start + i * step) for i in range(n))


def _texts(fmt: str, n: int = N) -> str:
    return ", ".join("'" + fmt.format(i) + "'" for i in range(n))


READS = [
    Case("in", f"SELECT id, qty FROM orders WHERE id IN ({_ints(0, 3)}) ORDER BY id"),
    Case("in", f"SELECT COUNT(*), SUM(amount) FROM orders WHERE id IN ({_ints(1, 2)})"),
    Case("in", f"SELECT id FROM orders WHERE id IN ({_ints(200, 1)}) ORDER BY id DESC LIMIT 7"),
    Case("in", f"SELECT COUNT(*) FROM orders WHERE id NOT IN ({_ints(0, 5)})"),
    Case("in", f"SELECT COUNT(*) FROM orders WHERE id IN ({_ints(0, 5)}, NULL)"),
    Case("in", f"SELECT COUNT(*) FROM orders WHERE id NOT IN ({_ints(0, 5)}, NULL)"),
    Case("in", f"SELECT id FROM orders WHERE id IN ({_ints(0, 16)}) OR qty = 3 ORDER BY id"),
    Case("in", f"SELECT id FROM orders WHERE id IN ({_ints(0, 7)}) AND qty > 4 ORDER BY id"),
    Case("in", f"SELECT id FROM customers WHERE NOT (id IN ({_ints(0, 2)})) ORDER BY id"),
    Case("in", f"SELECT status, COUNT(*) FROM orders WHERE id IN ({_ints(0, 2)}) GROUP BY status"),
    Case("text key", f"SELECT name FROM counters WHERE name IN ({_texts('K{}')}) ORDER BY name"),
    Case("text key", f"SELECT name FROM tags WHERE name IN ({_texts('a{} ')}, 'abc ') ORDER BY n"),
    Case("other kinds", f"SELECT COUNT(*) FROM orders WHERE id IN ({_texts('{}')})"),
    # A subquery's result of 256+ values is folded (and cut on the key) the same way.
    Case(
        "subquery",
        "SELECT COUNT(*), SUM(amount) FROM orders WHERE id IN "
        "(SELECT id FROM orders UNION ALL SELECT id + 1000 FROM orders)",
    ),
    Case(
        "subquery",
        "SELECT id FROM customers WHERE id NOT IN "
        "(SELECT customer_id + 1 FROM orders UNION ALL SELECT id + 500 FROM orders) ORDER BY id",
    ),
    Case(
        "subquery",
        "SELECT name FROM counters WHERE name IN "
        "(SELECT CONCAT('k', id) FROM orders UNION ALL SELECT UPPER(name) FROM counters) "
        "ORDER BY name",
    ),
    Case(
        "subquery",
        "SELECT id, id IN (SELECT id * 2 FROM orders UNION ALL SELECT id + 999 FROM orders) h "
        "FROM orders WHERE id < 9 ORDER BY id",
    ),
    Case("other kinds", f"SELECT COUNT(*) FROM sizes WHERE size IN ({_texts('x{}')}, 'small')"),
]

WRITES = [
    Case(
        "writes",
        f"UPDATE orders SET qty = qty + 1 WHERE id IN ({_ints(0, 4)})",
        write=True,
        tables=tuple(t.name for t in TABLES),
    ),
    Case(
        "writes",
        f"DELETE FROM order_items WHERE order_id IN ({_ints(1, 3)})",
        write=True,
        tables=tuple(t.name for t in TABLES),
    ),
]

PREPARED = [
    (
        "SELECT id FROM orders WHERE id IN (" + ", ".join("?" * N) + ") ORDER BY id",
        tuple(range(0, 3 * N, 3)),
    ),
]


def test_long_in_lists_answer_as_the_whole_list(env: Environment) -> None:
    report = env.run(READS + WRITES)
    print(report.table(f"long IN lists on {env.shards} shards, chunk {env.chunk}"))
    assert not report.wrong, "\n".join(report.wrong)
    if env.answers_all:
        assert not report.clear, "\n".join(report.clear)
        reads = sum(report.counts[k]["same"] for k in ("in", "text key", "other kinds", "subquery"))
        assert reads == len(READS)


def test_prepared_long_in_lists(env: Environment) -> None:
    report = env.run_params("prepared", PREPARED, Report())
    assert not report.wrong, "\n".join(report.wrong)
    assert report.counts["prepared"]["same"] == len(PREPARED)
