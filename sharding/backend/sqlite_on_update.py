"""``ON UPDATE CURRENT_TIMESTAMP`` on SQLite shards (issue 15).

Its own module because the attribute needs three cooperating pieces that no other
concept of :mod:`sharding.backend.sqlite_mysql` has: triggers the DDL path writes into
every shard file (so the attribute survives a restart and is rebuilt by ALTER TABLE
like the CHAR/ENUM triggers), functions every shard connection registers, and a
per-statement state the backend resets before each write.

MySQL's rule (MariaDB ``sql_update.cc``: ``compare_record`` then
``update_default_fields``): when an UPDATE (or the update of an ``INSERT … ON
DUPLICATE KEY UPDATE``) *changes* a row — byte for byte, as :func:`changed_row_sql`
compares — every ``ON UPDATE CURRENT_TIMESTAMP`` column the statement does not assign
gets the statement's current time. Assigning the column, even to itself
(``SET ts = ts, v = 5``), keeps the assigned value; an UPDATE that changes nothing
changes no timestamp.

How SQLite is made to say it, exactly:

* *Assigned or not* is SQLite's own parse: a ``BEFORE UPDATE OF ts`` trigger fires for
  each row exactly when ``ts`` is in the SET list (of an UPDATE or of an upsert's
  ``DO UPDATE``); it marks ``(table, rowid, column)``.
* *Changed or not* and the stamp: an ``AFTER UPDATE`` trigger whose WHEN compares OLD
  and NEW (:func:`changed_row_sql`) and takes the marks; when the row changed, one
  nested UPDATE sets the unmarked columns to the statement's time, and the marks that
  nested UPDATE made itself are dropped. SQLite does not re-enter a trigger already
  running (``recursive_triggers`` off), and with it on the nested run finds the row
  marked and does nothing.
* *The time* is the same clock as the registered ``NOW()``
  (:func:`sharding.backend.sqlite_mysql.current_datetime`), read once per statement
  (MySQL's NOW is the statement's start), truncated to the column's precision (MariaDB
  ignores the attribute's: ``TIMESTAMP(6) … ON UPDATE CURRENT_TIMESTAMP`` keeps
  microseconds).
* The backend calls :func:`begin_statement` before every write: the marks of a
  statement that failed half-way and the previous statement's time are forgotten. The
  affected-rows trigger of :mod:`sharding.backend.sqlite` ignores the nested stamp
  (:func:`stamping`): MySQL counts the row once.

Marks are keyed by a token of the table (its logical name, hex) so a cascade from a
parent with an ``updated_at`` column to a child with one never mixes their marks.
"""

from __future__ import annotations

import datetime
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from sharding.errors import NotSupported, ShardgateError

#: Trigger name suffixes (after the physical table name) this module writes.
STAMP_SUFFIX = "$on_update"
ASSIGNED_SUFFIX = "$on_update_set"


@dataclass(frozen=True, slots=True)
class StampedColumn:
    """One ``ON UPDATE CURRENT_TIMESTAMP[(fsp)]`` column."""

    name: str
    #: Fractional digits the column keeps: MariaDB stamps the statement's time with
    #: the column's precision, whatever the attribute's (``TIMESTAMP(6) … ON UPDATE
    #: CURRENT_TIMESTAMP`` keeps microseconds), truncated.
    fsp: int


_TEMPORAL = (exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMP)
_TEMPORAL_FSP = (
    exp.DataType.Type.DATETIME64,
    exp.DataType.Type.TIMESTAMPTZ,
    exp.DataType.Type.TIMESTAMPLTZ,
)


def _digits(node: exp.Expr | None) -> int | None:
    if node is None:
        return 0
    if isinstance(node, exp.Literal) and not node.is_string and node.name.isdigit():
        return int(node.name)
    return None


def stamped_column(column: str, kind: exp.Expr | None, constraint: exp.Expr) -> StampedColumn:
    """The column an ``OnUpdateColumnConstraint`` makes (MariaDB's 1294 for a column
    that is no DATETIME/TIMESTAMP, 1235 for an ON UPDATE that is no current time)."""
    if not isinstance(kind, exp.DataType) or kind.this not in _TEMPORAL + _TEMPORAL_FSP:
        raise ShardgateError(
            f"Invalid ON UPDATE clause for '{column}' column", code=1294, sqlstate="HY000"
        )
    column_fsp = _digits(kind.expressions[0].this if kind.expressions else None)
    value = constraint.args.get("this")
    fsp: int | None = None
    if isinstance(value, exp.CurrentTimestamp | exp.Localtimestamp):
        fsp = _digits(value.this)
    elif isinstance(value, exp.Anonymous) and value.name.upper() in ("NOW", "LOCALTIME"):
        fsp = _digits(value.expressions[0] if value.expressions else None)
    if fsp is None or column_fsp is None or fsp > 6 or column_fsp > 6:
        shown = value.sql(dialect="mysql") if isinstance(value, exp.Expr) else str(value)
        raise NotSupported(
            f"ON UPDATE {shown} for column '{column}' on the embedded SQLite default"
        )
    return StampedColumn(column, column_fsp)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_VARCHAR_LENGTH = re.compile(r"N?VARCHAR\s*\(\s*(\d+)\s*\)")


