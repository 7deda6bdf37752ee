"""The thread-loop bridge on its own (no server): coalesced wake-ups, cancellation,
shutdown with calls pending, several ``trio.run`` calls in a row."""

from __future__ import annotations

import asyncio
import threading

import pytest
import trio

from sharding.backend.bridge import BridgeError, ThreadLoopBridge


async def _echo(value: int, delay: float) -> int:
    await asyncio.sleep(delay)
    return value


async def _boom() -> None:
    raise ValueError("from the loop")


def test_many_concurrent_calls_each_get_their_own_outcome() -> None:
    bridge = ThreadLoopBridge("test-bridge")
    try:

        async def main() -> None:
            results: dict[int, int] = {}

            async def one(i: int) -> None:
                results[i] = await bridge.run(_echo, i * 3, (i % 7) / 1000)

            async with trio.open_nursery() as nursery:
                for i in range(300):
                    nursery.start_soon(one, i)
            assert results == {i: i * 3 for i in range(300)}
            with pytest.raises(ValueError, match="from the loop"):
                await bridge.run(_boom)

        # The inbox is per trio.run: a second run works the same.
        trio.run(main)
        trio.run(main)
    finally:
        bridge.close()


def test_cancelled_call_is_unwound_on_the_loop_before_run_returns() -> None:
    bridge = ThreadLoopBridge("test-bridge")
    unwound = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.01)  # cleanup that itself awaits
            unwound.set()

    try:

        async def main() -> None:
            with trio.move_on_after(0.05) as scope:
                await bridge.run(slow)
            assert scope.cancelled_caught
            assert unwound.is_set()  # nothing keeps running behind the caller's back
            assert await bridge.run(_echo, 5, 0) == 5  # and the bridge still works

        trio.run(main)
    finally:
        bridge.close()


def test_closing_the_bridge_fails_waiting_and_later_calls_clearly() -> None:
    bridge = ThreadLoopBridge("test-bridge")

    async def main() -> None:
        with trio.fail_after(10):
            await body()

    async def body() -> None:
        outcomes: list[BaseException] = []

        async def waiter() -> None:
            try:
                await bridge.run(_echo, 1, 30)
            except BridgeError as exc:
                outcomes.append(exc)

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(waiter)
            await trio.sleep(0.05)
            await trio.to_thread.run_sync(bridge.close)
        assert len(outcomes) == 5  # every waiter got an outcome, none hangs
        with pytest.raises(BridgeError, match="closed"):
            await bridge.run(_echo, 1, 0)

    trio.run(main)
