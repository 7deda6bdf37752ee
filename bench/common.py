"""What every benchmark shares: machine description, results files, tables, plots.

Each benchmark compares against a baseline measured in the same run and reports the
ratio; absolute numbers depend on the machine, which is recorded next to them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

#: Where results go; tests point SHARDGATE_BENCH_RESULTS at a temporary directory.
RESULTS = Path(
    os.environ.get("SHARDGATE_BENCH_RESULTS") or Path(__file__).resolve().parent / "results"
)
console = Console()


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["memory_kb"] = int(f.readline().split()[1])
    except OSError:
        pass
    try:
        info["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        pass
    return info


def write_results(name: str, data: dict[str, Any], module: str | None = None) -> Path:
    """Write ``bench/results/<name>.json`` with the command line (of ``bench.<module>``,
    by default ``bench.<name>``) and machine."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "command": " ".join(
            [Path(sys.executable).name, "-m", f"bench.{module or name}", *sys.argv[1:]]
        ),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    console.print(
        f"[dim]wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}[/dim]"
    )
    return path


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column not in (columns[0],) else "left")
    for row in rows:
        table.add_row(*[_fmt(v) for v in row])
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def save_plot(name: str, draw: Callable[[Any], None]) -> Path | None:
    """Draw with matplotlib (Agg) into ``bench/results/<name>.png``; None if unavailable."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the bench extra is not installed
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    draw(ax)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def publish(name: str, data: dict[str, Any], draw: Callable[[Any], None]) -> dict[str, Any]:
    """Save the plot and the results file of one benchmark run; returns ``data``."""
    save_plot(name, draw)
    write_results(name, data)
    return data


def run_json_child(cmd: list[str], *, what: str, timeout: float, **popen: Any) -> dict[str, Any]:
    """Run a helper process whose last stdout line is a JSON object; return that object.

    Fails with the child's stderr tail. ``popen`` goes to :func:`subprocess.run` (cwd,
    env, preexec_fn)."""
    import subprocess

    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, **popen
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
