"""The LOCAL INFILE exchange of ``LOAD DATA LOCAL INFILE``, and the load it drives.

Protocol (as MySQL's): the server answers the statement with a packet ``0xFB`` +
file name; the client sends the file's bytes in packets and an empty packet at the end;
the server then answers OK (affected rows, ``Records: N  Deleted: D  Skipped: S
Warnings: W``) or an error. The client must have set CLIENT_LOCAL_FILES at connect,
else the statement is refused before any exchange with MariaDB 10.11's error (4166,
"... has disabled the local infile capability"; older servers said 1148).

The load runs through the session's ordinary API: the rows become multi-row INSERTs
(``INSERT IGNORE`` / ``REPLACE`` / ``INSERT``, as the statement says — LOCAL without a
word means IGNORE in MySQL, since the client cannot be stopped mid-file), each batch of
``BATCH_ROWS`` rows sent as file packets arrive, so memory stays bounded by one batch
plus one packet whatever the file's size. The INSERT path splits each batch by shard;
the load runs in one transaction (``BEGIN`` … ``COMMIT`` when the client has none open;
inside the client's own transaction otherwise), so it is all-or-nothing as on InnoDB.

Once the file was requested, the client sends all of it whatever happens: after an
error the rest of the file is read and dropped, then the error is sent, so the
connection stays in step.
"""

from __future__ import annotations

import codecs
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sharding.api import (
    CHARSETS,
    LoadSpec,
    Record,
    RecordReader,
    Result,
    Session,
    decode_bytes,
    encode_text,
    parse_load_data,
    python_codec,
    shape_rows,
)
from sharding.errors import LocalFilesRefused, ShardgateError

__all__ = ["BATCH_ROWS", "LocalFilesRefused", "load_data_local"]

#: Rows per INSERT: large enough to amortise a round trip per shard, small enough that
#: a batch (and its statement text) stays a few hundred KB.
BATCH_ROWS = 1000


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


async def load_data_local(
    sql: str,
    session: Session,
    *,
    allowed: bool,
    request_file: Callable[[bytes], Awaitable[None]],
    next_packet: Callable[[], Awaitable[bytes]],
) -> Result:
    """Run ``LOAD DATA LOCAL INFILE`` ``sql`` on ``session``.

    ``request_file`` sends the 0xFB request (and flushes); ``next_packet`` returns the
    client's next file packet (``b""`` ends the file)."""
    spec = parse_load_data(sql)  # 1064 / 1235 first (a server-side file included)
    if not allowed:
        raise LocalFilesRefused(
            "The used command is not allowed because the MariaDB server or client has "
            "disabled the local infile capability"
        )
    if spec.charset is not None and spec.charset not in CHARSETS:
        raise ShardgateError(
            f"Unknown character set: '{spec.charset}'", code=1115, sqlstate="42000"
        )
    table = (
        _quote(spec.table)
        if spec.database is None
        else f"{_quote(spec.database)}.{_quote(spec.table)}"
    )
    columns = spec.columns
    # Errors before the exchange (unknown table or column) come before the request.
    described = await session.execute(f"SHOW COLUMNS FROM {table}")
    names = [str(r[0]) for r in described.rows]
    missing = {str(r[0]).lower(): _missing_value(r) for r in described.rows}
    binary = {str(r[0]).lower() for r in described.rows if _is_binary(r)}
    if columns is None:
        columns = names
    else:
        for c in columns:
            if c.lower() not in missing:
                raise ShardgateError(
                    f"Unknown column '{c}' in 'field list'", code=1054, sqlstate="42S22"
                )
    charset = spec.charset or _database_charset(session)
    await request_file(spec.filename.encode("utf-8", "surrogateescape"))
    fill = [missing[c.lower()] for c in columns]
    raw = [c.lower() in binary for c in columns]
    loader = _Loader(session, spec, table, columns, charset, fill, raw)
    failure: ShardgateError | None = None
    ended = False  # the client's empty packet arrived
    try:
        await loader.begin()
        while True:
            data = await next_packet()
            if not data:
                ended = True
                break
            await loader.feed(data)
        await loader.finish()
    except ShardgateError as exc:
        failure = exc
    if failure is not None:
        # The client sends the whole file whatever happened: read it to its end.
        while not ended:
            ended = not await next_packet()
        await loader.abort()
        state = getattr(session, "state", None)
        if state is not None:  # as after any failed statement (not the ROLLBACK's)
            state.row_count = -1
            state.diagnostics = [("Error", failure.code, str(failure))]
        raise failure
    result = loader.result()
    state = getattr(session, "state", None)
    if state is not None:
        # SHOW WARNINGS lists the load's own notes (rows too short/long); ROW_COUNT().
        state.diagnostics = loader.notes[:_MAX_NOTES]
        state.row_count = result.affected
    return result


_MAX_NOTES = 64  # max_error_count's default
_STRING_TYPES = frozenset(
    [
        "char",
        "varchar",
        "text",
        "tinytext",
        "mediumtext",
        "longtext",
        "blob",
        "tinyblob",
        "mediumblob",
        "longblob",
        "binary",
        "varbinary",
        "enum",
        "set",
        "json",
        "inet6",
        "uuid",
    ]
)


_BINARY_TYPES = frozenset(["binary", "varbinary", "blob", "tinyblob", "mediumblob", "longblob"])


