"""The column definitions of the results the coordinator answers itself.

Why: the protocol server sends every column with a whole definition decided before any
value exists (issue 14 item 6): the shard's own, the catalog's, MariaDB's rule for an
expression — and, for the answers made here (SHOW, ``information_schema``, variables,
session functions, EXPLAIN, the admin statements), the definition MariaDB 10.11 sends
for the same statement. Never a type read from the values.

One place builds them:

* :func:`typed` — a result column with a definition; :func:`varchar`, :func:`bigint`,
  :func:`double`, :func:`datetime` build the usual ones;
* :func:`show_columns` — a SHOW statement's columns, MariaDB's numbers
  (:mod:`sharding.local_columns_data`, measured on MariaDB 10.11);
* :func:`view_columns` — an ``information_schema`` view's columns;
* :func:`variable_type` / :func:`user_variable_type` / :data:`SESSION_FUNCTIONS` —
  ``@@x``, ``@x`` and ``DATABASE()``-like functions typed as MariaDB types them: a
  system variable by its declared kind (numbers BIGINT, strings VARCHAR as long as
  the current value — MariaDB sizes it from the value when the statement is
  prepared), a user variable by the type of what was assigned to it.

Invariants: every function here returns definitions that do not depend on any row of
the result; a name this module does not know is :data:`CONSERVATIVE` text (LONGTEXT,
which every value fits), never a guess.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sharding.backend.base import Column, ColumnType
from sharding.local_columns_data import INFORMATION_SCHEMA, SHOW
from sharding.sql.describe import CONSERVATIVE

__all__ = [
    "CONSERVATIVE",
    "SESSION_FUNCTIONS",
    "bigint",
    "datetime",
    "double",
    "parse_spec",
    "record_columns",
    "show_columns",
    "typed",
    "user_variable_type",
    "varchar",
    "variable_type",
    "version_type",
    "view_columns",
]

# Field types, flags and character sets (include/mysql_com.h).
_LONG, _DOUBLE, _NULL, _LONGLONG, _DATETIME = 3, 5, 6, 8, 12
_NEWDECIMAL, _LONG_BLOB, _VAR_STRING = 246, 251, 253
_NOT_NULL, _UNSIGNED, _BINARY = 1, 32, 128
_UTF8MB4, _BINARY_CHARSET = 45, 63
#: ``decimals`` of a string expression (no fixed scale).
_STRING_DEC = 39


def typed(name: str, t: ColumnType) -> Column:
    """A result column sent with definition ``t``."""
    return Column(name, t.type, t)


def varchar(name: str, chars: int, *, not_null: bool = False) -> Column:
    """A utf8mb4 VARCHAR expression column of ``chars`` characters."""
    return typed(
        name,
        ColumnType(_VAR_STRING, 4 * chars, _NOT_NULL if not_null else 0, _STRING_DEC, _UTF8MB4),
    )


def bigint(
    name: str, *, length: int = 21, unsigned: bool = False, not_null: bool = False
) -> Column:
    """A BIGINT column."""
    flags = _BINARY | (_UNSIGNED if unsigned else 0) | (_NOT_NULL if not_null else 0)
    return typed(name, ColumnType(_LONGLONG, length, flags, 0, _BINARY_CHARSET))


def double(name: str, *, decimals: int = 31, not_null: bool = False) -> Column:
    """A DOUBLE column (``decimals`` 31: no fixed scale)."""
    flags = _BINARY | (_NOT_NULL if not_null else 0)
    return typed(name, ColumnType(_DOUBLE, 22, flags, decimals, _BINARY_CHARSET))


def datetime(name: str, *, not_null: bool = False) -> Column:
    """A DATETIME column without fractional seconds."""
    flags = _BINARY | (_NOT_NULL if not_null else 0)
    return typed(name, ColumnType(_DATETIME, 19, flags, 0, _BINARY_CHARSET))


def parse_spec(spec: str) -> list[tuple[str, ColumnType]]:
    """``name:type/length/flags/decimals/charset ...`` (``~`` a space in a name)."""
    out: list[tuple[str, ColumnType]] = []
    for item in spec.split():
        name, _, numbers = item.rpartition(":")
        code, length, flags, decimals, charset = (int(n) for n in numbers.split("/"))
        out.append((name.replace("~", " "), ColumnType(code, length, flags, decimals, charset)))
    return out


@functools.cache
def _view(view: str) -> tuple[tuple[str, ColumnType], ...] | None:
    spec = INFORMATION_SCHEMA.get(view.upper())
    return None if spec is None else tuple(parse_spec(spec))


def view_columns(view: str) -> dict[str, ColumnType] | None:
    """The definitions of an ``information_schema`` view's columns by upper-case name
    (None: a view this module does not know)."""
    cols = _view(view)
    return None if cols is None else {n.upper(): t for n, t in cols}


@functools.cache
def _show(kind: str) -> tuple[tuple[str, ColumnType], ...]:
    return tuple(parse_spec(SHOW[kind]))


def show_columns(kind: str, names: Sequence[str] | None = None) -> list[Column]:
    """The columns of SHOW ``kind`` (a key of :data:`sharding.local_columns_data.SHOW`),
    MariaDB's definitions; ``names`` renames them in order (``Tables_in_db``,
    ``Database (pattern)``), or picks by name those of a shorter column list."""
    cols = _show(kind)
    if names is None:
        return [typed(n, t) for n, t in cols]
    if len(names) == len(cols):
        return [typed(name, t) for name, (_, t) in zip(names, cols, strict=True)]
    by_name = {n.lower(): t for n, t in cols}
    return [typed(n, by_name.get(n.lower(), CONSERVATIVE)) for n in names]


# -- variables and session functions ----------------------------------------------------


def variable_type(kind: str, value: Any) -> ColumnType:
    """``@@name`` of a system variable of declared ``kind``
    (:class:`sharding.session_state.Variable`): MariaDB's definition."""
    if kind == "uint":
        return ColumnType(_LONGLONG, 21, _UNSIGNED | _BINARY, 0, _BINARY_CHARSET)
    if kind == "bool":
        return ColumnType(_LONGLONG, 1, _BINARY, 0, _BINARY_CHARSET)
    if kind == "double":
        return ColumnType(_DOUBLE, 21, _BINARY, 6, _BINARY_CHARSET)
    # Strings, enums, sets, character sets, collations, time zones: a VARCHAR as long
    # as the current value (MariaDB fixes it when the statement is prepared).
    chars = 0 if value is None else len(str(value))
    return ColumnType(_VAR_STRING, 4 * chars, 0, _STRING_DEC, _UTF8MB4)


