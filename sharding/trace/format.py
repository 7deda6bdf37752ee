"""The trace format: JSON lines, their reader and writer, and the general-log parser.

One statement per line::

    {"t": 0.0125, "session": 3, "sql": "SELECT ...", "kind": "point", "params": {...}}

* ``t`` — seconds from the start of the trace (number ≥ 0). Lines are in
  non-decreasing ``t`` order, so a replayer can stream the file.
* ``session`` — an integer or string; the statements of one session are replayed in
  file order on one connection.
* ``sql`` — the statement text, sent as is (COM_QUERY).
* ``kind`` — optional label used to group the report (``point``, ``scatter-topk``...).
  Without it the report groups by the statement's first keyword (``select``, ``insert``).
* ``params`` — optional object written by ``shardgate trace gen``: the generator's
  parameters for this statement, from which ``replay --compare-direct`` renders the
  equivalent per-shard statements. Other keys are ignored (room to grow).

MySQL/MariaDB general query logs are read by :func:`read_general_log`: the thread id is
the session, ``Query`` and ``Execute`` lines (continued over following lines for
multi-line statements) are statements, ``Init DB x`` and ``Connect ... on x`` become
``USE `x```. MariaDB stamps a line only when the second changes, so the statements
between two stamps share one second; by default they are spread evenly over it (in file
order) instead of arriving as one burst on the second boundary. MySQL 5.7+/8.0 ISO
stamps with microseconds are used exactly.

Invariant: every reader yields :class:`TraceRecord` objects with non-decreasing ``t``,
or raises :class:`TraceFormatError` naming the file and line.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TextIO

__all__ = [
    "FORMATS",
    "TraceFormatError",
    "TraceRecord",
    "TraceWriter",
    "detect_format",
    "kind_of",
    "parse_general_log",
    "read_general_log",
    "read_jsonl",
    "read_trace",
]

TraceFormat = Literal["auto", "jsonl", "general-log"]
FORMATS: tuple[str, ...] = ("auto", "jsonl", "general-log")

Session = int | str


class TraceFormatError(ValueError):
    """A trace file is malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One statement of a trace (see the module docstring for the fields)."""

    t: float
    session: Session
    sql: str
    kind: str | None = None
    params: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        obj: dict[str, Any] = {"t": round(self.t, 6), "session": self.session, "sql": self.sql}
        if self.kind is not None:
            obj["kind"] = self.kind
        if self.params is not None:
            obj["params"] = dict(self.params)
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    @property
    def label(self) -> str:
        """The report group: ``kind`` or the statement's first keyword."""
        return self.kind if self.kind is not None else kind_of(self.sql)


_FIRST_WORD = re.compile(r"\s*(?:(?:/\*.*?\*/|--[^\n]*\n|#[^\n]*\n)\s*)*([A-Za-z]+)", re.S)


def kind_of(sql: str) -> str:
    """The first keyword of ``sql``, lower-cased (comments skipped); ``other`` if none."""
    m = _FIRST_WORD.match(sql)
    return m.group(1).lower() if m else "other"


def record_from_obj(obj: Any, where: str) -> TraceRecord:
    """Validate one decoded JSON line; ``where`` is ``path:line`` for the error."""
    if not isinstance(obj, dict):
        raise TraceFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("t", "session", "sql"):
        if key not in obj:
            raise TraceFormatError(f"{where}: missing required key {key!r}")
    t = obj["t"]
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
        raise TraceFormatError(f"{where}: 't' must be a finite number >= 0, not {t!r}")
    session = obj["session"]
    if isinstance(session, bool) or not isinstance(session, int | str):
        raise TraceFormatError(
            f"{where}: 'session' must be an integer or a string, not {session!r}"
        )
    sql = obj["sql"]
    if not isinstance(sql, str) or not sql.strip():
        raise TraceFormatError(f"{where}: 'sql' must be a non-empty string")
    kind = obj.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise TraceFormatError(f"{where}: 'kind' must be a string, not {kind!r}")
    params = obj.get("params")
    if params is not None and not isinstance(params, dict):
        raise TraceFormatError(f"{where}: 'params' must be an object, not {params!r}")
    return TraceRecord(float(t), session, sql, kind, params)


def read_jsonl(path: str | Path) -> Iterator[TraceRecord]:
    """Stream the records of a JSONL trace; blank lines are skipped."""
    last_t = 0.0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise TraceFormatError(f"{where}: not valid JSON ({e.msg})") from None
            rec = record_from_obj(obj, where)
            if rec.t < last_t:
                raise TraceFormatError(
                    f"{where}: t={rec.t} is before the previous line's t={last_t}; "
                    "a trace must be sorted by t"
                )
            last_t = rec.t
            yield rec


