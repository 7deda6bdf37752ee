"""Logging like a server: the statement log, the slow-query log, start-up errors.

Why a module of its own: a coordinator serving thousands of statements a second must
not build a log line per statement that nobody reads, and an operator must see the
few lines that matter — start-up, shutdown, errors with their text, slow queries —
not one 600-character line per statement. So:

* **Per-statement lines** (event ``statement``) only when DEBUG is enabled.
* **Slow-query log** (event ``slow query``, WARNING): a statement that ran at least
  ``long_query_time`` seconds (``[server] long_query_time``, default 10 like MySQL's),
  with its fan-out from :class:`~sharding.exec.run.ExecStats` (shards, children,
  chunks, shard rows, seconds queued for a slot vs running).
* **Statement text** normalised (literals → ``?``, :func:`sharding.sql.lexer.normalize`)
  unless ``[server] log_statement_text = true``: literal values are user data.
* **Errors**: an unexpected (internal) failure is logged at ERROR with its message (the
  traceback only at DEBUG); a server-side failure (a data source unreachable, a pool
  timeout, an XA commit problem) at WARNING; ordinary client errors (1064, 1146, ...)
  only in the DEBUG statement line — they are the client's business, not the
  operator's.

The hot path costs one comparison and one cached level check per statement
(:meth:`StatementLog.finished`); no string is built for a statement that is not
logged.

:func:`startup_error` turns the exceptions of a failed start into the one line the CLI
prints (port in use, bad TOML, catalog conflict, unreachable data source).
"""

from __future__ import annotations

import errno
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

__all__ = [
    "DEFAULT_LONG_QUERY_TIME",
    "StatementLog",
    "announce_shutdown",
    "debug_enabled",
    "log_statement_error",
    "startup_error",
    "statement_text",
    "where_in_config",
]

log = structlog.get_logger("sharding")

#: MySQL's default ``long_query_time`` (seconds).
DEFAULT_LONG_QUERY_TIME = 10.0
#: Longest statement text put in a log line (characters).
MAX_LOGGED_SQL = 300

# -- the level check, cached ------------------------------------------------------------

_level_cache: tuple[object, bool] = (None, False)


def debug_enabled() -> bool:
    """Whether DEBUG events reach the log. Cached per structlog configuration (the
    wrapper class changes whenever ``structlog.configure`` sets a new level), so the
    check is a dictionary copy and an identity comparison, not a logger assembly."""
    global _level_cache
    wrapper = structlog.get_config().get("wrapper_class")
    cached_for, enabled = _level_cache
    if wrapper is cached_for:
        return enabled
    check = getattr(wrapper, "is_enabled_for", None)
    if check is not None:
        try:
            enabled = bool(check(None, logging.DEBUG))
        except TypeError:
            enabled = True
    else:
        enabled = True  # an unfiltered logger class lets every level through
    _level_cache = (wrapper, enabled)
    return enabled


def statement_text(sql: str, *, full: bool = False) -> str:
    """The statement as logged: literals replaced by ``?`` unless ``full``; cut at
    :data:`MAX_LOGGED_SQL` characters."""
    if not full:
        from sharding.sql.lexer import normalize

        try:
            # Only as much as is logged: normalising all of a 10 MB INSERT on the
            # event loop froze every other client for ~0.4 s.
            sql = normalize(sql, limit=2 * MAX_LOGGED_SQL).text
        except Exception:  # logging must never fail a statement
            sql = "<statement not loggable>"
    cut = len(sql) > 4 * MAX_LOGGED_SQL
    sql = " ".join(sql[: 4 * MAX_LOGGED_SQL].split())
    return sql if len(sql) <= MAX_LOGGED_SQL and not cut else sql[: MAX_LOGGED_SQL - 3] + "..."


# -- errors -------------------------------------------------------------------------------

#: Error codes that say the *server side* has a problem the operator should see: pool
#: and lock waits, XA commit errors, an unreachable data source, a data source's query
#: timeout, and the client library's connection errors (2002 can't connect, 2003, 2006
#: gone away, 2013 lost). Not 1105: an internal error is logged where it is caught
#: (:func:`log_statement_error`), once.
_SERVER_SIDE_CODES = frozenset({1180, 1181, 1205, 1429, 1969, 2002, 2003, 2006, 2013})


def is_server_side(exc: BaseException) -> bool:
    code = getattr(exc, "code", None)
    return isinstance(code, int) and code in _SERVER_SIDE_CODES


def log_statement_error(
    session: int, sql: str, exc: BaseException, *, full_text: bool = False
) -> None:
    """An unexpected failure of a statement: its message at ERROR, the traceback only
    when DEBUG is on (the client gets error 1105 with the same message)."""
    kwargs: dict[str, Any] = {
        "session": session,
        "sql": statement_text(sql, full=full_text),
        "error": f"{type(exc).__name__}: {exc}",
    }
    if debug_enabled():
        kwargs["exc_info"] = exc
    log.error("internal error", **kwargs)


