"""MySQL expressions a SQLite shard receives as the client wrote them (issue 15).

An INSERT's ``VALUES`` rows and its ``ON DUPLICATE KEY UPDATE`` clause reach the shard
as source text: :mod:`sharding.sql.insert` keeps each value's text (sqlglot would take
hundreds of milliseconds on a big INSERT) and re-renders only its string literals for
SQLite; :mod:`sharding.sql.upsert` turns the clause into SQLite's ``ON CONFLICT DO
UPDATE SET`` with ``VALUES(c)`` as ``excluded."c"``. A plain value (a number, a string,
``NULL``) means the same in SQLite; an expression may not (measured on MariaDB 10.11):
``7 / 2`` is SQLite's integer division (3, where MySQL stores 4 in an INT, 3.5000 in a
DECIMAL), ``7 DIV 2``, ``7 MOD 2``, ``1 XOR 1``, ``DATE_ADD(d, INTERVAL 1 DAY)`` and
``LEFT(s, 2)`` are SQLite syntax errors, ``LENGTH`` counts characters, ``LOG10`` is
SQLite's own (``LOG10(1000)`` 2.9999999999999996), ``IF`` is unknown.

:func:`translate` finds such expressions — a cheap test first: a statement whose rows
hold only plain values and that has no clause is returned as it is — and renders each
one as the coordinator renders a shard statement's expressions: parsed as MySQL,
:func:`sharding.backend.sqlite_mysql.translate_for_sqlite`, sqlglot's SQLite. The rest
of the statement's text is kept byte for byte. A value that does not parse is left for
SQLite to report. Translations are cached per value text (a bulk INSERT repeats
``NOW()``).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

import sqlglot
from sqlglot import exp

_NAME = r'(?:"(?:[^"]|"")+"|\w+)'
#: ``INSERT [OR …] INTO "db"."t" ("a", …) VALUES`` (REPLACE too), as the coordinator
#: renders a shard's INSERT.
_HEAD = re.compile(
    rf"\s*(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO\s+{_NAME}\s*\.\s*{_NAME}\s*"
    rf"(?:\(\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\))?\s*VALUES\s*",
    re.IGNORECASE,
)
_CLAUSE = " ON CONFLICT DO UPDATE SET "
_PLAIN_WORDS = ("NULL", "TRUE", "FALSE", "DEFAULT")
#: Tokens of the rows: a string, a quoted name, a parenthesis or comma, other text.
_TOKEN = re.compile(r"'[^']*(?:''[^']*)*'|\"[^\"]*(?:\"\"[^\"]*)*\"|[(),]|[^'\"(),]+")
_PLAIN_VALUE = re.compile(
    r"\s*(?:'[^']*(?:''[^']*)*'|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
    r"|NULL|TRUE|FALSE|DEFAULT)\s*",
    re.IGNORECASE,
)

_lock = threading.Lock()
_cache: OrderedDict[str, str] = OrderedDict()
_CACHE_SIZE = 4096


def translate(sql: str) -> str:
    """``sql`` with the MySQL expressions of its ``VALUES`` rows and its upsert clause
    rendered for SQLite (module doc)."""
    head = _HEAD.match(sql)
    if head is None:
        return sql
    clause = sql.find(_CLAUSE, head.end())
    rows_end = len(sql) if clause < 0 else clause
    if _plain(sql[head.end() : rows_end]) and clause < 0:
        return sql
    out = [sql[: head.end()]]
    tail = _rows(sql, head.end(), out)
    if clause >= 0 and tail <= clause:
        out.append(sql[tail : clause + len(_CLAUSE)])
        out.append(_assignments(sql[clause + len(_CLAUSE) :]))
    else:
        out.append(sql[tail:])
    return "".join(out)


def _plain(rows: str) -> bool:
    """Whether the rows hold plain values only (a cheap over-approximation: False may
    still be plain, e.g. ``1e-5``). Substring tests only: they run at C speed on a
    bulk INSERT."""
    masked = "''".join(rows.split("'")[0::2]) if "'" in rows else rows
    up = masked.upper()
    for word in _PLAIN_WORDS:
        up = up.replace(word, "")
    up = up.replace("E", "")  # an exponent (a call's name keeps other letters)
    if any(c in up for c in _EXPRESSION_CHARS):
        return False  # a letter, an operator, a quoted name: an expression
    if "''" + "''" in up.replace(" ", "").replace("\n", ""):
        return False  # ``'x' 'y'``: MySQL's concatenation (or a quote escape)
    if "-" not in up and "+" not in up:
        return True
    for sign in "-+":
        i = up.find(sign)
        while i >= 0:
            j = i - 1
            while j >= 0 and up[j] in " \t\r\n":
                j -= 1
            if j >= 0 and up[j] in "0123456789).'":
                return False  # a sign after an operand: an operator
            i = up.find(sign, i + 1)
    return True


_EXPRESSION_CHARS = 'ABCDFGHIJKLMNOPQRSTUVWXYZ_*/%<>=!&|^~"`?:@'


def _rows(sql: str, start: int, out: list[str]) -> int:
    """Append the rows from ``start``, expressions translated; return where they end."""
    depth = 0
    value: list[str] = []
    pos = start
    for m in _TOKEN.finditer(sql, start):
        tok = m.group()
        if depth == 0:
            if tok == "(":
                depth = 1
                out.append(tok)
                value = []
            elif tok == "," or tok.isspace():
                out.append(tok)
            else:
                return m.start()  # the clause (or a comment before it)
            pos = m.end()
            continue
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        if depth == 1 and tok == ",":
            out.append(_value("".join(value)))
            out.append(",")
            value = []
        elif depth == 0:
            out.append(_value("".join(value)))
            out.append(")")
        else:
            value.append(tok)
        pos = m.end()
    return pos


def _assignments(text: str) -> str:
    """The clause's ``col = expr, …`` with each ``expr`` translated (the targets kept)."""
    pieces: list[str] = []
    depth = 0
    current: list[str] = []
    for m in _TOKEN.finditer(text):
        tok = m.group()
        depth += 1 if tok == "(" else -1 if tok == ")" else 0
        if depth == 0 and tok == ",":
            pieces.append("".join(current))
            current = []
        else:
            current.append(tok)
    pieces.append("".join(current))
    out = []
    for piece in pieces:
        target, eq, value = _split_assignment(piece)
        out.append(f"{target}{eq}{_value(value)}" if eq else piece)
    return ",".join(out)


