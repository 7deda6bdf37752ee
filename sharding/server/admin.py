"""Admin SQL, answered by the server itself, outside the executor's buckets.

``SHOW THREAD_POOL_STATUS`` (also ``SELECT * FROM information_schema.THREAD_POOL_STATUS``),
``SHOW [FULL] PROCESSLIST``, ``KILL [CONNECTION | QUERY] id``, ``KILL QUERY ID qid``,
``SHOW SHARDS`` and ``SHOW DATASOURCES`` read snapshots (executor ``status()`` /
``queries()``, ``DataSource.statistics()``) and never open an executor query, so they
answer while every bucket is saturated (seed 002: health checks queued behind work made
healthy servers look dead).

The server reaches the coordinator only through :class:`AdminSource`, a small protocol
of what admin needs; the coordinator's implementation is
:class:`sharding.admin_view.CoordinatorAdmin` (reached through :mod:`sharding.api`),
and tests pass fakes.

Privileges (:mod:`sharding.server.auth`), checked against a :class:`Viewer` (who asks):
without ``process`` a user sees only its own connections in the process list (as
MySQL shows a user without PROCESS only its own threads); ``KILL`` of another user's
connection or query needs ``connection_admin`` (else 1095 ER_KILL_DENIED_ERROR "You are
not owner of thread N"); the snapshots of the pool and the shards need ``admin`` (else
1227 ER_SPECIFIC_ACCESS_DENIED_ERROR). A user is the owner of every connection logged
in under its name, as in MySQL.

:func:`redact_sql` replaces every literal of a statement by ``?``: the HTTP status
shows statements only that way, so no value a client sent leaves the process.

Invariant: these functions only read snapshots and call ``cancel_query``/``kill``;
they never block and never raise anything but ``ShardgateError``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from executor.status import BucketStatus
from sharding.api import (
    CONSERVATIVE,
    TOKEN,
    Column,
    DataSourceStatistics,
    Result,
    bigint,
    double,
    record_columns,
    show_columns,
    typed,
    varchar,
)
from sharding.errors import KillDenied, NoSuchQuery, NoSuchThread, SpecificAccessDenied
from sharding.server.auth import ALL_PRIVILEGES

__all__ = [
    "SYSTEM",
    "AdminSource",
    "ConnectionInfo",
    "ConnectionRegistry",
    "KillDenied",
    "NullAdmin",
    "SpecificAccessDenied",
    "Viewer",
    "answer_admin",
    "check_kill",
    "is_admin_statement",
    "redact_sql",
]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who runs an admin statement: its connection, user name and privileges."""

    user: str
    privileges: frozenset[str] = frozenset()
    connection_id: int | None = None

    def may(self, privilege: str) -> bool:
        return privilege in self.privileges


#: Internal callers (tests, embedding code) that are not a client: every privilege.
SYSTEM = Viewer("", ALL_PRIVILEGES)


def _need(viewer: Viewer, privilege: str) -> None:
    if not viewer.may(privilege):
        raise SpecificAccessDenied(
            f"Access denied; you need (at least one of) the {privilege.upper()} "
            "privilege(s) for this operation"
        )


