"""The shard-aware coordinator: the public entry point of :mod:`sharding`.

::

    from sharding import Coordinator, Topology
    async with Coordinator(Topology.load("cluster.toml")) as coord:
        res = await coord.execute("SELECT COUNT(*) FROM t WHERE id IN (?, ?)", [1, 2])
        async for rows in coord.stream("SELECT * FROM t ORDER BY id"): ...
        async with coord.stream("SELECT * FROM t") as rs: rs.columns; ...  # header first
        print(await coord.explain("SELECT * FROM t ORDER BY id LIMIT 10"))
        session = coord.open_session(database="db")   # USE, BEGIN/COMMIT, autocommit

The coordinator owns a :class:`~executor.BucketedExecutor` built from the topology's
``[executor]`` table, opens every data source, loads the catalog from the backend, and
keeps a plan cache. It is stateless apart from caches: several coordinators may serve
the same data sources (the catalog lives in the backend).

``execute``/``stream``/``explain`` on the coordinator run in a fresh, autocommit
session with the cluster's default database each call — safe from many tasks at once.
Session state (``USE``, transactions, ``autocommit``) needs :meth:`open_session`.

All data sources of one coordinator must share a SQL dialect: merge semantics (order,
collation, AVG type, division) are the backend's, and one statement cannot merge two
sets of rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import structlog
import trio

from executor import BucketedExecutor
from sharding.api import Result, ResultStream
from sharding.backend.base import DataSource
from sharding.catalog import Catalog, TableInfo, introspect
from sharding.errors import ShardgateError
from sharding.exec.connector import AutocommitConnector, SessionTransaction
from sharding.exec.explain import render
from sharding.exec.xa import RECOVERY_PERIOD, start_recovery, use_catalog
from sharding.logging_setup import StatementLog
from sharding.merge.semantics import Semantics, for_dialect
from sharding.session import CoordinatorSession
from sharding.session_state import VARIABLES, GlobalVariables, SessionState, sql_literal
from sharding.sql.plan_cache import PlanCache
from sharding.topology import Topology, TopologyError, build_datasource

log = structlog.get_logger("sharding")

VERSION = "8.0.35-shardgate-0.1"


class Coordinator:
    """See module docstring. Use as ``async with Coordinator(topology) as coord``."""

    def __init__(
        self,
        topology: Topology,
        *,
        datasources: Mapping[str, DataSource] | None = None,
        commit_strategy: str = "auto",
        catalog_refresh: float | None = 2.0,
        xa_recovery: float | None = RECOVERY_PERIOD,
    ) -> None:
        self.topology = topology
        self._given_datasources = dict(datasources) if datasources else None
        self.commit_strategy = commit_strategy
        self.catalog_refresh = catalog_refresh
        self.xa_recovery = xa_recovery
        self.version = VERSION
        self.plan_cache = PlanCache(topology.cluster.plan_cache_size)
        self.datasources: dict[str, DataSource] = {}
        self._stack: AsyncExitStack | None = None
        self._txn_databases: tuple[int, dict[str, list[str]]] = (-1, {})
        self._nursery: trio.Nursery | None = None
        self.executor: BucketedExecutor
        self.catalog: Catalog
        self.semantics: Semantics
        self.autocommit: AutocommitConnector
        #: The global view of the system variables (sharding.session_state).
        self.globals = GlobalVariables({"version": VERSION})
        #: Slow-query log and DEBUG statement lines (the CLI sets it from [server]).
        self.statement_log = StatementLog()
        #: The smallest ``max_allowed_packet`` of the MySQL data sources (None: no
        #: MySQL source); the protocol server advertises no more.
        self.max_allowed_packet: int | None = None

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Coordinator:
        stack = AsyncExitStack()
        try:
            self.executor = await stack.enter_async_context(
                BucketedExecutor(self.topology.executor)
            )
            for cfg in self.topology.datasources:
                ds = (self._given_datasources or {}).get(cfg.name) or build_datasource(cfg)
                await ds.open()
                stack.push_async_callback(ds.aclose)
                self.datasources[cfg.name] = ds
            dialects = {ds.dialect for ds in self.datasources.values()}
            if len(dialects) != 1:
                raise TopologyError(
                    f"all data sources must share one dialect, got {sorted(dialects)}"
                )
            self.semantics = for_dialect(dialects.pop())
            self.autocommit = AutocommitConnector(self.datasources)
            await self._load_variables()
            first = self.datasources[self.topology.datasources[0].name]
            self.catalog = Catalog(first, self.topology)
            use_catalog(first, self.topology.cluster.catalog)  # the XA log lives there too
            await self.catalog.open()
            await self._register_declared()
            self._nursery = await stack.enter_async_context(trio.open_nursery())
            if self.catalog_refresh:
                self._nursery.start_soon(self._refresh_catalog, self.catalog_refresh)
            # XA transactions a crashed coordinator left prepared: resolve them now
            # (and periodically); a no-op without MySQL data sources.
            await start_recovery(self, self.xa_recovery)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
            self._nursery = None
        assert stack is not None
        return await stack.__aexit__(exc_type, exc, tb)

    async def _load_variables(self) -> None:
        """A MySQL fleet's own variables: the globals of the first data source (so
        ``@@time_zone``, ``@@max_allowed_packet``, ... answer what the servers use), and
        the connect-time session values of the variables sessions carry to the shards
        (what a pooled connection goes back to; see sharding.exec.shard_settings)."""
        first = self.datasources[self.topology.datasources[0].name]
        if first.dialect != "mysql":
            return
        # A client may send what the smallest server accepts, no more (a bigger
        # statement would pass the coordinator and fail on one shard).
        sizes = []
        for ds in self.datasources.values():
            rs = await ds.fetch("SELECT @@GLOBAL.max_allowed_packet")
            if rs.rows and rs.rows[0][0] is not None:
                sizes.append(int(rs.rows[0][0]))
        self.max_allowed_packet = min(sizes) if sizes else None
        names = sorted(VARIABLES)
        quoted = ", ".join(f"'{n}'" for n in names)
        rs = await first.fetch(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({quoted})")
        self.globals.load_show_rows(rs.rows)
        shard = [n for n, v in VARIABLES.items() if v.shard]
        rs = await first.fetch("SELECT " + ", ".join(f"@@SESSION.{n}" for n in shard))
        if rs.rows:
            baseline = dict(zip(shard, rs.rows[0], strict=True))
            self.globals.shard_baseline = {
                n: (int(v) if VARIABLES[n].kind in ("bool", "uint") and v is not None else v)
                for n, v in baseline.items()
            }
            literals = {n: sql_literal(v) for n, v in self.globals.shard_baseline.items()}
            for ds in self.datasources.values():
                if getattr(ds, "accepts_settings", False):
                    ds.settings_baseline = dict(literals)  # type: ignore[attr-defined]

    async def _refresh_catalog(self, period: float) -> None:
        """Pick up other coordinators' DDL (plan caches follow the generation)."""
        while True:
            await trio.sleep(period)
            try:
                await self.catalog.reload()
            except ShardgateError as exc:
                log.warning("catalog refresh failed", error=str(exc))

    async def _register_declared(self) -> None:
        """Tables declared in the TOML that already exist physically join the catalog."""
        catalog = self.catalog
        for declared in self.topology.tables:
            if not catalog.has_database(declared.database):
                await catalog.add_database(declared.database, if_not_exists=True)
            existing = catalog.get(declared.database, declared.name)
            if existing is not None:
                stored, wanted = existing.rule.as_dict(), declared.rule.as_dict()
                if stored != wanted:
                    diff = "; ".join(
                        f"{k}: catalog {stored.get(k)!r}, topology {wanted.get(k)!r}"
                        for k in sorted(set(stored) | set(wanted))
                        if stored.get(k) != wanted.get(k)
                    )
                    raise TopologyError(
                        f"table {declared.qualified}: the rule in the topology differs from the "
                        f"stored catalog ({self.topology.cluster.catalog}): {diff}"
                    )
                continue
            probe = TableInfo(declared.database, declared.name, declared.rule)
            _, ds_name, db, table = probe.placements()[0]
            columns = await introspect(self.datasources[ds_name], db, table)
            if columns is None:
                continue  # created later by CREATE TABLE (with the declared rule)
            info = TableInfo(
                declared.database,
                declared.name,
                declared.rule,
                tuple(columns),
                primary_key=declared.primary_key,
                declared=True,
                create_sql=f"CREATE TABLE {declared.name} (pre-existing)",
            )
            await catalog.add_table(info)

    # ------------------------------------------------------------------ API
    def open_session(
        self, *, user: str = "root", database: str | None = None
    ) -> CoordinatorSession:
        """A session (``sharding.api.Session``); ``database`` defaults to the cluster's."""
        self._check_open()
        return CoordinatorSession(
            self, user=user, database=database or self.topology.cluster.database
        )

    def _ephemeral(self) -> CoordinatorSession:
        self._check_open()
        return CoordinatorSession(self, database=self.topology.cluster.database, ephemeral=True)

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """Run one statement in a fresh autocommit session (see module docstring)."""
        return await self._ephemeral().execute(sql, params)

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> ResultStream:
        """Row batches of a SELECT with bounded memory: ``async for batch in
        coord.stream(sql)``, or ``async with`` for the columns first
        (:class:`sharding.api.ResultStream`)."""
        return self._ephemeral().stream(sql, params)

    async def explain(self, sql: str) -> str:
        """The plan as text: shards, per-shard SQL, merge tree."""
        session = self._ephemeral()
        rows = await session.explain_rows(sql)
        return render([(r[0], r[1], r[2]) for r in rows])

    # ------------------------------------------------------------------ helpers
    def _check_open(self) -> None:
        if self._stack is None:
            raise ShardgateError("the coordinator is not open (use `async with Coordinator(...)`)")

    def unhonoured_setting(self, name: str, value: Any) -> str | None:
        """Why some data source would not act on session variable ``name`` at ``value``
        (:meth:`~sharding.backend.base.DataSource.unhonoured_setting`), naming it; None
        when every one does. Sessions refuse such a SET."""
        for ds in self.datasources.values():
            reason = ds.unhonoured_setting(name, value)
            if reason is not None:
                where = "the embedded SQLite default" if ds.kind == "sqlite" else ds.kind
                return f"{where} (data source '{ds.name}') does not follow it: {reason}"
        return None

    @property
    def default_datasource(self) -> str:
        return self.topology.datasources[0].name

    def new_transaction(self, datasources: Mapping[str, Any] | None = None) -> SessionTransaction:
        """A session transaction over every physical database of every data source
        (borrowed through ``datasources``: a session's view, with its settings)."""
        generation, databases = self._txn_databases
        if generation != self.catalog.generation:
            # Every table's placements: O(tables × shards), so once per catalog change,
            # not per BEGIN (an autocommit=0 client starts one after every COMMIT).
            found: dict[str, set[str]] = {}
            for info in self.catalog.tables():
                for _, ds, db, _table in info.placements():
                    found.setdefault(ds, set()).add(db)
            databases = {k: sorted(v) for k, v in found.items()}
            self._txn_databases = (self.catalog.generation, databases)
        return SessionTransaction(
            datasources if datasources is not None else self.datasources, databases
        )

    def spawn(self, fn: Callable[[], Awaitable[None]]) -> None:
        if self._nursery is None:
            raise ShardgateError("the coordinator is not open")
        self._nursery.start_soon(fn)

    def system_variable(self, name: str, session: CoordinatorSession | None = None) -> Any:
        """``@@name`` as ``session`` (or a fresh session) sees it."""
        state = session.state if session is not None else SessionState(self.globals)
        scope, _, bare = name.rpartition(".")
        return state.get(bare, scope)
