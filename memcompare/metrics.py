"""The metric arithmetic of docs/design.md §4, shared by every model: percentiles, MMU, footprint.

Pure functions of numpy arrays. Sums of floats use ``math.fsum`` or sequential ``cumsum`` so
that the same inputs give the same bits on every machine (numpy's pairwise ``sum`` may group
differently across builds).
"""
from __future__ import annotations

import math
from itertools import chain

import numpy as np

#: MMU window widths in seconds, as the results keys spell them (docs/design.md §4)
MMU_WINDOWS = ("0.001", "0.01", "0.1")
#: the MMU curve each timeline carries for plots: 0.1 ms to 1 s, one point per decade (each
#: width costs two passes over the stall intervals: ~10^5 of them for cpp and cpython)
MMU_CURVE_WINDOWS = ("0.0001", "0.001", "0.01", "0.1", "1")


def percentile(values: np.ndarray, q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, Hyndman & Fan type 7).

    An empty distribution gives 0.0: no pause is a pause of length zero for every percentile.
    """
    if values.size == 0:
        return 0.0
    return float(np.percentile(values, q))


def stall_intervals(stall: np.ndarray, progress: np.ndarray, t_start: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-event stall segments into maximal intervals without mutator progress.

    The timeline is ``stall[0], progress[0], stall[1], progress[1], ...`` and event ``i`` starts
    at ``t_start[i]``; consecutive stall segments with no progress between them are one
    interval. Returns (start times, durations) in ns, for intervals of positive length.
    """
    has = np.flatnonzero(stall > 0)
    return merge_stalls(has, stall[has], progress, t_start[has])


