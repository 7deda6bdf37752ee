"""MySQL's arithmetic on SQLite shards (issue 15): the DOUBLE range (error 1690, never
an infinity) and DATE/DATETIME operands as MySQL's numbers.

MySQL computes ``+ - * /``, ``POW`` and ``EXP`` with a DOUBLE operand under a range
check: a result past ±1.7976931348623157e308 is error 1690, ``DOUBLE value is out of
range in '<the expression>'``, wherever the expression is evaluated — a select item, a
``WHERE``, an ``ORDER BY``/``GROUP BY``, a write's ``SET``, ``VALUES`` or ``ON DUPLICATE
KEY UPDATE`` (measured on MariaDB 10.11). SQLite computes an infinity and goes on:
``WHERE d * 1e308 > 0`` compared it, ``SET d = d * 1e308`` stored it. A literal past the
range (``1e309``) is MySQL's parse error 1367, where SQLite reads an infinity.

Its own module because, like :mod:`sharding.backend.sqlite_enum_numbers`, it needs the
shard file's schema when the statement runs (which operands are DOUBLE, FLOAT or text
columns). Before a statement runs, the backend asks :func:`guard`:

* cheap text tests first: only a statement with binary arithmetic (or ``POW``/``EXP``)
  whose operands may be DOUBLE — an exponent literal, a string literal, a DOUBLE/FLOAT
  column of its tables named anywhere, a text column next to an operator — is parsed;
* every arithmetic node MySQL may compute as a DOUBLE becomes
  ``sg_finite(<node>, '<its MySQL text>')``, which hands the value on unchanged, or
  raises 1690 with MariaDB's message for an infinity (the innermost node first, as
  MySQL evaluates). The text is *edited* at the parser's offsets (completed with the
  tokens: ``CAST``, ``CASE … END``, parentheses), never re-rendered: sqlglot's SQLite
  rendering of the registered MySQL functions is lossy (:mod:`sharding.backend.
  sqlite_mysql`). A node whose text cannot be found exactly is left as it was.

A DATE/DATETIME/TIME value that is an operand of arithmetic (``dt + 0``, ``dt % 100``,
``SUM(dt)``, ``DATE(dt) + 0``, ``MAX(d) + 0``, ``COALESCE(d, dt) + 0``) is MySQL's
number of it — 20240115, 20240115102030, 102030 — where SQLite reads the text's
numeric prefix (2024): it becomes ``sg_temporal_number(x, kind)`` in the same pass
(:func:`sharding.backend.sqlite_mysql._temporal_number`, the kind from
:func:`sharding.backend.sqlite_temporal.number_kind`; the shard's result typing gives
``SUM``/``AVG``/``-dt`` MySQL's DECIMAL). A parenthesised column (``(dt) + 0``) is not
recognised by the text test and keeps SQLite's value.

Integer arithmetic has MySQL's range too (the same pass): a ``+ - *`` whose operands are
all integers (integer columns, integer literals) becomes ``sg_bigint(<node>, '<its
MySQL text>', unsigned)`` where a BIGINT or UNSIGNED column or a literal of 10 digits or
more is an operand — 1690 ``BIGINT value is out of range in '…'`` where SQLite would go
on with a REAL (``9223372036854775807 + n``), ``BIGINT UNSIGNED value …`` for a negative
result of UNSIGNED arithmetic (``u - 10``). And in an INSERT, REPLACE or UPDATE (not
IGNORE, not an INSERT's SELECT) a string operand of arithmetic (a string literal, a text
column) becomes ``sg_strict_number(x, 'DOUBLE')`` (``'DECIMAL'`` for ``DIV``): MySQL's
strict mode makes a string that is not a whole number (``'a'``, ``'12abc'``, ``''``)
error 1292 there, where a read or a DELETE only warns and uses its numeric prefix, as
SQLite does.

In a read (SELECT, DELETE) a string operand of ``+ - *``, unary ``-``, ``SUM``/``AVG``,
``CAST(… AS DOUBLE)`` or a numeric function (``ABS``, ``ROUND``, ``FLOOR``, ``POW``,
``LN``, …: :data:`_DOUBLE_WORDS`) — a text column, or a string literal MySQL converts
per row (in the select list, or next to a column) — becomes ``sg_double(x)``
(``sg_double_row`` for a literal: not deterministic, so SQLite converts it per row as
MySQL does): MySQL's DOUBLE of it with a 1292 per converted value that is no clean
number (:func:`double_operand`). SQLite's own conversion warns nothing, and its
registered functions read ``'5x'`` as no number (``ROUND('5x')`` was 0). The cheap
filter: a ``(`` and one of those words before it (no regex; a point query has none),
then a text column or a string inside such a call's parentheses.

A text column compared with a number (``WHERE s = 0``, ``s > n``, ``s IN (1, 2)``,
``s BETWEEN 1 AND 5``, a select item ``s = 5``) becomes ``sg_text_number(s, kind,
filtering)``: MySQL compares the string's number (``' 5.0' = 5``, ``'a' = 0``), SQLite
the number's text. ``kind`` is MySQL's conversion (DECIMAL against an integer, DOUBLE
against another number, as its 1292 message names it): in an UPDATE a string that is no
number is that 1292, in an ``INSERT … SELECT``'s condition too (:func:`strict_comparisons`),
a read and a DELETE use its prefix. The filter finds the names next to comparison
operators first: a point query (``WHERE "id" = 5``) whose names were only ever seen as
no text columns needs neither the schema nor a parse.

A string literal compared with a number is MySQL's number of it. A clean one
(``'65' = 65``, ``tier + 0 = '2'``, ``1 IN ('1', 2)``, ``'3' BETWEEN 1 AND 5``) that no
column affinity converts becomes the number literal (:func:`_clean_strings`); one that
is no clean number, or that MySQL converts with a Note (``'5 '``), becomes
``sg_string_number('5x', kind)`` (:func:`_compared_strings`), which in a read warns
MySQL's 1292 (:func:`string_number`): once per statement for a constant (the call is
deterministic: SQLite converts it once, when a row first reaches it; on several shards
each shard reaching it warns once, MariaDB once), per row for an element of an ``IN``
list mixing integers and strings (``sg_string_number_row``, not for a NULL operand) and
for a ``BETWEEN`` bound (``sg_number_warns`` on the lower bound, which SQLite always
evaluates), as measured on MariaDB 10.11. The text filter parses a statement with a
clean string only when it is compared with something that is no plain name
(:func:`_string_compared_names`: an expression, a number, an ``IN`` list of one).

A function both MySQL and the shard compute as a number (``ABS(n)``, ``ROUND(n)``,
``LENGTH(s)``, ``YEAR(d)``, ``COUNT(*)``: :func:`_function_kind`) is typed as a number
there (``ABS(n) = '5x'`` compares 5). A comparison with an operand whose type only its
value tells (a subquery, ``COALESCE``, a string function) is decided at run time by
:mod:`sharding.backend.sqlite_compare`, in the same pass (a call, a subquery or a
``CASE`` next to a comparison makes the statement worth parsing: :func:`_compares_call`).

An integer column as a factor of ``*`` (``n * n * n``) or three integer literals
multiplied make a statement worth parsing for BIGINT's range (1690), as a BIGINT column
does. In an INSERT/UPDATE the value written to a BIGINT column that may be a REAL
(``b * 1.5``) becomes ``sg_exact_integer(value, 'b')``: a REAL from 2**52 on has lost
the last digits MySQL's exact DECIMAL keeps, a 1235; :func:`wide_fraction_literal`
finds a write's DECIMAL literal of 16 or more integer digits that no REAL holds.

The message names columns ``schema.table.column`` with the shard's own (physical)
schema, as a MariaDB data source names them; MariaDB's own prints the client's
database. Results are cached per statement text (shard statements repeat); a table's
definition (CREATE/ALTER/DROP) is never edited.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

from sharding.backend import sqlite_compare, sqlite_table_identity, sqlite_temporal
from sharding.backend.sqlite_scan import mask_strings, shrink_lists
from sharding.backend.sqlite_table_identity import NEUTRAL_KEY_CHARS, neutral_key
from sharding.errors import NotSupported, ShardgateError
from sharding.merge import conversion_notes

_DIALECT = SQLite()

#: A string literal (SQLite quoting) or a comment: masked before the text tests.
_STRING_OR_COMMENT = re.compile(r"'[^']*(?:''[^']*)*'|/\*.*?\*/|--[^\n]*", re.DOTALL)
_EXPONENT = re.compile(r"(?<![\w.$\"])(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+")
_CALL = re.compile(r"\b(?:pow|power|exp|sg_div|sg_intdiv|mod|sum|avg)\s*\(", re.IGNORECASE)
_CALL_WORDS = ("pow", "exp", "sg_div", "sg_intdiv", "mod", "sum", "avg")
_STRING_OPERAND = re.compile(
    r"''\s*[-+*/%]|[-+*/%]\s*''|\bsg_div\s*\(\s*''|,\s*''\s*\)", re.IGNORECASE
)
_TABLE = sqlite_table_identity.TABLE
_DOUBLE_DECL = re.compile(r"^\s*(?:DOUBLE|FLOAT|REAL)\b", re.IGNORECASE)
_TEMPORAL_DECL = re.compile(r"^\s*(?:DATE|DATETIME|TIMESTAMP|TIME)\b", re.IGNORECASE)
_TEXT_DECL = re.compile(
    r"^\s*(?:VARCHAR|CHAR|TEXT|TINYTEXT|MEDIUMTEXT|LONGTEXT|NVARCHAR|NCHAR)\b", re.IGNORECASE
)
_INT_DECL = re.compile(r"^\s*(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?\b", re.IGNORECASE)
#: An integer column whose arithmetic may leave MySQL's range: BIGINT, or UNSIGNED.
_WIDE_DECL = re.compile(
    r"^\s*(?:BIGINT\b|(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?\b.*\bUNSIGNED\b)", re.IGNORECASE
)
#: An integer literal of 10 digits or more next to an operator (``9223372036854775807 + n``).
_BIG_LITERAL = re.compile(
    r"(?<![\w.$\"])\d{10,}(?![\w.])\s*[-+*]|[-+*]\s*\d{10,}(?![\w.])", re.IGNORECASE
)
#: A BIGINT column (signed or UNSIGNED): a REAL written to it may have lost digits.
_BIGINT_DECL = re.compile(r"^\s*BIGINT\b", re.IGNORECASE)
#: A fraction, a division or a DECIMAL/DOUBLE cast: a written value may be a REAL.
_FRACTION = re.compile(r"\d\.|\.\d|\bsg_div\s*\(|/|\bAS\s+REAL\b", re.IGNORECASE)
#: Three integer literals multiplied (``3000000 * 3000000 * 3000000``): past BIGINT.
_LITERAL_PRODUCT = re.compile(r"(?<![\w.])\d+\s*\*\s*\d+\s*\*\s*\d")
_WRITE_HEAD = re.compile(r"\s*(?:INSERT|REPLACE|UPDATE)\b", re.IGNORECASE)
_DDL_HEAD = re.compile(r"\s*(?:CREATE|ALTER|DROP)\s", re.IGNORECASE)
#: A negated operand (``SET n = -s``): a write's string operand may be one.
_NEGATED = re.compile(r"[=(,]\s*-\s*[\"A-Za-z_]")

_lock = threading.Lock()
_cache: OrderedDict[str, str] = OrderedDict()
#: A :data:`_cache` entry: the statement runs as it is written (:func:`guard`).
_UNCHANGED = "\x00unchanged"
_CACHE_SIZE = 1024


def forget() -> None:
    """Drop the cached statements (a table was created, altered or dropped)."""
    global _decl_generation
    with _lock:
        _cache.clear()
        _decl_generation += 1
        _text_names.clear()
        _other_names.clear()


# ---------------------------------------------------------------------- run time
def out_of_range(text: str) -> ShardgateError:
    """MySQL's error for a DOUBLE past its range, computing ``text``."""
    return ShardgateError(f"DOUBLE value is out of range in '{text}'", code=1690, sqlstate="22003")


def finite(value: Any, text: Any) -> Any:
    """``sg_finite(x, text)``: ``x`` unchanged, or 1690 for an infinity (SQLite has no
    NaN: it makes one NULL)."""
    if type(value) is float and math.isinf(value):
        raise out_of_range(str(text))
    return value


def bigint(value: Any, text: Any, unsigned: Any) -> Any:
    """``sg_bigint(x, text, unsigned)``: an integer ``+ - *`` result unchanged, or
    MySQL's 1690 where it left BIGINT's range (SQLite goes on with a REAL) — or, for an
    UNSIGNED operand's arithmetic, BIGINT UNSIGNED's (a negative result: ``u - 10``).
    An UNSIGNED result beyond 2**63 - 1 has no SQLite integer: 1235."""
    if value is None:
        return None
    if unsigned:
        if value < 0:
            raise ShardgateError(
                f"BIGINT UNSIGNED value is out of range in '{text}'", code=1690, sqlstate="22003"
            )
        if type(value) is float:
            if value < 2.0**64:
                raise NotSupported(
                    f"an UNSIGNED result beyond 9223372036854775807 ({text}) on the SQLite default"
                )
            raise ShardgateError(
                f"BIGINT UNSIGNED value is out of range in '{text}'", code=1690, sqlstate="22003"
            )
        return value
    if type(value) is float:
        raise ShardgateError(
            f"BIGINT value is out of range in '{text}'", code=1690, sqlstate="22003"
        )
    return value


