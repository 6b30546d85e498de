"""Traces: the register machine's rules, the recorder, and both file forms (docs/trace-format.md).

Expected values are worked out by hand from docs/design.md §3 and the derived-column table in
memcompare/trace.py; the property tests check that the parsers and the binary reader turn any
input into a trace or a TraceError / TraceFormatError, and nothing else.
"""
from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memcompare
from memcompare.errors import TraceError, TraceFormatError
from memcompare.trace import (ALLOC, CLEAR, FREE, LOAD, MOVE, NULL, OP_ARITY, OP_CODES, OP_NAMES,
                              STORE, WORK, Recorder, Trace, build)
from memcompare.traceio import dumps, load, loads, parse_text, save, show, to_text

DESIGN_EXAMPLE = """\
# a two-node cycle, dropped, then freed together
alloc 0 16 1        # r0 = new object, 16 payload bytes, 1 slot
alloc 1 16 1        # r1 = new object
store 0 0 1         # r0.slot0 = r1
store 1 0 0         # r1.slot0 = r0
load 2 0 0          # r2 = r0.slot0   (the object in r1)
clear 2
move 3 0            # r3 = r0
clear 3
work 500            # 500 ns of computation
free 0
free 1
"""

CANONICAL_EXAMPLE = """\
alloc 0 16 1
alloc 1 16 1
store 0 0 1
store 1 0 0
load 2 0 0
clear 2
move 3 0
clear 3
work 500
free 0
free 1
"""


def body_start(data: bytes) -> int:
    """File offset of the body: the 20-byte prefix, then the header (its length at offset 12)."""
    return 20 + struct.unpack_from("<I", data, 12)[0]


# -- the docs/design.md §3 example -----------------------------------------------------------------

def test_design_example_parses_with_the_derived_columns_of_the_table():
    t = parse_text(DESIGN_EXAMPLE, source="example.mctrace.txt")
    assert t.events == 11
    assert t.objects == 2
    assert t.registers == 4                      # r0..r3
    assert t.op.tolist() == [ALLOC, ALLOC, STORE, STORE, LOAD, CLEAR, MOVE, CLEAR, WORK, FREE, FREE]
    #          alloc alloc store store load clear move clear work free free
    assert t.x.tolist() == [0, 1, 0, 1, 1, 1, 0, 0, -1, 0, 1]
    # y: only store (the object stored) and load (the object read from) have one
    assert t.y.tolist() == [-1, -1, 1, 0, 0, -1, -1, -1, -1, -1, -1]
    # z: every overwritten register and slot was empty
    assert t.z.tolist() == [-1] * 11
    assert t.b[t.op == STORE].tolist() == [0, 0]
    assert t.c.tolist()[2:4] == [1, 0]


def test_design_example_live_peak_is_two_objects_of_16_bytes_and_one_slot():
    t = parse_text(DESIGN_EXAMPLE)
    assert t.live_peak_bytes == 2 * (16 + 8) == 48
    assert t.live_curve.tolist() == [24, 48, 48, 48, 48, 48, 48, 48, 48, 24, 0]


def test_overwritten_values_land_in_z():
    t = parse_text("alloc 0 8 2\nalloc 1 8 0\nstore 0 1 1\nstore 0 1 -\n"
                   "alloc 1 8 0\nload 1 0 0\nmove 0 0\n")
    # object ids: 0 (r0), 1 (first r1), 2 (second alloc into r1, overwriting object 1)
    assert t.x.tolist() == [0, 1, 0, 0, 2, -1, 0]
    assert t.y.tolist() == [-1, -1, 1, -1, -1, 0, -1]
    assert t.z.tolist() == [-1, -1, -1, 1, 1, 2, 0]   # move 0 0: rd held object 0 itself


def test_to_text_is_canonical():
    t = parse_text(DESIGN_EXAMPLE)
    assert to_text(t) == CANONICAL_EXAMPLE
    messy = "  alloc\t0  16 2   local # comment\n\n\nalloc 1 0 1\r\nstore 1 0 -\nwork 0"
    assert to_text(parse_text(messy)) == "alloc 0 16 2 local\nalloc 1 0 1\nstore 1 0 -\nwork 0\n"
    assert to_text(parse_text("# nothing\n\n")) == ""


def test_show_prints_a_summary_then_the_events():
    t = parse_text(DESIGN_EXAMPLE, workload="cycle")
    out = show(t).splitlines()
    assert out[:8] == [
        "# workload: cycle",
        "# params: {}",
        "# events: 11",
        "# objects: 2",
        "# registers: 4",
        f"# sha256: {t.sha256}",
        "# counts: alloc=2 load=1 store=2 move=1 clear=2 free=2 work=1",
        "# live_peak_bytes: 48",
    ]
    assert "\n".join(out[8:]) + "\n" == CANONICAL_EXAMPLE
    # the whole output is itself a text trace: the summary is comments
    assert parse_text(show(t)).sha256 == t.sha256
    limited = show(t, limit=3).splitlines()
    assert limited[8:] == ["alloc 0 16 1", "alloc 1 16 1", "store 0 0 1", "# ... 8 more events"]
    assert "more events" not in show(t, limit=11)


# -- the recorder -----------------------------------------------------------------------------

def test_recorder_assigns_the_lowest_free_register_and_reuses_it():
    t = Recorder("w", {"n": 1})
    a, b, c = t.alloc(8, 1), t.alloc(8), t.alloc(8)
    assert (a.reg, b.reg, c.reg) == (0, 1, 2)
    t.drop(b)                                # r1 free
    d = t.alloc(8)
    assert d.reg == 1
    t.free(c)                                # r2 free
    e = t.copy(a)
    assert e.reg == 2
    t.drop(d)
    t.drop(e)                                # r1 and r2 free: the lower one comes first
    f = t.load(a, 0)                         # a null slot: loaded into r1, which stays free
    assert f is None
    t.store(a, 0, None)
    trace = t.build()
    assert trace.workload == "w" and trace.params == {"n": 1}
    assert trace.registers == 3
    #                           a  b  c  drop b  d  free c  copy  drop d  drop e  load  store
    assert trace.a.tolist() == [0, 1, 2, 1, 1, 2, 2, 1, 2, 1, 0]
    assert trace.op.tolist() == [ALLOC, ALLOC, ALLOC, CLEAR, ALLOC, FREE, MOVE, CLEAR, CLEAR,
                                 LOAD, STORE]


def test_recorder_rejects_a_dropped_or_freed_handle_at_once():
    t = Recorder()
    a = t.alloc(8, 1)
    b = t.alloc(8)
    t.drop(b)
    for use in (lambda: t.drop(b), lambda: t.free(b), lambda: t.copy(b), lambda: t.load(b, 0),
                lambda: t.store(b, 0, None), lambda: t.store(a, 0, b)):
        with pytest.raises(ValueError, match="already dropped or freed"):
            use()
    assert len(t) == 3                       # alloc, alloc, clear: the failed calls record nothing
    t.free(a)
    with pytest.raises(ValueError, match="already dropped or freed"):
        t.store(a, 0, None)


def test_recorder_rejects_a_broken_rule_at_the_call_that_breaks_it():
    t = Recorder()
    n = t.alloc(16, 1)
    leaf = t.alloc(8, 0, local=True)
    with pytest.raises(TraceError) as info:
        t.store(n, 0, leaf)
    assert info.value.index == 2
    assert str(info.value) == ("event 2: object 1 was allocated local and must not be stored "
                               "into a slot")
    assert len(t) == 2                       # the rejected store recorded nothing


def test_recorder_rejects_an_invalid_free_when_its_batch_ends():
    t = Recorder()
    a = t.alloc(16, 1)
    b = t.alloc(16, 1)
    t.store(a, 0, b)
    t.free(b)                    # a's slot still refers to b: wrong unless a is freed with it
    with pytest.raises(TraceError) as info:
        t.work(5)                # ends the batch {free b}
    assert info.value.index == 3
    assert "invalid free of object 1: still referenced (1 reference(s)" in str(info.value)
    t = Recorder()
    a = t.alloc(16, 1)
    b = t.alloc(16, 1)
    t.store(a, 0, b)
    t.store(b, 0, a)
    t.free(b)
    t.free(a)                    # a dead cycle freed as one batch: valid
    assert t.build().obj_free_at.tolist() == [5, 4]


def test_recorder_rejects_a_double_free_through_a_copy():
    t = Recorder()
    a = t.alloc(16)
    b = t.copy(a)
    t.free(a)
    with pytest.raises(TraceError, match=r"event 3: object 0 is freed twice"):
        t.free(b)


# -- validation errors carry the event index (and the line) -----------------------------------

