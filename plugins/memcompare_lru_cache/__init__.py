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
every random choice comes from ``rng``, never the global ``random`` module.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from memcompare import Handle, Recorder, Workload, hookimpl, param
from memcompare.trace import randint_of

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
        _Cache(params, t).run(rng)


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


@hookimpl
def register_workloads(register):
    register(LRUCache)