#: A string MySQL reads as a number without truncating it: spaces around, a sign,
#: digits with a point and an exponent (``' 12 '``, ``'.5'``, ``'1.'``, ``'1e2'``).
_DOUBLE_TEXT = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*\Z")
_strict = threading.local()


# ---------------------------------------------------------------------- read warnings
#: At most this many warnings of one shard statement keep their text (MariaDB's default
#: ``max_error_count``); all are counted. The session lists at most its own
#: ``max_error_count`` of the statement's (:mod:`sharding.exec.shard_warnings`).
MAX_NOTES = 64
#: (level, code, message), as ``SHOW WARNINGS`` lists them.
Note = tuple[str, int, str]

#: The warnings of the statement this worker thread runs (:func:`warnings_start`):
#: ``count`` and the first :data:`MAX_NOTES` ``notes``. Registered functions run on the
#: thread that steps the statement, so a thread-local is the statement's own.
_warnings = threading.local()


def warnings_start() -> None:
    """Start collecting the warnings of this thread's next statement (a read)."""
    _warnings.count = 0
    _warnings.notes = []


def warnings_taken() -> tuple[int, list[Note]]:
    """The warnings collected since :func:`warnings_start` (count, listed notes), and
    collecting stops: a function evaluated outside a read (a write's, a probe's) adds
    to nothing."""
    count: int = getattr(_warnings, "count", 0)
    notes: list[Note] = getattr(_warnings, "notes", None) or []
    _warnings.count = 0
    _warnings.notes = None
    return count, notes


def warn(level: str, code: int, message: str) -> None:
    """Record one warning of the running read (none is collecting: nothing)."""
    notes: list[Note] | None = getattr(_warnings, "notes", None)
    if notes is None:
        return
    _warnings.count += 1
    if len(notes) < MAX_NOTES:
        notes.append((level, code, message))


#: MySQL's spaces around a number (``my_isspace`` of utf8mb4: ASCII only; U+00A0 is no
#: space), and its number prefixes: an integer for ``CAST(… AS SIGNED/UNSIGNED)``, a
#: DOUBLE/DECIMAL literal otherwise (digits are ASCII only).
_MYSQL_SPACES = conversion_notes.MYSQL_SPACES
_INTEGER_PREFIX = conversion_notes.INTEGER_PREFIX
_REAL_PREFIX = conversion_notes.REAL_PREFIX
_printable = conversion_notes.printable


def truncation(value: str, kind: str) -> None:
    """Warn as MySQL converting the string ``value`` to a number of ``kind`` does
    (:func:`sharding.merge.conversion_notes.truncation`)."""
    note = conversion_notes.truncation(value, kind)
    if note is not None:
        warn(*note)


