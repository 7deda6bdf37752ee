"""A small MySQL lexer: statement keyword and literal normalisation for the plan cache.

Parsing with sqlglot costs hundreds of microseconds; a plan-cache lookup must cost far
less. :func:`normalize` makes one pass over the text with a single regular expression
and replaces every number and string literal by ``?``, collecting the literals in
order. The normalised text is the cache key; the literals are re-bound on every call.
Why by hand: sqlglot's tokenizer builds a token object per token (slower than the
whole lookup should be) and has no "replace literals" mode.

Literals that are *not* replaced, because they are part of the syntax rather than a
value: hex/bit/national/charset-introduced strings (``X'..'``, ``_utf8mb4'..'``),
``0x..`` numbers, a quoted alias after ``AS`` (``AS 'amt'``), and anything inside comments (including ``/*! ... */``, kept
verbatim). Numbers glued to identifiers (``t1``) are part of the identifier.

Invariant: ``normalized.text`` parses to the same statement as the input with each
``?`` standing for ``slots[i]`` in textual order; when it does not parse (a literal in
a position where a placeholder is not allowed, e.g. a type length) the caller parses
the original text instead, uncached.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sharding.errors import IllegalDouble

# -- MySQL's lexical rules (default sql_mode), one pattern each ---------------------------
# TOKEN (every token, for the coordinator) and SCAN (only what delimits statements, for
# the protocol server) are both built from these, so the two agree on where strings,
# quoted names and comments start and end.

#: The inside of '…' and "…": backslash escapes a character, a doubled quote is one
#: quote. (Possessive runs: a string without its closing quote fails in linear time.)
_SQ_BODY = r"(?:[^'\\]++|\\.|'')*"
_DQ_BODY = r'(?:[^"\\]++|\\.|"")*'
#: The inside of `…`: a doubled backquote is one; no escapes.
_BQ_BODY = r"(?:[^`]++|``)*"
#: ``--`` starts a comment only before a space or control character, or at the end
#: (MariaDB: ``--1`` is minus minus one, ``--\r``, ``--\x01`` are comments, ``--\xa0``
#: is not); ``#`` always does. Both run to the end of the line.
LINE_COMMENT = r"--(?=[\x00-\x20\x7f]|\Z)[^\n]*|\#[^\n]*"
#: ``/* … */`` (to the end of the text when unclosed), but not ``/*! … */`` or
#: ``/*M! … */``: those are executable comments, SQL to run.
BLOCK_COMMENT = r"/\*(?!M?!).*?(?:\*/|\Z)"
#: An executable comment's opening ``/*!`` or ``/*M!`` (its version digits follow).
EXECUTABLE_OPEN = r"/\*M?!"
#: A whole executable comment, to its first ``*/``.
EXECUTABLE_COMMENT = EXECUTABLE_OPEN + r".*?(?:\*/|\Z)"
STRING = rf"'{_SQ_BODY}'|\"{_DQ_BODY}\""
QUOTED_NAME = rf"`{_BQ_BODY}`"

#: One token of MySQL text; the group name (``m.lastgroup``) is its kind. For the
#: coordinator's passes over a statement the server has already expanded, an
#: executable comment is one ``comment`` token (kept verbatim by :func:`normalize`),
#: and a quote without its closing quote is an ``other`` token (a statement cut
#: short; the rest of the text is in the string).
TOKEN = re.compile(
    rf"""
    (?P<ws>\s+)
  | (?P<comment>{LINE_COMMENT}|{BLOCK_COMMENT}|{EXECUTABLE_COMMENT})
  | (?P<prefixed>(?:[xXbBnN]|_[A-Za-z0-9]+)'{_SQ_BODY}')
  | (?P<str>{STRING})
  | (?P<bq>{QUOTED_NAME})
  | (?P<hex>0[xX][0-9a-fA-F]+|0[bB][01]+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w$]))
  | (?P<ident>[A-Za-z_$@][\w$@]*|\d+[A-Za-z_$][\w$]*)
  | (?P<param>\?)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

