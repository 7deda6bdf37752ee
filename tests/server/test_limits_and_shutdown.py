"""max_connections, idle timeout, auth plugins, graceful shutdown."""

from __future__ import annotations

import socket
import time

import pymysql
import pytest
import trio

from tests.server.conftest import in_thread, start_server, wait_until
from tests.server.rawclient import RawClient, err_code


async def test_max_connections_refuses_extra_client_but_admin_port_works(
    nursery: trio.Nursery,
) -> None:
    s = await start_server(nursery, max_connections=3)

    def run() -> int:
        conns = [s.pymysql() for _ in range(3)]
        with pytest.raises(pymysql.MySQLError) as info:
            s.pymysql()
        with s.pymysql(port=s.server.admin_port) as adm, adm.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'Threads_connected'")
            assert cur.fetchone() == ("Threads_connected", "4")
        for c in conns:
            c.close()
        return info.value.args[0]

    assert await in_thread(run) == 1040
    assert s.server.metrics.connections_refused.value("max_connections") == 1


async def test_idle_timeout_disconnects_with_4031(nursery: trio.Nursery) -> None:
    s = await start_server(nursery, wait_timeout=0.3)

    def run() -> tuple[int | None, bool]:
        c = RawClient(s.port)
        assert c.login()[-1][0] == 0x00
        time.sleep(0.6)
        _, pkt = c.read_packet()
        try:
            c.read_packet()
            closed = False
        except (EOFError, OSError):
            closed = True
        return err_code(pkt), closed

    assert await in_thread(run) == (4031, True)


async def test_caching_sha2_fast_auth_and_auth_switch(nursery: trio.Nursery) -> None:
    s = await start_server(
        nursery,
        users=[
            {"name": "app", "password": "pw"},
            {"name": "legacy", "password_hash": "*" + "00" * 20},
        ],
    )

    def run() -> None:
        c = RawClient(s.port)
        packets = c.login("app", "pw", plugin="caching_sha2_password")
        assert packets[0] == b"\x01\x03" and packets[-1][0] == 0x00  # fast_auth_success, OK
        c.close()
        c = RawClient(s.port)
        assert err_code(c.login("app", "nope", plugin="caching_sha2_password")[-1]) == 1045
        c.close()
        # an unknown client plugin is switched to mysql_native_password
        c = RawClient(s.port)
        packets = c.login("app", "pw", plugin="mysql_clear_password")
        assert packets[0][0] == 0xFE and packets[-1][0] == 0x00
        c.close()
        # a user with only a native hash: sha2 clients are switched to native
        c = RawClient(s.port)
        packets = c.login("legacy", "whatever", plugin="caching_sha2_password")
        assert packets[0][0] == 0xFE and err_code(packets[-1]) == 1045
        c.close()

    await in_thread(run)


async def test_graceful_shutdown(nursery: trio.Nursery) -> None:
    from sharding.server import MySQLServer, ServerConfig
    from tests.server.fakes import FakeSessionFactory

    factory = FakeSessionFactory()
    server = MySQLServer(ServerConfig(listen="127.0.0.1:0", shutdown_timeout=5.0), factory)
    done = trio.Event()

    async def serve(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await server.serve(task_status=task_status)
        done.set()

    await nursery.start(serve)
    port = server.port
    results: dict[str, object] = {}

    def running_client() -> None:
        with pymysql.connect(host="127.0.0.1", port=port, user="root") as c, c.cursor() as cur:
            cur.execute("SELECT SLEEP(0.5)")
            results["running"] = cur.fetchall()

    idle = await in_thread(RawClient, port)
    assert (await in_thread(idle.login))[-1][0] == 0x00
    nursery.start_soon(in_thread, running_client)
    await wait_until(lambda: factory.sleeping > 0)
    t0 = trio.current_time()
    server.shutdown()
    # idle connections are told and closed at once
    _, pkt = await in_thread(idle.read_packet)
    assert err_code(pkt) == 1053
    with trio.fail_after(5):
        await done.wait()
    await wait_until(lambda: "running" in results)
    assert results["running"] == ((0,),)  # the running statement was allowed to finish
    assert trio.current_time() - t0 < 3
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).recv(1)


