"""How trio code reaches the asyncio MySQL driver: the one-runtime rule.

Every MySQL connection is created, used and closed on ONE asyncio loop for its whole
life (seed 000: pooled connections that outlived the runtime that made them broke every
later request with "dispatch dropped" / "IO driver has terminated"). A :class:`Bridge`
runs an asyncio coroutine function on the backend's loop and hands its outcome to the
calling trio task. Two implementations:

* :class:`ThreadLoopBridge` (the default) — one asyncio loop in a daemon thread owned by
  the backend, shared by every data source of the process. A call is posted with
  ``loop.call_soon_threadsafe`` and the result comes back with the calling run's
  ``TrioToken.run_sync_soon`` + ``trio.lowlevel.reschedule``; trio's thread never
  blocks. The loop does not belong to any ``trio.run``, so a data source opened under
  one run works unchanged under the next (the regression test does exactly that).
* :class:`TrioAsyncioBridge` — the driver runs on a trio-asyncio loop inside the
  caller's ``trio.run`` (no thread hop). Its connections die with that run, so the
  bridge binds itself to the first run that uses it and refuses any later run at once
  with a clear error (never "Event loop is closed", never a hang).

Choice, by measurement (``python -m bench.driver_overhead``, every cell in a fresh
process, median of 3; ``bench/results/driver_overhead.json``; 2 vCPUs shared with other
work, so single cells are noisy — read the ratios, not the last digit). µs per query,
ratio to raw aiomysql on plain asyncio in the same run:

===========================  =================  ================  =================
case                         seq. ``SELECT 1``  16 tasks, 1 row   16 tasks, 1000 rows
===========================  =================  ================  =================
raw aiomysql (asyncio)       131 (1.00)         203 (1.00)        3853 (1.00)
raw aiomysql (trio-asyncio)  429 (3.27)         445 (2.20)        8728 (2.27)
backend, thread bridge       416 (3.17)         225 (1.11)        7233 (1.88)
backend, trio-asyncio        846 (6.46)         490 (2.42)        8666 (2.25)
backend, thread + asyncmy    225 (1.72)         177 (0.87)        1288 (0.33)
===========================  =================  ================  =================

So on this machine trio-asyncio is *not* the cheap option: running asyncio callbacks
through trio's scheduler costs more than two thread wake-ups per query, sequentially
and under concurrency. The thread bridge costs ~100–300 µs per *sequential* query (two
sleeping threads woken per round trip); under fan-out concurrency the hops overlap and
it is within ~10 % of raw aiomysql. It is also the only option that meets the
embedding contract (works across ``trio.run`` calls, needs nothing from the caller). It
is the default; ``bridge = "trio_asyncio"`` remains for comparison. The driver matters
more than the bridge: asyncmy through the thread bridge beats raw aiomysql everywhere
but sequential point queries.

Cancellation: when the trio task is cancelled, the asyncio task is cancelled and the
trio task waits (``Abort.FAILED``) until the asyncio side has finished unwinding —
so when ``run`` raises ``trio.Cancelled`` the driver code has already closed whatever it
was using; nothing keeps running behind the caller's back.

Why by hand: ``trio.from_thread``/``to_thread`` bridge trio with *threads*, not with a
foreign event loop; the handful of lines here is the whole mechanism.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import outcome
import trio

T = TypeVar("T")
AsyncFn = Callable[..., Coroutine[Any, Any, T]]

class BridgeError(RuntimeError):
    """The bridge cannot run the call (closed, or bound to a finished trio.run)."""


class Bridge(Protocol):
    name: str

    async def run(self, fn: AsyncFn[T], *args: Any) -> T:
        """Run ``await fn(*args)`` on the driver's loop; return/raise its outcome in trio."""
        ...

    def spawn(self, fn: AsyncFn[Any], *args: Any) -> None:
        """Start ``fn(*args)`` as a background task on the driver's loop (fire and forget)."""
        ...

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call a plain function on the driver's loop soon (thread-safe, non-blocking)."""
        ...

    def check(self) -> None:
        """Raise :class:`BridgeError` now if :meth:`run` cannot work from here."""
        ...

    def on_loop_exit(self, fn: Callable[[], Any]) -> None:
        """Call ``fn()`` on the driver's loop when that loop shuts down."""
        ...

    def forget_loop_exit(self, fn: Callable[[], Any]) -> None:
        """Undo :meth:`on_loop_exit` (the data source was closed first)."""
        ...


