"""What a reference-count update costs on this machine: builds bench_refcount.cpp with g++ -O2
and prints its figures (ns per operation, best of 5 × 10^8) as a table, repeated ``--runs``
times so the spread shows (other processes on a shared machine move them).

These are the measurements behind the ``cpp`` model's shared_ptr costs (atomic_inc_ns,
atomic_dec_ns, plain_inc_ns; plugins/memcompare_cpp/costs.py). It asserts nothing. On stderr:
glibc's ``__libc_single_threaded`` before and after the benchmark starts a thread (1, then 0:
libstdc++ counts with plain instructions until a thread exists).

    python benchmarks/bench_refcount.py [--runs 3]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    gxx = shutil.which("g++")
    if gxx is None:
        print("bench_refcount: needs g++ (apt-get install g++)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "bench_refcount"
        subprocess.run([gxx, "-O2", "-std=c++17", "-pthread", str(HERE / "bench_refcount.cpp"),
                        "-o", str(exe)], check=True)
        runs = []
        for _ in range(args.runs):
            out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
            runs.append(dict((k, float(v)) for k, v in (line.split() for line in out.splitlines())))
    flags = [n for n in runs[0] if n.startswith("libc_")]
    for n in flags:
        print(f"{n}: {sorted({int(r[n]) for r in runs})}", file=sys.stderr)
    names = [n for n in runs[0] if n not in flags]
    rows = [[n] + [f"{r[n]:.2f}" for r in runs] + [f"{min(r[n] for r in runs):.2f}–"
                                                    f"{max(r[n] for r in runs):.2f}"]
            for n in names]
    print(tabulate(rows, headers=["ns per op"] + [f"run {k + 1}" for k in range(len(runs))]
                   + ["range"], tablefmt="github", disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
