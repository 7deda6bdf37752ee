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
from collections.abc import Callable
from typing import Any

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
    pieces, _ = split_assignments(text)
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


def split_assignments(text: str, end: re.Pattern[str] | None = None) -> tuple[list[str], str]:
    """``col = expr, …`` split at its top-level commas (the one splitter of SET lists
    and upsert clauses here and in :mod:`sharding.backend.sqlite_temporal`): the pieces,
    and the text from ``end``'s keyword on (a keyword at depth 0 outside quotes: an
    UPDATE's ``WHERE``), or ``""`` when the list runs to the end."""
    pieces: list[str] = []
    current: list[str] = []
    depth = 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if depth == 0 and end is not None and not tok.startswith(("'", '"')):
            stop = end.search(tok)
            if stop is not None:
                current.append(tok[: stop.start()])
                pieces.append("".join(current))
                return pieces, tok[stop.start() :] + text[m.end() :]
        depth += 1 if tok == "(" else -1 if tok == ")" else 0
        if depth == 0 and tok == ",":
            pieces.append("".join(current))
            current = []
        else:
            current.append(tok)
    pieces.append("".join(current))
    return pieces, ""


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
    # DEFAULT(col): a call sqlglot keeps as it is, replaced by :func:`defaults`
    mysql = _DEFAULT_CALL.sub(lambda m: f"{_DEFAULT_STAND_IN}({m[1]})", text)
    try:
        tree = sqlglot.parse_one("SELECT " + _as_mysql(mysql), read="mysql")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return text  # SQLite reports its own error
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return text
    from sharding.backend import sqlite_hex_literals

    # 0x.., b'..': a number or a string by the written column's type (on the shard)
    number = sqlite_hex_literals.numeric_literal(tree.expressions[0])
    translate_for_sqlite(tree)
    item = tree.expressions[0]
    if number:
        item = sqlite_hex_literals.mark_written(item)
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    rendered: str = item.sql(dialect="sqlite")
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


# ------------------------------------------------------------------------ DEFAULT
# ``DEFAULT`` as a written value (``VALUES (1, DEFAULT)``, ``ON DUPLICATE KEY UPDATE
# n = DEFAULT``) and ``DEFAULT(col)`` are MySQL's, not SQLite's (a syntax error there).
# :func:`defaults` puts the column's declared default in their place — PRAGMA
# table_info's ``dflt_value``, SQLite syntax already (the DDL wrote it) — in
# parentheses, so the value is what omitting the column stores. A column without a
# default is NULL when nullable; a NOT NULL one is MySQL's strict-mode error 1364
# (measured on MariaDB 10.11; ``INSERT IGNORE`` would store the type's implicit default
# with a warning: 1235 there). An AUTO_INCREMENT column's DEFAULT never reaches the
# shard: the coordinator puts the generated id in its place.
_DEFAULT_HEAD = re.compile(
    rf"\s*(?:INSERT(?:\s+OR\s+(\w+))?|REPLACE)\s+INTO\s+({_NAME})\s*\.\s*({_NAME})\s*"
    rf"(\(\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\))?\s*VALUES\s*",
    re.IGNORECASE,
)
_DEFAULT_WORD = re.compile(r"DEFAULT", re.IGNORECASE)
_UPDATE_DEFAULT_HEAD = re.compile(
    rf"\s*UPDATE\s+(?:OR\s+(\w+)\s+)?({_NAME})\s*\.\s*({_NAME})\s+(?:AS\s+{_NAME}\s+)?SET\s",
    re.IGNORECASE,
)
#: Where an UPDATE's SET list ends (a top-level keyword).
_SET_LIST_END = re.compile(r"\b(?:WHERE|FROM|ORDER|LIMIT|RETURNING)\b", re.IGNORECASE)
_DEFAULT_STAND_IN = "sg_default"
_DEFAULT_CALL = re.compile(
    rf"\b(?:DEFAULT|sg_default)\s*\(\s*(?:{_NAME}\s*\.\s*)*({_NAME})\s*\)", re.IGNORECASE
)
_DEFAULT_VALUE = re.compile(r"\s*DEFAULT\s*\Z", re.IGNORECASE)


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def defaults(raw: Any, sql: str) -> str:
    """``sql`` (an INSERT/REPLACE … VALUES, as :func:`translate` leaves it) with each
    ``DEFAULT`` value and ``DEFAULT(col)`` replaced by the column's default (section
    comment); any other statement as it is."""
    if _DEFAULT_WORD.search(sql) is None:
        return sql
    head = _DEFAULT_HEAD.match(sql)
    if head is None:
        update = _UPDATE_DEFAULT_HEAD.match(sql)
        return sql if update is None else _update_defaults(raw, sql, update)
    schema, table = _unquote(head.group(2)), _unquote(head.group(3))
    default, columns = _column_defaults(
        raw, schema, table, (head.group(1) or "").upper() == "IGNORE"
    )

    def calls(text: str) -> str:
        return _default_calls(text, default)

    if head.group(4):
        targets = [_unquote(n.strip()) for n in head.group(4).strip()[1:-1].split(",")]
    else:
        targets = columns
    out = [sql[: head.end()]]
    depth = 0
    index = 0
    value: list[str] = []
    end = len(sql)

    def emit() -> None:
        text = "".join(value)
        if _DEFAULT_VALUE.match(text) and index < len(targets):
            lead = text[: len(text) - len(text.lstrip())]
            out.append(lead + default(targets[index]))
        else:
            out.append(calls(text))

    for m in _TOKEN.finditer(sql, head.end()):
        tok = m.group()
        if depth == 0:
            if tok == "(":
                depth, index, value = 1, 0, []
                out.append(tok)
            elif tok == "," or tok.isspace():
                out.append(tok)
            else:
                end = m.start()
                break
            continue
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        if depth == 1 and tok == ",":
            emit()
            out.append(",")
            value = []
            index += 1
        elif depth == 0:
            emit()
            out.append(")")
        else:
            value.append(tok)
    rest = sql[end:]
    clause = rest.find(_CLAUSE)
    if clause >= 0:
        pieces, _ = split_assignments(rest[clause + len(_CLAUSE) :])
        done = []
        for piece in pieces:
            target, eq, val = _split_assignment(piece)
            if eq and _DEFAULT_VALUE.match(val):
                column = _unquote(target.strip().split(".")[-1].strip())
                done.append(f"{target}{eq} {default(column)}")
            else:
                done.append(calls(piece))
        rest = rest[: clause + len(_CLAUSE)] + ",".join(done)
    out.append(rest)
    return "".join(out)


