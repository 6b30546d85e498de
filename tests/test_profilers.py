"""Lifetime traces from real programs: memray and heaptrack captures made in the test itself
(docs/trace-import.md §4).

Each capture is imported through the command line and checked against the profiler's own
report of the same capture (memray's ``stats``, heaptrack's ``heaptrack_print``), then replayed
under every simulated model: objects the program freed are never leaked, objects it kept stay
reachable.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memcompare
from memcompare import cli
from memcompare.errors import TraceError
from memcompare.plugins import plugins
from memcompare.profilers import Lifetimes, import_heaptrack
from memcompare.trace import ALLOC, FREE, WORK


def simulated_models():
    return [name for name, e in plugins().models().items() if not getattr(e.cls, "measured", False)]


def tiny_pins(trace) -> int:
    """Bytes Go's tiny allocator may keep of freed blocks: pointer-free objects under 16 bytes
    share 16-byte blocks, and a block is freed only when all its objects are (Go
    runtime/malloc.go, "Tiny allocator"); each block never freed can pin at most 16 bytes."""
    unfreed = trace.obj_free_at < 0
    return 16 * int(np.count_nonzero(unfreed & (trace.obj_bytes < 16)))


def replay_everywhere(trace):
    """Every simulated model replays the lifetime trace; none leaks what the program freed
    (Go only what its tiny blocks pin)."""
    for name in simulated_models():
        r = memcompare.replay(trace, name)
        assert r.status == "ok", (name, r.error)
        cls = plugins().models()[name].cls
        if name == "go":
            assert r.metrics["leaked_bytes"] <= tiny_pins(trace)
        elif getattr(cls, "reclaims", True):
            assert r.metrics["leaked_bytes"] == 0, name
        assert r.metrics["live_peak_bytes"] == trace.live_peak_bytes


# -- the lifetime builder, by hand ---------------------------------------------------------------

def test_lifetimes_hold_each_block_in_a_register_from_alloc_to_free():
    life = Lifetimes("hand")
    life.alloc(0x10, 40, "r0")
    life.alloc(0x20, 8, "r1")
    life.free(0x10)
    life.work(500)
    life.alloc(0x30, 16, "r3")        # reuses the register the freed block had
    assert not life.free(0x99)        # never allocated in the capture: ignored, counted
    t = life.build("hand", {})
    assert t.op.tolist() == [ALLOC, ALLOC, FREE, WORK, ALLOC]
    assert t.a.tolist() == [0, 1, 0, 500, 0]
    assert t.b.tolist() == [40, 8, 0, 0, 16]
    assert t.params["unfreed_objects"] == 2 and t.params["unfreed_bytes"] == 24
    assert t.params["ignored_frees"] == 1
    assert t.live_peak_bytes == 48     # 40 + 8 before the free
    replay_everywhere(t)


def test_an_address_reused_without_a_free_keeps_the_old_block_live():
    life = Lifetimes("hand")
    life.alloc(0x10, 40, "r0")
    life.alloc(0x10, 8, "r1")
    life.free(0x10)                    # frees the 8-byte block, the newer one at 0x10
    t = life.build("hand", {})
    assert t.params["unfreed_bytes"] == 40
    assert t.a.tolist() == [0, 1, 1]


# -- memray ------------------------------------------------------------------------------------

SCRIPT = """\
import mmap
def build(n):
    return {i: [j for j in range(i % 40)] for i in range(n)}
for _ in range(3):
    d = build(1000)
    del d
