"""The cost table of the ``semispace`` model: simulated nanoseconds per counted unit of work.

The model counts work (objects and bytes allocated, registers and slots scanned, objects and
bytes copied, collections) and this table prices it; it decides nothing else. The defaults are
the figures memcompare's reference notes suggest for a bump allocator and a copying collector
(docs/runtimes.md §5.3, "Suggested default cost parameters"), the same ones the ``jvm``
model's young collection uses, so that the two copying collectors differ by policy, not by
price. Every entry can be overridden from TOML: ``costs = { copy_ns_per_byte = 0.4 }``.
"""
from __future__ import annotations

from dataclasses import dataclass

from memcompare import param


@dataclass(frozen=True)
class Costs:
    """Nanoseconds per unit of semispace work (docs/runtimes.md §5.3)."""

    alloc_ns: float = param(
        3.0, "bump-pointer allocation per object (§5.3: 3 ns; Goetz 2005, Shipilëv's TLAB "
             "quark)", minimum=0)
    zero_ns_per_byte: float = param(
        0.05, "zeroing per allocated byte (§5.3)", minimum=0)
    pause_ns: float = param(
        200_000.0, "fixed cost of a collection: stopping the world, setting up root "
                   "scanning, flipping (§5.3: JVM young pause ≥ 0.2 ms + copy cost)",
        minimum=0)
    copy_ns_per_byte: float = param(
        0.5, "copying a live object, per byte (§5.3/§5.2: ≈14 MB in ≈7 ms)", minimum=0)
    copy_ns_per_object: float = param(
        5.0, "copying a live object: leaving the forwarding pointer (§5.3)", minimum=0)
    scan_ns_per_slot: float = param(
        0.5, "scanning one register or one pointer slot of a copied object (§5.3: 0.5 ns "
             "per pointer slot)", minimum=0)
