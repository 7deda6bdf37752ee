"""Session-level statements the server answers itself, without the coordinator.

Connectors send a burst of these on connect (``SELECT @@version_comment``,
``SELECT @@max_allowed_packet, @@system_time_zone, …``, ``SHOW VARIABLES LIKE …``,
``SET NAMES``, ``SET character_set_results = NULL``, ``SHOW COLLATION``). They are pure
session state: answering them here keeps them out of the executor's buckets (a
saturated pool must not make new connections time out, seed 002) and spares the
coordinator from parsing them.

Recognition is deliberately narrow: a SELECT is answered here only when *every* item
is a system/user variable, one of a few session functions (``DATABASE()``,
``CONNECTION_ID()``, …) or a literal, and there is no FROM. Anything else goes to the
session unchanged. ``SET autocommit`` is session state of the coordinator, so its
assignment is forwarded (as ``SET autocommit=0|1``); every other SET is stored here.

Invariant: functions here never raise anything but ``ShardgateError``; a statement they
do not understand returns None ("not mine"), never a guess.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from sharding.api import Column, Result
from sharding.errors import BadArguments, NotSupported, UnknownSystemVariable
from sharding.server.constants import FieldType

__all__ = [
    "LocalContext",
    "SessionVariables",
    "SetOutcome",
    "like_to_regex",
    "local_select",
    "local_set",
    "local_show",
]


def default_variables(
    *, server_version: str, max_allowed_packet: int, wait_timeout: int, port: int
) -> dict[str, Any]:
    """System variables and their defaults (names lower-case)."""
    tz = time.strftime("%Z") or "UTC"
    return {
        "version": server_version,
        "version_comment": "shardgate",
        "version_compile_os": "Linux",
        "version_compile_machine": "x86_64",
        "protocol_version": 10,
        "license": "Apache-2.0",
        "hostname": "shardgate",
        "port": port,
        "socket": "",
        "max_allowed_packet": max_allowed_packet,
        "net_buffer_length": 16384,
        "net_read_timeout": 30,
        "net_write_timeout": 60,
        "wait_timeout": wait_timeout,
        "interactive_timeout": wait_timeout,
        "connect_timeout": 10,
        "character_set_client": "utf8mb4",
        "character_set_connection": "utf8mb4",
        "character_set_results": "utf8mb4",
        "character_set_server": "utf8mb4",
        "character_set_database": "utf8mb4",
        "character_set_system": "utf8mb3",
        "character_set_filesystem": "binary",
        "collation_connection": "utf8mb4_general_ci",
        "collation_server": "utf8mb4_general_ci",
        "collation_database": "utf8mb4_general_ci",
        "init_connect": "",
        "tx_isolation": "REPEATABLE-READ",
        "transaction_isolation": "REPEATABLE-READ",
        "tx_read_only": 0,
        "transaction_read_only": 0,
        "time_zone": "SYSTEM",
        "system_time_zone": tz,
        "sql_mode": "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION",
        "auto_increment_increment": 1,
        "auto_increment_offset": 1,
        "lower_case_table_names": 0,
        "query_cache_size": 0,
        "query_cache_type": "OFF",
        "have_query_cache": "NO",
        "performance_schema": 0,
        "sql_select_limit": 18446744073709551615,
        "max_execution_time": 0,
        "max_statement_time": 0,
        "lc_messages": "en_US",
        "default_storage_engine": "InnoDB",
        "storage_engine": "InnoDB",
        "sql_auto_is_null": 0,
        "foreign_key_checks": 1,
        "unique_checks": 1,
        "sql_safe_updates": 0,
        "group_concat_max_len": 1024,
        "div_precision_increment": 4,
        "sql_notes": 1,
        "sql_warnings": 0,
        "sql_quote_show_create": 1,
        "big_tables": 0,
        "session_track_schema": "ON",
        "session_track_system_variables": "",
        "session_track_state_change": "OFF",
        "session_track_transaction_info": "OFF",
        "thread_handling": "pool-of-threads",
        "default_week_format": 0,
        "lc_time_names": "en_US",
        "explicit_defaults_for_timestamp": 1,
        "innodb_lock_wait_timeout": 50,
        "lock_wait_timeout": 31536000,
    }


@dataclass
class SessionVariables:
    """System variables (session scope) and user variables of one connection."""

    system: dict[str, Any]
    user: dict[str, Any] = field(default_factory=dict)


class LocalContext(Protocol):
    """What the local answers read from the connection."""

    connection_id: int
    user: str
    host: str
    variables: SessionVariables
    last_insert_id: int
    #: (level, code, message) rows for SHOW WARNINGS / SHOW ERRORS.
    diagnostics: list[tuple[str, int, str]]

    @property
    def database(self) -> str | None: ...

    @property
    def autocommit(self) -> bool: ...


# -- small lexical helpers -------------------------------------------------------------

_STR = r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\""
_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"
_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a"}


def _unquote(lit: str) -> str:
    q = lit[0]
    body = lit[1:-1].replace(q + q, q)
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body, flags=re.S)


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside quotes and parentheses."""
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
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def like_to_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE pattern (``%``, ``_``, backslash escape) → case-insensitive regex."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.I | re.S)


