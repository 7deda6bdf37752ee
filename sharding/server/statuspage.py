"""The live status page on the HTTP port: its assets and its one action, ``KILL``.

``GET /`` serves ``static/status.html``, which loads ``static/status.css`` and
``static/status.js`` (plain, hand-written, no build step: the page must keep working
from an installed wheel with nothing but the server). The script polls ``/status``
about once a second; what it reads from that JSON is listed in ``STATUS_CONTRACT`` at
the top of the script, and a test holds the server to that list.

``POST /kill`` cancels a query from the page with the permission of the MySQL
``KILL``: with ``[[server.users]]`` configured the request needs HTTP Basic
credentials of one of those users, and killing another user's connection or query
needs that user's ``connection_admin`` privilege (403 otherwise, as the MySQL port
answers 1095); with none configured (the loopback-only default, where ``root`` has no
password and every privilege) only a client on this machine may, as only such a client
can log in to the MySQL port.

Reading the page and ``/status`` (:func:`check_view_permission`) follows the MySQL
port too: a client on this machine, naming the server by a loopback name, reads them
freely; any other client needs HTTP Basic credentials of a user with the ``process``
privilege (401/403 otherwise), and a server without users refuses it (403; the config
refuses a non-loopback HTTP listen address without users anyway). Statements in
``/status`` are always redacted (literals replaced by ``?``). ``/metrics`` and
``/healthz`` carry no statement text and stay open for scrapers and load balancers. Because it is a state-changing request on an admin page, it must also be
unforgeable by another site: a JSON body, a custom ``X-Requested-With`` header (a
cross-site form cannot send either without a CORS preflight, which this server never
grants), a same-origin ``Origin`` / ``Sec-Fetch-Site`` when the browser sends one, and,
without users, a loopback ``Host`` (so a DNS-rebinding page cannot pose as
``localhost``).

Killing a query id means what ``KILL QUERY`` on its connection means: when the query
belongs to a client connection's session, that session is cancelled
(``Session.cancel()``, the client sees ER_QUERY_INTERRUPTED); a query with no
connection (embedded use, a nested query) is cancelled in the executor
(``cancel_query``, like ``KILL QUERY ID``).

Invariant: every refusal is a :class:`KillRefused` carrying the HTTP status and a
message; nothing here blocks or raises anything else for any request bytes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol
from urllib.parse import urlsplit

from sharding.server.admin import SYSTEM, AdminSource, ConnectionInfo, Viewer
from sharding.server.auth import Authenticator, User, native_hash
from sharding.server.config import is_loopback

__all__ = [
    "ASSETS",
    "PAGE_HEADERS",
    "Asset",
    "KillRefused",
    "KillRequest",
    "Refused",
    "asset_body",
    "check_kill_permission",
    "check_view_permission",
    "kill_auth_mode",
    "parse_kill",
    "perform_kill",
]

#: Largest ``/kill`` body accepted (a JSON object with one id needs a few dozen bytes).
MAX_KILL_BODY = 4096
_MAX_ID = 2**63 - 1
#: The custom header a cross-site request cannot carry without a CORS preflight.
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "shardgate"


@dataclass(frozen=True, slots=True)
class Asset:
    file: str
    content_type: str


#: URL path → file in ``sharding/server/static``.
ASSETS: dict[str, Asset] = {
    "/": Asset("status.html", "text/html; charset=utf-8"),
    "/static/status.css": Asset("status.css", "text/css; charset=utf-8"),
    "/static/status.js": Asset("status.js", "text/javascript; charset=utf-8"),
}

#: Headers of the page and its assets: no inline script or foreign origin may run on an
#: admin page that can kill queries, and no other site may frame it (clickjacking).
PAGE_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-cache"),
)


@cache
def asset_body(file: str) -> bytes:
    """The bytes of one static file (read once; they ship inside the package)."""
    return resources.files("sharding.server").joinpath("static", file).read_bytes()


class Refused(Exception):
    """A request that is not answered: HTTP status, message, headers."""

    def __init__(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = tuple(headers)


class KillRefused(Refused):
    """A ``/kill`` request that is not carried out."""


_CHALLENGE = (("www-authenticate", 'Basic realm="shardgate", charset="UTF-8"'),)


def check_view_permission(
    headers: Mapping[str, str], peer_host: str | None, authenticator: Authenticator
) -> str | None:
    """Who may read the page and ``/status`` (module docstring): None for a local
    client under a loopback name, else the Basic-auth user having ``process``; else
    :class:`Refused` (401 with a challenge, or 403)."""
    local = peer_host is not None and is_loopback(peer_host)
    if local and _loopback_name(_host_name(headers.get("host", ""))):
        return None
    if authenticator.open_root:
        raise Refused(403, "the status is for this host only (no [[server.users]] configured)")
    creds = _basic_credentials(headers.get("authorization", ""))
    if creds is None:
        raise Refused(401, "the status needs the login of a [[server.users]] user", _CHALLENGE)
    name, password = creds
    if not verify_password(authenticator, name, password):
        raise Refused(401, f"access denied for user {name!r}", _CHALLENGE)
    if "process" not in authenticator.privileges_of(name):
        raise Refused(403, f"user {name!r} lacks the PROCESS privilege")
    return name


@dataclass(frozen=True, slots=True)
class KillRequest:
    """Exactly one of ``query_id`` (executor query) or ``connection_id`` is set."""

    query_id: int | None = None
    connection_id: int | None = None
    #: For a connection: KILL QUERY (True) or KILL CONNECTION (False).
    query_only: bool = True


class KillTarget(Protocol):
    """What a kill needs from the server (``MySQLServer`` is one)."""

    admin: AdminSource
    authenticator: Authenticator

    def connection_infos(self) -> list[ConnectionInfo]: ...

    def kill(self, connection_id: int, *, query_only: bool) -> bool: ...


def kill_auth_mode(authenticator: Authenticator) -> str:
    """``"basic"`` (users configured) or ``"loopback"`` (no users: local clients only)."""
    return "loopback" if authenticator.open_root else "basic"


def _host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:80`` → ``::1``)."""
    return urlsplit("//" + host_header).hostname or ""


