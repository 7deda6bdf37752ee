"""The ``shardgate`` command: ``serve``, ``explain``, ``trace``, ``replay``, ``--version``.

    shardgate serve [--config FILE] [--listen 127.0.0.1:3307] [--http 127.0.0.1:8080]
                    [--admin-listen 127.0.0.1:3308] [--data-dir .shardgate]
    shardgate explain "SELECT ..." [--config FILE]
    shardgate trace gen|load|convert ...      (see sharding/trace/README.md)
    shardgate replay TRACE --target 127.0.0.1:3307 [--speed 2.0] [--clients C]
    shardgate --version

One TOML file configures everything: the topology sections (``[cluster]``,
``[executor]``, ``[[datasources]]``, ``[[tables]]``, ``[[bindings]]``, see
:mod:`sharding.topology`) and ``[server]`` (see :mod:`sharding.server.config`). Without
``--config``, or with a file that declares no ``[[datasources]]``, the embedded default
is used: SQLite shards under ``--data-dir`` (``./.shardgate``), database ``db``.

The coordinator is imported lazily, so ``--version`` and config errors answer fast and
the server package does not import the planner. Exit status: 0 after a clean shutdown
(SIGTERM/SIGINT: graceful; a second signal cancels at once), 2 for a configuration
error, 1 for anything else. A failed start is one line on stderr naming the cause
(:func:`sharding.logging_setup.startup_error`); ``--log-level debug`` adds the
traceback. Logging (slow-query log, ``--long-query-time``): :mod:`sharding.logging_setup`.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import tomllib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import trio

__all__ = ["main"]


def _version() -> str:
    try:
        return metadata.version("shardgate")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class CliError(Exception):
    """A configuration problem, reported as one line and exit status 2."""


def _load_toml(path: str | None) -> tuple[dict[str, Any], Path]:
    if path is None:
        return {}, Path(".")
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8")), p.parent
    except OSError as exc:
        raise CliError(f"cannot read {p}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{p}: invalid TOML: {exc}") from exc


#: The MySQL driver of ``shardgate serve``'s data sources when their entry names none:
#: the trio-native connection (issue 16). Measured (``bench/README.md``, ``oltp`` and
#: ``point_instructions``): 0.64–0.94× aiomysql's coordinator CPU per point select
#: under sysbench, 1.2–1.7× its queries per second, ~750 k instructions per PyMySQL
#: point select against ~1,120 k, and one-shard text results relayed unparsed. An
#: embedding program keeps aiomysql (``MySQLConfig``'s default): its connections
#: outlive one ``trio.run``; a service has one run.
SERVICE_DRIVER = "native"


def _topology(data: dict[str, Any], base_dir: Path, data_dir: str, *, service: bool = False) -> Any:
    """The topology of a config file; ``service``: for ``shardgate serve``, whose
    MySQL data sources default to :data:`SERVICE_DRIVER`."""
    from sharding.topology import Topology, TopologyError

    topo_data = {k: v for k, v in data.items() if k != "server"}
    if service and topo_data.get("datasources"):
        topo_data["datasources"] = [
            {"driver": SERVICE_DRIVER, **entry} if entry.get("kind") == "mysql" else entry
            for entry in topo_data["datasources"]
        ]
    try:
        if topo_data.get("datasources"):
            return Topology.from_dict(topo_data, base_dir=base_dir)
        unknown = set(topo_data) - {"cluster", "executor"}
        if unknown:
            raise CliError(f"{', '.join(sorted(unknown))} need [[datasources]]")
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        topo = Topology.default(data_dir, **topo_data.get("cluster", {}))
        if topo_data.get("executor"):
            topo = topo.with_executor(**topo_data["executor"])
        return topo
    except (TopologyError, TypeError, ValueError) as exc:
        raise CliError(str(exc)) from exc


def _server_config(data: dict[str, Any], args: argparse.Namespace, topology: Any) -> Any:
    from sharding.server.config import ConfigError, ServerConfig

    section = dict(data.get("server", {}))
    overrides = {
        "listen": args.listen,
        "http": args.http,
        "admin_listen": args.admin_listen,
        "long_query_time": getattr(args, "long_query_time", None),
    }
    section.update({k: v for k, v in overrides.items() if v is not None})
    section.setdefault("default_database", topology.cluster.database)
    try:
        return ServerConfig.from_mapping(section)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


def tune_gc(threshold: int) -> None:
    """Make the cyclic GC cheap for a long-running server (``--gc-threshold``).

    With thousands of client connections the server holds hundreds of thousands of
    live objects (sessions, queued children, their coroutines); with Python's default
    thresholds (700, 10, 10) full collections scan them all, more often the more the
    server allocates, and at 1024+ clients they were most of its CPU
    (``bench/README.md``, ``concurrency``). Freezing what start-up built (catalog,
    plans, modules) takes it out of every scan; a larger first threshold makes
    collections rarer. ``threshold`` 0 leaves Python's defaults alone.
    """
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold, 50, 1000)


#: Seconds between full collections when ``--gc-threshold`` makes them otherwise rare.
FULL_COLLECTION_PERIOD = 60.0


async def collect_periodically(period: float = FULL_COLLECTION_PERIOD) -> None:
    """A full collection every ``period`` seconds, for a server tuned by :func:`tune_gc`.

    With the raised thresholds a full collection would need ~5·10⁹ allocations, so
    anything that dies only in a reference cycle would stay until then. The hot paths
    leave no cycles (``tests/server/test_gc_cycles.py``,
    ``tests/backend_mysql/test_gc_cycles_coordinator.py``); this bounds what a rare path
    (a traceback kept by a third-party library, sqlglot's parent links) can pile up.
    One collection costs milliseconds to tens of milliseconds of the loop, once a minute.
    """
    while True:
        await trio.sleep(period)
        gc.collect()


async def _serve(args: argparse.Namespace) -> int:
    if args.worker_index is not None or args.workers > 1:
        # serve --workers N: this is the supervisor, or one of its workers.
        from sharding.server import workers

        if args.worker_index is not None:
            return await workers.serve_worker(args)
        return await workers.supervise(args, args.argv, args.workers)
    # No cyclic collection while start-up builds long-lived objects (server modules,
    # catalog, topology): it frees nothing then; tune_gc's full collection below, just
    # before the server accepts connections, reclaims whatever start-up left behind.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await _serve_one(args, collecting)
    finally:
        if collecting:
            gc.enable()


async def _serve_one(args: argparse.Namespace, collecting: bool) -> int:
    """``serve`` of one process, the cyclic GC off until start-up is done."""
    from executor import configure_logging
    from sharding.coordinator import Coordinator
    from sharding.logging_setup import StatementLog, announce_shutdown, log
    from sharding.server import CoordinatorAdmin, MySQLServer

    configure_logging(
        json=None if args.log_format == "auto" else args.log_format == "json", level=args.log_level
    )
    data, base = _load_toml(args.config)
    topology = _topology(data, base, args.data_dir, service=True)
    config = _server_config(data, args, topology)
    async with Coordinator(topology) as coord, trio.open_nursery() as nursery:
        if "server_version" not in data.get("server", {}):
            config = config.with_overrides(server_version=coord.version)
        if coord.max_allowed_packet and coord.max_allowed_packet < config.max_packet_size:
            # Never advertise (or accept) more than the smallest data source takes.
            if "max_packet_size" in data.get("server", {}):
                log.warning(
                    "max_packet_size lowered to the data sources' max_allowed_packet",
                    configured=config.max_packet_size,
                    used=coord.max_allowed_packet,
                )
            config = config.with_overrides(max_packet_size=max(1024, coord.max_allowed_packet))
        server = MySQLServer(config, coord, admin=CoordinatorAdmin(coord))
        coord.statement_log = StatementLog(
            long_query_time=float(config.long_query_time), full_text=config.log_statement_text
        )
        tune_gc(args.gc_threshold)
        if collecting:
            gc.enable()
        if args.gc_threshold > 0:
            nursery.start_soon(collect_periodically)

        async def run_server(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            await server.serve(task_status=task_status)
            nursery.cancel_scope.cancel()

        async def on_signals() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    name = signal.Signals(signum).name
                    if server.draining or server._shutdown.is_set():
                        log.warning("second signal: stopping now", signal=name)
                        nursery.cancel_scope.cancel()  # second signal: stop now
                        return
                    announce_shutdown(
                        name,
                        running=int(server.status_variables().get("Threads_running", 0)),
                        timeout=config.shutdown_timeout,
                    )
                    server.shutdown()

        nursery.start_soon(on_signals)
        # Coordinators sharing a MySQL catalog: a registered instance id, KILL and
        # PROCESSLIST across them (sharding.server.instances; a no-op otherwise).
        from sharding.server.instances import join_fleet

        await nursery.start(join_fleet, server, coord, args.instance_id)
        await nursery.start(run_server)
        extra = ""
        if server.admin_port:
            extra += f", admin port {server.admin_port}"
        if server.http_port:
            extra += f", http port {server.http_port}"
        host = config.listen.rsplit(":", 1)[0] or "127.0.0.1"
        print(f"shardgate {_version()}: MySQL protocol on {host}:{server.port}{extra}", flush=True)
        log.info(
            "started", version=_version(), port=server.port, long_query_time=config.long_query_time
        )
    log.info("shutdown complete")
    return 0


async def _explain(args: argparse.Namespace) -> int:
    from sharding.coordinator import Coordinator

    data, base = _load_toml(args.config)
    topology = _topology(data, base, args.data_dir)
    async with Coordinator(topology) as coord:
        print(await coord.explain(args.sql))
    return 0


def _bench(argv: list[str]) -> int:
    """``shardgate bench quick|full [NAME ...]``: the benchmark suite of a source checkout
    (``bench/`` is not installed with the package; an editable install finds it)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "__main__.py").is_file():
        print(
            "shardgate: `shardgate bench` runs the benchmarks of a source checkout; "
            f"no bench/ next to {root / 'sharding'} (install with `pip install -e .`)",
            file=sys.stderr,
        )
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench.__main__ import main as bench_main

    return bench_main(argv, prog="shardgate bench")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shardgate", description="Shard-aware MySQL coordinator on a bucketed executor."
    )
    parser.add_argument("--version", action="version", version=f"shardgate {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the MySQL wire protocol")
    serve.add_argument("--config", help="TOML file: topology sections and [server]")
    serve.add_argument("--listen", help="MySQL port, host:port (default 127.0.0.1:3307)")
    serve.add_argument(
        "--http", help="HTTP port: live status page (/), /metrics, /status, /healthz, POST /kill"
    )
    serve.add_argument("--admin-listen", help="extra admin port, outside the buckets")
    serve.add_argument(
        "--data-dir",
        default=".shardgate",
        help="embedded SQLite default's directory (default ./.shardgate)",
    )
    serve.add_argument(
        "--gc-threshold",
        type=int,
        default=100_000,
        metavar="N",
        help="gc.set_threshold(N, 50, 1000) and gc.freeze() after start-up "
        "(default 100000; 0 keeps Python's defaults)",
    )
    _worker_arguments(serve)
    serve.add_argument("--log-format", choices=("auto", "json", "console"), default="auto")
    serve.add_argument("--log-level", default=None, help="debug, info (default), warning, error")
    serve.add_argument(
        "--long-query-time",
        type=float,
        default=None,
        metavar="SECONDS",
        help="slow-query log threshold (default [server] long_query_time, else 10)",
    )
    explain = sub.add_parser("explain", help="show how a statement would be routed and merged")
    # Listed for --help; both are dispatched to sharding.trace before argparse runs.
    sub.add_parser(
        "trace", help="trace gen|load|convert: make and load workload traces", add_help=False
    )
    sub.add_parser(
        "replay", help="replay a trace open-loop against a MySQL endpoint", add_help=False
    )
    sub.add_parser(
        "bench",
        help="bench quick|full [NAME ...]: the benchmark suite (source checkout)",
        add_help=False,
    )
    explain.add_argument("sql")
    explain.add_argument("--config")
    explain.add_argument("--data-dir", default=".shardgate")
    return parser


