"""Cross-data-source writes through XA, and XA recovery for a running coordinator.

:mod:`sharding.exec.writes` runs a write as one transaction per data source; when a
statement touches several MySQL data sources, committing them one after the other
would leave a window where some committed and some did not. Here the write becomes
one XA transaction (:func:`sharding.backend.xa.run_xa`: prepare everywhere, log the
decision durably, commit everywhere), so it commits atomically or not at all.

Strategies registered with :func:`sharding.exec.writes.register_strategy`:

* ``"xa"``: two-phase commit whenever the write spans data sources (every one must
  support XA; one data source needs no 2PC and takes the ``"local"`` path);
* ``"auto"`` (the coordinator's default): ``"xa"`` when every data source of the write
  supports XA, else ``"local"`` (SQLite).

The decision log is ``<catalog>.xa_log`` (``[cluster] catalog``, default
``shardgate_catalog``; :func:`use_catalog`) on the coordinator's *first* data source
(where the catalog lives), shared by every coordinator of the fleet.

Recovery: :func:`start_recovery` runs when a coordinator with MySQL data sources opens
(prepared transactions a crashed coordinator left behind are committed or rolled back
by the log), then keeps a loop in the coordinator's nursery that, every
:data:`HEARTBEAT_PERIOD` seconds, refreshes this process's heartbeat in
``<catalog>.xa_owners`` (:func:`sharding.backend.xa.heartbeat`) and runs a
recovery pass at once when another owner's heartbeat went stale (a coordinator died:
its prepared branches hold row locks, so they are resolved within seconds) or when a
write of this process left branches behind (outcome unknown, failed rollback); else a
pass every :data:`RECOVERY_PERIOD` seconds. Undecided transactions of *live* foreign
owners younger than :data:`UNDECIDED_MIN_AGE` are left alone (they may be between
their PREPARE and their decision); see :func:`sharding.backend.xa.recover`. When the
coordinator closes, its heartbeat row is removed.

Who runs the periodic and dead-owner passes: one process per *server*, the holder of
that server's lease (:func:`recovery_lease_name`, :mod:`sharding.backend.lease`), and
it passes over exactly the data sources whose leases it holds. Why per server and not
one lease per catalog: coordinators of different topologies may share a catalog (and
its decision log and owners), and a coordinator can only recover the servers it knows.
With a single lease, a holder that does not know server X would leave a dead owner's
prepared branches on X (and their row locks) until some other process's next full
pass; with one lease per server, only a process that reaches X can hold X's lease.
Leases are named by what the server says it is (``@@hostname``, ``@@port``,
``@@server_id``), not by data source names or URLs, which are per topology. A lease
taken over from a holder that stopped renewing is passed over at once (the previous
holder may have died mid-pass). Safety never rests on the leases: every resolution
goes through the decision log (a ``'commit'`` row, or an ``'abort'`` row inserted
under the gtrid's primary key before any rollback), so two processes that pass over
the same server at once — a lease that just moved, a catalog that could not be read,
two names for one server — resolve each branch the same way. Besides, each process
passes over *all* its data sources for its own leftovers (a write of its own left
branches behind), and once at start-up.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
import trio

from sharding.backend.base import DataSource, ExecResult
from sharding.errors import NotSupported, ShardgateError
from sharding.exec.writes import WriteContext, WriteOp, local_write, ordered, register_strategy

if TYPE_CHECKING:
    from sharding.backend.mysql import MySQLDataSource
    from sharding.backend.xa import RecoveryReport
    from sharding.coordinator import Coordinator

log = structlog.get_logger("sharding.exec.xa")

#: Seconds between full recovery passes of a running coordinator.
RECOVERY_PERIOD = 30.0
#: Seconds between heartbeats (and checks for dead owners) of a running coordinator.
HEARTBEAT_PERIOD = 1.0
#: Seconds before a dead owner whose branches were still busy is looked at again.
STALE_RETRY = 5.0
#: Prefix of the per-server leases of the periodic passes (sharding.backend.lease; see
#: the module docstring): for each server, one process of the fleet runs them; the
#: others still heartbeat and still run a pass for their own leftovers. The ttl is the
#: owners' stale bound, so a dead holder is replaced as soon as it is seen dead.
RECOVERY_LEASE = "xa_recovery"
#: Undecided XA transactions younger than this are another coordinator's business.
UNDECIDED_MIN_AGE = 10.0


def log_datasource(datasources: Mapping[str, DataSource]) -> DataSource:
    """The data source holding the decision log: the first (the catalog's)."""
    return next(iter(datasources.values()))


def use_catalog(log_ds: DataSource, catalog: str) -> None:
    """Keep the decision log and owners of the cluster whose log lives on ``log_ds`` in
    database ``catalog`` (``[cluster] catalog``); a no-op for non-MySQL sources."""
    from sharding.backend.mysql import MySQLDataSource

    if isinstance(log_ds, MySQLDataSource):
        from sharding.backend.xa import use_catalog as register

        register(log_ds, catalog)


def _xa_sources(datasources: Mapping[str, DataSource]) -> list[MySQLDataSource]:
    from sharding.backend.mysql import MySQLDataSource

    return [ds for ds in datasources.values() if isinstance(ds, MySQLDataSource)]


async def xa_write(
    ops_by_source: Mapping[str, Sequence[WriteOp]], ctx: WriteContext
) -> dict[str, list[ExecResult]]:
    """The ``"xa"`` strategy (module docstring)."""
    if len(ops_by_source) < 2:
        return await local_write(ops_by_source, ctx)
    from sharding.backend.mysql import MySQLDataSource
    from sharding.backend.xa import run_xa

    work: dict[MySQLDataSource, list[str]] = {}
    for name, ops in ops_by_source.items():
        ds = ctx.datasources[name]
        if not isinstance(ds, MySQLDataSource):
            raise NotSupported(
                f"data source {name!r} ({ds.kind}) cannot take part in an XA transaction"
            )
        work[ds] = [op.sql for op in ordered(ops)]
    log_ds = log_datasource(ctx.datasources)
    if not isinstance(log_ds, MySQLDataSource):
        raise NotSupported("the XA decision log needs a MySQL first data source")
    names = ", ".join(sorted(ops_by_source))
    result = await ctx.run_child(
        functools.partial(run_xa, work, log_ds=log_ds), label=f"xa {names}"
    )
    return {name: result.results.get(name, []) for name in ops_by_source}


async def auto_write(
    ops_by_source: Mapping[str, Sequence[WriteOp]], ctx: WriteContext
) -> dict[str, list[ExecResult]]:
    """The ``"auto"`` strategy: XA across data sources that support it, else local."""
    if len(ops_by_source) > 1 and all(ctx.datasources[n].supports_xa for n in ops_by_source):
        return await xa_write(ops_by_source, ctx)
    return await local_write(ops_by_source, ctx)


register_strategy("xa", xa_write)
register_strategy("auto", auto_write)


async def recover_once(
    datasources: Mapping[str, DataSource],
    *,
    min_age: float | None = None,
    only: Sequence[MySQLDataSource] | None = None,
) -> RecoveryReport | None:
    """One recovery pass over the MySQL data sources, or over ``only`` of them (None if
    there are none); ``min_age`` defaults to :data:`UNDECIDED_MIN_AGE`."""
    if min_age is None:
        min_age = UNDECIDED_MIN_AGE
    sources = _xa_sources(datasources)
    log_ds = log_datasource(datasources)
    if not sources or log_ds not in sources:
        return None
    if only is not None:
        sources = [ds for ds in sources if ds in only]
        if not sources:
            return None
    from sharding.backend.xa import recover

    report = await recover(sources, log_ds=log_ds, min_age=min_age)
    if report.committed or report.rolled_back:
        log.info(
            "xa_recovery",
            committed=len(report.committed),
            rolled_back=len(report.rolled_back),
            left_to_owner=len(report.skipped),
        )
    return report


async def start_recovery(
    coordinator: Coordinator, period: float | None = RECOVERY_PERIOD
) -> RecoveryReport | None:
    """Run at coordinator start-up: a recovery pass now, then the heartbeat/recovery loop
    (module docstring) with a full pass at least every ``period`` seconds (``None``:
    only the pass now, no heartbeat).

    ``coordinator`` needs ``datasources`` and ``spawn(fn)`` (its nursery). A pass that
    fails (say, the user lacks the XA RECOVER privilege) is logged as an error and
    retried by the loop with backoff: the coordinator still serves reads and
    single-source writes, and prepared leftovers only hold their rows' locks until
    resolved.
    """
    datasources: Mapping[str, DataSource] = coordinator.datasources
    if not _xa_sources(datasources):
        return None
    report: RecoveryReport | None = None
    log_ds = log_datasource(datasources)
    if period is not None and log_ds in _xa_sources(datasources):
        # Registered before the first write can start: a coordinator that dies at
        # once must still be recognisable as dead by its stale heartbeat.
        from sharding.backend.xa import heartbeat

        try:
            await heartbeat(log_ds)
        except ShardgateError as exc:
            log.warning("xa_heartbeat_failed", datasource=log_ds.name, error=str(exc))
    try:
        report = await recover_once(datasources)
    except ShardgateError as exc:
        log.error(
            "xa_recovery_failed",
            error=str(exc),
            retry_in_s=HEARTBEAT_PERIOD if period is not None else None,
        )
        if period is not None:
            from sharding.backend.xa import local_owner

            # The loop retries it (every data source, with backoff), not only the
            # servers whose leases this process gets.
            local_owner().wants_recovery = True

    if period is None:
        return report
    coordinator.spawn(functools.partial(_recovery_loop, datasources, period))
    return report


async def recovery_lease_name(ds: MySQLDataSource) -> str:
    """The name of the recovery lease of ``ds``'s server (module docstring): the same
    for every coordinator that reaches that server, whatever it calls it or whichever
    address it uses. Too long a name is replaced by a digest of it.

    Two distinct servers that report the same triple (say, containers all given one
    hostname, all on port 3306 with the default ``server_id`` 1) would share one lease,
    and while a holder reaching only one of them holds it, dead owners' branches on the
    other wait (for a start-up pass, or for a process reaching it to get the lease):
    give such servers distinct hostnames or ``server_id`` values."""
    rs = await ds.fetch("SELECT @@hostname, @@port, @@server_id")
    host, port, server_id = rs.rows[0]
    host_text = host.decode(errors="replace") if isinstance(host, bytes) else str(host)
    ident = f"{host_text}:{int(port)}/{int(server_id)}"
    name = f"{RECOVERY_LEASE}/{ident}"
    if len(name) > 64:
        name = f"{RECOVERY_LEASE}/" + hashlib.sha256(ident.encode()).hexdigest()[:40]
    return name


@dataclass
class _Beat:
    """What the heartbeat task (:func:`_beat`) last learnt, for the pass loop."""

    stale: set[str] = field(default_factory=set)  # other owners with a stale heartbeat
    held: set[str] = field(default_factory=set)  # recovery leases this process holds
    #: Each data source's lease name, once its server has said who it is (a source that
    #: is down is asked again every round until it answers).
    lease_of: dict[MySQLDataSource, str] = field(default_factory=dict)
    heartbeat_ok: bool = True


async def _recovery_loop(datasources: Mapping[str, DataSource], period: float) -> None:
    """Heartbeats and lease renewals in one task, recovery passes in another.

    Why two tasks: a pass may take seconds (many prepared branches, a server that is
    down and times out); if it delayed the heartbeat past ``OWNER_STALE_AFTER``, other
    coordinators would take this live one for dead and abort its in-flight writes
    (safe, through the decision log, but those writes fail), and its leases would move
    away in the middle of its pass."""
    from sharding.backend.lease import release_leases
    from sharding.backend.mysql import MySQLDataSource
    from sharding.backend.xa import catalog_of, heartbeat_source, local_owner, retire_owner

    log_ds = log_datasource(datasources)
    if not isinstance(log_ds, MySQLDataSource):
        return  # no decision log, so no XA writes to recover or owners to track
    owner = local_owner()
    beat_ds = heartbeat_source(log_ds)  # not behind client work in log_ds's pool
    beat = _Beat()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(_beat, datasources, beat_ds, beat)
            await _passes(datasources, beat, period)
    finally:
        # Clean shutdown: no heartbeat row left to go stale (that would make others
        # abort this process's in-flight writes, if it keeps running XA elsewhere).
        # Bounded, and skipped while the log is unreachable: closing must stay fast.
        with trio.CancelScope(shield=True):
            if beat.heartbeat_ok:
                with trio.move_on_after(HEARTBEAT_PERIOD / 2):
                    try:
                        if beat.held:  # the next process need not wait for them to expire
                            await release_leases(beat_ds, catalog_of(log_ds), beat.held, owner.id)
                        await retire_owner(beat_ds, owner)
                    except ShardgateError as exc:
                        log.info("xa_owner_retire_failed", error=str(exc))
            await beat_ds.aclose()


async def _beat(
    datasources: Mapping[str, DataSource],
    beat_ds: MySQLDataSource,
    beat: _Beat,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every :data:`HEARTBEAT_PERIOD`: refresh this process's heartbeat (learning which
    other owners went stale), learn the lease names of data sources not known yet, and
    claim or renew their leases; started once the first round is done."""
    from sharding.backend.lease import hold_leases
    from sharding.backend.xa import OWNER_STALE_AFTER, catalog_of, heartbeat, local_owner

    log_ds = log_datasource(datasources)
    sources = _xa_sources(datasources)
    owner = local_owner()
    catalog = catalog_of(beat_ds)

    async def learn(ds: MySQLDataSource) -> None:
        try:
            beat.lease_of[ds] = await recovery_lease_name(ds)
        except ShardgateError:
            pass  # down: nobody here can recover it now anyway

    while True:
        try:
            with trio.fail_after(HEARTBEAT_PERIOD * 2):
                beat.stale = set(await heartbeat(beat_ds, owner))
            if not beat.heartbeat_ok:
                log.info("xa_heartbeat_restored", datasource=log_ds.name)
            beat.heartbeat_ok = True
        except (ShardgateError, trio.TooSlowError) as exc:
            if beat.heartbeat_ok:  # once per outage, not once per second
                log.warning(
                    "xa_heartbeat_failed", datasource=log_ds.name, error=str(exc) or "timed out"
                )
            beat.heartbeat_ok = False
        unknown = [ds for ds in sources if ds not in beat.lease_of]
        if unknown:
            with trio.move_on_after(HEARTBEAT_PERIOD / 2):
                async with trio.open_nursery() as nursery:
                    for ds in unknown:
                        nursery.start_soon(learn, ds)
        known = set(beat.lease_of.values())
        try:
            with trio.fail_after(HEARTBEAT_PERIOD * 2):
                beat.held = await hold_leases(beat_ds, catalog, known, owner.id, OWNER_STALE_AFTER)
        except (ShardgateError, trio.TooSlowError):
            beat.held = known  # cannot tell: recover as if alone (safe: the decision log)
        task_status.started()
        task_status = trio.TASK_STATUS_IGNORED
        await trio.sleep(HEARTBEAT_PERIOD)


async def _passes(datasources: Mapping[str, DataSource], beat: _Beat, period: float) -> None:
    """Run a recovery pass when one is due (module docstring), every
    :data:`HEARTBEAT_PERIOD` looking at what :func:`_beat` learnt."""
    from sharding.backend.xa import local_owner

    sources = _xa_sources(datasources)
    owner = local_owner()
    next_pass = trio.current_time() + period
    backoff = HEARTBEAT_PERIOD
    # Dead owners a successful pass already dealt with → when to look at them again:
    # never when all their branches were resolved; every STALE_RETRY seconds when some
    # were still attached to sessions (a frozen process, or the server has not yet seen
    # its sockets close). Their rows stay for a while (OWNER_FORGET_AFTER).
    retry_at: dict[str, float] = {}
    not_before = 0.0  # after a failed pass: no new attempt before this (backoff)
    # The start-up pass just covered every source, so the first claims (made before
    # this loop started) are not "taken over": they need no pass of their own.
    held_before = set(beat.held)
    while True:
        held = set(beat.held)
        taken_over = bool(held - held_before)
        held_before = held
        mine = [ds for ds in sources if beat.lease_of.get(ds) in held]
        stale = set(beat.stale)
        now = trio.current_time()
        retry_at = {o: t for o, t in retry_at.items() if o in stale}
        due = any(retry_at.get(o, now) <= now for o in stale)
        if now >= not_before and (
            (mine and (now >= next_pass or due or taken_over)) or owner.wants_recovery
        ):
            # Own leftovers may be on any data source; the rest is the leases' work.
            targets = sources if owner.wants_recovery else mine
            owner.wants_recovery = False
            try:
                report = await recover_once(datasources, only=targets)
            except Exception as exc:  # a background pass must never take the coordinator down
                owner.wants_recovery = True  # keep asking, with backoff
                log.warning(
                    "xa_recovery_failed",
                    error=str(exc) or type(exc).__name__,
                    retry_in_s=backoff,
                )
                not_before = now + backoff
                backoff = min(backoff * 2, period)
            else:
                not_before = 0.0
                busy = report.busy_owners if report is not None else set()
                retry_at.update({o: now + STALE_RETRY if o in busy else math.inf for o in stale})
                next_pass = now + period
                backoff = HEARTBEAT_PERIOD
        await trio.sleep(HEARTBEAT_PERIOD)
