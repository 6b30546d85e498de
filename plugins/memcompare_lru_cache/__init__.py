"""lru-cache: a read-through LRU cache — a chained hash table threaded by a recency list.

The program it stands for is the in-process cache of a service: ``get(key)`` returns the cached
value and marks it most recently used; on a miss the value is computed (or fetched) and put, and
at ``capacity`` the least recently used entry is evicted. Its layout is Java's
``LinkedHashMap`` in access order with ``removeEldestEntry`` (OpenJDK ``java/util/LinkedHashMap``:
a ``HashMap.Node`` with a ``next`` chain pointer, plus ``before``/``after`` recency links), which
is also the shape of C++'s ``std::unordered_map`` + ``std::list`` caches and of Python's
``functools.lru_cache`` (a dict plus a doubly linked list).

Objects:

- the cache: ``16`` payload bytes (size and capacity) and 3 slots: 0 = table, 1 = most recently
  used entry, 2 = least recently used entry;
- the table: ``buckets`` slots, each the head of a bucket's chain, no payload;
- an entry: ``key_bytes`` of payload (key and hash) and 4 slots: 0 = next in the bucket's chain,
  1 = the more recently used neighbour, 2 = the less recently used neighbour, 3 = the value;
- a value: ``value_min_bytes``..``value_max_bytes`` (seeded), no slots.

Keys are drawn uniformly from ``key_space`` keys, so once the cache is full about
``capacity / key_space`` of the gets hit. A lookup walks the bucket's chain with LOADs from the
table; a hit reads the value and moves the entry to the front of the recency list; a miss charges
``miss_ns`` (computing the value), evicts the least recently used entry when the cache is full —
unlinking it from the recency list and from its chain, found by walking the chain from the
table — and inserts the new entry at the head of its chain and of the recency list. Eviction comes
before insertion, so the cache never holds more than ``capacity`` entries. Null pointers — an
empty bucket, the end of a chain — are known from the shadow and not LOADed: the recorder cannot
release a handle that a LOAD left empty. At the end the cache, the table and every entry and value are deleted as one batch of
FREEs, as the cache's destructor would.

With ``lookup_key`` > 0 each get first builds a key object of that many bytes, which never
escapes the get: an ALLOC flagged ``local`` before the lookup and its FREE after it (the stack
in Go and in HotSpot's compiled code, a C++ automatic, a heap tuple in CPython).

A Python-side shadow of the chains and the recency list decides which LOADs and STOREs to emit;
every random choice comes from ``rng``, never the global ``random`` module. ``_Cache`` is the
program written with the recorder's calls; ``_Events`` is the same program writing each get's
events (registers and object ids) from the shadow, several times cheaper to record, and is what
an empty recorder gets (``Recorder.append_events``; tests/test_workloads.py checks that both
record the same trace).
"""
from __future__ import annotations

import random
import struct
from array import array
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from memcompare import Handle, Recorder, Workload, hookimpl, param
from memcompare.trace import (ALLOC, CLEAR, FLAG_LOCAL, FREE, LOAD, NULL, STORE, WORK,
                              getrandbits_of, randint_of)

# cache slots
TABLE, MRU, LRU = 0, 1, 2
# entry slots
CHAIN, NEWER, OLDER, VALUE = 0, 1, 2, 3
CACHE_BYTES = 16


def bucket_of(key: int, buckets: int) -> int:
    """Knuth's multiplicative hash: deterministic, spreads consecutive keys."""
    return ((key * 2654435761) & 0xFFFFFFFF) % buckets


@dataclass(frozen=True)
class Params:
    operations: int = param(5000, "get operations (each miss also puts)", minimum=1)
    capacity: int = param(1000, "entries the cache holds before it evicts", minimum=1)
    key_space: int = param(2000, "distinct keys, drawn uniformly; hit ratio ~ capacity/key_space",
                           minimum=1)
    buckets: int = param(1024, "hash-table buckets (slots of the table object)", minimum=1)
    key_bytes: int = param(16, "payload bytes of an entry besides its 4 pointer slots (key, "
                               "hash)", minimum=0)
    value_min_bytes: int = param(64, "smallest value object, bytes", minimum=0)
    value_max_bytes: int = param(512, "largest value object, bytes", minimum=0)
    op_ns: int = param(40, "computation per get (hashing, key compares), ns", minimum=0)
    miss_ns: int = param(500, "computation to produce a missing value, ns", minimum=0)
    lookup_key: int = param(0, "bytes of a lookup-key object built for each get and dropped "
                               "after it, recorded `local` (a Go `Key{...}` value, a Java "
                               "`new Key(a, b)` that escape analysis scalar-replaces, a C++ "
                               "automatic; CPython allocates a tuple); 0: none", minimum=0)
    seed: int = param(1, "random seed of the key sequence and value sizes")

    def __post_init__(self):
        if self.value_max_bytes < self.value_min_bytes:
            raise ValueError(f"value_max_bytes ({self.value_max_bytes}) must be >= "
                             f"value_min_bytes ({self.value_min_bytes})")


