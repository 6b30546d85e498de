"""Every built-in model passes the plugin author's conformance kit (memcompare.testing), and the
kit's tricky traces are what they claim to be."""
from __future__ import annotations

import numpy as np

from memcompare.testing import (DEAD_CYCLES, LIST_NODES, TRICKY, conformance,
                                tricky_trace)

# one line per model, exactly as a plugin author writes it
test_cpp_conformance = conformance("cpp")
test_cpp_pool_conformance = conformance("cpp", params={"allocator": "pool"})
test_cpp_arena_conformance = conformance("cpp", params={"allocator": "arena"})
# shared_ptr: the dead cycles leak (can_leak_cycles), everything else is destroyed at zero
test_cpp_shared_ptr_conformance = conformance("cpp", params={"ownership": "shared_ptr"})
test_nogc_conformance = conformance("nogc")
test_jvm_conformance = conformance("jvm")
test_cpython_conformance = conformance("cpython")
# CPython with its cycle collector off keeps dead cycles (can_leak_cycles): the kit allows it
test_cpython_gc_off_conformance = conformance("cpython", params={"gc_enabled": False})
test_jvm_parallel_conformance = conformance("jvm", params={"collector": "parallel"})

test_go_conformance = conformance("go")
test_go_one_proc_conformance = conformance("go", params={"gomaxprocs": 1, "gogc": 25})


def test_the_long_list_is_200000_nodes_deep():
    t = tricky_trace("long-list-200k")
    assert LIST_NODES == 200_000
    # 200,000 list nodes of one slot plus 2,048 garbage blocks of 4 KiB
    assert t.objects == 200_000 + 2048
    assert int((t.obj_nslots == 1).sum()) == 200_000
    assert (t.obj_free_at >= 0).all()                   # the list is deleted node by node
    assert t.live_peak_bytes == 200_000 * (16 + 8) + 4096


def test_the_tricky_cases_cover_what_the_issue_lists():
    assert set(TRICKY) == {"long-list-200k", "cycles", "slots-0-and-1000", "huge-objects",
                           "register-churn", "empty", "live-at-end"}
    assert tricky_trace("empty").events == 0
    slots = tricky_trace("slots-0-and-1000")
    assert set(np.unique(slots.obj_nslots).tolist()) == {0, 1000}
    assert (slots.obj_bytes == 0).any()                 # zero payload, zero slots
    assert tricky_trace("huge-objects").obj_size.max() == 64 << 20
    churn = tricky_trace("register-churn")
    assert churn.counts()["move"] > 5000 and churn.registers == 48
    live = tricky_trace("live-at-end")
    # a 4,095-node tree, a 5-node ring and 4 loose objects are still reachable at the end
    assert int(live.reachable_at_end().sum()) == 4095 + 5 + 4
    assert DEAD_CYCLES == {"cycles"}


def test_every_tricky_trace_but_live_at_end_frees_everything():
    for case in TRICKY:
        t = tricky_trace(case)
        if case == "live-at-end":
            assert (t.obj_free_at[t.reachable_at_end()] == -1).all()
        else:
            assert (t.obj_free_at >= 0).all(), case