class TraceWriter:
    """Writes records as JSON lines; refuses records out of ``t`` order.

    Use as a context manager; the file is complete when the block exits normally.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f: TextIO | None = None
        self._last_t = 0.0
        self.count = 0

    def __enter__(self) -> TraceWriter:
        self._f = open(self.path, "w", encoding="utf-8")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def write(self, rec: TraceRecord) -> None:
        if self._f is None:
            raise RuntimeError("TraceWriter used outside its `with` block")
        if rec.t < self._last_t:
            raise ValueError(f"record t={rec.t} is before the previous t={self._last_t}")
        self._last_t = rec.t
        self._f.write(rec.to_json())
        self._f.write("\n")
        self.count += 1


# -- MySQL / MariaDB general query log ------------------------------------------------

#: Commands a general log writes (mysqld's command names); a line starting with one of
#: these after the id column begins a new entry, anything else continues the last one.
_COMMANDS = (
    "Binlog Dump", "Change user", "Close stmt", "Connect Out", "Connect", "Create DB",
    "Daemon", "Debug", "Delayed insert", "Drop DB", "Error", "Execute", "Fetch",
    "Field List", "Init DB", "Kill", "Long Data", "Ping", "Prepare", "Processlist",
    "Query", "Quit", "Refresh", "Register Slave", "Reset connection", "Reset stmt",
    "Set option", "Shutdown", "Sleep", "Statistics", "Table Dump", "Time",
)  # fmt: skip
_STAMP_MARIADB = r"\d{6}\s+\d{1,2}:\d{2}:\d{2}"
_STAMP_ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
_ENTRY = re.compile(
    rf"^(?P<stamp>{_STAMP_ISO}|{_STAMP_MARIADB})?\s+(?P<id>\d+)\s(?P<cmd>"
    + "|".join(re.escape(c) for c in _COMMANDS)
    + r")(?:\t(?P<arg>.*))?$",
    re.S,
)
_HEADER = re.compile(
    r"^(?:\S+, Version: .* started with:|Tcp port: \d+\s+Unix socket: .*|Time\s+Id\s+Command\s+Argument)$"
)
_CONNECT = re.compile(r"^\S*@\S* on (?P<db>\S*)(?: using .*)?$")


@dataclass(slots=True)
class _Entry:
    stamp: float | None  # epoch seconds of the line's own stamp, if it had one
    whole_second: bool  # the stamp has one-second resolution (MariaDB / MySQL 5.6)
    session: int
    command: str
    lines: list[str]


def _parse_stamp(text: str) -> tuple[float, bool]:
    if "T" in text:
        s = text.replace("Z", "+00:00")
        when = dt.datetime.fromisoformat(s)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp(), "." not in text
    day, clock = text.split()
    when = dt.datetime.strptime(f"{day} {clock}", "%y%m%d %H:%M:%S").replace(tzinfo=dt.UTC)
    return when.timestamp(), True


def _entries(lines: Iterator[str], path: str) -> Iterator[_Entry]:
    current: _Entry | None = None
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip("\n").rstrip("\r")
        if _HEADER.match(line):
            continue
        m = _ENTRY.match(line)
        if m is None:
            if current is None:
                if not line.strip():
                    continue
                raise TraceFormatError(
                    f"{path}:{lineno}: not a general query log line: {line[:80]!r}"
                )
            current.lines.append(line)  # continuation of a multi-line statement
            continue
        if current is not None:
            yield current
        stamp: float | None = None
        whole = False
        if m.group("stamp"):
            try:
                stamp, whole = _parse_stamp(m.group("stamp"))
            except ValueError:
                raise TraceFormatError(
                    f"{path}:{lineno}: bad time stamp {m.group('stamp')!r}"
                ) from None
        current = _Entry(stamp, whole, int(m.group("id")), m.group("cmd"), [m.group("arg") or ""])
    if current is not None:
        yield current


def _statement(entry: _Entry) -> str | None:
    """The SQL an entry replays as, or None for entries that replay as nothing."""
    text = "\n".join(entry.lines)
    if entry.command in ("Query", "Execute"):
        return text if text.strip() else None
    if entry.command == "Init DB":
        db = text.strip()
        return f"USE `{db.replace('`', '``')}`" if db else None
    if entry.command == "Connect":
        m = _CONNECT.match(text.strip())
        if m and m.group("db"):
            return f"USE `{m.group('db').replace('`', '``')}`"
    return None


def parse_general_log(
    lines: Iterator[str], *, path: str = "<general log>", spread: bool = True
) -> Iterator[TraceRecord]:
    """Records from general-log ``lines``; ``t`` is relative to the first stamp.

    ``spread``: statements sharing a one-second stamp are spread evenly over that
    second (up to the next stamp), in file order; otherwise they all get the stamp.
    """
    origin: float | None = None
    group: list[tuple[_Entry, str]] = []
    group_start = 0.0
    group_whole = False

    def flush(next_start: float | None) -> Iterator[TraceRecord]:
        width = 0.0
        if spread and group_whole and group:
            width = 1.0 if next_start is None else max(0.0, min(1.0, next_start - group_start))
        n = len(group)
        for k, (entry, sql) in enumerate(group):
            t = group_start + (width * k / n if n else 0.0)
            yield TraceRecord(t, entry.session, sql, kind_of(sql))

    for entry in _entries(lines, path):
        if entry.stamp is not None:
            if origin is None:
                origin = entry.stamp
            start = max(entry.stamp - origin, group_start)  # clocks may step back: keep order
            if group and start != group_start:
                yield from flush(start)
                group = []
            if not group:
                group_start, group_whole = start, entry.whole_second
        sql = _statement(entry)
        if sql is not None:
            group.append((entry, sql))
    yield from flush(None)


def read_general_log(path: str | Path, *, spread: bool = True) -> Iterator[TraceRecord]:
    """Stream a general query log file as trace records (see :func:`parse_general_log`)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        yield from parse_general_log(iter(f), path=str(path), spread=spread)


def detect_format(path: str | Path) -> Literal["jsonl", "general-log"]:
    """``jsonl`` when the first non-blank line starts with ``{``, else ``general-log``."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "general-log"
    return "jsonl"


def read_trace(path: str | Path, fmt: str = "auto") -> Iterator[TraceRecord]:
    """Stream a trace in ``fmt`` (``auto``, ``jsonl`` or ``general-log``)."""
    if fmt not in FORMATS:
        raise TraceFormatError(f"unknown trace format {fmt!r} (choose from {', '.join(FORMATS)})")
    p = Path(path)
    if not p.is_file():
        raise TraceFormatError(f"{path}: no such trace file")
    if fmt == "auto":
        fmt = detect_format(p)
    if fmt == "jsonl":
        return read_jsonl(p)
    return read_general_log(p)