@pytest.mark.parametrize("text, index, line, reason", [
    ("alloc 0 16 1\nclear 1\n", 1, 2, "register r1 is empty"),
    ("alloc 0 16 1\n# comment\n\nload 1 0 1\n", 1, 4,
     "slot 1 out of range for object 0 with 1 slot(s)"),
    ("alloc 0 16 1\nalloc 1 8 0 local\nstore 0 0 1\n", 2, 3,
     "object 1 was allocated local and must not be stored into a slot"),
    ("alloc 0 16 1\nmove 1 0\nfree 0\nwork 5\n", 2, 3,
     "invalid free of object 0: still referenced (1 reference(s) from registers or slots of "
     "live objects)"),
    ("alloc 0 16 0\nmove 1 0\nfree 0\nfree 1\n", 3, 4, "object 0 is freed twice"),
    ("alloc 0 16 0\nfree 0\nfree 0\n", 2, 3, "register r0 is empty"),   # freed: register cleared
    ("alloc 0 16 0\n\nalocc 1 8 0\n", 1, 3,
     "unknown op 'alocc' (valid: alloc, load, store, move, clear, free, work); "
     "did you mean 'alloc'?"),
])
def test_validation_error_names_event_and_line(text, index, line, reason):
    with pytest.raises(TraceError) as info:
        parse_text(text, source="t.mctrace.txt")
    err = info.value
    assert (err.index, err.line, err.source, err.reason) == (index, line, "t.mctrace.txt", reason)
    assert str(err) == f"t.mctrace.txt:{line}: event {index}: {reason}"


def test_validation_error_without_text_names_the_event_only():
    with pytest.raises(TraceError) as info:
        build([ALLOC, STORE], [0, 0], [8, 3], [2, NULL])
    assert (info.value.index, info.value.line) == (1, None)
    assert str(info.value) == "event 1: slot 3 out of range for object 0 with 2 slot(s)"


CYCLE = "alloc 0 16 1\nalloc 1 16 1\nstore 0 0 1\nstore 1 0 0\n"


def test_a_dead_cycle_freed_by_two_consecutive_frees_is_valid():
    t = parse_text(CYCLE + "free 0\nfree 1\n")
    assert t.obj_free_at.tolist() == [4, 5]
    assert t.live_curve.tolist()[-1] == 0


def test_work_between_the_frees_of_a_cycle_splits_the_batch():
    # after "free 0" alone, object 1's slot still refers to object 0: the first FREE is wrong
    with pytest.raises(TraceError) as info:
        parse_text(CYCLE + "free 0\nwork 1\nfree 1\n", source="c.txt")
    assert (info.value.index, info.value.line) == (4, 5)
    assert "invalid free of object 0: still referenced" in str(info.value)


@pytest.mark.parametrize("line, reason", [
    ("store 0 0", "store takes 3 operands (store rs slot rv), got 2"),
    ("clear 0 1", "clear takes 1 operand (clear r), got 2"),
    ("load 1 x 0", "load's operand rs must be a decimal integer, got 'x'"),
    ("work 1_000", "work's operand ns must be a decimal integer, got '1_000'"),
    ("work +5", "work's operand ns must be a decimal integer, got '+5'"),
    ("move -1 0", "move's operand rd is a register and must be >= 0, got -1"),
    ("clear -", "'-' (null) is only allowed as store's value operand rv, not as clear's r"),
    ("store - 0 0", "'-' (null) is only allowed as store's value operand rv, not as store's rs"),
    ("alloc 1 8 0 lokal",
     "unknown alloc flag 'lokal' (the only flag is 'local': alloc r size nslots [local])"),
    ("free 0 local", "the 'local' flag only applies to alloc, not free"),
    ("ALLOC 1 8 0", "unknown op 'ALLOC' (valid: alloc, load, store, move, clear, free, work); "
                    "did you mean 'alloc'?"),
    ("frobnicate 1", "unknown op 'frobnicate' (valid: alloc, load, store, move, clear, free, "
                     "work)"),
    ("alloc 1 99999999999999999999 0",
     "alloc's operand size = 99999999999999999999 is out of range (a 64-bit signed integer)"),
])
def test_syntax_errors_name_the_line(line, reason):
    with pytest.raises(TraceError) as info:
        parse_text(f"alloc 0 8 1\n# two\n{line}  # trailing comment\n", source="s.txt")
    assert str(info.value) == f"s.txt:3: event 1: {reason}"


def test_text_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.mctrace.txt"
    path.write_bytes(b"alloc 0 8 0\n# caf\xe9\n")
    with pytest.raises(TraceError) as info:
        load(path)
    assert info.value.line == 2
    assert "not UTF-8" in str(info.value)


# -- files ------------------------------------------------------------------------------------

def test_save_and_load_both_forms(tmp_path):
    t = parse_text(DESIGN_EXAMPLE, workload="cycle", params={"depth": 2})
    save(t, tmp_path / "a.mctrace.txt")
    t.save(tmp_path / "a.mctrace")
    assert (tmp_path / "a.mctrace.txt").read_text() == CANONICAL_EXAMPLE
    assert (tmp_path / "a.mctrace").read_bytes()[:8] == b"MCTRACE\0"
    from_text = memcompare.load_trace(tmp_path / "a.mctrace.txt")
    from_binary = memcompare.load_trace(str(tmp_path / "a.mctrace"))
    assert from_text.sha256 == from_binary.sha256 == t.sha256
    # the text form has no place for the workload and params; the binary header does
    assert (from_binary.workload, from_binary.params) == ("cycle", {"depth": 2})
    assert from_text.workload is None
    # a binary file is recognised by its magic number whatever its name
    os.replace(tmp_path / "a.mctrace", tmp_path / "misnamed.txt")
    assert load(tmp_path / "misnamed.txt").sha256 == t.sha256
    # the temporary files of the atomic writes are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mctrace.txt", "misnamed.txt"]


def test_loaded_columns_are_native_contiguous_and_read_only(tmp_path):
    # read-only: the columns of a memory-mapped file are shared by every process that loads it,
    # and a model that wrote into one would change the trace under the others
    text = parse_text(DESIGN_EXAMPLE)
    text.save(tmp_path / "t.mctrace")
    for t in (loads(dumps(text)), load(tmp_path / "t.mctrace")):
        for name in ("op", "flags", "a", "b", "c", "x", "y", "z"):
            col = t.stored(name)
            assert col.dtype.isnative and not col.flags.writeable and col.flags.c_contiguous
        # stored as narrow as the values allow (registers 0..3, ids -1..1, work 500: int16);
        # read back as at least int32, so that arithmetic on them cannot overflow
        assert t.op.dtype == np.uint8 and t.stored("x").dtype == np.int16
        assert t.x.dtype == np.int32 and t.a.tolist() == text.a.tolist()
    assert isinstance(load(tmp_path / "t.mctrace").stored("x").base.obj, mmap.mmap)


def test_a_missing_file_is_a_trace_format_error(tmp_path):
    with pytest.raises(TraceFormatError, match="cannot read the trace file"):
        load(tmp_path / "nope.mctrace")


