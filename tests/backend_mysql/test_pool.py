"""The pool against fake connections: behaviour, failure paths, and property tests.

Time is trio's MockClock (autojump) and the pool's clock is ``trio.current_time``, so
timeouts, idle eviction and breaker probes run instantly and deterministically.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharding.backend.pool import Breaker, Pool
from sharding.errors import DataSourceUnavailable, PoolTimeout
from tests.backend_mysql.fakes import FakeRaw, FakeServerError, FakeWorld


def make_pool(world: FakeWorld, **kw: Any) -> Pool[FakeRaw]:
    kw.setdefault("max_size", 4)
    kw.setdefault("acquire_timeout", 1.0)
    kw.setdefault("validate_after", 0.5)
    kw.setdefault("validation_timeout", 1.0)
    kw.setdefault("connect_timeout", 1.0)
    breaker = kw.pop("breaker", None) or Breaker(
        kw.pop("threshold", 3), kw.pop("probe_interval", 1.0), clock=trio.current_time
    )
    return Pool("ds_fake", world, breaker=breaker, clock=trio.current_time, **kw)


def run(fn: Any, *args: Any) -> Any:
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


def assert_idle_state(pool: Pool[FakeRaw], world: FakeWorld) -> None:
    """Counters back to idle values, and the pool's idle set is exactly what is open."""
    assert pool.in_use == 0
    assert pool.opening == 0
    assert pool.waiting == 0
    assert pool.size == pool.idle <= pool.max_size
    assert pool._tokens.value == pool.max_size
    assert set(pool._idle) == {pc for pc in pool._idle if pc.raw in world.open}
    assert {pc.raw for pc in pool._idle} == world.open


def test_lifo_reuse_and_size_bound() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, max_size=3)
        async with pool.acquire() as a, pool.acquire() as b:
            first, second = a.pc.raw, b.pc.raw  # type: ignore[union-attr]
        # ``b`` is released first, ``a`` last → ``a`` is handed out first (LIFO).
        async with pool.acquire() as c:
            assert c.pc.raw is first  # type: ignore[union-attr]
        assert world.connects == 2
        assert second in world.open
        assert_idle_state(pool, world)

    run(main)


def test_acquire_timeout_names_datasource() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, max_size=1, acquire_timeout=0.5)
        async with pool.acquire():
            start = trio.current_time()
            with pytest.raises(PoolTimeout, match=r"ds_fake.*within 0\.5s") as info:
                async with pool.acquire():
                    pass
            assert trio.current_time() - start == pytest.approx(0.5)
            assert (info.value.code, info.value.sqlstate) == (1205, "HY000")  # not 08xxx
        assert pool.acquire_timeouts == 1
        assert_idle_state(pool, world)

    run(main)


def test_validation_only_after_idle_and_dead_connection_replaced() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, validate_after=0.5)
        async with pool.acquire() as lease:
            raw = lease.pc.raw  # type: ignore[union-attr]
        async with pool.acquire():
            pass
        assert world.pings == 0  # reused at once: no ping
        await trio.sleep(0.6)
        async with pool.acquire() as lease:
            assert lease.pc.raw is raw  # type: ignore[union-attr]
        assert world.pings == 1
        await trio.sleep(0.6)
        raw.silently_dead = True  # e.g. KILLed server-side, not yet seen locally
        async with pool.acquire() as lease:
            assert lease.pc.raw is not raw  # type: ignore[union-attr]
        assert raw.closed and raw.graceful is False
        assert pool.breaker.state == "closed"  # a dead connection is not a dead server
        assert_idle_state(pool, world)

    run(main)


def test_hung_server_fails_validation_within_timeout_and_opens_breaker() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, validation_timeout=1.0, threshold=2, probe_interval=5.0)
        for _ in range(2):
            async with pool.acquire(), pool.acquire():
                pass
        await trio.sleep(1.0)
        world.hang = True
        start = trio.current_time()
        with pytest.raises(DataSourceUnavailable, match="ds_fake: validation ping timed out"):
            async with pool.acquire():
                pass
        assert trio.current_time() - start == pytest.approx(1.0)
        with pytest.raises(DataSourceUnavailable, match="ds_fake"):
            async with pool.acquire():
                pass
        assert pool.breaker.state == "open"
        # Open: fail fast, no waiting at all.
        start = trio.current_time()
        with pytest.raises(DataSourceUnavailable, match="marked down"):
            async with pool.acquire():
                pass
        assert trio.current_time() == start
        # Recovers by itself after probe_interval: the trial succeeds → closed.
        world.hang = False
        await trio.sleep(5.01)
        async with pool.acquire():
            assert pool.breaker.state == "half_open" or pool.breaker.state == "closed"
        assert pool.breaker.state == "closed"
        assert_idle_state(pool, world)

    run(main)


