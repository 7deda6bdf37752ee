"""Batching: one data source's shard reads of a query in one round trip (UNION ALL).

A 1024-shard scatter on one server is 1024 statements; most of their cost is per
statement — a round trip, the server parsing and planning it, the driver reading one
result, a bridge hop and an executor child on our side. The reads a query starts in
the same scheduling round (every shard's first chunk, continuations that run dry
together) are collected per data source and sent as::

    (SELECT <list>, 0 FROM shard_0000.t ... LIMIT n) UNION ALL
    (SELECT <list>, 1 FROM shard_0001.t ... LIMIT n) UNION ALL ...

Each part keeps its own ORDER BY and LIMIT (parenthesised, MariaDB honours both); the
extra *last* column numbers the part, so the rows are split back per shard (appending
keeps ``ORDER BY 2``-style ordinals valid). Every part is the same statement on a
same-shaped table, so the union's column types are each part's own types.

Measured (``python -m bench.scatter``, ``bench/results/scatter.json``, 2 vCPUs shared
with the server): top-10 over 1024 shards of one server takes 2.43× the ``mariadb``
CLI's time unbatched and 1.14× batched (4 statements of 256 parts); 1 or 2 big
statements are slower (1.31×, 1.20×: the server runs a statement on one core), 8
about the same as 4 (1.19×). Raw aiomysql on the same shards: 1024 statements over 16
connections 0.07 s, one UNION ALL statement 0.03 s, 4 in parallel 0.015 s, a
1024-statement multi-statement 0.04 s (per-statement result metadata; and it needs
``CLIENT_MULTI_STATEMENTS`` on every connection) — so UNION ALL, in a few statements.
Bigger results gain less, as the per-row work takes over (same 1024 shards, 100 rows
each, batched ÷ unbatched time: top-10 0.46, GROUP BY 0.55, unordered full scan 0.80,
ordered full scan 0.89); no shape measured was slower batched. Nothing to gain: a read
routed to one shard (it is sent alone).

Where it does not apply, the read goes alone, as before: SQLite data sources (a
statement per attached database is already in-process), a shard statement whose text
the batcher cannot split after its select list, a batch of one. A server error on a
batch re-runs its parts one by one, so the error a client sees is the failing shard's
own (and a statement that only fails *because* it was batched still works).

Invariants: a batch is one executor child (it holds one slot and one window place, and
borrows one connection for one statement); every request gets exactly one outcome;
rows are returned to the request that asked for them, in the server's order.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import structlog
import trio

from sharding.backend.base import ResultSet
from sharding.errors import BackendError
from sharding.exec.connector import Connector
from sharding.exec.stream import Done
from sharding.exec.targets import Target
from sharding.sql.lexer import TOKEN
from sharding.sql.template import ShardTemplate

log = structlog.get_logger("sharding.exec.batch")


@dataclass(frozen=True)
class BatchPolicy:
    """When and how to batch.

    ``parallel``: a data source's pending reads are cut into about this many
    statements (run concurrently, each on its own connection); ``min_parts`` and
    ``max_parts`` bound the parts per statement, ``max_bytes`` its text.

    ``min_parts`` is 16 (``cluster.shards_per_statement``, :func:`policy_for`): a data
    source holding up to 16 of a read's shards gets one
    statement, not two of 8 (more shards: statements of 16, and from 64 shards on
    ``parallel`` statements). Most reads over few shards are small, and a statement
    more is a connection, an executor child, a stream and a result to merge: with 8,
    ``bench.concurrency``'s top-10 over 16 shards cost the server 0.68 ms of CPU per
    query, with 16 0.49 ms (1,151–1,190 → 1,467–1,484 q/s at 64 clients, 958–978 →
    1,238–1,244 at 4096); sysbench's four range statements 3,942 k → 3,410 k
    instructions (``bench.point_instructions --workload ranges``) and
    ``oltp_read_only`` 0.17–0.18 → 0.18–0.20 of direct MariaDB. The price is one core
    of MariaDB instead of two for one big read over ≤ 16 shards while nothing else
    runs: a ``SUM`` over 16 × 100,000 rows, alone on an idle two-core server, took
    470 ms as two statements and 692 ms as one (``bench/README.md``, ``oltp``).
    """

    enabled: bool = True
    parallel: int = 4
    min_parts: int = 16
    max_parts: int = 256
    max_bytes: int = 1 << 20

    def sizes(self, n: int) -> int:
        """Parts per statement for ``n`` pending reads."""
        per = math.ceil(n / max(1, self.parallel))
        return max(1, min(self.max_parts, max(self.min_parts, per)))


#: Per dialect; only the MySQL backend batches (see module docstring).
_POLICIES: dict[str, BatchPolicy] = {"mysql": BatchPolicy()}


def policy_for(dialect: str, min_parts: int | None = None) -> BatchPolicy | None:
    """The dialect's policy (None: it does not batch), with ``min_parts`` when given
    (``cluster.shards_per_statement``)."""
    policy = _POLICIES.get(dialect)
    if policy is None or not policy.enabled:
        return None
    if min_parts is None or min_parts == policy.min_parts:
        return policy
    return _with_min_parts(policy, min_parts)


@lru_cache(maxsize=16)
def _with_min_parts(policy: BatchPolicy, min_parts: int) -> BatchPolicy:
    return replace(policy, min_parts=min_parts, max_parts=max(policy.max_parts, min_parts))


def set_policy(dialect: str, policy: BatchPolicy) -> BatchPolicy | None:
    """Replace a dialect's policy (benchmarks compare with and without); returns the old."""
    old = _POLICIES.get(dialect)
    _POLICIES[dialect] = policy
    return old


