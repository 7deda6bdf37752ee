"""Value semantics of a backend dialect: ordering, collation, arithmetic, affinity.

Whatever the coordinator computes itself — merge order, grouping, MIN/MAX of partials,
AVG from SUM/COUNT, HAVING and expressions over merged rows — must give exactly what
the backend would have given for the whole table. So every dialect-dependent rule lives
here, in one table per dialect, and the merge primitives and the expression evaluator
take a :class:`Semantics` instead of hard-coding SQLite's or MySQL's behaviour.

SQLite rules mirrored (https://sqlite.org/datatype3.html):

* Storage-class order ``NULL < INTEGER/REAL < TEXT < BLOB``; numbers compare by value
  (``1 = 1.0``); text by collation (BINARY = memcmp of UTF-8, which orders exactly like
  Python's code-point comparison of ``str``).
* NULLs first in ascending order, last in descending order (MySQL agrees).
* ``int / int`` truncates toward zero (the embedded default renders MySQL's ``/``
  as real division instead, and :data:`SQLITE` follows it); ``x / 0`` and ``x % 0`` are NULL; integer
  overflow in ``+ - *`` turns the result into a REAL.
* Comparison affinity: a column with INTEGER/REAL/NUMERIC affinity converts a TEXT
  operand that looks like a number; a TEXT column converts a number to text.
* ``AVG`` is always a REAL (``sum / count``), NULL over no rows.

The MySQL table (:data:`MYSQL`, a :class:`MySQLSemantics`) was measured against
MariaDB 10.11 (``tests/backend_mysql/test_semantics_mysql.py`` and the differential
corpus compare with the server itself), not transcribed from documentation:

* Collations: ``utf8mb4_general_ci`` (the default), ``utf8mb4_unicode_ci``, the
  ``_bin`` and ``_nopad_`` variants, from weights measured with ``WEIGHT_STRING``
  (:mod:`sharding.merge.mysql_collations`), PAD SPACE included (``'a' = 'a '``,
  ``'a\t' < 'a'``). An unknown collation is refused (NotSupported), never guessed.
* Numbers keep MySQL's types: ``int ⊕ int`` is an integer (out of BIGINT range: error
  1690), anything with a DECIMAL is a DECIMAL, anything with a DOUBLE or a string is a
  DOUBLE (strings convert by their numeric prefix: ``'3x' + 1 = 4.0``). Scales follow
  the server: ``+ - %`` keep the larger, ``*`` adds them, ``/`` adds
  ``div_precision_increment`` (4) to the dividend's; ``int / int`` is a DECIMAL.
* Division is computed the server's way: the quotient is *truncated* to whole 9-digit
  words of fraction (``1/3`` is 0.333333333 inside), and only the value sent to the
  client is rounded half up to the declared scale (0.3333) — so ``AVG(i) * 2`` is
  ``-0.6667``, not ``-0.3333 * 2``. Such values are :class:`MySQLDecimal`: a
  ``Decimal`` holding the client's rounded value, carrying the exact inner value for
  further arithmetic and comparison.
* ``AVG`` of integers/decimals is a DECIMAL (scale + 4) computed as above, of doubles a
  DOUBLE; ``SUM`` of integers/decimals is a DECIMAL, of doubles a DOUBLE; ``DIV``
  truncates to an integer; ``x / 0``, ``x % 0``, ``x DIV 0`` are NULL.
* Comparisons: a string against a number compares both as DOUBLE; NULLs sort first
  ascending (as SQLite).

Invariant: :meth:`Semantics.sort_key` is a total preorder consistent with the backend's
``ORDER BY`` for values of the same column, and two values have equal keys exactly when
the backend's ``GROUP BY`` puts them in one group.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal
from typing import Any

from sharding.merge import mysql_collations

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

#: Rank of each storage class in the backend's ordering; NULL is placed per sort item.
RANK_NUMBER = 1
RANK_TEXT = 2
RANK_BLOB = 3

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_NUMERIC_PREFIX = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*\Z")


class Desc:
    """Wraps a value so that it orders in reverse (DESC keys of text and blobs).

    Numbers are negated instead (cheaper); this wrapper is for values without a
    negation.
    """

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: Desc) -> bool:
        return bool(other.v < self.v)

    def __gt__(self, other: Desc) -> bool:
        return bool(other.v > self.v)

    def __le__(self, other: Desc) -> bool:
        return bool(other.v <= self.v)

    def __ge__(self, other: Desc) -> bool:
        return bool(other.v >= self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and bool(self.v == other.v)

    def __hash__(self) -> int:
        return hash(self.v)

    def __repr__(self) -> str:
        return f"Desc({self.v!r})"


Collation = Callable[[str], Any]


def _binary(s: str) -> str:
    return s


def _nocase(s: str) -> str:
    return s.translate(_ASCII_LOWER)


def _rtrim(s: str) -> str:
    return s.rstrip(" ")


def _general_ci(s: str) -> str:
    # utf8mb4_general_ci: case-insensitive, accents folded per character, PAD SPACE.
    # casefold() + trailing-space trim is the closest cheap approximation; the MySQL
    # backend helper may replace it with an exact weight table.
    return s.rstrip(" ").casefold()


@dataclass(frozen=True)
class SortItem:
    """One ``ORDER BY`` item of a merge: which column, direction, NULL placement."""

    index: int
    desc: bool = False
    #: None: the dialect default (NULLs first in ASC, last in DESC).
    nulls_first: bool | None = None
    collation: str | None = None
    #: The labels of an ENUM column, in definition order: such a column sorts by its
    #: index (``''``, the invalid value, first), not by its text (MySQL).
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Semantics:
    """The value rules of one backend dialect (see the module docstring)."""

    name: str
    #: sqlglot dialect used to render SQL for this backend.
    dialect: str
    default_collation: str
    #: ``int / int`` gives an int (SQLite) rather than a fraction (MySQL).
    integer_division: bool
    #: SQL spelling of null-safe equality: ``a IS b`` (SQLite) / ``a <=> b`` (MySQL).
    null_safe_eq: str
    #: Name of an implicit unique row id usable as a keyset tiebreaker, if any.
    implicit_row_id: str | None
    #: AVG result from the merged SUM and COUNT.
    avg_decimal: bool = False
    collations: dict[str, Collation] = field(default_factory=dict)

    # ------------------------------------------------------------ collation/order
    def collation(self, name: str | None) -> Collation:
        key = (name or self.default_collation).lower()
        try:
            return self.collations[key]
        except KeyError:
            from sharding.errors import NotSupported

            raise NotSupported(
                f"collation {name!r} is not supported for merging results on {self.name}"
            ) from None

    def nulls_first(self, item: SortItem) -> bool:
        if item.nulls_first is not None:
            return item.nulls_first
        return not item.desc

    def value_key(self, value: Any, collate: Collation) -> tuple[Any, ...]:
        """Ascending key of one non-NULL value (storage-class rank, then value)."""
        if isinstance(value, bool):
            return (RANK_NUMBER, int(value))
        if isinstance(value, int | float | Decimal):
            return (RANK_NUMBER, value)
        if isinstance(value, str):
            return (RANK_TEXT, collate(value))
        if isinstance(value, bytes | bytearray | memoryview):
            return (RANK_BLOB, bytes(value))
        return (RANK_TEXT, collate(str(value)))

    def group_key(self, value: Any, collate: Collation) -> Any:
        """Hashable key: equal exactly when the backend would group the values together."""
        if value is None:
            return None
        if isinstance(value, str):
            key = collate(value)
            return (RANK_TEXT, key.full if isinstance(key, mysql_collations.NoPadKey) else key)
        if isinstance(value, bytes | bytearray | memoryview):
            return (RANK_BLOB, bytes(value))
        if isinstance(value, float) and math.isnan(value):
            return (RANK_NUMBER, "nan")
        return (RANK_NUMBER, value)

    def sort_key(self, items: list[SortItem]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
        """A key function over rows that orders them like the backend's ``ORDER BY``.

        The function is generated as one expression per sort item (the ``namedtuple``
        technique): merge speed is dominated by computing keys, and composing closures
        costs a Python call per item per row. Ints, floats and (binary-collated) text
        take the inline fast path; everything else goes through :meth:`value_key`.
        """
        namespace: dict[str, Any] = {"Desc": Desc, "value_key": self.value_key}
        parts = []
        for n, item in enumerate(items):
            collate = self.collation(item.collation)
            namespace[f"c{n}"] = collate
            null = "(-1,)" if self.nulls_first(item) else "(9,)"
            v = f"row[{int(item.index)}]"
            if item.enum is not None:
                namespace[f"e{n}"] = enum_index(item.enum, collate)
                sign = "-" if item.desc else ""
                parts.append(f"({null} if (t{n} := {v}) is None else (1, {sign}e{n}(t{n})))")
                continue
            if not item.desc:
                text = f"(2, t{n})" if collate is _binary else f"(2, c{n}(t{n}))"
                part = (
                    f"({null} if (t{n} := {v}) is None else (1, t{n}) if type(t{n}) in NUM "
                    f"else {text} if type(t{n}) is str else value_key(t{n}, c{n}))"
                )
            else:
                part = (
                    f"({null} if (t{n} := {v}) is None else (3, -t{n}) if type(t{n}) in NUM "
                    f"else desc_key(t{n}, c{n}))"
                )
            parts.append(part)
        namespace["NUM"] = (int, float)
        namespace["desc_key"] = self._desc_key
        body = "(" + ", ".join(parts) + ",)"
        code = f"def key(row):\n    return {body}\n"
        exec(code, namespace)
        key: Callable[[tuple[Any, ...]], tuple[Any, ...]] = namespace["key"]
        return key

    def _desc_key(self, v: Any, collate: Collation) -> tuple[Any, ...]:
        rank, val = self.value_key(v, collate)
        if rank == RANK_NUMBER:
            return (4 - rank, -val)
        return (4 - rank, Desc(val))

    def compare(self, a: Any, b: Any, collate: Collation | None = None) -> int | None:
        """Three-way comparison (None when either is NULL), no affinity applied."""
        if a is None or b is None:
            return None
        c = collate or self.collation(None)
        ka, kb = self.value_key(a, c), self.value_key(b, c)
        return (ka > kb) - (ka < kb)

    # ------------------------------------------------------------ affinity
    def affinity(self, declared_type: str | None) -> str | None:
        """SQLite's affinity of a declared column type (datatype3.html §3.1)."""
        if declared_type is None:
            return None
        t = declared_type.upper()
        if "INT" in t:
            return "INTEGER"
        if "CHAR" in t or "CLOB" in t or "TEXT" in t:
            return "TEXT"
        if "BLOB" in t or not t.strip():
            return "BLOB"
        if "REAL" in t or "FLOA" in t or "DOUB" in t:
            return "REAL"
        return "NUMERIC"

    def apply_affinity(self, value: Any, affinity: str | None) -> Any:
        """Convert a value the way storing it in a column of that affinity would."""
        if value is None or affinity is None or affinity == "BLOB":
            return value
        if isinstance(value, bool):
            value = int(value)
        if affinity == "TEXT":
            if isinstance(value, int | float | Decimal):
                return _num_to_text(value)
            return value
        if isinstance(value, str):
            parsed = _parse_exact_number(value)
            if parsed is None:
                return value
            value = parsed
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        if affinity == "REAL":
            return float(value) if isinstance(value, int | float) else value
        if isinstance(value, float) and value.is_integer() and INT64_MIN <= value <= INT64_MAX:
            return int(value)
        return value

    def coerce_for_compare(
        self, a: Any, b: Any, aff_a: str | None, aff_b: str | None
    ) -> tuple[Any, Any]:
        """Apply comparison affinity (SQLite datatype3.html §4.2) to both operands."""
        numeric = ("INTEGER", "REAL", "NUMERIC")
        if aff_a in numeric and aff_b not in numeric:
            if isinstance(b, str):
                b = self.apply_affinity(b, "NUMERIC")
        elif aff_b in numeric and aff_a not in numeric:
            if isinstance(a, str):
                a = self.apply_affinity(a, "NUMERIC")
        elif aff_a == "TEXT" and aff_b is None:
            b = _as_text(b)
        elif aff_b == "TEXT" and aff_a is None:
            a = _as_text(a)
        return a, b

    # ------------------------------------------------------------ arithmetic
    def to_number(self, value: Any) -> int | float | Decimal | None:
        """Numeric value of an operand of arithmetic (SQLite: longest numeric prefix)."""
        if value is None:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int | float | Decimal):
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).decode("utf-8", "replace")
        if not isinstance(value, str):
            value = str(value)
        m = _NUMERIC_PREFIX.match(value)
        if not m:
            return 0
        text = m.group(1)
        if _INTEGER_TEXT.match(text):
            n = int(text)
            return n if INT64_MIN <= n <= INT64_MAX else float(n)
        return float(text)

    def truth(self, value: Any) -> bool | None:
        if value is None:
            return None
        n = self.to_number(value)
        return bool(n)

    def _int_result(self, n: int) -> int | float:
        return n if INT64_MIN <= n <= INT64_MAX else float(n)

    def add(self, a: Any, b: Any) -> Any:
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None:
            return None
        if _exact_decimal(x, y):
            return MYSQL.add(x, y)
        if type(x) is int and type(y) is int:
            return self._int_result(x + y)
        return _f(x) + _f(y)

    def sub(self, a: Any, b: Any) -> Any:
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None:
            return None
        if _exact_decimal(x, y):
            return MYSQL.sub(x, y)
        if type(x) is int and type(y) is int:
            return self._int_result(x - y)
        return _f(x) - _f(y)

    def mul(self, a: Any, b: Any) -> Any:
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None:
            return None
        if _exact_decimal(x, y):
            return MYSQL.mul(x, y)
        if type(x) is int and type(y) is int:
            return self._int_result(x * y)
        return _f(x) * _f(y)

    def div(self, a: Any, b: Any) -> Any:
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None or y == 0:
            return None
        if self.integer_division and type(x) is int and type(y) is int:
            q = abs(x) // abs(y)
            return self._int_result(q if (x >= 0) == (y >= 0) else -q)
        if not self.integer_division and not isinstance(x, float) and not isinstance(y, float):
            return MYSQL.div(x, y)  # the SQLite shards' ``/`` is MySQL's exact quotient
        if self.avg_decimal:
            return Decimal(x) / Decimal(y)
        return _f(x) / _f(y)

    def mod(self, a: Any, b: Any) -> Any:
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None:
            return None
        if _exact_decimal(x, y):
            return MYSQL.mod(x, y)
        real = type(x) is not int or type(y) is not int
        xi, yi = int(x), int(y)
        if yi == 0:
            return None
        r = abs(xi) % abs(yi)
        r = r if xi >= 0 else -r
        return float(r) if real else r

    def neg(self, a: Any) -> Any:
        x = self.to_number(a)
        if x is None:
            return None
        if type(x) is int:
            return self._int_result(-x)
        if isinstance(x, Decimal):
            return MYSQL.neg(x)
        return -x

    def intdiv(self, a: Any, b: Any) -> Any:
        """``a DIV b``: the quotient truncated toward zero, an integer; NULL for ``/ 0``."""
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None or y == 0:
            return None
        if type(x) is int and type(y) is int:
            q = abs(x) // abs(y)
            return self._int_result(q if (x >= 0) == (y >= 0) else -q)
        return self._int_result(int(_EXACT.divide_int(Decimal(x), Decimal(y))))

    def avg(self, total: Any, count: int) -> Any:
        """AVG from a merged SUM and COUNT (SQLite: REAL)."""
        if not count or total is None:
            return None
        if self.avg_decimal:
            return (Decimal(total) / Decimal(count)).quantize(Decimal("0.0001"))
        return float(total) / count

    def sum_result(self, total: Any, real: bool) -> Any:
        """SUM's result from the merged total (``real``: some input was not an integer).

        A sum of integers is MySQL's DECIMAL, as the SQLite shards send it
        (:mod:`sharding.backend.sqlite_decimal_results`); DECIMALs stay DECIMAL;
        anything else is a REAL.
        """
        if total is None:
            return None
        if isinstance(total, int) and not real:
            return Decimal(total)
        if isinstance(total, Decimal):
            return total
        return float(total)

    def literal(self, text: str, is_string: bool) -> Any:
        """The value of a SQL literal evaluated by the coordinator: an integer, ``2.5e0``
        a REAL, ``2.5`` a DECIMAL (the SQLite shards type it so too, as MySQL does)."""
        if is_string:
            return text
        try:
            return int(text)
        except ValueError:
            pass
        if "e" in text.lower():
            return float(text)
        return Decimal(text)


