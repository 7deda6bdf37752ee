"""ENUM columns in multi-shard plans: they sort by index, not by text.

MySQL orders (ORDER BY, GROUP BY's implicit order) an ENUM column by the index of its
value in the column definition — ``ENUM('small','medium','large')`` sorts ``small <
medium < large`` — while comparisons with strings, MIN/MAX and DISTINCT/GROUP BY
equality use the label (measured against MariaDB 10.11). A merge that compared the
labels would interleave the shards' index-ordered streams wrongly: groups split,
DISTINCT repeats values, ORDER BY mis-orders, and a keyset continuation ``size >
'medium'`` (a *label* comparison) skips rows.

So wherever a shard read is ordered by an ENUM column, the plan also selects the
index, ``col + 0`` (an integer), and merges and continues on that hidden column:
``ORDER BY`` the index is the same order the shard uses for the column, and ``col + 0
> 2`` continues by index. Above the merge (a Sort over aggregated rows) the sort key
maps labels to indexes (:class:`~sharding.merge.semantics.SortItem` ``enum``).
The labels come from the catalog's column type.
"""

from __future__ import annotations

import re

from sqlglot import exp

from sharding.sql.scope import Scope

#: Key of the labels on a planner's ENUM column node (sharding.backend.sqlite_mysql).
ENUM_META = "sg_enum"

_ENUM = re.compile(r"\s*enum\s*\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_LABEL = re.compile(r"\s*'((?:[^'\\]|\\.|'')*)'\s*(,|$)", re.DOTALL)


def enum_labels(type_text: str | None) -> tuple[str, ...] | None:
    """The labels of an ``ENUM('a','b',...)`` column type, None for other types."""
    if not type_text:
        return None
    m = _ENUM.match(type_text)
    if m is None:
        return None
    body = m.group(1)
    labels: list[str] = []
    pos = 0
    while pos < len(body):
        lm = _LABEL.match(body, pos)
        if lm is None:
            return None  # not a list of quoted labels: treat as unknown
        labels.append(lm.group(1).replace("''", "'").replace("\\'", "'").replace("\\\\", "\\"))
        pos = lm.end()
        if not lm.group(2):
            break
    return tuple(labels) if labels else None


def column_enum(node: exp.Expr, scope: Scope) -> tuple[str, ...] | None:
    """The labels when ``node`` is (a parenthesised) ENUM column, else None."""
    while isinstance(node, exp.Paren):
        node = node.this
    if not isinstance(node, exp.Column):
        return None
    found = scope.column_ref(node)
    if found is None or found[1] is None:
        return None
    labels = enum_labels(found[1].type)
    if labels is not None:
        # The embedded SQLite default stores the label: its ``(col) + 0`` needs the
        # labels to give the index (sharding.backend.sqlite_mysql, ENUM_META); meta is
        # copied with the node into enum_index's expression.
        node.meta[ENUM_META] = labels
    return labels


def enum_index(node: exp.Expr) -> exp.Expr:
    """``node + 0``: the ENUM value's index as an integer (NULL stays NULL)."""
    return exp.Add(this=exp.Paren(this=node.copy()), expression=exp.Literal.number(0))