def double_operand(value: Any) -> Any:
    """``sg_double(x)``: a string operand of arithmetic or of a numeric function in a
    read (``s + 1``, ``ABS(s)``, ``SUM(s)``, ``-s``, ``CAST(s AS DOUBLE)``) as MySQL
    converts it: its DOUBLE (the numeric prefix, 0 for none; ``' 7 '`` is 7.0), with
    MySQL's 1292 ``Truncated incorrect DOUBLE value`` per converted value that is no
    clean number (a Note for trailing spaces: :func:`truncation`). SQLite's own
    conversion warns nothing (and its registered functions read ``'5x'`` as no number).
    A BLOB (``X'41'``, MySQL's binary string) is its bytes' string. Any other value is
    handed on unchanged."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return value
    m = _REAL_PREFIX.match(value)
    if m is None:
        truncation(value, "DOUBLE")
        return 0.0
    number = float(m.group())
    if math.isinf(number):
        # ``'1e400'``: MySQL's DOUBLE stops at its range, with the Warning.
        warn("Warning", 1292, f"Truncated incorrect DOUBLE value: '{_printable(value)}'")
        return math.copysign(_DOUBLE_MAX, number)
    if m.end() != len(value):
        truncation(value, "DOUBLE")
    return number


_DOUBLE_MAX = 1.7976931348623157e308


def strict_numbers(on: bool) -> None:
    """Whether this thread's statement is an INSERT, REPLACE or UPDATE (not IGNORE, not
    INSERT … SELECT): MySQL's strict mode makes a string truncated to a number there
    error 1292 (measured on MariaDB 10.11), where a read (and a DELETE) only warns."""
    _strict.on = on


def strict_number(value: Any, kind: Any) -> Any:
    """``sg_strict_number(x, kind)``: ``x`` unchanged, or in a strict write MySQL's 1292
    for a string that is not a whole number (``'a'``, ``'12abc'``, ``''``): ``kind`` is
    the type MySQL converts it to (DOUBLE for arithmetic, DECIMAL for ``DIV``)."""
    if (
        isinstance(value, str)
        and getattr(_strict, "on", False)
        and _DOUBLE_TEXT.match(value) is None
    ):
        raise ShardgateError(
            f"Truncated incorrect {kind} value: '{value}'", code=1292, sqlstate="22007"
        )
    return value


#: The numeric prefix MySQL reads of a string (``' 12abc'`` is 12, ``'.5e1'`` 5).
_NUMBER_PREFIX = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def strict_comparisons(on: bool) -> None:
    """Whether this thread's statement is the ``SELECT`` of an ``INSERT … SELECT`` (not
    IGNORE) read by the coordinator (:func:`sharding.sql.insert_select.strict_select`):
    MySQL's strict mode makes a string that is no number compared with a number in its
    ``WHERE`` error 1292 there (not in its select list, not in its arithmetic)."""
    _strict.compare = on


def text_number(value: Any, kind: Any, filtering: Any = 1) -> Any:
    """``sg_text_number(s, kind, filtering)``: a text column compared with a number
    (``WHERE s = 0``), as MySQL compares it — the string's number (its numeric prefix,
    0 for none; ``kind`` DECIMAL against an integer, DOUBLE against another number),
    where SQLite compares the number's text with the string (``'a' = 0`` false, ``' 5'
    = 5`` false). In a strict write (an UPDATE, anywhere) and in an ``INSERT …
    SELECT``'s condition (``filtering``: not a select item) a string that is no whole
    number is MySQL's 1292 (:func:`strict_number`); a read or a DELETE uses its prefix,
    as MySQL does, and a read warns 1292 as MySQL (:func:`truncation`)."""
    if not isinstance(value, str):
        return value
    strict_number(value, kind)
    if filtering and getattr(_strict, "compare", False) and _DOUBLE_TEXT.match(value) is None:
        raise ShardgateError(
            f"Truncated incorrect {kind} value: '{value}'", code=1292, sqlstate="22007"
        )
    truncation(value, str(kind))  # a read's 1292 Warning/Note, as MySQL's per row
    m = _NUMBER_PREFIX.match(value)
    if m is None:
        return 0
    text = m.group().strip()
    if kind == "DECIMAL":
        number = Decimal(text)
        if number.adjusted() < 18 and number == number.to_integral_value():
            return int(number)
    return float(text)


def number_warns(value: Any, kind: Any, operand: Any, *strings: Any) -> Any:
    """``sg_number_warns(low, kind, x, s, …)``: ``low`` (a ``BETWEEN``'s lower bound)
    unchanged, and MySQL's 1292 for each string ``s`` that is no clean number, per row
    whose ``x`` is not NULL: MySQL converts a string bound per row, both bounds always,
    where SQLite's ``BETWEEN`` stops at a failed lower bound."""
    if operand is not None:
        for text in strings:
            if isinstance(text, str):
                truncation(text, str(kind))
    return value


def string_number(value: Any, kind: Any, warns: Any = None, operand: Any = 0) -> Any:
    """``sg_string_number('5x', kind[, warns])``: a string literal that is no clean number,
    compared with a numeric column (``WHERE n = '5x'``), as MySQL compares it — its
    numeric prefix (``'5x'`` is 5, ``'abc'`` and ``''`` are 0), where SQLite's affinity
    leaves such a literal TEXT and orders every number before it. A read and a DELETE
    only warn in MySQL (1292); a strict write (an UPDATE) and an ``INSERT … SELECT``'s
    condition may be MySQL's 1292 or only a warning by the column's type and the form
    (measured on MariaDB 10.11: an INT column errs, a BIGINT one warns, an ``IN`` list
    of two or more warns): a 1235 there. A prefix a REAL cannot hold exactly
    (``'9007199254740993.5'``, compared exactly by MySQL) is a 1235 too.

    ``warns``: MySQL's 1292 for the conversion (:func:`truncation`: a Warning, a Note
    for trailing spaces) — by default in a read (a SELECT: :func:`guard` tells the
    thread; a DELETE's 1292 is :mod:`sharding.backend.sqlite_write_warnings`'). The
    two-argument ``sg_string_number`` is deterministic, so SQLite converts the
    constant once per statement, when a row first reaches it, as MySQL does;
    ``sg_string_number_row`` (not deterministic) per evaluation, as MySQL converts a
    string of an ``IN`` list of mixed elements per row (``operand``: the compared
    value; none for a NULL one). A ``BETWEEN`` bound's per row 1292 is
    :func:`number_warns`' (its conversion ``sg_string_number(x, kind, 0)``)."""
    if not isinstance(value, str):
        return value
    if warns is None:
        warns = getattr(_strict, "read", False)
    if (
        warns
        and operand is not None
        and not (getattr(_strict, "on", False) or getattr(_strict, "compare", False))
    ):
        truncation(value, str(kind))  # per row: not for a NULL operand (``sg_string_number_row``)
    if getattr(_strict, "on", False) or getattr(_strict, "compare", False):
        raise NotSupported(
            f"a numeric column compared with the string '{value}' (no clean number) in a "
            "write statement on the SQLite default (MySQL's strict mode errs or warns by "
            "the column's type); a number literal"
        )
    m = _NUMBER_PREFIX.match(value)
    if m is None:
        return 0
    text = m.group().strip()
    number = Decimal(text)
    if number == number.to_integral_value() and abs(number) < 2**63:
        return int(number)
    if Decimal(float(text)) != number and abs(number) >= 2**52:
        raise NotSupported(
            f"a numeric column compared with the string '{value}' on the SQLite default "
            "(MySQL compares its exact DECIMAL, a REAL loses its last digits)"
        )
    return float(text)


#: A REAL beyond which an integer column's value may have lost its last digits (REALs
#: are integers from 2**52 on; MySQL rounds the exact DECIMAL).
_EXACT_LIMIT = 2.0**52


def exact_integer(value: Any, column: Any) -> Any:
    """``sg_exact_integer(x, 'column')``: the value an INSERT/UPDATE computes for a
    BIGINT column unchanged — or, for a REAL from 2**52 up to BIGINT's range, a 1235:
    MySQL rounds the exact DECIMAL (``b * 1.5`` of 9007199254740993 is
    13510798882111490), SQLite's REAL has other last digits (…488). Past the range it
    goes on to the column's own 1264."""
    number = value
    if isinstance(value, str):
        m = _NUMBER_PREFIX.match(value)
        if m is None or not any(c in m.group() for c in ".eE"):
            return value
        number = float(m.group())
    if type(number) is float and _EXACT_LIMIT <= abs(number) < 2.0**63:
        raise NotSupported(
            f"a non-integer value beyond 2**52 computed for the BIGINT column '{column}' "
            "on the SQLite default (its REAL loses the last digits MySQL's exact DECIMAL "
            "keeps); integer arithmetic, or ROUND in a SELECT first"
        )
    return value


_DIGIT_RUNS = str.maketrans("123456789", "000000000")
#: A DECIMAL literal of 16 or more integer digits (with a point, no exponent).
_WIDE_NUMBER = re.compile(r"(\d+)\.(\d*)(?![\deE])")


def wide_fraction_literal(sql: str, compared: bool = False, quoted: bool = False) -> str | None:
    """The first number literal outside quotes with a point and 16 or more integer
    digits whose REAL is not its exact value (``9007199254740993.4``), or None. MySQL
    reads it as an exact DECIMAL (an integer column stores it rounded: …993), SQLite as
    the nearest REAL (…994). Only a write is checked (a read's select item shows the
    literal's own digits). C-speed substring tests first: a bulk INSERT of megabytes
    costs a translation and one search. ``compared``: only a literal next to a
    comparison (``b = 9007199254740993.0``, ``b IN (…)``, ``BETWEEN … AND …``) — a
    read's or a DELETE's, which SQLite compares as a REAL, MySQL exactly. ``quoted``:
    only a number inside a string (``'9007199254740993.4'``, :func:`wide_string_written`)."""
    if "." not in sql:
        return None
    runs = sql.translate(_DIGIT_RUNS)
    at = runs.find("0" * 16)
    while at >= 0:
        start = at
        while start > 0 and runs[start - 1] == "0":
            start -= 1
        m = _WIDE_NUMBER.match(sql, start)
        if (
            m is not None
            and (start == 0 or not (sql[start - 1].isalnum() or sql[start - 1] in "_.$"))
            and (sql.count("'", 0, start) % 2 == 1) == quoted
        ):
            exact = Decimal(m.group())
            if (
                Decimal(float(m.group())) != exact
                and abs(exact) >= Decimal(2**52)
                and (not compared or _next_to_comparison(sql, start, m.end()))
            ):
                return m.group()
        end = start
        while end < len(runs) and runs[end] == "0":
            end += 1
        at = runs.find("0" * 16, end)
    return None


def wide_string_written(raw: sqlite3.Connection, sql: str) -> str | None:
    """A string of a number of 16 or more integer digits that no REAL holds
    (``SET b = '9007199254740993.4'``) in a write to a table with a BIGINT column, or
    None: SQLite's integer affinity reads it through a REAL (…994 or …992), MySQL
    rounds the exact value (…993). A text column of the same table is refused too
    (cheaper than telling which column it is written to)."""
    if "'" not in sql or "." not in sql:
        return None
    wide = wide_fraction_literal(sql, quoted=True)
    if wide is None:
        return None
    head = _TABLE.search(sql, 0, min(len(sql), 1000))
    if head is None:
        return wide
    decls = _declared(raw, head.group())
    if not decls:
        return wide
    return wide if any(_BIGINT_DECL.match(d) for c in decls.values() for d in c.values()) else None


def _next_to_comparison(sql: str, start: int, end: int) -> bool:
    """Whether the number ``sql[start:end]`` is an operand of a comparison: an
    operator on either side (a sign skipped), ``BETWEEN``/``AND``/``IS`` before it, or an
    ``IN (`` list around it."""
    k = start - 1
    while k >= 0 and sql[k] in " \t\r\n+-":
        k -= 1
    r = end
    while r < len(sql) and sql[r] in " \t\r\n":
        r += 1
    if (k >= 0 and sql[k] in _OPERATOR_CHARS) or (r < len(sql) and sql[r] in _OPERATOR_CHARS):
        return True
    word = sql[max(0, k - 6) : k + 1].upper()
    if word.endswith(("BETWEEN", " AND", " IS", " NOT")):
        return True
    if k >= 0 and sql[k] in "(,":
        window = sql[max(0, k - 4096) : k + 1]
        opened = window.rfind("(")
        if opened >= 0 and ")" not in window[opened:]:
            return window[:opened].rstrip().upper().endswith("IN")
    return False


#: An exponent mark and a digit: the cheap test before any masking.
_EXPONENT_MARKS = (re.compile(r"e[+-]?[0-9]"), re.compile(r"E[+-]?[0-9]"))


def check_literals(masked: str) -> None:
    """MySQL's parse error 1367 for a number literal past the DOUBLE range (``1e309``;
    SQLite reads an infinity). ``masked``: the statement with its strings masked."""
    for m in _EXPONENT.finditer(masked):
        if math.isinf(float(m.group())):
            raise ShardgateError(
                f"Illegal double '{m.group()}' value found during parsing",
                code=1367,
                sqlstate="22007",
            )


# ---------------------------------------------------------------------- the guard
def _masked(sql: str) -> str:
    """``sql`` with each string literal as ``''`` and its comments removed."""
    if "/*" in sql or "--" in sql:
        return _STRING_OR_COMMENT.sub("''", sql)
    return mask_strings(sql)


def guard(raw: sqlite3.Connection, sql: str) -> str:
    """``sql`` with each arithmetic node MySQL may compute as a DOUBLE range-checked
    (module doc); 1367 for a literal past the range. A statement converting a string
    compared with a number (``sg_string_number``) tells this thread whether it is a
    read (a SELECT), where the conversion warns as MySQL's (:func:`string_number`)."""
    out = _guarded(raw, sql)
    if out is not sql and "sg_string_number(" in out:
        _strict.read = not (_WRITE_HEAD.match(sql) or _DELETE_HEAD.match(sql))
    return out


def _guarded(raw: sqlite3.Connection, sql: str) -> str:
    if _DDL_HEAD.match(sql):
        return sql  # a table's definition (CHECK, triggers) is the shard file's own SQL
    if "." in sql and not _WRITE_HEAD.match(sql):
        # A DECIMAL literal no REAL holds, compared in a read or a DELETE: MySQL
        # compares it exactly, SQLite as the nearest REAL (a write's: the backend).
        wide = wide_fraction_literal(sql, compared=True)
        if wide is not None:
            raise NotSupported(
                f"the number {wide} compared in a statement on the SQLite default (MySQL "
                "compares its exact DECIMAL, a REAL loses its last digits); an integer, "
                "or a value of at most 15 digits"
            )
    # Literal-led searches (fast in ``re``) before any masking of the strings.
    exponent = any(r.search(sql) is not None for r in _EXPONENT_MARKS)
    arithmetic = exponent or any(op in sql for op in "+-*/%")
    if not arithmetic:
        low = sql.lower()
        arithmetic = any(word in low for word in _CALL_WORDS)
    compares = _may_compare(sql)
    # A read's numeric function (``ABS(s)``, ``ROUND(s)``, ``SUM(s)``) of a string:
    # MySQL's DOUBLE and its 1292 (a ``(`` and the word before it: no regex).
    numeric = "(" in sql and _double_call(sql) and not _WRITE_HEAD.match(sql)
    if not arithmetic and not compares and not numeric:
        return sql  # most statements: no arithmetic, no exponent, no comparison
    # The text filters below see long IN lists of plain values cut to one (they hold
    # no arithmetic); a statement that needs the guard is rewritten from its whole text.
    masked = _masked(shrink_lists(sql))
    if exponent:
        check_literals(masked)
    overflow = numeric or (
        arithmetic
        and (_might_overflow(masked) or bool(_WRITE_HEAD.match(sql) and _NEGATED.search(masked)))
    )
    if not overflow:
        if not compares:
            return sql
        # A comparison (a point query: ``WHERE id = 5``): parsed only when a text column
        # of its tables is compared with something that is no string (the declared
        # types are cached per connection: no PRAGMA, no parse, no cache entry here).
        if (
            not _compares_text(raw, masked)
            and not _compares_string(raw, sql, masked)
            and not _compares_call(masked)
            and not _compares_temporal(raw, masked)
        ):
            return sql
    # "Nothing to wrap" is decided once for every shard of a logical statement (it
    # depends on the tables' definitions only: sqlite_table_identity); a rewritten
    # text names its shard's schema, so it is kept under its own text.
    neutral = neutral_key(raw, sql) if len(sql) <= NEUTRAL_KEY_CHARS else sql
    with _lock:
        for key in (neutral, sql):
            cached = _cache.get(key)
            if cached is not None:
                _cache.move_to_end(key)
                return sql if cached is _UNCHANGED else cached
    decls = _declared(raw, masked)
    write = _WRITE_HEAD.match(sql) is not None
    worth = (overflow and _worth_parsing(masked, decls, write, numeric)) or (
        compares
        and (
            _compares_text(raw, masked)
            or _compares_string(raw, sql, masked)
            or _compares_call(masked)
            or _compares_temporal(raw, masked)
        )
    )
    out = _guard(sql, decls) if worth else sql
    with _lock:
        if out == sql:
            _cache[neutral] = _UNCHANGED
        else:
            _cache[sql] = out
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return out


#: A comparison operator (``=``, ``<``, ``>`` and their pairs, ``<=>``), ``IN``, ``BETWEEN``.
_COMPARISON_WORDS = (" IN ", " IN(", " in ", " in(", "BETWEEN", "between", " IS '", " is '")


_IS_VALUE = re.compile(r"\sIS\s+(?:NOT\s+)?(?!(?:NULL|TRUE|FALSE|UNKNOWN)\b)\S", re.IGNORECASE)


def _may_compare(sql: str) -> bool:
    """Whether the statement may hold a comparison (substring tests). An INSERT's
    VALUES rows hold none: only its upsert clause or its SELECT may."""
    head = sql.lstrip()[:7].upper()
    if head.startswith(("INSERT", "REPLACE")) and (
        " ON CONFLICT " not in sql and "SELECT" not in sql and "select" not in sql
    ):
        return False
    if any(c in sql for c in "=<>") or any(w in sql for w in _COMPARISON_WORDS):
        return True
    # ``d IS 20240105`` (SQLite's ``<=>``): compared as MySQL compares (not ``IS NULL``).
    return (" IS " in sql or " is " in sql) and _IS_VALUE.search(sql) is not None


#: ``IS [NOT]``, ``[NOT] IN``, ``[NOT] BETWEEN``: comparisons by a word.
_COMPARE_WORD = re.compile(r"\b(?:IS(?:\s+NOT)?|(?:NOT\s+)?(?:IN|BETWEEN))\b", re.IGNORECASE)
#: The name (last part of a qualified one) right before / right after an operator.
_NAME_AFTER = re.compile(
    r'\s*(?:(?:"(?:[^"]|"")+"|\w+)\s*\.\s*)?(?:"((?:[^"]|"")+)"|([A-Za-z_]\w*))(?!\s*[.(])'
)
_WORDS = frozenset({"NULL", "TRUE", "FALSE", "NOT", "SELECT", "CASE", "WHEN", "THEN"})


def _name_before(text: str, end: int) -> str | None:
    """The name (a quoted ``"s"`` or a bare word) ending right before ``end`` (spaces
    skipped), lower case, or None."""
    j = end - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    if j < 0:
        return None
    if text[j] == '"':
        k = text.rfind('"', 0, j)
        return text[k + 1 : j].lower() if k >= 0 else None
    k = j
    while k >= 0 and (text[k].isalnum() or text[k] == "_"):
        k -= 1
    word = text[k + 1 : j + 1]
    if not word or word[0].isdigit() or word.upper() in _WORDS:
        return None
    return word.lower()


def _compared_names(masked: str) -> set[str]:
    """Names (lower case) next to a comparison whose other side is not a string (``''``
    once masked) or NULL: ``"id" = 5`` gives ``id``, ``"s" = ''`` nothing. A scan of
    the operators with ``str.find`` (a point query has one), words by regex only when
    the text has them."""
    out: set[str] = set()
    spots: list[tuple[int, int, bool]] = []  # (start, end, both sides compared)
    for ch in "=<>":
        i = masked.find(ch)
        while i >= 0:
            j = i + 1
            while j < len(masked) and masked[j] in "=<>":
                j += 1
            k = i
            while k > 0 and masked[k - 1] in "=<>!":
                k -= 1
            spots.append((k, j, True))
            i = masked.find(ch, j)
    up = masked.upper()
    if " IN" in up or "BETWEEN" in up or " IS " in up:
        spots.extend((m.start(), m.end(), False) for m in _COMPARE_WORD.finditer(masked))
    for start, end, both in set(spots):
        after = masked[end : end + 80].lstrip()
        if not both:
            after = after.lstrip("(").lstrip()
        left = _name_before(masked, start)
        if left is not None and _not_a_string(after):
            out.add(left)
        if not both:
            continue  # only a name before ``IN``/``BETWEEN``/``IS`` is compared
        right = _NAME_AFTER.match(masked, end)
        before = masked[max(0, start - 8) : start].rstrip()
        if right is not None and not before.endswith("''") and not before.upper().endswith("NULL"):
            name = right.group(1) or right.group(2)
            if name.upper() not in _WORDS:
                out.add(name.replace('""', '"').lower())
    return out


#: Column names seen as text / as no text in some shard table (:func:`_declared`): a
#: comparison whose names were only ever seen as no text needs no schema look-up.
_text_names: set[str] = set()
_other_names: set[str] = set()
#: Column names seen as DATE/DATETIME/TIMESTAMP/TIME in some shard table.
_temporal_names: set[str] = set()


def _compares_text(raw: sqlite3.Connection, masked: str) -> bool:
    """A text column of the statement's tables next to a comparison whose other side is
    not a string or NULL: the statement is parsed to compare as MySQL does (a number)."""
    names = _compared_names(masked)
    if not names:
        return False
    if not (names & _text_names) and names <= _other_names:
        return False  # ``WHERE "id" = 5``: no look-up of the tables
    decls = _declared(raw, masked)
    return any(_TEXT_DECL.match(cols.get(name, "")) for cols in decls.values() for name in names)


def _compares_temporal(raw: sqlite3.Connection, masked: str) -> bool:
    """A DATE/DATETIME/TIMESTAMP column of the statement's tables named in a statement
    that compares: parsed, as MySQL compares it with a number or string as a date
    (:mod:`sharding.backend.sqlite_temporal`). Names never seen as such cost a
    substring test each."""
    if not _temporal_names:
        return False
    low = masked.lower()
    names = {n for n in _temporal_names if n in low}
    if not names:
        return False
    decls = _declared(raw, masked)
    return any(
        _TEMPORAL_DECL.match(cols.get(name, ""))
        and re.search(_name_pattern(name), masked, re.IGNORECASE) is not None
        for cols in decls.values()
        for name in names
    )


#: A number literal with SQLite's spaces around: its affinity converts it.
_CLEAN_TEXT = re.compile(r"[ \t\n\r]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r]*\Z")


def _clean_number(text: str) -> bool:
    """Whether SQLite's numeric affinity makes the string literal ``text`` the number
    MySQL reads of it: a whole number literal with spaces around (``' 5'``, ``'5.0'``,
    ``'1e2'``) — not ``'5x'``, ``''``, ``'0x10'``; nor one of 16 or more digits whose
    REAL is not its exact value (``'9007199254740993.5'``: MySQL compares exactly)."""
    if text.isdigit() and len(text) < 16:
        return True
    if _CLEAN_TEXT.match(text) is None:
        return False
    digits = sum(c.isdigit() for c in text)
    if digits < 16:
        return True
    number = Decimal(text.strip())
    if not any(c in text for c in ".eE") and abs(number) < 2**63:
        return True  # SQLite's affinity makes it an exact INTEGER
    return Decimal(float(text)) == number


def _quiet_number(text: str) -> bool:
    """Whether the string literal ``text`` is a clean number (:func:`_clean_number`)
    MySQL converts without a 1292: no trailing spaces (``'5 '`` is a Note)."""
    return _clean_number(text) and not (text and text[-1] in _MYSQL_SPACES)


#: ``BETWEEN x AND`` right before a string: the name before ``BETWEEN``.
_BETWEEN_AND = re.compile(
    r'("(?:[^"]|"")+"|\w+)\s+(?:NOT\s+)?BETWEEN\s+(?:\'[^\']*\'|[^\s\']+)\s+AND\s*\Z',
    re.IGNORECASE,
)
#: ``n IS`` / ``n IS NOT`` right before a string (SQLite's ``<=>``).
_IS_BEFORE = re.compile(r'("(?:[^"]|"")+"|\w+)\s+IS(?:\s+NOT)?\s*\Z', re.IGNORECASE)
#: Where a string's comparisons start: an INSERT's VALUES hold none.
_COMPARED_PART = (" ON CONFLICT ", "SELECT ", "select ")


def _string_compared_names(sql: str) -> set[str]:
    """Names (lower case) compared with a string literal that is no clean number
    (:func:`_clean_number`): ``"n" = '5x'``, ``'5x' = n``, ``n IN ('7', '5x')``,
    ``n BETWEEN '1x' AND 5``. One forward scan of the raw text's quotes with
    ``str.find`` (a point query has one or two), the parentheses between them counted
    for ``IN`` lists; a string next to no comparison costs a look at its neighbours."""
    start = 0
    if _WRITE_HEAD.match(sql) and sql.lstrip()[:6].upper() != "UPDATE":
        found = [i for i in (sql.find(w) for w in _COMPARED_PART) if i >= 0]
        if not found:
            return set()
        start = min(found)
    out: set[str] = set()
    lists: list[str | None] = []  # per open parenthesis: the name of its IN list
    pos = start
    i = sql.find("'", pos)
    while i >= 0:
        if "(" in sql[pos:i] or ")" in sql[pos:i]:
            _count_parens(sql, pos, i, lists)
        j = sql.find("'", i + 1)
        while j >= 0 and sql.startswith("''", j):
            j = sql.find("'", j + 2)
        if j < 0:
            break
        name = _string_partner(sql, i, j, lists)
        if name is not None and not _quiet_number(sql[i + 1 : j].replace("''", "'")):
            out.add(name)
        elif name == EXPRESSION:
            # ``n + 0 = '2'``, ``'65' = 65``, ``1 IN ('1', 2)``: no affinity converts
            # the string; the parse tells whether the other side is a number.
            out.add(name)
        pos = j + 1
        i = sql.find("'", pos)
    return out


def _count_parens(sql: str, pos: int, end: int, lists: list[str | None]) -> None:
    """Open and close the parentheses of ``sql[pos:end]`` (no strings in it) on
    ``lists``: an ``IN (`` opens its name, any other one None."""
    k = pos
    while True:
        a, b = sql.find("(", k, end), sql.find(")", k, end)
        if a < 0 and b < 0:
            return
        if b < 0 or 0 <= a < b:
            word_end = a
            while word_end > 0 and sql[word_end - 1] in " \t\r\n":
                word_end -= 1
            name = None
            if sql[max(0, word_end - 2) : word_end].upper() == "IN" and (
                word_end < 3 or not (sql[word_end - 3].isalnum() or sql[word_end - 3] == "_")
            ):
                before = word_end - 2
                probe = sql[max(0, before - 5) : before].rstrip()
                if probe.upper().endswith("NOT"):
                    before = max(0, before - 5) + len(probe) - 3
                name = _name_before(sql, before) or EXPRESSION  # ``n + 0 IN (``
            lists.append(name)
            k = a + 1
        else:
            if lists:
                lists.pop()
            k = b + 1


_OPERATOR_CHARS = "=<>!"
#: :func:`_string_partner`'s answer for a string compared with something that is not a
#: plain name (no column is named so: it has no letters).
EXPRESSION = "?"


def _string_partner(sql: str, i: int, j: int, lists: list[str | None]) -> str | None:
    """The name compared with the string ``sql[i : j + 1]``, or None."""
    k = i - 1
    while k >= 0 and sql[k] in " \t\r\n":
        k -= 1
    if k >= 0 and sql[k] in _OPERATOR_CHARS:
        while k > 0 and sql[k - 1] in _OPERATOR_CHARS:
            k -= 1
        name = _name_before(sql, k)
        # ``n + 0 = '5x'``, ``ABS(n) = '5x'``: an expression; the parse tells its type.
        if name is None or _after_arithmetic(sql, k):
            return EXPRESSION  # ``0 + n = '2'`` too
        return name
    if k >= 0 and sql[k] in "(," and lists and lists[-1] is not None:
        return lists[-1]
    if k >= 1 and sql[k - 1 : k + 1].upper() in ("IS", "OT"):  # ``n IS '5x'``, ``IS NOT``
        m = _IS_BEFORE.search(sql[max(0, k - 160) : k + 1])
        if m is None:
            return EXPRESSION  # ``ABS(n) IS '2'``: the parse tells
        found = _unquote(m.group(1)).lower()
        return EXPRESSION if found[:1].isdigit() else found  # ``5 IS '5'``
    if k >= 2 and sql[k - 2 : k + 1].upper() == "AND":
        m = _BETWEEN_AND.search(sql[max(0, k - 160) : k + 1])
        if m is not None:
            found = _unquote(m.group(1)).lower()
            return EXPRESSION if found[:1].isdigit() else found
        if re.search(r"\bBETWEEN\b", sql[max(0, k - 160) : k + 1], re.IGNORECASE):
            return EXPRESSION  # ``n + 0 BETWEEN 1 AND '2'``: the parse tells
    elif k >= 6 and sql[k - 6 : k + 1].upper() == "BETWEEN":
        name = _name_before(sql, k - 6)
        if name == "not":
            probe = sql[: k - 6].rstrip()
            name = _name_before(probe, len(probe) - 3)
        return EXPRESSION if name is None else name
    r = j + 1
    while r < len(sql) and sql[r] in " \t\r\n":
        r += 1
    if r < len(sql) and sql[r] in _OPERATOR_CHARS:
        while r < len(sql) and sql[r] in _OPERATOR_CHARS:
            r += 1
        m = _NAME_AFTER.match(sql, r)
        if m is None:
            return EXPRESSION  # ``'5x' = n + 0``, ``'5x' = ABS(n)``, ``'5x' = 5``
        name = m.group(1) or m.group(2)
        if name.upper() not in _WORDS:
            rest = sql[m.end() : m.end() + 8].lstrip()
            if rest[:1] in _ARITHMETIC_CHARS or rest[:4].upper() in ("DIV ", "MOD "):
                return EXPRESSION  # ``'2' = n + 0``
            return name.replace('""', '"').lower()
    elif _LEADS_COMPARISON.match(sql, r) is not None:
        return EXPRESSION  # ``'3' BETWEEN 1 AND 5``, ``'5x' IN (1, 2)``, ``'5x' IS 5``
    return None


_ARITHMETIC_CHARS = frozenset("+-*/%|&^")


def _after_arithmetic(sql: str, end: int) -> bool:
    """Whether the name ending right before ``end`` (spaces skipped) follows an
    arithmetic operator (``0 + n = '2'``): the compared operand is an expression."""
    j = end - 1
    while j >= 0 and sql[j] in " \t\r\n":
        j -= 1
    j = _before_identifier(sql, j)
    if j >= 0 and sql[j] == ".":  # a qualified name: ``t.n``
        j = _before_identifier(sql, j - 1)
    while j >= 0 and sql[j] in " \t\r\n":
        j -= 1
    return j >= 0 and sql[j] in _ARITHMETIC_CHARS


def _before_identifier(sql: str, j: int) -> int:
    """The index right before the identifier (quoted or bare) that ends at ``j``."""
    if j >= 0 and sql[j] == '"':
        return sql.rfind('"', 0, j) - 1
    while j >= 0 and (sql[j].isalnum() or sql[j] in "_$"):
        j -= 1
    return j


#: ``[NOT] BETWEEN``/``[NOT] IN (``/``IS [NOT]`` (a value) right after a string: it is
#: the compared operand.
_LEADS_COMPARISON = re.compile(
    r"(?:NOT\s+)?(?:BETWEEN\b|IN\s*\()|IS\s+(?:NOT\s+)?(?!(?:NULL|TRUE|FALSE|UNKNOWN)\b)",
    re.IGNORECASE,
)


def _compares_string(raw: sqlite3.Connection, sql: str, masked: str) -> bool:
    """A numeric column of the statement's tables compared with a string literal that
    is no clean number (``WHERE n = '5x'``): parsed to compare the string's number as
    MySQL does. ``name = 'bob'`` of a name only ever seen as text, and ``id = '5'``,
    need no look-up."""
    if "'" not in sql:
        return False
    names = _string_compared_names(sql)
    if EXPRESSION in names:
        return True  # the parse tells whether that expression is a number
    if not names or (names <= _text_names and not (names & _other_names)):
        return False
    decls = _declared(raw, masked)
    return any(_NUMBER_DECL.match(cols.get(name, "")) for cols in decls.values() for name in names)


#: A ``)`` right before a comparison: it may close a call or a subquery.
_CLOSE_COMPARED = re.compile(r"\)\s*(?:[=<>!]|(?:NOT\s+)?(?:IN|BETWEEN)\b|IS\b)", re.IGNORECASE)
#: A call, a subquery or a CASE right after a comparison (or in an IN list).
_CALL_COMPARED = re.compile(
    r"(?:[=<>]|\bIS(?:\s+NOT)?|\bBETWEEN|\bBETWEEN\s[^()]*?\sAND)\s*"
    r"(?:[A-Za-z_]\w*\s*\(|\(\s*SELECT\b|CASE\b)"
    r"|\bIN\s*\([^()]*?[A-Za-z_]\w*\s*\(|\bEND\s*(?:[=<>!]|IS\b|(?:NOT\s+)?(?:IN|BETWEEN)\b)",
    re.IGNORECASE,
)
#: Words before ``(`` that make it no call (a parenthesised condition, a row value).
_NOT_CALLS = frozenset(
    {"AND", "OR", "NOT", "WHERE", "ON", "WHEN", "THEN", "ELSE", "HAVING", "IN", "SELECT"}
    | {"BY", "AS", "IS", "BETWEEN", "EXISTS", "VALUES", "SET", "LIMIT", "OFFSET", "FROM"}
)


def _compares_call(masked: str) -> bool:
    """A call, a subquery or a CASE as an operand of a comparison (``ABS(n) = ''``,
    ``n = (SELECT '')``, ``UPPER(s) IN ('')``): parsed, as its type may be only its
    value's (:mod:`sharding.backend.sqlite_compare`). A parenthesised condition or a
    row value (``(id, k) > (5, 7)``, a keyset continuation) is none."""
    if "(" not in masked:
        return False
    if _CALL_COMPARED.search(masked):
        return True
    for m in _CLOSE_COMPARED.finditer(masked):
        depth, k = 0, m.start()
        while k >= 0:
            ch = masked[k]
            depth += 1 if ch == ")" else -1 if ch == "(" else 0
            if depth == 0:
                break
            k -= 1
        if k < 0:
            continue
        if masked[k + 1 : k + 40].lstrip().upper().startswith("SELECT"):
            return True
        j = k
        while j > 0 and masked[j - 1] in " \t\r\n":
            j -= 1
        e = j
        while j > 0 and (masked[j - 1].isalnum() or masked[j - 1] in "_$"):
            j -= 1
        word = masked[j:e]
        if word and not word[0].isdigit() and word.upper() not in _NOT_CALLS:
            return True
    return False


def _not_a_string(rest: str) -> bool:
    rest = rest.lstrip()
    return bool(rest) and not rest.startswith("''") and rest[:4].upper() != "NULL"


def _might_overflow(masked: str) -> bool:
    """Binary arithmetic (or a call that may overflow) in the statement's text.
    Substring searches and a look at each operator's left neighbour: a bulk INSERT's
    negative numbers cost a few microseconds each, no regular expression over it."""
    low = masked.lower()
    if any(word in low for word in _CALL_WORDS) and _CALL.search(masked):
        return True
    for op in "+-*/%":
        i = masked.find(op)
        while i >= 0:
            if _after_operand(masked, i, op):
                return True
            i = masked.find(op, i + 1)
    return False


_OPERAND_END = frozenset("0123456789)'\"`]_$") | frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
#: Words after which ``*`` is a star, not a multiplication.
_STAR_WORDS = frozenset({"SELECT", "DISTINCT", "ALL"})


def _after_operand(text: str, i: int, op: str) -> bool:
    """Whether the operator at ``i`` follows an operand (so it is binary): not a sign
    (``, -2``), not an exponent's sign (``1e-5``), not ``SELECT *``/``t.*``."""
    j = i - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    if j < 0 or text[j] not in _OPERAND_END:
        return False
    if text[j] in "eE" and op in "+-":
        k = j - 1
        while k >= 0 and (text[k].isdigit() or text[k] == "."):
            k -= 1
        if k < j - 1 and (k < 0 or not (text[k].isalnum() or text[k] == "_")):
            return False  # ``1e-5``: the sign of an exponent
    if op == "*" and (text[j].isalpha() or text[j] == "_"):
        k = j
        while k >= 0 and (text[k].isalnum() or text[k] == "_"):
            k -= 1
        if text[k + 1 : j + 1].upper() in _STAR_WORDS:
            return False
    return True


_unquote = sqlite_table_identity.unquote


#: Declared column types per (schema, table) alias key: ``{(schema, table): {col: decl}}``.
Decls = dict[tuple[str, str], dict[str, str]]


#: Declared column types per connection (``id(raw)`` → (the connection, generation,
#: ``{(schema, table): {col: decl}}``)): a point query's filter needs no PRAGMA. The
#: connection is kept to tell a reused id; :func:`forget` (DDL) starts a new generation.
_decl_cache: OrderedDict[int, tuple[sqlite3.Connection, int, Decls]] = OrderedDict()
_decl_generation = 0
_DECL_CONNECTIONS = 256


def schemas_changed(raw: sqlite3.Connection) -> None:
    """``raw`` attached or detached a database: read its schema list again."""
    sqlite_table_identity.schemas_changed(raw)


def declared_columns(raw: sqlite3.Connection, text: str) -> Decls:
    """The declared column types (a text column's with its ``COLLATE`` clause) of every
    ``schema.table`` ``text`` names, cached per connection until a DDL."""
    return _declared(raw, text)


def _declared(raw: sqlite3.Connection, masked: str) -> Decls:
    """The declared column types of every ``schema.table`` the text names."""
    pairs = {(_unquote(a), _unquote(b)) for a, b in _TABLE.findall(masked)}
    if not pairs:
        return {}
    with _lock:
        entry = _decl_cache.get(id(raw))
        if entry is None or entry[0] is not raw or entry[1] != _decl_generation:
            entry = (raw, _decl_generation, {})
            _decl_cache[id(raw)] = entry
            while len(_decl_cache) > _DECL_CONNECTIONS:
                _decl_cache.popitem(last=False)
        else:
            _decl_cache.move_to_end(id(raw))
    known = entry[2]
    out: Decls = {}
    missing = []
    for schema, table in pairs:
        found = known.get((schema.lower(), table.lower()))
        if found is not None:
            out[(schema.lower(), table.lower())] = found
        else:
            missing.append((schema, table))
    if not missing:
        return out
    # The attached schemas, read once per connection until an ATTACH/DETACH
    # (schemas_changed): most missing pairs are alias.column, never tables, and a
    # PRAGMA per statement per shard was a third of a 1024-shard scatter's CPU.
    schemas = sqlite_table_identity.attached(raw)
    for schema, table in missing:
        if schema.lower() not in schemas:
            continue  # an alias.column pair
        s, t = schema.replace('"', '""'), table.replace('"', '""')
        cols = {
            str(r[1]).lower(): str(r[2] or "")
            for r in raw.execute(f'PRAGMA "{s}".table_info("{t}")')
        }
        if any(_TEXT_DECL.match(d) for d in cols.values()):
            _add_collations(raw, s, t, cols)
        if cols:
            out[(schema.lower(), table.lower())] = cols
            known[(schema.lower(), table.lower())] = cols
            with _lock:
                for name, decl in cols.items():
                    (_text_names if _TEXT_DECL.match(decl) else _other_names).add(name)
                    if _TEMPORAL_DECL.match(decl):
                        _temporal_names.add(name)
    return out


def _add_collations(raw: sqlite3.Connection, schema: str, table: str, cols: dict[str, str]) -> None:
    """A text column's declared type with its ``COLLATE`` clause (PRAGMA table_info
    gives the type only): ``VARCHAR(20) COLLATE utf8mb4_bin``. The DDL path writes the
    clause right after the type (:mod:`sharding.sql.ddl`)."""
    row = raw.execute(
        f"SELECT sql FROM \"{schema}\".sqlite_master WHERE type = 'table' AND name = ?",
        (table.replace('""', '"'),),
    ).fetchone()
    if not row or not row[0]:
        return
    ddl = str(row[0])
    for name, decl in cols.items():
        if not _TEXT_DECL.match(decl):
            continue
        quoted = re.escape('"' + name.replace('"', '""') + '"') + "|" + re.escape(name)
        m = re.search(
            r"(?:^|[(,])\s*(?:" + quoted + r")\s+" + re.escape(decl) + r"\s+COLLATE\s+\"?(\w+)",
            ddl,
            re.IGNORECASE,
        )
        if m is not None:
            cols[name] = f"{decl} COLLATE {m.group(1)}"


def _name_pattern(name: str) -> str:
    return r'(?<![\w$"])"?' + re.escape(name) + r'"?(?![\w$"])'


def _worth_parsing(masked: str, decls: Decls, write: bool = False, numeric: bool = False) -> bool:
    """An operand that may be a DOUBLE: an exponent literal, a string literal next to an
    operator, ``POW``/``EXP``, a DOUBLE column named anywhere, a text column next to an
    operator (or inside a division; in a read, inside ``SUM``/``AVG`` or a numeric
    function: ``numeric``, :func:`_double_call`); or a DATE/DATETIME/TIME column next to
    one; an integer column as a factor of ``*`` (``n * n * n`` leaves BIGINT's range);
    in a write, a fraction where a BIGINT column is written (``SET b = b * 1.5``)."""
    if _EXPONENT.search(masked) or _STRING_OPERAND.search(masked):
        return True
    # A read's numeric calls (``ABS(…)``, ``SUM(…)``): their argument text, where a
    # string literal or a text column would be MySQL's DOUBLE (``sg_double``).
    arguments = _double_call_arguments(masked) if numeric else ""
    if "''" in arguments:
        return True  # ``ABS('5x')``: the parse tells whether it is an argument
    if re.search(r"\b(?:pow|power|exp)\s*\(", masked, re.IGNORECASE):
        return True
    if _BIG_LITERAL.search(masked) or ("*" in masked and _LITERAL_PRODUCT.search(masked)):
        return True
    division = re.search(r"\b(?:sg_div|sg_intdiv|mod)\s*\(", masked, re.IGNORECASE) is not None
    summed = re.search(r"\b(?:sum|avg)\s*\(", masked, re.IGNORECASE) is not None
    if write and _FRACTION.search(masked):
        for cols in decls.values():
            if any(_BIGINT_DECL.match(d) for d in cols.values()):
                return True
    if (summed or division or _CALL_OPERAND.search(masked) is not None) and (
        sqlite_temporal.TEMPORAL_CALL.search(masked) is not None
        or (
            sqlite_temporal.ARGUMENT_TYPED_CALL.search(masked) is not None
            and any(_TEMPORAL_DECL.match(d) for cols in decls.values() for d in cols.values())
        )
    ):
        return True  # ``DATE(dt) + 0``, ``SUM(MAX(d))``: MySQL's number of the result
    for cols in decls.values():
        for name, decl in cols.items():
            # An INT factor of ``*``: a product of INTs may leave BIGINT (1690).
            narrow = _INT_DECL.match(decl) and not _WIDE_DECL.match(decl)
            if narrow and _operand_of("*", name, masked):
                return True
            if _DOUBLE_DECL.match(decl):
                if re.search(_name_pattern(name), masked, re.IGNORECASE):
                    return True
            elif _WIDE_DECL.match(decl):
                # A BIGINT or UNSIGNED operand: MySQL's integer range is checked.
                if _operand_of("-+*", name, masked):
                    return True
            elif _TEXT_DECL.match(decl) or _TEMPORAL_DECL.match(decl):
                pattern = _name_pattern(name)
                inside = division or (summed and _TEMPORAL_DECL.match(decl) is not None)
                if inside and re.search(pattern, masked, re.IGNORECASE):
                    return True
                if arguments and re.search(pattern, arguments, re.IGNORECASE):
                    return True
                if _operand_of("-+*/%", name, masked):
                    return True
    return False


#: A call's result (``)``, ``END``) next to an operator, or an operator before one.
_CALL_OPERAND = re.compile(r"(?:\)|\bEND)\s*[-+*/%]|[-+*/%]\s*[\w.]*\s*\(", re.IGNORECASE)


def _operand_of(operators: str, name: str, masked: str) -> bool:
    """Column ``name`` (qualified or not) next to one of ``operators`` in ``masked``."""
    ops = "[" + "".join(re.escape(c) for c in operators) + "]"
    pattern = _name_pattern(name)
    found = re.search(
        ops + r"\s*(?:\w+\s*\.\s*)?" + pattern + "|" + pattern + r"\s*" + ops,
        masked,
        re.IGNORECASE,
    )
    return found is not None


class _Columns:
    """The declared type of a column reference of one statement."""

    def __init__(self, tree: exp.Expr, decls: Decls) -> None:
        #: alias (lower) → (schema, table, decls)
        self.tables: dict[str, tuple[str, str, dict[str, str]]] = {}
        self.target: tuple[str, str, dict[str, str]] | None = None
        for table in tree.find_all(exp.Table):
            schema, name = table.text("db"), table.name
            cols = decls.get((schema.lower(), name.lower()))
            if cols is None:
                continue
            entry = (schema, name, cols)
            self.tables[table.alias_or_name.lower()] = entry
            if isinstance(tree, exp.Insert | exp.Update) and self.target is None:
                self.target = entry
        if isinstance(tree, exp.Insert):
            this = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            if isinstance(this, exp.Table):
                found = decls.get((this.text("db").lower(), this.name.lower()))
                if found is not None:
                    self.target = (this.text("db"), this.name, found)

    def owner(self, column: exp.Column) -> tuple[str, str, str, dict[str, str]] | None:
        """(schema, alias, table, decls) of the column's table, or None (unknown)."""
        q, name = column.table.lower(), column.name.lower()
        if q == "excluded" and self.target is not None:
            schema, table, cols = self.target
            return (schema, table, table, cols) if name in cols else None
        if q:
            found = self.tables.get(q)
            if found is None or name not in found[2]:
                return None
            return (found[0], column.table, found[1], found[2])
        owners = [(k, v) for k, v in self.tables.items() if name in v[2]]
        if len(owners) != 1:
            return None
        alias, (schema, table, cols) = owners[0]
        return (schema, alias if alias != table.lower() else table, table, cols)

    def decl(self, column: exp.Column) -> str | None:
        found = self.owner(column)
        return None if found is None else found[3][column.name.lower()]


#: Functions whose result is an integer or a DECIMAL (never a DOUBLE past its range).
_EXACT_FUNCTIONS = frozenset(
    {
        "sg_signed",
        "sg_unsigned",
        "sg_signed_double",
        "sg_unsigned_double",
        "sg_intdiv",
        "sg_bitnot",
        "sg_bitxor",
        "sg_bitand",
        "sg_bitor",
        "sg_shl",
        "sg_shr",
        "sg_cast_decimal",
        "sg_decimal",
        "char_length",
        "character_length",
        "octet_length",
        "length",
        "year",
        "month",
        "day",
        "dayofmonth",
        "hour",
        "minute",
        "second",
        "quarter",
        "dayofweek",
        "weekday",
        "dayofyear",
        "week",
        "datediff",
        "timestampdiff",
        "sg_extract",
        "unix_timestamp",
        "locate",
        "instr",
        "field",
        "find_in_set",
        "ascii",
        "ord",
        "crc32",
        "strcmp",
        "xor",
        "regexp",
        "like",
    }
)


def _call_name(node: exp.Expr) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else ""


def _maybe_double(node: exp.Expr | None, cols: _Columns) -> bool:
    """Whether MySQL may compute ``node`` as a DOUBLE (conservative: an unknown column
    or function may be one; wrapping an exact value only costs a call)."""
    if node is None or isinstance(node, exp.Null | exp.Boolean):
        return False
    if isinstance(node, exp.Paren | exp.Neg | exp.Abs):
        return _maybe_double(node.this, cols)
    if isinstance(node, exp.Column):
        decl = cols.decl(node)
        if decl is None:
            return True
        return bool(_DOUBLE_DECL.match(decl) or _TEXT_DECL.match(decl))
    if isinstance(node, exp.Literal):
        return node.is_string or "e" in node.name.lower()
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod):
        return _maybe_double(node.this, cols) or _maybe_double(node.expression, cols)
    if isinstance(node, exp.Count | exp.Predicate | exp.Connector | exp.Not):
        return False
    if isinstance(node, exp.Sum | exp.Avg | exp.Min | exp.Max) and not node.expressions:
        return _maybe_double(node.this, cols)
    name = _call_name(node)
    if name in _EXACT_FUNCTIONS:
        return False
    if name in ("sg_div", "mod", "round", "truncate"):
        return any(_maybe_double(a, cols) for a in node.expressions[:2])
    if isinstance(node, exp.Cast):
        to = node.args.get("to")
        return not (isinstance(to, exp.DataType) and to.is_type(*exp.DataType.INTEGER_TYPES))
    return True