def _is_binary(described: Sequence[Any]) -> bool:
    type_ = str(described[1]).lower()
    return bool(type_) and type_.split("(")[0].split()[0] in _BINARY_TYPES


def _missing_value(described: Sequence[Any]) -> Any:
    """What MariaDB stores in a column whose field is missing from a short line: NULL
    for a nullable column without a default, else the type's zero value (measured:
    ``''``, ``0``, ``0000-00-00``... even when the column has another default)."""
    type_ = str(described[1]).lower()
    base = type_.split("(")[0].split()[0] if type_ else ""
    if str(described[2]).upper() == "YES" and described[4] is None:
        return None
    if base in _STRING_TYPES:
        return ""
    if base == "date":
        return "0000-00-00"
    if base in ("datetime", "timestamp"):
        return "0000-00-00 00:00:00"
    if base == "time":
        return "00:00:00"
    return 0


def _database_charset(session: Session) -> str:
    state = getattr(session, "state", None)
    try:
        if state is not None:
            return str(state.get("character_set_database"))
    except ShardgateError:
        pass
    return "utf8mb4"


class _Loader:
    def __init__(
        self,
        session: Session,
        spec: LoadSpec,
        table: str,
        columns: Sequence[str],
        charset: str,
        fill: list[Any],
        raw: list[bool],
    ) -> None:
        self.session = session
        self.fill = fill
        # Binary columns take the file's bytes (MariaDB copies them); text columns
        # the characters (converted from the file's character set).
        self.raw = [i for i, r in enumerate(raw) if r]
        self.charset = charset
        self.spec = spec
        self.columns = list(columns)
        self.reader = RecordReader(spec)
        self.decoder = _decoder(charset)
        verb = {"IGNORE": "INSERT IGNORE", "REPLACE": "REPLACE", "ERROR": "INSERT"}[spec.mode]
        self.head = f"{verb} INTO {table} ({', '.join(_quote(c) for c in self.columns)}) VALUES "
        self.pending: list[Record] = []
        self.records = 0
        self.affected = 0
        self.warnings = 0
        self.notes: list[tuple[str, int, str]] = []
        self.own_txn = False

    async def begin(self) -> None:
        if not self.session.in_transaction and self.session.autocommit:
            await self.session.execute("BEGIN")
            self.own_txn = True

    async def feed(self, data: bytes) -> None:
        self.pending.extend(self.reader.feed(self.decoder.decode(data)))
        while len(self.pending) >= BATCH_ROWS:
            batch, self.pending = self.pending[:BATCH_ROWS], self.pending[BATCH_ROWS:]
            await self._insert(batch)

    async def finish(self) -> None:
        self.pending.extend(self.reader.feed(self.decoder.decode(b"", final=True)))
        self.pending.extend(self.reader.finish())
        while self.pending:
            batch, self.pending = self.pending[:BATCH_ROWS], self.pending[BATCH_ROWS:]
            await self._insert(batch)
        if self.own_txn:
            self.own_txn = False
            await self.session.execute("COMMIT")

    async def abort(self) -> None:
        if self.own_txn:
            self.own_txn = False
            try:
                await self.session.execute("ROLLBACK")
            except ShardgateError:
                pass  # the load's error is the one to report

    async def _insert(self, records: Sequence[Record]) -> None:
        width = len(self.columns)
        rows, notes = shape_rows(records, width, self.records + 1)
        self.records += len(rows)
        self.notes.extend(notes)
        params: list[Any] = []
        for rec in rows:
            row: list[Any] = list(rec)
            for i in self.raw:  # raw-byte columns: the file's bytes, not decoded text
                v = row[i] if i < len(row) else None
                if isinstance(v, str):
                    row[i] = encode_text(v, self.charset)
            params.extend(row)
            if len(row) < width:
                params.extend(self.fill[len(row) :])  # MariaDB's values for missing fields
        full = "(" + ", ".join("?" * width) + ")"
        result = await self.session.execute(self.head + ", ".join([full] * len(rows)), params)
        self.affected += result.affected
        self.warnings += result.warnings

    def result(self) -> Result:
        warnings = self.warnings + len(self.notes)
        deleted = skipped = 0
        if self.spec.mode == "REPLACE":
            deleted = max(0, self.affected - self.records)
        elif self.spec.mode == "IGNORE":
            skipped = max(0, self.records - self.affected)
        return Result(
            affected=self.affected,
            warnings=warnings,
            info=f"Records: {self.records}  Deleted: {deleted}  Skipped: {skipped}  Warnings: {warnings}",
        )


class _Latin1Decoder:
    """MySQL's latin1 (every byte a character, sharding.client_charset): stateless."""

    def decode(self, data: bytes, final: bool = False) -> str:
        del final
        return decode_bytes(data, "latin1")


def _decoder(charset: str) -> codecs.IncrementalDecoder | _Latin1Decoder:
    """Decodes the file as it arrives: a character cut between two packets is joined;
    bytes invalid in the character set are kept as surrogate escapes (stored
    byte-exact, as ``_binary`` literals)."""
    cs = charset.lower()
    if cs == "latin1":
        return _Latin1Decoder()
    return codecs.getincrementaldecoder(python_codec(cs))("surrogateescape")
