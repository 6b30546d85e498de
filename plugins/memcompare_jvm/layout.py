"""HotSpot object layout on 64-bit: header, reference width, 8-byte alignment.

A trace object of ``payload`` bytes and ``nslots`` pointer slots becomes a Java object of
``align8(header + payload + ref_size × nslots)`` bytes (docs/runtimes.md §2.5):

- the header is the 8-byte mark word plus the class pointer: 4 bytes with compressed class
  pointers (``-XX:+UseCompressedClassPointers``, the default), 8 without, so 12 or 16 bytes
  (local ``Unsafe.objectFieldOffset`` on JDK 17: first field at 12, or 16 with
  ``-XX:-UseCompressedClassPointers``);
- a reference is 4 bytes with compressed oops (``-XX:+UseCompressedOops``, ergonomic for heaps
  below ≈32 GB) and 8 without;
- objects are aligned to ``ObjectAlignmentInBytes`` = 8, so ``new Object()`` takes 16 bytes.

Since JDK 15 (JDK-8241825, "Make compressed oops and compressed class pointers independent")
the two switches are independent: ``-XX:-UseCompressedOops`` alone keeps the 12-byte header.
Before JDK 15 turning compressed oops off also turned compressed class pointers off.

Where the slots lie inside the object matters only for the card table (barrier.py): the model
puts the payload right after the header and the reference slots after it. HotSpot's field
layout (``FieldLayoutBuilder``) may interleave them; the card of a slot differs only for
objects that straddle a 512-byte card boundary. Arrays (a 4-byte length after the header) are
not distinguished from instances: the trace does not say which an object is.

This module must not know about generations or collection.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MARK_WORD = 8
NARROW_KLASS = 4
WIDE_KLASS = 8
NARROW_OOP = 4
WIDE_OOP = 8
#: ObjectAlignmentInBytes (JDK 17 PrintFlagsFinal; docs/runtimes.md §2.5)
OBJECT_ALIGNMENT = 8


@dataclass(frozen=True)
class Layout:
    """Header and reference width for one flag setting."""

    header: int
    ref_size: int

    @classmethod
    def for_flags(cls, compressed_oops: bool, compressed_class_pointers: bool) -> "Layout":
        header = MARK_WORD + (NARROW_KLASS if compressed_class_pointers else WIDE_KLASS)
        return cls(header, NARROW_OOP if compressed_oops else WIDE_OOP)

    def object_size(self, payload, nslots):
        """Bytes of the Java object for ``payload`` bytes and ``nslots`` references (scalars
        or numpy arrays): header + payload + references, rounded up to 8."""
        raw = self.header + payload + self.ref_size * nslots
        return (raw + OBJECT_ALIGNMENT - 1) // OBJECT_ALIGNMENT * OBJECT_ALIGNMENT

    def slot_offset(self, payload):
        """Byte offset of slot 0 inside the object: after the header and the payload."""
        return self.header + np.asarray(payload, dtype=np.int64)
