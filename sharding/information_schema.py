"""``information_schema`` and the table SHOW statements, answered for logical tables.

Tools learn a database from its metadata: JDBC ``DatabaseMetaData`` and every GUI built
on it query ``information_schema.TABLES/COLUMNS/STATISTICS``, SQLAlchemy reflects with
``SHOW CREATE TABLE`` and ``SHOW FULL TABLES``, mysqldump reads ``SHOW TABLE STATUS``.
A client of the coordinator must see its *logical* tables there, exactly as MariaDB
shows an unsharded table — never the shards' physical names.

How: the requested views are *materialised* for the visible logical tables, then the
client's statement is evaluated over those rows by an in-memory SQLite database.

* **Rows.** For a table whose shards live on MySQL/MariaDB, shard 0's own
  ``information_schema`` rows are fetched (so types, defaults, collations and index
  details are the server's, not a re-derivation) and the physical schema/table names
  are replaced by the logical ones. What the shards cannot know comes from the catalog:
  AUTO_INCREMENT (ids are assigned by the coordinator, shards have no counter) and the
  row/size estimates, scaled by the shard count (InnoDB's figures are estimates too).
  For SQLite shards the rows are rendered from the catalog in MySQL's terms. What the
  physical DDL leaves out is shown from the catalog for both: column and table
  comments, ``ON UPDATE`` clauses, and every FOREIGN KEY (enforced on the shards or
  metadata only, :mod:`sharding.sql.foreign_keys`) — a shard's own constraint would
  name a physical parent.
* **Evaluation.** These are small tables (a few rows per logical column/index), and
  tools write real SQL over them: joins between views, ``LIKE`` with escapes,
  ``CASE``/``IF``, ``ORDER BY``, ``UNION``. The coordinator's distributed planner is the
  wrong tool (there are no shards to route to), and a hand-written filter would answer
  only the shapes foreseen. SQLite, embedded in Python, is a complete SQL engine over
  in-memory rows: the statement is transpiled from MySQL by sqlglot, the few MySQL
  semantics that differ are supplied (``LIKE`` with ``\\`` escapes and case-insensitive
  matching, case-insensitive text columns like ``utf8mb3_general_ci``, ``DATABASE()``,
  MySQL string functions), and the result is returned with MariaDB's column names.
* **SHOW.** ``SHOW [FULL] TABLES``, ``SHOW [FULL] COLUMNS``/``DESCRIBE``, ``SHOW INDEX``,
  ``SHOW TABLE STATUS`` are the same views under MariaDB's SHOW column names, so their
  ``LIKE``/``WHERE`` filters use the same evaluator. ``SHOW CREATE TABLE`` is shard 0's
  own canonical text with the logical name, plus MariaDB's ``PARTITION BY`` trailer
  describing the sharding rule (which ``CREATE TABLE`` through the coordinator reads
  back, so a dump restores with the same rule). A broadcast table prints as an
  unsharded one: its rule lives in the topology TOML, which a restore into the same
  database name applies again. ``SHOW DATABASES`` is the SCHEMATA view, and
  ``USE information_schema`` works as on MariaDB.

Only views describing tables are materialised from the catalog; server-wide ones
(``CHARACTER_SETS``, ``COLLATIONS``, ``ENGINES``, ``KEYWORDS`` …) are the first MySQL
data source's own rows. A statement joining a view with a logical table is refused
(1235): the two live in different engines.

The column sets, names and order are MariaDB 10.11's (``VIEW_COLUMNS``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from sharding.api import Result
from sharding.backend.base import Column
from sharding.catalog import ColumnInfo, TableInfo
from sharding.errors import NoDatabaseSelected, NotSupported, ShardgateError, UnknownTable
from sharding.local_columns import CONSERVATIVE, parse_spec, show_columns, typed
from sharding.local_columns_data import INFORMATION_SCHEMA
from sharding.session_answers import like_to_regex, select_item_texts
from sharding.sql.describe import UNKNOWN, ColumnType, constant_type, expression_type
from sharding.sql.literals import render_literal

if TYPE_CHECKING:
    from sharding.session import CoordinatorSession

__all__ = ["VIEW_COLUMNS", "InformationSchema", "references_information_schema"]

# -- the views: MariaDB 10.11 column sets (name, kind: s text, i integer, d datetime) --


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append((name, kind or "s"))
    return tuple(out)


VIEW_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "SCHEMATA": _cols(
        "CATALOG_NAME SCHEMA_NAME DEFAULT_CHARACTER_SET_NAME DEFAULT_COLLATION_NAME SQL_PATH "
        "SCHEMA_COMMENT"
    ),
    "TABLES": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME TABLE_TYPE ENGINE VERSION:i ROW_FORMAT "
        "TABLE_ROWS:i AVG_ROW_LENGTH:i DATA_LENGTH:i MAX_DATA_LENGTH:i INDEX_LENGTH:i "
        "DATA_FREE:i AUTO_INCREMENT:i CREATE_TIME:d UPDATE_TIME:d CHECK_TIME:d "
        "TABLE_COLLATION CHECKSUM:i CREATE_OPTIONS TABLE_COMMENT MAX_INDEX_LENGTH:i TEMPORARY"
    ),
    "COLUMNS": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME COLUMN_NAME ORDINAL_POSITION:i COLUMN_DEFAULT "
        "IS_NULLABLE DATA_TYPE CHARACTER_MAXIMUM_LENGTH:i CHARACTER_OCTET_LENGTH:i "
        "NUMERIC_PRECISION:i NUMERIC_SCALE:i DATETIME_PRECISION:i CHARACTER_SET_NAME "
        "COLLATION_NAME COLUMN_TYPE COLUMN_KEY EXTRA PRIVILEGES COLUMN_COMMENT IS_GENERATED "
        "GENERATION_EXPRESSION"
    ),
    "STATISTICS": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME NON_UNIQUE:i INDEX_SCHEMA INDEX_NAME "
        "SEQ_IN_INDEX:i COLUMN_NAME COLLATION CARDINALITY:i SUB_PART:i PACKED NULLABLE "
        "INDEX_TYPE COMMENT INDEX_COMMENT IGNORED"
    ),
    "KEY_COLUMN_USAGE": _cols(
        "CONSTRAINT_CATALOG CONSTRAINT_SCHEMA CONSTRAINT_NAME TABLE_CATALOG TABLE_SCHEMA "
        "TABLE_NAME COLUMN_NAME ORDINAL_POSITION:i POSITION_IN_UNIQUE_CONSTRAINT:i "
        "REFERENCED_TABLE_SCHEMA REFERENCED_TABLE_NAME REFERENCED_COLUMN_NAME"
    ),
    "TABLE_CONSTRAINTS": _cols(
        "CONSTRAINT_CATALOG CONSTRAINT_SCHEMA CONSTRAINT_NAME TABLE_SCHEMA TABLE_NAME "
        "CONSTRAINT_TYPE"
    ),
    "REFERENTIAL_CONSTRAINTS": _cols(
        "CONSTRAINT_CATALOG CONSTRAINT_SCHEMA CONSTRAINT_NAME UNIQUE_CONSTRAINT_CATALOG "
        "UNIQUE_CONSTRAINT_SCHEMA UNIQUE_CONSTRAINT_NAME MATCH_OPTION UPDATE_RULE DELETE_RULE "
        "TABLE_NAME REFERENCED_TABLE_NAME"
    ),
    "CHECK_CONSTRAINTS": _cols(
        "CONSTRAINT_CATALOG CONSTRAINT_SCHEMA TABLE_NAME CONSTRAINT_NAME LEVEL CHECK_CLAUSE"
    ),
    "PARTITIONS": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME PARTITION_NAME SUBPARTITION_NAME "
        "PARTITION_ORDINAL_POSITION:i SUBPARTITION_ORDINAL_POSITION:i PARTITION_METHOD "
        "SUBPARTITION_METHOD PARTITION_EXPRESSION SUBPARTITION_EXPRESSION PARTITION_DESCRIPTION "
        "TABLE_ROWS:i AVG_ROW_LENGTH:i DATA_LENGTH:i MAX_DATA_LENGTH:i INDEX_LENGTH:i "
        "DATA_FREE:i CREATE_TIME:d UPDATE_TIME:d CHECK_TIME:d CHECKSUM:i PARTITION_COMMENT "
        "NODEGROUP TABLESPACE_NAME"
    ),
    "ROUTINES": _cols(
        "SPECIFIC_NAME ROUTINE_CATALOG ROUTINE_SCHEMA ROUTINE_NAME ROUTINE_TYPE DATA_TYPE "
        "CHARACTER_MAXIMUM_LENGTH:i CHARACTER_OCTET_LENGTH:i NUMERIC_PRECISION:i "
        "NUMERIC_SCALE:i DATETIME_PRECISION:i CHARACTER_SET_NAME COLLATION_NAME DTD_IDENTIFIER "
        "ROUTINE_BODY ROUTINE_DEFINITION EXTERNAL_NAME EXTERNAL_LANGUAGE PARAMETER_STYLE "
        "IS_DETERMINISTIC SQL_DATA_ACCESS SQL_PATH SECURITY_TYPE CREATED:d LAST_ALTERED:d "
        "SQL_MODE ROUTINE_COMMENT DEFINER CHARACTER_SET_CLIENT COLLATION_CONNECTION "
        "DATABASE_COLLATION"
    ),
    "PARAMETERS": _cols(
        "SPECIFIC_CATALOG SPECIFIC_SCHEMA SPECIFIC_NAME ORDINAL_POSITION:i PARAMETER_MODE "
        "PARAMETER_NAME DATA_TYPE CHARACTER_MAXIMUM_LENGTH:i CHARACTER_OCTET_LENGTH:i "
        "NUMERIC_PRECISION:i NUMERIC_SCALE:i DATETIME_PRECISION:i CHARACTER_SET_NAME "
        "COLLATION_NAME DTD_IDENTIFIER ROUTINE_TYPE"
    ),
    "FILES": _cols(
        "FILE_ID:i FILE_NAME FILE_TYPE TABLESPACE_NAME TABLE_CATALOG TABLE_SCHEMA TABLE_NAME "
        "LOGFILE_GROUP_NAME LOGFILE_GROUP_NUMBER:i ENGINE FULLTEXT_KEYS DELETED_ROWS:i "
        "UPDATE_COUNT:i FREE_EXTENTS:i TOTAL_EXTENTS:i EXTENT_SIZE:i INITIAL_SIZE:i "
        "MAXIMUM_SIZE:i AUTOEXTEND_SIZE:i CREATION_TIME:d LAST_UPDATE_TIME:d LAST_ACCESS_TIME:d "
        "RECOVER_TIME:i TRANSACTION_COUNTER:i VERSION:i ROW_FORMAT TABLE_ROWS:i "
        "AVG_ROW_LENGTH:i DATA_LENGTH:i MAX_DATA_LENGTH:i INDEX_LENGTH:i DATA_FREE:i "
        "CREATE_TIME:d UPDATE_TIME:d CHECK_TIME:d CHECKSUM:i STATUS EXTRA"
    ),
    "TRIGGERS": _cols(
        "TRIGGER_CATALOG TRIGGER_SCHEMA TRIGGER_NAME EVENT_MANIPULATION EVENT_OBJECT_CATALOG "
        "EVENT_OBJECT_SCHEMA EVENT_OBJECT_TABLE ACTION_ORDER:i ACTION_CONDITION "
        "ACTION_STATEMENT ACTION_ORIENTATION ACTION_TIMING ACTION_REFERENCE_OLD_TABLE "
        "ACTION_REFERENCE_NEW_TABLE ACTION_REFERENCE_OLD_ROW ACTION_REFERENCE_NEW_ROW "
        "CREATED:d SQL_MODE DEFINER CHARACTER_SET_CLIENT COLLATION_CONNECTION "
        "DATABASE_COLLATION"
    ),
    "VIEWS": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME VIEW_DEFINITION CHECK_OPTION IS_UPDATABLE "
        "DEFINER SECURITY_TYPE CHARACTER_SET_CLIENT COLLATION_CONNECTION ALGORITHM"
    ),
    "EVENTS": _cols(
        "EVENT_CATALOG EVENT_SCHEMA EVENT_NAME DEFINER TIME_ZONE EVENT_BODY EVENT_DEFINITION "
        "EVENT_TYPE EXECUTE_AT:d INTERVAL_VALUE INTERVAL_FIELD SQL_MODE STARTS:d ENDS:d STATUS "
        "ON_COMPLETION CREATED:d LAST_ALTERED:d LAST_EXECUTED:d EVENT_COMMENT ORIGINATOR:i "
        "CHARACTER_SET_CLIENT COLLATION_CONNECTION DATABASE_COLLATION"
    ),
    "TABLE_PRIVILEGES": _cols(
        "GRANTEE TABLE_CATALOG TABLE_SCHEMA TABLE_NAME PRIVILEGE_TYPE IS_GRANTABLE"
    ),
    "COLUMN_PRIVILEGES": _cols(
        "GRANTEE TABLE_CATALOG TABLE_SCHEMA TABLE_NAME COLUMN_NAME PRIVILEGE_TYPE IS_GRANTABLE"
    ),
}

#: Views with one set of rows per table: (schema column, table column) that name it.
_TABLE_VIEWS: dict[str, tuple[str, str]] = {
    "TABLES": ("TABLE_SCHEMA", "TABLE_NAME"),
    "COLUMNS": ("TABLE_SCHEMA", "TABLE_NAME"),
    "STATISTICS": ("TABLE_SCHEMA", "TABLE_NAME"),
    "KEY_COLUMN_USAGE": ("TABLE_SCHEMA", "TABLE_NAME"),
    "TABLE_CONSTRAINTS": ("TABLE_SCHEMA", "TABLE_NAME"),
    "REFERENTIAL_CONSTRAINTS": ("CONSTRAINT_SCHEMA", "TABLE_NAME"),
    "CHECK_CONSTRAINTS": ("CONSTRAINT_SCHEMA", "TABLE_NAME"),
    "PARTITIONS": ("TABLE_SCHEMA", "TABLE_NAME"),
}
#: Other columns holding a physical schema / table name, rewritten to the logical one.
_SCHEMA_COLUMNS = ("INDEX_SCHEMA", "CONSTRAINT_SCHEMA", "UNIQUE_CONSTRAINT_SCHEMA")
#: Views the coordinator has no rows for (no routines, triggers, views, events of its
#: own; privileges are the protocol server's, not the shards').
_EMPTY_VIEWS = frozenset(
    {
        "ROUTINES",
        "PARAMETERS",
        "FILES",
        "TRIGGERS",
        "VIEWS",
        "EVENTS",
        "TABLE_PRIVILEGES",
        "COLUMN_PRIVILEGES",
    }
)
#: Server-wide views that describe no table (character sets, engines, keywords …):
#: answered by the first MySQL data source as they are.
_SERVER_VIEWS = frozenset(
    {
        "CHARACTER_SETS",
        "COLLATIONS",
        "COLLATION_CHARACTER_SET_APPLICABILITY",
        "ENGINES",
        "KEYWORDS",
        "SQL_FUNCTIONS",
        "PLUGINS",
        "GLOBAL_VARIABLES",
        "SESSION_VARIABLES",
        "GLOBAL_STATUS",
        "SESSION_STATUS",
    }
)

_MENTION = re.compile(r"information_schema", re.IGNORECASE)


def references_information_schema(sql: str) -> bool:
    """Cheap pre-check: does the text name ``information_schema`` at all?"""
    return _MENTION.search(sql) is not None


# -- SHOW statements as queries over the views -----------------------------------------

_SHOW_COLUMNS = (
    "COLUMN_NAME AS `Field`, COLUMN_TYPE AS `Type`, {full_collation}IS_NULLABLE AS `Null`, "
    "COLUMN_KEY AS `Key`, sg_show_default(COLUMN_DEFAULT) AS `Default`, EXTRA AS `Extra`"
    "{full_tail}"
)
_SHOW_INDEX = (
    "TABLE_NAME AS `Table`, NON_UNIQUE AS `Non_unique`, INDEX_NAME AS `Key_name`, "
    "SEQ_IN_INDEX AS `Seq_in_index`, COLUMN_NAME AS `Column_name`, COLLATION AS `Collation`, "
    "CARDINALITY AS `Cardinality`, SUB_PART AS `Sub_part`, PACKED AS `Packed`, "
    "NULLABLE AS `Null`, INDEX_TYPE AS `Index_type`, COMMENT AS `Comment`, "
    "INDEX_COMMENT AS `Index_comment`, IGNORED AS `Ignored`"
)
_SHOW_STATUS = (
    "TABLE_NAME AS `Name`, ENGINE AS `Engine`, VERSION AS `Version`, ROW_FORMAT AS "
    "`Row_format`, TABLE_ROWS AS `Rows`, AVG_ROW_LENGTH AS `Avg_row_length`, DATA_LENGTH AS "
    "`Data_length`, MAX_DATA_LENGTH AS `Max_data_length`, INDEX_LENGTH AS `Index_length`, "
    "DATA_FREE AS `Data_free`, AUTO_INCREMENT AS `Auto_increment`, CREATE_TIME AS "
    "`Create_time`, UPDATE_TIME AS `Update_time`, CHECK_TIME AS `Check_time`, "
    "TABLE_COLLATION AS `Collation`, CHECKSUM AS `Checksum`, CREATE_OPTIONS AS "
    "`Create_options`, TABLE_COMMENT AS `Comment`, MAX_INDEX_LENGTH AS `Max_index_length`, "
    "TEMPORARY AS `Temporary`"
)

_IDENT = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_SHOW_RE = re.compile(
    r"\s*SHOW\s+(?:(?P<full>FULL|EXTENDED(?:\s+FULL)?)\s+)?"
    r"(?P<what>DATABASES|SCHEMAS|TABLES|TABLE\s+STATUS|COLUMNS|FIELDS|INDEX|INDEXES|KEYS)\b"
    rf"(?:\s+(?:FROM|IN)\s+(?P<t1>{_IDENT}(?:\s*\.\s*{_IDENT})?))?"
    rf"(?:\s+(?:FROM|IN)\s+(?P<t2>{_IDENT}))?"
    r"(?:\s+(?P<filter>LIKE|WHERE)\s+(?P<cond>.*?))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ROUTINE_STATUS = [
    "Db",
    "Name",
    "Type",
    "Definer",
    "Modified",
    "Created",
    "Security_type",
    "Comment",
    "character_set_client",
    "collation_connection",
    "Database Collation",
]
_EMPTY_SHOWS: dict[str, list[str]] = {
    "EVENTS": [
        "Db",
        "Name",
        "Definer",
        "Time zone",
        "Type",
        "Execute at",
        "Interval value",
        "Interval field",
        "Starts",
        "Ends",
        "Status",
        "Originator",
        "character_set_client",
        "collation_connection",
        "Database Collation",
    ],
    "TRIGGERS": [
        "Trigger",
        "Event",
        "Table",
        "Statement",
        "Timing",
        "Created",
        "sql_mode",
        "Definer",
        "character_set_client",
        "collation_connection",
        "Database Collation",
    ],
    "FUNCTION": _ROUTINE_STATUS,
    "PROCEDURE": _ROUTINE_STATUS,
}
_SHOW_EMPTY_RE = re.compile(
    r"\s*SHOW\s+(?P<what>EVENTS|TRIGGERS|(?:FUNCTION|PROCEDURE)\s+STATUS)\b", re.IGNORECASE
)
_SHOW_CREATE_DB_RE = re.compile(
    rf"\s*SHOW\s+CREATE\s+(?:DATABASE|SCHEMA)\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_IDENT})"
    r"\s*;?\s*$",
    re.IGNORECASE,
)
_DESCRIBE_RE = re.compile(
    rf"\s*(?:DESCRIBE|DESC|EXPLAIN)\s+(?P<t1>{_IDENT}(?:\s*\.\s*{_IDENT})?)"
    r"(?:\s+(?P<col>'(?:[^'\\]|\\.|'')*'|`(?:[^`]|``)+`|[\w$%]+))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _unquote(name: str) -> str:
    name = name.strip()
    if name.startswith("`") and name.endswith("`"):
        return name[1:-1].replace("``", "`")
    return name


def _split_name(text: str) -> tuple[str | None, str]:
    parts = re.findall(r"`(?:[^`]|``)+`|[^.\s`]+", text)
    if len(parts) == 2:
        return _unquote(parts[0]), _unquote(parts[1])
    return None, _unquote(parts[0])


def _q(value: Any) -> str:
    return render_literal(value, "mysql")


def show_default(value: Any) -> Any:
    """COLUMNS.COLUMN_DEFAULT as SHOW COLUMNS prints it (MariaDB ≥ 10.2.7 quotes
    string defaults in the view and writes a NULL default as the word ``NULL``)."""
    if value is None or value == "NULL":
        return None
    if isinstance(value, str) and len(value) >= 2 and value[0] == "'" and value[-1] == "'":
        return value[1:-1].replace("''", "'").replace("\\\\", "\\")
    return value


# -- the evaluator ---------------------------------------------------------------------


def mysql_like(pattern: Any, value: Any, escape: Any = "\\") -> int | None:
    """MySQL's ``LIKE``: ``%``/``_``, ``\\`` escapes by default, case-insensitive (the
    views' text columns are ``utf8mb3_general_ci``)."""
    if pattern is None or value is None:
        return None
    esc = escape if isinstance(escape, str) and escape else "\\"
    return 1 if like_to_regex(str(pattern), esc).match(str(value)) else 0


