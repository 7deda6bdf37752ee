"""The JSONL trace format (round trip, validation) and the general-log parser."""

from __future__ import annotations

import json
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from sharding.trace.format import (
    TraceFormatError,
    TraceRecord,
    TraceWriter,
    detect_format,
    kind_of,
    parse_general_log,
    read_jsonl,
    read_trace,
)

_sessions = st.one_of(st.integers(-(2**40), 2**40), st.text(min_size=1, max_size=8))
_sql = st.text(min_size=1, max_size=60).filter(lambda s: s.strip() != "")
_params = st.none() | st.dictionaries(
    st.text(max_size=5), st.integers() | st.text(max_size=5) | st.none(), max_size=3
)


@st.composite
def traces(draw: st.DrawFn) -> list[TraceRecord]:
    gaps = draw(st.lists(st.floats(0, 5, allow_nan=False), min_size=0, max_size=20))
    out, t = [], 0.0
    for gap in gaps:
        t = round(t + gap, 6)
        out.append(
            TraceRecord(
                t,
                draw(_sessions),
                draw(_sql),
                draw(st.none() | st.sampled_from(["point", "scatter-topk", "x"])),
                draw(_params),
            )
        )
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=traces())
def test_jsonl_round_trip(tmp_path: Path, records: list[TraceRecord]) -> None:
    path = tmp_path / "t.jsonl"
    with TraceWriter(path) as w:
        for r in records:
            w.write(r)
    assert w.count == len(records)
    back = list(read_jsonl(path))
    assert back == records
    assert list(read_trace(path)) == records  # auto-detected as JSONL


def test_writer_refuses_out_of_order(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "t.jsonl") as w:
        w.write(TraceRecord(1.0, 1, "SELECT 1"))
        with pytest.raises(ValueError, match="before the previous"):
            w.write(TraceRecord(0.5, 1, "SELECT 1"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"session": 1, "sql": "x"}', "missing required key 't'"),
        ('{"t": -1, "session": 1, "sql": "x"}', "'t' must be a finite number"),
        ('{"t": "0", "session": 1, "sql": "x"}', "'t' must be a finite number"),
        ('{"t": 0, "session": true, "sql": "x"}', "'session' must be"),
        ('{"t": 0, "session": 1, "sql": "  "}', "'sql' must be a non-empty string"),
        ('{"t": 0, "session": 1, "sql": "x", "kind": 3}', "'kind' must be a string"),
        ('{"t": 0, "session": 1, "sql": "x", "params": []}', "'params' must be an object"),
    ],
)
def test_jsonl_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t": 0, "session": 1, "sql": "SELECT 1"}\n\n' + line + "\n")
    with pytest.raises(TraceFormatError, match=message) as info:
        list(read_jsonl(path))
    assert f"{path}:3" in str(info.value)


def test_jsonl_must_be_sorted(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        json.dumps({"t": 2, "session": 1, "sql": "a"})
        + "\n"
        + json.dumps({"t": 1, "session": 1, "sql": "b"})
    )
    with pytest.raises(TraceFormatError, match=r":2: t=1.0 is before"):
        list(read_jsonl(path))


def test_unknown_keys_are_ignored_and_label_falls_back_to_keyword(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"t": 0, "session": "a", "sql": "/* hi */ Insert into x values (1)", "future": 1}\n'
    )
    [rec] = read_jsonl(path)
    assert rec.kind is None and rec.label == "insert"


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT 1", "select"),
        ("  -- c\n update t set a=1", "update"),
        ("# c\nDELETE FROM t", "delete"),
        ("/* a */ /* b */ with x as (select 1) select * from x", "with"),
        ("(select 1)", "other"),
    ],
)
def test_kind_of(sql: str, kind: str) -> None:
    assert kind_of(sql) == kind


def test_read_trace_errors(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="no such trace file"):
        read_trace(tmp_path / "missing.jsonl")
    (tmp_path / "x").write_text("")
    with pytest.raises(TraceFormatError, match="unknown trace format"):
        read_trace(tmp_path / "x", "csv")


# -- general query log ------------------------------------------------------------------

MARIADB_LOG = """\
/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-0+deb12u1 (Debian 12). started with:
Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock
Time\t\t    Id Command\tArgument
261121  5:10:59\t  1067 Quit\t
\t\t  1068 Connect\troot@127.0.0.1 on test using TCP/IP
\t\t  1068 Query\tselect 1
\t\t  1069 Connect\troot@127.0.0.1 on  using TCP/IP
\t\t  1068 Query\tselect
 2,
   'a
b'
\t\t  1069 Init DB\tother
261121  5:11:00\t  1069 Query\tINSERT INTO t VALUES (1)
\t\t  1069 Prepare\tSELECT ?
\t\t  1069 Execute\tSELECT 5
/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-0+deb12u1 (Debian 12). started with:
Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock
Time\t\t    Id Command\tArgument
261121  5:11:03\t  1068 Query\tselect 3
\t\t  1068 Quit\t
"""


def test_general_log_mariadb_sessions_multiline_and_spread() -> None:
    recs = list(parse_general_log(iter(MARIADB_LOG.splitlines(keepends=True))))
    assert [(r.session, r.sql) for r in recs] == [
        (1068, "USE `test`"),
        (1068, "select 1"),
        (1068, "select\n 2,\n   'a\nb'"),
        (1069, "USE `other`"),
        (1069, "INSERT INTO t VALUES (1)"),
        (1069, "SELECT 5"),
        (1068, "select 3"),
    ]
    ts = [r.t for r in recs]
    # second 0 holds 4 statements spread over [0, 1); second 1 holds 2 over [1, 2)
    assert ts == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 4.0])
    assert [r.kind for r in recs] == [
        "use",
        "select",
        "select",
        "use",
        "insert",
        "select",
        "select",
    ]


def test_general_log_without_spread_keeps_stamps() -> None:
    recs = list(parse_general_log(iter(MARIADB_LOG.splitlines()), spread=False))
    assert [r.t for r in recs] == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 4.0]


def test_general_log_mysql8_iso_stamps() -> None:
    log = (
        "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\n"
        "Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\n"
        "Time                 Id Command    Argument\n"
        "2025-11-01T12:00:00.100000Z\t    8 Connect\tapp@localhost on shop using Socket\n"
        "2025-11-01T12:00:00.250000Z\t    8 Query\tSELECT *\nFROM orders\n"
        "2025-11-01T12:00:01.000000Z\t    9 Query\tSELECT 2\n"
    )
    recs = list(parse_general_log(iter(log.splitlines())))
    assert [(r.t, r.session, r.sql) for r in recs] == [
        (0.0, 8, "USE `shop`"),
        (pytest.approx(0.15), 8, "SELECT *\nFROM orders"),
        (pytest.approx(0.9), 9, "SELECT 2"),
    ]


def test_general_log_garbage_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("hello world\n")
    assert detect_format(path) == "general-log"
    with pytest.raises(TraceFormatError, match=r":1: not a general query log line"):
        list(read_trace(path))


def test_general_log_clock_step_back_keeps_order() -> None:
    log = "261121  5:11:03\t     1 Query\tselect 1\n261121  5:11:01\t     1 Query\tselect 2\n"
    recs = list(parse_general_log(iter(log.splitlines())))
    assert [r.t for r in recs] == sorted(r.t for r in recs)