async def test_shutdown_deadline_cancels_running_statements(nursery: trio.Nursery) -> None:
    from sharding.server import MySQLServer, ServerConfig
    from tests.server.fakes import FakeSessionFactory

    factory = FakeSessionFactory()
    server = MySQLServer(ServerConfig(listen="127.0.0.1:0", shutdown_timeout=0.3), factory)
    done = trio.Event()

    async def serve(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await server.serve(task_status=task_status)
        done.set()

    await nursery.start(serve)
    errors: list[int] = []

    def stuck() -> None:
        with pymysql.connect(host="127.0.0.1", port=server.port, user="root") as c:
            try:
                with c.cursor() as cur:
                    cur.execute("SELECT SLEEP(60)")
            except pymysql.MySQLError as exc:
                errors.append(exc.args[0])

    nursery.start_soon(in_thread, stuck)
    await wait_until(lambda: factory.sleeping > 0)
    server.shutdown()
    with trio.fail_after(5):
        await done.wait()
    await wait_until(lambda: bool(errors))
    assert errors == [1317]
    assert factory.sessions[0].interrupted == 1 and factory.sessions[0].closed


async def test_a_crashing_connection_does_not_take_the_server_down(nursery: trio.Nursery) -> None:
    from tests.server.fakes import FakeSessionFactory

    class Flaky(FakeSessionFactory):
        def open_session(self, *, user: str = "root", database: str | None = None):  # type: ignore[no-untyped-def]
            if database == "crash":
                raise RuntimeError("bug in the session factory")
            return super().open_session(user=user, database=database)

    s = await start_server(nursery, factory=Flaky())

    def run() -> tuple:
        with pytest.raises(pymysql.MySQLError):
            s.pymysql(database="crash")
        with s.pymysql() as c, c.cursor() as cur:
            cur.execute("SELECT 'alive'")
            return cur.fetchone()

    assert await in_thread(run) == ("alive",)


async def test_deprecate_eof_both_ways(nursery: trio.Nursery) -> None:
    from tests.server.rawclient import CLIENT_DEPRECATE_EOF, DEFAULT_CAPS

    s = await start_server(nursery)

    def run(caps: int) -> list[bytes]:
        c = RawClient(s.port)
        assert c.login(caps=caps)[-1][0] == 0x00
        c.command(b"\x03SELECT 1 AS a, 'x' AS b")
        packets = [c.read_packet()[1] for _ in range(5 if caps & CLIENT_DEPRECATE_EOF else 6)]
        c.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            c.read_packet()  # nothing more: the response had exactly that many packets
        c.close()
        return packets

    classic = await in_thread(run, DEFAULT_CAPS)
    assert classic[0] == b"\x02" and classic[3][0] == 0xFE and classic[5][0] == 0xFE
    assert classic[4] == b"\x011\x01x"
    modern = await in_thread(run, DEFAULT_CAPS | CLIENT_DEPRECATE_EOF)
    assert modern[0] == b"\x02" and modern[3] == b"\x011\x01x"
    assert modern[4][0] == 0xFE and len(modern[4]) >= 7  # OK packet with the EOF header


async def test_change_user_authenticates_and_starts_a_fresh_session(
    nursery: trio.Nursery,
) -> None:
    """COM_CHANGE_USER: the new user's password is checked against the handshake's
    nonce (caching_sha2 fast auth, or an auth switch to native), the old session is
    closed and a new one opened as that user in the database named; a wrong password
    is 1045 and ends the connection (it was 1047 Unknown command)."""
    s = await start_server(
        nursery,
        users=[{"name": "app", "password": "pw"}, {"name": "other", "password": "o"}],
    )

    def run() -> None:
        c = RawClient(s.port)
        assert c.login("app", "pw")[-1][0] == 0x00
        first = s.factory.sessions[-1]
        packets = c.change_user("other", "o", plugin="caching_sha2_password", database="test")
        assert packets[0] == b"\x01\x03" and packets[-1][0] == 0x00  # fast auth, OK
        second = s.factory.sessions[-1]
        assert second is not first and first.closed
        assert (second.user, second.database) == ("other", "test")
        # An unknown client plugin: switched to mysql_native_password, then OK.
        packets = c.change_user("app", "pw", plugin="mysql_clear_password")
        assert packets[0][0] == 0xFE and packets[-1][0] == 0x00
        assert s.factory.sessions[-1].user == "app"
        assert c.query("SELECT 1")[-1][0] == 0xFE  # still serving
        assert err_code(c.change_user("app", "nope")[-1]) == 1045
        with pytest.raises((EOFError, OSError)):
            c.read_packet()  # the connection ended
        c.close()
        c = RawClient(s.port)
        assert c.login("app", "pw")[-1][0] == 0x00
        assert err_code(c.change_user("app", "pw", database="nope")[-1]) == 1049
        c.close()

    await in_thread(run)
