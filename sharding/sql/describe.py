"""The MySQL types of a SELECT's result columns, known before it runs.

Why: a client that prepares a statement (``COM_STMT_PREPARE``: the C API, sysbench,
Connector/J with ``useServerPrepStmts``) learns the result's shape from the prepare
answer — ``mysql_stmt_field_count()``, ``mysql_stmt_result_metadata()`` — and binds its
buffers from it. A server that announces no columns makes such a client leave the rows
unread (2014 "Commands out of sync"). The coordinator cannot ask a shard (the statement
it runs there differs: AVG becomes SUM/COUNT, LIMIT grows), so the types are derived
here, as MariaDB derives them: table columns from the catalog's declared types,
aggregates and expressions by MariaDB's rules (measured against MariaDB 10.11 with
``COM_STMT_PREPARE``; ``tests/server/test_prepared_metadata.py`` keeps the comparison).

Where a rule is not modelled the column is announced as VAR_STRING (text) at prepare.

At execution (:func:`result_columns`, issue 14.6) every column of a result over MariaDB
shards carries a whole definition and no type is ever guessed from the values: table
columns from the catalog; what a shard computed and the coordinator passes on unchanged
(a pushed-down expression, a group value, a merged MIN/MAX/SUM/COUNT:
:func:`shard_positions` follows the plan) from the shard's own result metadata; what
the coordinator computes (AVG, expressions over merged aggregates, join expressions) by
the rules here, with literals the plan cache made slots typed per call
(:class:`SlotTyped`); anything else as :data:`CONSERVATIVE` text. SQLite shards send no
metadata: every value they compute is typed by the rules here and MySQL's function
result types (:mod:`sharding.sql.function_types`), and what no rule knows is
:data:`CONSERVATIVE` too. ``tests/server/test_column_definitions.py`` compares them with
MariaDB's over MariaDB shards, ``tests/server/test_sqlite_expression_types.py`` over
SQLite shards.

This module knows no wire encoding: :class:`ColumnType` holds the numbers of a
Protocol::ColumnDefinition41 (type code, length, flags, decimals, character set) and the
protocol server copies them.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, assert_never, overload

from sqlglot import exp

from sharding.backend.base import EXPRESSION_ORIGIN, Column, ColumnOrigin, ColumnType
from sharding.catalog import ColumnInfo, TableInfo
from sharding.errors import ShardgateError
from sharding.merge.evaluate import Compiler, Ref
from sharding.merge.semantics import MYSQL
from sharding.sql.backend_eval import BackendEvalNode, appended_offset
from sharding.sql.derived_columns import cte_map, derived_body, derived_table
from sharding.sql.function_types import DATE_UNITS, FUNCTION_TYPES, Args, function_type
from sharding.sql.lexer import Slot
from sharding.sql.nodes import (
    AggregateNode,
    ConcatNode,
    DistinctNode,
    FilterNode,
    HeldNode,
    LimitNode,
    MergeSortNode,
    Passthrough,
    PlanNode,
    ProjectNode,
    SelectPlan,
    SortMergeJoinNode,
    SortNode,
    UnionNode,
    WindowNode,
)
from sharding.sql.rewrite import SLOT
from sharding.sql.shard_dialect import hex_is_number_form

__all__ = [
    "CARRIED",
    "CONSERVATIVE",
    "COUNT_SUBQUERY",
    "EXISTS_SUBQUERY",
    "IN_SUBQUERY",
    "UNKNOWN",
    "ColumnType",
    "SlotTyped",
    "TypedColumn",
    "column_type",
    "constant_type",
    "describe_block",
    "describe_plan",
    "describe_select",
    "expression_type",
    "recursive_field",
    "result_columns",
    "shard_positions",
    "subquery_definition",
]

# MySQL field type codes (include/mysql_com.h, enum_field_types).
DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, NULL, TIMESTAMP, LONGLONG, INT24 = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
)
DATE, TIME, DATETIME, YEAR, NEWDECIMAL, ENUM, SET, BLOB, VAR_STRING, STRING = (
    10,
    11,
    12,
    13,
    246,
    247,
    248,
    252,
    253,
    254,
)
# Column flags.
NOT_NULL, PRI_KEY, UNIQUE_KEY, MULTIPLE_KEY, BLOB_FLAG, UNSIGNED, ZEROFILL, BINARY = (
    1,
    2,
    4,
    8,
    16,
    32,
    64,
    128,
)
ENUM_FLAG, AUTO_INCREMENT, TIMESTAMP_FLAG, SET_FLAG, NUM, PART_KEY = (
    256,
    512,
    1024,
    2048,
    32768,
    16384,
)
NO_DEFAULT_VALUE = 4096
#: Character sets: utf8mb4_general_ci (what the coordinator speaks) and binary.
UTF8MB4 = 45
BINARY_CHARSET = 63
#: ``decimals`` of a floating-point or string value with no fixed scale.
NOT_FIXED_DEC = 31
_STRING_DEC = 39
#: MariaDB's ``div_precision_increment`` default (AVG, ``/``).
_DIV_INCREMENT = 4
_MAX_DECIMAL_PRECISION = 65

INTEGER_TYPES = frozenset({TINY, SHORT, LONG, INT24, LONGLONG, YEAR})


#: A result column with the definition the coordinator derived for it (``wire``).
TypedColumn = Column


_INT_CODES = {
    "tinyint": (TINY, 4),
    "smallint": (SHORT, 6),
    "mediumint": (INT24, 9),
    "int": (LONG, 11),
    "bigint": (LONGLONG, 20),
}
_TEXT_LENGTH = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295}
_BLOB_LENGTH = {"tinyblob": 255, "blob": 65535, "mediumblob": 16777215, "longblob": 4294967295}
_DECLARED = re.compile(r"\s*(\w+)\s*(?:\(([^)]*)\))?\s*(.*)", re.DOTALL)
_ALIASES = {
    "integer": "int",
    "bool": "tinyint",
    "boolean": "tinyint",
    "real": "double",
    "dec": "decimal",
    "numeric": "decimal",
    "fixed": "decimal",
    "int1": "tinyint",
    "int2": "smallint",
    "int3": "mediumint",
    "int4": "int",
    "int8": "bigint",
    "character": "char",
}
#: A type not derived (no rule for the expression): announced as text at prepare, sent
#: as :data:`CONSERVATIVE` at execution. Compared by identity.
UNKNOWN = ColumnType(VAR_STRING, 1020, 0, _STRING_DEC, UTF8MB4)


def _decimal_length(precision: int, scale: int, unsigned: bool) -> int:
    """MariaDB's ``my_decimal_precision_to_length``: digits, point, sign."""
    precision = min(precision, _MAX_DECIMAL_PRECISION)
    return precision + (1 if scale else 0) + (0 if unsigned else 1)


#: Digits of a temporal value read as a number (``20240102``, ``100000``,
#: ``20240101100000``): DATE / NEWDATE, TIME, TIMESTAMP / DATETIME (fractional digits
#: come on top).
_TEMPORAL_DIGITS = {10: 8, 14: 8, 11: 7, 7: 14, 12: 14}


def temporal_digits(t: ColumnType) -> int | None:
    """A DATE/DATETIME/TIMESTAMP/TIME type's fractional digits; None for another type."""
    if t is UNKNOWN or t.type not in _TEMPORAL_DIGITS:
        return None
    return t.decimals if 0 < t.decimals <= 6 else 0