def _default_calls(text: str, default: Callable[[str], str]) -> str:
    """``text`` with each ``DEFAULT(col)`` (or its stand-in ``sg_default(col)``, the
    column possibly qualified) outside string literals as the column's default."""
    if "(" not in text:
        return text
    pieces = re.split(r"('[^']*(?:''[^']*)*')", text)
    return "".join(
        p if p.startswith("'") else _DEFAULT_CALL.sub(lambda c: default(_unquote(c[1])), p)
        for p in pieces
    )


def _update_defaults(raw: Any, sql: str, head: re.Match[str]) -> str:
    """An UPDATE's ``SET col = DEFAULT`` (SQLite has no such value) as the column's
    default: the declared expression, NULL for a nullable column without one, 1364
    for a NOT NULL column without one (MariaDB's strict mode); ``DEFAULT(col)`` inside
    a SET value (``SET n = DEFAULT(n) + 1``) the same way."""
    default, _ = _column_defaults(raw, _unquote(head.group(2)), _unquote(head.group(3)), False)
    pieces, rest = split_assignments(sql[head.end() :], _SET_LIST_END)
    done = []
    for piece in pieces:
        target, eq, val = _split_assignment(piece)
        if eq and _DEFAULT_VALUE.match(val):
            column = _unquote(target.strip().split(".")[-1].strip())
            tail = val[len(val.rstrip()) :]
            done.append(f"{target}{eq} {default(column)}{tail}")
        elif eq:
            done.append(f"{target}{eq}{_default_calls(val, default)}")
        else:
            done.append(piece)
    return sql[: head.end()] + ",".join(done) + rest


def _column_defaults(
    raw: Any, schema: str, table: str, ignore: bool
) -> tuple[Callable[[str], str], list[str]]:
    """What ``DEFAULT`` stands for in a column of ``schema.table``: the declared default
    expression, NULL for a nullable column without one; for a NOT NULL column without
    one MariaDB's strict-mode 1364 (a 1235 under ``INSERT IGNORE``, where MySQL stores
    the type's implicit default with a warning). Not a column: the word as it is.
    Also the table's column names in order."""
    q = '"' + schema.replace('"', '""') + '"'
    info = raw.execute(f"PRAGMA {q}.table_info('{table.replace(chr(39), chr(39) * 2)}')")
    found = {str(r[1]).lower(): (str(r[1]), r[4], bool(r[3])) for r in info.fetchall()}
    label = re.sub(r"_\d{4}\Z", "", schema)

    def default(column: str) -> str:
        entry = found.get(column.lower())
        if entry is None:
            return "DEFAULT"  # not a column: SQLite reports its own error
        name, value, notnull = entry
        if value is not None:
            return f"({value})"
        if not notnull:
            return "NULL"
        if ignore:
            from sharding.errors import NotSupported

            raise NotSupported(
                f"DEFAULT of the NOT NULL column `{label}`.`{table}`.`{name}` without a "
                "default in INSERT IGNORE on the SQLite default (MySQL stores the type's "
                "implicit default with a warning)"
            )
        from sharding.errors import ShardgateError

        raise ShardgateError(f"Field '{name}' doesn't have a default value", code=1364)

    return default, [v[0] for v in found.values()]
