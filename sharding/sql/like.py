"""MySQL's ``LIKE`` pattern as a regular expression: the one translation of the
pattern language, used by the coordinator's own answers (``SHOW … LIKE``,
:func:`sharding.session_answers.like_to_regex`) and by the SQLite shards' registered
``LIKE`` (:mod:`sharding.backend.sqlite_mysql`), which differ only in how characters
compare (a case-insensitive regex there, the collation's folding here).

Rules (MariaDB 10.11): ``%`` matches any run of characters, ``_`` any one character;
the escape character (a backslash unless an ``ESCAPE`` clause names another; none when
it is empty) makes the next character literal (``\\_``, ``\\%``, ``\\\\``); an escape
character at the end of the pattern is itself (``'a\\' LIKE 'a\\'`` is 1). The
expression is anchored at the end; callers ``match`` it (anchored at the start).
"""

from __future__ import annotations

import re
from collections.abc import Callable


def like_source(pattern: str, escape: str = "\\", fold: Callable[[str], str] | None = None) -> str:
    """The regex source of ``pattern``; ``fold`` maps each literal character to the
    form the matched text is folded to (None: as written)."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == escape and escape and i + 1 < n:
            nxt = pattern[i + 1]
            out.append(re.escape(fold(nxt) if fold else nxt))
            i += 2
            continue
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        else:
            out.append(re.escape(fold(c) if fold else c))
        i += 1
    return "".join(out) + r"\Z"
