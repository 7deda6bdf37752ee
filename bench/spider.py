"""MariaDB Spider vs ``shardgate serve`` on the same 1024 shards, side by side (issue 17).

    python -m bench.spider [--quick] [--shards 1024] [--rows 200] [--rounds 9]
                           [--sources 1|4] [--batch 256] [--point-reps 20]

Spider is MariaDB's own sharding engine: a table whose partitions live in other tables
or servers — the peer a MariaDB user would pick instead of a coordinator. It is a
separate Debian package; this benchmark installs nothing at run time. Install it once::

    apt-get install -y mariadb-plugin-spider

(and remove the package's ``/etc/mysql/mariadb.conf.d/spider.cnf`` if the machine's own
server should not load it: the benchmark loads the plugin only into its private servers,
with ``--plugin-load-add=ha_spider``).

What runs, all in one process tree and torn down at the end (servers stopped by pid,
SIGTERM then SIGKILL after a bound; their temporary data directories removed):

* private ``mariadbd`` servers (own datadir, own port, 127.0.0.1 only). With
  ``--sources 1`` (the default) one server holds everything; with ``--sources 4`` four
  data servers hold the shards (shard ``i`` on server ``i % 4``, as shardgate places
  them) and a fifth, the *Spider head*, holds the Spider table and the flat table;
* shard databases ``sp_0000 … sp_NNNN``, each with ``t (id BIGINT PRIMARY KEY, k INT,
  v DOUBLE, s VARCHAR(32), g INT, KEY (k))`` and ``--rows`` rows (``id = shard + N·i``,
  the generator and seed of the recipe in ``shared/peers/spider/build.py``);
* ``flat.t``: the same rows in one plain table (what one server does without sharding);
* ``spider_db.t``: a Spider table ``PARTITION BY HASH (id)`` with one partition per
  shard, each pointing at ``sp_NNNN.t`` through a ``CREATE SERVER`` link (to the server
  itself with ``spider_same_server_link``, or to the data server holding the shard);
* ``shardgate serve`` in front of the same ``sp_NNNN.t`` tables (``algorithm = "mod"``,
  ``shards = N``, ``physical = "sp_{shard:04d}.t"``, one data source per data server,
  executor defaults);
* the *hand-written limit*: a plain PyMySQL client that sends, per data source, the
  shard subqueries as ``UNION ALL`` batches of ``--batch`` (256) wrapped in an outer
  query doing the same merge — ``SELECT … FROM (<union of per-shard top-10s>) x ORDER BY
  k DESC, id LIMIT 10``, ``SELECT g, SUM(c), SUM(sk) FROM (<union of per-shard partial
  aggregates>) x GROUP BY g`` — all batches at once (one connection each), then merges
  across batches in Python. The server merges its own shards; few rows cross the wire.

The queries (issue 17's table), each sent as the same text to ``flat``, Spider and
shardgate (table ``t`` of the connection's database), through PyMySQL:

    SELECT id, k, g, s FROM t ORDER BY k DESC, id LIMIT 10
    SELECT g, COUNT(*), AVG(k) FROM t GROUP BY g                      (50 groups)
    SELECT id, k, g, s FROM t ORDER BY k, id LIMIT 5 OFFSET 1000
    SELECT COUNT(*), SUM(k) FROM t
    SELECT id, k, g, s FROM t WHERE s = 's17' ORDER BY id
    SELECT id, k, g, s FROM t WHERE id = <an existing id>             (point query)

One unmeasured warm-up round, then ``--rounds`` interleaved rounds: each round runs
every query on every target, the targets' order rotating from round to round; a cell's
time is the median over the rounds (the point query is timed as the mean of
``--point-reps`` executions per round). Every answer of every target — warm-up and
measured — is compared with the flat table's (rows in order where the query orders
them, as a sorted multiset for the GROUP BY; numbers compared as decimals to 4 places,
so ``AVG`` as DECIMAL or DOUBLE compares alike; whether the values' types and text
also match exactly is recorded per cell). A difference or an error fails the run
(exit status 1) after the results are written.

Also measured, once per cell after the rounds: the rows the data servers sent for one
execution (the delta of their global ``Rows_sent``, less the rows sent to the client
when the client's server is itself a data server) — how many rows cross the wire
between the shards and whatever merges them (the issue's goal for a top-10: ≤ 10 per
batch). For ``flat`` it is 0 by construction (a sanity check of the counting).

Reported per query: ms for flat, Spider, shardgate, hand limit, and each one's ratio to
Spider's time in the same run. Results: ``bench/results/spider.json`` and
``spider.png`` (``spider_quick.*`` for ``--quick``; ``_sources4`` appended for
``--sources 4``); a full run without differences also writes its table into
``bench/README.md`` (between the ``<!-- bench.spider:NAME -->`` markers). ``--quick``
(64 shards × 50 rows, 3 rounds; well under a minute) is what
``tests/bench/test_spider_quick.py`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pymysql

from bench.args import command_line, positive_int
from bench.common import console, print_table, save_plot, write_results
from bench.serve import BenchSetupError, Served, die_with_parent, raise_nofile, served, toml_value

APT_LINE = "apt-get install -y mariadb-plugin-spider"
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
DDL = "(id BIGINT PRIMARY KEY, k INT, v DOUBLE, s VARCHAR(32), g INT, KEY (k))"
SEED = 7
LOGICAL_DB = "sp"
PHYSICAL = "sp_{shard:04d}.t"
TARGETS = ("flat", "spider", "shardgate", "hand")
LABELS = {
    "flat": "flat table",
    "spider": "Spider",
    "shardgate": "shardgate",
    "hand": "hand-written limit",
}
#: Issue 17's goal: shardgate ≤ 0.3 × Spider's time for these queries.
GOAL_RATIO = 0.3
GOAL_QUERIES = ("topn", "groupby", "offset", "count")
TOP, OFFSET, PAGE = 10, 1000, 5
FILTER_S = "s17"
Q4 = Decimal("0.0001")
Row = tuple[Any, ...]
#: The printed table's names of the queries (the JSON has the issue's labels and the SQL).
SHORT = {
    "topn": "top-10 k DESC, id",
    "groupby": "GROUP BY g (50)",
    "offset": "LIMIT 5 OFFSET 1000",
    "count": "COUNT(*), SUM(k)",
    "filter": "s = 's17' ORDER BY id",
    "point": "point by id",
}


def shard_table(shard: int) -> str:
    return PHYSICAL.format(shard=shard)


# -- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One query of the table, and how the hand-written client computes it: the per-shard
    subquery, the outer query wrapped around a batch's ``UNION ALL``, the merge of the
    batches' answers in Python."""

    key: str
    label: str
    sql: str
    ordered: bool  # the answer's row order is part of it
    shard: Callable[[str], str]  # physical table -> per-shard subquery
    outer: Callable[[str], str]  # union text -> the batch's statement
    merge: Callable[[list[list[Row]]], list[Row]]
    point: int | None = None  # a point query: only this id's shard is asked


