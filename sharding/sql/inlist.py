"""Fold a long ``key IN (?, ?, …)`` list into one list-valued slot before parsing.

Parsing, copying and rendering a sqlglot tree cost ~10-40 µs per node, so a statement
with a 100,000-value IN list costs seconds to plan even in linear time (issue 12, item
4), while what the planner needs from the list is tiny: routing reads the values, the
shard statement repeats them. So, as Vitess does with its list bind variables, the
normalised text ``… IN (?, ?, …, ?)`` becomes ``… IN (?)`` with one slot whose value
is an :class:`InList` (the original slots and their values): the tree has one node,
routing expands the list (:class:`sharding.sql.route.KeyIn`), and the shard statement
gets the values' SQL text joined by ``", "`` where the ``?`` was. Statements that differ
only in the length of such a list share one cached plan.

Only where that is exactly equivalent (:meth:`Folded.safe_in`, checked on the parsed
folded tree; otherwise the caller plans the unfolded text): the list is the whole
right-hand side of ``column IN (…)`` inside the WHERE clause of a single-table SELECT,
UPDATE or DELETE without GROUP BY, HAVING, joins or CTEs, reached only through AND, OR,
NOT and parentheses — a predicate that always runs on the shards, never on merged
rows in Python (where a list-valued slot would mean something else).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from sharding.sql.lexer import Normalized, Slot
from sharding.sql.parse import placeholder_offset

__all__ = ["FOLD_MIN", "Folded", "InList", "fold_in_lists", "foldable_in"]

#: Lists shorter than this are left alone (planning them is cheap; fewer surprises).
FOLD_MIN = 256

_IN_RUN = re.compile(r"(?<![\w$])IN\s*\(\s*(\?(?:\s*,\s*\?)*)\s*\)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class InList:
    """The value of a folded slot: the folded slots and their values, in order."""

    slots: tuple[Slot, ...]
    values: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True)
class Folded:
    """A normalised statement with its long IN lists folded (module docstring)."""

    norm: Normalized
    values: list[Any]
    #: Offsets (in ``norm.text``) of the folded ``?``.
    positions: frozenset[int]

    def safe_in(self, tree: exp.Expr) -> bool:
        """True when every folded ``?`` of the parsed ``tree`` sits where folding is
        exact (module docstring)."""
        if not _plain_statement(tree):
            return False
        seen = 0
        for node in tree.find_all(exp.Placeholder):
            if placeholder_offset(node) not in self.positions:
                continue
            seen += 1
            parent = node.parent
            if not (
                isinstance(parent, exp.In)
                and isinstance(parent.this, exp.Column)
                and parent.expressions == [node]
                and _reaches_where(parent, tree)
            ):
                return False
        return seen == len(self.positions)


def foldable_in(node: exp.In, tree: exp.Expr) -> bool:
    """Whether ``node`` (``column IN (…)`` in ``tree``) is where a folded list is exact
    (module docstring) — for a list that is not in the text (a materialised subquery's
    values: :mod:`sharding.sql.materialize`)."""
    return (
        _plain_statement(tree) and isinstance(node.this, exp.Column) and _reaches_where(node, tree)
    )


def _plain_statement(tree: exp.Expr) -> bool:
    if not isinstance(tree, exp.Select | exp.Update | exp.Delete):
        return False
    if any(tree.args.get(k) for k in ("joins", "group", "having", "with", "using")):
        return False
    if isinstance(tree, exp.Select):
        source = tree.args.get("from_") or tree.args.get("from")
        return source is not None and isinstance(source.this, exp.Table)
    return not tree.args.get("from_") and not tree.args.get("from")


def _reaches_where(node: exp.Expr, root: exp.Expr) -> bool:
    parent = node.parent
    while isinstance(parent, exp.And | exp.Or | exp.Not | exp.Paren):
        parent = parent.parent
    return isinstance(parent, exp.Where) and parent.parent is root


def fold_in_lists(norm: Normalized, values: Sequence[Any]) -> Folded | None:
    """``norm`` with every IN list of at least :data:`FOLD_MIN` slots folded into one
    slot (valued :class:`InList`), or None when there is none."""
    by_position = {s.position: i for i, s in enumerate(norm.slots)}
    text = norm.text
    runs: list[tuple[int, int, list[int]]] = []  # (start, end) of the run, slot indexes
    for m in _IN_RUN.finditer(text):
        start, end = m.span(1)
        if text.count("?", start, end) < FOLD_MIN:
            continue
        indexes: list[int] = []
        pos = text.find("?", start, end)
        while pos != -1:
            i = by_position.get(pos)
            if i is None:
                break  # a '?' that is no slot (inside a comment): leave the list alone
            indexes.append(i)
            pos = text.find("?", pos + 1, end)
        else:
            runs.append((start, end, indexes))
    if not runs:
        return None
    pieces: list[str] = []
    slots: list[Slot] = []
    new_values: list[Any] = []
    positions: set[int] = set()
    cursor = 0
    next_slot = 0
    length = 0
    for start, end, indexes in runs:
        # Slots before this run keep their values, at shifted offsets.
        while next_slot < indexes[0]:
            s = norm.slots[next_slot]
            shifted = s.position - cursor + length
            slots.append(Slot(shifted, s.param, s.raw, s.value, s.is_string))
            new_values.append(values[next_slot])
            next_slot += 1
        pieces.append(text[cursor:start])
        length += start - cursor
        folded = tuple(norm.slots[i] for i in indexes)
        raw = f"IN-list of {len(folded)}"
        slots.append(Slot(length, None, raw, None, True))
        new_values.append(InList(folded, tuple(values[i] for i in indexes)))
        positions.add(length)
        pieces.append("?")
        length += 1
        cursor = end
        next_slot = indexes[-1] + 1
    while next_slot < len(norm.slots):
        s = norm.slots[next_slot]
        slots.append(Slot(s.position - cursor + length, s.param, s.raw, s.value, s.is_string))
        new_values.append(values[next_slot])
        next_slot += 1
    pieces.append(text[cursor:])
    folded_norm = Normalized("".join(pieces), tuple(slots), norm.keyword, norm.param_count)
    return Folded(folded_norm, new_values, frozenset(positions))
