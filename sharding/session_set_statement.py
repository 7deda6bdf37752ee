"""MariaDB's ``SET STATEMENT var = value [, …] FOR statement``.

The variables take their values for the one statement after ``FOR`` and are back at
their session values afterwards, whatever the statement's outcome (an error, a KILL):
``SET STATEMENT max_statement_time = 5 FOR SELECT …`` is how MariaDB applications
bound one query. The session runs the inner statement as if it had been sent alone —
its kind, result, ``ROW_COUNT()``, warnings and statement log are the inner statement's
— with the values applied through the session state, its one owner (shard connections
see them as any session setting: ``sharding.exec.shard_settings``).

MariaDB's rules, measured on 10.11: only system variables, named without a scope
(``@a = 1`` and ``SESSION x = 1`` are 1064); a variable it refuses there is 1971
("cannot be set in SET STATEMENT"); an unknown one 1193. ``SET STATEMENT`` may wrap
another: only the innermost one's values apply — the outer ones' names are only
checked to exist (1193), as MariaDB's parser keeps the last list it read.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from sharding.errors import ShardgateError
from sharding.session_state import lookup, parse_set_text
from sharding.sql.lexer import TOKEN, first_keyword
from sharding.sql.parse import mysql_syntax_error

if TYPE_CHECKING:
    from sharding.session_state import SessionState

__all__ = ["SetStatement", "set_statement_parts", "statement_kind"]

_SET_STATEMENT = re.compile(r"\s*SET\s+STATEMENT\s", re.IGNORECASE)

#: Variables MariaDB 10.11 does not take in SET STATEMENT (measured: each one tried on
#: 10.11): 1971.
_NOT_PER_STATEMENT = frozenset(
    {
        "autocommit",
        "character_set_client",
        "character_set_connection",
        "character_set_filesystem",
        "collation_connection",
        "interactive_timeout",
        "profiling",
        "profiling_history_size",
        "query_cache_type",
        "skip_replication",
        "sql_log_off",
        "tx_isolation",
        "transaction_isolation",  # tx_isolation's MySQL 8 name, which the coordinator knows
        "wait_timeout",
    }
)


def set_statement_parts(sql: str) -> tuple[int, int, str] | None:
    """``(start, end, inner)`` of a ``SET STATEMENT … FOR …`` text — its assignments
    are ``sql[start:end]``, ``inner`` the statement after ``FOR`` — or None for any
    other text (a plain SET included). The ``FOR`` is the first one outside strings,
    quoted names, comments and parentheses; a text without one is MariaDB's 1064."""
    m = _SET_STATEMENT.match(sql)
    if m is None:
        return None
    depth = 0
    for token in TOKEN.finditer(sql, m.end()):
        text = token.group()
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif depth == 0 and token.lastgroup == "ident" and text.upper() == "FOR":
            return m.end(), token.start(), sql[token.end() :]
    raise mysql_syntax_error(sql, len(sql))


def statement_kind(sql: str) -> str:
    """The first word of the statement a (nested) ``SET STATEMENT … FOR`` runs; ``SET``
    for any other SET text and for one without a ``FOR`` (its 1064 comes when it runs)."""
    while True:
        try:
            parts = set_statement_parts(sql)
        except ShardgateError:
            return "SET"
        if parts is None:
            return first_keyword(sql)
        sql = parts[2]


class SetStatement:
    """The values of one ``SET STATEMENT``, applied to a session's state until
    :meth:`restore`."""

    def __init__(self, state: SessionState) -> None:
        self._state = state
        self._before: dict[str, Any] = {}
        self._last_insert_id = 0
        self._names: list[str] = []

    async def apply(
        self,
        sql: str,
        start: int,
        end: int,
        evaluate: Callable[[exp.Expr], Awaitable[Any]],
        *,
        outer: bool = False,
    ) -> None:
        """Check and apply the assignments ``sql[start:end]`` (:func:`set_statement_parts`);
        ``outer``: a SET STATEMENT that wraps another, whose names are only checked."""
        items = parse_set_text("SET " + sql[start:end])
        for item in items:
            if item.kind != "system" or item.scope:
                raise mysql_syntax_error(sql, start)
            if outer:
                lookup(item.name)  # 1193 for an unknown name
                continue
            if item.name.lower() in _NOT_PER_STATEMENT:
                raise ShardgateError(
                    f"The system variable {item.name.lower()} cannot be set in SET STATEMENT.",
                    code=1971,
                    sqlstate="HY000",
                )
        if outer:
            return
        self._before = dict(self._state.session)
        self._last_insert_id = self._state.last_insert_id  # kept apart from the others
        applied = await self._state.apply_set(items, evaluate)
        self._names = list(applied)

    def restore(self) -> None:
        """The variables back at their values before :meth:`apply` (idempotent)."""
        if self._names:
            names, self._names = self._names, []
            if "last_insert_id" in names or "identity" in names:
                self._state.last_insert_id = self._last_insert_id
            self._state.restore_variables(self._before, names)
