"""The objects of one replay: reference counts, slots, and where each object's memory lives.

Reference counting as CPython does it (docs/runtimes.md §3.1; InternalDocs/
garbage_collector.md, "Abstract"): every reference held in a register (a local variable) or in a
slot of a live object counts one in ``ob_refcnt``; when the count reaches zero the object is
deallocated at once, and its ``tp_dealloc`` drops the references in its slots, which may free
more objects — a deallocation cascade. CPython runs the cascade as nested ``tp_dealloc`` calls
(with the "trashcan" parking objects past a depth of 50 to bound the C stack, Objects/object.c);
here it is an explicit worklist, so a 200,000-node list cannot hit Python's recursion limit. The
order of the deallocations inside one cascade differs from CPython's nesting, which changes
nothing memcompare measures: every object of a cascade is freed at the same event, the pools it
empties are the same in any order, and so is the number of arenas it leaves mapped (an empty
arena is unmapped unless it is the last on usable_arenas, so one empty arena stays either way).

Reference counts are not kept event by event. Every reference an object has is an interval —
a register holding it, a slot holding it until the slot is overwritten, or a slot holding it
until its holder dies — and every new reference is taken from one already held, so the count
is positive from the allocation until the last interval ends: the object dies at its last
Py_DECREF from an event (a register released, a slot overwritten) if no slot's *final* value
(the last store to it) still holds it from a live holder, or otherwise in the cascade of the
last such holder (:meth:`Heap.lower` derives both with numpy). A register still holding it at
the end keeps it alive. So the replay loop visits only allocations and each object's last
Py_DECREF, and keeps per object ``fin``: the final slot references from holders not yet freed.
A collection needs the true state at its moment: :meth:`Heap.sync` applies the stream's
reference-count changes and slot stores up to it, with numpy, and the count is then the stream's
net count less the final references released by freed holders (:meth:`Heap.refcounts`).

Per-object state lives in lists indexed by object id (docs/simulator-speed.md §6.4); the
model's replay loop takes them as locals and inlines the common paths of this module. Slots are
one flat array, object ``o``'s slot ``k`` at ``sbase[o] + k``. ``fin`` has one spare entry past
the last object (:data:`SPARE`, so large that it stays positive), which a voided candidate and a
null final slot name.

This module keeps state and frees memory; it decides nothing about collections and computes no
metric.
"""
from __future__ import annotations

from array import array
from operator import itemgetter

import numpy as np

from memcompare import Output, Trace
from memcompare_cpp.malloc import Arena
from memcompare_cpp.model import Params as GlibcParams

from . import layout
from .mimalloc import Mimalloc, block_size
from .obmalloc import POOL_SIZE, Obmalloc, size_class



#: the spare object's ``fin``: positive however many null final slots drop a reference from it
SPARE = 1 << 62


def gather(values: list[int], idx: np.ndarray) -> np.ndarray:
    """``values[i]`` for every ``i`` in ``idx``, as an int64 array (itemgetter loops in C)."""
    n = idx.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.array([values[int(idx[0])]], dtype=np.int64)
    return np.array(itemgetter(*idx.tolist())(values), dtype=np.int64)


