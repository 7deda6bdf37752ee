"""What a client-facing front end (the MySQL wire-protocol server, an embedding program)
needs from the coordinator: sessions that execute statements and return results.

This module only fixes the shapes, so the protocol server and the coordinator can be
built and tested independently (the server's tests use a fake session; the coordinator
implements the real one).

Invariants:

* ``Session.execute`` either returns a :class:`Result` or raises a
  :class:`sharding.errors.ShardgateError` (MySQL code + SQLSTATE + message). Any other
  exception escaping it is a bug; front ends report it as error 1105.
* ``Session.cancel()`` may be called from any trio task (``KILL QUERY``, client gone):
  the running statement, and every shard subquery it started, is cancelled, and its
  ``execute`` raises ``QueryInterrupted``. With no statement running it does nothing.
* A ``Result`` with ``columns`` is a result set (possibly with zero rows); without
  columns it is an OK packet (``affected``, ``last_insert_id``, ``warnings``).
* ``Session.stream`` runs a SELECT with bounded memory, for results too large to hold
  (a front end sending a million rows to a client)::

      async with session.stream(sql, params) as rs:   # errors before any row: here
          send_header(rs.columns)                      # known before the first batch
          async for batch in rs:                       # non-empty lists of rows
              send_rows(batch)                         # later errors: from the loop

  The statement produces a batch only when the consumer asks for it, so a slow
  consumer slows the shard reads instead of buffering rows. Leaving the ``async
  with`` early (``break``, an error, cancellation) stops the statement and its shard
  reads; it returns once the session is free for its next statement. A result that
  ends early for any reason but its own end (cancelled, the coordinator closing) is an
  error, never a silently short result.

Beyond sessions, this module is the whole of what the protocol server
(``sharding/server``) takes from the coordinator side; it imports nothing else of
``sharding`` but :mod:`sharding.errors` (``tests/sharding/test_layers.py``). The rest
of this module re-exports, or wraps in thin functions, the shared pieces:

* character sets: MariaDB's tables (``CHARSETS``, ``COLLATIONS``) and the client
  character set's codecs (``decode_statement``, ``result_encoder``, ...);
* ``LOAD DATA [LOCAL] INFILE``: the statement's parser and the record reader;
* answers the server gives itself: column definitions (``typed``, ``varchar``,
  ``show_columns``, ...), session state (``SessionState``) with its ``SELECT``/``SHOW``
  answers (``answer_select``, ``answer_show``), the MySQL lexer's ``TOKEN``
  and ``SCAN`` (``sharding.sql.lexer``);
* running a server: the coordinator built from a config file (``load_config``,
  ``config_topology``, ``server_config``, ``open_coordinator``), its statement log,
  and the catalog's data source for the instance registry.

Modules that import this one (``session_answers``, ``coordinator``) and the ``serve``
wiring (``cli``) are imported by the functions that need them, never at import time:
this module is imported first (``sharding/__init__``) and must import without them.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from sharding.admin_view import CoordinatorAdmin
from sharding.backend.base import Column, DataSource, DataSourceStatistics, Row
from sharding.charsets_data import CHARSETS, COLLATIONS
from sharding.client_charset import (
    charset_of_collation_id,
    decode_bytes,
    decode_statement,
    encode_text,
    python_codec,
    result_encoder,
)
from sharding.load_data import LoadSpec, Record, RecordReader, parse_load_data, shape_rows
from sharding.local_columns import (
    CONSERVATIVE,
    bigint,
    double,
    record_columns,
    show_columns,
    typed,
    varchar,
)
from sharding.logging_setup import StatementLog, debug_enabled
from sharding.session_state import GlobalVariables, SessionState, parse_set_text
from sharding.sql.lexer import SCAN, SPACE_AND_COMMENTS, TOKEN

if TYPE_CHECKING:
    # Re-exported for the server's annotations (it may import only sharding.api).
    from sharding.coordinator import Coordinator as Coordinator
    from sharding.topology import Topology

__all__ = [
    "CHARSETS",
    "COLLATIONS",
    "CONSERVATIVE",
    "SCAN",
    "SPACE_AND_COMMENTS",
    "TOKEN",
    "ClientInfo",
    "Column",
    "CoordinatorAdmin",
    "DataSource",
    "DataSourceStatistics",
    "GlobalVariables",
    "LoadSpec",
    "Record",
    "RecordReader",
    "Result",
    "ResultStream",
    "Row",
    "Session",
    "SessionFactory",
    "SessionState",
    "StatementLog",
    "answer_select",
    "answer_show",
    "bigint",
    "catalog_source",
    "charset_of_collation_id",
    "config_topology",
    "debug_enabled",
    "decode_bytes",
    "decode_statement",
    "double",
    "encode_text",
    "like_to_regex",
    "load_config",
    "open_coordinator",
    "parse_load_data",
    "parse_set_text",
    "python_codec",
    "record_columns",
    "registry_source",
    "result_encoder",
    "server_config",
    "shape_rows",
    "show_columns",
    "tune_gc",
    "typed",
    "varchar",
    "version",
]


@dataclass(slots=True)
class Result:
    columns: list[Column] | None = None
    rows: list[Row] = field(default_factory=list)
    affected: int = 0
    last_insert_id: int | None = None
    warnings: int = 0
    info: str = ""

    @property
    def is_result_set(self) -> bool:
        return self.columns is not None


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is on the other end of a protocol connection, handed to a session that owns
    its state (optional ``Session.attach_client``): ``USER()``/``CONNECTION_ID()``,
    the server's identity variables (``@@version``, ``@@max_allowed_packet``, ...),
    and whether the client asked for CLIENT_FOUND_ROWS (affected rows = matched rows).

    Sessions may also offer ``answer_locally(sql, status) -> Result | None``: answers
    from session state that never enter a bucket (``SELECT @@version_comment``, ``SHOW
    VARIABLES``); None means "run it with ``execute``". And ``async describe(sql) ->
    list[Column] | None``: the result columns of a statement without running it, for
    ``COM_STMT_PREPARE`` (None: no result set, or known only when it runs; columns may
    carry a derived wire definition, ``Column.wire``). And ``lean_select(sql)`` /
    ``async run_lean(sql, lean, sink)``: a text SELECT the session knows to be a
    cached one-shard read, run without the front end's local and admin answers (it is
    none of them; ``sharding/session_lean.py``). Front ends use these when present
    (``getattr``) and keep their own minimal state otherwise.

    Result columns: a column with ``wire`` (every SELECT over MariaDB shards: the
    shard's own definition, the catalog's, or MariaDB's rule for what the coordinator
    computes) is sent with exactly that definition; its values are never inspected
    for a type."""

    connection_id: int
    host: str
    found_rows: bool = False
    identity: Mapping[str, Any] = field(default_factory=dict)
    #: The character set of the handshake (character_set_client/connection/results).
    charset: str = "utf8mb4"


