"""Trace files: the text form for people and the binary format for everything else.

The text form (``.mctrace.txt``) is docs/design.md §3's: one event per line, ``#`` comments. The binary
format (version 1, byte by byte in docs/trace-format.md) stores the event columns *and* the derived
object-id columns exactly as :meth:`memcompare.trace.Trace.body` encodes them, so loading is a few
``np.frombuffer`` calls and checksum checks: no per-event Python loop, no re-validation.

Every way a file can be wrong ends in a :class:`TraceError` (the text form: file, line, event
index) or a :class:`TraceFormatError` (the binary format: file and byte offset), never in a
traceback from json, struct or numpy.

This module must not know about models, engines or workloads: it only moves a :class:`Trace`
between memory and bytes. The rules of the register machine live in :func:`memcompare.trace.build`.
"""
from __future__ import annotations

import difflib
import errno
import hashlib
import json
import mmap
import os
import struct
import zlib
from pathlib import Path
from typing import Any, Iterator, NoReturn

import numpy as np

from .errors import TraceError, TraceFormatError
from .files import atomic_write
from .trace import (ALLOC, CLEAR, COLUMNS, FLAG_LOCAL, FREE, LOAD, MAX_REGISTER, MOVE, NULL,
                    OP_ARITY, OP_CODES, OP_NAMES, STORE, WORK, Trace, build)

__all__ = ["MAGIC", "FORMAT_VERSION", "BLOCK_SIZE", "parse_text", "to_text", "dumps", "loads",
           "save", "load", "show", "is_text_path"]

MAGIC = b"MCTRACE\0"
#: the version :func:`save` and :func:`dumps` write; :data:`READ_VERSIONS` load
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
#: version 2: the body's columns start at multiples of this (aligned for memory mapping), and
#: its checksums cover 1 MiB blocks (a 10⁸-event file lists 2,000 of them, not 30,000)
COLUMN_ALIGN = 64
BLOCK_SIZE_V2 = 1 << 20
#: version 2's optional compression of each column; zstd only when `zstandard` is installed
COMPRESSIONS = ("none", "zlib", "zstd")
#: the dtypes a version-2 column may be stored in (little-endian)
#: events per chunk of the consistency checks on load (bounded temporaries)
CHECK_CHUNK = 1 << 22
V2_DTYPES = {"op": ("|u1",), "flags": ("|u1",),
             **{name: ("<i2", "<i4", "<i8") for name in ("a", "b", "c", "x", "y", "z")}}
#: magic, then little-endian u32 format version, u32 header length, u32 crc32 of the header
PREFIX = struct.Struct("<8sIII")
#: Checksums per 64 KiB block rather than one for the body: a corrupted file then names the
#: bytes that went bad, which tells a truncated download from a flipped bit on disk.
BLOCK_SIZE = 65536
#: the columns of a version-1 body, in order, as [name, numpy dtype.str]
V1_COLUMNS = [[name, np.dtype(dt).str] for name, dt in COLUMNS]
EVENT_BYTES = sum(np.dtype(dt).itemsize for _, dt in COLUMNS)
HEADER_KEYS = ("version", "events", "objects", "registers", "sha256", "workload", "params",
               "columns", "block_size", "block_crc32")

#: what each op's operands are called, for error messages and the docs
OPERANDS = {
    "alloc": ("r", "size", "nslots"),
    "load": ("rd", "rs", "slot"),
    "store": ("rs", "slot", "rv"),
    "move": ("rd", "rs"),
    "clear": ("r",),
    "free": ("r",),
    "work": ("ns",),
}
#: operand positions (0 = a, 1 = b, 2 = c) that name a register, per op code
REGISTER_OPERANDS = {ALLOC: (0,), LOAD: (0, 1), STORE: (0, 2), MOVE: (0, 1), CLEAR: (0,),
                     FREE: (0,), WORK: ()}
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def is_text_path(path: str | os.PathLike) -> bool:
    """True for the text form's suffixes (``.mctrace.txt`` or any ``.txt``)."""
    return os.fspath(path).lower().endswith(".txt")


# -- text form --------------------------------------------------------------------------------

