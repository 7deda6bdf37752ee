"""Seed 000's batch insert through ``shardgate serve`` over 1024 shards vs one MariaDB table.

The workload is the seed's JDBC program (``tests/server/java/Seed000.java``, compiled
against MariaDB Connector/J): ``--threads`` threads (10), each sending ``--batches``
batches of ``--rows``-row (1000) INSERTs with ``rewriteBatchedStatements=true`` (one
multi-row INSERT per batch) into ``t``: 16 INT, 3 VARCHAR and one TIMESTAMP column.
Two targets, same program, same rows, same run, alternating per repeat:

* **direct** (the baseline): one plain InnoDB table on MariaDB, port 3306;
* **shardgate**: a ``shardgate serve`` process in front of the same MariaDB, the table
  split ``mod`` on ``id1`` over ``--shards`` (1024) shard databases; every 1000-row
  INSERT is split by shard and committed in one transaction on the data source.

Goal (issue 6): shardgate ≥ 70 % of direct rows/s.

Two diagnostic rows, executed by Python threads (PyMySQL) straight to MariaDB with the
rows the coordinator would send, tell where a gap comes from:

* **hand-sharded, one statement per shard** — what the coordinator sends (the per-shard
  INSERTs of a batch in one transaction, one round trip each): the cost of the shard
  layout itself on one server;
* **hand-sharded, one round trip per batch** — the same statements as one
  multi-statement packet: what batching the writes of one data source would give.

The tables are truncated before every run; each run checks ``COUNT(*)``. With 1024
shard tables on one server, MariaDB's ``table_open_cache`` must hold connections ×
tables or it thrashes in "Opening tables": the run records the server's settings and
``--tune-mariadb`` raises them (``SET GLOBAL``) when they are too small.

    python -m bench.insert [--quick] [--shards 1024] [--batches 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.args import command_line, positive_int
from bench.common import RESULTS, console, print_table, publish
from bench.profile import Profiler, summarize
from bench.serve import (
    ROOT,
    BenchSetupError,
    Served,
    config_text,
    db_name,
    drop_sharded,
    mariadb,
    process_cpu_seconds,
    served,
)

SEED000_SOURCE = ROOT / "tests" / "server" / "java" / "Seed000.java"
JAR = Path("/usr/share/java/mariadb-java-client.jar")
SHARDED_DB = db_name("sgb_insert")
DIRECT_DB = db_name("sgb_insert_direct")
COLUMNS = (
    ", ".join(f"id{i} INT" for i in range(1, 17))
    + ", str1 VARCHAR(64), str2 VARCHAR(64), str3 VARCHAR(64), dt TIMESTAMP NULL"
)
GOAL = 0.70
_OK = re.compile(r"OK inserted=(\d+) seconds=([0-9.]+)")
_COUNT = re.compile(r"COUNT (\d+)")


def java_ready() -> bool:
    return JAR.exists() and shutil.which("java") is not None and shutil.which("javac") is not None


def compile_seed000() -> Path:
    """Seed000.java compiled once per source version (cached in the temp folder)."""
    digest = hashlib.sha256(SEED000_SOURCE.read_bytes()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"shardgate-bench-seed000-{digest}"
    if not (out / "Seed000.class").exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["javac", "-cp", str(JAR), "-d", str(out), str(SEED000_SOURCE)], check=True, timeout=180
        )
    return out


def mariadb_pid() -> int | None:
    """The MariaDB server's pid (to account its CPU), or None when not local."""
    for name in ("mariadbd", "mysqld"):
        out = subprocess.run(
            ["pidof", name], capture_output=True, text=True, check=False
        ).stdout.split()
        if out:
            return int(out[0])
    return None


def server_settings() -> dict[str, Any]:
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', 'table_open_cache', "
            "'table_definition_cache', 'innodb_open_files', 'innodb_buffer_pool_size', "
            "'innodb_flush_log_at_trx_commit', 'max_connections', 'thread_handling')"
        )
        return {k: v for k, v in cur.fetchall()}