COLS = "id, k, g, s"


def _merge_sorted(key: Callable[[Row], Any], start: int, stop: int | None) -> Callable[..., Any]:
    def merge(batches: list[list[Row]]) -> list[Row]:
        rows = [r for b in batches for r in b]
        rows.sort(key=key)
        return rows[start:stop]

    return merge


def _merge_groups(batches: list[list[Row]]) -> list[Row]:
    acc: dict[Any, list[Decimal]] = {}
    for b in batches:
        for g, c, sk in b:
            tot = acc.setdefault(g, [Decimal(0), Decimal(0)])
            tot[0] += Decimal(c)
            tot[1] += Decimal(sk)
    # MariaDB: AVG of an INT column is DECIMAL with div_precision_increment (4) more
    # digits, rounded half up.
    return [
        (g, int(c), (sk / c).quantize(Q4, rounding=ROUND_HALF_UP))
        for g, (c, sk) in sorted(acc.items())
    ]


def _merge_count(batches: list[list[Row]]) -> list[Row]:
    c = sum(int(b[0][0]) for b in batches)
    sk = sum(Decimal(b[0][1]) for b in batches)
    return [(c, sk)]


def queries(shards: int, rows: int) -> list[Query]:
    point_id = shards * min(7, rows - 1) + (123 % shards)  # shard 123 (mod N), row 7
    return [
        Query(
            "topn",
            f"ORDER BY k DESC, id LIMIT {TOP}",
            f"SELECT {COLS} FROM t ORDER BY k DESC, id LIMIT {TOP}",
            True,
            lambda t: f"SELECT {COLS} FROM {t} ORDER BY k DESC, id LIMIT {TOP}",
            lambda u: f"SELECT {COLS} FROM ({u}) x ORDER BY k DESC, id LIMIT {TOP}",
            _merge_sorted(lambda r: (-r[1], r[0]), 0, TOP),
        ),
        Query(
            "groupby",
            "SELECT g, COUNT(*), AVG(k) ... GROUP BY g (50 groups)",
            "SELECT g, COUNT(*), AVG(k) FROM t GROUP BY g",
            False,
            lambda t: f"SELECT g, COUNT(*) AS c, SUM(k) AS sk FROM {t} GROUP BY g",
            lambda u: f"SELECT g, SUM(c), SUM(sk) FROM ({u}) x GROUP BY g",
            _merge_groups,
        ),
        Query(
            "offset",
            f"ORDER BY k, id LIMIT {PAGE} OFFSET {OFFSET}",
            f"SELECT {COLS} FROM t ORDER BY k, id LIMIT {PAGE} OFFSET {OFFSET}",
            True,
            lambda t: f"SELECT {COLS} FROM {t} ORDER BY k, id LIMIT {OFFSET + PAGE}",
            lambda u: f"SELECT {COLS} FROM ({u}) x ORDER BY k, id LIMIT {OFFSET + PAGE}",
            _merge_sorted(lambda r: (r[1], r[0]), OFFSET, OFFSET + PAGE),
        ),
        Query(
            "count",
            "COUNT(*), SUM(k)",
            "SELECT COUNT(*), SUM(k) FROM t",
            True,
            lambda t: f"SELECT COUNT(*) AS c, SUM(k) AS sk FROM {t}",
            lambda u: f"SELECT SUM(c), SUM(sk) FROM ({u}) x",
            _merge_count,
        ),
        Query(
            "filter",
            f"WHERE s = '{FILTER_S}' ORDER BY id",
            f"SELECT {COLS} FROM t WHERE s = '{FILTER_S}' ORDER BY id",
            True,
            lambda t: f"SELECT {COLS} FROM {t} WHERE s = '{FILTER_S}'",
            lambda u: f"SELECT {COLS} FROM ({u}) x ORDER BY id",
            _merge_sorted(lambda r: r[0], 0, None),
        ),
        Query(
            "point",
            "point query by id",
            f"SELECT {COLS} FROM t WHERE id = {point_id}",
            True,
            lambda t: f"SELECT {COLS} FROM {t} WHERE id = {point_id}",
            lambda u: u,
            _merge_sorted(lambda r: r[0], 0, None),
            point=point_id,
        ),
    ]


