"""The lean path of a cached one-shard SELECT sent as text (issue 16).

A point query such as ``SELECT c FROM sbtest1 WHERE id = 5123`` took the whole
statement path: the protocol server's checks (versioned comments, the first word,
admin statements, the session's local answers), then the session's (its
``information_schema`` answer, ``SQL_CALC_FOUND_ROWS``, variables, session functions),
each a scan of the text, and a coroutine layer each. :func:`lean_select` decides
with the one scan every statement needs (:func:`~sharding.sql.fast_normalize.
fast_normalize`) and one plan-cache lookup whether the text is a read the plan cache
already holds that runs whole on one shard for its values; if so, the statement runs
through the session's own lifecycle (``CoordinatorSession._statement``: busy and
closed checks, the cancel scope of ``KILL QUERY``, error mapping, a doomed
transaction's handling, ROW_COUNT()/FOUND_ROWS()/diagnostics, the statement log) and
:func:`run_lean_select` runs it as ``select_statement`` would: the implicit
transaction of ``autocommit = 0``, the one-shard run (:func:`~sharding.session_reads.
_run_one_shard`: one executor query of one child, same bucket, slot and watchdog) and
the shards' warnings. Anything else returns None and takes the full path.

Why this is the full path's answer, check by check. ``fast_normalize`` takes only an
ASCII text without quotes, backquotes or comments, so the text is identifiers,
numbers, punctuation and white space; every check of the full path that reads the
text therefore depends on the normalised text (the numbers spell no word), which the
cached plan was made from, and the checks that could answer differently are made
here, on this text:

* protocol server: one statement (no ``;``), no versioned comment (no ``/*``), first
  word ``SELECT`` (not ``LOAD``), not an admin statement (``is_admin_statement``,
  checked by the caller); the session's local answer (``answer_select``) answers only
  a SELECT without ``FROM``, and a plan that reads a table has one;
* session: not closed, not busy (those raise on the full path), no doomed
  transaction, current database not ``information_schema``, no mention of
  ``information_schema``, no ``SQL_CALC_FOUND_ROWS``, no variable or session function
  (``session_refs``), no placeholder, fewer literals than an IN list is folded at
  (``FOLD_MIN``), not a big statement (those are planned in a thread);
* the plan: the plan cache's entry for this text, database, catalog generation and the
  values the plan depends on — the very lookup ``_prepare`` makes — and
  :func:`~sharding.session_reads.one_shard` for these values.

Equivalence is checked by running statements both ways and comparing what the client
receives and the session state after them (``tests/fidelity/test_lean_select.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sharding.api import Result
from sharding.exec.run import ExecStats
from sharding.result_stream import Counted
from sharding.session_prepared import Prepared, session_refs
from sharding.session_reads import (
    MENTIONS_INFORMATION_SCHEMA,
    OneShard,
    _run_one_shard,
    one_shard,
    record_shard_warnings,
)
from sharding.sql.fast_normalize import fast_normalize
from sharding.sql.inlist import FOLD_MIN
from sharding.sql.lexer import without_calc_found_rows
from sharding.sql.nodes import SelectPlan
from sharding.sql.offload import is_big

if TYPE_CHECKING:
    from sharding.session import CoordinatorSession

__all__ = ["LeanSelect", "lean_select", "run_lean_select"]


@dataclass(slots=True, frozen=True)
class LeanSelect:
    """A text SELECT found to be a cached one-shard read: its plan bound to the
    call's values, and the read with its one shard."""

    prepared: Prepared[SelectPlan]
    one: OneShard


def lean_select(session: CoordinatorSession, sql: str) -> LeanSelect | None:
    """``sql`` (a COM_QUERY text, one statement) as a :class:`LeanSelect`, or None
    when it takes the full path (module docstring). Changes nothing."""
    if (
        session._closed
        or session._busy
        or session._doomed is not None
        or session._database == "information_schema"
    ):
        return None
    try:
        return _lean(session, sql)
    except Exception:  # the full path raises it, as the statement's error (1367, ...)
        return None


def _lean(session: CoordinatorSession, sql: str) -> LeanSelect | None:
    norm = fast_normalize(sql)  # raises for a number past DOUBLE (1e309)
    if (
        norm is None
        or norm.keyword != "SELECT"
        or norm.param_count
        or len(norm.slots) >= FOLD_MIN
        or is_big(len(sql))
        or MENTIONS_INFORMATION_SCHEMA.search(sql) is not None
        or without_calc_found_rows(sql) is not None
        or session_refs(sql)
    ):
        return None
    coord = session.coord
    values = session._values(norm.slots, None)
    plan = coord.plan_cache.get(
        (norm.text, session._database), values, coord.catalog.generation, counted=False
    )
    if not isinstance(plan, SelectPlan):
        return None
    prepared = Prepared(plan, norm.slots, values, session._texts(norm.slots, values))
    one = one_shard(prepared, coord.semantics)
    if one is None:
        return None
    coord.plan_cache.count_hit()
    return LeanSelect(prepared, one)


async def run_lean_select(
    session: CoordinatorSession, lean: LeanSelect, sink: Counted, stats: ExecStats
) -> Result:
    """What ``select_statement`` does for a statement :func:`lean_select` took, inside
    the session's ``_statement``."""
    if not session._autocommit and session._txn is None:
        await session._ensure_implicit_txn()
    columns = await _run_one_shard(session, lean.prepared, lean.one, sink, stats)
    record_shard_warnings(session, stats)
    return Result(columns=columns, warnings=stats.warnings)
