"""MySQL's semantics inside the embedded SQLite default (issue 15).

A newcomer runs ``shardgate serve`` on SQLite shard files and writes MySQL SQL; the
answers must be MySQL's (MariaDB is the reference) or a clear 1235 naming what is not
supported — never SQLite's own answer. Three mechanisms, all applied to every sqlite3
connection the backend opens (:func:`install`) and to every shard statement rendered
for SQLite (:func:`translate_for_sqlite`, called by ``rewrite.keep_backend_semantics``):

* **Collations** (``create_collation``): ``utf8mb4_general_ci`` (MySQL's default: case-
  and accent-insensitive, PAD SPACE), ``utf8mb4_unicode_ci``, ``utf8mb4_bin`` and their
  ``_nopad_`` / ``utf8mb3`` variants, from the weights measured on MariaDB
  (:mod:`sharding.merge.mysql_collations`, the same keys the merge layer uses, so a
  shard and the coordinator can never disagree). The SQLite DDL path
  (:mod:`sharding.sql.ddl`) declares every text column with the collation MySQL would
  give it, so ``=``, ``ORDER BY``, ``GROUP BY``, ``DISTINCT``, indexes, UNIQUE and
  PRIMARY KEY all follow it (a case-variant duplicate key is error 1062).
* **Functions** (``create_function``) under their MySQL names with MySQL's NULL rules:
  ``CONCAT`` (NULL if any argument is NULL), ``CONCAT_WS``, ``LPAD``/``RPAD``,
  ``FIELD``, ``ELT``, ``MD5``, ``SHA1``/``SHA2``, ``SUBSTRING``/``LEFT``/``RIGHT``/
  ``MID``, ``LOCATE``/``INSTR`` (case-insensitive like the default collation),
  ``GREATEST``/``LEAST``, ``LENGTH`` in bytes vs ``CHAR_LENGTH``, ``REGEXP``, ``XOR``,
  ``NOW``/``CURDATE``, ``YEAR``/``MONTH``/``DAY``, ``DATE_FORMAT``,
  ``DATE_ADD``/``DATE_SUB`` with ``INTERVAL``, ``UNIX_TIMESTAMP``, ``FROM_UNIXTIME``,
  ``TRUNCATE``, ``CAST(.. AS SIGNED/UNSIGNED)``, the bit operators ``~ ^ & | << >>``
  on unsigned 64 bits (``sg_unsigned(sg_bit…(…))``), ``DIV``, ``LIKE`` with MySQL's
  default ``\\`` escape and the default collation's case/accent folding. Registering
  the MySQL names also serves text the coordinator passes through unparsed (INSERT
  ``VALUES`` rows). sqlglot's own MySQL→SQLite translation of these is lossy (``LENGTH``
  becomes character length, ``GREATEST`` becomes SQLite's ``MAX``, ``TRUNCATE`` drops
  its digits, ``DATE_FORMAT`` becomes ``strftime``), so :func:`translate_for_sqlite`
  replaces those nodes by calls to the registered functions *before* rendering.
  Anything SQLite does not know is refused as 1235 naming the function
  (:func:`unknown_function`), never "no such function".
* **Types on read** (``detect_types=PARSE_DECLTYPES`` converters keyed on the physical
  type name): ``DATE`` → ``datetime.date``, ``DATETIME``/``TIMESTAMP`` →
  ``datetime.datetime``, and ``DECIMAL(p,s)`` → ``Decimal`` with the declared scale.
  (MySQL's CHAR drops trailing spaces on store: the DDL path adds triggers for that; a
  read converter cannot, as sqlite3 hands converters an empty value as NULL.)

* **Strict mode**: numeric columns get a CHECK (:func:`strict_check`) so text that
  MySQL's strict mode refuses (``'abc'`` into an INT) is error 1366, not stored.
* **ENUM** columns store the label (TEXT), with a CHECK (:func:`enum_check`: a label
  or an index, else 1265 as MariaDB's strict mode), a trigger that stores the canonical
  label (``'SMALL'`` and ``1`` become ``'small'``), and a collation that knows the
  labels (:func:`enum_collation`): with a string an ENUM compares by label under its
  collation (``=``, ``<``, ``MIN``/``MAX``, GROUP BY equality), with a number by index
  (``size = 2``, ``size > 1``: SQLite makes the number text before comparing). The
  planner orders ENUMs by ``(col) + 0`` (:mod:`sharding.sql.enums`), which becomes the
  index here (:data:`ENUM_META`). Arithmetic written on an ENUM (``size + 0``,
  ``SUM(size)``) is the index too: the backend reads which columns are ENUMs from the
  shard file's schema (:mod:`sharding.backend.sqlite_enum_numbers`). SET columns are
  refused (1235).

DECIMAL design (the choice, and why). SQLite has no decimal type and compares only its
own numbers numerically, so whatever a DECIMAL is stored as must be an SQLite number
for ``WHERE p > 10.5``, indexes, ``ORDER BY`` and ``MIN``/``MAX`` to be right inside the
shard — text or scaled integers would need every expression that touches the column
rewritten with knowledge of its type, which the shard statement does not carry. So a
DECIMAL(p,s) column is declared ``DECIMAL_S<s>(p,s)`` (NUMERIC affinity: values are
INTEGER/REAL) and only precisions SQLite's REAL holds exactly are accepted: SQLite keeps
15 significant digits of a REAL, so ``p <= 15`` round-trips every value exactly
(reading applies the declared scale: ``1.00`` comes back as ``Decimal('1.00')``); a
wider DECIMAL is refused with 1235 at CREATE TABLE instead of silently rounding. SUM
and AVG are replaced by aggregates that add each value's shortest decimal form exactly
(``Decimal(repr(x))`` recovers the decimal literal a REAL was stored from), so
``SUM(amount)`` is ``116902.25``, not ``116902.24999999996``; the partials stay SQLite
numbers, so the coordinator's merge (and HAVING/ORDER BY on the shard) compare them as
numbers. A computed value over a DECIMAL column (``price * 1.5``, ``price / 3``,
``SUM(price)``) gets MySQL's ``Decimal`` and scale after the fetch, typed from the shard
file's schema (:mod:`sharding.backend.sqlite_decimal_results`), and so does one over
integers (``7 / 2`` is ``Decimal('3.5000')``, never SQLite's 3; ``SUM(n)`` a
``Decimal``).
"""

from __future__ import annotations

import datetime
import hashlib
import math
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import lru_cache
from itertools import pairwise
from typing import Any

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.time import format_time

from sharding.backend import sqlite_arithmetic, sqlite_compare
from sharding.errors import NotSupported, ShardgateError
from sharding.merge import conversion_notes, mysql_collations
from sharding.merge.mysql_semantics import temporal_text_number
from sharding.sql.like import like_source
from sharding.sql.shard_dialect import log_function_name

#: Physical type names the DDL path gives DECIMAL columns: ``DECIMAL_S<scale>``.
DECIMAL_TYPE_PREFIX = "DECIMAL_S"
#: Widest DECIMAL whose every value SQLite's REAL (15 significant digits) keeps exactly.
MAX_DECIMAL_PRECISION = 15
MAX_DECIMAL_SCALE = 15

_EXACT = Context(prec=100)

# ---------------------------------------------------------------------- collations
#: MySQL collation name → sort key (the merge layer's own keys; see module doc).
COLLATION_KEYS: dict[str, Callable[[str], Any]] = {}


def _build_collations() -> None:
    general, unicode = mysql_collations.general_ci(), mysql_collations.unicode_ci()
    general_nopad = mysql_collations.general_ci(pad=False)
    unicode_nopad = mysql_collations.unicode_ci(pad=False)
    binary_pad = mysql_collations.binary_pad()
    for charset in ("utf8mb4", "utf8mb3", "utf8"):
        COLLATION_KEYS[f"{charset}_general_ci"] = general
        COLLATION_KEYS[f"{charset}_general_nopad_ci"] = general_nopad
        COLLATION_KEYS[f"{charset}_unicode_ci"] = unicode
        COLLATION_KEYS[f"{charset}_unicode_nopad_ci"] = unicode_nopad
        COLLATION_KEYS[f"{charset}_bin"] = binary_pad
        COLLATION_KEYS[f"{charset}_nopad_bin"] = mysql_collations.binary_nopad


_build_collations()

#: The collation MySQL gives a text column that declares none.
DEFAULT_COLLATION = "utf8mb4_general_ci"


def _comparator(key: Callable[[str], Any]) -> Callable[[str, str], int]:
    # Sorting compares each string many times: cache its key (bounded).
    cached = lru_cache(maxsize=65536)(key)

    def compare(a: str, b: str) -> int:
        ka, kb = cached(a), cached(b)
        if ka == kb:
            return 0
        return -1 if ka < kb else 1

    return compare


_COMPARATORS = {name: _comparator(key) for name, key in COLLATION_KEYS.items()}
# A comparison decided by its values' types compares strings as the collations do.
sqlite_compare.COMPARATORS.update(_COMPARATORS)


def sqlite_collation(name: str) -> str:
    """The collation name a SQLite column is declared with for MySQL collation ``name``
    (1235 for one the embedded default does not have)."""
    n = name.lower()
    if n in ("binary", "nocase", "rtrim"):
        return n  # SQLite's own, kept for schemas written for SQLite
    if n in COLLATION_KEYS:
        return n
    raise NotSupported(f"collation '{name}' on the embedded SQLite default")


# ---------------------------------------------------------------------- values
_NUM_PREFIX = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def _text(v: Any) -> str:
    """A value as MySQL's string conversion writes it."""
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        r = repr(v)
        return r.replace("e+", "e")
    return str(v)


def _numeric_prefix(v: Any) -> str:
    """The numeric prefix of a value's text, as MySQL reads a string as a number
    (``'0'`` when it has none)."""
    m = _NUM_PREFIX.match(_text(v))
    return m.group(1) if m else "0"


def _number(v: Any) -> int | float | None:
    """MySQL's numeric value of an operand (strings by their numeric prefix)."""
    if v is None:
        return None
    if isinstance(v, int | float):
        return v
    t = _numeric_prefix(v)
    try:
        return int(t)
    except ValueError:
        return float(t)


def _exact_number(v: Any) -> int | float | Decimal | None:
    """:func:`_number` with a string's fraction (no exponent) as a Decimal: compared
    exactly, as MariaDB compares two exact values."""
    if v is None or isinstance(v, int | float):
        return v
    t = _numeric_prefix(v)
    if "e" in t.lower():
        return float(t)
    return Decimal(t) if "." in t else int(t)


def _int(v: Any) -> int | None:
    n = _number(v)
    if n is None:
        return None
    if isinstance(n, float):
        return int(Decimal(repr(n)).to_integral_value(rounding=ROUND_HALF_UP))
    return n


def _fold(s: str) -> str:
    """Per-character fold of ``utf8mb4_general_ci`` (one weight per character, so
    positions survive: LOCATE/INSTR/LIKE can work on the folded text)."""
    return mysql_collations._general_fold(s)


# ---------------------------------------------------------------------- string functions
def _binary_operand(*args: Any) -> bool:
    """Whether a string function's operands include a binary string (``bytes``: a
    binary column's BLOB, ``X'…'``): MySQL computes it on bytes then, and its result
    is binary (:mod:`sharding.backend.sqlite_binary_store`)."""
    return any(isinstance(a, bytes) for a in args)


def _str(v: Any, binary: bool) -> Any:
    """A string operand as the function computes on it: its bytes or its text."""
    return _bytes(v) if binary else _text(v)


def _concat(*args: Any) -> str | bytes | None:
    if any(a is None for a in args):
        return None
    if _binary_operand(*args):
        return b"".join(_bytes(a) for a in args)
    return "".join(_text(a) for a in args)


def _concat_ws(sep: Any, *args: Any) -> str | bytes | None:
    if sep is None:
        return None
    if _binary_operand(sep, *args):
        return _bytes(sep).join(_bytes(a) for a in args if a is not None)
    return _text(sep).join(_text(a) for a in args if a is not None)


