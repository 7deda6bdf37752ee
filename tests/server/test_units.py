"""Unit tests of the sans-IO pieces: codec framing, SQL scanning, value encodings,
authentication, config validation, local session statements."""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharding.api import Column
from sharding.errors import NotSupported
from sharding.server.auth import (
    CACHING_SHA2,
    NATIVE,
    Authenticator,
    User,
    native_hash,
    scramble_native,
    scramble_sha2,
)
from sharding.server.codec import (
    PacketCodec,
    PacketsOutOfOrder,
    PacketTooLarge,
    PayloadReader,
    lenenc_bytes,
    lenenc_int,
)
from sharding.server.config import ConfigError, ServerConfig, parse_hostport
from sharding.server.constants import FieldType
from sharding.server.localsql import (
    SessionVariables,
    UnknownSystemVariable,
    default_variables,
    local_select,
    local_set,
    local_show,
)
from sharding.server.sqlscan import (
    count_placeholders,
    leading_words,
    split_statements,
    unwrap_executable_comment,
)
from sharding.server.types import (
    WireColumn,
    decode_param,
    describe_columns,
    encode_binary_row,
    encode_text_row,
    text_row_encoder,
    text_value,
)

# -- codec -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 0xFFFFFE, 0xFFFFFF, 0xFFFFFF + 1, 2 * 0xFFFFFF + 5])
def test_frame_and_reassemble_round_trip(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    sender = PacketCodec()
    wire = sender.frame(payload)
    expected_packets = size // 0xFFFFFF + 1
    assert sender.seq == expected_packets
    receiver = PacketCodec(max_packet_size=64 << 20)
    for i in range(0, len(wire), 1 << 20):  # arbitrary chunking
        receiver.receive_data(wire[i : i + (1 << 20)])
    assert receiver.next_packet() == payload
    assert receiver.next_packet() is None and receiver.buffered == 0


@pytest.mark.parametrize("size", [0, 250, 251, 0xFFFFFE, 0xFFFFFF, 0xFFFFFF + 3])
def test_frame_into_appends_what_frame_returns(size: int) -> None:
    payload = b"y" * size
    by_frame, into = PacketCodec(), PacketCodec()
    by_frame.seq = into.seq = 254  # and the ids wrap the same way
    out = bytearray(b"before")
    into.frame_into(out, payload)
    into.frame_into(out, b"next")
    assert bytes(out) == b"before" + by_frame.frame(payload) + by_frame.frame(b"next")
    assert into.seq == by_frame.seq


@pytest.mark.parametrize("stop_at", [1, 40, 1 << 30])
def test_frame_rows_into_frames_what_frame_into_does(stop_at: int) -> None:
    """Rows framed in one call: the same bytes and ids as one frame_into per row
    (wrapping ids, a payload split at 16 MiB), stopping after the row that fills
    ``out`` to ``stop_at`` and resuming from the index it returns."""
    rows = [b"a" * 10, b"", b"z" * 0xFFFFFF, b"b" * 300, b"tail"]
    by_row, batched = PacketCodec(), PacketCodec()
    by_row.seq = batched.seq = 253
    expected = bytearray()
    for r in rows:
        by_row.frame_into(expected, r)
    out = bytearray()
    i, calls = 0, 0
    while i < len(rows):
        before = len(out)
        i = batched.frame_rows_into(out, rows, i, bytes, stop_at)
        calls += 1
        assert len(out) > before  # every call frames at least one row
        if i < len(rows):
            assert len(out) >= stop_at  # it stopped only because out is full
    assert bytes(out) == bytes(expected)
    assert batched.seq == by_row.seq
    assert calls == {1: 5, 40: 3, 1 << 30: 1}[stop_at]
    assert batched.frame_rows_into(out, rows, len(rows), bytes, 1) == len(rows)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    payloads=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from([b"\xfe\x00\x00\x02\x00", b"\xff\x10\x04#HY000x", b""]),
        ),
        max_size=12,
    ),
    cut=st.integers(1, 64),
    limit=st.integers(1, 5),
    max_packet=st.sampled_from([1 << 20, 30]),
)
def test_next_packets_returns_what_next_packet_would(
    payloads: list[bytes], cut: int, limit: int, max_packet: int
) -> None:
    """A run of payloads taken at once is exactly what next_packet returns one by one
    (same order, same sequence ids, the same errors), at most ``limit``, ending after
    one that starts with 0xFE or 0xFF; whatever it leaves (too large, incomplete) is
    next_packet's, which then raises or waits as before."""
    sender = PacketCodec()
    wire = b"".join(sender.frame(p) for p in payloads)
    one, batched = PacketCodec(max_packet_size=max_packet), PacketCodec(max_packet_size=max_packet)

    def drain(codec: PacketCodec, many: bool) -> list[Any]:
        got: list[Any] = []
        for i in range(0, len(wire), cut):
            codec.receive_data(wire[i : i + cut])
            while True:
                try:
                    run = codec.next_packets(limit) if many else []
                    if many:
                        assert len(run) <= limit
                        assert all(p[:1] < b"\xfe" for p in run[:-1])
                    if not run:
                        packet = codec.next_packet()
                        run = [] if packet is None else [packet]
                except PacketTooLarge:
                    got.append("too large")
                    return got
                if not run:
                    break
                got += run
        return got

    expected = drain(one, False)
    assert drain(batched, True) == expected
    assert batched.seq == one.seq and batched.buffered == one.buffered


