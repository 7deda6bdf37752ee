"""Where loads and replays connect: address parsing, the loopback guard, connections.

Loads and replays talk only to loopback targets (127.0.0.0/8, ::1, ``localhost``)
unless the user passes ``--allow-remote``: these tools generate heavy load and are
never meant to be pointed at another host by accident. A host name counts as loopback
only when every address it resolves to is loopback.

Connections are aiomysql connections in autocommit mode on the caller's asyncio loop
(the replayer owns its loop; see :mod:`sharding.trace.replay`). Errors are reduced to
a report key by :func:`error_key`: the MySQL error number when there is one
(``"1064"``, ``"2013"``), ``"client-timeout"`` for a statement that exceeded the
replay's ``--query-timeout``, else the exception's class name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import aiomysql  # type: ignore[import-untyped]
import pymysql  # type: ignore[import-untyped]

__all__ = [
    "BROKEN_CONNECTION_CODES",
    "Endpoint",
    "QuietCursor",
    "TargetError",
    "connect",
    "connection_is_broken",
    "error_key",
    "error_message",
    "is_loopback",
    "parse_endpoint",
]

#: Client-side codes after which the connection cannot be reused (CR_* errors).
BROKEN_CONNECTION_CODES = frozenset({2003, 2006, 2013, 2014, 2055})


class TargetError(ValueError):
    """A target address is malformed or not allowed; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    """A MySQL-protocol endpoint and the credentials to use there."""

    host: str
    port: int
    user: str = "root"
    password: str = ""
    database: str | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """True when ``host`` is, or resolves only to, loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(i[4][0])).is_loopback for i in infos)


def parse_endpoint(
    text: str,
    *,
    what: str = "--target",
    allow_remote: bool = False,
    user: str = "root",
    password: str = "",
    database: str | None = None,
    default_port: int | None = None,
) -> Endpoint:
    """``HOST:PORT`` (``[::1]:3307`` for IPv6) → :class:`Endpoint`, loopback-checked."""
    raw = text.strip()
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    else:
        host, port_text = raw, ""
    if not host:
        raise TargetError(f"{what} {text!r}: missing host (expected HOST:PORT)")
    if not port_text:
        if default_port is None:
            raise TargetError(f"{what} {text!r}: missing port (expected HOST:PORT)")
        port = default_port
    else:
        try:
            port = int(port_text)
        except ValueError:
            raise TargetError(f"{what} {text!r}: port is not a number") from None
    if not 0 < port < 65536:
        raise TargetError(f"{what} {text!r}: port out of range")
    if not allow_remote and not is_loopback(host):
        raise TargetError(
            f"{what} {text!r} is not a loopback address; these tools only talk to "
            "127.0.0.1/localhost unless --allow-remote is given"
        )
    return Endpoint(host, port, user, password, database)


class QuietCursor(aiomysql.Cursor):  # type: ignore[misc]
    """A cursor that skips aiomysql's ``SHOW WARNINGS`` after a statement with warnings.

    aiomysql sends an extra round trip and raises a Python warning per server warning;
    a replay measures the statement, not that bookkeeping.
    """

    async def _show_warnings(self, conn: Any) -> None:
        return None


async def connect(ep: Endpoint, *, connect_timeout: float = 10.0) -> Any:
    """An autocommit aiomysql connection to ``ep`` on the running asyncio loop."""
    kwargs: dict[str, Any] = {
        "host": ep.host,
        "port": ep.port,
        "user": ep.user,
        "password": ep.password,
        "autocommit": True,
        "charset": "utf8mb4",
        "connect_timeout": connect_timeout,
        "cursorclass": QuietCursor,
    }
    if ep.database:
        kwargs["db"] = ep.database
    return await aiomysql.connect(**kwargs)


def error_key(exc: BaseException) -> str:
    """The report key of a failed statement (see the module docstring)."""
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return str(exc.args[0])
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "client-timeout"
    if isinstance(exc, ConnectionError | OSError):
        return "2013"  # the server went away mid-statement: CR_SERVER_LOST
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) >= 2:
        return str(exc.args[1])
    return str(exc) or type(exc).__name__


def connection_is_broken(exc: BaseException) -> bool:
    """After ``exc``, must the connection be dropped (rather than reused)?"""
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
        # server errors are 1000..1999 (and 3000+ on MySQL 8) and leave the connection
        # usable; 0 is aiomysql's "not connected", 2000..2999 are client-side CR_* errors
        return code < 1000 or 2000 <= code < 3000 or code in BROKEN_CONNECTION_CODES
    # timeouts, cancellations, socket errors, driver bugs: the wire state is unknown
    return True