_ASSIGN = re.compile(rf"(\s*(?:{_NAME}\s*\.\s*)?{_NAME}\s*)(=)")


def _split_assignment(piece: str) -> tuple[str, str, str]:
    m = _ASSIGN.match(piece)
    if m is None or piece[m.end() : m.end() + 1] == "=":
        return piece, "", ""
    return m.group(1), "=", piece[m.end() :]


def _value(text: str) -> str:
    """One value's text for SQLite: a plain one as it is, an expression translated."""
    if _PLAIN_VALUE.fullmatch(text) is not None or not text.strip():
        return text
    with _lock:
        cached = _cache.get(text)
        if cached is not None:
            _cache.move_to_end(text)
            return cached
    translated = _translated(text)
    with _lock:
        _cache[text] = translated
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return translated


def _translated(text: str) -> str:
    from sharding.backend.sqlite_mysql import translate_for_sqlite

    if re.search(r"\bSELECT\b", text, re.IGNORECASE):
        return text  # a subquery: its names are the coordinator's business
    try:
        tree = sqlglot.parse_one("SELECT " + _as_mysql(text), read="mysql")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return text  # SQLite reports its own error
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return text
    translate_for_sqlite(tree)
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    rendered: str = tree.expressions[0].sql(dialect="sqlite")
    return lead + rendered + trail


def _as_mysql(text: str) -> str:
    """The value's text as MySQL reads it: SQLite's string literals (no backslash
    escapes) with their backslashes doubled, ``"name"`` (``excluded."c"``) in
    backquotes."""
    out = []
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok.startswith("'"):
            out.append(tok.replace("\\", "\\\\"))
        elif tok.startswith('"'):
            out.append("`" + tok[1:-1].replace('""', '"').replace("`", "``") + "`")
        else:
            out.append(tok)
    return "".join(out)