def test_connect_failures_trip_breaker_then_half_open_trial_fails_reopens() -> None:
    async def main() -> None:
        world = FakeWorld(fail_connect=True)
        pool = make_pool(world, threshold=3, probe_interval=1.0)
        for _ in range(3):
            with pytest.raises(DataSourceUnavailable, match="ds_fake: cannot connect"):
                async with pool.acquire():
                    pass
        assert pool.breaker.state == "open"
        await trio.sleep(1.01)
        with pytest.raises(DataSourceUnavailable, match="cannot connect"):
            async with pool.acquire():  # the half-open trial
                pass
        assert pool.breaker.state == "open"
        world.fail_connect = False
        await trio.sleep(1.01)
        async with pool.acquire():
            pass
        assert pool.breaker.state == "closed"
        assert_idle_state(pool, world)

    run(main)


def test_cancelled_borrower_connection_is_closed_not_returned() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world)
        with trio.move_on_after(0.1):
            async with pool.acquire() as lease:
                raw = lease.pc.raw  # type: ignore[union-attr]
                await trio.sleep(1)
        assert raw.closed and raw.graceful is False
        assert_idle_state(pool, world)
        assert pool.size == 0

    run(main)


def test_error_in_block_returns_clean_connection_broken_one_closed() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world)
        with pytest.raises(ValueError):
            async with pool.acquire() as lease:
                clean = lease.pc.raw  # type: ignore[union-attr]
                raise ValueError("statement rejected")
        assert clean in world.open and pool.idle == 1
        with pytest.raises(ValueError):
            async with pool.acquire() as lease:
                lease.pc.broken = True  # type: ignore[union-attr]
                raise ValueError("protocol error")
        assert clean.closed
        assert_idle_state(pool, world)

    run(main)


def test_max_lifetime_and_idle_eviction_keep_min_idle() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(
            world,
            max_size=4,
            min_idle=1,
            idle_timeout=10.0,
            max_lifetime=100.0,
            validate_after=1000,
        )
        await pool.fill()
        assert pool.idle == 1
        async with pool.acquire(), pool.acquire(), pool.acquire():
            pass
        assert pool.idle == 3
        await trio.sleep(11)
        async with pool.acquire():
            pass  # release triggers eviction of the two oldest idle; min_idle kept
        assert pool.idle == 1
        await trio.sleep(100)
        async with pool.acquire() as lease:
            assert lease.pc.created_at >= 100  # type: ignore[union-attr]
        assert_idle_state(pool, world)

    run(main)


def test_cancel_during_connect_and_ping_leaks_nothing() -> None:
    async def main() -> None:
        world = FakeWorld(connect_delay=1.0)
        pool = make_pool(world, connect_timeout=5.0)
        with trio.move_on_after(0.5):
            async with pool.acquire():
                pass
        assert_idle_state(pool, world)
        world.connect_delay = 0.001
        async with pool.acquire():
            pass
        await trio.sleep(1)
        world.ping_delay = 0.8
        with trio.move_on_after(0.3):
            async with pool.acquire():
                pass
        assert_idle_state(pool, world)
        assert pool.size == 0

    run(main)


def test_stale_connection_skipped_without_ping() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world)
        async with pool.acquire() as lease:
            raw = lease.pc.raw  # type: ignore[union-attr]
        raw.dead = True  # visible locally (peer closed the socket)
        async with pool.acquire() as lease:
            assert lease.pc.raw is not raw  # type: ignore[union-attr]
            # And a lease can swap a dead connection before using it.
            old = lease.pc.raw  # type: ignore[union-attr]
            old.dead = True
            await lease.replace()
            assert lease.pc.raw is not old  # type: ignore[union-attr]
        assert world.pings == 0
        assert pool.stale_discards == 2
        assert_idle_state(pool, world)

    run(main)


