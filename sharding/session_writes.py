"""Writes of a session: UPDATE/DELETE routing and execution, INSERT paths, upserts.

:func:`write_statement` runs an UPDATE or DELETE: planned (:mod:`sharding.sql.dml`),
with ``IN (SELECT …)`` subqueries first run as values, one statement per routed shard
(every copy of a broadcast table) by :func:`write_ops`; an ``UPDATE … SET shard_key``
moves rows between shards (delete and insert, :mod:`sharding.sql.moving_update`) and
an ``UPDATE/DELETE … LIMIT`` on several shards writes the keys a merged locking SELECT
chose (:mod:`sharding.sql.limited_write`). :func:`insert_statement` runs an INSERT or
REPLACE through the scanner's fast path (a prepared text's shape is cached in the plan
cache), ``INSERT … SELECT`` as the SELECT's rows in batches of multi-row INSERTs.

Invariants: a single statement on one shard outside a transaction runs on an
autocommit connection (atomic by itself); anything larger uses the session's
transaction or the coordinator's commit strategy (:func:`commit_mode` says which, for
EXPLAIN); a statement that reads and then writes is atomic as one statement
(:func:`sharding.session_txn.statement_transaction`). Counts follow MariaDB: a broadcast
write reports one copy's rows, CLIENT_FOUND_ROWS counts matched rows (and an upsert's
unchanged duplicates), an UPDATE's OK info is ``Rows matched/Changed/Warnings``.
Functions take the session (the collaborator's owner) as their first parameter.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from sharding.api import Result
from sharding.backend.base import Column, ExecResult, Row
from sharding.catalog import TableInfo
from sharding.errors import (
    BadArguments,
    ColumnCountMismatch,
    NoDatabaseSelected,
    NotSupported,
    ShardgateError,
    ShardKeyUpdate,
)
from sharding.exec.run import ExecStats, client_error
from sharding.exec.shard_settings import SessionSources
from sharding.exec.targets import Target, physical_names, route_shards, shard_targets
from sharding.exec.writes import WriteContext, WriteOp, ordered, session_write, strategy
from sharding.merge.semantics import Semantics
from sharding.result_stream import Counted
from sharding.session_prepared import Prepared, session_refs
from sharding.session_reads import Bounded, select_statement
from sharding.session_state import SessionState, substitute
from sharding.session_txn import refuse_read_only_write, statement_transaction
from sharding.sql.dml import WritePlan
from sharding.sql.insert import InsertRows, InsertSelectFound, scan_insert
from sharding.sql.insert_plan import InsertShape, PreparedInsert, insert_shape
from sharding.sql.insert_select import (
    STRICT_SELECT,
    batches,
    reads_table,
    rows_per_batch,
    split_insert_select,
    strict_select,
    upsert_refusal,
)
from sharding.sql.lexer import has_words, param_slots
from sharding.sql.limited_write import restricted, selection
from sharding.sql.literals import quote_identifier
from sharding.sql.materialize import literal_node
from sharding.sql.moving_update import (
    assignments,
    collision_probe,
    in_place,
    new_rows,
    unique_keys,
)
from sharding.sql.nodes import ShardRead
from sharding.sql.offload import cpu_bound
from sharding.sql.parse import parse_one, placeholder_offset

if TYPE_CHECKING:
    from sharding.session import CoordinatorSession

#: Longer parameterised INSERTs are not cached (their shape holds every row's text).
_CACHED_INSERT_CHARS = 4096
#: An UPDATE's OK info (MariaDB's text; a moving UPDATE adds up its parts' counts).
_UPDATE_INFO = re.compile(r"Rows matched: (\d+)  Changed: (\d+)  Warnings: (\d+)")
#: ``ON DUPLICATE KEY UPDATE`` as tokens (a literal spelling it is text, a comment
#: may stand between the words: sql/lexer.has_words), and the raw text's hint.
_UPSERT_WORDS = ("ON", "DUPLICATE", "KEY", "UPDATE")
_DUPLICATES = re.compile(r"Duplicates: (\d+)")
_UPSERT = re.compile(r"\bDUPLICATE\b", re.IGNORECASE)


async def write_statement(
    session: CoordinatorSession, sql: str, params: Sequence[Any] | None, stats: ExecStats
) -> Result:
    """An UPDATE or DELETE statement (module docstring)."""
    refuse_read_only_write(session)
    try:
        prepared = await session._prepare(sql, params, kind="write")
    except ShardKeyUpdate as moving:
        return await _moving_update(session, sql, params, moving, stats)
    except NotSupported as refusal:
        # ``WHERE k IN (SELECT ...)`` over sharded tables: the values, then the write.
        prepared = await session._with_subquery_values(sql, params, refusal, stats, "write")
    plan: WritePlan = prepared.plan
    try:
        ops = write_ops(plan, prepared, session.coord.semantics)
    except _SeveralShardsLimit:
        return await _limited_write(session, sql, params, plan, stats)
    stats.shards = sum(len(v) for v in ops.values())
    results = await _write(session, ops, plan.kind, stats)
    count = _matched if plan.kind == "update" and session.state.client_found_rows else _changed
    affected = sum(count(r) for rs in results.values() for r in rs)
    if plan.broadcast:
        # Every copy changed the same rows; report one copy's count.
        per_source = [sum(count(r) for r in rs) for rs in results.values()]
        affected = per_source[0] if per_source else 0
    last_id = None
    if session._lid_expr:
        # ``SET id = LAST_INSERT_ID(id + 1)``: the shard evaluated it; its OK packet
        # carries the value (the sequence idiom), which becomes the session's.
        ids = [r.last_insert_id for rs in results.values() for r in rs if r.last_insert_id]
        if ids:
            last_id = ids[-1]
            session.state.last_insert_id = last_id
    warned = _record_write_warnings(session, ops, results, plan.broadcast, _scan_rows)
    info = ""
    if plan.kind == "update":
        # MariaDB's OK info for an UPDATE (clients print it; ORMs parse "matched").
        matched = [sum(_matched(r) for r in rs) for rs in results.values()]
        changed = [sum(_changed(r) for r in rs) for rs in results.values()]
        if plan.broadcast:  # one copy's counts, as for affected
            matched, changed = matched[:1], changed[:1]
        info = f"Rows matched: {sum(matched)}  Changed: {sum(changed)}  Warnings: {warned}"
    return Result(affected=affected, last_insert_id=last_id, info=info, warnings=warned)


async def _limited_write(
    session: CoordinatorSession,
    sql: str,
    params: Sequence[Any] | None,
    plan: WritePlan,
    stats: ExecStats,
) -> Result:
    """``UPDATE/DELETE … LIMIT n`` routed to several shards: the keys of the rows it
    writes (a merged, locking SELECT), then the write restricted to them, as one
    statement (:mod:`sharding.sql.limited_write`)."""
    tree = await _literal_tree(session, sql, params)
    if not isinstance(tree, exp.Update | exp.Delete):
        raise NotSupported(f"{plan.kind.upper()} with LIMIT on several shards")
    dialect = session.coord.semantics.dialect
    choose = selection(tree, plan.table, lock=dialect == "mysql")
    limit = session.coord.topology.cluster.subquery_rows
    sink = Bounded(limit, stop=False, what=f"{plan.kind.upper()} … LIMIT on several shards")
    async with statement_transaction(session):
        await select_statement(session, choose.sql(dialect="mysql"), None, Counted(sink), stats)
        if not sink.collected:
            info = "Rows matched: 0  Changed: 0  Warnings: 0" if plan.kind == "update" else ""
            return Result(affected=0, info=info)
        write = restricted(tree, plan.table, sink.collected, dialect)
        return await write_statement(session, write.sql(dialect="mysql"), None, stats)


async def _literal_tree(
    session: CoordinatorSession, sql: str, params: Sequence[Any] | None
) -> exp.Expr:
    """``sql`` parsed, its session variables and ``?`` parameters replaced by
    literals of their own type (for statements rewritten into others)."""
    tree = await cpu_bound(len(sql), parse_one, sql)
    if await cpu_bound(len(sql), session_refs, sql):
        tree = session._substitute(tree)
    slots = param_slots(sql)
    values = session._values(slots, params)
    by_position = {s.position: i for i, s in enumerate(slots)}
    for node in list(tree.find_all(exp.Placeholder)):
        slot = by_position.get(placeholder_offset(node) or -1)
        if slot is None:
            raise ShardgateError("internal error: unmatched placeholder", code=1105)
        node.replace(literal_node(values[slot], "mysql"))
    return tree


async def _moving_update(
    session: CoordinatorSession,
    sql: str,
    params: Sequence[Any] | None,
    refusal: ShardKeyUpdate,
    stats: ExecStats,
) -> Result:
    """``UPDATE … SET shard_key = …``: rows that keep their key are updated in place,
    the others deleted and inserted on their new shard, as one statement
    (:mod:`sharding.sql.moving_update`)."""
    tree = await _literal_tree(session, sql, params)
    if not isinstance(tree, exp.Update) or not isinstance(tree.this, exp.Table):
        raise refusal
    if tree.args.get("joins") or tree.args.get("from_") or tree.args.get("from"):
        raise refusal
    table = tree.this
    database = table.db or session._database
    if not database:
        raise NoDatabaseSelected("No database selected")
    coord = session.coord
    info = await coord.catalog.lookup(database, table.name)
    referenced = any(
        fk.ref_table.lower() == info.name.lower()
        and fk.ref_database.lower() == info.database.lower()
        for other in coord.catalog.tables()
        for fk in other.foreign_keys
    )
    if info.foreign_keys or referenced or re.search(r"\bON\s+UPDATE\b", info.create_sql, re.I):
        raise NotSupported(
            f"UPDATE of the shard key of {info.qualified}, which has foreign keys or "
            "ON UPDATE columns (delete and insert would not be MySQL's update)"
        )
    sem = coord.semantics
    assigned = assignments(tree, info)
    choose = new_rows(tree, info, assigned, lock=sem.dialect == "mysql")
    width = len(info.columns)
    pk_width = len(info.primary_key)
    sink = Bounded(coord.topology.cluster.subquery_rows, stop=False, what="UPDATE of a shard key")
    async with statement_transaction(session):
        await select_statement(session, choose.sql(dialect="mysql"), None, Counted(sink), stats)
        key_at = next(
            i
            for i, c in enumerate(info.columns)
            if c.name.lower() == info.rule.shard_key.lower()  # type: ignore[union-attr]
        )
        stay: list[Row] = []
        move: list[Row] = []
        for row in sink.collected:
            new_key, old_key = row[key_at], row[-1]
            same = type(new_key) is type(old_key) and new_key == old_key
            (stay if same else move).append(row)
        if len(sink.collected) > 1 and move:
            await _refuse_order_dependent(session, tree, info, assigned, sink.collected, stats)
        matched = changed = warnings = 0
        if stay:
            keys = [row[width : width + pk_width] for row in stay]
            statement = in_place(tree, info, keys, sem.dialect)
            if statement is None:
                matched += len(stay)
            else:
                done = await write_statement(session, statement.sql(dialect="mysql"), None, stats)
                m = _UPDATE_INFO.match(done.info or "")
                if m is None:
                    raise ShardgateError("internal error: UPDATE without its counts", code=1105)
                matched += int(m.group(1))
                changed += int(m.group(2))
                warnings += int(m.group(3))
        if move:
            keys = [row[width : width + pk_width] for row in move]
            target = table.copy()
            target.set("alias", None)  # the keys are unqualified
            deleted = restricted(exp.Delete(this=target), info, keys, sem.dialect)
            await write_statement(session, deleted.sql(dialect="mysql"), None, stats)
            columns = ", ".join(f"`{c.name.replace('`', '``')}`" for c in info.columns)
            head = f"INSERT INTO `{info.database.replace('`', '``')}`.`{info.name.replace('`', '``')}` ({columns})"
            for text, values in batches(head, width, [row[:width] for row in move]):
                await insert_statement(session, text, values, stats)
            matched += len(move)
            changed += len(move)
    affected = matched if session.state.client_found_rows else changed
    return Result(
        affected=affected,
        info=f"Rows matched: {matched}  Changed: {changed}  Warnings: {warnings}",
        warnings=warnings,
    )


async def _refuse_order_dependent(
    session: CoordinatorSession,
    tree: exp.Update,
    info: TableInfo,
    assigned: Sequence[tuple[str, exp.Expr]],
    rows: Sequence[Row],
    stats: ExecStats,
) -> None:
    """1235 when a new unique value of the rows a moving UPDATE writes is held by a
    row already: MySQL's outcome would depend on its scan order
    (:mod:`sharding.sql.moving_update`)."""
    width, pk_width = len(info.columns), len(info.primary_key)
    position = {c.name.lower(): i for i, c in enumerate(info.columns)}
    old_at = {name.lower(): width + pk_width + j for j, (name, _) in enumerate(assigned)}
    for columns in unique_keys(info, assigned):
        fresh = []
        for row in rows:
            new = tuple(row[position[c.lower()]] for c in columns)
            old = tuple(row[old_at.get(c.lower(), position[c.lower()])] for c in columns)
            if new != old:
                fresh.append(new)
        if not fresh:
            continue
        probe = collision_probe(tree, columns, fresh, session.coord.semantics.dialect)
        found = Bounded(1, stop=True)
        await select_statement(session, probe.sql(dialect="mysql"), None, Counted(found), stats)
        if found.collected:
            raise NotSupported(
                "UPDATE of a shard key over several rows where a new value of the unique "
                f"key ({', '.join(columns)}) is held by a row already (MySQL's answer "
                "depends on its scan order)"
            )


def _matched(r: ExecResult) -> int:
    """CLIENT_FOUND_ROWS: rows matched by an UPDATE (MySQL shards report them in the
    OK packet's info; SQLite's count is the matched rows already)."""
    matched = getattr(r, "matched", None)
    return matched if isinstance(matched, int) else r.affected


def write_ops(
    plan: WritePlan, prepared: Prepared[WritePlan], sem: Semantics
) -> dict[str, list[WriteOp]]:
    """The statement per routed shard (every copy of a broadcast table), by source."""
    read = ShardRead(
        plan.template,
        plan.tables,
        plan.route,
        plan.leader,
        route_tables=plan.route_tables or (plan.table,),
    )
    if plan.broadcast:
        targets = _broadcast_targets(plan.tables, sem.dialect)
    else:
        targets = shard_targets(read, route_shards(read, prepared.values, sem), sem.dialect)
    if plan.single_only and len(targets) > 1:
        raise _SeveralShardsLimit(f"{plan.kind.upper()} with LIMIT on several shards")
    bound = plan.template.bind(prepared.texts)
    ops: dict[str, list[WriteOp]] = {}
    for t in targets:
        ops.setdefault(t.datasource, []).append(
            WriteOp(t.datasource, t.databases, bound.fill(t.names), t.shard)
        )
    return ops


def commit_mode(session: CoordinatorSession, ops: Mapping[str, list[WriteOp]]) -> str:
    """How a write will commit (EXPLAIN); mirrors :func:`_write`."""
    if session._txn is not None or not session._autocommit:
        return "in the session's transaction (COMMIT ends it)"
    if _single_statement(ops) is not None:
        return "one statement, autocommit"
    return f"one transaction per data source, commit strategy {session.coord.commit_strategy!r}"


def _broadcast_targets(tables: Sequence[TableInfo], dialect: str) -> list[Target]:
    """One target per data source holding a copy of every table in ``tables``."""
    first = tables[0]
    out = []
    for i, ds in enumerate(first.rule.datasources):
        names = []
        dbs = set()
        for info in tables:
            if ds not in info.rule.datasources:
                raise NotSupported(f"broadcast table {info.qualified} has no copy on {ds!r}")
            _, db, name = physical_names(info, dialect)[info.rule.datasources.index(ds)]
            names.append(name)
            dbs.add(db)
        out.append(Target(ds, i, tuple(names), tuple(sorted(dbs))))
    return out


async def _write(
    session: CoordinatorSession, ops: Mapping[str, list[WriteOp]], name: str, stats: ExecStats
) -> dict[str, list[ExecResult]]:
    """Run ``ops`` as one executor query: in the session's transaction, as one
    autocommit statement, or by the coordinator's commit strategy. In a transaction,
    several statements (shards, data sources) run under a savepoint: one that fails
    undoes the others (MySQL's statement rollback; a row of a multi-row INSERT that
    failed on one shard stayed inserted on another)."""
    await session._ensure_implicit_txn()
    if session._txn is not None and _single_statement(ops) is None:
        async with statement_transaction(session):
            return await _run_write(session, ops, name, stats)
    return await _run_write(session, ops, name, stats)


async def _run_write(
    session: CoordinatorSession, ops: Mapping[str, list[WriteOp]], name: str, stats: ExecStats
) -> dict[str, list[ExecResult]]:
    coord = session.coord
    async with coord.executor.query(name=name, session=session._id) as q:
        session.running(q.id)

        async def run_child(fn: Callable[..., Awaitable[Any]], *args: Any, label: str) -> Any:
            stats.children += 1
            return await q.run(fn, *args, label=label)

        ctx = WriteContext(session._sources, run_child)
        if session._txn is not None:
            return await session_write(ops, ctx, session._txn.connection)
        single = _single_statement(ops)
        if single is not None:
            return {
                single.datasource: [
                    await run_child(_write_autocommit, session._sources, single, label=single.label)
                ]
            }
        return await strategy(coord.commit_strategy)(ops, ctx)


async def _write_autocommit(sources: SessionSources, op: WriteOp) -> ExecResult:
    """One statement on one shard outside a transaction: atomic by itself on every
    backend, so it runs on an autocommit connection — one round trip instead of
    BEGIN, statement, COMMIT (the bulk of a prepared single-row INSERT's cost)."""
    async with sources[op.datasource].connection(op.databases) as conn:
        result: ExecResult = await conn.execute(op.sql)
        return result


async def insert_statement(
    session: CoordinatorSession,
    sql: str,
    params: Sequence[Any] | None,
    stats: ExecStats,
    first_row: int = 1,
    always_info: bool = False,
) -> Result:
    """An INSERT or REPLACE statement (module docstring). ``first_row``: the number
    MariaDB gives its first row in warnings (a batch of an ``INSERT … SELECT``);
    ``always_info``: the OK info text (Records, Duplicates) even for one row (such a
    batch's duplicates count in its statement's)."""
    refuse_read_only_write(session)
    coord = session.coord
    if await cpu_bound(len(sql), session_refs, sql):
        sql = await cpu_bound(len(sql), _insert_text, session.state, sql)
    try:
        shape = await _insert_shape(session, sql)
    except InsertSelectFound as found:
        return await _insert_select(session, sql, found.start, params, stats)
    info, parsed = shape.info, shape.parsed
    prepared = await cpu_bound(len(sql), shape.bind, params)
    given = len(params) if params else 0
    expected = parsed.param_count + (shape.upsert.params if shape.upsert is not None else 0)
    if expected != given:
        raise BadArguments(
            f"Incorrect arguments to mysqld_stmt_execute: statement has {expected} "
            f"placeholder(s), {given} value(s) given"
        )
    ids: list[int] = []
    if prepared.id_count:
        ids = await _generated_ids(coord, info, prepared)
    rows = await cpu_bound(len(sql), prepared.finish, ids)
    if rows.largest_explicit_id is not None and info.auto_increment:
        await coord.catalog.observe_ids(info.database, info.name, rows.largest_explicit_id)
    ops = await cpu_bound(len(sql), insert_ops, rows)
    stats.shards = sum(len(v) for v in ops.values())
    try:
        results = await _write(session, ops, "insert", stats)
    except BaseException as exc:
        _name_client_row(exc, ops, rows, first_row)
        raise
    count = _changed
    # ON DUPLICATE KEY UPDATE can only follow the rows (or the SET list): read the
    # tail, not the statement — a 10 MB INSERT's text took 0.2 s of the event loop.
    upsert = has_words(parsed.tail, _UPSERT_WORDS, _UPSERT)
    if session.state.client_found_rows and coord.semantics.dialect == "mysql" and upsert:
        count = _upsert_found_rows
    affected = sum(count(r) for rs in results.values() for r in rs)
    # The shards' warnings (INSERT IGNORE's duplicates, truncations): SHOW WARNINGS
    # lists them, the OK packet counts them, as MariaDB's (LOAD DATA sums them per
    # batch); "at row n" of a shard statement is the client's row.
    warned = _record_write_warnings(
        session, ops, results, info.broadcast, _client_rows(rows, first_row)
    )
    if info.broadcast:
        per_source = [sum(count(r) for r in rs) for rs in results.values()]
        affected = per_source[0] if per_source else 0
    text = ""
    if rows.rows > 1 or always_info:
        # CLIENT_FOUND_ROWS: MariaDB's Duplicates of an upsert count the rows that met
        # a duplicate — except in INSERT … SELECT (the batches: always_info), where
        # they stay the changed ones (measured on MariaDB 10.11).
        found_rows = upsert and session.state.client_found_rows and not always_info
        text = _insert_info(
            parsed.verb, parsed.ignore, upsert, rows, ops, results, warned, info.broadcast,
            found_rows,
        )  # fmt: skip
    if rows.first_id is not None:
        session.last_insert_id = rows.first_id
        return Result(affected=affected, last_insert_id=rows.first_id, warnings=warned, info=text)
    # Only explicit ids: LAST_INSERT_ID() keeps its value, but the OK packet carries
    # MariaDB's id: the last row's AUTO_INCREMENT value when the statement inserted or
    # changed a row, else 0 (an upsert that changed nothing, INSERT IGNORE of
    # duplicates only; measured on 10.11). An id the coordinator cannot read from the
    # statement (an expression): the shard's own OK packet says which.
    explicit = None
    if info.auto_increment and rows.last_explicit_id is not None:
        copied = any(_changed(r) for rs in results.values() for r in rs)
        explicit = rows.last_explicit_id if copied else 0
    elif info.auto_increment:
        ids = [r.last_insert_id for rs in results.values() for r in rs if r.last_insert_id]
        explicit = ids[0] if len(ids) == 1 else rows.largest_explicit_id
    return Result(affected=affected, last_insert_id=explicit, warnings=warned, info=text)


async def _generated_ids(coord: Any, info: TableInfo, prepared: PreparedInsert) -> list[int]:
    """The ids of the rows that need one, in MySQL's order: an explicit id before a
    generated one moves the counter past it first (``VALUES (20, …), (NULL, …)`` gives
    21 when the counter was below), so a statement mixing both asks the catalog per
    run of generated rows."""
    catalog = coord.catalog
    if not prepared.explicit_at:
        return list(await catalog.next_ids(info.database, info.name, prepared.id_count))
    ids: list[int] = []
    for run in prepared.id_runs():
        if isinstance(run, tuple):
            await catalog.observe_ids(info.database, info.name, run[0])
        else:
            ids += await catalog.next_ids(info.database, info.name, run)
    return ids


def _insert_info(
    verb: str,
    ignore: bool,
    upsert: bool,
    rows: InsertRows,
    ops: Mapping[str, list[WriteOp]],
    results: Mapping[str, list[ExecResult]],
    warned: int,
    broadcast: bool,
    found_rows: bool = False,
) -> str:
    """MariaDB's OK info of an INSERT/REPLACE of several rows: ``Records: r  Duplicates:
    d  Warnings: w`` (measured on MariaDB 10.11: d counts the rows IGNORE skipped, the
    rows REPLACE replaced, the rows an upsert changed). Each shard statement's own
    info gives its duplicates; a one-row shard statement has none, so its count comes
    from its affected rows. "" where some part cannot be told (a multi-row upsert on
    SQLite shards), as before. A broadcast table counts one copy. ``found_rows``
    (CLIENT_FOUND_ROWS, an upsert): MariaDB counts every row that met a duplicate,
    changed or not — the shards' (asked without the flag) counts the changed ones, so
    the others are the part's records less its inserts (affected less twice those)."""
    sizes = {(ds, db, shard): len(n) for (ds, db, _name, shard), n in rows.numbers.items()}
    duplicates = 0
    for name in list(results)[:1] if broadcast else sorted(results):  # one copy's count
        for op, r in zip(ordered(ops[name]), results[name], strict=True):
            found = getattr(r, "duplicates", None)
            records = getattr(r, "records", None)
            if found is not None and found_rows and records is not None:
                found = records - (r.affected - 2 * found)  # every row but the inserts
            elif found is not None and found_rows:
                return ""
            if found is None:
                n = sizes.get((op.datasource, op.databases[0] if op.databases else "", op.shard))
                if n is None:
                    return ""
                if upsert:
                    if n != 1:
                        return ""
                    found = 1 if r.affected == 2 or (found_rows and r.affected == 0) else 0
                elif verb == "REPLACE":
                    found = r.affected - n
                elif ignore:
                    found = n - r.affected
                else:
                    found = 0
            duplicates += found
    return f"Records: {rows.rows}  Duplicates: {duplicates}  Warnings: {warned}"


async def _insert_select(
    session: CoordinatorSession,
    sql: str,
    start: int,
    params: Sequence[Any] | None,
    stats: ExecStats,
) -> Result:
    """``INSERT/REPLACE … SELECT``: the SELECT's rows as prepared multi-row INSERTs,
    atomic as one statement (:mod:`sharding.sql.insert_select`).

    Streamed when the SELECT does not read the target (:func:`_reads_target`): the
    SELECT's sink (:class:`_StreamedRows`) writes each full batch before it takes more
    rows, so the reads wait while a batch is written and memory stays O(batch).
    Held otherwise (MySQL's temporary table): every row read first, bounded by
    ``cluster.subquery_rows``, then written.

    Connections: reads and writes both go through the statement's transaction
    (:func:`statement_transaction` opens one in autocommit), whose connection of a
    data source is lent to one statement at a time (``SessionTransaction``'s lock).
    No read holds it while its rows are handed on: a shard read borrows it, fetches a
    whole (chunk's) result and returns it before the rows reach the merge and the
    sink (:mod:`sharding.exec.stream`, ``_run_one_shard``), so a write never meets a
    half-read result on a connection, and a read chunk prefetched meanwhile only waits
    for the write's turn (no hold-and-wait, no deadlock). The producer makes no task
    of its own: the write runs in the statement's task, inside the SELECT's sink, and
    a cancellation or failure there leaves through the SELECT's nursery (its prefetch
    tasks cancelled) and rolls the statement back. Without a transaction inside
    :func:`statement_transaction` (none such state today) the batches could not be
    made atomic: the held form runs then."""
    parts = split_insert_select(sql, start)
    target = scan_insert(parts.head + " VALUES ()")
    database = target.database or session._database
    if not database:
        raise NoDatabaseSelected("No database selected")
    info = await session.coord.catalog.lookup(database, target.table)
    width = len(target.columns) if target.columns is not None else len(info.columns)
    if parts.upsert:
        why = upsert_refusal(
            parts.upsert,
            quote_identifier(info.name, "mysql"),
            info.column_names(),
            *await _select_names(session, parts.select),
        )
        if why is not None:
            raise NotSupported(why)
    reads = await _reads_target(session, parts.select, database, target.table)
    written = _Written(session, parts.head, width, stats, parts.upsert)
    async with statement_transaction(session):
        if not reads and session._txn is not None:
            streamed = _StreamedRows(written, width, rows_per_batch(width))
            # Strict mode's errors for the SELECT's conversions (CAST of a string that
            # is no integer: 1292), where a plain read only warns (sql/insert_select.py).
            with strict_select(parts.head):
                await select_statement(session, parts.select, params, Counted(streamed), stats)
            await streamed.flush()
            records = streamed.records
        else:
            limit = session.coord.topology.cluster.subquery_rows
            sink = Bounded(limit, stop=False, what="INSERT ... SELECT")
            with strict_select(parts.head):
                await select_statement(session, parts.select, params, Counted(sink), stats)
            if sink.width != width:
                raise ColumnCountMismatch("Column count doesn't match value count at row 1")
            await written.write(sink.collected)
            records = len(sink.collected)
    if written.first_id is not None:
        session.last_insert_id = written.first_id  # LAST_INSERT_ID(): the statement's first id
    affected, warnings = written.affected, written.warnings
    if parts.upsert:
        duplicates = written.duplicates  # the batches' own counts (changed or met rows)
    elif target.verb == "REPLACE":
        duplicates = affected - records
    else:
        duplicates = records - affected
    return Result(
        affected=affected,
        last_insert_id=written.first_id if written.first_id is not None else written.explicit,
        warnings=warnings,
        info=f"Records: {records}  Duplicates: {duplicates}  Warnings: {warnings}",
    )


async def _select_names(session: CoordinatorSession, select: str) -> tuple[set[str], set[str]]:
    """Every name an ``ON DUPLICATE KEY UPDATE`` after ``select`` could mean as the
    SELECT's (lower case): the columns of the catalog tables it reads and the names of
    every select list (derived tables, CTEs); and the names its tables go by (alias,
    else name). A table the catalog does not know adds no column: the SELECT itself
    fails on it (1146) before any row is written."""
    tree = await cpu_bound(len(select), parse_one, select)
    names: set[str] = set()
    tables: set[str] = set()
    catalog = session.coord.catalog
    for table in tree.find_all(exp.Table):
        tables.add((table.alias or table.name).lower())
        database = table.db or session._database
        found = catalog.get(database, table.name) if database else None
        if found is not None:
            names.update(c.lower() for c in found.column_names())
    for block in tree.find_all(exp.Select):
        names.update(e.alias_or_name.lower() for e in block.expressions if e.alias_or_name)
    return names, tables


async def _reads_target(
    session: CoordinatorSession, select: str, database: str, table: str
) -> bool:
    """Whether the SELECT of an ``INSERT … SELECT`` may read its target table
    (:func:`sharding.sql.insert_select.reads_table`); a text that does not parse is
    answered True (the held form then reports the parser's error, as before). A text
    that does not contain the table's name at all names no such table (no parse)."""
    if not any(q in table for q in "`\"'") and table.lower() not in select.lower():
        return False
    try:
        tree = await cpu_bound(len(select), parse_one, select)
    except ShardgateError:
        return True
    return reads_table(tree, database, table, session._database)


class _Written:
    """The batches of one ``INSERT … SELECT`` written so far: its affected rows and
    warnings, the first generated id (LAST_INSERT_ID) or an explicit one (the OK
    packet's), and the number MariaDB gives the next row in warnings ("at row n")."""

    def __init__(
        self,
        session: CoordinatorSession,
        head: str,
        width: int,
        stats: ExecStats,
        upsert: str = "",
    ):
        self.session = session
        self.head = head
        self.width = width
        self.stats = stats
        #: The statement's ON DUPLICATE KEY UPDATE clause, after every batch's VALUES.
        self.upsert = upsert
        #: Duplicates of an upsert's batches (their OK info's count).
        self.duplicates = 0
        self.affected = 0
        self.warnings = 0
        self.first_id: int | None = None
        self.explicit: int | None = None
        self.first_row = 1

    async def write(self, rows: Sequence[Row]) -> None:
        """Write ``rows`` (the SELECT's next ones) in batches of prepared INSERTs."""
        session = self.session
        # The writes are no read of the SELECT: never strict_select's shard reads (a
        # streamed batch is written while the SELECT's reading is under way).
        strict = STRICT_SELECT.set(False)
        running = session._query_id  # the SELECT's executor query (KILL QUERY)
        try:
            for text, values in batches(self.head, self.width, rows):
                before = session.last_insert_id
                if self.upsert:
                    text = f"{text} {self.upsert}"
                done = await insert_statement(
                    session, text, values, self.stats, self.first_row, bool(self.upsert)
                )
                if self.upsert:
                    found = _DUPLICATES.search(done.info or "")
                    if found is None:
                        raise NotSupported(
                            "INSERT ... SELECT ... ON DUPLICATE KEY UPDATE whose duplicates "
                            "cannot be counted on these shards"
                        )
                    self.duplicates += int(found.group(1))
                self.first_row += len(values) // max(1, self.width)
                self.affected += done.affected
                self.warnings += done.warnings
                generated = done.last_insert_id and session.last_insert_id != before
                if generated and self.first_id is None:
                    self.first_id = done.last_insert_id
                elif done.last_insert_id and not generated:
                    self.explicit = done.last_insert_id
        finally:
            STRICT_SELECT.reset(strict)
            if running is not None:
                session.running(running)


class _StreamedRows:
    """The sink of a streamed ``INSERT … SELECT``: rows gathered up to one batch,
    each full batch written (awaited: the SELECT's reads wait meanwhile) before more
    are taken; the column count checked at the header, before any row is written
    (the header comes before the first rows, or at the end of an empty SELECT)."""

    def __init__(self, written: _Written, width: int, per: int) -> None:
        self.written = written
        self.width = width
        self.per = per
        self.pending: list[Row] = []
        self.records = 0
        self.checked = False

    async def header(self, columns: list[Column]) -> None:
        if len(columns) != self.width:
            raise ColumnCountMismatch("Column count doesn't match value count at row 1")
        self.checked = True

    async def rows(self, batch: list[Row]) -> bool:
        if not self.checked:
            raise ShardgateError("internal error: INSERT ... SELECT rows before their header")
        self.records += len(batch)
        pending = self.pending
        taken = 0
        while len(pending) + len(batch) - taken >= self.per:
            need = self.per - len(pending)
            full = pending + batch[taken : taken + need]
            taken += need
            pending = self.pending = []
            await self.written.write(full)
        pending.extend(batch[taken:])
        return True

    async def flush(self) -> None:
        """Write the last, partial batch."""
        rest, self.pending = self.pending, []
        if rest:
            await self.written.write(rest)


def _insert_text(state: SessionState, sql: str) -> str:
    """An INSERT with ``@v``/session functions in its values, with them replaced by
    their values (the scanner then splits it like any other)."""
    tree = parse_one(sql)
    sub = substitute(tree, state)
    if not sub.changed:
        return sql
    # A value that held a variable is folded to a constant (``@k + 10`` → ``13``):
    # the scanner routes rows by constant shard-key values only.
    before = list(tree.find_all(exp.Tuple))
    after = list(sub.tree.find_all(exp.Tuple))
    if len(before) == len(after):
        # sqlglot's optimizer (~40 ms of imports) only for such rare INSERTs, not at
        # every ``shardgate serve`` start-up.
        from sqlglot.optimizer.simplify import simplify

        for old, new in zip(before, after, strict=True):
            values = [
                simplify(n.copy()) if n != o and n.find(exp.Column) is None else n
                for o, n in zip(old.expressions, new.expressions, strict=False)
            ]
            new.set("expressions", values)
    return sub.tree.sql(dialect="mysql")


async def _insert_shape(session: CoordinatorSession, sql: str) -> InsertShape:
    """The scanned INSERT. A prepared statement's text (the same text with new
    parameters on every execution) is scanned once and kept in the plan cache."""
    coord = session.coord
    cacheable = "?" in sql and len(sql) <= _CACHED_INSERT_CHARS
    key = (sql, session._database)
    if cacheable:
        shape = coord.plan_cache.get(key, (), coord.catalog.generation)
        if isinstance(shape, InsertShape):
            return shape
    parsed = await cpu_bound(len(sql), scan_insert, sql)
    database = parsed.database or session._database
    if not database:
        raise NoDatabaseSelected("No database selected")
    info = await coord.catalog.lookup(database, parsed.table)
    generation = coord.catalog.generation  # after a reload by lookup()
    built = await cpu_bound(
        len(sql), lambda: insert_shape(sql, parsed, info, coord.semantics, reuse=cacheable)
    )
    if cacheable:
        coord.plan_cache.put(key, {}, built, generation)
    return built


def _changed(r: ExecResult) -> int:
    return r.affected


def _upsert_found_rows(r: ExecResult) -> int:
    """CLIENT_FOUND_ROWS for ``INSERT ... ON DUPLICATE KEY UPDATE`` from a shard's OK
    packet (backend connections never ask for found rows): a duplicate left as it was
    counts 1 instead of 0. MariaDB's info text counts ``Records`` (rows) and
    ``Duplicates`` (rows changed by the update, measured): inserted and unchanged rows
    count 1 each, changed ones 2, so the answer is ``records + duplicates``. A one-row
    statement has no info: affected 0 is an unchanged duplicate."""
    records = getattr(r, "records", None)
    duplicates = getattr(r, "duplicates", None)
    if records is None or duplicates is None:
        return 1 if r.affected == 0 else r.affected
    return int(records + duplicates)


class _SeveralShardsLimit(NotSupported):
    """An UPDATE/DELETE with LIMIT routed to several shards (run in two steps)."""


def insert_ops(rows: InsertRows) -> dict[str, list[WriteOp]]:
    """The scanner's per-shard INSERT statements, by data source."""
    ops: dict[str, list[WriteOp]] = {}
    for ds, db, shard, text in rows.statements():
        ops.setdefault(ds, []).append(WriteOp(ds, (db,), text, shard))
    return ops


def _single_statement(ops: Mapping[str, list[WriteOp]]) -> WriteOp | None:
    """The write's only statement, if it has exactly one."""
    if len(ops) != 1:
        return None
    (only,) = ops.values()
    return only[0] if len(only) == 1 else None


#: A shard's warning text ends with the number MariaDB gave the row it concerns.
_AT_ROW = re.compile(r" at row (\d+)$")
#: ``number(op, n, before)``: the client's row number of row ``n`` of ``op``'s
#: statement, ``before`` the rows the statements of lower shards matched.
RowNumber = Callable[[WriteOp, int, int], int]


def _record_write_warnings(
    session: CoordinatorSession,
    ops: Mapping[str, list[WriteOp]],
    results: Mapping[str, list[ExecResult]],
    broadcast: bool,
    number: RowNumber,
) -> int:
    """Record the warnings the shard statements of one write raised (SHOW WARNINGS,
    @@warning_count); returns their count for the OK packet (MariaDB's: every
    warning, listed or not, less the notes ``sql_notes = 0`` drops).

    A write without warnings costs one integer test per statement. A broadcast
    write lists one copy's (every copy raised the same). The texts are ordered by
    the client's row they concern ("at row n", renumbered by ``number``), then by
    shard: a statement on one shard keeps the shard's order and numbers exactly; a
    text without a row number (1062 of ``INSERT IGNORE``) sorts with the row of the
    one before it in its shard, or the shard statement's first row (docs/refusals.md:
    what stays approximate across shards)."""
    if not any(r.warnings for rs in results.values() for r in rs):
        return 0
    names = list(results)[:1] if broadcast else sorted(results)
    pairs = [
        (op, r) for name in names for op, r in zip(ordered(ops[name]), results[name], strict=True)
    ]
    pairs.sort(key=lambda p: p[0].shard)  # stable: one source's order for equal shards
    count = before = 0
    keyed: list[tuple[int, int, tuple[str, int, str]]] = []
    for op, r in pairs:
        if r.warnings:
            count += r.warnings
            row = number(op, 1, before)  # until a text names its row: the first one's
            for level, code, message in r.notes or ():
                m = _AT_ROW.search(message)
                if m is not None:
                    row = number(op, int(m.group(1)), before)
                    message = f"{message[: m.start()]} at row {row}"
                keyed.append((row, len(keyed), (level, code, message)))
        before += _matched(r)
    keyed.sort(key=lambda k: (k[0], k[1]))
    return session.state.warn_counted(count, [note for _, _, note in keyed])


def _name_client_row(
    exc: BaseException, ops: Mapping[str, Sequence[WriteOp]], rows: InsertRows, first_row: int
) -> None:
    """A shard's error "… at row n" (a strict-mode value, a column count) names the
    n-th row of *its* statement, which holds only that shard's rows: renumbered in
    place to the client's row, as MariaDB names it. Only where the failed statement is
    known — its data source, and its place in that source's batch when it ran more than
    one (``ShardgateError.statement_index``); otherwise the text stays as it is."""
    error = client_error(exc)
    if not isinstance(error, ShardgateError):
        return
    m = _AT_ROW.search(error.message)
    if m is None:
        return
    source: str | None = getattr(error, "datasource", None)
    if source is None and len(ops) == 1:
        source = next(iter(ops))
    batch = ordered(ops[source]) if source is not None and source in ops else []
    index = 0 if len(batch) == 1 else error.statement_index
    if index is None or not 0 <= index < len(batch):
        return
    row = _client_rows(rows, first_row)(batch[index], int(m.group(1)), 0)
    error.message = f"{error.message[: m.start()]} at row {row}"


def _client_rows(rows: InsertRows, first_row: int) -> RowNumber:
    """INSERT … VALUES: a shard statement's row n is the client's row the coordinator
    put there (:attr:`InsertRows.numbers`), counted from ``first_row``."""
    numbers = {(ds, db, shard): n for (ds, db, _name, shard), n in rows.numbers.items()}

    def number(op: WriteOp, n: int, before: int) -> int:
        mine = numbers.get((op.datasource, op.databases[0] if op.databases else "", op.shard))
        if mine is None or not 0 < n <= len(mine):
            return n + first_row - 1
        return mine[n - 1] + first_row - 1

    return number


def _scan_rows(op: WriteOp, n: int, before: int) -> int:
    """UPDATE/DELETE: MariaDB numbers rows in its scan order, which no shard sees; a
    shard's rows are numbered after those the lower shards matched — exact on one
    shard, MariaDB's numbers across shards only when its scan meets the shards' rows
    shard by shard (docs/refusals.md)."""
    return n + before
