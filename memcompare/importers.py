"""Trace import from other tools' formats, and the ``memcompare trace import`` subcommand.

GarCoSim's TraceFileSim (github.com/GarCoSim/TraceFileSim, written by GarCoSim/TraceFileGen):
docs/trace-import.md gives the line grammar with its sources and the mapping onto registers; the
short version is in :func:`import_tracefilesim`. The allocation profilers memray and heaptrack
give lifetime traces (:mod:`memcompare.profilers`).

This module turns foreign text into a :class:`memcompare.trace.Trace` (validated by ``build``);
it must not know about models or engines. The reachability oracle lives in
:mod:`memcompare.oracle`.
"""
from __future__ import annotations

import heapq
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from .errors import EXIT_OK, ConfigError, TraceError
from .trace import ALLOC, CLEAR, MAX_SLOTS, MOVE, NULL, SLOT_BYTES, STORE, Trace, build

__all__ = ["FORMATS", "PROFILERS", "ORACLES", "import_trace", "import_tracefilesim", "apply_oracle",
           "add_import_parser", "add_oracle_option", "run_import"]

#: TraceFileSim line types this importer maps to events (the others are skipped, see below)
_MAPPED = "a+-wc"
#: line types that carry no reference change: reads ('r'), primitive stores ('s'), lock
#: operations ('x'); '%' starts a header/comment line (GarCoSim/TraceFileSim Main/Simulator.cpp,
#: Simulator::doNextStep and getNextLine)
_SKIPPED = "rsx%"


class _Line:
    __slots__ = ("kind", "lineno", "attrs")

    def __init__(self, kind: str, lineno: int, attrs: dict[str, int]):
        self.kind = kind
        self.lineno = lineno
        self.attrs = attrs


