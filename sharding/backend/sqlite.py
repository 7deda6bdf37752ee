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

Durability: WAL with ``synchronous=NORMAL`` — a power loss may drop the last commits,
never corrupt a file.

Statistics: besides the pool counters, ``extra`` reports ``reads_open`` and
``peak_reads_open`` (fetches running at once) so tests can check the executor's window
bounded a whole fan-out.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ClassVar, TypeVar

import trio

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
    QueryInterrupted,
    ShardgateError,
    TableExists,
    TransactionError,
    UnknownColumn,
    UnknownDatabase,
    UnknownTable,
)

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

    __slots__ = ("abandoned", "attached", "busy", "closed", "lock", "pending", "raw")

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self.attached: OrderedDict[str, None] = OrderedDict()
        self.pending: list[tuple[str, tuple[str, ...]]] = []
        self.lock = threading.Lock()
        self.busy = False
        self.abandoned = False
        self.closed = False

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

    def __init__(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        max_idle: int = 64,
        max_threads: int = 64,
        busy_timeout: float = 10.0,
        cache_kib: int = 512,
    ) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.max_idle = max_idle
        self.busy_timeout = busy_timeout
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

    def _open_raw(self) -> _RawConnection:
        """Runs in a worker thread."""
        raw = sqlite3.connect(
            ":memory:", isolation_level=None, check_same_thread=False, cached_statements=64
        )
        try:
            raw.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        except BaseException:
            raw.close()
            raise
        return _RawConnection(raw)

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
    async def connection(self, databases: Sequence[str] = ()) -> AsyncIterator[Connection]:
        conn = await self._acquire(databases)
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
    async def transaction(self, databases: Sequence[str] = ()) -> AsyncIterator[Connection]:
        self._check_open()
        txn = _TxnConn(self, tuple(sorted(set(databases))))
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
                    try:
                        for sql, args in ops:
                            conn.raw.execute(sql, args)
                    except BaseException:
                        conn.abandoned = True  # attachment state unknown: retire it
                        raise
                return fn(conn.raw)
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


def _fetch(sql: str) -> Callable[[sqlite3.Connection], ResultSet]:
    def run(raw: sqlite3.Connection) -> ResultSet:
        cur = raw.execute(sql)
        rows = cur.fetchall()
        columns = [Column(d[0]) for d in (cur.description or ())]
        return ResultSet(columns, rows)

    return run


def _exec(sql: str) -> Callable[[sqlite3.Connection], ExecResult]:
    def run(raw: sqlite3.Connection) -> ExecResult:
        cur = raw.execute(sql)
        affected = cur.rowcount if cur.rowcount >= 0 else 0
        return ExecResult(affected=affected, last_insert_id=cur.lastrowid or None)

    return run


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

    Each statement goes to the connection of the (single) physical database it names;
    the names are the ``databases`` passed to ``transaction()``.
    """

    def __init__(self, ds: SQLiteDataSource, databases: tuple[str, ...]) -> None:
        self._ds = ds
        self._databases = databases
        self._subs: dict[tuple[str, ...], _RawConnection] = {}
        self._order: list[tuple[str, ...]] = []
        alternatives = "|".join(re.escape(d) for d in sorted(databases, key=len, reverse=True))
        self._pattern = (
            re.compile(r'(?<![\w$"`])["`]?(' + alternatives + r')["`]?\s*\.') if databases else None
        )

    def _target(self, sql: str) -> tuple[str, ...]:
        if self._pattern is None:
            raise BackendError(
                f"data source {self._ds.name!r}: transaction() needs the physical databases"
            )
        names = tuple(sorted({m.group(1) for m in self._pattern.finditer(sql)}))
        if not names:
            names = self._databases[:1]
        for key in self._subs:
            if key != names and set(key) & set(names):
                raise BackendError(
                    f"data source {self._ds.name!r}: one transaction cannot write "
                    f"{', '.join(names)} through two connections"
                )
        return names

    async def _sub(self, sql: str) -> _RawConnection:
        key = self._target(sql)
        conn = self._subs.get(key)
        if conn is None:
            conn = await self._ds._acquire(key, exact=True)
            self._subs[key] = conn
            self._order.append(key)
            try:
                await self._ds.run(conn, lambda raw: raw.execute("BEGIN IMMEDIATE"))
            except BaseException:
                del self._subs[key]
                self._order.remove(key)
                self._ds._release(conn, reusable=False)
                raise
        return conn

    async def fetch(self, sql: str) -> ResultSet:
        conn = await self._sub(sql)
        self._ds._read_started()
        try:
            return await self._ds.run(conn, _fetch(sql))
        finally:
            self._ds._read_finished()

    async def execute(self, sql: str) -> ExecResult:
        conn = await self._sub(sql)
        return await self._ds.run(conn, _exec(sql))

    async def commit(self) -> None:
        committed: list[str] = []
        try:
            for i, key in enumerate(self._order):
                conn = self._subs[key]
                try:
                    await self._ds.run(conn, lambda raw: raw.execute("COMMIT"))
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
                await self._ds.run(conn, lambda raw: raw.rollback())
            except (ShardgateError, sqlite3.Error):
                conn.close()

    def _release_all(self) -> None:
        for key in self._order:
            conn = self._subs[key]
            self._ds._release(
                conn, reusable=not conn.raw.in_transaction if not conn.closed else False
            )
        self._subs.clear()
        self._order.clear()


_COUNT = re.compile(r"\d+ values for \d+ columns|has \d+ columns but \d+ values were supplied")
_UNIQUE = re.compile(r"UNIQUE constraint failed|PRIMARY KEY must be unique|is not unique")


def translate_error(ds: str, exc: sqlite3.Error) -> ShardgateError:
    """Map a sqlite3 error to the MySQL-coded error a client should see."""
    msg = str(exc)
    where = f" (data source {ds!r})"
    if isinstance(exc, sqlite3.IntegrityError) and _UNIQUE.search(msg):
        return DuplicateKey(f"Duplicate entry: {msg}{where}")
    if isinstance(exc, sqlite3.OperationalError):
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
        return BackendError(
            f"{msg}{where}", code=1048 if "NOT NULL" in msg else 1452, sqlstate="23000"
        )
    return BackendError(f"SQLite error: {msg}{where}")
