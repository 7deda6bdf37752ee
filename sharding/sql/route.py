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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NoShardForValue
from sharding.merge.semantics import Semantics

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


def canonical_key(info: TableInfo, value: Any, sem: Semantics) -> Any:
    """The shard-key value as the backend will store/compare it (see module doc)."""
    key = info.rule.shard_key
    if value is None or key is None:
        return value
    col = info.column(key)
    if col is not None:
        value = sem.apply_affinity(value, sem.affinity(col.type))
        if isinstance(value, str):
            coll = col.collation or sem.default_collation
            if coll.lower() not in ("binary", "utf8mb4_bin"):
                value = sem.collation(coll)(value)
    elif isinstance(value, str):
        value = sem.apply_affinity(value, "NUMERIC")
    return value


class Route:
    """Base: a set of shards of one placement (None means "all")."""

    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class AllShards(Route):
    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        return None

    def describe(self) -> str:
        return "all shards"


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
        for ref in self.values:
            v = value_of(ref, values)
            if v is None:
                continue  # key = NULL is never true
            try:
                out.add(t.rule.shard_of(canonical_key(t, v, sem)))
            except NoShardForValue:
                continue  # no stored row can have this key
        return out

    def describe(self) -> str:
        return f"key of table#{self.table} IN {len(self.values)} value(s)"


@dataclass(frozen=True)
class KeyIsNull(Route):
    table: int

    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        return {info[self.table].rule.shard_of(None)}

    def describe(self) -> str:
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
        low = canonical_key(t, low, sem) if low is not None else None
        high = canonical_key(t, high, sem) if high is not None else None
        return t.rule.shards_between(low, high, self.low_inclusive, self.high_inclusive)

    def describe(self) -> str:
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

    def describe(self) -> str:
        return "(" + " AND ".join(p.describe() for p in self.parts) + ")"


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

    def describe(self) -> str:
        return "(" + " OR ".join(p.describe() for p in self.parts) + ")"


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
            value = constant_ref(b, slot_of)
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
        refs = [constant_ref(e, slot_of) for e in node.expressions]
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
        low = constant_ref(node.args["low"], slot_of)
        high = constant_ref(node.args["high"], slot_of)
        if key is None or low is None or high is None:
            return ALL
        return KeyRange(key[0], low, high)
    if isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE):
        flip = False
        key = _key(node.this, key_of)
        value = constant_ref(node.expression, slot_of)
        if key is None:
            key = _key(node.expression, key_of)
            value = constant_ref(node.this, slot_of)
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