def _pad(left: bool) -> Callable[..., Any]:
    def pad(s: Any, n: Any, fill: Any = " ") -> Any:
        if s is None or n is None or fill is None:
            return None
        binary = _binary_operand(s, fill)
        text, width, f = _str(s, binary), _int(n), _str(fill, binary)
        if width is None or width < 0:
            return None
        if len(text) >= width:
            return text[:width]
        if not f:
            return None
        need = width - len(text)
        padding = (f * (need // len(f) + 1))[:need]
        return padding + text if left else text + padding

    return pad


def _field(x: Any, *items: Any) -> int:
    if x is None:
        return 0
    if isinstance(x, str) and all(isinstance(i, str) or i is None for i in items):
        key = COLLATION_KEYS[DEFAULT_COLLATION]
        kx = key(x)
        for i, item in enumerate(items, 1):
            if item is not None and key(item) == kx:
                return i
        return 0
    nx = _number(x)
    for i, item in enumerate(items, 1):
        if item is not None and float(_number(item) or 0) == float(nx or 0):
            return i
    return 0


def _interval_less(a: int | float | Decimal, b: int | float | Decimal) -> bool:
    # MariaDB compares two exact values exactly and anything else as doubles.
    if isinstance(a, float) or isinstance(b, float):
        return float(a) < float(b)
    return a < b


def _interval_index(n: Any, *bounds: Any) -> int:
    """MariaDB's ``INTERVAL(N, N1, N2, …)`` (integers and decimal texts compared exactly,
    REALs as doubles): -1 for a NULL ``N``; else the position
    before the first bound greater than ``N``, NULL bounds skipped (MariaDB's scan
    of a list of up to seven bounds, or of any list holding a column). MariaDB
    binary-searches a list of eight or more constants instead (a NULL counting as
    0), which answers the same for a list in ascending order without NULLs — the
    order its manual requires; for any other such list a function cannot tell
    constants from columns, so it is refused rather than answered differently."""
    value = _exact_number(n)
    if value is None:
        return -1
    items = [_exact_number(b) for b in bounds]
    if len(items) >= 8:
        present = [i for i in items if i is not None]
        if len(present) < len(items) or any(_interval_less(b, a) for a, b in pairwise(present)):
            raise NotSupported(
                "INTERVAL() with eight or more bounds that are not in ascending order "
                "or include NULL, on the embedded SQLite default (MariaDB searches "
                "such a constant list by halves)"
            )
    for i, bound in enumerate(items):
        if bound is not None and _interval_less(value, bound):
            return i
    return len(items)


def _elt(n: Any, *items: Any) -> Any:
    i = _int(n)
    if i is None or i < 1 or i > len(items):
        return None
    v = items[i - 1]
    return None if v is None else _text(v)


def _md5(s: Any) -> str | None:
    return None if s is None else hashlib.md5(_bytes(s)).hexdigest()


def _sha1(s: Any) -> str | None:
    return None if s is None else hashlib.sha1(_bytes(s)).hexdigest()


def _sha2(s: Any, bits: Any) -> str | None:
    if s is None or bits is None:
        return None
    algo = {0: "sha256", 224: "sha224", 256: "sha256", 384: "sha384", 512: "sha512"}.get(
        _int(bits) or 0
    )
    if algo is None:
        return None
    return hashlib.new(algo, _bytes(s)).hexdigest()


def _bytes(s: Any) -> bytes:
    return s if isinstance(s, bytes) else _text(s).encode("utf-8")


def _substring(s: Any, pos: Any, length: Any = ...) -> Any:
    if s is None or pos is None or length is None:
        return None
    text, p = _str(s, isinstance(s, bytes)), _int(pos)
    assert p is not None
    if p == 0 or abs(p) > len(text):
        return text[:0]
    start = p - 1 if p > 0 else len(text) + p
    if length is ...:
        return text[start:]
    n = _int(length)
    assert n is not None
    return text[start : start + n] if n > 0 else text[:0]


#: Where MySQL's one-character case mapping differs from Python's (which may give two:
#: ``'İ'.lower()`` is ``'i̇'``; ``'ß'.upper()`` is ``'SS'``, MySQL keeps ``ß``).
_LOWER_SPECIAL = {"\u0130": "i"}


def _case(upper: bool) -> Callable[[Any], Any]:
    """``UPPER``/``LOWER`` (``UCASE``/``LCASE``) as MySQL: every letter mapped one to
    one (SQLite's own change only ASCII letters: ``UPPER('é')`` stayed ``'é'``, and a
    comparison or GROUP BY of it was wrong); a binary string is as it is."""

    def convert(s: Any) -> Any:
        if s is None or isinstance(s, bytes):
            return s
        text = _text(s)
        if text.isascii():
            return text.upper() if upper else text.lower()
        out = []
        for c in text:
            mapped = c.upper() if upper else _LOWER_SPECIAL.get(c, c.lower())
            out.append(mapped if len(mapped) == 1 else c)
        return "".join(out)

    return convert


def _left(s: Any, n: Any) -> Any:
    if s is None or n is None:
        return None
    k = _int(n) or 0
    text = _str(s, isinstance(s, bytes))
    return text[:k] if k > 0 else text[:0]


def _right(s: Any, n: Any) -> Any:
    if s is None or n is None:
        return None
    k = _int(n) or 0
    text = _str(s, isinstance(s, bytes))
    return text[-k:] if k > 0 else text[:0]


def _trim(how: str) -> Callable[..., Any]:
    """SQLite's ``trim``/``ltrim``/``rtrim`` (the characters of the second argument,
    spaces by default), also on bytes: a binary string's trim is binary in MySQL, and
    SQLite's own made a BLOB text (its bytes read back as UTF-8, or an error)."""

    def trim(s: Any, chars: Any = " ") -> Any:
        if s is None or chars is None:
            return None
        binary = _binary_operand(s, chars)
        text = _str(s, binary) if binary or not isinstance(s, float) else repr(s)
        cut = _str(chars, binary)
        if how == "l":
            return text.lstrip(cut)
        return text.rstrip(cut) if how == "r" else text.strip(cut)

    return trim


def _replace(s: Any, old: Any, new: Any) -> Any:
    """SQLite's ``replace`` (MySQL's REPLACE), also on bytes (module doc of
    :mod:`sharding.backend.sqlite_binary_store`)."""
    if s is None or old is None or new is None:
        return None
    binary = _binary_operand(s, old, new)
    text, find = _str(s, binary), _str(old, binary)
    if not find:
        return text
    return text.replace(find, _str(new, binary))


def _locate(sub: Any, s: Any, pos: Any = 1) -> int | None:
    if sub is None or s is None or pos is None:
        return None
    p = _int(pos) or 0
    binary = _binary_operand(s, sub)
    text, needle = _str(s, binary), _str(sub, binary)
    if p < 1 or p > len(text) + 1:
        return 0
    if not needle:
        return p if p <= len(text) else 0
    if not binary:
        # MariaDB's LOCATE/INSTR under utf8mb4_general_ci are case- but not
        # accent-insensitive (measured: LOCATE('a', 'Ä') = 0, LOCATE('A', 'abc') = 1).
        text, needle = text.lower(), needle.lower()
    return int(text.find(needle, p - 1)) + 1


def _instr(s: Any, sub: Any) -> int | None:
    return _locate(sub, s)


def _extreme(pick_max: bool) -> Callable[..., Any]:
    def extreme(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        if all(isinstance(a, str) for a in args):
            key = COLLATION_KEYS[DEFAULT_COLLATION]
            return (max if pick_max else min)(args, key=key)
        if all(isinstance(a, int) for a in args):
            return (max if pick_max else min)(args)
        nums = [_number(a) for a in args]
        if any(isinstance(a, str) for a in args):
            nums = [float(n) for n in nums if n is not None]
        return (max if pick_max else min)(nums)  # type: ignore[type-var]

    return extreme


#: MySQL's SOUNDEX codes of A..Z (``soundex_map`` of MariaDB's item_strfunc.cc).
_SOUNDEX_CODES = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "01230120022455012623010202", strict=True))


def _soundex(s: Any) -> str | None:
    """MySQL's ``SOUNDEX``, which is not the classic one SQLite builds in: vowels (and
    H, W, any other letter) are skipped without separating equal codes (``'Banana'``
    is ``B500``, SQLite's ``B550``), the code is not cut to four characters
    (``'Quadratically'``: ``Q36324``), characters that are no letter are skipped, the
    first letter is kept (upper case if ASCII) and a text without one gives ''
    (MariaDB 10.11, measured)."""
    if s is None:
        return None
    text = s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s)
    out: list[str] = []
    last = ""
    for ch in text:
        if not ch.isalpha():
            continue
        upper = ch.upper() if ch.isascii() else ch
        code = _SOUNDEX_CODES.get(upper, "0")
        if not out:
            out.append(upper)
            last = code
        elif code != "0" and code != last:
            out.append(code)
            last = code
    if not out:
        return ""
    return "".join(out).ljust(4, "0")


_QUOTED = {"\\": "\\\\", "'": "\\'", "\0": "\\0", "\x1a": "\\Z"}


def _quote(x: Any) -> str | bytes:
    """MySQL's ``QUOTE``: the value in single quotes with ``\\``, ``'``, NUL and
    Control-Z escaped by a backslash (SQLite's ``quote`` doubles the quote), the word
    ``NULL`` for NULL; a binary string's result is binary."""
    if x is None:
        return "NULL"
    if isinstance(x, bytes):
        out = bytearray(b"'")
        for b in x:
            escaped = _QUOTED.get(chr(b)) if b < 0x80 else None
            out += escaped.encode() if escaped is not None else bytes([b])
        return bytes(out + b"'")
    text = x if isinstance(x, str) else _text(x)
    return "'" + "".join(_QUOTED.get(ch, ch) for ch in text) + "'"


def _octet_length(s: Any) -> int | None:
    return None if s is None else len(_bytes(s))


def _char_length(s: Any) -> int | None:
    if s is None:
        return None
    return len(s) if isinstance(s, bytes) else len(_text(s))


@lru_cache(maxsize=256)
def _regex(pattern: str, ci: bool) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE if ci else 0)
    except re.error as exc:
        from sharding.errors import BackendError

        raise BackendError(f"Got error '{exc}' from regexp", code=1139, sqlstate="42000") from None


def _regexp(pattern: Any, s: Any) -> int | None:
    # SQLite calls regexp(pattern, value) for ``value REGEXP pattern``.
    if pattern is None or s is None:
        return None
    ci = not isinstance(s, bytes) and not isinstance(pattern, bytes)
    return 1 if _regex(_text(pattern), ci).search(_text(s)) else 0


def _xor(a: Any, b: Any) -> int | None:
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return None
    return int(bool(x) != bool(y))


def _reverse(s: Any) -> Any:
    if s is None:
        return None
    return s[::-1] if isinstance(s, bytes) else _text(s)[::-1]


def _repeat(s: Any, n: Any) -> Any:
    if s is None or n is None:
        return None
    return _str(s, isinstance(s, bytes)) * max(0, _int(n) or 0)


def _ascii(s: Any) -> int | None:
    if s is None:
        return None
    b = _bytes(s)
    return b[0] if b else 0


def _ord(s: Any) -> int | None:
    """MySQL's ORD: the leftmost character's bytes as a big-endian number."""
    if s is None:
        return None
    t = _text(s)
    return int.from_bytes(t[0].encode("utf-8"), "big") if t else 0


def _strcmp(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    key = COLLATION_KEYS[DEFAULT_COLLATION]
    ka, kb = key(_text(a)), key(_text(b))
    return 0 if ka == kb else (-1 if ka < kb else 1)


def _substring_index(s: Any, delim: Any, count: Any) -> str | None:
    if s is None or delim is None or count is None:
        return None
    text, d, n = _text(s), _text(delim), _int(count) or 0
    if not d or n == 0:
        return ""
    parts = text.split(d)
    return d.join(parts[:n]) if n > 0 else d.join(parts[n:])


def _find_in_set(x: Any, items: Any) -> int | None:
    if x is None or items is None:
        return None
    needle = _text(x)
    if "," in needle:
        return 0
    # Measured: FIND_IN_SET('B ', 'b') is 0 — case-insensitive but no PAD SPACE.
    key = COLLATION_KEYS["utf8mb4_general_nopad_ci"]
    k = key(needle)
    text = _text(items)
    if not text:
        return 0
    for i, item in enumerate(text.split(","), 1):
        if key(item) == k:
            return i
    return 0


def _insert(s: Any, pos: Any, length: Any, new: Any) -> str | None:
    """MySQL's INSERT(str, pos, len, newstr) (sqlglot calls it STUFF)."""
    if s is None or pos is None or length is None or new is None:
        return None
    text, p, n = _text(s), _int(pos) or 0, _int(length) or 0
    if p < 1 or p > len(text):
        return text
    if n < 0 or n > len(text):
        n = len(text)
    return text[: p - 1] + _text(new) + text[p - 1 + n :]


def _unhex(s: Any) -> bytes | None:
    if s is None:
        return None
    try:
        t = _text(s)
        return bytes.fromhex(("0" + t) if len(t) % 2 else t)
    except ValueError:
        return None


def _to_base64(s: Any) -> str | None:
    import base64

    return None if s is None else base64.b64encode(_bytes(s)).decode()


def _crc32(s: Any) -> int | None:
    import zlib

    return None if s is None else zlib.crc32(_bytes(s))


def _rand(seed: Any = ...) -> float:
    import random

    return random.random() if seed is ... else random.Random(_int(seed)).random()


def _uuid() -> str:
    import uuid

    return str(uuid.uuid1())


# ---------------------------------------------------------------------- LIKE
@lru_cache(maxsize=1024)
def _like_regex(pattern: str, escape: str, fold: bool = True) -> re.Pattern[str]:
    """The pattern (:func:`sharding.sql.like.like_source`, the coordinator's one LIKE)
    with each literal character folded as the collation folds the matched text."""
    return re.compile(like_source(pattern, escape, _fold if fold else None), re.DOTALL)


def _like(pattern: Any, s: Any, escape: Any = "\\") -> int | None:
    # SQLite calls like(pattern, value[, escape]) for ``value LIKE pattern [ESCAPE e]``;
    # MySQL's default escape is a backslash, and the default collation folds case/accents.
    if pattern is None or s is None or escape is None:
        return None
    esc = _text(escape)
    if len(esc) > 1:
        from sharding.errors import BackendError

        raise BackendError("Incorrect arguments to ESCAPE", code=1210, sqlstate="HY000")
    if isinstance(pattern, bytes) or isinstance(s, bytes):  # LIKE BINARY: exact characters
        return 1 if _like_regex(_text(pattern), esc, False).match(_text(s)) else 0
    return 1 if _like_regex(_text(pattern), esc).match(_fold(_text(s))) else 0


# ---------------------------------------------------------------------- numbers
def _truncate(x: Any, d: Any) -> Any:
    if x is None or d is None:
        return None
    n, digits = _number(x), _int(d)
    assert n is not None and digits is not None
    if isinstance(n, int):
        if digits >= 0:
            return n
        q = 10 ** (-digits)
        return (abs(n) // q) * q * (1 if n >= 0 else -1)
    if not math.isfinite(n):
        return n
    exact = Decimal(repr(n))
    out = (
        exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN, context=_EXACT)
        if digits >= 0
        else (
            (exact / Decimal(10) ** -digits).to_integral_value(rounding=ROUND_DOWN)
            * Decimal(10) ** -digits
        )
    )
    return float(out)


def _signed(x: Any) -> int | None:
    """``CAST(x AS SIGNED)``: numbers round half away from zero; strings take their
    integer prefix (MySQL: ``CAST('4.6' AS SIGNED)`` is 4, ``CAST(4.6 AS SIGNED)`` 5)."""
    if x is None:
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        if not math.isfinite(x):
            return 0
        return _clamp(int(Decimal(repr(x)).to_integral_value(rounding=ROUND_HALF_UP)))
    text = _text(x)
    m = re.match(r"\s*([+-]?\d+)", text)
    if getattr(_division, "strict", False) and (m is None or text[m.end() :].strip()):
        # MySQL's strict mode in an INSERT/REPLACE/UPDATE (an INSERT's SELECT too): a
        # string that is not a whole integer ('12abc', '12.5', '') is error 1292 (a read
        # or a DELETE warns and uses the prefix).
        raise ShardgateError(
            f"Truncated incorrect INTEGER value: '{text}'", code=1292, sqlstate="22007"
        )
    sqlite_arithmetic.truncation(text, "INTEGER")  # a read's 1292 Warning/Note
    return _clamp(int(m.group(1))) if m else 0


def _unsigned(x: Any) -> int | str | None:
    """``CAST(x AS UNSIGNED)``. A value beyond BIGINT (a negative one wraps to 2**64 - n)
    has no SQLite integer: it is handed over as its digits, which the shard's result
    typing reads back as an integer when the cast is a select item; anywhere else
    :func:`unsigned_text_seen` makes the statement a clear 1235."""
    if isinstance(x, float):
        # A non-integer number is clamped to 0 … 2**64 - 1 (MySQL: CAST(-2.5 AS
        # UNSIGNED) is 0); integers and strings wrap (CAST(-1 AS UNSIGNED)).
        if math.isnan(x) or x < 0:
            return 0
        if x >= 2.0**64:
            n: int | None = (1 << 64) - 1
        else:
            n = int(Decimal(repr(x)).to_integral_value(rounding=ROUND_HALF_UP))
    else:
        n = _signed(x)
    if n is None:
        return None
    n %= 1 << 64
    if n < 1 << 63:
        return n
    if getattr(_unsigned_text, "strict", False):
        # A write statement: the digits could only be compared as text (wrongly)
        # or stored; the statement stops here, SQLite undoes its changes.
        raise NotSupported(
            "an UNSIGNED value beyond 9223372036854775807 (CAST(… AS UNSIGNED) or a bit "
            "operator) in a write statement on the SQLite default"
        )
    _unsigned_text.seen = True
    # Twenty digits: a shard's ORDER BY of such texts (all above any SQLite integer)
    # is then their numeric order.
    return f"{n:020d}"


_unsigned_text = threading.local()


def unsigned_text_seen(reset: bool = True) -> bool:
    """Whether this thread's statement cast a value to UNSIGNED beyond BIGINT
    (:func:`_unsigned`); ``reset`` starts the next statement afresh."""
    seen = bool(getattr(_unsigned_text, "seen", False))
    if reset:
        _unsigned_text.seen = False
    return seen


def unsigned_strict(on: bool) -> None:
    """Whether this thread's statement is a write: an UNSIGNED value beyond BIGINT is
    then a 1235 at once (:func:`_unsigned`), never text a comparison or column sees."""
    _unsigned_text.strict = on


_division = threading.local()


def division_strict(on: bool) -> None:
    """Whether this thread's statement is an INSERT, REPLACE or UPDATE (not IGNORE):
    MySQL's default ``sql_mode`` (``STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO``)
    makes a division by zero there — ``/``, ``DIV``, ``MOD`` by 0, a logarithm outside
    its domain — error 1365 (measured on MariaDB 10.11), where a read gets NULL."""
    _division.strict = on


def _by_zero() -> None:
    """Error 1365 in a strict write (:func:`division_strict`); otherwise a read's NULL
    with MySQL's warning 1365 (one per evaluation, as MariaDB counts them)."""
    if getattr(_division, "strict", False):
        raise ShardgateError("Division by 0", code=1365, sqlstate="22012")
    sqlite_arithmetic.warn("Warning", 1365, "Division by 0")


_NUMBER_PREFIX = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)")


