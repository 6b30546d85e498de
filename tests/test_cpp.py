"""The ``cpp`` model (C++ new/delete over glibc ptmalloc2) against numbers derived by hand.

Every expectation below follows from glibc 2.36 malloc/malloc.c's rules as docs/runtimes.md
§4.1 states them, worked through in the comments. Constants used throughout:

- chunk = max(32, (request + 8 + 15) & ~15), request = payload + 8 × slots (``request2size``);
- the heap starts at address 0 with the tcache_perthread_struct chunk of 656 bytes, so the
  first user chunk is at 656;
- the first malloc grows brk by page_round(656 + top_pad 131072 + MINSIZE 32) = 135168
  (33 pages), which leaves a top chunk of 135168 − 656 = 134512 bytes;
- chunk addresses below are chunk starts (malloc's result is 16 bytes further on).

The last test replays a random trace in the real glibc, when this machine has the version the
model follows, and compares every address, chunk size and brk/mmap footprint.
"""
from __future__ import annotations

import platform
import random
import shutil
import subprocess

import numpy as np
import pytest

import memcompare
from memcompare import Output, Recorder
from memcompare.trace import ALLOC, FREE
from memcompare_cpp import Costs, CppModel, Params
from memcompare_cpp.malloc import MMAP_BASE, request2size

FIRST_BRK = 135168          # page_round(656 + 131072 + 32)
STRUCT = 656                # tcache_perthread_struct chunk, always the heap's first chunk


def run(trace, **params):
    """Replay with the model alone (no engine): the model, its Output."""
    model = CppModel(Params(**params), Costs())
    out = Output(trace)
    model.run(trace, out)
    return model, out


def footprint_after(out: Output, i: int) -> int:
    """The footprint the model reported as holding after event ``i``."""
    at = np.asarray(out.fp_at)
    k = int(np.searchsorted(at, i, side="right")) - 1
    return int(out.fp_bytes[k])


# -- chunk sizes ------------------------------------------------------------------------------

# (payload, slots, chunk): request2size; glibc's malloc_usable_size is chunk − 8, measured on
# glibc 2.36 as 24 for requests 1–24, 40 for 25–40, 56 for 41–56 and 1048 for 1033.
CHUNKS = [
    (0, 0, 32), (1, 0, 32), (24, 0, 32),        # 24 + 8 = 32: the minimum chunk exactly
    (25, 0, 48), (40, 0, 48),                   # 25 + 8 = 33 → next multiple of 16 is 48
    (41, 0, 64), (56, 0, 64),
    (57, 0, 80),
    (200, 0, 208),                              # 208 = 200 + 8 rounded up
    (1032, 0, 1040),                            # the largest tcache chunk
    (1033, 0, 1056),                            # one more byte: the next class
    (8, 2, 32),                                 # 8 + 2 × 8 = 24 → 32
    (9, 2, 48),                                 # 25 → 48
    (16, 2, 48),                                # a binary-trees node: 32 bytes → 48
]


@pytest.mark.parametrize("payload,slots,chunk", CHUNKS)
def test_request2size(payload, slots, chunk):
    assert request2size(payload + 8 * slots) == chunk


def test_chunks_are_laid_out_back_to_back_after_the_tcache_struct():
    t = Recorder()
    for payload, slots, _ in CHUNKS:
        t.alloc(payload, slots)
    model, out = run(t.build())
    ids, nbytes = model.held()
    chunks = [c for _, _, c in CHUNKS]
    assert ids.tolist() == list(range(len(CHUNKS)))
    assert nbytes.tolist() == chunks
    # each chunk starts where the previous one ends; the first after the 656-byte struct
    starts = (STRUCT + np.concatenate(([0], np.cumsum(chunks)[:-1]))).tolist()
    assert model.addresses[:len(CHUNKS)] == starts
    assert out.allocated_bytes == sum(chunks)


def test_first_malloc_grows_brk_by_request_plus_top_pad_and_pays_for_it():
    t = Recorder()
    t.alloc(16)
    model, out = run(t.build())
    assert list(zip(out.fp_at, out.fp_bytes)) == [(0, FIRST_BRK)]
    c = Costs()
    # two trips through _int_malloc (the tcache struct, then the object), one sbrk, one page
    # touched for the first time (the struct's), two splits of top
    assert out.mm_ns[0] == pytest.approx(2 * c.int_malloc_ns + c.sbrk_ns + c.page_fault_ns
                                         + 2 * c.split_ns)
    assert out.stats["brk_grows"] == 1


# -- tcache and fastbins ----------------------------------------------------------------------

def test_tcache_reuses_the_freed_chunk_at_no_footprint():
    t = Recorder()
    a = t.alloc(16)
    t.free(a)
    t.alloc(16)
    model, out = run(t.build())
    assert model.addresses == [STRUCT, STRUCT]               # the same chunk, handed back
    assert out.stats["tcache_frees"] == 1
    assert out.stats["tcache_hits"] == 1
    assert list(out.fp_bytes) == [FIRST_BRK]              # never grew after the first sbrk
    c = Costs()
    assert out.free_ns[1] == c.tcache_put_ns
    assert out.mm_ns[2] == c.tcache_get_ns


