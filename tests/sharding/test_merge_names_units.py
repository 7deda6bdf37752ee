"""Unit checks of issue 11 classes 6, 7, 9 pieces that need no server: result names
from the statement text, ENUM labels and index order, exact SUM/AVG partials, ROUND.

The expected values were measured on MariaDB 10.11 (the differential suite
``tests/fidelity/test_merge_classes.py`` compares the same rules with the server).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from sharding.errors import ParseError
from sharding.merge.aggregates import Accumulator, AggSpec, feed_merge
from sharding.merge.evaluate import _round_value
from sharding.merge.semantics import MYSQL, SortItem
from sharding.session import render_name
from sharding.sql.enums import enum_labels
from sharding.sql.lexer import normalize, param_slots
from sharding.sql.names import STAR, finish_name, source_names
from sharding.sql.nodes import OutputColumn
from sharding.sql.parse import parse_one


def _names(sql: str, params: bool = False) -> list[str]:
    """Names as the session renders them for ``sql`` (cached, normalised path)."""
    norm = normalize(sql)
    slots, text = norm.slots, norm.text
    try:
        if params:
            raise ParseError("planned from the original text")
        tree = parse_one(text)
    except ParseError:  # the session plans such statements from the original text
        slots, text = param_slots(sql), sql
        tree = parse_one(text)
    names = source_names(tree, text)  # type: ignore[arg-type]
    assert names is not None
    return [render_name(n, slots) if isinstance(n, OutputColumn) else "*" for n in names]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT CASE WHEN qty > 3 THEN 'a' ELSE 'b' END, CAST(qty AS SIGNED), count( NULL ) FROM t",
            ["CASE WHEN qty > 3 THEN 'a' ELSE 'b' END", "CAST(qty AS SIGNED)", "count( NULL )"],
        ),
        (
            "SELECT 'a''b', -1, - 1, (- 1), NULL, true, 1.50, 0x41",
            ["a'b", "-1", "- 1", "(- 1)", "NULL", "TRUE", "1.50", "0x41"],
        ),
        (
            "SELECT (id), `Id`, t.qty, (('x')), (+1), +(1+1), 'x' 'y', _utf8mb4'z', N'n'",
            ["id", "Id", "qty", "x", "1", "+(1+1)", "xy", "z", "n"],
        ),
        ("SELECT a AS \"amt\", b 'q''x', c AS `s``t`, d e FROM t", ["amt", "q'x", "s`t", "e"]),
        (
            "SELECT @x+1, NOW() IS NOT NULL, '   lead', ''",
            ["@x+1", "NOW() IS NOT NULL", "lead", ""],
        ),
        ("SELECT *, a /* c */ + 1 FROM t", ["*", "a /* c */ + 1"]),
        ("WITH r AS (SELECT 1, 2) SELECT IF(a>1,'a','b') FROM r", ["IF(a>1,'a','b')"]),
    ],
)
def test_names_follow_the_text(sql: str, expected: list[str]) -> None:
    assert _names(sql) == expected


def test_prepared_placeholders_are_named_question_marks() -> None:
    sql = "SELECT ?, 'a', CONCAT(?, 'b'), ? AS x, (?) FROM t"
    assert _names(sql, params=True) == ["?", "a", "CONCAT(?, 'b')", "x", "?"]


def test_unreadable_text_keeps_the_planner_names() -> None:
    for sql in ("(SELECT 1) UNION (SELECT 2)", "SELECT /*!50000 1, */ 2"):
        tree = parse_one(sql)
        first = tree.this if not hasattr(tree, "expressions") or not tree.expressions else tree
        assert source_names(first, sql) is None  # type: ignore[arg-type]


def test_finish_name_trims_and_cuts_like_mariadb() -> None:
    assert finish_name(" \t x") == "x"
    assert len(finish_name("x" * 300)) == 255
    assert finish_name("é" * 300) == "é" * 127  # 254 bytes: no split character


def test_star_marker() -> None:
    names = source_names(parse_one("SELECT *, 1 FROM t"), "SELECT *, 1 FROM t")  # type: ignore[arg-type]
    assert names is not None and names[0] is STAR


def test_enum_labels_and_index_order() -> None:
    assert enum_labels("ENUM('small', 'medium', 'large')") == ("small", "medium", "large")
    assert enum_labels("enum('a''b','c')") == ("a'b", "c")
    assert enum_labels("VARCHAR(8)") is None
    key = MYSQL.sort_key([SortItem(0, enum=("small", "medium", "large"))])
    rows = [("large",), (None,), ("small",), ("medium",), ("",)]
    assert sorted(rows, key=key) == [(None,), ("",), ("small",), ("medium",), ("large",)]
    desc = MYSQL.sort_key([SortItem(0, desc=True, enum=("small", "medium", "large"))])
    assert sorted(rows, key=desc)[:2] == [("large",), ("medium",)]
    assert sorted(rows, key=desc)[-1] == (None,)


def test_exact_partials_round_once() -> None:
    # Two shards' SUM(qty / 3): shown 0.3333 and 0.6667, inner 0.333333333 + 0.666666666.
    spec = AggSpec("sum", columns=(0, 1), exact=True)
    acc = Accumulator(spec, MYSQL)
    feed_merge([acc], (spec,), (Decimal("0.3333"), Decimal("0.333333333")))
    feed_merge([acc], (spec,), (Decimal("0.6667"), Decimal("0.666666666")))
    assert str(acc.result()) == "1.0000"  # not 0.3333 + 0.6667 computed wrongly elsewhere
    avg = AggSpec("avg", columns=(0, 1, 2), exact=True)
    acc = Accumulator(avg, MYSQL)
    feed_merge([acc], (avg,), (Decimal("0.6667"), 2, Decimal("0.666666666")))
    feed_merge([acc], (avg,), (None, 0, None))
    assert str(acc.result()) == "0.33333333"  # MariaDB: AVG(i/3) over 1, 1


def test_round_of_exact_values() -> None:
    assert str(_round_value(Decimal("1.5"), 3)) == "1.500"
    assert str(_round_value(Decimal("-2.5"), 0)) == "-3"
    assert str(_round_value(Decimal("1234.5"), -2)) == "1200"
    assert _round_value(15, -1) == 20 and _round_value(-15, -1) == -20 and _round_value(7, 2) == 7
    assert str(_round_value(MYSQL.avg(Decimal("0.00002"), 3), 8)) == "0.00000667"
