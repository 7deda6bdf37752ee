"""Aggregate accumulators, in two modes.

* **merge** — the input rows carry per-shard *partials* (the shard ran
  ``COUNT(x)``/``SUM(x)``/``MIN``/``MAX``; ``AVG(x)`` was rewritten to ``SUM(x)`` and
  ``COUNT(x)``); the accumulator combines them.
* **raw** — the input rows carry the argument itself (above a cross-shard join); the
  accumulator aggregates values like the backend would.

``DISTINCT`` aggregates keep the set of distinct non-NULL values (compared with the
backend's grouping equality and collation); in merge mode the shard query groups by
the argument, so every distinct value arrives at least once.

Result types follow :class:`~sharding.merge.semantics.Semantics`: SQLite ``SUM`` of
integers is an integer (and overflow is an error, as in SQLite), ``TOTAL`` is a REAL,
``AVG`` a REAL (MySQL: DECIMAL), ``COUNT`` an integer; ``SUM``/``MIN``/``MAX``/``AVG``
of no rows are NULL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal

from sharding.merge.group_concat import ConcatAccumulator, ConcatRuntime, ConcatSpec
from sharding.merge.semantics import _EXACT, MySQLDecimal, Semantics, mysql_divide

AggFunc = Literal[
    "count_star",
    "count",
    "sum",
    "total",
    "min",
    "max",
    "avg",
    "bit_and",
    "bit_or",
    "bit_xor",
    "var_pop",
    "var_samp",
    "std_pop",
    "std_samp",
    "group_concat",
]
#: BIT_AND/OR/XOR of no rows: MySQL's identity of each operation (never NULL).
_BIT_IDENTITY = {"bit_and": (1 << 64) - 1, "bit_or": 0, "bit_xor": 0}
Mode = Literal["merge", "raw"]
#: STD/STDDEV/VARIANCE: the population or sample form, and whether a square root follows.
VARIANCES: dict[str, tuple[bool, bool]] = {
    "var_pop": (False, False),
    "var_samp": (True, False),
    "std_pop": (False, True),
    "std_samp": (True, True),
}


@dataclass(frozen=True, slots=True)
class AggSpec:
    """One aggregate of a query.

    merge mode: ``columns`` are the input positions of its partial(s) (AVG: sum, count);
    for DISTINCT, ``columns[0]`` holds the distinct argument value instead.
    raw mode: ``arg`` computes the argument from an input row (None for COUNT(*)).
    """

    func: AggFunc
    distinct: bool = False
    columns: tuple[int, ...] = ()
    arg: Callable[[Any, Any], Any] | None = None
    collation: str | None = None
    #: merge mode, SUM/AVG: the last column holds the shard's exact sum (every inner
    #: digit of a DECIMAL, see :meth:`Accumulator.merge_exact`).
    exact: bool = False
    #: COUNT(DISTINCT a, b, ...): the collation of each argument (``columns`` holds
    #: their positions); a row with a NULL among them is not counted.
    collations: tuple[str | None, ...] = ()
    #: STD/VARIANCE: merge mode, ``columns`` are COUNT(x), SUM(x) and either the
    #: shard's exact SUM(x * x) (``squares``) or its VAR_POP(x) (a DOUBLE argument);
    #: ``decimals``: the scale MariaDB shows the DOUBLE result with (None: all digits).
    squares: bool = False
    decimals: int | None = None
    #: GROUP_CONCAT (merge mode): where its elements are (:mod:`sharding.merge.group_concat`).
    concat: ConcatSpec | None = None


class Accumulator:
    __slots__ = (
        "collate",
        "collates",
        "count",
        "decimals",
        "distinct",
        "func",
        "real",
        "sem",
        "total",
        "value",
    )

    def __init__(self, spec: AggSpec, sem: Semantics) -> None:
        self.func = spec.func
        self.sem = sem
        self.count = 0
        self.total: Any = None
        self.value: Any = None
        self.real = False
        self.collate = sem.collation(spec.collation)
        self.collates = tuple(sem.collation(c) for c in spec.collations)
        self.distinct: dict[Any, Any] | None = {} if spec.distinct else None
        self.decimals = spec.decimals

    # -------------------------------------------------------------- raw values
    def step(self, v: Any) -> None:
        """Add one raw argument value (COUNT(*) passes 1 for every row)."""
        if self.collates and self.distinct is not None:
            # COUNT(DISTINCT a, b): a tuple of values, none NULL, keyed per collation.
            if None not in v:
                key = tuple(self.sem.group_key(x, c) for x, c in zip(v, self.collates, strict=True))
                self.distinct.setdefault(key, v)
            return
        if self.distinct is not None:
            if v is not None:
                self.distinct.setdefault(self.sem.group_key(v, self.collate), v)
            return
        func = self.func
        if func == "count_star":
            self.count += 1
            return
        if v is None:
            return
        if func == "count":
            self.count += 1
        elif func in VARIANCES:
            n = self.sem.to_number(v)
            if n is not None:
                f = _fraction(n)
                self._moments(1, f, f * f)
        elif func in ("sum", "total", "avg"):
            self.count += 1
            self._add(v)
        else:
            self._minmax(v)

    def _add(self, v: Any) -> None:
        n = self.sem.to_number(v)
        if n is None:
            return
        if type(n) is not int or (isinstance(v, str) and not isinstance(n, int)):
            self.real = True
        if self.total is None:
            self.total = n
        else:
            self.total = _plus(self.total, n)

    def _minmax(self, v: Any) -> None:
        if self.value is None:
            self.value = v
            return
        kv = self.sem.value_key(v, self.collate)
        kc = self.sem.value_key(self.value, self.collate)
        if (self.func == "min" and kv < kc) or (self.func == "max" and kv > kc):
            self.value = v

    def _moments(self, n: int, s: Fraction, q: Fraction) -> None:
        """Add ``n`` values with sum ``s`` and sum of squares ``q`` (exact fractions)."""
        self.count += n
        self.total = s if self.total is None else self.total + s
        self.value = q if self.value is None else self.value + q

    def merge_variance(self, count: Any, total: Any, third: Any, squares: bool) -> None:
        """Combine one shard's STD/VARIANCE partials: ``COUNT(x)``, ``SUM(x)`` and its
        exact ``SUM(x * x)`` (``squares``), or its ``VAR_POP(x)`` (a DOUBLE argument).

        A shard's population variance ``v`` over ``n`` values of sum ``s`` has sum of
        squares ``n·v + s²/n`` (Chan et al.'s parallel merge, written as moments); the
        moments add up exactly as fractions, so the merged variance is rounded once,
        however many shards (no cancellation in ``Σx² − (Σx)²/n``).
        """
        if not count or total is None or third is None:
            return
        s = _fraction(total)
        q = _fraction(third) if squares else _fraction(third) * count + s * s / count
        self._moments(int(count), s, q)

    def _variance(self) -> float | None:
        sample, root = VARIANCES[self.func]
        n = self.count
        if n == 0 or (sample and n < 2) or self.total is None:
            return None
        m2 = self.value - self.total * self.total / n
        var = float(m2 / (n - 1 if sample else n))
        var = max(var, 0.0)
        out = math.sqrt(var) if root else var
        return ShownFloat(out, self.decimals) if self.decimals is not None else out

    # -------------------------------------------------------------- partials
    def merge(self, partial: Any, extra: Any = None) -> None:
        """Combine one shard's partial (AVG: partial sum and ``extra`` = count)."""
        func = self.func
        if func in ("count_star", "count"):
            self.count += partial or 0
        elif func == "avg":
            if extra:
                self.count += extra
                if partial is not None:
                    if not isinstance(partial, int):
                        self.real = True
                    self.total = partial if self.total is None else _plus(self.total, partial)
        elif func in ("sum", "total"):
            if partial is not None:
                if not isinstance(partial, int):
                    self.real = True
                self.total = partial if self.total is None else _plus(self.total, partial)
                self.count += 1
        elif func in _BIT_IDENTITY:
            if partial is not None:
                self.value = partial if self.value is None else _bits(func, self.value, partial)
        else:
            if partial is not None:
                self._minmax(partial)

    def merge_exact(self, shown: Any, exact: Any, count: Any = None) -> None:
        """Combine one shard's SUM partial sent twice: ``shown`` as the shard sends
        ``SUM(x)`` (its scale is the declared scale) and ``exact`` with all inner
        digits. The total keeps the exact value and shows the declared scale, so the
        result is rounded once, as the server rounds the whole table's sum."""
        if self.func == "avg":
            if not count:
                return
            self.count += count
        elif shown is None:
            return
        else:
            self.count += 1
        if shown is None or exact is None:
            return
        if isinstance(shown, Decimal) and isinstance(exact, Decimal):
            scale = -int(shown.as_tuple().exponent)
            prev = self.total
            total = exact if prev is None else _EXACT.add(_inner(prev), exact)
            self.total = _hidden(total, max(scale, getattr(prev, "scale", scale)))
            return
        self.real = True
        value = exact if isinstance(exact, float) else shown
        self.total = value if self.total is None else self.total + value

    # -------------------------------------------------------------- result
    def result(self) -> Any:
        func = self.func
        if self.distinct is not None:
            values = list(self.distinct.values())
            if func == "count":
                return len(values)
            if func in ("min", "max"):
                for v in values:
                    self._minmax(v)
                return self.value
            for v in values:
                self.count += 1
                self._add(v)
        if func in ("count_star", "count"):
            return self.count
        if func == "total":
            return float(self.total) if self.total is not None else 0.0
        if func == "sum":
            return self.sem.sum_result(self.total, self.real)
        if func == "avg":
            if self.count and (
                isinstance(self.total, Decimal) or (type(self.total) is int and not self.real)
            ):
                # Exact totals (SQLite shards send SUM of integers and DECIMALs as
                # Decimal): MySQL's DECIMAL quotient, scale + 4, on every backend.
                return mysql_divide(self.total, self.count)
            return self.sem.avg(self.total, self.count)
        if func in _BIT_IDENTITY:
            return self.value if self.value is not None else _BIT_IDENTITY[func]
        if func in VARIANCES:
            return self._variance()
        return self.value


class ShownFloat(float):
    """A DOUBLE MariaDB shows with a fixed scale: STD/VARIANCE of an INT/DECIMAL
    argument (its scale + 4). The value is every digit (what arithmetic, comparisons
    and the binary protocol use, as in MariaDB); its text — the text protocol's —
    is rounded to ``decimals`` places, as MariaDB sends it (``0.5556``)."""

    decimals: int

    def __new__(cls, value: float, decimals: int) -> ShownFloat:
        self = super().__new__(cls, value)
        self.decimals = decimals
        return self

    def __repr__(self) -> str:
        value = float(self)
        if math.isfinite(value) and len(str(int(abs(value)))) + self.decimals > 17:
            # More digits than a DOUBLE holds: MariaDB writes the shortest digits that
            # read back as the DOUBLE, then zeros (``3897114316019611000.0000``,
            # ``41824119523.02995000``; measured on 10.11), not the binary value's
            # exact expansion (``…611136.0000``).
            return f"{Decimal(repr(value)):.{self.decimals}f}"
        return f"{value:.{self.decimals}f}"

    __str__ = __repr__


#: One aggregate's state in a group.
AnyAccumulator = Accumulator | ConcatAccumulator


def new_accumulators(
    specs: tuple[AggSpec, ...], sem: Semantics, concat: ConcatRuntime | None = None
) -> list[AnyAccumulator]:
    out: list[AnyAccumulator] = []
    for i, s in enumerate(specs):
        if s.concat is not None:
            out.append(ConcatAccumulator(s.concat, sem, concat or ConcatRuntime(), i))
        else:
            out.append(Accumulator(s, sem))
    return out


def _hidden(exact: Decimal, scale: int) -> Decimal:
    """A DECIMAL shown at ``scale`` whose inner value ``exact`` has more digits.

    The inner value keeps at least one digit more than shown — MySQL's inner fraction
    of a sum over quotients is longer than its declared scale even when the trailing
    digits are zeros, and a later division or AVG truncates at that length.
    """
    digits = max(scale + 1, _fraction_digits(exact.normalize()))
    inner = exact.quantize(Decimal(1).scaleb(-digits), context=_EXACT)
    value = MySQLDecimal(
        inner.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=_EXACT)
    )
    value.exact = inner
    value.scale = scale
    return value


