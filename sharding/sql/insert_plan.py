"""Split a scanned INSERT by shard (the rows stay source text; see :mod:`.insert`).

Three steps, because some of the work does not depend on the call's values and some
of it is async:

* :func:`insert_shape` — which columns hold the shard key and the AUTO_INCREMENT
  value, every row scanned. Depends on the text and the table only, so a prepared
  statement executed 60,000 times with new parameters scans its text once (the
  session caches the shape with its plans).
* :meth:`InsertShape.bind` — the call's parameters: which rows need a generated id.
* :meth:`PreparedInsert.finish` — with the ids (from the catalog, async), one
  statement per shard. A row's shard is decided exactly as routing decides it for
  reads (:func:`sharding.sql.route.canonical_key`).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sharding.catalog import TableInfo
from sharding.errors import ColumnCountMismatch, NotSupported, ShardgateError, UnknownColumn
from sharding.merge.semantics import Semantics
from sharding.sql.insert import (
    CompiledRow,
    InsertRows,
    ParsedInsert,
    compile_row,
    rerender_row,
    scan_rows,
    value_of,
)
from sharding.sql.literals import quote_identifier
from sharding.sql.physical import physical_names
from sharding.sql.route import canonical_key
from sharding.sql.upsert import SQLITE_INSERT_IGNORE, UpsertClause, scan_upsert


@dataclass(frozen=True)
class InsertShape:
    """The value-independent part of an INSERT (immutable once built: shared by calls)."""

    parsed: ParsedInsert
    info: TableInfo
    sem: Semantics
    #: Position in each row's captured values of the shard key (None: no key or the key
    #: is the generated id, see ``key_is_id``) and of the AUTO_INCREMENT column.
    key_index: int | None
    ai_index: int | None
    #: The AUTO_INCREMENT column is not listed: its id is appended to every row.
    ai_appended: bool
    #: The shard key is the unlisted AUTO_INCREMENT column: rows route by their new id.
    key_is_id: bool
    #: ``INSERT INTO``-like prefix and the ``(col, …)`` list, in the shards' dialect.
    prefix: str
    columns_sql: str
    #: Rows must be re-rendered (parameters, or strings the dialect reads differently).
    rerender: bool
    #: Per row, its text pre-rendered (shapes built for reuse, see ``insert_shape``).
    compiled: tuple[CompiledRow, ...] = ()
    #: The checked ``ON DUPLICATE KEY UPDATE`` clause (see :mod:`sharding.sql.upsert`).
    upsert: UpsertClause | None = None

    def bind(self, params: Sequence[Any] | None) -> PreparedInsert:
        """This call's values: which rows need a generated id."""
        prepared = PreparedInsert(self, params)
        if not self.info.auto_increment:
            return prepared
        parsed = self.parsed
        if self.ai_index is None:
            prepared.needs_id = [True] * len(parsed.row_texts)
            return prepared
        needs = []
        for r, captured in enumerate(parsed.rows):
            param = parsed.params.get((r, self.ai_index))
            constant, value = value_of(captured[self.ai_index], params, param)
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if value is None or value == 0 or (not constant and value == "DEFAULT"):
                needs.append(True)
            elif constant and isinstance(value, int):
                needs.append(False)
                prepared.explicit_ids.append(value)
                prepared.explicit_at[r] = value
            else:
                needs.append(False)
        prepared.needs_id = needs
        return prepared


