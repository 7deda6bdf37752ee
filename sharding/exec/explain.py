"""EXPLAIN: the shards a statement visits, the per-shard SQL, the merge tree.

Rows are ``(id, operator, detail)``: the merge tree top-down (``id`` is the depth-first
number, indentation in ``operator`` shows nesting), each shard read followed by its
route, chunking — the keyset keys and the chunk size the read will use, or why it
cannot be chunked and its cap — and the SQL of the first chunk of the first shards
(later chunks replace the ``1`` after ``AND`` by "after the last row seen").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, assert_never

from sharding.exec.batch import policy_for
from sharding.exec.key_lists import shard_lists
from sharding.exec.run import passthrough_single
from sharding.exec.source import stage_groups
from sharding.exec.stream import chunk_limit
from sharding.exec.stream import chunk_rows as shard_chunk_rows
from sharding.exec.targets import Target, broadcast_target, route_shards, shard_targets
from sharding.merge.semantics import Semantics
from sharding.merge.window import streamable
from sharding.sql.backend_eval import BackendEvalNode
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

SHOWN_SHARDS = 3


def _targets(
    read: ShardRead, values: Sequence[Any], sem: Semantics, default_ds: str
) -> list[Target]:
    if read.leader is None:
        return [broadcast_target(read.tables, sem.dialect, default_ds)]
    targets = shard_targets(read, route_shards(read, values, sem), sem.dialect)
    lists = shard_lists(read, values, sem)
    return lists.targets(targets) if lists is not None else targets


def _bound(
    read: ShardRead, values: Sequence[Any], texts: Sequence[str], sem: Semantics
) -> ShardTemplate:
    """The read's template bound as the runner binds it (a cut IN list a hole)."""
    lists = shard_lists(read, values, sem) if read.leader is not None else None
    return lists.bind(read, texts) if lists is not None else read.template.bind(texts)


