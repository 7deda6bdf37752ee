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
:mod:`sharding.catalog`).

Physical DDL for SQLite keeps each column's *declared type text* as written (SQLite
accepts any type name and derives the column's affinity from it), so a shard column
behaves exactly like the same column in a single SQLite database; MySQL collations map
to SQLite's (``*_bin`` → BINARY, ``*_ci`` → NOCASE). KEY/INDEX definitions become
``CREATE INDEX`` statements (SQLite has no inline indexes), named ``<table>__<index>``
because SQLite index names are per schema, not per table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp

from sharding.catalog import ColumnInfo, IndexInfo, TableInfo
from sharding.errors import NotSupported, PartitionKeyError, ShardgateError, UnknownColumn
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


def _sqlite_collation(name: str | None) -> str | None:
    if name is None:
        return None
    n = name.lower()
    if n in ("binary", "nocase", "rtrim"):
        return n
    if n.endswith("_bin") or n == "binary":
        return "binary"
    if n.endswith("_ci"):
        return "nocase"
    raise NotSupported(f"collation {name} on SQLite shards")


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
        raise NotSupported("CREATE TABLE without a column list (LIKE / AS SELECT)")
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
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            col_name = item.name
            kind = item.args.get("kind")
            type_text = kind.sql(dialect="mysql") if kind is not None else ""
            nullable = True
            default: str | None = None
            collation: str | None = None
            auto = False
            parts = [quote_identifier(col_name, dialect), type_text]
            for constraint in item.args.get("constraints") or []:
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
                        parts.append(
                            f"DEFAULT ({rendered})"
                            if not isinstance(ck.this, exp.Literal | exp.Null)
                            else f"DEFAULT {rendered}"
                        )
                elif isinstance(ck, exp.CollateColumnConstraint):
                    raw = ck.this.name if isinstance(ck.this, exp.Expr) else str(ck.this)
                    collation = _sqlite_collation(raw) if dialect == "sqlite" else raw
                    parts.append(
                        f"COLLATE {collation.upper() if dialect == 'sqlite' else collation}"
                    )
                elif isinstance(
                    ck,
                    exp.CommentColumnConstraint
                    | exp.CharacterSetColumnConstraint
                    | exp.OnUpdateColumnConstraint,
                ):
                    continue  # no meaning for the shards' data
                else:
                    raise NotSupported(
                        f"column constraint {_constraint_sql(ck)} on a sharded table"
                    )
            columns.append(ColumnInfo(col_name, type_text, nullable, default, collation, auto))
            column_sql.append(" ".join(parts))
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
            raise NotSupported("FOREIGN KEY / CHECK constraints on a sharded table")
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
    for col in primary + [c for _, cs in uniques + indexes for c in cs]:
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
    ddl = _physical_ddl(column_sql, primary, uniques, indexes, dialect)
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
    )


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


def _physical_ddl(
    column_sql: list[str],
    primary: list[str],
    uniques: list[tuple[str, list[str]]],
    indexes: list[tuple[str, list[str]]],
    dialect: str,
) -> list[str]:
    q = lambda n: quote_identifier(n, dialect)  # noqa: E731
    parts = list(column_sql)
    if primary:
        parts.append(f"PRIMARY KEY ({', '.join(q(c) for c in primary)})")
    statements = [f"CREATE TABLE {QUALIFIED_MARK} ({', '.join(parts)})"]
    for iname, cols in uniques:
        statements.append(index_sql(iname, cols, True, dialect))
    for iname, cols in indexes:
        statements.append(index_sql(iname, cols, False, dialect))
    return statements


def index_sql(name: str, columns: list[str] | tuple[str, ...], unique: bool, dialect: str) -> str:
    """CREATE INDEX template (markers for the physical names)."""
    q = lambda n: quote_identifier(n, dialect)  # noqa: E731
    kw = "CREATE UNIQUE INDEX" if unique else "CREATE INDEX"
    cols = ", ".join(q(c) for c in columns)
    if dialect == "sqlite":
        return f"{kw} {DB_MARK}.{q(NAME_MARK + '__' + name)} ON {TABLE_MARK} ({cols})"
    return f"{kw} {q(name)} ON {QUALIFIED_MARK} ({cols})"


def drop_index_sql(name: str, dialect: str) -> str:
    q = lambda n: quote_identifier(n, dialect)  # noqa: E731
    if dialect == "sqlite":
        return f"DROP INDEX IF EXISTS {DB_MARK}.{q(NAME_MARK + '__' + name)}"
    return f"DROP INDEX {q(name)} ON {QUALIFIED_MARK}"


def fill_ddl(template: str, db: str, table: str, dialect: str) -> str:
    q = lambda n: quote_identifier(n, dialect)  # noqa: E731
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
