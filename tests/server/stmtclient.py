"""COM_STMT_PREPARE over a raw socket: the column definitions a server announces for a
prepared statement, as a C API client (``mysql_stmt_result_metadata``) or sysbench sees
them. PyMySQL and aiomysql have no server-side prepare, so tests that compare the
coordinator's prepare answer with MariaDB's read the packets themselves.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.server.rawclient import RawClient, err_code


@dataclass(frozen=True)
class Announced:
    """One column definition of a COM_STMT_PREPARE answer (Protocol::ColumnDefinition41)."""

    name: str
    type: int
    length: int
    flags: int
    decimals: int
    charset: int
    #: (schema, table, org_table, org_name): where the column comes from; not compared
    #: with the numbers above (tests of origins compare it on its own).
    origin: tuple[str, ...] = field(default=("", "", "", ""), compare=False)


def _lenenc(pkt: bytes, pos: int) -> tuple[bytes, int]:
    n = pkt[pos]
    pos += 1
    if n == 0xFC:
        n = struct.unpack_from("<H", pkt, pos)[0]
        pos += 2
    elif n == 0xFD:
        n = int.from_bytes(pkt[pos : pos + 3], "little")
        pos += 3
    elif n == 0xFE:
        n = struct.unpack_from("<Q", pkt, pos)[0]
        pos += 8
    return pkt[pos : pos + n], pos + n


def parse_column(pkt: bytes) -> Announced:
    pos = 0
    fields = []
    for _ in range(6):  # catalog, schema, table, org_table, name, org_name
        value, pos = _lenenc(pkt, pos)
        fields.append(value)
    pos += 1  # length of the fixed fields (0x0c)
    charset, length, ftype, flags, decimals = struct.unpack_from("<HIBHB", pkt, pos)
    origin = tuple(fields[i].decode("utf-8", "replace") for i in (1, 2, 3, 5))
    return Announced(
        fields[4].decode("utf-8", "replace"), ftype, length, flags, decimals, charset, origin
    )


class PrepareError(Exception):
    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def prepare(client: RawClient, sql: str) -> tuple[int, list[Announced]]:
    """COM_STMT_PREPARE ``sql`` (EOF mode): (parameter count, announced result columns).
    The statement is closed again (COM_STMT_CLOSE has no answer)."""
    client.command(b"\x16" + sql.encode())
    _, first = client.read_packet()
    if first[0] == 0xFF:
        raise PrepareError(err_code(first), first[9:].decode("utf-8", "replace"))
    stmt_id, ncols, nparams = struct.unpack_from("<IHH", first, 1)
    if nparams:
        for _ in range(nparams):
            client.read_packet()
        client.read_packet()  # EOF
    columns = []
    if ncols:
        for _ in range(ncols):
            columns.append(parse_column(client.read_packet()[1]))
        client.read_packet()  # EOF
    client.send_packet(b"\x19" + struct.pack("<I", stmt_id), 0)
    return nparams, columns


def connect(port: int, database: str | None = None, timeout: float = 5.0) -> RawClient:
    client = RawClient(port, timeout=timeout)
    out = client.login(database=database)
    if out[-1][0] != 0x00:
        raise PrepareError(err_code(out[-1]), "login failed")
    return client


def execute(
    client: RawClient, sql: str, params: Sequence[int | str] = ()
) -> tuple[list[Announced], list[Announced], int]:
    """Prepare ``sql``, execute it once with ``params`` (integers as BIGINT, strings as
    VAR_STRING; binary protocol, EOF mode): (announced columns, the execution's column
    definitions, rows received)."""
    client.command(b"\x16" + sql.encode())
    _, first = client.read_packet()
    if first[0] == 0xFF:
        raise PrepareError(err_code(first), first[9:].decode("utf-8", "replace"))
    stmt_id, ncols, nparams = struct.unpack_from("<IHH", first, 1)
    assert nparams == len(params), (nparams, params)
    if nparams:
        for _ in range(nparams + 1):
            client.read_packet()
    announced = [parse_column(client.read_packet()[1]) for _ in range(ncols)]
    if ncols:
        client.read_packet()  # EOF
    payload = b"\x17" + struct.pack("<IBI", stmt_id, 0, 1)
    if params:
        payload += bytes((len(params) + 7) // 8) + b"\x01"
        payload += b"".join(b"\xfd\x00" if isinstance(p, str) else b"\x08\x00" for p in params)
        for p in params:
            if isinstance(p, str):
                raw = p.encode()
                assert len(raw) < 251
                payload += bytes((len(raw),)) + raw
            else:
                payload += struct.pack("<q", p)
    client.command(payload)
    _, head = client.read_packet()
    if head[0] == 0xFF:
        raise PrepareError(err_code(head), head[9:].decode("utf-8", "replace"))
    sent: list[Announced] = []
    rows = 0
    if head[0] != 0x00:
        sent = [parse_column(client.read_packet()[1]) for _ in range(head[0])]
        client.read_packet()  # EOF after the definitions
        while True:
            _, pkt = client.read_packet()
            if pkt[0] == 0xFE and len(pkt) < 9:
                break
            if pkt[0] == 0xFF:
                raise PrepareError(err_code(pkt), pkt[9:].decode("utf-8", "replace"))
            rows += 1
    client.send_packet(b"\x19" + struct.pack("<I", stmt_id), 0)
    return announced, sent, rows
