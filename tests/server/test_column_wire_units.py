"""Result columns with a declared definition (issue 14 item 6), without a server:

* a column carrying ``Column.wire`` is sent with exactly that definition, and one
  without it gets the definition of its type code, or LONGTEXT: ``describe_columns``
  takes no rows at all, so no type can come from the values;
* the binary protocol encodes every value by the announced type, and a value that
  does not fit it (a zero date the driver returns as text, a number as a string, a
  value in a NULL-typed column) is converted to that type (a string's leading number,
  else 0; the zero date; NULL) — never an exception, never bytes of another type;
* ``in_results_charset`` announces text columns in the client's result character set.
"""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharding.api import Column
from sharding.backend.base import ColumnType
from sharding.server.codec import ColumnDef, PayloadReader
from sharding.server.constants import FieldType
from sharding.server.types import (
    decode_param,
    describe_columns,
    encode_binary_row,
    in_results_charset,
)


def _wire(
    ftype: int, length: int = 11, flags: int = 0, decimals: int = 0, charset: int = 63
) -> Column:
    return Column("c", ftype, ColumnType(ftype, length, flags, decimals, charset))


def test_a_declared_definition_is_sent_whatever_the_values() -> None:
    declared = _wire(FieldType.LONG, 11, 0x5003)
    (col,) = describe_columns([declared])
    d = col.definition
    assert (d.type, d.length, d.flags, d.decimals, d.charset) == (FieldType.LONG, 11, 0x5003, 0, 63)
    (text,) = describe_columns([_wire(FieldType.STRING, 40, 0x1001, 0, 45)])
    assert (text.definition.type, text.definition.charset) == (FieldType.STRING, 45)


def _decoded(ftype: int, value: Any) -> Any:
    (col,) = describe_columns([_wire(ftype)])
    row = encode_binary_row([col], (value,))
    assert row[:2] == b"\x00\x00"  # header, NULL bitmap: not NULL
    return decode_param(ftype, False, PayloadReader(row, 2))


@pytest.mark.parametrize(
    ("ftype", "value", "expected"),
    [
        (FieldType.LONGLONG, "12abc", 12),
        (FieldType.LONGLONG, "abc", 0),
        (FieldType.LONGLONG, Decimal("7.9"), 7),
        (FieldType.LONGLONG, True, 1),
        (FieldType.LONG, b"-5", -5),
        (FieldType.DOUBLE, "2.5x", 2.5),
        (FieldType.DOUBLE, Decimal("1.25"), 1.25),
        (FieldType.DOUBLE, "nope", 0.0),
        (FieldType.DATE, "2024-01-02", dt.date(2024, 1, 2)),
        (FieldType.DATETIME, "2024-01-02 03:04:05", dt.datetime(2024, 1, 2, 3, 4, 5)),
        (FieldType.TIME, "01:02:03", dt.timedelta(hours=1, minutes=2, seconds=3)),
        (FieldType.TIME, "-838:59:59", -dt.timedelta(hours=838, minutes=59, seconds=59)),
    ],
)
def test_values_that_do_not_fit_are_converted(ftype: int, value: Any, expected: Any) -> None:
    assert _decoded(ftype, value) == expected


@pytest.mark.parametrize("ftype", [FieldType.DATE, FieldType.DATETIME, FieldType.TIMESTAMP])
def test_a_zero_date_as_text_is_the_zero_date(ftype: int) -> None:
    (col,) = describe_columns([_wire(ftype)])
    # MySQL's zero date in the binary protocol: length 0 (all fields zero).
    assert encode_binary_row([col], ("0000-00-00 00:00:00",)) == b"\x00\x00\x00"


def test_a_null_typed_column_sends_null() -> None:
    cols = describe_columns([_wire(FieldType.NULL, 0), _wire(FieldType.LONG)])
    row = encode_binary_row(cols, ("surprise", 5))
    # NULL bitmap (offset 2): bit 2 set for column 0; then column 1's 4-byte int only.
    assert row == b"\x00\x04" + struct.pack("<i", 5)


values = st.one_of(
    st.none(),
    st.integers(-(1 << 70), 1 << 70),
    st.floats(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.datetimes(min_value=dt.datetime(1, 1, 1)),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.booleans(),
)
TYPES = [int(t) for t in FieldType]


@settings(max_examples=400)
@given(st.sampled_from(TYPES), values)
def test_the_binary_encoder_never_raises(ftype: int, value: Any) -> None:
    (col,) = describe_columns([_wire(ftype)])
    row = encode_binary_row([col], (value,))
    assert row[0] == 0


def test_text_columns_are_announced_in_the_results_charset() -> None:
    char10 = ColumnDef(name="c", type=FieldType.STRING, charset=45, length=40, flags=0x1001)
    latin1 = in_results_charset(char10, "latin1")
    assert (latin1.charset, latin1.length, latin1.flags) == (8, 10, 0x1001)
    assert in_results_charset(char10, "utf8mb3").length == 30
    assert in_results_charset(char10, "binary").charset == 63
    assert in_results_charset(char10, "utf8mb4") == char10
    assert in_results_charset(char10, None) == char10
    number = ColumnDef(name="n", type=FieldType.LONG, charset=63, length=11)
    assert in_results_charset(number, "latin1") == number


def test_describe_columns_takes_no_rows() -> None:
    """The definitions come from the columns alone: the function has no parameter a
    row could be passed through, and a column without a definition is LONGTEXT
    (utf8mb4), one with only a type code that type's widest definition — the same
    whatever values the result later carries."""
    import inspect

    assert list(inspect.signature(describe_columns).parameters) == ["columns"]
    bare, coded = describe_columns([Column("bare"), Column("coded", FieldType.LONGLONG)])
    b = bare.definition
    assert (b.type, b.length, b.charset, b.decimals) == (FieldType.BLOB, 0xFFFFFFFF, 45, 39)
    c = coded.definition
    assert (c.type, c.length, c.charset) == (FieldType.LONGLONG, 20, 63)
    # Any value goes out in the announced type: as text for LONGTEXT, converted for BIGINT.
    for value in (1, 2.5, "x", b"\x00", dt.date(2024, 1, 2), None, Decimal("1.50")):
        row = encode_binary_row([bare, coded], (value, value))
        assert row[0] == 0
