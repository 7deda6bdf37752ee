"""Python values ↔ MySQL column types and their text / binary wire encodings.

A :class:`sharding.api.Result` carries Python values and, per column, its definition.
:func:`describe_columns` fixes each column's wire definition once per result set:

* a column with a whole definition (``Column.wire``: the shard's own column definition,
  the one the coordinator derived — :mod:`sharding.sql.describe` — or MariaDB's for an
  answer the coordinator makes itself — :mod:`sharding.local_columns`) is sent with
  it: type, length, flags, charset and decimals;
* a column with only a type code gets that type's widest definition, and one with
  neither is LONGTEXT (utf8mb4), which carries any value as text.

No value is ever looked at to choose a type: :func:`describe_columns` takes no rows.

The binary protocol encodes each value by its column's announced type. A value that
does not fit a declared type (a zero date the driver returns as text, a number as a
string) is converted to it (a string's leading number, else 0; the zero date; NULL
for a NULL-typed column), never misencoded and never an exception.

Invariants:

* ``encode_text_row``/``encode_binary_row`` never raise, whatever the values.
* ``decode_binary_params`` raises :class:`~sharding.server.codec.MalformedPacket`, never
  an IndexError/struct.error, on truncated or inconsistent input.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import struct
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sharding.api import CHARSETS, COLLATIONS, Column
from sharding.server.codec import ColumnDef, MalformedPacket, PayloadReader, lenenc_bytes
from sharding.server.constants import (
    CHARSET_BINARY,
    CHARSET_UTF8MB4,
    ColumnFlag,
    FieldType,
)
from sharding.server.generated import GeneratedFunctions, compile_function

__all__ = [
    "WireColumn",
    "announced_definition",
    "column_definition_of",
    "decode_binary_params",
    "describe_columns",
    "encode_binary_row",
    "encode_text_row",
    "in_results_charset",
    "text_value",
]

_INT_TYPES = frozenset(
    {
        FieldType.TINY,
        FieldType.SHORT,
        FieldType.LONG,
        FieldType.INT24,
        FieldType.LONGLONG,
        FieldType.YEAR,
    }
)
_FLOAT_TYPES = frozenset({FieldType.FLOAT, FieldType.DOUBLE})
_DATE_TYPES = frozenset({FieldType.DATE, FieldType.NEWDATE})
_DATETIME_TYPES = frozenset({FieldType.DATETIME, FieldType.TIMESTAMP})
_BLOB_TYPES = frozenset(
    {
        FieldType.TINY_BLOB,
        FieldType.MEDIUM_BLOB,
        FieldType.LONG_BLOB,
        FieldType.BLOB,
        FieldType.GEOMETRY,
    }
)


# -- text encoding -------------------------------------------------------------------


def _fmt_timedelta(v: dt.timedelta, decimals: int | None = None) -> str:
    """``[-]HH:MM:SS[.ffffff]``: the fraction when there is one (``decimals`` None), or
    exactly ``decimals`` digits of it (a ``TIME(decimals)`` column)."""
    total_us = (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    secs, us = divmod(total_us, 1_000_000)
    hours, rem = divmod(secs, 3600)
    minutes, seconds = divmod(rem, 60)
    out = f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    if decimals is not None:
        return f"{out}.{us:06d}"[: len(out) + 1 + decimals] if decimals else out
    return f"{out}.{us:06d}" if us else out


def text_value(v: Any) -> bytes | None:
    """The text-protocol form of one value (None → SQL NULL)."""
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    if isinstance(v, bool):
        return b"1" if v else b"0"
    if isinstance(v, int):
        return str(v).encode()
    if isinstance(v, float):
        return repr(v).encode()
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if isinstance(v, Decimal):
        return format(v, "f").encode()
    if isinstance(v, dt.datetime):
        s = v.strftime("%Y-%m-%d %H:%M:%S")
        return (f"{s}.{v.microsecond:06d}" if v.microsecond else s).encode()
    if isinstance(v, dt.date):
        return v.isoformat().encode()
    if isinstance(v, dt.time):
        return v.isoformat().encode()
    if isinstance(v, dt.timedelta):
        return _fmt_timedelta(v).encode()
    return str(v).encode("utf-8", "surrogateescape")


#: ``decimals`` of a FLOAT/DOUBLE definition without a fixed scale (NOT_FIXED_DEC).
_NOT_FIXED_DEC = 31


def _double_text(v: float, single: bool) -> bytes:
    """MariaDB's text of a DOUBLE without a fixed scale (FLOAT: 6 significant digits,
    as ``%g``): the shortest digits that read back as the value, written out in full
    from 1e-15 up to below 1e15 (``0.0000000000000030000000000000002``,
    ``100000000000000.5``, and ``1234567890123456.8``: 17 digits, one of them after the
    point), else as ``<digits>e<exponent>`` (``1e15``,
    ``1.2345678901234568e16``, ``2.9999999999999997e-20``); zero is ``0``, never ``-0``
    (measured on MariaDB 10.11; Python's ``repr`` writes ``1e+16``, ``3e-16``
    alike but ``1e-05``, ``100000.0``)."""
    if v != v or v in (math.inf, -math.inf):
        return repr(v).encode()  # (MariaDB has no such DOUBLE: NULL instead)
    if v == 0:
        return b"0"
    d = Decimal(format(v, ".6g") if single else repr(v)).normalize()
    e = d.adjusted()
    sign, digits, _ = d.as_tuple()
    if -15 <= e <= 14 or (e == 15 and len(digits) == 17):
        # (17 digits with one of them after the point are still written out in full:
        # 1234567890123456.8, but 1.234567890123456e15.)
        return format(d, "f").encode()
    head = str(digits[0])
    tail = "".join(map(str, digits[1:]))
    return f"{'-' if sign else ''}{head}{'.' + tail if tail else ''}e{e}".encode()


def _fixed_double_text(v: float, decimals: int) -> bytes:
    """A DOUBLE with a fixed scale (``ROUND(x, 3)``: ``2.500``): every place written;
    past the 17 digits a DOUBLE holds, its shortest digits then zeros (as
    ``ShownFloat``)."""
    if v != v or v in (math.inf, -math.inf):
        return repr(v).encode()
    if v == 0:
        v = 0.0  # not -0.000
    if len(str(int(abs(v)))) + decimals > 17:
        return f"{Decimal(repr(v)):.{decimals}f}".encode()
    return f"{v:.{decimals}f}".encode()


def _text_encoder(definition: ColumnDef) -> Callable[[Any], bytes | None] | None:
    """How one column's values are written in the text protocol where that depends on
    its definition, as MariaDB writes them (None: :func:`text_value`):

    * FLOAT/DOUBLE: without a fixed scale as :func:`_double_text`, with one at exactly
      that many places;
    * DATETIME/TIMESTAMP/TIME of ``decimals`` 1–6: exactly that many fractional digits
      (``05:03:01.5`` for ``DATETIME(1)``, ``00:00:00.000`` for ``(3)``), none for 0.

    Only the value type the column holds is formatted so (``type(v) is float``, a
    datetime, a timedelta); anything else — a zero date the driver kept as text, a
    ``ShownFloat`` that carries its own scale — is written by :func:`text_value`."""
    ftype, decimals = definition.type, definition.decimals
    if ftype in _FLOAT_TYPES:
        single = ftype == FieldType.FLOAT
        if decimals >= _NOT_FIXED_DEC:

            def double(v: Any) -> bytes | None:
                return _double_text(v, single) if type(v) is float else text_value(v)

            return double

        def fixed(v: Any) -> bytes | None:
            return _fixed_double_text(v, decimals) if type(v) is float else text_value(v)

        return fixed
    if decimals > 6:
        return None
    if ftype in _DATETIME_TYPES:

        def stamp(v: Any) -> bytes | None:
            if type(v) is not dt.datetime:
                return text_value(v)
            s = v.strftime("%Y-%m-%d %H:%M:%S")
            return (f"{s}.{v.microsecond:06d}"[: len(s) + 1 + decimals] if decimals else s).encode()

        return stamp
    if ftype == FieldType.TIME:

        def time_(v: Any) -> bytes | None:
            if type(v) is not dt.timedelta:
                return text_value(v)
            s = _fmt_timedelta(v, decimals)
            return s.encode()

        return time_
    return None


def encode_text_row(values: Sequence[Any], cols: Sequence[WireColumn] | None = None) -> bytes:
    """One text-protocol row: each value as :func:`text_value` writes it, or as its
    column's definition asks (:attr:`WireColumn.encode_text`)."""
    parts: list[bytes] = []
    if cols is None:
        for v in values:
            b = text_value(v)
            parts.append(b"\xfb" if b is None else lenenc_bytes(b))
        return b"".join(parts)
    append = parts.append
    for v, col in zip(values, cols):  # noqa: B905 - never raises (module invariant)
        if v is None:
            append(b"\xfb")
            continue
        enc = col.encode_text
        if enc is not None:
            b = enc(v)
        elif type(v) is str:  # the usual value: what text_value does, without its call
            b = v.encode("utf-8", "surrogateescape")
        else:
            b = text_value(v)
        if b is None:
            append(b"\xfb")
        elif len(b) < 0xFB:  # what lenenc_bytes writes, without its two calls
            append(_LENGTH_BYTE[len(b)])
            append(b)
        else:
            append(lenenc_bytes(b))
    return b"".join(parts)


