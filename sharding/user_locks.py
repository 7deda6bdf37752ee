"""MariaDB's user-level locks for a coordinator session: ``GET_LOCK``, ``RELEASE_LOCK``,
``RELEASE_ALL_LOCKS``, ``IS_FREE_LOCK``, ``IS_USED_LOCK``.

A lock belongs to the server connection that took it. Evaluated like any FROM-less
SELECT — on a pooled shard connection, given back after the statement — ``GET_LOCK``
left its lock on a connection that other sessions borrow next: a second session's
``GET_LOCK`` on that connection answered 1 (a nested lock of the same connection) while
the first still "held" it, and a ``RELEASE_LOCK`` landing on another connection released
nothing. Migration tools (Rails, Flyway) and applications take these locks for mutual
exclusion; losing it is a wrong answer of the worst kind.

So a session runs its lock statements on one connection of the default data source
that it keeps while it holds a lock — as it keeps a transaction's connections — and
the locks are that server's, shared with every coordinator and client of it, as on an
unsharded MariaDB. The session counts what it holds (``GET_LOCK`` answered 1: one more
of that name; ``RELEASE_LOCK`` answered 1: one less; ``RELEASE_ALL_LOCKS()``: none);
when it holds none the connection goes back to the pool, after a ``RELEASE_ALL_LOCKS()``
on it, so no pooled connection ever carries a lock. Closing the session (the client
left) gives the connection back the same way: its locks are released, as MariaDB
releases a closed connection's.

Which statements: a FROM-less ``SELECT`` (or ``DO``) whose items are these functions
with constant arguments (literals, ``?`` parameters, user variables), or expressions
that take no lock (``IS_USED_LOCK('a') IS NOT NULL``). ``GET_LOCK``/``RELEASE_LOCK``
anywhere else (``IF(GET_LOCK(...), …)``, ``… FROM t``) is a clear 1235: what it took
could not be counted. On the embedded SQLite default they are 1235.

Not through the executor's buckets: a lock statement waits on the server for another
holder (``GET_LOCK('x', 10)``), on its own connection, like a transaction statement.
Cancellation (KILL QUERY, a client gone) at that wait discards the connection — its
locks go with it, as MariaDB releases a killed connection's — never a dirty one back to
the pool.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from sharding.api import Result
from sharding.backend.base import Column, Connection
from sharding.errors import BackendError, NotSupported
from sharding.sql.materialize import literal_node
from sharding.sql.parse import parse_one

if TYPE_CHECKING:
    from sharding.session import CoordinatorSession

__all__ = ["TAKING_LOCK", "USER_LOCK", "UserLocks", "mentions_lock", "user_lock_statement"]

#: A call of one of the functions, anywhere in a statement's text (a cheap first test;
#: the statement's tree decides).
USER_LOCK = re.compile(
    r"\b(?:GET_LOCK|RELEASE_LOCK|RELEASE_ALL_LOCKS|IS_FREE_LOCK|IS_USED_LOCK)\s*\(",
    re.IGNORECASE,
)
#: A call that takes or gives back a lock: only :func:`user_lock_statement` runs one
#: (in a SET, INSERT, UPDATE …, 1235: it would run on a pooled connection).
TAKING_LOCK = re.compile(r"\b(?:GET_LOCK|RELEASE_LOCK|RELEASE_ALL_LOCKS)\s*\(", re.IGNORECASE)
_FUNCTIONS = {"GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS", "IS_FREE_LOCK", "IS_USED_LOCK"}
#: The ones that take or give back a lock (the others only look).
_TAKING = {"GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS"}


def mentions_lock(sql: str) -> bool:
    """A lock function may be in ``sql``: the regular expression runs only then (it
    scans at ~20 MB/s, a lower-cased copy's ``in`` at ~1 GB/s: a 1.5 MB INSERT pays
    1.4 ms instead of 80)."""
    return "lock" in sql.lower() and USER_LOCK.search(sql) is not None


class UserLocks:
    """The session's lock connection and what it holds (module docstring)."""

    def __init__(self, session: CoordinatorSession) -> None:
        self.session = session
        #: Lock name (lower case, as MariaDB compares them) -> times taken.
        self.held: Counter[str] = Counter()
        self._stack: AsyncExitStack | None = None
        self._conn: Connection | None = None

    async def _connection(self) -> Connection:
        if self._conn is None:
            coord = self.session.coord
            ds = coord.datasources[coord.default_datasource]
            stack = AsyncExitStack()
            self._conn = await stack.enter_async_context(ds.connection(()))
            self._stack = stack
        return self._conn

    async def run(self, sql: str, items: Sequence[tuple[str, str | None]]) -> Result:
        """Run ``sql`` (the statement as the lock connection takes it) and count what
        its ``items`` — (function, lock name) per select item, "" for a constant — did."""
        conn = await self._connection()
        try:
            rs = await conn.fetch(sql)
        except BackendError:
            raise  # the server's error: the connection and its locks stay as they were
        except BaseException:
            # Cancelled or lost mid-statement: the connection is not reused (its locks
            # go with it, as with a killed MariaDB connection).
            await self._discard()
            raise
        row = rs.rows[0] if rs.rows else ()
        for (function, name), value in zip(items, row, strict=False):
            if function == "GET_LOCK" and value == 1 and name is not None:
                self.held[name] += 1
            elif function == "RELEASE_LOCK" and value == 1 and name is not None:
                self.held[name] -= 1
                if self.held[name] <= 0:
                    del self.held[name]
            elif function == "RELEASE_ALL_LOCKS":
                self.held.clear()
        if not self.held:
            await self.release()
        return Result(columns=list(rs.columns or []), rows=[tuple(r) for r in rs.rows])

    async def release(self) -> None:
        """Give the connection back to the pool without any lock on it."""
        conn, stack = self._conn, self._stack
        if conn is None or stack is None:
            return
        self.held.clear()
        try:
            await conn.fetch("SELECT RELEASE_ALL_LOCKS()")
        except BaseException:
            await self._discard()
            raise
        self._conn = self._stack = None
        await stack.aclose()

    async def _discard(self) -> None:
        stack, self._conn, self._stack = self._stack, None, None
        self.held.clear()
        if stack is not None:
            await stack.__aexit__(RuntimeError, RuntimeError("lock connection discarded"), None)


