"""A client session: current database, autocommit, open transaction, statements.

Implements :class:`sharding.api.Session`. One statement runs at a time per session;
each is one logical executor query (``session`` = the session id, so the ``hash``
bucket policy keeps a session's queries in one bucket, like MySQL's
``thread_id % groups``). The statement flow:

``text → lexer (keyword, literals → ?) → plan cache / parse + plan → bind → run``

with INSERT taking the scanner fast path and DDL/admin statements handled here
directly. Every failure leaves as a :class:`~sharding.errors.ShardgateError`.

Transactions: ``BEGIN``/``START TRANSACTION`` (or ``autocommit = 0``) opens one backend
transaction per data source on first use; ``COMMIT`` commits them in order (a failure
after the first commit is reported exactly), ``ROLLBACK`` rolls all back. DDL commits
an open transaction first, as in MySQL. ``close()`` rolls back.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog
import trio
from sqlglot import exp

from sharding.api import Result
from sharding.backend.base import Column, ExecResult, Row
from sharding.catalog import IndexInfo, TableInfo
from sharding.errors import (
    NoDatabaseSelected,
    NotSupported,
    ParseError,
    QueryInterrupted,
    ShardgateError,
    TableExists,
    UnknownTable,
)
from sharding.exec.connector import SessionTransaction
from sharding.exec.run import ExecStats, Runner, client_error, drive, passthrough_single
from sharding.exec.targets import Target, physical_names, route_shards, shard_targets
from sharding.exec.writes import WriteContext, WriteOp, commit_report, session_write, strategy
from sharding.sql.ddl import (
    build_table,
    drop_index_sql,
    drop_table_sql,
    fill_ddl,
    index_sql,
    split_partition,
    truncate_sql,
)
from sharding.sql.dml import WritePlan, plan_write
from sharding.sql.explain import explain_rows
from sharding.sql.insert import scan_insert
from sharding.sql.insert_plan import prepare_insert
from sharding.sql.lexer import Normalized, Slot, first_keyword, normalize
from sharding.sql.literals import render_literal
from sharding.sql.nodes import OutputColumn, SelectPlan, ShardRead
from sharding.sql.parse import mysql_syntax_error, parse_one, placeholder_offset
from sharding.sql.plan import PlanContext, plan_select
from sharding.sql.rewrite import SLOT
from sharding.sql.scope import referenced_tables

if TYPE_CHECKING:
    from sharding.coordinator import Coordinator

log = structlog.get_logger("sharding")

_ids = itertools.count(1)
_SESSION_FUNCS = re.compile(
    r"@@|\b(DATABASE|SCHEMA|VERSION|CONNECTION_ID|USER|CURRENT_USER|SESSION_USER|SYSTEM_USER|LAST_INSERT_ID)\s*\(",
    re.IGNORECASE,
)
WrongArguments = 1210


class BadArguments(ShardgateError):
    code = 1210
    sqlstate = "HY000"


class Prepared:
    """A plan bound to one call's values."""

    __slots__ = ("plan", "slots", "texts", "values")

    def __init__(self, plan: Any, slots: Sequence[Slot], values: list[Any], texts: list[str]) -> None:
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

    def __init__(self, coord: Coordinator, *, user: str = "root", database: str | None = None, ephemeral: bool = False) -> None:
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
        rows: list[Row] = []

        async def deliver(batch: list[Row]) -> bool:
            rows.extend(batch)
            return True

        result = await self._statement(sql, params, deliver)
        if result.columns is not None and not result.rows:
            # SELECTs deliver their rows; admin statements return them directly.
            result.rows = rows
        return result

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> AsyncIterator[list[Row]]:
        return ResultStream(self, sql, params)

    async def use(self, database: str) -> None:
        await self.coord.catalog.check_database(database)
        self._database = database

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
    async def _statement(
        self,
        sql: str,
        params: Sequence[Any] | None,
        deliver: Callable[[list[Row]], Awaitable[bool]],
    ) -> Result:
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
        stats = ExecStats()
        started = trio.current_time()
        kind = ""
        result: Result | None = None
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                try:
                    kind = first_keyword(sql)
                    result = await self._dispatch(kind, sql, params, deliver, stats)
                except (trio.Cancelled, KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:
                    error = client_error(exc)
                    if isinstance(error, trio.Cancelled) or (self._cancelled and not isinstance(error, ShardgateError)):
                        raise QueryInterrupted("Query execution was interrupted") from exc
                    if isinstance(error, ShardgateError):
                        if error is exc:
                            raise
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
                rows=(len(result.rows) if result is not None and result.columns is not None else None),
                affected=(result.affected if result is not None else None),
                **stats.as_dict(),
            )
        return result

    async def _dispatch(
        self,
        kind: str,
        sql: str,
        params: Sequence[Any] | None,
        deliver: Callable[[list[Row]], Awaitable[bool]],
        stats: ExecStats,
    ) -> Result:
        if kind in ("SELECT", "WITH", "("):
            return await self._select(sql, params, deliver, stats)
        if kind in ("INSERT", "REPLACE"):
            return await self._insert(sql, params, stats)
        if kind in ("UPDATE", "DELETE"):
            return await self._write_statement(sql, params, stats)
        if params:
            raise BadArguments(f"{kind} takes no parameters")
        if kind in ("CREATE", "DROP", "TRUNCATE", "ALTER", "RENAME"):
            if self._ephemeral is False and self._txn is not None:
                await self._finish_txn(commit=True)
            return await self._ddl(kind, sql, stats)
        if kind in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN"):
            return await self._admin(kind, sql)
        if kind in ("USE", "BEGIN", "START", "COMMIT", "ROLLBACK", "SET"):
            return await self._session_statement(kind, sql)
        if not kind:
            raise ParseError("Query was empty", code=1065)
        parse_one(sql)  # an unknown word is a syntax error (1064), a known one 1235
        raise NotSupported(f"the statement {kind} is not supported by the sharding coordinator")

    # ------------------------------------------------------------------ prepare
    def _values(self, slots: Sequence[Slot], params: Sequence[Any] | None) -> list[Any]:
        p = params or ()
        return [s.value if s.param is None else p[s.param] for s in slots]

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
        self, sql: str, norm: Normalized, params: Sequence[Any] | None, kind: str, *, session_funcs: bool = False
    ) -> Prepared:
        tree = parse_one(sql)  # raises the user-visible parse error (positions of ``sql``)
        slots = tuple(s for s in _param_slots(sql))
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
                name = node.sql_name().upper() if not isinstance(node, exp.Anonymous) else node.name.upper()
            if isinstance(node, exp.SessionParameter):
                value = coord.system_variable(node.name, self)
                return exp.Literal.string(value) if isinstance(value, str) else exp.Literal.number(value)
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
        self,
        sql: str,
        params: Sequence[Any] | None,
        deliver: Callable[[list[Row]], Awaitable[bool]],
        stats: ExecStats,
    ) -> Result:
        prepared = await self._prepare(sql, params, kind="select")
        await self._ensure_implicit_txn()
        columns = await self.run_select(prepared, deliver, stats)
        return Result(columns=columns)

    async def run_select(
        self, prepared: Prepared, deliver: Callable[[list[Row]], Awaitable[bool]], stats: ExecStats
    ) -> list[Column]:
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
        async with coord.executor.query(name="select", session=self._id) as q:
            self._query_id = q.id
            async with trio.open_nursery() as nursery:
                runner = Runner(
                    q, nursery, self.connector(), sem, coord.topology.cluster,
                    prepared.values, prepared.texts, coord.topology.executor.window,
                    coord.default_datasource, stats,
                )
                await drive(runner.operator(root), deliver)
                nursery.cancel_scope.cancel()
        if plan.columns is not None:
            return [Column(render_name(c, prepared.slots)) for c in plan.columns]
        if runner is not None and runner.columns is not None:
            return list(runner.columns)
        return []

    # ------------------------------------------------------------------ writes
    async def _write_statement(self, sql: str, params: Sequence[Any] | None, stats: ExecStats) -> Result:
        prepared = await self._prepare(sql, params, kind="write")
        plan: WritePlan = prepared.plan
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
            ops.setdefault(t.datasource, []).append(WriteOp(t.datasource, t.databases, bound.fill(t.names), t.shard))
        stats.shards = len(targets)
        results = await self._write(ops, plan.kind, stats)
        affected = sum(r.affected for rs in results.values() for r in rs)
        if plan.broadcast:
            # Every copy changed the same rows; report one copy's count.
            per_source = [sum(r.affected for r in rs) for rs in results.values()]
            affected = per_source[0] if per_source else 0
        return Result(affected=affected)

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

    async def _write(self, ops: Mapping[str, list[WriteOp]], name: str, stats: ExecStats) -> dict[str, list[ExecResult]]:
        coord = self.coord
        await self._ensure_implicit_txn()
        async with coord.executor.query(name=name, session=self._id) as q:
            self._query_id = q.id

            async def run_child(fn: Callable[..., Awaitable[Any]], *args: Any, label: str) -> Any:
                stats.children += 1
                return await q.run(fn, *args, label=label)

            ctx = WriteContext(coord.datasources, run_child)
            if self._txn is not None:
                return await session_write(ops, ctx, self._txn.connection)
            return await strategy(coord.commit_strategy)(ops, ctx)

    async def _insert(self, sql: str, params: Sequence[Any] | None, stats: ExecStats) -> Result:
        coord = self.coord
        parsed = scan_insert(sql)
        database = parsed.database or self._database
        if not database:
            raise NoDatabaseSelected("No database selected")
        info = await coord.catalog.lookup(database, parsed.table)
        prepared = prepare_insert(sql, parsed, info, coord.semantics, params)
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
        ops: dict[str, list[WriteOp]] = {}
        for ds, db, shard, text in rows.statements():
            ops.setdefault(ds, []).append(WriteOp(ds, (db,), text, shard))
        stats.shards = sum(len(v) for v in ops.values())
        results = await self._write(ops, "insert", stats)
        affected = sum(r.affected for rs in results.values() for r in rs)
        if info.broadcast:
            per_source = [sum(r.affected for r in rs) for rs in results.values()]
            affected = per_source[0] if per_source else 0
        if rows.first_id is not None:
            self.last_insert_id = rows.first_id
        return Result(affected=affected, last_insert_id=rows.first_id)

    # ------------------------------------------------------------------ DDL
    async def _ddl(self, kind: str, sql: str, stats: ExecStats) -> Result:
        if kind == "ALTER" or kind == "RENAME":
            raise NotSupported(f"{kind} TABLE on a sharded coordinator (create a new table and copy)")
        words = re.findall(r"[A-Za-z_]+", sql[:80].upper())
        second = words[1] if len(words) > 1 else ""
        if kind == "TRUNCATE":
            tree = parse_one(sql)
            table = tree.find(exp.Table)
            if table is None:
                raise mysql_syntax_error(sql, 0, "TRUNCATE needs a table")
            info = await self._table_of(table)
            await self._on_placements(info, lambda db, t: [fill_ddl(truncate_sql(self.coord.semantics.dialect), db, t, self.coord.semantics.dialect)], create=False)
            return Result()
        if kind == "CREATE" and second in ("DATABASE", "SCHEMA"):
            tree = parse_one(sql)
            name = _schema_name(tree)
            created = await self.coord.catalog.add_database(name, if_not_exists=bool(tree.args.get("exists")))
            return Result(affected=1 if created else 0, warnings=0 if created else 1)
        if kind == "DROP" and second in ("DATABASE", "SCHEMA"):
            tree = parse_one(sql)
            name = _schema_name(tree)
            catalog = self.coord.catalog
            await catalog.reload()
            if not catalog.has_database(name):
                if tree.args.get("exists"):
                    return Result(warnings=1)
                raise ShardgateError(f"Can't drop database '{name}'; database doesn't exist", code=1008)
            tables = catalog.tables(name)
            for info in tables:
                await self._drop_table(info)
            await catalog.remove_database(name)
            if self._database == name:
                self._database = None
            return Result(affected=len(tables))
        if kind == "CREATE" and ("TABLE" in words[1:4]):
            return await self._create_table(sql)
        if kind == "CREATE" and "INDEX" in words[1:4]:
            return await self._create_index(sql)
        if (kind == "DROP" and second == "TABLE") or (kind == "DROP" and second == "TEMPORARY"):
            tree = parse_one(sql)
            exists = bool(tree.args.get("exists"))
            tables = [t for t in tree.find_all(exp.Table)]
            missing = []
            infos = []
            for t in tables:
                try:
                    infos.append(await self._table_of(t))
                except UnknownTable:
                    missing.append(f"{t.db or self._database}.{t.name}")
            if missing and not exists:
                raise ShardgateError(f"Unknown table '{', '.join(missing)}'", code=1051, sqlstate="42S02")
            for info in infos:
                await self._drop_table(info)
            return Result(warnings=len(missing))
        if kind == "DROP" and second == "INDEX":
            m = re.match(r"\s*DROP\s+INDEX\s+`?(\w+)`?\s+ON\s+(.+?)\s*;?\s*$", sql, re.IGNORECASE | re.DOTALL)
            if not m:
                raise mysql_syntax_error(sql, 0, "DROP INDEX name ON table")
            table = parse_one(f"SELECT 1 FROM {m.group(2)}").find(exp.Table)
            assert table is not None
            info = await self._table_of(table)
            index = m.group(1)
            if all(i.name.lower() != index.lower() for i in info.indexes):
                raise ShardgateError(f"Can't DROP '{index}'; check that column/key exists", code=1091)
            dialect = self.coord.semantics.dialect
            await self._on_placements(info, lambda db, t: [fill_ddl(drop_index_sql(index, dialect), db, t, dialect)], create=False)
            from dataclasses import replace

            new = replace(
                info,
                indexes=tuple(i for i in info.indexes if i.name.lower() != index.lower()),
                physical_ddl=tuple(d for d in info.physical_ddl if f"__{index}" not in d and f"`{index}`" not in d),
            )
            await self.coord.catalog.update_table(new)
            return Result()
        raise NotSupported(f"{kind} {second} on the sharding coordinator")

    async def _table_of(self, table: exp.Table) -> TableInfo:
        database = table.db or self._database
        if not database:
            raise NoDatabaseSelected("No database selected")
        return await self.coord.catalog.lookup(database, table.name)

    async def _create_table(self, sql: str) -> Result:
        coord = self.coord
        text, partitioning = split_partition(sql)
        tree = parse_one(text)
        if not isinstance(tree, exp.Create) or (tree.args.get("kind") or "").upper() != "TABLE":
            raise NotSupported("this CREATE TABLE form")
        if tree.args.get("temporary") or "TEMPORARY" in (tree.args.get("kind") or ""):
            raise NotSupported("CREATE TEMPORARY TABLE on a sharded coordinator")
        schema = tree.this
        table = schema.this if isinstance(schema, exp.Schema) else schema
        if not isinstance(table, exp.Table):
            raise NotSupported("this CREATE TABLE form")
        database = table.db or self._database
        if not database:
            raise NoDatabaseSelected("No database selected")
        await coord.catalog.check_database(database)
        existing = coord.catalog.get(database, table.name)
        if existing is None:
            await coord.catalog.reload()
            existing = coord.catalog.get(database, table.name)
        if existing is not None:
            if tree.args.get("exists"):
                return Result(warnings=1)
            raise TableExists(f"Table '{table.name}' already exists")
        info = build_table(tree, partitioning, coord.topology, database, sql, coord.semantics.dialect)
        for ds in set(info.rule.datasources):
            if ds not in coord.datasources:
                raise ShardgateError(f"table {info.qualified}: unknown data source {ds!r}")
        dialect = coord.semantics.dialect
        try:
            await self._on_placements(
                info, lambda db, t: [fill_ddl(d, db, t, dialect) for d in info.physical_ddl], create=True
            )
        except BaseException:
            with trio.CancelScope(shield=True):
                try:
                    await self._on_placements(info, lambda db, t: [fill_ddl(drop_table_sql(dialect), db, t, dialect)], create=False, name="cleanup")
                except Exception as cleanup_error:
                    log.warning("create table cleanup failed", table=info.qualified, error=str(cleanup_error))
            raise
        try:
            await coord.catalog.add_table(info)
        except TableExists:
            raise
        return Result()

    async def _create_index(self, sql: str) -> Result:
        coord = self.coord
        tree = parse_one(sql)
        index = tree.this
        if not isinstance(tree, exp.Create) or not isinstance(index, exp.Index):
            raise NotSupported("this CREATE INDEX form")
        table = index.args.get("table")
        if not isinstance(table, exp.Table):
            raise mysql_syntax_error(sql, 0, "CREATE INDEX needs ON table")
        info = await self._table_of(table)
        params = index.args.get("params")
        columns = [c.name if not isinstance(c, exp.Ordered) else c.this.name for c in (params.args.get("columns") if params is not None else [])]
        if not columns:
            raise mysql_syntax_error(sql, 0, "CREATE INDEX needs columns")
        for c in columns:
            if info.columns and not info.has_column(c):
                raise ShardgateError(f"Key column '{c}' doesn't exist in table", code=1072, sqlstate="42000")
        unique = bool(tree.args.get("unique"))
        if unique and not info.broadcast and info.rule.shards > 1 and (info.rule.shard_key or "").lower() not in {c.lower() for c in columns}:
            from sharding.sql.ddl import PartitionKeyError

            raise PartitionKeyError(
                f"A UNIQUE INDEX must include all columns in the table's partitioning function (shard key {info.rule.shard_key})"
            )
        name = index.name
        if any(i.name.lower() == name.lower() for i in info.indexes):
            raise ShardgateError(f"Duplicate key name '{name}'", code=1061, sqlstate="42000")
        dialect = coord.semantics.dialect
        template = index_sql(name, columns, unique, dialect)
        await self._on_placements(info, lambda db, t: [fill_ddl(template, db, t, dialect)], create=False)
        from dataclasses import replace

        new = replace(
            info,
            indexes=(*info.indexes, IndexInfo(name, tuple(columns), unique)),
            physical_ddl=(*info.physical_ddl, template),
        )
        await coord.catalog.update_table(new)
        return Result()

    async def _drop_table(self, info: TableInfo) -> None:
        dialect = self.coord.semantics.dialect
        await self._on_placements(info, lambda db, t: [fill_ddl(drop_table_sql(dialect), db, t, dialect)], create=False)
        await self.coord.catalog.remove_table(info.database, info.name)

    async def _on_placements(
        self,
        info: TableInfo,
        statements: Callable[[str, str], list[str]],
        *,
        create: bool,
        name: str = "ddl",
    ) -> None:
        """Run DDL on every shard (or broadcast copy) of a table, ``window`` at a time."""
        coord = self.coord
        placements = info.placements()

        async def child(placement: tuple[int, str, str, str]) -> None:
            _, ds_name, db, table = placement
            ds = coord.datasources[ds_name]
            if create:
                await ds.ensure_database(db)
            async with ds.connection([db]) as conn:
                for stmt in statements(db, table):
                    await conn.execute(stmt)

        async with coord.executor.query(name=name, session=self._id, total=len(placements)) as q:
            self._query_id = q.id
            await q.map(child, placements)

    # ------------------------------------------------------------------ admin
    async def _admin(self, kind: str, sql: str) -> Result:
        coord = self.coord
        text = sql.strip().rstrip(";").strip()
        body = re.sub(r"^\w+\s*", "", text, count=1)
        if kind == "EXPLAIN" or (kind in ("DESCRIBE", "DESC") and first_keyword(body) in ("SELECT", "UPDATE", "DELETE", "INSERT", "REPLACE", "WITH")):
            inner = re.sub(r"^(EXTENDED|PARTITIONS|FORMAT\s*=\s*\w+)\s+", "", body, flags=re.IGNORECASE)
            rows = await self.explain_rows(inner)
            return Result(columns=[Column("id"), Column("operator"), Column("detail")], rows=rows)
        if kind in ("DESCRIBE", "DESC"):
            m = re.match(r"([`\w.]+)", body)
            if not m:
                raise mysql_syntax_error(sql, 0, "DESCRIBE needs a table")
            return await self._describe(m.group(1))
        upper = body.upper()
        if re.match(r"(FULL\s+)?COLUMNS\s+(FROM|IN)\s+", upper) or re.match(r"(FULL\s+)?FIELDS\s+(FROM|IN)\s+", upper):
            m = re.match(r"(?:FULL\s+)?(?:COLUMNS|FIELDS)\s+(?:FROM|IN)\s+([`\w.]+)(?:\s+(?:FROM|IN)\s+([`\w]+))?", body, re.IGNORECASE)
            assert m is not None
            name = m.group(1) if not m.group(2) else f"{m.group(2)}.{m.group(1)}"
            return await self._describe(name)
        if upper.startswith("DATABASES") or upper.startswith("SCHEMAS"):
            await coord.catalog.reload()
            names = coord.catalog.databases()
            names = _like_filter(names, body)
            return Result(columns=[Column("Database")], rows=[(n,) for n in names])
        if re.match(r"(FULL\s+)?TABLES\b", upper):
            m = re.search(r"\b(?:FROM|IN)\s+`?(\w+)`?", body, re.IGNORECASE)
            database = m.group(1) if m else self._database
            if not database:
                raise NoDatabaseSelected("No database selected")
            await coord.catalog.check_database(database)
            await coord.catalog.reload()
            names = _like_filter([t.name for t in coord.catalog.tables(database)], body)
            full = upper.startswith("FULL")
            cols = [Column(f"Tables_in_{database}")] + ([Column("Table_type")] if full else [])
            rows = [((n, "BASE TABLE") if full else (n,)) for n in names]
            return Result(columns=cols, rows=rows)
        if upper.startswith("CREATE TABLE"):
            name = body[len("CREATE TABLE") :].strip()
            info = await self._lookup_name(name)
            return Result(columns=[Column("Table"), Column("Create Table")], rows=[(info.name, _show_create(info))])
        if upper.startswith(("WARNINGS", "ERRORS")):
            return Result(columns=[Column("Level"), Column("Code"), Column("Message")])
        if re.match(r"(SESSION\s+|GLOBAL\s+)?(VARIABLES|STATUS)\b", upper):
            rows = []
            m = re.search(r"LIKE\s+'([^']*)'", body, re.IGNORECASE)
            for name in ("autocommit", "version", "version_comment"):
                if m is None or _like(name, m.group(1)):
                    rows.append((name, str(coord.system_variable(name, self))))
            return Result(columns=[Column("Variable_name"), Column("Value")], rows=rows if "VARIABLES" in upper else [])
        raise NotSupported(f"SHOW {body.split()[0] if body.split() else ''} on the sharding coordinator")

    async def _lookup_name(self, name: str) -> TableInfo:
        parts = [p.strip("`") for p in name.strip().split(".")]
        if len(parts) == 2:
            return await self.coord.catalog.lookup(parts[0], parts[1])
        if not self._database:
            raise NoDatabaseSelected("No database selected")
        return await self.coord.catalog.lookup(self._database, parts[0])

    async def _describe(self, name: str) -> Result:
        info = await self._lookup_name(name)
        rows = []
        pk = {c.lower() for c in info.primary_key}
        unique = {i.columns[0].lower() for i in info.indexes if i.unique}
        multiple = {i.columns[0].lower() for i in info.indexes if not i.unique}
        for c in info.columns:
            key = "PRI" if c.name.lower() in pk else "UNI" if c.name.lower() in unique else "MUL" if c.name.lower() in multiple else ""
            extra = "auto_increment" if c.auto_increment else ""
            rows.append((c.name, c.type.lower(), "YES" if c.nullable else "NO", key, c.default, extra))
        cols = ["Field", "Type", "Null", "Key", "Default", "Extra"]
        return Result(columns=[Column(c) for c in cols], rows=rows)

    async def explain_rows(self, sql: str) -> list[tuple[Any, ...]]:
        kind = first_keyword(sql)
        coord = self.coord
        if kind in ("SELECT", "WITH", "("):
            prepared = await self._prepare(sql, None, kind="select")
            return list(
                explain_rows(
                    prepared.plan, prepared.values, prepared.texts, coord.semantics,
                    coord.default_datasource, coord.topology.cluster.chunk_rows,
                )
            )
        if kind in ("UPDATE", "DELETE"):
            prepared = await self._prepare(sql, None, kind="write")
            plan: WritePlan = prepared.plan
            read = ShardRead(plan.template, plan.tables, plan.route, 0, route_tables=(plan.table,))
            if plan.broadcast:
                targets = self._broadcast_targets(plan.tables)
            else:
                targets = shard_targets(read, route_shards(read, prepared.values, coord.semantics), coord.semantics.dialect)
            bound = plan.template.bind(prepared.texts)
            rows: list[tuple[Any, ...]] = [
                (1, plan.kind.capitalize(), f"{len(targets)} shard(s); route: {plan.route.describe()}; one transaction per data source")
            ]
            for t in targets[:3]:
                rows.append((len(rows) + 1, f"  sql[{t.label}]", bound.fill(t.names)))
            return rows
        if kind in ("INSERT", "REPLACE"):
            parsed = scan_insert(sql)
            database = parsed.database or self._database
            if not database:
                raise NoDatabaseSelected("No database selected")
            info = await coord.catalog.lookup(database, parsed.table)
            prepared_insert = prepare_insert(sql, parsed, info, coord.semantics, None)
            rows_split = prepared_insert.finish(list(range(1, prepared_insert.id_count + 1)))
            statements = rows_split.statements()
            out: list[tuple[Any, ...]] = [
                (1, "Insert", f"{rows_split.rows} row(s) split into {len(statements)} shard statement(s) by the scanner (no AST)")
            ]
            for ds, _db, shard, text in statements[:3]:
                out.append((len(out) + 1, f"  sql[{ds}/shard {shard}]", text[:200]))
            return out
        raise NotSupported(f"EXPLAIN {kind}")

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
        m = re.match(r"SET\s+(?:SESSION\s+|@@SESSION\.|@@LOCAL\.|LOCAL\s+|@@)?autocommit\s*(?:=|:=)\s*(\S+)\s*$", text, re.IGNORECASE)
        if m:
            value = m.group(1).strip("'\"").upper()
            if value in ("1", "ON", "TRUE"):
                if self._txn is not None:
                    await self._finish_txn(commit=True)
                self._autocommit = True
            elif value in ("0", "OFF", "FALSE"):
                self._autocommit = False
            else:
                raise ShardgateError(f"Variable 'autocommit' can't be set to the value of '{m.group(1)}'", code=1231, sqlstate="42000")
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