# -- answers compared with care ------------------------------------------------------------


def norm_value(v: Any) -> Any:
    """Numbers as decimal text to 4 places (COUNT as int or DECIMAL, AVG as DECIMAL or
    DOUBLE compare alike); text as text."""
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int | Decimal):
        return str(Decimal(v).quantize(Q4, rounding=ROUND_HALF_UP))
    if isinstance(v, float):
        return str(Decimal(repr(v)).quantize(Q4, rounding=ROUND_HALF_UP))
    if isinstance(v, bytes | bytearray):
        return bytes(v).decode("utf-8", "replace")
    return v


def norm_rows(rows: Sequence[Row], ordered: bool) -> list[Row]:
    out = [tuple(norm_value(v) for v in r) for r in rows]
    return out if ordered else sorted(out, key=repr)


def exact_rows(rows: Sequence[Row], ordered: bool) -> list[Row]:
    """Values with their Python type and text: equal only when the wire types match too."""
    out = [tuple((type(v).__name__, str(v)) for v in r) for r in rows]
    return out if ordered else sorted(out, key=repr)


# -- private servers -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mariadbd:
    """A private ``mariadbd``: own datadir under ``root``, own port, loopback only; dies
    with the benchmark (PR_SET_PDEATHSIG) even if its cleanup is skipped."""

    def __init__(
        self, name: str, root: Path, *, spider: bool, buffer_pool: str, timeout: float = 90.0
    ) -> None:
        self.name = name
        self.dir = root / name
        self.spider = spider
        self.buffer_pool = buffer_pool
        self.timeout = timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def log_tail(self) -> str:
        try:
            return (self.dir / "error.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def start(self) -> Mariadbd:
        self.install()
        self.launch()
        return self.wait_ready()

    def install(self, template: Path | None = None) -> None:
        """``mariadb-install-db``, or a copy of another (stopped) server's fresh datadir:
        bootstraps running side by side collide on their temporary tables."""
        if not (os.path.exists(MARIADBD) and os.path.exists(INSTALL_DB)):
            raise BenchSetupError("bench.spider needs mariadbd and mariadb-install-db")
        self.dir.mkdir(parents=True)
        # Its own tmpdir: a mariadbd starting removes the ``#sql*`` files it finds in its
        # tmpdir, and with a shared /tmp that includes the temporary tables of a server
        # booting next to it (Spider's start-up queries then fail or crash the server).
        (self.dir / "tmp").mkdir()
        datadir = self.dir / "data"
        if template is not None:
            shutil.copytree(template, datadir, symlinks=True)
            return
        user = ["--user=root"] if os.geteuid() == 0 else []
        install = subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                f"--tmpdir={self.dir / 'tmp'}",
                *user,
            ],
            capture_output=True,
            timeout=self.timeout,
            check=False,
        )
        if install.returncode != 0:
            out = (install.stdout + install.stderr).decode(errors="replace")[-3000:]
            raise BenchSetupError(f"mariadb-install-db ({self.name}) failed:\n{out}")

    def launch(self) -> None:
        """Start ``mariadbd``: from the main thread, as PR_SET_PDEATHSIG fires when the
        thread that forked it ends, not the process."""
        datadir = self.dir / "data"
        user = ["--user=root"] if os.geteuid() == 0 else []
        self.port = free_port()
        args = [
            MARIADBD,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.dir / 'mysqld.sock'}",
            f"--pid-file={self.dir / 'mysqld.pid'}",
            f"--log-error={self.dir / 'error.log'}",
            f"--tmpdir={self.dir / 'tmp'}",
            "--skip-name-resolve",
            "--skip-log-bin",
            f"--innodb-buffer-pool-size={self.buffer_pool}",
            # Loading 1024 tables: no fsync per commit (reads are unaffected).
            "--innodb-flush-log-at-trx-commit=2",
            "--table-open-cache=16384",
            "--table-definition-cache=8192",
            "--max-connections=2000",
            *user,
        ]
        if self.spider:
            args += ["--plugin-load-add=ha_spider", "--loose-spider-same-server-link=1"]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )

    def wait_ready(self) -> Mariadbd:
        assert self.proc is not None
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchSetupError(f"mariadbd ({self.name}) exited at start:\n{self.log_tail()}")
            try:
                self.connect(connect_timeout=2).close()
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise BenchSetupError(
                        f"mariadbd ({self.name}) did not answer within {self.timeout:g}s:\n"
                        f"{self.log_tail()}"
                    ) from None
                time.sleep(0.2)
        if self.spider:
            with self.connect() as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT PLUGIN_VERSION FROM information_schema.PLUGINS "
                    "WHERE PLUGIN_NAME = 'SPIDER' AND PLUGIN_STATUS = 'ACTIVE'"
                )
                if cur.fetchone() is None:
                    raise BenchSetupError(
                        "the Spider engine did not load into the private mariadbd "
                        f"(install it once: {APT_LINE}); server log:\n{self.log_tail()}"
                    )
        return self

    def connect(
        self, database: str | None = None, *, connect_timeout: float = 10
    ) -> pymysql.connections.Connection:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=connect_timeout,
            read_timeout=300,
            write_timeout=300,
        )

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 30 s; never leaves the process behind."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass


