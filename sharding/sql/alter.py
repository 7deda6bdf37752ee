"""ALTER TABLE on a sharded table: the new logical definition and each shard's DDL.

Migration tools (Alembic, Flyway, Liquibase, Django) change tables with ALTER TABLE,
so the coordinator runs it on every shard and keeps its catalog in step. This module
is the pure part: from the catalog entry and the parsed ALTER it derives

* the new catalog entry — the ALTER is applied to the table's logical ``CREATE TABLE``
  tree and :func:`sharding.sql.ddl.build_table` runs again on the result, so columns,
  keys, physical DDL and the checks of CREATE TABLE (1503: a PRIMARY KEY/UNIQUE must
  contain the shard key) hold after the ALTER exactly as after an equal CREATE;
* the DDL of each placement: on MySQL/MariaDB one ``ALTER TABLE`` of the physical table
  (atomic per shard; ``ALGORITHM=``/``LOCK=`` pass through, so MariaDB's INSTANT and
  INPLACE changes stay online); on the embedded SQLite default the forms SQLite has —
  ADD COLUMN (at the end), DROP COLUMN, RENAME COLUMN, RENAME TO — in one transaction
  per shard, plus ADD/DROP INDEX (as CREATE/DROP INDEX), everything else refused
  (1235).

Refused because they would break placement (1235): dropping the shard key, changing its
type to one that hashes or compares differently, changing a broadcast table into a
sharded one or back (``COMMENT`` with ``shardgate:broadcast``), PARTITION clauses,
renaming a table or shard key declared in the topology TOML.

Running it, recording it as pending in the catalog, resuming and rolling back are in
:mod:`sharding.schema_changes`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from sqlglot import exp

from sharding.catalog import ForeignKeyInfo, TableInfo
from sharding.errors import NotSupported, ShardgateError, UnknownColumn
from sharding.sql import foreign_keys as fks
from sharding.sql.ddl import (
    DB_MARK,
    NAME_MARK,
    Partitioning,
    build_table,
    fill_ddl,
    index_sql,
    split_partition,
)
from sharding.sql.literals import quote_identifier
from sharding.sql.parse import parse_one
from sharding.topology import Topology

Placement = tuple[int, str, str, str]
Warning_ = tuple[str, int, str]

#: Shard errors that, when an interrupted ALTER is run again, mean "this shard already
#: has the change" (duplicate column/key, can't drop, unknown column, table gone or
#: there) — accepted only when the shard's columns also match the new definition.
ALREADY_DONE = frozenset({1050, 1054, 1060, 1061, 1068, 1091, 1146, 1826, 1022})

_PLACEHOLDER = "sg_alter_placeholder"


@dataclass
class AlterPlan:
    """What one ALTER TABLE does (see module docstring)."""

    old: TableInfo
    new: TableInfo
    statements: Callable[[Placement], list[str]]
    #: Where each placement's table is after the change (a rename moves it).
    target: Callable[[Placement], tuple[str, str]]
    warnings: list[Warning_] = field(default_factory=list)

    @property
    def renamed(self) -> bool:
        return (self.old.database, self.old.name) != (self.new.database, self.new.name)


def normalized(sql: str) -> str:
    """Statement text compared to tell "the same ALTER again" (case, spacing, ``;``)."""
    return re.sub(r"\s+", " ", sql.strip().rstrip(";").strip()).lower()


def _q(name: str, dialect: str) -> str:
    return quote_identifier(name, dialect)


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _type_class(kind: exp.Expr | None) -> str:
    """Values of one class route alike (the rule hashes/compares the converted value)."""
    if not isinstance(kind, exp.DataType):
        return ""
    if kind.this in exp.DataType.INTEGER_TYPES:
        return "integer"
    if kind.this in exp.DataType.TEXT_TYPES or kind.this in (
        exp.DataType.Type.CHAR,
        exp.DataType.Type.NCHAR,
    ):
        return "text"
    return kind.sql(dialect="mysql").lower()


# ---------------------------------------------------------------------- the CREATE tree


def _creation(info: TableInfo) -> tuple[exp.Create, str]:
    """The table's logical CREATE TABLE tree and its PARTITION BY text (if any)."""
    text, _ = split_partition(info.create_sql.strip().rstrip(";"))
    tail = info.create_sql.strip().rstrip(";")[len(text) :]
    try:
        tree = parse_one(text)
    except ShardgateError:
        tree = None
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema):
        return tree, tail

    # Adopted from existing physical tables (TOML): rebuild it from the catalog.
    def q(n: str) -> str:
        return _q(n, "mysql")

    parts = []
    for c in info.columns:
        part = f"{q(c.name)} {c.type or 'TEXT'}" + ("" if c.nullable else " NOT NULL")
        if c.default is not None:
            part += f" DEFAULT {c.default}"
        parts.append(part)
    if info.primary_key:
        parts.append(f"PRIMARY KEY ({', '.join(q(c) for c in info.primary_key)})")
    for i in info.indexes:
        parts.append(
            f"{'UNIQUE ' if i.unique else ''}KEY {q(i.name)} ({', '.join(q(c) for c in i.columns)})"
        )
    rebuilt = parse_one(f"CREATE TABLE {q(info.name)} ({', '.join(parts)})")
    assert isinstance(rebuilt, exp.Create)
    return rebuilt, ""