def test_eighth_free_of_a_size_goes_past_the_tcache_to_a_fastbin():
    # 8 chunks of 32 bytes at 656, 688, ..., 880. Freed in order, the first 7 fill the tcache
    # bin (TCACHE_FILL_COUNT = 7); the 8th (32 ≤ 128, a fastbin size) is pushed on fastbin 32.
    t = Recorder()
    hs = [t.alloc(16) for _ in range(8)]
    for h in hs:
        t.free(h)
    for _ in range(8):
        t.alloc(16)
    model, out = run(t.build())
    first = [STRUCT + 32 * k for k in range(8)]
    assert model.addresses[:8] == first
    st = out.stats
    assert st["tcache_frees"] == 7 and st["fastbin_frees"] == 1
    assert out.free_ns[15] == Costs().fastbin_put_ns
    # tcache_get is LIFO: the 7 cached chunks come back newest first, then malloc falls
    # through to _int_malloc, whose fastbin holds the 8th
    assert model.addresses[8:] == first[6::-1] + [first[7]]
    assert st["tcache_hits"] == 7 and st["fastbin_hits"] == 1
    assert list(out.fp_bytes) == [FIRST_BRK]


def test_a_fastbin_hit_stashes_the_bins_other_chunks_in_the_tcache():
    # 16 frees: 7 to the tcache, 9 to fastbin 32. 16 mallocs: 7 tcache hits; a fastbin hit
    # that moves 7 more chunks to the tcache; 7 tcache hits; the last fastbin chunk.
    t = Recorder()
    hs = [t.alloc(16) for _ in range(16)]
    for h in hs:
        t.free(h)
    for _ in range(16):
        t.alloc(16)
    _, out = run(t.build())
    st = out.stats
    assert (st["tcache_hits"], st["fastbin_hits"], st["tcache_stashed"]) == (14, 2, 7)


def test_eighth_free_of_a_bin_sized_chunk_coalesces_into_top():
    # 8 chunks of 208 bytes at 656 + 208k; the 8th freed (a 208-byte chunk is above the
    # 128-byte fastbin limit) goes through _int_free's coalescing path and, bordering the top
    # chunk, becomes part of it: top then starts at the 8th chunk again.
    t = Recorder()
    hs = [t.alloc(200) for _ in range(8)]
    for h in hs:
        t.free(h)
    model, out = run(t.build())
    assert out.stats["bin_frees"] == 1
    assert model.arena.top == STRUCT + 7 * 208
    assert model.arena.free_chunks() == []


def test_a_large_request_consolidates_fastbins_and_reuses_their_memory():
    # 9 chunks of 32 at 656 + 32k; frees: 7 to the tcache, the 8th (880) and 9th (912) to
    # fastbin 32. A 2000-byte request (chunk 2016, large-bin sized) first runs
    # malloc_consolidate: 912 borders top and merges into it, then 880 does too. Top now
    # starts at 880, and the large chunk is split from there.
    t = Recorder()
    hs = [t.alloc(16) for _ in range(9)]
    for h in hs:
        t.free(h)
    t.alloc(2000)
    model, out = run(t.build())
    assert out.stats["consolidations"] == 1
    assert model.addresses[9] == STRUCT + 7 * 32
    assert model.chunk_sizes[9] == 2016


@pytest.mark.parametrize("payload,consolidated,address", [(200, False, 688),
                                                          (70000, True, STRUCT)])
def test_only_a_free_of_64_kib_or_more_consolidates_fastbins(payload, consolidated, address):
    # tcache off. A = 32 at 656, B = 32 at 688, C at 720, a guard after C. Freeing A and B
    # fills fastbin 32; freeing C (its neighbours B and the guard count as in use) merges
    # nothing. Only if C's chunk is at least FASTBIN_CONSOLIDATION_THRESHOLD (64 KiB) does
    # _int_free run malloc_consolidate: A, B and C then merge into one chunk at 656, and the
    # next 16-byte malloc splits it there; otherwise the fastbin hands out B (LIFO) at 688.
    t = Recorder()
    a = t.alloc(16)
    b = t.alloc(16)
    c = t.alloc(payload)
    t.alloc(16)
    t.free(a)
    t.free(b)
    t.free(c)
    t.alloc(16)
    model, out = run(t.build(), tcache_count=0)
    assert out.stats["consolidations"] == int(consolidated)
    assert model.addresses[4] == address


def test_a_chunk_too_small_to_split_is_handed_out_whole():
    # tcache off. A = 208 at 656, guard G = 32 at 864 keeps A from merging into top.
    # free A → unsorted. A 184-byte request needs 192: the unsorted scan files A (208) in its
    # small bin, best fit finds it, and the remainder 16 < MINSIZE: the whole 208 is used.
    t = Recorder()
    a = t.alloc(200)
    t.alloc(24)
    t.free(a)
    t.alloc(184)
    model, out = run(t.build(), tcache_count=0)
    assert model.addresses[2] == STRUCT
    ids, nbytes = model.held()
    assert dict(zip(ids.tolist(), nbytes.tolist())) == {1: 32, 2: 208}
    assert out.allocated_bytes == 208 + 32 + 208