def _literal(text: str) -> tuple[bool, Any]:
    """(True, value) when ``text`` is a literal MySQL would accept as a value."""
    t = text.strip()
    if re.fullmatch(_STR, t, re.S):
        return True, _unquote(t)
    if re.fullmatch(r"[-+]?\d+", t):
        return True, int(t)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+", t):
        return True, Decimal(t) if "e" not in t.lower() else float(t)
    u = t.upper()
    if u == "NULL":
        return True, None
    if u == "TRUE":
        return True, 1
    if u == "FALSE":
        return True, 0
    return False, None


# -- SELECT ----------------------------------------------------------------------------

_LOCAL_SELECT = re.compile(
    r"\s*SELECT\s+(?P<items>.+?)(?:\s+LIMIT\s+\d+(?:\s*,\s*\d+)?)?\s*;?\s*\Z", re.I | re.S
)
_FROM = re.compile(r"\bFROM\b", re.I)
_SYSVAR = re.compile(rf"@@(?:(?P<scope>global|session|local)\.)?(?P<name>{_IDENT})\Z", re.I)
_USERVAR = re.compile(rf"@(?P<name>{_IDENT}|`[^`]+`|{_STR})\Z", re.I | re.S)
_FUNC = re.compile(
    r"(?P<fn>DATABASE|SCHEMA|USER|CURRENT_USER|SESSION_USER|SYSTEM_USER|CONNECTION_ID|"
    r"VERSION|LAST_INSERT_ID)\s*\(\s*\)\Z|(?P<bare>CURRENT_USER)\Z",
    re.I,
)
_ALIAS = re.compile(
    rf"(?P<expr>.+?)\s+(?:(?P<as>AS)\s+)?(?P<alias>{_IDENT}|`[^`]+`|{_STR})\Z", re.I | re.S
)
_NOT_ALIAS = frozenset(
    {
        "FROM",
        "WHERE",
        "GROUP",
        "ORDER",
        "LIMIT",
        "UNION",
        "HAVING",
        "INTO",
        "FOR",
        "LOCK",
        "WINDOW",
        "AND",
        "OR",
        "NOT",
        "IS",
        "LIKE",
        "IN",
        "DIV",
        "MOD",
        "XOR",
    }
)


def system_variable(ctx: LocalContext, name: str) -> Any:
    key = name.lower()
    if key == "autocommit":
        return int(ctx.autocommit)
    if key in ("last_insert_id", "identity"):
        return ctx.last_insert_id
    if key == "warning_count":
        return sum(1 for d in ctx.diagnostics if d[0] == "Warning")
    if key == "error_count":
        return sum(1 for d in ctx.diagnostics if d[0] == "Error")
    if key == "pseudo_thread_id":
        return ctx.connection_id
    if key in ctx.variables.system:
        return ctx.variables.system[key]
    raise UnknownSystemVariable(f"Unknown system variable '{name}'")


