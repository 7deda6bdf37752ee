"""MySQL/MariaDB value semantics: :class:`MySQLSemantics` and its table :data:`MYSQL`.

The subclass of :class:`~sharding.merge.semantics.Semantics` (whose base rules are
SQLite's) for the MySQL backend, in its own module (issue 13); its DECIMAL arithmetic is
:mod:`sharding.merge.mysql_decimal`. ``sharding.merge.semantics`` re-exports both names.

The MySQL table (:data:`MYSQL`, a :class:`MySQLSemantics`) was measured against
MariaDB 10.11 (``tests/backend_mysql/test_semantics_mysql.py`` and the differential
corpus compare with the server itself), not transcribed from documentation:

* Collations: ``utf8mb4_general_ci`` (the default), ``utf8mb4_unicode_ci``, the
  ``_bin`` and ``_nopad_`` variants, from weights measured with ``WEIGHT_STRING``
  (:mod:`sharding.merge.mysql_collations`), PAD SPACE included (``'a' = 'a '``,
  ``'a\t' < 'a'``). An unknown collation is refused (NotSupported), never guessed.
* Numbers keep MySQL's types: ``int ⊕ int`` is an integer (out of BIGINT range: error
  1690), anything with a DECIMAL is a DECIMAL, anything with a DOUBLE or a string is a
  DOUBLE (strings convert by their numeric prefix: ``'3x' + 1 = 4.0``). DECIMAL scales
  and division follow the server (:mod:`sharding.merge.mysql_decimal`): a quotient is a
  :class:`MySQLDecimal`, showing the client's rounded value and computing further with
  the server's truncated inner value.
* ``AVG`` of integers/decimals is a DECIMAL (scale + 4) computed as above, of doubles a
  DOUBLE; ``SUM`` of integers/decimals is a DECIMAL, of doubles a DOUBLE; ``DIV``
  truncates to an integer; ``x / 0``, ``x % 0``, ``x DIV 0`` are NULL.
* Comparisons: a string against a number compares both as DOUBLE; NULLs sort first
  ascending (as SQLite).
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sharding.merge import mysql_collations
from sharding.merge.mysql_decimal import (
    _EXACT,
    MAX_SCALE,
    MySQLDecimal,
    _inner,
    _scale,
    mysql_divide,
)
from sharding.merge.semantics import (
    _MYSQL_COLLATIONS,
    _NUMERIC_PREFIX,
    INT64_MAX,
    INT64_MIN,
    RANK_NUMBER,
    RANK_TEXT,
    Collation,
    Semantics,
)


def out_of_range(kind: str, op: str, a: Any, b: Any) -> Exception:
    from sharding.errors import BackendError

    return BackendError(
        f"{kind} value is out of range in '{a!r} {op} {b!r}'", code=1690, sqlstate="22003"
    )


@dataclass(frozen=True)
class MySQLSemantics(Semantics):
    """MySQL/MariaDB value rules (module docstring); measured against MariaDB 10.11."""

    # ------------------------------------------------------------ order and groups
    def value_key(self, value: Any, collate: Collation) -> tuple[Any, ...]:
        if isinstance(value, MySQLDecimal):
            return (RANK_NUMBER, value.exact)
        if isinstance(value, datetime.date | datetime.time | datetime.timedelta):
            # DATE/DATETIME/TIME columns: the driver's objects order like the server's
            # values (their text would not: str(timedelta(-1)) is '-1 day, 0:00:00').
            return (RANK_TEXT, value)
        return super().value_key(value, collate)

    def group_key(self, value: Any, collate: Collation) -> Any:
        if isinstance(value, MySQLDecimal):
            return (RANK_NUMBER, value.exact)
        if isinstance(value, str):
            key = collate(value)
            return (RANK_TEXT, key.full if isinstance(key, mysql_collations.NoPadKey) else key)
        return super().group_key(value, collate)

    # ------------------------------------------------------------ affinity
    def affinity(self, declared_type: str | None) -> str | None:
        """How a literal compared with (or stored into) a column of this type converts.

        Temporal types keep their literal as is (a date string must not become a
        number); ENUM/SET are text.
        """
        if declared_type is None:
            return None
        t = declared_type.upper().split("(")[0].strip()
        if t.endswith(("INT", "INTEGER")) or t in ("BIT", "BOOL", "BOOLEAN", "SERIAL"):
            return "INTEGER"
        if t in ("DECIMAL", "DEC", "NUMERIC", "FIXED"):
            return "NUMERIC"
        if t in ("FLOAT", "DOUBLE", "REAL", "DOUBLE PRECISION"):
            return "REAL"
        if "BINARY" in t or "BLOB" in t:
            return "BLOB"
        if "CHAR" in t or "TEXT" in t or t in ("ENUM", "SET", "JSON"):
            return "TEXT"
        return None

    def apply_affinity(self, value: Any, affinity: str | None) -> Any:
        # A string compared with a numeric column is compared as a DOUBLE (its
        # numeric prefix: ``id = '7abc'`` finds id 7); an integral one as that integer.
        if isinstance(value, str) and affinity in ("INTEGER", "REAL", "NUMERIC"):
            n = self.to_number(value)
            if (
                isinstance(n, float)
                and n.is_integer()
                and INT64_MIN <= n <= INT64_MAX
                and affinity != "REAL"
            ):
                return int(n)
            return n
        return super().apply_affinity(value, affinity)

    def coerce_for_compare(
        self, a: Any, b: Any, aff_a: str | None, aff_b: str | None
    ) -> tuple[Any, Any]:
        """By value type, as the server does: a temporal value vs a string → both
        temporal (``DATE(x) > '2024-03-08'``); string vs number → both DOUBLE;
        DECIMAL vs DOUBLE → DOUBLE."""
        a_text, b_text = isinstance(a, str | bytes), isinstance(b, str | bytes)
        if b_text and isinstance(a, datetime.date):
            parsed = _temporal(b)
            if parsed is not None:
                return _as_datetime(a), parsed
        elif a_text and isinstance(b, datetime.date):
            parsed = _temporal(a)
            if parsed is not None:
                return parsed, _as_datetime(b)
        if a_text != b_text:
            return self._to_double(a), self._to_double(b)
        if isinstance(a, float) and isinstance(b, Decimal):
            return a, float(_inner(b))
        if isinstance(b, float) and isinstance(a, Decimal):
            return float(_inner(a)), b
        return a, b

    def _to_double(self, v: Any) -> Any:
        n = self.to_number(v)
        if isinstance(n, Decimal):
            return float(_inner(n))
        return float(n) if isinstance(n, int) and not isinstance(v, int) else n

    # ------------------------------------------------------------ values
    def literal(self, text: str, is_string: bool) -> Any:
        """``2.5`` is a DECIMAL, ``2.5e0`` a DOUBLE, ``25`` an integer."""
        if is_string:
            return text
        try:
            return int(text)
        except ValueError:
            pass
        if "e" in text.lower():
            return float(text)
        return Decimal(text)

    def to_number(self, value: Any) -> int | float | Decimal | None:
        """Strings (and bytes) convert to a DOUBLE by their numeric prefix (``'3x'`` →
        3.0, ``'abc'`` → 0.0); numbers stay what they are."""
        if value is None:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int | float | Decimal):
            return value
        if isinstance(value, datetime.date | datetime.timedelta):
            return temporal_number(value)
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).decode("utf-8", "replace")
        if not isinstance(value, str):
            value = str(value)
        m = _NUMERIC_PREFIX.match(value)
        return float(m.group(1)) if m else 0.0

    def truth(self, value: Any) -> bool | None:
        if value is None:
            return None
        n = self.to_number(value)
        return bool(_inner(n) if isinstance(n, MySQLDecimal) else n)

    # ------------------------------------------------------------ arithmetic
    def _operands(self, a: Any, b: Any) -> tuple[str, Any, Any] | None:
        """(kind, x, y) with kind "int", "decimal" or "double"; None if a NULL is involved."""
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None:
            return None
        if isinstance(x, float) or isinstance(y, float):
            return (
                "double",
                float(_inner(x)) if isinstance(x, Decimal) else float(x),
                (float(_inner(y)) if isinstance(y, Decimal) else float(y)),
            )
        if isinstance(x, Decimal) or isinstance(y, Decimal):
            return "decimal", x, y
        return "int", x, y

    def _double(self, r: float, op: str, a: Any, b: Any) -> float:
        if math.isinf(r):
            raise out_of_range("DOUBLE", op, a, b)
        return r

    def _bigint(self, r: int, op: str, a: Any, b: Any) -> int:
        if not INT64_MIN <= r <= INT64_MAX:
            raise out_of_range("BIGINT", op, a, b)
        return r

    def add(self, a: Any, b: Any) -> Any:
        ops = self._operands(a, b)
        if ops is None:
            return None
        kind, x, y = ops
        if kind == "int":
            return self._bigint(x + y, "+", a, b)
        if kind == "double":
            return self._double(x + y, "+", a, b)
        return MySQLDecimal.of(_EXACT.add(_inner(x), _inner(y)), max(_scale(x), _scale(y)))

    def sub(self, a: Any, b: Any) -> Any:
        ops = self._operands(a, b)
        if ops is None:
            return None
        kind, x, y = ops
        if kind == "int":
            return self._bigint(x - y, "-", a, b)
        if kind == "double":
            return self._double(x - y, "-", a, b)
        return MySQLDecimal.of(_EXACT.subtract(_inner(x), _inner(y)), max(_scale(x), _scale(y)))

    def mul(self, a: Any, b: Any) -> Any:
        ops = self._operands(a, b)
        if ops is None:
            return None
        kind, x, y = ops
        if kind == "int":
            return self._bigint(x * y, "*", a, b)
        if kind == "double":
            return self._double(x * y, "*", a, b)
        return MySQLDecimal.of(
            _EXACT.multiply(_inner(x), _inner(y)), min(_scale(x) + _scale(y), MAX_SCALE)
        )

    def div(self, a: Any, b: Any) -> Any:
        ops = self._operands(a, b)
        if ops is None:
            return None
        kind, x, y = ops
        if y == 0:
            return None
        if kind == "double":
            return self._double(x / y, "/", a, b)
        return mysql_divide(x, y)

    def intdiv(self, a: Any, b: Any) -> Any:
        """``DIV``: integers exactly; otherwise both operands as DECIMALs — a DOUBLE by
        its shortest decimal form, as the server converts it (``1 DIV 0.001e0`` is 1000)."""
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None:
            return None
        if y == 0:
            return None
        if type(x) is int and type(y) is int:
            q = abs(x) // abs(y)
            return self._bigint(q if (x >= 0) == (y >= 0) else -q, "DIV", a, b)
        xd = Decimal(repr(x)) if isinstance(x, float) else _inner(x)
        yd = Decimal(repr(y)) if isinstance(y, float) else _inner(y)
        return self._bigint(int(_EXACT.divide_int(xd, yd)), "DIV", a, b)

    def mod(self, a: Any, b: Any) -> Any:
        ops = self._operands(a, b)
        if ops is None:
            return None
        kind, x, y = ops
        if y == 0:
            return None
        if kind == "int":
            r = abs(x) % abs(y)
            return r if x >= 0 else -r
        if kind == "double":
            return math.fmod(x, y)
        return MySQLDecimal.of(_EXACT.remainder(_inner(x), _inner(y)), max(_scale(x), _scale(y)))

    def neg(self, a: Any) -> Any:
        x = self.to_number(a)
        if x is None:
            return None
        if type(x) is int:
            return self._bigint(-x, "-", 0, a)
        if isinstance(x, MySQLDecimal):
            return MySQLDecimal.of(-x.exact, x.scale)
        return -x

    # ------------------------------------------------------------ aggregates
    def avg(self, total: Any, count: int) -> Any:
        """DOUBLE for doubles; otherwise the DECIMAL quotient (scale + 4), as the server."""
        if not count or total is None:
            return None
        if isinstance(total, float):
            return total / count
        return mysql_divide(total if isinstance(total, Decimal) else int(total), count)

    def sum_result(self, total: Any, real: bool) -> Any:
        """SUM of integers or decimals is a DECIMAL; of doubles a DOUBLE."""
        if total is None:
            return None
        if isinstance(total, float):
            return total
        return total if isinstance(total, Decimal) else Decimal(total)


MYSQL = MySQLSemantics(
    name="mysql",
    dialect="mysql",
    default_collation="utf8mb4_general_ci",
    integer_division=False,
    null_safe_eq="<=>",
    implicit_row_id=None,
    avg_decimal=True,
    collations=_MYSQL_COLLATIONS,
)


_TEMPORAL_TEXT = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?\s*\Z"
)


def _temporal(value: str | bytes) -> datetime.datetime | None:
    """A string compared with a DATE/DATETIME, read as MySQL reads it in that context
    (``YYYY-MM-DD[ hh:mm[:ss[.ffffff]]]``); None when it is not such a value (then the
    comparison falls back to MySQL's string/number rules)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    m = _TEMPORAL_TEXT.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction = m.groups()
    try:
        return datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        return None


def temporal_number(value: datetime.date | datetime.timedelta) -> int | Decimal:
    """A DATE, DATETIME or TIME value as MySQL computes with it in arithmetic and sums:
    the number of its digits (``2024-01-15`` is 20240115, ``2024-01-15 10:20:30``
    20240115102030, ``-01:02:03`` -10203), a DECIMAL of six places when it has a
    fraction of a second (the value does not tell the column's precision)."""
    if isinstance(value, datetime.timedelta):
        micros = abs(value) // datetime.timedelta(microseconds=1)
        seconds, fraction = divmod(micros, 1_000_000)
        hours, rest = divmod(seconds, 3600)
        digits = hours * 10000 + (rest // 60) * 100 + rest % 60
        sign = -1 if value < datetime.timedelta(0) else 1
    elif isinstance(value, datetime.datetime):
        digits = (
            value.year * 10**10
            + value.month * 10**8
            + value.day * 10**6
            + value.hour * 10**4
            + value.minute * 100
            + value.second
        )
        fraction, sign = value.microsecond, 1
    else:
        return value.year * 10000 + value.month * 100 + value.day
    if fraction:
        return sign * (Decimal(digits) + Decimal(fraction).scaleb(-6))
    return sign * digits


_TEMPORAL_NUMBER_TEXT = re.compile(
    r"\s*(?:(\d{4})-(\d{2})-(\d{2}))?(?:[ T]?(-?)(\d{2,3}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?\s*\Z"
)


def temporal_text_number(value: Any, fsp: int = 0) -> Any:
    """A DATE/DATETIME/TIME value — a driver's ``datetime``/``timedelta``, or its text
    as a SQLite shard sends it (``'2024-01-15'``, ``'-01:02:03'``) — as MySQL's number
    of it (:func:`temporal_number`) at its type's ``fsp`` fractional digits; any other
    value (NULL, a text of no temporal form) is handed on as it is."""
    if isinstance(value, datetime.date | datetime.timedelta):
        return _at_scale(temporal_number(value), fsp)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return value
    m = _TEMPORAL_NUMBER_TEXT.match(value)
    if m is None or not any(m.groups()):
        return value
    year, month, day, sign, hour, minute, second, fraction = m.groups()
    if year and sign:
        return value
    digits = int((year + month + day if year else "") + (hour + minute + second if hour else ""))
    number: int | Decimal = digits
    if fraction:
        number = Decimal(digits) + Decimal(int(fraction)).scaleb(-len(fraction))
    return _at_scale(-number if sign else number, fsp)


def _at_scale(number: int | Decimal, fsp: int) -> int | Decimal:
    """A temporal value's number with its column's fractional digits: MySQL's DECIMAL of
    that scale (``dt3 + 0`` is 20240115102030.000), an integer without."""
    if not fsp:
        return int(number) if isinstance(number, Decimal) and number == int(number) else number
    return Decimal(number).quantize(Decimal(1).scaleb(-fsp))


def _as_datetime(value: datetime.date) -> datetime.datetime:
    """A DATE compares with a DATETIME as that day at midnight."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    return datetime.datetime(value.year, value.month, value.day)