def _integer_kind(node: exp.Expr | None, cols: _Columns) -> str | None:
    """``"signed"``/``"unsigned"`` when MySQL computes ``node`` as a BIGINT (an integer
    column, an integer literal, ``+ - *`` of those), else None."""
    if node is None:
        return None
    if isinstance(node, exp.Paren):
        return _integer_kind(node.this, cols)
    if isinstance(node, exp.Neg):
        return "signed" if _integer_kind(node.this, cols) is not None else None
    if isinstance(node, exp.Column):
        decl = cols.decl(node)
        if decl is None or not _INT_DECL.match(decl):
            return None
        return "unsigned" if re.search(r"\bUNSIGNED\b", decl, re.IGNORECASE) else "signed"
    if isinstance(node, exp.Literal):
        if node.is_string or not node.name.isdigit() or int(node.name) >= 2**63:
            return None
        return "signed"
    if isinstance(node, exp.Add | exp.Sub | exp.Mul):
        a, b = _integer_kind(node.this, cols), _integer_kind(node.expression, cols)
        if a is None or b is None:
            return None
        return "unsigned" if "unsigned" in (a, b) else "signed"
    return None


def _strict_operands(tree: exp.Expr, cols: _Columns) -> list[tuple[exp.Expr, str]]:
    """The string operands (a string literal, a text column) of arithmetic in a write:
    MySQL's strict mode refuses one that is no number (1292), with the type it converts
    to. Not in an INSERT's SELECT (MySQL only warns there)."""
    out: list[tuple[exp.Expr, str]] = []
    for node in tree.walk(bfs=False):
        operands: list[exp.Expr] = []
        kind = "DOUBLE"
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod):
            operands = [node.this, node.expression]
        elif isinstance(node, exp.Neg):
            operands = [node.this]
        elif _call_name(node) in ("sg_div", "mod", "sg_intdiv"):
            operands = list(node.expressions[:2])
            kind = "DECIMAL" if _call_name(node) == "sg_intdiv" else "DOUBLE"
        for operand in operands:
            inner = operand
            while isinstance(inner, exp.Paren):
                inner = inner.this
            if isinstance(inner, exp.Literal) and inner.is_string:
                out.append((inner, kind))
            elif isinstance(inner, exp.Column):
                decl = cols.decl(inner)
                if decl is not None and _TEXT_DECL.match(decl):
                    out.append((inner, kind))
    if isinstance(tree, exp.Insert) and tree.find(exp.Select) is not None:
        inside = {id(n) for n in tree.expression.walk()} if tree.expression else set()
        out = [(n, k) for n, k in out if id(n) not in inside]
    return out


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.Is)