def tune_mariadb(shards: int, connections: int) -> dict[str, Any]:
    """Raise the table caches so ``connections`` connections can each keep ``shards``
    tables open; returns what was changed (old → new)."""
    changed: dict[str, Any] = {}
    want = {
        "table_open_cache": min(524288, max(2000, shards * connections)),
        "table_definition_cache": max(400, shards * 4),
    }
    settings = server_settings()
    with mariadb() as conn, conn.cursor() as cur:
        for name, value in want.items():
            if int(settings.get(name, 0)) < value:
                cur.execute(f"SET GLOBAL {name} = {int(value)}")
                changed[name] = f"{settings.get(name)} -> {value}"
    return changed


# -- the two JDBC targets ----------------------------------------------------------------


def run_jdbc(
    classes: Path, port: int, database: str, threads: int, batches: int, rows: int
) -> dict[str, Any]:
    """Run Seed000 in ``rewrite`` mode; returns its own timing and the verified count."""
    cmd = [
        "java",
        "-cp",
        f"{JAR}:{classes}",
        "Seed000",
        str(port),
        "rewrite",
        str(threads),
        str(batches),
        str(rows),
        "root",
        "",
        database,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    m, c = _OK.search(proc.stdout), _COUNT.search(proc.stdout)
    if proc.returncode != 0 or not m or not c:
        raise RuntimeError(
            f"Seed000 against port {port} failed ({proc.returncode}):\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}"
        )
    inserted, seconds = int(m.group(1)), float(m.group(2))
    return {"rows": inserted, "seconds": seconds, "count": int(c.group(1))}


# -- the hand-sharded diagnostics ----------------------------------------------------------


def seed_row(tid: int, b: int, r: int, batches: int, rows: int) -> str:
    """One row of Seed000 as SQL text (same values the Java program binds)."""
    i = (tid * batches + b) * rows + r
    ints = ",".join(str(i if k == 1 else i % (k * 7)) for k in range(1, 17))
    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1_700_000_000 + i))
    return f"({ints},'s1-{i}','str''2\"{tid}','三-{b}','{ts}')"


def hand_sharded_statements(tid: int, batches: int, rows: int, shards: int) -> list[list[str]]:
    """Per batch: the per-shard INSERTs the coordinator sends (mod on id1, shard order)."""
    out = []
    for b in range(batches):
        per: dict[int, list[str]] = {}
        for r in range(rows):
            i = (tid * batches + b) * rows + r
            per.setdefault(i % shards, []).append(seed_row(tid, b, r, batches, rows))
        out.append(
            [
                f"INSERT INTO `{SHARDED_DB}_{s:04d}`.`t` VALUES {','.join(per[s])}"
                for s in sorted(per)
            ]
        )
    return out


def run_hand_sharded(
    threads: int, batches: int, rows: int, shards: int, multi: bool
) -> dict[str, Any]:
    """10 PyMySQL threads sending the per-shard statements (prepared before the clock)."""
    from pymysql.constants import CLIENT

    work = [hand_sharded_statements(t, batches, rows, shards) for t in range(threads)]
    conns = [
        mariadb(client_flag=CLIENT.MULTI_STATEMENTS) if multi else mariadb() for _ in range(threads)
    ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def worker(k: int) -> None:
        cur = conns[k].cursor()
        barrier.wait()
        try:
            for stmts in work[k]:
                if multi:
                    cur.execute("BEGIN;" + ";".join(stmts) + ";COMMIT")
                    while cur.nextset():
                        pass
                else:
                    cur.execute("BEGIN")
                    for s in stmts:
                        cur.execute(s)
                    cur.execute("COMMIT")
        except BaseException as e:  # reported after join
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for th in pool:
        th.start()
    barrier.wait()
    start = time.perf_counter()
    for th in pool:
        th.join()
    seconds = time.perf_counter() - start
    for c in conns:
        c.close()
    if errors:
        raise RuntimeError(f"hand-sharded insert failed: {errors[0]!r}")
    return {"rows": threads * batches * rows, "seconds": seconds}


def sharded_count(srv: Served) -> int:
    with srv.connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {SHARDED_DB}.t")
        return int(cur.fetchone()[0])


def truncate_sharded(srv: Served) -> None:
    with srv.connect() as conn, conn.cursor() as cur:
        cur.execute(f"TRUNCATE TABLE {SHARDED_DB}.t")


def truncate_direct() -> None:
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute(f"TRUNCATE TABLE {DIRECT_DB}.t")


def setup_direct() -> None:
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DIRECT_DB}")
        cur.execute(f"DROP TABLE IF EXISTS {DIRECT_DB}.t")
        cur.execute(f"CREATE TABLE {DIRECT_DB}.t ({COLUMNS}) ENGINE=InnoDB")


