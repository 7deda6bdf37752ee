"""SELECT execution of a session: a prepared SELECT run into a row sink.

:func:`select_statement` is a SELECT statement from its text: answered from the session
state when it reads only variables, else prepared (:meth:`CoordinatorSession._prepare`),
with uncorrelated subqueries first run as values when the plan refuses them
(:meth:`CoordinatorSession._with_subquery_values`) and, past ``cluster.subquery_rows``
values of an ``IN`` subquery, in pages of them (:mod:`sharding.sql.paged_in`) or as a
semi/anti join with the subquery as a derived table (:mod:`sharding.sql.semi_join`);
``SQL_CALC_FOUND_ROWS`` counts the rows without the LIMIT afterwards.
:func:`run_select` runs a prepared SELECT: through a Runner over the plan tree, or on
the lean path of a statement that runs whole on one shard (:func:`one_shard`, routed
once): one executor child (:meth:`~executor.BucketedExecutor.run_one`), its statement
the read's template with the shard's names already in place (cached per read and
shard), its result columns cached per plan where they do not depend on the call.
:class:`Bounded` is the sink of the inner SELECTs a statement runs for its own use
(subquery values, the keys of a limited or moving write).

Invariants: the header goes to the sink once, before the first batch, or at the end
when there are no rows; the shards' warnings become the statement's once
(:func:`record_shard_warnings`); the one-shard path does what the Runner's passthrough
does (same statement text, same column definitions) and allocates nothing more per
call than that path's own work. Functions take the session (the collaborator's owner)
as their first parameter; its state stays on it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio
from sqlglot import exp

from sharding.api import Result
from sharding.backend.base import Column, ColumnType, ResultSet, Row
from sharding.catalog import TableInfo
from sharding.errors import NotSupported, ShardgateError
from sharding.exec.key_lists import list_values, plan_ahead
from sharding.exec.run import (
    ExecStats,
    RunContext,
    Runner,
    check_runnable,
    drive,
    passthrough_single,
)
from sharding.exec.shard_warnings import ShardWarnings
from sharding.exec.targets import Target, broadcast_target, route_shards, shard_targets
from sharding.merge import conversion_notes
from sharding.merge.mysql_decimal import shown_at_scale
from sharding.merge.semantics import Semantics
from sharding.result_stream import Collect, Counted
from sharding.session_answers import answer_select
from sharding.session_prepared import Prepared, render_name, session_refs
from sharding.sql.decorrelate import decorrelate, decorrelate_exists
from sharding.sql.describe import SlotTyped, describe_plan, result_columns, shard_positions
from sharding.sql.inlist import FOLD_MIN, InList
from sharding.sql.lexer import (
    SelectInto,
    Slot,
    param_slots,
    select_into,
    without_calc_found_rows,
)
from sharding.sql.materialize import SubqueryUse, literal_node, lookup_probe, runnable_select
from sharding.sql.nodes import PlanNode, SelectPlan, ShardRead
from sharding.sql.offload import cpu_bound
from sharding.sql.paged_in import page_query, paged_in
from sharding.sql.parse import PLACEHOLDER_START, parse_one, placeholder_offset
from sharding.sql.scope import referenced_tables
from sharding.sql.template import PARAM, TABLE
from sharding.weak_memo import WeakMemo

if TYPE_CHECKING:
    from sharding.session import CoordinatorSession

#: First words of a SELECT statement (``(`` a parenthesised one).
SELECT_KINDS = ("SELECT", "WITH", "(")

#: ``information_schema`` anywhere in the text: what ``information_schema.
#: references_information_schema`` looks for, without importing that module for every
#: SELECT (it is imported when used: start-up time).
MENTIONS_INFORMATION_SCHEMA = re.compile(r"information_schema", re.IGNORECASE)


async def select_statement(
    session: CoordinatorSession,
    sql: str,
    params: Sequence[Any] | None,
    sink: Counted,
    stats: ExecStats,
) -> Result:
    """A SELECT statement from its text into ``sink`` (module docstring)."""
    # Both scan the whole text: ~70 ms of the event loop for a 50,000-value IN list.
    into = await cpu_bound(len(sql), select_into, sql)
    if into is not None:
        return await _select_into(session, into, params, sink, stats)
    plain = await cpu_bound(len(sql), without_calc_found_rows, sql)
    calc = plain is not None
    if plain is not None:
        # The modifier is the coordinator's business: shards run the plain SELECT.
        sql = plain
    elif not params:
        # Variables and session functions only: answered from the session state.
        local = answer_select(session.state, sql)
        if local is not None and local.columns is not None:
            await sink.header(local.columns)
            await sink.rows(local.rows)
            return Result(columns=local.columns)
    one: OneShard | None = None
    try:
        prepared = await session._prepare(sql, params, kind="select")
        # The whole statement on one shard needs no further check (check_runnable
        # would route it again to find just that); anything else is checked now.
        one = one_shard(prepared, session.coord.semantics)
        if one is None:
            check_prepared(prepared, session.coord.semantics)
    except NotSupported as refusal:
        # Uncorrelated subqueries over sharded tables: their results as values.
        try:
            prepared = await session._with_subquery_values(sql, params, refusal, stats)
        except PastBound as past:
            # More values than cluster.subquery_rows: in pages, or as a semi/anti join,
            # where exact (a paged filter has no LIMIT: FOUND_ROWS() is its row count).
            paged = await _select_in_pages(session, sql, params, past, sink, stats)
            if paged is not None:
                return paged
            if calc:
                raise  # FOUND_ROWS() would need the join run again without its LIMIT
            return await _select_semi_join(session, sql, params, past, sink, stats)
        check_prepared(prepared, session.coord.semantics)
        one = None
    if not session._autocommit and session._txn is None:
        await session._ensure_implicit_txn()
    columns = await (
        _run_one_shard(session, prepared, one, sink, stats)
        if one is not None
        else run_select(session, prepared, sink, stats)
    )
    record_shard_warnings(session, stats)
    if calc:
        session._calc_found = await _count_without_limit(session, sql, params, sink.count)
    return Result(columns=columns, warnings=stats.warnings)


async def _select_into(
    session: CoordinatorSession,
    into: SelectInto,
    params: Sequence[Any] | None,
    sink: Counted,
    stats: ExecStats,
) -> Result:
    """``SELECT ... INTO @a, @b``: the SELECT without its INTO clause, its one row's
    values stored in the user variables; no result set (an OK packet counting the
    row). MariaDB's rules: 1222 when the columns are not as many as the variables,
    1172 for more than one row (the first row stored all the same: which one is first
    is the merge's order, MariaDB's where the SELECT orders its rows), and for none
    warning 1329 with the variables left as they were; ROW_COUNT() and FOUND_ROWS()
    count the rows (``CoordinatorSession._record``)."""
    collect = Bounded(2, stop=True)
    await select_statement(session, into.select, params, Counted(collect), stats)
    if collect.width != len(into.variables):
        raise ShardgateError(
            "The used SELECT statements have a different number of columns",
            code=1222,
            sqlstate="21000",
        )
    rows = collect.collected
    if rows:
        # Before the check: MariaDB has stored the first row when it finds a second.
        session.state.assign_user_variables(dict(zip(into.variables, rows[0], strict=True)))
    if len(rows) > 1:
        raise ShardgateError("Result consisted of more than one row", code=1172, sqlstate="42000")
    if not rows:
        session.state.warn("Warning", 1329, "No data - zero rows fetched, selected, or processed")
        stats.warnings += 1
    session._into_rows = len(rows)
    await sink.header([])
    return Result(affected=len(rows), warnings=stats.warnings)


async def item_collations(session: CoordinatorSession, select: exp.Expr) -> list[str | None] | None:
    """The catalog's collation of each select item of ``select`` that is a column of the
    one table of its FROM clause (``'binary'`` for a column that is no text), None for
    another item; None when ``select`` is no such one-table SELECT. What a backend that
    has no ``COLLATION()`` and compares two literals bytewise (SQLite) is told of the
    columns a materialised subquery read (sql/materialize.py)."""
    if not isinstance(select, exp.Select) or select.args.get("joins"):
        return None
    source = select.args.get("from_") or select.args.get("from")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or not table.name:
        return None
    database = table.db or session._database
    if not database:
        return None
    try:
        info = await session.coord.catalog.lookup(database, table.name)
    except ShardgateError:
        return None  # a CTE's name, a missing table: its own statement tells
    out: list[str | None] = []
    for item in select.expressions:
        node = item.this if isinstance(item, exp.Alias) else item
        column = info.column(node.name) if isinstance(node, exp.Column) else None
        named = isinstance(node, exp.Column) and (
            not node.table or node.table.lower() == table.alias_or_name.lower()
        )
        out.append((column.collation or "binary") if column is not None and named else None)
    return out


def collation_calls(select: exp.Expr, collations: Sequence[str | None]) -> None:
    """``COLLATION(item)`` calls among ``select``'s items (a grouped lookup's, its
    probe's: sql/decorrelate.py) replaced by the collation ``collations`` gives that
    item's column, in place: ``COLLATION(col)`` of a backend that has no such function
    (SQLite), from the catalog (:func:`item_collations`). Others stay (refused there)."""
    if not isinstance(select, exp.Select):
        return
    for item, collation in zip(select.expressions, collations, strict=False):
        call = item.this if isinstance(item, exp.Alias) else item
        if (
            collation is None
            or not isinstance(call, exp.Anonymous)
            or call.name.upper() != "COLLATION"
            or len(call.expressions) != 1
        ):
            continue
        call.replace(exp.Literal.string(collation))


async def backend_collations(session: CoordinatorSession, select: exp.Expr) -> None:
    """On a backend without MySQL's ``COLLATION()`` (SQLite): a lookup's or probe's
    ``COLLATION(col)`` items (sql/decorrelate.py) as the catalog's collations of their
    columns, in place; nothing on MySQL."""
    if session.coord.semantics.dialect == "mysql" or not isinstance(select, exp.Select):
        return
    columns = select.copy()
    columns.set(
        "expressions",
        [
            (
                call.expressions[0]
                if isinstance(call, exp.Anonymous)
                and call.name.upper() == "COLLATION"
                and len(call.expressions) == 1
                else call
            ).copy()
            for call in (i.this if isinstance(i, exp.Alias) else i for i in select.expressions)
        ],
    )
    found = await item_collations(session, columns)
    if found is not None:
        collation_calls(select, found)


async def lookup_collation(
    session: CoordinatorSession,
    use: SubqueryUse,
    rows: list[Row],
    refusal: NotSupported,
    stats: ExecStats,
) -> str | None:
    """The collation of a grouped lookup's outer column when its keys are text
    (``''``: that table has no row), read by its probe (sql/materialize.py:
    lookup_probe); None when not needed."""
    probe = lookup_probe(use, rows)
    if probe is None:
        return None
    select = runnable_select(probe)
    await backend_collations(session, select)
    sql = select.sql(dialect="mysql")
    _width, found, _ = await subquery_rows(session, sql, 1, refusal, stats)
    return str(found[0][0]) if found else ""


async def _select_in_pages(
    session: CoordinatorSession,
    sql: str,
    params: Sequence[Any] | None,
    past: PastBound,
    sink: Counted,
    stats: ExecStats,
) -> Result | None:
    """A SELECT whose ``IN`` subquery has more values than ``cluster.subquery_rows``,
    run once per page of them (:mod:`sharding.sql.paged_in`); None (nothing sent) where
    that is not exact."""
    coord = session.coord
    tree = await cpu_bound(len(sql), parse_one, sql)
    slots = list(param_slots(sql))
    values = session._values(slots, params)
    if await cpu_bound(len(sql), session_refs, sql):
        tree = session._substitute(tree)
    decorrelate_exists(tree)
    paged = paged_in(tree)
    if paged is None:
        return None
    by_position = {s.position: i for i, s in enumerate(slots)}
    for node in list(paged.use.select.find_all(exp.Placeholder)):
        slot = by_position.get(placeholder_offset(node) or -1)
        if slot is None:
            raise ShardgateError("internal error: unmatched placeholder", code=1105)
        node.replace(literal_node(values[slot], "mysql"))
    paged = paged_in(tree)
    assert paged is not None
    if not session._autocommit and session._txn is None:
        await session._ensure_implicit_txn()
    size = coord.topology.cluster.subquery_rows
    after: int | None = None
    columns: list[Column] = []
    while True:
        page = page_query(paged, after, size).sql(dialect="mysql")
        _width, rows, _ = await subquery_rows(session, page, None, past, stats)
        keys = [row[0] for row in rows]
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in keys):
            if after is None:
                return None  # only integers page exactly (module docstring); nothing sent
            raise past
        outer = tree.copy()
        found = paged_in(outer)
        assert found is not None
        host = found.use.target
        page_slots, page_values = list(slots), list(values)
        if keys:
            mark = exp.Placeholder()
            mark.meta[PLACEHOLDER_START] = len(sql) + 1  # past the text
            host.set("query", None)
            host.set("expressions", [mark])
            distinct = list(dict.fromkeys(keys))
            page_slots.append(Slot(len(sql) + 1, None, f"IN-list of {len(distinct)}", None, True))
            page_values.append(InList(tuple(value_slot(k) for k in distinct), tuple(distinct)))
        else:
            host.replace(exp.false())
        plan, _ = await session._plan(outer, sql, page_slots, page_values, "select")
        prepared = Prepared(plan, page_slots, page_values, session._texts(page_slots, page_values))
        one = one_shard(prepared, coord.semantics)
        if one is None:
            check_prepared(prepared, coord.semantics)
        columns = await run_select(session, prepared, sink, stats, one)
        if len(rows) < size:
            break
        after = keys[-1]  # the page is in ascending order
    record_shard_warnings(session, stats)
    return Result(columns=columns, warnings=stats.warnings)


async def _select_semi_join(
    session: CoordinatorSession,
    sql: str,
    params: Sequence[Any] | None,
    past: PastBound,
    sink: Counted,
    stats: ExecStats,
) -> Result:
    """A SELECT whose ``IN`` / ``NOT IN`` subquery has more values than
    ``cluster.subquery_rows``, run as a semi/anti join with the subquery as a derived
    table (:mod:`sharding.sql.semi_join`); ``past`` where that form does not apply, a
    1235 naming the bound and the join's refusal where the join cannot be exact."""
    # Imported here: only a subquery past the bound needs it (start-up loads less).
    from sharding.sql.semi_join import (
        empty_probe,
        join_statement,
        key_probe,
        key_refusal,
        null_probe,
        semi_join,
        with_condition,
    )

    coord = session.coord
    tree = await cpu_bound(len(sql), parse_one, sql)
    slots = list(param_slots(sql))
    values = session._values(slots, params)
    decorrelate(tree)  # as it ran
    if await cpu_bound(len(sql), session_refs, sql):
        tree = session._substitute(tree)
    found = semi_join(tree)
    if found is None:
        raise past
    assert isinstance(tree, exp.Select)
    if not session._autocommit and session._txn is None:
        await session._ensure_implicit_txn()
    constant: bool | None = None
    if found.kind == "anti":
        # MySQL's NOT IN: TRUE for all when the subquery is empty, never with a NULL.
        by_position = {s.position: i for i, s in enumerate(slots)}

        def probe_sql(probe: exp.Expr) -> str:
            for node in list(probe.find_all(exp.Placeholder)):
                slot = by_position.get(placeholder_offset(node) or -1)
                if slot is None:
                    raise ShardgateError("internal error: unmatched placeholder", code=1105)
                node.replace(literal_node(values[slot], "mysql"))
            return probe.sql(dialect="mysql")

        try:
            _w, nulls, _c = await subquery_rows(
                session, probe_sql(null_probe(found)), 1, past, stats
            )
            if nulls:
                constant = False
            else:
                _w, any_row, _c = await subquery_rows(
                    session, probe_sql(empty_probe(found)), 1, past, stats
                )
                constant = None if any_row else True
        except NotSupported as refusal:
            raise _join_refused(coord.topology.cluster.subquery_rows, refusal) from None
    probe: exp.Select | None = None
    if constant is not None:
        with_condition(tree, found, constant)
    else:
        join_statement(tree, found)
        probe = key_probe(tree)  # before planning rewrites the tree
    bound = coord.topology.cluster.subquery_rows
    try:
        plan, _ = await session._plan(tree, sql, slots, values, "select")
        prepared = Prepared(plan, slots, values, session._texts(slots, values))
        one = one_shard(prepared, coord.semantics)
        if one is None:
            check_prepared(prepared, coord.semantics)
        if probe is not None:
            why = key_refusal(*await _key_types(session, probe, slots, values))
            if why is not None:
                raise NotSupported(why)
    except NotSupported as refusal:
        raise _join_refused(bound, refusal) from None
    columns = await run_select(session, prepared, sink, stats, one)
    record_shard_warnings(session, stats)
    return Result(columns=columns, warnings=stats.warnings)


