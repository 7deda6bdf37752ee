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

Where a rule is not modelled the column is announced as VAR_STRING (text); the result
sent at execution always carries its own column definitions, which a client reads.

This module knows no wire encoding: :class:`ColumnType` holds the numbers of a
Protocol::ColumnDefinition41 (type code, length, flags, decimals, character set) and the
protocol server copies them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp

from sharding.backend.base import Column
from sharding.catalog import ColumnInfo, TableInfo
from sharding.sql.rewrite import SLOT

__all__ = ["UNKNOWN", "ColumnType", "TypedColumn", "column_type", "describe_select"]

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


@dataclass(frozen=True, slots=True)
class ColumnType:
    """The numbers of one column definition, as MariaDB would announce them."""

    type: int
    length: int = 0
    flags: int = 0
    decimals: int = 0
    charset: int = BINARY_CHARSET

    @property
    def unsigned(self) -> bool:
        return bool(self.flags & UNSIGNED)

    @property
    def is_integer(self) -> bool:
        return self.type in INTEGER_TYPES

    @property
    def is_decimal(self) -> bool:
        return self.type in (NEWDECIMAL, DECIMAL)

    @property
    def is_float(self) -> bool:
        return self.type in (FLOAT, DOUBLE)

    @property
    def is_string(self) -> bool:
        return self.type in (VAR_STRING, STRING, BLOB, ENUM, SET) and self.charset != BINARY_CHARSET

    @property
    def precision(self) -> int:
        """Decimal digits of a number type (MariaDB's ``decimal_precision()``)."""
        if self.is_decimal:
            return max(self.length - (1 if self.decimals else 0) - (0 if self.unsigned else 1), 1)
        if self.is_integer:
            return _INT_PRECISION.get(self.type, 19) + (
                1 if self.type == LONGLONG and self.unsigned else 0
            )
        return self.length


@dataclass(frozen=True, slots=True)
class TypedColumn(Column):
    """A result column with the definition the coordinator derived for it (the
    protocol server sends it when the column's values fit its type)."""

    wire: ColumnType | None = None


_INT_PRECISION = {TINY: 3, SHORT: 5, INT24: 7, LONG: 10, LONGLONG: 19, YEAR: 4}
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
#: A type not derived (no rule for the expression): announced as text at prepare, the
#: values decide it at execution. Compared by identity.
UNKNOWN = ColumnType(VAR_STRING, 1020, 0, _STRING_DEC, UTF8MB4)


def _decimal_length(precision: int, scale: int, unsigned: bool) -> int:
    """MariaDB's ``my_decimal_precision_to_length``: digits, point, sign."""
    precision = min(precision, _MAX_DECIMAL_PRECISION)
    return precision + (1 if scale else 0) + (0 if unsigned else 1)


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
        self, select: exp.Select, tables: Mapping[tuple[str, str], TableInfo], database: str | None
    ) -> None:
        self.by_alias: dict[str, TableInfo] = {}
        self.order: list[TableInfo] = []
        sources: list[exp.Expr] = []
        from_ = select.args.get("from") or select.args.get("from_")
        if from_ is not None and from_.this is not None:
            sources.append(from_.this)
        for join in select.args.get("joins") or ():
            sources.append(join.this)
        for src in sources:
            if not isinstance(src, exp.Table):
                continue
            db = src.db or database or ""
            info = _lookup(tables, db, src.name)
            if info is None:
                continue
            self.by_alias[(src.alias_or_name).lower()] = info
            self.order.append(info)

    def column(self, col: exp.Column) -> tuple[ColumnInfo, TableInfo] | None:
        candidates = [self.by_alias.get(col.table.lower())] if col.table else self.order
        for info in candidates:
            if info is None:
                continue
            found = info.column(col.name)
            if found is not None:
                return found, info
        return None


def _lookup(tables: Mapping[tuple[str, str], TableInfo], db: str, name: str) -> TableInfo | None:
    for (d, n), info in tables.items():
        if d.lower() == db.lower() and n.lower() == name.lower():
            return info
    return None


