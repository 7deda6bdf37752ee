"""Multi-shard writes: one transaction per data source, and the cross-source hook.

A write statement becomes a list of :class:`WriteOp` per data source. All ops of one
source run in *one* backend transaction (``DataSource.transaction`` with every
physical database they touch), so a statement touching several shards of one source
commits or rolls back as a unit there.

Lock order: a backend that locks per physical database (SQLite locks each shard file
when the transaction first writes it) would deadlock two concurrent statements that
touch the same shards in different orders. Ops therefore always run sorted by
physical database — one global order — so concurrent writers queue instead.

Across data sources the commit is a *strategy*, chosen by the coordinator:

* ``"local"`` (default, and the only one SQLite can offer): run every source's ops
  in its own open transaction (one executor child per source, in parallel); only if
  all succeeded commit the sources one after another; otherwise roll all back. The
  remaining window: a commit failing (or a crash) after an earlier source committed
  leaves that source committed — reported exactly as a
  :class:`~sharding.errors.TransactionError` naming what committed and what was rolled
  back. SQLite additionally has the per-file window described in
  :mod:`sharding.backend.sqlite`.
* ``"xa"`` and ``"auto"`` (the coordinator's default: XA when every data source of the
  write supports it, else ``"local"``): registered by :mod:`sharding.exec.xa`
  (two-phase commit with a durable decision log). A strategy is
  ``async fn(ops_by_source, context) -> {source: [ExecResult, …]}``; see
  :func:`register_strategy`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import trio

from sharding.backend.base import DataSource, ExecResult, execute_all
from sharding.errors import ShardgateError, TransactionError


@dataclass(frozen=True, slots=True)
class WriteOp:
    datasource: str
    databases: tuple[str, ...]
    sql: str
    shard: int = -1

    @property
    def label(self) -> str:
        return f"{self.datasource}/shard {self.shard}" if self.shard >= 0 else self.datasource


def ordered(ops: Sequence[WriteOp]) -> list[WriteOp]:
    """Ops in the global lock order (physical databases, then shard)."""
    return sorted(ops, key=lambda op: (op.databases, op.shard))


class _Abort(Exception):
    """Raised into a transaction context to make it roll back."""


async def finish_stacks(
    stacks: Sequence[tuple[str, AsyncExitStack]], commit: bool
) -> list[tuple[str, BaseException | None]]:
    """Leave each source's transaction context: commit in order, or roll back.

    Once one commit fails, every later source is rolled back. Returns (source, error).
    Shielded: a cancellation must not leave transactions half-finished.
    """
    results: list[tuple[str, BaseException | None]] = []
    failed = not commit
    with trio.CancelScope(shield=True):
        for name, stack in stacks:
            if failed:
                try:
                    await stack.__aexit__(_Abort, _Abort("rollback"), None)
                except _Abort:
                    results.append((name, None))
                except BaseException as exc:
                    results.append((name, exc))
                else:
                    results.append((name, None))
                continue
            try:
                await stack.__aexit__(None, None, None)
                results.append((name, None))
            except BaseException as exc:
                results.append((name, exc))
                failed = True
    return results


def commit_report(results: Sequence[tuple[str, BaseException | None]], commit: bool) -> None:
    """Raise the right error for a finished multi-source transaction, if any."""
    if not commit:
        return
    committed = []
    failure: tuple[str, BaseException] | None = None
    rolled_back = []
    for name, error in results:
        if failure is None and error is None:
            committed.append(name)
        elif failure is None and error is not None:
            failure = (name, error)
        else:
            rolled_back.append(name)
    if failure is None:
        return
    name, error = failure
    if not committed:
        if isinstance(error, ShardgateError):
            raise error
        raise TransactionError(f"commit failed on data source {name!r}: {error}") from error
    raise TransactionError(
        f"commit failed on data source {name!r} ({error}) after committing on "
        f"{', '.join(committed)}; rolled back {', '.join(rolled_back) or 'nothing else'}"
    ) from error


@dataclass
class WriteContext:
    """What a commit strategy may use."""

    datasources: Mapping[str, DataSource]
    #: ``await run_child(fn, *args, label=...)`` runs ``fn`` as an executor child.
    run_child: Callable[..., Awaitable[Any]]


Strategy = Callable[
    [Mapping[str, Sequence[WriteOp]], WriteContext], Awaitable[dict[str, list[ExecResult]]]
]
_STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str, strategy: Strategy) -> None:
    """Install a cross-source commit strategy (the MySQL backend registers "xa")."""
    _STRATEGIES[name] = strategy


def strategy(name: str) -> Strategy:
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise ShardgateError(f"unknown commit strategy {name!r}") from None


async def local_write(
    ops_by_source: Mapping[str, Sequence[WriteOp]], ctx: WriteContext
) -> dict[str, list[ExecResult]]:
    """The ``"local"`` strategy (module docstring)."""
    names = sorted(ops_by_source)
    stacks: list[tuple[str, AsyncExitStack]] = []
    conns = {}
    results: dict[str, list[ExecResult]] = {}
    ok = False
    try:
        for name in names:
            stack = AsyncExitStack()
            dbs = sorted({db for op in ops_by_source[name] for db in op.databases})
            conns[name] = await stack.enter_async_context(ctx.datasources[name].transaction(dbs))
            stacks.append((name, stack))

        async def run_source(name: str) -> None:
            results[name] = await execute_all(
                conns[name], [op.sql for op in ordered(ops_by_source[name])]
            )

        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(
                    lambda n=name: ctx.run_child(run_source, n, label=f"write {n}")  # type: ignore[misc]
                )
        ok = True
    finally:
        outcome = await finish_stacks(stacks, ok)
    commit_report(outcome, ok)
    return results


register_strategy("local", local_write)


async def session_write(
    ops_by_source: Mapping[str, Sequence[WriteOp]],
    ctx: WriteContext,
    connection: Callable[[str, Sequence[str]], Any],
) -> dict[str, list[ExecResult]]:
    """Writes inside an explicit transaction: no commit here (COMMIT does it)."""
    results: dict[str, list[ExecResult]] = {}

    async def run_source(name: str) -> None:
        async with connection(
            name, sorted({db for op in ops_by_source[name] for db in op.databases})
        ) as conn:
            results[name] = await execute_all(conn, [op.sql for op in ordered(ops_by_source[name])])

    async with trio.open_nursery() as nursery:
        for name in sorted(ops_by_source):
            nursery.start_soon(lambda n=name: ctx.run_child(run_source, n, label=f"write {n}"))  # type: ignore[misc]
    return results
