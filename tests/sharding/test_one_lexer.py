"""One MySQL lexer, one LIKE (issue 13 item 3).

* The protocol server's scanner (``sharding/server/sqlscan.py``) is built on the
  coordinator's lexer (``sharding/sql/lexer.py``: ``SCAN``, ``SPACE_AND_COMMENTS``,
  through ``sharding.api``). Its functions must answer exactly as before, when sqlscan
  had a regular expression of its own: the old one is copied below as the reference
  (the spec), and generated statements made of strings, quoted names, comments of
  every kind, executable comments, ``;`` and ``?`` are run through both.
* The lexer's comment rule is MariaDB's (``--`` before a space or control character).
* One LIKE (``session_answers.like_to_regex``), checked against MariaDB's own ``LIKE``
  for patterns with ``\\_``, ``\\%``, ``\\\\``, a trailing backslash and ``ESCAPE``,
  and through ``SHOW ... LIKE`` answered by the coordinator.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sharding.errors import NotSupported, ParseError
from sharding.server import sqlscan
from sharding.session_answers import like_to_regex, unquote
from sharding.sql.lexer import (
    TOKEN,
    has_words,
    names_a_table,
    normalize,
    select_into,
    without_calc_found_rows,
)
from tests.conftest import mariadb_reference, require_mysql_or_skip

# -- the reference: sqlscan as it was, with its own regular expression ------------------

_OLD_TOKEN = re.compile(
    r"""
      '(?:[^'\\]+|\\.|'')*'?
    | "(?:[^"\\]+|\\.|"")*"?
    | `(?:[^`]+|``)*`?
    | --(?=[\s]|$)[^\n]*
    | \#[^\n]*
    | /\*(?![M]?!).*?(?:\*/|\Z)
    | [;?]
    """,
    re.S | re.X,
)
_OLD_LEADING_JUNK = re.compile(
    r"(?:\s+|--(?=\s|$)[^\n]*|\#[^\n]*|/\*(?![M]?!).*?(?:\*/|\Z))*", re.S
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VERSION = re.compile(r"\d{5,6}")


def old_strip_comments_and_space(sql: str) -> str:
    m = _OLD_LEADING_JUNK.match(sql)
    return sql[m.end() :] if m else sql


def old_split_statements(sql: str) -> list[str]:
    cuts = [m.start() for m in _OLD_TOKEN.finditer(sql) if m.group() == ";"]
    if not cuts:
        return [sql]
    out: list[str] = []
    start = 0
    for cut in [*cuts, len(sql)]:
        piece = sql[start:cut]
        start = cut + 1
        if old_strip_comments_and_space(piece):
            out.append(piece.strip())
    return out


def old_count_placeholders(sql: str) -> int:
    return sum(1 for m in _OLD_TOKEN.finditer(sql) if m.group() == "?")


def old_leading_words(sql: str, n: int = 3) -> list[str]:
    text = old_strip_comments_and_space(sql)
    words: list[str] = []
    pos = 0
    while len(words) < n:
        m = _OLD_LEADING_JUNK.match(text, pos)
        if m:
            pos = m.end()
        w = _WORD.match(text, pos)
        if not w:
            break
        words.append(w.group().upper())
        pos = w.end()
    return words


def old_expand_executable_comments(sql: str) -> str:
    """The hand-written character loop expand_executable_comments was."""
    if "/*!" not in sql and "/*M!" not in sql:
        return sql
    out: list[str] = []
    i, n = 0, len(sql)
    start = 0
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == "\\" and ch != "`":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
        elif ch == "#" or (sql.startswith("--", i) and (i + 2 >= n or sql[i + 2] in " \t\r\n")):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            mariadb = sql.startswith("/*M!", i)
            if mariadb or sql.startswith("/*!", i):
                body_start = i + (4 if mariadb else 3)
                m = _VERSION.match(sql, body_start)
                limit = sqlscan.MARIADB_VERSION_ID if mariadb else sqlscan.MYSQL_VERSION_ID
                run = m is None or int(m.group()) <= limit
                body = sql[m.end() if m else body_start : max(end - 2, body_start)]
                out.append(sql[start:i])
                out.append(f" {body} " if run else " ")
                start = end
            i = end
        else:
            i += 1
    out.append(sql[start:])
    return "".join(out)