def _read(text_or_path: str | os.PathLike, source: str | None) -> tuple[str, str | None]:
    """(text, source): a PathLike, or a str naming an existing file without a newline, is read."""
    path = None
    if isinstance(text_or_path, os.PathLike):
        path = Path(text_or_path)
    elif isinstance(text_or_path, str) and "\n" not in text_or_path and text_or_path.strip() \
            and os.path.isfile(text_or_path):
        path = Path(text_or_path)
    if path is None:
        return str(text_or_path), source
    source = source or os.fspath(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TraceError(f"cannot read the TraceFileSim file: {e.strerror or e}",
                         source=source) from None
    try:
        return data.decode("utf-8-sig"), source
    except UnicodeDecodeError as e:
        raise TraceError(f"not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start})",
                         line=data[:e.start].count(b"\n") + 1, source=source) from None


def _parse(text: str, source: str | None) -> list[_Line]:
    """The lines that change references, with their attributes; a TraceError names file:line."""
    out: list[_Line] = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        kind = line[0]
        if kind in _SKIPPED:
            continue

        def fail(msg: str, lineno=lineno) -> NoReturn:
            raise TraceError(msg, line=lineno, source=source)

        if kind not in _MAPPED:
            fail(f"unknown TraceFileSim line type {kind!r} (valid: a allocate, + add root, "
                 f"- remove root, w store a pointer, c store a pointer into a static field; "
                 f"r, s, x and % lines are skipped)")
        tokens = line[1:].split()
        if line[1:2] not in ("", " ", "\t"):
            fail(f"expected a space after the line type {kind!r}, got {line[:12]!r}")
        attrs: dict[str, int] = {}
        for tok in tokens:
            key, val = tok[0], tok[1:]
            digits = val[1:] if val.startswith("-") else val
            if not (digits.isascii() and digits.isdigit()):
                fail(f"attribute {tok!r} must be a letter (or '#') followed by a decimal "
                     f"integer, e.g. O12 or #0")
            if key in attrs:
                fail(f"attribute {key} given twice")
            attrs[key] = int(val)
        out.append(_Line(kind, lineno, attrs))
    return out


def import_tracefilesim(text_or_path: str | os.PathLike, source: str | None = None, *,
                        header_bytes: int = 0) -> Trace:
    """A TraceFileSim trace (text, or a path) as a validated register trace without frees.

    - ``a T<t> O<o> S<size> N<n> [C<class>]`` allocates ``o`` with ``n`` slots into a fresh
      register: that register is thread ``t``'s root for ``o``. Payload bytes are
      ``max(0, S - 8 n - header_bytes)``: S counts the pointer fields (TraceFileGen ObjectClasses/
      Object.cpp: 16-byte header + primitive fields + 8 per pointer field).
    - ``+ T<t> O<o>`` makes ``o`` a root of ``t`` (a ``move`` into a fresh register; nothing
      when ``o`` already is one: a root set is a set, and the ``+`` that follows each ``a``
      repeats the allocation's own root); ``- T<t> O<o>`` drops that root (a ``clear``).
    - ``w T<t> P<p> #<k> O<c>`` is ``p.k = c`` (a ``store``; ``O0`` stores null).
    - ``c T<t> C<class> F<field> O<o>`` stores into a static field, a root of its own: one
      register per (class, field), written with ``move`` (``O0``: ``clear``).
    - ``r``, ``s``, ``x`` and ``%`` lines are skipped.

    **The register rule**: an object stays in some register from its allocation until the last
    line that names it (``a``, ``+``, ``-``, ``w`` as P or O, ``c``), even after its last root is
    removed: the register that held the root is then kept, unnamed, and cleared right after that
    last line. An object a line names is reachable then, and reachability never returns, so it
    was reachable all along: the extra holds change no object's reachability at any line.
    """
    text, source = _read(text_or_path, source)
    if header_bytes < 0:
        raise ConfigError(f"header_bytes must be >= 0, got {header_bytes}")
    lines = _parse(text, source)

    def fail(ln: _Line, msg: str) -> NoReturn:
        raise TraceError(msg, line=ln.lineno, source=source)

    def need(ln: _Line, *keys: str) -> list[int]:
        missing = [k for k in keys if k not in ln.attrs]
        if missing:
            usage = {"a": "a T<thread> O<id> S<size> N<slots>", "+": "+ T<thread> O<id>",
                     "-": "- T<thread> O<id>", "w": "w T<thread> P<parent> #<slot> O<child>",
                     "c": "c T<thread> C<class> F<field> O<object>"}[ln.kind]
            fail(ln, f"'{ln.kind}' line lacks {', '.join(missing)} (expected: {usage})")
        return [ln.attrs[k] for k in keys]

    # pass 1: object ids, sizes, and the last line (index into `lines`) naming each object
    oid: dict[int, int] = {}          # TraceFileSim id -> memcompare object id
    nslots: list[int] = []
    last: list[int] = []
    for k, ln in enumerate(lines):
        if ln.kind == "a":
            t, o, size, n = need(ln, "T", "O", "S", "N")
            if "P" in ln.attrs or "#" in ln.attrs:
                fail(ln, "allocation into a parent's slot ('a ... P #') is not supported: "
                         "write 'a T O S N', '+ T O', then 'w T P # O' (TraceFileSim itself "
                         "allocates every object into the thread's root set)")
            if o <= 0:
                fail(ln, f"object id must be >= 1 (O0 is null), got O{o}")
            if o in oid:
                fail(ln, f"object O{o} is allocated twice")
            if size < 0:
                fail(ln, f"size S must be >= 0, got S{size}")
            if not 0 <= n <= MAX_SLOTS:
                fail(ln, f"pointer slot count N must be in 0..{MAX_SLOTS}, got N{n}")
            oid[o] = len(nslots)
            nslots.append(n)
            last.append(k)
            continue
        if ln.kind == "w":
            p, slot, c = need(ln, "P", "#", "O")
            names = [(p, "parent P"), (c, "child O")] if c else [(p, "parent P")]
        elif ln.kind == "c":
            need(ln, "C", "O")
            if "F" not in ln.attrs and "I" not in ln.attrs:
                fail(ln, "'c' line lacks the static field (F<offset> or I<index>)")
            c = ln.attrs["O"]
            names = [(c, "object O")] if c else []
        else:
            t, o = need(ln, "T", "O")
            names = [(o, "object O")]
        for ident, what in names:
            obj = oid.get(ident)
            if obj is None:
                fail(ln, f"{what}{ident} was never allocated (no 'a ... O{ident}' line before "
                         f"line {ln.lineno})")
            last[obj] = k
        if ln.kind == "w":
            parent = oid[p]
            if not 0 <= slot < nslots[parent]:
                fail(ln, f"slot #{slot} out of range for object O{p} with N{nslots[parent]} "
                         f"pointer slot(s)")

    # pass 2: registers and events
    ops: list[int] = []
    ea: list[int] = []
    eb: list[int] = []
    ec: list[int] = []
    elines: list[int] = []
    free_regs: list[int] = []
    next_reg = 0
    holders: list[dict[int, Any]] = [dict() for _ in nslots]   # register -> tag, per object
    roots: dict[tuple[int, int], int] = {}                       # (thread, object) -> register
    statics: dict[tuple[int, str, int], tuple[int, int]] = {}    # field -> (register, object)
    UNNAMED = None                    # tag of a register kept only for a later mention

    def emit(op: int, a: int, b: int = 0, c: int = 0) -> None:
        ops.append(op)
        ea.append(a)
        eb.append(b)
        ec.append(c)
        elines.append(lineno)

    def take() -> int:
        nonlocal next_reg
        if free_regs:
            return heapq.heappop(free_regs)
        next_reg += 1
        return next_reg - 1

    def release(obj: int, r: int, k: int) -> None:
        """Drop register ``r``'s hold on ``obj``: clear it, or keep it unnamed (register rule)."""
        del holders[obj][r]
        if not holders[obj] and last[obj] > k:
            holders[obj][r] = UNNAMED
        else:
            emit(CLEAR, r)
            heapq.heappush(free_regs, r)

    def any_reg(obj: int) -> int:
        return next(iter(holders[obj]))

    def settle(obj: int, k: int) -> None:
        """After line k, the last one naming ``obj``: clear its unnamed register, if any."""
        if last[obj] == k:
            for r, tag in list(holders[obj].items()):
                if tag is UNNAMED:
                    del holders[obj][r]
                    emit(CLEAR, r)
                    heapq.heappush(free_regs, r)

    sizes: list[int] = []
    for k, ln in enumerate(lines):
        lineno = ln.lineno
        at = ln.attrs
        if ln.kind == "a":
            obj = oid[at["O"]]
            r = take()
            sizes.append(max(0, at["S"] - SLOT_BYTES * at["N"] - header_bytes))
            emit(ALLOC, r, sizes[-1], at["N"])
            holders[obj][r] = ("root", at["T"])
            roots[(at["T"], obj)] = r
            settle(obj, k)
        elif ln.kind == "+":
            obj = oid[at["O"]]
            key = (at["T"], obj)
            if key not in roots:
                unnamed = [r for r, tag in holders[obj].items() if tag is UNNAMED]
                if unnamed:                    # the kept register becomes the root again
                    r = unnamed[0]
                else:
                    r = take()
                    emit(MOVE, r, any_reg(obj))
                holders[obj][r] = ("root", at["T"])
                roots[key] = r
            settle(obj, k)
        elif ln.kind == "-":
            obj = oid[at["O"]]
            r = roots.pop((at["T"], obj), None)
            if r is None:
                fail(ln, f"object O{at['O']} is not a root of thread T{at['T']} (no '+' or "
                         f"'a' for it on that thread since its last '-')")
            release(obj, r, k)
            settle(obj, k)
        elif ln.kind == "w":
            parent = oid[at["P"]]
            child = oid[at["O"]] if at["O"] else -1
            emit(STORE, any_reg(parent), at["#"], any_reg(child) if child >= 0 else NULL)
            settle(parent, k)
            if child >= 0:
                settle(child, k)
        else:                                  # 'c': a static field is a root of its own
            field = (at["C"], "F", at["F"]) if "F" in at else (at["C"], "I", at["I"])
            obj = oid[at["O"]] if at["O"] else -1
            old = statics.pop(field, None)
            if obj >= 0 and old is not None and old[1] == obj:
                statics[field] = old           # the field already refers to it
            elif obj >= 0:
                src = any_reg(obj)
                if old is not None and len(holders[old[1]]) == 1 and last[old[1]] > k:
                    # the old value's only register must stay (register rule): use a new one
                    holders[old[1]][old[0]] = UNNAMED
                    r = take()
                elif old is not None:
                    del holders[old[1]][old[0]]
                    r = old[0]
                else:
                    r = take()
                emit(MOVE, r, src)
                holders[obj][r] = ("static", field)
                statics[field] = (r, obj)
            elif old is not None:
                release(old[1], old[0], k)
            if obj >= 0:
                settle(obj, k)
    name = Path(source).name if source else None
    params = {"format": "tracefilesim"}
    if name:
        params["file"] = name
    if header_bytes:
        params["header_bytes"] = header_bytes
    return build(ops, ea, eb, ec, workload="tracefilesim", params=params, lines=elines,
                 source=source)


def _memray(path, source=None):
    from .profilers import import_memray
    return import_memray(path, source)


def _heaptrack(path, source=None):
    from .profilers import import_heaptrack
    return import_heaptrack(path, source)


#: importers by the name ``--from`` takes
FORMATS = {"tracefilesim": import_tracefilesim, "memray": _memray, "heaptrack": _heaptrack}
#: the formats whose files are profiler captures of a real program (lifetime traces)
PROFILERS = ("memray", "heaptrack")
#: oracles by the name ``--oracle`` takes
ORACLES = ("reachability",)


def import_trace(fmt: str, text_or_path, source: str | None = None, **options) -> Trace:
    """Import with the named format's importer (see :data:`FORMATS`)."""
    try:
        importer = FORMATS[fmt]
    except KeyError:
        raise ConfigError(f"unknown trace format {fmt!r} (valid: {', '.join(FORMATS)})") from None
    return importer(text_or_path, source, **options)


def apply_oracle(trace: Trace, oracle: str | None) -> Trace:
    """``trace`` with the named oracle's FREEs inserted; unchanged for ``None``."""
    if oracle is None:
        return trace
    if oracle != "reachability":
        raise ConfigError(f"unknown oracle {oracle!r} (valid: {', '.join(ORACLES)})")
    from .oracle import insert_frees
    return insert_frees(trace)


# -- command line -----------------------------------------------------------------------------

def add_oracle_option(parser) -> None:
    """``--oracle reachability``, for ``trace record`` and ``trace import``."""
    parser.add_argument("--oracle", choices=ORACLES, default=None,
                        help="insert a FREE of each object right after the event that makes "
                             "it unreachable (Hertz & Berger's reachability oracle, computed "
                             "with Merlin), so the manual model can replay a trace that never "
                             "frees; the trace's own FREEs become CLEARs")


def add_import_parser(trace_sub) -> None:
    """The ``memcompare trace import`` subcommand, on the ``trace`` subparsers."""
    imp = trace_sub.add_parser(
        "import", help="convert another tool's trace file into a memcompare trace",
        description="Read FILE in another tool's trace format and write it as a memcompare "
                    "trace to OUT (text form when OUT ends in .txt, binary otherwise). See "
                    "docs/trace-import.md for the mapping.")
    imp.add_argument("file", metavar="FILE", help="the trace to import")
    imp.add_argument("--from", dest="from_format", required=True, choices=sorted(FORMATS),
                     help="the format of FILE (tracefilesim: GarCoSim's TraceFileSim; memray: "
                          "a `memray run` capture; heaptrack: a heaptrack data file)")
    imp.add_argument("-o", "--output", required=True, metavar="OUT", help="where to write")
    imp.add_argument("--header-bytes", type=int, default=0, metavar="N",
                     help="bytes of each object's S that are the producer's own header, "
                          "subtracted from the payload (default: 0; tracefilesim only)")
    add_oracle_option(imp)


def run_import(args) -> int:
    """Run ``memcompare trace import``; errors propagate as MemcompareError (exit 2)."""
    from .traceio import save
    if args.header_bytes < 0:
        raise ConfigError(f"--header-bytes: must be >= 0, got {args.header_bytes}")
    path = Path(args.file)
    if not path.is_file():
        raise ConfigError(f"{args.file}: no such file")
    options = {}
    if args.from_format == "tracefilesim":
        options["header_bytes"] = args.header_bytes
    elif args.header_bytes:
        raise ConfigError(f"--header-bytes applies to --from tracefilesim only: a "
                          f"{args.from_format} capture's sizes are the program's requests")
    trace = import_trace(args.from_format, path, os.fspath(path), **options)
    if args.from_format in PROFILERS:
        from .profilers import records
        for line in records(trace):
            print(f"{args.file}: {line}", file=sys.stderr)
    trace = apply_oracle(trace, args.oracle)
    save(trace, args.output)
    frees = trace.counts()["free"]
    print(f"{args.output}: {trace.events} events, {trace.objects} objects, {frees} frees, "
          f"sha256 {trace.sha256}", file=sys.stderr)
    return EXIT_OK
