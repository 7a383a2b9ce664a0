"""The set of seqs a glidein has had stored, as sorted disjoint closed ranges.

Pilots number records consecutively, so a glidein's set is nearly always one range:
deduplicating a batch costs one comparison instead of an index lookup per record.
"""

from __future__ import annotations

import bisect
from array import array

__all__ = ["SeenSet"]


class SeenSet:
    """Sorted disjoint ranges `[lo, hi]` of seqs already stored."""

    __slots__ = ("his", "los")

    def __init__(self, los: list[int] | None = None, his: list[int] | None = None) -> None:
        self.los: list[int] = los or []
        self.his: list[int] = his or []

    def copy(self) -> SeenSet:
        """An independent copy (for undo on a failed commit)."""
        return SeenSet(self.los.copy(), self.his.copy())

    def __contains__(self, seq: int) -> bool:
        i = bisect.bisect_right(self.los, seq) - 1
        return i >= 0 and seq <= self.his[i]

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in zip(self.los, self.his, strict=True))

    @property
    def top(self) -> int:
        """The highest seq stored, -1 when none."""
        return self.his[-1] if self.his else -1

    def add(self, seq: int) -> None:
        """Add one seq, merging neighbouring ranges."""
        los, his = self.los, self.his
        if his and seq == his[-1] + 1:  # the common case: the next seq
            his[-1] = seq
            return
        i = bisect.bisect_right(los, seq) - 1
        if i >= 0 and seq <= his[i]:
            return
        joins_left = i >= 0 and his[i] == seq - 1
        joins_right = i + 1 < len(los) and los[i + 1] == seq + 1
        if joins_left and joins_right:
            his[i] = his[i + 1]
            del los[i + 1], his[i + 1]
        elif joins_left:
            his[i] = seq
        elif joins_right:
            los[i + 1] = seq
        else:
            los.insert(i + 1, seq)
            his.insert(i + 1, seq)

    def add_run(self, first: int, last: int) -> None:
        """Add `first..last` that lies wholly above `top` (the fast path)."""
        if self.his and first == self.his[-1] + 1:
            self.his[-1] = last
        else:
            self.los.append(first)
            self.his.append(last)

    def pack(self) -> bytes:
        """Bytes for the database."""
        flat = array("q")
        for lo, hi in zip(self.los, self.his, strict=True):
            flat.append(lo)
            flat.append(hi)
        return flat.tobytes()

    @classmethod
    def unpack(cls, data: bytes | None) -> SeenSet:
        """The inverse of `pack`."""
        flat = array("q")
        if data:
            flat.frombytes(data)
        return cls(list(flat[0::2]), list(flat[1::2]))
