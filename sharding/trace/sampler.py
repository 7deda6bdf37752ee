"""Samples a shardgate coordinator's own bucket and pool statistics during a replay.

Every ``interval`` seconds, over one admin connection separate from the replay's
lanes: ``SHOW THREAD_POOL_STATUS`` (one row per executor bucket) and
``SHOW DATASOURCES`` (one row per data source's pool); with ``--http HOST:PORT`` also
``GET /status`` (JSON). Targets that do not know a command (a plain MariaDB answers
1064) get it marked unsupported after the first refusal and never asked again, so
sampling costs nothing there. Connection-level failures are counted and retried on the
next tick.

The summary keeps, for each SQL source and each numeric column, the peak and the last
value of the column summed over the rows (e.g. ``active`` summed over buckets is the
number of busy slots), plus every raw sample (bounded by ``max_samples``).

Invariant: :meth:`CoordinatorSampler.run` never raises anything but cancellation; a
sampling failure can't abort or slow the replay beyond its own connection.
"""

from __future__ import annotations

import asyncio
import json
import math
import urllib.request
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sharding.trace.target import Endpoint, connect, error_key, error_message

__all__ = ["SQL_SOURCES", "CoordinatorSampler", "summarize_rows"]

SQL_SOURCES: Mapping[str, str] = {
    "thread_pool_status": "SHOW THREAD_POOL_STATUS",
    "datasources": "SHOW DATASOURCES",
}


def summarize_rows(samples: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, dict[str, float]]:
    """Per numeric column: ``{"peak": max over samples of the row sum, "last": ...}``."""
    out: dict[str, dict[str, float]] = {}
    for rows in samples:
        sums: dict[str, float] = {}
        for row in rows:
            for col, value in row.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                sums[col] = sums.get(col, 0) + value
        for col, total in sums.items():
            entry = out.setdefault(col, {"peak": total, "last": total})
            entry["peak"] = max(entry["peak"], total)
            entry["last"] = total
    return out


class CoordinatorSampler:
    """Periodic admin queries against the replay target (see the module docstring)."""

    def __init__(
        self,
        endpoint: Endpoint | None,
        *,
        interval: float = 1.0,
        http: Endpoint | None = None,
        max_samples: int = 10_000,
        sql_sources: Mapping[str, str] = SQL_SOURCES,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"sample interval must be > 0, not {interval}")
        self.endpoint = endpoint
        self.interval = interval
        self.http = http
        self.max_samples = max_samples
        self.sql_sources = dict(sql_sources)
        self.unsupported: dict[str, str] = {}
        self.failures: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.samples: list[dict[str, Any]] = []
        self._conn: Any = None

    async def run(self, t0: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                now = loop.time()
                if len(self.samples) < self.max_samples:
                    sample = await self.sample_once()
                    sample["t"] = round(max(0.0, now - t0), 3)
                    self.samples.append(sample)
                await asyncio.sleep(max(0.0, self.interval - (loop.time() - now)))
        finally:
            self.close()

    async def sample_once(self) -> dict[str, Any]:
        """One sample of every supported source (missing keys: no answer this time)."""
        out: dict[str, Any] = {}
        for name, sql in self.sql_sources.items():
            if name in self.unsupported or self.endpoint is None:
                continue
            rows = await self._query(name, sql)
            if rows is not None:
                out[name] = rows
        if self.http is not None and "http" not in self.unsupported:
            status = await self._http_status()
            if status is not None:
                out["http"] = status
        return out

    def _fail(self, name: str) -> None:
        self.failures[name] = self.failures.get(name, 0) + 1

    async def _query(self, name: str, sql: str) -> list[dict[str, Any]] | None:
        assert self.endpoint is not None
        self.requests[name] = self.requests.get(name, 0) + 1
        try:
            if self._conn is None:
                async with asyncio.timeout(5.0):
                    self._conn = await connect(self.endpoint)
            async with asyncio.timeout(5.0):
                async with self._conn.cursor() as cur:
                    await cur.execute(sql)
                    cols = [d[0] for d in cur.description or ()]
                    rows = await cur.fetchall()
            return [dict(zip(cols, (_plain(v) for v in row), strict=False)) for row in rows]
        except Exception as e:
            key = error_key(e)
            if key.isdigit() and 1000 <= int(key) < 2000:
                # the server answered: it does not support this statement
                self.unsupported[name] = f"[{key}] {error_message(e)}"
            else:
                self._fail(name)
                self.close()
            return None

    async def _http_status(self) -> Any:
        assert self.http is not None
        self.requests["http"] = self.requests.get("http", 0) + 1
        host = f"[{self.http.host}]" if ":" in self.http.host else self.http.host
        url = f"http://{host}:{self.http.port}/status"

        def fetch() -> Any:
            with urllib.request.urlopen(url, timeout=2.0) as resp:
                return json.loads(resp.read().decode("utf-8"))

        try:
            return await asyncio.to_thread(fetch)
        except Exception as e:
            self._fail("http")
            if self.failures["http"] >= 3 and not any("http" in s for s in self.samples):
                self.unsupported["http"] = f"{type(e).__name__}: {e}"
            return None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def summary(self) -> dict[str, Any]:
        """Peaks/lasts per source, unsupported sources with the reason, raw samples."""
        out: dict[str, Any] = {
            "interval": self.interval,
            "count": len(self.samples),
            "unsupported": dict(self.unsupported),
            "failures": dict(self.failures),
            "requests": dict(self.requests),
        }
        for name in self.sql_sources:
            series = [s[name] for s in self.samples if name in s]
            if series:
                out[name] = {"rows": len(series[-1]), "columns": summarize_rows(series)}
        out["samples"] = self.samples
        return out


def _plain(value: Any) -> Any:
    """JSON-friendly cell; numbers (also numeric text and Decimals) become numbers."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return str(value)
