"""Errors that reach a client, each carrying the MySQL error code and SQLSTATE.

Every layer of the coordinator (parse, route, rewrite, plan, execute, merge, backends,
the wire-protocol server) raises these, so the server can turn any failure into an
error packet with the right code without guessing. The codes are MySQL's own
(``include/mysqld_error.h`` / ``errmsg.h``); clients and connectors key behaviour on
them (e.g. retry on 2013, report a syntax error on 1064).

Invariant: ``str(err)`` is the message a client sees; it never contains a traceback.
"""

from __future__ import annotations

from typing import ClassVar


class ShardgateError(Exception):
    """Base class: an error with a MySQL error code and SQLSTATE."""

    code: ClassVar[int] = 1105  # ER_UNKNOWN_ERROR
    sqlstate: ClassVar[str] = "HY000"

    def __init__(self, message: str, *, code: int | None = None, sqlstate: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        if sqlstate is not None:
            self.sqlstate = sqlstate  # type: ignore[misc]

    def __str__(self) -> str:
        return self.message


class ParseError(ShardgateError):
    """ER_PARSE_ERROR: the statement is not valid SQL (message names the position)."""

    code = 1064
    sqlstate = "42000"


class NotSupported(ShardgateError):
    """ER_NOT_SUPPORTED_YET: valid SQL that the coordinator cannot run correctly."""

    code = 1235
    sqlstate = "42000"


class UnknownTable(ShardgateError):
    """ER_NO_SUCH_TABLE."""

    code = 1146
    sqlstate = "42S02"


class TableExists(ShardgateError):
    """ER_TABLE_EXISTS_ERROR."""

    code = 1050
    sqlstate = "42S01"


class UnknownDatabase(ShardgateError):
    """ER_BAD_DB_ERROR."""

    code = 1049
    sqlstate = "42000"


class NoDatabaseSelected(ShardgateError):
    """ER_NO_DB_ERROR."""

    code = 1046
    sqlstate = "3D000"


class UnknownColumn(ShardgateError):
    """ER_BAD_FIELD_ERROR."""

    code = 1054
    sqlstate = "42S22"


class AccessDenied(ShardgateError):
    """ER_ACCESS_DENIED_ERROR."""

    code = 1045
    sqlstate = "28000"


class QueryInterrupted(ShardgateError):
    """ER_QUERY_INTERRUPTED: KILL QUERY, client gone, shutdown, or deadlock breaker."""

    code = 1317
    sqlstate = "70100"


class QueryTimeout(ShardgateError):
    """ER_STATEMENT_TIMEOUT (MariaDB's max_statement_time error)."""

    code = 1969
    sqlstate = "70100"


class DataSourceUnavailable(ShardgateError):
    """A shard's data source cannot be reached: the message names it.

    Uses CR_SERVER_LOST's code (2013) so connectors treat it as a lost backend.
    """

    code = 2013
    sqlstate = "HY000"


class PoolTimeout(ShardgateError):
    """No connection of a data source's pool became free within ``acquire_timeout``."""

    code = 1040  # ER_CON_COUNT_ERROR: "Too many connections"
    sqlstate = "08004"


class DuplicateKey(ShardgateError):
    """ER_DUP_ENTRY."""

    code = 1062
    sqlstate = "23000"


class ShardKeyUpdate(ShardgateError):
    """Changing a row's shard key would move it between shards; refused."""

    code = 1235
    sqlstate = "42000"


class BackendError(ShardgateError):
    """An error reported by a shard's server, passed through with its own code."""


class TransactionError(ShardgateError):
    """A multi-shard write whose outcome must be reported exactly (see message)."""

    code = 1180  # ER_ERROR_DURING_COMMIT
    sqlstate = "HY000"