def _bits(x: Any) -> int | None:
    """MySQL's 64-bit operand of a bit operator (``~``, ``^``, ``&``, ``|``, ``<<``,
    ``>>``): a number rounded half away from zero (``~2.5`` is ``~3``), a string's
    numeric prefix (``'1.5e2'`` is 150), as its two's-complement bits; a value outside
    the 64 bits is refused rather than clamped differently from MySQL."""
    if x is None:
        return None
    if isinstance(x, int):
        n = x
    else:
        if isinstance(x, float):
            if not math.isfinite(x):
                raise NotSupported("a bit operator of an infinite DOUBLE on the SQLite default")
            d = Decimal(repr(x))
        else:
            m = _NUMBER_PREFIX.match(_text(x))
            d = Decimal(m.group(1)) if m else Decimal(0)
        n = int(d.to_integral_value(rounding=ROUND_HALF_UP))
    if not -(1 << 63) <= n < 1 << 64:
        raise NotSupported("a bit operator of a value beyond 64 bits on the SQLite default")
    return n % (1 << 64)


def _as_signed(u: int) -> int:
    """The 64 bits ``u`` as the SQLite integer holding them (``sg_unsigned`` reads it
    back as MySQL's unsigned value)."""
    return u - (1 << 64) if u >= 1 << 63 else u


def _bitop(op: str) -> Callable[..., int | None]:
    def run(a: Any, b: Any = None) -> int | None:
        x = _bits(a)
        if op == "~":
            return None if x is None else _as_signed(~x % (1 << 64))
        y = _bits(b)
        if x is None or y is None:
            return None
        if op == "^":
            r = x ^ y
        elif op == "&":
            r = x & y
        elif op == "|":
            r = x | y
        elif op == "<<":
            r = (x << y) % (1 << 64) if y < 64 else 0
        else:
            r = x >> y if y < 64 else 0
        return _as_signed(r)

    return run


def _clamp(n: int) -> int:
    return max(-(1 << 63), min((1 << 63) - 1, n))


def _string_operands(a: Any, b: Any, kind: str) -> None:
    """MySQL's 1292 warning for each string operand of a division that is no clean
    number, left then right (``/`` and ``MOD`` convert a string to DOUBLE, ``DIV`` to
    DECIMAL: measured on MariaDB 10.11)."""
    if isinstance(a, str):
        sqlite_arithmetic.truncation(a, kind)
    if isinstance(b, str):
        sqlite_arithmetic.truncation(b, kind)


def _intdiv(a: Any, b: Any) -> int | None:
    _string_operands(a, b, "DECIMAL")
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return None
    if y == 0:
        _by_zero()
        return None
    if isinstance(x, int) and isinstance(y, int):
        q = abs(x) // abs(y)
        return q if (x >= 0) == (y >= 0) else -q
    xd = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    yd = Decimal(repr(y)) if isinstance(y, float) else Decimal(y)
    return int(_EXACT.divide_int(xd, yd))


#: The exact values behind the REALs this thread's statement computed (integer
#: quotients, AVG of integers), by their REAL: :func:`record_exact`. Bounded, so a huge
#: scan cannot grow it without end; a REAL two exact values share maps to None.
_exact_values = threading.local()
_EXACT_VALUES_MAX = 65536


def record_exact(on: bool) -> None:
    """Start (or stop) remembering, for this thread's next statement, the exact value
    behind each REAL an integer quotient, an AVG of integers or a SUM of integers
    beyond BIGINT hands SQLite — a REAL
    carries 15 significant digits, MySQL's DECIMAL all of them
    (:mod:`sharding.backend.sqlite_decimal_results` reads them back)."""
    _exact_values.map = {} if on else None
    _exact_values.integer_sums = set() if on else None


def integer_sum(x: float) -> bool:
    """Whether the REAL ``x`` is a SUM of integers beyond BIGINT (an integer in MySQL's
    DECIMAL; a SUM of DOUBLEs stays a DOUBLE)."""
    sums: set[float] | None = getattr(_exact_values, "integer_sums", None)
    return sums is not None and x in sums


def exact_value(x: float) -> Decimal | None:
    """The exact value recorded behind the REAL ``x`` (None: not recorded, or two)."""
    values: dict[float, Decimal | None] | None = getattr(_exact_values, "map", None)
    return None if values is None else values.get(x)


def _remember(x: float, exact: Decimal) -> float:
    values: dict[float, Decimal | None] | None = getattr(_exact_values, "map", None)
    if values is not None:
        known = values.get(x, exact)
        if known is not None and known != exact:
            values[x] = None  # two exact values behind one REAL: read neither
        elif x not in values and len(values) < _EXACT_VALUES_MAX:
            values[x] = exact
    return x


#: MySQL keeps the quotient of two integers with one 9-digit word of fraction,
#: truncated: ``n / 3 * 3``, ``SUM(n / 3)`` and ``n / 3 + 0.5e0`` compute with it.
_INNER_QUOTIENT = Decimal("1e-9")


def _div(a: Any, b: Any) -> float | None:
    """MySQL's ``/``: never integer division; ``x / 0`` is NULL. The quotient of two
    integers is MySQL's inner value (:data:`_INNER_QUOTIENT`), computed in decimal and
    handed to SQLite as the nearest REAL (whose shortest decimal is that value while it
    has at most 15 significant digits: what the shard's result typing reads back). A
    DOUBLE operand divides as DOUBLEs. (An integral DECIMAL value is stored as an
    INTEGER too; a DECIMAL of scale ≥ 5 would keep more inner digits in MySQL, which
    its shown digits only reveal when they are more than 8.)"""
    _string_operands(a, b, "DOUBLE")
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return None
    if y == 0:
        _by_zero()
        return None
    if isinstance(x, int) and isinstance(y, int):
        q = _EXACT.divide(Decimal(x), Decimal(y))
        inner = q.quantize(_INNER_QUOTIENT, rounding=ROUND_DOWN, context=_EXACT)
        return _remember(float(inner), inner)
    return float(x) / float(y)


def _mod(a: Any, b: Any) -> Any:
    _string_operands(a, b, "DOUBLE")
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return None
    if y == 0:
        _by_zero()
        return None
    if isinstance(x, int) and isinstance(y, int):
        r = abs(x) % abs(y)
        return r if x >= 0 else -r
    return math.fmod(float(x), float(y))


def _round(x: Any, d: Any = 0) -> Any:
    """MySQL's ROUND: an integer stays an integer; other numbers round half away from
    zero on their decimal form (a REAL here is usually a DECIMAL column or literal)."""
    if x is None or d is None:
        return None
    n, digits = _number(x), _int(d)
    assert n is not None and digits is not None
    if isinstance(n, int):
        if digits >= 0:
            return n
        q = 10 ** (-digits)
        r = (abs(n) + q // 2) // q * q
        return r if n >= 0 else -r
    if not math.isfinite(n):
        return n
    exact = Decimal(repr(n))
    return (
        float(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=_EXACT))
        if digits >= 0
        else float((exact.scaleb(digits)).to_integral_value(rounding=ROUND_HALF_UP).scaleb(-digits))
    )


def _cast_decimal(x: Any, d: Any, p: Any = None, name: str = "(null)") -> Any:
    """``CAST(x AS DECIMAL(p, d))``: :func:`_round` to ``d`` digits, a string by its
    numeric prefix with MySQL's 1292 warning for one that is no clean number. A value
    of more than ``p`` digits is the largest of ``p`` digits (its sign kept), with
    MySQL's 1264 naming the select item ``name`` ('(null)' when it is part of one)."""
    if isinstance(x, str):
        sqlite_arithmetic.truncation(x, "DECIMAL")
    rounded = _round(x, d)
    digits, scale = _int(p), _int(d)
    if rounded is None or digits is None or scale is None:
        return rounded
    scale = max(0, scale)
    limit = Decimal(10) ** (digits - scale) - Decimal(1).scaleb(-scale)
    exact = Decimal(rounded) if isinstance(rounded, int) else Decimal(repr(rounded))
    if exact.copy_abs() <= limit:
        return rounded
    sqlite_arithmetic.warn("Warning", 1264, f"Out of range value for column '{name}' at row 1")
    cut = limit if exact > 0 else -limit
    return int(cut) if scale == 0 else float(cut)


def _cut_text(x: Any, n: Any, kind: str) -> Any:
    """``CAST(x AS CHAR(n))`` of ``x`` (already MySQL's text, :func:`_char_lengths`):
    its first ``n`` characters, with MySQL's 1292 when more were cut."""
    length = _int(n)
    if not isinstance(x, str) or length is None or len(x) <= max(0, length):
        return x
    shown = conversion_notes.printable(x)
    sqlite_arithmetic.warn(
        "Warning", 1292, f"Truncated incorrect {kind}({length}) value: '{shown}'"
    )
    return x[: max(0, length)]


def _cut_binary(x: Any, n: Any) -> Any:
    """``CAST(x AS BINARY(n))`` as MariaDB computes it: a text's first ``n``
    *characters* (``'é€xyz'`` gives the 6 bytes of ``'é€x'``), a binary string's first
    ``n`` bytes — MySQL's 1292 when more were cut, a binary string's bytes shown as
    ``\\xHH`` — and a shorter value padded with zero bytes to ``n`` bytes."""
    length = _int(n)
    if x is None or length is None:
        return x
    length = max(0, length)
    units: str | bytes = x if isinstance(x, bytes) else str(x)
    if len(units) > length:
        if isinstance(units, bytes):
            shown = "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02X}" for b in units)
        else:
            shown = conversion_notes.printable(units)
        sqlite_arithmetic.warn(
            "Warning", 1292, f"Truncated incorrect BINARY({length}) value: '{shown}'"
        )
        units = units[:length]
    data = units if isinstance(units, bytes) else units.encode()
    return data + b"\0" * (length - len(data))


def _double_round(x: float, d: int, to_integer: Callable[[float], Any] = round) -> float:
    """MariaDB's ``my_double_round``: a DOUBLE is scaled by 10**d, made an integer —
    rounded with ties to even (``rint``), or cut toward zero for ``TRUNCATE`` — and
    scaled back in floating point (``ROUND(2.5e0)`` is 2, ``ROUND(0.125e0, 2)`` 0.12,
    ``TRUNCATE(9.9414e20, 2)`` 9.941400000000001e20)."""
    scale = 10.0 ** abs(d)
    if d < 0:
        return 0.0 if math.isinf(scale) else float(to_integer(x / scale)) * scale
    product = x * scale
    if math.isinf(product):
        return x
    return float(to_integer(product)) / scale


def _round_double(x: Any, d: Any = 0) -> Any:
    """``ROUND(x, d)`` of a DOUBLE (the shard statement names it so: a DOUBLE column or
    expression, :mod:`sharding.backend.sqlite_decimal_results`)."""
    if x is None or d is None:
        return None
    n, digits = _number(x), _int(d)
    assert n is not None and digits is not None
    if not math.isfinite(n):
        return float(n)
    return _double_round(float(n), digits)


def _truncate_double(x: Any, d: Any) -> Any:
    """``TRUNCATE(x, d)`` of a DOUBLE as MariaDB's ``my_double_round`` truncates."""
    if x is None or d is None:
        return None
    n, digits = _number(x), _int(d)
    assert n is not None and digits is not None
    v = float(n)
    if not math.isfinite(v):
        return v
    return _double_round(v, digits, math.floor if v >= 0 else math.ceil)


def _signed_double(x: Any) -> int | None:
    """``CAST(x AS SIGNED)`` of a DOUBLE: ``rint``, ties to even (``2.5e0`` is 2)."""
    if x is None:
        return None
    n = _number(x)
    assert n is not None
    if isinstance(n, int):
        return n
    if math.isnan(n):
        return 0
    if math.isinf(n):
        return _clamp(1 << 64 if n > 0 else -(1 << 64))
    return _clamp(round(n))


def _unsigned_double(x: Any) -> int | str | None:
    """``CAST(x AS UNSIGNED)`` of a DOUBLE: negative is 0, ``rint`` otherwise."""
    if x is None:
        return None
    n = _number(x)
    assert n is not None
    if isinstance(n, int):
        return _unsigned(n)
    if math.isnan(n) or n < 0:
        return 0
    return _unsigned((1 << 64) - 1 if n >= 2.0**64 else round(n))


def _format_double(x: Any, d: Any) -> str | None:
    """``FORMAT(x, d)`` of a DOUBLE: rounded as ``ROUND`` of a DOUBLE first."""
    if x is None or d is None:
        return None
    n, digits = _number(x), max(0, min(_int(d) or 0, 38))
    assert n is not None
    if not math.isfinite(n):
        return _format(n, digits)
    return _format(_double_round(float(n), digits), digits)


def _log(a: Any, b: Any = ...) -> float | None:
    """MySQL's LOG(x) is the natural logarithm (SQLite's is base 10); NULL outside the domain."""
    if b is ...:
        x = _number(a)
        if x is None:
            return None
        if x <= 0:
            _by_zero()
            return None
        return math.log(x)
    base, x = _number(a), _number(b)
    if base is None or x is None:
        return None
    if base <= 0 or base == 1 or x <= 0:
        _by_zero()
        return None
    return math.log(x) / math.log(base)


