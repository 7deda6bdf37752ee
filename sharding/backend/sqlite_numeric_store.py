"""MySQL's store of a number into an integer, DECIMAL or FLOAT column on SQLite shards (issue 15).

MySQL converts a value to the column's type when it stores it; SQLite keeps what the
statement computed (its affinity only turns an integral REAL into an integer):

* an integer column (TINYINT … BIGINT, signed or UNSIGNED, BOOLEAN) stores a
  non-integer rounded half away from zero (``3.5`` is 4, ``n / 2``, ``'4.6'`` is 5, a
  DOUBLE column's 3.7 is 4) and refuses a value past the column's range in strict
  mode: ``Out of range value for column 'n' at row 1`` (1264; ``-0.4`` into an
  UNSIGNED too);
* a DECIMAL(p,s) column stores the value rounded to ``s`` decimals half away from
  zero — an exact value's and a DOUBLE's alike (MySQL converts a DOUBLE to DECIMAL
  through its shortest decimal form: ``2.675e0`` is 2.68, ``2.5e0`` into DECIMAL(10,0)
  is 3), which SQLite's ``round(x, s)`` computes for the 15 significant digits a
  DECIMAL column holds here — and refuses a value whose rounding has more than
  ``p - s`` integer digits (1264; any negative value in an UNSIGNED one). Was stored
  unrounded: ``1.25`` into DECIMAL(10,1) read back as 1.3 but computed as 1.25
  (``a * 2`` was 2.5, MySQL's 2.6). MySQL's note 1265 ("Data truncated") for a
  rounded value is not given (a trigger cannot warn);
* a FLOAT column stores the single-precision value (``0.1`` is 0.10000000149011612,
  which arithmetic, comparisons and ``SUM`` then compute with) and refuses a value
  past ±3.402823466e38 (1264); it is shown with 6 significant digits (the read
  converter and :func:`float_shown` / :func:`float_text`, registered on every shard
  connection).

On a shard this is plain SQL the shard file carries, so any SQLite connection may
write it (a loader, a backup tool): column CHECK constraints (:func:`column_checks`,
named ``sg_num…$<column>``, mapped to MySQL's errors by :func:`violation`) refuse what
is out of range, and two triggers per table (:func:`store_triggers`, written by
:mod:`sharding.sql.ddl` next to the CHAR/ENUM triggers, named ``<table>$num_insert`` /
``<table>$num_update`` so ALTER TABLE rebuilds them) rewrite a value that is not yet
what MySQL stores with a nested UPDATE. The single-precision rounding is Veltkamp's
split (``c = x * (2**29 + 1)``, ``c - (c - x)``: the nearest 24-bit value, ties to
even, exactly as C's ``(float) x`` for normal numbers). The nested UPDATE is no change
a client sees: the affected-rows and ON UPDATE CURRENT_TIMESTAMP triggers compare the
values as stored (:func:`changed_sql`), and SQLite fires the ON UPDATE trigger (made
after these) first.

What cannot be MySQL's is refused (1235), never stored differently:

* an exact tie whose two roundings differ (``2.5``, ``-0.5``; ``3.5`` is 4 either
  way): MySQL rounds an exact value (DECIMAL, string) half away from zero but a DOUBLE
  (``2.5e0``, a DOUBLE column) half to even (``rint``), and SQLite's REAL no longer
  says which it was;
* a non-integer value into a key column (PRIMARY KEY, UNIQUE, the shard key): the row
  was placed and checked by the unrounded value;
* a REAL within BIGINT UNSIGNED's range beyond 2**63 - 1 (``18446744073709551615``),
  which no SQLite integer holds, and a FLOAT below the smallest normal single
  (1.175494e-38), which C stores with fewer bits;
* ``INSERT IGNORE`` of a value past the range (MySQL stores the range's end; the
  backend refuses any constraint IGNORE would adjust).

The error's row number is always 1: the shard does not know the client's row. Shard
files created before these constraints keep SQLite's values until the table is
created again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlglot import exp

from sharding.errors import NotSupported, ShardgateError

#: Trigger name suffixes (after the physical table name) this module writes.
INSERT_SUFFIX = "$num_insert"
UPDATE_SUFFIX = "$num_update"

_T = exp.DataType.Type
#: MySQL's integer ranges by sqlglot type.
_RANGES: dict[Any, tuple[int, int]] = {
    _T.TINYINT: (-(2**7), 2**7 - 1),
    _T.BOOLEAN: (-(2**7), 2**7 - 1),
    _T.UTINYINT: (0, 2**8 - 1),
    _T.SMALLINT: (-(2**15), 2**15 - 1),
    _T.USMALLINT: (0, 2**16 - 1),
    _T.MEDIUMINT: (-(2**23), 2**23 - 1),
    _T.UMEDIUMINT: (0, 2**24 - 1),
    _T.INT: (-(2**31), 2**31 - 1),
    _T.UINT: (0, 2**32 - 1),
    _T.BIGINT: (-(2**63), 2**63 - 1),
    _T.UBIGINT: (0, 2**64 - 1),
}
#: The largest FLOAT (C's FLT_MAX, as a double) and the smallest normal one (FLT_MIN).
FLT_MAX = 3.4028234663852886e38
FLT_MIN = 1.1754943508222875e-38


@dataclass(frozen=True, slots=True)
class StoredColumn:
    """A column whose stored value MySQL converts: an integer range, a DECIMAL's scale
    and integer digits, or FLOAT."""

    name: str
    low: int = 0
    high: int = 0
    is_float: bool = False
    key: bool = False
    #: DECIMAL(p,s): ``s``, and ``p - s`` (the integer digits); None for other types.
    scale: int | None = None
    whole_digits: int = 0
    unsigned: bool = False


def stored_column(name: str, kind: exp.Expr | None) -> StoredColumn | None:
    """The store rule of a column of type ``kind``, or None (no conversion needed; a
    ``REAL``, MySQL's DOUBLE, comes as DOUBLE from :mod:`sharding.sql.ddl`). FLOAT(M,D)
    is refused: MySQL also rounds it to D decimals."""
    if not isinstance(kind, exp.DataType):
        return None
    if kind.this in _RANGES:
        low, high = _RANGES[kind.this]
        return StoredColumn(name, low, high)
    if kind.this in (_T.DECIMAL, _T.UDECIMAL):
        params = [p.name for p in kind.expressions]
        precision = int(params[0]) if params and params[0].isdigit() else 10
        scale = int(params[1]) if len(params) > 1 and params[1].isdigit() else 0
        return StoredColumn(
            name,
            scale=scale,
            whole_digits=precision - scale,
            unsigned=kind.this == _T.UDECIMAL,
        )
    if kind.this == _T.FLOAT:
        params = [p.name for p in kind.expressions]
        if len(params) >= 2:
            raise NotSupported(
                f"FLOAT(M,D) column '{name}' on the embedded SQLite default (MySQL "
                "rounds it to D decimals); FLOAT, DOUBLE or DECIMAL(M,D)"
            )
        if params and params[0].isdigit() and int(params[0]) > 24:
            return None  # FLOAT(25..53) is a DOUBLE
        return StoredColumn(name, is_float=True)
    return None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _real(value: float) -> str:
    """A double as a SQLite literal that reads back as the same double."""
    return repr(float(value))


# ---------------------------------------------------------------------- SQL pieces
# Small on purpose: SQLite compiles a table's CHECK constraints and triggers into every
# INSERT/UPDATE statement it prepares (a shard statement's values are inlined, so each
# is prepared anew).
def rounded_sql(ref: str) -> str:
    """SQL of the integer MySQL stores for the REAL ``ref``: SQLite's ``round`` is half
    away from zero (``(x + 0.5)`` truncated: off only within 2**-54 below a tie of a
    value under 0.5)."""
    return f"round({ref})"


def _tie_sql(ref: str) -> str:
    """SQL true for a tie whose two roundings differ (``2.5``: 3 or 2; ``-0.5``): twice
    the value is an integer 1 or -1 modulo 4."""
    twice = f"CAST({ref} * 2 AS INTEGER)"
    return f"({ref} * 2 = {twice} AND {twice} % 4 IN (1, -1))"


def single_sql(ref: str) -> str:
    """SQL of the single-precision value of the REAL ``ref`` (module doc: Veltkamp)."""
    return f"({ref} * 536870913.0 - ({ref} * 536870913.0 - {ref}))"


_PREFIX = "sg_num"
_RANGE, _WIDE, _KEY, _TINY, _TIE = "range", "wide", "key", "tiny", "tie"


def _name(kind: str, column: str) -> str:
    return _ident(f"{_PREFIX}_{kind}${column}")


def column_checks(column: StoredColumn) -> str:
    """The column's CHECK constraints (module doc), in the order SQLite tests them
    (after the column's strict CHECK, which refuses text: 1366). NULL passes them."""
    c = _ident(column.name)
    if column.scale is not None:
        decimal_checks = []
        if column.key:
            # The row was placed and checked by the unrounded value.
            decimal_checks.append(
                f"CONSTRAINT {_name(_KEY, column.name)} CHECK ({c} = round({c}, {column.scale}))"
            )
        low = f"{c} >= 0 AND " if column.unsigned else ""
        decimal_checks.append(
            f"CONSTRAINT {_name(_RANGE, column.name)} CHECK ({low}abs(round({c}, "
            f"{column.scale})) < {10**column.whole_digits})"
        )
        return " ".join(decimal_checks)
    if column.is_float:
        return (
            f"CONSTRAINT {_name(_RANGE, column.name)} CHECK (abs({c}) <= {_real(FLT_MAX)}) "
            f"CONSTRAINT {_name(_TINY, column.name)} CHECK ({c} = 0 OR abs({c}) >= "
            f"{_real(FLT_MIN)})"
        )
    checks: list[str] = []
    if column.key:
        checks.append(f"CONSTRAINT {_name(_KEY, column.name)} CHECK (typeof({c}) <> 'real')")
    if column.high > 2**63:
        checks.append(
            f"CONSTRAINT {_name(_WIDE, column.name)} CHECK ({c} < 9223372036854775808.0 OR "
            f"{c} > 18446744073709551616.0)"
        )
    # A value rounds into the range exactly when it is within half of it (a negative
    # one never fits an UNSIGNED: -0.4 too, as in MySQL); BIGINT's ends are doubles.
    if column.low == 0:
        low = f"{c} >= 0"
    elif column.low == -(2**63):
        low = f"{c} >= {_real(column.low)}"
    else:
        low = f"{c} > {_real(column.low - 0.5)}"
    checks.append(
        f"CONSTRAINT {_name(_RANGE, column.name)} CHECK ({low} AND "
        f"{c} < {_real(column.high + 0.5)})"
    )
    return " ".join(checks)


def _stored_sql(column: StoredColumn) -> str:
    """SQL of the value MySQL stores for the row's current value of the column (a tie
    the shard cannot round raises the refusal :func:`violation` maps)."""
    c = _ident(column.name)
    if column.is_float:
        return f"CASE WHEN typeof({c}) = 'real' THEN {single_sql(c)} ELSE {c} END"
    if column.scale is not None:
        return f"CASE WHEN typeof({c}) = 'real' THEN round({c}, {column.scale}) ELSE {c} END"
    tie = _literal(f"{_PREFIX}_{_TIE}${column.name}")
    return (
        f"CASE WHEN typeof({c}) <> 'real' THEN {c} WHEN {_tie_sql(c)} THEN "
        f"RAISE(ABORT, {tie}) ELSE {rounded_sql(c)} END"
    )


def _needs_store(column: StoredColumn) -> str:
    """SQL true when ``NEW``'s value is not yet what MySQL stores."""
    c = "NEW." + _ident(column.name)
    if column.is_float:
        return f"{c} <> {single_sql(c)}"
    if column.scale is not None:
        return f"(typeof({c}) = 'real' AND {c} <> round({c}, {column.scale}))"
    return f"typeof({c}) = 'real'"


def store_triggers(
    columns: Sequence[StoredColumn], *, db_mark: str, table_mark: str, name_mark: str
) -> list[str]:
    """The two trigger templates of a table's integer/FLOAT columns (module doc); the
    marks are :mod:`sharding.sql.ddl`'s placeholders. A value already stored is MySQL's,
    so the nested UPDATE may recompute every column."""
    if not columns:
        return []
    when = " OR ".join(_needs_store(c) for c in columns)
    sets = ", ".join(f"{_ident(c.name)} = {_stored_sql(c)}" for c in columns)
    first = _ident(columns[0].name)
    names = ", ".join(_ident(c.name) for c in columns)
    return [
        # An inserted row's values are stored by the UPDATE trigger: assigning one of
        # its columns to itself fires it (one copy of the work to compile, not two).
        f"CREATE TRIGGER {db_mark}.{_ident(name_mark + INSERT_SUFFIX)} AFTER INSERT ON "
        f"{table_mark} FOR EACH ROW WHEN {when} BEGIN "
        f"UPDATE {table_mark} SET {first} = {first} WHERE rowid = NEW.rowid; END",
        f"CREATE TRIGGER {db_mark}.{_ident(name_mark + UPDATE_SUFFIX)} AFTER UPDATE OF "
        f"{names} ON {table_mark} FOR EACH ROW WHEN {when} BEGIN "
        f"UPDATE {table_mark} SET {sets} WHERE rowid = NEW.rowid; END",
    ]


# ---------------------------------------------------------------------- comparisons
_INT_DECL = re.compile(r"^\s*(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?\b|^\s*BOOLEAN\b", re.I)
_FLOAT_DECL = re.compile(r"^\s*FLOAT\s*$", re.IGNORECASE)
_DECIMAL_DECL = re.compile(r"^\s*DECIMAL_S(\d+)\b", re.IGNORECASE)


def changed_sql(column: str, decl: str) -> str | None:
    """SQL true when an update of an integer, DECIMAL or FLOAT column changed its stored
    value (``4`` → ``3.7`` is no change: MySQL stores 4; ``1.25`` → ``1.251`` of a
    DECIMAL(10,2) neither), or None for other columns."""
    c = _ident(column)
    old, new = f"OLD.{c}", f"NEW.{c}"
    if _INT_DECL.match(decl):
        return (
            f"({old} IS NOT {new} AND (typeof({old}) <> 'real' AND typeof({new}) <> 'real' "
            f"OR CASE WHEN typeof({old}) = 'real' THEN {rounded_sql(old)} ELSE {old} END IS NOT "
            f"CASE WHEN typeof({new}) = 'real' THEN {rounded_sql(new)} ELSE {new} END))"
        )
    if _FLOAT_DECL.match(decl):
        return f"({old} IS NOT {new} AND {single_sql(old)} IS NOT {single_sql(new)})"
    decimal = _DECIMAL_DECL.match(decl)
    if decimal is not None:
        # Both as they are stored: the nested UPDATE that rounds NEW sees the value
        # the statement wrote as OLD (no change to count).
        scale = decimal.group(1)
        return f"({old} IS NOT {new} AND round({old}, {scale}) IS NOT round({new}, {scale}))"
    return None


# ---------------------------------------------------------------------- errors
_FAILED = re.compile(
    r"(?:CHECK constraint failed: )?" + _PREFIX + r"_(range|wide|key|tiny|tie)\$(.+)$"
)


def violation(message: str) -> ShardgateError | None:
    """MySQL's error for a failed constraint or trigger of this module (None for other
    messages): 1264 past the range, 1235 for what the shard cannot store as MySQL."""
    m = _FAILED.search(message)
    if m is None:
        return None
    kind, column = m.group(1), m.group(2)
    if kind == _RANGE:
        return ShardgateError(
            f"Out of range value for column '{column}' at row 1", code=1264, sqlstate="22003"
        )
    why = {
        _WIDE: "a value beyond 9223372036854775807, which SQLite holds as a REAL",
        _KEY: "a value a key column stores rounded (a non-integer into an integer column, "
        "more decimals than a DECIMAL's scale: the row is placed by it before MySQL "
        "rounds it); ROUND(x) or ROUND(x, scale) in the statement",
        _TINY: "a FLOAT below 1.175494e-38 (MySQL stores it with fewer bits)",
        _TIE: "an x.5 value whose rounding depends on whether MySQL computed it as a "
        "DECIMAL (away from zero) or a DOUBLE (to even); ROUND(x) in the statement",
    }[kind]
    return NotSupported(f"{why}, stored in column '{column}' on the embedded SQLite default")


# ---------------------------------------------------------------------- FLOAT shown
def float_shown(x: Any) -> Any:
    """A FLOAT as MySQL shows it: its single-precision value to 6 significant digits
    (FLT_DIG: 0.10000000149011612 is 0.1, 123456792 is 123457000)."""
    if type(x) is float and math.isfinite(x):
        return float(f"{x:.6g}")
    return x


def float_text(x: Any) -> Any:
    """``sg_float_text(x)``: a FLOAT as MySQL writes it as text (``CONCAT(f)``,
    ``CAST(f AS CHAR)``): its 6 significant digits, positional for a decimal exponent
    from -15 to 14 (``0.00000123457``, ``123457000``), else ``1.23457e-16``/``1e30``
    (measured on MariaDB 10.11)."""
    if not isinstance(x, int | float) or isinstance(x, bool):
        return x
    d = Decimal(f"{float(x):.6g}").normalize()
    if d == 0:
        return "0"
    exponent = d.adjusted()
    if -15 <= exponent <= 14:
        return f"{d:f}"
    digits = "".join(str(n) for n in d.as_tuple().digits)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if d < 0 else ''}{mantissa}e{exponent}"


def functions() -> list[tuple[str, int, Any]]:
    """The functions every shard connection registers: (name, arguments, function) —
    reads' ``sg_float_text``, and those the shard file's JSON triggers call
    (:mod:`sharding.backend.sqlite_json_store`; registered from here, the one list
    :mod:`sharding.backend.sqlite_mysql` installs)."""
    from sharding.backend import sqlite_json_store

    return [("sg_float_text", 1, float_text), *sqlite_json_store.functions()]