class ResultStream(Protocol):
    """The rows of one streamed SELECT (see module invariants)."""

    @property
    def columns(self) -> list[Column]:
        """The result columns; known once the ``async with`` is entered."""
        ...

    def __aiter__(self) -> AsyncIterator[list[Row]]: ...

    async def __aenter__(self) -> ResultStream: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


class Session(Protocol):
    """One client's session: current database, autocommit, open transaction."""

    @property
    def id(self) -> int: ...

    @property
    def query_id(self) -> int | None:
        """Executor query id of the running statement (``KILL QUERY``, PROCESSLIST)."""
        ...

    @property
    def database(self) -> str | None: ...

    @property
    def in_transaction(self) -> bool: ...

    @property
    def autocommit(self) -> bool: ...

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """Run one statement. ``params`` fill ``?`` placeholders (prepared statements)."""
        ...

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> ResultStream:
        """Run a SELECT with bounded memory: ``async with session.stream(sql) as rs``."""
        ...

    async def use(self, database: str) -> None:
        """``USE db`` / COM_INIT_DB; raises UnknownDatabase."""
        ...

    def cancel(self) -> None:
        """Cancel the running statement (if any); see module invariants."""
        ...

    async def close(self) -> None:
        """Roll back an open transaction and release everything the session holds."""
        ...


