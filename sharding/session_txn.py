"""Session statements: USE, transactions, savepoints, SET, and statement atomicity.

:func:`session_statement` runs ``USE``, ``BEGIN``/``START TRANSACTION``, ``COMMIT``,
``ROLLBACK`` and ``SET`` (parsed once and applied by the session state, its one owner;
a SET's value that needs a query is run as a SELECT by :func:`evaluate`);
:func:`savepoint_statement` ``SAVEPOINT``/``ROLLBACK TO``/``RELEASE SAVEPOINT`` on every
shard connection of the transaction; :func:`finish_txn` commits or rolls back the
session's transaction and reports a partial commit exactly
(:func:`sharding.exec.writes.commit_report`); :func:`statement_transaction` makes a
statement that reads and then writes atomic as MySQL runs it.

A transaction that loses part of its work — a statement cancelled while a shard
statement ran (KILL QUERY, the client gone, a timeout) closes that connection, and its
server rolls the transaction's work there back — is rolled back on every data source
(:func:`doom_transaction`): the statement keeps its own error (1317 for KILL QUERY),
every later statement but ROLLBACK fails with 1402 (:data:`TXN_ROLLED_BACK`), COMMIT
commits nothing; ROLLBACK ends it. Never a COMMIT of the other shards' part alone.

Invariants (MySQL's): ``BEGIN`` commits an open transaction, ``autocommit = 1``
commits, DDL commits first (:mod:`sharding.session`); the session holds at most one
transaction (``CoordinatorSession._txn``), opened per data source on first use; a
statement's own rollback is shielded from cancellation and bounded in time; a
transaction that lost a connection never commits.
Functions take the session (the collaborator's owner) as their first parameter.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio
from sqlglot import exp

from sharding.api import Result
from sharding.backend.base import connection_lost
from sharding.errors import NotSupported, ShardgateError
from sharding.exec.run import ExecStats
from sharding.exec.writes import commit_report
from sharding.result_stream import Collect, Counted
from sharding.session_reads import run_select
from sharding.session_state import parse_set_text
from sharding.sql.parse import mysql_syntax_error

if TYPE_CHECKING:
    from sharding.exec.connector import SessionTransaction
    from sharding.session import CoordinatorSession

#: ``START TRANSACTION``'s access mode characteristic.
_ACCESS_MODE = re.compile(r"\bREAD\s+(?:ONLY|WRITE)\b", re.IGNORECASE)

#: MariaDB's error for a write in a read-only transaction.
READ_ONLY_TRANSACTION = (1792, "25006", "Cannot execute statement in a READ ONLY transaction")


def refuse_read_only_write(session: CoordinatorSession) -> None:
    """A write (INSERT, REPLACE, UPDATE, DELETE, LOAD DATA) in a read-only transaction
    — ``START TRANSACTION READ ONLY``, or ``@@tx_read_only`` without ``READ WRITE`` —
    is MariaDB's 1792, checked here so that no shard (SQLite has no such mode) and no
    part of a multi-shard write runs it."""
    read_only = session._txn_read_only if session._txn is not None else None
    if read_only is None:
        read_only = bool(session.state.get("tx_read_only"))
    if read_only:
        code, sqlstate, message = READ_ONLY_TRANSACTION
        raise ShardgateError(message, code=code, sqlstate=sqlstate)


#: ``SAVEPOINT x``, ``RELEASE SAVEPOINT x``, ``ROLLBACK [WORK] TO [SAVEPOINT] x``.
_SAVEPOINT = re.compile(
    r"\s*(?P<verb>SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK(?:\s+WORK)?\s+TO(?:\s+SAVEPOINT)?)\s+"
    r"(?P<name>`(?:[^`]|``)+`|[A-Za-z0-9_$]+)\s*;?\s*\Z",
    re.IGNORECASE,
)
#: How long a statement's own rollback may take after it failed or was cancelled.
_ROLLBACK_SECONDS = 30.0
#: Names of the savepoints that make a statement atomic inside a transaction.
_STATEMENT_SAVEPOINTS = itertools.count(1)


async def evaluate(session: CoordinatorSession, node: exp.Expr) -> Any:
    """A value of a SET (``SET @v := (SELECT ...)``, ``SET @b = @a + 1``): run as a
    SELECT through the coordinator; MySQL's errors for more than one row/column."""
    inner = (
        node.this if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select) else None
    )
    sql = inner.sql(dialect="mysql") if inner is not None else "SELECT " + node.sql(dialect="mysql")
    collect = Collect()
    await run_select(
        session, await session._prepare(sql, None, kind="select"), Counted(collect), ExecStats()
    )
    rows = collect.collected
    if inner is not None:
        if rows and len(rows[0]) != 1:
            raise ShardgateError("Operand should contain 1 column(s)", code=1241, sqlstate="21000")
        if len(rows) > 1:
            raise ShardgateError("Subquery returns more than 1 row", code=1242, sqlstate="21000")
    return rows[0][0] if rows else None