@dataclass
class PreparedInsert:
    shape: InsertShape
    params: Sequence[Any] | None
    needs_id: list[bool] = field(default_factory=list)
    explicit_ids: list[int] = field(default_factory=list)
    #: Row index → its explicit AUTO_INCREMENT value (a constant integer).
    explicit_at: dict[int, int] = field(default_factory=dict)

    def id_runs(self) -> list[int | tuple[int]]:
        """The rows in order as MySQL assigns their ids: a count of consecutive rows
        that need a generated id, or ``(v,)`` for an explicit id ``v`` that comes
        before a later generated one (MySQL's counter moves past it first: ``(20),
        (NULL), (30)`` gives the NULL row 21). Explicit ids after the last generated
        row do not matter here (the caller observes the largest)."""
        out: list[int | tuple[int]] = []
        last_needed = max((r for r, need in enumerate(self.needs_id) if need), default=-1)
        for r, need in enumerate(self.needs_id):
            if need:
                if out and isinstance(out[-1], int):
                    out[-1] += 1
                else:
                    out.append(1)
            elif r < last_needed and r in self.explicit_at:
                out.append((self.explicit_at[r],))
        return out

    @property
    def id_count(self) -> int:
        return sum(self.needs_id)

    def finish(self, ids: Sequence[int]) -> InsertRows:
        shape = self.shape
        parsed, info, sem = shape.parsed, shape.info, shape.sem
        dialect = sem.dialect
        names = physical_names(info, dialect)
        groups: dict[tuple[str, str, str, int], list[str]] = {}
        numbers: dict[tuple[str, str, str, int], list[int]] = {}
        next_id = iter(ids)
        first_id: int | None = None
        next_param = 0
        broadcast = info.broadcast
        rule = info.rule
        key_index, ai_index = shape.key_index, shape.ai_index
        for r, text in enumerate(parsed.row_texts):
            captured = parsed.rows[r]
            overrides: dict[int, Any] = {}
            generated: int | None = None
            if self.needs_id and self.needs_id[r]:
                generated = next(next_id)
                if first_id is None:
                    first_id = generated
                if shape.ai_appended:
                    if _has_values(text):
                        text = text[:-1].rstrip() + f", {generated})"
                    else:  # ``()``: the row's only value is its id
                        text = f"({generated})"
                else:
                    assert ai_index is not None
                    param = parsed.params.get((r, ai_index))
                    if param is not None:
                        overrides[param] = generated
                    else:
                        start, end = parsed.spans[r][ai_index]
                        text = text[:start] + str(generated) + text[end:]
            if shape.compiled and (generated is None or (not shape.ai_appended and overrides)):
                row = shape.compiled[r]
                text = row.fill(dialect, self.params, overrides)
                next_param += len(row.params)
            elif shape.rerender:
                text, next_param = rerender_row(text, dialect, self.params, next_param, overrides)
            if broadcast:
                for ds, db, name in names:
                    groups.setdefault((ds, db, name, -1), []).append(text)
                    numbers.setdefault((ds, db, name, -1), []).append(r + 1)
                continue
            if shape.key_is_id:
                key = generated
            elif key_index is None:
                key = None
            elif key_index == ai_index and generated is not None:
                key = generated
            else:
                param = parsed.params.get((r, key_index))
                constant, key = value_of(captured[key_index], self.params, param)
                if not constant:
                    raise NotSupported(
                        f"the shard key {info.rule.shard_key} must be a constant in INSERT "
                        f"(row {r + 1}: {captured[key_index].strip()[:40]})"
                    )
            shard = rule.shard_of(canonical_key(info, key, sem, stored=True))
            ds, db, name = names[shard]
            groups.setdefault((ds, db, name, shard), []).append(text)
            numbers.setdefault((ds, db, name, shard), []).append(r + 1)
        largest = max(self.explicit_ids) if self.explicit_ids else None
        last_row = len(parsed.row_texts) - 1
        tail = (
            shape.upsert.render(dialect, self.params) if shape.upsert is not None else parsed.tail
        )
        return InsertRows(
            shape.prefix,
            shape.columns_sql,
            tail,
            groups,
            first_id,
            largest,
            len(parsed.row_texts),
            numbers,
            self.explicit_at.get(last_row),
        )


#: A VALUES row without values, ``()``, first in the rows.
_EMPTY_ROW = re.compile(r"\s*\(\s*\)")


def _has_values(row_text: str) -> bool:
    """Whether a VALUES row's text (``(…)``) holds any value (``()`` does not)."""
    return bool(row_text[1:-1].strip())