class _Call:
    """One trio → asyncio call. Methods are annotated with the thread they run on."""

    __slots__ = ("args", "atask", "fn", "loop", "raise_cancel", "task", "token")

    def __init__(self, fn: AsyncFn[Any], args: tuple[Any, ...], loop: asyncio.AbstractEventLoop):
        self.fn = fn
        self.args = args
        self.loop = loop
        self.task = trio.lowlevel.current_task()
        self.token = trio.lowlevel.current_trio_token()
        self.atask: asyncio.Task[Any] | None = None
        self.raise_cancel: Callable[[], Any] | None = None

    def start(self) -> None:  # loop thread
        try:
            coro = self.fn(*self.args)
            self.atask = self.loop.create_task(coro)
        except BaseException as exc:
            self._post(outcome.Error(exc))
            return
        self.atask.add_done_callback(self._done)

    def _done(self, atask: asyncio.Task[Any]) -> None:  # loop thread
        if atask.cancelled():
            self._post(None)
            return
        exc = atask.exception()
        self._post(outcome.Error(exc) if exc is not None else outcome.Value(atask.result()))

    def _post(self, result: outcome.Outcome[Any] | None) -> None:  # loop thread
        try:
            self.token.run_sync_soon(self._resume, result)
        except trio.RunFinishedError:
            pass  # the trio run is gone, and with it the waiting task

    def _resume(self, result: outcome.Outcome[Any] | None) -> None:  # trio thread
        if self.raise_cancel is not None and (
            result is None
            or (isinstance(result, outcome.Error) and isinstance(result.error, asyncio.CancelledError))
        ):
            result = outcome.capture(self.raise_cancel)
        elif result is None or (
            isinstance(result, outcome.Error) and isinstance(result.error, asyncio.CancelledError)
        ):
            result = outcome.Error(BridgeError("the driver's loop cancelled the call (shutting down?)"))
        trio.lowlevel.reschedule(self.task, result)

    def abort(self, raise_cancel: Callable[[], Any]) -> trio.lowlevel.Abort:  # trio thread
        self.raise_cancel = raise_cancel
        try:
            self.loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:  # loop already closed: nothing runs there any more
            return trio.lowlevel.Abort.SUCCEEDED
        return trio.lowlevel.Abort.FAILED

    def _cancel(self) -> None:  # loop thread; FIFO order puts start() before us
        if self.atask is not None:
            self.atask.cancel()


