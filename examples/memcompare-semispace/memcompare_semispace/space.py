"""Object layout and the two semispaces: bump allocation in from-space, pages touched.

Layout: an object takes ``header + payload + 8 × slots`` bytes rounded up to the alignment
(docs/design.md §3 leaves header and rounding to each model). Allocation is a pointer bump in the
current from-space (Fenichel & Yochelson 1969: "allocation proceeds sequentially through the
active semispace"), so which object overflows it is decided by allocation volume alone: a
cumulative sum and one ``searchsorted`` find it, with no per-event loop
(docs/simulator-speed.md §6.3).

Footprint is resident memory: the pages each half has ever been touched up to (its high-water
mark), both halves counted. A fresh process holds nothing; once both halves have been filled,
the footprint is 2 × the semispace — the price of copying collection.

This module decides where objects go and what memory is touched; it does not decide what is
live (cheney.py) nor price anything (costs.py).
"""
from __future__ import annotations

import numpy as np

from memcompare import Output, Trace

PAGE = 4096          # the operating system's page: the unit of resident memory
MiB = 1 << 20


def object_sizes(trace: Trace, header_bytes: int, alignment: int) -> np.ndarray:
    """Bytes each object of ``trace`` takes in a semispace, by object id."""
    raw = header_bytes + trace.obj_bytes
    return ((raw + alignment - 1) // alignment * alignment).astype(np.int64)


def semispace_bytes(heap_mb: float) -> int:
    """One half of a ``heap_mb`` heap, rounded down to whole pages."""
    return int(heap_mb * MiB) // 2 // PAGE * PAGE


def pages(nbytes):
    """Bytes of the pages that ``nbytes`` from the start of a half touch (scalar or array)."""
    return (nbytes + PAGE - 1) // PAGE * PAGE


class Semispaces:
    """Two halves of ``half`` bytes each; ``current`` is the from-space, bumped at ``top``."""

    def __init__(self, half: int, size: np.ndarray, alloc_at: np.ndarray):
        self.half = half
        self.size = size
        self.alloc_at = alloc_at
        # csum[k] = bytes of objects 0..k-1: the bytes between two objects are a subtraction
        self.csum = np.concatenate(([0], np.cumsum(size))).astype(np.int64)
        self.current = 0
        self.top = 0
        self.touched = [0, 0]          # high-water mark of each half, bytes

    def footprint(self) -> int:
        return int(pages(self.touched[0]) + pages(self.touched[1]))

    def fill(self, k: int, out: Output) -> int:
        """Bump-allocate objects ``k, k+1, ...`` until one does not fit; return its id (or
        the number of objects when all fit). Reports the footprint as pages are touched."""
        csum, half, top = self.csum, self.half, self.top
        # first j with top + (csum[j+1] - csum[k]) > half: the object that overflows
        j = int(np.searchsorted(csum, half - top + csum[k], side="right")) - 1
        j = min(j, self.size.shape[0])
        if j > k:
            tops = top + csum[k + 1:j + 1] - csum[k]          # top after each allocation
            mine = pages(np.maximum(tops, self.touched[self.current]))
            other = pages(self.touched[1 - self.current])
            grew = np.flatnonzero(np.diff(mine, prepend=pages(self.touched[self.current])))
            for at, fp in zip(self.alloc_at[k:j][grew].tolist(), (other + mine[grew]).tolist()):
                out.footprint(at, fp)
            self.top = int(tops[-1])
            self.touched[self.current] = max(self.touched[self.current], self.top)
        return j

    def fits(self, k: int) -> bool:
        return self.top + int(self.size[k]) <= self.half

    def flip(self, live_bytes: int) -> None:
        """After a collection: the to-space, holding ``live_bytes``, becomes the from-space."""
        self.current = 1 - self.current
        self.top = live_bytes
        self.touched[self.current] = max(self.touched[self.current], live_bytes)
