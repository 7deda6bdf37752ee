"""CREATE TABLE / CREATE INDEX: the logical definition, the rule, the physical DDL.

The sharding rule of a new table comes, in this order, from the topology TOML
(``[[tables]]``), from MySQL's own partitioning clause — ``PARTITION BY [LINEAR]
HASH(col) PARTITIONS n`` (mod) / ``KEY(col) PARTITIONS n`` (hash) or ``RANGE(col)
(PARTITION p0 VALUES LESS THAN (10), …, … MAXVALUE)`` (range) — or from the cluster
defaults (shard key: first primary-key column, else first column). A table comment
containing ``shardgate:broadcast`` makes it a broadcast table. sqlglot does not parse
the partitioning clause, so it is cut out of the text first (:func:`split_partition`).
As in MySQL, ``HASH(col)`` places a row by ``col MOD n`` (integer keys; rule ``mod``)
and ``KEY(col)`` by a hash of the value (rule ``hash``).

Like MySQL's partitioning, every PRIMARY KEY / UNIQUE key of a sharded table must
include the shard key (error 1503): a unique key without it could only be checked per
shard. AUTO_INCREMENT is kept out of the physical tables (the coordinator assigns ids,
:mod:`sharding.catalog`). FOREIGN KEY clauses are recorded in the catalog entry but not
put in the physical DDL here: whether the shards can enforce one depends on the parent
table, which :mod:`sharding.sql.foreign_keys` decides when the table is created.

Physical DDL for SQLite keeps each column's *declared type text* as written (SQLite
accepts any type name and derives the column's affinity from it), so a shard column
behaves exactly like the same column in a single SQLite database — except what MySQL
means differently (issue 15): every text column is declared with the MySQL collation it
would have (its own, the table's default, else ``utf8mb4_general_ci``), registered on
every shard connection by :mod:`sharding.backend.sqlite_mysql`, and DECIMAL(p,s) gets
the physical type whose read converter restores the declared scale. KEY/INDEX definitions become
``CREATE INDEX`` statements (SQLite has no inline indexes), named ``<table>__<index>``
because SQLite index names are per schema, not per table.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp

from sharding.catalog import ColumnInfo, ForeignKeyInfo, IndexInfo, TableInfo
from sharding.errors import NotSupported, PartitionKeyError, ShardgateError, UnknownColumn
from sharding.sql.foreign_keys import from_reference, from_table_element
from sharding.sql.lexer import TOKEN, unescape_mysql_string
from sharding.sql.literals import quote_identifier
from sharding.sql.parse import mysql_syntax_error
from sharding.topology import ShardRule, Topology, TopologyError

DB_MARK = "@@SG_DB@@"
TABLE_MARK = "@@SG_TABLE@@"  # quoted bare physical table name
QUALIFIED_MARK = "@@SG_QTABLE@@"  # quoted db.table
NAME_MARK = "@@SG_TNAME@@"  # unquoted physical table name (index name prefix)


@dataclass
class Partitioning:
    algorithm: str
    column: str
    shards: int
    bounds: tuple[Any, ...] = ()


def split_partition(sql: str) -> tuple[str, Partitioning | None]:
    """Cut a top-level ``PARTITION BY`` clause out of CREATE TABLE text."""
    depth = 0
    tokens = [m for m in TOKEN.finditer(sql) if m.lastgroup not in ("ws", "comment")]
    for i, m in enumerate(tokens):
        text = m.group()
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif (
            depth == 0
            and m.lastgroup == "ident"
            and text.upper() == "PARTITION"
            and i + 1 < len(tokens)
            and tokens[i + 1].group().upper() == "BY"
        ):
            clause = sql[m.start() :]
            return sql[: m.start()].rstrip(), _parse_partition(clause)
    return sql, None


_HASH = re.compile(
    r"PARTITION\s+BY\s+(?:LINEAR\s+)?(HASH|KEY)\s*\(\s*`?(\w+)`?\s*\)\s*(?:PARTITIONS\s+(\d+))?\s*;?\s*\Z",
    re.IGNORECASE | re.DOTALL,
)
_RANGE = re.compile(
    r"PARTITION\s+BY\s+RANGE\s*(?:COLUMNS\s*)?\(\s*`?(\w+)`?\s*\)\s*\((.*)\)\s*;?\s*\Z",
    re.IGNORECASE | re.DOTALL,
)
_LESS = re.compile(
    r"PARTITION\s+`?\w+`?\s+VALUES\s+LESS\s+THAN\s*(?:\(\s*([^)]*?)\s*\)|(MAXVALUE))",
    re.IGNORECASE,
)


def _parse_partition(clause: str) -> Partitioning:
    m = _HASH.match(clause)
    if m:
        shards = int(m.group(3) or 1)
        if shards < 1:
            raise mysql_syntax_error(clause, 0, "PARTITIONS must be >= 1")
        # MySQL's HASH(col) partitioning is MOD(col, n); KEY(col) is a hash function.
        algorithm = "mod" if m.group(1).upper() == "HASH" else "hash"
        return Partitioning(algorithm, m.group(2), shards)
    m = _RANGE.match(clause)
    if m:
        bounds: list[Any] = []
        items = _LESS.findall(m.group(2))
        if not items:
            raise mysql_syntax_error(clause, 0, "RANGE needs PARTITION ... VALUES LESS THAN (...)")
        for k, (value, maxvalue) in enumerate(items):
            if maxvalue:
                if k != len(items) - 1:
                    raise mysql_syntax_error(clause, 0, "MAXVALUE must be the last partition")
                continue
            bounds.append(_bound(value))
        if items[-1][1] == "":
            # No MAXVALUE partition: MySQL rejects larger keys; we keep them in the
            # last shard (documented), since a sharded table must place every row.
            bounds.pop()
        return Partitioning("range", m.group(1), len(bounds) + 1, tuple(bounds))
    raise NotSupported(
        "this PARTITION BY form; use HASH(col) PARTITIONS n, KEY(col) PARTITIONS n "
        "or RANGE(col) (PARTITION … VALUES LESS THAN …)"
    )


def _bound(text: str) -> Any:
    text = text.strip()
    if text[:1] in ("'", '"'):
        return unescape_mysql_string(text)
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise mysql_syntax_error(text, 0, "partition bound must be a constant") from None


def _sqlite_collation(name: str) -> str:
    # The embedded default registers MySQL's collations under their own names (issue 15).
    from sharding.backend.sqlite_mysql import sqlite_collation

    return sqlite_collation(name)


_TEXT_TYPES = frozenset(
    {
        exp.DataType.Type.CHAR,
        exp.DataType.Type.VARCHAR,
        exp.DataType.Type.NCHAR,
        exp.DataType.Type.NVARCHAR,
        exp.DataType.Type.TEXT,
        exp.DataType.Type.TINYTEXT,
        exp.DataType.Type.MEDIUMTEXT,
        exp.DataType.Type.LONGTEXT,
        exp.DataType.Type.ENUM,
        exp.DataType.Type.SET,
    }
)


def _sqlite_type(kind: exp.Expr | None, type_text: str) -> str:
    """The physical SQLite type of a MySQL column type: as written, except DECIMAL,
    whose scale the backend's read converter needs (:mod:`sharding.backend.sqlite_mysql`)."""
    if isinstance(kind, exp.DataType) and kind.this in (
        exp.DataType.Type.DECIMAL,
        exp.DataType.Type.UDECIMAL,
    ):
        from sharding.backend.sqlite_mysql import decimal_type

        params = [int(p.name) for p in kind.expressions if p.name.isdigit()]
        return decimal_type(params[0] if params else None, params[1] if len(params) > 1 else None)
    return type_text


