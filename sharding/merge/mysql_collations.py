"""MariaDB/MySQL collations as Python sort keys, from weights measured on a server.

A collation function maps a string to a *key*: two strings compare (and group) in the
coordinator's merge exactly as the server compares them when their keys compare. The
weights are not guessed from Python's ``casefold``/``lower``: they were measured with
``WEIGHT_STRING`` on MariaDB (``tests/backend_mysql/collations.py`` regenerates
:mod:`sharding.merge.mysql_collation_data`; ``test_collations`` re-measures and
compares against the live server).

Measured facts this module relies on (MariaDB 10.11):

* ``utf8mb4_general_ci``: one 16-bit weight per BMP character (ASCII letters weigh as
  their upper case, ``ä`` as ``A``, ``ß`` as ``S``); every supplementary character
  weighs ``0xFFFD``.
* ``utf8mb4_unicode_ci`` (UCA 4.0.0): zero to eight weights per character (``ß`` →
  ``ss``; control characters are ignorable); no contractions — a string's weights are
  its characters' weights concatenated (checked on 20 000 random strings); every
  supplementary character weighs ``0xFFFD``.
* ``utf8mb4_bin``: the code point.
* PAD SPACE (every collation above; not the ``_nopad_`` ones): the shorter string is
  compared as if padded with spaces. So ``'a' = 'a '``, and ``'a\\t' < 'a'`` because
  a tab weighs less than a space.
* NO PAD collations disagree with themselves about trailing zero weights (``\\x00``):
  ``'a\\x00' > 'a'`` and GROUP BY keeps them apart, but ``ORDER BY`` (filesort pads
  its sort keys with zeros) sorts them as equal. Their keys order like ``ORDER BY``
  (what every shard sends) and group like ``GROUP BY``: a :class:`NoPadKey`.

Keys are ``str`` whose code points are the weights, trailing space weights removed:
Python's string order is then the collation's order — except for a string with a
weight *below* the space weight somewhere after a prefix the other string ends at
(``'a\\t'`` against ``'a'``). Such keys (control characters; rare) are wrapped in
:class:`PadKey`, which compares with the exact PAD SPACE rule; plain keys and
``PadKey`` compare with each other correctly, and equal keys hash alike.
"""

from __future__ import annotations

import base64
import lzma
import re
from collections.abc import Callable, Collection
from functools import cache
from typing import Any

_SUPPLEMENTARY = re.compile("[\U00010000-\U0010ffff]")


class PadKey:
    """A PAD SPACE key containing weights below the space weight (see module doc)."""

    __slots__ = ("k", "space")

    def __init__(self, k: str, space: str) -> None:
        self.k = k
        self.space = space

    def _cmp(self, other: object) -> int:
        if isinstance(other, PadKey):
            b = other.k
        elif isinstance(other, str):
            b = other
        else:
            return NotImplemented  # type: ignore[no-any-return]
        return pad_compare(self.k, b, self.space)

    def __lt__(self, other: object) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: object) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: object) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: object) -> bool:
        return self._cmp(other) >= 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PadKey):
            return self.k == other.k
        return isinstance(other, str) and self.k == other

    def __hash__(self) -> int:
        return hash(self.k)

    def __repr__(self) -> str:
        return f"PadKey({self.k!r})"


def pad_compare(a: str, b: str, space: str) -> int:
    """Three-way PAD SPACE comparison of two weight strings without trailing spaces."""
    n = min(len(a), len(b))
    if a[:n] != b[:n]:
        return -1 if a[:n] < b[:n] else 1
    if len(a) == len(b):
        return 0
    longer, sign = (a, 1) if len(a) > len(b) else (b, -1)
    rest = longer[n:].lstrip(space)
    # ``rest`` is not empty: keys carry no trailing spaces.
    return sign if rest[0] > space else -sign


class NoPadKey(str):
    """A NO PAD key ending in zero weights: orders as its text without them (like
    ``ORDER BY``); ``full`` keeps them for grouping (like ``GROUP BY``)."""

    __slots__ = ("full",)
    full: str


def _nopad_key(k: str) -> str:
    if not k.endswith("\x00"):
        return k
    key = NoPadKey(k.rstrip("\x00"))
    key.full = k
    return key


def _pad_key(k: str, space: str, below: re.Pattern[str]) -> str | PadKey:
    k = k.rstrip(space)
    return PadKey(k, space) if below.search(k) else k