def parse_text(text: str, source: str | None = None, *, workload: str | None = None,
               params: dict[str, Any] | None = None) -> Trace:
    """Parse the text form into a validated :class:`Trace`.

    Syntax errors raise :class:`TraceError` with ``source``, ``line`` (1-based) and the index the
    event would have had; validation errors from :func:`build` carry the line as well.
    """
    ops: list[int] = []
    flags: list[int] = []
    a: list[int] = []
    b: list[int] = []
    c: list[int] = []
    lines: list[int] = []
    codes = OP_CODES
    arity = OP_ARITY
    # split("\n") rather than splitlines(): splitlines() also breaks at \x0b, \x1c, \u2028, ...,
    # and the line numbers in our errors must be the ones an editor shows.
    for lineno, line in enumerate(text.split("\n"), 1):
        h = line.find("#")
        if h >= 0:
            line = line[:h]
        parts = line.split()
        if not parts:
            continue
        code = codes.get(parts[0])
        rest = parts[1:]
        # Fast path, most lines of a large file: a known op with the right number of plain ASCII
        # digit operands. Anything else (nulls, negatives, flags, errors) takes the careful path.
        if (code is not None and len(rest) == arity[code] and line.isascii()
                and "".join(rest).isdigit()):
            vals = [int(t) for t in rest]
            flag = 0
        else:
            code, flag, vals = _parse_line(parts, lineno, len(ops), source)
        ops.append(code)
        flags.append(flag)
        n = len(vals)
        a.append(vals[0])
        b.append(vals[1] if n > 1 else 0)
        c.append(vals[2] if n > 2 else 0)
        lines.append(lineno)
    try:
        cols = [np.array(col, dtype=np.int64) for col in (a, b, c)]
    except OverflowError:
        _raise_out_of_range(ops, a, b, c, lines, source)
    return build(np.array(ops, dtype=np.uint8), *cols, np.array(flags, dtype=np.uint8),
                 workload=workload, params=params, lines=lines, source=source)