def merge_stalls(has: np.ndarray, stall: np.ndarray, progress: np.ndarray, start: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`stall_intervals` from the events with a positive stall (``has``, in order), their
    stalls and start times, and every event's progress."""
    if has.size == 0:
        return np.zeros(0), np.zeros(0)
    moving = progress > 0
    if has.size > 1 and not moving.all():
        # stalls at events j < k (consecutive in `has`) are one interval when none of events
        # j .. k-1 made progress
        newgroup = np.empty(has.size, dtype=bool)
        newgroup[0] = True
        newgroup[1:] = np.logical_or.reduceat(moving, has)[:-1]
        if not newgroup.all():
            firsts = np.flatnonzero(newgroup)
            return start[firsts], np.add.reduceat(stall, firsts)   # sums in order: deterministic
    # every stall its own interval (progress between each two): the sum of one stall is itself
    return start, stall


def mmu(starts: np.ndarray, durations: np.ndarray, total: float,
        windows_s: tuple[str, ...] = MMU_WINDOWS) -> dict[str, float]:
    """Minimum mutator utilisation for each window width, keyed as given (Cheng & Blelloch).

    The stalled time in a window is ``S(t + w) - S(t)`` with ``S`` the cumulative stall up to
    ``t``, a piecewise-linear function; its maximum over ``t`` is reached when the window starts
    at a stall's start or ends at a stall's end, so those candidates suffice. A window wider
    than the whole run is the whole run.
    """
    total = float(total)
    if starts.size == 0 or total <= 0:
        return {key: 1.0 for key in windows_s}
    ends = starts + durations
    cum = np.empty(starts.size + 1)    # stall before interval i: cum[i]
    cum[0] = 0.0
    np.cumsum(durations, out=cum[1:])
    # S has knots at every start (value cum[i]) and end (cum[i + 1]) and is linear between
    knots_t = np.empty(2 * starts.size)
    knots_t[0::2] = starts
    knots_t[1::2] = ends
    knots_s = np.empty(2 * starts.size)
    knots_s[0::2] = cum[:-1]
    knots_s[1::2] = cum[1:]
    # np.interp finds, for each point, the last knot at or before it; when the knots are in
    # order that knot, and so S there, depends on the point alone: every window that a bound
    # of the run clips to the same position then has the same stall, computed once
    ordered = (math.isfinite(total) and bool(np.isfinite(knots_t[[0, -1]]).all())
               and math.isfinite(float(cum[-1])) and bool((knots_t[1:] >= knots_t[:-1]).all())
               and bool((durations >= 0).all()))
    worst_of = _worst_ordered if ordered else _worst_any
    worst: dict[float, float] = {}      # windows wider than the run are all the whole run
    out = {}
    for key in windows_s:
        w = min(float(key) * 1e9, total)
        if w not in worst:
            worst[w] = worst_of(w, total, starts, ends, cum, knots_t, knots_s)
        out[key] = max(0.0, min(1.0, 1.0 - worst[w] / w))
    return out


def _worst_any(w: float, total: float, starts: np.ndarray, ends: np.ndarray, cum: np.ndarray,
               knots_t: np.ndarray, knots_s: np.ndarray) -> float:
    """The most stall in a window of width ``w``, over every candidate window."""
    s_starts, s_ends = cum[:-1], cum[1:]        # S at the knots themselves, exactly

    def at_knots(t: np.ndarray, knots: np.ndarray, s_knots: np.ndarray) -> np.ndarray:
        # S(t) where t is mostly the knots: interpolate only the points clipping moved
        moved = t != knots
        if not moved.any():
            return s_knots
        out_ = s_knots.copy()
        out_[moved] = np.interp(t[moved], knots_t, knots_s)
        return out_

    # windows starting at each stall's start ...
    lo = np.minimum(starts, total - w)
    a = np.interp(lo + w, knots_t, knots_s) - at_knots(lo, starts, s_starts)
    # ... and windows ending at each stall's end
    hi = np.maximum(ends, w)
    b = at_knots(hi, ends, s_ends) - np.interp(hi - w, knots_t, knots_s)
    return max(float(a.max()), float(b.max()))


def _worst_ordered(w: float, total: float, starts: np.ndarray, ends: np.ndarray,
                   cum: np.ndarray, knots_t: np.ndarray, knots_s: np.ndarray) -> float:
    """:func:`_worst_any` for finite knots in order, with the same bits.

    The windows that start at a stall's start past ``total - w`` all start at ``total - w``,
    and those that end at a stall's end before ``w`` all end at ``w``: each group is one window,
    evaluated once (the same arithmetic on the same numbers gives the same bits)."""
    c = total - w
    k = int(np.searchsorted(starts, c, side="right"))      # starts[:k] <= c: not clipped
    m = int(np.searchsorted(ends, w, side="left"))         # ends[m:] >= w: not clipped
    n = starts.size
    last = knots_t.size - 1
    cands = []
    if k:
        # a block of windows starting at starts[i:j] holds at most S just past the last one's
        # end, less S at the first one's start
        firsts = np.arange(0, k, _BLOCK)
        lasts = np.minimum(firsts + _BLOCK, k) - 1
        past = np.searchsorted(knots_t, starts[lasts] + w, side="right")
        bound = knots_s[np.minimum(past, last)] - cum[firsts]
        cands.append(_blocks_max(bound, 0, k, cum[-1], lambda i: (
            np.interp(starts[i] + w, knots_t, knots_s) - cum[i])))
    if k < n:
        lo = np.array([c])
        cands.append((np.interp(lo + w, knots_t, knots_s) - np.interp(lo, knots_t, knots_s))[0])
    if m < n:
        # a block ending at ends[i:j] holds at most S at the last one's end, less S at the
        # last knot at or before the first one's start
        firsts = np.arange(m, n, _BLOCK)
        lasts = np.minimum(firsts + _BLOCK, n) - 1
        before = np.searchsorted(knots_t, ends[firsts] - w, side="right") - 1
        bound = cum[lasts + 1] - knots_s[np.maximum(before, 0)]
        cands.append(_blocks_max(bound, m, n, cum[-1], lambda i: (
            cum[i + 1] - np.interp(ends[i] - w, knots_t, knots_s))))
    if m:
        hi = np.array([w])
        cands.append((np.interp(hi, knots_t, knots_s) - np.interp(hi - w, knots_t, knots_s))[0])
    return float(max(cands))


#: candidate windows per block in :func:`_blocks_max`
_BLOCK = 32


def _blocks_max(bound: np.ndarray, lo: int, hi: int, scale: float, value) -> float:
    """The largest ``value(i)`` for ``i`` in ``lo .. hi - 1``, in blocks of :data:`_BLOCK`
    from ``lo``, given ``bound[b]`` at least every value of block ``b`` (S is non-decreasing).

    Only the blocks whose bound reaches the best value of the most promising block are
    evaluated: the others hold no candidate as large, so the maximum (its bits too) is the
    same. np.interp's own rounding may put a value a few units in the last place past its
    knots: ``1e-9 * scale`` (the total stall) covers it."""
    def values(blocks: np.ndarray) -> np.ndarray:
        i = (lo + blocks[:, None] * _BLOCK + np.arange(_BLOCK)).ravel()
        return value(i[i < hi])

    best = float(values(np.array([int(np.argmax(bound))])).max())
    keep = np.flatnonzero(bound >= best - 1e-9 * scale)
    # a group of blocks at a time: when the stalls are even, every block may be kept (at 10⁸
    # events, 13 M windows), and the temporaries of all of them at once (an index, a time and
    # a value per window) would each be fresh memory; the max of the groups' maxima is the
    # same value
    return max(values(keep[g:g + _BLOCKS_AT_ONCE]).max()
               for g in range(0, keep.size, _BLOCKS_AT_ONCE))


#: blocks :func:`_blocks_max` evaluates at a time (2¹⁵ blocks: a million windows)
_BLOCKS_AT_ONCE = 1 << 15


def step_mean(times: np.ndarray, values: np.ndarray, total: float) -> float:
    """Time-weighted mean of a step function that takes ``values[k]`` from ``times[k]`` on."""
    if total <= 0 or times.size == 0:
        return float(values[-1]) if values.size else 0.0
    t = np.clip(times, 0.0, total)
    widths = np.diff(np.concatenate((t, [total])))
    area = widths * values
    # fsum is exact whatever the grouping: the products are made Python floats a segment at a
    # time (a list of them all would hold 32 bytes per footprint change: nogc has one per
    # object)
    return math.fsum(chain.from_iterable(area[i:i + _FSUM_SEGMENT].tolist()
                                         for i in range(0, area.size, _FSUM_SEGMENT))) / total


#: values :func:`step_mean` turns into Python floats at a time
_FSUM_SEGMENT = 1 << 16


def envelope(times: np.ndarray, values: np.ndarray, total: float, points: int = 500
             ) -> list[list[float]]:
    """Down-sample a step function for the results file, keeping each bucket's maximum.

    Peaks survive (a plot of footprint must show the true peak), short dips may not, and the
    run's final value is kept as the last point (what a program holds at its end — the last
    bucket's maximum may be from before its final frees). Times are rounded to 0.1 ns: the cost
    tables' own resolution, and the results file's size.
    """
    if times.size <= points:
        return [[round(float(a), 1), int(b)] for a, b in zip(times.tolist(), values.tolist())]
    firsts = _bucket_firsts(times, total, points)
    return _envelope_points(times, firsts, np.maximum.reduceat(values, firsts), values[-1])


def _bucket_firsts(times: np.ndarray, total: float, points: int) -> np.ndarray:
    """The index of each non-empty bucket's first point (``points`` buckets over ``total``)."""
    width = total / points if total > 0 else 1.0
    # times are sorted: each bucket's first point by binary search, not a pass over all points
    firsts = np.unique(np.searchsorted(times, np.arange(points) * width, side="left"))
    firsts = firsts[firsts < times.size]
    firsts[0] = 0
    return firsts


def _envelope_points(times: np.ndarray, firsts: np.ndarray, peak: np.ndarray,
                     last_value) -> list[list[float]]:
    """Each bucket's (start time, maximum), then the run's final value if it differs."""
    out = [[round(float(a), 1), int(b)] for a, b in zip(times[firsts].tolist(), peak.tolist())]
    last = [round(float(times[-1]), 1), int(last_value)]
    if last != out[-1]:
        out.append(last)
    return out


def envelope_chunks(times: np.ndarray, chunks, total: float, points: int = 500
                    ) -> list[list[float]]:
    """:func:`envelope` of a step function whose values come a chunk at a time: ``chunks``
    yields ``(lo, values[lo:lo + k])`` in order, covering ``times``. The same list, to the
    bit (each bucket's maximum is the maximum of its pieces' maxima), without the values as
    one array."""
    if times.size <= points:
        values = np.empty(times.size, dtype=np.int64)
        for lo, part in chunks:
            values[lo:lo + part.size] = part
        return envelope(times, values, total, points)
    firsts = _bucket_firsts(times, total, points)
    peak = None
    last = None
    for lo, part in chunks:
        hi = lo + part.size
        j0 = int(np.searchsorted(firsts, lo, side="right")) - 1   # the bucket holding lo
        j1 = int(np.searchsorted(firsts, hi, side="left"))        # buckets j0 .. j1 - 1
        cuts = firsts[j0:j1] - lo
        cuts[0] = 0
        got = np.maximum.reduceat(part, cuts)
        if peak is None:
            peak = np.empty(firsts.size, dtype=got.dtype)
            peak[:] = np.iinfo(got.dtype).min if got.dtype.kind in "iu" else -np.inf
        np.maximum(peak[j0:j1], got, out=peak[j0:j1])
        last = part[-1]
    return _envelope_points(times, firsts, peak, last)
