"""DDL through the coordinator: on every shard (or broadcast copy), then the catalog.

CREATE TABLE derives the table's rule and physical DDL (:mod:`sharding.sql.ddl`), runs
it on every placement — ``window`` at a time, one executor query — and only then
records the table in the catalog; if any placement fails, the ones created are
dropped again (shielded), so a failed CREATE leaves nothing behind. DROP removes the
placements first, then the catalog entry. CREATE/DROP DATABASE only touch the catalog
(physical databases are per shard and made on demand). CREATE/DROP INDEX change every
placement and the recorded DDL.

FOREIGN KEY is accepted; the shards enforce it only where they can check it alone
(co-located tables, broadcast parent), otherwise it is catalog metadata with a warning
(:mod:`sharding.sql.foreign_keys`).

ALTER TABLE (and RENAME TABLE) is designed for a shard failing half-way:

1. the change is planned and checked first (:mod:`sharding.sql.alter`), nothing runs on
   an invalid one;
2. the catalog records it as *pending* on the table (its text) while still holding the
   old definition, so every statement keeps working against the shards not altered yet;
3. the placements are altered one at a time in a fixed order (shard 0, 1, ...), each
   atomically on MySQL/MariaDB (one ALTER) or in one transaction on SQLite;
4. only when every placement has it does the catalog switch to the new definition (one
   write; a rename replaces the entry in one transaction) and the pending mark go.

If a placement fails, the error names it and lists the shards that have the change and
those that don't; the catalog keeps the old definition and records the shards done.
*Finish*: fix the cause and run the same ALTER again: done shards are skipped, and a
shard whose error says "already there" (duplicate column/key, can't drop, ...) while its
columns already match the new definition counts as done (a crash may have come between
its ALTER and the record). *Roll back*: run the inverse ALTER (``DROP COLUMN`` for an
``ADD COLUMN``, the old definition for a ``MODIFY``, ...): while a change is pending, a
different ALTER is accepted only if it leads back to the catalog's columns, and it runs
on the shards recorded as done only, then clears the pending mark. Other coordinators
reading the catalog see the new definition on their next reload (the catalog
generation changes with every write).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog
import trio
from sqlglot import exp

from sharding.api import Result
from sharding.catalog import ForeignKeyInfo, IndexInfo, PendingChange, TableInfo, introspect
from sharding.errors import (
    NoDatabaseSelected,
    NotSupported,
    PartitionKeyError,
    QueryInterrupted,
    ShardgateError,
    TableExists,
    UnknownTable,
)
from sharding.sql import foreign_keys
from sharding.sql.alter import ALREADY_DONE, AlterPlan, inverse_hint, normalized, plan_alter
from sharding.sql.ddl import (
    build_table,
    drop_index_sql,
    drop_table_sql,
    fill_ddl,
    index_sql,
    split_partition,
    truncate_sql,
)
from sharding.sql.literals import quote_identifier
from sharding.sql.parse import mysql_syntax_error, parse_one

if TYPE_CHECKING:
    from sharding.session import CoordinatorSession

log = structlog.get_logger("sharding")


class SchemaChanges:
    """DDL statements of one session (it gives the current database and the query id)."""

    def __init__(self, session: CoordinatorSession) -> None:
        self.session = session
        self.coord = session.coord
        self._warned = 0  # warnings this statement recorded (the OK packet's count)
        #: Rows the shards' ALTER statements copied (MariaDB's affected rows of a
        #: copying ALTER; 0 for one done in place).
        self._copied = 0

    def _warn(self, warning: tuple[str, int, str]) -> None:
        self.session.state.warn(*warning)
        self._warned += 1

    async def run(self, kind: str, sql: str) -> Result:
        """Run one DDL statement (``kind``: its first keyword)."""
        words = re.findall(r"[A-Za-z_]+", sql[:80].upper())
        second = words[1] if len(words) > 1 else ""
        if kind == "ALTER" and second in ("TABLE", "ONLINE", "IGNORE"):
            return await self._alter_table(sql)
        if kind == "RENAME" and second == "TABLE":
            return await self._rename_tables(sql)
        if kind in ("ALTER", "RENAME"):
            raise NotSupported(f"{kind} {second} on the sharding coordinator")
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
            await self.coord.catalog.reset_ids(info.database, info.name)
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
            if tree.args.get("temporary"):
                # No session has temporary tables here, so every name is unknown: a
                # permanent table of that name must never be dropped by it (MySQL: 1051).
                names = [
                    f"{t.db or self.session.database}.{t.name}" for t in tree.find_all(exp.Table)
                ]
                if not exists:
                    raise ShardgateError(
                        f"Unknown table '{', '.join(names)}'", code=1051, sqlstate="42S02"
                    )
                self._warn(
                    ("Note", 1051, f"Unknown table '{','.join(names)}'")
                )  # MariaDB: one note
                return Result(warnings=1)
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
            self._check_referenced(infos)
            for info in infos:
                await self._drop_table(info)
            if missing:  # MariaDB: one note naming every missing table
                self._warn(("Note", 1051, f"Unknown table '{','.join(missing)}'"))
            return Result(warnings=1 if missing else 0)
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

    async def _create_like(self, database: str, name: str, like: exp.LikeProperty) -> Result:
        """``CREATE TABLE new LIKE old``: the definition SHOW CREATE TABLE gives for
        ``old`` — columns, keys, table options and the sharding rule (its partitioning
        trailer) — created under the new name, as MariaDB copies a definition; the
        AUTO_INCREMENT counter is not copied (the new table starts at 1). A table
        declared in the topology (``[[tables]]``) keeps its declared rule."""
        source = like.this
        if not isinstance(source, exp.Table):
            raise NotSupported("this CREATE TABLE ... LIKE form")
        from sharding.information_schema import InformationSchema

        info = await self._table_of(source)
        text = await InformationSchema(self.session).show_create(info)
        head = re.match(r"CREATE TABLE `(?:[^`]|``)+`", text)
        if head is None:
            raise NotSupported("CREATE TABLE ... LIKE of this table")
        target = ".".join(quote_identifier(n, "mysql") for n in (database, name))
        body = re.sub(r" AUTO_INCREMENT=\d+", "", text[head.end() :], count=1)
        if self.coord.topology.declared(database, name) is not None:
            body, _ = split_partition(body)  # the declared rule, not the source's
        return await self._create_table(f"CREATE TABLE {target}{body}")

    async def _create_table(self, sql: str) -> Result:
        coord = self.coord
        text, partitioning = split_partition(sql)
        tree = parse_one(text)
        if not isinstance(tree, exp.Create) or (tree.args.get("kind") or "").upper() != "TABLE":
            raise NotSupported("this CREATE TABLE form")
        if _temporary(tree):
            raise NotSupported(
                "CREATE TEMPORARY TABLE on a sharded coordinator (a temporary table belongs to "
                "one session; create a regular table, or run it on a broadcast-only connection)"
            )
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
                # MariaDB's note (SHOW WARNINGS lists it; sql_notes = 0 drops it).
                self._warn(("Note", 1050, f"Table '{table.name}' already exists"))
                return Result(warnings=self._warned)
            raise TableExists(f"Table '{table.name}' already exists")
        like = tree.find(exp.LikeProperty)
        if like is not None and not isinstance(schema, exp.Schema):
            return await self._create_like(database, table.name, like)
        info = build_table(
            tree, partitioning, coord.topology, database, sql, coord.semantics.dialect
        )
        for ds in set(info.rule.datasources):
            if ds not in coord.datasources:
                raise ShardgateError(f"table {info.qualified}: unknown data source {ds!r}")
        dialect = coord.semantics.dialect
        info, fk_clauses = await self._foreign_keys(info)
        try:
            await self._on_placements(
                info,
                lambda db, t: [fill_ddl(d, db, t, dialect) for d in info.physical_ddl],
                create=True,
                extra=fk_clauses,
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
        return Result(warnings=self._warned)

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
        extra: Callable[[tuple[int, str, str, str]], list[str]] | None = None,
    ) -> None:
        """Run DDL on every shard (or broadcast copy) of a table, ``window`` at a time
        (``extra``: statements that depend on the placement, run after the others)."""
        coord = self.coord
        placements = info.placements()

        async def child(placement: tuple[int, str, str, str]) -> None:
            _, ds_name, db, table = placement
            ds = coord.datasources[ds_name]
            if create:
                await ds.ensure_database(db)
            async with ds.connection([db]) as conn:
                for stmt in statements(db, table) + (extra(placement) if extra is not None else []):
                    await conn.execute(stmt)

        async with coord.executor.query(
            name=name, session=self.session.id, total=len(placements)
        ) as q:
            self.session.running(q.id)
            await q.map(child, placements)

    # ------------------------------------------------------------------ foreign keys
    def _check_referenced(self, infos: list[TableInfo]) -> None:
        """MariaDB refuses to drop a parent an enforced foreign key still references
        (1451), in statement order; checked before any shard is touched, so a refused
        DROP leaves every shard as it was. Metadata-only keys do not hold a drop back."""
        if not self.session.state.get("foreign_key_checks"):
            return
        dropped: set[tuple[str, str]] = set()
        for info in infos:
            dropped.add((info.database, info.name.lower()))
            for other in self.coord.catalog.tables():
                if (other.database, other.name.lower()) in dropped:
                    continue
                if any(
                    f.enforced
                    and (f.ref_database, f.ref_table.lower()) == (info.database, info.name.lower())
                    for f in other.foreign_keys
                ):
                    raise ShardgateError(
                        "Cannot delete or update a parent row: a foreign key constraint fails",
                        code=1451,
                        sqlstate="23000",
                    )

    async def _parents(self, info: TableInfo) -> dict[tuple[str, str], TableInfo | None]:
        """The catalog entries of the tables ``info``'s foreign keys reference."""
        out: dict[tuple[str, str], TableInfo | None] = {}
        for fk in info.foreign_keys:
            out[(fk.ref_database, fk.ref_table.lower())] = self.coord.catalog.get(
                fk.ref_database, fk.ref_table
            )
        return out

    async def _foreign_keys(
        self, info: TableInfo
    ) -> tuple[TableInfo, Callable[[tuple[int, str, str, str]], list[str]] | None]:
        """Decide for each foreign key of a new table whether the shards enforce it;
        warn for those kept as metadata only. Returns the entry with the decisions and
        the per-placement ``ALTER ... ADD CONSTRAINT`` of the enforced ones."""
        if not info.foreign_keys:
            return info, None
        dialect = self.coord.semantics.dialect
        checks = bool(self.session.state.get("foreign_key_checks"))
        parents = await self._parents(info)
        decided = []
        enforced: list[tuple[ForeignKeyInfo, TableInfo]] = []
        for fk in info.foreign_keys:
            own = (fk.ref_database, fk.ref_table.lower()) == (info.database, info.name.lower())
            parent = info if own else parents.get((fk.ref_database, fk.ref_table.lower()))
            if parent is None and checks:
                raise ShardgateError(
                    f"Can't create table `{info.database}`.`{info.name}` "
                    '(errno: 150 "Foreign key constraint is incorrectly formed")',
                    code=1005,
                )
            if (
                parent is not None
                and parent.columns
                and any(not parent.has_column(c) for c in fk.ref_columns)
            ):
                raise ShardgateError(
                    f"Can't create table `{info.database}`.`{info.name}` "
                    '(errno: 150 "Foreign key constraint is incorrectly formed")',
                    code=1005,
                )
            reason = foreign_keys.enforcement(info, fk, parent, dialect)
            if reason is None and parent is not None:
                fk = replace(fk, enforced=True)
                enforced.append((fk, parent))
            else:
                self._warn(foreign_keys.warning(info, fk, reason or "no parent table"))
            decided.append(fk)
        info = replace(info, foreign_keys=tuple(decided))
        if not enforced:
            return info, None
        child = info

        def clauses(placement: tuple[int, str, str, str]) -> list[str]:
            _, _, db, table = placement
            adds = ", ".join(foreign_keys.physical_add(f, child, p, placement) for f, p in enforced)
            return [
                f"ALTER TABLE {quote_identifier(db, 'mysql')}.{quote_identifier(table, 'mysql')} {adds}"
            ]

        return info, clauses

    # ------------------------------------------------------------------ ALTER TABLE
    async def _rename_tables(self, sql: str) -> Result:
        """``RENAME TABLE a TO b[, c TO d]``: one ALTER ... RENAME TO after the other."""
        m = re.match(r"\s*RENAME\s+TABLES?\s+(.*?);?\s*$", sql, re.IGNORECASE | re.DOTALL)
        pairs = re.findall(
            r"\s*([`\w.$]+)\s+TO\s+([`\w.$]+)\s*(?:,|$)", m.group(1) if m else "", re.IGNORECASE
        )
        if not pairs:
            raise mysql_syntax_error(sql, 0, "RENAME TABLE a TO b")
        for old, new in pairs:
            await self._alter_table(f"ALTER TABLE {old} RENAME TO {new}")
        return Result()

    async def _alter_table(self, sql: str) -> Result:
        coord = self.coord
        catalog = coord.catalog
        dialect = coord.semantics.dialect
        text = re.sub(
            r"^\s*ALTER\s+(?:ONLINE\s+|IGNORE\s+)+TABLE\b", "ALTER TABLE", sql, flags=re.IGNORECASE
        )
        text = re.sub(
            r"\bRENAME\s+AS\b", "RENAME TO", text, flags=re.IGNORECASE
        )  # sqlglot lacks AS
        if re.search(r"\bPARTITION\b", text, re.IGNORECASE):
            raise NotSupported(
                "PARTITION clauses in ALTER TABLE: the sharding rule is fixed at CREATE TABLE"
            )
        tree = parse_one(text)
        if not isinstance(tree, exp.Alter) or not isinstance(tree.this, exp.Table):
            raise NotSupported("this ALTER TABLE form on the sharding coordinator")
        await catalog.reload()  # another coordinator may have changed the table
        info = await self._table_of(tree.this)
        checks = bool(self.session.state.get("foreign_key_checks"))
        parents = await self._alter_parents(tree, info)
        pending = info.pending
        if pending is not None and normalized(pending.sql) != normalized(text):
            return await self._rollback(info, pending, tree, text, parents, checks)
        plan = plan_alter(
            info,
            tree,
            coord.topology,
            dialect,
            parents,
            foreign_key_checks=checks,
            current_database=self.session.database,
        )
        if plan.renamed and catalog.get(plan.new.database, plan.new.name) is not None:
            raise TableExists(f"Table '{plan.new.name}' already exists")
        if plan.renamed:
            await catalog.check_database(plan.new.database)
        for warning in plan.warnings:
            self._warn(warning)
        resuming = pending is not None
        done = list(pending.done) if pending is not None else []
        if not resuming:
            await catalog.update_table(replace(info, pending=PendingChange(text)))

        async def record(shards: tuple[int, ...], error: str) -> None:
            if not shards and not resuming and error != "interrupted":
                # The first shard refused it (each shard's ALTER is atomic): nothing to
                # finish or undo, so nothing stays pending.
                await catalog.update_table(replace(info, pending=None))
                return
            await catalog.update_table(replace(info, pending=PendingChange(text, shards, error)))

        await self._apply(info, plan, text, done, resuming=resuming, record=record)
        new = replace(plan.new, pending=None)
        if plan.renamed:
            await catalog.rename_table(info.database, info.name, new)
        else:
            await catalog.update_table(new)
        log.info(
            "alter table", table=info.qualified, shards=len(info.placements()), resumed=resuming
        )
        return self._alter_result()

    def _alter_result(self) -> Result:
        """MariaDB's OK of an ALTER TABLE: the rows copied as affected rows, and the
        info text ``Records: n  Duplicates: 0  Warnings: w``. Over MariaDB shards the
        rows are the sum of the shards' own counts (each decides copy or in place as
        the reference would); SQLite shards report none."""
        return Result(
            affected=self._copied,
            warnings=self._warned,
            info=f"Records: {self._copied}  Duplicates: 0  Warnings: {self._warned}",
        )

    async def _alter_parents(
        self, tree: exp.Alter, info: TableInfo
    ) -> dict[tuple[str, str], TableInfo | None]:
        """Catalog entries of the tables an ALTER's new foreign keys reference."""
        out: dict[tuple[str, str], TableInfo | None] = {}
        for ref in tree.find_all(exp.Reference):
            table = ref.this.this if isinstance(ref.this, exp.Schema) else ref.this
            if isinstance(table, exp.Table):
                db = table.db or info.database
                out[(db, table.name.lower())] = self.coord.catalog.get(db, table.name)
        return out

    async def _apply(
        self,
        info: TableInfo,
        plan: AlterPlan,
        text: str,
        done: list[int],
        *,
        resuming: bool,
        record: Callable[[tuple[int, ...], str], Awaitable[None]],
        only: set[int] | None = None,
    ) -> None:
        """Alter each placement of ``info`` in order (``only``: just those shards);
        on a failure ``record`` what is done, then raise the exact report."""
        placements = info.placements()
        async with self.coord.executor.query(
            name="alter", session=self.session.id, total=len(placements)
        ) as q:
            self.session.running(q.id)
            for placement in placements:
                shard = placement[0]
                if shard in done or (only is not None and shard not in only):
                    continue
                try:
                    # The shard's error comes back as a value: a failed child would end
                    # the executor query, and a resumed ALTER goes on after some errors.
                    exc = await q.run(self._alter_placement, placement, plan)
                except BaseException:
                    # Cancelled or an internal error: the shards done so far are known.
                    with trio.CancelScope(shield=True):
                        await record(tuple(sorted(done)), "interrupted")
                    raise
                if exc is not None:
                    if (
                        resuming
                        and exc.code in ALREADY_DONE
                        and await self._has_change(placement, plan)
                    ):
                        done.append(shard)
                        continue
                    report = self._report(info, placement, exc, text, done, only, resuming=resuming)
                    with trio.CancelScope(shield=True):
                        await record(tuple(sorted(done)), report)
                    raise ShardgateError(report, code=exc.code, sqlstate=exc.sqlstate) from exc
                done.append(shard)

    async def _alter_placement(
        self, placement: tuple[int, str, str, str], plan: AlterPlan
    ) -> ShardgateError | None:
        """Alter one placement; its MySQL-coded error is returned, not raised."""
        _, ds_name, db, _ = placement
        ds = self.coord.datasources[ds_name]
        statements = plan.statements(placement)
        if not statements:
            return None
        target_db, _ = plan.target(placement)
        try:
            if target_db != db:
                await ds.ensure_database(target_db)
            if ds.dialect == "sqlite":
                async with ds.transaction([db, target_db]) as conn:
                    for stmt in statements:
                        await conn.execute(stmt)
            else:
                async with ds.connection([db]) as conn:
                    for stmt in statements:
                        self._copied += (await conn.execute(stmt)).affected
        except ShardgateError as exc:
            if isinstance(exc, QueryInterrupted):
                raise
            return exc
        return None

    async def _has_change(self, placement: tuple[int, str, str, str], plan: AlterPlan) -> bool:
        """Whether a shard already has the change: its columns are the new ones."""
        _, ds_name, _, _ = placement
        db, table = plan.target(placement)
        columns = await introspect(self.coord.datasources[ds_name], db, table)
        return columns is not None and [c.name.lower() for c in columns] == [
            c.name.lower() for c in plan.new.columns
        ]

    def _report(
        self,
        info: TableInfo,
        placement: tuple[int, str, str, str],
        exc: ShardgateError,
        text: str,
        done: list[int],
        only: set[int] | None,
        *,
        resuming: bool,
    ) -> str:
        shard, ds, db, table = placement
        where = f"failed on shard {shard} (data source {ds}, {db}.{table}): {exc}."
        if not done and only is None and not resuming:
            return f"ALTER TABLE {info.qualified} {where} No shard has the change; the table is unchanged."
        if only is not None:
            missing = [s for s in sorted(only) if s not in done]
            return (
                f"Rolling back the pending change of {info.qualified} {where} Shards rolled back: "
                f"{_ranges(sorted(done)) or 'none'}; still with the change: {_ranges(missing)}. "
                "Fix the cause and run this inverse ALTER TABLE again to finish the roll-back."
            )
        missing = [p[0] for p in info.placements() if p[0] not in done]
        return (
            f"ALTER TABLE {info.qualified} {where} "
            f"Shards with the change: {_ranges(sorted(done)) or 'none'}; without it: {_ranges(missing)}. "
            "The catalog keeps the old definition with this change pending: fix the cause and run "
            "the same ALTER TABLE again to finish, or run the inverse ALTER TABLE to roll back"
            f"{inverse_hint(text)}."
        )

    async def _rollback(
        self,
        info: TableInfo,
        pending: PendingChange,
        tree: exp.Alter,
        text: str,
        parents: dict[tuple[str, str], TableInfo | None],
        checks: bool,
    ) -> Result:
        """A different ALTER while one is pending: the inverse of the pending change,
        run on the shards that have it (see module docstring)."""
        coord = self.coord
        dialect = coord.semantics.dialect
        forward_tree = parse_one(pending.sql)
        assert isinstance(forward_tree, exp.Alter)
        here = self.session.database
        forward_parents = await self._alter_parents(forward_tree, info)
        forward = plan_alter(
            info,
            forward_tree,
            coord.topology,
            dialect,
            forward_parents,
            foreign_key_checks=False,
            current_database=here,
        )
        back = plan_alter(
            forward.new,
            tree,
            coord.topology,
            dialect,
            parents,
            foreign_key_checks=checks,
            current_database=here,
        )
        same = [c.name.lower() for c in back.new.columns] == [
            c.name.lower() for c in info.columns
        ] and (
            back.new.database,
            back.new.name,
        ) == (info.database, info.name)
        if not same:
            raise NotSupported(
                f"ALTER TABLE on {info.qualified} while another change is pending ({pending.sql}); "
                "run that statement again to finish it, or its inverse to roll it back"
            )
        undone: list[int] = []

        async def record(shards: tuple[int, ...], error: str) -> None:
            # Still pending (the forward change), on the shards not rolled back yet.
            left = tuple(s for s in pending.done if s not in shards)
            await coord.catalog.update_table(
                replace(info, pending=PendingChange(pending.sql, left, error))
            )

        await self._apply(
            forward.new, back, text, undone, resuming=False, record=record, only=set(pending.done)
        )
        await coord.catalog.update_table(replace(info, pending=None))
        self._warn(("Note", 1235, f"pending change rolled back on {info.qualified}: {pending.sql}"))
        return Result(warnings=self._warned)


def _ranges(shards: list[int]) -> str:
    """``0-3, 7, 9-10``: shard lists stay short for 1024 shards."""
    out: list[str] = []
    for s in shards:
        if out and out[-1].split("-")[-1] == str(s - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{s}"
        else:
            out.append(str(s))
    return ", ".join(out)


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


def _temporary(tree: exp.Expr) -> bool:
    """Whether a CREATE is ``CREATE TEMPORARY TABLE`` (sqlglot puts it in properties)."""
    if tree.args.get("temporary") or "TEMPORARY" in str(tree.args.get("kind") or "").upper():
        return True
    properties = tree.args.get("properties")
    return properties is not None and any(
        isinstance(p, exp.TemporaryProperty) for p in properties.expressions
    )