def test_a_text_trace_under_a_binary_name_says_so(tmp_path):
    path = tmp_path / "cycle.mctrace"
    path.write_text(DESIGN_EXAMPLE)
    with pytest.raises(TraceFormatError) as info:
        load(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: at offset 0: not a memcompare binary trace")
    assert "looks like the text form" in msg
    with pytest.raises(TraceFormatError) as info:
        loads(b"\x89PNG\r\n\x1a\n" + bytes(100), "img.png")
    assert "not a memcompare binary trace" in str(info.value)
    assert "text form" not in str(info.value)


def test_truncated_body_names_expected_and_actual_size():
    data = dumps(parse_text(DESIGN_EXAMPLE), version=1)
    start = body_start(data)
    assert len(data) == start + 11 * 50      # 11 events × (1 + 1 + 6 × 8) bytes
    with pytest.raises(TraceFormatError) as info:
        loads(data[:-5], "t.bin")
    assert str(info.value) == (
        f"t.bin: at offset {len(data) - 5}: truncated: 11 events need a body of 550 bytes at "
        f"offsets {start}..{start + 550}, the file has 545 (data ends at offset {len(data) - 5})")
    with pytest.raises(TraceFormatError, match=f"at offset {len(data)}: 3 unexpected bytes"):
        loads(data + b"abc", "t.bin")


@pytest.mark.parametrize("version, compress", [(1, None), (2, None), (2, "zlib")])
def test_every_truncation_of_a_file_is_reported_at_its_end(version, compress):
    data = dumps(parse_text(DESIGN_EXAMPLE, workload="cycle"), version=version, compress=compress)
    for n in range(len(data)):
        with pytest.raises(TraceFormatError) as info:
            loads(data[:n], "t.bin")
        assert f"at offset {n}: " in str(info.value)
        assert "truncated" in str(info.value) or "empty" in str(info.value)


def test_a_flipped_bit_names_the_bad_block():
    t = Recorder()
    for _ in range(1400):                    # 2800 events × 50 bytes = 3 blocks of 64 KiB
        t.drop(t.alloc(8))
    data = dumps(t.build(), version=1)
    start = body_start(data)
    assert len(data) - start == 140000
    bad = bytearray(data)
    bad[start + 65536 + 10] ^= 0x10          # inside block 1
    with pytest.raises(TraceFormatError) as info:
        loads(bytes(bad), "big.bin")
    assert str(info.value) == (f"big.bin: at offset {start + 65536}: body block 1 (file offsets "
                               f"{start + 65536}..{start + 131072}) is corrupted: crc32 mismatch")
    bad = bytearray(data)
    bad[25] ^= 1                             # inside the header
    with pytest.raises(TraceFormatError, match=r"at offset 20: header \(offsets 20\.\."):
        loads(bytes(bad), "big.bin")


@pytest.mark.parametrize("version, compress", [(1, None), (2, None), (2, "zlib")])
def test_every_single_byte_flip_of_a_file_is_caught(version, compress):
    data = dumps(parse_text(DESIGN_EXAMPLE), version=version, compress=compress)
    for pos in range(len(data)):
        for xor in (0x01, 0x80, 0xff):
            bad = bytearray(data)
            bad[pos] ^= xor
            with pytest.raises(TraceFormatError):
                loads(bytes(bad))


def test_unsupported_version_is_named():
    data = bytearray(dumps(parse_text(DESIGN_EXAMPLE)))
    data[8] = 3
    with pytest.raises(TraceFormatError) as info:
        loads(bytes(data), "v3.bin")
    assert str(info.value).startswith("v3.bin: at offset 8: unsupported format version 3 (this "
                                      "memcompare reads versions 1, 2;")


def _forge(**columns) -> bytes:
    """A file with valid checksums around columns that build() would never produce."""
    t = parse_text(DESIGN_EXAMPLE)
    cols = {name: getattr(t, name).copy() for name in ("op", "flags", "a", "b", "c", "x", "y", "z")}
    for name, (i, v) in columns.items():
        cols[name][i] = v
    return dumps(Trace(*cols.values(), t.registers))


@pytest.mark.parametrize("column, event, value, reason", [
    ("op", 8, 9, "event 8 (9): op code out of range"),
    ("flags", 4, 1, "event 4 (load): flags on an event that is not an alloc"),
    ("x", 6, 2, "event 6 (move): derived object id x out of range (-1..1)"),
    ("a", 7, 4, "event 7 (clear): register operand a out of range (0..3)"),
    ("b", 3, 1, "event 3 (store): store slot out of range for the object written into"),
])
@pytest.mark.parametrize("chunk", [None, 3])
def test_a_consistent_but_wrong_file_is_rejected_without_a_replay(column, event, value, reason,
                                                                    chunk, monkeypatch):
    if chunk:           # the checks run in chunks of events: the event is named all the same
        monkeypatch.setattr("memcompare.traceio.CHECK_CHUNK", chunk)
    data = _forge(**{column: (event, value)})
    with pytest.raises(TraceFormatError) as info:
        loads(data, "forged.bin")
    # the offset of the event's op byte (version 2: the op column comes first)
    assert str(info.value).startswith(f"forged.bin: at offset {body_start(data) + event}: ")
    assert reason in str(info.value)
    if chunk:
        good = parse_text(DESIGN_EXAMPLE)
        assert loads(dumps(good)).sha256 == good.sha256


# -- properties -------------------------------------------------------------------------------

@st.composite
def valid_traces(draw, max_events: int = 40) -> Trace:
    """A random valid trace, from a simulated register machine.

    Frees only objects that were never stored into a slot and are held by exactly one register:
    then nothing else can refer to them, so every FREE is valid on its own.
    """
    nregs = draw(st.integers(1, 5))
    regs: list[int | None] = [None] * nregs
    slots: list[list[int | None]] = []       # per object, what each slot refers to
    local: list[bool] = []
    stored: list[bool] = []
    cols: list[tuple[int, int, int, int, int]] = []   # op, a, b, c, flags
    for _ in range(draw(st.integers(0, max_events))):
        held = [r for r in range(nregs) if regs[r] is not None]
        with_slots = [r for r in held if slots[regs[r]]]
        freeable = [r for r in held if not stored[regs[r]] and regs.count(regs[r]) == 1]
        kinds = ["alloc", "work"] + (["move", "clear"] if held else []) \
            + (["load", "store"] if with_slots else []) + (["free"] if freeable else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "alloc":
            r = draw(st.integers(0, nregs - 1))
            size, ns, loc = draw(st.integers(0, 64)), draw(st.integers(0, 3)), draw(st.booleans())
            regs[r] = len(slots)
            slots.append([None] * ns)
            local.append(loc)
            stored.append(False)
            cols.append((ALLOC, r, size, ns, int(loc)))
        elif kind == "load":
            rs = draw(st.sampled_from(with_slots))
            k = draw(st.integers(0, len(slots[regs[rs]]) - 1))
            rd = draw(st.integers(0, nregs - 1))
            regs[rd] = slots[regs[rs]][k]
            cols.append((LOAD, rd, rs, k, 0))
        elif kind == "store":
            rs = draw(st.sampled_from(with_slots))
            k = draw(st.integers(0, len(slots[regs[rs]]) - 1))
            values = [r for r in held if not local[regs[r]]]
            rv = draw(st.sampled_from(values + [NULL]))
            v = None if rv == NULL else regs[rv]
            if v is not None:
                stored[v] = True
            slots[regs[rs]][k] = v
            cols.append((STORE, rs, k, rv, 0))
        elif kind == "move":
            rs = draw(st.sampled_from(held))
            rd = draw(st.integers(0, nregs - 1))
            regs[rd] = regs[rs]
            cols.append((MOVE, rd, rs, 0, 0))
        elif kind == "clear":
            r = draw(st.sampled_from(held))
            regs[r] = None
            cols.append((CLEAR, r, 0, 0, 0))
        elif kind == "free":
            r = draw(st.sampled_from(freeable))
            regs[r] = None
            cols.append((FREE, r, 0, 0, 0))
        else:
            cols.append((WORK, draw(st.integers(0, 10**6)), 0, 0, 0))
    op, a, b, c, flags = (list(col) for col in zip(*cols)) if cols else ([], [], [], [], [])
    return build(op, a, b, c, flags)


PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(valid_traces(), st.sampled_from([(1, None), (2, None), (2, "zlib")]))
def test_text_and_binary_round_trips_keep_the_trace(trace, form):
    version, compress = form
    text = to_text(trace)
    parsed = parse_text(text)
    loaded = loads(dumps(parsed, version=version, compress=compress))
    assert to_text(loaded) == text
    assert loaded.sha256 == parsed.sha256 == trace.sha256
    assert (loaded.objects, loaded.registers) == (trace.objects, trace.registers)
    assert loaded.live_peak_bytes == trace.live_peak_bytes
    for name in ("op", "flags", "a", "b", "c", "x", "y", "z"):
        assert getattr(loaded, name).tolist() == getattr(trace, name).tolist(), name
    # a version-1 file becomes a version-2 file with the same trace
    again = loads(dumps(loads(dumps(trace, version=1))))
    assert again.sha256 == trace.sha256 and to_text(again) == text


@PROPERTY
@given(valid_traces(max_events=15), st.data())
def test_any_single_byte_flip_is_a_trace_format_error(trace, data):
    blob = dumps(trace)
    pos = data.draw(st.integers(0, len(blob) - 1), label="position")
    xor = data.draw(st.integers(1, 255), label="xor")
    bad = bytearray(blob)
    bad[pos] ^= xor
    with pytest.raises(TraceFormatError):
        loads(bytes(bad), "flipped.bin")


@PROPERTY
@given(valid_traces(max_events=15), st.data())
def test_any_truncation_is_a_trace_format_error_naming_the_end(trace, data):
    blob = dumps(trace)
    n = data.draw(st.integers(0, len(blob) - 1), label="length")
    with pytest.raises(TraceFormatError) as info:
        loads(blob[:n], "cut.bin")
    assert re.search(rf"\bat offset {n}: ", str(info.value))


# Operands are small, or too large for 64 bits: a slot count in between would make build()
# allocate that many slots (trace.py has no upper limit on nslots).
_tokens = st.one_of(
    st.sampled_from(OP_NAMES + ("alocc", "ALLOC", "stor", "-", "local", "#", "# x", "--", "0x1")),
    st.integers(-3, 40).map(str),
    st.integers(2**63, 2**70).map(str),
    st.integers(-(2**70), -(2**63) - 1).map(str),
    st.text(max_size=4),
)
_operands = st.one_of(st.integers(0, 3).map(str), st.integers(-2, 6).map(str),
                      st.sampled_from(["-", "local", "x", "+1", "1_0"]),
                      st.integers(2**63, 2**70).map(str))
#: lines with a real op and about the right number of operands, so that many reach the
#: validator and not only the tokenizer
_event_lines = st.sampled_from(OP_NAMES).flatmap(
    lambda op: st.lists(_operands, min_size=OP_ARITY[OP_CODES[op]],
                        max_size=OP_ARITY[OP_CODES[op]] + 1)
    .map(lambda rest: " ".join([op, *rest])))
_lines = st.one_of(_event_lines, _event_lines, _event_lines,
                   st.lists(_tokens, max_size=6).map(" ".join), st.text(max_size=12))


@settings(max_examples=100, deadline=None)
@given(st.lists(_lines, max_size=8).map("\n".join))
def test_garbage_text_is_a_trace_or_a_trace_error(text):
    try:
        trace = parse_text(text, source="g.txt")
    except TraceError as err:
        assert err.line is not None and 1 <= err.line <= text.count("\n") + 1
        assert err.index is not None and str(err).startswith(f"g.txt:{err.line}: event ")
    else:
        assert parse_text(to_text(trace)).sha256 == trace.sha256


def test_build_rejects_non_canonical_events_with_their_index():
    from memcompare.trace import MAX_SLOTS, build
    with pytest.raises(TraceError, match=r"event 1: flags 1 on work"):
        build([ALLOC, WORK], [0, 5], [8, 0], [0, 0], [0, 1])
    with pytest.raises(TraceError, match=r"event 1: work takes 1 operand"):
        build([ALLOC, WORK], [0, 5], [8, 7], [0, 0])
    with pytest.raises(TraceError, match=r"event 0: unknown op code 300"):
        build([300], [0], [0], [0])
    with pytest.raises(TraceError, match=r"event 0: alloc slot count must be in 0\.\."):
        build([ALLOC], [0], [8], [MAX_SLOTS + 1])
    with pytest.raises(TraceError, match=r"event 1: operand b"):
        build([ALLOC, ALLOC], [0, 1], [8, 1 << 70], [0, 0])


def test_recorder_load_of_a_null_slot_returns_none_and_the_trace_validates():
    t = Recorder()
    a = t.alloc(8, 2)
    b = t.alloc(8)
    t.store(a, 1, b)
    assert t.load(a, 0) is None              # slot 0 is null
    c = t.load(a, 1)
    assert c is not None and c.reg == 2      # r2 was used by the null load and is free again
    t.drop(c)
    t.drop(b)
    t.store(a, 1, None)
    t.free(a)
    trace = t.build()
    assert trace.op.tolist() == [ALLOC, ALLOC, STORE, LOAD, LOAD, CLEAR, CLEAR, STORE, FREE]
    assert trace.x.tolist()[3:5] == [-1, 1]  # the null load loads nothing, the next object 1


# -- compact columns, format version 2 --------------------------------------------------------

def test_the_sha256_is_the_canonical_int64_encoding_whatever_the_storage():
    t = parse_text(DESIGN_EXAMPLE)
    assert t.stored("a").dtype == np.int16                   # small values: stored narrow
    wide = [np.asarray(getattr(t, n), dtype=np.int64) for n in ("op", "flags", "a", "b", "c",
                                                                 "x", "y", "z")]
    canonical = b"".join([wide[0].astype(np.uint8).tobytes(), wide[1].astype(np.uint8).tobytes()]
                         + [w.astype("<i8").tobytes() for w in wide[2:]])
    assert len(canonical) == 11 * 50
    assert t.sha256 == hashlib.sha256(canonical).hexdigest()
    assert t.body() == canonical


def test_a_value_beyond_int32_widens_only_its_column(tmp_path):
    t = parse_text("alloc 0 4294967296 1\nwork 70000\nfree 0\n")
    assert t.stored("b").dtype == np.int64       # the 4 GiB size
    assert t.stored("a").dtype == np.int32       # work 70000 > int16
    assert t.stored("c").dtype == np.int16
    assert t.nbytes == 3 * (1 + 1 + 4 + 8 + 2 + 3 * 2)
    assert t.obj_bytes.tolist() == [(1 << 32) + 8]
    for compress in (None, "zlib"):
        t.save(tmp_path / "big.mctrace", compress=compress)
        back = load(tmp_path / "big.mctrace")
        assert back.stored("b").dtype == np.int64 and back.b.tolist() == [1 << 32, 0, 0]
        assert back.sha256 == t.sha256


def test_b_is_wide_enough_for_size_plus_slots():
    # 2**31 - 8 payload bytes fit int32, but a model computes size + 8 × slots = 2**31 + 8
    t = parse_text(f"alloc 0 {2**31 - 8} 2\nfree 0\n")
    assert t.stored("b").dtype == np.int64
    assert (t.b + 8 * t.c).tolist() == [2**31 + 8, 0]
    t = parse_text(f"alloc 0 {2**31 - 32} 2\nfree 0\n")
    assert t.stored("b").dtype == np.int32


def test_version_1_files_still_load_and_convert(tmp_path):
    t = parse_text(DESIGN_EXAMPLE, workload="cycle", params={"k": 1})
    (tmp_path / "old.mctrace").write_bytes(dumps(t, version=1))
    old = load(tmp_path / "old.mctrace")
    assert old.sha256 == t.sha256 and old.workload == "cycle" and old.params == {"k": 1}
    old.save(tmp_path / "new.mctrace", compress="zlib")
    assert (tmp_path / "new.mctrace").read_bytes()[8] == 2
    new = load(tmp_path / "new.mctrace")
    assert new.sha256 == t.sha256 and to_text(new) == to_text(t)


def test_version_2_columns_are_aligned_and_compression_is_named(tmp_path):
    t = parse_text(DESIGN_EXAMPLE)
    data = dumps(t)
    header = json.loads(data[20:body_start(data)])
    assert body_start(data) % 64 == 0
    assert header["compression"] == "none"
    assert [c[0] for c in header["columns"]] == ["op", "flags", "a", "b", "c", "x", "y", "z"]
    assert all(off % 64 == 0 for _, _, off, _ in header["columns"])
    assert header["columns"][2][1:] == ["<i2", 128, 22]      # a: 11 events × 2 bytes
    z = json.loads((lambda d: d[20:body_start(d)])(dumps(t, compress="zlib")))
    assert z["compression"] == "zlib"
    with pytest.raises(ValueError, match="unknown compression 'lzma'"):
        dumps(t, compress="lzma")


def test_a_column_that_decompresses_to_the_wrong_size_is_named():
    t = parse_text(DESIGN_EXAMPLE)
    data = bytearray(dumps(t, compress="zlib"))
    hstart, hend = 20, body_start(data)
    header = json.loads(data[hstart:hend])
    name, dt, off, length = header["columns"][2]             # column a
    body = bytes(data[hend:])
    bomb = zlib.compress(bytes(1 << 20))                      # 1 MiB of zeros where 22 B belong
    body = body[:off] + bomb + body[off + length:]
    header["columns"][2][3] = len(bomb)
    for k in range(3, 8):
        header["columns"][k][2] += len(bomb) - length
    header["block_crc32"] = [zlib.crc32(body[i:i + header["block_size"]])
                             for i in range(0, len(body), header["block_size"])]
    hb = json.dumps(header).encode()
    blob = struct.pack("<8sIII", b"MCTRACE\0", 2, len(hb), zlib.crc32(hb)) + hb + body
    with pytest.raises(TraceFormatError, match=r"column 'a' decompresses to 23\+ bytes, 22 "
                                               r"expected"):
        loads(blob, "bomb.bin")


# -- the recorder's batch operation -----------------------------------------------------------

def _ladder(t: Recorder, root, n: int) -> None:
    """A self-contained block: a chain of n nodes hung off nothing, walked from root, freed."""
    seen = t.load(root, 0)               # reads an object from before the block
    t.drop(seen)
    first = t.alloc(16, 1)
    prev = t.copy(first)
    for _ in range(n - 1):
        node = t.alloc(16, 1)
        t.store(prev, 0, node)
        t.drop(prev)
        prev = node
    t.drop(prev)
    t.work(7)
    node = first
    while node is not None:
        nxt = t.load(node, 0)
        t.free(node)
        node = nxt


def test_repeat_records_exactly_the_events_of_the_loop():
    def program(use_repeat: bool) -> Trace:
        t = Recorder()
        root = t.alloc(8, 1)
        kid = t.alloc(8)
        t.store(root, 0, kid)
        t.drop(kid)
        if use_repeat:
            t.repeat(50, lambda: _ladder(t, root, 5))
        else:
            for _ in range(50):
                _ladder(t, root, 5)
        tail = t.alloc(4)                # object ids go on after the copies
        t.drop(tail)
        return t.build()

    loop, rep = program(False), program(True)
    # a block: load+clear, alloc+copy, 4 × (alloc, store, drop), drop, work, 5 × (load, free)
    assert rep.events == loop.events == 4 + 50 * 28 + 2
    assert rep.objects == 2 + 50 * 5 + 1
    for name in ("op", "flags", "a", "b", "c", "x", "y", "z"):
        assert rep.stored(name).tolist() == loop.stored(name).tolist(), name
    assert rep.sha256 == loop.sha256
    # the 50th copy's first alloc is object 2 + 49 × 5, its load reads object 1
    i = 4 + 49 * 28
    assert rep.op[i] == LOAD and rep.x[i] == 1 and rep.x[i + 2] == 2 + 49 * 5


@pytest.mark.parametrize("block, reason", [
    (lambda t, root: t.drop(t.alloc(8)), "must free every object it allocates"),
    (lambda t, root: t.store(root, 0, None), "must not store into or free an object that "
                                             "existed before it"),
    (lambda t, root: t.copy(root), "must leave every register as it found it"),
])
def test_repeat_rejects_a_block_that_is_not_self_contained(block, reason):
    t = Recorder()
    root = t.alloc(8, 1)
    with pytest.raises(ValueError, match=reason):
        t.repeat(3, lambda: block(t, root))


def _batch_program(fused: bool) -> Trace:
    """One program through the batch operations or through the calls they stand for."""
    t = Recorder()
    table = t.alloc(0, 4)
    for slot, size in ((0, 16), (1, 32), (2, 48)):
        if fused:
            t.alloc_into(table, slot, size, 1, work=5 * slot)
        else:
            n = t.alloc(size, 1)
            if slot:
                t.work(5 * slot)
            t.store(table, slot, n)
            t.drop(n)
    chain = t.load(table, 0)             # link 0 -> 1 -> 2 through their slot 0
    one = t.load(table, 1)
    two = t.load(table, 2)
    t.store(chain, 0, one)
    t.store(one, 0, two)
    t.drop(one)
    t.drop(two)
    if fused:
        t.alloc_into(table, 3, 8)
        t.replace(table, 3, 24, work=9)
        t.free_from(table, 3)
    else:
        n = t.alloc(8)
        t.store(table, 3, n)
        t.drop(n)
        n = t.alloc(24)
        t.work(9)
        old = t.load(table, 3)
        t.store(table, 3, n)
        t.drop(n)
        t.free(old)
        v = t.load(table, 3)
        t.store(table, 3, None)
        t.free(v)
    for slot in (0, 1, 2):
        t.store(table, slot, None)
    if fused:
        t.free_chain(chain, 0, 3)
    else:
        nodes = [chain]
        for _ in range(2):
            nodes.append(t.load(nodes[-1], 0))
        for node in nodes:
            t.free(node)
    t.free(table)                        # the same batch as the chain's frees
    return t.build()


def test_batch_operations_record_the_events_they_stand_for():
    fused, plain = _batch_program(True), _batch_program(False)
    assert fused.events == plain.events
    for name in ("op", "flags", "a", "b", "c", "x", "y", "z"):
        assert fused.stored(name).tolist() == plain.stored(name).tolist(), name
    assert fused.registers == plain.registers and fused.sha256 == plain.sha256
    # and both are what the validator derives from the events alone
    again = build(plain.op, plain.a, plain.b, plain.c, plain.flags)
    assert again.sha256 == plain.sha256
    # objects: 0 table, 1-3 the chain, 4 replaced by 5, 5 freed through its slot; the chain's
    # three frees and the table's are the last four events, one batch
    n = fused.events
    assert fused.obj_free_at.tolist()[:4] == [n - 1, n - 4, n - 3, n - 2]
    assert fused.counts()["free"] == 6


def test_batch_operations_check_before_they_record():
    t = Recorder()
    table = t.alloc(0, 2)
    with pytest.raises(ValueError, match="free_from: slot 0 is null: nothing to free"):
        t.free_from(table, 0)
    with pytest.raises(ValueError, match="replace: slot 1 is null"):
        t.replace(table, 1, 8)
    with pytest.raises(ValueError, match="alloc_into: slot 2 out of range"):
        t.alloc_into(table, 2, 8)
    a = t.alloc(8, 1)
    b = t.alloc(8, 1)
    t.store(a, 0, b)
    t.store(b, 0, a)
    with pytest.raises(ValueError, match="comes back to an object before 3 objects"):
        t.free_chain(a, 0, 3)
    assert len(t) == 5                   # the failed calls recorded nothing
    t.store(table, 0, a)                 # a is still referenced by the table: an invalid free
    t.drop(b)
    t.free_chain(a, 0, 2)                # 7 load b, 8 free a, 9 free b
    with pytest.raises(TraceError, match=r"event 8: invalid free of object 1: still referenced"):
        t.build()


def test_slot_ops_records_the_events_worked_out_by_hand():
    from memcompare.trace import FROM, INTO, SPEND, SWAP
    t = Recorder()
    table = t.alloc(0, 2)                # 0: object 0 in r0
    pre = t.alloc(4)                     # 1: object 1 in r1
    t.store(table, 1, pre)               # 2
    t.drop(pre)                          # 3
    t.slot_ops(table, [INTO, SWAP, SPEND, FROM, FROM], [0, 0, 9, 0, 1], [16, 24, 0, 0, 0],
               [0, 7, 5, 0, 0])
    t.free(table)                        # the same batch as the last FREE
    tr = t.build()
    rows = list(zip(tr.op.tolist(), tr.a.tolist(), tr.b.tolist(), tr.c.tolist(),
                    tr.x.tolist(), tr.y.tolist(), tr.z.tolist()))
    assert rows[4:] == [
        (ALLOC, 1, 16, 0, 2, -1, -1), (STORE, 0, 0, 1, 0, 2, -1), (CLEAR, 1, 0, 0, 2, -1, -1),
        # replace: the new object 3 in r1, the old one (2) loaded into r2 and freed
        (ALLOC, 1, 24, 0, 3, -1, -1), (WORK, 7, 0, 0, -1, -1, -1), (LOAD, 2, 0, 0, 2, 0, -1),
        (STORE, 0, 0, 1, 0, 3, 2), (CLEAR, 1, 0, 0, 3, -1, -1), (FREE, 2, 0, 0, 2, -1, -1),
        (WORK, 5, 0, 0, -1, -1, -1),
        (LOAD, 1, 0, 0, 3, 0, -1), (STORE, 0, 0, NULL, 0, -1, 3), (FREE, 1, 0, 0, 3, -1, -1),
        # object 1 existed before the call
        (LOAD, 1, 0, 1, 1, 0, -1), (STORE, 0, 1, NULL, 0, -1, 1), (FREE, 1, 0, 0, 1, -1, -1),
        (FREE, 0, 0, 0, 0, -1, -1)]
    assert tr.registers == 3
    assert build(tr.op, tr.a, tr.b, tr.c, tr.flags).sha256 == tr.sha256


def test_slot_ops_equals_the_calls_it_stands_for():
    """Seeded random programs on a table whose slots start with objects that have slots of
    their own: through slot_ops, and through alloc_into/free_from/replace/work one by one."""
    import random
    from memcompare.trace import FROM, INTO, SPEND, SWAP

    def program(seed, fused):
        rng = random.Random(seed)
        t = Recorder()
        keep = t.alloc(8, 2)
        table = t.alloc(0, 5)
        full = [False] * 5
        for s in (1, 3):                 # objects from before the call, referring to `keep`
            pre = t.alloc(5, 1)
            t.store(pre, 0, keep)
            t.store(table, s, pre)
            t.drop(pre)
            full[s] = True
        ops = []
        for _ in range(rng.randint(1, 30)):
            kind, s = rng.randrange(4), rng.randrange(5)
            if kind in (FROM, SWAP) and not full[s]:
                kind = INTO
            if kind != SPEND:
                full[s] = kind != FROM
            ops.append((kind, s, rng.randint(0, 99), rng.choice((0, 0, 7))))
        if fused:
            kinds, slots, sizes, work = map(list, zip(*ops))
            t.slot_ops(table, kinds, slots, sizes, work)
        else:
            for kind, s, size, work in ops:
                if kind == INTO:
                    t.alloc_into(table, s, size, work=work)
                elif kind == FROM:
                    t.free_from(table, s)
                elif kind == SWAP:
                    t.replace(table, s, size, work=work)
                else:
                    t.work(work)
        t.drop(t.alloc(3))
        for s in range(5):
            if full[s]:
                t.free_from(table, s)
        t.free(table)
        t.drop(keep)
        return t.build()

    for seed in range(60):
        plain, fused = program(seed, False), program(seed, True)
        assert fused.sha256 == plain.sha256 and fused.registers == plain.registers, seed


def test_slot_ops_checks_before_it_records():
    from memcompare.trace import FROM, INTO
    t = Recorder()
    table = t.alloc(0, 2)
    with pytest.raises(ValueError, match=r"operation 1 \(free_from\): slot 1 is null"):
        t.slot_ops(table, [INTO, FROM], [0, 1], 8)
    with pytest.raises(ValueError, match="operation 0: kind 0 .* slot 2 .*object of 2 slot"):
        t.slot_ops(table, [INTO], [2], 8)
    held = t.alloc(8)
    t.store(table, 1, held)              # held by the slot and by a register
    # events 0-2 so far; the FROM would be 3 LOAD, 4 STORE, 5 FREE
    with pytest.raises(TraceError, match=r"event 5: invalid free of object 1: still referenced "
                                         r"\(1 reference"):
        t.slot_ops(table, [FROM, INTO], [1, 0], 8)
    assert len(t) == 3                   # the failed calls recorded nothing
    t.slot_ops(table, [FROM], [1])       # the last FREE starts a batch: checked when it ends
    with pytest.raises(TraceError, match=r"event 5: invalid free of object 1"):
        t.work(1)


def test_alloc_chain_records_the_events_worked_out_by_hand():
    t = Recorder()
    ring = t.alloc_chain(3, 8, 2, 0, self_slot=1, self_at=1, close=True)
    tr = t.build()
    rows = list(zip(tr.op.tolist(), tr.a.tolist(), tr.b.tolist(), tr.c.tolist(),
                    tr.x.tolist(), tr.y.tolist(), tr.z.tolist()))
    assert rows == [
        (ALLOC, 0, 8, 2, 0, -1, -1),
        (ALLOC, 1, 8, 2, 1, -1, -1), (STORE, 0, 0, 1, 0, 1, -1),        # 0.next = 1
        (STORE, 1, 1, 1, 1, 1, -1),                                     # 1.self = 1
        (ALLOC, 2, 8, 2, 2, -1, -1), (STORE, 1, 0, 2, 1, 2, -1),        # 1.next = 2
        (CLEAR, 1, 0, 0, 1, -1, -1),
        (STORE, 2, 0, 0, 2, 0, -1), (CLEAR, 2, 0, 0, 2, -1, -1)]        # 2.next = 0
    assert ring.reg == 0 and tr.registers == 3


def test_alloc_chain_equals_the_calls_it_stands_for():
    import random

    def program(seed, fused):
        rng = random.Random(seed)
        t = Recorder()
        held = [t.alloc(4)]              # a register in use below the chains'
        for _ in range(12):
            n, ns = rng.randint(1, 6), rng.randint(1, 3)
            nxt = rng.randrange(ns)
            back = rng.choice([None] + [s for s in range(ns) if s != nxt])
            self_slot = rng.randrange(ns)
            self_at = rng.choice((-1, rng.randrange(n)))
            close = rng.random() < 0.5
            if fused:
                first = t.alloc_chain(n, 16, ns, nxt, back_slot=back, self_slot=self_slot,
                                      self_at=self_at, close=close)
            else:
                first = prev = t.alloc(16, ns)
                for i in range(1, n):
                    if i - 1 == self_at:
                        t.store(prev, self_slot, prev)
                    node = t.alloc(16, ns)
                    t.store(prev, nxt, node)
                    if back is not None:
                        t.store(node, back, prev)
                    if prev is not first:
                        t.drop(prev)
                    prev = node
                if n - 1 == self_at:
                    t.store(prev, self_slot, prev)
                if close:
                    t.store(prev, nxt, first)
                if prev is not first:
                    t.drop(prev)
            held.append(first)
            if rng.random() < 0.5:
                t.drop(held.pop(rng.randrange(len(held))))
        return t.build()

    for seed in range(60):
        plain, fused = program(seed, False), program(seed, True)
        assert fused.sha256 == plain.sha256 and fused.registers == plain.registers, seed


def test_walk_records_the_loads_and_drops_worked_out_by_hand():
    t = Recorder()
    a = t.alloc_chain(3, 8, 1, 0)        # 0 -> 1 -> 2: events 0-6, only r0 held at the end
    end = t.walk(a, 0, 2)
    tr = t.build()
    rows = list(zip(tr.op.tolist(), tr.a.tolist(), tr.b.tolist(), tr.c.tolist(),
                    tr.x.tolist(), tr.y.tolist(), tr.z.tolist()))
    assert rows[7:] == [
        (LOAD, 1, 0, 0, 1, 0, -1), (CLEAR, 0, 0, 0, 0, -1, -1),        # r1 = 0.next; drop r0
        (LOAD, 0, 1, 0, 2, 1, -1), (CLEAR, 1, 0, 0, 1, -1, -1)]        # r0 = 1.next; drop r1
    assert a.reg == -1 and end.reg == 0


def test_walk_equals_the_calls_it_stands_for_and_checks_first():
    def program(fused):
        t = Recorder()
        keep = t.alloc(4)
        ring = t.alloc_chain(5, 8, 2, 1, close=True)
        for n in (0, 3, 7, 1):
            other = t.copy(ring)
            if fused:
                other = t.walk(other, 1, n)
            else:
                for _ in range(n):
                    nxt = t.load(other, 1)
                    t.drop(other)
                    other = nxt
            t.drop(other)
        t.drop(keep)
        return t.build()

    assert program(True).sha256 == program(False).sha256
    t = Recorder()
    a = t.alloc_chain(2, 8, 2, 0)
    events = len(t)
    with pytest.raises(ValueError, match=r"walk: object 1's slot 0 is null after 1 of 2 steps"):
        t.walk(a, 0, 2)
    with pytest.raises(ValueError, match="walk: slot 2 out of range"):
        t.walk(a, 2, 1)
    assert len(t) == events and a.reg == 0     # nothing recorded, the handle still held


def test_alloc_after_and_free_head_record_the_calls_they_stand_for():
    def program(fused):
        t = Recorder()
        head = t.alloc(8, 1)
        tail = t.copy(head)
        for size in (16, 24, 32):
            if fused:
                tail = t.alloc_after(tail, 0, size, 1)
            else:
                item = t.alloc(size, 1)
                t.store(tail, 0, item)
                t.drop(tail)
                tail = item
        for _ in range(3):
            if fused:
                head = t.free_head(head, 0)
            else:
                nxt = t.load(head, 0)
                t.free(head)
                head = nxt
        t.drop(tail)
        if fused:
            assert t.free_head(head, 0) is None  # a null slot: nothing to hold
        else:
            assert t.load(head, 0) is None
            t.free(head)
        return t.build()

    fused, plain = program(True), program(False)
    assert fused.sha256 == plain.sha256 and fused.registers == plain.registers
    # by hand: r0 head (object 0), r1 its copy; the first alloc_after takes r2 and lets r1 go
    assert list(zip(fused.op.tolist()[2:5], fused.a.tolist()[2:5], fused.x.tolist()[2:5])) == \
        [(ALLOC, 2, 1), (STORE, 1, 0), (CLEAR, 1, 0)]
    # events 0-10 build the list; each free_head is a LOAD and a FREE: 11-12, 13-14, 15-16
    assert fused.obj_free_at.tolist() == [12, 14, 16, fused.events - 1]


def test_a_size_that_is_not_an_integer_is_a_clear_error():
    t = Recorder()
    table = t.alloc(np.int64(8), np.int32(2))      # numpy integers are integers
    with pytest.raises(TypeError, match=r"^alloc: sizes and counts must be integers, got 3\.5 "
                                        r"\(event 1\)$"):
        t.alloc(3.5)
    with pytest.raises(TypeError, match="alloc_into: sizes and counts must be integers"):
        t.alloc_into(table, 0, 2.0)
    assert len(t) == 1 and t.build().b.tolist() == [8]


def test_randint_of_draws_what_rng_randint_draws():
    import random
    from memcompare.trace import randbelow_of, randint_of
    for lo, hi in ((0, 0), (5, 9), (-3, 3), (1, 1 << 70)):
        a, b = random.Random(7), random.Random(7)
        fast, below = randint_of(b), randbelow_of(b)
        assert [a.randint(lo, hi) for _ in range(200)] == [fast(lo, hi) for _ in range(200)]
        assert [a.randrange(hi - lo + 1) for _ in range(50)] == \
            [below(hi - lo + 1) for _ in range(50)]
    with pytest.raises(ValueError):
        randint_of(random.Random(1))(3, 2)

    class Mine(random.Random):
        def randrange(self, *args):
            return 42
    assert randbelow_of(Mine(1))(10) == 42


def test_getrandbits_of_draws_what_randrange_draws():
    # randrange(n) inline: r = getrandbits(n.bit_length()) again while r >= n, the same numbers
    # and the same generator state as the calls (CPython's _randbelow_with_getrandbits)
    import random
    from memcompare.trace import getrandbits_of
    for n in (1, 2, 3, 241, 400, 20000, (1 << 32) - 1, (1 << 32) + 7, 10 ** 15):
        a, b = random.Random(11), random.Random(11)
        bits = getrandbits_of(b)
        k = n.bit_length()
        got = []
        for _ in range(300):
            r = bits(k)
            while r >= n:
                r = bits(k)
            got.append(r)
        assert got == [a.randrange(n) for _ in range(300)]
        assert a.getstate() == b.getstate()

    class Mine(random.Random):
        pass
    assert getrandbits_of(Mine(1)) is None      # another class: the workload calls rng itself


def test_zstd_without_its_package_is_a_clear_error():
    try:
        import zstandard  # noqa: F401
    except ImportError:
        with pytest.raises(TraceFormatError, match="zstd compression needs the 'zstandard' "
                                                   "package"):
            dumps(parse_text(DESIGN_EXAMPLE), compress="zstd")
        # a zstd file met without the package names the file and the header (found by the
        # fuzzer: the compression key of a valid file set to "zstd")
        data = dumps(parse_text(DESIGN_EXAMPLE))
        hlen = struct.unpack_from("<I", data, 12)[0]
        header = json.loads(data[20:20 + hlen])
        header["compression"] = "zstd"
        hb = json.dumps(header).encode()
        blob = struct.pack("<8sIII", b"MCTRACE\0", 2, len(hb), zlib.crc32(hb)) + hb + \
            data[20 + hlen:]
        with pytest.raises(TraceFormatError, match=r"^z\.bin: at offset 20: the columns are "
                                                   r"compressed with zstd: reading them needs"):
            loads(blob, "z.bin")
    else:
        t = parse_text(DESIGN_EXAMPLE)
        assert loads(dumps(t, compress="zstd")).sha256 == t.sha256


def test_recorder_takes_numpy_integers_as_slots():
    t = Recorder()
    a = t.alloc(8, 3)
    b = t.alloc(8)
    t.store(a, np.int64(2), b)
    c = t.load(a, np.int32(2))
    with pytest.raises(TypeError, match="slot must be an integer, got 1.5"):
        t.load(a, 1.5)
    assert t.build().c.tolist()[-1] == 2 and c.reg == 2


def _prelude(t: Recorder, holes: int) -> list:
    """Registers 0..holes held, every other one let go again: the free registers have gaps."""
    hs = [t.alloc(8, 1) for _ in range(2 * holes + 1)]
    for h in hs[1::2]:
        t.free(h)
    return hs[0::2]


def _fifo_calls(t: Recorder, sizes, pops, nslots=1, next_slot=0, work=0) -> None:
    """What Recorder.fifo stands for, one call at a time (its docstring's program)."""
    head = tail = None
    queued = 0

    def pop():
        nonlocal head, tail, queued
        queued -= 1
        if queued == 0:
            t.drop(tail)
            t.free(head)
            head = tail = None
        else:
            head = t.free_head(head, next_slot)
    for s, size in enumerate(sizes):
        if tail is None:
            head = t.alloc(size, nslots)
            tail = t.copy(head)
        else:
            tail = t.alloc_after(tail, next_slot, size, nslots)
        queued += 1
        t.work(work)
        for _ in range(pops[s]):
            pop()
    for _ in range(pops[len(sizes)]):
        pop()


def test_fifo_records_the_events_worked_out_by_hand():
    t = Recorder()
    t.fifo([10, 20], [0, 1, 1], nslots=2, next_slot=1, work=5)
    tr = t.build()
    # push 0 into the empty queue: alloc r0, copy into r1; push 1: alloc r2, link it after the
    # tail (r1), let r1 go; after step 1 pop 0: load its next into r1, free r0; at the end pop 1,
    # the only one left: drop the tail (r2), free the head (r1)
    assert [(OP_NAMES[o], a, b, c, x, y, z) for o, a, b, c, x, y, z in zip(
        *(getattr(tr, k).tolist() for k in "op a b c x y z".split()))] == [
        ("alloc", 0, 10, 2, 0, -1, -1), ("move", 1, 0, 0, 0, -1, -1),
        ("work", 5, 0, 0, -1, -1, -1),
        ("alloc", 2, 20, 2, 1, -1, -1), ("store", 1, 1, 2, 0, 1, -1),
        ("clear", 1, 0, 0, 0, -1, -1), ("work", 5, 0, 0, -1, -1, -1),
        ("load", 1, 0, 1, 1, 0, -1), ("free", 0, 0, 0, 0, -1, -1),
        ("clear", 2, 0, 0, 1, -1, -1), ("free", 1, 0, 0, 1, -1, -1)]
    assert tr.registers == 3


@PROPERTY
@given(st.integers(0, 3), st.lists(st.integers(0, 40), min_size=1, max_size=30), st.data(),
       st.integers(1, 3), st.integers(0, 7))
def test_fifo_equals_the_calls_it_stands_for(holes, sizes, data, nslots, work):
    n = len(sizes)
    pops, queued = [], 0
    for s in range(n):
        queued += 1
        k = data.draw(st.integers(0, queued))
        pops.append(k)
        queued -= k
    pops.append(queued)
    next_slot = data.draw(st.integers(0, nslots - 1))
    traces = []
    for fused in (True, False):
        t = Recorder()
        held = _prelude(t, holes)
        if fused:
            t.fifo(sizes, pops, nslots, next_slot, work=work)
        else:
            _fifo_calls(t, sizes, pops, nslots, next_slot, work)
        for h in held:                         # the recorder's state after the call agrees too
            t.free(h)
        t.fifo([1], [0, 1])
        traces.append(t.build())
    assert traces[0].sha256 == traces[1].sha256 and traces[0].registers == traces[1].registers


def test_fifo_checks_before_it_records():
    t = Recorder()
    t.alloc(1)
    for pops, msg in (([2, 0, 0], r"pops\[0\] = 2"), ([1, 0, 0], r"pops\[2\] = 0"),
                      ([0, -1, 2], r"pops\[1\] = -1"), ([0, 2], "len\\(sizes\\) \\+ 1 = 3")):
        with pytest.raises(ValueError, match=msg):
            t.fifo([1, 2], pops)
    with pytest.raises(ValueError, match="next_slot"):
        t.fifo([1], [0, 1], nslots=1, next_slot=1)
    with pytest.raises(ValueError, match="sizes must be >= 0"):
        t.fifo([1, -2], [0, 0, 2])
    assert len(t) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 300), st.integers(0, (1 << 32) - 2)), min_size=1,
                max_size=4), st.integers(0, 300), st.integers(0, 2**32 - 1))
