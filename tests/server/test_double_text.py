"""The text of FLOAT/DOUBLE and fractional temporal values, against MariaDB's own.

The text protocol writes a DOUBLE as MariaDB does (``sharding.server.types``:
``1e15``, ``0.00001``, ``1234567890123456.8``; Python's ``repr`` gives ``1e+15``,
``1e-05``), a FLOAT with 6 significant digits, a DOUBLE of fixed scale with all its
places, and DATETIME/TIME with exactly their column's fractional digits. Random
doubles of every magnitude (random bit patterns, random digit strings) are compared
with MariaDB's text for the same value (``CAST(x AS CHAR)``, the same formatting the
text protocol uses; ``tests/fidelity/test_relay.py`` compares protocol bytes).
"""

from __future__ import annotations

import datetime as dt
import random
import struct

import pymysql

from sharding.server.codec import ColumnDef
from sharding.server.constants import FieldType
from sharding.server.types import WireColumn, encode_text_row
from tests.conftest import MYSQL_HOST, MYSQL_PORT, require_mysql_or_skip


def _literal(v: float) -> str:
    text = repr(v)
    return text if "e" in text else f"{text}e0"  # a DOUBLE literal, never DECIMAL


def _values(rnd: random.Random, n: int) -> list[float]:
    out: list[float] = []
    while len(out) < n:
        kind = rnd.random()
        if kind < 0.4:
            v = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
            if v != v or v in (float("inf"), float("-inf")):
                continue
        elif kind < 0.8:
            v = rnd.uniform(-1, 1) * 10 ** rnd.randint(-25, 25)
        else:
            v = float(f"{rnd.randint(1, 10 ** rnd.randint(1, 17))}e{rnd.randint(-25, 25)}")
        out.append(v)
    # The edges of the plain notation, and zeros.
    out += [1e15, 1e16, 999999999999999.0, 1234567890123456.8, 1e-15, 3e-16, 0.0, -0.0]
    return out


def _column(ftype: int, decimals: int) -> WireColumn:
    return WireColumn(ColumnDef("c", ftype, decimals=decimals), None)


def _text(col: WireColumn, v: object) -> str:
    row = encode_text_row([v], [col])
    return row[1:].decode()  # one length byte: every value here is short


def test_double_and_float_text_match_mariadb() -> None:
    require_mysql_or_skip()
    rnd = random.Random(16)
    double = _column(FieldType.DOUBLE, 31)
    single = _column(FieldType.FLOAT, 31)
    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="")
    try:
        cur = conn.cursor()
        for _ in range(5):
            values = _values(rnd, 200)
            cur.execute("SELECT " + ", ".join(f"CAST({_literal(v)} AS CHAR)" for v in values))
            row = cur.fetchone()
            assert row is not None
            for v, text in zip(values, row, strict=True):
                assert _text(double, v) == text, repr(v)
            floats = values[:100]
            cur.execute(
                "SELECT "
                + ", ".join(
                    f"CAST(CAST({_literal(v)} AS FLOAT) AS CHAR), CAST({_literal(v)} AS FLOAT)"
                    for v in floats
                )
            )
            row = cur.fetchone()
            assert row is not None
            for i, v in enumerate(floats):
                # The FLOAT as a client's driver reads it (its text parsed), then written.
                assert _text(single, row[2 * i + 1]) == row[2 * i], repr(v)
    finally:
        conn.close()


def test_fixed_scale_and_fractional_temporals() -> None:
    fixed = _column(FieldType.DOUBLE, 3)
    assert _text(fixed, 2.5) == "2.500"
    assert _text(_column(FieldType.DOUBLE, 2), 1.5e20) == "150000000000000000000.00"
    assert _text(fixed, -0.0) == "0.000"
    stamp = dt.datetime(2024, 1, 2, 5, 3, 1, 500000)
    assert _text(_column(FieldType.DATETIME, 1), stamp) == "2024-01-02 05:03:01.5"
    assert _text(_column(FieldType.DATETIME, 3), stamp.replace(microsecond=0)) == (
        "2024-01-02 05:03:01.000"
    )
    assert _text(_column(FieldType.TIMESTAMP, 0), stamp.replace(microsecond=0)) == (
        "2024-01-02 05:03:01"
    )
    assert _text(_column(FieldType.TIME, 2), dt.timedelta(hours=-1, seconds=-0.25)) == (
        "-01:00:00.25"
    )
    assert _text(_column(FieldType.TIME, 0), dt.timedelta(hours=838)) == "838:00:00"
    # A value the column's type does not hold is written as it is (a zero date as text).
    assert _text(_column(FieldType.DATETIME, 3), "0000-00-00 00:00:00.000") == (
        "0000-00-00 00:00:00.000"
    )
    # A NULL stays NULL.
    assert encode_text_row([None], [fixed]) == b"\xfb"
