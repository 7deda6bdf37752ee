"""The coordinator sampler: SQL sources (supported or not), HTTP /status, summaries.

The SQL side runs against MariaDB with stand-in statements shaped like
``SHOW THREAD_POOL_STATUS`` rows, plus the real admin statement MariaDB refuses; the
HTTP side against a tiny local HTTP server. (The real coordinator is covered by
test_serve.py.)
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from sharding.trace.sampler import CoordinatorSampler, summarize_rows
from sharding.trace.target import Endpoint
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.mysqld import free_port


def test_summarize_rows_sums_over_rows_and_keeps_peak_and_last() -> None:
    samples = [
        [{"bucket": 0, "active": 1, "name": "a"}, {"bucket": 1, "active": 2, "name": "b"}],
        [{"bucket": 0, "active": 5, "name": "a"}, {"bucket": 1, "active": 4, "name": "b"}],
        [{"bucket": 0, "active": 0, "name": "a"}, {"bucket": 1, "active": 1.5, "flag": True}],
    ]
    out = summarize_rows(samples)
    assert out["active"] == {"peak": 9, "last": 1.5}
    assert out["bucket"] == {"peak": 1, "last": 1}
    assert "name" not in out and "flag" not in out


class _Status(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = json.dumps({"buckets": [{"active": 2}], "path": self.path}).encode()
        self.send_response(200 if self.path == "/status" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def status_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def _sample_for(sampler: CoordinatorSampler, seconds: float) -> None:
    task = asyncio.create_task(sampler.run(asyncio.get_running_loop().time()))
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.wait([task])


@pytest.mark.mysql
def test_sql_and_http_sources(status_server: int) -> None:
    sampler = CoordinatorSampler(
        Endpoint(MYSQL_HOST, MYSQL_PORT),
        interval=0.05,
        http=Endpoint("127.0.0.1", status_server),
        sql_sources={
            "thread_pool_status": "SELECT 0 AS bucket, 3 AS active UNION ALL SELECT 1, '4'",
            "datasources": "SHOW DATASOURCES",
        },
    )
    asyncio.run(_sample_for(sampler, 0.5))
    s = sampler.summary()
    assert s["count"] >= 3
    assert s["thread_pool_status"]["rows"] == 2
    assert s["thread_pool_status"]["columns"]["active"] == {"peak": 7, "last": 7}  # '4' → 4
    assert s["unsupported"]["datasources"].startswith("[1064]")
    # refused once, never asked again
    assert s["requests"]["datasources"] == 1
    # (+1: the cancellation may have landed inside a sample that was never stored)
    assert s["count"] <= s["requests"]["thread_pool_status"] <= s["count"] + 1
    assert s["count"] <= s["requests"]["http"] <= s["count"] + 1
    assert all(x["http"]["buckets"] == [{"active": 2}] for x in s["samples"])
    assert [x["t"] for x in s["samples"]] == sorted(x["t"] for x in s["samples"])
    assert sampler._conn is None  # closed when cancelled


def test_dead_http_endpoint_is_given_up_after_three_failures() -> None:
    sampler = CoordinatorSampler(None, interval=0.01, http=Endpoint("127.0.0.1", free_port()))
    asyncio.run(_sample_for(sampler, 0.5))
    s = sampler.summary()
    assert s["failures"]["http"] == s["requests"]["http"] == 3
    assert "http" in s["unsupported"]
    assert s["count"] > 3  # sampling went on (cheaply) without the dead source


def test_bad_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        CoordinatorSampler(None, interval=0)