def test_closed_pool_fails_clearly() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world)
        async with pool.acquire():
            assert pool.close() == 1
        assert world.open == set()
        with pytest.raises(DataSourceUnavailable, match="ds_fake: data source is closed"):
            async with pool.acquire():
                pass

    run(main)


# -- property test -----------------------------------------------------------------------

ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "use",
                "use",
                "use",
                "cancel",
                "error",
                "broken",
                "kill_idle",
                "kill_idle_silently",
                "hang",
                "unhang",
                "fail_connect",
                "heal",
                "sleep",
            ]
        ),
        st.floats(min_value=0.0, max_value=1.5),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    actions=ACTIONS,
    max_size=st.integers(min_value=1, max_value=5),
    clients=st.integers(min_value=1, max_value=8),
)
def test_pool_invariants_under_random_operations(
    actions: list[tuple[str, float]], max_size: int, clients: int
) -> None:
    """Random acquire/release/cancel/fail sequences from concurrent clients.

    Never more than ``max_size`` connections; never one connection in two hands; after
    everything, nothing leaked and every counter is back at its idle value.
    """

    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(
            world,
            max_size=max_size,
            acquire_timeout=0.7,
            validate_after=0.3,
            validation_timeout=0.4,
            connect_timeout=0.4,
            threshold=2,
            probe_interval=0.5,
            idle_timeout=3.0,
            max_lifetime=6.0,
        )
        holders: set[FakeRaw] = set()
        violations: list[str] = []

        async def client(ops: list[tuple[str, float]]) -> None:
            for kind, t in ops:
                if kind in (
                    "hang",
                    "unhang",
                    "fail_connect",
                    "heal",
                    "kill_idle",
                    "kill_idle_silently",
                    "sleep",
                ):
                    if kind == "hang":
                        world.hang = True
                    elif kind == "unhang":
                        world.hang = False
                    elif kind == "fail_connect":
                        world.fail_connect = True
                    elif kind == "heal":
                        world.hang = world.fail_connect = False
                    elif kind == "kill_idle":
                        for pc in list(pool._idle):
                            pc.raw.dead = True
                    elif kind == "kill_idle_silently":
                        for pc in list(pool._idle):
                            pc.raw.silently_dead = True
                    await trio.sleep(t)
                    continue
                try:
                    with trio.move_on_after(t if kind == "cancel" else 100):
                        async with pool.acquire() as lease:
                            raw = lease.pc.raw  # type: ignore[union-attr]
                            if raw.borrowed or raw in holders:
                                violations.append(f"connection {raw.id} handed out twice")
                            if raw.closed:
                                violations.append(f"closed connection {raw.id} handed out")
                            raw.borrowed = True
                            holders.add(raw)
                            try:
                                if pool.size > max_size:
                                    violations.append(f"size {pool.size} > {max_size}")
                                await trio.sleep(t)
                                if kind == "error":
                                    raise FakeServerError("statement failed")
                                if kind == "broken":
                                    lease.pc.broken = True  # type: ignore[union-attr]
                            finally:
                                raw.borrowed = False
                                holders.discard(raw)
                except (FakeServerError, PoolTimeout, DataSourceUnavailable):
                    pass

        async def watcher() -> None:
            while True:
                if pool.size > max_size:
                    violations.append(f"size {pool.size} > {max_size}")
                live = len(world.open)
                if live > pool.size:
                    violations.append(f"{live} open fake connections but pool size {pool.size}")
                await trio.sleep(0.05)

        async with trio.open_nursery() as outer:
            outer.start_soon(watcher)
            async with trio.open_nursery() as nursery:
                for i in range(clients):
                    nursery.start_soon(client, actions[i::clients])
            outer.cancel_scope.cancel()
        world.hang = world.fail_connect = False
        assert not violations, violations[:5]
        assert_idle_state(pool, world)
        # The pool still works afterwards (breaker recovers by itself).
        await trio.sleep(1.0)
        async with pool.acquire():
            pass
        assert_idle_state(pool, world)
        pool.close()
        assert world.open == set()

    run(main)


