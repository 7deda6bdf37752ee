"""A lexical scanner for what the server needs from SQL text without parsing it.

The server must not parse statements (a 1000-row INSERT goes to ``Session.execute``
untouched; parsing is the coordinator's job). It only needs to: split a
multi-statement COM_QUERY at top-level ``;`` (or, without CLIENT_MULTI_STATEMENTS, find
where a second statement would start, a 1064), count ``?`` placeholders for
COM_STMT_PREPARE, and read the first keywords to recognise the few statements it answers
itself. All three must skip quoted strings/identifiers and comments.

The MySQL lexical rules are the coordinator's lexer's (:mod:`sharding.sql.lexer`,
through :mod:`sharding.api`): ``SCAN`` finds only the tokens that delimit statements
(strings, quoted names, comments, ``;``, ``?``) in one C-speed ``finditer`` pass, no
per-character Python loop. Its rules: backslash escapes and doubled quotes inside '…'
and "…"; doubled backquotes inside `…`; ``--`` starts a comment only before white
space or a control character; ``#`` comments; ``/* … */`` comments, except that
``/*! … */`` and ``/*M! … */`` (executable comments, as in mysqldump output) are SQL
to run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sharding.api import SCAN, SPACE_AND_COMMENTS
from sharding.errors import syntax_error_message

__all__ = [
    "EmptyStatement",
    "ScriptSyntaxError",
    "count_placeholders",
    "expand_executable_comments",
    "leading_words",
    "script",
    "split_statements",
    "strip_comments_and_space",
    "unwrap_executable_comment",
]


def split_statements(sql: str) -> list[str]:
    """Split at top-level ``;``. Empty statements (only space/comments) are dropped.

    A text without a top-level ``;`` (the common case) is returned as the one element
    list ``[sql]``, the very same string object, stripped of nothing.
    """
    cuts: list[int] = [m.start() for m in SCAN.finditer(sql) if m.group() == ";"]
    if not cuts:
        return [sql]
    out: list[str] = []
    start = 0
    for cut in [*cuts, len(sql)]:
        piece = sql[start:cut]
        start = cut + 1
        if strip_comments_and_space(piece):
            out.append(piece.strip())
    return out


@dataclass(frozen=True, slots=True)
class EmptyStatement:
    """A statement of comments only (``SELECT 1; -- done``): MariaDB answers an OK."""


@dataclass(frozen=True, slots=True)
class ScriptSyntaxError:
    """Where MariaDB's parser stops a COM_QUERY text: error 1064 ``near`` this text ``at
    line`` this number (counted from the statement's start)."""

    near: str
    line: int

    def message(self) -> str:
        return syntax_error_message(self.near, self.line)


#: What MariaDB's ``my_isspace`` calls space (``\s`` would take Unicode spaces too).
_SPACE = " \t\n\r\v\f"


def script(sql: str, *, multi_statements: bool) -> list[str | EmptyStatement | ScriptSyntaxError]:
    """The statements of one COM_QUERY text as MariaDB runs them, in order; a
    :class:`ScriptSyntaxError` is the last item when there is one (nothing after it runs).

    MariaDB's rules (``alloc_query`` and the ``query`` rule of its grammar), checked
    against the server in ``tests/server/test_protocol_edges.py``: the text loses leading
    space and trailing space and ``;``; a statement ends at a top-level ``;``. With
    CLIENT_MULTI_STATEMENTS what follows, less leading space, is the next statement — a
    statement of comments only answers OK, one that starts with ``;`` (or comments then
    ``;`` with more text after) is 1064 near that ``;``. Without it, only comments may
    follow the ``;``; anything else is 1064 near it. An empty text is the caller's 1065.
    """
    text = sql.strip(_SPACE).rstrip(_SPACE + ";")
    if ";" not in text:
        if text[:1] in ("-", "/", "#") and not strip_comments_and_space(text):
            return [EmptyStatement()]
        return [text] if text else []
    cuts = [m.start() for m in SCAN.finditer(text) if m.group() == ";"]
    cuts.append(len(text))
    out: list[str | EmptyStatement | ScriptSyntaxError] = []
    start = 0
    for cut in cuts:
        if cut < start:
            continue
        piece = text[start:cut]
        if not strip_comments_and_space(piece):
            if cut == len(text):
                out.append(EmptyStatement())
            else:  # ';' where a statement should start
                out.append(ScriptSyntaxError(text[cut:], 1 + text.count("\n", start, cut)))
            return out
        out.append(piece.rstrip(_SPACE))
        if cut == len(text):
            return out
        if not multi_statements:
            junk = _LEADING_JUNK.match(text, cut + 1)
            pos = junk.end() if junk else cut + 1
            if pos < len(text):
                out[-1] = ScriptSyntaxError(text[pos:], 1 + text.count("\n", 0, pos))
            return out
        start = cut + 1
        while start < len(text) and text[start] in _SPACE:
            start += 1
        if text[start] == ";":
            out.append(ScriptSyntaxError(text[start:], 1))
            return out
    return out


def count_placeholders(sql: str) -> int:
    return sum(1 for m in SCAN.finditer(sql) if m.group() == "?")


_LEADING_JUNK = SPACE_AND_COMMENTS
_EXEC_COMMENT = re.compile(r"\s*/\*M?!\d*\s?(.*?)\*/\s*;?\s*\Z", re.S)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def strip_comments_and_space(sql: str) -> str:
    """``sql`` without leading whitespace/comments (empty when nothing else is left)."""
    m = _LEADING_JUNK.match(sql)
    return sql[m.end() :] if m else sql


def unwrap_executable_comment(sql: str) -> str:
    """``/*!40101 SET NAMES utf8 */`` → ``SET NAMES utf8``; other text unchanged."""
    m = _EXEC_COMMENT.match(sql)
    return m.group(1).strip() if m else sql


def leading_words(sql: str, n: int = 3) -> list[str]:
    """Up to ``n`` leading keywords, upper-cased, skipping comments. Cheap on huge text."""
    text = strip_comments_and_space(sql)
    words: list[str] = []
    pos = 0
    while len(words) < n:
        m = _LEADING_JUNK.match(text, pos)
        if m:
            pos = m.end()
        w = _WORD.match(text, pos)
        if not w:
            break
        words.append(w.group().upper())
        pos = w.end()
    return words


# -- executable comments in dump files (sharding/dump_statements.py says why) --------

#: The versions an executable comment is compared with: ``/*!NNNNN`` against the MySQL
#: version the server announces (8.0.x), ``/*M!NNNNNN`` against MariaDB's (10.11, what
#: the shards run).
MYSQL_VERSION_ID = 80036
MARIADB_VERSION_ID = 101100
_VERSION = re.compile(r"\d{5,6}")


def expand_executable_comments(sql: str) -> str:
    """``sql`` with each ``/*!…*/`` / ``/*M!…*/`` replaced by its text when its version
    is reached, removed otherwise. Quoted strings and other comments are kept as they are."""
    if "/*!" not in sql and "/*M!" not in sql:
        return sql
    out: list[str] = []
    n = len(sql)
    start = pos = 0
    search = SCAN.search
    while (m := search(sql, pos)) is not None:
        pos = m.end()
        if m.group() not in ("/*!", "/*M!"):
            continue  # strings and other comments are kept as they are
        i = m.start()
        end = sql.find("*/", pos)
        end = n if end < 0 else end + 2
        body_start = pos
        v = _VERSION.match(sql, body_start)
        limit = MARIADB_VERSION_ID if sql[i + 2] == "M" else MYSQL_VERSION_ID
        run = v is None or int(v.group()) <= limit
        body = sql[v.end() if v else body_start : max(end - 2, body_start)]
        out.append(sql[start:i])
        out.append(f" {body} " if run else " ")
        start = pos = end
    out.append(sql[start:])
    return "".join(out)
