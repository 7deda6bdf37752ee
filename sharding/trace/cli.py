"""Command lines: ``shardgate trace gen|load|convert`` and ``shardgate replay``.

``main_trace(argv)`` and ``main_replay(argv)`` take the arguments after the subcommand
word and return the process exit status: 0 done, 1 the work failed (target unreachable,
load refused, or ``--fail-on-error`` with failed statements), 2 bad input (arguments,
trace or spec files) with one clear line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sharding.trace.format import FORMATS, TraceFormatError, TraceRecord, TraceWriter, read_trace
from sharding.trace.generate import ARRIVALS, KINDS, GenOptions, parse_mix, write_trace
from sharding.trace.spec import SpecError, WorkloadSpec, spec_path_for
from sharding.trace.target import Endpoint, TargetError, parse_endpoint

__all__ = ["main_replay", "main_trace"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so callers get a status code."""

    def error(self, message: str) -> Any:
        raise _UsageError(f"{self.prog}: {message}")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _add_credentials(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", default="root", help="MySQL user (default root)")
    p.add_argument("--password", default="", help="MySQL password (default empty)")
    p.add_argument("--database", default=None, help="default database of each connection")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback target (refused by default)",
    )


def _endpoint(text: str, args: argparse.Namespace, what: str) -> Endpoint:
    return parse_endpoint(
        text,
        what=what,
        allow_remote=args.allow_remote,
        user=args.user,
        password=args.password,
        database=args.database,
    )


# -- trace gen | load | convert ------------------------------------------------------


def _trace_parser() -> _Parser:
    parser = _Parser(prog="shardgate trace", description="Generate, load and convert traces.")
    sub = parser.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    g = sub.add_parser("gen", help="write a trace and the spec of the data it needs")
    g.add_argument("--kind", required=True, choices=KINDS)
    g.add_argument("--shards", type=int, default=1024)
    g.add_argument("--queries", type=int, default=1000, help="statements in the trace")
    g.add_argument("--clients", type=int, default=10, help="sessions in the trace")
    g.add_argument("--rate", type=float, default=100.0, help="statements/s (0: all at t=0)")
    g.add_argument("--arrival", choices=ARRIVALS, default="poisson")
    g.add_argument("--rows", type=int, default=100_000, help="rows of each read table")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--database", default="db")
    g.add_argument("--batch-rows", type=int, default=1000, help="rows per INSERT (insert-batch)")
    g.add_argument("--join-span", type=int, default=1000, help="ids per join range (0: none)")
    g.add_argument("--join-limit", type=int, default=100)
    g.add_argument("--topk", type=int, default=10)
    g.add_argument("--mix", default=None, help="mixed weights, e.g. point=70,scatter-topk=30")
    g.add_argument("-o", "--output", required=True, help="trace file (spec written beside it)")

    ld = sub.add_parser("load", help="create and fill a spec's tables on a MySQL endpoint")
    ld.add_argument("spec", help="trace.spec.json")
    ld.add_argument("--target", default="127.0.0.1:3307", help="HOST:PORT (default 127.0.0.1:3307)")
    _add_credentials(ld)
    ld.add_argument("--drop", action="store_true", help="drop and recreate existing tables")
    ld.add_argument("--batch-rows", type=int, default=1000)
    ld.add_argument("--connections", type=int, default=4)

    c = sub.add_parser("convert", help="general query log → JSONL trace")
    c.add_argument("log")
    c.add_argument("--format", choices=FORMATS, default="general-log")
    c.add_argument("-o", "--output", required=True)
    return parser


def main_trace(argv: Sequence[str]) -> int:
    """``shardgate trace gen|load|convert ...``; returns the exit status."""
    console = Console()
    err = Console(stderr=True, soft_wrap=True)
    try:
        args = _trace_parser().parse_args(list(argv))
        if args.cmd == "gen":
            return _gen(args, console)
        if args.cmd == "load":
            return _load(args, console, err)
        return _convert(args, console)
    except _UsageError as e:
        err.print(str(e), markup=False, highlight=False)
        return 2
    except (SpecError, TraceFormatError, TargetError, ValueError) as e:
        err.print(f"error: {e}", markup=False, highlight=False)
        return 2


