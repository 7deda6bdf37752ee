"""LOCK TABLES, UNLOCK TABLES and FLUSH: what dump and restore tools send around data.

``mysqldump``/``mariadb-dump`` take ``LOCK TABLES … READ LOCAL`` before reading a
database (its default ``--lock-tables``) and ``UNLOCK TABLES`` after; the files they
write wrap every table's INSERTs in ``LOCK TABLES t WRITE`` … ``UNLOCK TABLES``, and
``--master-data``/``--flush-logs`` send ``FLUSH``. Refusing them makes every dump and
every restore fail at its first table.

The coordinator cannot take a table lock that holds across shards and data sources
(MariaDB's table locks are per server and per connection, and a session's shard
connections come from pools). So these statements are *accepted without locking*, and
say so: each leaves one warning (1235) in ``SHOW WARNINGS`` naming what to do instead
— ``--single-transaction`` for a consistent dump (a consistent snapshot per data
source), transactions or ``SELECT … FOR UPDATE`` for mutual exclusion. ``UNLOCK
TABLES`` and the FLUSH forms that only write caches back are plain no-ops, as on a
server with nothing to flush. ``ALTER TABLE t DISABLE KEYS`` / ``ENABLE KEYS`` (around
every table's rows in a dump) is what InnoDB makes of it: nothing, with note 1031.

Dump files also carry *executable comments* (``/*!40101 SET NAMES utf8mb4 */``,
``/*M!999999\\- enable the sandbox mode */``), several per statement text once the
``mariadb`` client has glued them to the ``--`` header lines before them:
:func:`sharding.server.sqlscan.expand_executable_comments` (the protocol server sees
them first) does what MySQL does with them — the text of one
whose version this server reaches is part of the statement, any other is a comment.
"""

from __future__ import annotations

import re

from sharding.api import Result
from sharding.errors import NotSupported
from sharding.session_state import SessionState

__all__ = ["alter_keys", "keys_note", "lock_statement"]

_LOCK = re.compile(r"\s*LOCK\s+(TABLES?|INSTANCE\s+FOR\s+BACKUP)\b", re.IGNORECASE)
_UNLOCK = re.compile(r"\s*UNLOCK\s+(TABLES?|INSTANCE)\s*;?\s*$", re.IGNORECASE)
_FLUSH = re.compile(
    r"\s*FLUSH\s+(?:(?:LOCAL|NO_WRITE_TO_BINLOG)\s+)?(?P<what>.*?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
#: FLUSH targets that only write back or reload server caches (nothing to do here).
_FLUSH_NOOP = re.compile(
    r"(TABLES?|LOGS|BINARY\s+LOGS|ENGINE\s+LOGS|ERROR\s+LOGS|GENERAL\s+LOGS|RELAY\s+LOGS|"
    r"SLOW\s+LOGS|PRIVILEGES|STATUS|HOSTS|QUERY\s+CACHE|USER_RESOURCES|TABLE_STATISTICS|"
    r"INDEX_STATISTICS|USER_STATISTICS|CLIENT_STATISTICS)"
    r"(\s*,\s*\w+(\s+\w+)?)*$",
    re.IGNORECASE,
)
_FLUSH_LOCK = re.compile(
    r"TABLES?\b.*\bWITH\s+READ\s+LOCK$|TABLES?\b.*\bFOR\s+EXPORT$", re.IGNORECASE | re.DOTALL
)

NO_LOCK_WARNING = (
    "LOCK TABLES does not lock the shards on the sharding coordinator (accepted, no lock "
    "taken): use mysqldump --single-transaction for a consistent dump, transactions or "
    "SELECT ... FOR UPDATE to exclude writers"
)
NO_GLOBAL_LOCK_WARNING = (
    "FLUSH TABLES WITH READ LOCK takes no lock on the sharding coordinator (accepted): "
    "use mysqldump --single-transaction for a consistent dump"
)


def lock_statement(state: SessionState, kind: str, sql: str) -> Result:
    """The answer to a LOCK / UNLOCK / FLUSH statement (see the module docstring)."""
    if kind == "LOCK" and _LOCK.match(sql):
        return _warned(state, NO_LOCK_WARNING)
    if kind == "UNLOCK" and _UNLOCK.match(sql):
        return Result()
    if kind == "FLUSH":
        m = _FLUSH.match(sql)
        what = m.group("what") if m else ""
        if _FLUSH_LOCK.match(what):
            return _warned(state, NO_GLOBAL_LOCK_WARNING)
        if _FLUSH_NOOP.match(what):
            return Result()
    raise NotSupported(f"the statement {kind} is not supported by the sharding coordinator")


def _warned(state: SessionState, message: str) -> Result:
    state.diagnostics = [("Warning", NotSupported.code, message)]
    return Result(warnings=1)


_ALTER_KEYS = re.compile(
    r"\s*ALTER\s+TABLE\s+(?P<name>(?:`(?:[^`]|``)+`|[\w$]+)(?:\s*\.\s*(?:`(?:[^`]|``)+`|[\w$]+))?)"
    r"\s+(?:DISABLE|ENABLE)\s+KEYS\s*;?\s*$",
    re.IGNORECASE,
)


def alter_keys(sql: str) -> tuple[str | None, str] | None:
    """``(database or None, table)`` of ``ALTER TABLE t DISABLE|ENABLE KEYS``; None for
    any other ALTER."""
    m = _ALTER_KEYS.match(sql)
    if m is None:
        return None
    parts = [
        p.strip().strip("`").replace("``", "`")
        for p in re.findall(r"`(?:[^`]|``)+`|[\w$]+", m.group("name"))
    ]
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def keys_note(state: SessionState, database: str, table: str) -> Result:
    """InnoDB's answer to DISABLE/ENABLE KEYS: nothing done, note 1031."""
    state.warn(
        "Note",
        1031,
        f"Storage engine InnoDB of the table `{database}`.`{table}` doesn't have this option",
    )
    return Result(warnings=1)