def test_small_bins_hand_out_their_oldest_chunk():
    # tcache off. A = 208 at 656, guard 32 at 864, B = 208 at 896, guard 32 at 1104. Freeing
    # A then B puts both in the unsorted bin. A 100-byte request (chunk 112) files them, oldest
    # first, in small bin 208 and takes that bin's oldest chunk (malloc.c: victim = last (bin)),
    # A, splitting it: the 112 bytes at 656, the remainder 96 at 768 becomes the last remainder.
    t = Recorder()
    a = t.alloc(200)
    t.alloc(24)
    b = t.alloc(200)
    t.alloc(24)
    t.free(a)
    t.free(b)
    t.alloc(100)
    model, out = run(t.build(), tcache_count=0)
    assert model.addresses[4] == STRUCT
    assert model.arena.last_remainder == STRUCT + 112
    assert model.arena.free_chunks() == [(STRUCT + 112, 96), (896, 208)]


def test_large_bins_keep_the_first_chunk_of_a_size_last():
    """Three 1520-byte chunks X1 (656), X2 (2208), X3 (3760), each followed by a 32-byte guard.

    Freed in order, then a 3000-byte request (served by top) files them into large bin 71
    (sizes 1472–1535): X1 leads its size group, each later one goes "in the second position",
    so the bin reads X1, X3, X2. A 1480-byte request (chunk 1488, the same bin) takes the chunk
    after the leader, X3 ("Avoid removing the first entry for a size"); a 500-byte request
    (chunk 512) reaches the bin by the binmap scan and takes last (bin), X2; the leader X1 goes
    last.
    """
    t = Recorder()
    xs = []
    for _ in range(3):
        xs.append(t.alloc(1500))
        t.alloc(24)
    for x in xs:
        t.free(x)
    t.alloc(3000)
    t.alloc(1480)
    t.alloc(500)
    t.alloc(1480)
    model, _ = run(t.build())
    assert model.addresses[:6] == [656, 2176, 2208, 3728, 3760, 5280]
    assert model.addresses[6:] == [5312, 3760, 2208, 656]


# -- coalescing and trimming ------------------------------------------------------------------

def test_freeing_every_other_then_the_rest_coalesces_and_trims_back_to_the_first_brk():
    """1000 objects of 200 bytes (chunks of 208 at 656 + 208k).

    Growth: the first brk leaves 134512 in top; a chunk needs 208 + MINSIZE = 240 in top, so
    objects 0..645 fit (top left: 144). Object 646 makes sysmalloc grow brk by
    page_round(208 + 131072 + 32 − 144) = 135168: brk peaks at 270336.

    Frees of the even objects: 0..12 fill the tcache (7); the other 493 go to the unsorted bin
    with both neighbours in use — nothing merges. Frees of the odd objects (tcache full):
    1..11 sit between tcache chunks, which count as in use, so they stay single. 13 merges
    forward with 14 (1 merge); 15..997 each merge backward and forward (492 × 2); 999 merges
    backward and then into top: 1 + 984 + 1 = 986 coalesces. Top then spans object 13 to brk:
    270336 − (656 + 13 × 208) = 266976 ≥ trim_threshold, and systrim releases
    (266976 − 32 − 1 − 131072) // 4096 = 33 pages = 135168 bytes: brk is back at 135168.
    """
    t = Recorder()
    hs = [t.alloc(200) for _ in range(1000)]
    for k in range(0, 1000, 2):
        t.free(hs[k])
    for k in range(1, 1000, 2):
        t.free(hs[k])
    trace = t.build()
    model, out = run(trace)
    assert model.addresses[646] == STRUCT + 646 * 208
    assert footprint_after(out, 645) == FIRST_BRK
    assert footprint_after(out, 646) == 270336
    assert max(out.fp_bytes) == 270336
    assert footprint_after(out, trace.events - 2) == 270336        # before the last free
    assert footprint_after(out, trace.events - 1) == FIRST_BRK
    st = out.stats
    assert (st["brk_grows"], st["trims"], st["coalesces"]) == (2, 1, 986)
    assert model.arena.free_chunks() == [(STRUCT + 208 * k, 208) for k in range(1, 12, 2)]
    assert model.arena.top == STRUCT + 13 * 208


# -- mmap and the dynamic threshold -----------------------------------------------------------