class Heap:
    """Reference counts, slots and memory of every object of a trace, with pymalloc and glibc.

    ``rc[o]`` is the reference count (0 once the object is freed, by refcounting or by the
    collector). ``death[o]``, for an object refcounting freed on the mutator's timeline, is the
    object whose Py_DECREF started that cascade (its last decrement is the cascade's event;
    -1 for objects not freed that way). ``pool[o]`` is the pymalloc pool of an object of size
    class ``ocls[o] >= 0`` (0 for one over 512 bytes: pool ids start after the usedpools
    heads), ``big[o]`` the glibc chunk ``(address, size)`` of a live one over 512 bytes.
    """

    def __init__(self, trace: Trace, costs, out: Output, free_threaded: bool = False):
        c = costs
        self.out = out
        self.free_threaded = free_threaded
        n = trace.objects
        nslots = trace.obj_nslots.astype(np.int64)
        #: the request PyObject_Malloc gets, and the pymalloc class serving it (-1: glibc, or
        #: mimalloc in the free-threaded build, which takes every request through alloc_large)
        self.request = layout.object_bytes(trace.obj_size, nslots, free_threaded)
        self.size_class = (np.full(n, -1, dtype=np.int64) if free_threaded
                           else size_class(self.request))
        small = self.size_class >= 0
        self.ocls: list[int] = self.size_class.tolist()
        self.nsl_np = nslots
        self.nsl: list[int] = nslots.tolist()
        self.sbase_np = trace.obj_slot_base.astype(np.int64)
        self.sbase = memoryview(self.sbase_np)
        #: 1 for an object freed (by refcounting or the collector), with a numpy view over the
        #: same memory; an object with an id below a collection's ``end`` is allocated
        self.dead = bytearray(n + 1)
        self.dead_np = np.frombuffer(self.dead, dtype=np.uint8)
        self.death_np = np.full(n, -1, dtype=np.int64)
        self.death = memoryview(self.death_np)
        self.pool: list[int] = [0] * n          # 0: none (pool ids start after the heads)
        self.big: dict[int, tuple[int, int]] = {}
        #: every chunk big has held, freed ones included (allocated_bytes)
        self.big_total = 0
        #: tp_dealloc's cost besides freeing a glibc chunk: the dealloc itself, a Py_XDECREF per
        #: slot, and pymalloc_free's fast path for a small object
        #: (the free-threaded build: its owner-thread reference count, and mimalloc's fast
        #: path, which free_mem prices)
        rc_ns = c.rc_biased_ns if free_threaded else c.rc_ns
        self.dcost_np = c.dealloc_ns + rc_ns * nslots + np.where(small, c.pymalloc_free_ns, 0.0)
        # -- allocators: pymalloc's arenas and glibc's heap are separate mappings --
        self.obm = Obmalloc(costs, self._footprint)
        #: the free-threaded build's allocator for every object (mimalloc.py)
        self.mi = Mimalloc(costs, self._footprint) if free_threaded else None
        #: the young counter's floor and what it wraps by there (0 and 0: PyObject_GC_Del's
        #: "never below 0"; the free-threaded collector sets its -512 flush,
        #: freethreaded.py), and the wraps release() made
        self.young_floor = 0
        self.young_wrap = 0
        self.young_wraps = 0
        self.young_wraps_loop = 0
        #: requests over 512 bytes: PyMem_RawMalloc → glibc malloc with default tunables, the
        #: cpp model's allocator (memcompare_cpp/malloc.py)
        self.glibc = Arena(GlibcParams(), costs, array("q"), array("q"))
        self.glibc_bytes = 0
        self.large_allocs = 0
        #: extra costs beyond what the loop prices in bulk: (event, ns) for mm_ns and gc_ns, as
        #: machine numbers (a list keeps a Python int and float per entry: 2 entries of 72
        #: bytes per large object at 10^8 events)
        self.m_at: array[int] = array("q")
        self.m_ns: array[float] = array("d")
        self.g_at: array[int] = array("q")
        self.g_ns: array[float] = array("d")
        self.reporting = True
        self.c_mi_alloc = c.mi_alloc_ns
        self.c_mi_free = c.mi_free_ns
        #: containers freed (PyObject_GC_Del of a tracked object): by release() and the
        #: collector here, by the model's loop in ``tracked_freed_loop`` (as of its last
        #: collection); 3.14.0's heap_size is the containers allocated less these
        self.tracked_freed = 0
        self.tracked_freed_loop = 0
        out.footprint(0, 0)

    # -- footprint ----------------------------------------------------------------------------
    def _footprint(self, at: int) -> None:
        """Footprint = the pools carved in pymalloc's mapped arenas (their resident part:
        Obmalloc.carved_total) + what glibc holds; one entry per event."""
        if not self.reporting:
            return
        if self.mi is not None:
            nbytes = self.mi.committed
        else:
            nbytes = self.obm.carved_total * POOL_SIZE + self.glibc_bytes
        out = self.out
        if out.fp_at and out.fp_at[-1] == at:
            out.fp_bytes[-1] = nbytes
        else:
            out.footprint(at, nbytes)

    def _glibc_changed(self, at: int) -> None:
        held = self.glibc.held_bytes
        if held != self.glibc_bytes:
            self.glibc_bytes = held
            self._footprint(at)

    # -- memory -------------------------------------------------------------------------------
    def alloc_large(self, o: int, at: int) -> float:
        """``PyObject_Malloc`` of more than 512 bytes: pymalloc declines, PyMem_RawMalloc calls
        glibc's malloc (obmalloc.c ``_PyObject_Malloc``). Returns glibc's cost."""
        if self.mi is not None:
            # the free-threaded build: _PyObject_MallocWithType → mimalloc, every size
            req = int(self.request[o])
            page, ns = self.mi.malloc(req, at)
            size = block_size(req)
            self.big[o] = (page, size)
            self.big_total += size
            return self.c_mi_alloc + ns
        a, size, ns = self.glibc.libc_malloc(int(self.request[o]), at)
        self.big[o] = (a, size)
        self.big_total += size
        self.large_allocs += 1
        self._glibc_changed(at)
        return ns

    def free_mem(self, o: int, at: int) -> float:
        """``PyObject_Free`` of object ``o``'s memory; returns the cost beyond pymalloc_free's
        fast path (all of glibc's free for a large object)."""
        pool = self.pool[o]
        if pool:
            return self.obm.free(pool, at)
        if self.mi is not None:
            return self.c_mi_free + self.mi.free(self.big.pop(o)[0], at)
        a, size = self.big.pop(o)
        ns = self.glibc.libc_free(a, size, at)
        self._glibc_changed(at)
        return ns

    def bytes_of(self, ids: np.ndarray) -> np.ndarray:
        """Each object's memory in this layout: its pymalloc block, or its glibc chunk."""
        cls = self.size_class[ids]
        nbytes = np.where(cls >= 0, (cls + 1) << 4, 0).astype(np.int64)
        big = self.big
        for k in np.flatnonzero(cls < 0).tolist():
            nbytes[k] = big[int(ids[k])][1]
        return nbytes

    def allocated_bytes(self) -> int:
        """Every object's block or chunk: headers and rounding included."""
        small = self.size_class[self.size_class >= 0]
        return int(((small + 1) << 4).sum()) + self.big_total

    # -- reference lifetimes (numpy) ----------------------------------------------------------
    def lower(self, stream: np.ndarray, inc_end: int, store_pos: np.ndarray,
              store_slot: np.ndarray, store_val: np.ndarray, store_obj: np.ndarray,
              free_pos: np.ndarray) -> np.ndarray:
        """Derive, from the model's stream of reference-count operations (model.py), what the
        loop and :meth:`sync` need. ``store_*``: each STORE's stream position, flat slot, value
        and object, in stream order; ``free_pos``: the stream position of each object's FREE (-1: none).
        Returns each object's last Py_DECREF from an event, as a stream position (-1: none;
        one spare entry past the last object), and the objects the loop must visit there."""
        n = len(self.nsl)
        total = len(stream)
        never = total + 1
        self._stream = stream
        self._inc_end = inc_end
        self.store_pos = store_pos
        self.robj = None
        # each store's next store to the same slot (S: none): a segment's last, and the final
        n_st = store_slot.size
        order = np.argsort(store_slot, kind="stable")
        nxt = np.full(n_st, n_st, dtype=np.int64)
        same = store_slot[order[1:]] == store_slot[order[:-1]]
        nxt[order[:-1][same]] = order[1:][same]
        del order, same
        self.store_slot, self.store_val, self.store_next = store_slot, store_val, nxt
        final = nxt == n_st
        fslots = np.full(int(self.nsl_np.sum()), -1, dtype=np.int64)
        fslots[store_slot[final]] = store_val[final]
        fv = store_val[final]
        fh = store_obj[final]
        ok = fv >= 0
        fv, fh = fv[ok], fh[ok]
        fcount = np.bincount(fv, minlength=n + 1)
        # A FREE is its object's last Py_DECREF (no other register and no slot of an object
        # not yet freed may hold it then: trace.py's validation)
        last = np.full(n + 1, -1, dtype=np.int64)
        last[:n] = free_pos
        unfreed = free_pos < 0
        dl = np.where(last >= 0, last, never)
        if unfreed.any():
            dec = np.flatnonzero(stream < 0)
            obj = ~stream[dec]
            m = unfreed[obj]
            np.maximum.at(last, obj[m], dec[m])
            # the registers holding each object after the last event: every reference the
            # stream took less those it dropped, less the final slot references
            robj = self._robj(copy=True)
            inc = robj >= 0
            net = (np.bincount(robj[inc], minlength=n + 1)
                   - np.bincount(~robj[~inc], minlength=n + 1))
            del robj, inc
            held_at_end = net - fcount
            uf = np.flatnonzero(unfreed)
            dl[uf] = np.where((held_at_end[uf] == 0) & (last[uf] >= 0), last[uf], never)
        dl[n] = never
        # The loop visits an object's last Py_DECREF only if a final slot reference may be gone
        # by then: none at all, or a holder that may die first (none dies before its own last
        # Py_DECREF from an event, nor does the collector free it: it is reachable till then)
        first_holder = np.full(n + 1, never, dtype=np.int64)
        np.minimum.at(first_holder, fv, dl[fh])
        visit = (dl < never) & ((fcount == 0) | (first_holder < dl))
        self.fcount = fcount
        #: stream position of the last Py_DECREF from an event, for an object no register
        #: holds at the end; ``never`` (past every position) for the others
        self.dl = memoryview(dl)
        #: where the loop finds a freed object's final slot values: its slot base ``b`` when
        #: one of them holds a reference and none has its last Py_DECREF from an event before
        #: the object's own (then the slots only drop references: none can start a cascade
        #: when the object is a cascade's root), ``-3 - b`` when some may; -1 for a container
        #: whose slots hold none, -2 for an object that is not a container
        held = np.zeros(n, dtype=bool)
        held[fh] = True
        early = np.zeros(n, dtype=bool)
        early[fh[dl[fv] < dl[fh]]] = True
        fsb = np.where(held, self.sbase_np, np.where(self.nsl_np > 0, -1, -2))
        fsb[early] = -3 - fsb[early]
        if fslots.size < 2**31 - 3:
            fsb = fsb.astype(np.int32)
        self.fsb = memoryview(fsb)
        del held, early
        fin = fcount.copy()
        fin[n] = SPARE
        self.fin: list[int] = fin.tolist()
        #: every slot's final value (read through a memoryview: as fast to slice as a list),
        #: a null one as the spare object ``n``, whose ``fin`` never reaches 0 (so the loop
        #: drops a slot's reference with no test for null: the spare's count only falls)
        fslots[fslots < 0] = n
        self.fslots = memoryview(fslots)
        # -- for sync --
        self.rcs = np.zeros(n + 1, dtype=np.int64)
        self.slots_np = np.full(fslots.size, -1, dtype=np.int64)
        self.synced = 0
        self.now = 0
        return last, np.flatnonzero(visit[:n])

    def _robj(self, copy: bool = False) -> np.ndarray:
        """The stream with every entry as the object whose count it changes: ``o`` for an
        increment (an allocation's too), ``~o`` for a decrement, ``n`` (the spare) for none.
        Made from the stream itself, in place (only its allocations change), once the model
        has read it; ``copy``: a new array, the stream untouched."""
        if self.robj is None or copy:
            s = self._stream
            robj = s.copy() if copy else s
            robj[s >= self._inc_end] -= self._inc_end
            if copy:
                return robj
            self.robj = robj
        return self.robj

    def drop_tables(self) -> None:
        """Drop every per-object table (after the final collection and :meth:`bytes_of`); the
        allocators' state and counters stay."""
        for name in ("request", "size_class", "ocls", "nsl_np", "nsl", "sbase_np", "sbase", "dead",
                     "dead_np", "death_np", "death", "pool", "dcost_np", "fin", "fcount", "dl",
                     "fsb", "fslots", "slots_np", "rcs", "big"):
            setattr(self, name, None)

    def lowered_done(self) -> None:
        """Drop what only :meth:`sync` needs, once the heap is synced for good (the counts
        and slots stay, for the final collection and for tests)."""
        self._stream = self.robj = self.fsb = None
        self.store_pos = self.store_slot = self.store_val = self.store_next = None

    def sync(self, pos: int) -> None:
        """Bring the stream's net counts (``rcs``) and the slots (``slots_np``) to stream
        position ``pos``: every entry before it applied. Cascades from now on see every
        Py_DECREF before ``pos`` done."""
        s0 = self.synced
        if pos > s0:
            seg = self._robj()[s0:pos]
            n1 = self.rcs.size
            inc = seg >= 0
            # (ufunc.at with a scalar operand, ~8 ns an entry, beats two bincounts over every
            # object until the segment is several times longer than there are objects)
            if pos - s0 > 8 * n1:
                self.rcs += (np.bincount(seg[inc], minlength=n1)
                             - np.bincount(~seg[~inc], minlength=n1))
            else:
                # (a scalar operand takes ufunc.at's fast path: 2-3x faster than ±1 arrays)
                np.add.at(self.rcs, seg[inc], 1)
                np.subtract.at(self.rcs, ~seg[~inc], 1)
            k0, k1 = np.searchsorted(self.store_pos, (s0, pos))
            if k1 > k0:
                lastw = self.store_next[k0:k1] >= k1      # the segment's last store to a slot
                self.slots_np[self.store_slot[k0:k1][lastw]] = self.store_val[k0:k1][lastw]
            self.synced = pos
        self.now = pos

    def refcounts(self, ids: np.ndarray) -> np.ndarray:
        """ob_refcnt of the live objects ``ids`` as of :meth:`sync`: the stream's net count
        less the final slot references of holders already freed."""
        return self.rcs[ids] - self.fcount[ids] + gather(self.fin, ids)

    # -- deallocation -------------------------------------------------------------------------
    def release(self, work: list[int], at: int, freed: list[int], young: int) -> tuple[int, float]:
        """Deallocate the objects in ``work`` (count already 0) and everything their slots held
        the last reference to, at event ``at`` (stream position ``self.now``): a deallocation
        cascade.

        Appends every freed id to ``freed``; returns the young generation's count after
        PyObject_GC_Del's decrement for each container freed ("never below 0", Python/gc.c),
        and the cost beyond ``dcost`` of the objects freed (pool and arena releases, glibc).
        """
        fin, dl, fslots, sbase, nsl, dead = (self.fin, self.dl, self.fslots, self.sbase,
                                             self.nsl, self.dead)
        pos = self.now
        extra = 0.0
        while work:
            d = work.pop()
            freed.append(d)
            dead[d] = 1
            extra += self.free_mem(d, at)
            ns = nsl[d]
            if ns:
                self.tracked_freed += 1
                if young > self.young_floor:
                    young -= 1
                elif self.young_wrap:
                    young += self.young_wrap - 1
                    self.young_wraps += 1
                b = sbase[d]
                # a freed object's slots hold their final values
                for v in fslots[b:b + ns]:
                    if v >= 0 and not dead[v]:
                        f = fin[v] - 1
                        fin[v] = f
                        if not f and dl[v] < pos:
                            work.append(v)
        return young, extra

    def last_decref(self, o: int, pos: int, at: int, young: int) -> int:
        """The last Py_DECREF of ``o`` from an event, at stream position ``pos`` of event
        ``at`` (the loop inlines this; this is for the rare places it cannot). Returns the
        young generation's count."""
        if self.fin[o]:
            return young                       # a live holder's slot still holds it
        self.now = pos
        freed: list[int] = []
        young, extra = self.release([o], at, freed, young)
        death = self.death
        for d in freed:
            death[d] = o
        self.g_at.append(at)
        self.g_ns.append(extra)
        return young
