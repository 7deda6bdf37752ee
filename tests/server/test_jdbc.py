"""MariaDB Connector/J: seed 000's batch-insert workload and server-side prepared
statements (COM_STMT_PREPARE/EXECUTE with binary rows) against the fake session.

Needs Java 17 (javac) and Debian's ``libmariadb-java`` (CI installs it); skipped, with
that reason, only when one of them is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.server.conftest import CREATE, JAR, JAVA, JAVA_MISSING, JAVA_READY, Served, in_thread

pytestmark = pytest.mark.skipif(not JAVA_READY, reason=JAVA_MISSING)


async def _workload(served: Served, compiled: Path, mode: str, batches: int) -> str:
    def setup() -> None:
        with served.pymysql(autocommit=True) as c, c.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS db")
            cur.execute("DROP TABLE IF EXISTS db.t")
            cur.execute(CREATE)

    await in_thread(setup)
    with trio.fail_after(180):
        out = await trio.run_process(
            [
                str(JAVA),
                "-cp",
                f"{JAR}:{compiled}",
                "Seed000",
                str(served.port),
                mode,
                "10",
                str(batches),
                "1000",
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    text = out.stdout.decode()
    assert out.returncode == 0, text + out.stderr.decode()[-3000:]
    return text


async def test_seed000_rewrite_batched_statements(served: Served, compiled: Path) -> None:
    text = await _workload(served, compiled, "rewrite", 6)
    assert "COUNT 60000" in text
    assert "ROW7 7 s1-7 str'2\"0 三-0" in text
    # rewriteBatchedStatements sends each batch as one multi-row INSERT, untouched
    inserts = [
        sql
        for s in served.factory.sessions
        for sql, _ in s.executed
        if sql.startswith("INSERT INTO db.t")
    ]
    assert len(inserts) == 60


async def test_seed000_server_prepared_statements(served: Served, compiled: Path) -> None:
    text = await _workload(served, compiled, "serverprep", 6)
    assert "COUNT 60000" in text
    assert "ROW7 7 s1-7 str'2\"0 三-0" in text
    executed = [
        (sql, params)
        for s in served.factory.sessions
        for sql, params in s.executed
        if sql.startswith("INSERT INTO db.t")
    ]
    assert len(executed) == 60000
    sql, params = executed[0]
    assert sql.count("?") == 20 and params is not None and len(params) == 20
