"""A lexical scanner for what the server needs from SQL text without parsing it.

The server must not parse statements (a 1000-row INSERT goes to ``Session.execute``
untouched; parsing is the coordinator's job). It only needs to: split a
multi-statement COM_QUERY at top-level ``;`` (or, without CLIENT_MULTI_STATEMENTS, find
where a second statement would start, a 1064), count ``?`` placeholders for
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
    "second_statement_offset",
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


def second_statement_offset(sql: str) -> int | None:
    """Where a second statement starts (the first non-space, non-comment text after a
    top-level ``;``), or None when ``sql`` holds one statement (trailing ``;``, spaces
    and comments allowed). A text without ``;`` (but a trailing one) is not scanned."""
    if ";" not in sql.rstrip().rstrip(";"):
        return None
    for m in _TOKEN.finditer(sql):
        if m.group() != ";":
            continue
        junk = _LEADING_JUNK.match(sql, m.end())
        pos = junk.end() if junk else m.end()
        if pos < len(sql) and sql[pos] != ";":
            return pos
    return None


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
                limit = MARIADB_VERSION_ID if mariadb else MYSQL_VERSION_ID
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
