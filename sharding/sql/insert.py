"""Fast path for INSERT: split a multi-row VALUES list by shard without an AST.

sqlglot needs hundreds of milliseconds to parse a 1000-row × 20-column INSERT (seed
000's batch-insert stress test sends exactly that); splitting it by shard only needs
row boundaries and the shard-key (and AUTO_INCREMENT) value of each row. So:

* the statement head (``INSERT [IGNORE] INTO t (cols) VALUES``) is read with the
  lexer's token regex (a dozen tokens);
* each row is matched by one regular expression for "a parenthesised row without
  nested parentheses" and its values split by a second one — both run in C; a row
  with nested parentheses (``NOW()``, ``CONCAT(…)``) falls back to a token loop;
* values are kept as source text and re-emitted verbatim, except MySQL string
  literals that the target dialect reads differently (backslash escapes, double
  quotes), which are re-rendered.

Also handled: ``INSERT … SET col = v, …``, ``REPLACE``, ``INSERT IGNORE``, ``?``
parameters. ``INSERT … SELECT`` is found here and run by the session
(:mod:`sharding.sql.insert_select`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sharding.errors import BadArguments, ColumnCountMismatch, NotSupported
from sharding.sql.lexer import TOKEN, unescape_mysql_string
from sharding.sql.literals import literal_renderer, render_literal
from sharding.sql.parse import mysql_syntax_error

# Quoted strings as "unrolled loops" (no per-character alternation: much faster).
_SQ = r"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'"
_DQ = r'"[^"\\]*(?:(?:\\.|"")[^"\\]*)*"'
_STR = _SQ + "|" + _DQ
_ROW = re.compile(r"\([^()'\"]*(?:(?:" + _STR + r")[^()'\"]*)*\)", re.DOTALL)
_STRING_TOKEN = re.compile(_STR, re.DOTALL)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INT = re.compile(r"[+-]?\d+\Z")


class InsertSelectFound(NotSupported):
    """Not a VALUES/SET insert: an ``INSERT … SELECT``, whose query starts at ``start``
    (:mod:`sharding.sql.insert_select` runs it; where nothing catches this, it is the
    plain 1235 it derives from)."""

    def __init__(self, start: int) -> None:
        super().__init__("INSERT ... SELECT on a sharded coordinator")
        self.start = start


@dataclass
class ParsedInsert:
    verb: str  # INSERT | REPLACE
    ignore: bool
    database: str | None
    table: str
    columns: list[str] | None
    mode: str = "values"  # values | set
    body_start: int = 0
    #: Per row, the source text of the *captured* columns' values (see scan_rows).
    rows: list[list[str]] = field(default_factory=list)
    #: Per row, (start, end) of each captured value inside its row text.
    spans: list[list[tuple[int, int]]] = field(default_factory=list)
    #: Source text of each row, ``(…)``.
    row_texts: list[str] = field(default_factory=list)
    tail: str = ""
    #: (row, captured column) → parameter index for values that are ``?``.
    params: dict[tuple[int, int], int] = field(default_factory=dict)
    param_count: int = 0
    has_escapes: bool = False  # a string literal needs re-rendering for non-MySQL
    #: SET form: all values (the row is built from them).
    set_values: list[str] = field(default_factory=list)


def _ident(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1].replace("``", "`")
    return token


def scan_insert(sql: str) -> ParsedInsert:
    """Parse the head of an INSERT/REPLACE statement (table, columns).

    Rows are scanned by :func:`scan_rows` once the caller knows which columns' values
    it needs (the shard key, the AUTO_INCREMENT column).
    """
    words: list[tuple[str, str, int, int]] = []  # (kind, text, start, end)
    body_start = -1
    mode = ""
    depth = 0  # inside the column list, VALUE/VALUES/SET are column names
    for m in TOKEN.finditer(sql):
        kind = m.lastgroup or ""
        if kind in ("ws", "comment"):
            continue
        text = m.group()
        upper = text.upper() if kind == "ident" else text
        if kind == "other" and text in "()":
            depth += 1 if text == "(" else -1
        if kind == "ident" and upper in ("VALUES", "VALUE") and depth == 0:
            body_start, mode = m.end(), "values"
            break
        if kind == "ident" and upper == "SET" and words and depth == 0:
            body_start, mode = m.end(), "set"
            break
        if (kind == "ident" and upper in ("SELECT", "WITH", "TABLE")) or (
            kind == "other" and text == "(" and _select_follows(sql, m.end())
        ):
            raise InsertSelectFound(m.start())
        words.append((kind, text, m.start(), m.end()))
    if body_start < 0:
        raise mysql_syntax_error(sql, len(sql), "INSERT needs VALUES or SET")
    verb = words[0][1].upper() if words else ""
    if verb not in ("INSERT", "REPLACE"):
        raise mysql_syntax_error(sql, 0, "not an INSERT")
    i = 1
    ignore = False
    while (
        i < len(words)
        and words[i][0] == "ident"
        and words[i][1].upper()
        in (
            "LOW_PRIORITY",
            "DELAYED",
            "HIGH_PRIORITY",
            "IGNORE",
            "INTO",
        )
    ):
        if words[i][1].upper() == "IGNORE":
            ignore = True
        i += 1
    if i >= len(words) or words[i][0] not in ("ident", "bq"):
        raise mysql_syntax_error(
            sql, words[i][2] if i < len(words) else len(sql), "table name expected"
        )
    name = _ident(words[i][1])
    database = None
    i += 1
    if i + 1 < len(words) and words[i][1] == "." and words[i + 1][0] in ("ident", "bq"):
        database, name = name, _ident(words[i + 1][1])
        i += 2
    columns: list[str] | None = None
    if i < len(words) and words[i][1] == "(":
        columns = []
        i += 1
        while i < len(words) and words[i][1] != ")":
            kind, text = words[i][0], words[i][1]
            if kind in ("ident", "bq"):
                columns.append(_ident(text))
            elif text != ",":
                raise mysql_syntax_error(sql, words[i][2], "column name expected")
            i += 1
        i += 1
    if i < len(words):
        raise mysql_syntax_error(sql, words[i][2], "unexpected text before VALUES")
    parsed = ParsedInsert(verb, ignore, database, name, columns, mode, body_start)
    if mode == "set":
        _scan_set(sql, body_start, parsed)
    return parsed


def _select_follows(sql: str, pos: int) -> bool:
    return bool(re.match(r"\s*(SELECT|WITH)\b", sql[pos : pos + 16], re.IGNORECASE))


_VAL = r"[^,'\"()]*(?:(?:" + _STR + r")[^,'\"()]*)*"
_ROW_CACHE: dict[tuple[int, ...], re.Pattern[str]] = {}


def _row_pattern(capture: tuple[int, ...]) -> re.Pattern[str]:
    """A regex matching one row without nested parentheses, capturing ``capture``."""
    pattern = _ROW_CACHE.get(capture)
    if pattern is None:
        parts = [r"\("]
        previous = -1
        for index in capture:
            skip = index - previous - 1
            if previous >= 0:
                parts.append(",")
            if skip:
                parts.append(f"(?:{_VAL},){{{skip}}}")
            parts.append(f"({_VAL})")
            previous = index
        if previous >= 0:
            parts.append(f"(?:,{_VAL})*")
        else:
            parts.append(f"{_VAL}(?:,{_VAL})*")
        parts.append(r"\)")
        pattern = re.compile("".join(parts), re.DOTALL)
        _ROW_CACHE[capture] = pattern
    return pattern


def scan_rows(sql: str, parsed: ParsedInsert, capture: Sequence[int], width: int) -> None:
    """Find every VALUES row and the source text of the columns in ``capture``.

    ``width`` is the number of columns each row must have; rows matched by the fast
    regex are not counted (the backend reports a count mismatch), rows scanned by the
    token loop are.
    """
    cap = tuple(sorted(set(capture)))
    order = [cap.index(c) for c in capture]
    if parsed.mode == "set":
        values = parsed.set_values
        if len(values) != width:
            raise ColumnCountMismatch("Column count doesn't match value count at row 1")
        parsed.rows = [[values[c] for c in capture]]
        parsed.spans = [[(-1, -1) for _ in capture]]
        parsed.params = {
            (0, k): p
            for (r, c), p in parsed.params.items()
            for k, cc in enumerate(capture)
            if cc == c
        }
        return
    pos = parsed.body_start
    n = len(sql)
    # The fast regex takes a value's text as it is: rows with comments (or what may
    # start one) go through the token loop, which drops them (_value_text).
    body = sql[pos:]
    fast = "?" not in sql and "/*" not in body and "--" not in body and "#" not in body
    rows, spans, texts = parsed.rows, parsed.spans, parsed.row_texts
    row_match = _row_pattern(cap).match
    ws = re.compile(r"\s*")
    params: dict[tuple[int, int], int] = {}
    while True:
        pos = ws.match(sql, pos).end()  # type: ignore[union-attr]
        m = row_match(sql, pos) if fast else None
        if m is not None:
            start = m.start()
            groups = m.groups()
            rows.append([groups[i] for i in order])
            spans.append([(m.start(i + 1) - start, m.end(i + 1) - start) for i in order])
            texts.append(m.group())
            end = m.end()
        else:
            if pos >= n or sql[pos] != "(":
                raise mysql_syntax_error(sql, pos, "'(' expected for a VALUES row")
            values, row_params, end = _slow_row(sql, pos, parsed)
            if len(values) != width:
                raise ColumnCountMismatch(
                    f"Column count doesn't match value count at row {len(rows) + 1}"
                )
            r = len(rows)
            for k, c in enumerate(capture):
                if c in row_params:
                    params[(r, k)] = row_params[c]
            text = "(" + ", ".join(values) + ")"
            offsets = []
            at = 1
            for v in values:
                offsets.append((at, at + len(v)))
                at += len(v) + 2
            rows.append([values[c] for c in capture])
            spans.append([offsets[c] for c in capture])
            texts.append(text)
        pos = ws.match(sql, end).end()  # type: ignore[union-attr]
        if pos < n and sql[pos] == ",":
            pos += 1
            continue
        break
    parsed.params = params
    parsed.tail = _without_only_comments(sql[pos:].strip().rstrip(";").strip())
    parsed.has_escapes = "\\" in sql or '"' in sql


def _value_text(text: str) -> str:
    """A VALUES item's text without its comments (``/* id */ 806`` is the constant 806
    to the router, as to MySQL)."""
    if "/*" not in text and "--" not in text and "#" not in text:
        return text.strip()
    kept = [m.group() for m in TOKEN.finditer(text) if m.lastgroup != "comment"]
    return "".join(kept).strip()


def _without_only_comments(tail: str) -> str:
    """``tail``, or '' when it is only comments (``/* from app */``, ``-- x``): a tail
    is read as the statement's ``ON DUPLICATE KEY UPDATE``/``RETURNING`` clause, and
    a comment alone made the SQLite shards' statement end inside it (1105)."""
    if not tail or ("/*" not in tail and "--" not in tail and "#" not in tail):
        return tail
    for m in TOKEN.finditer(tail):
        if m.lastgroup not in ("ws", "comment"):
            return tail
    return ""