def _gen(args: argparse.Namespace, console: Console) -> int:
    extra: dict[str, Any] = {}
    if args.mix is not None:
        if args.kind != "mixed":
            raise SpecError("--mix only applies to --kind mixed")
        extra["mix"] = parse_mix(args.mix)
    opts = GenOptions(
        kind=args.kind,
        shards=args.shards,
        queries=args.queries,
        clients=args.clients,
        rate=args.rate,
        rows=args.rows,
        seed=args.seed,
        database=args.database,
        batch_rows=args.batch_rows,
        join_span=args.join_span,
        join_limit=args.join_limit,
        topk=args.topk,
        arrival=args.arrival,
        **extra,
    )
    trace_path, spec_path, n = write_trace(opts, args.output)
    console.print(
        f"wrote {n} statements to {trace_path} and the spec to {spec_path}", highlight=False
    )
    return 0


def _load(args: argparse.Namespace, console: Console, err: Console) -> int:
    from sharding.trace.load import LoadError, load

    spec = WorkloadSpec.load(args.spec)
    ep = _endpoint(args.target, args, "--target")
    progress = _progress(console)
    tasks: dict[str, Any] = {}

    def on_progress(table: str, done: int, total: int) -> None:
        if table not in tasks:
            tasks[table] = progress.add_task(f"{spec.database}.{table}", total=total or None)
        progress.update(tasks[table], completed=done)

    try:
        with progress:
            result = asyncio.run(
                load(
                    spec,
                    ep,
                    drop=args.drop,
                    batch_rows=args.batch_rows,
                    connections=args.connections,
                    on_progress=on_progress,
                )
            )
    except LoadError as e:
        err.print(f"load failed: {e}", markup=False, highlight=False)
        return 1
    for w in result.warnings:
        err.print(f"warning: {w}", markup=False, highlight=False)
    rate = result.total_rows / result.seconds if result.seconds > 0 else 0.0
    console.print(
        f"loaded {result.total_rows} rows into {len(result.rows)} tables on {ep} "
        f"in {result.seconds:.1f} s ({rate:.0f} rows/s)",
        highlight=False,
    )
    return 0


def _convert(args: argparse.Namespace, console: Console) -> int:
    records = read_trace(args.log, args.format)
    with TraceWriter(args.output) as w:
        for rec in records:
            w.write(rec)
    console.print(f"wrote {w.count} statements to {args.output}", highlight=False)
    return 0


# -- replay -----------------------------------------------------------------------------


def _replay_parser() -> _Parser:
    p = _Parser(
        prog="shardgate replay",
        description="Replay a trace open-loop through the MySQL protocol and report latencies.",
    )
    p.add_argument("trace", help="JSONL trace or MySQL/MariaDB general query log")
    p.add_argument("--target", default="127.0.0.1:3307", help="HOST:PORT (default 127.0.0.1:3307)")
    p.add_argument("--format", choices=FORMATS, default="auto")
    _add_credentials(p)
    p.add_argument("--speed", type=float, default=1.0, help="time scale: 2.0 = twice as fast")
    p.add_argument("--clients", type=int, default=None, help="fold sessions onto C connections")
    p.add_argument("--duration-limit", type=float, default=None, metavar="S")
    p.add_argument("--query-timeout", type=float, default=60.0, metavar="S")
    p.add_argument("--max-outstanding", type=int, default=10_000)
    p.add_argument("--json", default=None, metavar="OUT", help="write the JSON report here")
    p.add_argument(
        "--http", default=None, metavar="HOST:PORT", help="sample the coordinator's /status"
    )
    p.add_argument("--sample-interval", type=float, default=1.0, metavar="S")
    p.add_argument("--no-sample", action="store_true", help="do not sample coordinator stats")
    p.add_argument("--fail-on-error", action="store_true", help="exit 1 if any statement failed")
    d = p.add_argument_group("compare with direct per-shard work")
    d.add_argument("--compare-direct", default=None, metavar="HOST:PORT")
    d.add_argument("--spec", default=None, help="spec file (default: next to the trace)")
    d.add_argument("--direct-user", default=None)
    d.add_argument("--direct-password", default=None)
    d.add_argument("--direct-connections", type=int, default=32)
    d.add_argument("--direct-window", type=int, default=16)
    d.add_argument("--direct-chunk", type=int, default=1000)
    return p