#: The tokens that delimit statements, for a scan that skips everything else at C
#: speed (``finditer``): strings and quoted names (an unclosed one runs to the end of
#: the text, as in MySQL), comments, an executable comment's opening ``/*!`` or
#: ``/*M!`` (a token of its own: its text is scanned as SQL), ``;`` and ``?``. Text
#: between these tokens holds none of them: an identifier, number or operator never
#: contains a quote, ``;``, ``?``, ``#``, ``--`` before a space, or ``/*``. The tokens
#: are told apart by their text (``m.group() == ";"``, ``== "?"``, ``in ("/*!",
#: "/*M!")``); no named groups, which would make the scan half as fast again.
SCAN = re.compile(
    rf"""
    '{_SQ_BODY}'?|"{_DQ_BODY}"?
  | `{_BQ_BODY}`?
  | {LINE_COMMENT}|{BLOCK_COMMENT}
  | {EXECUTABLE_OPEN}
  | [;?]
    """,
    re.VERBOSE | re.DOTALL,
)

#: ``->`` outside strings, quoted names and comments (an executable comment's text is
#: SQL, so it is scanned), for :func:`json_arrow_offset`.
_ARROW_SCAN = re.compile(
    rf"""
    '{_SQ_BODY}'?|"{_DQ_BODY}"?
  | `{_BQ_BODY}`?
  | {LINE_COMMENT}|{BLOCK_COMMENT}
  | ->
    """,
    re.VERBOSE | re.DOTALL,
)


def json_arrow_offset(sql: str) -> int | None:
    """Where the first ``->`` (or ``->>``) outside strings, quoted names and comments
    starts, else None. MySQL's JSON operators; MariaDB has neither, its lexer reads
    ``-`` then ``>``/``>>``, a syntax error wherever they stand."""
    for m in _ARROW_SCAN.finditer(sql):
        if m.group() == "->":
            return m.start()
    return None


#: Leading white space and comments (not executable ones): what precedes a statement's
#: first word.
SPACE_AND_COMMENTS = re.compile(rf"(?:\s+|{LINE_COMMENT}|{BLOCK_COMMENT})*", re.DOTALL)

_ESCAPES = {
    "0": "\x00",
    "'": "'",
    '"': '"',
    "b": "\b",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "Z": "\x1a",
    "\\": "\\",
    "%": "\\%",
    "_": "\\_",
}
_ESCAPE_RE = re.compile(r"\\(.)|''|\"\"", re.DOTALL)


def unescape_mysql_string(token: str) -> str:
    """Value of a MySQL quoted string token (default sql_mode: backslash escapes)."""
    quote = token[0]
    body = token[1:-1]

    def repl(m: re.Match[str]) -> str:
        ch = m.group(1)
        if ch is None:
            return quote
        return _ESCAPES.get(ch, ch)

    if "\\" not in body and quote * 2 not in body:
        return body
    return _ESCAPE_RE.sub(repl, body)


@dataclass(frozen=True, slots=True)
class Slot:
    """One ``?`` of a normalised statement.

    ``param`` is the index into the caller's parameters for a real ``?``; for a literal
    it is None and ``raw``/``value`` hold the source text and its value.
    """

    position: int  # offset of the ``?`` in the normalised text
    param: int | None = None
    raw: str = ""
    value: Any = None
    is_string: bool = False


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    slots: tuple[Slot, ...]
    keyword: str  # first keyword, upper case ("" for an empty statement)
    param_count: int


def literal_value(raw: str) -> int | float:
    """The value of a number literal; one past the DOUBLE range (``1e309``) is MySQL's
    parse error 1367, never an infinity."""
    if raw.isdigit():
        return int(raw)
    value = float(raw)
    if math.isinf(value):
        raise IllegalDouble(f"Illegal double '{raw}' value found during parsing")
    return value


