"""Warnings of writes, against one unsharded MariaDB.

A write's warnings (1265 "Data truncated ... at row n" when a DECIMAL is stored
rounded, 1062 of ``INSERT IGNORE``'s duplicates, ...) are raised by the shard
statements: shardgate reads a statement's OK packet warning count and, only when it
is not zero, the shard's ``SHOW WARNINGS`` (a packet of several statements of one
data source starts with a savepoint, so an earlier statement's texts can be read
again: ``sharding/backend/mysql_drivers.py``). ``SHOW WARNINGS``, ``SHOW COUNT(*)
WARNINGS``, ``@@warning_count`` and the OK packet's count answer as MariaDB's; "at
row n" of an INSERT split over shards is the client's row (``session_writes.py``).

Listings are compared in order, except for an UPDATE whose rows several shards hold
and whose texts differ beyond their row numbers: MariaDB numbers them in its scan
order (docs/refusals.md), so there the texts are compared without the numbers, as
multisets.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest

from tests.fidelity.harness import Environment

pytestmark = pytest.mark.mysql

EXACT, UNNUMBERED = "exact", "unnumbered"
_COLUMNS = "(id, customer_id, amount, qty, status, size, created)"


def _row(id_: int, amount: str, customer: int = 1) -> str:
    return f"({id_}, {customer}, {amount}, 1, 'new', 'large', '2024-01-01')"


@dataclass(frozen=True)
class Case:
    """``setup`` statements, then the write whose warnings are compared (inside
    BEGIN … ROLLBACK, so the data stays as the harness loaded it)."""

    write: str
    listing: str = EXACT
    setup: tuple[str, ...] = ()


CASES = [
    # The two statements: two shards, each numbering its own row 1.
    Case(
        f"INSERT INTO orders {_COLUMNS} VALUES {_row(100001, '1.234')}, {_row(100002, '2.005', 2)}"
    ),
    Case("UPDATE orders SET amount = amount + 0.001 WHERE id IN (1, 2)"),
    # Rows of one statement over several shards, some warning: the client's numbers.
    Case(
        f"INSERT INTO orders {_COLUMNS} VALUES "
        + ", ".join(
            _row(100010 + i, f"{i}.{'125' if i in (2, 4, 5, 9) else '12'}") for i in range(1, 11)
        )
    ),
    # One shard.
    Case(f"INSERT INTO orders {_COLUMNS} VALUES {_row(100003, '9.999')}"),
    Case("UPDATE orders SET amount = amount + 0.001 WHERE id = 3"),
    Case("DELETE FROM orders WHERE id = 4 AND amount = 'x'"),
    # No warning: nothing more to read, count 0 (and the previous statement's cleared).
    Case(
        f"INSERT INTO orders {_COLUMNS} VALUES {_row(100004, '1.5')}, {_row(100005, '2')}",
        setup=("SELECT 1/0",),
    ),
    # REPLACE, upsert, INSERT IGNORE's duplicates (texts without a row number).
    Case(f"REPLACE INTO orders {_COLUMNS} VALUES {_row(1, '1.111')}, {_row(100006, '2.222')}"),
    Case(
        f"INSERT INTO orders {_COLUMNS} VALUES {_row(1, '1')}, {_row(2, '2')} "
        "ON DUPLICATE KEY UPDATE amount = amount + 0.005"
    ),
    Case(f"INSERT IGNORE INTO orders {_COLUMNS} VALUES {_row(1, '1')}, {_row(100007, '3.333')}"),
    Case(f"INSERT IGNORE INTO orders {_COLUMNS} VALUES {_row(100008, '3.333')}, {_row(2, '1')}"),
    # INSERT … SELECT: the SELECT's row numbers, over the batches.
    Case(
        f"INSERT INTO orders {_COLUMNS} SELECT id + 200000, customer_id, amount + 0.001, "
        "qty, status, size, created FROM orders WHERE id <= 12 ORDER BY id"
    ),
    # A broadcast table: one copy's warnings.
    Case("INSERT IGNORE INTO regions VALUES ('zz', 'zed', '12x'), ('zy', 'zey', '7')"),
    # Several shards' rows with different texts: MariaDB's scan order numbers them.
    Case("UPDATE orders SET amount = amount + 0.001 WHERE id <= 40", UNNUMBERED),
    # max_error_count cuts the listing; the count counts every warning.
    Case(
        "UPDATE orders SET amount = amount + 0.001 WHERE id IN (1, 2, 3)",
        setup=("SET max_error_count = 2",),
    ),
    # sql_notes = 0: notes neither listed nor counted.
    Case(
        f"INSERT INTO orders {_COLUMNS} VALUES {_row(100011, '1.234')}, {_row(100012, '2.005', 2)}",
        setup=("SET sql_notes = 0",),
    ),
]

_AT_ROW = re.compile(r" at row \d+$")


def _observe(conn: pymysql.connections.Connection, case: Case) -> dict[str, Any]:
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        try:
            for sql in case.setup:
                cur.execute(sql)
            cur.execute(case.write)
            ok = conn._result.warning_count if conn._result is not None else None
            cur.execute("SHOW WARNINGS")
            listing = [tuple(r) for r in cur.fetchall()]
            cur.execute("SHOW COUNT(*) WARNINGS")
            count = cur.fetchall()
            cur.execute("SELECT @@warning_count")
            warning_count = cur.fetchall()
        finally:
            cur.execute("ROLLBACK")
            cur.execute("SET max_error_count = DEFAULT, sql_notes = DEFAULT")
    if case.listing == UNNUMBERED:
        listing = sorted(
            Counter((lv, code, _AT_ROW.sub("", msg)) for lv, code, msg in listing).items()
        )
    return {"ok": ok, "listing": listing, "count": count, "@@warning_count": warning_count}


@pytest.mark.parametrize("case", CASES, ids=[c.write[:60] for c in CASES])
def test_write_warnings(env: Environment, case: Case) -> None:
    with env.connect_oracle() as oracle, env.connect_sharded() as sharded:
        expected = _observe(oracle, case)
        got = _observe(sharded, case)
    assert got == expected
    if case.listing == EXACT and "1.234" in case.write and not case.setup:
        assert expected["listing"], "the case must raise warnings on MariaDB"
