"""Session state has one owner: system variables, user variables, SET, session functions.

Why one module: the protocol server, the coordinator and a SET regex each used to keep
their own copy of "the session", and they disagreed (``SELECT @@sql_mode`` answered one
value without FROM and another with it; ``SET autocommit = 0, @x = 1`` was half
applied). Here is the only place that knows what a variable is, what it may be set to,
and what a session's current value is, in the shape of mysql-mimic's ``Session`` and
Vitess's vtgate session:

* :class:`Variable` / :data:`VARIABLES` — MariaDB 10.11's definitions (scope, type,
  range, read-only) of the variables tools read; values are kept in the form
  ``SELECT @@name`` returns (booleans as 0/1, numbers as numbers).
* :class:`GlobalVariables` — the global view, one per coordinator: the built-in
  MariaDB 10.11 defaults, overlaid with the real globals of a MySQL fleet
  (:meth:`GlobalVariables.load`), so a MariaDB-backed coordinator answers like its
  servers. ``SET GLOBAL`` is refused: it would have to change every server.
* :class:`SessionState` — one per session: the session values that differ from the
  global view, user variables, ``LAST_INSERT_ID()``, ``ROW_COUNT()``,
  ``FOUND_ROWS()``, diagnostics, and the client identity (``USER()``,
  ``CONNECTION_ID()``). It parses SET once (:func:`parse_set`, with sqlglot), checks
  every assignment as MariaDB does (1193 unknown, 1238 read-only, 1228/1229 scope,
  1231/1232 bad value, 1115/1273/1253 character sets, 1298 time zone) and applies all
  of them or none.
* :meth:`SessionState.shard_settings` — the session variables that change how a shard
  evaluates a statement (``sql_mode``, ``time_zone``, ``collation_connection``,
  isolation, ...), as ``SET`` text, versioned so a borrowed shard connection only
  receives a ``SET`` when its applied state differs (see
  :mod:`sharding.exec.shard_settings`).

Nothing here does I/O: expressions a SET cannot evaluate alone (``SET @v := (SELECT
...)``) are handed to a callback of the session, which runs them as a SELECT.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from sharding.charsets_data import CHARSETS, COLLATIONS
from sharding.errors import NotSupported, ShardgateError, UnknownSystemVariable

__all__ = [
    "VARIABLES",
    "Assignment",
    "GlobalVariables",
    "SessionState",
    "Variable",
    "parse_set",
]

SESSION_ONLY = "session"
BOTH = "both"
GLOBAL_ONLY = "global"

_MAX_U64 = 18446744073709551615

#: sql_mode flags in MariaDB's bit order (``@@sql_mode`` lists them in this order).
SQL_MODES = (
    "REAL_AS_FLOAT",
    "PIPES_AS_CONCAT",
    "ANSI_QUOTES",
    "IGNORE_SPACE",
    "IGNORE_BAD_TABLE_OPTIONS",
    "ONLY_FULL_GROUP_BY",
    "NO_UNSIGNED_SUBTRACTION",
    "NO_DIR_IN_CREATE",
    "POSTGRESQL",
    "ORACLE",
    "MSSQL",
    "DB2",
    "MAXDB",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "NO_FIELD_OPTIONS",
    "MYSQL323",
    "MYSQL40",
    "ANSI",
    "NO_AUTO_VALUE_ON_ZERO",
    "NO_BACKSLASH_ESCAPES",
    "STRICT_TRANS_TABLES",
    "STRICT_ALL_TABLES",
    "NO_ZERO_IN_DATE",
    "NO_ZERO_DATE",
    "ALLOW_INVALID_DATES",
    "ERROR_FOR_DIVISION_BY_ZERO",
    "TRADITIONAL",
    "NO_AUTO_CREATE_USER",
    "HIGH_NOT_PRECEDENCE",
    "NO_ENGINE_SUBSTITUTION",
    "PAD_CHAR_TO_FULL_LENGTH",
    "EMPTY_STRING_IS_NULL",
    "SIMULTANEOUS_ASSIGNMENT",
    "TIME_ROUND_FRACTIONAL",
)
_OLD_DBS = (
    "PIPES_AS_CONCAT",
    "ANSI_QUOTES",
    "IGNORE_SPACE",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "NO_FIELD_OPTIONS",
)
#: Combination modes and what they add (measured on MariaDB 10.11).
_SQL_MODE_COMBOS: dict[str, tuple[str, ...]] = {
    "ANSI": ("REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE"),
    "TRADITIONAL": (
        "STRICT_TRANS_TABLES",
        "STRICT_ALL_TABLES",
        "NO_ZERO_IN_DATE",
        "NO_ZERO_DATE",
        "ERROR_FOR_DIVISION_BY_ZERO",
        "NO_AUTO_CREATE_USER",
        "NO_ENGINE_SUBSTITUTION",
    ),
    "POSTGRESQL": _OLD_DBS,
    "ORACLE": (*_OLD_DBS, "NO_AUTO_CREATE_USER", "SIMULTANEOUS_ASSIGNMENT"),
    "MSSQL": _OLD_DBS,
    "DB2": _OLD_DBS,
    "MAXDB": (*_OLD_DBS, "NO_AUTO_CREATE_USER"),
    "MYSQL323": ("HIGH_NOT_PRECEDENCE",),
    "MYSQL40": ("HIGH_NOT_PRECEDENCE",),
}
_ISOLATIONS = ("READ-UNCOMMITTED", "READ-COMMITTED", "REPEATABLE-READ", "SERIALIZABLE")
_CHARSET_ALIASES = {"utf8": "utf8mb3"}


@dataclass(frozen=True, slots=True)
class Variable:
    """One system variable as MariaDB defines it.

    ``kind``: bool, uint, double, str, enum, set (sql_mode), charset, collation, tz.
    ``shard``: the shards must evaluate statements with the session's value.
    """

    name: str
    default: Any
    kind: str = "str"
    scope: str = BOTH
    read_only: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    shard: bool = False
    nullable: bool = False


def _v(name: str, default: Any, kind: str = "str", **kw: Any) -> Variable:
    return Variable(name, default, kind, **kw)


_DEFAULT_SQL_MODE = (
    "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"
)

#: MariaDB 10.11 definitions and defaults (information_schema.SYSTEM_VARIABLES).
VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        # identity of the server (the protocol server attaches its own values)
        _v("version", "10.11.19-MariaDB-shardgate", scope=GLOBAL_ONLY, read_only=True),
        _v("version_comment", "shardgate sharding coordinator", scope=GLOBAL_ONLY, read_only=True),
        _v("version_compile_os", "debian-linux-gnu", scope=GLOBAL_ONLY, read_only=True),
        _v("version_compile_machine", "x86_64", scope=GLOBAL_ONLY, read_only=True),
        _v("version_malloc_library", "system", scope=GLOBAL_ONLY, read_only=True),
        _v("protocol_version", 10, "uint", scope=GLOBAL_ONLY, read_only=True),
        _v("license", "GPL", scope=GLOBAL_ONLY, read_only=True),
        _v("hostname", "shardgate", scope=GLOBAL_ONLY, read_only=True),
        _v("port", 3307, "uint", scope=GLOBAL_ONLY, read_only=True),
        _v("socket", "", scope=GLOBAL_ONLY, read_only=True),
        _v("lower_case_table_names", 0, "uint", scope=GLOBAL_ONLY, read_only=True),
        _v("system_time_zone", "UTC", scope=GLOBAL_ONLY, read_only=True),
        _v("have_query_cache", "YES", scope=GLOBAL_ONLY, read_only=True),
        _v("performance_schema", 0, "bool", scope=GLOBAL_ONLY, read_only=True),
        _v("log_bin", 0, "bool", scope=GLOBAL_ONLY, read_only=True),
        _v("thread_handling", "pool-of-threads", scope=GLOBAL_ONLY, read_only=True),
        _v("character_set_system", "utf8mb3", "charset", scope=GLOBAL_ONLY, read_only=True),
        _v("read_only", 0, "bool", scope=GLOBAL_ONLY),
        _v("init_connect", "", scope=GLOBAL_ONLY),
        _v("connect_timeout", 10, "uint", scope=GLOBAL_ONLY, low=2, high=31536000),
        _v("max_connections", 151, "uint", scope=GLOBAL_ONLY, low=10, high=100000),
        _v("query_cache_size", 1048576, "uint", scope=GLOBAL_ONLY, low=0, high=_MAX_U64),
        # session and global
        _v("autocommit", 1, "bool"),
        _v("sql_mode", _DEFAULT_SQL_MODE, "set", choices=SQL_MODES, shard=True),
        _v("time_zone", "SYSTEM", "tz", shard=True),
        _v("character_set_client", "utf8mb4", "charset"),
        _v("character_set_connection", "utf8mb4", "charset"),
        _v("character_set_results", "utf8mb4", "charset", nullable=True),
        _v("character_set_server", "utf8mb4", "charset"),
        _v("character_set_database", "utf8mb4", "charset"),
        _v("character_set_filesystem", "binary", "charset"),
        _v("collation_connection", "utf8mb4_general_ci", "collation", shard=True),
        _v("collation_server", "utf8mb4_general_ci", "collation"),
        _v("collation_database", "utf8mb4_general_ci", "collation"),
        _v("tx_isolation", "REPEATABLE-READ", "enum", choices=_ISOLATIONS, shard=True),
        _v("tx_read_only", 0, "bool", shard=True),
        _v("max_allowed_packet", 16777216, "uint", low=1024, high=1073741824),
        _v("net_buffer_length", 16384, "uint", low=1024, high=1048576),
        _v("wait_timeout", 28800, "uint", low=1, high=31536000),
        _v("interactive_timeout", 28800, "uint", low=1, high=31536000),
        _v("net_read_timeout", 30, "uint", low=1, high=31536000),
        _v("net_write_timeout", 60, "uint", low=1, high=31536000),
        _v("net_retry_count", 10, "uint", low=1, high=4294967295),
        _v("auto_increment_increment", 1, "uint", low=1, high=65535),
        _v("auto_increment_offset", 1, "uint", low=1, high=65535),
        _v("sql_select_limit", _MAX_U64, "uint", low=0, high=_MAX_U64),
        _v("max_join_size", _MAX_U64, "uint", low=1, high=_MAX_U64),
        _v("group_concat_max_len", 1048576, "uint", low=4, high=1073741824, shard=True),
        _v("div_precision_increment", 4, "uint", low=0, high=38, shard=True),
        _v("default_week_format", 0, "uint", low=0, high=7, shard=True),
        _v("lc_time_names", "en_US", shard=True),
        _v("lc_messages", "en_US"),
        _v("max_statement_time", 0.0, "double", low=0, high=31536000, shard=True),
        _v("long_query_time", 10.0, "double", low=0, high=31536000),
        _v("lock_wait_timeout", 86400, "uint", low=0, high=31536000, shard=True),
        _v("innodb_lock_wait_timeout", 50, "uint", low=0, high=100000000, shard=True),
        _v("query_cache_type", "OFF", "enum", choices=("OFF", "ON", "DEMAND")),
        _v("completion_type", "NO_CHAIN", "enum", choices=("NO_CHAIN", "CHAIN", "RELEASE")),
        _v("default_storage_engine", "InnoDB", shard=True),
        _v("storage_engine", "InnoDB"),
        _v("sql_auto_is_null", 0, "bool"),
        _v("sql_big_selects", 1, "bool"),
        _v("sql_buffer_result", 0, "bool"),
        _v("sql_log_bin", 1, "bool"),
        _v("sql_log_off", 0, "bool"),
        _v("sql_notes", 1, "bool"),
        # SHOW WARNINGS lists at most this many; @@warning_count counts them all. On
        # the shards too: each lists its own warnings of a read (sharding.exec.shard_warnings).
        _v("max_error_count", 64, "uint", low=0, high=65535, shard=True),
        _v("sql_warnings", 0, "bool"),
        _v("sql_quote_show_create", 1, "bool"),
        _v("sql_safe_updates", 0, "bool", shard=True),
        _v("foreign_key_checks", 1, "bool", shard=True),
        _v("unique_checks", 1, "bool", shard=True),
        _v("check_constraint_checks", 1, "bool", shard=True),
        _v("big_tables", 0, "bool"),
        _v("old_passwords", 0, "bool"),
        _v("explicit_defaults_for_timestamp", 1, "bool", shard=True),
        _v("session_track_schema", 1, "bool"),
        _v("session_track_state_change", 0, "bool"),
        _v(
            "session_track_system_variables",
            "autocommit,character_set_client,character_set_connection,character_set_results,time_zone",
        ),
        _v(
            "session_track_transaction_info",
            "OFF",
            "enum",
            choices=("OFF", "STATE", "CHARACTERISTICS"),
        ),
        _v("binlog_format", "MIXED", "enum", choices=("MIXED", "STATEMENT", "ROW")),
        _v("server_id", 1, "uint", low=1, high=4294967295),
        _v("updatable_views_with_limit", "YES", "enum", choices=("NO", "YES")),
        # session only (computed by the session)
        _v("last_insert_id", 0, "uint", scope=SESSION_ONLY, low=0, high=_MAX_U64),
        _v("identity", 0, "uint", scope=SESSION_ONLY, low=0, high=_MAX_U64),
        _v("insert_id", 0, "uint", scope=SESSION_ONLY, low=0, high=_MAX_U64),
        _v("warning_count", 0, "uint", scope=SESSION_ONLY, read_only=True),
        _v("error_count", 0, "uint", scope=SESSION_ONLY, read_only=True),
        _v("in_transaction", 0, "uint", scope=SESSION_ONLY, read_only=True),
        _v("pseudo_thread_id", 0, "uint", scope=SESSION_ONLY, low=0, high=4294967295),
        _v("timestamp", 0.0, "double", scope=SESSION_ONLY, read_only=True),
    )
}
#: Names that are the same variable (MySQL 8 spells MariaDB's tx_* this way; connectors
#: that believe the handshake's 8.0 version read them).
ALIASES = {"transaction_isolation": "tx_isolation", "transaction_read_only": "tx_read_only"}


def _canonical_name(name: str) -> str:
    key = name.lower()
    return ALIASES.get(key, key)


def lookup(name: str) -> Variable:
    var = VARIABLES.get(_canonical_name(name))
    if var is None:
        raise UnknownSystemVariable(f"Unknown system variable '{name}'")
    return var


def _err(code: int, sqlstate: str, message: str) -> ShardgateError:
    return ShardgateError(message, code=code, sqlstate=sqlstate)


def _wrong_value(name: str, value: Any) -> ShardgateError:
    shown = "NULL" if value is None else _text(value)
    return _err(1231, "42000", f"Variable '{name}' can't be set to the value of '{shown}'")


def _wrong_type(name: str) -> ShardgateError:
    return _err(1232, "42000", f"Incorrect argument type to variable '{name}'")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Keyword(str):
    """A bare word on the right of SET (``ON``, ``DEFAULT``, ``utf8mb4``)."""

    __slots__ = ()


_DEFAULT = "DEFAULT"


def charset_name(raw: str) -> str:
    """A character set name (aliases resolved); 1115 when MariaDB has none such."""
    name = raw.lower()
    name = _CHARSET_ALIASES.get(name, name)
    if name not in CHARSETS:
        raise _err(1115, "42000", f"Unknown character set: '{raw}'")
    return name


#: MySQL 8's utf8mb4 collations, which a client that takes the coordinator for MySQL
#: 8.0 (its handshake says so) sets at connect time — Connector/Python's ``SET NAMES
#: 'utf8mb4' COLLATE 'utf8mb4_0900_ai_ci'`` — as the MariaDB 10.11 collation that
#: compares the same way: UCA accent- and case-insensitive, or by code point.
#: MariaDB 11.4 accepts these names too (as its uca1400 collations).
_MYSQL8_COLLATIONS = {
    "utf8mb4_0900_ai_ci": "utf8mb4_unicode_520_ci",
    "utf8mb4_0900_bin": "utf8mb4_bin",
}


def collation_name(raw: str) -> str:
    name = raw.lower()
    if name.startswith("utf8_"):
        name = "utf8mb3_" + name[5:]
    name = _MYSQL8_COLLATIONS.get(name, name)
    if name not in COLLATIONS:
        raise _err(1273, "HY000", f"Unknown collation: '{raw}'")
    return name


_TZ_OFFSET = re.compile(r"([+-])(\d{1,2}):(\d{2})\Z")


def time_zone(raw: str, name: str = "time_zone") -> str:
    """``SYSTEM`` or ``±HH:MM`` within MariaDB's range, normalised as MariaDB shows it.

    Named zones need the server's time zone tables; this coordinator accepts only what
    every server accepts without them (MariaDB answers 1298 for a zone it lacks)."""
    if raw.upper() == "SYSTEM":
        return "SYSTEM"
    m = _TZ_OFFSET.match(raw.strip())
    if m:
        sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3))
        total = hours * 60 + minutes
        if minutes < 60 and (
            (sign == "+" and total <= 13 * 60) or (sign == "-" and total <= 12 * 60 + 59)
        ):
            if total == 0:
                sign = "+"
            return f"{sign}{hours:02d}:{minutes:02d}"
    raise _err(1298, "HY000", f"Unknown or incorrect time zone: '{raw}'")


#: sql_mode flags that change how statement text or a literal is read (quotes, ``||``,
#: ``NOT``, ``''``, REAL). The coordinator parses every statement itself and reads text
#: in MySQL's default way, and shard sessions never run with these flags (see
#: :func:`sharding.backend.mysql.backend_sql_mode`), so a session asking for them would
#: get answers that differ from MariaDB's: refused (1235) instead. The combination
#: modes (ANSI, ORACLE, POSTGRESQL, ...) imply some of them and are refused through them.
TEXT_MODES = frozenset(
    {
        "NO_BACKSLASH_ESCAPES",
        "ANSI_QUOTES",
        "PIPES_AS_CONCAT",
        "HIGH_NOT_PRECEDENCE",
        "EMPTY_STRING_IS_NULL",
        "REAL_AS_FLOAT",
    }
)


def sql_mode(value: Any, name: str = "sql_mode") -> str:
    """Expand and order sql_mode flags as MariaDB stores them."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value >= 1 << len(SQL_MODES):
            raise _wrong_value(name, value)
        flags = {m for i, m in enumerate(SQL_MODES) if value >> i & 1}
    elif isinstance(value, str):
        flags = set()
        for part in value.split(","):
            word = part.strip().upper()
            if not word:
                continue
            if word not in SQL_MODES:
                raise _wrong_value(name, value)
            flags.add(word)
    else:
        raise _wrong_value(name, value)
    for combo, adds in _SQL_MODE_COMBOS.items():
        if combo in flags:
            flags.update(adds)
    return ",".join(m for m in SQL_MODES if m in flags)