def _exact_decimal(x: Any, y: Any) -> bool:
    """A DECIMAL operand and no DOUBLE: the SQLite shards type such arithmetic as MySQL
    does (:mod:`sharding.backend.sqlite_decimal_results`), so the coordinator computes
    it over merged values with MySQL's DECIMAL rules too (scale, inner digits)."""
    return (isinstance(x, Decimal) or isinstance(y, Decimal)) and not (
        isinstance(x, float) or isinstance(y, float)
    )


def _f(x: int | float | Decimal) -> float:
    return float(x)


def _as_text(value: Any) -> Any:
    """TEXT affinity applied to a comparison operand (numbers become their text)."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return _num_to_text(value)
    return value


def _num_to_text(value: int | float | Decimal) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:.1f}"
        return repr(value)
    return str(value)


def _parse_exact_number(text: str) -> int | float | None:
    """A text that is exactly a number (affinity conversion), else None."""
    s = text.strip()
    if not s:
        return None
    if _INTEGER_TEXT.match(s):
        n = int(s)
        return n if INT64_MIN <= n <= INT64_MAX else float(n)
    try:
        f = float(s)
    except ValueError:
        return None
    if not math.isfinite(f) and s.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        return None
    return f


#: The embedded SQLite default answers like MySQL where the shards can (issue 15,
#: :mod:`sharding.backend.sqlite_mysql`): every text column is declared with a MySQL
#: collation, which the catalog records (so merges use the very keys registered in
#: SQLite); an expression without a column collation compares BINARY on a shard, hence
#: the BINARY default here. ``/`` never truncates. Numbers are MySQL's where the shards
#: type them so (:mod:`sharding.backend.sqlite_decimal_results`): ``/`` of exact operands,
#: arithmetic with a DECIMAL, decimal literals and SUM of integers are MySQL's DECIMAL;
#: the rest stays SQLite's INTEGER/REAL.
SQLITE = Semantics(
    name="sqlite",
    dialect="sqlite",
    default_collation="binary",
    integer_division=False,
    null_safe_eq="IS",
    implicit_row_id="rowid",
    collations={"binary": _binary, "nocase": _nocase, "rtrim": _rtrim},
)

#: Exact decimal arithmetic (MySQL's DECIMAL has at most 65 digits; this never rounds
#: what the server would keep).
_EXACT = Context(prec=200)
#: MariaDB's decimals: scale cap, fraction digits per word, the default
#: ``div_precision_increment``.
MAX_SCALE = 38
DIG_PER_WORD = 9
DIV_PRECISION_INCREMENT = 4
#: Fraction digits kept inside a quotient at most (MariaDB's buffer holds 81 digits).
MAX_INNER_FRAC = 72


def enum_index(labels: tuple[str, ...], collate: Collation) -> Callable[[Any], int]:
    """``value → index`` of an ENUM column's value (1-based; ``''`` and anything
    unknown are 0, the index MySQL gives an invalid value)."""
    exact = {label: i for i, label in enumerate(labels, 1)}
    folded = {collate(label): i for i, label in reversed(list(enumerate(labels, 1)))}

    def index(value: Any) -> int:
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("utf-8", "replace")
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # already an index
        found = exact.get(value)
        if found is None:
            found = folded.get(collate(str(value)), 0)
        return found

    return index


def _quantum(digits: int) -> Decimal:
    return Decimal(1).scaleb(-digits)


class MySQLDecimal(Decimal):
    """A DECIMAL computed by the coordinator whose inner value has more digits than it
    shows (a quotient, an AVG): the ``Decimal`` value is what the server would *send*
    (rounded half up to ``scale``); ``exact`` is what it would keep computing with."""

    __slots__ = ("exact", "scale")
    exact: Decimal
    scale: int

    @classmethod
    def of(cls, exact: Decimal, scale: int) -> Decimal:
        """``exact`` shown at ``scale``; a plain Decimal when nothing is hidden."""
        shown = exact.quantize(_quantum(scale), rounding=ROUND_HALF_UP, context=_EXACT)
        if shown == exact:
            return shown
        value = cls(shown)
        value.exact = exact
        value.scale = scale
        return value


def _frac(x: int | Decimal) -> int:
    """Fraction digits of an operand as the server holds it."""
    if isinstance(x, int):
        return 0
    exp = (x.exact if isinstance(x, MySQLDecimal) else x).as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _scale(x: int | Decimal) -> int:
    """The declared (shown) scale of an operand."""
    if isinstance(x, int):
        return 0
    if isinstance(x, MySQLDecimal):
        return x.scale
    exp = x.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _inner(x: int | Decimal) -> Decimal:
    if isinstance(x, MySQLDecimal):
        return x.exact
    return x if isinstance(x, Decimal) else Decimal(x)


def mysql_divide(x: int | Decimal, y: int | Decimal) -> Decimal:
    """Exact-type division as MariaDB's ``decimal_div`` does it (see module doc)."""
    words = -(-(_frac(x) + _frac(y) + DIV_PRECISION_INCREMENT) // DIG_PER_WORD)
    digits = min(words * DIG_PER_WORD, MAX_INNER_FRAC)
    q = _EXACT.divide(_inner(x), _inner(y))
    inner = q.quantize(_quantum(digits), rounding=ROUND_DOWN, context=_EXACT)
    return MySQLDecimal.of(inner, min(_scale(x) + DIV_PRECISION_INCREMENT, MAX_SCALE))


def _out_of_range(kind: str, op: str, a: Any, b: Any) -> Exception:
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
            raise _out_of_range("DOUBLE", op, a, b)
        return r

    def _bigint(self, r: int, op: str, a: Any, b: Any) -> int:
        if not INT64_MIN <= r <= INT64_MAX:
            raise _out_of_range("BIGINT", op, a, b)
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


def _mysql_collations() -> dict[str, Collation]:
    general, unicode = mysql_collations.general_ci(), mysql_collations.unicode_ci()
    general_nopad = mysql_collations.general_ci(pad=False)
    unicode_nopad = mysql_collations.unicode_ci(pad=False)
    binary_pad = mysql_collations.binary_pad()
    out: dict[str, Collation] = {}
    # utf8mb3 (a.k.a. utf8) collations weigh the BMP like their utf8mb4 namesakes.
    for charset in ("utf8mb4", "utf8mb3", "utf8"):
        out[f"{charset}_general_ci"] = general
        out[f"{charset}_general_nopad_ci"] = general_nopad
        out[f"{charset}_unicode_ci"] = unicode
        out[f"{charset}_unicode_nopad_ci"] = unicode_nopad
        out[f"{charset}_bin"] = binary_pad
        out[f"{charset}_nopad_bin"] = mysql_collations.binary_nopad
    out["binary"] = mysql_collations.binary_nopad
    return out


MYSQL = MySQLSemantics(
    name="mysql",
    dialect="mysql",
    default_collation="utf8mb4_general_ci",
    integer_division=False,
    null_safe_eq="<=>",
    implicit_row_id=None,
    avg_decimal=True,
    collations=_mysql_collations(),
)

SQLITE.collations.update({k: v for k, v in MYSQL.collations.items() if k != "binary"})

_BY_DIALECT = {"sqlite": SQLITE, "mysql": MYSQL}


def for_dialect(dialect: str) -> Semantics:
    """The semantics table of a backend dialect (``DataSource.dialect``)."""
    try:
        return _BY_DIALECT[dialect]
    except KeyError:
        raise ValueError(f"no value semantics defined for dialect {dialect!r}") from None


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


def _as_datetime(value: datetime.date) -> datetime.datetime:
    """A DATE compares with a DATETIME as that day at midnight."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    return datetime.datetime(value.year, value.month, value.day)
