"""Two-phase commit across MySQL data sources (XA), with a durable decision log.

Protocol (presumed abort):

1. Borrow one connection per participant, in data-source name order (a global order,
   so two XA writes can never wait on each other's pools in a cycle).
2. Phase 1, in parallel: ``XA START xid`` · statements · ``XA END`` · ``XA PREPARE``.
   Any failure → ``XA ROLLBACK`` everywhere; the caller gets the original error.
3. Decision: ``INSERT`` ``(gtrid, 'commit')`` into ``shardgate_catalog.xa_log`` on the
   log data source (the first data source), autocommit, InnoDB → durable. The row's
   primary key is the gtrid, so the decision and a concurrent recovery's ``'abort'``
   cannot both win: whoever inserts first decides, the other obeys (a duplicate-key
   error tells the coordinator it was aborted).
4. Phase 2: ``XA COMMIT xid`` on the first branch, then the others in parallel. Failures now cannot undo the decision; they
   are reported exactly (which committed, which recovery will finish) and
   :func:`recover` completes them. The log row is deleted only when every participant
   committed.

:func:`recover` (start-up, and periodically): ``XA RECOVER`` on each data source; for
each of *our* xids (our ``formatID``) the log decides: a ``'commit'`` row → ``XA
COMMIT``; no row → insert ``'abort'`` (so a slow coordinator cannot commit it later)
and ``XA ROLLBACK``. Several coordinators may share the data sources: an undecided xid
younger than ``min_age`` may belong to a live coordinator between its PREPARE and its
decision, so it is left for a later pass (aborting it would be *safe* — the decision
row arbitrates — but would fail that coordinator's write for nothing). A decided one is
finished whatever its age.

Crash testing: with ``SHARDGATE_XA_FAULT`` set to ``after_prepare``, ``after_decision`` or
``after_first_commit`` the process exits at once (``os._exit``) at that point, as a
coordinator killed there would. Tests run that in a subprocess, then recover.

MariaDB keeps prepared XA transactions across client disconnects (10.5+), which is what
makes recovery possible; an XA transaction still ACTIVE when its connection drops is
rolled back by the server.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import structlog
import trio

from sharding.backend.base import ExecResult
from sharding.backend.mysql import MySQLConnection, MySQLDataSource
from sharding.errors import BackendError, ShardgateError, TransactionError

log = structlog.get_logger("shardgate.backend.xa")

#: XA formatID marking shardgate's transactions ("SG" + 1); others are never touched.
FORMAT_ID = 0x53470001
CATALOG_DB = "shardgate_catalog"
LOG_TABLE = f"{CATALOG_DB}.xa_log"
FAULT_ENV = "SHARDGATE_XA_FAULT"
FAULT_POINTS = ("after_prepare", "after_decision", "after_first_commit")
#: Seconds a decision-log row is kept after its transaction is resolved everywhere.
LOG_RETENTION = 3600.0


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os._exit(77)


def new_gtrid() -> str:
    """``sg-<unix ms hex>-<random>``: unique, sortable, and its age is readable."""
    return f"sg-{int(time.time() * 1000):x}-{secrets.token_hex(8)}"


def gtrid_age(gtrid: str, now: float | None = None) -> float | None:
    try:
        ms = int(gtrid.split("-")[1], 16)
    except (IndexError, ValueError):
        return None
    return (now if now is not None else time.time()) - ms / 1000


def _hex(value: str) -> str:
    return "X'" + value.encode().hex() + "'"


def xid_sql(gtrid: str, bqual: str) -> str:
    """An xid literal: hex strings, so no quoting issue whatever the names."""
    return f"{_hex(gtrid)},{_hex(bqual)},{FORMAT_ID}"


async def ensure_xa_log(ds: MySQLDataSource) -> None:
    await ds.ensure_database(CATALOG_DB)
    await ds.execute(
        f"CREATE TABLE IF NOT EXISTS {LOG_TABLE} ("
        " gtrid VARBINARY(64) NOT NULL PRIMARY KEY,"
        " decision ENUM('commit','abort') NOT NULL,"
        " participants TEXT NOT NULL,"
        " created TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
        ") ENGINE=InnoDB"
    )


@dataclass
class XAResult:
    gtrid: str
    results: dict[str, list[ExecResult]] = field(default_factory=dict)


@dataclass
class _Branch:
    ds: MySQLDataSource
    statements: Sequence[str]
    conn: MySQLConnection | None = None
    state: str = "none"  # none | active | idle | prepared | committed | rolled_back
    results: list[ExecResult] = field(default_factory=list)


async def _phase1(branch: _Branch, gtrid: str) -> None:
    conn = branch.conn
    assert conn is not None
    xid = xid_sql(gtrid, branch.ds.name)
    await conn.execute(f"XA START {xid}")
    branch.state = "active"
    branch.results.extend(await conn.execute_many(branch.statements))
    await conn.execute(f"XA END {xid}")
    branch.state = "idle"
    await conn.execute(f"XA PREPARE {xid}")
    branch.state = "prepared"


async def _rollback(branch: _Branch, gtrid: str) -> None:
    """Best effort; a prepared branch we fail to roll back is left to recover().

    First on the branch's own session. If that session is gone or refuses (e.g. it was
    closed because a statement was cancelled on the wire), roll back from a fresh
    connection: a *prepared* branch outlives its session and any session may end it,
    while an *active* one died with its session — the server then answers XAER_NOTA
    (1397), which means there is nothing left to roll back.
    """
    xid = xid_sql(gtrid, branch.ds.name)
    conn = branch.conn
    with trio.move_on_after(branch.ds.config.validation_timeout * 2):
        try:
            if conn is not None and branch.state == "active":
                await conn.execute(f"XA END {xid}")
                branch.state = "idle"
            if branch.state in ("idle", "prepared") and conn is not None:
                await conn.execute(f"XA ROLLBACK {xid}")
                branch.state = "rolled_back"
        except Exception as exc:
            if conn is not None:
                pc = conn._lease.pc
                if pc is not None:
                    pc.broken = True  # the session's XA state is unknown: never reuse it
            log.info("xa_rollback_retry_on_new_connection", gtrid=gtrid, datasource=branch.ds.name, error=str(exc))
        if branch.state in ("none", "rolled_back"):
            return
        try:
            await branch.ds.execute(f"XA ROLLBACK {xid}")
            branch.state = "rolled_back"
        except BackendError as exc:
            if exc.code == 1397:  # XAER_NOTA: never prepared, the server dropped it
                branch.state = "rolled_back"
            else:
                log.warning("xa_rollback_failed", gtrid=gtrid, datasource=branch.ds.name, error=str(exc))
        except Exception as exc:
            log.warning("xa_rollback_failed", gtrid=gtrid, datasource=branch.ds.name, error=str(exc))


async def _commit(branch: _Branch, gtrid: str) -> None:
    assert branch.conn is not None
    await branch.conn.execute(f"XA COMMIT {xid_sql(gtrid, branch.ds.name)}")
    branch.state = "committed"


async def run_xa(
    work: Mapping[MySQLDataSource, Sequence[str]],
    *,
    log_ds: MySQLDataSource | None = None,
) -> XAResult:
    """Run ``statements`` on each data source atomically (see module docstring).

    ``log_ds`` holds the decision log (default: the first data source by name); its
    ``xa_log`` table must exist (:func:`ensure_xa_log`). Raises the failing statement's
    error if nothing was committed, :class:`TransactionError` if the outcome is anything
    but "committed everywhere" or "rolled back everywhere".
    """
    if not work:
        raise ValueError("run_xa needs at least one data source")
    branches = [_Branch(ds, list(stmts)) for ds, stmts in sorted(work.items(), key=lambda kv: kv[0].name)]
    names = [b.ds.name for b in branches]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate data source names in XA: {names}")
    log_ds = log_ds or branches[0].ds
    gtrid = new_gtrid()
    async with AsyncExitStack() as stack:
        for b in branches:
            b.conn = await stack.enter_async_context(b.ds.connection())
            b.conn._in_transaction = True  # never silently switch connections mid-XA

        # Phase 1. A failing branch does not cancel its siblings: cancelling one
        # mid-statement (say, while its XA PREPARE is on the wire) would close its
        # session with the branch's fate unknown. Each finishes; then all roll back.
        failure: BaseException | None = None
        errors_in_phase1: list[ShardgateError] = []

        async def phase1(b: _Branch) -> None:
            try:
                await _phase1(b, gtrid)
            except ShardgateError as exc:
                errors_in_phase1.append(exc)

        try:
            async with trio.open_nursery() as nursery:
                for b in branches:
                    nursery.start_soon(phase1, b)
        except BaseException as exc:  # cancelled from outside, or a bug
            failure = exc
        if failure is None and errors_in_phase1:
            failure = errors_in_phase1[0]
        if failure is not None:
            with trio.CancelScope(shield=True):
                async with trio.open_nursery() as nursery:
                    for b in branches:
                        nursery.start_soon(_rollback, b, gtrid)
            raise _first_error(failure)
        _fault("after_prepare")

        # Decision.
        decided = await _decide(log_ds, gtrid, names)
        if not decided:
            with trio.CancelScope(shield=True):
                async with trio.open_nursery() as nursery:
                    for b in branches:
                        nursery.start_soon(_rollback, b, gtrid)
            raise TransactionError(
                f"XA {gtrid}: rolled back on {', '.join(names)} (aborted by recovery, "
                "or the decision could not be recorded)"
            )
        _fault("after_decision")

        # Phase 2: the decision is durable; finish what we can, report the rest.
        errors: dict[str, str] = {}

        async def commit_one(b: _Branch) -> None:
            try:
                await _commit(b, gtrid)
            except ShardgateError as exc:
                errors[b.ds.name] = str(exc)
                pc = b.conn._lease.pc if b.conn is not None else None
                if pc is not None:
                    pc.broken = True

        # The first branch commits alone, then the rest in parallel: one extra round
        # trip buys a crash window ("some committed, some not") that tests can hit
        # deterministically — recovery must handle it either way.
        with trio.CancelScope(shield=True):
            await commit_one(branches[0])
            _fault("after_first_commit")
            async with trio.open_nursery() as nursery:
                for b in branches[1:]:
                    nursery.start_soon(commit_one, b)
        if errors:
            done = [b.ds.name for b in branches if b.state == "committed"]
            raise TransactionError(
                f"XA {gtrid}: committed on {', '.join(done) or 'none'}; commit decided but "
                f"not yet applied on {', '.join(sorted(errors))} (recovery will finish it): "
                + "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
            )
        try:
            await log_ds.execute(f"DELETE FROM {LOG_TABLE} WHERE gtrid = {_hex(gtrid)}")
        except ShardgateError as exc:  # a leftover 'commit' row is harmless
            log.warning("xa_log_cleanup_failed", gtrid=gtrid, error=str(exc))
        return XAResult(gtrid, {b.ds.name: b.results for b in branches})


def _first_error(exc: BaseException) -> BaseException:
    """Unwrap the nursery's group to the first real error (keep Cancelled as is)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def _decide(log_ds: MySQLDataSource, gtrid: str, names: Sequence[str]) -> bool:
    """Record 'commit'; False if recovery already recorded 'abort' or the write failed."""
    participants = ",".join(names).replace("'", "''")
    try:
        await log_ds.execute(
            f"INSERT INTO {LOG_TABLE} (gtrid, decision, participants) "
            f"VALUES ({_hex(gtrid)}, 'commit', '{participants}')"
        )
        return True
    except BackendError as exc:
        if exc.code != 1062:
            log.warning("xa_decision_failed", gtrid=gtrid, error=str(exc))
            return False
    except ShardgateError as exc:
        log.warning("xa_decision_failed", gtrid=gtrid, error=str(exc))
        return False
    rs = await log_ds.fetch(f"SELECT decision FROM {LOG_TABLE} WHERE gtrid = {_hex(gtrid)}")
    return bool(rs.rows) and rs.rows[0][0] == "commit"


