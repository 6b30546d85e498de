"""Fuzzers for every way a trace enters memcompare: the text form, the binary format (versions 1
and 2, plain and compressed) and the TraceFileSim importer (issue 13, item 6).

The property is the same for every family: the input gives a valid trace, or a
:class:`MemcompareError` with exit code 2 whose message names the place (line, event index or
byte offset) — never another exception, never a hang, never a memory blow-up (each case runs
under :func:`fuzzing.limits`). The budget is fixed and small by default; ``--fuzz-long`` runs 50x.
"""
from __future__ import annotations

import io
import json
import re
import struct
import tempfile
import zlib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import TALLY, fuzz_settings, limits
from memcompare import cli
from memcompare.errors import EXIT_USAGE, MemcompareError, TraceError, TraceFormatError
from memcompare.importers import import_tracefilesim
from memcompare.trace import (ALLOC, COLUMNS, LOAD, MOVE, NULL, OP_NAMES, STORE, WORK, Trace,
                              build)
from memcompare.traceio import dumps, loads, parse_text, to_text
from test_trace import valid_traces

PREFIX = struct.Struct("<8sIII")
FORMS = [(1, None), (2, None), (2, "zlib")]


def _check(family: str, run, where: re.Pattern):
    """Run one case under the limits; the result, or the clean error (checked and tallied)."""
    try:
        with limits():
            result = run()
    except MemcompareError as err:
        assert err.exit_code == EXIT_USAGE, f"{type(err).__name__} exits {err.exit_code}"
        msg = str(err)
        assert "\n" not in msg.strip() and where.search(msg), f"the error names no place: {msg}"
        TALLY[family][f"clean {type(err).__name__}"] += 1
        return None
    TALLY[family]["valid trace"] += 1
    return result


def _consistent(t: Trace) -> None:
    """What a loaded trace promises the models, checked slowly and independently of traceio."""
    n, objects = t.events, t.objects
    op, a, b, c = t.op.tolist(), t.a.tolist(), t.b.tolist(), t.c.tolist()
    x, y, z = t.x.tolist(), t.y.tolist(), t.z.tolist()
    nslots = t.obj_nslots.tolist()
    regs = {ALLOC: (a,), LOAD: (a, b), STORE: (a,), MOVE: (a, b)}
    for i in range(n):
        assert 0 <= op[i] <= WORK
        for col in (x, y, z):
            assert -1 <= col[i] < objects
        for col in regs.get(op[i], (a,) if op[i] != WORK else ()):
            assert 0 <= col[i] < t.registers
        if op[i] == LOAD:
            assert 0 <= c[i] < nslots[y[i]]
        if op[i] == STORE:
            assert 0 <= b[i] < nslots[x[i]]
            assert c[i] == NULL or 0 <= c[i] < t.registers


# -- the text form ----------------------------------------------------------------------------

_int = st.one_of(st.integers(-3, 40), st.integers(-(2**70), 2**70),
                 st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]))
_word = st.one_of(st.sampled_from(OP_NAMES + ("alocc", "ALLOC", "-", "local", "#", "0x1", "+1",
                                              "1_0", "٣", "\x00", "\u2028")),
                  _int.map(str), st.text(max_size=5))
_text_line = st.one_of(
    st.tuples(st.sampled_from(OP_NAMES), st.lists(_int.map(str), max_size=4))
    .map(lambda t: " ".join((t[0], *t[1]))),
    st.lists(_word, max_size=6).map(" ".join),
)
_text = st.one_of(st.lists(_text_line, max_size=12).map("\n".join), st.text(max_size=80))


@fuzz_settings(300)
@given(_text)
def test_text_parser_gives_a_trace_or_an_error_naming_the_line(text):
    t = _check("text form", lambda: parse_text(text, source="f.txt"),
               re.compile(r"^f\.txt:\d+: event \d+: "))
    if t is not None:
        assert parse_text(to_text(t)).sha256 == t.sha256
        _consistent(t)


# -- the binary format ------------------------------------------------------------------------

_OFFSET = re.compile(r"^b\.bin: at offset \d+: ")


def _forms(trace: Trace) -> st.SearchStrategy:
    return st.sampled_from(FORMS).map(lambda f: dumps(trace, version=f[0], compress=f[1]))


@fuzz_settings(200)
@given(valid_traces(max_events=25), st.sampled_from(FORMS), st.data())
def test_bit_flips_are_caught(trace, form, data):
    blob = bytearray(dumps(trace, version=form[0], compress=form[1]))
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        pos = data.draw(st.integers(0, len(blob) - 1), label="position")
        blob[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    t = _check("binary: bit flips", lambda: loads(bytes(blob), "b.bin"), _OFFSET)
    if t is not None:
        _consistent(t)


@fuzz_settings(150)
@given(valid_traces(max_events=25), st.sampled_from(FORMS), st.data())
def test_truncations_are_caught_at_the_end(trace, form, data):
    blob = dumps(trace, version=form[0], compress=form[1])
    n = data.draw(st.integers(0, len(blob) - 1), label="length")
    t = _check("binary: truncation", lambda: loads(blob[:n], "b.bin"),
               re.compile(rf"^b\.bin: at offset {n}: "))
    assert t is None, "a truncated file loaded"


def _reframe(version: int, header: dict, body: bytes, *, fix_blocks: bool) -> bytes:
    """A file around ``header`` and ``body`` with a correct header crc (and block crcs)."""
    if fix_blocks and isinstance(header.get("block_size"), int) and header["block_size"] > 0:
        bs = header["block_size"]
        header["block_crc32"] = [zlib.crc32(body[i:i + bs]) for i in range(0, len(body), bs)]
    hb = json.dumps(header).encode("utf-8")
    return PREFIX.pack(b"MCTRACE\0", version, len(hb), zlib.crc32(hb)) + hb + body


_extreme = st.one_of(
    st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63),
                     10**30, 1.5, float("nan"), True, None, "", "x", [], {}, [0], "<i4",
                     "<i8", "|u1", ">i4", "<f8", "zlib", "none", "zstd", "lzma"]),
    st.integers(), st.text(max_size=4))
