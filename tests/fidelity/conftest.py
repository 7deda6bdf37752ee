"""Fixtures of the fidelity suite: one environment per (shards, chunk) variant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require_mysql_or_skip
from tests.fidelity.harness import VARIANTS, Environment, environment, stop_all


@pytest.fixture(scope="session", autouse=True)
def _stop_environments() -> Iterator[None]:
    yield
    stop_all()


@pytest.fixture(params=VARIANTS, ids=[f"{s}shards-chunk{c}" for s, c in VARIANTS])
def env(request: pytest.FixtureRequest) -> Environment:
    require_mysql_or_skip()
    shards, chunk = request.param
    return environment(shards, chunk)
