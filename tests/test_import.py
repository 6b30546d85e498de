"""Trace import (TraceFileSim) and the reachability oracle (docs/trace-import.md).

Expected register traces are written by hand from the mapping in docs/trace-import.md; the
oracle's death times are checked against a brute force that re-traces the heap after every event.
"""
from __future__ import annotations

import argparse

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memcompare
from memcompare.errors import TraceError
from memcompare.importers import add_import_parser, import_tracefilesim, run_import
from memcompare.oracle import death_times, insert_frees, insert_frees_mapped
from memcompare.trace import (ALLOC, CLEAR, FREE, LOAD, MOVE, NULL, STORE, WORK, build,
                              reachable)
from memcompare.traceio import load, parse_text, to_text


def brute_force_death_times(trace) -> np.ndarray:
    """Per object, the first event after which it is unreachable (re-traced from scratch)."""
    n = trace.objects
    base, nsl = trace.obj_slot_base, trace.obj_nslots
    regs = np.full(max(trace.registers, 1), -1, dtype=np.int64)
    slots = np.full(int(nsl.sum()), -1, dtype=np.int64)
    death = np.full(n, -1, dtype=np.int64)
    born = np.zeros(n, dtype=bool)
    for i in range(trace.events):
        o, a, b = int(trace.op[i]), int(trace.a[i]), int(trace.b[i])
        x, y = int(trace.x[i]), int(trace.y[i])
        if o in (ALLOC, LOAD, MOVE):
            regs[a] = x
            if o == ALLOC:
                born[x] = True
        elif o == STORE:
            slots[base[x] + b] = y
        elif o in (CLEAR, FREE):
            regs[a] = -1
        live = reachable(regs, slots, base, nsl, n)
        death[born & ~live & (death < 0)] = i
    return death


def tfs(text: str, name: str = "t.trace"):
    return import_tracefilesim(text, source=name)


# -- hand-written TraceFileSim traces ---------------------------------------------------------

CYCLE = """\
a T1 O1 S24 N1
+ T1 O1
a T1 O2 S24 N1
+ T1 O2
w T1 P1 #0 O2
w T1 P2 #0 O1
- T1 O2
- T1 O1
"""

# GarCoSim/TraceFileSim Tests/TraceFiles/chained.trace, verbatim (w carries F, S, V fields)
CHAIN = """\
a T1 O1 C1 S128 N1
+ T1 O1
a T1 O2 C1 S128 N0
+ T1 O2
w T1 P1 #0 O2 F0 S4 V0
- T1 O2
- T1 O1
"""

CHILD = """\
a T1 O1 S16 N1
+ T1 O1
a T1 O2 S16 N1
+ T1 O2
w T1 P1 #0 O2
- T1 O2
a T1 O3 S8 N0
+ T1 O3
w T1 P2 #0 O3
- T1 O3
- T1 O1
"""


def test_two_object_cycle_imports_and_dies_in_one_batch():
    t = tfs(CYCLE)
    # S24 with one 8-byte slot = 16 payload bytes; the '+' after each 'a' repeats its root
    assert to_text(t) == ("alloc 0 16 1\nalloc 1 16 1\nstore 0 0 1\nstore 1 0 0\n"
                          "clear 1\nclear 0\n")
    assert death_times(t).tolist() == [5, 5]          # both die at 'clear 0'
    assert to_text(insert_frees(t)) == (
        "alloc 0 16 1\nalloc 1 16 1\nstore 0 0 1\nstore 1 0 0\nclear 1\n"
        "move 2 0\n"        # a handle to O1 before its last root goes
        "clear 0\n"
        "load 3 2 0\n"      # O2, through O1's slot
        "free 2\nfree 3\n")


def test_chain_from_tracefilesim_tests_imports():
    t = tfs(CHAIN)
    assert to_text(t) == "alloc 0 120 1\nalloc 1 128 0\nstore 0 0 1\nclear 1\nclear 0\n"
    assert t.params == {"format": "tracefilesim", "file": "t.trace"}
    # O2 lives on through O1's slot after its root goes; both die with O1's root
    assert death_times(t).tolist() == [4, 4]
    assert to_text(insert_frees(t)).endswith("move 2 0\nclear 0\nload 3 2 0\nfree 2\nfree 3\n")


def test_child_reachable_only_through_its_parent_stays_in_a_register_until_named():
    t = tfs(CHILD)
    assert to_text(t) == (
        "alloc 0 8 1\n"     # O1
        "alloc 1 8 1\n"     # O2
        "store 0 0 1\n"     # w P1 #0 O2; then '- T1 O2' emits nothing: line 9 names O2 again
        "alloc 2 8 0\n"     # O3
        "store 1 0 2\n"     # w P2 #0 O3: r1 still holds O2 (the register rule)
        "clear 1\n"         # O2's last mention is over
        "clear 2\n"         # - T1 O3
        "clear 0\n")        # - T1 O1
    assert death_times(t).tolist() == [7, 7, 7]
    assert death_times(t).tolist() == brute_force_death_times(t).tolist()
    assert to_text(insert_frees(t)).endswith(
        "move 3 0\nclear 0\nload 4 3 0\nload 5 4 0\nfree 3\nfree 4\nfree 5\n")