def _join_refused(bound: int, refusal: NotSupported) -> PastBound:
    """The 1235 of an ``IN`` subquery past the bound whose join is not exact: naming the
    setting and the join's own reason."""
    if str(refusal).startswith("an IN subquery of more than"):
        return PastBound(str(refusal))
    return PastBound(
        f"an IN subquery of more than {bound} values (cluster.subquery_rows) as a join: {refusal}"
    )


async def _key_types(
    session: CoordinatorSession, probe: exp.Select, slots: Sequence[Slot], values: list[Any]
) -> tuple[ColumnType | None, ColumnType | None]:
    """The types of the two result columns of a semi-join's key probe
    (:func:`~sharding.sql.semi_join.key_probe`): MariaDB's typing of its keys."""
    types = await result_types(session, probe, slots, values)
    if types is None or len(types) != 2:
        return None, None
    return types[0], types[1]


async def result_types(
    session: CoordinatorSession,
    select: exp.Expr,
    slots: Sequence[Slot] = (),
    values: Sequence[Any] = (),
) -> list[ColumnType] | None:
    """MariaDB's types of the result columns of ``select`` (a parsed SELECT of the
    session's database; its placeholders typed by ``values``), None when not known."""
    tables: dict[tuple[str, str], TableInfo] = {}
    for db, name in referenced_tables(select, session._database):
        tables[(db, name)] = await session.coord.catalog.lookup(db, name)
    types = describe_plan(select, tables, session._database)
    if types is None:
        return None
    return [t.resolve(slots, values) if isinstance(t, SlotTyped) else t for t in types]