def _summed_as_decimal(arg: ColumnType) -> tuple[int, int] | None:
    """``(precision, decimals)`` of ``arg`` as MariaDB sums and averages it — a DECIMAL
    — or None for a DOUBLE (floats, strings). Integers and DECIMALs as they are;
    temporal values as their numbers (``AVG(time_col)`` is DECIMAL(11,4), measured on
    10.11); BIT(n) with n digits; ENUM and SET with as many digits as the column has
    characters."""
    if arg.is_float:
        return None
    if arg.is_integer and not arg.table_column:
        # An expression's digits are its length (``SUM(id + 0)``: BIGINT(12), 11 digits,
        # DECIMAL(34,0); ``AVG(id + 0)`` DECIMAL(17,4); measured), as in _precision.
        return max(arg.length - (0 if arg.unsigned else 1), 1), 0
    if arg.is_integer or arg.is_decimal:
        return arg.precision, arg.decimals
    digits = _TEMPORAL_DIGITS.get(arg.type)
    if digits is not None:
        fsp = arg.decimals if 0 < arg.decimals <= 6 else 0
        return digits + fsp, fsp
    if arg.type == 16:  # BIT
        return arg.length, 0
    if arg.flags & (ENUM_FLAG | SET_FLAG):
        per_char = 4 if arg.charset == UTF8MB4 else 1
        return max(arg.length // per_char, 1), 0
    return None


def column_type(info: ColumnInfo, table: TableInfo | None = None) -> ColumnType:
    """A table column's definition from its declared type (``int(11) unsigned``, ...)."""
    m = _DECLARED.match(info.type.lower())
    base, args, rest = (m.group(1), m.group(2) or "", m.group(3)) if m else ("text", "", "")
    bool_type = base in ("bool", "boolean")
    base = _ALIASES.get(base, base)
    flags = 0 if info.nullable else NOT_NULL
    if not info.nullable and info.default is None and not info.auto_increment:
        flags |= NO_DEFAULT_VALUE
    if table is not None:
        flags |= _key_flags(info.name, table)
    if info.auto_increment:
        flags |= AUTO_INCREMENT
    unsigned = "unsigned" in rest or "zerofill" in rest
    if unsigned:
        flags |= UNSIGNED
    if "zerofill" in rest:
        flags |= ZEROFILL
    if base in _INT_CODES:
        code, width = _INT_CODES[base]
        if bool_type:
            length = 1
        elif args.strip().isdigit():
            length = int(args)
        else:
            length = width - (1 if unsigned and code != LONGLONG else 0)
        return ColumnType(code, length, flags, 0, BINARY_CHARSET)
    if base == "decimal":
        p, _, s = (args or "10,0").partition(",")
        precision, scale = int(p or 10), int(s or 0)
        return ColumnType(NEWDECIMAL, _decimal_length(precision, scale, unsigned), flags, scale)
    if base in ("double", "float"):
        code = DOUBLE if base == "double" or _float_is_double(args) else FLOAT
        p, _, s = args.partition(",")
        if s.strip().isdigit():
            return ColumnType(code, int(p), flags, int(s))
        return ColumnType(code, 22 if code == DOUBLE else 12, flags, NOT_FIXED_DEC)
    if base in ("char", "varchar", "nchar", "nvarchar"):
        n = int(args) if args.strip().isdigit() else 1
        binary = info.collation is not None and info.collation.endswith("_bin")
        code = STRING if base in ("char", "nchar") else VAR_STRING
        return ColumnType(code, 4 * n, flags | (BINARY if binary else 0), 0, UTF8MB4)
    if base in ("binary", "varbinary"):
        n = int(args) if args.strip().isdigit() else 1
        return ColumnType(
            STRING if base == "binary" else VAR_STRING, n, flags | BINARY, 0, BINARY_CHARSET
        )
    if base in _TEXT_LENGTH:
        n = _TEXT_LENGTH[base]
        return ColumnType(BLOB, min(4 * n, 0xFFFFFFFF), flags | BLOB_FLAG, 0, UTF8MB4)
    if base in _BLOB_LENGTH:
        return ColumnType(BLOB, _BLOB_LENGTH[base], flags | BLOB_FLAG | BINARY, 0, BINARY_CHARSET)
    if base in ("enum", "set"):
        items = [i.replace("''", "'") for i in re.findall(r"'((?:[^']|'')*)'", info.type)]
        longest = (
            max((len(i) for i in items), default=0) if base == "enum" else len(",".join(items))
        )
        return ColumnType(
            STRING, 4 * longest, flags | (ENUM_FLAG if base == "enum" else SET_FLAG), 0, UTF8MB4
        )
    if base in ("datetime", "timestamp", "time"):
        p = int(args) if args.strip().isdigit() else 0
        code = {"datetime": DATETIME, "timestamp": TIMESTAMP, "time": TIME}[base]
        width = 10 if base == "time" else 19
        flags |= BINARY
        if base == "timestamp":
            flags |= UNSIGNED
        return ColumnType(code, width + (p + 1 if p else 0), flags, p)
    if base == "date":
        return ColumnType(DATE, 10, flags | BINARY)
    if base == "year":
        return ColumnType(YEAR, 4, flags | UNSIGNED | ZEROFILL)
    if base == "bit":
        n = int(args) if args.strip().isdigit() else 1
        return ColumnType(16, n, flags | UNSIGNED)
    if base == "json":
        return ColumnType(BLOB, 0xFFFFFFFF, flags | BLOB_FLAG | BINARY, 0, UTF8MB4)
    return UNKNOWN


def _float_is_double(args: str) -> bool:
    p = args.partition(",")[0].strip()
    return p.isdigit() and int(p) > 24 and "," not in args


def _key_flags(name: str, table: TableInfo) -> int:
    lname = name.lower()
    flags = 0
    if any(c.lower() == lname for c in table.primary_key):
        flags |= PRI_KEY | PART_KEY
    for index in table.indexes:
        cols = [c.lower() for c in index.columns]
        if lname in cols:
            flags |= PART_KEY
            if cols[0] == lname:
                flags |= UNIQUE_KEY if index.unique and len(cols) == 1 else MULTIPLE_KEY
    if flags & PRI_KEY:
        flags &= ~(MULTIPLE_KEY | UNIQUE_KEY)
    return flags


# -- expressions --------------------------------------------------------------------------

TableMap = Mapping[str, TableInfo]


class _Scope:
    """The tables a select list can name: by alias (or table name), in FROM order."""

    def __init__(
        self,
        select: exp.Select,
        tables: Mapping[tuple[str, str], TableInfo],
        database: str | None,
        ctes: Mapping[str, exp.CTE] | None = None,
    ) -> None:
        self.by_alias: dict[str, TableInfo] = {}
        self.order: list[TableInfo] = []
        #: The FROM clause's names as written, parallel to ``order``: (alias or table
        #: name, database) — what a column's origin names (:meth:`origin_of`).
        self.written: list[tuple[str, str]] = []
        #: What a scalar subquery of the block is typed with (:func:`_subquery_type`).
        self.tables: Mapping[tuple[str, str], TableInfo] = tables
        self.database = database
        self.ctes: Mapping[str, exp.CTE] | None = ctes
        #: The literals of one call (:class:`SlotTyped`); None: not known yet.
        self.slots: Sequence[Slot] | None = None
        #: The values of those slots (a client's parameters included).
        self.values: Sequence[Any] = ()
        #: Issue 18.3: derived tables and CTEs of the FROM clause, by the id of the
        #: TableInfo standing for them: their columns' types (lower-case names).
        self.derived: dict[int, dict[str, ColumnType | SlotTyped]] = {}
        #: The derived tables and CTEs MariaDB merges into this block (their columns'
        #: origins are modelled, :meth:`origin_of`), by the id of their TableInfo.
        self.merged: set[int] = set()
        #: Those whose body is a set operation (a recursive CTE's too).
        self.set_bodies: set[int] = set()
        sources: list[exp.Expr] = []
        from_ = select.args.get("from") or select.args.get("from_")
        if from_ is not None and from_.this is not None:
            sources.append(from_.this)
        for join in select.args.get("joins") or ():
            sources.append(join.this)
        visible = cte_map(select, ctes)
        for src in sources:
            if derived_body(src, visible) is not None:
                self._add_derived(src, tables, database, visible)
                continue
            if not isinstance(src, exp.Table):
                continue
            db = src.db or database or ""
            info = _lookup(tables, db, src.name)
            if info is None:
                continue
            self.by_alias[(src.alias_or_name).lower()] = info
            self.order.append(info)
            self.written.append((src.alias_or_name, info.database))

    def _add_derived(
        self,
        src: exp.Expr,
        tables: Mapping[tuple[str, str], TableInfo],
        database: str | None,
        ctes: Mapping[str, exp.CTE],
    ) -> None:
        """A derived table or CTE reference: its columns typed by its query
        (:mod:`sharding.sql.derived_columns`); left out when they cannot be told."""
        try:
            table = derived_table(src, tables, database, ctes)
        except ShardgateError:
            return
        if table is None:
            return
        self.by_alias[table.alias.lower()] = table.info
        self.order.append(table.info)
        self.written.append((table.alias, ""))
        body = table.body
        while isinstance(body, exp.Subquery):
            body = body.this
        if isinstance(body, exp.Union | exp.Intersect | exp.Except):
            self.set_bodies.add(id(table.info))
        elif _merged_body(body) and (table.cte is None or not _recursive_cte(table.cte)):
            self.merged.add(id(table.info))
        self.derived[id(table.info)] = {
            c.name.lower(): t for c, t in zip(table.info.columns, table.types, strict=True)
        }

    def column_type(self, col: exp.Column) -> ColumnType:
        found = self.column(col)
        if found is None:
            return UNKNOWN
        derived = self.derived.get(id(found[1]))
        if derived is not None:
            return self._derived_type(derived.get(found[0].name.lower(), UNKNOWN))
        return _table_column(column_type(*found))

    def star_type(self, col: ColumnInfo, table: TableInfo) -> ColumnType | SlotTyped:
        """The type a ``*`` gives column ``col`` of ``table``."""
        derived = self.derived.get(id(table))
        if derived is not None:
            return derived.get(col.name.lower(), UNKNOWN)
        return _table_column(column_type(col, table))

    def _derived_type(self, typed: ColumnType | SlotTyped) -> ColumnType:
        if isinstance(typed, SlotTyped):
            return typed.resolve(self.slots, self.values) if self.slots is not None else UNKNOWN
        return typed

    def slot_dependent(self, node: exp.Expr) -> bool:
        """Whether ``node`` reads a derived table's column typed per call."""
        for col in [node] if isinstance(node, exp.Column) else node.find_all(exp.Column):
            found = self.column(col)
            if found is None or id(found[1]) not in self.derived:
                continue
            if isinstance(self.derived[id(found[1])].get(found[0].name.lower()), SlotTyped):
                return True
        return False

    def origin_of(self, item: exp.Expr) -> ColumnOrigin | None:
        """What MariaDB names as the origin of select item ``item`` (10.11, measured):
        a column of a catalog table (under an alias or parentheses too) its database,
        the table's alias as written, the table and the column's declared name; an
        expression, aggregate, literal or subquery nothing (:data:`EXPRESSION_ORIGIN`);
        a derived table's or CTE's column as :meth:`_derived_origin` says. None where
        it is not known: a column not found, a derived column of unknown origin."""
        node = item
        while isinstance(node, exp.Alias | exp.Paren):
            if _carried(node) is not None:
                return EXPRESSION_ORIGIN
            node = node.this
        if not isinstance(node, exp.Column):
            return EXPRESSION_ORIGIN
        if _carried(node) is not None:
            return EXPRESSION_ORIGIN
        if isinstance(node.this, exp.Star):
            return None
        wanted = node.table.lower() if node.table else None
        for (alias, db), info in zip(self.written, self.order, strict=True):
            if wanted is not None and alias.lower() != wanted:
                continue
            found = info.column(node.name)
            if found is None:
                continue
            if id(info) in self.derived:
                return self._derived_origin(info, alias, found.name)
            return (db, alias, info.name, found.name)
        return None

    def _derived_origin(self, info: TableInfo, alias: str, name: str) -> ColumnOrigin | None:
        """A merged derived table's or CTE's column: the alias as table and org_table,
        its own name, and the database of the table column it stands for (none for an
        expression); a materialised one's (grouped, DISTINCT, LIMIT, a set operation, a
        recursive CTE) names the alias, the body's table (MariaDB's temporary table
        keeps it) and no database — none when the body is a set operation (10.11,
        measured)."""
        if id(info) in self.set_bodies:
            return ("", alias, "", name)
        inner = self.derived[id(info)].get(name.lower())
        inner_origin = inner.origin if inner is not None else None
        if inner_origin is None:
            return None
        if id(info) not in self.merged:
            return ("", alias, inner_origin[2], name)
        return (inner_origin[0] if inner_origin[2] else "", alias, alias, name)

    def star_origins(self, qualifier: str | None) -> list[ColumnOrigin | None]:
        """The origins of the columns a ``*`` (``qualifier.*``) expands to, in order."""
        out: list[ColumnOrigin | None] = []
        for (alias, db), info in zip(self.written, self.order, strict=True):
            if qualifier is not None and alias.lower() != qualifier:
                continue
            if id(info) in self.derived:
                out.extend(self._derived_origin(info, alias, c.name) for c in info.columns)
            else:
                out.extend((db, alias, info.name, c.name) for c in info.columns)
        return out

    def column(self, col: exp.Column) -> tuple[ColumnInfo, TableInfo] | None:
        candidates = [self.by_alias.get(col.table.lower())] if col.table else self.order
        for info in candidates:
            if info is None:
                continue
            found = info.column(col.name)
            if found is not None:
                return found, info
        return None


class _LookupScope(_Scope):
    """A scope whose columns are typed by a function: tables that are not in the
    catalog, whose definitions the caller knows (the information_schema views)."""

    def __init__(self, lookup: Callable[[exp.Column], ColumnType | None]) -> None:
        self.by_alias = {}
        self.order = []
        self.written = []
        self.merged = set()
        self.set_bodies = set()
        self.tables = {}
        self.database = None
        self.ctes = None
        self.slots = None
        self.values = ()
        self._types = lookup

    def column_type(self, col: exp.Column) -> ColumnType:
        found = self._types(col)
        return found if found is not None else UNKNOWN

    def column(self, col: exp.Column) -> tuple[ColumnInfo, TableInfo] | None:
        return None


def expression_type(
    node: exp.Expr, lookup: Callable[[exp.Column], ColumnType | None]
) -> ColumnType:
    """MariaDB's type of ``node`` (its rules for functions, operators, CASE, …) when its
    columns' definitions are what ``lookup`` gives (UNKNOWN where no rule applies)."""
    return _expr_type(node, _LookupScope(lookup))


def _lookup(tables: Mapping[tuple[str, str], TableInfo], db: str, name: str) -> TableInfo | None:
    for (d, n), info in tables.items():
        if d.lower() == db.lower() and n.lower() == name.lower():
            return info
    return None


class SlotTyped:
    """A result column whose type depends on literals the plan cache made slots
    (``SELECT SUM(qty) * 2``: one plan serves ``* 2`` and ``* 2.5``): typed per call."""

    __slots__ = ("grouped", "node", "origin", "post", "preferred", "scope")

    def __init__(
        self,
        node: exp.Expr,
        scope: _Scope,
        *,
        preferred: bool = False,
        grouped: bool = False,
        post: Callable[[ColumnType, Sequence[Slot]], ColumnType] | None = None,
    ) -> None:
        self.node = node
        self.scope = scope
        #: Sent instead of the shard's definition (an expression over a materialised
        #: subquery, :data:`CARRIED`): resolved marked ``table_column``.
        self.preferred = preferred
        #: A select item of a block grouped through a temporary table (_groups_to_fields).
        self.grouped = grouped
        #: What the resolved type becomes where it is stored (a recursive CTE's column,
        #: :func:`recursive_field`).
        self.post = post
        #: The resolved type's :attr:`~sharding.backend.base.ColumnType.origin`.
        self.origin: ColumnOrigin | None = None

    def resolve(self, slots: Sequence[Slot], values: Sequence[Any]) -> ColumnType:
        scope = copy.copy(self.scope)
        scope.slots = slots
        scope.values = values
        typed = _item_type(self.node, scope, self.grouped)
        if self.preferred or (typed is not UNKNOWN and _is_parameter(self.node, slots)):
            # A client's parameter as the item is typed by the value bound (BIGINT(21)
            # for an integer); the shard saw a literal in its place (INT(1) for 5).
            # Expressions over one keep the shard's typing (closer than the rules').
            typed = _table_column(typed)
        typed = self.post(typed, slots) if self.post is not None else typed
        return _with_origin(typed, self.origin)


def _is_parameter(node: exp.Expr, slots: Sequence[Slot]) -> bool:
    """Whether ``node`` (under an alias or parentheses) is a client's parameter: a slot
    with a bound value."""
    while isinstance(node, exp.Alias | exp.Paren):
        node = node.this
    if not isinstance(node, exp.Placeholder):
        return False
    index = node.meta.get(SLOT)
    return isinstance(index, int) and 0 <= index < len(slots) and slots[index].param is not None


def recursive_field(typed: ColumnType | SlotTyped, node: exp.Expr) -> ColumnType | SlotTyped:
    """The definition of a recursive CTE's column whose anchor (first) block's item is
    ``node``, typed ``typed`` there: the field of the temporary table MariaDB builds from
    the anchor alone (the recursive blocks do not widen it; 10.11, measured) —

    * nullable, without the key, default or BINARY flags (UNSIGNED, ENUM and SET kept;
      a string of the binary character set, a NULL, BINARY as every such field);
    * a string's decimals 0 (not an expression's "not fixed" 39);
    * an integer literal one wider (its sign: ``SELECT 1 AS n`` INT(2), ``-1`` INT(2));
    * otherwise as typed: ``id`` INT(11), ``id * 2`` BIGINT(12), ``1.5`` DECIMAL(4,1).

    Never marked ``table_column``: over MariaDB shards their own definition is sent."""
    bare = node
    while isinstance(bare, exp.Alias | exp.Paren):
        bare = bare.this
    if isinstance(typed, SlotTyped):
        post = typed.post

        def stored(t: ColumnType, slots: Sequence[Slot]) -> ColumnType:
            if post is not None:
                t = post(t, slots)
            literal = False
            if isinstance(bare, exp.Placeholder):
                index = bare.meta.get(SLOT)
                literal = (
                    isinstance(index, int)
                    and 0 <= index < len(slots)
                    and slots[index].param is None
                    and not slots[index].is_string
                )
            return _stored(t, literal)

        return SlotTyped(
            typed.node, typed.scope, preferred=typed.preferred, grouped=typed.grouped, post=stored
        )
    literal = isinstance(bare, exp.Literal) and not bare.is_string
    return _stored(typed, literal)


def _stored(t: ColumnType, int_literal: bool) -> ColumnType:
    """:func:`recursive_field` of a resolved type (``int_literal``: a non-negative
    integer literal's)."""
    if t is UNKNOWN:
        return t
    flags = t.flags & (UNSIGNED | ENUM_FLAG | SET_FLAG)
    if t.type in (VAR_STRING, STRING, BLOB) and t.charset == BINARY_CHARSET:
        flags |= BINARY
    decimals = 0 if t.type in (VAR_STRING, STRING, BLOB) else t.decimals
    length = t.length + 1 if int_literal and t.is_integer else t.length
    return ColumnType(t.type, length, flags, decimals, t.charset)


def describe_select(
    tree: exp.Expr, tables: Mapping[tuple[str, str], TableInfo], database: str | None
) -> list[ColumnType] | None:
    """One :class:`ColumnType` per result column of a SELECT (the first branch of a
    UNION decides, as in MariaDB for same-typed branches); None when the columns are
    not known before running (``*`` over a table without catalog columns)."""
    out = describe_plan(tree, tables, database, fields=False)
    if out is None:
        return None
    return [t if isinstance(t, ColumnType) else UNKNOWN for t in out]


def describe_plan(
    tree: exp.Expr,
    tables: Mapping[tuple[str, str], TableInfo],
    database: str | None,
    *,
    ctes: Mapping[str, exp.CTE] | None = None,
    fields: bool = True,
) -> list[ColumnType | SlotTyped] | None:
    """:func:`describe_select` of a statement whose literals are plan-cache slots: a
    column that depends on one is a :class:`SlotTyped`, typed per call. ``ctes``: the
    CTEs of enclosing queries (a derived table's or CTE's body, issue 18.3); ``fields``:
    as :func:`describe_block`."""
    ctes = cte_map(tree, ctes)
    if isinstance(tree, exp.Union | exp.Intersect | exp.Except):
        # A UNION's columns are typed from its blocks' select items: the first block's,
        # or the DECIMAL exact numbers of different types unify to (union_decimal).
        blocks = _set_blocks(tree, ctes)
        typed = [describe_plan(b, tables, database, ctes=c, fields=False) for b, c in blocks]
        first = typed[0]
        # MariaDB names no table for a set operation's column; through its temporary
        # table (DISTINCT, INTERSECT, EXCEPT, an ORDER BY) the column's own name is its
        # org_name, a streamed UNION ALL sends none — once it ran: a prepare announces
        # the name in every case (10.11, measured).
        origin: ColumnOrigin = (
            EXPRESSION_ORIGIN
            if fields and _all_union_all(tree) and tree.args.get("order") is None
            else ("", "", "", None)
        )
        if first is None or any(t is None or len(t) != len(first) for t in typed):
            return None if first is None else [_with_origin(t, origin) for t in first]
        out = list(first)
        for pos in range(len(first)):
            column = [t[pos] for t in typed if t is not None]
            if all(isinstance(c, ColumnType) for c in column) and all(
                unifiable_item(b, pos) for b, _ in blocks
            ):
                unified = union_decimal(
                    [c for c in column if isinstance(c, ColumnType)], union_all=_all_union_all(tree)
                )
                if unified is not None:
                    out[pos] = unified
                    continue
            kind = _set_kind(first[pos])
            if kind is not None and all(_set_kind(c) == kind for c in column):
                streamed = _all_union_all(tree) and tree.args.get("order") is None
                out[pos] = set_column([c for c in column if isinstance(c, ColumnType)], streamed)
        return [_with_origin(t, origin) for t in out]
    if isinstance(tree, exp.Subquery):
        return describe_plan(tree.this, tables, database, ctes=ctes, fields=fields)
    if not isinstance(tree, exp.Select):
        return None
    return describe_block(tree, _Scope(tree, tables, database, ctes), fields=fields)


def _set_blocks(
    tree: exp.Expr, ctes: Mapping[str, exp.CTE] | None
) -> list[tuple[exp.Expr, Mapping[str, exp.CTE] | None]]:
    """The query blocks of a set operation in order, each with the CTEs it sees."""
    if isinstance(tree, exp.Union | exp.Intersect | exp.Except):
        inner = cte_map(tree, ctes)
        return _set_blocks(tree.this, inner) + _set_blocks(tree.expression, inner)
    return [(tree, ctes)]


_SET_TYPES = frozenset({VAR_STRING, STRING, DATE, TIME, DATETIME, 7})  # 7: TIMESTAMP


def _set_kind(t: ColumnType | SlotTyped) -> tuple[Any, ...] | None:
    """What must agree between a UNION column's blocks for :func:`set_column`: the
    integers' signedness (the widest integer is the column), a VARCHAR's character set
    and BINARY flag (the longest is the column), else the whole type;
    None for types whose UNION definitions are not derived here (TEXT/BLOB lengths,
    YEAR, BIT, SET, ZEROFILL, a signed with an unsigned integer: DECIMAL)."""
    if not isinstance(t, ColumnType) or t.flags & (SET_FLAG | ZEROFILL):
        return None
    if t.is_integer and t.type != YEAR:
        return ("integer", t.unsigned)
    if t.type == VAR_STRING and not t.flags & ENUM_FLAG:
        return ("varchar", t.charset, t.flags & BINARY)  # the longest is the column
    if t.is_decimal or t.is_float or t.type in _SET_TYPES:
        return (t.type, t.length, t.decimals, t.charset)
    return None


def set_column(types: Sequence[ColumnType], union_all: bool) -> ColumnType:
    """MariaDB's definition of a set operation's result column whose blocks agree by
    :func:`_set_kind` (measured on MariaDB 10.11): a temporary table's column, so no
    key, AUTO_INCREMENT or NO_DEFAULT flag; NOT NULL when every block is; the widest
    integer; an ENUM is a VARCHAR. After a UNION ALL without ORDER BY (``union_all``,
    rows streamed) a number is BINARY and a string's decimals are 39; a DISTINCT union,
    INTERSECT, EXCEPT or an ORDER BY over the union keeps neither. A temporal column
    and a binary-collated or binary string keep their BINARY flag."""
    first = types[0]
    if first.is_integer:
        first = max(types, key=lambda t: (t.precision, t.length))
    elif first.type == VAR_STRING and not first.flags & ENUM_FLAG:
        first = max(types, key=lambda t: t.length)
    type_code = VAR_STRING if first.flags & ENUM_FLAG else first.type
    flags = NOT_NULL if all(t.flags & NOT_NULL for t in types) else 0
    flags |= first.flags & UNSIGNED
    decimals = first.decimals
    if first.is_integer or first.is_decimal or first.is_float:
        flags |= BINARY if union_all else 0
    else:
        flags |= first.flags & BINARY
        if type_code in (VAR_STRING, STRING):
            decimals = _STRING_DEC if union_all else 0
    return ColumnType(type_code, first.length, flags, decimals, first.charset)


def _all_union_all(tree: exp.Expr) -> bool:
    """Whether every set operation of ``tree``'s own structure is a UNION ALL."""
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    if isinstance(tree, exp.Intersect | exp.Except) or (
        isinstance(tree, exp.Union) and tree.args.get("distinct")
    ):
        return False
    if isinstance(tree, exp.Union):
        return _all_union_all(tree.this) and _all_union_all(tree.expression)
    return True


def unifiable_item(block: exp.Expr, pos: int) -> bool:
    """Whether :func:`union_decimal` reads select item ``pos`` of a UNION's query block
    exactly from its type: not a literal or a parameter (MariaDB counts a literal's
    digits, not its type's length), and the block's items are its written ones (no
    ``*``)."""
    while isinstance(block, exp.Subquery):
        block = block.this
    if not isinstance(block, exp.Select):
        return False
    items = block.expressions
    stars = any(
        isinstance(i, exp.Star) or (isinstance(i, exp.Column) and isinstance(i.this, exp.Star))
        for i in items
    )
    if stars or pos >= len(items):
        return False
    node = items[pos].unalias()
    while isinstance(node, exp.Paren | exp.Neg):
        node = node.this
    return not isinstance(node, exp.Literal | exp.Null) and node.find(exp.Placeholder) is None


def _integer_part(t: ColumnType) -> int:
    """MariaDB's ``decimal_int_part`` of an exact number typed ``t``: its precision
    (``my_decimal_length_to_precision`` of its length) less its scale."""
    precision = t.length - (1 if t.decimals else 0) - (0 if t.unsigned or not t.length else 1)
    return precision - t.decimals


def union_decimal(types: Sequence[ColumnType], *, union_all: bool = False) -> ColumnType | None:
    """MariaDB's type of a UNION column whose blocks give exact numbers (integers,
    DECIMALs) of different types, at least one DECIMAL (measured on MariaDB 10.11):
    DECIMAL of the largest scale and the largest integer part, UNSIGNED when every
    block is, NOT NULL when every block is, BINARY when every set operation is a
    UNION ALL (``union_all``; MariaDB's result of a DISTINCT union, INTERSECT or
    EXCEPT drops it), no other flag. None for any other column
    (the same type in every block, other types, ZEROFILL, a NULL block, more than 65
    digits: MariaDB then cuts digits, which no value conversion here reproduces)."""
    exact = [t for t in types if t.is_decimal or (t.is_integer and t.type != YEAR)]
    if len(exact) != len(types) or not any(t.is_decimal for t in exact):
        return None
    if all(t == exact[0] for t in exact) or any(t.flags & ZEROFILL for t in exact):
        return None
    scale = max(t.decimals for t in exact)
    precision = max(_integer_part(t) for t in exact) + scale
    if precision > _MAX_DECIMAL_PRECISION:
        return None
    unsigned = all(t.unsigned for t in exact)
    flags = (NOT_NULL if all(t.flags & NOT_NULL for t in exact) else 0) | (
        UNSIGNED if unsigned else 0
    )
    if union_all:
        flags |= BINARY
    length = _decimal_length(precision, scale, unsigned)
    return ColumnType(NEWDECIMAL, length, flags, scale, BINARY_CHARSET)


def describe_block(
    tree: exp.Select, scope: _Scope, *, fields: bool = True
) -> list[ColumnType | SlotTyped] | None:
    """:func:`describe_plan` of one SELECT whose FROM clause ``scope`` holds. ``fields``:
    the definitions it is *sent* with after running (:func:`_groups_to_fields`); false:
    the ones a prepare announces and a UNION takes from its first block."""
    grouped = fields and _groups_to_fields(tree)
    windowed = fields and _stores_expressions(tree)
    out: list[ColumnType | SlotTyped] = []
    for item in tree.expressions:
        if isinstance(item, exp.Star) or (
            isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
        ):
            chosen = (
                scope.order
                if not item.args.get("table")
                else [
                    t
                    for alias, t in scope.by_alias.items()
                    if alias == item.args["table"].name.lower()
                ]
            )
            if not chosen or any(not t.columns for t in chosen):
                return None
            qualifier = item.args["table"].name.lower() if item.args.get("table") else None
            origins = scope.star_origins(qualifier)
            typed_star = [scope.star_type(c, t) for t in chosen for c in t.columns]
            if len(origins) != len(typed_star):  # an alias named twice: not modelled
                origins = [None] * len(typed_star)
            out.extend(_with_origin(t, o) for t, o in zip(typed_star, origins, strict=True))
            continue
        origin = scope.origin_of(item)
        if (
            windowed
            and origin == EXPRESSION_ORIGIN
            and item.find(exp.Window, exp.Subquery) is None
            and item.find(exp.Column) is not None
        ):
            origin = ("", "", "", None)  # a field of the window's temporary table
        typed = _item_type(item, scope, grouped)
        carried = _carried_item(item)
        if carried is not None:
            # A materialised subquery's own definition: sent instead of the shard's
            # typing of the literals that replaced it (:data:`CARRIED`).
            out.append(_with_origin(_table_column(carried), origin))
            continue
        # An expression over a materialised subquery (``(SELECT COUNT(*) …) + 1``): typed
        # from the subquery's definition, preferred to the shard's typing of the literal.
        preferred = _holds_carried(item)
        if typed is UNKNOWN and (
            any(p.meta.get(SLOT) is not None for p in item.find_all(exp.Placeholder))
            or scope.slot_dependent(item)
        ):
            out.append(
                _with_origin(SlotTyped(item, scope, preferred=preferred, grouped=grouped), origin)
            )
        else:
            out.append(_with_origin(_table_column(typed) if preferred else typed, origin))
    return out


def _stores_expressions(tree: exp.Select) -> bool:
    """Whether MariaDB computes ``tree``'s expressions over columns into the temporary
    table of its window functions, which names them (their org_name is their name;
    10.11, measured): a block with a window function and no grouping."""
    if tree.args.get("group") is not None:
        return False
    windows = False
    for item in tree.expressions:
        for node in item.walk():
            if isinstance(node, exp.Window):
                windows = True
            elif isinstance(node, exp.AggFunc) and node.find_ancestor(exp.Window) is None:
                return False
    return windows


def _merged_body(body: exp.Expr) -> bool:
    """Whether MariaDB merges a derived table or CTE with this body into the query
    that reads it (``derived_merge``): one block without grouping, aggregates,
    DISTINCT, window functions or LIMIT."""
    while isinstance(body, exp.Subquery):
        body = body.this
    if not isinstance(body, exp.Select):
        return False
    if any(body.args.get(k) for k in ("group", "having", "distinct", "limit", "with_", "with")):
        return False
    return not any(
        isinstance(node, exp.AggFunc | exp.Window | exp.Subquery)
        for node in body.expressions
        for node in node.walk()
    )


def _recursive_cte(cte: exp.CTE) -> bool:
    with_ = cte.parent
    return isinstance(with_, exp.With) and bool(with_.args.get("recursive"))


@overload
def _with_origin(t: ColumnType, origin: ColumnOrigin | None) -> ColumnType: ...
@overload
def _with_origin(
    t: ColumnType | SlotTyped, origin: ColumnOrigin | None
) -> ColumnType | SlotTyped: ...


def _with_origin(t: ColumnType | SlotTyped, origin: ColumnOrigin | None) -> ColumnType | SlotTyped:
    """``t`` labelled with ``origin`` (a new definition, or the SlotTyped resolving to
    one). :data:`UNKNOWN` stays itself: callers test it by identity."""
    if isinstance(t, SlotTyped):
        if t.origin == origin:
            return t
        # A copy: the same SlotTyped may stand for a derived table's column in its
        # scope (read again by _derived_origin) and for the item of a ``*`` here.
        labelled = copy.copy(t)
        labelled.origin = origin
        return labelled
    if t is UNKNOWN or t.origin == origin:
        return t
    return dataclasses.replace(t, origin=origin)


#: Aggregates whose presence makes MariaDB group without storing the aggregates in its
#: temporary table (they are sent as computed, :func:`_groups_to_fields`).
_UNSTORED_AGGREGATES = (exp.GroupConcat,)


def _groups_to_fields(tree: exp.Select) -> bool:
    """Whether MariaDB groups ``tree`` through a temporary table that holds its
    aggregates, and so sends a top-level ``MIN``/``MAX``/``SUM``/``COUNT`` with that
    table's field's definition, not the aggregate's (10.11, measured: ``SELECT k,
    MAX(dbl) … GROUP BY k`` DOUBLE(22) without the BINARY flag, ``COUNT(*)`` NOT NULL
    without it, ``MAX(varchar)`` decimals 0; ungrouped, or WITH ROLLUP, or with a
    DISTINCT aggregate or GROUP_CONCAT in the block, 23 wide and BINARY). Not modelled:
    a GROUP BY MariaDB resolves by an index or a constant table (sent as computed);
    over MariaDB shards those pass the shard's own definitions on."""
    group = tree.args.get("group")
    if group is None or group.args.get("rollup") or group.find(exp.Rollup) is not None:
        return False
    for node in tree.find_all(exp.AggFunc):
        if isinstance(node, _UNSTORED_AGGREGATES) or isinstance(node.this, exp.Distinct):
            return False
    return True


def _item_type(item: exp.Expr, scope: _Scope, grouped: bool) -> ColumnType:
    """A select item's type: :func:`_expr_type`, as the temporary table's field when the
    block is ``grouped`` (:func:`_groups_to_fields`)."""
    typed = _expr_type(item, scope)
    if not grouped or typed is UNKNOWN or _carried_item(item) is not None:
        return typed
    node = item
    while isinstance(node, exp.Alias | exp.Paren):
        node = node.this
    if isinstance(node, exp.Count):
        return ColumnType(LONGLONG, 21, NOT_NULL)
    if isinstance(node, exp.Min | exp.Max):
        arg = _aggregate_argument(node)
        if isinstance(arg, exp.Column) and not scope.slot_dependent(arg):
            own = scope.column_type(arg)
            if own is not UNKNOWN:
                # The column's own definition, nullable (an ENUM's or SET's too: STRING
                # with its flag, where the ungrouped value is a VARCHAR).
                return _nullable(own)
            return typed
        return _as_field(typed)
    if isinstance(node, exp.Sum):
        return _as_field(typed)
    return typed


def _as_field(t: ColumnType) -> ColumnType:
    """An aggregate's value as a temporary table's field: a number without the BINARY
    flag, a string without the "not fixed" decimals."""
    if t.is_integer or t.is_decimal or t.is_float:
        return dataclasses.replace(t, flags=t.flags & ~BINARY)
    if t.is_string:
        return dataclasses.replace(t, decimals=0)
    return t


_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _slot_type(node: exp.Placeholder, scope: _Scope, negative: bool = False) -> ColumnType:
    """The type of a literal the plan cache made a slot, from this call's literal."""
    index = node.meta.get(SLOT)
    slots = scope.slots
    if slots is None or not isinstance(index, int) or not 0 <= index < len(slots):
        return UNKNOWN
    slot = slots[index]
    if slot.param is not None:
        # A client's parameter: MariaDB types it by the value bound (an integer bound
        # as a 64-bit one: BIGINT(21) NOT NULL); other kinds are not modelled.
        value = scope.values[index] if index < len(scope.values) else None
        if isinstance(value, bool):
            return UNKNOWN
        if isinstance(value, int) and not negative:
            return ColumnType(LONGLONG, 21, NOT_NULL | BINARY)
        # A DECIMAL bound is typed as its digits (``amt + ?`` of 1.5: DECIMAL of scale
        # 2 for a DECIMAL(10,2) amt), a DOUBLE as a DOUBLE, a string as a string
        # literal (measured with Connector/Python's prepared statements on 10.11).
        if isinstance(value, Decimal) and value.is_finite():
            text = format(abs(value) if negative else value, "f")
            number = exp.Literal.number(text.lstrip("-"))
            if isinstance(number, exp.Literal):
                return _literal(number, negative=negative or value < 0)
        if isinstance(value, float):
            return ColumnType(DOUBLE, 23, NOT_NULL | BINARY, NOT_FIXED_DEC)
        if isinstance(value, str) and not negative:
            return _literal(exp.Literal.string(value))
        return UNKNOWN
    if slot.is_string:
        if negative or not isinstance(slot.value, str):
            return UNKNOWN
        return _literal(exp.Literal.string(slot.value))
    if not _NUMBER.fullmatch(slot.raw):
        return UNKNOWN
    number = exp.Literal.number(slot.raw)
    return _literal(number, negative=negative) if isinstance(number, exp.Literal) else UNKNOWN


def _table_column(t: ColumnType) -> ColumnType:
    """``t`` marked as a table column's own definition (not an expression's)."""
    return t if t is UNKNOWN else dataclasses.replace(t, table_column=True)


_LITERAL_FLAGS = NOT_NULL | BINARY
_NUM_RESULT = BINARY  # expressions over columns: nullable, binary charset


def _int_literal(text: str) -> ColumnType:
    digits = text.lstrip("+-")
    value = int(text)
    length = len(text.lstrip("+"))
    if -(1 << 31) <= value < (1 << 31) and len(digits) < 10:
        return ColumnType(LONG, length, _LITERAL_FLAGS)
    if -(1 << 63) <= value < (1 << 63):
        return ColumnType(LONGLONG, length, _LITERAL_FLAGS)
    return ColumnType(NEWDECIMAL, length + 1, _LITERAL_FLAGS)


def _literal(node: exp.Literal, negative: bool = False) -> ColumnType:
    text = ("-" if negative else "") + node.this
    if node.is_string:
        return ColumnType(VAR_STRING, 4 * len(node.this), NOT_NULL, _STRING_DEC, UTF8MB4)
    if re.fullmatch(r"[+-]?\d+", text):
        return _int_literal(text)
    if "e" in text.lower():
        return ColumnType(DOUBLE, len(text), _LITERAL_FLAGS, NOT_FIXED_DEC)
    scale = len(text.partition(".")[2])
    return ColumnType(NEWDECIMAL, len(text) + (1 if not negative else 0), _LITERAL_FLAGS, scale)


def _float_length(decimals: int) -> int:
    """MariaDB's ``float_length()``: the display length of a DOUBLE/FLOAT value computed
    from one (an aggregate's): 23 without fixed decimals, else ``DBL_DIG + 2 + d``."""
    return 23 if decimals >= NOT_FIXED_DEC else 17 + decimals


def _nullable(t: ColumnType) -> ColumnType:
    cleared = (
        NOT_NULL
        | PRI_KEY
        | PART_KEY
        | UNIQUE_KEY
        | MULTIPLE_KEY
        | AUTO_INCREMENT
        | NO_DEFAULT_VALUE
    )
    return ColumnType(t.type, t.length, t.flags & ~cleared, t.decimals, t.charset)


def _precision(t: ColumnType, node: exp.Expr) -> int:
    """Decimal digits of a number operand: an integer literal's own digits, else
    MariaDB's ``decimal_precision()`` of its type (an expression result, a subquery's
    value: its display length without the sign)."""
    inner = node.this if isinstance(node, exp.Neg | exp.Paren) else node
    if (
        isinstance(inner, exp.Literal)
        and not inner.is_string
        and inner.this.isdigit()
        and _carried(inner) is None  # a subquery's value: typed as the subquery
    ):
        return len(inner.this.lstrip("0") or "0")
    if t.is_integer and not t.table_column:
        # (``COUNT(*) + 1``: BIGINT(22), 20 digits; an unsigned ``BIT_OR`` 21)
        return max(t.length - (0 if t.unsigned else 1), 1)
    return t.precision


def _numeric_result(
    node: exp.Expr, args: Sequence[ColumnType], operands: Sequence[exp.Expr]
) -> ColumnType:
    """The type of ``a + b``, ``a - b``, ``a * b``, ``a / b`` (MariaDB's arithmetic
    result rules, measured on 10.11: precision, scale, unsigned and NOT NULL)."""
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    not_null = all(a.flags & NOT_NULL for a in args)
    if any(not (a.is_integer or a.is_decimal) for a in args):
        return ColumnType(DOUBLE, 23, _NUM_RESULT | (NOT_NULL if not_null else 0), NOT_FIXED_DEC)
    precisions = [_precision(a, o) for a, o in zip(args, operands, strict=True)]
    scales = [a.decimals if a.is_decimal else 0 for a in args]
    if isinstance(node, exp.Div):
        scale = min(scales[0] + _DIV_INCREMENT, 38)
        precision = precisions[0] + scales[1] + _DIV_INCREMENT
        return ColumnType(NEWDECIMAL, _decimal_length(precision, scale, False), _NUM_RESULT, scale)
    flags = _NUM_RESULT | (NOT_NULL if not_null else 0)
    if isinstance(node, exp.Mul):
        scale = min(sum(scales), 38)
        precision = sum(precisions)
    else:
        scale = max(scales)
        precision = max(p - s for p, s in zip(precisions, scales, strict=True)) + scale + 1
    if any(a.is_decimal for a in args):
        return ColumnType(NEWDECIMAL, _decimal_length(precision, scale, False), flags, scale)
    unsigned = any(a.unsigned for a in args)
    length = precision + (0 if unsigned else 1)
    return ColumnType(
        LONG if length <= 9 else LONGLONG, length, flags | (UNSIGNED if unsigned else 0)
    )


def _operand_type(node: exp.Expr, scope: _Scope) -> ColumnType:
    """An arithmetic operand's type: a ``0x..`` or ``b'..'`` literal is the unsigned
    number of its bytes there, as wide as the largest one (``0x4142 + 0``: INT(6)
    UNSIGNED; 10.11, measured); an ``X'..'`` one is not modelled (UNKNOWN)."""
    bare = node
    while isinstance(bare, exp.Paren):
        bare = bare.this
    if isinstance(bare, exp.BitString):
        # ``b'1' + 0``: the same, at least one byte wide (``b'' + 0``: INT(4), measured)
        size = max(1, (len(str(bare.this or "")) + 7) // 8)
        if size > 8:
            return UNKNOWN
    elif isinstance(bare, exp.HexString):
        size = (len(str(bare.this or "")) + 1) // 2
        if not hex_is_number_form(bare) or not 0 < size <= 8:
            return UNKNOWN
    if isinstance(bare, exp.HexString | exp.BitString):
        digits = len(str(256**size - 1))
        return ColumnType(LONG if digits <= 9 else LONGLONG, digits, _LITERAL_FLAGS | UNSIGNED)
    if isinstance(bare, exp.Min | exp.Max) and not bare.expressions:
        # MIN/MAX of an ENUM is a VARCHAR, yet computes with the index (``MIN(e) + 0``
        # is INT(3) for one-letter labels; measured).
        arg = _expr_type(_aggregate_argument(bare), scope)
        if arg is not UNKNOWN and arg.flags & (ENUM_FLAG | SET_FLAG):
            return _as_number(arg)
    return _as_number(_expr_type(node, scope))


def _as_number(t: ColumnType) -> ColumnType:
    """An ENUM/SET operand of arithmetic as its index, and a DATE/DATETIME/TIMESTAMP/TIME
    one as MariaDB computes with it:
    the number of its digits (``d + 0`` is BIGINT(10), ``tm + 0`` INT(9), ``dt / 2``
    DECIMAL(20,4)); with fractional seconds a DECIMAL of that scale (``NOW(6) + 0`` is
    DECIMAL(23,6)). Measured on MariaDB 10.11. Any other type as it is."""
    if t is not UNKNOWN and t.flags & (ENUM_FLAG | SET_FLAG):
        # An ENUM/SET is its index: as many digits as the column has characters
        # (``enum_col + 0`` INT(3) for one-letter labels; measured), as it is summed.
        summed = _summed_as_decimal(t)
        if summed is not None:
            return ColumnType(LONGLONG, summed[0] + 1, t.flags & NOT_NULL)
    digits = _TEMPORAL_DIGITS.get(t.type)
    if digits is None or t is UNKNOWN:
        return t
    flags = t.flags & NOT_NULL
    fsp = t.decimals if 0 < t.decimals <= 6 else 0
    if fsp:
        return ColumnType(NEWDECIMAL, _decimal_length(digits + fsp, fsp, False), flags, fsp)
    return ColumnType(LONGLONG, digits + 1, flags)


def _int_div_type(node: exp.IntDiv, scope: _Scope) -> ColumnType:
    """``a DIV b``: as many digits as ``a``'s integer part (at most 19), INT up to 9 of
    them (``int_col DIV 7`` BIGINT(10), ``date_col DIV 7`` INT(8), ``decimal(10,2)_col
    DIV 7`` INT(8); MariaDB 10.11, measured); unsigned if an operand is. An operand of
    another kind (a DOUBLE, a string) keeps BIGINT(21)."""
    first = _operand_type(node.this, scope)
    second = _operand_type(node.expression, scope)
    if first is UNKNOWN or not (first.is_integer or first.is_decimal):
        return ColumnType(LONGLONG, 21, BINARY)
    digits = max(min(_precision(first, node.this) - first.decimals, 19), 1)
    unsigned = first.unsigned or (second is not UNKNOWN and second.unsigned)
    flags = BINARY | (UNSIGNED if unsigned else 0)
    return ColumnType(LONG if digits <= 9 else LONGLONG, digits, flags)


def _negated(t: ColumnType) -> ColumnType:
    """``-x``: one more character, signed. A temporal value's negation is a DECIMAL one
    character longer than its text (``-d`` DECIMAL(11,0), ``-dt`` (20,0), measured)."""
    if t is not UNKNOWN and t.type in _TEMPORAL_DIGITS:
        fsp = t.decimals if 0 < t.decimals <= 6 else 0
        return ColumnType(NEWDECIMAL, t.length + 1, (t.flags & NOT_NULL) | BINARY, fsp)
    t = _as_number(t)  # an ENUM's index
    if t is not UNKNOWN and t.is_string:
        # ``-MIN(s)``: a string negated is MySQL's DOUBLE of it (measured).
        return ColumnType(DOUBLE, 23, (t.flags & NOT_NULL) | BINARY, NOT_FIXED_DEC)
    if t is UNKNOWN or not (t.is_integer or t.is_decimal or t.is_float):
        return UNKNOWN
    flags = (t.flags & NOT_NULL) | BINARY
    if t.is_float:
        return ColumnType(DOUBLE, t.length, flags, t.decimals)
    code = t.type if t.is_decimal else (LONG if t.length + 1 <= 9 else LONGLONG)
    return ColumnType(code, t.length + 1, flags, t.decimals)


def _classes(*names: str) -> tuple[type[exp.Expr], ...]:
    """The sqlglot expression classes of these names that this sqlglot version has."""
    return tuple(c for c in (getattr(exp, n, None) for n in names) if isinstance(c, type))


_STRING_FUNCS = _classes(
    "Concat",
    "ConcatWs",
    "Upper",
    "Lower",
    "Substring",
    "Trim",
    "Left",
    "Right",
    "Pad",
    "Repeat",
    "Reverse",
    "Initcap",
    "Hex",
    "MD5",
    "SHA",
    "SHA2",
    "TimeToStr",
    "GroupConcat",
)
_INT_FUNCS = _classes("Length", "StrPosition", "Sign", "Ascii")
_COMPARISONS = _classes(
    "EQ",
    "NEQ",
    "GT",
    "GTE",
    "LT",
    "LTE",
    "NullSafeEQ",
    "Like",
    "Escape",  # x LIKE p ESCAPE e
    "In",
    "Between",
    "Is",
    "And",
    "Or",
    "Not",
    "Xor",
    "Exists",
)


def _expr_type(node: exp.Expr, scope: _Scope) -> ColumnType:
    carried = _carried(node)
    if carried is not None:
        return carried
    if isinstance(node, exp.Alias | exp.Paren):
        return _expr_type(node.this, scope)
    if isinstance(node, exp.Column):
        return scope.column_type(node)
    if isinstance(node, exp.Literal):
        return _literal(node)
    if (
        isinstance(node, exp.Neg)
        and isinstance(node.this, exp.Literal)
        and not node.this.is_string
        and _carried(node.this) is None
    ):
        return _literal(node.this, negative=True)
    if isinstance(node, exp.Placeholder) and node.meta.get(SLOT) is not None:
        # A literal the plan cache made a slot: its type is the value's, per call.
        return _slot_type(node, scope)
    if (
        isinstance(node, exp.Neg)
        and isinstance(node.this, exp.Placeholder)
        and node.this.meta.get(SLOT) is not None
    ):
        return _slot_type(node.this, scope, negative=True)
    if isinstance(node, exp.Null | exp.Placeholder):
        # MariaDB announces a ``?`` in the select list as NULL (its type comes with
        # the value bound at execution).
        return ColumnType(NULL, 0, BINARY)
    if isinstance(node, exp.Boolean):
        return ColumnType(LONG, 5, _LITERAL_FLAGS)
    if isinstance(node, exp.HexString):
        # ``0x41``, ``X'41'``: a binary string of (digits + 1) // 2 bytes, announced
        # UNSIGNED as well (10.11, measured: VARBINARY(1), flags 161).
        size = (len(str(node.this or "")) + 1) // 2
        return ColumnType(VAR_STRING, size, _LITERAL_FLAGS | UNSIGNED, 0, BINARY_CHARSET)
    if isinstance(node, exp.BitString):
        # ``b'1000001'``, ``0b101``: the same, of its bits' whole bytes (10.11, measured:
        # ``b''`` VARBINARY(0), ``b'000000000'`` VARBINARY(2), flags 161).
        size = (len(str(node.this or "")) + 7) // 8
        return ColumnType(VAR_STRING, size, _LITERAL_FLAGS | UNSIGNED, 0, BINARY_CHARSET)
    if isinstance(node, exp.Window):
        return _window_type(node, scope)
    if isinstance(node, exp.Subquery):
        return _subquery_type(node, scope)
    if isinstance(node, exp.Count):
        return ColumnType(LONGLONG, 21, NOT_NULL | BINARY)
    if isinstance(node, exp.BitwiseAndAgg | exp.BitwiseOrAgg | exp.BitwiseXorAgg):
        return ColumnType(LONGLONG, 21, NOT_NULL | UNSIGNED | BINARY)
    if isinstance(node, exp.StddevPop | exp.StddevSamp | exp.VariancePop | exp.Variance):
        # MariaDB: a DOUBLE, shown with the argument's scale + 4 for INT/DECIMAL.
        arg = _expr_type(_aggregate_argument(node), scope)
        if arg is UNKNOWN:
            return UNKNOWN
        exact = (arg.is_integer or arg.is_decimal) and not arg.is_float
        dec = min(arg.decimals + 4, NOT_FIXED_DEC) if exact else NOT_FIXED_DEC
        return ColumnType(DOUBLE, 23, BINARY, dec)
    if isinstance(node, exp.Sum | exp.Avg):
        arg = _expr_type(_aggregate_argument(node), scope)
        if arg is UNKNOWN:
            return UNKNOWN
        summed = _summed_as_decimal(arg)
        if summed is None:
            return ColumnType(DOUBLE, 23, BINARY, NOT_FIXED_DEC)
        precision, decimals = summed
        if isinstance(node, exp.Sum):
            return ColumnType(
                NEWDECIMAL, _decimal_length(precision + 22, decimals, False), BINARY, decimals
            )
        scale = min(decimals + _DIV_INCREMENT, 38)
        return ColumnType(
            NEWDECIMAL, _decimal_length(precision + _DIV_INCREMENT, scale, False), BINARY, scale
        )
    if isinstance(node, exp.Min | exp.Max):
        inner = _expr_type(_aggregate_argument(node), scope)
        if inner is UNKNOWN:
            return UNKNOWN
        arg = _nullable(inner)
        if arg.flags & (ENUM_FLAG | SET_FLAG):
            # An ENUM's or SET's value: a VARCHAR of its width, decimals 0 (10.11,
            # measured; grouped through a temporary table it is the column: _item_type).
            flags = arg.flags & ~(ENUM_FLAG | SET_FLAG | BINARY)
            return ColumnType(VAR_STRING, arg.length, flags, 0, arg.charset)
        if arg.is_string:
            return ColumnType(arg.type, arg.length, arg.flags & ~BINARY, _STRING_DEC, arg.charset)
        if arg.is_float:
            # MariaDB sizes the value by its decimals, not the column's width: MAX of a
            # DOUBLE 23 wide (the column 22), of a FLOAT(7,3) 20 (issue 18; grouped
            # through a temporary table it is that table's field: _item_type).
            return ColumnType(
                arg.type, _float_length(arg.decimals), (arg.flags & UNSIGNED) | BINARY, arg.decimals
            )
        return ColumnType(
            arg.type,
            arg.length,
            arg.flags | (BINARY if arg.charset == BINARY_CHARSET else 0),
            arg.decimals,
            arg.charset,
        )
    if isinstance(node, exp.GroupConcat):
        # Binary when an argument is (its text is bytes), as in MariaDB.
        body = node.this.this if isinstance(node.this, exp.Order) else node.this
        if isinstance(body, exp.Distinct) and body.expressions:
            body = body.expressions[0]
        args = body.expressions if isinstance(body, exp.Concat) else [body]
        # (numbers and temporals carry charset 63 too, but are converted to text)
        if any(
            t.charset == BINARY_CHARSET and t.type in (BLOB, VAR_STRING, STRING, 15, 249, 250, 251)
            for t in (_expr_type(a, scope) for a in args)
        ):
            return ColumnType(BLOB, 16777216, BINARY, 0, BINARY_CHARSET)
        return ColumnType(BLOB, 16777216, 0, 0, UTF8MB4)
    interval = _interval_operands(node)
    if interval is not None:
        return _interval_type(interval[0], interval[1], scope, interval[2])
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
        operands = [node.left, node.right]
        return _numeric_result(node, [_operand_type(o, scope) for o in operands], operands)
    if isinstance(node, exp.Neg):
        return _negated(_expr_type(node.this, scope))
    if isinstance(node, exp.Mod):
        # MOD keeps its first operand's kind (a DECIMAL remainder is a DECIMAL).
        operands = [node.this, node.expression]
        typed_mod = function_type(
            "MOD",
            Args(
                [None if (t := _operand_type(o, scope)) is UNKNOWN else t for o in operands],
                [None, None],
            ),
        )
        return UNKNOWN if typed_mod is None else typed_mod
    if isinstance(node, exp.IntDiv):
        return _int_div_type(node, scope)
    if isinstance(node, exp.Is) or (isinstance(node, exp.Not) and isinstance(node.this, exp.Is)):
        return ColumnType(LONG, 1, NOT_NULL | BINARY)  # IS [NOT] NULL is never NULL
    if isinstance(node, exp.Not) and _expr_type(node.this, scope).flags & NOT_NULL:
        return ColumnType(LONG, 1, NOT_NULL | BINARY)  # NOT EXISTS (…): never NULL
    if isinstance(node, _COMPARISONS):
        return ColumnType(LONG, 1, BINARY)
    if isinstance(node, exp.Cast):
        if any(_unresolved_slot(p, scope) for p in node.to.find_all(exp.Placeholder)):
            return UNKNOWN  # CAST(x AS DECIMAL(?, ?)): typed per call
        return _cast_type(node.to, scope)
    if isinstance(node, exp.CurrentTimestamp) or (
        isinstance(node, exp.Anonymous) and node.name.upper() in ("NOW", "SYSDATE")
    ):
        return ColumnType(DATETIME, 19, NOT_NULL | BINARY)
    if isinstance(node, exp.CurrentDate):
        return ColumnType(DATE, 10, NOT_NULL | BINARY)
    if isinstance(node, _BITWISE):
        return ColumnType(LONGLONG, 21, UNSIGNED | BINARY)
    if isinstance(node, exp.Nullif):
        first = _expr_type(node.this, scope)
        if first is UNKNOWN:
            return UNKNOWN
        arg = _nullable(first)
        if arg.is_string:
            return ColumnType(arg.type, arg.length, arg.flags & ~BINARY, _STRING_DEC, arg.charset)
        return ColumnType(
            arg.type,
            arg.length,
            arg.flags | (BINARY if arg.charset == BINARY_CHARSET else 0),
            arg.decimals,
            arg.charset,
        )

    if isinstance(node, exp.Extract):
        return _extract_type(node)
    if isinstance(node, exp.Func) and not isinstance(
        node, exp.If | exp.Case | exp.Coalesce | exp.Abs | exp.Floor | exp.Ceil | exp.Round
    ):
        called = _function_call_type(node, scope)
        if called is not None:
            return called
    if isinstance(node, _INT_FUNCS):
        return ColumnType(LONG, 10, BINARY)
    if isinstance(node, _STRING_FUNCS):
        return ColumnType(VAR_STRING, 1020, 0, _STRING_DEC, UTF8MB4)
    if isinstance(node, exp.If | exp.Case | exp.Coalesce):
        branches: list[exp.Expr] = []
        if isinstance(node, exp.If):
            branches = [node.args["true"], node.args.get("false") or exp.Null()]
        elif isinstance(node, exp.Case):
            branches = [i.args["true"] for i in node.args.get("ifs") or ()] + [
                node.args.get("default") or exp.Null()
            ]
        else:
            branches = [node.this, *node.expressions]
        types = [_expr_type(b, scope) for b in branches]
        if (
            isinstance(node, exp.If)
            and [isinstance(b, exp.Null) for b in branches].count(True) == 1
        ):
            # IF(c, x, NULL) / IF(c, NULL, x): x's own attributes, nullable (MariaDB's
            # Item_func_if copies them rather than aggregating: IF(c, 5, NULL) INT(1)).
            other = types[1] if isinstance(branches[0], exp.Null) else types[0]
            if other is not UNKNOWN and (other.is_integer or other.is_decimal or other.is_float):
                return ColumnType(
                    other.type, other.length, (other.flags & UNSIGNED) | BINARY, other.decimals
                )
        common = _common(types, branches)
        if (
            isinstance(node, exp.Coalesce)
            and common is not UNKNOWN
            and common.type != NULL
            and any(t.flags & NOT_NULL for t in types)
        ):
            # COALESCE/IFNULL with a NOT NULL argument is never NULL.
            return dataclasses.replace(common, flags=common.flags | NOT_NULL)
        return common
    if isinstance(node, exp.Abs | exp.Floor | exp.Ceil | exp.Round):
        arg = _expr_type(node.this, scope)
        if arg is UNKNOWN:
            return UNKNOWN
        if arg.is_integer:
            # ABS widens to BIGINT; ROUND/FLOOR/CEIL keep an INT an INT (MariaDB 10.11).
            code = LONGLONG if isinstance(node, exp.Abs) or arg.type == LONGLONG else LONG
            return ColumnType(code, arg.length, BINARY | (arg.flags & UNSIGNED))
        if arg.is_decimal:
            if isinstance(node, exp.Abs):
                return ColumnType(NEWDECIMAL, arg.length, BINARY, arg.decimals)
            integer_digits = max(arg.precision - arg.decimals, 1)
            if isinstance(node, exp.Floor | exp.Ceil):
                # An integer one digit wider than the integer part (the carry).
                digits = integer_digits + 1
                if digits <= 18:
                    code = LONG if digits <= 9 else LONGLONG
                    return ColumnType(code, digits + 1, BINARY)
                return ColumnType(NEWDECIMAL, _decimal_length(digits, 0, False), BINARY, 0)
            places = node.args.get("decimals")
            wanted = 0
            if isinstance(places, exp.Expr):
                if _unresolved_slot(places, scope):
                    return UNKNOWN  # typed per call (SlotTyped)
                wanted = _int_argument(places, scope) or 0
            # ROUND(d, n): n decimals (a negative n: none), a carry digit when it
            # drops decimals (MariaDB 10.11: DECIMAL(10,2) → ROUND(x) DECIMAL(9,0)).
            scale = min(max(wanted, 0), 38)
            precision = integer_digits + (1 if scale < arg.decimals else 0) + scale
            return ColumnType(NEWDECIMAL, _decimal_length(precision, scale, False), BINARY, scale)
        if isinstance(node, exp.Round):
            # ROUND(double[, d]): d decimals (MariaDB 10.11: DOUBLE(17 + d, d)).
            places = node.args.get("decimals")
            if isinstance(places, exp.Expr) and _unresolved_slot(places, scope):
                return UNKNOWN
            kept = _int_argument(places, scope) if isinstance(places, exp.Expr) else 0
            if kept is not None and 0 <= kept < NOT_FIXED_DEC:
                return ColumnType(DOUBLE, 17 + kept, BINARY, kept)
        return ColumnType(
            DOUBLE, 23, BINARY, NOT_FIXED_DEC if isinstance(node, exp.Abs | exp.Round) else 0
        )
    return UNKNOWN


_BITWISE = _classes(
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "BitwiseNot",
    "BitwiseLeftShift",
    "BitwiseRightShift",
)
#: EXTRACT(unit FROM x): display lengths of the integer (MariaDB 10.11).
_EXTRACT_LENGTH = {"YEAR": 4, "MONTH": 2, "DAY": 2, "HOUR": 2, "MINUTE": 2, "SECOND": 2}


def _window_type(node: exp.Window, scope: _Scope) -> ColumnType:
    """A window function's result (MariaDB): ranking functions BIGINT, PERCENT_RANK and
    CUME_DIST DOUBLE, aggregates as without OVER, value functions their argument's."""
    f = node.this
    if isinstance(f, exp.RowNumber | exp.Rank | exp.DenseRank | exp.Ntile):
        return ColumnType(LONGLONG, 21, NOT_NULL | BINARY)
    if isinstance(f, exp.PercentRank | exp.CumeDist):
        return ColumnType(DOUBLE, 17, BINARY, 10)
    if isinstance(f, exp.Lag | exp.Lead | exp.FirstValue | exp.LastValue):
        inner = _expr_type(f.this, scope)
        if inner is UNKNOWN:
            return UNKNOWN
        arg = _nullable(inner)
        if arg.flags & ENUM_FLAG:  # an ENUM's value: MariaDB's VAR_STRING
            return ColumnType(VAR_STRING, arg.length, arg.flags & ~ENUM_FLAG, 0, arg.charset)
        if arg.is_string:  # shown with MariaDB's "not fixed" decimals, as MIN/MAX
            return ColumnType(arg.type, arg.length, arg.flags & ~BINARY, _STRING_DEC, arg.charset)
        if arg.type == DOUBLE:  # MariaDB announces the window value 23 wide
            return ColumnType(DOUBLE, 23, arg.flags, arg.decimals, arg.charset)
        return arg
    if isinstance(f, exp.Min | exp.Max):
        t = _expr_type(f, scope)
        if t.flags & ENUM_FLAG:  # a window MIN/MAX of an ENUM: MariaDB's VAR_STRING
            return ColumnType(VAR_STRING, t.length, t.flags & ~ENUM_FLAG, 0, t.charset)
        if t.type == DOUBLE:  # MariaDB announces the window value 23 wide
            return ColumnType(DOUBLE, 23, t.flags, t.decimals, t.charset)
        return t
    if isinstance(f, exp.Count | exp.Sum | exp.Avg):
        return _expr_type(f, scope)
    return UNKNOWN


def _extract_type(node: exp.Extract) -> ColumnType:
    unit = node.this.name.upper() if isinstance(node.this, exp.Expr) else ""
    if unit in _EXTRACT_LENGTH:
        return ColumnType(LONG, _EXTRACT_LENGTH[unit], BINARY)
    return ColumnType(LONGLONG, 21, BINARY)


def _interval_operands(node: exp.Expr) -> tuple[exp.Expr, str, exp.Expr | None] | None:
    """``(temporal operand, unit, amount)`` of date arithmetic: ``x + INTERVAL n unit``,
    ``INTERVAL n unit + x``, ``x - INTERVAL …``, ``DATE_ADD``/``DATE_SUB``/``ADDDATE``/
    ``SUBDATE``/``TIMESTAMPADD``; None for anything else."""

    def unit_of(holder: exp.Expr) -> str:
        unit = holder.args.get("unit")
        return unit.name.upper() if isinstance(unit, exp.Expr) else "DAY"

    if isinstance(node, exp.Add | exp.Sub):
        for temporal, other in ((node.this, node.expression), (node.expression, node.this)):
            if isinstance(other, exp.Interval) and not isinstance(temporal, exp.Interval):
                return temporal, unit_of(other), other.this
        return None
    if isinstance(node, exp.DateAdd | exp.DateSub | exp.TimestampAdd):
        return node.this, unit_of(node), node.expression
    if (
        isinstance(node, exp.Anonymous)
        and node.name.upper() in ("ADDDATE", "SUBDATE")
        and len(node.expressions) == 2
    ):
        second = node.expressions[1]
        if isinstance(second, exp.Interval):
            return node.expressions[0], unit_of(second), second.this
        return node.expressions[0], "DAY", second  # ADDDATE(d, 5): days
    return None


def _fraction_digits(unit: str, amount: exp.Expr | None, scope: _Scope) -> int | None:
    """The fractional digits an interval brings: 6 for a MICROSECOND unit, a SECOND
    amount's own (``INTERVAL 1.25 SECOND``: 2; MariaDB 10.11, measured), else 0; None
    for a SECOND amount held by a plan-cache slot without its value (typed per call)."""
    if "MICROSECOND" in unit:
        return 6
    if unit != "SECOND":
        return 0
    inner = amount.this if isinstance(amount, exp.Neg) else amount
    text: Any = None
    if isinstance(inner, exp.Literal):
        text = inner.name
    elif isinstance(inner, exp.Placeholder) and isinstance(inner.meta.get(SLOT), int):
        slots = scope.slots
        if slots is None:
            return None
        index = inner.meta[SLOT]
        if 0 <= index < len(slots) and slots[index].param is None:
            text = slots[index].raw
    if not isinstance(text, str):
        return 0
    _, dot, fraction = text.strip().strip("'").partition(".")
    return min(len(fraction), 6) if dot and fraction.isdigit() else 0


def _interval_type(
    operand: exp.Expr, unit: str, scope: _Scope, amount: exp.Expr | None = None
) -> ColumnType:
    """The result of date arithmetic as MariaDB 10.11 defines it (measured): a DATE
    stays a DATE for units of days or more and becomes a DATETIME otherwise, a
    DATETIME/TIMESTAMP is a DATETIME, a TIME a TIME (a DATETIME for units of weeks or
    more, whose value is NULL), anything else (a string, NULL) a
    CHAR of a DATETIME's characters; fractional digits are the operand's, 6 for a
    MICROSECOND unit or a string column, a SECOND amount's own."""
    base = _expr_type(operand, scope)
    digits = _fraction_digits(unit, amount, scope)
    if digits is None:
        return UNKNOWN
    micro = digits
    if base is not UNKNOWN and base.type == DATE:
        if unit in DATE_UNITS:
            return ColumnType(DATE, 10, BINARY)
        return ColumnType(DATETIME, 19 + (micro + 1 if micro else 0), BINARY, micro)
    if base is not UNKNOWN and base.type == TIME and unit in DATE_UNITS - {"DAY"}:
        # A TIME plus weeks or more: NULL (1441), typed as a DATETIME of its digits.
        dec = base.decimals if base.decimals <= 6 else 0
        return ColumnType(DATETIME, 19 + (dec + 1 if dec else 0), BINARY, dec)
    if base is not UNKNOWN and base.type in (DATETIME, TIMESTAMP, TIME):
        dec = max(base.decimals if base.decimals <= 6 else 0, micro)
        width = 10 if base.type == TIME else 19
        code = TIME if base.type == TIME else DATETIME
        return ColumnType(code, width + (dec + 1 if dec else 0), BINARY, dec)
    bare = operand.this if isinstance(operand, exp.Paren) else operand
    if isinstance(bare, exp.Null) or (
        isinstance(bare, exp.Literal) and bare.is_string and "." not in bare.name
    ):
        dec = micro
    else:
        dec = 6
    return ColumnType(STRING, 4 * (19 + (dec + 1 if dec else 0)), 0, dec, UTF8MB4)


def _function_name(node: exp.Func) -> str:
    """The function's name as MySQL spells it (``LOCATE`` for sqlglot's StrPosition)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    try:
        text = node.sql(dialect="mysql")
    except Exception:
        return ""
    head, paren, _ = text.partition("(")
    return head.strip().upper() if paren else ""


def _call_arguments(node: exp.Func) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return [e for e in node.expressions if isinstance(e, exp.Expr)]
    out: list[exp.Expr] = []
    for key in node.arg_types:
        value = node.args.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, exp.Expr):
                out.append(item)
    return out


def _int_argument(node: exp.Expr, scope: _Scope) -> int | None:
    """An argument's value when it is an integer literal (or a slot holding one)."""
    negative = isinstance(node, exp.Neg)
    inner = node.this if negative else node
    value: Any = None
    if isinstance(inner, exp.Literal) and not inner.is_string:
        value = inner.this
    elif isinstance(inner, exp.Placeholder) and isinstance(inner.meta.get(SLOT), int):
        index = inner.meta[SLOT]
        slots = scope.slots
        if slots is not None and 0 <= index < len(slots) and slots[index].param is None:
            value = slots[index].raw
    if not isinstance(value, str) or not value.isdigit():
        return None
    return -int(value) if negative else int(value)


_FUNCTION_NAMES = frozenset(FUNCTION_TYPES)


def _unresolved_slot(node: exp.Expr, scope: _Scope) -> bool:
    """A literal the plan cache made a slot, in a scope without this call's values."""
    inner = node.this if isinstance(node, exp.Neg) else node
    return (
        isinstance(inner, exp.Placeholder)
        and inner.meta.get(SLOT) is not None
        and scope.slots is None
    )


def _function_call_type(node: exp.Func, scope: _Scope) -> ColumnType | None:
    """A function's MySQL result type from :mod:`sharding.sql.function_types` (UNKNOWN
    while an argument is a slot without its value: typed per call, :class:`SlotTyped`)."""
    name = _function_name(node)
    if not name:
        return None
    arguments = _call_arguments(node)
    if any(_unresolved_slot(a, scope) for a in arguments) or (
        # A slot further in (``UPPER(CONCAT(0x61, 'b'))``): the argument's type, and
        # so this one's, is known per call only.
        scope.slots is None
        and name in _FUNCTION_NAMES
        and any(
            p.meta.get(SLOT) is not None for a in arguments for p in a.find_all(exp.Placeholder)
        )
    ):
        return UNKNOWN if name in _FUNCTION_NAMES else None
    types: list[ColumnType | None] = []
    for a in arguments:
        t = _expr_type(a, scope)
        types.append(None if t is UNKNOWN else t)
    ints = [_int_argument(a, scope) for a in arguments]
    coercible = [a.find(exp.Column, exp.Subquery) is None for a in arguments]
    return function_type(name, Args(types, ints, coercible))


def _aggregate_argument(node: exp.Expr) -> exp.Expr:
    """The argument of ``SUM(x)`` / ``SUM(DISTINCT x)`` (sqlglot: ``Distinct(expressions=[x])``)."""
    arg = node.this
    if isinstance(arg, exp.Distinct) and len(arg.expressions) == 1:
        arg = arg.expressions[0]
    return arg if isinstance(arg, exp.Expr) else exp.Null()


def _common(types: Sequence[ColumnType], nodes: Sequence[exp.Expr] | None = None) -> ColumnType:
    """The result type of IF/CASE/COALESCE: strings win, then DOUBLE, DECIMAL, integer.
    A number's size is MariaDB's aggregate of the operands' digits (``nodes``, when
    given, for a literal's own): the widest integer part and the largest scale, with a
    sign (``IF(c, 1, 0)`` INT(2), ``IFNULL((SELECT COUNT(*) …), 0)`` BIGINT(21))."""
    if any(t is UNKNOWN for t in types):
        return UNKNOWN
    pairs = [
        (t, nodes[i] if nodes is not None and i < len(nodes) else None)
        for i, t in enumerate(types)
        if t.type != NULL
    ]
    known = [t for t, _ in pairs]
    if not known:
        return ColumnType(NULL, 0, BINARY)
    if any(t.is_string or not (t.is_integer or t.is_decimal or t.is_float) for t in known):
        if all(
            t.type in (DATE, DATETIME, TIMESTAMP, TIME) and t.type == known[0].type for t in known
        ):
            return _nullable(known[0])
        if all(t.type in (DATE, DATETIME, TIMESTAMP, TIME) for t in known):
            return _mixed_temporal(known)
        return ColumnType(VAR_STRING, max(t.length for t in known), 0, _STRING_DEC, UTF8MB4)
    if any(t.is_float for t in known):
        # MariaDB's count_real_length(): the widest operand when the decimals are not
        # fixed (IFNULL(double, 0): 22), else the widest integer part and scale.
        decimals = integer_width = 0
        for t in known:
            if decimals < NOT_FIXED_DEC:
                decimals = max(decimals, t.decimals)
                integer_width = max(integer_width, t.length - t.decimals)
        widest = max(t.length for t in known)
        if decimals < NOT_FIXED_DEC:
            widest = integer_width + decimals
        return ColumnType(DOUBLE, min(widest, 255), BINARY, decimals)
    digits = [_precision(t, n) if n is not None else t.precision for t, n in pairs]
    scales = [t.decimals if t.is_decimal else 0 for t in known]
    integer_part = max(d - sc for d, sc in zip(digits, scales, strict=True))
    if any(t.is_decimal for t in known):
        scale = max(scales)
        return ColumnType(
            NEWDECIMAL, _decimal_length(integer_part + scale, scale, False), BINARY, scale
        )
    unsigned = [t.unsigned for t in known]
    if all(unsigned):
        code = LONGLONG if any(t.type == LONGLONG for t in known) else LONG
        return ColumnType(code, integer_part, BINARY | UNSIGNED)
    if any(u and t.type == LONGLONG for u, t in zip(unsigned, known, strict=True)):
        # An unsigned BIGINT with a signed integer: a DECIMAL holds both (MariaDB 10.11).
        return ColumnType(NEWDECIMAL, _decimal_length(integer_part, 0, False), BINARY, 0)
    code = LONGLONG if any(t.type == LONGLONG for t in known) else LONG
    return ColumnType(code, integer_part + 1, BINARY)


def _mixed_temporal(types: Sequence[ColumnType]) -> ColumnType:
    """IF/CASE/COALESCE/GREATEST of temporal values of different types (``COALESCE(d,
    dt)``, ``IF(c, d, tm)``): a DATETIME with the largest fraction (MariaDB 10.11,
    measured: a DATE is its midnight, a TIME today's date at that time)."""
    fsp = max((t.decimals for t in types if 0 < t.decimals <= 6), default=0)
    return ColumnType(DATETIME, 19 + (fsp + 1 if fsp else 0), BINARY, fsp, BINARY_CHARSET)


def _cast_type(to: exp.DataType, scope: _Scope) -> ColumnType:
    kind = to.this
    T = exp.DataType.Type
    # CAST(x AS CHAR(n)): n characters of utf8mb4 (4n bytes), BINARY(n) n bytes.
    first = to.expressions[0].this if to.expressions else None
    length = _int_argument(first, scope) if isinstance(first, exp.Expr) else None
    if kind == T.CHARACTER_SET:
        # CONVERT(x USING c) and CAST(x AS CHAR CHARACTER SET c) (sqlglot marks the
        # latter's type with a ``nested`` key): text, or bytes for ``binary``; MariaDB
        # gives CONVERT's 39 decimals, CAST's 0 (10.11, measured).
        charset = to.args.get("kind")
        decimals = 0 if "nested" in to.args else _STRING_DEC
        if isinstance(charset, exp.Expr) and charset.name.lower() == "binary":
            size = 255 if length is None else length
            return ColumnType(VAR_STRING, size, BINARY, decimals, BINARY_CHARSET)
        return ColumnType(VAR_STRING, 1020 if length is None else 4 * length, 0, decimals, UTF8MB4)
    if kind in (T.CHAR, T.VARCHAR, T.NCHAR, T.NVARCHAR, T.TEXT):
        return ColumnType(VAR_STRING, 1020 if length is None else 4 * length, 0, 0, UTF8MB4)
    if kind in (T.BINARY, T.VARBINARY):
        return ColumnType(VAR_STRING, 255 if length is None else length, BINARY, 0, BINARY_CHARSET)
    if kind in (T.DECIMAL,):
        params = [
            n
            for p in to.expressions
            if isinstance(p.this, exp.Expr) and (n := _int_argument(p.this, scope)) is not None
        ]
        precision = params[0] if params else 10
        scale = params[1] if len(params) > 1 else 0
        return ColumnType(NEWDECIMAL, _decimal_length(precision, scale, False), BINARY, scale)
    if kind in (T.DATE,):
        return ColumnType(DATE, 10, BINARY)
    if kind in (T.DATETIME, T.TIMESTAMP):
        return ColumnType(DATETIME, 19, BINARY)
    if kind in (T.TIME,):
        return ColumnType(TIME, 10, BINARY)
    if kind in (T.DOUBLE, T.FLOAT):
        return ColumnType(DOUBLE, 22, BINARY, NOT_FIXED_DEC)
    unsigned = kind in (T.UBIGINT, T.UINT, T.UTINYINT, T.USMALLINT, T.UMEDIUMINT)
    return ColumnType(LONGLONG, 21 if not unsigned else 20, BINARY | (UNSIGNED if unsigned else 0))


# -- materialised subqueries (issue 18) -------------------------------------------------------

#: The ``meta`` key of a node that stands for a subquery the coordinator ran first
#: (:mod:`sharding.sql.materialize`, :mod:`sharding.sql.decorrelate`): its value is the
#: :class:`ColumnType` MariaDB gives the subquery where it was written. The node itself
#: (literals, a ``CASE`` over them) is typed otherwise by the shard — ``INT(1)`` for a
#: count of 7, the literal's length for a string, NOT NULL — so a select item that is
#: such a node is sent with this definition (:func:`describe_block` marks it
#: ``table_column``: :func:`result_columns` prefers it to the shard's).
CARRIED = "sg_wire"

#: The definition of ``x IN (subquery)`` (and of ``(a, b) IN (subquery)``): MariaDB
#: announces it 21 wide and nullable, whatever its operands (10.11, measured).
IN_SUBQUERY = ColumnType(LONG, 21, BINARY)
#: The definition of ``EXISTS (subquery)``: one digit, never NULL.
EXISTS_SUBQUERY = ColumnType(LONG, 1, NOT_NULL | BINARY)
#: The definition of a scalar ``(SELECT COUNT(…) …)``: COUNT's, nullable.
COUNT_SUBQUERY = ColumnType(LONGLONG, 21, BINARY)


def _subquery_type(node: exp.Subquery, scope: _Scope) -> ColumnType:
    """A scalar subquery's definition (:func:`subquery_definition`) from its one select
    item's, typed in the subquery's own FROM clause: ``(SELECT MAX(weight) FROM regions
    r WHERE r.code = c.region)`` as ``MAX(weight)`` of ``regions`` is, nullable. UNKNOWN
    for anything else (a UNION, a grouped block, several items, an item naming the
    outer query). A literal of the item that a plan-cache slot stands for is typed per
    call, as the block's own are (:class:`SlotTyped`)."""
    inner = node.this
    if not isinstance(inner, exp.Select) or len(inner.expressions) != 1:
        return UNKNOWN
    if inner.args.get("group") or inner.args.get("with_") or inner.args.get("with"):
        return UNKNOWN
    item = inner.expressions[0]
    if node.args.get("alias") is not None:
        return UNKNOWN
    if isinstance(item, exp.Star) or (
        isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
    ):
        return UNKNOWN
    own = _Scope(inner, scope.tables, scope.database, scope.ctes)
    own.slots, own.values = scope.slots, scope.values  # a slot of the item: this call's
    if not own.order:
        return UNKNOWN  # no table of the catalog: nothing is typed from it
    typed = _expr_type(item, own)
    return UNKNOWN if typed is UNKNOWN else subquery_definition(typed, inner)


def _carried(node: exp.Expr) -> ColumnType | None:
    meta = node._meta  # not ``node.meta``: that would give every node a dict
    found = meta.get(CARRIED) if meta else None
    return found if isinstance(found, ColumnType) else None


def _carried_item(item: exp.Expr) -> ColumnType | None:
    """The carried definition of a select item that is a materialised subquery (under
    an alias or parentheses); None for anything else — a carried node inside an
    expression is only an operand's type there (:func:`_expr_type`)."""
    node: exp.Expr | None = item
    while node is not None:
        carried = _carried(node)
        if carried is not None:
            return carried
        node = node.this if isinstance(node, exp.Alias | exp.Paren) else None
    return None


def _holds_carried(item: exp.Expr) -> bool:
    """Whether a node of ``item`` stands for a materialised subquery."""
    return any(_carried(node) is not None for node in item.walk())


def _enum_value(inner: ColumnType, block: exp.Expr | None, index: int) -> bool:
    """Whether ``inner``, the definition of item ``index`` of the subquery's ``block``,
    is an ENUM's or SET's value: a VARCHAR of decimals 0 from a ``MIN``/``MAX`` the
    block does not group through a temporary table (:func:`_expr_type`; another
    string's is 39 there, and grouped through one an ENUM's keeps its flag)."""
    if not isinstance(block, exp.Select) or inner.type != VAR_STRING or inner.decimals:
        return False
    items = block.expressions
    node = items[index] if 0 <= index < len(items) else None
    while isinstance(node, exp.Alias | exp.Paren):
        node = node.this
    return isinstance(node, exp.Min | exp.Max) and not _groups_to_fields(block)


def subquery_definition(
    inner: ColumnType, block: exp.Expr | None = None, index: int = 0
) -> ColumnType:
    """MariaDB's definition of a scalar subquery whose one result column has the
    definition ``inner`` (``SELECT (SELECT MAX(status) FROM orders) FROM t`` vs
    ``SELECT MAX(status) FROM orders``; 10.11, measured):

    * nullable (a subquery may find no row), no key, default or ZEROFILL flags; UNSIGNED
      and BINARY kept, BINARY added for a value of the binary character set (numbers,
      temporal values: ``FLOAT`` and ``YEAR`` columns have none of their own);
    * an ENUM or SET value becomes a VARCHAR of the same length, decimals 0 (a column,
      or a ``MIN``/``MAX`` of one: the subquery's ``block`` and the item's ``index``
      tell, :func:`_enum_value`);
    * other strings show MariaDB's "not fixed" decimals (39), as an aggregate's do;
    * type code, length and the rest as they were: ``COUNT`` stays ``BIGINT(21)``,
      ``SUM`` of a ``DECIMAL(10,2)`` ``DECIMAL(34,2)``, ``MIN`` of a ``VARCHAR(16)`` 64
      wide.

    Not modelled: a TEXT or JSON column read as such (MariaDB widens the length of a
    text BLOB again and announces JSON as LONGBLOB); their aggregates are."""
    flags = inner.flags & (UNSIGNED | BINARY)
    if inner.charset == BINARY_CHARSET:
        flags |= BINARY
    code, decimals = inner.type, inner.decimals
    if inner.flags & (ENUM_FLAG | SET_FLAG):
        code = VAR_STRING
    elif code in (VAR_STRING, STRING, BLOB) and not _enum_value(inner, block, index):
        decimals = _STRING_DEC
    return ColumnType(code, inner.length, flags, decimals, inner.charset)


# -- result columns at execution -----------------------------------------------------------

#: A value no rule types (an expression the coordinator computes, on a shard that sends
#: no metadata it could copy): announced as LONGTEXT in utf8mb4, which every value
#: fits as text — never a type guessed from the values.
CONSERVATIVE = ColumnType(BLOB, 0xFFFFFFFF, BLOB_FLAG, _STRING_DEC, UTF8MB4)


def constant_type(node: exp.Expr) -> ColumnType:
    """MariaDB's definition of an expression that names no column (a literal, NULL,
    TRUE, arithmetic of literals): the rules above, :data:`CONSERVATIVE` where none
    applies."""
    t = _expr_type(node, _Scope(exp.Select(), {}, None))
    return CONSERVATIVE if t is UNKNOWN else t


def shard_positions(node: PlanNode) -> list[int | None] | None:
    """For each output position of plan node ``node``: the position of the shard
    column whose values it passes on unchanged, or None for a value the coordinator
    computes (merged aggregates, expressions, join rows). The whole result is None
    when every output position is the shard column at the same position (a
    passthrough read, a concatenation or merge of shard rows).

    One ``match`` arm per :data:`~sharding.sql.nodes.PlanNode` member, ending in
    ``assert_never``: mypy reports a node type without an arm."""
    match node:
        case Passthrough() | ConcatNode() | MergeSortNode():
            return None
        case LimitNode() | SortNode() | FilterNode() | DistinctNode() | HeldNode():
            return shard_positions(node.child)
        case SelectPlan():
            # Issue 18.3: a derived table's rows, computed by a plan of their own.
            return [None] * len(node.columns) if node.columns is not None else []
        case ProjectNode():
            if node.columns is not None:
                below = shard_positions(node.child)
                if below is None:
                    return list(node.columns)
                return [below[c] if 0 <= c < len(below) else None for c in node.columns]
            if node.exprs is not None:
                # The select list over merged rows: an item that is a merged value itself
                # (a group column, an aggregate) is a plain reference to its input position.
                below = shard_positions(node.child)
                out: list[int | None] = []
                for fn in node.exprs:
                    ref = plain_reference(fn)
                    if ref is None and below is not None:
                        ref = appended_offset(fn)  # a value a BackendEvalNode computed
                    if ref is None or (below is not None and not -len(below) <= ref < len(below)):
                        out.append(None)
                    else:
                        out.append(ref if below is None else below[ref])
                return out
            return []  # computed: every position None
        case WindowNode():
            # Shard columns pass through; the window values are computed (issue 18.5).
            below = shard_positions(node.child)
            passed: list[int | None] = list(range(node.width)) if below is None else list(below)
            return [*passed, *([None] * len(node.funcs))]
        case BackendEvalNode():
            # The input's positions, then the appended values: the data source's own
            # definitions, at the end of the column list the session gives (negative).
            below = shard_positions(node.child)
            if below is None:
                return []
            width = len(node.exprs)
            return [*below, *range(-width, 0)]
        case AggregateNode():
            if node.mode != "merge":
                return []  # computed: every position None
            # (group values..., aggregate results...): a group value and a merged MIN,
            # MAX, SUM or COUNT keep the type of the shard's column (MariaDB types the
            # partial as it types the whole); AVG and DISTINCT aggregates are computed here.
            # Not when the shards group and the statement does not (a DISTINCT aggregate
            # without GROUP BY: the shards group by its argument) or not as it does (WITH
            # ROLLUP): MariaDB defines a value it groups through a temporary table by that
            # table's field (MAX of a DOUBLE 22 wide, no BINARY flag), one it does not by
            # the aggregate (23, BINARY): those are computed by the rules.
            below = shard_positions(node.child)
            sources: list[int | None] = list(node.group_columns)
            regrouped = node.rollup or (
                not node.group_columns and any(s.distinct for s in node.specs)
            )
            for spec in node.specs:
                keeps = (
                    spec.func
                    in ("min", "max", "sum", "count", "count_star", "bit_and", "bit_or", "bit_xor")
                    and not spec.distinct
                    and spec.columns
                    and not regrouped
                )
                sources.append(spec.columns[0] if keeps else None)
            if below is None:
                return sources
            return [below[p] if p is not None and 0 <= p < len(below) else None for p in sources]
        case UnionNode() | SortMergeJoinNode():
            return []  # computed: every position None
        case _:
            assert_never(node)


def plain_reference(fn: object) -> int | None:
    """The input position a compiled select item reads unchanged (``row[i]``), if it
    is one (:meth:`sharding.merge.evaluate.Compiler.compile` of a resolved reference)."""
    code = getattr(fn, "__code__", None)
    if code is None or code is not _REF_CODE:
        return None
    cells: tuple[Any, ...] = getattr(fn, "__closure__", None) or ()
    value = cells[0].cell_contents if len(cells) == 1 else None
    return value if isinstance(value, int) else None


class _AnyRef:
    """A resolver resolving everything to position 0 (finds the reference code)."""

    def lookup(self, node: exp.Expr) -> Ref | None:
        return Ref(0)

    def missing(self, node: exp.Expr) -> Exception:
        return LookupError(node)

    def slot(self, node: exp.Placeholder) -> int:
        return 0


_REF_CODE = Compiler(_AnyRef(), MYSQL).compile(exp.column("x")).fn.__code__


def result_columns(
    names: Sequence[str],
    derived: Sequence[ColumnType | SlotTyped | None] | None,
    positions: list[int | None] | None,
    shard: Sequence[Column] | None,
    slots: Sequence[Slot],
    values: Sequence[Any],
    *,
    shard_metadata: bool,
) -> list[Column]:
    """The definitions a result is sent with, one per output column (issue 14.6):

    * a table column: the catalog's definition (``derived``, marked ``table_column``),
      as MariaDB sends it for the logical table. Not the shard's: the physical table
      can differ from the logical one (no AUTO_INCREMENT where the coordinator
      assigns the ids), and over several shards the reads may be one ``UNION ALL``
      per data source (``exec/batch``), whose metadata drops key flags and ENUM/SET;
    * a materialised subquery (:data:`CARRIED`, marked ``table_column`` too): its own
      definition, not the shard's typing of the literals that replaced it;
    * another value passed on from a shard (``positions``): the shard's own column
      definition — MariaDB's, for an expression or aggregate the shard computed;
    * a value the coordinator computes: the type MariaDB's rules give
      (:func:`describe_select`; :class:`SlotTyped` ones with this call's ``slots``
      and their ``values``);
    * neither: :data:`CONSERVATIVE` text — never a type read from the values. On
      shards without metadata (SQLite, ``shard_metadata`` false) the rules type every
      expression those shards accept (:mod:`sharding.sql.function_types`), so this is
      left for what no rule knows.
    """
    out: list[Column] = []
    for i, name in enumerate(names):
        entry = derived[i] if derived is not None and i < len(derived) else None
        rule = entry.resolve(slots, values) if isinstance(entry, SlotTyped) else entry
        # The origin holds even where the type is not known (a parameter's: UNKNOWN,
        # which carries none, and the shard's definition is sent).
        origin = entry.origin if entry is not None else None
        if rule is UNKNOWN:
            rule = None
        pos: int | None = i if positions is None else (positions[i] if i < len(positions) else None)
        from_shard = (
            shard[pos].wire if shard is not None and pos is not None and pos < len(shard) else None
        )
        wire: ColumnType | None
        if from_shard is not None and (rule is None or not rule.table_column):
            wire = from_shard
        elif rule is not None:
            wire = rule
        else:
            wire = CONSERVATIVE
        if origin is not None and wire.origin != origin:
            wire = dataclasses.replace(wire, origin=origin)
        out.append(Column(name, wire.type, wire))
    return out