def _locate(sub: Any, s: Any, pos: Any = 1) -> int | None:
    if sub is None or s is None:
        return None
    return str(s).lower().find(str(sub).lower(), max(int(pos) - 1, 0)) + 1


def _substring_index(s: Any, delim: Any, count: Any) -> str | None:
    if s is None or delim is None or count is None:
        return None
    parts = str(s).split(str(delim))
    n = int(count)
    if n == 0 or not delim:
        return ""
    return str(delim).join(parts[:n] if n > 0 else parts[n:])


def _concat(*args: Any) -> str | None:
    if any(a is None for a in args):
        return None
    return "".join(str(a) for a in args)


def _concat_ws(sep: Any, *args: Any) -> str | None:
    if sep is None:
        return None
    return str(sep).join(str(a) for a in args if a is not None)


def _if(cond: Any, a: Any, b: Any) -> Any:
    return a if cond not in (None, 0, "0", "") else b


def _field(value: Any, *items: Any) -> int:
    if value is None:
        return 0
    for i, item in enumerate(items, 1):
        if item is not None and str(item).lower() == str(value).lower():
            return i
    return 0


def _find_in_set(value: Any, items: Any) -> int | None:
    if value is None or items is None:
        return None
    for i, item in enumerate(str(items).split(","), 1):
        if item.lower() == str(value).lower():
            return i
    return 0


