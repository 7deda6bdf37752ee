"""Sans-IO MySQL packet codec: bytes in → logical packets out, payloads in → framed bytes.

Nothing here does I/O or knows trio: the transport feeds received bytes with
:meth:`PacketCodec.receive_data`, pulls complete *logical* packets with
:meth:`PacketCodec.next_packet`, and sends what :meth:`PacketCodec.frame` returns. That
keeps the protocol testable (and fuzzable) byte for byte without sockets.

Why by hand: the available Python MySQL server libraries are asyncio-only and parse
every statement before the application sees it (issue 5); the framing itself is small.

Invariants:

* A logical packet larger than ``max_packet_size`` is refused as soon as its header
  arrives (:class:`PacketTooLarge`), so a hostile length never makes the codec buffer
  it. ``buffered`` never exceeds what the transport fed, and the transport bounds that.
* Payloads of 2**24-1 bytes or more are split on send and reassembled on receive
  (a payload of exactly 0xFFFFFF bytes is followed by an empty packet). A split
  payload over ``max_packet_size`` is refused at the header that crosses the limit,
  and the error is framed with the id the client expects next.
* Sequence ids are checked: each received packet must carry the id the codec expects
  (``reset_sequence`` at the start of every command); a mismatch is
  :class:`PacketsOutOfOrder`. Every framed packet carries the next id.
* Every malformed payload raises :class:`ProtocolError` (never IndexError/struct.error):
  the connection answers with an error packet and, when the error is fatal, closes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sharding.server.constants import (
    CHARSET_UTF8MB4,
    ER_MALFORMED_PACKET,
    ER_NET_PACKET_TOO_LARGE,
    ER_NET_PACKETS_OUT_OF_ORDER,
    MAX_PACKET_PAYLOAD,
    Capability,
    ServerStatus,
)

__all__ = [
    "ColumnDef",
    "HandshakeResponse",
    "MalformedPacket",
    "PacketCodec",
    "PacketTooLarge",
    "PacketsOutOfOrder",
    "PayloadReader",
    "ProtocolError",
    "auth_more_data",
    "auth_switch_request",
    "column_count",
    "column_definition",
    "eof_packet",
    "err_packet",
    "handshake_v10",
    "lenenc_bytes",
    "lenenc_int",
    "ok_packet",
    "parse_handshake_response",
]


class ProtocolError(Exception):
    """The client broke the protocol. ``fatal`` errors close the connection."""

    code: int = ER_MALFORMED_PACKET
    sqlstate: str = "08S01"
    fatal: bool = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedPacket(ProtocolError):
    """A payload is truncated or inconsistent (not fatal: framing is still intact)."""

    code = ER_MALFORMED_PACKET
    sqlstate = "HY000"
    fatal = False


class PacketTooLarge(ProtocolError):
    code = ER_NET_PACKET_TOO_LARGE


class PacketsOutOfOrder(ProtocolError):
    code = ER_NET_PACKETS_OUT_OF_ORDER


_HEADER = struct.Struct("<I")

#: A row of :meth:`PacketCodec.frame_rows_into`.
R = TypeVar("R")


class PacketCodec:
    """Framing and sequence ids of one connection."""

    def __init__(self, *, max_packet_size: int = 64 << 20) -> None:
        self.max_packet_size = max_packet_size
        self.seq = 0
        self._buf = bytearray()
        self._pos = 0  # parse offset into _buf; compacted lazily
        self._parts: list[bytes] = []  # fragments of a split logical packet
        self._parts_len = 0

    # -- receiving ---------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as packets."""
        return len(self._buf) - self._pos + self._parts_len

    def receive_data(self, data: bytes | bytearray) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def take_unread(self) -> bytes:
        """Remove and return raw bytes not yet parsed (the start of a TLS handshake)."""
        if self._parts:
            raise ProtocolError("protocol switch in the middle of a split packet")
        out = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        return out

    def reset_sequence(self) -> None:
        self.seq = 0

    def next_packet(self) -> bytes | None:
        """The next complete logical payload, or None until more data arrives."""
        while True:
            buf = self._buf
            pos = self._pos
            if len(buf) - pos < 4:
                return None
            (header,) = _HEADER.unpack_from(buf, pos)
            length = header & 0xFFFFFF
            seq = header >> 24
            if self._parts_len + length > self.max_packet_size:
                # The answer carries the id after the refused packet's, as MySQL's does:
                # a client that sent a split payload (ids 0, 1, …) expects exactly that
                # one (framing it with the current id read as "packets out of order").
                self.seq = (seq + 1) & 0xFF
                raise PacketTooLarge(
                    "Got a packet bigger than 'max_allowed_packet' bytes "
                    f"({self._parts_len + length} > {self.max_packet_size})"
                )
            if len(buf) - pos < 4 + length:
                return None
            if seq != self.seq:
                raise PacketsOutOfOrder(
                    f"Got packets out of order (sequence id {seq}, expected {self.seq})"
                )
            self.seq = (self.seq + 1) & 0xFF
            payload = bytes(buf[pos + 4 : pos + 4 + length])
            self._pos = pos + 4 + length
            if self._pos > 1 << 16 and self._pos * 2 > len(buf):
                del buf[: self._pos]
                self._pos = 0
            if length == MAX_PACKET_PAYLOAD:
                self._parts.append(payload)
                self._parts_len += length
                continue
            if self._parts:
                self._parts.append(payload)
                payload = b"".join(self._parts)
                self._parts.clear()
                self._parts_len = 0
            return payload

    def next_packets(self, limit: int) -> list[bytes]:
        """Up to ``limit`` complete payloads at once, as :meth:`next_packet` would
        return them one by one (a result's rows: no call per row), ending early after
        a payload that starts with ``0xFE`` or ``0xFF`` (the end of a result, an
        error: the caller looks at the last one only). Stops *before* whatever
        :meth:`next_packet` must handle itself — a split payload, one too large, one
        out of order — and before an incomplete one; ``[]`` then (call
        :meth:`next_packet`)."""
        out: list[bytes] = []
        if self._parts:
            return out
        buf = self._buf
        pos = self._pos
        seq = self.seq
        size = len(buf)
        unpack = _HEADER.unpack_from
        biggest = min(self.max_packet_size, MAX_PACKET_PAYLOAD - 1)
        append = out.append
        while limit > 0 and size - pos >= 4:
            (header,) = unpack(buf, pos)
            length = header & 0xFFFFFF
            if length > biggest or size - pos < 4 + length or header >> 24 != seq:
                break
            payload = bytes(buf[pos + 4 : pos + 4 + length])
            pos += 4 + length
            seq = (seq + 1) & 0xFF
            append(payload)
            limit -= 1
            if length and payload[0] >= 0xFE:
                break
        self.seq = seq
        self._pos = pos
        if pos > 1 << 16 and pos * 2 > size:
            del buf[:pos]
            self._pos = 0
        return out

    # -- sending -----------------------------------------------------------------

    def frame_into(self, out: bytearray, payload: bytes) -> None:
        """``out += self.frame(payload)``, without building the framed copy first (a
        result's rows: one call per row)."""
        n = len(payload)
        if n < MAX_PACKET_PAYLOAD:
            out += _HEADER.pack(n | (self.seq << 24))
            out += payload
            self.seq = (self.seq + 1) & 0xFF
        else:
            out += self.frame(payload)

    def frame_rows_into(
        self,
        out: bytearray,
        rows: Sequence[R],
        start: int,
        encode: Callable[[R], bytes],
        stop_at: int,
    ) -> int:
        """:meth:`frame_into` of ``encode(row)`` for ``rows[start:]``, in one call (a
        result's rows: no call per row to frame it); stops after the row that makes
        ``out`` reach ``stop_at`` bytes. Returns the index of the next row to frame."""
        seq = self.seq
        pack = _HEADER.pack
        end = len(rows)
        i = start
        try:
            while i < end:
                payload = encode(rows[i])
                i += 1
                n = len(payload)
                if n < MAX_PACKET_PAYLOAD:
                    out += pack(n | (seq << 24))
                    out += payload
                    seq = (seq + 1) & 0xFF
                else:
                    self.seq = seq
                    out += self.frame(payload)
                    seq = self.seq
                if len(out) >= stop_at:
                    break
        finally:
            self.seq = seq
        return i

    def frame(self, payload: bytes | bytearray | memoryview) -> bytes:
        """Frame one logical payload (split at 16 MB) with the next sequence ids."""
        n = len(payload)
        if n < MAX_PACKET_PAYLOAD:
            out = _HEADER.pack(n | (self.seq << 24)) + bytes(payload)
            self.seq = (self.seq + 1) & 0xFF
            return out
        chunks: list[bytes] = []
        view = memoryview(payload)
        start = 0
        while True:
            part = view[start : start + MAX_PACKET_PAYLOAD]
            chunks.append(_HEADER.pack(len(part) | (self.seq << 24)))
            chunks.append(bytes(part))
            self.seq = (self.seq + 1) & 0xFF
            start += len(part)
            if len(part) < MAX_PACKET_PAYLOAD:
                break
        return b"".join(chunks)


