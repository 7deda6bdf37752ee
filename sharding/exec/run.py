"""Run a bound plan: one executor query, children = shard statements, merge on top.

:class:`Runner` turns plan nodes into merge operators over live shard streams; every
shard statement is one child of the logical query (``q.run``), so the executor's
bucket slots and window bound the fan-out. The runner's nursery (inside the query)
hosts the streams' prefetch tasks and the unordered feeds; it is cancelled as soon as
the top operator is done (a satisfied LIMIT stops every remaining read).

Errors: whatever a child raised comes back wrapped by the executor
(``ChildFailed``); :func:`client_error` unwraps it to the ``ShardgateError`` a client
should see.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, assert_never

import trio

from executor import ChildFailed, DeadlockSuspected, Query, QueryCancelled
from executor.errors import ExecutorClosed
from sharding.backend.base import Column, ResultSet
from sharding.errors import QueryInterrupted, ShardgateError
from sharding.exec.backend_eval import backend_eval
from sharding.exec.batch import (
    Batcher,
    BatchPolicy,
    BatchStats,
    PartRequest,
    policy_for,
    split_point,
)
from sharding.exec.connector import Connector
from sharding.exec.first_round import FirstRound, FirstRoundSource, first_round_feed
from sharding.exec.held import held_operator
from sharding.exec.key_lists import Ahead, ShardLists, shard_lists
from sharding.exec.shard_columns import OwnColumns
from sharding.exec.shard_warnings import ShardWarnings
from sharding.exec.source import SourceStatement, stage_groups
from sharding.exec.stream import (
    Fetch,
    Finish,
    ShardStream,
    StreamStats,
    Submit,
    Submitted,
    chunk_limit,
    chunk_rows,
    unordered_feed,
)
from sharding.exec.targets import Routes, Target, broadcast_target, route_shards, shard_targets
from sharding.merge.concat import Concat
from sharding.merge.distinct import Distinct
from sharding.merge.filter import Filter
from sharding.merge.group_concat import ConcatRuntime
from sharding.merge.hash_aggregate import HashAggregate, columns_group
from sharding.merge.limit import Limit
from sharding.merge.merge_sort import MergeSort
from sharding.merge.ordered_aggregate import OrderedAggregate
from sharding.merge.project import Project
from sharding.merge.semantics import Semantics
from sharding.merge.sort import Sort
from sharding.merge.sort_merge_join import SortMergeJoin
from sharding.merge.types import Batch, Operator
from sharding.merge.union import (
    BoundedSort,
    Chain,
    OperatorSource,
    SortedDistinct,
    SortedSetOp,
    row_key,
)
from sharding.merge.window import Window
from sharding.sql.backend_eval import BackendEvalNode
from sharding.sql.describe import plain_reference
from sharding.sql.keyset import KeysetSpec
from sharding.sql.nodes import (
    AggregateNode,
    ConcatNode,
    DistinctNode,
    FilterNode,
    HeldNode,
    LimitNode,
    MergeSortNode,
    Passthrough,
    PlanNode,
    ProjectNode,
    SelectPlan,
    ShardRead,
    SortMergeJoinNode,
    SortNode,
    UnionNode,
    WindowNode,
)
from sharding.sql.source_stage import SourceStage
from sharding.sql.template import ShardTemplate
from sharding.topology import ClusterConfig
from sharding.weak_memo import WeakMemo


@dataclass
class ExecStats:
    """Fan-out of one logical statement (logged once per statement)."""

    shards: int = 0
    children: int = 0
    queued: float = 0.0
    running: float = 0.0
    streams: StreamStats = field(default_factory=StreamStats)
    batches: BatchStats = field(default_factory=BatchStats)
    #: Warnings the merge raised (GROUP_CONCAT cuts), recorded by the session.
    warnings: int = 0
    #: Warnings the shards raised in the statement's reads (recorded by the session).
    shard_warnings: ShardWarnings = field(default_factory=ShardWarnings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "shards": self.shards,
            "children": self.children,
            "chunks": self.streams.chunks,
            "shard_rows": self.streams.rows,
            "batches": self.batches.batches,
            "batched_reads": self.batches.parts,
            "queued_s": round(self.queued, 6),
            "running_s": round(self.running, 6),
        }


def client_error(exc: BaseException) -> BaseException:
    """The error a client should see for a failure inside a plan run."""
    seen: set[int] = set()
    while True:
        if id(exc) in seen:
            break
        seen.add(id(exc))
        if isinstance(exc, ChildFailed):
            exc = exc.root
            continue
        if isinstance(exc, BaseExceptionGroup):
            leaves = _leaves(exc)
            preferred = [e for e in leaves if isinstance(e, ShardgateError | ChildFailed)]
            others = [e for e in leaves if not isinstance(e, trio.Cancelled)]
            pick = preferred or others or leaves
            exc = pick[0]
            continue
        break
    if isinstance(exc, DeadlockSuspected):
        return QueryInterrupted(f"Query execution was interrupted: {exc}")
    if isinstance(exc, QueryCancelled | ExecutorClosed):
        return QueryInterrupted(f"Query execution was interrupted ({exc})")
    return exc


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def _weak_run_child(runner: Runner) -> Callable[..., Awaitable[Any]]:
    """``runner.run_child`` without a strong reference to the runner.

    The runner owns its batcher; a bound method held by the batcher would make the two a
    reference cycle, and with it the query, its nursery and tasks: garbage that only the
    cyclic collector frees, which ``serve --gc-threshold`` makes rare (issue 12.5
    measured ~13 KB per connection). The runner outlives every batch it starts (they
    run in the query's nursery, inside the runner's use)."""
    ref = weakref.ref(runner)

    async def run_child(fn: Callable[..., Awaitable[Any]], *args: Any, label: str) -> Any:
        owner = ref()
        if owner is None:
            raise RuntimeError("a batch outlived the runner of its query")
        return await owner.run_child(fn, *args, label=label)

    return run_child


@dataclass(frozen=True, slots=True)
class RunContext:
    """What one statement's run needs: the executor query and nursery its children run
    in, how to reach the shards, the backend's semantics, the cluster settings, this
    call's values (and their SQL texts), the stream window, the default data source,
    where statistics go, whether reads of one data source are batched (True: the
    dialect's default policy), and the session's ``group_concat_max_len``."""

    query: Query
    nursery: trio.Nursery
    connector: Connector
    semantics: Semantics
    cluster: ClusterConfig
    values: Sequence[Any]
    texts: Sequence[str]
    window: int
    default_datasource: str
    stats: ExecStats = field(default_factory=ExecStats)
    batching: BatchPolicy | bool | None = True
    group_concat_max_len: int = 1048576
    #: Long shard-key IN lists already cut per shard, and the shards of reads, by
    #: ``id(read)`` (:func:`sharding.exec.key_lists.plan_ahead`); a read not in it is
    #: cut and routed on use.
    ahead: Ahead | None = None
    #: The call's routes by ``id(read)`` (``Prepared.routes``), shared with the checks
    #: that routed before the run.
    routes: Routes | None = None


class Runner:
    """Builds operators for plan nodes inside one executor query (:class:`RunContext`)."""

    def __init__(self, context: RunContext) -> None:
        self.q = context.query
        self.nursery = context.nursery
        self.connector = context.connector
        self.sem = semantics = context.semantics
        self.cluster = context.cluster
        self.values = context.values
        self.texts = context.texts
        self.window = context.window
        self.default_datasource = context.default_datasource
        self.stats = context.stats
        batching = context.batching
        self.columns: list[Column] | None = None
        #: Definitions of the items a BackendEvalNode computed (its first statement's).
        self.eval_columns: list[Column] | None = None
        #: The session's group_concat_max_len, and the warnings the merge raised
        #: (GROUP_CONCAT's 1260), which the session records for the statement.
        self.group_concat_max_len = context.group_concat_max_len
        self.warnings: list[tuple[str, int, str]] = []
        #: Per read (by id): its folded shard-key IN lists cut per shard, or None.
        self._key_lists: dict[int, ShardLists | None] = (
            dict(context.ahead.key_lists) if context.ahead is not None else {}
        )
        #: Per read (by id): the shards it visits, when routed ahead.
        self._shards = context.ahead.shards if context.ahead is not None else {}
        self._routes = context.routes
        # Reads of one data source started together go out as one statement
        # (sharding.exec.batch); True means the dialect's default policy.
        if batching is True:
            batching = policy_for(semantics.dialect, self.cluster.shards_per_statement)
        policy = batching if isinstance(batching, BatchPolicy) and batching.enabled else None
        #: Issue 17: where reads are batched, a data source merges its own shards
        #: (sharding.exec.source); None: every shard's rows come here.
        self._source_policy = policy if self.cluster.pushdown else None
        self._batcher = (
            Batcher(
                self.nursery, _weak_run_child(self), self.connector, batching, self.stats.batches
            )
            if isinstance(batching, BatchPolicy) and batching.enabled
            else None
        )

    # ------------------------------------------------------------------ children
    async def fetch(self, target: Target, sql: str) -> ResultSet:
        """One shard statement as one child (borrow, run, return the connection)."""
        result = await self._read_alone(target, sql)
        if result.warnings:
            self.stats.shard_warnings.add(target.shard, result)
        return result

    def batched(
        self,
        read: ShardRead,
        template: ShardTemplate,
        targets: Sequence[Target],
        keyset: KeysetSpec | None,
        chunk: int,
        need: int | None,
    ) -> tuple[Submit, Finish] | None:
        """How the streams of one read submit their chunks to the batch layer (no task
        per chunk), each result handed on with the first shard's column definitions
        (:mod:`sharding.exec.shard_columns`); None where reads are not batched."""
        batcher = self._batcher
        if read.no_union:
            return None  # a UNION ALL would change a value (ShardRead.no_union)
        split = split_point(template) if batcher is not None else None
        if batcher is None or split is None or not targets:
            return None
        own = self._own_columns(read, template, targets[0], keyset, chunk, need)
        notes = self.stats.shard_warnings

        def submit(target: Target, sql: str) -> Submitted:
            return batcher.submit(target, sql, split, template)

        async def finish(target: Target, request: PartRequest) -> ResultSet:
            rs = request.result
            assert rs is not None
            if rs.warnings:  # a batch's warnings come with its first part's rows
                notes.add(target.shard, rs)
            return await own.apply(rs, target, plain=not request.in_union)

        return submit, finish

    def _own_columns(
        self,
        read: ShardRead,
        template: ShardTemplate,
        first: Target,
        keyset: KeysetSpec | None,
        chunk: int,
        need: int | None,
    ) -> OwnColumns:
        """The read's column definitions for this call: ``first``'s own, read alone by
        its first chunk's statement when not known (:mod:`sharding.exec.shard_columns`)."""
        n = max(1, chunk_limit(keyset is not None, chunk, need, 0, read.guard))
        sql = f"{template.fill(first.names, '1')} LIMIT {n}{read.lock}"
        return OwnColumns(read, first, sql, self._read_alone)

    async def _read_alone(self, target: Target, sql: str) -> ResultSet:
        """``sql`` on its shard alone as one child, its warnings not noted (:meth:`fetch`
        notes them; for OwnColumns the rows and warnings are the batch's already)."""
        connector = self.connector

        async def child() -> ResultSet:
            async with connector.connection(target.datasource, target.databases) as conn:
                return await conn.fetch(sql)

        result: ResultSet = await self.run_child(child, label=target.label)
        return result

    async def run_child(self, fn: Callable[..., Awaitable[Any]], *args: Any, label: str) -> Any:
        """Run ``fn(*args)`` as a child of the query, timing its queue and run."""
        stats = self.stats
        submitted = trio.current_time()

        async def timed() -> Any:
            started = trio.current_time()
            stats.queued += started - submitted
            try:
                return await fn(*args)
            finally:
                stats.running += trio.current_time() - started

        stats.children += 1
        return await self.q.run(timed, label=label)

    # ------------------------------------------------------------------ reads
    def targets(self, read: ShardRead) -> list[Target]:
        if read.leader is None:
            return [broadcast_target(read.tables, self.sem.dialect, self.default_datasource)]
        shards = self._shards.get(id(read))
        if shards is None:
            shards = route_shards(read, self.values, self.sem, self._routes)
        targets = shard_targets(read, shards, self.sem.dialect)
        lists = self._lists(read)
        return lists.targets(targets) if lists is not None else targets

    def _lists(self, read: ShardRead) -> ShardLists | None:
        """The read's long shard-key IN lists cut per shard (sharding.exec.key_lists)."""
        key = id(read)
        if key not in self._key_lists:
            self._key_lists[key] = shard_lists(read, self.values, self.sem)
        return self._key_lists[key]

    def bound(self, read: ShardRead) -> ShardTemplate:
        """The read's template with this call's values; a cut IN list stays a hole
        that each target's names fill (:meth:`targets`)."""
        lists = self._lists(read) if read.leader is not None else None
        return lists.bind(read, self.texts) if lists is not None else read.template.bind(self.texts)

    def _keyset(self, read: ShardRead) -> KeysetSpec | None:
        if not read.chunked:
            return None
        return KeysetSpec(
            exprs=tuple(t.bind(self.texts).fill(()) for t in read.keyset_exprs),
            desc=read.keyset_desc,
            nulls_first=read.keyset_nulls_first,
            columns=read.keyset_columns,
            null_safe_eq=self.sem.null_safe_eq,
            dialect=self.sem.dialect,
        )

    def streams(self, read: ShardRead, *, budget_share: int = 1) -> list[Callable[[], ShardStream]]:
        targets = self.targets(read)
        self.stats.shards += len(targets)
        template = self.bound(read)
        keyset = self._keyset(read)
        need = read.limit.needed(self.values) if read.limit is not None else None
        chunk = chunk_rows(
            self.cluster.chunk_rows, self.cluster.merge_budget_rows // budget_share, len(targets)
        )
        return self._stream_makers(read, template, targets, keyset, chunk, need)

    def _stream_makers(
        self,
        read: ShardRead,
        template: ShardTemplate,
        targets: Sequence[Target],
        keyset: KeysetSpec | None,
        chunk: int,
        need: int | None,
    ) -> list[Callable[[], ShardStream]]:
        """One stream maker per target."""
        # Batched reads: each stream submits its chunks to the batch layer, which answers
        # them in one UNION ALL per batch; every part is handed on with the first shard's
        # own column definitions, not the union's (sharding.exec.shard_columns).
        batched = self.batched(read, template, targets, keyset, chunk, need)

        def maker(target: Target) -> Callable[[], ShardStream]:
            def make() -> ShardStream:
                stream = ShardStream(
                    self.nursery,
                    self.fetch,
                    target,
                    template,
                    keyset=keyset,
                    chunk=chunk,
                    need=need,
                    guard=read.guard,
                    stats=self.stats.streams,
                    on_columns=self._remember_columns,
                    lock=read.lock,
                    submit=batched,
                )
                stream.start()
                return stream

            return make

        return [maker(t) for t in targets]

    def first_rounds(
        self, read: ShardRead, stage: Any, *, budget_share: int = 1
    ) -> tuple[list[FirstRound], list[ShardStream]] | None:
        """A read without a LIMIT whose first chunk each data source merges
        (:mod:`sharding.exec.first_round`): one started first round per data source
        holding several of its shards, and the started streams of the others; None
        when this call does not push down."""
        if not isinstance(stage, SourceStage) or not stage.first_round:
            return None
        targets = self.targets(read)
        template = self.bound(read)
        part_bytes = len(template.fill(targets[0].names)) if targets else 0
        groups = stage_groups(targets, self._source_policy, part_bytes, stage)
        keyset = self._keyset(read)
        if not groups or all(len(g) == 1 for g in groups) or keyset is None:
            return None
        self.stats.shards += len(targets)
        budget = self.cluster.merge_budget_rows // budget_share
        chunk = chunk_rows(self.cluster.chunk_rows, budget, len(targets))
        # A first round's chunk is a statement's share of the budget (a dropped one is
        # let go before its shards' streams fill theirs).
        first_chunk = chunk_rows(self.cluster.chunk_rows, budget, len(groups))
        own = self._own_columns(read, template, targets[0], keyset, chunk, None)
        notes = self.stats.shard_warnings
        rounds: list[FirstRound] = []
        plain: list[ShardStream] = []
        for group in groups:
            if len(group) == 1:
                plain.extend(
                    m() for m in self._stream_makers(read, template, group, keyset, chunk, None)
                )
                continue
            statement = SourceStatement(
                _weak_run_child(self),
                self.connector,
                group,
                template,
                stage,
                self.stats.batches,
            )
            # Its warnings count only if its chunk is the whole read (first_round).
            fetched: list[ResultSet] = []
            fetch = self._owned(self._kept(statement.fetch, fetched), own, plain=False)
            first = ShardStream(
                self.nursery,
                fetch,
                statement.target,
                template,
                keyset=None,  # one read: a full chunk is read again per shard
                chunk=first_chunk,
                need=first_chunk,
                stats=self.stats.streams,
                on_columns=self._remember_columns,
                render=statement.render,
            )
            first.start()

            def continuation(group: list[Target] = group) -> list[Callable[[], ShardStream]]:
                return self._stream_makers(read, template, group, keyset, chunk, None)

            def whole(fetched: list[ResultSet] = fetched, shard: int = group[0].shard) -> None:
                for rs in fetched:
                    notes.add(shard, rs)

            rounds.append(FirstRound(first, first_chunk, continuation, whole))
        return rounds, plain

    def merged_streams(
        self, read: ShardRead, stage: Any, *, budget_share: int = 1
    ) -> list[Callable[[], ShardStream]] | None:
        """Streams of a read with a data-source stage (:mod:`sharding.exec.source`):
        one per wrapped statement (plain shard streams for a data source holding one
        shard); None when this call does not push down."""
        if not isinstance(stage, SourceStage) or stage.first_round:
            return None
        targets = self.targets(read)
        template = self.bound(read)
        part_bytes = len(template.fill(targets[0].names)) if targets else 0
        groups = stage_groups(targets, self._source_policy, part_bytes, stage)
        if not groups or all(len(g) == 1 for g in groups):
            return None
        self.stats.shards += len(targets)
        keyset = self._keyset(read)
        need = read.limit.needed(self.values) if read.limit is not None else None
        budget = self.cluster.merge_budget_rows // budget_share
        chunk = chunk_rows(self.cluster.chunk_rows, budget, len(groups), need)

        # A merged statement's columns are the outer query's: each result gets the first
        # shard's own (sharding.exec.shard_columns), read alone where not known yet.
        own = self._own_columns(read, template, targets[0], keyset, chunk, need)

        def maker(group: list[Target]) -> Callable[[], ShardStream]:
            def make() -> ShardStream:
                if len(group) == 1:
                    fetch: Fetch = self._owned(self.fetch, own, plain=True)
                    target = group[0]
                    render = None
                else:
                    statement = SourceStatement(
                        _weak_run_child(self),
                        self.connector,
                        group,
                        template,
                        stage,
                        self.stats.batches,
                    )
                    noted = self._noting(statement.fetch, group[0].shard)
                    fetch = self._owned(noted, own, plain=False)
                    target, render = statement.target, statement.render
                stream = ShardStream(
                    self.nursery,
                    fetch,
                    target,
                    template,
                    keyset=keyset,
                    chunk=chunk,
                    need=need,
                    guard=read.guard,
                    stats=self.stats.streams,
                    on_columns=self._remember_columns,
                    render=render,
                )
                stream.start()
                return stream

            return make

        return [maker(g) for g in groups]

    def _noting(self, fetch: Fetch, shard: int) -> Fetch:
        """``fetch`` recording its results' warnings as raised by shard ``shard``."""
        notes = self.stats.shard_warnings

        async def noted(target: Target, sql: str) -> ResultSet:
            rs = await fetch(target, sql)
            if rs.warnings:
                notes.add(shard, rs)
            return rs

        return noted

    @staticmethod
    def _kept(fetch: Fetch, results: list[ResultSet]) -> Fetch:
        """``fetch`` keeping each result in ``results`` (its warnings noted later, or not)."""

        async def kept(target: Target, sql: str) -> ResultSet:
            rs = await fetch(target, sql)
            results.append(rs)
            return rs

        return kept

    @staticmethod
    def _owned(fetch: Fetch, own: OwnColumns, *, plain: bool) -> Fetch:
        """``fetch`` with the read's column definitions (``plain``: a shard's own
        statement, not a merged one)."""

        async def owned(target: Target, sql: str) -> ResultSet:
            return await own.apply(await fetch(target, sql), target, plain=plain)

        return owned

    def _remember_columns(self, rs: ResultSet) -> None:
        if self.columns is None:
            self.columns = rs.columns

    # ------------------------------------------------------------------ operators
    def operator(self, node: PlanNode, *, budget_share: int = 1) -> Operator:
        """The operator of plan node ``node``; ``budget_share``: how many ordered reads
        share the merge budget (the sides of a join, the inputs of a set operation).

        One ``match`` arm per :data:`~sharding.sql.nodes.PlanNode` member, ending in
        ``assert_never``: mypy reports a node type without an arm."""
        sem, values = self.sem, self.values
        share = budget_share
        match node:
            case SelectPlan():
                return self.operator(self.choose(node), budget_share=share)
            case UnionNode():
                self._check_union(node)
                return self._union(node, share)
            case Passthrough():
                return self._passthrough(node.read)
            case ConcatNode():
                first = self.first_rounds(node.read, node.source, budget_share=budget_share)
                if first is not None:
                    rounds, plain = first
                    started = [lambda s=s: s for s in plain]
                    return Concat(first_round_feed(rounds, started, self.window))
                makers = self.merged_streams(node.read, node.source, budget_share=budget_share)
                if makers is None:
                    makers = self.streams(node.read, budget_share=budget_share)
                return Concat(unordered_feed(makers, self.window))
            case MergeSortNode():
                key = sem.sort_key(list(node.sort))
                first = self.first_rounds(node.read, node.source, budget_share=budget_share)
                if first is not None:
                    rounds, plain = first
                    inputs = [FirstRoundSource(r, key) for r in rounds]
                    return MergeSort([*inputs, *plain], key)
                makers = self.merged_streams(node.read, node.source, budget_share=budget_share)
                if makers is None:
                    makers = self.streams(node.read, budget_share=budget_share)
                return MergeSort([m() for m in makers], key)
            case AggregateNode():
                child = self.operator(node.child, budget_share=share)
                if node.mode == "merge":
                    group = columns_group(node.group_columns)
                else:
                    fns = node.group_fns
                    group = lambda row, p: tuple([f(row, p) for f in fns])  # noqa: E731
                cls = OrderedAggregate if node.ordered else HashAggregate
                concat = None
                if any(s.concat is not None for s in node.specs):
                    concat = ConcatRuntime(self.group_concat_max_len, self.warnings)
                return cls(
                    child,
                    group,
                    node.group_collations,
                    node.specs,
                    sem,
                    node.mode,
                    values,
                    rollup=node.rollup,
                    concat=concat,
                )
            case WindowNode():  # issue 18.5: streamed, or a partition held
                return Window(
                    self.operator(node.child, budget_share=share),
                    node.keys,
                    node.collations,
                    node.funcs,
                    sem,
                    self.cluster.union_rows,
                )
            case FilterNode():
                return Filter(self.operator(node.child, budget_share=share), node.predicate, values)
            case ProjectNode():
                child = self.operator(node.child, budget_share=share)
                if node.columns is not None:
                    return Project(child, columns=node.columns)
                refs = _project_references(node)
                if refs:  # every item reads an input value unchanged
                    return Project(child, columns=refs)
                return Project(child, exprs=node.exprs, params=values)
            case DistinctNode():
                child = self.operator(node.child, budget_share=share)
                return Distinct(child, sem, node.collations, len(node.collations))
            case SortNode():
                limit = None
                if node.limit is not None:
                    offset, count = node.limit.resolve(values)
                    limit = None if count is None else offset + count
                child = self.operator(node.child, budget_share=share)
                return Sort(child, sem.sort_key(list(node.sort)), limit)
            case LimitNode():
                offset, count = node.limit.resolve(values)
                return Limit(self.operator(node.child, budget_share=share), offset, count)
            case SortMergeJoinNode():
                return SortMergeJoin(
                    self.operator(node.left, budget_share=2 * share),
                    self.operator(node.right, budget_share=2 * share),
                    node.left_keys,
                    node.right_keys,
                    sem,
                    kind="left" if node.kind == "left" else "inner",
                    right_width=node.right_width,
                    left_collations=node.left_collations,
                    right_collations=node.right_collations,
                    residual=node.residual,
                    params=values,
                )
            case HeldNode():  # issue 18.3: bounded Sort/Distinct/Aggregate
                return held_operator(self, node, share)
            case BackendEvalNode():
                target = broadcast_target((), sem.dialect, self.default_datasource)
                return backend_eval(
                    self.operator(node.child),
                    node.exprs,
                    self.texts,
                    target,
                    self.fetch,
                    self._remember_eval_columns,
                )
            case _:
                assert_never(node)

    def choose(self, plan: SelectPlan) -> Any:
        """The form of ``plan`` this call runs (:func:`choose_form`)."""
        return choose_form(plan, self.values, self.sem)

    def _check_union(self, node: UnionNode) -> None:
        check_union_inputs(node, self.values, self.sem)

    def _union(self, node: UnionNode, share: int) -> Operator:
        """UNION / INTERSECT / EXCEPT (:mod:`sharding.merge.union`)."""
        sem, bound = self.sem, self.cluster.union_rows
        inputs = node.inputs
        if not node.sort:
            # Concatenation: one input reads at a time, built when its turn comes.
            def maker(child: Any) -> Callable[[], Operator]:
                return lambda: self.operator(child, budget_share=share)

            return Chain([maker(child) for child in inputs])
        key = sem.sort_key(list(node.sort))
        resort = node.resort or (False,) * len(inputs)
        ops: list[Operator] = []
        for child, again in zip(inputs, resort, strict=True):
            op = self.operator(child, budget_share=share * len(inputs))
            ops.append(BoundedSort(op, key, bound) if again else op)
        same = row_key(sem, node.collations, len(node.collations))
        if node.kind == "union":
            merged: Operator = MergeSort([OperatorSource(op) for op in ops], key)
            return SortedDistinct(merged, same) if node.distinct else merged
        left, right = ops
        return SortedSetOp(
            left, right, key, same, node.kind, all_rows=not node.distinct, bound=bound
        )

    def _remember_eval_columns(self, columns: list[Column]) -> None:
        if self.eval_columns is None:
            self.eval_columns = columns

    async def _passthrough(self, read: ShardRead) -> AsyncIterator[Batch]:
        targets = self.targets(read)
        if len(targets) != 1:
            raise AssertionError("a passthrough read must have exactly one target")
        target = targets[0]
        self.stats.shards += 1
        sql = self.bound(read).fill(target.names)
        rs = await self.fetch(target, sql)
        self.stats.streams.chunks += 1
        self.stats.streams.rows += len(rs.rows)
        self._remember_columns(rs)
        if rs.rows:
            yield rs.rows


#: Per select-list ProjectNode of a cached plan: its items as input positions when
#: every item is a plain reference (``row[i]``), else ``()`` — a slice or an itemgetter
#: per row instead of a call per item and row (``SELECT DISTINCT c``, a group column).
_PROJECT_REFERENCES: WeakMemo[tuple[int, ...]] = WeakMemo(1024, 1)


def _project_references(node: ProjectNode) -> tuple[int, ...]:
    refs = _PROJECT_REFERENCES.get(node, None)
    if refs is None:
        found = [plain_reference(fn) for fn in node.exprs or ()]
        refs = tuple(r for r in found if r is not None)
        if len(refs) != len(found):
            refs = ()
        _PROJECT_REFERENCES.put(node, None, refs)
    return refs


async def drive(op: Operator, deliver: Callable[[Batch], Awaitable[bool]]) -> None:
    """Pull batches from ``op`` and hand them to ``deliver`` until it returns False."""
    async with aclosing(op.__aiter__()) as it:  # type: ignore[type-var]
        async for batch in it:
            if not await deliver(batch):
                break


def choose_form(
    plan: SelectPlan, values: Sequence[Any], sem: Semantics, memo: Routes | None = None
) -> Any:
    """The form of ``plan`` a call with ``values`` runs: the whole statement on the one
    shard its route selects, else the scatter form (its refusal when it has none)."""
    if not plan.join and passthrough_single(plan.single, values, sem, memo):
        return plan.single
    if plan.scatter is None:
        assert plan.scatter_error is not None
        raise plan.scatter_error
    return plan.scatter


def check_union_inputs(
    node: UnionNode, values: Sequence[Any], sem: Semantics, memo: Routes | None = None
) -> None:
    """Raise now the refusal of any input of ``node`` (before a row is sent)."""
    for child in node.inputs:
        while isinstance(child, LimitNode):  # a nested union with its own LIMIT
            child = child.child
        if isinstance(child, SelectPlan):
            choose_form(child, values, sem, memo)
        elif isinstance(child, UnionNode):
            check_union_inputs(child, values, sem, memo)


def check_runnable(
    plan: object, values: Sequence[Any], sem: Semantics, memo: Routes | None = None
) -> None:
    """Raise now the refusal a call with ``values`` would meet while running ``plan``
    (its own, or one of a set operation's query blocks): before any row is sent, so
    the caller may still plan the statement differently."""
    if not isinstance(plan, SelectPlan):
        return
    node = choose_form(plan, values, sem, memo)
    while isinstance(node, LimitNode | SortNode | ProjectNode | DistinctNode | FilterNode):
        node = node.child
    if isinstance(node, UnionNode):
        check_union_inputs(node, values, sem, memo)


def passthrough_single(
    plan_single: Passthrough | None,
    values: Sequence[Any],
    sem: Semantics,
    memo: Routes | None = None,
) -> bool:
    """True when the bound route of a plan selects exactly one shard (or a broadcast copy)."""
    if plan_single is None:
        return False
    read = plan_single.read
    if read.leader is None:
        return True
    return len(route_shards(read, values, sem, memo)) == 1
