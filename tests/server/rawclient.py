"""A minimal blocking MySQL client over a raw socket, for tests that need exact bytes
(malformed packets, auth plugins, packets a real client would never send).

Framing is written out here independently of sharding.server.codec, so tests do not
check the codec against itself.
"""

from __future__ import annotations

import hashlib
import socket
import struct

CLIENT_LONG_PASSWORD = 1
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_SSL = 1 << 11
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_PLUGIN_AUTH_LENENC = 1 << 21
CLIENT_DEPRECATE_EOF = 1 << 24
DEFAULT_CAPS = (
    CLIENT_LONG_PASSWORD
    | CLIENT_PROTOCOL_41
    | CLIENT_SECURE_CONNECTION
    | CLIENT_PLUGIN_AUTH
    | CLIENT_PLUGIN_AUTH_LENENC
    | CLIENT_MULTI_RESULTS
)


def native_scramble(password: str, nonce: bytes) -> bytes:
    if not password:
        return b""
    s1 = hashlib.sha1(password.encode()).digest()
    s3 = hashlib.sha1(nonce + hashlib.sha1(s1).digest()).digest()
    return bytes(a ^ b for a, b in zip(s1, s3, strict=True))


def sha2_scramble(password: str, nonce: bytes) -> bytes:
    if not password:
        return b""
    p1 = hashlib.sha256(password.encode()).digest()
    p3 = hashlib.sha256(hashlib.sha256(p1).digest() + nonce).digest()
    return bytes(a ^ b for a, b in zip(p1, p3, strict=True))


class RawClient:
    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.nonce = b""
        self.handshake = b""

    def close(self) -> None:
        self.sock.close()

    def _recv_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("server closed the connection")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_packet(self) -> tuple[int, bytes]:
        header = self._recv_exact(4)
        length = header[0] | header[1] << 8 | header[2] << 16
        return header[3], self._recv_exact(length)

    def send_packet(self, payload: bytes, seq: int) -> None:
        self.sock.sendall(struct.pack("<I", len(payload) | (seq << 24)) + payload)

    def read_handshake(self) -> bytes:
        _, pkt = self.read_packet()
        self.handshake = pkt
        if pkt[0] == 0xFF:
            return pkt
        end = pkt.index(b"\0", 1)
        pos = end + 1 + 4
        part1 = pkt[pos : pos + 8]
        pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
        part2 = pkt[pos : pos + 12]
        self.nonce = part1 + part2
        return pkt

    def login(
        self,
        user: str = "root",
        password: str = "",
        *,
        plugin: str = "mysql_native_password",
        caps: int = DEFAULT_CAPS,
        database: str | None = None,
    ) -> list[bytes]:
        """Handshake; returns every packet the server sent after the response."""
        hs = self.read_handshake()
        if hs[0] == 0xFF:
            return [hs]
        if database:
            caps |= CLIENT_CONNECT_WITH_DB
        auth = self._scramble(plugin, password)
        payload = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23 + user.encode() + b"\0"
        payload += bytes((len(auth),)) + auth
        if database:
            payload += database.encode() + b"\0"
        payload += plugin.encode() + b"\0"
        self.send_packet(payload, 1)
        return self._auth_replies(password)

    def _scramble(self, plugin: str, password: str) -> bytes:
        if plugin == "caching_sha2_password":
            return sha2_scramble(password, self.nonce)
        if plugin == "mysql_native_password":
            return native_scramble(password, self.nonce)
        return password.encode() + b"\0"

    def _auth_replies(self, password: str) -> list[bytes]:
        """The server's packets up to OK or ERR, answering an auth switch (to native)."""
        out = []
        while True:
            seq, pkt = self.read_packet()
            out.append(pkt)
            if pkt[0] == 0xFE and len(pkt) > 1:  # AuthSwitchRequest
                name, _, rest = pkt[1:].partition(b"\0")
                assert name == b"mysql_native_password"
                self.send_packet(native_scramble(password, rest.rstrip(b"\0")), seq + 1)
                continue
            if pkt[0] in (0x00, 0xFF):
                return out

    def change_user(
        self,
        user: str,
        password: str = "",
        *,
        plugin: str = "mysql_native_password",
        database: str = "",
    ) -> list[bytes]:
        """COM_CHANGE_USER, answered against the handshake's nonce (an auth switch to
        mysql_native_password is followed); every packet the server sent back."""
        auth = self._scramble(plugin, password)
        payload = b"\x11" + user.encode() + b"\0" + bytes((len(auth),)) + auth
        payload += database.encode() + b"\0" + struct.pack("<H", 45) + plugin.encode() + b"\0"
        self.send_packet(payload, 0)
        return self._auth_replies(password)

    def command(self, payload: bytes) -> None:
        self.send_packet(payload, 0)

    def query(self, sql: str) -> list[bytes]:
        """COM_QUERY; packets up to the end of the (last) result, text protocol, EOF mode."""
        self.command(b"\x03" + sql.encode())
        return self.read_response()

    def read_response(self) -> list[bytes]:
        out: list[bytes] = []
        _, first = self.read_packet()
        out.append(first)
        if first[0] in (0x00, 0xFF):
            return out
        eofs = 0
        while eofs < 2:
            _, pkt = self.read_packet()
            out.append(pkt)
            if pkt[0] == 0xFF:
                return out
            if pkt[0] == 0xFE and len(pkt) < 9:
                eofs += 1
        return out


def err_code(pkt: bytes) -> int | None:
    return struct.unpack_from("<H", pkt, 1)[0] if pkt and pkt[0] == 0xFF else None
