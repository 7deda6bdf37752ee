"""Text rows byte for byte: one-shard results relayed unparsed (issue 16), and every
text row written as MariaDB writes it.

With ``driver = "native"`` a statement that runs whole on one MariaDB shard, read by a
client in the text protocol with UTF-8 (or unconverted) results, has its row packets
sent on as the shard wrote them (``ResultSet.payloads``, ``_ResultWriter.relayed``):
no value is parsed or encoded again. Checked here with a raw client on both sides:
every row payload the coordinator sends equals the one MariaDB sends for the same
statement on the shard's physical table (sequence ids aside, which the raw client
checks as it reads), and the server's ``rows_relayed`` counter says the rows were
relayed. A prepared statement (binary rows) and a client reading another
``character_set_results`` are answered the usual way, and still as MariaDB answers.

Rows the coordinator writes itself (parsed from a shard, merged, computed) must be the
same bytes too: a DOUBLE is written as MariaDB writes it (``1e16``, ``0.00001``, not
Python's ``1e+16``, ``1e-05``), a DATETIME/TIME with exactly its column's fractional
digits (``05:03:01.5``, ``00:00:00.000``) — :func:`test_text_rows_are_mariadbs_bytes`,
against the unsharded MariaDB, with the aiomysql driver and the native one.
"""

from __future__ import annotations

import pytest

from tests.conftest import require_mysql_or_skip
from tests.fidelity.harness import NATIVE_VARIANTS, Environment, environment, native_environment
from tests.server import stmtclient
from tests.server.rawclient import RawClient

#: Expressions of every kind of text MariaDB writes: integers, DECIMAL at its scale and
#: computed, DOUBLE and FLOAT, dates, times, ENUM, NULL, 4-byte UTF-8, binary.
ORDERS_SELECT = (
    "SELECT id, customer_id, amount, amount * 3 / 7, qty, status, size, created, "
    "created + INTERVAL 1.5 SECOND, TIMEDIFF(created, '2024-01-01'), note, "
    "CONCAT(status, ' \U0001f600 é'), 1e300 / (id + 0.3), CAST(amount AS FLOAT), "
    "NULL, x'00ff10', CAST(id AS BINARY), DATE(created) "
    "FROM {table} WHERE id = {id}"
)
EVENTS_SELECT = "SELECT id, kind, score, score * 1e-7, -score FROM {table} WHERE id = {id}"


@pytest.fixture(scope="module")
def native_env() -> Environment:
    return native_environment()


def _rows(packets: list[bytes]) -> list[bytes]:
    """The row payloads of one text result read in EOF mode."""
    assert packets[0][0] not in (0x00, 0xFF), packets[0]
    count = packets[0][0]
    assert packets[count + 1][0] == 0xFE and packets[-1][0] == 0xFE, packets
    return packets[count + 2 : -1]


def _relayed(env: Environment) -> float:
    assert env._server is not None
    return env._server.metrics.rows_relayed.value("text")


def _both(env: Environment, setup: str | None = None) -> tuple[RawClient, RawClient]:
    sharded, direct = RawClient(env.port, timeout=30), RawClient(3306, timeout=30)
    assert sharded.login(database=env.logical_db)[-1][0] == 0x00
    assert direct.login(database=env.physical_db)[-1][0] == 0x00
    if setup is not None:
        for client in (sharded, direct):
            assert client.query(setup)[0][0] == 0x00
    return sharded, direct


@pytest.mark.parametrize(
    ("table", "shards", "select", "ids"),
    [
        ("orders", 16, ORDERS_SELECT, [1, 17, 34, 51, 66, 187, 240]),
        ("events", 3, EVENTS_SELECT, [1, 2, 3, 40, 77]),
    ],
)
def test_relayed_rows_are_the_shards_bytes(
    native_env: Environment, table: str, shards: int, select: str, ids: list[int]
) -> None:
    sharded, direct = _both(native_env)
    try:
        for id_ in ids:
            before = _relayed(native_env)
            got = _rows(sharded.query(select.format(table=table, id=id_)))
            physical = f"{table}_{id_ % shards:04d}"  # the rule is mod over the key
            sent = _rows(direct.query(select.format(table=physical, id=id_)))
            assert len(sent) == 1, (table, id_)  # the row is on that shard
            assert got == sent, (table, id_)
            assert _relayed(native_env) == before + 1
        # No row: the header and the end, nothing relayed.
        before = _relayed(native_env)
        assert _rows(sharded.query(select.format(table=table, id=100_000))) == []
        assert _relayed(native_env) == before
    finally:
        sharded.close()
        direct.close()


