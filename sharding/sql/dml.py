"""UPDATE and DELETE: routed to the shards their WHERE allows, or to all.

The statement is pushed down whole to every routed shard (physical name filled per
shard); rows never move between shards, so an UPDATE that assigns the shard key is
refused (it would have to delete on one shard and insert on another). Broadcast
tables are written on every data source's copy. ``ORDER BY``/``LIMIT`` only make
sense on one shard; across several they are refused (which rows are "first" is a
global question the shards cannot answer alone). Subqueries may read broadcast
tables only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported, ShardKeyUpdate
from sharding.sql.context import PlanContext
from sharding.sql.reads import key_lookup
from sharding.sql.rewrite import HOLE, render_template, slot_of
from sharding.sql.route import ALL, Route, build_route
from sharding.sql.scope import Scope
from sharding.sql.template import Template, table_marker


@dataclass(frozen=True)
class WritePlan:
    kind: str  # "update" | "delete"
    template: Template
    tables: tuple[TableInfo, ...]
    table: TableInfo
    route: Route
    #: ORDER BY / LIMIT present: allowed only when one shard is routed.
    single_only: bool = False

    @property
    def broadcast(self) -> bool:
        return self.table.broadcast


def plan_write(tree: exp.Expr, ctx: PlanContext) -> WritePlan:
    kind = "update" if isinstance(tree, exp.Update) else "delete"
    if (
        tree.args.get("joins")
        or tree.args.get("from_")
        or (isinstance(tree, exp.Delete) and tree.args.get("tables"))
    ):
        raise NotSupported(f"multi-table {kind.upper()} on a sharded coordinator")
    if tree.args.get("returning") is not None:
        raise NotSupported(f"{kind.upper()} ... RETURNING")
    scope = Scope(tree, ctx.tables, ctx.database)
    if len(scope.refs) != 1:
        raise NotSupported(f"{kind.upper()} needs exactly one table")
    ref = scope.refs[0]
    info = ref.info
    # Subqueries may only read broadcast tables.
    holes: list[TableInfo] = [info]
    ref.node.meta[HOLE] = 0
    for node, other in ctx.catalog_tables(tree, skip={id(ref.node)}):
        if not other.broadcast:
            raise NotSupported(
                f"a subquery over the sharded table {other.qualified} in {kind.upper()}"
            )
        node.meta[HOLE] = len(holes)
        holes.append(other)
    if isinstance(tree, exp.Update):
        key = info.rule.shard_key
        for assignment in tree.expressions:
            target = assignment.this
            if (
                key
                and not info.broadcast
                and isinstance(target, exp.Column)
                and target.name.lower() == key.lower()
            ):
                raise ShardKeyUpdate(
                    f"UPDATE of the shard key {info.qualified}.{key} would move rows between "
                    "shards; delete and re-insert instead"
                )
    # Qualify columns in WHERE and in SET values (not the SET targets).
    where = tree.args.get("where")
    if where is not None:
        scope.qualify(where)
    if isinstance(tree, exp.Update):
        for assignment in tree.expressions:
            scope.qualify(assignment.expression)
    if tree.args.get("order") is not None and isinstance(tree, exp.Update | exp.Delete):
        scope.qualify(tree.args["order"])
    route = ALL if info.broadcast else build_route(where, key_lookup(scope, [ref]), slot_of)
    single_only = tree.args.get("limit") is not None or tree.args.get("order") is not None
    if ref.node.alias is None or ref.node.alias == "":
        ref.node.set("alias", exp.TableAlias(this=exp.to_identifier(info.name)))
    if isinstance(tree, exp.Delete) and ctx.dialect == "mysql":
        _mysql_delete_alias(tree, ref.node)
    template = render_template(tree, ctx.dialect)
    return WritePlan(kind, template, tuple(holes), info, route, single_only)


def _mysql_delete_alias(tree: exp.Delete, table: exp.Table) -> None:
    """MariaDB (before 11.6) rejects an alias in a single-table DELETE, and its
    multi-table form needs a default database: name the physical table itself, with
    the columns qualified by it (``DELETE FROM `db`.`t` WHERE `db`.`t`.id = 1``)."""
    alias = table.alias_or_name
    marker = table_marker(0)
    for column in tree.find_all(exp.Column):
        if column.table == alias:
            column.set("table", exp.Identifier(this=marker, quoted=False))
    table.replace(exp.Table(this=exp.Identifier(this=marker, quoted=False)))
