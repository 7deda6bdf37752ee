"""Protocol edge cases from the hostile-input campaign (issue 12, item 8), each compared
with what MariaDB (the reference) answers to the same bytes:

* COM_FIELD_LIST naming a table with invalid UTF-8 → an error packet (it crashed the
  connection);
* 500 nested parentheses → answered (it was 1105 RecursionError); far deeper → 1436;
* a COM_QUERY over 16 MiB, split over packets → reassembled, or 1153 above
  ``max_allowed_packet`` with the sequence id the client expects (it read as "packet
  sequence number wrong"), then the connection closed;
* a login naming a database that does not exist → 1049 at the handshake;
* without CLIENT_MULTI_STATEMENTS, ``SET …; X``, ``BEGIN; X``, ``COMMIT; X`` → 1064
  (they answered OK and silently dropped X).
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
import trio

from sharding.coordinator import Coordinator
from sharding.server import CoordinatorAdmin, MySQLServer, ServerConfig
from sharding.topology import Topology
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import Served, in_thread, start_server
from tests.server.rawclient import RawClient, err_code


@pytest.fixture
def maria_db() -> Iterator[str]:
    """A database on the reference MariaDB (this helper's prefix), dropped afterwards."""
    name = f"sgproto_{secrets.token_hex(3)}"
    with pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True) as c:
        c.cursor().execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True) as c:
            c.cursor().execute(f"DROP DATABASE IF EXISTS {name}")


def _error(pkt: bytes) -> tuple[int | None, str]:
    return err_code(pkt), pkt[9:].decode("utf-8", "replace") if pkt[:1] == b"\xff" else ""


# -- COM_FIELD_LIST ------------------------------------------------------------------


def _field_list(port: int, database: str | None) -> list[tuple[int | None, str]]:
    c = RawClient(port)
    assert c.login(database=database)[-1][0] == 0x00
    out = []
    for name in (b"t\xff\xfe", b"\xc3\x28"):
        c.command(b"\x04" + name + b"\x00")
        out.append(_error(c.read_packet()[1]))
    out.append((None, "still serving" if c.query("SELECT 1")[0] == b"\x01" else "broken"))
    c.close()
    return out


@pytest.mark.mysql
async def test_field_list_with_invalid_utf8_name_is_an_error_like_mariadb(
    served: Served, maria_db: str
) -> None:
    ours = await in_thread(_field_list, served.port, "test")
    theirs = await in_thread(_field_list, MYSQL_PORT, maria_db)
    assert [(code, msg.replace("test.", "DB.")) for code, msg in ours] == [
        (code, msg.replace(f"{maria_db}.", "DB.")) for code, msg in theirs
    ]
    assert ours[0] == (1146, "Table 'test.t??' doesn't exist")
    # Without a current database: 1046 first, as MariaDB.
    no_db_ours = (await in_thread(_field_list, served.port, None))[0]
    no_db_theirs = (await in_thread(_field_list, MYSQL_PORT, None))[0]
    assert no_db_ours == no_db_theirs == (1046, "No database selected")


# -- nesting depth ---------------------------------------------------------------------


@pytest.fixture
async def maria_coordinator(nursery: trio.Nursery, mysql_url: str) -> Any:
    """MySQLServer → Coordinator → the reference MariaDB (no table: FROM-less SELECTs)."""
    db = f"sgproto_{secrets.token_hex(3)}"
    topology = Topology.from_dict(
        {
            "cluster": {"database": db},
            "datasources": [{"name": "m0", "kind": "mysql", "url": mysql_url}],
        }
    )
    try:
        async with Coordinator(topology) as coord:
            server = MySQLServer(
                ServerConfig(listen="127.0.0.1:0", shutdown_timeout=2.0),
                coord,
                admin=CoordinatorAdmin(coord),
            )
            await nursery.start(server.serve)
            yield server
            server.shutdown()
    finally:

        def cleanup() -> None:
            with (
                pymysql.connect(
                    host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True
                ) as c,
                c.cursor() as cur,
            ):
                cur.execute("SHOW DATABASES LIKE 'shardgate\\_catalog'")
                if cur.fetchone():
                    cur.execute("DELETE FROM shardgate_catalog.tables WHERE db = %s", (db,))
                    cur.execute("DELETE FROM shardgate_catalog.databases WHERE name = %s", (db,))

        await in_thread(cleanup)


def _nested(port: int, depths: list[int]) -> list[Any]:
    out: list[Any] = []
    with pymysql.connect(host="127.0.0.1", port=port, user="root") as c, c.cursor() as cur:
        for k in depths:
            try:
                cur.execute("SELECT " + "(" * k + "1 + 1" + ")" * k + " AS n")
                out.append(cur.fetchall())
            except pymysql.MySQLError as exc:
                out.append(exc.args[0])
        cur.execute("SELECT 'still serving'")
        out.append(cur.fetchone())
    return out