def _elements(schema: exp.Schema) -> list[exp.Expr]:
    return list(schema.expressions)


def _coldef_index(schema: exp.Schema, name: str) -> int | None:
    for i, item in enumerate(schema.expressions):
        if isinstance(item, exp.ColumnDef) and _same(item.name, name):
            return i
    return None


def _index_name(item: exp.Expr) -> str | None:
    if isinstance(item, exp.IndexColumnConstraint):
        return item.this.name if item.this is not None else None
    if isinstance(item, exp.UniqueColumnConstraint):
        target = item.this
        if isinstance(target, exp.Schema) and target.this is not None:
            return str(target.this.name)
    return None


def _key_columns(item: exp.Expr) -> list[exp.Expr]:
    """The column references of a key element (PRIMARY KEY / UNIQUE / INDEX)."""
    if isinstance(item, exp.UniqueColumnConstraint) and isinstance(item.this, exp.Schema):
        return list(item.this.expressions)
    if isinstance(item, exp.PrimaryKey | exp.IndexColumnConstraint | exp.UniqueColumnConstraint):
        return list(item.expressions)
    return []


def _set_key_columns(item: exp.Expr, columns: list[exp.Expr]) -> None:
    if isinstance(item, exp.UniqueColumnConstraint) and isinstance(item.this, exp.Schema):
        item.this.set("expressions", columns)
    else:
        item.set("expressions", columns)


def _all_index_names(schema: exp.Schema) -> set[str]:
    names = {n.lower() for n in (_index_name(e) for e in schema.expressions) if n}
    for item in schema.expressions:  # a column's own UNIQUE is the catalog's <col>_unique
        if isinstance(item, exp.ColumnDef):
            for c in item.args.get("constraints") or []:
                if isinstance(c.args.get("kind"), exp.UniqueColumnConstraint):
                    names.add(f"{item.name}_unique".lower())
    return names


def _rename_column_refs(schema: exp.Schema, old: str, new: str) -> None:
    for item in schema.expressions:
        for ref in _key_columns(item):
            if _same(ref.name, old):
                ref.replace(
                    exp.column(new, quoted=True)
                    if isinstance(ref, exp.Column)
                    else exp.to_identifier(new, quoted=True)
                )
        if isinstance(item, exp.Constraint | exp.ForeignKey):
            for fk in [item] if isinstance(item, exp.ForeignKey) else item.find_all(exp.ForeignKey):
                for ident in fk.expressions:
                    if _same(ident.name, old):
                        ident.replace(exp.to_identifier(new, quoted=True))


def _drop_column_refs(schema: exp.Schema, name: str) -> None:
    """MySQL removes a dropped column from every key, and a key left empty goes too."""
    keep = []
    for item in schema.expressions:
        refs = _key_columns(item)
        if refs:
            rest = [r for r in refs if not _same(r.name, name)]
            if not rest:
                continue
            _set_key_columns(item, rest)
        keep.append(item)
    schema.set("expressions", keep)


def _strip_for_shard(coldef: exp.ColumnDef) -> exp.ColumnDef:
    """A column definition as the shards get it: no AUTO_INCREMENT (the coordinator
    assigns ids) and no REFERENCES (foreign keys are placed by :mod:`foreign_keys`)."""
    copy = coldef.copy()
    constraints = [
        c
        for c in copy.args.get("constraints") or []
        if not isinstance(c.args.get("kind"), exp.AutoIncrementColumnConstraint | exp.Reference)
    ]
    copy.set("constraints", constraints)
    return copy


