"""sharding.weak_memo: values kept per object, held weakly, bounded at both levels."""

from __future__ import annotations

import gc

from sharding.weak_memo import WeakMemo


class _Read:
    """Unhashable, like a plan's dataclasses."""

    __hash__ = None  # type: ignore[assignment]


def test_values_are_kept_per_object_and_go_with_it() -> None:
    memo: WeakMemo[str] = WeakMemo(size=8, per_object=4)
    a, b = _Read(), _Read()
    memo.put(a, 1, "a1")
    memo.put(b, 1, "b1")
    assert memo.get(a, 1) == "a1" and memo.get(b, 1) == "b1" and memo.get(a, 2) is None
    assert memo.holds(a) and len(memo) == 2
    del a
    gc.collect()
    assert len(memo) == 1 and memo.get(b, 1) == "b1"


def test_a_reused_id_never_sees_the_old_objects_values() -> None:
    memo: WeakMemo[str] = WeakMemo(size=8, per_object=4)
    a = _Read()
    memo.put(a, 1, "old")
    # Another object under the same id (as after the first one was freed): the entry's
    # reference is checked, so nothing is found and a put replaces the entry.
    ident = id(a)
    stale = memo._entries[ident]
    other = _Read()
    memo._entries[id(other)] = stale
    assert memo.get(other, 1) is None and not memo.holds(other)
    memo.put(other, 2, "new")
    assert memo.get(other, 2) == "new" and memo.get(other, 1) is None


def test_both_levels_are_bounded() -> None:
    keep: WeakMemo[int] = WeakMemo(size=2, per_object=2)
    evict: WeakMemo[int] = WeakMemo(size=2, per_object=2, evict=True)
    reads = [_Read() for _ in range(3)]
    for memo in (keep, evict):
        for k in range(3):
            memo.put(reads[0], k, k)
        memo.put(reads[0], 0, 10)  # a known key is always replaced
    assert [keep.get(reads[0], k) for k in range(3)] == [10, 1, None]  # the third not kept
    assert [evict.get(reads[0], k) for k in range(3)] == [10, None, 2]  # emptied for it
    keep.put(reads[1], 0, 0)
    keep.put(reads[2], 0, 0)  # a third object: all forgotten at once
    assert len(keep) == 1 and keep.get(reads[0], 0) is None and keep.get(reads[2], 0) == 0
    keep.clear()
    assert len(keep) == 0