# -- generated statements ------------------------------------------------------------------

#: Pieces of MySQL text around every lexical rule the scanner honours. Not in it: a
#: ``--`` before a control character other than white space, or before Unicode white
#: space, where the old scanner differed from MariaDB (see the tests further down).
_PIECES = [
    "SELECT",
    "set",
    " ",
    "  ",
    "\n",
    "\t",
    "\r",
    "x",
    "1",
    "'",
    "''",
    '"',
    '""',
    "`",
    "``",
    "\\",
    "\\'",
    '\\"',
    ";",
    "?",
    "-",
    "--",
    "-- ",
    "--\n",
    "#",
    "/",
    "*",
    "/*",
    "*/",
    "/*!",
    "/*!40101 ",
    "/*!99999 ",
    "/*M!",
    "/*M!100100 ",
    "/*M!999999",
    "!",
    "M",
    "'a;b?'",
    "/* c; ? */",
]
statements = st.lists(st.sampled_from(_PIECES), max_size=24).map("".join)


def _same_as_before(sql: str) -> None:
    assert sqlscan.split_statements(sql) == old_split_statements(sql), sql
    assert sqlscan.count_placeholders(sql) == old_count_placeholders(sql), sql
    assert sqlscan.strip_comments_and_space(sql) == old_strip_comments_and_space(sql), sql
    assert sqlscan.leading_words(sql, 3) == old_leading_words(sql, 3), sql
    assert sqlscan.expand_executable_comments(sql) == old_expand_executable_comments(sql), sql


@settings(max_examples=3000, deadline=None)
@given(statements)
@example("SELECT 'a;b' ; SELECT ?")
@example("SELECT 'unterminated; ?")
@example("SELECT 'a'' ; x ?")
@example("/*! SELECT 'a*/' */ ; ?")
@example("SELECT 1 --; ?\n; ?")
@example("SELECT 1 -- ; ?\n; ?")
@example("/*M!100100 SET x=1 */; /*!99999 SET y=2 */ ?")
@example('SELECT `a``;?` , "b\\";?" ; ?')
@example("SELECT 'ab\\")
def test_sqlscan_answers_as_its_own_regex_did(sql: str) -> None:
    _same_as_before(sql)


def test_split_keeps_the_text_object() -> None:
    single = "SELECT 'a;b', `c;d` -- e;f\n"
    assert sqlscan.split_statements(single)[0] is single


# -- the lexer's comment rule is MariaDB's ---------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "comment"),
    [
        ("--\r1", True),
        ("--\x0b1", True),
        ("--\x0c1", True),
        ("--\x011", True),
        ("--\x7f1", True),
        ("--", True),
        ("--\t1", True),
        ("--1", False),
        ("--\xa01", False),
    ],
)
def test_double_dash_comment_as_mariadb(tail: str, comment: bool) -> None:
    sql = "SELECT 5 " + tail
    kinds = [m.lastgroup for m in TOKEN.finditer(sql)]
    assert ("comment" in kinds) is comment
    # The server's scanner agrees: a ';' after the dashes is in the comment or not.
    if tail != "--":  # (``--;`` is not a comment)
        assert (len(sqlscan.split_statements(sql + ";SELECT 6")) == 1) is comment
    assert normalize(sql).text.rstrip().endswith(tail) is comment


@pytest.mark.mysql
@pytest.mark.parametrize("tail", ["--\r1", "--\x0b1", "--\x011", "--\x7f1", "--1"])
def test_double_dash_against_mariadb(tail: str) -> None:
    require_mysql_or_skip()
    with mariadb_reference("onelex_dash_") as conn, conn.cursor() as cur:
        cur.execute("SELECT 5 " + tail)
        got = cur.fetchall()[0][0]
    comment = "comment" in [m.lastgroup for m in TOKEN.finditer("SELECT 5 " + tail)]
    assert (got == 5) is comment


