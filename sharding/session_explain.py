"""EXPLAIN of a session's statements: what would run, where, and how it would commit.

:func:`explain_statement` answers ``EXPLAIN`` (:mod:`sharding.introspection`) and
:meth:`Coordinator.explain`: a SELECT's plan bound to this call's shards and chunk
sizes (:func:`sharding.exec.explain.explain_rows`); an UPDATE/DELETE/INSERT/REPLACE's
shard statements (the first :data:`~sharding.exec.explain.SHOWN_SHARDS`) with its route
and commit mode; a statement whose subqueries would run first as values, those
subqueries' own EXPLAIN followed by the outer statement.

Invariant: nothing runs on a shard — statements are planned and routed exactly as
:mod:`sharding.session_reads` / :mod:`sharding.session_writes` would, then described.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from sharding.errors import NoDatabaseSelected, NotSupported, ShardgateError
from sharding.exec.explain import SHOWN_SHARDS, explain_rows
from sharding.session_reads import SELECT_KINDS, check_prepared
from sharding.session_writes import commit_mode, insert_ops, write_ops
from sharding.sql.decorrelate import decorrelate
from sharding.sql.dml import WritePlan
from sharding.sql.insert import scan_insert
from sharding.sql.insert_plan import prepare_insert
from sharding.sql.lexer import first_keyword
from sharding.sql.materialize import subquery_uses
from sharding.sql.offload import cpu_bound
from sharding.sql.parse import parse_one

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
    decorrelate(tree, lookups=session.coord.semantics.dialect == "mysql")  # as it runs
    uses = subquery_uses(tree)
    if not uses:
        raise refusal
    rows: list[tuple[Any, ...]] = []
    for use in uses:
        select = use.select.copy()
        if use.kind == "in" and isinstance(select, exp.Select):
            select.set("distinct", exp.Distinct())
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