_HEADER_KEYS = ("version", "events", "objects", "registers", "sha256", "workload", "params",
                "compression", "columns", "block_size", "block_crc32")


@fuzz_settings(250)
@given(valid_traces(max_events=25), st.sampled_from(FORMS), st.data())
def test_header_fields_at_extreme_values_are_caught(trace, form, data):
    blob = dumps(trace, version=form[0], compress=form[1])
    hlen = PREFIX.unpack_from(blob)[2]
    header = json.loads(blob[PREFIX.size:PREFIX.size + hlen])
    body = blob[PREFIX.size + hlen:]
    for _ in range(data.draw(st.integers(1, 3), label="fields")):
        key = data.draw(st.sampled_from(_HEADER_KEYS), label="key")
        value = data.draw(_extreme, label="value")
        if key == "columns" and isinstance(header.get("columns"), list) and \
                data.draw(st.booleans(), label="inside a column"):
            k = data.draw(st.integers(0, len(header["columns"]) - 1), label="column")
            entry = header["columns"][k]
            if isinstance(entry, list) and entry:
                entry[data.draw(st.integers(0, len(entry) - 1), label="field")] = value
        else:
            header[key] = value
    version = data.draw(st.sampled_from([form[0], 1, 2, 0, 3, 2**32 - 1]), label="version")
    fixed = _reframe(version, header, body, fix_blocks=data.draw(st.booleans(), label="fix"))
    t = _check("binary: header fields", lambda: loads(fixed, "b.bin"), _OFFSET)
    if t is not None:
        _consistent(t)


@fuzz_settings(200)
@given(valid_traces(max_events=25), st.sampled_from(FORMS[:2]), st.data())
def test_consistent_checksums_around_wrong_columns_are_caught(trace, form, data):
    # the checksums match, so only the loader's consistency checks stand between the bytes and
    # a model: every value must be in range or the file rejected
    version = form[0]
    blob = dumps(trace, version=version)
    hlen = PREFIX.unpack_from(blob)[2]
    header = json.loads(blob[PREFIX.size:PREFIX.size + hlen])
    body = bytearray(blob[PREFIX.size + hlen:])
    if version == 1:
        layout, off = [], 0
        for name, dt in COLUMNS:
            layout.append((name, dt, off))
            off += np.dtype(dt).itemsize * trace.events
    else:
        layout = [(name, dt, off) for name, dt, off, _ in header["columns"]]
    for _ in range(data.draw(st.integers(1, 3), label="values")):
        name, dt, off = data.draw(st.sampled_from(layout), label="column")
        dtype = np.dtype(dt)
        if not trace.events:
            break
        i = data.draw(st.integers(0, trace.events - 1), label="event")
        info = np.iinfo(dtype)
        v = data.draw(st.one_of(st.integers(-2, 8), st.sampled_from([info.min, info.max])),
                      label="value")
        v = min(max(v, info.min), info.max)
        body[off + i * dtype.itemsize:off + (i + 1) * dtype.itemsize] = \
            np.array([v], dtype=dtype).tobytes()
    if version == 1:
        import hashlib
        header["sha256"] = hashlib.sha256(bytes(body)).hexdigest()
    fixed = _reframe(version, header, bytes(body), fix_blocks=True)
    t = _check("binary: wrong columns, right checksums", lambda: loads(fixed, "b.bin"), _OFFSET)
    if t is not None:
        _consistent(t)


# -- the TraceFileSim importer ----------------------------------------------------------------

_tfs_id = st.one_of(st.integers(0, 6), st.sampled_from([2**31, 2**63, 10**30, -1]))
_tfs_attr = st.tuples(st.sampled_from(list("TOPSNCFIVL#") + ["X", ""]),
                      st.one_of(_tfs_id.map(str), st.sampled_from(["", "-", "x", "1.5"])))
_tfs_line = st.one_of(
    st.tuples(st.sampled_from(list("a+-wcrsx%") + ["?", "aa", ""]),
              st.lists(_tfs_attr.map("".join), max_size=6)).map(lambda t: " ".join((t[0], *t[1]))),
    st.text(max_size=10),
)


@fuzz_settings(300)
@given(st.lists(_tfs_line, max_size=15).map("\n".join))
def test_tracefilesim_import_gives_a_trace_or_an_error_naming_the_line(text):
    t = _check("TraceFileSim importer", lambda: import_tracefilesim(text, source="g.trace"),
               re.compile(r"^g\.trace(:\d+)?: "))
    if t is not None:
        _consistent(t)
        assert build(t.op, t.a, t.b, t.c, t.flags).sha256 == t.sha256


# -- through the command line -----------------------------------------------------------------

@fuzz_settings(30)
@given(st.one_of(st.binary(max_size=200),
                 valid_traces(max_events=10).flatmap(_forms).flatmap(
                     lambda b: st.integers(0, len(b)).map(lambda n: b[:n]))),
       st.sampled_from(["t.mctrace", "t.mctrace.txt"]))
def test_trace_show_exits_0_or_2_with_one_line(data, name):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with limits(), redirect_stdout(out), redirect_stderr(err):
            code = cli.main(["trace", "show", str(path)])
    assert code in (0, 2)
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"memcompare: error: {path}")
        TALLY["command line (trace show)"]["exit 2"] += 1
    else:
        TALLY["command line (trace show)"]["exit 0"] += 1