def _sqlite_enum(
    kind: exp.Expr | None,
    type_text: str,
    column: str,
    constraints: list[exp.Expr],
    create: exp.Create,
) -> tuple[str, tuple[str, ...]] | None:
    """ENUM on a SQLite shard (issue 15): the label is stored as text, checked (1265 in
    strict mode) and made canonical by triggers (:func:`_enum_triggers`), and compared
    under a collation that knows the labels (by label with strings, by index with
    numbers: :func:`sharding.backend.sqlite_mysql.enum_collation`). SET is refused: its
    subsets would need their own storage."""
    if not isinstance(kind, exp.DataType) or kind.this not in (
        exp.DataType.Type.ENUM,
        exp.DataType.Type.SET,
    ):
        return None
    if kind.this == exp.DataType.Type.SET:
        raise NotSupported(f"SET column '{column}' on the embedded SQLite default")
    from sharding.backend.sqlite_mysql import ENUM_TYPE, enum_check, enum_collation
    from sharding.sql.enums import enum_labels

    labels = enum_labels(type_text)
    if labels is None:
        raise NotSupported(
            f"ENUM column '{column}' of type {type_text} on the embedded SQLite default"
        )
    base = _table_collation(create) or "utf8mb4_general_ci"
    for c in constraints:
        ck = c.args.get("kind")
        if isinstance(ck, exp.CollateColumnConstraint):
            base = ck.this.name if isinstance(ck.this, exp.Expr) else str(ck.this)
    _sqlite_collation(base)  # 1235 for a collation the embedded default does not have
    collate = quote_identifier(enum_collation(labels, base), "sqlite")
    return f"{ENUM_TYPE} {enum_check(column, labels)} COLLATE {collate}", labels


