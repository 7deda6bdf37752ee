"""MariaDB's warnings of writes that only the rows tell, on SQLite shards.

:mod:`sharding.backend.sqlite_store_notes` derives an INSERT's 1265 notes from its
literal VALUES. What the rows a statement meets decide is collected here while the
statement runs, by temporary triggers around the one shard statement (created before
it, dropped after it; a registered function per trigger records what it sees), with
the texts and order measured on MariaDB 10.11:

* ``UPDATE`` of a DECIMAL(p,s) column: ``Note 1265 Data truncated for column 'c' at
  row N`` for each row whose new value has digits past ``s`` that are not zeros
  (``amount + 0.001``; ``amount + 0.01`` none). The value is the REAL SQLite computed,
  read at 15 significant digits (the digits a DECIMAL column holds here), so
  ``1.23 + 0.01`` (``1.2400000000000002``) notes nothing, as MariaDB's exact sum. ``N``
  counts the rows the statement updated (MariaDB counts the rows its scan reads: the
  same for a key lookup and a whole-table update, not for a scan that skips rows;
  across shards the session numbers a shard's rows after the lower shards':
  :mod:`sharding.session_writes`).
* The update of ``INSERT … ON DUPLICATE KEY UPDATE``: the same note for the row of the
  VALUES list that updated its duplicate, after that row's own INSERT notes.
* ``INSERT IGNORE``: ``Warning 1062 Duplicate entry 'v' for key 'k'`` for each row it
  skips, in row order with the INSERT's notes (a row's notes first: MariaDB stores its
  values, then finds the duplicate). ``k`` is ``PRIMARY`` or the unique index's name
  (the shard index ``<table>__<name>``: :mod:`sharding.sql.ddl`), the first the row
  collides with in MariaDB's order of keys — the primary key, the unique keys of NOT
  NULL columns, the other unique keys, each group as defined. ``v`` is the row's
  values of that key joined with ``-`` (``'1-x'``), a DECIMAL with its scale
  (``'1.50'``). The rows are known by a BEFORE INSERT trigger (which SQLite fires for a
  row it then skips) checking each key against the table as it is then, and an AFTER
  INSERT trigger (not fired for a skipped row).
* ``DELETE``: its condition warns as a read's (MariaDB evaluates it as a SELECT's
  ``WHERE``): the registered functions' 1292s are collected while it runs
  (:func:`sharding.backend.sqlite_arithmetic.warnings_start`), and a string that is no
  clean number compared with a numeric column (``amount = 'x'``, ``q < '5 '``) is
  ``Warning 1292 Truncated incorrect DECIMAL value: 'x'`` (DOUBLE against a DOUBLE
  column; a Note for trailing spaces) once per statement, and only when a row reached
  the comparison: MariaDB converts the constant once, when first compared (``id = 4
  AND amount = 'x'`` warns only if row 4 exists). SQLite evaluates the deterministic
  ``sg_string_number('x', kind)`` exactly so (once, lazily), so :func:`string_number`
  (registered in its place on every shard connection: :func:`install`) warns when it
  is called during a DELETE. In an ``IN`` list or ``BETWEEN`` MariaDB warns for such a
  string as a DOUBLE (per row for ``BETWEEN`` and for an ``IN`` list mixing integers
  and strings): the shard statement carries the row forms of
  :mod:`sharding.backend.sqlite_arithmetic` (``sg_string_number_row``,
  ``sg_number_warns``), which warn per row, so this once-per-statement warning is off
  for it (:func:`delete_start`). Not in a read (its 1292s are sqlite_arithmetic's).

The triggers are temporary (``temp`` schema) and made only for these statements: an
UPDATE or upsert that assigns no DECIMAL column creates none, a plain INSERT none. An
UPDATE that assigns one calls a function per row (it numbers the rows); an ``INSERT
IGNORE`` two per row and a lookup per unique key.

Left as they were (docs/refusals.md): a DELETE's constant compared with a NULL
(MariaDB does not convert it then, the shard does: one 1292 more), with the key of a
point lookup (``id = 'x'``: MariaDB none, the shard one), or in an OR (MariaDB lists
them in its own order); on several shards each shard that reaches the constant warns
once (as MariaDB shards do; MariaDB once).

Written by hand: SQLite triggers and their bookkeeping.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlglot
from sqlglot import exp

from sharding.backend import sqlite_arithmetic

__all__ = ["Collector", "deleting", "finish", "install", "merged", "start", "string_number"]

Note = tuple[str, int, str]

_NAME = r'(?:"(?:[^"]|"")+"|\w+)'
_UPDATE = re.compile(rf"\s*UPDATE\s+(?:OR\s+\w+\s+)?({_NAME})\s*\.\s*({_NAME})", re.IGNORECASE)
_INSERT = re.compile(rf"\s*INSERT\s+INTO\s+({_NAME})\s*\.\s*({_NAME})", re.IGNORECASE)
_DECIMAL = re.compile(r"\s*DECIMAL_S(\d+)\b", re.IGNORECASE)
#: What :mod:`sharding.sql.upsert` renders: an upsert's clause, INSERT IGNORE's mark.
_UPSERT = " ON CONFLICT DO UPDATE SET "
_IGNORE = "/* INSERT IGNORE */ ON CONFLICT DO NOTHING"
_AT_ROW = re.compile(r" at row (\d+)$")
_TRIGGERS = ("sg_ww_before", "sg_ww_after", "sg_ww_update")


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rounded(value: Any, scale: int) -> bool:
    """Whether a REAL stored in a DECIMAL column of ``scale`` loses digits that are not
    zeros, read at the 15 significant digits a DECIMAL column holds here."""
    if not isinstance(value, float):
        return False
    try:
        d = Decimal(f"{value:.15g}")
    except InvalidOperation:
        return False
    if not d.is_finite():
        return False
    return d != d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def _shown(value: Any, scale: int | None) -> str:
    """A key value as MariaDB's 1062 shows it."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if scale is not None and isinstance(value, int | float):
        return f"{Decimal(f'{value:.15g}'):.{scale}f}"
    if isinstance(value, float):
        return repr(value)[:-2] if repr(value).endswith(".0") else repr(value)
    return str(value)