def _position(schema: exp.Schema, coldef: exp.ColumnDef) -> int | None:
    """Index in the element list where a FIRST/AFTER column goes (None: the end)."""
    pos = coldef.args.get("position")
    if not isinstance(pos, exp.ColumnPosition):
        return None
    where = str(pos.args.get("position") or "").upper()
    if where == "FIRST":
        return 0
    after = pos.this.name if pos.this is not None else ""
    at = _coldef_index(schema, after)
    if at is None:
        raise UnknownColumn(
            f"Unknown column '{after}' in '{schema.this.name if schema.this else ''}'"
        )
    return at + 1


def _plain_coldef(coldef: exp.ColumnDef) -> exp.ColumnDef:
    copy = coldef.copy()
    copy.set("position", None)
    copy.set("exists", None)
    return copy


# ---------------------------------------------------------------------- planning


def plan_alter(
    info: TableInfo,
    tree: exp.Alter,
    topology: Topology,
    dialect: str,
    parents: Mapping[tuple[str, str], TableInfo | None],
    *,
    foreign_key_checks: bool = True,
    current_database: str | None = None,
) -> AlterPlan:
    """The plan of ``ALTER TABLE`` on ``info`` (see module docstring); raises the MySQL
    error of an invalid change before anything runs."""
    actions = list(tree.args.get("actions") or [])
    options = list(tree.args.get("options") or [])
    if not actions and not options:
        raise NotSupported("this ALTER TABLE form on the sharding coordinator")
    create, tail = _creation(info)
    create = create.copy()
    schema = create.this
    assert isinstance(schema, exp.Schema)
    # Every foreign key as a named element: build_table numbers unnamed ones by
    # position, and a name must not change because another key was dropped.
    elements = [e for e in schema.expressions if not _is_fk(e)]
    for item in elements:
        if isinstance(item, exp.ColumnDef):
            item.set(
                "constraints",
                [
                    c
                    for c in item.args.get("constraints") or []
                    if not isinstance(c.args.get("kind"), exp.Reference)
                ],
            )
    schema.set("expressions", elements + [fks_element(f, info.database) for f in info.foreign_keys])
    warnings: list[Warning_] = []
    shard_key = info.rule.shard_key or ""
    new_key = shard_key
    new_db, new_name = info.database, info.name
    shard_actions: list[exp.Expr] = []  # MySQL: rendered as the physical ALTER
    fk_added: list[str] = []
    fk_dropped: list[ForeignKeyInfo] = []
    sqlite_ops: list[tuple[str, str, str]] = []  # (op, a, b)
    old_fk_names = {f.name.lower(): f for f in info.foreign_keys}

    def sharded_column(name: str) -> bool:
        return not info.broadcast and _same(name, new_key)

    for option in options:
        if isinstance(option, exp.AlgorithmProperty | exp.LockProperty | exp.EngineProperty):
            continue
        if isinstance(option, exp.SchemaCommentProperty):
            old_broadcast = info.broadcast
            if ("shardgate:broadcast" in option.sql(dialect="mysql")) != old_broadcast:
                raise NotSupported(
                    "changing a broadcast table into a sharded one or back (create a new table and copy)"
                )
            continue
        raise NotSupported(
            f"ALTER TABLE option {option.sql(dialect='mysql')} on the sharding coordinator"
        )

    for action in actions:
        if isinstance(action, exp.ColumnDef):  # ADD [COLUMN] [IF NOT EXISTS]
            if _coldef_index(schema, action.name) is not None:
                if action.args.get("exists"):
                    warnings.append(("Note", 1060, f"Duplicate column name '{action.name}'"))
                    continue
                raise ShardgateError(
                    f"Duplicate column name '{action.name}'", code=1060, sqlstate="42S21"
                )
            at = _position(schema, action)
            if at is not None and dialect == "sqlite":
                raise NotSupported(
                    "ADD COLUMN ... FIRST/AFTER on SQLite shards (a column can only go last)"
                )
            elements = _elements(schema)
            if at is None:
                at = max(
                    (i + 1 for i, e in enumerate(elements) if isinstance(e, exp.ColumnDef)),
                    default=0,
                )
            elements.insert(at, _plain_coldef(action))
            schema.set("expressions", elements)
            shard_actions.append(_strip_for_shard(action))
            sqlite_ops.append(("add", action.name, ""))
        elif isinstance(action, exp.Drop):
            kind = str(action.args.get("kind") or "").upper()
            target = (action.args.get("tables") or [None])[0]
            name = target.name if isinstance(target, exp.Expr) else ""
            exists = bool(action.args.get("exists"))
            if kind == "COLUMN":
                at = _coldef_index(schema, name)
                if at is None:
                    if exists:
                        warnings.append(
                            ("Note", 1091, f"Can't DROP COLUMN `{name}`; check that it exists")
                        )
                        continue
                    raise ShardgateError(
                        f"Can't DROP COLUMN `{name}`; check that it exists",
                        code=1091,
                        sqlstate="42000",
                    )
                if sharded_column(name):
                    raise NotSupported(f"dropping the shard key column {name} of a sharded table")
                if dialect == "sqlite" and (
                    any(_same(c, name) for c in info.primary_key)
                    or any(_same(c, name) for i in info.indexes for c in i.columns)
                ):
                    raise NotSupported(
                        f"DROP COLUMN {name} on SQLite shards while a key uses it (drop the index first)"
                    )
                elements = _elements(schema)
                del elements[at]
                if not any(isinstance(e, exp.ColumnDef) for e in elements):
                    raise ShardgateError(
                        "You can't delete all columns with ALTER TABLE; use DROP TABLE instead",
                        code=1090,
                        sqlstate="42000",
                    )
                schema.set("expressions", elements)
                _drop_column_refs(schema, name)
                shard_actions.append(action)
                sqlite_ops.append(("drop", name, ""))
            elif kind in ("INDEX", "KEY"):
                elements = _elements(schema)
                keep = [e for e in elements if (_index_name(e) or "").lower() != name.lower()]
                if len(keep) == len(elements):
                    if exists:
                        warnings.append(
                            ("Note", 1091, f"Can't DROP INDEX `{name}`; check that it exists")
                        )
                        continue
                    raise ShardgateError(
                        f"Can't DROP INDEX `{name}`; check that it exists",
                        code=1091,
                        sqlstate="42000",
                    )
                schema.set("expressions", keep)
                shard_actions.append(action)
                sqlite_ops.append(("drop_index", name, ""))
            elif kind == "FOREIGN KEY":
                fk = old_fk_names.get(name.lower())
                if fk is None:
                    if exists:
                        warnings.append(
                            ("Note", 1091, f"Can't DROP FOREIGN KEY `{name}`; check that it exists")
                        )
                        continue
                    raise ShardgateError(
                        f"Can't DROP FOREIGN KEY `{name}`; check that it exists",
                        code=1091,
                        sqlstate="42000",
                    )
                schema.set(
                    "expressions",
                    [e for e in schema.expressions if not (_is_fk(e) and _same(e.name, fk.name))],
                )
                if fk.enforced:
                    fk_dropped.append(fk)
            else:
                raise NotSupported(f"ALTER TABLE ... DROP {kind} on the sharding coordinator")
        elif isinstance(action, exp.DropPrimaryKey):
            if not _has_primary_key(schema):
                raise ShardgateError(
                    "Can't DROP INDEX `PRIMARY`; check that it exists", code=1091, sqlstate="42000"
                )
            elements = [e for e in schema.expressions if not isinstance(e, exp.PrimaryKey)]
            for item in elements:
                if isinstance(item, exp.ColumnDef):
                    item.set(
                        "constraints",
                        [
                            c
                            for c in item.args.get("constraints") or []
                            if not isinstance(c.args.get("kind"), exp.PrimaryKeyColumnConstraint)
                        ],
                    )
            if dialect == "sqlite":
                raise NotSupported("DROP PRIMARY KEY on SQLite shards")
            schema.set("expressions", elements)
            shard_actions.append(action)
        elif isinstance(action, exp.ModifyColumn):  # MODIFY / CHANGE
            coldef = action.this
            assert isinstance(coldef, exp.ColumnDef)
            source = action.args.get("rename_from")
            old = source.name if source is not None else coldef.name
            at = _coldef_index(schema, old)
            if at is None:
                raise UnknownColumn(f"Unknown column '{old}' in '{info.name}'")
            if dialect == "sqlite":
                raise NotSupported(
                    "MODIFY/CHANGE COLUMN on SQLite shards (SQLite cannot change a column's type)"
                )
            if not _same(old, coldef.name) and _coldef_index(schema, coldef.name) is not None:
                raise ShardgateError(
                    f"Duplicate column name '{coldef.name}'", code=1060, sqlstate="42S21"
                )
            previous = schema.expressions[at]
            if sharded_column(old):
                if _type_class(previous.args.get("kind")) != _type_class(coldef.args.get("kind")):
                    raise NotSupported(
                        f"changing the type of shard key {old} so that rows would route differently"
                    )
                if not _same(old, coldef.name):
                    if info.declared:
                        raise NotSupported(
                            f"renaming shard key {old}: the topology TOML declares it"
                        )
                    new_key = coldef.name
            elements = _elements(schema)
            del elements[at]
            schema.set("expressions", elements)
            pos = _position(schema, coldef)  # FIRST/AFTER counted without the column
            elements = _elements(schema)
            elements.insert(at if pos is None else pos, _plain_coldef(coldef))
            schema.set("expressions", elements)
            if not _same(old, coldef.name):
                _rename_column_refs(schema, old, coldef.name)
            stripped = action.copy()
            stripped.set("this", _strip_for_shard(coldef))
            shard_actions.append(stripped)
        elif isinstance(action, exp.RenameColumn):
            old, new = action.this.name, action.args["to"].name
            at = _coldef_index(schema, old)
            if at is None:
                raise UnknownColumn(f"Unknown column '{old}' in '{info.name}'")
            if _coldef_index(schema, new) is not None and not _same(old, new):
                raise ShardgateError(f"Duplicate column name '{new}'", code=1060, sqlstate="42S21")
            if sharded_column(old):
                if info.declared:
                    raise NotSupported(f"renaming shard key {old}: the topology TOML declares it")
                new_key = new
            schema.expressions[at].set("this", exp.to_identifier(new, quoted=True))
            _rename_column_refs(schema, old, new)
            shard_actions.append(action)
            sqlite_ops.append(("rename_column", old, new))
        elif isinstance(action, exp.AlterColumn):  # ALTER [COLUMN] c SET/DROP DEFAULT
            name = action.this.name
            at = _coldef_index(schema, name)
            if at is None:
                raise UnknownColumn(f"Unknown column '{name}' in '{info.name}'")
            if dialect == "sqlite":
                raise NotSupported("ALTER COLUMN ... SET/DROP DEFAULT on SQLite shards")
            coldef = schema.expressions[at]
            constraints = [
                c
                for c in coldef.args.get("constraints") or []
                if not isinstance(c.args.get("kind"), exp.DefaultColumnConstraint)
            ]
            default = action.args.get("default")
            if default is not None:
                constraints.append(
                    exp.ColumnConstraint(kind=exp.DefaultColumnConstraint(this=default.copy()))
                )
            elif not action.args.get("drop"):
                raise NotSupported(f"this ALTER COLUMN form: {action.sql(dialect='mysql')}")
            coldef.set("constraints", constraints)
            shard_actions.append(action)
        elif isinstance(action, exp.AddConstraint):
            for element in action.expressions:
                fk = fks.from_table_element(
                    element, info.name, info.database, _next_fk_number(info, schema)
                )
                if fk is not None:
                    if fk.name.lower() in old_fk_names or fk.name.lower() in {
                        n.lower() for n in fk_added
                    }:
                        raise ShardgateError(
                            f"Duplicate foreign key constraint name '{fk.name}'",
                            code=1826,
                            sqlstate="HY000",
                        )
                    schema.append("expressions", fks_element(fk, info.database))
                    fk_added.append(fk.name)
                    continue
                if isinstance(element, exp.PrimaryKey):
                    if _has_primary_key(schema):
                        raise ShardgateError(
                            "Multiple primary key defined", code=1068, sqlstate="42000"
                        )
                    if dialect == "sqlite":
                        raise NotSupported("ADD PRIMARY KEY on SQLite shards")
                    schema.append("expressions", element.copy())
                    shard_actions.append(exp.AddConstraint(expressions=[element.copy()]))
                    continue
                if isinstance(element, exp.IndexColumnConstraint | exp.UniqueColumnConstraint):
                    named = _named_index(element, schema)
                    schema.append("expressions", named.copy())
                    shard_actions.append(exp.AddConstraint(expressions=[named]))
                    sqlite_ops.append(("add_index", _index_name(named) or "", ""))
                    continue
                raise NotSupported(
                    f"ALTER TABLE ... ADD {element.sql(dialect='mysql')[:60]} on the sharding coordinator"
                )
        elif isinstance(action, exp.AlterRename):
            target = action.this
            assert isinstance(target, exp.Table)
            if info.declared:
                raise NotSupported(f"renaming {info.qualified}: the topology TOML declares it")
            # An unqualified new name is in the current database, as in MariaDB
            # (``ALTER TABLE db1.t RENAME TO t2`` moves it to the current one).
            new_db, new_name = target.db or current_database or info.database, target.name
            if dialect == "sqlite" and new_db != info.database and not info.broadcast:
                raise NotSupported("RENAME to another database on SQLite shards")
            sqlite_ops.append(("rename", new_db, new_name))
        else:
            raise NotSupported(
                f"ALTER TABLE ... {action.sql(dialect='mysql')[:60]} on the sharding coordinator"
            )

    # The new logical definition: the altered CREATE TABLE through CREATE's own path.
    table_node = schema.this
    assert isinstance(table_node, exp.Table)
    table_node.set("this", exp.to_identifier(new_name, quoted=True))
    table_node.set("db", None)
    new_sql = create.sql(dialect="mysql") + tail
    partitioning = (
        None
        if info.broadcast
        else Partitioning(info.rule.algorithm, new_key, info.rule.shards, info.rule.bounds)
    )
    built = build_table(create, partitioning, topology, new_db, new_sql, dialect)
    rule = (
        info.rule
        if _same(new_key, shard_key)
        else replace(info.rule, shard_key=_column_name(built, new_key))
    )
    foreign = tuple(
        replace(f, enforced=old_fk_names[f.name.lower()].enforced)
        if f.name.lower() in old_fk_names
        else f
        for f in built.foreign_keys
    )
    new = replace(built, rule=rule, declared=info.declared, foreign_keys=foreign, pending=None)
    added = [f for f in new.foreign_keys if f.name in fk_added]
    enforced: list[tuple[ForeignKeyInfo, TableInfo]] = []
    final: list[ForeignKeyInfo] = []
    for f in new.foreign_keys:
        if f not in added:
            final.append(f)
            continue
        parent = (
            new
            if (f.ref_database, f.ref_table.lower()) == (new.database, new.name.lower())
            else parents.get((f.ref_database, f.ref_table.lower()))
        )
        if parent is None and foreign_key_checks:
            raise ShardgateError(
                f'Can\'t create table `{info.database}`.`{info.name}` (errno: 150 "Foreign key constraint is incorrectly formed")',
                code=1005,
            )
        reason = fks.enforcement(new, f, parent, dialect)
        if reason is None and parent is not None:
            f = replace(f, enforced=True)
            enforced.append((f, parent))
        else:
            warnings.append(fks.warning(new, f, reason or "unknown parent"))
        final.append(f)
    new = replace(new, foreign_keys=tuple(final))

    def target_of(placement: Placement) -> tuple[str, str]:
        shard, _, db, table = placement
        if (new_db, new_name) == (info.database, info.name):
            return db, table
        return new.rule.physical_name(shard, new_db, new_name)

    if dialect == "sqlite":
        statements = _sqlite_statements(info, new, sqlite_ops, target_of)
    else:
        statements = _mysql_statements(
            info, new, tree, shard_actions, enforced, fk_dropped, target_of
        )
    return AlterPlan(info, new, statements, target_of, warnings)


