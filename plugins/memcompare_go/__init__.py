"""``go``: the Go runtime's memory manager — size-class spans, pacer, concurrent mark-sweep.

What it models (docs/runtimes.md §1; each rule cites its runtime source where it lives), in
one of the rule sets chosen by ``version``: "1.19" (the pacer's cons/mark smoothed by a PI
controller and measured from the computed trigger; no malloc headers), "1.20" (the max-of-four
cons/mark from the start heap that replaced it, golang/go#53892), "1.22" (that pacer and
Go 1.22's malloc headers) and "1.27", the default (1.22's layout and pacer — mgcpacer.go of Go
1.27.3 has the same goal, trigger bounds, runway and max-of-four cons/mark — plus the Green Tea
collector, the default since Go 1.26: objects of the 16–512-byte classes are marked span by
span, runtime/mgcmark_greenteagc.go, and their spans hold fewer objects, mheap.go initSpan):

- sizeclasses.py — object layout: payload + 8 × slots, no header, except (Go 1.22) an 8-byte
  type header for pointerful objects over 512 bytes; the 67 size classes and pages per span of
  ``sizeclasses.go``; the tiny allocator (pointer-free objects under 16 bytes share 16-byte
  blocks); objects over 32 KiB − 8 get their own run of 8 KiB pages.
- heap.py — spans cached per span class (mcache), mcentral's swept/unswept lists, the page heap
  (first fit by address, grown in 4 MiB chunks), lazy sweeping (a freed slot is reusable only
  after its span is swept), the background sweeper and the scavenger.
- pacer.py — ``gcControllerState``: heap goal = marked + (marked + stack + globals) × GOGC/100
  (stack = 8 bytes per live register; globals = the program binary's data + bss, ``globals_kb``,
  220 KiB for a Go program importing fmt), at least 4 MiB × GOGC/100; the GOMEMLIMIT goal with its 3 % /
  1 MiB headroom; the trigger from the cons/mark runway, clamped to 45/64..61/64 of the way from
  the marked heap to the goal; the assist ratio; the GC CPU limiter.
- Green Tea (version "1.27"; go.dev/blog/greenteagc): a pointer to an object of a 16–512-byte
  class sets a bit in its span's inline mark bits and queues the span (``tryDeferToSpanScan``;
  a pointer-free object is done there); a queued span is scanned once for all its marked
  objects (``scanSpan``), or as one object when it has a single mark (``spanScanOneMark``).
  Mark work: ``span_mark_object_ns`` per such object, ``span_scan_ns`` per span visit with two
  or more, ``mark_object_ns`` for a lone one, slots as before; larger objects as before. Each
  such span reserves 128 bytes of inline mark bits, and a pointerful one its pointer bitmap,
  so a 16-byte scan span holds 496 objects instead of 512 (``span_nelems``). The marks of a
  cycle are taken to accumulate on their spans fully (the FIFO queue's best case); the
  AVX-512 dense scan path (``ScanSpanPacked``) and its scan-work accounting are not modelled.
- collector.py — the cycle: stop-the-world sweep termination, concurrent snapshot-at-the-
  beginning mark of the heap and the globals by background workers (25 % of GOMAXPROCS,
  starting ``mark_start_ns`` after the pause; idle Ps only with ``idle_mark_workers``), the
  hybrid write barrier on every STORE while marking, assists, stop-the-world mark termination.
- costs.py — the price of each unit of work; model.py — parameters, lowering and replay loop.

Time: allocation fast and slow paths, write barriers, page faults and synchronous scavenging
are memory-management work on the mutator's timeline (``mm_ns``); sweeping done by the
allocating goroutine and assists are collector work on it (``gc_ns``); background marking (the
dedicated worker, and idle Ps' workers), the background sweeper and the background scavenger
run on other Ps (``concurrent_ns``), which is why ``cpu_time_s`` exceeds ``wall_time_s``. The
rule for GOMAXPROCS=1: there is no spare P, so the fractional mark worker's 25 % of the wall
clock is collector work on the mutator's timeline (``gc_ns``) — but only once sysmon has preempted the
goroutine (10 ms into the mark); before that the assists do all the marking — the background
sweeper never gets to run (a one-goroutine program never blocks) and the scavenger's 1 % is
``mm_ns``; with GOMAXPROCS 2 or 3 the fractional worker runs on the spare P. Two pauses per
cycle.

What it simplifies or leaves out: one goroutine on one P (no work stealing, no per-goroutine
stack growth — the stack is 8 bytes per live register plus stack-allocated objects); the mark is
computed from the snapshot at mark start, so the goroutine's stack counts as scanned at that
instant; marking order, mark-queue overflow and cache misses are not simulated (Green Tea's
locality gain is priced per span visit, above, not simulated); Go 1.22's pointer bitmap at the
end of small pointerful spans is not reserved under "1.22" (it is under "1.27"); runtime
metadata, goroutine stacks and non-heap memory are not in the footprint; the scavenger ignores
the "dense chunk" heuristic and huge pages; periodic (2-minute) forced GCs and finalizers do not
exist in a trace. Mark time is mapped to events with the run's shared mutator cost table
(``Output.mutator``, so a ``[run.mutator_costs]`` override moves the mark windows too).
"""
from __future__ import annotations

from memcompare import hookimpl

from .costs import Costs
from .model import GoModel, Params

__all__ = ["GoModel", "Params", "Costs"]


@hookimpl
def register_models(register):
    register(GoModel)
