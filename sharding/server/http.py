"""The HTTP port: the live status page (``GET /``), ``/metrics`` (Prometheus),
``/status`` (JSON), ``/healthz`` and ``POST /kill``.

Built on h11 (the sans-IO HTTP/1.1 state machine from the trio ecosystem) over trio
streams: h11 does the parsing and framing that is easy to get subtly wrong, and this
module is only routing. A full ASGI server (hypercorn) would be a large dependency for
a handful of endpoints. Each request is answered from snapshots (executor ``status()``,
pool ``statistics()``), never through the executor's buckets, so it answers while they
are saturated. The page itself and its kill permission live in
:mod:`sharding.server.statuspage`.

Routes live in :attr:`HttpApp.routes` (path → method → handler; ``HEAD`` is answered
by the ``GET`` handler).

``/status`` is the server's :meth:`~sharding.server.server.MySQLServer.status` plus
``history`` (per-second statements and latency quantiles: the last-minute summary
always, the newest ``N`` samples with ``?history=N``, at most the ring's capacity),
``time`` (Unix seconds) and ``http`` (how ``/kill`` is authorised); the keys that were
there before are unchanged.

Who may read what (:mod:`sharding.server.statuspage`): ``/`` and ``/status`` answer a
client on this machine, and any other client only with HTTP Basic credentials of a
``[[server.users]]`` user holding ``process``; statements in ``/status`` are redacted
(literals replaced by ``?``) for every reader. ``/metrics``, ``/healthz`` and the static
assets hold no statement text and stay open.

Invariants: one request at a time per connection (keep-alive supported); a request
head larger than 64 KiB or a client slower than 10 s closes the connection, and so
does a body larger than 16 KiB (after a 413); a route that raises answers 500 and the
server keeps serving.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import h11
import structlog
import trio

from sharding.server import statuspage
from sharding.server.admin import Viewer, redact_sql

if TYPE_CHECKING:
    from sharding.server.server import MySQLServer

__all__ = ["HttpApp", "Request", "Response"]

log = structlog.get_logger("shardgate.http")

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024
_TIMEOUT = 10.0
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 1 << 20
_COMMON_HEADERS = (("x-content-type-options", "nosniff"),)
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    #: Path without the query string.
    path: str
    query: str = ""
    #: Lower-case header names (the last of repeated headers wins).
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: The client's address (None when the stream is not a socket).
    peer_host: str | None = None

    def param(self, name: str) -> str | None:
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[-1] if values else None


class Response:
    __slots__ = ("body", "close", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: tuple[tuple[str, str], ...] = (),
        *,
        close: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers
        #: Close the connection after this response (the request was not read whole).
        self.close = close

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        return cls(
            status,
            json.dumps(data, default=str, indent=1).encode() + b"\n",
            "application/json",
            headers,
        )

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), _TEXT)


Route = Callable[[Request], Awaitable[Response]]


class _BodyTooLarge(Exception):
    def __init__(self, request: h11.Request) -> None:
        super().__init__("request body too large")
        self.request = request


class HttpApp:
    def __init__(self, server: MySQLServer) -> None:
        self.server = server
        self.routes: dict[str, dict[str, Route]] = {
            "/metrics": {"GET": self.metrics},
            "/status": {"GET": self.status},
            "/healthz": {"GET": self.healthz},
            "/kill": {"POST": self.kill},
        }
        for path in statuspage.ASSETS:
            self.routes[path] = {"GET": self.asset}

    async def metrics(self, request: Request) -> Response:
        cluster = getattr(self.server, "cluster", None)  # serve --workers: every worker's
        body = await cluster.metrics_text() if cluster is not None else self.server.metrics.render()
        # imported here: the library is loaded at the first scrape (metrics.py, start-up)
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(200, body, CONTENT_TYPE_LATEST)

    def _refuse_viewer(self, request: Request) -> Response | None:
        """The refusal for a client that may not read the status, or None."""
        try:
            statuspage.check_view_permission(
                request.headers, request.peer_host, self.server.authenticator
            )
        except statuspage.Refused as refused:
            log.info("http status refused", status=refused.status, peer=request.peer_host)
            return Response.json({"error": refused.message}, refused.status, refused.headers)
        return None

    async def status(self, request: Request) -> Response:
        refused = self._refuse_viewer(request)
        if refused is not None:
            return refused
        raw = request.param("history")
        history = self.server.metrics.history
        try:
            last = 0 if raw is None else int(raw)
        except ValueError:
            last = -1
        if last < 0:
            return Response.text("history must be a number of seconds (0 or more)\n", 400)
        last = min(last, history.seconds)
        data = self.server.status()
        cluster = getattr(self.server, "cluster", None)
        if cluster is not None:  # serve --workers: a ``workers`` list and all connections
            data = await cluster.status(data)
        for conn in data.get("connections", ()):
            # No value a client sent leaves through this port (issue 12, item 6).
            if isinstance(conn, dict) and isinstance(conn.get("Info"), str):
                conn["Info"] = redact_sql(conn["Info"])
        data["history"] = history.snapshot(last)
        data["time"] = round(time.time(), 3)
        data["http"] = {"kill": statuspage.kill_auth_mode(self.server.authenticator)}
        return Response.json(data, headers=(("cache-control", "no-store"),))

    async def healthz(self, request: Request) -> Response:
        if self.server.draining:
            return Response.text("draining\n", 503)
        return Response.text("ok\n")

    async def asset(self, request: Request) -> Response:
        if request.path == "/":
            refused = self._refuse_viewer(request)
            if refused is not None:
                return refused
        spec = statuspage.ASSETS[request.path]
        body = statuspage.asset_body(spec.file)
        return Response(200, body, spec.content_type, statuspage.PAGE_HEADERS)

    async def kill(self, request: Request) -> Response:
        try:
            user = statuspage.check_kill_permission(
                request.headers, request.peer_host, self.server.authenticator
            )
            target = statuspage.parse_kill(request.body, request.headers.get("content-type", ""))
            viewer = Viewer(user, self.server.authenticator.privileges_of(user))
            cluster = getattr(self.server, "cluster", None)  # serve --workers: the owner
            done = await cluster.http_kill(target, viewer) if cluster is not None else None
            if done is None:
                done = statuspage.perform_kill(self.server, target, viewer)
        except statuspage.KillRefused as refused:
            log.info(
                "http kill refused",
                status=refused.status,
                reason=refused.message,
                peer=request.peer_host,
            )
            return Response.json({"error": refused.message}, refused.status, refused.headers)
        log.info("http kill", user=user, peer=request.peer_host, **done)
        return Response.json(done)

    async def handle(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        peer = _peer_host(stream)
        try:
            while True:
                request: Request | None = None
                response: Response | None = None
                method = b"GET"
                with trio.move_on_after(_TIMEOUT) as timeout:
                    try:
                        request = await self._next_request(conn, stream, peer)
                    except _BodyTooLarge as exc:
                        method = exc.request.method
                        response = Response(413, b"request body too large\n", _TEXT, close=True)
                if timeout.cancelled_caught:
                    return
                if request is not None:
                    method = request.method.encode("latin-1")
                    response = await self._route(request)
                if response is None:
                    return
                keep = conn.our_state is h11.SEND_RESPONSE and not response.close
                headers = [
                    ("content-type", response.content_type),
                    ("content-length", str(len(response.body))),
                    *_COMMON_HEADERS,
                    *response.headers,
                ]
                if not keep:
                    headers.append(("connection", "close"))
                data = conn.send(h11.Response(status_code=response.status, headers=headers))
                if method != b"HEAD":
                    data = (data or b"") + (conn.send(h11.Data(data=response.body)) or b"")
                data = (data or b"") + (conn.send(h11.EndOfMessage()) or b"")
                await stream.send_all(data)
                if response.close:
                    await _linger(stream)
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
        self, conn: h11.Connection, stream: trio.abc.Stream, peer: str | None
    ) -> Request | None:
        """The next whole request, None at EOF; _BodyTooLarge past ``_MAX_BODY``."""
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(16384)
                conn.receive_data(bytes(data))
                if not data and conn.their_state is not h11.DONE:
                    return None
                continue
            if isinstance(event, h11.Request):
                head = event
                length = dict(head.headers).get(b"content-length", b"0")
                if length.isdigit() and int(length) > _MAX_BODY:
                    raise _BodyTooLarge(head)  # refuse before reading any of it
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > _MAX_BODY and head is not None:
                    raise _BodyTooLarge(head)
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                target = head.target.decode("latin-1")
                path, _, query = target.partition("?")
                return Request(
                    method=head.method.decode("latin-1").upper(),
                    path=path,
                    query=query,
                    headers={
                        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers
                    },
                    body=bytes(body),
                    peer_host=peer,
                )
            else:
                return None

    async def _route(self, request: Request) -> Response:
        methods = self.routes.get(request.path)
        if methods is None:
            return Response.text("not found\n", 404)
        route = methods.get("GET" if request.method == "HEAD" else request.method)
        if route is None:
            allow = sorted({*methods, *(["HEAD"] if "GET" in methods else [])})
            response = Response.text("method not allowed\n", 405)
            response.headers = (("allow", ", ".join(allow)),)
            return response
        try:
            return await route(request)
        except Exception:
            log.exception("http route failed", path=request.path)
            return Response.text("internal error\n", 500)


async def _linger(stream: trio.abc.Stream) -> None:
    """Close gracefully after answering a request whose body was not read: send FIN,
    then read and drop what the client is still sending (bounded), so that closing with
    unread data does not reset the connection before the client has read the answer."""
    if isinstance(stream, trio.abc.HalfCloseableStream):
        await stream.send_eof()
    drained = 0
    with trio.move_on_after(_LINGER_SECONDS):
        while drained < _LINGER_BYTES:
            data = await stream.receive_some(65536)
            if not data:
                break
            drained += len(data)


def _peer_host(stream: trio.abc.Stream) -> str | None:
    sock = getattr(stream, "socket", None)
    try:
        addr = sock.getpeername() if sock is not None else None
    except OSError:
        return None
    if isinstance(addr, tuple) and addr:
        return str(addr[0])
    return None
