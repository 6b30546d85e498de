"""``cpython``: CPython's memory management — reference counting, the generational cycle
collector and pymalloc over glibc malloc (64-bit default build, 3.11–3.14).

What it models (docs/runtimes.md §3 and the CPython sources each module cites):

- layout.py: an object with a slot is a container, tracked by the collector: an instance of a
  ``__slots__`` class, 16-byte ``PyGC_Head`` + 16-byte ``PyObject`` + 8 bytes per slot, the
  payload in ceil(size / 8) more slots; one without is an untracked ``bytes`` (33 + size) — the
  objects the ``cpython-native`` twin allocates, byte for byte;
- refcount.py: every register write and slot store moves a reference count; at zero the object
  is deallocated at once and drops its slots' references — a cascade, one stall at that event;
- gc.py: three generations with thresholds (700, 10, 10) up to 3.12 and (2000, 10, 10) from
  3.13 (and 3.14.5+, ``"3.14"``); a collection examines generations 0..g, subtracts internal
  references, frees what is unreachable from outside and promotes the survivors; the oldest
  generation only once 25 % of it is pending. 3.11 collects inside the allocation that crosses
  threshold 0; 3.12+ schedules it for the eval breaker, modelled as just before the next event.
  Each collection is a pause;
- incremental.py: ``version = "3.14.0"``, 3.14.0–3.14.4's incremental collector — young and
  old generations, the old one in a visited and a pending space; each automatic collection
  either marks what the roots reach (the first of a cycle) or collects the young generation
  plus an increment of pending objects sized by ``work_to_do``;
- obmalloc.py: pymalloc's 32 size classes of 16 bytes up to 512, 16 KiB pools with a 48-byte
  header, 1 MiB arenas (63 usable pools), fullest arena first, an arena unmapped only when empty
  and one empty arena kept; larger requests go to the ``cpp`` model's glibc malloc;
- ``build = "free-threaded"`` (3.13t/3.14t): layout.py's 32-byte header without PyGC_Head,
  mimalloc.py (size-class pages in 32 MiB segments, for every object) instead of pymalloc and
  glibc, freethreaded.py's collector (the young count flushed per 512 allocations, no
  generations, every collection stops the world over every tracked object), biased reference
  counting priced by ``rc_biased_ns``;
- costs.py: prices, with the glibc prices inherited from the ``cpp`` cost table.

Footprint = the pools carved in pymalloc's mapped arenas, 16 KiB each (a pool's pages are
first written when obmalloc.c's allocate_from_new_pool carves it from the arena's
pool_address, and stay resident until the arena is unmapped; the rest of a 1 MiB arena mapping
is never touched) + glibc's heap and mmapped chunks (free-threaded: the slices mimalloc has
committed). On configs/native.toml's traces the model's footprint is 0.99–1.25× CPython
3.11.7's measured growth (results/README.md), against 1.5–2.8× when it counted whole arenas.

What it simplifies or leaves out:

- one thread: every reference-count update is the owning thread's (no atomic shared-count
  updates, no merging of queued ones at collections), no immortal objects (none in a trace);
- "3.14" means 3.14.5 and later, which restored 3.13's collector; 3.14.0–3.14.4's is "3.14.0";
- the eval-breaker delay of 3.12+ is taken as one event: the real check comes at the next
  backward jump or call, which a trace does not record;
- weak references, finalizers and resurrection, tuple/dict untracking, free lists of built-in
  types, ``gc.freeze``: trace objects have none of them;
- the trashcan's reordering of deep deallocations (the work and the freed memory are the same);
- individual block addresses inside a pool (only how many are in use decides anything measured);
- CPython's own objects and memory (interpreter, modules, frames): only the trace's objects
  (the ``cpython-native`` twin moves its interpreter's objects to the permanent generation with
  ``gc.freeze()`` before each replay, so its collector starts from this state too).
"""
from __future__ import annotations

from memcompare import hookimpl

from .costs import Costs
from .model import CPythonModel, Params

__all__ = ["CPythonModel", "Params", "Costs"]


@hookimpl
def register_models(register):
    register(CPythonModel)