def test_randints_draws_what_rng_randint_draws(ranges, times, seed):
    import random
    from memcompare.trace import randints
    lows = [lo for lo, _ in ranges]
    highs = [lo + w for lo, w in ranges]
    a, b = random.Random(seed), random.Random(seed)
    want = [[a.randint(lo, hi) for lo, hi in zip(lows, highs)] for _ in range(times)]
    assert randints(b, lows, highs, times).tolist() == want
    assert a.getstate() == b.getstate()


def test_randints_over_many_chunks_leaves_rng_where_the_calls_do():
    import random
    from memcompare.trace import randints
    a, b = random.Random(3), random.Random(3)
    want = [a.randint(0, 2) for _ in range(700_000)]       # width 3: a quarter of words rejected
    assert randints(b, [0], [2], 700_000)[:, 0].tolist() == want
    assert a.random() == b.random()


def _chain_window_calls(t: Recorder, lengths, size, nslots, next_slot, *, live, back_slot,
                        back, self_slot, self_at, close, work) -> None:
    """What Recorder.chain_window stands for, one call at a time (its docstring's program)."""
    from collections import deque
    held = deque()
    for j, n in enumerate(lengths):
        held.append((t.alloc_chain(n, size, nslots, next_slot,
                                   back_slot=back_slot if back[j] else None,
                                   self_slot=self_slot, self_at=self_at[j], close=close[j]), n))
        t.work(work)
        if len(held) > live:
            t.free_chain(held[0][0], next_slot, held.popleft()[1])
    while held:
        t.free_chain(held[0][0], next_slot, held.popleft()[1])