@lru_cache(maxsize=4096)
def select_list_end(head: str) -> int | None:
    """Offset of the top-level ``FROM`` in ``head`` (a statement's text up to its first
    table name), if ``head`` is ``SELECT [DISTINCT] <list> FROM `` and nothing else;
    else None (not batchable)."""
    depth = 0
    tokens = [m for m in TOKEN.finditer(head) if m.lastgroup not in ("ws", "comment")]
    if not tokens or tokens[0].group().upper() != "SELECT":
        return None
    found: int | None = None
    for m in tokens[1:]:
        text = m.group()
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif m.lastgroup == "ident" and depth == 0:
            word = text.upper()
            if word == "FROM":
                if found is not None:
                    return None
                found = m.start()
            elif word in ("UNION", "INTO", "FOR", "LOCK", "WINDOW"):
                return None
    if found is None or head[found:].strip().upper() != "FROM":
        return None
    return found


def split_point(template: ShardTemplate) -> int | None:
    """Where a part number can be appended to every statement of ``template``."""
    if not template.holes:
        return None
    return select_list_end(template.parts[0])


class PartRequest:
    """One shard read waiting for its batch: ``done`` is set once ``result`` (and
    ``in_union``) or ``error`` is."""

    __slots__ = ("done", "error", "in_union", "result", "split", "sql", "target")

    def __init__(self, target: Target, sql: str, split: int) -> None:
        self.target = target
        self.sql = sql
        self.split = split
        self.done = Done()
        self.result: ResultSet | None = None
        self.error: BaseException | None = None
        #: The result came from a UNION ALL (its column definitions are the union's).
        self.in_union = False


RunChild = Callable[..., Awaitable[Any]]


@dataclass
class BatchStats:
    batches: int = 0
    parts: int = 0
    retried: int = 0


