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

Choice, by measurement (``python -m bench.driver_overhead``: every cell in a fresh
process, cases interleaved, median of 5; ``bench/results/driver_overhead.json``; 2
vCPUs shared with other work, so read the ratios, not the last digit). µs per query
(wall), ratio to raw aiomysql on plain asyncio in the same run:

=====================================  ===========  ===========  ===========  ============
case                                   seq. point   seq. 1 row   16 tasks,    16 tasks,
                                                                  1 row        1000 rows
=====================================  ===========  ===========  ===========  ============
raw aiomysql (asyncio)                 99 (1.00)    159 (1.00)   108 (1.00)   4125 (1.00)
bare thread-bridge hop, no pool        259 (2.62)   342 (2.15)   173 (1.61)   4156 (1.01)
bare trio guest on an asyncio host     270 (2.73)   345 (2.16)   156 (1.45)   4157 (1.01)
raw aiomysql under trio-asyncio        223 (2.25)   292 (1.83)   254 (2.36)   4570 (1.11)
backend, thread bridge                 268 (2.70)   367 (2.30)   168 (1.56)   4418 (1.07)
backend, thread bridge, switchint. 1ms 262 (2.65)   370 (2.32)   179 (1.66)   4349 (1.05)
backend, trio-asyncio bridge           233 (2.36)   329 (2.06)   255 (2.37)   4954 (1.20)
backend, thread bridge, asyncmy        262 (2.65)   327 (2.05)   130 (1.21)    455 (0.11)
=====================================  ===========  ===========  ===========  ============

Where the time goes (py-spy, ``--gil``; CPU per query from the same cells): the backend
costs what the bare hop costs — pool, lease and statement bookkeeping add under 10 µs.
The hop is two cross-thread wake-ups per call: trio → loop (``call_soon_threadsafe``:
a self-pipe write, an epoll wake-up, a GIL hand-over) and loop → trio
(``TrioToken.run_sync_soon``: a wake-up-socket write, then trio's entry-queue system
task, which re-registers its socket with epoll at every wait), about +115 µs of CPU
for a lone query. Neither side can be skipped while the connection lives on another
thread; hosting trio as a *guest* of the asyncio loop (the call needs no hop) measures
no better, because the completion still crosses trio's I/O thread. The GIL switch
interval changes nothing measurable (both threads hand the GIL over by blocking, not
by the 5 ms timer). So the goal "≤ 10 % over raw aiomysql" holds for chunk reads (1000
rows: 1.05–1.10) and not for lone point queries (2.3–2.7×; ~1.6× at 16-way
concurrency). The coordinator mostly avoids paying it per shard: one data source's
reads of a query go out as a few UNION ALL statements (:mod:`sharding.exec.batch`), so
a 1024-shard scatter makes 4 hops, not 1024.

What the bridge does to stay cheap: completions that land together are handed to
trio in one wake-up (an :class:`_Inbox` per ``trio.run``), calls submitted together
reach the loop in one wake-up (the outbox), and the backend wakes its admin task by a
timer rather than per statement. Against the previous version in the same run: −16 %
CPU per query, sequential and at 16-way concurrency.

The thread bridge is the default: it is also the only option that meets the embedding
contract (works across ``trio.run`` calls, needs nothing from the caller);
``bridge = "trio_asyncio"`` remains for comparison. The driver matters more than the
bridge: asyncmy through the thread bridge is 9× faster than raw aiomysql on 1000-row
chunks.

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
from collections import deque
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


class _Inbox:
    """Completed calls waiting for one ``trio.run``'s thread (one per run).

    The loop thread appends and wakes trio only when no drain is pending already, so
    completions that land together cost one wake-up (one ``run_sync_soon``: a socket
    write, and a pass of trio's entry-queue task) instead of one each.

    Lock-free under the GIL: the loop thread *appends, then* reads ``scheduled``; the
    trio thread *clears* ``scheduled``, *then* pops until empty — so an item is
    always either popped by a running drain or followed by a new one.
    """

    __slots__ = ("items", "scheduled", "token")

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token
        self.items: deque[tuple[_Call, outcome.Outcome[Any] | None]] = deque()
        self.scheduled = False

    def post(self, call: _Call, result: outcome.Outcome[Any] | None) -> None:  # loop thread
        self.items.append((call, result))
        if not self.scheduled:
            self.scheduled = True
            try:
                self.token.run_sync_soon(self.drain)
            except trio.RunFinishedError:
                pass  # the trio run is gone, and with it every waiting task

    def drain(self) -> None:  # trio thread
        self.scheduled = False
        items = self.items
        while items:
            call, result = items.popleft()
            call.resume(result)


