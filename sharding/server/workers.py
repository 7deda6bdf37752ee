"""``shardgate serve --workers N``: N worker processes on one port, one supervisor.

Why processes: one ``shardgate serve`` runs on one core (the GIL). N workers, each a
complete coordinator (its own trio loop, executor, pools and catalog), each with its
own ``SO_REUSEPORT`` listening socket on the same MySQL port, let the kernel spread new
connections across cores. The parent process is only a supervisor: it never touches a
client connection.

Layout (decided here, documented in ``shardgate serve --help`` and the README):

* **MySQL, admin and HTTP ports belong to every worker** (``SO_REUSEPORT`` on all three).
  A request that needs the whole picture is answered by whichever worker it lands on,
  which gathers from its peers over the control channel: ``SHOW PROCESSLIST`` lists every
  worker's sessions, ``KILL [QUERY] id`` reaches the owning worker, ``/metrics`` is every
  worker's metrics with a ``worker`` label, ``/status`` has a ``workers`` list. So no
  single process is a bottleneck or a single point of failure for observability, and
  the supervisor stays trivial (no event loop of its own serving anything).
* **Control channel**: one Unix socket per worker, ``<run dir>/worker-<k>.sock``, in a
  private (0700) temporary directory the supervisor creates; one JSON request per
  connection, one JSON answer, then EOF. Unix sockets need no port, cannot be reached
  from the network, and a dead worker's socket simply refuses (the peer is skipped or
  its ids reported unknown, never waited on past ``CONTROL_TIMEOUT``).
* **Global connection ids** (TiDB's Global Kill is the model): 32 bits, bit 31 clear
  (clients that keep the thread id in a signed int still work), then 5 bits of
  coordinator instance, 6 bits of worker, 20 bits of local id. The owner of any id is
  known from the id alone, so the mysql CLI's Ctrl-C (``KILL QUERY id`` on a *new*
  connection, which may land on any worker) reaches it. One worker and instance 0 give
  exactly the ids a plain ``serve`` gives (1, 2, 3, ...).
* **Several coordinators** (:mod:`sharding.server.instances`): with the catalog on
  MySQL, the supervisor claims the instance id in the catalog's registry (so
  coordinators sharing a catalog never share an id; ``--instance-id`` is only the
  preferred one), heartbeats it and writes it with the instance's control secret to
  ``<run dir>/instance.json`` before any worker starts; every worker listens on the
  shared control port (``SO_REUSEPORT``) and installs the fleet view as
  ``server.cluster`` over its :class:`WorkerCluster`, so KILL and PROCESSLIST reach
  other coordinators too. Without a MySQL catalog, ``--instance-id`` is used as is.
* **Metrics**: each worker's own text exposition, gathered at scrape time, relabelled
  with ``worker="k"`` and merged by family. prometheus_client's multiprocess mode was
  not used: it covers only metrics kept in its mmap files, while the bucket and pool
  gauges here come from a custom collector reading live snapshots at scrape time
  (multiprocess mode would silently drop them), and it needs files cleaned on every
  worker restart. Gathering costs one control round trip per worker per scrape.
* **Connection budget**: each MySQL data source's ``max_connections`` is split across
  the workers (worker k gets ``total // N`` plus one of the remainder), so N processes
  never open more than the configured total; ``SHOW DATASOURCES`` shows the share and
  the total (``worker``, ``workers``, ``budget_total``).
* **DDL**: after a DDL statement succeeds on a worker, every peer reloads its catalog
  (control op ``reload_catalog``) before the client gets OK, so the table is usable
  at once from a connection on any worker. XA recovery's periodic passes over a
  server run in one process of the fleet at a time (a lease per server in the catalog,
  ``sharding.backend.lease``, used by sharding.exec.xa).
* **Supervisor**: reserves the ports first (a bound, non-listening ``SO_REUSEPORT``
  socket per port, which also resolves ``:0`` to one port for all workers and keeps it
  while a worker restarts), starts the workers, prints the ready line once all answer
  on their control sockets, restarts a worker that dies (with back-off when it dies
  young) and forwards SIGTERM/SIGINT: the first signal starts every worker's graceful
  drain, a second one makes them stop at once; past the drain bound it SIGKILLs.
  Workers run in their own session (a terminal's Ctrl-C reaches only the supervisor,
  which forwards it once) and stop by themselves if the supervisor disappears.

Invariant: a connection id names exactly one live connection of one worker; ids are
reused only after 2**20 - 1 allocations and never while the old owner is connected.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import structlog
import trio

from sharding.api import Column, CoordinatorAdmin, Result
from sharding.errors import NoSuchThread, ShardgateError
from sharding.server import admin as admin_sql

if TYPE_CHECKING:
    from sharding.api import Coordinator
    from sharding.server.server import MySQLServer

__all__ = [
    "ConnectionIds",
    "WorkerCluster",
    "encode_id",
    "instance_of",
    "parse_instance",
    "parse_workers",
    "reuseport_listeners",
    "serve_worker",
    "split_budget",
    "supervise",
    "worker_of",
]

log = structlog.get_logger("shardgate.workers")

LOCAL_BITS = 20
WORKER_BITS = 6
INSTANCE_BITS = 5
MAX_WORKERS = 1 << WORKER_BITS
MAX_INSTANCE = (1 << INSTANCE_BITS) - 1
_LOCAL_MASK = (1 << LOCAL_BITS) - 1
#: A peer that does not answer within this long is treated as gone for this request.
CONTROL_TIMEOUT = 2.0
_MAX_CONTROL_BYTES = 64 << 20
#: A worker that dies younger than this is restarted only after a growing back-off.
_YOUNG = 2.0
_MAX_BACKOFF = 5.0
#: Statements after which the peers reload their catalog (WorkerCluster.after_statement).
DDL_FIRST_WORDS = frozenset({"CREATE", "DROP", "ALTER", "RENAME", "TRUNCATE"})
#: How long the supervisor waits for every worker to be ready at start-up.
_START_TIMEOUT = 120.0


# -- connection ids -----------------------------------------------------------------------


def encode_id(instance: int, worker: int, local: int) -> int:
    """The global connection id of ``local`` on ``worker`` of coordinator ``instance``."""
    if not 0 <= instance <= MAX_INSTANCE or not 0 <= worker < MAX_WORKERS:
        raise ValueError(f"instance {instance} / worker {worker} out of range")
    if not 0 < local <= _LOCAL_MASK:
        raise ValueError(f"local id {local} out of range")
    return (instance << (LOCAL_BITS + WORKER_BITS)) | (worker << LOCAL_BITS) | local


def worker_of(connection_id: int) -> int:
    return (connection_id >> LOCAL_BITS) & (MAX_WORKERS - 1)


def instance_of(connection_id: int) -> int:
    return (connection_id >> (LOCAL_BITS + WORKER_BITS)) & MAX_INSTANCE


class ConnectionIds:
    """Allocates the global ids of one worker: cycles through the local ids, skipping
    any still in use (so a wrapped counter never hands out a live connection's id)."""

    def __init__(self, instance: int, worker: int) -> None:
        encode_id(instance, worker, 1)  # validates
        self.instance = instance
        self.worker = worker
        self._next = 1

    def allocate(self, live: Container[int]) -> int:
        for _ in range(_LOCAL_MASK):
            local = self._next
            self._next = local % _LOCAL_MASK + 1
            cid = encode_id(self.instance, self.worker, local)
            if cid not in live:
                return cid
        raise ShardgateError("no free connection id", code=1040, sqlstate="08004")


# -- sockets ------------------------------------------------------------------------------


def reuseport_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket with ``SO_REUSEPORT`` bound to ``host:port`` (listening if asked)."""
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Linux/BSD only
        raise ShardgateError("--workers needs SO_REUSEPORT (Linux, BSD)")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        if listen:
            sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


def reuseport_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """This worker's own listening socket on the shared port (the kernel balances)."""
    sock = reuseport_socket(host, port, listen=True)
    sock.setblocking(False)
    return [trio.SocketListener(trio.socket.from_stdlib_socket(sock))]


# -- connection budget --------------------------------------------------------------------


def split_budget(total: int, worker: int, workers: int) -> int:
    """Worker ``worker``'s share of ``total`` connections (never below 1)."""
    share = total // workers + (1 if worker < total % workers else 0)
    return max(1, share)


_DEFAULT_MYSQL_MAX = 32


def budget_topology(topology: Any, worker: int, workers: int) -> tuple[Any, dict[str, int]]:
    """The topology with each MySQL data source's ``max_connections`` cut to this
    worker's share, and the configured totals by data source name."""
    totals: dict[str, int] = {}
    sources = []
    for ds in topology.datasources:
        if ds.kind != "mysql":
            sources.append(ds)
            continue
        options = dict(ds.options)
        total = int(options.get("max_connections", _DEFAULT_MYSQL_MAX))
        totals[ds.name] = total
        share = split_budget(total, worker, workers)
        options["max_connections"] = share
        if "min_idle" in options:
            options["min_idle"] = min(int(options["min_idle"]), share)
        sources.append(replace(ds, options=options))
    return replace(topology, datasources=tuple(sources)), totals


class WorkerAdmin(CoordinatorAdmin):
    """The coordinator's admin view plus this worker's share of each pool budget."""

    def __init__(
        self, coordinator: Coordinator, worker: int, workers: int, totals: Mapping[str, int]
    ) -> None:
        super().__init__(coordinator)
        self.worker = worker
        self.workers = workers
        self.totals = dict(totals)

    def datasource_statistics(self) -> Sequence[Any]:
        out = []
        for stats in super().datasource_statistics():
            row = admin_sql.snapshot_dict(stats)
            row["worker"] = self.worker
            row["workers"] = self.workers
            row["budget_total"] = self.totals.get(str(row.get("name")))
            out.append(row)
        return out


# -- control channel ----------------------------------------------------------------------


def socket_path(run_dir: str, worker: int) -> str:
    return os.path.join(run_dir, f"worker-{worker}.sock")


async def control_request(path: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """One request to one worker's control socket (raises OSError/TooSlowError)."""
    with trio.fail_after(CONTROL_TIMEOUT):
        stream = await trio.open_unix_socket(path)
        async with stream:
            await stream.send_all(json.dumps(request).encode() + b"\n")
            await stream.send_eof()
            data = bytearray()
            while chunk := await stream.receive_some(1 << 16):
                data += chunk
                if len(data) > _MAX_CONTROL_BYTES:
                    raise OSError("control answer too large")
    answer: dict[str, Any] = json.loads(data)
    return answer


def _result_json(result: Result) -> dict[str, Any]:
    return {
        "columns": [[c.name, c.type_code] for c in result.columns or []]
        if result.columns is not None
        else None,
        "rows": [list(r) for r in result.rows],
        "affected": result.affected,
    }


def _result_from(data: Mapping[str, Any]) -> Result:
    cols = data.get("columns")
    return Result(
        columns=None if cols is None else [Column(n, t) for n, t in cols],
        rows=[tuple(r) for r in data.get("rows", [])],
        affected=int(data.get("affected", 0)),
    )


class WorkerCluster:
    """One worker's view of its peers: answers their control requests and forwards
    admin statements, metrics and status gathering to them."""

    def __init__(
        self,
        server: MySQLServer,
        *,
        run_dir: str,
        worker: int,
        workers: int,
        instance: int = 0,
        start: int = 1,
        coordinator: Coordinator | None = None,
    ) -> None:
        self.server = server
        self.coordinator = coordinator
        self.run_dir = run_dir
        self.worker = worker
        self.workers = workers
        self.instance = instance
        self.start = start
        self.started_at = time.time()

    # control server side

    async def serve_control(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        path = socket_path(self.run_dir, self.worker)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(path)
        sock.listen(64)
        listener = trio.SocketListener(sock)
        task_status.started()
        try:
            await trio.serve_listeners(self._handle_control, [listener])
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    async def _handle_control(self, stream: trio.SocketStream) -> None:
        async with stream:
            try:
                with trio.fail_after(CONTROL_TIMEOUT):
                    data = bytearray()
                    while chunk := await stream.receive_some(1 << 16):
                        data += chunk
                        if len(data) > 1 << 20:
                            return
                    request = json.loads(data)
                    if request.get("op") == "reload_catalog":
                        answer = await self._reload_catalog()
                    else:
                        answer = self.answer_control(request)
                    await stream.send_all(json.dumps(answer, default=str).encode())
            except (trio.TooSlowError, trio.BrokenResourceError, OSError, ValueError) as exc:
                log.info("control request failed", error=repr(exc))

    async def _reload_catalog(self) -> dict[str, Any]:
        if self.coordinator is None:  # a bare cluster view (no coordinator to reload)
            return {"generation": None}
        catalog = self.coordinator.catalog
        try:
            await catalog.reload()
        except ShardgateError as exc:
            return {"error": [exc.code, exc.sqlstate, str(exc)]}
        return {"generation": catalog.generation}

    async def after_statement(self, first_word: str) -> None:
        """After a statement of this worker succeeded: a DDL makes every peer reload
        its catalog before the statement returns OK, so a client that runs DDL on one
        connection and then uses the table on another (which may land on any worker)
        finds it. A peer that does not answer within ``CONTROL_TIMEOUT`` catches up
        with its periodic catalog refresh (``Coordinator(catalog_refresh=...)``)."""
        if first_word in DDL_FIRST_WORDS and self.workers > 1:
            await self._gather({"op": "reload_catalog"})

    def identity(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "pid": os.getpid(),
            "start": self.start,
            "started_at": round(self.started_at, 3),
            "draining": self.server.draining,
        }

    def answer_control(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to one peer request (never raises for a bad request)."""
        op = request.get("op")
        if op == "ping":
            return self.identity()
        if op == "metrics":
            return {"text": self.server.metrics.render().decode()}
        if op == "status":
            return {"status": self.server.status(), **self.identity()}
        if op == "admin":
            viewer = admin_sql.Viewer(
                str(request.get("user", "")),
                frozenset(request.get("privileges", ())),
                request.get("connection_id"),
            )
            try:
                result = admin_sql.answer_admin(
                    str(request.get("sql", "")), self.server.admin, self.server, viewer=viewer
                )
            except ShardgateError as exc:
                return {"error": [exc.code, exc.sqlstate, str(exc)]}
            if result is None:
                return {"error": [1235, "42000", "not an admin statement"]}
            return {"result": _result_json(result)}
        return {"error": [1047, "08S01", f"unknown control op {op!r}"]}

    # forwarding side

    def peers(self) -> list[int]:
        return [k for k in range(self.workers) if k != self.worker]

    async def _gather(self, request: Mapping[str, Any]) -> dict[int, dict[str, Any] | None]:
        """``request`` sent to every peer at once; None for a peer that did not answer."""
        out: dict[int, dict[str, Any] | None] = {}

        async def one(k: int) -> None:
            try:
                out[k] = await control_request(socket_path(self.run_dir, k), request)
            except (OSError, trio.TooSlowError, ValueError) as exc:
                log.info("worker did not answer", worker=k, error=repr(exc))
                out[k] = None

        async with trio.open_nursery() as nursery:
            for k in self.peers():
                nursery.start_soon(one, k)
        return out

    async def answer_admin(self, sql: str, viewer: admin_sql.Viewer) -> Result | None:
        """The cluster-wide answer to ``SHOW PROCESSLIST`` / ``KILL``, or None when the
        statement is answered by this worker alone."""
        m = admin_sql.ADMIN_STATEMENT.match(sql) if len(sql) < 512 else None
        if m is None:
            return None
        request = {
            "op": "admin",
            "sql": sql,
            "user": viewer.user,
            "privileges": sorted(viewer.privileges),
            "connection_id": viewer.connection_id,
        }
        if m.group("pl") or m.group("pl_is"):
            local = admin_sql.answer_admin(sql, self.server.admin, self.server, viewer=viewer)
            assert local is not None
            rows = list(local.rows)
            for answer in (await self._gather(request)).values():
                if answer is not None and "result" in answer:
                    rows.extend(_result_from(answer["result"]).rows)
            rows.sort(key=lambda r: int(r[0]))
            return Result(columns=local.columns, rows=rows)
        if m.group("kid") and not m.group("kqid"):
            target = int(m.group("kid"))
            owner = worker_of(target)
            if instance_of(target) != self.instance or owner >= self.workers:
                raise NoSuchThread(f"Unknown thread id: {target}")
            if owner == self.worker:
                return None
            try:
                answer = await control_request(socket_path(self.run_dir, owner), request)
            except (OSError, trio.TooSlowError, ValueError):
                # The owning worker is gone, and its connections with it.
                raise NoSuchThread(f"Unknown thread id: {target}") from None
            if "error" in answer:
                code, sqlstate, message = answer["error"]
                raise ShardgateError(str(message), code=int(code), sqlstate=str(sqlstate))
            return _result_from(answer["result"])
        return None

    async def http_kill(self, request: Any, viewer: admin_sql.Viewer) -> dict[str, Any] | None:
        """The status page's ``POST /kill`` of another worker's connection, done there
        (None: a connection of this worker, or a ``query_id``, which is per worker)."""
        from sharding.server.statuspage import KillRefused

        cid = getattr(request, "connection_id", None)
        if cid is None or worker_of(cid) == self.worker:
            return None
        query_only = bool(getattr(request, "query_only", True))
        try:
            await self.answer_admin(f"KILL {'QUERY ' if query_only else ''}{cid}", viewer)
        except ShardgateError as exc:
            raise KillRefused(403 if exc.code == 1095 else 404, str(exc)) from None
        return {
            "killed": "query" if query_only else "connection",
            "connection_id": cid,
            "via": "connection",
            "worker": worker_of(cid),
        }

    async def metrics_text(self) -> bytes:
        """Every worker's metrics, each sample labelled with its ``worker``."""
        texts = {self.worker: self.server.metrics.render().decode()}
        for k, answer in (await self._gather({"op": "metrics"})).items():
            if answer is not None and isinstance(answer.get("text"), str):
                texts[k] = answer["text"]
        return merge_metrics(texts, self.workers)

    async def status(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (this worker's /status) with every worker's connections and queries
        and a ``workers`` list (one entry per worker, ``up`` false if it did not answer)."""
        gathered = await self._gather({"op": "status"})
        workers = [{**self.identity(), "up": True, **_server_part(data)}]
        for q in data.get("queries", []):
            q.setdefault("worker", self.worker)
        for k in sorted(gathered):
            answer = gathered[k]
            if answer is None or not isinstance(answer.get("status"), dict):
                workers.append({"worker": k, "up": False})
                continue
            peer = answer.pop("status")
            workers.append({**answer, "up": True, **_server_part(peer)})
            data.setdefault("connections", []).extend(peer.get("connections", []))
            for q in peer.get("queries", []):
                q["worker"] = k
                data.setdefault("queries", []).append(q)
        data.setdefault("connections", []).sort(key=lambda c: int(c.get("Id", 0)))
        workers.sort(key=lambda w: int(w["worker"]))
        data["workers"] = workers
        return data


def _server_part(status: Mapping[str, Any]) -> dict[str, Any]:
    server = status.get("server", {})
    keys = ("Threads_connected", "Threads_running", "Connections", "Questions", "Uptime")
    return {k: server.get(k) for k in keys if k in server}


def merge_metrics(texts: Mapping[int, str], workers: int) -> bytes:
    """Merge per-worker text expositions into one, adding the ``worker`` label."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.samples import Sample

    families: dict[str, Metric] = {}
    for k in sorted(texts):
        for fam in text_string_to_metric_families(texts[k]):
            merged = families.get(fam.name)
            if merged is None:
                merged = families[fam.name] = Metric(fam.name, fam.documentation, fam.type)
            for s in fam.samples:
                labels = {**s.labels, "worker": str(k)}
                merged.samples.append(Sample(s.name, labels, s.value, s.timestamp, s.exemplar))
    up = GaugeMetricFamily(
        "shardgate_worker_up", "1 if the worker answered this scrape", labels=["worker"]
    )
    for k in range(workers):
        up.add_metric([str(k)], 1.0 if k in texts else 0.0)
    families[up.name] = up

    class _Merged:
        def collect(self) -> Iterable[Metric]:
            return list(families.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())
    return generate_latest(registry)


# -- worker process -----------------------------------------------------------------------


async def _watch_parent(parent: int, server: MySQLServer) -> None:
    """Drain when the supervisor is gone (the worker was re-parented)."""
    while os.getppid() == parent:  # noqa: ASYNC110 (no event for "parent died")
        await trio.sleep(0.5)
    log.warning("supervisor gone: shutting down", parent=parent)
    server.shutdown()


async def serve_worker(args: argparse.Namespace) -> int:
    """One worker process (``--worker-index`` set by the supervisor)."""
    from executor import configure_logging
    from sharding.api import (
        StatementLog,
        config_topology,
        load_config,
        open_coordinator,
        server_config,
        tune_gc,
    )
    from sharding.server import MySQLServer
    from sharding.server.instances import read_instance_file, serve_worker_fleet

    configure_logging(
        json=None if args.log_format == "auto" else args.log_format == "json", level=args.log_level
    )
    structlog.contextvars.bind_contextvars(worker=args.worker_index)
    worker, workers = int(args.worker_index), int(args.worker_count)
    data, base = load_config(args.config)
    topology = config_topology(data, base, args.data_dir, service=True)
    topology, totals = budget_topology(topology, worker, workers)
    config = server_config(data, args, topology)
    async with open_coordinator(topology) as coord, trio.open_nursery() as nursery:
        if "server_version" not in data.get("server", {}):
            config = config.with_overrides(server_version=coord.version)
        server = MySQLServer(config, coord, admin=WorkerAdmin(coord, worker, workers, totals))
        # The instance id the supervisor claimed in the catalog's registry, if any.
        registered = read_instance_file(args.run_dir)
        instance = int(registered["instance"]) if registered else int(args.instance_id)
        ids = ConnectionIds(instance, worker)
        server.reuse_port = True
        server.allocate_id = ids.allocate
        cluster = WorkerCluster(
            server,
            run_dir=args.run_dir,
            worker=worker,
            workers=workers,
            instance=instance,
            start=int(args.worker_start),
            coordinator=coord,
        )
        server.cluster = cluster
        if registered:  # other coordinators: KILL and PROCESSLIST (server.cluster)
            await nursery.start(serve_worker_fleet, server, coord, cluster, registered)
        # The statement log, as a plain serve sets it (sharding.cli).
        coord.statement_log = StatementLog(
            long_query_time=float(config.long_query_time), full_text=config.log_statement_text
        )
        tune_gc(args.gc_threshold)

        async def run_server(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            await server.serve(task_status=task_status)
            nursery.cancel_scope.cancel()

        async def on_signals() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    if server.draining or server._shutdown.is_set():
                        nursery.cancel_scope.cancel()  # second signal: stop now
                        return
                    server.shutdown()

        nursery.start_soon(on_signals)
        await nursery.start(run_server)
        if args.supervisor_pid:
            nursery.start_soon(_watch_parent, int(args.supervisor_pid), server)
        # Last: the supervisor counts a worker ready once its control socket answers.
        await nursery.start(cluster.serve_control)
    if args.supervisor_pid and os.getppid() != int(args.supervisor_pid):
        # The supervisor died without cleaning up: the last worker out removes the
        # run directory (rmdir fails while a peer's socket is still there).
        with contextlib.suppress(OSError):
            os.rmdir(args.run_dir)
    return 0


# -- supervisor ---------------------------------------------------------------------------


def parse_workers(value: str) -> int:
    """``--workers``: a positive integer or ``auto`` (one per core)."""
    if value == "auto":
        return max(1, min(os.cpu_count() or 1, MAX_WORKERS))
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--workers: {value!r} is not a number or 'auto'"
        ) from None
    if not 1 <= n <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"--workers must be between 1 and {MAX_WORKERS}")
    return n


def parse_instance(value: str) -> int:
    """``--instance-id``: 0 to 31."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--instance-id: {value!r} is not a number") from None
    if not 0 <= n <= MAX_INSTANCE:
        raise argparse.ArgumentTypeError(f"--instance-id must be between 0 and {MAX_INSTANCE}")
    return n


@dataclass
class _Slot:
    index: int
    process: trio.Process | None = None
    starts: int = 0
    ready: bool = False


class Supervisor:
    def __init__(self, args: argparse.Namespace, argv: Sequence[str], workers: int) -> None:
        self.args = args
        self.argv = list(argv)
        self.workers = workers
        self.slots = [_Slot(k) for k in range(workers)]
        self.stopping = False
        self.failed: int | None = None
        self.restarts = 0
        self.run_dir = ""
        self.overrides: list[str] = []

    def is_stopping(self) -> bool:
        return self.stopping

    def command(self, slot: _Slot) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sharding.cli",
            *self.argv,
            *self.overrides,
            "--workers",
            "1",
            "--worker-index",
            str(slot.index),
            "--worker-count",
            str(self.workers),
            "--worker-start",
            str(slot.starts),
            "--run-dir",
            self.run_dir,
            "--supervisor-pid",
            str(os.getpid()),
        ]

    async def run_slot(self, slot: _Slot, started: trio.Event) -> None:
        backoff = 0.0
        while not self.stopping:
            slot.starts += 1
            slot.ready = False
            born = time.monotonic()
            proc = await trio.lowlevel.open_process(self.command(slot), start_new_session=True)
            slot.process = proc
            try:
                rc = await proc.wait()
            finally:
                if proc.returncode is None:  # cancelled: never leave a worker behind
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGKILL)
                    with trio.CancelScope(shield=True):
                        await proc.wait()
            slot.process = None
            if self.is_stopping():  # (a method: the flag changes across the await)
                return
            if not started.is_set():
                # Dying during start-up is a configuration or environment problem:
                # restarting would only repeat it.
                log.error("worker failed to start", worker=slot.index, returncode=rc)
                self.failed = rc if rc not in (0, None) else 1
                started.set()
                return
            self.restarts += 1
            young = time.monotonic() - born < _YOUNG
            backoff = min(_MAX_BACKOFF, max(0.25, backoff * 2)) if young else 0.0
            log.warning(
                "worker died; restarting", worker=slot.index, returncode=rc, backoff=backoff
            )
            await trio.sleep(backoff)

    def signal_all(self, signum: int) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signum)

    async def wait_ready(self, started: trio.Event) -> None:
        with trio.move_on_after(_START_TIMEOUT):
            while not started.is_set():
                ready = 0
                for slot in self.slots:
                    if slot.process is None:
                        continue
                    try:
                        await control_request(socket_path(self.run_dir, slot.index), {"op": "ping"})
                    except (OSError, trio.TooSlowError, ValueError):
                        continue
                    ready += 1
                if ready == self.workers:
                    started.set()
                    return
                await trio.sleep(0.05)
        if not started.is_set():
            log.error("workers did not become ready", timeout=_START_TIMEOUT)
            self.failed = 1
            started.set()


async def supervise(args: argparse.Namespace, argv: Sequence[str], workers: int) -> int:
    """The parent process of ``serve --workers N`` (module docstring)."""
    from executor import configure_logging
    from sharding.api import config_topology, load_config, server_config, version
    from sharding.server.config import parse_hostport
    from sharding.server.instances import catalog_on_mysql

    configure_logging(
        json=None if args.log_format == "auto" else args.log_format == "json", level=args.log_level
    )
    data, base = load_config(args.config)
    topology = config_topology(data, base, args.data_dir, service=True)
    config = server_config(data, args, topology)
    sup = Supervisor(args, argv, workers)
    reserved: list[socket.socket] = []
    bound: dict[str, tuple[str, int]] = {}
    try:
        for flag, addr in (
            ("--listen", config.listen),
            ("--admin-listen", config.admin_listen),
            ("--http", config.http),
        ):
            if not addr:
                continue
            host, port = parse_hostport(addr, what=flag)
            # Bound, not listening: holds the port (and resolves :0) for every worker.
            try:
                sock = reuseport_socket(host, port, listen=False)
            except OSError as exc:  # one start-up line naming the setting (sharding.cli)
                setting = flag.removeprefix("--").replace("-", "_")
                exc.shardgate_address = f"{host}:{port} ([server] {setting})"  # type: ignore[attr-defined]
                raise
            reserved.append(sock)
            bound[flag] = (host, sock.getsockname()[1])
            sup.overrides += [flag, f"{host}:{bound[flag][1]}"]
        for ds in topology.datasources:
            total = int(dict(ds.options).get("max_connections", _DEFAULT_MYSQL_MAX))
            if ds.kind == "mysql" and total < workers:
                log.warning(
                    "max_connections below the number of workers: each worker still gets 1",
                    datasource=ds.name,
                    max_connections=total,
                    workers=workers,
                )
        control: tuple[str, int] | None = None
        if catalog_on_mysql(topology):
            # The instance's control port (sharding.server.instances), shared by the
            # workers like the others; the supervisor registers it with the instance id.
            host, port = parse_hostport(config.control_listen, what="control_listen")
            try:
                sock = reuseport_socket(host, port, listen=False)
            except OSError as exc:
                exc.shardgate_address = f"{host}:{port} ([server] control_listen)"  # type: ignore[attr-defined]
                raise
            reserved.append(sock)
            control = (host, sock.getsockname()[1])
        sup.run_dir = tempfile.mkdtemp(prefix="shardgate-workers-")
        os.chmod(sup.run_dir, 0o700)
        return await _supervise(sup, config, bound, version(), topology, control)
    finally:
        for sock in reserved:
            sock.close()
        if sup.run_dir:
            shutil.rmtree(sup.run_dir, ignore_errors=True)


async def _supervise(
    sup: Supervisor,
    config: Any,
    bound: Mapping[str, tuple[str, int]],
    version: str,
    topology: Any = None,
    control: tuple[str, int] | None = None,
) -> int:
    # The drain bound of one worker, plus its kill grace and some start-up slack.
    hard_limit = float(config.shutdown_timeout) + 10.0
    started = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            if control is not None:
                # One instance id for every worker, claimed (and heartbeated) here,
                # before any worker hands out a connection id.
                from sharding.server.instances import hold_instance

                def lost() -> None:
                    sup.stopping = True
                    started.set()
                    sup.signal_all(signal.SIGTERM)
                    nursery.start_soon(_hard_stop, sup, hard_limit)

                await nursery.start(
                    hold_instance,
                    topology,
                    config,
                    control,
                    int(sup.args.instance_id),
                    sup.run_dir,
                    lost,
                )
            for slot in sup.slots:
                nursery.start_soon(sup.run_slot, slot, started)
            nursery.start_soon(sup.wait_ready, started)

            async def on_signals() -> None:
                count = 0
                async for signum in signals:
                    count += 1
                    sup.stopping = True
                    started.set()
                    # First: every worker drains; second: they stop at once.
                    sup.signal_all(signal.SIGTERM)
                    if count == 1:
                        log.info("stopping workers", signal=signum)
                        nursery.start_soon(_hard_stop, sup, hard_limit)

            nursery.start_soon(on_signals)
            await started.wait()
            if sup.failed is not None:
                sup.stopping = True
                sup.signal_all(signal.SIGTERM)
                nursery.start_soon(_hard_stop, sup, hard_limit)
            elif not sup.stopping:
                host, port = bound["--listen"]
                extra = ""
                if "--admin-listen" in bound:
                    extra += f", admin port {bound['--admin-listen'][1]}"
                if "--http" in bound:
                    extra += f", http port {bound['--http'][1]}"
                print(
                    f"shardgate {version}: MySQL protocol on {host}:{port}{extra} "
                    f"({sup.workers} workers)",
                    flush=True,
                )
            await _wait_slots(sup)
            nursery.cancel_scope.cancel()
    return sup.failed or 0


async def _wait_slots(sup: Supervisor) -> None:
    while not (sup.stopping and all(s.process is None for s in sup.slots)):  # noqa: ASYNC110
        await trio.sleep(0.05)


async def _hard_stop(sup: Supervisor, limit: float) -> None:
    await trio.sleep(limit)
    log.warning("workers still running past the drain bound: killing them")
    sup.signal_all(signal.SIGKILL)
