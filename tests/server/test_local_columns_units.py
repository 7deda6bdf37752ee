"""The coordinator's own answers are typed without their rows (issue 14 item 6):
:mod:`sharding.local_columns` builds their definitions from what the statement is —
a SHOW's columns, a variable's declared kind, a record's field types — so two answers
to the same statement with different values carry the same definitions. (Their
agreement with MariaDB: ``test_local_column_definitions.py``.)"""

from __future__ import annotations

from sharding.backend.base import DataSourceStatistics
from sharding.local_columns import (
    CONSERVATIVE,
    record_columns,
    show_columns,
    user_variable_type,
    variable_type,
)
from sharding.session_answers import answer_select, answer_show
from sharding.session_state import GlobalVariables, SessionState


def _state() -> SessionState:
    return SessionState(GlobalVariables())


def _wires(result: object) -> list[object]:
    columns = getattr(result, "columns", None) or []
    return [c.wire for c in columns]


def test_every_local_answer_column_has_a_definition() -> None:
    state = _state()
    for sql in (
        "SELECT @@version, @@autocommit, @@long_query_time, 1, 'a', NULL, 1.5",
        "SELECT DATABASE(), USER(), CONNECTION_ID(), @nothing",
    ):
        result = answer_select(state, sql)
        assert result is not None
        assert all(w is not None for w in _wires(result)), sql
    for sql in ("SHOW VARIABLES", "SHOW WARNINGS", "SHOW COLLATION", "SHOW CHARACTER SET"):
        result = answer_show(state, sql)
        assert result is not None
        assert all(w is not None for w in _wires(result)), sql


def test_the_same_statement_has_the_same_definitions_whatever_the_values() -> None:
    """Rows differ (other warnings, other variables' rows), definitions do not."""
    a, b = _state(), _state()
    b.diagnostics = [("Warning", 1265, "Data truncated"), ("Error", 1062, "x" * 500)]
    for sql in ("SHOW WARNINGS", "SHOW VARIABLES LIKE 'a%'", "SHOW VARIABLES"):
        assert _wires(answer_show(a, sql)) == _wires(answer_show(b, sql)), sql
    assert _wires(answer_select(a, "SELECT @@autocommit, @@max_allowed_packet")) == _wires(
        answer_select(b, "SELECT @@autocommit, @@max_allowed_packet")
    )


def test_variable_kinds() -> None:
    assert variable_type("uint", 1).type == variable_type("uint", 1 << 40).type == 8
    assert variable_type("bool", 0).length == 1
    assert variable_type("double", 0.5).type == 5
    text = variable_type("str", "abc")
    assert (text.type, text.length, text.charset) == (253, 12, 45)
    assert user_variable_type(None).type == 251
    assert user_variable_type(5).type == 8
    assert user_variable_type("x").type == 251


def test_show_columns_rename_and_records_by_declared_field_types() -> None:
    cols = show_columns("TABLES", ["Tables_in_db", "Table_type"])
    assert [c.name for c in cols] == ["Tables_in_db", "Table_type"]
    assert all(c.wire is not None and c.wire.type == 253 for c in cols)
    records = record_columns(["name", "size", "breaker", "extra", "unknown"], DataSourceStatistics)
    types = [c.wire.type if c.wire is not None else None for c in records]
    assert types == [CONSERVATIVE.type, 8, CONSERVATIVE.type, CONSERVATIVE.type, CONSERVATIVE.type]
