"""Errors that reach a client, each carrying the MySQL error code and SQLSTATE.

Every layer of the coordinator (parse, route, rewrite, plan, execute, merge, backends,
the wire-protocol server) raises these, so the server can turn any failure into an
error packet with the right code without guessing. The codes are MySQL's own
(``include/mysqld_error.h`` / ``errmsg.h``); clients and connectors key behaviour on
them (e.g. retry on 2013, report a syntax error on 1064).

A failing *backend* must never look like a failing *client connection* (issue 12):
client-side codes (2000-2999: 2006 "gone away", 2013 "lost connection") and SQLSTATE
class ``08`` (connection exception) make connectors and pools drop the connection —
SQLAlchemy's ``is_disconnect`` invalidates its whole pool on 2013, JDBC pools evict a
connection whose SQLException has SQLSTATE ``08xxx``. The coordinator connection is
fine when a shard's server is down or its pool is exhausted, so those errors use
server-side codes with SQLSTATE ``HY000``:

* an unreachable / failed / circuit-broken data source: 1429
  ER_CONNECT_TO_FOREIGN_DATA_SOURCE ("Unable to connect to foreign data source"), the
  server's own code for "a remote source this statement needs is unreachable";
* no pooled backend connection within ``acquire_timeout``: 1205 ER_LOCK_WAIT_TIMEOUT, a
  wait for a shared resource that timed out — the statement did nothing and may be
  retried, the session and its transaction are intact (as after InnoDB's lock wait
  timeout), which is what retry logic keyed on 1205 assumes.

The messages name the data source and never contain the phrases connectors look for
in messages ("already closed", "connection was killed", "Lost connection").

Invariant: ``str(err)`` is the message a client sees; it never contains a traceback.
"""

from __future__ import annotations

from typing import ClassVar


class ShardgateError(Exception):
    """Base class: an error with a MySQL error code and SQLSTATE."""

    code: ClassVar[int] = 1105  # ER_UNKNOWN_ERROR
    sqlstate: ClassVar[str] = "HY000"
    #: Which statement of a batch run on one connection raised it (0-based; None: not
    #: known or not a batch): a shard's "at row n" is then named in the client's rows.
    statement_index: int | None = None

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


class IllegalDouble(ShardgateError):
    """ER_ILLEGAL_VALUE_FOR_TYPE: a number literal past the DOUBLE range (``1e309``)."""

    code = 1367
    sqlstate = "22007"


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

    ER_CONNECT_TO_FOREIGN_DATA_SOURCE: a backend failed, the client's connection is
    fine (module docstring; not 2013, which clients take for their own connection).
    """

    code = 1429
    sqlstate = "HY000"


class PoolTimeout(ShardgateError):
    """No connection of a data source's pool became free within ``acquire_timeout``.

    ER_LOCK_WAIT_TIMEOUT-like: a timed-out wait, retryable, session intact (module
    docstring; not 1040/08004, which JDBC pools take for a broken connection)."""

    code = 1205
    sqlstate = "HY000"


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

    #: The data source that reported it (None: not known here).
    datasource: str | None = None


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


class KillDenied(ShardgateError):
    """ER_KILL_DENIED_ERROR: ``KILL`` of another user's thread without the
    ``connection_admin`` privilege ("You are not owner of thread N")."""

    code = 1095
    sqlstate = "HY000"


class SpecificAccessDenied(ShardgateError):
    """ER_SPECIFIC_ACCESS_DENIED_ERROR: a statement that needs a privilege the user
    lacks ("Access denied; you need (at least one of) the X privilege(s) ...")."""

    code = 1227
    sqlstate = "42000"


class NoSuchQuery(ShardgateError):
    """MariaDB's ER_NO_SUCH_QUERY: ``KILL QUERY ID`` of a query that is not running."""

    code = 1957
    sqlstate = "HY000"


class UnknownSystemVariable(ShardgateError):
    """ER_UNKNOWN_SYSTEM_VARIABLE."""

    code = 1193
    sqlstate = "HY000"


class LocalFilesRefused(ShardgateError):
    """``LOAD DATA LOCAL INFILE`` from a client that did not set CLIENT_LOCAL_FILES
    (MariaDB 10.11's ER_LOAD_INFILE_CAPABILITY_DISABLED)."""

    code = 4166
    sqlstate = "HY000"


def near_text(rest: str) -> str:
    """The ``near '...'`` part of a 1064 as MariaDB prints it (``%-.80T``): the text
    from the error on, at most 80 bytes (UTF-8), a longer one cut to 77 bytes at a
    character boundary and ``...``."""
    raw = rest.encode("utf-8", "surrogatepass")
    if len(raw) <= 80:
        return rest
    return raw[:77].decode("utf-8", "ignore") + "..."


def syntax_error_message(near: str, line: int) -> str:
    """MariaDB's 1064 text for the statement text from the error on, at ``line``."""
    return (
        "You have an error in your SQL syntax; check the manual that corresponds to your "
        f"MariaDB server version for the right syntax to use near '{near_text(near)}' "
        f"at line {line}"
    )
