"""A deterministic TCP proxy that loses the reply to exactly one XA decision write.

Why: the dangerous moment of two-phase commit is the decision ``INSERT`` whose reply
never arrives — the row may be stored, and the coordinator cannot tell. Killing a
server or a socket at random hits that moment by chance; this proxy hits it every time.
It forwards MySQL traffic both ways between clients and one upstream server, reads the
client→server stream packet by packet, and when :meth:`DropProxy.arm`-ed, the first
``COM_QUERY`` that contains ``match`` is forwarded, the server's complete reply packet
is read (so the statement really ran and committed) and thrown away, and the client's
connection is closed (or, with ``forward=False``, the query itself is lost: the client
sees the same dropped connection, but nothing was stored). With ``after="refuse"`` it also cuts every other connection and
refuses new ones until :meth:`DropProxy.heal` (the log server became unreachable right
after storing the decision).

Threads, not trio: the proxy must keep working whatever the test's event loop is doing.
Everything binds to 127.0.0.1. Every thread is joined by :meth:`DropProxy.close`.
"""

from __future__ import annotations

import select
import socket
import threading
from types import TracebackType

COM_QUERY = 0x03
DECISION_INSERT = b"INSERT INTO shardgate_catalog.xa_log"


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("upstream closed")
        data += chunk
    return data


class _Pipe:
    """One client connection and its upstream connection, pumped by one thread."""

    def __init__(self, proxy: DropProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.thread = threading.Thread(target=self._run, name="xa-drop-proxy-pipe", daemon=True)

    def kill(self) -> None:
        """Cut both sides (from any thread): the pump sees EOF and ends."""
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _run(self) -> None:
        buf = b""
        try:
            while True:
                readable, _, _ = select.select([self.client, self.upstream], [], [], 0.5)
                if self.proxy.closing:
                    return
                if self.upstream in readable:
                    data = self.upstream.recv(65536)
                    if not data:
                        return
                    self.client.sendall(data)
                if self.client in readable:
                    data = self.client.recv(65536)
                    if not data:
                        return
                    buf += data
                    while len(buf) >= 4:
                        size = int.from_bytes(buf[:3], "little")
                        if len(buf) < 4 + size:
                            break
                        packet, buf = buf[: 4 + size], buf[4 + size :]
                        payload = packet[4:]
                        if payload[:1] == bytes([COM_QUERY]):
                            self.proxy._seen(payload[1:])
                        if self.proxy._should_drop(payload):
                            if self.proxy._forward:
                                self.upstream.sendall(packet)
                                self._swallow_reply()
                            self.proxy._dropped(self)
                            return
                        self.upstream.sendall(packet)
        except OSError:
            return
        finally:
            self.proxy._forget(self)
            for sock in (self.client, self.upstream):
                try:
                    sock.close()
                except OSError:
                    pass

    def _swallow_reply(self) -> None:
        """Read the server's whole reply packet (so the statement ran), then lose it."""
        self.upstream.settimeout(30.0)
        header = _recv_exact(self.upstream, 4)
        _recv_exact(self.upstream, int.from_bytes(header[:3], "little"))


class DropProxy:
    """See the module docstring. ``with DropProxy(port) as proxy: proxy.url ...``"""

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        match: bytes = DECISION_INSERT,
        also: bytes = b"'commit'",
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.match = match
        self.also = also
        self.closing = False
        self.refusing = False
        self.dropped = 0
        self.refused = 0
        self.accepted = 0
        self.queries: list[bytes] = []  # every COM_QUERY seen (first 200 bytes)
        self.queries_at_drop = 0  # len(queries) when the reply was dropped
        self._armed: str | None = None
        self._after = "keep"
        self._forward = True
        self._lock = threading.Lock()
        self._pipes: set[_Pipe] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="xa-drop-proxy-accept", daemon=True
        )
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"mysql://root:@127.0.0.1:{self.port}"

    def arm(self, after: str = "keep", *, forward: bool = True) -> None:
        """Drop the reply of the next matching query (``forward=False``: drop the query
        itself, the server never sees it); then ``"keep"`` serving, or ``"refuse"``: cut
        every connection and refuse new ones until :meth:`heal`."""
        if after not in ("keep", "refuse"):
            raise ValueError(after)
        with self._lock:
            self._armed = after
            self._forward = forward

    def heal(self) -> None:
        with self._lock:
            self.refusing = False

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pipes)

    def queries_after_drop(self) -> list[bytes]:
        with self._lock:
            return list(self.queries[self.queries_at_drop :])

    # called by pipes

    def _seen(self, sql: bytes) -> None:
        with self._lock:
            self.queries.append(sql[:200])

    def _should_drop(self, payload: bytes) -> bool:
        if (
            payload[:1] != bytes([COM_QUERY])
            or self.match not in payload
            or self.also not in payload
        ):
            return False
        with self._lock:
            if self._armed is None:
                return False
            self._after, self._armed = self._armed, None
            return True

    def _dropped(self, pipe: _Pipe) -> None:
        with self._lock:
            self.dropped += 1
            self.queries_at_drop = len(self.queries)
            others = [p for p in self._pipes if p is not pipe]
            if self._after == "refuse":
                # Before the client learns anything: its retry must find the door shut.
                self.refusing = True
        if self._after == "refuse":
            for p in others:
                p.kill()

    def _forget(self, pipe: _Pipe) -> None:
        with self._lock:
            self._pipes.discard(pipe)

    def _accept_loop(self) -> None:
        while not self.closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refuse = self.refusing or self.closing
            if refuse:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5.0)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pipe = _Pipe(self, client, upstream)
            with self._lock:
                self.accepted += 1
                self._pipes.add(pipe)
                self._threads.append(pipe.thread)
            pipe.thread.start()

    def close(self) -> None:
        self.closing = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            pipes = list(self._pipes)
            threads = list(self._threads)
        for p in pipes:
            p.kill()
        self._acceptor.join(5.0)
        for t in threads:
            t.join(5.0)

    def __enter__(self) -> DropProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