def _enum_triggers(
    char_columns: list[str], columns: list[tuple[str, tuple[str, ...]]]
) -> list[str]:
    """MySQL stores an ENUM's label as defined (``'SMALL'`` → ``'small'``, ``2`` →
    ``'medium'``): after INSERT / UPDATE, rows whose value is not byte-for-byte a label
    get the canonical one (the CHECK already refused what is no label). The same two
    triggers as :func:`_char_triggers` (and their names, which ALTER TABLE rebuilds),
    doing the CHAR columns' work too."""
    from sharding.backend.sqlite_mysql import enum_canonical, enum_is_canonical

    def q(name: str) -> str:
        return quote_identifier(name, "sqlite")

    sets = [f"{q(c)} = rtrim({q(c)}, ' ')" for c in char_columns]
    sets += [f"{q(c)} = {enum_canonical(c, labels)}" for c, labels in columns]
    when = [f"length(NEW.{q(c)}) <> length(rtrim(NEW.{q(c)}, ' '))" for c in char_columns]
    when += [f"NOT {enum_is_canonical('NEW.' + q(c), labels)}" for c, labels in columns]
    body = (
        f"FOR EACH ROW WHEN {' OR '.join(when)} BEGIN UPDATE {TABLE_MARK} SET {', '.join(sets)} "
        "WHERE rowid = NEW.rowid; END"
    )
    cols = ", ".join(q(c) for c in [*char_columns, *(c for c, _ in columns)])
    return [
        f"CREATE TRIGGER {DB_MARK}.{q(NAME_MARK + '$char_insert')} AFTER INSERT ON {TABLE_MARK} {body}",
        f"CREATE TRIGGER {DB_MARK}.{q(NAME_MARK + '$char_update')} AFTER UPDATE OF {cols} ON {TABLE_MARK} {body}",
    ]


def _table_collation(create: exp.Create) -> str | None:
    properties = create.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.CollateProperty):
            return prop.this.name if isinstance(prop.this, exp.Expr) else str(prop.this)
    return None


def _constraint_sql(node: exp.Expr) -> str:
    return node.sql(dialect="mysql")


