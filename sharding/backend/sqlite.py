"""Embedded SQLite backend: a data source is a folder of shard files.

Physical database ``shard_0007`` of a data source is the file
``<path>/shard_0007.sqlite``, attached to a connection under that schema name, so the
coordinator's fully qualified names (``shard_0007.t``) work unchanged.

Pool. SQLite allows ten attachments per connection, and both extremes cost too much
for 1024 shard files: a connection per file kept open is ~155 KB each (SQLite's
per-connection lookaside), and opening one per statement costs ~2.5 ms (file, WAL
index). So connections are pooled *by what they have attached*: each holds up to ten
shard files; ``connection(["shard_0007"])`` borrows an idle connection that already
has ``shard_0007`` attached, else an idle one with room (or whose least recently used
attachments are detached to make room) and attaches it, else opens one. ATTACH of a
file another connection of the process already has open is cheap (SQLite shares the
inode and WAL index). Idle connections beyond ``max_idle`` are closed, least recently
used first. Transactions take a connection with *exactly* their databases attached
(``BEGIN IMMEDIATE`` locks every attached file).

Threads. Every blocking ``sqlite3`` call runs in a worker thread started with
``trio.to_thread.run_sync`` and this data source's own ``CapacityLimiter``
(``max_threads``): trio's default limiter is shared by the whole process and capped at
40, which would add a second, invisible bound under the executor's slots. The caller is
an executor child, so the bucket's slots bound how many run at once.

Cancellation. A statement cancelled while it runs is interrupted
(``sqlite3.Connection.interrupt``) and its connection is closed by the worker thread
when the call returns — never handed back to the pool.

Transactions. ``transaction(databases)`` returns a connection that opens one sqlite3
connection per shard file it writes (``BEGIN IMMEDIATE`` on first use, so a
transaction never fails half-way on a read→write lock upgrade) and dispatches each
statement by the physical database it names. Leaving the block commits them one after
the other only if nothing raised, else rolls all back. WAL mode makes each file's
commit atomic, but *not* the set: a crash (or a failing COMMIT) between two files'
commits leaves the earlier ones committed. That window is reported exactly
(``TransactionError`` naming what committed and what was rolled back); closing it needs
two-phase commit, which SQLite does not offer across WAL files.

A write statement's *other* databases (a broadcast table in a subquery of every
shard's UPDATE) are attached read-only to the writing connection (``mode=ro``:
``BEGIN IMMEDIATE`` takes no write lock on them), so one transaction can write 16 shard
files that all read the same broadcast file; the attachments are detached at the end
and the connection pooled again. A file the transaction wrote is never read read-only
afterwards (it would miss the transaction's own writes): such a statement is 1235.

Durability: WAL with ``synchronous=NORMAL`` — a power loss may drop the last commits,
never corrupt a file.

MySQL's meaning (issue 15). Every connection carries MySQL's collations, functions and
read types (:mod:`sharding.backend.sqlite_mysql`), and SQLite's "no such function"
becomes 1235 naming the function. Affected rows are MySQL's: an UPDATE counts the rows
it changed (``matched`` keeps SQLite's count, for CLIENT_FOUND_ROWS), a REPLACE counts
the rows it deleted as well as those it inserted (a replaced row is 2) — both measured
by a temporary trigger inside a savepoint around the one statement. ``INSERT … ON
DUPLICATE KEY UPDATE`` arrives as SQLite's upsert (:mod:`sharding.sql.upsert`) and
counts 1 per insert, 2 per changed duplicate, 0 per unchanged one. A strict-mode
violation (text into a numeric column) is 1366, an ENUM value that is no label 1265, a
value past an integer or FLOAT column's range 1264 (the shard file's own constraints
and triggers store MySQL's rounded integers and single-precision FLOATs:
:mod:`sharding.backend.sqlite_numeric_store`).
Before a write, :func:`sharding.backend.sqlite_on_update.begin_statement` starts the
statement for ``ON UPDATE CURRENT_TIMESTAMP`` (its time, its assignments); a read has
its ENUM operands of arithmetic made their index
(:mod:`sharding.backend.sqlite_enum_numbers`) and its computed DECIMAL values typed as
MySQL's (:mod:`sharding.backend.sqlite_decimal_results`). Every statement has its
DOUBLE arithmetic range-checked (MySQL's 1690, never an infinity) and its DATE operands
of arithmetic made MySQL's numbers (:mod:`sharding.backend.sqlite_arithmetic`); a
write's ``VALUES`` rows and upsert clause, which arrive as the client's MySQL text, have
their expressions translated first (:mod:`sharding.backend.sqlite_passthrough`), and a
division by zero in an INSERT, REPLACE or UPDATE is MySQL's strict-mode 1365. A read
reports the warnings its registered functions raise while its rows are read (a division
by zero's 1365, a string truncated to a number's 1292: collected per statement on the
worker thread, :func:`sharding.backend.sqlite_arithmetic.warnings_start`) as the
``ResultSet``'s count and first 64 notes, as a MariaDB shard's final packet and ``SHOW
WARNINGS`` do. A write's warnings that its rows decide (an UPDATE's 1265 for a
DECIMAL stored rounded, ``INSERT IGNORE``'s 1062 per skipped row, a DELETE condition's
1292) are collected around the one statement
(:mod:`sharding.backend.sqlite_write_warnings`), an INSERT's from its literal values
(:mod:`sharding.backend.sqlite_store_notes`, which also writes ``INSERT IGNORE``'s
``'12x'`` into a numeric column as 12).

Statistics: besides the pool counters, ``extra`` reports ``reads_open`` and
``peak_reads_open`` (fetches running at once) so tests can check the executor's window
bounded a whole fan-out.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import sqlglot
import trio
from sqlglot import exp

from sharding.backend import (
    sqlite_arithmetic,
    sqlite_binary_store,
    sqlite_decimal_results,
    sqlite_enum_numbers,
    sqlite_expression_collation,
    sqlite_hex_literals,
    sqlite_json_store,
    sqlite_length_store,
    sqlite_like_collation,
    sqlite_mysql,
    sqlite_numeric_store,
    sqlite_on_update,
    sqlite_passthrough,
    sqlite_store_notes,
    sqlite_temporal,
    sqlite_time_arithmetic,
    sqlite_write_warnings,
)
from sharding.backend.base import (
    Column,
    Connection,
    DataSource,
    DataSourceStatistics,
    ExecResult,
    ResultSet,
)
from sharding.errors import (
    BackendError,
    DataSourceUnavailable,
    DuplicateKey,
    NotSupported,
    QueryInterrupted,
    ShardgateError,
    TableExists,
    TransactionError,
    UnknownColumn,
    UnknownDatabase,
    UnknownTable,
)
from sharding.sql import insert_select
from sharding.sql.offload import cpu_bound

T = TypeVar("T")

#: Schema names SQLite reserves; a physical database may not use them.
RESERVED_SCHEMAS = frozenset({"main", "temp"})
_VALID_DB = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")


def _attach_limit() -> int:
    probe = sqlite3.connect(":memory:")
    try:
        return int(probe.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED))
    finally:
        probe.close()


#: Attachments per connection (SQLITE_MAX_ATTACHED of the linked SQLite, usually 10).
MAX_ATTACHED = _attach_limit()


def database_file(path: Path, database: str) -> Path:
    return path / f"{database}.sqlite"


def check_database_name(database: str) -> None:
    if not _VALID_DB.match(database) or database.lower() in RESERVED_SCHEMAS:
        raise BackendError(
            f"invalid physical database name {database!r} for SQLite "
            "(letters, digits, _ and $; not main/temp)",
            code=1102,
            sqlstate="42000",
        )


class _RawConnection:
    """One sqlite3 connection plus the bookkeeping for interrupt-and-close.

    ``attached`` is the set of attached databases in LRU order (most recent last);
    ``pending`` holds DETACH/ATTACH statements to run, in the worker thread, before
    the next statement (so re-attaching costs no extra thread hop).
    """

    __slots__ = (
        "abandoned",
        "attached",
        "busy",
        "busy_ms",
        "closed",
        "enum_collations",
        "enum_generation",
        "lock",
        "pending",
        "raw",
        "readonly",
        "want_busy_ms",
    )

    def __init__(self, raw: sqlite3.Connection, busy_ms: int) -> None:
        self.raw = raw
        #: The lock wait in force on ``raw`` (``PRAGMA busy_timeout``), and the one the
        #: current borrower's session asks for (``innodb_lock_wait_timeout``); the
        #: worker thread applies the latter before the next statement.
        self.busy_ms = busy_ms
        self.want_busy_ms = busy_ms
        self.attached: OrderedDict[str, None] = OrderedDict()
        self.pending: list[tuple[str, tuple[str, ...]]] = []
        self.lock = threading.Lock()
        self.busy = False
        self.abandoned = False
        self.closed = False
        #: Databases attached read-only for one transaction (never pooled again).
        self.readonly: frozenset[str] = frozenset()
        #: ENUM collations registered on this connection (sqlite_mysql.sync_collations).
        self.enum_collations: set[str] = set()
        self.enum_generation = -1

    @property
    def databases(self) -> tuple[str, ...]:
        return tuple(sorted(self.attached))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.raw.close()
            except sqlite3.Error:
                pass


class SQLiteDataSource(DataSource):
    """A folder of SQLite shard files with a pool of attached connections."""

    kind: ClassVar[str] = "sqlite"
    dialect: ClassVar[str] = "sqlite"
    supports_xa: ClassVar[bool] = False
    #: Borrows take the session's shard settings (``connection(settings=...)``); of
    #: them only ``innodb_lock_wait_timeout`` means something here: how long a write
    #: waits for a shard file another writer holds (``PRAGMA busy_timeout``).
    accepts_settings: ClassVar[bool] = True

    def unhonoured_setting(self, name: str, value: Any) -> str | None:
        """The session variables the MySQL layer does not follow (it computes as
        MariaDB does at their defaults): ``SET time_zone = '+05:00'`` here would leave
        ``FROM_UNIXTIME(0)`` at midnight, ``lc_time_names`` every day name English,
        ``default_week_format`` ``WEEK(d)`` in mode 0."""
        if name == "time_zone" and value != "SYSTEM":
            # The layer's dates are the coordinator's local time, which is this offset
            # only in a zone without daylight saving time.
            here = -time.timezone if not time.daylight else None
            sign, hours, minutes = str(value)[0], int(str(value)[1:3]), int(str(value)[4:6])
            offset = (hours * 3600 + minutes * 60) * (-1 if sign == "-" else 1)
            if offset != here:
                return "its date and time functions use the coordinator's system time zone"
        if name == "lc_time_names" and str(value) != "en_US":
            return "its day and month names are English (en_US)"
        if name == "default_week_format" and value != 0:
            return "WEEK() without a mode uses mode 0"
        return None

    def __init__(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        max_idle: int = 64,
        max_threads: int = 64,
        busy_timeout: float = 50.0,
        cache_kib: int = 512,
    ) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.max_idle = max_idle
        # How long a write waits for a shard file another writer holds before MySQL's
        # 1205: InnoDB's default innodb_lock_wait_timeout (50 s). SQLite locks whole
        # files, so writers of different rows queue where InnoDB's would not; 10 s
        # failed ten concurrent batched INSERTs over 16 files on a loaded machine.
        self.busy_timeout = busy_timeout
        self.busy_ms = int(busy_timeout * 1000)
        self.cache_kib = cache_kib
        self._limiter = trio.CapacityLimiter(max_threads)
        # Idle connections, least recently used first; and, per database, the idle
        # connections that have it attached.
        self._idle: OrderedDict[_RawConnection, None] = OrderedDict()
        self._holding: dict[str, set[_RawConnection]] = {}
        self._open = False
        self._closed = False
        self._in_use = 0
        self._size = 0
        self._acquired = 0
        self._created = 0
        self._closed_count = 0
        self._errors = 0
        self._reads_open = 0
        self._peak_reads_open = 0
        self._peak_in_use = 0
        self._known_dbs: set[str] = set()

    def lock_wait_ms(self, settings: Mapping[str, str] | None) -> int:
        """The busy timeout a borrow with these session settings runs with: the
        session's ``innodb_lock_wait_timeout`` (whole seconds, as InnoDB) or, without
        one, the data source's own."""
        if settings:
            literal = settings.get("innodb_lock_wait_timeout")
            if literal is not None:
                try:
                    return max(0, int(float(literal.strip("'")))) * 1000
                except ValueError:
                    pass
        return self.busy_ms

    # ----------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        if self._closed:
            raise DataSourceUnavailable(f"data source {self.name!r} is closed")
        if self._open:
            return
        try:
            await trio.to_thread.run_sync(
                lambda: self.path.mkdir(parents=True, exist_ok=True), limiter=self._limiter
            )
        except OSError as exc:
            raise DataSourceUnavailable(
                f"data source {self.name!r}: cannot create folder {self.path}: {exc}"
            ) from exc
        self._open = True

    async def aclose(self) -> None:
        self._closed = True
        self._open = False
        idle = list(self._idle)
        self._idle.clear()
        self._holding.clear()
        for conn in idle:
            self._size -= 1
            self._closed_count += 1
            conn.close()
        await trio.lowlevel.checkpoint()

    def _check_open(self) -> None:
        if not self._open:
            state = "closed" if self._closed else "not open"
            raise DataSourceUnavailable(f"data source {self.name!r} is {state}")

    # ----------------------------------------------------------------- databases
    async def ensure_database(self, database: str) -> None:
        self._check_open()
        check_database_name(database)
        if database in self._known_dbs:
            await trio.lowlevel.checkpoint()
            return
        file = database_file(self.path, database)

        def create() -> None:
            conn = sqlite3.connect(str(file), isolation_level=None)
            try:
                # Creating an empty file needs no fsync (a crash leaves nothing worth
                # keeping, and re-creation is idempotent); 1 ms instead of ~10 ms per
                # shard file matters for a 1024-shard CREATE TABLE.
                conn.execute("PRAGMA synchronous=OFF")
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()

        await trio.to_thread.run_sync(create, limiter=self._limiter)
        self._known_dbs.add(database)

    async def drop_database(self, database: str) -> None:
        """Delete a physical database file (and its WAL files). Missing is fine."""
        self._check_open()
        check_database_name(database)
        self._known_dbs.discard(database)
        for conn in list(self._holding.get(database, ())):
            self._forget_idle(conn)
            self._size -= 1
            self._closed_count += 1
            conn.close()
        file = database_file(self.path, database)

        def remove() -> None:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(str(file) + suffix)
                except FileNotFoundError:
                    pass

        await trio.to_thread.run_sync(remove, limiter=self._limiter)
        # A file made again under this name holds other tables: drop what was derived
        # from the old one's definitions (sqlite_table_identity keys by file).
        sqlite_decimal_results.forget()
        sqlite_arithmetic.forget()

    def database_exists(self, database: str) -> bool:
        return database in self._known_dbs or database_file(self.path, database).exists()

    def list_databases(self) -> list[str]:
        """Physical databases present in the folder."""
        return sorted(p.stem for p in self.path.glob("*.sqlite"))

    # ----------------------------------------------------------------- pool
    def _attach_ops(self, db: str) -> list[tuple[str, tuple[str, ...]]]:
        return [
            ("ATTACH DATABASE ? AS " + _q(db), (str(database_file(self.path, db)),)),
            (f"PRAGMA {_q(db)}.synchronous = NORMAL", ()),
            (f"PRAGMA {_q(db)}.cache_size = {-self.cache_kib}", ()),
        ]

    def _attach_readonly_ops(self, databases: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
        return [
            (
                "ATTACH DATABASE ? AS " + _q(db),
                (database_file(self.path, db).resolve().as_uri() + "?mode=ro",),
            )
            for db in databases
        ]

    def _open_raw(self) -> _RawConnection:
        """Runs in a worker thread."""
        raw = sqlite3.connect(
            # URI processing on, so a transaction can ATTACH a file read-only
            # (``mode=ro``, :class:`_TxnConn`); still a private in-memory main database.
            "file::memory:",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=64,
            detect_types=sqlite_mysql.DETECT_TYPES,
        )
        try:
            raw.execute(f"PRAGMA busy_timeout = {self.busy_ms}")
            # MySQL's collations, functions and read types (issue 15): every shard
            # table's text columns are declared with a MySQL collation, so no
            # connection may open one without them.
            sqlite_mysql.install(raw)
            # A DELETE's 1292 for a string compared with a number (sqlite_write_warnings).
            sqlite_write_warnings.install(raw)
        except BaseException:
            raw.close()
            raise
        return _RawConnection(raw, self.busy_ms)

    def _forget_idle(self, conn: _RawConnection) -> None:
        self._idle.pop(conn, None)
        for db in conn.attached:
            holders = self._holding.get(db)
            if holders is not None:
                holders.discard(conn)
                if not holders:
                    del self._holding[db]

    def _plan_attach(self, conn: _RawConnection, need: tuple[str, ...]) -> None:
        """Make ``conn`` have every database of ``need`` attached (ops run later)."""
        missing = [d for d in need if d not in conn.attached]
        for d in need:
            if d in conn.attached:
                conn.attached.move_to_end(d)
        room = MAX_ATTACHED - len(conn.attached)
        if len(missing) > room:
            for old in [d for d in conn.attached if d not in need][: len(missing) - room]:
                del conn.attached[old]
                conn.pending.append((f"DETACH DATABASE {_q(old)}", ()))
        for d in missing:
            conn.attached[d] = None
            conn.pending.extend(self._attach_ops(d))

    async def _acquire(self, databases: Sequence[str], *, exact: bool = False) -> _RawConnection:
        self._check_open()
        need = tuple(sorted(set(databases)))
        if len(need) > MAX_ATTACHED:
            raise BackendError(
                f"data source {self.name!r}: one statement may touch at most "
                f"{MAX_ATTACHED} SQLite databases, got {len(need)}"
            )
        for db in need:
            if db not in self._known_dbs:
                check_database_name(db)
                if not self.database_exists(db):
                    raise UnknownDatabase(f"Unknown database '{db}' on data source {self.name!r}")
                self._known_dbs.add(db)
        conn: _RawConnection | None = None
        if need:
            holders = [self._holding.get(d) for d in need]
            if all(holders):
                candidates = set.intersection(*holders)  # type: ignore[arg-type]
                if exact:
                    candidates = {c for c in candidates if len(c.attached) == len(need)}
                if candidates:
                    conn = next(iter(candidates))
        elif self._idle and not exact:
            conn = next(reversed(self._idle))
        if conn is None and self._idle and not exact:
            # An idle connection with room takes the new attachment; evicting
            # attachments is the last resort (detaching a WAL file's last handle
            # checkpoints it), used only when the pool is at ``max_idle``.
            for candidate in reversed(self._idle):
                if (
                    len(candidate.attached) + sum(d not in candidate.attached for d in need)
                    <= MAX_ATTACHED
                ):
                    conn = candidate
                    break
            else:
                if self._size >= self.max_idle:
                    conn = next(iter(self._idle))
        if conn is not None:
            self._forget_idle(conn)
            await trio.lowlevel.checkpoint()
        else:
            try:
                conn = await trio.to_thread.run_sync(self._open_raw, limiter=self._limiter)
            except sqlite3.Error as exc:
                self._errors += 1
                raise DataSourceUnavailable(
                    f"data source {self.name!r}: cannot open a connection: {exc}"
                ) from exc
            self._size += 1
            self._created += 1
        self._plan_attach(conn, need)
        conn.want_busy_ms = self.busy_ms  # a borrower with settings says otherwise
        self._in_use += 1
        self._acquired += 1
        self._peak_in_use = max(self._peak_in_use, self._in_use)
        return conn

    def _release(self, conn: _RawConnection, *, reusable: bool) -> None:
        self._in_use -= 1
        if conn.closed or conn.abandoned:
            self._size -= 1
            self._closed_count += 1
            return
        if not reusable or self._closed or conn.pending or conn.raw.in_transaction:
            if conn.busy:
                # Still running in an abandoned thread; that thread closes it.
                conn.abandoned = True
            else:
                conn.close()
            self._size -= 1
            self._closed_count += 1
            return
        self._idle[conn] = None
        for db in conn.attached:
            self._holding.setdefault(db, set()).add(conn)
        while len(self._idle) > self.max_idle:
            old = next(iter(self._idle))
            self._forget_idle(old)
            self._size -= 1
            self._closed_count += 1
            old.close()

    @asynccontextmanager
    async def connection(
        self, databases: Sequence[str] = (), settings: Mapping[str, str] | None = None
    ) -> AsyncIterator[Connection]:
        conn = await self._acquire(databases)
        conn.want_busy_ms = self.lock_wait_ms(settings)
        reusable = False
        try:
            yield _Conn(self, conn)
            reusable = True
        except ShardgateError:
            # A statement error leaves the connection usable (sqlite3 rolls back the
            # statement); only cancellation or an unexpected error retires it.
            reusable = True
            raise
        finally:
            self._release(conn, reusable=reusable)

    @asynccontextmanager
    async def transaction(
        self, databases: Sequence[str] = (), settings: Mapping[str, str] | None = None
    ) -> AsyncIterator[Connection]:
        self._check_open()
        txn = _TxnConn(self, tuple(sorted(set(databases))), self.lock_wait_ms(settings))
        try:
            yield txn
        except BaseException:
            with trio.CancelScope(shield=True):
                await txn.rollback()
            raise
        else:
            await txn.commit()

    # ----------------------------------------------------------------- running
    async def run(self, conn: _RawConnection, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(raw)`` in a worker thread; interrupt and close it if cancelled."""

        def guarded() -> T:
            try:
                if conn.pending:
                    ops, conn.pending = conn.pending, []
                    sqlite_arithmetic.schemas_changed(conn.raw)
                    try:
                        for sql, args in ops:
                            conn.raw.execute(sql, args)
                            if sql.startswith("ATTACH"):
                                # ENUM columns compare with collations named in the
                                # schema (sqlite_mysql): know them before any use.
                                _scan_enum_collations(conn.raw, sql.rsplit(" AS ", 1)[1])
                    except BaseException:
                        conn.abandoned = True  # attachment state unknown: retire it
                        raise
                if conn.want_busy_ms != conn.busy_ms:
                    conn.raw.execute(f"PRAGMA busy_timeout = {int(conn.want_busy_ms)}")
                    conn.busy_ms = conn.want_busy_ms
                if conn.enum_generation != sqlite_mysql.enum_generation():
                    sqlite_mysql.sync_collations(conn.raw, conn.enum_collations)
                    conn.enum_generation = sqlite_mysql.enum_generation()
                try:
                    return fn(conn.raw)
                except sqlite3.OperationalError as exc:
                    # A registered MySQL function's own error (1139, 1235...), not
                    # sqlite3's "user-defined function raised exception".
                    raised = sqlite_mysql.raised_error(exc)
                    if raised is None:
                        raise
                    raise raised from exc
            finally:
                with conn.lock:
                    conn.busy = False
                    if conn.abandoned:
                        conn.close()

        with conn.lock:
            conn.busy = True
        try:
            return await trio.to_thread.run_sync(
                guarded, limiter=self._limiter, abandon_on_cancel=True
            )
        except trio.Cancelled:
            with conn.lock:
                if conn.busy:
                    conn.abandoned = True
                    conn.raw.interrupt()
                else:
                    conn.close()
            raise
        except sqlite3.Error as exc:
            self._errors += 1
            raise translate_error(self.name, exc) from exc

    def _read_started(self) -> None:
        self._reads_open += 1
        self._peak_reads_open = max(self._peak_reads_open, self._reads_open)

    def _read_finished(self) -> None:
        self._reads_open -= 1

    def reset_peaks(self) -> None:
        """Start a new measurement of ``peak_reads_open`` / ``peak_in_use``."""
        self._peak_reads_open = self._reads_open
        self._peak_in_use = self._in_use

    def statistics(self) -> DataSourceStatistics:
        return DataSourceStatistics(
            name=self.name,
            kind=self.kind,
            max_size=self.max_idle,
            size=self._size,
            idle=len(self._idle),
            in_use=self._in_use,
            waiting=0,
            acquired=self._acquired,
            created=self._created,
            closed=self._closed_count,
            errors=self._errors,
            extra={
                "path": str(self.path),
                "reads_open": self._reads_open,
                "peak_reads_open": self._peak_reads_open,
                "peak_in_use": self._peak_in_use,
                "threads": self._limiter.borrowed_tokens,
                "attached": sum(len(c.attached) for c in self._idle),
            },
        )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _scan_enum_collations(raw: sqlite3.Connection, schema: str) -> None:
    row = raw.execute(
        f"SELECT group_concat(sql, ' ') FROM {schema}.sqlite_master WHERE instr(sql, ?) > 0",
        (sqlite_mysql.ENUM_COLLATION_MARK,),
    ).fetchone()
    if row and row[0]:
        sqlite_mysql.register_collations_in(row[0])
        sqlite_enum_numbers.learn(row[0])
    # Binary columns hold BLOBs: their comparisons and writes (sqlite_binary_store).
    sqlite_binary_store.schema_sql(raw, schema)


def _fetch(sql: str) -> Callable[[sqlite3.Connection], ResultSet]:
    record = sqlite_decimal_results.records_exact(sql)
    # The SELECT of an INSERT … SELECT (not IGNORE): strict mode's 1292/1365 for its
    # CAST(… AS SIGNED), divisions by zero and text compared with numbers in its
    # condition (sharding.sql.insert_select), read in the statement's own task.
    strict = insert_select.STRICT_SELECT.get()

    def run(raw: sqlite3.Connection) -> ResultSet:
        # Integer quotients and AVGs keep their exact values aside (sqlite_decimal_results).
        sqlite_mysql.record_exact(record)
        sqlite_mysql.unsigned_text_seen()  # afresh for this statement
        sqlite_mysql.unsigned_strict(False)  # a read: a select item shows the digits
        sqlite_mysql.division_strict(strict)
        sqlite_arithmetic.strict_comparisons(strict)
        try:
            # An ENUM column in arithmetic is its index, as in MySQL (sqlite_enum_numbers).
            # DOUBLE rounding and DECIMAL/DOUBLE text as MySQL (sqlite_decimal_results).
            # 0x.. compared with a column: a number or a string by its type (first: the
            # rewrites below see the literal MySQL means).
            text = sqlite_hex_literals.rewrite(raw, sql)
            # LIKE on a utf8mb4_bin column: its exact characters (sqlite_like_collation).
            text = sqlite_like_collation.rewrite(raw, text)
            # A string expression that is no column: MySQL's derived collation, not
            # SQLite's BINARY (sqlite_expression_collation).
            text = sqlite_expression_collation.rewrite(raw, text)
            text = sqlite_decimal_results.prepare(raw, text)
            text = sqlite_enum_numbers.rewrite(raw, text, write=False)
            # DATE_ADD/DATE_SUB of a TIME: MySQL's TIME arithmetic (sqlite_time_arithmetic).
            text, time_items = sqlite_time_arithmetic.rewrite(raw, text)
            # A binary column compared with a string: bytes with bytes (sqlite_binary_store).
            text = sqlite_binary_store.rewrite(raw, text)
            # A DOUBLE past its range anywhere (WHERE, ORDER BY, …): MySQL's 1690.
            text = sqlite_arithmetic.guard(raw, text)
            # The registered functions' warnings (1365, 1292) while the rows are read.
            sqlite_arithmetic.warnings_start()
            try:
                cur = raw.execute(text)
                rows = cur.fetchall()
            finally:
                warnings, notes = sqlite_arithmetic.warnings_taken()
            # A DOUBLE past its range: MySQL's 1690, never SQLite's infinity.
            sqlite_decimal_results.check_double_range(rows, sql)
            # Computed numbers: MySQL's Decimal and scale (or a 1235 when not exact).
            how = sqlite_decimal_results.plan(raw, sql)
            sqlite_decimal_results.check(how, sql)
            if how is not None:
                rows = sqlite_decimal_results.convert(rows, how)
            # A TIME's date arithmetic read as MySQL's TIME (sqlite_time_arithmetic).
            rows = sqlite_time_arithmetic.convert(rows, time_items)
        finally:
            if record:
                sqlite_mysql.record_exact(False)
            if strict:
                sqlite_mysql.division_strict(False)
                sqlite_arithmetic.strict_comparisons(False)
        columns = [Column(d[0]) for d in (cur.description or ())]
        return ResultSet(columns, rows, warnings, notes or None)

    return run


_REPLACE = re.compile(
    r'\s*(?:REPLACE|INSERT\s+OR\s+REPLACE)\s+INTO\s+((?:"(?:[^"]|"")+"|\w+)(?:\s*\.\s*(?:"(?:[^"]|"")+"|\w+))?)',
    re.IGNORECASE,
)


_NAME = r'(?:"(?:[^"]|"")+"|\w+)'
_UPDATE = re.compile(rf"\s*UPDATE\s+(?:OR\s+\w+\s+)?({_NAME})\s*\.\s*({_NAME})", re.IGNORECASE)


@dataclass(slots=True)
class SQLiteExecResult(ExecResult):
    """An UPDATE's result with MySQL's two counts: ``affected`` the rows it changed,
    ``matched`` the rows it found (what CLIENT_FOUND_ROWS asks for; SQLite's own
    count)."""

    matched: int | None = None
    #: An upsert's rows (inserted or duplicates) and duplicates it changed, as MariaDB's
    #: OK info says them (``Records: … Duplicates: …``): what CLIENT_FOUND_ROWS needs.
    records: int | None = None
    duplicates: int | None = None


_DDL = re.compile(r"\s*(?:CREATE|ALTER|DROP)\s", re.IGNORECASE)
#: An INSERT, REPLACE or UPDATE without IGNORE: a division by zero is MySQL's error 1365
#: there (a DELETE's condition only warns, as a read's NULL).
_STRICT_WRITE = re.compile(
    r"\s*(?:INSERT(?:\s+OR\s+(?:REPLACE|ABORT|FAIL|ROLLBACK))?\s+INTO|REPLACE\s+INTO|"
    r"UPDATE(?:\s+OR\s+(?:REPLACE|ABORT|FAIL|ROLLBACK))?\s)",
    re.IGNORECASE,
)
#: An INSERT, REPLACE or UPDATE (IGNORE too): what a literal may be written by.
_WRITE_STATEMENT = re.compile(r"\s*(?:INSERT|REPLACE|UPDATE)\b", re.IGNORECASE)
_INSERT = re.compile(rf"\s*INSERT\s+INTO\s+({_NAME})\s*\.\s*({_NAME})", re.IGNORECASE)
#: An INSERT/REPLACE … SELECT (its SELECT's conversions only warn in MySQL).
_INSERT_SELECT = re.compile(
    r"\s*(?:INSERT|REPLACE)\b(?:(?!\bVALUES\b).)*?\bSELECT\b", re.IGNORECASE | re.DOTALL
)
#: What :meth:`sharding.sql.upsert.UpsertClause.for_sqlite` renders.
_UPSERT = " ON CONFLICT DO UPDATE SET "


def _reads_an_earlier_assignment(sql: str) -> str | None:
    """The column a later ``SET`` assignment of an UPDATE reads after an earlier one
    assigned it (``SET a = a + 1, b = a``), or None. MySQL's single-table UPDATE
    assigns left to right, so ``b`` gets the new ``a``; SQLite computes every
    assignment from the old row."""
    if "," not in sql:
        return None
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Update):
        return None
    assigned: set[str] = set()
    for assignment in tree.expressions:
        if not isinstance(assignment, exp.EQ):
            return None
        value = assignment.expression
        for column in value.find_all(exp.Column):
            if column.name.lower() in assigned:
                return str(column.name)
        target = assignment.this
        if isinstance(target, exp.Column):
            assigned.add(target.name.lower())
    return None


def _exec(sql: str, *, noted: str | None = None) -> Callable[[sqlite3.Connection], ExecResult]:
    """The shard write ``sql``; ``noted``: the INSERT IGNORE it was adjusted from
    (:func:`sharding.backend.sqlite_store_notes.ignore_adjusted`), whose text the
    notes are derived from."""
    # VALUES rows and the upsert's clause arrive as the client's MySQL text: their
    # expressions with MySQL's meaning (``7 / 2``, ``DIV``, ``LEFT``, ``INTERVAL``).
    if noted is None:
        sql = sqlite_passthrough.translate(sql)
    plain = _exec_plain(sql)
    earlier = _reads_an_earlier_assignment(sql) if _UPDATE.match(sql) else None
    strict_division = (
        _STRICT_WRITE.match(sql) is not None and sqlite_mysql.SQLITE_IGNORE_MARK not in sql
    )
    strict_conversion = strict_division and _INSERT_SELECT.match(sql) is None
    # A DECIMAL literal of 16+ digits a REAL cannot hold (``9007199254740993.4``): MySQL
    # stores the exact value's rounding, SQLite the nearest REAL's (sqlite_arithmetic).
    wide = sqlite_arithmetic.wide_fraction_literal(sql) if _WRITE_STATEMENT.match(sql) else None

    def run(raw: sqlite3.Connection) -> ExecResult:
        # A DOUBLE past its range (SET, VALUES, WHERE, the upsert's clause): MySQL's
        # 1690, checked by the statement itself (sqlite_arithmetic); 1367 for 1e309.
        # A value written to a DATE/DATETIME column: MySQL's stored text (sqlite_temporal).
        # DEFAULT as a written value: the column's declared default (sqlite_passthrough).
        hexed = sqlite_hex_literals.rewrite(raw, sql)  # 0x.. by a compared column's type
        hexed = sqlite_like_collation.rewrite(raw, hexed)  # LIKE on a _bin column: exact
        # A string expression that is no column: MySQL's collation (sqlite_expression_collation).
        hexed = sqlite_expression_collation.rewrite(raw, hexed)
        source = sqlite_passthrough.defaults(raw, hexed) if _WRITE_STATEMENT.match(sql) else hexed
        text, dated = (
            sqlite_temporal.store_rewrite(raw, source)
            if _WRITE_STATEMENT.match(sql)
            else (source, None)
        )
        # A value written to / compared with a binary column: its bytes (sqlite_binary_store).
        text = sqlite_binary_store.rewrite(raw, text)
        # DATE_ADD/DATE_SUB of a TIME: MySQL's TIME arithmetic (sqlite_time_arithmetic).
        text = sqlite_time_arithmetic.rewrite(raw, text)[0]
        guarded = sqlite_arithmetic.guard(raw, text)
        runner = plain if guarded == sql else _exec_plain(guarded)
        if guarded != text and (
            (_UPSERT in text) != (_UPSERT in guarded)
            or (sqlite_mysql.SQLITE_IGNORE_MARK in text)
            != (sqlite_mysql.SQLITE_IGNORE_MARK in guarded)
        ):
            # never: the guard only inserts calls; keep the statement
            runner = plain if text == sql else _exec_plain(text)
        if wide is None and "'" in sql and _WRITE_STATEMENT.match(sql):
            quoted = sqlite_arithmetic.wide_string_written(raw, sql)
            if quoted is not None:
                raise NotSupported(
                    f"the string '{quoted}' written to a table with a BIGINT column on the "
                    "SQLite default (SQLite reads it through a REAL, MySQL rounds its exact "
                    "value); an integer, or a value of at most 15 digits"
                )
        if wide is not None:
            raise NotSupported(
                f"the number {wide} in a write statement on the SQLite default (MySQL "
                "keeps its exact DECIMAL, a REAL loses its last digits); an integer, or a "
                "value of at most 15 digits"
            )
        # ON UPDATE CURRENT_TIMESTAMP: this statement's time and assignments only.
        sqlite_on_update.begin_statement()
        if earlier is not None:
            raise NotSupported(
                f"an UPDATE assignment reading {earlier}, assigned earlier in the same SET, "
                "on the SQLite default (MySQL assigns left to right)"
            )
        # An ENUM column in arithmetic: 1235, never SQLite's 0 (sqlite_enum_numbers).
        sqlite_enum_numbers.rewrite(raw, sql, write=True)
        if sqlite_decimal_results.prepare(raw, sql) != sql:
            # A read's text is prepared (DOUBLE rounding, DECIMAL text); a write's is not
            # re-rendered: a clear 1235, never SQLite's '0.1' for MySQL's '0.10'.
            raise NotSupported(
                "a DECIMAL or DOUBLE written as text, or ROUND/CAST/FORMAT of a DOUBLE, "
                "in a write statement on the SQLite default"
            )
        column = sqlite_decimal_results.number_as_text(raw, sql)
        if column is not None:
            # MySQL stores a number's own text ('1.50', '1'); SQLite its REAL's ('1.5').
            raise NotSupported(
                f"a DECIMAL or DOUBLE value written to the text column {column} on the "
                "SQLite default (MySQL stores its digits as written: '1.50')"
            )
        # An UNSIGNED value beyond BIGINT (CAST, bit operators) stops a write at once;
        # so does a division by zero in an INSERT/REPLACE/UPDATE (MySQL's strict mode).
        sqlite_mysql.unsigned_strict(True)
        sqlite_mysql.division_strict(strict_division)
        # ... and a string that is no number in its arithmetic or CAST (1292; not in an
        # INSERT's SELECT, which MySQL's strict mode only warns about).
        sqlite_arithmetic.strict_numbers(strict_conversion)
        # ... and in an INSERT … SELECT's condition, a string that is no number compared
        # with a number (1292, as in the coordinator's INSERT … SELECT: insert_select).
        sqlite_arithmetic.strict_comparisons(strict_division and not strict_conversion)
        # A DELETE's condition warns as a read's (1292: sqlite_write_warnings).
        deleting = sqlite_write_warnings.deleting(sql)
        read_count: int = 0
        read_notes: list[tuple[str, int, str]] = []
        collector = None
        try:
            if deleting:
                sqlite_write_warnings.delete_start(guarded)
            # What the rows decide: an UPDATE's 1265, INSERT IGNORE's 1062
            # (sqlite_write_warnings).
            if _WRITE_STATEMENT.match(sql):
                collector = sqlite_write_warnings.start(raw, sql)
            if dated is None:
                try:
                    result = runner(raw)
                except sqlite3.IntegrityError as exc:
                    # MariaDB's text names the value and the key (SQLite's the columns).
                    told = (
                        sqlite_write_warnings.duplicate_entry(raw, sql, runner)
                        if _UNIQUE.search(str(exc))
                        else None
                    )
                    if told is not None:
                        raise DuplicateKey(told) from exc
                    # Strict mode's 1366 / 1265 naming the value written (INSERT IGNORE:
                    # its own 1235, below).
                    refused = (
                        sqlite_mysql.strict_column(str(exc))
                        if sqlite_mysql.SQLITE_IGNORE_MARK not in sql
                        else None
                    )
                    found = (
                        sqlite_store_notes.strict_error(raw, sql, refused)
                        if refused is not None
                        else None
                    )
                    if found is None:
                        raise
                    code, text = found
                    raise ShardgateError(
                        text, code=code, sqlstate="22007" if code == 1366 else "01000"
                    ) from exc
            else:
                # values known only as rows are written (INSERT … SELECT, DEFAULT)
                raw.execute("SAVEPOINT sg_date_store")
                try:
                    result = runner(raw)
                    raw.execute(dated)
                except BaseException:
                    raw.execute("ROLLBACK TO sg_date_store")
                    raw.execute("RELEASE sg_date_store")
                    raise
                raw.execute("RELEASE sg_date_store")
        finally:
            if deleting:
                read_count, read_notes = sqlite_write_warnings.delete_taken()
            sqlite_write_warnings.finish(raw, collector)
            sqlite_mysql.unsigned_strict(False)
            sqlite_mysql.division_strict(False)
            sqlite_arithmetic.strict_numbers(False)
            sqlite_arithmetic.strict_comparisons(False)
        if _WRITE_STATEMENT.match(sql):
            # MariaDB's note 1265 for literals stored rounded or cut (sqlite_store_notes).
            # ... and what its rows raised (sqlite_write_warnings), in MariaDB's order.
            count, notes = sqlite_write_warnings.merged(
                collector, sqlite_store_notes.insert_notes(raw, noted or sql)
            )
            if count:
                result.warnings += count
                result.notes = [*(result.notes or []), *notes]
        if deleting and read_count:
            result.warnings += read_count
            result.notes = [*(result.notes or []), *read_notes]
        if sqlite_mysql.ENUM_COLLATION_MARK in sql:  # CREATE / ALTER of an ENUM column
            sqlite_enum_numbers.learn(sql)
        if _DDL.match(sql):
            sqlite_binary_store.learn(sql)
            sqlite_hex_literals.forget()
            sqlite_like_collation.forget()
            sqlite_expression_collation.forget()
            sqlite_decimal_results.forget()  # column types may have changed
            sqlite_arithmetic.forget()
        return result

    if sqlite_mysql.SQLITE_IGNORE_MARK not in sql or noted is not None:
        return run

    def ignoring(raw: sqlite3.Connection) -> ExecResult:
        # MySQL's INSERT IGNORE stores what strict mode refuses adjusted (``'zz'`` into
        # an INT as 0, NULL into NOT NULL as the implicit default) with a warning;
        # SQLite cannot adjust, and skipping the row would be a silent wrong answer.
        # What it can: ``'12x'`` into a numeric column is 12 (sqlite_store_notes).
        adjusted = sqlite_store_notes.ignore_adjusted(raw, sql)
        step = run if adjusted == sql else _exec(adjusted, noted=sql)
        try:
            return step(raw)
        except sqlite3.IntegrityError as exc:
            msg = str(exc)
            if _UNIQUE.search(msg):
                raise
            raise NotSupported(
                f"INSERT IGNORE of a value MySQL would store adjusted ({msg}) on the "
                "embedded SQLite default"
            ) from exc

    return ignoring


def _exec_plain(sql: str) -> Callable[[sqlite3.Connection], ExecResult]:
    if _UPSERT in sql:
        insert = _INSERT.match(sql)
        if insert is not None:
            return _exec_upsert(sql, insert.group(1), insert.group(2))
    replace = _REPLACE.match(sql)
    if replace is not None:
        return _exec_replace(sql, replace.group(1))
    update = _UPDATE.match(sql)
    if update is not None:
        return _exec_update(sql, update.group(1), update.group(2))

    def run(raw: sqlite3.Connection) -> ExecResult:
        cur = raw.execute(sql)
        affected = cur.rowcount if cur.rowcount >= 0 else 0
        return ExecResult(affected=affected, last_insert_id=cur.lastrowid or None)

    return run


class _RowChanges:
    """How many row updates of one statement changed the row, byte for byte, as MySQL
    counts them (one count per update: an upsert may update a row twice).

    A temporary AFTER UPDATE trigger counts each update whose old and new values differ
    (BINARY: under a case-insensitive collation ``'abc'`` → ``'ABC'`` is a change).
    CHAR and ENUM values are stored canonical by the DDL's own trigger (``'ab  '`` →
    ``'ab'``, ``'SMALL'``/``1`` → ``'small'``, :mod:`sharding.sql.ddl`), which MySQL
    never counts as a change: a CHAR column compares without trailing spaces, an ENUM
    column under its own collation (equal exactly for the same label). So the nested
    UPDATE that makes a value canonical never counts either (its old and new values are
    the same then)."""

    def __init__(self, raw: sqlite3.Connection, schema: str, table: str) -> None:
        info = list(raw.execute(f"PRAGMA {schema}.table_info({table})"))
        self.columns = [r[1] for r in info]
        self.target = f"{schema}.{table}"
        self.count = 0
        self.differs = sqlite_on_update.changed_row_sql([(r[1], str(r[2])) for r in info])
        raw.create_function("sg_row_changed", 0, self._changed)

    def _changed(self) -> None:
        self.count += 1

    def trigger(self, name: str) -> str:
        return (
            f"CREATE TEMP TRIGGER {name} AFTER UPDATE ON {self.target} FOR EACH ROW "
            f"WHEN (OLD.rowid IS NOT NEW.rowid OR {self.differs}) "
            # not the nested UPDATE of an ON UPDATE CURRENT_TIMESTAMP column
            "AND NOT sg_on_update_stamping() BEGIN SELECT sg_row_changed(); END"
        )


def _exec_update(sql: str, schema: str, table: str) -> Callable[[sqlite3.Connection], ExecResult]:
    """UPDATE with MySQL's affected rows: rows whose stored values changed (SQLite
    counts every row matched), measured by :class:`_RowChanges` inside a savepoint."""

    def run(raw: sqlite3.Connection) -> ExecResult:
        changes = _RowChanges(raw, schema, table)
        if not changes.columns:
            cur = raw.execute(sql)  # let SQLite report the missing table
            return ExecResult(affected=max(cur.rowcount, 0))
        raw.execute("SAVEPOINT sg_update")
        try:
            raw.execute(changes.trigger("sg_update_count"))
            cur = raw.execute(sql)
            matched = cur.rowcount if cur.rowcount >= 0 else 0
            raw.execute("DROP TRIGGER temp.sg_update_count")
        except BaseException:
            raw.execute("ROLLBACK TO sg_update")
            raw.execute("RELEASE sg_update")
            raise
        raw.execute("RELEASE sg_update")
        return SQLiteExecResult(affected=changes.count, matched=matched)

    return run


def _exec_upsert(sql: str, schema: str, table: str) -> Callable[[sqlite3.Connection], ExecResult]:
    """INSERT … ON DUPLICATE KEY UPDATE (as SQLite's upsert) with MySQL's affected rows:
    1 per inserted row, 2 per update that changed its row, 0 per update that left it
    as it was (``matched`` counts that one 1, what CLIENT_FOUND_ROWS asks for). SQLite
    counts every insert and every update once (``rowcount``); temporary triggers inside
    a savepoint count the inserts and the changing updates (:class:`_RowChanges`)."""

    def run(raw: sqlite3.Connection) -> ExecResult:
        changes = _RowChanges(raw, schema, table)
        if not changes.columns:
            cur = raw.execute(sql)  # let SQLite report the missing table
            return ExecResult(affected=max(cur.rowcount, 0))
        inserted = 0

        def count_insert() -> None:
            nonlocal inserted
            inserted += 1

        raw.create_function("sg_upsert_inserted", 0, count_insert)
        raw.execute("SAVEPOINT sg_upsert")
        try:
            raw.execute(
                f"CREATE TEMP TRIGGER sg_upsert_ins AFTER INSERT ON {changes.target} FOR EACH ROW "
                "BEGIN SELECT sg_upsert_inserted(); END"
            )
            raw.execute(changes.trigger("sg_upsert_chg"))
            cur = raw.execute(sql)
            rows = cur.rowcount if cur.rowcount >= 0 else 0
            last = cur.lastrowid or None
            raw.execute("DROP TRIGGER temp.sg_upsert_ins")
            raw.execute("DROP TRIGGER temp.sg_upsert_chg")
        except BaseException:
            raw.execute("ROLLBACK TO sg_upsert")
            raw.execute("RELEASE sg_upsert")
            raise
        raw.execute("RELEASE sg_upsert")
        updates = max(rows - inserted, 0)
        changed = min(changes.count, updates)
        affected = inserted + 2 * changed
        return SQLiteExecResult(
            affected=affected,
            last_insert_id=last if inserted else None,
            matched=affected + updates - changed,
            records=rows,
            duplicates=changed,
        )

    return run


def _exec_replace(sql: str, table: str) -> Callable[[sqlite3.Connection], ExecResult]:
    """REPLACE with MySQL's affected rows: every row it deletes counts too (a replaced
    row is 2). SQLite counts only the inserts, and its REPLACE deletes fire DELETE
    triggers only with ``recursive_triggers``: so, inside a savepoint, temporary
    triggers count them for this one statement. A table whose only unique key is its
    primary key is replaced in place by MySQL: a row replaced by the very same values
    counts 1 (measured on MariaDB 10.11: ``REPLACE INTO t VALUES (1, 1)`` over an equal
    row is 1, over another row 2; with a second unique key every replaced row is 2)."""

    def run(raw: sqlite3.Connection) -> ExecResult:
        columns, in_place = _replace_shape(raw, table)
        deleted = 0
        pending: list[tuple[Any, ...]] = []

        def on_delete(*old: Any) -> None:
            pending.append(old)

        def on_insert(*new: Any) -> None:
            nonlocal deleted
            same = in_place and len(pending) == 1 and _same_row(pending[0], new)
            deleted += 0 if same else len(pending)
            pending.clear()

        quoted = ['"' + c.replace('"', '""') + '"' for c in columns]
        old = ", ".join(f"OLD.{q}" for q in quoted)
        new = ", ".join(f"NEW.{q}" for q in quoted)
        raw.create_function("sg_replace_deleted", -1, on_delete)
        raw.create_function("sg_replace_inserted", -1, on_insert)
        raw.execute("SAVEPOINT sg_replace")
        raw.execute("PRAGMA recursive_triggers = 1")
        try:
            raw.execute(
                f"CREATE TEMP TRIGGER sg_replace_count AFTER DELETE ON {table} "
                f"BEGIN SELECT sg_replace_deleted({old}); END"
            )
            raw.execute(
                f"CREATE TEMP TRIGGER sg_replace_insert AFTER INSERT ON {table} "
                f"BEGIN SELECT sg_replace_inserted({new}); END"
            )
            cur = raw.execute(sql)
            inserted = cur.rowcount if cur.rowcount >= 0 else 0
            last = cur.lastrowid or None
            raw.execute("DROP TRIGGER temp.sg_replace_count")
            raw.execute("DROP TRIGGER temp.sg_replace_insert")
        except BaseException:
            raw.execute("ROLLBACK TO sg_replace")
            raw.execute("RELEASE sg_replace")
            raise
        finally:
            raw.execute("PRAGMA recursive_triggers = 0")
        raw.execute("RELEASE sg_replace")
        return ExecResult(affected=inserted + deleted + len(pending), last_insert_id=last)

    return run


def _replace_shape(raw: sqlite3.Connection, table: str) -> tuple[list[str], bool]:
    """``table``'s column names, and whether its primary key is its only unique key
    (MySQL replaces a row in place then)."""
    schema, _, name = table.rpartition(".")
    prefix = f"{schema}." if schema else ""
    try:
        info = list(raw.execute(f"PRAGMA {prefix}table_info({name})"))
        indexes = list(raw.execute(f"PRAGMA {prefix}index_list({name})"))
    except sqlite3.Error:
        return [], False
    keyed = any(r[5] for r in info)
    unique = [r for r in indexes if r[2]]  # (seq, name, unique, origin, partial)
    others = [r for r in unique if r[3] != "pk"]
    return [str(r[1]) for r in info], keyed and not others


def _same_row(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """The same stored values, byte for byte (``'a'`` is not ``'A'``)."""
    return len(old) == len(new) and all(
        type(a) is type(b) and a == b for a, b in zip(old, new, strict=True)
    )


class _Conn:
    """An autocommit connection borrowed from the pool."""

    def __init__(self, ds: SQLiteDataSource, conn: _RawConnection) -> None:
        self._ds = ds
        self._conn = conn

    async def fetch(self, sql: str) -> ResultSet:
        self._ds._read_started()
        try:
            return await self._ds.run(self._conn, _fetch(sql))
        finally:
            self._ds._read_finished()

    async def execute(self, sql: str) -> ExecResult:
        return await self._ds.run(self._conn, _exec(sql))


class _TxnConn:
    """A transaction spanning shard files: one sqlite3 connection per file written.

    Each statement goes to the connection of the physical database it writes (the
    names are the ``databases`` passed to ``transaction()``); the other databases it
    names are attached to that connection read-only (:meth:`_target`).
    """

    def __init__(self, ds: SQLiteDataSource, databases: tuple[str, ...], busy_ms: int) -> None:
        self._ds = ds
        self._databases = databases
        self._busy_ms = busy_ms
        self._subs: dict[tuple[str, ...], _RawConnection] = {}
        #: Databases this transaction wrote (never read read-only afterwards).
        self._dirty: set[str] = set()
        self._order: list[tuple[str, ...]] = []
        #: Savepoints set, oldest first (their SQL names): each connection opened later
        #: sets them all right after its BEGIN (its state then is its state at each).
        self._savepoints: list[str] = []
        alternatives = "|".join(re.escape(d) for d in sorted(databases, key=len, reverse=True))
        self._pattern = (
            re.compile(r'(?<![\w$"`])["`]?(' + alternatives + r')["`]?\s*\.') if databases else None
        )

    def _names(self, sql: str, write: bool) -> tuple[tuple[str, ...], str | None]:
        """The databases ``sql`` names, and the one it writes (None: a read, or a write
        naming none of them). Pure, and linear in the text: a big statement's scan
        runs in a worker thread (:meth:`_sub`)."""
        if self._pattern is None:
            raise BackendError(
                f"data source {self._ds.name!r}: transaction() needs the physical databases"
            )
        names = tuple(sorted({m.group(1) for m in self._pattern.finditer(sql)}))
        if not names:
            names = self._databases[:1]
        written = _written_database(sql) if write else None
        if written is not None and written not in names:
            written = None
        return names, written

    def _target(
        self, names: tuple[str, ...], written: str | None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(databases held through one connection, databases it reads read-only), for a
        statement naming ``names`` and writing ``written`` (:meth:`_names`).

        A write statement's other databases (a broadcast table in a subquery of every
        shard's UPDATE) are attached read-only: ``BEGIN IMMEDIATE`` takes no write lock
        on a read-only attachment, so every shard's connection of the transaction may
        read the same file (issue 15, item 7). A read-only attachment sees the file's
        committed state, which is the transaction's own view only while the
        transaction has not written that file: a file written here is read through its
        writing connection only (else 1235, never a stale answer)."""
        wanted = set(names)
        for key, conn in self._subs.items():
            # A connection that already holds or reads every database (and holds the
            # written one), none of them read-only once written by another connection.
            if (
                (written is None or written in key)
                and wanted & set(key)
                and wanted <= set(key) | conn.readonly
                and not (wanted & conn.readonly & self._dirty)
            ):
                return key, ()
        holder = [k for k in self._subs if written is None and wanted & set(k)]
        if written is not None and len(names) > 1:
            key, extras = (written,), tuple(n for n in names if n != written)
        elif len(holder) == 1 and len(names) > 1:
            # A read touching one held database: through that connection (its own
            # writes), the others read-only.
            key, extras = holder[0], tuple(n for n in names if n not in holder[0])
        else:
            key, extras = names, ()
        for other in self._subs:
            if other != key and set(other) & set(key):
                raise NotSupported(
                    f"a statement on {', '.join(key)} in a transaction that holds "
                    f"{', '.join(other)} through another connection, on the embedded "
                    "SQLite default"
                )
        stale = set(extras) & self._dirty
        if stale:
            raise NotSupported(
                f"a statement reading {', '.join(sorted(stale))} (written earlier in this "
                f"transaction) together with {', '.join(key)} on the embedded SQLite default"
            )
        return key, extras

    async def _sub(self, sql: str, *, write: bool = False) -> _RawConnection:
        # A shard's part of a 10 MB INSERT took ~70 ms of the event loop to scan.
        names, written = await cpu_bound(len(sql), self._names, sql, write)
        key, extras = self._target(names, written)
        if write:
            if written is None:
                written = _written_database(sql)
            self._dirty.update((written,) if written is not None and written in key else key)
        conn = self._subs.get(key)
        if conn is None:
            conn = await self._ds._acquire(key, exact=True)
            conn.want_busy_ms = self._busy_ms
            if extras:
                # Read-only attachments, detached again when the transaction ends.
                conn.readonly = frozenset(extras)
                conn.pending.extend(self._ds._attach_readonly_ops(extras))
            self._subs[key] = conn
            self._order.append(key)
            points = [f"SAVEPOINT {p}" for p in self._savepoints]
            try:
                await self._ds.run(conn, lambda raw: _begin(raw, points))
            except BaseException:
                del self._subs[key]
                self._order.remove(key)
                self._ds._release(conn, reusable=False)
                raise
        else:
            more = [d for d in extras if d not in conn.readonly]
            if more:
                if len(key) + len(conn.readonly) + len(more) > MAX_ATTACHED:
                    raise NotSupported(
                        f"a transaction reading more than {MAX_ATTACHED} SQLite databases "
                        "through one connection"
                    )
                # ATTACH inside the open transaction: a read-only file joins it.
                conn.readonly = conn.readonly | frozenset(more)
                conn.pending.extend(self._ds._attach_readonly_ops(more))
        return conn

    async def fetch(self, sql: str) -> ResultSet:
        conn = await self._sub(sql)
        self._ds._read_started()
        try:
            return await self._ds.run(conn, _fetch(sql))
        finally:
            self._ds._read_finished()

    async def execute(self, sql: str) -> ExecResult:
        point = _SAVEPOINT_STATEMENT.match(sql)
        if point is not None:
            await self._savepoint(point.group(1).upper(), point.group(2), sql)
            return ExecResult()
        conn = await self._sub(sql, write=True)
        return await self._ds.run(conn, _exec(sql))

    async def _savepoint(self, verb: str, name: str, sql: str) -> None:
        """``SAVEPOINT`` / ``ROLLBACK TO`` / ``RELEASE`` on every connection of the
        transaction: the files it spans roll back together (a statement's atomicity,
        :func:`sharding.session_txn.statement_transaction`, and the client's
        savepoints). A name set again moves last, as in SQLite and MySQL."""
        key = name.lower()
        index = next((i for i, p in enumerate(self._savepoints) if p.lower() == key), None)
        if verb != "SAVEPOINT" and index is None:
            raise ShardgateError(f"SAVEPOINT {name} does not exist", code=1305, sqlstate="42000")
        for sub in self._order:
            conn = self._subs[sub]
            await self._ds.run(conn, lambda raw: raw.execute(sql))
        if verb == "SAVEPOINT":
            if index is not None:
                del self._savepoints[index]
            self._savepoints.append(name)
        elif verb.startswith("ROLLBACK"):
            assert index is not None
            del self._savepoints[index + 1 :]
        else:
            assert index is not None
            del self._savepoints[index:]

    async def apply_settings(self, settings: Mapping[str, str] | None) -> None:
        """A SET inside the transaction: its later statements wait as it says."""
        self._busy_ms = self._ds.lock_wait_ms(settings)
        for conn in self._subs.values():
            conn.want_busy_ms = self._busy_ms

    async def commit(self) -> None:
        committed: list[str] = []
        try:
            for i, key in enumerate(self._order):
                conn = self._subs[key]
                try:
                    await self._ds.run(conn, _ending("COMMIT", conn))
                except BaseException as exc:
                    rest = self._order[i:]
                    with trio.CancelScope(shield=True):
                        await self._rollback_keys(rest)
                    if not committed:
                        raise
                    raise TransactionError(
                        f"data source {self._ds.name!r}: commit failed on "
                        f"{'+'.join(key)} ({exc}) after committing "
                        f"{', '.join(committed)}; rolled back "
                        f"{', '.join('+'.join(k) for k in rest)}"
                    ) from exc
                committed.append("+".join(key))
        finally:
            self._release_all()

    async def rollback(self) -> None:
        try:
            await self._rollback_keys(list(self._order))
        finally:
            self._release_all()

    async def _rollback_keys(self, keys: list[tuple[str, ...]]) -> None:
        for key in keys:
            conn = self._subs.get(key)
            if conn is None or conn.closed or conn.abandoned:
                continue
            try:
                await self._ds.run(conn, _ending("ROLLBACK", conn))
            except (ShardgateError, sqlite3.Error):
                conn.close()

    def _release_all(self) -> None:
        for key in self._order:
            conn = self._subs[key]
            reusable = not conn.closed and not conn.readonly and not conn.raw.in_transaction
            self._ds._release(conn, reusable=reusable)
        self._subs.clear()
        self._order.clear()