def test_mmapped_chunk_is_returned_on_free_and_raises_the_threshold():
    """A 256 KiB request: chunk 262160 ≥ mmap_threshold 131072, and the 134512-byte top cannot
    serve it, so sysmalloc maps page_round(262160 + 8) = 266240 bytes (65 pages).

    Freeing it unmaps it and, as 266240 > 131072, raises the mmap threshold to 266240 and the
    trim threshold to 532480. The same request again is now below the threshold: brk grows by
    page_round(262160 + 131072 + 32 − 134512) = 262144 and the chunk is at 656. Freeing that
    merges it into top (396656 bytes), which is below the raised trim threshold: no trim.
    """
    t = Recorder()
    a = t.alloc(256 * 1024)
    t.free(a)
    b = t.alloc(256 * 1024)
    t.free(b)
    model, out = run(t.build())
    assert model.addresses[0] >= MMAP_BASE and model.chunk_sizes[0] == 266240
    assert model.addresses[1] == STRUCT and model.chunk_sizes[1] == 262160
    assert [footprint_after(out, i) for i in range(4)] == [
        FIRST_BRK + 266240, FIRST_BRK, FIRST_BRK + 262144, FIRST_BRK + 262144]
    st = out.stats
    assert (st["mmaps"], st["munmaps"], st["trims"]) == (1, 1, 0)
    assert (st["mmap_threshold_final"], st["trim_threshold_final"]) == (266240, 532480)
    c = Costs()
    assert out.free_ns[1] == c.munmap_ns
    assert out.allocated_bytes == 266240 + 262160


@pytest.mark.parametrize("first,payload,mmapped,footprint", [
    # a fresh top (134512) holds chunk 131072 + MINSIZE: _int_malloc's use_top serves it,
    # sysmalloc (and with it the threshold) is never reached
    (None, 131056, False, FIRST_BRK),
    # after an 8000-byte object (chunk 8016) top has 126496: sysmalloc, and chunk 131072 is
    # at the threshold (nb >= mmap_threshold): mapped, page_round(131072 + 8) = 135168
    (8000, 131056, True, FIRST_BRK + 135168),
    # one size class less, chunk 131056 < 131072: brk grows by
    # page_round(131056 + 131072 + 32 − 126496) = 139264
    (8000, 131048, False, FIRST_BRK + 139264),
])
def test_mmap_threshold_is_inclusive_and_only_reached_when_top_cannot_serve(
        first, payload, mmapped, footprint):
    t = Recorder()
    if first is not None:
        t.alloc(first)
    t.alloc(payload)
    model, out = run(t.build())
    assert (model.addresses[-1] >= MMAP_BASE) == mmapped
    assert out.fp_bytes[-1] == footprint


def test_trim_keeps_top_pad():
    # top_pad 1 MiB: the first brk is page_round(656 + 1048576 + 32) = 1052672, top 1052016.
    # A = 100000 bytes (chunk 100016) and a 32-byte guard come from top, leaving 951968.
    # Freeing A coalesces nothing, but 100016 ≥ 64 KiB asks systrim, and top's 951968 − 33
    # bytes are no more than top_pad: nothing is released.
    t = Recorder()
    a = t.alloc(100000)
    t.alloc(16)
    t.free(a)
    _, out = run(t.build(), top_pad=1 << 20)
    assert list(out.fp_bytes) == [1052672]
    assert out.stats["trims"] == 0


@pytest.mark.parametrize("trim_threshold,trimmed", [(101744, True), (101745, False)])
def test_trim_without_top_pad_releases_every_whole_free_page(trim_threshold, trimmed):
    # top_pad 0: the first brk is page_round(656 + 32) = 4096 (top 3440). A = 100000 bytes
    # (chunk 100016) grows brk by page_round(100016 + 32 − 3440) = 98304 to 102400. Freeing A
    # merges it into top: 101744 bytes from 656. At a trim threshold of 101744 (reached:
    # top >= threshold) systrim releases (101744 − 33) // 4096 = 24 pages = 98304, and brk is
    # back at 4096; one byte more and nothing is trimmed.
    t = Recorder()
    a = t.alloc(100000)
    t.free(a)
    _, out = run(t.build(), top_pad=0, trim_threshold=trim_threshold, dynamic_threshold=False)
    assert out.fp_bytes[0] == 102400
    assert out.fp_bytes[-1] == (4096 if trimmed else 102400)


def test_brk_growth_leaves_room_for_a_minimum_chunk_in_top():
    # top_pad 0, top 3440 after the tcache struct. A chunk of 7520 (payload 7512) needs
    # page_round(7520 + 0 + MINSIZE 32 − 3440) = page_round(4112) = 8192 more: brk 12288.
    t = Recorder()
    t.alloc(7512)
    _, out = run(t.build(), top_pad=0, dynamic_threshold=False)
    assert list(out.fp_bytes) == [12288]