@cache
def _table(name: str) -> tuple[dict[int, str], str]:
    """Decode a measured table: code point → weight string, and the space weight."""
    from sharding.merge import mysql_collation_data as data

    packed = lzma.decompress(base64.b85decode("".join(getattr(data, name))))
    table: dict[int, str] = {}
    pos = 0
    for cp in range(0x10000):
        n = packed[pos]
        pos += 1
        if n == 0xFF:
            continue
        weights = "".join(
            chr(int.from_bytes(packed[pos + 2 * i : pos + 2 * i + 2], "big")) for i in range(n)
        )
        pos += 2 * n
        if weights != chr(cp):
            table[cp] = weights
    space = table.get(0x20, " ")
    return table, space


def _weights(s: str, table: dict[int, str]) -> str:
    """The weight string of ``s``: BMP characters through the table, and every
    supplementary character (the table has none; weights are 16-bit) as 0xFFFD."""
    k = s.translate(table)
    return _SUPPLEMENTARY.sub("\ufffd", k) if _SUPPLEMENTARY.search(k) else k


def general_ci(*, pad: bool = True) -> Callable[[str], Any]:
    """``utf8mb4_general_ci`` (``pad=False``: ``utf8mb4_general_nopad_ci``)."""
    below = _below(" ").search

    def key(s: str) -> Any:
        # ASCII weighs as its upper case (measured); skips the table for most text.
        k = s.upper() if s.isascii() else _weights(s, _table("GENERAL_CI")[0])
        # What _pad_key does, inline: this runs once per row and text sort column.
        k = k.rstrip(" ")
        return PadKey(k, " ") if below(k) else k

    def key_nopad(s: str) -> Any:
        k = s.upper() if s.isascii() else _weights(s, _table("GENERAL_CI")[0])
        return _nopad_key(k)

    return key if pad else key_nopad


def unicode_ci(*, pad: bool = True) -> Callable[[str], Any]:
    """``utf8mb4_unicode_ci`` (``pad=False``: ``utf8mb4_unicode_nopad_ci``)."""

    def key(s: str) -> Any:
        table, space = _table("UNICODE_CI")
        k = _weights(s, table)
        return _pad_key(k, space, _below(space)) if pad else _nopad_key(k)

    return key


@cache
def _below(space: str) -> re.Pattern[str]:
    """Matches a weight lower than the space weight."""
    return re.compile(f"[\x00-{re.escape(chr(ord(space) - 1))}]")


def binary_pad() -> Callable[[str], Any]:
    """``utf8mb4_bin``: code point order, PAD SPACE."""
    below = _below(" ")
    return lambda s: _pad_key(s, " ", below)


def binary_nopad(s: str) -> str:
    """``utf8mb4_nopad_bin``: code point order (trailing NULs: see :class:`NoPadKey`)."""
    return _nopad_key(s)


def like_fold(name: str) -> Callable[[str], str] | None:
    """How ``LIKE`` under the collation ``name`` compares characters: one by one,
    each folded to its weight (``general_ci``: case and accents; the binary ones
    exactly: None). ``unicode_ci`` weighs some characters as several and MySQL's
    ``LIKE`` then compares them differently from a regular expression over the
    folded text: a clear 1235 (NotSupported), never a guess."""
    lowered = name.lower()
    if lowered == "binary" or lowered.endswith("_bin"):
        return None
    if lowered.endswith(("_general_ci", "_general_nopad_ci")):
        return _general_fold
    from sharding.errors import NotSupported

    raise NotSupported(f"LIKE under the collation {name} over merged rows of several shards")


def _general_fold(s: str) -> str:
    """``utf8mb4_general_ci``'s weight of each character (one per character)."""
    if s.isascii():
        return s.upper()
    table = _table("GENERAL_CI")[0]
    # Beyond the BMP every character weighs 0xFFFD (as in :func:`_weights`).
    return "".join("\ufffd" if ord(c) > 0xFFFF else (table.get(ord(c), c)[:1] or c) for c in s)


def implicit_coercion(collations: Collection[str]) -> str | None:
    """The collation MySQL compares strings of these column collations (implicit
    derivation, one character set) with: the one, or of two the binary one
    (``general_ci_col = bin_col`` compares exactly, measured on MariaDB 10.11); None
    for any other set — MySQL's error 1267 (:func:`illegal_mix`)."""
    names = set(collations)
    if len(names) == 1:
        return next(iter(names))
    binary = [c for c in names if c.endswith("_bin") or c == "binary"]
    return binary[0] if len(names) == 2 and len(binary) == 1 else None


def illegal_mix(left: str, right: str, operation: str = "=") -> Exception:
    """MySQL's error 1267 for two implicit collations it cannot coerce."""
    from sharding.errors import ShardgateError

    return ShardgateError(
        f"Illegal mix of collations ({left},IMPLICIT) and ({right},IMPLICIT) for operation "
        f"'{operation}'",
        code=1267,
        sqlstate="HY000",
    )