def _column_name(info: TableInfo, name: str) -> str:
    col = info.column(name)
    return col.name if col is not None else name


def _has_primary_key(schema: exp.Schema) -> bool:
    return any(isinstance(e, exp.PrimaryKey) for e in schema.expressions) or any(
        isinstance(c.args.get("kind"), exp.PrimaryKeyColumnConstraint)
        for e in schema.expressions
        if isinstance(e, exp.ColumnDef)
        for c in e.args.get("constraints") or []
    )


def _is_fk(element: exp.Expr) -> bool:
    return isinstance(element, exp.ForeignKey) or (
        isinstance(element, exp.Constraint)
        and any(isinstance(x, exp.ForeignKey) for x in element.expressions)
    )


def _next_fk_number(info: TableInfo, schema: exp.Schema) -> int:
    """MySQL numbers unnamed keys ``<table>_ibfk_<n>`` after the highest n in use."""
    used = [0]
    for e in schema.expressions:
        m = re.fullmatch(
            rf"{re.escape(info.name)}_ibfk_(\d+)", e.name if _is_fk(e) else "", re.IGNORECASE
        )
        if m:
            used.append(int(m.group(1)))
    return max(used) + 1


def fks_element(fk: ForeignKeyInfo, database: str) -> exp.Expr:
    """The CREATE TABLE element of a foreign key (named, so it keeps its name)."""
    node = parse_one(f"CREATE TABLE x (a INT, {fks.render(fk, database)})")
    assert isinstance(node, exp.Create) and isinstance(node.this, exp.Schema)
    element: exp.Expr = node.this.expressions[-1]
    return element


