"""GROUP_CONCAT merged at the coordinator from the shards' values.

The shards send, per group, one row for each distinct combination of the text of the
arguments (``CONCAT(args…)``, rendered by MariaDB itself, so numbers, dates and ENUMs
read as they would in MariaDB), its bytes (``CAST(… AS BINARY)``: ``'abc'`` and
``'ABC'`` are two elements even where the collation finds them equal), the ORDER BY
keys as values of their own type, and — for ``DISTINCT`` — each argument, with
``COUNT(*)`` as the multiplicity. :class:`ConcatAccumulator` collects the elements of
one group, orders them (the backend's ORDER BY rules: collation, ENUM index, NULLs
first ascending), drops duplicates under each argument's collation (DISTINCT), joins
them with the separator and cuts the result at ``group_concat_max_len`` bytes, on a
character boundary, as MariaDB does.

Warning 1260 ("Row N was cut by GROUP_CONCAT()"): MariaDB counts, per GROUP_CONCAT of
the statement, every element it appends in the groups it evaluates (the cut one
included, none after it); ``N`` is that count when a group is cut.
:class:`ConcatRuntime` keeps the counts of one operator and collects the warnings for
the session. Groups are finished in the order MariaDB evaluates them when every group
is evaluated; where MariaDB skips some (LIMIT/OFFSET without a sort, HAVING on other
aggregates), a cut is refused (``ConcatSpec.refuse_cut``) rather than numbered wrongly.

Memory: one group's elements at a time; elements past the cut are dropped as they
accumulate (without ORDER BY once the result is cut; with ORDER BY by pruning the ones
that sort after the cut), so a group holds about ``group_concat_max_len`` bytes of
elements, however many rows it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sharding.errors import NotSupported
from sharding.merge.semantics import Semantics, SortItem

#: MySQL character sets → Python codecs, for counting a result's bytes.
_CODECS = {
    "utf8mb4": "utf-8",
    "utf8mb3": "utf-8",
    "utf8": "utf-8",
    "latin1": "cp1252",
    "ascii": "ascii",
}


@dataclass(frozen=True, slots=True)
class ConcatSpec:
    """How one GROUP_CONCAT reads its input rows (positions in the merged shard rows)."""

    #: The text of the arguments (NULL when one is NULL: the row is skipped).
    value: int
    #: ``COUNT(*)`` of the shard row (how many source rows it stands for); None: 1.
    count: int | None
    #: ORDER BY keys: (position, descending, collation, ENUM labels).
    order: tuple[tuple[int, bool, str | None, tuple[str, ...] | None], ...] = ()
    #: DISTINCT: the positions and collations of the arguments compared.
    distinct: tuple[tuple[int, str | None], ...] = ()
    separator: str = ","
    #: The result's character set (its length limit counts bytes of it).
    charset: str = "utf8mb4"
    #: A cut cannot be numbered as MariaDB does for this statement: refuse it.
    refuse_cut: str = ""


@dataclass
class ConcatRuntime:
    """Run-time settings and warning counts of the GROUP_CONCATs of one operator."""

    max_len: int = 1048576
    #: (level, code, message) of the statement's warnings (the session shows them).
    warnings: list[tuple[str, int, str]] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)

    def appended(self, item: int, n: int, cut: bool) -> None:
        total = self.counts.get(item, 0) + n
        self.counts[item] = total
        if cut:
            self.warnings.append(("Warning", 1260, f"Row {total} was cut by GROUP_CONCAT()"))


class ConcatAccumulator:
    """One group's GROUP_CONCAT (see module docstring)."""

    __slots__ = (
        "_bytes",
        "_codec",
        "_cut",
        "_distinct",
        "_key",
        "_n",
        "_sem",
        "item",
        "rows",
        "runtime",
        "spec",
    )

    def __init__(self, spec: ConcatSpec, sem: Semantics, runtime: ConcatRuntime, item: int):
        self.spec = spec
        self.item = item
        self._sem = sem
        self.runtime = runtime
        self._codec = _CODECS.get(spec.charset.lower(), "utf-8")
        #: Elements: (order keys…, text, multiplicity).
        self.rows: list[tuple[Any, ...]] = []
        self._bytes = 0
        self._cut = False  # without ORDER BY: the result is cut already, ignore the rest
        n_keys = len(spec.order)
        self._key = (
            sem.sort_key(
                [
                    SortItem(i, desc, None, coll, enum)
                    for i, (_, desc, coll, enum) in enumerate(spec.order)
                ]
            )
            if n_keys
            else None
        )
        self._distinct: dict[Any, None] | None = {} if spec.distinct else None
        self._n = n_keys

    def _length(self, text: Any) -> int:
        if isinstance(text, bytes | bytearray):
            return len(text)
        return len(str(text).encode(self._codec, errors="replace"))

    def add(self, row: tuple[Any, ...]) -> None:
        spec = self.spec
        text = row[spec.value]
        if text is None or self._cut:
            return
        if self._distinct is not None:
            key = tuple(
                self._sem.group_key(row[i], self._sem.collation(c)) for i, c in spec.distinct
            )
            if key in self._distinct:
                return
            self._distinct[key] = None
            mult = 1
        else:
            mult = int(row[spec.count]) if spec.count is not None else 1
            if mult <= 0:
                return
        keys = tuple(row[i] for i, _, _, _ in spec.order)
        self.rows.append((*keys, text, mult))
        sep = self._length(spec.separator)
        self._bytes += mult * (self._length(text) + sep)
        limit = self.runtime.max_len
        if self._bytes > 2 * limit + 1024:
            if self._key is None:
                self._cut = True  # arrival order: nothing later is shown
            else:
                self._prune(limit, sep)

    def _prune(self, limit: int, sep: int) -> None:
        """Keep the elements that sort up to the one crossing ``limit`` (the rest is
        cut off whatever arrives later; DISTINCT keeps its seen keys)."""
        assert self._key is not None
        self.rows.sort(key=self._key)
        total = 0
        kept: list[tuple[Any, ...]] = []
        for r in self.rows:
            kept.append(r)
            total += r[-1] * (self._length(r[-2]) + sep)
            if total > limit:
                break
        self.rows = kept
        self._bytes = total

    def result(self) -> Any:
        rows = self.rows
        if not rows:
            return None
        if self._key is not None:
            rows.sort(key=self._key)
        spec = self.spec
        binary = isinstance(rows[0][-2], bytes | bytearray)
        sep: Any = spec.separator.encode(self._codec) if binary else spec.separator
        limit = self.runtime.max_len
        parts: list[Any] = []
        size = 0
        n = 0
        cut = False
        sep_len = self._length(spec.separator)
        for r in rows:
            text = r[-2]
            if binary and isinstance(text, str):
                text = text.encode(self._codec)
            elif not binary and isinstance(text, bytes | bytearray):
                text = bytes(text).decode(self._codec, errors="replace")
            length = self._length(text)
            for _ in range(r[-1]):
                if n:
                    parts.append(sep)
                    size += sep_len
                parts.append(text)
                size += length
                n += 1
                if size > limit:
                    cut = True
                    break
            if cut:
                break
        if cut and spec.refuse_cut:
            raise NotSupported(
                f"GROUP_CONCAT() cut by group_concat_max_len {spec.refuse_cut} over several "
                "shards (MariaDB's warning numbering is not reproduced there)"
            )
        self.runtime.appended(self.item, n, cut)
        out: Any = (b"" if binary else "").join(parts)
        if cut:
            out = self._truncate(out, limit)
        return out

    def _truncate(self, out: Any, limit: int) -> Any:
        """The first ``limit`` bytes, without a partial character (MariaDB)."""
        if isinstance(out, bytes):
            return out[:limit]
        data = out.encode(self._codec, errors="replace")[:limit]
        return data.decode(self._codec, errors="ignore")
