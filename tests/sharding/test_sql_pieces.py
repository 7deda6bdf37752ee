"""Unit tests of the SQL pieces: lexer, literals, template, keyset, routing, scanner."""

from __future__ import annotations

import math
import random
import sqlite3
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharding.catalog import ColumnInfo, TableInfo
from sharding.errors import NotSupported, ParseError
from sharding.merge.semantics import SQLITE
from sharding.sql.insert import ColumnCountMismatch, scan_insert, scan_rows
from sharding.sql.keyset import KeysetSpec
from sharding.sql.lexer import normalize, param_slots, unescape_mysql_string
from sharding.sql.literals import exact_float_sql, mysql_literal, sqlite_literal
from sharding.sql.parse import parse_one
from sharding.sql.route import build_route
from sharding.sql.template import compile_template, param_marker, table_marker
from sharding.topology import NoShardForValue, ShardRule, stable_hash

# ---------------------------------------------------------------------- lexer


def test_normalize_replaces_literals_and_keeps_structure() -> None:
    n = normalize(
        "SELECT a, 1.5, 'It\\'s' FROM t1 WHERE x = -3 AND s IN (?, \"q\") -- 5\nLIMIT 10, 20"
    )
    assert n.text == "SELECT a, ?, ? FROM t1 WHERE x = -? AND s IN (?, ?) -- 5\nLIMIT ?, ?"
    assert [s.value for s in n.slots if s.param is None] == [1.5, "It's", 3, "q", 10, 20]
    assert [s.param for s in n.slots] == [None, None, None, 0, None, None, None]
    assert n.keyword == "SELECT"
    assert n.param_count == 1
    # Same statement with other literals → same key.
    assert (
        normalize("SELECT a, 2, 'x' FROM t1 WHERE x = -9 AND s IN (?, 'r') -- 5\nLIMIT 1, 2").text
        == n.text
    )


def test_normalize_leaves_syntax_literals() -> None:
    n = normalize("SELECT x'41', _utf8mb4'a', 0x1F, b'01', t.1e3x FROM t")
    assert n.slots == ()


@pytest.mark.parametrize(
    "token, value",
    [("'a''b'", "a'b"), ("'a\\nb'", "a\nb"), ('"q\\"x"', 'q"x'), ("'\\%'", "\\%"), ("'\\z'", "z")],
)
def test_mysql_string_unescape(token: str, value: str) -> None:
    assert unescape_mysql_string(token) == value


def test_param_slots_skip_strings_comments_and_identifiers() -> None:
    sql = "SELECT '?', `a?` /* ? */ FROM t WHERE a = ? AND b IN (?, '?')"
    slots = param_slots(sql)
    assert [s.param for s in slots] == [0, 1]
    assert [sql[s.position] for s in slots] == ["?", "?"]
    assert slots[0].position == sql.index("= ?") + 2


# ---------------------------------------------------------------------- literals


def test_exact_float_rendering_round_trips_in_sqlite() -> None:
    conn = sqlite3.connect(":memory:")
    rng = random.Random(5)
    values = [0.1, -0.0, 1e-310, 5e-324, 1.7976931348623157e308, 123.4567, 2.0**60]
    values += [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(3000)]
    for f in values:
        if not math.isfinite(f):
            continue
        (got,) = conn.execute("SELECT " + exact_float_sql(f)).fetchone()
        assert got == f and math.copysign(1, got) == math.copysign(1, f), f


def test_sqlite_literals_round_trip() -> None:
    conn = sqlite3.connect(":memory:")
    for v in [None, 0, -5, 2**63 - 1, -(2**63), "a'b", "nul\x00x", "", b"\x00\xff", 1.5]:
        (got,) = conn.execute("SELECT " + sqlite_literal(v)).fetchone()
        assert got == v
    with pytest.raises(Exception, match="64 bits"):
        sqlite_literal(2**64)
    with pytest.raises(Exception, match="NaN"):
        sqlite_literal(float("nan"))


def test_mysql_literals_escape() -> None:
    # no escapes at all (issue 12): plain ASCII quoted, anything else hex with an introducer
    assert mysql_literal("a'b\\c\x00") == "_utf8mb4 X'6127625c6300'"
    assert mysql_literal("plain text; -- ?") == "'plain text; -- ?'"
    assert mysql_literal(b"\xff'") == "_binary X'ff27'"
    assert mysql_literal(1.5) == "1.5e0"
    assert mysql_literal(-2) == "(-2)"


# ---------------------------------------------------------------------- template


