"""Coordinator memory under large streams and held state (issue 18's memory benchmark).

    python -m bench.memory [--quick] [--shards 1024] [--rows 5000000] [--inner-rows 1000000]
                           [--subquery-rows N] [--groups G] [--interval 0.02] [--keep]

Issue 18's acceptance: "a memory benchmark shows peak RSS for a 1024-shard ``IN (SELECT
...)`` with a 1M-row inner result and a window function over 5M rows stays under the set
bound". Everything goes through ``shardgate serve`` (:func:`bench.serve.served`) in front
of the local MariaDB, read by PyMySQL with an unbuffered cursor (``SSCursor``: the client
holds one row at a time, so whatever is held, the coordinator holds it).

**Data** (built by the run, dropped at its end unless ``--keep``): logical database
``sgmem_bench`` with two tables split ``mod`` on ``id`` over ``--shards`` shard databases
(``sgmem_bench_0000.t`` …, created through the coordinator, then filled straight into
the physical tables with MariaDB's sequence engine, ``INSERT INTO sgmem_bench_NNNN.t
SELECT seq, … FROM seq_<s>_to_<N-1>_step_<shards>``):

* ``t (id BIGINT PRIMARY KEY, g INT, v INT, KEY (g, id))``: ``--rows`` rows, ids 0…N-1,
  ``g = id mod G`` with ``G`` ≈ rows / 50 (odd), so every window partition has ~50 rows
  spread over ~50 shards — partitions that span shards, which the coordinator must
  compute;
* ``u (id BIGINT PRIMARY KEY, k BIGINT)``: ``--inner-rows`` rows, ``k = id × 7919 mod N``
  (distinct, each naming a row of ``t`` on some shard);

and ``sgmem_flat`` holding the same rows in two plain tables: MariaDB's own answers
(counts and checksums) to compare with.

**Workloads**, each in a fresh ``shardgate serve`` process (so each peak is its own;
executor and cluster settings are the service's defaults but for ``subquery_rows`` in
the quick variant), warmed by a point query on each table, then measured:

* ``idle``: the coordinator after start-up and the warm-up, doing nothing for a few
  seconds (the baseline);
* ``scan``: ``SELECT id, g, v FROM t ORDER BY id`` — the ordered streaming path
  (MergeSort over every shard, keyset chunks), checked for order, count and sums;
* ``window``: ``SELECT id, g, ROW_NUMBER() OVER w, LEAD(id) OVER w FROM t`` with ``w =
  (PARTITION BY g ORDER BY id)``; ``g`` is not the shard key, so EXPLAIN shows a
  ``Window`` node at the coordinator over a ``MergeSort`` (recorded); LEAD needs the
  partition's next row, so each partition is *held* (the non-streamable path of
  :mod:`sharding.merge.window`). Checked against MariaDB computing the same window on
  the flat copy (count, Σrn, Σ id·rn, Σ LEAD·(id mod 997));
* ``in_at_bound``: ``SELECT id, v FROM t WHERE id IN (SELECT k FROM u WHERE id < B)``
  with ``B = cluster.subquery_rows``: the most values the coordinator holds, answered,
  checked against MariaDB;
* ``in_over``: ``SELECT id, v FROM t WHERE id IN (SELECT k FROM u)`` — the whole of
  ``u`` (1M values; quick: 2 × the lowered bound). The coordinator holds a subquery's
  values up to ``cluster.subquery_rows`` and refuses beyond it with a 1235 naming the
  setting: the cell records what happened — answered (with its check) or refused (with
  the error text) — and the peak RSS either way.

**Measured** per workload: rows, seconds, the coordinator's CPU seconds, its RSS before
the query (``idle_rss_mb``: VmRSS after the warm-up) and its peak while the query ran
(VmHWM, reset through ``/proc/PID/clear_refs`` after the warm-up, so start-up
transients do not count; the sampled maximum of VmRSS is recorded too), the growth
(peak − idle), and VmRSS sampled every ``--interval`` seconds from ``/proc/PID/status``
for the plot (RSS over time while the query runs: streams in the left panel, the
subqueries in the right, each workload's bound dashed in its colour). For the scan and
the window ``drift_mb`` is the highest RSS over the second half of the query minus the
highest over the first half: ~0 when memory is bounded, positive when the coordinator
keeps something per row it has sent.

What each path exercises, as EXPLAIN shows it at 1024 shards: the scan goes through the
data-source stage (``cluster.pushdown``: each MariaDB statement merges up to 256 shards'
chunks, ``SourceMerge``), so the coordinator merges a handful of streams; the window is
not pushed down, so its ``MergeSort`` merges all 1024 shard streams at the coordinator
(the ``2 × S × c`` term below at full size). The outer statement of the ``IN`` is routed
by the values: every shard holding one of them gets the statement with the whole value
list (at 1024 shards and 100,000 values: every shard, ~700 KB of SQL each).

**The bound checked** is ``idle_rss_mb + budget``, the budget derived from the settings
by the memory model of :mod:`sharding.exec.stream`, :mod:`sharding.merge.merge_sort`
and :mod:`sharding.merge.window` — never from the data size:

* *streams*: an ordered read of S shards uses chunks of ``c = chunk_rows(chunk_rows,
  merge_budget_rows, S)`` rows (``max(16, min(chunk_rows, merge_budget_rows / S))``:
  64 at 1024 shards, 1000 at 64); MergeSort holds one chunk per source and each stream
  prefetches one more, so at most ``2 × S × c`` rows (≤ 2 × ``merge_budget_rows`` =
  131,072 with the defaults); unordered feeds hold ``window × chunk``, less;
* *windows*: plus one held partition, at most ``cluster.union_rows`` rows;
* *IN (SELECT …)*: the inner read's stream, plus the values held (at most
  ``cluster.subquery_rows``), plus the outer statement that carries them (its parse
  tree and per-shard SQL text) and the outer stream.

Bytes per row and per value are the model's constants: ``ROW_BYTES`` = 1 KiB for a
streamed or held row (a tuple of 3–4 Python ints is ~200 B, its MergeSort sort key
~100–150 B, the driver's packet bytes and the per-shard split of a batched result
another ~100 B: ~½ KiB, so 1 KiB is a 2× margin); ``VALUE_BYTES`` = 8 KiB for a held
subquery value (its row ~100 B; its literal node in the statement tree ~700 B and
another ~550 B per copy of the tree, measured with tracemalloc on a parsed 100k-value
``IN`` list; its text in the shard SQL and the routing by value; the planner copies the
tree a few times: 8 KiB leaves ~2× over four copies); plus ``FIXED_MB`` = 32 MiB for
output batches, socket buffers and allocator slack. So with the defaults the budget is
128 + 32 MiB for a stream, + 98 MiB for a window partition, and for the ``IN``: two
streams + 100,000 × 8 KiB (781 MiB) — the value bound is what dominates, as it should:
it is the state the issue asks to bound by a setting. The bound does not depend on the
rows scanned: RSS that grows with the data (visible in the plot as a rising line during
a stream) is a bug, whatever the bound says.

Results: ``bench/results/memory.json`` and ``memory.png`` (``memory_quick.*`` for
``--quick``: 64 shards, 100,000 rows, ``subquery_rows`` lowered to 5,000 and an inner
result of 10,000; well under a minute, run by ``tests/bench/test_memory_quick.py``).
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors

from bench.args import positive_float, positive_int
from bench.common import RESULTS, console, print_table, write_results
from bench.serve import (
    BenchSetupError,
    Served,
    config_text,
    db_name,
    drop_sharded,
    mariadb,
    mariadb_available,
    process_cpu_seconds,
    process_rss_mb,
    served,
)

WORKLOADS = ("idle", "scan", "window", "in_at_bound", "in_over")
LABEL = {
    "idle": "idle",
    "scan": "scan",
    "window": "window",
    "in_at_bound": "IN at bound",
    "in_over": "IN over bound",
}
#: Bytes per streamed/held row and per held subquery value, and a fixed allowance (module
#: docstring: the memory model's constants).
ROW_BYTES = 1024
VALUE_BYTES = 8192
FIXED_MB = 32.0
#: Multiplier of ``u.k``: coprime with the row count, so the values are distinct.
STRIDE = 7919
#: Weight modulus of the LEAD checksum.
LEAD_MOD = 997

WINDOW_OVER = "OVER (PARTITION BY g ORDER BY id)"
QUERIES = {
    "scan": "SELECT id, g, v FROM t ORDER BY id",
    "window": f"SELECT id, g, ROW_NUMBER() {WINDOW_OVER} AS rn, LEAD(id) {WINDOW_OVER} AS nx FROM t",
    "in_at_bound": "SELECT id, v FROM t WHERE id IN (SELECT k FROM u WHERE id < {bound})",
    "in_over": "SELECT id, v FROM t WHERE id IN (SELECT k FROM u)",
}


@dataclass(frozen=True)
class Sizes:
    shards: int
    rows: int
    inner_rows: int
    subquery_rows: int | None  # None: the service's default
    groups: int


# -- settings and the bound ------------------------------------------------------------------


def config(db: str, sizes: Sizes) -> str:
    """The ``shardgate serve`` TOML: service defaults, ``subquery_rows`` when lowered."""
    text = config_text(
        database=db,
        executor={},  # the service's defaults
        datasource={"max_connections": 32},
        server={"max_connections": 16},
    )
    if sizes.subquery_rows is not None:
        text = text.replace("[cluster]\n", f"[cluster]\nsubquery_rows = {sizes.subquery_rows}\n")
    return text


def settings_of(text: str, shards: int) -> dict[str, Any]:
    """The bound settings in effect (parsed back from the TOML the server runs)."""
    import tomllib

    from sharding.exec.stream import chunk_rows
    from sharding.topology import Topology

    data = tomllib.loads(text)
    data.pop("server", None)  # serve's own section, not the topology's
    topo = Topology.from_dict(data)
    c, e = topo.cluster, topo.executor
    return {
        "cluster.chunk_rows": c.chunk_rows,
        "cluster.merge_budget_rows": c.merge_budget_rows,
        "cluster.union_rows": c.union_rows,
        "cluster.subquery_rows": c.subquery_rows,
        "cluster.unchunked_limit": c.unchunked_limit,
        "cluster.pushdown": c.pushdown,
        "executor.window": e.window,
        "executor.buckets": e.buckets,
        "executor.slots_per_bucket": e.slots_per_bucket,
        "chunk_per_shard": chunk_rows(c.chunk_rows, c.merge_budget_rows, shards),
    }


def budgets(settings: dict[str, Any], shards: int) -> dict[str, dict[str, Any]]:
    """Per workload: the rows and values the model lets it hold, and the budget in MB."""
    stream_rows = 2 * shards * settings["chunk_per_shard"]
    held = {
        "idle": (0, 0),
        "scan": (stream_rows, 0),
        "window": (stream_rows + settings["cluster.union_rows"], 0),
        # the inner read's stream, then the outer's, with the values held throughout
        "in_at_bound": (2 * stream_rows, settings["cluster.subquery_rows"]),
        "in_over": (2 * stream_rows, settings["cluster.subquery_rows"]),
    }
    out = {}
    for name, (rows, values) in held.items():
        mb = FIXED_MB + (rows * ROW_BYTES + values * VALUE_BYTES) / 2**20
        out[name] = {"rows": rows, "values": values, "budget_mb": round(mb, 1)}
    return out


# -- data ------------------------------------------------------------------------------------


def groups_for(rows: int) -> int:
    """About 50 rows per window partition; odd, so a partition's ids spread over shards."""
    return max(1, rows // 50) | 1


def stride_for(rows: int) -> int:
    stride = STRIDE
    while math.gcd(stride, rows) != 1:
        stride += 2
    return stride


def load(db: str, flat: str, sizes: Sizes, text: str) -> dict[str, float]:
    """Create the sharded tables through the coordinator, fill the shards and the flat
    copy straight from MariaDB's sequence engine; seconds per step."""
    drop_all(db, flat, sizes.shards)
    took: dict[str, float] = {}
    started = time.perf_counter()
    with served(text) as srv, srv.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
        cur.execute(f"USE {db}")
        cur.execute(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, g INT NOT NULL, v INT NOT NULL, "
            f"KEY gi (g, id)) PARTITION BY HASH (id) PARTITIONS {sizes.shards}"
        )
        cur.execute(
            "CREATE TABLE u (id BIGINT PRIMARY KEY, k BIGINT NOT NULL) "
            f"PARTITION BY HASH (id) PARTITIONS {sizes.shards}"
        )
    took["create_seconds"] = round(time.perf_counter() - started, 1)
    n, m, g, stride = sizes.rows, sizes.inner_rows, sizes.groups, stride_for(sizes.rows)
    t_cols = f"seq, seq % {g}, (seq * 31) % 1000"
    u_cols = f"seq, (seq * {stride}) % {n}"

    def fill(part: range) -> None:
        with mariadb() as c, c.cursor() as k:
            for s in part:
                if s < n:
                    k.execute(
                        f"INSERT INTO `{db}_{s:04d}`.t SELECT {t_cols} "
                        f"FROM test.seq_{s}_to_{n - 1}_step_{sizes.shards}"
                    )
                if s < m:
                    k.execute(
                        f"INSERT INTO `{db}_{s:04d}`.u SELECT {u_cols} "
                        f"FROM test.seq_{s}_to_{m - 1}_step_{sizes.shards}"
                    )

    def fill_flat() -> None:
        with mariadb() as c, c.cursor() as k:
            k.execute(f"CREATE DATABASE {flat}")
            k.execute(
                f"CREATE TABLE {flat}.t (id BIGINT PRIMARY KEY, g INT NOT NULL, v INT NOT NULL)"
            )
            k.execute(f"CREATE TABLE {flat}.u (id BIGINT PRIMARY KEY, k BIGINT NOT NULL)")
            k.execute(f"INSERT INTO {flat}.t SELECT {t_cols} FROM test.seq_0_to_{n - 1}")
            k.execute(f"INSERT INTO {flat}.u SELECT {u_cols} FROM test.seq_0_to_{m - 1}")

    started = time.perf_counter()
    workers = 4
    with ThreadPoolExecutor(workers + 1) as pool:
        jobs = [pool.submit(fill, range(w, sizes.shards, workers)) for w in range(workers)]
        jobs.append(pool.submit(fill_flat))
        for job in jobs:
            job.result()
    took["load_seconds"] = round(time.perf_counter() - started, 1)
    return took


def drop_all(db: str, flat: str, shards: int) -> None:
    drop_sharded(db, shards)
    with mariadb() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {flat}")


def expected(flat: str, sizes: Sizes, bound: int) -> dict[str, dict[str, int]]:
    """MariaDB's answers on the flat copy (the same checks the client computes)."""
    sums = {
        "scan": f"SELECT COUNT(*), SUM(v), SUM(id) FROM {flat}.t",
        "window": (
            f"SELECT COUNT(*), SUM(rn), SUM(id * rn), SUM(IFNULL(nx, -1) * (id % {LEAD_MOD})) "
            f"FROM (SELECT id, g, ROW_NUMBER() {WINDOW_OVER} AS rn, LEAD(id) {WINDOW_OVER} AS nx "
            f"FROM {flat}.t) x"
        ),
        "in_at_bound": (
            f"SELECT COUNT(*), SUM(v), SUM(id) FROM {flat}.t "
            f"WHERE id IN (SELECT k FROM {flat}.u WHERE id < {bound})"
        ),
        "in_over": (
            f"SELECT COUNT(*), SUM(v), SUM(id) FROM {flat}.t WHERE id IN (SELECT k FROM {flat}.u)"
        ),
    }
    names = {
        "scan": ("rows", "sum_v", "sum_id"),
        "window": ("rows", "sum_rn", "sum_id_rn", "sum_lead"),
        "in_at_bound": ("rows", "sum_v", "sum_id"),
        "in_over": ("rows", "sum_v", "sum_id"),
    }
    out: dict[str, dict[str, int]] = {}
    with mariadb() as conn, conn.cursor() as cur:
        for name, sql in sums.items():
            cur.execute(sql)
            row = cur.fetchone()
            out[name] = {k: int(v or 0) for k, v in zip(names[name], row, strict=True)}
    return out


# -- the client's side of each workload ------------------------------------------------------


class Check:
    """Counts and checksums of the rows a workload streams (one row at a time)."""

    def __init__(self, workload: str) -> None:
        self.workload = workload
        self.values: dict[str, int] = {"rows": 0}
        self.ordered = True
        self._last = -1

    def consume(self, cursor: Any) -> None:
        n = 0
        if self.workload == "scan":
            sv = si = 0
            last, ordered = self._last, True
            for id_, _g, v in cursor:
                n += 1
                sv += v
                si += id_
                if id_ <= last:
                    ordered = False
                last = id_
            self.values.update(rows=n, sum_v=sv, sum_id=si)
            self.ordered = ordered
        elif self.workload == "window":
            srn = sirn = slead = 0
            for id_, _g, rn, nx in cursor:
                n += 1
                srn += rn
                sirn += id_ * rn
                slead += (-1 if nx is None else nx) * (id_ % LEAD_MOD)
            self.values.update(rows=n, sum_rn=srn, sum_id_rn=sirn, sum_lead=slead)
        else:
            sv = si = 0
            for id_, v in cursor:
                n += 1
                sv += v
                si += id_
            self.values.update(rows=n, sum_v=sv, sum_id=si)


# -- RSS sampling ----------------------------------------------------------------------------


class Sampler:
    """VmRSS of a process every ``interval`` seconds, in a thread: [(seconds, MB)]."""

    def __init__(self, pid: int, interval: float) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, _ = process_rss_mb(self.pid)
            self.samples.append((time.perf_counter() - self._t0, rss))
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        rss, _ = process_rss_mb(self.pid)
        self.samples.append((time.perf_counter() - self._t0, rss))

    def thinned(self, points: int = 600) -> list[list[float]]:
        """At most ``points`` samples for the JSON, each bucket keeping its maximum."""
        s = self.samples
        if len(s) <= points:
            return [[round(t, 3), round(r, 1)] for t, r in s]
        step = len(s) / points
        out = []
        for i in range(points):
            chunk = s[int(i * step) : max(int(i * step) + 1, int((i + 1) * step))]
            t, r = max(chunk, key=lambda x: x[1])
            out.append([round(t, 3), round(r, 1)])
        return out


def drift(samples: list[tuple[float, float]]) -> float | None:
    """Highest RSS in the second half of a stream minus the highest in the first half:
    about 0 when memory is bounded, the growth over the second half of the rows when
    it is not (a stream that holds what it has sent)."""
    if len(samples) < 10:
        return None
    end = samples[-1][0]
    first = [r for t, r in samples if t <= end / 2]
    second = [r for t, r in samples if t > end / 2]
    return round(max(second) - max(first), 1)


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux ≥ 4.0, same user)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _explain(srv: Served, db: str, sql: str) -> list[str]:
    with srv.connect(db) as conn, conn.cursor() as cur:
        cur.execute("EXPLAIN " + sql)
        return [f"{r[1]}  {r[2]}" for r in cur.fetchall()]


