"""MySQL's result type of each function the SQLite shards accept.

Why: a SQLite shard sends no column metadata, so a value it computes
(``SELECT YEAR(created) FROM t``) reaches the client with the definition the
coordinator derives (:mod:`sharding.sql.describe`), never one guessed from the
values. The functions a SQLite shard accepts are a finite set — those
:mod:`sharding.backend.sqlite_mysql` registers or translates, and SQLite's own that
mean the same in MySQL — and each has MariaDB's result type here, in one table
(measured on MariaDB 10.11 with ``SELECT f(...) FROM t``: type, display length, flags,
decimals, character set; ``tests/server/test_sqlite_expression_types.py`` keeps the
comparison).

A rule is either a fixed definition or a function of the argument definitions and
the integer literals among the arguments (``LEFT(name, 2)`` is 2 characters long). A
function not in the table is not typed here (the caller falls back to
:data:`sharding.sql.describe.CONSERVATIVE` text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sharding.backend.base import ColumnType

__all__ = ["DATE_UNITS", "FUNCTION_TYPES", "Args", "function_type"]

#: Interval units that keep a DATE a DATE in date arithmetic (``d + INTERVAL 1 MONTH``);
#: the others make it a DATETIME (MariaDB 10.11). The result typing
#: (:mod:`sharding.sql.describe`) and the SQLite shards' comparison of such a value
#: (:mod:`sharding.backend.sqlite_temporal`) read this one set.
DATE_UNITS = frozenset({"YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "YEAR_MONTH"})

_LONG, _DOUBLE, _LONGLONG, _DATE, _TIME, _DATETIME = 3, 5, 8, 10, 11, 12
_NEWDECIMAL, _VAR_STRING, _STRING = 246, 253, 254
_NOT_NULL, _UNSIGNED, _BINARY = 1, 32, 128
_UTF8MB4, _BINARY_CHARSET = 45, 63
_NOT_FIXED_DEC, _STRING_DEC = 31, 39


@dataclass(frozen=True, slots=True)
class Args:
    """A call's arguments as the rules see them: each one's definition (None where no
    rule types it) and its value when it is an integer literal."""

    types: Sequence[ColumnType | None]
    ints: Sequence[int | None]
    #: Per argument: it holds no column (a literal, a function of literals): MySQL's
    #: derivation *coercible*, weaker than a column's when the result's character set
    #: is decided (:func:`_binary`).
    coercible: Sequence[bool] = ()

    def chars(self, i: int, default: int = 255) -> int:
        """Characters of argument ``i`` (a utf8mb4 string: its length / 4; a number:
        its display length)."""
        t = self.types[i] if i < len(self.types) else None
        if t is None:
            return default
        if t.charset == _UTF8MB4:
            return t.length // 4
        return t.length

    def int(self, i: int) -> int | None:
        return self.ints[i] if i < len(self.ints) else None


Rule = ColumnType | Callable[[Args], ColumnType | None]


def _int(length: int, flags: int = 0) -> ColumnType:
    return ColumnType(_LONG, length, _BINARY | flags, 0, _BINARY_CHARSET)


def _bigint(length: int, flags: int = 0) -> ColumnType:
    return ColumnType(_LONGLONG, length, _BINARY | flags, 0, _BINARY_CHARSET)


def _varchar(chars: int, decimals: int = _STRING_DEC) -> ColumnType:
    return ColumnType(_VAR_STRING, 4 * max(chars, 0), 0, decimals, _UTF8MB4)


_STRING_TYPES = frozenset({15, 249, 250, 251, 252, _VAR_STRING, _STRING})


def _binary(a: Args) -> bool:
    """A string function's result is a binary string (VARBINARY) when its strongest
    string arguments include one: the arguments holding a column win over literals
    (``RPAD(name, 3, 0x41)`` is text, ``CONCAT(0x41, 'b')`` and ``CONCAT(name, b)`` are
    binary; measured on MariaDB 10.11). Numbers and dates do not count (their
    derivation is weaker still)."""
    strings = [
        (t, i < len(a.coercible) and a.coercible[i])
        for i, t in enumerate(a.types)
        if t is not None and t.type in _STRING_TYPES
    ]
    strongest = [t for t, coercible in strings if not coercible] or [t for t, _ in strings]
    return any(t.charset == _BINARY_CHARSET for t in strongest)


def _string(a: Args, chars: int) -> ColumnType:
    """A string result of ``chars`` characters: VARBINARY of as many bytes when
    :func:`_binary` says so, else utf8mb4 VARCHAR."""
    if _binary(a):
        return ColumnType(_VAR_STRING, max(chars, 0), _BINARY, _STRING_DEC, _BINARY_CHARSET)
    return _varchar(chars)


_DOUBLE_RESULT = ColumnType(_DOUBLE, 23, _BINARY, _NOT_FIXED_DEC, _BINARY_CHARSET)
_DATE_RESULT = ColumnType(_DATE, 10, _BINARY, 0, _BINARY_CHARSET)
_DATETIME_RESULT = ColumnType(_DATETIME, 19, _BINARY, 0, _BINARY_CHARSET)


def _same_string(a: Args) -> ColumnType:
    """As long as the first argument (UPPER, TRIM, REPLACE, REVERSE ...)."""
    return _string(a, a.chars(0))


def _prefix(a: Args) -> ColumnType:
    """LEFT/RIGHT(s, n): n characters (at most the string's)."""
    n = a.int(1)
    return _string(a, a.chars(0) if n is None else min(max(n, 0), a.chars(0)))


def _substring(a: Args) -> ColumnType:
    """SUBSTRING(s, pos[, len]) as MariaDB 10.11 sizes it: from the argument's display
    length in *bytes*, taken as characters (``SUBSTRING(varchar64, 2)``: 255 characters,
    ``SUBSTRING(varchar16, 2)`` 63), less ``pos - 1``; ``-n`` characters for a
    negative ``pos`` (none when longer than the argument), none for ``pos`` 0; at most
    ``len`` characters (none for ``len <= 0``)."""
    first = a.types[0] if a.types else None
    size = 255 if first is None else first.length
    pos = a.int(1)
    if pos is not None:
        if pos < 0:
            size = -pos if -pos <= size else 0
        else:
            size = 0 if pos == 0 else size - min(pos - 1, size)
    n = a.int(2) if len(a.types) > 2 else None
    if n is not None:
        size = 0 if n <= 0 else min(size, n)
    return _string(a, size)


def _concat(a: Args) -> ColumnType:
    return _string(a, sum(a.chars(i) for i in range(len(a.types))))


def _concat_ws(a: Args) -> ColumnType:
    n = len(a.types)
    if n < 2:
        return _string(a, 0)
    return _string(a, sum(a.chars(i) for i in range(1, n)) + a.chars(0) * (n - 2))


def _pad(a: Args) -> ColumnType:
    n = a.int(1)
    return _string(a, a.chars(0) if n is None else max(n, 0))


def _repeat(a: Args) -> ColumnType:
    n = a.int(1)
    return _string(a, a.chars(0) * (1 if n is None else max(n, 0)))


def _insert(a: Args) -> ColumnType:
    if _binary(a):
        # MariaDB sizes a binary INSERT() by its arguments' byte lengths (10.11,
        # measured: ``INSERT(varbinary5, 1, 1, 'z')`` is VARBINARY(9)).
        sized = [a.types[i] for i in (0, 3) if i < len(a.types)]
        return _string(a, sum(t.length for t in sized if t is not None))
    return _string(a, a.chars(0) + a.chars(3))


def _elt(a: Args) -> ColumnType:
    return _string(a, max((a.chars(i) for i in range(1, len(a.types))), default=0))


def _date_add(a: Args) -> ColumnType:
    """DATE_ADD/DATE_SUB: a DATE stays a DATE (by days or more), else DATETIME."""
    first = a.types[0] if a.types else None
    if first is not None and first.type == _DATE:
        return _DATE_RESULT
    return _DATETIME_RESULT


def _mod(a: Args) -> ColumnType | None:
    """MOD(a, b): an integer result as long as its first argument, an INT up to 9
    characters (``tinyint_col % 7`` INT(4), ``int_col % 7`` BIGINT(11), ``date_col % 7``
    INT(9); MariaDB 10.11, measured)."""
    first = a.types[0] if a.types else None
    if first is None:
        return None
    if first.type in (1, 2, 3, 8, 9, 13):
        return (_int if first.length <= 9 else _bigint)(first.length, first.flags & _UNSIGNED)
    if first.type in (0, _NEWDECIMAL):
        return ColumnType(_NEWDECIMAL, first.length, _BINARY, first.decimals, _BINARY_CHARSET)
    return _DOUBLE_RESULT


def _last_insert_id(a: Args) -> ColumnType | None:
    """LAST_INSERT_ID(expr): BIGINT UNSIGNED as long as its argument (MariaDB)."""
    first = a.types[0] if a.types else None
    if first is None:
        return None
    flags = _BINARY | _UNSIGNED | (first.flags & _NOT_NULL)
    return ColumnType(_LONGLONG, first.length, flags, 0, _BINARY_CHARSET)


def _truncate(a: Args) -> ColumnType | None:
    """TRUNCATE(x, d): DOUBLE or DECIMAL with d decimals, integer for an integer."""
    first = a.types[0] if a.types else None
    d = a.int(1)
    if first is None:
        return None
    if first.type in (1, 2, 3, 8, 9, 13):
        return _bigint(first.length)
    if first.type in (0, _NEWDECIMAL):
        scale = first.decimals if d is None else min(max(d, 0), first.decimals)
        return ColumnType(
            _NEWDECIMAL, first.length - first.decimals + scale, _BINARY, scale, _BINARY_CHARSET
        )
    scale = _NOT_FIXED_DEC if d is None else max(d, 0)
    return ColumnType(_DOUBLE, 17 + (scale if scale != _NOT_FIXED_DEC else 0), _BINARY, scale, 63)


def _extremum(a: Args) -> ColumnType | None:
    """GREATEST/LEAST: strings win, then DOUBLE, DECIMAL, integer (as for CASE)."""
    known = [t for t in a.types if t is not None and t.type != 6]
    if len(known) != len(a.types):
        return None
    if not known:
        return None
    temporal = [t for t in known if t.type in _TEMPORAL_CODES]
    if temporal and len(temporal) < len(known) and all(t.type != 11 for t in temporal):
        # GREATEST(d, '2024-02-01'): MariaDB compares as the temporal arguments' type
        # and returns it — a DATE when all are DATEs (the string read as a DATE), else
        # a DATETIME, announced 26 wide (10.11, measured).
        if all(t.type == 10 for t in temporal):
            return ColumnType(10, 10, _BINARY, 0, _BINARY_CHARSET)
        fsp = max((t.decimals for t in temporal if 0 < t.decimals <= 6), default=0)
        return ColumnType(_DATETIME, 26, _BINARY, fsp, _BINARY_CHARSET)
    if any(t.charset != _BINARY_CHARSET for t in known):
        return _varchar(max(a.chars(i) for i in range(len(a.types))))
    if any(t.type in (4, _DOUBLE) for t in known):
        return _DOUBLE_RESULT
    if any(t.type in (0, _NEWDECIMAL) for t in known):
        scale = max(t.decimals for t in known)
        return ColumnType(
            _NEWDECIMAL, max(t.length for t in known), _BINARY, scale, _BINARY_CHARSET
        )
    if all(t.type in (1, 2, 3, 8, 9, 13) for t in known):
        code = _LONGLONG if any(t.type == _LONGLONG for t in known) else _LONG
        return ColumnType(code, max(t.length for t in known), _BINARY, 0, _BINARY_CHARSET)
    first = known[0]
    if all(t.type == first.type for t in known):
        return ColumnType(first.type, first.length, _BINARY, first.decimals, _BINARY_CHARSET)
    if all(t.type in _TEMPORAL_CODES for t in known):
        # GREATEST(d, dt): a DATETIME (MariaDB 10.11, measured), the largest fraction.
        fsp = max((t.decimals for t in known if 0 < t.decimals <= 6), default=0)
        return ColumnType(_DATETIME, 19 + (fsp + 1 if fsp else 0), _BINARY, fsp, _BINARY_CHARSET)
    return None


def _quote(a: Args) -> ColumnType:
    """QUOTE: every character escaped and two quotes; of NULL the binary word ``NULL``,
    of a binary string a binary string (MariaDB 10.11, measured)."""
    first = a.types[0] if a.types else None
    if first is not None and first.type == 6:
        return ColumnType(_VAR_STRING, 4, _BINARY, _STRING_DEC, _BINARY_CHARSET)
    if first is not None and first.type in _STRING_TYPES and first.charset == _BINARY_CHARSET:
        return ColumnType(_VAR_STRING, 2 * first.length + 2, _BINARY, _STRING_DEC, _BINARY_CHARSET)
    return _varchar(2 * a.chars(0) + 2)


#: DATE, TIME, TIMESTAMP, DATETIME, NEWDATE.
_TEMPORAL_CODES = frozenset({10, 11, 7, 12, 14})


#: MySQL function name (upper case, as MySQL spells it) → its result type.
FUNCTION_TYPES: dict[str, Rule] = {
    # -- integers
    "ASCII": _int(3),
    "ORD": _int(7),
    "CHAR_LENGTH": _int(10),
    "CHARACTER_LENGTH": _int(10),
    "LENGTH": _int(10),
    "OCTET_LENGTH": _int(10),
    "BIT_LENGTH": _bigint(11),
    "CRC32": _int(10, _UNSIGNED),
    "LAST_INSERT_ID": _last_insert_id,
    "DATEDIFF": _int(8),
    "DAY": _int(2),
    "DAYOFMONTH": _int(2),
    "DAYOFWEEK": _int(1),
    "DAYOFYEAR": _int(3),
    "WEEKDAY": _int(1),
    "WEEK": _int(2),
    "HOUR": _int(2),
    "MINUTE": _int(2),
    "SECOND": _int(2),
    "MONTH": _int(2),
    "QUARTER": _int(1),
    "YEAR": _int(4),
    "FIELD": ColumnType(_LONG, 3, _NOT_NULL | _BINARY, 0, _BINARY_CHARSET),
    "INTERVAL": ColumnType(_LONG, 2, _NOT_NULL | _BINARY, 0, _BINARY_CHARSET),
    "FIND_IN_SET": _int(3),
    "INSTR": _int(11),
    "LOCATE": _int(11),
    "POSITION": _int(11),
    "STRCMP": _int(2),
    "SIGN": _int(2),
    "REGEXP": _int(1),
    "REGEXP_LIKE": _int(1),
    "TIMESTAMPDIFF": _bigint(21),
    "UNIX_TIMESTAMP": _bigint(17),
    "MOD": _mod,
    "TRUNCATE": _truncate,
    # -- floating point
    "LOG": _DOUBLE_RESULT,
    "LN": _DOUBLE_RESULT,
    "LOG10": _DOUBLE_RESULT,
    "LOG2": _DOUBLE_RESULT,
    "EXP": _DOUBLE_RESULT,
    "SQRT": _DOUBLE_RESULT,
    "POW": _DOUBLE_RESULT,
    "POWER": _DOUBLE_RESULT,
    "SIN": _DOUBLE_RESULT,
    "COS": _DOUBLE_RESULT,
    "TAN": _DOUBLE_RESULT,
    "ASIN": _DOUBLE_RESULT,
    "ACOS": _DOUBLE_RESULT,
    "ATAN": _DOUBLE_RESULT,
    "COT": _DOUBLE_RESULT,
    "DEGREES": _DOUBLE_RESULT,
    "RADIANS": _DOUBLE_RESULT,
    "RAND": _DOUBLE_RESULT,
    "PI": ColumnType(_DOUBLE, 8, _NOT_NULL | _BINARY, 6, _BINARY_CHARSET),
    # -- dates and times
    "CURDATE": ColumnType(_DATE, 10, _NOT_NULL | _BINARY, 0, _BINARY_CHARSET),
    "CURRENT_DATE": ColumnType(_DATE, 10, _NOT_NULL | _BINARY, 0, _BINARY_CHARSET),
    "NOW": ColumnType(_DATETIME, 19, _NOT_NULL | _BINARY, 0, _BINARY_CHARSET),
    "SYSDATE": ColumnType(_DATETIME, 19, _NOT_NULL | _BINARY, 0, _BINARY_CHARSET),
    "CURRENT_TIMESTAMP": ColumnType(_DATETIME, 19, _NOT_NULL | _BINARY, 0, _BINARY_CHARSET),
    "DATE": _DATE_RESULT,
    "LAST_DAY": _DATE_RESULT,
    "STR_TO_DATE": _DATE_RESULT,
    "TIME": ColumnType(_TIME, 10, _BINARY, 0, _BINARY_CHARSET),
    "TIMESTAMP": _DATETIME_RESULT,
    "DATE_ADD": _date_add,
    "DATE_SUB": _date_add,
    "ADDDATE": _date_add,
    "SUBDATE": _date_add,
    "FROM_UNIXTIME": lambda a: _varchar(4, 0) if len(a.types) > 1 else _DATETIME_RESULT,
    "DAYNAME": _varchar(9, 0),
    "MONTHNAME": _varchar(9, 0),
    "DATE_FORMAT": _varchar(7, 0),
    # -- strings
    "CONCAT": _concat,
    "CONCAT_WS": _concat_ws,
    "UPPER": _same_string,
    "UCASE": _same_string,
    "LOWER": _same_string,
    "LCASE": _same_string,
    "TRIM": _same_string,
    "LTRIM": _same_string,
    "RTRIM": _same_string,
    "REPLACE": _same_string,
    "REVERSE": _same_string,
    # SOUNDEX: at least four characters, at most one per argument character; QUOTE:
    # every character escaped, and the two quotes (MariaDB 10.11, measured).
    "SOUNDEX": lambda a: _varchar(max(4, a.chars(0))),
    "QUOTE": _quote,
    "SUBSTRING_INDEX": _same_string,
    "LEFT": _prefix,
    "RIGHT": _prefix,
    "SUBSTRING": _substring,
    "SUBSTR": _substring,
    "MID": _substring,
    "LPAD": _pad,
    "RPAD": _pad,
    "REPEAT": _repeat,
    "INSERT": _insert,
    "ELT": _elt,
    "SPACE": lambda a: _varchar(a.int(0) or 0),
    "MD5": _varchar(32),
    "SHA": _varchar(40),
    "SHA1": _varchar(40),
    "SHA2": _varchar(64),
    "HEX": lambda a: _varchar(2 * a.chars(0) * (4 if a.types and a.types[0] else 1), 0),
    "TO_BASE64": lambda a: _varchar((4 * a.chars(0) + 2) // 3 * 4 // 3 + 2),
    "UNHEX": ColumnType(_VAR_STRING, 4, _BINARY, 0, _BINARY_CHARSET),
    "CHAR": ColumnType(_VAR_STRING, 4, _BINARY, _STRING_DEC, _BINARY_CHARSET),
    "FORMAT": _varchar(417),
    "UUID": ColumnType(_STRING, 144, 0, _STRING_DEC, _UTF8MB4),
    "GREATEST": _extremum,
    "LEAST": _extremum,
}


def function_type(name: str, args: Args) -> ColumnType | None:
    """MySQL's result type of ``name(args)``; None for a function not in the table (or
    a rule that cannot type these arguments)."""
    rule = FUNCTION_TYPES.get(name.upper())
    if rule is None:
        return None
    if isinstance(rule, ColumnType):
        return rule
    return rule(args)
