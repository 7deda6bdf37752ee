"""The HTTP port: ``/metrics`` (Prometheus), ``/status`` (JSON), ``/healthz``.

Built on h11 (the sans-IO HTTP/1.1 state machine from the trio ecosystem) over trio
streams: h11 does the parsing and framing that is easy to get subtly wrong, and this
module is only routing. A full ASGI server (hypercorn) would be a large dependency for
three GET endpoints. Each request is answered from snapshots (executor ``status()``,
pool ``statistics()``), never through the executor's buckets, so it answers while they
are saturated.

Routes live in :attr:`HttpApp.routes`: the live status page (``GET /``, a later issue)
adds one entry there.

Invariants: one request at a time per connection (keep-alive supported); a request
head larger than 64 KiB, a body, or a client slower than 10 s closes the connection;
a route that raises answers 500 and the server keeps serving.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import h11
import structlog
import trio
from prometheus_client import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from sharding.server.server import MySQLServer

__all__ = ["HttpApp", "Response"]

log = structlog.get_logger("shardgate.http")

_MAX_HEAD = 64 * 1024
_TIMEOUT = 10.0


class Response:
    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(
            status, json.dumps(data, default=str, indent=1).encode() + b"\n", "application/json"
        )

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), "text/plain; charset=utf-8")


Route = Callable[[], Awaitable[Response]]


class HttpApp:
    def __init__(self, server: MySQLServer) -> None:
        self.server = server
        self.routes: dict[str, Route] = {
            "/metrics": self.metrics,
            "/status": self.status,
            "/healthz": self.healthz,
        }

    async def metrics(self) -> Response:
        return Response(200, self.server.metrics.render(), CONTENT_TYPE_LATEST)

    async def status(self) -> Response:
        return Response.json(self.server.status())

    async def healthz(self) -> Response:
        if self.server.draining:
            return Response.text("draining\n", 503)
        return Response.text("ok\n")

    async def handle(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        try:
            while True:
                with trio.move_on_after(_TIMEOUT) as timeout:
                    request = await self._next_request(conn, stream)
                if timeout.cancelled_caught or request is None:
                    return
                response = await self._route(request)
                keep = conn.our_state is h11.SEND_RESPONSE and request.method in (b"GET", b"HEAD")
                headers = [
                    ("content-type", response.content_type),
                    ("content-length", str(len(response.body))),
                ]
                if not keep:
                    headers.append(("connection", "close"))
                data = conn.send(h11.Response(status_code=response.status, headers=headers))
                if request.method != b"HEAD":
                    data = (data or b"") + (conn.send(h11.Data(data=response.body)) or b"")
                data = (data or b"") + (conn.send(h11.EndOfMessage()) or b"")
                await stream.send_all(data)
                if conn.our_state is h11.MUST_CLOSE or not keep:
                    return
                try:
                    conn.start_next_cycle()
                except h11.LocalProtocolError:
                    return
        except (
            h11.RemoteProtocolError,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
            OSError,
        ):
            return
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _next_request(
        self, conn: h11.Connection, stream: trio.abc.Stream
    ) -> h11.Request | None:
        request: h11.Request | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(16384)
                conn.receive_data(bytes(data))
                if not data and conn.their_state is not h11.DONE:
                    return None
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                continue  # bodies are ignored (every route is a GET)
            elif isinstance(event, h11.EndOfMessage):
                return request
            else:
                return None

    async def _route(self, request: h11.Request) -> Response:
        if request.method not in (b"GET", b"HEAD"):
            return Response.text("method not allowed\n", 405)
        path = request.target.decode("latin-1").split("?", 1)[0]
        route = self.routes.get(path)
        if route is None:
            return Response.text("not found\n", 404)
        try:
            return await route()
        except Exception:
            log.exception("http route failed", path=path)
            return Response.text("internal error\n", 500)