def _assignment_ids(tree: exp.Expr) -> set[int]:
    """The ``a = x`` nodes of an UPDATE's SET and an upsert's clause (no comparisons)."""
    out: set[int] = set()
    if isinstance(tree, exp.Update):
        out.update(id(a) for a in tree.expressions)
    conflict = tree.args.get("conflict") if isinstance(tree, exp.Insert) else None
    if isinstance(conflict, exp.OnConflict):
        out.update(id(a) for a in conflict.expressions)
    return out


def _number_kind(node: exp.Expr | None, cols: _Columns) -> str | None:
    """How MySQL converts a string compared with ``node``: ``"DECIMAL"`` for an integer
    (a literal, an integer column, ``+ - *`` of those), ``"DOUBLE"`` for another number
    (a decimal or exponent literal, a DECIMAL/DOUBLE column, a quotient); None for what
    is no number or not known (left as SQLite compares)."""
    while isinstance(node, exp.Paren | exp.Neg):
        node = node.this
    if node is None:
        return None
    if _integer_kind(node, cols) is not None:
        return "DECIMAL"
    if isinstance(node, exp.Literal):
        return None if node.is_string else "DOUBLE"
    if isinstance(node, exp.Column):
        decl = cols.decl(node)
        if decl is not None and _NUMBER_DECL.match(decl):
            return "DOUBLE"
        return None
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
        a, b = _number_kind(node.this, cols), _number_kind(node.expression, cols)
        return "DOUBLE" if a is not None and b is not None else None
    if (
        _call_name(node) == "sg_div"
        and len(node.expressions) == 2
        and all(_number_kind(a, cols) is not None for a in node.expressions)
    ):
        return "DOUBLE"
    return _function_kind(node, cols)