def _eval_item(ctx: LocalContext, expr: str) -> tuple[bool, Any]:
    m = _SYSVAR.match(expr)
    if m:
        return True, system_variable(ctx, m.group("name"))
    m = _USERVAR.match(expr)
    if m:
        name = m.group("name")
        if name[0] in "`'\"":
            name = name[1:-1]
        return True, ctx.variables.user.get(name.lower())
    m = _FUNC.match(expr)
    if m:
        fn = (m.group("fn") or m.group("bare")).upper()
        if fn in ("DATABASE", "SCHEMA"):
            return True, ctx.database
        if fn in ("USER", "SESSION_USER", "SYSTEM_USER"):
            return True, f"{ctx.user}@{ctx.host}"
        if fn == "CURRENT_USER":
            return True, f"{ctx.user}@%"
        if fn == "CONNECTION_ID":
            return True, ctx.connection_id
        if fn == "VERSION":
            return True, ctx.variables.system["version"]
        if fn == "LAST_INSERT_ID":
            return True, ctx.last_insert_id
    return _literal(expr)


def local_select(ctx: LocalContext, sql: str) -> Result | None:
    """Answer a FROM-less SELECT of variables/session functions/literals, else None."""
    if len(sql) > 4096 or _FROM.search(sql):
        return None  # the common case, rejected without splitting the select list
    m = _LOCAL_SELECT.match(sql)
    if not m:
        return None
    columns: list[Column] = []
    row: list[Any] = []
    for item in _split_top_level(m.group("items")):
        if not item:
            return None
        expr, name = item, item
        ok, value = _eval_item(ctx, expr)
        if ok and item[0] in "'\"":
            name = value  # MySQL names a string literal's column by its value
        if not ok:
            am = _ALIAS.match(item)
            if not am or (not am.group("as") and am.group("alias").upper() in _NOT_ALIAS):
                return None
            expr = am.group("expr").strip()
            alias = am.group("alias")
            name = _unquote(alias) if alias[0] in "'\"" else alias.strip("`")
            ok, value = _eval_item(ctx, expr)
            if not ok:
                return None
        columns.append(Column(name))
        row.append(value)
    return Result(columns=columns, rows=[tuple(row)])


# -- SET ---------------------------------------------------------------------------------


@dataclass(slots=True)
class SetOutcome:
    """What a SET did: statements the coordinator must still run (``SET autocommit``)."""

    forward: list[str] = field(default_factory=list)


_NAMES = re.compile(
    rf"NAMES\s+(?P<cs>{_IDENT}|{_STR})(?:\s+COLLATE\s+(?P<coll>{_IDENT}|{_STR}))?\Z", re.I | re.S
)
_CHARSET = re.compile(rf"(?:CHARACTER\s+SET|CHARSET)\s+(?P<cs>{_IDENT}|{_STR})\Z", re.I | re.S)
_SET_TX = re.compile(
    r"\s*SET\s+(?:(?:GLOBAL|SESSION|LOCAL)\s+)?TRANSACTION\s+(?P<rest>.+?)\s*;?\s*\Z", re.I | re.S
)
_SET_BODY = re.compile(r"\s*SET\s+(?P<body>.+?)\s*;?\s*\Z", re.I | re.S)
_ASSIGN = re.compile(
    rf"(?:(?P<scope>GLOBAL|SESSION|LOCAL|PERSIST)\s+)?"
    rf"(?P<target>@@(?:(?:global|session|local)\.)?{_IDENT}|@(?:{_IDENT}|`[^`]+`|{_STR})|{_IDENT}(?:\.{_IDENT})?)"
    rf"\s*(?::=|=)\s*(?P<value>.+)\Z",
    re.I | re.S,
)
_CONCAT = re.compile(r"CONCAT\s*\((?P<args>.*)\)\Z", re.I | re.S)
_BOOL_VALUES = {"ON": 1, "TRUE": 1, "1": 1, "OFF": 0, "FALSE": 0, "0": 0}