def _log10(a: Any) -> float | None:
    """MySQL's ``LOG10(x)``: C's ``log10`` of the DOUBLE (Python's ``math.log10`` is
    that), not ``LOG(10, x)``'s ``ln(x) / ln(10)``, which differs in the last binary
    digit (``LOG10(1000)`` is 3, ``LOG(10, 1000)`` 2.9999999999999996). NULL outside
    the domain."""
    x = _number(a)
    if x is None:
        return None
    if x <= 0:
        _by_zero()
        return None
    return math.log10(float(x))


def _log2(a: Any) -> float | None:
    """MySQL's ``LOG2(x)``: MariaDB computes ``ln(x) / M_LN2`` (``LOG2(3)`` is
    1.5849625007211563, where C's ``log2`` gives 1.584962500721156)."""
    x = _number(a)
    if x is None:
        return None
    if x <= 0:
        _by_zero()
        return None
    return math.log(float(x)) / _LN2


_LN2 = math.log(2.0)


def _temporal_number(v: Any, kind: Any = None) -> Any:
    """A DATE/DATETIME/TIME value as MySQL's number in arithmetic (``sg_temporal_number``,
    :mod:`sharding.backend.sqlite_arithmetic`; the reading is the coordinator's own,
    :func:`sharding.merge.mysql_semantics.temporal_text_number`): ``'2024-01-15'`` is
    20240115, ``'2024-01-15 10:20:30'`` 20240115102030, ``'-111:06:40'`` -1110640.
    ``kind`` is the operand's MySQL type (:func:`sharding.backend.sqlite_temporal.
    number_kind`): a DATE text where MySQL has a DATETIME (a ``COALESCE`` of both) is
    that date's midnight. Fractional seconds (MySQL: a DECIMAL) are refused."""
    if not isinstance(v, str):
        return v
    number = temporal_text_number(v)
    if number is v:
        return _number(v)  # no temporal text: its numeric prefix
    if number != int(number):
        raise NotSupported(
            "a DATETIME/TIME with fractional seconds in arithmetic on the SQLite default"
        )
    if kind == "datetime" and ":" not in v:
        return int(number) * 1_000_000
    return int(number)


def _dectext(x: Any, scale: Any) -> str | None:
    """A DECIMAL value as MySQL writes it: every digit of its scale (``0.10``)."""
    if x is None:
        return None
    if isinstance(x, str | bytes):
        return _text(x)
    n, s = _number(x), _int(scale)
    assert n is not None and s is not None
    if isinstance(n, float) and not math.isfinite(n):
        return _text(n)
    d = Decimal(n) if isinstance(n, int) else Decimal(repr(n))
    return format(d.quantize(Decimal(1).scaleb(-s), rounding=ROUND_HALF_UP, context=_EXACT), "f")


def _hex(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str | bytes):
        return _bytes(v).hex().upper()
    n = v if isinstance(v, int) else _signed(v)
    assert n is not None
    return format(n % (1 << 64), "X")


def _format(x: Any, d: Any) -> str | None:
    if x is None or d is None:
        return None
    n, digits = _number(x), max(0, min(_int(d) or 0, 38))
    assert n is not None
    exact = Decimal(n) if isinstance(n, int) else Decimal(repr(n))
    return format(
        exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=_EXACT),
        f",.{digits}f",
    )


def _char(*codes: Any) -> bytes:
    out = bytearray()
    for c in codes:
        n = _int(c)
        if n is None:
            continue
        n %= 1 << 32
        out += n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    return bytes(out)


class _ExactSum:
    """SUM/AVG adding each value's shortest decimal form exactly (module doc).

    A window function class (``inverse``/``value``), so ``SUM(x) OVER (...)`` works as
    with SQLite's own SUM; it serves plain aggregation too."""

    def __init__(self) -> None:
        self.ints = 0  # exact sum of the integer inputs
        self.decimals = Decimal(0)  # exact sum of the finite REAL inputs
        self.reals = 0  # how many REAL inputs (0: the result is an integer)
        self.count = 0
        self.specials: Counter[float] = Counter()  # inf, -inf (nan by its own key)

    def _add(self, v: Any, sign: int) -> None:
        if v is None:
            return
        n = _number(v)
        assert n is not None
        self.count += sign
        if isinstance(n, int):
            self.ints += sign * n
            return
        self.reals += sign
        if math.isfinite(n):
            # An integer quotient's REAL stands for its exact inner value (recorded).
            exact = exact_value(n) or Decimal(repr(n))
            self.decimals = _EXACT.add(self.decimals, sign * exact)
        else:
            self.specials["nan" if math.isnan(n) else n] += sign  # type: ignore[index]

    def step(self, v: Any) -> None:
        self._add(v, 1)

    def inverse(self, v: Any) -> None:
        self._add(v, -1)

    def _special(self) -> float | None:
        live = {k for k, c in self.specials.items() if c > 0}
        if not live:
            return None
        if "nan" in live or len(live) > 1:  # type: ignore[comparison-overlap]
            return math.nan
        return float(next(iter(live)))

    def _exact(self) -> Decimal:
        return _EXACT.add(Decimal(self.ints), self.decimals)

    def finalize(self) -> Any:
        return self.value()

    def value(self) -> Any:
        raise NotImplementedError


class _Sum(_ExactSum):
    def value(self) -> Any:
        if not self.count:
            return None
        special = self._special()
        if special is not None:
            return special
        if not self.reals:
            if -(1 << 63) <= self.ints < (1 << 63):
                return self.ints
            # Beyond BIGINT: MySQL's DECIMAL sum is exact; SQLite gets the nearest REAL.
            big = float(self.ints)
            sums: set[float] | None = getattr(_exact_values, "integer_sums", None)
            if sums is not None and len(sums) < _EXACT_VALUES_MAX:
                sums.add(big)
            return _remember(big, Decimal(self.ints))
        exact = self._exact()
        return _remember(float(exact), exact)


class _Avg(_ExactSum):
    def value(self) -> Any:
        if not self.count:
            return None
        special = self._special()
        if special is not None:
            return special
        exact = _EXACT.divide(self._exact(), Decimal(self.count))
        return _remember(float(exact), exact)  # MySQL's DECIMAL (of a DOUBLE: not read)


# ---------------------------------------------------------------------- dates
_DATE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?)?\s*\Z"
)


def _parse_temporal(v: Any) -> datetime.datetime | datetime.date | None:
    """A DATE or DATETIME value (text as SQLite stores it), None if not one."""
    if v is None:
        return None
    if isinstance(v, int):
        s = str(v)
        if len(s) == 8:
            v = f"{s[:4]}-{s[4:6]}-{s[6:]}"
        elif len(s) == 14:
            v = f"{s[:4]}-{s[4:6]}-{s[6:8]} {s[8:10]}:{s[10:12]}:{s[12:]}"
        else:
            return None
    m = _DATE.match(_text(v))
    if not m:
        return None
    try:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if m.group(4) is None:
            return datetime.date(y, mo, d)
        frac = (m.group(7) or "").ljust(6, "0")
        return datetime.datetime(
            y, mo, d, int(m.group(4)), int(m.group(5)), int(m.group(6)), int(frac or 0)
        )
    except ValueError:
        return None


def temporal_value(text: str) -> Any:
    """A DATE or DATETIME a registered function handed over as text (``LAST_DAY``,
    ``DATE_ADD``) as the value MySQL's DATE/DATETIME result reads as; other text as it is."""
    t = _parse_temporal(text)
    return text if t is None else t


_TIME_TEXT = re.compile(r"(-)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?\Z")


def time_value(text: str) -> Any:
    """A TIME a function handed over as text (``TIME(dt)``) as the ``timedelta`` MySQL's
    TIME reads as; other text as it is."""
    m = _TIME_TEXT.match(text)
    if m is None:
        return text
    delta = datetime.timedelta(
        hours=int(m.group(2)),
        minutes=int(m.group(3)),
        seconds=int(m.group(4)),
        microseconds=int((m.group(5) or "").ljust(6, "0") or 0),
    )
    return -delta if m.group(1) else delta


def _as_datetime(t: datetime.date) -> datetime.datetime:
    return t if isinstance(t, datetime.datetime) else datetime.datetime(t.year, t.month, t.day)


def _fmt_datetime(t: datetime.datetime) -> str:
    base = t.strftime("%Y-%m-%d %H:%M:%S")
    return f"{base}.{t.microsecond:06d}" if t.microsecond else base


def _year(v: Any) -> int | None:
    t = _parse_temporal(v)
    return None if t is None else t.year


def _month(v: Any) -> int | None:
    t = _parse_temporal(v)
    return None if t is None else t.month


def _day(v: Any) -> int | None:
    t = _parse_temporal(v)
    return None if t is None else t.day


def _hour(v: Any) -> int | None:
    t = _parse_temporal(v)
    if t is None:
        m = re.match(r"\s*(-?\d+):(\d{1,2})(?::(\d{1,2}))?", _text(v)) if v is not None else None
        return abs(int(m.group(1))) if m else None
    return t.hour if isinstance(t, datetime.datetime) else 0


def _minute(v: Any) -> int | None:
    t = _parse_temporal(v)
    return None if t is None else (t.minute if isinstance(t, datetime.datetime) else 0)


def _second(v: Any) -> int | None:
    t = _parse_temporal(v)
    return None if t is None else (t.second if isinstance(t, datetime.datetime) else 0)


def _quarter(v: Any) -> int | None:
    t = _parse_temporal(v)
    return None if t is None else (t.month - 1) // 3 + 1


def _dayname(v: Any) -> str | None:
    t = _parse_temporal(v)
    return None if t is None else _DAY_NAMES[t.weekday()]


def _dayofweek(v: Any) -> int | None:
    t = _parse_temporal(v)
    return None if t is None else (t.weekday() + 1) % 7 + 1


def _weekday(v: Any) -> int | None:
    t = _parse_temporal(v)
    return None if t is None else t.weekday()


def _dayofyear(v: Any) -> int | None:
    t = _parse_temporal(v)
    return None if t is None else t.timetuple().tm_yday


def _week(v: Any, mode: Any = 0) -> int | None:
    """WEEK(d) in mode 0 (the default): weeks start on Sunday, 0 before the first one."""
    t = _parse_temporal(v)
    if t is None or mode is None:
        return None
    if (_int(mode) or 0) != 0:
        raise NotSupported("WEEK() with a mode other than 0 on the embedded SQLite default")
    return int(_as_datetime(t).strftime("%U"))


def _last_day(v: Any) -> str | None:
    t = _parse_temporal(v)
    if t is None:
        return None
    nxt = datetime.date(t.year + (t.month == 12), t.month % 12 + 1, 1)
    return (nxt - datetime.timedelta(days=1)).isoformat()


def _datediff(a: Any, b: Any) -> int | None:
    x, y = _parse_temporal(a), _parse_temporal(b)
    if x is None or y is None:
        return None
    dx = x.date() if isinstance(x, datetime.datetime) else x
    dy = y.date() if isinstance(y, datetime.datetime) else y
    return (dx - dy).days


_DIFF_SECONDS = {
    "MICROSECOND": 1e-6,
    "SECOND": 1,
    "MINUTE": 60,
    "HOUR": 3600,
    "DAY": 86400,
    "WEEK": 604800,
}


def _timestampdiff(unit: Any, a: Any, b: Any) -> int | None:
    x, y = _parse_temporal(a), _parse_temporal(b)
    if x is None or y is None or unit is None:
        return None
    u = _text(unit).upper()
    dx, dy = _as_datetime(x), _as_datetime(y)
    if u in ("MONTH", "QUARTER", "YEAR"):
        months = (dy.year - dx.year) * 12 + dy.month - dx.month
        # A month is complete only when the day/time of the later value reaches the earlier's.
        rest_y = (dy.day, dy.time())
        rest_x = (dx.day, dx.time())
        if months > 0 and rest_y < rest_x:
            months -= 1
        elif months < 0 and rest_y > rest_x:
            months += 1
        return int(months / {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[u])
    if u not in _DIFF_SECONDS:
        return None
    delta = dy - dx
    if u == "MICROSECOND":
        return delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds
    total = delta.total_seconds()
    return int(total / _DIFF_SECONDS[u])


def _extract(unit: Any, v: Any) -> int | None:
    u = _text(unit).upper() if unit is not None else ""
    fn = {
        "YEAR": _year,
        "MONTH": _month,
        "DAY": _day,
        "HOUR": _hour,
        "MINUTE": _minute,
        "SECOND": _second,
        "QUARTER": _quarter,
        "WEEK": _week,
    }.get(u)
    if fn is None:
        raise NotSupported(f"EXTRACT({u} FROM ...) on the embedded SQLite default")
    result: int | None = fn(v)
    return result


def current_datetime() -> datetime.datetime:
    """The clock of ``NOW()`` on SQLite shards (also ON UPDATE CURRENT_TIMESTAMP's,
    :mod:`sharding.backend.sqlite_on_update`)."""
    return datetime.datetime.now()


def _now() -> str:
    return current_datetime().strftime("%Y-%m-%d %H:%M:%S")


def _curdate() -> str:
    return datetime.date.today().isoformat()


def _unix_timestamp(v: Any = ...) -> int | None:
    if v is ...:
        return int(time.time())
    t = _parse_temporal(v)
    if t is None:
        return None
    return max(0, int(time.mktime(_as_datetime(t).timetuple())))


#: MariaDB's last FROM_UNIXTIME second (a signed 32-bit time_t): past it, NULL.
_UNIXTIME_MAX = 2**31 - 1


def _from_unixtime(n: Any, fmt: Any = ...) -> str | None:
    """MySQL's ``FROM_UNIXTIME``: a DATETIME with the argument's decimals (a string's:
    6), truncated to microseconds; NULL before 0 and past :data:`_UNIXTIME_MAX`."""
    x = _number(n)
    if x is None or x < 0 or x >= _UNIXTIME_MAX + 1:
        return None
    if isinstance(n, str):
        decimals = 6
    elif isinstance(x, float):
        text = repr(x)
        decimals = 0 if "e" in text or "E" in text else min(len(text.split(".")[1].rstrip("0")), 6)
    else:
        decimals = 0
    exact = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    whole = int(exact)
    micro = int((exact - whole) * 1_000_000)  # truncated, as MariaDB does
    t = datetime.datetime.fromtimestamp(whole).replace(microsecond=micro)
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    if decimals:
        text += "." + f"{micro:06d}"[:decimals]
    if fmt is ...:
        return text
    return _date_format(_fmt_datetime(t), fmt)


_DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _suffix(d: int) -> str:
    if 10 < d % 100 < 14:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")


def _date_format(v: Any, fmt: Any) -> str | None:
    if v is None or fmt is None:
        return None
    parsed = _parse_temporal(v)
    if parsed is None:
        return None
    t = _as_datetime(parsed)
    f = _text(fmt)
    out: list[str] = []
    i = 0
    while i < len(f):
        c = f[i]
        if c != "%" or i + 1 == len(f):
            out.append(c)
            i += 1
            continue
        s = f[i + 1]
        i += 2
        h12 = t.hour % 12 or 12
        week_sun = int(t.strftime("%U"))
        week_mon = int(t.strftime("%W"))
        iso = t.isocalendar()
        values = {
            "a": _DAY_NAMES[t.weekday()][:3],
            "b": _MONTH_NAMES[t.month - 1][:3],
            "c": str(t.month),
            "D": f"{t.day}{_suffix(t.day)}",
            "d": f"{t.day:02d}",
            "e": str(t.day),
            "f": f"{t.microsecond:06d}",
            "H": f"{t.hour:02d}",
            "h": f"{h12:02d}",
            "I": f"{h12:02d}",
            "i": f"{t.minute:02d}",
            "j": f"{t.timetuple().tm_yday:03d}",
            "k": str(t.hour),
            "l": str(h12),
            "M": _MONTH_NAMES[t.month - 1],
            "m": f"{t.month:02d}",
            "p": "AM" if t.hour < 12 else "PM",
            "r": f"{h12:02d}:{t.minute:02d}:{t.second:02d} {'AM' if t.hour < 12 else 'PM'}",
            "S": f"{t.second:02d}",
            "s": f"{t.second:02d}",
            "T": f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}",
            "U": f"{week_sun:02d}",
            "u": f"{week_mon:02d}",
            "V": f"{_week_v(t):02d}",
            "v": f"{iso[1]:02d}",
            "W": _DAY_NAMES[t.weekday()],
            "w": str((t.weekday() + 1) % 7),
            "X": str(_year_x(t)),
            "x": str(iso[0]),
            "Y": f"{t.year:04d}",
            "y": f"{t.year % 100:02d}",
            "%": "%",
        }
        out.append(values.get(s, s))
    return "".join(out)