def _schema_name(tree: exp.Expr) -> str:
    """The database named by CREATE/DROP DATABASE|SCHEMA (sqlglot puts it in odd places)."""
    tables = tree.args.get("tables") or ([tree.this] if tree.this is not None else [])
    for t in tables:
        if isinstance(t, exp.Table):
            name = t.name or t.db
            if name:
                if not re.match(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$", name):
                    raise ShardgateError(f"Incorrect database name '{name}'", code=1102, sqlstate="42000")
                return name
    raise mysql_syntax_error(tree.sql(dialect="mysql"), 0, "database name expected")


def _param_slots(sql: str) -> list[Slot]:
    from sharding.sql.lexer import _TOKEN

    out = []
    n = 0
    for m in _TOKEN.finditer(sql):
        if m.lastgroup == "param":
            out.append(Slot(m.start(), n))
            n += 1
    return out


def _like(name: str, pattern: str) -> bool:
    regex = "^" + re.escape(pattern).replace("%", ".*").replace("_", ".") + "$"
    return re.match(regex, name, re.IGNORECASE) is not None


def _like_filter(names: list[str], body: str) -> list[str]:
    m = re.search(r"LIKE\s+'([^']*)'", body, re.IGNORECASE)
    if m is None:
        return names
    return [n for n in names if _like(n, m.group(1))]


def _show_create(info: TableInfo) -> str:
    text = info.create_sql.strip().rstrip(";")
    if info.rule.broadcast:
        return text + " /* shardgate: broadcast */"
    rule = info.rule
    return f"{text} /* shardgate: {rule.algorithm}({rule.shard_key}) x {rule.shards} shards on {', '.join(sorted(set(rule.datasources)))} */"


class ResultStream:
    """Async iterator of row batches of one SELECT (``Session.stream``).

    The statement runs in a producer task in the coordinator's nursery and hands
    batches over a zero-buffer channel, so it only reads ahead by what the operators
    already buffer. Abandoning the iterator (``break``, garbage collection, ``aclose``)
    closes the channel; the producer then stops and its shard reads are cancelled.
    """

    def __init__(self, session: CoordinatorSession, sql: str, params: Sequence[Any] | None) -> None:
        self._session = session
        self._sql = sql
        self._params = params
        self._send, self._receive = trio.open_memory_channel[Any](0)
        self._started = False
        self._done = False

    def __aiter__(self) -> ResultStream:
        return self

    async def __anext__(self) -> list[Row]:
        if self._done:
            raise StopAsyncIteration
        if not self._started:
            self._started = True
            self._session.coord.spawn(self._produce)
        try:
            item = await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            self._done = True
            raise StopAsyncIteration from None
        if isinstance(item, _Failure):
            self._done = True
            raise item.error
        return item  # type: ignore[no-any-return]

    async def _produce(self) -> None:
        send = self._send
        session = self._session
        try:
            kind = first_keyword(self._sql)
            if kind not in ("SELECT", "WITH", "("):
                raise NotSupported("stream() runs SELECT statements only")

            async def deliver(batch: list[Row]) -> bool:
                try:
                    await send.send(batch)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return False
                return True

            await session._statement(self._sql, self._params, deliver)
        except ShardgateError as exc:
            try:
                await send.send(_Failure(exc))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        finally:
            send.close()

    async def aclose(self) -> None:
        self._done = True
        self._receive.close()
        await trio.lowlevel.checkpoint()

    def __del__(self) -> None:
        try:
            self._receive.close()
        except Exception:
            pass


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