async def subquery_rows(
    session: CoordinatorSession,
    sql: str,
    first: int | None,
    refusal: NotSupported,
    stats: ExecStats,
) -> tuple[int, list[Row], list[Column]]:
    """Rows of an inner SELECT run on its own (``first``: stop after that many), and
    its result's column definitions (a scalar subquery is sent with them)."""
    bound = session.coord.topology.cluster.subquery_rows
    sink = Bounded(first if first is not None else bound, stop=first is not None)
    try:
        await select_statement(session, sql, None, Counted(sink), stats)
    except ShardgateError as exc:
        if exc.code == 1054:  # it names a column of the outer query: correlated
            raise refusal from None
        raise
    return sink.width, sink.collected, sink.columns


async def _count_without_limit(
    session: CoordinatorSession, sql: str, params: Sequence[Any] | None, returned: int
) -> int:
    """FOUND_ROWS() after ``SELECT SQL_CALC_FOUND_ROWS``: the rows the statement
    would return without its LIMIT, over every shard it touches — ``COUNT(*)`` over
    the same FROM/WHERE, or for grouped/distinct selects the rows counted as they
    stream by (never held)."""
    tree = parse_one(sql)
    union = isinstance(tree, exp.Union | exp.Intersect | exp.Except)
    if not (isinstance(tree, exp.Select) or union) or tree.args.get("limit") is None:
        return returned
    cut = [tree.args.get(k) for k in ("limit", "offset", "order")]
    if params and any(c is not None and c.find(exp.Placeholder) for c in cut):
        raise NotSupported("SQL_CALC_FOUND_ROWS with a placeholder in ORDER BY/LIMIT")
    count = tree.copy()
    for key in ("limit", "offset", "order"):
        count.set(key, None)
    # A UNION / INTERSECT / EXCEPT: its rows without the LIMIT, counted (issue 18.4).
    simple = not union
    simple = simple and not any(
        count.args.get(k) for k in ("group", "having", "distinct", "windows")
    )
    simple = simple and not any(
        isinstance(n, exp.AggFunc) for e in count.expressions for n in e.walk()
    )
    counter = Counted(_Discard())
    stats = ExecStats()
    if simple:
        count.set("expressions", [exp.Count(this=exp.Star())])
        collect = Collect()
        await run_select(
            session,
            await session._prepare(count.sql(dialect="mysql"), params, kind="select"),
            Counted(collect),
            stats,
        )
        return int(collect.collected[0][0]) if collect.collected else 0
    await run_select(
        session,
        await session._prepare(count.sql(dialect="mysql"), params, kind="select"),
        counter,
        stats,
    )
    return counter.count


