"""How CPython (64-bit, default build) lays out a trace object, and which allocator serves it.

A trace object stands for an instance of a Python class with ``nslots`` reference fields (say,
one with ``__slots__``) and ``size`` bytes of other data:

- every object starts with a ``PyObject`` header of 16 bytes, ``ob_refcnt`` + ``ob_type``
  (reference/runtimes.md §3.5; ``sys.getsizeof(object()) == 16``);
- an object with at least one slot can refer to other objects, so it is a *container*: its type
  has ``Py_TPFLAGS_HAVE_GC``, the cyclic collector tracks it, and a 16-byte ``PyGC_Head``
  (``_gc_next``, ``_gc_prev``) sits in front of it (runtimes.md §3.2, §3.5:
  ``getsizeof([]) == 56 = 16 + 40``). An object without slots is atomic, like an int or a str:
  not tracked, no GC header;
- then the payload and 8 bytes per slot. A request of that many bytes goes to
  ``PyObject_Malloc``: pymalloc up to 512 bytes, glibc malloc above (obmalloc.py).

This module only computes; it must not keep state.
"""
from __future__ import annotations

import numpy as np

from memcompare.trace import SLOT_BYTES

#: PyObject: ob_refcnt (8) + ob_type (8) (runtimes.md §3.5)
OBJECT_HEADER = 16
#: PyGC_Head in front of every GC-tracked object, default build (runtimes.md §3.2, §3.5)
GC_HEADER = 16


def object_bytes(size: np.ndarray, nslots: np.ndarray) -> np.ndarray:
    """The request ``PyObject_Malloc`` gets for each object: header (+ GC header for a
    container) + payload + 8 × slots."""
    size = np.asarray(size, dtype=np.int64)
    nslots = np.asarray(nslots, dtype=np.int64)
    return OBJECT_HEADER + np.where(nslots > 0, GC_HEADER, 0) + size + SLOT_BYTES * nslots


def is_container(nslots: np.ndarray) -> np.ndarray:
    """Objects the cyclic collector tracks: those with a pointer slot (``tp_traverse``)."""
    return np.asarray(nslots) > 0
