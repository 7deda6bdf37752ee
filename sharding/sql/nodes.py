"""Plan nodes: what the planner produces and the executor layer runs.

A plan is a tree of small nodes mirroring the merge primitives (one per
:mod:`sharding.merge` module) over :class:`ShardRead` leaves. Nodes are immutable and
hold no parameter values: a plan is cached and *bound* per call (routes evaluated,
parameter holes filled, LIMIT values read).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from sharding.catalog import TableInfo
from sharding.errors import BadArguments
from sharding.merge.aggregates import AggSpec, Mode
from sharding.merge.semantics import SortItem
from sharding.merge.window import WindowFunc
from sharding.sql.backend_eval import BackendEvalNode
from sharding.sql.route import Route, ValueRef, value_of
from sharding.sql.template import Template

if TYPE_CHECKING:
    from sharding.sql.source_stage import SourceStage

RowFn = Callable[[Sequence[Any], Sequence[Any]], Any]


@dataclass(frozen=True)
class LimitRef:
    """``LIMIT count OFFSET offset`` with values known now or bound per call."""

    count: ValueRef | None = None
    offset: ValueRef | None = None

    def resolve(self, values: Sequence[Any]) -> tuple[int, int | None]:
        def number(ref: ValueRef | None, what: str) -> int | None:
            if ref is None:
                return None
            v = value_of(ref, values)
            if isinstance(v, str) and v.strip().lstrip("-").isdigit():
                v = int(v)
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise BadArguments(f"Incorrect arguments to {what}: {v!r}")
            return v

        offset = number(self.offset, "OFFSET") or 0
        return offset, number(self.count, "LIMIT")

    def needed(self, values: Sequence[Any]) -> int | None:
        """Rows a shard must return at most (``offset + count``), None if unlimited."""
        offset, count = self.resolve(values)
        return None if count is None else offset + count


@dataclass(frozen=True)
class ShardRead:
    """One statement template run on the routed shards of a table group.

    ``tables[k]`` fills template hole ``k``. All sharded tables of a read share their
    placement (co-located), so one shard number names one physical database per table.
    """

    template: Template
    tables: tuple[TableInfo, ...]
    route: Route
    #: Index into ``tables`` of the table whose rule decides placement (None: broadcast
    #: only — read one data source).
    leader: int | None
    #: Keyset continuation key expressions (templates with parameter holes only),
    #: their directions/NULL placement and output positions. None: no chunking.
    keyset_exprs: tuple[Template, ...] = ()
    keyset_desc: tuple[bool, ...] = ()
    keyset_nulls_first: tuple[bool, ...] = ()
    keyset_columns: tuple[int, ...] = ()
    #: Unchunked reads: more rows than this from one shard is an error (no silent cut).
    guard: int | None = None
    #: Rows each shard has to return at most (pushed-down ``LIMIT offset+count``).
    limit: LimitRef | None = None
    notes: tuple[str, ...] = ()
    #: The route's table infos in group order (route indexes refer to these).
    route_tables: tuple[TableInfo, ...] = ()
    #: A locking clause (`` FOR UPDATE``, `` LOCK IN SHARE MODE``) each chunk ends
    #: with, after its LIMIT: every row the read returns is locked on its shard.
    lock: str = ""
    #: Why the shards' statements may not be sent as one ``UNION ALL`` (batched, or
    #: merged by their data source): a UNION would change a value
    #: (:func:`sharding.sql.union_values.union_changes`). Empty: they may.
    no_union: str = ""

    @property
    def chunked(self) -> bool:
        return bool(self.keyset_exprs)


@dataclass(frozen=True)
class Passthrough:
    """Rows of one shard (or one broadcast copy) exactly as the backend returns them."""

    read: ShardRead


@dataclass(frozen=True)
class ConcatNode:
    read: ShardRead
    #: The data-source stage (issue 17, :mod:`sharding.sql.source_stage`): how each
    #: data source merges its shards' rows first; a text says why there is none.
    source: SourceStage | str | None = None


@dataclass(frozen=True)
class MergeSortNode:
    read: ShardRead
    sort: tuple[SortItem, ...]
    #: As :attr:`ConcatNode.source`.
    source: SourceStage | str | None = None


@dataclass(frozen=True)
class AggregateNode:
    child: PlanNode
    #: merge mode: input positions of the group values; raw mode: computed.
    group_columns: tuple[int, ...] = ()
    group_fns: tuple[RowFn, ...] = ()
    group_collations: tuple[str | None, ...] = ()
    specs: tuple[AggSpec, ...] = ()
    ordered: bool = False
    mode: Mode = "merge"
    #: GROUP BY ... WITH ROLLUP: super-aggregate rows (ordered input only).
    rollup: bool = False


@dataclass(frozen=True)
class WindowNode:
    """Window functions over ``child``'s rows sorted by (partition, order) (issue 18.5,
    :mod:`sharding.merge.window`): each row gets ``funcs``' values appended after its
    ``width`` columns; one partition is held at a time (``cluster.union_rows``)."""

    child: PlanNode
    width: int
    #: Input positions of the merged sort (partition, then order) and their collations.
    keys: tuple[int, ...]
    collations: tuple[str | None, ...]
    funcs: tuple[WindowFunc, ...]


@dataclass(frozen=True)
class FilterNode:
    child: PlanNode
    predicate: Callable[[Sequence[Any], Sequence[Any]], bool]
    text: str = ""


@dataclass(frozen=True)
class ProjectNode:
    child: PlanNode
    columns: tuple[int, ...] | None = None
    exprs: tuple[RowFn, ...] | None = None
    text: str = ""


@dataclass(frozen=True)
class DistinctNode:
    child: PlanNode
    collations: tuple[str | None, ...]


@dataclass(frozen=True)
class SortNode:
    child: PlanNode
    sort: tuple[SortItem, ...]
    limit: LimitRef | None = None


@dataclass(frozen=True)
class LimitNode:
    child: PlanNode
    limit: LimitRef


@dataclass(frozen=True)
class SortMergeJoinNode:
    #: Each side yields its rows in join-key order: a table's sorted read
    #: (:class:`MergeSortNode`), or a derived table's rows sorted by the key (a
    #: :class:`HeldNode` over a :class:`SortNode` of its body's plan, issue 18.3).
    left: PlanNode
    right: PlanNode
    left_keys: tuple[int, ...]
    right_keys: tuple[int, ...]
    kind: str
    right_width: int
    left_collations: tuple[str | None, ...]
    right_collations: tuple[str | None, ...]
    residual: Callable[[Sequence[Any], Sequence[Any]], bool] | None = None
    text: str = ""


@dataclass(frozen=True)
class UnionNode:
    """A set operation over query results (issue 18.4, :mod:`sharding.merge.union`).

    ``kind``: ``union`` (any number of inputs), ``intersect`` or ``except`` (two).
    Each input is a :class:`SelectPlan` (one query block: its one-shard or scatter
    form chosen per call) or a nested :class:`UnionNode`. ``sort`` empty: the inputs
    concatenated in order (``UNION ALL``); else every input yields its rows in that
    order and they are merged (``resort[i]``: input ``i`` is sorted here — a branch
    whose own ``ORDER BY ... LIMIT`` decides its rows). ``distinct``: duplicates
    removed (the sort then covers every column, one per ``collations`` entry).
    """

    kind: str
    inputs: tuple[PlanNode, ...]
    distinct: bool
    sort: tuple[SortItem, ...] = ()
    resort: tuple[bool, ...] = ()
    collations: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class HeldNode:
    """Issue 18.3 (:mod:`sharding.merge.held`): ``child`` — a :class:`SortNode`,
    :class:`DistinctNode` or raw :class:`AggregateNode` over rows the coordinator
    computed (a derived table's) — holding at most ``cluster.union_rows`` rows, keys
    or groups; more is a 1235 naming the setting. ``what`` names the clause."""

    child: SortNode | DistinctNode | AggregateNode
    what: str


@dataclass(frozen=True)
class OutputColumn:
    """A result column name with holes: each ``?`` at ``slot_positions`` is replaced
    per call by its slot's literal text (a parameter stays ``?``), or — ``literal``,
    a name that is a string literal's value — by the slot's value for a string."""

    name: str
    slot_positions: tuple[tuple[int, int], ...] = ()  # (offset in name, slot)
    literal: bool = False


@dataclass(frozen=True)
class SelectPlan:
    """A planned SELECT: a single-shard form and a multi-shard form.

    Which one runs is decided per call by the bound route: one shard → ``single``
    (the whole statement pushed down); several → ``scatter``. A scatter form that
    cannot be built (unsupported across shards) is kept as ``scatter_error`` and
    raised only when a call really routes to several shards.
    """

    single: Passthrough | None
    scatter: PlanNode | None
    scatter_error: Exception | None
    #: Result column names; None when only the backend knows them (``*`` over a table
    #: without catalog columns): they come from the shard's result then.
    columns: tuple[OutputColumn, ...] | None
    #: Reads of a cross-shard join: each routed by its own predicates.
    join: bool = False
    #: Result column types (:class:`sharding.sql.describe.ColumnType`, None where not
    #: derived), parallel to ``columns`` (or to the shard's columns when ``columns``
    #: is None: a ``*`` over a derived table); set by the session after planning.
    types: tuple[Any, ...] | None = None


#: Every node a plan tree holds as its root or a child (:class:`ShardRead` is a leaf's
#: data, not a node). The dispatches over plan nodes (:meth:`sharding.exec.run.Runner.
#: operator`, :func:`sharding.exec.explain.explain_rows`,
#: :func:`sharding.sql.describe.shard_positions`) are ``match`` statements ending in
#: ``assert_never``: mypy names a node type one of them forgets, and
#: ``tests/sharding/test_plan_nodes.py`` checks the same without mypy.
PlanNode: TypeAlias = (
    SelectPlan
    | UnionNode
    | Passthrough
    | ConcatNode
    | MergeSortNode
    | AggregateNode
    | WindowNode
    | FilterNode
    | ProjectNode
    | DistinctNode
    | SortNode
    | LimitNode
    | SortMergeJoinNode
    | HeldNode
    | BackendEvalNode
)
