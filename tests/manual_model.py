"""The small test models' common part: reclaim each object exactly at its FREE and hold nothing
at the end, as a manual allocator without costs does. A test model subclasses it and does what
it is about (count its runs, crash, pause) before calling ``reclaim``."""
from __future__ import annotations

import numpy as np

from memcompare import Model, hookimpl

FREE = 5


class ReclaimsAtFree(Model):
    """Not registered itself: a base for test models (each sets ``name``)."""

    def run(self, trace, out):
        self.reclaim(trace, out)

    @staticmethod
    def reclaim(trace, out) -> None:
        frees = np.flatnonzero(trace.op == FREE)
        out.reclaimed_ids, out.reclaimed_at = trace.x[frees], frees

    def held(self):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)


def plugin_of(*models):
    """A plugin object that registers ``models``."""
    class _Plugin:
        @hookimpl
        def register_models(self, register):
            for m in models:
                register(m)
    return _Plugin()
