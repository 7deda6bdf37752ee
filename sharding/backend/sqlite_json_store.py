"""MariaDB's JSON columns on SQLite shards (issue 15).

MariaDB's ``JSON`` is ``LONGTEXT`` (``utf8mb4_bin``) with ``CHECK (json_valid(col))``:
a write of text that is no JSON document fails with error 4025, ``CONSTRAINT `t.j`
failed for `db`.`t``` (SQLSTATE 23000; the table's current name, so a RENAME changes
it). On the embedded default a JSON column took any text, and — declared ``JSON``,
which SQLite gives NUMERIC affinity — stored ``' 1 '`` as the integer 1 and ``'1e2'`` as
100. Now :mod:`sharding.sql.ddl` declares it ``LONGTEXT`` (TEXT affinity: the text as
written) and adds two triggers per table (:func:`json_triggers`, ``<table>$json_insert``
/ ``$json_update``, rebuilt by ALTER TABLE and RENAME with the others, so the message
names the table's current name) that raise the message :func:`violation` maps. AFTER
triggers: MariaDB checks a row's CHECK constraints after storing its values, so a
value too long for another column of the same row is 1406 first, as there. NULL
passes.

MariaDB's ``json_valid`` is not RFC 8259, and not SQLite's ``json_valid`` (measured on
MariaDB 10.11; :func:`mariadb_json_valid`, registered on every shard connection as
``sg_json_valid``):

* accepted beyond RFC 8259: a number ending in a point (``1.``, ``1.e5``), a number
  cut short before whitespace, ``,``, ``]`` or ``}`` (``[-]``, ``[1e]``, ``1e+- ``; at
  the end of the text it is refused), any escaped character (``"\\x"``,
  ``"\\U0041"``), DEL (0x7f) unescaped in a string, whitespace right after a key's
  opening quote (``{"\\t": 1}`` with a real tab); duplicate keys, ``null`` and
  scalars at top level as RFC 8259 does;
* refused where SQLite accepts: nesting 32 arrays/objects deep or deeper (MariaDB's
  depth limit), a ``\\u`` escape of a lone surrogate (``"\\ud800"``, ``"\\udc00"``, a
  high surrogate not followed by a low one);
* whitespace is space, tab, newline and carriage return only; ``''``, ``NaN``,
  ``Infinity``, ``TRUE``, ``'a'``, ``01``, ``.5``, ``+1``, trailing commas and any text
  after the document are refused, as everywhere.

An integer written to the column is stored as its text (TEXT affinity), which is JSON;
a DECIMAL or DOUBLE literal is refused as for any text column (1235: SQLite's text of it
is not MySQL's, :mod:`sharding.backend.sqlite_decimal_results`). The differential tests
(``tests/sharding/test_sqlite_json_store.py``) compare :func:`mariadb_json_valid` with
MariaDB's ``JSON_VALID`` on these cases and on generated texts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from sharding.errors import ShardgateError

__all__ = ["FUNCTION", "functions", "json_triggers", "mariadb_json_valid", "violation"]

#: The registered function the triggers call.
FUNCTION = "sg_json_valid"
#: MariaDB's JSON depth limit: this many nested arrays/objects are refused.
DEPTH_LIMIT = 32
_PREFIX = "sg_json$"

#: A string's characters: no control character; a backslash escapes any other character
#: (``\x``, ``\U``: MariaDB's, not RFC 8259's); a ``\u`` escape of a high surrogate
#: needs a low one right after it, and a lone low one is refused.
_CHARS = (
    r"(?:[^\"\\\x00-\x1f]"
    r"|\\u(?:[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|(?![dD][89a-fA-F])[0-9a-fA-F]{4})"
    r"|\\[^u\x00-\x1f])*"
)
#: One value token after optional whitespace: a string, a number, a literal, a
#: punctuation mark. A number is MariaDB's scanner's longest run (its state table,
#: measured on 10.11): a sign, digits (one ``0``, or no leading zero), a point and
#: digits (``1.`` too), an exponent ``e`` with any signs and digits (``1e+-1``). A run
#: ending in the sign or the exponent (``-``, ``1e``) is refused only at the end of the
#: text; before whitespace, ``,``, ``]`` or ``}`` it passes (``[-]`` is valid).
_TOKEN = re.compile(
    r"[ \t\n\r]*(?:"
    rf'(?P<s>"{_CHARS}")'
    r"|(?P<n>(?=[-0-9])-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][+-]*[0-9]*)?)?)"
    r"|(?P<l>true|false|null)"
    r"|(?P<p>[\[\]{},:]))"
)
#: A key: whitespace right after its opening quote is skipped (MariaDB's scanner).
_KEY_TOKEN = re.compile(rf'[ \t\n\r]*(?P<s>"[ \t\n\r]*{_CHARS}")|(?P<p>[ \t\n\r]*\}})')
_INCOMPLETE_END = "-+eE"
_TRAILING_SPACE = re.compile(r"[ \t\n\r]*\Z")

# Parser states: what may come next.
_VALUE, _VALUE_OR_END, _KEY, _KEY_OR_END, _COLON, _NEXT = range(6)


def _valid_text(text: str) -> bool:
    """MariaDB's json_valid of a text (module doc)."""
    stack: list[str] = []  # '[' or '{' of each open container
    state = _VALUE
    pos = 0
    while True:
        m = (_KEY_TOKEN if state in (_KEY, _KEY_OR_END) else _TOKEN).match(text, pos)
        if m is None:
            return False
        pos = m.end()
        kind = m.lastgroup
        token = m.group(kind or "p").lstrip(" \t\n\r")
        if kind == "n" and pos == len(text) and token[-1] in _INCOMPLETE_END:
            return False
        if state in (_VALUE, _VALUE_OR_END):
            if kind == "p":
                if token in ("[", "{"):
                    stack.append(token)
                    if len(stack) >= DEPTH_LIMIT:
                        return False
                    state = _VALUE_OR_END if token == "[" else _KEY_OR_END
                    continue
                if not (token == "]" and state == _VALUE_OR_END):
                    return False
                stack.pop()
            # a scalar, or the end of an empty array: a value is complete
        elif state in (_KEY, _KEY_OR_END):
            if kind == "s":
                state = _COLON
                continue
            if state == _KEY:  # '}' after a comma
                return False
            stack.pop()
        elif state == _COLON:
            if token != ":" or kind != "p":
                return False
            state = _VALUE
            continue
        else:  # _NEXT: after a value inside a container
            if kind != "p":
                return False
            top = stack[-1]
            if token == ",":
                state = _VALUE if top == "[" else _KEY
                continue
            if token != ("]" if top == "[" else "}"):
                return False
            stack.pop()
        # A value just completed (a scalar or a closed container).
        if not stack:
            return _TRAILING_SPACE.match(text, pos) is not None
        state = _NEXT