#: ``SAVEPOINT x`` / ``ROLLBACK TO SAVEPOINT x`` / ``RELEASE SAVEPOINT x`` as the
#: coordinator writes them (:mod:`sharding.exec.connector`): x a quoted identifier.
_SAVEPOINT_STATEMENT = re.compile(
    r"\s*(SAVEPOINT|ROLLBACK\s+TO\s+SAVEPOINT|RELEASE\s+SAVEPOINT)\s+(`(?:[^`]|``)+`|\"(?:[^\"]|\"\")+\"|\w+)\s*;?\s*$",
    re.IGNORECASE,
)


def _begin(raw: sqlite3.Connection, points: list[str]) -> None:
    """BEGIN IMMEDIATE, then the transaction's savepoints (same worker call)."""
    raw.execute("BEGIN IMMEDIATE")
    for point in points:
        raw.execute(point)


def _ending(verb: str, conn: _RawConnection) -> Callable[[sqlite3.Connection], None]:
    """COMMIT / ROLLBACK, then (same worker call) DETACH the transaction's read-only
    attachments so the connection can go back to the pool."""

    # A lambda, like the other one-call steps (fault-injection tests pick them out).
    return lambda raw: _end_transaction(raw, verb, conn)


def _end_transaction(raw: sqlite3.Connection, verb: str, conn: _RawConnection) -> None:
    if verb == "COMMIT":
        raw.execute("COMMIT")
    else:
        raw.rollback()
    for db in sorted(conn.readonly):
        raw.execute(f"DETACH DATABASE {_q(db)}")
    if conn.readonly:
        sqlite_arithmetic.schemas_changed(raw)
    conn.readonly = frozenset()


