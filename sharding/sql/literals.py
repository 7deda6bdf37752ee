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
* MySQL: every literal reads the same under every ``sql_mode``. How a quoted string is
  read depends on the mode (``NO_BACKSLASH_ESCAPES`` turns ``\\`` into an ordinary
  character, so a backslash-escaped quote would *end* the string and let the rest of the
  value run as SQL — issue 12 measured injected rows and stacked statements). So:

  - non-empty text made only of printable ASCII without ``'`` and ``\\`` stays
    ``'...'`` (no escape is needed, so no mode can read it differently; keeps
    statements readable and short for the common case);
  - any other text is ``_utf8mb4 X'<hex of its UTF-8>'``: a hex literal has no escapes at
    all. The introducer makes it a *string* of the connection's character set with the
    same collation (utf8mb4's default, which the backend pins as the connection
    collation) and coercibility (4, "coercible") as a plain literal, so equality,
    ordering, LIKE and charset conversion against columns of any collation behave
    exactly as for the quoted form (measured on MariaDB 10.11: 1,026 probes over
    latin1/utf8mb3/utf8mb4 general/bin/unicode, binary, INT and DATETIME columns, same
    rows, warnings and errors);
  - bytes are ``_binary X'..'``: a binary *string*, as a client's ``_binary'..'``
    parameter is (MySQL reads a bare ``X'..'`` as a number in numeric context);
  - the empty string is ``_utf8mb4 X''`` too (MariaDB's EMPTY_STRING_IS_NULL turns
    ``''`` into NULL, not a hex literal);
  - numbers, dates and times are ASCII without quotes or backslashes (floats as ``repr``
    with an exponent so MySQL reads a DOUBLE, its parser rounds correctly, not a
    DECIMAL), negative numbers parenthesised so ``- -1`` cannot become a comment.

  Text carrying undecodable bytes as surrogate escapes (U+DC80..U+DCFF) is those bytes,
  ``_binary X'..'``; any other lone surrogate has no UTF-8 form: error 1300, as MySQL
  gives for an invalid character string.

  Every literal of the value corpus in ``tests/backend_mysql/test_escaping.py`` reads
  back the same under ``NO_BACKSLASH_ESCAPES``, ``ANSI``, ``ORACLE``, ``MSSQL``,
  ``EMPTY_STRING_IS_NULL``... sessions. Caveat: an introducer takes its character set's
  *default* collation, a plain literal ``collation_connection``; they agree because the
  backend pins ``SET NAMES utf8mb4 COLLATE utf8mb4_general_ci`` (utf8mb4's default on
  MySQL 5.7 and MariaDB up to 11.1). On servers whose default differs (MySQL 8's
  utf8mb4_0900_ai_ci, MariaDB 11.2+'s ``character_set_collations``) a comparison
  between two *literals* could use another collation; against a column (coercibility
  2) the column's collation wins either way.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sharding.errors import BadArguments, ShardgateError

if TYPE_CHECKING:
    from sharding.sql.lexer import Slot

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
        return (
            "'" + value.isoformat(sep=" ") + "'"
            if isinstance(value, datetime.datetime)
            else "'" + value.isoformat() + "'"
        )
    if isinstance(value, datetime.timedelta):
        return _mysql_time(value)  # a TIME (the shard stores its canonical text)
    raise BadArguments(f"unsupported parameter type {type(value).__name__}")


#: Text that needs no escape in any sql_mode: printable ASCII except ``'`` and ``\\``.
#: Not empty: ``''`` is NULL under EMPTY_STRING_IS_NULL, ``_utf8mb4 X''`` is not.
_PLAIN_TEXT = re.compile(r"[ -&(-\[\]-~]+\Z").match


def mysql_text(value: str) -> str:
    """A MySQL string literal for ``value`` that reads the same under every sql_mode."""
    if _PLAIN_TEXT(value) is not None:
        return "'" + value + "'"
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return "_utf8mb4 X'" + data.hex() + "'"
    try:
        # Bytes that were not UTF-8, carried as surrogate escapes: MariaDB takes such a
        # quoted literal as raw bytes (stored as is in a binary column, "Incorrect string
        # value" for a utf8mb4 one), which is what a binary string does.
        return "_binary X'" + value.encode("utf-8", "surrogateescape").hex() + "'"
    except UnicodeEncodeError as exc:
        raise ShardgateError(
            f"Invalid utf8mb4 character string: {value[exc.start : exc.end]!r}",
            code=1300,
            sqlstate="HY000",
        ) from None


def _mysql_time(value: datetime.timedelta) -> str:
    """A TIME value (what the binary protocol gives for a TIME parameter)."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = f"{hours:02d}:{minute:02d}:{second:02d}"
    return f"'{sign}{text}.{fraction:06d}'" if fraction else f"'{sign}{text}'"


def mysql_literal(value: Any) -> str:
    """A MySQL literal for ``value``, correct under every sql_mode (module docstring)."""
    kind = type(value)
    # The commonest parameter types first (a prepared INSERT renders every value).
    if kind is int:
        return str(value) if value >= 0 else f"({value})"
    if kind is str:
        return mysql_text(value)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):  # an int subclass (IntEnum...): its number, not its str()
        return str(int(value)) if value >= 0 else f"({int(value)})"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadArguments(f"cannot store the float {value!r}")
        text = repr(float(value))
        if "e" not in text and "E" not in text:
            text += "e0"
        return text if value >= 0 else f"({text})"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BadArguments(f"cannot store the decimal {value}")
        text = format(value, "f")
        return text if value >= 0 else f"({text})"
    if isinstance(value, str):
        return mysql_text(str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return "_binary X'" + bytes(value).hex() + "'"
    # Dates and times: ISO text is digits, '-', ':', '.', ' ' (and '+' for an offset).
    if isinstance(value, datetime.datetime):
        return "'" + value.isoformat(sep=" ") + "'"
    if isinstance(value, datetime.date | datetime.time):
        return "'" + value.isoformat() + "'"
    if isinstance(value, datetime.timedelta):
        return _mysql_time(value)
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


def slot_text(slot: Slot, value: Any, dialect: str) -> str:
    """A slot's SQL text in a shard statement: a number written in the statement as
    it was written (its digits are its value), anything else rendered from the value
    (a string, a parameter)."""
    if slot.param is None and not slot.is_string:
        return slot.raw
    return render_literal(value, dialect)