def serve_config(shards: int, max_connections: int) -> str:
    return config_text(
        database=SHARDED_DB,
        executor={"buckets": 4, "slots_per_bucket": 16, "window": 16},
        datasource={"max_connections": max_connections},
        tables=[
            {
                "name": f"{SHARDED_DB}.t",
                "shard_key": "id1",
                "algorithm": "mod",
                "shards": shards,
                "datasources": ["m0"],
            }
        ],
    )


def measured(fn: Callable[[], dict[str, Any]], pids: dict[str, int | None]) -> dict[str, Any]:
    """Run ``fn`` and add the CPU seconds each process in ``pids`` spent meanwhile."""
    before = {k: process_cpu_seconds(p) for k, p in pids.items() if p}
    out = fn()
    for k, p in pids.items():
        if p:
            out[f"cpu_{k}_s"] = round(process_cpu_seconds(p) - before[k], 2)
    out["rows_per_s"] = round(out["rows"] / out["seconds"]) if out["seconds"] else 0
    return out


CASES = ("direct", "shardgate", "hand-sharded: stmt per shard", "hand-sharded: 1 trip per batch")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes (smoke run)")
    parser.add_argument("--shards", type=positive_int, default=None)
    parser.add_argument("--threads", type=positive_int, default=10)
    parser.add_argument("--batches", type=positive_int, default=None, help="batches per thread")
    parser.add_argument("--rows", type=positive_int, default=1000, help="rows per batch")
    parser.add_argument("--repeat", type=positive_int, default=None)
    parser.add_argument(
        "--max-connections", type=positive_int, default=32, help="the data source's pool size"
    )
    parser.add_argument("--no-diagnostics", action="store_true", help="skip the hand-sharded rows")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during its runs")
    parser.add_argument(
        "--tune-mariadb", action="store_true", help="SET GLOBAL table caches if too small"
    )
    args = parser.parse_args(argv)
    shards = args.shards or (64 if args.quick else 1024)
    batches = args.batches or (1 if args.quick else 10)
    repeat = args.repeat or (1 if args.quick else 3)
    if not java_ready():
        raise BenchSetupError(
            "bench.insert needs java, javac and MariaDB Connector/J (apt-get install libmariadb-java)"
        )
    classes = compile_seed000()
    tuned = tune_mariadb(shards, args.threads + 6) if args.tune_mariadb else {}
    settings = server_settings()
    if int(settings.get("table_open_cache", 0)) < shards * args.threads:
        console.print(
            f"[yellow]table_open_cache={settings.get('table_open_cache')} < {shards} shards × {args.threads} "
            "connections: MariaDB will thrash in 'Opening tables' (use --tune-mariadb)[/yellow]"
        )
    setup_direct()
    drop_sharded(SHARDED_DB, max(shards, 1024))
    db_pid = mariadb_pid()
    cases = CASES if not args.no_diagnostics else CASES[:2]
    runs: list[dict[str, Any]] = []
    expected = args.threads * batches * args.rows
    try:
        with served(serve_config(shards, args.max_connections)) as srv:
            with srv.connect() as conn, conn.cursor() as cur:
                cur.execute(f"CREATE TABLE {SHARDED_DB}.t ({COLUMNS})")
            pids = {"mariadb": db_pid, "shardgate": srv.proc.pid}
            for rep in range(repeat):
                for case in cases:
                    if case == "direct":
                        truncate_direct()
                        r = measured(
                            lambda: run_jdbc(
                                classes, 3306, DIRECT_DB, args.threads, batches, args.rows
                            ),
                            pids,
                        )
                    elif case == "shardgate":
                        truncate_sharded(srv)
                        prof_path = (
                            RESULTS
                            / "profiles"
                            / f"insert{'_quick' if args.quick else ''}_shardgate_{rep}.txt"
                        )
                        with (
                            Profiler(srv.proc.pid, prof_path)
                            if args.profile
                            else contextlib.nullcontext() as prof
                        ):
                            r = measured(
                                lambda: run_jdbc(
                                    classes, srv.port, SHARDED_DB, args.threads, batches, args.rows
                                ),
                                pids,
                            )
                        if prof is not None:
                            r["profile"] = (
                                summarize(prof_path)
                                if prof.error is None
                                else {"error": prof.error}
                            )
                    else:
                        truncate_sharded(srv)
                        multi = "1 trip" in case
                        r = measured(
                            functools.partial(
                                run_hand_sharded, args.threads, batches, args.rows, shards, multi
                            ),
                            pids,
                        )
                        r["count"] = sharded_count(srv)
                    if r["count"] != expected:
                        raise RuntimeError(f"{case}: COUNT(*) = {r['count']}, expected {expected}")
                    r.update(case=case, repeat=rep)
                    runs.append(r)
                    console.print(f"[dim]{case} #{rep}: {r['rows_per_s']:,} rows/s[/dim]")
    finally:
        drop_sharded(SHARDED_DB, max(shards, 1024))
        with mariadb() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DIRECT_DB}")
    summary: dict[str, Any] = {}
    for case in cases:
        rs = [r for r in runs if r["case"] == case]
        summary[case] = {
            "rows_per_s": round(statistics.median(r["rows_per_s"] for r in rs)),
            "samples": [r["rows_per_s"] for r in rs],
            "cpu_shardgate_s": statistics.median(r.get("cpu_shardgate_s", 0) for r in rs),
            "cpu_mariadb_s": statistics.median(r.get("cpu_mariadb_s", 0) for r in rs),
            "seconds": statistics.median(r["seconds"] for r in rs),
        }
    base = summary["direct"]["rows_per_s"]
    for case in cases:
        summary[case]["ratio_vs_direct"] = (
            round(summary[case]["rows_per_s"] / base, 3) if base else None
        )
    ratio = summary["shardgate"]["ratio_vs_direct"]
    print_table(
        f"seed 000 insert: {args.threads} threads × {batches} batches × {args.rows} rows, {shards} shards (median of {repeat})",
        ["case", "rows/s", "ratio vs direct", "seconds", "shardgate CPU s", "MariaDB CPU s"],
        [
            (
                c,
                summary[c]["rows_per_s"],
                summary[c]["ratio_vs_direct"],
                summary[c]["seconds"],
                summary[c]["cpu_shardgate_s"],
                summary[c]["cpu_mariadb_s"],
            )
            for c in cases
        ],
    )
    met = ratio is not None and ratio >= GOAL
    console.print(
        f"goal shardgate ≥ {GOAL:.0%} of direct: {'[green]met' if met else '[red]not met'}[/] ({ratio})"
    )
    data: dict[str, Any] = {
        "command": command_line("bench.insert", argv),
        "shards": shards,
        "threads": args.threads,
        "batches": batches,
        "rows_per_batch": args.rows,
        "repeat": repeat,
        "client": "MariaDB Connector/J (Seed000.java, rewriteBatchedStatements=true)",
        "mariadb": settings,
        "mariadb_tuned": tuned,
        "load_average": os.getloadavg(),
        "goal_ratio": GOAL,
        "ratio": ratio,
        "goal_met": met,
        "summary": summary,
        "runs": runs,
    }

    def draw(ax: Any) -> None:
        names = list(cases)
        ax.barh(
            range(len(names)),
            [summary[c]["rows_per_s"] for c in names],
            color=["#888", "#1f77b4", "#bbb", "#bbb"][: len(names)],
        )
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(
            base * GOAL,
            color="red",
            linestyle="--",
            linewidth=1,
            label=f"goal: {GOAL:.0%} of direct",
        )
        ax.set_xlabel("rows/s")
        ax.set_title(f"seed 000 batch insert, {shards} shards")
        ax.legend(fontsize=8)

    name = "insert" + ("_quick" if args.quick else "")
    return publish(name, data, draw)


if __name__ == "__main__":
    main()
