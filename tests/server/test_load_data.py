"""``LOAD DATA LOCAL INFILE`` into a sharded table (issue 14 item 8), with the real
clients (the ``mariadb`` CLI, PyMySQL ``local_infile=True``), compared with plain
MariaDB loading the same file: what the client prints/reads (affected rows, the
``Records: … Warnings: …`` info, warning count), the rows stored, refusals, and a
50,000-row file loaded in bounded memory.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sharding.server import infile
from tests.server.served_cluster import Cluster, served_cluster

SHARDS = 3
DDL = (
    "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(40), note VARCHAR(60) DEFAULT 'dflt', "
    "n INT, d DATE, b BLOB)"
)
MARIADB = shutil.which("mariadb") or "mariadb"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with served_cluster("ld", [("t", "id", SHARDS)]) as c:
        yield c


@pytest.fixture
def fresh(cluster: Cluster) -> Iterator[Cluster]:
    for connect in (cluster.oracle, cluster.sharded):
        with connect() as conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS t")
            cur.execute(DDL)
    yield cluster


def _contents(conn: pymysql.connections.Connection) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        # DATE as text: a zero date reads back as text on both sides, a valid one as text too.
        cur.execute("SELECT id, name, note, n, CAST(d AS CHAR), HEX(b) FROM t ORDER BY id")
        return [tuple(r) for r in cur.fetchall()]


def _both_contents(c: Cluster) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with c.oracle() as o, c.sharded() as s:
        return _contents(o), _contents(s)


CSV = (
    b"# header line, skipped by IGNORE 1 LINES\n"
    b'1,plain,"quoted, with comma",10,2024-01-02,\\N\n'
    b'2,"esc\\"aped","two ""quotes""",\\N,2024-02-29,raw\xff\xfe\n'
    b'3,caf\xc3\xa9 \xf0\x9f\x98\x80,"multi\nline",-5,,x\n'
    b"4,short\n"
    b"5,long,a,1,2020-01-01,b,extra,more\n"
    b"1,duplicate,x,1,2020-01-01,y\n"
    b'6,tab\\tand\\\\backslash,NULL,"NULL",2021-06-30,\\0\n'
    b"7,no newline at end,z,7,2022-07-07,q"
)
LOAD = (
    "LOAD DATA LOCAL INFILE '{path}' {mode} INTO TABLE t CHARACTER SET utf8mb4 "
    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' "
    "LINES TERMINATED BY '\\n' IGNORE 1 LINES"
)