def insert_shape(
    sql: str, parsed: ParsedInsert, info: TableInfo, sem: Semantics, *, reuse: bool = False
) -> InsertShape:
    """Scan the rows of ``parsed`` (from :func:`scan_insert` of ``sql``) for ``info``.

    ``reuse``: the shape will serve many calls, so its rows are pre-rendered once
    (a one-off INSERT is cheaper re-rendered directly)."""
    if parsed.columns is not None:
        columns = parsed.columns
    elif parsed.mode != "set" and _EMPTY_ROW.match(sql, parsed.body_start):
        # ``INSERT INTO t VALUES ()``: MariaDB fills every column with its default,
        # as for an empty column list (a row with values after it is then 1136).
        columns = []
    else:
        columns = info.column_names()
        if not columns:
            raise NotSupported(
                f"INSERT without a column list into {info.qualified} (columns unknown)"
            )
    if info.columns:
        for c in columns:
            if not info.has_column(c):
                raise UnknownColumn(f"Unknown column '{c}' in 'INSERT INTO'")
    lower = [c.lower() for c in columns]
    if len(set(lower)) != len(lower):
        raise ShardgateError("Column specified twice", code=1110, sqlstate="42000")
    key = info.rule.shard_key if not info.broadcast else None
    key_col = lower.index(key.lower()) if key and key.lower() in lower else None
    ai = info.auto_increment
    ai_col = lower.index(ai.lower()) if ai and ai.lower() in lower else None
    key_is_id = bool(key and ai and ai_col is None and ai.lower() == key.lower())
    if key and key_col is None and not key_is_id:
        col = info.column(key)
        if col is not None and col.default not in (None, "NULL"):
            raise NotSupported(
                f"INSERT into {info.qualified} must give the shard key {key} (its DEFAULT "
                "would be applied on the shard, after the row was placed)"
            )
    capture: list[int] = []
    for position in (key_col, ai_col):
        if position is not None and position not in capture:
            capture.append(position)
    scan_rows(sql, parsed, capture, len(columns))
    if not columns:
        # No column list, or an empty one: only rows without values (the fast scan
        # does not count values; the count is checked before any id is taken).
        for r, text in enumerate(parsed.row_texts):
            if _has_values(text):
                raise ColumnCountMismatch(f"Column count doesn't match value count at row {r + 1}")
    dialect = sem.dialect
    upsert = scan_upsert(parsed.tail, info) if parsed.tail else None
    if upsert is not None and dialect == "sqlite":
        # SQLite's upsert (issue 15); without a conflict target it needs SQLite 3.35.
        if sqlite3.sqlite_version_info < (3, 35):
            raise NotSupported(
                f"INSERT ... ON DUPLICATE KEY UPDATE on SQLite {sqlite3.sqlite_version} shards (needs 3.35)"
            )
        upsert = upsert.for_sqlite(ignore=parsed.ignore)
    elif parsed.ignore and dialect == "sqlite" and parsed.verb != "REPLACE":
        # MySQL's IGNORE skips duplicate keys only; SQLite's OR IGNORE would also skip
        # the rows MySQL stores adjusted (strict-mode values): ON CONFLICT DO NOTHING.
        upsert = SQLITE_INSERT_IGNORE
    ai_appended = bool(ai) and ai_col is None
    listed = [*columns, ai] if ai_appended and ai else columns
    if parsed.verb == "REPLACE":
        prefix = "REPLACE INTO"
    elif parsed.ignore:
        prefix = "INSERT INTO" if dialect == "sqlite" else "INSERT IGNORE INTO"
    else:
        prefix = "INSERT INTO"
    rerender = (
        bool(parsed.params) or parsed.param_count > 0 or (parsed.has_escapes and dialect != "mysql")
    )
    compiled: list[CompiledRow] = []
    if reuse and rerender:
        first = 0
        for text in parsed.row_texts:
            compiled.append(compile_row(text, dialect, first))
            first += len(compiled[-1].params)
    return InsertShape(
        parsed=parsed,
        info=info,
        sem=sem,
        key_index=capture.index(key_col) if key_col is not None else None,
        ai_index=capture.index(ai_col) if ai_col is not None else None,
        ai_appended=ai_appended,
        key_is_id=key_is_id,
        prefix=prefix,
        columns_sql="(" + ", ".join(quote_identifier(c, dialect) for c in listed) + ")",
        rerender=rerender,
        compiled=tuple(compiled),
        upsert=upsert,
    )


def prepare_insert(
    sql: str, parsed: ParsedInsert, info: TableInfo, sem: Semantics, params: Sequence[Any] | None
) -> PreparedInsert:
    """:func:`insert_shape` and :meth:`InsertShape.bind` in one step (uncached use)."""
    return insert_shape(sql, parsed, info, sem).bind(params)