def test_roots_of_two_threads_and_static_fields_hold_objects():
    t = tfs("a T1 O1 S8 N0\n+ T1 O1\n+ T2 O1\n- T1 O1\n"
            "c T2 C5 F16 O1 S8 V0\n- T2 O1\n"
            "r T2 O1 F16 S8 V0\ns T2 P1 F8 S4 V0\n% a comment\n"
            "c T2 C5 F16 O0\n")
    assert to_text(t) == ("alloc 0 8 0\nmove 1 0\nclear 0\n"
                          "move 0 1\nclear 1\n"     # the static field C5.F16, then T2's root
                          "clear 0\n")              # the static is set to null
    assert death_times(t).tolist() == [5]


def test_an_object_never_removed_from_the_roots_lives_to_the_end():
    t = tfs("a T1 O1 S8 N0\n+ T1 O1\na T1 O2 S8 N0\n+ T1 O2\n- T1 O2\n")
    assert to_text(t) == "alloc 0 8 0\nalloc 1 8 0\nclear 1\n"
    assert death_times(t).tolist() == [-1, 2]
    out = insert_frees(t)
    assert out.counts()["free"] == 1 and out.reachable_at_end().tolist() == [True, False]


def test_header_bytes_come_off_the_payload_and_payload_is_never_negative():
    t = import_tracefilesim("a T1 O1 S40 N2\na T1 O2 S4 N2\n", header_bytes=16)
    assert t.obj_size.tolist() == [8, 0]
    assert t.obj_nslots.tolist() == [2, 2]


@pytest.mark.parametrize("text, line, message", [
    ("a T1 O1 S8 N0\nw T1 P9 #0 O0\n", 2, "parent P9 was never allocated"),
    ("a T1 O1 S8 N1\nw T1 P1 #1 O1\n", 2, "slot #1 out of range for object O1 with N1"),
    ("a T1 O1 S8 N1\n\n+ T1 Ox\n", 3, "attribute 'Ox' must be a letter"),
    ("a T1 O1 S8 N1\n- T2 O1\n", 2, "object O1 is not a root of thread T2"),
    ("a T1 O1 S8 N1\nq T1 O1\n", 2, "unknown TraceFileSim line type 'q'"),
    ("a T1 O1 S8 N1\na T1 O1 S8 N1\n", 2, "object O1 is allocated twice"),
    ("a T1 O1 S8\n", 1, "'a' line lacks N"),
    ("a T1 O0 S8 N0\n", 1, "object id must be >= 1"),
    ("a T1 P1 #0 O2 S8 N0\n", 1, "allocation into a parent's slot"),
])
def test_errors_name_file_and_line(text, line, message):
    with pytest.raises(TraceError) as e:
        import_tracefilesim(text, source="bad.trace")
    assert e.value.line == line
    assert str(e.value).startswith(f"bad.trace:{line}: ")
    assert message in str(e.value)


def test_import_reads_a_path_and_the_error_names_it(tmp_path):
    p = tmp_path / "x.trace"
    p.write_text(CHAIN)
    assert import_tracefilesim(p).events == 5
    p.write_text("a T1 O1 S8 N0\n+ T1 O7\n")
    with pytest.raises(TraceError, match=rf"^{p}:2: object O7 was never allocated"):
        import_tracefilesim(str(p))


def test_import_subcommand_writes_a_trace_with_frees(tmp_path):
    src = tmp_path / "c.trace"
    src.write_text(CYCLE)
    out = tmp_path / "c.mctrace.txt"
    parser = argparse.ArgumentParser()
    add_import_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["import", "--from", "tracefilesim", str(src), "-o", str(out),
                              "--oracle", "reachability"])
    assert run_import(args) == 0
    assert load(out).counts()["free"] == 2


# -- the oracle against brute force -----------------------------------------------------------