def test_chain_window_records_the_events_worked_out_by_hand():
    t = Recorder()
    t.chain_window([2, 1], 16, 2, 0, live=0, back_slot=1, back=[True, False], close=[False, True])
    tr = t.build()
    # a list of 2: alloc r0 and r1, link both ways, let r1 go; then delete it: load node 1 into
    # r1, free both; a ring of 1: alloc r0, its next is itself; delete: free it
    assert [(OP_NAMES[o], a, b, c, x, y, z) for o, a, b, c, x, y, z in zip(
        *(getattr(tr, k).tolist() for k in "op a b c x y z".split()))] == [
        ("alloc", 0, 16, 2, 0, -1, -1), ("alloc", 1, 16, 2, 1, -1, -1),
        ("store", 0, 0, 1, 0, 1, -1), ("store", 1, 1, 0, 1, 0, -1),
        ("clear", 1, 0, 0, 1, -1, -1),
        ("load", 1, 0, 0, 1, 0, -1), ("free", 0, 0, 0, 0, -1, -1), ("free", 1, 0, 0, 1, -1, -1),
        ("alloc", 0, 16, 2, 2, -1, -1), ("store", 0, 0, 0, 2, 2, -1),
        ("free", 0, 0, 0, 2, -1, -1)]


@PROPERTY
@given(st.integers(0, 3), st.lists(st.tuples(st.integers(1, 7), st.booleans(), st.booleans(),
                                             st.integers(-1, 6)), min_size=1, max_size=12),
       st.integers(0, 4), st.sampled_from([(2, 0, 1, 1), (3, 2, 0, 1), (2, 1, 0, 1), (1, 0, None, 0)]),
       st.integers(0, 3))