def build_table(
    create: exp.Create,
    partitioning: Partitioning | None,
    topology: Topology,
    database: str,
    create_sql: str,
    dialect: str,
) -> TableInfo:
    """The catalog entry (rule, columns, keys, physical DDL) of a CREATE TABLE."""
    schema = create.this
    if not isinstance(schema, exp.Schema):
        raise NotSupported("CREATE TABLE without a column list (AS SELECT)")
    if create.args.get("expression") is not None:
        raise NotSupported("CREATE TABLE ... AS SELECT on a sharded coordinator")
    table = schema.this
    assert isinstance(table, exp.Table)
    name = table.name
    columns: list[ColumnInfo] = []
    primary: list[str] = []
    uniques: list[tuple[str, list[str]]] = []
    indexes: list[tuple[str, list[str]]] = []
    auto_increment: str | None = None
    column_sql: list[str] = []
    foreign_keys: list[ForeignKeyInfo] = []  # enforced or not: decided by the caller
    char_columns: list[str] = []
    enum_columns: list[tuple[str, tuple[str, ...]]] = []
    physical_types: list[tuple[str, str]] = []  # (column, SQLite type): ON UPDATE triggers
    stamped: list[Any] = []  # ON UPDATE CURRENT_TIMESTAMP columns on SQLite shards
    stored: list[tuple[int, Any]] = []  # (index, integer/FLOAT column): SQLite shards
    cut_spaces: list[tuple[str, int]] = []  # VARCHAR(n) columns: SQLite shards
    binary_columns: list[str] = []  # VARBINARY/BLOB columns: SQLite shards
    json_columns: list[str] = []  # JSON columns: SQLite shards (sqlite_json_store)
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            col_name = item.name
            kind = item.args.get("kind")
            if _declared_real(col_name, kind, create_sql):
                # MySQL's REAL is a DOUBLE; sqlglot reads it as FLOAT, so it is written
                # DOUBLE (the catalog's text too, which ALTER TABLE parses again).
                kind = exp.DataType.build("DOUBLE")
                item.set("kind", kind)
                create_sql = _real_as_double(col_name, create_sql)
            type_text = kind.sql(dialect="mysql") if kind is not None else ""
            nullable = True
            default: str | None = None
            collation: str | None = None
            auto = False
            parts = [quote_identifier(col_name, dialect), type_text]
            constraints = item.args.get("constraints") or []
            enum: tuple[str, tuple[str, ...]] | None = None
            length_limit: tuple[int, bool] | None = None
            if dialect == "sqlite":
                # MySQL's meaning on the embedded default (issue 15): exact DECIMAL
                # reads, and every text column compares with the collation MySQL
                # would give it (the table's default, else utf8mb4_general_ci).
                parts[1] = _sqlite_type(kind, type_text)
                from sharding.backend import sqlite_length_store as lengths

                lengths.refuse_type(col_name, kind)  # BINARY(n), BIT, YEAR: 1235
                length_limit = lengths.length_limit(kind)
                if (
                    length_limit is not None
                    and isinstance(kind, exp.DataType)
                    and kind.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.NVARCHAR)
                ):
                    cut_spaces.append((col_name, length_limit[0]))
                from sharding.backend import sqlite_binary_store as binary

                if binary.is_binary(kind):  # stored as BLOBs (sqlite_binary_store)
                    parts[1] = binary.physical_type(type_text)
                    binary_columns.append(col_name)
                if isinstance(kind, exp.DataType) and kind.this == exp.DataType.Type.JSON:
                    # MariaDB's JSON is LONGTEXT: the text as written (SQLite's NUMERIC
                    # affinity of "JSON" made ' 1 ' the integer 1), checked by triggers.
                    parts[1] = "LONGTEXT"
                    json_columns.append(col_name)
                enum = _sqlite_enum(kind, type_text, col_name, constraints, create)
                if enum is not None:
                    parts[1] = enum[0]
                    enum_columns.append((col_name, enum[1]))
                if (
                    isinstance(kind, exp.DataType)
                    and kind.this in _TEXT_TYPES
                    and not any(
                        isinstance(c.args.get("kind"), exp.CollateColumnConstraint)
                        for c in constraints
                    )
                ):
                    collation = _sqlite_collation(_table_collation(create) or "utf8mb4_general_ci")
                    if enum is None:  # an ENUM's collation wraps it (_sqlite_enum)
                        parts.append(f"COLLATE {collation}")
                if isinstance(kind, exp.DataType) and kind.this in (
                    exp.DataType.Type.CHAR,
                    exp.DataType.Type.NCHAR,
                ):
                    char_columns.append(col_name)
                if isinstance(kind, exp.DataType) and (
                    kind.this in exp.DataType.INTEGER_TYPES or kind.this in exp.DataType.REAL_TYPES
                ):
                    from sharding.backend.sqlite_mysql import strict_check

                    parts.append(strict_check(col_name))
                from sharding.backend.sqlite_numeric_store import stored_column

                store = stored_column(col_name, kind)
                if store is not None:
                    stored.append((len(column_sql), store))
                elif isinstance(kind, exp.DataType) and kind.this == exp.DataType.Type.FLOAT:
                    # FLOAT(25..53) is a DOUBLE: no FLOAT read converter on the shard.
                    parts[1] = "DOUBLE"
            for constraint in constraints:
                ck = constraint.args.get("kind")
                if isinstance(ck, exp.NotNullColumnConstraint):
                    if ck.args.get("allow_null"):
                        continue
                    nullable = False
                    parts.append("NOT NULL")
                elif isinstance(ck, exp.AutoIncrementColumnConstraint):
                    auto = True
                    auto_increment = col_name
                elif isinstance(ck, exp.PrimaryKeyColumnConstraint):
                    primary = [col_name]
                elif isinstance(ck, exp.UniqueColumnConstraint):
                    uniques.append((f"{col_name}_unique", [col_name]))
                elif isinstance(ck, exp.DefaultColumnConstraint):
                    default = ck.this.sql(dialect="mysql") if ck.this is not None else None
                    if default is not None:
                        rendered = ck.this.sql(dialect=dialect)
                        if dialect == "sqlite" and col_name in binary_columns:
                            from sharding.backend.sqlite_binary_store import default_sql

                            rendered = default_sql(ck.this) or rendered
                        parts.append(
                            f"DEFAULT ({rendered})"
                            if not isinstance(ck.this, exp.Literal | exp.Null)
                            else f"DEFAULT {rendered}"
                        )
                elif isinstance(ck, exp.CollateColumnConstraint):
                    raw = ck.this.name if isinstance(ck.this, exp.Expr) else str(ck.this)
                    collation = _sqlite_collation(raw) if dialect == "sqlite" else raw
                    if enum is None:  # an ENUM's collation wraps it (_sqlite_enum)
                        parts.append(f"COLLATE {collation}")
                elif isinstance(ck, exp.Reference):
                    # MariaDB makes a column's REFERENCES a foreign key (sql/foreign_keys.py).
                    foreign_keys.append(
                        from_reference(
                            f"{table.name}_ibfk_{_unnamed(foreign_keys, table.name) + 1}",
                            (col_name,),
                            ck,
                            database,
                        )
                    )
                elif isinstance(ck, exp.OnUpdateColumnConstraint) and dialect == "mysql":
                    # ON UPDATE CURRENT_TIMESTAMP changes the row on every UPDATE: the
                    # shards must have it (an updated_at column would never move).
                    parts.append(ck.sql(dialect="mysql"))
                elif isinstance(ck, exp.OnUpdateColumnConstraint) and dialect == "sqlite":
                    # SQLite has no such attribute: triggers (sqlite_on_update).
                    from sharding.backend.sqlite_on_update import stamped_column

                    stamped.append(stamped_column(col_name, kind, ck))
                elif isinstance(
                    ck,
                    exp.CommentColumnConstraint
                    | exp.CharacterSetColumnConstraint
                    | exp.OnUpdateColumnConstraint,
                ):
                    continue  # not kept on the shards (see docs/refusals.md)
                else:
                    raise NotSupported(
                        f"column constraint {_constraint_sql(ck)} on a sharded table"
                    )
            if enum is not None and not nullable and default is None:
                # MySQL's implicit default of a NOT NULL ENUM is its first label.
                parts.append("DEFAULT '" + enum[1][0].replace("'", "''") + "'")
            table_collation = _table_collation(create)
            if (
                collation is None
                and table_collation is not None
                and isinstance(kind, exp.DataType)
                and kind.this in _TEXT_TYPES
                and enum is None
            ):
                # A text column without its own COLLATE compares with the table's
                # default: the shards' column gets it written out (the table options
                # are not part of the shard DDL) and the merge uses the same.
                if dialect == "sqlite":
                    collation = _sqlite_collation(table_collation)
                else:
                    if not re.fullmatch(r"[A-Za-z0-9_]+", table_collation):
                        raise ShardgateError(
                            f"Unknown collation: '{table_collation}'", code=1273, sqlstate="HY000"
                        )
                    collation = table_collation.lower()
                    parts.append(f"COLLATE {collation}")
            columns.append(ColumnInfo(col_name, type_text, nullable, default, collation, auto))
            if dialect == "sqlite" and length_limit is not None:
                # MySQL's 1406 past the column's length. Last: the backend reads a
                # column's COLLATE right after its type (sqlite_arithmetic._add_collations).
                from sharding.backend.sqlite_length_store import length_check

                parts.append(length_check(col_name, *length_limit))
            column_sql.append(" ".join(parts))
            physical_types.append((col_name, parts[1]))
        elif isinstance(item, exp.PrimaryKey):
            primary = [e.name for e in item.expressions]
        elif isinstance(item, exp.UniqueColumnConstraint):
            target = item.this
            if isinstance(target, exp.Schema):
                uname = target.this.name if target.this is not None else ""
                cols = [e.name for e in target.expressions]
            else:
                uname = ""
                cols = [e.name for e in item.expressions] if item.expressions else []
            uniques.append((uname or f"unique_{len(uniques)}", cols))
        elif isinstance(item, exp.IndexColumnConstraint):
            iname = item.this.name if item.this is not None else f"idx_{len(indexes)}"
            indexes.append((iname, [e.name for e in item.expressions]))
        elif isinstance(item, exp.ForeignKey | exp.Constraint):
            fk = from_table_element(
                item, table.name, database, _unnamed(foreign_keys, table.name) + 1
            )
            if fk is None:
                raise NotSupported("CHECK constraints on a sharded table")
            foreign_keys.append(fk)
        else:
            raise NotSupported(f"table element {item.sql(dialect='mysql')[:60]} on a sharded table")
    if not columns:
        raise ShardgateError("A table must have at least 1 column", code=1113, sqlstate="42000")
    by_name = {c.name.lower() for c in columns}
    comment = ""
    properties = create.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.SchemaCommentProperty):
            comment = prop.this.name if isinstance(prop.this, exp.Expr) else str(prop.this)
        elif type(prop) is exp.Property and prop.name.upper() not in MARIADB_TABLE_OPTIONS:
            # MariaDB refuses a table option it does not know (a rule written as
            # ``shard_key=id`` must not be dropped silently).
            raise ShardgateError(f"Unknown option '{prop.name}'", code=1911, sqlstate="HY000")
    broadcast = "shardgate:broadcast" in comment
    declared = topology.declared(database, name)
    if declared is not None:
        rule = declared.rule
        if declared.primary_key and not primary:
            primary = list(declared.primary_key)
    elif broadcast:
        rule = ShardRule(broadcast=True, datasources=topology.datasource_names(), shards=1)
    elif partitioning is not None:
        if partitioning.column.lower() not in by_name:
            raise ShardgateError(
                f"Field in list of fields for partition function not found in table: {partitioning.column}",
                code=1488,
            )
        try:
            rule = topology.default_rule(
                _column_name(columns, partitioning.column),
                algorithm=partitioning.algorithm,
                shards=partitioning.shards,
                bounds=partitioning.bounds,
            )
        except TopologyError as exc:
            raise ShardgateError(f"invalid partitioning: {exc}", code=1492) from None
    else:
        key = primary[0] if primary else columns[0].name
        rule = topology.default_rule(_column_name(columns, key))
    for col in (
        primary
        + [c for _, cs in uniques + indexes for c in cs]
        + [c for f in foreign_keys for c in f.columns]
    ):
        if col.lower() not in by_name:
            raise ShardgateError(
                f"Key column '{col}' doesn't exist in table", code=1072, sqlstate="42000"
            )
    _primary_key_not_null(columns, column_sql, primary)
    if not rule.broadcast:
        if rule.shard_key is None or rule.shard_key.lower() not in by_name:
            raise UnknownColumn(
                f"shard key {rule.shard_key!r} of {database}.{name} is not a column of the table"
            )
        if rule.shards > 1:
            for kind, cols in [("PRIMARY KEY", primary)] + [
                ("UNIQUE INDEX", c) for _, c in uniques
            ]:
                if cols and rule.shard_key.lower() not in {c.lower() for c in cols}:
                    raise PartitionKeyError(
                        f"A {kind} must include all columns in the table's partitioning function "
                        f"(shard key {rule.shard_key})"
                    )
    triggers: list[str] = []
    if stored:
        triggers = _store_constraints(stored, column_sql, primary, uniques, rule)
    ddl = _physical_ddl(column_sql, primary, uniques, indexes, dialect)
    if dialect == "sqlite" and enum_columns:
        ddl += _enum_triggers(char_columns, enum_columns)
    elif dialect == "sqlite" and char_columns:
        ddl += _char_triggers(char_columns)
    ddl += triggers  # MySQL's stored integers and FLOATs (SQLite shards)
    if dialect == "sqlite" and cut_spaces:
        from sharding.backend.sqlite_length_store import space_cut_triggers

        ddl += space_cut_triggers(
            cut_spaces, db_mark=DB_MARK, table_mark=TABLE_MARK, name_mark=NAME_MARK
        )
    if dialect == "sqlite" and binary_columns:
        from sharding.backend.sqlite_binary_store import store_triggers

        ddl += store_triggers(
            binary_columns, db_mark=DB_MARK, table_mark=TABLE_MARK, name_mark=NAME_MARK
        )
    if dialect == "sqlite" and json_columns:
        from sharding.backend.sqlite_json_store import json_triggers

        ddl += json_triggers(
            json_columns,
            database=database,
            table=name,
            db_mark=DB_MARK,
            table_mark=TABLE_MARK,
            name_mark=NAME_MARK,
        )
    if dialect == "sqlite" and stamped:
        from sharding.backend.sqlite_on_update import on_update_triggers

        ddl += on_update_triggers(
            name,
            physical_types,
            stamped,
            db_mark=DB_MARK,
            table_mark=TABLE_MARK,
            name_mark=NAME_MARK,
        )
    return TableInfo(
        database=database,
        name=name,
        rule=rule,
        columns=tuple(columns),
        primary_key=tuple(primary),
        auto_increment=auto_increment,
        indexes=tuple(
            [IndexInfo(n, tuple(c), True) for n, c in uniques]
            + [IndexInfo(n, tuple(c), False) for n, c in indexes]
        ),
        create_sql=create_sql,
        physical_ddl=tuple(ddl),
        declared=declared is not None,
        # In MariaDB's order (SHOW CREATE TABLE, information_schema): by name.
        foreign_keys=tuple(sorted(foreign_keys, key=lambda f: f.name.lower())),
    )