@dataclass
class StatementLog:
    """Where the statements of a coordinator are logged (module docstring).

    ``long_query_time``: seconds; a statement at least this slow is logged at WARNING
    (0 logs every statement as slow, like MySQL). ``full_text``: log statements with
    their literal values.
    """

    long_query_time: float = DEFAULT_LONG_QUERY_TIME
    full_text: bool = False

    def finished(
        self,
        session: int,
        kind: str,
        sql: str,
        elapsed: float,
        result: Any,
        streamed_rows: int,
        stats: Any,
        error: BaseException | None,
    ) -> None:
        """Called once per statement; logs nothing (and builds nothing) unless the
        statement was slow or DEBUG is on."""
        slow = elapsed >= self.long_query_time
        if not slow and not debug_enabled():
            if error is not None and is_server_side(error):
                # A server-side failure is the operator's business at every level.
                log.warning(
                    "statement failed",
                    session=session,
                    kind=kind,
                    sql=statement_text(sql, full=self.full_text),
                    error_code=getattr(error, "code", None),
                    error=str(error),
                    datasource=getattr(error, "datasource", None),
                )
            return
        fields: dict[str, Any] = {
            "session": session,
            "kind": kind,
            "sql": statement_text(sql, full=self.full_text),
            "elapsed_s": round(elapsed, 6),
        }
        fields["rows"] = (
            streamed_rows + len(result.rows)
            if result is not None and result.columns is not None
            else None
        )
        fields["affected"] = result.affected if result is not None else None
        if error is not None:
            fields["error_code"] = getattr(error, "code", None)
            fields["error"] = str(error)
            fields["datasource"] = getattr(error, "datasource", None)
        fields.update(stats.as_dict())
        if slow:
            fields["long_query_time"] = self.long_query_time
            log.warning("slow query", **fields)
        else:
            log.debug("statement", **fields)


# -- start-up and shutdown -----------------------------------------------------------------


def announce_shutdown(signal_name: str, *, running: int, timeout: float) -> None:
    """The one line a first SIGTERM/SIGINT logs: how long running statements may
    finish, and that a second signal stops at once."""
    if running:
        log.warning(
            f"shutting down: waiting up to {timeout:g} s for {running} running statement(s); "
            f"send {signal_name} again to stop at once",
            signal=signal_name,
            running=running,
            shutdown_timeout=timeout,
        )
    else:
        log.info(f"{signal_name} received", signal=signal_name)


# "[server]: unknown keys ['x']", "[cluster]: unknown keys x", "unknown [executor] key(s): x"
_UNKNOWN_KEYS = (
    re.compile(r"^\[\[?([\w.]+)\]?\].*?unknown keys? \[?'?([\w.-]+)"),
    re.compile(r"unknown \[\[?([\w.]+)\]?\] key(?:\(s\)|s)?: \[?'?([\w.-]+)"),
)


def where_in_config(message: str, config_path: str | None) -> str:
    """``message`` about an unknown key, with the file and line where the key is set
    (``[server]: unknown keys ['x']`` → ``cfg.toml line 7: [server]: unknown keys ['x']``)."""
    m = _UNKNOWN_KEYS[0].search(message) or _UNKNOWN_KEYS[1].search(message)
    if m is None or config_path is None:
        return message
    section, key = m.group(1), m.group(2)
    try:
        lines = Path(config_path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return message
    current = ""
    header = re.compile(r"^\s*\[\[?\s*([\w.]+)\s*\]\]?")
    assign = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(lines, 1):
        h = header.match(line)
        if h:
            current = h.group(1)
            continue
        if current == section and assign.match(line):
            return f"{config_path} line {number}: {message}"
    return f"{config_path}: {message}"


def startup_error(exc: BaseException, *, config_path: str | None = None) -> tuple[str | None, int]:
    """The one line the CLI prints for a start-up failure and the exit status (2: a
    configuration problem, 1: anything else); the line is None when ``exc`` is not a
    known start-up problem (a bug: the CLI says so and shows the traceback at DEBUG)."""
    import tomllib

    from sharding.errors import DataSourceUnavailable, ShardgateError
    from sharding.topology import TopologyError

    if isinstance(exc, BaseExceptionGroup):
        for leaf in _leaves(exc):
            line, status = startup_error(leaf, config_path=config_path)
            if line is not None:
                return line, status
        return None, 1
    if isinstance(exc, OSError) and exc.errno is not None:
        where = getattr(exc, "shardgate_address", None) or "the configured address"
        if exc.errno == errno.EADDRINUSE:
            return f"cannot listen on {where}: port already in use (another server running?)", 1
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            return f"cannot listen on {where}: {exc.strerror}", 1
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"{config_path or 'config'}: invalid TOML: {exc}", 2
    if isinstance(exc, TopologyError):
        # Raised while opening: a declared table conflicting with the stored catalog.
        return f"{config_path or 'topology'}: {exc}", 2
    if isinstance(exc, DataSourceUnavailable):
        return f"a data source is unreachable: ERROR {exc.code} ({exc.sqlstate}): {exc}", 1
    if isinstance(exc, ShardgateError):
        return f"ERROR {exc.code} ({exc.sqlstate}): {exc}", 1
    return None, 1


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        if isinstance(e, BaseExceptionGroup):
            out.extend(_leaves(e))
        else:
            out.append(e)
    return out