def _slow_row(sql: str, pos: int, parsed: ParsedInsert) -> tuple[list[str], dict[int, int], int]:
    """Token loop for a row with nested parentheses or ``?`` parameters."""
    depth = 0
    values: list[str] = []
    params: dict[int, int] = {}
    start = pos + 1
    for m in TOKEN.finditer(sql, pos):
        text = m.group()
        kind = m.lastgroup
        if kind == "other" and text == "(":
            depth += 1
        elif kind == "other" and text == ")":
            depth -= 1
            if depth == 0:
                values.append(_value_text(sql[start : m.start()]))
                if values == [""]:
                    values = []
                return values, params, m.end()
        elif kind == "other" and text == "," and depth == 1:
            values.append(_value_text(sql[start : m.start()]))
            start = m.end()
        elif kind == "param":
            if depth == 1 and sql[start : m.start()].strip() == "":
                params[len(values)] = parsed.param_count
            parsed.param_count += 1
    raise mysql_syntax_error(sql, pos, "unterminated VALUES row")


def _scan_set(sql: str, pos: int, parsed: ParsedInsert) -> None:
    columns: list[str] = []
    values: list[str] = []
    depth = 0
    expecting = "column"
    start = pos
    for m in TOKEN.finditer(sql, pos):
        kind, text = m.lastgroup, m.group()
        if kind in ("ws", "comment"):
            continue
        if expecting == "column":
            if kind not in ("ident", "bq"):
                raise mysql_syntax_error(sql, m.start(), "column name expected in SET")
            columns.append(_ident(text))
            expecting = "eq"
        elif expecting == "eq":
            if text != "=":
                raise mysql_syntax_error(sql, m.start(), "'=' expected in SET")
            expecting = "value"
            start = m.end()
        else:
            if kind == "other" and text == "(":
                depth += 1
            elif kind == "other" and text == ")":
                depth -= 1
            elif kind == "param":
                if sql[start : m.start()].strip() == "":
                    parsed.params[(0, len(values))] = parsed.param_count
                parsed.param_count += 1
            elif depth == 0 and kind == "other" and text == ",":
                values.append(sql[start : m.start()].strip())
                expecting = "column"
            elif depth == 0 and kind == "ident" and text.upper() == "ON":
                values.append(sql[start : m.start()].strip())
                parsed.tail = sql[m.start() :].strip().rstrip(";")
                break
            elif depth == 0 and kind == "other" and text == ";":
                values.append(sql[start : m.start()].strip())
                expecting = "done"
                break
    else:
        if expecting == "value":
            values.append(sql[start:].strip())
    if len(values) != len(columns) or not columns:
        raise mysql_syntax_error(sql, pos, "INSERT ... SET needs col = value pairs")
    parsed.columns = columns
    parsed.set_values = values
    parsed.row_texts = ["(" + ", ".join(values) + ")"]
    parsed.has_escapes = "\\" in sql or '"' in sql