def test_sequence_and_size_checks() -> None:
    c = PacketCodec(max_packet_size=10)
    c.receive_data(struct.pack("<I", 3 | (1 << 24)) + b"abc")
    with pytest.raises(PacketsOutOfOrder):
        c.next_packet()
    c = PacketCodec(max_packet_size=10)
    c.receive_data(struct.pack("<I", 11))  # refused from the header alone
    with pytest.raises(PacketTooLarge):
        c.next_packet()


@given(st.integers(0, (1 << 64) - 1))
def test_lenenc_round_trip(n: int) -> None:
    assert PayloadReader(lenenc_int(n)).lenenc_int() == n


# -- sqlscan ------------------------------------------------------------------------------


def test_split_respects_quotes_and_comments() -> None:
    sql = 'SELECT \'a;b\', "c;\\"d", `e;f`; -- x;y\nSELECT 2 /* ; */; # z;\n;  '
    parts = split_statements(sql)
    assert parts[0] == 'SELECT \'a;b\', "c;\\"d", `e;f`'
    assert parts[1] == "-- x;y\nSELECT 2 /* ; */"
    assert len(parts) == 2  # "# z;" is only a comment: dropped
    single = "INSERT INTO t VALUES ('x;')"
    assert split_statements(single)[0] is single  # untouched, not even copied


def test_placeholders() -> None:
    assert count_placeholders("SELECT ?, '?', \"?\", `?` /* ? */ -- ?\n, ? # ?") == 2
    assert count_placeholders("INSERT INTO t VALUES (" + ",".join("?" * 20) + ")") == 20
    assert count_placeholders("SELECT 'it''s ?', ?") == 1


def test_leading_words_and_exec_comments() -> None:
    assert leading_words("  /* hi */ -- c\n select  @@x", 2) == ["SELECT"]
    assert leading_words("SHOW FULL PROCESSLIST", 3) == ["SHOW", "FULL", "PROCESSLIST"]
    assert unwrap_executable_comment("/*!40101 SET NAMES utf8 */") == "SET NAMES utf8"
    assert unwrap_executable_comment("SELECT 1") == "SELECT 1"


@settings(max_examples=200)
@given(st.lists(st.text(alphabet="ab;'\"`-#/*\\ \n?", max_size=20), max_size=5))
def test_scanner_never_crashes(parts: list[str]) -> None:
    sql = ";".join(parts)
    split_statements(sql)
    assert count_placeholders(sql) <= sql.count("?")