class AdminSource(Protocol):
    """What admin SQL needs from the coordinator (snapshots and one action)."""

    def thread_pool_status(self) -> Sequence[Any]:
        """Executor ``status()`` rows (dataclasses or objects with ``as_dict()``)."""
        ...

    def queries(self) -> Sequence[Any]:
        """Executor ``queries()``: objects with id, session, bucket, parent_id, age,
        state, children_done, children_total, children_running, children_queued."""
        ...

    def cancel_query(self, query_id: int) -> bool: ...

    def datasource_statistics(self) -> Sequence[Any]:
        """``DataSource.statistics()`` of every data source."""
        ...

    def shards(self) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of ``SHOW SHARDS``."""
        ...


class NullAdmin:
    """No coordinator attached (tests, admin port of a bare server): empty answers."""

    def thread_pool_status(self) -> Sequence[Any]:
        return []

    def queries(self) -> Sequence[Any]:
        return []

    def cancel_query(self, query_id: int) -> bool:
        return False

    def datasource_statistics(self) -> Sequence[Any]:
        return []

    def shards(self) -> tuple[list[str], list[tuple[Any, ...]]]:
        return ["logical_table", "shard", "datasource", "physical_table"], []


def _shard_columns(names: Sequence[str]) -> list[Column]:
    """SHOW SHARDS: the shard number a BIGINT, names VARCHAR(64), the rest text."""
    out: list[Column] = []
    for n in names:
        if n == "shard":
            out.append(bigint(n, not_null=True))
        elif n in ("logical_table", "datasource", "physical_database", "physical_table"):
            out.append(varchar(n, 129 if n == "logical_table" else 64, not_null=True))
        else:
            out.append(typed(n, CONSERVATIVE))
    return out


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """One client connection, as SHOW PROCESSLIST shows it."""

    id: int
    user: str
    host: str
    db: str | None
    command: str  # Sleep | Query | Execute | Prepare | Connect | Killed
    time: float  # seconds in the current command
    state: str
    info: str | None
    #: The coordinator session's id (to find its executor queries), if any.
    session_id: object = None


class ConnectionRegistry(Protocol):
    def connection_infos(self) -> list[ConnectionInfo]: ...

    def kill(self, connection_id: int, *, query_only: bool) -> bool: ...


_ADMIN = re.compile(
    r"\s*(?:"
    r"SHOW\s+(?P<tps>THREAD_POOL_STATUS)"
    r"|SELECT\s+\*\s+FROM\s+(?:`?information_schema`?\s*\.\s*)?`?(?P<tps_is>THREAD_POOL_STATUS)`?"
    r"|SHOW\s+(?P<full>FULL\s+)?(?P<pl>PROCESSLIST)"
    r"|SELECT\s+\*\s+FROM\s+(?:`?information_schema`?\s*\.\s*)?`?(?P<pl_is>PROCESSLIST)`?"
    r"|SHOW\s+(?P<shards>SHARDS)"
    r"|SHOW\s+(?P<ds>DATASOURCES)"
    r"|KILL\s+(?:(?P<kq>QUERY)\s+(?:(?P<kqid>ID)\s+)?|CONNECTION\s+)?(?P<kid>\d+)"
    r")\s*;?\s*\Z",
    re.I | re.S,
)
#: The admin statement grammar (groups: pl/pl_is, kid, kq, kqid, ...), for forwarding
#: across workers (sharding.server.workers) and coordinators (sharding.server.instances:
#: the owner of a KILL's id runs it here with the asker's Viewer, so the rule is one).
ADMIN_STATEMENT = _ADMIN


def is_admin_statement(sql: str) -> bool:
    return len(sql) < 512 and _ADMIN.match(sql) is not None


def snapshot_dict(obj: Any) -> dict[str, Any]:
    fn = getattr(obj, "as_dict", None)
    if callable(fn):
        return dict(fn())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return dict(obj)
    return dict(vars(obj))


def _cell(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, dict | list | tuple):
        return json.dumps(v, default=str, sort_keys=True)
    return v


#: Fields a worker adds to each SHOW DATASOURCES record (``server/workers.py``: its
#: number, the worker count and the pool budget it shares).
_WORKER_FIELDS = {"worker": int, "workers": int, "budget_total": int}


def _records(rows: Sequence[Any], fallback: list[str], record_type: type) -> Result:
    """A table of records: one column per field, typed by the field's declared type
    (``record_type``'s, and the fields workers add), never by the values."""
    dicts = [snapshot_dict(r) for r in rows]
    names = list(dicts[0].keys()) if dicts else fallback
    return Result(
        columns=record_columns(names, record_type, _WORKER_FIELDS),
        rows=[tuple(_cell(d.get(n)) for n in names) for d in dicts],
    )


_BUCKET_FALLBACK = [
    "bucket",
    "slots",
    "active",
    "waiting",
    "queued_high",
    "queued_low",
    "stalled",
    "oversubscribed",
    "completed",
    "stalls",
    "kickups",
    "deadlocks_suspected",
    "queries",
]
_DS_FALLBACK = [
    "name",
    "kind",
    "max_size",
    "size",
    "idle",
    "in_use",
    "waiting",
    "acquired",
    "created",
    "closed",
    "validations",
    "validation_failures",
    "acquire_timeouts",
    "errors",
    "breaker",
    "extra",
]


def _processlist_columns(full: bool) -> list[Column]:
    """MariaDB's SHOW [FULL] PROCESSLIST columns (Id .. Info), then the coordinator's
    own: milliseconds, the executor query, its bucket and shard progress."""
    return [
        *show_columns("FULL PROCESSLIST" if full else "PROCESSLIST")[:8],
        double("Time_ms", decimals=3),
        bigint("Query_id"),
        bigint("Bucket"),
        bigint("Shards_done"),
        bigint("Shards_total"),
        double("Progress", decimals=1),
    ]


def processlist(
    source: AdminSource,
    registry: ConnectionRegistry,
    *,
    full: bool,
    viewer: Viewer = SYSTEM,
    redact: bool = False,
) -> Result:
    """Connections with the logical query each runs (bucket, shards done/total).

    Without ``process``, ``viewer`` sees only the connections of its own user; with
    ``redact`` every statement is shown with its literals replaced by ``?``."""
    by_session: dict[object, Any] = {}
    for q in source.queries():
        if getattr(q, "parent_id", None) is None:
            key = getattr(q, "session", None)
            if key is not None:
                key = getattr(key, "id", key)
                by_session.setdefault(key, q)
    rows = []
    see_all = viewer.may("process")
    for c in sorted(registry.connection_infos(), key=lambda c: c.id):
        if not see_all and c.user != viewer.user:
            continue
        q = by_session.get(c.session_id) if c.session_id is not None else None
        info = redact_sql(c.info) if redact and c.info is not None else c.info
        if info is not None and not full and len(info) > 100:
            info = info[:100]
        state = c.state
        query_id = bucket = done = total = progress = None
        if q is not None:
            query_id, bucket = q.id, q.bucket
            done, total = q.children_done, q.children_total
            state = f"{q.state}: {q.children_running} running, {q.children_queued} queued"
            if total:
                progress = round(100.0 * done / total, 1)
        rows.append(
            (
                c.id,
                c.user,
                c.host,
                c.db,
                c.command,
                int(c.time),
                state,
                info,
                round(c.time * 1000.0, 3),
                query_id,
                bucket,
                done,
                total,
                progress,
            )
        )
    return Result(columns=_processlist_columns(full), rows=rows)


def check_kill(registry: ConnectionRegistry, viewer: Viewer, connection_id: int) -> None:
    """Raise unless ``viewer`` may kill connection ``connection_id``: 1094 when there is
    no such connection, 1095 when it belongs to another user and the viewer lacks
    ``connection_admin``."""
    info = next((c for c in registry.connection_infos() if c.id == connection_id), None)
    if info is None:
        raise NoSuchThread(f"Unknown thread id: {connection_id}")
    if info.user != viewer.user and not viewer.may("connection_admin"):
        raise KillDenied(f"You are not owner of thread {connection_id}")


def query_owner(source: AdminSource, registry: ConnectionRegistry, query_id: int) -> str | None:
    """The user whose connection runs executor query ``query_id`` (None: no such query,
    or one that belongs to no client connection)."""
    query = next((q for q in source.queries() if getattr(q, "id", None) == query_id), None)
    session = getattr(query, "session", None)
    if query is None or session is None:
        return None
    key = getattr(session, "id", session)
    for c in registry.connection_infos():
        if c.session_id is not None and c.session_id == key:
            return c.user
    return None


def answer_admin(
    sql: str,
    source: AdminSource,
    registry: ConnectionRegistry,
    *,
    on_kill: Callable[[int], None] | None = None,
    viewer: Viewer = SYSTEM,
) -> Result | None:
    """The answer to an admin statement, or None when ``sql`` is not one; privileges
    are those of ``viewer`` (module docstring)."""
    m = _ADMIN.match(sql) if len(sql) < 512 else None
    if m is None:
        return None
    if m.group("tps") or m.group("tps_is"):
        _need(viewer, "admin")
        return _records(source.thread_pool_status(), _BUCKET_FALLBACK, BucketStatus)
    if m.group("pl") or m.group("pl_is"):
        full = bool(m.group("full") or m.group("pl_is"))
        return processlist(source, registry, full=full, viewer=viewer)
    if m.group("ds"):
        _need(viewer, "admin")
        return _records(source.datasource_statistics(), _DS_FALLBACK, DataSourceStatistics)
    if m.group("shards"):
        _need(viewer, "admin")
        names, rows = source.shards()
        return Result(columns=_shard_columns(names), rows=[tuple(r) for r in rows])
    target = int(m.group("kid"))
    if m.group("kqid"):
        if not viewer.may("connection_admin"):
            owner = query_owner(source, registry, target)
            if owner is None and not any(
                getattr(q, "id", None) == target for q in source.queries()
            ):
                raise NoSuchQuery(f"Unknown query id: {target}")
            if owner != viewer.user:
                raise KillDenied(f"You are not owner of query {target}")
        if not source.cancel_query(target):
            raise NoSuchQuery(f"Unknown query id: {target}")
        return Result()
    check_kill(registry, viewer, target)
    if not registry.kill(target, query_only=bool(m.group("kq"))):
        raise NoSuchThread(f"Unknown thread id: {target}")
    if on_kill is not None:
        on_kill(target)
    return Result()


_LITERAL_KINDS = frozenset(("str", "num", "prefixed", "hex"))


def redact_sql(sql: str) -> str:
    """``sql`` with every literal (strings, numbers, ``X'..'``, ``0x..``, charset-
    introduced strings) replaced by ``?``, for display where values must not show.

    Comments are dropped, except executable ones (``/*! … */``, ``/*+ … */``), whose
    text is redacted too. An unterminated quote (a statement cut short for display)
    hides everything after it.
    """
    out: list[str] = []
    prev = ""
    for m in TOKEN.finditer(sql):
        kind, text = m.lastgroup, m.group()
        if kind in _LITERAL_KINDS:
            # ``t.1`` is a qualified name, not a number (as the lexer's normalize()).
            out.append(text if kind == "num" and prev == "." else "?")
        elif kind == "comment":
            if text.startswith(("/*!", "/*+")):
                inner = text[3:-2] if text.endswith("*/") else text[3:]
                out.append(f"{text[:3]}{redact_sql(inner)}*/")
            else:
                out.append(" ")
        elif kind == "other" and text in ("'", '"'):
            out.append("?")
            break
        else:
            out.append(text)
        if kind not in ("ws", "comment"):
            prev = text
    return "".join(out)