def _set_value(ctx: LocalContext, text: str) -> tuple[bool, Any]:
    ok, value = _literal(text)
    if ok:
        return ok, value
    t = text.strip()
    if re.fullmatch(_IDENT, t):
        return True, t  # ON, OFF, DEFAULT, utf8mb4, …: keywords stored as written
    m = _SYSVAR.match(t) or None
    if m:
        return True, system_variable(ctx, m.group("name"))
    m = _CONCAT.match(t)
    if m:
        parts = []
        for arg in _split_top_level(m.group("args")):
            ok, v = _set_value(ctx, arg)
            if not ok:
                return False, None
            if v is None:
                return True, None
            parts.append(str(v))
        return True, "".join(parts)
    return False, None


def _name_value(raw: str, system: dict[str, Any]) -> str:
    value = _unquote(raw) if raw[0] in "'\"" else raw
    if value.upper() == "DEFAULT":
        return str(system["character_set_server"])
    return value.lower()


def local_set(ctx: LocalContext, sql: str) -> SetOutcome | None:
    """Apply a SET statement to the session variables; None when it is not local."""
    system = ctx.variables.system
    m = _SET_TX.match(sql)
    if m:
        rest = " ".join(m.group("rest").upper().split())
        for part in _split_top_level(rest):
            lm = re.fullmatch(
                r"ISOLATION LEVEL (READ UNCOMMITTED|READ COMMITTED|REPEATABLE READ|SERIALIZABLE)",
                part,
            )
            if lm:
                system["tx_isolation"] = system["transaction_isolation"] = lm.group(1).replace(
                    " ", "-"
                )
            elif part in ("READ ONLY", "READ WRITE"):
                system["tx_read_only"] = system["transaction_read_only"] = int(part == "READ ONLY")
            else:
                raise BadArguments(f"unsupported SET TRANSACTION clause: {part}")
        return SetOutcome()
    m = _SET_BODY.match(sql)
    if not m:
        return None
    body = m.group("body")
    if re.match(r"PASSWORD\b|ROLE\b|DEFAULT\s+ROLE\b|STATEMENT\b", body, re.I):
        raise NotSupported(f"SET {body.split()[0].upper()} is not supported by shardgate")
    pending_system: dict[str, Any] = {}
    pending_user: dict[str, Any] = {}
    outcome = SetOutcome()
    for assignment in _split_top_level(body):
        nm = _NAMES.match(assignment)
        if nm:
            cs = _name_value(nm.group("cs"), system)
            for k in ("character_set_client", "character_set_connection", "character_set_results"):
                pending_system[k] = cs
            if nm.group("coll"):
                pending_system["collation_connection"] = _name_value(nm.group("coll"), system)
            continue
        cm = _CHARSET.match(assignment)
        if cm:
            cs = _name_value(cm.group("cs"), system)
            pending_system["character_set_client"] = pending_system["character_set_results"] = cs
            pending_system["character_set_connection"] = system["character_set_database"]
            continue
        am = _ASSIGN.match(assignment)
        if not am:
            return None
        target = am.group("target")
        ok, value = _set_value(ctx, am.group("value"))
        if not ok:
            return None  # an expression: not session state we can evaluate
        if target.startswith("@") and not target.startswith("@@"):
            name = target[1:]
            if name[0] in "`'\"":
                name = name[1:-1]
            pending_user[name.lower()] = value
            continue
        name = target.lstrip("@").split(".")[-1].lower()
        if name == "autocommit":
            flag = _BOOL_VALUES.get(str(value).upper()) if value is not None else None
            if str(value).upper() == "DEFAULT":
                flag = 1
            if flag is None:
                raise BadArguments(f"Variable 'autocommit' can't be set to the value of '{value}'")
            outcome.forward.append(f"SET autocommit={flag}")
            continue
        if isinstance(value, str) and value.upper() == "DEFAULT":
            continue  # back to the default: nothing stored
        pending_system[name] = value
        if name in ("tx_isolation", "transaction_isolation"):
            pending_system["tx_isolation"] = pending_system["transaction_isolation"] = value
    system.update(pending_system)
    ctx.variables.user.update(pending_user)
    return outcome


# -- SHOW ----------------------------------------------------------------------------------