def main_replay(argv: Sequence[str]) -> int:
    """``shardgate replay TRACE ...``; returns the exit status."""
    console = Console()
    err = Console(stderr=True, soft_wrap=True)
    try:
        return _replay(_replay_parser().parse_args(list(argv)), console, err)
    except _UsageError as e:
        err.print(str(e), markup=False, highlight=False)
        return 2
    except (SpecError, TraceFormatError, TargetError, ValueError) as e:
        err.print(f"error: {e}", markup=False, highlight=False)
        return 2


def _replay(args: argparse.Namespace, console: Console, err: Console) -> int:
    from sharding.trace.direct import DirectExecutor, DirectRunner
    from sharding.trace.replay import ReplayError, ReplayOptions, TargetRunner, replay
    from sharding.trace.report import render_comparison, render_report, result_to_dict
    from sharding.trace.sampler import CoordinatorSampler

    options = ReplayOptions(
        speed=args.speed,
        clients=args.clients,
        duration_limit=args.duration_limit,
        query_timeout=args.query_timeout,
        max_outstanding=args.max_outstanding,
    )
    target = _endpoint(args.target, args, "--target")
    http = _endpoint(args.http, args, "--http") if args.http else None
    direct_ep: Endpoint | None = None
    spec: WorkloadSpec | None = None
    if args.compare_direct:
        direct_ep = parse_endpoint(
            args.compare_direct,
            what="--compare-direct",
            allow_remote=args.allow_remote,
            user=args.direct_user if args.direct_user is not None else args.user,
            password=args.direct_password if args.direct_password is not None else args.password,
            database=args.database,
        )
        spec_path = Path(args.spec) if args.spec else spec_path_for(args.trace)
        if not spec_path.is_file():
            raise SpecError(
                f"--compare-direct needs the trace's spec; {spec_path} not found (use --spec)"
            )
        spec = WorkloadSpec.load(spec_path)
    trace = args.trace
    fmt = args.format
    read_trace(trace, fmt)  # fail fast on a missing file or unknown format

    def records() -> Iterator[TraceRecord]:
        return read_trace(trace, fmt)

    def run(title: str, make: Callable[[], Any]) -> dict[str, Any] | None:
        progress = _progress(err)
        task = progress.add_task(title, total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            with progress:
                result = asyncio.run(make()(on_progress))
        except ReplayError as e:
            err.print(f"{title} failed: {e}", markup=False, highlight=False)
            return None
        return result_to_dict(result, trace=str(trace), mode=title)

    def target_replay() -> Any:
        async def go(on_progress: Callable[[int, int], None]) -> Any:
            sampler = (
                None
                if args.no_sample
                else CoordinatorSampler(target, interval=args.sample_interval, http=http)
            )
            return await replay(
                records,
                lambda lane: TargetRunner(target),
                options,
                target=str(target),
                sampler=sampler,
                on_progress=on_progress,
            )

        return go

    def direct_replay() -> Any:
        assert spec is not None and direct_ep is not None

        async def go(on_progress: Callable[[int, int], None]) -> Any:
            ex = DirectExecutor(
                spec,
                direct_ep,
                connections=args.direct_connections,
                window=args.direct_window,
                chunk=args.direct_chunk,
            )
            try:
                await ex.open()
            except Exception as e:
                raise ReplayError(f"cannot open the direct pool to {direct_ep}: {e}") from None
            try:
                runner = DirectRunner(ex)
                return await replay(
                    records,
                    lambda lane: runner,
                    options,
                    target=f"{direct_ep} (direct, per-shard)",
                    on_progress=on_progress,
                )
            finally:
                await ex.aclose()

        return go

    report = run("replay", target_replay)
    if report is None:
        return 1
    render_report(report, console, title="replay")
    status = 1 if args.fail_on_error and report["statements"]["failed"] else 0
    if spec is not None:
        direct = run("direct", direct_replay)
        if direct is None:
            return 1
        render_report(direct, console, title="direct")
        render_comparison(report, direct, console)
        report["direct"] = direct
    if args.json:
        Path(args.json).write_text(
            json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8"
        )
        console.print(f"JSON report written to {args.json}", highlight=False)
    return status


if __name__ == "__main__":  # pragma: no cover — `python -m sharding.trace.cli replay …`
    cmd, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if cmd == "replay":
        sys.exit(main_replay(rest))
    if cmd == "trace":
        sys.exit(main_trace(rest))
    print("usage: python -m sharding.trace.cli {trace|replay} ...", file=sys.stderr)
    sys.exit(2)
