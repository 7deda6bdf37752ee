"""Per-shard SQL as a template: rendered once, filled per shard by string joins.

Rendering a sqlglot tree costs hundreds of microseconds; a 1024-shard scatter would
pay that 1024 times. Instead the planner renders the shard statement once, for the
data source's dialect, with *markers* where the physical table names, the statement's
parameters and the keyset continuation go, and :func:`compile_template` splits the
text at the markers. Filling is then a ``str.join`` over a handful of pieces
(about a microsecond per shard).

Markers are identifiers carrying a per-process random tag, so they cannot collide
with user text (string literals reach the template only as parameter markers, or — on
the uncached path — verbatim, where a collision would need the random tag).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TAG = secrets.token_hex(4)
TABLE_PREFIX = f"sgt{TAG}x"
PARAM_PREFIX = f"sgp{TAG}x"
KEYSET_MARK = f"sgk{TAG}x"
_SPLIT = re.compile(rf"({TABLE_PREFIX}\d+|{PARAM_PREFIX}\d+|{KEYSET_MARK})")

#: Hole kinds.
TABLE, PARAM, KEYSET = 0, 1, 2


def table_marker(k: int) -> str:
    return f"{TABLE_PREFIX}{k}"


def param_marker(slot: int) -> str:
    return f"{PARAM_PREFIX}{slot}"


@dataclass(frozen=True, slots=True)
class Template:
    """Text pieces with holes between them: ``pieces[0] hole0 pieces[1] hole1 …``."""

    pieces: tuple[str, ...]
    holes: tuple[tuple[int, int], ...]  # (kind, index)

    def bind(
        self, params: Sequence[str], per_shard: Mapping[int, int] | None = None
    ) -> ShardTemplate:
        """Fill the parameter holes (SQL literals by slot), keep table/keyset holes.
        A slot of ``per_shard`` stays a hole too, filled like a table name from the
        target's ``names`` at the index given (a folded IN list cut per shard:
        :mod:`sharding.exec.key_lists`)."""
        # Pieces of the current part are joined once: ``part += ...`` per parameter
        # would copy the growing text each time (quadratic in a 100k-value IN list).
        parts: list[str] = []
        current: list[str] = [self.pieces[0]]
        holes: list[int] = []
        for (kind, index), piece in zip(self.holes, self.pieces[1:], strict=True):
            if kind == PARAM and (per_shard is None or index not in per_shard):
                current.append(params[index])
                current.append(piece)
            else:
                if kind == PARAM:
                    assert per_shard is not None
                    holes.append(per_shard[index])
                else:
                    holes.append(index if kind == TABLE else -1)
                parts.append("".join(current))
                current = [piece]
        parts.append("".join(current))
        return ShardTemplate(tuple(parts), tuple(holes))

    @property
    def text(self) -> str:
        """The template with markers, for EXPLAIN and debugging."""
        out = [self.pieces[0]]
        for (kind, index), piece in zip(self.holes, self.pieces[1:], strict=True):
            out.append({TABLE: f"<table{index}>", PARAM: f"<?{index}>", KEYSET: "<keyset>"}[kind])
            out.append(piece)
        return "".join(out)

    @property
    def has_keyset(self) -> bool:
        return any(kind == KEYSET for kind, _ in self.holes)


@dataclass(frozen=True, slots=True)
class ShardTemplate:
    """A template with parameters bound; :meth:`fill` gives one shard's SQL."""

    parts: tuple[str, ...]
    holes: tuple[int, ...]  # table index, or -1 for the keyset hole

    def fill(self, names: Sequence[str], keyset: str = "1") -> str:
        parts = self.parts
        if not self.holes:
            return parts[0]
        out = [parts[0]]
        for h, piece in zip(self.holes, parts[1:], strict=True):
            out.append(names[h] if h >= 0 else keyset)
            out.append(piece)
        return "".join(out)


def compile_template(text: str) -> Template:
    """Split rendered SQL at its markers."""
    pieces = _SPLIT.split(text)
    texts = pieces[0::2]
    holes: list[tuple[int, int]] = []
    for marker in pieces[1::2]:
        if marker.startswith(TABLE_PREFIX):
            holes.append((TABLE, int(marker[len(TABLE_PREFIX) :])))
        elif marker.startswith(PARAM_PREFIX):
            holes.append((PARAM, int(marker[len(PARAM_PREFIX) :])))
        else:
            holes.append((KEYSET, 0))
    return Template(tuple(texts), tuple(holes))
