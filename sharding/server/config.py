"""``[server]`` configuration of the MySQL protocol server (TOML), validated up front.

    [server]
    listen = "127.0.0.1:3307"
    admin_listen = "127.0.0.1:3308"     # optional extra port, outside the buckets
    http = "127.0.0.1:8080"             # optional /metrics, /status, /healthz
    control_listen = "127.0.0.1:0"      # peer coordinators' KILL/PROCESSLIST (instances.py)
    control_advertise = "10.0.0.5:3309" # the address peers use, if not the bound one
    max_connections = 4096
    max_packet_size = 67108864          # max_allowed_packet
    wait_timeout = 28800                # idle timeout (seconds)
    net_read_timeout = 30               # a packet must keep arriving (seconds)
    net_write_timeout = 60              # a client must keep reading (seconds)
    shutdown_timeout = 30               # SIGTERM: let statements finish this long
    long_query_time = 10                # slow-query log threshold (seconds)
    log_statement_text = false          # true: log statements with literal values
    default_database = "db"             # for clients that name no database
    tls_cert = "server.pem"             # optional TLS
    tls_key = "server.key"
    require_tls = false                 # true: refuse every login without TLS (3159)

    [[server.users]]
    name = "app"
    password = "secret"                 # or password_hash = "*<40 hex>"
    privileges = ["process"]            # process, connection_admin, admin, super/all
    require_tls = false                 # true: refuse this user without TLS (1045)

Invariant: a config that validated never makes the server listen on a non-loopback
address (MySQL, admin or HTTP port) without a password-protected user, and never asks
for TLS it cannot offer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from sharding.server.auth import User

__all__ = ["ConfigError", "ServerConfig", "is_loopback", "parse_hostport"]

DEFAULT_SERVER_VERSION = "8.0.36-shardgate"


class ConfigError(ValueError):
    """A bad ``[server]`` section; the message names the key."""


def parse_hostport(value: str, *, what: str, default_port: int | None = None) -> tuple[str, int]:
    """``"127.0.0.1:3307"`` / ``"[::1]:3307"`` / ``":3307"`` → (host, port)."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif text.isdigit():
        host, port_text = "", text
    else:
        host, port_text = text, ""
    host = host or "127.0.0.1"
    if not port_text:
        if default_port is None:
            raise ConfigError(f"{what}: {value!r} needs a port (host:port)")
        return host, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"{what}: bad port in {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{what}: port out of range in {value!r}")
    return host, port


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(
            ipaddress.ip_address(str(info[4][0])).is_loopback for info in infos
        )


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:3307"
    admin_listen: str | None = None
    http: str | None = None
    users: tuple[User, ...] = ()
    max_connections: int = 4096
    admin_max_connections: int = 64
    max_packet_size: int = 64 << 20
    wait_timeout: float = 28800.0
    #: MySQL's net_read_timeout: a command packet that started arriving must keep
    #: arriving (no byte for this long ends the connection).
    net_read_timeout: float = 30.0
    #: MySQL's net_write_timeout: a client that reads nothing of a response for this
    #: long is disconnected (its statement cancelled).
    net_write_timeout: float = 60.0
    connect_timeout: float = 10.0
    shutdown_timeout: float = 30.0
    server_version: str = DEFAULT_SERVER_VERSION
    #: Database of a client that names none (the CLI sets the cluster's default).
    default_database: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    #: Refuse every login that did not switch to TLS (MySQL's require_secure_transport).
    require_tls: bool = False
    #: Statements at least this slow (seconds) go to the slow-query log (MySQL's default).
    long_query_time: float = 10.0
    #: Log statements with their literal values (default: literals shown as ``?``).
    log_statement_text: bool = False
    #: Where other coordinators sharing the catalog reach this one for KILL and
    #: PROCESSLIST (sharding.server.instances; only with a catalog on MySQL). Port 0:
    #: any free port (it is published in the catalog's instance registry).
    control_listen: str = "127.0.0.1:0"
    #: The control address written to the registry, when the bound one is not what
    #: peers can reach (a wildcard bind, NAT); default: the bound address.
    control_advertise: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ServerConfig:
        known = {f.name for f in fields(cls)} - {"users"}
        unknown = set(data) - known - {"users"}
        if unknown:
            raise ConfigError(f"[server]: unknown keys {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for key in known & set(data):
            kwargs[key] = data[key]
        users_raw = data.get("users", [])
        if not isinstance(users_raw, list):
            raise ConfigError("[[server.users]] must be an array of tables")
        try:
            kwargs["users"] = tuple(User.from_config(dict(u)) for u in users_raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(str(exc)) from exc
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    def with_overrides(self, **changes: Any) -> ServerConfig:
        cfg = replace(self, **{k: v for k, v in changes.items() if v is not None})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for name in ("max_connections", "admin_max_connections", "max_packet_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"[server] {name} must be a positive integer, not {v!r}")
        if self.max_packet_size < 1024:
            raise ConfigError("[server] max_packet_size must be at least 1024")
        for name in (
            "wait_timeout",
            "connect_timeout",
            "shutdown_timeout",
            "net_read_timeout",
            "net_write_timeout",
        ):
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"[server] {name} must be a positive number, not {v!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("[server] tls_cert and tls_key go together")
        if not isinstance(self.require_tls, bool):
            raise ConfigError("[server] require_tls must be true or false")
        if not isinstance(self.log_statement_text, bool):
            raise ConfigError("[server] log_statement_text must be true or false")
        lqt = self.long_query_time
        if not isinstance(lqt, int | float) or isinstance(lqt, bool) or lqt < 0:
            raise ConfigError(f"[server] long_query_time must be a number >= 0, not {lqt!r}")
        tls_users = [u.name for u in self.users if u.require_tls]
        if (self.require_tls or tls_users) and self.tls_cert is None:
            what = "[server] require_tls" if self.require_tls else f"users {tls_users}"
            raise ConfigError(f"{what} needs TLS: set [server] tls_cert and tls_key")
        names = [u.name for u in self.users]
        if len(names) != len(set(names)):
            raise ConfigError("[[server.users]]: duplicate user names")
        if self.control_advertise is not None:
            if not isinstance(self.control_advertise, str):
                raise ConfigError("[server] control_advertise must be a 'host:port' string")
            parse_hostport(
                self.control_advertise, what="[server] control_advertise", default_port=0
            )
        if not isinstance(self.control_listen, str):
            raise ConfigError("[server] control_listen must be a 'host:port' string")
        # Not in the password rule below: control requests are authenticated by the
        # registry's per-instance secret, not by [[server.users]].
        parse_hostport(self.control_listen, what="[server] control_listen")
        for what in ("listen", "admin_listen", "http"):
            addr = getattr(self, what)
            if addr is None:
                continue
            if not isinstance(addr, str):
                raise ConfigError(f"[server] {what} must be a 'host:port' string")
            host, _ = parse_hostport(addr, what=f"[server] {what}")
            # The HTTP port too: /status shows every connection's statement.
            if not is_loopback(host) and not self.has_password:
                raise ConfigError(
                    f"[server] {what} = {addr!r} is not a loopback address: configure "
                    "[[server.users]] with a password first"
                )

    @property
    def has_password(self) -> bool:
        return bool(self.users) and all(not u.empty_password for u in self.users)
