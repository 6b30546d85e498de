"""The GC pacer (runtime/mgcpacer.go ``gcControllerState``) and CPU limiter (mgclimit.go).

The pacer decides when a cycle starts (the trigger), how large the heap may grow by the end of
it (the goal) and how much marking an allocating goroutine owes while it runs (the assist
ratio). Every rule is the runtime's, function by function (heap goal from GOGC and GOMEMLIMIT,
runway from the cons/mark ratio, trigger bounds 45/64..61/64), in one of two rule sets
(``version``): Go 1.19's, whose cons/mark estimate is smoothed by a PI controller and measured from
the computed trigger, and the one that replaced it (golang/go#53892, Go 1.20 and later: the
maximum of the last four measurements, from the heap size at which the cycle started).

Units: bytes, as in Go: heap sizes, and "scan work" in bytes scanned (an object's bytes up to its
last pointer; pointer-free objects are blackened without scanning and cost none; stacks and
globals their scanned bytes). The collector converts the marking it simulates in nanoseconds
(costs.py) at each cycle's nanoseconds per scan-work byte.

This module keeps numbers only: it never touches spans, objects or the event stream.
"""
from __future__ import annotations

INF = float("inf")
MiB = 1 << 20

# mgcpacer.go constants
GC_GOAL_UTILIZATION = 0.25             # gcGoalUtilization = gcBackgroundUtilization
GC_BACKGROUND_UTILIZATION = 0.25
DEFAULT_HEAP_MINIMUM = 4 * MiB         # defaultHeapMinimum
MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM = 1 * MiB     # memoryLimitMinHeapGoalHeadroom
MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT = 3       # memoryLimitHeapGoalHeadroomPercent
TRIGGER_RATIO_DEN = 64                 # triggerRatioDen
MIN_TRIGGER_RATIO_NUM = 45             # minTriggerRatioNum, ~0.7
MAX_TRIGGER_RATIO_NUM = 61             # maxTriggerRatioNum, ~0.95
MIN_RUNWAY = 64 << 10                  # heapGoalInternal's minRunway
MAX_OVERSHOOT = 1.1                    # revise: past the goal, extend it by 10 %
SWEEP_MIN_HEAP_DISTANCE = 1 * MiB      # mgc.go sweepMinHeapDistance
GC_OVER_ASSIST_BYTES = 64 << 10        # gcOverAssistWork: 64 KiB of scan work per assist
MIN_SCAN_WORK_REMAINING_BYTES = 1000   # revise's lower bound on remaining scan work
# gcControllerState.init (Go 1.19): consMarkController = piController{kp: 0.9, ti: 4.0,
# tt: 1000, min: -1000, max: 1000}
PI_KP, PI_TI, PI_TT, PI_MIN, PI_MAX = 0.9, 4.0, 1000.0, -1000.0, 1000.0


class PIController:
    """mgcpacer.go ``piController`` (Go 1.19): smooths the measured cons/mark ratio."""

    def __init__(self) -> None:
        self.err_integral = 0.0

    def next(self, value: float, setpoint: float, period: float) -> tuple[float, bool]:
        """``next``: (new value, ok); not ok when the error overflowed (state reset)."""
        prop = PI_KP * (setpoint - value)
        raw = prop + self.err_integral
        if raw != raw or raw in (INF, -INF):
            self.err_integral = 0.0
            return PI_MIN, False
        out = min(max(raw, PI_MIN), PI_MAX)
        self.err_integral += (PI_KP * period / PI_TI) * (setpoint - value) \
            + (period / PI_TT) * (out - raw)
        if self.err_integral != self.err_integral or self.err_integral in (INF, -INF):
            self.err_integral = 0.0
            return PI_MIN, False
        return out, True


def mark_workers(procs: int) -> tuple[int, float]:
    """(dedicated workers, fractional utilization goal per P): ``startCycle``.

    25 % of GOMAXPROCS rounded to whole dedicated workers; when rounding is more than 30 % off
    (GOMAXPROCS <= 3 or = 6) a fractional worker makes up the rest.
    """
    total = procs * GC_BACKGROUND_UTILIZATION
    dedicated = int(total + 0.5)
    util_error = dedicated / total - 1
    if util_error < -0.3 or util_error > 0.3:
        if dedicated > total:
            dedicated -= 1
        return dedicated, (total - dedicated) / procs
    return dedicated, 0.0