def test_chain_window_equals_the_calls_it_stands_for(holes, shapes, live, slots, work):
    nslots, next_slot, back_slot, self_slot = slots
    lengths = [n for n, _, _, _ in shapes]
    back = [b and back_slot is not None for _, b, _, _ in shapes]
    close = [c for _, _, c, _ in shapes]
    self_at = [min(s, n - 1) for n, _, _, s in shapes]
    kw = dict(live=live, back_slot=back_slot, back=back, self_slot=self_slot, self_at=self_at,
              close=close, work=work)
    traces = []
    for fused in (True, False):
        t = Recorder()
        held = _prelude(t, holes)
        if fused:
            t.chain_window(lengths, 8, nslots, next_slot, **kw)
        else:
            _chain_window_calls(t, lengths, 8, nslots, next_slot, **kw)
        for h in held:
            t.free(h)
        t.chain_window([3], 1, 1, 0, live=0)
        traces.append(t.build())
    assert traces[0].sha256 == traces[1].sha256 and traces[0].registers == traces[1].registers


def test_chain_window_checks_before_it_records():
    t = Recorder()
    t.alloc(1)
    with pytest.raises(ValueError, match=r"^chain_window: structure 1: n must be >= 1"):
        t.chain_window([2, 0], 8, 2, 0, live=1)
    with pytest.raises(ValueError, match=r"^chain_window: structure 0: alloc_chain: back_slot 2 "
                                         r"out of range .* \(event 1\)$"):
        t.chain_window([2], 8, 2, 0, live=1, back_slot=2, back=True)
    with pytest.raises(ValueError, match="live, work and size must be >= 0"):
        t.chain_window([2], 8, 2, 0, live=-1)
    assert len(t) == 1


