"""``INSERT … SELECT`` / ``REPLACE … SELECT`` over shards (issue 18, item 8): the pure half.

Why not a plan primitive of its own: the SELECT can be anything the coordinator answers
(a scatter, a join, a union, a subquery with values) and each row it yields may belong
to another shard of the target. MySQL itself reads the whole SELECT before it writes a
row when the target is one of the sources (it goes through a temporary table), so the
answer is "the rows of the SELECT, then an INSERT of them". The session does exactly
that, inside one transaction for the statement (:func:`sharding.session_writes.
_insert_select`):

1. the SELECT runs as a statement of its own (every plan shardgate has), its rows
   held up to ``cluster.subquery_rows`` (beyond: a 1235 that names the setting);
2. the rows are written as multi-row INSERTs with ``?`` parameters — the values
   travel as the parameters of a prepared statement and are rendered by the same code
   as ``COM_STMT_EXECUTE``'s, never spliced into text, so nothing depends on
   ``sql_mode`` — in batches of at most :data:`BATCH_VALUES` values;
3. in autocommit the statement's own transaction commits at the end (all rows or
   none); inside a transaction a failure rolls the statement back to a savepoint
   set before it (MySQL's statement atomicity), where the data source has savepoints.

Refused (1235): ``ON DUPLICATE KEY UPDATE`` after a SELECT (its expressions may name
the SELECT's columns, which a VALUES rewrite would read as the target row's).

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

from sharding.errors import NotSupported
from sharding.sql.lexer import TOKEN

__all__ = [
    "BATCH_VALUES",
    "STRICT_SELECT",
    "InsertSelectParts",
    "batches",
    "split_insert_select",
    "strict_select",
]

#: Values per INSERT statement (rows × columns): small enough that one statement stays
#: far below ``max_allowed_packet`` for ordinary rows, large enough to amortise the
#: round trips.
BATCH_VALUES = 20_000


@dataclass(frozen=True)
class InsertSelectParts:
    """``head``: ``INSERT [IGNORE] INTO t [(cols)]``; ``select``: the query that feeds it."""

    head: str
    select: str


def split_insert_select(sql: str, start: int) -> InsertSelectParts:
    """Split at ``start`` (where the scanner found the SELECT / WITH / ``(``); refuse a
    trailing ``ON DUPLICATE KEY UPDATE``."""
    body = sql[start:]
    depth = 0
    previous = ""
    for m in TOKEN.finditer(body):
        kind = m.lastgroup or ""
        if kind in ("ws", "comment"):
            continue
        text = m.group()
        if kind == "other" and text in "()":
            depth += 1 if text == "(" else -1
        word = text.upper() if kind == "ident" else ""
        if depth == 0 and previous == "ON" and word == "DUPLICATE":
            raise NotSupported(
                "INSERT ... SELECT ... ON DUPLICATE KEY UPDATE on a sharded coordinator"
            )
        previous = word
    select = body.strip()
    while select.endswith(";"):
        select = select[:-1].rstrip()
    return InsertSelectParts(sql[:start].rstrip(), select)


def batches(
    head: str, width: int, rows: Sequence[Sequence[Any]], limit: int = BATCH_VALUES
) -> Iterator[tuple[str, list[Any]]]:
    """``(statement, parameters)`` per batch: ``head VALUES (?, …), …`` with the rows'
    values flattened, in the SELECT's order."""
    per = max(1, limit // max(1, width))
    row_text = "(" + ", ".join("?" * width) + ")" if width else "()"
    for first in range(0, len(rows), per):
        chunk = rows[first : first + per]
        params = [v for row in chunk for v in row]
        yield head + " VALUES " + ", ".join([row_text] * len(chunk)), params


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