class Pacer:
    """gcControllerState: heap goal, trigger, runway, assist ratio, cons/mark estimate."""

    def __init__(self, gogc: int, memory_limit: float, procs: int, version: str = "1.22",
                 globals_bytes: int = 0):
        self.version = version
        self.pi = PIController()
        # readGOGC: "off" is -1; setGCPercent: heapMinimum = defaultHeapMinimum * GOGC / 100
        self.gc_percent = gogc
        self.heap_minimum = DEFAULT_HEAP_MINIMUM * gogc // 100 if gogc >= 0 else 0
        self.memory_limit = memory_limit            # math.MaxInt64 when unset: INF here
        self.procs = procs
        self.min_remaining = MIN_SCAN_WORK_REMAINING_BYTES
        self.over_assist = GC_OVER_ASSIST_BYTES
        self.heap_marked = 0
        self.heap_live = 0
        self.heap_scan = 0.0          # scannable heap at the start of a cycle (maxScanWork part)
        self.last_heap_scan = 0.0     # heap scan work of the last cycle
        self.last_stack_scan = 0.0    # stack scan work of the last cycle
        self.last_stack_bytes = 0     # stack bytes in the GOGC goal (lastStackScan)
        # the program's globals (data + bss): scan work every cycle (markroot), and in the goal
        self.globals_bytes = globals_bytes
        self.globals_scan = globals_bytes      # globalsScan
        self.cons_mark = 0.0
        self.last_cons_mark = [0.0, 0.0, 0.0, 0.0]
        self.runway = 0.0
        self.gc_percent_heap_goal = INF
        self.sweep_dist_min_trigger = 0
        self.triggered = INF          # heapLive when the current cycle triggered (^uint64(0))
        self.last_heap_goal = 0
        self.heap_goal_now = INF      # the goal the current cycle's assists pace against
        self.assist_work_per_byte = 0.0
        self.assist_bytes_per_work = INF
        self.stack_scan = 0.0
        self.stack_bytes = 0
        self.commit(sweep_done=True)

    # -- goal and trigger ---------------------------------------------------------------------
    def commit(self, sweep_done: bool) -> None:
        """``commit``: the GOGC goal (with heapMinimum), the sweep-distance bound, the runway."""
        if sweep_done:
            self.sweep_dist_min_trigger = 0
        else:
            # concurrent sweep needs heap growth in which to sweep before the next trigger
            self.sweep_dist_min_trigger = self.heap_live + SWEEP_MIN_HEAP_DISTANCE
        if self.gc_percent >= 0:
            # heapMarked + (heapMarked + lastStackScan + globalsScan) * GOGC / 100
            goal = (self.heap_marked + (self.heap_marked + self.last_stack_bytes
                                        + self.globals_bytes) * self.gc_percent // 100)
            self.gc_percent_heap_goal = max(goal, self.heap_minimum)
        else:
            self.gc_percent_heap_goal = INF
        # runway = consMark * (1-u)/u * (lastHeapScan + lastStackScan + globalsScan)
        self.runway = (self.cons_mark * (1 - GC_GOAL_UTILIZATION) / GC_GOAL_UTILIZATION
                       * (self.last_heap_scan + self.last_stack_scan + self.globals_scan))
        if self.runway < 0:
            # c.runway.Store(uint64(...)): a negative cons/mark (assists took more than the
            # mutator's share of the mark's CPU) converts to a huge uint64 on amd64 (the
            # conversion is implementation-dependent; CVTTSD2SQ wraps), so the trigger
            # falls to its lower bound
            self.runway += 2.0 ** 64

    def memory_limit_heap_goal(self, mapped_ready: int, heap_free: int, heap_alloc: int) -> float:
        """``memoryLimitHeapGoal``: the limit minus non-heap memory and overage, minus headroom
        (3 %, at least 1 MiB), never below the marked heap."""
        limit = self.memory_limit
        if limit == INF:
            return INF
        non_heap = mapped_ready - heap_free - heap_alloc
        overage = max(mapped_ready - limit, 0)
        if non_heap + overage >= limit:
            return self.heap_marked
        goal = limit - (non_heap + overage)
        headroom = max(goal // 100 * MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT,
                       MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM)
        if goal < headroom or goal - headroom < headroom:
            goal = headroom
        else:
            goal -= headroom
        return max(goal, self.heap_marked)

    def heap_goal_internal(self, mapped_ready: int, heap_free: int,
                           heap_alloc: int) -> tuple[float, float, bool]:
        """``heapGoalInternal``: (goal, minTrigger, limited by the memory limit)."""
        goal = self.gc_percent_heap_goal
        min_trigger = 0
        new_goal = self.memory_limit_heap_goal(mapped_ready, heap_free, heap_alloc)
        if new_goal < goal:
            return new_goal, min_trigger, True
        # not memory-limited: keep a minimum sweep distance and a 64 KiB runway past the
        # point at which this cycle triggered
        if self.sweep_dist_min_trigger > goal:
            goal = self.sweep_dist_min_trigger
        min_trigger = self.sweep_dist_min_trigger
        if self.triggered != INF and goal < self.triggered + MIN_RUNWAY:
            goal = self.triggered + MIN_RUNWAY
        return goal, min_trigger, False

    def trigger(self, mapped_ready: int, heap_free: int, heap_alloc: int) -> tuple[float, float]:
        """``trigger``: (trigger, goal); the trigger is goal − runway, clamped to 45/64..61/64
        of the way from the marked heap to the goal (or goal − 4 MiB for large heaps)."""
        goal, min_trigger, _ = self.heap_goal_internal(mapped_ready, heap_free, heap_alloc)
        marked = self.heap_marked
        if goal == INF:
            return INF, INF
        if marked >= goal:
            return goal, goal
        min_trigger = max(min_trigger, marked)
        span = goal - marked
        lower = (span // TRIGGER_RATIO_DEN) * MIN_TRIGGER_RATIO_NUM + marked
        min_trigger = max(min_trigger, lower)
        max_trigger = (span // TRIGGER_RATIO_DEN) * MAX_TRIGGER_RATIO_NUM + marked
        if goal > DEFAULT_HEAP_MINIMUM and goal - DEFAULT_HEAP_MINIMUM > max_trigger:
            max_trigger = goal - DEFAULT_HEAP_MINIMUM
        max_trigger = max(max_trigger, min_trigger)
        trig = min_trigger if self.runway > goal else goal - self.runway
        trig = min(max(trig, min_trigger), max_trigger)
        return trig, goal

    # -- one cycle ----------------------------------------------------------------------------
    def start_cycle(self, heap_scan: float, stack_scan: float, stack_bytes: int,
                    trigger: float) -> None:
        """``startCycle``: fix this cycle's estimates. ``triggered``, from which endCycle
        measures the allocation during the mark, is the trigger ``trigger()`` computed at the
        start in Go 1.19 (its startCycle: "supposed to be the actual trigger point ... #53738"),
        the heap size at the start (heapLive) in the later rule set."""
        self.triggered = trigger if self.version == "1.19" else self.heap_live
        self.heap_scan = heap_scan
        self.stack_scan = stack_scan
        self.stack_bytes = stack_bytes

    def revise(self, work_done: float, goal: float) -> None:
        """``revise``: the assist ratio that finishes the expected remaining scan work by the
        time the heap reaches its goal, extrapolating the goal when the heap is growing."""
        live = self.heap_live
        gc_percent = self.gc_percent if self.gc_percent >= 0 else 100000
        heap_goal = goal
        expected = self.last_heap_scan + self.stack_scan + self.globals_scan
        max_scan = self.heap_scan + self.stack_scan + self.globals_scan
        if work_done > expected and expected > 0:
            # more scan work than expected: the heap is growing; extrapolate the goal, capped
            # at (1 + GOGC/100) times the goal
            ext = (heap_goal - self.triggered) / expected * max_scan + self.triggered
            heap_goal = min(ext, (1.0 + gc_percent / 100.0) * heap_goal)
            expected = max_scan
        if live > heap_goal:
            heap_goal = heap_goal * MAX_OVERSHOOT
            expected = max_scan
        remaining = max(expected - work_done, self.min_remaining)
        heap_remaining = max(heap_goal - live, 1)
        self.assist_work_per_byte = remaining / heap_remaining
        self.assist_bytes_per_work = heap_remaining / remaining

    def end_cycle(self, duration: float, assist_time: float, idle_time: float,
                  scan_work: float) -> None:
        """``endCycle``: this cycle's cons/mark ratio; the estimate is the PI controller's
        smoothing of it (Go 1.19), or the maximum of it and the last four (later: biased toward
        fewer assists at the cost of earlier cycles)."""
        self.last_heap_goal = self.heap_goal_now
        procs = self.procs
        utilization = GC_BACKGROUND_UTILIZATION
        idle_util = 0.0
        if duration > 0:
            utilization += assist_time / (duration * procs)
            idle_util = idle_time / (duration * procs)
        # "shouldn't happen, but let's be very safe": a cycle with no allocation during the
        # mark leaves the estimate alone; so do (model guards) no scan work, or assists that
        # took exactly the mutator's share (a zero denominator). Assists that took more make
        # the ratio negative, as in Go (GOMAXPROCS=1: the assists do all the marking)
        if self.heap_live <= self.triggered or scan_work <= 0 or utilization == 1:
            return
        current = ((self.heap_live - self.triggered) * (utilization + idle_util)
                   / (scan_work * (1 - utilization)))
        if self.version == "1.19":
            # Go 1.19: the PI controller's next value, reset to 0 when its error overflows
            value, ok = self.pi.next(self.cons_mark, current, 1.0)
            self.cons_mark = value if ok else 0.0
            return
        self.cons_mark = max([current] + self.last_cons_mark)
        self.last_cons_mark = self.last_cons_mark[1:] + [current]

    def reset_live(self, bytes_marked: int, heap_scan_work: float) -> None:
        """``resetLive``: after mark termination the live heap is what was marked."""
        self.heap_marked = bytes_marked
        self.heap_live = bytes_marked
        self.heap_scan = heap_scan_work
        self.last_heap_scan = heap_scan_work
        self.last_stack_scan = self.stack_scan
        self.last_stack_bytes = self.stack_bytes
        self.triggered = INF


class CPULimiter:
    """``gcCPULimiterState``: a leaky bucket that fills with GC CPU time and drains with
    mutator time; when full, assists stop so a too-small memory limit slows the program down
    (at most ≈ 2×) instead of stalling it. Capacity 1 CPU-second per P (``capacityPerProc``).

    Time accounting for one goroutine on ``procs`` Ps (mgclimit.go ``updateLocked``): during
    the mark, 25 % of all Ps' time counts as GC plus the assists; idle Ps' time (idle mark
    workers included) is left out; a stop-the-world pause counts every P as GC.
    """

    CAPACITY_PER_PROC = 1e9

    def __init__(self, procs: int):
        self.procs = procs
        self.capacity = procs * self.CAPACITY_PER_PROC
        self.fill = 0.0
        self.enabled = False
        self.last = 0.0
        self.overflow = 0.0

    def accumulate(self, mutator_time: float, gc_time: float) -> None:
        headroom = self.capacity - self.fill
        change = gc_time - mutator_time
        if change > 0 and headroom <= change:
            self.overflow += change - headroom
            self.fill = self.capacity
            self.enabled = True
            return
        self.fill = min(max(self.fill + change, 0.0), self.capacity)
        if change != 0:
            self.enabled = False

    def update(self, now: float, marking: bool, assist_time: float) -> None:
        """Account the wall time since the last update (``assist_time``: assists in it)."""
        dt = now - self.last
        if dt < 0:
            return
        self.last = now
        procs = self.procs
        total = dt * procs
        if marking:
            gc = assist_time + total * GC_BACKGROUND_UTILIZATION
            idle = max(0.0, total - dt - total * GC_BACKGROUND_UTILIZATION) if procs > 1 else 0.0
        else:
            gc = assist_time
            idle = dt * (procs - 1)
        self.accumulate(total - idle - gc, gc)

    def pause(self, now: float, duration: float) -> None:
        """A stop-the-world pause of ``duration`` starting at ``now`` (finishGCTransition)."""
        self.update(now, False, 0.0)
        self.accumulate(0.0, duration * self.procs)
        self.last = now + duration