def test_dynamic_threshold_only_rises_and_ignores_chunks_over_32_mib():
    """Both first requests are mmapped: 600000 → 602112 (page_round(600016 + 8)) and
    300000 → 303104. Freeing the big one raises the threshold to 602112; freeing the small one
    (303104, below it) changes nothing, so 400000 (chunk 400016) comes from the heap, at 656.
    A 40 MiB chunk (41947136) is mmapped, and freeing it does not raise the threshold: it is
    over DEFAULT_MMAP_THRESHOLD_MAX (32 MiB). So 700000 (chunk 700016 ≥ 602112) is mmapped.
    """
    t = Recorder()
    big = t.alloc(600000)
    small = t.alloc(300000)
    t.free(big)
    t.free(small)
    t.alloc(400000)
    huge = t.alloc(40 << 20)
    t.free(huge)
    t.alloc(700000)
    model, out = run(t.build())
    assert model.chunk_sizes[:2] == [602112, 303104]
    assert model.addresses[2] == STRUCT
    assert model.chunk_sizes[3] == 41947136
    assert model.addresses[4] >= MMAP_BASE
    assert out.stats["mmap_threshold_final"] == 602112
    assert out.stats["mmap_threshold_raises"] == 1


def test_without_the_dynamic_threshold_both_requests_are_mmapped():
    t = Recorder()
    a = t.alloc(256 * 1024)
    t.free(a)
    t.alloc(256 * 1024)
    model, out = run(t.build(), dynamic_threshold=False)
    assert out.stats["mmaps"] == 2
    assert footprint_after(out, 2) == FIRST_BRK + 266240


# -- local objects and leaks ------------------------------------------------------------------

def test_local_objects_cost_nothing_and_take_no_heap():
    t = Recorder()
    a = t.alloc(16)                     # heap: 656
    loc = t.alloc(64, 2, local=True)    # the stack
    b = t.alloc(16)                     # heap: 688, right after a
    t.free(loc)
    t.free(b)
    t.free(a)
    trace = t.build()
    model, out = run(trace)
    assert model.addresses[0] == STRUCT and model.addresses[2] == STRUCT + 32
    assert out.mm_ns[1] == 0 and out.free_ns[3] == 0
    assert out.allocated_bytes == 64
    assert out.stats["local_objects"] == 1 and out.stats["mallocs"] == 2

    t = Recorder()
    h = t.alloc(1000, local=True)
    t.free(h)
    t.alloc(5000, local=True)           # never freed: held, but with no heap bytes
    model, out = run(t.build())
    assert not np.any(out.mm_ns) and not np.any(out.free_ns)
    assert list(out.fp_bytes) == [0] and out.allocated_bytes == 0
    ids, nbytes = model.held()
    assert ids.tolist() == [1] and nbytes.tolist() == [0]


def test_every_free_is_reported_at_its_event():
    t = Recorder()
    a = t.alloc(16)
    b = t.alloc(16, local=True)
    t.free(b)
    t.free(a)
    _, out = run(t.build())
    assert list(out.reclaimed_ids) == [1, 0]
    assert list(out.reclaimed_at) == [2, 3]


def test_a_trace_that_never_frees_holds_every_object_with_its_chunk():
    t = Recorder()
    for payload in (1, 24, 25, 40, 41, 1033, 266216, 266232):
        t.alloc(payload)
    model, _ = run(t.build())
    ids, nbytes = model.held()
    # the last two are mmapped (chunk ≥ 131072 and more than top holds): an mmapped chunk
    # needs 8 bytes more than its heap chunk, then whole pages:
    # 266216 → chunk 266224, + 8 = 266232 → 65 pages = 266240;
    # 266232 → chunk 266240, + 8 = 266248 → 66 pages = 270336
    assert ids.tolist() == list(range(8))
    assert nbytes.tolist() == [32, 32, 48, 48, 64, 1056, 266240, 270336]


# -- end to end through the engine ------------------------------------------------------------

def test_replay_of_a_trace_that_frees_everything_leaks_nothing():
    t = Recorder()
    hs = [t.alloc(200) for _ in range(1000)]
    for k in range(0, 1000, 2):
        t.free(hs[k])
    for k in range(1, 1000, 2):
        t.free(hs[k])
    r = memcompare.replay(t.build(), "cpp")
    assert r.status == "ok"
    m = r.metrics
    assert m["leaked_bytes"] == 0
    assert m["footprint_peak_bytes"] == 270336          # see the coalescing test above
    assert m["allocated_bytes"] == 1000 * 208
    assert m["live_peak_bytes"] == 1000 * 200
    assert m["gc_count"] == 0 and m["pause_count"] == 0


def test_replay_of_a_trace_that_never_frees_leaks_its_unreachable_chunks():
    # a: 100 bytes → chunk 112, dropped: unreachable. b: 24 bytes → 32, stored into c. c: 16
    # bytes + 1 slot → 32, kept in a register: b and c are reachable, not leaked.
    t = Recorder()
    a = t.alloc(100)
    b = t.alloc(24)
    c = t.alloc(16, 1)
    t.store(c, 0, b)
    t.drop(b)
    t.drop(a)
    r = memcompare.replay(t.build(), "cpp")
    assert r.status == "ok"
    assert r.metrics["leaked_bytes"] == 112
    assert r.metrics["allocated_bytes"] == 112 + 32 + 32


