"""Split a scanned INSERT by shard (the rows stay source text; see :mod:`.insert`).

Two steps, because AUTO_INCREMENT ids come from the catalog (async):
:func:`prepare_insert` finds each row's shard-key value and which rows need a
generated id; :meth:`PreparedInsert.finish` takes the ids and builds one statement per
shard. A row's shard is decided exactly as routing decides it for reads
(:func:`sharding.sql.route.canonical_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sharding.catalog import TableInfo
from sharding.errors import NotSupported, ShardgateError, UnknownColumn
from sharding.exec.targets import physical_names
from sharding.merge.semantics import Semantics
from sharding.sql.insert import InsertRows, ParsedInsert, rerender_row, scan_rows, value_of
from sharding.sql.literals import quote_identifier
from sharding.sql.route import canonical_key


@dataclass
class PreparedInsert:
    parsed: ParsedInsert
    info: TableInfo
    sem: Semantics
    params: Sequence[Any] | None
    columns: list[str]
    key_index: int | None  # position in ``capture`` of the shard key
    ai_index: int | None  # position in ``capture`` of the AUTO_INCREMENT column
    ai_listed: bool
    needs_id: list[bool] = field(default_factory=list)
    explicit_ids: list[int] = field(default_factory=list)

    @property
    def id_count(self) -> int:
        return sum(self.needs_id)

    def finish(self, ids: Sequence[int]) -> InsertRows:
        parsed, info, sem = self.parsed, self.info, self.sem
        dialect = sem.dialect
        names = physical_names(info, dialect)
        columns = list(self.columns)
        if self.info.auto_increment and not self.ai_listed:
            columns.append(self.info.auto_increment)
        columns_sql = "(" + ", ".join(quote_identifier(c, dialect) for c in columns) + ")"
        if parsed.verb == "REPLACE":
            prefix = "REPLACE INTO"
        elif parsed.ignore:
            prefix = "INSERT OR IGNORE INTO" if dialect == "sqlite" else "INSERT IGNORE INTO"
        else:
            prefix = "INSERT INTO"
        if parsed.tail and dialect == "sqlite":
            raise NotSupported(f"INSERT ... {parsed.tail.split()[0].upper()} … on SQLite shards")
        rerender = bool(parsed.params) or parsed.param_count > 0 or (parsed.has_escapes and dialect != "mysql")
        groups: dict[tuple[str, str, str, int], list[str]] = {}
        next_id = iter(ids)
        first_id: int | None = None
        next_param = 0
        broadcast = info.broadcast
        rule = info.rule
        for r, text in enumerate(parsed.row_texts):
            captured = parsed.rows[r]
            overrides: dict[int, Any] = {}
            generated: int | None = None
            if self.needs_id and self.needs_id[r]:
                generated = next(next_id)
                if first_id is None:
                    first_id = generated
                if not self.ai_listed:
                    text = text[:-1].rstrip() + f", {generated})"
                else:
                    assert self.ai_index is not None
                    param = parsed.params.get((r, self.ai_index))
                    if param is not None:
                        overrides[param] = generated
                    else:
                        start, end = parsed.spans[r][self.ai_index]
                        text = text[:start] + str(generated) + text[end:]
            if rerender:
                text, next_param = rerender_row(text, dialect, self.params, next_param, overrides)
            if broadcast:
                for ds, db, name in names:
                    groups.setdefault((ds, db, name, -1), []).append(text)
                continue
            if self.key_index is None:
                key = None
            elif self.ai_index == self.key_index and generated is not None:
                key = generated
            else:
                param = parsed.params.get((r, self.key_index))
                constant, key = value_of(captured[self.key_index], self.params, param)
                if not constant:
                    raise NotSupported(
                        f"the shard key {info.rule.shard_key} must be a constant in INSERT "
                        f"(row {r + 1}: {captured[self.key_index].strip()[:40]})"
                    )
            shard = rule.shard_of(canonical_key(info, key, sem))
            ds, db, name = names[shard]
            groups.setdefault((ds, db, name, shard), []).append(text)
        largest = max(self.explicit_ids) if self.explicit_ids else None
        return InsertRows(prefix, columns_sql, parsed.tail, groups, first_id, largest, len(parsed.row_texts))


def prepare_insert(
    sql: str, parsed: ParsedInsert, info: TableInfo, sem: Semantics, params: Sequence[Any] | None
) -> PreparedInsert:
    columns = parsed.columns if parsed.columns is not None else info.column_names()
    if not columns:
        raise NotSupported(f"INSERT without a column list into {info.qualified} (columns unknown)")
    if info.columns:
        for c in columns:
            if not info.has_column(c):
                raise UnknownColumn(f"Unknown column '{c}' in 'field list'")
    lower = [c.lower() for c in columns]
    if len(set(lower)) != len(lower):
        raise ShardgateError("Column specified twice", code=1110, sqlstate="42000")
    capture: list[int] = []
    key = info.rule.shard_key if not info.broadcast else None
    key_col = lower.index(key.lower()) if key and key.lower() in lower else None
    ai = info.auto_increment
    ai_col = lower.index(ai.lower()) if ai and ai.lower() in lower else None
    if key and key_col is None and not (ai and ai.lower() == key.lower()):
        col = info.column(key)
        if col is not None and col.default not in (None, "NULL"):
            raise NotSupported(
                f"INSERT into {info.qualified} must give the shard key {key} (its DEFAULT "
                "would be applied on the shard, after the row was placed)"
            )
    for c in (key_col, ai_col):
        if c is not None and c not in capture:
            capture.append(c)
    scan_rows(sql, parsed, capture, len(columns))
    key_index = capture.index(key_col) if key_col is not None else None
    ai_index = capture.index(ai_col) if ai_col is not None else None
    prepared = PreparedInsert(parsed, info, sem, params, columns, key_index, ai_index, ai_col is not None)
    if ai:
        if ai_index is None:
            if key and ai.lower() == key.lower():
                prepared.key_index = None
                prepared.ai_index = None
            prepared.needs_id = [True] * len(parsed.row_texts)
        else:
            needs = []
            for r, captured in enumerate(parsed.rows):
                param = parsed.params.get((r, ai_index))
                constant, value = value_of(captured[ai_index], params, param)
                if isinstance(value, str) and value.strip().isdigit():
                    value = int(value)
                if value is None or value == 0 or (not constant and value == "DEFAULT"):
                    needs.append(True)
                elif constant and isinstance(value, int):
                    needs.append(False)
                    prepared.explicit_ids.append(value)
                else:
                    needs.append(False)
            prepared.needs_id = needs
        if ai_index is None and key and ai.lower() == key.lower():
            # The key is the generated id: route by it.
            prepared.key_index = -1
            prepared.ai_index = -1
    return prepared
