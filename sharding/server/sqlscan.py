"""A lexical scanner for what the server needs from SQL text without parsing it.

The server must not parse statements (a 1000-row INSERT goes to ``Session.execute``
untouched; parsing is the coordinator's job). It only needs to: split a
multi-statement COM_QUERY at top-level ``;``, count ``?`` placeholders for
COM_STMT_PREPARE, and read the first keywords to recognise the few statements it answers
itself. All three must skip quoted strings/identifiers and comments, which is what the
single regular expression below does (one C-speed pass, no per-character Python loop).

MySQL specifics honoured: backslash escapes and doubled quotes inside '…' and "…";
doubled backquotes inside `…`; ``--`` starts a comment only before whitespace; ``#``
comments; ``/* … */`` comments, except that ``/*! … */`` and ``/*M! … */`` (executable
comments, as in mysqldump output) are SQL to run.
"""

from __future__ import annotations

import re

__all__ = [
    "count_placeholders",
    "leading_words",
    "split_statements",
    "strip_comments_and_space",
    "unwrap_executable_comment",
]

_TOKEN = re.compile(
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


def split_statements(sql: str) -> list[str]:
    """Split at top-level ``;``. Empty statements (only space/comments) are dropped.

    A text without a top-level ``;`` (the common case) is returned as the one element
    list ``[sql]``, the very same string object, stripped of nothing.
    """
    cuts: list[int] = [m.start() for m in _TOKEN.finditer(sql) if m.group() == ";"]
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


def count_placeholders(sql: str) -> int:
    return sum(1 for m in _TOKEN.finditer(sql) if m.group() == "?")


_LEADING_JUNK = re.compile(r"(?:\s+|--(?=\s|$)[^\n]*|\#[^\n]*|/\*(?![M]?!).*?(?:\*/|\Z))*", re.S)
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