def _named_index(element: exp.Expr, schema: exp.Schema) -> exp.Expr:
    """An added index with its name: MySQL names an unnamed one after its first column
    (``a``, then ``a_2``, ...); naming it here keeps catalog and shards in step."""
    element = element.copy()
    if _index_name(element):
        if _index_name(element).lower() in _all_index_names(schema):  # type: ignore[union-attr]
            raise ShardgateError(
                f"Duplicate key name '{_index_name(element)}'", code=1061, sqlstate="42000"
            )
        return element
    columns = _key_columns(element)
    base = columns[0].name if columns else "idx"
    taken = _all_index_names(schema)
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base}_{n}", n + 1
    if isinstance(element, exp.UniqueColumnConstraint):
        element.set(
            "this", exp.Schema(this=exp.to_identifier(name, quoted=True), expressions=columns)
        )
        element.set("expressions", None)
    else:
        element.set("this", exp.to_identifier(name, quoted=True))
    return element


def _mysql_statements(
    old: TableInfo,
    new: TableInfo,
    tree: exp.Alter,
    shard_actions: list[exp.Expr],
    enforced: list[tuple[ForeignKeyInfo, TableInfo]],
    dropped: list[ForeignKeyInfo],
    target_of: Callable[[Placement], tuple[str, str]],
) -> Callable[[Placement], list[str]]:
    def q(n: str) -> str:
        return _q(n, "mysql")

    body = ""
    if shard_actions or tree.args.get("options"):
        alter = exp.Alter(
            this=exp.to_table(_PLACEHOLDER),
            kind="TABLE",
            actions=shard_actions,
            options=[o.copy() for o in tree.args.get("options") or []],
        )
        body = alter.sql(dialect="mysql")[len(f"ALTER TABLE {_PLACEHOLDER}") :].strip()
    renamed = (old.database, old.name) != (new.database, new.name)

    def statements(placement: Placement) -> list[str]:
        shard, _, db, table = placement
        parts = [body] if body else []
        parts += [fks.physical_drop(f, old, shard) for f in dropped]
        parts += [fks.physical_add(f, new, parent, placement) for f, parent in enforced]
        if renamed:
            tdb, ttable = target_of(placement)
            parts.append(f"RENAME TO {q(tdb)}.{q(ttable)}")
        if not parts:
            return []
        return [f"ALTER TABLE {q(db)}.{q(table)} " + ", ".join(parts)]

    return statements