_WRITTEN = re.compile(
    rf"\s*(?:UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|(?:INSERT|REPLACE)(?:\s+OR\s+\w+)?\s+INTO)\s+({_NAME})\s*\.",
    re.IGNORECASE,
)


def _written_database(sql: str) -> str | None:
    """The database a single-table UPDATE / DELETE / INSERT / REPLACE writes."""
    m = _WRITTEN.match(sql)
    if m is None:
        return None
    name = m.group(1)
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


_SYNTAX = re.compile(r'near "(.*)": syntax error')
_COUNT = re.compile(r"\d+ values for \d+ columns|has \d+ columns but \d+ values were supplied")
_UNIQUE = re.compile(r"UNIQUE constraint failed|PRIMARY KEY must be unique|is not unique")


def translate_error(ds: str, exc: sqlite3.Error) -> ShardgateError:
    """Map a sqlite3 error to the MySQL-coded error a client should see."""
    msg = str(exc)
    where = f" (data source {ds!r})"
    if isinstance(exc, sqlite3.IntegrityError):
        numeric = sqlite_numeric_store.violation(msg)
        if isinstance(numeric, NotSupported):
            return NotSupported(f"{numeric.message}{where}")
        strict = (
            sqlite_mysql.strict_violation(msg)
            or sqlite_mysql.enum_violation(msg)
            or sqlite_length_store.violation(msg)
            or sqlite_json_store.violation(msg)
            or numeric
        )
        if strict is not None:
            # MariaDB's own text (``Data too long for column 's' at row 1``): the
            # client compares it with the unsharded server's, so no data source suffix.
            return ShardgateError(strict.message, code=strict.code, sqlstate=strict.sqlstate)
    if isinstance(exc, sqlite3.IntegrityError) and _UNIQUE.search(msg):
        return DuplicateKey(f"Duplicate entry: {msg}{where}")
    if isinstance(exc, sqlite3.OperationalError):
        if 'near "DEFAULT": syntax error' in msg:
            # DEFAULT(col) where the shard statement is not rewritten (a SELECT's items).
            return NotSupported(
                "DEFAULT(col) outside INSERT … VALUES, an upsert clause or UPDATE … SET "
                f"on the embedded SQLite default{where}"
            )
        unsupported = sqlite_mysql.unknown_function(msg)
        if unsupported is not None:
            return NotSupported(f"{unsupported.message}{where}")
        near = _SYNTAX.search(msg)
        if near is not None:
            # The coordinator parsed the statement as MySQL: a shard's syntax error is
            # a form the translation to SQLite does not cover (a clear 1235, not 1105).
            return NotSupported(
                "this MySQL syntax on the embedded SQLite default (its translation stops "
                f"near {near.group(1)!r}){where}"
            )
        if msg.startswith("no such table"):
            return UnknownTable(f"{msg}{where}")
        if msg.startswith("no such column"):
            return UnknownColumn(f"Unknown column: {msg}{where}")
        if "already exists" in msg:
            return TableExists(f"{msg}{where}")
        if _COUNT.search(msg):
            return BackendError(
                f"Column count doesn't match value count: {msg}{where}", code=1136, sqlstate="21S01"
            )
        if msg == "interrupted":
            return QueryInterrupted(f"Query execution was interrupted{where}")
        if "database is locked" in msg or "database table is locked" in msg:
            return BackendError(
                f"Lock wait timeout exceeded: {msg}{where}", code=1205, sqlstate="HY000"
            )
    if isinstance(exc, sqlite3.IntegrityError):
        column = _NOT_NULL.match(msg)
        if column is not None:
            # MySQL's text: clients show it, some parse the column name from it.
            return BackendError(
                f"Column '{column.group(1)}' cannot be null", code=1048, sqlstate="23000"
            )
        return BackendError(
            f"{msg}{where}", code=1048 if "NOT NULL" in msg else 1452, sqlstate="23000"
        )
    return BackendError(f"SQLite error: {msg}{where}")


#: SQLite's NOT NULL violation names ``table.column`` (the shard's table).
_NOT_NULL = re.compile(r"NOT NULL constraint failed: (?:[^.\s]+\.)*([^.\s]+)\Z")