def test_expand_on_control_characters_after_dashes() -> None:
    # ``--\f`` starts a comment (MariaDB); the executable comment in it is not run.
    assert sqlscan.expand_executable_comments("SELECT 1 --\f/*!40101 x */\n") == (
        "SELECT 1 --\f/*!40101 x */\n"
    )
    assert sqlscan.expand_executable_comments("SELECT 1 /*!40101 , 2 */") == "SELECT 1   , 2  "


def test_unterminated_strings_run_to_the_end() -> None:
    assert sqlscan.count_placeholders("SELECT ?, 'abc ? ; ?") == 1
    assert sqlscan.split_statements("SELECT 'a; SELECT 2") == ["SELECT 'a; SELECT 2"]
    assert sqlscan.script("SELECT `a; SELECT 2", multi_statements=False) == ["SELECT `a; SELECT 2"]


# -- one LIKE ---------------------------------------------------------------------------------

#: (value, pattern literal as written in SQL)
LIKE_CASES: list[tuple[str, str]] = [
    ("a_b", r"'a\_b'"),
    ("axb", r"'a\_b'"),
    ("a_b", r"'a\\_b'"),
    ("axb", r"'a\\_b'"),
    ("a%", r"'a\%'"),
    ("abc", r"'a\%'"),
    ("a\\", r"'a\\'"),
    ("a\\", r"'a\\\\'"),
    ("a\\b", r"'a\\\\b'"),
    ("a\\b", r"'a\\b'"),
    ("ab", r"'a\\b'"),
    ("a\\x", r"'a\\%'"),
    ("ABC", r"'a%'"),
    ("a\nb", r"'a_b'"),
    ("a\nb", r"'a%b'"),
    ("", r"'%'"),
    ("", r"'_'"),
    ("it's", r"'it''s'"),
    ("it's", r"'it\'s'"),
    ("a.c", r"'a.c'"),
    ("abc", r"'a.c'"),
    ("a*c", r"'a*c'"),
    ("a_b_c", r"'a\_b%'"),
    ("axb_c", r"'a\_b%'"),
    ("100%", r"'100\%'"),
    ("1000", r"'100\%'"),
    ("x_y", r"'x$_y'"),  # with ESCAPE '$' below
]
ESCAPE_CASES: list[tuple[str, str, str]] = [
    ("x_y", "x$_y", "$"),
    ("xzy", "x$_y", "$"),
    ("x$y", "x$$y", "$"),
    ("x\\y", "x\\y", "$"),
    ("x%", "x|%", "|"),
    ("xz", "x|%", "|"),
]


def _like(value: str, literal: str) -> bool:
    return like_to_regex(unquote(literal)).match(value) is not None


@pytest.mark.mysql
def test_like_as_mariadb() -> None:
    require_mysql_or_skip()
    with mariadb_reference("onelex_like_") as conn, conn.cursor() as cur:
        for value, literal in LIKE_CASES:
            cur.execute("SELECT %s LIKE " + literal.replace("%", "%%"), (value,))
            want = bool(cur.fetchall()[0][0])
            assert _like(value, literal) is want, (value, literal)
        for value, pattern, esc in ESCAPE_CASES:
            cur.execute("SELECT %s LIKE %s ESCAPE %s", (value, pattern, esc))
            want = bool(cur.fetchall()[0][0])
            got = like_to_regex(pattern, esc).match(value) is not None
            assert got is want, (value, pattern, esc)


def test_like_units() -> None:
    assert _like("a_b", r"'a\_b'") and not _like("axb", r"'a\_b'")
    assert _like("a%", r"'a\%'") and not _like("ab", r"'a\%'")
    assert _like("a\\", r"'a\\'")  # a trailing escape is itself
    assert like_to_regex("x$_y", "$").match("x_y") and not like_to_regex("x$_y", "$").match("xzy")


def _mariadb_show(cur: Any, sql: str) -> list[str]:
    cur.execute(sql)
    return sorted(r[0] for r in cur.fetchall())


#: (Not compared: a pattern in another letter case. MariaDB's SHOW TABLES LIKE is
#: case-sensitive with lower_case_table_names=0, the coordinator's is not.)
SHOW_LIKES = [r"'a\_b%'", r"'a\\_b%'", r"'a_b%'", r"'a\%%'", r"'%\_1'", r"'%b\_'"]
TABLES = ["a_b1", "axb1", "a_bc", "a%1", "ab", "xy_1"]