def record_shard_warnings(session: CoordinatorSession, stats: ExecStats) -> None:
    """The warnings the shards raised in a SELECT's reads become the statement's
    (SHOW WARNINGS, @@warning_count) and count in its final packet; taken once, so
    an inner SELECT run for the statement (a subquery's values) adds its own."""
    shard = stats.shard_warnings
    if not shard.count:
        return
    stats.warnings += session.state.warn_counted(shard.count, shard.notes())
    stats.shard_warnings = ShardWarnings()


async def run_select(
    session: CoordinatorSession,
    prepared: Prepared[SelectPlan],
    sink: Counted,
    stats: ExecStats,
    one: OneShard | None = None,
) -> list[Column]:
    """Run a planned SELECT into ``sink``: the header just before the first batch
    (its columns may come from the first shard result), or at the end if empty.
    ``one``: the statement's route when it runs whole on one shard (routed once,
    by the caller), else None."""
    coord = session.coord
    plan: SelectPlan = prepared.plan
    sem = coord.semantics
    if one is None:
        one = one_shard(prepared, sem)
    if one is not None:
        return await _run_one_shard(session, prepared, one, sink, stats)
    single = (
        False
        if plan.join
        else passthrough_single(plan.single, prepared.values, sem, prepared.routes)
    )
    root: PlanNode
    if single and plan.single is not None:  # (passthrough_single: never single without it)
        root = plan.single
    else:
        if plan.scatter is None:
            assert plan.scatter_error is not None
            raise plan.scatter_error
        root = plan.scatter
    runner: Runner | None = None
    positions = shard_positions(root)
    mysql = sem.dialect == "mysql"

    def columns() -> list[Column]:
        shard = runner.columns if runner is not None else None
        if runner is not None and runner.eval_columns is not None:
            # Values a data source computed (BackendEvalNode): their definitions are
            # addressed from the end of the list (sql/describe.shard_positions).
            shard = [*(shard or []), *runner.eval_columns]
        if plan.columns is not None:
            # Definitions: the shard's own where a value passes through unchanged,
            # MariaDB's rules for what the coordinator computes (sql/describe).
            return result_columns(
                [render_name(c, prepared.slots) for c in plan.columns],
                plan.types,
                positions,
                shard,
                prepared.slots,
                prepared.values,
                shard_metadata=mysql,
            )
        return _shard_named_columns(plan, prepared, shard, mysql)

    # Over SQLite shards: the DECIMAL values the coordinator computes, at their
    # column's scale (MySQL's, as the definitions say: merge/mysql_decimal). MariaDB
    # shards and the data source's own evaluation (BackendEvalNode) send them so.
    scales: list[int | None] | None = None

    async def deliver(batch: list[Row]) -> bool:
        nonlocal scales
        header = columns()
        await sink.header(header)
        if not mysql:
            if scales is None:
                scales = _decimal_scales(header)
            batch = shown_at_scale(batch, scales)
        return await sink.rows(batch)

    # Long IN lists are cut per shard and the reads routed before the run, in a
    # thread when long (placing 100,000 values is seconds of CPU: not on the event
    # loop; an unfolded list's values are as many slots).
    many = list_values(prepared.values) + len(prepared.values)
    ahead = (
        await cpu_bound(many * 64, plan_ahead, root, prepared.values, sem)
        if many >= FOLD_MIN
        else None
    )
    async with coord.executor.query(name="select", session=session._id) as q:
        session.running(q.id)
        async with trio.open_nursery() as nursery:
            runner = Runner(
                RunContext(
                    query=q,
                    nursery=nursery,
                    connector=session.connector(),
                    semantics=sem,
                    cluster=coord.topology.cluster,
                    values=prepared.values,
                    texts=prepared.texts,
                    window=coord.topology.executor.window,
                    default_datasource=coord.default_datasource,
                    stats=stats,
                    group_concat_max_len=int(session.state.get("group_concat_max_len")),
                    ahead=ahead,
                    routes=prepared.routes,
                )
            )
            # The coordinator's own evaluation warns as MySQL (1292, 1365).
            with conversion_notes.collected(conversion_notes.Notes()) as evaluated:
                await drive(runner.operator(root), deliver)
            nursery.cancel_scope.cancel()
    for warning in runner.warnings:  # GROUP_CONCAT's cuts (1260)
        session.state.warn(*warning)
    stats.warnings += len(runner.warnings)
    if evaluated.count:
        stats.warnings += session.state.warn_counted(evaluated.count, evaluated.listed)
    result = columns()
    await sink.header(result)
    return result