_COLLATIONS: list[tuple[str, str, int, str, str, int]] = [
    ("utf8mb4_general_ci", "utf8mb4", 45, "Yes", "Yes", 1),
    ("utf8mb4_bin", "utf8mb4", 46, "", "Yes", 1),
    ("utf8mb4_unicode_ci", "utf8mb4", 224, "", "Yes", 8),
    ("utf8mb4_0900_ai_ci", "utf8mb4", 255, "", "Yes", 0),
    ("utf8mb3_general_ci", "utf8mb3", 33, "Yes", "Yes", 1),
    ("utf8mb3_bin", "utf8mb3", 83, "", "Yes", 1),
    ("latin1_swedish_ci", "latin1", 8, "Yes", "Yes", 1),
    ("latin1_bin", "latin1", 47, "", "Yes", 1),
    ("ascii_general_ci", "ascii", 11, "Yes", "Yes", 1),
    ("binary", "binary", 63, "Yes", "Yes", 1),
]
_CHARSETS: list[tuple[str, str, str, int]] = [
    ("utf8mb4", "UTF-8 Unicode", "utf8mb4_general_ci", 4),
    ("utf8mb3", "UTF-8 Unicode", "utf8mb3_general_ci", 3),
    ("latin1", "cp1252 West European", "latin1_swedish_ci", 1),
    ("ascii", "US ASCII", "ascii_general_ci", 1),
    ("binary", "Binary pseudo charset", "binary", 1),
]

_SHOW_FILTER = re.compile(
    rf"(?:\s+LIKE\s+(?P<like>{_STR})|\s+WHERE\s+(?P<where>.+?))?\s*;?\s*\Z", re.I | re.S
)


_CONDITION = re.compile(
    rf"\s*`?(?P<col>{_IDENT})`?\s*(?:(?P<op>=|LIKE)\s*(?P<lit>{_STR})|IN\s*\((?P<list>[^)]*)\))\s*",
    re.I | re.S,
)


def _where(where: str, names: Sequence[str]) -> Callable[[Sequence[Any]], bool] | None:
    """A predicate for ``col = 'x'`` / ``col LIKE 'p'`` / ``col IN (...)`` joined by
    one kind of AND/OR; None for anything else (the statement is then not local)."""
    parts = re.split(r"\s+(AND|OR)\s+", where.strip(), flags=re.I)
    conds = parts[::2]
    joins = {j.upper() for j in parts[1::2]}
    if len(joins) > 1:
        return None
    index = {n.lower(): i for i, n in enumerate(names)}
    tests: list[Callable[[Sequence[Any]], bool]] = []
    for cond in conds:
        m = _CONDITION.fullmatch(cond)
        if not m or m.group("col").lower() not in index:
            return None
        i = index[m.group("col").lower()]
        if m.group("list") is not None:
            items = _split_top_level(m.group("list"))
            if not all(re.fullmatch(_STR, it, re.S) for it in items):
                return None
            tests.append(_in_test(i, {_unquote(it).lower() for it in items}))
        elif m.group("op").upper() == "LIKE":
            tests.append(_like_test(i, like_to_regex(_unquote(m.group("lit")))))
        else:
            tests.append(_in_test(i, {_unquote(m.group("lit")).lower()}))
    if joins == {"AND"}:
        return lambda r: all(t(r) for t in tests)
    return lambda r: any(t(r) for t in tests)


def _in_test(i: int, wanted: set[str]) -> Callable[[Sequence[Any]], bool]:
    return lambda r: str(r[i]).lower() in wanted


def _like_test(i: int, rx: re.Pattern[str]) -> Callable[[Sequence[Any]], bool]:
    return lambda r: rx.match(str(r[i])) is not None


def _filter(
    rows: Iterable[Sequence[Any]], tail: str, names: Sequence[str]
) -> list[tuple[Any, ...]] | None:
    """Apply ``LIKE 'p'`` (to the first column) or a simple WHERE to rows."""
    m = _SHOW_FILTER.match(tail)
    if not m:
        return None
    if m.group("like"):
        rx = like_to_regex(_unquote(m.group("like")))
        return [tuple(r) for r in rows if rx.match(str(r[0]))]
    if m.group("where"):
        pred = _where(m.group("where"), names)
        if pred is None:
            return None
        return [tuple(r) for r in rows if pred(r)]
    return [tuple(r) for r in rows]