class Batcher:
    """Per logical query: collects reads per data source, sends them in batches.

    ``run_child(fn, *args, label=...)`` runs one executor child of the query;
    ``nursery`` (the query's) hosts the flush tasks.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        run_child: RunChild,
        connector: Connector,
        policy: BatchPolicy,
        stats: BatchStats | None = None,
    ) -> None:
        self._nursery = nursery
        self._run_child = run_child
        self._connector = connector
        self._policy = policy
        self._queues: dict[tuple[str, int], list[PartRequest]] = {}
        self.stats = stats or BatchStats()

    async def fetch(self, target: Target, sql: str, split: int, read: object) -> ResultSet:
        """One shard read, sent with the others of this round of the same ``read``
        (statements of one template: the union's parts must have the same columns);
        ``split``: see :func:`split_point`."""
        request = self.submit(target, sql, split, read)
        await request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def submit(self, target: Target, sql: str, split: int, read: object) -> PartRequest:
        """:meth:`fetch` without waiting: the request is answered when its batch is
        (``in_union``: the result came from a UNION ALL, whose column definitions are
        the union's, not the shard's: :mod:`sharding.exec.shard_columns`). A stream
        submits its chunks so, with no task of its own waiting for each."""
        request = PartRequest(target, sql, split)
        key = (target.datasource, id(read))
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = []
            self._nursery.start_soon(self._flush, key)
        queue.append(request)
        return request

    async def _flush(self, key: tuple[str, int]) -> None:
        # Reads started in this scheduling round (e.g. every stream of a merge) are
        # queued by now, or one round later: let that round run, then take them all.
        await trio.lowlevel.checkpoint()
        requests = self._queues.pop(key)
        datasource = key[0]
        size = self._policy.sizes(len(requests))
        batches: list[list[PartRequest]] = []
        current: list[PartRequest] = []
        nbytes = 0
        for r in requests:
            if current and (len(current) >= size or nbytes + len(r.sql) > self._policy.max_bytes):
                batches.append(current)
                current, nbytes = [], 0
            current.append(r)
            nbytes += len(r.sql) + 32
        if current:
            batches.append(current)
        if len(batches) == 1:
            await self._send(datasource, batches[0])  # no nursery and task for one
            return
        async with trio.open_nursery() as nursery:
            for batch in batches:
                nursery.start_soon(self._send, datasource, batch)

    async def _send(self, datasource: str, batch: list[PartRequest]) -> None:
        label = f"{datasource}/{len(batch)} shards" if len(batch) > 1 else batch[0].target.label
        try:
            await self._run_child(self._run, datasource, batch, label=label)
        except BaseException as exc:
            for r in batch:
                if not r.done.is_set():
                    r.error = exc
                    r.done.set()
            if not isinstance(exc, Exception):
                raise

    async def _run(self, datasource: str, batch: list[PartRequest]) -> None:
        databases = sorted({db for r in batch for db in r.target.databases})
        async with self._connector.connection(datasource, databases) as conn:
            if len(batch) == 1:
                r = batch[0]
                r.result = await conn.fetch(r.sql)
                r.done.set()
                return
            self.stats.batches += 1
            self.stats.parts += len(batch)
            sql = " UNION ALL ".join(
                f"({r.sql[: r.split].rstrip()}, {i} {r.sql[r.split :]})"
                for i, r in enumerate(batch)
            )
            try:
                rs = await conn.fetch(sql)
            except BackendError as exc:
                # The server rejected the batch: run the parts alone (the client then
                # sees the failing shard's own error, or nothing if only the batch failed).
                self.stats.retried += 1
                for r in batch:
                    r.result = await conn.fetch(r.sql)
                    r.done.set()
                log.warning(
                    "batch_failed_parts_succeeded",
                    datasource=datasource,
                    parts=len(batch),
                    error=str(exc),
                    sql=sql[:600],
                )
                return
        _distribute(rs, batch)


def _distribute(rs: ResultSet, batch: Sequence[PartRequest]) -> None:
    """Give each request its rows (tag column dropped), in the server's order. The
    statement's warnings are its parts' together: the first request carries them."""
    columns = rs.columns[:-1]
    per: list[list[tuple[Any, ...]]] = [[] for _ in batch]
    for row in rs.rows:
        per[int(row[-1])].append(row[:-1])
    for i, (r, rows) in enumerate(zip(batch, per, strict=True)):
        r.result = (
            ResultSet(columns, rows, rs.warnings, rs.notes) if i == 0 else ResultSet(columns, rows)
        )
        r.in_union = True
        r.done.set()