def _same_origin(origin: str, host_header: str) -> bool:
    parts = urlsplit(origin)
    return (
        parts.scheme in ("http", "https")
        and bool(host_header)
        and (parts.netloc.lower() == host_header.lower())
    )


def verify_password(authenticator: Authenticator, name: str, password: str) -> bool:
    """True when ``name``/``password`` is a configured user; constant time with respect
    to the password, and the same work for an unknown user."""
    user = authenticator.users.get(name)
    known = user is not None
    if user is None:
        user = User("", password="\0unknown\0")
    if user.password is not None:
        ok = hmac.compare_digest(user.password.encode("utf-8"), password.encode("utf-8"))
    else:
        ok = hmac.compare_digest(native_hash(password), user.native_stage2 or b"")
    return ok and known


def _basic_credentials(value: str) -> tuple[str, str] | None:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


def check_kill_permission(
    headers: Mapping[str, str], peer_host: str | None, authenticator: Authenticator
) -> str:
    """The user allowed to kill (``"root"`` on a user-less server), or KillRefused.

    ``headers`` has lower-case names.
    """
    if headers.get(CSRF_HEADER, "").strip().lower() != CSRF_VALUE:
        raise KillRefused(403, f"missing header X-Requested-With: {CSRF_VALUE}")
    host = headers.get("host", "")
    origin = headers.get("origin")
    if origin is not None and not _same_origin(origin, host):
        raise KillRefused(403, "cross-origin request refused")
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise KillRefused(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
    if authenticator.open_root:
        # No passwords anywhere: as on the MySQL port, only this machine may act, and
        # only under a loopback name (a rebound DNS name would pass the origin check).
        if peer_host is None or not is_loopback(peer_host):
            raise KillRefused(403, "KILL from the page needs [[server.users]] off this host")
        if not _loopback_name(_host_name(host)):
            raise KillRefused(403, "KILL without users needs a loopback Host (127.0.0.1)")
        return "root"
    challenge = _CHALLENGE
    creds = _basic_credentials(headers.get("authorization", ""))
    if creds is None:
        raise KillRefused(401, "KILL needs the login of a [[server.users]] user", challenge)
    name, password = creds
    if not verify_password(authenticator, name, password):
        raise KillRefused(401, f"access denied for user {name!r}", challenge)
    return name


def _loopback_name(host: str) -> bool:
    """A literal loopback address or ``localhost`` — no DNS lookup (that is the point)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        raise KillRefused(400, f"{what} must be a positive integer, not {value!r}")
    return value


def parse_kill(body: bytes, content_type: str) -> KillRequest:
    """A ``/kill`` body: ``{"query_id": N}`` or ``{"connection_id": N, "query_only": B}``."""
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise KillRefused(415, "send the kill as application/json")
    if len(body) > MAX_KILL_BODY:
        raise KillRefused(413, "kill request too large")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise KillRefused(400, "the kill body is not valid JSON") from None
    if not isinstance(data, dict):
        raise KillRefused(400, 'expected {"query_id": N} or {"connection_id": N}')
    unknown = set(data) - {"query_id", "connection_id", "query_only"}
    if unknown:
        raise KillRefused(400, f"unknown keys {sorted(unknown)}")
    if ("query_id" in data) == ("connection_id" in data):
        raise KillRefused(400, "give exactly one of query_id and connection_id")
    if "query_id" in data:
        if "query_only" in data:
            raise KillRefused(400, "query_only goes with connection_id")
        return KillRequest(query_id=_id(data["query_id"], "query_id"))
    query_only = data.get("query_only", True)
    if not isinstance(query_only, bool):
        raise KillRefused(400, f"query_only must be true or false, not {query_only!r}")
    return KillRequest(
        connection_id=_id(data["connection_id"], "connection_id"), query_only=query_only
    )


def _session_key(session: object) -> object:
    # The same normalisation as SHOW PROCESSLIST: a session object or its id.
    return getattr(session, "id", session)


def _owner_check(target: KillTarget, viewer: Viewer, request: KillRequest) -> None:
    """KillRefused(403) when ``viewer`` lacks ``connection_admin`` and the connection
    or query is not one of its own (404 when the connection does not exist)."""
    if viewer.may("connection_admin"):
        return
    infos = target.connection_infos()
    if request.connection_id is not None:
        cid = request.connection_id
        info = next((c for c in infos if c.id == cid), None)
        if info is None:
            raise KillRefused(404, f"Unknown thread id: {cid}")
        if info.user != viewer.user:
            raise KillRefused(403, f"You are not owner of thread {cid}")
        return
    qid = request.query_id
    query = next((q for q in target.admin.queries() if getattr(q, "id", None) == qid), None)
    if query is None:
        raise KillRefused(404, f"Unknown query id: {qid}")
    session = getattr(query, "session", None)
    key = _session_key(session) if session is not None else None
    owner = next((c.user for c in infos if key is not None and c.session_id == key), None)
    if owner != viewer.user:
        raise KillRefused(403, f"You are not owner of query {qid}")


def perform_kill(
    target: KillTarget, request: KillRequest, viewer: Viewer = SYSTEM
) -> dict[str, Any]:
    """Carry out a kill that ``viewer`` may do; what was killed, or KillRefused (404
    unknown, 403 another user's without ``connection_admin``)."""
    _owner_check(target, viewer, request)
    if request.connection_id is not None:
        cid = request.connection_id
        if not target.kill(cid, query_only=request.query_only):
            raise KillRefused(404, f"Unknown thread id: {cid}")
        return {
            "killed": "query" if request.query_only else "connection",
            "connection_id": cid,
            "via": "connection",
        }
    qid = request.query_id
    assert qid is not None
    query = next((q for q in target.admin.queries() if getattr(q, "id", None) == qid), None)
    if query is None:
        raise KillRefused(404, f"Unknown query id: {qid}")
    session = getattr(query, "session", None)
    if getattr(query, "parent_id", None) is None and session is not None:
        key = _session_key(session)
        for conn in target.connection_infos():
            # Only a connection busy with a statement can cancel it; an idle one (a
            # query that outlived its statement) is left to the executor below.
            matches = conn.session_id is not None and conn.session_id == key
            if matches and conn.command != "Sleep" and target.kill(conn.id, query_only=True):
                return {
                    "killed": "query",
                    "query_id": qid,
                    "connection_id": conn.id,
                    "via": "connection",
                }
    if target.admin.cancel_query(qid):
        return {"killed": "query", "query_id": qid, "connection_id": None, "via": "executor"}
    raise KillRefused(404, f"Unknown query id: {qid}")