def _week_v(t: datetime.datetime) -> int:
    """MySQL week mode 2 (``%V``): weeks start on Sunday, week 1 has a Sunday in it."""
    return _sunday_week(t)[1]


def _year_x(t: datetime.datetime) -> int:
    return _sunday_week(t)[0]


def _sunday_week(t: datetime.datetime) -> tuple[int, int]:
    d = t.date()
    year = d.year
    while True:
        jan1 = datetime.date(year, 1, 1)
        first_sunday = jan1 + datetime.timedelta(days=(6 - jan1.weekday()) % 7)
        if d >= first_sunday:
            return year, (d - first_sunday).days // 7 + 1
        year -= 1


_UNITS = {"MICROSECOND", "SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}


#: Compound interval units: their fields, largest first (MySQL's ``INTERVAL '1 2'
#: DAY_HOUR``); the ``*_MICROSECOND`` ones end in a fraction of a second.
_COMPOUND_UNITS: dict[str, tuple[str, ...]] = {
    "YEAR_MONTH": ("YEAR", "MONTH"),
    "DAY_HOUR": ("DAY", "HOUR"),
    "DAY_MINUTE": ("DAY", "HOUR", "MINUTE"),
    "DAY_SECOND": ("DAY", "HOUR", "MINUTE", "SECOND"),
    "DAY_MICROSECOND": ("DAY", "HOUR", "MINUTE", "SECOND", "MICROSECOND"),
    "HOUR_MINUTE": ("HOUR", "MINUTE"),
    "HOUR_SECOND": ("HOUR", "MINUTE", "SECOND"),
    "HOUR_MICROSECOND": ("HOUR", "MINUTE", "SECOND", "MICROSECOND"),
    "MINUTE_SECOND": ("MINUTE", "SECOND"),
    "MINUTE_MICROSECOND": ("MINUTE", "SECOND", "MICROSECOND"),
    "SECOND_MICROSECOND": ("SECOND", "MICROSECOND"),
}
_FIELD_SECONDS = {"DAY": 86400, "HOUR": 3600, "MINUTE": 60, "SECOND": 1}


def _compound_amount(amount: Any, unit: str) -> tuple[int, datetime.timedelta] | None:
    """MySQL's reading of ``INTERVAL 'text' unit`` for a compound unit: (months,
    time) — the numbers of the text fill the unit's fields from the right (``'1:2'``
    DAY_MINUTE is 1 hour 2 minutes), a leading ``-`` negates the whole interval, a
    microsecond field is its digits padded to six (``'1.5'`` SECOND_MICROSECOND is
    1.5 s); None for a text with more numbers than fields (MySQL's NULL)."""
    fields = _COMPOUND_UNITS[unit]
    text = _text(amount).strip()
    negative = text.startswith("-")
    numbers = re.findall(r"\d+", text)
    if not numbers or len(numbers) > len(fields):
        return None
    values = dict(zip(fields[len(fields) - len(numbers) :], numbers, strict=True))
    months = 12 * int(values.get("YEAR", 0)) + int(values.get("MONTH", 0))
    micro = int(values["MICROSECOND"].ljust(6, "0")[:6]) if "MICROSECOND" in values else 0
    seconds = sum(int(values.get(f, 0)) * n for f, n in _FIELD_SECONDS.items())
    delta = datetime.timedelta(seconds=seconds, microseconds=micro)
    return (-months, -delta) if negative else (months, delta)


def _date_add(v: Any, amount: Any, unit: Any) -> str | None:
    if v is None or amount is None or unit is None:
        return None
    t = _parse_temporal(v)
    u = _text(unit).upper()
    if t is None:
        return None
    if u in _COMPOUND_UNITS:
        compound = _compound_amount(amount, u)
        if compound is None:
            return None
        months, delta = compound
        if months:
            return _date_add(v, months, "MONTH")
        if not isinstance(t, datetime.datetime) and u == "YEAR_MONTH":
            return t.isoformat()
        try:
            return _fmt_datetime(_as_datetime(t) + delta)
        except OverflowError:
            return None
    if u not in _UNITS:
        return None
    if u == "SECOND":
        # ``INTERVAL 1.5 SECOND`` keeps its fraction (other units round their amount).
        exact = _number(amount)
        if isinstance(exact, float | Decimal) and exact != int(exact):
            micro = int((Decimal(str(exact)) * 1_000_000).to_integral_value(ROUND_HALF_UP))
            try:
                return _fmt_datetime(_as_datetime(t) + datetime.timedelta(microseconds=micro))
            except OverflowError:
                return None
    n = _int(amount)
    if n is None:
        return None
    if u in ("MONTH", "QUARTER", "YEAR"):
        months = n * {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[u]
        total = t.year * 12 + (t.month - 1) + months
        y, m = divmod(total, 12)
        if not 1 <= y <= 9999:
            return None
        last = (datetime.date(y + (m == 11), (m + 1) % 12 + 1, 1) - datetime.timedelta(days=1)).day
        shifted = t.replace(year=y, month=m + 1, day=min(t.day, last))
        return (
            shifted.isoformat()
            if not isinstance(shifted, datetime.datetime)
            else _fmt_datetime(shifted)
        )
    if u in ("DAY", "WEEK") and not isinstance(t, datetime.datetime):
        try:
            return (t + datetime.timedelta(days=n * (7 if u == "WEEK" else 1))).isoformat()
        except OverflowError:
            return None
    delta = {
        "MICROSECOND": datetime.timedelta(microseconds=n),
        "SECOND": datetime.timedelta(seconds=n),
        "MINUTE": datetime.timedelta(minutes=n),
        "HOUR": datetime.timedelta(hours=n),
        "DAY": datetime.timedelta(days=n),
        "WEEK": datetime.timedelta(weeks=n),
    }[u]
    try:
        return _fmt_datetime(_as_datetime(t) + delta)
    except OverflowError:
        return None


def _date_sub(v: Any, amount: Any, unit: Any) -> str | None:
    if unit is not None and _text(unit).upper() in _COMPOUND_UNITS and amount is not None:
        text = _text(amount).strip()
        return _date_add(v, text[1:] if text.startswith("-") else "-" + text, unit)
    exact = _number(amount)
    if isinstance(exact, float) and exact != int(exact) and _text(unit).upper() == "SECOND":
        return _date_add(v, -exact, unit)  # a fraction of a second is kept
    n = _int(amount)
    return None if n is None else _date_add(v, -n, unit)


def _text_value(v: Any) -> Any:
    """``CONVERT(x USING <a character set>)``: a binary string's bytes as text (a byte
    that is no UTF-8 as MySQL's ``?``); any other value as it is."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").replace("\ufffd", "?")
    return v


def _hexnum(v: Any, string_form: Any = None) -> Any:
    return v


def _binary_value(v: Any) -> bytes | None:
    from sharding.backend.sqlite_binary_store import binary_value

    return binary_value(v)


# ---------------------------------------------------------------------- registration
#: (name, argument count (-1: any), function). Registered as deterministic where MySQL's
#: function is, so SQLite may evaluate constant calls once and use them with indexes.
_JSON_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _json_text(text: Any) -> Any:
    """``sg_json_text(j)``: the JSON text SQLite's ``json_object``/``json_array`` made
    (compact: ``{"a":1,"b":[1,2]}``) as MariaDB writes it (``{"a": 1, "b": [1, 2]}``:
    a space after each ``,`` and ``:`` outside strings). A number with a fraction or
    an exponent is a 1235: MariaDB writes a DECIMAL with its scale (``2.50``,
    ``1.0000``) and a DOUBLE by its own rules, where the shard holds a REAL."""
    if not isinstance(text, str):
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
            continue
        if ch in ",:":
            out.append(ch + " ")
            i += 1
            continue
        m = _JSON_NUMBER.match(text, i) if ch == "-" or ch.isdigit() else None
        if m is not None:
            if any(c in m.group() for c in ".eE"):
                raise NotSupported(
                    "JSON_OBJECT/JSON_ARRAY of a DECIMAL or DOUBLE value on the embedded "
                    "SQLite default (MariaDB writes its scale); CAST it AS CHAR"
                )
            out.append(m.group())
            i = m.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out)


#: MySQL's JSON_TYPE names of SQLite's json_type() answers.
_JSON_TYPE_NAMES = {
    "object": "OBJECT",
    "array": "ARRAY",
    "integer": "INTEGER",
    "real": "DOUBLE",
    "text": "STRING",
    "true": "BOOLEAN",
    "false": "BOOLEAN",
    "null": "NULL",
}


def _json_object_path(path: Any) -> Any:
    """``sg_json_object_path(p)``: the path of a ``JSON_SET``/``JSON_INSERT``, refused
    (1235) when it indexes an array: past the array's end MySQL appends, SQLite's
    ``json_set``/``json_insert`` change nothing."""
    if isinstance(path, str) and "[" in path:
        raise NotSupported(
            f"JSON_SET/JSON_INSERT with an array index path ({path}) on the embedded "
            "SQLite default (MySQL appends past the array's end)"
        )
    return path


def _json_type_name(name: Any) -> Any:
    """``sg_json_type_name(json_type(j))``: MySQL's name of a JSON value's type."""
    return _JSON_TYPE_NAMES.get(name, name) if isinstance(name, str) else name


def _last_insert_id(x: Any) -> int | None:
    """``LAST_INSERT_ID(expr)`` of a SELECT: its value (the session keeps the same one,
    sharding.session_state.substitute) — rounded half away from zero, unsigned 64 bits.
    A value beyond SQLite's signed integer (``LAST_INSERT_ID(-1)``) is a 1235."""
    if x is None:
        return None
    number = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    value = int(number.to_integral_value(rounding=ROUND_HALF_UP)) % (1 << 64)
    if value >= 1 << 63:
        raise NotSupported(
            "LAST_INSERT_ID(expr) of a value beyond 9223372036854775807 on the embedded "
            "SQLite default"
        )
    return value


_FUNCTIONS: list[tuple[str, int, Callable[..., Any], bool]] = [
    ("last_insert_id", 1, _last_insert_id, True),
    ("sg_json_text", 1, _json_text, True),
    ("sg_json_type_name", 1, _json_type_name, True),
    ("sg_json_object_path", 1, _json_object_path, True),
    ("concat", -1, _concat, True),
    # A 0x.. literal the shard did not resolve by a column's type (sqlite_hex_literals).
    ("sg_hexnum", 1, _hexnum, True),
    ("sg_hexnum", 2, _hexnum, True),
    # A value written to a binary column: its bytes (sqlite_binary_store).
    ("sg_binary", 1, _binary_value, True),
    ("sg_text", 1, _text_value, True),
    ("trim", 1, _trim("b"), True),
    ("trim", 2, _trim("b"), True),
    ("ltrim", 1, _trim("l"), True),
    ("ltrim", 2, _trim("l"), True),
    ("rtrim", 1, _trim("r"), True),
    ("rtrim", 2, _trim("r"), True),
    ("replace", 3, _replace, True),
    ("upper", 1, _case(True), True),
    ("lower", 1, _case(False), True),
    ("ucase", 1, _case(True), True),
    ("lcase", 1, _case(False), True),
    ("concat_ws", -1, _concat_ws, True),
    ("lpad", 2, _pad(True), True),
    ("lpad", 3, _pad(True), True),
    ("rpad", 2, _pad(False), True),
    ("rpad", 3, _pad(False), True),
    ("field", -1, _field, True),
    ("elt", -1, _elt, True),
    ("interval", -1, _interval_index, True),
    ("md5", 1, _md5, True),
    ("sha1", 1, _sha1, True),
    ("sha", 1, _sha1, True),
    ("sha2", 2, _sha2, True),
    ("substring", 2, _substring, True),
    ("substring", 3, _substring, True),
    ("substr", 2, _substring, True),
    ("substr", 3, _substring, True),
    ("mid", 3, _substring, True),
    # LEFT/RIGHT are keywords in SQLite: translated statements call sg_left/sg_right.
    ("left", 2, _left, True),
    ("right", 2, _right, True),
    ("sg_left", 2, _left, True),
    ("sg_right", 2, _right, True),
    ("locate", 2, _locate, True),
    ("locate", 3, _locate, True),
    ("instr", 2, _instr, True),
    ("greatest", -1, _extreme(True), True),
    ("least", -1, _extreme(False), True),
    ("octet_length", 1, _octet_length, True),
    ("char_length", 1, _char_length, True),
    ("soundex", 1, _soundex, True),
    ("quote", 1, _quote, True),
    ("character_length", 1, _char_length, True),
    ("regexp", 2, _regexp, True),
    ("xor", 2, _xor, True),
    ("like", 2, _like, True),
    ("like", 3, _like, True),
    ("truncate", 2, _truncate, True),
    # SQLite built-ins whose meaning differs from MySQL's same-named function.
    ("mod", 2, _mod, True),
    ("round", 1, _round, True),
    ("round", 2, _round, True),
    ("log", 1, _log, True),
    ("log", 2, _log, True),
    ("ln", 1, _log, True),
    ("sg_log10", 1, _log10, True),
    ("sg_log2", 1, _log2, True),
    # SQLite's own log10/log2 under MySQL's names (VALUES rows pass through as text).
    ("log10", 1, _log10, True),
    ("log2", 1, _log2, True),
    # A DOUBLE past its range: MySQL's 1690 (sharding.backend.sqlite_arithmetic).
    ("sg_finite", 2, sqlite_arithmetic.finite, True),
    ("sg_bigint", 3, sqlite_arithmetic.bigint, True),
    ("sg_strict_number", 2, sqlite_arithmetic.strict_number, True),
    ("sg_text_number", 3, sqlite_arithmetic.text_number, True),
    ("sg_string_number", 2, sqlite_arithmetic.string_number, True),
    # Its 1292 told (3 arguments: a BETWEEN bound's conversion, silent), or per
    # evaluation for a row's operand (an IN list mixing integers and strings), and a
    # BETWEEN bound's per row 1292 (sharding.backend.sqlite_arithmetic.string_number).
    ("sg_string_number", 3, sqlite_arithmetic.string_number, True),
    ("sg_string_number_row", 4, sqlite_arithmetic.string_number, False),
    ("sg_number_warns", -1, sqlite_arithmetic.number_warns, False),
    # A read's string operand of arithmetic: MySQL's DOUBLE with its 1292 per row; of
    # a string literal not deterministic (SQLite would convert it once per statement).
    ("sg_double", 1, sqlite_arithmetic.double_operand, True),
    ("sg_double_row", 1, sqlite_arithmetic.double_operand, False),
    ("sg_exact_integer", 2, sqlite_arithmetic.exact_integer, True),
    # An operand whose type only its value tells: MySQL's comparison (sqlite_compare).
    ("sg_compare", 5, sqlite_compare.compare, True),
    ("sg_in", -1, sqlite_compare.in_list, True),
    ("sg_between", 5, sqlite_compare.between, True),
    ("sg_temporal_number", 1, _temporal_number, True),
    ("sg_temporal_number", 2, _temporal_number, True),
    ("sg_dectext", 2, _dectext, True),
    ("hex", 1, _hex, True),
    ("format", 2, _format, True),
    ("char", -1, _char, True),
    ("sg_signed", 1, _signed, True),
    ("sg_unsigned", 1, _unsigned, True),
    # MySQL's bit operators on unsigned 64 bits; wrapped in sg_unsigned (translation).
    ("sg_bitnot", 1, _bitop("~"), True),
    ("sg_bitxor", 2, _bitop("^"), True),
    ("sg_bitand", 2, _bitop("&"), True),
    ("sg_bitor", 2, _bitop("|"), True),
    ("sg_shl", 2, _bitop("<<"), True),
    ("sg_shr", 2, _bitop(">>"), True),
    ("sg_intdiv", 2, _intdiv, True),
    ("sg_div", 2, _div, True),
    ("sg_cast_decimal", 2, _cast_decimal, True),
    ("sg_cast_decimal", 4, _cast_decimal, True),
    ("sg_cut_text", 3, _cut_text, True),
    ("sg_cut_binary", 2, _cut_binary, True),
    # Of a DOUBLE argument (sqlite_decimal_results.prepare): MariaDB's rint rules.
    ("sg_round_double", 1, _round_double, True),
    ("sg_round_double", 2, _round_double, True),
    ("sg_truncate_double", 2, _truncate_double, True),
    ("sg_signed_double", 1, _signed_double, True),
    ("sg_unsigned_double", 1, _unsigned_double, True),
    ("sg_format_double", 2, _format_double, True),
    # A scale-0 DECIMAL value a subquery gave (sharding.sql.materialize): the number itself.
    ("sg_decimal", 1, lambda x: x, True),
    ("year", 1, _year, True),
    ("month", 1, _month, True),
    ("day", 1, _day, True),
    ("dayofmonth", 1, _day, True),
    ("date_format", 2, _date_format, True),
    ("date_add", 3, _date_add, True),
    ("date_sub", 3, _date_sub, True),
    ("unix_timestamp", 0, _unix_timestamp, False),
    ("unix_timestamp", 1, _unix_timestamp, True),
    ("from_unixtime", 1, _from_unixtime, True),
    ("from_unixtime", 2, _from_unixtime, True),
    ("reverse", 1, _reverse, True),
    ("repeat", 2, _repeat, True),
    ("ascii", 1, _ascii, True),
    ("ord", 1, _ord, True),
    ("strcmp", 2, _strcmp, True),
    ("substring_index", 3, _substring_index, True),
    ("find_in_set", 2, _find_in_set, True),
    ("insert", 4, _insert, True),
    ("stuff", 4, _insert, True),
    ("unhex", 1, _unhex, True),
    ("to_base64", 1, _to_base64, True),
    ("crc32", 1, _crc32, True),
    ("rand", 0, _rand, False),
    ("rand", 1, _rand, True),
    ("uuid", 0, _uuid, False),
    ("hour", 1, _hour, True),
    ("minute", 1, _minute, True),
    ("second", 1, _second, True),
    ("quarter", 1, _quarter, True),
    ("dayname", 1, _dayname, True),
    ("dayofweek", 1, _dayofweek, True),
    ("weekday", 1, _weekday, True),
    ("dayofyear", 1, _dayofyear, True),
    ("week", 1, _week, True),
    ("week", 2, _week, True),
    ("last_day", 1, _last_day, True),
    ("datediff", 2, _datediff, True),
    ("timestampdiff", 3, _timestampdiff, True),
    ("sg_extract", 2, _extract, True),
    ("now", 0, _now, False),
    ("sysdate", 0, _now, False),
    ("curdate", 0, _curdate, False),
    ("current_date", 0, _curdate, False),
]


_raised = threading.local()


def _reporting(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` keeping the MySQL error it raises: sqlite3 reports any exception of a
    function as "user-defined function raised exception"; :func:`raised_error` gets
    the real one back (same worker thread) so the client sees its code and message."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except ShardgateError as exc:
            _raised.error = exc
            raise

    return call


def raised_error(exc: sqlite3.Error) -> ShardgateError | None:
    """The MySQL error a registered function raised during the failed statement."""
    error: ShardgateError | None = getattr(_raised, "error", None)
    _raised.error = None
    message = str(exc)
    if error is not None and (
        "user-defined function raised exception" in message
        or "user-defined aggregate's" in message  # sqlite_bit_aggregates
    ):
        return error
    return None


def install(conn: sqlite3.Connection) -> None:
    """Register MySQL's collations, functions and aggregates on one connection."""
    for name, compare in _COMPARATORS.items():
        conn.create_collation(name, compare)
    for name, nargs, fn, deterministic in _FUNCTIONS:
        conn.create_function(name, nargs, _reporting(fn), deterministic=deterministic)
    conn.create_window_function("sum", 1, _Sum)
    conn.create_window_function("avg", 1, _Avg)
    from sharding.backend import (
        sqlite_bit_aggregates,
        sqlite_expression_collation,
        sqlite_numeric_store,
        sqlite_on_update,
    )

    sqlite_bit_aggregates.install(conn, _reporting)  # BIT_AND/OR/XOR
    sqlite_on_update.install(conn)
    for name, nargs, fn in sqlite_expression_collation.functions():
        conn.create_function(name, nargs, _reporting(fn), deterministic=True)
    for name, nargs, fn in sqlite_numeric_store.functions():
        conn.create_function(name, nargs, _reporting(fn), deterministic=True)
    from sharding.backend import sqlite_time_arithmetic

    # MySQL's date arithmetic on a TIME (sqlite_time_arithmetic); warns per row.
    for name, nargs, fn in sqlite_time_arithmetic.functions():
        conn.create_function(name, nargs, _reporting(fn), deterministic=False)
    from sharding.backend.sqlite_temporal import STORE_FUNCTION

    # MySQL's store of a value into a DATE/DATETIME column (sqlite_temporal).
    conn.create_function(
        STORE_FUNCTION[0], STORE_FUNCTION[1], _reporting(STORE_FUNCTION[2]), deterministic=True
    )


# ---------------------------------------------------------------------- converters
def _convert_date(b: bytes) -> Any:
    t = _parse_temporal(b.decode())
    if isinstance(t, datetime.datetime):
        return t.date()
    return t if t is not None else b.decode()


def _convert_datetime(b: bytes) -> Any:
    t = _parse_temporal(b.decode())
    if t is None:
        return b.decode()
    return _as_datetime(t)


def _convert_time(b: bytes) -> Any:
    # a TIME column's stored text (sqlite_temporal's canonical form): MySQL's timedelta
    return time_value(b.decode("utf-8", "replace"))


def _convert_float(b: bytes) -> Any:
    try:
        return float(f"{float(b):.6g}")
    except ValueError:
        return b.decode("utf-8", "replace")


def _decimal_converter(scale: int) -> Callable[[bytes], Any]:
    quantum = Decimal(1).scaleb(-scale)

    def convert(b: bytes) -> Any:
        try:
            return Decimal(b.decode()).quantize(quantum, rounding=ROUND_HALF_UP, context=_EXACT)
        except (InvalidOperation, ValueError):
            return b.decode("utf-8", "replace")

    return convert


def _register_converters() -> None:
    # Converter names are process-wide; only connections opened with detect_types
    # (this backend's) consult them.
    sqlite3.register_converter("DATE", _convert_date)
    sqlite3.register_converter("DATETIME", _convert_datetime)
    sqlite3.register_converter("TIMESTAMP", _convert_datetime)
    sqlite3.register_converter("TIME", _convert_time)
    # A FLOAT column shows its single-precision value with 6 significant digits, as
    # MySQL's text protocol does (0.10000000149011612 is 0.1, 123456792 is 123457000).
    sqlite3.register_converter("FLOAT", _convert_float)
    for scale in range(MAX_DECIMAL_SCALE + 1):
        sqlite3.register_converter(f"{DECIMAL_TYPE_PREFIX}{scale}", _decimal_converter(scale))


_register_converters()

#: ``detect_types`` for the backend's connections.
DETECT_TYPES = sqlite3.PARSE_DECLTYPES


def decimal_type(precision: int | None, scale: int | None) -> str:
    """Physical SQLite type of MySQL's ``DECIMAL(precision, scale)`` (module doc)."""
    p = 10 if precision is None else precision
    s = 0 if scale is None else scale
    if p > MAX_DECIMAL_PRECISION or s > p:
        raise NotSupported(
            f"DECIMAL({p},{s}) on the embedded SQLite default (at most "
            f"{MAX_DECIMAL_PRECISION} digits are kept exactly)"
        )
    return f"{DECIMAL_TYPE_PREFIX}{s}({p},{s})"


# ---------------------------------------------------------------------- strict mode
_STRICT_PREFIX = "sg_strict$"


def strict_check(column: str) -> str:
    """Column constraint making a numeric column refuse text, as MySQL's strict mode
    does (``INSERT 'abc'`` into an INT is error 1366). SQLite's affinity has already
    turned numeric-looking text (``'12'``) into a number when the CHECK runs, so only
    what MySQL would refuse is left as text."""
    quoted = '"' + column.replace('"', '""') + '"'
    name = '"' + (_STRICT_PREFIX + column).replace('"', '""') + '"'
    return f"CONSTRAINT {name} CHECK (typeof({quoted}) NOT IN ('text', 'blob'))"


_STRICT_FAILED = re.compile(r"CHECK constraint failed: " + re.escape(_STRICT_PREFIX) + r"(.+)$")


def strict_column(message: str) -> str | None:
    """The column a :func:`strict_check` failure names (None for other messages)."""
    m = _STRICT_FAILED.search(message)
    return None if m is None else m.group(1)


def strict_violation(message: str) -> ShardgateError | None:
    """Error 1366 for a :func:`strict_check` failure (None for other messages)."""
    m = _STRICT_FAILED.search(message)
    if m is None:
        return None
    return ShardgateError(
        f"Incorrect value for column '{m.group(1)}' (not a number)", code=1366, sqlstate="22007"
    )


#: Marks an INSERT IGNORE rendered for SQLite (:mod:`sharding.sql.upsert` writes it,
#: the backend reads it): MySQL's IGNORE also stores strict-mode violations adjusted,
#: with a warning, which SQLite cannot — those are refused (1235), never skipped.
SQLITE_IGNORE_MARK = "/* INSERT IGNORE */"


# ---------------------------------------------------------------------- ENUM
#: Physical type of an ENUM column: TEXT affinity (the label is stored; a number
#: inserted is kept as its digits until the canonicalising trigger maps it).
ENUM_TYPE = "SG_ENUM_TEXT"
_ENUM_PREFIX = "sg_enum$"
#: ``meta`` key the planner's ENUM columns carry (:func:`sharding.sql.enums.column_enum`)
#: so ``(col) + 0`` becomes the index on SQLite shards.
ENUM_META = "sg_enum"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def enum_check(column: str, labels: tuple[str, ...]) -> str:
    """Column constraint accepting what MySQL's strict mode stores in an ENUM: a label
    (under the column's collation: ``'SMALL'``, ``'large '``), or an index 1..n; NULL.
    Anything else fails as 1265 (:func:`enum_violation`), as MariaDB's strict mode."""
    quoted = _ident(column)
    allowed = ", ".join(
        [_literal(label) for label in labels]
        + [_literal(str(i)) for i in range(1, len(labels) + 1)]
    )
    return (
        f"CONSTRAINT {_ident(_ENUM_PREFIX + column)} "
        f"CHECK ({quoted} IS NULL OR {quoted} IN ({allowed}))"
    )


def enum_canonical(column: str, labels: tuple[str, ...]) -> str:
    """The stored label for the column's value: a collation-equal label, else the label
    at an index given as digits (a label match wins, as in MySQL)."""
    quoted = _ident(column)
    whens = [f"WHEN {_literal(label)} THEN {_literal(label)}" for label in labels]
    whens += [
        f"WHEN {_literal(str(i))} THEN {_literal(label)}" for i, label in enumerate(labels, 1)
    ]
    return f"CASE {quoted} {' '.join(whens)} ELSE {quoted} END"


def enum_is_canonical(ref: str, labels: tuple[str, ...]) -> str:
    """SQL true when ``ref`` is NULL or byte-for-byte one of the labels."""
    return f"({ref} IS NULL OR {ref} COLLATE BINARY IN ({', '.join(_literal(x) for x in labels)}))"


# ENUM collations. An ENUM column compares with a string by label (under its
# collation) and with a number by index: ``size = 3``, ``size > 1``. SQLite turns the
# number into text before comparing with a TEXT column (affinity), so a collation that
# knows the labels can give both meanings: two labels compare by the base collation's
# key, a string of digits that is no label compares with a label by the label's index.
# The labels are encoded in the collation's name, so any connection can rebuild it
# from the schema text alone (:func:`register_collations_in`); names live in one
# process-wide registry, and each connection registers what it lacks before a statement
# (:func:`sync_collations`: one integer comparison when nothing is new).
_ENUM_COLLATION = re.compile(r"sg_enumc\$(\w+)\$([0-9a-f]*)")
_ENUM_COMPARATORS: dict[str, Callable[[str, str], int]] = {}
_enum_lock = threading.Lock()


def enum_collation(labels: tuple[str, ...], base: str) -> str:
    """The collation name of an ENUM column with ``labels`` under MySQL collation
    ``base`` (registered process-wide)."""
    name = f"sg_enumc${base.lower()}$" + "\x00".join(labels).encode().hex()
    _register_enum(name, base.lower(), labels)
    return name


def _register_enum(name: str, base: str, labels: tuple[str, ...]) -> None:
    if name in _ENUM_COMPARATORS:
        return
    key = COLLATION_KEYS.get(base, mysql_collations.binary_nopad)
    index: dict[Any, int] = {}
    for i, label in enumerate(labels, 1):
        index.setdefault(key(label), i)

    def rank(s: str) -> tuple[int, Any]:
        k = key(s)
        if k in index:
            return 0, k
        digits = s.strip()
        if digits.isdigit():
            return 1, int(digits)
        return 0, k

    def compare(a: str, b: str) -> int:
        (ka, va), (kb, vb) = rank(a), rank(b)
        if ka != kb:  # a number against a label: the label's index
            if ka == 1:
                vb = index.get(vb, 0)
            else:
                va = index.get(va, 0)
        if va == vb:
            return 0
        return -1 if va < vb else 1

    with _enum_lock:
        _ENUM_COMPARATORS[name] = compare


def register_collations_in(text: str) -> None:
    """Register the ENUM collations named in ``text`` (a schema or a DDL statement)."""
    for m in _ENUM_COLLATION.finditer(text):
        try:
            labels = tuple(bytes.fromhex(m.group(2)).decode().split("\x00"))
        except ValueError:
            continue
        _register_enum(m.group(0), m.group(1), labels)


def enum_generation() -> int:
    """Changes whenever an ENUM collation is added to the registry."""
    return len(_ENUM_COMPARATORS)


def sync_collations(conn: sqlite3.Connection, have: set[str]) -> None:
    """Register on ``conn`` the ENUM collations it lacks (``have``: those it has)."""
    with _enum_lock:
        missing = [(n, c) for n, c in _ENUM_COMPARATORS.items() if n not in have]
    for name, compare in missing:
        conn.create_collation(name, compare)
        have.add(name)


#: Marker of an ENUM collation in SQL text (cheap test before the regex).
ENUM_COLLATION_MARK = "sg_enumc$"


_ENUM_FAILED = re.compile(r"CHECK constraint failed: " + re.escape(_ENUM_PREFIX) + r"(.+)$")


def enum_violation(message: str) -> ShardgateError | None:
    """Error 1265 for an :func:`enum_check` failure (None for other messages)."""
    m = _ENUM_FAILED.search(message)
    if m is None:
        return None
    return ShardgateError(
        f"Data truncated for column '{m.group(1)}' at row 1", code=1265, sqlstate="01000"
    )


def _enum_index(node: exp.Add) -> exp.Expr | None:
    """``(col) + 0`` on an ENUM column the planner tagged: its index (MySQL's meaning),
    as a CASE over the stored labels (canonical, so any comparison works)."""
    if not (isinstance(node.expression, exp.Literal) and node.expression.name == "0"):
        return None
    inner = node.this
    while isinstance(inner, exp.Paren):
        inner = inner.this
    labels = inner.meta.get(ENUM_META) if isinstance(inner, exp.Column) and inner.meta else None
    if not labels:
        return None
    return exp.Case(
        this=inner.copy(),
        ifs=[
            exp.If(this=exp.Literal.string(label), true=exp.Literal.number(i))
            for i, label in enumerate(labels, 1)
        ],
    )


# ---------------------------------------------------------------------- errors
_NO_FUNCTION = re.compile(
    r"no such function: (\w+)|wrong number of arguments to function (\w+)\(\)"
)


def unknown_function(message: str) -> NotSupported | None:
    """1235 naming the function for SQLite's "no such function" (None otherwise)."""
    m = _NO_FUNCTION.search(message)
    if m is None:
        return None
    name = (m.group(1) or m.group(2)).upper()
    if m.group(1):
        return NotSupported(f"function {name}() on the embedded SQLite default")
    return NotSupported(f"this number of arguments to {name}() on the embedded SQLite default")


# ---------------------------------------------------------------------- translation
def _call(name: str, *args: exp.Expr | None) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=[a for a in args if a is not None])


def _mysql_format(node: exp.Expr | None) -> exp.Expr | None:
    """A format literal back in MySQL's letters: sqlglot reads ``DATE_FORMAT``'s (and
    ``MONTHNAME``'s ``%M``) into strftime's (``%B``), which the registered
    ``date_format`` would read as other MySQL specifiers (``%B`` printed ``B``)."""
    if isinstance(node, exp.Literal) and node.is_string:
        return exp.Literal.string(
            format_time(node.name, MySQL.INVERSE_TIME_MAPPING, MySQL.INVERSE_TIME_TRIE) or ""
        )
    return node


def _unwrap_date(node: exp.Expr | None) -> exp.Expr | None:
    # sqlglot wraps MySQL date arguments in TsOrDsTo* casts that render as SQLite's
    # DATE(); the registered functions parse the stored text themselves.
    while isinstance(node, exp.TsOrDsToDate | exp.TsOrDsToTimestamp):
        node = node.this
    return node


def _interval(node: exp.Expr) -> tuple[exp.Expr, str] | None:
    if isinstance(node, exp.Interval):
        unit = node.args.get("unit")
        value = node.this
        if value is None or unit is None:
            return None
        return value, unit.name.upper()
    return None


def _translate(node: exp.Expr) -> exp.Expr | None:
    """The replacement of one node for SQLite, None to keep it."""
    if isinstance(
        node, exp.Stddev | exp.StddevPop | exp.StddevSamp | exp.Variance | exp.VariancePop
    ):
        # SQLite has none: refused when rendered, so a statement routed to one shard
        # runs the coordinator's merge of exact partials instead (sql/plan._plan_group).
        name = node.sql(dialect="mysql").partition("(")[0].upper()
        raise NotSupported(f"function {name}() on the embedded SQLite default")
    if isinstance(node, exp.Length):
        return _call("octet_length" if node.args.get("binary") else "char_length", node.this)
    if isinstance(node, exp.ConcatWs):  # before Concat: ConcatWs is a subclass of it
        return _call("concat_ws", *node.expressions)
    if isinstance(node, exp.Concat):
        return _call("concat", *node.expressions)
    if isinstance(node, exp.Pad):
        return _call(
            "lpad" if node.args.get("is_left") else "rpad",
            node.this,
            node.expression,
            node.args.get("fill_pattern"),
        )
    if isinstance(node, exp.Elt):
        return _call("elt", node.this, *node.expressions)
    if isinstance(node, exp.MD5):
        return _call("md5", node.this)
    if isinstance(node, exp.SHA):
        return _call("sha1", node.this)
    if isinstance(node, exp.SHA2):
        return _call("sha2", node.this, node.args.get("length") or exp.Literal.number(256))
    if isinstance(node, exp.Substring):
        return _call(
            "substring",
            node.this,
            node.args.get("start") or exp.Literal.number(1),
            node.args.get("length"),
        )
    if isinstance(node, exp.Left):
        return _call("sg_left", node.this, node.expression)
    if isinstance(node, exp.Right):
        return _call("sg_right", node.this, node.expression)
    if isinstance(node, exp.StrPosition):
        return _call("locate", node.args.get("substr"), node.this, node.args.get("position"))
    if isinstance(node, exp.Greatest | exp.Least):
        return _call(
            "greatest" if isinstance(node, exp.Greatest) else "least", node.this, *node.expressions
        )
    if isinstance(node, exp.RegexpLike):
        if bool(node.meta) and "start" in node.meta:
            # REGEXP_LIKE(...) written as a call: MariaDB has no such function
            # (sharding.sql.shard_dialect), so its answer is error 1305, not a value.
            raise ShardgateError("FUNCTION REGEXP_LIKE does not exist", code=1305, sqlstate="42000")
        if node.args.get("flag") is not None:
            return None
        return _call("regexp", node.expression, node.this)
    if isinstance(node, exp.Xor):
        return _call("xor", node.this, node.expression)
    if isinstance(node, exp.Year | exp.Month | exp.Day | exp.DayOfMonth):
        name = {exp.Year: "year", exp.Month: "month", exp.Day: "day", exp.DayOfMonth: "day"}[
            type(node)
        ]
        return _call(name, _unwrap_date(node.this))
    if isinstance(node, exp.TimeToStr):
        return _call("date_format", _unwrap_date(node.this), _mysql_format(node.args.get("format")))
    if isinstance(node, exp.Anonymous) and node.name.upper() in ("ADDDATE", "SUBDATE"):
        # ADDDATE(d, INTERVAL n unit) is DATE_ADD; ADDDATE(d, n) adds n days.
        if len(node.expressions) != 2:
            return None
        name = "date_add" if node.name.upper() == "ADDDATE" else "date_sub"
        first, second = node.expressions
        iv = _interval(second)
        if iv is not None:
            return _call(name, first, iv[0], exp.Literal.string(iv[1]))
        return _call(name, first, second, exp.Literal.string("DAY"))
    if isinstance(node, exp.TimestampAdd):
        unit = node.args.get("unit")
        return _call(
            "date_add",
            node.this,
            node.expression,
            exp.Literal.string(unit.name.upper() if unit is not None else "DAY"),
        )
    if isinstance(node, exp.DateAdd | exp.DateSub):
        unit = node.args.get("unit")
        return _call(
            "date_add" if isinstance(node, exp.DateAdd) else "date_sub",
            node.this,
            node.expression,
            exp.Literal.string(unit.name.upper() if unit is not None else "DAY"),
        )
    if isinstance(node, exp.Add | exp.Sub):
        if isinstance(node, exp.Add):
            index = _enum_index(node)
            if index is not None:
                return index
        iv = _interval(node.expression)
        if iv is not None:
            return _call(
                "date_add" if isinstance(node, exp.Add) else "date_sub",
                node.this,
                iv[0],
                exp.Literal.string(iv[1]),
            )
        iv = _interval(node.this)
        if iv is not None and isinstance(node, exp.Add):
            return _call("date_add", node.expression, iv[0], exp.Literal.string(iv[1]))
        return None
    if isinstance(node, exp.DateDiff):
        return _call("datediff", node.this, node.expression)
    if isinstance(node, exp.TimestampDiff):
        unit = node.args.get("unit")
        return _call(
            "timestampdiff",
            exp.Literal.string(unit.name.upper() if unit is not None else "DAY"),
            node.expression,
            node.this,
        )
    if isinstance(node, exp.Extract):
        return _call(
            "sg_extract", exp.Literal.string(node.this.name.upper()), _unwrap_date(node.expression)
        )
    if isinstance(node, exp.DayOfWeek | exp.DayOfYear | exp.Week):
        name = {exp.DayOfWeek: "dayofweek", exp.DayOfYear: "dayofyear", exp.Week: "week"}[
            type(node)
        ]
        return _call(name, _unwrap_date(node.this), node.args.get("mode"))
    if isinstance(node, exp.Space):
        return _call("repeat", exp.Literal.string(" "), node.this)
    if isinstance(node, exp.Rand):
        return _call("rand", node.this)
    if isinstance(node, exp.UnixToTime):
        return _call("from_unixtime", node.this, node.args.get("format"))
    if isinstance(node, exp.CurrentTimestamp):
        return _call("now")
    if isinstance(node, exp.CurrentDate):
        return _call("curdate")
    if isinstance(node, exp.Trunc):
        return _call("truncate", node.this, node.args.get("decimals") or exp.Literal.number(0))
    if isinstance(node, exp.NumberToStr):
        return _call("format", node.this, node.args.get("format"))
    if isinstance(node, exp.Log):
        log_name = _log_name(node)
        return None if log_name is None else _call(log_name, node.expression)
    if isinstance(node, exp.Div):
        # MySQL's ``/`` as a call the shard's result typing recognises (a DECIMAL
        # quotient, :mod:`sharding.backend.sqlite_decimal_results`); sqlglot's
        # ``CAST(a AS REAL) / b`` would be indistinguishable from ``CAST(a AS DOUBLE)``.
        return _call("sg_div", node.this, node.expression)
    if isinstance(node, exp.Mod):
        return _call("mod", node.this, node.expression)
    if isinstance(node, exp.IntDiv):
        return _call("sg_intdiv", node.this, node.expression)
    if isinstance(node, exp.BitwiseNot):
        # MySQL's bit operators work on unsigned 64 bits (``~0`` is 18446744073709551615,
        # ``-8 >> 1`` 9223372036854775804); SQLite's on signed ones, and it has no ``^``.
        return _call("sg_unsigned", _call("sg_bitnot", node.this))
    if isinstance(node, _BIT_NODES[1:]):
        name = _BIT_OPERATORS[type(node)]
        return _call("sg_unsigned", _call(name, node.this, node.expression))
    if isinstance(node, _BIT_AGGREGATES_NODES) and isinstance(node.parent, exp.Window):
        name = _BIT_AGGREGATES[type(node)][3:].upper()
        raise NotSupported(f"{name}() as a window function on the SQLite default")
    if isinstance(node, _BIT_AGGREGATES_NODES) and not isinstance(node.this, exp.Distinct):
        # MySQL's BIT_AND/OR/XOR (sqlite_bit_aggregates): their bits read back unsigned.
        # sg_bit_rows: the operation's identity where SQLite's aggregate of no rows is NULL.
        name = _BIT_AGGREGATES[type(node)]
        ones = exp.Literal.number(int(name == "sg_bit_and"))
        return _call("sg_unsigned", _call("sg_bit_rows", _call(name, node.this), ones))
    if isinstance(node, exp.GroupConcat) and isinstance(node.this, exp.Order):
        raise NotSupported(
            "GROUP_CONCAT(… ORDER BY …) computed on one shard of the SQLite default "
            "(SQLite before 3.44 has no ordered aggregates)"
        )
    if isinstance(node, exp.Cast | exp.TryCast):
        to = node.args.get("to")
        if isinstance(to, exp.DataType):
            if to.this in (exp.DataType.Type.BIGINT, exp.DataType.Type.INT):
                return _call("sg_signed", node.this)
            if to.this in (exp.DataType.Type.UBIGINT, exp.DataType.Type.UINT):
                return _call("sg_unsigned", node.this)
            if to.this in (exp.DataType.Type.DECIMAL, exp.DataType.Type.UDECIMAL):
                # CAST(x AS DECIMAL(p,s)) rounds to s digits (default 0), half away
                # from zero; the value stays a SQLite number (module doc).
                # The scale may be a parameter hole (literals are slots): keep its node.
                scale = to.expressions[1].this if len(to.expressions) > 1 else exp.Literal.number(0)
                # MySQL's default precision: DECIMAL is DECIMAL(10, 0).
                digits = to.expressions[0].this if to.expressions else exp.Literal.number(10)
                # Its own name: the shard's result typing gives it scale s (also of an
                # integer), and a DOUBLE argument still rounds half up (not ROUND's rint).
                # A value past p digits is cut to the largest one, with MySQL's 1264.
                return _call(
                    "sg_cast_decimal",
                    node.this,
                    scale,
                    digits,
                    exp.Literal.string(_item_name(node)),
                )
            if to.this == exp.DataType.Type.CHARACTER_SET:
                # CONVERT(x USING utf8mb4): text is utf8mb4 already, a binary string's
                # bytes become text; USING binary: the bytes (sqlite_binary_store).
                charset = to.args.get("kind")
                if isinstance(charset, exp.Expr) and charset.name.lower() == "binary":
                    return _call("sg_binary", node.this)
                return _call("sg_text", node.this)
        return None
    return None


def _log_name(node: exp.Log) -> str | None:
    """``sg_log10``/``sg_log2`` for ``LOG10(x)``/``LOG2(x)``, None for ``LOG(b, x)``
    (told apart by :func:`sharding.sql.shard_dialect.log_function_name`)."""
    name = log_function_name(node)
    return None if name is None else f"sg_{name.lower()}"


_BIT_OPERATORS: dict[type[exp.Expr], str] = {
    exp.BitwiseXor: "sg_bitxor",
    exp.BitwiseAnd: "sg_bitand",
    exp.BitwiseOr: "sg_bitor",
    exp.BitwiseLeftShift: "sg_shl",
    exp.BitwiseRightShift: "sg_shr",
}

_BIT_AGGREGATES: dict[type[exp.Expr], str] = {
    exp.BitwiseAndAgg: "sg_bit_and",
    exp.BitwiseOrAgg: "sg_bit_or",
    exp.BitwiseXorAgg: "sg_bit_xor",
}
_BIT_AGGREGATES_NODES = tuple(_BIT_AGGREGATES)

_BIT_NAMES = frozenset({"sg_bitnot", "sg_bit_rows", *_BIT_OPERATORS.values()})
#: Calls whose argument takes its bits as they are (no sg_unsigned around them).
_BITS_TAKEN = _BIT_NAMES | frozenset(_BIT_AGGREGATES.values())
_BIT_NODES: tuple[type[exp.Expr], ...] = (exp.BitwiseNot, *_BIT_OPERATORS)

#: Every node class :func:`_translate` may replace: one ``isinstance`` per node keeps
#: the pass cheap on huge statements (a 50,000-value IN list).
_TRANSLATED: tuple[type[exp.Expr], ...] = (
    exp.Stddev,
    exp.StddevPop,
    exp.StddevSamp,
    exp.Variance,
    exp.VariancePop,
    exp.Length,
    exp.Concat,
    exp.Pad,
    exp.Elt,
    exp.MD5,
    exp.SHA,
    exp.SHA2,
    exp.Substring,
    exp.Left,
    exp.Right,
    exp.StrPosition,
    exp.Greatest,
    exp.Least,
    exp.RegexpLike,
    exp.Xor,
    exp.Year,
    exp.Month,
    exp.Day,
    exp.DayOfMonth,
    exp.TimeToStr,
    exp.DateAdd,
    exp.DateSub,
    exp.TimestampAdd,
    exp.Anonymous,
    exp.Add,
    exp.Sub,
    exp.DateDiff,
    exp.TimestampDiff,
    exp.Extract,
    exp.DayOfWeek,
    exp.DayOfYear,
    exp.Week,
    exp.Space,
    exp.Rand,
    exp.UnixToTime,
    exp.CurrentTimestamp,
    exp.CurrentDate,
    exp.Trunc,
    exp.NumberToStr,
    exp.Log,
    exp.Div,
    exp.Mod,
    exp.IntDiv,
    exp.Cast,
    exp.TryCast,
    exp.BitwiseNot,
    exp.BitwiseXor,
    exp.BitwiseAnd,
    exp.BitwiseOr,
    exp.BitwiseLeftShift,
    exp.BitwiseRightShift,
    *_BIT_AGGREGATES,
    exp.GroupConcat,
)


def _unqualified_set_targets(tree: exp.Expr) -> None:
    """``UPDATE t SET t.qty = 1`` (ORMs qualify the column): SQLite's SET names a
    column of the one table without a qualifier (a qualified one is its syntax error)."""
    for update in tree.find_all(exp.Update):
        for assignment in update.expressions:
            target = assignment.this if isinstance(assignment, exp.EQ) else None
            if isinstance(target, exp.Column) and target.table:
                target.replace(exp.column(target.this.copy()))


def _string_introducers(tree: exp.Expr) -> None:
    """``_utf8mb4'z'``, ``_latin1 'q'``, ``N'n'``: the string (SQLite has no character
    set introducers: ``_utf8mb4`` was read as a column, 1054); ``_binary'x'`` the blob
    of its UTF-8 bytes, as MySQL's binary string."""
    for node in list(tree.find_all(exp.Introducer, exp.National)):
        if node is tree or node.parent is None:
            continue
        if isinstance(node, exp.National):
            node.replace(exp.Literal.string(str(node.this)))
            continue
        value = node.expression
        if not isinstance(value, exp.Literal) or not value.is_string:
            continue
        if str(node.this).lower() == "_binary":
            node.replace(exp.HexString(this=value.name.encode("utf-8").hex()))
        else:
            node.replace(value.copy())


def _hex_numbers(tree: exp.Expr) -> None:
    """``0x..`` literals where MySQL reads them as numbers: integers, or marked for the
    shard to decide by a compared column's type (:mod:`sharding.backend.sqlite_hex_literals`)."""
    from sharding.backend.sqlite_hex_literals import bit_literal, number_or_marked

    hexes = [h for h in tree.find_all(exp.HexString) if h is not tree and h.this]
    for bit in list(tree.find_all(exp.BitString)):
        if bit is not tree:
            # b'..', 0b..: the same, from the bytes of its bits (sqlglot made it an integer)
            bit_literal(bit)
    from sharding.sql.shard_dialect import hex_is_number_form

    for node in hexes:
        digits = str(node.this)
        number = hex_is_number_form(node)
        if len(digits) % 2:
            # 0xe is the byte 0x0e (SQLite's x'e' is a syntax error; MySQL's X'e' too)
            node.set("this", "0" + digits)
        if number and len(digits) > 16:
            continue
        new = number_or_marked(node, int(digits, 16) if number else None)
        if new is not None:
            node.replace(new)


def _is_json_constructor(node: exp.Expr) -> bool:
    return isinstance(node, exp.JSONObject) or (
        isinstance(node, exp.Anonymous) and node.name.upper() == "JSON_ARRAY"
    )


#: Functions returning a JSON document SQLite writes compact (MariaDB: spaced).
_JSON_DOCUMENT_CALLS = frozenset({"JSON_SET", "JSON_INSERT", "JSON_REPLACE", "JSON_REMOVE"})


def _select_item(node: exp.Expr) -> bool:
    """Whether ``node`` is (under an alias or parentheses) an item of a select list."""
    child, parent = node, node.parent
    while isinstance(parent, exp.Alias | exp.Paren):
        child, parent = parent, parent.parent
    return isinstance(parent, exp.Select) and child.arg_key == "expressions"


#: Text types a CAST may name with a length (``CAST(x AS CHAR(3))``), and the name
#: MySQL's 1292 gives them (``VARCHAR(3)`` is told as ``CHAR(3)``).
_CUT_TEXT_TYPES = {
    exp.DataType.Type.CHAR: "CHAR",
    exp.DataType.Type.NCHAR: "CHAR",
    exp.DataType.Type.VARCHAR: "CHAR",
    exp.DataType.Type.NVARCHAR: "CHAR",
    exp.DataType.Type.CHARACTER_SET: "CHAR",
}


def _char_lengths(tree: exp.Expr) -> None:
    """``CAST(x AS CHAR(n))`` / ``BINARY(n)`` (and ``CONVERT(x, CHAR(n))``): SQLite's
    CAST ignores the length. The cast loses it and is read through ``sg_cut_text`` /
    ``sg_cut_binary`` (MySQL's first n characters or bytes, a BINARY padded with zero
    bytes, 1292 for a cut value); the cast itself stays, so its text is MySQL's."""
    for cast in list(tree.find_all(exp.Cast)):
        to = cast.args.get("to")
        if cast is tree or not isinstance(to, exp.DataType) or not to.expressions:
            continue
        length = to.expressions[0]
        if not isinstance(length, exp.DataTypeParam):
            continue
        if to.this in _CUT_TEXT_TYPES:
            name, args = "sg_cut_text", [length.this, exp.Literal.string(_CUT_TEXT_TYPES[to.this])]
            to.set("expressions", [])
        elif to.this in (exp.DataType.Type.BINARY, exp.DataType.Type.VARBINARY):
            name, args = "sg_cut_binary", [length.this]
            if _bytes_written(cast.this):
                to.set("expressions", [])  # X'…', _binary'…': cut by bytes
            else:
                # MariaDB keeps n characters of a text: cut MySQL's text of the value.
                # A BLOB/BINARY column's bytes are read as UTF-8 text here (the shard
                # statement's template knows no column types): docs/refusals.md.
                cast.set("to", exp.DataType.build("CHAR"))
        else:
            continue
        wrapper = exp.Anonymous(this=name, expressions=[])
        cast.replace(wrapper)
        wrapper.set("expressions", [cast, *args])


def _bytes_written(node: exp.Expr) -> bool:
    """A binary string as the statement writes it: ``X'…'``, ``0x…``, ``_binary'…'``."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.HexString):
        return True
    return isinstance(node, exp.Introducer) and node.name.lower() == "_binary"


def _item_name(node: exp.Expr) -> str:
    """The name MySQL's 1264 of ``node`` gives: its alias when it is a select item
    named by one, '(null)' when it is part of an expression (MariaDB's own text). An
    unnamed select item's name is the client's text of it, which this template does
    not hold (its literals are plan-cache holes): '(null)' too (docs/refusals.md)."""
    parent = node.parent
    if isinstance(parent, exp.Alias) and "?" not in parent.alias:
        return parent.alias
    return "(null)"


def _wrap(node: exp.Expr, name: str) -> None:
    """``node`` becomes ``name(node)``, keeping the node itself (and its children,
    still to be translated) in the tree."""
    wrapper = exp.Anonymous(this=name, expressions=[])
    node.replace(wrapper)
    wrapper.set("expressions", [node])


_JSON_NODES = (exp.JSONObject, exp.JSONType, exp.JSONExtract, exp.JSONSet, exp.JSONRemove)


def _json_texts(tree: exp.Expr) -> None:
    """JSON as MariaDB writes it, in one pass over the tree:

    * each outermost ``JSON_OBJECT``/``JSON_ARRAY`` read through ``sg_json_text``
      (MariaDB's spacing, :func:`_json_text`); a nested one stays SQLite's JSON value
      (so it is not quoted as a string); ``TRUE``/``FALSE`` among their values are
      JSON's ``true``/``false`` (SQLite's are 1 and 0);
    * ``JSON_TYPE`` through ``sg_json_type_name`` (MySQL's names);
    * a document a select item returns (``JSON_EXTRACT``, ``JSON_SET``, …) through
      ``sg_json_text`` (in a condition the text is left as SQLite's, compared as
      before); each path of a ``JSON_SET``/``JSON_INSERT`` checked when the statement
      runs (a literal may be a plan-cache slot here): past an array's end MySQL
      appends, SQLite's ``json_set``/``json_insert`` do nothing."""
    for node in list(tree.find_all(*_JSON_NODES, exp.Anonymous)):
        named = node.name.upper() if isinstance(node, exp.Anonymous) else ""
        if isinstance(node, exp.Anonymous) and named not in _JSON_CALLS:
            continue
        if _is_json_constructor(node):
            _json_constructor(node, tree)
            continue
        if node is tree:
            continue
        if isinstance(node, exp.JSONType):
            _wrap(node, "sg_json_type_name")
            continue
        if isinstance(node, exp.JSONSet) or named == "JSON_INSERT":
            args = list(node.expressions)
            for path in args[0::2] if isinstance(node, exp.JSONSet) else args[1::2]:
                _wrap(path, "sg_json_object_path")
        if _select_item(node):
            _wrap(node, "sg_json_text")


#: The JSON functions sqlglot leaves anonymous that :func:`_json_texts` handles.
_JSON_CALLS = _JSON_DOCUMENT_CALLS | {"JSON_ARRAY"}


def _json_constructor(node: exp.Expr, tree: exp.Expr) -> None:
    values = (
        [kv.expression for kv in node.expressions if isinstance(kv, exp.JSONKeyValue)]
        if isinstance(node, exp.JSONObject)
        else list(node.expressions)
    )
    for value in values:
        if isinstance(value, exp.Boolean):
            value.replace(
                exp.Anonymous(
                    this="json",
                    expressions=[exp.Literal.string("true" if value.this else "false")],
                )
            )
    if node is tree:
        return
    parent = node.parent
    while isinstance(parent, exp.Paren | exp.JSONKeyValue):
        parent = parent.parent
    if parent is not None and not _is_json_constructor(parent):
        _wrap(node, "sg_json_text")


def translate_for_sqlite(tree: exp.Expr) -> None:
    """Replace, in place, MySQL function nodes whose sqlglot SQLite rendering would
    change their meaning by calls to the registered functions (module doc).

    The root is kept (the caller holds it); a root function node renders with sqlglot's
    own translation. ``/`` becomes ``sg_div(a, b)``: MySQL's meaning (never integer
    division, NULL for ``/ 0``), recognisable by the shard's result typing."""
    _char_lengths(tree)  # first: it reads a binary string as written (X'…', _binary'…')
    _hex_numbers(tree)
    _string_introducers(tree)
    _unqualified_set_targets(tree)
    _json_texts(tree)
    bits = False
    for node in list(tree.walk(bfs=False)):
        if not isinstance(node, _TRANSLATED) or node is tree or node.parent is None:
            continue  # nothing to do (most nodes), the root, or detached
        new = _translate(node)
        if new is not None:
            node.replace(new)
            bits = bits or isinstance(node, _BIT_NODES + _BIT_AGGREGATES_NODES)
    if bits:
        # A bit operator's operand that is one itself takes its bits as they are
        # (``(a & b) | c``): only the outermost is read back as an unsigned value.
        for call in list(tree.find_all(exp.Anonymous)):
            parent = call.parent
            while isinstance(parent, exp.Paren):
                parent = parent.parent
            if (
                call.name == "sg_unsigned"
                and isinstance(parent, exp.Anonymous)
                and parent.name in _BITS_TAKEN
                and len(call.expressions) == 1
                and isinstance(call.expressions[0], exp.Anonymous)
                and call.expressions[0].name in _BIT_NAMES
            ):
                call.replace(call.expressions[0])
