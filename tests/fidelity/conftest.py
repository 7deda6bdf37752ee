"""Fixtures of the fidelity suite: one environment per (shards, chunk, backend) variant.

Every ``test_*(env)`` runs in front of MariaDB shards (``VARIANTS``) and on the
embedded SQLite default (issue 15: 16 shard files, chunk 1000), each against the same
unsharded MariaDB. At the end of the run the per-class counts (same / clear refusal /
wrong) of every environment are printed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require_mysql_or_skip
from tests.fidelity.harness import (
    NATIVE_VARIANTS,
    SUMMARY,
    VARIANTS,
    Environment,
    environment,
    stop_all,
)


@pytest.fixture(scope="session", autouse=True)
def _stop_environments() -> Iterator[None]:
    yield
    stop_all()


#: The embedded SQLite default's variants (issue 15): the default chunk in ``make
#: test``, tiny chunks (every keyset continuation path) among the slow ones.
SQLITE = [(16, 1000, True, "sqlite"), (16, 2, True, "sqlite")]


#: The 1024-shard variants are the slowest (an environment of 1024 databases per
#: table), and the 16-shard one without pushdown repeats the corpus a third time at 16
#: shards (it pins that pushdown on and off answer alike, issue 17): marked ``slow``, so
#: ``make test`` stays within its time budget and ``.ci/run`` runs them after it.
def _id(v: tuple[int, int, bool, str]) -> str:
    kind = "" if v[3] == "mysql" else f"{v[3]}-"
    native = "-native" if v[3] == "mysql" and v[:3] in NATIVE_VARIANTS else ""
    return f"{kind}{v[0]}shards-chunk{v[1]}{'' if v[2] else '-nopushdown'}{native}"


_PARAMS = [
    pytest.param(v, marks=pytest.mark.slow, id=_id(v))
    if v[0] >= 1024 or not v[2] or v[1:] == (2, True, "sqlite")
    else pytest.param(v, id=_id(v))
    for v in [(*variant, "mysql") for variant in VARIANTS] + SQLITE
]


@pytest.fixture(params=_PARAMS)
def env(request: pytest.FixtureRequest) -> Environment:
    require_mysql_or_skip()
    shards, chunk, pushdown, backend = request.param
    return environment(shards, chunk, pushdown, backend)


#: Tests whose SQLite variant is not run yet, and why: answers of the embedded default
#: that still differ from MariaDB's (issue 15, open). Not a skip: the variant is not
#: collected (pytest reports it as deselected), and each entry leaves this list with
#: the fix that makes it pass.
SQLITE_GAPS: dict[str, str] = {}


#: Tests whose SQLite variant runs among the slow ones, and why.
SQLITE_SLOW: dict[str, str] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        name = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
        if "[sqlite-" in item.nodeid and name in SQLITE_SLOW:
            item.add_marker(pytest.mark.slow)
    gaps = [
        item
        for item in items
        if "[sqlite-" in item.nodeid
        and f"{item.path.name}::{getattr(item, 'originalname', item.name)}" in SQLITE_GAPS
    ]
    if gaps:
        config.hook.pytest_deselected(items=gaps)
        items[:] = [item for item in items if item not in gaps]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The per-class counts of every environment the run used (issue 15's acceptance:
    the differential suite prints them for both modes)."""
    for label in sorted(SUMMARY):
        terminalreporter.write_line("")
        terminalreporter.write_line(SUMMARY[label].table(f"fidelity classes on {label}"))
