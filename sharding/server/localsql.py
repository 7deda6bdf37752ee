"""Session statements for connections whose session keeps no state of its own.

Session state has one owner, :class:`sharding.session_state.SessionState`; the
coordinator's sessions hold one and answer ``SELECT @@...``, ``SET`` and ``SHOW
VARIABLES`` themselves (``Session.answer_locally``). This module is what is left for
the protocol server: a connection on the admin port (no session at all) or in front of
a session that does not offer ``answer_locally`` (a test fake, another embedding) still
has to answer the connect-time burst of connectors (``SELECT @@version_comment``, ``SET
NAMES``, ``SHOW VARIABLES``). It does so with the *same* state class and the same
answer functions (:mod:`sharding.session_answers`), held by the connection — never a
second variable table.

Invariant: functions here never raise anything but ``ShardgateError``; a statement they
do not understand returns None ("not mine"), never a guess.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlglot import exp

from sharding.api import (
    GlobalVariables,
    Result,
    SessionState,
    answer_select,
    answer_show,
    like_to_regex,
    parse_set_text,
)
from sharding.errors import ParseError, ShardgateError, UnknownSystemVariable

__all__ = [
    "LocalContext",
    "SessionVariables",
    "SetOutcome",
    "UnknownSystemVariable",
    "default_variables",
    "like_to_regex",
    "local_select",
    "local_set",
    "local_show",
]


def default_variables(
    *, server_version: str, max_allowed_packet: int, wait_timeout: int, port: int
) -> dict[str, Any]:
    """The values the protocol server fixes for its connections (its identity and
    limits); every other variable has MariaDB's default (:mod:`sharding.session_state`)."""
    return {
        "version": server_version,
        "version_comment": "shardgate",
        "max_allowed_packet": max_allowed_packet,
        "wait_timeout": wait_timeout,
        "interactive_timeout": wait_timeout,
        "port": port,
    }


class _SystemView(MutableMapping[str, Any]):
    """``variables.system[name]``: the session value of a system variable."""

    def __init__(self, state: SessionState) -> None:
        self._state = state

    def __getitem__(self, key: str) -> Any:
        try:
            return self._state.get(key)
        except ShardgateError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._state.session[key] = value

    def __delitem__(self, key: str) -> None:
        self._state.session.pop(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(name for name, _ in self._state.show_rows())

    def __len__(self) -> int:
        return len(self._state.show_rows())


@dataclass
class SessionVariables:
    """A connection-held :class:`SessionState` (see module docstring)."""

    identity: Mapping[str, Any]
    state: SessionState = field(init=False)

    def __post_init__(self) -> None:
        self.state = SessionState(GlobalVariables(), identity=self.identity)

    @property
    def system(self) -> _SystemView:
        return _SystemView(self.state)

    @property
    def user(self) -> dict[str, Any]:
        return self.state.user_vars


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


def _sync(ctx: LocalContext) -> SessionState:
    state = ctx.variables.state
    state.user = ctx.user
    state.host = ctx.host
    state.connection_id = ctx.connection_id
    state.database = ctx.database
    state.autocommit = ctx.autocommit
    state.last_insert_id = ctx.last_insert_id or 0
    state.diagnostics = ctx.diagnostics
    return state


def local_select(ctx: LocalContext, sql: str) -> Result | None:
    """Answer a FROM-less SELECT of variables/session functions/literals, else None."""
    return answer_select(_sync(ctx), sql)


def local_show(ctx: LocalContext, sql: str, status: dict[str, Any] | None = None) -> Result | None:
    """SHOW VARIABLES/STATUS/WARNINGS/ERRORS/COLLATION/CHARSET/ENGINES; None otherwise."""
    return answer_show(_sync(ctx), sql, status)


@dataclass(slots=True)
class SetOutcome:
    """What a SET did: statements the session must still run (``SET autocommit``)."""

    forward: list[str] = field(default_factory=list)


class _NotLocal(Exception):
    """A SET value that needs a query (``SET @v := (SELECT ...)``)."""


async def _no_query(node: exp.Expr) -> Any:
    raise _NotLocal


def local_set(ctx: LocalContext, sql: str) -> SetOutcome | None:
    """Apply a SET to the connection's state; None when a value needs a query.

    ``autocommit`` belongs to the session (it opens and ends transactions): its new
    value is forwarded as ``SET autocommit=0|1`` instead of being stored here."""
    state = _sync(ctx)
    try:
        items = parse_set_text(sql)
    except ParseError:
        return None
    was = state.autocommit
    # apply_set awaits only the query callback, which refuses here: drive it by hand.
    coro = state.apply_set(items, _no_query)
    try:
        coro.send(None)
    except StopIteration as stop:
        applied: dict[str, Any] = stop.value
    except _NotLocal:
        return None
    else:  # pragma: no cover - apply_set never suspends with this callback
        coro.close()
        return None
    ctx.diagnostics = state.diagnostics
    outcome = SetOutcome()
    if "autocommit" in applied:
        state.autocommit = was
        outcome.forward.append(f"SET autocommit={int(bool(applied['autocommit']))}")
    return outcome
