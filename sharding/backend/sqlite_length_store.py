"""MySQL's length limits of string columns on SQLite shards (issue 15).

SQLite stores a text of any length in any column; MySQL's strict mode refuses a value
longer than the column holds with error 1406 (``Data too long for column 's' at row
1``) — a ``VARCHAR(3)`` took ``'abcd'`` on the embedded default, and a client reading it
back got four characters MySQL would never have stored. The limits:

* ``CHAR(n)``/``VARCHAR(n)`` (and the ``N`` forms) count characters (SQLite's
  ``length`` of a text); only trailing spaces may go past ``n``: MySQL cuts them (with
  a note, which a trigger cannot give) — ``'ab  '`` into ``VARCHAR(3)`` is ``'ab '``
  (a ``CHAR`` drops its trailing spaces anyway: :mod:`sharding.sql.ddl`);
* ``VARBINARY(n)`` counts bytes, ``TINYTEXT`` 255 and ``TEXT`` 65,535 bytes of UTF-8;
  any byte past the limit is 1406.

A column CHECK (``sg_len$<column>``, plain SQL the shard file carries, so every writer
of the file is held to it) refuses; :func:`violation` maps its failure to 1406. Two
triggers per table (``<table>$len_insert`` / ``$len_update``, rebuilt by ALTER TABLE
with the others) cut the trailing spaces of a ``VARCHAR``. NULL passes. Types whose
stored form SQLite cannot give are refused at CREATE TABLE (:func:`refuse_type`):
``BINARY(n)`` (MySQL pads with zero bytes, and compares the padded value), ``BIT(n)``
and ``YEAR``. Written by hand: SQL generated for SQLite's own constraint machinery.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlglot import exp

from sharding.errors import NotSupported, ShardgateError

__all__ = ["length_check", "length_limit", "refuse_type", "space_cut_triggers", "violation"]

_T = exp.DataType.Type
_PREFIX = "sg_len$"
#: Character-counted types (trailing spaces past the limit are cut, not refused).
_CHARACTERS = (_T.CHAR, _T.NCHAR, _T.VARCHAR, _T.NVARCHAR)
#: Byte-counted types with a fixed limit.
_BYTES_FIXED = {_T.TINYTEXT: 255, _T.TEXT: 65535}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def length_limit(kind: exp.Expr | None) -> tuple[int, bool] | None:
    """(the limit, whether it counts bytes) of a string column type; None for others
    (and for the long text types, whose limits the packet size meets first)."""
    if not isinstance(kind, exp.DataType):
        return None
    params = [p.name for p in kind.expressions]
    size = int(params[0]) if params and params[0].isdigit() else None
    if kind.this in _CHARACTERS:
        if size is None and kind.this in (_T.CHAR, _T.NCHAR):
            size = 1  # CHAR is CHAR(1)
        return None if size is None else (size, False)
    if kind.this == _T.VARBINARY and size is not None:
        return size, True
    if kind.this in _BYTES_FIXED:
        return _BYTES_FIXED[kind.this], True
    return None


def length_check(column: str, limit: int, in_bytes: bool) -> str:
    """The column's CHECK constraint (module doc)."""
    c = _ident(column)
    value = f"length(CAST({c} AS BLOB))" if in_bytes else f"length(rtrim({c}, ' '))"
    return f"CONSTRAINT {_ident(_PREFIX + column)} CHECK ({value} <= {limit})"


def space_cut_triggers(
    columns: Sequence[tuple[str, int]], *, db_mark: str, table_mark: str, name_mark: str
) -> list[str]:
    """Triggers cutting a VARCHAR's trailing spaces past its length (module doc);
    ``columns``: (name, length); the marks are :mod:`sharding.sql.ddl`'s placeholders."""
    if not columns:
        return []
    when = " OR ".join(f"length(NEW.{_ident(c)}) > {n}" for c, n in columns)
    sets = ", ".join(
        f"{_ident(c)} = CASE WHEN length({_ident(c)}) > {n} THEN substr({_ident(c)}, 1, {n}) "
        f"ELSE {_ident(c)} END"
        for c, n in columns
    )
    body = f"FOR EACH ROW WHEN {when} BEGIN UPDATE {table_mark} SET {sets} WHERE rowid = NEW.rowid; END"
    names = ", ".join(_ident(c) for c, _ in columns)
    return [
        f"CREATE TRIGGER {db_mark}.{_ident(name_mark + '$len_insert')} AFTER INSERT ON "
        f"{table_mark} {body}",
        f"CREATE TRIGGER {db_mark}.{_ident(name_mark + '$len_update')} AFTER UPDATE OF "
        f"{names} ON {table_mark} {body}",
    ]


def refuse_type(column: str, kind: exp.Expr | None) -> None:
    """1235 for a column type whose stored form SQLite cannot give (module doc)."""
    if not isinstance(kind, exp.DataType):
        return
    why = {
        _T.BINARY: "MySQL pads a BINARY(n) value with zero bytes and compares it padded",
        _T.BIT: "a BIT(n) value is stored and shown as bits",
        _T.YEAR: "MySQL stores a YEAR from 1901 to 2155, two-digit years as 19xx/20xx",
    }.get(kind.this)
    if why is not None:
        raise NotSupported(
            f"{kind.sql(dialect='mysql')} column '{column}' on the embedded SQLite default "
            f"({why}); a VARBINARY, an integer, or a MariaDB data source"
        )


_FAILED = re.compile(r"CHECK constraint failed: " + re.escape(_PREFIX) + r"(.+)$")


def violation(message: str) -> ShardgateError | None:
    """Error 1406 for a :func:`length_check` failure (None for other messages)."""
    m = _FAILED.search(message)
    if m is None:
        return None
    return ShardgateError(
        f"Data too long for column '{m.group(1)}' at row 1", code=1406, sqlstate="22001"
    )