def value_of(
    text: str, params: Sequence[Any] | None = None, param: int | None = None
) -> tuple[bool, Any]:
    """(is_constant, Python value) of one VALUES item's source text."""
    if param is not None:
        if params is None or param >= len(params):
            raise BadArguments("not enough parameters for the statement")
        return True, params[param]
    t = text.strip()
    if not t:
        return False, None
    first = t[0]
    if first in "'\"":
        if _STRING_TOKEN.fullmatch(t):
            return True, unescape_mysql_string(t)
        return False, None
    if _INT.match(t):
        return True, int(t)
    if _NUMBER.match(t):
        return True, float(t)
    upper = t.upper()
    if upper == "NULL":
        return True, None
    if upper == "TRUE":
        return True, 1
    if upper == "FALSE":
        return True, 0
    if upper == "DEFAULT":
        return False, "DEFAULT"
    if first == "_":
        # ``_latin1 X'E9'``: a non-UTF-8 client's value (sharding.client_charset); its
        # text routes as the same text from any client. ``_binary`` stays unrouted.
        m = _INTRODUCED_HEX.fullmatch(t)
        if m and m.group(1).lower() != "binary":
            from sharding.client_charset import decode_bytes

            return True, decode_bytes(bytes.fromhex(m.group(2)), m.group(1))
    return False, None


