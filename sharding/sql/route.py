"""Routing: which shards a statement must visit, from predicates on the shard key.

At plan time the WHERE clause becomes a :class:`Route` tree over the conditions that
can narrow the shard set — ``key = v``, ``key IN (v, …)``, ``key BETWEEN a AND b`` and
``< <= > >=`` (range algorithm; short integer intervals under ``mod``), ``key IS
NULL`` — combined with AND (intersection) and OR (union). Any other condition means
"all shards" for its branch. Values may be parameters, so the tree is evaluated per
call (:meth:`Route.shards`), after binding.

Values are canonicalised as the backend would compare them with the key column
(:func:`canonical_key`: the column's type affinity, then its collation for text — a
``NOCASE`` or case-insensitive key hashes its folded form), exactly as rows are placed
on INSERT, so a row is always found where it was written.

An empty shard set (contradictory predicates, a value the rule cannot place) still
runs on shard 0: the statement returns the correct empty result or zero-row aggregate.
Routing never narrows on a column of the NULL-extended side of an outer join with
``IS NULL`` (those NULLs come from every shard).

Hex and bit literals (``0x10``, ``X'10'``, ``b'1010'``) mean what MySQL makes of them in
the comparison (:class:`HexLiteral`): with an integer key ``0x10`` and ``b'10000'`` are
16, while ``X'10'`` stays a binary string (MariaDB compares it as the number 0, with a
warning); with a text key they are their bytes. When the key's type gives no exact
reading, the condition routes to every shard, where the backend evaluates it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NoShardForValue, NotSupported
from sharding.merge.semantics import Semantics
from sharding.sql.enums import enum_labels
from sharding.sql.inlist import InList
from sharding.sql.shard_dialect import hex_is_number_form

#: A value known at plan time (``("const", v)``) or bound per call (``("slot", i)``).
ValueRef = tuple[str, Any]


def value_of(ref: ValueRef, values: Sequence[Any]) -> Any:
    kind, x = ref
    if kind == "slot":
        return values[x]
    if kind == "neg":
        v = value_of(x, values)
        return -v if isinstance(v, int | float) and not isinstance(v, bool) else None
    return x


@dataclass(frozen=True)
class HexLiteral:
    """A hex or bit literal in a routing condition: bytes, or a number by context."""

    data: bytes
    #: Its value in numeric context; None for ``X'..'``, a string there too.
    number: int | None


class _AnyShard(Exception):
    """A value whose placement cannot be computed exactly: visit every shard."""


def _hex_in_context(info: TableInfo, value: HexLiteral, sem: Semantics) -> Any:
    """What a hex/bit literal is when compared with the shard key (module docstring)."""
    key = info.rule.shard_key
    col = info.column(key) if key is not None else None
    affinity = sem.affinity(col.type) if col is not None else None
    if affinity in ("INTEGER", "NUMERIC", "REAL"):
        if value.number is None:
            # MariaDB converts the string per row compared, with a 1292 warning each
            # time: a count that depends on its scan order, not reproducible here.
            raise NotSupported(
                f"X'..' string literal compared with the numeric shard key {key!r} "
                "(write 0x.. or a decimal number)"
            )
        if value.number >= 1 << 64:
            raise _AnyShard
        return value.number
    if affinity == "TEXT":
        try:
            return value.data.decode("utf-8")
        except UnicodeDecodeError:
            raise _AnyShard from None
    raise _AnyShard


def canonical_key(info: TableInfo, value: Any, sem: Semantics, *, stored: bool = False) -> Any:
    """The shard-key value as the backend will store/compare it (see module doc);
    ``stored``: a value written to the key (placed as it is stored), not compared."""
    key = info.rule.shard_key
    if value is None or key is None:
        return value
    if type(value) is int:
        # The point-query case (``id = 42`` against an integer key), decided once per
        # column type: an int is stored and compared as itself.
        col = info.column(key)
        if col is not None and _int_is_itself(sem, col.type):
            return value
    if isinstance(value, HexLiteral):
        value = _hex_in_context(info, value, sem)
    col = info.column(key)
    if col is not None:
        labels = enum_labels(col.type)
        if labels is not None:
            value = _enum_label(labels, value)
        affinity = sem.affinity(col.type)
        value = sem.apply_affinity(value, affinity)
        if not stored and isinstance(value, str) and affinity in ("INTEGER", "REAL", "NUMERIC"):
            # A string that is no clean number against a numeric key (``id = '5x'``,
            # SQLite semantics): the shard compares its numeric prefix as MySQL does
            # (sqlite_arithmetic), which the string's own hash does not place.
            raise _AnyShard
        if isinstance(value, str):
            coll = (col.collation or sem.default_collation).lower()
            if coll == "utf8mb4_bin":
                # PAD SPACE: 'a ' = 'a', so both must route alike. Only trailing spaces
                # are dropped (not the sort key), so keys without them route as before.
                value = value.rstrip(" ")
            elif coll != "binary":
                value = sem.collation(coll)(value)
    elif isinstance(value, str):
        value = sem.apply_affinity(value, "NUMERIC")
    return value


#: (dialect, column type) → whether an int key value is placed as itself.
_INT_IS_ITSELF: dict[tuple[str, str | None], bool] = {}


def _int_is_itself(sem: Semantics, type_text: str | None) -> bool:
    """An int compared with or stored into a column of ``type_text`` keeps its value:
    not an ENUM (an int names a label there) and an INTEGER/NUMERIC affinity (REAL
    makes it a float, TEXT a string)."""
    memo = (sem.name, type_text)
    known = _INT_IS_ITSELF.get(memo)
    if known is None:
        known = enum_labels(type_text) is None and sem.affinity(type_text) in (
            "INTEGER",
            "NUMERIC",
        )
        if len(_INT_IS_ITSELF) < 4096:
            _INT_IS_ITSELF[memo] = known
    return known


def _enum_label(labels: tuple[str, ...], value: Any) -> Any:
    """What an ENUM column stores for ``value``: a number is the 1-based index of its
    label (so ``2`` and ``'medium'`` are one key and route alike); a string is the label
    it names (compared case- and trailing-space-insensitively by the collation later)."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(labels):
        return labels[value - 1]
    if isinstance(value, str) and value.strip().isdigit() and value not in labels:
        index = int(value)
        if 1 <= index <= len(labels):
            return labels[index - 1]
    return value


