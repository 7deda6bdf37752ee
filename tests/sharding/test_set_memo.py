"""A SET text whose values are constants is parsed once (``session_state._SET_MEMO``):
clients send the same ``SET autocommit = 1`` / ``SET NAMES utf8mb4`` on every
connection. Each caller gets its own copies; other texts are parsed every time."""

from __future__ import annotations

from typing import Any

import pytest
from sqlglot import exp

import sharding.sql.parse as parse_module
from sharding import session_state
from sharding.session_state import parse_set_text


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = parse_module.parse_one

    def counting(sql: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(sql)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(parse_module, "parse_one", counting)
    monkeypatch.setattr(session_state, "_SET_MEMO", {})
    return seen


@pytest.mark.parametrize(
    "sql",
    [
        "SET autocommit = 1",
        "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
        "SET SESSION sql_mode = 'STRICT_TRANS_TABLES', @x = -5, time_zone = DEFAULT",
        "SET character_set_results = NULL",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    ],
)
def test_constant_sets_are_parsed_once(parses: list[str], sql: str) -> None:
    first = parse_set_text(sql)
    again = parse_set_text(sql)
    assert parses == [sql]
    assert again == first
    # Copies: what one caller does to its values is not what the next one gets.
    for a, b in zip(first, again, strict=True):
        assert a is not b
        assert a.value is None or a.value is not b.value
    if first[0].value is not None:
        first[0].value.set("this", "changed")
        assert parse_set_text(sql)[0].value == again[0].value


def test_expressions_are_parsed_every_time(parses: list[str]) -> None:
    sql = "SET @a = @b + 1"
    one, two = parse_set_text(sql), parse_set_text(sql)
    assert parses == [sql, sql]
    assert isinstance(one[0].value, exp.Add) and one == two


def test_the_memo_is_bounded(parses: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_state, "_SET_MEMO_SIZE", 4)
    for i in range(10):
        parse_set_text(f"SET @v{i} = {i}")
    assert 0 < len(session_state._SET_MEMO) <= 4
    assert parse_set_text("SET @v9 = 9")[0].value == exp.Literal.number(9)


def test_errors_are_not_remembered(parses: list[str]) -> None:
    for _ in range(2):
        with pytest.raises(Exception, match="next transaction"):
            parse_set_text("SET TRANSACTION READ ONLY")
    assert session_state._SET_MEMO == {}