_INTRODUCED_HEX = re.compile(r"_([A-Za-z0-9]+)\s*[xX]'((?:[0-9a-fA-F]{2})*)'")


# ---------------------------------------------------------------------- splitting
_ROW_TOKEN = re.compile(_STR + r"|\?|[^'\"?]+", re.DOTALL)


def rerender_row(
    text: str,
    dialect: str,
    params: Sequence[Any] | None,
    next_param: int,
    overrides: dict[int, Any],
) -> tuple[str, int]:
    """Re-emit a row for ``dialect``: strings re-rendered, ``?`` filled. Returns the
    text and the index of the next unused parameter."""
    out: list[str] = []
    for m in _ROW_TOKEN.finditer(text):
        tok = m.group()
        first = tok[0]
        if first == "?":
            if next_param in overrides:
                out.append(render_literal(overrides[next_param], dialect))
            else:
                if params is None or next_param >= len(params):
                    raise BadArguments("not enough parameters for the statement")
                out.append(render_literal(params[next_param], dialect))
            next_param += 1
        elif first in "'\"" and dialect != "mysql":
            out.append(render_literal(unescape_mysql_string(tok), dialect))
        else:
            out.append(tok)
    return "".join(out), next_param


@dataclass(frozen=True, slots=True)
class CompiledRow:
    """A row's text split at its ``?`` parameters, strings already rendered for the
    dialect: filling it is one ``join`` (a prepared INSERT executed many times)."""

    pieces: tuple[str, ...]  # len(params) + 1 constant pieces around the parameters
    params: tuple[int, ...]  # global parameter index of each ``?``, in order

    def fill(self, dialect: str, params: Sequence[Any] | None, overrides: dict[int, Any]) -> str:
        pieces = self.pieces
        if (
            not overrides
            and params is not None
            and (not self.params or self.params[-1] < len(params))
        ):
            render = literal_renderer(dialect)
            out = [""] * (2 * len(self.params) + 1)
            out[::2] = pieces
            out[1::2] = [render(params[p]) for p in self.params]
            return "".join(out)
        out = [pieces[0]]
        for i, p in enumerate(self.params):
            if p in overrides:
                value = overrides[p]
            elif params is None or p >= len(params):
                raise BadArguments("not enough parameters for the statement")
            else:
                value = params[p]
            out.append(render_literal(value, dialect))
            out.append(pieces[i + 1])
        return "".join(out)


