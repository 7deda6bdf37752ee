"""XA across two servers (shared 3306 + private mariadbd): commit, rollback, crash recovery."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from sharding.backend.mysql import MySQLDataSource
from sharding.backend.xa import FAULT_ENV, FAULT_POINTS, LOG_TABLE, ensure_xa_log, recover, run_xa
from sharding.errors import BackendError
from tests.backend_mysql.conftest import make_ds
from tests.conftest import MYSQL_URL
from tests.mysqld import PrivateMariaDB

pytestmark = pytest.mark.mysql

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def pair(private: PrivateMariaDB) -> AsyncIterator[tuple[MySQLDataSource, MySQLDataSource]]:
    a = make_ds("xa_a", MYSQL_URL)
    b = make_ds("xa_b", private.url)
    for ds in (a, b):
        await ds.open()
        await ds.ensure_database("sgtest_xa")
        await ds.execute(
            "CREATE TABLE IF NOT EXISTS sgtest_xa.t (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB"
        )
    await ensure_xa_log(a)
    await recover([a, b], log_ds=a)  # nothing left over from an earlier run
    for ds in (a, b):
        await ds.execute("DELETE FROM sgtest_xa.t")
    yield a, b
    await recover([a, b], log_ds=a)
    await a.aclose()
    await b.aclose()


async def rows(ds: MySQLDataSource, row_id: int) -> int:
    rs = await ds.fetch(f"SELECT COUNT(*) FROM sgtest_xa.t WHERE id = {row_id}")
    return int(rs.rows[0][0])


async def prepared(ds: MySQLDataSource) -> int:
    return len((await ds.fetch("XA RECOVER")).rows)


async def test_xa_commits_on_both(pair: tuple[MySQLDataSource, MySQLDataSource]) -> None:
    a, b = pair
    res = await run_xa(
        {
            a: ["INSERT INTO sgtest_xa.t VALUES (1, 'a')"],
            b: [
                "INSERT INTO sgtest_xa.t VALUES (1, 'b')",
                "INSERT INTO sgtest_xa.t VALUES (2, 'b')",
            ],
        }
    )
    assert [r.affected for r in res.results["xa_b"]] == [1, 1]
    assert (await rows(a, 1), await rows(b, 1), await rows(b, 2)) == (1, 1, 1)
    assert await prepared(a) == 0 and await prepared(b) == 0
    log_rows = await a.fetch(f"SELECT COUNT(*) FROM {LOG_TABLE} WHERE gtrid = '{res.gtrid}'")
    assert log_rows.rows == [(0,)]  # decision row removed once every branch committed
    for ds in (a, b):
        st = ds.statistics()
        assert st.in_use == 0 and st.closed == 0


async def test_xa_failure_in_phase_one_rolls_back_everywhere(
    pair: tuple[MySQLDataSource, MySQLDataSource],
) -> None:
    a, b = pair
    await b.execute("INSERT INTO sgtest_xa.t VALUES (5, 'pre')")
    with pytest.raises(BackendError) as info:
        await run_xa(
            {
                a: ["INSERT INTO sgtest_xa.t VALUES (5, 'a')"],
                b: ["INSERT INTO sgtest_xa.t VALUES (5, 'b')"],
            }
        )
    assert info.value.code == 1062 and getattr(info.value, "datasource", None) == "xa_b"
    assert await rows(a, 5) == 0 and await rows(b, 5) == 1
    assert await prepared(a) == 0 and await prepared(b) == 0
    # The connections were cleaned up and are reusable.
    await run_xa(
        {
            a: ["INSERT INTO sgtest_xa.t VALUES (6, 'a')"],
            b: ["INSERT INTO sgtest_xa.t VALUES (6, 'b')"],
        }
    )
    assert await rows(a, 6) == 1 and await rows(b, 6) == 1


@pytest.mark.parametrize("fault", FAULT_POINTS)
async def test_coordinator_killed_then_recovered(
    pair: tuple[MySQLDataSource, MySQLDataSource], private: PrivateMariaDB, fault: str
) -> None:
    a, b = pair
    row_id = 100 + FAULT_POINTS.index(fault)
    env = {**os.environ, FAULT_ENV: fault, "PYTHONPATH": str(ROOT)}
    with trio.fail_after(60):
        proc = await trio.run_process(
            [
                sys.executable,
                "-m",
                "tests.backend_mysql.xa_crash_script",
                MYSQL_URL,
                private.url,
                str(row_id),
            ],
            cwd=ROOT,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert proc.returncode == 77, proc.stderr.decode()[-2000:]
    assert b"committed" not in proc.stdout
    left = await prepared(a) + await prepared(b)
    assert left >= 1  # the crash really left prepared branches behind
    report = await recover([a, b], log_ds=a)
    assert await prepared(a) == 0 and await prepared(b) == 0
    counts = (await rows(a, row_id), await rows(b, row_id))
    if fault == "after_prepare":
        # No decision was logged: presumed abort, nothing lost half-way, retry works.
        assert counts == (0, 0) and len(report.rolled_back) == 2 and not report.committed
        await run_xa(
            {
                a: [f"INSERT INTO sgtest_xa.t VALUES ({row_id}, 'r')"],
                b: [f"INSERT INTO sgtest_xa.t VALUES ({row_id}, 'r')"],
            }
        )
        assert (await rows(a, row_id), await rows(b, row_id)) == (1, 1)
    else:
        # The decision was durable: every branch ends committed, exactly once.
        assert counts == (1, 1)
        assert len(report.committed) == left and not report.rolled_back
    again = await recover([a, b], log_ds=a)
    assert not again.committed and not again.rolled_back


async def test_decision_log_rows_are_purged_once_old_and_resolved(
    pair: tuple[MySQLDataSource, MySQLDataSource],
) -> None:
    a, b = pair
    rows = {
        "sg-0-old-ours": ("abort", "", "- INTERVAL 2 HOUR"),
        "sg-0-old-pair": ("commit", "xa_a,xa_b", "- INTERVAL 2 HOUR"),
        "sg-0-old-foreign": ("commit", "xa_a,elsewhere", "- INTERVAL 2 HOUR"),  # not all known
        "sg-0-young": ("abort", "", ""),
    }
    for gtrid, (decision, participants, age) in rows.items():
        await a.execute(
            f"INSERT INTO {LOG_TABLE} (gtrid, decision, participants, created) "
            f"VALUES ('{gtrid}', '{decision}', '{participants}', NOW(6) {age})"
        )
    try:
        report = await recover([a, b], log_ds=a, log_retention=3600)
        assert report.purged >= 2
        left = await a.fetch(
            f"SELECT gtrid FROM {LOG_TABLE} WHERE gtrid LIKE 'sg-0-%' ORDER BY gtrid"
        )
        assert [r[0].decode() if isinstance(r[0], bytes) else r[0] for r in left.rows] == [
            "sg-0-old-foreign",
            "sg-0-young",
        ]
    finally:
        await a.execute(f"DELETE FROM {LOG_TABLE} WHERE gtrid LIKE 'sg-0-%'")
