"""The real runtimes as models: ``go-native``, ``jvm-native``, ``cpython-native``, ``cpp-native``.

Each replays the identical trace in the real runtime — a small interpreter per language whose
register array is the program's whole root set (docs/design.md §3) — and reports what it measured
under docs/design.md §4's metric names, so one run puts ``go`` beside ``go-native``. Replayers are
built on first use into a cache (``MEMCOMPARE_CACHE`` or ``~/.cache/memcompare``) and rebuilt
when their source changes; a missing toolchain ends the cell with status ``unavailable`` and a
message saying what to install. See docs/native.md.
"""
from __future__ import annotations

from memcompare import hookimpl

from .cpp_model import CppNative
from .cpython_model import CPythonNative
from .go_model import GoNative
from .jvm_model import JvmNative


@hookimpl
def register_models(register):
    for cls in (GoNative, JvmNative, CPythonNative, CppNative):
        register(cls)
