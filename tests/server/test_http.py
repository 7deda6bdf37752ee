"""The HTTP port: /metrics (Prometheus text), /status (JSON), /healthz, errors."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from types import SimpleNamespace

import trio

from executor import BucketedExecutor, ExecutorConfig
from sharding.backend.base import DataSourceStatistics
from sharding.server import CoordinatorAdmin
from tests.server.conftest import in_thread, start_server


class _FakeDataSource:
    def statistics(self) -> DataSourceStatistics:
        return DataSourceStatistics(
            name="ds0",
            kind="sqlite",
            max_size=8,
            size=3,
            idle=2,
            in_use=1,
            waiting=0,
            acquired=42,
            breaker="open",
        )


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers["content-type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["content-type"], e.read().decode()


async def test_metrics_status_healthz(nursery: trio.Nursery) -> None:
    async with BucketedExecutor(ExecutorConfig(buckets=3, slots_per_bucket=2)) as ex:
        admin = CoordinatorAdmin(
            SimpleNamespace(executor=ex, datasources={"ds0": _FakeDataSource()})
        )
        s = await start_server(nursery, admin=admin)
        base = f"http://127.0.0.1:{s.server.http_port}"

        def run() -> dict[str, tuple[int, str, str]]:
            with s.pymysql() as c, c.cursor() as cur:
                cur.execute("SELECT 1")
                try:
                    cur.execute("SELECT * FROM nope")
                except Exception:
                    pass
                return {p: _get(base + p) for p in ("/metrics", "/status", "/healthz", "/nope")}

        out = await in_thread(run)
        code, ctype, metrics = out["/metrics"]
        assert code == 200 and ctype.startswith("text/plain")
        assert 'shardgate_bucket_slots{bucket="2"} 2.0' in metrics
        assert 'shardgate_pool_in_use{datasource="ds0"} 1.0' in metrics
        assert 'shardgate_pool_acquired_total{datasource="ds0"} 42.0' in metrics
        assert 'shardgate_pool_breaker_open{datasource="ds0"} 1.0' in metrics
        assert 'shardgate_errors_total{code="1146"} 1.0' in metrics
        assert "shardgate_statement_seconds_bucket" in metrics
        assert 'shardgate_connections{port="main"}' in metrics
        code, ctype, body = out["/status"]
        status = json.loads(body)
        assert code == 200 and ctype == "application/json"
        assert [b["bucket"] for b in status["buckets"]] == [0, 1, 2]
        assert status["datasources"][0]["name"] == "ds0"
        assert status["server"]["port"] == s.port
        assert out["/healthz"][:1] == (200,)
        assert out["/nope"][0] == 404
        s.server.shutdown()


async def test_http_garbage_and_keepalive(nursery: trio.Nursery) -> None:
    s = await start_server(nursery)
    port = s.server.http_port

    def run() -> tuple[bytes, bytes]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            data = b""
            while data.count(b"ok\n") < 2:
                data += sock.recv(4096)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"\x00\x01garbage\r\n\r\n")
            bad = sock.recv(4096)
        return data, bad

    keepalive, bad = await in_thread(run)
    assert keepalive.count(b"HTTP/1.1 200") == 2
    assert bad == b"" or bad.startswith(b"HTTP/1.1 400")
    # and the port still works
    assert (await in_thread(_get, f"http://127.0.0.1:{port}/healthz"))[0] == 200


async def test_http_post_body_keepalive_and_method_errors(nursery: trio.Nursery) -> None:
    s = await start_server(nursery)
    port = s.server.http_port

    def run() -> bytes:
        body = b'{"query_id": 424242}'
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            # A POST with a body, then a GET and a PUT on the same connection: the body is
            # consumed, so the connection stays usable.
            sock.sendall(
                b"POST /kill HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"X-Requested-With: shardgate\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
                + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                + b"PUT /status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
                + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            return data

    data = await in_thread(run)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"404", b"200", b"405", b"200"]  # unknown query id: 404
    assert b"\r\nallow: GET, HEAD\r\n" in data
    s.server.shutdown()