def _worker_arguments(serve: argparse.ArgumentParser) -> None:
    """``--workers`` (sharding.server.workers) and the supervisor-to-worker flags."""
    from sharding.server.workers import parse_instance, parse_workers

    serve.add_argument(
        "--workers",
        type=parse_workers,
        default=1,
        metavar="N",
        help="worker processes sharing the MySQL port (SO_REUSEPORT), restarted when "
        "they die; 'auto' = one per core (default 1). Every worker also listens on the "
        "admin and HTTP ports; SHOW PROCESSLIST, KILL, /metrics (label worker) and "
        "/status (list workers) cover all workers, whichever one answers. Connection "
        "ids carry the worker in bits 20-25; each MySQL data source's max_connections "
        "is split across the workers",
    )
    serve.add_argument(
        "--instance-id",
        type=parse_instance,
        default=0,
        metavar="I",
        help="this coordinator's number 0-31, in bits 26-30 of every connection id "
        "(default 0). With the catalog on MySQL it is only the preferred one: ids are "
        "claimed in <catalog>.instances, so coordinators sharing a catalog never collide",
    )
    # Set by the supervisor for its workers only.
    for flag in ("--worker-index", "--worker-count", "--worker-start", "--supervisor-pid"):
        serve.add_argument(flag, type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--run-dir", default=None, help=argparse.SUPPRESS)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The trace tools own their whole argument syntax (and run on their own loop).
    if argv and argv[0] == "trace":
        from sharding.trace.cli import main_trace

        return main_trace(argv[1:])
    if argv and argv[0] == "bench":
        return _bench(argv[1:])
    if argv and argv[0] == "replay":
        from sharding.trace.cli import main_replay

        return main_replay(argv[1:])
    args = _parser().parse_args(argv)
    args.argv = argv  # serve --workers: the supervisor starts its workers with these
    try:
        if args.command == "serve":
            return trio.run(_serve, args)
        return trio.run(_explain, args)
    except CliError as exc:
        from sharding.logging_setup import where_in_config

        print(
            f"shardgate: {where_in_config(str(exc), getattr(args, 'config', None))}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _failed(exc, args)


def _failed(exc: Exception, args: argparse.Namespace) -> int:
    """A failed start (or run): one line naming the cause, the traceback only with
    ``--log-level debug``; 2 for configuration problems, 1 for the rest."""
    import os
    import traceback

    from sharding.logging_setup import startup_error

    level = getattr(args, "log_level", None) or os.environ.get("SHARDGATE_LOG_LEVEL", "")
    debug = level.lower() == "debug"
    line, status = startup_error(exc, config_path=getattr(args, "config", None))
    if line is None:
        line = f"unexpected error: {type(exc).__name__}: {exc}"
        if not debug:
            line += " (--log-level debug shows the traceback)"
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"shardgate: {line}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
