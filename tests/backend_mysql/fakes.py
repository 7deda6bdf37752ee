"""Fake raw connections for pool tests: scripted connect/ping latency and failures.

``FakeWorld`` is the fake server: it knows every connection it handed out, which are
still open, and which were borrowed, so tests can check the pool's invariants from the
outside (nothing leaked, nothing handed out twice).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import trio


class FakeServerError(Exception):
    pass


@dataclass(eq=False)
class FakeRaw:
    world: FakeWorld = field(repr=False)
    id: int
    closed: bool = False
    graceful: bool | None = None
    dead: bool = False  # the peer closed it, visible locally (EOF on the socket)
    silently_dead: bool = False  # dead, but only a round trip can tell
    borrowed: bool = False

    def is_usable(self) -> bool:
        return not self.closed and not self.dead

    async def ping(self) -> None:
        self.world.pings += 1
        if self.world.hang:
            await trio.sleep_forever()
        await trio.sleep(self.world.ping_delay)
        if self.dead or self.silently_dead or self.closed:
            raise FakeServerError("connection lost")

    def close(self, *, graceful: bool) -> None:
        if not self.closed:
            self.closed = True
            self.graceful = graceful
            self.world.open.discard(self)


@dataclass
class FakeWorld:
    connect_delay: float = 0.001
    ping_delay: float = 0.0005
    fail_connect: bool = False
    hang: bool = False
    open: set[FakeRaw] = field(default_factory=set)
    all: list[FakeRaw] = field(default_factory=list)
    pings: int = 0
    connects: int = 0
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    async def connect(self) -> FakeRaw:
        self.connects += 1
        if self.hang:
            await trio.sleep_forever()
        await trio.sleep(self.connect_delay)
        if self.fail_connect:
            raise OSError("connection refused")
        raw = FakeRaw(self, next(self._ids))
        self.open.add(raw)
        self.all.append(raw)
        return raw