class Route:
    """Base: a set of shards of one placement (None means "all")."""

    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        raise NotImplementedError

    def describe(self, values: Sequence[Any] = ()) -> str:
        """One line for EXPLAIN; ``values`` are the call's bound values (a folded IN
        list counts as its values)."""
        raise NotImplementedError


@dataclass(frozen=True)
class AllShards(Route):
    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        return None

    def describe(self, values: Sequence[Any] = ()) -> str:
        return "all shards"


def _expand(refs: Sequence[ValueRef], values: Sequence[Any]) -> Iterator[Any]:
    """The values ``refs`` stand for, a folded IN list (:mod:`sharding.sql.inlist`)
    giving each of its values."""
    for ref in refs:
        v = value_of(ref, values)
        if isinstance(v, InList):
            yield from v.values
        else:
            yield v


@dataclass(frozen=True)
class KeyIn(Route):
    """``key = v`` or ``key IN (v, …)`` on table ``table`` (index into the group)."""

    table: int
    values: tuple[ValueRef, ...]

    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        t = info[self.table]
        out: set[int] = set()
        every = t.rule.shards
        for v in _expand(self.values, values):
            if v is None:
                continue  # key = NULL is never true
            try:
                out.add(t.rule.shard_of(canonical_key(t, v, sem)))
            except NoShardForValue:
                continue  # no stored row can have this key
            except _AnyShard:
                return None
            if len(out) >= every:
                # Every shard is already in: the rest of a long IN list cannot add one
                # (a 100k-value list over 4 shards stops after a handful of values).
                return out
        return out

    def describe(self, values: Sequence[Any] = ()) -> str:
        try:
            count = sum(1 for _ in _expand(self.values, values))
        except IndexError:  # no values bound (a plan described alone)
            count = len(self.values)
        return f"key of table#{self.table} IN {count} value(s)"