def test_waiting_for_a_connection_gives_the_executor_slot_back() -> None:
    """Children of one query, 2 slots, a pool of 1 connection: while A holds the
    connection and B waits for it, B holds no slot, and C (no connection needed) still
    runs: not on B's slot (a slot lent for a pool wait is kept from new top-level work,
    which would only queue on the pool too), but nothing finishes while A waits for C,
    so the watchdog grows the bucket."""
    from executor import BucketedExecutor, ExecutorConfig

    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, max_size=1, acquire_timeout=30.0)
        release_a = trio.Event()
        c_ran = trio.Event()
        order: list[str] = []
        cfg = ExecutorConfig(buckets=1, slots_per_bucket=2, window=8, stall_limit=100.0)
        async with BucketedExecutor(cfg) as ex, ex.query(name="q") as q:

            async def child(name: str) -> None:
                if name == "c":
                    order.append("c")
                    c_ran.set()
                    return
                async with pool.acquire():
                    order.append(name)
                    if name == "a":
                        await release_a.wait()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(q.run, child, "a")
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(q.run, child, "b")
                await trio.testing.wait_all_tasks_blocked()
                status = ex.status()[0]
                assert (status.active, status.waiting) == (1, 1)  # B lent its slot back
                assert pool.waiting == 1
                nursery.start_soon(q.run, child, "c")
                await trio.testing.wait_all_tasks_blocked()
                status = ex.status()[0]
                assert (status.active, status.queued_low, status.deadlocks_suspected) == (1, 1, 0)
                with trio.fail_after(5):
                    await c_ran.wait()  # ran while A still holds the connection
                assert ex.status()[0].deadlocks_suspected == 1
                assert "b" not in order and pool.size == 1
                release_a.set()
            assert order[-1] == "b"  # B got the connection only after A returned it
            status = ex.status()[0]
            assert (status.active, status.waiting) == (0, 0)
        assert_idle_state(pool, world)

    run(main)


def test_pool_timeout_while_lending_the_slot_leaves_counters_clean() -> None:
    from executor import BucketedExecutor, ExecutorConfig

    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, max_size=1, acquire_timeout=0.5)
        cfg = ExecutorConfig(buckets=1, slots_per_bucket=2, window=8, stall_limit=100.0)
        async with BucketedExecutor(cfg) as ex:
            async with pool.acquire():
                with pytest.raises(Exception) as info:
                    async with ex.query(name="q") as q:

                        async def borrow() -> None:
                            async with pool.acquire():
                                pass

                        await q.run(borrow)
                assert "ds_fake" in str(info.value) and "within 0.5s" in str(info.value)
            status = ex.status()[0]
            assert (status.active, status.waiting, status.queued_high, status.queued_low) == (
                0,
                0,
                0,
                0,
            )
        assert_idle_state(pool, world)

    run(main)


def test_nested_work_runs_at_once_on_a_slot_lent_for_a_pool_wait() -> None:
    """One slot: B waits for the pool's only connection (held outside); a nested query
    opened by a child that was itself waiting gets B's slot without any kick-up."""
    from executor import BucketedExecutor, ExecutorConfig, slot_released

    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, max_size=1, acquire_timeout=30.0)
        cfg = ExecutorConfig(buckets=1, slots_per_bucket=1, window=8, stall_limit=100.0)
        go_on = trio.Event()
        nested_ran = trio.Event()
        async with BucketedExecutor(cfg) as ex:
            held = pool.acquire()
            await held.__aenter__()
            async with ex.query(name="q") as q:

                async def borrow() -> None:
                    async with pool.acquire():
                        pass

                async def parent() -> None:
                    async with slot_released("test"):
                        await go_on.wait()

                    async def leaf() -> None:
                        nested_ran.set()

                    async with ex.query(name="nested") as inner:
                        await inner.run(leaf)

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(q.run, parent)
                    await trio.testing.wait_all_tasks_blocked()
                    nursery.start_soon(q.run, borrow)
                    await trio.testing.wait_all_tasks_blocked()
                    assert pool.waiting == 1 and ex.status()[0].active == 0
                    go_on.set()
                    with trio.fail_after(0.5):  # well before any kick-up (1 s)
                        await nested_ran.wait()
                    assert ex.status()[0].kickups == 0
                    await held.__aexit__(None, None, None)
            status = ex.status()[0]
            assert (status.active, status.waiting, status.queued_high, status.queued_low) == (
                0,
                0,
                0,
                0,
            )
        assert_idle_state(pool, world)

    run(main)


