"""The backend interface: how the coordinator talks to one data source.

A *data source* is one physical server (MySQL/MariaDB) or one folder of SQLite shard
files. It owns a pool of connections shared by every shard database it hosts; shard
SQL always uses fully qualified names (``shard_0007.t``), so one connection can serve
any shard database on its server.

Contract, shared by every backend (the MySQL and SQLite ones, and test fakes):

* All methods are called from trio. A backend that drives another runtime (aiomysql
  runs on asyncio) hides that completely: no asyncio object ever crosses this API, and
  a backend opened under one ``trio.run`` either works or fails at once with a clear
  error under a later one (seed 000: pooled connections outliving their runtime).
* A borrowed connection is used by one task at a time and returned by leaving the
  ``connection()`` / ``transaction()`` context. A task cancelled while it waits on the
  socket makes the backend *close* that connection (never return it dirty to the pool)
  and, where the server would keep running the statement, stop it server-side.
* Reads are bounded: the coordinator fetches chunks (``LIMIT n``) and releases the
  connection between chunks, so ``fetch`` returns a whole (small) ``ResultSet``.
* Every failure is a :class:`sharding.errors.ShardgateError` whose message names the
  data source: ``PoolTimeout`` (no connection within ``acquire_timeout``),
  ``DataSourceUnavailable`` (connect/validation failed, breaker open),
  ``QueryTimeout`` and ``BackendError`` (the server's own code and message).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from sharding.errors import ShardgateError

Row = tuple[Any, ...]


_INTEGER_TYPES = frozenset({1, 2, 3, 8, 9, 13})  # TINY SHORT LONG LONGLONG INT24 YEAR
_INT_PRECISION = {1: 3, 2: 5, 9: 7, 3: 10, 8: 19, 13: 4}
_STRING_TYPES = frozenset({247, 248, 252, 253, 254})  # ENUM SET BLOB VAR_STRING STRING
_UNSIGNED_FLAG = 32
_BINARY_CHARSET = 63


#: (schema, table, org_table, org_name) of a result column: see :attr:`ColumnType.origin`.
ColumnOrigin = tuple[str, str, str, str | None]
#: The origin MariaDB sends for an expression, aggregate or literal: all empty.
EXPRESSION_ORIGIN: ColumnOrigin = ("", "", "", "")


@dataclass(frozen=True, slots=True)
class ColumnType:
    """The numbers of one column definition (Protocol::ColumnDefinition41: type code,
    display length, flags, decimals, character set) — as a MariaDB shard sent them for
    a result column, or as the coordinator derived them (:mod:`sharding.sql.describe`).

    ``table_column``: the definition is a table column's own (from the catalog or a
    shard), not an expression's; not part of equality.

    ``origin``: where the result column comes from, as MariaDB names it in the
    definition's ``schema``, ``table``, ``org_table`` and ``org_name`` (logical names;
    :func:`sharding.sql.describe.describe_block` decides them for a select item).
    ``org_name`` None means the column's own name (a set operation's temporary
    table); the whole of it None means not known (the name is sent as ``org_name``,
    the rest empty). Not part of equality: it labels a definition, it is not one.
    """

    type: int
    length: int = 0
    flags: int = 0
    decimals: int = 0
    charset: int = _BINARY_CHARSET
    table_column: bool = field(default=False, compare=False)
    origin: ColumnOrigin | None = field(default=None, compare=False)

    @property
    def unsigned(self) -> bool:
        return bool(self.flags & _UNSIGNED_FLAG)

    @property
    def is_integer(self) -> bool:
        return self.type in _INTEGER_TYPES

    @property
    def is_decimal(self) -> bool:
        return self.type in (246, 0)  # NEWDECIMAL, DECIMAL

    @property
    def is_float(self) -> bool:
        return self.type in (4, 5)  # FLOAT, DOUBLE

    @property
    def is_string(self) -> bool:
        return self.type in _STRING_TYPES and self.charset != _BINARY_CHARSET

    @property
    def precision(self) -> int:
        """Decimal digits of a number type (MariaDB's ``decimal_precision()``)."""
        if self.is_decimal:
            return max(self.length - (1 if self.decimals else 0) - (0 if self.unsigned else 1), 1)
        if self.is_integer:
            return _INT_PRECISION.get(self.type, 19) + (
                1 if self.type == 8 and self.unsigned else 0
            )
        return self.length


@dataclass(frozen=True, slots=True)
class Column:
    """A result column. ``type_code`` is a MySQL field type (``FIELD_TYPE.*``) or None;
    ``wire`` the whole column definition when known (the shard's own, or derived by the
    coordinator): the protocol server sends it as is, whatever the values."""

    name: str
    type_code: int | None = None
    wire: ColumnType | None = None


@dataclass(slots=True)
class ResultSet:
    """A read's rows. ``warnings``: the warning count of the result's final packet
    (MariaDB counts every warning the statement raised); ``notes``: their (level, code,
    message) as ``SHOW WARNINGS`` listed them right after, read only when the count is
    not zero (at most the server's ``max_error_count``). SQLite shards report the
    warnings of the registered functions that decide them (``sqlite_arithmetic``'s
    collector; docs/refusals.md lists what stays silent)."""

    columns: list[Column]
    rows: list[Row]
    warnings: int = 0
    notes: list[tuple[str, int, str]] | None = None
    #: The rows as the shard sent them, one row packet's payload each, instead of
    #: ``rows`` (``MySQLConnection.fetch_relayed``); None for parsed rows.
    payloads: list[bytes] | None = None


@dataclass(slots=True)
class ExecResult:
    """A write's OK packet. ``warnings``: its warning count (every warning the
    statement raised); ``notes``: their (level, code, message) as ``SHOW WARNINGS``
    listed them right after, read only when the count is not zero (as
    :attr:`ResultSet.notes`), None when not read."""

    affected: int = 0
    last_insert_id: int | None = None
    warnings: int = 0
    notes: list[tuple[str, int, str]] | None = None


@dataclass(frozen=True, slots=True)
class DataSourceStatistics:
    """One row of ``SHOW DATASOURCES``; trio ``statistics()``-style snapshot."""

    name: str
    kind: str
    max_size: int
    size: int  # open connections
    idle: int
    in_use: int
    waiting: int  # tasks waiting to acquire
    acquired: int = 0  # total borrows
    created: int = 0
    closed: int = 0
    validations: int = 0
    validation_failures: int = 0
    acquire_timeouts: int = 0
    errors: int = 0
    breaker: str = "closed"  # closed | open | half_open
    extra: dict[str, Any] = field(default_factory=dict)


class Connection(Protocol):
    """A borrowed connection. Statements are complete SQL text in the backend's dialect."""

    async def fetch(self, sql: str) -> ResultSet: ...

    async def execute(self, sql: str) -> ExecResult: ...


async def execute_all(conn: Connection, sqls: Sequence[str]) -> list[ExecResult]:
    """Run ``sqls`` in order on ``conn``, stopping at the first error.

    A connection may offer ``execute_many(sqls)`` to send them with less per-statement
    overhead (the MySQL backend: one bridge hop for the lot); the results must be the
    same as executing them one by one.
    """
    many = getattr(conn, "execute_many", None)
    if many is not None:
        results: list[ExecResult] = await many(sqls)
        return results
    results = []
    for sql in sqls:
        try:
            results.append(await conn.execute(sql))
        except ShardgateError as exc:
            if exc.statement_index is None:
                exc.statement_index = len(results)
            raise
    return results


def connection_lost(conn: object) -> bool:
    """True when a borrowed connection is gone: closed because a statement on it was
    cancelled or its socket failed (the contract above: never reused dirty). The work
    of a transaction held on it is gone with it — the server rolls a transaction back
    when its connection closes — so a session transaction that lost one must not commit
    the others (:func:`sharding.session_txn.doom_transaction`).

    A connection says so with a ``lost`` attribute (the MySQL backend's). The SQLite
    backend's transaction holds one sqlite3 connection per shard file (``_subs``), each
    ``closed`` or ``abandoned`` (interrupted mid-statement) when lost: read here until
    that backend grows a ``lost`` attribute of its own."""
    lost = getattr(conn, "lost", None)
    if lost is not None:
        return bool(lost)
    subs = getattr(conn, "_subs", None)
    if isinstance(subs, dict):
        return any(
            getattr(sub, "closed", False) or getattr(sub, "abandoned", False)
            for sub in subs.values()
        )
    return False


class DataSource(ABC):
    """One physical server (or SQLite folder) with its pool."""

    kind: ClassVar[str]
    #: sqlglot dialect name used to render SQL for this backend ("mysql", "sqlite").
    dialect: ClassVar[str]
    #: True when the backend can take part in XA two-phase commit.
    supports_xa: ClassVar[bool] = False

    def __init__(self, name: str) -> None:
        self.name = name

    def unhonoured_setting(self, name: str, value: Any) -> str | None:
        """Why the session variable ``name`` at ``value`` would not change what this
        data source answers although MariaDB's answer changes with it (None: it
        does change, or needs not). The session refuses such a SET (1235) rather
        than answer as if it had not been made."""
        return None

    @abstractmethod
    async def open(self) -> None:
        """Connect (``min_idle``), check the server is reachable. Idempotent."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close every connection; later calls fail with a clear error."""

    @abstractmethod
    def connection(self, databases: Sequence[str] = ()) -> AbstractAsyncContextManager[Connection]:
        """Borrow a connection in autocommit mode.

        ``databases`` names the physical databases the statements will touch; a backend
        that cannot reach every database from any connection (SQLite attaches files)
        uses it, others ignore it.
        """

    @abstractmethod
    def transaction(self, databases: Sequence[str] = ()) -> AbstractAsyncContextManager[Connection]:
        """Borrow a connection inside BEGIN … COMMIT (ROLLBACK if the block raises)."""

    @abstractmethod
    async def ensure_database(self, database: str) -> None:
        """Create a physical database (schema / SQLite file) if it does not exist."""

    @abstractmethod
    def statistics(self) -> DataSourceStatistics: ...

    async def fetch(self, sql: str, databases: Sequence[str] = ()) -> ResultSet:
        async with self.connection(databases) as conn:
            return await conn.fetch(sql)

    async def execute(self, sql: str, databases: Sequence[str] = ()) -> ExecResult:
        async with self.connection(databases) as conn:
            return await conn.execute(sql)
