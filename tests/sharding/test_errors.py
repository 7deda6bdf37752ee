"""Acceptance 4: bad SQL → 1064 with the position; unsupported SQL → 1235 naming the
construct; other mistakes → their MySQL codes. Never a wrong answer or a crash."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sharding import Coordinator, Topology
from sharding.errors import ShardgateError


@pytest.fixture
async def c(small_topology: Topology) -> AsyncIterator[Coordinator]:
    async with Coordinator(small_topology, catalog_refresh=None) as coord:
        await coord.execute("CREATE TABLE t (id INT PRIMARY KEY, k INT, a INT, b TEXT)")
        await coord.execute("CREATE TABLE u (uid INT PRIMARY KEY, k INT, x INT)")
        await coord.execute("CREATE TABLE w (wid INT PRIMARY KEY, k INT)")
        await coord.execute("INSERT INTO t VALUES (1, 1, 1, 'a'), (2, 2, 2, 'b'), (5, 1, 3, 'c')")
        yield coord


PARSE_ERRORS = [
    ("SELEC * FROM t", "near 'FROM t' at line 1"),
    ("SELECT * FROM t WHERE", "near 'WHERE' at line 1"),
    ("SELECT id FROM t\nWHERE a = = 1", "at line 2"),
    ("SELECT 'abc FROM t", "line 1"),
    ("SELECT (1 FROM t", "near 'FROM t'"),
    ("INSERT INTO t (id) VALUES (1", "line 1"),
    ("INSERT INTO t (id) (1)", "VALUES"),
    # No MariaDB statement starts with these words (1235 would say "valid, not here").
    ("FOO BAR", "near 'FOO BAR' at line 1"),
    ("SELECTT 1", "line 1"),
]


@pytest.mark.parametrize("sql, fragment", PARSE_ERRORS)
async def test_parse_errors_are_1064_with_position(c: Coordinator, sql: str, fragment: str) -> None:
    with pytest.raises(ShardgateError) as err:
        await c.execute(sql)
    assert err.value.code == 1064 and err.value.sqlstate == "42000"
    assert "You have an error in your SQL syntax" in str(err.value)
    assert fragment in str(err.value)


async def test_empty_query(c: Coordinator) -> None:
    with pytest.raises(ShardgateError) as err:
        await c.execute("   ")
    assert err.value.code == 1065


UNSUPPORTED = [
    ("SELECT id, ROW_NUMBER() OVER (ORDER BY id), RANK() OVER (ORDER BY a) FROM t", "window"),
    ("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k = t.k AND u.x > t.a)", "db.u"),
    ("SELECT ROW_NUMBER() OVER (ORDER BY id) FROM (SELECT id FROM t) x", "window"),
    # One equality correlation runs as a grouped lookup (test below); another does not.
    ("SELECT id, (SELECT COUNT(*) FROM u WHERE u.k > t.k) FROM t", "subquery"),
    # GROUP_CONCAT over several shards is answered (the fidelity suite's SQLite variant
    # compares it with MariaDB); with ROLLUP it is not.
    ("SELECT k, GROUP_CONCAT(b) FROM t GROUP BY k WITH ROLLUP", "GROUP_CONCAT"),
    ("SELECT a, COUNT(*) FROM t", "neither grouped nor aggregated"),
    ("SELECT * FROM t JOIN u ON t.a < u.x", "without an equality"),
    ("SELECT * FROM t RIGHT JOIN u ON t.k = u.k", "RIGHT JOIN"),
    ("SELECT id FROM t UNION SELECT uid FROM u ORDER BY id + 1", "UNION"),
    ("SELECT * FROM t JOIN u ON t.k = u.k JOIN w ON w.k = u.k", "not co-located"),
    ("SELECT DISTINCT k FROM t GROUP BY k WITH ROLLUP", "ROLLUP"),
    ("UPDATE t SET id = id + 1 WHERE id < 3", "shard key over several rows"),
    (  # x is the SELECT's column: the batches would read the target's
        "INSERT INTO t SELECT uid, k, x, NULL FROM u ON DUPLICATE KEY UPDATE a = x",
        "ON DUPLICATE KEY UPDATE naming x",
    ),
    ("INSERT INTO t (id) VALUES (9) ON DUPLICATE KEY UPDATE id = 1", "shard key"),
    ("ALTER TABLE t MODIFY COLUMN k BIGINT", "MODIFY"),  # SQLite shards cannot change a type
    ("SELECT k, COUNT(*) FROM t GROUP BY k FOR UPDATE", "FOR UPDATE"),
    ("SELECT * FROM t JOIN u USING (k)", "USING"),
    # Not 1052 "ambiguous": NATURAL's columns are the common ones once.
    ("SELECT * FROM t NATURAL JOIN t t2 ORDER BY id", "NATURAL JOIN"),
    ("SELECT * FROM t NATURAL LEFT JOIN u", "NATURAL JOIN"),
    ("SELECT DISTINCT k FROM t ORDER BY a", "in order by is neither grouped nor aggregated"),
    ("INSERT INTO t (id) VALUES (1 + 1)", "constant"),
    # STD of an INT/DECIMAL column over several SQLite shards is answered (exact
    # partials, tests/sharding/test_sqlite_variance.py); of a text column it is not.
    ("SELECT STDDEV(b) FROM t", "STDDEV"),
    # Named as MySQL spells them (sqlglot's class name gave J_S_O_N_OBJECT_AGG).
    ("SELECT k, JSON_OBJECTAGG(id, b) FROM t GROUP BY k", "aggregate function JSON_OBJECTAGG()"),
    ("SELECT JSON_ARRAYAGG(id) FROM t", "aggregate function JSON_ARRAYAGG()"),
    ("GRANT ALL ON *.* TO x", "GRANT"),
    # MariaDB statements sqlglot cannot parse: refused, not called syntax errors.
    ("XA START 'x'", "XA"),
    ("CHECK TABLE t", "CHECK"),
    ("CHECKSUM TABLE t", "CHECKSUM"),
    ("DO 1", "DO"),
    ("SIGNAL SQLSTATE '45000'", "SIGNAL"),
    ("HANDLER t OPEN", "HANDLER"),
]


@pytest.mark.parametrize("sql, fragment", UNSUPPORTED)
async def test_unsupported_is_1235_naming_the_construct(
    c: Coordinator, sql: str, fragment: str
) -> None:
    with pytest.raises(ShardgateError) as err:
        await c.execute(sql)
    assert err.value.code == 1235, str(err.value)
    assert fragment.lower() in str(err.value).lower()


async def test_single_shard_statements_may_use_anything_the_backend_has(c: Coordinator) -> None:
    """Routed to one shard, the statement is pushed down whole: no 1235."""
    rows = (await c.execute("SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM t WHERE id = 5")).rows
    assert rows == [(5, 1)]
    rows = (await c.execute("SELECT GROUP_CONCAT(b) FROM t WHERE id = 2")).rows
    assert rows == [("b",)]


async def test_a_correlated_count_of_one_equality_is_answered(c: Coordinator) -> None:
    """Was 1235 on SQLite shards; the grouped lookup reads COLLATION() from the catalog."""
    await c.execute("INSERT INTO u VALUES (1, 1, 1), (2, 1, 2)")
    sql = "SELECT id, (SELECT COUNT(*) FROM u WHERE u.k = t.k) FROM t ORDER BY id"
    assert (await c.execute(sql)).rows == [(1, 2), (2, 0), (5, 2)]


OTHER_ERRORS = [
    ("SELECT * FROM nope", 1146),
    ("SELECT * FROM other.t", 1146),
    ("SELECT nope FROM t", 1054),
    ("SELECT nope FROM t WHERE id = 1", 1054),
    ("SELECT k FROM t JOIN u ON t.k = u.k", 1052),
    ("INSERT INTO t (id, nope) VALUES (1, 2)", 1054),
    ("INSERT INTO t (id, k) VALUES (1, 2, 3)", 1136),
    ("INSERT INTO t (id, k) VALUES (1, 2)", 1062),
    ("INSERT INTO t (id) VALUES ('x')", 1526),
    ("SELECT * FROM t LIMIT ?", 1210),
    ("CREATE TABLE t (id INT)", 1050),
    ("DROP TABLE nope", 1051),
    ("CREATE TABLE q (a INT, b INT, PRIMARY KEY (b)) PARTITION BY HASH (a) PARTITIONS 2", 1503),
]


@pytest.mark.parametrize("sql, code", OTHER_ERRORS)
async def test_other_errors_have_mysql_codes(c: Coordinator, sql: str, code: int) -> None:
    if code == 1526:
        await c.execute("CREATE TABLE mt (id INT PRIMARY KEY) PARTITION BY HASH(id) PARTITIONS 4")
        sql = sql.replace(" t ", " mt ")
    with pytest.raises(ShardgateError) as err:
        await c.execute(sql)
    assert err.value.code == code, str(err.value)


async def test_no_database_selected(c: Coordinator) -> None:
    s = c.open_session(database="db")
    await s.execute("CREATE DATABASE x2")
    await s.execute("DROP DATABASE x2")
    s2 = c.open_session()
    s2._database = None  # a client that connected without a database
    with pytest.raises(ShardgateError) as err:
        await s2.execute("SELECT * FROM t")
    assert err.value.code == 1046
    assert (await s2.execute("SELECT COUNT(*) FROM db.t")).rows == [(3,)]


async def test_errors_leave_the_executor_clean(c: Coordinator) -> None:
    for sql, _ in UNSUPPORTED + PARSE_ERRORS:
        try:
            await c.execute(sql)
        except ShardgateError:
            pass
    stats = c.executor.statistics()
    assert stats.active == 0 and stats.queued == 0 and stats.queries == 0


# ---------------------------------------------------------------------- one place for codes
#: Error classes still defined outside sharding.errors (none left; keep it that way).
KNOWN_ELSEWHERE: set[str] = set()


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def test_error_codes_live_in_sharding_errors() -> None:
    """Every error class with its own MySQL code is defined in sharding.errors; a
    class elsewhere may only re-export one of those (inheriting its code)."""
    import importlib
    import pkgutil

    import sharding
    from sharding import errors

    for mod in pkgutil.walk_packages(sharding.__path__, "sharding."):
        importlib.import_module(mod.name)
    elsewhere = [c for c in _all_subclasses(ShardgateError) if c.__module__ != "sharding.errors"]
    for cls in elsewhere:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in KNOWN_ELSEWHERE:
            continue
        assert "code" not in vars(cls) and "sqlstate" not in vars(cls), name
        assert any(
            base.__module__ == "sharding.errors" and base is not ShardgateError
            for base in cls.__mro__[1:]
        ), name
    for name, code in [
        ("EmptyQuery", 1065),
        ("AmbiguousColumn", 1052),
        ("ColumnCountMismatch", 1136),
        ("NoShardForValue", 1526),
        ("PartitionKeyError", 1503),
        ("TooManyRows", 1104),
        ("BadArguments", 1210),
    ]:
        assert getattr(errors, name).code == code


async def test_empty_and_bad_argument_errors_are_the_shared_classes(c: Coordinator) -> None:
    from sharding import errors
    from sharding.exec.stream import TooManyRows

    with pytest.raises(errors.EmptyQuery):
        await c.execute(" ; ")
    with pytest.raises(errors.BadArguments):
        await c.execute("SELECT * FROM t WHERE id = ?", [1, 2])
    with pytest.raises(errors.AmbiguousColumn):
        await c.execute("SELECT k FROM t JOIN u ON t.k = u.k")
    assert issubclass(TooManyRows, errors.TooManyRows)