def mariadb_json_valid(value: Any) -> int | None:
    """``sg_json_valid(x)``: 1 when MariaDB's ``json_valid`` accepts ``x``, 0 when not,
    NULL for NULL. A number is its text (JSON); a BLOB is read as UTF-8, its invalid
    bytes as ordinary characters (MariaDB's json_valid of a binary string)."""
    if value is None:
        return None
    if isinstance(value, int):
        return 1
    if isinstance(value, float):
        return 1 if math.isfinite(value) else 0
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    return 1 if _valid_text(str(value)) else 0


def functions() -> list[tuple[str, int, Any]]:
    """The functions every shard connection registers: (name, arguments, function)."""
    return [(FUNCTION, 1, mariadb_json_valid)]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _backticked(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def json_triggers(
    columns: Sequence[str],
    *,
    database: str,
    table: str,
    db_mark: str,
    table_mark: str,
    name_mark: str,
) -> list[str]:
    """The two trigger templates checking a table's JSON ``columns`` (module doc), in
    the table's column order (MariaDB checks them in that order); ``database`` and
    ``table`` are the logical names the message gives, the marks
    :mod:`sharding.sql.ddl`'s placeholders."""
    if not columns:
        return []
    raises = " ".join(
        f"WHEN {FUNCTION}(NEW.{_ident(c)}) = 0 THEN RAISE(ABORT, "
        + _literal(
            _PREFIX
            + f"CONSTRAINT {_backticked(f'{table}.{c}')} failed for "
            + f"{_backticked(database)}.{_backticked(table)}"
        )
        + ")"
        for c in columns
    )
    when = " OR ".join(f"{FUNCTION}(NEW.{_ident(c)}) = 0" for c in columns)
    body = f"FOR EACH ROW WHEN {when} BEGIN SELECT CASE {raises} END; END"
    names = ", ".join(_ident(c) for c in columns)
    return [
        f"CREATE TRIGGER {db_mark}.{_ident(name_mark + '$json_insert')} AFTER INSERT ON "
        f"{table_mark} {body}",
        f"CREATE TRIGGER {db_mark}.{_ident(name_mark + '$json_update')} AFTER UPDATE OF "
        f"{names} ON {table_mark} {body}",
    ]


def violation(message: str) -> ShardgateError | None:
    """Error 4025 for a :func:`json_triggers` failure (None for other messages)."""
    at = message.find(_PREFIX)
    if at < 0:
        return None
    return ShardgateError(message[at + len(_PREFIX) :], code=4025, sqlstate="23000")
