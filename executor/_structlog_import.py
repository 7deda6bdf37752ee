"""Import structlog without letting it import rich: ~90 ms of start-up, for nothing.

``structlog.dev`` imports rich (when it is installed, and it is: the trace CLI draws its
progress and reports with it) at import time, only to pick the default exception
formatter of its console renderer. That import was ~90 ms of CPU — about a tenth of
``shardgate serve``'s start-up (``bench/serve_startup.py``) — for a formatter the
server uses only when it logs an exception. Imported first by both packages, this
module makes the process's first ``import structlog`` see rich as absent; structlog
then formats exceptions as plain tracebacks. Rich itself stays importable afterwards
(nothing is cached: the import system's ``None`` entry is removed again).

When structlog or rich was already imported (an application that imports them before
this package), nothing changes.
"""

from __future__ import annotations

import sys

if "structlog" not in sys.modules and "rich" not in sys.modules:
    sys.modules["rich"] = None  # type: ignore[assignment]  # "import rich" → ImportError
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]
