"""Against the local MariaDB: load, per-shard equivalence, general-log capture, replay.

* ``trace load`` creates real ``PARTITION BY HASH`` tables holding exactly the spec's
  generated rows.
* ``--compare-direct``'s per-shard rendering returns the same rows as the logical
  statement (MariaDB itself runs the logical SQL on the partitioned tables), with a
  tiny chunk so the keyset continuation of the sort-merge join really runs.
* A general query log captured from this MariaDB parses back into the statements
  and sessions that produced it.
* The CLI end to end: gen → load → replay (with --compare-direct) → JSON report, and an
  open-loop check on a real server with ``SLEEP``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sharding.trace.cli import main_replay, main_trace
from sharding.trace.direct import DirectExecutor
from sharding.trace.format import TraceRecord, read_general_log, read_jsonl
from sharding.trace.generate import GenOptions, generate
from sharding.trace.load import LoadError, load
from sharding.trace.spec import WorkloadSpec, mariadb_partition
from sharding.trace.target import Endpoint
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.trace.conftest import mariadb

pytestmark = pytest.mark.mysql

EP = Endpoint(MYSQL_HOST, MYSQL_PORT)


def _query(sql: str) -> list[tuple[Any, ...]]:
    conn = mariadb()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def _load(spec: WorkloadSpec, **kw: Any) -> Any:
    return asyncio.run(load(spec, EP, **kw))


def test_load_creates_partitioned_tables_with_the_generated_rows(scratch_db: str) -> None:
    spec, _ = generate(GenOptions(kind="sort-merge-join", shards=4, rows=250, database=scratch_db))
    progress: list[tuple[str, int, int]] = []
    result = _load(spec, batch_rows=40, connections=3, on_progress=lambda *a: progress.append(a))
    assert result.rows == {"customer": 250, "orders": 250} and not result.warnings
    assert {p[0] for p in progress if p[1:] == (250, 250)} == {"customer", "orders"}
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(progress) if a[0] == b[0])
    parts = _query(
        "SELECT TABLE_NAME, COUNT(*) FROM information_schema.PARTITIONS "
        f"WHERE TABLE_SCHEMA = '{scratch_db}' GROUP BY TABLE_NAME ORDER BY TABLE_NAME"
    )
    assert parts == [("customer", 4), ("orders", 4)]
    customer = spec.table("customer")
    expected = [customer.row(spec.seed, i) for i in range(250)]
    got = _query(f"SELECT id, region, score, balance, name FROM {scratch_db}.customer ORDER BY id")
    assert [tuple(r) for r in got] == expected
    # rows sit where mariadb_partition says (the rule --compare-direct relies on)
    for p in range(4):
        ids = {r[0] for r in _query(f"SELECT id FROM {scratch_db}.customer PARTITION (p{p})")}
        assert ids == {i for i in range(1, 251) if mariadb_partition(i, 4) == p}
    indexes = _query(
        "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
        f"WHERE TABLE_SCHEMA = '{scratch_db}' AND INDEX_NAME LIKE 'ix_%' ORDER BY 1"
    )
    assert indexes == [("ix_customer_region_score",), ("ix_orders_customer",)]
    # loading again without --drop would duplicate rows: refused, with the way out
    with pytest.raises(LoadError, match="already exists; pass --drop"):
        _load(spec)
    assert _load(spec, drop=True).rows["customer"] == 250


def test_direct_per_shard_work_returns_the_logical_answer(scratch_db: str) -> None:
    opts = GenOptions(
        kind="mixed",
        shards=5,
        rows=400,
        queries=150,
        batch_rows=37,
        join_span=60,
        join_limit=25,
        database=scratch_db,
        mix={
            "point": 1,
            "scatter-topk": 1,
            "aggregate": 1,
            "sort-merge-join": 1,
            "insert-batch": 1,
        },
    )
    spec, records = generate(opts)
    _load(spec)
    recs = list(records)
    # a join without a key range too: the continuation must walk whole partitions
    recs.append(
        TraceRecord(
            0.0,
            1,
            f"SELECT c.id, c.name, o.id, o.amount FROM {scratch_db}.customer c JOIN "
            f"{scratch_db}.orders o ON o.customer_id = c.id ORDER BY c.id, o.id LIMIT 30",
            "sort-merge-join",
            {"lo": None, "hi": None, "limit": 30},
        )
    )

    async def run_direct() -> list[list[tuple[Any, ...]]]:
        ex = DirectExecutor(spec, EP, connections=4, window=3, chunk=7)
        await ex.open()
        try:
            return [await ex.execute(r) for r in recs if r.kind != "insert-batch"]
        finally:
            await ex.aclose()

    direct = asyncio.run(run_direct())
    logical = [_query(r.sql) for r in recs if r.kind != "insert-batch"]
    kinds = [r.kind for r in recs if r.kind != "insert-batch"]
    assert {"point", "scatter-topk", "aggregate", "sort-merge-join"} <= set(kinds)
    for kind, d, q in zip(kinds, direct, logical, strict=True):
        assert [tuple(x) for x in d] == [tuple(x) for x in q], kind
        if kind in ("sort-merge-join", "scatter-topk"):
            assert q, f"{kind} returned no rows: the comparison would be vacuous"

    inserts = [r for r in recs if r.kind == "insert-batch"]
    assert inserts

    async def run_inserts() -> int:
        ex = DirectExecutor(spec, EP, connections=2, window=2)
        await ex.open()
        try:
            for r in inserts:
                await ex.execute(r)
            return ex.statements_sent
        finally:
            await ex.aclose()

    sent = asyncio.run(run_inserts())
    t = spec.table("t")
    rows = [t.row(spec.seed, i) for i in range(len(inserts) * opts.batch_rows)]
    assert sent <= len(inserts) * spec.shards  # one INSERT per partition touched
    got = _query(f"SELECT COUNT(*), SUM(id2), MIN(id1), MAX(id1) FROM {scratch_db}.t")[0]
    assert got == (len(rows), Decimal(sum(r[1] for r in rows)), 1, len(rows))


def test_general_log_captured_from_mariadb(scratch_db: str) -> None:
    admin = mariadb()
    logdir = tempfile.mkdtemp(prefix="trace_gl_")
    os.chmod(logdir, 0o777)  # mariadbd writes the file as its own user
    logfile = Path(logdir) / "general.log"
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT @@general_log, @@general_log_file, @@log_output")
            old_on, old_file, old_output = cur.fetchone()
            cur.execute(f"CREATE DATABASE {scratch_db}")
            cur.execute("SET GLOBAL log_output = 'FILE'")
            cur.execute(f"SET GLOBAL general_log_file = '{logfile}'")
            cur.execute("SET GLOBAL general_log = 1")
        try:
            a = pymysql.connect(
                host=MYSQL_HOST, port=MYSQL_PORT, user="root", database=scratch_db, autocommit=True
            )
            b = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)
            try:
                with a.cursor() as ca, b.cursor() as cb:
                    ca.execute("SELECT CONNECTION_ID()")
                    id_a = ca.fetchone()[0]
                    cb.execute("SELECT CONNECTION_ID()")
                    id_b = cb.fetchone()[0]
                    ca.execute("CREATE TABLE x (a INT, b VARCHAR(10))")
                    ca.execute("INSERT INTO x VALUES (1, 'one'),\n  (2, 'two\nlines')")
                    b.select_db(scratch_db)  # COM_INIT_DB
                    cb.execute("SELECT a\nFROM x\nWHERE a > 0\nORDER BY a")
                    ca.execute("SELECT COUNT(*) FROM x")
            finally:
                a.close()
                b.close()
        finally:
            with admin.cursor() as cur:
                cur.execute("SET GLOBAL general_log = 0")
                cur.execute("SET GLOBAL general_log_file = %s", (old_file,))
                cur.execute("SET GLOBAL log_output = %s", (old_output,))
                cur.execute("SET GLOBAL general_log = %s", (int(old_on),))
        recs = list(read_general_log(logfile))
    finally:
        admin.close()
        shutil.rmtree(logdir, ignore_errors=True)
    by_session: dict[Any, list[str]] = {}
    for r in recs:
        by_session.setdefault(r.session, []).append(r.sql)
    assert [s for s in by_session[id_a] if not s.startswith("SET ")] == [
        f"USE `{scratch_db}`",
        "SELECT CONNECTION_ID()",
        "CREATE TABLE x (a INT, b VARCHAR(10))",
        "INSERT INTO x VALUES (1, 'one'),\n  (2, 'two\nlines')",
        "SELECT COUNT(*) FROM x",
    ]
    assert [s for s in by_session[id_b] if not s.startswith("SET ")] == [
        "SELECT CONNECTION_ID()",
        f"USE `{scratch_db}`",
        "SELECT a\nFROM x\nWHERE a > 0\nORDER BY a",
    ]
    ts = [r.t for r in recs]
    assert ts == sorted(ts) and ts[0] == 0.0


def test_cli_gen_load_replay_compare_direct(scratch_db: str, tmp_path: Path) -> None:
    trace = tmp_path / "mix.jsonl"
    assert main_trace([
        "gen", "--kind", "mixed", "--shards", "4", "--queries", "120", "--clients", "6",
        "--rate", "400", "--rows", "300", "--batch-rows", "20", "--join-span", "40",
        "--database", scratch_db, "-o", str(trace),
    ]) == 0  # fmt: skip
    spec = tmp_path / "mix.spec.json"
    assert main_trace(["load", str(spec), "--target", f"{MYSQL_HOST}:{MYSQL_PORT}"]) == 0
    out = tmp_path / "report.json"
    rc = main_replay([
        str(trace), "--target", f"{MYSQL_HOST}:{MYSQL_PORT}", "--speed", "2",
        "--compare-direct", f"{MYSQL_HOST}:{MYSQL_PORT}", "--json", str(out),
        "--sample-interval", "0.2", "--fail-on-error",
    ])  # fmt: skip
    assert rc == 0
    report = json.loads(out.read_text())
    kinds = {r.kind for r in read_jsonl(trace)}
    for rep in (report, report["direct"]):
        st = rep["statements"]
        assert (st["ok"], st["failed"], st["unfinished"], st["not_dispatched"]) == (120, 0, 0, 0)
        assert set(rep["kinds"]) == kinds
        assert all(k["latency"]["p50"] > 0 for k in rep["kinds"].values())
    assert report["lanes"] == 6 and report["throughput_qps"] > 0
    # offered = 120 statements over the trace span at speed 2
    assert report["offered_qps"] == pytest.approx(120 / (report["trace"]["span_s"] / 2))
    # MariaDB is no coordinator: both admin statements were refused once, then not asked
    assert set(report["coordinator"]["unsupported"]) == {"thread_pool_status", "datasources"}
    assert (
        _query(f"SELECT COUNT(*) FROM {scratch_db}.t")[0][0]
        == 2 * sum(1 for r in read_jsonl(trace) if r.kind == "insert-batch") * 20
    )


def test_open_loop_on_a_real_server(tmp_path: Path) -> None:
    """One session, SLEEP(0.2) due every 10 ms: latency grows, service does not."""
    trace = tmp_path / "sleep.jsonl"
    trace.write_text(
        "".join(
            json.dumps({"t": k * 0.01, "session": 1, "sql": "SELECT SLEEP(0.2)", "kind": "sleep"})
            + "\n"
            for k in range(5)
        )
    )
    out = tmp_path / "r.json"
    assert (
        main_replay(
            [
                str(trace),
                "--target",
                f"{MYSQL_HOST}:{MYSQL_PORT}",
                "--no-sample",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    k = json.loads(out.read_text())["kinds"]["sleep"]
    assert k["ok"] == 5
    assert k["latency"]["max"] > 0.9  # the 5th was due at 40 ms and finished at ~1.0 s
    assert k["service"]["max"] < 0.5
    assert k["queue"]["max"] > 0.6


def test_replay_reports_server_errors_by_code(tmp_path: Path) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_text(
        json.dumps({"t": 0, "session": 1, "sql": "SELEC 1"})
        + "\n"
        + json.dumps({"t": 0, "session": 1, "sql": "SELECT * FROM no_such_db.no_such_table"})
        + "\n"
        + json.dumps({"t": 0, "session": 1, "sql": "SELECT 1"})
        + "\n"
    )
    out = tmp_path / "r.json"
    rc = main_replay(
        [
            str(trace),
            "--target",
            f"{MYSQL_HOST}:{MYSQL_PORT}",
            "--no-sample",
            "--json",
            str(out),
            "--fail-on-error",
        ]
    )
    assert rc == 1
    report = json.loads(out.read_text())
    assert {code: e["count"] for code, e in report["errors"].items()} == {"1064": 1, "1146": 1}
    assert report["statements"]["ok"] == 1  # the connection survived both errors


def test_replay_of_unreachable_target_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text(json.dumps({"t": 0, "session": 1, "sql": "SELECT 1"}) + "\n")
    from tests.mysqld import free_port

    rc = main_replay([str(trace), "--target", f"127.0.0.1:{free_port()}", "--no-sample"])
    assert rc == 1
    assert "could not be opened" in capsys.readouterr().err
