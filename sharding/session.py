"""A client session: current database, autocommit, open transaction, statements.

Implements :class:`sharding.api.Session`. One statement runs at a time per session;
each is one logical executor query (``session`` = the session id, so the ``hash``
bucket policy keeps a session's queries in one bucket, like MySQL's
``thread_id % groups``). The statement flow:

``text → lexer (keyword, literals → ?) → plan cache / parse + plan → bind → run``

with INSERT taking the scanner fast path (a prepared INSERT's scanned shape is cached
by its text), DDL in :mod:`sharding.schema_changes` and SHOW/DESCRIBE in
:mod:`sharding.introspection`. Rows of a SELECT go to a sink
(:mod:`sharding.result_stream`): collected by ``execute``, handed over batch by batch
by ``stream``. Every failure leaves as a :class:`~sharding.errors.ShardgateError`, and
every statement logs one ``statement`` event (kind, rows, affected, fan-out, time).

Writes: a single statement on one shard outside a transaction runs in autocommit (it
is atomic by itself); anything larger uses the coordinator's commit strategy (one
transaction per data source, XA across sources where available).

Transactions: ``BEGIN``/``START TRANSACTION`` (or ``autocommit = 0``) opens one backend
transaction per data source on first use; ``COMMIT`` commits them in order (a failure
after the first commit is reported exactly), ``ROLLBACK`` rolls all back. DDL commits
an open transaction first, as in MySQL. ``close()`` rolls back.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog
import trio
from sqlglot import exp

from sharding.api import Result
from sharding.backend.base import Column, ExecResult, Row
from sharding.catalog import TableInfo
from sharding.errors import (
    BadArguments,
    EmptyQuery,
    NoDatabaseSelected,
    NotSupported,
    ParseError,
    QueryInterrupted,
    ShardgateError,
    UnknownTable,
)
from sharding.exec.connector import SessionTransaction
from sharding.exec.run import ExecStats, Runner, client_error, drive, passthrough_single
from sharding.exec.targets import Target, physical_names, route_shards, shard_targets
from sharding.exec.writes import WriteContext, WriteOp, commit_report, session_write, strategy
from sharding.introspection import Introspection
from sharding.result_stream import Collect, Counted, ResultStream, RowSink
from sharding.schema_changes import SchemaChanges
from sharding.sql.context import PlanContext
from sharding.sql.dml import WritePlan, plan_write
from sharding.sql.explain import SHOWN_SHARDS, explain_rows
from sharding.sql.insert import InsertRows, scan_insert
from sharding.sql.insert_plan import InsertShape, insert_shape, prepare_insert
from sharding.sql.lexer import Normalized, Slot, first_keyword, normalize, param_slots
from sharding.sql.literals import render_literal
from sharding.sql.nodes import OutputColumn, SelectPlan, ShardRead
from sharding.sql.parse import mysql_syntax_error, parse_one, placeholder_offset
from sharding.sql.plan import plan_select
from sharding.sql.rewrite import SLOT
from sharding.sql.scope import referenced_tables

if TYPE_CHECKING:
    from sharding.coordinator import Coordinator

log = structlog.get_logger("sharding")

_ids = itertools.count(1)
_SELECT_KINDS = ("SELECT", "WITH", "(")
#: Longer parameterised INSERTs are not cached (their shape holds every row's text).
_CACHED_INSERT_CHARS = 4096
_SESSION_FUNCS = re.compile(
    r"@@|\b(DATABASE|SCHEMA|VERSION|CONNECTION_ID|USER|CURRENT_USER|SESSION_USER|SYSTEM_USER|LAST_INSERT_ID)\s*\(",
    re.IGNORECASE,
)


class Prepared:
    """A plan bound to one call's values."""

    __slots__ = ("plan", "slots", "texts", "values")

    def __init__(
        self, plan: Any, slots: Sequence[Slot], values: list[Any], texts: list[str]
    ) -> None:
        self.plan = plan
        self.slots = slots
        self.values = values
        self.texts = texts