@dataclass
class RecoveryReport:
    committed: list[tuple[str, str]] = field(default_factory=list)  # (datasource, gtrid)
    rolled_back: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # too young (min_age)
    purged: int = 0  # decision-log rows deleted (older than log_retention, all resolved)


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


async def recover(
    datasources: Sequence[MySQLDataSource],
    *,
    log_ds: MySQLDataSource | None = None,
    min_age: float = 0.0,
    log_retention: float = LOG_RETENTION,
) -> RecoveryReport:
    """Resolve shardgate's prepared XA transactions (see module docstring).

    ``min_age`` leaves alone *undecided* xids younger than that many seconds — use it
    when other coordinators are running, so their in-flight transactions are not
    aborted. Xids whose decision is logged as 'commit' are committed at any age.

    Then the decision log is trimmed: a row older than ``log_retention`` seconds whose
    participants are all among ``datasources`` and prepared on none of them is done
    with. ('abort' rows are kept that long so that a coordinator stalled between its
    PREPARE and its decision still finds them and rolls back.)
    """
    if not datasources:
        return RecoveryReport()
    log_ds = log_ds or sorted(datasources, key=lambda d: d.name)[0]
    await ensure_xa_log(log_ds)
    report = RecoveryReport()
    for ds in datasources:
        rs = await ds.fetch("XA RECOVER")
        for row in rs.rows:
            format_id, gtrid_len, _bqual_len, data = int(row[0]), int(row[1]), int(row[2]), _as_bytes(row[3])
            if format_id != FORMAT_ID:
                continue
            gtrid = data[:gtrid_len].decode()
            bqual = data[gtrid_len:].decode()
            age = gtrid_age(gtrid)
            decision = await log_ds.fetch(f"SELECT decision FROM {LOG_TABLE} WHERE gtrid = {_hex(gtrid)}")
            if not decision.rows:
                if age is not None and age < min_age:
                    report.skipped.append((ds.name, gtrid))
                    continue
                await log_ds.execute(
                    f"INSERT IGNORE INTO {LOG_TABLE} (gtrid, decision, participants) "
                    f"VALUES ({_hex(gtrid)}, 'abort', '')"
                )
                decision = await log_ds.fetch(f"SELECT decision FROM {LOG_TABLE} WHERE gtrid = {_hex(gtrid)}")
            xid = xid_sql(gtrid, bqual)
            if decision.rows and decision.rows[0][0] == "commit":
                await ds.execute(f"XA COMMIT {xid}")
                report.committed.append((ds.name, gtrid))
            else:
                await ds.execute(f"XA ROLLBACK {xid}")
                report.rolled_back.append((ds.name, gtrid))
            log.info("xa_recovered", datasource=ds.name, gtrid=gtrid,
                     decision="commit" if (ds.name, gtrid) in report.committed else "abort")
    report.purged = await _purge_log(log_ds, {d.name for d in datasources}, {g for _, g in report.skipped}, log_retention)
    return report


async def _purge_log(log_ds: MySQLDataSource, names: set[str], prepared: set[str], retention: float) -> int:
    rs = await log_ds.fetch(
        f"SELECT gtrid, participants FROM {LOG_TABLE} "
        f"WHERE created < NOW(6) - INTERVAL {float(retention)!r} SECOND"
    )
    done = []
    for gtrid_raw, participants in rs.rows:
        gtrid = _as_bytes(gtrid_raw).decode()
        members = {p for p in str(participants or "").split(",") if p}
        if gtrid not in prepared and members <= names:
            done.append(gtrid)
    for start in range(0, len(done), 500):
        chunk = ", ".join(_hex(g) for g in done[start : start + 500])
        await log_ds.execute(f"DELETE FROM {LOG_TABLE} WHERE gtrid IN ({chunk})")
    return len(done)
