"""The lean path of a cached one-shard SELECT (``sharding/session_lean.py``, issue 16)
answers what the full path answers, byte for byte, and leaves the session as it does.

Each statement is sent as text twice with different numbers: the first plans it (full
path), the second finds its plan and takes the lean path (the session's
``lean_statements`` counter says so). The same statement with a trailing comment
takes the full path (``fast_normalize`` takes no comment); every packet of both
answers — column definitions, rows, the end-of-rows status and warning count — must
be equal, and the rows must be MariaDB's for the same statement on the unsharded
tables. Statements the lean path must leave alone (strings, comments, variables,
``SQL_CALC_FOUND_ROWS``, reads over several shards) leave the counter as it was; the
session state after a lean read (warnings, FOUND_ROWS(), ROW_COUNT()), a transaction
of ``autocommit = 0``, and ``KILL QUERY`` of a lean read are checked against MariaDB.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pymysql
import pytest

from tests.fidelity.harness import Environment, native_environment
from tests.server.rawclient import RawClient, err_code

pytestmark = pytest.mark.mysql


@pytest.fixture(scope="module")
def env() -> Environment:
    return native_environment()


def _lean_count(env: Environment) -> int:
    """Lean statements over the server's sessions (read across threads: ints)."""
    assert env._server is not None
    return sum(
        getattr(c.session, "lean_statements", 0) for c in list(env._server._connections.values())
    )


def _clients(env: Environment) -> tuple[RawClient, RawClient]:
    sharded, oracle = RawClient(env.port, timeout=30), RawClient(3306, timeout=30)
    assert sharded.login(database=env.logical_db)[-1][0] == 0x00
    assert oracle.login(database=env.oracle_db)[-1][0] == 0x00
    return sharded, oracle


def _rows(packets: list[bytes]) -> list[bytes]:
    """The row payloads of one text result read in EOF mode."""
    count = packets[0][0]
    return packets[count + 2 : -1]


#: Statements whose literals are numbers only, each with ids for its calls (the
#: first call plans it). Literals in the select list name their column and decide its
#: type (``0.5`` is DECIMAL(2,1), ``12.25`` DECIMAL(4,2)): the lean call must say so.
LEAN = [
    ("SELECT id, customer_id, amount, status, created FROM orders WHERE id = {}", [3, 17, 66]),
    ("SELECT {0}, id, amount * 2 FROM orders WHERE id = {0}", [5, 21, 240]),
    ("SELECT id, {0}.25 FROM orders WHERE id = {0}", [7, 12, 100]),
    ("SELECT id / 0, qty FROM orders WHERE id = {}", [9, 26]),
    ("SELECT id FROM orders WHERE id = {} LIMIT 1", [11, 27]),
    ("SELECT id, 1e300 / (id + 0.3) FROM orders WHERE id = {}", [13, 29]),
    ("SELECT id FROM orders WHERE id = {}", [100000, 100016]),  # no row
    ("SELECT * FROM regions ORDER BY code LIMIT {}", [1, 3]),  # a broadcast table
    ("SELECT name, tier FROM customers WHERE id = {}", [4, 20, 36]),
]


@pytest.mark.parametrize(("template", "ids"), LEAN, ids=[t for t, _ in LEAN])
def test_lean_answers_are_the_full_paths_bytes(
    env: Environment, template: str, ids: list[int]
) -> None:
    sharded, oracle = _clients(env)
    try:
        sharded.query(template.format(ids[0]))  # planned here (the full path)
        for id_ in ids[1:]:
            sql = template.format(id_)
            before = _lean_count(env)
            lean = sharded.query(sql)
            assert _lean_count(env) == before + 1, sql
            full = sharded.query(sql + " -- the full path")
            assert _lean_count(env) == before + 1, sql
            assert lean == full, sql
            assert _rows(lean) == _rows(oracle.query(sql)), sql
    finally:
        sharded.close()
        oracle.close()


#: Each run twice: never the lean path (counter unchanged), answered as MariaDB.
NOT_LEAN = [
    "SELECT id FROM orders WHERE id = 17 /* c */",
    "SELECT 'a', id FROM orders WHERE id = 17",
    "SELECT @lean_x, id FROM orders WHERE id = 17",
    "SELECT SQL_CALC_FOUND_ROWS id FROM orders WHERE id = 17",
    "SELECT id FROM orders WHERE id IN (1, 2) ORDER BY id",
    "SELECT COUNT(*) FROM orders WHERE qty > 3",
    "SELECT id FROM orders WHERE id = 17;",
    "SELECT DATABASE(), id FROM orders WHERE id = 17",
    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME = 'orders' LIMIT 0",
]


def test_other_statements_take_the_full_path(env: Environment) -> None:
    sharded, oracle = _clients(env)
    try:
        for sql in NOT_LEAN:
            for _ in range(2):
                before = _lean_count(env)
                got = sharded.query(sql)
                assert _lean_count(env) == before, sql
                if "DATABASE()" not in sql:  # names the logical database
                    assert _rows(got) == _rows(oracle.query(sql)), sql
    finally:
        sharded.close()
        oracle.close()


def _run(conn: Any, sql: str) -> tuple[Any, ...]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return (cur.fetchall() if cur.description else None, cur.rowcount)