# -- payload parsing ----------------------------------------------------------------


class PayloadReader:
    """Cursor over one payload; every read past the end raises :class:`MalformedPacket`."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MalformedPacket(
                f"malformed packet: wanted {n} bytes at offset {self.pos}, "
                f"payload has {len(self.data)}"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int1(self) -> int:
        return self._take(1)[0]

    def int2(self) -> int:
        return int.from_bytes(self._take(2), "little")

    def int3(self) -> int:
        return int.from_bytes(self._take(3), "little")

    def int4(self) -> int:
        return int.from_bytes(self._take(4), "little")

    def int8(self) -> int:
        return int.from_bytes(self._take(8), "little")

    def fixed(self, n: int) -> bytes:
        return self._take(n)

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    def lenenc_int(self) -> int | None:
        """A length-encoded integer; None for 0xFB (NULL)."""
        first = self.int1()
        if first < 0xFB:
            return first
        if first == 0xFB:
            return None
        if first == 0xFC:
            return self.int2()
        if first == 0xFD:
            return self.int3()
        if first == 0xFE:
            return self.int8()
        raise MalformedPacket("malformed packet: 0xFF is not a length-encoded integer")

    def lenenc_bytes(self) -> bytes:
        n = self.lenenc_int()
        if n is None:
            raise MalformedPacket("malformed packet: NULL where a string was expected")
        return self._take(n)

    def nul_bytes(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise MalformedPacket("malformed packet: unterminated string")
        out = self.data[self.pos : end]
        self.pos = end + 1
        return out

    def nul_bytes_or_rest(self) -> bytes:
        """A NUL-terminated string, or the rest when the terminator is missing."""
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            return self.rest()
        out = self.data[self.pos : end]
        self.pos = end + 1
        return out


def decode_text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPacket(f"malformed packet: {what} is not valid UTF-8") from exc


# -- building payloads --------------------------------------------------------------


def lenenc_int(n: int) -> bytes:
    if n < 0xFB:
        return bytes((n,))
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little")
    if n < 1 << 24:
        return b"\xfd" + n.to_bytes(3, "little")
    return b"\xfe" + n.to_bytes(8, "little")


def lenenc_bytes(b: bytes) -> bytes:
    return lenenc_int(len(b)) + b


def ok_packet(
    *,
    affected: int = 0,
    last_insert_id: int = 0,
    status: int = ServerStatus.AUTOCOMMIT,
    warnings: int = 0,
    info: str = "",
    header: int = 0x00,
) -> bytes:
    """OK packet (``header=0xFE`` for the OK that ends a result set under DEPRECATE_EOF)."""
    return (
        bytes((header,))
        + lenenc_int(affected)
        + lenenc_int(last_insert_id)
        + struct.pack("<HH", status & 0xFFFF, min(warnings, 0xFFFF))
        # Length-encoded, as MariaDB/MySQL servers send it (libmariadb reads it so, and
        # rejects a prepared statement's OK packet otherwise: 2027 malformed packet).
        + (lenenc_bytes(info.encode("utf-8")) if info else b"")
    )


def err_packet(code: int, sqlstate: str, message: str) -> bytes:
    state = (sqlstate.encode("ascii", "replace") + b"HY000")[:5]
    return b"\xff" + struct.pack("<H", code & 0xFFFF) + b"#" + state + message.encode("utf-8")


def eof_packet(*, warnings: int = 0, status: int = ServerStatus.AUTOCOMMIT) -> bytes:
    return b"\xfe" + struct.pack("<HH", min(warnings, 0xFFFF), status & 0xFFFF)


def column_count(n: int) -> bytes:
    return lenenc_int(n)


@dataclass(frozen=True, slots=True)
class ColumnDef:
    """One Protocol::ColumnDefinition41."""

    name: str
    type: int
    charset: int = CHARSET_UTF8MB4
    length: int = 0
    flags: int = 0
    decimals: int = 0
    schema: str = ""
    table: str = ""
    org_table: str = ""
    org_name: str = ""
    #: ``org_name`` is sent as it is, even empty (an expression's); otherwise an empty
    #: one is sent as ``name``.
    named: bool = False


def column_definition(col: ColumnDef) -> bytes:
    return b"".join(
        (
            b"\x03def",
            lenenc_bytes(col.schema.encode()),
            lenenc_bytes(col.table.encode()),
            lenenc_bytes(col.org_table.encode()),
            lenenc_bytes(col.name.encode()),
            lenenc_bytes((col.org_name if col.named else col.org_name or col.name).encode()),
            b"\x0c",
            struct.pack(
                "<HIBHB",
                col.charset,
                col.length & 0xFFFFFFFF,
                col.type,
                col.flags & 0xFFFF,
                col.decimals,
            ),
            b"\0\0",
        )
    )


def handshake_v10(
    *,
    server_version: str,
    connection_id: int,
    nonce: bytes,
    capabilities: int,
    charset: int = CHARSET_UTF8MB4,
    status: int = ServerStatus.AUTOCOMMIT,
    auth_plugin: str = "mysql_native_password",
) -> bytes:
    """Protocol::HandshakeV10. ``nonce`` is the 20-byte auth scramble."""
    assert len(nonce) == 20
    return b"".join(
        (
            b"\x0a",
            server_version.encode() + b"\0",
            struct.pack("<I", connection_id & 0xFFFFFFFF),
            nonce[:8],
            b"\0",
            struct.pack("<H", capabilities & 0xFFFF),
            bytes((charset,)),
            struct.pack("<H", status),
            struct.pack("<H", (capabilities >> 16) & 0xFFFF),
            bytes((len(nonce) + 1,)),
            b"\0" * 10,
            nonce[8:] + b"\0",
            auth_plugin.encode() + b"\0",
        )
    )


def auth_switch_request(plugin: str, nonce: bytes) -> bytes:
    return b"\xfe" + plugin.encode() + b"\0" + nonce + b"\0"


def auth_more_data(data: bytes) -> bytes:
    return b"\x01" + data


@dataclass(slots=True)
class HandshakeResponse:
    capabilities: int
    max_packet: int
    charset: int
    user: str = ""
    auth_response: bytes = b""
    database: str | None = None
    auth_plugin: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    #: True for the short SSLRequest packet (the full response follows over TLS).
    ssl_request: bool = False


def parse_change_user(payload: bytes, capabilities: int) -> HandshakeResponse:
    """COM_CHANGE_USER (the command byte included), read with the capabilities agreed at
    the handshake: user, auth response, database, then — when sent — character set, auth
    plugin and connection attributes."""
    r = PayloadReader(payload, 1)
    resp = HandshakeResponse(capabilities=capabilities, max_packet=0, charset=0)
    resp.user = decode_text(r.nul_bytes_or_rest(), "user name")
    if capabilities & Capability.SECURE_CONNECTION:
        resp.auth_response = r.fixed(r.int1()) if r.remaining() else b""
    elif r.remaining():
        resp.auth_response = r.nul_bytes_or_rest()
    if r.remaining():
        resp.database = decode_text(r.nul_bytes_or_rest(), "database name") or None
    if r.remaining() >= 2:
        resp.charset = r.int2()
    if capabilities & Capability.PLUGIN_AUTH and r.remaining():
        resp.auth_plugin = decode_text(r.nul_bytes_or_rest(), "auth plugin") or None
    if capabilities & Capability.CONNECT_ATTRS and r.remaining():
        _read_attributes(r, resp)
    return resp


def parse_handshake_response(payload: bytes) -> HandshakeResponse:
    """Protocol::HandshakeResponse41 or SSLRequest. Pre-4.1 clients are refused."""
    r = PayloadReader(payload)
    caps = r.int4()
    if not caps & Capability.PROTOCOL_41:
        raise ProtocolError("clients without CLIENT_PROTOCOL_41 are not supported")
    resp = HandshakeResponse(capabilities=caps, max_packet=r.int4(), charset=r.int1())
    r.fixed(23)
    if r.remaining() == 0:
        if not caps & Capability.SSL:
            raise MalformedPacket("malformed handshake response: no user name")
        resp.ssl_request = True
        return resp
    resp.user = decode_text(r.nul_bytes(), "user name")
    if caps & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA:
        resp.auth_response = r.lenenc_bytes()
    elif caps & Capability.SECURE_CONNECTION:
        resp.auth_response = r.fixed(r.int1())
    else:
        resp.auth_response = r.nul_bytes()
    if caps & Capability.CONNECT_WITH_DB and r.remaining():
        db = decode_text(r.nul_bytes_or_rest(), "database name")
        resp.database = db or None
    if caps & Capability.PLUGIN_AUTH and r.remaining():
        resp.auth_plugin = decode_text(r.nul_bytes_or_rest(), "auth plugin")
    if caps & Capability.CONNECT_ATTRS and r.remaining():
        _read_attributes(r, resp)
    return resp


def _read_attributes(r: PayloadReader, resp: HandshakeResponse) -> None:
    """The connection attributes (length-encoded key/value pairs) into ``resp``."""
    total = r.lenenc_int() or 0
    attrs = PayloadReader(r.fixed(total))
    while attrs.remaining():
        key = attrs.lenenc_bytes().decode("utf-8", "replace")
        resp.attributes[key] = attrs.lenenc_bytes().decode("utf-8", "replace")