# -- types -----------------------------------------------------------------------------


_TEXT_ROW_VALUES = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.sampled_from(["\udcff", "a\udc80b", "x" * 250, "é" * 126, "z" * 70000]),
    st.binary(max_size=300),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT_ROW_VALUES, max_size=5), st.data())
def test_text_rows_are_each_value_length_encoded(row: list[Any], data: Any) -> None:
    """encode_text_row's inlined paths write what text_value and lenenc_bytes write (or
    a column's own encoder): NULL as 0xFB, short and long values alike."""
    expected = b"".join(b"\xfb" if (b := text_value(v)) is None else lenenc_bytes(b) for v in row)
    assert encode_text_row(row) == expected
    # Columns with and without an encoder of their own (a DOUBLE's text is its own).
    types = [FieldType.VAR_STRING, FieldType.LONGLONG, FieldType.DOUBLE, FieldType.BLOB]
    cols: list[WireColumn] = describe_columns(
        [Column(f"c{i}", data.draw(st.sampled_from(types))) for i in range(len(row))]
    )
    with_cols = []
    for v, c in zip(row, cols, strict=True):
        b = None if v is None else (c.encode_text or text_value)(v)
        with_cols.append(b"\xfb" if b is None else lenenc_bytes(b))
    assert encode_text_row(row, cols) == b"".join(with_cols)
    # The generated encoder of these columns writes the same bytes (and hands a row of
    # another width to encode_text_row); it is made once per column list.
    encoder = text_row_encoder(cols)
    assert encoder(row) == b"".join(with_cols)
    assert encoder((*row, "extra")) == encode_text_row((*row, "extra"), cols)
    assert text_row_encoder(list(cols)) is encoder
    # Another connection's description of the same columns finds it too (the cache is
    # keyed by text forms, not by the column objects: many connections thrashed it).
    again = describe_columns([Column(f"c{i}", c.definition.type) for i, c in enumerate(cols)])
    assert text_row_encoder(again) is encoder


def test_text_row_encoders_differ_by_text_form() -> None:
    """Columns whose text forms differ (a DOUBLE's digits, a DATETIME(n)'s fraction) get
    encoders of their own; one of each form is shared."""

    def column(ftype: int, decimals: int) -> list[WireColumn]:
        (widest,) = describe_columns([Column("c", ftype)])
        return [WireColumn(dataclasses.replace(widest.definition, decimals=decimals), None)]

    double, fixed = column(FieldType.DOUBLE, 31), column(FieldType.DOUBLE, 2)
    stamp3, stamp6 = column(FieldType.DATETIME, 3), column(FieldType.DATETIME, 6)
    encoders = [text_row_encoder(cols) for cols in (double, fixed, stamp3, stamp6)]
    assert len({id(e) for e in encoders}) == 4
    assert text_row_encoder(column(FieldType.DOUBLE, 2)) is encoders[1]
    assert encoders[1]((1.5,)) == lenenc_bytes(b"1.50")
    value = dt.datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert encoders[2]((value,)) == lenenc_bytes(b"2024-01-02 03:04:05.123")
    assert encoders[3]((value,)) == lenenc_bytes(b"2024-01-02 03:04:05.123456")


def test_text_row_encoding() -> None:
    row = (
        1,
        -2.5,
        "é",
        b"\x00",
        None,
        Decimal("1.50"),
        dt.datetime(2024, 1, 2, 3, 4, 5, 6),
        dt.date(2024, 1, 2),
        dt.timedelta(hours=-1, seconds=1),
        True,
    )
    enc = encode_text_row(row)
    r = PayloadReader(enc)
    values = []
    for _ in row:
        if r.data[r.pos] == 0xFB:
            r.pos += 1
            values.append(None)
        else:
            values.append(r.lenenc_bytes())
    assert values == [
        b"1",
        b"-2.5",
        "é".encode(),
        b"\x00",
        None,
        b"1.50",
        b"2024-01-02 03:04:05.000006",
        b"2024-01-02",
        b"-00:59:59",
        b"1",
    ]


