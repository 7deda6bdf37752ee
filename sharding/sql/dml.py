"""UPDATE and DELETE: routed to the shards their WHERE allows, or to all.

The statement is pushed down whole to every routed shard (physical name filled per
shard); rows never move between shards, so an UPDATE that assigns the shard key is
refused (it would have to delete on one shard and insert on another). Broadcast
tables are written on every data source's copy. ``ORDER BY``/``LIMIT`` only make
sense on one shard; across several they are refused (which rows are "first" is a
global question the shards cannot answer alone). Subqueries may read broadcast
tables only.

Multi-table forms (``UPDATE a JOIN b ON … SET a.x = …``, ``UPDATE a, b …``, ``DELETE a
FROM a JOIN b …``) run per shard only when every shard sees the whole join for its own
rows: the tables joined to the written ones are broadcast (each data source has all of
them), or sharded tables co-located with them (same placement) and joined on the shard
keys. The written tables must be sharded then — a broadcast copy written once per shard
with only that shard's rows joined would be wrong. Anything else is refused (1235),
never run without its join.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from sharding.catalog import TableInfo
from sharding.errors import NotSupported, ShardgateError, ShardKeyUpdate, UnknownColumn
from sharding.sql.context import PlanContext
from sharding.sql.exprs import conjuncts
from sharding.sql.reads import key_lookup, shard_key_ref
from sharding.sql.rewrite import HOLE, render_template, slot_of
from sharding.sql.route import ALL, Route, build_route
from sharding.sql.scope import Scope, TableRef, delete_list_ids
from sharding.sql.template import Template, table_marker


@dataclass(frozen=True)
class WritePlan:
    kind: str  # "update" | "delete"
    template: Template
    tables: tuple[TableInfo, ...]
    table: TableInfo
    route: Route
    #: LIMIT present: one routed shard runs it as it is; several take two steps
    #: (:mod:`sharding.sql.limited_write`).
    single_only: bool = False
    #: Hole of the written table whose placement decides the targets.
    leader: int = 0
    #: The sharded tables the route's predicates may name (co-located in a join).
    route_tables: tuple[TableInfo, ...] = ()

    @property
    def broadcast(self) -> bool:
        return self.table.broadcast


def plan_write(tree: exp.Expr, ctx: PlanContext) -> WritePlan:
    kind = "update" if isinstance(tree, exp.Update) else "delete"
    if isinstance(tree, exp.Delete) and tree.args.get("using"):
        _using_as_multi_delete(tree)
    if tree.args.get("joins") or tree.args.get("from_") or tree.args.get("using"):
        raise NotSupported(f"this multi-table {kind.upper()} form on a sharded coordinator")
    if tree.args.get("returning") is not None:
        raise NotSupported(f"{kind.upper()} ... RETURNING")
    scope = Scope(tree, ctx.tables, ctx.database)
    if not scope.refs or scope.derived:
        raise NotSupported(f"{kind.upper()} of a derived table")
    multi = len(scope.refs) > 1 or bool(tree.args.get("tables"))
    targets = _written_refs(tree, scope) if multi else [scope.refs[0]]
    ref = targets[0]
    info = ref.info
    if multi:
        if ctx.dialect != "mysql":
            # SQLite has no UPDATE … JOIN / DELETE t FROM … JOIN syntax.
            raise NotSupported(f"multi-table {kind.upper()} on {ctx.dialect} shards")
        _check_multi_table(kind, scope, targets)
    # Every top-level table gets its hole; subqueries may only read broadcast tables.
    holes: list[TableInfo] = [r.info for r in scope.refs]
    for r in scope.refs:
        r.node.meta[HOLE] = r.index
    skip = {id(r.node) for r in scope.refs} | delete_list_ids(tree)
    for node, other in ctx.catalog_tables(tree, skip=skip):
        if not other.broadcast and not (
            not multi and _correlated_on_the_shard_key(node, other, ref)
        ):
            raise NotSupported(
                f"a subquery over the sharded table {other.qualified} in {kind.upper()} "
                f"(one that reads only the written row's shard: WHERE "
                f"{other.name}.<shard key> = {info.name}.<shard key>, runs)"
            )
        if not other.broadcast and not node.alias:
            # Its columns are written with the logical name; the hole is the physical.
            node.set("alias", exp.TableAlias(this=exp.to_identifier(other.name)))
        node.meta[HOLE] = len(holes)
        holes.append(other)
    if isinstance(tree, exp.Update):
        for assignment in tree.expressions:
            target = assignment.this
            if not isinstance(target, exp.Column):
                continue
            found = scope.resolve(target)
            owner = found[0] if found is not None else ref
            key = owner.info.rule.shard_key
            if key and not owner.info.broadcast and target.name.lower() == key.lower():
                raise ShardKeyUpdate(
                    f"UPDATE of the shard key {owner.info.qualified}.{key} would move rows between "
                    "shards; delete and re-insert instead"
                )
    # Qualify columns in WHERE, JOIN conditions and SET values (not the SET targets).
    where = tree.args.get("where")
    if where is not None:
        scope.qualify(where)
    for r in scope.refs:
        join = r.node.parent if isinstance(r.node.parent, exp.Join) else None
        if join is not None and join.args.get("on") is not None:
            scope.qualify(join.args["on"])
    if isinstance(tree, exp.Update):
        # MariaDB's order: WHERE, then each SET target, then the values.
        for assignment in tree.expressions:
            target = assignment.this
            if (
                isinstance(target, exp.Column)
                and scope.resolve(target) is None
                and all(r.info.columns for r in scope.refs)
            ):
                raise UnknownColumn(f"Unknown column '{target.sql(dialect='mysql')}' in 'SET'")
        for assignment in tree.expressions:
            scope.qualify(assignment.expression)
    if tree.args.get("order") is not None and isinstance(tree, exp.Update | exp.Delete):
        scope.qualify(tree.args["order"])
    sharded = [r for r in scope.refs if not r.info.broadcast]
    route = ALL if info.broadcast else build_route(where, key_lookup(scope, sharded), slot_of)
    # Without a LIMIT, each shard applies its rows in the ORDER BY's order (what MySQL's
    # ORDER BY changes: the order unique-key checks see); with one, several shards need
    # the session's two steps (sql/limited_write.py).
    single_only = tree.args.get("limit") is not None
    if not single_only and ctx.dialect != "mysql":
        # SQLite takes ORDER BY on a write only with a LIMIT; without one it changes
        # nothing but the order SQLite visits the rows in.
        tree.set("order", None)
    if ref.node.alias is None or ref.node.alias == "":
        ref.node.set("alias", exp.TableAlias(this=exp.to_identifier(info.name)))
    if isinstance(tree, exp.Delete) and ctx.dialect == "mysql":
        for r in targets:
            _mysql_delete_alias(tree, r.node, r.index)
    template = render_template(tree, ctx.dialect)
    # The leader (hole 0) decides placement: the written sharded table comes first.
    route_tables = tuple(r.info for r in sharded) if sharded else (info,)
    return WritePlan(
        kind, template, tuple(holes), info, route, single_only, ref.index, route_tables
    )


def _using_as_multi_delete(tree: exp.Delete) -> None:
    """``DELETE FROM a USING t AS a JOIN …`` is ``DELETE a FROM t AS a JOIN …``."""
    using = tree.args["using"]
    if len(using) != 1 or not isinstance(tree.this, exp.Table):
        raise NotSupported("DELETE ... USING with several table lists")
    target = tree.this
    tree.set("using", None)
    tree.set("tables", [target])
    tree.set("this", using[0])


def _written_refs(tree: exp.Expr, scope: Scope) -> list[TableRef]:
    """The tables a multi-table statement writes: SET targets' tables, DELETE's list."""
    refs: list[TableRef] = []
    if isinstance(tree, exp.Update):
        for assignment in tree.expressions:
            target = assignment.this
            found = scope.resolve(target) if isinstance(target, exp.Column) else None
            if found is None:
                raise NotSupported("an UPDATE assignment whose target is not a table column")
            if found[0] not in refs:
                refs.append(found[0])
    else:
        for node in tree.args.get("tables") or []:
            name = node.name if isinstance(node, exp.Table) else str(node)
            r = scope.ref_of_alias(name)
            if r is None:
                raise ShardgateError(
                    f"Unknown table '{name}' in MULTI DELETE", code=1109, sqlstate="42S02"
                )
            if r not in refs:
                refs.append(r)
    if not refs:
        raise NotSupported("a multi-table statement that writes no table")
    return refs


def _correlated_on_the_shard_key(node: exp.Table, other: TableInfo, written: TableRef) -> bool:
    """Whether a subquery's sharded table ``node`` reads only rows of the shard that
    holds the written row — so each shard computes the subquery for its own rows, the
    whole statement runs per shard unchanged (MariaDB's answer). So: the two tables
    are placed alike, the subquery reads ``node`` alone (no join), and its WHERE has
    ``node.<shard key> = written.<shard key>`` as a conjunct (``UPDATE p SET total =
    (SELECT SUM(amt) FROM ch WHERE ch.pid = p.id)`` with ``ch`` sharded by ``pid``
    as ``p`` by ``id``)."""
    info = written.info
    inner_key, outer_key = other.rule.shard_key, info.rule.shard_key
    if info.broadcast or not inner_key or not outer_key:
        return False
    if not other.rule.same_placement(info.rule):
        return False
    select = node.find_ancestor(exp.Select)
    if select is None or select.args.get("joins"):
        return False
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is None or from_.this is not node:
        return False
    inner_names = {other.name.lower(), (node.alias or "").lower()} - {""}
    outer_names = {info.name.lower(), (written.node.alias or "").lower()} - {""}

    def names(col: exp.Expr, table_names: set[str], key: str, bare: bool) -> bool:
        if not isinstance(col, exp.Column) or col.name.lower() != key.lower():
            return False
        return col.table.lower() in table_names if col.table else bare

    for cond in conjuncts(select.args.get("where")):
        if not isinstance(cond, exp.EQ):
            continue
        for a, b in ((cond.this, cond.expression), (cond.expression, cond.this)):
            # The inner side may be bare (it resolves to the inner table first); the
            # outer side must name the written table.
            if names(a, inner_names, inner_key, True) and names(b, outer_names, outer_key, False):
                return True
    return False


def _check_multi_table(kind: str, scope: Scope, written: Sequence[TableRef]) -> None:
    """Refuse a multi-table write that one shard cannot compute for its own rows."""
    verb = kind.upper()
    sharded = [r for r in scope.refs if not r.info.broadcast]
    if not sharded:
        return  # every table broadcast: each copy holds everything
    for r in written:
        if r.info.broadcast:
            raise NotSupported(
                f"multi-table {verb} writing the broadcast table {r.info.qualified} joined with "
                "sharded tables (each shard would write the copy with only its own rows joined)"
            )
    if len(_colocated(scope, sharded)) > 1:
        names = ", ".join(r.info.qualified for r in sharded)
        raise NotSupported(
            f"multi-table {verb} joining sharded tables that are not co-located ({names}); "
            "join them on their shard keys, or write through a SELECT of the keys first"
        )


def _colocated(scope: Scope, sharded: Sequence[TableRef]) -> list[set[int]]:
    """Groups of sharded tables that one shard holds together: same placement and joined
    by an equality of their shard keys (in an ON clause or the WHERE)."""
    groups: list[set[int]] = [{id(r)} for r in sharded]
    conditions: list[exp.Expr] = []
    for r in scope.refs:
        join = r.node.parent if isinstance(r.node.parent, exp.Join) else None
        if join is not None:
            conditions.extend(conjuncts(join.args.get("on")))
    conditions.extend(conjuncts(scope.query.args.get("where")))
    for cond in conditions:
        if not isinstance(cond, exp.EQ):
            continue
        a, b = shard_key_ref(scope, cond.this), shard_key_ref(scope, cond.expression)
        if a is None or b is None or a is b or not a.info.rule.same_placement(b.info.rule):
            continue
        ga = next(g for g in groups if id(a) in g)
        gb = next(g for g in groups if id(b) in g)
        if ga is not gb:
            ga |= gb
            groups.remove(gb)
    return groups


def _mysql_delete_alias(tree: exp.Delete, table: exp.Table, hole: int) -> None:
    """MariaDB (before 11.6) rejects an alias in a single-table DELETE, and its
    multi-table form resolves the target list in the default database, which a shard
    connection does not have: name each deleted physical table itself, in the target
    list too, with its columns qualified by it (``DELETE `db`.`t` FROM `db`.`t` JOIN …
    WHERE `db`.`t`.id = 1``)."""
    alias = table.alias_or_name
    marker = table_marker(hole)
    for column in tree.find_all(exp.Column):
        if column.table and column.table.lower() == alias.lower():
            column.set("table", exp.Identifier(this=marker, quoted=False))
    for entry in tree.args.get("tables") or []:
        if isinstance(entry, exp.Table) and entry.name.lower() == alias.lower():
            entry.replace(exp.Table(this=exp.Identifier(this=marker, quoted=False)))
    joins = table.args.get("joins")
    replacement = exp.Table(this=exp.Identifier(this=marker, quoted=False))
    if joins:
        replacement.set("joins", joins)
    table.replace(replacement)
