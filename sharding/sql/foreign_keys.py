"""FOREIGN KEY on sharded tables: accepted, enforced where a shard can check it alone.

ORMs and migration tools declare foreign keys (SQLAlchemy ``create_all``, Alembic,
Flyway, every dump), so refusing them stops those tools at the first table. A shard can
only check a foreign key whose parent rows are on the *same* server, in the same shard:

* **Enforced** (the constraint is in the physical DDL, naming the parent's physical
  table of the same shard / data source) when, on MySQL/MariaDB shards,

  - the parent is a broadcast table with a copy on every data source the child uses
    (the child may be sharded or broadcast): every shard has the whole parent;
  - both tables are sharded by the same rule (algorithm, shard count, bounds, data
    sources) and the foreign key is exactly child shard key → parent shard key: a child
    row and its parent row always land in the same shard number;
  - the table references itself through its own shard key, or is broadcast.

* **Metadata only** otherwise — a parent row may live on another shard or server, and
  checking it would need a distributed lock on every write. The foreign key is kept in
  the catalog (SHOW CREATE TABLE, information_schema, reflection) and the statement
  returns a warning (``SHOW WARNINGS``: code 1235, naming the key and the reason). The
  application (or ORM) keeps the reference valid. The embedded SQLite default never
  enforces them (its shards run with ``PRAGMA foreign_keys`` off).

With ``foreign_key_checks = 0`` (dumps restore tables in any order) a missing parent
table is accepted as metadata only; with checks on it is MySQL's error 1005 (errno 150).
"""

from __future__ import annotations

from sqlglot import exp

from sharding.catalog import ForeignKeyInfo, TableInfo
from sharding.errors import ShardgateError
from sharding.sql.literals import quote_identifier

#: Code of the warning for a foreign key kept as metadata only (ER_NOT_SUPPORTED_YET).
NOT_ENFORCED = 1235


def _names(nodes: list[exp.Expr] | None) -> tuple[str, ...]:
    return tuple(n.name for n in nodes or [])


def _action(options: list[object], event: str) -> str:
    for option in options:
        text = str(option).upper()
        if text.startswith(f"ON {event} "):
            action = text[len(f"ON {event} ") :].strip()
            return "" if action == "RESTRICT" else action
    return ""


def from_reference(
    name: str, columns: tuple[str, ...], reference: exp.Reference, database: str
) -> ForeignKeyInfo:
    """The catalog entry of ``FOREIGN KEY (columns) REFERENCES ...`` (or a column's
    ``REFERENCES``, which MariaDB also turns into a foreign key)."""
    schema = reference.this
    table = schema.this if isinstance(schema, exp.Schema) else schema
    if not isinstance(table, exp.Table):
        raise ShardgateError("Foreign key references no table", code=1005)
    ref_columns = _names(schema.expressions) if isinstance(schema, exp.Schema) else ()
    if ref_columns and len(ref_columns) != len(columns):
        raise ShardgateError(
            "Incorrect foreign key definition for 'foreign key without name': Key reference "
            "and table reference don't match",
            code=1239,
            sqlstate="42000",
        )
    options = list(reference.args.get("options") or [])
    return ForeignKeyInfo(
        name=name,
        columns=columns,
        ref_database=table.db or database,
        ref_table=table.name,
        ref_columns=ref_columns or columns,
        on_delete=_action(options, "DELETE"),
        on_update=_action(options, "UPDATE"),
    )


def from_table_element(
    item: exp.Expr, table: str, database: str, number: int
) -> ForeignKeyInfo | None:
    """A ``[CONSTRAINT name] FOREIGN KEY ...`` element of CREATE TABLE / ALTER ... ADD
    (None when ``item`` is not one). Unnamed keys get MySQL's ``<table>_ibfk_<n>``."""
    name = ""
    node = item
    if isinstance(item, exp.Constraint):
        fks = [e for e in item.expressions if isinstance(e, exp.ForeignKey)]
        if len(fks) != 1:
            return None
        name = item.name
        node = fks[0]
    if not isinstance(node, exp.ForeignKey):
        return None
    reference = node.args.get("reference")
    if not isinstance(reference, exp.Reference):
        raise ShardgateError("Foreign key references no table", code=1005)
    return from_reference(
        name or f"{table}_ibfk_{number}", _names(node.expressions), reference, database
    )