def _cli(port: int, database: str, sql: str) -> str:
    out = subprocess.run(
        [
            MARIADB,
            "--local-infile=1",
            "-h127.0.0.1",
            f"-P{port}",
            "-uroot",
            "-vvv",
            database,
            "-e",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    text = out.stdout + out.stderr
    # Timings differ: "(0.012 sec)".
    return re.sub(r"\(\d+\.\d+ sec\)", "", text)


def test_mariadb_cli(fresh: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(CSV)
    sql = LOAD.format(path=path, mode="") + "; SHOW WARNINGS"
    from tests.conftest import MYSQL_PORT

    oracle = _cli(MYSQL_PORT, fresh.oracle_db, sql)
    sharded = _cli(fresh.port, fresh.logical_db, sql)
    ok = re.findall(r"Query OK.*\n.*Records:.*", oracle)
    assert ok and ok == re.findall(r"Query OK.*\n.*Records:.*", sharded), (oracle, sharded)
    print("CLI printed:", ok)
    o, s = _both_contents(fresh)
    assert len(o) == 7
    assert s == o
    # Rows are on the shard their key routes to (read back by key, one shard each).
    with fresh.sharded() as conn, conn.cursor() as cur:
        for row in o:
            cur.execute("SELECT id FROM t WHERE id = %s", (row[0],))
            assert cur.fetchall() == ((row[0],),)
    stored = fresh.shard_rows("t", SHARDS, "SELECT id FROM {t}")
    assert sorted(r[0] for r in stored) == [r[0] for r in o]


@pytest.mark.parametrize("mode", ["", "IGNORE", "REPLACE"])
def test_pymysql_modes(fresh: Cluster, tmp_path: Path, mode: str) -> None:
    first = tmp_path / "first.csv"
    first.write_bytes(
        b"\n".join(b"%d,n%d,x,%d,2024-01-01,b" % (i, i, i) for i in range(1, 21)) + b"\n"
    )
    second = tmp_path / "second.csv"
    second.write_bytes(CSV)
    outcomes: list[list[Any]] = []
    for conn in (fresh.oracle(local_infile=True), fresh.sharded(local_infile=True)):
        with conn, conn.cursor() as cur:
            seen: list[Any] = []
            for path in (first, second):
                sql = LOAD.format(path=path, mode=mode)
                if path is first:
                    sql = sql.replace(" IGNORE 1 LINES", "")
                try:
                    affected = cur.execute(sql)
                except pymysql.MySQLError as exc:
                    # REPLACE does not imply IGNORE: strict mode refuses the bad date.
                    seen.append(("error", exc.args[0]))
                else:
                    seen.append((affected, conn._result.message, conn._result.warning_count))
            cur.execute("SELECT ROW_COUNT()")
            seen.append(cur.fetchone())
            outcomes.append(seen)
    assert outcomes[0] == outcomes[1]
    print(f"mode {mode or '(default)'}:", outcomes[0])
    o, s = _both_contents(fresh)
    assert s == o


def test_transaction_and_errors(fresh: Cluster, tmp_path: Path) -> None:
    """A strict-mode error mid-file (REPLACE does not imply IGNORE): same error, nothing
    stored, the connection still in step; inside the client's transaction the load is
    rolled back with it."""
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        b"".join(b"%d,n,x,%d,2024-01-01,b\n" % (i, i) for i in range(3000)) + b"3001,n,x,abc,,\n"
    )
    good = tmp_path / "good.csv"
    good.write_bytes(b"".join(b"%d,g,x,1,2024-01-01,b\n" % i for i in range(100)))
    codes = []
    for conn in (fresh.oracle(local_infile=True), fresh.sharded(local_infile=True)):
        with conn, conn.cursor() as cur:
            with pytest.raises(pymysql.MySQLError) as err:
                cur.execute(LOAD.format(path=bad, mode="REPLACE").replace(" IGNORE 1 LINES", ""))
            codes.append(err.value.args[0])
            cur.execute("SELECT COUNT(*) FROM t")
            assert cur.fetchone() == (0,)
            cur.execute("BEGIN")
            cur.execute(LOAD.format(path=good, mode="").replace(" IGNORE 1 LINES", ""))
            cur.execute("ROLLBACK")
            cur.execute("SELECT COUNT(*) FROM t")
            assert cur.fetchone() == (0,)
    assert codes == [1366, 1366]


def test_refusals(fresh: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"1\n")
    # Without CLIENT_LOCAL_FILES: refused before any exchange, as MariaDB (4166).
    codes = []
    for conn in (fresh.oracle(), fresh.sharded()):
        with conn, conn.cursor() as cur:
            with pytest.raises(pymysql.MySQLError) as err:
                cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t")
            codes.append(err.value.args[0])
            cur.execute("SELECT 1")
    assert codes == [4166, 4166]
    # What the coordinator does not offer: 1235, naming the alternative.
    with fresh.sharded(local_infile=True) as conn, conn.cursor() as cur:
        for sql in [
            f"LOAD DATA INFILE '{path}' INTO TABLE t",  # a file on the server
            f"LOAD XML LOCAL INFILE '{path}' INTO TABLE t",
            f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t SET n = 1",
            f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t (@v)",
        ]:
            with pytest.raises(pymysql.MySQLError) as err:
                cur.execute(sql)
            assert err.value.args[0] == 1235, (sql, err.value.args)
            cur.execute("SELECT 1")  # still in step
            assert cur.fetchone() == (1,)
    # Errors: the same codes as MariaDB, and the connection stays in step.
    for sql in [
        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t FIELDS BOGUS",
        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE nope",
        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t (id, nope)",
        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t CHARACTER SET nope",
    ]:
        got = []
        for conn in (fresh.oracle(local_infile=True), fresh.sharded(local_infile=True)):
            with conn, conn.cursor() as cur:
                with pytest.raises(pymysql.MySQLError) as err:
                    cur.execute(sql)
                got.append(err.value.args[0])
                cur.execute("SELECT 1")
                assert cur.fetchone() == (1,)
        assert got[0] == got[1], (sql, got)


def test_big_file_streams(fresh: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """50,000 rows: loaded completely, as batches sent while the file still arrives
    (the first INSERT runs after a few thousand rows were read, never after all), each
    at most ``BATCH_ROWS`` rows, with at most a batch and one packet's rows held."""
    rows = 50_000
    path = tmp_path / "big.tsv"
    with path.open("wb") as f:
        for i in range(rows):
            f.write(b"%d\tname %d\tnote %d\t%d\t2024-01-01\t\\N\n" % (i, i, i, i % 97))
    size = path.stat().st_size
    seen: list[tuple[int, int, int]] = []  # (batch rows, rows read so far, rows held)
    original = infile._Loader._insert

    async def spy(self: Any, records: Any) -> None:
        seen.append((len(records), self.reader.lines, len(self.pending) + len(records)))
        await original(self, records)

    monkeypatch.setattr(infile._Loader, "_insert", spy)
    started = time.monotonic()
    with fresh.sharded(local_infile=True) as conn, conn.cursor() as cur:
        affected = cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t")
        info = conn._result.message
    elapsed = time.monotonic() - started
    assert affected == rows
    assert info.endswith(b"Records: 50000  Deleted: 0  Skipped: 0  Warnings: 0")
    assert sum(n for n, _, _ in seen) == rows
    assert max(n for n, _, _ in seen) <= infile.BATCH_ROWS
    assert seen[0][1] < rows // 10, seen[:3]  # streaming: not the whole file first
    assert max(held for _, _, held in seen) <= 2 * infile.BATCH_ROWS
    with fresh.sharded() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*), SUM(id), SUM(n), COUNT(b) FROM t")
        assert cur.fetchone() == (rows, sum(range(rows)), sum(i % 97 for i in range(rows)), 0)
    print(f"{rows} rows ({size} bytes) loaded in {elapsed:.1f} s, {len(seen)} batches")


@pytest.mark.parametrize("charset", ["latin1", "utf8mb4", "binary"])
def test_file_character_set(fresh: Cluster, tmp_path: Path, charset: str) -> None:
    """The file is read in its CHARACTER SET: text columns get the characters, BLOB
    columns the file's bytes, as MariaDB stores them (random bytes included)."""
    rng = random.Random(charset)
    noise = bytes(b for b in (rng.randrange(256) for _ in range(200)) if b not in b",\n\\")
    body = "café Zürich €".encode("cp1252" if charset == "latin1" else "utf-8")
    path = tmp_path / "cs.csv"
    path.write_bytes(
        b"1,%s,%s,1,2024-01-01,%s\n2,x,%s,2,2024-01-01,%s\n" % (body, body, body, body, noise)
    )
    sql = (
        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t CHARACTER SET {charset} "
        "FIELDS TERMINATED BY ','"
    )
    outcomes = []
    for conn in (fresh.oracle(local_infile=True), fresh.sharded(local_infile=True)):
        with conn, conn.cursor() as cur:
            try:
                cur.execute(sql)
                outcomes.append((cur.rowcount, conn._result.warning_count))
            except pymysql.MySQLError as exc:
                outcomes.append(("error", exc.args[0]))
    assert outcomes[0] == outcomes[1]
    o, s = _both_contents(fresh)
    assert s == o
    print(f"{charset} file: {outcomes[0]}, rows {o}")