def test_describe_columns_never_infers_from_values() -> None:
    """A column without a definition is LONGTEXT and one with only a type code keeps
    that type, whatever the values (``describe_columns`` takes no rows)."""
    cols = describe_columns(
        [
            Column("i"),
            Column("declared", FieldType.LONG),
            Column("null", FieldType.NULL),
        ]
    )
    assert [c.definition.type for c in cols] == [
        FieldType.BLOB,
        FieldType.LONG,
        FieldType.NULL,
    ]


values_strategy = st.one_of(
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.floats(allow_nan=False),
    st.text(max_size=50),
    st.binary(max_size=50),
    st.datetimes(min_value=dt.datetime(1, 1, 1)),
    st.dates(),
    st.timedeltas(min_value=dt.timedelta(days=-30), max_value=dt.timedelta(days=30)),
)


def _declared_type(value: Any) -> int:
    """The type a backend would declare for a column of such values."""
    if isinstance(value, int):
        return FieldType.LONGLONG
    if isinstance(value, float):
        return FieldType.DOUBLE
    if isinstance(value, bytes):
        return FieldType.BLOB
    if isinstance(value, dt.datetime):
        return FieldType.DATETIME
    if isinstance(value, dt.date):
        return FieldType.DATE
    if isinstance(value, dt.timedelta):
        return FieldType.TIME
    return FieldType.VAR_STRING


@settings(max_examples=300)
@given(values_strategy)
def test_binary_row_round_trips_through_param_decoder(value: Any) -> None:
    (col,) = describe_columns([Column("c", _declared_type(value))])
    row = encode_binary_row([col], (value,))
    assert row[0] == 0 and row[1] == 0  # header, NULL bitmap (offset 2): not null
    decoded = decode_param(col.definition.type, False, PayloadReader(row, 2))
    assert decoded == value


# -- auth / config ----------------------------------------------------------------------


def test_native_and_sha2_verification() -> None:
    auth = Authenticator(
        [
            User("app", "pw"),
            User.from_config({"name": "h", "password_hash": "*" + native_hash("pw2").hex()}),
        ]
    )
    nonce = b"n" * 20
    assert auth.verify(NATIVE, "app", nonce, scramble_native("pw", nonce))
    assert not auth.verify(NATIVE, "app", nonce, scramble_native("px", nonce))
    assert auth.verify(CACHING_SHA2, "app", nonce, scramble_sha2("pw", nonce))
    assert not auth.verify(CACHING_SHA2, "app", nonce, b"\x00" * 32)
    assert auth.verify(NATIVE, "h", nonce, scramble_native("pw2", nonce))
    assert auth.plugin_for("h", CACHING_SHA2) == NATIVE
    assert not auth.verify(NATIVE, "ghost", nonce, scramble_native("pw", nonce))
    assert not auth.verify(NATIVE, "app", nonce, b"short")
    open_auth = Authenticator()
    assert open_auth.open_root and open_auth.verify(NATIVE, "root", nonce, b"")


def test_config_validation() -> None:
    assert parse_hostport("[::1]:3307", what="x") == ("::1", 3307)
    assert parse_hostport(":3307", what="x") == ("127.0.0.1", 3307)
    with pytest.raises(ConfigError, match="not a loopback"):
        ServerConfig.from_mapping({"listen": "0.0.0.0:3307"})
    cfg = ServerConfig.from_mapping(
        {"listen": "0.0.0.0:3307", "users": [{"name": "u", "password": "p"}]}
    )
    assert cfg.has_password
    with pytest.raises(ConfigError, match="unknown keys"):
        ServerConfig.from_mapping({"lisen": "x"})
    with pytest.raises(ConfigError):
        ServerConfig.from_mapping({"users": [{"name": "u", "password": "p", "x": 1}]})
    with pytest.raises(ConfigError):
        ServerConfig.from_mapping({"max_connections": 0})
    with pytest.raises(ConfigError):
        ServerConfig.from_mapping({"tls_cert": "a.pem"})