def _unnamed(foreign_keys: list[ForeignKeyInfo], table: str) -> int:
    """How many keys so far got MariaDB's generated name ``<table>_ibfk_<n>``."""
    return sum(1 for f in foreign_keys if f.name.lower().startswith(f"{table.lower()}_ibfk_"))


def _primary_key_not_null(
    columns: list[ColumnInfo], column_sql: list[str], primary: list[str]
) -> None:
    """PRIMARY KEY columns are NOT NULL, as in MySQL (SQLite would accept NULLs in a
    non-INTEGER key, and several NULL keys would break the keyset tiebreaker's
    uniqueness). In place: the catalog entries and the physical column definitions."""
    keys = {c.lower() for c in primary}
    for i, col in enumerate(columns):
        if col.name.lower() in keys and col.nullable:
            columns[i] = replace(col, nullable=False)
            column_sql[i] += " NOT NULL"


def _column_name(columns: list[ColumnInfo], name: str) -> str:
    for c in columns:
        if c.name.lower() == name.lower():
            return c.name
    return name


#: The table options of MariaDB 10.11's CREATE TABLE that sqlglot parses as a generic
#: ``Property`` (the others have classes of their own): any other name is 1911.
MARIADB_TABLE_OPTIONS = frozenset(
    {
        "AUTO_INCREMENT", "AVG_ROW_LENGTH", "CHECKSUM", "TABLE_CHECKSUM", "CONNECTION",
        "DATA DIRECTORY", "INDEX DIRECTORY", "DELAY_KEY_WRITE", "ENCRYPTED",
        "ENCRYPTION_KEY_ID", "IETF_QUOTES", "INSERT_METHOD", "KEY_BLOCK_SIZE", "MAX_ROWS",
        "MIN_ROWS", "PACK_KEYS", "PAGE_CHECKSUM", "PAGE_COMPRESSED",
        "PAGE_COMPRESSION_LEVEL", "PASSWORD", "ROW_FORMAT", "SEQUENCE",
        "STATS_AUTO_RECALC", "STATS_PERSISTENT", "STATS_SAMPLE_PAGES", "TABLESPACE",
        "TRANSACTIONAL", "UNION", "STORAGE",
    }
)  # fmt: skip