def warm(srv: Served, db: str) -> None:
    """One query per table: the catalog is loaded, the pool has connections."""
    with srv.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.execute("SELECT id, g, v FROM t WHERE id = 1")
        cur.fetchall()
        cur.execute("SELECT id, k FROM u WHERE id = 1")
        cur.fetchall()


def run_workload(
    name: str, sql: str | None, text: str, db: str, args: Any
) -> tuple[dict[str, Any], list[list[float]]]:
    """One workload in a fresh ``shardgate serve``: the cell and its RSS samples."""
    with served(text) as srv:
        pid = srv.proc.pid
        startup_rss, startup_peak = process_rss_mb(pid)
        warm(srv, db)
        time.sleep(args.settle)
        idle_rss, warm_peak = process_rss_mb(pid)
        cell: dict[str, Any] = {
            "query": sql,
            "startup_rss_mb": round(startup_rss, 1),
            "startup_peak_mb": round(startup_peak, 1),
            "warm_peak_mb": round(warm_peak, 1),
            "idle_rss_mb": round(idle_rss, 1),
            "peak_reset": reset_peak(pid),
        }
        if sql is not None and name == "window":
            cell["explain"] = _explain(srv, db, sql)
            cell["window_at_coordinator"] = any(
                line.strip().startswith("Window") for line in cell["explain"]
            )
        check = Check(name)
        cpu0 = process_cpu_seconds(pid)
        with (
            srv.connect(db, cursorclass=pymysql.cursors.SSCursor) as conn,
            Sampler(pid, args.interval) as sampler,
        ):
            started = time.perf_counter()
            if sql is None:
                time.sleep(args.idle_seconds)
            else:
                try:
                    with conn.cursor() as cur:
                        cur.execute(sql)
                        check.consume(cur)
                    cell["outcome"] = "answered"
                except pymysql.err.MySQLError as e:
                    code = e.args[0] if e.args and isinstance(e.args[0], int) else None
                    cell["outcome"] = "refused"
                    cell["error_code"] = code
                    cell["error"] = str(e.args[1] if len(e.args) > 1 else e)
            seconds = time.perf_counter() - started
        rss_after, peak = process_rss_mb(pid)
        cell.update(
            seconds=round(seconds, 2),
            cpu_seconds=round(process_cpu_seconds(pid) - cpu0, 2),
            peak_rss_mb=round(peak, 1),
            sampled_max_rss_mb=round(max(r for _, r in sampler.samples), 1),
            rss_after_mb=round(rss_after, 1),
            samples=len(sampler.samples),
        )
        if sql is not None:
            cell.update(check.values)
            cell["rows_per_second"] = round(check.values["rows"] / seconds) if seconds else None
            if name == "scan":
                cell["ordered"] = check.ordered
            if name in ("scan", "window"):
                cell["drift_mb"] = drift(sampler.samples)
        alive = srv.proc.poll() is None
        cell["server_alive_after"] = alive
        if not alive:
            cell["server_log_tail"] = srv.log_tail()
    return cell, sampler.thinned()


