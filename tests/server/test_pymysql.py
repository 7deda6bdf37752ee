"""PyMySQL against the server: results, affected rows, errors, multi-statements,
large packets, transactions, session state, authentication and TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pymysql
import pytest
import trio
from pymysql.constants import CLIENT

from tests.server.conftest import Served, in_thread, start_server


async def test_select_insert_affected_rows_and_insert_id(served: Served) -> None:
    def client() -> None:
        with served.pymysql() as c, c.cursor() as cur:
            cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v REAL, b BLOB)")
            n = cur.execute(
                "INSERT INTO t (name, v, b) VALUES ('a', 1.5, x'00ff'), ('b', NULL, NULL), (%s, %s, %s)",
                ("c'quote", 2.25, b"\x01\x02"),
            )
            assert n == 3
            assert cur.lastrowid == 3
            cur.execute("SELECT id, name, v, b FROM t ORDER BY id")
            assert cur.fetchall() == (
                (1, "a", 1.5, b"\x00\xff"),
                (2, "b", None, None),
                (3, "c'quote", 2.25, b"\x01\x02"),
            )
            assert [d[0] for d in cur.description] == ["id", "name", "v", "b"]
            assert cur.execute("UPDATE t SET v = 9 WHERE id >= 2") == 2
            assert cur.execute("DELETE FROM t WHERE id = 1") == 1
            cur.execute("SELECT LAST_INSERT_ID()")
            assert cur.fetchone() == (3,)
            cur.execute("SELECT name FROM t WHERE id = -1")
            assert cur.fetchall() == ()

    await in_thread(client)


async def test_errors_carry_codes_and_connection_survives(served: Served) -> None:
    def client() -> list[int]:
        codes = []
        with served.pymysql() as c, c.cursor() as cur:
            cur.execute("CREATE TABLE u (id INTEGER PRIMARY KEY)")
            cur.execute("INSERT INTO u VALUES (1)")
            for sql in (
                "SELECT * FROM missing",
                "SELEC 1",
                "INSERT INTO u VALUES (1)",
                "SELECT FAIL(1235)",
                "SELECT BOOM",
                "SELECT @@no_such_variable",
            ):
                with pytest.raises(pymysql.MySQLError) as info:
                    cur.execute(sql)
                codes.append(info.value.args[0])
            cur.execute("SELECT 42")
            assert cur.fetchone() == (42,)
            cur.execute("SHOW WARNINGS")
            assert cur.fetchall() == ()
        return codes

    codes = await in_thread(client)
    assert codes == [1146, 1064, 1062, 1235, 1105, 1193]


async def test_show_warnings_reports_last_error(served: Served) -> None:
    def client() -> tuple:
        with served.pymysql() as c, c.cursor() as cur:
            with pytest.raises(pymysql.MySQLError):
                cur.execute("SELECT * FROM nope")
            cur.execute("SHOW WARNINGS")
            return cur.fetchall()

    rows = await in_thread(client)
    assert rows[0][0] == "Error" and rows[0][1] == 1146


async def test_multi_statements_results_and_stop_at_error(served: Served) -> None:
    def client() -> None:
        with served.pymysql(client_flag=CLIENT.MULTI_STATEMENTS) as c, c.cursor() as cur:
            cur.execute(
                "CREATE TABLE m (a INT); INSERT INTO m VALUES (1), (2); SELECT a FROM m ORDER BY a; SELECT 'x;y'"
            )
            assert cur.rowcount == 0
            assert cur.nextset()
            assert cur.rowcount == 2  # the INSERT
            assert cur.nextset()
            assert cur.fetchall() == ((1,), (2,))
            assert cur.nextset()
            assert cur.fetchall() == (("x;y",),)
            assert not cur.nextset()
            with pytest.raises(pymysql.MySQLError) as info:
                cur.execute(
                    "INSERT INTO m VALUES (3); SELECT * FROM nope; INSERT INTO m VALUES (4)"
                )
                while cur.nextset():
                    pass
            assert info.value.args[0] == 1146
            cur.execute("SELECT COUNT(*) FROM m")
            assert cur.fetchone() == (3,)  # the statement after the error never ran

    await in_thread(client)
    assert not any("VALUES (4)" in sql for s in served.factory.sessions for sql, _ in s.executed)


async def test_without_multi_statements_text_passes_untouched(served: Served) -> None:
    rows = ", ".join(f"({i}, 'v{i};')" for i in range(1000))
    sql = f"INSERT INTO big (a, b) VALUES {rows}"

    def client() -> int:
        with served.pymysql() as c, c.cursor() as cur:
            cur.execute("CREATE TABLE big (a INT, b TEXT)")
            return cur.execute(sql)

    assert await in_thread(client) == 1000
    assert any(text == sql for s in served.factory.sessions for text, _ in s.executed)


async def test_packets_larger_than_16mb_both_ways(served: Served) -> None:
    blob = "x" * (17 * 1024 * 1024) + "end"

    def client() -> None:
        with served.pymysql(max_allowed_packet=64 << 20) as c, c.cursor() as cur:
            cur.execute("CREATE TABLE l (id INT, s TEXT)")
            assert cur.execute("INSERT INTO l VALUES (1, %s)", (blob,)) == 1
            cur.execute("SELECT s, LENGTH(s) FROM l")
            s, n = cur.fetchone()
            assert n == len(blob) and s == blob
            # exactly one full packet payload: the split boundary case
            exact = "y" * (0xFFFFFF - len("SELECT ''") - 1)
            cur.execute(f"SELECT '{exact}'")
            assert cur.fetchone()[0] == exact

    await in_thread(client)


async def test_packet_over_max_allowed_is_refused(nursery: trio.Nursery) -> None:
    s = await start_server(nursery, max_packet_size=1 << 20)

    def client() -> int:
        with s.pymysql() as c, c.cursor() as cur:
            with pytest.raises(pymysql.MySQLError) as info:
                cur.execute("SELECT '" + "z" * (2 << 20) + "'")
            return info.value.args[0]

    code = await in_thread(client)
    assert code in (1153, 2013, 2006)  # error packet, or lost while still sending

    # the server keeps serving others
    def other() -> tuple:
        with s.pymysql() as c, c.cursor() as cur:
            cur.execute("SELECT 7")
            return cur.fetchone()

    assert await in_thread(other) == (7,)


async def test_transactions_pass_through(served: Served) -> None:
    def client() -> None:
        with served.pymysql(autocommit=True) as c, c.cursor() as cur:
            cur.execute("CREATE TABLE tx (a INT)")
            c.begin()
            cur.execute("INSERT INTO tx VALUES (1)")
            assert c.get_server_info()
            assert c.server_status & 1  # SERVER_STATUS_IN_TRANS
            c.rollback()
            assert not c.server_status & 1
            cur.execute("SELECT COUNT(*) FROM tx")
            assert cur.fetchone() == (0,)
            c.autocommit(False)
            cur.execute("SELECT @@autocommit")
            assert cur.fetchone() == (0,)
            cur.execute("INSERT INTO tx VALUES (2)")
            c.commit()
            c.autocommit(True)
            cur.execute("SELECT a FROM tx")
            assert cur.fetchall() == ((2,),)

    await in_thread(client)
    assert served.factory.tx_owner is None


async def test_session_state_use_and_variables(served: Served) -> None:
    def client() -> None:
        with served.pymysql(database="test", autocommit=True) as c, c.cursor() as cur:
            cur.execute(
                "SELECT DATABASE(), @@session.autocommit, @@max_allowed_packet, CONNECTION_ID()"
            )
            db, ac, mp, cid = cur.fetchone()
            assert (db, ac, mp) == ("test", 1, 64 << 20)
            assert cid == c.thread_id()
            cur.execute("SET NAMES utf8mb4 COLLATE utf8mb4_bin, @x = 'hello'")
            cur.execute("SET SESSION sql_mode = 'TRADITIONAL', time_zone = '+00:00'")
            cur.execute("SELECT @@collation_connection, @x, @@sql_mode, @@time_zone AS tz")
            # MariaDB expands TRADITIONAL into the flags it stands for.
            assert cur.fetchone() == (
                "utf8mb4_bin",
                "hello",
                "STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                "ERROR_FOR_DIVISION_BY_ZERO,TRADITIONAL,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
                "+00:00",
            )
            assert cur.description[3][0] == "tz"
            # Modes that change how text is read would make the coordinator answer
            # differently from MariaDB: refused, and the session keeps its mode.
            for mode in ("ANSI", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ORACLE"):
                with pytest.raises(pymysql.err.MySQLError) as info:
                    cur.execute(f"SET SESSION sql_mode = '{mode}'")
                assert info.value.args[0] == 1235
            cur.execute("SELECT @@sql_mode")
            assert cur.fetchone()[0].startswith("STRICT_TRANS_TABLES,STRICT_ALL_TABLES")
            cur.execute("SHOW VARIABLES LIKE 'time\\_zone'")
            assert cur.fetchall() == (("time_zone", "+00:00"),)
            cur.execute("CREATE DATABASE other")
            c.select_db("other")  # COM_INIT_DB
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone() == ("other",)
            cur.execute("USE `test`")
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone() == ("test",)
            with pytest.raises(pymysql.MySQLError) as info:
                cur.execute("USE nowhere")
            assert info.value.args[0] == 1049
            cur.execute("SHOW COLLATION LIKE 'utf8mb4%'")
            assert all(r[1] == "utf8mb4" for r in cur.fetchall())

    await in_thread(client)


async def test_unknown_database_at_connect(served: Served) -> None:
    def client() -> int:
        with pytest.raises(pymysql.MySQLError) as info:
            served.pymysql(database="nowhere")
        return info.value.args[0]

    assert await in_thread(client) == 1049


async def test_configured_users_and_access_denied(nursery: trio.Nursery) -> None:
    s = await start_server(nursery, users=[{"name": "app", "password": "s3cret"}])

    def client() -> list[int]:
        codes = []
        with s.pymysql(user="app", password="s3cret") as c, c.cursor() as cur:
            cur.execute("SELECT USER()")
            assert cur.fetchone()[0].startswith("app@")
        for user, pw in (("app", "wrong"), ("root", ""), ("nobody", "s3cret")):
            with pytest.raises(pymysql.MySQLError) as info:
                s.pymysql(user=user, password=pw)
            codes.append(info.value.args[0])
        return codes

    assert await in_thread(client) == [1045, 1045, 1045]


def _self_signed(tmp: Path) -> tuple[str, str]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI for a test cert")
async def test_tls(nursery: trio.Nursery, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    s = await start_server(nursery, tls_cert=cert, tls_key=key)

    def client() -> tuple:
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        with s.pymysql(ssl=ctx) as c, c.cursor() as cur:
            cur.execute("SELECT 'over tls', 1 + 0")
            assert isinstance(c._sock, ssl.SSLSocket)
            return cur.fetchone()

    assert (await in_thread(client))[0] == "over tls"