m = mmap.mmap(-1, 3 * 4096)
m.close()
keep = build(50)
"""


def memray_capture(tmp_path):
    pytest.importorskip("memray", reason="memray is not installed (pip install memray)")
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    cap = tmp_path / "prog.bin"
    r = subprocess.run([sys.executable, "-m", "memray", "run", "-q", "-f",
                        "--trace-python-allocators", "-o", str(cap), str(script)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return cap


def test_memray_capture_imports_with_the_counts_memray_reports(tmp_path, capsys):
    import memray
    cap = memray_capture(tmp_path)
    stats_file = tmp_path / "stats.json"
    r = subprocess.run([sys.executable, "-m", "memray", "stats", "--json", "-f", "-o",
                        str(stats_file), str(cap)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    stats = json.loads(stats_file.read_text())
    out = tmp_path / "prog.mctrace"
    assert cli.main(["trace", "import", "--from", "memray", str(cap), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    t = memcompare.load_trace(out)
    # the allocation count and bytes memray's own `stats` computes from the capture
    assert t.objects == stats["total_num_allocations"]
    assert int(t.obj_size.sum()) == stats["total_bytes_allocated"]
    assert f"{stats['total_num_allocations']} allocations" in err
    # memray's high-water mark of the live heap is the trace's live peak
    with memray.FileReader(str(cap)) as reader:
        assert t.live_peak_bytes == reader.metadata.peak_memory
    # a lifetime trace: no slots, and the never-freed blocks are counted and reported
    assert int(t.obj_nslots.sum()) == 0
    assert t.counts()["free"] == t.objects - t.params["unfreed_objects"]
    assert "never freed" in err
    # the 12 KiB anonymous mapping is an object, freed by its munmap
    assert 3 * 4096 in t.obj_size.tolist()
    replay_everywhere(t)


def test_memray_rejects_a_file_that_is_not_a_capture(tmp_path, capsys):
    pytest.importorskip("memray", reason="memray is not installed (pip install memray)")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a capture at all")
    assert cli.main(["trace", "import", "--from", "memray", str(bad), "-o",
                     str(tmp_path / "x.mctrace")]) == 2
    err = capsys.readouterr().err
    assert "bad.bin" in err and "Traceback" not in err


# -- heaptrack ---------------------------------------------------------------------------------

PROGRAM = r"""
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    void *keep = malloc(1000);
    for (int round = 0; round < 3; ++round) {
        void *p[50];
        for (int i = 0; i < 50; ++i) { p[i] = malloc(16 + i * 8); memset(p[i], 1, 16 + i * 8); }
        p[0] = realloc(p[0], 4000);
        usleep(30000);
        for (int i = 0; i < 50; ++i) free(p[i]);
    }
    memset(keep, 0, 1000);
    return 0;
}
"""
#: the program's own requests, in order, per round: 50 mallocs, then the realloc
ROUND = [16 + i * 8 for i in range(50)] + [4000]


def heaptrack_captures(tmp_path):
    for tool in ("heaptrack", "heaptrack_print", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install heaptrack gcc)")
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "prog"
    subprocess.run(["gcc", "-O0", str(src), "-o", str(exe)], check=True)
    caps = {}
    for form, flags in (("interpreted", []), ("raw", ["-r"])):
        out = tmp_path / f"ht-{form}"
        r = subprocess.run(["heaptrack", *flags, "-o", str(out), str(exe)],
                           capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        [caps[form]] = [p for p in tmp_path.iterdir() if p.name.startswith(out.name + ".")]
    return caps


def test_heaptrack_captures_import_with_the_counts_heaptrack_reports(tmp_path, capsys):
    caps = heaptrack_captures(tmp_path)
    hist = tmp_path / "hist.txt"
    printed = subprocess.run(["heaptrack_print", "-H", str(hist), str(caps["interpreted"])],
                             capture_output=True, text=True, check=True).stdout
    calls = int(re.search(r"calls to allocation functions: (\d+)", printed).group(1))
    rows = [tuple(map(int, line.split())) for line in hist.read_text().splitlines() if line]
    total = sum(size * count for size, count in rows)
    traces = {}
    for form, cap in caps.items():
        out = tmp_path / f"{form}.mctrace"
        assert cli.main(["trace", "import", "--from", "heaptrack", str(cap), "-o", str(out)]) == 0
        traces[form] = t = memcompare.load_trace(out)
        assert t.params["form"] == form
    err = capsys.readouterr().err
    for form, t in traces.items():
        # interpreted and raw captures of the same run count what heaptrack_print counts (the
        # raw one is a separate run of the same deterministic program)
        assert t.objects == calls, form
        assert int(t.obj_size.sum()) == total, form
        sizes = t.obj_size.tolist()
        start = sizes.index(1000)                      # the block the program keeps
        assert sizes[start + 1:start + 1 + 3 * len(ROUND)] == ROUND * 3, form
        assert t.params["unfreed_bytes"] >= 1000
        # heaptrack's timer writes the elapsed time every 10 ms: 3 sleeps of 30 ms at least
        work = int(t.a[t.op == WORK].sum())
        assert work >= 90_000_000, form
        replay_everywhere(t)
    assert "never freed" in err
    # exact lifetimes from the raw form: every block of a round is freed before the next round
    t = traces["raw"]
    alloc_at, free_at = t.obj_alloc_at, t.obj_free_at
    first = t.obj_size.tolist().index(1000) + 1
    for rnd in range(3):
        ids = np.arange(first + rnd * 51, first + (rnd + 1) * 51)
        assert (free_at[ids] >= 0).all()
        if rnd < 2:
            assert free_at[ids].max() < alloc_at[ids[-1] + 1]
    # the live peak of both forms is the same: equal blocks swapped change no byte count
    assert traces["raw"].live_peak_bytes == traces["interpreted"].live_peak_bytes


@pytest.mark.parametrize("text, line, message", [
    ("v 10400 3\n+ 10\n", 2, "only 0 'a' lines"),
    ("v 10400 3\na 10 1\n+ zz\n", 3, "hexadecimal"),
    ("v 10400 3\nq what\n", 2, "unknown heaptrack line"),
])
def test_heaptrack_errors_name_the_file_and_line(tmp_path, text, line, message):
    f = tmp_path / "cap.txt"
    f.write_text(text)
    with pytest.raises(TraceError) as e:
        import_heaptrack(f)
    assert f"cap.txt:{line}" in str(e.value) and message in str(e.value)


def test_interpreted_heaptrack_frees_the_newest_equal_block():
    """``- K`` names only the allocation info: of two live blocks with info 0, the newer goes."""
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "cap"
        f.write_text("v 10400 3\na 20 1\na 8 1\n+ 0\n+ 1\n+ 0\n- 0\nc a\n- 0\n- 1\n")
        t = import_heaptrack(f)
    assert t.op.tolist() == [ALLOC, ALLOC, ALLOC, FREE, WORK, FREE, FREE]
    assert t.a.tolist() == [0, 1, 2, 2, 10_000_000, 0, 1]
    assert t.b.tolist()[:3] == [0x20, 8, 0x20]


# -- property: any heaptrack stream imports with the live bytes a brute force counts ------------

@st.composite
def heaptrack_streams(draw):
    """A raw heaptrack stream: allocations at addresses (reused after their free), frees of live
    and of unknown addresses, time lines."""
    lines, live, peak, now, ms = ["v 10400 3"], {}, 0, 0, 0
    for _ in range(draw(st.integers(0, 60))):
        kind = draw(st.sampled_from("++--c"))
        if kind == "+":
            addr = draw(st.integers(1, 12)) * 0x10
            if addr in live:
                continue
            size = draw(st.integers(0, 5000))
            live[addr] = size
            now += size
            peak = max(peak, now)
            lines.append(f"+ {size:x} 1 {addr:x}")
        elif kind == "-":
            addr = draw(st.integers(1, 12)) * 0x10
            now -= live.pop(addr, 0)
            lines.append(f"- {addr:x}")
        else:
            ms += draw(st.integers(0, 30))
            lines.append(f"c {ms:x}")
    return "\n".join(lines) + "\n", sum(live.values()), len(live), peak, ms


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=heaptrack_streams())
def test_any_raw_heaptrack_stream_keeps_the_live_bytes(tmp_path, stream):
    text, unfreed_bytes, unfreed, peak, ms = stream
    f = tmp_path / "cap.raw"
    f.write_text(text)
    t = import_heaptrack(f)
    assert t.params["unfreed_bytes"] == unfreed_bytes
    assert t.params["unfreed_objects"] == unfreed
    assert t.live_peak_bytes == peak
    assert int(t.a[t.op == WORK].sum()) == ms * 1_000_000


def test_header_bytes_is_refused_for_a_profiler_capture(tmp_path, capsys):
    f = tmp_path / "cap"
    f.write_text("v 10400 3\n+ 10 1 a0\n")
    assert cli.main(["trace", "import", "--from", "heaptrack", str(f), "-o",
                     str(tmp_path / "x.mctrace"), "--header-bytes", "16"]) == 2
    assert "--header-bytes applies to --from tracefilesim only" in capsys.readouterr().err
    assert cli.main(["trace", "import", "--from", "heaptrack", str(f), "-o",
                     str(tmp_path / "x.mctrace")]) == 0
    assert "1 block(s) never freed by the end of the capture (16 bytes)" in \
        capsys.readouterr().err