#: Functions giving an integer whatever their arguments (in MySQL and on the shard).
_INTEGER_RESULTS = (exp.Length, exp.Count)
#: Functions giving a number of their number arguments (of a string: the value tells).
_NUMBER_OF_NUMBERS = (
    exp.Abs,
    exp.Round,
    exp.Floor,
    exp.Ceil,
    exp.Sign,
    exp.Trunc,
    exp.Mod,
    exp.Sqrt,
    exp.Ln,
    exp.Exp,
    exp.Pow,
    exp.Sum,
    exp.Avg,
    exp.Min,
    exp.Max,
)
_NUMBER_CALLS = frozenset(
    {"round", "truncate", "mod", "log", "sg_log10", "sg_log2", "sg_round_double"}
    | {"sg_truncate_double"}
)
#: Of :data:`_EXACT_FUNCTIONS`: those whose value may be text (an UNSIGNED beyond BIGINT).
_MAYBE_TEXT = frozenset(
    {"sg_unsigned", "sg_unsigned_double", "sg_bitnot", "sg_bitxor", "sg_bitand", "sg_bitor"}
    | {"sg_shl", "sg_shr"}
)


def _function_kind(node: exp.Expr, cols: _Columns) -> str | None:
    """``"DECIMAL"``/``"DOUBLE"`` for a function MySQL and the shard both compute as a
    number (``ABS(n)``, ``ROUND(n)``, ``LENGTH(s)``, ``COUNT(*)``, ``SUM(p)``), else None
    (its value tells: :mod:`sharding.backend.sqlite_compare`)."""
    if isinstance(node, _INTEGER_RESULTS):
        return "DECIMAL"
    name = _call_name(node)
    if not name and isinstance(node, exp.Func) and type(node).__name__.lower() in _EXACT_FUNCTIONS:
        return "DECIMAL"  # ``YEAR(d)``, ``DATEDIFF(a, b)``: sqlglot's own nodes
    if name:
        if name in _EXACT_FUNCTIONS and name not in _MAYBE_TEXT:
            return "DECIMAL"
        if name not in _NUMBER_CALLS or not node.expressions:
            return None
        args = list(node.expressions)
    elif isinstance(node, _NUMBER_OF_NUMBERS):
        if isinstance(node, exp.Sum | exp.Avg | exp.Min | exp.Max) and node.expressions:
            return None  # a window's or an ordered aggregate's extra arguments
        args = [node.this]
    else:
        return None
    kinds = [_number_kind(a, cols) for a in args]
    if any(k is None for k in kinds):
        return None
    if isinstance(node, exp.Sqrt | exp.Ln | exp.Exp | exp.Pow | exp.Avg) or name == "log":
        return "DOUBLE"
    return kinds[0]


_NUMBER_DECL = re.compile(
    r"^\s*(?:(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?\b|DECIMAL|NUMERIC|DOUBLE|FLOAT|REAL)",
    re.IGNORECASE,
)


def _text_column(node: exp.Expr, cols: _Columns) -> exp.Column | None:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        decl = cols.decl(node)
        if decl is not None and _TEXT_DECL.match(decl):
            return node
    return None


def _comparison_sides(
    tree: exp.Expr, assignments: set[int]
) -> Iterator[tuple[exp.Expr, list[exp.Expr]]]:
    """Each compared operand with what it is compared with: both sides of ``=``, ``<``,
    … (not an UPDATE's assignments, not ``= NULL``), ``x IN (list)``, ``x BETWEEN a AND
    b``."""
    for node in tree.walk(bfs=False):
        if isinstance(node, _COMPARISONS) and id(node) not in assignments:
            if not isinstance(node.expression, exp.Null):
                yield node.this, [node.expression]
                yield node.expression, [node.this]
        elif isinstance(node, exp.In) and not node.args.get("query") and node.expressions:
            yield node.this, list(node.expressions)
        elif isinstance(node, exp.Between):
            yield node.this, [node.args["low"], node.args["high"]]


def _compared_texts(tree: exp.Expr, cols: _Columns) -> list[tuple[exp.Expr, str]]:
    """Text columns compared with a number (``s = 0``, ``s > n``, ``s IN (1, 2)``,
    ``s BETWEEN 1 AND 2``) and how MySQL converts them: it compares the string's number
    (1292 for one that is no number in a strict write), SQLite the number's text."""
    assignments = _assignment_ids(tree)
    out: list[tuple[exp.Expr, str]] = []
    seen: set[int] = set()
    for side, others in _comparison_sides(tree, assignments):
        column = _text_column(side, cols)
        if column is None or id(column) in seen:
            continue
        kinds = [_number_kind(o, cols) for o in others]
        # ``s IN (5, 'x')``: MySQL compares every element as a number then.
        strings = [o for o in others if isinstance(o, exp.Literal) and o.is_string]
        if any(k is None for k in kinds) and not (
            len(strings) == kinds.count(None) and len(strings) < len(kinds)
        ):
            continue
        kind = "DOUBLE" if "DOUBLE" in kinds else "DECIMAL"
        seen.add(id(column))
        out.append((column, kind))
        out.extend((string, kind) for string in strings)
    return out


def _numeric_column(node: exp.Expr, cols: _Columns) -> str | None:
    """How MySQL converts a string compared with ``node`` when it is a numeric column:
    ``"DOUBLE"`` for DOUBLE/FLOAT, ``"DECIMAL"`` for an integer or DECIMAL (MariaDB's
    1292 names them so), else None."""
    while isinstance(node, exp.Paren):
        node = node.this
    if not isinstance(node, exp.Column):
        return None
    decl = cols.decl(node)
    if decl is None or not _NUMBER_DECL.match(decl):
        return None
    return "DOUBLE" if _DOUBLE_DECL.match(decl) else "DECIMAL"


#: A string :func:`_compared_strings` found: (the literal, its kind, the compared
#: operand when MySQL converts it per row, else None).
_Compared = tuple[exp.Expr, str, "exp.Expr | None"]


def _compared_strings(tree: exp.Expr, cols: _Columns) -> list[_Compared]:
    """String literals that are no clean number (``'5x'``, ``''``; ``'5 '``, which MySQL
    converts with a Note) compared with a number — a numeric column, a number
    expression or literal (``n = '5x'``, ``'5x' = n``, ``n IN ('5x', '7')``, ``n BETWEEN
    '1x' AND 6``, ``'abc' = 0``, ``'abc' IN (1, 2)``): MySQL compares the string's number,
    SQLite the TEXT (after every number). With how MySQL converts it (DECIMAL against
    an integer, DOUBLE against another number or two string bounds of ``BETWEEN``)
    and whether MySQL converts it per row (measured on MariaDB 10.11): a ``BETWEEN``
    bound, and an element of an ``IN`` list mixing strings and numbers (not of a
    DOUBLE column's), when the compared operand names a column."""
    assignments = _assignment_ids(tree)
    out: list[_Compared] = []
    seen: set[int] = set()
    for side, others in _comparison_sides(tree, assignments):
        kind = _numeric_column(side, cols)
        bare = _unparen(side)
        if kind is None and not isinstance(bare, exp.Column):
            # A number that is no column: ``n + 0``, ``5``, ``ABS(n)`` of a number.
            kind = _number_kind(side, cols)
        parent = side.parent
        listed = isinstance(parent, exp.In | exp.Between) and parent.this is side
        if kind is None:
            # ``'abc' IN (1, 2)``, ``'3x' BETWEEN 1 AND 5``: the string is the operand.
            if listed and _noisy_string(bare) and id(bare) not in seen and _numbers(others, cols):
                kinds = [_number_kind(o, cols) for o in others]
                seen.add(id(bare))
                out.append((bare, "DOUBLE" if "DOUBLE" in kinds else "DECIMAL", None))
            continue
        strings = [_unparen(o) for o in others]
        strings = [o for o in strings if isinstance(o, exp.Literal) and o.is_string]
        numbers = [
            o
            for o in others
            if _integer_kind(o, cols) is None
            and not isinstance(_unparen(o), exp.Null)
            and _unparen(o) not in strings
        ]
        row = listed and bare.find(exp.Column) is not None
        if row and isinstance(parent, exp.In):
            # Integers and strings mixed (not against a DOUBLE column): per row.
            row = (
                len(strings) < len(others)
                and not numbers
                and _numeric_column(side, cols) != "DOUBLE"
            )
        if listed and (
            _number_kind(side, cols) != "DECIMAL"  # no integer (``_number_kind``)
            or (isinstance(parent, exp.Between) and len(strings) == 2)
        ):
            # One comparison type for all: DECIMAL for an integer (measured: ``d IN
            # ('2x', 3)``, ``n BETWEEN '1' AND '2x'`` are DOUBLE, ``n IN ('2x', 3.0)``
            # DECIMAL; not modelled: ``n BETWEEN 1.0 AND '2x'``, DOUBLE).
            kind = "DOUBLE"
        for inner in strings:
            if id(inner) not in seen and _noisy_string(inner):
                seen.add(id(inner))
                out.append((inner, kind, side if row else None))
    return out


