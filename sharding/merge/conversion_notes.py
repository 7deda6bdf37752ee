"""MySQL's warnings for a string read as a number, and for a division by zero — as
pure rules, and collected for the coordinator's own evaluation.

MySQL converts a string operand of arithmetic (``'10x' + 0``) to a number with a 1292
``Truncated incorrect DOUBLE value: '10x'`` (a Note when only spaces follow the
number), and a division, ``DIV`` or ``MOD`` by zero is NULL with a 1365 ``Division by
0``, once per evaluation (measured on MariaDB 10.11: ``SELECT g, SUM(n) / 0 … GROUP BY
g`` over three groups warns three times). The SQLite shards raise them from their
registered functions (:mod:`sharding.backend.sqlite_arithmetic`, per thread); the
coordinator computes over merged rows (:mod:`sharding.merge.evaluate`) and raised none.

:func:`truncation` is the rule both use; :func:`collected` gathers the coordinator's
warnings of one statement (a context variable: the rows are evaluated in the
statement's task and the tasks it starts), which the session records as the
statement's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["DIVISION_BY_ZERO", "Notes", "collected", "printable", "truncation", "warn"]

MYSQL_SPACES = " \t\n\v\f\r"
INTEGER_PREFIX = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")
REAL_PREFIX = re.compile(r"[ \t\n\v\f\r]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: ErrConvString's budget: a value of more bytes shows 125 of them and ``...``.
_SHOWN_BYTES = 128
_CUT_BYTES = 125

#: (level, code, message) of a division by zero in a read.
DIVISION_BY_ZERO = ("Warning", 1365, "Division by 0")


def printable(value: str) -> str:
    """``value`` as MariaDB's messages quote it (ErrConvString, measured on 10.11):
    control characters other than tab, newline and carriage return as ``\\XXXX`` (hex
    code point), characters beyond the BMP as ``?``, and a value of more than 128
    bytes cut to whole characters within 125 bytes followed by ``...``."""
    if value.isascii() and value.isprintable() and len(value) <= _SHOWN_BYTES:
        return value
    parts: list[str] = []
    for ch in value:
        code = ord(ch)
        if (code < 0x20 and ch not in "\t\n\r") or code == 0x7F:
            parts.append(f"\\{code:04X}")
        elif code > 0xFFFF:
            parts.append("?")
        else:
            parts.append(ch)
    if sum(len(p.encode()) for p in parts) <= _SHOWN_BYTES:
        return "".join(parts)
    out, size = [], 0
    for p in parts:
        size += len(p.encode())
        if size > _CUT_BYTES:
            break
        out.append(p)
    return "".join(out) + "..."


def truncation(value: str, kind: str) -> tuple[str, int, str] | None:
    """The warning MySQL raises converting the string ``value`` to a number of
    ``kind`` (``INTEGER`` for ``CAST(… AS SIGNED/UNSIGNED)``, ``DECIMAL``, ``DOUBLE``;
    1292, measured on MariaDB 10.11): none for a clean number (leading spaces allowed;
    INTEGER takes no point or exponent); a Note when only spaces follow the number; a
    Warning for anything else (no number, ``''``, ``'12abc'``, ``'1e'``)."""
    m = (INTEGER_PREFIX if kind == "INTEGER" else REAL_PREFIX).match(value)
    end = m.end() if m is not None else 0
    if m is not None and end == len(value):
        return None  # the common case: a clean number, one regex and no more
    level = "Note" if m is not None and not value[end:].strip(MYSQL_SPACES) else "Warning"
    return level, 1292, f"Truncated incorrect {kind} value: '{printable(value)}'"


@dataclass
class Notes:
    """The coordinator's warnings of one statement: the first ``limit`` listed, all
    counted."""

    limit: int = 65535
    listed: list[tuple[str, int, str]] = field(default_factory=list)
    count: int = 0

    def add(self, level: str, code: int, message: str) -> None:
        self.count += 1
        if len(self.listed) < self.limit:
            self.listed.append((level, code, message))


_CURRENT: ContextVar[Notes | None] = ContextVar("sg_evaluation_notes", default=None)


@contextmanager
def collected(notes: Notes) -> Iterator[Notes]:
    """Within the block (and the tasks it starts), :func:`warn` adds to ``notes``."""
    token = _CURRENT.set(notes)
    try:
        yield notes
    finally:
        _CURRENT.reset(token)


def warn(level: str, code: int, message: str) -> None:
    """A warning of the coordinator's evaluation (dropped outside :func:`collected`:
    a plan's constant folding, a test's direct call)."""
    notes = _CURRENT.get()
    if notes is not None:
        notes.add(level, code, message)
