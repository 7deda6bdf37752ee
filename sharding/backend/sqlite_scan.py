"""Cheap text views of a SQLite shard statement, for the rewrites' text filters.

The SQLite rewrites (:mod:`sharding.backend.sqlite_arithmetic`,
:mod:`sharding.backend.sqlite_decimal_results`) first look at a statement's text with
regular expressions to decide whether it needs parsing at all. Python's ``re`` holds
the GIL for the whole of one search, so on a statement of megabytes (a 10 MB INSERT,
an IN list of 100,000 values) each search froze the coordinator's event loop for tens
to hundreds of milliseconds — every other client waited (issue 12, item 4). These
views keep what the filters look for and drop the bulk they never match:

* :func:`mask_strings`: each string literal as ``''`` (a shard statement's strings are
  SQLite's, whose only escape is a doubled quote: split and join, no regex);
* :func:`shrink_lists`: an ``IN (…)`` list of plain integers (at most 18 digits, no
  fraction or exponent: no DOUBLE, no overflow, no call) or plain strings cut to its
  first value.

Written by hand: the views are specific to what the filters test; no library offers
them. Only for the filters — a statement that needs rewriting is rewritten from its
full text.
"""

from __future__ import annotations

import re

_PLAIN = r"(?:-?\d{1,18}(?![\d.eE])|'[^']*+(?:''[^']*+)*+')"
#: ``IN (v1, v2, …)`` of nine or more plain values (possessive: linear in the text).
_LONG_LIST = re.compile(rf"\bIN\s*+\(\s*+({_PLAIN})(?:\s*+,\s*+{_PLAIN}){{8,}}+\s*+\)", re.I)
#: Below this length a statement is its own view (the searches are cheap).
SMALL = 4096


def mask_strings(sql: str) -> str:
    """``sql`` with each string literal as ``''`` (SQLite quoting: ``''`` escapes)."""
    if "'" not in sql:
        return sql
    # The pieces between quotes alternate outside/inside; an escape's empty piece
    # counts as outside, harmlessly (it is empty).
    return "''".join(sql.split("'")[0::2])


def shrink_lists(sql: str) -> str:
    """``sql`` with each long ``IN`` list of plain values cut to its first value."""
    # Substring tests first: the regex's ``\b`` defeats ``re``'s literal scan, which
    # cost ~60 ms on a 2.5 MB INSERT (shard statements are rendered ``IN (``).
    if len(sql) < SMALL or ("IN (" not in sql and "in (" not in sql):
        return sql
    return _LONG_LIST.sub(r"IN (\1)", sql)