_SHOW = re.compile(
    r"\s*SHOW\s+(?:(?P<scope>GLOBAL|SESSION|LOCAL)\s+)?(?P<what>VARIABLES|STATUS|WARNINGS|ERRORS|"
    r"COLLATION|CHARACTER\s+SET|CHARSET|ENGINES|COUNT\s*\(\s*\*\s*\)\s+(?:WARNINGS|ERRORS))"
    r"(?P<tail>.*)\Z",
    re.I | re.S,
)


def local_show(ctx: LocalContext, sql: str, status: dict[str, Any] | None = None) -> Result | None:
    """SHOW VARIABLES/STATUS/WARNINGS/ERRORS/COLLATION/CHARSET/ENGINES; None otherwise."""
    m = _SHOW.match(sql)
    if not m:
        return None
    what = " ".join(m.group("what").upper().split())
    tail = m.group("tail")
    if what == "VARIABLES":
        values = dict(ctx.variables.system)
        values["autocommit"] = "ON" if ctx.autocommit else "OFF"
        values["last_insert_id"] = ctx.last_insert_id
        names = ["Variable_name", "Value"]
        rows = _filter(((k, _show_value(v)) for k, v in sorted(values.items())), tail, names)
        return None if rows is None else _table(names, rows)
    if what == "STATUS":
        names = ["Variable_name", "Value"]
        rows = _filter(
            ((k, _show_value(v)) for k, v in sorted((status or {}).items())), tail, names
        )
        return None if rows is None else _table(names, rows)
    if what in ("WARNINGS", "ERRORS"):
        diags = (
            ctx.diagnostics
            if what == "WARNINGS"
            else [d for d in ctx.diagnostics if d[0] == "Error"]
        )
        if not re.fullmatch(r"(?:\s+LIMIT\s+\d+(?:\s*,\s*\d+)?)?\s*;?\s*", tail, re.I):
            return None
        return _table(
            ["Level", "Code", "Message"],
            diags,
            types=[FieldType.VAR_STRING, FieldType.LONG, FieldType.VAR_STRING],
        )
    if what.startswith("COUNT"):
        kind = what.split()[-1]
        n = (
            len(ctx.diagnostics)
            if kind == "WARNINGS"
            else sum(1 for d in ctx.diagnostics if d[0] == "Error")
        )
        return _table([f"@@session.{kind.lower()[:-1]}_count"], [(n,)])
    if what == "COLLATION":
        names = ["Collation", "Charset", "Id", "Default", "Compiled", "Sortlen"]
        rows = _filter(_COLLATIONS, tail, names)
        return (
            None
            if rows is None
            else _table(
                names,
                rows,
                types=[
                    FieldType.VAR_STRING,
                    FieldType.VAR_STRING,
                    FieldType.LONGLONG,
                    FieldType.VAR_STRING,
                    FieldType.VAR_STRING,
                    FieldType.LONGLONG,
                ],
            )
        )
    if what in ("CHARACTER SET", "CHARSET"):
        names = ["Charset", "Description", "Default collation", "Maxlen"]
        rows = _filter(_CHARSETS, tail, names)
        return (
            None
            if rows is None
            else _table(
                names,
                rows,
                types=[
                    FieldType.VAR_STRING,
                    FieldType.VAR_STRING,
                    FieldType.VAR_STRING,
                    FieldType.LONGLONG,
                ],
            )
        )
    if what == "ENGINES":
        return _table(
            ["Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"],
            [
                (
                    "InnoDB",
                    "DEFAULT",
                    "shardgate: tables live on the shards' servers",
                    "YES",
                    "YES",
                    "YES",
                )
            ],
        )
    return None


def _show_value(v: Any) -> str:
    return "" if v is None else str(v)


def _table(
    names: Sequence[str], rows: Iterable[Sequence[Any]], types: Sequence[int] | None = None
) -> Result:
    cols = [Column(n, None if types is None else types[i]) for i, n in enumerate(names)]
    return Result(columns=cols, rows=[tuple(r) for r in rows])
