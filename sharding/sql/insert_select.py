"""``INSERT … SELECT`` / ``REPLACE … SELECT`` over shards (issue 18, item 8): the pure half.

Why not a plan primitive of its own: the SELECT can be anything the coordinator answers
(a scatter, a join, a union, a subquery with values) and each row it yields may belong
to another shard of the target. The session runs "the rows of the SELECT, as
INSERTs of them", inside one transaction for the statement (:func:`sharding.
session_writes._insert_select`):

1. the SELECT runs as a statement of its own (every plan shardgate has);
2. its rows are written as multi-row INSERTs with ``?`` parameters — the values
   travel as the parameters of a prepared statement and are rendered by the same code
   as ``COM_STMT_EXECUTE``'s, never spliced into text, so nothing depends on
   ``sql_mode`` — in batches of at most :data:`BATCH_VALUES` values;
3. in autocommit the statement's own transaction commits at the end (all rows or
   none); inside a transaction a failure rolls the statement back to a savepoint
   set before it (MySQL's statement atomicity), where the data source has savepoints.

Streamed or held. When the SELECT does not read the target table
(:func:`reads_table`), each batch is written as soon as it is full, while the SELECT
is still producing: the SELECT's sink awaits the write, so the reads wait for it
(memory O(batch), however many rows; no ``cluster.subquery_rows`` bound). When the
SELECT reads the target, streaming would let it see rows the statement inserted:
MySQL reads the whole SELECT first then (a temporary table), and so does the session —
the rows held up to ``cluster.subquery_rows`` (beyond: a 1235 that names the setting),
then written. The count of columns is checked before the first row is written (1136).

``ON DUPLICATE KEY UPDATE`` after the SELECT goes with every batch (``INSERT … VALUES
(…) ON DUPLICATE KEY UPDATE …``) when it names only the target's columns and
``VALUES(c)`` (:func:`upsert_refusal`); one naming the SELECT's columns (which the
batches would read as the target row's) is refused (1235).

Strict mode. MySQL's strict mode makes some conversions of an ``INSERT … SELECT``'s
``SELECT`` errors where a read only warns (measured on MariaDB 10.11): ``CAST(s AS
SIGNED/UNSIGNED)`` of a string that is no integer (1292 ``Truncated incorrect INTEGER
value``), a division by zero (1365), a string that is no number compared with a number
in its condition (1292 ``… DECIMAL value``/``… DOUBLE value``; not in its select list,
and arithmetic, ``s + 1``, only warns); ``INSERT IGNORE`` only warns. Step 1 runs the
SELECT as a read: inside :func:`strict_select` the SQLite shards read it with those
errors (:data:`STRICT_SELECT`, read by :mod:`sharding.backend.sqlite` when a shard
statement starts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from sharding.sql.lexer import TOKEN

__all__ = [
    "BATCH_VALUES",
    "STRICT_SELECT",
    "InsertSelectParts",
    "batches",
    "reads_table",
    "rows_per_batch",
    "split_insert_select",
    "strict_select",
    "upsert_refusal",
]

#: Values per INSERT statement (rows × columns): small enough that one statement stays
#: far below ``max_allowed_packet`` for ordinary rows, large enough to amortise the
#: round trips.
BATCH_VALUES = 20_000


@dataclass(frozen=True)
class InsertSelectParts:
    """``head``: ``INSERT [IGNORE] INTO t [(cols)]``; ``select``: the query that feeds it;
    ``upsert``: its ``ON DUPLICATE KEY UPDATE …`` clause ("" without one)."""

    head: str
    select: str
    upsert: str = ""


def split_insert_select(sql: str, start: int) -> InsertSelectParts:
    """Split at ``start`` (where the scanner found the SELECT / WITH / ``(``), the
    trailing ``ON DUPLICATE KEY UPDATE`` clause apart."""
    body = sql[start:]
    depth = 0
    previous: re.Match[str] | None = None
    upsert_at: int | None = None
    for m in TOKEN.finditer(body):
        kind = m.lastgroup or ""
        if kind in ("ws", "comment"):
            continue
        text = m.group()
        if kind == "other" and text in "()":
            depth += 1 if text == "(" else -1
        word = text.upper() if kind == "ident" else ""
        if depth == 0 and previous is not None and word == "DUPLICATE":
            upsert_at = previous.start()
            break
        previous = m if word == "ON" else None
    select, upsert = (body, "") if upsert_at is None else (body[:upsert_at], body[upsert_at:])
    select, upsert = _without_semicolons(select), _without_semicolons(upsert)
    return InsertSelectParts(sql[:start].rstrip(), select, upsert)


def _without_semicolons(text: str) -> str:
    text = text.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def upsert_refusal(
    upsert: str,
    target: str,
    target_columns: Sequence[str],
    source_columns: set[str],
    source_tables: frozenset[str] | set[str] = frozenset(),
) -> str | None:
    """Why the ``ON DUPLICATE KEY UPDATE`` clause of an ``INSERT … SELECT`` cannot be
    written after each batch's ``VALUES`` (None: it can, with MariaDB's meaning).

    The batches are ``INSERT … VALUES (…) <clause>``, where a bare name is the target's
    column and ``VALUES(c)`` the value the row would have inserted — as in MariaDB's
    ``INSERT … SELECT``, as long as the clause does not name the SELECT's columns:
    every column it names outside ``VALUES()`` must be the target's, written bare
    (and no column of the SELECT's tables has that name: MariaDB's 1052 then) or
    qualified with the target's name (which no table of the SELECT is called without
    an alias: MariaDB's 1052 then); no subquery (``source_columns``: the names of the
    columns of every table the SELECT reads, ``source_tables``: the names its tables
    go by, lower case)."""
    from sharding.sql.parse import parse_one

    tree = parse_one(f"INSERT INTO {target} VALUES (1) {upsert}")
    conflict = tree.args.get("conflict")
    if not isinstance(conflict, exp.OnConflict) or not conflict.args.get("duplicate"):
        return "this ON DUPLICATE KEY UPDATE clause"
    if conflict.find(exp.Select) is not None:
        return "a subquery in ON DUPLICATE KEY UPDATE of INSERT ... SELECT"
    own = {c.lower() for c in target_columns}
    name = target.rsplit(".", 1)[-1].strip("`").lower()
    targets = {id(a.this) for a in conflict.expressions if isinstance(a, exp.EQ)}
    for col in conflict.find_all(exp.Column):
        column = col.name.lower()
        if id(col) in targets:
            if column not in own:
                return f"ON DUPLICATE KEY UPDATE of {col.name}, not a column of {target}"
            continue  # what is set is the target's column, whatever the SELECT reads
        if col.table:
            if col.table.lower() != name or column not in own or name in source_tables:
                return f"ON DUPLICATE KEY UPDATE naming {col.sql(dialect='mysql')} of the SELECT"
        elif column not in own or column in source_columns:
            return (
                f"ON DUPLICATE KEY UPDATE naming {col.name} (a column of the SELECT's "
                "tables; write it as the target's, or VALUES(column))"
            )
    return None


def rows_per_batch(width: int, limit: int | None = None) -> int:
    """Rows of ``width`` values per batch: at most ``limit`` values (default: the
    module's :data:`BATCH_VALUES` as it is at the call), at least one row."""
    values = BATCH_VALUES if limit is None else limit
    return max(1, values // max(1, width))


def batches(
    head: str, width: int, rows: Sequence[Sequence[Any]], limit: int | None = None
) -> Iterator[tuple[str, list[Any]]]:
    """``(statement, parameters)`` per batch: ``head VALUES (?, …), …`` with the rows'
    values flattened, in the SELECT's order."""
    per = rows_per_batch(width, limit)
    row_text = "(" + ", ".join("?" * width) + ")" if width else "()"
    for first in range(0, len(rows), per):
        chunk = rows[first : first + per]
        params = [v for row in chunk for v in row]
        yield head + " VALUES " + ", ".join([row_text] * len(chunk)), params


def reads_table(select: exp.Expr, database: str, table: str, default_database: str | None) -> bool:
    """Whether the query ``select`` may read the table ``database.table``: some table
    reference of it — in its FROM or a JOIN, a derived table, a subquery anywhere (the
    select list, WHERE, HAVING), a CTE's body, any block of a set operation — names
    it, written with its database or without one (then ``default_database``, the
    session's). Why: an ``INSERT … SELECT`` that reads its own target must read every
    row before it writes one (module doc, "Streamed or held"); one that does not may
    write while it reads.

    Conservative, never the other way round: names are compared without regard to
    case (``lower_case_table_names`` may fold them), an unqualified reference without
    a default database counts, and so does a reference to a CTE that has the target's
    name (``WITH t AS (…) SELECT … FROM t`` reads the CTE, but telling the scopes apart
    is not worth the risk: such a statement is held, as before)."""
    want_db, want = database.lower(), table.lower()
    default = default_database.lower() if default_database else None
    for node in select.find_all(exp.Table):
        if node.name.lower() != want:
            continue
        db = node.args.get("db")
        named = db.name.lower() if isinstance(db, exp.Expr) and db.name else default
        if named is None or named == want_db:
            return True
    return False


#: True while the coordinator reads the SELECT of an ``INSERT … SELECT`` without IGNORE
#: (module doc, "Strict mode"): a context variable, so the shard reads the statement
#: starts (child tasks and worker threads copy the context) see it, no other session's.
STRICT_SELECT: ContextVar[bool] = ContextVar("shardgate_strict_select", default=False)
_IGNORE = re.compile(r"^\s*INSERT\s+IGNORE\b", re.IGNORECASE)


@contextmanager
def strict_select(head: str) -> Iterator[None]:
    """Around step 1 (reading the SELECT) of the statement whose head is ``head``:
    strict mode's errors for its conversions (module doc), unless it is INSERT IGNORE."""
    token = STRICT_SELECT.set(_IGNORE.match(head) is None)
    try:
        yield
    finally:
        STRICT_SELECT.reset(token)
