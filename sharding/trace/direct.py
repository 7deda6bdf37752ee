"""``replay --compare-direct``: the same logical work as per-shard statements to MariaDB.

The baseline is a client doing the sharding itself, straight against MariaDB, over the
data ``trace load`` put there: the spec's tables created with ``PARTITION BY HASH(key)
PARTITIONS n``, so MariaDB partition ``pK`` stands for shard ``K``. Each generated
statement (its ``kind`` and ``params``) is rendered as the statements a sharding client
sends, each restricted to one shard with MariaDB's partition selection
(``FROM db.customer PARTITION (p7)``), and the client merges the results:

================  =========================================================================
kind              per-shard work and client-side merge
================  =========================================================================
point             one statement on the key's partition (``p{key mod n}``)
scatter-topk      ``… ORDER BY score DESC, id DESC LIMIT 10`` on every partition; top 10 of
                  the union
aggregate         ``region, COUNT(*), SUM(balance), SUM(score), COUNT(score) … GROUP BY
                  region`` on every partition; sums added, ``AVG = ΣSUM / ΣCOUNT`` (rounded
                  to 4 places, MariaDB's ``div_precision_increment``)
sort-merge-join   each side read per partition in key order in chunks of ``min(chunk,
                  LIMIT)`` rows with a keyset continuation (``WHERE key > last``), the
                  partitions k-way merged (heap) and the two sides merge-joined until
                  ``LIMIT`` rows; the key range is pushed to both sides
insert-batch      the batch's rows regenerated from the spec and split by partition of
                  ``id1``: one ``INSERT INTO db.t PARTITION (pK) …`` per partition touched
================  =========================================================================

Per-shard statements of one logical statement run concurrently, at most ``window`` at a
time, over one shared pool of ``connections`` connections (the naive client-side
sharding of issue 6's baselines); a session's logical statements stay in order. Records
without generator ``params`` (general logs, hand-written lines) cannot be rendered and
are reported as skipped.

Invariant: :meth:`DirectExecutor.execute` returns exactly the rows the logical statement
returns on the same data (tests check it against MariaDB running the logical SQL on
the partitioned tables), so the comparison is of equal work, not of different answers.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aiomysql  # type: ignore[import-untyped]

from sharding.trace.format import TraceRecord
from sharding.trace.replay import NotRenderable
from sharding.trace.spec import WorkloadSpec, mariadb_partition, sql_literal
from sharding.trace.target import Endpoint, QuietCursor, connection_is_broken

__all__ = ["DirectExecutor", "DirectRunner"]

Row = tuple[Any, ...]


class DirectExecutor:
    """Renders and runs the per-shard form of generated statements (module docstring)."""

    def __init__(
        self,
        spec: WorkloadSpec,
        endpoint: Endpoint,
        *,
        connections: int = 32,
        window: int = 16,
        chunk: int = 1000,
    ) -> None:
        if connections < 1 or window < 1 or chunk < 1:
            raise ValueError("direct connections, window and chunk must be >= 1")
        self.spec = spec
        self.endpoint = endpoint
        self.connections = connections
        self.window = window
        self.chunk = chunk
        self.db = spec.database
        self.n = spec.shards
        self.statements_sent = 0
        self._pool: Any = None

    async def open(self) -> None:
        ep = self.endpoint
        kwargs: dict[str, Any] = {
            "host": ep.host,
            "port": ep.port,
            "user": ep.user,
            "password": ep.password,
            "autocommit": True,
            "charset": "utf8mb4",
            "connect_timeout": 10.0,
            "cursorclass": QuietCursor,
            "minsize": self.connections,
            "maxsize": self.connections,
        }
        if ep.database:
            kwargs["db"] = ep.database
        self._pool = await aiomysql.create_pool(**kwargs)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()

    # -- running statements ------------------------------------------------------------

    async def _query(self, sql: str) -> list[Row]:
        if self._pool is None:
            raise RuntimeError("DirectExecutor used before open()")
        self.statements_sent += 1
        async with self._pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    await cur.execute(sql)
                    return list(await cur.fetchall())
            except BaseException as e:
                # unread packets or a dead socket: the pool drops closed connections
                if not isinstance(e, Exception) or connection_is_broken(e):
                    conn.close()
                raise

    async def _fan_out(self, statements: Sequence[str]) -> list[list[Row]]:
        """Results of ``statements`` in input order; ≤ ``window`` in flight."""
        results: list[list[Row]] = [[] for _ in statements]
        cursor = iter(range(len(statements)))

        async def worker() -> None:
            for i in cursor:  # shared iterator: each index is taken by one worker
                results[i] = await self._query(statements[i])

        workers = min(self.window, len(statements))
        if workers <= 1:
            await worker()
            return results
        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(workers):
                    tg.create_task(worker())
        except ExceptionGroup as eg:
            raise _first_leaf(eg) from None
        return results

    async def execute(self, rec: TraceRecord) -> list[Row]:
        """The merged result of ``rec`` computed from per-shard statements."""
        if rec.kind is None or rec.params is None:
            raise NotRenderable(f"no generator params for {rec.label!r}")
        handler = {
            "point": self._point,
            "scatter-topk": self._topk,
            "aggregate": self._aggregate,
            "sort-merge-join": self._join,
            "insert-batch": self._insert,
        }.get(rec.kind)
        if handler is None:
            raise NotRenderable(f"kind {rec.kind!r} has no per-shard rendering")
        try:
            return await handler(dict(rec.params))
        except (KeyError, TypeError, ValueError) as e:
            raise NotRenderable(f"bad params for {rec.kind!r}: {e}") from None

    def _part(self, p: int) -> str:
        return f"PARTITION (p{p})"

    async def _point(self, params: dict[str, Any]) -> list[Row]:
        key = int(params["id"])
        p = mariadb_partition(key, self.n)
        return await self._query(
            f"SELECT id, region, score, balance, name FROM {self.db}.customer {self._part(p)} "
            f"WHERE id = {key}"
        )

    async def _topk(self, params: dict[str, Any]) -> list[Row]:
        region, limit = int(params["region"]), int(params["limit"])
        parts = await self._fan_out(
            [
                f"SELECT id, score FROM {self.db}.customer {self._part(p)} WHERE region = {region} "
                f"ORDER BY score DESC, id DESC LIMIT {limit}"
                for p in range(self.n)
            ]
        )
        return heapq.nlargest(
            limit, (r for rows in parts for r in rows), key=lambda r: (r[1], r[0])
        )

    async def _aggregate(self, params: dict[str, Any]) -> list[Row]:
        lo, hi = int(params["lo"]), int(params["hi"])
        parts = await self._fan_out(
            [
                f"SELECT region, COUNT(*), SUM(balance), SUM(score), COUNT(score) "
                f"FROM {self.db}.customer {self._part(p)} WHERE score BETWEEN {lo} AND {hi} "
                f"GROUP BY region"
                for p in range(self.n)
            ]
        )
        acc: dict[Any, list[Any]] = {}
        for rows in parts:
            for region, count, sum_balance, sum_score, count_score in rows:
                a = acc.setdefault(region, [0, Decimal(0), Decimal(0), 0])
                a[0] += count
                a[1] += sum_balance
                a[2] += sum_score
                a[3] += count_score
        out = []
        for region in sorted(acc):
            count, sum_balance, sum_score, count_score = acc[region]
            avg = (
                (Decimal(sum_score) / count_score).quantize(Decimal("0.0001"), ROUND_HALF_UP)
                if count_score
                else None
            )
            out.append((region, count, sum_balance, avg))
        return out

    async def _join(self, params: dict[str, Any]) -> list[Row]:
        limit = int(params["limit"])
        # every orders row read matches a customer (ids are dense), so no partition is
        # ever read past `limit` rows of it: a first chunk larger than that is waste
        chunk = min(self.chunk, limit)
        lo, hi = params.get("lo"), params.get("hi")
        c_range = o_range = ""
        if lo is not None and hi is not None:
            lo, hi = int(lo), int(hi)
            c_range = f"id BETWEEN {lo} AND {hi}"
            o_range = f"customer_id BETWEEN {lo} AND {hi}"

        def customer_sql(p: int, last: Row | None) -> str:
            conds = [c for c in (c_range, f"id > {last[0]}" if last else "") if c]
            where = f" WHERE {' AND '.join(conds)}" if conds else ""
            return (
                f"SELECT id, name FROM {self.db}.customer {self._part(p)}{where} "
                f"ORDER BY id LIMIT {chunk}"
            )

        def orders_sql(p: int, last: Row | None) -> str:
            after = (
                f"(customer_id > {last[0]} OR (customer_id = {last[0]} AND id > {last[1]}))"
                if last
                else ""
            )
            conds = [c for c in (o_range, after) if c]
            where = f" WHERE {' AND '.join(conds)}" if conds else ""
            return (
                f"SELECT customer_id, id, amount FROM {self.db}.orders {self._part(p)}{where} "
                f"ORDER BY customer_id, id LIMIT {chunk}"
            )

        customers = _MergedStreams(self, customer_sql, chunk, key=lambda r: (r[0],))
        orders = _MergedStreams(self, orders_sql, chunk, key=lambda r: (r[0], r[1]))
        try:
            async with asyncio.TaskGroup() as tg:  # both sides' first chunks at once
                tg.create_task(customers.start())
                tg.create_task(orders.start())
        except ExceptionGroup as eg:
            raise _first_leaf(eg) from None
        out: list[Row] = []
        c = await customers.next()
        o = await orders.next()
        while c is not None and o is not None and len(out) < limit:
            if c[0] < o[0]:
                c = await customers.next()
            elif c[0] > o[0]:
                o = await orders.next()
            else:  # customer ids are unique: keep c, advance the orders side
                out.append((c[0], c[1], o[1], o[2]))
                o = await orders.next()
        return out

    async def _insert(self, params: dict[str, Any]) -> list[Row]:
        table = self.spec.table(str(params["table"]))
        first, count = int(params["first_row"]), int(params["rows"])
        key_at = table.column_names.index(table.shard_key)
        by_part: dict[int, list[str]] = {}
        for i in range(first, first + count):
            row = table.row(self.spec.seed, i)
            p = mariadb_partition(row[key_at], self.n)
            by_part.setdefault(p, []).append("(" + ",".join(sql_literal(v) for v in row) + ")")
        cols = ", ".join(table.column_names)
        await self._fan_out(
            [
                f"INSERT INTO {table.qualified(self.db)} {self._part(p)} ({cols}) VALUES {','.join(vals)}"
                for p, vals in sorted(by_part.items())
            ]
        )
        return [(count,)]


class _MergedStreams:
    """One side of a join: every partition read in key order, k-way merged lazily.

    A partition's next chunk is fetched only when its buffered rows are used up, so
    memory is O(partitions × chunk) and one side holds no connection between chunks.
    """

    def __init__(
        self,
        ex: DirectExecutor,
        make_sql: Callable[[int, Row | None], str],
        chunk: int,
        *,
        key: Callable[[Row], tuple[Any, ...]],
    ) -> None:
        self.ex = ex
        self.chunk = chunk
        self.make_sql = make_sql
        self.key = key
        self.buffers: list[deque[Row]] = [deque() for _ in range(ex.n)]
        self.last: list[Row | None] = [None] * ex.n
        self.done = [False] * ex.n
        self.heap: list[tuple[tuple[Any, ...], int]] = []

    def _take(self, p: int, rows: list[Row]) -> None:
        self.buffers[p].extend(rows)
        if len(rows) < self.chunk:
            self.done[p] = True
        if rows:
            self.last[p] = rows[-1]

    async def start(self) -> None:
        first = await self.ex._fan_out([self.make_sql(p, None) for p in range(self.ex.n)])
        for p, rows in enumerate(first):
            self._take(p, rows)
            if self.buffers[p]:
                self.heap.append((self.key(self.buffers[p][0]), p))
        heapq.heapify(self.heap)

    async def next(self) -> Row | None:
        if not self.heap:
            return None
        _, p = heapq.heappop(self.heap)
        buf = self.buffers[p]
        row = buf.popleft()
        if not buf and not self.done[p]:
            self._take(p, await self.ex._query(self.make_sql(p, self.last[p])))
        if buf:
            heapq.heappush(self.heap, (self.key(buf[0]), p))
        return row


class DirectRunner:
    """A replay lane playing generated statements through a shared DirectExecutor."""

    def __init__(self, executor: DirectExecutor) -> None:
        self.executor = executor

    async def prepare(self) -> None:
        return None

    async def run(self, rec: TraceRecord) -> None:
        await self.executor.execute(rec)

    def close(self) -> None:
        return None


def _first_leaf(eg: BaseExceptionGroup[Any]) -> BaseException:
    exc: BaseException = eg
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