@pytest.mark.mysql
async def test_deeply_nested_parentheses_are_answered_like_mariadb(maria_coordinator: Any) -> None:
    ours = await in_thread(_nested, maria_coordinator.port, [1, 100, 500])
    theirs = await in_thread(_nested, MYSQL_PORT, [1, 100, 500])
    assert ours == theirs == [((2,),)] * 3 + [("still serving",)]
    # Far deeper than the parser's stack: MariaDB still answers; we refuse cleanly.
    assert await in_thread(_nested, maria_coordinator.port, [5000]) == [1436, ("still serving",)]


def test_parse_nesting_limit_is_a_clean_1436() -> None:
    from sharding.errors import ShardgateError
    from sharding.sql.parse import parse_one

    assert parse_one("SELECT " + "(" * 500 + "1" + ")" * 500) is not None
    with pytest.raises(ShardgateError) as info:
        parse_one("SELECT " + "(" * 5000 + "1" + ")" * 5000)
    assert (info.value.code, info.value.sqlstate) == (1436, "HY000")


# -- packets over 16 MiB ---------------------------------------------------------------

BIG_QUERY = "SELECT LENGTH('" + "a" * 17_000_000 + "') AS n"


def _big_query(port: int) -> tuple[Any, Any]:
    """The 17 MB query through PyMySQL (which splits it into 0xFFFFFF-byte packets and
    checks the sequence id of the answer), then one more query on the same connection."""
    c = pymysql.connect(
        host="127.0.0.1", port=port, user="root", max_allowed_packet=64 << 20, read_timeout=60
    )
    results: list[Any] = []
    for sql in (BIG_QUERY, "SELECT 2"):
        try:
            with c.cursor() as cur:
                cur.execute(sql)
                results.append(cur.fetchall())
        except (pymysql.MySQLError, pymysql.err.InterfaceError) as exc:
            results.append(exc.args[0] if exc.args else type(exc).__name__)
    c.close()
    return results[0], results[1]


async def test_split_query_is_reassembled(served: Served) -> None:
    assert await in_thread(_big_query, served.port) == (((17_000_000,),), ((2,),))


@pytest.mark.mysql
async def test_split_query_over_max_allowed_packet_is_1153_like_mariadb(
    nursery: trio.Nursery,
) -> None:
    def maria_max() -> int:
        with (
            pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root") as c,
            c.cursor() as cur,
        ):
            cur.execute("SELECT @@max_allowed_packet")
            return int(cur.fetchone()[0])

    limit = await in_thread(maria_max)
    assert limit < len(BIG_QUERY)  # MariaDB's default (16 MiB) refuses it
    small = await start_server(nursery, max_packet_size=limit)
    ours = await in_thread(_big_query, small.port)
    theirs = await in_thread(_big_query, MYSQL_PORT)
    # 1153 (not "packet sequence number wrong"), then the connection is closed.
    assert ours[0] == theirs[0] == 1153
    assert ours[1] in (2006, 2013) and theirs[1] in (2006, 2013)  # client: connection gone
    small.server.shutdown()


def test_codec_frames_the_1153_answer_with_the_id_after_the_refused_packet() -> None:
    from sharding.server.codec import PacketCodec, PacketTooLarge

    codec = PacketCodec(max_packet_size=0xFFFFFF + 10)
    codec.receive_data(struct.pack("<I", 0xFFFFFF) + b"\x03" + b"a" * (0xFFFFFF - 1))
    codec.receive_data(struct.pack("<I", 100 | (1 << 24)))  # ids 0, 1: 100 more bytes
    with pytest.raises(PacketTooLarge):
        codec.next_packet()
    assert codec.frame(b"\xff")[3] == 2


# -- login with a database that does not exist ------------------------------------------


def _login_error(port: int) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as info:
        pymysql.connect(host="127.0.0.1", port=port, user="root", database="sgproto_nosuch_db")
    return info.value.args[0], info.value.args[1]


@pytest.mark.mysql
async def test_login_naming_an_unknown_database_is_1049_like_mariadb(served: Served) -> None:
    ours = await in_thread(_login_error, served.port)
    theirs = await in_thread(_login_error, MYSQL_PORT)
    assert ours == theirs == (1049, "Unknown database 'sgproto_nosuch_db'")
    assert not served.server._connections  # refused and closed
    assert all(s.closed for s in served.factory.sessions)


# -- several statements without CLIENT_MULTI_STATEMENTS -----------------------------------