def test_cancelled_while_taking_the_slot_back_returns_the_token() -> None:
    """B gets the connection's token while its slot is taken by D; B is cancelled
    while queued for the slot: the token must come back (it leaked before: a pool of
    32 emptied under 1024 clients that gave up on their queries)."""
    from executor import BucketedExecutor, ExecutorConfig, slot_released

    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, max_size=1, acquire_timeout=30.0)
        cfg = ExecutorConfig(buckets=1, slots_per_bucket=1, window=8, stall_limit=100.0)
        d_back = trio.Event()
        d_done = trio.Event()
        d_go = trio.Event()
        async with BucketedExecutor(cfg) as ex, ex.query(name="q") as q:
            held = pool.acquire()
            await held.__aenter__()

            async def d() -> None:
                async with slot_released("test"):
                    await d_go.wait()
                d_back.set()
                await d_done.wait()  # holds the only slot

            async def borrow() -> None:
                async with pool.acquire():
                    raise AssertionError("B must not get to use the connection")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(q.run, d)
                await trio.testing.wait_all_tasks_blocked()
                b_scope = trio.CancelScope()

                async def run_b() -> None:
                    with b_scope:
                        await q.run(borrow)

                nursery.start_soon(run_b)
                await trio.testing.wait_all_tasks_blocked()
                d_go.set()
                await d_back.wait()  # D has the slot back; B still waits for the token
                await held.__aexit__(None, None, None)  # token → B, who must queue for a slot
                await trio.testing.wait_all_tasks_blocked()
                assert ex.status()[0].queued_high == 1 and pool.waiting == 0
                b_scope.cancel()
                await trio.testing.wait_all_tasks_blocked()
                # The token is back: a borrow outside the executor gets it at once.
                with trio.fail_after(0.1):
                    async with pool.acquire():
                        pass
                d_done.set()
        status = ex.status()[0]
        assert (status.active, status.waiting, status.queued_high, status.queued_low) == (
            0,
            0,
            0,
            0,
        )
        assert_idle_state(pool, world)

    run(main)


def test_a_connect_timeout_is_retried_once_while_the_server_was_answering_a_moment_ago() -> None:
    """A burst can make one connect miss ``connect_timeout`` against a healthy server
    (each of its round trips waits for a turn of the scheduler): a server that
    answered within ALIVE_WINDOW gets a second try; a silent one fails at once."""
    from sharding.backend.pool import ALIVE_WINDOW

    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, connect_timeout=1.0)
        async with pool.acquire(), pool.acquire():
            pass  # two open connections came back usable: the server is answering
        for pc in list(pool._idle):  # both dropped (as after a cancelled statement)
            pool._idle.remove(pc)
            pool._retire(pc, graceful=False)
        slow_once = [3.0]  # the first connect takes 3 s (over connect_timeout)
        fast = world.connect

        async def connect() -> FakeRaw:
            if slow_once:
                await trio.sleep(slow_once.pop())
            return await fast()

        world.connect = connect  # type: ignore[method-assign]
        start = trio.current_time()
        async with pool.acquire():
            pass
        assert pool.connect_retries == 1
        assert pool.connect_failures == 0
        assert pool.breaker.state == "closed"
        assert trio.current_time() - start == pytest.approx(1.0 + world.connect_delay)
        assert_idle_state(pool, world)

        # Silent for longer than ALIVE_WINDOW: the first timeout fails the borrow.
        for pc in list(pool._idle):
            pool._idle.remove(pc)
            pool._retire(pc, graceful=False)
        await trio.sleep(ALIVE_WINDOW + 1)
        world.hang = True
        start = trio.current_time()
        with pytest.raises(DataSourceUnavailable, match="connect timed out after 1s"):
            async with pool.acquire():
                pass
        assert trio.current_time() - start == pytest.approx(1.0)
        assert pool.connect_retries == 1
        world.hang = False
        assert_idle_state(pool, world)

    run(main)


def test_a_hung_server_that_answered_a_moment_ago_fails_after_two_timeouts() -> None:
    async def main() -> None:
        world = FakeWorld()
        pool = make_pool(world, connect_timeout=1.0, max_size=1)
        async with pool.acquire():
            pass
        pc = pool._idle.pop()
        pool._retire(pc, graceful=False)
        world.hang = True
        start = trio.current_time()
        with pytest.raises(DataSourceUnavailable, match="connect timed out"):
            async with pool.acquire():
                pass
        assert trio.current_time() - start == pytest.approx(2.0)
        assert pool.connect_retries == 1
        assert pool.connect_failures == 1  # the breaker counts the final timeout only
        world.hang = False
        assert_idle_state(pool, world)

    run(main)