@pytest.mark.mysql
async def test_show_tables_like_as_mariadb(coord: Any) -> None:
    require_mysql_or_skip()
    s = coord.open_session(database="db")
    for t in TABLES:
        await s.execute(f"CREATE TABLE `{t}` (id INT PRIMARY KEY)")
    with mariadb_reference("onelex_show_") as conn, conn.cursor() as cur:
        for t in TABLES:
            cur.execute(f"CREATE TABLE `{t}` (id INT PRIMARY KEY)")
        for like in SHOW_LIKES:
            want = _mariadb_show(cur, f"SHOW TABLES LIKE {like}")
            got = sorted(r[0] for r in (await s.execute(f"SHOW TABLES LIKE {like}")).rows)
            assert got == want, like


VARIABLE_LIKES = [
    r"'ver\_ion'",
    r"'versio\%'",
    r"'auto\_commit'",
    r"'autocommit'",
    r"'version\_%'",
    r"'version%'",
    r"'ver_ion'",
]


@pytest.mark.mysql
async def test_show_variables_like_as_mariadb(coord: Any) -> None:
    require_mysql_or_skip()
    s = coord.open_session(database="db")
    # Compared on the variables the coordinator knows (MariaDB has more).
    known = {r[0] for r in (await s.execute("SHOW SESSION VARIABLES")).rows}
    with mariadb_reference("onelex_vars_") as conn, conn.cursor() as cur:
        for like in VARIABLE_LIKES:
            want = [
                n for n in _mariadb_show(cur, f"SHOW SESSION VARIABLES LIKE {like}") if n in known
            ]
            got = sorted(
                r[0] for r in (await s.execute(f"SHOW SESSION VARIABLES LIKE {like}")).rows
            )
            assert got == want, like


# -- SHOW / DESCRIBE / EXPLAIN read with the lexer's tokens ----------------------------------


async def test_introspection_reads_tokens(coord: Any) -> None:
    s = coord.open_session(database="db")
    await s.execute("CREATE TABLE `we.ird` (id INT PRIMARY KEY)")
    await s.execute("CREATE TABLE plain (id INT PRIMARY KEY)")
    for sql in (
        "SHOW CREATE TABLE `we.ird`",
        "SHOW CREATE TABLE db.`we.ird`",
        "SHOW /* a comment */ CREATE TABLE `db`.`we.ird`",
        "/* first */ SHOW CREATE TABLE `we.ird`;",
    ):
        assert (await s.execute(sql)).rows[0][0] == "we.ird", sql
    assert (await s.execute("SHOW CREATE TABLE plain")).rows[0][0] == "plain"
    rows = (await s.execute("EXPLAIN FORMAT=TRADITIONAL SELECT id FROM plain")).rows
    assert rows and rows == (await s.execute("EXPLAIN SELECT id FROM plain")).rows
    assert (await s.execute("EXPLAIN EXTENDED SELECT id FROM plain")).rows == rows


@pytest.mark.parametrize(
    ("sql", "plain"),
    [
        ("SELECT SQL_CALC_FOUND_ROWS id FROM t LIMIT 1", "SELECT   id FROM t LIMIT 1"),
        ("select sql_calc_found_rows id from t", "select   id from t"),
        # Text, not the modifier: a string, a quoted name, a comment.
        ("SELECT id FROM t WHERE c = 'x SQL_CALC_FOUND_ROWS y'", None),
        ('SELECT "SQL_CALC_FOUND_ROWS" FROM t', None),
        ("SELECT `SQL_CALC_FOUND_ROWS` FROM t", None),
        ("SELECT /* SQL_CALC_FOUND_ROWS */ id FROM t", None),
        ("SELECT id FROM t -- SQL_CALC_FOUND_ROWS", None),
        # The modifier after a string that names it: only the token goes.
        (
            "SELECT SQL_CALC_FOUND_ROWS 'SQL_CALC_FOUND_ROWS' FROM t",
            "SELECT   'SQL_CALC_FOUND_ROWS' FROM t",
        ),
        ("SELECT id FROM t", None),
    ],
)
def test_calc_found_rows_is_a_token_never_text(sql: str, plain: str | None) -> None:
    """The modifier is removed as a token; a literal that spells it is never touched
    (the regular expression's substitution emptied such a literal: a wrong answer)."""
    assert without_calc_found_rows(sql) == plain


