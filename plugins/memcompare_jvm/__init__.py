"""``jvm``: HotSpot's collectors Serial (DefNew + mark-compact), Parallel and G1.

What it models (OpenJDK HotSpot 17 sources; docs/runtimes.md §2): a heap of ``-Xms`` =
``-Xmx`` split into eden, two survivor spaces and an old generation exactly as HotSpot's flag
processing sizes them (heap.py); objects laid out with a 12-byte header, 4-byte compressed
references and 8-byte alignment (layout.py); bump-pointer allocation in TLABs carved from
eden, with shared-eden and direct-old slow paths (tlab.py); a card-marking post-write barrier
on 512-byte cards (barrier.py); young collections that copy live objects to the to-space or
promote them by age, with Serial's breadth-first Cheney order and age-table tenuring
threshold, or Parallel's depth-first order (young.py); full collections that mark-compact the
whole heap in four phases with Serial's dead-wood allowance (full.py); and the triggers
between them — promotion safety from a padded average, promotion failure, last-ditch
compaction, OutOfMemoryError (policy.py). Parallel runs its adaptive size policy by default
(asp.py: eden and survivor sizes and the tenuring threshold from the throughput goal and the
survivor averages, ``adaptive_size_policy = false`` for the fixed layout). G1 (g1.py) reuses
the layout, TLABs, young copying and compaction over regions: humongous objects, pause-time
young sizing from G1's own predictions, IHOP-started concurrent marking, mixed collections,
remembered-set refinement costs, full-GC fallback. Epsilon (JEP 318) is the collector-off
setting: one space, TLAB allocation, no collection and no barrier. Costs: costs.py, with the
first write to each heap page priced apart from copying (``page_fault_ns``; none with
``always_pre_touch``).

What it simplifies or leaves out:

- one mutator thread and, for Parallel and G1, one deterministic copy order (work stealing
  would permute it), no promotion LABs, stacks always drained completely;
- Parallel: no GC overhead limit, full compaction every time (no dense prefix), and the
  adaptive size policy resizes nothing at full collections (asp.py);
- G1: the simplifications listed in g1.py (marking and the remembered-set rebuild end at
  the next collection request after their work, region renumbering, no SATB pre-barrier
  cost); ZGC is not modelled
  (jvm-native measures it);
- no reference processing, class unloading, string deduplication or JIT effects beyond
  scalar replacement of ``local`` objects; no biased or compact object headers;
- the card of a store is the slot's own card (precise marking; HotSpot marks an instance
  field store on the object's first card);
- the footprint counts each space's touched pages and the card table, not the block offset
  table, mark bitmaps, metaspace, code cache or thread stacks.
"""
from __future__ import annotations

from memcompare import hookimpl

from .costs import Costs
from .model import JVMModel, Params

__all__ = ["JVMModel", "Params", "Costs"]


@hookimpl
def register_models(register):
    register(JVMModel)
