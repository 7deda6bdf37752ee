"""``BucketedExecutor.run_one``: a one-child query run in the calling task (issue 16).

Cheaper than ``async with ex.query() as q: await q.run(fn)`` (no nursery, no window),
but the same contract: the child holds a slot of the query's bucket (or queues for
one), the query is visible to ``status()``/``queries()`` and the watchdog while it
runs, ``cancel_query`` ends it with the given reason, a failure surfaces as
``ChildFailed``, and nothing is left behind whatever happened.
"""

from __future__ import annotations

import pytest
import structlog
import trio
import trio.lowlevel
import trio.testing

from executor import BucketedExecutor, ChildFailed, ExecutorClosed, ExecutorConfig, QueryCancelled
from executor.child import current_child
from tests.executor.helpers import assert_idle


async def test_the_child_holds_a_slot_of_a_registered_query() -> None:
    seen: list[tuple[int, int, str, int]] = []
    opened: list[int] = []

    async def child(x: int) -> int:
        (row,) = ex.status()
        (info,) = ex.queries()
        me = current_child.get()
        assert me is not None and me.query.id == info.id
        seen.append((row.active, info.children_running, info.name, info.children_total or 0))
        await trio.lowlevel.checkpoint()
        return x * 2

    async with BucketedExecutor(ExecutorConfig(buckets=1, slots_per_bucket=2)) as ex:
        got = await ex.run_one(
            child,
            21,
            name="point",
            session=7,
            label="m0/shard 3",
            opened=lambda q: opened.append(q.id),
        )
        assert got == 42
        assert seen == [(1, 1, "point", 1)]
        assert len(opened) == 1
        assert_idle(ex)
        assert ex.statistics().completed == 1


async def test_queues_for_a_slot_like_any_child() -> None:
    gate = trio.Event()
    order: list[str] = []

    async def holder() -> None:
        order.append("holder in")
        await gate.wait()
        order.append("holder out")

    async def point() -> str:
        order.append("point runs")
        return "done"

    async with BucketedExecutor(ExecutorConfig(buckets=1, slots_per_bucket=1)) as ex:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ex.run_one, holder)
            await trio.testing.wait_all_tasks_blocked()
            result: list[str] = []

            async def waiting() -> None:
                result.append(await ex.run_one(point))

            nursery.start_soon(waiting)
            await trio.testing.wait_all_tasks_blocked()
            (row,) = ex.status()
            assert row.active == 1 and row.queued_low == 1  # the one slot is taken
            gate.set()
        assert order == ["holder in", "holder out", "point runs"] and result == ["done"]
        assert_idle(ex)


async def test_cancel_query_ends_it_with_the_reason() -> None:
    class Killed(Exception):
        pass

    for own_scope in (True, False):
        async with BucketedExecutor(ExecutorConfig(buckets=1)) as ex:

            async def stuck() -> None:
                await trio.sleep(100)

            async def victim(own_scope: bool = own_scope) -> None:
                with pytest.raises(Killed):
                    if own_scope:
                        await ex.run_one(stuck, name="victim")
                    else:
                        with trio.CancelScope() as scope:
                            await ex.run_one(stuck, name="victim", scope=scope)
                        raise AssertionError("the failure, not a cancellation, ends the call")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(victim)
                await trio.testing.wait_all_tasks_blocked()
                (info,) = ex.queries()
                assert info.name == "victim" and info.children_running == 1
                assert ex.cancel_query(info.id, Killed("KILL QUERY"))
            assert_idle(ex)
            assert not ex.cancel_query(info.id)  # gone once it ended

            with pytest.raises(QueryCancelled):
                await ex.run_one(stuck, opened=lambda q: ex.cancel_query(q.id))
            assert_idle(ex)


async def test_a_failing_child_is_the_query_failure() -> None:
    async def boom() -> None:
        raise ValueError("shard said no")

    async with BucketedExecutor(ExecutorConfig(buckets=2)) as ex:
        with pytest.raises(ChildFailed) as info:
            await ex.run_one(boom, name="q", label="m0/shard 1")
        assert isinstance(info.value.root, ValueError)
        assert info.value.child.label == "m0/shard 1" and info.value.query_name == "q"
        assert_idle(ex)


async def test_outer_cancellation_leaves_nothing_behind() -> None:
    async def stuck() -> None:
        await trio.sleep(100)

    async with BucketedExecutor(ExecutorConfig(buckets=1)) as ex:
        with trio.move_on_after(0.01):
            await ex.run_one(stuck)
        assert_idle(ex)


async def test_nested_in_a_child_lends_the_parent_slot() -> None:
    async def inner() -> int:
        (row,) = ex.status()
        return row.waiting  # the parent lent its slot while the nested query runs

    async def outer() -> int:
        return await ex.run_one(inner, name="nested")

    async with BucketedExecutor(ExecutorConfig(buckets=1, slots_per_bucket=1)) as ex:
        assert await ex.run_one(outer, name="parent") == 1
        assert_idle(ex)


async def test_closed_executor_refuses() -> None:
    ex = BucketedExecutor(ExecutorConfig(buckets=1))

    async def child() -> None:
        return None

    with pytest.raises(ExecutorClosed):
        await ex.run_one(child)


@pytest.mark.usefixtures("fresh_structlog")
async def test_log_lines_of_the_child_carry_the_query_id() -> None:
    log = structlog.get_logger()

    async def child() -> None:
        log.info("child")

    async with BucketedExecutor(ExecutorConfig(buckets=2)) as ex:
        with structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars]
        ) as events:
            ids: list[int] = []
            await ex.run_one(child, name="logged", opened=lambda q: ids.append(q.id))
            log.info("after")
    (inside,) = [e for e in events if e["event"] == "child"]
    assert inside["query_id"] == ids[0] and inside["query"] == "logged"
    (after,) = [e for e in events if e["event"] == "after"]
    assert "query_id" not in after