def coerce(var: Variable, value: Any, warnings: list[tuple[str, int, str]]) -> Any:
    """The value ``SET var = value`` stores, or the MariaDB error."""
    name = var.name
    kind = var.kind
    if kind == "bool":
        if value is None:
            raise _wrong_value(name, None)
        if isinstance(value, str):
            word = value.upper()
            if word in ("ON", "TRUE"):
                return 1
            if word in ("OFF", "FALSE"):
                return 0
            raise _wrong_value(name, value)
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            if value in (0, 1):
                return value
            raise _wrong_value(name, value)
        raise _wrong_type(name)
    if kind in ("uint", "double"):
        if value is None or isinstance(value, str | bytes):
            raise _wrong_type(name)
        if kind == "uint":
            if isinstance(value, float | Decimal) and value != int(value):
                raise _wrong_type(name)
            number: Any = int(value)
        else:
            number = float(value)
        low = var.low if var.low is not None else 0
        high = var.high if var.high is not None else _MAX_U64
        if number < low or number > high:
            warnings.append(
                ("Warning", 1292, f"Truncated incorrect {name} value: '{_text(value)}'")
            )
            number = type(number)(min(max(number, low), high))
        return number
    if kind == "set":
        if value is None:
            raise _wrong_value(name, None)
        mode = sql_mode(value, name)
        unread = [f for f in mode.split(",") if f in TEXT_MODES]
        if unread:
            raise _err(
                1235,
                "42000",
                f"This version of shardgate doesn't yet support 'sql_mode {','.join(unread)}' "
                "(the coordinator reads statement text and literals in MySQL's default way; "
                "with these flags it would answer differently from MariaDB)",
            )
        return mode
    if kind == "enum":
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value < len(var.choices):
                return var.choices[value]
            raise _wrong_value(name, value)
        if isinstance(value, str):
            word = value.upper()
            if name == "tx_isolation":
                word = word.replace(" ", "-")
            for choice in var.choices:
                if choice.upper() == word:
                    return choice
        raise _wrong_value(name, value)
    if kind == "charset":
        if value is None:
            if var.nullable:
                return None
            raise _wrong_value(name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            for coll, (cs, cid) in COLLATIONS.items():
                if cid == value and CHARSETS[cs][0] == coll:
                    return cs
            raise _err(1115, "42000", f"Unknown character set: '{value}'")
        return charset_name(_text(value))
    if kind == "collation":
        if value is None:
            raise _wrong_value(name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            value = {255: "utf8mb4_unicode_520_ci", 309: "utf8mb4_bin"}.get(value, value)
            for coll, (_cs, cid) in COLLATIONS.items():
                if cid == value or coll == value:
                    return coll
            raise _err(1273, "HY000", f"Unknown collation: '{value}'")
        return collation_name(_text(value))
    if kind == "tz":
        if value is None or not isinstance(value, str):
            raise _wrong_value(name, value)
        return time_zone(value)
    # str
    if value is None:
        raise _wrong_value(name, None)
    return _text(value)


def show_value(var_kind: str, value: Any) -> str:
    """A value as SHOW VARIABLES prints it (booleans ON/OFF, doubles with 6 decimals)."""
    if value is None:
        return ""
    if var_kind == "bool":
        return "ON" if value else "OFF"
    if var_kind == "double":
        return f"{float(value):.6f}"
    return str(value)


def _from_show(var: Variable, text: str | None) -> Any:
    """A SHOW GLOBAL VARIABLES value in the form ``SELECT @@name`` returns."""
    if text is None:
        return None
    if var.kind == "bool":
        return 1 if text.upper() in ("ON", "1", "YES", "TRUE") else 0
    if var.kind == "uint":
        try:
            return int(text)
        except ValueError:
            return var.default
    if var.kind == "double":
        try:
            return float(text)
        except ValueError:
            return var.default
    if var.kind == "charset" and text == "":
        return None
    return text


class GlobalVariables:
    """The global view of the system variables (one per coordinator)."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = {name: var.default for name, var in VARIABLES.items()}
        self.values["system_time_zone"] = time.strftime("%Z") or "UTC"
        #: Connect-time session values of the shard connections (restore target).
        self.shard_baseline: dict[str, Any] = {}
        if overrides:
            self.values.update(overrides)

    def load_show_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Overlay ``SHOW GLOBAL VARIABLES`` rows of a MySQL/MariaDB data source."""
        for row in rows:
            name = str(row[0]).lower()
            var = VARIABLES.get(name)
            if var is None or name in _IDENTITY:
                continue
            self.values[name] = _from_show(var, None if row[1] is None else str(row[1]))

    def get(self, name: str) -> Any:
        return self.values[name]


#: Variables whose non-default values the coordinator does not implement (and cannot
#: delegate to the shards), with the reason; SET to another value is refused (1235).
_DEFAULT_ONLY = {
    "auto_increment_increment": "the coordinator allocates AUTO_INCREMENT ids itself",
    "auto_increment_offset": "the coordinator allocates AUTO_INCREMENT ids itself",
    "sql_select_limit": "merged results are not cut by it",
    "completion_type": "COMMIT/ROLLBACK do not chain or release",
    "sql_auto_is_null": "the shards do not know the session's last insert id",
    "sql_log_bin": "binary logging is each data source's business",
    "sql_log_off": "logging is each data source's business",
    "binlog_format": "binary logging is each data source's business",
    # A quotient the coordinator computes — AVG or SUM(x) / COUNT(x) merged from several
    # shards, the types it announces, the embedded SQLite default's — keeps MariaDB's
    # default 4 digits more: another value would answer 22.7143 where MariaDB says
    # 22.71428571.
    "div_precision_increment": "the coordinator's merged quotients and averages use 4",
}

#: Variables describing shardgate itself, never copied from a data source.
_IDENTITY = frozenset(
    {"version", "version_comment", "hostname", "port", "socket", "thread_handling"}
)
#: The variables a SELECT @@... of the session computes instead of storing.
_COMPUTED = frozenset(
    {
        "autocommit",
        "last_insert_id",
        "identity",
        "warning_count",
        "error_count",
        "in_transaction",
        "pseudo_thread_id",
        "timestamp",
    }
)


@dataclass(slots=True)
class Assignment:
    """One item of a SET statement."""

    kind: str  # "system" | "user" | "names" | "charset" | "transaction"
    name: str = ""
    scope: str = ""  # "" | "SESSION" | "GLOBAL"
    value: exp.Expr | None = None
    collate: str | None = None
    characteristics: tuple[str, ...] = ()


def parse_set(tree: exp.Expr) -> list[Assignment]:
    """The assignments of a parsed ``SET`` (sqlglot's MySQL ``exp.Set``)."""
    if isinstance(tree, exp.Command):
        text = str(
            tree.expression.this if isinstance(tree.expression, exp.Expr) else tree.expression or ""
        )
        m = re.match(r"\s*(session|global|local)\s*\.", text, re.IGNORECASE)
        if m:  # ``SET session.x = 1``: MariaDB reads a structured (key cache) variable
            raise _err(
                4081,
                "HY000",
                f"Unknown structured system variable or ROW routine variable '{m.group(1)}'",
            )
        word = text.split(None, 1)[0].upper() if text.strip() else ""
        raise NotSupported(f"SET {word} is not supported by shardgate")
    if not isinstance(tree, exp.Set):
        raise NotSupported(f"{type(tree).__name__} where SET was expected")
    out: list[Assignment] = []
    for item in tree.expressions:
        if not isinstance(item, exp.SetItem):
            raise NotSupported(f"SET item {item.sql(dialect='mysql')}")
        kind = str(item.args.get("kind") or "").upper()
        if kind == "NAMES":
            cs = item.this
            collate = item.args.get("collate")
            out.append(
                Assignment("names", value=cs, collate=None if collate is None else _word(collate))
            )
            continue
        if kind == "CHARACTER SET":
            out.append(Assignment("charset", value=item.this))
            continue
        if kind == "TRANSACTION":
            chars = tuple(" ".join(_word(e).upper().split()) for e in item.expressions)
            scope = "GLOBAL" if item.args.get("global_") or item.args.get("global") else ""
            out.append(Assignment("transaction", scope=scope, characteristics=chars))
            continue
        eq = item.this
        if not isinstance(eq, exp.EQ | exp.PropertyEQ):
            raise NotSupported(f"SET item {item.sql(dialect='mysql')}")
        target, value = eq.this, eq.expression
        scope = (
            "GLOBAL" if kind == "GLOBAL" else ("SESSION" if kind in ("SESSION", "LOCAL") else "")
        )
        if kind == "PERSIST":
            raise NotSupported("SET PERSIST is not supported by shardgate")
        if isinstance(target, exp.Parameter):
            out.append(Assignment("user", name=_user_var_name(target), value=value))
            continue
        if isinstance(target, exp.SessionParameter):
            k = str(target.args.get("kind") or "").upper()
            if k == "GLOBAL":
                scope = "GLOBAL"
            elif k in ("SESSION", "LOCAL"):
                scope = "SESSION"
            out.append(Assignment("system", name=target.name, scope=scope, value=value))
            continue
        if isinstance(target, exp.Column) and not target.table:
            name = target.name
            if name.upper() in ("PASSWORD", "ROLE", "DEFAULT"):
                raise NotSupported(f"SET {name.upper()} is not supported by shardgate")
            out.append(Assignment("system", name=name, scope=scope, value=value))
            continue
        if isinstance(target, exp.Column) and target.table:
            # ``SET key_cache.x = 1``: MariaDB's structured variables (key caches),
            # which the coordinator has none of.
            if target.table.lower() in ("session", "global", "local"):
                raise _err(
                    4081,
                    "HY000",
                    f"Unknown structured system variable or ROW routine variable '{target.table}'",
                )
            raise NotSupported(f"structured system variable {target.sql(dialect='mysql')}")
        raise NotSupported(f"SET target {target.sql(dialect='mysql')}")
    return out


_BARE_TRANSACTION = re.compile(r"\s*SET\s+TRANSACTION\b", re.IGNORECASE)


#: Parsed SET texts whose values are all constants (``SET autocommit = 1``, ``SET NAMES
#: utf8mb4``): clients send the same few on every connection or transaction, and a
#: sqlglot parse is ~0.3 ms — most of a connection's set-up. Bounded: cleared when full.
_SET_MEMO: dict[str, tuple[Assignment, ...]] = {}
_SET_MEMO_SIZE = 256
#: Value nodes a memoised SET may hold: leaves that evaluate to themselves.
_CONSTANT_VALUES = (exp.Literal, exp.Boolean, exp.Null, exp.Var, exp.Identifier)


def _constant(value: exp.Expr | None) -> bool:
    if value is None or isinstance(value, _CONSTANT_VALUES):
        return True
    if isinstance(value, exp.Column):
        return not value.table and isinstance(value.this, exp.Identifier)
    return isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal)


def parse_set_text(sql: str) -> list[Assignment]:
    """Parse a SET statement's text (:func:`parse_set`); a text whose values are all
    constants is parsed once (``_SET_MEMO``), each caller getting its own copies.

    ``SET TRANSACTION`` without SESSION changes only the *next* transaction; the
    coordinator has no such one-shot state for its shard transactions, so it is refused
    rather than applied to the whole session (``SET SESSION TRANSACTION`` works)."""
    known = _SET_MEMO.get(sql)
    if known is None:
        parsed = _parse_set_text(sql)
        if all(_constant(a.value) for a in parsed):
            if len(_SET_MEMO) >= _SET_MEMO_SIZE:
                _SET_MEMO.clear()
            _SET_MEMO[sql] = tuple(_copy_assignment(a) for a in parsed)
        return parsed
    return [_copy_assignment(a) for a in known]


def _copy_assignment(a: Assignment) -> Assignment:
    return Assignment(
        a.kind,
        a.name,
        a.scope,
        a.value.copy() if a.value is not None else None,
        a.collate,
        a.characteristics,
    )


def _parse_set_text(sql: str) -> list[Assignment]:
    from sharding.sql.parse import parse_one

    if _BARE_TRANSACTION.match(sql):
        raise NotSupported(
            "SET TRANSACTION (next transaction only) on the sharding coordinator; "
            "use SET SESSION TRANSACTION"
        )
    tree = parse_one(sql)
    if isinstance(tree, exp.Command):
        # sqlglot gives up on some lists (a subquery before another assignment):
        # parse each top-level assignment on its own.
        body = re.sub(r"^\s*SET\s+", "", sql.strip().rstrip(";"), flags=re.IGNORECASE)
        parts = [p for p in split_top_level(body) if p]
        if len(parts) > 1:
            trees = [parse_one("SET " + part) for part in parts]
            if all(isinstance(t, exp.Set) for t in trees):
                return [a for t in trees for a in parse_set(t)]
    return parse_set(tree)


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside quotes and parentheses, each part stripped."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "'\"`":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" and c != "`" else 1
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    parts.append(text[start:].strip())
    return parts


def _word(node: Any) -> str:
    if isinstance(node, exp.Expr):
        if isinstance(node, exp.Literal | exp.Identifier | exp.Var):
            return str(node.this)
        if isinstance(node, exp.Column):
            return node.name
        return node.sql(dialect="mysql")
    return str(node)


def _user_var_name(node: exp.Expr) -> str:
    inner = node.this
    if isinstance(inner, exp.Expr):
        return str(inner.this).lower()
    return str(inner).lower()


def user_var_name(node: exp.Parameter) -> str:
    """The (case-insensitive) name of ``@v`` / ``@`v``` / ``@'v'``."""
    return _user_var_name(node)


Evaluator = Callable[[exp.Expr], Awaitable[Any]]


class SessionState:
    """One session's variables and session functions (see module docstring)."""

    def __init__(
        self,
        globals_: GlobalVariables,
        *,
        user: str = "root",
        host: str = "localhost",
        connection_id: int = 0,
        identity: Mapping[str, Any] | None = None,
    ) -> None:
        self.globals = globals_
        #: Session values that differ from, or were set over, the global view.
        self.session: dict[str, Any] = {}
        #: Per-connection identity values (the protocol server's version, packet size).
        self.identity: dict[str, Any] = dict(identity or {})
        self.user_vars: dict[str, Any] = {}
        self.user = user
        self.host = host
        self.connection_id = connection_id
        self.database: str | None = None
        self.autocommit = True
        self.in_transaction = False
        self.last_insert_id = 0
        self.row_count = -1
        self.found_rows = 0
        #: Warnings/notes the running statement raised (see ``warn``), and how many
        #: more it raised than ``max_error_count`` lets SHOW WARNINGS list.
        self._statement_notes: list[tuple[str, int, str]] = []
        self._statement_unlisted = 0
        #: A shard's warning text as the client sees it (the session sets the
        #: catalog's physical -> logical names: Catalog.logical_text).
        self.shard_text: Callable[[str], str] | None = None
        #: Warnings of the last statement counted by @@warning_count but not listed.
        self._unlisted = 0
        #: (level, code, message) of the last statement (SHOW WARNINGS, @@warning_count).
        self.diagnostics = []
        #: Client asked for CLIENT_FOUND_ROWS: affected rows are matched rows.
        self.client_found_rows = False
        #: Why a data source would not act on a variable at a value (the coordinator's
        #: ``unhonoured_setting``; None: every value is acted on): such a SET is refused.
        self.unhonoured: Callable[[str, Any], str | None] | None = None
        #: Changes whenever a shard-relevant variable changes (connections compare it).
        self.shard_version = 0
        self._shard_settings: dict[str, str] | None = None

    # -- diagnostics ---------------------------------------------------------------

    @property
    def diagnostics(self) -> list[tuple[str, int, str]]:
        return self._diagnostics

    @diagnostics.setter
    def diagnostics(self, value: list[tuple[str, int, str]]) -> None:
        # The session clears the area when a statement that uses tables ends; the
        # warnings that statement raised (``warn``) are what it leaves there. An error
        # replaces them.
        notes, self._statement_notes = self._statement_notes, []
        unlisted, self._statement_unlisted = self._statement_unlisted, 0
        if value or not (notes or unlisted):
            self._diagnostics, self._unlisted = value, 0
        else:
            self._diagnostics, self._unlisted = notes, unlisted

    @property
    def statement_warned(self) -> bool:
        """Whether the running statement has raised a warning or note so far."""
        return bool(self._statement_notes or self._statement_unlisted)

    @property
    def unlisted(self) -> int:
        """Warnings of the last statement beyond ``max_error_count`` (counted by
        @@warning_count and SHOW COUNT(*) WARNINGS, not listed by SHOW WARNINGS)."""
        return self._unlisted

    def assign_user_variables(self, values: Mapping[str, Any]) -> None:
        """``SELECT ... INTO @a, @b``: the row's values (names lower case, no ``@``)."""
        self.user_vars.update(values)

    def warn(self, level: str, code: int, message: str) -> None:
        """Record a warning/note of the running statement for ``SHOW WARNINGS``
        (DDL: a foreign key kept as metadata only, ``IF [NOT] EXISTS`` no-ops)."""
        if level == "Note" and not self.get("sql_notes"):
            return
        if len(self._statement_notes) >= int(self.get("max_error_count")):
            self._statement_unlisted += 1
            return
        self._statement_notes.append((level, code, message))

    def warn_counted(self, count: int, notes: Sequence[tuple[str, int, str]]) -> int:
        """Record ``count`` warnings of the running statement of which ``notes`` are
        the listed ones (a shard lists at most its ``max_error_count``): SHOW WARNINGS
        lists up to this session's ``max_error_count``, @@warning_count counts all.
        Returns how many were recorded (notes dropped by ``sql_notes = 0`` are not)."""
        if not self.get("sql_notes"):
            kept = [n for n in notes if n[0] != "Note"]
            count -= len(notes) - len(kept)
            notes = kept
        room = max(0, int(self.get("max_error_count")) - len(self._statement_notes))
        listed = list(notes[:room])
        rename = self.shard_text
        if rename is not None:
            listed = [(level, code, rename(text)) for level, code, text in listed]
        self._statement_notes.extend(listed)
        self._statement_unlisted += count - len(listed)
        return count

    # -- reading -------------------------------------------------------------------

    def get(self, name: str, scope: str = "") -> Any:
        """``@@[scope.]name``; the MariaDB errors for unknown names and wrong scopes."""
        var = lookup(name)
        key = var.name
        scope = scope.upper()
        if scope == "GLOBAL":
            if var.scope == SESSION_ONLY:
                raise _err(1238, "HY000", f"Variable '{name.lower()}' is a SESSION variable")
            if key in self.identity:
                return self.identity[key]
            return self.globals.values[key]
        if scope in ("SESSION", "LOCAL") and var.scope == GLOBAL_ONLY:
            raise _err(1238, "HY000", f"Variable '{name.lower()}' is a GLOBAL variable")
        if key in _COMPUTED:
            return self._computed(key)
        if key in self.session:
            return self.session[key]
        if key in self.identity:
            return self.identity[key]
        return self.globals.values[key]

    def session_value(self, key: str) -> Any:
        """The session value of variable ``key``, named exactly as in
        :data:`VARIABLES` and not computed (``character_set_client``, …): what
        :meth:`get` returns, without its name lookup and scope checks (read on every
        statement by the protocol server)."""
        session = self.session
        if key in session:
            return session[key]
        if key in self.identity:
            return self.identity[key]
        return self.globals.values[key]

    def _computed(self, key: str) -> Any:
        if key == "autocommit":
            return int(self.autocommit)
        if key in ("last_insert_id", "identity"):
            return self.last_insert_id
        if key == "warning_count":
            listed = sum(1 for d in self.diagnostics if d[0] in ("Warning", "Note", "Error"))
            return listed + self._unlisted
        if key == "error_count":
            return sum(1 for d in self.diagnostics if d[0] == "Error")
        if key == "in_transaction":
            return int(self.in_transaction)
        if key == "pseudo_thread_id":
            return self.connection_id
        if key == "timestamp":
            return round(time.time(), 6)
        raise AssertionError(key)  # pragma: no cover

    def user_var(self, name: str) -> Any:
        return self.user_vars.get(name.lower())

    def session_function(self, name: str) -> tuple[bool, Any]:
        """(True, value) for DATABASE(), USER(), ... without arguments."""
        fn = name.upper()
        if fn in ("DATABASE", "SCHEMA", "CURRENTSCHEMA", "CURRENT_SCHEMA"):
            return True, self.database
        if fn in (
            "USER",
            "SESSION_USER",
            "SESSIONUSER",
            "SYSTEM_USER",
            "CURRENT_USER",
            "CURRENTUSER",
        ):
            return True, f"{self.user}@{self.host}"
        if fn == "CONNECTION_ID":
            return True, self.connection_id
        if fn in ("VERSION", "CURRENTVERSION", "CURRENT_VERSION"):
            return True, self.get("version")
        if fn == "LAST_INSERT_ID":
            return True, self.last_insert_id
        if fn == "ROW_COUNT":
            return True, self.row_count
        if fn == "FOUND_ROWS":
            return True, self.found_rows
        return False, None

    def show_rows(self, scope: str = "") -> list[tuple[str, str]]:
        """(name, value) of every variable for SHOW [SESSION|GLOBAL] VARIABLES."""
        rows: list[tuple[str, str]] = []
        glob = scope.upper() == "GLOBAL"
        for name, var in sorted(VARIABLES.items()):
            if glob and var.scope == SESSION_ONLY:
                continue
            if not glob and name in ("warning_count", "error_count", "timestamp", "in_transaction"):
                continue
            value = self.get(name, "GLOBAL" if glob else "")
            rows.append((name, show_value(var.kind, value)))
        for alias, target in ALIASES.items():
            var = VARIABLES[target]
            rows.append((alias, show_value(var.kind, self.get(target, "GLOBAL" if glob else ""))))
        rows.sort()
        return rows

    # -- shard settings ----------------------------------------------------------------

    def shard_settings(self) -> dict[str, str]:
        """Shard-relevant session values that differ from the shard connections' own
        connect-time state, as ``name → SQL literal`` (empty: nothing to send)."""
        if self._shard_settings is None:
            out: dict[str, str] = {}
            baseline = self.globals.shard_baseline
            for name, var in VARIABLES.items():
                if not var.shard:
                    continue
                base = shard_value(name, baseline.get(name, self.globals.values[name]))
                value = shard_value(name, self.session.get(name, self.globals.values[name]))
                if value is not None and value != base:
                    out[name] = sql_literal(value)
            self._shard_settings = out
        return self._shard_settings

    def _changed(self, names: Iterable[str]) -> None:
        if any(VARIABLES[n].shard for n in names if n in VARIABLES):
            self.shard_version += 1
            self._shard_settings = None

    # -- SET ----------------------------------------------------------------------------

    async def apply_set(self, items: Sequence[Assignment], evaluate: Evaluator) -> dict[str, Any]:
        """Check every assignment, then apply all of them (MariaDB: all or nothing).

        Values are computed before any is stored (``SET @a = 1, @b = @a`` sees the old
        ``@a``, as MariaDB does). Returns the system variables set (name → value), so
        the session can act on ``autocommit``."""
        warnings: list[tuple[str, int, str]] = []
        system: dict[str, Any] = {}
        users: dict[str, Any] = {}
        for item in items:
            if item.kind == "user":
                assert item.value is not None
                users[item.name] = await self.evaluate(item.value, evaluate)
            elif item.kind == "system":
                var = self._settable(item.name, item.scope)
                assert item.value is not None
                raw = await self._set_value(item.value, evaluate)
                if isinstance(raw, Keyword) and raw.upper() == _DEFAULT:
                    value = self.identity.get(var.name, self.globals.values[var.name])
                else:
                    value = coerce(var, raw, warnings)
                self._check_honoured(var, value)
                system[var.name] = value
            elif item.kind == "names":
                self._names(item, system)
            elif item.kind == "charset":
                raw = _word(item.value)
                cs = (
                    self.globals.values["character_set_client"]
                    if raw.upper() == _DEFAULT
                    else charset_name(raw)
                )
                system["character_set_client"] = cs
                system["character_set_results"] = cs
                db_cs = self.get("character_set_database")
                system["character_set_connection"] = db_cs
                system["collation_connection"] = self.get("collation_database")
            elif item.kind == "transaction":
                if item.scope == "GLOBAL":
                    raise NotSupported(
                        "SET GLOBAL TRANSACTION on the sharding coordinator (set it on every data source)"
                    )
                self._transaction(item.characteristics, system)
        # Derived pairs: a character set implies its default collation and back.
        if "collation_connection" in system and "character_set_connection" not in system:
            system["character_set_connection"] = COLLATIONS[system["collation_connection"]][0]
        elif "character_set_connection" in system and "collation_connection" not in system:
            system["collation_connection"] = CHARSETS[system["character_set_connection"]][0]
        for name, value in system.items():
            if name in ("last_insert_id", "identity"):
                self.last_insert_id = int(value)
            elif name == "autocommit":
                self.autocommit = bool(value)
            else:
                self.session[name] = value
        self.user_vars.update(users)
        if warnings:  # a SET without messages leaves the last ones (MariaDB)
            self.diagnostics = warnings
        self._changed(system)
        return system

    def restore_variables(self, before: Mapping[str, Any], names: Iterable[str]) -> None:
        """Put the session variables ``names`` back as they were in ``before`` (a copy
        of :attr:`session` taken earlier; a name missing there takes its default again):
        the end of a ``SET STATEMENT … FOR`` (``sharding.session_set_statement``)."""
        names = list(names)
        for name in names:
            if name in before:
                self.session[name] = before[name]
            else:
                self.session.pop(name, None)
        self._changed(names)

    def _check_honoured(self, var: Variable, value: Any) -> None:
        """Refuse a value the coordinator would store but not act on (a wrong answer
        later): only the global value of these is accepted."""
        if var.name in _DEFAULT_ONLY and value != self.globals.values[var.name]:
            raise NotSupported(
                f"SET {var.name} = {_text(value)} on the sharding coordinator: "
                f"{_DEFAULT_ONLY[var.name]}; only the default "
                f"({_text(self.globals.values[var.name])}) is accepted"
            )
        if self.unhonoured is not None and value != self.globals.values[var.name]:
            reason = self.unhonoured(var.name, value)
            if reason is not None:
                raise NotSupported(
                    f"SET {var.name} = {_text(value)}: {reason}; only the default "
                    f"({_text(self.globals.values[var.name])}) is accepted"
                )

    def _settable(self, name: str, scope: str) -> Variable:
        var = lookup(name)
        if scope == "GLOBAL":
            if var.read_only:
                raise _err(1238, "HY000", f"Variable '{var.name}' is a read only variable")
            if var.scope == SESSION_ONLY:
                raise _err(
                    1228,
                    "HY000",
                    f"Variable '{var.name}' is a SESSION variable and can't be used with SET GLOBAL",
                )
            raise NotSupported(
                f"SET GLOBAL {var.name} on the sharding coordinator (set it on every data source)"
            )
        if var.read_only:
            raise _err(1238, "HY000", f"Variable '{var.name}' is a read only variable")
        if var.scope == GLOBAL_ONLY:
            raise _err(
                1229,
                "HY000",
                f"Variable '{var.name}' is a GLOBAL variable and should be set with SET GLOBAL",
            )
        if var.name in ("insert_id", "pseudo_thread_id"):
            raise NotSupported(f"SET {var.name} on the sharding coordinator")
        if var.name in ("max_allowed_packet", "net_buffer_length"):
            raise _err(
                1621,
                "HY000",
                f"SESSION variable '{var.name}' is read-only. Use SET GLOBAL to assign the value",
            )
        return var

    def _names(self, item: Assignment, system: dict[str, Any]) -> None:
        raw = _word(item.value)
        if raw.upper() == _DEFAULT:
            cs = self.globals.values["character_set_client"]
        else:
            cs = charset_name(raw)
        if item.collate is not None:
            coll = collation_name(item.collate)
            if COLLATIONS[coll][0] != cs:
                raise _err(
                    1253,
                    "42000",
                    f"COLLATION '{item.collate}' is not valid for CHARACTER SET '{raw}'",
                )
        else:
            coll = CHARSETS[cs][0]
        for k in ("character_set_client", "character_set_connection", "character_set_results"):
            system[k] = cs
        system["collation_connection"] = coll

    def _transaction(self, chars: Sequence[str], system: dict[str, Any]) -> None:
        for c in chars:
            if c.startswith("ISOLATION LEVEL "):
                level = c.removeprefix("ISOLATION LEVEL ").replace(" ", "-")
                if level not in _ISOLATIONS:
                    raise _wrong_value("tx_isolation", level)
                system["tx_isolation"] = level
            elif c in ("READ ONLY", "READ WRITE"):
                system["tx_read_only"] = int(c == "READ ONLY")
            else:
                raise NotSupported(f"SET TRANSACTION {c}")

    async def _set_value(self, node: exp.Expr, evaluate: Evaluator) -> Any:
        """A SET right-hand side: bare words stay words (``ON``, ``DEFAULT``)."""
        if isinstance(node, exp.Var):
            return Keyword(str(node.this))
        if isinstance(node, exp.Column) and not node.table and not node.this.args.get("quoted"):
            return Keyword(node.name)
        if isinstance(node, exp.Boolean):
            return 1 if node.this else 0
        return await self.evaluate(node, evaluate)

    async def evaluate(self, node: exp.Expr, evaluate: Evaluator) -> Any:
        """A value expression: simple forms here, anything else through ``evaluate``
        (the session runs it as ``SELECT <expr>``)."""
        ok, value = self.simple_value(node)
        if ok:
            return value
        return await evaluate(node)

    def simple_value(self, node: exp.Expr) -> tuple[bool, Any]:
        if isinstance(node, exp.Literal):
            text = str(node.this)
            if node.is_string:
                return True, text
            return True, _number(text)
        if isinstance(node, exp.Null):
            return True, None
        if isinstance(node, exp.Boolean):
            return True, 1 if node.this else 0
        if isinstance(node, exp.Paren):
            return self.simple_value(node.this)
        if isinstance(node, exp.Neg):
            ok, v = self.simple_value(node.this)
            if ok and isinstance(v, int | Decimal | float):
                return True, -v
            return False, None
        if isinstance(node, exp.SessionParameter):
            return True, self.get(node.name, str(node.args.get("kind") or ""))
        if isinstance(node, exp.Parameter):
            return True, self.user_var(_user_var_name(node))
        if isinstance(node, exp.Concat):
            # CONCAT of simple values (``CONCAT(@@sql_mode, ',X')``, a connector idiom).
            parts = []
            for arg in node.expressions:
                ok, v = self.simple_value(arg)
                if not ok:
                    return False, None
                if v is None:
                    return True, None
                parts.append(_text(v) if not isinstance(v, Decimal | int) else str(v))
            return True, "".join(parts)
        return False, None


#: sql_mode flags no shard gets: NO_AUTO_CREATE_USER concerns GRANT only (and MySQL 8
#: rejects it); the parse-changing flags are dropped by the backend (issue 12: the
#: coordinator reads and renders SQL text MySQL's default way).
_NOT_ON_SHARDS = frozenset({"NO_AUTO_CREATE_USER"})


def shard_value(name: str, value: Any) -> Any:
    """The value a shard connection gets for a session value; None: not applicable
    (the shard keeps its connect-time value)."""
    if name == "sql_mode" and isinstance(value, str):
        from sharding.backend.mysql import backend_sql_mode

        kept = ",".join(f for f in value.split(",") if f and f not in _NOT_ON_SHARDS)
        return backend_sql_mode(kept)
    if name == "collation_connection" and isinstance(value, str):
        # Shard connections speak utf8mb4 (the coordinator decodes their results as
        # such): another character set's collation cannot go there.
        cs = COLLATIONS.get(value, ("", 0))[0]
        return value if cs == "utf8mb4" else None
    return value


def _number(text: str) -> Any:
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if "e" in text.lower():
        return float(text)
    try:
        return Decimal(text)
    except InvalidOperation:
        return float(text)


def sql_literal(value: Any) -> str:
    """A value as a MySQL literal for a SET sent to a shard."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = _text(value).replace("\\", "\\\\").replace("'", "''")
    return f"'{text}'"


def value_node(value: Any) -> exp.Expr:
    """A session value as a literal node to substitute into a statement."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, int | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, float):
        return exp.Literal.number(repr(value))
    if isinstance(value, bytes):
        return exp.Literal.string(value.decode("utf-8", "replace"))
    return exp.Literal.string(str(value))


@dataclass(slots=True)
class Substituted:
    """What :func:`substitute` did to a statement."""

    tree: exp.Expr
    changed: bool = False
    #: ``LAST_INSERT_ID(expr)`` seen (its argument is left for the shard to evaluate).
    last_insert_id_expr: bool = False


def substitute(tree: exp.Expr, state: SessionState) -> Substituted:
    """Replace ``@@var``, ``@v`` and session functions by their values (before routing:
    ``WHERE id = @v`` then routes like ``WHERE id = 5``)."""
    out = Substituted(tree)
    for node in tree.find_all(exp.PropertyEQ):
        if isinstance(node.this, exp.Parameter):
            raise NotSupported(
                "assignment to a user variable inside a statement (@v := ...) on the sharding "
                "coordinator; use SET @v := (SELECT ...)"
            )
    if isinstance(tree, exp.Select | exp.Union):
        for fn in tree.find_all(exp.Anonymous):
            if fn.name.upper() == "LAST_INSERT_ID" and fn.expressions:
                # ``SELECT LAST_INSERT_ID(expr)`` sets the session's value: a constant is
                # applied here; anything else would set some shard connection's instead.
                ok, value = (
                    state.simple_value(fn.expressions[0])
                    if len(fn.expressions) == 1
                    else (False, None)
                )
                if not ok or not isinstance(value, int | Decimal) or isinstance(value, bool):
                    raise NotSupported(
                        "LAST_INSERT_ID(expr) in a SELECT with a non-constant argument on the "
                        "sharding coordinator"
                    )
                # MariaDB's value: rounded half away from zero, as unsigned 64 bits. The
                # call stays in the statement: the shard answers the same value, with
                # MariaDB's type (BIGINT UNSIGNED) and name.
                state.last_insert_id = int(Decimal(value).to_integral_value(ROUND_HALF_UP)) % (
                    1 << 64
                )

    def repl(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.SessionParameter):
            out.changed = True
            return _keep_meta(
                node, value_node(state.get(node.name, str(node.args.get("kind") or "")))
            )
        if isinstance(node, exp.Parameter):
            out.changed = True
            return _keep_meta(node, value_node(state.user_var(_user_var_name(node))))
        if isinstance(node, exp.Func):
            name = node.name.upper() if isinstance(node, exp.Anonymous) else node.sql_name().upper()
            if isinstance(node, exp.Anonymous) and node.expressions:
                if name == "LAST_INSERT_ID":
                    out.last_insert_id_expr = True
                return node
            if isinstance(node, exp.CurrentUser | exp.SessionUser):
                name = "USER"
            elif isinstance(node, exp.CurrentSchema):
                name = "DATABASE"
            elif isinstance(node, exp.CurrentVersion):
                name = "VERSION"
            ok, value = state.session_function(name)
            if ok:
                out.changed = True
                return _keep_meta(node, value_node(value))
        return node

    out.tree = tree.transform(repl, copy=True)
    return out


def _keep_meta(old: exp.Expr, new: exp.Expr) -> exp.Expr:
    """Position metadata of the replaced node (result column names come from the
    statement's text, found through these positions)."""
    starts: list[int] = []
    ends: list[int] = []
    for n in old.walk():
        meta = n.meta if n.meta else None
        if meta and "start" in meta and "end" in meta:
            starts.append(int(meta["start"]))
            ends.append(int(meta["end"]))
    if starts:
        new.meta["start"] = min(starts)
        new.meta["end"] = max(ends)
    return new


def has_session_refs(sql: str) -> bool:
    """Could ``sql`` mention a variable or a session function outside its string
    literals? (Statements that cannot skip the plan cache and the INSERT fast path.)"""
    if "@" not in sql and _SESSION_FUNCS.search(sql) is None:
        return False
    bare = _STRINGS.sub("''", sql)
    return "@" in bare or _SESSION_FUNCS.search(bare) is not None


_SESSION_FUNCS = re.compile(
    r"\b(?:DATABASE|SCHEMA|VERSION|CONNECTION_ID|USER|CURRENT_USER|SESSION_USER|SYSTEM_USER|"
    r"LAST_INSERT_ID|ROW_COUNT|FOUND_ROWS)\s*\(|\bCURRENT_USER\b",
    re.IGNORECASE,
)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"", re.S)