def _lock_items(tree: exp.Expr) -> list[tuple[str, str | None]] | None:
    """(function, lock name) per select item of a FROM-less SELECT of lock calls and
    constants; None when the statement uses them otherwise (1235)."""
    if not isinstance(tree, exp.Select) or any(
        tree.args.get(k) for k in ("from_", "from", "joins", "where", "group", "having")
    ):
        return None
    items: list[tuple[str, str | None]] = []
    for item in tree.expressions:
        node = item.this if isinstance(item, exp.Alias) else item
        if isinstance(node, exp.Anonymous) and node.name.upper() in _FUNCTIONS:
            args = node.expressions
            if not all(isinstance(a, exp.Literal | exp.Null | exp.Neg) for a in args):
                return None
            name = args[0].name.lower() if args and isinstance(args[0], exp.Literal) else None
            items.append((node.name.upper(), name))
        elif any(isinstance(n, exp.Anonymous) and n.name.upper() in _TAKING for n in node.walk()):
            return None  # what it took could not be counted
        else:
            items.append(("", None))
    return items


async def user_lock_statement(
    session: CoordinatorSession, kind: str, sql: str, params: Sequence[Any] | None
) -> Result:
    """A ``SELECT``/``DO`` of user-level lock functions (module docstring)."""
    coord = session.coord
    ds_name = coord.default_datasource
    if coord.datasources[ds_name].dialect != "mysql":
        raise NotSupported("user-level locks (GET_LOCK, ...) on the embedded SQLite default")
    text = sql
    if kind == "DO":
        text = re.sub(r"^\s*DO\b", "SELECT", sql, count=1, flags=re.IGNORECASE)
    tree = parse_one(text)
    values = list(params or ())
    for node in list(tree.find_all(exp.Placeholder)):
        if not values:
            raise NotSupported("a lock statement with fewer parameters than placeholders")
        node.replace(literal_node(values.pop(0), "mysql"))
    tree = session._substitute(tree)  # user variables and session functions: values
    items = _lock_items(tree)
    if items is None:
        raise NotSupported(
            "GET_LOCK/RELEASE_LOCK/IS_FREE_LOCK/IS_USED_LOCK other than as items of a "
            "FROM-less SELECT with constant arguments"
        )
    if session._user_locks is None:
        session._user_locks = UserLocks(session)
    result = await session._user_locks.run(tree.sql(dialect="mysql"), items)
    if kind == "DO":
        return Result()
    # The names MariaDB gives the items (the statement's own text, not the rendering).
    from sharding.session_answers import select_item_texts

    texts = select_item_texts(sql) or []
    columns: list[Column] = []
    for i, col in enumerate(result.columns or []):
        item = tree.expressions[i] if i < len(tree.expressions) else None
        if isinstance(item, exp.Alias):
            name = item.alias
        else:
            name = texts[i].strip() if i < len(texts) else col.name
        columns.append(Column(name, col.type_code, col.wire))
    return Result(columns=columns, rows=result.rows)
