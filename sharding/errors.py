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


class EmptyQuery(ParseError):
    """ER_EMPTY_QUERY: nothing but whitespace, comments or ``;``."""

    code = 1065
    sqlstate = "42000"


class BadArguments(ShardgateError):
    """ER_WRONG_ARGUMENTS: parameters that do not fit the statement (count, type, a
    negative LIMIT, a value with no SQL literal)."""

    code = 1210
    sqlstate = "HY000"


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


class AmbiguousColumn(ShardgateError):
    """ER_NON_UNIQ_ERROR: an unqualified column that more than one table has."""

    code = 1052
    sqlstate = "23000"


class ColumnCountMismatch(ShardgateError):
    """ER_WRONG_VALUE_COUNT_ON_ROW: an INSERT row with the wrong number of values."""

    code = 1136
    sqlstate = "21S01"


class NoShardForValue(ShardgateError):
    """ER_NO_PARTITION_FOR_GIVEN_VALUE: the shard rule cannot place this key value."""

    code = 1526
    sqlstate = "HY000"


class PartitionKeyError(ShardgateError):
    """ER_UNIQUE_KEY_NEED_ALL_FIELDS_IN_PF: a unique key of a sharded table without the
    shard key (it could only be enforced per shard)."""

    code = 1503
    sqlstate = "HY000"


class TooManyRows(ShardgateError):
    """ER_TOO_BIG_SELECT-like: a shard read that cannot be chunked exceeded its guard."""

    code = 1104
    sqlstate = "42000"


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


class XAOutcomeUnknown(TransactionError):
    """An XA write whose commit decision was sent but could be neither confirmed nor
    ruled out (its reply was lost and the decision log could not be read back).

    Nothing was rolled back: every branch is left prepared, and XA recovery commits all
    of them or rolls back all of them, as the decision log says. The message names the
    XID. The client must not assume either outcome (re-read before retrying)."""

    code = 1180  # ER_ERROR_DURING_COMMIT
    sqlstate = "HY000"


class NoSuchThread(ShardgateError):
    """ER_NO_SUCH_THREAD: ``KILL`` of a connection id that does not exist."""

    code = 1094
    sqlstate = "HY000"


class NoSuchQuery(ShardgateError):
    """MariaDB's ER_NO_SUCH_QUERY: ``KILL QUERY ID`` of a query that is not running."""

    code = 1957
    sqlstate = "HY000"


class UnknownSystemVariable(ShardgateError):
    """ER_UNKNOWN_SYSTEM_VARIABLE."""

    code = 1193
    sqlstate = "HY000"
