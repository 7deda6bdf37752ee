"""Compile a sqlglot expression into a Python function over merged rows.

Most computation is pushed down to the shards; what cannot be — expressions over
merged aggregates (``SUM(x) / COUNT(*) + 1``), HAVING on aggregates, and everything
above a cross-shard join — is evaluated here, with the backend's value rules
(:class:`~sharding.merge.semantics.Semantics`: integer division, NULL logic,
comparison affinity, collation).

The supported surface is deliberately small and exact: literals, parameters, column
and aggregate references (resolved by the caller to row positions), arithmetic
(``+ - * / %``, unary minus), comparisons (``= <> < <= > >= <=> IS``), ``AND OR
NOT``, ``IS [NOT] NULL``, ``BETWEEN``, ``IN (list)``, ``[NOT] LIKE`` (binary and
``general_ci`` collations), ``CASE``, ``IF/IIF``,
``COALESCE/IFNULL``, ``NULLIF``, ``ABS``, ``ROUND`` of exact numbers (MySQL). Anything else raises
:class:`~sharding.errors.NotSupported` naming the construct — never an approximation.

A compiled expression is a :class:`Compiled`: ``fn(row, params)`` plus the affinity and
collation SQLite would attach to the expression (a bare column keeps its column's).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Protocol

from sqlglot import exp

from sharding.errors import NotSupported, ShardgateError
from sharding.merge import conversion_notes, mysql_collations
from sharding.merge.mysql_semantics import out_of_range, temporal_text_number
from sharding.merge.semantics import _EXACT, MySQLDecimal, Semantics
from sharding.sql.like import like_source

Fn = Callable[[Sequence[Any], Sequence[Any]], Any]
UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Ref:
    """Where a resolved sub-expression lives in the input row."""

    index: int
    affinity: str | None = None
    collation: str | None = None
    #: ENUM labels of the column the value comes from (it sorts by index).
    enum: tuple[str, ...] | None = None
    #: The value is a DATE/DATETIME/TIME (MySQL's type) with this many fractional
    #: digits, whatever Python type it has: arithmetic computes with its number
    #: (``MAX(d) + 0`` is 20240115, ``MAX(dt3) + 0`` 20240115102030.125). None: no
    #: temporal value.
    temporal: int | None = None
    #: An UNSIGNED integer: arithmetic with it is unsigned (a negative result is 1690).
    unsigned: bool = False


class Resolver(Protocol):
    def lookup(self, node: exp.Expr) -> Ref | None:
        """The row position holding ``node``'s value, if the input provides it."""
        ...

    def missing(self, node: exp.Expr) -> Exception:
        """The error for a column that the input does not provide."""
        ...

    def slot(self, node: exp.Placeholder) -> int:
        """The parameter slot of a placeholder."""
        ...


@dataclass(frozen=True, slots=True)
class Compiled:
    fn: Fn
    affinity: str | None = None
    collation: str | None = None
    constant: bool = False
    #: A bare ENUM column's labels (ORDER BY sorts it by index).
    enum: tuple[str, ...] | None = None
    #: A DATE/DATETIME/TIME value's fractional digits (:attr:`Ref.temporal`).
    temporal: int | None = None
    #: An UNSIGNED integer (:attr:`Ref.unsigned`).
    unsigned: bool = False