#: The largest ``decimals`` of a DECIMAL definition with a fixed scale (31: none).
_FIXED_SCALE_MAX = 30


def _decimal_scales(columns: Sequence[Column]) -> list[int | None]:
    """Per result column: the scale of a DECIMAL value the coordinator may compute (its
    definition's ``decimals``), or None (another type, a table column's own value, no
    fixed scale). Only digits are added (:func:`shown_at_scale`): a DOUBLE's value is
    left as it is (the rules type some exact values DOUBLE, ``date + 0``)."""
    out: list[int | None] = []
    for c in columns:
        t = c.wire
        fixed = (
            t is not None
            and t.is_decimal
            and not t.table_column
            and 0 <= t.decimals <= _FIXED_SCALE_MAX
        )
        out.append(t.decimals if fixed and t is not None else None)
    return out


async def _run_one_shard(
    session: CoordinatorSession,
    prepared: Prepared[SelectPlan],
    one: OneShard,
    sink: Counted,
    stats: ExecStats,
) -> list[Column]:
    """The lean path of a statement that runs whole on one shard (a point query):
    one executor query of one child (:meth:`BucketedExecutor.run_one`: the same
    bucket, slot and watchdog as any child, no nursery), the shard's rows handed on
    as one batch — what the Runner's passthrough does, without building a Runner,
    a nursery and an operator for a single fetch. The rows are delivered after the
    child has returned its connection."""
    coord = session.coord
    plan: SelectPlan = prepared.plan
    read, shards = one
    sem = coord.semantics
    target, pieces, params = _one_shard_statement(
        read, shards, sem.dialect, coord.default_datasource
    )
    stats.shards += 1
    if params:
        texts = prepared.texts
        out = [pieces[0]]
        for index, piece in zip(params, pieces[1:], strict=True):
            out.append(texts[index])
            out.append(piece)
        sql = "".join(out)
    else:
        sql = pieces[0]
    connector = session.connector()
    # A MariaDB shard's rows go to a client that reads them as the shard wrote them
    # (text protocol, UTF-8) unparsed: the payload of each row packet, relayed.
    relay = sem.dialect == "mysql" and sink.relays()

    async def child() -> ResultSet:
        async with connector.connection(target.datasource, target.databases) as conn:
            fetched: ResultSet
            if relay and getattr(conn, "relays", False):
                fetched = await conn.fetch_relayed(sql)  # type: ignore[attr-defined]
            else:
                fetched = await conn.fetch(sql)
            return fetched

    stats.children += 1
    try:
        rs: ResultSet = await coord.executor.run_one(
            child,
            name="select",
            session=session._id,
            label=target.label,
            opened=session._opened,
            scope=session._scope,  # the statement's own: KILL QUERY cancels it anyway
        )
    finally:
        # Seconds queued for a slot / holding it: the executor timed its one child.
        query, session._opened_query = session._opened_query, None
        if query is not None:
            stats.queued += query.queued_seconds
            stats.running += query.running_seconds
    stats.streams.chunks += 1
    payloads = rs.payloads
    stats.streams.rows += len(rs.rows) if payloads is None else len(payloads)
    if rs.warnings:
        stats.shard_warnings.add(target.shard, rs)
    columns = _passthrough_columns(plan, prepared, rs.columns, sem.dialect == "mysql")
    if payloads is not None:
        if len(columns) == len(rs.columns):
            await sink.header(columns)
            if payloads:
                await sink.relayed(payloads)
            return columns
        # Not one output column per shard column (never for a passthrough so far).
        from sharding.backend.native import parse_payloads

        rs.rows = parse_payloads(payloads, rs.columns)
    await sink.header(columns)
    if rs.rows:
        # SQLite: a DECIMAL the shard computed where its rules could not (a scalar
        # subquery's aggregate) came back a REAL: at its column's scale, as run_select.
        rows = (
            rs.rows if sem.dialect == "mysql" else shown_at_scale(rs.rows, _decimal_scales(columns))
        )
        await sink.rows(rows)
    return columns