def changed_row_sql(columns: Sequence[tuple[str, str]]) -> str:
    """SQL true when a row update changed the row as MySQL compares records: byte for
    byte (``'abc'`` → ``'ABC'`` is a change under a case-insensitive collation), except
    that a CHAR value compares without trailing spaces and an ENUM under its own
    collation (both are stored canonical by the DDL's triggers, so the nested update
    that makes a value canonical is never a change), and an integer or FLOAT column
    compares the values MySQL stores (:mod:`sharding.backend.sqlite_numeric_store`:
    ``4`` → ``3.7`` is no change, and neither is the nested UPDATE that stores 4).
    ``columns``: (name, declared SQLite type)."""
    from sharding.backend.sqlite_mysql import ENUM_TYPE
    from sharding.backend.sqlite_numeric_store import changed_sql

    differs = []
    for name, decl in columns:
        kind = decl.strip().upper()
        c = _ident(name)
        stored = changed_sql(name, decl)
        if stored is not None:
            differs.append(stored)
        elif kind.startswith(ENUM_TYPE):
            differs.append(f"OLD.{c} IS NOT NEW.{c}")
        elif kind.startswith(("CHAR", "NCHAR")):
            differs.append(f"rtrim(OLD.{c}, ' ') IS NOT rtrim(NEW.{c}, ' ') COLLATE BINARY")
        elif (cut := _VARCHAR_LENGTH.match(kind)) is not None:
            # Trailing spaces past the length are cut when stored
            # (sharding.backend.sqlite_length_store): compared as stored.
            n = cut.group(1)
            differs.append(f"substr(OLD.{c}, 1, {n}) IS NOT substr(NEW.{c}, 1, {n}) COLLATE BINARY")
        else:
            differs.append(f"OLD.{c} IS NOT NEW.{c} COLLATE BINARY")
    return " OR ".join(differs) if differs else "0"


def on_update_triggers(
    table: str,
    columns: Sequence[tuple[str, str]],
    stamped: Sequence[StampedColumn],
    *,
    db_mark: str,
    table_mark: str,
    name_mark: str,
) -> list[str]:
    """The trigger templates of a table's ON UPDATE columns (module doc). ``table``:
    the logical name (the marks' token); ``columns``: every column as (name, declared
    SQLite type); the marks are :mod:`sharding.sql.ddl`'s placeholders."""
    if not stamped:
        return []
    token = _literal(table.encode().hex())
    out = []
    for i, col in enumerate(stamped):
        out.append(
            f"CREATE TRIGGER {db_mark}.{_ident(name_mark + ASSIGNED_SUFFIX + str(i))} "
            f"BEFORE UPDATE OF {_ident(col.name)} ON {table_mark} FOR EACH ROW "
            f"BEGIN SELECT sg_on_update_assigned({token}, OLD.rowid, {i}); END"
        )
    sets = ", ".join(
        f"{_ident(c.name)} = CASE WHEN sg_on_update_stamps({token}, OLD.rowid, {i}) "
        f"THEN sg_on_update_now({c.fsp}) ELSE {_ident(c.name)} END"
        for i, c in enumerate(stamped)
    )
    out.append(
        f"CREATE TRIGGER {db_mark}.{_ident(name_mark + STAMP_SUFFIX)} AFTER UPDATE ON "
        f"{table_mark} FOR EACH ROW WHEN sg_on_update_due({token}, OLD.rowid, "
        f"{len(stamped)}, {changed_row_sql(columns)}) "
        f"BEGIN UPDATE {table_mark} SET {sets} WHERE rowid = NEW.rowid; "
        f"SELECT sg_on_update_done({token}, OLD.rowid, NEW.rowid); END"
    )
    return out


# ---------------------------------------------------------------------- per statement
class _State(threading.local):
    """One worker thread runs one statement at a time, and SQLite calls a connection's
    functions in the thread that runs the statement: the state is the thread's."""

    def __init__(self) -> None:
        self.marks: dict[tuple[str, int], int] = {}
        self.due: dict[tuple[str, int], int] = {}
        self.now: datetime.datetime | None = None
        self.depth = 0


_state = _State()


def begin_statement() -> None:
    """Forget the previous statement's marks and time (the backend, before a write)."""
    s = _state
    if s.marks or s.due or s.depth:
        s.marks.clear()
        s.due.clear()
        s.depth = 0
    s.now = None


def stamping() -> int:
    """1 while an ON UPDATE trigger's nested UPDATE runs (not a row the statement
    changed: the affected-rows trigger must not count it)."""
    return 1 if _state.depth else 0


def _assigned(token: str, rowid: int, index: int) -> None:
    key = (token, rowid)
    _state.marks[key] = _state.marks.get(key, 0) | (1 << index)


def _due(token: str, rowid: int, count: int, changed: int) -> int:
    key = (token, rowid)
    marked = _state.marks.pop(key, 0)
    due = ((1 << count) - 1) & ~marked if changed else 0
    if due:
        _state.due[key] = due
        _state.depth += 1
    return 1 if due else 0


def _stamps(token: str, rowid: int, index: int) -> int:
    return 1 if _state.due.get((token, rowid), 0) & (1 << index) else 0


def _done(token: str, old_rowid: int, new_rowid: int) -> None:
    s = _state
    s.due.pop((token, old_rowid), None)
    s.marks.pop((token, old_rowid), None)
    s.marks.pop((token, new_rowid), None)  # what the nested UPDATE marked
    if s.depth:
        s.depth -= 1


def _now(fsp: int) -> str:
    from sharding.backend.sqlite_mysql import current_datetime

    s = _state
    if s.now is None:
        s.now = current_datetime()
    t = s.now
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    if fsp:
        text += "." + f"{t.microsecond:06d}"[:fsp]
    return text


def install(conn: sqlite3.Connection) -> None:
    """Register the functions the triggers call (every shard connection)."""
    conn.create_function("sg_on_update_assigned", 3, _assigned)
    conn.create_function("sg_on_update_due", 4, _due)
    conn.create_function("sg_on_update_stamps", 3, _stamps)
    conn.create_function("sg_on_update_done", 3, _done)
    conn.create_function("sg_on_update_now", 1, _now)
    conn.create_function("sg_on_update_stamping", 0, stamping)