def value_shard(info: TableInfo, value: Any, sem: Semantics) -> int | None:
    """The one shard a non-NULL shard-key value of ``info`` can live on, or None when
    that is not exact (no stored row can have it, or it may be on any shard)."""
    try:
        return info.rule.shard_of(canonical_key(info, value, sem))
    except (NoShardForValue, _AnyShard):
        return None


def key_list_slots(route: Route) -> dict[int, int]:
    """The slots a :class:`KeyIn` of ``route`` reads (``key IN (?)`` of a folded list,
    or ``key = ?``), each with the index of the table whose shard key it is compared
    with; through AND and OR (where every row a value can match lives on that value's
    shard too)."""
    out: dict[int, int] = {}
    if isinstance(route, KeyIn):
        for kind, x in route.values:
            if kind == "slot":
                out[x] = route.table
    elif isinstance(route, AndRoute | OrRoute):
        for part in route.parts:
            out.update(key_list_slots(part))
    return out


@dataclass(frozen=True)
class KeyIsNull(Route):
    table: int

    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        return {info[self.table].rule.shard_of(None)}

    def describe(self, values: Sequence[Any] = ()) -> str:
        return f"key of table#{self.table} IS NULL"


@dataclass(frozen=True)
class KeyRange(Route):
    table: int
    low: ValueRef | None
    high: ValueRef | None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        t = info[self.table]
        low = value_of(self.low, values) if self.low is not None else None
        high = value_of(self.high, values) if self.high is not None else None
        if (self.low is not None and low is None) or (self.high is not None and high is None):
            return set()  # comparison with NULL is never true
        try:
            low = canonical_key(t, low, sem) if low is not None else None
            high = canonical_key(t, high, sem) if high is not None else None
        except _AnyShard:
            return None
        return t.rule.shards_between(low, high, self.low_inclusive, self.high_inclusive)

    def describe(self, values: Sequence[Any] = ()) -> str:
        return f"key of table#{self.table} in a range"


@dataclass(frozen=True)
class AndRoute(Route):
    parts: tuple[Route, ...]

    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        result: set[int] | None = None
        for part in self.parts:
            s = part.shards(info, values, sem)
            if s is None:
                continue
            result = s if result is None else result & s
        return result

    def describe(self, values: Sequence[Any] = ()) -> str:
        return "(" + " AND ".join(p.describe(values) for p in self.parts) + ")"


@dataclass(frozen=True)
class OrRoute(Route):
    parts: tuple[Route, ...]

    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        result: set[int] = set()
        for part in self.parts:
            s = part.shards(info, values, sem)
            if s is None:
                return None
            result |= s
        return result

    def describe(self, values: Sequence[Any] = ()) -> str:
        return "(" + " OR ".join(p.describe(values) for p in self.parts) + ")"


ALL = AllShards()

#: Given a column node, the index of the table whose shard key it is (or None), and
#: whether that table is on the NULL-extended side of an outer join.
KeyLookup = Callable[[exp.Column], tuple[int, bool] | None]
SlotLookup = Callable[[exp.Placeholder], int]


