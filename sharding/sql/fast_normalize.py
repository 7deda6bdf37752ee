""":func:`sharding.sql.lexer.normalize` for plain statements, without a Python step per
token (issue 16: the plan-cache key of a text point query).

``normalize`` walks every token of the statement in Python; a point query like
``SELECT c FROM sbtest1 WHERE id = 5123`` is a dozen tokens and one literal, and the
walk was the most expensive step of its plan-cache hit. Here one regular expression
consumes each run of tokens that ``normalize`` copies unchanged (white space,
identifiers, ``0x``/``0b`` numbers, punctuation) and stops at the next number or
``?``, so Python runs once per literal instead of once per token.

Exactness: the result is the very :class:`~sharding.sql.lexer.Normalized` that
``normalize`` returns, or None (the caller then uses ``normalize``). The fast path
takes only ASCII statements without quotes, backticks, comments or ``#`` — so of the
lexer's token kinds only ``ws``, ``hex``, ``num``, ``ident``, ``param`` and ``other``
can occur — and tries those kinds at each position in the lexer's own order: a token
is copied only where ``num`` (which the lexer tries before ``ident`` and ``other``)
does not match, a token once taken is never shortened (no backtracking into an
identifier to find a number in it), and a run never swallows a ``?``. A number right after a ``.``
token stays in the text, as in ``normalize`` (``t.1``). The equivalence is checked
against ``normalize`` on the test corpus and on generated statements
(``tests/sharding/test_fast_normalize.py``).
"""

from __future__ import annotations

import re

from sharding.sql.lexer import Normalized, Slot, literal_value

__all__ = ["fast_normalize"]

#: The lexer's ``num`` token.
_NUM = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w$])"

#: A run of tokens normalize copies, then a literal (a number or ``?``) or the end of
#: the text. The loop is possessive: a token once taken is never shortened to let a
#: number match inside it (``abc1`` is one identifier, as in the lexer).
_PIECE = re.compile(
    rf"""
    (?P<run>(?:
        \s+                                   # ws
      | [A-Za-z_$@][\w$@]*                    # ident
      | [^\w\s?$@.]                           # other (never the start of a number)
      | 0[xX][0-9a-fA-F]+|0[bB][01]+          # hex (tried before num, as the lexer)
      | (?!{_NUM})\d+[A-Za-z_$][\w$]*         # ident starting with digits, where num fails
      | (?!{_NUM})\.                           # other: a '.' where no number starts
    )*+)
    (?:(?P<num>{_NUM})|(?P<param>\?)|\Z)
    """,
    re.VERBOSE,
)
_FIRST_WORD = re.compile(r"\s*+([A-Za-z_][\w$@]*+)")
#: Text that may hold a token kind the fast path does not handle (strings, quoted
#: names, comments).
_UNHANDLED = ("'", '"', "`", "#", "--", "/*")


def fast_normalize(sql: str) -> Normalized | None:
    """``normalize(sql)`` for a plain ASCII statement that starts with a word; None for
    any other text (the caller falls back to ``normalize``)."""
    if not sql.isascii():
        return None
    for mark in _UNHANDLED:
        if mark in sql:
            return None
    first = _FIRST_WORD.match(sql)
    if first is None:
        return None
    keyword = first.group(1).upper()
    out: list[str] = []
    slots: list[Slot] = []
    length = 0
    params = 0
    pos = 0
    end = len(sql)
    match = _PIECE.match
    while pos < end:
        m = match(sql, pos)
        if m is None:
            return None  # a character no run takes (cannot happen for the texts let in)
        run, num, param = m.group(1, 2, 3)
        if run:
            out.append(run)
            length += len(run)
        if num is not None:
            if run.rstrip().endswith("."):
                # A number right after a '.' token is part of a name (``t.1``).
                out.append(num)
                length += len(num)
            else:
                slots.append(Slot(length, None, num, literal_value(num)))
                out.append("?")
                length += 1
        elif param is not None:
            slots.append(Slot(length, params))
            params += 1
            out.append("?")
            length += 1
        pos = m.end()
    return Normalized("".join(out), tuple(slots), keyword, params)
