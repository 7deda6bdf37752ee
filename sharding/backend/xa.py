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

**An ambiguous decision write never rolls anything back.** If the ``INSERT`` of the
decision fails in a way that does not prove it did not happen (the connection dropped
or timed out after it was sent — the row may be stored with its reply lost), the
decision is read back on another connection of the log data source, with bounded
retries (:data:`DECISION_RESOLVE_TIMEOUT`): a ``'commit'`` row → phase 2; no row → an
``'abort'`` row is inserted (the primary key arbitrates against the lost ``INSERT``,
should it still land) and, once it wins, everything is rolled back. If the log stays
unreachable, every branch is left *prepared*, their sessions are closed (so that any
session may finish them) and the caller gets :class:`~sharding.errors.XAOutcomeUnknown`
(1180) naming the XID: :func:`recover` commits or rolls back all branches, as the log
says, once it can read it. A message never claims a rollback that did not happen.

:func:`recover` (start-up, and periodically): ``XA RECOVER`` on each data source; for
each of *our* xids (our ``formatID``) the log decides: a ``'commit'`` row → ``XA
COMMIT``; no row → insert ``'abort'`` (so a slow coordinator cannot commit it later)
and ``XA ROLLBACK``. A decided xid is finished whatever its age.

Owners, and how fast a dead coordinator's branches are freed: every gtrid names the
process that created it (its *owner*, :class:`XAOwner`), and a running coordinator
refreshes its row in ``shardgate_catalog.xa_owners`` every second or so
(:func:`heartbeat`; server time on the log data source, so coordinators' clocks do not
matter). An undecided xid is resolved at once when its owner is this process and the
xid is not in flight here (a leftover), or when its owner's heartbeat is older than
:data:`OWNER_STALE_AFTER` (a dead coordinator: its prepared branches and their row
locks are freed within seconds, not after ``min_age`` + a recovery period). Only xids
of *live* foreign owners, or of owners that never registered (an embedding program
calling :func:`run_xa` without a heartbeat), wait for ``min_age``: they may be between
their PREPARE and their decision (aborting one would be *safe* — the decision row
arbitrates — but would fail that coordinator's write for nothing).

Clusters sharing a server: every gtrid ends with a tag of the catalog whose decision log
decides it (:func:`catalog_tag`), and :func:`recover` only touches xids of its own
catalog. Why: a cluster's log says nothing about another's transactions, so without
the tag a coordinator of cluster B would find no decision for a branch of cluster A on
a server both use and, once it is ``min_age`` old, abort it — while A's log may say
``'commit'`` (its other branches committed). Xids without a tag (written before the
tag existed) are recovered as before by any coordinator.

MariaDB facts this relies on (10.5+, checked in the tests): a prepared XA transaction
survives its client's disconnect; while its session is still connected, another
session's ``XA COMMIT``/``XA ROLLBACK`` of it answers XAER_NOTA (1397) although ``XA
RECOVER`` lists it; an XA transaction still ACTIVE or IDLE when its connection drops is
rolled back by the server.

Crash testing: with ``SHARDGATE_XA_FAULT`` set to ``after_prepare``, ``after_decision`` or
``after_first_commit`` the process exits at once (``os._exit``) at that point, as a
coordinator killed there would. Tests run that in a subprocess, then recover.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import socket
import time
import weakref
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import structlog
import trio

from sharding.backend.base import ExecResult
from sharding.backend.mysql import MySQLConnection, MySQLDataSource
from sharding.errors import (
    BackendError,
    DataSourceUnavailable,
    QueryTimeout,
    ShardgateError,
    TransactionError,
    XAOutcomeUnknown,
)

log = structlog.get_logger("shardgate.backend.xa")

#: XA formatID marking shardgate's transactions ("SG" + 1); others are never touched.
FORMAT_ID = 0x53470001
#: The default catalog database (``[cluster] catalog``) and its log tables; a log data
#: source registered with :func:`use_catalog` uses its cluster's name instead.
CATALOG_DB = "shardgate_catalog"
LOG_TABLE = f"{CATALOG_DB}.xa_log"
OWNERS_TABLE = f"{CATALOG_DB}.xa_owners"
FAULT_ENV = "SHARDGATE_XA_FAULT"
FAULT_POINTS = ("after_prepare", "after_decision", "after_first_commit")
#: Seconds a decision-log row is kept after its transaction is resolved everywhere.
LOG_RETENTION = 3600.0
#: An owner whose heartbeat is older than this (seconds, server clock) is dead.
OWNER_STALE_AFTER = 3.0
#: A dead owner's heartbeat row is deleted once this old (seconds) and nothing of it is
#: left prepared here. Not sooner: a coordinator that does not know every data source
#: of that owner must not erase the evidence that it is dead for one that does.
OWNER_FORGET_AFTER = 600.0
#: How long (seconds) an ambiguous decision write may be re-read before giving up.
DECISION_RESOLVE_TIMEOUT = 5.0
#: Bound of one re-read attempt (its INSERT may wait on the lost INSERT's row lock).
DECISION_ATTEMPT_TIMEOUT = 2.0
#: Bound of the decision INSERT itself when the data source has no ``query_timeout``.
DECISION_TIMEOUT = 10.0

#: Server error codes that do not prove the statement was not applied: the statement
#: was interrupted by a KILL or a shutdown, possibly after its commit.
_AMBIGUOUS_SERVER_CODES = frozenset({1053, 1317, 1927})
_XAER_NOTA = 1397


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os._exit(77)


# -- owners ------------------------------------------------------------------------------


@dataclass
class XAOwner:
    """This process as the owner of the XA transactions it starts.

    ``inflight``: gtrids :func:`run_xa` is working on right now (recovery in this
    process must not touch them); ``wants_recovery``: a write left prepared branches
    behind (outcome unknown, or a rollback that failed), so the recovery loop should run
    a pass soon rather than at its next period.
    """

    id: str
    pid: int
    inflight: set[str] = field(default_factory=set)
    wants_recovery: bool = False


_local_owner: XAOwner | None = None


def local_owner() -> XAOwner:
    """The owner for this process (a fresh one after ``fork``: ids are per process)."""
    global _local_owner
    if _local_owner is None or _local_owner.pid != os.getpid():
        _local_owner = XAOwner(secrets.token_hex(6), os.getpid())
    return _local_owner


def catalog_tag(catalog: str) -> str:
    """The last part of the gtrids decided in ``catalog``'s log (module docstring)."""
    return hashlib.sha256(catalog.encode()).hexdigest()[:10]


def new_gtrid(owner: str | None = None, catalog: str | None = None) -> str:
    """``sg-<unix ms hex>-<owner>-<random>[-<catalog tag>]`` (at most 55 bytes of the
    64 XA allows): unique, sortable, its age, owner and cluster readable."""
    owner_id = owner if owner is not None else local_owner().id
    gtrid = f"sg-{int(time.time() * 1000):x}-{owner_id}-{secrets.token_hex(8)}"
    return gtrid if catalog is None else f"{gtrid}-{catalog_tag(catalog)}"


def gtrid_age(gtrid: str, now: float | None = None) -> float | None:
    try:
        ms = int(gtrid.split("-")[1], 16)
    except (IndexError, ValueError):
        return None
    return (now if now is not None else time.time()) - ms / 1000


def gtrid_owner(gtrid: str) -> str | None:
    """The owner id in a gtrid (None for gtrids of the older, owner-less format)."""
    parts = gtrid.split("-")
    return parts[2] if len(parts) in (4, 5) and parts[0] == "sg" else None


def gtrid_catalog_tag(gtrid: str) -> str | None:
    """The catalog tag of a gtrid (None for gtrids written before tags existed)."""
    parts = gtrid.split("-")
    return parts[4] if len(parts) == 5 and parts[0] == "sg" else None


def _hex(value: str) -> str:
    return "X'" + value.encode().hex() + "'"


def xid_sql(gtrid: str, bqual: str) -> str:
    """An xid literal: hex strings, so no quoting issue whatever the names."""
    return f"{_hex(gtrid)},{_hex(bqual)},{FORMAT_ID}"


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _as_str(value: object) -> str:
    return _as_bytes(value).decode(errors="replace")


#: The catalog database of each decision-log data source. Why keyed by the data source
#: rather than a parameter of every function: the log data source is what every log
#: function already receives, and a cluster's log is exactly "the catalog database on
#: its first data source" (the coordinator registers it when it opens).
_catalogs: weakref.WeakKeyDictionary[MySQLDataSource, str] = weakref.WeakKeyDictionary()


def use_catalog(log_ds: MySQLDataSource, catalog: str) -> None:
    """Keep ``log_ds``'s decision log and owners in database ``catalog``."""
    _catalogs[log_ds] = catalog


def catalog_of(log_ds: MySQLDataSource) -> str:
    return _catalogs.get(log_ds, CATALOG_DB)


def log_table(log_ds: MySQLDataSource) -> str:
    """The decision log table on ``log_ds`` (``<catalog>.xa_log``)."""
    return f"{catalog_of(log_ds)}.xa_log"


def owners_table(log_ds: MySQLDataSource) -> str:
    """The owners' heartbeat table on ``log_ds`` (``<catalog>.xa_owners``)."""
    return f"{catalog_of(log_ds)}.xa_owners"


async def ensure_xa_log(ds: MySQLDataSource) -> None:
    await ds.ensure_database(catalog_of(ds))
    await ds.execute(
        f"CREATE TABLE IF NOT EXISTS {log_table(ds)} ("
        " gtrid VARBINARY(64) NOT NULL PRIMARY KEY,"
        " decision ENUM('commit','abort') NOT NULL,"
        " participants TEXT NOT NULL,"
        " created TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
        ") ENGINE=InnoDB"
    )
    await ds.execute(
        f"CREATE TABLE IF NOT EXISTS {owners_table(ds)} ("
        " owner VARBINARY(32) NOT NULL PRIMARY KEY,"
        " heartbeat_at TIMESTAMP(6) NOT NULL,"
        " info VARCHAR(255) NOT NULL DEFAULT ''"
        ") ENGINE=InnoDB"
    )


async def heartbeat(
    log_ds: MySQLDataSource, owner: XAOwner | None = None, *, stale_after: float | None = None
) -> list[str]:
    """Register/refresh ``owner`` (default: this process) in ``xa_owners``; return the
    ids of *other* owners whose heartbeat is stale (their xids can be resolved now)."""
    owner = owner or local_owner()
    stale = OWNER_STALE_AFTER if stale_after is None else stale_after
    info = f"{socket.gethostname()}:{owner.pid}"[:255]
    upsert = (
        f"INSERT INTO {owners_table(log_ds)} (owner, heartbeat_at, info) VALUES ({_hex(owner.id)}, NOW(6), {_hex(info)}) "
        "ON DUPLICATE KEY UPDATE heartbeat_at = NOW(6)"
    )
    try:
        await log_ds.execute(upsert)
    except BackendError as exc:
        if exc.code != 1146:  # ER_NO_SUCH_TABLE: first use of this catalog
            raise
        await ensure_xa_log(log_ds)
        await log_ds.execute(upsert)
    rs = await log_ds.fetch(
        f"SELECT owner FROM {owners_table(log_ds)} "
        f"WHERE heartbeat_at < NOW(6) - INTERVAL {float(stale)!r} SECOND AND owner <> {_hex(owner.id)}"
    )
    return [_as_str(r[0]) for r in rs.rows]


def heartbeat_source(log_ds: MySQLDataSource) -> MySQLDataSource:
    """A one-connection data source to the log's server, for heartbeats only.

    Why not ``log_ds`` itself: its pool serves client work, and a heartbeat that waits
    behind an exhausted pool goes stale, making other coordinators take this live one
    for dead (safe — the decision log arbitrates — but its in-flight writes would fail).
    Same server, same bridge, same name (errors name the data source); close it with
    ``aclose()``.
    """
    config = dataclasses.replace(log_ds.config, max_connections=1, min_idle=0)
    beat = MySQLDataSource(log_ds.name, config, bridge=log_ds._bridge)
    use_catalog(beat, catalog_of(log_ds))
    return beat


async def retire_owner(log_ds: MySQLDataSource, owner: XAOwner | None = None) -> None:
    """Remove ``owner``'s heartbeat row (clean shutdown). Its leftovers, if any, are then
    treated like an unregistered owner's: resolved after ``min_age``."""
    owner = owner or local_owner()
    await log_ds.execute(f"DELETE FROM {owners_table(log_ds)} WHERE owner = {_hex(owner.id)}")


async def _owner_ages(log_ds: MySQLDataSource) -> dict[str, float]:
    """Seconds since each registered owner's last heartbeat (server clock)."""
    rs = await log_ds.fetch(
        f"SELECT owner, TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) FROM {owners_table(log_ds)}"
    )
    return {_as_str(r[0]): int(r[1]) / 1e6 for r in rs.rows}


# -- one XA write ---------------------------------------------------------------------


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


def _drop_session(branch: _Branch) -> None:
    """Close the branch's session now and never reuse it.

    The server then rolls back an unprepared branch and *detaches* a prepared one, which
    any other session (recovery) may then finish; while the session lives, others get
    XAER_NOTA. Closing is idempotent (the pool closes it again on release).
    """
    conn = branch.conn
    pc = conn._lease.pc if conn is not None else None
    if pc is not None:
        pc.broken = True
        try:
            pc.raw.close(graceful=False)
        except Exception:  # closing never turns into a failure of its own
            pass


async def _is_prepared(ds: MySQLDataSource, gtrid: str, bqual: str) -> bool:
    rs = await ds.fetch("XA RECOVER")
    want = (gtrid + bqual).encode()
    return any(int(r[0]) == FORMAT_ID and _as_bytes(r[3]) == want for r in rs.rows)


async def _rollback(branch: _Branch, gtrid: str) -> None:
    """Best effort; a branch left prepared stays ``prepared`` for recover().

    First on the branch's own session. If that session is gone or refuses (e.g. it was
    closed because a statement was cancelled on the wire), it is closed for good and the
    branch is rolled back from another connection: a *prepared* branch outlives its
    session and any session may end it once detached, while an unprepared one died with
    its session. XAER_NOTA (1397) from another session is ambiguous (gone, or still
    attached to the dying session), so ``XA RECOVER`` tells which.
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
            log.info(
                "xa_rollback_retry_on_new_connection",
                gtrid=gtrid,
                datasource=branch.ds.name,
                error=str(exc),
            )
    if branch.state in ("none", "rolled_back"):
        return
    _drop_session(branch)  # its XA state is unknown; closing it detaches/rolls back
    with trio.move_on_after(max(2.0, branch.ds.config.validation_timeout * 2)):
        delay = 0.02
        while True:
            try:
                await branch.ds.execute(f"XA ROLLBACK {xid}")
                branch.state = "rolled_back"
                return
            except BackendError as exc:
                if exc.code == _XAER_NOTA:
                    try:
                        if not await _is_prepared(branch.ds, gtrid, branch.ds.name):
                            # Never prepared (died with its session) or already ended
                            # by recovery; no commit decision exists on this path.
                            branch.state = "rolled_back"
                            return
                    except ShardgateError as exc2:
                        log.info(
                            "xa_rollback_check_failed",
                            gtrid=gtrid,
                            datasource=branch.ds.name,
                            error=str(exc2),
                        )
                else:
                    log.info(
                        "xa_rollback_retry", gtrid=gtrid, datasource=branch.ds.name, error=str(exc)
                    )
            except ShardgateError as exc:
                log.info(
                    "xa_rollback_retry", gtrid=gtrid, datasource=branch.ds.name, error=str(exc)
                )
            await trio.sleep(delay)
            delay = min(delay * 2, 0.5)
    # Left for recovery. A branch whose PREPARE never answered may be prepared or not:
    # either way recovery (no commit decision) or the server ends it.
    if branch.state != "prepared":
        branch.state = "unknown"
    log.warning(
        "xa_rollback_failed", gtrid=gtrid, datasource=branch.ds.name, left_for_recovery=True
    )


async def _rollback_all(branches: Sequence[_Branch], gtrid: str) -> tuple[list[str], list[str]]:
    """Roll back every branch (shielded); return (rolled back or never started, left)."""
    with trio.CancelScope(shield=True):
        async with trio.open_nursery() as nursery:
            for b in branches:
                nursery.start_soon(_rollback, b, gtrid)
    done = [b.ds.name for b in branches if b.state in ("none", "rolled_back")]
    left = [b.ds.name for b in branches if b.state not in ("none", "rolled_back")]
    return done, left


async def _commit(branch: _Branch, gtrid: str) -> None:
    assert branch.conn is not None
    await branch.conn.execute(f"XA COMMIT {xid_sql(gtrid, branch.ds.name)}")
    branch.state = "committed"


def _rollback_summary(done: Sequence[str], left: Sequence[str]) -> str:
    text = f"rolled back on {', '.join(done) or 'none'}"
    if left:
        text += (
            f"; rollback not confirmed on {', '.join(left)} (left prepared without a commit "
            "decision: recovery will roll it back)"
        )
    return text


async def run_xa(
    work: Mapping[MySQLDataSource, Sequence[str]],
    *,
    log_ds: MySQLDataSource | None = None,
    owner: XAOwner | None = None,
) -> XAResult:
    """Run ``statements`` on each data source atomically (see module docstring).

    ``log_ds`` holds the decision log (default: the first data source by name); its
    ``xa_log`` table must exist (:func:`ensure_xa_log`). ``owner`` defaults to this
    process (:func:`local_owner`). Raises the failing statement's error if nothing was
    committed, :class:`XAOutcomeUnknown` if the decision could not be confirmed (nothing
    rolled back, recovery finishes it), :class:`TransactionError` for any other outcome
    but "committed everywhere" or "rolled back everywhere".
    """
    if not work:
        raise ValueError("run_xa needs at least one data source")
    branches = [
        _Branch(ds, list(stmts)) for ds, stmts in sorted(work.items(), key=lambda kv: kv[0].name)
    ]
    names = [b.ds.name for b in branches]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate data source names in XA: {names}")
    log_ds = log_ds or branches[0].ds
    owner = owner or local_owner()
    gtrid = new_gtrid(owner.id, catalog_of(log_ds))
    owner.inflight.add(gtrid)  # before XA START: our own recovery never races us
    try:
        return await _run_xa(branches, names, log_ds, owner, gtrid)
    finally:
        owner.inflight.discard(gtrid)


async def _run_xa(
    branches: list[_Branch], names: list[str], log_ds: MySQLDataSource, owner: XAOwner, gtrid: str
) -> XAResult:
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
            _done, left = await _rollback_all(branches, gtrid)
            if left:
                # No commit decision exists: recovery rolls these back (our own xid,
                # not in flight any more: at its next pass, without waiting min_age).
                owner.wants_recovery = True
                log.warning("xa_phase1_rollback_incomplete", gtrid=gtrid, left=left)
            raise _first_error(failure)
        _fault("after_prepare")

        # Decision. Shielded: a cancelled caller must not turn a decision write in
        # flight into an unknown outcome; every step below is bounded.
        with trio.CancelScope(shield=True):
            decision, reason = await _decide(log_ds, gtrid, names)
        if decision == "abort":
            done, left = await _rollback_all(branches, gtrid)
            if left:
                owner.wants_recovery = True
            raise TransactionError(
                f"XA {gtrid}: not committed ({reason}); {_rollback_summary(done, left)}"
            )
        if decision == "unknown":
            for b in branches:
                _drop_session(b)  # detach the prepared branches: recovery finishes them
            owner.wants_recovery = True
            log.error(
                "xa_outcome_unknown",
                gtrid=gtrid,
                datasources=names,
                log_datasource=log_ds.name,
                error=reason,
            )
            raise XAOutcomeUnknown(
                f"XA {gtrid}: outcome unknown: the commit decision was sent to {log_ds.name} but "
                f"could not be confirmed ({reason}); nothing was rolled back, the transaction is "
                f"left prepared on {', '.join(names)} and XA recovery will finish it (commit "
                "everywhere if the decision was recorded, else roll back everywhere)"
            )
        _fault("after_decision")

        # Phase 2: the decision is durable; finish what we can, report the rest.
        errors: dict[str, str] = {}

        async def commit_one(b: _Branch) -> None:
            try:
                await _commit(b, gtrid)
            except ShardgateError as exc:
                errors[b.ds.name] = str(exc)
                _drop_session(b)  # detach it, so that recovery can commit it

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
            owner.wants_recovery = True
            done_names = [b.ds.name for b in branches if b.state == "committed"]
            raise TransactionError(
                f"XA {gtrid}: committed on {', '.join(done_names) or 'none'}; commit decided but "
                f"not yet applied on {', '.join(sorted(errors))} (recovery will finish it): "
                + "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
            )
        try:
            await log_ds.execute(f"DELETE FROM {log_table(log_ds)} WHERE gtrid = {_hex(gtrid)}")
        except ShardgateError as exc:  # a leftover 'commit' row is harmless
            log.warning("xa_log_cleanup_failed", gtrid=gtrid, error=str(exc))
        return XAResult(gtrid, {b.ds.name: b.results for b in branches})
    raise AssertionError("unreachable")  # pragma: no cover - the stack never swallows


def _first_error(exc: BaseException) -> BaseException:
    """Unwrap the nursery's group to the first real error (keep Cancelled as is)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _cause(log_ds: MySQLDataSource, exc: ShardgateError) -> str:
    """What went wrong with the decision write, for the client: the driver's own words
    stay in the log (phrases such as "Lost connection" make client libraries think
    *their* connection to the coordinator died, and drop it)."""
    if isinstance(exc, DataSourceUnavailable):
        return f"the connection to {log_ds.name} failed before its reply arrived"
    if isinstance(exc, QueryTimeout):
        return f"{log_ds.name} did not answer within its query timeout"
    return str(exc)


def _definitely_not_applied(exc: ShardgateError) -> bool:
    """The server answered the decision INSERT with an error that proves it was not
    applied (a statement error rolls an autocommit statement back). Duplicate key is
    not among them: a row exists (ours or recovery's), so it must be read."""
    return (
        isinstance(exc, BackendError)
        and exc.code < 2000
        and exc.code != 1062
        and exc.code not in _AMBIGUOUS_SERVER_CODES
    )


async def _decide(log_ds: MySQLDataSource, gtrid: str, names: Sequence[str]) -> tuple[str, str]:
    """Record 'commit'. Returns (``"commit"`` | ``"abort"`` | ``"unknown"``, why)."""
    participants = _hex(",".join(names))
    sent = False
    try:
        with trio.fail_after(DECISION_TIMEOUT):
            async with log_ds.connection() as conn:
                sent = True  # from here on, a failure does not prove nothing happened
                await conn.execute(
                    f"INSERT INTO {log_table(log_ds)} (gtrid, decision, participants) "
                    f"VALUES ({_hex(gtrid)}, 'commit', {participants})"
                )
        return "commit", ""
    except trio.TooSlowError:
        if not sent:
            return (
                "abort",
                f"the commit decision could not be recorded: no connection to {log_ds.name}",
            )
        first = f"{log_ds.name}: the decision write got no answer within {DECISION_TIMEOUT:g}s"
    except ShardgateError as exc:
        # Not borrowed (pool timeout, data source down): the INSERT was never sent.
        if not sent or _definitely_not_applied(exc):
            log.warning("xa_decision_failed", gtrid=gtrid, error=str(exc))
            return "abort", f"the commit decision could not be recorded: {exc}"
        log.warning("xa_decision_ambiguous", gtrid=gtrid, error=str(exc))
        first = _cause(log_ds, exc)
    decision, detail = await _resolve_decision(log_ds, gtrid, participants)
    if decision == "commit":
        log.info("xa_decision_confirmed", gtrid=gtrid, decision=decision)
        return "commit", ""
    if decision == "abort":
        if detail == "ours":
            return "abort", f"the commit decision was not stored ({first}); aborted"
        return "abort", "aborted by XA recovery before the commit decision was recorded"
    log.warning("xa_decision_unreadable", gtrid=gtrid, error=detail)
    return (
        "unknown",
        f"{first}; it could not be read back from {log_ds.name} within {DECISION_RESOLVE_TIMEOUT:g}s",
    )


async def _resolve_decision(
    log_ds: MySQLDataSource, gtrid: str, participants: str
) -> tuple[str | None, str]:
    """Read the decision of ``gtrid`` on a fresh borrow of the log data source (the
    failed connection was discarded). No row → insert ``'abort'``: the primary key
    decides against the lost ``INSERT`` should it still land (its row lock makes this
    one wait, then fail with 1062). Bounded retries with backoff. Returns (decision,
    ``"found"`` | ``"ours"``), or ``(None, last error)`` if the decision is still unknown
    after :data:`DECISION_RESOLVE_TIMEOUT`."""
    deadline = trio.current_time() + DECISION_RESOLVE_TIMEOUT
    delay = 0.05
    last = "no attempt"
    select = f"SELECT decision FROM {log_table(log_ds)} WHERE gtrid = {_hex(gtrid)}"
    while True:
        try:
            with trio.fail_after(DECISION_ATTEMPT_TIMEOUT):
                rs = await log_ds.fetch(select)
                if rs.rows:
                    return _as_str(rs.rows[0][0]), "found"
                try:
                    await log_ds.execute(
                        f"INSERT INTO {log_table(log_ds)} (gtrid, decision, participants) "
                        f"VALUES ({_hex(gtrid)}, 'abort', {participants})"
                    )
                    return "abort", "ours"
                except BackendError as exc:
                    if exc.code != 1062:
                        raise
                    last = "decision row appeared meanwhile"
                    continue  # someone's row landed meanwhile: read it
        except trio.TooSlowError:
            last = f"{log_ds.name}: no answer within {DECISION_ATTEMPT_TIMEOUT:g}s"
        except ShardgateError as exc:
            last = str(exc)
        if trio.current_time() + delay > deadline:
            return None, last
        await trio.sleep(delay)
        delay = min(delay * 2, 1.0)


# -- recovery ---------------------------------------------------------------------------


@dataclass
class RecoveryReport:
    committed: list[tuple[str, str]] = field(default_factory=list)  # (datasource, gtrid)
    rolled_back: list[tuple[str, str]] = field(default_factory=list)
    #: left for now: too young (min_age), in flight here, or still attached to a session
    skipped: list[tuple[str, str]] = field(default_factory=list)
    purged: int = 0  # decision-log rows deleted (older than log_retention, all resolved)
    #: dead (stale) owners with branches that could not be resolved yet (still attached)
    busy_owners: set[str] = field(default_factory=set)
    owners_retired: int = 0  # heartbeat rows of long-dead owners with nothing left


async def recover(
    datasources: Sequence[MySQLDataSource],
    *,
    log_ds: MySQLDataSource | None = None,
    min_age: float = 0.0,
    log_retention: float = LOG_RETENTION,
    owner: XAOwner | None = None,
    stale_after: float | None = None,
) -> RecoveryReport:
    """Resolve shardgate's prepared XA transactions (see module docstring).

    Only xids of ``log_ds``'s catalog (or untagged ones) are looked at; those of other
    clusters on the same servers are not this log's to decide. Xids whose decision is
    logged are finished at any age. An undecided xid is aborted
    (``'abort'`` row, then ``XA ROLLBACK``) now when its owner is ``owner`` (default:
    this process) and it is not in flight here, or when its owner's heartbeat is older
    than ``stale_after`` (default :data:`OWNER_STALE_AFTER`); otherwise (a live foreign
    owner, or one that never registered) only once it is ``min_age`` seconds old.

    A branch still attached to a live session answers XAER_NOTA; it is skipped (its
    session ends it, or a later pass). Then the decision log is trimmed: a row older
    than ``log_retention`` seconds whose participants are all among ``datasources`` and
    prepared on none of them is done with. ('abort' rows are kept that long so that a
    coordinator stalled between its PREPARE and its decision still finds them and rolls
    back.) Heartbeat rows of owners dead for :data:`OWNER_FORGET_AFTER` with nothing left
    prepared here are deleted.

    A data source that fails (down, no privilege) does not stop the pass: the others
    are recovered, then its error is raised (and nothing is trimmed or forgotten, since
    what is prepared there is unknown).
    """
    if not datasources:
        return RecoveryReport()
    log_ds = log_ds or sorted(datasources, key=lambda d: d.name)[0]
    me = owner or local_owner()
    stale = OWNER_STALE_AFTER if stale_after is None else stale_after
    await ensure_xa_log(log_ds)
    owners = await _owner_ages(log_ds)
    own_tag = catalog_tag(catalog_of(log_ds))
    report = RecoveryReport()

    async def one(ds: MySQLDataSource) -> None:
        rs = await ds.fetch("XA RECOVER")
        for row in rs.rows:
            format_id, gtrid_len, _bqual_len, data = (
                int(row[0]),
                int(row[1]),
                int(row[2]),
                _as_bytes(row[3]),
            )
            if format_id != FORMAT_ID:
                continue
            gtrid = data[:gtrid_len].decode()
            bqual = data[gtrid_len:].decode()
            tag = gtrid_catalog_tag(gtrid)
            if tag is not None and tag != own_tag:
                continue  # another cluster's: only its own decision log can decide it
            if gtrid in me.inflight:
                report.skipped.append((ds.name, gtrid))
                continue
            decision = await log_ds.fetch(
                f"SELECT decision FROM {log_table(log_ds)} WHERE gtrid = {_hex(gtrid)}"
            )
            if not decision.rows:
                if not _may_abort_now(gtrid, me, owners, stale, min_age):
                    report.skipped.append((ds.name, gtrid))
                    continue
                await log_ds.execute(
                    f"INSERT IGNORE INTO {log_table(log_ds)} (gtrid, decision, participants) "
                    f"VALUES ({_hex(gtrid)}, 'abort', '')"
                )
                decision = await log_ds.fetch(
                    f"SELECT decision FROM {log_table(log_ds)} WHERE gtrid = {_hex(gtrid)}"
                )
            xid = xid_sql(gtrid, bqual)
            commit = bool(decision.rows) and _as_str(decision.rows[0][0]) == "commit"
            try:
                await ds.execute(f"XA {'COMMIT' if commit else 'ROLLBACK'} {xid}")
            except BackendError as exc:
                if exc.code != _XAER_NOTA:
                    raise
                # Still attached to a live session (its owner is finishing it, or its
                # session is being torn down), or another recoverer just ended it.
                report.skipped.append((ds.name, gtrid))
                log.info("xa_recovery_busy", datasource=ds.name, gtrid=gtrid)
                continue
            (report.committed if commit else report.rolled_back).append((ds.name, gtrid))
            log.info(
                "xa_recovered",
                datasource=ds.name,
                gtrid=gtrid,
                decision="commit" if commit else "abort",
            )

    # One unreachable server must not hold up the others (their prepared branches hold
    # row locks too): each is tried, then the first failure is raised.
    failed: list[ShardgateError] = []
    for ds in datasources:
        try:
            await one(ds)
        except ShardgateError as exc:
            log.warning("xa_recovery_source_failed", datasource=ds.name, error=str(exc))
            failed.append(exc)
    if failed:
        raise failed[0]
    skipped = {g for _, g in report.skipped}
    busy = {gtrid_owner(g) for g in skipped}
    report.busy_owners = {o for o, age in owners.items() if age > stale and o in busy}
    report.purged = await _purge_log(log_ds, {d.name for d in datasources}, skipped, log_retention)
    report.owners_retired = await _retire_dead_owners(log_ds, me, owners, busy)
    return report


def _may_abort_now(
    gtrid: str, me: XAOwner, owners: Mapping[str, float], stale: float, min_age: float
) -> bool:
    owner_id = gtrid_owner(gtrid)
    if owner_id is not None and owner_id == me.id:
        return True  # ours and not in flight (checked by the caller): a leftover
    if owner_id is not None and owners.get(owner_id, -1.0) > stale:
        return True  # its owner stopped heart-beating: dead
    age = gtrid_age(gtrid)
    return age is None or age >= min_age


async def _retire_dead_owners(
    log_ds: MySQLDataSource, me: XAOwner, owners: Mapping[str, float], busy: set[str | None]
) -> int:
    forget = OWNER_FORGET_AFTER
    dead = [o for o, age in owners.items() if age > forget and o != me.id and o not in busy]
    for owner_id in dead:
        # The age condition again, on the server: an owner that came back meanwhile stays.
        await log_ds.execute(
            f"DELETE FROM {owners_table(log_ds)} WHERE owner = {_hex(owner_id)} "
            f"AND heartbeat_at < NOW(6) - INTERVAL {float(forget)!r} SECOND"
        )
    return len(dead)


async def _purge_log(
    log_ds: MySQLDataSource, names: set[str], prepared: set[str], retention: float
) -> int:
    rs = await log_ds.fetch(
        f"SELECT gtrid, participants FROM {log_table(log_ds)} "
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
        await log_ds.execute(f"DELETE FROM {log_table(log_ds)} WHERE gtrid IN ({chunk})")
    return len(done)