@pytest.mark.parametrize(
    ("sql", "uses"),
    [
        ("SELECT v FROM t WHERE id = 3", True),
        ("select v from\n  `t`", True),
        ("SELECT 1 FROM dual", False),
        ("SELECT 1 FROM /* c */ DUAL", False),
        ("SELECT 'FROM x'", False),
        ("SELECT 'a' AS `from t`, 2", False),
        ("SELECT 1 -- FROM t", False),
        ("SELECT (SELECT 1 FROM dual), v FROM t", True),
        ("SELECT 1", False),
    ],
)
def test_names_a_table_reads_tokens(sql: str, uses: bool) -> None:
    """A FROM inside a literal, quoted name or comment names no table (MariaDB keeps
    the warnings of the statement before such a SELECT)."""
    assert names_a_table(sql) is uses


_DUPLICATE = re.compile(r"\bDUPLICATE\b", re.IGNORECASE)
_UPSERT_WORDS = ("ON", "DUPLICATE", "KEY", "UPDATE")


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        ("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE v = 1", True),
        ("insert into t values (1) on\n duplicate /* c */ key update v = 1", True),
        ("INSERT INTO t VALUES ('ON DUPLICATE KEY UPDATE')", False),
        ("INSERT INTO t VALUES (1) -- ON DUPLICATE KEY UPDATE", False),
        ("INSERT INTO `ON DUPLICATE KEY UPDATE` VALUES (1)", False),
        ("INSERT INTO t VALUES (1) ON ON DUPLICATE KEY UPDATE", True),
        ("INSERT INTO t VALUES (1) ON DUPLICATE 'KEY' UPDATE", False),
    ],
)
def test_has_words_reads_tokens(sql: str, found: bool) -> None:
    assert has_words(sql, _UPSERT_WORDS, _DUPLICATE) is found


@pytest.mark.parametrize(
    ("sql", "select", "variables"),
    [
        ("SELECT c INTO @v FROM t WHERE id = 1", "SELECT c   FROM t WHERE id = 1", ("v",)),
        ("SELECT c, n INTO @A, @b FROM t", "SELECT c, n   FROM t", ("a", "b")),
        ("SELECT c FROM t LIMIT 1 INTO @z", "SELECT c FROM t LIMIT 1  ", ("z",)),
        (
            "SELECT a FROM t UNION SELECT b FROM u INTO @v",
            "SELECT a FROM t UNION SELECT b FROM u  ",
            ("v",),
        ),
        ("SELECT 1 INTO @a FOR UPDATE", "SELECT 1   FOR UPDATE", ("a",)),
    ],
)
def test_select_into_takes_the_clause_out(
    sql: str, select: str, variables: tuple[str, ...]
) -> None:
    into = select_into(sql)
    assert into is not None
    assert (into.select, into.variables) == (select, variables)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT c FROM t WHERE c = 'INTO @x'",
        "SELECT `into` FROM t",
        "SELECT c FROM t /* INTO @x */",
        "SELECT c FROM t WHERE id IN (SELECT id FROM u)",
        "INSERT INTO t SELECT 1",  # not a SELECT's INTO: the caller asks for SELECTs only
    ],
)
def test_select_into_is_a_token_at_depth_zero(sql: str) -> None:
    if sql.startswith("INSERT"):
        with pytest.raises(NotSupported):
            select_into(sql)
    else:
        assert select_into(sql) is None


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT c INTO OUTFILE '/tmp/x' FROM t", NotSupported),
        ("SELECT c INTO DUMPFILE '/tmp/x' FROM t", NotSupported),
        ("SELECT c INTO x FROM t", NotSupported),
        ("SELECT c INTO @a, FROM t", ParseError),
        ("SELECT c INTO @a, @@b FROM t", ParseError),
    ],
)
def test_select_into_refuses_other_targets(sql: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        select_into(sql)