# -- the run ---------------------------------------------------------------------------------


def run(args: Any) -> dict[str, Any]:
    sizes = Sizes(
        shards=args.shards,
        rows=args.rows,
        inner_rows=args.inner_rows,
        subquery_rows=args.subquery_rows,
        groups=args.groups or groups_for(args.rows),
    )
    db, flat = db_name("sgmem_bench"), db_name("sgmem_flat")
    text = config(db, sizes)
    settings = settings_of(text, sizes.shards)
    bound_rows = settings["cluster.subquery_rows"]
    if bound_rows > sizes.inner_rows:
        raise BenchSetupError(
            f"--inner-rows {sizes.inner_rows} is below cluster.subquery_rows {bound_rows}: "
            "the at-the-bound workload needs that many rows in u"
        )
    limits = budgets(settings, sizes.shards)
    started = time.perf_counter()
    cells: dict[str, Any] = {}
    series: dict[str, list[list[float]]] = {}
    try:
        timings = load(db, flat, sizes, text)
        print(f"loaded in {timings['create_seconds'] + timings['load_seconds']:.1f}s", flush=True)
        t0 = time.perf_counter()
        want = expected(flat, sizes, bound_rows)
        timings["expected_seconds"] = round(time.perf_counter() - t0, 1)
        for name in WORKLOADS:
            sql = QUERIES.get(name)
            if sql is not None:
                sql = sql.format(bound=bound_rows)
            cell, samples = run_workload(name, sql, text, db, args)
            budget = limits[name]
            cell["budget_rows"] = budget["rows"]
            cell["budget_values"] = budget["values"]
            cell["budget_mb"] = budget["budget_mb"]
            cell["bound_mb"] = round(cell["idle_rss_mb"] + budget["budget_mb"], 1)
            cell["growth_mb"] = round(cell["peak_rss_mb"] - cell["idle_rss_mb"], 1)
            cell["within_bound"] = cell["peak_rss_mb"] <= cell["bound_mb"]
            if name in want:
                cell["expected"] = want[name]
                if cell.get("outcome") == "answered":
                    got = {k: cell[k] for k in want[name]}
                    cell["correct"] = got == want[name]
                else:
                    cell["correct"] = None  # no answer to check
            cells[name] = cell
            series[name] = samples
            _progress(name, cell)
    finally:
        if not args.keep:
            drop_all(db, flat, sizes.shards)
    idle = cells["idle"]
    return {
        "quick": args.quick,
        "shards": sizes.shards,
        "rows": sizes.rows,
        "inner_rows": sizes.inner_rows,
        "groups": sizes.groups,
        "rows_per_partition": round(sizes.rows / sizes.groups, 1),
        "settings": settings,
        "model": {
            "row_bytes": ROW_BYTES,
            "value_bytes": VALUE_BYTES,
            "fixed_mb": FIXED_MB,
            "budgets": limits,
            "bound": "idle_rss_mb (this workload's process, after warm-up) + budget_mb",
        },
        "baseline_idle_rss_mb": idle["idle_rss_mb"],
        "workloads": list(WORKLOADS),
        "queries": {k: v.format(bound=bound_rows) for k, v in QUERIES.items()},
        "cells": cells,
        "rss_series": series,
        "timings": timings,
        "interval_seconds": args.interval,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "loadavg": _loadavg(),
        "note": "peak_rss_mb is VmHWM since the reset after warm-up (clear_refs); "
        "growth_mb = peak_rss_mb - idle_rss_mb; bound_mb = idle_rss_mb + budget_mb.",
    }