def _numbers(nodes: list[exp.Expr], cols: _Columns) -> bool:
    """Whether ``nodes`` are numbers (:func:`_number_kind`) or NULLs, one a number at
    least (``'2' IN (NULL, 1, 2)``: a subquery's values, materialised)."""
    found = False
    for node in nodes:
        if isinstance(_unparen(node), exp.Null):
            continue
        if _number_kind(node, cols) is None:
            return False
        found = True
    return found


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _noisy_string(node: exp.Expr) -> bool:
    """A string literal MySQL does not convert to a number silently (:func:`_quiet_number`)."""
    return isinstance(node, exp.Literal) and node.is_string and not _quiet_number(node.name)


def _clean_strings(
    tree: exp.Expr, cols: _Columns, text: str, tokens: list[Any]
) -> list[tuple[int, int, int, str, int]]:
    """Edits making each clean-number string literal (``'2024'``, ``' 5'``) compared
    with a number that is no column (``YEAR(d) = '2024'``, ``ABS(n) IN ('1', '2x')``,
    ``'65' = 65``, ``1 IN ('1', 2)``, ``'3' BETWEEN 1 AND 5``) the number literal: MySQL
    compares the string's number, SQLite a number with TEXT (never equal) where no
    column affinity converts the string. One MySQL converts with a Note (``'5 '``) is
    :func:`_compared_strings`' (its 1292)."""
    assignments = _assignment_ids(tree)
    out: list[tuple[int, int, int, str, int]] = []
    seen: set[int] = set()

    def replace(side: exp.Expr, inner: exp.Expr) -> None:
        span = _span(text, tokens, inner)
        if span is None:
            raise NotSupported(
                f"the comparison of {side.sql(dialect='mysql')[:100]} with the "
                f"string '{inner.name}' on the SQLite default (a form the shard "
                "cannot rewrite)"
            )
        seen.add(id(inner))
        out.append((span[0], 2, 0, inner.name.strip(), span[1] - span[0] + 1))

    for side, others in _comparison_sides(tree, assignments):
        bare = _unparen(side)
        quiet = isinstance(bare, exp.Literal) and bare.is_string and _quiet_number(bare.name)
        if quiet and id(bare) not in seen:
            parent = side.parent
            if (
                isinstance(parent, exp.In | exp.Between)
                and parent.this is side
                and _numbers(others, cols)
            ):
                replace(side, bare)  # ``'3' BETWEEN 1 AND 5``, ``'1' IN (1, 2)``
            continue
        if isinstance(bare, exp.Column) or _number_kind(side, cols) is None:
            continue
        for other in others:
            inner = _unparen(other)
            if (
                isinstance(inner, exp.Literal)
                and inner.is_string
                and id(inner) not in seen
                and _quiet_number(inner.name)
            ):
                replace(side, inner)
    return out


def _in_select_list(node: exp.Expr) -> bool:
    """Whether ``node`` is inside an item of a SELECT's list (not its WHERE, …)."""
    while node.parent is not None:
        if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
            return True
        node = node.parent
    return False


def _wide_assignments(tree: exp.Expr, cols: _Columns) -> list[tuple[exp.Expr, str]]:
    """Values an INSERT/UPDATE writes to a BIGINT column that may be a REAL (not an
    integer, not NULL): SQLite's REAL beyond 2**52 has lost digits MySQL keeps."""
    pairs: list[tuple[str, exp.Expr]] = []
    if isinstance(tree, exp.Update):
        pairs.extend(
            (a.this.name, a.expression)
            for a in tree.expressions
            if isinstance(a, exp.EQ) and isinstance(a.this, exp.Column)
        )
    elif isinstance(tree, exp.Insert):
        if isinstance(tree.this, exp.Schema) and isinstance(tree.expression, exp.Values):
            names = [c.name for c in tree.this.expressions]
            for row in tree.expression.expressions:
                pairs.extend(zip(names, row.expressions, strict=False))
        conflict = tree.args.get("conflict")
        if isinstance(conflict, exp.OnConflict):
            pairs.extend(
                (a.this.name, a.expression)
                for a in conflict.expressions
                if isinstance(a, exp.EQ) and isinstance(a.this, exp.Column)
            )
    if cols.target is None:
        return []
    declared = cols.target[2]
    out: list[tuple[exp.Expr, str]] = []
    for name, value in pairs:
        if not _BIGINT_DECL.match(declared.get(name.lower(), "")):
            continue
        inner = value
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Null | exp.Literal) or _integer_kind(inner, cols) is not None:
            continue  # a literal is checked as text (wide_fraction_literal)
        out.append((value, name))
    return out


def _targets(tree: exp.Expr, cols: _Columns) -> list[exp.Expr]:
    """The nodes to range-check, outermost first (pre-order)."""
    out: list[exp.Expr] = []
    for node in tree.walk(bfs=False):
        if isinstance(node, exp.Pow | exp.Exp) or _call_name(node) in ("pow", "power", "exp"):
            out.append(node)
        elif isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
            if _maybe_double(node.this, cols) or _maybe_double(node.expression, cols):
                out.append(node)
        elif (
            _call_name(node) == "sg_div"
            and len(node.expressions) == 2
            and any(_maybe_double(a, cols) for a in node.expressions)
        ):
            out.append(node)
    return out


#: Where MySQL reads a DATE/DATETIME/TIME as its number (``dt + 0`` is 20240115).
_NUMERIC_PARENTS = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.Sum, exp.Avg)


def _temporal_operands(tree: exp.Expr, cols: _Columns) -> list[tuple[exp.Expr, str]]:
    """Temporal operands of arithmetic, each with the MySQL type it has there: a
    DATE/DATETIME/TIME column, a temporal function's result (``DATE(dt)``, ``NOW()``,
    ``DATE_ADD(d, …)``, ``MAX(d)``, ``CAST(… AS DATE)``): MySQL computes with their number
    (``'2024-01-15'`` is 20240115, ``'2024-01-15 10:20:30'`` 20240115102030,
    ``'10:20:30'`` 102030), SQLite with the text's numeric prefix (2024). They become
    ``sg_temporal_number(x, kind)``. A ``COALESCE``/``IF``/``CASE`` mixing DATE and
    DATETIME results is MySQL's DATETIME (its DATE branch widened to midnight); one
    mixing a temporal result with anything else is a string in MySQL (its number the
    text's prefix, with a 1292 the shard cannot give): 1235."""
    out: list[tuple[exp.Expr, str]] = []
    for node in tree.walk(bfs=False):
        if isinstance(node, exp.Paren | exp.Literal | exp.Star):
            continue
        parent = node.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if parent is None:
            continue
        if not (
            isinstance(parent, _NUMERIC_PARENTS)
            or _call_name(parent) in ("sg_div", "sg_intdiv", "mod")
        ):
            continue
        kind = sqlite_temporal.number_kind(node, cols)
        if kind is not None:
            out.append((node, kind))
    return out


#: Numeric functions SQLite (or a registered function) computes of a string operand
#: without MySQL's 1292: each argument a string may be (sqlglot's nodes).
_DOUBLE_ARGUMENTS: tuple[type[exp.Expr], ...] = (
    exp.Abs,
    exp.Floor,
    exp.Ceil,
    exp.Sign,
    exp.Sqrt,
    exp.Exp,
    exp.Ln,
    exp.Log,
    exp.Pow,
    exp.Sin,
    exp.Cos,
    exp.Tan,
    exp.Asin,
    exp.Acos,
    exp.Atan,
    exp.Atan2,
    exp.Cot,
    exp.Degrees,
    exp.Radians,
)
#: Of these only the first argument (the second is an integer count of digits).
_DOUBLE_FIRST: tuple[type[exp.Expr], ...] = (exp.Round, exp.Trunc)
#: Called names (not sqlglot nodes): the numeric argument's position (None: every one).
_DOUBLE_CALLS: dict[str, int | None] = {
    "sg_log10": None,
    "sg_log2": None,
    "log10": None,
    "log2": None,
    "sg_round_double": 0,
    "sg_truncate_double": 0,
    "truncate": 0,
    "total": None,
}
#: The words before ``(`` of those calls in a shard statement's text (the cheap test).
_DOUBLE_WORDS = frozenset(
    {"abs", "floor", "ceil", "ceiling", "sign", "sqrt", "exp", "ln", "log", "pow", "power"}
    | {"sin", "cos", "tan", "asin", "acos", "atan", "atan2", "cot", "degrees", "radians"}
    | {"round", "truncate", "trunc", "sum", "avg", "total", "cast"}
    | set(_DOUBLE_CALLS)
)


def _double_call(sql: str) -> bool:
    """Whether the text calls a numeric function (:data:`_DOUBLE_WORDS`): the word
    before each ``(``, no regular expression (a point query has none or a few)."""
    i = sql.find("(")
    while i >= 0:
        j = i
        while j > 0 and sql[j - 1] in " \t\r\n":
            j -= 1
        k = j
        while k > 0 and (sql[k - 1].isalnum() or sql[k - 1] == "_"):
            k -= 1
        if j - k >= 2 and sql[k:j].lower() in _DOUBLE_WORDS:
            return True
        i = sql.find("(", i + 1)
    return False


def _double_call_arguments(masked: str) -> str:
    """The argument texts (parentheses included) of the numeric calls of ``masked``
    (:data:`_DOUBLE_WORDS`), joined: where a text column would be converted."""
    parts: list[str] = []
    i = masked.find("(")
    while i >= 0:
        j = i
        while j > 0 and masked[j - 1] in " \t\r\n":
            j -= 1
        k = j
        while k > 0 and (masked[k - 1].isalnum() or masked[k - 1] == "_"):
            k -= 1
        if j - k >= 2 and masked[k:j].lower() in _DOUBLE_WORDS:
            depth, end = 0, i
            while end < len(masked):
                depth += 1 if masked[end] == "(" else -1 if masked[end] == ")" else 0
                if depth == 0:
                    break
                end += 1
            parts.append(masked[i : end + 1])
        i = masked.find("(", i + 1)
    return " ".join(parts)


def _double_operands(tree: exp.Expr, cols: _Columns) -> list[exp.Expr]:
    """The string operands (a text column, a string literal) of arithmetic and of
    numeric functions in a read, which MySQL converts to a DOUBLE with a 1292 for each
    value that is no clean number: they become ``sg_double(x)`` (:func:`double_operand`).
    Not the operands of ``/``, ``%``, ``MOD``, ``DIV`` (their registered functions warn),
    not a string literal of a constant expression outside the select list (MySQL
    converts that once per statement, each shard would once)."""
    out: list[exp.Expr] = []
    for node in tree.walk(bfs=False):
        operands: list[exp.Expr | None] = []
        if isinstance(node, exp.Add | exp.Sub | exp.Mul):
            operands = [node.this, node.expression]
        elif isinstance(node, exp.Neg):
            operands = [node.this]
        elif isinstance(node, exp.Sum | exp.Avg):
            if not node.expressions:
                operands = [node.this]
        elif isinstance(node, _DOUBLE_ARGUMENTS):
            operands = list(node.iter_expressions())
        elif isinstance(node, _DOUBLE_FIRST):
            operands = [node.this]
        elif isinstance(node, exp.Cast):
            to = node.args.get("to")
            if isinstance(to, exp.DataType) and to.is_type(*exp.DataType.REAL_TYPES):
                operands = [node.this]
        else:
            name = _call_name(node)
            if name in _DOUBLE_CALLS:
                at = _DOUBLE_CALLS[name]
                args = list(node.expressions)
                operands = args if at is None else args[at : at + 1]
        for operand in operands:
            inner = operand
            while isinstance(inner, exp.Paren):
                inner = inner.this
            if isinstance(inner, exp.Literal) and inner.is_string:
                if _in_select_list(inner) or _per_row(inner):
                    out.append(inner)
            elif isinstance(inner, exp.HexString):
                # ``ABS(X'41')``: MySQL's binary string 'A', a DOUBLE with its 1292. Not
                # a select item's operand of arithmetic: the coordinator types
                # ``X'41' + 0`` as a BLOB column, whose text would show the DOUBLE
                # (``0.0``, MySQL ``0``).
                shown = _in_select_list(inner)
                arithmetic = isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Neg)
                if (shown or _per_row(inner)) and not (shown and arithmetic):
                    out.append(inner)
            elif isinstance(inner, exp.Column):
                decl = cols.decl(inner)
                if decl is not None and _TEXT_DECL.match(decl):
                    out.append(inner)
    return out


def _per_row(literal: exp.Expr) -> bool:
    """Whether the numeric expression holding ``literal`` (up through arithmetic and
    numeric functions) names a column: MySQL converts the literal per row then."""
    node = literal
    while isinstance(node.parent, exp.Paren | exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Neg) or (
        isinstance(node.parent, exp.Func) and not isinstance(node.parent, exp.AggFunc)
    ):
        node = node.parent
    return node.find(exp.Column) is not None


