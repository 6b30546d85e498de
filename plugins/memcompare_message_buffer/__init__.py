"""message-buffer: the "GC latency" experiment — a sliding window of 1 KiB messages.

The program it stands for is the message store of Pusher's pub/sub bus as distilled by James
Fisher, "Low latency, large working set, and GHC's garbage collector: pick two of three" (Pusher
blog, May 2016). Gabriel Scherer carried it to OCaml and Racket ("Measuring GC latencies in
Haskell, OCaml, Racket", PRL blog, 2016) and Will Sewell to Go ("Golang's Real-time GC in Theory
and Practice", Pusher blog, 2017); versions in many languages are collected at
https://github.com/WillSewell/gc-latency-experiment.
Its Go version keeps ``windowSize = 200000`` messages of 1024 bytes in an array, writes message
``i`` into slot ``i % windowSize`` for ``msgCount = 1000000`` messages, and measures the worst
time of one push: a large, slowly changing working set whose every message dies at the same age,
which stop-the-world collectors pause on in proportion to the window.

Here the ring is one object with ``window`` pointer slots (and no payload); a message is an object
of ``payload`` bytes and no slots. Each push allocates the new message, fills it (``fill_ns`` of
WORK: ``mkMessage`` writes every byte), loads the message it evicts into a handle, stores the new
one into the slot and deletes the old one — the C++ order, since the old message may be freed
only once the ring no longer points to it. So ``window + 1`` messages are live for a moment at
every push, as in the Go program, where the new message exists before the old one is overwritten.
At the end the program deletes the ring and every message still in it as one batch (a C++
destructor: ``for (m : ring) delete m; delete[] ring;``), which holds a handle per message.

With ``format_buffer`` > 0 each push first takes a scratch buffer of that many bytes to format
the message in, which never escapes the push: an ALLOC flagged ``local`` and its FREE once the
message is stored (the stack in Go and in HotSpot's compiled code, a C++ automatic array, a heap
``bytearray`` in CPython).

The workload is deterministic; it must not use the global ``random`` module.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from memcompare import Recorder, Workload, hookimpl, param
from memcompare.trace import INTO, SWAP


@dataclass(frozen=True)
class Params:
    messages: int = param(20000, "messages pushed in all (the experiment's msgCount: 1000000)",
                          minimum=1)
    window: int = param(2000, "messages kept in the ring (the experiment's windowSize: 200000)",
                        minimum=1)
    payload: int = param(1024, "bytes per message (the experiment's 1 KiB)", minimum=0)
    fill_ns: int = param(250, "computation to fill one message (mkMessage's byte loop, assumed "
                              "~0.25 ns per byte), ns", minimum=0)
    format_buffer: int = param(0, "bytes of a scratch buffer each push formats its message in "
                                  "and drops (Go `var buf [N]byte`, a C++ `char buf[N]`, a "
                                  "Java `byte[]` escape analysis can replace, a CPython "
                                  "`bytearray`), recorded `local`; 0: none", minimum=0)


class MessageBuffer(Workload):
    """Pusher's GC-latency experiment: a ring of `window` 1 KiB messages, the oldest replaced."""

    name = "message-buffer"
    Params = Params

    def record(self, params: Params, t: Recorder, rng: random.Random) -> None:
        p = params
        ring = t.alloc(0, p.window)
        if p.format_buffer:
            # one push at a time: each takes its local scratch buffer before the message and
            # ends its scope after it (the events of the batched path below, with the
            # buffer's ALLOC and FREE around each push)
            for i in range(p.messages):
                slot = i % p.window
                buf = t.alloc(p.format_buffer, 0, local=True)
                if i >= p.window:
                    t.replace(ring, slot, p.payload, work=p.fill_ns)
                else:
                    t.alloc_into(ring, slot, p.payload, work=p.fill_ns)
                t.free(buf)                      # the buffer's scope ends with the push
        else:
            # push i: alloc the message, fill it, then (once the ring is full) load the message
            # it evicts, store the new one, drop its handle and free the old one —
            # t.replace(ring, i % window, payload, work=fill_ns), or t.alloc_into(...) while the
            # ring fills; the pushes in a few recorder calls (of at most 65536 pushes: the
            # recording's memory)
            for lo in range(0, p.messages, 65536):
                i = np.arange(lo, min(lo + 65536, p.messages))
                t.slot_ops(ring, np.where(i >= p.window, SWAP, INTO), i % p.window, p.payload,
                           p.fill_ns)
        held = [t.load(ring, slot) for slot in range(min(p.messages, p.window))]
        t.free(ring)
        for msg in held:
            t.free(msg)


@hookimpl
def register_workloads(register):
    register(MessageBuffer)
