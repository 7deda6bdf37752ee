"""Fixtures for the coordinator tests.

The differential datasets (16 and 1024 shards) are built once per test session by a
synchronous fixture (its own ``trio.run``), into a temporary folder; each test opens
a Coordinator on them (cheap: the catalog is loaded from the data source).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from sharding import Coordinator, Topology
from tests.sharding import dataset


@pytest.fixture(autouse=True)
def _quiet_statement_logs() -> Iterator[None]:
    """One structured event per statement is useful in production, noise in tests.

    A fixture, not a module-level ``structlog.configure``: pytest imports every conftest
    at collection, so a module-level call would change logging for the whole session.
    """
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**saved)


class Dataset:
    def __init__(self, root: Path, shards: int, data: dict[str, list[tuple[Any, ...]]]) -> None:
        self.root = root
        self.shards = shards
        self.data = data
        self.oracle_path = root / "oracle.sqlite"

    def topology(self, **kw: Any) -> Topology:
        return dataset.topology(self.root, self.shards, **kw)

    def oracle(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.oracle_path}?mode=ro", uri=True)


def _build(tmp_path_factory: pytest.TempPathFactory, shards: int) -> Dataset:
    root = tmp_path_factory.mktemp(f"dataset{shards}")
    data = dataset.generate()
    dataset.build_oracle(root / "oracle.sqlite", data)
    dataset.build_sharded(root, shards, data)
    return Dataset(root, shards, data)


@pytest.fixture(scope="session")
def dataset16(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    yield _build(tmp_path_factory, 16)


@pytest.fixture(scope="session")
def dataset1024(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    yield _build(tmp_path_factory, 1024)


@pytest.fixture
async def coord16(dataset16: Dataset) -> AsyncIterator[Coordinator]:
    async with Coordinator(dataset16.topology(), catalog_refresh=None) as coord:
        yield coord


@pytest.fixture
def small_topology(tmp_path: Path) -> Topology:
    """A fresh, empty 4-shard topology."""
    return Topology.loads(
        f"""
[cluster]
database = "db"
default_shards = 4
chunk_rows = 3

[executor]
buckets = 2
slots_per_bucket = 4
window = 4

[[datasources]]
name = "ds0"
path = "{tmp_path / "ds0"}"
"""
    )


@pytest.fixture
async def coord(small_topology: Topology) -> AsyncIterator[Coordinator]:
    async with Coordinator(small_topology, catalog_refresh=None) as c:
        yield c
