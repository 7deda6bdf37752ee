"""Whole statements that one shard can answer alone (issue 18, item 1).

A statement with subqueries, derived tables, CTEs, UNION / INTERSECT / EXCEPT or
window functions over sharded tables has no multi-shard plan yet. But when every
sharded table it reads is narrowed, in its own query block, to key values that all
live on one shard, that shard holds every row the statement can see: the statement
runs there unchanged (table names made physical), whatever its SQL — MariaDB's answer
by construction.

The rule, per query block (each SELECT of the tree: the top level, every subquery,
derived table, CTE body and UNION branch): its sharded tables are grouped as the
top-level planner groups them (co-located tables joined on their shard keys by
``=``), and each group's WHERE conjuncts give a :class:`~sharding.sql.route.Route`
exactly as a top-level WHERE does. :class:`OneShardRoute` evaluates every group's
route per call (parameters bound) and selects a shard only when every group that can
have rows routes to that same single shard. Anything else (a group with no key
condition, two groups on different shards, a key compared with an outer query's
column) leaves the original refusal in force — never a partial answer.

Why a block's own WHERE is enough: the block filters its rows by that WHERE wherever it
runs, so the rows it can use are a subset of the rows whose keys satisfy it, and all of
those are on the chosen shard. Conditions elsewhere (ON, HAVING, an outer block) are
not used: they would be sound in some positions and not in others.

Name resolution is deliberately stricter than MySQL's: a qualified column counts only
when its qualifier is an alias of the block itself; an unqualified one only when
exactly one catalog table of the block has it and the block has no derived table or
CTE that could have it too. A name that may belong to an outer query never routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported
from sharding.merge.semantics import Semantics
from sharding.sql.context import PlanContext
from sharding.sql.exprs import conjuncts
from sharding.sql.nodes import OutputColumn, Passthrough, SelectPlan, ShardRead
from sharding.sql.rewrite import HOLE, render_template, slot_of
from sharding.sql.route import Route, build_route
from sharding.sql.scope import join_kind

__all__ = ["OneShardRoute", "plan_one_shard"]


@dataclass(frozen=True)
class OneShardRoute(Route):
    """The shard every part routes to, when they all agree on one (module docstring).

    Each part is a route with the tables its indexes refer to. A part whose
    predicates contradict (no shard) cannot contribute rows and is ignored.
    """

    parts: tuple[tuple[Route, tuple[TableInfo, ...]], ...]

    def shards(
        self, info: Sequence[TableInfo], values: Sequence[Any], sem: Semantics
    ) -> set[int] | None:
        chosen: set[int] = set()
        for route, tables in self.parts:
            got = route.shards(tables, values, sem)
            if got is None or len(got) > 1:
                return None
            chosen |= got
            if len(chosen) > 1:
                return None
        return chosen

    def describe(self, values: Sequence[Any] = ()) -> str:
        inner = " = ".join(r.describe(values) for r, _ in self.parts)
        return f"one shard: {inner}"


@dataclass(eq=False)
class _Occurrence:
    alias: str
    info: TableInfo
    node: exp.Table
    outer: bool


class _Block:
    """One SELECT of the tree: its own FROM / JOIN table references."""

    def __init__(self, select: exp.Select, ctx: PlanContext, ctes: set[str]) -> None:
        self.select = select
        self.occurrences: list[_Occurrence] = []
        #: True when the block reads a derived table or CTE (columns not in the catalog).
        self.opaque = False
        sources: list[tuple[exp.Expr, str]] = []
        from_ = select.args.get("from_") or select.args.get("from")
        if from_ is not None:
            sources.append((from_.this, ""))
        for join in select.args.get("joins") or []:
            sources.append((join.this, join_kind(join)))
        for node, kind in sources:
            if not isinstance(node, exp.Table) or not node.name:
                self.opaque = True
                continue
            if not node.db and node.name.lower() in ctes:
                self.opaque = True
                continue
            info = ctx.tables.get((node.db or ctx.database or "", node.name))
            if info is None:
                self.opaque = True
                continue
            occ = _Occurrence(node.alias or node.name, info, node, kind == "left")
            if kind in ("right", "full"):
                occ.outer = True
                for earlier in self.occurrences:
                    earlier.outer = True
            self.occurrences.append(occ)

    def owner(self, col: exp.Column) -> _Occurrence | None:
        """The occurrence ``col`` surely belongs to (module docstring), else None."""
        if col.args.get("db") is not None:
            return None
        if col.table:
            hits = [o for o in self.occurrences if o.alias.lower() == col.table.lower()]
            return hits[0] if len(hits) == 1 else None
        if self.opaque:
            return None
        hits = [o for o in self.occurrences if o.info.has_column(col.name)]
        if len(hits) != 1 or not hits[0].info.columns:
            return None
        return hits[0]

    def shard_key_owner(self, col: exp.Column) -> _Occurrence | None:
        occ = self.owner(col)
        if occ is None or occ.info.broadcast:
            return None
        key = occ.info.rule.shard_key
        return occ if key is not None and key.lower() == col.name.lower() else None

    def groups(self) -> list[list[_Occurrence]]:
        """Sharded occurrences, co-located ones joined on their keys by ``=`` merged."""
        sharded = [o for o in self.occurrences if not o.info.broadcast]
        root = {id(o): id(o) for o in sharded}

        def find(x: int) -> int:
            while root[x] != x:
                root[x] = root[root[x]]
                x = root[x]
            return x

        where = conjuncts(self.select.args.get("where"))
        on: list[exp.Expr] = []
        for join in self.select.args.get("joins") or []:
            on.extend(conjuncts(join.args.get("on")))
        for cond in on + where:
            if not isinstance(cond, exp.EQ):
                continue
            a, b = cond.this, cond.expression
            if not isinstance(a, exp.Column) or not isinstance(b, exp.Column):
                continue
            oa, ob = self.shard_key_owner(a), self.shard_key_owner(b)
            if oa is None or ob is None or oa is ob:
                continue
            if any(cond is w for w in where) and (oa.outer or ob.outer):
                continue  # an outer join is co-located only through its ON clause
            if not oa.info.rule.same_placement(ob.info.rule):
                continue
            root[find(id(oa))] = find(id(ob))
        out: dict[int, list[_Occurrence]] = {}
        for o in sharded:
            out.setdefault(find(id(o)), []).append(o)
        return list(out.values())

    def route(self, group: list[_Occurrence]) -> Route:
        positions = {id(o): i for i, o in enumerate(group)}

        def key_of(col: exp.Column) -> tuple[int, bool] | None:
            occ = self.shard_key_owner(col)
            if occ is None or id(occ) not in positions:
                return None
            return positions[id(occ)], occ.outer

        return build_route(self.select.args.get("where"), key_of, slot_of)


def plan_one_shard(
    tree: exp.Expr,
    ctx: PlanContext,
    refusal: NotSupported,
    columns: tuple[OutputColumn, ...] | None,
) -> SelectPlan:
    """The whole of ``tree`` on one shard when the route allows it per call; otherwise
    ``refusal`` is raised (at plan time when no call could route, else per call)."""
    refusal = NotSupported(
        f"{refusal} reaching several shards (it runs when every query block routes "
        "by its shard key to one shard)"
    )
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    holes: list[TableInfo] = []
    sharded_nodes: dict[int, TableInfo] = {}
    for node, info in ctx.catalog_tables(tree):
        node.meta[HOLE] = len(holes)
        holes.append(info)
        if not info.broadcast:
            sharded_nodes[id(node)] = info
    if not sharded_nodes:
        raise refusal
    leader_info = next(iter(sharded_nodes.values()))
    layout = (leader_info.rule.shards, leader_info.rule.datasources)
    if any((i.rule.shards, i.rule.datasources) != layout for i in sharded_nodes.values()):
        raise refusal  # shard s of each table must be one place
    parts: list[tuple[Route, tuple[TableInfo, ...]]] = []
    seen: set[int] = set()
    for select in tree.find_all(exp.Select):
        block = _Block(select, ctx, ctes)
        for group in block.groups():
            seen.update(id(o.node) for o in group)
            route = block.route(group)
            parts.append((route, tuple(o.info for o in group)))
    if set(sharded_nodes) - seen:
        raise refusal  # a sharded table outside any FROM clause this module reads
    leader = next(i for i, info in enumerate(holes) if not info.broadcast)
    read = ShardRead(
        render_template(tree, ctx.dialect),
        tuple(holes),
        OneShardRoute(tuple(parts)),
        leader,
        route_tables=(holes[leader],),
        notes=("the whole statement runs on the one shard every query block routes to",),
    )
    return SelectPlan(Passthrough(read), None, refusal, columns)
