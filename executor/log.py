"""structlog configuration, done once per process.

Console rendering when stderr is a terminal, JSON lines otherwise (so CI logs and
``shardgate serve`` under a supervisor are machine-readable). Context variables bound
with :func:`structlog.contextvars.bind_contextvars` — the executor binds ``query_id``,
``query`` and ``bucket`` for every logical query — are merged into every event, and
trio copies the context into each child task and worker thread, so every child's log
line carries the id of the query it belongs to.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

_configured = False


def configure_logging(*, json: bool | None = None, level: str | int | None = None) -> None:
    """Configure structlog for the process. Later calls only change nothing.

    ``json=None`` picks JSON unless stderr is a TTY. ``level`` defaults to
    ``$SHARDGATE_LOG_LEVEL`` or INFO.
    """
    global _configured
    if _configured:
        return
    _configured = True
    if level is None:
        level = os.environ.get("SHARDGATE_LOG_LEVEL", "INFO")
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.INFO
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        # Not cached: tests swap processors with structlog.testing.capture_logs().
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger tagged with ``component=name``.

    A lazy proxy: it assembles itself from the configuration current at each call (a
    ``.bind()`` at import time would freeze whatever configuration existed then).
    """
    return structlog.get_logger(component=name)
