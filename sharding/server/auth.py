"""Client authentication: ``mysql_native_password`` and ``caching_sha2_password`` fast auth.

Users come from ``[[server.users]]`` (``name`` + ``password``, or ``password_hash``: the
``*HEX`` form of ``mysql.user``, which allows only ``mysql_native_password``). With no
users configured, ``root`` with an empty password is the only account, and the server
refuses to start on a non-loopback address (see :mod:`sharding.server.config`).

Because the server knows each password (or its native hash), caching_sha2_password
always completes with *fast auth* (the scramble is verified directly); the RSA / TLS
"full auth" exchange is never needed. A user with only a native hash is switched to
mysql_native_password with an AuthSwitchRequest.

Privileges (``privileges = [...]`` in a ``[[server.users]]`` table) decide what a user
may see and do beyond its own connections, as MySQL's dynamic privileges do:

* ``process`` — see every connection (and its statement) in ``SHOW PROCESSLIST`` and
  ``information_schema.PROCESSLIST``, and read ``/status`` from off the machine;
* ``connection_admin`` — ``KILL`` other users' connections and queries (also ``POST
  /kill`` on the HTTP port);
* ``admin`` — admin SQL: ``SHOW THREAD_POOL_STATUS``, ``SHOW DATASOURCES``, ``SHOW
  SHARDS``;
* ``super`` or ``all`` — every privilege.

``root`` has every privilege unless its entry names others; every other user has none
unless granted (least privilege): it sees and kills only its own connections.
``require_tls = true`` on a user refuses its logins over plain TCP (1045, as MySQL's
``REQUIRE SSL``).

Invariant: verification runs in constant time with respect to the password
(``hmac.compare_digest``) and never raises for any byte string the client sends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ALL_PRIVILEGES",
    "CACHING_SHA2",
    "NATIVE",
    "PRIVILEGES",
    "Authenticator",
    "User",
    "make_nonce",
    "native_hash",
    "scramble_native",
    "scramble_sha2",
]

NATIVE = "mysql_native_password"
CACHING_SHA2 = "caching_sha2_password"

#: Privilege names a ``[[server.users]]`` entry may grant (module docstring).
PRIVILEGES = ("process", "connection_admin", "admin")
ALL_PRIVILEGES = frozenset(PRIVILEGES)
#: Names that grant every privilege.
_ALL_ALIASES = ("super", "all")


def parse_privileges(name: str, raw: object) -> frozenset[str]:
    """The ``privileges`` of one user entry (a list of names, case-insensitive)."""
    if raw is None:
        return ALL_PRIVILEGES if name == "root" else frozenset()
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise ValueError(f"[[server.users]] {name!r}: 'privileges' must be a list of names")
    out: set[str] = set()
    for p in raw:
        key = p.strip().lower()
        if key in _ALL_ALIASES:
            out |= ALL_PRIVILEGES
        elif key in ALL_PRIVILEGES:
            out.add(key)
        else:
            known = ", ".join((*PRIVILEGES, *_ALL_ALIASES))
            raise ValueError(f"[[server.users]] {name!r}: unknown privilege {p!r} (known: {known})")
    return frozenset(out)


def _sha1(b: bytes) -> bytes:
    return hashlib.sha1(b).digest()


def _sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def make_nonce() -> bytes:
    """20 random bytes without NUL or '$' (some clients treat them specially): printable
    ASCII 33–126, uniform (a random byte below 188 = 2 × 94 taken modulo 94), drawn in
    one call (a call per byte was ~0.1 ms of every connection's handshake)."""
    out = bytearray()
    while len(out) < 20:
        for b in secrets.token_bytes(40):
            if b < 188:
                c = 33 + b % 94
                if c != 36:  # '$'
                    out.append(c)
    return bytes(out[:20])


def native_hash(password: str) -> bytes:
    """SHA1(SHA1(password)): what mysql.user stores as ``*HEX``."""
    return _sha1(_sha1(password.encode("utf-8")))


def scramble_native(password: str, nonce: bytes) -> bytes:
    """What a client sends for mysql_native_password (used by tests)."""
    if not password:
        return b""
    stage1 = _sha1(password.encode("utf-8"))
    return _xor(stage1, _sha1(nonce + _sha1(stage1)))


def scramble_sha2(password: str, nonce: bytes) -> bytes:
    """What a client sends for caching_sha2_password (used by tests)."""
    if not password:
        return b""
    p1 = _sha256(password.encode("utf-8"))
    return _xor(p1, _sha256(_sha256(p1) + nonce))


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password: str | None = None
    #: SHA1(SHA1(password)); derived from ``password`` when that is given.
    native_stage2: bytes | None = None
    #: What the user may do beyond its own connections (module docstring).
    privileges: frozenset[str] = frozenset()
    #: Refuse this user's logins without TLS.
    require_tls: bool = False

    @classmethod
    def from_config(cls, entry: dict[str, object]) -> User:
        """One ``[[server.users]]`` table: ``name`` and ``password`` or ``password_hash``."""
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("[[server.users]] entry needs a non-empty 'name'")
        unknown = set(entry) - {"name", "password", "password_hash", "privileges", "require_tls"}
        if unknown:
            raise ValueError(f"[[server.users]] {name!r}: unknown keys {sorted(unknown)}")
        privileges = parse_privileges(name, entry.get("privileges"))
        require_tls = entry.get("require_tls", False)
        if not isinstance(require_tls, bool):
            raise ValueError(f"[[server.users]] {name!r}: 'require_tls' must be true or false")
        password = entry.get("password")
        phash = entry.get("password_hash")
        if password is not None and not isinstance(password, str):
            raise ValueError(f"[[server.users]] {name!r}: 'password' must be a string")
        if phash is not None:
            if password is not None:
                raise ValueError(f"[[server.users]] {name!r}: give password or password_hash")
            if not isinstance(phash, str) or not phash.startswith("*") or len(phash) != 41:
                raise ValueError(
                    f"[[server.users]] {name!r}: password_hash must be '*' + 40 hex digits"
                )
            try:
                stage2 = bytes.fromhex(phash[1:])
            except ValueError as exc:
                raise ValueError(f"[[server.users]] {name!r}: bad password_hash") from exc
            return cls(
                name=name, native_stage2=stage2, privileges=privileges, require_tls=require_tls
            )
        return cls(
            name=name, password=password or "", privileges=privileges, require_tls=require_tls
        )

    @property
    def empty_password(self) -> bool:
        return self.password == "" and self.native_stage2 is None


class Authenticator:
    """Checks scrambles against the configured users."""

    def __init__(self, users: Iterable[User] = ()) -> None:
        self.users = {u.name: u for u in users}
        #: No users configured: root with an empty password (loopback-only server).
        self.open_root = not self.users
        if self.open_root:
            self.users = {"root": User("root", "", privileges=ALL_PRIVILEGES)}

    def privileges_of(self, user: str) -> frozenset[str]:
        """The privileges of a configured user (none for an unknown name)."""
        u = self.users.get(user)
        return u.privileges if u is not None else frozenset()

    def requires_tls(self, user: str) -> bool:
        u = self.users.get(user)
        return u is not None and u.require_tls

    def plugin_for(self, user: str, requested: str | None) -> str:
        """The plugin to verify ``user`` with, given the one the client used."""
        u = self.users.get(user)
        if requested == CACHING_SHA2 and (u is None or u.password is not None):
            return CACHING_SHA2
        return NATIVE

    def verify(self, plugin: str, user: str, nonce: bytes, response: bytes) -> bool:
        u = self.users.get(user)
        # Compare against a dummy when the user is unknown: same work, same answer time.
        if u is None:
            u = User("", password="\0unknown\0")
            known = False
        else:
            known = True
        if plugin == CACHING_SHA2:
            ok = self._verify_sha2(u, nonce, response)
        else:
            ok = self._verify_native(u, nonce, response)
        return ok and known

    @staticmethod
    def _verify_native(u: User, nonce: bytes, response: bytes) -> bool:
        stage2 = u.native_stage2
        if stage2 is None:
            if not u.password:
                return response == b""
            stage2 = native_hash(u.password)
        if len(response) != 20:
            return False
        stage1 = _xor(response, _sha1(nonce + stage2))
        return hmac.compare_digest(_sha1(stage1), stage2)

    @staticmethod
    def _verify_sha2(u: User, nonce: bytes, response: bytes) -> bool:
        if u.password is None:
            return False
        if not u.password:
            # Some clients send a single NUL for an empty password.
            return response in (b"", b"\0")
        if len(response) != 32:
            return False
        p1 = _sha256(u.password.encode("utf-8"))
        expected = _xor(p1, _sha256(_sha256(p1) + nonce))
        return hmac.compare_digest(expected, response)