def test_append_events_appends_a_self_contained_program_and_checks_what_it_can():
    # the program of: n = alloc(16, 1); m = alloc(0); store(n, 0, m); drop(m); work(3);
    # free(n), then m is referenced by nothing: free it (by hand: registers 0, 1)
    def calls(t):
        n = t.alloc(16, 1)
        m = t.alloc(0)
        t.store(n, 0, m)
        t.drop(m)
        t.work(3)
        v = t.load(n, 0)
        t.free(n)
        t.free(v)
    ref = Recorder()
    ref.work(1)
    calls(ref)
    ref.alloc(4)
    events = [(ALLOC, 0, 16, 1, 0, -1, -1), (ALLOC, 1, 0, 0, 1, -1, -1), (STORE, 0, 0, 1, 0, 1, -1),
              (CLEAR, 1, 0, 0, 1, -1, -1), (WORK, 3, 0, 0, -1, -1, -1), (LOAD, 1, 0, 0, 1, 0, -1),
              (FREE, 0, 0, 0, 0, -1, -1), (FREE, 1, 0, 0, 1, -1, -1)]
    for form in (np.array(events), struct.pack(f"<{7 * len(events)}q", *sum(events, ())),
                 iter([np.array(events[:3]), np.array(events[3:])])):
        t = Recorder()
        t.work(1)
        t.append_events(form)
        t.alloc(4)                     # the recorder carries on: object 2, register 0
        got = t.build()
        assert got.sha256 == ref.build().sha256 and got.registers == 2
    t = Recorder()
    h = t.alloc(1)
    with pytest.raises(ValueError, match="must start with an empty heap"):
        t.append_events(np.array(events))
    t = Recorder()
    t.work(1)
    for bad, msg in (
            (events[:-1], "must free every object it allocates exactly once"),
            (events + [(FREE, 1, 0, 0, 1, -1, -1)], "exactly once"),
            ([(ALLOC, 0, 1, 0, 5, -1, -1), (FREE, 0, 0, 0, 5, -1, -1)], "create objects 0, 1"),
            ([(ALLOC | 2 << 3, 0, 1, 0, 1, -1, -1)], "not a valid event"),
            ([(WORK, -1, 0, 0, -1, -1, -1)], "not a valid event")):
        with pytest.raises((ValueError, TraceError), match=msg):
            t.append_events(np.array(bad))
    assert len(t) == 1
    # a program whose first piece was appended before its second failed leaves nothing behind:
    # the recorder carries on from where it was
    with pytest.raises(ValueError, match=r"create objects 0, 1, ... in order \(event 9\)"):
        t.append_events(iter([np.array(events), np.array(events)]))
    assert len(t) == 1
    t.append_events(np.array(events))
    t.alloc(4)
    assert t.build().sha256 == ref.build().sha256