@dataclass
class Collector:
    """One shard statement's warnings from its rows (module doc)."""

    schema: str
    table: str
    #: DECIMAL columns the statement may store rounded: (name, scale).
    decimals: list[tuple[str, int]] = field(default_factory=list)
    #: INSERT IGNORE's keys in MariaDB's order: (name, [(column, scale or None)]).
    keys: list[tuple[str, list[tuple[str, int | None]]]] = field(default_factory=list)
    upsert: bool = False
    row: int = 0
    last_rowid: Any = None
    inserted: set[Any] = field(default_factory=set)
    #: (row, order, warning): the first MAX_NOTES.
    found: list[tuple[int, int, Note]] = field(default_factory=list)
    duplicate: Note | None = None
    #: Warnings counted past the listed ones.
    unlisted: int = 0
    #: DATE columns an UPDATE assigns a literal with a time of day (a note per row).
    date_cuts: list[str] = field(default_factory=list)

    def _add(self, row: int, note: Note) -> None:
        if len(self.found) < sqlite_arithmetic.MAX_NOTES:
            self.found.append((row, 1, note))
        else:
            self.unlisted += 1

    # -- registered functions
    def updated(self, rowid: Any, *values: Any) -> None:
        """AFTER UPDATE: a plain UPDATE's next row (a nested update of the same row is
        the same row), or an upsert's update of its current VALUES row."""
        first = False
        if self.upsert:
            if rowid in self.inserted:
                return  # the nested update that stores an inserted row's values
        elif rowid != self.last_rowid:
            self.row += 1
            self.last_rowid = rowid
            first = True
        for (name, scale), value in zip(self.decimals, values, strict=True):
            if _rounded(value, scale):
                message = f"Data truncated for column '{name}' at row {self.row}"
                self._add(self.row, ("Note", 1265, message))
        for name in self.date_cuts if first else ():
            # Once per row: the DATE store's own nested update fires this again.
            message = f"Data truncated for column '{name}' at row {self.row}"
            self._add(self.row, ("Note", 1265, message))

    def before_insert(self) -> None:
        self._settle()
        self.row += 1

    def collides(self, key: Any, *values: Any) -> None:
        if self.duplicate is not None:
            return
        name, columns = self.keys[int(key)]
        entry = "-".join(_shown(v, scale) for v, (_, scale) in zip(values, columns, strict=True))
        self.duplicate = ("Warning", 1062, f"Duplicate entry '{entry}' for key '{name}'")

    def after_insert(self, rowid: Any) -> None:
        self.inserted.add(rowid)
        self.duplicate = None

    def _settle(self) -> None:
        if self.duplicate is not None:
            self._add(self.row, self.duplicate)
            self.duplicate = None