def compile_row(text: str, dialect: str, first_param: int) -> CompiledRow:
    """Pre-render a row for :meth:`CompiledRow.fill` (same output as :func:`rerender_row`)."""
    pieces: list[str] = [""]
    params: list[int] = []
    for m in _ROW_TOKEN.finditer(text):
        tok = m.group()
        first = tok[0]
        if first == "?":
            params.append(first_param + len(params))
            pieces.append("")
        elif first in "'\"" and dialect != "mysql":
            pieces[-1] += render_literal(unescape_mysql_string(tok), dialect)
        else:
            pieces[-1] += tok
    return CompiledRow(tuple(pieces), tuple(params))


@dataclass
class InsertRows:
    """An INSERT split by shard: per (data source, physical db, quoted name) the rows."""

    prefix: str  # "INSERT INTO" / "INSERT OR IGNORE INTO" / "REPLACE INTO"
    columns_sql: str
    tail: str
    groups: dict[tuple[str, str, str, int], list[str]]
    first_id: int | None
    largest_explicit_id: int | None
    rows: int
    #: Per key of ``groups``, the client's row number (from 1) of each of its rows:
    #: a shard statement's warning "at row n" is the client's row ``numbers[key][n-1]``.
    numbers: dict[tuple[str, str, str, int], list[int]] = field(default_factory=dict)
    #: The last row's explicit AUTO_INCREMENT value (a constant integer), else None:
    #: the OK packet's id of a statement without generated ids (MariaDB's).
    last_explicit_id: int | None = None

    def statements(self) -> list[tuple[str, str, int, str]]:
        """(data source, physical db, shard, SQL) per shard touched."""
        out = []
        for (ds, db, name, shard), rows in self.groups.items():
            sql = f"{self.prefix} {name} {self.columns_sql} VALUES {', '.join(rows)}"
            if self.tail:
                sql += " " + self.tail
            out.append((ds, db, shard, sql))
        return out