_INBOX: trio.lowlevel.RunVar[_Inbox] = trio.lowlevel.RunVar("shardgate_bridge_inbox")


def _inbox() -> _Inbox:
    try:
        return _INBOX.get()
    except LookupError:
        inbox = _Inbox(trio.lowlevel.current_trio_token())
        _INBOX.set(inbox)
        return inbox


class _Call:
    """One trio → asyncio call. Methods are annotated with the thread they run on."""

    __slots__ = ("args", "atask", "fn", "inbox", "loop", "raise_cancel", "task")

    def __init__(self, fn: AsyncFn[Any], args: tuple[Any, ...], loop: asyncio.AbstractEventLoop):
        self.fn = fn
        self.args = args
        self.loop = loop
        self.task = trio.lowlevel.current_task()
        self.inbox = _inbox()
        self.atask: asyncio.Task[Any] | None = None
        self.raise_cancel: Callable[[], Any] | None = None

    def start(self) -> None:  # loop thread
        try:
            coro = self.fn(*self.args)
            self.atask = self.loop.create_task(coro)
        except BaseException as exc:
            self.inbox.post(self, outcome.Error(exc))
            return
        self.atask.add_done_callback(self._done)

    def _done(self, atask: asyncio.Task[Any]) -> None:  # loop thread
        if atask.cancelled():
            self.inbox.post(self, None)
            return
        exc = atask.exception()
        self.inbox.post(
            self, outcome.Error(exc) if exc is not None else outcome.Value(atask.result())
        )

    def resume(self, result: outcome.Outcome[Any] | None) -> None:  # trio thread
        if self.raise_cancel is not None and (
            result is None
            or (
                isinstance(result, outcome.Error)
                and isinstance(result.error, asyncio.CancelledError)
            )
        ):
            result = outcome.capture(self.raise_cancel)
        elif result is None or (
            isinstance(result, outcome.Error) and isinstance(result.error, asyncio.CancelledError)
        ):
            result = outcome.Error(
                BridgeError("the driver's loop cancelled the call (shutting down?)")
            )
        trio.lowlevel.reschedule(self.task, result)

    def abort(self, raise_cancel: Callable[[], Any]) -> trio.lowlevel.Abort:  # trio thread
        self.raise_cancel = raise_cancel
        try:
            self.loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:  # loop already closed: nothing runs there any more
            return trio.lowlevel.Abort.SUCCEEDED
        return trio.lowlevel.Abort.FAILED

    def _cancel(self) -> None:  # loop thread; the outbox is drained before this runs
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
        # Calls submitted but not yet started on the loop; see _submit.
        self._outbox: deque[_Call] = deque()
        self._outbox_scheduled = False

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
            self._fail_unstarted()
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
        self._submit(loop, call)
        result: T = await trio.lowlevel.wait_task_rescheduled(call.abort)
        return result

    def _submit(self, loop: asyncio.AbstractEventLoop, call: _Call) -> None:
        """Hand ``call`` to the loop thread: calls submitted together (a fan-out in one
        trio scheduling round) share one wake-up of the loop (same protocol as
        :class:`_Inbox`, the other way round)."""
        self._outbox.append(call)
        if self._outbox_scheduled:
            return
        self._outbox_scheduled = True
        try:
            loop.call_soon_threadsafe(self._drain_outbox)
        except RuntimeError:
            self._fail_unstarted()
            raise BridgeError(f"{self.name}: bridge loop is closed") from None

    def _fail_unstarted(self) -> None:
        """Calls that will never start (the loop is gone) fail instead of hanging."""
        while self._outbox:
            call = self._outbox.popleft()
            call.inbox.post(call, outcome.Error(BridgeError(f"{self.name}: bridge loop is closed")))

    def _drain_outbox(self) -> None:  # loop thread
        self._outbox_scheduled = False
        outbox = self._outbox
        while outbox:
            outbox.popleft().start()

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