def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def _progress(name: str, cell: dict[str, Any]) -> None:
    what = cell.get("outcome", "idle")
    print(
        f"{name}: {what}, {cell.get('rows', '—')} rows in {cell['seconds']}s, "
        f"peak {cell['peak_rss_mb']} MB (idle {cell['idle_rss_mb']}, bound {cell['bound_mb']})",
        flush=True,
    )


def table_rows(data: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name in data["workloads"]:
        c = data["cells"][name]
        outcome = c.get("outcome", "—")
        if outcome == "refused":
            outcome = f"refused {c.get('error_code')}"
        correct = c.get("correct")
        rows.append(
            [
                LABEL[name],
                c.get("rows", "—"),
                c["seconds"],
                outcome,
                "—" if correct is None else ("yes" if correct else "NO"),
                c["idle_rss_mb"],
                c["peak_rss_mb"],
                c["growth_mb"],
                c["bound_mb"],
                "yes" if c["within_bound"] else "NO",
            ]
        )
    return rows


COLORS = {
    "idle": "tab:gray",
    "scan": "tab:blue",
    "window": "tab:green",
    "in_at_bound": "tab:orange",
    "in_over": "tab:red",
}
PANELS = (
    ("streams: idle, ordered scan, window", ("idle", "scan", "window")),
    ("IN (SELECT …): at and over cluster.subquery_rows", ("idle", "in_at_bound", "in_over")),
)


def draw_panel(ax: Any, data: dict[str, Any], title: str, names: tuple[str, ...]) -> None:
    """RSS over time of ``names``, each with its bound (dashed, same colour)."""
    for name in names:
        pts = data["rss_series"].get(name) or []
        if not pts:
            continue
        c = data["cells"][name]
        label = f"{name}: peak {c['peak_rss_mb']:.0f} MB"
        if c.get("outcome") == "refused":
            label += f" (error {c.get('error_code')})"
        xs = [p[0] for p in pts]
        ax.plot(xs, [p[1] for p in pts], color=COLORS[name], label=label)
        if name != "idle":
            ax.hlines(c["bound_mb"], 0, max(xs[-1], 1e-3), colors=COLORS[name], linestyles="dashed")
    ax.set_xlabel("seconds since the query was sent")
    ax.set_ylabel("coordinator RSS (MB; dashed: the bound)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="center right")


def save_plot(name: str, data: dict[str, Any]) -> Path | None:
    """Two panels (streams; subqueries) into ``bench/results/<name>.png``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the bench extra is not installed
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    for ax, (title, names) in zip(axes, PANELS, strict=True):
        draw_panel(ax, data, title, names)
    fig.suptitle(
        f"shardgate serve RSS while each query runs — {data['shards']} shards, "
        f"{data['rows']:,} rows, inner {data['inner_rows']:,}",
        fontsize=10,
    )
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="python -m bench.memory", description=(__doc__ or "").split("\n", 1)[0]
    )
    p.add_argument("--quick", action="store_true", help="64 shards, 100,000 rows, lowered bound")
    p.add_argument("--shards", type=positive_int, default=None, help="default 1024 (quick 64)")
    p.add_argument("--rows", type=positive_int, default=None, help="rows of t (default 5M)")
    p.add_argument("--inner-rows", type=positive_int, default=None, help="rows of u (default 1M)")
    p.add_argument(
        "--subquery-rows",
        type=positive_int,
        default=None,
        help="cluster.subquery_rows (default: the service's; quick 5000)",
    )
    p.add_argument("--groups", type=positive_int, default=None, help="window partitions")
    p.add_argument("--interval", type=positive_float, default=0.02, help="RSS sample period")
    p.add_argument("--settle", type=positive_float, default=None, help="seconds after warm-up")
    p.add_argument("--idle-seconds", type=positive_float, default=None)
    p.add_argument("--keep", action="store_true", help="keep the databases (debugging)")
    args = p.parse_args(argv)
    if args.quick:
        args.shards = args.shards or 64
        args.rows = args.rows or 100_000
        args.subquery_rows = args.subquery_rows or 5_000
        args.inner_rows = args.inner_rows or 2 * args.subquery_rows
    args.shards = args.shards or 1024
    args.rows = args.rows or 5_000_000
    args.inner_rows = args.inner_rows or 1_000_000
    args.settle = args.settle or (0.5 if args.quick else 2.0)
    args.idle_seconds = args.idle_seconds or (1.0 if args.quick else 5.0)
    if args.shards > 9999:
        p.error("--shards: at most 9999 (physical names are <db>_NNNN)")
    if args.inner_rows > args.rows:
        p.error("--inner-rows must be <= --rows (each value names a distinct row of t)")
    if not mariadb_available():
        raise BenchSetupError("bench.memory needs MariaDB (SHARDGATE_BENCH_MYSQL_HOST/PORT)")
    data = run(args)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # a log file: room for every column
    print_table(
        f"coordinator memory: {data['shards']} shards, {data['rows']:,} rows, inner "
        f"{data['inner_rows']:,} (subquery_rows {data['settings']['cluster.subquery_rows']:,})",
        [
            "workload",
            "rows",
            "s",
            "outcome",
            "right",
            "idle MB",
            "peak MB",
            "+MB",
            "bound MB",
            "under",
        ],
        table_rows(data),
    )
    for name in ("in_at_bound", "in_over"):
        c = data["cells"][name]
        if c.get("outcome") == "refused":
            print(f"{name}: {c['error_code']} {c['error']}")
    name = "memory_quick" if args.quick else "memory"
    save_plot(name, data)
    write_results(name, data)
    return data


if __name__ == "__main__":
    try:
        main()
    except BenchSetupError as e:
        sys.exit(f"bench.memory: {e}")