# -- local session statements ------------------------------------------------------------


class _Ctx:
    def __init__(self) -> None:
        self.connection_id = 7
        self.user = "root"
        self.host = "127.0.0.1"
        self.variables = SessionVariables(
            default_variables(
                server_version="8.0.36-shardgate", max_allowed_packet=1024, wait_timeout=60, port=1
            )
        )
        self.last_insert_id = 0
        self.diagnostics: list[tuple[str, int, str]] = []
        self.database: str | None = "db"
        self.autocommit = True


def test_local_select() -> None:
    ctx = _Ctx()
    r = local_select(ctx, "SELECT @@version_comment LIMIT 1")
    assert r is not None and r.rows == [("shardgate",)]
    r = local_select(
        ctx,
        "select @@session.auto_increment_increment AS auto_increment_increment, "
        "@@character_set_client, DATABASE(), 'lit', 3, NULL",
    )
    assert r is not None and r.rows == [(1, "utf8mb4", "db", "lit", 3, None)]
    assert [c.name for c in r.columns or []] == [
        "auto_increment_increment",
        "@@character_set_client",
        "DATABASE()",
        "lit",
        "3",
        "NULL",
    ]
    for not_local in (
        "SELECT * FROM t",
        "SELECT @@version FROM t",
        "SELECT a",
        "SELECT 1 + 1",
        "SELECT @@version, id FROM t WHERE x = 1",
    ):
        assert local_select(ctx, not_local) is None, not_local
    with pytest.raises(UnknownSystemVariable):
        local_select(ctx, "SELECT @@nope")


def test_local_set() -> None:
    ctx = _Ctx()
    out = local_set(
        ctx, "SET autocommit=0, sql_mode = concat(@@sql_mode, ',STRICT_ALL_TABLES'), @u := 5"
    )
    assert out is not None and out.forward == ["SET autocommit=0"]
    # MariaDB keeps sql_mode flags in its own fixed order, not in the order set.
    assert "STRICT_ALL_TABLES" in ctx.variables.system["sql_mode"].split(",")
    assert ctx.variables.user["u"] == 5
    out = local_set(ctx, "SET character_set_results = NULL, NAMES latin1")
    assert out is not None and ctx.variables.system["character_set_results"] == "latin1"
    out = local_set(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    assert out is not None and ctx.variables.system["transaction_isolation"] == "READ-COMMITTED"
    assert local_set(ctx, "SET @x = (SELECT MAX(id) FROM t)") is None  # not ours: forwarded
    with pytest.raises(NotSupported):
        local_set(ctx, "SET PASSWORD = 'x'")


def test_local_show() -> None:
    ctx = _Ctx()
    r = local_show(ctx, "SHOW VARIABLES WHERE Variable_name IN ('wait_timeout', 'autocommit')")
    assert r is not None and sorted(r.rows) == [("autocommit", "ON"), ("wait_timeout", "60")]
    r = local_show(ctx, "SHOW COLLATION WHERE Charset = 'utf8mb4' AND Id > 3")
    assert r is None  # a condition it cannot evaluate: not answered locally
    r = local_show(ctx, "SHOW COLLATION WHERE Charset = 'utf8mb4' OR Collation LIKE 'latin1%'")
    assert r is not None
    # MariaDB 10.11's whole list for these two character sets (see charsets_data.py).
    assert {row[1] for row in r.rows} == {"utf8mb4", "latin1"} and len(r.rows) == 43
    r = local_show(ctx, "SHOW CHARACTER SET LIKE 'utf8%'")
    assert r is not None and {row[0] for row in r.rows} == {"utf8mb4", "utf8mb3"}
    assert local_show(ctx, "SHOW TABLES") is None
    assert local_show(ctx, "SHOW CREATE TABLE t") is None