def _physical_ddl(
    column_sql: list[str],
    primary: list[str],
    uniques: list[tuple[str, list[str]]],
    indexes: list[tuple[str, list[str]]],
    dialect: str,
) -> list[str]:
    q = functools.partial(quote_identifier, dialect=dialect)
    parts = list(column_sql)
    if primary:
        parts.append(f"PRIMARY KEY ({', '.join(q(c) for c in primary)})")
    statements = [f"CREATE TABLE {QUALIFIED_MARK} ({', '.join(parts)})"]
    for iname, cols in uniques:
        statements.append(index_sql(iname, cols, True, dialect))
    for iname, cols in indexes:
        statements.append(index_sql(iname, cols, False, dialect))
    return statements


def _real_pattern(column: str) -> str:
    return r"((?:^|[,(])\s*`?" + re.escape(column) + r"`?\s+)REAL\b"


def _declared_real(column: str, kind: exp.Expr | None, create_sql: str) -> bool:
    """The column was written ``REAL`` (MySQL's DOUBLE), which sqlglot reads as FLOAT:
    the statement's own text tells them apart."""
    return (
        isinstance(kind, exp.DataType)
        and kind.this == exp.DataType.Type.FLOAT
        and not kind.expressions
        and re.search(_real_pattern(column), create_sql, re.IGNORECASE) is not None
    )