class Compiler:
    """Compiles expressions against one resolver and one semantics table."""

    def __init__(self, resolver: Resolver, semantics: Semantics) -> None:
        self.resolver = resolver
        self.sem = semantics

    def compile(self, node: exp.Expr) -> Compiled:
        ref = self.resolver.lookup(node)
        if ref is not None:
            i = ref.index
            return Compiled(
                lambda row, p: row[i],
                ref.affinity,
                ref.collation,
                enum=ref.enum,
                temporal=ref.temporal,
                unsigned=ref.unsigned,
            )
        method = getattr(self, "_" + type(node).__name__.lower(), None)
        if method is None:
            raise NotSupported(
                f"{_describe(node)} cannot be computed over merged rows of several shards"
            )
        result: Compiled = method(node)
        return result

    def predicate(self, node: exp.Expr) -> Callable[[Sequence[Any], Sequence[Any]], bool]:
        """A filter: true only when the expression is true (NULL and false drop the row)."""
        c = self.compile(node)
        fn, truth = c.fn, self.sem.truth
        return lambda row, p: truth(fn(row, p)) is True

    # ------------------------------------------------------------------ leaves
    def _literal(self, node: exp.Literal) -> Compiled:
        value = self.sem.literal(node.this, node.is_string)
        return Compiled(lambda row, p: value, constant=True)

    def _null(self, node: exp.Null) -> Compiled:
        return Compiled(lambda row, p: None, constant=True)

    def _boolean(self, node: exp.Boolean) -> Compiled:
        value = 1 if node.this else 0
        return Compiled(lambda row, p: value, constant=True)

    def _placeholder(self, node: exp.Placeholder) -> Compiled:
        i = self.resolver.slot(node)
        return Compiled(lambda row, p: p[i], constant=True)

    def _column(self, node: exp.Column) -> Compiled:
        raise self.resolver.missing(node)

    def _paren(self, node: exp.Paren) -> Compiled:
        return self.compile(node.this)

    def _alias(self, node: exp.Alias) -> Compiled:
        return self.compile(node.this)

    def _collate(self, node: exp.Collate) -> Compiled:
        inner = self.compile(node.this)
        name = (
            node.expression.name if isinstance(node.expression, exp.Expr) else str(node.expression)
        )
        self.sem.collation(name)  # validates
        return Compiled(inner.fn, inner.affinity, name.lower())

    # ------------------------------------------------------------------ arithmetic
    def _operand(self, node: exp.Expr) -> Compiled:
        """An arithmetic operand as MySQL computes with it: a temporal value as its
        number (a DATE's text from a SQLite shard is ``'2024-01-15'``, a driver's a
        ``datetime.date``; MySQL computes with 20240115), an ENUM as its index, and a
        string with MySQL's 1292 when it is no clean number (``'10x' + 0``: the
        warning, and 10 by the semantics' conversion)."""
        c = self.compile(node)
        fn = c.fn
        if c.temporal is not None:
            fsp = c.temporal
            return Compiled(lambda row, p: temporal_text_number(fn(row, p), fsp))
        if c.enum is not None:
            labels = c.enum
            return Compiled(lambda row, p: _enum_index(labels, fn(row, p)))
        if c.constant and not (isinstance(node, exp.Literal) and node.is_string):
            return c

        def converted(row: Sequence[Any], p: Sequence[Any]) -> Any:
            value = fn(row, p)
            if isinstance(value, str | bytes):
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                note = conversion_notes.truncation(text, "DOUBLE")
                if note is not None:
                    conversion_notes.warn(*note)
            return value

        return Compiled(converted, c.affinity, c.collation, c.constant, unsigned=c.unsigned)

    def _division(self, node: exp.Expr, op: Callable[[Any, Any], Any]) -> Compiled:
        """``/``, ``DIV``, ``MOD``: NULL for a zero divisor, with MySQL's 1365 warning
        per evaluation (``SUM(n) / 0`` over three groups warns three times)."""
        a, b = self._operand(node.this).fn, self._operand(node.expression).fn
        to_number = self.sem.to_number

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            x, y = a(row, p), b(row, p)
            result = op(x, y)
            if result is None and x is not None and y is not None and to_number(y) == 0:
                conversion_notes.warn(*conversion_notes.DIVISION_BY_ZERO)
            return result

        return Compiled(run)

    def _binary(
        self, node: exp.Expr, op: Callable[[Any, Any], Any], symbol: str | None = None
    ) -> Compiled:
        """``op`` over both operands. ``symbol`` (``+ - *``): with an UNSIGNED integer
        operand the integer result is unsigned — negative or past 2^64 - 1 it is error
        1690, ``BIGINT UNSIGNED value is out of range`` (MySQL's unsigned arithmetic)."""
        left, right = self._operand(node.this), self._operand(node.expression)
        a, b = left.fn, right.fn
        if symbol is None or not (left.unsigned or right.unsigned):
            return Compiled(lambda row, p: op(a(row, p), b(row, p)))
        exact = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__}[symbol]

        def unsigned(row: Sequence[Any], p: Sequence[Any]) -> Any:
            x, y = a(row, p), b(row, p)
            if type(x) is int and type(y) is int:
                r = exact(x, y)
                if not 0 <= r <= UINT64_MAX:
                    raise out_of_range("BIGINT UNSIGNED", symbol, x, y)
                return r
            return op(x, y)

        return Compiled(unsigned, unsigned=True)

    def _add(self, node: exp.Add) -> Compiled:
        return self._binary(node, self.sem.add, "+")

    def _sub(self, node: exp.Sub) -> Compiled:
        return self._binary(node, self.sem.sub, "-")

    def _mul(self, node: exp.Mul) -> Compiled:
        return self._binary(node, self.sem.mul, "*")

    def _div(self, node: exp.Div) -> Compiled:
        return self._division(node, self.sem.div)

    def _mod(self, node: exp.Mod) -> Compiled:
        return self._division(node, self.sem.mod)

    def _intdiv(self, node: exp.IntDiv) -> Compiled:
        return self._division(node, self.sem.intdiv)

    def _round(self, node: exp.Round) -> Compiled:
        """``ROUND(x[, d])`` of exact numbers as MySQL (MariaDB 10.11 measured): a
        DECIMAL is rounded half away from zero from its *inner* value (``ROUND(AVG(i),
        8)`` rounds the unrounded quotient) to scale ``d`` (0 when ``d`` < 0, trailing
        zeros kept); an integer stays an integer. A DOUBLE is refused at run time."""
        if not self.sem.avg_decimal:
            raise NotSupported("ROUND() cannot be computed over merged rows on this backend")
        digits_node = node.args.get("decimals")
        arg = self.compile(node.this).fn
        if digits_node is None:
            return Compiled(lambda row, p: _round_value(arg(row, p), 0))
        inner = digits_node.this if isinstance(digits_node, exp.Neg) else digits_node
        if not isinstance(inner, exp.Literal | exp.Placeholder) or (
            isinstance(inner, exp.Literal) and inner.is_string
        ):
            raise NotSupported("ROUND() with a non-constant precision over merged rows")
        digits_fn = self.compile(digits_node).fn  # a literal or a bound value: per call

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            digits = digits_fn(row, p)
            if digits is None:
                return None
            if isinstance(digits, Decimal) and digits == digits.to_integral_value():
                digits = int(digits)
            if not isinstance(digits, int) or isinstance(digits, bool):
                raise NotSupported("ROUND() with a non-integer precision over merged rows")
            return _round_value(arg(row, p), max(-65, min(digits, 38)))

        return Compiled(run)

    def _neg(self, node: exp.Neg) -> Compiled:
        a = self._operand(node.this).fn
        neg = self.sem.neg
        return Compiled(lambda row, p: neg(a(row, p)))

    # ------------------------------------------------------------------ comparison
    def _comparison(self, node: exp.Expr, test: Callable[[int], bool]) -> Compiled:
        left = self.compile(node.this)
        right = self.compile(node.expression)
        return Compiled(self._compare_fn(left, right, test))

    def _compare_fn(self, left: Compiled, right: Compiled, test: Callable[[int], bool]) -> Fn:
        sem = self.sem
        collate = sem.collation(coerced_collation(left.collation, right.collation))
        aff_a, aff_b = left.affinity, right.affinity
        a_fn, b_fn = left.fn, right.fn
        key = sem.value_key
        enum_a, enum_b = left.enum, right.enum

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            a, b = a_fn(row, p), b_fn(row, p)
            if a is None or b is None:
                return None
            # An ENUM compared with a number is its index (MySQL), with text its label.
            if enum_a is not None and _is_number(b):
                a = _enum_index(enum_a, a)
            if enum_b is not None and _is_number(a):
                b = _enum_index(enum_b, b)
            a, b = sem.coerce_for_compare(a, b, aff_a, aff_b)
            ka, kb = key(a, collate), key(b, collate)
            return 1 if test((ka > kb) - (ka < kb)) else 0

        return run

    def _like(self, node: exp.Like, escape: Compiled | None = None) -> Compiled:
        """``x [NOT] LIKE pattern [ESCAPE e]`` as MySQL matches: character by
        character under the operands' collation (:func:`mysql_collations.like_fold`),
        ``%``/``_`` wildcards, a backslash escape by default; NULL if any is NULL."""
        text, pattern = self.compile(node.this), self.compile(node.expression)
        name = coerced_collation(text.collation, pattern.collation) or self.sem.default_collation
        fold = mysql_collations.like_fold(name)
        t_fn, p_fn = text.fn, pattern.fn
        e_fn = escape.fn if escape is not None else None
        negate = bool(node.args.get("negate"))

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            value, shape = t_fn(row, p), p_fn(row, p)
            esc = "\\" if e_fn is None else e_fn(row, p)
            if value is None or shape is None or esc is None:
                return None
            # A binary string on either side: its exact characters (LIKE BINARY).
            folded = None if isinstance(value, bytes) or isinstance(shape, bytes) else fold
            esc_text = _like_text(esc)
            if len(esc_text) > 1:
                raise ShardgateError("Incorrect arguments to ESCAPE", code=1210)
            rx = _like_regex(_like_text(shape), esc_text, folded)
            subject = _like_text(value)
            matched = rx.match(subject if folded is None else folded(subject)) is not None
            return int(matched != negate)

        return Compiled(run)

    def _escape(self, node: exp.Escape) -> Compiled:
        if not isinstance(node.this, exp.Like):
            raise NotSupported(f"{_describe(node)} cannot be computed over merged rows")
        return self._like(node.this, self.compile(node.expression))

    def _eq(self, node: exp.EQ) -> Compiled:
        return self._comparison(node, lambda c: c == 0)

    def _neq(self, node: exp.NEQ) -> Compiled:
        return self._comparison(node, lambda c: c != 0)

    def _lt(self, node: exp.LT) -> Compiled:
        return self._comparison(node, lambda c: c < 0)

    def _lte(self, node: exp.LTE) -> Compiled:
        return self._comparison(node, lambda c: c <= 0)

    def _gt(self, node: exp.GT) -> Compiled:
        return self._comparison(node, lambda c: c > 0)

    def _gte(self, node: exp.GTE) -> Compiled:
        return self._comparison(node, lambda c: c >= 0)

    def _nullsafeeq(self, node: exp.NullSafeEQ) -> Compiled:
        eq = self._comparison(node, lambda c: c == 0).fn
        a_fn = self.compile(node.this).fn
        b_fn = self.compile(node.expression).fn

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            a, b = a_fn(row, p), b_fn(row, p)
            if a is None or b is None:
                return 1 if a is None and b is None else 0
            return eq(row, p)

        return Compiled(run)

    def _is(self, node: exp.Is) -> Compiled:
        if isinstance(node.expression, exp.Null):
            a = self.compile(node.this).fn
            return Compiled(lambda row, p: 1 if a(row, p) is None else 0)
        return self._nullsafeeq(node)  # type: ignore[arg-type]

    def _between(self, node: exp.Between) -> Compiled:
        value = self.compile(node.this)
        low = self.compile(node.args["low"])
        high = self.compile(node.args["high"])
        ge = self._compare_fn(value, low, lambda c: c >= 0)
        le = self._compare_fn(value, high, lambda c: c <= 0)
        return Compiled(_and(ge, le))

    def _in(self, node: exp.In) -> Compiled:
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            raise NotSupported("IN (subquery) cannot be computed over merged rows")
        value = self.compile(node.this)
        tests = [
            self._compare_fn(value, self.compile(e), lambda c: c == 0) for e in node.expressions
        ]

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            unknown = False
            for t in tests:
                r = t(row, p)
                if r == 1:
                    return 1
                if r is None:
                    unknown = True
            return None if unknown else 0

        return Compiled(run)

    # ------------------------------------------------------------------ logic
    def _and(self, node: exp.And) -> Compiled:
        return Compiled(_and(self._truthy(node.this), self._truthy(node.expression)))

    def _or(self, node: exp.Or) -> Compiled:
        return Compiled(_connective(self._truthy(node.this), self._truthy(node.expression), 1))

    def _not(self, node: exp.Not) -> Compiled:
        a = self._truthy(node.this)

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            x = a(row, p)
            return None if x is None else 1 - x

        return Compiled(run)

    def _truthy(self, node: exp.Expr) -> Fn:
        """1 / 0 / None (SQL three-valued truth) of an expression."""
        fn = self.compile(node).fn
        truth = self.sem.truth

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            t = truth(fn(row, p))
            return None if t is None else (1 if t else 0)

        return run

    # ------------------------------------------------------------------ functions
    def _case(self, node: exp.Case) -> Compiled:
        subject = node.this
        branches = []
        for when in node.args.get("ifs") or []:
            cond_node = when.this
            if subject is not None:
                test = self._compare_fn(
                    self.compile(subject), self.compile(cond_node), lambda c: c == 0
                )
            else:
                test = self._truthy(cond_node)
            branches.append((test, self.compile(when.args["true"]).fn))
        default_node = node.args.get("default")
        default = self.compile(default_node).fn if default_node is not None else None

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            for test, value in branches:
                if test(row, p) == 1:
                    return value(row, p)
            return default(row, p) if default is not None else None

        results = [when.args["true"] for when in node.args.get("ifs") or []]
        return Compiled(self._unified(run, [*results, default_node]))

    def _if(self, node: exp.If) -> Compiled:
        test = self._truthy(node.this)
        then = self.compile(node.args["true"]).fn
        other_node = node.args.get("false")
        other = self.compile(other_node).fn if other_node is not None else None

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            if test(row, p) == 1:
                return then(row, p)
            return other(row, p) if other is not None else None

        return Compiled(self._unified(run, [node.args["true"], other_node]))

    def _coalesce(self, node: exp.Coalesce) -> Compiled:
        parts = [self.compile(node.this).fn] + [self.compile(e).fn for e in node.expressions]

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            for part in parts:
                v = part(row, p)
                if v is not None:
                    return v
            return None

        return Compiled(self._unified(run, [node.this, *node.expressions]))

    def _unified(self, run: Fn, results: Sequence[exp.Expr | None]) -> Fn:
        """MySQL types ``CASE``/``IF``/``COALESCE`` by all their result branches: with
        an integer and a DECIMAL among them the value is a DECIMAL at the largest
        scale (``CASE WHEN c THEN 1 ELSE 0.5 END`` is ``1.0``, and ``1.0 / 3`` is
        ``0.33333`` where ``1 / 3`` is ``0.3333``); with a DOUBLE among them, a DOUBLE.

        A branch's type is read from its value: literals reach here as parameters of
        the cached plan (a ``Decimal`` keeps its scale), merged column and aggregate
        values arrive typed by their column (INT as ``int``, DECIMAL as ``Decimal`` at
        its scale, DOUBLE as ``float``), so every branch is evaluated. A branch that is
        NULL in this row tells nothing (its declared type is not known here); a text
        branch makes the result text, left as it is."""
        parts: list[Fn] = []
        for node in results:
            while isinstance(node, exp.Paren | exp.Neg):
                node = node.this
            if node is None or isinstance(node, exp.Null):
                continue
            parts.append(self.compile(node).fn)

        def unified(row: Sequence[Any], p: Sequence[Any]) -> Any:
            v = run(row, p)
            if not isinstance(v, int | Decimal) or isinstance(v, bool):
                return v
            scale = 0
            double = False
            for part in parts:
                branch = part(row, p)
                if isinstance(branch, float):
                    double = True
                elif isinstance(branch, Decimal):
                    scale = max(scale, -int(branch.as_tuple().exponent))
                elif branch is not None and not isinstance(branch, int):
                    return v  # a text branch: not a number result
            if double:
                return float(v)
            if scale > 0:
                return Decimal(v).quantize(Decimal(1).scaleb(-scale))
            return v

        return unified

    def _nullif(self, node: exp.Nullif) -> Compiled:
        a = self.compile(node.this)
        eq = self._compare_fn(a, self.compile(node.expression), lambda c: c == 0)
        a_fn = a.fn
        return Compiled(lambda row, p: None if eq(row, p) == 1 else a_fn(row, p))

    def _abs(self, node: exp.Abs) -> Compiled:
        a = self.compile(node.this).fn
        sem = self.sem

        def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
            v = a(row, p)
            if v is None:
                return None
            n = sem.to_number(v)
            if isinstance(v, str) and isinstance(n, int):
                n = float(n)  # SQLite: abs('-5') is 5.0
            return sem.neg(n) if n is not None and n < 0 else n

        return Compiled(run)


