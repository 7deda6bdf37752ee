"""The operator of :class:`sharding.sql.nodes.HeldNode` (issue 18.3).

The wrapped Sort / Distinct / raw Aggregate node is built as :class:`~sharding.exec.
run.Runner` builds it, with the bounded operator of :mod:`sharding.merge.held` in
place of the unbounded one; the bound is ``cluster.union_rows``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sharding.merge.held import HeldDistinct, HeldHashAggregate, HeldSort
from sharding.merge.types import Operator
from sharding.sql.nodes import AggregateNode, DistinctNode, HeldNode, SortNode

if TYPE_CHECKING:
    from sharding.exec.run import Runner

__all__ = ["held_operator"]

SETTING = "cluster.union_rows"


def held_operator(runner: Runner, node: HeldNode, share: int) -> Operator:
    """The bounded operator of ``node`` (module docstring)."""
    inner = node.child
    bound = runner.cluster.union_rows
    child = runner.operator(inner.child, budget_share=share)
    sem, values = runner.sem, runner.values
    if isinstance(inner, SortNode):
        limit = None
        if inner.limit is not None:
            offset, count = inner.limit.resolve(values)
            limit = None if count is None else offset + count
        return HeldSort(child, sem.sort_key(list(inner.sort)), limit, bound, node.what, SETTING)
    if isinstance(inner, DistinctNode):
        return HeldDistinct(child, sem, inner.collations, bound, node.what, SETTING)
    if isinstance(inner, AggregateNode) and inner.mode == "raw" and not inner.ordered:
        fns = inner.group_fns
        op = HeldHashAggregate(
            child,
            lambda row, p: tuple([f(row, p) for f in fns]),
            inner.group_collations,
            inner.specs,
            sem,
            inner.mode,
            values,
        )
        op.bound, op.what, op.setting = bound, node.what, SETTING
        return op
    raise TypeError(f"no bounded operator for plan node {type(inner).__name__}")