class PastBound(NotSupported):
    """A sink of :class:`Bounded` was offered more rows than its bound."""


class Bounded:
    """A sink that keeps at most ``limit`` rows: more is an error naming the setting
    (``stop``: the caller wants only the first ``limit``, so stop there instead)."""

    def __init__(self, limit: int, *, stop: bool, what: str = "a subquery used as a value") -> None:
        self.limit = limit
        self.stop = stop
        self.what = what
        self.collected: list[Row] = []
        self.width = 0
        self.columns: list[Column] = []

    async def header(self, columns: list[Column]) -> None:
        self.width = len(columns)
        self.columns = columns

    async def rows(self, batch: list[Row]) -> bool:
        room = self.limit - len(self.collected)
        if len(batch) > room and not self.stop:
            raise PastBound(
                f"{self.what} read more than {self.limit} rows "
                "(cluster.subquery_rows); join the tables instead, or raise the setting"
            )
        self.collected.extend(batch[:room])
        return len(self.collected) < self.limit


class _Discard:
    """A sink that drops rows (counting is done by the ``Counted`` around it)."""

    async def header(self, columns: list[Column]) -> None:
        return None

    async def rows(self, batch: list[Row]) -> bool:
        return True


def value_slot(value: int | str) -> Slot:
    """The slot of one value of a folded subquery result: an integer written as its
    digits, a string rendered as a literal (``slot_text``)."""
    if isinstance(value, str):
        return Slot(-1, None, "", value, True)
    return Slot(-1, None, str(value), value, False)