def _real_as_double(column: str, create_sql: str) -> str:
    """``create_sql`` with the column's ``REAL`` written ``DOUBLE`` (the same type)."""
    return re.sub(_real_pattern(column), r"\1DOUBLE", create_sql, count=1, flags=re.IGNORECASE)


def _store_constraints(
    stored: list[tuple[int, Any]],
    column_sql: list[str],
    primary: list[str],
    uniques: list[tuple[str, list[str]]],
    rule: ShardRule,
) -> list[str]:
    """MySQL's stored integers and FLOATs on SQLite shards
    (:mod:`sharding.backend.sqlite_numeric_store`): each column's CHECK constraints
    (added to its definition in ``column_sql``, in place) and the table's triggers. A
    key column (PRIMARY KEY, UNIQUE, the shard key) refuses a non-integer: the row is
    placed and checked before MySQL would round it."""
    from sharding.backend.sqlite_numeric_store import column_checks, store_triggers

    keys = {c.lower() for c in primary}
    keys |= {c.lower() for _, cols in uniques for c in cols}
    if rule.shard_key is not None:
        keys.add(rule.shard_key.lower())
    columns = []
    for index, column in stored:
        column = replace(column, key=column.name.lower() in keys)
        column_sql[index] += " " + column_checks(column)
        columns.append(column)
    return store_triggers(columns, db_mark=DB_MARK, table_mark=TABLE_MARK, name_mark=NAME_MARK)


