"""Instructions per point query, counted by valgrind (issue 16): relay vs ``serve``.

    python -m bench.point_instructions [--queries 500] [--targets relay,native,aiomysql]
                                       [--workload point|ranges]

CPU time per query on a shared 2-core machine moves by 2–3× with the other tenants'
load; an instruction count does not. Each target runs under ``valgrind
--tool=callgrind`` with instrumentation off, is warmed by 200 point selects, and is
then counted over ``--queries`` more (``callgrind_control -i on/off``): PyMySQL,
``SELECT c FROM sbtest1 WHERE id = %s`` (a text query with a literal, the PyMySQL way;
ids random in 1..1000). ``--workload ranges``: sysbench's four range statements of
``oltp_read_only`` in turn (``id BETWEEN x AND x + 99``: plain, ``SUM(k)``, ``ORDER BY
c``, ``DISTINCT c ORDER BY c``), which scatter to all 16 shards under ``mod``;
results in ``point_instructions_ranges.json``.

* ``relay``: :mod:`bench.relay` in front of MariaDB (a plain table of 1000 rows);
* ``native`` / ``aiomysql``: the protocol server and coordinator of ``shardgate serve``
  in front of the same MariaDB (``sbtest1`` sharded ``mod`` over 16 databases), run by
  this module's ``--serve-quiet`` mode: what ``serve`` runs, without its periodic
  background jobs (catalog refresh every 2 s, XA recovery, fleet heartbeat) so that
  they do not land in the counted window. What the executor's timer and the pool's
  admin task still do in the window is measured by an idle window of the same kind
  (``background``) and subtracted (``net``).

Counts are user-space instructions of every thread of the process (for ``aiomysql``
also the asyncio thread of the driver bridge); the kernel's work (``send``, ``recv``,
``epoll``) is not in them — it is about the same for the relay and ``serve``. Needs
valgrind (``apt-get install valgrind``) and MariaDB. Results:
``bench/results/point_instructions.json``.
"""

from __future__ import annotations

import argparse
import glob
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import write_results
from bench.serve import (
    MARIADB_HOST,
    MARIADB_PORT,
    BenchSetupError,
    config_text,
    db_name,
    die_with_parent,
    drop_sharded,
    mariadb,
    mariadb_available,
    stop_process,
)

ROOT = Path(__file__).resolve().parent.parent
SHARDED_DB = db_name("sgpi_sharded")
PLAIN_DB = db_name("sgpi_plain")
ROWS = 1000
TARGETS = ("relay", "native", "aiomysql")
_LISTENING = re.compile(r"(?:relay listening on|MySQL protocol on) ([0-9.]+):(\d+)")
IDLE_SECONDS = 5.0


def _create_table(cur: Any) -> None:
    cur.execute(
        "CREATE TABLE sbtest1 (id INT NOT NULL, k INT NOT NULL DEFAULT 0, "
        "c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id))"
    )
    cur.execute(
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES "
        + ",".join(
            f"({i}, {i * 7 % ROWS}, 'c{i}-68487946043-85558187456-37165935225-63584620838', 'p')"
            for i in range(1, ROWS + 1)
        )
    )