_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "like": (-1, mysql_like),
    "locate": (-1, _locate),
    "substring_index": (3, _substring_index),
    "concat": (-1, _concat),
    "concat_ws": (-1, _concat_ws),
    "if": (3, _if),
    "field": (-1, _field),
    "find_in_set": (2, _find_in_set),
    "ucase": (1, lambda s: None if s is None else str(s).upper()),
    "lcase": (1, lambda s: None if s is None else str(s).lower()),
    "sg_show_default": (1, show_default),
}


def _to_datetime(raw: bytes) -> dt.datetime:
    return dt.datetime.fromisoformat(raw.decode())


sqlite3.register_converter("SGDATETIME", _to_datetime)


def _store(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


@dataclass
class Materialised:
    """Rows of one view: MariaDB's column names, values in column order."""

    columns: tuple[tuple[str, str], ...]
    rows: list[tuple[Any, ...]]


def evaluate(
    sql: str,
    views: dict[str, Materialised],
    params: Sequence[Any] | None,
    database: str | None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run the (already SQLite) statement over the materialised views."""
    conn = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
    try:
        conn.execute("ATTACH ':memory:' AS information_schema")
        for name, (arity, fn) in _FUNCTIONS.items():
            conn.create_function(name, arity, fn, deterministic=True)
        conn.create_function("database", 0, lambda: database)
        conn.create_function("schema", 0, lambda: database)
        for view, m in views.items():
            decl = ", ".join(
                f'"{c}" '
                + ("INTEGER" if k == "i" else "SGDATETIME" if k == "d" else "TEXT COLLATE NOCASE")
                for c, k in m.columns
            )
            conn.execute(f'CREATE TABLE information_schema."{view}" ({decl})')
            marks = ", ".join("?" for _ in m.columns)
            conn.executemany(
                f'INSERT INTO information_schema."{view}" VALUES ({marks})',
                [tuple(_store(v) for v in row) for row in m.rows],
            )
        try:
            cur = conn.execute(sql, list(params or ()))
        except sqlite3.Error as exc:
            raise NotSupported(
                f"this information_schema query is not supported by the sharding coordinator ({exc})"
            ) from exc
        names = [d[0] for d in cur.description or ()]
        return names, [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


# -- the result's column definitions ----------------------------------------------------

_Source = list[tuple[str, ColumnType]]


@functools.cache
def _view_definitions(view: str) -> tuple[tuple[str, ColumnType], ...] | None:
    spec = INFORMATION_SCHEMA.get(view)
    return None if spec is None else tuple(parse_spec(spec))


def _output_types(tree: exp.Expr) -> _Source | None:
    """(name, definition) of each output column of a statement over the views: a view
    column is MariaDB's definition of it (:mod:`sharding.local_columns_data`), through
    aliases and derived tables; a constant or COUNT by MariaDB's rules; anything else
    CONSERVATIVE text. None when the shape is not followed (the caller then sends
    CONSERVATIVE for every column). No value is looked at."""
    while isinstance(tree, exp.Union | exp.Intersect | exp.Except):
        tree = tree.this
    if isinstance(tree, exp.Subquery):
        return _output_types(tree.this)
    if not isinstance(tree, exp.Select):
        return None
    sources: list[tuple[str, _Source]] = []
    from_ = tree.args.get("from") or tree.args.get("from_")
    nodes = [from_.this] if from_ is not None and from_.this is not None else []
    nodes += [j.this for j in tree.args.get("joins") or ()]
    for node in nodes:
        cols: _Source | None = None
        if isinstance(node, exp.Table):
            view = _view_name(node)
            found = _view_definitions(view) if view is not None else None
            cols = list(found) if found is not None else None
        elif isinstance(node, exp.Subquery):
            cols = _output_types(node.this)
        if cols is None:
            return None
        sources.append((node.alias_or_name.lower(), cols))
    out: _Source = []
    for item in tree.expressions:
        star_table = (
            item.table.lower()
            if isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
            else None
        )
        if isinstance(item, exp.Star) or star_table is not None:
            for alias, cols in sources:
                if star_table is None or alias == star_table:
                    out.extend(cols)
            continue
        node = item.this if isinstance(item, exp.Alias) else item
        out.append((item.alias_or_name, _item_type(node, sources)))
    return out


def _item_type(node: exp.Expr, sources: list[tuple[str, _Source]]) -> ColumnType:
    if isinstance(node, exp.Paren):
        return _item_type(node.this, sources)
    if isinstance(node, exp.Column):
        name = node.name.upper()
        for alias, cols in sources:
            if node.table and node.table.lower() != alias:
                continue
            for col, t in cols:
                if col.upper() == name:
                    return t
        return CONSERVATIVE
    if isinstance(node, exp.Count):
        return ColumnType(8, 21, 1 | 128, 0, 63)  # BIGINT(21) NOT NULL
    if isinstance(node, exp.Min | exp.Max) and isinstance(node.this, exp.Column):
        t = _item_type(node.this, sources)
        return ColumnType(t.type, t.length, t.flags & ~(1 | 4096), t.decimals, t.charset)
    if node.find(exp.Column) is None:
        return constant_type(node)
    # Other expressions by MariaDB's rules (IF, CASE, CONCAT, arithmetic, …), with the
    # views' column definitions; text where no rule applies.
    derived = expression_type(node, lambda col: _column_of(col, sources))
    return CONSERVATIVE if derived is UNKNOWN else derived


def _column_of(node: exp.Column, sources: list[tuple[str, _Source]]) -> ColumnType | None:
    found = _item_type(node, sources)
    return None if found is CONSERVATIVE else found


def result_columns(tree: exp.Expr, names: Sequence[str]) -> list[Column]:
    """The result columns of a SELECT over the views, named ``names``."""
    types = _output_types(tree)
    if types is None or len(types) != len(names):
        return [typed(n, CONSERVATIVE) for n in names]
    return [typed(n, t) for n, (_, t) in zip(names, types, strict=True)]


# -- transpiling the client's statement ------------------------------------------------


def _view_name(table: exp.Table) -> str | None:
    db = table.args.get("db")
    if db is not None and db.name.lower() == "information_schema":
        return table.name.upper()
    return None


def to_sqlite(tree: exp.Expr, database: str | None = None, texts: list[str] | None = None) -> str:
    """The statement in SQLite's dialect, with MySQL-only pieces neutralised."""
    tree = tree.copy()
    for current in list(tree.find_all(exp.CurrentSchema)):
        # sqlglot would write SQLite's own schema name ('main').
        current.replace(exp.Literal.string(database) if database is not None else exp.Null())
    for collate in list(tree.find_all(exp.Collate)):
        collate.replace(collate.this)  # the view columns' own collation applies
    outer = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    for select in tree.find_all(exp.Select):
        items: list[exp.Expr] = []
        written = (
            texts if select is outer and texts and len(texts) == len(select.expressions) else None
        )
        for i, item in enumerate(select.expressions):
            if isinstance(item, (exp.Star, exp.Alias)) or (
                isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
            ):
                items.append(item)
            elif isinstance(item, exp.Column):
                # MySQL names the column as the statement wrote it (SQLite would use
                # the view's own spelling).
                items.append(exp.alias_(item, item.name, quoted=True))
            else:
                # MySQL names an unaliased expression column by its text.
                name = written[i] if written is not None else item.sql(dialect="mysql")
                items.append(exp.alias_(item, name, quoted=True))
        select.set("expressions", items)
    for table in tree.find_all(exp.Table):
        view = _view_name(table)
        if view is not None:
            table.set("this", exp.to_identifier(view, quoted=True))
            table.set("db", exp.to_identifier("information_schema"))
    return tree.sql(dialect="sqlite")


# -- the session-facing object ---------------------------------------------------------


class InformationSchema:
    """Materialises views for one session's statement and evaluates it."""

    def __init__(self, session: CoordinatorSession) -> None:
        self.session = session
        self.coord = session.coord

    # ---------------------------------------------------------------- SELECT
    async def select(self, sql: str, params: Sequence[Any] | None) -> Result | None:
        """The answer to a SELECT over information_schema views; None when the
        statement names no view (the word appeared elsewhere)."""
        try:
            tree = sqlglot.parse_one(sql, read="mysql")
        except sqlglot.errors.ParseError:
            return None
        views: set[str] = set()
        spelled: dict[str, str] = {}
        others: list[str] = []
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            view = _view_name(table)
            if view is not None:
                views.add(view)
                spelled.setdefault(view, table.name)
            elif table.name and table.name.lower() not in ctes:
                others.append(table.name)
        if not views:
            if (self.session.database or "").lower() != "information_schema" or not others:
                return None
            # USE information_schema: bare names are views.
            for table in tree.find_all(exp.Table):
                if table.args.get("db") is None:
                    table.set("db", exp.to_identifier("information_schema"))
            return await self.select(tree.sql(dialect="mysql"), params)
        if others:
            raise NotSupported(
                "joining information_schema with logical tables is not supported by the "
                "sharding coordinator"
            )
        hints = _table_hints(tree)
        try:
            materialised = {v: await self.view(v, hints) for v in sorted(views)}
        except UnknownTable as exc:
            # MariaDB names the view as the statement spelled it.
            for view, name in spelled.items():
                if f"'{view}'" in str(exc):
                    raise UnknownTable(
                        f"Unknown table '{name}' in information_schema", code=1109
                    ) from None
            raise
        text = to_sqlite(tree, self.session.database, select_item_texts(sql))
        names, rows = evaluate(text, materialised, params, self.session.database)
        return Result(columns=result_columns(tree, names), rows=[tuple(r) for r in rows])

    # ---------------------------------------------------------------- SHOW
    async def show(self, sql: str) -> Result | None:
        """SHOW [FULL] TABLES / TABLE STATUS / [FULL] COLUMNS / INDEX; None if not one."""
        m = _SHOW_RE.match(sql)
        if m is None:
            return None
        what = m.group("what").upper().split()[0]
        full = bool(m.group("full")) and "FULL" in m.group("full").upper()
        cond_kind = (m.group("filter") or "").upper()
        cond = m.group("cond")
        if what in ("DATABASES", "SCHEMAS"):
            if m.group("t1") or full:
                raise ShardgateError(
                    "You have an error in your SQL syntax", code=1064, sqlstate="42000"
                )
            label = "Database" + (f" ({_like_text(cond)})" if cond_kind == "LIKE" else "")
            query = f"SELECT SCHEMA_NAME AS {_ident(label)} FROM information_schema.SCHEMATA WHERE 1 = 1"
            return await self._filtered(
                query, "ORDER BY 1", "SCHEMA_NAME", cond_kind, cond, "", shown="DATABASES"
            )
        if what in ("TABLES", "TABLE"):
            database = _unquote(m.group("t1")) if m.group("t1") else self.session.database
            if m.group("t2"):
                raise ShardgateError(
                    "You have an error in your SQL syntax", code=1064, sqlstate="42000"
                )
            if not database:
                raise NoDatabaseSelected("No database selected")
            if database.lower() == "information_schema" and what == "TABLES":
                return self._show_views(full, cond_kind, cond)
            await self.coord.catalog.check_database(database)
            if what == "TABLES":
                label = f"Tables_in_{database}"
                if cond_kind == "LIKE":
                    label += f" ({_like_text(cond)})"
                items = f"TABLE_NAME AS {_ident(label)}" + (
                    ", TABLE_TYPE AS `Table_type`" if full else ""
                )
                query = (
                    f"SELECT {items} FROM information_schema.TABLES "
                    f"WHERE TABLE_SCHEMA = {_q(database)}"
                )
                order = "ORDER BY 1"
                like_col = "TABLE_NAME"
                shown = "TABLES"
            else:
                query = (
                    f"SELECT {_SHOW_STATUS} FROM information_schema.TABLES "
                    f"WHERE TABLE_SCHEMA = {_q(database)}"
                )
                order = "ORDER BY 1"
                like_col = "TABLE_NAME"
                shown = "TABLE STATUS"
            return await self._filtered(
                query, order, like_col, cond_kind, cond, database, shown=shown
            )
        db, table = self._target(m.group("t1"), m.group("t2"))
        info = await self.coord.catalog.lookup(db, table)
        where = f"WHERE TABLE_SCHEMA = {_q(info.database)} AND TABLE_NAME = {_q(info.name)}"
        if what in ("COLUMNS", "FIELDS"):
            items = _SHOW_COLUMNS.format(
                full_collation="COLLATION_NAME AS `Collation`, " if full else "",
                full_tail=", PRIVILEGES AS `Privileges`, COLUMN_COMMENT AS `Comment`"
                if full
                else "",
            )
            query = f"SELECT {items} FROM information_schema.COLUMNS {where}"
            return await self._filtered(
                query,
                "ORDER BY ORDINAL_POSITION",
                "COLUMN_NAME",
                cond_kind,
                cond,
                info.database,
                keep="ORDINAL_POSITION",
                shown="COLUMNS",
            )
        query = f"SELECT {_SHOW_INDEX} FROM information_schema.STATISTICS {where}"
        if cond_kind == "LIKE":
            raise ShardgateError(
                "You have an error in your SQL syntax", code=1064, sqlstate="42000"
            )
        return await self._filtered(query, "", "", cond_kind, cond, info.database, shown="INDEX")

    def _show_views(self, full: bool, cond_kind: str, cond: str | None) -> Result:
        """SHOW [FULL] TABLES FROM information_schema: the views served here."""
        label = "Tables_in_information_schema"
        if cond_kind == "LIKE":
            label += f" ({_like_text(cond)})"
        pattern = _like_text(cond) if cond_kind == "LIKE" else None
        names = sorted(set(VIEW_COLUMNS) | _SERVER_VIEWS)
        if pattern is not None:
            names = [n for n in names if mysql_like(pattern, n)]
        if cond_kind == "WHERE":
            raise NotSupported(
                "SHOW TABLES FROM information_schema WHERE ... on the sharding coordinator"
            )
        columns = show_columns("TABLES", [label, "Table_type"])[: 2 if full else 1]
        rows = [((n, "SYSTEM VIEW") if full else (n,)) for n in names]
        return Result(columns=columns, rows=rows)

    async def show_other(self, sql: str) -> Result | None:
        """SHOW EVENTS / TRIGGERS / FUNCTION|PROCEDURE STATUS (the coordinator has none:
        empty, with MariaDB's columns) and SHOW CREATE DATABASE; None if not one."""
        m = _SHOW_EMPTY_RE.match(sql)
        if m is not None:
            word = m.group("what").upper().split()[0]
            kind = "ROUTINE STATUS" if word in ("FUNCTION", "PROCEDURE") else word
            return Result(columns=show_columns(kind, _EMPTY_SHOWS[word]), rows=[])
        m = _SHOW_CREATE_DB_RE.match(sql)
        if m is None:
            return None
        name = _unquote(m.group("name"))
        await self.coord.catalog.check_database(name)
        charset, collation = await self._server_charset()
        guard = "/*!32312 IF NOT EXISTS*/ " if m.group("ine") else ""
        text = (
            f"CREATE DATABASE {guard}{_ident(name)} "
            f"/*!40100 DEFAULT CHARACTER SET {charset} COLLATE {collation} */"
        )
        return Result(columns=show_columns("CREATE DATABASE"), rows=[(name, text)])

    async def describe(self, sql: str) -> Result | None:
        """DESCRIBE t [column|pattern] — SHOW COLUMNS FROM t [LIKE pattern]."""
        m = _DESCRIBE_RE.match(sql)
        if m is None:
            return None
        col = m.group("col")
        tail = ""
        if col:
            pattern = col[1:-1] if col[0] in "'`" else col
            tail = f" LIKE {_q(pattern)}"
        return await self.show(f"SHOW COLUMNS FROM {m.group('t1')}{tail}")

    def _target(self, t1: str | None, t2: str | None) -> tuple[str, str]:
        if t1 is None:
            raise ShardgateError(
                "You have an error in your SQL syntax", code=1064, sqlstate="42000"
            )
        db, table = _split_name(t1)
        if t2:
            db = _unquote(t2)
        if db is None:
            db = self.session.database
        if not db:
            raise NoDatabaseSelected("No database selected")
        return db, table

    async def _filtered(
        self,
        query: str,
        order: str,
        like_col: str,
        cond_kind: str,
        cond: str | None,
        database: str,
        keep: str = "",
        *,
        shown: str,
    ) -> Result:
        """The SHOW query with its LIKE (on the name) or WHERE (on the SHOW's own column
        names, so it wraps the query) filter."""
        if cond_kind == "LIKE" and cond:
            query += f" AND {like_col} LIKE {cond}"
        if keep:
            query = query.replace("SELECT ", f"SELECT {keep} AS sg_order_, ", 1)
            order = "ORDER BY sg_order_"
        query = f"{query} {order}"
        if cond_kind == "WHERE" and cond:
            query = f"SELECT * FROM ({query}) AS sg_show_ WHERE {cond}"
        tree = sqlglot.parse_one(query, read="mysql")
        hints = {"schema": database} if database else {}
        views = {t.name.upper() for t in tree.find_all(exp.Table) if _view_name(t)}
        materialised = {v: await self.view(v, hints) for v in views}
        names, rows = evaluate(
            to_sqlite(tree, self.session.database), materialised, None, self.session.database
        )
        if keep:
            cut = names.index("sg_order_")
            names = names[:cut] + names[cut + 1 :]
            rows = [r[:cut] + r[cut + 1 :] for r in rows]
        # MariaDB's definitions of SHOW ``shown``'s columns (the first ones of its full
        # form: SHOW TABLES is SHOW FULL TABLES without Table_type).
        full = show_columns(shown)
        columns = (
            show_columns(shown, names)
            if len(names) == len(full) or shown == "COLUMNS"
            else [typed(n, c.wire or CONSERVATIVE) for n, c in zip(names, full, strict=False)]
        )
        return Result(columns=columns, rows=[tuple(r) for r in rows])

    # ---------------------------------------------------------------- SHOW CREATE TABLE
    async def show_create(self, info: TableInfo) -> str:
        """MariaDB's canonical CREATE TABLE of the logical table plus its rule."""
        text = await self._physical_create(info)
        if text is None:
            text = render_create(info, await self._auto_increment(info))
        return text + sharding_clause(info)

    async def _physical_create(self, info: TableInfo) -> str | None:
        _, ds_name, pdb, ptable = info.placements()[0]
        ds = self.coord.datasources[ds_name]
        if ds.dialect != "mysql":
            return None
        rs = await ds.fetch(f"SHOW CREATE TABLE {_ident(pdb)}.{_ident(ptable)}", [pdb])
        text = str(rs.rows[0][1])
        head = f"CREATE TABLE {_ident(ptable)}"
        if text.startswith(head):
            text = f"CREATE TABLE {_ident(info.name)}" + text[len(head) :]
        text = _with_catalog_foreign_keys(text, info)
        extras = declared(info.create_sql)
        lines = text.split("\n")
        for i, line in enumerate(lines):
            m = re.match(r"  `((?:[^`]|``)+)` ", line)
            if m is None:
                continue
            lname = m.group(1).replace("``", "`").lower()
            comma = "," if line.endswith(",") else ""
            body = line[: len(line) - len(comma)]
            if lname in extras.on_update and " ON UPDATE " not in body:
                body = re.sub(
                    r"( DEFAULT (?:'(?:[^']|'')*'|\S+))",
                    rf"\1 ON UPDATE {extras.on_update[lname]}",
                    body,
                    count=1,
                )
            if lname in extras.comments and " COMMENT '" not in body:
                body += f" COMMENT {_sql_string(extras.comments[lname])}"
            lines[i] = body + comma
        if extras.table_comment and not re.search(r"\n\) ENGINE=.* COMMENT='", text):
            lines[-1] += f" COMMENT={_sql_string(extras.table_comment)}"
        text = "\n".join(lines)
        if info.auto_increment:
            col = _ident(info.auto_increment)
            lines = text.split("\n")
            for i, line in enumerate(lines):
                if line.startswith(f"  {col} ") and "AUTO_INCREMENT" not in line:
                    if " NOT NULL" in line:
                        line = line.replace(" NOT NULL", " NOT NULL AUTO_INCREMENT", 1)
                    else:
                        line = (
                            line.rstrip(",")
                            + " AUTO_INCREMENT"
                            + ("," if line.endswith(",") else "")
                        )
                    lines[i] = re.sub(r" DEFAULT NULL(?= AUTO_INCREMENT)", "", line)
                    break
            text = "\n".join(lines)
            nxt = await self._auto_increment(info)
            if nxt is not None and nxt > 1 and " AUTO_INCREMENT=" not in text:
                text = re.sub(r"(\n\) ENGINE=\w+)", rf"\1 AUTO_INCREMENT={nxt}", text, count=1)
        return text

    # ---------------------------------------------------------------- materialising
    async def view(self, view: str, hints: dict[str, str] | None = None) -> Materialised:
        hints = hints or {}
        if view == "SCHEMATA":
            return await self._schemata()
        if view in _TABLE_VIEWS:
            return await self._table_view(view, hints)
        if view in _EMPTY_VIEWS:
            return Materialised(VIEW_COLUMNS[view], [])
        if view in _SERVER_VIEWS:
            ds = self._mysql_source()
            if ds is not None:
                rs = await ds.fetch(f"SELECT * FROM information_schema.{view}")
                rows = [tuple(r) for r in rs.rows]
                kinds = tuple(
                    (c.name, _kind_of(r[i] for r in rows)) for i, c in enumerate(rs.columns)
                )
                return Materialised(kinds, rows)
            embedded = _embedded_server_view(view)
            if embedded is not None:
                return embedded
        raise UnknownTable(f"Unknown table '{view}' in information_schema", code=1109)

    def _mysql_source(self) -> Any:
        for ds in self.coord.datasources.values():
            if ds.dialect == "mysql":
                return ds
        return None

    async def _server_charset(self) -> tuple[str, str]:
        """The character set and collation a new database gets on the data sources."""
        ds = self._mysql_source()
        if ds is None:
            return "utf8mb4", "utf8mb4_general_ci"
        rs = await ds.fetch("SELECT @@character_set_server, @@collation_server")
        return str(rs.rows[0][0]), str(rs.rows[0][1])

    async def _schemata(self) -> Materialised:
        charset, collation = await self._server_charset()
        await self.coord.catalog.reload()
        rows = [("def", "information_schema", "utf8mb3", "utf8mb3_general_ci", None, "")]
        rows += [("def", db, charset, collation, None, "") for db in self.coord.catalog.databases()]
        return Materialised(VIEW_COLUMNS["SCHEMATA"], rows)

    def _visible(self, hints: dict[str, str]) -> list[TableInfo]:
        # The catalog database may be shared by clusters with other data sources:
        # only tables this coordinator serves are its to show.
        known = self.coord.datasources
        tables = [t for t in self.coord.catalog.tables() if t.placements()[0][1] in known]
        schema = hints.get("schema")
        name = hints.get("table")
        return [
            t
            for t in tables
            if (schema is None or t.database.lower() == schema.lower())
            and (name is None or t.name.lower() == name.lower())
        ]

    async def _table_view(self, view: str, hints: dict[str, str]) -> Materialised:
        await self.coord.catalog.reload()
        columns = VIEW_COLUMNS[view]
        names = [c for c, _ in columns]
        schema_col, table_col = _TABLE_VIEWS[view]
        tables = self._visible(hints)
        by_source: dict[str, list[TableInfo]] = {}
        rendered: list[tuple[Any, ...]] = []
        for info in tables:
            ds_name = info.placements()[0][1]
            if self.coord.datasources[ds_name].dialect == "mysql":
                by_source.setdefault(ds_name, []).append(info)
            else:
                rendered.extend(catalog_rows(view, info, await self._auto_increment(info)))
        out: list[tuple[Any, ...]] = []
        for ds_name, infos in by_source.items():
            ds = self.coord.datasources[ds_name]
            physical = {}
            branches = []
            for info in infos:
                _, _, pdb, ptable = info.placements()[0]
                physical[(pdb, ptable)] = info
                branches.append(
                    f"SELECT {', '.join(_ident(n) for n in names)} FROM information_schema.{view} "
                    f"WHERE {schema_col} = {_q(pdb)} AND {table_col} = {_q(ptable)}"
                )
            rows: list[tuple[Any, ...]] = []
            for i in range(0, len(branches), 200):
                rs = await ds.fetch(" UNION ALL ".join(branches[i : i + 200]))
                rows.extend(tuple(r) for r in rs.rows)
            everywhere = {
                (t.placements()[0][2], t.placements()[0][3]): t for t in self._visible({})
            }
            seen: set[tuple[str, str]] = set()
            for row in rows:
                key = (row[names.index(schema_col)], row[names.index(table_col)])
                found = physical.get(key)
                seen.add(key)
                if found is not None and not _physical_foreign_key(view, names, row):
                    out.append(await self._logical_row(view, names, row, found, everywhere))
            if view == "TABLES":
                # A table the catalog has is listed even if shard 0 is missing or
                # unreachable as a table (SHOW TABLES must not lose it).
                for key, info in physical.items():
                    if key not in seen:
                        out.extend(catalog_rows(view, info, await self._auto_increment(info)))
        out.extend(rendered)
        # Foreign keys come from the catalog, enforced or not (sharding/sql/foreign_keys.py):
        # a shard's own constraint names its physical parent.
        for info in tables:
            out.extend(foreign_key_rows(view, info, self.coord.catalog.get))
        return Materialised(columns, out)

    async def _logical_row(
        self,
        view: str,
        names: list[str],
        row: tuple[Any, ...],
        info: TableInfo,
        physical: dict[tuple[str, str], TableInfo],
    ) -> tuple[Any, ...]:
        values = dict(zip(names, row, strict=True))
        values[_TABLE_VIEWS[view][0]] = info.database
        values[_TABLE_VIEWS[view][1]] = info.name
        for col in _SCHEMA_COLUMNS:
            if col in values and values[col] is not None:
                values[col] = info.database
        if values.get("REFERENCED_TABLE_NAME") is not None:
            target = physical.get(
                (str(values.get("REFERENCED_TABLE_SCHEMA")), str(values["REFERENCED_TABLE_NAME"]))
            )
            if target is not None:
                values["REFERENCED_TABLE_SCHEMA"] = target.database
                values["REFERENCED_TABLE_NAME"] = target.name
        if (
            view == "COLUMNS"
            and info.auto_increment
            and str(values["COLUMN_NAME"]).lower() == info.auto_increment.lower()
        ):
            extra = str(values.get("EXTRA") or "")
            values["EXTRA"] = "auto_increment" + (f" {extra}" if extra else "")
        extras = declared(info.create_sql)
        if view == "COLUMNS":
            lname = str(values["COLUMN_NAME"]).lower()
            if lname in extras.comments and not values.get("COLUMN_COMMENT"):
                values["COLUMN_COMMENT"] = extras.comments[lname]
            if lname in extras.on_update and "on update" not in str(values.get("EXTRA") or ""):
                extra = str(values.get("EXTRA") or "")
                values["EXTRA"] = (
                    extra + " " if extra else ""
                ) + f"on update {extras.on_update[lname]}"
        if view == "STATISTICS":
            # InnoDB names the index it adds for a foreign key after the constraint,
            # whose physical name may carry the shard number.
            values["INDEX_NAME"] = _fk_index_names(info).get(
                str(values["INDEX_NAME"]), values["INDEX_NAME"]
            )
        if (
            view == "STATISTICS"
            and isinstance(values.get("CARDINALITY"), int)
            and not info.broadcast
        ):
            values["CARDINALITY"] = values["CARDINALITY"] * info.rule.shards
        if view == "TABLES":
            if extras.table_comment and not values.get("TABLE_COMMENT"):
                values["TABLE_COMMENT"] = extras.table_comment
            values["AUTO_INCREMENT"] = await self._auto_increment(info)
            copies = 1 if info.broadcast else info.rule.shards
            for col in ("TABLE_ROWS", "DATA_LENGTH", "INDEX_LENGTH"):
                if isinstance(values.get(col), int):
                    values[col] = values[col] * copies
        return tuple(values[n] for n in names)

    async def _auto_increment(self, info: TableInfo) -> int | None:
        if not info.auto_increment:
            return None
        peek = getattr(self.coord.catalog, "peek_next_id", None)
        if peek is None:
            return 1
        value: int = await peek(info.database, info.name)
        return value


@dataclass(frozen=True)
class Declared:
    """What the user's DDL says that the physical tables do not keep (the shards get
    no comments and no ON UPDATE clauses): shown from the catalog's DDL text."""

    table_comment: str | None
    comments: dict[str, str]
    on_update: dict[str, str]


@functools.lru_cache(maxsize=512)
def declared(create_sql: str) -> Declared:
    from sharding.sql.ddl import split_partition

    comments: dict[str, str] = {}
    on_update: dict[str, str] = {}
    table_comment = None
    try:
        tree = sqlglot.parse_one(split_partition(create_sql)[0], read="mysql")
    except (sqlglot.errors.ParseError, ShardgateError):
        return Declared(None, comments, on_update)
    for col in tree.find_all(exp.ColumnDef):
        for c in col.constraints:
            kind = c.args.get("kind")
            if isinstance(kind, exp.CommentColumnConstraint):
                comments[col.name.lower()] = (
                    kind.this.name if isinstance(kind.this, exp.Expr) else str(kind.this)
                )
            elif isinstance(kind, exp.OnUpdateColumnConstraint):
                text = kind.this.sql(dialect="mysql").lower()
                on_update[col.name.lower()] = (
                    "current_timestamp()" if text.startswith(("current_timestamp", "now")) else text
                )
    props = tree.args.get("properties")
    for prop in props.expressions if props is not None else ():
        if isinstance(prop, exp.SchemaCommentProperty):
            table_comment = prop.this.name if isinstance(prop.this, exp.Expr) else str(prop.this)
    return Declared(table_comment, comments, on_update)


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _like_text(cond: str | None) -> str:
    """The pattern of ``LIKE 'x'`` as MariaDB prints it in the column label."""
    if not cond:
        return ""
    m = re.match(r"\s*'((?:[^'\\]|\\.|'')*)'", cond)
    return m.group(1).replace("''", "'") if m else cond.strip()


def _table_hints(tree: exp.Expr) -> dict[str, str]:
    """Schema/table equalities in the top-level WHERE of a single-view query: only those
    tables are materialised (a per-table JDBC call must not fetch every table)."""
    if not isinstance(tree, exp.Select) or len(list(tree.find_all(exp.Table))) != 1:
        return {}
    where = tree.args.get("where")
    if where is None:
        return {}
    hints: dict[str, str] = {}
    conds: Iterable[exp.Expr] = (
        where.this.flatten() if isinstance(where.this, exp.And) else [where.this]
    )
    for cond in conds:
        if (
            isinstance(cond, exp.EQ)
            and isinstance(cond.this, exp.Column)
            and isinstance(cond.expression, exp.Literal)
            and cond.expression.is_string
        ):
            col = cond.this.name.upper()
            if col in ("TABLE_SCHEMA", "CONSTRAINT_SCHEMA"):
                hints["schema"] = cond.expression.name
            elif col == "TABLE_NAME":
                hints["table"] = cond.expression.name
    return hints


def _kind_of(values: Iterable[Any]) -> str:
    """The view column kind of forwarded values (integers stay integers)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) for v in present):
        return "i"
    if present and all(isinstance(v, dt.datetime) for v in present):
        return "d"
    return "s"


def _embedded_server_view(view: str) -> Materialised | None:
    """Server-wide views without a MySQL data source (the embedded SQLite default):
    MariaDB 10.11's character sets and collations (:mod:`sharding.charsets_data`), the
    one engine the coordinator presents."""
    from sharding.charsets_data import CHARSETS, COLLATIONS

    if view == "CHARACTER_SETS":
        cols = _cols("CHARACTER_SET_NAME DEFAULT_COLLATE_NAME DESCRIPTION MAXLEN:i")
        return Materialised(
            cols, [(cs, coll, desc, n) for cs, (coll, n, desc) in sorted(CHARSETS.items())]
        )
    if view == "COLLATIONS":
        cols = _cols("COLLATION_NAME CHARACTER_SET_NAME ID:i IS_DEFAULT IS_COMPILED SORTLEN:i")
        defaults = {v[0] for v in CHARSETS.values()}
        rows = [
            (name, cs, cid, "Yes" if name in defaults else "", "Yes", 1)
            for name, (cs, cid) in sorted(COLLATIONS.items())
        ]
        return Materialised(cols, rows)
    if view == "ENGINES":
        cols = _cols("ENGINE SUPPORT COMMENT TRANSACTIONS XA SAVEPOINTS")
        comment = "Supports transactions, row-level locking, foreign keys and encryption for tables"
        return Materialised(cols, [("InnoDB", "DEFAULT", comment, "YES", "YES", "YES")])
    return None


# -- foreign keys: from the catalog ----------------------------------------------------


def _foreign_keys(info: TableInfo) -> tuple[Any, ...]:
    return tuple(getattr(info, "foreign_keys", ()))


def _physical_foreign_key(view: str, names: list[str], row: tuple[Any, ...]) -> bool:
    """A shard's row describing its own (physical) foreign key: replaced by the
    catalog's logical one."""
    if view == "REFERENTIAL_CONSTRAINTS":
        return True
    if view == "TABLE_CONSTRAINTS":
        return bool(row[names.index("CONSTRAINT_TYPE")] == "FOREIGN KEY")
    if view == "KEY_COLUMN_USAGE":
        return row[names.index("REFERENCED_TABLE_NAME")] is not None
    return False


def _fk_index_names(info: TableInfo) -> dict[str, str]:
    """Physical name → logical name of the indexes InnoDB made for enforced keys."""
    out: dict[str, str] = {}
    for fk in _foreign_keys(info):
        if fk.enforced:
            from sharding.sql.foreign_keys import physical_name

            physical = physical_name(fk, info, info.placements()[0][0])
            if physical != fk.name:
                out[physical] = fk.name
    return out


def _foreign_key_lines(info: TableInfo) -> list[str]:
    """``CONSTRAINT … FOREIGN KEY`` lines as MariaDB prints them (``, `` between columns)."""
    lines = []
    for fk in sorted(_foreign_keys(info), key=lambda f: f.name):  # InnoDB's order
        ref = (
            _ident(fk.ref_table)
            if fk.ref_database == info.database
            else f"{_ident(fk.ref_database)}.{_ident(fk.ref_table)}"
        )
        line = (
            f"  CONSTRAINT {_ident(fk.name)} FOREIGN KEY "
            f"({', '.join(_ident(c) for c in fk.columns)}) "
            f"REFERENCES {ref} ({', '.join(_ident(c) for c in fk.ref_columns)})"
        )
        if fk.on_delete:
            line += f" ON DELETE {fk.on_delete}"
        if fk.on_update:
            line += f" ON UPDATE {fk.on_update}"
        lines.append(line)
    return lines


def _with_catalog_foreign_keys(text: str, info: TableInfo) -> str:
    """A shard's SHOW CREATE TABLE with its physical foreign keys replaced by the
    catalog's (after the keys, before CHECK constraints, as MariaDB orders them)."""
    lines = text.split("\n")
    ends = [i for i in range(len(lines) - 1, 0, -1) if lines[i].startswith(")")]
    if not ends:
        return text
    end = ends[0]
    renames = _fk_index_names(info)
    kept = []
    for item in (ln.rstrip(",") for ln in lines[1:end]):
        if re.match(r"  CONSTRAINT `(?:[^`]|``)+` FOREIGN KEY ", item):
            continue
        m = re.match(r"  KEY `((?:[^`]|``)+)` ", item)
        if m and m.group(1) in renames:
            item = f"  KEY {_ident(renames[m.group(1)])} " + item[m.end() :]
        kept.append(item)
    checks = [
        i for i, item in enumerate(kept) if re.match(r"  CONSTRAINT `(?:[^`]|``)+` CHECK ", item)
    ]
    at = checks[0] if checks else len(kept)
    kept[at:at] = _foreign_key_lines(info)
    return "\n".join([lines[0], ",\n".join(kept), *lines[end:]])


def _referenced_key(fk: Any, parent: TableInfo | None) -> str:
    """The parent's key a foreign key uses (REFERENTIAL_CONSTRAINTS' UNIQUE_CONSTRAINT_NAME):
    the primary key or the unique key on exactly the referenced columns."""
    wanted = [c.lower() for c in fk.ref_columns]
    if parent is None or [c.lower() for c in parent.primary_key] == wanted:
        return "PRIMARY"
    for index in parent.indexes:
        if index.unique and [c.lower() for c in index.columns] == wanted:
            return index.name
    return "PRIMARY"


def foreign_key_rows(
    view: str, info: TableInfo, parent_of: Callable[[str, str], TableInfo | None] | None = None
) -> list[tuple[Any, ...]]:
    """The catalog's foreign keys of ``info`` as rows of ``view`` (MariaDB's shapes)."""
    db, name = info.database, info.name
    out: list[tuple[Any, ...]] = []
    # InnoDB lists a table's foreign keys by name.
    for fk in sorted(_foreign_keys(info), key=lambda f: f.name):
        if view == "TABLE_CONSTRAINTS":
            out.append(("def", db, fk.name, db, name, "FOREIGN KEY"))
        elif view == "REFERENTIAL_CONSTRAINTS":
            update, delete = fk.on_update or "RESTRICT", fk.on_delete or "RESTRICT"
            parent = parent_of(fk.ref_database, fk.ref_table) if parent_of is not None else None
            out.append(
                (
                    "def",
                    db,
                    fk.name,
                    "def",
                    fk.ref_database,
                    _referenced_key(fk, parent),
                    "NONE",
                    update,
                    delete,
                    name,
                    fk.ref_table,
                )
            )
        elif view == "KEY_COLUMN_USAGE":
            pairs = zip(fk.columns, fk.ref_columns, strict=False)
            for pos, (col, ref) in enumerate(pairs, 1):
                out.append(
                    (
                        "def",
                        db,
                        fk.name,
                        "def",
                        db,
                        name,
                        col,
                        pos,
                        pos,
                        fk.ref_database,
                        fk.ref_table,
                        ref,
                    )
                )
    return out


def sharding_clause(info: TableInfo) -> str:
    """The rule as MariaDB's partitioning trailer (what ``CREATE TABLE`` reads back)."""
    rule = info.rule
    if rule.broadcast:
        return ""
    key = _ident(rule.shard_key or "")
    if rule.algorithm == "mod":
        return f"\n PARTITION BY HASH ({key})\nPARTITIONS {rule.shards}"
    if rule.algorithm == "hash":
        return f"\n PARTITION BY KEY ({key})\nPARTITIONS {rule.shards}"
    parts = []
    bounds = [*rule.bounds, None]
    for i, bound in enumerate(bounds):
        less = "MAXVALUE" if bound is None else f"({_q(bound)})"
        parts.append(f"PARTITION `p{i}` VALUES LESS THAN {less} ENGINE = InnoDB")
    return f"\n PARTITION BY RANGE ({key})\n(" + ",\n ".join(parts) + ")"


# -- catalog rendering (SQLite shards) ---------------------------------------------------

_INT_WIDTH = {"tinyint": 4, "smallint": 6, "mediumint": 9, "int": 11, "integer": 11, "bigint": 20}
_INT_PRECISION = {
    "tinyint": 3,
    "smallint": 5,
    "mediumint": 7,
    "int": 10,
    "integer": 10,
    "bigint": 19,
}
_TEXT_LENGTH = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295}
_BLOB_LENGTH = {"tinyblob": 255, "blob": 65535, "mediumblob": 16777215, "longblob": 4294967295}


@dataclass
class MySQLType:
    data_type: str
    column_type: str
    char_length: int | None = None
    octet_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    datetime_precision: int | None = None
    textual: bool = False


def mysql_type(type_text: str) -> MySQLType:
    """A declared type in MariaDB's COLUMNS terms (DATA_TYPE, COLUMN_TYPE, lengths)."""
    text = type_text.strip().lower()
    m = re.match(r"(\w+)\s*(?:\(([^)]*)\))?\s*(.*)", text)
    base, args, rest = (m.group(1), m.group(2), m.group(3)) if m else (text or "text", None, "")
    base = {
        "integer": "int",
        "bool": "tinyint",
        "boolean": "tinyint",
        "real": "double",
        "dec": "decimal",
        "numeric": "decimal",
    }.get(base, base)
    if text.startswith(("bool", "boolean")):
        args = "1"
    unsigned = "unsigned" in rest
    flags = " unsigned" if unsigned else ""
    flags += " zerofill" if "zerofill" in rest else ""
    if base in _INT_WIDTH:
        width = args or str(_INT_WIDTH[base] - (1 if unsigned and base != "bigint" else 0))
        prec = _INT_PRECISION[base] + (1 if unsigned and base == "bigint" else 0)
        return MySQLType(base, f"{base}({width}){flags}", precision=prec, scale=0)
    if base == "decimal":
        p, _, s = (args or "10,0").partition(",")
        return MySQLType(
            base, f"decimal({int(p)},{int(s or 0)}){flags}", precision=int(p), scale=int(s or 0)
        )
    if base in ("double", "float"):
        return MySQLType(
            base,
            f"{base}{'(' + args + ')' if args else ''}{flags}",
            precision=22 if base == "double" else 12,
        )
    if base in ("varchar", "char"):
        n = int(args or 1)
        return MySQLType(base, f"{base}({n})", char_length=n, octet_length=4 * n, textual=True)
    if base in _TEXT_LENGTH:
        n = _TEXT_LENGTH[base]
        return MySQLType(base, base, char_length=n, octet_length=n, textual=True)
    if base in _BLOB_LENGTH:
        n = _BLOB_LENGTH[base]
        return MySQLType(base, base, char_length=n, octet_length=n)
    if base in ("varbinary", "binary"):
        n = int(args or 1)
        return MySQLType(base, f"{base}({n})", char_length=n, octet_length=n)
    if base in ("enum", "set"):
        items = re.findall(r"'((?:[^']|'')*)'", type_text)
        longest = (
            max((len(i) for i in items), default=0) if base == "enum" else len(",".join(items))
        )
        # MariaDB's own spelling: labels in their case, quoted, no spaces between.
        labels = ",".join(f"'{i}'" for i in items)
        return MySQLType(
            base, f"{base}({labels})", char_length=longest, octet_length=4 * longest, textual=True
        )
    if base in ("datetime", "timestamp", "time"):
        p = int(args or 0)
        return MySQLType(base, f"{base}({p})" if p else base, datetime_precision=p)
    if base == "date":
        return MySQLType(base, base)
    if base == "year":
        return MySQLType(base, "year(4)")
    return MySQLType(base, base + (f"({args})" if args else ""))


def _default_literal(column: ColumnInfo, t: MySQLType) -> str | None:
    """COLUMNS.COLUMN_DEFAULT as MariaDB stores it (quoted strings, ``NULL``)."""
    d = column.default  # the DDL's literal text ('x', 0.00, NULL, CURRENT_TIMESTAMP)
    if d is None or d.upper() == "NULL":
        return "NULL" if column.nullable else None
    if re.fullmatch(r"current_timestamp(\(\d*\))?|now\(\)", d, re.IGNORECASE):
        return "current_timestamp()"
    quoted = len(d) >= 2 and d[0] == d[-1] and d[0] in "'\""
    if t.textual or t.data_type in ("date", "datetime", "timestamp", "time"):
        return d if quoted else "'" + d.replace("'", "''") + "'"
    return d[1:-1] if quoted else d


def catalog_rows(view: str, info: TableInfo, auto_increment: int | None) -> list[tuple[Any, ...]]:
    """One table's rows of ``view`` rendered from the catalog (SQLite shards)."""
    db, name = info.database, info.name
    pk = [c.lower() for c in info.primary_key]
    keys: list[tuple[str, bool, tuple[str, ...]]] = []
    if info.primary_key:
        keys.append(("PRIMARY", True, info.primary_key))
    keys += [(i.name, i.unique, i.columns) for i in info.indexes if i.name.upper() != "PRIMARY"]
    extras = declared(info.create_sql)
    if view == "TABLES":
        return [
            (
                "def",
                db,
                name,
                "BASE TABLE",
                "InnoDB",
                10,
                "Dynamic",
                0,
                0,
                0,
                0,
                0,
                0,
                auto_increment,
                None,
                None,
                None,
                "utf8mb4_general_ci",
                None,
                "",
                extras.table_comment or "",
                0,
                "N",
            )
        ]
    if view == "COLUMNS":
        out = []
        # COLUMN_KEY as MariaDB derives it: a key's first column only; UNI for a
        # one-column unique key, MUL otherwise; PRI wins, then UNI, then MUL.
        firsts: dict[str, str] = {}
        for kname, unique, cols in keys:
            if kname != "PRIMARY" and cols:
                kind = "UNI" if unique and len(cols) == 1 else "MUL"
                if firsts.get(cols[0].lower()) != "UNI":
                    firsts[cols[0].lower()] = kind
        for pos, c in enumerate(info.columns, 1):
            t = mysql_type(c.type)
            lname = c.name.lower()
            key = "PRI" if lname in pk else firsts.get(lname, "")
            nullable = c.nullable and lname not in pk
            collation = (c.collation or "utf8mb4_general_ci") if t.textual else None
            charset = collation.split("_")[0] if collation else None
            extra = (
                "auto_increment"
                if c.auto_increment or (info.auto_increment or "").lower() == lname
                else ""
            )
            if lname in extras.on_update:
                extra = f"on update {extras.on_update[lname]}"
            out.append(
                (
                    "def",
                    db,
                    name,
                    c.name,
                    pos,
                    _default_literal(ColumnInfo(c.name, c.type, nullable, c.default), t),
                    "YES" if nullable else "NO",
                    t.data_type,
                    t.char_length,
                    t.octet_length,
                    t.precision,
                    t.scale,
                    t.datetime_precision,
                    charset,
                    collation,
                    t.column_type,
                    key,
                    extra,
                    "select,insert,update,references",
                    extras.comments.get(lname, ""),
                    "NEVER",
                    None,
                )
            )
        return out
    if view == "STATISTICS":
        by_name = {c.name.lower(): c for c in info.columns}
        stats: list[tuple[Any, ...]] = []
        for kname, unique, cols in keys:
            for seq, col in enumerate(cols, 1):
                column = by_name.get(col.lower())
                null_mark = (
                    "YES"
                    if column is not None and column.nullable and col.lower() not in pk
                    else ""
                )
                stats.append(
                    (
                        "def",
                        db,
                        name,
                        0 if unique else 1,
                        db,
                        kname,
                        seq,
                        col,
                        "A",
                        0,
                        None,
                        None,
                        null_mark,
                        "BTREE",
                        "",
                        "",
                        "NO",
                    )
                )
        return stats
    if view == "TABLE_CONSTRAINTS":
        return [
            ("def", db, k, db, name, "PRIMARY KEY" if k == "PRIMARY" else "UNIQUE")
            for k, unique, _ in keys
            if unique
        ]
    if view == "KEY_COLUMN_USAGE":
        return [
            ("def", db, k, "def", db, name, col, seq, None, None, None, None)
            for k, unique, cols in keys
            if unique
            for seq, col in enumerate(cols, 1)
        ]
    return []


def render_create(info: TableInfo, auto_increment: int | None) -> str:
    """MariaDB's SHOW CREATE TABLE text rendered from the catalog (SQLite shards)."""
    extras = declared(info.create_sql)
    lines = []
    for c in info.columns:
        t = mysql_type(c.type)
        nullable = c.nullable and c.name.lower() not in {p.lower() for p in info.primary_key}
        parts = [f"  {_ident(c.name)} {t.column_type}"]
        if c.collation and t.textual and c.collation != "utf8mb4_general_ci":
            parts.append(f"CHARACTER SET {c.collation.split('_')[0]} COLLATE {c.collation}")
        is_auto = (info.auto_increment or "").lower() == c.name.lower()
        if not nullable:
            parts.append("NOT NULL")
        if is_auto:
            parts.append("AUTO_INCREMENT")
        else:
            d = _default_literal(ColumnInfo(c.name, c.type, nullable, c.default), t)
            if d is not None:
                parts.append(f"DEFAULT {d}")
            if c.name.lower() in extras.on_update:
                parts.append(f"ON UPDATE {extras.on_update[c.name.lower()]}")
        if c.name.lower() in extras.comments:
            parts.append(f"COMMENT {_sql_string(extras.comments[c.name.lower()])}")
        lines.append(" ".join(parts))
    if info.primary_key:
        lines.append(f"  PRIMARY KEY ({','.join(_ident(c) for c in info.primary_key)})")
    for i in info.indexes:
        if i.name.upper() == "PRIMARY":
            continue
        kind = "UNIQUE KEY" if i.unique else "KEY"
        lines.append(f"  {kind} {_ident(i.name)} ({','.join(_ident(c) for c in i.columns)})")
    lines.extend(_foreign_key_lines(info))
    options = "ENGINE=InnoDB"
    if auto_increment is not None and auto_increment > 1:
        options += f" AUTO_INCREMENT={auto_increment}"
    options += " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
    if extras.table_comment:
        options += f" COMMENT={_sql_string(extras.table_comment)}"
    return f"CREATE TABLE {_ident(info.name)} (\n" + ",\n".join(lines) + f"\n) {options}"
