"""Statements in the client's character set, with raw bytes in their literals (issue 14
item 3), compared byte for byte with plain MariaDB.

Real drivers put binary values into the statement text: PyMySQL (like mysqlclient and
mysql-connector's default cursor) sends ``pymysql.Binary`` as ``_binary'<raw bytes>'``,
which is not valid UTF-8; a latin1 connection sends latin1. Each test runs the same
statements through the coordinator and on one plain MariaDB database, then compares
what the *shards* store (``HEX()`` of every column, read on the shards themselves) with
what MariaDB stores, and what each client reads back.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.server.served_cluster import Cluster, served_cluster

SHARDS = 3
# ``l``: a second text column (a column-level CHARACTER SET latin1 is not kept by the
# coordinator's DDL yet, so both are utf8mb4 here).
DDL = "CREATE TABLE t (id INT PRIMARY KEY, b BLOB, s VARCHAR(200), l TEXT) DEFAULT CHARSET=utf8mb4"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with served_cluster("cs", [("t", "id", SHARDS), ("k", "k", SHARDS)], hashed=["k"]) as c:
        yield c


@pytest.fixture
def fresh(cluster: Cluster) -> Iterator[Cluster]:
    for connect in (cluster.oracle, cluster.sharded):
        with connect() as conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS t")
            cur.execute("DROP TABLE IF EXISTS k")
            cur.execute(DDL)
            cur.execute("CREATE TABLE k (k VARCHAR(20) PRIMARY KEY, v INT)")
    yield cluster


def _stored(c: Cluster) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """HEX of every column, by id: on the oracle, and on the coordinator's shards."""
    q = "SELECT id, HEX(b), HEX(s), HEX(l) FROM {t}"
    with c.oracle() as conn, conn.cursor() as cur:
        cur.execute(q.format(t="t"))
        oracle = sorted(cur.fetchall())
    return oracle, sorted(c.shard_rows("t", SHARDS, q))


def _both(c: Cluster, **kw: Any) -> list[pymysql.connections.Connection]:
    return [c.oracle(**kw), c.sharded(**kw)]


def test_binary_parameters_random_bytes(fresh: Cluster) -> None:
    rng = random.Random(14)
    values = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) for _ in range(40)]
    values.append(bytes(range(256)))  # every byte, quotes/backslash/NUL included
    for conn in _both(fresh):
        with conn, conn.cursor() as cur:
            # One statement per row (routed), then a multi-row INSERT (the fast path).
            for i, v in enumerate(values[:10]):
                cur.execute("INSERT INTO t (id, b) VALUES (%s, %s)", (i, pymysql.Binary(v)))
            cur.executemany(
                "INSERT INTO t (id, b) VALUES (%s, %s)",
                [(i, pymysql.Binary(v)) for i, v in enumerate(values) if i >= 10],
            )
            # A binary value in SET and WHERE (the planned write path).
            cur.execute(
                "UPDATE t SET b = %s WHERE b = %s",
                (pymysql.Binary(b"\xff\x00'\\"), pymysql.Binary(values[3])),
            )
            assert cur.rowcount == 1
            cur.execute("SELECT id, b FROM t WHERE b = %s", (pymysql.Binary(values[5]),))
            assert cur.fetchall() == ((5, values[5]),)
    oracle, shards = _stored(fresh)
    assert len(oracle) == len(values)
    assert shards == oracle
    with fresh.sharded() as conn, conn.cursor() as cur:
        cur.execute("SELECT id, b FROM t ORDER BY id")
        got = cur.fetchall()
    expected = [(i, b"\xff\x00'\\" if i == 3 else v) for i, v in enumerate(values)]
    assert [tuple(r) for r in got] == expected
    print(f"checked {len(values)} random BLOB values: shard bytes equal MariaDB's")


def test_raw_bytes_in_plain_literals(fresh: Cluster) -> None:
    """A dump's or a driver's raw bytes in '...' (no introducer), into a BLOB; invalid
    UTF-8 into a utf8mb4 column fails as on MariaDB (1366, strict mode)."""
    outcomes: list[int | None] = []
    for conn in _both(fresh):
        with conn:
            conn.query(b"INSERT INTO t (id, b) VALUES (1, '\xff\xfe\x80abc\\0\\''), (2, 'x\xc3')")
            conn.query(
                b"INSERT INTO t (id, b, s) VALUES (3, _binary '\xe9\\\\', _utf8mb4'\xc3\xa9')"
            )
            try:
                conn.query(b"INSERT INTO t (id, s) VALUES (4, '\xff')")
                outcomes.append(None)
            except pymysql.MySQLError as exc:
                outcomes.append(exc.args[0])
    assert outcomes[0] == outcomes[1] == 1366
    oracle, shards = _stored(fresh)
    assert shards == oracle
    assert len(oracle) == 3