def test_template_fill() -> None:
    text = f"SELECT * FROM {table_marker(0)} AS t JOIN {table_marker(1)} AS d WHERE a = {param_marker(1)} AND {param_marker(0)}"
    t = compile_template(text)
    bound = t.bind(["'x'", "5"])
    assert (
        bound.fill(['"s0"."t"', '"db"."d"'])
        == 'SELECT * FROM "s0"."t" AS t JOIN "db"."d" AS d WHERE a = 5 AND \'x\''
    )


# ---------------------------------------------------------------------- keyset


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 4)),
            st.one_of(st.none(), st.sampled_from(["a", "B", "b", ""])),
            st.one_of(st.none(), st.sampled_from([0.1, 0.2, 1 / 3])),
        ),
        max_size=40,
    ),
    desc=st.lists(st.booleans(), min_size=3, max_size=3),
    nulls=st.lists(st.booleans(), min_size=3, max_size=3),
    chunk=st.integers(1, 7),
)
def test_keyset_chunks_cover_every_row_exactly_once(
    rows: list[tuple[Any, ...]], desc: list[bool], nulls: list[bool], chunk: int
) -> None:
    """Chunked reads with the expanded keyset predicate equal one full ORDER BY."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE x (pk INTEGER PRIMARY KEY, a INT, b TEXT, c REAL)")
    conn.executemany("INSERT INTO x (a, b, c) VALUES (?, ?, ?)", rows)
    cols = ["a", "b", "c"]
    order = (
        ", ".join(
            f"{c}{' DESC' if d else ''} NULLS {'FIRST' if n else 'LAST'}"
            for c, d, n in zip(cols, desc, nulls, strict=True)
        )
        + ", pk"
    )
    full = conn.execute(f"SELECT a, b, c, pk FROM x ORDER BY {order}").fetchall()
    spec = KeysetSpec((*cols, "pk"), (*desc, False), (*nulls, True), (0, 1, 2, 3))
    got: list[tuple[Any, ...]] = []
    predicate = "1"
    for _ in range(len(rows) + 2):
        part = conn.execute(
            f"SELECT a, b, c, pk FROM x WHERE {predicate} ORDER BY {order} LIMIT {chunk}"
        ).fetchall()
        got += part
        if len(part) < chunk:
            break
        predicate = spec.after(part[-1])
    assert got == full


# ---------------------------------------------------------------------- routing


def _info(rule: ShardRule, key_type: str = "INT", collation: str | None = None) -> TableInfo:
    return TableInfo(
        "db", "t", rule, (ColumnInfo("id", key_type, collation=collation), ColumnInfo("v", "TEXT"))
    )


def _route(where: str, info: TableInfo, params: list[Any] | None = None) -> set[int] | None:
    tree = parse_one(f"SELECT * FROM t WHERE {where}")
    for i, p in enumerate(tree.find_all(__import__("sqlglot").exp.Placeholder)):
        p.meta["sg_slot"] = i

    def key_of(col: Any) -> tuple[int, bool] | None:
        return (0, False) if col.name == "id" else None

    route = build_route(tree.args["where"], key_of, lambda p: p.meta["sg_slot"])
    return route.shards([info], params or [], SQLITE)


def test_routing_on_mod_rule() -> None:
    info = _info(ShardRule("mod", 8, "id", ("ds0",)))
    assert _route("id = 11", info) == {3}
    assert _route("id IN (1, 9, 2)", info) == {1, 2}
    assert _route("id = 1 OR id = 2", info) == {1, 2}
    assert _route("id = 1 AND v = 'x'", info) == {1}
    assert _route("id = 1 OR v = 'x'", info) is None
    assert _route("id BETWEEN 6 AND 9", info) == {6, 7, 0, 1}
    assert _route("id BETWEEN 0 AND 100", info) is None
    assert _route("id = '11'", info) == {3}  # INTEGER affinity converts the text
    assert _route("id = 11.5", info) == set()  # no integer key can equal it
    assert _route("id = ?", info, [12]) == {4}
    assert _route("id = -?", info, [1]) == {7}
    assert _route("id = 1 AND id = 2", info) == set()
    assert _route("id IS NULL", info) == {0}
    assert _route("NOT id = 1", info) is None


def test_routing_on_range_rule() -> None:
    info = _info(ShardRule("range", 4, "id", ("ds0",), bounds=(10, 20, 30)))
    assert _route("id < 10", info) == {0}
    assert _route("id <= 10", info) == {0, 1}
    assert _route("id >= 25", info) == {2, 3}
    assert _route("id BETWEEN 12 AND 22", info) == {1, 2}
    assert _route("15 > id", info) == {0, 1}
    assert _route("id > 5 AND id < 15", info) == {0, 1}


def test_routing_text_keys_follow_affinity_and_collation() -> None:
    rule = ShardRule("hash", 16, "id", ("ds0",))
    info = _info(rule, "VARCHAR(10)")
    assert _route("id = 5", info) == {rule.shard_of("5")}
    nocase = _info(rule, "TEXT", "nocase")
    assert _route("id = 'ABC'", nocase) == _route("id = 'abc'", nocase)


def test_shard_rules() -> None:
    assert ShardRule("mod", 4, "id", ("a",)).shard_of(-1) == 3
    with pytest.raises(NoShardForValue):
        ShardRule("mod", 4, "id", ("a",)).shard_of("x")
    h = ShardRule("hash", 1024, "id", ("a",))
    assert h.shard_of(7) == h.shard_of(7.0)
    assert stable_hash("abc") == stable_hash("abc") and stable_hash("abc") != stable_hash(b"abc")
    counts = [0] * 16
    for i in range(16000):
        counts[ShardRule("hash", 16, "id", ("a",)).shard_of(i)] += 1
    assert min(counts) > 800  # reasonably even
    r = ShardRule("range", 3, "id", ("a",), bounds=(10, 20))
    assert [r.shard_of(v) for v in (-5, 10, 19, 20, 99)] == [0, 1, 1, 2, 2]
    with pytest.raises(NoShardForValue):
        r.shard_of("x")


# ---------------------------------------------------------------------- INSERT scanner


def _scan(sql: str, capture: list[int], width: int) -> Any:
    parsed = scan_insert(sql)
    scan_rows(sql, parsed, capture, width)
    return parsed


def test_insert_scanner_rows_and_captures() -> None:
    p = _scan(
        "INSERT INTO db.t (a, `b`, c) VALUES (1, 'x,y', NULL), (2,'It\\'s', 3.5) ,(3, CONCAT('a', 'b'), -4);",
        [0, 2],
        3,
    )
    assert (p.database, p.table, p.columns) == ("db", "t", ["a", "b", "c"])
    assert [[v.strip() for v in r] for r in p.rows] == [["1", "NULL"], ["2", "3.5"], ["3", "-4"]]
    assert p.row_texts[2] == "(3, CONCAT('a', 'b'), -4)"
    assert p.has_escapes


def test_insert_scanner_set_form_and_params() -> None:
    p = _scan("INSERT IGNORE t SET a = 1, b = ?", [1], 2)
    assert p.ignore and p.columns == ["a", "b"] and p.rows == [["?"]] and p.params == {(0, 0): 0}
    p = _scan("REPLACE INTO t VALUES (?, ?, 'a?'), (1, ?, 2)", [1], 3)
    assert p.verb == "REPLACE" and p.params == {(0, 0): 1, (1, 0): 2} and p.param_count == 3


def test_insert_scanner_errors() -> None:
    with pytest.raises(ColumnCountMismatch):
        _scan("INSERT INTO t (a, b) VALUES (1, f(2), 3)", [0], 2)
    with pytest.raises(NotSupported, match=r"INSERT \.\.\. SELECT"):
        scan_insert("INSERT INTO t SELECT * FROM u")
    with pytest.raises(ParseError):
        scan_insert("INSERT INTO t (a) (1)")
    with pytest.raises(ParseError):
        _scan("INSERT INTO t (a) VALUES (1", [0], 1)


@pytest.mark.parametrize(
    "column_type",
    ["INT", "BIGINT UNSIGNED", "DECIMAL(10,2)", "DOUBLE", "FLOAT", "VARCHAR(20)", "CHAR(3)",
     "ENUM('a','b','c')", "BIT(8)", "DATE", "BINARY(4)", "TINYINT(1)"],
)  # fmt: skip
def test_int_key_fast_path_places_like_the_general_rules(
    column_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``canonical_key`` takes a shortcut for an int against an integer key (the point
    query); for every column type it gives what the general rules give."""
    from sharding.merge.mysql_semantics import MYSQL
    from sharding.sql import route

    info = TableInfo(
        "db", "t", ShardRule("hash", 16, "k", ("ds0",)), (ColumnInfo("k", column_type),)
    )
    values = [0, 1, 2, 3, -7, 255, 2**31, -(2**63), 2**64 - 1, 10**30]

    def placed(sem: Any) -> list[Any]:
        out: list[Any] = []
        for v in values:
            try:
                key = route.canonical_key(info, v, sem)
            except Exception as exc:  # any shard (_AnyShard): the same either way
                out.append(type(exc).__name__)
            else:
                out.append((type(key), key))
        return out

    for sem in (MYSQL, SQLITE):
        fast = placed(sem)
        with monkeypatch.context() as m:
            m.setattr(route, "_int_is_itself", lambda sem, type_text: False)
            general = placed(sem)
        assert fast == general, (sem.name, column_type)
