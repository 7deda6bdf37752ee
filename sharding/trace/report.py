"""The replay report: a JSON document and rich tables made from it.

Latencies are in seconds in the JSON and in milliseconds in the tables; ``latency``
counts from each statement's due time (open loop), ``service`` from when it was sent,
``queue`` is the difference (time waiting for its session's connection or for the
outstanding cap). Throughput is successful statements per second of replay; the
steady throughput (:func:`steady_qps`) leaves out the closed loop's first turn.

The tables are rendered from the JSON document only, so a saved ``--json`` file can be
printed again or compared later with the same functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from sharding.trace.replay import COMPLETION_BUCKET, ReplayResult
from sharding.trace.stats import LatencyHistogram

__all__ = ["render_comparison", "render_report", "result_to_dict", "steady_qps"]


def result_to_dict(r: ReplayResult, **meta: Any) -> dict[str, Any]:
    """The JSON report of one replay; ``meta`` (trace path, mode...) is copied in."""
    overall = LatencyHistogram()
    kinds: dict[str, Any] = {}
    for label in sorted(r.kinds):
        ks = r.kinds[label]
        overall.merge(ks.latency)
        kinds[label] = {
            "ok": ks.ok,
            "failed": ks.failed,
            "skipped": ks.skipped,
            "qps": ks.ok / r.elapsed if r.elapsed > 0 else 0.0,
            "latency": ks.latency.summary(),
            "service": ks.service.summary(),
            "queue": ks.queue.summary(),
            "errors": dict(ks.errors),
        }
    errors: dict[str, Any] = {}
    for ks in r.kinds.values():
        for key, n in ks.errors.items():
            e = errors.setdefault(key, {"count": 0, "message": r.error_messages.get(key, "")})
            e["count"] += n
    span = r.trace_span / r.options.speed
    return {
        **meta,
        "target": r.target,
        "options": dataclasses.asdict(r.options),
        "trace": {"statements": r.total, "sessions": r.sessions, "span_s": r.trace_span},
        "lanes": r.lanes,
        "elapsed_s": r.elapsed,
        "stopped_by_limit": r.stopped_by_limit,
        "statements": {
            "dispatched": r.dispatched,
            "ok": r.ok,
            "failed": r.failed,
            "skipped": r.skipped,
            "unfinished": r.unfinished,
            "not_dispatched": r.not_dispatched,
        },
        "throughput_qps": r.ok / r.elapsed if r.elapsed > 0 else 0.0,
        "steady_qps": steady_qps(r.completions, COMPLETION_BUCKET, r.elapsed, r.lanes),
        "completions": {"bucket_s": COMPLETION_BUCKET, "counts": list(r.completions)},
        "play": {"started_unix": r.play_started_unix, "client_cpu_s": round(r.play_cpu_s, 3)},
        "offered_qps": r.total / span if span > 0 else None,
        "dispatch": {"capped": r.capped, "max_lag_s": r.max_dispatch_lag},
        "latency": overall.summary(),
        "kinds": kinds,
        "errors": errors,
        "coordinator": r.samples,
    }


def steady_qps(counts: Sequence[int], bucket: float, elapsed: float, lanes: int) -> float | None:
    """Statements answered per second once every connection has had one answer, on
    average: ``counts`` per ``bucket`` seconds are skipped until they add up to
    ``lanes`` (the closed loop's first turn, in which nothing can be answered yet
    but the first statements: N clients over a server answering X per second wait
    about N / X seconds for their first answers), and the rest of the ``elapsed``
    window is read. None when that first turn took more than half the window (the
    window is too short to tell a sustained rate)."""
    seen = 0
    start = 0
    while start < len(counts) and seen < lanes:
        seen += counts[start]
        start += 1
    window = elapsed - start * bucket
    if lanes <= 0 or window <= 0 or window < elapsed / 2:
        return None
    return sum(counts[start:]) / window


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def render_report(report: Mapping[str, Any], console: Console, *, title: str = "replay") -> None:
    """Print the tables of one JSON report."""
    st = report["statements"]
    offered = report.get("offered_qps")
    console.print(
        f"[bold]{title}[/bold] → {report['target']}: {report['trace']['statements']} statements, "
        f"{report['trace']['sessions']} sessions on {report['lanes']} connections, "
        f"{report['elapsed_s']:.2f} s, {report['throughput_qps']:.1f} ok/s"
        + (f" (offered {offered:.1f}/s)" if offered else " (offered: all at t=0)")
    )
    console.print(
        f"ok {st['ok']}  failed {st['failed']}  skipped {st['skipped']}  "
        f"unfinished {st['unfinished']}  not dispatched {st['not_dispatched']}  "
        f"capped arrivals {report['dispatch']['capped']}  "
        f"max dispatch lag {_ms(report['dispatch']['max_lag_s'])} ms"
        + ("  [yellow](stopped by --duration-limit)[/yellow]" if report["stopped_by_limit"] else "")
    )
    t = Table(title=f"{title}: latency from due time (ms)")
    for col in ("kind", "ok", "failed", "ok/s", "p50", "p95", "p99", "max", "queue p99"):
        t.add_column(col, justify="left" if col == "kind" else "right")
    for label, k in report["kinds"].items():
        lat = k["latency"]
        t.add_row(
            label,
            str(k["ok"]),
            str(k["failed"]),
            f"{k['qps']:.1f}",
            _ms(lat["p50"]),
            _ms(lat["p95"]),
            _ms(lat["p99"]),
            _ms(lat["max"]),
            _ms(k["queue"]["p99"]),
        )
    console.print(t)
    if report["errors"]:
        e = Table(title=f"{title}: errors by code")
        e.add_column("code")
        e.add_column("count", justify="right")
        e.add_column("first message")
        for code, info in sorted(report["errors"].items()):
            e.add_row(code, str(info["count"]), info["message"][:100])
        console.print(e)
    _render_coordinator(report.get("coordinator") or {}, console, title)


def _render_coordinator(samples: Mapping[str, Any], console: Console, title: str) -> None:
    if not samples:
        return
    shown = False
    for source in ("thread_pool_status", "datasources"):
        info = samples.get(source)
        if not info:
            continue
        shown = True
        t = Table(
            title=f"{title}: {source} ({info['rows']} rows, {samples['count']} samples; sums over rows)"
        )
        t.add_column("column")
        t.add_column("peak", justify="right")
        t.add_column("last", justify="right")
        for col, v in info["columns"].items():
            t.add_row(col, f"{v['peak']:g}", f"{v['last']:g}")
        console.print(t)
    http = sum(1 for s in samples.get("samples", []) if "http" in s)
    if http:
        shown = True
        console.print(f"{title}: {http} /status samples (in the JSON report)")
    for source, why in samples.get("unsupported", {}).items():
        console.print(f"[dim]{title}: target does not answer {source}: {why}[/dim]")
    if not shown and not samples.get("unsupported"):
        console.print(f"[dim]{title}: no coordinator samples[/dim]")


def render_comparison(
    target: Mapping[str, Any], direct: Mapping[str, Any], console: Console
) -> None:
    """Side by side: shardgate (or whatever the target is) vs the direct per-shard run."""
    t = Table(title="target vs direct per-shard work (latency ms from due time)")
    for col in (
        "kind",
        "target p50",
        "direct p50",
        "target p99",
        "direct p99",
        "p99 ratio",
        "target ok/s",
        "direct ok/s",
    ):
        t.add_column(col, justify="left" if col == "kind" else "right")
    labels = list(dict.fromkeys([*target["kinds"], *direct["kinds"]]))
    for label in labels:
        a = target["kinds"].get(label)
        b = direct["kinds"].get(label)
        a_p99 = a["latency"]["p99"] if a else None
        b_p99 = b["latency"]["p99"] if b and b["ok"] else None
        ratio = f"{a_p99 / b_p99:.2f}×" if a_p99 and b_p99 else "-"
        t.add_row(
            label,
            _ms(a["latency"]["p50"]) if a else "-",
            _ms(b["latency"]["p50"]) if b and b["ok"] else "-",
            _ms(a_p99) if a_p99 is not None else "-",
            _ms(b_p99) if b_p99 is not None else "-",
            ratio,
            f"{a['qps']:.1f}" if a else "-",
            f"{b['qps']:.1f}" if b else "-",
        )
    console.print(t)
    skipped = direct["statements"]["skipped"]
    if skipped:
        console.print(
            f"[dim]direct: {skipped} statements had no per-shard rendering (no generator "
            "params) and were skipped[/dim]"
        )
