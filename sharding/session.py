"""A client session: the public session, statement dispatch, and preparation.

Implements :class:`sharding.api.Session`. One statement runs at a time per session;
each is one logical executor query (``session`` = the session id, so the ``hash``
bucket policy keeps a session's queries in one bucket, like MySQL's
``thread_id % groups``). The statement flow:

``text → lexer (keyword, literals → ?) → plan cache / parse + plan → bind → run``

This module holds the session's state and its statement lifecycle: ``_statement``
(busy/closed checks, the cancel scope of ``KILL QUERY``, every failure as a
:class:`~sharding.errors.ShardgateError`, ROW_COUNT()/FOUND_ROWS()/diagnostics after
it, the coordinator's :class:`~sharding.logging_setup.StatementLog`), ``_dispatch`` by
first keyword, and preparation: ``_prepare`` (text → :class:`Prepared`, a plan bound
to the call's values: the one scan of a text is
:func:`~sharding.sql.fast_normalize.fast_normalize` or the lexer's ``normalize``,
remembered by text for statements with ``?`` placeholders; plans from the plan cache;
long IN lists folded into one slot), and ``_with_subquery_values`` (the statement
planned with its uncorrelated subqueries' results in their place). What runs a
prepared statement lives in one module per concept, each a set of functions that take
the session as their first parameter (no mixins):

* :mod:`sharding.session_reads` — SELECT execution: the Runner, the lean one-shard
  point path, subquery values, paging past ``cluster.subquery_rows``, FOUND_ROWS();
* :mod:`sharding.session_writes` — UPDATE/DELETE routing and execution, INSERT
  paths (the scanner's fast path, ``INSERT … SELECT``), upserts, moving updates;
* :mod:`sharding.session_explain` — EXPLAIN (nothing runs);
* :mod:`sharding.session_txn` — USE, transactions, savepoints, SET, statement
  atomicity;
* :mod:`sharding.session_prepared` — :class:`Prepared` and what they all share.

DDL is in :mod:`sharding.schema_changes`, SHOW/DESCRIBE in
:mod:`sharding.introspection`, session variables in :mod:`sharding.session_state` (their
one owner). Rows of a SELECT go to a sink (:mod:`sharding.result_stream`): collected by
``execute``, handed over batch by batch by ``stream``; ``stream_into`` runs a SELECT in
the caller's task into the caller's sink (what the protocol server uses: no producer
task, no channel). Numbers: :mod:`sharding.server.connection`.

The point query's path (issue 16) is ``_statement`` → ``_dispatch`` →
:func:`~sharding.session_reads.select_statement` → ``_prepare`` →
:func:`~sharding.session_reads.run_select` (routed once) → the one-shard run: module
functions called directly, no extra object or attribute hop per call
(``bench/point_instructions.py`` counts it). A text SELECT whose plan is cached and
runs whole on one shard takes a shorter way: :meth:`lean_select` (one scan, one
plan-cache lookup, no other check of the text) and :meth:`run_lean` → ``_statement``
→ the same one-shard run (:mod:`sharding.session_lean` argues why it answers as the
full path does).

Invariants: one statement at a time (``_busy``); the session holds at most one
transaction (``_txn``: opened by ``BEGIN``/``autocommit = 0`` per data source on first
use, ended by COMMIT/ROLLBACK, committed first by DDL as in MySQL, rolled back by
``close()``); a single write on one shard outside a transaction runs in autocommit,
anything larger in the transaction or by the coordinator's commit strategy.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import structlog
import trio
from sqlglot import exp

from executor.query import Query
from sharding.api import ClientInfo, Result
from sharding.backend.base import Column
from sharding.catalog import TableInfo
from sharding.charsets_data import CHARSETS
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
from sharding.exec.connector import AutocommitConnector, Connector, SessionTransaction
from sharding.exec.run import (
    ExecStats,
    client_error,
)
from sharding.exec.shard_settings import SessionSources
from sharding.logging_setup import log_statement_error
from sharding.result_stream import Collect, Counted, ResultStream, RowSink
from sharding.session_answers import answer_select, answer_show
from sharding.session_lean import LeanSelect, lean_select, run_lean_select
from sharding.session_prepared import Prepared, render_name, session_refs
from sharding.session_reads import (
    MENTIONS_INFORMATION_SCHEMA,
    SELECT_KINDS,
    backend_collations,
    item_collations,
    lookup_collation,
    select_statement,
    subquery_rows,
    value_slot,
)
from sharding.session_set_statement import SetStatement, set_statement_parts, statement_kind
from sharding.session_state import SessionState, substitute
from sharding.session_txn import (
    doom_transaction,
    doomed_statement,
    evaluate,
    finish_txn,
    savepoint_statement,
    session_statement,
    transaction_lost,
)
from sharding.session_writes import insert_statement, write_statement
from sharding.sql.context import PlanContext
from sharding.sql.decorrelate import decorrelate
from sharding.sql.derived_columns import cte_map
from sharding.sql.describe import (
    UNKNOWN,
    TypedColumn,
    describe_plan,
    describe_select,
)
from sharding.sql.dml import WritePlan, plan_write
from sharding.sql.fast_normalize import fast_normalize
from sharding.sql.inlist import FOLD_MIN, Folded, InList, fold_in_lists, foldable_in
from sharding.sql.lexer import (
    SPACE_AND_COMMENTS,
    Normalized,
    Slot,
    first_keyword,
    names_a_table,
    normalize,
    param_slots,
    select_into,
    without_calc_found_rows,
)
from sharding.sql.literals import slot_text
from sharding.sql.materialize import (
    drop_materialized_ctes,
    folded_values,
    literal_node,
    replace_with_values,
    runnable_select,
    subquery_uses,
)
from sharding.sql.nodes import SelectPlan
from sharding.sql.offload import cpu_bound, is_big
from sharding.sql.parse import (
    PLACEHOLDER_START,
    mysql_syntax_error,
    parse_one,
    placeholder_offset,
)
from sharding.sql.plan import plan_select
from sharding.sql.rewrite import SLOT
from sharding.sql.scope import referenced_tables
from sharding.user_locks import TAKING_LOCK, UserLocks, mentions_lock, user_lock_statement

if TYPE_CHECKING:
    from sharding.coordinator import Coordinator

__all__ = ["CoordinatorSession", "Prepared", "render_name"]

log = structlog.get_logger("sharding")

_ids = itertools.count(1)
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


#: First words of MariaDB statements the coordinator does not run (those it runs are
#: dispatched before): a clear 1235, not the 1064 "syntax error" a tool would report
#: as a bug in its SQL (``XA START``, ``CHECK TABLE``, ``DO 1``, ``SIGNAL ...``). Any
#: other first word is MariaDB's 1064.
_MARIADB_STATEMENT_WORDS = frozenset(
    {
        "XA", "HANDLER", "CHECK", "CHECKSUM", "REPAIR", "CACHE", "LOAD", "DO", "PURGE",
        "RESET", "SIGNAL", "RESIGNAL", "GET", "DEALLOCATE", "BACKUP", "INSTALL",
        "UNINSTALL", "BINLOG", "HELP", "SHUTDOWN", "CALL", "PREPARE", "EXECUTE", "ANALYZE",
        "OPTIMIZE", "GRANT", "REVOKE", "CHANGE", "STOP", "DECLARE", "KILL", "IF", "CASE",
        "LOOP", "REPEAT", "WHILE", "RETURN", "LEAVE", "ITERATE", "FETCH", "OPEN", "CLOSE",
        "VALUES",
    }
)  # fmt: skip
#: The SHOW statements that leave the diagnostics area as it was (MariaDB answers
#: them without a table); every other SHOW, and DESCRIBE, reads information_schema
#: tables and clears it, as a SELECT from a table does.
_SHOW_KEEPS_DIAGNOSTICS = re.compile(
    r"\s*SHOW\s+(?:FULL\s+)?(?:PROCESSLIST|GRANTS|CREATE\s+(?:DATABASE|SCHEMA|USER)|MASTER|"
    r"SLAVE|REPLICA|BINLOG|BINARY|WARNINGS|ERRORS|COUNT)\b",
    re.IGNORECASE,
)
#: ``SHOW WARNINGS`` / ``SHOW ERRORS`` (not their ``COUNT(*)``): MariaDB leaves
#: FOUND_ROWS() as it was after them (ROW_COUNT() is -1, as after any result set).
_SHOW_DIAGNOSTICS = re.compile(r"\s*SHOW\s+(?:WARNINGS|ERRORS)\b", re.IGNORECASE)


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
        self.state.shard_text = coord.catalog.logical_text
        self.state.unhonoured = coord.unhonoured_setting
        # Shard connections borrowed with the session's shard-relevant variables.
        self._sources = SessionSources(coord.datasources, self.state)
        self._autocommit_connector = AutocommitConnector(self._sources)
        self._database = database
        self._autocommit = True
        self._lid_expr = False
        self._calc_found: int | None = None
        #: Rows a ``SELECT ... INTO @v`` selected (0 or 1), for ROW_COUNT()/FOUND_ROWS().
        self._into_rows: int | None = None
        self._txn: SessionTransaction | None = None
        #: A statement inside ``_txn`` could not be undone (why): the transaction is
        #: lost (sharding.session_txn.transaction_lost).
        self._txn_unsound: str | None = None
        #: User-level locks (GET_LOCK ...) and the connection that holds them
        #: (sharding.user_locks); None until the first lock statement.
        self._user_locks: UserLocks | None = None
        #: ``START TRANSACTION READ ONLY`` (True) / ``READ WRITE`` (False) of the open
        #: transaction; None: ``@@tx_read_only`` decides (sharding.session_txn).
        self._txn_read_only: bool | None = None
        #: The transaction was rolled back because part of it was lost: the error of
        #: every statement until ROLLBACK (sharding.session_txn.doom_transaction).
        self._doomed: ShardgateError | None = None
        self._scope: trio.CancelScope | None = None
        self._query_id: int | None = None
        self._cancelled = False
        self._busy = False
        self._closed = False
        #: Statements run by the lean path (sharding.session_lean), for tests and status.
        self.lean_statements = 0
        self._ephemeral = ephemeral
        #: The one-child query of a one-shard statement, once opened (its timings).
        self._opened_query: Query | None = None

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
            elif word == "SHOW":
                result = answer_show(self.state, sql, dict(status) if status is not None else None)
            else:
                return None
            if result is not None:  # a result set: MariaDB's ROW_COUNT() and FOUND_ROWS()
                self.state.row_count = -1
                if not _SHOW_DIAGNOSTICS.match(sql):
                    self.state.found_rows = len(result.rows)
                if word == "SHOW" and not _SHOW_KEEPS_DIAGNOSTICS.match(sql):
                    self.state.diagnostics = []
            return result
        except ShardgateError as exc:
            self.state.diagnostics = [("Error", exc.code, str(exc))]
            raise

    # ------------------------------------------------------------------ protocol
    @property
    def id(self) -> int:
        return self._id

    @property
    def database(self) -> str | None:
        return self._database

    @property
    def in_transaction(self) -> bool:
        # A transaction rolled back by the coordinator stays open for the client
        # until its ROLLBACK (sharding.session_txn.doomed_statement).
        return self._txn is not None or self._doomed is not None

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
                    from sharding.introspection import Introspection

                    answer = await Introspection(self).run(kind, sql)
            except ShardgateError:
                return None
            return list(answer.columns) if answer.columns is not None else None
        if mentions_lock(sql):
            return None  # GET_LOCK ...: its columns are the lock connection's answer
        if kind not in SELECT_KINDS:
            if kind not in _STATEMENT_WORDS:
                parse_one(sql)  # not a statement at all: 1064 at prepare, as in MySQL
            return None
        # Imported here, not at start-up: the module (and the views it builds) costs
        # ``shardgate serve`` start-up time that a first query need not wait for.
        from sharding.information_schema import references_information_schema

        if references_information_schema(sql) or self._database == "information_schema":
            return None
        if select_into(sql) is not None:
            return None  # SELECT ... INTO @v answers with an OK, no result set
        sql = without_calc_found_rows(sql) or sql
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
            if first_keyword(sql) not in SELECT_KINDS:
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
        if not self.streams(sql):
            raise NotSupported("stream() runs SELECT statements only")
        kind = first_keyword(sql)
        # SET STATEMENT … FOR SELECT: _statement finds the SELECT and applies the values.
        return await self._statement(sql, params, sink, None if kind == "SET" else kind)

    def streams(self, sql: str) -> bool:
        """Whether :meth:`stream_into` runs ``sql``: a SELECT, or ``SET STATEMENT … FOR``
        one (the protocol server streams its result set instead of collecting it)."""
        kind = first_keyword(sql)
        return kind in SELECT_KINDS or (kind == "SET" and statement_kind(sql) in SELECT_KINDS)

    def lean_select(self, sql: str) -> LeanSelect | None:
        """``sql`` as a cached one-shard SELECT for :meth:`run_lean`, or None when it
        takes the full path (:mod:`sharding.session_lean`). Changes nothing."""
        return lean_select(self, sql)

    async def run_lean(self, sql: str, lean: LeanSelect, sink: RowSink) -> Result:
        """:meth:`stream_into` for a statement :meth:`lean_select` took, right after it
        (nothing awaited in between: the session is as it was checked)."""
        self.lean_statements += 1
        return await self._statement(sql, None, sink, "SELECT", lean)

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
        self._doomed = None
        self._txn_unsound = None
        try:
            if self._txn is not None:
                txn, self._txn = self._txn, None
                await txn.finish(commit=False)
        finally:
            if self._user_locks is not None:
                # The client left: its locks are released, as MariaDB's connection's.
                locks, self._user_locks = self._user_locks, None
                await locks.release()

    # ------------------------------------------------------------------ statement
    async def _statement(
        self,
        sql: str,
        params: Sequence[Any] | None,
        sink: RowSink,
        kind: str | None = None,
        lean: LeanSelect | None = None,
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
        self._into_rows = None
        counted = Counted(sink)
        stats = ExecStats()
        started = trio.current_time()
        known_kind, kind = kind, ""
        result: Result | None = None
        failure: ShardgateError | None = None
        error: BaseException | None = None
        #: SET STATEMENT … FOR: the values applied around the inner statement.
        set_statements: list[SetStatement] = []
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                try:
                    kind = first_keyword(sql) if known_kind is None else known_kind
                    chain: list[tuple[str, int, int]] = []
                    while kind == "SET" and (parts := set_statement_parts(sql)) is not None:
                        chain.append((sql, parts[0], parts[1]))
                        sql = parts[2]
                        kind = first_keyword(sql)
                    for i, (text, start, end) in enumerate(chain):
                        # Nested: only the innermost one's values apply (MariaDB's).
                        set_statements.append(SetStatement(self.state))
                        await set_statements[-1].apply(
                            text, start, end, self._evaluate, outer=i < len(chain) - 1
                        )
                    result = await (
                        self._dispatch(kind, sql, params, counted, stats)
                        if lean is None
                        else run_lean_select(self, lean, counted, stats)
                    )
                except (trio.Cancelled, KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:
                    error = client_error(exc)
                    if isinstance(error, trio.Cancelled) or (
                        self._cancelled and not isinstance(error, ShardgateError)
                    ):
                        raise QueryInterrupted("Query execution was interrupted") from exc
                    if isinstance(error, ShardgateError):
                        # A shard's text names its physical table: the logical one (a
                        # data source's error, the SQLite layer's own 1690 alike).
                        error.message = self.coord.catalog.logical_text(error.message)
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
            failure = exc
            if transaction_lost(self):
                # A connection holding transaction work is gone (the statement was
                # cancelled mid-shard-statement): never a half commit.
                failure = await doom_transaction(self, exc) or exc
            self.state.diagnostics = [("Error", failure.code, str(failure))]
            if failure is not exc:
                raise failure from exc
            raise
        except BaseException:
            # Cancelled from outside (the client went away, a caller's timeout).
            if transaction_lost(self):
                await doom_transaction(self, None)
            raise
        finally:
            for applied in reversed(set_statements):
                applied.restore()
            self._scope = None
            self._query_id = None
            self._busy = False
            # @@in_transaction: a transaction opened (BEGIN, autocommit = 0's first
            # read or write) or doomed and not yet rolled back by the client.
            self.state.in_transaction = self._txn is not None or self._doomed is not None
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

    async def _evaluate(self, node: exp.Expr) -> Any:
        """A SET value that needs a query (``sharding.session_txn.evaluate``)."""
        return await evaluate(self, node)

    async def _lock_statement(
        self, kind: str, sql: str, params: Sequence[Any] | None, sink: Counted
    ) -> Result:
        """A SELECT/DO of user-level lock functions (sharding.user_locks)."""
        locked = await user_lock_statement(self, kind, sql, params)
        if locked.columns is None:
            return locked
        await sink.header(locked.columns)
        await sink.rows(locked.rows)
        return Result(columns=locked.columns)

    async def _dispatch(
        self,
        kind: str,
        sql: str,
        params: Sequence[Any] | None,
        sink: Counted,
        stats: ExecStats,
    ) -> Result:
        if self._doomed is not None:
            return await doomed_statement(self, kind, sql)
        if mentions_lock(sql):
            if kind not in SELECT_KINDS and kind != "DO":
                if TAKING_LOCK.search(sql) is not None:
                    raise NotSupported(
                        "GET_LOCK/RELEASE_LOCK in a statement other than a FROM-less "
                        "SELECT or DO (sharding/user_locks.py)"
                    )
            else:
                return await self._lock_statement(kind, sql, params, sink)
        if kind in SELECT_KINDS:
            # information_schema.references_information_schema, without importing the
            # module for every SELECT (it is imported when used: start-up time).
            if MENTIONS_INFORMATION_SCHEMA.search(sql) or self._database == "information_schema":
                from sharding.information_schema import InformationSchema

                # Metadata of the logical tables (sharding/information_schema.py).
                answer = await InformationSchema(self).select(sql, params)
                if answer is not None and answer.columns is not None:
                    await sink.header(answer.columns)
                    await sink.rows(answer.rows)
                    return Result(columns=answer.columns)
            return await select_statement(self, sql, params, sink, stats)
        if kind in ("INSERT", "REPLACE"):
            return await insert_statement(self, sql, params, stats)
        if kind in ("UPDATE", "DELETE"):
            modifier = _WRITE_MODIFIER.match(sql)
            if modifier is not None:
                # MySQL syntax sqlglot does not read (its 1064 named a parser token).
                words = " ".join((modifier.group(1) or modifier.group(2)).upper().split())
                raise NotSupported(
                    f"{kind} {words} through the sharding coordinator "
                    f"(write the statement without {words})"
                )
            return await write_statement(self, sql, params, stats)
        if params:
            raise BadArguments(f"{kind} takes no parameters")
        # The modules of schema changes, SHOW/DESCRIBE and dump statements are imported
        # when first used: a session of reads and writes never loads them (start-up).
        from sharding.dump_statements import alter_keys, keys_note, lock_statement

        if kind == "ALTER" and (keys := alter_keys(sql)) is not None:
            # DISABLE/ENABLE KEYS around a dump's rows: nothing to do, as on InnoDB.
            database = keys[0] or self._database
            if not database:
                raise NoDatabaseSelected("No database selected")
            info = await self.coord.catalog.lookup(database, keys[1])
            return keys_note(self.state, info.database, info.name)
        if kind in ("CREATE", "DROP", "TRUNCATE", "ALTER", "RENAME"):
            if self._ephemeral is False and self._txn is not None:
                await finish_txn(self, commit=True)
            from sharding.schema_changes import SchemaChanges

            return await SchemaChanges(self).run(kind, sql)
        if kind == "SHOW":
            answer = answer_show(self.state, sql)
            if answer is not None:
                return answer
        if kind in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN"):
            from sharding.introspection import Introspection

            return await Introspection(self).run(kind, sql)
        if kind in ("LOCK", "UNLOCK", "FLUSH"):
            return lock_statement(self.state, kind, sql)  # accepted, no lock (dumps)
        if kind in ("USE", "BEGIN", "START", "COMMIT", "ROLLBACK", "SET"):
            return await session_statement(self, kind, sql)
        if kind in ("SAVEPOINT", "RELEASE"):
            return await savepoint_statement(self, kind, sql)
        if not kind:
            raise EmptyQuery("Query was empty")
        if not (kind[0].isalpha() or kind[0] in "_;"):
            # No statement starts with a sign (``--c`` is not a comment): 1064, as MariaDB.
            lead = SPACE_AND_COMMENTS.match(sql)
            raise mysql_syntax_error(sql, lead.end() if lead else 0)
        if kind not in _MARIADB_STATEMENT_WORDS:
            # No MariaDB statement starts so (``FOO BAR``, ``SELEC 1``): 1064 as MariaDB.
            lead = SPACE_AND_COMMENTS.match(sql)
            parse_one(sql)  # its own message where sqlglot has one
            raise mysql_syntax_error(sql, lead.end() if lead else 0)
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

    @overload
    async def _prepare(
        self, sql: str, params: Sequence[Any] | None, *, kind: Literal["select"]
    ) -> Prepared[SelectPlan]: ...
    @overload
    async def _prepare(
        self, sql: str, params: Sequence[Any] | None, *, kind: Literal["write"]
    ) -> Prepared[WritePlan]: ...
    async def _prepare(self, sql: str, params: Sequence[Any] | None, *, kind: str) -> Prepared[Any]:
        """``sql`` planned (from the plan cache when it holds it) and bound to this
        call's ``params``; ``kind``: ``"select"`` or ``"write"`` (UPDATE/DELETE)."""
        size = len(sql)  # a big statement is lexed/parsed/planned in a thread (offload.py)
        big = is_big(size)
        scanned = _SCANNED.get(sql)
        if scanned is None:
            if big:
                norm = await cpu_bound(size, normalize, sql)
                refs = await cpu_bound(size, session_refs, sql)
            else:
                norm = fast_normalize(sql) or normalize(sql)
                refs = session_refs(sql)
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
    ) -> Prepared[Any] | None:
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
    ) -> Prepared[Any]:
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

    @overload
    async def _plan(
        self,
        tree: exp.Expr,
        source: str,
        slots: Sequence[Slot],
        values: list[Any],
        kind: Literal["select"],
    ) -> tuple[SelectPlan, dict[int, Any]]: ...
    @overload
    async def _plan(
        self,
        tree: exp.Expr,
        source: str,
        slots: Sequence[Slot],
        values: list[Any],
        kind: Literal["write"],
    ) -> tuple[WritePlan, dict[int, Any]]: ...
    @overload
    async def _plan(
        self, tree: exp.Expr, source: str, slots: Sequence[Slot], values: list[Any], kind: str
    ) -> tuple[SelectPlan | WritePlan, dict[int, Any]]: ...
    async def _plan(
        self, tree: exp.Expr, source: str, slots: Sequence[Slot], values: list[Any], kind: str
    ) -> tuple[SelectPlan | WritePlan, dict[int, Any]]:
        """``tree`` planned (``kind``: ``"select"`` or ``"write"``), with the slot
        values the plan depends on (the plan cache's key beyond the text)."""
        coord = self.coord

        def tag_slots() -> list[tuple[str, str]]:
            _drop_dual(tree)
            by_position = {s.position: i for i, s in enumerate(slots)}
            for node in tree.find_all(exp.Placeholder):
                offset = placeholder_offset(node)
                if offset is None or offset not in by_position:
                    raise ShardgateError("internal error: unmatched placeholder", code=1105)
                node.meta[SLOT] = by_position[offset]
            return referenced_tables(tree, self._database)

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
            types = await cpu_bound(len(source), describe_plan, tree, tables, self._database)
            plan: SelectPlan | WritePlan = await cpu_bound(len(source), plan_select, tree, ctx)
            if (
                isinstance(plan, SelectPlan)
                and types is not None
                and (plan.columns is None or len(types) == len(plan.columns))
            ):
                # Without names (``*`` over a derived table: the shard names the
                # columns), the types still define them on shards without metadata.
                plan = dataclasses.replace(plan, types=tuple(types))
        else:
            if not isinstance(tree, exp.Update | exp.Delete):
                raise NotSupported(f"{type(tree).__name__} where UPDATE/DELETE was expected")
            plan = await cpu_bound(len(source), plan_write, tree, ctx)
        return plan, ctx.deps

    @overload
    async def _with_subquery_values(
        self,
        sql: str,
        params: Sequence[Any] | None,
        refusal: NotSupported,
        stats: ExecStats,
        kind: Literal["select"] = "select",
    ) -> Prepared[SelectPlan]: ...
    @overload
    async def _with_subquery_values(
        self,
        sql: str,
        params: Sequence[Any] | None,
        refusal: NotSupported,
        stats: ExecStats,
        kind: Literal["write"],
    ) -> Prepared[WritePlan]: ...
    async def _with_subquery_values(
        self,
        sql: str,
        params: Sequence[Any] | None,
        refusal: NotSupported,
        stats: ExecStats,
        kind: str = "select",
    ) -> Prepared[Any]:
        """The statement planned with its uncorrelated subqueries replaced by their
        results (:mod:`sharding.sql.materialize`); ``refusal`` when it has none."""
        tree = await cpu_bound(len(sql), parse_one, sql)
        # Correlated EXISTS / IN / scalar aggregates of one equality correlation →
        # uncorrelated subqueries and grouped lookups (sql/decorrelate.py).
        decorrelate(tree)
        uses = subquery_uses(tree)
        if not uses:
            raise refusal
        slots = list(param_slots(sql))
        values = self._values(slots, params)
        if await cpu_bound(len(sql), session_refs, sql):
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
            # SQLite: a lookup's COLLATION(col) from the catalog; the collations of
            # an IN's columns, kept by its text values (sql/materialize.py).
            await backend_collations(self, inner)
            collations = (
                await item_collations(self, inner)
                if dialect != "mysql" and use.kind == "in"
                else None
            )
            width, rows, inner_columns = await subquery_rows(
                self,
                inner.sql(dialect="mysql"),
                1 if use.kind == "exists" else None,
                refusal,
                stats,
            )
            fold = folded_values(use, width, rows)
            if fold is not None and isinstance(use.target, exp.In):
                mark = exp.Placeholder()
                use.target.set("query", None)
                use.target.set("expressions", [mark])
                folded.append((use.target, mark, fold))
            else:
                collation = await lookup_collation(self, use, rows, refusal, stats)
                replace_with_values(use, width, rows, dialect, collation, inner_columns, collations)
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
            values.append(InList(tuple(value_slot(v) for v in fold), tuple(fold)))
            offset += 1
        plan, _ = await self._plan(tree, sql, slots, values, kind)
        return Prepared(plan, slots, values, self._texts(slots, values))

    def _record(self, kind: str, sql: str, result: Result, streamed: int) -> None:
        """ROW_COUNT(), FOUND_ROWS() and warnings after a statement (MariaDB's rules)."""
        state = self.state
        if result.columns is not None:
            state.row_count = -1
            found = self._calc_found
            if found is not None:
                state.found_rows = found
            elif kind != "SHOW" or not _SHOW_DIAGNOSTICS.match(sql):
                state.found_rows = streamed + len(result.rows)
        elif self._into_rows is not None:
            # SELECT ... INTO @v (session_reads._select_into): MariaDB's counts.
            state.row_count = self._into_rows
            state.found_rows = self._into_rows
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
            or (kind in SELECT_KINDS and names_a_table(sql))
            or kind in ("DESCRIBE", "DESC")
            or (kind == "SHOW" and not _SHOW_KEEPS_DIAGNOSTICS.match(sql))
            or state.statement_warned
        ):
            state.diagnostics = []

    # ------------------------------------------------------------------ collaborators
    # What sharding.session_reads / _writes / _txn use of the session's own state.
    def connector(self) -> Connector:
        """Where this statement's shard connections come from: the session's
        transaction, or each data source's pool (autocommit)."""
        return self._txn if self._txn is not None else self._autocommit_connector

    async def _ensure_implicit_txn(self) -> None:
        """``autocommit = 0``: a statement opens the transaction COMMIT ends."""
        if not self._autocommit and self._txn is None:
            self._txn = self.coord.new_transaction(self._sources)

    def _opened(self, query: Query) -> None:
        """The one-child query of a one-shard statement was opened (its timings)."""
        self.running(query.id)
        self._opened_query = query

    async def explain_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of ``EXPLAIN sql`` (:mod:`sharding.session_explain`)."""
        from sharding.session_explain import explain_statement

        return await explain_statement(self, sql)


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


#: The one scan of a statement text with placeholders (normalised form, session
#: references), by its text: a prepared statement's text comes back at every execution.
#: Both are functions of the text alone. Bounded; cleared when full.
_SCANNED: dict[str, tuple[Normalized, bool]] = {}
_SCANNED_SIZE = 1024
