"""What one planning run knows, and the identity of expressions within it.

A plan is built once per normalised statement and cached, so everything a planning run
reads about the current call's *values* must be recorded: :meth:`PlanContext.structural`
reads a slot's value and remembers it in ``deps`` (the plan cache reuses the plan only
for calls with the same values there, e.g. ``ORDER BY 2`` is a position, not a value).

:func:`canon` is the planner's notion of "the same expression" (select item vs ORDER BY
term vs GROUP BY term): the MySQL rendering with each placeholder replaced by its slot
number, or — ``by_value`` — by its literal text, so ``GROUP BY a + 1`` matches
``SELECT a + 1`` although both ``1`` became different slots.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.merge.semantics import Semantics
from sharding.sql.rewrite import slot_of
from sharding.topology import ClusterConfig


@dataclass
class PlanContext:
    """Inputs of one planning run."""

    tables: dict[tuple[str, str], TableInfo]
    database: str | None
    sem: Semantics
    cluster: ClusterConfig
    #: Text the statement was parsed from (normalised), for result column names.
    source: str = ""
    #: Value of every slot for *this* call; reads through :meth:`structural` make the
    #: plan valid only for the same values (recorded in ``deps``).
    slot_values: Sequence[Any] = ()
    slot_raw: Sequence[str] = ()
    slot_literal: Sequence[bool] = ()
    deps: dict[int, Any] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.sem.dialect

    def structural(self, slot: int) -> Any:
        value = self.slot_values[slot]
        self.deps[slot] = value
        return value

    def catalog_tables(
        self, tree: exp.Expr, skip: set[int] | frozenset[int] = frozenset()
    ) -> Iterator[tuple[exp.Table, TableInfo]]:
        """Table nodes of ``tree`` naming catalog tables, with their entries.

        References to the statement's CTEs and nodes whose ``id`` is in ``skip`` are
        left out; names the catalog does not know are left out too (the caller looked
        every name up before planning, so those are not tables).
        """
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for node in tree.find_all(exp.Table):
            if id(node) in skip or not node.name:
                continue
            if not node.db and node.name.lower() in ctes:
                continue
            info = self.tables.get((node.db or self.database or "", node.name))
            if info is not None:
                yield node, info


def canon(node: exp.Expr, ctx: PlanContext | None = None, by_value: bool = False) -> str:
    """Identity text of an expression: placeholders by slot (or by literal value)."""
    copied = node.copy()
    if isinstance(copied, exp.Alias):
        copied = copied.this
    for p in list(copied.find_all(exp.Placeholder)):
        slot = slot_of(p)
        if by_value and ctx is not None and ctx.slot_literal and ctx.slot_literal[slot]:
            text = f"?={ctx.slot_raw[slot]}"
        else:
            text = f"?{slot}"
        if p is copied:
            return text
        p.replace(exp.Var(this=text))
    return copied.sql(dialect="mysql")


def deps_of(node: exp.Expr, ctx: PlanContext) -> None:
    """The plan depends on the values of every placeholder in ``node``."""
    for p in node.find_all(exp.Placeholder):
        ctx.structural(slot_of(p))
