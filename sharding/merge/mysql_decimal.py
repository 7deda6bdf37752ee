"""MySQL's DECIMAL arithmetic, as MariaDB computes it, for values the coordinator derives.

A concept of its own (issue 13): both value tables use it — :data:`~sharding.merge.
semantics.MYSQL` for every exact operand, and :data:`~sharding.merge.semantics.SQLITE`
for arithmetic with a DECIMAL, which the SQLite shards type as MySQL does.

* Scales follow the server: ``+ - %`` keep the larger, ``*`` adds them, ``/`` adds
  ``div_precision_increment`` (4) to the dividend's; ``int / int`` is a DECIMAL.
* Division is computed the server's way: the quotient is *truncated* to whole 9-digit
  words of fraction (``1/3`` is 0.333333333 inside), and only the value sent to the
  client is rounded half up to the declared scale (0.3333) — so ``AVG(i) * 2`` is
  ``-0.6667``, not ``-0.3333 * 2``. Such values are :class:`MySQLDecimal`: a
  ``Decimal`` holding the client's rounded value, carrying the exact inner value for
  further arithmetic and comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal
from typing import Any

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


def shown_at_scale(rows: list[tuple[Any, ...]], scales: Sequence[int | None]) -> list[Any]:
    """``rows`` with each exact number of a DECIMAL result column shown at the column's
    scale (``scales``: per column, the ``decimals`` of its definition, or None to leave
    it), as MySQL sends a DECIMAL: ``CASE WHEN … THEN 1 ELSE 0.5 END`` is ``1.0``,
    ``IFNULL(SUM(amount), 0)`` over no rows ``0.00``. MySQL converts the branch it
    takes to the expression's type; the coordinator's evaluator
    (:mod:`sharding.merge.evaluate`) hands the branch's own value on. Digits are only
    added, never rounded away: a value with more (which MySQL would not send) is left
    as it is. A ``float`` there is SQLite's REAL for what MySQL computes exactly (a
    scalar subquery's ``SUM(amount)`` on one shard: ``188.5``): its shortest text,
    rounded half up at the scale (``188.50``), MySQL's value whenever the REAL's error
    is below half a unit of the scale, as it is for sums and averages of DECIMALs."""
    todo = [(i, s, _quantum(s)) for i, s in enumerate(scales) if s is not None]
    if not todo:
        return rows
    out: list[Any] = []
    for row in rows:
        values: list[Any] | None = None
        for i, scale, quantum in todo:
            v = row[i] if i < len(row) else None
            if type(v) is int or (isinstance(v, Decimal) and v.is_finite() and _shown(v) < scale):
                if values is None:
                    values = list(row)
                values[i] = Decimal(v).quantize(quantum, context=_EXACT)
            elif type(v) is float and math.isfinite(v):
                if values is None:
                    values = list(row)
                values[i] = Decimal(repr(v)).quantize(
                    quantum, rounding=ROUND_HALF_UP, context=_EXACT
                )
        out.append(tuple(values) if values is not None else row)
    return out


def _shown(x: Decimal) -> int:
    """The fraction digits a ``Decimal`` is written with."""
    exp = x.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0
