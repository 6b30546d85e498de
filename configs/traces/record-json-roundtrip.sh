#!/bin/sh
# Re-records json-roundtrip.mctrace.txt, the real-program trace of configs/allocators.toml:
# json_roundtrip.py run under memray (Python's allocator traced too), imported as a lifetime
# trace (docs/trace-import.md). Needs memray (pip install memray). A new capture differs from
# the committed one in the interpreter's own start-up allocations, so it has another sha256.
set -e
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
"$PYTHON" -m memray run -q -f --trace-python-allocators -o json-roundtrip.bin json_roundtrip.py
memcompare trace import --from memray json-roundtrip.bin -o json-roundtrip.mctrace.txt
rm -f json-roundtrip.bin
