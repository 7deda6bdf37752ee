"""Argument types for the benchmarks' command lines: bad values are refused by argparse
with one clear line (exit status 2), never turned into a crash half-way through a run."""

from __future__ import annotations

import argparse
import itertools


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def int_list(text: str) -> list[int]:
    """``"1,4,16"`` → ``[1, 4, 16]``: positive, strictly ascending."""
    values = [positive_int(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected a comma-separated list such as 1,16,256")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise argparse.ArgumentTypeError(f"levels must be strictly ascending, got {text!r}")
    return values


def command_line(module: str, argv: list[str] | None = None) -> str:
    """The command that reproduces this run, for the results file
    (``bench.common.write_results`` names the results file, not the module)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", "-m", module, *args])