def constant_ref(node: exp.Expr, slot_of: SlotLookup) -> ValueRef | None:
    """A value reference for a constant operand, or None if ``node`` is not constant."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Placeholder):
        return ("slot", slot_of(node))
    if isinstance(node, exp.Literal):
        if node.is_string:
            return ("const", node.this)
        try:
            return ("const", int(node.this))
        except ValueError:
            return ("const", float(node.this))
    if isinstance(node, exp.Null):
        return ("const", None)
    if isinstance(node, exp.Boolean):
        return ("const", 1 if node.this else 0)
    if isinstance(node, exp.Neg):
        inner = constant_ref(node.this, slot_of)
        if inner is None:
            return None
        if inner[0] == "const":
            v = inner[1]
            return ("const", -v) if isinstance(v, int | float) else None
        return ("neg", inner)
    return None


def _operand(node: exp.Expr, slot_of: SlotLookup) -> ValueRef | None:
    """A value reference for a routing operand: a constant, or a hex/bit literal."""
    ref = constant_ref(node, slot_of)
    if ref is not None:
        return ref
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.HexString):
        digits = str(node.this)
        data = bytes.fromhex(digits.rjust(len(digits) + len(digits) % 2, "0"))
        number = int(digits, 16) if digits and hex_is_number_form(node) else None
        return ("const", HexLiteral(data, number))
    if isinstance(node, exp.BitString):
        n = int(str(node.this) or "0", 2)
        return ("const", HexLiteral(n.to_bytes((len(str(node.this)) + 7) // 8, "big"), n))
    return None


def build_route(where: exp.Expr | None, key_of: KeyLookup, slot_of: SlotLookup) -> Route:
    """The route tree of a WHERE clause (see module docstring)."""
    if where is None:
        return ALL
    return _route(where, key_of, slot_of)


def _key(node: exp.Expr, key_of: KeyLookup) -> tuple[int, bool] | None:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        return key_of(node)
    return None


def _route(node: exp.Expr, key_of: KeyLookup, slot_of: SlotLookup) -> Route:
    if isinstance(node, exp.Paren):
        return _route(node.this, key_of, slot_of)
    if isinstance(node, exp.Where):
        return _route(node.this, key_of, slot_of)
    if isinstance(node, exp.And):
        parts = [_route(node.this, key_of, slot_of), _route(node.expression, key_of, slot_of)]
        parts = [p for p in parts if p is not ALL]
        if not parts:
            return ALL
        return parts[0] if len(parts) == 1 else AndRoute(tuple(_flatten(parts, AndRoute)))
    if isinstance(node, exp.Or):
        parts = [_route(node.this, key_of, slot_of), _route(node.expression, key_of, slot_of)]
        if any(p is ALL for p in parts):
            return ALL
        return OrRoute(tuple(_flatten(parts, OrRoute)))
    if isinstance(node, exp.EQ | exp.NullSafeEQ):
        for a, b in ((node.this, node.expression), (node.expression, node.this)):
            key = _key(a, key_of)
            value = _operand(b, slot_of)
            if key is not None and value is not None:
                if isinstance(node, exp.NullSafeEQ) and value == ("const", None):
                    return ALL if key[1] else KeyIsNull(key[0])
                return KeyIn(key[0], (value,))
        return ALL
    if isinstance(node, exp.In):
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            return ALL
        key = _key(node.this, key_of)
        if key is None:
            return ALL
        refs = [_operand(e, slot_of) for e in node.expressions]
        if any(r is None for r in refs):
            return ALL
        return KeyIn(key[0], tuple(r for r in refs if r is not None))
    if isinstance(node, exp.Is):
        key = _key(node.this, key_of)
        if key is not None and isinstance(node.expression, exp.Null) and not key[1]:
            return KeyIsNull(key[0])
        return ALL
    if isinstance(node, exp.Between):
        key = _key(node.this, key_of)
        low = _operand(node.args["low"], slot_of)
        high = _operand(node.args["high"], slot_of)
        if key is None or low is None or high is None:
            return ALL
        return KeyRange(key[0], low, high)
    if isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE):
        flip = False
        key = _key(node.this, key_of)
        value = _operand(node.expression, slot_of)
        if key is None:
            key = _key(node.expression, key_of)
            value = _operand(node.this, slot_of)
            flip = True
        if key is None or value is None:
            return ALL
        lower = isinstance(node, exp.GT | exp.GTE) != flip  # key > v  → v is a low bound
        inclusive = isinstance(node, exp.GTE | exp.LTE)
        if lower:
            return KeyRange(key[0], value, None, inclusive, True)
        return KeyRange(key[0], None, value, True, inclusive)
    return ALL


def _flatten(parts: list[Route], kind: type[AndRoute] | type[OrRoute]) -> list[Route]:
    out: list[Route] = []
    for p in parts:
        if isinstance(p, kind):
            out.extend(p.parts)
        else:
            out.append(p)
    return out