def render_name(col: OutputColumn, slots: Sequence[Slot]) -> str:
    if not col.slot_positions:
        return col.name
    out = col.name
    for offset, slot in sorted(col.slot_positions, reverse=True):
        s = slots[slot]
        text = s.raw if s.param is None else "?"
        out = out[:offset] + text + out[offset + 1 :]
    return out


class CoordinatorSession:
    """See module docstring; created by :meth:`Coordinator.open_session`."""

    def __init__(
        self,
        coord: Coordinator,
        *,
        user: str = "root",
        database: str | None = None,
        ephemeral: bool = False,
    ) -> None:
        self.coord = coord
        self.user = user
        self._id = next(_ids)
        self._database = database
        self._autocommit = True
        self._txn: SessionTransaction | None = None
        self._scope: trio.CancelScope | None = None
        self._query_id: int | None = None
        self._cancelled = False
        self._busy = False
        self._closed = False
        self._ephemeral = ephemeral
        self.last_insert_id: int | None = None

    # ------------------------------------------------------------------ protocol
    @property
    def id(self) -> int:
        return self._id

    @property
    def database(self) -> str | None:
        return self._database

    @property
    def in_transaction(self) -> bool:
        return self._txn is not None

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @property
    def query_id(self) -> int | None:
        """Executor query id of the running statement (for KILL / SHOW PROCESSLIST)."""
        return self._query_id

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        sink = Collect()
        result = await self._statement(sql, params, sink)
        if sink.columns is not None:
            # SELECTs deliver their rows; admin statements return them directly.
            result.rows = sink.collected
        return result

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> ResultStream:
        """A SELECT's rows with bounded memory (:class:`sharding.api.ResultStream`)."""

        async def run(sink: RowSink) -> Result:
            if first_keyword(sql) not in _SELECT_KINDS:
                raise NotSupported("stream() runs SELECT statements only")
            return await self._statement(sql, params, sink)

        return ResultStream(self.coord.spawn, run)

    async def use(self, database: str) -> None:
        await self.coord.catalog.check_database(database)
        self._database = database

    def database_dropped(self, name: str) -> None:
        """``DROP DATABASE name`` ran: no current database if it was this one (MySQL)."""
        if self._database == name:
            self._database = None

    def running(self, query_id: int) -> None:
        """The running statement's executor query (``KILL QUERY``, PROCESSLIST)."""
        self._query_id = query_id

    def cancel(self) -> None:
        if self._scope is None:
            return
        self._cancelled = True
        if self._query_id is not None:
            self.coord.executor.cancel_query(
                self._query_id, QueryInterrupted("Query execution was interrupted")
            )
        self._scope.cancel()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._txn is not None:
            txn, self._txn = self._txn, None
            await txn.finish(commit=False)

    # ------------------------------------------------------------------ statement
    async def _statement(self, sql: str, params: Sequence[Any] | None, sink: RowSink) -> Result:
        if self._closed:
            raise ShardgateError("session is closed", code=2006, sqlstate="HY000")
        if self._busy:
            raise ShardgateError(
                "Commands out of sync; a statement is already running on this session",
                code=2014,
                sqlstate="HY000",
            )
        self._busy = True
        self._cancelled = False
        counted = Counted(sink)
        stats = ExecStats()
        started = trio.current_time()
        kind = ""
        result: Result | None = None
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                try:
                    kind = first_keyword(sql)
                    result = await self._dispatch(kind, sql, params, counted, stats)
                except (trio.Cancelled, KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:
                    error = client_error(exc)
                    if isinstance(error, trio.Cancelled) or (
                        self._cancelled and not isinstance(error, ShardgateError)
                    ):
                        raise QueryInterrupted("Query execution was interrupted") from exc
                    if isinstance(error, ShardgateError):
                        if error is exc:
                            raise
                        if isinstance(error, UnknownTable):
                            # A shard lacks a table the cached catalog has: another
                            # coordinator dropped it. Reload before the next statement.
                            self.coord.catalog.invalidate()
                        raise error from exc
                    log.exception("internal error", session=self._id, sql=sql[:300])
                    raise ShardgateError(
                        f"internal error: {type(error).__name__}: {error}", code=1105
                    ) from exc
            if scope.cancelled_caught or result is None:
                raise QueryInterrupted("Query execution was interrupted")
        finally:
            self._scope = None
            self._query_id = None
            self._busy = False
            elapsed = trio.current_time() - started
            log.info(
                "statement",
                session=self._id,
                kind=kind,
                sql=sql[:300],
                elapsed_s=round(elapsed, 6),
                rows=(
                    counted.count + len(result.rows)
                    if result is not None and result.columns is not None
                    else None
                ),
                affected=(result.affected if result is not None else None),
                **stats.as_dict(),
            )
        return result

    async def _dispatch(
        self,
        kind: str,
        sql: str,
        params: Sequence[Any] | None,
        sink: Counted,
        stats: ExecStats,
    ) -> Result:
        if kind in _SELECT_KINDS:
            return await self._select(sql, params, sink, stats)
        if kind in ("INSERT", "REPLACE"):
            return await self._insert(sql, params, stats)
        if kind in ("UPDATE", "DELETE"):
            return await self._write_statement(sql, params, stats)
        if params:
            raise BadArguments(f"{kind} takes no parameters")
        if kind in ("CREATE", "DROP", "TRUNCATE", "ALTER", "RENAME"):
            if self._ephemeral is False and self._txn is not None:
                await self._finish_txn(commit=True)
            return await SchemaChanges(self).run(kind, sql)
        if kind in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN"):
            return await Introspection(self).run(kind, sql)
        if kind in ("USE", "BEGIN", "START", "COMMIT", "ROLLBACK", "SET"):
            return await self._session_statement(kind, sql)
        if not kind:
            raise EmptyQuery("Query was empty")
        parse_one(sql)  # an unknown word is a syntax error (1064), a known one 1235
        raise NotSupported(f"the statement {kind} is not supported by the sharding coordinator")

    # ------------------------------------------------------------------ prepare
    def _values(self, slots: Sequence[Slot], params: Sequence[Any] | None) -> list[Any]:
        p = params or ()
        # A number literal's value follows the backend (MySQL: ``0.5`` is a DECIMAL).
        literal = self.coord.semantics.literal
        return [
            (s.value if s.is_string else literal(s.raw, False)) if s.param is None else p[s.param]
            for s in slots
        ]

    def _texts(self, slots: Sequence[Slot], values: Sequence[Any]) -> list[str]:
        dialect = self.coord.semantics.dialect
        out = []
        for s, v in zip(slots, values, strict=True):
            if s.param is None and not s.is_string:
                out.append(s.raw)
            else:
                out.append(render_literal(v, dialect))
        return out

    async def _prepare(self, sql: str, params: Sequence[Any] | None, *, kind: str) -> Prepared:
        coord = self.coord
        norm = normalize(sql)
        count = len(params) if params else 0
        if count != norm.param_count:
            raise BadArguments(
                f"Incorrect arguments to mysqld_stmt_execute: statement has {norm.param_count} "
                f"placeholder(s), {count} value(s) given"
            )
        if kind == "select" and _SESSION_FUNCS.search(sql):
            return await self._plan_uncached(sql, norm, params, kind, session_funcs=True)
        values = self._values(norm.slots, params)
        key = (norm.text, self._database)
        generation = coord.catalog.generation
        plan = coord.plan_cache.get(key, values, generation)
        if plan is not None:
            return Prepared(plan, norm.slots, values, self._texts(norm.slots, values))
        try:
            tree = parse_one(norm.text)
        except ParseError:
            return await self._plan_uncached(sql, norm, params, kind)
        plan, deps = await self._plan(tree, norm.text, norm.slots, values, kind)
        coord.plan_cache.put(key, deps, plan, generation)
        return Prepared(plan, norm.slots, values, self._texts(norm.slots, values))

    async def _plan_uncached(
        self,
        sql: str,
        norm: Normalized,
        params: Sequence[Any] | None,
        kind: str,
        *,
        session_funcs: bool = False,
    ) -> Prepared:
        tree = parse_one(sql)  # raises the user-visible parse error (positions of ``sql``)
        slots = param_slots(sql)
        if session_funcs:
            tree = self._substitute_session_functions(tree)
        values = self._values(slots, params)
        plan, _ = await self._plan(tree, sql, slots, values, kind)
        return Prepared(plan, slots, values, self._texts(slots, values))

    def _substitute_session_functions(self, tree: exp.Expr) -> exp.Expr:
        coord = self.coord

        def repl(node: exp.Expr) -> exp.Expr:
            name = ""
            if isinstance(node, exp.Func):
                name = (
                    node.sql_name().upper()
                    if not isinstance(node, exp.Anonymous)
                    else node.name.upper()
                )
            if isinstance(node, exp.SessionParameter):
                value = coord.system_variable(node.name, self)
                return (
                    exp.Literal.string(value)
                    if isinstance(value, str)
                    else exp.Literal.number(value)
                )
            if name in ("DATABASE", "SCHEMA", "CURRENTSCHEMA", "CURRENT_SCHEMA"):
                return exp.Literal.string(self._database) if self._database else exp.Null()
            if name == "VERSION":
                return exp.Literal.string(coord.version)
            if name == "CONNECTION_ID":
                return exp.Literal.number(self._id)
            if name in ("USER", "CURRENTUSER", "CURRENT_USER", "SESSION_USER", "SYSTEM_USER"):
                return exp.Literal.string(f"{self.user}@localhost")
            if name == "LAST_INSERT_ID":
                return exp.Literal.number(self.last_insert_id or 0)
            return node

        return tree.transform(repl)

    async def _plan(
        self, tree: exp.Expr, source: str, slots: Sequence[Slot], values: list[Any], kind: str
    ) -> tuple[Any, dict[int, Any]]:
        coord = self.coord
        by_position = {s.position: i for i, s in enumerate(slots)}
        for node in tree.find_all(exp.Placeholder):
            offset = placeholder_offset(node)
            if offset is None or offset not in by_position:
                raise ShardgateError("internal error: unmatched placeholder", code=1105)
            node.meta[SLOT] = by_position[offset]
        names = referenced_tables(tree, self._database)
        tables: dict[tuple[str, str], TableInfo] = {}
        for db, name in names:
            tables[(db, name)] = await coord.catalog.lookup(db, name)
        ctx = PlanContext(
            tables=tables,
            database=self._database,
            sem=coord.semantics,
            cluster=coord.topology.cluster,
            source=source,
            slot_values=values,
            slot_raw=[s.raw for s in slots],
            slot_literal=[s.param is None for s in slots],
        )
        if kind == "select":
            if not isinstance(tree, exp.Select | exp.Union | exp.Intersect | exp.Except):
                raise NotSupported(f"{type(tree).__name__} where a SELECT was expected")
            plan: Any = plan_select(tree, ctx)
        else:
            if not isinstance(tree, exp.Update | exp.Delete):
                raise NotSupported(f"{type(tree).__name__} where UPDATE/DELETE was expected")
            plan = plan_write(tree, ctx)
        return plan, ctx.deps

    # ------------------------------------------------------------------ SELECT
    def connector(self) -> Any:
        return self._txn if self._txn is not None else self.coord.autocommit

    async def _ensure_implicit_txn(self) -> None:
        if not self._autocommit and self._txn is None:
            self._txn = self.coord.new_transaction()

    async def _select(
        self, sql: str, params: Sequence[Any] | None, sink: Counted, stats: ExecStats
    ) -> Result:
        prepared = await self._prepare(sql, params, kind="select")
        await self._ensure_implicit_txn()
        columns = await self._run_select(prepared, sink, stats)
        return Result(columns=columns)

    async def _run_select(
        self, prepared: Prepared, sink: Counted, stats: ExecStats
    ) -> list[Column]:
        """Run a planned SELECT into ``sink``: the header just before the first batch
        (its columns may come from the first shard result), or at the end if empty."""
        coord = self.coord
        plan: SelectPlan = prepared.plan
        sem = coord.semantics
        single = False if plan.join else passthrough_single(plan.single, prepared.values, sem)
        if single:
            root: Any = plan.single
        else:
            if plan.scatter is None:
                assert plan.scatter_error is not None
                raise plan.scatter_error
            root = plan.scatter
        runner: Runner | None = None

        def columns() -> list[Column]:
            if plan.columns is not None:
                return [Column(render_name(c, prepared.slots)) for c in plan.columns]
            if runner is not None and runner.columns is not None:
                return list(runner.columns)
            return []

        async def deliver(batch: list[Row]) -> bool:
            await sink.header(columns())
            return await sink.rows(batch)

        async with coord.executor.query(name="select", session=self._id) as q:
            self.running(q.id)
            async with trio.open_nursery() as nursery:
                runner = Runner(
                    q,
                    nursery,
                    self.connector(),
                    sem,
                    coord.topology.cluster,
                    prepared.values,
                    prepared.texts,
                    coord.topology.executor.window,
                    coord.default_datasource,
                    stats,
                )
                await drive(runner.operator(root), deliver)
                nursery.cancel_scope.cancel()
        result = columns()
        await sink.header(result)
        return result

    # ------------------------------------------------------------------ writes
    async def _write_statement(
        self, sql: str, params: Sequence[Any] | None, stats: ExecStats
    ) -> Result:
        prepared = await self._prepare(sql, params, kind="write")
        plan: WritePlan = prepared.plan
        ops = self._write_ops(plan, prepared)
        stats.shards = sum(len(v) for v in ops.values())
        results = await self._write(ops, plan.kind, stats)
        affected = sum(r.affected for rs in results.values() for r in rs)
        if plan.broadcast:
            # Every copy changed the same rows; report one copy's count.
            per_source = [sum(r.affected for r in rs) for rs in results.values()]
            affected = per_source[0] if per_source else 0
        return Result(affected=affected)

    def _write_ops(self, plan: WritePlan, prepared: Prepared) -> dict[str, list[WriteOp]]:
        """The statement per routed shard (every copy of a broadcast table), by source."""
        sem = self.coord.semantics
        read = ShardRead(plan.template, plan.tables, plan.route, 0, route_tables=(plan.table,))
        if plan.broadcast:
            targets = self._broadcast_targets(plan.tables)
        else:
            targets = shard_targets(read, route_shards(read, prepared.values, sem), sem.dialect)
        if plan.single_only and len(targets) > 1:
            raise NotSupported(
                f"{plan.kind.upper()} with ORDER BY/LIMIT on several shards (route it to one shard)"
            )
        bound = plan.template.bind(prepared.texts)
        ops: dict[str, list[WriteOp]] = {}
        for t in targets:
            ops.setdefault(t.datasource, []).append(
                WriteOp(t.datasource, t.databases, bound.fill(t.names), t.shard)
            )
        return ops

    def _commit_mode(self, ops: Mapping[str, list[WriteOp]]) -> str:
        """How a write will commit (EXPLAIN); mirrors :meth:`_write`."""
        if self._txn is not None or not self._autocommit:
            return "in the session's transaction (COMMIT ends it)"
        if _single_statement(ops) is not None:
            return "one statement, autocommit"
        return f"one transaction per data source, commit strategy {self.coord.commit_strategy!r}"

    def _broadcast_targets(self, tables: Sequence[TableInfo]) -> list[Target]:
        dialect = self.coord.semantics.dialect
        first = tables[0]
        out = []
        for i, ds in enumerate(first.rule.datasources):
            names = []
            dbs = set()
            for info in tables:
                if ds not in info.rule.datasources:
                    raise NotSupported(f"broadcast table {info.qualified} has no copy on {ds!r}")
                _, db, name = physical_names(info, dialect)[info.rule.datasources.index(ds)]
                names.append(name)
                dbs.add(db)
            out.append(Target(ds, i, tuple(names), tuple(sorted(dbs))))
        return out

    async def _write(
        self, ops: Mapping[str, list[WriteOp]], name: str, stats: ExecStats
    ) -> dict[str, list[ExecResult]]:
        coord = self.coord
        await self._ensure_implicit_txn()
        async with coord.executor.query(name=name, session=self._id) as q:
            self.running(q.id)

            async def run_child(fn: Callable[..., Awaitable[Any]], *args: Any, label: str) -> Any:
                stats.children += 1
                return await q.run(fn, *args, label=label)

            ctx = WriteContext(coord.datasources, run_child)
            if self._txn is not None:
                return await session_write(ops, ctx, self._txn.connection)
            single = _single_statement(ops)
            if single is not None:
                return {
                    single.datasource: [
                        await run_child(self._write_autocommit, single, label=single.label)
                    ]
                }
            return await strategy(coord.commit_strategy)(ops, ctx)

    async def _write_autocommit(self, op: WriteOp) -> ExecResult:
        """One statement on one shard outside a transaction: atomic by itself on every
        backend, so it runs on an autocommit connection — one round trip instead of
        BEGIN, statement, COMMIT (the bulk of a prepared single-row INSERT's cost)."""
        async with self.coord.datasources[op.datasource].connection(op.databases) as conn:
            return await conn.execute(op.sql)

    async def _insert(self, sql: str, params: Sequence[Any] | None, stats: ExecStats) -> Result:
        coord = self.coord
        shape = await self._insert_shape(sql)
        info, parsed = shape.info, shape.parsed
        prepared = shape.bind(params)
        given = len(params) if params else 0
        if parsed.param_count != given:
            raise BadArguments(
                f"Incorrect arguments to mysqld_stmt_execute: statement has {parsed.param_count} "
                f"placeholder(s), {given} value(s) given"
            )
        ids: list[int] = []
        if prepared.id_count:
            ids = await coord.catalog.next_ids(info.database, info.name, prepared.id_count)
        rows = prepared.finish(ids)
        if rows.largest_explicit_id is not None and info.auto_increment:
            await coord.catalog.observe_ids(info.database, info.name, rows.largest_explicit_id)
        ops = _insert_ops(rows)
        stats.shards = sum(len(v) for v in ops.values())
        results = await self._write(ops, "insert", stats)
        affected = sum(r.affected for rs in results.values() for r in rs)
        if info.broadcast:
            per_source = [sum(r.affected for r in rs) for rs in results.values()]
            affected = per_source[0] if per_source else 0
        if rows.first_id is not None:
            self.last_insert_id = rows.first_id
        return Result(affected=affected, last_insert_id=rows.first_id)

    async def _insert_shape(self, sql: str) -> InsertShape:
        """The scanned INSERT. A prepared statement's text (the same text with new
        parameters on every execution) is scanned once and kept in the plan cache."""
        coord = self.coord
        cacheable = "?" in sql and len(sql) <= _CACHED_INSERT_CHARS
        key = (sql, self._database)
        if cacheable:
            shape = coord.plan_cache.get(key, (), coord.catalog.generation)
            if isinstance(shape, InsertShape):
                return shape
        parsed = scan_insert(sql)
        database = parsed.database or self._database
        if not database:
            raise NoDatabaseSelected("No database selected")
        info = await coord.catalog.lookup(database, parsed.table)
        generation = coord.catalog.generation  # after a reload by lookup()
        shape = insert_shape(sql, parsed, info, coord.semantics, reuse=cacheable)
        if cacheable:
            coord.plan_cache.put(key, {}, shape, generation)
        return shape

    async def explain_rows(self, sql: str) -> list[tuple[Any, ...]]:
        kind = first_keyword(sql)
        coord = self.coord
        if kind in _SELECT_KINDS:
            prepared = await self._prepare(sql, None, kind="select")
            return list(
                explain_rows(
                    prepared.plan,
                    prepared.values,
                    prepared.texts,
                    coord.semantics,
                    coord.default_datasource,
                    coord.topology.cluster.chunk_rows,
                    coord.topology.cluster.merge_budget_rows,
                )
            )
        if kind in ("UPDATE", "DELETE"):
            prepared = await self._prepare(sql, None, kind="write")
            plan: WritePlan = prepared.plan
            ops = self._write_ops(plan, prepared)
            head = f"route: {plan.route.describe()}"
        elif kind in ("INSERT", "REPLACE"):
            parsed = scan_insert(sql)
            database = parsed.database or self._database
            if not database:
                raise NoDatabaseSelected("No database selected")
            info = await coord.catalog.lookup(database, parsed.table)
            insert = prepare_insert(sql, parsed, info, coord.semantics, None)
            split = insert.finish(list(range(1, insert.id_count + 1)))
            ops = _insert_ops(split)
            head = f"{split.rows} row(s) split by the scanner (no AST)"
        else:
            raise NotSupported(f"EXPLAIN {kind}")
        statements = [op for source in ops.values() for op in source]
        rows: list[tuple[Any, ...]] = [
            (
                1,
                kind.capitalize(),
                f"{len(statements)} shard statement(s); {head}; {self._commit_mode(ops)}",
            )
        ]
        for op in statements[:SHOWN_SHARDS]:
            rows.append((len(rows) + 1, f"  sql[{op.label}]", op.sql[:300]))
        if len(statements) > SHOWN_SHARDS:
            rows.append(
                (
                    len(rows) + 1,
                    "  sql[...]",
                    f"{len(statements) - SHOWN_SHARDS} more shard statement(s)",
                )
            )
        return rows

    # ------------------------------------------------------------------ session statements
    async def _session_statement(self, kind: str, sql: str) -> Result:
        if (self._ephemeral and kind in ("USE", "BEGIN", "START", "COMMIT", "ROLLBACK")) or (
            self._ephemeral and kind == "SET" and re.search(r"autocommit", sql, re.IGNORECASE)
        ):
            raise NotSupported(
                f"{kind} through Coordinator.execute(): open a session (coord.open_session()) "
                "for USE, transactions and autocommit"
            )
        text = sql.strip().rstrip(";").strip()
        if kind == "USE":
            name = text[3:].strip().strip("`")
            if not name:
                raise mysql_syntax_error(sql, 3, "USE needs a database")
            await self.use(name)
            return Result()
        if kind in ("BEGIN", "START"):
            if kind == "START" and not re.match(r"START\s+TRANSACTION\b", text, re.IGNORECASE):
                raise NotSupported(text[:40])
            if self._txn is not None:
                await self._finish_txn(commit=True)  # MySQL: BEGIN commits the open one
            self._txn = self.coord.new_transaction()
            return Result()
        if kind == "COMMIT":
            await self._finish_txn(commit=True)
            return Result()
        if kind == "ROLLBACK":
            if re.search(r"\bTO\b", text, re.IGNORECASE):
                raise NotSupported("ROLLBACK TO SAVEPOINT")
            await self._finish_txn(commit=False)
            return Result()
        # SET
        m = re.match(
            r"SET\s+(?:SESSION\s+|@@SESSION\.|@@LOCAL\.|LOCAL\s+|@@)?autocommit\s*(?:=|:=)\s*(\S+)\s*$",
            text,
            re.IGNORECASE,
        )
        if m:
            value = m.group(1).strip("'\"").upper()
            if value in ("1", "ON", "TRUE"):
                if self._txn is not None:
                    await self._finish_txn(commit=True)
                self._autocommit = True
            elif value in ("0", "OFF", "FALSE"):
                self._autocommit = False
            else:
                raise ShardgateError(
                    f"Variable 'autocommit' can't be set to the value of '{m.group(1)}'",
                    code=1231,
                    sqlstate="42000",
                )
            return Result()
        if re.match(r"SET\s+(GLOBAL\s+|@@GLOBAL\.)", text, re.IGNORECASE):
            raise NotSupported("SET GLOBAL on the sharding coordinator")
        # SET NAMES, character sets, sql_mode, time_zone, user variables...: accepted.
        return Result()

    async def _finish_txn(self, commit: bool) -> None:
        txn, self._txn = self._txn, None
        if txn is None:
            return
        results = await txn.finish(commit)
        commit_report(results, commit)


def _insert_ops(rows: InsertRows) -> dict[str, list[WriteOp]]:
    ops: dict[str, list[WriteOp]] = {}
    for ds, db, shard, text in rows.statements():
        ops.setdefault(ds, []).append(WriteOp(ds, (db,), text, shard))
    return ops


def _single_statement(ops: Mapping[str, list[WriteOp]]) -> WriteOp | None:
    """The write's only statement, if it has exactly one."""
    if len(ops) != 1:
        return None
    (only,) = ops.values()
    return only[0] if len(only) == 1 else None