def _fraction(v: Any) -> Fraction:
    """An exact fraction of a number (a DOUBLE: of its binary value)."""
    return Fraction(v) if isinstance(v, int | Decimal) else Fraction(float(v))


def _bits(func: str, a: int, b: int) -> int:
    """Two BIT_AND/OR/XOR partials (unsigned 64-bit integers) combined."""
    if func == "bit_and":
        return int(a) & int(b)
    if func == "bit_or":
        return int(a) | int(b)
    return int(a) ^ int(b)


def _plus(a: Any, b: Any) -> Any:
    """``a + b`` of partials; DECIMALs exactly (the default context keeps 28 digits)."""
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return _EXACT.add(a, b)
    return a + b


def _fraction_digits(d: Decimal) -> int:
    exponent = d.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _inner(d: Any) -> Any:
    return d.exact if isinstance(d, MySQLDecimal) else d


def feed_merge(
    accs: list[AnyAccumulator], specs: tuple[AggSpec, ...], row: tuple[Any, ...]
) -> None:
    """Merge one input row of partials into the accumulators (merge mode)."""
    for acc, spec in zip(accs, specs, strict=True):
        cols = spec.columns
        if isinstance(acc, ConcatAccumulator):
            acc.add(row)
        elif spec.exact:
            if spec.func == "avg":
                acc.merge_exact(row[cols[0]], row[cols[2]], row[cols[1]])
            else:
                acc.merge_exact(row[cols[0]], row[cols[1]])
        elif spec.func in VARIANCES:
            acc.merge_variance(row[cols[0]], row[cols[1]], row[cols[2]], spec.squares)
        elif spec.distinct and spec.collations:
            acc.step(tuple(row[c] for c in cols))
        elif spec.distinct:
            acc.step(row[cols[0]])
        elif spec.func == "avg":
            acc.merge(row[cols[0]], row[cols[1]])
        else:
            acc.merge(row[cols[0]])


def feed_raw(
    accs: list[AnyAccumulator], specs: tuple[AggSpec, ...], row: tuple[Any, ...], params: Any
) -> None:
    """Add one input row to the accumulators (raw mode)."""
    for acc, spec in zip(accs, specs, strict=True):
        if isinstance(acc, ConcatAccumulator):
            raise TypeError("GROUP_CONCAT is merged from shard values only")
        if spec.arg is None:
            acc.step(1)
        else:
            acc.step(spec.arg(row, params))