def describe_select(
    tree: exp.Expr, tables: Mapping[tuple[str, str], TableInfo], database: str | None
) -> list[ColumnType] | None:
    """One :class:`ColumnType` per result column of a SELECT (the first branch of a
    UNION decides, as in MariaDB for same-typed branches); None when the columns are
    not known before running (``*`` over a table without catalog columns)."""
    while isinstance(tree, exp.Union | exp.Intersect | exp.Except):
        tree = tree.this
    if isinstance(tree, exp.Subquery):
        return describe_select(tree.this, tables, database)
    if not isinstance(tree, exp.Select):
        return None
    scope = _Scope(tree, tables, database)
    out: list[ColumnType] = []
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
            out.extend(column_type(c, t) for t in chosen for c in t.columns)
            continue
        out.append(_expr_type(item, scope))
    return out


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


def _numeric_result(args: Sequence[ColumnType], *, divide: bool = False) -> ColumnType:
    """The type of ``a + b``, ``a * b``, ``a / b`` (MariaDB's arithmetic result rules)."""
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    if any(not (a.is_integer or a.is_decimal) for a in args):
        return ColumnType(DOUBLE, 23, _NUM_RESULT, NOT_FIXED_DEC)
    scale = max((a.decimals for a in args if a.is_decimal), default=0)
    if divide:
        return ColumnType(NEWDECIMAL, 16, _NUM_RESULT, min(args[0].decimals + _DIV_INCREMENT, 38))
    if any(a.is_decimal for a in args):
        precision = max(a.precision - a.decimals for a in args) + scale + 1
        return ColumnType(NEWDECIMAL, _decimal_length(precision, scale, False), _NUM_RESULT, scale)
    return ColumnType(LONGLONG, 21, _NUM_RESULT)


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
    "Chr",
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
    if isinstance(node, exp.Alias | exp.Paren):
        return _expr_type(node.this, scope)
    if isinstance(node, exp.Column):
        found = scope.column(node)
        return column_type(*found) if found is not None else UNKNOWN
    if isinstance(node, exp.Literal):
        return _literal(node)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return _literal(node.this, negative=True)
    if isinstance(node, exp.Placeholder) and node.meta.get(SLOT) is not None:
        # A literal the plan cache made a slot: its type is the value's, per call.
        return UNKNOWN
    if (
        isinstance(node, exp.Neg)
        and isinstance(node.this, exp.Placeholder)
        and node.this.meta.get(SLOT) is not None
    ):
        return UNKNOWN
    if isinstance(node, exp.Null | exp.Placeholder):
        # MariaDB announces a ``?`` in the select list as NULL (its type comes with
        # the value bound at execution).
        return ColumnType(NULL, 0, BINARY)
    if isinstance(node, exp.Boolean):
        return ColumnType(LONG, 5, _LITERAL_FLAGS)
    if isinstance(node, exp.Count):
        return ColumnType(LONGLONG, 21, NOT_NULL | BINARY)
    if isinstance(node, exp.Sum | exp.Avg):
        arg = _expr_type(
            node.this.this if isinstance(node.this, exp.Distinct) else node.this, scope
        )
        if arg is UNKNOWN:
            return UNKNOWN
        if arg.is_float or arg.is_string or not (arg.is_integer or arg.is_decimal):
            return ColumnType(DOUBLE, 23, BINARY, NOT_FIXED_DEC)
        if isinstance(node, exp.Sum):
            return ColumnType(
                NEWDECIMAL,
                _decimal_length(arg.precision + 22, arg.decimals, False),
                BINARY,
                arg.decimals,
            )
        scale = min(arg.decimals + _DIV_INCREMENT, 38)
        return ColumnType(
            NEWDECIMAL, _decimal_length(arg.precision + _DIV_INCREMENT, scale, False), BINARY, scale
        )
    if isinstance(node, exp.Min | exp.Max):
        inner = _expr_type(node.this, scope)
        if inner is UNKNOWN:
            return UNKNOWN
        arg = _nullable(inner)
        if arg.is_string:
            return ColumnType(arg.type, arg.length, arg.flags & ~BINARY, _STRING_DEC, arg.charset)
        return ColumnType(
            arg.type,
            arg.length,
            arg.flags | (BINARY if arg.charset == BINARY_CHARSET else 0),
            arg.decimals,
            arg.charset,
        )
    if isinstance(node, exp.GroupConcat):
        return ColumnType(BLOB, 16777216, 0, 0, UTF8MB4)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul):
        return _numeric_result([_expr_type(node.left, scope), _expr_type(node.right, scope)])
    if isinstance(node, exp.Div):
        return _numeric_result(
            [_expr_type(node.left, scope), _expr_type(node.right, scope)], divide=True
        )
    if isinstance(node, exp.IntDiv | exp.Mod):
        return ColumnType(LONGLONG, 21, BINARY)
    if isinstance(node, _COMPARISONS):
        return ColumnType(LONG, 1, BINARY)
    if isinstance(node, exp.Cast):
        return _cast_type(node.to)
    if isinstance(node, exp.CurrentTimestamp) or (
        isinstance(node, exp.Anonymous) and node.name.upper() in ("NOW", "SYSDATE")
    ):
        return ColumnType(DATETIME, 19, NOT_NULL | BINARY)
    if isinstance(node, exp.CurrentDate):
        return ColumnType(DATE, 10, NOT_NULL | BINARY)
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
        return _common([_expr_type(b, scope) for b in branches])
    if isinstance(node, exp.Abs | exp.Floor | exp.Ceil | exp.Round):
        arg = _expr_type(node.this, scope)
        if arg is UNKNOWN:
            return UNKNOWN
        if arg.is_integer:
            return ColumnType(LONGLONG, arg.length, BINARY | (arg.flags & UNSIGNED))
        if arg.is_decimal:
            scale = arg.decimals
            places = node.args.get("decimals")
            if isinstance(node, exp.Round | exp.Floor | exp.Ceil):
                scale = 0
            if (
                isinstance(node, exp.Round)
                and isinstance(places, exp.Literal)
                and places.this.isdigit()
            ):
                scale = min(int(places.this), arg.decimals)
            return ColumnType(NEWDECIMAL, arg.length, BINARY, scale)
        return ColumnType(
            DOUBLE, 23, BINARY, NOT_FIXED_DEC if isinstance(node, exp.Abs | exp.Round) else 0
        )
    return UNKNOWN