def _and(a: Fn, b: Fn) -> Fn:
    return _connective(a, b, 0)


def _connective(a: Fn, b: Fn, dominant: int) -> Fn:
    """SQL three-valued AND (``dominant`` 0) / OR (1) of two truth functions: the
    dominant value wins even against NULL; otherwise NULL if either is NULL. ``b`` is
    not evaluated once ``a`` decides."""
    other = 1 - dominant

    def run(row: Sequence[Any], p: Sequence[Any]) -> Any:
        x = a(row, p)
        if x == dominant:
            return dominant
        y = b(row, p)
        if y == dominant:
            return dominant
        if x is None or y is None:
            return None
        return other

    return run


def _round_value(value: Any, digits: int) -> Any:
    """MySQL's ``ROUND`` of one exact value (see :meth:`Compiler._round`)."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        if digits >= 0:
            return value
        unit = 10 ** (-digits)
        q, r = divmod(abs(value), unit)
        rounded = (q + (1 if 2 * r >= unit else 0)) * unit
        return rounded if value >= 0 else -rounded
    if isinstance(value, Decimal):
        exact = value.exact if isinstance(value, MySQLDecimal) else value
        scale = max(digits, 0)
        step = Decimal(1).scaleb(-digits)
        rounded = exact.quantize(step, rounding=ROUND_HALF_UP, context=_EXACT)
        return rounded.quantize(Decimal(1).scaleb(-scale), context=_EXACT)
    raise NotSupported(
        f"ROUND() of a {type(value).__name__} value cannot be computed over merged rows "
        "exactly as the server does (round the value on each shard, or CAST it to DECIMAL)"
    )


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}()"
    if isinstance(node, exp.Subquery | exp.Select):
        return "a subquery"
    if isinstance(node, exp.Window):
        return "a window function"
    return f"expression {node.sql(dialect='mysql')[:60]!r}"


@lru_cache(maxsize=512)
def _like_regex(pattern: str, escape: str, fold: Callable[[str], str] | None) -> re.Pattern[str]:
    return re.compile(like_source(pattern, escape, fold), re.DOTALL)


def _like_text(value: Any) -> str:
    """A LIKE operand's text: MySQL's string of a number, date or binary string. A
    DOUBLE's shortest text MySQL writes differently from Python (``1e20``): 1235."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return str(value)
    raise NotSupported(f"LIKE of a {type(value).__name__} value over merged rows of several shards")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)


def coerced_collation(left: str | None, right: str | None) -> str | None:
    """The collation MySQL compares two strings with: a column's (or ``COLLATE``'s) over
    a literal's (None here); of two different column collations of one character set
    the binary one (``ci_col = bin_col`` compares exactly, measured on MariaDB 10.11),
    and MySQL's error 1267 for any other pair (``general_ci`` with ``unicode_ci``, two
    binary ones)."""
    if left is None or right is None or left == right:
        return left or right
    coerced = mysql_collations.implicit_coercion((left, right))
    if coerced is None:
        raise mysql_collations.illegal_mix(left, right)
    return coerced


def _enum_index(labels: tuple[str, ...], value: Any) -> Any:
    """An ENUM value's 1-based index (0 for the empty error value); a number as is."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return value
    try:
        return labels.index(value) + 1
    except ValueError:
        return 0