@contextlib.contextmanager
def servers(sources: int) -> Iterator[tuple[Mariadbd, list[Mariadbd]]]:
    """(Spider head, data servers): one server for both with one source, else a head
    and ``sources`` data servers; booting side by side, stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="shardgate-bench-spider-"))
    if sources == 1:
        head = Mariadbd("s0", root, spider=True, buffer_pool="256M")
        data = [head]
        every = [head]
    else:
        head = Mariadbd("head", root, spider=True, buffer_pool="128M")
        data = [Mariadbd(f"s{j}", root, spider=False, buffer_pool="128M") for j in range(sources)]
        every = [head, *data]
    try:
        every[0].install()
        for s in every[1:]:
            s.install(template=every[0].dir / "data")
        for s in every:
            s.launch()
        for s in every:
            s.wait_ready()
        yield head, data
    finally:
        for s in every:
            s.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- the data ------------------------------------------------------------------------------


def generate(shards: int, rows: int) -> list[list[Row]]:
    """Rows of each shard: the recipe's generator (``shared/peers/spider/build.py``)."""
    rng = random.Random(SEED)
    return [
        [
            (
                s + shards * i,
                rng.randint(0, 100000),
                rng.random(),
                f"s{rng.randint(0, 999)}",
                rng.randint(0, 49),
            )
            for i in range(rows)
        ]
        for s in range(shards)
    ]


def _values(rows: Sequence[Row]) -> str:
    return ", ".join(f"({i}, {k}, {v!r}, '{s}', {g})" for i, k, v, s, g in rows)