def user_variable_type(value: Any) -> ColumnType:
    """``@name``: typed by what was assigned to it (MariaDB keeps the assigned type)."""
    if value is None:
        return ColumnType(_LONG_BLOB, 16777216, _BINARY, _STRING_DEC, _BINARY_CHARSET)
    if isinstance(value, bool | int):
        return ColumnType(_LONGLONG, 20, _BINARY, 0, _BINARY_CHARSET)
    if isinstance(value, float):
        return ColumnType(_DOUBLE, 23, _BINARY, 31, _BINARY_CHARSET)
    if isinstance(value, Decimal):
        return ColumnType(_NEWDECIMAL, 83, _BINARY, 38, _BINARY_CHARSET)
    if isinstance(value, bytes | bytearray):
        return ColumnType(_LONG_BLOB, 16777216, _BINARY, _STRING_DEC, _BINARY_CHARSET)
    return ColumnType(_LONG_BLOB, 67108860, 0, _STRING_DEC, _UTF8MB4)


#: Session functions answered from the session state (``SELECT DATABASE()``):
#: MariaDB 10.11's definitions. VERSION()'s length is the version string's.
SESSION_FUNCTIONS: dict[str, ColumnType] = {
    "DATABASE": ColumnType(_VAR_STRING, 256, 0, _STRING_DEC, _UTF8MB4),
    "SCHEMA": ColumnType(_VAR_STRING, 256, 0, _STRING_DEC, _UTF8MB4),
    "USER": ColumnType(_VAR_STRING, 1536, 0, _STRING_DEC, _UTF8MB4),
    "CURRENT_USER": ColumnType(_VAR_STRING, 1536, 0, _STRING_DEC, _UTF8MB4),
    "SESSION_USER": ColumnType(_VAR_STRING, 1536, 0, _STRING_DEC, _UTF8MB4),
    "SYSTEM_USER": ColumnType(_VAR_STRING, 1536, 0, _STRING_DEC, _UTF8MB4),
    "CONNECTION_ID": ColumnType(_LONG, 10, _NOT_NULL | _UNSIGNED | _BINARY, 0, _BINARY_CHARSET),
    "LAST_INSERT_ID": ColumnType(
        _LONGLONG, 21, _NOT_NULL | _UNSIGNED | _BINARY, 0, _BINARY_CHARSET
    ),
    "ROW_COUNT": ColumnType(_LONGLONG, 21, _NOT_NULL | _BINARY, 0, _BINARY_CHARSET),
    "FOUND_ROWS": ColumnType(_LONGLONG, 21, _NOT_NULL | _BINARY, 0, _BINARY_CHARSET),
}


def version_type(version: str) -> ColumnType:
    """``VERSION()``: NOT NULL, as long as the version string."""
    return ColumnType(_VAR_STRING, 4 * len(version), _NOT_NULL, _STRING_DEC, _UTF8MB4)


# -- records (the admin statements) -------------------------------------------------------


def _annotation_type(annotation: Any) -> ColumnType:
    """A dataclass field's declared type as a column: int BIGINT, float DOUBLE, bool
    BIGINT(1), anything else text (str, dicts/lists sent as JSON text)."""
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        parts = set(text.split("|")) - {"None"}
        annotation = parts.pop() if len(parts) == 1 else text
    if annotation in (int, "int"):
        return ColumnType(_LONGLONG, 21, _BINARY, 0, _BINARY_CHARSET)
    if annotation in (float, "float"):
        return ColumnType(_DOUBLE, 22, _BINARY, 31, _BINARY_CHARSET)
    if annotation in (bool, "bool"):
        return ColumnType(_LONGLONG, 1, _BINARY, 0, _BINARY_CHARSET)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _annotation_type(args[0])
    return CONSERVATIVE


def record_columns(
    names: Sequence[str], record_type: type | None, extra: Mapping[str, Any] | None = None
) -> list[Column]:
    """Columns of a table of records of ``record_type`` (a dataclass): each typed by
    its field's declared type (``extra``: the declared types of fields added to the
    records beside the dataclass's); unknown fields (or no dataclass) as text."""
    declared: dict[str, Any] = {}
    if record_type is not None and dataclasses.is_dataclass(record_type):
        declared = {f.name: f.type for f in dataclasses.fields(record_type)}
    declared.update(extra or {})
    return [
        typed(n, _annotation_type(declared[n]) if n in declared else CONSERVATIVE) for n in names
    ]
