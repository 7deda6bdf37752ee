"""Value semantics of a backend dialect: ordering, collation, arithmetic, affinity.

Whatever the coordinator computes itself — merge order, grouping, MIN/MAX of partials,
AVG from SUM/COUNT, HAVING and expressions over merged rows — must give exactly what
the backend would have given for the whole table. So every dialect-dependent rule lives
in one table per dialect, and the merge primitives and the expression evaluator
take a :class:`Semantics` instead of hard-coding SQLite's or MySQL's behaviour.

This module holds the interface — :class:`Semantics`, whose methods implement SQLite's
rules, and :data:`SQLITE`, the table of the embedded SQLite backend — with what every
dialect shares (:class:`SortItem`, :class:`Desc`, collation and number helpers), and
:func:`for_dialect`. The other concepts live in their own modules (issue 13) and are
re-exported here, so ``from sharding.merge.semantics import X`` keeps working:

* :mod:`sharding.merge.mysql_semantics`: :class:`MySQLSemantics` and :data:`MYSQL`,
  MySQL's rules as measured against MariaDB (it subclasses :class:`Semantics`, so it is
  imported lazily here, on first use of a re-exported name);
* :mod:`sharding.merge.mysql_decimal`: MySQL's DECIMAL arithmetic
  (:class:`MySQLDecimal`, :func:`mysql_divide`), which :data:`SQLITE` uses too.

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
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sharding.merge import mysql_collations
from sharding.merge.mysql_decimal import (
    _EXACT,
    DIG_PER_WORD,
    DIV_PRECISION_INCREMENT,
    MAX_INNER_FRAC,
    MAX_SCALE,
    MySQLDecimal,
    mysql_divide,
)

if TYPE_CHECKING:
    from sharding.merge.mysql_semantics import MYSQL, MySQLSemantics

__all__ = [
    "DIG_PER_WORD",
    "DIV_PRECISION_INCREMENT",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_INNER_FRAC",
    "MAX_SCALE",
    "MYSQL",
    "RANK_BLOB",
    "RANK_NUMBER",
    "RANK_TEXT",
    "SQLITE",
    # Private, but imported by sharding.merge.aggregates and sharding.merge.evaluate.
    "_EXACT",
    "Collation",
    "Desc",
    "MySQLDecimal",
    "MySQLSemantics",
    "Semantics",
    "SortItem",
    "enum_index",
    "for_dialect",
    "mysql_divide",
]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

#: Rank of each storage class in the backend's ordering; NULL is placed per sort item.
RANK_NUMBER = 1
RANK_TEXT = 2
RANK_BLOB = 3
#: Distinct ORDER BY item lists whose generated key functions one dialect keeps.
_SORT_KEY_CACHE = 512

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
    #: Generated ``ORDER BY`` key functions by their sort items (:meth:`sort_key`).
    _sort_keys: dict[tuple[SortItem, ...], Callable[[tuple[Any, ...]], tuple[Any, ...]]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

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
        if isinstance(value, datetime.timedelta):
            # A TIME read from a SQLite shard: ordered as its stored text (zero-padded
            # ``HH:MM:SS[.ffffff]``, non-negative, under 100 hours: the shard refuses
            # other values), never str(timedelta) ('1:02:03' would sort after '10:…').
            return (RANK_TEXT, collate(_time_text(value)))
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

        Compiling the function costs more than merging a small result (a quarter of a
        scatter top-10's coordinator CPU, measured by ``bench.concurrency --profile``),
        so each is made once per distinct list of sort items and kept (a bounded
        cache: the items come from plans, and plans are cached too).
        """
        items_key = tuple(items)
        cached = self._sort_keys.get(items_key)
        if cached is not None:
            return cached
        if len(self._sort_keys) >= _SORT_KEY_CACHE:
            self._sort_keys.clear()
        key = self._sort_keys[items_key] = self._make_sort_key(items)
        return key

    def _make_sort_key(self, items: list[SortItem]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
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
            return _mysql().add(x, y)
        if type(x) is int and type(y) is int:
            return self._int_result(x + y)
        return _f(x) + _f(y)

    def sub(self, a: Any, b: Any) -> Any:
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None:
            return None
        if _exact_decimal(x, y):
            return _mysql().sub(x, y)
        if type(x) is int and type(y) is int:
            return self._int_result(x - y)
        return _f(x) - _f(y)

    def mul(self, a: Any, b: Any) -> Any:
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None:
            return None
        if _exact_decimal(x, y):
            return _mysql().mul(x, y)
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
            return _mysql().div(x, y)  # the SQLite shards' ``/`` is MySQL's exact quotient
        if self.avg_decimal:
            return Decimal(x) / Decimal(y)
        return _f(x) / _f(y)

    def mod(self, a: Any, b: Any) -> Any:
        x, y = self.to_number(a), self.to_number(b)
        if x is None or y is None:
            return None
        if _exact_decimal(x, y):
            return _mysql().mod(x, y)
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
            return _mysql().neg(x)
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


_MYSQL: list[Semantics] = []


def _mysql() -> Semantics:
    """:data:`MYSQL`, whose DECIMAL arithmetic :data:`SQLITE` shares; imported on first
    use (kept: this runs per value) because :mod:`sharding.merge.mysql_semantics`
    subclasses :class:`Semantics`."""
    if not _MYSQL:
        from sharding.merge.mysql_semantics import MYSQL

        _MYSQL.append(MYSQL)
    return _MYSQL[0]


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


#: MySQL's collations, built once: :data:`MYSQL` merges with them and :data:`SQLITE`
#: registers the same keys (below).
_MYSQL_COLLATIONS = _mysql_collations()


#: The embedded SQLite default answers like MySQL where the shards can (issue 15,
#: :mod:`sharding.backend.sqlite_mysql`): every text column is declared with a MySQL
#: collation, which the catalog records (so merges use the very keys registered in
#: SQLite); an expression without a column collation compares BINARY on a shard, hence
#: the BINARY default here. ``/`` never truncates. Numbers are MySQL's where the shards
#: type them so (:mod:`sharding.backend.sqlite_decimal_results`): ``/`` of exact operands,
#: arithmetic with a DECIMAL, decimal literals and SUM of integers are MySQL's DECIMAL;
#: the rest stays SQLite's INTEGER/REAL.
class _EmbeddedSemantics(Semantics):
    """:data:`SQLITE`: merged values compare as MySQL compares them (issue 15:
    ``COUNT(*) = '60'`` and ``HAVING COUNT(*) > '10'`` compare numbers, where SQLite's
    affinity left the string a string and the answer was wrong)."""

    def coerce_for_compare(
        self, a: Any, b: Any, aff_a: str | None, aff_b: str | None
    ) -> tuple[Any, Any]:
        return _mysql().coerce_for_compare(a, b, aff_a, aff_b)


SQLITE = _EmbeddedSemantics(
    name="sqlite",
    dialect="sqlite",
    default_collation="binary",
    integer_division=False,
    null_safe_eq="IS",
    implicit_row_id="rowid",
    collations={"binary": _binary, "nocase": _nocase, "rtrim": _rtrim},
)

SQLITE.collations.update({k: v for k, v in _MYSQL_COLLATIONS.items() if k != "binary"})


def for_dialect(dialect: str) -> Semantics:
    """The semantics table of a backend dialect (``DataSource.dialect``)."""
    from sharding.merge.mysql_semantics import MYSQL

    by_dialect: dict[str, Semantics] = {"sqlite": SQLITE, "mysql": MYSQL}
    try:
        return by_dialect[dialect]
    except KeyError:
        raise ValueError(f"no value semantics defined for dialect {dialect!r}") from None


#: Names that moved to their own modules (issue 13), resolved on first access so that
#: ``from sharding.merge.semantics import MYSQL`` works in any import order.
_MOVED = {"MYSQL": "mysql_semantics", "MySQLSemantics": "mysql_semantics"}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"sharding.merge.{module}"), name)


def _time_text(value: datetime.timedelta) -> str:
    """``HH:MM:SS[.ffffff]`` of a non-negative TIME value, as SQLite shards store it."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    seconds, fraction = divmod(micros, 1_000_000)
    text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{text}.{fraction:06d}" if fraction else text
