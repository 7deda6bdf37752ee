"""A session's view of the data sources: every connection it borrows carries its settings.

Session variables that change how a shard evaluates a statement (``sql_mode``,
``time_zone``, ``collation_connection``, isolation, ...) must hold on every shard
connection the session's statements use, and must not leak to the next borrower of a
pooled connection (ProxySQL calls this multiplexing with session tracking). The
session hands the coordinator's executor this view instead of the raw data sources:

* a data source that tracks settings (``accepts_settings``) is
  borrowed with the session's ``name → SQL literal`` map; the backend compares it with
  what the pooled connection has applied and sends one ``SET SESSION`` only when they
  differ — and a borrow without settings (another session, the catalog) restores the
  connect-time values the same way, so a connection never carries a session's
  settings past its borrow;
* a session whose values equal the connect-time ones (the common case) gets the raw
  data sources: nothing to compare, nothing to send;
* SQLite shards take the same map but use only ``innodb_lock_wait_timeout`` (their
  lock wait, ``PRAGMA busy_timeout``); their SQL semantics are the coordinator's
  emulation, so the other variables mean nothing there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sharding.backend.base import Connection, DataSource
from sharding.session_state import SessionState


class _Configured:
    """A data source borrowed with fixed settings (other attributes pass through)."""

    def __init__(self, ds: DataSource, settings: Mapping[str, str]) -> None:
        self._ds = ds
        self.settings = settings

    def connection(self, databases: Sequence[str] = ()) -> AbstractAsyncContextManager[Connection]:
        return self._ds.connection(databases, settings=self.settings)  # type: ignore[call-arg]

    def transaction(self, databases: Sequence[str] = ()) -> AbstractAsyncContextManager[Connection]:
        return self._ds.transaction(databases, settings=self.settings)  # type: ignore[call-arg]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ds, name)


class SessionSources(Mapping[str, Any]):
    """``datasources[name]`` as the session must use it (see module docstring)."""

    def __init__(self, datasources: Mapping[str, DataSource], state: SessionState) -> None:
        self._raw = datasources
        self._state = state
        self._version = -1
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        state = self._state
        if self._version != state.shard_version:
            self._cache = {}
            self._version = state.shard_version
        got = self._cache.get(name)
        if got is not None:
            return got
        ds = self._raw[name]
        settings = state.shard_settings()
        view: Any = ds
        if settings and getattr(ds, "accepts_settings", False):
            view = _Configured(ds, dict(settings))
        self._cache[name] = view
        return view

    def settings_for(self, name: str) -> Mapping[str, str] | None:
        """The settings a connection of data source ``name`` must have now (None: its
        connect-time values); for a connection held across statements (a transaction)."""
        view = self[name]
        return view.settings if isinstance(view, _Configured) else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)
