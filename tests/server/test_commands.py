"""Commands exercised byte for byte: prepared statements (long data, reset, close,
rebinding), COM_FIELD_LIST, COM_RESET_CONNECTION, COM_SET_OPTION, COM_PROCESS_KILL."""

from __future__ import annotations

import struct

from tests.server.conftest import Served, in_thread
from tests.server.rawclient import RawClient, err_code


def _prepare(c: RawClient, sql: str) -> tuple[int, int]:
    c.command(b"\x16" + sql.encode())
    _, ok = c.read_packet()
    assert ok[0] == 0x00, ok
    stmt_id, ncols, nparams = struct.unpack_from("<IHH", ok, 1)
    for _ in range(nparams):
        c.read_packet()
    if nparams:
        c.read_packet()  # EOF (no DEPRECATE_EOF)
    assert ncols == 0
    return stmt_id, nparams


def _execute(
    c: RawClient, stmt_id: int, types: list[int] | None, nulls: int, values: bytes
) -> list[bytes]:
    payload = b"\x17" + struct.pack("<IBI", stmt_id, 0, 1)
    if types is not None:
        payload += bytes((nulls,)) + b"\x01" + b"".join(struct.pack("<BB", t, 0) for t in types)
    else:
        payload += bytes((nulls,)) + b"\x00"
    c.command(payload + values)
    return c.read_response()


async def test_prepared_statement_lifecycle(served: Served) -> None:
    def run() -> None:
        c = RawClient(served.port)
        c.login()
        assert c.query("CREATE TABLE ps (a INT, b TEXT)")[0][0] == 0x00
        sid, n = _prepare(c, "INSERT INTO ps VALUES (?, ?) -- ? not a param")
        assert n == 2
        # a = 7 (LONGLONG), b sent as long data in two pieces
        c.command(b"\x18" + struct.pack("<IH", sid, 1) + b"hello ")
        c.command(b"\x18" + struct.pack("<IH", sid, 1) + b"world")
        ok = _execute(c, sid, [8, 253], 0, struct.pack("<q", 7))
        assert ok[0][:2] == b"\x00\x01"  # OK, 1 affected row
        # second execution reuses the bound types; b is NULL
        ok = _execute(c, sid, None, 0b10, struct.pack("<q", 8))
        assert ok[0][:2] == b"\x00\x01"
        sel, _ = _prepare(c, "SELECT a, b FROM ps WHERE a >= ? ORDER BY a")
        rows = _execute(c, sel, [3], 0, struct.pack("<i", 7))  # LONG param
        assert rows[0] == b"\x02"
        data_rows = [p for p in rows[4:] if p[0] == 0x00]
        assert data_rows[0] == b"\x00\x00" + struct.pack("<q", 7) + b"\x0bhello world"
        assert data_rows[1] == b"\x00\x08" + struct.pack("<q", 8)  # NULL bit for column 2
        c.command(b"\x1a" + struct.pack("<I", sid))  # COM_STMT_RESET
        assert c.read_packet()[1][0] == 0x00
        c.command(b"\x19" + struct.pack("<I", sid))  # COM_STMT_CLOSE: no response
        assert err_code(_execute(c, sid, [8, 253], 0, b"")[0]) == 1243
        c.command(b"\x1a" + struct.pack("<I", 999))
        assert err_code(c.read_packet()[1]) == 1243
        # a prepare of two statements is refused
        c.command(b"\x16SELECT 1; SELECT 2")
        assert err_code(c.read_packet()[1]) == 1295
        # the statement survived all of this
        assert c.query("SELECT COUNT(*) FROM ps")[-2] == b"\x012"
        c.close()

    await in_thread(run)


async def test_field_list_reset_connection_set_option(served: Served) -> None:
    def run() -> None:
        c = RawClient(served.port)
        c.login()
        c.query("CREATE TABLE fl (x INT, y TEXT)")
        c.command(b"\x04fl\x00")
        defs = []
        while True:
            _, p = c.read_packet()
            if p[0] == 0xFE:
                break
            defs.append(p)
        assert len(defs) == 2 and b"\x01x" in defs[0] and defs[0].endswith(b"\xfb")
        c.command(b"\x04missing\x00")
        assert err_code(c.read_packet()[1]) == 1146
        c.query("SET @v = 5")
        sid, _ = _prepare(c, "SELECT 1")
        c.command(b"\x1f")  # COM_RESET_CONNECTION
        assert c.read_packet()[1][0] == 0x00
        assert c.query("SELECT @v")[-2] == b"\xfb"  # user variable gone
        assert err_code(_execute(c, sid, None, 0, b"")[0]) == 1243  # statements gone
        # multi-statements can be switched on per connection
        assert err_code(c.query("SELECT 1; SELECT 2")[0]) is not None  # one statement only
        c.command(b"\x1b\x00\x00")  # COM_SET_OPTION MULTI_STATEMENTS_ON
        assert c.read_packet()[1][0] == 0xFE
        c.command(b"\x03SELECT 1; SELECT 2")
        first = c.read_response()
        assert first[-1][0] == 0xFE and struct.unpack_from("<H", first[-1], 3)[0] & 0x08
        second = c.read_response()
        assert second[-2] == b"\x012"
        c.command(b"\x0c" + struct.pack("<I", 987654))  # COM_PROCESS_KILL unknown id
        assert err_code(c.read_packet()[1]) == 1094
        c.command(b"\x09")  # COM_STATISTICS: a bare string
        assert c.read_packet()[1].startswith(b"Uptime: ")
        c.command(b"\x01")  # COM_QUIT
        assert c.sock.recv(1) == b""

    await in_thread(run)