def explain_rows(
    plan: SelectPlan | Any,
    values: Sequence[Any],
    texts: Sequence[str],
    sem: Semantics,
    default_ds: str,
    chunk_rows: int,
    merge_budget_rows: int | None = None,
    pushdown: bool = False,
    shards_per_statement: int | None = None,
) -> list[tuple[int, str, str]]:
    """The plan as rows (module docstring); chunk sizes as the runner computes them
    from ``chunk_rows`` and ``merge_budget_rows`` (None: no budget)."""
    rows: list[tuple[int, str, str]] = []

    def add(depth: int, op: str, detail: str) -> None:
        rows.append((len(rows) + 1, "  " * depth + op, detail))

    def read_rows(
        read: ShardRead,
        depth: int,
        passthrough: bool = False,
        share: int = 1,
        streams: int | None = None,
    ) -> None:
        targets = _targets(read, values, sem, default_ds)
        sources = sorted({t.datasource for t in targets})
        add(
            depth,
            "ShardRead",
            f"{len(targets)} shard(s) on {', '.join(sources)}; route: {read.route.describe(values)}",
        )
        need = read.limit.needed(values) if read.limit is not None else None
        limit = ""
        if passthrough:
            add(depth + 1, "mode", "whole statement pushed down to one shard")
        elif read.chunked:
            n = streams if streams is not None else len(targets)
            budget = merge_budget_rows // share if merge_budget_rows else chunk_rows * n
            chunk = shard_chunk_rows(chunk_rows, budget, n, need if streams is not None else None)
            keys = ", ".join(
                f"{k.bind(texts).fill(())}{' DESC' if desc else ''}"
                for k, desc in zip(read.keyset_exprs, read.keyset_desc, strict=True)
            )
            add(
                depth + 1,
                "chunking",
                f"keyset continuation on ({keys}); {chunk} rows per chunk and shard",
            )
            limit = f" LIMIT {chunk_limit(True, chunk, need, 0, read.guard)}"
        else:
            add(
                depth + 1,
                "chunking",
                f"none: one read per shard, capped at {read.guard} rows (more is an error)",
            )
            if read.guard is not None:
                limit = f" LIMIT {chunk_limit(False, 0, need, 0, read.guard)}"
        if read.limit is not None:
            add(depth + 1, "pushed limit", f"LIMIT {need}" if need is not None else "none")
        for note in read.notes:
            add(depth + 1, "note", note)
        bound = _bound(read, values, texts, sem)
        for t in targets[:SHOWN_SHARDS]:
            add(depth + 1, f"sql[{t.label}]", bound.fill(t.names, "1") + limit + read.lock)
        if len(targets) > SHOWN_SHARDS:
            add(
                depth + 1, "sql[...]", f"{len(targets) - SHOWN_SHARDS} more shard(s), same template"
            )

    def merged_read(read: ShardRead, source: Any, depth: int, share: int) -> None:
        """A read below a merge, with its data-source stage (issue 17) when it has one."""
        if source is None:
            read_rows(read, depth, share=share)
            return
        if not isinstance(source, SourceStage):
            add(depth, "SourceMerge", f"not used: {source}")
            read_rows(read, depth + 1, share=share)
            return
        policy = policy_for(sem.dialect, shards_per_statement) if pushdown else None
        targets = _targets(read, values, sem, default_ds)
        part = len(_bound(read, values, texts, sem).fill(targets[0].names)) if targets else 0
        groups = stage_groups(targets, policy, part, source)
        if not groups or all(len(g) == 1 for g in groups):
            why = "cluster.pushdown is off" if policy is None else "no data source holds 3+ shards"
            add(depth, "SourceMerge", f"not used for this call: {why}")
            read_rows(read, depth + 1, share=share)
            return
        merged = sum(1 for g in groups if len(g) > 1)
        plain = len(groups) - merged
        add(
            depth,
            "SourceMerge",
            f"{merged} statement(s), each one data source merging up to "
            f"{max(len(g) for g in groups)} shards"
            + (f"; {plain} shard(s) read plainly" if plain else ""),
        )
        add(depth + 1, "merge", source.describe())
        # A first round shows each shard's chunk: what its shards read after a full one
        # (its own LIMIT is a statement's share, sharding.exec.first_round).
        streams = None if source.first_round else len(groups)
        read_rows(read, depth + 1, share=share, streams=streams)

    def walk(node: PlanNode, depth: int, share: int = 1) -> None:
        # One arm per PlanNode member, ending in assert_never: mypy reports a node type
        # without an arm (as for Runner.operator).
        match node:
            case SelectPlan():
                # One query block of a set operation: its form for this call.
                single = node.single
                if not node.join and single is not None and passthrough_single(single, values, sem):
                    walk(single, depth, share)
                elif node.scatter is not None:
                    walk(node.scatter, depth, share)
                else:
                    add(depth, "NotSupported", str(node.scatter_error))
            case UnionNode():
                union_rows(node, depth, share)
            case Passthrough():
                add(depth, "Passthrough", "rows as the shard returns them")
                read_rows(node.read, depth + 1, passthrough=True)
            case ConcatNode():
                add(depth, "Concat", "unordered, as results arrive")
                merged_read(node.read, node.source, depth + 1, share)
            case MergeSortNode():
                keys = ", ".join(f"#{s.index}{' DESC' if s.desc else ''}" for s in node.sort)
                add(depth, "MergeSort", f"k-way heap merge on {keys}")
                merged_read(node.read, node.source, depth + 1, share)
            case AggregateNode():
                kind = "OrderedAggregate" if node.ordered else "HashAggregate"
                aggs = ", ".join(
                    f"{s.func}{'(distinct)' if s.distinct else ''}" for s in node.specs
                )
                groups = len(node.group_columns) or len(node.group_fns)
                add(
                    depth,
                    kind,
                    f"{node.mode} mode; {groups} group column(s)"
                    f"{' WITH ROLLUP' if node.rollup else ''}; {aggs or 'no aggregates'}",
                )
                walk(node.child, depth + 1, share)
            case WindowNode():
                funcs = ", ".join(f.describe() for f in node.funcs)
                add(
                    depth,
                    "Window",
                    f"sorted on {', '.join(f'#{k}' for k in node.keys) or 'nothing'}; {funcs}; "
                    + (
                        "streamed, one peer group held"
                        if all(streamable(f) for f in node.funcs)
                        else "one partition held"
                    )
                    + " (cluster.union_rows)",
                )
                walk(node.child, depth + 1, share)
            case FilterNode():
                add(depth, "Filter", node.text)
                walk(node.child, depth + 1, share)
            case ProjectNode():
                add(depth, "Project", node.text or "")
                walk(node.child, depth + 1, share)
            case DistinctNode():
                add(depth, "Distinct", "")
                walk(node.child, depth + 1, share)
            case SortNode():
                keys = ", ".join(f"#{s.index}{' DESC' if s.desc else ''}" for s in node.sort)
                add(depth, "Sort" if node.limit is None else "TopN", keys)
                walk(node.child, depth + 1, share)
            case LimitNode():
                offset, count = node.limit.resolve(values)
                add(depth, "Limit", f"offset {offset}, count {count}")
                walk(node.child, depth + 1, share)
            case HeldNode():  # issue 18.3
                add(depth, "Bounded", f"{node.what}: at most cluster.union_rows rows held")
                walk(node.child, depth + 1, share)
            case BackendEvalNode():
                items = "; ".join(e.text for e in node.exprs)
                add(
                    depth,
                    "BackendEval",
                    f"the default data source computes per merged row: {items}",
                )
                walk(node.child, depth + 1)
            case SortMergeJoinNode():
                add(depth, "SortMergeJoin", f"{node.kind.upper()} on {node.text}")
                walk(node.left, depth + 1, share=2 * share)  # the sides share the merge budget
                walk(node.right, depth + 1, share=2 * share)
            case _:
                assert_never(node)

    def union_rows(node: UnionNode, depth: int, share: int) -> None:
        keys = ", ".join(f"#{s.index}{' DESC' if s.desc else ''}" for s in node.sort)
        n = len(node.inputs)
        what = "distinct" if node.distinct else "all"
        if node.kind != "union":
            detail = f"{what}; merge of 2 inputs sorted on {keys}, equal rows matched"
        elif not node.sort:
            detail = f"{what}; {n} inputs concatenated in order, one at a time"
        else:
            drop = "; equal neighbours dropped" if node.distinct else ""
            detail = f"{what}; k-way merge of {n} inputs sorted on {keys}{drop}"
        add(depth, node.kind.capitalize(), detail)
        inner = share * n if node.sort else share  # sorted inputs share the merge budget
        resort = node.resort or (False,) * n
        for child, again in zip(node.inputs, resort, strict=True):
            if again:
                add(depth + 1, "Sort", f"{keys}; the branch's own LIMIT rows, held")
                walk(child, depth + 2, inner)
            else:
                walk(child, depth + 1, inner)

    if isinstance(plan, SelectPlan):
        walk(plan, 0)  # its form for this call (the SelectPlan arm)
    return rows


def render(rows: Sequence[tuple[int, str, str]]) -> str:
    width = max((len(op) for _, op, _ in rows), default=0)
    return "\n".join(f"{op.ljust(width)}  {detail}" for _, op, detail in rows)
