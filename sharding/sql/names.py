"""Result column names as MySQL gives them: from the text the user wrote.

MySQL/MariaDB name a select item without an alias by its *source text* — from the
first to the last token of the item, inner spacing, case and comments as typed
(``count( * )``, ``CASE WHEN qty > 3 THEN 'a' ELSE 'b' END``, ``CAST(qty AS SIGNED)``)
— except for items that carry a name of their own (measured against MariaDB 10.11):

* a column reference is named by its column name as typed, without qualifier or
  backquotes (```t`.`Id``` → ``Id``), also inside parentheses (``(id)`` → ``id``);
* a string literal by its value (``'a''b'`` → ``a'b``; adjacent strings concatenate,
  ``_utf8mb4'x'`` and ``N'x'`` → ``x``); numbers, hex and bit literals by their text
  (``1.50``, ``0x41``, ``X'41'``); ``NULL``, ``TRUE``, ``FALSE`` in upper case;
  parentheses and a unary plus around any of those are dropped (``(+1)`` → ``1``), a
  unary minus is not (``-1``, ``(- 1)`` keep their text);
* an alias names the item: identifier, backquoted or quoted string (``AS "amt"`` →
  ``amt``, ``AS 'a''b'`` → ``a'b``).

Every name then loses its leading white space and control characters and is cut to
255 bytes (:func:`finish_name`). Placeholders keep their ``?`` (server-side prepared
statements: MariaDB names ``SELECT ?`` ``?``).

Why from the text and not from the parse tree: sqlglot re-renders expressions in its
own spelling (``IF`` → ``CASE``, spacing, keyword case), and keywords such as ``CASE``
or ``CAST`` carry no positions in the tree. The lexer of the plan cache
(:mod:`sharding.sql.lexer`) gives exact offsets, and the plan is cached per normalised
text, so a name is stored as text with holes for the literals and rendered per call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from sharding.sql.lexer import TOKEN, unescape_mysql_string
from sharding.sql.nodes import OutputColumn

#: Longest name MariaDB sends, in bytes (``MAX_ALIAS_NAME - 1``).
MAX_NAME_BYTES = 255

#: MySQL's select options: words between SELECT and the select list.
SELECT_OPTIONS = frozenset(
    {
        "ALL",
        "DISTINCT",
        "DISTINCTROW",
        "HIGH_PRIORITY",
        "STRAIGHT_JOIN",
        "SQL_SMALL_RESULT",
        "SQL_BIG_RESULT",
        "SQL_BUFFER_RESULT",
        "SQL_CACHE",
        "SQL_NO_CACHE",
        "SQL_CALC_FOUND_ROWS",
    }
)
#: Words that end the select list at parenthesis depth 0.
_END_WORDS = {
    "FROM",
    "INTO",
    "WHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "LIMIT",
    "WINDOW",
    "PROCEDURE",
    "FOR",
    "LOCK",
    "UNION",
    "EXCEPT",
    "INTERSECT",
}
_LEADING_JUNK = re.compile(r"[\x00-\x20]+")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    start: int
    end: int
    slot: int | None = None  # for ``?`` tokens: the statement's slot number


STAR = object()


def finish_name(name: str) -> str:
    """MariaDB's last touches on a name: no leading blanks, at most 255 bytes."""
    name = _LEADING_JUNK.sub("", name, count=1) if name[:1] <= " " else name
    raw = name.encode("utf-8")
    if len(raw) <= MAX_NAME_BYTES:
        return name
    return raw[:MAX_NAME_BYTES].decode("utf-8", "ignore")


def _tokens(source: str) -> list[_Tok]:
    out: list[_Tok] = []
    slot = 0
    for m in TOKEN.finditer(source):
        kind = m.lastgroup or "other"
        if kind in ("ws", "comment"):
            if kind == "comment" and m.group().startswith("/*!"):
                # A versioned comment is executed by MySQL: its text is code.
                raise _Unsure
            continue
        if kind == "param":
            out.append(_Tok(kind, "?", m.start(), m.end(), slot))
            slot += 1
        else:
            out.append(_Tok(kind, m.group(), m.start(), m.end()))
    return out


