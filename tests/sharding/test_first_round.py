"""The first round of an unbounded read (sharding.exec.first_round), on in-memory sources.

On MariaDB: tests/backend_mysql/test_source_stage.py (same rows with the stage on and
off, every row crossing once, cancellation) and the differential corpus."""

from __future__ import annotations

from typing import Any

import trio

from sharding.exec.first_round import FirstRound, FirstRoundSource
from sharding.merge.types import BATCH_ROWS, ListSource


class _Source(ListSource):
    """A list source that records being closed."""

    def __init__(self, rows: list[tuple[Any, ...]], chunk: int = 2) -> None:
        super().__init__(rows, chunk)
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def _round(
    shards: list[list[tuple[int]]], chunk: int, counted: list[str]
) -> tuple[FirstRound, list[_Source]]:
    """The merged first chunk of ``shards`` (each sorted): the shards' first ``chunk``
    rows each, merged, cut at ``chunk``; ``counted`` records its warnings being counted
    ("whole") or the shards being read again ("again")."""
    merged = sorted(r for rows in shards for r in rows[:chunk])[:chunk]
    made: list[_Source] = []

    def continuation() -> list[Any]:
        counted.append("again")
        made.extend(_Source(rows) for rows in shards)
        return [lambda s=s: s for s in made]

    first = ListSource(merged, chunk=len(merged) or 1)
    fr = FirstRound(first, chunk, continuation, lambda: counted.append("whole"))  # type: ignore[arg-type]
    return fr, made


async def _drain(source: FirstRoundSource) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    while (chunk := await source.next_chunk()) is not None:
        out.extend(chunk)
    return out


def test_a_full_first_chunk_is_dropped_and_each_shard_read_from_its_start() -> None:
    shards = [[(1,), (4,), (7,), (9,)], [(2,), (3,), (8,)], [(5,), (6,)]]
    counted: list[str] = []

    async def main() -> list[tuple[Any, ...]]:
        return await _drain(FirstRoundSource(_round(shards, 3, counted)[0], lambda r: r[0]))

    # Each row once, in order; the first chunk's rows (and warnings) not counted twice.
    assert trio.run(main) == [(i,) for i in range(1, 10)]
    assert counted == ["again"]


def test_a_short_first_chunk_is_the_whole_read() -> None:
    shards = [[(1,), (4,)], [(2,)]]
    counted: list[str] = []

    async def main() -> list[tuple[Any, ...]]:
        return await _drain(FirstRoundSource(_round(shards, 5, counted)[0], lambda r: r[0]))

    assert trio.run(main) == [(1,), (2,), (4,)]
    assert counted == ["whole"]  # its warnings count; nothing read again


def test_closing_early_closes_the_shard_streams() -> None:
    shards = [[(i,) for i in range(k, 4 * BATCH_ROWS, 2)] for k in (0, 1)]
    counted: list[str] = []
    fr, made = _round(shards, 2, counted)

    async def main() -> None:
        source = FirstRoundSource(fr, lambda r: r[0])
        chunk = await source.next_chunk()  # from the shard streams, merged
        assert chunk is not None and chunk[:3] == [(0,), (1,), (2,)]
        assert [s.closed for s in made] == [False, False]  # rows left in both
        await source.aclose()

    trio.run(main)
    assert counted == ["again"]
    assert [s.closed for s in made] == [True, True]
