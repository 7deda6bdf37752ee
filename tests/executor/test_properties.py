"""Acceptance 3: random trees of queries with faults always terminate and leave nothing.

Hypothesis draws an executor shape (buckets, slots, window, oversubscription, timers),
several concurrent trees of nested queries whose nodes are async or sync (threads),
sleep or not, and may raise an error or KeyboardInterrupt, plus an optional
cancellation (of everything, or of one query by id, as KILL QUERY does) at a random
time. Whatever happens:

* the run terminates (bounded by ``fail_after``);
* each top-level query either returns exactly the sum of its tree, or fails with an
  error that the tree really injected, or ends by a cancellation that really happened
  (ours or the watchdog's ``DeadlockSuspected``);
* afterwards every gauge of ``status()`` is 0, no query is registered, no task is left
  and no worker thread is still inside a child.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import time
from dataclasses import dataclass, field

import hypothesis.strategies as st
import trio
from hypothesis import HealthCheck, event, given, settings

from executor import (
    BucketedExecutor,
    ChildFailed,
    DeadlockSuspected,
    ExecutorConfig,
    QueryCancelled,
)
from tests.executor.helpers import all_tasks, assert_idle, leftover_tasks


class Injected(Exception):
    pass


@dataclass
class Node:
    value: int
    sync: bool
    sleep: float
    fault: str | None  # None | "error" | "interrupt" | "hang"
    children: list[Node] = field(default_factory=list)

    def total(self) -> int:
        return self.value + sum(c.total() for c in self.children)

    def faults(self) -> set[str]:
        out = {self.fault} if self.fault else set()
        for c in self.children:
            out |= c.faults()
        return out


counter = itertools.count()


@st.composite
def nodes(draw: st.DrawFn, depth: int = 0) -> Node:
    leaf = depth >= 3 or draw(st.integers(0, 9)) < 3
    fanout = 0 if leaf else draw(st.integers(1, 4))
    sync = draw(st.booleans())
    faults = [None] * 24 + ["error", "error", "interrupt"] + ([] if sync else ["hang", "hang"])
    return Node(
        value=next(counter) % 97,
        sync=sync,
        sleep=draw(st.sampled_from([0.0, 0.0, 0.001, 0.004])),
        fault=draw(st.sampled_from(faults)),
        children=[draw(nodes(depth + 1)) for _ in range(fanout)],
    )


configs = st.builds(
    ExecutorConfig,
    buckets=st.integers(1, 3),
    slots_per_bucket=st.integers(1, 3),
    window=st.integers(1, 4),
    stall_limit=st.sampled_from([0.002, 0.01, 0.5]),
    oversubscribe=st.integers(0, 2),
    kickup_after=st.sampled_from([0.005, 0.05, 1.0]),
    deadlock_check_period=st.sampled_from([0.01, 0.05]),
    deadlock_timeout=st.sampled_from([0.05, 0.1, 5.0]),
    assign=st.sampled_from(["least_loaded", "round_robin", "hash"]),
    seed=st.integers(0, 1000),
)

cancellations = st.one_of(
    st.none(),
    st.none(),
    st.tuples(st.just("all"), st.sampled_from([0.0, 0.002, 0.01, 0.03])),
    st.tuples(st.just("one"), st.sampled_from([0.0, 0.002, 0.01, 0.03])),
)


class Harness:
    """Per-run helpers: counts worker threads inside a child, owns a thread limiter.

    Sync nodes run in threads started by their async parent; trio's default limiter
    (40 threads) would add a second bound that sync parents blocked on nested queries
    can exhaust, so the harness uses its own unbounded one (slots are the bound), as
    the executor itself does.
    """

    def __init__(self) -> None:
        self.inside = 0
        self.lock = threading.Lock()
        self.limiter = trio.CapacityLimiter(math.inf)

    def __enter__(self) -> None:
        with self.lock:
            self.inside += 1

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.inside -= 1


def _raise(fault: str | None) -> None:
    if fault == "error":
        raise Injected("injected")
    if fault == "interrupt":
        raise KeyboardInterrupt


async def _maybe_hang(fault: str | None) -> None:
    if fault == "hang":  # a lost wake-up: holds its slot and never progresses
        await trio.Event().wait()


async def _dispatch(node: Node, ex: BucketedExecutor, h: Harness) -> int:
    """Run ``node`` as the current child: async nodes here, sync nodes in a worker
    thread that this child waits for while holding its slot."""
    if node.sync:
        return await trio.to_thread.run_sync(_run_sync_node, node, ex, h, limiter=h.limiter)
    if node.sleep:
        await trio.sleep(node.sleep)
    await _maybe_hang(node.fault)
    _raise(node.fault)
    if not node.children:
        return node.value
    return node.value + await _nested(node, ex, h)


def _run_sync_node(node: Node, ex: BucketedExecutor, h: Harness) -> int:
    with h:
        if node.sleep:
            time.sleep(node.sleep)
        _raise(node.fault)
        if not node.children:
            return node.value
        return node.value + trio.from_thread.run(_nested, node, ex, h)


async def _nested(node: Node, ex: BucketedExecutor, h: Harness) -> int:
    async with ex.query(name="nested") as q:
        values = await q.map(functools.partial(_dispatch, ex=ex, h=h), node.children)
    return sum(values)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(config=configs, trees=st.lists(nodes(), min_size=1, max_size=4), cancel=cancellations)
def test_random_trees_terminate_and_leave_nothing(
    config: ExecutorConfig, trees: list[Node], cancel: tuple[str, float] | None
) -> None:
    trio.run(_property_run, config, trees, cancel)


async def _property_run(
    config: ExecutorConfig, trees: list[Node], cancel: tuple[str, float] | None
) -> None:
    h = Harness()
    before = all_tasks()
    outcomes: dict[int, object] = {}
    killed: set[int] = set()
    cancelled_all = False
    hangs = any("hang" in tree.faults() for tree in trees)

    with trio.fail_after(30):  # termination: a hang fails the property
        async with BucketedExecutor(config) as ex:
            with trio.CancelScope() as everything:

                async def top(i: int, tree: Node) -> None:
                    try:
                        async with ex.query(name=f"top{i}", session=i) as q:
                            ids[i] = q.id
                            outcomes[i] = await q.run(_dispatch, tree, ex, h, label=f"root{i}")
                    except (
                        ChildFailed,
                        DeadlockSuspected,
                        QueryCancelled,
                        KeyboardInterrupt,
                    ) as exc:
                        outcomes[i] = exc

                ids: dict[int, int] = {}
                async with trio.open_nursery() as nursery:
                    for i, tree in enumerate(trees):
                        nursery.start_soon(top, i, tree)
                    if cancel is not None:
                        kind, at = cancel
                        await trio.sleep(at)
                        if kind == "all":
                            cancelled_all = True
                            everything.cancel()
                        elif ids and ex.cancel_query(ids[0]):
                            killed.add(0)
                    if hangs:
                        # A hang outside a saturated bucket is not a deadlock (nobody
                        # starves); like an operator, give up on it after a while.
                        await trio.sleep(0.5)
                        cancelled_all = True
                        everything.cancel()
            assert_idle(ex)

    assert h.inside == 0, "a worker thread is still inside a child"
    assert leftover_tasks(before) == []
    for i, tree in enumerate(trees):
        outcome = outcomes.get(i)
        root = outcome.root if isinstance(outcome, ChildFailed) else outcome
        event(f"outcome: {type(outcome).__name__} / {type(root).__name__}")
        if outcome is None:
            assert cancelled_all, f"tree {i} neither finished nor was cancelled"
            continue
        if isinstance(outcome, int):
            assert outcome == tree.total()
            assert "hang" not in tree.faults()
        elif isinstance(outcome, KeyboardInterrupt):
            assert "interrupt" in tree.faults()
        elif isinstance(outcome, ChildFailed):
            if isinstance(root, Injected):
                assert "error" in tree.faults()
            else:  # a nested query broken by the watchdog (BaseExceptions are never wrapped)
                assert isinstance(root, DeadlockSuspected), repr(root)
        elif isinstance(outcome, QueryCancelled):
            assert i in killed
        else:
            assert isinstance(outcome, DeadlockSuspected), repr(outcome)