class _Unsure(Exception):
    """The text is not a shape this module reads with certainty."""


def _select_start(toks: list[_Tok]) -> int:
    """Index of the ``SELECT`` whose select list names the result: the first token, or
    after a ``WITH`` clause the first one outside parentheses (a first ``UNION``
    branch in parentheses is not read)."""
    if not toks or toks[0].kind != "ident":
        raise _Unsure
    first = toks[0].text.upper()
    if first == "SELECT":
        return 0
    if first != "WITH":
        raise _Unsure
    depth = 0
    for k, t in enumerate(toks):
        if t.kind == "other" and t.text == "(":
            depth += 1
        elif t.kind == "other" and t.text == ")":
            depth -= 1
        elif depth == 0 and t.kind == "ident" and t.text.upper() == "SELECT":
            return k
    raise _Unsure


def _select_list(toks: list[_Tok]) -> list[list[_Tok]]:
    """The tokens of each select item of the statement's (first) ``SELECT``."""
    i = _select_start(toks) + 1
    while i < len(toks) and toks[i].kind == "ident" and toks[i].text.upper() in SELECT_OPTIONS:
        i += 1
    items: list[list[_Tok]] = [[]]
    depth = 0
    for t in toks[i:]:
        if t.kind == "other" and t.text in "({":
            depth += 1
        elif t.kind == "other" and t.text in ")}":
            depth -= 1
            if depth < 0:
                break
        elif depth == 0:
            if t.kind == "ident" and t.text.upper() in _END_WORDS:
                break
            if t.kind == "other" and t.text == ";":
                break
            if t.kind == "other" and t.text == ",":
                items.append([])
                continue
        items[-1].append(t)
    if any(not it for it in items):
        raise _Unsure
    return items


def _unquote_ident(t: _Tok) -> str:
    if t.kind == "bq":
        return t.text[1:-1].replace("``", "`")
    return t.text


def _strip_wrappers(toks: list[_Tok]) -> list[_Tok]:
    """Drop enclosing parentheses and a leading unary ``+`` (they do not rename)."""
    while True:
        if len(toks) >= 2 and toks[0].text == "+" and toks[0].kind == "other":
            toks = toks[1:]
            continue
        if (
            len(toks) >= 3
            and toks[0].kind == "other"
            and toks[0].text == "("
            and toks[-1].kind == "other"
            and toks[-1].text == ")"
            and _encloses(toks)
        ):
            toks = toks[1:-1]
            continue
        return toks


def _encloses(toks: list[_Tok]) -> bool:
    """The first ``(`` matches the last ``)``."""
    depth = 0
    for k, t in enumerate(toks):
        if t.kind == "other" and t.text == "(":
            depth += 1
        elif t.kind == "other" and t.text == ")":
            depth -= 1
            if depth == 0:
                return k == len(toks) - 1
    return False


def _own_name(toks: list[_Tok]) -> OutputColumn | None:
    """The name of an item that names itself (column, literal), else None."""
    core = _strip_wrappers(toks)
    if len(core) == 1:
        t = core[0]
        if t.kind == "ident" and not t.text.startswith("@"):
            word = t.text.upper()
            if word in ("NULL", "TRUE", "FALSE"):
                return OutputColumn(word)
            return OutputColumn(t.text)
        if t.kind == "bq":
            return OutputColumn(_unquote_ident(t))
        if t.kind in ("num", "hex"):
            return OutputColumn(t.text)
    # t.c / db.t.c (each part an identifier or backquoted).
    if len(core) in (3, 5) and all(
        (k % 2 == 0 and t.kind in ("ident", "bq") and not t.text.startswith("@"))
        or (k % 2 == 1 and t.kind == "other" and t.text == ".")
        for k, t in enumerate(core)
    ):
        return OutputColumn(_unquote_ident(core[-1]))
    return _string_literal(core)


