"""EXPLAIN of a session's statements: what would run, where, and how it would commit.

:func:`explain_statement` answers ``EXPLAIN`` (:mod:`sharding.introspection`) and
:meth:`Coordinator.explain`: a SELECT's plan bound to this call's shards and chunk
sizes (:func:`sharding.exec.explain.explain_rows`); an UPDATE/DELETE/INSERT/REPLACE's
shard statements (the first :data:`~sharding.exec.explain.SHOWN_SHARDS`) with its route
and commit mode; a statement whose subqueries would run first as values, those
subqueries' own EXPLAIN followed by the outer statement — and, for an ``IN`` / ``NOT IN``
subquery that runs as a semi/anti join past ``cluster.subquery_rows`` values
(:mod:`sharding.sql.semi_join`; not a paged filter), a ``PastBound`` step with that
join's plan (EXPLAIN cannot know how many values there will be: it shows both).

Invariant: nothing runs on a shard — statements are planned and routed exactly as
:mod:`sharding.session_reads` / :mod:`sharding.session_writes` would, then described.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from sharding.errors import NoDatabaseSelected, NotSupported, ShardgateError
from sharding.exec.explain import SHOWN_SHARDS, explain_rows
from sharding.session_reads import (
    SELECT_KINDS,
    backend_collations,
    check_prepared,
    result_types,
)
from sharding.session_writes import commit_mode, insert_ops, write_ops
from sharding.sql.decorrelate import decorrelate, decorrelate_exists
from sharding.sql.dml import WritePlan
from sharding.sql.insert import scan_insert
from sharding.sql.insert_plan import prepare_insert
from sharding.sql.lexer import first_keyword
from sharding.sql.materialize import subquery_uses
from sharding.sql.offload import cpu_bound
from sharding.sql.paged_in import paged_in
from sharding.sql.parse import parse_one
from sharding.sql.semi_join import join_statement, semi_join

if TYPE_CHECKING:
    from sharding.session import CoordinatorSession


async def explain_statement(session: CoordinatorSession, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``EXPLAIN sql`` (module docstring): step number, operator, detail."""
    kind = first_keyword(sql)
    if kind in SELECT_KINDS or kind in ("UPDATE", "DELETE"):
        try:
            return await _explain_rows(session, kind, sql)
        except NotSupported as refusal:
            return await _explain_subquery_values(session, kind, sql, refusal)
    return await _explain_rows(session, kind, sql)


async def _explain_subquery_values(
    session: CoordinatorSession, kind: str, sql: str, refusal: NotSupported
) -> list[tuple[Any, ...]]:
    """EXPLAIN of a statement whose subqueries run first as values (nothing runs)."""
    tree = await cpu_bound(len(sql), parse_one, sql)
    decorrelate(tree)  # as it runs
    uses = subquery_uses(tree)
    if not uses:
        raise refusal
    rows: list[tuple[Any, ...]] = []
    for use in uses:
        select = use.select.copy()
        if use.kind == "in" and isinstance(select, exp.Select):
            select.set("distinct", exp.Distinct())
        await backend_collations(session, select)  # as it runs (SQLite)
        inner = select.sql(dialect="mysql")
        rows.append(
            (len(rows) + 1, "SubqueryValues", f"{use.kind}: runs first, as its own statement")
        )
        try:
            inner_rows = await explain_statement(session, inner)
        except ShardgateError as exc:
            if exc.code == 1054:  # it names the outer query: correlated
                raise refusal from None
            raise
        for _, op, detail in inner_rows:
            rows.append((len(rows) + 1, "  " + op, detail))
    rows.append(
        (
            len(rows) + 1,
            kind.capitalize(),
            "then planned with the values in place of the subqueries (routed by them)",
        )
    )
    if kind in SELECT_KINDS:
        rows.extend(await _explain_semi_join(session, sql, tree, len(rows)))
    return rows