MULTI = [
    "SELECT 1; SELECT 2",
    "SET @a = 1; SELECT 2",
    "BEGIN; SELECT 2",
    "COMMIT; SELECT 2",
    "SET @a = 1;\n  /* c */ SELECT 2",
    # MariaDB prints at most 80 characters near the error, a longer rest cut to 77 + '...'.
    "SELECT 1; SELECT " + "x" * 63,
    "SELECT 1; SELECT " + "x" * 64,
    "SELECT 1; SELECT '" + "é" * 70 + "'",
]
SINGLE = ["SELECT 1;", "SELECT 1; ", "SELECT 1;;", "SET @b = 1;", "SELECT ';' AS x; -- done"]


def _statements(port: int, database: str | None) -> list[tuple[int | None, str]]:
    c = RawClient(port)  # DEFAULT_CAPS: no CLIENT_MULTI_STATEMENTS
    assert c.login(database=database)[-1][0] == 0x00
    out: list[tuple[int | None, str]] = []
    for sql in MULTI + SINGLE:
        first = c.query(sql)[0]
        out.append(_error(first) if first[:1] == b"\xff" else (None, "ok"))
    # Nothing after the ';' ran, nor the SET before it: @a is NULL.
    rows = c.query("SELECT @a")
    out.append((None, rows[-2].hex()))
    c.close()
    return out


@pytest.mark.mysql
async def test_statements_after_a_semicolon_are_1064_without_multi_statements(
    served: Served, maria_db: str
) -> None:
    ours = await in_thread(_statements, served.port, None)
    theirs = await in_thread(_statements, MYSQL_PORT, maria_db)

    assert ours == theirs  # codes and whole messages
    assert [code for code, _ in ours[: len(MULTI)]] == [1064] * len(MULTI)
    assert ours[len(MULTI) : len(MULTI) + len(SINGLE)] == [(None, "ok")] * len(SINGLE)
    assert ours[-1] == (None, "fb")  # NULL


#: Texts whose statements MariaDB's parser cuts in ways a plain split at ';' does not:
#: trailing ';' and space dropped, a comment after the last ';' is a statement of its own
#: (an OK), a ';' where a statement should start is 1064 near it.
SCRIPTS = [
    "SELECT 1; -- done",
    "SELECT 1;-- done",
    "SELECT 1; /* done */",
    "SELECT 1; # done",
    "SELECT 1; -- a\n-- b\n",
    "SELECT 1; SELECT 2; -- done",
    "SELECT 1;;",
    "SELECT 1; ;",
    "SELECT 1 ;\n;\n",
    "SELECT 1;;SELECT 2",
    "SELECT 1; ;SELECT 2",
    "SELECT 1 ; ;  -- trailing\n",
    "SELECT 1;\n\n;\nSELECT 2",
    "SELECT 1; /* c */ ; SELECT 2",
    "SELECT 1; /* c */ SELECT 2",
    "SELECT 1; /* c */;;",
    "SELECT 1; --c",
    "/* c */;",
    "/* c */ ; SELECT 2",
    "; SELECT 2",
    "-- c",
    ";",
    "SET @a = 1; /* c */",
    "SELECT ';' AS x; -- done",
]


def _scripts(port: int, database: str | None, multi: bool) -> list[list[object]]:
    flags = pymysql.constants.CLIENT.MULTI_STATEMENTS if multi else 0
    c = pymysql.connect(
        host=MYSQL_HOST, port=port, user="root", database=database, client_flag=flags
    )
    out: list[list[object]] = []
    try:
        for sql in SCRIPTS:
            got: list[object] = []
            cur = c.cursor()
            try:
                cur.execute(sql)
                while True:
                    got.append(cur.fetchall() if cur.description else "OK")
                    if not cur.nextset():
                        break
            except pymysql.MySQLError as exc:
                code, message = exc.args
                got.append((code, message.replace("MariaDB server", "MySQL server")))
            out.append(got)
    finally:
        c.close()
    return out


@pytest.mark.mysql
@pytest.mark.parametrize("multi", [True, False], ids=["multi", "single"])
async def test_statements_of_a_text_are_mariadbs(
    maria_coordinator: MySQLServer, maria_db: str, multi: bool
) -> None:
    ours = await in_thread(_scripts, maria_coordinator.port, None, multi)
    theirs = await in_thread(_scripts, MYSQL_PORT, maria_db, multi)
    assert dict(zip(SCRIPTS, ours, strict=True)) == dict(zip(SCRIPTS, theirs, strict=True))
    # The shapes that matter, so this cannot pass by both sides failing alike.
    answers = dict(zip(SCRIPTS, theirs, strict=True))
    assert answers["SELECT 1;;"] == [((1,),)]
    if multi:
        assert answers["SELECT 1; -- done"] == [((1,),), "OK"]
        assert answers["SELECT 1;;SELECT 2"][1][0] == 1064  # type: ignore[index]
    else:
        assert answers["SELECT 1; -- done"] == [((1,),)]