def _decimal_columns(info: list[Any]) -> list[tuple[str, int]]:
    out = []
    for row in info:
        m = _DECIMAL.match(str(row[2]))
        if m is not None:
            out.append((str(row[1]), int(m.group(1))))
    return out


def _date_cuts(sql: str, info: list[Any]) -> list[str]:
    """The DATE columns the UPDATE ``sql`` assigns a literal with a time of day other
    than midnight (MariaDB's Note 1265 per updated row, as for an INSERT:
    :func:`sharding.backend.sqlite_store_notes._time_cut`)."""
    from sharding.backend import sqlite_reparse
    from sharding.backend.sqlite_store_notes import DATE_ONLY, TIME_WRITTEN, _time_cut

    dates = {str(r[1]).lower(): str(r[1]) for r in info if DATE_ONLY.match(str(r[2]))}
    if not dates or TIME_WRITTEN.search(sql) is None:
        return []

    try:
        tree = sqlite_reparse.parse(sql)
    except sqlglot.errors.ParseError:
        return []
    if not isinstance(tree, exp.Update):
        return []
    out = []
    for assignment in tree.expressions:
        if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
            continue
        name = dates.get(assignment.this.name.lower())
        if name is not None and _time_cut(assignment.expression):
            out.append(name)
    return out


def _keys(
    raw: sqlite3.Connection, schema: str, table: str, info: list[Any]
) -> list[tuple[str, list[tuple[str, int | None]]]]:
    scales = {str(r[1]).lower(): s for r in info for s in [_scale(str(r[2]))]}
    not_null = {str(r[1]).lower() for r in info if r[3] or r[5]}
    primary = [str(r[1]) for r in sorted(info, key=lambda r: r[5]) if r[5]]
    keys: list[tuple[str, list[str]]] = [("PRIMARY", primary)] if primary else []
    prefix = table + "__"
    uniques: list[tuple[str, list[str]]] = []
    for (index,) in raw.execute(
        f"SELECT name FROM {_q(schema)}.sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL AND sql LIKE 'CREATE UNIQUE%' ORDER BY rowid",
        (table,),
    ):
        cols = [str(r[2]) for r in raw.execute(f"PRAGMA {_q(schema)}.index_info({_q(index)})")]
        name = str(index)
        uniques.append((name[len(prefix) :] if name.startswith(prefix) else name, cols))
    # MariaDB sorts a table's unique keys: those of NOT NULL columns first.
    keys += [k for k in uniques if all(c.lower() in not_null for c in k[1])]
    keys += [k for k in uniques if not all(c.lower() in not_null for c in k[1])]
    return [(name, [(c, scales.get(c.lower())) for c in cols]) for name, cols in keys]


def _scale(decl: str) -> int | None:
    m = _DECIMAL.match(decl)
    return int(m.group(1)) if m is not None else None


def start(raw: sqlite3.Connection, sql: str) -> Collector | None:
    """The collector of ``sql``'s warnings, its temporary triggers created; None when
    the statement has none to collect (module doc)."""
    update = _UPDATE.match(sql)
    insert = None if update is not None else _INSERT.match(sql)
    ignore = insert is not None and _IGNORE in sql
    upsert = insert is not None and _UPSERT in sql
    if update is None and not ignore and not upsert:
        return None
    found = update or insert
    assert found is not None
    schema, table = _unquote(found.group(1)), _unquote(found.group(2))
    info = list(raw.execute(f"PRAGMA {_q(schema)}.table_info({_q(table)})"))
    if not info:
        return None
    collector = Collector(schema, table, upsert=upsert)
    if update is not None or upsert:
        assigned = sql[sql.index(_UPSERT) :] if upsert else sql
        lowered = assigned.lower()
        collector.decimals = [d for d in _decimal_columns(info) if d[0].lower() in lowered]
    if update is not None:
        collector.date_cuts = _date_cuts(sql, info)
    if ignore:
        collector.keys = _keys(raw, schema, table, info)
    if not collector.decimals and not collector.keys and not collector.date_cuts:
        return None
    try:
        _create_triggers(raw, collector, upsert or ignore)
    except BaseException:
        finish(raw, collector)
        raise
    return collector


