"""``semispace``: a semispace copying collector with Cheney's breadth-first copy.

The heap is split into two equal halves. Objects are bump-allocated in one of them, the
from-space; when an allocation does not fit, the world stops, everything reachable from the
registers is copied into the other half, the to-space, breadth first with Cheney's scan and
free pointers, and the halves swap roles. What was not copied is reclaimed all at once. If
the object still does not fit after the collection, the program is out of memory.

Sources: R. R. Fenichel and J. C. Yochelson, "A LISP garbage-collector for virtual-memory
computer systems", CACM 12(11):611–612, 1969 (the two semispaces); C. J. Cheney, "A
nonrecursive list compacting algorithm", CACM 13(11):677–678, 1970 (the breadth-first copy
with no stack). Costs: memcompare's docs/runtimes.md §5.3 (costs.py).

Parts, one file each (as MMTk builds a plan from named parts): space.py (object layout, bump
allocation in from-space, pages touched), heap.py (registers and slots at a collection),
cheney.py (the collector), costs.py (the price list), model.py (parameters and the replay).

What it simplifies: one mutator thread; registers are the only roots; no large-object space
(a huge object is copied like any other, and one larger than a semispace is out of memory);
no write barrier, no generations, no heap resizing; the footprint counts the pages each half
has touched, not the reserved address space. This is the example plugin of memcompare's
tutorial, docs/tutorial-model-plugin.md.
"""
from __future__ import annotations

from memcompare import hookimpl

from .costs import Costs
from .model import Params, SemispaceModel

__all__ = ["SemispaceModel", "Params", "Costs"]


@hookimpl
def register_models(register):
    register(SemispaceModel)