#: What runs past cluster.subquery_rows values, by the form of the IN (sql/semi_join.py).
_PAST = {
    "semi": "a semi-join instead",
    "anti": "NOT IN as an anti-join instead (after two LIMIT 1 probes: a NULL value? none at all?)",
    "not_exists": "NOT EXISTS as an anti-join instead",
}


async def _explain_semi_join(
    session: CoordinatorSession, sql: str, tree: exp.Expr, done: int
) -> list[tuple[Any, ...]]:
    """The plan a SELECT runs with when its ``IN`` subquery has more values than
    ``cluster.subquery_rows`` and cannot be paged (not a plain row filter, or values
    that are not integers): its semi/anti join (:mod:`sharding.sql.semi_join`), after
    the values plan; nothing for other shapes."""
    found = semi_join(tree)
    if found is None:
        return []
    plain = await cpu_bound(len(sql), parse_one, sql)
    decorrelate_exists(plain)
    paged = paged_in(plain)
    if paged is not None:
        # Past the bound in pages when the values are integers (sql/paged_in.py).
        types = await result_types(session, paged.use.select)
        if types and types[0].is_integer:
            return []
    assert isinstance(tree, exp.Select)
    joined = tree.copy()
    again = semi_join(joined)
    assert again is not None
    join_statement(joined, again)
    bound = session.coord.topology.cluster.subquery_rows
    rows: list[tuple[Any, ...]] = [
        (
            done + 1,
            "PastBound",
            f"more than {bound} values (cluster.subquery_rows): {_PAST[found.kind]}",
        )
    ]
    try:
        inner = await explain_statement(session, joined.sql(dialect="mysql"))
    except NotSupported as refusal:
        rows.append((len(rows) + done + 1, "  Refused", f"1235: {refusal}"))
        return rows
    for _, op, detail in inner:
        rows.append((len(rows) + done + 1, "  " + op, detail))
    return rows


async def _explain_rows(session: CoordinatorSession, kind: str, sql: str) -> list[tuple[Any, ...]]:
    coord = session.coord
    if kind in SELECT_KINDS:
        prepared = await session._prepare(sql, None, kind="select")
        try:
            check_prepared(prepared, coord.semantics)
        except NotSupported:
            if subquery_uses(await cpu_bound(len(sql), parse_one, sql)):
                raise  # it runs with its subqueries' values: explain that
        return list(
            explain_rows(
                prepared.plan,
                prepared.values,
                prepared.texts,
                coord.semantics,
                coord.default_datasource,
                coord.topology.cluster.chunk_rows,
                coord.topology.cluster.merge_budget_rows,
                coord.topology.cluster.pushdown,
                coord.topology.cluster.shards_per_statement,
            )
        )
    if kind in ("UPDATE", "DELETE"):
        write = await session._prepare(sql, None, kind="write")
        plan: WritePlan = write.plan
        ops = write_ops(plan, write, coord.semantics)
        head = f"route: {plan.route.describe(write.values)}"
    elif kind in ("INSERT", "REPLACE"):
        parsed = scan_insert(sql)
        database = parsed.database or session._database
        if not database:
            raise NoDatabaseSelected("No database selected")
        info = await coord.catalog.lookup(database, parsed.table)
        insert = prepare_insert(sql, parsed, info, coord.semantics, None)
        split = insert.finish(list(range(1, insert.id_count + 1)))
        ops = insert_ops(split)
        head = f"{split.rows} row(s) split by the scanner (no AST)"
    else:
        raise NotSupported(f"EXPLAIN {kind}")
    statements = [op for source in ops.values() for op in source]
    rows: list[tuple[Any, ...]] = [
        (
            1,
            kind.capitalize(),
            f"{len(statements)} shard statement(s); {head}; {commit_mode(session, ops)}",
        )
    ]
    for op in statements[:SHOWN_SHARDS]:
        rows.append((len(rows) + 1, f"  sql[{op.label}]", op.sql[:300]))
    if len(statements) > SHOWN_SHARDS:
        rows.append(
            (
                len(rows) + 1,
                "  sql[...]",
                f"{len(statements) - SHOWN_SHARDS} more shard statement(s)",
            )
        )
    return rows