def enforcement(
    child: TableInfo, fk: ForeignKeyInfo, parent: TableInfo | None, dialect: str
) -> str | None:
    """Why ``fk`` cannot be enforced by the shards (None: it can; see module docstring)."""
    if dialect != "mysql":
        return "the embedded SQLite shards do not check foreign keys"
    if parent is None:
        return f"the parent table {fk.ref_database}.{fk.ref_table} does not exist"
    if parent.broadcast:
        used = {ds for _, ds, _, _ in child.placements()}
        if used <= set(parent.rule.datasources):
            return None
        return "the broadcast parent has no copy on some data source of the child"
    if child.broadcast:
        return "a broadcast table cannot reference a sharded table"
    child_key = (child.rule.shard_key or "").lower()
    parent_key = (parent.rule.shard_key or "").lower()
    keyed = [c.lower() for c in fk.columns] == [child_key] and [
        c.lower() for c in fk.ref_columns
    ] == [parent_key]
    if parent.database == child.database and parent.name == child.name:
        return (
            None
            if keyed or child.rule.shards == 1
            else "a self-reference not on the shard key crosses shards"
        )
    if not child.rule.same_placement(parent.rule):
        return "child and parent are not sharded alike (not co-located)"
    if not keyed:
        return "the key is not child shard key -> parent shard key, so the parent row may be on another shard"
    return None


def physical_name(fk: ForeignKeyInfo, child: TableInfo, shard: int) -> str:
    """The constraint's name on one shard: InnoDB names are per physical database, so
    shards sharing a physical database get the shard number appended."""
    template = child.rule.physical
    per_database = child.broadcast or "{shard" in template.partition(".")[0]
    name = fk.name if per_database else f"{fk.name}_{shard}"
    return name[:64]


def physical_add(
    fk: ForeignKeyInfo, child: TableInfo, parent: TableInfo, placement: tuple[int, str, str, str]
) -> str:
    """``ADD CONSTRAINT ... FOREIGN KEY ... REFERENCES <parent's physical table>`` for
    one placement of the child (MySQL dialect; the caller checked :func:`enforcement`)."""
    shard, ds, _, _ = placement
    if parent.broadcast:
        pdb, ptable = parent.database, parent.name
    elif parent.database == child.database and parent.name == child.name:
        _, pdb, ptable = child.physical(shard)
    else:
        pds, pdb, ptable = parent.physical(shard)
        assert pds == ds, "co-located tables share the data source of each shard"

    def q(n: str) -> str:
        return quote_identifier(n, "mysql")

    text = (
        f"ADD CONSTRAINT {q(physical_name(fk, child, shard))} FOREIGN KEY "
        f"({', '.join(q(c) for c in fk.columns)}) REFERENCES {q(pdb)}.{q(ptable)} "
        f"({', '.join(q(c) for c in fk.ref_columns)})"
    )
    if fk.on_delete:
        text += f" ON DELETE {fk.on_delete}"
    if fk.on_update:
        text += f" ON UPDATE {fk.on_update}"
    return text


def physical_drop(fk: ForeignKeyInfo, child: TableInfo, shard: int) -> str:
    return f"DROP FOREIGN KEY {quote_identifier(physical_name(fk, child, shard), 'mysql')}"


def warning(child: TableInfo, fk: ForeignKeyInfo, reason: str) -> tuple[str, int, str]:
    """The SHOW WARNINGS row of a foreign key kept as metadata only."""
    return (
        "Warning",
        NOT_ENFORCED,
        f"Foreign key '{fk.name}' on {child.qualified} references "
        f"{fk.ref_database}.{fk.ref_table}: kept in the catalog but not enforced ({reason})",
    )


def render(fk: ForeignKeyInfo, database: str) -> str:
    """The logical ``CONSTRAINT ... FOREIGN KEY ... REFERENCES`` text (MySQL)."""

    def q(n: str) -> str:
        return quote_identifier(n, "mysql")

    ref = (
        q(fk.ref_table)
        if fk.ref_database == database
        else f"{q(fk.ref_database)}.{q(fk.ref_table)}"
    )
    text = (
        f"CONSTRAINT {q(fk.name)} FOREIGN KEY ({', '.join(q(c) for c in fk.columns)}) "
        f"REFERENCES {ref} ({', '.join(q(c) for c in fk.ref_columns)})"
    )
    if fk.on_delete:
        text += f" ON DELETE {fk.on_delete}"
    if fk.on_update:
        text += f" ON UPDATE {fk.on_update}"
    return text