def _create_triggers(raw: sqlite3.Connection, collector: Collector, inserting: bool) -> None:
    target = f"{_q(collector.schema)}.{_q(collector.table)}"
    if collector.decimals or collector.date_cuts:
        raw.create_function("sg_ww_updated", -1, collector.updated)
        cols = ", ".join(_q(n) for n in [d for d, _ in collector.decimals] + collector.date_cuts)
        news = "".join(f", NEW.{_q(n)}" for n, _ in collector.decimals)
        raw.execute(
            f"CREATE TEMP TRIGGER sg_ww_update AFTER UPDATE OF {cols} ON {target} "
            f"FOR EACH ROW BEGIN SELECT sg_ww_updated(NEW.rowid{news}); END"
        )
    if inserting:
        raw.create_function("sg_ww_before", 0, collector.before_insert)
        raw.create_function("sg_ww_collides", -1, collector.collides)
        raw.create_function("sg_ww_inserted", 1, collector.after_insert)
        checks = _key_checks(collector, target, "")
        raw.execute(
            f"CREATE TEMP TRIGGER sg_ww_before BEFORE INSERT ON {target} FOR EACH ROW "
            f"BEGIN SELECT sg_ww_before(); {checks} END"
        )
        raw.execute(
            f"CREATE TEMP TRIGGER sg_ww_after AFTER INSERT ON {target} FOR EACH ROW "
            "BEGIN SELECT sg_ww_inserted(NEW.rowid); END"
        )


def duplicate_entry(
    raw: sqlite3.Connection, sql: str, run: Callable[[sqlite3.Connection], Any]
) -> str | None:
    """MariaDB's text of the 1062 the INSERT or UPDATE ``sql`` just failed with —
    ``Duplicate entry '1-x' for key 'PRIMARY'`` — or None when it cannot be told (not
    a plain INSERT, or no key found colliding).

    SQLite names the constraint's columns, not the value or the key MariaDB reports
    (the first key in MariaDB's order the failing row collides with). The statement is
    run again inside a savepoint, rolled back whatever happens, with INSERT IGNORE's
    BEFORE INSERT trigger (:func:`_create_triggers`), an UPDATE with a BEFORE UPDATE
    one comparing the new values with the other rows (:func:`_create_update_check`):
    each sees a row before SQLite checks the constraints, so the first collision
    recorded is the failing row's (for an UPDATE of several rows, in SQLite's order).
    Only on this error path: a statement that succeeds pays nothing."""
    update = _UPDATE.match(sql)
    found = update or _INSERT.match(sql)
    if found is None or _IGNORE in sql or _UPSERT in sql:
        return None
    schema, table = _unquote(found.group(1)), _unquote(found.group(2))
    info = list(raw.execute(f"PRAGMA {_q(schema)}.table_info({_q(table)})"))
    if not info:
        return None
    collector = Collector(schema, table)
    collector.keys = _keys(raw, schema, table, info)
    if not collector.keys:
        return None
    raw.execute("SAVEPOINT sg_duplicate_entry")
    try:
        if update is None:
            _create_triggers(raw, collector, True)
        else:
            _create_update_check(raw, collector)
        try:
            run(raw)
        except sqlite3.IntegrityError:
            pass
    finally:
        raw.execute("ROLLBACK TO sg_duplicate_entry")
        raw.execute("RELEASE sg_duplicate_entry")
        finish(raw, collector)
    return None if collector.duplicate is None else collector.duplicate[2]


def _create_update_check(raw: sqlite3.Connection, collector: Collector) -> None:
    """A BEFORE UPDATE trigger recording the first key a row's new values collide with
    in another row (:func:`duplicate_entry` of an UPDATE)."""
    target = f"{_q(collector.schema)}.{_q(collector.table)}"
    raw.create_function("sg_ww_collides", -1, collector.collides)
    checks = _key_checks(collector, target, " AND rowid <> OLD.rowid")
    raw.execute(
        f"CREATE TEMP TRIGGER sg_ww_before BEFORE UPDATE ON {target} FOR EACH ROW "
        f"BEGIN {checks} END"
    )