_REPLACE_HEAD = re.compile(r"\s*REPLACE\b", re.IGNORECASE)
_DELETE_HEAD = re.compile(r"\s*DELETE\b", re.IGNORECASE)


def _guard(sql: str, decls: Decls) -> str:
    # sqlglot's SQLite reads ``INSERT OR REPLACE`` (SQLite's own name of the same
    # statement), not ``REPLACE``: the edited text keeps that spelling.
    head = _REPLACE_HEAD.match(sql)
    text = sql if head is None else "INSERT OR REPLACE" + sql[head.end() :]
    try:
        tree = sqlglot.parse_one(text, read="sqlite")
        tokens = _DIALECT.tokenize(text)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return sql
    if isinstance(tree, exp.Command):
        return sql
    cols = _Columns(tree, decls)
    targets = _targets(tree, cols)
    temporal = _temporal_operands(tree, cols)
    integers = [
        n
        for n in tree.walk(bfs=False)
        if isinstance(n, exp.Add | exp.Sub | exp.Mul) and _integer_kind(n, cols) is not None
    ]
    strict = _strict_operands(tree, cols) if _WRITE_HEAD.match(sql) else []
    doubles = [] if _WRITE_HEAD.match(sql) else _double_operands(tree, cols)
    compared = _compared_texts(tree, cols)
    strings = _compared_strings(tree, cols)
    written = _wide_assignments(tree, cols) if _WRITE_HEAD.match(sql) else []
    levels: dict[int, int] = {}
    for node in tree.walk(bfs=False):  # pre-order: a parent before its children
        levels[id(node)] = 0 if node.parent is None else levels.get(id(node.parent), 0) + 8

    def level(node: exp.Expr) -> int:
        return levels.get(id(node), 0)

    # A comparison with an operand whose type only its value tells (a subquery, a
    # string function, COALESCE): MySQL's rule at run time (sqlite_compare).
    runtime = sqlite_compare.edits(tree, cols, text, tokens, level)
    # A comparison with a DATE/DATETIME operand: MySQL compares dates (sqlite_temporal).
    runtime += sqlite_temporal.edits(tree, cols, text, tokens, level)
    # A clean-number string compared with a number that is no column (no affinity
    # converts it: ``YEAR(d) = '2024'``): the number literal itself.
    runtime += _clean_strings(tree, cols, text, tokens)
    if not (
        targets
        or temporal
        or integers
        or strict
        or doubles
        or compared
        or strings
        or written
        or runtime
    ):
        return sql
    # (position, kind, depth, piece, characters replaced), applied right to left. At one
    # offset a replacement first, then an end (kind 0) right of a start (kind 1); an
    # outer start left of an inner one, an inner end left of an outer one: ``depth`` is
    # the node's level in the tree (8 a level) plus its wrapper's rank, for one node
    # wrapped twice (the written value outermost).
    edits: list[tuple[int, int, int, str, int]] = list(runtime)

    def wrap(node: exp.Expr, rank: int, head: str, tail: str) -> None:
        span = _span(text, tokens, node)
        if span is None:
            return  # its text not found exactly: left as SQLite computes it
        depth = level(node) + rank
        edits.append((span[0], 1, depth, head, 0))
        edits.append((span[1] + 1, 0, -depth, tail, 0))

    for node, kind in temporal:
        wrap(node, 5, "sg_temporal_number(", f", '{kind}')")
    for node, kind in strict:
        wrap(node, 4, "sg_strict_number(", f", '{kind}')")
    # A read's string operand of arithmetic or a numeric function: MySQL's DOUBLE, 1292.
    for node in doubles:
        # A literal's call is no deterministic function: SQLite would factor it out of
        # the row loop, where MySQL converts it per row.
        constant = isinstance(node, exp.Literal | exp.HexString)
        call = "sg_double_row(" if constant else "sg_double("
        wrap(node, 4, call, ")")
        # ``ROUND`` of a string rounds MySQL's DOUBLE: ties to even (``ROUND('2.5')`` 2).
        parent = node.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if isinstance(parent, exp.Round) and parent.this is not None:
            span = _span(text, tokens, parent)
            if span is not None and text[span[0] : span[0] + 6].upper() == "ROUND(":
                edits.append((span[0], 2, 0, "sg_round_double", 5))
    for node in targets:
        message = _mysql_text(node, cols).replace("'", "''")
        wrap(node, 1, "sg_finite(", f", '{message}')")
    # BIGINT arithmetic (``9223372036854775807 + n``, ``u - 10``): MySQL's 1690 where
    # SQLite would go on with a REAL (or a negative UNSIGNED).
    for node in integers:
        message = _mysql_text(node, cols).replace("'", "''")
        unsigned = 1 if _integer_kind(node, cols) == "unsigned" else 0
        wrap(node, 2, "sg_bigint(", f", '{message}', {unsigned})")
    # A text column compared with a number: MySQL compares the string's number.
    for node, kind in compared:
        filtering = 0 if _in_select_list(node) else 1
        wrap(node, 6, "sg_text_number(", f", '{kind}', {filtering})")
    # A string that is no clean number compared with a numeric column: its number
    # (a read's with MySQL's 1292: once per statement, or per row).
    read = not _WRITE_HEAD.match(sql)  # a SELECT or a DELETE: per row forms too
    # A BETWEEN's: (its lower bound, kind, the compared operand's text, its strings).
    bounds: dict[int, tuple[exp.Expr, str, str, list[str]]] = {}
    for node, kind, operand in strings:
        span = None if operand is None or not read else _span(text, tokens, operand)
        if span is None or operand is None:
            # Once per statement (a read's 1292: string_number), or a write's.
            wrap(node, 6, "sg_string_number(", f", '{kind}')")
            continue
        copy = text[span[0] : span[1] + 1]
        parent = operand.parent
        if isinstance(parent, exp.Between):
            # Its 1292s with the lower bound, which SQLite always evaluates.
            wrap(node, 6, "sg_string_number(", f", '{kind}', 0)")
            entry = bounds.setdefault(id(parent), (parent.args["low"], kind, copy, []))
            entry[3].append("'" + node.name.replace("'", "''") + "'")
        else:
            wrap(node, 6, "sg_string_number_row(", f", '{kind}', 1, {copy})")
    for low, kind, copy, texts in bounds.values():
        wrap(low, 5, "sg_number_warns(", f", '{kind}', {copy}, {', '.join(texts)})")
    # The value written to a BIGINT column, outermost: a REAL past 2**52 is a 1235.
    for value, target in written:
        name = target.replace("'", "''")
        wrap(value, 0, "sg_exact_integer(", f", '{name}')")
    if not edits:
        return sql
    for pos, _kind, _depth, piece, replaced in sorted(edits, reverse=True):
        text = text[:pos] + piece + text[pos + replaced :]
    return text


# ---------------------------------------------------------------------- spans
_OPEN = TokenType.L_PAREN
_CLOSE = TokenType.R_PAREN


def _leaf_range(node: exp.Expr) -> tuple[int, int] | None:
    starts, ends = [], []
    for sub in node.walk():
        meta = sub.meta
        if "start" in meta and "end" in meta:
            starts.append(int(meta["start"]))
            ends.append(int(meta["end"]))
    if not starts:
        return None
    return min(starts), max(ends)


def _span(text: str, tokens: list[Any], node: exp.Expr) -> tuple[int, int] | None:
    """The offsets (inclusive) of ``node``'s own text: its leaves' positions, widened
    over the tokens around them (parentheses, ``CAST``, ``CASE … END``) until the text
    parses to the same tree."""
    leaves = _leaf_range(node)
    if leaves is None:
        return None
    first = next((i for i, t in enumerate(tokens) if t.end >= leaves[0]), None)
    last = next((i for i in range(len(tokens) - 1, -1, -1) if tokens[i].start <= leaves[1]), None)
    if first is None or last is None or first > last:
        return None
    # Balance the parentheses inside the range first.
    depth, low = 0, 0
    for i in range(first, last + 1):
        kind = tokens[i].token_type
        depth += 1 if kind == _OPEN else -1 if kind == _CLOSE else 0
        low = min(low, depth)
    while low < 0 and first > 0:
        first -= 1
        kind = tokens[first].token_type
        low += 1 if kind == _OPEN else -1 if kind == _CLOSE else 0
        depth += 1 if kind == _OPEN else -1 if kind == _CLOSE else 0
    while depth > 0 and last + 1 < len(tokens):
        last += 1
        kind = tokens[last].token_type
        depth += 1 if kind == _OPEN else -1 if kind == _CLOSE else 0
    for back in range(4):
        for ahead in range(4):
            i, j = first - back, last + ahead
            if i < 0 or j >= len(tokens):
                continue
            if not _balanced(tokens, i, j):
                continue  # ``TRIM(c.s`` parses (leniently) as ``TRIM(c.s)``
            start, end = tokens[i].start, tokens[j].end
            if _same(text[start : end + 1], node):
                return start, end
    return None


def _balanced(tokens: list[Any], i: int, j: int) -> bool:
    """Whether the parentheses of ``tokens[i..j]`` pair up."""
    depth = 0
    for k in range(i, j + 1):
        kind = tokens[k].token_type
        depth += 1 if kind == _OPEN else -1 if kind == _CLOSE else 0
        if depth < 0:
            return False
    return depth == 0


def _same(candidate: str, node: exp.Expr) -> bool:
    try:
        parsed = sqlglot.parse_one(candidate, read="sqlite")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return False
    return parsed == node


# ---------------------------------------------------------------------- MySQL's text
_ADD, _MUL, _NEG, _ATOM = 1, 2, 3, 4
_OPERATORS: dict[type[exp.Expr], tuple[str, int]] = {
    exp.Add: ("+", _ADD),
    exp.Sub: ("-", _ADD),
    exp.Mul: ("*", _MUL),
    exp.Div: ("/", _MUL),
    exp.Mod: ("%", _MUL),
}
_CALL_OPERATORS = {"sg_div": ("/", _MUL), "mod": ("%", _MUL), "sg_intdiv": ("DIV", _MUL)}
_CALL_NAMES = {
    "power": "pow",
    "sg_round_double": "round",
    "sg_truncate_double": "truncate",
    "sg_left": "left",
    "sg_right": "right",
    "sg_format_double": "format",
}


def _operator(node: exp.Expr) -> tuple[str, int, exp.Expr, exp.Expr] | None:
    found = _OPERATORS.get(type(node))
    if found is not None and isinstance(node, exp.Binary):
        return found[0], found[1], node.this, node.expression
    name = _call_name(node)
    if name in _CALL_OPERATORS and len(node.expressions) == 2:
        symbol, precedence = _CALL_OPERATORS[name]
        return symbol, precedence, node.expressions[0], node.expressions[1]
    return None


def _precedence(node: exp.Expr) -> int:
    while isinstance(node, exp.Paren):
        node = node.this
    op = _operator(node)
    if op is not None:
        return op[1]
    if isinstance(node, exp.Neg) and not isinstance(node.this, exp.Literal):
        return _NEG
    return _ATOM


def _mysql_text(node: exp.Expr, cols: _Columns) -> str:
    """``node`` as MariaDB prints an expression in its messages (``Item::print``):
    columns ``schema.table.column`` in backquotes, operators spaced, parentheses only
    where precedence needs them, function names in lower case, arguments by commas."""
    while isinstance(node, exp.Paren):
        node = node.this
    op = _operator(node)
    if op is not None:
        symbol, precedence, left, right = op
        a = _mysql_text(left, cols)
        b = _mysql_text(right, cols)
        if _precedence(left) < precedence:
            a = f"({a})"
        if _precedence(right) <= precedence:
            b = f"({b})"
        return f"{a} {symbol} {b}"
    if isinstance(node, exp.Neg):
        inner = _mysql_text(node.this, cols)
        return f"-({inner})" if _precedence(node.this) < _NEG else f"-{inner}"
    if isinstance(node, exp.Column):
        owner = cols.owner(node)
        if owner is None:
            return _quote(node.name)
        schema, alias, _table, _cols = owner
        name = f"{_quote(schema)}.{_quote(alias)}.{_quote(node.name)}"
        return f"value({name})" if node.table.lower() == "excluded" else name
    if isinstance(node, exp.Literal):
        if node.is_string:
            return "'" + node.name.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return node.name
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, exp.Pow):
        return f"pow({_mysql_text(node.this, cols)},{_mysql_text(node.expression, cols)})"
    if isinstance(node, exp.Exp | exp.Abs | exp.Sqrt | exp.Ln):
        name = type(node).__name__.lower()
        return f"{name}({_mysql_text(node.this, cols)})"
    if isinstance(node, exp.Cast):
        to = node.args.get("to")
        kind = (
            "double"
            if isinstance(to, exp.DataType) and to.is_type(*exp.DataType.REAL_TYPES)
            else (to.sql(dialect="mysql").lower() if to is not None else "")
        )
        return f"cast({_mysql_text(node.this, cols)} as {kind})"
    if isinstance(node, exp.Anonymous):
        name = _CALL_NAMES.get(node.name.lower(), node.name.lower())
        return f"{name}({','.join(_mysql_text(a, cols) for a in node.expressions)})"
    if isinstance(node, exp.Subquery):
        return "(subquery)"
    return node.sql(dialect="mysql")


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
