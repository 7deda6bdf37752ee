"""The data-source stage (issue 17): each data source merges its own shards' rows.

A scatter over 1024 shards on one server used to pull every shard's rows (all 204,800
of them for ``ORDER BY k LIMIT 5 OFFSET 1000``, every shard's partial groups for a
GROUP BY) and merge them in Python. The batch layer already sends a data source's shard
reads as one ``UNION ALL`` statement; this stage wraps that union in an outer query that
does the *same merge* the coordinator would do next, so the server merges its own shards
and only a few rows per statement cross the wire::

    WITH _sg_parts (c1, …, ck) AS (
        (SELECT … FROM shard_0000.t WHERE <keyset> ORDER BY … LIMIT n) UNION ALL
        (SELECT … FROM shard_0001.t WHERE <keyset> ORDER BY … LIMIT n) UNION ALL …)
    SELECT <merge of c1…ck> FROM _sg_parts [GROUP BY …] [ORDER BY …] LIMIT n

The outer query's result has the shard statement's shape — the same columns in the same
order — so everything above (the cross-source ``MergeSort``, the aggregate merge of
partials, keyset continuation) is unchanged: it merges N statements' rows instead of
1024 shards'. It is one more level of the same plan tree (:class:`SourceStage` hangs
under a ``MergeSortNode``/``ConcatNode``), shown by EXPLAIN and pinned by golden plans.

Exactness: the outer query must give MariaDB's own answer, so a stage is built only
for merges MariaDB computes exactly the way the coordinator would:

* **rows** (top-N, OFFSET: an ordered row read with a LIMIT): ``ORDER BY`` the shard order's
  positions (the same ORDER BY text the shard statements end with, over columns that
  keep their types and collations), ``LIMIT n``. Keyset continuation stays exact: every
  row of the first ``n`` in merged order is among the first ``n`` of its own shard.
* **partial aggregates**: ``GROUP BY`` the group columns (the same groups, compared
  under the columns' own collations), COUNT partials summed (cast back to an integer),
  SUM/MIN/MAX/BIT_* partials combined with the same function (a SUM's outer type is
  the same DECIMAL a shard's SUM has, or wider). The same keyset argument
  makes a grouped stage with ``LIMIT n`` return complete groups.
* **a text group's first row**: where equal texts ('paid', 'Paid', 'paid ') make one
  group, MariaDB shows the group's first row in primary-key order, and every partial
  carries ``MIN(pk)`` (``sharding.sql.aggregate_plan._first_row``). ``GROUP BY`` over
  the union would show whichever part it met first, so the stage numbers each group's
  parts by that column instead (``ROW_NUMBER() OVER (PARTITION BY <groups> ORDER BY
  <MIN(pk)>)``), keeps the first, and combines the other partials over the same
  partition (``SUM(c) OVER (…)``: MariaDB's window aggregates are its aggregate
  functions, with the same result types). Only COUNT, and SUM, MIN and MAX of an
  integer or DECIMAL (a text MIN among equal texts shows the one its parts meet first,
  which the window's own sort would decide).

* **first round** of a row read without a LIMIT (a scan, ordered or not): a stage for
  every chunk would make each continuation read ``chunk`` rows from each shard again to
  return ``chunk`` of them (``bench.memory``: a 1024-shard ordered scan took 5× longer
  so). So only the *first* chunk is merged by the data source: ``ORDER BY`` the shard
  order (none for an unordered read), ``LIMIT chunk``. Fewer rows than that
  means the data source's shards are exhausted — the common small scatter (sysbench's
  ranges) is one statement per data source. A full chunk is dropped (the server
  evaluated more rows than it returned: continuing after it would repeat warnings) and
  each shard is read as without a stage (:mod:`sharding.exec.first_round`): one
  dropped round at most.

Not pushed down (the reason is kept for EXPLAIN): a sort-merge join input (read whole,
so a stage would re-read every shard's chunk per continuation), a SUM/AVG whose argument is not an
exact number (DOUBLE, FLOAT, text converted to DOUBLE: the order of additions decides
the last digits), a quotient's exact-digits SUM, a DOUBLE column's ``VAR_POP`` partial, SQLite shards (one process
already), locking reads, window functions, and any shard column the stage cannot
classify. Whether a call really pushes down is decided when it runs
(:mod:`sharding.exec.source`): only MariaDB data sources with several shards of the
read, and only where the batch layer batches.

Why hand-written: sqlglot could build the outer query, but the parts are the shard
templates' own rendered text (bound per call, keyset predicate filled per chunk); the
wrapper is a few fixed strings around them, rendered once here at plan time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlglot import exp

from sharding.sql.reads import ShardOrder, order_by_positions
from sharding.sql.scope import Scope
from sharding.sql.shard_dialect import shard_dialect

__all__ = ["UNBOUNDED", "SourceStage", "aggregate_stage", "order_kept", "rows_stage"]

#: Why a join input (read whole, sorted by its join key) has no rows stage.
UNBOUNDED = (
    "no LIMIT: a stage would re-read every shard's chunk on each continuation; "
    "the shards' rows stream keyset-chunked"
)

#: The CTE holding a data source's shard parts; its columns are ``c1``…``ck``.
CTE = "_sg_parts"

#: The window column numbering a group's parts, and the derived table holding it.
FIRST = "_sg_first"
GROUPS = "_sg_groups"

#: (position, desc, nulls_first) of a shard statement's ORDER BY.
Order = Sequence[ShardOrder]


@dataclass(frozen=True)
class SourceStage:
    """How one data source merges the parts of a read (module docstring).

    ``select`` are the outer query's items over ``c1``…``ck`` (one per shard column, in
    the shard statement's order); ``group`` its GROUP BY text (empty: none); ``order``
    its ORDER BY text (empty: none). ``kind`` is ``rows`` or ``aggregate``.
    ``first_round``: a row read without a LIMIT — only its first chunk is merged by the
    data source; a full one is dropped and each shard read on its own
    (:mod:`sharding.exec.first_round`).
    """

    kind: str
    width: int
    select: tuple[str, ...]
    group: str = ""
    order: str = ""
    first_round: bool = False
    #: A text group's first row (module docstring): the ``PARTITION BY`` list and the
    #: ``MIN(pk)`` column that orders each partition; ``select`` is then the window
    #: items (each ``… AS c<i>``). Empty: a plain ``GROUP BY`` (``group``).
    partition: str = ""
    first_by: str = ""

    def render(self, parts: Sequence[str], limit: int) -> str:
        """The statement one data source runs for ``parts`` (each a complete shard
        statement ending with its own ``LIMIT``)."""
        columns = ", ".join(f"c{i + 1}" for i in range(self.width))
        union = " UNION ALL ".join(f"({p})" for p in parts)
        tail = f"{self.group}{self.order} LIMIT {limit}"
        if self.first_by:
            numbered = (
                f"SELECT {', '.join(self.select)}, ROW_NUMBER() OVER (PARTITION BY "
                f"{self.partition} ORDER BY {self.first_by}) AS {FIRST} FROM {CTE}"
            )
            return (
                f"WITH {CTE} ({columns}) AS ({union}) SELECT {columns} FROM ({numbered}) "
                f"AS {GROUPS} WHERE {FIRST} = 1{tail}"
            )
        return (
            f"WITH {CTE} ({columns}) AS ({union}) SELECT {', '.join(self.select)} FROM {CTE}{tail}"
        )

    def describe(self) -> str:
        """One line for EXPLAIN."""
        what = "ORDER BY … LIMIT over its shards' rows"
        if self.first_round:
            what = "first chunk only (a full one is dropped and each shard read on its own)"
        if self.kind == "aggregate":
            what = "partial aggregates re-aggregated" + (" per group" if self.group else "")
        text = f"SELECT {', '.join(self.select)} FROM <UNION ALL of its shards>"
        if self.first_by:
            what = (
                "partial aggregates re-aggregated per group, showing its part of least primary key"
            )
            text = (
                f"SELECT {', '.join(self.select)} FROM <UNION ALL of its shards> "
                f"WHERE ROW_NUMBER() OVER (PARTITION BY {self.partition} ORDER BY "
                f"{self.first_by}) = 1"
            )
        return f"{what}: {text}{self.group}{self.order}"


def _order_text(order: Order) -> str:
    if not order:
        return ""
    rendered = order_by_positions(order).sql(dialect=shard_dialect("mysql"))
    return " " + rendered.strip()


def rows_stage(width: int, order: Order, *, first_round: bool = False) -> SourceStage:
    """A row read's stage: the shard order, then LIMIT (module docstring); ``first_round``:
    of a read without a LIMIT, for its first chunk only."""
    return SourceStage("rows", width, ("*",), "", _order_text(order), first_round)


def order_kept(exprs: Sequence[exp.Expr], order: Order, scope: Scope) -> str | None:
    """Why ordering the shard columns at ``order`` again above a UNION would not be the
    shards' own order, or None. A UNION's column of ENUM or SET is a VARCHAR: it sorts by
    its text where the shard sorted by the member's number."""
    for pos, _desc, _nulls in order:
        node = exprs[pos]
        while isinstance(node, exp.Paren | exp.Alias):
            node = node.this
        found = scope.column_ref(node) if isinstance(node, exp.Column) else None
        declared = found[1].type if found is not None and found[1] is not None else ""
        if declared.lstrip().lower().startswith(("enum", "set")):
            return "an ENUM or SET sort key sorts by its text above a UNION"
    return None


