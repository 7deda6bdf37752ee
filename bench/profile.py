"""Sampling profiles of a running server process with py-spy, and their summary.

A benchmark that misses its goal says why with a profile: :class:`Profiler` attaches
``py-spy record`` to a process (the ``shardgate serve`` subprocess) for the span of a
``with`` block and writes collapsed stacks (``raw`` format: one ``frame;frame;… count``
line per distinct stack, loadable by speedscope or flamegraph.pl);
:func:`summarize` turns that file into the top frames by own and by inclusive
samples, which the benchmarks store in their JSON.

py-spy is optional: without it (or without ptrace permission) the profiler records
why it could not run and the benchmark goes on unprofiled.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Profiler:
    """``with Profiler(pid, out): ...`` samples ``pid`` while the block runs.

    ``idle=True`` also counts threads waiting in the kernel (wall-clock view)."""

    def __init__(self, pid: int, out: Path, *, rate: int = 200, idle: bool = False) -> None:
        self.pid = pid
        self.out = out
        self.rate = rate
        self.idle = idle
        self.error: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        exe = py_spy()
        if exe is None:
            self.error = "py-spy not installed"
            return self
        self.out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            exe,
            "record",
            "--pid",
            str(self.pid),
            "--format",
            "raw",
            "-o",
            str(self.out),
            "--rate",
            str(self.rate),
            "--threads",
            "--nonblocking",
        ]
        if self.idle:
            cmd.append("--idle")
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not self.out.exists():
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            self.error = f"py-spy wrote nothing: {err.strip()[-500:]}"
        if proc.stderr:
            proc.stderr.close()


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    """Top frames of a collapsed-stack file: share of samples spent *in* each frame
    (self) and *under* it (inclusive); thread-name frames are left out."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"samples": 0, "self": [], "inclusive": []}
    for line in lines:
        stack, _, n = line.rstrip().rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(n / total, 4)) for f, n in c.most_common(top)] if total else []

    return {"samples": total, "file": str(path), "self": share(own), "inclusive": share(incl)}