def _string_literal(core: list[_Tok]) -> OutputColumn | None:
    """A (possibly introduced, possibly concatenated) string literal: named by its value."""
    if not core:
        return None
    parts: list[str] = []
    slots: list[tuple[int, int]] = []
    rest = core
    first = core[0]
    if first.kind == "ident" and first.text.startswith("_") and len(core) > 1:
        rest = core[1:]  # _utf8mb4 'x'
    elif first.kind == "prefixed":
        if first.text[0] in "xXbB":
            return OutputColumn(first.text) if len(core) == 1 else None
        body = first.text[first.text.index("'") :]
        parts.append(unescape_mysql_string(body))
        rest = core[1:]
    for t in rest:
        if t.kind == "str":
            parts.append(unescape_mysql_string(t.text))
        elif t.kind == "param" and t.slot is not None:
            slots.append((sum(len(p) for p in parts), t.slot))
            parts.append("?")
        else:
            return None
    # A lone ``?`` lands here too: its slot decides at render time (a string literal
    # by value, a number by text, a parameter as ``?``).
    return OutputColumn("".join(parts), tuple(slots), literal=True)


def _text_name(source: str, toks: list[_Tok]) -> OutputColumn:
    start, end = toks[0].start, toks[-1].end
    slots = tuple((t.start - start, t.slot) for t in toks if t.slot is not None)
    return OutputColumn(source[start:end], slots)


def _alias_name(tok: _Tok) -> OutputColumn | None:
    if tok.kind in ("ident", "bq"):
        return OutputColumn(_unquote_ident(tok))
    if tok.kind == "str":
        return OutputColumn(unescape_mysql_string(tok.text))
    if tok.kind == "param" and tok.slot is not None:
        return OutputColumn("?", ((0, tok.slot),), literal=True)
    return None


def source_names(select: exp.Select, source: str) -> list[OutputColumn | object] | None:
    """Per select expression of ``select`` (parsed from ``source``): its MySQL name,
    or :data:`STAR` for ``*``/``t.*``; None when the text cannot be read with
    certainty (the caller keeps its own names)."""
    if not source:
        return None
    try:
        items = _select_list(_tokens(source))
    except _Unsure:
        return None
    if len(items) != len(select.expressions):
        return None
    out: list[OutputColumn | object] = []
    for node, toks in zip(select.expressions, items, strict=True):
        if isinstance(node, exp.Star) or (
            isinstance(node, exp.Column) and isinstance(node.this, exp.Star)
        ):
            out.append(STAR)
            continue
        if isinstance(node, exp.Alias):
            alias = _alias_name(toks[-1])
            if alias is None:
                return None
            out.append(alias)
            continue
        named = _own_name(toks)
        out.append(named if named is not None else _text_name(source, toks))
    return out


def apply_names(
    columns: tuple[OutputColumn, ...] | None,
    names: list[OutputColumn | object] | None,
    star_widths: list[int] | None,
) -> tuple[OutputColumn, ...] | None:
    """``columns`` with every non-star item's name replaced by its source name.

    ``star_widths``: the number of columns each star item expands to, in order.
    Anything that does not line up leaves ``columns`` as they are.
    """
    if columns is None or names is None:
        return columns
    stars = [n for n in names if n is STAR]
    widths = list(star_widths or [])
    if len(widths) != len(stars):
        return columns
    if sum(widths) + len(names) - len(stars) != len(columns):
        return columns
    out: list[OutputColumn] = []
    pos = 0
    for n in names:
        if n is STAR:
            w = widths.pop(0)
            out.extend(columns[pos : pos + w])
            pos += w
        else:
            assert isinstance(n, OutputColumn)
            out.append(n)
            pos += 1
    return tuple(out)