def _char_triggers(columns: list[str]) -> list[str]:
    """MySQL's CHAR(n) drops trailing spaces when it stores a value; on SQLite shards two
    triggers do it after INSERT / UPDATE of those columns (only when some value ends in
    a space: ``length`` is SQLite's own, the comparison must not be PAD SPACE)."""

    def q(name: str) -> str:
        return quote_identifier(name, "sqlite")

    sets = ", ".join(f"{q(c)} = rtrim({q(c)}, ' ')" for c in columns)
    when = " OR ".join(f"length(NEW.{q(c)}) <> length(rtrim(NEW.{q(c)}, ' '))" for c in columns)
    body = f"FOR EACH ROW WHEN {when} BEGIN UPDATE {TABLE_MARK} SET {sets} WHERE rowid = NEW.rowid; END"
    cols = ", ".join(q(c) for c in columns)
    return [
        f"CREATE TRIGGER {DB_MARK}.{q(NAME_MARK + '$char_insert')} AFTER INSERT ON {TABLE_MARK} {body}",
        f"CREATE TRIGGER {DB_MARK}.{q(NAME_MARK + '$char_update')} AFTER UPDATE OF {cols} ON {TABLE_MARK} {body}",
    ]


def index_sql(name: str, columns: list[str] | tuple[str, ...], unique: bool, dialect: str) -> str:
    """CREATE INDEX template (markers for the physical names)."""
    q = functools.partial(quote_identifier, dialect=dialect)
    kw = "CREATE UNIQUE INDEX" if unique else "CREATE INDEX"
    cols = ", ".join(q(c) for c in columns)
    if dialect == "sqlite":
        return f"{kw} {DB_MARK}.{q(NAME_MARK + '__' + name)} ON {TABLE_MARK} ({cols})"
    return f"{kw} {q(name)} ON {QUALIFIED_MARK} ({cols})"


def drop_index_sql(name: str, dialect: str) -> str:
    q = functools.partial(quote_identifier, dialect=dialect)
    if dialect == "sqlite":
        return f"DROP INDEX IF EXISTS {DB_MARK}.{q(NAME_MARK + '__' + name)}"
    return f"DROP INDEX {q(name)} ON {QUALIFIED_MARK}"


def fill_ddl(template: str, db: str, table: str, dialect: str) -> str:
    q = functools.partial(quote_identifier, dialect=dialect)
    return (
        template.replace(QUALIFIED_MARK, f"{q(db)}.{q(table)}")
        .replace(DB_MARK, q(db))
        .replace(TABLE_MARK, q(table))
        .replace(NAME_MARK, table)
    )


def truncate_sql(dialect: str) -> str:
    if dialect == "sqlite":
        return f"DELETE FROM {QUALIFIED_MARK}"
    return f"TRUNCATE TABLE {QUALIFIED_MARK}"


def drop_table_sql(dialect: str) -> str:
    return f"DROP TABLE IF EXISTS {QUALIFIED_MARK}"