def test_other_result_charsets_are_encoded_not_relayed(native_env: Environment) -> None:
    """``character_set_results = latin1``: the shard wrote UTF-8, the client reads
    latin1, so the rows are parsed and encoded (as MariaDB converts them)."""
    sharded, direct = _both(native_env, "SET character_set_results = latin1")
    try:
        before = _relayed(native_env)
        for id_ in (3, 20):
            got = _rows(sharded.query(ORDERS_SELECT.format(table="orders", id=id_)))
            physical = f"orders_{id_ % 16:04d}"
            sent = _rows(direct.query(ORDERS_SELECT.format(table=physical, id=id_)))
            assert got == sent and len(sent) == 1
            assert "é".encode("latin1") in got[0]
        assert _relayed(native_env) == before
    finally:
        sharded.close()
        direct.close()


def test_binary_rows_are_not_relayed(native_env: Environment) -> None:
    """A prepared statement's rows are binary: encoded from the parsed values, with
    the row count and column types MariaDB gives."""
    sql = "SELECT id, amount, created, note FROM {table} WHERE id = ?"
    sharded = stmtclient.connect(native_env.port, native_env.logical_db, timeout=30)
    direct = stmtclient.connect(3306, native_env.physical_db, timeout=30)
    try:
        before = _relayed(native_env)
        for id_ in (6, 33):
            _, got_cols, got_rows = stmtclient.execute(sharded, sql.format(table="orders"), [id_])
            _, sent_cols, sent_rows = stmtclient.execute(
                direct, sql.format(table=f"orders_{id_ % 16:04d}"), [id_]
            )
            assert got_rows == sent_rows == 1
            assert [c.type for c in got_cols] == [c.type for c in sent_cols]
        assert _relayed(native_env) == before
    finally:
        sharded.close()
        direct.close()


#: Statements over one shard and over many (merged here): the text of DOUBLE, FLOAT,
#: DECIMAL and temporal values with and without fixed scales.
DIFFERENTIAL = [
    ORDERS_SELECT.format(table="orders", id=12),
    EVENTS_SELECT.format(table="events", id=8),
    "SELECT id, created + INTERVAL 0.25 SECOND, CAST(created AS DATETIME(3)), "
    "CAST(TIMEDIFF(created, '2024-01-01') AS TIME(2)), amount * 1e13, amount / 1e20, "
    "ROUND(amount * 1e0, 3), CAST(amount AS FLOAT), qty * 1e-6 "
    "FROM orders WHERE id BETWEEN 1 AND 40 ORDER BY id",
    "SELECT id, score, score * 1e-18, score * 1e17, CAST(score AS FLOAT) "
    "FROM events ORDER BY id LIMIT 30",
    "SELECT MAX(score), MIN(score * 1e-18), MAX(CAST(score AS FLOAT)) FROM events",
    "SELECT customer_id, MAX(created + INTERVAL 0.5 SECOND), MIN(amount * 1e15) "
    "FROM orders GROUP BY customer_id ORDER BY customer_id LIMIT 12",
]


@pytest.mark.parametrize("driver", ["aiomysql", "native"])
def test_text_rows_are_mariadbs_bytes(driver: str) -> None:
    require_mysql_or_skip()
    (native,) = NATIVE_VARIANTS
    env = environment(*native) if driver == "native" else environment(16, 1000, True)
    assert env.driver == driver
    sharded, oracle = RawClient(env.port, timeout=30), RawClient(3306, timeout=30)
    try:
        assert sharded.login(database=env.logical_db)[-1][0] == 0x00
        assert oracle.login(database=env.oracle_db)[-1][0] == 0x00
        for sql in DIFFERENTIAL:
            want = _rows(oracle.query(sql))
            assert want, sql
            assert _rows(sharded.query(sql)) == want, sql
    finally:
        sharded.close()
        oracle.close()


def test_mariadb_cli_shows_mariadbs_text() -> None:
    """The ``mariadb`` command-line client (text protocol, batch mode) prints what it
    prints for the unsharded MariaDB: DOUBLE, FLOAT, DECIMAL and fractional temporals,
    over one shard and merged, on both drivers."""
    import shutil
    import subprocess

    from tests.conftest import MYSQL_PORT

    require_mysql_or_skip()
    cli = shutil.which("mariadb")
    assert cli is not None, "needs the mariadb client (apt-get install mariadb-client)"
    (native,) = NATIVE_VARIANTS
    for env in (environment(16, 1000, True), environment(*native)):

        def run(port: int, database: str, sql: str) -> bytes:
            argv = [cli, "-h127.0.0.1", f"-P{port}", "-uroot", "-N", "-B", "-D", database]
            argv.append("--default-character-set=utf8mb4")
            done = subprocess.run([*argv, "-e", sql], capture_output=True, timeout=60, check=False)
            assert done.returncode == 0, (port, sql, done.stderr)
            return done.stdout

        for sql in DIFFERENTIAL:
            want = run(MYSQL_PORT, env.oracle_db, sql)
            assert want.strip(), sql
            assert run(env.port, env.logical_db, sql) == want, (env.driver, sql)