def test_binary_trees_replays_with_every_node_freed():
    trace = memcompare.record("binary-trees", max_depth=6)
    r = memcompare.replay(trace, "cpp")
    assert r.status == "ok"
    assert r.metrics["leaked_bytes"] == 0
    # one malloc per node and a tcache/fastbin-sized node: nothing but the first sbrk
    assert r.stats["mallocs"] == trace.counts()["alloc"] - r.stats["local_objects"]
    assert r.stats["brk_grows"] >= 1 and r.stats["mmaps"] == 0


# -- the real glibc ---------------------------------------------------------------------------

GLIBC = platform.libc_ver()


MIXES = {
    "everything": (1, 24, 40, 100, 200, 600, 1000, 1500, 5000, 20000, 70000, 140000, 300000),
    "fastbins": (1, 8, 16, 24, 40, 56, 72, 100, 120, 300, 1100),
    "large bins": (1100, 1100, 1500, 3000, 5000, 5000, 9000, 17000, 33000, 66000),
}


@pytest.mark.skipif(shutil.which("gcc") is None or GLIBC != ("glibc", "2.36"),
                    reason="needs gcc and glibc 2.36, the version the model follows")
@pytest.mark.parametrize("mix", sorted(MIXES))
def test_matches_live_glibc_on_a_random_trace(tmp_path, mix):
    """Replay one random malloc/free sequence in a C program and in the model: every chunk's
    address and size and the footprint (brk extent + mmapped bytes) after every call agree."""
    rng = random.Random(5)
    sizes = MIXES[mix]
    t = Recorder()
    live = []
    for _ in range(2500):
        if live and rng.random() < 0.5:
            t.free(live.pop(rng.randrange(len(live))))
        else:
            live.append(t.alloc(max(0, rng.choice(sizes) + rng.randrange(-16, 17))))
    rng.shuffle(live)
    for h in live:
        t.free(h)
    trace = t.build()
    ev = np.flatnonzero((trace.op == ALLOC) | (trace.op == FREE))
    req = trace.obj_bytes
    lines = ["#include <stdio.h>", "#include <stdlib.h>", "#include <malloc.h>",
             "#include <unistd.h>",
             f"static void *P[{trace.objects}]; static long A[{ev.size}], S[{ev.size}],"
             f" F[{ev.size}];",
             "int main(void) { char *b0 = sbrk(0);"]
    for k, i in enumerate(ev.tolist()):
        o = int(trace.x[i])
        if trace.op[i] == ALLOC:
            lines.append(f"P[{o}] = malloc({int(req[o])}); A[{k}] = (char *)P[{o}] - b0;"
                         f" S[{k}] = malloc_usable_size(P[{o}]);")
        else:
            lines.append(f"free(P[{o}]); A[{k}] = S[{k}] = 0;")
        lines.append(f"F[{k}] = ((char *)sbrk(0) - b0) + (long)mallinfo2().hblkhd;")
    lines.append(f'for (int k = 0; k < {ev.size}; k++) printf("%ld %ld %ld\\n", A[k], S[k],'
                 ' F[k]); return 0; }')
    (tmp_path / "t.c").write_text("\n".join(lines))
    subprocess.run(["gcc", "-O0", "-o", str(tmp_path / "t"), str(tmp_path / "t.c")], check=True)
    text = subprocess.run([str(tmp_path / "t")], capture_output=True, text=True,
                          check=True).stdout
    real = np.array([[int(v) for v in line.split()] for line in text.splitlines()])

    model, out = run(trace)
    fp_at = np.asarray(out.fp_at)
    for k, i in enumerate(ev.tolist()):
        fp = out.fp_bytes[int(np.searchsorted(fp_at, i, side="right")) - 1]
        assert fp == real[k, 2], f"footprint after event {i}"
        if trace.op[i] != ALLOC:
            continue
        o = int(trace.x[i])
        addr, size = model.addresses[o], model.chunk_sizes[o]
        if addr >= MMAP_BASE:
            assert size - 16 == real[k, 1], f"mmapped chunk of object {o}"
        else:
            assert (addr + 16, size - 8) == (real[k, 0], real[k, 1]), f"chunk of object {o}"


# -- ownership = "shared_ptr" (libstdc++ 12 bits/shared_ptr_base.h) ---------------------------

def text(src: str):
    from memcompare.traceio import parse_text
    return parse_text(src, source="t.mctrace.txt")


def test_make_shared_puts_the_control_block_before_the_object():
    # request = 16 (vptr + use count + weak count) + payload + 16 per slot (a shared_ptr member
    # is a pointer and a control-block pointer): 16 + 16 + 16 = 48 -> chunk 64; raw new/delete
    # asks for 16 + 8 = 24 -> chunk 32
    trace = text("alloc 0 16 1\nfree 0\n")
    _, raw = run(trace)
    model, sp = run(trace, ownership="shared_ptr")
    assert raw.allocated_bytes == 32
    assert sp.allocated_bytes == request2size(48) == 64
    assert sp.stats["mallocs"] == 1 and sp.stats["destroyed"] == 1