class LRUCache(Workload):
    """A read-through LRU cache: chained hash table plus doubly linked recency list."""

    name = "lru-cache"
    Params = Params

    def record(self, params: Params, t: Recorder, rng: random.Random) -> None:
        if len(t) or getrandbits_of(rng) is None:
            # not from an empty recorder, or rng's numbers not drawn inline: the calls themselves
            _Cache(params, t).run(rng)
            return
        # the same program's events derived from the shadow, a few times faster to record
        # (tests/test_workloads.py checks that both give the same trace)
        t.append_events(_Events(params).run(rng))


class _Cache:
    """The recorder-side program and its Python shadow (keys stand for entries)."""

    def __init__(self, p: Params, t: Recorder):
        self.p, self.t = p, t
        self.chains: list[list[int]] = [[] for _ in range(p.buckets)]   # chain head first
        self.newer: dict[int, int | None] = {}
        self.older: dict[int, int | None] = {}
        self.mru: int | None = None
        self.lru: int | None = None
        self.cache = t.alloc(CACHE_BYTES, 3)
        self.table = t.alloc(0, p.buckets)
        t.store(self.cache, TABLE, self.table)

    def run(self, rng: random.Random) -> None:
        p, t = self.p, self.t
        randint = randint_of(rng)       # rng.randint, faster: the same numbers
        for _ in range(p.operations):
            key = rng.randrange(p.key_space)
            # the get's key object: built, hashed and compared, never stored (a `local`)
            probe = t.alloc(p.lookup_key, 0, local=True) if p.lookup_key else None
            entry = self._lookup(key)
            if entry is not None:
                if p.op_ns:
                    t.work(p.op_ns)
                value = t.load(entry, VALUE)      # the get returns the value
                t.drop(value)
                self._touch(key, entry)
                t.drop(entry)
            else:
                if p.op_ns + p.miss_ns:
                    t.work(p.op_ns + p.miss_ns)
                if len(self.newer) >= p.capacity:
                    self._evict()
                self._insert(key, randint(p.value_min_bytes, p.value_max_bytes))
            if probe is not None:
                t.free(probe)                     # the key's scope ends with the get
        self._destroy()

    def _lookup(self, key: int) -> Handle | None:
        """Walk the key's chain; a handle to its entry, or None on a miss."""
        t = self.t
        chain = self.chains[bucket_of(key, self.p.buckets)]
        if not chain:
            return None
        e = t.load(self.table, bucket_of(key, self.p.buckets))
        # load each entry of the chain (and drop the one before) up to the key's, or to the
        # last: t.walk records those loads and drops in one call
        if key in chain:
            return t.walk(e, CHAIN, chain.index(key))
        t.drop(t.walk(e, CHAIN, len(chain) - 1))
        return None

    def _touch(self, key: int, e: Handle) -> None:
        """Move the entry to the most recently used end of the list."""
        t = self.t
        if self.mru == key:
            return
        newer, older = self.newer[key], self.older[key]
        n = t.load(e, NEWER)                      # not null: key is not the MRU entry
        if older is None:
            t.store(n, OLDER, None)
            t.store(self.cache, LRU, n)
            self.lru = newer
        else:
            o = t.load(e, OLDER)
            t.store(n, OLDER, o)
            t.store(o, NEWER, n)
            t.drop(o)
            self.newer[older] = newer
        self.older[newer] = older
        t.drop(n)
        self._link_front(key, e)

    def _link_front(self, key: int, e: Handle) -> None:
        """Make ``e`` the most recently used entry (its own links are overwritten)."""
        t = self.t
        if self.mru is not None:
            h = t.load(self.cache, MRU)
            t.store(e, OLDER, h)
            t.store(h, NEWER, e)
            t.drop(h)
            self.newer[self.mru] = key
        else:
            t.store(e, OLDER, None)
            t.store(self.cache, LRU, e)
            self.lru = key
        t.store(e, NEWER, None)
        t.store(self.cache, MRU, e)
        self.older[key] = self.mru
        self.newer[key] = None
        self.mru = key

    def _insert(self, key: int, value_bytes: int) -> None:
        t = self.t
        b = bucket_of(key, self.p.buckets)
        value = t.alloc(value_bytes)
        e = t.alloc(self.p.key_bytes, 4)
        t.store(e, VALUE, value)
        t.drop(value)
        if self.chains[b]:
            old = t.load(self.table, b)
            t.store(e, CHAIN, old)
            t.drop(old)
        t.store(self.table, b, e)
        self.chains[b].insert(0, key)
        self._link_front(key, e)
        t.drop(e)

    def _evict(self) -> None:
        """Unlink the least recently used entry from the list and its chain, then delete it."""
        t = self.t
        key = self.lru
        x = t.load(self.cache, LRU)
        newer = self.newer.pop(key)
        del self.older[key]
        if newer is None:                         # the only entry
            t.store(self.cache, LRU, None)
            t.store(self.cache, MRU, None)
            self.mru = self.lru = None
        else:
            n = t.load(x, NEWER)
            t.store(n, OLDER, None)
            t.store(self.cache, LRU, n)
            t.drop(n)
            self.older[newer] = None
            self.lru = newer
        b = bucket_of(key, self.p.buckets)
        chain = self.chains[b]
        i = chain.index(key)
        has_next = i + 1 < len(chain)
        if i == 0:
            pred, pred_slot = self.table, b
        else:
            pred, pred_slot = t.walk(t.load(self.table, b), CHAIN, i - 1), CHAIN
        if has_next:
            nxt = t.load(x, CHAIN)
            t.store(pred, pred_slot, nxt)
            t.drop(nxt)
        else:
            t.store(pred, pred_slot, None)
        if i > 0:
            t.drop(pred)
        del chain[i]
        value = t.load(x, VALUE)
        t.free(x)
        t.free(value)

    def _destroy(self) -> None:
        """The destructor: a handle to every object, then one batch of FREEs."""
        t = self.t
        held: list[Handle] = []
        key = self.mru
        if key is not None:
            e = t.load(self.cache, MRU)
            while True:
                held.append(e)
                held.append(t.load(e, VALUE))
                key = self.older[key]
                if key is None:
                    break
                e = t.load(e, OLDER)
        t.free(self.cache)
        t.free(self.table)
        for h in held:
            t.free(h)