def normalize(sql: str, limit: int | None = None) -> Normalized:
    """Replace literals by ``?`` (see module docstring); one regex pass.

    ``limit``: stop once the text has that many characters (a log line's prefix of a
    10 MB statement, without the pass over all of it); the slots are then incomplete."""
    out: list[str] = []
    slots: list[Slot] = []
    keyword = ""
    params = 0
    length = 0
    prev_kind = ""
    prev_text = ""
    for m in TOKEN.finditer(sql):
        if limit is not None and length >= limit:
            break
        kind = m.lastgroup
        text = m.group()
        if kind == "num":
            # A number directly after an identifier character would have been part of
            # the identifier; a number after '.' is part of a qualified name (t.1).
            if prev_text == "." and prev_kind == "other":
                out.append(text)
                length += len(text)
            else:
                slots.append(Slot(length, None, text, literal_value(text)))
                out.append("?")
                length += 1
        elif kind == "str" and prev_kind == "ident" and prev_text.upper() == "AS":
            # ``expr AS 'name'``: a quoted alias is a name, not a value (ORDER BY name
            # must still find it); kept verbatim like the syntax literals above.
            out.append(text)
            length += len(text)
        elif kind == "str":
            slots.append(Slot(length, None, text, unescape_mysql_string(text), True))
            out.append("?")
            length += 1
        elif kind == "param":
            slots.append(Slot(length, params))
            params += 1
            out.append("?")
            length += 1
        else:
            if kind == "ident" and not keyword:
                keyword = text.upper()
            elif kind == "other" and not keyword and text not in "(;":
                keyword = text
            out.append(text)
            length += len(text)
        if kind not in ("ws", "comment"):
            prev_kind, prev_text = kind or "", text
    return Normalized("".join(out), tuple(slots), keyword, params)


#: The SELECT modifier the coordinator answers itself (sharding.session_reads).
_CALC_FOUND_ROWS = re.compile(r"\bSQL_CALC_FOUND_ROWS\b", re.IGNORECASE)


def without_calc_found_rows(sql: str) -> str | None:
    """``sql`` with its ``SQL_CALC_FOUND_ROWS`` modifier replaced by a space, or None
    when it has none. Only the word as a token counts: inside a string, a quoted name
    or a comment it is text (``WHERE c = 'SQL_CALC_FOUND_ROWS'`` is no modifier, and
    its literal is never touched). The first such token is the modifier (MariaDB
    allows it only after the first SELECT)."""
    if _CALC_FOUND_ROWS.search(sql) is None:  # the common case, at C speed
        return None
    for m in TOKEN.finditer(sql):
        if m.lastgroup == "ident" and m.group().upper() == "SQL_CALC_FOUND_ROWS":
            return f"{sql[: m.start()]} {sql[m.end() :]}"
    return None


#: What starts a string, a quoted name or a comment: a text without any of them is
#: tokens a regular expression reads exactly.
_TEXT_MARKS = ("'", '"', "`", "#", "--", "/*")
#: ``FROM`` not before ``DUAL``, anywhere in the text (the cheap first look).
_FROM_TABLE = re.compile(r"\bFROM\b(?!\s+DUAL\b)", re.IGNORECASE)


def names_a_table(sql: str) -> bool:
    """Whether the statement has a ``FROM`` clause other than ``FROM DUAL``: a
    ``FROM`` token (not inside a string, quoted name or comment) followed by anything
    but ``DUAL``. MariaDB clears the warnings of the statement before only for a
    statement that uses tables (``SELECT 'FROM x'`` keeps them)."""
    if _FROM_TABLE.search(sql) is None:  # the common answer, at C speed
        return False
    if not any(mark in sql for mark in _TEXT_MARKS):
        return True  # no string, quoted name or comment: the match is a token
    after_from = False
    for m in TOKEN.finditer(sql):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        if after_from and not (kind == "ident" and m.group().upper() == "DUAL"):
            return True
        after_from = kind == "ident" and m.group().upper() == "FROM"
    return after_from


