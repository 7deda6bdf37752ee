"""DDL through the coordinator: on every shard (or broadcast copy), then the catalog.

CREATE TABLE derives the table's rule and physical DDL (:mod:`sharding.sql.ddl`), runs
it on every placement — ``window`` at a time, one executor query — and only then
records the table in the catalog; if any placement fails, the ones created are
dropped again (shielded), so a failed CREATE leaves nothing behind. DROP removes the
placements first, then the catalog entry. CREATE/DROP DATABASE only touch the catalog
(physical databases are per shard and made on demand). CREATE/DROP INDEX change every
placement and the recorded DDL. ALTER and RENAME are refused (1235): a sharded table
would have to be rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog
import trio
from sqlglot import exp

from sharding.api import Result
from sharding.catalog import IndexInfo, TableInfo
from sharding.errors import (
    NoDatabaseSelected,
    NotSupported,
    PartitionKeyError,
    ShardgateError,
    TableExists,
    UnknownTable,
)
from sharding.sql.ddl import (
    build_table,
    drop_index_sql,
    drop_table_sql,
    fill_ddl,
    index_sql,
    split_partition,
    truncate_sql,
)
from sharding.sql.parse import mysql_syntax_error, parse_one

if TYPE_CHECKING:
    from sharding.session import CoordinatorSession

log = structlog.get_logger("sharding")


class SchemaChanges:
    """DDL statements of one session (it gives the current database and the query id)."""

    def __init__(self, session: CoordinatorSession) -> None:
        self.session = session
        self.coord = session.coord

    async def run(self, kind: str, sql: str) -> Result:
        """Run one DDL statement (``kind``: its first keyword)."""
        if kind == "ALTER" or kind == "RENAME":
            raise NotSupported(
                f"{kind} TABLE on a sharded coordinator (create a new table and copy)"
            )
        words = re.findall(r"[A-Za-z_]+", sql[:80].upper())
        second = words[1] if len(words) > 1 else ""
        if kind == "TRUNCATE":
            tree = parse_one(sql)
            table = tree.find(exp.Table)
            if table is None:
                raise mysql_syntax_error(sql, 0, "TRUNCATE needs a table")
            info = await self._table_of(table)
            await self._on_placements(
                info,
                lambda db, t: [
                    fill_ddl(
                        truncate_sql(self.coord.semantics.dialect),
                        db,
                        t,
                        self.coord.semantics.dialect,
                    )
                ],
                create=False,
            )
            return Result()
        if kind == "CREATE" and second in ("DATABASE", "SCHEMA"):
            tree = parse_one(sql)
            name = _schema_name(tree)
            created = await self.coord.catalog.add_database(
                name, if_not_exists=bool(tree.args.get("exists"))
            )
            return Result(affected=1 if created else 0, warnings=0 if created else 1)
        if kind == "DROP" and second in ("DATABASE", "SCHEMA"):
            tree = parse_one(sql)
            name = _schema_name(tree)
            catalog = self.coord.catalog
            await catalog.reload()
            if not catalog.has_database(name):
                if tree.args.get("exists"):
                    return Result(warnings=1)
                raise ShardgateError(
                    f"Can't drop database '{name}'; database doesn't exist", code=1008
                )
            tables = catalog.tables(name)
            for info in tables:
                await self._drop_table(info)
            await catalog.remove_database(name)
            self.session.database_dropped(name)
            return Result(affected=len(tables))
        if kind == "CREATE" and ("TABLE" in words[1:4]):
            return await self._create_table(sql)
        if kind == "CREATE" and "INDEX" in words[1:4]:
            return await self._create_index(sql)
        if (kind == "DROP" and second == "TABLE") or (kind == "DROP" and second == "TEMPORARY"):
            tree = parse_one(sql)
            exists = bool(tree.args.get("exists"))
            missing = []
            infos = []
            for t in tree.find_all(exp.Table):
                try:
                    infos.append(await self._table_of(t))
                except UnknownTable:
                    missing.append(f"{t.db or self.session.database}.{t.name}")
            if missing and not exists:
                raise ShardgateError(
                    f"Unknown table '{', '.join(missing)}'", code=1051, sqlstate="42S02"
                )
            for info in infos:
                await self._drop_table(info)
            return Result(warnings=len(missing))
        if kind == "DROP" and second == "INDEX":
            m = re.match(
                r"\s*DROP\s+INDEX\s+`?(\w+)`?\s+ON\s+(.+?)\s*;?\s*$", sql, re.IGNORECASE | re.DOTALL
            )
            if not m:
                raise mysql_syntax_error(sql, 0, "DROP INDEX name ON table")
            table = parse_one(f"SELECT 1 FROM {m.group(2)}").find(exp.Table)
            assert table is not None
            info = await self._table_of(table)
            index = m.group(1)
            if all(i.name.lower() != index.lower() for i in info.indexes):
                raise ShardgateError(
                    f"Can't DROP '{index}'; check that column/key exists", code=1091
                )
            dialect = self.coord.semantics.dialect
            await self._on_placements(
                info,
                lambda db, t: [fill_ddl(drop_index_sql(index, dialect), db, t, dialect)],
                create=False,
            )
            new = replace(
                info,
                indexes=tuple(i for i in info.indexes if i.name.lower() != index.lower()),
                physical_ddl=tuple(
                    d for d in info.physical_ddl if f"__{index}" not in d and f"`{index}`" not in d
                ),
            )
            await self.coord.catalog.update_table(new)
            return Result()
        raise NotSupported(f"{kind} {second} on the sharding coordinator")

    async def _table_of(self, table: exp.Table) -> TableInfo:
        database = table.db or self.session.database
        if not database:
            raise NoDatabaseSelected("No database selected")
        return await self.coord.catalog.lookup(database, table.name)

    async def _create_table(self, sql: str) -> Result:
        coord = self.coord
        text, partitioning = split_partition(sql)
        tree = parse_one(text)
        if not isinstance(tree, exp.Create) or (tree.args.get("kind") or "").upper() != "TABLE":
            raise NotSupported("this CREATE TABLE form")
        if tree.args.get("temporary") or "TEMPORARY" in (tree.args.get("kind") or ""):
            raise NotSupported("CREATE TEMPORARY TABLE on a sharded coordinator")
        schema = tree.this
        table = schema.this if isinstance(schema, exp.Schema) else schema
        if not isinstance(table, exp.Table):
            raise NotSupported("this CREATE TABLE form")
        database = table.db or self.session.database
        if not database:
            raise NoDatabaseSelected("No database selected")
        await coord.catalog.check_database(database)
        await coord.catalog.reload()  # another coordinator may have created or dropped it
        existing = coord.catalog.get(database, table.name)
        if existing is not None:
            if tree.args.get("exists"):
                return Result(warnings=1)
            raise TableExists(f"Table '{table.name}' already exists")
        info = build_table(
            tree, partitioning, coord.topology, database, sql, coord.semantics.dialect
        )
        for ds in set(info.rule.datasources):
            if ds not in coord.datasources:
                raise ShardgateError(f"table {info.qualified}: unknown data source {ds!r}")
        dialect = coord.semantics.dialect
        try:
            await self._on_placements(
                info,
                lambda db, t: [fill_ddl(d, db, t, dialect) for d in info.physical_ddl],
                create=True,
            )
        except BaseException:
            with trio.CancelScope(shield=True):
                try:
                    await self._on_placements(
                        info,
                        lambda db, t: [fill_ddl(drop_table_sql(dialect), db, t, dialect)],
                        create=False,
                        name="cleanup",
                    )
                except Exception as cleanup_error:
                    log.warning(
                        "create table cleanup failed",
                        table=info.qualified,
                        error=str(cleanup_error),
                    )
            raise
        await coord.catalog.add_table(info)
        return Result()

    async def _create_index(self, sql: str) -> Result:
        coord = self.coord
        tree = parse_one(sql)
        index = tree.this
        if not isinstance(tree, exp.Create) or not isinstance(index, exp.Index):
            raise NotSupported("this CREATE INDEX form")
        table = index.args.get("table")
        if not isinstance(table, exp.Table):
            raise mysql_syntax_error(sql, 0, "CREATE INDEX needs ON table")
        info = await self._table_of(table)
        params = index.args.get("params")
        columns = [
            c.name if not isinstance(c, exp.Ordered) else c.this.name
            for c in (params.args.get("columns") if params is not None else [])
        ]
        if not columns:
            raise mysql_syntax_error(sql, 0, "CREATE INDEX needs columns")
        for c in columns:
            if info.columns and not info.has_column(c):
                raise ShardgateError(
                    f"Key column '{c}' doesn't exist in table", code=1072, sqlstate="42000"
                )
        unique = bool(tree.args.get("unique"))
        if (
            unique
            and not info.broadcast
            and info.rule.shards > 1
            and (info.rule.shard_key or "").lower() not in {c.lower() for c in columns}
        ):
            raise PartitionKeyError(
                f"A UNIQUE INDEX must include all columns in the table's partitioning function (shard key {info.rule.shard_key})"
            )
        name = index.name
        if any(i.name.lower() == name.lower() for i in info.indexes):
            raise ShardgateError(f"Duplicate key name '{name}'", code=1061, sqlstate="42000")
        dialect = coord.semantics.dialect
        template = index_sql(name, columns, unique, dialect)
        await self._on_placements(
            info, lambda db, t: [fill_ddl(template, db, t, dialect)], create=False
        )
        new = replace(
            info,
            indexes=(*info.indexes, IndexInfo(name, tuple(columns), unique)),
            physical_ddl=(*info.physical_ddl, template),
        )
        await coord.catalog.update_table(new)
        return Result()

    async def _drop_table(self, info: TableInfo) -> None:
        dialect = self.coord.semantics.dialect
        await self._on_placements(
            info, lambda db, t: [fill_ddl(drop_table_sql(dialect), db, t, dialect)], create=False
        )
        await self.coord.catalog.remove_table(info.database, info.name)

    async def _on_placements(
        self,
        info: TableInfo,
        statements: Callable[[str, str], list[str]],
        *,
        create: bool,
        name: str = "ddl",
    ) -> None:
        """Run DDL on every shard (or broadcast copy) of a table, ``window`` at a time."""
        coord = self.coord
        placements = info.placements()

        async def child(placement: tuple[int, str, str, str]) -> None:
            _, ds_name, db, table = placement
            ds = coord.datasources[ds_name]
            if create:
                await ds.ensure_database(db)
            async with ds.connection([db]) as conn:
                for stmt in statements(db, table):
                    await conn.execute(stmt)

        async with coord.executor.query(
            name=name, session=self.session.id, total=len(placements)
        ) as q:
            self.session.running(q.id)
            await q.map(child, placements)


def _schema_name(tree: exp.Expr) -> str:
    """The database named by CREATE/DROP DATABASE|SCHEMA (sqlglot puts it in odd places)."""
    tables = tree.args.get("tables") or ([tree.this] if tree.this is not None else [])
    for t in tables:
        if isinstance(t, exp.Table):
            name = t.name or t.db
            if name:
                if not re.match(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$", name):
                    raise ShardgateError(
                        f"Incorrect database name '{name}'", code=1102, sqlstate="42000"
                    )
                return name
    raise mysql_syntax_error(tree.sql(dialect="mysql"), 0, "database name expected")