class _Events:
    """The same program as :class:`_Cache`, but writing each get's events itself (packed int64s:
    ``op | flags << 3, a, b, c, x, y, z``) from the shadow, for :meth:`Recorder.append_events`.

    Registers: the cache and the table hold r0 and r1 throughout; a get's key object (with
    ``lookup_key``) takes r2, and its other handles the lowest free registers after those, b0 <
    b1 < b2, as the recorder would hand them out (every handle of a get is let go by its end,
    so every get starts with the same free registers). Object ids count up from 0 (the cache),
    1 (the table). Slot values come from the shadow, which holds entry ids, not keys.
    """

    def __init__(self, p: Params):
        self.p = p
        self.ev = bytearray()
        self.walk_at: list[int] = []            # the walks not yet written: see _walk
        self.walk_reg: list[int] = []
        self.walk_steps: list[int] = []
        self.walk_ids: list[int] = []
        self.chains: list[list[int]] = [[] for _ in range(p.buckets)]   # entry ids, head first
        self.entry: dict[int, int] = {}         # key -> entry id
        self.value: dict[int, int] = {}         # entry id -> value id
        self.newer: dict[int, int] = {}         # entry id -> entry id, -1 at the ends
        self.older: dict[int, int] = {}
        self.key_of: dict[int, int] = {}        # entry id -> key
        self.mru = self.lru = -1
        self.nobj = 2
        # the event sequences most gets write, each filled in by _piece from one note per use
        # (the registers b0 < b1 < b2 as in run)
        b0 = 3 if p.lookup_key > 0 else 2
        b1, b2 = b0 + 1, b0 + 2
        # a hit on an entry that is neither end of the recency list: return its value, unlink
        # it from its neighbours, link it in front of the most recently used entry
        self.hit = _Template(
            "a bb v e n o m",
            (LOAD, "bb", "a", VALUE, "v", "e", -1), (CLEAR, "bb", 0, 0, "v", -1, -1),
            (LOAD, "bb", "a", NEWER, "n", "e", -1), (LOAD, b2, "a", OLDER, "o", "e", -1),
            (STORE, "bb", OLDER, b2, "n", "o", "e"), (STORE, b2, NEWER, "bb", "o", "n", "e"),
            (CLEAR, b2, 0, 0, "o", -1, -1), (CLEAR, "bb", 0, 0, "n", -1, -1),
            (LOAD, "bb", 0, MRU, "m", 0, -1), (STORE, "a", OLDER, "bb", "e", "m", "o"),
            (STORE, "bb", NEWER, "a", "m", "e", -1), (CLEAR, "bb", 0, 0, "m", -1, -1),
            (STORE, "a", NEWER, NULL, "e", -1, "n"), (STORE, 0, MRU, "a", 0, "e", "m"),
            (CLEAR, "a", 0, 0, "e", -1, -1))
        # a miss's new value and entry, put at the head of a non-empty chain and in front of
        # the most recently used entry
        self.insert = _Template(
            "size v e b head m",
            (ALLOC, b0, "size", 0, "v", -1, -1), (ALLOC, b1, p.key_bytes, 4, "e", -1, -1),
            (STORE, b1, VALUE, b0, "e", "v", -1), (CLEAR, b0, 0, 0, "v", -1, -1),
            (LOAD, b0, 1, "b", "head", 1, -1), (STORE, b1, CHAIN, b0, "e", "head", -1),
            (CLEAR, b0, 0, 0, "head", -1, -1), (STORE, 1, "b", b1, 1, "e", "head"),
            (LOAD, b0, 0, MRU, "m", 0, -1), (STORE, b1, OLDER, b0, "e", "m", -1),
            (STORE, b0, NEWER, b1, "m", "e", -1), (CLEAR, b0, 0, 0, "m", -1, -1),
            (STORE, b1, NEWER, NULL, "e", -1, -1), (STORE, 0, MRU, b1, 0, "e", "m"),
            (CLEAR, b1, 0, 0, "e", -1, -1))
        # an eviction's start (the least recently used entry x, not the only one, unlinked
        # from its newer neighbour n) and end (x and its value v deleted)
        self.evict_head = _Template(
            "x n",
            (LOAD, b0, 0, LRU, "x", 0, -1), (LOAD, b1, b0, NEWER, "n", "x", -1),
            (STORE, b1, OLDER, NULL, "n", -1, "x"), (STORE, 0, LRU, b1, 0, "n", "x"),
            (CLEAR, b1, 0, 0, "n", -1, -1))
        self.evict_tail = _Template(
            "v x",
            (LOAD, b1, b0, VALUE, "v", "x", -1), (FREE, b0, 0, 0, "x", -1, -1),
            (FREE, b1, 0, 0, "v", -1, -1))
        # the common eviction: x is last in its chain, behind others (b: its bucket, head: the
        # chain's first entry); the walk to the entry before it (pred, in register r) between
        self.evict_start = _Template(
            "x n b head",
            (LOAD, b0, 0, LRU, "x", 0, -1), (LOAD, b1, b0, NEWER, "n", "x", -1),
            (STORE, b1, OLDER, NULL, "n", -1, "x"), (STORE, 0, LRU, b1, 0, "n", "x"),
            (CLEAR, b1, 0, 0, "n", -1, -1), (LOAD, b1, 1, "b", "head", 1, -1))
        self.evict_end = _Template(
            "r pred v x",
            (STORE, "r", CHAIN, NULL, "pred", -1, "x"), (CLEAR, "r", 0, 0, "pred", -1, -1),
            (LOAD, b1, b0, VALUE, "v", "x", -1), (FREE, b0, 0, 0, "x", -1, -1),
            (FREE, b1, 0, 0, "v", -1, -1))
        self.evict_next = _Template(
            "r f pred nxt v x",
            (LOAD, "f", b0, CHAIN, "nxt", "x", -1), (STORE, "r", CHAIN, "f", "pred", "nxt", "x"),
            (CLEAR, "f", 0, 0, "nxt", -1, -1), (CLEAR, "r", 0, 0, "pred", -1, -1),
            (LOAD, b1, b0, VALUE, "v", "x", -1), (FREE, b0, 0, 0, "x", -1, -1),
            (FREE, b1, 0, 0, "v", -1, -1))
        self.templates = (self.hit, self.insert, self.evict_head, self.evict_tail,
                          self.evict_start, self.evict_end, self.evict_next)
        self.ev += _P3(ALLOC, 0, CACHE_BYTES, 3, 0, -1, -1, ALLOC, 1, 0, p.buckets, 1, -1, -1,
                       STORE, 0, TABLE, 1, 0, 1, -1)

    def run(self, rng: random.Random) -> Iterator[np.ndarray]:
        """The program's events, a piece at a time (``(n, 7)`` int64 arrays)."""
        p, ev = self.p, self.ev
        # rng.randrange(key_space) and rng.randint(value_min_bytes, value_max_bytes), drawn
        # inline (the same numbers: see getrandbits_of)
        bits = getrandbits_of(rng)
        key_space, vw = p.key_space, p.value_max_bytes - p.value_min_bytes + 1
        ks, vs = key_space.bit_length(), vw.bit_length()
        probe = p.lookup_key > 0
        b0 = 3 if probe else 2
        b1, b2 = b0 + 1, b0 + 2
        work_hit, work_miss = p.op_ns, p.op_ns + p.miss_ns
        vlo = p.value_min_bytes
        chains, entry, value, newer, older = (self.chains, self.entry, self.value, self.newer,
                                              self.older)
        buckets, capacity = p.buckets, p.capacity
        # self._walk inlined for the lookups (most of the events are their loads and clears)
        walk_at, walk_reg, walk_steps, walk_ids = (self.walk_at, self.walk_reg, self.walk_steps,
                                                   self.walk_ids)
        hit_notes, hit_room = self.hit.notes, self.hit.room
        insert_notes, insert_room = self.insert.notes, self.insert.room
        work_hit_event = _P1(WORK, work_hit, 0, 0, -1, -1, -1)
        work_miss_event = _P1(WORK, work_miss, 0, 0, -1, -1, -1)
        for _ in range(p.operations):
            key = bits(ks)                      # rng.randrange(key_space)
            while key >= key_space:
                key = bits(ks)
            if probe:
                pid = self.nobj
                self.nobj += 1
                ev += _P1(ALLOC | FLAG_LOCAL << 3, 2, p.lookup_key, 0, pid, -1, -1)
            b = ((key * 2654435761) & 0xFFFFFFFF) % buckets     # bucket_of(key, buckets)
            chain = chains[b]
            e = entry.get(key, -1)
            if chain:
                # the lookup: load the bucket's head, walk the chain to the entry or its end
                ev += _P1(LOAD, b0, 1, b, chain[0], 1, -1)
                steps = chain.index(e) if e >= 0 else len(chain) - 1
                if steps:                       # self._walk(chain, steps, b0, b1)
                    walk_at.append(len(ev) // 56)
                    walk_reg += (b0, b1)
                    walk_steps.append(steps)
                    walk_ids += chain[:steps + 1]
                    # room for its events, filled by _piece
                    ev += ROOM[:112 * steps] if steps <= ROOM_STEPS else bytes(112 * steps)
                a = b1 if steps & 1 else b0     # the register the walk ends in
                if e < 0:
                    ev += _P1(CLEAR, a, 0, 0, chain[steps], -1, -1)
            if e >= 0:                          # a hit
                bb = b0 if a == b1 else b1
                v = value[e]
                if work_hit:
                    ev += work_hit_event
                m, o = self.mru, older[e]
                if m != e and o >= 0:           # the common case: self.hit's events
                    n = newer[e]
                    hit_notes += (len(ev) // 56, a, bb, v, e, n, o, m)
                    ev += hit_room
                    newer[o] = n
                    older[n] = o
                    newer[m] = e
                    older[e] = m
                    newer[e] = -1
                    self.mru = e
                else:
                    ev += _P2(LOAD, bb, a, VALUE, v, e, -1, CLEAR, bb, 0, 0, v, -1, -1)
                    if m != e:                  # the least recently used entry to the front
                        n = newer[e]
                        ev += _P3(LOAD, bb, a, NEWER, n, e, -1,
                                  STORE, bb, OLDER, NULL, n, -1, e, STORE, 0, LRU, bb, 0, n, e)
                        self.lru = n
                        older[n] = o
                        ev += _P8(CLEAR, bb, 0, 0, n, -1, -1,
                                  LOAD, bb, 0, MRU, m, 0, -1, STORE, a, OLDER, bb, e, m, o,
                                  STORE, bb, NEWER, a, m, e, -1, CLEAR, bb, 0, 0, m, -1, -1,
                                  STORE, a, NEWER, NULL, e, -1, n, STORE, 0, MRU, a, 0, e, m,
                                  CLEAR, a, 0, 0, e, -1, -1)
                        newer[m] = e
                        older[e] = m
                        newer[e] = -1
                        self.mru = e
                    else:
                        ev += _P1(CLEAR, a, 0, 0, e, -1, -1)
            else:                               # a miss: evict when full, then insert
                if work_miss:
                    ev += work_miss_event
                if len(newer) >= capacity:
                    self._evict(b0, b1, b2)
                vbytes = bits(vs)               # rng.randint(value_min_bytes, ...max_bytes)
                while vbytes >= vw:
                    vbytes = bits(vs)
                vbytes += vlo
                v = self.nobj
                e = v + 1
                self.nobj = v + 2
                m = self.mru
                if chain and m >= 0:            # the common case: self.insert's events
                    insert_notes += (len(ev) // 56, vbytes, v, e, b, chain[0], m)
                    ev += insert_room
                    newer[m] = e
                else:
                    ev += _P4(ALLOC, b0, vbytes, 0, v, -1, -1,
                              ALLOC, b1, p.key_bytes, 4, e, -1, -1,
                              STORE, b1, VALUE, b0, e, v, -1, CLEAR, b0, 0, 0, v, -1, -1)
                    if chain:
                        head = chain[0]
                        ev += _P4(LOAD, b0, 1, b, head, 1, -1, STORE, b1, CHAIN, b0, e, head, -1,
                                  CLEAR, b0, 0, 0, head, -1, -1, STORE, 1, b, b1, 1, e, head)
                    else:
                        ev += _P1(STORE, 1, b, b1, 1, e, -1)
                    if m >= 0:
                        ev += _P7(LOAD, b0, 0, MRU, m, 0, -1, STORE, b1, OLDER, b0, e, m, -1,
                                  STORE, b0, NEWER, b1, m, e, -1, CLEAR, b0, 0, 0, m, -1, -1,
                                  STORE, b1, NEWER, NULL, e, -1, -1, STORE, 0, MRU, b1, 0, e, m,
                                  CLEAR, b1, 0, 0, e, -1, -1)
                        newer[m] = e
                    else:
                        ev += _P5(STORE, b1, OLDER, NULL, e, -1, -1, STORE, 0, LRU, b1, 0, e, -1,
                                  STORE, b1, NEWER, NULL, e, -1, -1, STORE, 0, MRU, b1, 0, e, m,
                                  CLEAR, b1, 0, 0, e, -1, -1)
                        self.lru = e
                chain.insert(0, e)
                entry[key] = e
                self.key_of[e] = key
                value[e] = v
                older[e] = m
                newer[e] = -1
                self.mru = e
            if probe:
                ev += _P1(FREE, 2, 0, 0, pid, -1, -1)
            if len(ev) >= PIECE:
                yield self._piece()
                ev = self.ev                    # (_piece starts a new buffer)
        self._destroy()
        yield self._piece()

    def _evict(self, b0: int, b1: int, b2: int) -> None:
        """Unlink the least recently used entry from the list and its chain, then delete it."""
        ev = self.ev
        x = self.lru
        n = self.newer.pop(x)
        del self.older[x]
        key = self.key_of.pop(x)
        b = ((key * 2654435761) & 0xFFFFFFFF) % self.p.buckets      # bucket_of(key, buckets)
        chain = self.chains[b]
        i = chain.index(x)
        if n >= 0 and i > 0:
            # the common case (the oldest entry is behind newer ones in its chain):
            # self.evict_start's events, the walk to the entry before it (pred, in register r),
            # then self.evict_end's, or self.evict_next's when an entry follows it
            self.evict_start.notes += (len(ev) // 56, x, n, b, chain[0])
            ev += self.evict_start.room
            self.older[n] = -1
            self.lru = n
            if i > 1:                           # self._walk(chain, i - 1, b1, b2)
                self.walk_at.append(len(ev) // 56)
                self.walk_reg += (b1, b2)
                self.walk_steps.append(i - 1)
                self.walk_ids += chain[:i]
                ev += ROOM[:112 * (i - 1)] if i <= ROOM_STEPS else bytes(112 * (i - 1))
            v = self.value.pop(x)
            if i + 1 == len(chain):
                self.evict_end.notes += (len(ev) // 56, b1 if i & 1 else b2, chain[i - 1], v, x)
                ev += self.evict_end.room
            else:
                r, f = (b1, b2) if i & 1 else (b2, b1)
                self.evict_next.notes += (len(ev) // 56, r, f, chain[i - 1], chain[i + 1], v, x)
                ev += self.evict_next.room
            del chain[i]
            del self.entry[key]
            return
        if n < 0:                               # the only entry
            ev += _P3(LOAD, b0, 0, LRU, x, 0, -1,
                      STORE, 0, LRU, NULL, 0, -1, x, STORE, 0, MRU, NULL, 0, -1, x)
            self.mru = self.lru = -1
        else:                                   # self.evict_head's events
            self.evict_head.notes += (len(ev) // 56, x, n)
            ev += self.evict_head.room
            self.older[n] = -1
            self.lru = n
        # unlink it from its chain: the table's slot or the entry before it points past it
        if i == 0:
            pred_reg, pred_slot, pred = 1, b, 1
            free = b1
        else:
            ev += _P1(LOAD, b1, 1, b, chain[0], 1, -1)
            if i > 1:
                self._walk(chain, i - 1, b1, b2)
            pred_reg = b2 if (i - 1) & 1 else b1
            pred_slot, pred = CHAIN, chain[i - 1]
            free = b1 if pred_reg == b2 else b2
        if i + 1 < len(chain):
            nxt = chain[i + 1]
            ev += _P3(LOAD, free, b0, CHAIN, nxt, x, -1, STORE, pred_reg, pred_slot, free, pred,
                      nxt, x, CLEAR, free, 0, 0, nxt, -1, -1)
        else:
            ev += _P1(STORE, pred_reg, pred_slot, NULL, pred, -1, x)
        if i > 0:
            ev += _P1(CLEAR, pred_reg, 0, 0, pred, -1, -1)
        del chain[i]
        v = self.value.pop(x)
        del self.entry[key]
        self.evict_tail.notes += (len(ev) // 56, v, x)   # self.evict_tail's events
        ev += self.evict_tail.room

    def _walk(self, chain: list[int], steps: int, r0: int, r1: int) -> None:
        """``t.walk(h, CHAIN, steps)`` from ``chain[0]`` held in ``r0``: each step loads the
        next entry into the other register (the lowest free) and clears the one before. Noted
        here (where, the registers, the entries), written by :meth:`_piece` with numpy."""
        self.walk_at.append(len(self.ev) // 56)
        self.walk_reg.append(r0)
        self.walk_reg.append(r1)
        self.walk_steps.append(steps)
        self.walk_ids += chain[:steps + 1]
        self.ev += bytes(112 * steps)

    def _piece(self) -> np.ndarray:
        """The events written since the last piece, with the walks' LOAD/CLEAR pairs put in the
        room :meth:`run` and :meth:`_walk` left for them (a view of the buffer they were written
        in; a new buffer takes the next events)."""
        out = np.frombuffer(self.ev, dtype="<i8").reshape(-1, 7)
        self.ev = bytearray()
        steps = np.frombuffer(array("q", self.walk_steps), dtype=np.int64)
        if steps.size:
            at = np.frombuffer(array("q", self.walk_at), dtype=np.int64)
            reg = np.frombuffer(array("q", self.walk_reg), dtype=np.int64).reshape(-1, 2)
            ids = np.frombuffer(array("q", self.walk_ids), dtype=np.int64)
            total = int(steps.sum())
            before = np.cumsum(steps) - steps                   # steps of the walks before
            w = np.repeat(np.arange(steps.shape[0]), steps)     # each step's walk
            k = np.arange(total) - before[w]                    # 0-based step in its walk
            odd = k & 1
            cur, nxt = reg[w, odd], reg[w, 1 - odd]
            first = k + w + before[w]                           # ids[first]: the step's entry
            came, goes = ids[first], ids[first + 1]
            # each step's LOAD of the next entry and CLEAR of the one before, as one row of 14
            pair = np.empty((total, 14), dtype=np.int64)
            pair[:, 0], pair[:, 1], pair[:, 2], pair[:, 3] = LOAD, nxt, cur, CHAIN
            pair[:, 4], pair[:, 5], pair[:, 6] = goes, came, -1
            pair[:, 7], pair[:, 8], pair[:, 9], pair[:, 10] = CLEAR, cur, 0, 0
            pair[:, 11], pair[:, 12], pair[:, 13] = came, -1, -1
            # the walk w's events fill rows at[w] .. at[w] + 2 * steps[w] - 1, in order
            rows = np.repeat(at - 2 * before, 2 * steps) + np.arange(2 * total)
            whole = np.dtype((np.void, 56))
            out.view(whole).reshape(-1)[rows] = pair.reshape(-1, 7).view(whole).reshape(-1)
        for template in self.templates:
            template.fill(out)
        for notes in (self.walk_at, self.walk_reg, self.walk_steps, self.walk_ids):
            del notes[:]                                        # (run holds them)
        return out

    def _destroy(self) -> None:
        """The destructor (as :meth:`_Cache._destroy`): load every entry and value along the
        recency list into registers 2, 3, ..., then free the cache, the table and them."""
        ev = self.ev
        regs = []
        e = self.mru
        if e >= 0:
            ev += _P1(LOAD, 2, 0, MRU, e, 0, -1)
            r = 2
            while True:
                v = self.value[e]
                ev += _P1(LOAD, r + 1, r, VALUE, v, e, -1)
                regs += ((r, e), (r + 1, v))
                o = self.older[e]
                if o < 0:
                    break
                ev += _P1(LOAD, r + 2, r, OLDER, o, e, -1)
                e, r = o, r + 2
        ev += _P2(FREE, 0, 0, 0, 0, -1, -1, FREE, 1, 0, 0, 1, -1, -1)
        for r, o in regs:
            ev += _P1(FREE, r, 0, 0, o, -1, -1)


class _Template:
    """A sequence of events that differ from one use to the next only in some fields (the
    parameters: registers, object ids, sizes), written with numpy: each use notes where its
    events go and its parameters' values, and leaves zeroed room for them in the buffer; then
    :meth:`fill` writes every noted use at once. A use costs one list extend and one copy of
    :attr:`room`, where packing its events cost a Python call with 7 values per event."""

    def __init__(self, names: str, *events: tuple):
        names_ = names.split()
        self.base = np.zeros((len(events), 7), dtype=np.int64)
        self.fields: list[tuple[int, int, int]] = []    # (event, field, parameter)
        for j, event in enumerate(events):
            for f, value in enumerate(event):
                if isinstance(value, str):
                    self.fields.append((j, f, names_.index(value)))
                else:
                    self.base[j, f] = value
        self.width = 1 + len(names_)
        self.room = bytes(56 * len(events))
        #: per use: the row its first event goes to, then its parameters in ``names`` order
        self.notes: list[int] = []

    def fill(self, out: np.ndarray) -> None:
        """Write every noted use into ``out`` (an ``(n, 7)`` int64 array) and forget them."""
        if not self.notes:
            return
        notes = np.array(self.notes, dtype=np.int64).reshape(-1, self.width)
        del self.notes[:]
        k = self.base.shape[0]
        block = np.empty((notes.shape[0], k, 7), dtype=np.int64)
        block[:] = self.base
        for j, f, q in self.fields:
            block[:, j, f] = notes[:, 1 + q]
        rows = (notes[:, :1] + np.arange(k)).reshape(-1)
        whole = np.dtype((np.void, 56))
        out.view(whole).reshape(-1)[rows] = block.reshape(-1, 7).view(whole).reshape(-1)


#: the room a walk of up to ROOM_STEPS steps leaves for its events (a slice of one buffer of
#: zeros, rather than a new bytes object per walk)
ROOM_STEPS = 4096
ROOM = memoryview(bytes(112 * ROOM_STEPS))
#: events per piece of _Events.run (bytes of the packed events written by hand)
PIECE = 56 << 14
#: _Pk(...): k events' 7 × k values as the bytes of int64s
_P1 = struct.Struct("<7q").pack
_P2 = struct.Struct("<14q").pack
_P3 = struct.Struct("<21q").pack
_P4 = struct.Struct("<28q").pack
_P5 = struct.Struct("<35q").pack
_P7 = struct.Struct("<49q").pack
_P8 = struct.Struct("<56q").pack


@hookimpl
def register_workloads(register):
    register(LRUCache)