def _totals(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    return 0


#: sysbench oltp_read_only's range statements (range size 100).
RANGE_STATEMENTS = (
    "SELECT c FROM sbtest1 WHERE id BETWEEN %s AND %s",
    "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN %s AND %s",
    "SELECT c FROM sbtest1 WHERE id BETWEEN %s AND %s ORDER BY c",
    "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN %s AND %s ORDER BY c",
)


def _statement(workload: str, rnd: random.Random, i: int) -> tuple[str, tuple[int, ...]]:
    if workload == "ranges":
        low = rnd.randint(1, ROWS - 99)
        return RANGE_STATEMENTS[i % len(RANGE_STATEMENTS)], (low, low + 99)
    return "SELECT c FROM sbtest1 WHERE id = %s", (rnd.randint(1, ROWS),)


def count(target: str, queries: int, workdir: Path, workload: str = "point") -> dict[str, Any]:
    """Instructions of ``target`` over ``queries`` statements of ``workload`` (and an
    idle window)."""
    import pymysql

    out = workdir / f"callgrind.{target}"
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
    ]
    if target == "relay":
        cmd = [sys.executable, "-m", "bench.relay", "--upstream", f"{MARIADB_HOST}:{MARIADB_PORT}"]
        database = PLAIN_DB
    else:
        cfg = workdir / f"{target}.toml"
        cfg.write_text(
            config_text(
                database=SHARDED_DB,
                executor={},
                datasource={"max_connections": 8, "driver": target},
                tables=[
                    {
                        "name": f"{SHARDED_DB}.sbtest1",
                        "shard_key": "id",
                        "algorithm": "mod",
                        "shards": 16,
                    }
                ],
                server={"max_connections": 20},
            )
        )
        cmd = [sys.executable, "-m", "bench.point_instructions", "--serve-quiet", str(cfg)]
        database = SHARDED_DB
    log = open(workdir / f"{target}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        valgrind + cmd,
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=str(ROOT),
        preexec_fn=die_with_parent,
    )
    try:
        assert proc.stdout is not None
        buf = b""
        deadline = time.monotonic() + 600
        while (m := _LISTENING.search(buf.decode(errors="replace"))) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchSetupError(f"{target} did not start under valgrind")
            buf += proc.stdout.read1(4096)
        port = int(m.group(2))

        def control(*args: str) -> None:
            subprocess.run(
                ["callgrind_control", *args, str(proc.pid)], check=True, capture_output=True
            )

        conn = pymysql.connect(
            host="127.0.0.1", port=port, user="root", password="", database=database,
            autocommit=True, read_timeout=600,
        )  # fmt: skip
        cur = conn.cursor()
        if target != "relay":
            _create_table(cur)
        rnd = random.Random(7)
        for i in range(200):
            cur.execute(*_statement(workload, rnd, i))
            cur.fetchall()
        control("-i", "on")
        time.sleep(IDLE_SECONDS)
        control("-i", "off")
        control("-d")
        control("-i", "on")
        started = time.perf_counter()
        for i in range(queries):
            cur.execute(*_statement(workload, rnd, i))
            cur.fetchall()
        elapsed = time.perf_counter() - started
        control("-i", "off")
        control("-d")
        conn.close()
    finally:
        stop_process(proc)
        log.close()
    dumps = sorted(glob.glob(f"{out}.*"), key=lambda f: int(f.rsplit(".", 1)[1]))
    idle, busy = _totals(dumps[-2]), _totals(dumps[-1])
    background = idle / IDLE_SECONDS * elapsed
    return {
        "raw_k_per_query": round(busy / queries / 1000, 1),
        "background_m_per_s": round(idle / IDLE_SECONDS / 1e6, 2),
        "window_seconds": round(elapsed, 2),
        "net_k_per_query": round(max(0.0, busy - background) / queries / 1000, 1),
    }


def serve_quiet(config: str) -> None:
    """``shardgate serve --config CONFIG`` without its periodic background jobs."""
    import trio

    from sharding import cli
    from sharding.coordinator import Coordinator
    from sharding.logging_setup import StatementLog
    from sharding.server import CoordinatorAdmin, MySQLServer

    async def main() -> None:
        from executor import configure_logging

        configure_logging(json=True, level="warning")
        args = argparse.Namespace(
            config=config, data_dir=".shardgate", listen=None, http=None, admin_listen=None,
            long_query_time=None, instance_id=None,
        )  # fmt: skip
        data, base = cli._load_toml(config)
        topology = cli._topology(data, base, args.data_dir)
        server_config = cli._server_config(data, args, topology)
        async with Coordinator(topology, catalog_refresh=None, xa_recovery=None) as coord:
            server = MySQLServer(server_config, coord, admin=CoordinatorAdmin(coord))
            coord.statement_log = StatementLog(
                long_query_time=float(server_config.long_query_time),
                full_text=server_config.log_statement_text,
            )
            cli.tune_gc(100_000)
            async with trio.open_nursery() as nursery:
                await nursery.start(server.serve)
                print(f"quiet serve: MySQL protocol on 127.0.0.1:{server.port}", flush=True)

    trio.run(main)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="python -m bench.point_instructions", description=(__doc__ or "").split("\n", 1)[0]
    )
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--workload", choices=("point", "ranges"), default="point")
    p.add_argument("--serve-quiet", metavar="CONFIG", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_quiet:
        serve_quiet(args.serve_quiet)
        return {}
    targets = [t for t in args.targets.split(",") if t]
    if not set(targets) <= set(TARGETS):
        p.error(f"--targets: choose among {', '.join(TARGETS)}")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise BenchSetupError("bench.point_instructions needs valgrind (apt-get install valgrind)")
    if not mariadb_available():
        raise BenchSetupError("bench.point_instructions needs MariaDB")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sg-point-instructions-") as tmp:
        with mariadb() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{PLAIN_DB}`")
            cur.execute(f"CREATE DATABASE `{PLAIN_DB}`")
            cur.execute(f"USE `{PLAIN_DB}`")
            _create_table(cur)
        try:
            for target in targets:
                drop_sharded(SHARDED_DB, 16)
                results[target] = count(target, args.queries, Path(tmp), args.workload)
                print(f"{target}: {results[target]}", flush=True)
        finally:
            drop_sharded(SHARDED_DB, 16)
            with mariadb() as conn, conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{PLAIN_DB}`")
    relay = results.get("relay", {}).get("net_k_per_query")
    if relay:
        for r in results.values():
            r["vs_relay"] = round(r["net_k_per_query"] / relay, 2)
    data = {"queries": args.queries, "workload": args.workload, "results": results}
    name = "point_instructions" if args.workload == "point" else "point_instructions_ranges"
    write_results(name, data, module="point_instructions")
    return data


if __name__ == "__main__":
    main()