SHARED = """\
alloc 0 16 1      # A, count 1
alloc 1 16 1      # B, count 1
store 0 0 1       # A.0 = B: B 2 (an increment)
move 2 1          # r2 = B: B 3 (an increment)
clear 1           # B 2 (a decrement)
clear 2           # B 1 (a decrement)
free 0            # A's last reference: destroyed; its destructor releases B: destroyed too
"""


def test_shared_ptr_counts_copies_and_destroys_at_zero_with_a_cascade():
    trace = text(SHARED)
    c = Costs()
    model, out = run(trace, ownership="shared_ptr")
    mm, fr = np.asarray(out.mm_ns), np.asarray(out.free_ns)
    # copies are locked increments, releases that are not the last locked decrements; the
    # last release of A is the unique path (one load, no locked instruction)
    assert list(mm[2:7]) == [c.atomic_inc_ns, c.atomic_inc_ns, c.atomic_dec_ns,
                             c.atomic_dec_ns, c.last_release_ns]
    # at the FREE: destroy A (destroy_ns + glibc free: a tcache put), release B, its last
    # reference, and destroy B likewise
    assert fr[6] == 2 * (c.destroy_ns + c.tcache_put_ns) + c.last_release_ns
    assert fr[:6].sum() == 0
    assert list(out.reclaimed_at) == [6, 6] and sorted(out.reclaimed_ids) == [0, 1]
    st = out.stats
    assert (st["rc_increments"], st["rc_decrements"]) == (2, 4)   # 3 at events + 1 cascaded
    assert (st["destroyed"], st["cascade_destroyed"], st["leaked_objects"]) == (2, 1, 0)
    # single-threaded, libstdc++ counts with plain instructions
    _, plain = run(trace, ownership="shared_ptr", atomic_counts=False)
    assert list(np.asarray(plain.mm_ns)[2:7]) == [c.plain_inc_ns, c.plain_inc_ns,
                                                  c.plain_dec_ns, c.plain_dec_ns,
                                                  c.last_release_ns]


def test_shared_ptr_frees_what_the_program_forgot_to_delete():
    # B hangs off A only; the program deletes A and never B: under new/delete B leaks (its
    # 16 + 8 -> 32-byte chunk), under shared_ptr A's destructor releases B at the same event
    trace = text("alloc 0 8 1\nalloc 1 8 0\nstore 0 0 1\nclear 1\nfree 0\n")
    _, out = run(trace, ownership="shared_ptr")
    assert sorted(zip(out.reclaimed_at, out.reclaimed_ids)) == [(4, 0), (4, 1)]
    assert memcompare.replay(trace, "cpp").metrics["leaked_bytes"] == 32
    assert memcompare.replay(trace, "cpp", ownership="shared_ptr").metrics["leaked_bytes"] == 0


def test_a_cycle_of_shared_ptrs_leaks():
    # A.0 = B, B.0 = A, both registers dropped: each count stays at 1. Each object: 16 + 8 +
    # 16 = 40 bytes -> chunk 48; both leak: 96 bytes. Under new/delete both are freed.
    trace = text("alloc 0 8 1\nalloc 1 8 1\nstore 0 0 1\nstore 1 0 0\nfree 0\nfree 1\n")
    r = memcompare.replay(trace, "cpp", ownership="shared_ptr")
    assert r.status == "ok"
    assert r.metrics["leaked_bytes"] == 2 * 48
    assert r.stats["leaked_objects"] == 2 and r.stats["destroyed"] == 0
    assert memcompare.replay(trace, "cpp").metrics["leaked_bytes"] == 0
    # breaking the cycle first (B.0 = null) lets both die
    trace = text("alloc 0 8 1\nalloc 1 8 1\nstore 0 0 1\nstore 1 0 0\nstore 1 0 -\n"
                 "free 0\nfree 1\n")
    r = memcompare.replay(trace, "cpp", ownership="shared_ptr")
    assert r.metrics["leaked_bytes"] == 0 and r.stats["destroyed"] == 2


def test_shared_ptr_local_objects_take_no_block_and_no_counting():
    # a local object is an automatic variable: no make_shared, no counted references; its
    # scope ends at its FREE, where its destructor releases its slot (B: destroyed)
    trace = text("alloc 0 8 1 local\nalloc 1 8 0\nstore 0 0 1\nclear 1\nfree 0\n")
    c = Costs()
    _, out = run(trace, ownership="shared_ptr")
    mm, fr = np.asarray(out.mm_ns), np.asarray(out.free_ns)
    assert mm[0] == 0 and mm[2] == c.atomic_inc_ns and mm[3] == c.atomic_dec_ns
    assert mm[4] == 0                                     # the local's own end: no counting
    assert fr[4] == c.last_release_ns + c.destroy_ns + c.tcache_put_ns
    assert out.allocated_bytes == request2size(16 + 8)
    assert sorted(zip(out.reclaimed_at, out.reclaimed_ids)) == [(4, 0), (4, 1)]


