"""The session pin of every MariaDB/MySQL backend connection (see :mod:`.mysql`,
"Session pin"): character set and collation, the ``sql_mode`` a backend session runs
under, and the flags that must never be set because they change how text is read."""

from __future__ import annotations

#: Collation of every database the backend creates (the merge's default collation),
#: and the connection collation every backend session is pinned to.
DEFAULT_COLLATION = "utf8mb4_general_ci"
#: The ``sql_mode`` every backend session runs under (module docstring, "Session pin").
BACKEND_SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
#: sql_mode flags that change how statement text is read (or what a literal means), so a
#: backend session must never have them: the coordinator reads text MySQL's default way.
#: The combination modes are listed too (``ANSI`` implies ANSI_QUOTES and
#: PIPES_AS_CONCAT; ``ORACLE``/``MSSQL``/... change the grammar).
PARSE_MODES = frozenset(
    {
        "NO_BACKSLASH_ESCAPES",
        "ANSI_QUOTES",
        "PIPES_AS_CONCAT",
        "IGNORE_SPACE",
        "HIGH_NOT_PRECEDENCE",
        "EMPTY_STRING_IS_NULL",
        "REAL_AS_FLOAT",
        "ANSI",
        "ORACLE",
        "MSSQL",
        "DB2",
        "POSTGRESQL",
        "MAXDB",
        "MYSQL323",
        "MYSQL40",
    }
)


def backend_sql_mode(requested: str) -> str:
    """``requested`` (a session's sql_mode) without the flags in :data:`PARSE_MODES`:
    the value to set on a backend connection for that session."""
    flags = [f.strip().upper() for f in requested.split(",")]
    return ",".join(f for f in flags if f and f not in PARSE_MODES)


def session_init_sql(max_statement_time: float | None = None) -> str:
    """The one statement that pins a new backend session (module docstring): character
    set and collation, :data:`BACKEND_SQL_MODE`, and the optional server-side statement
    time limit. One ``SET`` with several assignments, because the connection does not
    accept multi-statements."""
    assignments = [
        f"NAMES utf8mb4 COLLATE {DEFAULT_COLLATION}",
        f"SESSION sql_mode = '{backend_sql_mode(BACKEND_SQL_MODE)}'",
    ]
    if max_statement_time is not None:
        assignments.append(f"SESSION max_statement_time = {float(max_statement_time)!r}")
    return "SET " + ", ".join(assignments)