def _parse_line(parts: list[str], lineno: int, index: int,
                source: str | None) -> tuple[int, int, list[int]]:
    """The careful path for one event line: (op code, flags, operands), or a TraceError."""

    def fail(msg: str) -> NoReturn:
        raise TraceError(msg, index=index, line=lineno, source=source)

    name = parts[0]
    code = OP_CODES.get(name)
    if code is None:
        near = difflib.get_close_matches(name.lower(), OP_NAMES, n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        fail(f"unknown op '{name}' (valid: {', '.join(OP_NAMES)}){hint}")
    rest = parts[1:]
    want = OP_ARITY[code]
    usage = " ".join((name,) + OPERANDS[name]) + (" [local]" if code == ALLOC else "")
    flag = 0
    if code == ALLOC and len(rest) == want + 1 and not _is_int(rest[-1]):
        if rest[-1] != "local":
            fail(f"unknown alloc flag '{rest[-1]}' (the only flag is 'local': {usage})")
        flag = FLAG_LOCAL
        rest = rest[:-1]
    elif code != ALLOC and rest and rest[-1] == "local":
        fail(f"the 'local' flag only applies to alloc, not {name}")
    if len(rest) != want:
        fail(f"{name} takes {want} operand{'s' if want > 1 else ''} ({usage}), got {len(rest)}")
    names = OPERANDS[name]
    regs = REGISTER_OPERANDS[code]
    vals = []
    for k, tok in enumerate(rest):
        if tok == "-":
            if code != STORE or k != 2:
                fail(f"'-' (null) is only allowed as store's value operand rv, "
                     f"not as {name}'s {names[k]}")
            vals.append(NULL)
            continue
        if not _is_int(tok):
            fail(f"{name}'s operand {names[k]} must be a decimal integer, got '{tok}'")
        v = int(tok)
        if k in regs and v < 0:
            fail(f"{name}'s operand {names[k]} is a register and must be >= 0, got {v}")
        vals.append(v)
    return code, flag, vals


def _is_int(tok: str) -> bool:
    """A decimal integer as the text form writes it: ASCII digits, optionally after one '-'.

    Stricter than int(), which would also take '+5', '1_000' and non-ASCII digits.
    """
    digits = tok[1:] if tok.startswith("-") else tok
    return digits.isascii() and digits.isdigit()


def _raise_out_of_range(ops: list[int], a: list[int], b: list[int], c: list[int],
                        lines: list[int], source: str | None) -> NoReturn:
    """Name the first operand that does not fit the 64-bit columns (only called on error)."""
    for i, vals in enumerate(zip(a, b, c)):
        for k, v in enumerate(vals):
            if not _INT64_MIN <= v <= _INT64_MAX:
                name = OP_NAMES[ops[i]]
                raise TraceError(f"{name}'s operand {OPERANDS[name][k]} = {v} is out of range "
                                 f"(a 64-bit signed integer)", index=i, line=lines[i],
                                 source=source)
    raise AssertionError("an operand overflowed int64 but none is out of range")


def _event_lines(trace: Trace, stop: int | None = None) -> Iterator[str]:
    """The canonical text line of each event, without newline."""
    n = trace.events if stop is None else min(stop, trace.events)
    cols = (trace.op[:n].tolist(), trace.flags[:n].tolist(), trace.a[:n].tolist(),
            trace.b[:n].tolist(), trace.c[:n].tolist())
    for o, f, a, b, c in zip(*cols):
        if o == ALLOC:
            yield f"alloc {a} {b} {c} local" if f & FLAG_LOCAL else f"alloc {a} {b} {c}"
        elif o == LOAD:
            yield f"load {a} {b} {c}"
        elif o == STORE:
            yield f"store {a} {b} -" if c == NULL else f"store {a} {b} {c}"
        elif o == MOVE:
            yield f"move {a} {b}"
        elif o == CLEAR:
            yield f"clear {a}"
        elif o == FREE:
            yield f"free {a}"
        else:
            yield f"work {a}"


def to_text(trace: Trace) -> str:
    """The canonical text form: one event per line, single spaces, ``-`` for null, no comments."""
    if not trace.events:
        return ""
    return "\n".join(_event_lines(trace)) + "\n"


def show(trace: Trace, limit: int | None = None) -> str:
    """What ``memcompare trace show`` prints: a ``# key: value`` summary, then the text form.

    Without ``limit`` the output is itself a valid text trace (the summary is comments).
    """
    counts = " ".join(f"{name}={n}" for name, n in trace.counts().items())
    header = [
        ("workload", trace.workload or "-"),
        ("params", json.dumps(trace.params, sort_keys=True, default=str)),
        ("events", trace.events),
        ("objects", trace.objects),
        ("registers", trace.registers),
        ("sha256", trace.sha256),
        ("counts", counts),
        ("live_peak_bytes", trace.live_peak_bytes),
    ]
    out = [f"# {key}: {value}" for key, value in header]
    if limit is not None:
        limit = max(limit, 0)
    out.extend(_event_lines(trace, limit))
    if limit is not None and trace.events > limit:
        out.append(f"# ... {trace.events - limit} more events")
    return "\n".join(out) + "\n"


# -- binary format ----------------------------------------------------------------------------

def dumps(trace: Trace, *, version: int = FORMAT_VERSION, compress: str | None = None) -> bytes:
    """The binary encoding of ``trace`` (format version 2 unless ``version=1``)."""
    return b"".join(bytes(part) for part in _encode(trace, version=version, compress=compress))


def _encode(trace: Trace, *, version: int = FORMAT_VERSION,
            compress: str | None = None) -> list:
    """The pieces of the binary encoding; :func:`save` writes them without joining."""
    if version == 1:
        if compress not in (None, "none"):
            raise ValueError("format version 1 has no compression; use version 2")
        return _encode_v1(trace)
    if version != 2:
        raise ValueError(f"cannot write format version {version} (writes 1 and 2)")
    return _encode_v2(trace, compress or "none")


def _header_bytes(header: dict[str, Any], trace: Trace, align: int = 1) -> bytes:
    try:
        hb = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise TypeError(f"trace params must be JSON values (numbers, strings, lists, dicts) to be "
                        f"saved: {e}; params = {trace.params!r}") from None
    # trailing spaces (valid JSON) so that the body starts at a multiple of `align`
    hb += b" " * (-(PREFIX.size + len(hb)) % align)
    return hb


def _identity(trace: Trace) -> dict:
    """The header fields every format version carries, in their order in the file."""
    return {"events": trace.events, "objects": trace.objects, "registers": trace.registers,
            "sha256": trace.sha256, "workload": trace.workload, "params": trace.params}


def _encode_v1(trace: Trace) -> list:
    body = trace.body()
    header = {
        "version": 1,
        **_identity(trace),
        "columns": V1_COLUMNS,
        "block_size": BLOCK_SIZE,
        "block_crc32": [zlib.crc32(body[i:i + BLOCK_SIZE])
                        for i in range(0, len(body), BLOCK_SIZE)],
    }
    hb = _header_bytes(header, trace)
    return [PREFIX.pack(MAGIC, 1, len(hb), zlib.crc32(hb)), hb, body]


def _compressor(method: str):
    """A function bytes -> compressed bytes for ``method``, or a clear error."""
    if method == "zlib":
        return lambda data: zlib.compress(data, 6)
    if method == "zstd":
        zstd = _zstd()
        return zstd.ZstdCompressor(level=9).compress
    raise ValueError(f"unknown compression {method!r} (valid: {', '.join(COMPRESSIONS)})")


def _zstd():
    try:
        import zstandard
    except ImportError:
        raise TraceFormatError("zstd compression needs the 'zstandard' package (pip install "
                               "zstandard); zlib needs nothing") from None
    return zstandard


def _encode_v2(trace: Trace, compress: str) -> list:
    if compress not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compress!r} (valid: {', '.join(COMPRESSIONS)})")
    pieces: list = []
    columns = []
    offset = 0
    pack = None if compress == "none" else _compressor(compress)
    for name, _ in COLUMNS:
        col = np.ascontiguousarray(trace.stored(name))
        dt = col.dtype.newbyteorder("<")
        if col.dtype != dt:
            col = col.astype(dt)
        raw = memoryview(col).cast("B") if col.size else b""
        data = raw if pack is None else pack(raw)
        pad = -offset % COLUMN_ALIGN
        if pad:
            pieces.append(b"\0" * pad)
            offset += pad
        columns.append([name, dt.str, offset, len(data)])
        pieces.append(data)
        offset += len(data)
    crcs = []
    block = bytearray()
    for piece in pieces:          # crc32 of each BLOCK_SIZE_V2 bytes of the body
        mv = memoryview(piece).cast("B") if not isinstance(piece, bytes) else memoryview(piece)
        i = 0
        while i < len(mv):
            take = min(BLOCK_SIZE_V2 - len(block), len(mv) - i)
            if not block and take == BLOCK_SIZE_V2:
                crcs.append(zlib.crc32(mv[i:i + take]))
            else:
                block += mv[i:i + take]
                if len(block) == BLOCK_SIZE_V2:
                    crcs.append(zlib.crc32(block))
                    block = bytearray()
            i += take
    if block:
        crcs.append(zlib.crc32(block))
    header = {
        "version": 2,
        **_identity(trace),
        "compression": compress,
        "columns": columns,
        "block_size": BLOCK_SIZE_V2,
        "block_crc32": crcs,
    }
    hb = _header_bytes(header, trace, COLUMN_ALIGN)
    return [PREFIX.pack(MAGIC, 2, len(hb), zlib.crc32(hb)), hb, *pieces]