class ThreadLoopBridge:
    """An asyncio loop in a daemon thread, started on first use. See module docstring."""

    def __init__(self, name: str = "shardgate-asyncio") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._background: set[asyncio.Task[Any]] = set()
        self._exit_callbacks: list[Callable[[], Any]] = []

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._ensure()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and not self._closed:
            return loop
        with self._lock:
            if self._closed:
                raise BridgeError(f"{self.name}: bridge is closed")
            if self._loop is None:
                # A plain selector loop, made directly: ``asyncio.new_event_loop()`` goes
                # through the global policy, which trio-asyncio replaces (and which
                # refuses to make a loop from inside trio).
                loop = asyncio.SelectorEventLoop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._main, args=(loop, ready), name=self.name, daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def _main(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            for fn in self._exit_callbacks:
                try:
                    fn()
                except Exception:
                    pass
            # Unwind what is left so every waiting trio task gets an outcome.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def check(self) -> None:
        self._ensure()

    async def run(self, fn: AsyncFn[T], *args: Any) -> T:
        loop = self._ensure()
        call = _Call(fn, args, loop)
        try:
            loop.call_soon_threadsafe(call.start)
        except RuntimeError:
            raise BridgeError(f"{self.name}: bridge loop is closed") from None
        result: T = await trio.lowlevel.wait_task_rescheduled(call.abort)
        return result

    def spawn(self, fn: AsyncFn[Any], *args: Any) -> None:
        loop = self._ensure()

        def start() -> None:
            task = loop.create_task(fn(*args))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        loop.call_soon_threadsafe(start)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # loop closed meanwhile: its sockets went with it

    def on_loop_exit(self, fn: Callable[[], Any]) -> None:
        # Kept only until close(): the shared loop normally lives as long as the process.
        with self._lock:
            if not self._closed:
                self._exit_callbacks.append(fn)

    def forget_loop_exit(self, fn: Callable[[], Any]) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._exit_callbacks.remove(fn)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop (cancelling what runs there) and join the thread. Blocking."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:
                pass
            thread.join(timeout)


class TrioAsyncioBridge:
    """Run the driver on the caller's trio-asyncio loop; bound to the first trio.run."""

    def __init__(self, name: str = "trio-asyncio") -> None:
        self.name = name
        self._root: object | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._exit_callbacks: list[Callable[[], Any]] = []

    def _current(self) -> asyncio.AbstractEventLoop:
        import trio_asyncio  # type: ignore[import-untyped]

        try:
            root = trio.lowlevel.current_root_task()
        except RuntimeError:
            raise BridgeError(f"{self.name}: must be called from trio") from None
        loop = trio_asyncio.current_loop.get()
        if self._root is None:
            if loop is None:
                raise BridgeError(
                    f"{self.name}: no trio-asyncio loop is open in this trio.run "
                    "(wrap the program in `async with trio_asyncio.open_loop():`, "
                    "or use the default thread bridge)"
                )
            self._root, self._loop = root, loop
            watcher = loop.create_task(self._watch_exit())
            self._background.add(watcher)
        elif root is not self._root or loop is not self._loop:
            raise BridgeError(
                f"{self.name}: the connections of this data source belong to a trio.run "
                "that has ended (trio-asyncio bridge); create a new data source in this "
                "run, or use the default thread bridge"
            )
        assert self._loop is not None
        return self._loop

    async def _watch_exit(self) -> None:
        """Runs until the trio-asyncio loop shuts down, then drops what lived on it.

        Connections left on a dead loop would otherwise be closed by the garbage
        collector later, on a closed loop ("Event loop is closed").
        """
        try:
            await asyncio.Event().wait()
        finally:
            for fn in self._exit_callbacks:
                try:
                    fn()
                except Exception:
                    pass

    def on_loop_exit(self, fn: Callable[[], Any]) -> None:
        self._exit_callbacks.append(fn)

    def forget_loop_exit(self, fn: Callable[[], Any]) -> None:
        with contextlib.suppress(ValueError):
            self._exit_callbacks.remove(fn)

    def check(self) -> None:
        self._current()

    async def run(self, fn: AsyncFn[T], *args: Any) -> T:
        import trio_asyncio

        loop = self._current()
        result: T = await trio_asyncio.aio_as_trio(fn, loop=loop)(*args)
        return result

    def spawn(self, fn: AsyncFn[Any], *args: Any) -> None:
        loop = self._current()
        task = loop.create_task(fn(*args))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        # trio and this loop share one thread: call now (also works while the loop
        # is shutting down, when a scheduled callback would never run).
        if self._loop is None:
            return
        try:
            fn(*args)
        except Exception:
            pass


_shared: ThreadLoopBridge | None = None
_shared_lock = threading.Lock()


def shared_thread_bridge() -> ThreadLoopBridge:
    """The process-wide driver loop used by every MySQL data source by default."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared._closed:
            _shared = ThreadLoopBridge()
        return _shared


def make_bridge(kind: str) -> Bridge:
    if kind == "thread":
        return shared_thread_bridge()
    if kind == "trio_asyncio":
        return TrioAsyncioBridge()
    raise ValueError(f"unknown bridge {kind!r} (expected 'thread' or 'trio_asyncio')")
