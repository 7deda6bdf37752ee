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

The decision log is ``shardgate_catalog.xa_log`` on the coordinator's *first* data
source (where the catalog lives), shared by every coordinator of the fleet.

Recovery: :func:`start_recovery` runs when a coordinator with MySQL data sources opens
(prepared transactions a crashed coordinator left behind are committed or rolled back
by the log) and then every :data:`RECOVERY_PERIOD` seconds in the coordinator's
nursery. Undecided transactions younger than :data:`UNDECIDED_MIN_AGE` are left alone
(they may belong to another live coordinator); see :func:`sharding.backend.xa.recover`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog
import trio

from sharding.backend.base import DataSource, ExecResult
from sharding.errors import NotSupported, ShardgateError
from sharding.exec.writes import WriteContext, WriteOp, local_write, ordered, register_strategy

if TYPE_CHECKING:
    from sharding.backend.mysql import MySQLDataSource
    from sharding.backend.xa import RecoveryReport

log = structlog.get_logger("sharding.exec.xa")

#: Seconds between recovery passes of a running coordinator.
RECOVERY_PERIOD = 30.0
#: Undecided XA transactions younger than this are another coordinator's business.
UNDECIDED_MIN_AGE = 10.0


def log_datasource(datasources: Mapping[str, DataSource]) -> DataSource:
    """The data source holding the decision log: the first (the catalog's)."""
    return next(iter(datasources.values()))


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
            raise NotSupported(f"data source {name!r} ({ds.kind}) cannot take part in an XA transaction")
        work[ds] = [op.sql for op in ordered(ops)]
    log_ds = log_datasource(ctx.datasources)
    if not isinstance(log_ds, MySQLDataSource):
        raise NotSupported("the XA decision log needs a MySQL first data source")
    names = ", ".join(sorted(ops_by_source))
    result = await ctx.run_child(functools.partial(run_xa, work, log_ds=log_ds), label=f"xa {names}")
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
    datasources: Mapping[str, DataSource], *, min_age: float | None = None
) -> RecoveryReport | None:
    """One recovery pass over the MySQL data sources (None if there are none);
    ``min_age`` defaults to :data:`UNDECIDED_MIN_AGE`."""
    if min_age is None:
        min_age = UNDECIDED_MIN_AGE
    sources = _xa_sources(datasources)
    log_ds = log_datasource(datasources)
    if not sources or log_ds not in sources:
        return None
    from sharding.backend.xa import recover

    report = await recover(sources, log_ds=log_ds, min_age=min_age)  # type: ignore[arg-type]
    if report.committed or report.rolled_back:
        log.info(
            "xa_recovery",
            committed=len(report.committed),
            rolled_back=len(report.rolled_back),
            left_to_owner=len(report.skipped),
        )
    return report


async def start_recovery(coordinator: Any, period: float | None = RECOVERY_PERIOD) -> RecoveryReport | None:
    """Run at coordinator start-up: a recovery pass now, then one every ``period``
    seconds (``None``: only the pass now).

    ``coordinator`` needs ``datasources`` and ``spawn(fn)`` (its nursery). A pass that
    fails (say, the user lacks the XA RECOVER privilege) is logged as an error and
    retried by the periodic task: the coordinator still serves reads and single-source
    writes, and prepared leftovers only hold their rows' locks until resolved.
    """
    datasources: Mapping[str, DataSource] = coordinator.datasources
    if not _xa_sources(datasources):
        return None
    report: RecoveryReport | None = None
    try:
        report = await recover_once(datasources)
    except ShardgateError as exc:
        log.error("xa_recovery_failed", error=str(exc), retry_in_s=period)

    if period is None:
        return report

    async def periodic() -> None:
        assert period is not None
        while True:
            await trio.sleep(period)
            try:
                await recover_once(datasources)
            except ShardgateError as exc:
                log.warning("xa_recovery_failed", error=str(exc))

    coordinator.spawn(periodic)
    return report