def test_session_state_after_a_lean_read_is_mariadbs(env: Environment) -> None:
    sharded, oracle = env.connect_sharded(), env.connect_oracle()
    # Both reads planned first (a plan may be cached already or not, depending on the
    # tests that ran before against this environment): the script's reads are lean.
    for sql in ("SELECT id / 0 FROM orders WHERE id = 30", "SELECT id FROM orders WHERE id = 29"):
        _run(sharded, sql)
    script = [
        "SELECT id / 0 FROM orders WHERE id = 30",
        "SELECT id / 0 FROM orders WHERE id = 31",  # lean, one warning
        "SHOW WARNINGS",
        "SELECT ROW_COUNT()",
        "SELECT id FROM orders WHERE id = 32",
        "SELECT id FROM orders WHERE id = 33",
        "SELECT FOUND_ROWS()",
        "SHOW WARNINGS",
        "SELECT id FROM orders WHERE id = 100033",
        "SELECT FOUND_ROWS()",
    ]
    try:
        before = _lean_count(env)
        for sql in script:
            assert _run(sharded, sql) == _run(oracle, sql), sql
        assert _lean_count(env) == before + 5
    finally:
        sharded.close()
        oracle.close()


def test_a_lean_read_sees_its_transaction(env: Environment) -> None:
    """``autocommit = 0``: the lean read opens the implicit transaction and reads
    through it (its own uncommitted write), as the full path does."""
    sharded, oracle = env.connect_sharded(), env.connect_oracle()
    read = "SELECT qty FROM orders WHERE id = {}"
    try:
        for conn in (sharded, oracle):
            _run(conn, read.format(40))  # plans it
            _run(conn, "SET autocommit = 0")
        before = _lean_count(env)
        for sql in (
            read.format(41),
            "UPDATE orders SET qty = 100 + COALESCE(qty, 0) WHERE id = 42",
            read.format(42),
            "ROLLBACK",
            read.format(42),
            "SELECT @@in_transaction",
            "COMMIT",
        ):
            assert _run(sharded, sql) == _run(oracle, sql), sql
        assert _lean_count(env) == before + 3
    finally:
        for conn in (sharded, oracle):
            _run(conn, "ROLLBACK")
            conn.close()


def test_kill_query_stops_a_lean_read(env: Environment) -> None:
    """A lean read is an executor query like any other: ``KILL QUERY`` ends it with
    1317, the connection goes on, and no query or shard connection is left in use."""
    sharded, killer = env.connect_sharded(), env.connect_sharded()
    coord = env.coordinator
    assert coord is not None
    try:
        _run(sharded, "SELECT SLEEP(0), id FROM orders WHERE id = 50")  # plans it
        before = _lean_count(env)
        outcome: list[Any] = []

        def long_read() -> None:
            try:
                outcome.append(_run(sharded, "SELECT SLEEP(20), id FROM orders WHERE id = 51"))
            except pymysql.MySQLError as exc:
                outcome.append(exc.args[0])

        started = time.monotonic()
        reader = threading.Thread(target=long_read)
        reader.start()
        deadline = time.monotonic() + 10
        while _lean_count(env) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _lean_count(env) == before + 1
        time.sleep(0.3)
        _run(killer, f"KILL QUERY {sharded.thread_id()}")
        reader.join(15)
        assert outcome == [1317]
        assert time.monotonic() - started < 10
        assert _run(sharded, "SELECT id FROM orders WHERE id = 52") == (((52,),), 1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pool = coord.datasources["m0"].pool  # type: ignore[attr-defined]
            if not coord.executor._queries and pool.in_use == 0:
                break
            time.sleep(0.05)
        assert not coord.executor._queries
        assert coord.datasources["m0"].pool.in_use == 0  # type: ignore[attr-defined]
    finally:
        sharded.close()
        killer.close()


def test_an_error_of_a_lean_read_is_the_full_paths(env: Environment) -> None:
    """A shard's error on a lean read (a number out of range for its function) is the
    full path's error packet, and the connection goes on."""
    sharded, oracle = _clients(env)
    try:
        template = "SELECT id, EXP({}) FROM orders WHERE id = 60"
        sharded.query(template.format(1))
        before = _lean_count(env)
        lean = sharded.query(template.format(1000))
        full = sharded.query(template.format(1000) + " -- the full path")
        assert _lean_count(env) == before + 1
        # MariaDB writes the header first and the error in place of the row; the
        # coordinator, the error alone: the same error for a client.
        assert err_code(lean[0]) == err_code(oracle.query(template.format(1000))[-1]) == 1690
        assert lean == full
        assert _rows(sharded.query(template.format(2))) == _rows(oracle.query(template.format(2)))
        # A number past DOUBLE fails the one scan itself: the full path's 1367, no crash.
        past = "SELECT id FROM orders WHERE id = 1e309"
        assert err_code(sharded.query(past)[0]) == err_code(oracle.query(past)[0]) == 1367
        assert _rows(sharded.query(template.format(3))) == _rows(oracle.query(template.format(3)))
    finally:
        sharded.close()
        oracle.close()


def test_each_statement_counts_once_in_the_plan_cache(env: Environment) -> None:
    """The lean look counts nothing unless it takes the plan: a lean statement is one
    hit, a cached scatter read (which the lean look leaves to the full path) one hit,
    a new text one miss — not two of each."""
    coord = env.coordinator
    assert coord is not None
    cache = coord.plan_cache
    sharded, oracle = _clients(env)
    try:
        for template in (
            "SELECT id, qty FROM orders WHERE id = {}",  # one shard: lean
            "SELECT COUNT(*) FROM orders WHERE qty > {}",  # every shard: the full path
        ):
            sharded.query(template.format(70))  # planned
            hits, misses = cache.hits, cache.misses
            sharded.query(template.format(71))
            assert (cache.hits, cache.misses) == (hits + 1, misses), template
        hits, misses = cache.hits, cache.misses
        sharded.query("SELECT id, customer_id, qty FROM orders WHERE id = 72")
        assert (cache.hits, cache.misses) == (hits, misses + 1)
    finally:
        sharded.close()
        oracle.close()