@contextlib.asynccontextmanager
async def statement_transaction(session: CoordinatorSession) -> AsyncIterator[None]:
    """A statement that reads and then writes (``INSERT … SELECT``, a multi-shard
    ``UPDATE/DELETE … LIMIT``), atomic as MySQL runs it. In autocommit: a
    transaction of its own, committed at the end, rolled back on any failure.
    Inside a transaction: a savepoint before it, so a failure undoes this statement
    only (MySQL's statement rollback); on SQLite shards the savepoint is set on every
    shard file's connection of the transaction (``sqlite._TxnConn``): a moving UPDATE
    whose insert fails no longer leaves its delete behind."""
    if session._txn is None and session._autocommit:
        session._txn = session.coord.new_transaction(session._sources)
        try:
            yield
        except BaseException:
            with trio.CancelScope(shield=True), trio.move_on_after(_ROLLBACK_SECONDS):
                await finish_txn(session, commit=False)
            raise
        await finish_txn(session, commit=True)
        return
    await session._ensure_implicit_txn()
    txn = session._txn
    if txn is None:
        yield
        return
    name = f"shardgate_statement_{next(_STATEMENT_SAVEPOINTS)}"
    await txn.savepoint(name)
    try:
        yield
    except BaseException:
        if lost_sources(txn):
            # A connection of the transaction was closed mid-statement (cancelled):
            # its savepoint went with it, and so did the transaction's work there.
            # The statement keeps its own error; the session rolls the rest back
            # (doom_transaction) — a ROLLBACK TO here would only fail (1429 / 1105)
            # and hide the cancellation.
            raise
        undone = False
        with trio.CancelScope(shield=True), trio.move_on_after(_ROLLBACK_SECONDS):
            try:
                await txn.rollback_to(name)
                await txn.release(name)
                undone = True
            except Exception as exc:
                session._txn_unsound = f"the statement could not be undone ({exc})"
        if not undone and session._txn_unsound is None:
            session._txn_unsound = (
                f"the statement could not be undone within {_ROLLBACK_SECONDS:g}s"
            )
        raise
    await txn.release(name)


#: The transaction of a session was rolled back by the coordinator because part of
#: it was lost; every statement until ROLLBACK fails with this code.
#: ER_XA_RBROLLBACK (1402, SQLSTATE XA100, "XA_RBROLLBACK: Transaction branch was
#: rolled back"): a session transaction spanning shards is a distributed transaction
#: whose branch on one shard connection was rolled back by its server (the connection
#: closed), and the coordinator then rolled back every other branch — MySQL's own
#: code for exactly that, and the only one that says "rolled back" without claiming a
#: cause that did not happen (1213 says deadlock, 1205 a lock wait timeout, 1180 an
#: error during COMMIT; none took place). Clients that retry on 1213/40001 do not
#: retry on it: the transaction's statements must be run again by the application.
TXN_ROLLED_BACK = 1402
_TXN_ROLLED_BACK_STATE = "XA100"


def lost_sources(txn: SessionTransaction) -> list[str]:
    """The data sources whose connection of ``txn`` is gone, and with it the
    transaction's work there (:func:`sharding.backend.base.connection_lost`)."""
    return [name for name in txn.order if connection_lost(txn._conns.get(name))]


def transaction_lost(session: CoordinatorSession) -> bool:
    """The session's transaction cannot commit as a whole any more: a connection of
    it is gone, or a statement inside it could not be undone (its statement
    savepoint's rollback failed)."""
    txn = session._txn
    return txn is not None and (session._txn_unsound is not None or bool(lost_sources(txn)))


async def doom_transaction(
    session: CoordinatorSession, error: ShardgateError | None
) -> ShardgateError | None:
    """Roll back what is left of a transaction that lost part of its work
    (:func:`transaction_lost`), so that no COMMIT can ever commit the other shards'
    part alone; every later statement but ROLLBACK fails with :data:`TXN_ROLLED_BACK`
    (:func:`doomed_statement`). Returns ``error`` (the failed statement's own error:
    1317 for a cancelled one, as MariaDB's KILL QUERY gives) with what happened to the
    transaction added to its message; same class, code and SQLSTATE. Shielded: it
    runs while the statement is being cancelled."""
    txn, session._txn = session._txn, None
    lost = lost_sources(txn) if txn is not None else []
    unsound, session._txn_unsound = session._txn_unsound, None
    if lost:
        why = (
            f"its connection to data source {', '.join(lost)} was closed mid-statement, "
            "and the transaction's work there with it"
        )
    else:
        why = unsound or "part of it was lost"
    reason = f"the transaction was rolled back on every data source ({why})"
    if txn is not None:
        with trio.CancelScope(shield=True):
            await txn.finish(commit=False)
    session._doomed = ShardgateError(
        f"XA_RBROLLBACK: Transaction branch was rolled back: {reason}; ROLLBACK ends it",
        code=TXN_ROLLED_BACK,
        sqlstate=_TXN_ROLLED_BACK_STATE,
    )
    if error is None:
        return None
    message = f"{error.message}; {reason}"
    try:
        told = copy.copy(error)  # its class too (QueryInterrupted, QueryTimeout...)
    except Exception:
        told = ShardgateError(message)
    told.message = message
    told.args = (message,)
    told.code, told.sqlstate = error.code, error.sqlstate  # type: ignore[misc]
    return told


