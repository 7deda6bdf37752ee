"""A statement prepared for one call: its plan bound to the call's values.

What every part of a session's statement handling shares (:mod:`sharding.session`
prepares, :mod:`sharding.session_reads` / :mod:`sharding.session_writes` /
:mod:`sharding.session_explain` run or explain): :class:`Prepared` (a plan, the call's
slots, their values and their SQL texts), :func:`render_name` (the column name MySQL
sends for this call) and :func:`session_refs` (whether a text reads session variables
or functions, so must be planned with them substituted and never cached). A leaf: it
imports none of the session modules.

Invariants: ``Prepared.values`` and ``Prepared.texts`` are parallel to ``slots``;
``session_refs`` is a function of the text alone (its result may be cached by text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sharding.session_state import has_session_refs
from sharding.sql.dml import WritePlan
from sharding.sql.lexer import Slot
from sharding.sql.names import finish_name
from sharding.sql.nodes import OutputColumn, SelectPlan

if TYPE_CHECKING:
    from sharding.exec.targets import Routes

#: The plan a :class:`Prepared` holds: a SELECT's or an UPDATE/DELETE's.
PlanT = TypeVar("PlanT", bound=SelectPlan | WritePlan)


#: Words a session-function reference must contain. ``has_session_refs``' regex holds
#: the GIL ~0.1 s per MB (a worker thread does not help); a substring test per word is
#: ~1 ms per MB, so a statement mentioning none of them skips it (issue 12 item 4; a
#: short one saves ~2 µs per statement the same way, issue 16).
_SESSION_WORDS = (
    "database",
    "schema",
    "version",
    "connection_id",
    "user",
    "last_insert_id",
    "row_count",
    "found_rows",
)


class Prepared(Generic[PlanT]):
    """A plan bound to one call's values (``Generic`` adds nothing to construction:
    no ``__new__`` of its own)."""

    __slots__ = ("plan", "routes", "slots", "texts", "values")

    def __init__(
        self, plan: PlanT, slots: Sequence[Slot], values: list[Any], texts: list[str]
    ) -> None:
        self.plan: PlanT = plan
        self.slots = slots
        self.values = values
        self.texts = texts
        #: The shards each read of the plan visits for these values, by ``id(read)``:
        #: routed once per call (the lean-path check, the refusal check and the run
        #: each asked again), filled by :func:`~sharding.exec.targets.route_shards`.
        self.routes: Routes = {}


def render_name(col: OutputColumn, slots: Sequence[Slot]) -> str:
    """The column name MySQL would send for this call (:mod:`sharding.sql.names`)."""
    out = col.name
    for offset, slot in sorted(col.slot_positions, reverse=True):
        s = slots[slot]
        if s.param is not None:
            text = "?"
        elif col.literal and s.is_string:
            text = str(s.value)
        else:
            text = s.raw
        out = out[:offset] + text + out[offset + 1 :]
    return finish_name(out)


def session_refs(sql: str) -> bool:
    """Whether ``sql`` refers to a user variable or a session function."""
    # The substring test first at every size: on a short statement too it costs a
    # fraction of the regex, which scans the whole text at every position.
    if "@" not in sql:
        lower = sql.lower()
        if not any(w in lower for w in _SESSION_WORDS):
            return False
    return has_session_refs(sql)
