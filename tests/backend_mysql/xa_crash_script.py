"""A tiny coordinator process for the XA crash test (run in a subprocess).

    python -m tests.backend_mysql.xa_crash_script URL_A URL_B ROW_ID

Inserts ROW_ID into ``sgtest_xa.t`` on both servers in one XA transaction. With
``SHARDGATE_XA_FAULT`` set, sharding.backend.xa exits the process (code 77) at that
point, like a coordinator killed there.
"""

from __future__ import annotations

import sys

import trio

from sharding.backend.mysql import MySQLDataSource
from sharding.backend.xa import run_xa


async def main(url_a: str, url_b: str, row_id: int) -> None:
    a = MySQLDataSource.from_config("xa_a", {"url": url_a})
    b = MySQLDataSource.from_config("xa_b", {"url": url_b})
    await a.open()
    await b.open()
    stmt = f"INSERT INTO sgtest_xa.t (id, v) VALUES ({row_id}, 'x')"
    await run_xa({a: [stmt], b: [stmt]}, log_ds=a)
    print("committed", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
