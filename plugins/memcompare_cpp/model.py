"""The ``cpp`` model: the replay loop and parameters of C++ new/delete over glibc malloc.

``new`` is ``malloc(payload + 8 × slots)`` and ``delete`` is ``free`` (libstdc++'s operator
new/delete forward to them; docs/runtimes.md §4). Every rule of the allocator lives in
malloc.py; this module lowers the trace with numpy, runs one plain loop over the ALLOC and FREE
events with the tcache fast paths inline (docs/simulator-speed.md §6.4), and hands the
engine what happened. It computes no metric.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Literal

import numpy as np

from memcompare import Model, Output, Trace, param
from memcompare.trace import ALLOC, FREE

from . import ownership
from .costs import Costs
from .ownership import make_shared_request
from .pools import BumpHeap, GlibcHeap, PoolHeap, RegionHeap
from .malloc import (DEFAULT_MMAP_THRESHOLD_MAX, MALLOC_ALIGN_MASK, MAX_FAST_SIZE,
                     MAX_TCACHE_SIZE, MINSIZE, SIZE_SZ, Arena)

#: ALLOC/FREE events the replay loop turns into Python ints at a time
STREAM_CHUNK = 1 << 16
#: events (objects) the lowering reads at a time: its temporaries stay a few MB at any trace
#: length, rather than several arrays of bytes per event, each fresh memory at 10⁸ events
LOWER_CHUNK = 1 << 20


@dataclass(frozen=True)
class Params:
    """glibc malloc tunables (mallopt / GLIBC_TUNABLES), defaults of glibc 2.36 on x86-64."""

    tcache_count: int = param(
        7, "chunks per tcache bin (glibc.malloc.tcache_count; TCACHE_FILL_COUNT = 7); "
           "0 disables the tcache", minimum=0, maximum=65535)
    tcache_max_bytes: int = param(
        1032, "largest request the tcache holds (glibc.malloc.tcache_max; 64 bins up to "
              "1032 B = chunks up to 1040 B)", minimum=0, maximum=MAX_TCACHE_SIZE)
    max_fast: int = param(
        128, "largest request served by fastbins (M_MXFAST; DEFAULT_MXFAST = 64 * SIZE_SZ / 4 "
             "= 128 B); 0 disables fastbins", minimum=0, maximum=MAX_FAST_SIZE)
    mmap_threshold: int = param(
        131072, "chunk size from which sysmalloc maps a chunk of its own instead of growing "
                "the heap (M_MMAP_THRESHOLD; DEFAULT_MMAP_THRESHOLD_MIN = 128 KiB)",
        minimum=0, maximum=DEFAULT_MMAP_THRESHOLD_MAX)
    trim_threshold: int = param(
        131072, "free top-chunk bytes that make free() shrink the heap with a negative sbrk "
                "(M_TRIM_THRESHOLD; DEFAULT_TRIM_THRESHOLD = 128 KiB)", minimum=0)
    top_pad: int = param(
        131072, "extra bytes every brk growth asks for and every trim keeps (M_TOP_PAD; glibc "
                "DEFAULT_TOP_PAD = 128 KiB: the first sbrk of a C program is 135168 B)",
        minimum=0)
    mmap_max: int = param(
        65536, "most chunks mmapped at once; beyond it large requests grow the heap "
               "(M_MMAP_MAX; DEFAULT_MMAP_MAX = 65536)", minimum=0)
    dynamic_threshold: bool = param(
        True, "freeing an mmapped chunk raises mmap_threshold to its size and trim_threshold "
              "to twice that (__libc_free); glibc turns this off when a program sets any of "
              "the four thresholds above through mallopt or tunables")
    allocator: Literal["glibc", "bump", "pool", "arena"] = param(
        "glibc", "glibc = new/delete over glibc malloc; bump = a never-freeing bump allocator "
                 "over memory made resident beforehand (delete does nothing): the "
                 "collector-off baseline of cpp-native's memory-management time; pool = a "
                 "boost::pool per 8-byte size class (boost/pool/pool.hpp): a LIFO free list "
                 "that keeps freed chunks for its class forever, grown by malloc'd blocks of "
                 "32, 64, 128, ... chunks; arena = bump allocation in malloc'd regions of "
                 "region_kb, a region freed once every object in it is dead (Hanson 1990)")
    pool_max_bytes: int = param(
        1024, "allocator = \"pool\": the largest request a pool serves; larger ones go to "
              "malloc (an object pool holds the small, numerous objects; assumption: the "
              "tcache's 1 KiB reach)", minimum=1)
    region_kb: int = param(
        64, "allocator = \"arena\": the size of each region taken from malloc, in KiB; an "
            "object larger than a region gets one of its own (assumption: a typical region "
            "allocator's block)", minimum=1, maximum=1 << 20)
    ownership: Literal["raw", "shared_ptr"] = param(
        "raw", "raw = the trace's FREE is `delete`; shared_ptr = every object is made with "
               "std::make_shared (a 16-byte control block before it, its slots 16-byte "
               "shared_ptrs) and every reference is a shared_ptr: a copy increments the count, "
               "an overwrite or CLEAR decrements it, zero destroys the object and releases its "
               "slots (a cascade), FREE is only a CLEAR, and unreachable cycles leak "
               "(libstdc++ 12 bits/shared_ptr_base.h)")
    atomic_counts: bool = param(
        True, "ownership = \"shared_ptr\": the program has started a thread, so libstdc++ "
              "counts with locked instructions; false = a single-threaded process, plain "
              "increments (ext/atomicity.h __is_single_threaded reads glibc's "
              "__libc_single_threaded)")


def _request2size(req: np.ndarray) -> np.ndarray:
    """malloc.c request2size over an array (the scalar rule is malloc.request2size)."""
    return np.maximum(MINSIZE, (req + SIZE_SZ + MALLOC_ALIGN_MASK) & ~MALLOC_ALIGN_MASK)


def _heap_stream(trace: Trace, local: np.ndarray):
    """The ALLOC and FREE events of heap objects (``local`` objects are C++ automatic
    variables: on the stack, no malloc, no free), :data:`LOWER_CHUNK` events at a time: for
    each chunk, their event indices (int64), whether each is an ALLOC, and the object."""
    op, x = trace.op, trace.x
    for lo in range(0, trace.events, LOWER_CHUNK):
        seg = op[lo:lo + LOWER_CHUNK]
        at = np.flatnonzero((seg == ALLOC) | (seg == FREE))
        obj = x[lo:lo + LOWER_CHUNK][at]
        heap = ~local[obj]
        at, obj = at[heap], obj[heap]
        yield at + lo, seg[at] == ALLOC, obj


class CppModel(Model):
    """C++ new/delete over glibc malloc (ptmalloc2): tcache, fastbins, bins, brk and mmap.

    After :meth:`run`, ``addresses[o]`` and ``chunk_sizes[o]`` are object ``o``'s chunk (its
    start, not malloc's result 16 bytes on; mmapped chunks at ``malloc.MMAP_BASE`` and above)
    and ``arena`` is the allocator's final state — for tests and inspection; a local object's
    entries are meaningless.
    """

    name = "cpp"
    Params = Params
    Costs = Costs
    #: ownership = "shared_ptr": a dead cycle of shared_ptrs is never destroyed (new/delete
    #: frees whatever the trace deletes: tests/test_cpp.py holds that mode to no leak)
    can_leak_cycles = True

    @property
    def addresses(self) -> list[int]:
        """Each object's chunk address after :meth:`run` (glibc allocator), as a list."""
        return self._addresses.tolist()

    @property
    def chunk_sizes(self) -> list[int]:
        """Each object's chunk size after :meth:`run` (glibc allocator), as a list."""
        return self._chunk_sizes.tolist()

    def run(self, trace: Trace, out: Output) -> None:
        self._mode = None
        if self.params.ownership == "shared_ptr":
            return self._run_owned(trace, out)
        if self.params.allocator == "bump":
            return self._run_bump(trace, out)
        if self.params.allocator != "glibc":
            return self._run_heap(trace, out)
        c = self.costs
        n_obj = trace.objects
        local = trace.obj_local
        op = trace.op
        self._local = local
        self._free_at = trace.obj_free_at

        out.footprint(0, 0)
        arena = Arena(self.params, c, out.fp_at, out.fp_bytes)
        self.arena = arena
        # each object's chunk size (differs from nb only when the slow path hands out a whole
        # free chunk or an mmapped one) and address: typed arrays, 8 bytes per object, rather
        # than lists of Python ints (~36 bytes per object each, read all over at 10⁸ events);
        # nb = request2size(payload + 8 × slots) — C++ `new` of 0 bytes asks malloc for 1,
        # which request2size rounds to the same 32-byte chunk — a chunk of objects at a time
        osize = array("q")
        nb_heap = 0                # bytes of the heap objects' nb: allocated_bytes less extra
        obj_bytes = trace.obj_bytes
        for lo in range(0, n_obj, LOWER_CHUNK):
            nb = _request2size(obj_bytes[lo:lo + LOWER_CHUNK].astype(np.int64))
            osize.frombytes(nb.tobytes())
            nb_heap += int(nb[~local[lo:lo + LOWER_CHUNK]].sum())
        oaddr = array("q", [0]) * n_obj
        slow_at: list[int] = []    # events that left the tcache fast path, and their cost
        slow_ns: list[float] = []
        fast_free_at: list[int] = []   # frees pushed on a fastbin by the loop itself
        extra = 0                  # chunk bytes beyond nb (exhausted chunks, mmap rounding)

        tcache = arena.tcache
        tc_max = arena.tc_max
        tcount = arena.tcount
        malloc = arena.malloc
        free = arena.free
        fastbins = arena.fastbins
        max_fast = arena.max_fast
        slow_append = slow_at.append
        ns_append = slow_ns.append
        fast_append = fast_free_at.append
        for ev, is_alloc, obj in _heap_stream(trace, local):
            code = np.where(is_alloc, obj, ~obj)            # alloc: id; free: ~id
            # the stream a chunk at a time: its Python ints are made and dropped per chunk
            # (the same memory reused), not two lists of one int per ALLOC/FREE held for the
            # whole loop
            for lo in range(0, ev.size, STREAM_CHUNK):
                hi = lo + STREAM_CHUNK
                for i, o in zip(ev[lo:hi].tolist(), code[lo:hi].tolist()):
                    if o >= 0:
                        s = osize[o]
                        if s <= tc_max:
                            t = tcache[s >> 4]
                            if t:
                                # __libc_malloc: tcache_get, most recently freed chunk first
                                oaddr[o] = t.pop()
                                continue
                        a, size, ns = malloc(s, i)
                        oaddr[o] = a
                        if size != s:
                            osize[o] = size
                            extra += size - s
                        slow_append(i)
                        ns_append(ns)
                    else:
                        o = ~o
                        s = osize[o]
                        if s <= tc_max:
                            t = tcache[s >> 4]
                            if len(t) < tcount:
                                # _int_free: tcache_put while the bin holds fewer than
                                # tcache_count
                                t.append(oaddr[o])
                                continue
                        if s <= max_fast:
                            # _int_free: fastbin push, no coalescing (Arena.free's fastbin
                            # branch, inline: freeing a whole structure sends all but 7
                            # chunks of a size here)
                            fastbins[s >> 4].append(oaddr[o])
                            arena.have_fast = True
                            fast_append(i)
                            continue
                        slow_append(i)
                        ns_append(free(oaddr[o], s, i))
        self._addresses = oaddr
        self._chunk_sizes = osize

        # -- costs: every heap ALLOC/FREE at its tcache price, the slow ones patched in --
        # (the stream walked again: the two columns of one float per event are made after
        # the loop, not held through it)
        mm = np.zeros(trace.events)
        fr = np.zeros(trace.events)
        n_alloc = n_free = 0
        for ev, is_alloc, _ in _heap_stream(trace, local):
            alloc_ev = ev[is_alloc]
            free_ev = ev[~is_alloc]
            mm[alloc_ev] = c.tcache_get_ns
            fr[free_ev] = c.tcache_put_ns
            n_alloc += alloc_ev.size
            n_free += free_ev.size
        fr[np.asarray(fast_free_at, dtype=np.int64)] = c.fastbin_put_ns
        arena.fastbin_frees += len(fast_free_at)
        s_at = np.asarray(slow_at, dtype=np.int64)
        s_ns = np.asarray(slow_ns, dtype=np.float64)
        slow_alloc = op[s_at] == ALLOC
        mm[s_at[slow_alloc]] = s_ns[slow_alloc]
        fr[s_at[~slow_alloc]] = s_ns[~slow_alloc]
        out.mm_ns = mm
        out.free_ns = fr

        out.allocated_bytes = nb_heap + extra
        # every FREE ends its object's life: heap chunks go back to malloc, locals' frames end
        frees = np.flatnonzero(op == FREE)
        out.reclaimed_ids = trace.x[frees]
        out.reclaimed_at = frees
        n_slow_alloc = int(np.count_nonzero(slow_alloc))
        st = out.stats
        st["mallocs"] = n_alloc
        st["frees"] = n_free
        st["local_objects"] = int(np.count_nonzero(local))
        st["tcache_hits"] = n_alloc - n_slow_alloc
        st["tcache_frees"] = n_free - (int(s_at.size) - n_slow_alloc) - len(fast_free_at)
        st.update(arena.stats())

    def _run_bump(self, trace: Trace, out: Output) -> None:
        """Bump allocation in 16-byte steps (malloc's alignment), nothing ever freed: the
        replayer's ``--alloc bump`` (plugins/memcompare_native/cpp/replay.cpp)."""
        local = trace.obj_local
        size = np.where(local, 0, (np.maximum(trace.obj_bytes.astype(np.int64), 1) + 15)
                        // 16 * 16)
        top = np.cumsum(size)
        alloc_at = trace.obj_alloc_at
        mm = np.zeros(trace.events)
        mm[alloc_at[~local]] = self.costs.bump_alloc_ns
        out.mm_ns = mm
        out.allocated_bytes = int(top[-1]) if top.size else 0
        # the region is resident before the run (MAP_POPULATE): its footprint from the start
        out.footprint(0, out.allocated_bytes)
        out.stats["mallocs"] = int(np.count_nonzero(~local))
        out.stats["local_objects"] = int(np.count_nonzero(local))
        self._bump_size = size

    def _heap(self, trace: Trace, out: Output, request: np.ndarray):
        """The allocator every object goes through (pools.py), for the loops that do not
        inline glibc's paths."""
        p, c = self.params, self.costs
        n_obj = trace.objects
        if p.allocator == "bump":
            local = trace.obj_local
            total = int(np.where(local, 0, (np.maximum(request, 1) + 15) // 16 * 16).sum())
            return BumpHeap(c, n_obj, total, out.fp_at, out.fp_bytes)
        out.footprint(0, 0)
        arena = Arena(p, c, out.fp_at, out.fp_bytes)
        self.arena = arena
        if p.allocator == "pool":
            return PoolHeap(arena, c, n_obj, p.pool_max_bytes)
        if p.allocator == "arena":
            return RegionHeap(arena, c, n_obj, p.region_kb * 1024)
        return GlibcHeap(arena, n_obj)

    def _run_heap(self, trace: Trace, out: Output) -> None:
        """new/delete over a pool or an arena: each heap ALLOC and FREE through pools.py."""
        request = trace.obj_bytes.astype(np.int64)
        heap = self._heap(trace, out, request)
        local = trace.obj_local
        op = trace.op
        ev = np.flatnonzero((op == ALLOC) | (op == FREE))
        obj = trace.x[ev]
        keep = ~local[obj]
        ev, obj = ev[keep], obj[keep]
        is_alloc = op[ev] == ALLOC
        code = np.where(is_alloc, obj, ~obj)
        req = request.tolist()
        alloc, free = heap.alloc, heap.free
        cost = []
        add = cost.append
        for i, o in zip(ev.tolist(), code.tolist()):
            add(alloc(o, req[o], i) if o >= 0 else free(~o, i))
        cost = np.asarray(cost)
        mm = np.zeros(trace.events)
        fr = np.zeros(trace.events)
        mm[ev[is_alloc]] = cost[is_alloc]
        fr[ev[~is_alloc]] = cost[~is_alloc]
        out.mm_ns = mm
        out.free_ns = fr
        size = np.asarray(heap.size, dtype=np.int64)
        out.allocated_bytes = int(size[~local].sum())
        frees = np.flatnonzero(op == FREE)
        out.reclaimed_ids = trace.x[frees]
        out.reclaimed_at = frees
        self._mode = ("raw", size, local, trace.obj_free_at >= 0)
        st = out.stats
        st["mallocs"] = int(np.count_nonzero(is_alloc))
        st["frees"] = int(np.count_nonzero(~is_alloc))
        st["local_objects"] = int(np.count_nonzero(local))
        st.update(heap.stats())

    def _run_owned(self, trace: Trace, out: Output) -> None:
        """ownership = "shared_ptr" over any allocator (ownership.py)."""
        local = trace.obj_local
        request = make_shared_request(trace.obj_size, trace.obj_nslots)
        heap = self._heap(trace, out, request)
        res = ownership.replay(trace, out, heap, request, self.costs, self.params.atomic_counts)
        size = np.asarray(heap.size, dtype=np.int64)
        out.allocated_bytes = int(size[~local].sum())
        alive = res["alive"]
        self._mode = ("owned", size, local, ~alive)
        st = out.stats
        st["mallocs"] = int(np.count_nonzero(~local))
        st["local_objects"] = int(np.count_nonzero(local))
        st.update(res["stats"])
        # never destroyed and unreachable at the end: a cycle of shared_ptrs (or what hangs
        # off one), leaked
        st["leaked_objects"] = int(np.count_nonzero(alive & ~local & ~trace.reachable_at_end()))
        st.update(heap.stats())

    def held(self) -> tuple[np.ndarray, np.ndarray]:
        """Objects the trace never frees — a manual heap keeps them forever — with their chunk
        sizes; never-freed ``local`` objects take no heap bytes. Under shared_ptr, the objects
        whose counts never reached zero."""
        if self._mode is not None:
            _, size, local, gone = self._mode
            ids = np.flatnonzero(~gone)
            nbytes = size[ids].copy()
            nbytes[local[ids]] = 0
            return ids, nbytes
        if self.params.allocator == "bump":     # nothing is ever given back
            return np.arange(self._bump_size.size, dtype=np.int64), self._bump_size
        ids = np.flatnonzero(self._free_at < 0)
        nbytes = np.frombuffer(self._chunk_sizes, dtype=np.int64)[ids]
        nbytes[self._local[ids]] = 0
        return ids, nbytes
