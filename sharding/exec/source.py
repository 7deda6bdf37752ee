"""Running the data-source stage (issue 17, :mod:`sharding.sql.source_stage`).

A read with a stage runs, per data source, a few statements of up to
``BatchPolicy.max_parts`` shard parts each (about ``BatchPolicy.parallel`` per data
source, run concurrently, as the batch layer cuts them), every one wrapped in the
stage's outer query. Each statement is read like one shard: a
:class:`~sharding.exec.stream.ShardStream` whose chunks are the wrapped statement with
the keyset predicate filled into every part — so chunking, prefetch, the LIMIT pushed
down and the merge above are the ones a shard read has, and memory stays O(statements
× chunk).

Where it applies (:func:`source_groups`): only where the batch layer batches (MariaDB
data sources), only for a data source holding several of the read's shards (a data
source with one shard reads it plainly), and only when ``cluster.pushdown`` is on.

Column definitions: the outer query's columns are not the shard statement's (a SUM
of partial SUMs has a larger DECIMAL precision, names are ``c1``…), and the session
sends the shard's own definitions for values it passes on. MariaDB's definitions for a
statement it did not execute (``LIMIT 0``) differ too (flags, ENUM as VARCHAR). So
each wrapped statement's result is given the shard's own definitions, remembered per
read from one shard's plain result, which is read alone (``LIMIT 1``) only when the
wrapped statement reports definitions not seen with that read before
(:mod:`sharding.exec.shard_columns`). Until then the first shard was read alone in every
query: one more statement per query.

Errors: a wrapped statement that fails runs its parts alone on the same connection, so
the client sees the failing shard's own error, as without the stage; if every part
succeeds alone (only the wrapper failed — never expected, the stage is only built for
merges MariaDB computes), the wrapper's error is returned and logged. Never a guess.

Invariants: one statement is one executor child (one slot, one window place, one
connection for its statements); the stage's output rows have the shard statement's
shape, in the shard statement's order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

import structlog

from sharding.backend.base import ResultSet
from sharding.errors import BackendError
from sharding.exec.batch import BatchPolicy, BatchStats
from sharding.exec.connector import Connector
from sharding.exec.targets import Target
from sharding.sql.source_stage import SourceStage
from sharding.sql.template import ShardTemplate

log = structlog.get_logger("sharding.exec.source")

RunChild = Callable[..., Awaitable[Any]]


def source_groups(
    targets: Sequence[Target], policy: BatchPolicy | None, part_bytes: int = 0
) -> list[list[Target]]:
    """The read's targets cut into the statements the stage runs: per data source (in
    first-seen order) batches of ``policy.sizes(n)`` shards; a data source with one
    shard left is a group of one (read plainly). ``part_bytes``: about how long one
    part's text is — a statement stays within ``policy.max_bytes`` as batches do.
    Empty when nothing would be wrapped (no policy, or no data source holds two of
    the shards)."""
    if policy is None or len(targets) < 2:
        return []
    groups: list[list[Target]] = []
    by_source: dict[str, list[Target]] = {}
    for t in targets:
        by_source.setdefault(t.datasource, []).append(t)
    if all(len(ts) < 2 for ts in by_source.values()):
        return []
    by_bytes = max(1, policy.max_bytes // max(1, part_bytes + 32))
    for ts in by_source.values():
        size = min(policy.sizes(len(ts)), by_bytes)
        groups.extend(ts[i : i + size] for i in range(0, len(ts), size))
    return groups


def stage_groups(
    targets: Sequence[Target], policy: BatchPolicy | None, part_bytes: int, stage: SourceStage
) -> list[list[Target]]:
    """:func:`source_groups` for ``stage``: a first round (:mod:`sharding.exec.first_round`)
    is one statement per data source (up to ``policy.max_parts`` shards) — it is small,
    or dropped, so spreading it over connections buys nothing."""
    if stage.first_round and policy is not None:
        policy = _one_statement(policy)
    return source_groups(targets, policy, part_bytes)


@lru_cache(maxsize=8)
def _one_statement(policy: BatchPolicy) -> BatchPolicy:
    """``policy`` cutting a data source's reads into as few statements as it allows
    (made once per policy, not per query)."""
    return replace(policy, parallel=1)


class SourceStatement:
    """One wrapped statement's parts: renders each chunk and runs it as one child."""

    def __init__(
        self,
        run_child: RunChild,
        connector: Connector,
        targets: Sequence[Target],
        template: ShardTemplate,
        stage: SourceStage,
        stats: BatchStats,
    ) -> None:
        self._run_child = run_child
        self._connector = connector
        self.targets = list(targets)
        self._template = template
        self._stage = stage
        self._stats = stats
        self._parts: list[str] = []
        first = self.targets[0]
        #: What the stream reading this statement calls its target.
        self.target = Target(
            first.datasource,
            -1,
            (),
            tuple(sorted({db for t in self.targets for db in t.databases})),
        )

    @property
    def label(self) -> str:
        return f"{self.target.datasource}/{len(self.targets)} shards merged"

    def render(self, predicate: str, limit: int) -> str:
        """The wrapped statement for one chunk: every part ``LIMIT limit``, then the
        stage's merge ``LIMIT limit``."""
        fill = self._template.fill
        self._parts = [f"{fill(t.names, predicate)} LIMIT {limit}" for t in self.targets]
        return self._stage.render(self._parts, limit)

    async def fetch(self, _target: Target, sql: str) -> ResultSet:
        parts = self._parts
        connector, target, stats = self._connector, self.target, self._stats

        async def child() -> ResultSet:
            async with connector.connection(target.datasource, target.databases) as conn:
                stats.batches += 1
                stats.parts += len(parts)
                try:
                    rs = await conn.fetch(sql)
                except BackendError as exc:
                    for part in parts:  # the failing shard's own error, if one fails
                        await conn.fetch(part)
                    log.warning(
                        "source_stage_failed_parts_succeeded",
                        datasource=target.datasource,
                        parts=len(parts),
                        error=str(exc),
                        sql=sql[:600],
                    )
                    raise
                return rs

        result: ResultSet = await self._run_child(child, label=self.label)
        return result
