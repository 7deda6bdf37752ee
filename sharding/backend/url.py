"""Parse ``mysql://user:password@host:port[/database][?options]`` data-source URLs.

Written by hand because the standard library's ``urllib.parse`` already does the
splitting; what remains is validation with errors a user can act on (wrong scheme,
bad port, stray options) and percent-decoding of the credentials.

Invariant: :func:`parse_mysql_url` either returns a complete :class:`MySQLURL` or raises
``ValueError`` whose message quotes the URL with its password masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = ("mysql", "mariadb")


@dataclass(frozen=True, slots=True)
class MySQLURL:
    host: str
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)
    database: str | None = None
    unix_socket: str | None = None

    def masked(self) -> str:
        """The URL as text with the password hidden (safe for logs and errors)."""
        auth = self.user + (":***" if self.password else "")
        db = f"/{self.database}" if self.database else ""
        return f"mysql://{auth}@{self.host}:{self.port}{db}"


def _mask(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def parse_mysql_url(url: str) -> MySQLURL:
    """Parse a MySQL URL. Only option understood: ``unix_socket=/path``."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"MySQL url must be a non-empty string, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"MySQL url {_mask(url)!r}: scheme must be one of {', '.join(SCHEMES)}")
    try:
        port = parts.port or 3306
    except ValueError as exc:
        raise ValueError(f"MySQL url {_mask(url)!r}: bad port ({exc})") from None
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unix_socket = options.pop("unix_socket", None)
    if options:
        raise ValueError(
            f"MySQL url {_mask(url)!r}: unknown option(s) {', '.join(sorted(options))}"
        )
    host = parts.hostname or ("localhost" if unix_socket else "")
    if not host:
        raise ValueError(f"MySQL url {_mask(url)!r}: missing host")
    database = parts.path.lstrip("/") or None
    if database and "/" in database:
        raise ValueError(f"MySQL url {_mask(url)!r}: bad database name {database!r}")
    return MySQLURL(
        host=host,
        port=port,
        user=unquote(parts.username) if parts.username else "root",
        password=unquote(parts.password) if parts.password else "",
        database=database,
        unix_socket=unix_socket,
    )