def _key_checks(collector: Collector, target: str, other_rows: str) -> str:
    """A trigger body's statements calling ``sg_ww_collides`` for each key, in order,
    whose NEW values another row of ``target`` holds (``other_rows``: a condition
    excluding the row itself, for an UPDATE)."""
    checks = []
    for number, (_, columns) in enumerate(collector.keys):
        where = " AND ".join(f"{_q(c)} = NEW.{_q(c)}" for c, _ in columns)
        news = ", ".join(f"NEW.{_q(c)}" for c, _ in columns)
        checks.append(
            f"SELECT sg_ww_collides({number}, {news}) "
            f"WHERE EXISTS (SELECT 1 FROM {target} WHERE {where}{other_rows});"
        )
    return " ".join(checks)


def finish(raw: sqlite3.Connection, collector: Collector | None) -> None:
    """Drop the statement's temporary triggers (whether it succeeded or not)."""
    if collector is None:
        return
    for name in _TRIGGERS:
        raw.execute(f"DROP TRIGGER IF EXISTS temp.{name}")


def merged(collector: Collector | None, insert_notes: list[Note]) -> tuple[int, list[Note]]:
    """The statement's warning count and texts in MariaDB's order: by row, a row's
    INSERT notes (:mod:`sharding.backend.sqlite_store_notes`) before what its rows
    raised; the first :data:`~sharding.backend.sqlite_arithmetic.MAX_NOTES` of what the
    rows raised are listed (all are counted)."""
    if collector is None:
        return len(insert_notes), insert_notes
    collector._settle()
    if not collector.found:
        return len(insert_notes), insert_notes
    keyed: list[tuple[int, int, int, Note]] = []
    for position, note in enumerate(insert_notes):
        m = _AT_ROW.search(note[2])
        keyed.append((int(m.group(1)) if m else 0, 0, position, note))
    for position, (row, order, note) in enumerate(collector.found):
        keyed.append((row, order, position, note))
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    return len(keyed) + collector.unlisted, [k[3] for k in keyed]


# ---------------------------------------------------------------------- DELETE
_delete = threading.local()
_DELETE = re.compile(r"\s*DELETE\b", re.IGNORECASE)


def string_number(value: Any, kind: Any) -> Any:
    """``sg_string_number(x, kind)`` (:func:`sharding.backend.sqlite_arithmetic.string_number`)
    with a DELETE's 1292 (module doc)."""
    number = sqlite_arithmetic.string_number(value, kind)
    if isinstance(value, str) and getattr(_delete, "on", False):
        sqlite_arithmetic.truncation(value, str(kind))
    return number


def install(raw: sqlite3.Connection) -> None:
    """Register :func:`string_number` on a shard connection (after
    :func:`sharding.backend.sqlite_mysql.install`)."""
    from sharding.backend import sqlite_mysql

    raw.create_function(
        "sg_string_number", 2, sqlite_mysql._reporting(string_number), deterministic=True
    )


def deleting(sql: str) -> bool:
    """Whether ``sql`` is a DELETE: its warnings are collected as a read's."""
    return _DELETE.match(sql) is not None


def delete_start(text: str) -> None:
    """Collect the warnings of the DELETE ``text`` (as the shard runs it). A string
    that is no clean number in an ``IN`` list or ``BETWEEN`` against a numeric column
    warns through the per-row forms of :mod:`sharding.backend.sqlite_arithmetic`
    (MariaDB warns for it as a DOUBLE, per row for ``BETWEEN``: measured), not here."""
    _delete.on = not _in_list_or_between(text)
    sqlite_arithmetic.warnings_start()


def _in_list_or_between(text: str) -> bool:
    if "sg_string_number(" not in text:
        return False
    try:
        tree = sqlglot.parse_one(text, read="sqlite")
    except sqlglot.errors.ParseError:
        return True
    for call in tree.find_all(exp.Anonymous):
        if call.name.lower() != "sg_string_number":
            continue
        parent = call.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if isinstance(parent, exp.In | exp.Between):
            return True
    return False


def delete_taken() -> tuple[int, list[Note]]:
    _delete.on = False
    return sqlite_arithmetic.warnings_taken()