#: The one-byte length prefix of a value shorter than 251 bytes, by length.
_LENGTH_BYTE = tuple(bytes((n,)) for n in range(0xFB))

#: Row encoders made by :func:`text_row_encoder`, by the columns' text forms — not by
#: the columns themselves: each connection describes its results with columns of its
#: own, and 4096 connections thrashed a cache keyed by them (``bench.concurrency
#: --profile``: the encoder compiled again and again).
_ROW_ENCODERS: GeneratedFunctions[
    tuple[tuple[int, int] | None, ...], Callable[[Sequence[Any]], bytes]
] = GeneratedFunctions(256)
#: Wider rows are encoded by the loop of :func:`encode_text_row`.
_ROW_ENCODER_COLUMNS = 64


def text_row_encoder(cols: Sequence[WireColumn]) -> Callable[[Sequence[Any]], bytes]:
    """``row → payload``: exactly :func:`encode_text_row` of ``row`` with these
    columns, generated as straight-line code per column (as the native connection's
    row parsers): no loop, no list of parts grown per value, no test of the column's
    encoder per value. A row whose width is
    not the column count goes through :func:`encode_text_row` (whose ``zip`` decides).
    Made once per list of text forms (:attr:`WireColumn.text_form`: columns of the
    same forms encode alike) and kept."""
    key = tuple([c.text_form for c in cols])
    encoder = _ROW_ENCODERS.get(key)
    if encoder is not None:
        return encoder
    columns = tuple(cols)
    if not key or len(key) > _ROW_ENCODER_COLUMNS:

        def looped(row: Sequence[Any]) -> bytes:
            return encode_text_row(row, columns)

        encoder = looped
    else:
        n = len(key)
        namespace: dict[str, Any] = {
            "encode_text_row": encode_text_row,
            "text_value": text_value,
            "lenenc_bytes": lenenc_bytes,
            "LB": _LENGTH_BYTE,
            "NULL": b"\xfb",
            "cols": columns,
        }
        lines = [
            "def encode(row):",
            f"    if len(row) != {n}:",
            "        return encode_text_row(row, cols)",
        ]
        parts = []
        for i, col in enumerate(columns):
            enc = col.encode_text
            if enc is not None:
                namespace[f"e{i}"] = enc
                convert = [f"        b = e{i}(v)"]
            else:
                convert = [
                    "        if type(v) is str:",
                    '            b = v.encode("utf-8", "surrogateescape")',
                    "        else:",
                    "            b = text_value(v)",
                ]
            lines += [
                f"    v = row[{i}]",
                "    if v is None:",
                f"        l{i} = NULL",
                f'        b{i} = b""',
                "    else:",
                *convert,
                "        if b is None:",
                f"            l{i} = NULL",
                f'            b{i} = b""',
                "        elif (m := len(b)) < 0xFB:",
                f"            l{i} = LB[m]",
                f"            b{i} = b",
                "        else:",
                f"            l{i} = lenenc_bytes(b)",
                f'            b{i} = b""',
            ]
            parts += [f"l{i}", f"b{i}"]
        lines.append(f"    return b''.join(({', '.join(parts)},))")
        encoder = compile_function(lines, namespace, "encode")
    return _ROW_ENCODERS.put(key, encoder)


