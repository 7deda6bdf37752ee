"""Each shard reads only its own values of a long shard-key ``IN`` list.

A folded list (:mod:`sharding.sql.inlist`: ``id IN (?)`` standing for 100,000 values)
routes the read to the shards its values live on, but every shard statement used to
repeat the whole list: 1024 shards × 100,000 values is 100 million values for the data
sources to parse, for an answer that needs each value on one shard. For a list compared
with the shard key of the table a read scans, shard ``s`` gets only the values whose
rows can live on ``s`` — the same placement the routing computed
(:func:`sharding.sql.route.value_shard`):

* ``key IN (list)`` on shard ``s``: a row of ``s`` has a key of ``s``, so it equals a
  value of the list exactly when it equals one of ``s``'s values; ``NOT IN`` likewise.
  A NULL in the list stays in every shard's list (``x NOT IN (1, NULL)`` is NULL).
* a shard none of whose values are in the list (reached through ``OR``, or a value
  list routed by another condition) gets the list's first value — a value of another
  shard, which no row of ``s`` equals, so the predicate is FALSE there as with the
  whole list (an empty ``IN ()`` is not SQL).

Only where each value's placement is exact: every non-NULL value of the list is of the
key's own kind (an integer for an integer key, a string for a text key — no conversion
that could warn or be inexact) and has one shard; otherwise the whole list goes to
every shard as before. The cut lists are filled like table names: the template keeps a
hole for the slot and each :class:`Target` carries its shard's text after its table
names (the runner and EXPLAIN both bind this way). Reads only: a write's shard
statements still carry the whole list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sharding.catalog import TableInfo
from sharding.exec.targets import Target, route_shards
from sharding.merge.semantics import Semantics
from sharding.sql.inlist import FOLD_MIN, InList
from sharding.sql.literals import slot_text
from sharding.sql.nodes import ShardRead
from sharding.sql.route import key_list_slots, value_shard
from sharding.sql.template import ShardTemplate

__all__ = ["Ahead", "ShardLists", "list_values", "plan_ahead", "plan_reads", "shard_lists"]


@dataclass(frozen=True, slots=True)
class ShardLists:
    """The folded key lists of one read, cut per shard (module docstring)."""

    #: slot → index into a target's names where its shard's list text is.
    holes: dict[int, int]
    #: per list (in ``holes`` order): shard → the list's text for that shard.
    texts: tuple[dict[int, str], ...]
    #: per list: the text of a shard without values of its own (the first value).
    fillers: tuple[str, ...]

    def bind(self, read: ShardRead, texts: Sequence[str]) -> ShardTemplate:
        return read.template.bind(texts, self.holes)

    def targets(self, targets: Sequence[Target]) -> list[Target]:
        """``targets`` with each one's list texts after its table names."""
        return [
            replace(
                t,
                names=t.names
                + tuple(
                    per.get(t.shard, filler)
                    for per, filler in zip(self.texts, self.fillers, strict=True)
                ),
            )
            for t in targets
        ]

    def sizes(self) -> dict[int, int]:
        """Values per shard summed over the lists (for tests and EXPLAIN)."""
        out: dict[int, int] = {}
        for per in self.texts:
            for shard, text in per.items():
                out[shard] = out.get(shard, 0) + text.count(", ") + 1
        return out


def _natural(value: Any, affinity: str | None) -> bool:
    if affinity == "INTEGER":
        return isinstance(value, int) and not isinstance(value, bool)
    if affinity == "TEXT":
        return isinstance(value, str)
    return False


def shard_lists(read: ShardRead, values: Sequence[Any], sem: Semantics) -> ShardLists | None:
    """The read's folded shard-key lists cut per shard, or None when it has none that
    can be cut (module docstring)."""
    if read.leader is None:
        return None
    leader = read.tables[read.leader]
    holes: dict[int, int] = {}
    texts: list[dict[int, str]] = []
    fillers: list[str] = []
    for slot, table in key_list_slots(read.route).items():
        value = values[slot]
        if not isinstance(value, InList) or len(value) < FOLD_MIN:
            continue
        info = read.route_tables[table]
        key = info.rule.shard_key
        column = info.column(key) if key is not None else None
        # The targets are the leader's shards: only its own key's list is cut.
        if column is None or info.broadcast or info.qualified != leader.qualified:
            continue
        affinity = sem.affinity(column.type)
        cut = _cut(value, info, affinity, sem)
        if cut is None:
            continue
        per, filler = cut
        holes[slot] = len(read.tables) + len(texts)
        texts.append(per)
        fillers.append(filler)
    if not holes:
        return None
    return ShardLists(holes, tuple(texts), tuple(fillers))


def _cut(
    value: InList, info: TableInfo, affinity: str | None, sem: Semantics
) -> tuple[dict[int, str], str] | None:
    """shard → text of the list's values on it (NULLs in every one), and the filler;
    None when some value's placement is not exact."""
    per: dict[int, list[str]] = {}
    everywhere: list[str] = []
    first: str | None = None
    for slot, v in zip(value.slots, value.values, strict=True):
        text = slot_text(slot, v, sem.dialect)
        if v is None:
            everywhere.append(text)
            continue
        if not _natural(v, affinity):
            return None
        shard = value_shard(info, v, sem)
        if shard is None:
            return None
        per.setdefault(shard, []).append(text)
        if first is None:
            first = text
    if first is None:
        return None  # only NULLs: nothing to cut
    joined = {s: ", ".join(vs + everywhere) for s, vs in per.items()}
    filler = ", ".join([first, *everywhere])
    return joined, filler


def list_values(values: Sequence[Any]) -> int:
    """How many values the folded lists among ``values`` hold (0: none)."""
    return sum(len(v) for v in values if isinstance(v, InList))


def plan_reads(node: object) -> Iterator[ShardRead]:
    """Every shard read of a plan tree (any dataclass nesting)."""
    if isinstance(node, ShardRead):
        yield node
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            yield from plan_reads(getattr(node, f.name))
    elif isinstance(node, tuple | list):
        for item in node:
            yield from plan_reads(item)


@dataclass(frozen=True, slots=True)
class Ahead:
    """Per read of a plan (by ``id(read)``): its cut lists and the shards it visits,
    computed before the run (:func:`plan_ahead`)."""

    key_lists: dict[int, ShardLists | None]
    shards: dict[int, list[int]]


def plan_ahead(plan: object, values: Sequence[Any], sem: Semantics) -> Ahead:
    """:func:`shard_lists` and :func:`sharding.exec.targets.route_shards` of every read of
    ``plan``, computed ahead: for a statement of 100,000 values placing each one takes
    a second, which the session spends in a worker thread rather than on the event
    loop (other clients' queries must not wait)."""
    reads = list(plan_reads(plan))
    return Ahead(
        {id(read): shard_lists(read, values, sem) for read in reads},
        {id(read): route_shards(read, values, sem) for read in reads if read.leader is not None},
    )