_TRIGGER_NAME = re.compile(
    "CREATE TRIGGER " + re.escape(DB_MARK) + r'\."' + re.escape(NAME_MARK) + r'((?:[^"]|"")*)"'
)


def _sqlite_statements(
    old: TableInfo,
    new: TableInfo,
    ops: list[tuple[str, str, str]],
    target_of: Callable[[Placement], tuple[str, str]],
) -> Callable[[Placement], list[str]]:
    """SQLite has no multi-action ALTER: one statement per action, and the CHAR
    triggers (and, on a rename, the per-table index names) are rebuilt around them."""

    def q(n: str) -> str:
        return _q(n, "sqlite")

    # The physical definition of each added column, exactly as CREATE TABLE makes it.
    create_ddl = new.physical_ddl[0] if new.physical_ddl else ""
    column_sql = (
        _top_level_items(create_ddl[create_ddl.index("(") + 1 : create_ddl.rindex(")")])
        if create_ddl
        else []
    )
    by_column = {}
    for item in column_sql:
        m = re.match(r'\s*"((?:[^"]|"")*)"', item)
        if m:
            by_column[m.group(1).replace('""', '"').lower()] = item.strip()
    triggers = [d for d in new.physical_ddl if d.startswith("CREATE TRIGGER")]
    old_triggers = [
        m.group(1).replace('""', '"')
        for d in old.physical_ddl
        if (m := _TRIGGER_NAME.match(d)) and m.group(1) not in ("$char_insert", "$char_update")
    ]
    indexes = [d for d in new.physical_ddl if d.startswith("CREATE") and " INDEX " in d[:30]]
    renamed = (old.database, old.name) != (new.database, new.name)
    if not ops:
        return lambda placement: []

    def statements(placement: Placement) -> list[str]:
        _, _, db, table = placement
        tdb, ttable = target_of(placement)
        out = [
            f"DROP TRIGGER IF EXISTS {q(db)}.{q(table + '$char_insert')}",
            f"DROP TRIGGER IF EXISTS {q(db)}.{q(table + '$char_update')}",
        ]
        # Every other trigger the old definition made (ON UPDATE CURRENT_TIMESTAMP's):
        # they name the columns, and the new definition makes them again below.
        out += [f"DROP TRIGGER IF EXISTS {q(db)}.{q(table + s)}" for s in old_triggers]
        current = f"{q(db)}.{q(table)}"
        current_table = table
        for op, a, b in ops:
            if op == "add":
                out.append(f"ALTER TABLE {current} ADD COLUMN {by_column[a.lower()]}")
            elif op == "drop":
                out.append(f"ALTER TABLE {current} DROP COLUMN {q(a)}")
            elif op == "rename_column":
                out.append(f"ALTER TABLE {current} RENAME COLUMN {q(a)} TO {q(b)}")
            elif op == "rename":
                out.append(f"ALTER TABLE {current} RENAME TO {q(ttable)}")
                current = f"{q(db)}.{q(ttable)}"
                current_table = ttable
            elif op == "add_index" and not renamed:  # a rename rebuilds every index below
                index = next(i for i in new.indexes if i.name.lower() == a.lower())
                out.append(
                    fill_ddl(
                        index_sql(index.name, index.columns, index.unique, "sqlite"),
                        db,
                        current_table,
                        "sqlite",
                    )
                )
            elif op == "drop_index":
                out.append(f"DROP INDEX IF EXISTS {q(db)}.{q(table + '__' + a)}")
        if renamed:
            # SQLite index names are per schema and carry the table name: move them.
            for index in old.indexes:
                out.append(f"DROP INDEX IF EXISTS {q(db)}.{q(table + '__' + index.name)}")
            out += [fill_ddl(d, tdb, ttable, "sqlite") for d in indexes]
        out += [fill_ddl(d, tdb, ttable, "sqlite") for d in triggers]
        return out

    return statements