# -- column description ----------------------------------------------------------------


class WireColumn:
    """One column as sent: its definition and the binary encoder matching its type
    (``None`` for a NULL-typed column: every value of it is sent as NULL)."""

    __slots__ = ("definition", "encode_binary", "encode_text", "text_form")

    def __init__(self, definition: ColumnDef, encode_binary: Callable[[Any], bytes] | None) -> None:
        self.definition = definition
        self.encode_binary = encode_binary
        #: The text form of a value where the definition decides it (:func:`_text_encoder`).
        self.encode_text = _text_encoder(definition)
        #: What ``encode_text`` depends on (None: there is none): equal for columns
        #: whose text forms are the same, whichever connection described them.
        self.text_form = (
            None if self.encode_text is None else (definition.type, definition.decimals)
        )


def _definition(name: str, ftype: int) -> ColumnDef:
    """A column known only by its type code: the widest definition of that type (the
    values are never looked at)."""
    flags = 0
    charset = CHARSET_BINARY
    decimals = 0
    length = 0
    if ftype in _INT_TYPES:
        flags |= ColumnFlag.NUM | ColumnFlag.BINARY
        length = 20 if ftype == FieldType.LONGLONG else 11
    elif ftype in _FLOAT_TYPES:
        flags |= ColumnFlag.NUM | ColumnFlag.BINARY
        length, decimals = 22, 31  # 31 = NOT_FIXED_DEC: no fixed scale
    elif ftype in (FieldType.NEWDECIMAL, FieldType.DECIMAL):
        flags |= ColumnFlag.NUM | ColumnFlag.BINARY
        length, decimals = 67, 30
    elif ftype in _DATE_TYPES:
        flags |= ColumnFlag.BINARY
        length = 10
    elif ftype in _DATETIME_TYPES or ftype == FieldType.TIME:
        # Six fractional digits: a value with microseconds is sent whole.
        flags |= ColumnFlag.BINARY
        length, decimals = 26, 6
    elif ftype in _BLOB_TYPES:
        flags |= ColumnFlag.BLOB | ColumnFlag.BINARY
        length = 0xFFFFFFFF
    elif ftype == FieldType.NULL:
        flags |= ColumnFlag.BINARY
    else:
        charset = CHARSET_UTF8MB4
        length = 1020
    return ColumnDef(
        name=name, type=ftype, charset=charset, length=length, flags=flags, decimals=decimals
    )


