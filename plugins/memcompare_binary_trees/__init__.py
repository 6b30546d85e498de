"""binary-trees: GCBench's and the Benchmarks Game's allocate-walk-drop of perfect binary trees.

The program it stands for is the Computer Language Benchmarks Game's *binary-trees*
(https://benchmarksgame-team.pages.debian.net/benchmarksgame/description/binarytrees.html), "a
simplistic adaptation of Hans Boehm's GCBench, which in turn was adapted from a benchmark by John
Ellis and Pete Kovac" (https://www.hboehm.info/gc/gc_bench.html):

1. a *stretch* tree of depth ``max_depth + 1`` is built, checked and dropped;
2. a *long-lived* tree of depth ``max_depth`` is built and kept until the end;
3. for each depth ``d`` from ``min_depth`` to ``max_depth`` in steps of 2,
   ``2 ** (max_depth - d + min_depth)`` short-lived trees of depth ``d`` are built, checked and
   dropped, so every depth allocates about the same number of nodes;
4. the long-lived tree is checked and dropped.

Depth convention (the Benchmarks Game's and GCBench's ``TreeSize``): a tree of depth 0 is one
leaf, so a tree of depth ``d`` has ``2 ** (d + 1) - 1`` nodes. A node has ``payload`` bytes and
two pointer slots, 0 = left and 1 = right (null in leaves).

*Building* is top-down by default — allocate the node, then build its left subtree and store it,
then its right — like GCBench's ``Populate``; ``order = "bottom-up"`` builds both children first
and then their parent, like GCBench's ``MakeTree`` and the Benchmarks Game's ``bottomUpTree``.
The difference matters to generational collectors: top-down stores young children into an older
parent. *Checking* walks every node with LOADs (an explicit stack, left subtree first) and charges
``check_ns`` per node as one WORK. *Dropping* is the C++ program's ``delete``: each node's two
children are loaded into handles, then the node is freed, then its children (pre-order). A
destructor that deletes its children first would leave the children referenced by a live parent,
which the trace rules forbid outside one batch of FREEs; freeing the parent first needs no batch
and holds only a stack's worth of handles.

This module must not use the global ``random`` module: the workload is deterministic.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from memcompare import Handle, Recorder, Workload, hookimpl, param


def tree_nodes(depth: int) -> int:
    """Nodes in a perfect tree of ``depth`` (depth 0 = a single leaf)."""
    return 2 ** (depth + 1) - 1


@dataclass(frozen=True)
class Params:
    min_depth: int = param(4, "depth of the smallest short-lived trees (the Benchmarks Game's 4)",
                           minimum=0)
    max_depth: int = param(7, "depth of the long-lived tree; the stretch tree is one deeper "
                              "(the Benchmarks Game runs 21; 10 gives ~0.9M events)",
                           minimum=0, maximum=24)
    payload: int = param(8, "payload bytes per node besides its two pointer slots (GCBench's "
                            "int i, j)", minimum=0)
    order: Literal["top-down", "bottom-up"] = param(
        "top-down", "build parents before children (GCBench Populate) or children first "
                    "(GCBench MakeTree, Benchmarks Game bottomUpTree)")
    check_ns: int = param(2, "computation per node checked (the check's add and compare), ns",
                          minimum=0)

    def __post_init__(self):
        if self.max_depth < self.min_depth:
            raise ValueError(f"max_depth ({self.max_depth}) must be >= min_depth "
                             f"({self.min_depth})")


class BinaryTrees(Workload):
    """Benchmarks Game binary-trees / GCBench: many short-lived perfect trees, one long-lived."""

    name = "binary-trees"
    Params = Params

    def record(self, params: Params, t: Recorder, rng: random.Random) -> None:
        p = params
        stretch = self._build(t, p, p.max_depth + 1)
        self._check(t, p, stretch, p.max_depth + 1)
        self._free(t, stretch, p.max_depth + 1)

        long_lived = self._build(t, p, p.max_depth)

        for depth in range(p.min_depth, p.max_depth + 1, 2):
            # every short-lived tree of one depth records the same events (its own object ids
            # aside): record one and let the recorder copy it
            t.repeat(2 ** (p.max_depth - depth + p.min_depth),
                     lambda: self._short_lived(t, p, depth))

        self._check(t, p, long_lived, p.max_depth)
        self._free(t, long_lived, p.max_depth)

    def _short_lived(self, t: Recorder, p: Params, depth: int) -> None:
        tree = self._build(t, p, depth)
        self._check(t, p, tree, depth)
        self._free(t, tree, depth)

    # The recursion below is at most max_depth + 2 <= 26 frames deep.
    def _build(self, t: Recorder, p: Params, depth: int) -> Handle:
        if p.order == "top-down":
            node = t.alloc(p.payload, 2)
            if depth > 0:
                for slot in (0, 1):
                    child = self._build(t, p, depth - 1)
                    t.store(node, slot, child)
                    t.drop(child)
            return node
        if depth == 0:
            return t.alloc(p.payload, 2)
        left = self._build(t, p, depth - 1)
        right = self._build(t, p, depth - 1)
        node = t.alloc(p.payload, 2)
        t.store(node, 0, left)
        t.store(node, 1, right)
        t.drop(left)
        t.drop(right)
        return node

    @staticmethod
    def _check(t: Recorder, p: Params, root: Handle, depth: int) -> None:
        """Walk every node (LOADs only, the tree is unchanged); ``root`` stays held."""
        stack = [(t.copy(root), depth)]
        while stack:
            node, d = stack.pop()
            if d > 0:
                left = t.load(node, 0)
                right = t.load(node, 1)
                stack.append((right, d - 1))
                stack.append((left, d - 1))
            t.drop(node)
        if p.check_ns:
            t.work(p.check_ns * tree_nodes(depth))

    @staticmethod
    def _free(t: Recorder, root: Handle, depth: int) -> None:
        """Delete every node, parent before children (see the module docstring)."""
        stack = [(root, depth)]
        while stack:
            node, d = stack.pop()
            if d > 0:
                left = t.load(node, 0)
                right = t.load(node, 1)
                stack.append((right, d - 1))
                stack.append((left, d - 1))
            t.free(node)


@hookimpl
def register_workloads(register):
    register(BinaryTrees)