def has_words(sql: str, words: tuple[str, ...], hint: re.Pattern[str]) -> bool:
    """Whether ``words`` (upper case) follow one another as tokens of ``sql`` (spaces
    and comments between them allowed), never inside a string, quoted name or
    comment. ``hint``: a pattern that finds them in the raw text, checked first at C
    speed — a text it does not match has no such tokens."""
    if hint.search(sql) is None:
        return False
    matched = 0
    for m in TOKEN.finditer(sql):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        word = m.group().upper() if kind == "ident" else None
        if word == words[matched]:
            matched += 1
            if matched == len(words):
                return True
        else:
            matched = 1 if word == words[0] else 0
    return False


_INTO = re.compile(r"\bINTO\b", re.IGNORECASE)


@dataclass(frozen=True)
class SelectInto:
    """A SELECT's ``INTO @a, @b`` clause taken out: the SELECT without it, and the
    user variables it names (lower case, without ``@``), in order."""

    select: str
    variables: tuple[str, ...]


def _is_user_variable(text: str, kind: str | None) -> bool:
    return kind == "ident" and text.startswith("@") and not text.startswith("@@")


def select_into(sql: str) -> SelectInto | None:
    """The ``INTO`` clause of a SELECT at parenthesis depth 0 (MariaDB takes it before
    ``FROM`` or at the end, also after a UNION's last SELECT), or None when there is
    none. A target other than user variables (``OUTFILE``, ``DUMPFILE``, a local
    variable) raises :class:`~sharding.errors.NotSupported`; an ``INTO`` inside a
    string, quoted name or comment is text."""
    if _INTO.search(sql) is None:  # the common case, at C speed
        return None
    from sharding.errors import NotSupported, ParseError

    depth = 0
    tokens = [m for m in TOKEN.finditer(sql) if m.lastgroup not in ("ws", "comment")]
    for i, m in enumerate(tokens):
        text = m.group()
        if m.lastgroup == "other":
            depth += text == "("
            depth -= text == ")"
            continue
        if depth or m.lastgroup != "ident" or text.upper() != "INTO":
            continue
        names: list[str] = []
        j = i + 1
        while j < len(tokens) and _is_user_variable(tokens[j].group(), tokens[j].lastgroup):
            names.append(tokens[j].group()[1:].lower())
            j += 1
            if j + 1 < len(tokens) and tokens[j].group() == ",":
                if not _is_user_variable(tokens[j + 1].group(), tokens[j + 1].lastgroup):
                    raise ParseError(
                        "You have an error in your SQL syntax; check the manual that "
                        "corresponds to your MariaDB server version for the right syntax "
                        f"to use near '{sql[tokens[j + 1].start() :][:80]}'"
                    )
                j += 1
        if not names:
            what = tokens[i + 1].group().upper() if i + 1 < len(tokens) else ""
            raise NotSupported(
                f"SELECT ... INTO {what} through the sharding coordinator (only INTO "
                "@user_variable is; run it on a data source)"
                if what in ("OUTFILE", "DUMPFILE")
                else "SELECT ... INTO through the sharding coordinator takes user "
                "variables only (INTO @a, @b)"
            )
        end = tokens[j - 1].end()
        return SelectInto(f"{sql[: m.start()]} {sql[end:]}", tuple(names))
    return None


_LEADING_WORD = re.compile(r"\s*([A-Za-z_]\w*)(?=[\s(;`'\"]|$)")


def first_keyword(sql: str) -> str:
    """The statement's first keyword, upper case, skipping comments and parentheses."""
    m = _LEADING_WORD.match(sql)
    if m is not None:  # the common case, without tokenizing
        return m.group(1).upper()
    for m in TOKEN.finditer(sql):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        if kind == "other" and m.group() == "(":
            continue
        return m.group().upper()
    return ""


def param_slots(sql: str) -> tuple[Slot, ...]:
    """The ``?`` placeholders of ``sql`` as slots (positions in ``sql`` itself), for a
    statement planned from its original text (literals not normalised)."""
    out: list[Slot] = []
    for m in TOKEN.finditer(sql):
        if m.lastgroup == "param":
            out.append(Slot(m.start(), len(out)))
    return tuple(out)
