"""``BIT_AND``/``BIT_OR``/``BIT_XOR`` on the SQLite default (sharding/backend/
sqlite_bit_aggregates.py) against MariaDB: MySQL's unsigned 64-bit results (beyond
BIGINT too), NULLs ignored, the identity of no rows, negative values as their two's
complement, DOUBLE/DECIMAL rounded, strings by their integer prefix (with MySQL's 1292
warnings), grouped or not, on one shard and merged from four; rows and column
definitions (BIGINT(21) UNSIGNED NOT NULL). The forms MySQL converts in ways a SQLite
value cannot tell apart are 1235."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sharding.errors import ShardgateError
from tests.sharding.mariadb_reference import run_twin, same_rows, same_typed

pytestmark = pytest.mark.mysql

SETUP = [
    "CREATE TABLE t (id INT PRIMARY KEY, g INT, a INT, b BIGINT, u BIGINT UNSIGNED, "
    "d DOUBLE, m DECIMAL(10,2), s VARCHAR(20))",
    "INSERT INTO t VALUES "
    "(1, 1, 5, 9223372036854775807, 9223372036854775807, 2.4, -1.25, '12abc'), "
    "(2, 1, -3, -4611686018427387904, 4611686018427387904, -2.75, 3.49, 'x'), "
    "(3, 2, NULL, NULL, NULL, NULL, NULL, NULL), "
    "(4, 2, 7, -1, 1, 1.6, 2.75, ' 7.6'), "
    "(5, 3, 12, -9223372036854775808, 3, 0.4, 0.25, '-1'), "
    "(6, 3, -2147483648, 6, 6, 1e3, -7.00, '-9223372036854775808'), "
    "(7, 4, NULL, NULL, NULL, NULL, NULL, NULL), "
    "(8, 1, 2147483647, -12, 12, -0.4, 9.99, '  42')",
]

ALL = "BIT_AND({0}), BIT_OR({0}), BIT_XOR({0})"

TYPED = [
    # several shards, no GROUP BY key
    f"SELECT {ALL.format('a')} FROM t",
    f"SELECT {ALL.format('u')} FROM t",
    f"SELECT {ALL.format('b')} FROM t",
    f"SELECT {ALL.format('-a')} FROM t",
    f"SELECT {ALL.format('d')} FROM t",
    f"SELECT {ALL.format('m')} FROM t",
    # no rows, only NULLs
    f"SELECT {ALL.format('a')} FROM t WHERE id > 100",
    f"SELECT {ALL.format('a')} FROM t WHERE a IS NULL",
    f"SELECT {ALL.format('NULL')} FROM t",
    # one shard
    f"SELECT {ALL.format('a')} FROM t WHERE id = 2",
    f"SELECT {ALL.format('u')} FROM t WHERE id = 1",
    f"SELECT {ALL.format('b')} FROM t WHERE id = 5",
    f"SELECT {ALL.format('a')} FROM t WHERE id = 3",
    f"SELECT {ALL.format('a')} FROM t WHERE id = 100",
    f"SELECT id, {ALL.format('a')} FROM t WHERE id = 6 GROUP BY id",
    # GROUP BY (several shards), ordered by the key and by a result
    f"SELECT g, {ALL.format('a')} FROM t GROUP BY g ORDER BY g",
    f"SELECT g, {ALL.format('u')}, COUNT(*) FROM t GROUP BY g ORDER BY g",
    f"SELECT g, {ALL.format('b')} FROM t GROUP BY g ORDER BY g",
    "SELECT g, BIT_OR(a) b FROM t GROUP BY g ORDER BY b, g",
    f"SELECT id, {ALL.format('d')}, {ALL.format('m')} FROM t GROUP BY id ORDER BY id",
    # bit operators inside and around
    "SELECT BIT_OR(a & 6), BIT_XOR(a | 1), BIT_AND(~a) FROM t",
    "SELECT g, BIT_AND(a > 0) FROM t GROUP BY g ORDER BY g",
]

ROWS = [
    # strings by their integer prefix (1292 warnings)
    f"SELECT {ALL.format('s')} FROM t",
    f"SELECT id, {ALL.format('s')} FROM t GROUP BY id ORDER BY id",
    f"SELECT {ALL.format('s')} FROM t WHERE id = 1",
    "SELECT g, BIT_OR(a) FROM t GROUP BY g HAVING BIT_OR(a) < 100 ORDER BY g",
]

#: (statement, what the 1235 names). A DOUBLE rounds a .5 by rint, a DECIMAL away from
#: zero: a REAL cannot tell which; MariaDB clamps a string beyond BIGINT differently
#: for a column and a literal.
REFUSED = [
    ("SELECT BIT_OR(a / 2) FROM t", "BIT_AND/OR/XOR() of a DOUBLE or DECIMAL ending in .5"),
    ("SELECT BIT_XOR(0.5 + d - d) FROM t WHERE id = 4", "ending in .5"),
    ("SELECT BIT_AND(X'41') FROM t WHERE id = 1", "BIT_AND/OR/XOR() of a binary string"),
    ("SELECT BIT_OR('99999999999999999999') FROM t", "BIT_AND/OR/XOR() of a string (or"),
    ("SELECT BIT_XOR('18446744073709551615') FROM t WHERE id = 1", "beyond BIGINT"),
    ("SELECT BIT_OR(CAST(a AS UNSIGNED)) FROM t", "an UNSIGNED value as its digits"),
    ("SELECT id, BIT_OR(a) OVER (ORDER BY id) FROM t WHERE id = 2", "window function"),
]


def test_bit_aggregates_answer_as_mariadb(tmp_path: Path) -> None:
    async def check(session: Any, cur: Any, name: str) -> None:
        for sql in TYPED:
            await same_typed(session, cur, sql)
        await same_rows(session, cur, ROWS)
        # the strings' warnings: MariaDB's 1292 for each value that is no clean integer
        cur.execute(f"SELECT {ALL.format('s')} FROM t WHERE id = 1")
        cur.execute("SHOW WARNINGS")
        want = [tuple(r) for r in cur.fetchall()]
        await session.execute(f"SELECT {ALL.format('s')} FROM t WHERE id = 1")
        got = [tuple(r) for r in (await session.execute("SHOW WARNINGS")).rows]
        assert got == want and len(want) == 3, (got, want)

    run_twin(tmp_path, "sgbit_agg", SETUP, check)


def test_bit_aggregates_of_ambiguous_values_are_refused(tmp_path: Path) -> None:
    async def check(session: Any, cur: Any, name: str) -> None:
        for sql, what in REFUSED:
            with pytest.raises(ShardgateError) as err:
                await session.execute(sql)
            assert err.value.code == 1235, (sql, err.value)
            assert what in err.value.message, (sql, err.value.message)
            cur.execute(sql)  # MariaDB answers it
            assert cur.fetchall()

    run_twin(tmp_path, "sgbit_agg_refused", SETUP, check)