#: A statement that runs whole on one shard: its read and the shard (a one-element
#: list), or None for a read of broadcast tables only (one data source's copy).
OneShard = tuple[ShardRead, list[int] | None]


def one_shard(prepared: Prepared[SelectPlan], sem: Semantics) -> OneShard | None:
    """The read of a plan that runs whole on one shard for this call's values (what
    :func:`~sharding.exec.run.passthrough_single` decides, routed once), else None."""
    plan = prepared.plan
    if not isinstance(plan, SelectPlan) or plan.join or plan.single is None:
        return None
    read = plan.single.read
    if read.leader is None:
        return read, None
    shards = route_shards(read, prepared.values, sem, prepared.routes)
    return (read, shards) if len(shards) == 1 else None


#: What a one-shard read sends, by read and then shard: the target, and the read's
#: template with the table names of that shard already in place — its pieces between
#: the parameter holes, and the slot of each hole. A plan is cached, so the same reads
#: come back call after call (:class:`~sharding.weak_memo.WeakMemo`).
_ONE_SHARD_SQL: WeakMemo[tuple[Target, tuple[str, ...], tuple[int, ...]]] = WeakMemo(
    size=1024, per_object=64
)


def _one_shard_statement(
    read: ShardRead, shards: list[int] | None, dialect: str, default_ds: str
) -> tuple[Target, tuple[str, ...], tuple[int, ...]]:
    """The target of a one-shard read and its statement as pieces around the parameter
    slots: ``read.template.bind(texts).fill(target.names)`` is the pieces joined with
    each slot's text (cached per read and shard)."""
    shard = -1 if shards is None else shards[0]
    hit = _ONE_SHARD_SQL.get(read, shard)
    if hit is not None:
        return hit
    if shards is None:
        target = broadcast_target(read.tables, dialect, default_ds)
    else:
        target = shard_targets(read, shards, dialect)[0]
    template = read.template
    pieces: list[str] = []
    params: list[int] = []
    current = [template.pieces[0]]
    for (kind, index), piece in zip(template.holes, template.pieces[1:], strict=True):
        if kind == PARAM:
            pieces.append("".join(current))
            params.append(index)
            current = [piece]
        else:
            # A table hole gets this shard's name; a keyset hole what fill() puts
            # there by default (a passthrough read is never continued).
            current.append(target.names[index] if kind == TABLE else "1")
            current.append(piece)
    pieces.append("".join(current))
    out = (target, tuple(pieces), tuple(params))
    _ONE_SHARD_SQL.put(read, shard, out)
    return out


