"""How CPython (64-bit, default build) lays out a trace object, and which allocator serves it.

A trace object is one CPython object in one ``PyObject_Malloc`` — the object the
``cpython-native`` twin allocates for it (memcompare_native/cpython/replay.py), so
``sys.getsizeof`` of the twin's object equals the request computed here:

- an object with at least one slot can refer to other objects, so it is a *container*: an
  instance of a class with ``__slots__`` — its ``nslots`` reference slots, then its payload as
  ceil(size / 8) more pointer-sized slots (a class has no other way to keep raw bytes inside the
  instance). Its type has ``Py_TPFLAGS_HAVE_GC`` (every heap type does), the cyclic collector
  tracks it, and a 16-byte ``PyGC_Head`` (``_gc_next``, ``_gc_prev``) sits in front of the
  16-byte ``PyObject`` header (``ob_refcnt``, ``ob_type``): 32 + 8 × (nslots + ceil(size / 8))
  (Objects/typeobject.c ``type_new``: basicsize 16 + 8 per slot; ``PyType_GenericAlloc``:
  ``_PyType_PreHeaderSize`` + basicsize; docs/runtimes.md §3.2, §3.5). Measured with ``sys.getsizeof``
  on 3.11.7, 3.12.1 and 3.13.0: 56 for three slots, the same on all three — 3.12+ adds a
  pre-header (managed dict and weakref pointers) only to classes with a ``__dict__`` or
  ``__weakref__``, which a ``__slots__`` class without them has not, so the layout is one for
  every modelled version;
- an object without slots is atomic, not tracked, no GC header: a ``bytes`` object of ``size``
  bytes, 33 + size (``ob_refcnt``, ``ob_type``, ``ob_size``, ``ob_shash``, the payload and its
  NUL: Include/cpython/bytesobject.h ``PyBytesObject``, Objects/bytesobject.c
  ``_PyBytes_FromSize``; ``sys.getsizeof(bytes(10)) == 43`` on all three). An empty one is a
  shared singleton, so a size-0 atom is an ``object()``: the 16-byte header alone;
- the request goes to ``PyObject_Malloc``: pymalloc up to 512 bytes, glibc malloc above
  (obmalloc.py).

The free-threaded build (3.13t/3.14t, ``Py_GIL_DISABLED``) has a 32-byte ``PyObject`` —
``ob_tid`` (8), ``ob_flags`` (2), ``ob_mutex`` (1), ``ob_gc_bits`` (1), ``ob_ref_local`` (4),
``ob_ref_shared`` (8), ``ob_type`` (8) (Include/object.h ``struct _object``) — and no
``PyGC_Head``: the collector finds objects by walking mimalloc's heaps and keeps its state in
``ob_gc_bits`` (``_PyType_PreHeaderSize`` counts ``sizeof(PyGC_Head)`` only without
``Py_GIL_DISABLED``, Include/internal/pycore_object.h). So a container is the same 32 + 8 ×
(nslots + ceil(size / 8)) bytes, a ``bytes`` 49 + size, an ``object()`` 32, and every request
goes to mimalloc (mimalloc.py).

This module only computes; it must not keep state.
"""
from __future__ import annotations

import numpy as np

from memcompare.trace import SLOT_BYTES

#: PyObject: ob_refcnt (8) + ob_type (8) (docs/runtimes.md §3.5; sys.getsizeof(object()) == 16)
OBJECT_HEADER = 16
#: PyGC_Head in front of every GC-tracked object, default build (docs/runtimes.md §3.2, §3.5)
GC_HEADER = 16
#: PyBytesObject before its payload (PyObject_VAR_HEAD 24 + ob_shash 8) plus the trailing NUL:
#: PyBytesObject_SIZE = offsetof(PyBytesObject, ob_sval) + 1 (Objects/bytesobject.c)
BYTES_OVERHEAD = 33


#: the free-threaded build's PyObject (Include/object.h, Py_GIL_DISABLED)
FT_OBJECT_HEADER = 32
#: ... and its PyBytesObject overhead: the header, ob_size 8, ob_shash 8, the NUL
FT_BYTES_OVERHEAD = FT_OBJECT_HEADER + 8 + 8 + 1


def object_bytes(size: np.ndarray, nslots: np.ndarray,
                 free_threaded: bool = False) -> np.ndarray:
    """The request ``PyObject_Malloc`` gets for each object: a ``__slots__`` instance for a
    container, a ``bytes`` (or ``object()`` when empty) for an atom."""
    size = np.asarray(size, dtype=np.int64)
    nslots = np.asarray(nslots, dtype=np.int64)
    payload_slots = (size + SLOT_BYTES - 1) // SLOT_BYTES
    if free_threaded:
        container = FT_OBJECT_HEADER + SLOT_BYTES * (nslots + payload_slots)
        atom = np.where(size > 0, FT_BYTES_OVERHEAD + size, FT_OBJECT_HEADER)
    else:
        container = GC_HEADER + OBJECT_HEADER + SLOT_BYTES * (nslots + payload_slots)
        atom = np.where(size > 0, BYTES_OVERHEAD + size, OBJECT_HEADER)
    return np.where(nslots > 0, container, atom)


def is_container(nslots: np.ndarray) -> np.ndarray:
    """Objects the cyclic collector tracks: those with a pointer slot (``tp_traverse``)."""
    return np.asarray(nslots) > 0
