"""The last wrong answers of the embedded SQLite default (issue 15), each now MariaDB's
answer — value and Python type — or a clear 1235, statement by statement on 16 shards
with two-row chunks (the harness of ``test_sqlite_mysql_writes2``):

1. a DECIMAL or DOUBLE written as text by an INSERT/UPDATE (``CONCAT(1.50, 'x')``,
   ``1.50`` into a VARCHAR): 1235, never SQLite's ``'1.5x'``;
2. a DOUBLE past its range (``1e308 * 10``): MySQL's error 1690, never ``inf``;
3. ``s + 0`` of a string column is a DOUBLE; ``LAST_DAY``/``DATE_ADD`` of a DATE or
   DATETIME column a date/datetime;
4. a DOUBLE computed from ``PI()`` shows MySQL's decimals (``PI() * 2`` is 6.283185);
5. bit operators on MySQL's unsigned 64 bits (``~q``, ``a ^ b``, ``-8 >> 1``);
6. ``GROUP_CONCAT(… ORDER BY …)`` on one SQLite shard: 1235, never a syntax error;
7. ``CAST(… AS UNSIGNED)`` beyond BIGINT in a WHERE: 1235 in a read (also after the same
   select list was planned without it) and in a write.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import mariadb_reference
from tests.sharding.test_sqlite_mysql_writes2 import REFUSED, R, W, _run

pytestmark = pytest.mark.mysql

PREFIX = "sggaps2_"

GAPS2: list[tuple[str, str]] = [
    (
        W,
        "CREATE TABLE g (id INT PRIMARY KEY, price DECIMAL(8,2), q INT, d DOUBLE, "
        "dt DATE, ts DATETIME, s VARCHAR(20), a INT, b INT)",
    ),
    (
        W,
        "INSERT INTO g VALUES (1, 10.25, 3, 1.5, '2024-01-15', '2024-01-15 10:00:00', 'a', 5, 3), "
        "(2, 0.10, 1, 2.5, '2024-02-29', '2024-02-29 23:30:00', '-3', -1, 7), "
        "(3, 99.99, 7, 0.1, '2023-12-31', '2023-12-31 00:00:01', '1.5e2', 12, 10), "
        "(4, NULL, 2, NULL, NULL, NULL, NULL, NULL, NULL), "
        "(5, 1.05, 5, 3, '2024-07-04', '2024-07-04 12:00:00', '12abc', 0, 0)",
    ),
    (W, "CREATE TABLE w (id INT PRIMARY KEY, s VARCHAR(20), n DECIMAL(6,2))"),
    # 1. a DECIMAL or DOUBLE written as text: refused, nothing stored
    (REFUSED, "INSERT INTO w VALUES (1, CONCAT(1.50, 'x'), 1)"),
    (REFUSED, "INSERT INTO w VALUES (2, 1.50, 1)"),
    (REFUSED, "INSERT INTO w VALUES (3, 0.10 + 1, 1), (4, 'a', 1)"),
    (REFUSED, "INSERT INTO w (id, s) VALUES (5, 1e0)"),
    (REFUSED, "INSERT INTO w SELECT 6, 1.50, 1"),
    (W, "INSERT INTO w VALUES (7, '1.50', 1.50), (8, 12, 0.10), (9, CONCAT('a', 'b'), 2.5)"),
    (REFUSED, "UPDATE w SET s = 1.50 WHERE id = 7"),
    (REFUSED, "UPDATE w SET s = CONCAT(n) WHERE id = 7"),
    (W, "UPDATE w SET n = n / 2, s = 'x.5' WHERE id = 8"),
    (R, "SELECT id, s, n FROM w ORDER BY id"),
    # 2. a DOUBLE past its range: 1690 (a negative one that fits is a value)
    (W, "SELECT 1e308 * 10"),
    (W, "SELECT id, d * 1e308 FROM g ORDER BY id"),
    (R, "SELECT id, -d * 1e308 FROM g WHERE id = 1"),
    (W, "SELECT SUM(d) * 1e308 * 10 FROM g WHERE id = 1"),
    # 3. a string in arithmetic is a DOUBLE; LAST_DAY/DATE_ADD of dates are dates
    (R, "SELECT id, s + 0, s * 2, -s, s - q, price + s, '3' + 1, s + 0 + 1 FROM g ORDER BY id"),
    (
        R,
        "SELECT id, LAST_DAY(dt), DATE_ADD(dt, INTERVAL 1 DAY), DATE_SUB(dt, INTERVAL 1 MONTH), "
        "dt + INTERVAL 1 DAY, DATE_ADD(dt, INTERVAL 2 HOUR), LAST_DAY(ts), "
        "DATE_ADD(ts, INTERVAL 1 DAY), LAST_DAY(s), DATE_ADD('2024-01-15', INTERVAL 1 DAY) "
        "FROM g ORDER BY id",
    ),
    # 4. PI(): MySQL shows 6 decimals, + 4 after a division, all digits with a DOUBLE
    (
        R,
        "SELECT PI() * 2, PI(), PI() + 0, PI() * 1.5, PI() * 1e0, -PI(), ABS(PI()), PI() / 2, "
        "PI() + 1, SIN(PI() / 2), ROUND(PI(), 3), ROUND(PI())",
    ),
    (R, "SELECT id, PI() * q, PI() * price, PI() * d, q / PI() FROM g ORDER BY id"),
    (R, "SELECT id FROM g WHERE PI() * q > 10 ORDER BY id"),
    (REFUSED, "SELECT CONCAT(PI())"),
    (REFUSED, "SELECT id, MAX(PI() * q) FROM g GROUP BY id"),
    # 5. bit operators: unsigned 64 bits
    (
        R,
        "SELECT id, ~q, a ^ b, a & b, a | b, a << 62, -8 >> 1, (a & b) | ~q, ~s, ~price, "
        "~d, q ^ NULL FROM g ORDER BY id",
    ),
    (
        R,
        "SELECT ~1.5, ~2.5, ~'abc', ~'12abc', ~1.5e0, ~2.5e0, ~'1.5e2', 5 ^ 2.5, -1 & 7, "
        "-1 | 0, 1 << 63, -8 >> 1, ~NULL, 3 ^ NULL, 1 << 64, ~0",
    ),
    (R, "SELECT id, ~q FROM g ORDER BY ~q"),
    (R, "SELECT id, ~q AS x FROM g ORDER BY x DESC LIMIT 3"),
    (R, "SELECT id FROM g WHERE q ^ 1 = 2 OR q & 4 ORDER BY id"),
    (REFUSED, "SELECT id FROM g WHERE a ^ b = 6 ORDER BY id"),
    (R, "SELECT id FROM g WHERE q & 1 ORDER BY id"),
    (REFUSED, "SELECT id FROM g WHERE ~q > 18446744073709551610 ORDER BY id"),
    (W, "UPDATE g SET a = q & 6 WHERE id = 1"),
    (REFUSED, "UPDATE g SET a = 1 WHERE ~q = 18446744073709551612"),
    (R, "SELECT id, a FROM g ORDER BY id"),
    # 6. GROUP_CONCAT(… ORDER BY …) routed to one shard: answered by the merge (SQLite
    # before 3.44 has no ordered aggregate), as MariaDB
    (R, "SELECT GROUP_CONCAT(s ORDER BY id DESC) FROM g WHERE id = 1"),
    (R, "SELECT GROUP_CONCAT(s ORDER BY id DESC SEPARATOR '|') FROM g WHERE id IN (1, 2)"),
    (R, "SELECT GROUP_CONCAT(s) FROM g WHERE id = 1"),
    # 7. CAST(… AS UNSIGNED) beyond BIGINT inside a WHERE: the same select list planned
    # first without it must not let it through
    (R, "SELECT CAST(-q AS UNSIGNED) FROM g WHERE id = 1"),
    (
        REFUSED,
        "SELECT CAST(-q AS UNSIGNED) FROM g WHERE CAST(-q AS UNSIGNED) = 18446744073709551613",
    ),
    (REFUSED, "SELECT id FROM g WHERE CAST(-q AS UNSIGNED) > 5"),
    (REFUSED, "UPDATE g SET b = 1 WHERE CAST(-q AS UNSIGNED) = 18446744073709551613"),
    (REFUSED, "DELETE FROM g WHERE CAST(-q AS UNSIGNED) = 18446744073709551613"),
    (R, "SELECT id, b FROM g ORDER BY id"),
    (R, "SELECT id, CAST(-q AS UNSIGNED) FROM g ORDER BY 2"),
]


@pytest.fixture
def reference() -> Iterator[Any]:
    with mariadb_reference(PREFIX) as conn:
        yield conn


async def test_last_gaps2_match_mariadb_or_refuse(reference: Any, tmp_path: Path) -> None:
    await _run(GAPS2, reference, tmp_path)


def test_plain_bulk_insert_is_checked_without_a_parse() -> None:
    """The common bulk INSERT (plain values) is checked for a fractional number written
    into a text column by a text scan; anything else falls back to the parse."""
    from sharding.backend.sqlite_decimal_results import _simple_insert

    declared = {"id": "INT", "name": "VARCHAR(10)", "price": "DECIMAL_S2"}
    head = 'INSERT INTO "db_0001"."t"'
    cols = ' ("id", "name", "price") VALUES '
    assert (
        _simple_insert(head + cols + "(1, 'a,b', 1.50), (2, 'it''s', 2)", len(head), declared) == ""
    )
    assert _simple_insert(head + cols + "(1, 'a', 1), (2, 1.50, 2)", len(head), declared) == "name"
    assert _simple_insert(head + cols + "(1, 2e0, 1)", len(head), declared) == "name"
    assert _simple_insert(head + cols + "(1, UPPER('a'), 1.5)", len(head), declared) is None
    assert _simple_insert(head + cols + "(1, 'a')", len(head), declared) is None
