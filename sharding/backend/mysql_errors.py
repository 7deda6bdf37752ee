"""Mapping driver, bridge and OS errors of the MySQL data source to ShardgateErrors
(:mod:`.mysql`). Connection failures name the data source in their text; an error the
server reported for the statement keeps the server's text (what MariaDB tells a
client) and carries the data source as ``BackendError.datasource``."""

from __future__ import annotations

import asyncio

from sharding.backend.bridge import BridgeError
from sharding.backend.mysql_drivers import _Aborted, _driver_error_code
from sharding.errors import BackendError, DataSourceUnavailable, QueryTimeout, ShardgateError

# SQLSTATEs for common server codes, for drivers that do not pass the packet's own on.
_SQLSTATE = {
    1044: "42000",
    1045: "28000",
    1046: "3D000",
    1049: "42000",
    1050: "42S01",
    1051: "42S02",
    1054: "42S22",
    1062: "23000",
    1064: "42000",
    1146: "42S02",
    1205: "HY000",
    1213: "40001",
    1216: "23000",
    1217: "23000",
    1264: "22003",
    1317: "70100",
    1366: "HY000",
    1397: "XAE04",
    1399: "XAE07",
    1400: "XAE09",
    1402: "XA100",
    1440: "XAE08",
    1451: "23000",
    1452: "23000",
    1969: "70100",
}


# -- error mapping ---------------------------------------------------------------------


def map_error(ds: str, exc: BaseException) -> ShardgateError:
    """Translate a driver/bridge/OS error into a ShardgateError naming the data source."""
    if isinstance(exc, ShardgateError):
        return exc
    if isinstance(exc, _Aborted):
        return DataSourceUnavailable(f"{ds}: {exc}")
    if isinstance(exc, BridgeError):
        return DataSourceUnavailable(f"{ds}: {exc}")
    coded = _driver_error_code(exc)
    if coded is not None:
        code, msg = coded
        if code == 1969:
            # The server's own text, as MariaDB gives it to a client (max_statement_time
            # is the client's setting, not the data source's); the source kept for logs.
            timeout = QueryTimeout(msg)
            timeout.datasource = ds  # type: ignore[attr-defined]
            return timeout
        if code >= 2000 or code == 1927:
            return DataSourceUnavailable(f"{ds}: {msg} (client error {code})")
        if code == 0:
            return DataSourceUnavailable(f"{ds}: {type(exc).__name__}: {msg}")
        sqlstate = getattr(exc, "sqlstate", None) or _SQLSTATE.get(code, "HY000")
        # The server's own error for the statement: its text as MariaDB gives it to a
        # client (``Duplicate entry '1' for key 'PRIMARY'``); the data source is kept
        # on the error for logs, not put in front of the text.
        error = BackendError(msg, code=code, sqlstate=sqlstate)
        error.datasource = ds
        # Set by the drivers' batches (``_Driver._batched``): which statement failed.
        error.statement_index = getattr(exc, "sg_statement_index", None)
        return error
    if isinstance(exc, OSError | EOFError | asyncio.TimeoutError):
        return DataSourceUnavailable(f"{ds}: connection failed: {exc!r}")
    return BackendError(f"{ds}: {type(exc).__name__}: {exc}")