def test_append_events_names_the_first_bad_event_or_register():
    # each rule append_events checks with numpy, broken once (the bad event second in the
    # program, event 3 of the trace): the error names the event or the rule; nothing is recorded
    alloc, free = (ALLOC, 0, 16, 1, 0, -1, -1), (FREE, 0, 0, 0, 0, -1, -1)
    for bad, msg in (
            ((7, 0, 0, 0, -1, -1, -1), r"event 3: .*not a valid event: \[7, 0"),
            ((LOAD | 1 << 3, 1, 0, 0, 0, -1, -1), r"event 3: .*not a valid event: \[9, 1"),
            ((-1, 0, 0, 0, -1, -1, -1), r"event 3: .*not a valid event: \[-1, 0"),
            ((WORK, -4, 0, 0, -1, -1, -1), r"event 3: .*not a valid event: \[6, -4"),
            ((ALLOC, 1, -5, 0, 1, -1, -1), r"event 3: .*not a valid event: \[0, 1, -5"),
            ((ALLOC, 1, 8, (1 << 24) + 1, 1, -1, -1), r"event 3: .*not a valid event: \[0, 1, 8"),
            ((STORE, 0, 0, -7, 0, -1, -1), "registers must be in"),
            ((LOAD, 1, (1 << 20) + 3, 0, -1, -1, -1), "registers must be in"),
            ((CLEAR, -2, 0, 0, -1, -1, -1), "registers must be in"),
            ((WORK, 5, 0, 0, -1, -1, -1), None)):
        t = Recorder()
        t.work(1)
        t.work(2)
        if msg is None:                     # WORK's operand is a duration, not a register
            t.append_events(np.array([alloc, (WORK, 1 << 40, 0, 0, -1, -1, -1), free]))
            assert len(t) == 5 and t.build().registers == 1
            continue
        with pytest.raises((ValueError, TraceError), match=msg):
            t.append_events(np.array([alloc, bad, free]))
        assert len(t) == 2


def _pairs(t: Recorder, k: int) -> None:
    for _ in range(k):                  # alloc r0 (1 byte), free it: 2 events each
        t.free(t.alloc(1))


def test_a_build_is_a_snapshot_and_recording_goes_on_past_the_first_buffers():
    # 80,000 events, past the columns' first buffers (65,536 events): they grow; then a build,
    # and more events while the trace views the buffers — one that needs int64 operands
    t = Recorder()
    _pairs(t, 40000)
    one = t.build()
    h = t.alloc(1 << 40, 3)
    t.work(7)
    t.free(h)
    _pairs(t, 40000)
    two = t.build()
    assert (one.events, two.events) == (80000, 160003)
    assert one.b.tolist() == [1, 0] * 40000 and one.op.tolist() == [ALLOC, FREE] * 40000
    assert one.x.tolist() == [k // 2 for k in range(80000)]
    assert two.b[80000] == 1 << 40 and two.c[80000] == 3 and two.x[80000] == 40000
    assert two.op[80001] == WORK and two.a[80001] == 7 and two.x[80002] == 40000
    assert two.x[-1] == 80000 and two.registers == 1
    for trace, calls in ((one, 1), (two, 2)):      # the same as recorded without a build between
        ref = Recorder()
        _pairs(ref, 40000)
        if calls == 2:
            g = ref.alloc(1 << 40, 3)
            ref.work(7)
            ref.free(g)
            _pairs(ref, 40000)
        assert trace.sha256 == ref.build().sha256