#: How a partial combines across shards, by the partial's expression class.
_COMBINE: dict[type[exp.Expr], str] = {
    exp.Min: "MIN",
    exp.Max: "MAX",
    exp.BitwiseAndAgg: "BIT_AND",
    exp.BitwiseOrAgg: "BIT_OR",
    exp.BitwiseXorAgg: "BIT_XOR",
}


def aggregate_stage(
    shard_exprs: Sequence[exp.Expr],
    group: Sequence[exp.Expr],
    order: Order,
    exact_number: Callable[[exp.Expr], bool],
    first: int | None = None,
) -> SourceStage | str:
    """A partial aggregation's stage, or why there is none.

    ``shard_exprs`` is the shard statement's select list, ``group`` its GROUP BY
    expressions (every select item is one of them or a partial aggregate);
    ``exact_number(arg)`` says whether MariaDB sums ``arg`` exactly (an integer or
    DECIMAL value: the order of additions does not matter). ``first``: the position of
    the ``MIN(pk)`` partial whose least value picks a text group's shown row (module
    docstring); the stage is then a window over each group's parts."""
    grouped = [any(e is g or e == g for g in group) for e in shard_exprs]
    partition = ", ".join(f"c{i + 1}" for i, is_group in enumerate(grouped) if is_group)
    window = first is not None

    def over(aggregate: str) -> str:
        """``aggregate`` per group, or over the group's window."""
        return f"{aggregate} OVER (PARTITION BY {partition})" if window else aggregate

    def named(item: str, col: str) -> str:
        """A window item is named as its part column (the outer ``SELECT c1, …``)."""
        return f"{item} AS {col}" if window else item

    items: list[str] = []
    for i, (e, is_group) in enumerate(zip(shard_exprs, grouped, strict=True)):
        col = f"c{i + 1}"
        if is_group or i == first:
            items.append(col)
            continue
        if isinstance(e, exp.Count):
            items.append(named(f"CAST({over(f'SUM({col})')} AS SIGNED)", col))
            continue
        summed = _summed(e)
        if summed is not None:
            if not exact_number(summed):
                return (
                    "a SUM of a value not known to be an integer or DECIMAL (floating-point "
                    "additions depend on their order; a literal's type is known per call)"
                )
            items.append(named(over(f"SUM({col})"), col))
            continue
        combine = _COMBINE.get(type(e))
        if combine is None or (window and combine not in ("MIN", "MAX")):
            return f"{e.sql(dialect='mysql')} has no per-data-source merge"
        if window and not exact_number(e.this):
            # Equal texts ('a', 'A'): which one MIN shows follows the order the parts
            # meet in — the coordinator's merge, not the window's partition sort.
            return f"{e.sql(dialect='mysql')} of a value that is not a number, over a window"
        items.append(named(over(f"{combine}({col})"), col))
    if first is not None:
        if not partition:
            return "a text group's first row without group columns"
        return SourceStage(
            "aggregate",
            len(shard_exprs),
            tuple(items),
            order=_order_text(order),
            partition=partition,
            first_by=f"c{first + 1}",
        )
    group_text = f" GROUP BY {partition}" if partition else ""
    return SourceStage("aggregate", len(shard_exprs), tuple(items), group_text, _order_text(order))


def _summed(e: exp.Expr) -> exp.Expr | None:
    """The argument of a SUM partial ``SUM(x)``. Not the exact-sum form ``SUM(x) +
    CAST(0 AS DECIMAL(65, 38))`` of a quotient: re-added as DECIMAL(65, 38) it would
    clip above 10**27, where MariaDB's own SUM(x) has its own, wider type."""
    if isinstance(e, exp.Sum):
        inner: exp.Expr = e.this
        return inner
    return None
