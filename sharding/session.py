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
by ``stream``. Every failure leaves as a :class:`~sharding.errors.ShardgateError`; every
statement goes to the coordinator's :class:`~sharding.logging_setup.StatementLog` (a
DEBUG ``statement`` event with kind, rows, fan-out, time; or the slow-query log).

The lean path of a point query (issue 16): a SELECT whose cached plan runs whole on
one shard for this call's values is routed once (:func:`_one_shard`), its shard
statement is the read's template with that shard's names already in place (cached per
read and shard) joined with the call's literals, and it runs as a one-child executor
query (:meth:`~executor.BucketedExecutor.run_one`: same bucket, slot, watchdog and
``KILL QUERY`` as any child, no nursery, the statement's own cancel scope); its rows go
to the sink as one batch, with result columns cached per plan where they do not depend
on the call. The one scan of a text is :func:`~sharding.sql.fast_normalize.fast_normalize`
(or the lexer's ``normalize``), remembered by text for statements with ``?``
placeholders (a prepared statement's text repeats). ``stream_into`` runs a SELECT in
the caller's task into the caller's sink (what the protocol server uses: no producer
task, no channel). Numbers: :mod:`sharding.server.connection`.

Writes: a single statement on one shard outside a transaction runs in autocommit (it
is atomic by itself); anything larger uses the coordinator's commit strategy (one
transaction per data source, XA across sources where available).

Transactions: ``BEGIN``/``START TRANSACTION`` (or ``autocommit = 0``) opens one backend
transaction per data source on first use; ``COMMIT`` commits them in order (a failure
after the first commit is reported exactly), ``ROLLBACK`` rolls all back. DDL commits
an open transaction first, as in MySQL. ``close()`` rolls back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog
import trio
from sqlglot import exp

from sharding.api import ClientInfo, Result
from sharding.backend.base import Column, ExecResult, ResultSet, Row
from sharding.catalog import TableInfo
from sharding.charsets_data import CHARSETS
from sharding.dump_statements import alter_keys, keys_note, lock_statement
from sharding.errors import (
    BadArguments,
    ColumnCountMismatch,
    EmptyQuery,
    NoDatabaseSelected,
    NotSupported,
    ParseError,
    QueryInterrupted,
    ShardgateError,
    ShardKeyUpdate,
    UnknownTable,
)
from sharding.exec.connector import AutocommitConnector, SessionTransaction
from sharding.exec.explain import SHOWN_SHARDS, explain_rows
from sharding.exec.key_lists import list_values, plan_ahead
from sharding.exec.run import (
    ExecStats,
    RunContext,
    Runner,
    check_runnable,
    client_error,
    drive,
    passthrough_single,
)
from sharding.exec.shard_settings import SessionSources
from sharding.exec.shard_warnings import ShardWarnings
from sharding.exec.targets import (
    Target,
    broadcast_target,
    physical_names,
    route_shards,
    shard_targets,
)
from sharding.exec.writes import WriteContext, WriteOp, commit_report, session_write, strategy
from sharding.introspection import Introspection
from sharding.logging_setup import log_statement_error
from sharding.result_stream import Collect, Counted, ResultStream, RowSink
from sharding.schema_changes import SchemaChanges
from sharding.session_answers import answer_select, answer_show
from sharding.session_state import SessionState, has_session_refs, parse_set_text, substitute
from sharding.sql.context import PlanContext
from sharding.sql.decorrelate import decorrelate, decorrelate_exists
from sharding.sql.derived_columns import cte_map
from sharding.sql.describe import (
    UNKNOWN,
    SlotTyped,
    TypedColumn,
    describe_plan,
    describe_select,
    result_columns,
    shard_positions,
)
from sharding.sql.dml import WritePlan, plan_write
from sharding.sql.fast_normalize import fast_normalize
from sharding.sql.inlist import FOLD_MIN, Folded, InList, fold_in_lists, foldable_in
from sharding.sql.insert import InsertRows, InsertSelectFound, scan_insert
from sharding.sql.insert_plan import InsertShape, insert_shape, prepare_insert
from sharding.sql.insert_select import batches, split_insert_select, strict_select
from sharding.sql.lexer import Normalized, Slot, first_keyword, normalize, param_slots
from sharding.sql.limited_write import restricted, selection
from sharding.sql.literals import slot_text
from sharding.sql.materialize import (
    SubqueryUse,
    drop_materialized_ctes,
    folded_values,
    literal_node,
    lookup_probe,
    replace_with_values,
    runnable_select,
    subquery_uses,
)
from sharding.sql.moving_update import (
    assignments,
    collision_probe,
    in_place,
    new_rows,
    unique_keys,
)
from sharding.sql.names import finish_name
from sharding.sql.nodes import OutputColumn, SelectPlan, ShardRead
from sharding.sql.offload import cpu_bound, is_big
from sharding.sql.paged_in import page_query, paged_in
from sharding.sql.parse import PLACEHOLDER_START, mysql_syntax_error, parse_one, placeholder_offset
from sharding.sql.plan import plan_select
from sharding.sql.rewrite import SLOT
from sharding.sql.scope import referenced_tables
from sharding.sql.template import PARAM, TABLE

if TYPE_CHECKING:
    from sharding.coordinator import Coordinator

log = structlog.get_logger("sharding")

_ids = itertools.count(1)
_SELECT_KINDS = ("SELECT", "WITH", "(")
_SAVEPOINT = re.compile(
    r"\s*(?P<verb>SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK(?:\s+WORK)?\s+TO(?:\s+SAVEPOINT)?)\s+"
    r"(?P<name>`(?:[^`]|``)+`|[A-Za-z0-9_$]+)\s*;?\s*\Z",
    re.IGNORECASE,
)
#: Longer parameterised INSERTs are not cached (their shape holds every row's text).
_CACHED_INSERT_CHARS = 4096
_UPDATE_INFO = re.compile(r"Rows matched: (\d+)  Changed: (\d+)  Warnings: (\d+)")
#: How long a statement's own rollback may take after it failed or was cancelled.
_ROLLBACK_SECONDS = 30.0
#: Names of the savepoints that make a statement atomic inside a transaction.
_STATEMENT_SAVEPOINTS = itertools.count(1)
_TABLE_STATEMENTS = frozenset(
    {"INSERT", "REPLACE", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "TRUNCATE", "RENAME"}
)
#: ``UPDATE``/``DELETE`` modifiers the planner does not take (``IGNORE``: errors as
#: warnings; ``LOW_PRIORITY``/``QUICK``: scheduling hints).
_WRITE_MODIFIER = re.compile(
    r"\s*(?:UPDATE\s+((?:LOW_PRIORITY\s+)?IGNORE|LOW_PRIORITY)"
    r"|DELETE\s+((?:(?:LOW_PRIORITY|QUICK|IGNORE)\s+)*(?:LOW_PRIORITY|QUICK|IGNORE)))\b",
    re.IGNORECASE,
)
_USES_TABLE = re.compile(r"\bFROM\b(?!\s+DUAL\b)", re.IGNORECASE)
_CALC_FOUND_ROWS = re.compile(r"\bSQL_CALC_FOUND_ROWS\b", re.IGNORECASE)
#: First words of MySQL/MariaDB statements (anything else fails to prepare with 1064).
_STATEMENT_WORDS = frozenset(
    {
        "ALTER",
        "ANALYZE",
        "BACKUP",
        "BEGIN",
        "BINLOG",
        "CACHE",
        "CALL",
        "CHANGE",
        "CHECK",
        "CHECKSUM",
        "COMMIT",
        "CREATE",
        "DEALLOCATE",
        "DELETE",
        "DESC",
        "DESCRIBE",
        "DO",
        "DROP",
        "EXECUTE",
        "EXPLAIN",
        "FLUSH",
        "GET",
        "GRANT",
        "HANDLER",
        "HELP",
        "INSERT",
        "INSTALL",
        "KILL",
        "LOAD",
        "LOCK",
        "OPTIMIZE",
        "PREPARE",
        "PURGE",
        "RELEASE",
        "RENAME",
        "REPAIR",
        "REPLACE",
        "RESET",
        "RESIGNAL",
        "REVOKE",
        "ROLLBACK",
        "SAVEPOINT",
        "SET",
        "SHOW",
        "SHUTDOWN",
        "SIGNAL",
        "START",
        "STOP",
        "TRUNCATE",
        "UNINSTALL",
        "UNLOCK",
        "UPDATE",
        "USE",
        "VALUES",
        "XA",
    }
)
_UPSERT = re.compile(r"\bON\s+DUPLICATE\s+KEY\s+UPDATE\b", re.IGNORECASE)


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
    """The column name MySQL would send for this call (:mod:`sharding.sql.names`)."""
    out = col.name
    for offset, slot in sorted(col.slot_positions, reverse=True):
        s = slots[slot]
        if s.param is not None:
            text = "?"
        elif col.literal and s.is_string:
            text = str(s.value)
        else:
            text = s.raw
        out = out[:offset] + text + out[offset + 1 :]
    return finish_name(out)


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
        #: The session's variables and session functions (sharding.session_state).
        self.state = SessionState(coord.globals, user=user, connection_id=self._id)
        # Shard connections borrowed with the session's shard-relevant variables.
        self._sources = SessionSources(coord.datasources, self.state)
        self._autocommit_connector = AutocommitConnector(self._sources)
        self._database = database
        self._autocommit = True
        self._lid_expr = False
        self._calc_found: int | None = None
        self._txn: SessionTransaction | None = None
        self._scope: trio.CancelScope | None = None
        self._query_id: int | None = None
        self._cancelled = False
        self._busy = False
        self._closed = False
        self._ephemeral = ephemeral
        #: The one-child query of a one-shard statement, once opened (its timings).
        self._opened_query: Any = None

    # State kept by self.state (its one owner), under the names the session uses.
    @property
    def _database(self) -> str | None:
        return self.state.database

    @_database.setter
    def _database(self, value: str | None) -> None:
        self.state.database = value

    @property
    def _autocommit(self) -> bool:
        return self.state.autocommit

    @_autocommit.setter
    def _autocommit(self, value: bool) -> None:
        self.state.autocommit = value

    @property
    def last_insert_id(self) -> int:
        return self.state.last_insert_id

    @last_insert_id.setter
    def last_insert_id(self, value: int | None) -> None:
        if value is not None:
            self.state.last_insert_id = value

    def attach_client(self, info: ClientInfo) -> None:
        """The protocol connection in front of this session (``sharding.api``)."""
        state = self.state
        state.connection_id = info.connection_id
        state.host = info.host
        state.client_found_rows = info.found_rows
        state.identity.update(info.identity)
        if info.charset != "utf8mb4" and info.charset in CHARSETS:
            # The handshake's character set, as SET NAMES would set it (MariaDB).
            for name in (
                "character_set_client",
                "character_set_connection",
                "character_set_results",
            ):
                state.session[name] = info.charset
            state.session["collation_connection"] = CHARSETS[info.charset][0]
            state.shard_version += 1
            state._shard_settings = None

    def answer_locally(self, sql: str, status: Mapping[str, Any] | None = None) -> Result | None:
        """A SELECT of variables/session functions or a SHOW of session state, answered
        without entering a bucket; None when the statement must run (``execute``)."""
        if self._closed or self._busy:
            return None
        word = first_keyword(sql)
        try:
            if word == "SELECT":
                result = answer_select(self.state, sql)
                if result is not None:
                    self.state.row_count = -1
                    self.state.found_rows = len(result.rows)
                return result
            if word == "SHOW":
                return answer_show(self.state, sql, dict(status) if status is not None else None)
        except ShardgateError as exc:
            self.state.diagnostics = [("Error", exc.code, str(exc))]
            raise
        return None

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

    async def describe(self, sql: str) -> list[Column] | None:
        """The result columns of ``sql`` without running it (``COM_STMT_PREPARE``):
        names as MySQL gives them, types derived by :mod:`sharding.sql.describe`
        (:class:`~sharding.sql.describe.TypedColumn`). None: the statement returns no
        result set, or its columns are known only when it runs. Raises the errors
        MySQL gives at prepare time (syntax, unknown table or column)."""
        kind = first_keyword(sql)
        if kind in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN") and "?" not in sql:
            # Read-only answers: their columns are those of the answer itself. What
            # only the protocol server answers (admin SHOWs) is left to execution.
            try:
                answer = answer_show(self.state, sql) if kind == "SHOW" else None
                if answer is None:
                    answer = await Introspection(self).run(kind, sql)
            except ShardgateError:
                return None
            return list(answer.columns) if answer.columns is not None else None
        if kind not in _SELECT_KINDS:
            if kind not in _STATEMENT_WORDS:
                parse_one(sql)  # not a statement at all: 1064 at prepare, as in MySQL
            return None
        # Imported here, not at start-up: the module (and the views it builds) costs
        # ``shardgate serve`` start-up time that a first query need not wait for.
        from sharding.information_schema import references_information_schema

        if references_information_schema(sql) or self._database == "information_schema":
            return None
        sql = _CALC_FOUND_ROWS.sub(" ", sql, count=1)
        norm = await cpu_bound(len(sql), normalize, sql)
        if not norm.param_count:
            local = answer_select(self.state, sql)
            if local is not None and local.columns is not None:
                return list(local.columns)
        # Planned as execution would plan it (names, and the errors it would raise);
        # types from the statement as written: the cached plan's types leave literals
        # to the values of each call (one plan serves ``SELECT 1`` and ``SELECT 'a'``).
        prepared = await self._prepare(sql, [None] * norm.param_count, kind="select")
        plan: SelectPlan = prepared.plan
        if plan.columns is None:
            return None
        names = [render_name(c, prepared.slots) for c in plan.columns]
        tree = await cpu_bound(len(sql), parse_one, sql)
        tables: dict[tuple[str, str], TableInfo] = {}
        for db, name in referenced_tables(tree, self._database):
            tables[(db, name)] = await self.coord.catalog.lookup(db, name)
        types = describe_select(tree, tables, self._database)
        if types is None or len(types) != len(names):
            types = [UNKNOWN] * len(names)
        return [TypedColumn(n, t.type, t) for n, t in zip(names, types, strict=True)]

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> ResultStream:
        """A SELECT's rows with bounded memory (:class:`sharding.api.ResultStream`)."""

        async def run(sink: RowSink) -> Result:
            if first_keyword(sql) not in _SELECT_KINDS:
                raise NotSupported("stream() runs SELECT statements only")
            return await self._statement(sql, params, sink)

        return ResultStream(self.coord.spawn, run)

    async def stream_into(self, sql: str, params: Sequence[Any] | None, sink: RowSink) -> Result:
        """What :meth:`stream` does, in the calling task: the SELECT's header and
        batches go to ``sink`` as they come (the protocol server's result writer), with
        no producer task and no channel. The next batch is read only once ``sink``
        has taken the previous one, so memory stays bounded the same way; a sink that
        writes to a client must protect its writes from this statement's cancellation
        (``KILL QUERY`` stops the statement, not a packet half-written)."""
        kind = first_keyword(sql)
        if kind not in _SELECT_KINDS:
            raise NotSupported("stream() runs SELECT statements only")
        return await self._statement(sql, params, sink, kind)

    async def use(self, database: str) -> None:
        if database.lower() == "information_schema":  # served by sharding/information_schema.py
            self._database = "information_schema"
            return
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
    async def _statement(
        self, sql: str, params: Sequence[Any] | None, sink: RowSink, kind: str | None = None
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
        self._lid_expr = False
        self._calc_found = None
        counted = Counted(sink)
        stats = ExecStats()
        started = trio.current_time()
        known_kind, kind = kind, ""
        result: Result | None = None
        failure: ShardgateError | None = None
        error: BaseException | None = None
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                try:
                    kind = first_keyword(sql) if known_kind is None else known_kind
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
                    log_statement_error(
                        self._id, sql, error, full_text=self.coord.statement_log.full_text
                    )
                    raise ShardgateError(
                        f"internal error: {type(error).__name__}: {error}", code=1105
                    ) from exc
            if scope.cancelled_caught or result is None:
                raise QueryInterrupted("Query execution was interrupted")
            self._record(kind, sql, result, counted.count)
        except ShardgateError as exc:
            self.state.diagnostics = [("Error", exc.code, str(exc))]
            failure = exc
            raise
        finally:
            self._scope = None
            self._query_id = None
            self._busy = False
            # Slow-query log / DEBUG statement line; builds nothing otherwise.
            self.coord.statement_log.finished(
                self._id,
                kind,
                sql,
                trio.current_time() - started,
                result,
                counted.count,
                stats,
                failure,
            )
            # The raised error's traceback holds this frame: locals naming the error
            # would make a reference cycle that only the cyclic collector frees.
            failure = error = None
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
            # Imported here, not at start-up (see describe above: start-up time).
            from sharding.information_schema import InformationSchema, references_information_schema

            if references_information_schema(sql) or self._database == "information_schema":
                # Metadata of the logical tables (sharding/information_schema.py).
                answer = await InformationSchema(self).select(sql, params)
                if answer is not None and answer.columns is not None:
                    await sink.header(answer.columns)
                    await sink.rows(answer.rows)
                    return Result(columns=answer.columns)
            return await self._select(sql, params, sink, stats)
        if kind in ("INSERT", "REPLACE"):
            return await self._insert(sql, params, stats)
        if kind in ("UPDATE", "DELETE"):
            modifier = _WRITE_MODIFIER.match(sql)
            if modifier is not None:
                # MySQL syntax sqlglot does not read (its 1064 named a parser token).
                words = " ".join((modifier.group(1) or modifier.group(2)).upper().split())
                raise NotSupported(
                    f"{kind} {words} through the sharding coordinator "
                    f"(write the statement without {words})"
                )
            return await self._write_statement(sql, params, stats)
        if params:
            raise BadArguments(f"{kind} takes no parameters")
        if kind == "ALTER" and (keys := alter_keys(sql)) is not None:
            # DISABLE/ENABLE KEYS around a dump's rows: nothing to do, as on InnoDB.
            database = keys[0] or self._database
            if not database:
                raise NoDatabaseSelected("No database selected")
            info = await self.coord.catalog.lookup(database, keys[1])
            return keys_note(self.state, info.database, info.name)
        if kind in ("CREATE", "DROP", "TRUNCATE", "ALTER", "RENAME"):
            if self._ephemeral is False and self._txn is not None:
                await self._finish_txn(commit=True)
            return await SchemaChanges(self).run(kind, sql)
        if kind == "SHOW":
            answer = answer_show(self.state, sql)
            if answer is not None:
                return answer
        if kind in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN"):
            return await Introspection(self).run(kind, sql)
        if kind in ("LOCK", "UNLOCK", "FLUSH"):
            return lock_statement(self.state, kind, sql)  # accepted, no lock (dumps)
        if kind in ("USE", "BEGIN", "START", "COMMIT", "ROLLBACK", "SET"):
            return await self._session_statement(kind, sql)
        if kind in ("SAVEPOINT", "RELEASE"):
            return await self._savepoint_statement(kind, sql)
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
            if isinstance(v, InList):  # a folded IN list: its values' texts, comma-separated
                out.append(", ".join(self._texts(v.slots, v.values)))
            else:
                out.append(slot_text(s, v, dialect))
        return out

    async def _prepare(self, sql: str, params: Sequence[Any] | None, *, kind: str) -> Prepared:
        size = len(sql)  # a big statement is lexed/parsed/planned in a thread (offload.py)
        big = is_big(size)
        scanned = _SCANNED.get(sql)
        if scanned is None:
            if big:
                norm = await cpu_bound(size, normalize, sql)
                refs = await cpu_bound(size, _session_refs, sql)
            else:
                norm = fast_normalize(sql) or normalize(sql)
                refs = _session_refs(sql)
            if norm.param_count and not big:
                # A statement with placeholders comes back with the same text (a
                # prepared statement): its one scan is remembered.
                if len(_SCANNED) >= _SCANNED_SIZE:
                    _SCANNED.clear()
                _SCANNED[sql] = (norm, refs)
        else:
            norm, refs = scanned
        count = len(params) if params else 0
        if count != norm.param_count:
            raise BadArguments(
                f"Incorrect arguments to mysqld_stmt_execute: statement has {norm.param_count} "
                f"placeholder(s), {count} value(s) given"
            )
        if refs:
            return await self._plan_uncached(sql, norm, params, kind, session_funcs=True)
        values = (
            await cpu_bound(size, self._values, norm.slots, params)
            if big
            else self._values(norm.slots, params)
        )
        if len(norm.slots) >= FOLD_MIN:
            # A long IN list planned as one list-valued slot, where exact (sql/inlist.py).
            folded = await cpu_bound(size, fold_in_lists, norm, values)
            if folded is not None:
                prepared = await self._prepare_normalized(
                    folded.norm, folded.values, size, kind, folded
                )
                if prepared is not None:
                    return prepared
        prepared = await self._prepare_normalized(norm, values, size, kind, None)
        if prepared is None:
            return await self._plan_uncached(sql, norm, params, kind)
        return prepared

    async def _prepare_normalized(
        self, norm: Normalized, values: list[Any], size: int, kind: str, folded: Folded | None
    ) -> Prepared | None:
        """The cached or new plan of a normalised statement; None when its text does not
        parse, or when ``folded`` lists turn out not to be foldable in the tree."""
        coord = self.coord
        key = (norm.text, self._database)
        generation = coord.catalog.generation
        plan = coord.plan_cache.get(key, values, generation)
        if plan is not None:
            texts = (
                await cpu_bound(size, self._texts, norm.slots, values)
                if is_big(size)
                else self._texts(norm.slots, values)
            )
            return Prepared(plan, norm.slots, values, texts)
        try:
            tree = await cpu_bound(size, parse_one, norm.text)
        except ParseError:
            return None
        if folded is not None and not folded.safe_in(tree):
            return None
        plan, deps = await self._plan(tree, norm.text, norm.slots, values, kind)
        coord.plan_cache.put(key, deps, plan, generation)
        texts = await cpu_bound(size, self._texts, norm.slots, values)
        return Prepared(plan, norm.slots, values, texts)

    async def _plan_uncached(
        self,
        sql: str,
        norm: Normalized,
        params: Sequence[Any] | None,
        kind: str,
        *,
        session_funcs: bool = False,
    ) -> Prepared:
        # raises the user-visible parse error (positions of ``sql``)
        tree = await cpu_bound(len(sql), parse_one, sql)
        slots = await cpu_bound(len(sql), param_slots, sql)
        if session_funcs:
            tree = self._substitute(tree)
        values = self._values(slots, params)
        plan, _ = await self._plan(tree, sql, slots, values, kind)
        return Prepared(plan, slots, values, self._texts(slots, values))

    def _substitute(self, tree: exp.Expr) -> exp.Expr:
        """Variables and session functions → their values (sharding.session_state)."""
        sub = substitute(tree, self.state)
        if sub.last_insert_id_expr:
            self._lid_expr = True
        # Result column names come from the statement's text (sharding.sql.names), so
        # the substituted literals keep the names MySQL gives the original items.
        return sub.tree

    async def _plan(
        self, tree: exp.Expr, source: str, slots: Sequence[Slot], values: list[Any], kind: str
    ) -> tuple[Any, dict[int, Any]]:
        coord = self.coord

        def tag_slots() -> Any:
            by_position = {s.position: i for i, s in enumerate(slots)}
            for node in tree.find_all(exp.Placeholder):
                offset = placeholder_offset(node)
                if offset is None or offset not in by_position:
                    raise ShardgateError("internal error: unmatched placeholder", code=1105)
                node.meta[SLOT] = by_position[offset]
            return referenced_tables(tree, self._database)

        _drop_dual(tree)
        names = await cpu_bound(len(source), tag_slots)
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
            if isinstance(tree, exp.Subquery):
                # parse_one unwrapped every plain parenthesised level (statement_query).
                raise NotSupported(
                    "ORDER BY/LIMIT around a parenthesised query with its own ORDER BY/LIMIT"
                )
            if not isinstance(tree, exp.Select | exp.Union | exp.Intersect | exp.Except):
                raise NotSupported(f"{type(tree).__name__} where a SELECT was expected")
            # Result types from the catalog / MySQL's rules, read before planning
            # rewrites the tree (COM_STMT_PREPARE metadata, typed result headers).
            types = describe_plan(tree, tables, self._database)
            plan: Any = await cpu_bound(len(source), plan_select, tree, ctx)
            if (
                isinstance(plan, SelectPlan)
                and plan.columns is not None
                and types is not None
                and len(types) == len(plan.columns)
            ):
                plan = dataclasses.replace(plan, types=tuple(types))
        else:
            if not isinstance(tree, exp.Update | exp.Delete):
                raise NotSupported(f"{type(tree).__name__} where UPDATE/DELETE was expected")
            plan = await cpu_bound(len(source), plan_write, tree, ctx)
        return plan, ctx.deps

    # ------------------------------------------------------------------ SELECT
    def connector(self) -> Any:
        return self._txn if self._txn is not None else self._autocommit_connector

    async def _ensure_implicit_txn(self) -> None:
        if not self._autocommit and self._txn is None:
            self._txn = self.coord.new_transaction(self._sources)

    async def _select(
        self, sql: str, params: Sequence[Any] | None, sink: Counted, stats: ExecStats
    ) -> Result:
        calc = _CALC_FOUND_ROWS.search(sql) is not None
        if calc:
            # The modifier is the coordinator's business: shards run the plain SELECT.
            sql = _CALC_FOUND_ROWS.sub(" ", sql, count=1)
        elif not params:
            # Variables and session functions only: answered from the session state.
            local = answer_select(self.state, sql)
            if local is not None and local.columns is not None:
                await sink.header(local.columns)
                await sink.rows(local.rows)
                return Result(columns=local.columns)
        one: _OneShard | None = None
        try:
            prepared = await self._prepare(sql, params, kind="select")
            # The whole statement on one shard needs no further check (check_runnable
            # would route it again to find just that); anything else is checked now.
            one = _one_shard(prepared, self.coord.semantics)
            if one is None:
                _check_runnable(prepared, self.coord.semantics)
        except NotSupported as refusal:
            # Uncorrelated subqueries over sharded tables: their results as values.
            try:
                prepared = await self._with_subquery_values(sql, params, refusal, stats)
            except _PastBound as past:
                # More values than cluster.subquery_rows: in pages where exact.
                return await self._select_in_pages(sql, params, past, sink, stats)
            _check_runnable(prepared, self.coord.semantics)
            one = None
        if not self._autocommit and self._txn is None:
            await self._ensure_implicit_txn()
        columns = await self._run_select(prepared, sink, stats, one)
        self._record_shard_warnings(stats)
        if calc:
            self._calc_found = await self._count_without_limit(sql, params, sink.count)
        return Result(columns=columns, warnings=stats.warnings)

    async def _with_subquery_values(
        self,
        sql: str,
        params: Sequence[Any] | None,
        refusal: NotSupported,
        stats: ExecStats,
        kind: str = "select",
    ) -> Prepared:
        """The statement planned with its uncorrelated subqueries replaced by their
        results (:mod:`sharding.sql.materialize`); ``refusal`` when it has none."""
        tree = await cpu_bound(len(sql), parse_one, sql)
        # Correlated EXISTS / IN / scalar aggregates of one equality correlation →
        # uncorrelated subqueries and grouped lookups (sql/decorrelate.py).
        decorrelate(tree, lookups=self.coord.semantics.dialect == "mysql")
        uses = subquery_uses(tree)
        if not uses:
            raise refusal
        slots = list(param_slots(sql))
        values = self._values(slots, params)
        if await cpu_bound(len(sql), _session_refs, sql):
            tree = self._substitute(tree)
            uses = subquery_uses(tree)
        by_position = {s.position: i for i, s in enumerate(slots)}
        dialect = self.coord.semantics.dialect
        ran: set[str] = set()
        folded: list[tuple[exp.In, exp.Placeholder, list[Any]]] = []
        for use in uses:
            inner = runnable_select(use)
            ran |= set(cte_map(inner))
            if use.kind == "in" and isinstance(inner, exp.Select):
                inner.set("distinct", exp.Distinct())  # only the set of values matters
            for node in list(inner.find_all(exp.Placeholder)):
                slot = by_position.get(placeholder_offset(node) or -1)
                if slot is None:
                    raise ShardgateError("internal error: unmatched placeholder", code=1105)
                node.replace(literal_node(values[slot], "mysql"))
            width, rows = await self._subquery_rows(
                inner.sql(dialect="mysql"), 1 if use.kind == "exists" else None, refusal, stats
            )
            fold = folded_values(use, width, rows)
            if fold is not None and isinstance(use.target, exp.In):
                mark = exp.Placeholder()
                use.target.set("query", None)
                use.target.set("expressions", [mark])
                folded.append((use.target, mark, fold))
            else:
                collation = await self._lookup_collation(use, rows, refusal, stats)
                replace_with_values(use, width, rows, dialect, collation)
        drop_materialized_ctes(tree, ran)
        # A long list of integers or strings in the WHERE of a plain statement becomes
        # one folded slot, as a long IN list of the text does (sql/inlist.py): never
        # rendered by sqlglot, and cut per shard on the shard key (exec/key_lists.py).
        offset = len(sql) + 1  # past the text: no slot of the statement is there
        for host, mark, fold in folded:
            if not foldable_in(host, tree):
                host.set("expressions", [literal_node(v, dialect) for v in fold])
                continue
            mark.meta[PLACEHOLDER_START] = offset
            slots.append(Slot(offset, None, f"IN-list of {len(fold)}", None, True))
            values.append(InList(tuple(_value_slot(v) for v in fold), tuple(fold)))
            offset += 1
        plan, _ = await self._plan(tree, sql, slots, values, kind)
        return Prepared(plan, slots, values, self._texts(slots, values))

    async def _lookup_collation(
        self, use: SubqueryUse, rows: list[Row], refusal: NotSupported, stats: ExecStats
    ) -> str | None:
        """The collation of a grouped lookup's outer column when its keys are text
        (``''``: that table has no row), read by its probe (sql/materialize.py:
        lookup_probe); None when not needed."""
        probe = lookup_probe(use, rows)
        if probe is None:
            return None
        sql = runnable_select(probe).sql(dialect="mysql")
        _width, found = await self._subquery_rows(sql, 1, refusal, stats)
        return str(found[0][0]) if found else ""

    async def _select_in_pages(
        self,
        sql: str,
        params: Sequence[Any] | None,
        past: _PastBound,
        sink: Counted,
        stats: ExecStats,
    ) -> Result:
        """A SELECT whose ``IN`` subquery has more values than ``cluster.subquery_rows``,
        run once per page of them (:mod:`sharding.sql.paged_in`); ``past`` where that
        is not exact."""
        coord = self.coord
        tree = await cpu_bound(len(sql), parse_one, sql)
        slots = list(param_slots(sql))
        values = self._values(slots, params)
        if await cpu_bound(len(sql), _session_refs, sql):
            tree = self._substitute(tree)
        decorrelate_exists(tree)
        paged = paged_in(tree)
        if paged is None:
            raise past
        by_position = {s.position: i for i, s in enumerate(slots)}
        for node in list(paged.use.select.find_all(exp.Placeholder)):
            slot = by_position.get(placeholder_offset(node) or -1)
            if slot is None:
                raise ShardgateError("internal error: unmatched placeholder", code=1105)
            node.replace(literal_node(values[slot], "mysql"))
        paged = paged_in(tree)
        assert paged is not None
        if not self._autocommit and self._txn is None:
            await self._ensure_implicit_txn()
        size = coord.topology.cluster.subquery_rows
        after: int | None = None
        columns: list[Column] = []
        while True:
            page = page_query(paged, after, size).sql(dialect="mysql")
            _width, rows = await self._subquery_rows(page, None, past, stats)
            keys = [row[0] for row in rows]
            if not all(isinstance(k, int) and not isinstance(k, bool) for k in keys):
                raise past  # only integers page exactly (module docstring)
            outer = tree.copy()
            found = paged_in(outer)
            assert found is not None
            host = found.use.target
            page_slots, page_values = list(slots), list(values)
            if keys:
                mark = exp.Placeholder()
                mark.meta[PLACEHOLDER_START] = len(sql) + 1  # past the text
                host.set("query", None)
                host.set("expressions", [mark])
                distinct = list(dict.fromkeys(keys))
                page_slots.append(
                    Slot(len(sql) + 1, None, f"IN-list of {len(distinct)}", None, True)
                )
                page_values.append(InList(tuple(_value_slot(k) for k in distinct), tuple(distinct)))
            else:
                host.replace(exp.false())
            plan, _ = await self._plan(outer, sql, page_slots, page_values, "select")
            prepared = Prepared(plan, page_slots, page_values, self._texts(page_slots, page_values))
            one = _one_shard(prepared, coord.semantics)
            if one is None:
                _check_runnable(prepared, coord.semantics)
            columns = await self._run_select(prepared, sink, stats, one)
            if len(rows) < size:
                break
            after = keys[-1]  # the page is in ascending order
        self._record_shard_warnings(stats)
        return Result(columns=columns, warnings=stats.warnings)

    async def _subquery_rows(
        self, sql: str, first: int | None, refusal: NotSupported, stats: ExecStats
    ) -> tuple[int, list[Row]]:
        """Rows of an inner SELECT run on its own (``first``: stop after that many)."""
        bound = self.coord.topology.cluster.subquery_rows
        sink = _Bounded(first if first is not None else bound, stop=first is not None)
        try:
            await self._select(sql, None, Counted(sink), stats)
        except ShardgateError as exc:
            if exc.code == 1054:  # it names a column of the outer query: correlated
                raise refusal from None
            raise
        return sink.width, sink.collected

    async def _count_without_limit(
        self, sql: str, params: Sequence[Any] | None, returned: int
    ) -> int:
        """FOUND_ROWS() after ``SELECT SQL_CALC_FOUND_ROWS``: the rows the statement
        would return without its LIMIT, over every shard it touches — ``COUNT(*)`` over
        the same FROM/WHERE, or for grouped/distinct selects the rows counted as they
        stream by (never held)."""
        tree = parse_one(sql)
        union = isinstance(tree, exp.Union | exp.Intersect | exp.Except)
        if not (isinstance(tree, exp.Select) or union) or tree.args.get("limit") is None:
            return returned
        cut = [tree.args.get(k) for k in ("limit", "offset", "order")]
        if params and any(c is not None and c.find(exp.Placeholder) for c in cut):
            raise NotSupported("SQL_CALC_FOUND_ROWS with a placeholder in ORDER BY/LIMIT")
        count = tree.copy()
        for key in ("limit", "offset", "order"):
            count.set(key, None)
        # A UNION / INTERSECT / EXCEPT: its rows without the LIMIT, counted (issue 18.4).
        simple = not union
        simple = simple and not any(
            count.args.get(k) for k in ("group", "having", "distinct", "windows")
        )
        simple = simple and not any(
            isinstance(n, exp.AggFunc) for e in count.expressions for n in e.walk()
        )
        counter = Counted(_Discard())
        stats = ExecStats()
        if simple:
            count.set("expressions", [exp.Count(this=exp.Star())])
            collect = Collect()
            await self._run_select(
                await self._prepare(count.sql(dialect="mysql"), params, kind="select"),
                Counted(collect),
                stats,
            )
            return int(collect.collected[0][0]) if collect.collected else 0
        await self._run_select(
            await self._prepare(count.sql(dialect="mysql"), params, kind="select"), counter, stats
        )
        return counter.count

    async def _evaluate(self, node: exp.Expr) -> Any:
        """A value of a SET (``SET @v := (SELECT ...)``, ``SET @b = @a + 1``): run as a
        SELECT through the coordinator; MySQL's errors for more than one row/column."""
        inner = (
            node.this
            if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select)
            else None
        )
        sql = (
            inner.sql(dialect="mysql")
            if inner is not None
            else "SELECT " + node.sql(dialect="mysql")
        )
        collect = Collect()
        await self._run_select(
            await self._prepare(sql, None, kind="select"), Counted(collect), ExecStats()
        )
        rows = collect.collected
        if inner is not None:
            if rows and len(rows[0]) != 1:
                raise ShardgateError(
                    "Operand should contain 1 column(s)", code=1241, sqlstate="21000"
                )
            if len(rows) > 1:
                raise ShardgateError(
                    "Subquery returns more than 1 row", code=1242, sqlstate="21000"
                )
        return rows[0][0] if rows else None

    def _record(self, kind: str, sql: str, result: Result, streamed: int) -> None:
        """ROW_COUNT(), FOUND_ROWS() and warnings after a statement (MariaDB's rules)."""
        state = self.state
        if result.columns is not None:
            state.row_count = -1
            found = self._calc_found
            state.found_rows = found if found is not None else streamed + len(result.rows)
        elif kind in ("INSERT", "REPLACE", "UPDATE", "DELETE"):
            state.row_count = result.affected
        else:
            state.row_count = 0
        self._calc_found = None
        # MariaDB clears the diagnostics area only for statements that use tables
        # (``SELECT @@x`` and ``SET @a = 1`` leave the last error visible to
        # @@error_count and SHOW WARNINGS).
        # A statement that raised warnings leaves them (``SELECT 1/0``: MariaDB's too).
        if (
            kind in _TABLE_STATEMENTS
            or (kind in _SELECT_KINDS and _USES_TABLE.search(sql))
            or state.statement_warned
        ):
            state.diagnostics = []

    def _record_shard_warnings(self, stats: ExecStats) -> None:
        """The warnings the shards raised in a SELECT's reads become the statement's
        (SHOW WARNINGS, @@warning_count) and count in its final packet; taken once, so
        an inner SELECT run for the statement (a subquery's values) adds its own."""
        shard = stats.shard_warnings
        if not shard.count:
            return
        stats.warnings += self.state.warn_counted(shard.count, shard.notes())
        stats.shard_warnings = ShardWarnings()

    async def _run_select(
        self,
        prepared: Prepared,
        sink: Counted,
        stats: ExecStats,
        one: _OneShard | None = None,
    ) -> list[Column]:
        """Run a planned SELECT into ``sink``: the header just before the first batch
        (its columns may come from the first shard result), or at the end if empty.
        ``one``: the statement's route when it runs whole on one shard (routed once,
        by the caller), else None."""
        coord = self.coord
        plan: SelectPlan = prepared.plan
        sem = coord.semantics
        if one is None:
            one = _one_shard(prepared, sem)
        if one is not None:
            return await self._run_one_shard(prepared, one, sink, stats)
        single = False if plan.join else passthrough_single(plan.single, prepared.values, sem)
        if single:
            root: Any = plan.single
        else:
            if plan.scatter is None:
                assert plan.scatter_error is not None
                raise plan.scatter_error
            root = plan.scatter
        runner: Runner | None = None
        positions = shard_positions(root)
        mysql = sem.dialect == "mysql"

        def columns() -> list[Column]:
            shard = runner.columns if runner is not None else None
            if runner is not None and runner.eval_columns is not None:
                # Values a data source computed (BackendEvalNode): their definitions are
                # addressed from the end of the list (sql/describe.shard_positions).
                shard = [*(shard or []), *runner.eval_columns]
            if plan.columns is not None:
                # Definitions: the shard's own where a value passes through unchanged,
                # MariaDB's rules for what the coordinator computes (sql/describe).
                return result_columns(
                    [render_name(c, prepared.slots) for c in plan.columns],
                    plan.types,
                    positions,
                    shard,
                    prepared.slots,
                    prepared.values,
                    shard_metadata=mysql,
                )
            return list(shard) if shard is not None else []

        async def deliver(batch: list[Row]) -> bool:
            await sink.header(columns())
            return await sink.rows(batch)

        # Long IN lists are cut per shard and the reads routed before the run, in a
        # thread when long (placing 100,000 values is seconds of CPU: not on the event
        # loop; an unfolded list's values are as many slots).
        many = list_values(prepared.values) + len(prepared.values)
        ahead = (
            await cpu_bound(many * 64, plan_ahead, root, prepared.values, sem)
            if many >= FOLD_MIN
            else None
        )
        async with coord.executor.query(name="select", session=self._id) as q:
            self.running(q.id)
            async with trio.open_nursery() as nursery:
                runner = Runner(
                    RunContext(
                        query=q,
                        nursery=nursery,
                        connector=self.connector(),
                        semantics=sem,
                        cluster=coord.topology.cluster,
                        values=prepared.values,
                        texts=prepared.texts,
                        window=coord.topology.executor.window,
                        default_datasource=coord.default_datasource,
                        stats=stats,
                        group_concat_max_len=int(self.state.get("group_concat_max_len")),
                        ahead=ahead,
                    )
                )
                await drive(runner.operator(root), deliver)
                nursery.cancel_scope.cancel()
        for warning in runner.warnings:  # GROUP_CONCAT's cuts (1260)
            self.state.warn(*warning)
        stats.warnings += len(runner.warnings)
        result = columns()
        await sink.header(result)
        return result

    async def _run_one_shard(
        self, prepared: Prepared, one: _OneShard, sink: Counted, stats: ExecStats
    ) -> list[Column]:
        """The lean path of a statement that runs whole on one shard (a point query):
        one executor query of one child (:meth:`BucketedExecutor.run_one`: the same
        bucket, slot and watchdog as any child, no nursery), the shard's rows handed on
        as one batch — what the Runner's passthrough does, without building a Runner,
        a nursery and an operator for a single fetch. The rows are delivered after the
        child has returned its connection."""
        coord = self.coord
        plan: SelectPlan = prepared.plan
        read, shards = one
        sem = coord.semantics
        target, pieces, params = _one_shard_statement(
            read, shards, sem.dialect, coord.default_datasource
        )
        stats.shards += 1
        if params:
            texts = prepared.texts
            out = [pieces[0]]
            for index, piece in zip(params, pieces[1:], strict=True):
                out.append(texts[index])
                out.append(piece)
            sql = "".join(out)
        else:
            sql = pieces[0]
        connector = self.connector()

        async def child() -> ResultSet:
            async with connector.connection(target.datasource, target.databases) as conn:
                fetched: ResultSet = await conn.fetch(sql)
                return fetched

        stats.children += 1
        try:
            rs: ResultSet = await coord.executor.run_one(
                child,
                name="select",
                session=self._id,
                label=target.label,
                opened=self._opened,
                scope=self._scope,  # the statement's own: KILL QUERY cancels it anyway
            )
        finally:
            # Seconds queued for a slot / holding it: the executor timed its one child.
            query, self._opened_query = self._opened_query, None
            if query is not None:
                stats.queued += query.queued_seconds
                stats.running += query.running_seconds
        stats.streams.chunks += 1
        stats.streams.rows += len(rs.rows)
        if rs.warnings:
            stats.shard_warnings.add(target.shard, rs)
        columns = _passthrough_columns(plan, prepared, rs.columns, sem.dialect == "mysql")
        await sink.header(columns)
        if rs.rows:
            await sink.rows(rs.rows)
        return columns

    def _opened(self, query: Any) -> None:
        self.running(query.id)
        self._opened_query = query

    # ------------------------------------------------------------------ writes
    async def _write_statement(
        self, sql: str, params: Sequence[Any] | None, stats: ExecStats
    ) -> Result:
        try:
            prepared = await self._prepare(sql, params, kind="write")
        except ShardKeyUpdate as moving:
            return await self._moving_update(sql, params, moving, stats)
        except NotSupported as refusal:
            # ``WHERE k IN (SELECT ...)`` over sharded tables: the values, then the write.
            prepared = await self._with_subquery_values(sql, params, refusal, stats, "write")
        plan: WritePlan = prepared.plan
        try:
            ops = self._write_ops(plan, prepared)
        except _SeveralShardsLimit:
            return await self._limited_write(sql, params, plan, stats)
        stats.shards = sum(len(v) for v in ops.values())
        results = await self._write(ops, plan.kind, stats)
        count = (
            self._matched if plan.kind == "update" and self.state.client_found_rows else _changed
        )
        affected = sum(count(r) for rs in results.values() for r in rs)
        if plan.broadcast:
            # Every copy changed the same rows; report one copy's count.
            per_source = [sum(count(r) for r in rs) for rs in results.values()]
            affected = per_source[0] if per_source else 0
        last_id = None
        if self._lid_expr:
            # ``SET id = LAST_INSERT_ID(id + 1)``: the shard evaluated it; its OK packet
            # carries the value (the sequence idiom), which becomes the session's.
            ids = [r.last_insert_id for rs in results.values() for r in rs if r.last_insert_id]
            if ids:
                last_id = ids[-1]
                self.state.last_insert_id = last_id
        info = ""
        if plan.kind == "update":
            # MariaDB's OK info for an UPDATE (clients print it; ORMs parse "matched").
            matched = [sum(self._matched(r) for r in rs) for rs in results.values()]
            changed = [sum(_changed(r) for r in rs) for rs in results.values()]
            warned = [sum(r.warnings for r in rs) for rs in results.values()]
            if plan.broadcast:  # one copy's counts, as for affected
                matched, changed, warned = matched[:1], changed[:1], warned[:1]
            info = f"Rows matched: {sum(matched)}  Changed: {sum(changed)}  Warnings: {sum(warned)}"
        return Result(affected=affected, last_insert_id=last_id, info=info)

    async def _limited_write(
        self, sql: str, params: Sequence[Any] | None, plan: WritePlan, stats: ExecStats
    ) -> Result:
        """``UPDATE/DELETE … LIMIT n`` routed to several shards: the keys of the rows it
        writes (a merged, locking SELECT), then the write restricted to them, as one
        statement (:mod:`sharding.sql.limited_write`)."""
        tree = await self._literal_tree(sql, params)
        if not isinstance(tree, exp.Update | exp.Delete):
            raise NotSupported(f"{plan.kind.upper()} with LIMIT on several shards")
        dialect = self.coord.semantics.dialect
        choose = selection(tree, plan.table, lock=dialect == "mysql")
        limit = self.coord.topology.cluster.subquery_rows
        sink = _Bounded(limit, stop=False, what=f"{plan.kind.upper()} … LIMIT on several shards")
        async with self._statement_transaction():
            await self._select(choose.sql(dialect="mysql"), None, Counted(sink), stats)
            if not sink.collected:
                info = "Rows matched: 0  Changed: 0  Warnings: 0" if plan.kind == "update" else ""
                return Result(affected=0, info=info)
            write = restricted(tree, plan.table, sink.collected, dialect)
            return await self._write_statement(write.sql(dialect="mysql"), None, stats)

    async def _literal_tree(self, sql: str, params: Sequence[Any] | None) -> exp.Expr:
        """``sql`` parsed, its session variables and ``?`` parameters replaced by
        literals of their own type (for statements rewritten into others)."""
        tree = await cpu_bound(len(sql), parse_one, sql)
        if await cpu_bound(len(sql), _session_refs, sql):
            tree = self._substitute(tree)
        slots = param_slots(sql)
        values = self._values(slots, params)
        by_position = {s.position: i for i, s in enumerate(slots)}
        for node in list(tree.find_all(exp.Placeholder)):
            slot = by_position.get(placeholder_offset(node) or -1)
            if slot is None:
                raise ShardgateError("internal error: unmatched placeholder", code=1105)
            node.replace(literal_node(values[slot], "mysql"))
        return tree

    async def _moving_update(
        self, sql: str, params: Sequence[Any] | None, refusal: ShardKeyUpdate, stats: ExecStats
    ) -> Result:
        """``UPDATE … SET shard_key = …``: rows that keep their key are updated in place,
        the others deleted and inserted on their new shard, as one statement
        (:mod:`sharding.sql.moving_update`)."""
        tree = await self._literal_tree(sql, params)
        if not isinstance(tree, exp.Update) or not isinstance(tree.this, exp.Table):
            raise refusal
        if tree.args.get("joins") or tree.args.get("from_") or tree.args.get("from"):
            raise refusal
        table = tree.this
        database = table.db or self._database
        if not database:
            raise NoDatabaseSelected("No database selected")
        coord = self.coord
        info = await coord.catalog.lookup(database, table.name)
        referenced = any(
            fk.ref_table.lower() == info.name.lower()
            and fk.ref_database.lower() == info.database.lower()
            for other in coord.catalog.tables()
            for fk in other.foreign_keys
        )
        if info.foreign_keys or referenced or re.search(r"\bON\s+UPDATE\b", info.create_sql, re.I):
            raise NotSupported(
                f"UPDATE of the shard key of {info.qualified}, which has foreign keys or "
                "ON UPDATE columns (delete and insert would not be MySQL's update)"
            )
        sem = coord.semantics
        assigned = assignments(tree, info)
        choose = new_rows(tree, info, assigned, lock=sem.dialect == "mysql")
        width = len(info.columns)
        pk_width = len(info.primary_key)
        sink = _Bounded(
            coord.topology.cluster.subquery_rows, stop=False, what="UPDATE of a shard key"
        )
        async with self._statement_transaction():
            await self._select(choose.sql(dialect="mysql"), None, Counted(sink), stats)
            key_at = next(
                i
                for i, c in enumerate(info.columns)
                if c.name.lower() == info.rule.shard_key.lower()  # type: ignore[union-attr]
            )
            stay: list[Row] = []
            move: list[Row] = []
            for row in sink.collected:
                new_key, old_key = row[key_at], row[-1]
                same = type(new_key) is type(old_key) and new_key == old_key
                (stay if same else move).append(row)
            if len(sink.collected) > 1 and move:
                await self._refuse_order_dependent(tree, info, assigned, sink.collected, stats)
            matched = changed = warnings = 0
            if stay:
                keys = [row[width : width + pk_width] for row in stay]
                statement = in_place(tree, info, keys, sem.dialect)
                if statement is None:
                    matched += len(stay)
                else:
                    done = await self._write_statement(statement.sql(dialect="mysql"), None, stats)
                    m = _UPDATE_INFO.match(done.info or "")
                    if m is None:
                        raise ShardgateError("internal error: UPDATE without its counts", code=1105)
                    matched += int(m.group(1))
                    changed += int(m.group(2))
                    warnings += int(m.group(3))
            if move:
                keys = [row[width : width + pk_width] for row in move]
                target = table.copy()
                target.set("alias", None)  # the keys are unqualified
                deleted = restricted(exp.Delete(this=target), info, keys, sem.dialect)
                await self._write_statement(deleted.sql(dialect="mysql"), None, stats)
                columns = ", ".join(f"`{c.name.replace('`', '``')}`" for c in info.columns)
                head = f"INSERT INTO `{info.database.replace('`', '``')}`.`{info.name.replace('`', '``')}` ({columns})"
                for text, values in batches(head, width, [row[:width] for row in move]):
                    await self._insert(text, values, stats)
                matched += len(move)
                changed += len(move)
        affected = matched if self.state.client_found_rows else changed
        return Result(
            affected=affected,
            info=f"Rows matched: {matched}  Changed: {changed}  Warnings: {warnings}",
            warnings=warnings,
        )

    async def _refuse_order_dependent(
        self,
        tree: exp.Update,
        info: TableInfo,
        assigned: Sequence[tuple[str, exp.Expr]],
        rows: Sequence[Row],
        stats: ExecStats,
    ) -> None:
        """1235 when a new unique value of the rows a moving UPDATE writes is held by a
        row already: MySQL's outcome would depend on its scan order
        (:mod:`sharding.sql.moving_update`)."""
        width, pk_width = len(info.columns), len(info.primary_key)
        position = {c.name.lower(): i for i, c in enumerate(info.columns)}
        old_at = {name.lower(): width + pk_width + j for j, (name, _) in enumerate(assigned)}
        for columns in unique_keys(info, assigned):
            fresh = []
            for row in rows:
                new = tuple(row[position[c.lower()]] for c in columns)
                old = tuple(row[old_at.get(c.lower(), position[c.lower()])] for c in columns)
                if new != old:
                    fresh.append(new)
            if not fresh:
                continue
            probe = collision_probe(tree, columns, fresh, self.coord.semantics.dialect)
            found = _Bounded(1, stop=True)
            await self._select(probe.sql(dialect="mysql"), None, Counted(found), stats)
            if found.collected:
                raise NotSupported(
                    "UPDATE of a shard key over several rows where a new value of the unique "
                    f"key ({', '.join(columns)}) is held by a row already (MySQL's answer "
                    "depends on its scan order)"
                )

    @staticmethod
    def _matched(r: ExecResult) -> int:
        """CLIENT_FOUND_ROWS: rows matched by an UPDATE (MySQL shards report them in the
        OK packet's info; SQLite's count is the matched rows already)."""
        matched = getattr(r, "matched", None)
        return matched if isinstance(matched, int) else r.affected

    def _write_ops(self, plan: WritePlan, prepared: Prepared) -> dict[str, list[WriteOp]]:
        """The statement per routed shard (every copy of a broadcast table), by source."""
        sem = self.coord.semantics
        read = ShardRead(
            plan.template,
            plan.tables,
            plan.route,
            plan.leader,
            route_tables=plan.route_tables or (plan.table,),
        )
        if plan.broadcast:
            targets = self._broadcast_targets(plan.tables)
        else:
            targets = shard_targets(read, route_shards(read, prepared.values, sem), sem.dialect)
        if plan.single_only and len(targets) > 1:
            raise _SeveralShardsLimit(f"{plan.kind.upper()} with LIMIT on several shards")
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

            ctx = WriteContext(self._sources, run_child)
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
        async with self._sources[op.datasource].connection(op.databases) as conn:
            result: ExecResult = await conn.execute(op.sql)
            return result

    async def _insert(self, sql: str, params: Sequence[Any] | None, stats: ExecStats) -> Result:
        coord = self.coord
        if await cpu_bound(len(sql), _session_refs, sql):
            sql = await cpu_bound(len(sql), self._insert_text, sql)
        try:
            shape = await self._insert_shape(sql)
        except InsertSelectFound as found:
            return await self._insert_select(sql, found.start, params, stats)
        info, parsed = shape.info, shape.parsed
        prepared = await cpu_bound(len(sql), shape.bind, params)
        given = len(params) if params else 0
        expected = parsed.param_count + (shape.upsert.params if shape.upsert is not None else 0)
        if expected != given:
            raise BadArguments(
                f"Incorrect arguments to mysqld_stmt_execute: statement has {expected} "
                f"placeholder(s), {given} value(s) given"
            )
        ids: list[int] = []
        if prepared.id_count:
            ids = await coord.catalog.next_ids(info.database, info.name, prepared.id_count)
        rows = await cpu_bound(len(sql), prepared.finish, ids)
        if rows.largest_explicit_id is not None and info.auto_increment:
            await coord.catalog.observe_ids(info.database, info.name, rows.largest_explicit_id)
        ops = await cpu_bound(len(sql), _insert_ops, rows)
        stats.shards = sum(len(v) for v in ops.values())
        results = await self._write(ops, "insert", stats)
        count = _changed
        if (
            self.state.client_found_rows
            and coord.semantics.dialect == "mysql"
            and _UPSERT.search(sql)
        ):
            count = _upsert_found_rows
        affected = sum(count(r) for rs in results.values() for r in rs)
        # The shards' warning counts (INSERT IGNORE's duplicates, truncations): the OK
        # packet carries them as MariaDB's does (LOAD DATA sums them per batch).
        warned = [sum(r.warnings for r in rs) for rs in results.values()]
        if info.broadcast:
            per_source = [sum(count(r) for r in rs) for rs in results.values()]
            affected = per_source[0] if per_source else 0
            warned = warned[:1]
        if rows.first_id is not None:
            self.last_insert_id = rows.first_id
            return Result(affected=affected, last_insert_id=rows.first_id, warnings=sum(warned))
        # Only explicit ids: LAST_INSERT_ID() keeps its value, but the OK packet carries
        # the row's id as MariaDB's does (the shard's own OK packet says which).
        explicit = None
        if info.auto_increment:
            ids = [r.last_insert_id for rs in results.values() for r in rs if r.last_insert_id]
            explicit = ids[0] if len(ids) == 1 else rows.largest_explicit_id
        return Result(affected=affected, last_insert_id=explicit, warnings=sum(warned))

    async def _insert_select(
        self, sql: str, start: int, params: Sequence[Any] | None, stats: ExecStats
    ) -> Result:
        """``INSERT/REPLACE … SELECT``: the SELECT's rows, then prepared multi-row
        INSERTs of them, atomic as one statement (:mod:`sharding.sql.insert_select`)."""
        parts = split_insert_select(sql, start)
        target = scan_insert(parts.head + " VALUES ()")
        database = target.database or self._database
        if not database:
            raise NoDatabaseSelected("No database selected")
        info = await self.coord.catalog.lookup(database, target.table)
        width = len(target.columns) if target.columns is not None else len(info.columns)
        limit = self.coord.topology.cluster.subquery_rows
        sink = _Bounded(limit, stop=False, what="INSERT ... SELECT")
        affected = warnings = 0
        first_id: int | None = None
        explicit: int | None = None
        async with self._statement_transaction():
            # Strict mode's errors for the SELECT's conversions (CAST of a string that
            # is no integer: 1292), where a plain read only warns (sql/insert_select.py).
            with strict_select(parts.head):
                await self._select(parts.select, params, Counted(sink), stats)
            if sink.width != width:
                raise ColumnCountMismatch("Column count doesn't match value count at row 1")
            for text, values in batches(parts.head, width, sink.collected):
                before = self.last_insert_id
                done = await self._insert(text, values, stats)
                affected += done.affected
                warnings += done.warnings
                generated = done.last_insert_id and self.last_insert_id != before
                if generated and first_id is None:
                    first_id = done.last_insert_id
                elif done.last_insert_id and not generated:
                    explicit = done.last_insert_id
        if first_id is not None:
            self.last_insert_id = first_id  # LAST_INSERT_ID(): the statement's first id
        records = len(sink.collected)
        duplicates = affected - records if target.verb == "REPLACE" else records - affected
        return Result(
            affected=affected,
            last_insert_id=first_id if first_id is not None else explicit,
            warnings=warnings,
            info=f"Records: {records}  Duplicates: {duplicates}  Warnings: {warnings}",
        )

    @contextlib.asynccontextmanager
    async def _statement_transaction(self) -> AsyncIterator[None]:
        """A statement that reads and then writes (``INSERT … SELECT``, a multi-shard
        ``UPDATE/DELETE … LIMIT``), atomic as MySQL runs it. In autocommit: a
        transaction of its own, committed at the end, rolled back on any failure.
        Inside a transaction: a savepoint before it, so a failure undoes this statement
        only (MySQL's statement rollback); SQLite shards have no shared savepoint, so
        there the statement is as atomic as its one write."""
        if self._txn is None and self._autocommit:
            self._txn = self.coord.new_transaction(self._sources)
            try:
                yield
            except BaseException:
                with trio.CancelScope(shield=True), trio.move_on_after(_ROLLBACK_SECONDS):
                    await self._finish_txn(commit=False)
                raise
            await self._finish_txn(commit=True)
            return
        await self._ensure_implicit_txn()
        txn = self._txn
        if txn is None or self.coord.semantics.dialect != "mysql":
            yield
            return
        name = f"shardgate_statement_{next(_STATEMENT_SAVEPOINTS)}"
        await txn.savepoint(name)
        try:
            yield
        except BaseException:
            with trio.CancelScope(shield=True), trio.move_on_after(_ROLLBACK_SECONDS):
                await txn.rollback_to(name)
                await txn.release(name)
            raise
        await txn.release(name)

    def _insert_text(self, sql: str) -> str:
        """An INSERT with ``@v``/session functions in its values, with them replaced by
        their values (the scanner then splits it like any other)."""
        tree = parse_one(sql)
        sub = substitute(tree, self.state)
        if not sub.changed:
            return sql
        # A value that held a variable is folded to a constant (``@k + 10`` → ``13``):
        # the scanner routes rows by constant shard-key values only.
        before = list(tree.find_all(exp.Tuple))
        after = list(sub.tree.find_all(exp.Tuple))
        if len(before) == len(after):
            # sqlglot's optimizer (~40 ms of imports) only for such rare INSERTs, not at
            # every ``shardgate serve`` start-up.
            from sqlglot.optimizer.simplify import simplify

            for old, new in zip(before, after, strict=True):
                values = [
                    simplify(n.copy()) if n != o and n.find(exp.Column) is None else n
                    for o, n in zip(old.expressions, new.expressions, strict=False)
                ]
                new.set("expressions", values)
        return sub.tree.sql(dialect="mysql")

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
        parsed = await cpu_bound(len(sql), scan_insert, sql)
        database = parsed.database or self._database
        if not database:
            raise NoDatabaseSelected("No database selected")
        info = await coord.catalog.lookup(database, parsed.table)
        generation = coord.catalog.generation  # after a reload by lookup()
        built = await cpu_bound(
            len(sql), lambda: insert_shape(sql, parsed, info, coord.semantics, reuse=cacheable)
        )
        if cacheable:
            coord.plan_cache.put(key, {}, built, generation)
        return built

    async def explain_rows(self, sql: str) -> list[tuple[Any, ...]]:
        kind = first_keyword(sql)
        if kind in _SELECT_KINDS or kind in ("UPDATE", "DELETE"):
            try:
                return await self._explain_rows(kind, sql)
            except NotSupported as refusal:
                return await self._explain_subquery_values(kind, sql, refusal)
        return await self._explain_rows(kind, sql)

    async def _explain_subquery_values(
        self, kind: str, sql: str, refusal: NotSupported
    ) -> list[tuple[Any, ...]]:
        """EXPLAIN of a statement whose subqueries run first as values (nothing runs)."""
        tree = await cpu_bound(len(sql), parse_one, sql)
        decorrelate(tree, lookups=self.coord.semantics.dialect == "mysql")  # as it runs
        uses = subquery_uses(tree)
        if not uses:
            raise refusal
        rows: list[tuple[Any, ...]] = []
        for use in uses:
            select = use.select.copy()
            if use.kind == "in" and isinstance(select, exp.Select):
                select.set("distinct", exp.Distinct())
            inner = select.sql(dialect="mysql")
            rows.append(
                (len(rows) + 1, "SubqueryValues", f"{use.kind}: runs first, as its own statement")
            )
            try:
                inner_rows = await self.explain_rows(inner)
            except ShardgateError as exc:
                if exc.code == 1054:  # it names the outer query: correlated
                    raise refusal from None
                raise
            for _, op, detail in inner_rows:
                rows.append((len(rows) + 1, "  " + op, detail))
        rows.append(
            (
                len(rows) + 1,
                kind.capitalize(),
                "then planned with the values in place of the subqueries (routed by them)",
            )
        )
        return rows

    async def _explain_rows(self, kind: str, sql: str) -> list[tuple[Any, ...]]:
        coord = self.coord
        if kind in _SELECT_KINDS:
            prepared = await self._prepare(sql, None, kind="select")
            try:
                _check_runnable(prepared, coord.semantics)
            except NotSupported:
                if subquery_uses(await cpu_bound(len(sql), parse_one, sql)):
                    raise  # it runs with its subqueries' values: explain that
            return list(
                explain_rows(
                    prepared.plan,
                    prepared.values,
                    prepared.texts,
                    coord.semantics,
                    coord.default_datasource,
                    coord.topology.cluster.chunk_rows,
                    coord.topology.cluster.merge_budget_rows,
                    coord.topology.cluster.pushdown,
                )
            )
        if kind in ("UPDATE", "DELETE"):
            prepared = await self._prepare(sql, None, kind="write")
            plan: WritePlan = prepared.plan
            ops = self._write_ops(plan, prepared)
            head = f"route: {plan.route.describe(prepared.values)}"
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
            self._txn = self.coord.new_transaction(self._sources)
            return Result()
        if kind == "COMMIT":
            await self._finish_txn(commit=True)
            return Result()
        if kind == "ROLLBACK":
            if re.search(r"\bTO\b", text, re.IGNORECASE):
                return await self._savepoint_statement(kind, sql)
            await self._finish_txn(commit=False)
            return Result()
        # SET: parsed once, checked and applied by the session state (its one owner).
        before = self.state.diagnostics
        applied = await self.state.apply_set(parse_set_text(sql), self._evaluate)
        if applied.get("autocommit") and self._txn is not None:
            await self._finish_txn(commit=True)  # MySQL: autocommit=1 commits
        # The OK packet counts the SET's own warnings (the last statement's stay shown).
        after = self.state.diagnostics
        return Result(warnings=len(after) if after is not before else 0)

    async def _savepoint_statement(self, kind: str, sql: str) -> Result:
        """``SAVEPOINT x``, ``ROLLBACK [WORK] TO [SAVEPOINT] x``, ``RELEASE SAVEPOINT x``:
        applied on every shard connection of the transaction (see
        :class:`~sharding.exec.connector.SessionTransaction`). Outside a transaction
        MySQL accepts SAVEPOINT and forgets it at once (autocommit)."""
        m = _SAVEPOINT.match(sql)
        if m is None:
            raise mysql_syntax_error(sql, 0, f"{kind} needs a savepoint name")
        name = m.group("name")
        name = name[1:-1].replace("``", "`") if name.startswith("`") else name
        if self.coord.semantics.dialect != "mysql":
            # A SQLite data source writes each shard file through its own connection
            # state; a savepoint would have to be set in each of them.
            raise NotSupported(f"{m.group('verb').upper()} on SQLite shards")
        if self._txn is None and not self._autocommit:
            await self._ensure_implicit_txn()
        txn = self._txn
        verb = m.group("verb").upper()
        if verb == "SAVEPOINT":
            if txn is not None:
                await txn.savepoint(name)
            return Result()
        if txn is None:
            raise ShardgateError(f"SAVEPOINT {name} does not exist", code=1305, sqlstate="42000")
        if verb.startswith("RELEASE"):
            await txn.release(name)
        else:
            await txn.rollback_to(name)
        return Result()

    async def _finish_txn(self, commit: bool) -> None:
        txn, self._txn = self._txn, None
        if txn is None:
            return
        results = await txn.finish(commit)
        commit_report(results, commit)


def _changed(r: ExecResult) -> int:
    return r.affected


def _upsert_found_rows(r: ExecResult) -> int:
    """CLIENT_FOUND_ROWS for ``INSERT ... ON DUPLICATE KEY UPDATE`` from a shard's OK
    packet (backend connections never ask for found rows): a duplicate left as it was
    counts 1 instead of 0. MariaDB's info text counts ``Records`` (rows) and
    ``Duplicates`` (rows changed by the update, measured): inserted and unchanged rows
    count 1 each, changed ones 2, so the answer is ``records + duplicates``. A one-row
    statement has no info: affected 0 is an unchanged duplicate."""
    records = getattr(r, "records", None)
    duplicates = getattr(r, "duplicates", None)
    if records is None or duplicates is None:
        return 1 if r.affected == 0 else r.affected
    return int(records + duplicates)


class _SeveralShardsLimit(NotSupported):
    """An UPDATE/DELETE with LIMIT routed to several shards (run in two steps)."""


class _PastBound(NotSupported):
    """A sink of :class:`_Bounded` was offered more rows than its bound."""


class _Bounded:
    """A sink that keeps at most ``limit`` rows: more is an error naming the setting
    (``stop``: the caller wants only the first ``limit``, so stop there instead)."""

    def __init__(self, limit: int, *, stop: bool, what: str = "a subquery used as a value") -> None:
        self.limit = limit
        self.stop = stop
        self.what = what
        self.collected: list[Row] = []
        self.width = 0

    async def header(self, columns: list[Column]) -> None:
        self.width = len(columns)

    async def rows(self, batch: list[Row]) -> bool:
        room = self.limit - len(self.collected)
        if len(batch) > room and not self.stop:
            raise _PastBound(
                f"{self.what} read more than {self.limit} rows "
                "(cluster.subquery_rows); join the tables instead, or raise the setting"
            )
        self.collected.extend(batch[:room])
        return len(self.collected) < self.limit


def _value_slot(value: int | str) -> Slot:
    """The slot of one value of a folded subquery result: an integer written as its
    digits, a string rendered as a literal (``slot_text``)."""
    if isinstance(value, str):
        return Slot(-1, None, "", value, True)
    return Slot(-1, None, str(value), value, False)


def _drop_dual(tree: exp.Expr) -> None:
    """``FROM DUAL`` names no table (MySQL): the statement is planned without it."""
    for select in tree.find_all(exp.Select):
        key = "from_" if "from_" in select.args else "from"
        source = select.args.get(key)
        table = source.this if source is not None else None
        if (
            isinstance(table, exp.Table)
            and not table.db
            and table.name.lower() == "dual"
            and not select.args.get("joins")
        ):
            select.set(key, None)


#: A statement that runs whole on one shard: its read and the shard (a one-element
#: list), or None for a read of broadcast tables only (one data source's copy).
_OneShard = tuple[ShardRead, list[int] | None]


def _one_shard(prepared: Prepared, sem: Any) -> _OneShard | None:
    """The read of a plan that runs whole on one shard for this call's values (what
    :func:`~sharding.exec.run.passthrough_single` decides, routed once), else None."""
    plan = prepared.plan
    if not isinstance(plan, SelectPlan) or plan.join or plan.single is None:
        return None
    read = plan.single.read
    if read.leader is None:
        return read, None
    shards = route_shards(read, prepared.values, sem)
    return (read, shards) if len(shards) == 1 else None


#: What a one-shard read sends, by read and then shard: the target, and the read's
#: template with the table names of that shard already in place — its pieces between
#: the parameter holes, and the slot of each hole. A plan is cached, so the same reads
#: come back call after call. Entries hold their read weakly (gone with it) and the
#: dict is bounded.
_ONE_SHARD_SQL: dict[
    int,
    tuple[weakref.ref[ShardRead], dict[int, tuple[Target, tuple[str, ...], tuple[int, ...]]]],
] = {}
_ONE_SHARD_SQL_SIZE = 1024


def _one_shard_statement(
    read: ShardRead, shards: list[int] | None, dialect: str, default_ds: str
) -> tuple[Target, tuple[str, ...], tuple[int, ...]]:
    """The target of a one-shard read and its statement as pieces around the parameter
    slots: ``read.template.bind(texts).fill(target.names)`` is the pieces joined with
    each slot's text (cached per read and shard)."""
    shard = -1 if shards is None else shards[0]
    key = id(read)
    entry = _ONE_SHARD_SQL.get(key)
    if entry is not None and entry[0]() is read:
        per_shard = entry[1]
        hit = per_shard.get(shard)
        if hit is not None:
            return hit
    else:
        if len(_ONE_SHARD_SQL) >= _ONE_SHARD_SQL_SIZE:
            _ONE_SHARD_SQL.clear()
        per_shard = {}
        _ONE_SHARD_SQL[key] = (weakref.ref(read, _forget(_ONE_SHARD_SQL, key)), per_shard)
    if shards is None:
        target = broadcast_target(read.tables, dialect, default_ds)
    else:
        target = shard_targets(read, shards, dialect)[0]
    template = read.template
    pieces: list[str] = []
    params: list[int] = []
    current = [template.pieces[0]]
    for (kind, index), piece in zip(template.holes, template.pieces[1:], strict=True):
        if kind == PARAM:
            pieces.append("".join(current))
            params.append(index)
            current = [piece]
        else:
            # A table hole gets this shard's name; a keyset hole what fill() puts
            # there by default (a passthrough read is never continued).
            current.append(target.names[index] if kind == TABLE else "1")
            current.append(piece)
    pieces.append("".join(current))
    out = (target, tuple(pieces), tuple(params))
    if len(per_shard) < 64:
        per_shard[shard] = out
    return out


#: The result columns of a passthrough plan whose names and types do not depend on
#: the call (no literal in a name, no type decided by a literal's value), by plan, with
#: the shard's columns they were built from. Held like _ONE_SHARD_SQL.
_PASSTHROUGH_COLUMNS: dict[
    int, tuple[weakref.ref[SelectPlan], tuple[Column, ...], tuple[Column, ...]]
] = {}
_PASSTHROUGH_COLUMNS_SIZE = 1024


def _forget(cache: dict[int, Any], key: int) -> Callable[[Any], None]:
    """A weakref callback dropping ``cache[key]`` when its object goes."""

    def drop(ref: Any) -> None:
        entry = cache.get(key)
        if entry is not None and entry[0] is ref:
            del cache[key]

    return drop


def _passthrough_columns(
    plan: SelectPlan, prepared: Prepared, shard: Sequence[Column] | None, mysql: bool
) -> list[Column]:
    """The definitions a one-shard result is sent with (what ``_run_select`` builds for
    a passthrough: :func:`~sharding.sql.describe.result_columns`)."""
    if plan.columns is None:
        return list(shard) if shard is not None else []
    key = id(plan)
    hit = _PASSTHROUGH_COLUMNS.get(key)
    if hit is not None and hit[0]() is plan and shard is not None and hit[1] == tuple(shard):
        return list(hit[2])
    columns = result_columns(
        [render_name(c, prepared.slots) for c in plan.columns],
        plan.types,
        None,  # a passthrough: every output column is the shard's own
        shard,
        prepared.slots,
        prepared.values,
        shard_metadata=mysql,
    )
    if (
        shard is not None
        and not any(c.slot_positions for c in plan.columns)
        and not any(isinstance(t, SlotTyped) for t in plan.types or ())
    ):
        if len(_PASSTHROUGH_COLUMNS) >= _PASSTHROUGH_COLUMNS_SIZE:
            _PASSTHROUGH_COLUMNS.clear()
        ref = weakref.ref(plan, _forget(_PASSTHROUGH_COLUMNS, key))
        _PASSTHROUGH_COLUMNS[key] = (ref, tuple(shard), tuple(columns))
    return columns


def _check_runnable(prepared: Prepared, sem: Any) -> None:
    """Raise the plan's refusal now when this call cannot run (before any row is sent)."""
    check_runnable(prepared.plan, prepared.values, sem)


class _Discard:
    """A sink that drops rows (counting is done by the ``Counted`` around it)."""

    async def header(self, columns: list[Column]) -> None:
        return None

    async def rows(self, batch: list[Row]) -> bool:
        return True


#: The one scan of a statement text with placeholders (normalised form, session
#: references), by its text: a prepared statement's text comes back at every execution.
#: Both are functions of the text alone. Bounded; cleared when full.
_SCANNED: dict[str, tuple[Normalized, bool]] = {}
_SCANNED_SIZE = 1024

#: Words a session-function reference must contain. ``has_session_refs``' regex holds
#: the GIL ~0.1 s per MB (a worker thread does not help); a substring test per word is
#: ~1 ms per MB, so a statement mentioning none of them skips it (issue 12 item 4; a
#: short one saves ~2 µs per statement the same way, issue 16).
_SESSION_WORDS = (
    "database",
    "schema",
    "version",
    "connection_id",
    "user",
    "last_insert_id",
    "row_count",
    "found_rows",
)


def _session_refs(sql: str) -> bool:
    # The substring test first at every size: on a short statement too it costs a
    # fraction of the regex, which scans the whole text at every position.
    if "@" not in sql:
        lower = sql.lower()
        if not any(w in lower for w in _SESSION_WORDS):
            return False
    return has_session_refs(sql)


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
