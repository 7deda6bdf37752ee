"""The column definitions of subqueries the coordinator answers by materialising them
(issue 18), against one unsharded MariaDB.

A decorrelated scalar aggregate becomes a ``CASE`` over literals on the shards
(``sharding/sql/decorrelate.py``, ``sharding/sql/materialize.py``: ``lookup_node``), an
uncorrelated scalar subquery one literal, a correlated ``IN`` select item a ``CASE`` of
0/1/NULL: MariaDB on the shard types those expressions (``INT(1)`` for a count, the
literal's length for a string) where unsharded MariaDB sends the subquery's own
definition (``BIGINT(21)``, ``VARCHAR(16)`` of the column, ``DECIMAL(33,0)`` for a SUM,
nullable). Every result column's definition is compared — type code, display length,
decimals, the NOT_NULL / UNSIGNED / BINARY flags and the character set (and the name) —
over the text protocol (PyMySQL's view of the column definition packets) and the binary
one (COM_STMT_EXECUTE, read from the raw packets), on every shard-count variant of the
fidelity suite (16 and 1024 shards) and on the embedded SQLite default, where a
statement it refuses (1235: a correlated DECIMAL aggregate) is its documented
answer (``Environment.answers_all``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pymysql
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.fidelity.harness import NOT_SUPPORTED, Environment
from tests.server.stmtclient import PrepareError, connect, execute

pytestmark = pytest.mark.mysql

NOT_NULL, UNSIGNED, BINARY = 1, 32, 128
COMPARED_FLAGS = NOT_NULL | UNSIGNED | BINARY

_ITEMS = "FROM customers c ORDER BY c.id"

#: Correlated scalar aggregates (grouped lookups): every aggregate, columns of every kind
#: (BIGINT, INT, DECIMAL, DOUBLE, VARCHAR, ENUM, DATETIME), groups that match and none.
CORRELATED = [
    "SELECT c.id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) n " + _ITEMS,
    "SELECT c.id, (SELECT COUNT(note) FROM orders o WHERE o.customer_id = c.id), "
    "(SELECT COUNT(DISTINCT status) FROM orders o WHERE o.customer_id = c.id) " + _ITEMS,
    "SELECT c.id, (SELECT SUM(amount) FROM orders o WHERE o.customer_id = c.id) s, "
    "(SELECT SUM(qty) FROM orders o WHERE o.customer_id = c.id) q " + _ITEMS,
    "SELECT c.id, (SELECT AVG(qty) FROM orders o WHERE o.customer_id = c.id) a, "
    "(SELECT AVG(amount) FROM orders o WHERE o.customer_id = c.id) b " + _ITEMS,
    "SELECT c.id, (SELECT MIN(status) FROM orders o WHERE o.customer_id = c.id) mi, "
    "(SELECT MAX(note) FROM orders o WHERE o.customer_id = c.id) ma " + _ITEMS,
    "SELECT c.id, (SELECT MAX(size) FROM orders o WHERE o.customer_id = c.id) sz, "
    "(SELECT MAX(created) FROM orders o WHERE o.customer_id = c.id) cr " + _ITEMS,
    "SELECT c.id, (SELECT MIN(o.id) FROM orders o WHERE o.customer_id = c.id) i, "
    "(SELECT MAX(o.customer_id) FROM orders o WHERE o.customer_id = c.id) k " + _ITEMS,
    "SELECT c.id, (SELECT SUM(score) FROM events e WHERE e.customer_id = c.id) s " + _ITEMS,
    # A text key (the probe reads the outer column's collation).
    "SELECT c.id, (SELECT COUNT(*) FROM customers c2 WHERE c2.region = c.region) n, "
    "(SELECT MAX(c2.name) FROM customers c2 WHERE c2.region = c.region) m " + _ITEMS,
    # No group at all: the empty value alone (COUNT 0, the others NULL).
    "SELECT c.id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id AND o.qty > 100) "
    "n, (SELECT SUM(amount) FROM orders o WHERE o.customer_id = c.id AND o.qty > 100) s, "
    "(SELECT MIN(status) FROM orders o WHERE o.customer_id = c.id AND o.qty > 100) m " + _ITEMS,
    # Correlated IN / NOT IN as select items (the three-valued CASE).
    "SELECT c.id, c.tier IN (SELECT o.qty FROM orders o WHERE o.customer_id = c.id) x, "
    "c.tier NOT IN (SELECT o.qty FROM orders o WHERE o.customer_id = c.id) y " + _ITEMS,
    # Correlated EXISTS / NOT EXISTS as select items.
    "SELECT c.id, EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.qty > 5) x, "
    "NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) y " + _ITEMS,
]

#: Uncorrelated subqueries materialised as literals.
UNCORRELATED = [
    "SELECT c.id, (SELECT COUNT(*) FROM orders) n, (SELECT MAX(qty) FROM orders) q " + _ITEMS,
    "SELECT c.id, (SELECT SUM(amount) FROM orders) s, (SELECT AVG(qty) FROM orders) a " + _ITEMS,
    "SELECT c.id, (SELECT MIN(status) FROM orders) m, (SELECT MAX(created) FROM orders) d "
    + _ITEMS,
    "SELECT c.id, (SELECT MAX(amount) FROM orders WHERE qty > 100) e, "
    "(SELECT MIN(note) FROM orders WHERE qty > 100) f " + _ITEMS,
    "SELECT c.id, (SELECT note FROM orders WHERE id = 3) n, "
    "(SELECT size FROM orders WHERE id = 2) s, (SELECT amount FROM orders WHERE id = 2) a "
    + _ITEMS,
    # MIN/MAX of an ENUM: a VARCHAR of decimals 0 (another string's: 39).
    "SELECT c.id, (SELECT MAX(size) FROM orders) z, (SELECT MIN(size) FROM orders "
    "WHERE qty > 100) y, (SELECT MAX(size) FROM orders GROUP BY customer_id ORDER BY 1 "
    "LIMIT 1) g, (SELECT MAX(status) FROM orders GROUP BY customer_id ORDER BY 1 LIMIT 1) s "
    + _ITEMS,
    "SELECT c.id, c.id IN (SELECT customer_id FROM orders WHERE qty > 7) x, "
    "c.id IN (SELECT customer_id FROM orders WHERE qty > 100) y, "
    "EXISTS (SELECT 1 FROM orders WHERE qty > 7) z " + _ITEMS,
]

STATEMENTS = CORRELATED + UNCORRELATED


@dataclass(frozen=True)
class Definition:
    name: str
    type: int
    length: int
    decimals: int
    flags: int
    charset: int


def _text_definitions(host: str, port: int, database: str, sql: str) -> list[Definition]:
    conn = pymysql.connect(host=host, port=port, user="root", password="", database=database)
    with conn, conn.cursor() as cur:
        cur.execute(sql)
        cur.fetchall()
        return [
            Definition(
                f.name, f.type_code, f.length, f.scale, f.flags & COMPARED_FLAGS, f.charsetnr
            )
            for f in cur._result.fields
        ]


def _binary_definitions(port: int, database: str, sql: str) -> list[Definition]:
    # A correlated IN over 1024 shards without pushdown takes seconds on a busy machine.
    client = connect(port, database, timeout=60.0)
    try:
        _, sent, _ = execute(client, sql)
    finally:
        client.close()
    return [
        Definition(c.name, c.type, c.length, c.decimals, c.flags & COMPARED_FLAGS, c.charset)
        for c in sent
    ]


def _differences(
    env: Environment, protocol: str, statements: Sequence[str] = STATEMENTS
) -> list[str]:
    """Each result column's definition that differs from MariaDB's, per statement."""
    out: list[str] = []
    for sql in statements:
        if protocol == "text":
            want = _text_definitions(MYSQL_HOST, MYSQL_PORT, env.oracle_db, sql)
            try:
                got = _text_definitions("127.0.0.1", env.port, env.logical_db, sql)
            except pymysql.err.NotSupportedError as exc:
                # The embedded default's documented refusal (Environment.answers_all).
                assert exc.args[0] == NOT_SUPPORTED and not env.answers_all, f"{sql}: {exc}"
                print(f"refused: {sql}\n  {exc}")
                continue
        else:
            want = _binary_definitions(MYSQL_PORT, env.oracle_db, sql)
            try:
                got = _binary_definitions(env.port, env.logical_db, sql)
            except PrepareError as exc:
                # COM_STMT_PREPARE describes without running: a subquery it cannot
                # place is the documented refusal there (answered over COM_QUERY).
                assert exc.code == 1235, f"{sql}: {exc}"
                print(f"prepare refused: {sql}\n  {exc}")
                continue
        assert len(got) == len(want), f"{sql}: {len(got)} columns, MariaDB {len(want)}"
        for w, g in zip(want, got, strict=True):
            if w != g:
                out.append(f"{sql}\n  MariaDB   {w}\n  shardgate {g}")
    return out


@pytest.mark.parametrize("protocol", ["text", "binary"])
def test_materialized_subquery_definitions_equal_mariadbs(env: Environment, protocol: str) -> None:
    found = _differences(env, protocol)
    print(
        f"{protocol} protocol, {env.shards} shards: {len(STATEMENTS)} statements, "
        f"{len(found)} column definitions differ from MariaDB's"
    )
    assert not found, "\n".join(found)
