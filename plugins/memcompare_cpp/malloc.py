"""glibc ptmalloc2's main arena, 64-bit: chunks, tcache, fastbins, bins, top, brk/trim, mmap.

The rules are glibc 2.36 malloc/malloc.c (docs/runtimes.md §4.1); each names the function
or macro it comes from. Chunks are simulated by address only — ``(address, size)`` pairs in
lists and dicts — because where a chunk lies decides what it can coalesce with and how far the
heap must extend, which is the fragmentation memcompare measures. Contents are never simulated.

Division of labour with model.py: the replay loop there inlines the two tcache fast paths of
``__libc_malloc`` (tcache_get) and ``_int_free`` (tcache_put) over the lists in
:attr:`Arena.tcache`, and calls :meth:`Arena.malloc` (= ``_int_malloc``) and :meth:`Arena.free`
(= ``__libc_free``'s munmap branch and ``_int_free`` past the tcache) for everything else.
Callers that do not inline the tcache paths (the ``cpython`` model, whose requests over 512
bytes go to this same malloc) use :meth:`Arena.libc_malloc` and :meth:`Arena.libc_free`, which
take the same paths as that loop. This module prices paths with the :class:`Costs` table and
records footprint changes; it must not compute metrics.

Bookkeeping of free chunks (the ones neighbours coalesce with: unsorted, small and large bins):

- ``fsize[addr] = size`` and ``fend[addr + size] = addr`` find a free neighbour on either side,
  as malloc.c's boundary tags (``prev_size``, ``PREV_INUSE``) do. tcache and fastbin chunks are
  *in use* as far as their neighbours can tell (malloc.c never clears their in-use bit), so
  they are not in these dicts.
- ``uns[addr] = token`` (unsorted bin) and ``binned[addr] = token`` (small/large bins) say which
  list a free chunk is on; the lists themselves (``uq``, ``bins[size]``) are deques of
  ``(addr, token)`` from which a chunk is removed lazily: an entry whose token no longer matches
  was unlinked by coalescing (malloc.c's ``unlink_chunk``) and is skipped.
- Bins are kept per exact chunk size, with ``bsizes`` the sorted sizes: the bisect from ``nb``
  is the small-bin, own-large-bin and binmap search in one, since glibc's bins cover disjoint,
  increasing size ranges. A small size's deque is FIFO (newest on the right). A large size keeps
  glibc's order inside its bin: ``lead[size]`` is the first chunk of that size (the one on the
  fd/bk_nextsize skip list) and later chunks go in right behind it, newest first.

Checked against the real glibc 2.36 (tests/test_cpp.py): every chunk address, chunk size and the
brk/mmap footprint after every call agree on random traces, with and without tunables.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

SIZE_SZ = 8                      # malloc.c: INTERNAL_SIZE_T is size_t on 64-bit
MALLOC_ALIGNMENT = 16            # malloc.c: MALLOC_ALIGNMENT = 2 * SIZE_SZ
MALLOC_ALIGN_MASK = MALLOC_ALIGNMENT - 1
MINSIZE = 32                     # malloc.c: MINSIZE = MIN_CHUNK_SIZE aligned (4 * SIZE_SZ)
MIN_LARGE_SIZE = 1024            # malloc.c: NSMALLBINS 64 × SMALLBIN_WIDTH 16
MAX_FAST_SIZE = 160              # malloc.c: MAX_FAST_SIZE = 80 * SIZE_SZ / 4 (largest M_MXFAST)
#: malloc.c: a free whose coalesced chunk reaches 64 KiB consolidates fastbins and may trim
FASTBIN_CONSOLIDATION_THRESHOLD = 65536
#: malloc.c: DEFAULT_MMAP_THRESHOLD_MAX = 4 * 1024 * 1024 * sizeof(long) on 64-bit
DEFAULT_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
#: malloc.c _int_malloc: at most this many unsorted chunks are filed per call
MAX_ITERS = 10000
#: largest user request the tcache may hold in glibc 2.36: tidx2usize(TCACHE_MAX_BINS - 1)
MAX_TCACHE_SIZE = 1032
#: x86-64 Linux page; brk growth, trims and mmapped chunks are whole pages
PAGE = 4096
#: tcache_init's chunk: request2size(sizeof(tcache_perthread_struct)) =
#: request2size(64 × uint16_t counts + 64 × pointer entries = 640) = 656 (0x290), the first chunk
#: of every glibc ≥ 2.30 heap (verified on glibc 2.36: a C program's first malloc(1) returns
#: brk base + 672, its chunk starting at 656)
TCACHE_STRUCT_CHUNK = 656
#: mmapped chunks get addresses from here on: never adjacent to the brk heap, never reused
MMAP_BASE = 1 << 46


def largebin_index(sz: int) -> int:
    """malloc.c ``largebin_index_64``: which of the 63 large bins holds chunks of ``sz``."""
    if sz >> 6 <= 48:
        return 48 + (sz >> 6)
    if sz >> 9 <= 20:
        return 91 + (sz >> 9)
    if sz >> 12 <= 10:
        return 110 + (sz >> 12)
    if sz >> 15 <= 4:
        return 119 + (sz >> 15)
    if sz >> 18 <= 2:
        return 124 + (sz >> 18)
    return 126


def request2size(req: int) -> int:
    """malloc.c ``request2size``: the chunk that holds ``req`` user bytes (8-byte size field,
    16-byte alignment, 32-byte minimum); ``malloc_usable_size`` is the chunk minus 8."""
    n = req + SIZE_SZ + MALLOC_ALIGN_MASK
    return MINSIZE if n < MINSIZE else n & ~MALLOC_ALIGN_MASK


def max_fast_chunk(max_fast: int) -> int:
    """malloc.c ``set_max_fast``: the largest fastbin chunk for an ``M_MXFAST`` request size
    (0 disables fastbins: ``MIN_CHUNK_SIZE / 2`` fits no chunk)."""
    return MINSIZE // 2 if max_fast == 0 else (max_fast + SIZE_SZ) & ~MALLOC_ALIGN_MASK


def tcache_max_chunk(tcache_max_bytes: int) -> int:
    """The largest chunk the tcache holds for the ``glibc.malloc.tcache_max`` tunable
    (malloc.c ``do_set_tcache_max``: tcache_bins = csize2tidx(request2size(value)) + 1)."""
    return request2size(tcache_max_bytes)


class Arena:
    """The main arena of a single-threaded process, with its thread's tcache.

    ``malloc`` and ``free`` return what they cost in simulated ns; counters are attributes.
    Footprint (brk extent + mmapped bytes) is appended to ``fp_at``/``fp_bytes`` whenever it
    changes, one entry per event at most.
    """

    def __init__(self, params, costs, fp_at: list[int], fp_bytes: list[int]):
        self.c = costs
        self.fp_at = fp_at
        self.fp_bytes = fp_bytes
        # -- tunables (malloc.c mp_; docs/runtimes.md §4.1) --
        self.tcount = params.tcache_count
        self.tc_max = tcache_max_chunk(params.tcache_max_bytes) if self.tcount > 0 else 0
        self.max_fast = max_fast_chunk(params.max_fast)
        self.mmap_threshold = params.mmap_threshold
        self.trim_threshold = params.trim_threshold
        self.top_pad = params.top_pad
        self.mmap_max = params.mmap_max
        self.dynamic_threshold = params.dynamic_threshold
        # -- tcache: one LIFO list per 16-byte size class, indexed by chunk size >> 4 --
        self.tcache: list[list[int]] = [[] for _ in range((max(self.tc_max, MINSIZE) >> 4) + 1)]
        # -- fastbins: LIFO per size class, indexed by chunk size >> 4 (malloc.c fastbinsY) --
        self.fastbins: list[list[int]] = [[] for _ in range((MAX_FAST_SIZE >> 4) + 1)]
        self.have_fast = False           # malloc.c: av->have_fastchunks
        # -- free chunks that coalesce (see module docstring) --
        self.fsize: dict[int, int] = {}
        self.fend: dict[int, int] = {}
        self.uns: dict[int, int] = {}
        self.uq: deque[tuple[int, int]] = deque()       # oldest on the left
        self.binned: dict[int, int] = {}
        self.bins: dict[int, deque[tuple[int, int]]] = {}
        self.lead: dict[int, tuple[int, int]] = {}     # large sizes: the group's first chunk
        self.bsizes: list[int] = []      # sorted sizes that have a deque in `bins`
        self.tok = 0
        self.last_remainder = -1         # malloc.c: av->last_remainder
        # -- the heap: [0, top) chunks, [top, top + top_size) the top chunk; brk at the end --
        self.started = False
        self.top = 0
        self.top_size = 0
        self.touched = 0                 # heap pages below this address have been faulted in
        # -- mmapped chunks --
        self.mmapped_bytes = 0
        self.n_mmaps = 0
        self.mmap_next = MMAP_BASE
        # -- counters (reported as stats) --
        self.fastbin_hits = 0
        self.fastbin_frees = 0
        self.smallbin_hits = 0
        self.unsorted_hits = 0
        self.remainder_hits = 0
        self.bin_hits = 0
        self.top_hits = 0
        self.splits = 0
        self.bin_frees = 0
        self.coalesces = 0
        self.consolidations = 0
        self.brk_grows = 0
        self.trims = 0
        self.mmaps = 0
        self.munmaps = 0
        self.threshold_raises = 0
        self.stashed = 0
        self.peak_mmapped = 0

    # -- footprint ----------------------------------------------------------------------------
    @property
    def brk(self) -> int:
        """Heap extent: the heap starts at address 0 and ends where the top chunk ends."""
        return self.top + self.top_size

    @property
    def held_bytes(self) -> int:
        """What the arena holds from the operating system: heap extent + mmapped chunks."""
        return self.top + self.top_size + self.mmapped_bytes

    # -- whole calls, for callers that do not inline the tcache paths -------------------------
    def libc_malloc(self, req: int, at: int) -> tuple[int, int, float]:
        """``malloc(req)`` from start to end at event ``at``: ``__libc_malloc``'s tcache_get
        when the bin of ``request2size(req)`` has a chunk, else :meth:`malloc`.

        Returns the chunk's address, its size and the cost in ns — the same path the cpp
        model's loop takes inline.
        """
        nb = request2size(req)
        if nb <= self.tc_max:
            t = self.tcache[nb >> 4]
            if t:
                return t.pop(), nb, self.c.tcache_get_ns
        return self.malloc(nb, at)

    def libc_free(self, a: int, size: int, at: int) -> float:
        """``free`` of chunk ``a`` of ``size`` bytes (as :meth:`libc_malloc` returned it) at
        event ``at``: ``_int_free``'s tcache_put while the bin has room, else :meth:`free`.
        Returns the cost in ns."""
        if size <= self.tc_max:
            t = self.tcache[size >> 4]
            if len(t) < self.tcount:
                t.append(a)
                return self.c.tcache_put_ns
        return self.free(a, size, at)

    def _footprint(self, at: int) -> None:
        nbytes = self.top + self.top_size + self.mmapped_bytes
        if self.fp_at and self.fp_at[-1] == at:
            self.fp_bytes[-1] = nbytes
        else:
            self.fp_at.append(at)
            self.fp_bytes.append(nbytes)

    # -- malloc -------------------------------------------------------------------------------
    def malloc(self, nb: int, at: int) -> tuple[int, int, float]:
        """``_int_malloc`` for a chunk of ``nb`` bytes after the tcache missed, at event ``at``.

        Returns the chunk's address, its size (larger than ``nb`` when a free chunk was used
        whole, or page-rounded when mmapped) and the cost in ns.
        """
        ns = 0.0
        if not self.started:
            # __libc_malloc's MAYBE_INIT_TCACHE: the first malloc allocates the thread's
            # tcache_perthread_struct through _int_malloc, which makes the first sbrk
            self.started = True
            _, _, ns = self._int_malloc(TCACHE_STRUCT_CHUNK, at)
        a, size, ns2 = self._int_malloc(nb, at)
        return a, size, ns + ns2

    def _int_malloc(self, nb: int, at: int) -> tuple[int, int, float]:
        c = self.c
        tc_ok = nb <= self.tc_max
        # fastbins first, LIFO; then stash the bin's other chunks in the tcache
        # (malloc.c _int_malloc: "if the size qualifies as a fastbin")
        if nb <= self.max_fast:
            fb = self.fastbins[nb >> 4]
            if fb:
                a = fb.pop()
                ns = c.fastbin_get_ns
                if tc_ok:
                    tl = self.tcache[nb >> 4]
                    room = self.tcount - len(tl)
                    while room > 0 and fb:
                        tl.append(fb.pop())
                        room -= 1
                        ns += c.stash_ns
                        self.stashed += 1
                self.fastbin_hits += 1
                return a, nb, ns
        ns = c.int_malloc_ns
        small = nb < MIN_LARGE_SIZE                    # malloc.c in_smallbin_range
        if small:
            # exact-size small bin, oldest chunk first (malloc.c: victim = last (bin))
            a = self._take(nb)
            if a >= 0:
                self.smallbin_hits += 1
                if tc_ok:
                    ns += self._stash_bin(nb)
                return a, nb, ns
        elif self.have_fast:
            # "If this is a large request, consolidate fastbins before continuing."
            ns += self._consolidate()
        while True:
            # -- the unsorted bin: oldest first; exact fits are taken (or cached), the rest
            # filed into bins; a small request may split the lone last remainder --
            uns, uq, fsize, fend = self.uns, self.uq, self.fsize, self.fend
            tl = self.tcache[nb >> 4] if tc_ok else None
            return_cached = False
            iters = 0
            while uq:
                a, t = uq.popleft()
                if uns.get(a) != t:
                    continue                              # coalesced away since it was queued
                size = fsize[a]
                if (small and len(uns) == 1 and a == self.last_remainder
                        and size > nb + MINSIZE):
                    # "try to use last remainder if it is the only chunk in unsorted bin"
                    del uns[a], fsize[a], fend[a + size]
                    r = a + nb
                    self._to_unsorted(r, size - nb)
                    self.last_remainder = r
                    self.remainder_hits += 1
                    self.splits += 1
                    return a, nb, ns + c.split_ns
                del uns[a]
                ns += c.unsorted_ns
                if size == nb:
                    del fsize[a], fend[a + size]
                    if tl is not None and len(tl) < self.tcount:
                        # "Fill cache first, return to user only if cache fills."
                        tl.append(a)
                        self.stashed += 1
                        return_cached = True
                        continue
                    self.unsorted_hits += 1
                    return a, nb, ns
                self._to_bin(a, size)
                iters += 1
                if iters >= MAX_ITERS:
                    break
            if return_cached:
                # "If all the small chunks we found ended up cached, return one now."
                self.unsorted_hits += 1
                self.stashed -= 1
                return tl.pop(), nb, ns
            # -- best fit over the small and large bins: the request's own large bin (sorted,
            # walked by the skip list), then the binmap scan of the larger bins; together they
            # find the smallest chunk >= nb --
            bsizes = self.bsizes
            j = bisect_left(bsizes, nb)
            while j < len(bsizes):
                size = bsizes[j]
                if size < MIN_LARGE_SIZE:
                    a = self._take(size)                  # small bin: oldest chunk
                elif not small and largebin_index(size) == largebin_index(nb):
                    a = self._take_large(size, True)      # own bin: "Avoid removing the first
                else:                                     # entry for a size"
                    a = self._take_large(size, False)     # binmap scan: victim = last (bin)
                if a < 0:
                    continue                              # only stale entries: size dropped
                ns += c.bin_search_ns
                self.bin_hits += 1
                rem = size - nb
                if rem < MINSIZE:
                    return a, size, ns                    # "Exhaust": the whole chunk
                # "Split": the remainder goes to the unsorted bin
                r = a + nb
                self._to_unsorted(r, rem)
                if small:
                    self.last_remainder = r               # "advertise as last remainder"
                self.splits += 1
                return a, nb, ns + c.split_ns
            # -- use_top: split the top chunk if it leaves at least MINSIZE --
            if self.top_size >= nb + MINSIZE:
                return self._from_top(nb, ns)
            if self.have_fast:
                # "we might not realize until near the end of malloc that we should have
                # consolidated, so must do so and retry"
                ns += self._consolidate()
                continue
            return self._sysmalloc(nb, at, ns)

    def _from_top(self, nb: int, ns: float) -> tuple[int, int, float]:
        a = self.top
        self.top = a + nb
        self.top_size -= nb
        self.top_hits += 1
        end = a + nb
        if end > self.touched:
            # first touch of pages the last sbrk handed over
            pages = -(-(end - self.touched) // PAGE)
            self.touched += pages * PAGE
            ns += pages * self.c.page_fault_ns
        return a, nb, ns + self.c.split_ns

    def _sysmalloc(self, nb: int, at: int, ns: float) -> tuple[int, int, float]:
        c = self.c
        if nb >= self.mmap_threshold and self.n_mmaps < self.mmap_max:
            # sysmalloc_mmap: one SIZE_SZ more than a heap chunk (no next chunk lends its
            # prev_size field), rounded up to whole pages
            size = -(-(nb + SIZE_SZ) // PAGE) * PAGE
            a = self.mmap_next
            self.mmap_next += size
            self.n_mmaps += 1
            self.mmaps += 1
            self.mmapped_bytes += size
            if self.mmapped_bytes > self.peak_mmapped:
                self.peak_mmapped = self.mmapped_bytes
            self._footprint(at)
            return a, size, ns + c.mmap_ns + (size // PAGE) * c.page_fault_ns
        # main arena, contiguous brk: "Request enough space for nb + pad + overhead", minus
        # the old top that the new space extends, rounded up to whole pages
        grow = -(-(nb + self.top_pad + MINSIZE - self.top_size) // PAGE) * PAGE
        self.top_size += grow
        self.brk_grows += 1
        self._footprint(at)
        return self._from_top(nb, ns + c.sbrk_ns)

    # -- free ---------------------------------------------------------------------------------
    def free(self, a: int, size: int, at: int) -> float:
        """``__libc_free`` / ``_int_free`` of chunk ``a`` of ``size`` bytes after the tcache
        declined it (full, or the chunk too large), at event ``at``; returns the cost in ns."""
        c = self.c
        if a >= MMAP_BASE:
            # __libc_free: an mmapped chunk is unmapped at once; freeing one larger than the
            # threshold raises the threshold to it and the trim threshold to twice that
            if (self.dynamic_threshold and size > self.mmap_threshold
                    and size <= DEFAULT_MMAP_THRESHOLD_MAX):
                self.mmap_threshold = size
                self.trim_threshold = 2 * size
                self.threshold_raises += 1
            self.n_mmaps -= 1
            self.munmaps += 1
            self.mmapped_bytes -= size
            self._footprint(at)
            return c.munmap_ns
        if size <= self.max_fast:
            # _int_free: fastbin push, no coalescing (TRIM_FASTBINS is 0)
            self.fastbins[size >> 4].append(a)
            self.have_fast = True
            self.fastbin_frees += 1
            return c.fastbin_put_ns
        self.bin_frees += 1
        before = self.coalesces
        merged = self._release(a, size)
        ns = c.int_free_ns
        if merged >= FASTBIN_CONSOLIDATION_THRESHOLD:
            # "If freeing a large space, consolidate possibly-surrounding chunks. Then, if the
            # total unused topmost memory exceeds trim threshold, ask malloc_trim to reduce top."
            if self.have_fast:
                ns += self._consolidate()
            if self.top_size >= self.trim_threshold:
                ns += self._systrim(at)
        return ns + (self.coalesces - before) * c.coalesce_ns

    def _release(self, p: int, size: int) -> int:
        """_int_free's "consolidate other non-mmapped chunks as they arrive": merge with a free
        chunk before and after, then file in the unsorted bin — or into top when the chunk
        borders it. Returns the merged size (the new top's size when merged into top)."""
        fsize, fend = self.fsize, self.fend
        prev = fend.pop(p, None)
        if prev is not None:                              # consolidate backward
            psize = fsize.pop(prev)
            if self.uns.pop(prev, None) is None:
                del self.binned[prev]
            p = prev
            size += psize
            self.coalesces += 1
        nxt = p + size
        if nxt == self.top:                               # borders top: becomes part of it
            self.top = p
            self.top_size += size
            return self.top_size
        nsize = fsize.pop(nxt, None)
        if nsize is not None:                             # consolidate forward
            del fend[nxt + nsize]
            if self.uns.pop(nxt, None) is None:
                del self.binned[nxt]
            size += nsize
            self.coalesces += 1
        self._to_unsorted(p, size)
        return size

    def _consolidate(self) -> float:
        """malloc_consolidate: every fastbin chunk, most recent first per bin and bins in size
        order, is coalesced like a free and placed in the unsorted bin (or merged into top)."""
        c = self.c
        before = self.coalesces
        n = 0
        for idx, fb in enumerate(self.fastbins):
            if fb:
                size = idx << 4
                for a in reversed(fb):
                    self._release(a, size)
                n += len(fb)
                fb.clear()
        self.have_fast = False
        self.consolidations += 1
        return n * c.consolidate_ns + (self.coalesces - before) * c.coalesce_ns

    def _systrim(self, at: int) -> float:
        """systrim(top_pad): give whole pages of top back with a negative sbrk, keeping
        top_pad bytes (and MINSIZE) in top."""
        top_area = self.top_size - MINSIZE - 1
        if top_area <= self.top_pad:
            return 0.0
        extra = (top_area - self.top_pad) // PAGE * PAGE
        if extra == 0:
            return 0.0
        self.top_size -= extra
        brk = self.top + self.top_size
        if self.touched > brk:
            self.touched = brk                            # released pages fault in again
        self.trims += 1
        self._footprint(at)
        return self.c.sbrk_ns

    # -- bins ---------------------------------------------------------------------------------
    def _to_unsorted(self, a: int, size: int) -> None:
        self.fsize[a] = size
        self.fend[a + size] = a
        self.tok += 1
        self.uns[a] = self.tok
        self.uq.append((a, self.tok))

    def _to_bin(self, a: int, size: int) -> None:
        """File a free chunk (already in fsize/fend) in its small or large bin (_int_malloc's
        "place chunk in bin")."""
        self.tok += 1
        tok = self.tok
        self.binned[a] = tok
        dq = self.bins.get(size)
        if size < MIN_LARGE_SIZE:
            if dq is None:
                dq = self.bins[size] = deque()
                insort(self.bsizes, size)
            dq.append((a, tok))                           # newest on the right
            return
        # large bins are sorted by size; the first chunk of a size leads its group (it carries
        # the fd/bk_nextsize skip list) and later ones go "in the second position"
        if dq is not None and self._leader(size) >= 0:
            dq.appendleft((a, tok))                       # right after the leader: newest
            return
        if dq is None:
            self.bins[size] = deque()
            insort(self.bsizes, size)
        self.lead[size] = (a, tok)

    def _leader(self, size: int) -> int:
        """The valid leader of large size group ``size`` (promoting, like unlink_chunk, the
        chunk after a leader that was unlinked: the newest), or -1 when the group is empty."""
        lead = self.lead.get(size)
        binned = self.binned
        if lead is not None and binned.get(lead[0]) == lead[1]:
            return lead[0]
        dq = self.bins[size]
        while dq:
            a, t = dq.popleft()
            if binned.get(a) == t:
                self.lead[size] = (a, t)
                return a
        self.lead.pop(size, None)
        return -1

    def _drop_size(self, size: int) -> None:
        del self.bins[size]
        self.lead.pop(size, None)
        del self.bsizes[bisect_left(self.bsizes, size)]

    def _take(self, size: int) -> int:
        """The oldest chunk of small size ``size`` (malloc.c: victim = last (bin)), unlinked;
        -1 if none (the size is then dropped from the bins)."""
        dq = self.bins.get(size)
        if dq is None:
            return -1
        binned = self.binned
        while dq:
            a, t = dq.popleft()
            if binned.get(a) == t:
                del binned[a], self.fsize[a], self.fend[a + size]
                return a
        self._drop_size(size)
        return -1

    def _take_large(self, size: int, newest: bool) -> int:
        """A chunk of large size ``size``, unlinked; -1 if the group is empty (then dropped).

        ``newest``: the own-bin search takes the chunk after the leader (the newest) so the skip
        list stays; otherwise ``last (bin)`` is the oldest non-leader. Either way the leader goes
        last.
        """
        lead = self._leader(size)
        if lead < 0:
            self._drop_size(size)
            return -1
        dq = self.bins[size]
        binned = self.binned
        while dq:
            a, t = dq.popleft() if newest else dq.pop()
            if binned.get(a) == t:
                break
        else:
            a = lead
            del self.lead[size]
        del binned[a], self.fsize[a], self.fend[a + size]
        return a

    def _stash_bin(self, nb: int) -> float:
        """_int_malloc after a small-bin hit: move the bin's other chunks to the tcache."""
        tl = self.tcache[nb >> 4]
        n = 0
        while len(tl) < self.tcount:
            a = self._take(nb)
            if a < 0:
                break
            tl.append(a)
            n += 1
        self.stashed += n
        return n * self.c.stash_ns

    # -- inspection (tests, stats) ------------------------------------------------------------
    def free_chunks(self) -> list[tuple[int, int]]:
        """Free chunks in the unsorted, small and large bins, as sorted (address, size)."""
        return sorted(self.fsize.items())

    def stats(self) -> dict[str, int]:
        return {
            "fastbin_hits": self.fastbin_hits, "fastbin_frees": self.fastbin_frees,
            "smallbin_hits": self.smallbin_hits, "unsorted_hits": self.unsorted_hits,
            "last_remainder_hits": self.remainder_hits, "bin_hits": self.bin_hits,
            "top_hits": self.top_hits, "splits": self.splits, "bin_frees": self.bin_frees,
            "coalesces": self.coalesces, "consolidations": self.consolidations,
            "tcache_stashed": self.stashed,
            "brk_grows": self.brk_grows, "trims": self.trims, "mmaps": self.mmaps,
            "munmaps": self.munmaps, "mmap_threshold_raises": self.threshold_raises,
            "mmap_threshold_final": self.mmap_threshold,
            "trim_threshold_final": self.trim_threshold,
            "heap_bytes_final": self.top + self.top_size,
            "mmapped_bytes_peak": self.peak_mmapped,
        }
