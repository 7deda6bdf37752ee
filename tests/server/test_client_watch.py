"""``ClientWatch`` (the server's reaper): the clients of long statements are watched
in one epoll set, registered once while due, and only a readable client (closed,
or sending) gets its reader armed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from sharding.server.connection import ClientWatch


class FakeConn:
    def __init__(self, sock: socket.socket | None) -> None:
        self.sock = sock
        self.armed = 0

    def client_fd(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def arm_reader(self) -> None:
        self.armed += 1


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    yield made
    for a, b in made:
        a.close()
        b.close()


def _pair(pairs: list[tuple[socket.socket, socket.socket]]) -> tuple[socket.socket, socket.socket]:
    server_side, client_side = socket.socketpair()
    pairs.append((server_side, client_side))
    return server_side, client_side


def test_only_readable_clients_are_armed(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    watch = ClientWatch()
    try:
        conns, clients = [], []
        for _ in range(5):
            server_side, client_side = _pair(pairs)
            conns.append(FakeConn(server_side))
            clients.append(client_side)
        assert watch.update(conns) == 0  # all silent: nothing armed
        assert watch.update(conns) == 0
        clients[1].sendall(b"\x01\x00\x00\x00\x0e")  # a pipelined command
        clients[3].close()  # a client gone
        assert watch.update(conns) == 2
        assert [c.armed for c in conns] == [0, 1, 0, 1, 0]
        # Armed ones are no longer watched; the others stay registered, unarmed.
        assert watch.update([conns[0], conns[2], conns[4]]) == 0
        assert [c.armed for c in conns] == [0, 1, 0, 1, 0]
    finally:
        watch.close()


def test_registered_once_and_forgotten_when_no_longer_due(
    pairs: list[tuple[socket.socket, socket.socket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = ClientWatch()
    try:
        registered: list[int] = []
        real = watch._epoll

        class Counting:
            def register(self, fd: int, mask: int) -> None:
                registered.append(fd)
                real.register(fd, mask)

            def unregister(self, fd: int) -> None:
                real.unregister(fd)

            def poll(self, timeout: float) -> list[tuple[int, int]]:
                return real.poll(timeout)

            def close(self) -> None:
                real.close()

        monkeypatch.setattr(watch, "_epoll", Counting())
        server_side, client_side = _pair(pairs)
        conn = FakeConn(server_side)
        for _ in range(4):
            watch.update([conn])
        assert registered == [server_side.fileno()]
        watch.update([])  # the statement ended: forgotten
        client_side.sendall(b"next command")  # readable, but no statement is watched
        watch.update([])
        assert conn.armed == 0
        watch.update([conn])  # due again (a new long statement): registered again
        assert len(registered) == 2 and conn.armed == 1  # and its pending bytes seen
    finally:
        watch.close()


def test_a_socket_that_cannot_be_watched_gets_its_reader(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    watch = ClientWatch()
    try:
        tls_like = FakeConn(None)  # not a plain socket
        server_side, _client_side = _pair(pairs)
        closed = FakeConn(server_side)
        server_side.close()  # closed before its turn: nothing to register
        assert watch.update([tls_like, closed]) == 2
        assert tls_like.armed == closed.armed == 1
    finally:
        watch.close()