def build(head: Mariadbd, data: list[Mariadbd], shards: int, rows: int) -> dict[str, float]:
    """Shard databases on the data servers, ``flat.t`` and ``spider_db.t`` on the head."""
    t0 = time.perf_counter()
    per_shard = generate(shards, rows)
    sources = len(data)

    def load(job: tuple[int, range]) -> None:
        j, part = job
        with data[j].connect() as conn, conn.cursor() as cur:
            for s in part:
                db = f"sp_{s:04d}"
                cur.execute(f"CREATE DATABASE {db}")
                cur.execute(f"CREATE TABLE {db}.t {DDL}")
                cur.execute(f"INSERT INTO {db}.t VALUES {_values(per_shard[s])}")

    # shard s lives on data server s % sources; 4 loader connections in all
    per_server = max(1, 4 // sources)
    jobs = [
        (j, range(j + sources * w, shards, sources * per_server))
        for j in range(sources)
        for w in range(per_server)
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(load, jobs))
    t_shards = time.perf_counter()
    everything = [r for part in per_shard for r in part]
    with head.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE flat")
        cur.execute(f"CREATE TABLE flat.t {DDL}")
        for i in range(0, len(everything), 5000):
            cur.execute(f"INSERT INTO flat.t VALUES {_values(everything[i : i + 5000])}")
        for j, srv in enumerate(data):
            cur.execute(
                f"CREATE SERVER ds{j} FOREIGN DATA WRAPPER mysql OPTIONS "
                f"(HOST '127.0.0.1', PORT {srv.port}, USER 'root', PASSWORD '')"
            )
        cur.execute("CREATE DATABASE spider_db")
        parts = ",\n".join(
            f'PARTITION p{s} COMMENT = \'srv "ds{s % sources}", database "sp_{s:04d}", table "t"\''
            for s in range(shards)
        )
        cur.execute(
            f"CREATE TABLE spider_db.t {DDL} ENGINE=SPIDER COMMENT='wrapper \"mysql\"' "
            f"PARTITION BY HASH (id) (\n{parts})"
        )
        for db in ("flat", "spider_db"):
            cur.execute(f"SELECT COUNT(*) FROM {db}.t")
            (n,) = cur.fetchone()
            if n != shards * rows:
                raise BenchSetupError(f"{db}.t holds {n} rows, expected {shards * rows}")
    t_end = time.perf_counter()
    return {
        "shards_seconds": round(t_shards - t0, 1),
        "flat_and_spider_seconds": round(t_end - t_shards, 1),
        "total_seconds": round(t_end - t0, 1),
    }


def serve_config(data: list[Mariadbd], shards: int) -> str:
    lines = ["[cluster]", f"database = {toml_value(LOGICAL_DB)}", "", "[executor]", ""]
    for j, srv in enumerate(data):
        lines += [
            "[[datasources]]",
            f'name = "m{j}"',
            'kind = "mysql"',
            f"url = {toml_value(f'mysql://root:@127.0.0.1:{srv.port}')}",
            "max_connections = 32",
            "",
        ]
    lines += [
        "[[tables]]",
        f"name = {toml_value(LOGICAL_DB + '.t')}",
        'shard_key = "id"',
        'algorithm = "mod"',
        f"shards = {shards}",
        f"physical = {toml_value(PHYSICAL)}",
        'primary_key = ["id"]',
        "",
        "[server]",
        'listen = "127.0.0.1:0"',
        'http = "127.0.0.1:0"',
        "shutdown_timeout = 2.0",
    ]
    return "\n".join(lines) + "\n"


# -- the four clients ----------------------------------------------------------------------


class Hand:
    """The hand-written limit: per data source, ``UNION ALL`` batches of ``batch`` shard
    subqueries inside the merging outer query, all batches at once, merged in Python."""

    def __init__(self, data: list[Mariadbd], shards: int, batch: int, qs: list[Query]) -> None:
        sources = len(data)
        self.shards = shards
        self.batches: list[tuple[int, list[int]]] = []
        for j in range(sources):
            mine = [s for s in range(shards) if s % sources == j]
            self.batches += [(j, mine[i : i + batch]) for i in range(0, len(mine), batch)]
        self.conns = [data[j].connect() for j, _ in self.batches]
        self.point_conns = [srv.connect() for srv in data]
        self.pool = ThreadPoolExecutor(len(self.batches)) if len(self.batches) > 1 else None
        # the statements are built once: this is the floor, not a client's planning
        self.sql = {
            q.key: [
                q.outer(" UNION ALL ".join(f"({q.shard(shard_table(s))})" for s in part))
                for _, part in self.batches
            ]
            for q in qs
            if q.point is None
        }

    @staticmethod
    def _fetch(conn: pymysql.connections.Connection, sql: str) -> list[Row]:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def run(self, q: Query) -> list[Row]:
        if q.point is not None:
            shard = q.point % self.shards
            conn = self.point_conns[shard % len(self.point_conns)]
            return q.merge([self._fetch(conn, q.shard(shard_table(shard)))])
        statements = self.sql[q.key]
        if self.pool is None:
            return q.merge([self._fetch(self.conns[0], statements[0])])
        return q.merge(list(self.pool.map(self._fetch, self.conns, statements)))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        for c in [*self.conns, *self.point_conns]:
            c.close()


class Clients:
    """One connection per target (flat and Spider on the head, shardgate on serve), and
    the hand-written client."""

    def __init__(self, head: Mariadbd, data: list[Mariadbd], sg: Served, hand: Hand) -> None:
        self.conns = {
            "flat": head.connect("flat"),
            "spider": head.connect("spider_db"),
            "shardgate": sg.connect(database=LOGICAL_DB, read_timeout=300, write_timeout=300),
        }
        self.hand = hand
        self.admin = [srv.connect() for srv in data]
        self.client_on_data_server = {
            "flat": head in data,
            "spider": head in data,
            "shardgate": False,
            "hand": False,  # what the hand client receives is what crossed the wire
        }

    def run(self, target: str, q: Query) -> list[Row]:
        if target == "hand":
            return self.hand.run(q)
        with self.conns[target].cursor() as cur:
            cur.execute(q.sql)
            return list(cur.fetchall())

    def rows_sent(self) -> int:
        total = 0
        for conn in self.admin:
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE 'Rows_sent'")
                total += int(cur.fetchone()[1])
        return total

    def wire_rows(self, target: str, q: Query, tries: int = 3) -> int:
        """Rows the data servers sent for one execution (the least of ``tries``: a
        background read of the coordinator's catalog cannot inflate it)."""
        idle = min(self._delta("", q)[0] for _ in range(3))
        best: int | None = None
        for _ in range(tries):
            sent, answer = self._delta(target, q)
            sent -= idle
            if self.client_on_data_server[target]:
                sent -= answer
            best = sent if best is None else min(best, sent)
        assert best is not None
        return max(0, best)

    def _delta(self, target: str, q: Query) -> tuple[int, int]:
        """(Rows_sent delta around one execution, rows answered); no target: none."""
        before = self.rows_sent()
        answer = len(self.run(target, q)) if target else 0
        return self.rows_sent() - before, answer

    def close(self) -> None:
        for c in [*self.conns.values(), *self.admin]:
            c.close()
        self.hand.close()


# -- the run -------------------------------------------------------------------------------


@dataclass
class Cell:
    samples: list[float]
    exact: bool = True
    error: str | None = None
    wire_rows: int | None = None


def measure(
    clients: Clients, qs: list[Query], rounds: int, point_reps: int
) -> tuple[dict[str, dict[str, Cell]], dict[str, int], list[dict[str, Any]]]:
    """Warm-up plus ``rounds`` interleaved rounds; every answer checked against flat's."""
    cells = {q.key: {t: Cell([]) for t in TARGETS} for q in qs}
    reference: dict[str, list[Row]] = {}
    exact_ref: dict[str, list[Row]] = {}
    counts: dict[str, int] = {}
    mismatches: list[dict[str, Any]] = []

    def check(q: Query, target: str, rows: list[Row], phase: str) -> None:
        got = norm_rows(rows, q.ordered)
        if got != reference[q.key]:
            if len(mismatches) < 20:
                mismatches.append(
                    {
                        "query": q.key,
                        "target": target,
                        "phase": phase,
                        "expected_rows": len(reference[q.key]),
                        "got_rows": len(got),
                        "expected_head": [list(r) for r in reference[q.key][:5]],
                        "got_head": [list(r) for r in got[:5]],
                    }
                )
            console.print(f"[red]{LABELS[target]} answered {q.key} differently ({phase})[/red]")
        if exact_rows(rows, q.ordered) != exact_ref[q.key]:
            cells[q.key][target].exact = False

    def run(q: Query, target: str, reps: int, phase: str) -> float | None:
        cell = cells[q.key][target]
        if cell.error is not None:
            return None
        try:
            start = time.perf_counter()
            for _ in range(reps):
                rows = clients.run(target, q)
            elapsed = (time.perf_counter() - start) / reps
        except Exception as exc:  # recorded per cell; the run fails at the end
            cell.error = f"{type(exc).__name__}: {exc}"[:500]
            console.print(f"[red]{LABELS[target]} failed on {q.key}: {cell.error}[/red]")
            return None
        check(q, target, rows, phase)
        return elapsed

    for q in qs:  # the reference first: the flat table, then everyone's warm-up
        rows = clients.run("flat", q)
        reference[q.key] = norm_rows(rows, q.ordered)
        exact_ref[q.key] = exact_rows(rows, q.ordered)
        counts[q.key] = len(rows)
        for target in TARGETS:
            run(q, target, 1, "warm-up")
    for r in range(rounds):
        order = TARGETS[r % len(TARGETS) :] + TARGETS[: r % len(TARGETS)]
        for q in qs:
            for target in order:
                t = run(q, target, point_reps if q.point is not None else 1, f"round {r + 1}")
                if t is not None:
                    cells[q.key][target].samples.append(t)
    for q in qs:
        for target in TARGETS:
            cell = cells[q.key][target]
            if cell.error is None:
                try:
                    cell.wire_rows = clients.wire_rows(target, q)
                except Exception as exc:
                    cell.error = f"{type(exc).__name__}: {exc}"[:500]
    return cells, counts, mismatches


def versions(head: Mariadbd) -> dict[str, str]:
    with head.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        (version,) = cur.fetchone()
        cur.execute(
            "SELECT PLUGIN_VERSION, PLUGIN_AUTH_VERSION FROM information_schema.PLUGINS "
            "WHERE PLUGIN_NAME = 'SPIDER'"
        )
        plugin, auth = cur.fetchone()
    return {"mariadb": str(version), "spider": f"{plugin} ({auth})"}


def report(
    qs: list[Query],
    cells: dict[str, dict[str, Cell]],
    counts: dict[str, int],
    mismatches: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    out = []
    for q in qs:
        row: dict[str, Any] = {
            "key": q.key,
            "label": q.label,
            "sql": q.sql,
            "rows": counts[q.key],
            "same_rows": not any(m["query"] == q.key for m in mismatches),
            "cells": {},
            "ratio_vs_spider": {},
        }
        for target in TARGETS:
            c = cells[q.key][target]
            entry: dict[str, Any] = {
                "exact_types": c.exact,
                "rows_from_shards": c.wire_rows,
            }
            if c.error is not None:
                entry["error"] = c.error
            if c.samples:
                entry.update(
                    median_ms=statistics.median(c.samples) * 1e3,
                    min_ms=min(c.samples) * 1e3,
                    max_ms=max(c.samples) * 1e3,
                    samples_ms=[round(s * 1e3, 4) for s in c.samples],
                )
            row["cells"][target] = entry
        spider = row["cells"]["spider"].get("median_ms")
        for target in TARGETS:
            ms = row["cells"][target].get("median_ms")
            row["ratio_vs_spider"][target] = (
                round(ms / spider, 3) if ms is not None and spider else None
            )
        if q.key in GOAL_QUERIES:
            ratio = row["ratio_vs_spider"]["shardgate"]
            row["goal"] = {
                "shardgate_vs_spider": f"<= {GOAL_RATIO}",
                "met": ratio is not None and ratio <= GOAL_RATIO,
            }
        out.append(row)
    return out


def _ms(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.2f}" if v < 10 else f"{v:.0f}"


def _cell_ms(cell: dict[str, Any]) -> str:
    return "ERROR" if "error" in cell else _ms(cell.get("median_ms"))


def _cell_wire(cell: dict[str, Any]) -> str:
    n = cell.get("rows_from_shards")
    return "—" if n is None else f"{n:,}"


def print_report(rows: list[dict[str, Any]], title: str) -> None:
    table = []
    for r in rows:
        c, ratio = r["cells"], r["ratio_vs_spider"]
        table.append(
            (
                SHORT[r["key"]],
                _cell_ms(c["flat"]),
                _cell_ms(c["spider"]),
                f"{_cell_ms(c['shardgate'])} ({ratio['shardgate']}×)",
                f"{_cell_ms(c['hand'])} ({ratio['hand']}×)",
                " / ".join(_cell_wire(c[t]) for t in ("spider", "shardgate", "hand")),
                "yes" if r["same_rows"] else "NO",
            )
        )
    print_table(
        title,
        [
            "query",
            "flat ms",
            "Spider ms",
            "shardgate ms (×Sp)",
            "hand limit ms (×Sp)",
            "rows from shards Sp/sg/hand",
            "same rows",
        ],
        table,
    )


README = Path(__file__).resolve().parent / "README.md"


def readme_table(rows: list[dict[str, Any]], data: dict[str, Any]) -> str:
    """The run as a Markdown table with its circumstances (what :func:`main` writes
    into ``bench/README.md``)."""
    load = ", ".join(f"{x:.1f}" for x in data["load_average_before"])
    lines = [
        f"Run {data['when']} on `{data['machine'].get('git', '?')}`, "
        f"{data['shards']} shards × {data['rows_per_shard']} rows, "
        f"{data['sources']} data source(s), median of {data['rounds']} interleaved rounds; "
        f"load average before: {load}. Written by `{data['command']}`.",
        "",
        "| query | flat | Spider | shardgate (× Spider) | hand-written limit (× Spider) "
        "| rows from shards: Spider / shardgate / hand | same rows |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    one_source = data["sources"] == 1
    for r in rows:
        c, ratio = r["cells"], r["ratio_vs_spider"]
        goal = r.get("goal")
        mark = ""
        if goal is not None and one_source:
            mark = " ✓" if goal["met"] else " ✗"
        elif goal is not None:  # several data sources: the goal is to be ahead of Spider
            mark = " ✓" if ratio["shardgate"] is not None and ratio["shardgate"] < 1 else " ✗"
        lines.append(
            f"| `{r['label']}` | {_cell_ms(c['flat'])} ms | {_cell_ms(c['spider'])} ms "
            f"| {_cell_ms(c['shardgate'])} ms ({ratio['shardgate']}×{mark}) "
            f"| {_cell_ms(c['hand'])} ms ({ratio['hand']}×) "
            f"| {' / '.join(_cell_wire(c[t]) for t in ('spider', 'shardgate', 'hand'))} "
            f"| {'yes' if r['same_rows'] else 'NO'} |"
        )
    lines.append("")
    goal = (
        f"shardgate ≤ {data['goal_ratio_vs_spider']} × Spider"
        if one_source
        else "shardgate ahead of Spider (< 1×)"
    )
    lines.append(f"✓/✗: the goal ({goal}) for top-N, GROUP BY, OFFSET and COUNT.")
    return "\n".join(lines) + "\n"


def update_readme(path: Path, name: str, table: str) -> None:
    """Replace the text between ``<!-- bench.spider:NAME -->`` and
    ``<!-- /bench.spider:NAME -->`` in ``path`` with ``table`` (the markers stay;
    nothing is written when they are missing)."""
    begin, end = f"<!-- bench.spider:{name} -->", f"<!-- /bench.spider:{name} -->"
    text = path.read_text()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        console.print(f"[yellow]{path.name}: no {begin} … {end} block; not updated[/yellow]")
        return
    path.write_text(text[: i + len(begin)] + "\n" + table + text[j:])


def draw_plot(name: str, rows: list[dict[str, Any]], title: str) -> None:
    colors = {"flat": "#999", "spider": "#c62", "shardgate": "#37b", "hand": "#4a7"}

    def draw(ax: Any) -> None:
        width = 0.2
        for k, target in enumerate(TARGETS):
            xs = [i + (k - 1.5) * width for i in range(len(rows))]
            ys = [r["cells"][target].get("median_ms", float("nan")) for r in rows]
            ax.bar(xs, ys, width, color=colors[target], label=LABELS[target])
        ax.set_yscale("log")
        ax.set_xticks(range(len(rows)), [r["key"] for r in rows], rotation=0, fontsize=8)
        ax.set_ylabel("median ms per query (log)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)

    save_plot(name, draw)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="python -m bench.spider", description=(__doc__ or "").split("\n", 1)[0]
    )
    p.add_argument("--quick", action="store_true", help="64 shards × 50 rows, 3 rounds")
    p.add_argument("--shards", type=positive_int, default=None, help="default 1024")
    p.add_argument("--rows", type=positive_int, default=None, help="rows per shard (200)")
    p.add_argument("--rounds", type=positive_int, default=None, help="timed rounds (9)")
    p.add_argument(
        "--sources",
        type=positive_int,
        default=1,
        help="data servers (1: Spider and shards on one server; N: a Spider head and N)",
    )
    p.add_argument(
        "--batch", type=positive_int, default=256, help="shards per UNION ALL (hand limit)"
    )
    p.add_argument(
        "--point-reps", type=positive_int, default=None, help="point queries per round (20)"
    )
    args = p.parse_args(argv)
    shards = args.shards or (64 if args.quick else 1024)
    rows = args.rows or (50 if args.quick else 200)
    rounds = args.rounds or (3 if args.quick else 9)
    point_reps = args.point_reps or (5 if args.quick else 20)
    if shards < args.sources:
        p.error(f"--shards {shards} < --sources {args.sources}: a data server would be empty")
    if shards > 9999:
        p.error("--shards: at most 9999 (sp_NNNN)")
    if shards * rows < OFFSET + PAGE:
        p.error(f"--shards × --rows must be at least {OFFSET + PAGE} (the OFFSET query)")
    name = "spider_quick" if args.quick else "spider"
    if args.sources != 1:
        name += f"_sources{args.sources}"
    raise_nofile(20000)
    qs = queries(shards, rows)
    load_before = os.getloadavg()
    started = time.perf_counter()
    with servers(args.sources) as (head, data):
        every = [head, *(s for s in data if s is not head)]
        console.print(
            f"[dim]private mariadbd: {', '.join(f'{s.name}:{s.port}' for s in every)}[/dim]"
        )
        built = build(head, data, shards, rows)
        console.print(
            f"[dim]built {shards} shards × {rows} rows, flat.t and spider_db.t in "
            f"{built['total_seconds']}s[/dim]"
        )
        info = versions(head)
        with served(serve_config(data, shards)) as sg:
            hand = Hand(data, shards, args.batch, qs)
            clients = Clients(head, data, sg, hand)
            try:
                cells, counts, mismatches = measure(clients, qs, rounds, point_reps)
            finally:
                clients.close()
    wall = round(time.perf_counter() - started, 1)
    result_rows = report(qs, cells, counts, mismatches)
    errors = [
        {"query": r["key"], "target": t, "error": c["error"]}
        for r in result_rows
        for t, c in r["cells"].items()
        if "error" in c
    ]
    placement = (
        "one private mariadbd holds the shards, flat.t and the Spider table"
        if args.sources == 1
        else f"{args.sources} data servers (shard i on server i % {args.sources}); "
        "a Spider head holds flat.t and the Spider table"
    )
    title = (
        f"{shards} shards × {rows} rows, {args.sources} data source(s): median of {rounds} "
        "interleaved rounds"
    )
    print_report(result_rows, title)
    data_out: dict[str, Any] = {
        "command": command_line("bench.spider", argv),
        "quick": args.quick,
        "shards": shards,
        "rows_per_shard": rows,
        "sources": args.sources,
        "placement": placement,
        "rounds": rounds,
        "point_reps": point_reps,
        "hand_batch": args.batch,
        "targets": list(TARGETS),
        "versions": info,
        "build": built,
        "same_rows": not mismatches,
        "mismatches": mismatches,
        "errors": errors,
        "goal_ratio_vs_spider": GOAL_RATIO,
        "goals_met": {r["key"]: r["goal"]["met"] for r in result_rows if "goal" in r},
        "queries": result_rows,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "wall_seconds": wall,
        "note": "ratio_vs_spider = median ms / Spider's median ms in the same run; "
        "rows_from_shards = rows the data servers sent for one execution "
        "(global Rows_sent delta, client rows excluded).",
    }
    draw_plot(name, result_rows, f"bench.spider: {title}")
    written = json.loads(write_results(name, data_out).read_text())
    if not args.quick and not mismatches and not errors:
        update_readme(README, name, readme_table(result_rows, written))
    if mismatches or errors:
        raise SystemExit(
            f"bench.spider: {len(mismatches)} answer(s) differ from the flat table's and "
            f"{len(errors)} cell(s) failed; see {name}.json"
        )
    return data_out


if __name__ == "__main__":
    try:
        main()
    except BenchSetupError as e:
        sys.exit(f"bench.spider: {e}")
