"""Reads on the SQLite default: no shard warnings to report, and nothing breaks.

SQLite evaluates a division by zero or a text compared with a number without any
warning (MariaDB's 1365/1292 are not raised; docs/refusals.md), so a read's result
counts none — where a scatter over every shard and a point query both pass through the
code that collects shard warnings (``sharding/exec/shard_warnings.py``) — and the
session's own diagnostics rules still hold.
"""

from __future__ import annotations

from sharding import Coordinator


async def test_sqlite_reads_report_no_shard_warnings(coord: Coordinator) -> None:
    session = coord.open_session(database="db")
    try:
        await session.execute("CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10), n INT)")
        await session.execute(
            "INSERT INTO t VALUES (1, '12abc', 0), (2, 'x', 1), (3, '5', 2), (4, NULL, 0)"
        )
        for sql in (
            "SELECT id, n / 0 FROM t",  # scatter
            "SELECT id, CAST(s AS SIGNED) FROM t WHERE id = 1",  # point query
            "SELECT id FROM t WHERE s = 5",
            "SELECT COUNT(*), SUM(CAST(s AS SIGNED)) FROM t",
        ):
            result = await session.execute(sql)
            assert result.columns is not None and result.rows, sql
            assert result.warnings == 0, sql
            count = await session.execute("SELECT @@warning_count")
            assert count.rows == [(0,)], sql
            shown = await session.execute("SHOW WARNINGS")
            assert shown.rows == [], sql
        # The coordinator's own diagnostics still list: max_error_count bounds them.
        await session.execute("SET max_error_count = 0")
        assert (await session.execute("SELECT @@max_error_count")).rows == [(0,)]
    finally:
        await session.close()