def _common(types: Sequence[ColumnType]) -> ColumnType:
    """The result type of IF/CASE/COALESCE: strings win, then DOUBLE, DECIMAL, integer."""
    if any(t is UNKNOWN for t in types):
        return UNKNOWN
    known = [t for t in types if t.type != NULL]
    if not known:
        return ColumnType(NULL, 0, BINARY)
    if any(t.is_string or not (t.is_integer or t.is_decimal or t.is_float) for t in known):
        if all(
            t.type in (DATE, DATETIME, TIMESTAMP, TIME) and t.type == known[0].type for t in known
        ):
            return _nullable(known[0])
        return ColumnType(VAR_STRING, max(t.length for t in known), 0, _STRING_DEC, UTF8MB4)
    if any(t.is_float for t in known):
        return ColumnType(DOUBLE, 23, BINARY, NOT_FIXED_DEC)
    if any(t.is_decimal for t in known):
        scale = max(t.decimals for t in known)
        return ColumnType(NEWDECIMAL, max(t.length for t in known), BINARY, scale)
    code = LONGLONG if any(t.type == LONGLONG for t in known) else LONG
    return ColumnType(code, max(t.length for t in known), BINARY)


def _cast_type(to: exp.DataType) -> ColumnType:
    kind = to.this
    T = exp.DataType.Type
    if kind in (T.CHAR, T.VARCHAR, T.NCHAR, T.NVARCHAR, T.TEXT):
        return ColumnType(VAR_STRING, 1020, 0, 0, UTF8MB4)
    if kind in (T.BINARY, T.VARBINARY):
        return ColumnType(VAR_STRING, 255, BINARY, 0, BINARY_CHARSET)
    if kind in (T.DECIMAL,):
        params = [
            int(p.this.name) for p in to.expressions if p.this is not None and p.this.name.isdigit()
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
