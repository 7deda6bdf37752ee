"""``SELECT ... INTO @a, @b`` as MariaDB answers it, over 16 MariaDB shards: one
shard, a merged aggregate over all of them, none and too many rows, and as a prepared
statement (no result columns announced, an OK for the execution). The text-protocol
rules (ROW_COUNT(), FOUND_ROWS(), warnings, errors) are pinned by the session-state
scripts (``tests/sharding/test_session_state.py``, "select into")."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest

from tests.fidelity.harness import Environment, native_environment
from tests.server import stmtclient

pytestmark = pytest.mark.mysql


@pytest.fixture(scope="module")
def env() -> Environment:
    return native_environment()


def _outcome(conn: Any, sql: str) -> tuple[Any, ...]:
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return (cur.fetchall() if cur.description else None, cur.rowcount)
    except pymysql.MySQLError as exc:
        return ("error", exc.args[0])


SCRIPT = [
    "SELECT amount, status INTO @amount, @status FROM orders WHERE id = 17",
    "SELECT @amount, @status, ROW_COUNT(), FOUND_ROWS()",
    "SELECT COUNT(*), MAX(amount), MIN(created) INTO @n, @top, @first FROM orders WHERE qty > 3",
    "SELECT @n, @top, @first",
    "SELECT id FROM orders WHERE qty > 3 ORDER BY amount DESC, id LIMIT 1 INTO @best",
    "SELECT @best",
    "SELECT id INTO @none FROM orders WHERE id = 100000",
    "SHOW WARNINGS",
    "SELECT @none",
    # More than one row: 1172, and the first row (in the SELECT's order) stored.
    "SELECT id INTO @many FROM orders WHERE qty = 1 ORDER BY id DESC",
    "SELECT @many",
    "SELECT o.id, c.name INTO @oid, @cname FROM orders o JOIN customers c "
    "ON c.id = o.customer_id WHERE o.id = 20",
    "SELECT @oid, @cname",
]


def test_select_into_is_mariadbs(env: Environment) -> None:
    sharded, oracle = env.connect_sharded(), env.connect_oracle()
    try:
        for sql in SCRIPT:
            assert _outcome(sharded, sql) == _outcome(oracle, sql), sql
    finally:
        sharded.close()
        oracle.close()


def test_prepared_select_into_announces_no_columns(env: Environment) -> None:
    sql = "SELECT qty, customer_id INTO @pq, @pc FROM orders WHERE id = ?"
    sharded = stmtclient.connect(env.port, env.logical_db, timeout=30)
    direct = stmtclient.connect(3306, env.oracle_db, timeout=30)
    try:
        for id_ in (18, 19):
            got = stmtclient.execute(sharded, sql, [id_])
            assert got == stmtclient.execute(direct, sql, [id_]) == ([], [], 0)
            read = "SELECT @pq, @pc"
            assert sharded.query(read)[-2] == direct.query(read)[-2]  # the row
    finally:
        sharded.close()
        direct.close()
