"""MySQL's ``BIT_AND``/``BIT_OR``/``BIT_XOR`` aggregates on the SQLite default.

SQLite has no bit aggregates, so a statement using them (on one shard, or as each
shard's partial that the coordinator merges with the same operation) needs them
registered on every shard connection (:func:`install`, called by
:func:`sharding.backend.sqlite_mysql.install`); the translation renders
``BIT_AND(x)`` as ``sg_unsigned(sg_bit_rows(sg_bit_and(x), 1))``.

Invariants (measured on MariaDB 10.11):

* The result is MySQL's BIGINT UNSIGNED: 64 bits, never NULL; no rows (or only NULLs)
  give the operation's identity (``BIT_AND``: 18446744073709551615, the others 0):
  SQLite's aggregate of no rows is NULL (its instance is never made), which
  ``sg_bit_rows`` replaces.
* The aggregate returns its 64 bits as the signed SQLite integer holding them, like the
  scalar bit operators (``sg_bitand``); the ``sg_unsigned`` around it reads them back
  as the unsigned value (digits beyond BIGINT, which the shard's result typing reads as
  an integer when the call is a select item).
* Each argument is converted as MySQL converts it, else the statement is a 1235: an
  integer as its two's-complement bits; a REAL (a DOUBLE or a DECIMAL, which SQLite
  does not tell apart) rounded to the nearest integer (a DOUBLE by ``rint``, a DECIMAL
  half away from zero: an exact ``.5`` is refused as the two disagree, and so is a
  value beyond BIGINT, which MySQL clamps with or without a warning by type); a string
  by its integer prefix (``'12abc'`` is 12, ``' 7.6'`` 7, ``'1.5e2'`` 1) with MySQL's
  1292 warning when it is no clean integer (a prefix beyond BIGINT is refused: MySQL
  clamps it, differently for a column and a literal); a BLOB is refused.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable
from typing import Any

from sharding.backend import sqlite_arithmetic
from sharding.errors import NotSupported

_BITS = 1 << 64
#: MySQL's integer prefix of a string (its spaces are ASCII only).
_INTEGER_PREFIX = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def _refuse(what: str) -> NotSupported:
    return NotSupported(f"BIT_AND/OR/XOR() of {what} on the SQLite default")


def _as_bits(x: Any) -> int:
    """MySQL's unsigned 64 bits of one non-NULL argument (module doc)."""
    if isinstance(x, int):
        return x % _BITS
    if isinstance(x, float):
        if not math.isfinite(x) or not -(2.0**63) <= x < 2.0**63:
            raise _refuse("a value beyond BIGINT")
        floor = math.floor(x)
        if x - floor == 0.5:
            raise _refuse("a DOUBLE or DECIMAL ending in .5")
        return round(x) % _BITS
    if isinstance(x, str):
        sqlite_arithmetic.truncation(x, "INTEGER")
        m = _INTEGER_PREFIX.match(x)
        n = int(m.group(1)) if m is not None else 0
        if not -(1 << 63) <= n < 1 << 63:
            # MariaDB clamps: a column's '18446744073709551615' is 9223372036854775807,
            # the literal's 18446744073709551615.
            raise _refuse("a string (or an UNSIGNED value as its digits) beyond BIGINT")
        return n % _BITS
    raise _refuse("a binary string")


#: :func:`_as_bits` keeping the MySQL error it raises for the statement's report
#: (:func:`install`).
_convert: Callable[[Any], int] = _as_bits


def _rows(value: int | None, ones: int) -> int:
    """``sg_bit_rows(agg, ones)``: the aggregate's value; of no rows (SQLite's NULL) the
    identity, all ones (``-1``: BIT_AND) or 0."""
    if value is not None:
        return value
    return -1 if ones else 0


class _BitAggregate:
    """One group's running value (a subclass per operation)."""

    identity = 0

    def __init__(self) -> None:
        self.value = self.identity

    def combine(self, bits: int) -> None:
        raise NotImplementedError

    def step(self, x: Any) -> None:
        if x is not None:
            self.combine(_convert(x))

    def finalize(self) -> int:
        v = self.value
        return v - _BITS if v >= 1 << 63 else v


class _BitAnd(_BitAggregate):
    identity = _BITS - 1

    def combine(self, bits: int) -> None:
        self.value &= bits


class _BitOr(_BitAggregate):
    def combine(self, bits: int) -> None:
        self.value |= bits


class _BitXor(_BitAggregate):
    def combine(self, bits: int) -> None:
        self.value ^= bits


_CLASSES: dict[str, type[_BitAggregate]] = {
    "sg_bit_and": _BitAnd,
    "sg_bit_or": _BitOr,
    "sg_bit_xor": _BitXor,
}


def install(
    conn: sqlite3.Connection, reporting: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> None:
    """Register the three aggregates on one connection; ``reporting`` keeps the MySQL
    error a conversion raises (``sqlite_mysql._reporting``: sqlite3 reports only that
    the aggregate's step raised)."""
    global _convert
    _convert = reporting(_as_bits)
    conn.create_function("sg_bit_rows", 2, _rows, deterministic=True)
    for name, cls in _CLASSES.items():
        conn.create_aggregate(name, 1, cls)
