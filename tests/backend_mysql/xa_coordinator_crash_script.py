"""A coordinator process killed in the middle of an XA write (run in a subprocess).

    python -m tests.backend_mysql.xa_coordinator_crash_script TOPOLOGY.toml SQL

Runs SQL (a write spanning both data sources) through a Coordinator. With
``SHARDGATE_XA_FAULT`` set, :mod:`sharding.backend.xa` exits the process (code 77) at
that point of the two-phase commit, as a coordinator killed there would.
"""

from __future__ import annotations

import sys

import trio

from sharding import Coordinator, Topology


async def main(path: str, sql: str) -> None:
    async with Coordinator(Topology.load(path), catalog_refresh=None) as coord:
        await coord.execute(sql)
    print("committed", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
