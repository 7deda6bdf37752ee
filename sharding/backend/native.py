"""A trio-native MySQL/MariaDB client connection (issue 16): no asyncio, no thread hop.

The client side of the MySQL protocol on a trio stream — the subset the backend uses:

* handshake v10 with ``mysql_native_password`` and ``caching_sha2_password`` (fast
  path; full authentication with the password in clear over TLS, or encrypted with the
  server's RSA public key, RSA-OAEP written here on ``pow`` because the stack has no
  crypto library), auth switch requests, TLS (``SSLRequest`` + :class:`trio.SSLStream`);
* ``COM_QUERY`` with text result sets (``MORE_RESULTS_EXISTS`` followed: every result
  of a multi-statement packet or a ``CALL`` is read before the command ends),
  ``COM_PING``, ``COM_SET_OPTION`` (multi-statements on/off for ``execute_many``),
  ``COM_QUIT``; ``KILL QUERY`` is sent on a second connection (:meth:`NativeConnector.kill_query`);
* payloads ≥ 16 MiB split on send and joined on receive.

Framing and sequence ids are the project's own codec
(:class:`sharding.server.codec.PacketCodec`, used as is: the client runs the same
sequence-id rule as the server), and payload reading its :class:`PayloadReader`.

Same values as the aiomysql path. Capabilities are aiomysql's (PyMySQL's
``CLIENT.CAPABILITIES``, no ``FOUND_ROWS``, no ``MULTI_STATEMENTS``: the backend clears
it, see :mod:`sharding.backend.mysql`), plus ``DEPRECATE_EOF`` when the server has it
(one packet less per result; nothing observable changes). Row values are converted the
way aiomysql converts them — the choice of text encoding and converter per column is
computed from PyMySQL's own tables (``TEXT_TYPES``, ``converters.decoders``), so a type
is bytes, str, int, Decimal, float, date, datetime or timedelta exactly when aiomysql
makes it one (zero dates stay the strings aiomysql returns); integers and floats skip
the ASCII decode (``int(b"42")`` is ``int("42")``). A row is parsed value by value from
length-encoded strings with bounds checks: a malformed row raises a client error
(2027) and the connection is closed, never an IndexError and never a wrong value.
Server errors are PyMySQL's exception classes (``pymysql.err``, by code, as aiomysql
raises them) carrying the packet's own SQLSTATE, so :func:`sharding.backend.mysql.map_error`
maps them unchanged; lost connections are ``OperationalError(2013)``.

Invariants:

* One runtime: a connection belongs to the ``trio.run`` that opened it. Any use from
  another run raises :class:`WrongRuntime` at once, before touching the socket.
* Never reused dirty: a command that does not end with its final packet read — trio
  cancellation, a timeout, a lost or malformed stream — closes the socket at once
  (synchronously) and marks the connection broken; every later call raises. Only a
  server error packet (which ends the command) leaves the connection usable.
* One command at a time: a second task using the connection while a command is on the
  wire raises (trio's stream would raise too; the message is clearer).

Cost, by measurement (``bench.driver_overhead`` cells against a private mariadbd,
every cell in a fresh process, cases interleaved, median of 5; the 1000-row column
from a full ``--repeat 3`` run; the machine was shared, load average 6–14, so read the
ratios). CPU µs per query (user + system, every thread):

================================  ==========  ==========  ==========  ==========  ==========
case                              seq. point  seq. 1 row  16 tasks,   16 tasks,   seq. 1000
                                  (SELECT 1)              point       1 row       rows
================================  ==========  ==========  ==========  ==========  ==========
raw aiomysql (asyncio)            32          46          30          44          2888
raw native (trio)                 26          34          26          33          1446
backend, thread bridge, aiomysql  107         128         63          75          3005
backend, native                   46          58          49          50          1523
================================  ==========  ==========  ==========  ==========  ==========

So ``driver = "native"`` cuts the backend's CPU per point query by more than half
when sequential (the thread hop is gone; ~20 µs remain for pool, lease and admin
bookkeeping above the raw connection) and by ~20–35 % at 16-way concurrency, where the
bridge already batches wake-ups; rows parse in half aiomysql's time. asyncmy's
compiled row parser stays ~10× faster on 1000-row chunks (118 µs raw in the same run):
the pure-Python per-value loop here costs ~1.4 µs per row of three columns. What
remains per query is the protocol work: one ``send_all`` and usually one
``receive_some``; column definitions are cached by their bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

import pymysql.err as pe  # type: ignore[import-untyped]
import trio
from pymysql.connections import TEXT_TYPES  # type: ignore[import-untyped]
from pymysql.constants import CLIENT  # type: ignore[import-untyped]
from pymysql.converters import (  # type: ignore[import-untyped]
    convert_date,
    convert_datetime,
    convert_timedelta,
    decoders,
)

from sharding.backend.base import Column, ColumnType
from sharding.backend.bridge import BridgeError
from sharding.server.codec import (
    PacketCodec,
    PayloadReader,
    ProtocolError,
    lenenc_bytes,
)
from sharding.server.constants import (
    CHARSET_UTF8MB4,
    MAX_PACKET_PAYLOAD,
    Capability,
    Command,
    FieldType,
    ServerStatus,
)
from sharding.server.generated import GeneratedFunctions, compile_function

__all__ = [
    "NativeConnection",
    "NativeConnector",
    "NativeResult",
    "NativeStream",
    "WrongRuntime",
    "parse_payloads",
    "parse_rsa_public_key",
    "rsa_oaep_encrypt",
    "scramble_caching_sha2",
    "scramble_native_password",
]

#: What the client asks for: PyMySQL's/aiomysql's set (see the module docstring).
BASE_CAPABILITIES = int(CLIENT.CAPABILITIES)
#: Largest logical packet accepted from the server (its ``max_allowed_packet`` maximum).
MAX_RECEIVE_PACKET = 1 << 30
#: Bytes asked from the socket per read.
RECEIVE_SIZE = 1 << 18
#: Seconds a clean usable() poll is reused by the next usable() with no command in
#: between (the pool's checkout, then the statement's own check).
POLL_REUSE = 0.005

#: Plain ints for the per-query tests (IntFlag arithmetic costs a microsecond each).
_MORE_RESULTS = int(ServerStatus.MORE_RESULTS_EXISTS)
_DEPRECATE_EOF = int(Capability.DEPRECATE_EOF)
#: Column definitions seen (payload → parsed), so repeated result shapes skip parsing.
COLUMN_CACHE_SIZE = 4096
_column_cache: dict[bytes, tuple[Column, Converter]] = {}

_CR_SERVER_GONE = 2006
_CR_CONN_HOST_ERROR = 2003
_CR_SERVER_LOST = 2013
_CR_MALFORMED = 2027
_CR_COMMANDS_OUT_OF_SYNC = 2014
_CR_AUTH_PLUGIN = 2059


class WrongRuntime(BridgeError):
    """A native connection was used from a ``trio.run`` other than the one that opened it
    (it is a :class:`BridgeError`, so the backend reports it as the data source being
    unavailable, like the bridge's own one-runtime refusal)."""


def _lost(what: str = "during query") -> pe.OperationalError:
    return pe.OperationalError(_CR_SERVER_LOST, f"Lost connection to MySQL server {what}")


def _malformed(detail: str) -> pe.OperationalError:
    return pe.OperationalError(_CR_MALFORMED, f"Malformed packet: {detail}")


def server_error(payload: bytes) -> pe.MySQLError:
    """The PyMySQL exception aiomysql raises for this ERR packet, with its SQLSTATE."""
    if len(payload) < 3:
        return _malformed("short error packet")
    (code,) = struct.unpack_from("<H", payload, 1)
    sqlstate = None
    if len(payload) >= 9 and payload[3] == 0x23:  # '#'
        sqlstate = payload[4:9].decode("ascii", "replace")
        message = payload[9:].decode("utf-8", "replace")
    else:
        message = payload[3:].decode("utf-8", "replace")
    cls = pe.error_map.get(code) or (pe.InternalError if code < 1000 else pe.OperationalError)
    exc: pe.MySQLError = cls(code, message, sqlstate=sqlstate)
    return exc


class _ServerError(Exception):
    """Internal wrapper: the command ended with an ERR packet (connection still clean)."""

    def __init__(self, exc: pe.MySQLError) -> None:
        super().__init__(exc)
        self.exc = exc


# -- authentication ------------------------------------------------------------------------


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def scramble_native_password(password: bytes, nonce: bytes) -> bytes:
    """SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))); empty for no password."""
    if not password:
        return b""
    stage1 = hashlib.sha1(password).digest()
    stage2 = hashlib.sha1(stage1).digest()
    return _xor(stage1, hashlib.sha1(nonce[:20] + stage2).digest())


def scramble_caching_sha2(password: bytes, nonce: bytes) -> bytes:
    """SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce); empty for none."""
    if not password:
        return b""
    p1 = hashlib.sha256(password).digest()
    p2 = hashlib.sha256(p1).digest()
    return _xor(p1, hashlib.sha256(p2 + nonce[:20]).digest())


def _der(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start, end) of the DER element with ``tag`` at ``pos``; ValueError otherwise."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError("not an RSA public key")
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > len(data):
            raise ValueError("not an RSA public key")
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    if pos + n > len(data):
        raise ValueError("not an RSA public key")
    return pos, pos + n


def parse_rsa_public_key(pem: bytes) -> tuple[int, int]:
    """(modulus, exponent) of a PEM RSA public key (SubjectPublicKeyInfo, as MySQL sends
    it, or PKCS#1 ``RSA PUBLIC KEY``)."""
    lines = [ln.strip() for ln in pem.strip().splitlines()]
    if len(lines) < 3 or not lines[0].startswith(b"-----BEGIN"):
        raise ValueError("not a PEM public key")
    der = base64.b64decode(b"".join(ln for ln in lines[1:] if not ln.startswith(b"-----")))
    start = _der(der, 0, 0x30)[0]
    if b"RSA PUBLIC KEY" not in lines[0]:
        algo_start, algo_end = _der(der, start, 0x30)  # AlgorithmIdentifier
        if b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01" not in der[algo_start:algo_end]:
            raise ValueError("not an RSA public key")
        bits_start = _der(der, algo_end, 0x03)[0]
        start = _der(der, bits_start + 1, 0x30)[0]  # skip the unused-bits byte
    n_start, n_end = _der(der, start, 0x02)
    e_start, e_end = _der(der, n_end, 0x02)
    return int.from_bytes(der[n_start:n_end], "big"), int.from_bytes(der[e_start:e_end], "big")


def _mgf1(seed: bytes, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def rsa_oaep_encrypt(pem: bytes, message: bytes) -> bytes:
    """RSAES-OAEP (SHA-1, MGF1-SHA-1, empty label: what MySQL's server decrypts) of
    ``message`` with the PEM public key."""
    n, e = parse_rsa_public_key(pem)
    k = (n.bit_length() + 7) // 8
    h = 20
    if len(message) > k - 2 * h - 2:
        raise ValueError("password too long for the server's RSA key")
    db = hashlib.sha1(b"").digest() + b"\0" * (k - len(message) - 2 * h - 2) + b"\1" + message
    seed = os.urandom(h)
    masked_db = _xor(db, _mgf1(seed, k - h - 1))
    masked_seed = _xor(seed, _mgf1(masked_db, h))
    em = int.from_bytes(b"\0" + masked_seed + masked_db, "big")
    return pow(em, e, n).to_bytes(k, "big")


# -- values ----------------------------------------------------------------------------------

Converter = Callable[[bytes], Any] | None


def _ascii_then(fn: Callable[[str], Any]) -> Callable[[bytes], Any]:
    def convert(raw: bytes) -> Any:
        return fn(raw.decode("ascii"))

    return convert


def _decode_ascii(raw: bytes) -> str:
    return raw.decode("ascii")


def _decode_utf8(raw: bytes) -> str:
    return raw.decode("utf-8")


def _decimal(raw: bytes) -> Decimal:
    return Decimal(raw.decode("ascii"))


#: Converters that take the raw bytes where aiomysql decodes ASCII first (same result).
_FAST: dict[Any, Callable[[bytes], Any]] = {
    int: int,
    float: float,
    Decimal: _decimal,
    convert_datetime: _ascii_then(convert_datetime),
    convert_date: _ascii_then(convert_date),
    convert_timedelta: _ascii_then(convert_timedelta),
}


@cache
def value_converter(type_code: int, charset: int) -> Converter:
    """bytes → Python value for one column, as aiomysql's ``_get_descriptions`` (with
    ``use_unicode``, a utf8mb4 connection) chooses it; None keeps the bytes. Kept per
    (type, charset): the same converter object every time, so that a result's
    converter list finds its row parser (:func:`row_parser`) again."""
    if type_code == FieldType.JSON:
        encoding: str | None = "utf-8"
    elif type_code in TEXT_TYPES:
        encoding = None if charset == 63 else "utf-8"
    else:
        encoding = "ascii"
    conv = decoders.get(type_code)
    if conv is not None and conv.__name__ == "through":
        conv = None
    if conv is None:
        if encoding is None:
            return None
        return _decode_utf8 if encoding == "utf-8" else _decode_ascii
    if encoding == "ascii" and conv in _FAST:
        fast: Callable[[bytes], Any] = _FAST[conv]
        return fast
    decode = _decode_utf8 if encoding == "utf-8" else _decode_ascii
    if encoding is None:
        return conv  # type: ignore[no-any-return]

    def convert(raw: bytes) -> Any:
        return conv(decode(raw))

    return convert


def parse_row(data: bytes, converters: Sequence[Converter]) -> tuple[Any, ...]:
    """One text-protocol row: a length-encoded string (or 0xFB, NULL) per column.
    Anything malformed (lengths, or a value its column type cannot hold) raises
    ``OperationalError(2027)``."""
    try:
        return _parse_row(data, converters)
    except (ValueError, ArithmeticError) as exc:
        raise _malformed(f"bad value in a row: {exc}") from None


def _parse_row(data: bytes, converters: Sequence[Converter]) -> tuple[Any, ...]:
    pos = 0
    size = len(data)
    row: list[Any] = []
    append = row.append
    for conv in converters:
        if pos >= size:
            raise _malformed("row has fewer values than columns")
        n = data[pos]
        if n == 0xFB:
            append(None)
            pos += 1
            continue
        if n > 0xFB:
            value, pos = _long_value(data, pos, size, conv)
            append(value)
            continue
        pos += 1
        end = pos + n
        if end > size:
            raise _malformed("row value runs past the packet")
        # Text is the usual value: decoded here rather than by a call to its converter.
        if conv is _decode_utf8:
            append(data[pos:end].decode("utf-8"))
        elif conv is None:
            append(data[pos:end])
        else:
            append(conv(data[pos:end]))
        pos = end
    return tuple(row)


def _long_value(data: bytes, pos: int, size: int, conv: Converter) -> tuple[Any, int]:
    """A value whose length takes more than one byte (or a bad length byte): what
    :func:`_parse_row` does for it; the value and the position after it."""
    n = data[pos]
    if n == 0xFC:
        n = int.from_bytes(data[pos + 1 : pos + 3], "little")
        pos += 3
    elif n == 0xFD:
        n = int.from_bytes(data[pos + 1 : pos + 4], "little")
        pos += 4
    elif n == 0xFE:
        n = int.from_bytes(data[pos + 1 : pos + 9], "little")
        pos += 9
    else:
        raise _malformed("bad length in a row")
    end = pos + n
    if end > size:
        raise _malformed("row value runs past the packet")
    raw = data[pos:end]
    return (raw if conv is None else conv(raw)), end


def _fewer() -> pe.OperationalError:
    return _malformed("row has fewer values than columns")


def _past() -> pe.OperationalError:
    return _malformed("row value runs past the packet")


#: Row parsers made by :func:`row_parser`, by converter list.
_ROW_PARSERS: GeneratedFunctions[tuple[Converter, ...], Callable[[bytes], tuple[Any, ...]]] = (
    GeneratedFunctions(256)
)
#: Wider rows are parsed by the loop of :func:`_parse_row` (the generated code grows
#: with the column count).
_ROW_PARSER_COLUMNS = 64


def row_parser(converters: Sequence[Converter]) -> Callable[[bytes], tuple[Any, ...]]:
    """``payload → row``: exactly :func:`_parse_row` with these converters (the same
    values and the same errors), generated as straight-line code per column (the
    ``namedtuple`` technique, as :meth:`Semantics.sort_key`) — no loop, no list and no
    test of the converter per value. Made once per converter list and kept."""
    key = tuple(converters)
    parser = _ROW_PARSERS.get(key)
    if parser is not None:
        return parser
    if not key or len(key) > _ROW_PARSER_COLUMNS:

        def looped(data: bytes) -> tuple[Any, ...]:
            return _parse_row(data, key)

        parser = looped
    else:
        namespace: dict[str, Any] = {"_long_value": _long_value, "_fewer": _fewer, "_past": _past}
        lines = ["def parse(data):", "    size = len(data)", "    pos = 0"]
        for i, conv in enumerate(key):
            namespace[f"c{i}"] = conv
            if conv is _decode_utf8:
                value = 'data[pos:end].decode("utf-8")'
            elif conv is None:
                value = "data[pos:end]"
            else:
                value = f"c{i}(data[pos:end])"
            lines += [
                "    if pos >= size:",
                "        raise _fewer()",
                "    n = data[pos]",
                "    if n < 0xFB:",
                "        end = pos + 1 + n",
                "        if end > size:",
                "            raise _past()",
                "        pos += 1",
                f"        v{i} = {value}",
                "        pos = end",
                "    elif n == 0xFB:",
                f"        v{i} = None",
                "        pos += 1",
                "    else:",
                f"        v{i}, pos = _long_value(data, pos, size, c{i})",
            ]
        lines.append(f"    return ({''.join(f'v{i}, ' for i in range(len(key)))})")
        parser = compile_function(lines, namespace, "parse")
    return _ROW_PARSERS.put(key, parser)


def parse_payloads(payloads: Sequence[bytes], columns: Sequence[Column]) -> list[tuple[Any, ...]]:
    """Rows read unparsed (``query(raw=True)``) as :meth:`NativeConnection.query`
    would have parsed them, by the columns' definitions."""
    converters = [
        value_converter(c.wire.type, c.wire.charset) if c.wire is not None else None
        for c in columns
    ]
    return [parse_row(p, converters) for p in payloads]


def parse_column(payload: bytes) -> tuple[Column, Converter]:
    """Protocol::ColumnDefinition41 → the backend's :class:`Column` (with the shard's
    own definition in ``wire``, as ``mysql.result_columns`` builds it) and its converter.

    Both depend on the payload bytes alone and are immutable, so they are cached by
    payload (point queries repeat the same few shapes)."""
    hit = _column_cache.get(payload)
    if hit is not None:
        return hit
    if len(_column_cache) >= COLUMN_CACHE_SIZE:
        _column_cache.clear()
    out = _column_cache[payload] = _parse_column(payload)
    return out


def _parse_column(payload: bytes) -> tuple[Column, Converter]:
    r = PayloadReader(payload)
    for _ in range(4):  # catalog, schema, table, org_table
        r.lenenc_bytes()
    name = r.lenenc_bytes().decode("utf-8")
    r.lenenc_bytes()  # org_name
    r.lenenc_int()  # length of the fixed fields (0x0c)
    charset, length, type_code, flags, decimals = struct.unpack("<HIBHB", r.fixed(10))
    col = Column(name, type_code, ColumnType(type_code, length, flags, decimals, charset))
    return col, value_converter(type_code, charset)


@dataclass(slots=True)
class NativeResult:
    """One result of a command: columns and rows (a result set), or an OK packet.

    ``rows``: a tuple of values per row, or the row's payload (bytes, unparsed) when
    the result was read with ``query(raw=True)``. ``affected`` is the row count for a
    result set, as PyMySQL reports it."""

    columns: list[Column] | None = None
    rows: list[Any] = field(default_factory=list)
    affected: int = 0
    insert_id: int = 0
    warnings: int = 0
    status: int = 0
    info: str = ""


_OK_TAIL = struct.Struct("<HH")


def _parse_ok(payload: bytes) -> NativeResult:
    if len(payload) == 7 and payload[1] < 0xFB and payload[2] < 0xFB:
        # The common end of a result or statement: one-byte counts, no info text.
        status, warnings = _OK_TAIL.unpack_from(payload, 3)
        return NativeResult(None, [], payload[1], payload[2], warnings, status, "")
    r = PayloadReader(payload, 1)
    affected = r.lenenc_int() or 0
    insert_id = r.lenenc_int() or 0
    status = r.int2()
    warnings = r.int2()
    info = b""
    if r.remaining():
        # MariaDB sends the info text length-encoded; a server that sends it to the end
        # of the packet (string<EOF>) gets the same text.
        save = r.pos
        try:
            info = r.lenenc_bytes()
            if r.remaining():
                raise ProtocolError("not length-encoded")
        except ProtocolError:
            r.pos = save
            info = r.rest()
    return NativeResult(
        None, [], affected, insert_id, warnings, status, info.decode("utf-8", "replace")
    )


# -- the connection ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NativeConnector:
    """How to open native connections to one server (also: where to send KILLs).

    ``ssl``: a client context (the handshake asks for TLS, fails if the server has none);
    ``server_public_key``: PEM of the server's RSA key for ``caching_sha2_password`` full
    authentication without TLS (else the client asks the server for it)."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    database: str | None = None
    unix_socket: str | None = None
    ssl: ssl.SSLContext | None = None
    server_hostname: str | None = None
    server_public_key: bytes | None = None
    connect_timeout: float = 10.0
    init: tuple[str, ...] = ()

    async def connect(self) -> NativeConnection:
        conn = NativeConnection(self)
        try:
            with trio.fail_after(self.connect_timeout):
                await conn._connect()
        except trio.TooSlowError:
            conn.close()
            raise pe.OperationalError(
                _CR_CONN_HOST_ERROR,
                f"Can't connect to MySQL server on {self.host!r} (timed out)",
            ) from None
        except BaseException:
            conn.close()
            raise
        return conn

    async def kill_query(self, thread_id: int) -> None:
        """``KILL QUERY <thread_id>`` on a second connection (opened and closed here).

        An unknown thread (1094: the statement's connection is already gone) is fine."""
        conn = await self.connect()
        try:
            await conn.query(f"KILL QUERY {int(thread_id)}")
        except pe.MySQLError as exc:
            if exc.args and exc.args[0] == 1094:
                return
            raise
        finally:
            await conn.aclose()


class NativeConnection:
    """One MySQL session on a trio stream. See the module docstring for the invariants."""

    def __init__(self, connector: NativeConnector) -> None:
        self.connector = connector
        self._codec = PacketCodec(max_packet_size=MAX_RECEIVE_PACKET)
        self._stream: trio.abc.Stream | None = None
        self._sock: trio.socket.SocketType | None = None
        #: A poll object watching the socket (usable(): half of select()'s cost).
        self._poller: select.poll | None = None
        #: When usable() last polled the idle socket and found nothing (0.0: a command
        #: ran since): a second usable() within POLL_REUSE seconds (the statement's
        #: own check right after the pool's checkout) answers without another poll.
        self._polled_clean = 0.0
        #: Authenticated on a plain socket: commands are written with os.write.
        self._direct = False
        self._token: trio.lowlevel.TrioToken | None = None
        self._busy = False
        self.broken = False
        self.closed = False
        self.thread_id = 0
        self.server_version = ""
        self.server_capabilities = 0
        self.capabilities = 0
        self.status = 0
        self.tls = False
        self.auth_plugin = ""

    # -- guards --------------------------------------------------------------------------

    def _enter(self) -> None:
        """Every command starts here: right runtime, usable, not already on the wire."""
        self._polled_clean = 0.0
        self._check_runtime()
        if self.closed or self.broken or self._stream is None:
            raise pe.OperationalError(
                _CR_SERVER_GONE, "MySQL server has gone away (connection closed)"
            )
        if self._busy:
            raise pe.InterfaceError(
                _CR_COMMANDS_OUT_OF_SYNC,
                "Commands out of sync: connection is in use by another task",
            )
        self._busy = True

    def _check_runtime(self) -> None:
        if self._token is not None and trio.lowlevel.current_trio_token() is not self._token:
            raise WrongRuntime(
                "native MySQL connection used from another trio.run than the one that "
                "opened it (connections belong to their runtime; open a new one)"
            )

    def usable(self) -> bool:
        """Cheap local check (no round trip): False once closed, broken, or when the
        idle socket is readable (EOF, or an error packet from a server-side KILL or
        ``wait_timeout``: either way the server ended the session). Asked again before
        any command ran and within :data:`POLL_REUSE`, a clean answer is reused without
        polling (the pool's checkout and the statement ask one after the other; a close
        in between is found by the send, as one right after the poll would be)."""
        if self.closed or self.broken or self._sock is None or self._busy:
            return False
        if self._codec.buffered:
            return False
        polled = self._polled_clean
        if polled and time.monotonic() - polled < POLL_REUSE:
            return True
        poller = self._poller
        if poller is None:
            try:
                poller = select.poll()
                poller.register(self._sock.fileno(), select.POLLIN)
            except (OSError, ValueError):
                return False
            self._poller = poller
        try:
            # Readable, hung up or in error: any event means the server ended it.
            if poller.poll(0):
                return False
        except (OSError, ValueError):
            return False
        self._polled_clean = time.monotonic()
        return True

    # -- I/O ------------------------------------------------------------------------------

    def _buffered(self) -> bytes | None:
        """The next packet if it is already here (no await: the rest of a result
        usually arrives with its first packet), else None."""
        try:
            return self._codec.next_packet()
        except ProtocolError as exc:
            raise _malformed(exc.message) from None

    async def _read(self) -> bytes:
        codec = self._codec
        while True:
            try:
                packet = codec.next_packet()
            except ProtocolError as exc:
                raise _malformed(exc.message) from None
            if packet is not None:
                return packet
            try:
                data = await self._receive()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise _lost() from exc
            if not data:
                raise _lost()
            codec.receive_data(data)

    async def _receive(self) -> bytes | bytearray:
        """The next bytes from the server. On a plain socket: a non-blocking ``read``
        (after a wait for the socket to become readable when nothing is there) — what
        trio's ``receive_some`` does, with fewer layers. Every call is a checkpoint: a
        read that found bytes at once still yields (a long result neither ignores a
        cancellation nor starves other tasks). TLS: the stream's own ``receive_some``."""
        sock = self._sock
        if sock is None or self._stream is None:
            raise trio.ClosedResourceError("connection closed")
        if self.tls:
            return await self._stream.receive_some(RECEIVE_SIZE)
        fd = sock.fileno()
        try:
            data = os.read(fd, RECEIVE_SIZE)
        except BlockingIOError:
            pass
        else:
            await trio.lowlevel.checkpoint()
            return data
        while True:
            # close() notifies this wait (ClosedResourceError) before the fd goes away.
            await trio.lowlevel.wait_readable(fd)
            try:
                return os.read(fd, RECEIVE_SIZE)
            except BlockingIOError:
                continue

    async def _send(self, payload: bytes) -> None:
        """One framed payload. Once authenticated on a plain socket, whatever the socket
        takes at once is written directly (a command nearly always fits its buffer);
        only the rest, if any, goes through ``send_all`` (which waits until the socket
        is writable). The handshake writes through ``send_all``."""
        stream = self._stream
        sock = self._sock
        if stream is None or sock is None:
            raise _lost()
        data: bytes | memoryview = self._codec.frame(payload)
        try:
            if self._direct and not self.tls:
                try:
                    sent = os.write(sock.fileno(), data)
                except BlockingIOError:
                    sent = 0
                if sent == len(data):
                    return
                data = memoryview(data)[sent:]
            await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise _lost() from exc

    async def _command(self, fn: Callable[[], Any]) -> Any:
        """Run one command; anything but a server error packet leaves the connection
        broken and closed (cancellation included: the socket closes synchronously)."""
        self._enter()
        try:
            return await fn()
        except _ServerError as err:
            raise err.exc from None
        except BaseException:
            self.broken = True
            self.close()
            raise
        finally:
            self._busy = False

    # -- handshake ------------------------------------------------------------------------

    async def _connect(self) -> None:
        c = self.connector
        self._token = trio.lowlevel.current_trio_token()
        try:
            if c.unix_socket:
                tcp = await trio.open_unix_socket(c.unix_socket)
            else:
                tcp = await trio.open_tcp_stream(c.host, c.port)
        except OSError as exc:
            raise pe.OperationalError(
                _CR_CONN_HOST_ERROR, f"Can't connect to MySQL server on {c.host!r} ({exc})"
            ) from exc
        self._sock = tcp.socket
        self._stream = tcp
        self._busy = True
        try:
            await self._handshake(tcp)
        except _ServerError as err:
            raise err.exc from None
        finally:
            self._busy = False
        # From here on commands write straight to the socket (_send). The handshake
        # kept send_all's checkpoint: a scripted server that reads the SSLRequest with
        # the bytes after it would otherwise see the TLS ClientHello arrive with it.
        self._direct = True
        for sql in c.init:
            await self.query(sql)
        if not self.status & ServerStatus.AUTOCOMMIT:
            await self.query("SET AUTOCOMMIT = 1")

    async def _handshake(self, tcp: trio.SocketStream) -> None:
        c = self.connector
        self._codec.reset_sequence()
        greeting = await self._read()
        if greeting[:1] == b"\xff":
            raise _ServerError(server_error(greeting))
        try:
            r = PayloadReader(greeting)
            if r.int1() != 10:
                raise _malformed("unsupported handshake protocol version")
            self.server_version = r.nul_bytes().decode("utf-8", "replace")
            self.thread_id = r.int4()
            nonce = r.fixed(8)
            r.int1()
            caps = r.int2()
            r.int1()  # server charset
            self.status = r.int2()
            caps |= r.int2() << 16
            auth_len = r.int1()
            r.fixed(10)
            nonce += r.fixed(max(13, auth_len - 8))[:12]
            plugin = r.nul_bytes_or_rest().decode("ascii", "replace") if r.remaining() else ""
        except ProtocolError as exc:
            raise _malformed(exc.message) from None
        self.server_capabilities = caps
        flags = BASE_CAPABILITIES
        if caps & Capability.DEPRECATE_EOF:
            flags |= Capability.DEPRECATE_EOF
        if c.database:
            flags |= Capability.CONNECT_WITH_DB
        if c.ssl is not None:
            if not caps & Capability.SSL:
                raise pe.OperationalError(
                    2026, "SSL connection error: the server does not support TLS"
                )
            flags |= Capability.SSL
        self.capabilities = int(flags)
        head = struct.pack("<IIB", flags, MAX_PACKET_PAYLOAD, CHARSET_UTF8MB4) + b"\0" * 23
        if c.ssl is not None:
            await self._send(head)  # SSLRequest
            tls = trio.SSLStream(
                tcp, c.ssl, server_hostname=c.server_hostname or c.host, https_compatible=False
            )
            try:
                await tls.do_handshake()
            except (trio.BrokenResourceError, ssl.SSLError) as exc:
                raise pe.OperationalError(2026, f"SSL connection error: {exc}") from exc
            self._stream = tls
            self.tls = True
        password = c.password.encode("utf-8")
        plugin = plugin or "mysql_native_password"
        auth = self._auth_response(plugin, password, nonce)
        attrs = b"".join(
            lenenc_bytes(k.encode()) + lenenc_bytes(v.encode())
            for k, v in (("_client_name", "shardgate-native"), ("_pid", str(os.getpid())))
        )
        response = (
            head
            + c.user.encode("utf-8")
            + b"\0"
            + lenenc_bytes(auth)
            + ((c.database.encode("utf-8") + b"\0") if c.database else b"")
            + plugin.encode("ascii")
            + b"\0"
            + lenenc_bytes(attrs)
        )
        await self._send(response)
        await self._auth_loop(plugin, password, nonce)

    def _auth_response(self, plugin: str, password: bytes, nonce: bytes) -> bytes:
        if plugin == "mysql_native_password":
            return scramble_native_password(password, nonce)
        if plugin == "caching_sha2_password":
            return scramble_caching_sha2(password, nonce)
        if plugin == "mysql_clear_password" and self.tls:
            return password + b"\0"
        raise pe.OperationalError(
            _CR_AUTH_PLUGIN,
            f"Authentication plugin '{plugin}' is not supported by the native driver",
        )

    async def _auth_loop(self, plugin: str, password: bytes, nonce: bytes) -> None:
        self.auth_plugin = plugin
        while True:
            packet = await self._read()
            head = packet[:1]
            if head == b"\x00":
                self.status = _parse_ok(packet).status
                return
            if head == b"\xff":
                raise _ServerError(server_error(packet))
            if head == b"\xfe":  # auth switch request
                r = PayloadReader(packet, 1)
                plugin = r.nul_bytes_or_rest().decode("ascii", "replace")
                nonce = r.rest().rstrip(b"\0") if r.remaining() else nonce
                self.auth_plugin = plugin
                await self._send(self._auth_response(plugin, password, nonce))
                continue
            if head == b"\x01" and plugin == "caching_sha2_password":
                data = packet[1:]
                if data == b"\x03":  # fast auth success; the OK follows
                    continue
                if data == b"\x04":  # full authentication
                    await self._sha2_full_auth(password, nonce)
                    continue
                raise _malformed("unexpected caching_sha2_password message")
            raise _malformed(f"unexpected packet 0x{packet[:1].hex()} during authentication")

    async def _sha2_full_auth(self, password: bytes, nonce: bytes) -> None:
        c = self.connector
        if self.tls or c.unix_socket:
            await self._send(password + b"\0")
            return
        key = c.server_public_key
        if key is None:
            await self._send(b"\x02")  # request the server's public key
            packet = await self._read()
            if packet[:1] == b"\xff":
                raise _ServerError(server_error(packet))
            if packet[:1] != b"\x01":
                raise _malformed("expected the server's public key")
            key = packet[1:]
        plain = password + b"\0"
        pad = (nonce[:20] * (len(plain) // 20 + 1))[: len(plain)]
        try:
            encrypted = rsa_oaep_encrypt(key, _xor(plain, pad))
        except ValueError as exc:
            raise pe.OperationalError(_CR_AUTH_PLUGIN, f"caching_sha2_password: {exc}") from None
        await self._send(encrypted)

    # -- commands ----------------------------------------------------------------------------

    async def query(self, sql: str, *, raw: bool = False) -> NativeResult:
        """``COM_QUERY``: the first result; every further result is read too (``more``
        results of a multi-statement packet are in :meth:`query_all`).

        ``raw``: the first result's rows are kept as the server sent them, one payload
        (bytes, the packet's body without its header) per row, for a caller that relays
        them unchanged (``ResultSet.payloads``); nothing in them is parsed or
        checked, so only a caller that sends them on as they are may ask for it."""
        # What _command does, written out: a point query comes through here.
        self._enter()
        try:
            results = await self._query(sql, all_results=False, raw=raw)
        except _ServerError as err:
            raise err.exc from None
        except BaseException:
            self.broken = True
            self.close()
            raise
        finally:
            self._busy = False
        return results[0]

    async def query_all(self, sql: str) -> list[NativeResult]:
        """``COM_QUERY`` returning every result (multi-statements / ``CALL``). An error
        packet after some results raises; the connection stays clean."""
        results: list[NativeResult] = await self._command(
            lambda: self._query(sql, all_results=True)
        )
        return results

    async def _query(self, sql: str, *, all_results: bool, raw: bool = False) -> list[NativeResult]:
        self._codec.reset_sequence()
        await self._send(b"\x03" + sql.encode("utf-8", "surrogateescape"))
        results = [await self._read_result(raw)]
        while results[-1].status & _MORE_RESULTS:
            try:
                nxt = await self._read_result()
            except _ServerError as err:
                # Which statement of a multi-statement packet failed (the batch's caller
                # names the client's row of a shard's "at row n" with it).
                err.exc.sg_results_before = len(results)
                raise
            if all_results:
                results.append(nxt)
            else:
                results[-1] = NativeResult(
                    results[0].columns,
                    results[0].rows,
                    results[0].affected,
                    results[0].insert_id,
                    results[0].warnings,
                    nxt.status,
                    results[0].info,
                )
        return results

    async def _read_result(self, raw: bool = False) -> NativeResult:
        head, converters = await self._read_header()
        if head.columns is None:
            return head
        rows, end = await self._read_rows(None if raw else converters, None)
        assert end is not None
        return NativeResult(head.columns, rows, len(rows), 0, end.warnings, end.status, end.info)

    async def _read_header(self) -> tuple[NativeResult, list[Converter]]:
        """The start of a result: an OK packet (``columns`` None), or the column
        definitions (rows follow; read them with :meth:`_read_rows`)."""
        first = await self._read()
        head = first[0] if first else -1
        if head == 0x00:
            res = _parse_ok(first)
            self.status = res.status
            return res, []
        if head == 0xFF:
            raise _ServerError(server_error(first))
        if head == 0xFB:
            raise _malformed("LOAD DATA LOCAL was not asked for")
        if len(first) == 1 and head < 0xFB:
            count: int | None = head  # a one-byte column count (fewer than 251)
        else:
            try:
                count = PayloadReader(first).lenenc_int()
            except ProtocolError:
                count = None
        if not count:
            raise _malformed("bad column count")
        columns: list[Column] = []
        converters: list[Converter] = []
        for _ in range(count):
            try:
                packet = self._buffered()
                if packet is None:
                    packet = await self._read()
                col, conv = parse_column(packet)
            except (ProtocolError, UnicodeDecodeError, struct.error) as exc:
                raise _malformed(f"column definition: {exc}") from None
            columns.append(col)
            converters.append(conv)
        if not self.capabilities & _DEPRECATE_EOF:
            eof = self._buffered()
            if eof is None:
                eof = await self._read()
            if eof[:1] != b"\xfe":
                raise _malformed("expected EOF after column definitions")
        return NativeResult(columns), converters

    async def _read_rows(
        self, converters: list[Converter] | None, limit: int | None
    ) -> tuple[list[Any], NativeResult | None]:
        """Rows of the current result, at most ``limit``; the end-of-result packet's
        numbers once it has been read (else None: more rows follow). ``converters``
        None: each row is its payload, unparsed (``query(raw=True)``)."""
        rows: list[Any] = []
        append = rows.append
        read = self._read
        codec = self._codec
        next_packets = codec.next_packets
        parse = row_parser(converters) if converters is not None else None
        while limit is None or len(rows) < limit:
            # The rows already here in one call (most rows are buffered), not a call
            # per row; only the last packet of such a run can end the result.
            packets = next_packets(1 << 30 if limit is None else limit - len(rows))
            if not packets:
                try:
                    packet = codec.next_packet()  # what next_packets leaves to it
                except ProtocolError as exc:
                    raise _malformed(exc.message) from None
                packets = [packet if packet is not None else await read()]
            last = packets[-1]
            head = last[0] if last else -1
            ended = (head == 0xFE and len(last) < MAX_PACKET_PAYLOAD) or head == 0xFF
            if ended:
                del packets[-1]
            if parse is None:
                rows += packets
            else:
                try:
                    for packet in packets:
                        append(parse(packet))
                except (ValueError, ArithmeticError) as exc:  # as parse_row
                    raise _malformed(f"bad value in a row: {exc}") from None
            if not ended:
                continue
            if head == 0xFF:
                # An error mid-result (KILL, a runtime error after some rows): the
                # command is over, the connection clean; the rows so far are dropped.
                raise _ServerError(server_error(last))
            if self.capabilities & _DEPRECATE_EOF:
                end = _parse_ok(last)
            else:
                r = PayloadReader(last, 1)
                end = NativeResult(warnings=r.int2(), status=r.int2())
            self.status = end.status
            return rows, end
        return rows, None

    async def stream(self, sql: str) -> NativeStream:
        """``COM_QUERY`` read incrementally (bounded memory): the columns now, rows by
        :meth:`NativeStream.fetch`. The connection is busy until the stream has been
        read to its end or closed (:meth:`NativeStream.aclose`)."""
        self._enter()
        try:
            self._codec.reset_sequence()
            await self._send(b"\x03" + sql.encode("utf-8", "surrogateescape"))
            head, converters = await self._read_header()
        except _ServerError as err:
            self._busy = False
            raise err.exc from None
        except BaseException:
            self._fail()
            raise
        out = NativeStream(self, head, converters)
        if head.columns is None:
            await out._finish(head)
        return out

    def _fail(self) -> None:
        self.broken = True
        self._busy = False
        self.close()

    async def ping(self) -> None:
        """``COM_PING``: one round trip."""

        async def run() -> None:
            self._codec.reset_sequence()
            await self._send(bytes((Command.PING,)))
            reply = await self._read()
            if reply[:1] == b"\xff":
                raise _ServerError(server_error(reply))
            if reply[:1] != b"\x00":
                raise _malformed("unexpected reply to COM_PING")

        await self._command(run)

    async def set_multi_statements(self, on: bool) -> None:
        """``COM_SET_OPTION`` (MYSQL_OPTION_MULTI_STATEMENTS_ON = 0, _OFF = 1)."""

        async def run() -> None:
            self._codec.reset_sequence()
            await self._send(bytes((Command.SET_OPTION, 0 if on else 1, 0)))
            reply = await self._read()
            if reply[:1] == b"\xff":
                raise _ServerError(server_error(reply))
            if reply[:1] not in (b"\x00", b"\xfe"):
                raise _malformed("unexpected reply to COM_SET_OPTION")

        await self._command(run)

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Drop the socket now (synchronous, idempotent, any thread or runtime)."""
        self.closed = True
        sock, self._sock = self._sock, None
        self._poller = None
        self._stream = None
        if sock is None:
            return
        try:
            ours = trio.lowlevel.current_trio_token() is self._token
        except RuntimeError:  # outside any trio.run
            ours = False
        if ours:
            sock.close()  # also wakes a task of this run blocked on it
        else:
            # Another run (or none) cannot have a task waiting on this socket, and
            # trio's close() needs the owning run: close the descriptor itself.
            fd = sock.detach()
            if fd >= 0:
                os.close(fd)

    async def aclose(self) -> None:
        """Say goodbye (``COM_QUIT``) if the connection is clean, then close."""
        if self.closed:
            return
        if self.broken or self._busy or self._stream is None:
            self.close()
            return
        try:
            if self._token is trio.lowlevel.current_trio_token():
                with trio.move_on_after(1.0):
                    self._codec.reset_sequence()
                    await self._stream.send_all(self._codec.frame(bytes((Command.QUIT,))))
        except Exception:
            pass
        finally:
            self.close()


class NativeStream:
    """A result read incrementally (:meth:`NativeConnection.stream`). ``columns`` is
    None for a statement without a result set (then ``end`` has its OK numbers)."""

    def __init__(
        self, conn: NativeConnection, head: NativeResult, converters: list[Converter]
    ) -> None:
        self._conn = conn
        self._converters = converters
        self.columns = head.columns
        self.done = False
        self.end: NativeResult | None = None

    async def fetch(self, n: int) -> list[tuple[Any, ...]]:
        """Up to ``n`` rows; an empty list once the result is over."""
        if self.done:
            return []
        conn = self._conn
        conn._check_runtime()
        try:
            rows, end = await conn._read_rows(self._converters, n)
            if end is not None:
                await self._finish(end)
        except _ServerError as err:
            self.done = True
            conn._busy = False
            raise err.exc from None
        except BaseException:
            self.done = True
            conn._fail()
            raise
        return rows

    async def _finish(self, end: NativeResult) -> None:
        """The result is over: read any further results (``CALL``), free the connection."""
        conn = self._conn
        status = end.status
        while status & _MORE_RESULTS:
            status = (await conn._read_result()).status
        self.end = end
        self.done = True
        conn._busy = False

    async def aclose(self) -> None:
        """Read and drop the rest (the connection is clean afterwards)."""
        while not self.done:
            await self.fetch(4096)
