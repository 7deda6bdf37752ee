"""Render Python values as SQL literals of a backend dialect, exactly.

The backend interface takes complete SQL text (no bind parameters), so keyset
continuation values, ``?`` parameters and coordinator-generated ids are written into
the statement. Rendering must be *exact*: a continuation value that reads back as a
neighbouring float would lose or repeat rows.

* SQLite 3.40 does not parse every shortest ``repr(float)`` back to the same double
  (measured: ~0.5 % of random doubles, even some 4-6 digit decimals), so a float is
  written as an exact expression ``(CAST(n AS REAL) * 2^k ...)`` built from a 53-bit
  integer mantissa and power-of-two factors, each step exact in IEEE arithmetic.
* Text with a NUL character cannot travel in SQL text through the sqlite3 module, so it
  is written as ``CAST(X'..' AS TEXT)``.
* MySQL: backslash and quote escaped; floats as ``repr`` with an exponent so MySQL reads
  a DOUBLE (its parser rounds correctly), not a DECIMAL.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sharding.errors import BadArguments

_MAX_SHIFT = 62


def exact_float_sql(f: float) -> str:
    """An SQLite expression whose value is exactly ``f`` (see module docstring)."""
    if not math.isfinite(f):
        raise BadArguments(f"cannot store the float {f!r} (SQLite has no NaN/Infinity literals)")
    if f == 0.0:
        return "(-0.0)" if math.copysign(1.0, f) < 0 else "0.0"
    if f.is_integer() and abs(f) < 2**53:
        return f"{int(f)}.0"
    mantissa, exponent = math.frexp(f)
    n = int(mantissa * (1 << 53))
    k = exponent - 53
    # Strip trailing zero bits so short values stay short.
    while n % 2 == 0:
        n //= 2
        k += 1
    expr = f"CAST({n} AS REAL)"
    while k > 0:
        step = min(k, _MAX_SHIFT)
        expr += f" * {1 << step}"
        k -= step
    while k < 0:
        step = min(-k, _MAX_SHIFT)
        expr += f" / {1 << step}"
        k += step
    return f"({expr})"


def sqlite_literal(value: Any) -> str:
    kind = type(value)
    # The two commonest parameter types first (a prepared INSERT renders every value).
    if kind is int and -(1 << 63) <= value < (1 << 63):
        return str(value) if value >= 0 else f"({value})"
    if kind is str and "\x00" not in value:
        text: str = value
        return "'" + text.replace("'", "''") + "'"
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        if not -(1 << 63) <= value < (1 << 63):
            raise BadArguments(f"integer {value} does not fit in 64 bits")
        return str(value) if value >= 0 else f"({value})"
    if isinstance(value, float):
        return exact_float_sql(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BadArguments(f"cannot store the decimal {value}")
        text = format(value, "f")
        return text if value >= 0 else f"({text})"
    if isinstance(value, str):
        if "\x00" in value:
            return f"CAST(X'{value.encode('utf-8').hex()}' AS TEXT)"
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"X'{bytes(value).hex()}'"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return "'" + value.isoformat(sep=" ") + "'" if isinstance(
            value, datetime.datetime
        ) else "'" + value.isoformat() + "'"
    raise BadArguments(f"unsupported parameter type {type(value).__name__}")


_MYSQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\x00": "\\0",
    "\n": "\\n",
    "\r": "\\r",
    "\x1a": "\\Z",
}


def mysql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value) if value >= 0 else f"({value})"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadArguments(f"cannot store the float {value!r}")
        text = repr(value)
        if "e" not in text and "E" not in text:
            text += "e0"
        return text if value >= 0 else f"({text})"
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text if value >= 0 else f"({text})"
    if isinstance(value, str):
        return "'" + "".join(_MYSQL_ESCAPES.get(c, c) for c in value) + "'"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"X'{bytes(value).hex()}'"
    if isinstance(value, datetime.datetime):
        return "'" + value.isoformat(sep=" ") + "'"
    if isinstance(value, datetime.date | datetime.time):
        return "'" + value.isoformat() + "'"
    raise BadArguments(f"unsupported parameter type {type(value).__name__}")


def render_literal(value: Any, dialect: str) -> str:
    """SQL literal for ``value`` in ``dialect`` ("sqlite" or "mysql")."""
    if dialect == "sqlite":
        return sqlite_literal(value)
    return mysql_literal(value)


def literal_renderer(dialect: str) -> Callable[[Any], str]:
    """:func:`render_literal` for one dialect, without the per-value dispatch."""
    return sqlite_literal if dialect == "sqlite" else mysql_literal


def quote_identifier(name: str, dialect: str) -> str:
    """Quote an identifier for the dialect (always quoted: names come from users)."""
    if dialect == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'
