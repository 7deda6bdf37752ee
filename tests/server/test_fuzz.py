"""Fuzzing the codec and a live server with malformed packets (hypothesis).

In-process: random bytes in random chunks never raise anything but ProtocolError from
the codec and parsers. Live: random handshakes and commands make the server answer
(error packet) or close the connection, quickly; it never hangs, and afterwards it
still serves a normal client and has no leftover connection.
"""

from __future__ import annotations

import socket
import struct

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharding.server.codec import (
    PacketCodec,
    PayloadReader,
    ProtocolError,
    parse_handshake_response,
)
from sharding.server.types import decode_binary_params
from tests.server.conftest import Served, in_thread, start_server, wait_until
from tests.server.rawclient import RawClient


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=2000),
    cuts=st.lists(st.integers(0, 2000), max_size=8),
    limit=st.integers(1, 5000),
)
def test_codec_random_bytes(data: bytes, cuts: list[int], limit: int) -> None:
    codec = PacketCodec(max_packet_size=limit)
    pieces, last = [], 0
    for c in sorted(cuts):
        pieces.append(data[last:c])
        last = c
    pieces.append(data[last:])
    total = 0
    try:
        for piece in pieces:
            codec.receive_data(piece)
            while (pkt := codec.next_packet()) is not None:
                assert len(pkt) <= limit
                total += len(pkt)
    except ProtocolError:
        return
    assert codec.buffered + total <= len(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_handshake_parser_random(payload: bytes) -> None:
    try:
        parse_handshake_response(payload)
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 40))
def test_binary_params_random(payload: bytes, n: int) -> None:
    try:
        decode_binary_params(PayloadReader(payload), n, None, {})
    except ProtocolError:
        pass


_commands = st.one_of(
    st.binary(max_size=64),
    st.tuples(st.sampled_from(range(0x00, 0x20)), st.binary(max_size=40)).map(
        lambda t: bytes((t[0],)) + t[1]
    ),
)


def _frame(payload: bytes, seq: int) -> bytes:
    return struct.pack("<I", len(payload) | (seq << 24)) + payload


def _drain(sock: socket.socket) -> None:
    """Read until the server answers something and goes quiet, or closes."""
    sock.settimeout(0.1)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            sock.settimeout(0.01)  # answered: only collect what is already on its way
    except TimeoutError:
        return


def _fuzz_live(port: int) -> None:
    @settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        login=st.booleans(),
        commands=st.lists(_commands, max_size=5),
        raw_tail=st.binary(max_size=64),
        huge=st.booleans(),
    )
    def one(login: bool, commands: list[bytes], raw_tail: bytes, huge: bool) -> None:
        c = RawClient(port, timeout=5)
        try:
            if login:
                assert c.login()[-1][0] == 0x00
            else:
                c.read_handshake()
                c.sock.sendall(_frame(raw_tail, 1))
                _drain(c.sock)
                return
            for cmd in commands:
                c.sock.sendall(_frame(cmd, 0))
                _drain(c.sock)
            if huge:  # a header announcing far more than max_allowed_packet
                c.sock.sendall(b"\xff\xff\xff\x00" + b"\x03" * 100)
            c.sock.sendall(raw_tail)
            _drain(c.sock)
        except (OSError, EOFError):
            pass
        finally:
            c.close()

    one()


async def test_live_server_survives_malformed_packets(served: Served) -> None:
    with trio.fail_after(240):
        await in_thread(_fuzz_live, served.port)

    def normal() -> tuple:
        with served.pymysql() as c, c.cursor() as cur:
            cur.execute("SELECT 'still serving'")
            return cur.fetchone()

    assert await in_thread(normal) == ("still serving",)
    await wait_until(lambda: not served.server._connections)


async def test_out_of_order_and_oversized_packets_get_error_packets(
    served: Served, nursery: trio.Nursery
) -> None:
    small = await start_server(nursery, max_packet_size=1024)

    def run() -> list[int | None]:
        from tests.server.rawclient import err_code

        codes = []
        c = RawClient(served.port)
        c.login()
        c.send_packet(b"\x03SELECT 1", 5)  # wrong sequence id
        codes.append(err_code(c.read_packet()[1]))
        c.close()
        c = RawClient(small.port)
        c.login()
        c.sock.sendall(b"\xd0\x07\x00\x00\x03")  # announces 2000 bytes > 1024 allowed
        codes.append(err_code(c.read_packet()[1]))  # refused at the header, not buffered
        try:
            c.read_packet()
            codes.append(0)
        except EOFError:
            codes.append(None)  # and the connection is closed
        c.close()
        c = RawClient(served.port)
        c.login()
        c.command(b"")  # empty command: not fatal
        codes.append(err_code(c.read_packet()[1]))
        codes.append(err_code(c.query("SELECT 1")[0]))  # still usable: a result set
        c.close()
        return codes

    codes = await in_thread(run)
    assert codes == [1156, 1153, None, 1835, None]


async def test_protocol_error_inside_a_command_is_answered_not_crashed(
    nursery: trio.Nursery,
) -> None:
    """A ProtocolError raised while a command runs (here: long data beyond
    max_allowed_packet) is answered with its error packet and the connection closed —
    not logged as a crash (it used to escape wrapped in the connection's nursery group)."""
    import struct

    import structlog

    from tests.server.rawclient import err_code

    small = await start_server(nursery, max_packet_size=1024)

    def run() -> tuple[int | None, bool]:
        c = RawClient(small.port)
        c.login()
        c.command(b"\x16SELECT ?")  # COM_STMT_PREPARE
        ok = c.read_packet()[1]
        assert ok[0] == 0, ok
        stmt_id, columns, params = struct.unpack_from("<IHH", ok, 1)
        for _ in range(params + (1 if params else 0) + columns + (1 if columns else 0)):
            c.read_packet()  # parameter and column definitions, with their EOFs
        for _ in range(2):  # no response by protocol; the second one is too much
            c.send_packet(b"\x18" + struct.pack("<IH", stmt_id, 0) + b"x" * 900, 0)
        code = err_code(c.read_packet()[1])
        try:
            c.read_packet()
            closed = False
        except (EOFError, OSError):
            closed = True
        c.close()
        return code, closed

    with structlog.testing.capture_logs() as events:
        code, closed = await in_thread(run)
        await trio.sleep(0.05)
    assert code is not None and closed
    assert not [e for e in events if "crash" in e["event"]], events