def test_latin1_connection(fresh: Cluster) -> None:
    """A latin1 client: its text is stored as the same characters in utf8mb4
    columns (not mojibake), ``_binary`` literals byte-exact, and results come back in
    latin1."""
    text = "café Zürich €‚ – naïve"
    blob = bytes(range(128, 256))
    for conn in _both(fresh, charset="latin1"):
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO t (id, s, l, b) VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)",
                (1, text, text, pymysql.Binary(blob), 2, "é", "ü", pymysql.Binary(b"\xe9")),
            )
            # Latin1 text into a BLOB: stored as the client's latin1 bytes (MariaDB).
            cur.execute("INSERT INTO t (id, s, b) VALUES (%s, %s, %s)", (3, "Zürich", "Zürich €"))
            # A string shard key with accents routes as the same text from any client.
            cur.execute("INSERT INTO k VALUES (%s, %s), (%s, %s)", ("clé", 1, "Ærø", 2))
            cur.execute("UPDATE k SET v = v + 10 WHERE k = %s", ("clé",))
            assert cur.rowcount == 1
            cur.execute("UPDATE t SET s = %s WHERE b = %s", ("Zürich 2", "Zürich €"))
            assert cur.rowcount == 1
            cur.execute("SELECT s, l, b FROM t WHERE id = 1")
            assert cur.fetchone() == (text, text, blob)
            cur.execute("SELECT id FROM t WHERE s = %s", ("é",))
            assert cur.fetchall() == ((2,),)
            cur.execute("SELECT @@character_set_client, @@character_set_results")
            assert cur.fetchone() == ("latin1", "latin1")
    oracle, shards = _stored(fresh)
    assert shards == oracle
    assert len(oracle) == 3
    for conn in _both(fresh):  # a UTF-8 client finds them by key
        with conn, conn.cursor() as cur:
            cur.execute("SELECT v FROM k WHERE k = %s", ("clé",))
            assert cur.fetchall() == ((11,),)
            cur.execute("SELECT k FROM k WHERE k IN (%s, %s) ORDER BY v", ("Ærø", "clé"))
            assert cur.fetchall() == (("Ærø",), ("clé",))


def test_set_names_and_four_byte_utf8(fresh: Cluster) -> None:
    emoji = "😀 𝄞 漢字"
    for conn in _both(fresh, charset="utf8mb4"):
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO t (id, s) VALUES (%s, %s)", (1, emoji))
            cur.execute("SET NAMES latin1")
            # The connection now speaks latin1: send latin1 bytes.
            conn.query("INSERT INTO t (id, s, l) VALUES (2, 'Ærø', 'Ærø')".encode("latin1"))
            # Results are latin1 now (PyMySQL would decode them as UTF-8): read HEX().
            cur.execute("SELECT HEX(s) FROM t WHERE id = 2")
            assert cur.fetchone() == ("Ærø".encode().hex().upper(),)
            cur.execute("SET NAMES utf8mb4")
            cur.execute("SELECT s, l FROM t WHERE id = 2")
            assert cur.fetchone() == ("Ærø", "Ærø")
            cur.execute("SELECT s FROM t WHERE id = 1")
            assert cur.fetchone() == (emoji,)
    oracle, shards = _stored(fresh)
    assert shards == oracle


def _mysqlclient(c: Cluster, sharded: bool, charset: str) -> Any:
    # mysqlclient builds from source against libmariadb-dev: installed by .ci/run (the
    # `clients` extra), not by `make serve`/`make test` on a bare machine.
    MySQLdb = pytest.importorskip(
        "MySQLdb",
        reason="needs mysqlclient: apt-get install libmariadb-dev pkg-config; "
        ".venv/bin/pip install -e '.[clients]' (.ci/run does both)",
    )

    from tests.conftest import MYSQL_HOST, MYSQL_PORT

    if sharded:
        return MySQLdb.connect(
            host="127.0.0.1",
            port=c.port,
            user="root",
            password="",
            database=c.logical_db,
            charset=charset,
            autocommit=True,
        )
    return MySQLdb.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user="root",
        password="",
        database=c.oracle_db,
        charset=charset,
        autocommit=True,
    )


@pytest.mark.parametrize("charset", ["utf8mb4", "latin1"])
def test_mysqlclient(fresh: Cluster, charset: str) -> None:
    """mysqlclient (the C API driver Django uses): bytes parameters are sent as
    ``_binary'<raw bytes>'`` in the statement text, text in the connection's charset."""
    rng = random.Random(8)
    values = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))) for _ in range(30)]
    values.append(bytes(range(256)))
    text = "naïve café €" if charset == "latin1" else "naïve café € 😀"
    read = []
    for sharded in (False, True):
        conn = _mysqlclient(fresh, sharded, charset)
        try:
            cur = conn.cursor()
            cur.executemany(
                "INSERT INTO t (id, b, s) VALUES (%s, %s, %s)",
                [(i, v, f"{text} {i}") for i, v in enumerate(values)],
            )
            cur.execute("UPDATE t SET s = %s WHERE b = %s", (text, values[7]))
            cur.execute("SELECT id, b, s FROM t ORDER BY id")
            read.append(cur.fetchall())
        finally:
            conn.close()
    assert read[0] == read[1]
    assert read[0][7] == (7, values[7], text)
    oracle, shards = _stored(fresh)
    assert len(oracle) == len(values)
    assert shards == oracle
    print(
        f"mysqlclient {charset}: {len(values)} BLOB values and text stored as MariaDB stores them"
    )