async def doomed_statement(session: CoordinatorSession, kind: str, sql: str) -> Result:
    """A statement after the transaction was rolled back by :func:`doom_transaction`:
    ``ROLLBACK`` ends the transaction (OK, the session is clean again); anything
    else — COMMIT, ``ROLLBACK TO``, BEGIN and DDL (which would commit), reads and
    writes — fails with :data:`TXN_ROLLED_BACK`, so an application never goes on as
    if its earlier statements were still part of a transaction (nor commits them)."""
    if kind == "ROLLBACK" and not re.search(r"\bTO\b", sql, re.IGNORECASE):
        session._doomed = None
        return Result()
    raise _doomed_error(session)


def _doomed_error(session: CoordinatorSession) -> ShardgateError:
    doomed = session._doomed
    assert doomed is not None
    return ShardgateError(doomed.message, code=doomed.code, sqlstate=doomed.sqlstate)


async def session_statement(session: CoordinatorSession, kind: str, sql: str) -> Result:
    """``USE``, ``BEGIN``/``START TRANSACTION``, ``COMMIT``, ``ROLLBACK`` or ``SET``."""
    if (session._ephemeral and kind in ("USE", "BEGIN", "START", "COMMIT", "ROLLBACK")) or (
        session._ephemeral and kind == "SET" and re.search(r"autocommit", sql, re.IGNORECASE)
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
        await session.use(name)
        return Result()
    if kind in ("BEGIN", "START"):
        if kind == "START" and not re.match(r"START\s+TRANSACTION\b", text, re.IGNORECASE):
            raise NotSupported(text[:40])
        access = _ACCESS_MODE.findall(text) if kind == "START" else []
        if len(set(access)) > 1:
            raise mysql_syntax_error(sql, len(sql), "READ ONLY and READ WRITE")
        if session._txn is not None:
            await finish_txn(session, commit=True)  # MySQL: BEGIN commits the open one
        session._txn = session.coord.new_transaction(session._sources)
        session._txn_read_only = (access[0].upper().split()[-1] == "ONLY") if access else None
        return Result()
    if kind == "COMMIT":
        await finish_txn(session, commit=True)
        return Result()
    if kind == "ROLLBACK":
        if re.search(r"\bTO\b", text, re.IGNORECASE):
            return await savepoint_statement(session, kind, sql)
        await finish_txn(session, commit=False)
        return Result()
    # SET: parsed once, checked and applied by the session state (its one owner).
    before = session.state.diagnostics

    async def value(node: exp.Expr) -> Any:
        return await evaluate(session, node)

    applied = await session.state.apply_set(parse_set_text(sql), value)
    if applied.get("autocommit") and session._txn is not None:
        await finish_txn(session, commit=True)  # MySQL: autocommit=1 commits
    # The OK packet counts the SET's own warnings (the last statement's stay shown).
    after = session.state.diagnostics
    return Result(warnings=len(after) if after is not before else 0)


async def savepoint_statement(session: CoordinatorSession, kind: str, sql: str) -> Result:
    """``SAVEPOINT x``, ``ROLLBACK [WORK] TO [SAVEPOINT] x``, ``RELEASE SAVEPOINT x``:
    applied on every shard connection of the transaction (see
    :class:`~sharding.exec.connector.SessionTransaction`). Outside a transaction
    MySQL accepts SAVEPOINT and forgets it at once (autocommit)."""
    m = _SAVEPOINT.match(sql)
    if m is None:
        raise mysql_syntax_error(sql, 0, f"{kind} needs a savepoint name")
    name = m.group("name")
    name = name[1:-1].replace("``", "`") if name.startswith("`") else name
    if session._txn is None and not session._autocommit:
        await session._ensure_implicit_txn()
    txn = session._txn
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


async def finish_txn(session: CoordinatorSession, commit: bool) -> None:
    """End the session's transaction, if any (``commit``: COMMIT, else ROLLBACK).

    A COMMIT of a transaction that lost part of its work (:func:`transaction_lost`)
    commits nothing: every data source is rolled back and the COMMIT fails with
    :data:`TXN_ROLLED_BACK` (the session stays in the failed transaction until
    ROLLBACK)."""
    if commit and transaction_lost(session):
        await doom_transaction(session, None)
        raise _doomed_error(session)
    session._txn_unsound = None
    session._txn_read_only = None
    txn, session._txn = session._txn, None
    if txn is None:
        return
    results = await txn.finish(commit)
    commit_report(results, commit)