@st.composite
def random_traces(draw):
    """Valid traces without FREEs: raw register ops, so ALLOC/LOAD/MOVE overwrite live values."""
    nregs = draw(st.integers(1, 4))
    steps = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7), st.integers(0, 7),
                                     st.integers(0, 7)), max_size=40))
    regs = [-1] * nregs
    nslots: list[int] = []
    slots: list[list[int]] = []
    ev = []
    for kind, i, j, k in steps:
        held = [r for r in range(nregs) if regs[r] >= 0]
        if kind == 0 or not held:
            n = j % 3
            ev.append((ALLOC, i % nregs, k, n))
            regs[i % nregs] = len(nslots)
            nslots.append(n)
            slots.append([-1] * n)
        elif kind == 1:                                   # load
            rs = held[j % len(held)]
            o = regs[rs]
            if nslots[o]:
                ev.append((LOAD, i % nregs, rs, k % nslots[o]))
                regs[i % nregs] = slots[o][k % nslots[o]]
        elif kind == 2:                                   # store
            rs = held[i % len(held)]
            o = regs[rs]
            if nslots[o]:
                rv = NULL if k % 4 == 0 else held[k % len(held)]
                ev.append((STORE, rs, j % nslots[o], rv))
                slots[o][j % nslots[o]] = -1 if rv == NULL else regs[rv]
        elif kind == 3:                                   # move
            ev.append((MOVE, i % nregs, held[j % len(held)], 0))
            regs[i % nregs] = regs[held[j % len(held)]]
        elif kind == 4:                                   # clear
            ev.append((CLEAR, held[i % len(held)], 0, 0))
            regs[held[i % len(held)]] = -1
        else:
            ev.append((WORK, 10, 0, 0))
    cols = list(zip(*ev)) if ev else [[], [], [], []]
    return build(*cols)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_traces())
def test_oracle_frees_each_object_right_after_the_event_where_brute_force_says_it_dies(t):
    death = death_times(t)
    assert death.tolist() == brute_force_death_times(t).tolist()
    out, origin = insert_frees_mapped(t)            # build() validated it
    kept = origin >= 0
    # the original events, in order, unchanged
    assert origin[kept].tolist() == list(range(t.events))
    for col in ("op", "a", "b", "c", "flags"):
        assert getattr(out, col)[kept].tolist() == getattr(t, col).tolist()
    # one FREE per object that dies, after its death event and before the next original one
    frees = np.flatnonzero(out.op == FREE)
    assert sorted(out.x[frees].tolist()) == np.flatnonzero(death >= 0).tolist()
    last_kept = np.maximum.accumulate(np.where(kept, origin, -1))
    for j in frees.tolist():
        assert last_kept[j] == death[out.x[j]]
    # objects dying together are one batch of consecutive FREEs
    for d in set(death[death >= 0].tolist()):
        js = frees[death[out.x[frees]] == d]
        assert js.tolist() == list(range(js[0], js[0] + js.size))
        assert (out.op[js[0] - 1] != FREE)
    assert not out.reachable_at_end()[death >= 0].any()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_traces())
def test_oracle_output_replays_under_cpp_without_leaks(t):
    out = insert_frees(t)
    result = memcompare.replay(out, "cpp")
    assert result.status == "ok"
    assert result.metrics["leaked_bytes"] == 0


def test_oracle_on_a_trace_that_frees_replaces_its_frees():
    # a cycle freed by the program's own batch: the FREEs become CLEARs, and the oracle frees
    # both objects after the second one, where the cycle becomes unreachable
    t = parse_text("alloc 0 16 1\nalloc 1 16 1\nstore 0 0 1\nstore 1 0 0\nfree 0\nfree 1\n")
    out = insert_frees(t)
    assert to_text(out) == ("alloc 0 16 1\nalloc 1 16 1\nstore 0 0 1\nstore 1 0 0\n"
                            "clear 0\n"
                            "move 2 1\nclear 1\nload 3 2 0\nfree 2\nfree 3\n")


def test_oracle_keeps_large_dead_structures_without_recursion():
    rec = memcompare.Recorder()
    head = rec.alloc(8, 1)
    node = rec.copy(head)
    for _ in range(50_000):
        nxt = rec.alloc(8, 1)
        rec.store(node, 0, nxt)
        rec.drop(node)
        node = nxt
    rec.drop(node)
    rec.drop(head)
    t = rec.build()
    out = insert_frees(t)
    assert out.counts()["free"] == 50_001
    assert (death_times(t) == t.events - 1).all()


def test_trace_import_with_the_oracle_through_the_command_line(tmp_path, capsys):
    from memcompare import cli, load_trace
    src = tmp_path / "cycle.trace"
    # two objects pointing at each other, rooted by thread 1, then dropped
    src.write_text("a T1 O1 S24 N1 C1\n+ T1 O1\na T1 O2 S24 N1 C1\n+ T1 O2\n"
                   "w T1 P1 #0 O2\nw T1 P2 #0 O1\n- T1 O2\n- T1 O1\n")
    out = tmp_path / "cycle.mctrace"
    code = cli.main(["trace", "import", "--from", "tracefilesim", str(src), "-o", str(out),
                     "--oracle", "reachability"])
    assert code == 0, capsys.readouterr().err
    t = load_trace(out)
    assert t.counts()["free"] == 2          # the dead cycle is freed, as one batch
    frees = [i for i, o in enumerate(t.op.tolist()) if o == 5]
    assert frees == [frees[0], frees[0] + 1]
    bad = tmp_path / "bad.trace"
    bad.write_text("a T1 O1 S24 N1 C1\nq nonsense\n")
    assert cli.main(["trace", "import", "--from", "tracefilesim", str(bad), "-o",
                     str(tmp_path / "x.mctrace")]) == 2
    assert "bad.trace:2" in capsys.readouterr().err
