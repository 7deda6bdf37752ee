"""``fast_normalize`` is ``normalize`` where it answers (issue 16): the same normalised
text, slots, keyword and parameter count, or None — on the differential corpus and on
generated statements built from the tokens the fast path takes, including the corners
of the lexer's tokenisation (``t.1``, ``1e5x``, ``.5a``, ``0x``/``0b`` numbers,
identifiers that start with digits, ``$``/``@`` names, ``?``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharding.errors import ShardgateError
from sharding.sql.fast_normalize import fast_normalize
from sharding.sql.lexer import normalize
from tests.sharding.corpus import CORPUS


def _same(sql: str) -> bool:
    """True when the fast path answered (and agreed); a disagreement fails."""
    try:
        want = normalize(sql)
    except ShardgateError as exc:  # a number past the DOUBLE range: 1367 either way
        try:
            left = fast_normalize(sql)
        except ShardgateError as fast_exc:
            assert type(fast_exc) is type(exc)
            return True
        assert left is None, sql  # not taken: normalize raises for the caller
        return False
    got = fast_normalize(sql)
    if got is None:
        return False
    assert got == want, sql
    return True


def test_the_corpus() -> None:
    taken = sum(_same(sql) for sql, _params, _mode in CORPUS)
    assert taken > len(CORPUS) // 2  # most plain statements take the fast path


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT c FROM sbtest1 WHERE id = 5123",
        "SELECT c FROM sbtest1 WHERE id = ?",
        "SELECT t.1, t. 1, t .1, 1.2.3, 1., .5, .5a, 1e5, 1e5x, 1.5e-3, 2E+4 FROM t",
        "SELECT 0x1F, 0xZZ, 0b101, 0b12, 0X1, 12abc, 1_2, a1, _1, $a, @b, @@c FROM t",
        "select  c   from t where id=?and x=5or y=6",
        "UPDATE t SET a = a + 1, b = -2 WHERE id BETWEEN 5 AND 10",
        "SELECT 1e309",  # 1367 from both
        "SELECT a FROM t WHERE b IN (1,2,3,?,?)LIMIT 10 OFFSET ?",
        "SELECT\t1\n,\r2",
    ],
)
def test_corners(sql: str) -> None:
    assert _same(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'a' FROM t",
        'SELECT "a" FROM t',
        "SELECT `a` FROM t",
        "SELECT 1 -- c",
        "SELECT 1 # c",
        "SELECT /* c */ 1",
        "SELECT é FROM t",
        "(SELECT 1)",
        "  ",
        "",
    ],
)
def test_what_the_fast_path_leaves_to_normalize(sql: str) -> None:
    assert fast_normalize(sql) is None


_TOKENS = st.sampled_from(
    [
        " ",
        "  ",
        "\t",
        "\n",
        "SELECT",
        "FROM",
        "t",
        "t1",
        "a_b",
        "_x",
        "$v",
        "@u",
        "@@g",
        ".",
        ",",
        "(",
        ")",
        "=",
        "<",
        ">",
        "+",
        "-",
        "*",
        "/",
        "%",
        ";",
        ":",
        "!",
        "&",
        "|",
        "^",
        "~",
        "[",
        "]",
        "{",
        "}",
        "?",
        "0",
        "1",
        "7",
        "42",
        "1.5",
        "1.",
        ".5",
        "e",
        "E",
        "e5",
        "x",
        "b",
        "0x",
        "0x1f",
        "0b",
        "0b10",
        "1e",
        "1e5",
        "2E-3",
        "9abc",
        "1_",
        "$",
        "@",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_TOKENS, min_size=0, max_size=14))
def test_generated_statements(tokens: list[str]) -> None:
    _same("SELECT " + "".join(tokens))