def _text_definition(name: str) -> ColumnDef:
    """A column with no type at all: LONGTEXT in utf8mb4, which carries any value as
    text (:data:`sharding.sql.describe.CONSERVATIVE`)."""
    return ColumnDef(
        name=name,
        type=FieldType.BLOB,
        charset=CHARSET_UTF8MB4,
        length=0xFFFFFFFF,
        flags=ColumnFlag.BLOB,
        decimals=39,
    )


def column_definition_of(col: Column) -> ColumnDef:
    """``col``'s definition: its whole one (``Column.wire``), else the one of its type
    code, else LONGTEXT. Never from values."""
    wire = col.wire
    if wire is not None:
        # Without an origin: the name as org_name, no table (not known).
        schema, table, org_table, org_name = wire.origin or ("", "", "", None)
        return ColumnDef(
            name=col.name,
            type=wire.type,
            charset=wire.charset,
            length=wire.length,
            flags=wire.flags,
            decimals=wire.decimals,
            schema=schema,
            table=table,
            org_table=org_table,
            org_name=col.name if org_name is None else org_name,
            named=True,
        )
    if col.type_code is not None:
        try:
            return _definition(col.name, FieldType(col.type_code))
        except ValueError:
            pass
    return _text_definition(col.name)


def describe_columns(columns: Sequence[Column]) -> list[WireColumn]:
    """Fix each column's wire definition for a result set (see module docstring): from
    the columns alone, before and without any row."""
    out: list[WireColumn] = []
    for col in columns:
        definition = column_definition_of(col)
        out.append(WireColumn(definition, _binary_encoder(definition.type)))
    return out


def _charset_numbers() -> tuple[dict[str, tuple[int, int]], dict[int, int]]:
    by_name = {
        name: (COLLATIONS[collation][1], maxlen)
        for name, (collation, maxlen, _) in CHARSETS.items()
        if collation in COLLATIONS
    }
    maxlen_of_id = {
        cid: CHARSETS[charset][1] for charset, cid in COLLATIONS.values() if charset in CHARSETS
    }
    return by_name, maxlen_of_id