# -- allocator = "pool" and "arena": footprint after a fragmenting phase ----------------------
#
# With mmap_threshold = 0 and no dynamic threshold every malloc the allocators make is its own
# mmapped chunk (the empty heap has no top to split): page_round(request2size(n) + 8) bytes,
# 4096 for anything up to 4080. The first one is the tcache_perthread_struct (656 bytes).

MMAP_ONLY = {"mmap_threshold": 0, "dynamic_threshold": False}


def fragmenting(t: Recorder, n: int, first: int, then: int):
    """``n`` objects of ``first`` bytes, every other one freed, then ``n`` of ``then`` bytes;
    returns the two survivor lists."""
    a = [t.alloc(first) for _ in range(n)]
    keep = []
    for k, h in enumerate(a):
        if k % 2:
            t.free(h)
        else:
            keep.append(h)
    b = [t.alloc(then) for _ in range(n)]
    return keep, b


def test_pool_keeps_freed_chunks_for_their_size_class():
    # 64 objects of 24 bytes: partition 24; blocks of 32 then 64 chunks (32 × 24 + 16 = 784
    # and 64 × 24 + 16 = 1552 bytes, one page each). Freeing every other one gives nothing
    # back. 64 of 40 bytes cannot use those chunks: blocks of 32 × 40 + 16 = 1296 and
    # 64 × 40 + 16 = 2576 bytes, a page each. Footprint: 1 + 2 + 2 pages = 20,480 bytes, held
    # to the end although only 32 + 64 objects live. The free lists end with 96 − 32 = 64
    # chunks of 24 and 96 − 64 = 32 of 40.
    t = Recorder()
    keep, b = fragmenting(t, 64, 24, 40)
    for h in keep + b:
        t.free(h)
    trace = t.build()
    model, out = run(trace, allocator="pool", **MMAP_ONLY)
    st = out.stats
    assert st["pool_blocks"] == 4
    assert st["pool_block_bytes"] == 784 + 1552 + 1296 + 2576
    first_b = int(np.flatnonzero(trace.op == ALLOC)[64])
    assert footprint_after(out, first_b - 1) == 3 * 4096
    assert max(out.fp_bytes) == 5 * 4096
    assert footprint_after(out, trace.events - 1) == 5 * 4096      # never trimmed
    assert st["pool_free_chunks_final"] == 96 + 96          # everything freed at the end
    assert out.allocated_bytes == 64 * 24 + 64 * 40
    # new/delete over glibc with the same settings: every object is its own mmapped chunk,
    # unmapped at its delete, so only the tcache struct's page is left at the end
    _, g = run(trace, **MMAP_ONLY)
    assert footprint_after(g, trace.events - 1) == 4096     # only the tcache struct left


def test_pool_serves_large_requests_from_malloc():
    t = Recorder()
    h = t.alloc(2000)
    t.free(h)
    _, out = run(t.build(), allocator="pool", **MMAP_ONLY)
    assert out.stats["pool_blocks"] == 0 and out.stats["mmaps"] == 2


def test_arena_frees_a_region_only_when_all_its_objects_are_dead():
    # regions of 1 KiB (chunk 1040 -> one mmapped page each). 64 objects of 24 bytes take 32
    # bytes each (16-byte alignment): 32 per region, 2 regions. Freeing every other one
    # empties neither. 64 objects of 40 bytes take 48: 21 per region, 4 regions (21, 21, 21,
    # 1). Footprint then: tcache struct + 2 + 4 pages = 28,672. Freeing the 24-byte
    # survivors empties regions 1 and 2 (no longer filled): 20,480. Freeing the rest
    # empties regions 3, 4, 5; region 6 is still the one being filled and stays: 8,192.
    t = Recorder()
    keep, b = fragmenting(t, 64, 24, 40)
    for h in keep:
        t.free(h)
    for h in b:
        t.free(h)
    trace = t.build()
    _, out = run(trace, allocator="arena", region_kb=1, **MMAP_ONLY)
    frees = np.flatnonzero(trace.op == FREE)
    assert max(out.fp_bytes) == 7 * 4096
    assert footprint_after(out, int(frees[31])) == 3 * 4096   # after the fragmenting frees
    assert footprint_after(out, int(frees[32]) - 1) == 7 * 4096   # then 4 regions more
    assert footprint_after(out, int(frees[32 + 31])) == 5 * 4096
    assert footprint_after(out, trace.events - 1) == 2 * 4096
    st = out.stats
    assert (st["regions"], st["regions_released"], st["regions_held_final"]) == (6, 5, 1)
    assert out.allocated_bytes == 64 * 32 + 64 * 48


def test_arena_gives_a_large_object_a_region_of_its_own():
    # 3000 bytes > a 1 KiB region: its own region of 3008 bytes, freed with the object
    t = Recorder()
    h = t.alloc(3000)
    t.free(h)
    _, out = run(t.build(), allocator="arena", region_kb=1, **MMAP_ONLY)
    assert out.stats["regions"] == 1 and out.stats["regions_released"] == 1
    assert out.allocated_bytes == 3008