class SessionFactory(Protocol):
    def open_session(self, *, user: str = "root", database: str | None = None) -> Session: ...


# -- session answers (sharding.session_answers imports Result from here) --------------------


def answer_select(state: SessionState, sql: str) -> Result | None:
    """A FROM-less SELECT of variables, session functions and literals; else None."""
    from sharding.session_answers import answer_select

    return answer_select(state, sql)


def answer_show(
    state: SessionState, sql: str, status: dict[str, Any] | None = None
) -> Result | None:
    """SHOW VARIABLES/STATUS/WARNINGS/ERRORS/COLLATION/CHARSET/ENGINES; None otherwise."""
    from sharding.session_answers import answer_show

    return answer_show(state, sql, status)


def like_to_regex(pattern: str, escape: str = "\\") -> re.Pattern[str]:
    """A LIKE pattern as a regular expression (``SHOW ... LIKE``)."""
    from sharding.session_answers import like_to_regex

    return like_to_regex(pattern, escape)


# -- serving: the coordinator built from a config file (as ``sharding.cli`` does) ----------


def load_config(path: str | None) -> tuple[dict[str, Any], Path]:
    """The ``--config`` TOML file and its directory (no file: empty, ``.``)."""
    from sharding.cli import _load_toml

    return _load_toml(path)


def config_topology(
    data: dict[str, Any], base_dir: Path, data_dir: str, *, service: bool = False
) -> Topology:
    """The topology of a config file (the embedded SQLite default without datasources);
    ``service``: for a server process, whose MySQL data sources default to the native
    driver (``sharding.cli.SERVICE_DRIVER``)."""
    from sharding.cli import _topology

    topology: Topology = _topology(data, base_dir, data_dir, service=service)
    return topology


def server_config(data: dict[str, Any], args: argparse.Namespace, topology: Any) -> Any:
    """The ``[server]`` section with the command line's overrides (a ``ServerConfig``)."""
    from sharding.cli import _server_config

    return _server_config(data, args, topology)


def tune_gc(threshold: int) -> None:
    """``--gc-threshold``: see :func:`sharding.cli.tune_gc`."""
    from sharding.cli import tune_gc

    tune_gc(threshold)


def version() -> str:
    """The installed shardgate's version."""
    from sharding.cli import _version

    return _version()


def open_coordinator(topology: Topology) -> Coordinator:
    """A coordinator over ``topology``, opened and closed by ``async with``."""
    from sharding.coordinator import Coordinator

    return Coordinator(topology)


# -- the catalog's data source (coordinator instances' registry) ----------------------------


def registry_source(coordinator: Coordinator) -> DataSource | None:
    """A two-connection data source to the catalog's server (the coordinator's first
    data source), or None when the catalog does not live on MySQL (embedded SQLite:
    one process, nothing to coordinate)."""
    from sharding.backend.mysql import MySQLDataSource

    names = [d.name for d in coordinator.topology.datasources]
    first = coordinator.datasources.get(names[0]) if names else None
    if not isinstance(first, MySQLDataSource):
        return None
    config = dataclasses.replace(first.config, max_connections=2, min_idle=0)
    return MySQLDataSource(first.name, config, bridge=first._bridge)


def catalog_source(topology: Topology, **options: Any) -> DataSource:
    """A data source of its own to the catalog's server (``topology``'s first data
    source), its ``[[datasources]]`` options overridden by ``options``."""
    from sharding.topology import build_datasource

    first = topology.datasources[0]
    ds: DataSource = build_datasource(
        dataclasses.replace(first, options={**first.options, **options})
    )
    return ds