def loads(data: bytes | bytearray | memoryview, source: str = "<bytes>", *,
          check_events: bool = True) -> Trace:
    """Decode a binary trace. Every problem raises :class:`TraceFormatError` naming an offset.

    ``check_events=False`` skips the pass over the events that a file from another tool needs
    (operands in range, ids in order: :meth:`_Decoder.check_columns`), for a file this
    memcompare wrote itself from a trace it had validated (the trace cache): the header's and
    the body's checksums, always checked, then prove the events are the ones written."""
    return _Decoder(data, source, check_events).trace()


class _Decoder:
    """One decoding of one file: every check in file order, each failure naming its offset."""

    def __init__(self, data, source: str, check_events: bool = True):
        self.buffer = data            # kept: arrays of an uncompressed v2 file are views of it
        self.data = memoryview(data).cast("B")
        self.source = source
        self.check_events = check_events

    def fail(self, offset: int, msg: str) -> NoReturn:
        raise TraceFormatError(f"{self.source}: at offset {offset}: {msg}")

    def trace(self) -> Trace:
        data, size = self.data, len(self.data)
        self.check_magic()
        if size < PREFIX.size:
            self.fail(size, f"truncated: the fixed prefix is {PREFIX.size} bytes, the data ends "
                            f"at offset {size}")
        _, version, hlen, hcrc = PREFIX.unpack_from(data)
        if version not in READ_VERSIONS:
            self.fail(8, f"unsupported format version {version} (this memcompare reads versions "
                         f"{', '.join(map(str, READ_VERSIONS))}; a newer memcompare may read it)")
        self.version = version
        hstart, hend = PREFIX.size, PREFIX.size + hlen
        if hend > size:
            self.fail(size, f"truncated: the header is {hlen} bytes at offsets {hstart}..{hend} "
                            f"but the data ends at offset {size}")
        hbytes = bytes(data[hstart:hend])
        if zlib.crc32(hbytes) != hcrc:
            self.fail(hstart, f"header (offsets {hstart}..{hend}) is corrupted: crc32 "
                              f"{zlib.crc32(hbytes):#010x}, the prefix says {hcrc:#010x}")
        header = self.parse_header(hbytes, hstart)
        if version == 1:
            return self.body_v1(header, hend)
        return self.body_v2(header, hend)

    def check_blocks(self, body, body_start: int, header: dict[str, Any]) -> None:
        bs = header["block_size"]
        crcs = header["block_crc32"]
        nblocks = -(-len(body) // bs)
        if len(crcs) != nblocks:
            self.fail(PREFIX.size, f"header lists {len(crcs)} block checksums, a {len(body)}-byte "
                                   f"body in {bs}-byte blocks has {nblocks}")
        for k, want in enumerate(crcs):
            block = body[k * bs:(k + 1) * bs]
            if zlib.crc32(block) != want:
                start = body_start + k * bs
                self.fail(start, f"body block {k} (file offsets {start}..{start + len(block)}) "
                                 f"is corrupted: crc32 mismatch")

    def body_v1(self, header: dict[str, Any], hend: int) -> Trace:
        data, size = self.data, len(self.data)
        events = header["events"]
        expected = events * EVENT_BYTES
        actual = size - hend
        if actual < expected:
            self.fail(size, f"truncated: {events} events need a body of {expected} bytes at "
                            f"offsets {hend}..{hend + expected}, the file has {actual} "
                            f"(data ends at offset {size})")
        if actual > expected:
            self.fail(hend + expected, f"{actual - expected} unexpected bytes after the body "
                                       f"({events} events = {expected} bytes from offset {hend})")
        body = data[hend:]
        self.check_blocks(body, hend, header)
        if hashlib.sha256(body).hexdigest() != header["sha256"]:
            self.fail(hend, "body does not match the header's sha256")
        cols = {}
        offset = 0
        for name, dt in COLUMNS:
            dtype = np.dtype(dt)
            nbytes = dtype.itemsize * events
            # astype copies into native byte order: the arrays own their memory and the file's
            # bytes can be released (Trace then narrows the wide version-1 columns)
            cols[name] = np.frombuffer(body, dtype=dtype, count=events,
                                       offset=offset).astype(dtype.newbyteorder("="))
            offset += nbytes
        if self.check_events:
            self.check_columns(cols, header, hend, [hend + k * events * 8 for k in range(8)])
        trace = Trace(cols["op"], cols["flags"], cols["a"], cols["b"], cols["c"],
                      cols["x"], cols["y"], cols["z"], header["registers"],
                      header["workload"], header["params"])
        trace._cache["sha256"] = header["sha256"]     # checked above against the body
        return trace

    def body_v2(self, header: dict[str, Any], hend: int) -> Trace:
        data, size = self.data, len(self.data)
        events = header["events"]
        body = data[hend:]
        columns = header["columns"]
        end = 0
        for name, dt, offset, length in columns:
            if offset < end:
                self.fail(PREFIX.size, f"header: column {name!r} at body offset {offset} overlaps "
                                       f"the column before it (which ends at {end})")
            end = offset + length
            if header["compression"] == "none" and length != events * np.dtype(dt).itemsize:
                self.fail(PREFIX.size, f"header: column {name!r} is {length} bytes, {events} "
                                       f"events of {dt} take {events * np.dtype(dt).itemsize}")
        if len(body) < end:
            self.fail(size, f"truncated: the columns need a body of {end} bytes at offsets "
                            f"{hend}..{hend + end}, the file has {len(body)} (data ends at "
                            f"offset {size})")
        if len(body) > end:
            self.fail(hend + end, f"{len(body) - end} unexpected bytes after the body "
                                  f"({end} bytes from offset {hend})")
        self.check_blocks(body, hend, header)
        cols = {}
        starts = []
        unpack = None
        if header["compression"] == "zlib":
            unpack = zlib.decompressobj
        elif header["compression"] == "zstd":
            try:
                zstd = _zstd()
            except TraceFormatError:
                self.fail(PREFIX.size, "the columns are compressed with zstd: reading them needs "
                                       "the 'zstandard' package (pip install zstandard)")
            unpack = lambda: zstd.ZstdDecompressor().decompressobj()   # noqa: E731
        for name, dt, offset, length in columns:
            dtype = np.dtype(dt)
            want = events * dtype.itemsize
            starts.append(hend + offset)
            if unpack is None:
                raw = body[offset:offset + length]
            else:
                raw = self.inflate(unpack(), body[offset:offset + length], want, name,
                                   hend + offset)
            col = np.frombuffer(raw, dtype=dtype, count=events)
            if not dtype.isnative:
                col = col.astype(dtype.newbyteorder("="))
            cols[name] = col
        if self.check_events:
            self.check_columns(cols, header, hend, starts)
        trace = Trace(cols["op"], cols["flags"], cols["a"], cols["b"], cols["c"],
                      cols["x"], cols["y"], cols["z"], header["registers"],
                      header["workload"], header["params"])
        # the header's sha256 is the writer's hash of these columns; the block checksums prove
        # the columns are the ones written (re-hashing 10⁸ events on every load would cost
        # seconds per worker)
        trace._cache["sha256"] = header["sha256"]
        return trace

    def inflate(self, dec, raw, want: int, name: str, start: int) -> bytes:
        """Decompress one column, never past the size the header implies (a zip bomb stops)."""
        try:
            out = dec.decompress(bytes(raw), want + 1) if want + 1 > 0 else b""
            if len(out) <= want and hasattr(dec, "unconsumed_tail") and dec.unconsumed_tail:
                out += dec.decompress(dec.unconsumed_tail, want + 1 - len(out))
        except Exception as e:        # zlib.error, zstd.ZstdError: both "corrupt stream"
            self.fail(start, f"column {name!r} does not decompress: {e}")
        if len(out) != want:
            more = "+" if len(out) > want else ""
            self.fail(start, f"column {name!r} decompresses to {len(out)}{more} bytes, {want} "
                             f"expected")
        return out

    def check_magic(self) -> None:
        head = bytes(self.data[:len(MAGIC)])
        if head == MAGIC:
            return
        if not head:
            self.fail(0, "empty file: the data ends at offset 0, a binary trace starts with "
                         f"{MAGIC!r}")
        if MAGIC.startswith(head):
            self.fail(len(head), f"truncated: the data ends at offset {len(head)}, inside the "
                                 f"magic number {MAGIC!r}")
        msg = f"not a memcompare binary trace: it starts with {head!r}, not {MAGIC!r}"
        if _looks_like_text(bytes(self.data[:4096])):
            msg += ("; it looks like the text form: give it a .mctrace.txt name so it is read as "
                    "text")
        self.fail(0, msg)

    def parse_header(self, hbytes: bytes, hstart: int) -> dict[str, Any]:
        try:
            header = json.loads(hbytes.decode("utf-8"))
        except UnicodeDecodeError as e:
            self.fail(hstart + e.start, f"header is not UTF-8: {e.reason}")
        except json.JSONDecodeError as e:
            # e.pos counts characters; for an ASCII header (ours) that is the byte offset too
            self.fail(hstart + e.pos, f"header is not valid JSON: {e.msg}")
        except (ValueError, RecursionError) as e:
            self.fail(hstart, f"header is not valid JSON: {e}")
        if not isinstance(header, dict):
            self.fail(hstart, f"header must be a JSON object, got {type(header).__name__}")
        missing = [k for k in HEADER_KEYS if k not in header]
        if missing:
            self.fail(hstart, f"header lacks key(s) {', '.join(missing)}")

        def count(key: str, lo: int, hi: int | None = None) -> int:
            v = header[key]
            if type(v) is not int or v < lo or (hi is not None and v > hi):
                limit = f">= {lo}" if hi is None else f"in {lo}..{hi}"
                self.fail(hstart, f"header key {key!r} must be an integer {limit}, got {v!r}")
            return v

        if type(header["version"]) is not int or header["version"] != self.version:
            self.fail(hstart, f"header version {header['version']!r} differs from the prefix's "
                              f"{self.version}")
        count("events", 0)
        count("objects", 0)
        count("registers", 0, MAX_REGISTER)
        count("block_size", 1)
        sha = header["sha256"]
        if not (isinstance(sha, str) and len(sha) == 64
                and all(ch in "0123456789abcdef" for ch in sha)):
            self.fail(hstart, f"header key 'sha256' must be 64 lower-case hex digits, got {sha!r}")
        if not (header["workload"] is None or isinstance(header["workload"], str)):
            self.fail(hstart, f"header key 'workload' must be a string or null, "
                              f"got {header['workload']!r}")
        if not isinstance(header["params"], dict):
            self.fail(hstart, f"header key 'params' must be an object, got {header['params']!r}")
        if self.version == 1 and header["columns"] != V1_COLUMNS:
            self.fail(hstart, f"header key 'columns' is {header['columns']!r}; format version "
                              f"1 has {V1_COLUMNS!r}")
        if self.version == 2:
            self.check_v2_header(header, hstart)
        crcs = header["block_crc32"]
        if not (isinstance(crcs, list)
                and all(type(v) is int and 0 <= v < 1 << 32 for v in crcs)):
            self.fail(hstart, "header key 'block_crc32' must be a list of unsigned 32-bit integers")
        return header

    def check_v2_header(self, header: dict[str, Any], hstart: int) -> None:
        if "compression" not in header:
            self.fail(hstart, "header lacks key(s) compression")
        if header["compression"] not in COMPRESSIONS:
            self.fail(hstart, f"header key 'compression' must be one of "
                              f"{', '.join(COMPRESSIONS)}, got {header['compression']!r}")
        columns = header["columns"]
        names = [name for name, _ in COLUMNS]
        if not (isinstance(columns, list) and len(columns) == len(names)):
            self.fail(hstart, f"header key 'columns' must list the {len(names)} columns "
                              f"{', '.join(names)} as [name, dtype, offset, length]")
        for k, entry in enumerate(columns):
            if not (isinstance(entry, list) and len(entry) == 4 and entry[0] == names[k]):
                self.fail(hstart, f"header key 'columns'[{k}] must be [{names[k]!r}, dtype, "
                                  f"offset, length], got {entry!r}")
            name, dt, offset, length = entry
            allowed = V2_DTYPES[name]
            if dt not in allowed:
                self.fail(hstart, f"header key 'columns'[{k}] ({name}): dtype {dt!r} is not one "
                                  f"of {', '.join(allowed)}")
            for what, v in (("offset", offset), ("length", length)):
                if type(v) is not int or v < 0:
                    self.fail(hstart, f"header key 'columns'[{k}] ({name}): {what} must be an "
                                      f"integer >= 0, got {v!r}")

    def check_columns(self, cols: dict[str, np.ndarray], header: dict[str, Any],
                      body_start: int, starts: list[int] | None = None) -> None:
        """What a model could index out of range with: numpy checks, no loop over events.

        The checksums prove the body is what a writer wrote, not that the writer was right; a
        file from another tool must not crash a model with an IndexError deep in a replay.
        """
        objects, registers = header["objects"], header["registers"]
        n = cols["op"].shape[0]
        step = CHECK_CHUNK

        def first_bad(lo: int, op: np.ndarray, mask: np.ndarray, what: str) -> None:
            """Fail at the first event where ``mask`` (over events lo..) is true."""
            bad = np.flatnonzero(mask)
            if bad.size:
                i = int(bad[0])
                # the offset of event i's op byte: its other fields sit at the same index of
                # each later column
                name = OP_NAMES[op[i]] if op[i] <= WORK else op[i]
                self.fail((body_start if starts is None else starts[0]) + lo + i,
                          f"event {lo + i} ({name}): {what}")

        # Chunks of events, so that the temporaries stay small beside a memory-mapped 10⁸-event
        # file. First pass: op codes and flags, and every alloc's slot count.
        nslots_parts = []
        for lo in range(0, n, step):
            op, flags = cols["op"][lo:lo + step], cols["flags"][lo:lo + step]
            first_bad(lo, op, op > WORK,
                      f"op code out of range (valid: 0..{WORK} = {', '.join(OP_NAMES)})")
            first_bad(lo, op, (flags & ~np.uint8(FLAG_LOCAL)) != 0,
                      f"unknown flags (only local = {FLAG_LOCAL})")
            first_bad(lo, op, (flags != 0) & (op != ALLOC),
                      "flags on an event that is not an alloc")
            nslots_parts.append(cols["c"][lo:lo + step][op == ALLOC])
        nalloc = sum(part.shape[0] for part in nslots_parts)
        if nalloc != objects:
            self.fail(body_start, f"header says {objects} objects, the body allocates {nalloc}")
        # slot counts by object id, plus a 0 at index -1: "no object" has no slot to name
        nslots = np.concatenate(nslots_parts + [np.zeros(1, dtype=np.int64)])
        del nslots_parts
        # by op code (every op is <= WORK by now): whether operand k names a register
        register_ops = [np.array([k in REGISTER_OPERANDS[o] for o in range(WORK + 1)])
                        for k in range(3)]
        seen = 0                                   # allocs before the chunk
        for lo in range(0, n, step):
            op = cols["op"][lo:lo + step]
            a, b, c = (cols[name][lo:lo + step] for name in ("a", "b", "c"))
            x, y, z = (cols[name][lo:lo + step] for name in ("x", "y", "z"))
            for name, col in (("x", x), ("y", y), ("z", z)):
                first_bad(lo, op, (col < -1) | (col >= objects),
                          f"derived object id {name} out of range (-1..{objects - 1})")
            is_alloc = op == ALLOC
            at = np.flatnonzero(is_alloc)
            wrong = x[at] != np.arange(seen, seen + at.size)
            if wrong.any():
                first_bad(lo, op, np.isin(np.arange(op.size), at[wrong]),
                          "derived id x of an alloc is not the next object id")
            seen += at.size
            for k, (name, col) in enumerate((("a", a), ("b", b), ("c", c))):
                uses = register_ops[k][op]
                if k == 2:
                    uses &= ~((op == STORE) & (col == NULL))
                first_bad(lo, op, uses & ((col < 0) | (col >= registers)),
                          f"register operand {name} out of range (0..{registers - 1})")
            first_bad(lo, op, is_alloc & ((b < 0) | (c < 0)), "negative alloc size or slot count")
            first_bad(lo, op, (op == WORK) & (a < 0), "negative work")
            first_bad(lo, op, (op == LOAD) & ((c < 0) | (c >= nslots[y])),
                      "load slot out of range for the object read from")
            first_bad(lo, op, (op == STORE) & ((b < 0) | (b >= nslots[x])),
                      "store slot out of range for the object written into")


def _looks_like_text(head: bytes) -> bool:
    """Whether bytes that are not a binary trace look like the text form (for the hint only)."""
    if b"\0" in head:
        return False
    text = head.decode("utf-8", errors="replace")
    for line in text.split("\n"):
        line = line.strip()
        if line:
            return line.startswith("#") or line.split()[0] in OP_CODES
    return False


# -- files ------------------------------------------------------------------------------------

def save(trace: Trace, path: str | os.PathLike, *, compress: str | None = None,
         version: int = FORMAT_VERSION) -> None:
    """Write ``trace`` to ``path``: the text form for ``.txt`` names, the binary format otherwise.

    ``compress`` (binary only): ``"zlib"`` or ``"zstd"`` compresses each column; the default
    writes them as they are, so that :func:`load` can memory-map the file. Written to a
    temporary file in the same directory and renamed into place, so a reader never sees half a
    trace and an interrupted save leaves any previous file intact.
    """
    path = Path(path)
    if is_text_path(path):
        if compress not in (None, "none"):
            raise ValueError(f"{path}: the text form is not compressed; --compress applies to "
                             f"binary trace files")
        parts = [to_text(trace).encode("utf-8")]
    else:
        parts = _encode(trace, version=version, compress=compress)
    atomic_write(path, parts)


def load(path: str | os.PathLike, *, check_events: bool = True) -> Trace:
    """Read a trace file: binary when it starts with the magic number, else text for ``.txt``.

    Binary files fail with :class:`TraceFormatError`; text files with :class:`TraceError`
    (syntax and validation) naming the line. An unreadable file is a TraceFormatError too.
    ``check_events``: see :func:`loads` (binary files only; a text file is always checked).
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(PREFIX.size)
            if head.startswith(MAGIC) and len(head) == PREFIX.size and \
                    PREFIX.unpack(head)[1] == 2 and os.fstat(f.fileno()).st_size > 0:
                # version 2: map the file; an uncompressed trace's columns are views of the map,
                # shared (page cache) by every process that loads the same file
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            else:
                data = head + f.read()
    except OSError as e:
        if e.errno == errno.ENOMEM:     # no address space left to map it: out of memory
            raise MemoryError(f"{source}: no memory to map the trace file") from None
        raise TraceFormatError(f"{source}: cannot read the trace file: "
                               f"{e.strerror or e}") from None
    if isinstance(data, mmap.mmap) or data.startswith(MAGIC) or not is_text_path(path):
        return loads(data, source, check_events=check_events)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise TraceError(f"not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start}); the "
                         f"text form is UTF-8", line=line, source=source) from None
    return parse_text(text, source=source)