_CHARSET_NUMBERS: tuple[dict[str, tuple[int, int]], dict[int, int]] | None = None


def in_results_charset(definition: ColumnDef, charset: str | None) -> ColumnDef:
    """``definition`` as sent to a client whose ``character_set_results`` is
    ``charset``: MariaDB announces a text column in that character set (its default
    collation) with the display length counted in it (``CHAR(10)``: 40 in utf8mb4,
    10 in latin1). Numbers, temporals and binary strings (charset 63) are unchanged,
    and so is everything for utf8mb4 or no conversion (NULL)."""
    global _CHARSET_NUMBERS
    if charset is None or definition.charset == CHARSET_BINARY:
        return definition
    cs = charset.lower()
    if cs in ("utf8mb4", "null", ""):
        return definition
    if _CHARSET_NUMBERS is None:
        _CHARSET_NUMBERS = _charset_numbers()
    by_name, maxlen_of_id = _CHARSET_NUMBERS
    target = by_name.get("utf8mb3" if cs == "utf8" else cs)
    source_maxlen = maxlen_of_id.get(definition.charset)
    if target is None or source_maxlen is None:
        return definition
    number, maxlen = target
    length = min(definition.length // source_maxlen * maxlen, 0xFFFFFFFF)
    return dataclasses.replace(definition, charset=number, length=length)


def announced_definition(col: Column) -> ColumnDef:
    """A result column as announced by COM_STMT_PREPARE: the same definition as at
    execution (:func:`column_definition_of`)."""
    return column_definition_of(col)


# -- binary encoding -------------------------------------------------------------------


_LEADING_NUMBER = re.compile(rb"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _number_text(v: Any) -> bytes:
    b = text_value(v)
    m = _LEADING_NUMBER.match(b or b"")
    return m.group(0).strip() if m else b"0"


def _as_int(v: Any) -> int:
    """``v`` as an integer (a string's leading number, else 0)."""
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float | Decimal):
        try:
            return int(v)
        except (ValueError, OverflowError, InvalidOperation):
            return 0
    try:
        return int(Decimal(_number_text(v).decode()))
    except (InvalidOperation, ValueError, OverflowError):
        return 0


def _as_float(v: Any) -> float:
    if isinstance(v, int | float | Decimal):
        try:
            return float(v)
        except OverflowError:
            return 0.0
    try:
        return float(_number_text(v))
    except ValueError:
        return 0.0


def _enc_int(fmt_signed: str, fmt_unsigned: str) -> Callable[[Any], bytes]:
    signed = struct.Struct(fmt_signed)
    unsigned = struct.Struct(fmt_unsigned)
    limit = 1 << (signed.size * 8 - 1)
    mask = (1 << (unsigned.size * 8)) - 1

    def enc(v: Any) -> bytes:
        n = v if type(v) is int else _as_int(v)
        if -limit <= n < limit:
            return signed.pack(n)
        return unsigned.pack(n & mask)

    return enc


_ZERO_TEMPORAL = b"\x00"  # length 0: the zero date / 00:00:00


def _temporal_of(v: Any, kind: str) -> Any:
    """A date/datetime/time value given as text (a zero date the driver left as a
    string, a value of an expression): parsed, or None for the zero value."""
    text = (text_value(v) or b"").decode("ascii", "replace").strip()
    try:
        if kind == "time":
            neg = text.startswith("-")
            h, _, rest = text.lstrip("-").partition(":")
            m, _, sec = rest.partition(":")
            td = dt.timedelta(hours=int(h or 0), minutes=int(m or 0), seconds=float(sec or 0))
            return -td if neg else td
        if kind == "date":
            return dt.date.fromisoformat(text[:10])
        return dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None


def _enc_datetime(v: Any) -> bytes:
    if not isinstance(v, dt.date):
        v = _temporal_of(v, "datetime")
        if v is None:
            return _ZERO_TEMPORAL
    if isinstance(v, dt.datetime):
        if v.microsecond:
            return struct.pack(
                "<BHBBBBBI",
                11,
                v.year,
                v.month,
                v.day,
                v.hour,
                v.minute,
                v.second,
                v.microsecond,
            )
        if v.hour or v.minute or v.second:
            return struct.pack("<BHBBBBB", 7, v.year, v.month, v.day, v.hour, v.minute, v.second)
    return struct.pack("<BHBB", 4, v.year, v.month, v.day)


def _enc_date(v: Any) -> bytes:
    if not isinstance(v, dt.date):
        v = _temporal_of(v, "date")
        if v is None:
            return _ZERO_TEMPORAL
    return struct.pack("<BHBB", 4, v.year, v.month, v.day)


def _enc_time(v: Any) -> bytes:
    if isinstance(v, dt.time):
        v = dt.timedelta(
            hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond
        )
    elif not isinstance(v, dt.timedelta):
        v = _temporal_of(v, "time")
        if v is None:
            return _ZERO_TEMPORAL
    total_us = (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds
    neg = 1 if total_us < 0 else 0
    total_us = abs(total_us)
    secs, us = divmod(total_us, 1_000_000)
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    if total_us == 0:
        return b"\x00"
    if days > 0xFFFFFFFF:
        return _ZERO_TEMPORAL
    if us:
        return struct.pack("<BBIBBBI", 12, neg, days, hours, minutes, seconds, us)
    return struct.pack("<BBIBBB", 8, neg, days, hours, minutes, seconds)


def _enc_text(v: Any) -> bytes:
    b = text_value(v)
    return lenenc_bytes(b if b is not None else b"")


_F4 = struct.Struct("<f")
_F8 = struct.Struct("<d")


def _enc_float(v: Any) -> bytes:
    f = v if type(v) is float else _as_float(v)
    try:
        return _F4.pack(f)
    except OverflowError:
        return _F4.pack(float("inf") if f > 0 else float("-inf"))


def _enc_double(v: Any) -> bytes:
    return _F8.pack(v if type(v) is float else _as_float(v))


def _binary_encoder(ftype: int) -> Callable[[Any], bytes] | None:
    if ftype == FieldType.NULL:
        return None
    if ftype == FieldType.TINY:
        return _enc_int("<b", "<B")
    if ftype in (FieldType.SHORT, FieldType.YEAR):
        return _enc_int("<h", "<H")
    if ftype in (FieldType.LONG, FieldType.INT24):
        return _enc_int("<i", "<I")
    if ftype == FieldType.LONGLONG:
        return _enc_int("<q", "<Q")
    if ftype == FieldType.FLOAT:
        return _enc_float
    if ftype == FieldType.DOUBLE:
        return _enc_double
    if ftype in _DATE_TYPES:
        return _enc_date
    if ftype in _DATETIME_TYPES:
        return _enc_datetime
    if ftype == FieldType.TIME:
        return _enc_time
    return _enc_text


def encode_binary_row(columns: Sequence[WireColumn], values: Sequence[Any]) -> bytes:
    """Protocol::BinaryResultsetRow: 0x00, NULL bitmap (offset 2), non-NULL values."""
    n = len(columns)
    bitmap = bytearray((n + 9) // 8)
    parts: list[bytes] = []
    for i, col in enumerate(columns):
        v = values[i] if i < len(values) else None
        encode = col.encode_binary
        if v is None or encode is None:
            bit = i + 2
            bitmap[bit >> 3] |= 1 << (bit & 7)
        else:
            parts.append(encode(v))
    return b"\x00" + bytes(bitmap) + b"".join(parts)


# -- binary parameters (COM_STMT_EXECUTE) --------------------------------------------------


def _dec_datetime(r: PayloadReader, ftype: int) -> Any:
    n = r.int1()
    if n not in (0, 4, 7, 11):
        raise MalformedPacket(f"malformed packet: bad DATETIME length {n}")
    year = month = day = hour = minute = second = micro = 0
    if n >= 4:
        year, month, day = r.int2(), r.int1(), r.int1()
    if n >= 7:
        hour, minute, second = r.int1(), r.int1(), r.int1()
    if n == 11:
        micro = r.int4()
    if n == 0 or year == 0 or month == 0 or day == 0:
        # MySQL's zero date has no Python equivalent; pass it as text.
        return f"{year:04d}-{month:02d}-{day:02d}" + (
            "" if ftype in _DATE_TYPES else f" {hour:02d}:{minute:02d}:{second:02d}"
        )
    try:
        if ftype in _DATE_TYPES and n == 4:
            return dt.date(year, month, day)
        return dt.datetime(year, month, day, hour, minute, second, micro)
    except ValueError as exc:
        raise MalformedPacket(f"malformed packet: invalid date/time parameter ({exc})") from exc


def _dec_time(r: PayloadReader) -> dt.timedelta:
    n = r.int1()
    if n not in (0, 8, 12):
        raise MalformedPacket(f"malformed packet: bad TIME length {n}")
    if n == 0:
        return dt.timedelta(0)
    neg, days, hours, minutes, seconds = r.int1(), r.int4(), r.int1(), r.int1(), r.int1()
    micro = r.int4() if n == 12 else 0
    try:
        td = dt.timedelta(
            days=days, hours=hours, minutes=minutes, seconds=seconds, microseconds=micro
        )
    except OverflowError as exc:
        raise MalformedPacket("malformed packet: TIME parameter out of range") from exc
    return -td if neg else td


def _as_text(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def decode_param(ftype: int, unsigned: bool, r: PayloadReader) -> Any:
    """One binary-protocol parameter value of type ``ftype``."""
    if ftype == FieldType.NULL:
        return None
    if ftype == FieldType.TINY:
        v = r.int1()
        return v if unsigned or v < 0x80 else v - 0x100
    if ftype in (FieldType.SHORT, FieldType.YEAR):
        v = r.int2()
        return v if unsigned or v < 0x8000 else v - 0x10000
    if ftype in (FieldType.LONG, FieldType.INT24):
        v = r.int4()
        return v if unsigned or v < 1 << 31 else v - (1 << 32)
    if ftype == FieldType.LONGLONG:
        v = r.int8()
        return v if unsigned or v < 1 << 63 else v - (1 << 64)
    if ftype == FieldType.FLOAT:
        return _F4.unpack(r.fixed(4))[0]
    if ftype == FieldType.DOUBLE:
        return _F8.unpack(r.fixed(8))[0]
    if ftype in _DATE_TYPES or ftype in _DATETIME_TYPES:
        return _dec_datetime(r, ftype)
    if ftype == FieldType.TIME:
        return _dec_time(r)
    raw = r.lenenc_bytes()
    return convert_param_bytes(ftype, raw)


def convert_param_bytes(ftype: int, raw: bytes) -> Any:
    """A string-encoded parameter (inline or sent with COM_STMT_SEND_LONG_DATA)."""
    if ftype in (FieldType.DECIMAL, FieldType.NEWDECIMAL):
        try:
            return Decimal(raw.decode("ascii"))
        except (InvalidOperation, UnicodeDecodeError) as exc:
            raise MalformedPacket("malformed packet: invalid DECIMAL parameter") from exc
    if ftype in _BLOB_TYPES or ftype == FieldType.BIT:
        return raw
    if ftype in (
        FieldType.VARCHAR,
        FieldType.VAR_STRING,
        FieldType.STRING,
        FieldType.ENUM,
        FieldType.SET,
        FieldType.JSON,
    ):
        return _as_text(raw)
    raise MalformedPacket(f"malformed packet: unknown parameter type {ftype}")


def decode_binary_params(
    r: PayloadReader,
    num_params: int,
    previous_types: list[tuple[int, bool]] | None,
    long_data: dict[int, bytearray],
) -> tuple[list[Any], list[tuple[int, bool]]]:
    """Decode COM_STMT_EXECUTE parameters after the iteration count.

    Returns the values and the types used (the client may omit types on later
    executions, reusing the last ones bound: ``previous_types``).
    """
    if num_params == 0:
        return [], previous_types or []
    null_bitmap = r.fixed((num_params + 7) // 8)
    bound = r.int1()
    if bound:
        types: list[tuple[int, bool]] = []
        for _ in range(num_params):
            t = r.int1()
            flag = r.int1()
            types.append((t, bool(flag & 0x80)))
    elif previous_types is not None and len(previous_types) == num_params:
        types = previous_types
    else:
        raise MalformedPacket("malformed packet: parameter types were never sent")
    values: list[Any] = []
    for i, (ftype, unsigned) in enumerate(types):
        if i in long_data:
            raw = bytes(long_data[i])
            try:
                values.append(convert_param_bytes(ftype, raw))
            except MalformedPacket:
                values.append(_as_text(raw))  # long data for a non-string type: as sent
        elif null_bitmap[i >> 3] & (1 << (i & 7)):
            values.append(None)
        else:
            values.append(decode_param(ftype, unsigned, r))
    return values, types