def _top_level_items(text: str) -> list[str]:
    """Split a column list at top-level commas (quotes and parentheses respected)."""
    items, depth, start, quote = [], 0, 0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                if i + 1 < len(text) and text[i + 1] == quote:
                    i += 1
                else:
                    quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
        i += 1
    items.append(text[start:])
    return items


def inverse_hint(sql: str) -> str:
    """A short example of the inverse ALTER for the error report (simple forms only)."""
    m = re.match(r"\s*ALTER\s+TABLE\s+(\S+)\s+ADD\s+(?:COLUMN\s+)?(`?\w+`?)", sql, re.IGNORECASE)
    if m and m.group(2).upper().strip("`") not in (
        "INDEX",
        "KEY",
        "UNIQUE",
        "PRIMARY",
        "CONSTRAINT",
        "FOREIGN",
    ):
        return f" (e.g. ALTER TABLE {m.group(1)} DROP COLUMN {m.group(2)})"
    m = re.match(
        r"\s*ALTER\s+TABLE\s+(\S+)\s+RENAME\s+COLUMN\s+(\S+)\s+TO\s+(\S+?);?\s*$",
        sql,
        re.IGNORECASE,
    )
    if m:
        return f" (e.g. ALTER TABLE {m.group(1)} RENAME COLUMN {m.group(3)} TO {m.group(2)})"
    return ""