#: The result columns of a passthrough plan whose names and types do not depend on
#: the call (no literal in a name, no type decided by a literal's value), by plan and
#: the shard's columns they were built from (one pair per plan).
_PASSTHROUGH_COLUMNS: WeakMemo[tuple[Column, ...]] = WeakMemo(size=1024, per_object=1, evict=True)


def _shard_named_columns(
    plan: SelectPlan, prepared: Prepared[SelectPlan], shard: Sequence[Column] | None, mysql: bool
) -> list[Column]:
    """The definitions of a result whose columns only the shard names (``SELECT *``
    over a derived table or CTE: ``plan.columns`` None). A MariaDB shard's are sent as
    they are; a SQLite shard sends none, so there the statement's types
    (``plan.types``, :func:`~sharding.sql.describe.describe_plan`: the catalog's for a
    table's columns, a derived table's body's for its own) define them when they line
    up with the shard's columns — else its values would go out as LONGTEXT, ``3`` as
    the text ``'3'``."""
    if shard is None:
        return []
    if mysql or plan.types is None or len(plan.types) != len(shard):
        return list(shard)
    return result_columns(
        [c.name for c in shard],
        plan.types,
        None,
        shard,
        prepared.slots,
        prepared.values,
        shard_metadata=False,
    )


def _passthrough_columns(
    plan: SelectPlan, prepared: Prepared[SelectPlan], shard: Sequence[Column] | None, mysql: bool
) -> list[Column]:
    """The definitions a one-shard result is sent with (what :func:`run_select` builds for
    a passthrough: :func:`~sharding.sql.describe.result_columns`)."""
    if plan.columns is None:
        return _shard_named_columns(plan, prepared, shard, mysql)
    reported = tuple(shard) if shard is not None else None
    hit = _PASSTHROUGH_COLUMNS.get(plan, reported) if reported is not None else None
    if hit is not None:
        return list(hit)
    columns = result_columns(
        [render_name(c, prepared.slots) for c in plan.columns],
        plan.types,
        None,  # a passthrough: every output column is the shard's own
        shard,
        prepared.slots,
        prepared.values,
        shard_metadata=mysql,
    )
    if (
        reported is not None
        and not any(c.slot_positions for c in plan.columns)
        and not any(isinstance(t, SlotTyped) for t in plan.types or ())
    ):
        _PASSTHROUGH_COLUMNS.put(plan, reported, tuple(columns))
    return columns


def check_prepared(prepared: Prepared[SelectPlan], sem: Semantics) -> None:
    """Raise the plan's refusal now when this call cannot run (before any row is sent)."""
    check_runnable(prepared.plan, prepared.values, sem, prepared.routes)
